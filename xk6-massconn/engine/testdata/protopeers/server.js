// Realtime servers for the protocol adapter tests.
// Usage: node server.js socketio|graphql|phoenix [port]   (0 = any free port)
// Prints "listening <port>" once ready. Exits when stdin closes (unless
// PEER_KEEP_RUNNING=1). Commands on
// stdin, one per line:
//   publish N        send N application messages to every client, then print "published N"
//   count            print "count N": clients subscribed (socketio: connected sockets in both namespaces)
// The same over HTTP, for k6 scripts: POST /publish?n=N, GET /count.
// SIO_PING_INTERVAL and SIO_PING_TIMEOUT (ms) override the Socket.IO ping
// timing (200 and 1000: pings every test sees; benchmarks use Socket.IO's
// defaults 25000 and 20000).
//
// socketio: Socket.IO 4 (npm socket.io, nobody here wrote it) on /socket.io/,
//   namespaces "/" and "/feed", pings every 200 ms and gives up 1000 ms
//   later without a pong. auth {token: "bad"} is
//   refused (connect_error). publish emits "tick" {seq, ts: ISO string} and
//   "noise" {} on both namespaces. An "echo" event with an acknowledgement
//   callback is answered with its argument.
// graphql: graphql-ws 6 + graphql 16 (npm) on /graphql. connectionParams
//   {token: "bad"} is refused (close 4403). Schema: subscription { tick(from: Int) { seq ts sent } }.
// phoenix: a Phoenix Channels server written from the Phoenix documentation
//   (no Phoenix server can be installed here; phoenix_client.js drives it with
//   the official client to show it is faithful). /socket/websocket?vsn=2.0.0
//   (array messages) or vsn=1.0.0 (object messages); ?timeout=MS closes a
//   connection that sent nothing for MS (the heartbeat keeps it open, as with
//   Phoenix's transport timeout). Joins with payload {access_token: "bad"} are
//   refused with phx_reply status "error". After a join: a "system" push as
//   Supabase Realtime sends; publish pushes "postgres_changes" in Supabase's
//   shape {ids, data: {schema, table, type, record, commit_timestamp}} and a
//   "presence_state" on every joined topic.
'use strict';
const http = require('http');
const readline = require('readline');

const mode = process.argv[2];
const port = Number(process.argv[3] || 0);
const publishers = [];
let count = () => 0;

function nowISO() {
  return new Date().toISOString();
}

function startSocketIO(server) {
  const { Server } = require('socket.io');
  const io = new Server(server, { transports: ['websocket'], pingInterval: Number(process.env.SIO_PING_INTERVAL || 200),
    pingTimeout: Number(process.env.SIO_PING_TIMEOUT || 1000) });
  for (const nsp of [io.of('/'), io.of('/feed')]) {
    nsp.use((socket, next) => {
      if (socket.handshake.auth && socket.handshake.auth.token === 'bad') {
        next(new Error('unauthorized'));
        return;
      }
      next();
    });
  }
  // "echo" answers its acknowledgement callback with its argument: a
  // request/ack round trip for programs' send and expect steps.
  for (const nsp of [io.of('/'), io.of('/feed')]) {
    nsp.on('connection', (socket) => {
      socket.on('echo', (arg, ack) => {
        if (typeof ack === 'function') ack(arg);
      });
    });
  }
  count = () => io.of('/').sockets.size + io.of('/feed').sockets.size;
  publishers.push((n) => {
    for (let i = 0; i < n; i++) {
      for (const nsp of [io.of('/'), io.of('/feed')]) {
        nsp.emit('tick', { seq: i, ts: nowISO() });
        nsp.emit('noise', {});
      }
    }
  });
}

function startGraphQL(server) {
  const { WebSocketServer } = require('ws');
  const { useServer } = require('graphql-ws/use/ws');
  const g = require('graphql');
  const subscribers = new Set();
  // An async iterator per subscription, fed by publish.
  function ticks() {
    const queue = [];
    let wake = null;
    let done = false;
    const push = (v) => {
      if (wake) {
        const w = wake;
        wake = null;
        w({ value: v, done: false });
      } else {
        queue.push(v);
      }
    };
    subscribers.add(push);
    return {
      [Symbol.asyncIterator]() { return this; },
      next() {
        if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => { wake = r; });
      },
      return() {
        done = true;
        subscribers.delete(push);
        if (wake) wake({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
  const Tick = new g.GraphQLObjectType({
    name: 'Tick',
    fields: { seq: { type: g.GraphQLInt }, ts: { type: g.GraphQLString }, sent: { type: g.GraphQLFloat } },
  });
  const schema = new g.GraphQLSchema({
    query: new g.GraphQLObjectType({ name: 'Query', fields: { hello: { type: g.GraphQLString, resolve: () => 'hi' } } }),
    subscription: new g.GraphQLObjectType({
      name: 'Subscription',
      fields: { tick: { type: Tick, args: { from: { type: g.GraphQLInt } }, subscribe: () => ticks(), resolve: (ev) => ev } },
    }),
  });
  count = () => subscribers.size;
  const wss = new WebSocketServer({ server, path: '/graphql' });
  useServer({
    schema,
    onConnect: (ctx) => !(ctx.connectionParams && ctx.connectionParams.token === 'bad'),
  }, wss);
  publishers.push((n) => {
    for (let i = 0; i < n; i++) {
      for (const push of subscribers) push({ seq: i, ts: nowISO(), sent: Date.now() });
    }
  });
}

function startPhoenix(server) {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ server, path: '/socket/websocket' });
  const clients = new Set();
  count = () => { let n = 0; for (const c of clients) n += c.joined.size; return n; };
  wss.on('connection', (ws, req) => {
    const q = new URL(req.url, 'http://x').searchParams;
    const vsn = q.get('vsn') || '1.0.0';
    if (vsn !== '1.0.0' && vsn !== '2.0.0') {
      ws.close(1008, 'unsupported vsn');
      return;
    }
    const v2 = vsn === '2.0.0';
    const encode = (joinRef, ref, topic, event, payload) => v2
      ? JSON.stringify([joinRef, ref, topic, event, payload])
      : JSON.stringify({ join_ref: joinRef, ref, topic, event, payload });
    const decode = (text) => {
      const m = JSON.parse(text);
      if (v2) {
        if (!Array.isArray(m) || m.length !== 5) throw new Error('not a v2 message');
        return { joinRef: m[0], ref: m[1], topic: m[2], event: m[3], payload: m[4] };
      }
      return { joinRef: m.join_ref === undefined ? null : m.join_ref, ref: m.ref, topic: m.topic, event: m.event, payload: m.payload };
    };
    const client = { ws, encode, joined: new Map() }; // topic -> join_ref
    clients.add(client);
    const timeout = Number(q.get('timeout') || 60000);
    let idle = setTimeout(() => ws.terminate(), timeout);
    ws.on('close', () => { clients.delete(client); clearTimeout(idle); });
    ws.on('message', (data) => {
      clearTimeout(idle);
      idle = setTimeout(() => ws.terminate(), timeout);
      let m;
      try {
        m = decode(data.toString());
      } catch (e) {
        ws.close(1003, 'bad message');
        return;
      }
      const reply = (status, response) => ws.send(encode(m.joinRef, m.ref, m.topic, 'phx_reply', { status, response }));
      if (m.topic === 'phoenix' && m.event === 'heartbeat') {
        reply('ok', {});
      } else if (m.event === 'phx_join') {
        if ((m.payload && m.payload.access_token === 'bad') || m.topic.startsWith('forbidden:')) {
          reply('error', { reason: 'unauthorized' });
          return;
        }
        client.joined.set(m.topic, m.joinRef);
        reply('ok', {});
        ws.send(encode(m.joinRef, null, m.topic, 'system',
          { status: 'ok', message: 'Subscribed to PostgreSQL', extension: 'postgres_changes', channel: m.topic }));
      } else if (m.event === 'phx_leave') {
        client.joined.delete(m.topic);
        reply('ok', {});
      } else if (client.joined.has(m.topic)) {
        reply('ok', {});
      } else {
        ws.send(encode(null, m.ref, m.topic, 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }));
      }
    });
  });
  publishers.push((n) => {
    for (let i = 0; i < n; i++) {
      const d = new Date();
      // Supabase sends the commit time as Postgres prints it or as ISO 8601.
      const stamp = i % 2 ? d.toISOString().replace('T', ' ').replace('Z', '000+00') : d.toISOString();
      for (const c of clients) {
        for (const [topic, joinRef] of c.joined) {
          c.ws.send(c.encode(joinRef, null, topic, 'postgres_changes', {
            ids: [i],
            data: { schema: 'public', table: 'todos', type: 'INSERT', record: { id: i }, columns: [], errors: null, commit_timestamp: stamp },
          }));
          c.ws.send(c.encode(joinRef, null, topic, 'presence_state', {}));
        }
      }
    }
  });
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (req.method === 'POST' && u.pathname === '/publish') {
    for (const p of publishers) p(Number(u.searchParams.get('n') || 1));
    res.writeHead(200);
    res.end('ok');
  } else if (u.pathname === '/count') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(count()));
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.keepAliveTimeout = 1000;
switch (mode) {
  case 'socketio': startSocketIO(server); break;
  case 'graphql': startGraphQL(server); break;
  case 'phoenix': startPhoenix(server); break;
  default:
    console.error('usage: node server.js socketio|graphql|phoenix [port]');
    process.exit(2);
}
server.listen(port, '127.0.0.1', 65535, () => console.log('listening ' + server.address().port));
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === 'count') {
    console.log('count ' + count());
    return;
  }
  const m = /^publish (\d+)$/.exec(line.trim());
  if (!m) return;
  for (const p of publishers) p(Number(m[1]));
  console.log('published ' + m[1]);
});
// Benchmarks run the peer without a controlling stdin (PEER_KEEP_RUNNING=1).
if (!process.env.PEER_KEEP_RUNNING) rl.on('close', () => process.exit(0));
