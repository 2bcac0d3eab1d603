// The centrifugo adapter through k6: connect (with TOKEN when set),
// subscribe, publications made by this script through the server API, every
// one counted and measured; BAD_TOKEN connections are rejected.
import http from 'k6/http';
import massconn from 'k6/x/massconn';

const CONNS = 20;
const PUBS = 15;
const CHANNEL = `k6-${Date.now()}`;

export const options = {
  thresholds: {
    massconn_drops: ['count==0'],
    ws_msgs_received: [`count==${CONNS * PUBS}`],
    // Generous: this proves the trend is fed, not speed.
    massconn_latency: ['max<60000'],
    'massconn_failures{reason:rejected}': ['count==3'],
    'massconn_failures{code:centrifugo_3500}': ['count==3'],
  },
};

function publish(data) {
  const res = http.post(`${__ENV.API}/publish`, JSON.stringify({ channel: CHANNEL, data }), {
    headers: { 'X-API-Key': __ENV.API_KEY, 'Content-Type': 'application/json' },
  });
  if (res.status !== 200 || JSON.parse(res.body).error) {
    throw new Error(`publish: ${res.status} ${res.body}`);
  }
}

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    protocol: { name: 'centrifugo', token: __ENV.TOKEN, channels: [CHANNEL] },
    latency: { path: 'sent', unit: 'ms' },
  });
  // Subscriptions follow the connect reply: wait until the server has them.
  for (let i = 0; i < 300; i++) {
    const res = http.post(`${__ENV.API}/channels`, JSON.stringify({ pattern: CHANNEL }), {
      headers: { 'X-API-Key': __ENV.API_KEY },
    });
    const ch = JSON.parse(res.body).result.channels[CHANNEL];
    if (ch && ch.num_clients === CONNS) break;
    pool.hold('50ms');
  }
  for (let i = 0; i < PUBS; i++) {
    publish({ seq: i, sent: new Date().toISOString() });
  }
  for (let i = 0; i < 600 && pool.stats().received < CONNS * PUBS; i++) {
    pool.hold('50ms');
  }
  const bad = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: 3,
    protocol: { name: 'centrifugo', token: __ENV.BAD_TOKEN, channels: [CHANNEL] },
  });
  for (let i = 0; i < 600 && bad.stats().failed < 3; i++) {
    bad.hold('50ms');
  }
  if (pool.stats().received !== CONNS * PUBS) {
    throw new Error(`received ${pool.stats().received} of ${CONNS * PUBS}`);
  }
  console.log(`stats ${JSON.stringify(pool.stats())} bad ${JSON.stringify(bad.stats())}`);
  bad.close();
  pool.close();
}
