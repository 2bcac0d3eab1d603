// MQTT over WebSocket (Mosquitto, EMQX, HiveMQ, ...): subscribe to TOPIC at
// QoS 1, count publications, check their "seq" has no gaps and measure
// latency from their "ts" (Unix ms), e.g. payloads {"seq": 1, "ts": 1700000000000}.
//   k6 run -e URL=ws://127.0.0.1:8080/ -e TOPIC='sensors/#' examples/mqtt.js
// Each connection gets its own client id (massconn-{{vu}}-{{conn}}).
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    massconn_gaps: ['count==0'],
    massconn_latency: ['p(99)<500'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:8080/'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    protocol: { name: 'mqtt', version: '5', topics: [__ENV.TOPIC || 'sensors/#'], qos: 1, keepAlive: '30s' },
    latency: { path: 'ts', unit: 'ms' },
    sequence: { path: 'seq' },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`publications received: ${pool.stats().received}`);
  pool.close();
}
