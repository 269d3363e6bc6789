'use strict';
// A keep-alive HTTP load generator on raw TCP sockets, for the instances scenario:
// `connections` clients, each sending GET / on its own connection as soon as the answer to
// the previous one is in (one request in flight per connection, no pipelining), so the
// generator itself costs little CPU beside the servers on a small machine. With `fresh`,
// each request goes on a new connection instead (`connection: close`).
//
// It expects answers with a Content-Length (bench/children/cluster-app.js: `<pid>
// <instance>\n`). An answer with `connection: close` ends its connection cleanly: the client
// connects again, nothing failed. Outcomes are counted per phase (`client.phase = 'x'`):
//   ok          answers, with their latency and the instance that gave each
//   refused     connection attempts refused (ECONNREFUSED); retried after 1 ms
//   failed      requests sent that got no answer: the connection was reset or closed
//               under them, or 10 s passed (by code in `codes`)
const net = require('net');

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
/** With `fresh`: one request per connection, as HTTP/1.0-style clients and most probes make. */
const REQUEST_CLOSE = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
const TIMEOUT_MS = 10000;

function newPhase() {
  return {
    ok: 0,
    refused: 0,
    failed: 0,
    codes: {},
    latencies: [],
    byInstance: {},
    startedAt: performance.now(),
    endedAt: null,
  };
}

/**
 * @param {{ port: number, host?: string, connections?: number, fresh?: boolean }} options
 *   `fresh`: each request on a new connection (`connection: close`)
 */
function loadClient({ port, host = '127.0.0.1', connections = 50, fresh = false }) {
  const request = fresh ? REQUEST_CLOSE : REQUEST;
  const phases = new Map();
  let phase = 'warmup';
  phases.set(phase, newPhase());
  let running = true;
  let open = 0;
  let onIdle = null;

  const stats = () => phases.get(phase);

  function connection() {
    if (!running) return;
    open += 1;
    const socket = net.connect({ port, host });
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let sentAt = null;
    let connected = false;
    let done = false;
    let timer = null;

    const finish = (again) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      socket.destroy();
      open -= 1;
      if (again && running) setImmediate(connection);
      else if (open === 0 && onIdle) onIdle();
    };
    const send = () => {
      sentAt = performance.now();
      socket.write(request);
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        fail('ETIMEDOUT');
      }, TIMEOUT_MS);
    };
    const fail = (code) => {
      if (done) return;
      const s = stats();
      if (sentAt !== null) {
        s.failed += 1;
        s.codes[code] = (s.codes[code] || 0) + 1;
      } else if (code === 'ECONNREFUSED') {
        s.refused += 1;
      } else if (!connected) {
        s.codes[`connect ${code}`] = (s.codes[`connect ${code}`] || 0) + 1;
      }
      if (code === 'ECONNREFUSED') {
        done = true;
        open -= 1;
        socket.destroy();
        if (running) setTimeout(connection, 1);
        else if (open === 0 && onIdle) onIdle();
        return;
      }
      finish(true);
    };

    socket.on('connect', () => {
      connected = true;
      if (running) send();
      else finish(false);
    });
    socket.on('data', (chunk) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.toString('latin1', 0, end);
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const length = m ? Number(m[1]) : 0;
        if (buffer.length < end + 4 + length) return;
        const body = buffer.toString('latin1', end + 4, end + 4 + length);
        buffer = buffer.subarray(end + 4 + length);
        const s = stats();
        if (sentAt !== null) {
          s.ok += 1;
          s.latencies.push(performance.now() - sentAt);
          const instance = body.trim().split(' ')[1];
          s.byInstance[instance] = (s.byInstance[instance] || 0) + 1;
        }
        sentAt = null;
        if (timer) clearTimeout(timer);
        timer = null;
        if (/\r\nconnection: *close/i.test(head)) {
          finish(true);
          return;
        }
        if (!running) {
          finish(false);
          return;
        }
        send();
      }
    });
    socket.on('error', (err) => fail(err.code || err.message));
    socket.on('close', () => fail('EOF'));
  }

  for (let i = 0; i < connections; i++) connection();

  return {
    /** Starts counting into a new phase named `name`. */
    set phase(name) {
      const old = phases.get(phase);
      old.endedAt = performance.now();
      phase = name;
      phases.set(name, newPhase());
    },
    get phase() {
      return phase;
    },
    phases,
    /** Stops sending: resolves once every connection has its last answer (or failure). */
    stop() {
      running = false;
      phases.get(phase).endedAt = performance.now();
      return new Promise((resolve) => {
        if (open === 0) return resolve(phases);
        onIdle = () => resolve(phases);
      });
    },
  };
}

/** The p-th percentile of `values` (0-100), or null. */
function percentile(values, p) {
  if (values.length === 0) return null;
  const v = Float64Array.from(values).sort();
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

/** A phase's figures: rate, latency percentiles, failures, balance across instances. */
function summarize(s, instances) {
  const seconds = ((s.endedAt === null ? performance.now() : s.endedAt) - s.startedAt) / 1000;
  const counts = Array.from({ length: instances }, (_, i) => s.byInstance[String(i)] || 0);
  const mean = counts.reduce((a, b) => a + b, 0) / instances;
  const balance = mean > 0 ? Math.max(...counts.map((n) => Math.abs(n - mean) / mean)) * 100 : null;
  return {
    seconds,
    requests: s.ok,
    perSec: s.ok / seconds,
    p50Ms: percentile(s.latencies, 50),
    p99Ms: percentile(s.latencies, 99),
    maxMs: s.latencies.length ? s.latencies.reduce((a, b) => (b > a ? b : a), 0) : null,
    refused: s.refused,
    failed: s.failed,
    codes: s.codes,
    perInstance: counts,
    /** The largest deviation of one instance's share from the mean, in percent. */
    imbalancePct: balance,
  };
}

module.exports = { loadClient, summarize, percentile };
