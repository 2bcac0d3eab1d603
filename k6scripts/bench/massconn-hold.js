// Benchmark (massconn-bench k6, make bench-k6): one VU opens CONNS connections with
// xk6-massconn as fast as allowed and holds them until HOLD_UNTIL_MS after
// the scenario started, so the k6 process's RSS can be sampled while all
// are held.
import massconn from 'k6/x/massconn';
import exec from 'k6/execution';

const CONNS = Number(__ENV.CONNS);
const HOLD_UNTIL_MS = Number(__ENV.HOLD_UNTIL_MS || 30000);

export const options = {
  scenarios: { hold: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '10m' } },
  thresholds: { massconn_failures: ['count==0'] },
};

export default function () {
  const t0 = Date.now();
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    rate: 0,
    maxInFlight: Number(__ENV.MAX_IN_FLIGHT || 1000),
    // Comma-separated source addresses; empty = the kernel's choice.
    localAddrs: (__ENV.LOCAL_ADDRS || '').split(',').filter((a) => a !== ''),
  });
  const elapsed = Date.now() - t0;
  const s = pool.stats();
  console.log(`BENCH open=${s.open} failed=${s.failed} connect_ms=${elapsed} failures=${JSON.stringify(s.failures)}`);
  pool.hold(`${Math.max(0, exec.scenario.startTime + HOLD_UNTIL_MS - Date.now())}ms`);
  pool.close();
}
