// Passing thresholds against a server that pushes JSON with a "ts" field.
import massconn from 'k6/x/massconn';

const CONNS = 50;
const PUSH = 20;

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    // Generous: this proves the trend exists and thresholds run on it, not speed.
    massconn_latency: ['p(99)<60000'],
    ws_sessions: [`count==${CONNS}`],
    ws_msgs_received: [`count==${CONNS * PUSH}`],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    rate: 0,
    maxInFlight: 10,
    onOpenSend: `push ${PUSH}`,
    latency: { field: 'ts', unit: 'us' },
    heartbeat: { every: '1s', ping: true },
  });
  // Wait for every pushed message (bounded), so the counts are exact.
  for (let i = 0; i < 600 && pool.stats().received < CONNS * PUSH; i++) {
    pool.hold('100ms');
  }
  const s = pool.stats();
  if (s.open !== CONNS || s.received !== CONNS * PUSH || s.failed !== 0) {
    throw new Error(`unexpected stats ${JSON.stringify(s)}`);
  }
  pool.close();
}
