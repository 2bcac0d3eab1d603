// The mqtt adapter through k6 against Mosquitto: CONNS connections
// subscribe over WebSocket, the test publishes PUBS QoS 1 messages with
// mosquitto_pub once the broker counts every subscription, and each one is
// counted, measured and in sequence on every connection.
import massconn from 'k6/x/massconn';

const CONNS = 20;
const PUBS = 15;

export const options = {
  thresholds: {
    massconn_drops: ['count==0'],
    massconn_gaps: ['count==0'],
    ws_msgs_received: [`count==${CONNS * PUBS}`],
    // Generous: this proves the trend is fed, not speed.
    massconn_latency: ['max<60000'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: CONNS,
    protocol: { name: 'mqtt', version: __ENV.MQTT_VERSION, topics: [__ENV.TOPIC], qos: 1, keepAlive: '5s' },
    latency: { path: 'ts', unit: 'ms' },
    sequence: { path: 'seq' },
  });
  for (let i = 0; i < 1200 && pool.stats().received < CONNS * PUBS; i++) {
    pool.hold('50ms');
  }
  if (pool.stats().received !== CONNS * PUBS) {
    throw new Error(`received ${pool.stats().received} of ${CONNS * PUBS}`);
  }
  pool.close();
}
