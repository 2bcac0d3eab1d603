// Shared by the k6scripts: reading environment variables with defaults and
// clear errors, the connect options every massconn scenario has in common,
// and the two gauges the fleet merge uses to time the connect phase across
// processes (wall-clock epoch milliseconds, so parts on different hosts line
// up as well as their clocks do).
import { Counter, Gauge } from 'k6/metrics';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';

export const connectStart = new Gauge('fleet_connect_start_ms');
export const connectEnd = new Gauge('fleet_connect_end_ms');
// When this process's hold ended, right before it starts closing: rows
// inserted later than the fan-out bound before it are not expected.
export const holdEnd = new Gauge('fleet_hold_end_ms');

// The sequence check's per-connection ends, for the fleet's verdict: how
// many connections' sequences started (first) and ended (last) at each row
// id, and how many connections received no row at all (silent). With the
// inserted ids known, "every row reached every connection" is exact:
// no gap, every first <= the first row, every last >= the last row.
const seqFirst = new Counter('fleet_seq_first');
const seqLast = new Counter('fleet_seq_last');
const seqSilent = new Counter('fleet_seq_silent');


// recordSequence turns pool.sequence() into the fleet_seq_* counters; call it
// once, when the hold ends and before pool.close() (a close that fails under
// load must not lose the verdict's data).
export function recordSequence(pool) {
  const sq = pool.sequence();
  if (!sq) return;
  for (const [id, n] of Object.entries(sq.first)) seqFirst.add(n, { id });
  for (const [id, n] of Object.entries(sq.last)) seqLast.add(n, { id });
  seqSilent.add(sq.silent);
}

export function list(name, fallback) {
  const v = __ENV[name] === undefined ? fallback : __ENV[name];
  return v ? String(v).split(',').map((s) => s.trim()).filter(Boolean) : [];
}

export function str(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

// num reads a number >= lowest; a typo such as CONNECTIONS=10k stops the
// test in the init context with the variable's name instead of running NaN.
export function num(name, fallback, lowest = 0) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < lowest) {
    throw new Error(`environment variable ${name} must be a number >= ${lowest}, got '${raw}' (e.g. -e ${name}=${fallback})`);
  }
  return v;
}

export function int(name, fallback, lowest = 0) {
  const v = num(name, fallback, lowest);
  if (!Number.isInteger(v)) {
    throw new Error(`environment variable ${name} must be a whole number >= ${lowest}, got '${__ENV[name]}'`);
  }
  return v;
}

// seconds parses k6-style durations ('90s', '1m30s', '1h', '250ms') or plain
// seconds, for the arithmetic the scripts do with them.
export function seconds(name, fallback) {
  const raw = str(name, fallback);
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(raw)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== raw.length) {
    throw new Error(`environment variable ${name} must be a duration such as 60s, 5m or 1h, got '${raw}'`);
  }
  return total;
}

// json reads a JSON value; a malformed one stops the test naming the
// variable (k6's own error would say only "invalid character").
export function json(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new Error(`environment variable ${name} must be JSON, got '${raw}': ${e.message}`);
  }
}

// off says whether a variable was set to turn its option off.
function off(name) {
  return __ENV[name] === 'none';
}

// The options a server other than ours needs, defaulting to what
// massconn-server sends ({"id":42,"topic":"Track","ts":1795430400123456,...}).

// SEQUENCE is the option every massconn scenario passes: the server's row id,
// per topic (the insert loop is one writer, so ids of a table are contiguous).
// SEQUENCE_PATH=seq for the fleet's publisher; SEQUENCE_PER=none for one
// sequence per connection; SEQUENCE_PATH=none for no sequence check.
export const SEQUENCE = off('SEQUENCE_PATH') ? undefined : {
  path: str('SEQUENCE_PATH', 'id'),
  ...(off('SEQUENCE_PER') ? {} : { per: str('SEQUENCE_PER', 'topic') }),
};

const LATENCY_UNITS = ['ns', 'us', 'ms', 's'];
// LATENCY is where the send time is in each message (LATENCY_PATH, a
// dotted path such as data.ts) and its unit for numbers (LATENCY_UNIT);
// LATENCY_PATH=none measures no latency.
export const LATENCY = latencyOption();
function latencyOption() {
  if (off('LATENCY_PATH')) return undefined;
  const unit = str('LATENCY_UNIT', 'us');
  if (!LATENCY_UNITS.includes(unit)) {
    throw new Error(`environment variable LATENCY_UNIT must be one of ${LATENCY_UNITS.join(', ')}, got '${unit}' ` +
      '(the unit of a numeric timestamp; ISO 8601 strings are read whatever the unit)');
  }
  return { path: str('LATENCY_PATH', 'ts'), unit };
}

// PROTOCOL is a protocol adapter by name (PROTOCOL=centrifugo) or with its
// options as JSON (PROTOCOL='{"name":"centrifugo","channels":["news"]}');
// unset: raw WebSocket messages.
export const PROTOCOL = protocolOption();
function protocolOption() {
  const raw = str('PROTOCOL', '');
  if (raw === '') return undefined;
  if (!raw.trimStart().startsWith('{')) return raw;
  const p = json('PROTOCOL', undefined);
  if (p === null || typeof p !== 'object' || Array.isArray(p) || typeof p.name !== 'string') {
    throw new Error(`environment variable PROTOCOL must be an adapter name or a JSON object with "name", got '${raw}' ` +
      '(e.g. -e PROTOCOL=centrifugo or -e PROTOCOL=\'{"name":"centrifugo","channels":["news"]}\')');
  }
  return p;
}

// HEADERS are extra handshake headers as a JSON object of strings, e.g.
// HEADERS='{"Authorization":"Bearer TOKEN"}'.
export const HEADERS = headersOption();
function headersOption() {
  const h = json('HEADERS', {});
  const bad = h === null || typeof h !== 'object' || Array.isArray(h) ||
    Object.values(h).some((v) => typeof v !== 'string');
  if (bad) {
    throw new Error(`environment variable HEADERS must be a JSON object of strings, got '${__ENV.HEADERS}' ` +
      '(e.g. -e HEADERS=\'{"Authorization":"Bearer TOKEN"}\')');
  }
  return h;
}

// DATA is one row per user for per-connection templates ({{data}},
// {{data.FIELD}} in URLS, HEADERS and PROTOCOL's strings): DATA_FILE is a
// file of JSON lines (objects, or one JSON string each), of plain lines (one
// token or user id each), or a .csv whose first line names the columns
// (comma-separated, no quoting). Connection i of the whole test uses row
// i mod rows. A SharedArray: one copy per k6 process, not per VU. Give an
// absolute path: k6 resolves a relative one from this file's folder.
export const DATA = dataOption();
function dataOption() {
  const file = str('DATA_FILE', '');
  if (file === '') return undefined;
  return new SharedArray('massconn-data', () => parseRows(file, open(file)));
}

function parseRows(file, text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`environment variable DATA_FILE: ${file} has no rows`);
  if (file.endsWith('.csv')) {
    const cols = lines[0].split(',').map((c) => c.trim());
    if (cols.some((c) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(c))) {
      throw new Error(`environment variable DATA_FILE: the first line of ${file} must name the columns (letters, digits, _), got '${lines[0]}'`);
    }
    return lines.slice(1).map((l, i) => {
      const cells = l.split(',');
      if (cells.length !== cols.length) {
        throw new Error(`environment variable DATA_FILE: line ${i + 2} of ${file} has ${cells.length} cells, the header ${cols.length}`);
      }
      return Object.fromEntries(cols.map((c, j) => [c, cells[j].trim()]));
    });
  }
  return lines.map((l, i) => {
    const t = l.trim();
    if (!t.startsWith('{') && !t.startsWith('"')) return t;
    try {
      return JSON.parse(t);
    } catch (e) {
      throw new Error(`environment variable DATA_FILE: line ${i + 1} of ${file} is not JSON: ${e.message}`);
    }
  });
}

export const TOTAL = int('CONNECTIONS', 1000, 1);

// VUS is the scenarios' VU count. k6 splits VUs between the processes of a
// fleet like everything else, so a one-VU scenario would leave every process
// but the first with nothing to do: one VU per process, and the fleet tells
// the script how many processes there are (massconn-fleet part sets it).
export const VUS = int('FLEET_PARTS', 1, 1);

// myConnections is this VU's part of the fleet total: massconn.share gives
// the process's part, split evenly between the process's VUs.
export function myConnections(massconn) {
  const mine = massconn.share(TOTAL);
  const vus = exec.instance.vusInitialized;
  const i = exec.vu.idInInstance - 1;
  return Math.floor((mine * (i + 1)) / vus) - Math.floor((mine * i) / vus);
}
export const URLS = list('URLS', 'ws://127.0.0.1:8080/ws?topic=Track');

// baseOptions are the massconn.connect options set the same way in every
// scenario; the fleet passes URLS and LOCAL_ADDRS per process.
/** @returns {import('k6/x/massconn').ConnectOptions} */
export function baseOptions(connections) {
  return {
    urls: URLS,
    connections,
    // RATE is the whole fleet's attempts per second: this VU's share of it.
    rate: (num('RATE', 0) * connections) / TOTAL,
    maxInFlight: int('MAX_IN_FLIGHT', 1000, 1),
    localAddrs: list('LOCAL_ADDRS', ''),
    connectTimeout: str('CONNECT_TIMEOUT', '30s'),
    sampleLimit: int('SAMPLE_LIMIT', 1000, 0),
    headers: HEADERS,
    // Unset options are left out rather than passed as undefined.
    ...(LATENCY ? { latency: LATENCY } : {}),
    ...(SEQUENCE ? { sequence: SEQUENCE } : {}),
    ...(PROTOCOL ? { protocol: PROTOCOL } : {}),
    ...(DATA ? { data: DATA } : {}),
  };
}

// timedConnect opens the pool and records when this process started and
// finished opening it.
export function timedConnect(massconn, opts) {
  connectStart.add(Date.now());
  const pool = massconn.connect(opts);
  connectEnd.add(Date.now());
  return pool;
}

// maxDuration bounds a scenario to its hold plus time to connect. It also
// sets the web dashboard's sampling period (about maxDuration/2880), so a
// generous "24h" would leave a short run's dashboard empty.
export function maxDuration(holdSeconds) {
  return `${Math.ceil(holdSeconds + seconds('CONNECT_ALLOWANCE', '10m'))}s`;
}

// SEQUENCE_THRESHOLDS are the delivery checks of the scenarios fed by the
// insert loop: no row missing, duplicated or out of order on any connection.
export const SEQUENCE_THRESHOLDS = {
  massconn_gaps: ['count==0'],
  massconn_duplicates: ['count==0'],
  massconn_reordered: ['count==0'],
};

// holdOptions is the options object every massconn hold scenario shares:
// scenario `name` runs one iteration on each of VUS VUs (one per fleet
// process), bounded by maxDur (maxDuration(HOLD_S) for most); it fails on
// any failed connect, any drop, any failed check, and on what `thresholds`
// adds (SEQUENCE_THRESHOLDS, a latency bound).
export function holdOptions(name, maxDur, thresholds = {}) {
  return {
    scenarios: {
      [name]: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: maxDur },
    },
    thresholds: {
      massconn_failures: ['count==0'], // includes reason=rejected (a refused join or subscription)
      massconn_drops: ['count==0'],
      ...thresholds,
      checks: ['rate==1'],
    },
  };
}
