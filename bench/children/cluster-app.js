'use strict';
// The HTTP app of the instances scenario, the same file under forever-native's Group and
// under PM2's cluster mode. It serves the socket forever-native holds (LISTEN_FDS, fd 3)
// or, under PM2, listens on $PORT (in a cluster worker that goes through PM2's primary).
// Every answer is `<pid> <instance>\n` (NODE_APP_INSTANCE, which both set), with a
// Content-Length, keep-alive.
//
// It writes its pid to $PID_DIR/instance-<instance>.pid once it serves, so the worker can
// crash a given instance without asking the supervisor. SIGUSR2 is a crash: exit(1) at
// once. SIGTERM (forever-native's killSignal) or SIGINT (PM2's): drain — stop accepting,
// answer what comes on the open connections with `connection: close` (each closes after
// its next answer), exit 0 once none is left.
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const instance = process.env.NODE_APP_INSTANCE || '0';
const body = `${process.pid} ${instance}\n`;
const length = String(Buffer.byteLength(body));
let draining = false;
const sockets = new Set();

const server = http.createServer((req, res) => {
  res.setHeader('content-length', length);
  if (draining) res.setHeader('connection', 'close');
  res.end(body);
});
server.keepAliveTimeout = 30000;
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    sockets.delete(socket);
    if (draining && sockets.size === 0) process.exit(0);
  });
});

function drain() {
  if (draining) return;
  draining = true;
  // net's close: stop accepting, leave the open connections alone (http's would also close
  // a connection whose request is on its way).
  net.Server.prototype.close.call(server);
  if (sockets.size === 0) process.exit(0);
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('SIGUSR2', () => process.exit(1));

const activated =
  Number(process.env.LISTEN_PID) === process.pid && Number(process.env.LISTEN_FDS) > 0;
const where = activated ? { fd: 3 } : { port: Number(process.env.PORT), host: '127.0.0.1' };
server.listen(where, () => {
  if (process.env.PID_DIR) {
    const file = path.join(process.env.PID_DIR, `instance-${instance}.pid`);
    fs.writeFileSync(`${file}.tmp${process.pid}`, String(process.pid));
    fs.renameSync(`${file}.tmp${process.pid}`, file);
  }
  if (typeof process.send === 'function') process.send('ready');
});
