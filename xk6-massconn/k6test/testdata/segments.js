// One process of a fleet: its execution segment decides its share of TOTAL.
import massconn from 'k6/x/massconn';

const TOTAL = Number(__ENV.TOTAL);

export const options = {
  scenarios: {
    // One VU per process when two processes split the test.
    hold: { executor: 'per-vu-iterations', vus: 2, iterations: 1 },
  },
};

export default function () {
  const n = massconn.share(TOTAL);
  const pool = massconn.connect({ urls: [__ENV.WS_URL], connections: n, onOpenSend: 'conn {{conn}}' });
  console.log(`share ${n}`);
  pool.hold('200ms');
  pool.close();
}
