'use strict';
// Scenario 2 — restart gap with an idle host, and the crash-loop rate.
//
// --case rate  1,000 restarts (100 with --quick) of `sh -c 'exit 1'` with minUptime: 0.
//              Figures: restarts/s, and the host's fds, RSS (after a GC) and zombie
//              children before, after, and after a second batch of as many restarts
//              (growth in the second batch is growth per restart; growth in the first
//              may be one-time: allocator arenas, JIT). A 10-restart warm-up monitor runs
//              first, so the core's runtime start-up is not counted at all.
//              --impl limit: a shell loop spawning the same child as many times.
// --case gap   100 restarts (20 with --quick) of a bash child that stamps its start and,
//              just before exiting, its exit. Figure: median exit-to-next-start gap.
//              --impl limit: a bash loop running the same child as many times.
// --case delay 20 restarts (5 with --quick) of the same child, each asked to wait 200 ms:
//              forever-native's restartDelay; forever-monitor has no such option, so its
//              spin sleep (minUptime: 60000, spinSleepTime: 200). Figure: the gap less
//              200 ms (the delay's error), median and worst. No limit column.
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const c = require('../lib/common');

const GAP_CHILD = `${c.stamp('S')}; ${c.stamp('E')}; exit 1`;
const DELAY_MS = 200;

/** Runs `argv` under a monitor for `runs` runs; resolves with the wall time in ms. */
async function supervise(Monitor, argv, runs, env, extra = {}) {
  const m = new Monitor(argv, { max: runs, minUptime: 0, silent: true, env, ...extra });
  let exits = 0;
  m.on('exit:code', () => exits++);
  m.on('error', (err) => {
    throw err;
  });
  const done = c.next(m, 'exit', 120000, `'exit' after ${runs} runs`);
  const t0 = c.now();
  m.start();
  await done;
  const ms = c.now() - t0;
  if (exits !== runs) throw new Error(`expected ${runs} 'exit:code' events before 'exit', got ${exits}`);
  if (m.times !== runs) throw new Error(`expected times === ${runs}, got ${m.times}`);
  return ms;
}

c.runWorker('crash-loop', async ({ impl, quick, case: kase }) => {
  if (kase === 'rate') {
    const restarts = quick ? 100 : 1000;
    if (impl === 'limit') {
      const t0 = c.now();
      execFileSync('sh', ['-c', `i=0; while [ $i -lt ${restarts} ]; do sh -c "exit 1"; i=$((i+1)); done`], {
        stdio: 'ignore',
        timeout: 60000,
      });
      const ms = c.now() - t0;
      return { restarts, ms, restartsPerSec: restarts / (ms / 1000) };
    }
    const { Monitor } = c.loadImpl(impl);
    await supervise(Monitor, ['sh', '-c', 'exit 1'], 11); // warm-up
    await c.sleep(100);
    const before = c.hostResources();
    const ms = await supervise(Monitor, ['sh', '-c', 'exit 1'], restarts + 1);
    await c.sleep(100);
    const after = c.hostResources();
    // A second batch tells one-time growth (allocator arenas, JIT) from growth per restart.
    const ms2 = await supervise(Monitor, ['sh', '-c', 'exit 1'], restarts + 1);
    await c.sleep(100);
    const after2 = c.hostResources();
    return {
      restarts,
      ms,
      restartsPerSec: restarts / (ms / 1000),
      secondBatchPerSec: restarts / (ms2 / 1000),
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      fdsAfter2: after2.fds,
      rssBeforeMB: before.rssMB,
      rssAfterMB: after.rssMB,
      rssAfter2MB: after2.rssMB,
      zombiesBefore: before.zombies,
      zombiesAfter: after.zombies,
      zombiesAfter2: after2.zombies,
    };
  }

  if (kase === 'gap') {
    const restarts = quick ? 20 : 100;
    const dir = c.tmpDir('gap');
    const stamps = path.join(dir, 'stamps');
    fs.writeFileSync(stamps, '');
    try {
      if (impl === 'limit') {
        execFileSync('bash', ['-c', `for i in $(seq ${restarts + 1}); do bash -c "$CHILD"; done; exit 0`], {
          env: { ...process.env, CHILD: GAP_CHILD, STAMPS: stamps },
          stdio: 'ignore',
          timeout: 60000,
        });
      } else {
        const { Monitor } = c.loadImpl(impl);
        await supervise(Monitor, ['bash', '-c', GAP_CHILD], restarts + 1, { STAMPS: stamps });
      }
      const gaps = c.exitToStartGaps(c.readStamps(stamps));
      if (gaps.length !== restarts) throw new Error(`expected ${restarts} gaps, got ${gaps.length}`);
      return { restarts, gapMs: c.median(gaps), gapMaxMs: Math.max(...gaps) };
    } finally {
      c.rmrf(dir);
    }
  }

  if (kase === 'delay') {
    if (impl === 'limit') throw new Error('no limit for --case delay');
    const restarts = quick ? 5 : 20;
    const dir = c.tmpDir('delay');
    const stamps = path.join(dir, 'stamps');
    fs.writeFileSync(stamps, '');
    try {
      const { Monitor } = c.loadImpl(impl);
      const delay = impl === 'native' ? { restartDelay: DELAY_MS } : { minUptime: 60000, spinSleepTime: DELAY_MS };
      await supervise(Monitor, ['bash', '-c', GAP_CHILD], restarts + 1, { STAMPS: stamps }, delay);
      const errors = c.exitToStartGaps(c.readStamps(stamps)).map((gap) => gap - DELAY_MS);
      if (errors.length !== restarts) throw new Error(`expected ${restarts} gaps, got ${errors.length}`);
      if (Math.min(...errors) < -1) throw new Error(`a restart came ${-Math.min(...errors)} ms early`);
      return { restarts, errorMs: c.median(errors), errorMaxMs: Math.max(...errors) };
    } finally {
      c.rmrf(dir);
    }
  }

  throw new Error(`unknown --case ${kase} (rate | gap | delay)`);
});
