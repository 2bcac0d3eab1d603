// fanout.js — the Gotify question (seeds/003): N held connections while the
// database gets rows at a set rate; report insert-to-client latency
// p50/p95/p99/max (massconn_latency: client receive time minus the row's
// clock_timestamp() in PostgreSQL) and delivered messages per second.
// Pass = no failure or drop, every row reached every connection on average,
// and p99 under P99_MS.
//
//   bin/k6 run -e CONNECTIONS=100000 -e DURATION=30s k6scripts/fanout.js   (insert loop running)
//
// Environment (all optional):
//   URLS            comma-separated ws:// targets, round-robin (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS     connections for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario, one per process (default 1; massconn-fleet part sets it)
//   DURATION        how long to hold them and measure (default 30s)
//   INSERT_EVERY    the insert loop's interval, for the expected row count (default 1s)
//   MIN_PER_CONN    rows each connection must receive on average (default: half those inserted, at least 1)
//   P99_MS          pass criterion for massconn_latency p(99) in ms (default 250)
//   MAX_IN_FLIGHT   handshakes in progress at once in one process (default 1000)
//   LOCAL_ADDRS     comma-separated source addresses (default: kernel's choice)
//   CONNECT_ALLOWANCE time allowed for opening all connections before the test is cut (default 10m)
//   CONNECT_TIMEOUT per-connection limit (default 30s)
//   SAMPLE_LIMIT    latency samples kept per second per process (default 1000; the merge weights them)
//   SEQUENCE_PATH / SEQUENCE_PER, LATENCY_PATH / LATENCY_UNIT, PROTOCOL, HEADERS: for another server, see capacity.js
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { TOTAL, myConnections, baseOptions, maxDuration, num, seconds, timedConnect, recordSequence, holdEnd, holdOptions, SEQUENCE_THRESHOLDS } from './lib/env.js';

const HOLD_S = seconds('DURATION', '30s');
const INSERT_EVERY_S = seconds('INSERT_EVERY', '1s');
const MIN_PER_CONN = num('MIN_PER_CONN', Math.max(1, Math.floor((HOLD_S / INSERT_EVERY_S) / 2)));
const P99_MS = num('P99_MS', 250, 0);

export const options = {
  ...holdOptions('fanout', maxDuration(HOLD_S), { ...SEQUENCE_THRESHOLDS, massconn_latency: [`p(99)<${P99_MS}`] }),
  summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return; // more VUs than connections: nothing to do here
  const pool = timedConnect(massconn, baseOptions(mine));
  const opened = pool.stats();
  const t0 = Date.now();
  pool.hold(HOLD_S); // seconds, as sleep() takes them
  holdEnd.add(Date.now());
  recordSequence(pool); // before close: the hold's end is the end the verdict judges, and a failed close must not lose it
  const held = pool.stats();
  const perSec = (held.received - opened.received) / Math.max(0.001, (Date.now() - t0) / 1000);
  console.log(`fanout: ${held.open} open, ${held.received - opened.received} rows delivered while held ` +
    `(${perSec.toFixed(0)}/s in this process)`);
  check(held, {
    'every connection opened': () => opened.failed === 0 && opened.open === mine,
    'every connection still open': (s) => s.open === opened.open && s.dropped === 0,
    'rows reached every connection': (s) => s.open > 0 && (s.received - opened.received) / s.open >= MIN_PER_CONN,
  });
  pool.close();
}
