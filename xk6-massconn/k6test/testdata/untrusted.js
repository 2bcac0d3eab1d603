// wss:// to a server whose certificate nobody trusts: every attempt fails
// with reason tls, counted in massconn_failures{reason:tls}, and the
// count==0 threshold fails, so k6 must exit 99.
import massconn from 'k6/x/massconn';

const CONNS = 5;

export const options = {
  thresholds: {
    massconn_failures: ['count==0'],
    'massconn_failures{reason:tls}': [`count==${CONNS}`],
  },
};

export default function () {
  const pool = massconn.connect({ urls: [__ENV.WS_URL], connections: CONNS });
  const s = pool.stats();
  if (s.failures.tls !== CONNS || s.open !== 0) {
    throw new Error(`unexpected stats ${JSON.stringify(s)}`);
  }
  pool.close();
}
