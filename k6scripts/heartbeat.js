// heartbeat.js — the Ruby EventSource question (seeds/004): hold N
// Server-Sent Events connections while the server sends no rows, only a
// comment line to each every HEARTBEAT; pass = no failure, no drop, and no
// connection silent for longer than the heartbeat plus one second. The
// extension measures each stream's longest stretch without a byte
// (massconn_silence) and drops one silent for idleTimeout (reason idle);
// the fleet report adds the longest silence and the RSS slope.
//
//   bin/k6 run -e URLS='http://127.0.0.1:8080/sse?topic=Track' -e CONNECTIONS=10000 -e DURATION=10m k6scripts/heartbeat.js
//
// Environment (all optional):
//   URLS            comma-separated http:// or https:// EventSource URLs, round-robin (default http://127.0.0.1:8080/sse?topic=Track)
//   CONNECTIONS     connections for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario, one per process (default 1; massconn-fleet part sets it)
//   DURATION        how long to hold them once open (default 2m)
//   HEARTBEAT       the server's heartbeat interval (default 15s): idleTimeout and the silence bound are it plus 1s
//   RATE            connection attempts per second for the whole test, 0 = as fast as allowed (default 0)
//   MAX_IN_FLIGHT   requests in progress at once in one process (default 1000)
//   LOCAL_ADDRS     comma-separated source addresses (default: kernel's choice)
//   CONNECT_ALLOWANCE time allowed for opening all connections before the test is cut (default 10m)
//   CONNECT_TIMEOUT per-connection limit (default 30s)
//   HEADERS         request headers as a JSON object
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { myConnections, baseOptions, maxDuration, seconds, timedConnect, holdEnd, holdOptions, list } from './lib/env.js';

const HOLD_S = seconds('DURATION', '2m');
const HEARTBEAT_S = seconds('HEARTBEAT', '15s');
// "Without any lags": a heartbeat may be a second late, no more.
const BOUND_MS = Math.round((HEARTBEAT_S + 1) * 1000);
const URLS = list('URLS', 'http://127.0.0.1:8080/sse?topic=Track');
for (const u of URLS) {
  if (!/^https?:\/\//i.test(u)) {
    throw new Error(`environment variable URLS: the heartbeat scenario is Server-Sent Events, so every URL must be http:// or https://, got '${u}'`);
  }
}

export const options = holdOptions('heartbeat', maxDuration(HOLD_S), {
  massconn_silence: [`max<=${BOUND_MS}`],
});

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return; // more VUs than connections: nothing to do here
  const opts = baseOptions(mine);
  opts.urls = URLS;
  // No rows flow: nothing to sequence or time.
  delete opts.sequence;
  delete opts.latency;
  opts.idleTimeout = `${BOUND_MS}ms`;
  const pool = timedConnect(massconn, opts);
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds, as sleep() takes them
  holdEnd.add(Date.now());
  const held = pool.stats();
  check(held, {
    'every connection opened': () => opened.failed === 0 && opened.open === mine,
    'every connection held to the end': (s) => s.open === opened.open && s.dropped === 0,
  });
  // The silences are measured as each stream ends: close, then they are reported.
  pool.close();
}
