// Hold N connections against one URL and judge the run with thresholds.
//   k6 run -e URL=ws://127.0.0.1:8080/ws -e CONNECTIONS=10000 -e HOLD=60s examples/hold.js
// Opens CONNECTIONS at RATE per second, keeps them alive with pings for
// HOLD, and fails (exit 99) if any connection fails or is dropped, or if
// handshakes get slow.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    ws_connecting: ['p(95)<1000'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:8080/ws'],
    connections: Number(__ENV.CONNECTIONS || 1000),
    rate: Number(__ENV.RATE || 1000),
    heartbeat: { every: '20s', ping: true },
  });
  pool.hold(__ENV.HOLD || '60s');
  console.log(`held: ${JSON.stringify(pool.stats())}`);
  pool.close('5s');
}
