// One phase of scripts/bench-sse.sh: open CONNS connections to URL from
// the source addresses in LOCAL (comma-separated), report how long connect() took, hold them for HOLD, close. The
// connections spread over CHANNELS channels (URL + a number): nchan serves
// many subscribers of one channel more slowly than the same number spread.
import massconn from 'k6/x/massconn';

export const options = {
  scenarios: { hold: { executor: 'shared-iterations', vus: 1, iterations: 1, maxDuration: '10m' } },
};

export default function () {
  const conns = Number(__ENV.CONNS);
  const started = Date.now();
  const pool = massconn.connect({
    urls: Array.from({ length: Number(__ENV.CHANNELS) }, (_, i) => __ENV.URL + i),
    connections: conns,
    localAddrs: __ENV.LOCAL.split(','),
    connectTimeout: '30s',
  });
  const s = pool.stats();
  console.log(`HELD open=${s.open} failed=${s.failed} ms=${Date.now() - started}`);
  pool.hold(__ENV.HOLD);
  pool.close('5s');
}
