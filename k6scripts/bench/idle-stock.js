// Benchmark baseline (massconn-bench k6, make bench-k6): stock k6 with k6/websockets
// loaded and one idle VU: the RSS of a process that holds no connection.
import { sleep } from 'k6';
import { WebSocket } from 'k6/websockets'; // eslint-disable-line no-unused-vars

export const options = { vus: 1, iterations: 1 };

export default function () {
  sleep(Number(__ENV.IDLE_SECONDS || 6));
}
