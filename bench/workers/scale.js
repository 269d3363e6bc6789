'use strict';
// Scenario 8 — scaling: N crash-looping monitors in one host process.
//
// --case m<N>  N monitors (1, 10, 100, 1000) in one host process (scale-host.js), each
//              of `sh -c 'echo >> $FOREVER_BENCH_COUNT; exit 1'` with minUptime: 0 and
//              no max, all started at once. After every monitor has started and a
//              warm-up, the restarts of all monitors (bytes the children appended to the
//              count file) are counted over a fixed window (3 s, 1 s with --quick), and
//              so is the host's CPU time (/proc: all its threads; for forever-native also
//              its guardian process). Then the host is told to stop every monitor.
//
// Figures: restarts/s (all monitors together), the host's CPU as a share of one core, and
// CPU per restart; for information the host's open descriptors at the end of the window.
//
// Everything is measured from this process, outside the host: forever-monitor with a few
// crash-looping monitors keeps its event loop so busy with child exits that timers (and
// messages from other threads) are not served for seconds — measured: none for 5 s with
// 5 monitors — and meanwhile it leaks the pipes of exited children, whose close never
// gets its turn, each spawn getting slower as its descriptor table grows. A timer inside
// that host would end the window late or never.
//
// Every phase is bounded: starting all N may take at most START_CAP_MS — past that the
// window is measured with the monitors that did start (`startedAll: false`, `started`),
// which the table shows as capped — and stopping at most STOP_CAP_MS (half with
// --quick), after which the host's process group is killed (`stopKilled`), an outcome
// reported, not a failure. A host that dies before the window has been measured fails
// the run.
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const c = require('../lib/common');

const WARMUP_MS = 500;
const START_CAP_MS = 10000;
const STOP_CAP_MS = 3000; // 1.5 s with --quick

c.runWorker('scale', async ({ impl, quick, case: kase }) => {
  const match = /^m(\d+)$/.exec(kase);
  if (!match) throw new Error(`unknown --case ${kase} (m<N>)`);
  if (!c.isMonitorImpl(impl))
    throw new Error(`--impl must be native or forever-monitor, not ${impl}`);
  const n = Number(match[1]);
  const window = quick ? 1000 : 3000;
  const dir = c.tmpDir('scale');
  const count = path.join(dir, 'count');
  fs.writeFileSync(count, '');
  const size = () => fs.statSync(count).size;

  const host = spawn(process.execPath, [path.join(__dirname, 'scale-host.js'), impl, String(n)], {
    detached: true, // its own group, so that a host that will not stop can be killed whole
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, FOREVER_BENCH_COUNT: count },
  });
  let stderr = '';
  let started = 0;
  let exit = null;
  host.stderr.on('data', (d) => (stderr += d));
  host.stdio[3].on('data', (d) => (started += d.length));
  const exited = new Promise((resolve) =>
    host.on('close', (code, signal) => resolve((exit = { code, signal }))),
  );
  const dead = () => {
    if (exit)
      throw new Error(
        `the ${impl} host exited early (code ${exit.code}, signal ${exit.signal}); stderr:\n${stderr.slice(-2000)}`,
      );
  };

  try {
    const t0 = c.now();
    while (started < n && c.now() - t0 < START_CAP_MS) {
      dead();
      await c.sleep(5);
    }
    const startAllMs = c.now() - t0;
    const startedAtWindow = started;
    await c.sleep(WARMUP_MS);
    dead();

    const cpu0 = c.supervisorCpuMs(impl, host.pid);
    const r0 = size();
    const w0 = c.now();
    await c.sleep(window);
    const r1 = size();
    const w1 = c.now();
    const cpu1 = c.supervisorCpuMs(impl, host.pid);
    let fdsAtEnd = null;
    try {
      fdsAtEnd = c.fdCount(host.pid);
    } catch {}
    dead();
    if (cpu0 === null || cpu1 === null) throw new Error('could not read the host CPU time');

    // Stop: ask, then, past the cap, kill the host's group.
    const s0 = c.now();
    host.stdin.end('stop\n');
    let stopKilled = false;
    const stopCap = quick ? STOP_CAP_MS / 2 : STOP_CAP_MS;
    const capped = await Promise.race([
      exited.then(() => false),
      c.sleep(stopCap).then(() => true),
    ]);
    if (capped) {
      stopKilled = true;
      try {
        process.kill(-host.pid, 'SIGKILL');
      } catch {}
      await exited;
    }
    const stopAllMs = c.now() - s0;
    // Children of a killed forever-monitor host are orphans; each exits at once by itself.
    await c
      .until(
        () => !c.descendants().some((r) => r.state !== 'Z'),
        5000,
        "the host's children to go",
        20,
      )
      .catch(() => {});

    const restarts = r1 - r0;
    const windowMs = w1 - w0;
    const cpuMs = cpu1 - cpu0;
    if (restarts <= 0)
      throw new Error(
        `no restart in the ${window} ms window; host stderr:\n${stderr.slice(-2000)}`,
      );
    const hostCrash =
      !stopKilled && exit && exit.code !== 0
        ? (/Error[^\n]*/.exec(stderr) || [`exit code ${exit.code}`])[0]
        : undefined;
    return {
      n,
      windowMs,
      restarts,
      restartsPerSec: restarts / (windowMs / 1000),
      perMonitorPerSec: restarts / (windowMs / 1000) / n,
      cpuMs,
      cpuPct: (cpuMs / windowMs) * 100,
      cpuPerRestartUs: (cpuMs * 1000) / restarts,
      startAllMs,
      startedAll: startedAtWindow === n,
      started: startedAtWindow,
      fdsAtEnd,
      stopAllMs,
      stopKilled,
      stopCapMs: stopCap,
      ...(hostCrash ? { hostCrash } : {}),
    };
  } finally {
    if (!exit) {
      try {
        process.kill(-host.pid, 'SIGKILL');
      } catch {}
    }
    c.rmrf(dir);
  }
});
