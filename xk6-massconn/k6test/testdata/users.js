// One user per connection: connection i of the whole test signs in with
// row i mod len of DATA_FILE (JSON lines {"token": <JWT>, "sub": <user>}).
// ROWS=shared passes a SharedArray of the objects ({{data.token}}), else a
// plain array of the token strings ({{data}}). Every process of a fleet
// holds its share until Centrifugo counts TOTAL clients, then LINGER more
// so that the test, watching the server API, sees them all at once.
import http from 'k6/http';
import { SharedArray } from 'k6/data';
import massconn from 'k6/x/massconn';

const lines = open(__ENV.DATA_FILE).split('\n').filter((l) => l !== '');
const shared = __ENV.ROWS === 'shared' ? new SharedArray('users', () => lines.map((l) => JSON.parse(l))) : null;
const tokens = shared ? null : lines.map((l) => JSON.parse(l).token);

export const options = {
  scenarios: {
    users: { executor: 'per-vu-iterations', vus: Number(__ENV.VUS || 1), iterations: 1 },
  },
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
  },
};

function clients() {
  const res = http.post(`${__ENV.API}/info`, '{}', { headers: { 'X-API-Key': __ENV.API_KEY } });
  return JSON.parse(res.body).result.nodes.reduce((n, node) => n + node.num_clients, 0);
}

export default function () {
  const total = Number(__ENV.TOTAL);
  const perUser = shared
    ? { data: shared, protocol: { name: 'centrifugo', token: '{{data.token}}' } }
    : { data: tokens, protocol: { name: 'centrifugo', token: '{{data}}' } };
  const pool = massconn.connect(Object.assign({ urls: [__ENV.WS_URL], connections: massconn.share(total) }, perUser));
  for (let i = 0; i < 1200 && clients() < total; i++) {
    pool.hold('50ms');
  }
  pool.hold(__ENV.LINGER || '1s');
  console.log(`stats ${JSON.stringify(pool.stats())}`);
  pool.close();
}
