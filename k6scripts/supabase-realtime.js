// supabase-realtime.js — hold N Supabase Realtime connections subscribed to
// postgres_changes on one table, and measure how long a committed row takes
// to reach the clients: latency = receive time - payload.data.commit_timestamp
// (an ISO 8601 string the adapter parses). Pass = no failed, rejected or
// dropped connection, and changes arrived once joined.
//
//   bin/k6 run -e SUPABASE_URL=wss://PROJECT.supabase.co/realtime/v1/websocket \
//     -e APIKEY=<anon key> -e TABLE=todos -e CONNECTIONS=1000 k6scripts/supabase-realtime.js
//
// and insert rows into the table meanwhile (the table must be in the
// supabase_realtime publication). Uses the phoenix protocol adapter: joins
// realtime:<CHANNEL> with the postgres_changes config realtime-js sends,
// heartbeats on topic "phoenix", counts only postgres_changes pushes (not the
// join reply, "system" or presence messages).
//
// Environment (all optional but APIKEY for a real project):
//   SUPABASE_URL    the Realtime WebSocket endpoint (default ws://127.0.0.1:4000/socket/websocket, a local Realtime)
//   APIKEY          the project's anon (or service) key, sent as the apikey URL parameter
//   ACCESS_TOKEN    a user JWT for RLS (default: APIKEY)
//   SCHEMA, TABLE   the table to watch (default public, todos)
//   EVENT           INSERT, UPDATE, DELETE or * (default INSERT)
//   CHANNEL         channel name, the topic is realtime:CHANNEL (default db-changes)
//   CONNECTIONS     connections for the whole test, split across k6 processes (default 1000)
//   FLEET_PARTS     k6 processes in the fleet (default 1)
//   DURATION        how long to hold them once open (default 60s)
//   RATE            connection attempts per second for the whole test, 0 = as fast as allowed (default 100)
//   MIN_PER_CONN    changes each connection must receive on average once joined (default 1)
//   VSN             Phoenix serializer, 1.0.0 (objects, as realtime-js) or 2.0.0 (arrays) (default 1.0.0)
import massconn from 'k6/x/massconn';
import { check } from 'k6';
import { TOTAL, myConnections, maxDuration, num, seconds, str, timedConnect, int, list, holdOptions } from './lib/env.js';

const HOLD_S = seconds('DURATION', '60s');
const APIKEY = str('APIKEY', '');
const TOKEN = str('ACCESS_TOKEN', APIKEY);
const MIN_PER_CONN = num('MIN_PER_CONN', 1);
const RATE = num('RATE', 100);

// massconn_failures includes reason=rejected: a refused join (bad key, RLS, unknown table).
export const options = holdOptions('supabase', maxDuration(HOLD_S));

function realtimeURL() {
  const base = str('SUPABASE_URL', 'ws://127.0.0.1:4000/socket/websocket');
  const sep = base.includes('?') ? '&' : '?';
  return APIKEY ? `${base}${sep}apikey=${encodeURIComponent(APIKEY)}` : base;
}

export default function () {
  const mine = myConnections(massconn);
  if (mine === 0) return;
  const joinPayload = {
    config: {
      broadcast: { ack: false, self: false },
      presence: { key: '' },
      postgres_changes: [{ event: str('EVENT', 'INSERT'), schema: str('SCHEMA', 'public'), table: str('TABLE', 'todos') }],
      private: false,
    },
  };
  if (TOKEN) joinPayload.access_token = TOKEN;
  const pool = timedConnect(massconn, {
    urls: [realtimeURL()],
    connections: mine,
    rate: (RATE * mine) / TOTAL,
    maxInFlight: int('MAX_IN_FLIGHT', 1000, 1),
    localAddrs: list('LOCAL_ADDRS', ''),
    connectTimeout: str('CONNECT_TIMEOUT', '30s'),
    protocol: {
      name: 'phoenix',
      vsn: str('VSN', '1.0.0'),
      topics: [`realtime:${str('CHANNEL', 'db-changes')}`],
      joinPayload,
      heartbeat: '25s', // what realtime-js sends
      events: ['postgres_changes'],
    },
    latency: { path: 'data.commit_timestamp' },
  });
  const opened = pool.stats();
  pool.hold(HOLD_S); // seconds
  const held = pool.stats();
  check(held, {
    'every connection opened and joined': (s) => opened.failed === 0 && s.failed === 0 && opened.open === mine,
    'every connection still open': (s) => s.open === opened.open && s.dropped === 0,
    // Counted from the joins on, not from the hold's start: a change that
    // arrived between the last join and pool.stats() is as good (the
    // example's test publishes as soon as its peer saw every join, and
    // failed the check under load with all 120 of 120 rows received).
    'changes arrived': (s) => s.open > 0 && s.received / s.open >= MIN_PER_CONN,
  });
  pool.close();
}
