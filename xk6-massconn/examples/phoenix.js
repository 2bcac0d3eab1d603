// Phoenix Channels: join TOPIC on every connection and count the pushes
// the server broadcasts on it (every event but phx_*).
//   k6 run -e URL=ws://127.0.0.1:4000/socket/websocket -e TOPIC=room:lobby examples/phoenix.js
// The adapter sends Phoenix's heartbeat itself; a refused join counts as
// massconn_failures{reason:rejected,code:phoenix_join_error}.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:4000/socket/websocket'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    protocol: {
      name: 'phoenix',
      topics: [__ENV.TOPIC || 'room:lobby'],
      joinPayload: { user: 'k6-{{conn}}' },
      heartbeat: '30s',
    },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`pushes received: ${pool.stats().received}`);
  pool.close();
}
