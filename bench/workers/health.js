'use strict';
// Scenario — the cost of health sampling (forever-native only: forever-monitor has none).
//
// --case sampling  100 monitors (20 with --quick) of an idle child (`sleep`), each with
//                  maxMemory and the default memoryCheckInterval (1 s), so the core reads
//                  every child's tree once a second. Figure: the host's CPU (all its
//                  threads) over 10 s (1.5 s with --quick), in percent of one core, less the
//                  same monitors without maxMemory.
// --case usage     The same monitors without maxMemory, and JS calling usage() on each of
//                  them once a second. Figure: the host's CPU for it, as above, and the JS
//                  thread's time per usage() call.
const c = require('../lib/common');

async function startAll(Monitor, n, options) {
  const monitors = [];
  for (let i = 0; i < n; i++) {
    const m = new Monitor(['sleep', '1000'], { silent: true, ...options });
    const started = c.next(m, 'start', 30000);
    m.start();
    await started;
    monitors.push(m);
  }
  return monitors;
}

async function stopAll(monitors) {
  await Promise.all(
    monitors.map((m) => {
      const stopped = c.next(m, 'stop', 30000);
      m.stop();
      return stopped;
    }),
  );
}

/** Host CPU (user + system, all threads) in percent of one core over `ms`, while `tick` runs each second. */
async function hostCpu(ms, tick) {
  const before = process.cpuUsage();
  const t0 = c.now();
  const timer = tick ? setInterval(tick, 1000) : null;
  await c.sleep(ms);
  if (timer) clearInterval(timer);
  const used = process.cpuUsage(before);
  return ((used.user + used.system) / 1000 / (c.now() - t0)) * 100;
}

c.runWorker('health', async ({ impl, quick, case: kase }) => {
  if (impl !== 'native') throw new Error("health sampling is forever-native's only");
  const { Monitor } = c.loadImpl(impl);
  const n = quick ? 20 : 100;
  const ms = quick ? 1500 : 10000;
  // The same idle monitors, first without sampling.
  const plain = await startAll(Monitor, n, {});
  await c.sleep(500);
  const baseline = await hostCpu(ms);
  if (kase === 'usage') {
    let calls = 0;
    let jsMs = 0;
    const withCalls = await hostCpu(ms, () => {
      const t0 = c.now();
      for (const m of plain) m.usage();
      jsMs += c.now() - t0;
      calls += plain.length;
    });
    await stopAll(plain);
    return {
      monitors: n,
      baselineCpuPct: baseline,
      cpuPct: withCalls - baseline,
      usageCallUs: (jsMs * 1000) / calls,
    };
  }
  if (kase !== 'sampling') throw new Error(`unknown --case ${kase} (sampling | usage)`);
  await stopAll(plain);
  const sampled = await startAll(Monitor, n, { maxMemory: '1G' });
  await c.sleep(500);
  const withSampling = await hostCpu(ms);
  await stopAll(sampled);
  return { monitors: n, baselineCpuPct: baseline, cpuPct: withSampling - baseline };
});
