// The extension's version in the end-of-test summary.
//   k6 run -e URL=ws://127.0.0.1:8080/ -e SUMMARY=summary.json examples/summary.js
// k6 gives extensions no field of their own in the summary, so the script
// adds one: handleSummary receives k6's summary data and writes it, with
// massconn_version next to k6's own keys, to SUMMARY (default
// summary.json), and prints a one-line summary instead of k6's table.
import massconn from 'k6/x/massconn';

const CONNECTIONS = 10;

export const options = {
  thresholds: {
    ws_sessions: [`count==${CONNECTIONS}`],
    massconn_failures: ['count==0'],
  },
};

export default function () {
  const pool = massconn.connect({ urls: [__ENV.URL || 'ws://127.0.0.1:8080/'], connections: CONNECTIONS });
  pool.hold(__ENV.HOLD || '1s');
  pool.close();
}

export function handleSummary(data) {
  const sessions = data.metrics.ws_sessions ? data.metrics.ws_sessions.values.count : 0;
  return {
    [__ENV.SUMMARY || 'summary.json']: JSON.stringify({ massconn_version: massconn.version, ...data }, null, 2),
    stdout: `massconn ${massconn.version}: ${sessions} sessions\n`,
  };
}
