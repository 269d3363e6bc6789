'use strict';
// Scenario — an HTTP service restarted under load: refused connections and failed requests
// per restart, and the latency the handoff adds.
//
// A client loop on loopback (4 requests at a time, each on a fresh connection) runs against
// bench/children/http-server.js while the worker restarts it 20 times (5 with --quick), one
// restart every 250 ms once the new child answers. Figures: refused requests (ECONNREFUSED:
// the client loop retries at once, so their number says more about its speed than the
// gap's) and the refusal window of each restart (first refused request to the end of the
// last one, median), other failures per restart (a connection reset: with its own socket,
// a child that closes it resets the connections still queued on it), the median latency
// before the first restart, and the 99th percentile and the worst latency while restarting.
//
//   --case restart --impl forever-monitor   restart(): the child binds the port itself, so
//                                           between the old child's close and the new one's
//                                           listen, connections are refused
//   --case restart --impl native            the same with forever-native, without `listen`
//   --case restart --impl native-listen     restart() with `listen`: the core holds the socket,
//                                           connections wait in its queue during the gap
//   --case reload  --impl native-listen     reload(): the new child starts beside the old one
//                                           (fork + waitReady), which drains once it is ready
const http = require('http');
const net = require('net');
const path = require('path');
const c = require('../lib/common');

const CHILD = path.join(c.CHILDREN, 'http-server.js');
const CONCURRENCY = 4;

/** One GET on a fresh connection: { ok, code, ms, pid }. */
function request(port) {
  return new Promise((resolve) => {
    const t0 = c.now();
    const done = (ok, code, pid) => resolve({ ok, code, pid, at: t0, ms: c.now() - t0 });
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        agent: false,
        headers: { connection: 'close' },
        timeout: 10000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          done(
            res.statusCode === 200,
            res.statusCode === 200 ? null : `HTTP ${res.statusCode}`,
            Number(body),
          ),
        );
        res.on('error', (err) => done(false, err.code || err.message, null));
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err) => done(false, err.code || err.message, null));
  });
}

/** A loopback port free right now (the child binds it itself). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function percentile(values, p) {
  const v = values.slice().sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

c.runWorker('listen', async ({ impl, case: kase, quick }) => {
  const valid = {
    restart: ['forever-monitor', 'native', 'native-listen'],
    reload: ['native-listen'],
  };
  if (!valid[kase] || !valid[kase].includes(impl)) {
    throw new Error(`--case ${kase} runs with --impl ${(valid[kase] || ['?']).join(' | ')}`);
  }
  const restarts = quick ? 5 : 20;
  const listen = impl === 'native-listen';
  const { Monitor } = c.loadImpl(listen ? 'native' : impl);
  const port = listen ? 0 : await freePort();
  const options = {
    silent: true,
    killSignal: 'SIGTERM',
    killTTL: 5000,
    env: { PORT: String(port) },
  };
  if (listen) Object.assign(options, { listen: '127.0.0.1:0', fork: true, waitReady: true });
  const m = new Monitor(CHILD, options);
  m.on('error', (err) => {
    throw err;
  });
  m.start();
  await c.next(m, listen ? 'ready' : 'start', 10000, 'the first child');
  const target = listen ? m.listenAddresses()[0].port : port;
  await c.until(async () => (await request(target)).ok, 10000, 'the first child to answer');

  // The client loop: outcomes by phase (baseline before the first restart, then restarting).
  const outcomes = [];
  /** The restart under way (-1: the baseline). */
  let phase = -1;
  let running = true;
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (running) outcomes.push({ phase, ...(await request(target)) });
  });
  await c.sleep(quick ? 500 : 1000);
  const t0 = c.now();
  for (let i = 0; i < restarts; i++) {
    phase = i;
    const before = m.child.pid;
    if (kase === 'reload') {
      await new Promise((resolve, reject) => {
        const on = (info) => {
          if (info.phase === 'done') {
            m.off('reload', on);
            resolve();
          } else if (info.phase === 'failed') reject(new Error(`reload failed: ${info.reason}`));
        };
        m.on('reload', on);
        m.reload();
      });
    } else {
      const restarted = c.next(m, 'restart', 10000, 'the restart');
      m.restart();
      await restarted;
    }
    // The restart is over once the new child answers.
    await c.until(
      async () => {
        const r = await request(target);
        return r.ok && r.pid !== before;
      },
      10000,
      'the new child to answer',
      5,
    );
    await c.sleep(250);
  }
  const restartingMs = c.now() - t0;
  running = false;
  await Promise.all(workers);
  m.stop();
  await c.next(m, 'exit', 10000, 'the stop');

  const during = outcomes.filter((o) => o.phase >= 0);
  const baseline = outcomes.filter((o) => o.phase < 0 && o.ok).map((o) => o.ms);
  const refused = during.filter((o) => o.code === 'ECONNREFUSED').length;
  const windows = Array.from({ length: restarts }, (_, i) => {
    const r = during.filter((o) => o.phase === i && o.code === 'ECONNREFUSED');
    return r.length === 0
      ? 0
      : Math.max(...r.map((o) => o.at + o.ms)) - Math.min(...r.map((o) => o.at));
  });
  const failed = during.filter((o) => !o.ok && o.code !== 'ECONNREFUSED').length;
  const answered = during.filter((o) => o.ok).map((o) => o.ms);
  return {
    restarts,
    requests: during.length,
    refusedPerRestart: refused / restarts,
    refusalWindowMs: c.median(windows),
    failedPerRestart: failed / restarts,
    refused,
    failed,
    baselineP50Ms: c.median(baseline),
    p99Ms: percentile(answered, 99),
    maxMs: answered.length ? Math.max(...answered) : null,
    restartingMs,
  };
});
