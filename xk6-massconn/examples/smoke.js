// Smoke test: the extension loads and holds a few connections.
//   k6 run -e URL=ws://127.0.0.1:8080/ examples/smoke.js
// URL is any WebSocket server that echoes text. Passes when every
// connection opens and stays open and each hello is echoed back.
import massconn from 'k6/x/massconn';

const CONNECTIONS = 10;

export const options = {
  thresholds: {
    ws_sessions: [`count==${CONNECTIONS}`],
    ws_msgs_received: [`count==${CONNECTIONS}`],
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
  },
};

export default function () {
  console.log(`massconn ${massconn.version}`);
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:8080/'],
    connections: CONNECTIONS,
    onOpenSend: 'hello from {{conn}}',
  });
  pool.hold(__ENV.HOLD || '2s');
  pool.close();
}
