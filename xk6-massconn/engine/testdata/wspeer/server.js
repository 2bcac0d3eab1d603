// A WebSocket peer written by nobody on this project: the npm "ws" package.
// Usage: node server.js [port]   (or PORT=...; 0 = any free port)
// DEFLATE=1 enables permessage-deflate for every message (threshold 0),
// accepting the client's no-context-takeover requests as ws does.
// Prints "listening <port>" once ready. Behaviour, driven by the client:
//   any text message            -> echoed back
//   "push N"                    -> N JSON messages {"seq":i,"ts":<wall clock in us>}
//   "fragpush N"                -> N JSON messages, each sent as 3 fragments
//   "ping"                      -> a ping frame; the client's pong is answered with text "pong seen"
//   "close CODE"                -> server closes with CODE
//   "extensions"                -> the negotiated extensions, e.g. "permessage-deflate; ..." ("none" without)
//   "big N"                     -> one text message of N bytes "aaaa..."
//   "badtext"                   -> a text frame whose bytes are not UTF-8 (ff fe)
//   "after MS CMD"              -> runs CMD (any of these commands) MS milliseconds later
//   "rows A,B,T:C,..."          -> one JSON message per item {"topic":T,"id":N} (T default "Track"), in that order
//   URL query ?close=CODE       -> server closes with CODE right after the handshake
// With TLS_CERT and TLS_KEY (PEM files) it serves wss:// over Node's https
// (OpenSSL); TLS_MAX_VERSION (e.g. TLSv1.2) caps the protocol version.
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 0);
const perMessageDeflate = process.env.DEFLATE === '1' ? { threshold: 0 } : false;
let wss;
let listener;
if (process.env.TLS_CERT) {
  listener = https.createServer({
    cert: fs.readFileSync(process.env.TLS_CERT),
    key: fs.readFileSync(process.env.TLS_KEY),
    maxVersion: process.env.TLS_MAX_VERSION || 'TLSv1.3',
  });
  wss = new WebSocketServer({ server: listener, perMessageDeflate });
  listener.listen({ host: '127.0.0.1', port, backlog: 65535 });
} else {
  wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 65535, perMessageDeflate });
  listener = wss;
}

function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

wss.on('connection', (ws, req) => {
  const query = new URL(req.url, 'http://x').searchParams;
  if (query.has('close')) {
    ws.close(Number(query.get('close')));
    return;
  }
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.send(data, { binary: true });
      return;
    }
    command(ws, data.toString());
  });
  ws.on('error', () => {});
});

function command(ws, text) {
  let m;
  if ((m = /^after (\d+) (.*)$/s.exec(text))) {
    const rest = m[2];
    setTimeout(() => {
      if (ws.readyState === ws.OPEN) command(ws, rest);
    }, Number(m[1]));
  } else if ((m = /^push (\d+)$/.exec(text))) {
    for (let i = 0; i < Number(m[1]); i++) {
      ws.send(JSON.stringify({ seq: i, ts: nowMicros() }));
    }
  } else if ((m = /^fragpush (\d+)$/.exec(text))) {
    for (let i = 0; i < Number(m[1]); i++) {
      const msg = JSON.stringify({ seq: i, ts: nowMicros() });
      const a = Math.floor(msg.length / 3);
      ws.send(msg.slice(0, a), { fin: false });
      ws.send(msg.slice(a, 2 * a), { fin: false });
      ws.send(msg.slice(2 * a), { fin: true });
    }
  } else if ((m = /^rows (.+)$/.exec(text))) {
    for (const item of m[1].split(',')) {
      const [topic, id] = item.includes(':') ? item.split(':') : ['Track', item];
      ws.send(JSON.stringify({ topic, op: 'INSERT', id: Number(id), ts: nowMicros() }));
    }
  } else if (text === 'badtext') {
    ws.send(Buffer.from([0xff, 0xfe]), { binary: false });
  } else if (text === 'extensions') {
    ws.send(ws.extensions || 'none');
  } else if ((m = /^big (\d+)$/.exec(text))) {
    ws.send('a'.repeat(Number(m[1])));
  } else if (text === 'ping') {
    ws.once('pong', () => ws.send('pong seen'));
    ws.ping();
  } else if ((m = /^close (\d+)$/.exec(text))) {
    ws.close(Number(m[1]));
  } else {
    ws.send(text);
  }
}

listener.on('listening', () => {
  console.log(`listening ${listener.address().port}`);
});

// Stop with the parent: tests and benchmarks must not leave it behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
