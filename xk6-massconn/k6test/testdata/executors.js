// Every executor: each iteration opens CONNS connections, holds them briefly
// and closes them, so per scenario ws_sessions == CONNS * iterations.
import massconn from 'k6/x/massconn';

const CONNS = 3;

const scenarios = {
  shared: { executor: 'shared-iterations', vus: 2, iterations: 4 },
  pervu: { executor: 'per-vu-iterations', vus: 2, iterations: 2 },
  constant: { executor: 'constant-vus', vus: 2, duration: '1s' },
  ramping: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '1s', target: 2 }, { duration: '500ms', target: 0 }] },
  arrival: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '1s', preAllocatedVUs: 2 },
  rampingArrival: {
    executor: 'ramping-arrival-rate', startRate: 2, timeUnit: '1s', preAllocatedVUs: 2,
    stages: [{ duration: '1s', target: 4 }],
  },
};

const thresholds = {};
for (const name of Object.keys(scenarios)) {
  // Thresholds that always pass make the per-scenario sub-metrics appear
  // in the summary export.
  thresholds[`ws_sessions{scenario:${name}}`] = ['count>=0'];
  thresholds[`iterations{scenario:${name}}`] = ['count>=0'];
}
thresholds.massconn_failures = ['count==0'];

export const options = { scenarios, thresholds };

export default function () {
  const pool = massconn.connect({ urls: [__ENV.WS_URL], connections: CONNS });
  pool.hold('100ms');
  pool.close();
}
