// Both connections are dropped by the server (close 4000) 1.1 s after they
// open, less than half a second before maxDuration cuts the scenario: the
// massconn_drops threshold must see the drops and fail the run.
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: {
    drop: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '1500ms', gracefulStop: '0s' },
  },
  thresholds: { massconn_drops: ['count==0'] },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: 2,
    onOpenSend: 'after 1100 close 4000',
  });
  pool.hold('10m');
}
