// The test ends while hold() still has minutes to go: hold must return when
// k6 stops the iteration, and the pool must close itself.
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: { hold: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '0s' } },
  thresholds: { ws_sessions: ['count==4'] },
};

export default function () {
  const pool = massconn.connect({ urls: [__ENV.WS_URL], connections: 4 });
  pool.hold('10m');
}
