// Hold N Server-Sent Events (EventSource) streams and check that every one
// of them is heard from often enough: seed 004's "communicate to clients
// every 15 seconds without any lags".
//   k6 run -e URL='http://127.0.0.1:8080/sse?topic=items' -e CONNECTIONS=10000 -e HOLD=60s examples/sse.js
// An http:// or https:// URL opens an EventSource connection: no VU and no
// goroutine per stream. Events count in sse_event; comments (heartbeats)
// count as keep-alives. A stream silent for longer than IDLE_TIMEOUT is a
// drop with reason 'idle', and massconn_silence is each stream's longest
// silence, so "heard from every N seconds" is a threshold.
import massconn from 'k6/x/massconn';

const IDLE_TIMEOUT = __ENV.IDLE_TIMEOUT || '16s';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    // Milliseconds; 16 s = a 15 s heartbeat plus a second.
    massconn_silence: [`max<${parseDuration(IDLE_TIMEOUT)}`],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'http://127.0.0.1:8080/sse?topic=items'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    rate: Number(__ENV.RATE || 1000),
    idleTimeout: IDLE_TIMEOUT,
    // Reconnect with Last-Event-ID after the server's retry: when the
    // stream drops, the server can send what was missed.
    reconnect: true,
    // The server's JSON carries its send time: ts in milliseconds (for
    // massconn's reference server: ts in microseconds, unit 'us').
    latency: { path: __ENV.LATENCY_PATH || 'ts', unit: __ENV.LATENCY_UNIT === 'us' ? 'us' : 'ms' },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`held: ${JSON.stringify(pool.stats())}`);
  pool.close('5s');
}

// parseDuration is '16s', '1m' or '500ms' in milliseconds.
function parseDuration(d) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (!m) {
    throw new Error(`IDLE_TIMEOUT must be a duration like '16s', got '${d}'`);
  }
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000 }[m[2]];
}
