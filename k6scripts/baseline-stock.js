// baseline-stock.js — the capacity scenario written with stock k6
// (k6/websockets, one VU per connection), for a side-by-side comparison with
// capacity.js: same targets, same hold, same pass criterion, and the same
// metric names where the meaning is the same (massconn_failures,
// massconn_drops, massconn_latency, fleet_connect_*), so the fleet report
// reads both alike.
//
//   bin/k6 run -e CONNECTIONS=2000 -e DURATION=60s k6scripts/baseline-stock.js
//
// Environment (all optional):
//   URLS          comma-separated ws:// targets; VU n uses URLS[n % len] (default ws://127.0.0.1:8080/ws?topic=Track)
//   CONNECTIONS   connections (= VUs) for the whole test, split by --execution-segment (default 1000)
//   DURATION      how long each connection is held once open (default 60s)
//   RAMP          time over which the VUs start, spreading the handshakes (default 10s)
//   INSERT_EVERY  the insert loop's interval, for the expected row count (default 1s)
//   MIN_PER_CONN  rows each connection must receive while held (default: half those inserted, at least 1)
import { WebSocket } from 'k6/websockets';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { TOTAL, URLS, connectEnd, connectStart, num, seconds } from './lib/env.js';

const HOLD_S = seconds('DURATION', '60s');
const RAMP_S = seconds('RAMP', '10s');
const INSERT_EVERY_S = seconds('INSERT_EVERY', '1s');
const MIN_PER_CONN = num('MIN_PER_CONN', Math.max(1, Math.floor((HOLD_S / INSERT_EVERY_S) / 2)));

const failures = new Counter('massconn_failures');
const drops = new Counter('massconn_drops');
const latency = new Trend('massconn_latency', true);

export const options = {
  scenarios: {
    baseline: {
      executor: 'per-vu-iterations',
      vus: TOTAL,
      iterations: 1,
      maxDuration: `${Math.ceil(RAMP_S + HOLD_S + 60)}s`,
    },
  },
  thresholds: {
    massconn_failures: ['count==0'],
    massconn_drops: ['count==0'],
    checks: ['rate==1'],
  },
};

export default function () {
  // Spread the handshakes over RAMP, as the massconn scenarios pace theirs;
  // all VUs at once would measure a thundering herd instead.
  const local = exec.instance.vusInitialized;
  const me = exec.vu.idInInstance;
  if (me === 1) {
    connectStart.add(Date.now());
    failures.add(0); // so the thresholds see a value even when nothing failed
    drops.add(0);
  }
  sleep((RAMP_S * (me - 1)) / Math.max(1, local));
  const url = URLS[exec.vu.idInTest % URLS.length];
  const ws = new WebSocket(url);
  let opened = false;
  let closing = false;
  let received = 0;
  ws.onopen = () => {
    opened = true;
    connectEnd.add(Date.now());
    setTimeout(() => {
      closing = true;
      ws.close();
    }, HOLD_S * 1000);
  };
  ws.onmessage = (e) => {
    received++;
    try {
      const ts = JSON.parse(String(e.data)).ts;
      if (typeof ts === 'number') latency.add(Date.now() - ts / 1000);
    } catch (err) {
      // not a row message: counted in ws_msgs_received, no latency
    }
  };
  ws.onerror = (e) => {
    if (!opened) failures.add(1, { reason: String(e.error || 'error').slice(0, 60) });
  };
  ws.onclose = () => {
    if (!opened) return;
    if (!closing) drops.add(1, { code: 'unexpected' });
    check(received, { 'rows arrived while held': (n) => n >= MIN_PER_CONN });
  };
}
