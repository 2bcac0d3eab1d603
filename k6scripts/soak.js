// soak.js — the Ruby/EventMachine question (seeds/004): hold N connections
// for a long time with traffic every 15 s (each client sends a heartbeat;
// the insert loop adds rows); pass = no failure and no drop. The fleet
// report adds client and server memory over time from /proc samples.
//
//   bin/k6 run -e CONNECTIONS=50000 -e DURATION=1h k6scripts/soak.js
//
// Environment (all optional):
//   URLS            comma-separated ws:// targets, round-robin (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS     connections for the whole test, split by --execution-segment (default 1000)
//   FLEET_PARTS     k6 processes in the fleet = VUs of the scenario, one per process (default 1; massconn-fleet part sets it)
//   DURATION        how long to hold them (default 1h)
//   HEARTBEAT_EVERY interval of the client heartbeat (default 15s)
//   HEARTBEAT       'ping' for a WebSocket ping frame, or any other text to send as a text message (default ping)
//   RECONNECT       'true' reopens dropped connections (they still count as drops) (default false)
//   MAX_IN_FLIGHT   handshakes in progress at once in one process (default 1000)
//   LOCAL_ADDRS     comma-separated source addresses (default: kernel's choice)
//   CONNECT_ALLOWANCE time allowed for opening all connections before the test is cut (default 10m)
//   CONNECT_TIMEOUT per-connection limit (default 30s)
//   SAMPLE_LIMIT    latency samples kept per second per process (default 1000)
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { TOTAL, myConnections, baseOptions, maxDuration, seconds, str, timedConnect, recordSequence, holdEnd, holdOptions, SEQUENCE_THRESHOLDS } from './lib/env.js';

const HOLD_S = seconds('DURATION', '1h');
const HEARTBEAT = str('HEARTBEAT', 'ping');
const EVERY = str('HEARTBEAT_EVERY', '15s');

export const options = holdOptions('soak', maxDuration(HOLD_S), SEQUENCE_THRESHOLDS);

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return; // more VUs than connections: nothing to do here
  const opts = baseOptions(mine);
  opts.heartbeat = HEARTBEAT === 'ping' ? { every: EVERY, ping: true } : { every: EVERY, text: HEARTBEAT };
  opts.reconnect = str('RECONNECT', 'false') === 'true';
  const pool = timedConnect(massconn, opts);
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds, as sleep() takes them
  holdEnd.add(Date.now());
  recordSequence(pool); // before close: the hold's end is the end the verdict judges, and a failed close must not lose it
  const held = pool.stats();
  check(held, {
    'every connection opened': () => opened.failed === 0 && opened.open === mine,
    'every connection held to the end': (s) => s.open === opened.open && s.dropped === 0,
  });
  pool.close();
}
