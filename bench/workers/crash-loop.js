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
//
// --impl pm2 (bench/run.js --peers pm2): the same children under PM2, a daemon of the
// worker's own (see lib/pm2.js for its settings). PM2 has no `max`: the worker counts
// the app's 'exit' events on PM2's bus and deletes the app after the last one it needs.
// The rate's CPU is the daemon's; delay uses PM2's restart_delay: 200.
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const c = require('../lib/common');
const pm2lib = require('../lib/pm2');

const GAP_CHILD = `${c.stamp('S')}; ${c.stamp('E')}; exit 1`;
const DELAY_MS = 200;

/**
 * Runs `argv` under a monitor for `runs` runs; resolves with the wall time in ms and the
 * supervisor's CPU time over it (the host, all threads, and forever-native's guardian).
 */
async function supervise(impl, Monitor, argv, runs, env, extra = {}) {
  const m = new Monitor(argv, { max: runs, minUptime: 0, silent: true, env, ...extra });
  let exits = 0;
  m.on('exit:code', () => exits++);
  m.on('error', (err) => {
    throw err;
  });
  const done = c.next(m, 'exit', 120000, `'exit' after ${runs} runs`);
  const cpu0 = c.supervisorCpuMs(impl);
  const t0 = c.now();
  m.start();
  await done;
  const ms = c.now() - t0;
  const cpuMs = c.supervisorCpuMs(impl) - cpu0;
  if (exits !== runs)
    throw new Error(`expected ${runs} 'exit:code' events before 'exit', got ${exits}`);
  if (m.times !== runs) throw new Error(`expected times === ${runs}, got ${m.times}`);
  return { ms, cpuMs };
}

let batch = 0;
/**
 * The same under PM2: starts `argv` as a new app, waits for its `runs`-th 'exit' on the
 * bus, deletes it. Resolves { ms, cpuMs (the daemon's), clientCpuMs (this process's) }.
 */
async function supervisePm2(h, argv, runs, env, extra = {}) {
  const name = `bench-${++batch}`;
  const done = h.waitExits(name, runs);
  const cpu0 = h.daemonCpuMs();
  const own0 = c.ownCpuMs();
  const t0 = c.now();
  await h.start({ name, script: argv[0], args: argv.slice(1), env, ...extra });
  const t1 = await done;
  const cpuMs = h.daemonCpuMs() - cpu0;
  const clientCpuMs = c.ownCpuMs() - own0;
  await h.del(name);
  return { ms: t1 - t0, cpuMs, clientCpuMs };
}

c.runWorker('crash-loop', async ({ impl, quick, case: kase }) => {
  if (kase === 'rate') {
    const restarts = quick ? 100 : 1000;
    if (impl === 'limit') {
      const t0 = c.now();
      execFileSync(
        'sh',
        ['-c', `i=0; while [ $i -lt ${restarts} ]; do sh -c "exit 1"; i=$((i+1)); done`],
        {
          stdio: 'ignore',
          timeout: 60000,
        },
      );
      const ms = c.now() - t0;
      return { restarts, ms, restartsPerSec: restarts / (ms / 1000) };
    }
    if (impl === 'pm2') {
      return pm2lib.withPm2(c, async (h) => {
        await supervisePm2(h, ['sh', '-c', 'exit 1'], 11); // warm-up
        await c.sleep(100);
        const before = { fds: h.daemonFds(), rssMB: h.daemonRssMB() };
        const first = await supervisePm2(h, ['sh', '-c', 'exit 1'], restarts + 1);
        await c.sleep(100);
        const after = { fds: h.daemonFds(), rssMB: h.daemonRssMB() };
        const second = await supervisePm2(h, ['sh', '-c', 'exit 1'], restarts + 1);
        await c.sleep(100);
        const after2 = { fds: h.daemonFds(), rssMB: h.daemonRssMB() };
        return {
          restarts,
          ms: first.ms,
          restartsPerSec: restarts / (first.ms / 1000),
          secondBatchPerSec: restarts / (second.ms / 1000),
          cpuMs: first.cpuMs,
          cpuPerRestartUs: (first.cpuMs * 1000) / restarts,
          clientCpuMs: first.clientCpuMs,
          // The daemon's, read from /proc (no forced GC: it is another process).
          daemonFdsBefore: before.fds,
          daemonFdsAfter: after.fds,
          daemonFdsAfter2: after2.fds,
          daemonRssBeforeMB: before.rssMB,
          daemonRssAfterMB: after.rssMB,
          daemonRssAfter2MB: after2.rssMB,
          daemonBootMs: h.bootMs,
        };
      });
    }
    const { Monitor } = c.loadImpl(impl);
    await supervise(impl, Monitor, ['sh', '-c', 'exit 1'], 11); // warm-up
    await c.sleep(100);
    const before = c.hostResources();
    const first = await supervise(impl, Monitor, ['sh', '-c', 'exit 1'], restarts + 1);
    await c.sleep(100);
    const after = c.hostResources();
    // A second batch tells one-time growth (allocator arenas, JIT) from growth per restart.
    const second = await supervise(impl, Monitor, ['sh', '-c', 'exit 1'], restarts + 1);
    await c.sleep(100);
    const after2 = c.hostResources();
    return {
      restarts,
      ms: first.ms,
      restartsPerSec: restarts / (first.ms / 1000),
      secondBatchPerSec: restarts / (second.ms / 1000),
      cpuMs: first.cpuMs,
      cpuPerRestartUs: (first.cpuMs * 1000) / restarts,
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
        execFileSync(
          'bash',
          ['-c', `for i in $(seq ${restarts + 1}); do bash -c "$CHILD"; done; exit 0`],
          {
            env: { ...process.env, CHILD: GAP_CHILD, STAMPS: stamps },
            stdio: 'ignore',
            timeout: 60000,
          },
        );
      } else if (impl === 'pm2') {
        await pm2lib.withPm2(c, (h) =>
          supervisePm2(h, ['bash', '-c', GAP_CHILD], restarts + 1, { STAMPS: stamps }),
        );
      } else {
        const { Monitor } = c.loadImpl(impl);
        await supervise(impl, Monitor, ['bash', '-c', GAP_CHILD], restarts + 1, { STAMPS: stamps });
      }
      // PM2 may have started one more run before its app was deleted: the first gaps count.
      const gaps = c
        .exitToStartGaps(c.readStamps(stamps))
        .slice(0, impl === 'pm2' ? restarts : undefined);
      if (gaps.length !== restarts)
        throw new Error(`expected ${restarts} gaps, got ${gaps.length}`);
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
      if (impl === 'pm2') {
        await pm2lib.withPm2(c, (h) =>
          supervisePm2(
            h,
            ['bash', '-c', GAP_CHILD],
            restarts + 1,
            { STAMPS: stamps },
            { restart_delay: DELAY_MS },
          ),
        );
      } else {
        const { Monitor } = c.loadImpl(impl);
        const delay =
          impl === 'native'
            ? { restartDelay: DELAY_MS }
            : { minUptime: 60000, spinSleepTime: DELAY_MS };
        await supervise(
          impl,
          Monitor,
          ['bash', '-c', GAP_CHILD],
          restarts + 1,
          { STAMPS: stamps },
          delay,
        );
      }
      const errors = c
        .exitToStartGaps(c.readStamps(stamps))
        .slice(0, restarts)
        .map((gap) => gap - DELAY_MS);
      if (errors.length !== restarts)
        throw new Error(`expected ${restarts} gaps, got ${errors.length}`);
      if (Math.min(...errors) < -1)
        throw new Error(`a restart came ${-Math.min(...errors)} ms early`);
      return { restarts, errorMs: c.median(errors), errorMaxMs: Math.max(...errors) };
    } finally {
      c.rmrf(dir);
    }
  }

  throw new Error(`unknown --case ${kase} (rate | gap | delay)`);
});
