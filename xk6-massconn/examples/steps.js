// Each connection runs a small program instead of a VU: send a request,
// wait for its answer (a massconn_rtt value), think, repeat 5 times.
//   k6 run -e URL=ws://127.0.0.1:8080/ -e CONNECTIONS=1000 examples/steps.js
// URL is a server that echoes text; the expect step waits for the echo
// carrying this connection's own seq.
import massconn from 'k6/x/massconn';

export const options = {
  thresholds: {
    massconn_rtt: ['p(99)<500'],
    'massconn_failures{reason:expect_timeout}': ['count==0'],
    massconn_failures: ['count==0'],
  },
};

export default function () {
  const pool = massconn.connect({
    urls: [__ENV.URL || 'ws://127.0.0.1:8080/'],
    connections: Number(__ENV.CONNECTIONS || 100),
    steps: [
      { send: '{"conn":{{conn}},"seq":{{seq}},"ts":{{now_us}}}' },
      { expect: { path: 'seq', equals: '{{seq}}' }, timeout: '5s' },
      { sleep: { min: '200ms', max: '1s' } },
      { goto: 0, times: 4 }, // 5 round trips, then the connection idles
    ],
  });
  pool.hold(__ENV.HOLD || '30s');
  console.log(`round trips: ${pool.stats().rtt}`);
  pool.close();
}
