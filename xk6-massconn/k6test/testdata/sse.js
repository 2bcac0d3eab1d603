// EventSource subscribers of nchan (SSE_URL), with events published by
// the script itself (PUB_URL), so that every count is exact.
import massconn from 'k6/x/massconn';
import http from 'k6/http';

const CONNS = 20;
const PUBS = 10;

export const options = {
  thresholds: {
    sse_event: [`count==${CONNS * PUBS}`],
    massconn_sessions: [`count==${CONNS}`],
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    massconn_gaps: ['count==0'],
    // Generous: these prove the trends exist and thresholds run on them.
    'massconn_latency{transport:sse}': ['p(99)<60000'],
    // "Heard from every 15 s": the longest silence of any stream.
    massconn_silence: ['max<15000'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.SSE_URL],
    connections: CONNS,
    latency: { path: 'ts', unit: 'ms' },
    sequence: { path: 'n' },
    idleTimeout: '30s',
    sse: { events: ['message'] },
  });
  for (let n = 1; n <= PUBS; n++) {
    const res = http.post(__ENV.PUB_URL, JSON.stringify({ n, ts: Date.now() }));
    if (res.status < 200 || res.status > 299) {
      throw new Error(`publishing: ${res.status}`);
    }
  }
  for (let i = 0; i < 600 && pool.stats().received < CONNS * PUBS; i++) {
    pool.hold('100ms');
  }
  const s = pool.stats();
  if (s.open !== CONNS || s.received !== CONNS * PUBS || s.failed !== 0) {
    throw new Error(`unexpected stats ${JSON.stringify(s)}`);
  }
  pool.close();
}
