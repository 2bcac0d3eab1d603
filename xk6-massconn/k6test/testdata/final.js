// The iteration ends right after the last message arrived, with no hold()
// and no close(): the pool's last flush must still reach the summary.
// MODE=cut: the messages arrive late and the scenario is cut by its
// maxDuration (MODE=cut) or by gracefulStop (MODE=graceful) while hold()
// still has minutes to go.
import massconn from 'k6/x/massconn';
import { sleep } from 'k6';

const CONNS = 2;
const PUSH = 5;
const MODE = __ENV.MODE || 'end';

const scenarios = {
  end: { executor: 'per-vu-iterations', vus: 1, iterations: 1 },
  cut: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '1500ms', gracefulStop: '0s' },
  graceful: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '500ms' },
};

export const options = { scenarios: { final: scenarios[MODE] } };

export default function () {
  const late = MODE === 'end' ? 0 : 1100;
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    onOpenSend: late ? `after ${late} push ${PUSH}` : `push ${PUSH}`,
  });
  if (MODE === 'end') {
    // sleep() does not flush; bounded wait for the messages.
    for (let i = 0; i < 300 && pool.stats().received < CONNS * PUSH; i++) {
      sleep(0.01);
    }
    console.log(`stats ${JSON.stringify(pool.stats())}`);
    return;
  }
  pool.hold('10m');
}
