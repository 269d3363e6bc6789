'use strict';
// Scenario 4 — footprint and scale.
//
// --case require  in this fresh process: the time and RSS taken by require(impl), and
//                 (for information) by the first Monitor start — forever-native loads
//                 its addon and starts its runtime on first use, not in require().
// --case n<N>     N monitors (1, 10, 100, 500) of an idle child (`sleep 1000`, argv
//                 array, no shell). Figures: time until all N have emitted 'start', the
//                 host's RSS and fds per monitor (after - before, divided by N), and the
//                 time to stop them all.
//                 --impl node-spawn: N plain child_process.spawn() children (stdio pipes)
//                 as a reference for what the host pays for a child at all.
// --case start    start latency: 10 runs (2 with --quick), one at a time, of a bash child
//                 that stamps its start ($EPOCHREALTIME) and exits 0, after one warm-up
//                 run; the figure is the time from just before start() to the child's
//                 stamp, median and worst.
//
// --impl pm2 (bench/run.js --peers pm2; lib/pm2.js): require → require('pm2') and the
// daemon's start (connect()); n<N> → N apps in one PM2 daemon, RSS and fds are the
// daemon's (from /proc: no forced GC, it is another process), start = pm2.start() of all
// N until PM2 has launched them, stop = pm2.delete('all') until every child is gone;
// start → pm2.start() to the child's stamp (the client's call goes to the daemon).
const { performance } = require('perf_hooks');

function requireCost(impl) {
  // Measured before anything else is loaded; GC first so the RSS delta is require's own.
  if (global.gc) global.gc();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const mod = impl === 'native' ? require('../..') : require('forever-monitor');
  const ms = performance.now() - t0;
  const rss1 = process.memoryUsage().rss;
  return { mod, requireMs: ms, requireRssMB: (rss1 - rss0) / (1024 * 1024) };
}

const args = process.argv.slice(2);
const early =
  args[args.indexOf('--case') + 1] === 'require' && args[args.indexOf('--impl') + 1] !== 'pm2'
    ? requireCost(args[args.indexOf('--impl') + 1])
    : null;

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const c = require('../lib/common');
const pm2lib = require('../lib/pm2');

/** Start latency: just before start() to the child's own start stamp, per run (ms). */
async function startLatency(impl, runs) {
  const dir = c.tmpDir('start');
  const stamps = path.join(dir, 'stamps');
  const child = ['bash', '-c', `${c.stamp('S')}; exit 0`];
  const env = { STAMPS: stamps };
  const lat = [];
  try {
    const one = async (launch) => {
      fs.writeFileSync(stamps, '');
      const t0 = c.epochMicros();
      await launch();
      const s = c.readStamps(stamps).filter((x) => x.tag === 'S');
      if (s.length !== 1) throw new Error(`expected one start stamp, got ${s.length}`);
      return (s[0].us - t0) / 1000;
    };
    if (impl === 'pm2') {
      await pm2lib.withPm2(c, async (h) => {
        for (let i = 0; i <= runs; i++) {
          const name = `start-${i}`;
          const ms = await one(async () => {
            const exited = h.waitExits(name, 1, 30000);
            await h.start({
              name,
              script: child[0],
              args: child.slice(1),
              env,
              autorestart: false,
            });
            await exited;
          });
          await h.del(name);
          if (i > 0) lat.push(ms); // run 0 is the warm-up
        }
      });
    } else {
      const { Monitor } = c.loadImpl(impl);
      for (let i = 0; i <= runs; i++) {
        const ms = await one(async () => {
          const m = new Monitor(child, { max: 1, silent: true, env });
          m.on('error', (err) => {
            throw err;
          });
          const exited = c.next(m, 'exit', 30000);
          m.start();
          await exited;
        });
        if (i > 0) lat.push(ms);
      }
    }
  } finally {
    c.rmrf(dir);
  }
  return { runs, startMs: c.median(lat), startMaxMs: Math.max(...lat) };
}

/** N idle apps under PM2: the same figures as below, the daemon's resources. */
function pm2Idle(n) {
  return pm2lib.withPm2(c, async (h) => {
    await c.sleep(500); // the daemon's own start-up work (its first system metrics) settles
    const before = { rssMB: h.daemonRssMB(), fds: h.daemonFds() };
    const apps = [];
    for (let i = 0; i < n; i++) apps.push({ name: `idle-${i}`, script: 'sleep', args: ['1000'] });
    const t0 = c.now();
    await h.start(apps);
    const startAllMs = c.now() - t0;
    const pids = (await h.list()).map((p) => p.pid).filter(Boolean);
    const running = pids.filter(c.isAlive).length;
    if (running !== n) throw new Error(`expected ${n} running children, found ${running}`);
    const after = { rssMB: h.daemonRssMB(), fds: h.daemonFds() };
    const t1 = c.now();
    await h.del('all');
    await c.until(
      () => pids.every((pid) => !c.isAlive(pid)),
      20000,
      'every child to be gone after pm2 delete all',
      5,
    );
    const stopAllMs = c.now() - t1;
    return {
      n,
      startAllMs,
      stopAllMs,
      rssBeforeMB: before.rssMB,
      rssAfterMB: after.rssMB,
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      rssPerMonitorKB: ((after.rssMB - before.rssMB) * 1024) / n,
      fdsPerMonitor: (after.fds - before.fds) / n,
      daemonBootMs: h.bootMs,
    };
  });
}

c.runWorker('footprint', async ({ impl, quick, case: kase }) => {
  if (kase === 'start') return startLatency(impl, quick ? 2 : 10);
  if (kase === 'require' && impl === 'pm2') {
    return pm2lib.withPm2(c, async (h) => ({
      requireMs: h.requireMs,
      requireRssMB: h.requireRssMB,
      daemonBootMs: h.bootMs,
    }));
  }
  if (kase === 'require') {
    if (!early || !c.isMonitorImpl(impl))
      throw new Error(`--case require needs --impl native|forever-monitor`);
    const { Monitor } = early.mod;
    // First use: construct and start one monitor of a child that exits at once.
    const rss0 = c.rssMB();
    const t0 = c.now();
    const m = new Monitor(['true'], { max: 1, silent: true });
    const exited = c.next(m, 'exit', 10000);
    m.start();
    const firstStartMs = c.now() - t0;
    await exited;
    const firstUseRssMB = c.rssMB() - rss0;
    return {
      requireMs: early.requireMs,
      requireRssMB: early.requireRssMB,
      firstStartMs,
      firstUseRssMB,
    };
  }

  const match = /^n(\d+)$/.exec(kase);
  if (!match) throw new Error(`unknown --case ${kase} (require | n<N>)`);
  const n = Number(match[1]);
  if (impl === 'pm2') return pm2Idle(n);
  const before = c.hostResources();
  const pids = [];
  let startAllMs;
  let stopAll;

  if (impl === 'node-spawn') {
    const t0 = c.now();
    const children = [];
    for (let i = 0; i < n; i++) children.push(spawn('sleep', ['1000'], { stdio: 'pipe' }));
    await Promise.all(children.map((ch) => c.next(ch, 'spawn', 60000, `child ${ch.pid} to spawn`)));
    startAllMs = c.now() - t0;
    for (const ch of children) pids.push(ch.pid);
    stopAll = async () => {
      const exits = children.map((ch) => c.next(ch, 'exit', 60000));
      for (const ch of children) ch.kill('SIGKILL');
      await Promise.all(exits);
    };
  } else {
    const { Monitor } = c.loadImpl(impl);
    const monitors = [];
    for (let i = 0; i < n; i++) monitors.push(new Monitor(['sleep', '1000'], { silent: true }));
    const t0 = c.now();
    const started = monitors.map((m) =>
      c.next(m, 'start', 60000, `'start' of monitor ${pids.length}`),
    );
    for (const m of monitors) {
      m.on('error', (err) => {
        throw err;
      });
      m.start();
    }
    await Promise.all(started);
    startAllMs = c.now() - t0;
    for (const m of monitors) pids.push(m.child.pid);
    stopAll = async () => {
      const stops = monitors.map((m) => c.next(m, 'stop', 120000));
      for (const m of monitors) m.stop();
      await Promise.all(stops);
    };
  }

  const running = pids.filter(c.isAlive).length;
  if (running !== n) throw new Error(`expected ${n} running children, found ${running}`);
  const after = c.hostResources();
  const t1 = c.now();
  await stopAll();
  const stopAllMs = c.now() - t1;
  await c.until(
    () => pids.every((pid) => !c.isAlive(pid)),
    20000,
    'every child to be gone after stop',
  );
  return {
    n,
    startAllMs,
    stopAllMs,
    rssBeforeMB: before.rssMB,
    rssAfterMB: after.rssMB,
    fdsBefore: before.fds,
    fdsAfter: after.fds,
    rssPerMonitorKB: ((after.rssMB - before.rssMB) * 1024) / n,
    fdsPerMonitor: (after.fds - before.fds) / n,
  };
});
