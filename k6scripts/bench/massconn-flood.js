// Benchmark (massconn-bench k6, make bench-k6): the k6 metric pipeline under a message
// flood. CONNS connections each play ping-pong with an echo server as fast
// as loopback allows: every echoed message is answered again (replies), and
// every one carries a "ts" field, so each received message is counted and
// also yields a massconn_latency value. The script sees the exact counts;
// the bench script samples the k6 process's RSS while it runs.
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: { flood: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '5m' } },
  thresholds: { massconn_failures: ['count==0'] },
};

export default function () {
  const msg = '{"ts":1,"kind":"flood"}';
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: Number(__ENV.CONNS || 1000),
    onOpenSend: msg,
    replies: [{ match: msg, send: msg }],
    latency: { field: 'ts', unit: 'ms' },
  });
  const t0 = Date.now();
  pool.hold(__ENV.HOLD || '30s');
  const s = pool.stats();
  console.log(`BENCH received=${s.received} sent=${s.sent} open=${s.open} ms=${Date.now() - t0}`);
  pool.close();
}
