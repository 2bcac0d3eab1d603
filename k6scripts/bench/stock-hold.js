// Benchmark (massconn-bench k6, make bench-k6): stock k6, one VU per connection with
// k6/websockets. Every VU records when its connection opened (ms since the
// scenario started) and closes it HOLD_UNTIL_MS after the scenario started.
import { WebSocket } from 'k6/websockets';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';

const CONNS = Number(__ENV.CONNS);
const HOLD_UNTIL_MS = Number(__ENV.HOLD_UNTIL_MS || 30000);
const openedAt = new Trend('bench_opened_at', true);

export const options = {
  scenarios: { hold: { executor: 'per-vu-iterations', vus: CONNS, iterations: 1, maxDuration: '10m' } },
};

export default function () {
  const ws = new WebSocket(__ENV.WS_URL);
  ws.onopen = () => {
    openedAt.add(Date.now() - exec.scenario.startTime);
    setTimeout(() => ws.close(), Math.max(0, exec.scenario.startTime + HOLD_UNTIL_MS - Date.now()));
  };
  ws.onerror = (e) => console.error(`BENCH error ${e.error}`);
}
