// compression: true against the npm ws server with perMessageDeflate: every
// message arrives compressed and is counted and measured.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    ws_msgs_received: ['count==40'],
    massconn_latency: ['max>=0'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: 2,
    compression: true,
    onOpenSend: 'push 20',
    latency: { field: 'ts', unit: 'us' },
  });
  for (let i = 0; i < 300 && pool.stats().received < 40; i++) {
    pool.hold('100ms');
  }
  pool.close();
}
