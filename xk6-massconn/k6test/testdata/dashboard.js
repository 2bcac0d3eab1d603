// Holds connections against an echo server while a second pool is refused,
// long enough for k6's web dashboard to take a few snapshots: the exported
// report then has open connections, a connect rate and failures by reason.
import massconn from 'k6/x/massconn';

export default function () {
  const refused = massconn.connect({ urls: [__ENV.REFUSED_URL], connections: 3 });
  const pool = massconn.connect({
    urls: [__ENV.WS_URL],
    connections: 20,
    rate: 10,
    onOpenSend: 'hello {{conn}}',
  });
  pool.hold(__ENV.HOLD || '4s');
  pool.close();
  refused.close();
}
