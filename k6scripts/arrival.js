// arrival.js — the Appwrite/Tsung question (seeds/001): open connections at a
// fixed arrival rate up to N and keep them; report the achieved rate and the
// failures by reason. Pass = no failure and the achieved rate within
// MIN_RATE_RATIO of the target.
//
//   bin/k6 run -e CONNECTIONS=20000 -e ARRIVAL_RATE=2000 k6scripts/arrival.js
//
// Environment (all optional):
//   URLS            comma-separated ws:// targets, round-robin (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS     connections for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario, one per process (default 1; massconn-fleet part sets it)
//   ARRIVAL_RATE    new connections per second for the whole test (default 2000, as in the Tsung run)
//   DURATION        how long to keep them once all are open (default 10s)
//   MIN_RATE_RATIO  achieved/target rate this process must reach; 0 disables the check (default 0.9)
//   MAX_IN_FLIGHT   handshakes in progress at once in one process (default 1000)
//   LOCAL_ADDRS     comma-separated source addresses (default: kernel's choice)
//   CONNECT_ALLOWANCE time allowed for opening all connections before the test is cut (default 10m)
//   CONNECT_TIMEOUT per-connection limit (default 30s)
//   SAMPLE_LIMIT    connect-time samples kept per second per process (default 1000)
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { TOTAL, myConnections, baseOptions, maxDuration, num, seconds, timedConnect, recordSequence, holdEnd, holdOptions, SEQUENCE_THRESHOLDS } from './lib/env.js';

const ARRIVAL_RATE = num('ARRIVAL_RATE', 2000, 0.001);
const HOLD_S = seconds('DURATION', '10s');
const MIN_RATE_RATIO = num('MIN_RATE_RATIO', 0.9);

// Achieved arrival rate of this process (connections opened per second of
// its connect phase); the fleet merge recomputes it for the whole fleet.
const achieved = new Trend('arrival_rate_achieved');

export const options = holdOptions('arrival', maxDuration(HOLD_S + (2 * TOTAL) / ARRIVAL_RATE), SEQUENCE_THRESHOLDS);

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return; // more VUs than connections: nothing to do here
  const target = (ARRIVAL_RATE * mine) / TOTAL;
  const opts = baseOptions(mine);
  opts.rate = target;
  const t0 = Date.now();
  const pool = timedConnect(massconn, opts);
  const elapsed = Math.max(0.001, (Date.now() - t0) / 1000);
  const opened = pool.stats();
  const rate = opened.open / elapsed;
  achieved.add(rate);
  console.log(`arrival: ${opened.open}/${mine} open in ${elapsed.toFixed(1)}s = ${rate.toFixed(0)}/s ` +
    `(target ${target.toFixed(0)}/s), failures ${JSON.stringify(opened.failures)}`);
  pool.hold(HOLD_S); // seconds, as sleep() takes them
  holdEnd.add(Date.now());
  recordSequence(pool); // before close: the hold's end is the end the verdict judges, and a failed close must not lose it
  const held = pool.stats();
  check(opened, {
    'every connection opened': (s) => s.failed === 0 && s.open === mine,
    'arrival rate reached': () => MIN_RATE_RATIO === 0 || rate >= MIN_RATE_RATIO * target,
  });
  check(held, { 'every connection still open': (s) => s.open === opened.open && s.dropped === 0 });
  pool.close();
}
