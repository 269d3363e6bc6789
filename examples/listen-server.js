'use strict';
/**
 * An HTTP server that is reloaded without refusing a connection: it serves the socket the
 * monitor holds (`listen`), says when it is ready, and drains on shutdown.
 *
 *   node bin/forever-native.js --listen http=127.0.0.1:8080 --fork --waitReady --reloadOnHup \
 *     examples/listen-server.js
 *   curl http://127.0.0.1:8080/        # "hello from pid …"
 *   kill -HUP <forever-native's pid>   # a new child starts, takes over when ready; the old one drains
 *
 * Without a monitor (`node examples/listen-server.js`) it listens on $PORT or 8080 itself.
 */

const http = require('http');
const net = require('net');
const child = require('../child'); // in a project: require('forever-native/child')

const server = http.createServer((req, res) => {
  res.end(`hello from pid ${process.pid}\n`);
});

const fd = child.listenFd('http');
const where = fd === null ? { port: Number(process.env.PORT || 8080), host: '127.0.0.1' } : { fd };
// The monitor's listenBacklog: a listen() sets the shared socket's backlog again.
server.listen(where, child.listenBacklog(), () => child.ready());

child.onShutdown(() => {
  // Stop accepting, and exit once the requests in hand are answered. net's close, not http's:
  // since Node 19 http's also closes idle connections, and one accepted an instant ago, whose
  // request is still on its way, looks idle.
  // Keep-alive connections end after their next answer, or keepAliveTimeout (5 s).
  net.Server.prototype.close.call(server, () => process.exit(0));
  // First in line: the server's own handler answers at once, and headers cannot change after.
  server.prependListener('request', (req, res) => res.setHeader('connection', 'close'));
});
