// What makes forever-native safer than forever-monitor: restarts that do not wait for JS,
// no orphans, and a host that neither hangs nor crashes.
const test = require('node:test');
const assert = require('node:assert/strict');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { Monitor } = require('..');
const { fixture, next, record, isAlive, until, runNode } = require('./helpers');

test('restarts-when-js-is-blocked: the core restarts a crashed child while the host JS is busy', async () => {
  const stamps = path.join(os.tmpdir(), `fn-stamps-${process.pid}-${Date.now()}`);
  const { code, stdout, stderr } = await runNode([fixture('host-blocked.js'), stamps]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout.trim());
  // The child crashes after 300 ms and the host is blocked for 3 s: every run (max 3)
  // happens while JS is blocked.
  assert.equal(report.startsWhileBlocked, 3);
  // JS hears about it afterwards, in order.
  assert.deepEqual(report.events, [
    'start',
    'exit:code',
    'restart',
    'exit:code',
    'restart',
    'exit:code',
    'exit',
  ]);
});

test('host-also-uses-child_process: both the monitor and libuv see their own children exit', async () => {
  const m = new Monitor(fixture('crash-after.js'), { silent: true, max: 5, args: ['20', '4'] });
  const codes = record(m, 'exit:code');
  const exited = next(m, 'exit');
  m.start();
  const theirs = [];
  for (let i = 0; i < 10; i++) {
    theirs.push(
      new Promise((resolve) => {
        spawn('sh', ['-c', 'sleep 0.05; exit 7']).on('exit', (c) => resolve(c));
      }),
    );
  }
  assert.deepEqual(await Promise.all(theirs), Array(10).fill(7));
  await exited;
  assert.deepEqual(codes, Array(5).fill([4, null]));
});

async function treeOf(m) {
  const [chunk] = await next(m, 'stdout');
  return JSON.parse(String(chunk).trim());
}

test('stop-kills-grandchildren: stop() takes the whole tree, even grandchildren ignoring SIGTERM', async () => {
  for (const killSignal of ['SIGKILL', 'SIGTERM']) {
    const m = new Monitor(fixture('spawn-grandchildren.js'), {
      silent: true,
      args: ['3'],
      killSignal,
    });
    m.start();
    const tree = await treeOf(m);
    assert.equal(tree.grandchildren.length, 3);
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
    await until(
      () => [tree.pid, ...tree.grandchildren].every((p) => !isAlive(p)),
      5000,
      `tree gone (${killSignal})`,
    );
  }
});

test('killTree: false signals the child alone', async () => {
  const m = new Monitor(fixture('spawn-grandchildren.js'), {
    silent: true,
    args: ['1'],
    killTree: false,
  });
  m.start();
  const tree = await treeOf(m);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.equal(isAlive(tree.pid), false);
  assert.equal(isAlive(tree.grandchildren[0]), true, 'the grandchild was left alone');
  process.kill(tree.grandchildren[0], 'SIGKILL');
});

async function superviseThen(mode, action) {
  const lines = [];
  let pids = null;
  const result = runNode([fixture('host-supervise.js'), mode], {
    onLine: (line, host) => {
      lines.push(line);
      if (!pids && line.startsWith('{')) {
        const tree = JSON.parse(line);
        pids = [tree.pid, ...tree.grandchildren];
        if (action) action(host);
      }
    },
  });
  const outcome = await result;
  return { outcome, pids, lines };
}

test('no survivors after the host is SIGKILLed', async () => {
  const { outcome, pids } = await superviseThen('wait', (host) => host.kill('SIGKILL'));
  assert.equal(outcome.signal, 'SIGKILL');
  assert.equal(pids.length, 3);
  await until(() => pids.every((p) => !isAlive(p)), 5000, 'the tree to die with its host');
});

test('no survivors after the host calls process.exit()', async () => {
  const { outcome, pids } = await superviseThen('exit');
  assert.equal(outcome.code, 0);
  await until(() => pids.every((p) => !isAlive(p)), 5000, 'the tree to die with its host');
});

test('a host that calls process.exit() in a stdout listener: what its listener saw is on its stdout too', async () => {
  const { spawn } = require('child_process');
  const host = spawn(process.execPath, [fixture('host-exit-output.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A slow reader: the host's writer is behind when the host exits.
  host.stdout.pause();
  setTimeout(() => host.stdout.resume(), 300);
  let received = 0;
  let stderr = '';
  host.stdout.on('data', (d) => (received += d.length));
  host.stderr.on('data', (d) => (stderr += d));
  const [code] = await new Promise((resolve) => host.on('close', (c, s) => resolve([c, s])));
  assert.equal(code, 0, stderr);
  const seen = Number(stderr.trim());
  assert.ok(seen > 2000000, stderr);
  assert.ok(
    received >= seen,
    `the host's stdout got ${received} bytes; its listener had seen ${seen}`,
  );
});

test('the host exits by itself once its monitor has stopped', async () => {
  const { outcome, pids } = await superviseThen('stop');
  assert.equal(outcome.code, 0);
  assert.match(outcome.stderr, /stopped/);
  assert.ok(pids.every((p) => !isAlive(p)));
});

test('a panic in the core becomes an error event; the child is killed and the monitor usable', async () => {
  // The panic is asked for through a hook that only builds with the test-hooks feature
  // have (npm test makes one under target/test-hooks); the shipped addon has none.
  const addon = path.join(
    __dirname,
    '..',
    'target',
    'test-hooks',
    'forever-native.linux-x64-gnu.node',
  );
  const { code, stdout, stderr } = await runNode([fixture('host-panic.js')], {
    env: { ...process.env, FOREVER_NATIVE_ADDON: addon },
  });
  assert.equal(code, 0, stderr);
  const seen = JSON.parse(stdout);
  assert.equal(seen.errors.length, 1, stdout);
  assert.equal(seen.errors[0].code, 'ERR_INTERNAL_PANIC');
  assert.match(seen.errors[0].message, /panic/);
  assert.equal(seen.exits, 1);
  assert.equal(seen.runningAfterExit, false);
  assert.equal(seen.childKilled, true, 'the orphaned child was killed while the host lived');
  assert.notEqual(seen.restartedPid, seen.pid);
});
