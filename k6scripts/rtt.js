// rtt.js — request/response latency: every connection sends a request, waits
// for the server's answer, thinks, and sends again; the time from each send
// to its answer is a massconn_rtt sample. No JavaScript runs per connection:
// the loop is a massconn program (steps) compiled once for the pool.
//
//   node xk6-massconn/engine/testdata/wspeer/server.js 8080 &   # an echo server
//   bin/k6 run -e URLS=ws://127.0.0.1:8080/ -e CONNECTIONS=10000 -e DURATION=60s k6scripts/rtt.js
//
// Against an echo server the defaults work as they are: the request carries
// the connection's sequence number and the expect waits for it to come back.
// For an RPC server set REQUEST and the ANSWER_PATH / ANSWER_EQUALS (or
// ANSWER_PREFIX) its answers satisfy; PROTOCOL=socketio sends REQUEST as a
// Socket.IO event with an acknowledgement (REQUEST is then '["event",arg]').
//
// Environment (all optional):
//   URLS            comma-separated ws:// targets, round-robin (default ws://127.0.0.1:8080/)
//   CONNECTIONS     connections for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario (default 1; massconn-fleet part sets it)
//   DURATION        how long the requests run (default 60s)
//   REQUEST         the request template (default {"seq":{{seq}},"conn":{{conn}},"ts":{{now_us}}})
//   ANSWER_PATH     JSON path of the answer's field to check (default seq)
//   ANSWER_EQUALS   value it must have (default {{seq}}: the request's own number)
//   ANSWER_PREFIX   instead of the path: the text the answer starts with
//   THINK_MIN, THINK_MAX  think time between an answer and the next request, uniform (default 1s, 1s)
//   EXPECT_TIMEOUT  how long to wait for an answer; a timeout is massconn_failures{reason:expect_timeout} (default 5s)
//   PROTOCOL        a protocol adapter name (e.g. socketio) or its options as JSON; default the raw mode (lib/env.js)
//   P99_MS          threshold on massconn_rtt p(99), in ms (default 100)
//   MAX_IN_FLIGHT, RATE, LOCAL_ADDRS, CONNECT_TIMEOUT, CONNECT_ALLOWANCE, SAMPLE_LIMIT as in the other scripts
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { myConnections, baseOptions, list, maxDuration, num, seconds, str, timedConnect, holdOptions } from './lib/env.js';

const HOLD_S = seconds('DURATION', '60s');
const P99_MS = num('P99_MS', 100, 0);

export const options = holdOptions('rtt', maxDuration(HOLD_S), { massconn_rtt: [`p(99)<${P99_MS}`] });

function program() {
  const prefix = str('ANSWER_PREFIX', '');
  const answer = prefix
    ? { expect: prefix, prefix: true }
    : { expect: { path: str('ANSWER_PATH', 'seq'), equals: str('ANSWER_EQUALS', '{{seq}}') } };
  answer.timeout = str('EXPECT_TIMEOUT', '5s');
  return [
    { send: str('REQUEST', '{"seq":{{seq}},"conn":{{conn}},"ts":{{now_us}}}') },
    answer,
    { sleep: { min: str('THINK_MIN', '1s'), max: str('THINK_MAX', str('THINK_MIN', '1s')) } },
    { goto: 0 },
  ];
}

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return;
  const opts = baseOptions(mine);
  opts.urls = list('URLS', 'ws://127.0.0.1:8080/');
  delete opts.latency; // answers are measured as massconn_rtt
  opts.rate = num('RATE', 0, 0);
  opts.steps = program();
  const pool = timedConnect(massconn, opts);
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds
  const held = pool.stats();
  check(held, {
    'every connection opened': () => opened.failed === 0 && opened.open === mine,
    'every connection held to the end': (s) => s.open === opened.open && s.dropped === 0,
    'answers arrived': (s) => s.rtt > 0,
  });
  pool.close();
}
