// Socket.IO 4: connect to the namespace, count "tick" events and measure
// their latency from the event's "ts" field (an ISO 8601 string).
//   k6 run -e URL=ws://127.0.0.1:3000/socket.io/ examples/socketio.js
// The server side: io.emit('tick', {ts: new Date().toISOString()}).
// Engine.IO pings are answered by the adapter.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    massconn_latency: ['p(99)<500'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:3000/socket.io/'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    protocol: { name: 'socketio', namespace: '/', auth: { token: 'k6-{{conn}}' }, events: ['tick'] },
    latency: { path: 'ts' },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`ticks received: ${pool.stats().received}`);
  pool.close();
}
