'use strict';
// Scenario 7 — stop(): from the call to 'stop' for a child with grandchildren.
//
// The child is `sh` with three `sleep 1000` grandchildren — two in its process group and
// one that left it with setsid — and prints their pids. With killTree (the default) and
// the default killSignal (SIGKILL), the worker calls stop() and times 'stop'. Figures:
// the median stop-to-'stop' time over 10 stops (2 with --quick), how many of the four
// processes were still alive when 'stop' fired, and how many survived at all (orphans,
// checked after up to 2 s and then killed by the worker).
//
// --impl limit: node spawns the same tree (detached, so it is a process group) and, knowing
// every pid, SIGKILLs the group and the setsid'd grandchild; time to the child's 'exit'.
const { spawn } = require('child_process');
const c = require('../lib/common');

const TREE =
  'sleep 1000 & a=$!; setsid sleep 1000 & b=$!; sleep 1000 & d=$!; echo "pids $a $b $d"; wait';

/** Resolves with the grandchildren's pids from the child's first line of output. */
function pidsFrom(emitter, event) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`no pids line; output so far ${JSON.stringify(text)}`)),
      10000,
    );
    const on = (chunk) => {
      text += chunk;
      const m = /pids (\d+) (\d+) (\d+)\n/.exec(text);
      if (!m) return;
      clearTimeout(timer);
      emitter.removeListener(event, on);
      resolve([Number(m[1]), Number(m[2]), Number(m[3])]);
    };
    emitter.on(event, on);
  });
}

/** Waits until every grandchild is running its own `sleep` (not a shell fork any more). */
async function settled(pids) {
  await c.until(
    () => pids.every((pid) => (c.procStat(pid) || {}).comm === 'sleep'),
    5000,
    'grandchildren to exec sleep',
  );
}

async function oneStop(impl, Monitor) {
  let childPid;
  let grandchildren;
  let stopMs;
  if (impl === 'limit') {
    const child = spawn('sh', ['-c', TREE], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    childPid = child.pid;
    grandchildren = await pidsFrom(child.stdout, 'data');
    await settled(grandchildren);
    const exited = c.next(child, 'exit', 10000);
    const t0 = c.now();
    process.kill(-child.pid, 'SIGKILL');
    process.kill(grandchildren[1], 'SIGKILL');
    await exited;
    stopMs = c.now() - t0;
  } else {
    const m = new Monitor(['sh', '-c', TREE], { silent: true, killTree: true });
    m.on('error', (err) => {
      throw err;
    });
    const pidsP = pidsFrom(m, 'stdout');
    m.start();
    grandchildren = await pidsP;
    childPid = m.child.pid;
    await settled(grandchildren);
    const stopped = c.next(m, 'stop', 20000);
    const t0 = c.now();
    m.stop();
    await stopped;
    stopMs = c.now() - t0;
  }
  const tree = [childPid, ...grandchildren];
  const aliveAtStop = tree.filter(c.isAlive).length;
  let survivors = 0;
  try {
    await c.until(() => tree.every((pid) => !c.isAlive(pid)), 2000, 'the tree to be gone');
  } catch {
    const left = tree.filter(c.isAlive);
    survivors = left.length;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  return { stopMs, aliveAtStop, survivors };
}

c.runWorker('stop', async ({ impl, quick }) => {
  const Monitor = impl === 'limit' ? null : c.loadImpl(impl).Monitor;
  const runs = [];
  const stops = quick ? 2 : 10;
  for (let i = 0; i < stops; i++) runs.push(await oneStop(impl, Monitor));
  return {
    stops,
    stopMs: c.median(runs.map((r) => r.stopMs)),
    aliveAtStop: runs.reduce((n, r) => n + r.aliveAtStop, 0),
    survivors: runs.reduce((n, r) => n + r.survivors, 0),
  };
});
