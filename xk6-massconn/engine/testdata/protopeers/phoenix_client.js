// Drives the Phoenix test peer (server.js phoenix) with the official Phoenix
// JS client, to show the peer speaks Phoenix Channels as the client expects.
// Usage: node phoenix_client.js ws://HOST:PORT/socket VSN N
// Joins "realtime:public:todos" (must succeed) and "forbidden:x" (must be
// refused), keeps a 100 ms heartbeat running (the client drops a connection
// whose heartbeat goes unanswered), prints "ready", then exits 0 after
// printing "received N" once N postgres_changes pushes arrived. Any
// unexpected event prints a reason and exits 1.
'use strict';
const { Socket } = require('phoenix');
const WebSocket = require('ws');

const [endpoint, vsn, wantText] = process.argv.slice(2);
const want = Number(wantText);
const fail = (why) => { console.log('fail ' + why); process.exit(1); };

const opts = { transport: WebSocket, heartbeatIntervalMs: 100, vsn, reconnectAfterMs: () => 60000 };
if (vsn === '1.0.0') {
  // The object form Supabase's realtime-js sends.
  opts.encode = (msg, cb) => cb(JSON.stringify(msg));
  opts.decode = (raw, cb) => cb(JSON.parse(raw));
}
const socket = new Socket(endpoint, opts);
socket.onError((e) => fail('socket error ' + (e && e.message)));
socket.onClose(() => fail('socket closed'));
socket.connect();

let received = 0;
const ch = socket.channel('realtime:public:todos', { access_token: 'good' });
ch.on('postgres_changes', (p) => {
  if (!p.data || Number.isNaN(Date.parse(p.data.commit_timestamp.replace(' ', 'T').replace(/\+00$/, 'Z')))) {
    fail('bad payload ' + JSON.stringify(p));
  }
  received++;
  if (received === want) {
    console.log('received ' + received);
    process.exit(0);
  }
});
ch.join()
  .receive('ok', () => {
    const bad = socket.channel('forbidden:x', {});
    bad.join()
      .receive('ok', () => fail('forbidden join accepted'))
      .receive('error', (r) => {
        if (r.reason !== 'unauthorized') fail('unexpected refusal ' + JSON.stringify(r));
        bad.leave();
        // Several heartbeats must be answered before we say ready.
        setTimeout(() => console.log('ready'), 600);
      });
  })
  .receive('error', (r) => fail('join refused ' + JSON.stringify(r)))
  .receive('timeout', () => fail('join timeout'));
setTimeout(() => fail('timed out with ' + received + ' of ' + want), 30000);
