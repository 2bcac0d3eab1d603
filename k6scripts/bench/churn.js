// Benchmark (massconn-bench steps, make bench-steps): CONNS slots against massconn-server,
// each session living LIFETIME_MIN..LIFETIME_MAX and reopening at most
// RATE sessions per second, for HOLD_MS. The reconnects per second
// sustained are massconn_churn / hold; thresholds require no failure and
// no drop.
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: { churn: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '10m' } },
  thresholds: { massconn_failures: ['count==0'], massconn_drops: ['count==0'] },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: Number(__ENV.CONNS),
    localAddrs: (__ENV.LOCAL_ADDRS || '').split(',').filter(Boolean),
    maxInFlight: Number(__ENV.MAX_IN_FLIGHT || 1000),
    rate: Number(__ENV.RATE || 0),
    connectTimeout: '30s',
    lifetime: { min: __ENV.LIFETIME_MIN || '1s', max: __ENV.LIFETIME_MAX || '3s' },
  });
  const t0 = Date.now();
  const c0 = pool.stats().churn;
  pool.hold(`${Number(__ENV.HOLD_MS || 20000)}ms`);
  const s = pool.stats();
  const secs = (Date.now() - t0) / 1000;
  console.log(`churn ${s.churn - c0} in ${secs.toFixed(1)} s: ${((s.churn - c0) / secs).toFixed(0)} reconnects/s; ` +
    `attempted=${s.attempted} failed=${s.failed} dropped=${s.dropped} open=${s.open}`);
  pool.close();
}
