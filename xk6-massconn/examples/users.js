// Each connection its own user: connection i signs in to Centrifugo with
// row i of users.jsonl (one {"id", "token"} per line).
//   k6 run -e URL=ws://127.0.0.1:8000/connection/websocket examples/users.js
// The shipped tokens are HS256 JWTs for user-0 ... user-19 signed with the
// secret "massconn-test-secret"; make your own for your server.
import { SharedArray } from 'k6/data';
import massconn from 'k6/x/massconn';

const users = new SharedArray('users', () =>
  open('./users.jsonl').split('\n').filter((line) => line).map((line) => JSON.parse(line)));

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:8000/connection/websocket'],
    connections: massconn.share(users.length), // one per row, split across --execution-segment processes
    data: users,
    headers: { 'X-Client': '{{data.id}}' },
    protocol: { name: 'centrifugo', token: '{{data.token}}', data: { device: 'k6-{{conn}}' }, channels: ['news'] },
  });
  pool.hold(__ENV.HOLD || '30s');
  pool.close();
}
