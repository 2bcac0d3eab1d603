// capacity.js — the Supabase Realtime question (seeds/000): hold N WebSocket
// connections for a duration while the database gets a new row every second;
// pass = no failed connection, no dropped connection, no gap, duplicate or
// reordered row id at any connection, and the rows arrived (the fleet's
// verdict adds: every row inserted while all were open, at every connection).
//
//   bin/k6 run -e URLS='ws://127.0.0.1:8080/ws?topic=Track' -e CONNECTIONS=10000 k6scripts/capacity.js
//
// Environment (all optional):
//   URLS            comma-separated ws:// or wss:// targets, round-robin (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS     connections for the whole test; split across k6 processes by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario, one per process (default 1; massconn-fleet part sets it)
//   DURATION        how long to hold them once open (default 60s)
//   RATE            connection attempts per second for the whole test, 0 = as fast as allowed (default 0)
//   MAX_IN_FLIGHT   handshakes in progress at once in one process (default 1000)
//   LOCAL_ADDRS     comma-separated source addresses, e.g. 127.0.0.2,127.0.0.3 (default: kernel's choice)
//   CONNECT_ALLOWANCE time allowed for opening all connections before the test is cut (default 10m)
//   CONNECT_TIMEOUT TCP connect + handshake limit per connection (default 30s)
//   INSERT_EVERY    how often the insert loop adds a row (default 1s); sets the expected row count
//   MIN_PER_CONN    rows each connection must receive on average while held
//                   (default: half the rows inserted during the hold, at least 1)
//   SAMPLE_LIMIT    latency/connect-time samples kept per second per process (default 1000)
//   Against another server (lib/env.js): SEQUENCE_PATH / SEQUENCE_PER where the increasing number and
//                   its group are (default 'id' per 'topic'; 'none' turns either off): massconn_gaps,
//                   _duplicates, _reordered must stay 0; LATENCY_PATH / LATENCY_UNIT where the send
//                   time is (default 'ts' in 'us'); PROTOCOL an adapter name or its JSON options;
//                   HEADERS handshake headers as a JSON object
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { TOTAL, myConnections, baseOptions, maxDuration, num, seconds, timedConnect, recordSequence, holdEnd, holdOptions, SEQUENCE_THRESHOLDS } from './lib/env.js';

const HOLD_S = seconds('DURATION', '60s');
const INSERT_EVERY_S = seconds('INSERT_EVERY', '1s');
const MIN_PER_CONN = num('MIN_PER_CONN', Math.max(1, Math.floor((HOLD_S / INSERT_EVERY_S) / 2)));
const RATE = num('RATE', 0);

export const options = holdOptions('capacity', maxDuration(HOLD_S), SEQUENCE_THRESHOLDS);

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return; // more VUs than connections: nothing to do here
  const opts = baseOptions(mine);
  opts.rate = (RATE * mine) / TOTAL;
  const pool = timedConnect(massconn, opts);
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds, as sleep() takes them
  holdEnd.add(Date.now());
  recordSequence(pool); // before close: the hold's end is the end the verdict judges, and a failed close must not lose it
  const held = pool.stats();
  check(held, {
    'every connection opened': () => opened.failed === 0 && opened.open === mine,
    'every connection still open': (s) => s.open === opened.open && s.dropped === 0,
    'rows arrived while held': (s) => s.open > 0 && (s.received - opened.received) / s.open >= MIN_PER_CONN,
  });
  pool.close();
}
