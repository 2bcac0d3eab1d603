// chat.js — chat users: each connection joins a room, waits to be told it
// joined, then sends a message every THINK_MIN..THINK_MAX seconds while
// receiving what the server broadcasts, and leaves after a random lifetime;
// its slot comes back at once as a new user (churn). No JavaScript runs per
// connection: the behaviour is a massconn program (steps) compiled once.
//
//   node xk6-massconn/engine/testdata/wspeer/server.js 8080 &   # an echo server
//   bin/k6 run -e URLS=ws://127.0.0.1:8080/ -e CONNECTIONS=10000 -e DURATION=5m k6scripts/chat.js
//
// The defaults suit an echo server (the join message comes back and counts
// as "joined"). For a real chat server set JOIN, JOINED (a prefix of its
// answer) and MESSAGE.
//
// Environment (all optional):
//   URLS            comma-separated ws:// targets, round-robin (default ws://127.0.0.1:8080/)
//   CONNECTIONS     slots kept busy for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario (default 1; massconn-fleet part sets it)
//   DURATION        how long the chat runs (default 5m)
//   ROOMS           rooms users spread over ({{rand:ROOMS}} in JOIN) (default 100)
//   JOIN            the join message (default {"join":"room-{{rand:ROOMS}}","user":"u{{vu}}-{{conn}}"})
//   JOINED          prefix of the server's answer to JOIN (default {"join":)
//   MESSAGE         a chat message (default {"msg":"hi","seq":{{seq}},"ts":{{now_us}}})
//   THINK_MIN, THINK_MAX  time between two messages of a user, uniform (default 10s, 30s)
//   LIFETIME_MIN, LIFETIME_MAX  how long a user stays, uniform; then it leaves (close 1000) and a new one comes (default 60s, 600s)
//   EXPECT_TIMEOUT  how long to wait for JOINED; a timeout is massconn_failures{reason:expect_timeout} and closes (default 5s)
//   RATE            new sessions per second, first joins and rejoins alike (default 0 = as fast as MAX_IN_FLIGHT allows)
//   MAX_IN_FLIGHT, LOCAL_ADDRS, CONNECT_TIMEOUT, CONNECT_ALLOWANCE, SAMPLE_LIMIT as in the other scripts
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { myConnections, baseOptions, int, list, maxDuration, num, seconds, str, timedConnect, holdOptions } from './lib/env.js';

const HOLD_S = seconds('DURATION', '5m');
const ROOMS = int('ROOMS', 100, 1);

export const options = holdOptions('chat', maxDuration(HOLD_S));

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return;
  const opts = baseOptions(mine);
  opts.urls = list('URLS', 'ws://127.0.0.1:8080/');
  delete opts.latency; // the join answer is measured as massconn_rtt; messages are only counted
  opts.rate = num('RATE', 0, 0);
  opts.lifetime = { min: str('LIFETIME_MIN', '60s'), max: str('LIFETIME_MAX', '600s') };
  opts.steps = [
    { send: str('JOIN', `{"join":"room-{{rand:${ROOMS}}}","user":"u{{vu}}-{{conn}}"}`) },
    { expect: str('JOINED', '{"join":'), prefix: true, timeout: str('EXPECT_TIMEOUT', '5s'), onTimeout: 'close' },
    { sleep: { min: str('THINK_MIN', '10s'), max: str('THINK_MAX', '30s') } },
    { send: str('MESSAGE', '{"msg":"hi","seq":{{seq}},"ts":{{now_us}}}') },
    { goto: 2 },
  ];
  const pool = timedConnect(massconn, opts);
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds
  const held = pool.stats();
  check(held, {
    'every user joined': () => opened.failed === 0,
    'no user was dropped by the server': (s) => s.dropped === 0,
  });
  pool.close();
}
