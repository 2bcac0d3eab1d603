// capacity.js — the Supabase Realtime question (seeds/000): hold N WebSocket
// connections for a duration while the database gets a new row every second;
// pass = no failed connection, no dropped connection, and the rows arrived.
//
//   bin/k6 run -e URLS='ws://127.0.0.1:8080/ws?topic=Track' -e CONNECTIONS=10000 k6scripts/capacity.js
//
// Environment (all optional):
//   URLS          comma-separated ws:// or wss:// targets, round-robin (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS   connections for the whole test; split across k6 processes by --execution-segment (default 1000)
//   DURATION      how long to hold them once open (default 60s)
//   RATE          connection attempts per second, 0 = as fast as allowed (default 0)
//   MAX_IN_FLIGHT handshakes in progress at once (default 1000)
//   LOCAL_ADDRS   comma-separated source addresses, e.g. 127.0.0.2,127.0.0.3 (default: kernel's choice)
//   MIN_PER_CONN  messages each connection must receive on average while held (default 1)
import massconn from 'k6/x/massconn';
import { check } from 'k6';

const list = (v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
const URLS = list(__ENV.URLS || 'ws://127.0.0.1:8080/ws?topic=Track');
const TOTAL = parseInt(__ENV.CONNECTIONS || '1000', 10);
const DURATION = __ENV.DURATION || '60s';
const MIN_PER_CONN = parseFloat(__ENV.MIN_PER_CONN || '1');

export const options = {
  scenarios: {
    capacity: { executor: 'shared-iterations', vus: 1, iterations: 1, maxDuration: '24h' },
  },
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    checks: ['rate==1'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: URLS,
    connections: massconn.share(TOTAL),
    rate: parseFloat(__ENV.RATE || '0'),
    maxInFlight: parseInt(__ENV.MAX_IN_FLIGHT || '1000', 10),
    localAddrs: list(__ENV.LOCAL_ADDRS),
    connectTimeout: '10s',
    latency: { field: 'ts', unit: 'us' },
  });
  const opened = pool.stats();
  pool.hold(DURATION);
  const s = pool.stats();
  check(s, {
    'every connection opened': (x) => opened.failed === 0 && opened.open === opened.attempted,
    'every connection still open': (x) => x.open === opened.open,
    'rows arrived while held': (x) => x.open > 0 && (x.received - opened.received) / x.open >= MIN_PER_CONN,
  });
  pool.close();
}
