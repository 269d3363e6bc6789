// Host death: when the host is SIGKILLed, the guardian takes its children's process groups
// down with it; detached children are left alone, as Node's `detached` promises.
// (SIGKILL and process.exit() with one monitor are in host-safety.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const { fixture, isAlive, until, runNode } = require('../helpers');

/** All pids of a tree line printed by host-many-trees.js. */
const pidsOf = (tree) => [tree.pid, ...(tree.grandchildren || []),
  ...(tree.daemon ? [tree.daemon, tree.setsidChild] : [])];

/**
 * Starts host-many-trees.js with `args`, SIGKILLs it as soon as it has printed its trees,
 * and resolves with {outcome, trees, deadBefore} (deadBefore: pids already gone when the host
 * was killed, which must be none). Every pid of every tree is SIGKILLed after the test.
 */
async function killHostOnceUp(t, args) {
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
      deadBefore = Object.values(trees).flat().flatMap(pidsOf).filter((pid) => !isAlive(pid));
      host.kill('SIGKILL');
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
  await until(() => pids.every((pid) => !isAlive(pid)), 1500,
    `every tree to die with the host (alive: ${pids.filter(isAlive)})`);
});

test('host SIGKILLed: spawnWith.detached children (and their grandchildren) survive it', async (t) => {
  const { outcome, trees } = await killHostOnceUp(t, ['attached=1', 'detached=2']);
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  // The attached tree dying shows the guardian has acted (it kills every group it
  // tracks in one go, then exits)...
  const attached = trees.attached.flatMap(pidsOf);
  await until(() => attached.every((pid) => !isAlive(pid)), 1500, 'the attached tree to die with the host');
  // ...and it never tracked the detached ones: they run on, as Node's detached children do.
  const detached = trees.detached.flatMap(pidsOf);
  assert.equal(detached.length, 6);
  assert.deepEqual(detached.filter((pid) => !isAlive(pid)), [], 'every detached process is still alive');
  for (const pid of detached) process.kill(pid, 'SIGKILL');
  await until(() => detached.every((pid) => !isAlive(pid)), 5000, 'the detached trees to be killed');
});

test('host SIGKILLed: a grandchild that moved to its own session, still in the tree, dies with the host', async (t) => {
  const { outcome, trees } = await killHostOnceUp(t, ['attached=1', 'escaped=1']);
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  const [escaped] = trees.escaped;
  const attached = [...trees.attached.flatMap(pidsOf), escaped.pid];
  await until(() => attached.every((pid) => !isAlive(pid)), 1500, 'the supervised groups to die with the host');
  // stop() kills this grandchild (stubborn-children.test.js): it is still the child's
  // child, found through /proc. A double-forked daemon (escaped.daemon) left the tree, so
  // it survives both; the cleanup kills it.
  await until(() => !isAlive(escaped.setsidChild), 1500,
    `the grandchild in its own session (${escaped.setsidChild}) to die with the host`);
});
