// An EventSource client nobody on this project wrote, reading the server's
// /sse stream and printing one JSON line per happening on stdout, in the
// order the client saw them:
//   {"type":"open"}                       the stream (re)opened
//   {"type":"event","id":...,"data":...}  a message event
//   {"type":"error","readyState":N}       the stream dropped (EventSource reconnects by itself)
//
// usage: node peer.js eventsource URL   the npm eventsource package
//        node peer.js chromium URL      Chromium's own EventSource, headless:
//                                       a page served from here (another
//                                       origin than URL, so CORS applies)
//                                       opens it and posts what it sees back
'use strict';
const http = require('node:http');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const [mode, url] = process.argv.slice(2);
if (!url || !['eventsource', 'chromium'].includes(mode)) {
  console.error('usage: node peer.js eventsource|chromium URL');
  process.exit(2);
}
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'eventsource') {
  const { EventSource } = require('eventsource');
  const es = new EventSource(url);
  es.onopen = () => emit({ type: 'open' });
  es.onmessage = (ev) => emit({ type: 'event', id: ev.lastEventId, data: ev.data });
  es.onerror = () => emit({ type: 'error', readyState: es.readyState });
} else {
  // The page numbers what it sees; posts may arrive out of order, so they
  // are printed by number.
  const page = `<!doctype html><meta charset="utf-8"><title>sse</title><script>
let n = 0;
const report = (o) => { o.n = n++; fetch('/report', {method: 'POST', body: JSON.stringify(o)}); };
const es = new EventSource(${JSON.stringify(url)});
es.onopen = () => report({type: 'open'});
es.onmessage = (ev) => report({type: 'event', id: ev.lastEventId, data: ev.data});
es.onerror = () => report({type: 'error', readyState: es.readyState});
</script>`;
  const pending = new Map();
  let next = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/report') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const o = JSON.parse(body);
        pending.set(o.n, o);
        while (pending.has(next)) {
          const p = pending.get(next);
          pending.delete(next);
          delete p.n;
          emit(p);
          next++;
        }
        res.end();
      });
      return;
    }
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page);
  });
  server.listen(0, '127.0.0.1', () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ssepeer-'));
    const browser = process.env.CHROMIUM || 'chromium';
    const child = spawn(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--user-data-dir=' + profile, 'http://127.0.0.1:' + server.address().port + '/'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => { console.error('chromium exited', code); process.exit(1); });
    const stop = () => { child.removeAllListeners('exit'); child.kill('SIGTERM'); fs.rmSync(profile, { recursive: true, force: true }); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
