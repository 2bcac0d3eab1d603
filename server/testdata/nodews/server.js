// The Node.js target of make bench-server: a plain npm `ws` broadcast
// server, as a Node developer would write it. Upgrades on /ws; POST
// /publish sends the request body as one text message to every client;
// GET /healthz reports {"connections": N, "listener": "connected"} in the
// shape massconn-bench fanout reads from massconn-server.
//
//   node server.js --listen 127.0.0.1:PORT
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const args = process.argv.slice(2);
const i = args.indexOf('--listen');
if (i < 0 || !args[i + 1] || !args[i + 1].includes(':')) {
  console.error('nodews: give --listen HOST:PORT, e.g. --listen 127.0.0.1:8080');
  process.exit(2);
}
const [host, port] = args[i + 1].split(/:(?=[^:]*$)/);

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: true });
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ connections: wss.clients.size, listener: 'connected' }));
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const msg = Buffer.concat(chunks).toString('utf8');
      let n = 0;
      for (const ws of wss.clients) {
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(msg);
          n++;
        }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ sent: n }));
    });
    return;
  }
  res.writeHead(404);
  res.end('not found: /ws, /healthz, POST /publish\n');
});
server.on('upgrade', (req, socket, head) => {
  if (!req.url.startsWith('/ws')) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen(Number(port), host, () => console.error(`nodews: listening on ${host}:${port}`));
process.on('SIGTERM', () => process.exit(0));
