// Benchmark (massconn-bench steps, make bench-steps): hold CONNS connections to an echo
// server, idle (STEPS=none) or each running a ten-step program (STEPS=ten)
// with think times of THINK_MIN..THINK_MAX, for HOLD_MS. TEMPLATES=1 makes
// each connection its own user: {{conn}} and {{data.FIELD}} (a SharedArray of
// ROWS rows of a user id and a 150-byte token) in the URL's query, a header and
// onOpenSend; TEMPLATES=static sends the same for every connection. Logs "held" once every connection has been attempted, for
// the RSS sampler.
import { SharedArray } from 'k6/data';
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: { hold: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '10m' } },
  thresholds: { massconn_failures: ['count==0'], massconn_drops: ['count==0'] },
};

const TEN = [
  { send: '{"join":"room-{{rand:100}}","c":{{conn}}}' },
  { expect: '{"join"', prefix: true, timeout: '10s' },
  { sleep: { min: __ENV.THINK_MIN || '5s', max: __ENV.THINK_MAX || '10s' } },
  { send: '{"msg":"hi","seq":{{seq}},"ts":{{now_us}}}' },
  { expect: { path: 'seq', equals: '{{seq}}' }, timeout: '10s' },
  { goto: 2, times: 1000 },
  { send: 'bye {{conn}}' },
  { expect: 'bye', prefix: true, timeout: '10s' },
  { sleep: '1s' },
  { close: 1000 },
];

// The rows as a script holds a data file's: a SharedArray, one copy per process.
const ROWS = __ENV.TEMPLATES === '1'
  ? new SharedArray('rows', () => Array.from({ length: Number(__ENV.ROWS || 1000) },
    (_, i) => ({ user: `user-${i}`, token: `${i}-`.padEnd(150, 'x') })))
  : null;

export default function () {
  const opts = {
    urls: [__ENV.WS_URL],
    connections: Number(__ENV.CONNS),
    localAddrs: (__ENV.LOCAL_ADDRS || '').split(',').filter(Boolean),
    maxInFlight: 500,
    connectTimeout: '30s',
  };
  if ((__ENV.STEPS || 'none') === 'ten') opts.steps = TEN;
  if (__ENV.TEMPLATES === '1') {
    opts.urls = [`${__ENV.WS_URL}?c={{conn}}&user={{data.user}}`];
    opts.headers = { Authorization: 'Bearer {{data.token}}' };
    opts.onOpenSend = '{"hello":"{{data.user}}","c":{{conn}}}';
    opts.data = ROWS;
  } else if (__ENV.TEMPLATES === 'static') {
    // The same URL, header and message for every connection: what the
    // templates cost on top of sending them.
    opts.urls = [`${__ENV.WS_URL}?c=10000&user=user-500`];
    opts.headers = { Authorization: `Bearer ${'500-'.padEnd(150, 'x')}` };
    opts.onOpenSend = '{"hello":"user-500","c":10000}';
  }
  const pool = massconn.connect(opts);
  const s = pool.stats();
  console.log(`held open=${s.open} failed=${s.failed}`);
  pool.hold(`${Number(__ENV.HOLD_MS || 15000)}ms`);
  const end = pool.stats();
  console.log(`end open=${end.open} sent=${end.sent} received=${end.received} rtt=${end.rtt}`);
  pool.close();
}
