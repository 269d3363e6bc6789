// Stubborn children: ones that ignore the kill signal, leave grandchildren holding the
// output pipes, or escape the process tree altogether.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { Monitor } = require('../..');
const { fixture, next, record, isAlive, until } = require('../helpers');

/** Stops `m` after the test if it still runs, and SIGKILLs the pids `pids()` returns. */
function cleanup(t, m, pids = () => []) {
  t.after(async () => {
    if (m.running) {
      const stopped = next(m, 'stop', 5000).catch(() => {});
      m.stop();
      await stopped;
    }
    for (const pid of pids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
}

/** Resolves with the first `count` JSON lines `m` prints on stdout. */
function jsonLines(m, count) {
  return new Promise((resolve) => {
    const lines = [];
    let text = '';
    const onData = (chunk) => {
      text += chunk;
      let nl;
      while ((nl = text.indexOf('\n')) >= 0 && lines.length < count) {
        lines.push(JSON.parse(text.slice(0, nl)));
        text = text.slice(nl + 1);
      }
      if (lines.length === count) {
        m.removeListener('stdout', onData);
        resolve(lines);
      }
    };
    m.on('stdout', onData);
  });
}

/** Resolves with the pid of the `n`th "ready <pid>" line in `output()` (1-based). */
async function readyPid(output, n) {
  const pids = () => [...output().matchAll(/ready (\d+)/g)].map((match) => Number(match[1]));
  await until(() => pids().length >= n, 10000, `"ready" line ${n}`);
  return pids()[n - 1];
}

/** The state, process group and session of `pid`, from /proc/<pid>/stat. */
function procStat(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [state, ppid, pgid, sid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state, ppid: Number(ppid), pgid: Number(pgid), sid: Number(sid) };
}

test('a child ignoring SIGTERM (killSignal SIGTERM, killTTL 300) is SIGKILLed on stop() and restart()', async (t) => {
  const m = new Monitor(fixture('ignore-sigterm.js'), {
    silent: true,
    killSignal: 'SIGTERM',
    killTTL: 300,
  });
  const pids = [];
  cleanup(t, m, () => pids);
  let out = '';
  m.on('stdout', (chunk) => (out += chunk));
  const codes = record(m, 'exit:code');
  const errors = record(m, 'error');

  m.start();
  pids.push(await readyPid(() => out, 1));

  // restart(): SIGTERM is ignored, SIGKILL follows after killTTL, then the next child.
  const restarted = next(m, 'restart');
  m.restart();
  await restarted;
  pids.push(await readyPid(() => out, 2));
  assert.equal(isAlive(pids[0]), false, 'the first child is gone');
  assert.notEqual(pids[1], pids[0]);
  assert.deepEqual(codes, [[null, 'SIGKILL']]);

  // stop(): the same escalation, and no restart.
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.deepEqual(codes, [
    [null, 'SIGKILL'],
    [null, 'SIGKILL'],
  ]);
  assert.equal(isAlive(pids[1]), false, 'the second child is gone');
  assert.equal(m.running, false);
  // Each child's output (after its "ready" line) shows it got, and ignored, SIGTERM first.
  const [, first, second] = out.split(/ready \d+\n/);
  assert.match(first, /got SIGTERM/);
  assert.match(second, /got SIGTERM/);
  assert.deepEqual(errors, []);
});

test('stop() sends killSignal once: a child taking a second SIGTERM as "force" shuts down gracefully', async (t) => {
  const m = new Monitor(fixture('graceful-shutdown.js'), {
    silent: true,
    killSignal: 'SIGTERM',
    killTTL: 5000,
  });
  const pids = [];
  cleanup(t, m, () => pids);
  let out = '';
  m.on('stdout', (chunk) => (out += chunk));
  const codes = record(m, 'exit:code');
  // One stop() may well deliver both signals before the child runs its handler (they then
  // merge into one); ten make a second, separate delivery all but certain on 2 cores.
  for (let round = 1; round <= 10; round++) {
    m.start();
    pids.push(await readyPid(() => out, round));
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  }
  const forced = codes.filter(([code]) => code !== 0).length;
  assert.deepEqual(
    codes,
    Array(10).fill([0, null]),
    `${forced} of 10 stops forced the child out (exit 130: a second SIGTERM)`,
  );
});

test('a crashing child whose stubborn grandchildren hold its output pipes: exit:code, restart and exit still come', async (t) => {
  const m = new Monitor(fixture('crash-with-stubborn-grandchildren.js'), {
    silent: true,
    max: 2,
    args: ['2', '3'],
  });
  let trees = [];
  cleanup(t, m, () => trees.flatMap((tree) => [tree.pid, ...tree.grandchildren]));
  const codes = record(m, 'exit:code');
  const restarts = record(m, 'restart');
  const errors = record(m, 'error');
  const printed = jsonLines(m, 2).then((lines) => (trees = lines));
  const exited = next(m, 'exit', 20000);

  m.start();
  const [, spinning] = await exited;
  await printed;
  assert.equal(spinning, false);
  assert.deepEqual(codes, [
    [3, null],
    [3, null],
  ]);
  assert.equal(restarts.length, 1);
  assert.equal(m.running, false);
  assert.deepEqual(errors, []);
  assert.equal(trees.length, 2);
  // Each run's grandchildren were up and holding the pipes when their parent crashed.
  // A child that exits by itself takes what it left with it (killTree, as systemd's
  // KillMode=control-group): the grandchildren get killSignal (SIGKILL here) before the
  // next run starts, so none of them outlives its parent for long.
  const grandchildren = trees.flatMap((tree) => tree.grandchildren);
  assert.equal(grandchildren.length, 4);
  await until(
    () => grandchildren.every((pid) => !isAlive(pid)),
    5000,
    "the crashed children's grandchildren to die",
  );
});

test('a child that double-forks a daemon out of its group and session: stop() reaches the daemon by its tag', async (t) => {
  const m = new Monitor(fixture('spawn-daemon.js'), { silent: true });
  let tree = null;
  cleanup(t, m, () => (tree ? [tree.pid, tree.daemon, tree.setsidChild] : []));
  const errors = record(m, 'error');
  const printed = jsonLines(m, 1);
  m.start();
  [tree] = await printed;

  const child = procStat(tree.pid);
  const daemon = procStat(tree.daemon);
  const setsidChild = procStat(tree.setsidChild);
  // The daemon left everything: not our child's child any more, another group and session.
  assert.notEqual(daemon.ppid, tree.pid);
  assert.notEqual(daemon.pgid, child.pgid);
  assert.notEqual(daemon.sid, child.sid);
  // The detached grandchild left the group and session too, but is still the child's child.
  assert.equal(setsidChild.ppid, tree.pid);
  assert.notEqual(setsidChild.pgid, child.pgid);

  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.equal(isAlive(tree.pid), false, 'the child is gone');
  // stop() kills the child's process group and every descendant it finds through /proc
  // parent links: the grandchild in its own session is still linked, so it goes too...
  await until(() => !isAlive(tree.setsidChild), 5000, 'the grandchild in its own session to die');
  // ...and the daemon, linked to nothing of ours any more (what the double fork is for),
  // still carries the tag the child was started with: what the child left is found by it
  // and killed once the child has exited.
  await until(() => !isAlive(tree.daemon), 5000, 'the double-forked daemon to die');
  assert.deepEqual(errors, []);
});
