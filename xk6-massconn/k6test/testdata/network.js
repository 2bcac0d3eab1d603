// One pool with the connect() options in CONNECT (JSON), under the k6
// options in K6_OPTS (JSON: hosts, dns, blacklistIPs, thresholds, ...),
// held for HOLD (a k6 duration) when given, then closed. With SETUP set
// the pool is opened in setup(), where a thrown exception aborts the run
// (exit 107).
import massconn from 'k6/x/massconn';

export const options = Object.assign({ iterations: 1 }, JSON.parse(__ENV.K6_OPTS || '{}'));

function run() {
  const pool = massconn.connect(JSON.parse(__ENV.CONNECT));
  if (__ENV.HOLD) {
    pool.hold(__ENV.HOLD);
  }
  pool.close();
}

export function setup() {
  if (__ENV.SETUP) {
    run();
  }
}

export default function () {
  if (!__ENV.SETUP) {
    run();
  }
}
