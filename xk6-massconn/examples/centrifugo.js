// Centrifugo: connect (with a JWT when TOKEN is set), subscribe to
// CHANNEL, count publications and measure their latency from a "ts" field.
//   k6 run -e URL=ws://127.0.0.1:8000/connection/websocket -e CHANNEL=news examples/centrifugo.js
// Publish e.g. {"ts": <Unix ms>} to the channel through the server API
// while it holds; pings are answered by the adapter.
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
    urls: [__ENV.URL || 'ws://127.0.0.1:8000/connection/websocket'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    protocol: { name: 'centrifugo', token: __ENV.TOKEN, channels: [__ENV.CHANNEL || 'news'] },
    latency: { path: 'ts', unit: 'ms' },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`publications received: ${pool.stats().received}`);
  pool.close();
}
