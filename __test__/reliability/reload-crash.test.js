// reload() at its worst moments, under a client loop on loopback: a child crashing while the
// other one starts or drains, a new child dying at boot, a stop in the middle. Whatever
// happens, no connection is refused (the core holds the sockets), and the only requests
// that fail are those in flight inside a child that crashed.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Monitor } = require('../..');
const { fixture, next, record, until, isAlive, stopAfter, lines } = require('../helpers');
const { clientLoop, crashReports } = require('../client-loop');

const SERVER = fixture('listen-server.js');
const ROUNDS = 5;

function monitor(t, options) {
  const m = new Monitor(SERVER, {
    silent: true,
    listen: '127.0.0.1:0',
    fork: true,
    waitReady: true,
    readyTimeout: 10000,
    killSignal: 'SIGTERM',
    killTTL: 5000,
    ...options,
  });
  return stopAfter(t, m);
}

function target(m) {
  const [first] = m.listenAddresses();
  return { host: first.address, port: first.port };
}

/** No refusal, and failures exactly the requests the crashed children had in flight. */
function assertOnlyCrashedRequestsFailed(results, out, crashes) {
  assert.deepEqual(
    results.filter((r) => r.code === 'ECONNREFUSED').map((r) => r.id),
    [],
    'refused',
  );
  const reports = crashReports(out);
  assert.equal(reports.length, crashes);
  const lost = reports.reduce((n, c) => n + c.lost, 0);
  const failed = results.filter((r) => !r.ok);
  assert.equal(
    failed.length,
    lost,
    `failed: ${JSON.stringify(failed)}; reports: ${JSON.stringify(reports)}`,
  );
  const ids = new Set(reports.flatMap((c) => c.ids));
  const unnamed = failed.filter((f) => !ids.has(f.id)).length;
  assert.ok(unnamed <= lost - ids.size, 'a failure not in flight in a crashed child');
  assert.ok(results.length >= 20, `only ${results.length} requests`);
}

test(
  `the old child crashes while the new one boots (${ROUNDS} times): the new one takes over at once`,
  { timeout: 30000 },
  async (t) => {
    // The new child boots for 300 ms before it listens: meanwhile only the old one accepts.
    const m = monitor(t, { env: { READY_DELAY: '300', DELAY: '5' } });
    const out = lines(m);
    const reloads = record(m, 'reload');
    await m.startAsync();
    const loop = clientLoop(target(m), { concurrency: 4, ms: 20000 });
    for (let i = 0; i < ROUNDS; i++) {
      const starting = next(m, 'reload');
      const done = m.reloadAsync();
      await starting;
      // The new child, now the child, says it is ready once it listens.
      const ready = next(m, 'ready');
      loop.send('/crash');
      await done;
      await ready;
    }
    const results = await loop.stop();
    assertOnlyCrashedRequestsFailed(results, out, ROUNDS);
    const phases = reloads.map(([r]) => r.phase);
    assert.deepEqual(
      phases,
      Array.from({ length: ROUNDS }, () => ['starting', 'done']).flat(),
      "no 'ready': the crash handed over",
    );
    assert.ok(reloads.filter(([r]) => r.phase === 'done').every(([r]) => r.code === 1));
    assert.equal(m.times, ROUNDS);
  },
);

test(
  `the new child crashes just after it took over, while the old one drains (${ROUNDS} times)`,
  { timeout: 30000 },
  async (t) => {
    // Requests take 100 ms: the old child drains that long after the handover.
    const m = monitor(t, { env: { DELAY: '100' } });
    const out = lines(m);
    const reloads = record(m, 'reload');
    await m.startAsync();
    const loop = clientLoop(target(m), { concurrency: 6, ms: 20000 });
    for (let i = 0; i < ROUNDS; i++) {
      const ready = new Promise((resolve) =>
        m.on('reload', function onReady(r) {
          if (r.phase !== 'ready') return;
          m.off('reload', onReady);
          resolve(r);
        }),
      );
      const done = m.reloadAsync();
      const { oldPid } = await ready;
      // Once the old child stopped accepting, the crash can only reach the new one.
      await until(
        () => out.includes(`draining ${oldPid}`),
        5000,
        'the old child to stop accepting',
      );
      const restarted = next(m, 'ready');
      loop.send('/crash');
      await Promise.all([done, restarted]);
    }
    const results = await loop.stop();
    assertOnlyCrashedRequestsFailed(results, out, ROUNDS);
    assert.equal(reloads.filter(([r]) => r.phase === 'done').length, ROUNDS);
  },
);

test(
  `a new child that dies at boot (${ROUNDS} times) fails its reload, and nothing else fails`,
  { timeout: 30000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-reload-fail-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const failFile = path.join(dir, 'fail');
    const m = monitor(t, { env: { FAIL_FILE: failFile, DELAY: '5' } });
    await m.startAsync();
    const serving = m.child.pid;
    fs.writeFileSync(failFile, 'exit');
    const loop = clientLoop(target(m), { concurrency: 4, ms: 20000 });
    for (let i = 0; i < ROUNDS; i++) {
      await assert.rejects(m.reloadAsync(), (err) => err.code === 'ERR_RELOAD_FAILED');
    }
    fs.unlinkSync(failFile);
    await m.reloadAsync();
    const results = await loop.stop();
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.code),
      [],
    );
    assert.ok(results.some((r) => r.pid === serving) && results.some((r) => r.pid === m.child.pid));
    assert.equal(m.times, 1);
  },
);

test(
  'a stop in the middle of a reload takes both children, and closes the sockets',
  { timeout: 20000 },
  async (t) => {
    const m = monitor(t, { env: { READY_DELAY: '2000' } });
    await m.startAsync();
    const old = m.child.pid;
    const starting = next(m, 'reload');
    const reloading = assert.rejects(
      m.reloadAsync(),
      (err) => err.code === 'ERR_SUPERVISION_ENDED' && err.reason === 'stopped',
    );
    const [{ newPid }] = await starting;
    await m.stopAsync();
    await reloading;
    await until(() => !isAlive(old) && !isAlive(newPid), 8000, 'both children to be gone');
    assert.deepEqual(m.listenAddresses(), []);
  },
);
