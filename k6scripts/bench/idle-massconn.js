// Benchmark baseline (massconn-bench k6, make bench-k6): k6 with xk6-massconn loaded and
// one idle VU: the RSS of a process that holds no connection.
import { sleep } from 'k6';
import massconn from 'k6/x/massconn'; // eslint-disable-line no-unused-vars

export const options = { vus: 1, iterations: 1 };

export default function () {
  sleep(Number(__ENV.IDLE_SECONDS || 6));
}
