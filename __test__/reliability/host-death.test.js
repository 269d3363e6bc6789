// Host death: when the host is SIGKILLed, the guardian takes its children's process groups
// down with it; detached children are left alone, as Node's `detached` promises.
// (SIGKILL and process.exit() with one monitor are in host-safety.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { fixture, isAlive, until, runNode, processesWith } = require('../helpers');

/** All pids of a tree line printed by host-many-trees.js. */
const pidsOf = (tree) => [
  tree.pid,
  ...(tree.grandchildren || []),
  ...(tree.daemon ? [tree.daemon, tree.setsidChild] : []),
];

/**
 * Starts host-many-trees.js with `args`, SIGKILLs it as soon as it has printed its trees,
 * and resolves with {outcome, trees, deadBefore} (deadBefore: pids already gone when the host
 * was killed, which must be none). Every pid of every tree is SIGKILLed after the test.
 */
async function killHostOnceUp(t, args, kill = (host) => host.kill('SIGKILL')) {
  let trees = null;
  let deadBefore = null;
  t.after(() => {
    if (!trees) return;
    for (const pid of Object.values(trees).flat().flatMap(pidsOf)) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
  const outcome = await runNode([fixture('host-many-trees.js'), ...args], {
    onLine: (line, host) => {
      trees = JSON.parse(line);
      deadBefore = Object.values(trees)
        .flat()
        .flatMap(pidsOf)
        .filter((pid) => !isAlive(pid));
      kill(host);
    },
  });
  assert.deepEqual(deadBefore, [], 'every process was up when the host was killed');
  return { outcome, trees };
}

test('host SIGKILLed with 3 monitors, each with grandchildren: no process of any tree is left within 1.5 s', async (t) => {
  const { outcome, trees } = await killHostOnceUp(t, ['attached=3']);
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  assert.equal(trees.attached.length, 3);
  const pids = trees.attached.flatMap(pidsOf);
  assert.equal(pids.length, 9, 'three children with two grandchildren each');
  // The requirement is "gone within 1.5 s of the host's death", so that is the limit.
  await until(
    () => pids.every((pid) => !isAlive(pid)),
    1500,
    `every tree to die with the host (alive: ${pids.filter(isAlive)})`,
  );
});

test('host SIGKILLed: spawnWith.detached children (and their grandchildren) survive it', async (t) => {
  const { outcome, trees } = await killHostOnceUp(t, ['attached=1', 'detached=2']);
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  // The attached tree dying shows the guardian has acted (it kills every group it
  // tracks in one go, then exits)...
  const attached = trees.attached.flatMap(pidsOf);
  await until(
    () => attached.every((pid) => !isAlive(pid)),
    1500,
    'the attached tree to die with the host',
  );
  // ...and it never tracked the detached ones: they run on, as Node's detached children do.
  const detached = trees.detached.flatMap(pidsOf);
  assert.equal(detached.length, 6);
  assert.deepEqual(
    detached.filter((pid) => !isAlive(pid)),
    [],
    'every detached process is still alive',
  );
  for (const pid of detached) process.kill(pid, 'SIGKILL');
  await until(
    () => detached.every((pid) => !isAlive(pid)),
    5000,
    'the detached trees to be killed',
  );
});

test('host SIGKILLed: a grandchild that moved to its own session, still in the tree, dies with the host', async (t) => {
  const { outcome, trees } = await killHostOnceUp(t, ['attached=1', 'escaped=1']);
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  const [escaped] = trees.escaped;
  const attached = [...trees.attached.flatMap(pidsOf), escaped.pid];
  await until(
    () => attached.every((pid) => !isAlive(pid)),
    1500,
    'the supervised groups to die with the host',
  );
  // stop() kills this grandchild (stubborn-children.test.js): it is still the child's
  // child, found through /proc. A double-forked daemon (escaped.daemon) left the tree, so
  // it survives both; the cleanup kills it.
  await until(
    () => !isAlive(escaped.setsidChild),
    1500,
    `the grandchild in its own session (${escaped.setsidChild}) to die with the host`,
  );
});

/** The guardian of host `pid`: its name (comm) is forever-guard, its title names the host. */
const guardianOf = (pid) =>
  processesWith(`(host ${pid})`).filter((g) => {
    try {
      return fs.readFileSync(`/proc/${g}/comm`, 'utf8').trim() === 'forever-guard';
    } catch {
      return false;
    }
  });

/** The command line of `pid`, or '' once it is gone. */
function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

test('host and guardian SIGKILLed in the same instant: every child dies all the same (its parent-death signal)', async (t) => {
  let guardian = 0;
  const { outcome, trees } = await killHostOnceUp(t, ['attached=3'], async (host) => {
    await until(() => guardianOf(host.pid).length > 0, 5000, 'the guardian to take its name').catch(
      () => {},
    );
    [guardian] = guardianOf(host.pid);
    // Stopped first, the guardian cannot act on the host's death: as if both had been
    // killed at once.
    if (guardian) process.kill(guardian, 'SIGSTOP');
    host.kill('SIGKILL');
    if (guardian) process.kill(guardian, 'SIGKILL');
  });
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  assert.ok(guardian > 0, 'a guardian ran');
  const children = trees.attached.map((tree) => tree.pid);
  assert.equal(children.length, 3);
  await until(
    () => children.every((pid) => !isAlive(pid)),
    1500,
    `every child to die with the host (alive: ${children.filter(isAlive)})`,
  );
  // Their own children are beyond reach then: nothing of forever-native is left to find
  // them (the README says so). The cleanup after the test kills them.
});

test("pkill -9 -f forever-native (the command line's host): the guardian is not matched, and it takes every tree down, grandchildren included", async (t) => {
  const cli = path.join(__dirname, '..', '..', 'bin', 'forever-native.js');
  let tree = null;
  let matched = null;
  t.after(() => {
    for (const pid of tree ? [tree.pid, ...tree.grandchildren] : [])
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const outcome = await runNode([cli, fixture('spawn-grandchildren.js'), '2'], {
    onLine: async (line, host) => {
      if (!line.startsWith('{')) return;
      tree = JSON.parse(line);
      await until(
        () => guardianOf(host.pid).length > 0,
        5000,
        'the guardian to take its name',
      ).catch(() => {});
      // What pkill -f forever-native would match of this host and its guardian.
      matched = [host.pid, ...guardianOf(host.pid)].filter((pid) =>
        cmdline(pid).includes('forever-native'),
      );
      for (const pid of matched) process.kill(pid, 'SIGKILL');
      if (!matched.includes(host.pid)) host.kill('SIGKILL');
    },
  });
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  assert.deepEqual(matched, [outcome.child.pid], 'the pattern matches the host alone');
  const pids = [tree.pid, ...tree.grandchildren];
  assert.equal(pids.length, 3);
  await until(
    () => pids.every((pid) => !isAlive(pid)),
    1500,
    `the child and its children to die with the host (alive: ${pids.filter(isAlive)})`,
  );
});

test("a SIGKILL to the host's whole process group misses the guardian, which takes every tree down", async (t) => {
  // The host leads a process group of its own, as a shell's job would.
  const host = spawn(process.execPath, [fixture('host-many-trees.js'), 'attached=2'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let trees = null;
  t.after(() => {
    for (const pid of trees ? trees.attached.flatMap(pidsOf) : [])
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  let text = '';
  host.stdout.on('data', (chunk) => (text += chunk));
  const exited = new Promise((resolve) => host.on('exit', (code, signal) => resolve(signal)));
  await until(() => text.includes('\n'), 10000, 'the trees to be up');
  trees = JSON.parse(text.slice(0, text.indexOf('\n')));
  await until(() => guardianOf(host.pid).length > 0, 5000, 'the guardian to take its name');
  const [guardian] = guardianOf(host.pid);
  process.kill(-host.pid, 'SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(guardian > 0, 'a guardian ran');
  const pids = trees.attached.flatMap(pidsOf);
  assert.equal(pids.length, 6);
  await until(
    () => pids.every((pid) => !isAlive(pid)),
    1500,
    `every tree to die with the host's group (alive: ${pids.filter(isAlive)})`,
  );
});
