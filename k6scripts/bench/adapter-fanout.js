// adapter-fanout.js — benchmark (massconn-bench adapters, make bench-adapters): CONNECTIONS
// clients of a real realtime server through a protocol adapter, PUBS
// publications fanned out to all of them, publish-to-client latency.
//
// Environment: PROTOCOL (centrifugo | socketio | mqtt), WS_URL, PUBLISH
// (Centrifugo API base, http://HOST:PORT/api; or the base of the Socket.IO
// peer or of massconn-bench's MQTT bridge, http://HOST:PORT, which answer
// GET /count and POST /publish), API_KEY (Centrifugo), CONNECTIONS (10000),
// PUBS (20), EVERY_MS (500, between publications), LOCAL_ADDRS. Logs "held"
// once every connection is subscribed and holds them 3 s, for the RSS
// sampler.
import http from 'k6/http';
import massconn from 'k6/x/massconn';

const PROTOCOL = __ENV.PROTOCOL || 'centrifugo';
const CONNS = Number(__ENV.CONNECTIONS || 10000);
const PUBS = Number(__ENV.PUBS || 20);
const EVERY_MS = Number(__ENV.EVERY_MS || 500);
const CHANNEL = 'bench';

export const options = {
  scenarios: { fanout: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '5m' } },
  summaryTrendStats: ['min', 'med', 'p(50)', 'p(90)', 'p(99)', 'max', 'count'],
};

function centrifugoAPI(method, body) {
  const res = http.post(`${__ENV.PUBLISH}/${method}`, JSON.stringify(body), {
    headers: { 'X-API-Key': __ENV.API_KEY, 'Content-Type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`${method}: ${res.status} ${res.body}`);
  return JSON.parse(String(res.body));
}

function subscribed() {
  if (PROTOCOL === 'centrifugo') {
    const ch = centrifugoAPI('channels', { pattern: CHANNEL }).result.channels[CHANNEL];
    return ch ? ch.num_clients : 0;
  }
  return Number(http.get(`${__ENV.PUBLISH}/count`).body);
}

function publish() {
  if (PROTOCOL === 'centrifugo') {
    centrifugoAPI('publish', { channel: CHANNEL, data: { ts: Date.now() } });
  } else {
    http.post(`${__ENV.PUBLISH}/publish?n=1`);
  }
}

export default function () {
  /** @type {Record<string, import('k6/x/massconn').Protocol>} */
  const protocols = {
    centrifugo: { name: 'centrifugo', channels: [CHANNEL] },
    socketio: { name: 'socketio', events: ['tick'] },
    mqtt: { name: 'mqtt', topics: [CHANNEL] },
  };
  const protocol = protocols[PROTOCOL];
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    maxInFlight: 1000,
    localAddrs: (__ENV.LOCAL_ADDRS || '').split(',').filter(Boolean),
    connectTimeout: '60s',
    protocol,
    latency: { path: 'ts', unit: 'ms' },
  });
  for (let i = 0; i < 1200 && subscribed() < CONNS; i++) pool.hold('100ms');
  // The RSS sampler reads k6 in the 3 s that follow "held", before any
  // publication: connections held, as in the raw ws:// phase.
  console.log(`held open=${pool.stats().open}`);
  pool.hold('3s');
  const before = pool.stats();
  for (let i = 0; i < PUBS; i++) {
    publish();
    pool.hold(`${EVERY_MS}ms`);
  }
  const want = before.received + CONNS * PUBS;
  for (let i = 0; i < 300 && pool.stats().received < want; i++) pool.hold('100ms');
  const s = pool.stats();
  console.log(`RESULT ${JSON.stringify({ protocol: PROTOCOL, connections: CONNS, held: s.open, subscribed: subscribed(),
    dropped: s.dropped, failed: s.failed, received: s.received - before.received, expected: CONNS * PUBS })}`);
  pool.close();
}
