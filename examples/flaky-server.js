'use strict';
/**
 * A tiny HTTP server that crashes on purpose, to watch forever-native restart it, from the
 * checkout (the README's first command):
 *
 *   node bin/forever-native.js --max 5 examples/flaky-server.js
 *
 * It listens on 127.0.0.1 only, on $PORT (default: a free port the system picks), and
 * exits with code 1 after a random 1-4 seconds, or after $CRASH_AFTER requests when that
 * is set. SIGTERM (forever-native's graceful stop) closes it cleanly with code 0.
 */

const http = require('http');

const port = Number(process.env.PORT || 0);
const crashAfterRequests = Number(process.env.CRASH_AFTER || 0);
let requests = 0;

function crash(why) {
  process.stderr.write(`flaky-server ${process.pid}: crashing (${why})\n`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  requests += 1;
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from pid ${process.pid}, request ${requests}\n`);
  if (crashAfterRequests > 0 && requests >= crashAfterRequests) {
    res.on('finish', () => crash(`${requests} requests served`));
  }
});

server.listen(port, '127.0.0.1', () => {
  const { address, port: actual } = server.address();
  process.stdout.write(`flaky-server ${process.pid}: listening on http://${address}:${actual}/\n`);
  if (crashAfterRequests === 0) {
    const ms = 1000 + Math.floor(Math.random() * 3000);
    setTimeout(() => crash(`after ${ms} ms`), ms).unref();
  }
});

process.on('SIGTERM', () => {
  process.stdout.write(`flaky-server ${process.pid}: SIGTERM, closing\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
});
