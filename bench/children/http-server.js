'use strict';
// HTTP child for the listen scenario: serves the socket the monitor holds (LISTEN_FDS, as
// forever-native's `listen` gives it) or binds 127.0.0.1:$PORT itself, answers with its pid,
// says it is ready over IPC when it has one, and on SIGTERM stops accepting, answers what it
// has in hand and exits.
const http = require('http');
const net = require('net');

const server = http.createServer((req, res) => res.end(`${process.pid}\n`));
const sockets = new Set();
let draining = false;
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => {
    sockets.delete(socket);
    if (draining && sockets.size === 0) process.exit(0);
  });
});
const activated =
  Number(process.env.LISTEN_PID) === process.pid && Number(process.env.LISTEN_FDS) > 0;
const where = activated ? { fd: 3 } : { port: Number(process.env.PORT), host: '127.0.0.1' };
server.listen(where, () => {
  if (typeof process.send === 'function') process.send('ready');
});
process.on('SIGTERM', () => {
  draining = true;
  // net's close: http's would also close a connection whose request is still on its way.
  net.Server.prototype.close.call(server);
  if (sockets.size === 0) process.exit(0);
});
