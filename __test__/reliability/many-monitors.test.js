// Many monitors: hundreds of supervised children started and stopped together.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { Monitor } = require('../..');
const { next, isAlive, until } = require('../helpers');

const COUNT = 200;
const ROUNDS = 3;

const fdCount = () => fs.readdirSync('/proc/self/fd').length;

test(`many monitors: ${COUNT} idle children started and stopped concurrently, ${ROUNDS} rounds`, async (t) => {
  const all = [];
  const pids = new Set();
  const errors = [];
  const monitor = () => {
    const m = new Monitor(['sleep', '1000'], { silent: true });
    m.on('error', (err) => errors.push(err));
    all.push(m);
    return m;
  };
  t.after(async () => {
    // Whatever failed: no monitor left running, no child left alive.
    await Promise.all(
      all
        .filter((m) => m.running)
        .map((m) => {
          const stopped = next(m, 'stop', 5000).catch(() => {});
          m.stop();
          return stopped;
        }),
    );
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  // Warm-up: the core's runtime and guardian hold a few fds for the host's lifetime.
  const warm = monitor();
  warm.start();
  await next(warm, 'start');
  const warmStopped = next(warm, 'stop');
  warm.stop();
  await warmStopped;
  const baseline = fdCount();

  for (let round = 1; round <= ROUNDS; round++) {
    const monitors = Array.from({ length: COUNT }, monitor);
    const started = Promise.all(monitors.map((m) => next(m, 'start', 30000)));
    const stopped = Promise.all(monitors.map((m) => next(m, 'stop', 30000)));
    // Round 2 stops each monitor in the same tick as it starts it, before its 'start' event.
    const stopAtOnce = round === 2;
    for (const m of monitors) {
      m.start();
      if (stopAtOnce) m.stop();
    }
    const roundPids = monitors.map((m) => m.child.pid);
    roundPids.forEach((pid) => pids.add(pid));
    assert.equal(new Set(roundPids).size, COUNT, `round ${round}: every child has its own pid`);
    await started;
    if (!stopAtOnce) {
      assert.ok(roundPids.every(isAlive), `round ${round}: every child is up`);
      for (const m of monitors) m.stop();
    }
    await stopped;

    assert.deepEqual(
      monitors.filter((m) => m.running).map((m) => m.child.pid),
      [],
      `round ${round}: every monitor ends not running`,
    );
    // 'stop' comes after the child has been reaped, so none may be alive now.
    assert.deepEqual(roundPids.filter(isAlive), [], `round ${round}: no child survives`);
    await until(
      () => fdCount() <= baseline,
      5000,
      `round ${round}: the fd count back to its baseline ${baseline} (now ${fdCount()})`,
    );
  }
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
});
