// `Group`: N instances of one app, each a full Monitor, sharing the `listen` sockets (one
// shared socket, or one SO_REUSEPORT socket each); scale(), a rolling reload(), the
// instance's environment, and the CLI's -i.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { once } = require('events');
const { spawn } = require('child_process');
const os = require('os');
const path = require('path');
const { Group, Monitor } = require('..');
const {
  fixture,
  next,
  record,
  until,
  runNode,
  freePort,
  tempDir,
  eachLine,
  has,
} = require('./helpers');
const { request, clientLoop, crashReports } = require('./client-loop');

const SERVER = fixture('listen-server.js');
const CLI = path.join(__dirname, '..', 'bin', 'forever-native.js');

/** A group stopped after the test, whatever happened. */
function group(t, script, options) {
  const g = new Group(script, {
    silent: true,
    killSignal: 'SIGTERM',
    killTTL: 5000,
    ...options,
  });
  t.after(async () => {
    await g.stopAsync().catch(() => {});
  });
  return g;
}

/** A group of listen-servers on 127.0.0.1:0, ready. */
async function servers(t, options) {
  const g = group(t, SERVER, {
    listen: '127.0.0.1:0',
    fork: true,
    waitReady: true,
    readyTimeout: 10000,
    ...options,
  });
  await g.startAsync();
  return g;
}

function target(g) {
  const [first] = g.listenAddresses();
  return { host: first.address, port: first.port };
}

/** Each instance's output, by index, line by line. */
function outputs(g) {
  /** @type {string[][]} */
  const seen = [];
  const partial = [];
  g.on('stdout', (i, data) => {
    partial[i] = (partial[i] || '') + data;
    let nl;
    while ((nl = partial[i].indexOf('\n')) >= 0) {
      (seen[i] = seen[i] || []).push(partial[i].slice(0, nl));
      partial[i] = partial[i].slice(nl + 1);
    }
  });
  return seen;
}

for (const reusePort of [false, true]) {
  test(`scale() up and down under a client loop refuses nothing${reusePort ? ' (listenReusePort)' : ', and fails nothing'}`, async (t) => {
    const g = await servers(t, { instances: 2, listenReusePort: reusePort });
    const scaled = record(g, 'scaled');
    const errors = record(g, 'error');
    assert.equal(g.size, 2);
    assert.ok(g.monitors.every((m) => m instanceof Monitor));
    const [a, b] = g.monitors.map((m) => m.listenAddresses()[0]);
    assert.equal(a.port, b.port, 'every instance serves the same port');
    const loop = clientLoop(target(g), { concurrency: 4, ms: 40000 });
    await until(() => loop.count >= 20, 10000, 'requests before scaling');
    for (const n of [4, 1, 3, 2]) {
      await g.scaleAsync(n);
      assert.equal(g.size, n);
      assert.equal(g.monitors.filter((m) => m.running).length, n);
      const before = loop.count;
      await until(() => loop.count >= before + 20, 10000, `requests after scaling to ${n}`);
    }
    const results = await loop.stop();
    const refused = results.filter((r) => r.code === 'ECONNREFUSED');
    assert.equal(refused.length, 0, 'no connection refused');
    const failed = results.filter((r) => !r.ok);
    // One shared socket: an instance that leaves drains, and what waits in the queue is the
    // others'. (A SO_REUSEPORT socket that closes resets what waits in its own queue at that
    // instant: the core lets go of its copy at once, so that is only what came since the
    // child's last accept; 0 or 1 of ~200 here, 6 to 11 when the core held it to the end.)
    if (!reusePort) assert.deepEqual(failed, [], `failed: ${JSON.stringify(failed.slice(0, 5))}`);
    const pids = new Set(results.filter((r) => r.ok).map((r) => r.pid));
    assert.ok(pids.size >= 4, `answers came from ${pids.size} children`);
    assert.deepEqual(
      scaled.map(([s]) => [s.from, s.to]),
      [
        [2, 4],
        [4, 1],
        [1, 3],
        [3, 2],
      ],
    );
    assert.deepEqual(errors, []);
    await g.stopAsync();
    assert.ok(g.monitors.every((m) => !m.running));
    // The socket closed with the last instance.
    const after = await request(target({ listenAddresses: () => [a] }), 0);
    assert.equal(after.code, 'ECONNREFUSED');
  });
}

test('an instance that crashes takes down only its own requests: the others serve on, nothing refused', async (t) => {
  const g = await servers(t, { instances: 2, env: { DELAY: '5' } });
  const out = outputs(g);
  const loop = clientLoop(target(g), { concurrency: 4, ms: 30000 });
  for (let i = 0; i < 6; i++) {
    const restarted = next(g, 'ready');
    loop.send('/crash');
    await restarted;
  }
  const before = loop.count;
  await until(() => loop.count >= before + 20, 10000, 'requests after the crashes');
  const results = await loop.stop();
  assert.equal(results.filter((r) => r.code === 'ECONNREFUSED').length, 0);
  const crashes = crashReports(out.flat());
  assert.equal(crashes.length, 6);
  const lost = crashes.reduce((n, c) => n + c.lost, 0);
  const failed = results.filter((r) => !r.ok);
  assert.equal(
    failed.length,
    lost,
    `failed ${failed.length}, in flight in crashed children ${lost}`,
  );
  assert.equal(
    g.monitors.reduce((n, m) => n + m.times, 0),
    6,
    'each crash restarted its own instance once',
  );
});

test("each instance's restart rules are its own: one gives up at max, the other runs on", async (t) => {
  const g = group(t, fixture('instance-crash.js'), {
    instances: 2,
    max: 3,
    env: { CRASH_INSTANCE: '1' },
  });
  const exits = record(g, 'exit');
  const restarting = record(g, 'restarting');
  const out = outputs(g);
  const gaveUp = new Promise((resolve) => g.on('exit', (i) => i === 1 && resolve(undefined)));
  g.start();
  await gaveUp;
  const [one, zero] = [g.monitors[1], g.monitors[0]];
  assert.equal(one.times, 3);
  assert.equal(one.running, false);
  assert.equal(zero.running, true);
  assert.equal(zero.times, 0);
  assert.deepEqual(
    exits.map(([i, , , info]) => [i, info.reason]),
    [[1, 'max']],
  );
  assert.ok(restarting.every(([i]) => i === 1) && restarting.length === 2);
  await until(() => (out[1] || []).length === 3, 5000, "instance 1's three runs");
  assert.equal((out[0] || []).length, 1);
  // The usage of each instance, and the sums.
  const u = g.usage();
  assert.equal(u.instances.length, 2);
  assert.equal(u.instances[1].pid, null);
  assert.equal(u.total.running, 1);
  assert.equal(u.total.restarts, 3);
});

test('the environment: FOREVER_INSTANCE and NODE_APP_INSTANCE (PM2) are the index, FOREVER_INSTANCES the count', async (t) => {
  const g = group(t, fixture('print-env.js'), {
    instances: 3,
    max: 1,
    env: { OWN: 'kept' },
  });
  const out = outputs(g);
  const ended = (n) =>
    until(() => g.monitors.slice(0, n).every((m) => m.times === 1 && !m.running), 10000);
  g.start();
  await ended(3);
  await until(() => [0, 1, 2].every((i) => (out[i] || []).length === 1), 5000, 'every env');
  for (const i of [0, 1, 2]) {
    const { env } = JSON.parse(out[i][0]);
    assert.equal(env.FOREVER_INSTANCE, String(i));
    assert.equal(env.NODE_APP_INSTANCE, String(i));
    assert.equal(env.FOREVER_INSTANCES, '3');
    assert.equal(env.OWN, 'kept');
    assert.equal(g.monitors[i].instance, i);
  }
  // A scale-up: the new instance, and the count for children started from now on.
  await g.scaleAsync(4);
  await ended(4);
  await until(() => (out[3] || []).length === 1, 5000, "instance 3's env");
  const { env } = JSON.parse(out[3][0]);
  assert.equal(env.FOREVER_INSTANCE, '3');
  assert.equal(env.FOREVER_INSTANCES, '4');
  assert.equal(g.monitors[0]._env.FOREVER_INSTANCES, '4');
});

test("instanceVar: PM2's instance_var names the index's variable instead of NODE_APP_INSTANCE", async (t) => {
  const g = group(t, fixture('print-env.js'), { instances: 2, max: 1, instanceVar: 'WORKER_ID' });
  const out = outputs(g);
  g.start();
  await until(() => [0, 1].every((i) => (out[i] || []).length === 1), 10000, 'every env');
  for (const i of [0, 1]) {
    const { env } = JSON.parse(out[i][0]);
    assert.equal(env.WORKER_ID, String(i));
    assert.equal(env.FOREVER_INSTANCE, String(i));
    assert.equal(env.NODE_APP_INSTANCE, undefined);
  }
});

/** Each instance's JSON lines (fixtures/cluster-app.js), by index. */
function jsonLines(g) {
  const out = outputs(g);
  return (/** @type {number} */ i) => (out[i] || []).map((line) => JSON.parse(line));
}

test("interceptListen: an app's own listen(PORT) in every instance serves the held port", async (t) => {
  const port = await freePort();
  const g = group(t, fixture('cluster-app.js'), {
    instances: 2,
    listen: `127.0.0.1:${port}`,
    interceptListen: true,
    env: { PORT: String(port), NODE_OPTIONS: '--no-deprecation' },
  });
  const seen = jsonLines(g);
  g.start();
  await until(() => [0, 1].every((i) => seen(i).length === 1), 10000, 'both listening');
  const pids = g.monitors.map((m) => m.child.pid);
  for (const i of [0, 1]) {
    // It listens on the held socket; the hook took itself out of NODE_OPTIONS, the
    // user's own words stay.
    assert.deepEqual(seen(i)[0], {
      listening: port,
      pid: pids[i],
      instance: String(i),
      nodeOptions: '--no-deprecation',
    });
  }
  const answers = [];
  for (let k = 0; k < 20; k++) answers.push(await request({ host: '127.0.0.1', port }, k));
  assert.deepEqual(
    answers.filter((a) => !a.ok),
    [],
  );
  assert.ok(
    answers.every((a) => pids.includes(a.pid)),
    `answered by ${answers.map((a) => a.pid)}, instances ${pids}`,
  );
  await g.stopAsync();
});

/**
 * One run of fixtures/cluster-app.js under a monitor with `options` on `port`: its JSON
 * lines once it has printed `lines` of them, and what it wrote on stderr; stopped after.
 */
async function clusterApp(t, port, options, env, lines = 1) {
  const m = new Monitor(fixture('cluster-app.js'), {
    silent: true,
    max: 1,
    env: { PORT: String(port), ...env },
    ...options,
  });
  // The apps whose listen failed exit by themselves (max 1 ends their supervision).
  const stop = () => m.stopAsync().catch(() => {});
  t.after(stop);
  /** @type {any[]} */
  const out = [];
  let err = '';
  eachLine(m, (line) => out.push(JSON.parse(line)), 'stdout');
  m.on('stderr', (d) => (err += d));
  m.start();
  await until(() => out.length >= lines, 10000, `${lines} line(s) of the app`);
  return {
    m,
    out,
    stop,
    get err() {
      return err;
    },
  };
}

test('interceptListen: a host the held socket is not bound to binds by itself (never a wider socket); each socket once; without it the app cannot bind', async (t) => {
  const port = await freePort();
  // Held on every interface; the app asks for 127.0.0.1 alone: not handed over, and said so.
  const narrow = await clusterApp(
    t,
    port,
    { listen: port, interceptListen: true },
    { HOST: '127.0.0.1' },
  );
  assert.equal(narrow.out[0].error, 'EADDRINUSE');
  await until(() => /FOREVER_NATIVE_LISTEN/.test(narrow.err), 5000, 'the warning');
  assert.match(narrow.err, new RegExp(`give the monitor's listen "127.0.0.1:${port}"`));
  await narrow.stop();
  // localhost: the advice is an address the listen option takes.
  const named = await clusterApp(
    t,
    port,
    { listen: port, interceptListen: true },
    { HOST: 'localhost' },
  );
  await until(() => /FOREVER_NATIVE_LISTEN/.test(named.err), 5000, 'the warning');
  assert.match(named.err, new RegExp(`give the monitor's listen "127.0.0.1:${port}"`));
  await named.stop();
  // Held on 127.0.0.1; the app asks for localhost: the same address, handed over.
  const local = await clusterApp(
    t,
    port,
    { listen: `127.0.0.1:${port}`, interceptListen: true },
    { HOST: 'localhost', TWICE: '1' },
    2,
  );
  assert.equal(local.out[0].listening, port);
  // Each held socket once: the second listen() of the port binds by itself, and is told why.
  assert.equal(local.out[1].again, 'EADDRINUSE');
  await until(() => /taken by an earlier listen\(\)/.test(local.err), 5000, 'the warning');
  await local.stop();
  // Without interceptListen the app binds by itself, and the held socket is in its way.
  const without = await clusterApp(t, port, { listen: `127.0.0.1:${port}` }, {});
  assert.equal(without.out[0].error, 'EADDRINUSE');
  assert.equal(without.out[0].nodeOptions, null);
});

test("interceptListen: Node's listen() forms — a worker thread binds by itself, an abort signal still closes, the monitor's backlog is kept, a closed server's port is not handed out again", async (t) => {
  const port = await freePort();
  const held = { listen: `127.0.0.1:${port}`, interceptListen: true };
  // A worker thread has the process's pid, but the held socket is the main thread's: its
  // listen() binds by itself (EADDRINUSE), and the main thread's server serves on.
  const worker = await clusterApp(t, port, held, { WORKER: '1' }, 2);
  assert.equal(worker.out[1].worker, 'EADDRINUSE');
  const answer = await request({ host: '127.0.0.1', port }, 1);
  assert.ok(answer.ok && answer.pid === worker.out[0].pid, JSON.stringify(answer));
  await worker.stop();
  // listen({ port, signal }): aborting the signal closes the server, as without the hook.
  const aborted = await clusterApp(t, port, held, { ABORT: '1' }, 2);
  assert.equal(aborted.out[0].listening, port);
  assert.equal(aborted.out[1].aborted, true);
  await aborted.stop();
  // close() then listen() again: not handed out twice (the descriptor is closed); said so.
  const again = await clusterApp(t, port, held, { RELISTEN: '1' }, 2);
  assert.equal(again.out[1].again, 'EADDRINUSE');
  await until(() => /taken by an earlier listen\(\)/.test(again.err), 5000, 'the warning');
  await again.stop();
  // The app gives no backlog: the monitor's listenBacklog stays the shared socket's.
  if (has('ss')) {
    const backlog = await clusterApp(t, port, { ...held, listenBacklog: 2000 }, {});
    const row = require('child_process')
      .execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    // State, Recv-Q, Send-Q (a listening socket's backlog), …
    assert.equal(row[2], '2000', row.join(' '));
    await backlog.stop();
  }
});

test('interceptListen: the sockets of one port on two hosts, each to the listen() of its host', async (t) => {
  // Where this machine has no IPv6 loopback, there is nothing to try.
  const v6 = await new Promise((resolve) => {
    const s = require('net').createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
  if (!v6) return t.skip('no ::1 here');
  const port = await freePort();
  const app = await clusterApp(
    t,
    port,
    { listen: [`127.0.0.1:${port}`, `[::1]:${port}`], interceptListen: true },
    { HOSTS: '127.0.0.1,::1' },
    2,
  );
  assert.deepEqual(app.out.map((l) => [l.host, l.listening]).sort(), [
    ['127.0.0.1', port],
    ['::1', port],
  ]);
});

test('interceptListen: how the hook reads listen() arguments, and the address it advises', () => {
  const { asked, suggestion, hostFits } = require('../listen-hook.js');
  const cb = () => {};
  const read = (...args) => {
    const a = asked(args);
    return [a.port, a.host, a.backlog, a.callback === cb];
  };
  assert.deepEqual(read(3000), [3000, '', undefined, false]);
  assert.deepEqual(read('3000', cb), [3000, '', undefined, true]);
  assert.deepEqual(read('0x0bb8'), [3000, '', undefined, false]);
  assert.deepEqual(read(3000, '127.0.0.1', 7, cb), [3000, '127.0.0.1', 7, true]);
  assert.deepEqual(read(3000, 9), [3000, '', 9, false]);
  assert.deepEqual(read({ port: 3000, host: '::1', backlog: 12 }, cb), [3000, '::1', 12, true]);
  // Not a port to take: a path, a descriptor, port 0, nothing.
  assert.equal(asked(['/tmp/app.sock']).port, undefined);
  assert.equal(asked([{ fd: 3 }]).port, undefined);
  assert.equal(asked([0]).port, undefined);
  assert.equal(asked([]).port, undefined);
  assert.equal(suggestion('localhost', 80), '127.0.0.1:80');
  assert.equal(suggestion('::1', 80), '[::1]:80');
  assert.equal(suggestion('[::1]', 80), '[::1]:80');
  assert.equal(suggestion('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(hostFits('', '127.0.0.1'), true);
  assert.equal(hostFits('0.0.0.0', ''), true);
  assert.equal(hostFits('127.0.0.1', ''), false);
  assert.equal(hostFits('[::1]', '::1'), true);
  assert.equal(hostFits('localhost', '::1'), true);
  assert.equal(hostFits('10.0.0.1', '127.0.0.1'), false);
});

test("interceptListen with spawnWith.uid: a hook the child's user cannot read is an error, not a crash loop", async (t) => {
  if (process.getuid() !== 0) return t.skip('needs root to run a child as another user');
  const hook = fs.realpathSync(path.join(__dirname, '..', 'listen-hook.js'));
  // Whether uid 65534 can read the hook where this checkout is (a 0700 clone cannot).
  let readable = (fs.statSync(hook).mode & 0o004) !== 0;
  for (let at = path.dirname(hook); readable; at = path.dirname(at)) {
    readable = (fs.statSync(at).mode & 0o001) !== 0;
    if (at === path.dirname(at)) break;
  }
  const port = await freePort();
  const m = new Monitor(process.execPath, {
    silent: true,
    max: 1,
    args: ['-e', 'setInterval(() => {}, 1000)'],
    listen: `127.0.0.1:${port}`,
    interceptListen: true,
    spawnWith: { uid: 65534, gid: 65534 },
  });
  t.after(() => m.stopAsync().catch(() => {}));
  if (readable) {
    m.start();
    await next(m, 'start');
  } else {
    const err = await new Promise((resolve) => {
      m.once('error', resolve);
      m.start();
    });
    assert.equal(err.code, 'ERR_FOREVER_NATIVE_LISTEN_HOOK');
    assert.match(err.message, /uid 65534, gid 65534\) cannot (read|enter) /);
  }
});

test('the hook is preloaded by a NODE_OPTIONS path with spaces, quotes and backslashes', async () => {
  const { requireOption } = require('../child.js');
  const dir = tempDir('fn hook "q" \\ ');
  const file = path.join(dir, 'a "b" \\c d.js');
  fs.writeFileSync(file, "process.stdout.write('preloaded ' + JSON.stringify(__filename));");
  const r = await runNode(['-e', '0'], {
    env: { ...process.env, NODE_OPTIONS: `${requireOption(file)} --no-deprecation` },
  });
  assert.equal(r.stdout, `preloaded ${JSON.stringify(file)}`);
  // The hook takes out its own words, and only those.
  const { withoutSelf } = require('../listen-hook.js');
  const hook = fs.realpathSync(path.join(__dirname, '..', 'listen-hook.js'));
  assert.equal(withoutSelf(`--a ${requireOption(hook)} --b`), '--a --b');
  assert.equal(withoutSelf(`${requireOption(hook)}`), '');
  assert.equal(withoutSelf(`${requireOption(file)}`), requireOption(file));
});

test('a rolling reload replaces one instance at a time; a new child that fails stops the roll, once, and the rest serve on', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-group-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const g = await servers(t, {
    instances: 3,
    env: { FAIL_FILE: path.join(dir, 'fail-%i') },
  });
  const reloads = record(g, 'reload');
  const reloaded = record(g, 'reloaded');
  const errors = record(g, 'error');
  const loop = clientLoop(target(g), { concurrency: 4, ms: 40000 });

  // A whole roll: one instance at a time, each new child ready before its old one stops.
  const pids0 = g.monitors.map((m) => m.child.pid);
  await g.reloadAsync();
  const pids1 = g.monitors.map((m) => m.child.pid);
  assert.ok(
    pids1.every((pid, i) => pid !== pids0[i]),
    'every instance replaced',
  );
  assert.equal(reloaded.length, 1);
  const steps = reloads.map(([i, info]) => `${i}:${info.phase}`);
  for (const i of [0, 1]) {
    // The next instance starts only once this one's new child has taken over.
    assert.ok(steps.indexOf(`${i}:ready`) < steps.indexOf(`${i + 1}:starting`), steps.join(' '));
  }

  // Instance 1's new child exits at boot: instance 0 is replaced, 1 and 2 keep their children.
  fs.writeFileSync(path.join(dir, 'fail-1'), 'exit');
  await assert.rejects(g.reloadAsync(), (err) => {
    assert.equal(err.code, 'ERR_RELOAD_FAILED');
    assert.equal(err.instance, 1);
    assert.equal(err.replaced, 1);
    return true;
  });
  const pids2 = g.monitors.map((m) => m.child.pid);
  assert.notEqual(pids2[0], pids1[0]);
  assert.equal(pids2[1], pids1[1], 'the failed instance serves on with its old child');
  assert.equal(pids2[2], pids1[2], 'the roll stopped before instance 2');
  assert.deepEqual(errors, [], 'reloadAsync() takes the failure: no error event');

  // Without awaiting: the failure is one 'error' event, with the instance's index.
  const failed = next(g, 'error');
  g.reload();
  const [err, index] = await failed;
  assert.equal(err.code, 'ERR_RELOAD_FAILED');
  assert.equal(index, 1);
  await until(() => !g._rolling, 5000, 'the roll to end');
  assert.equal(errors.length, 1, 'reported once');
  assert.equal(reloaded.length, 1);

  const before = loop.count;
  await until(() => loop.count >= before + 20, 10000, 'requests after the rolls');
  const results = await loop.stop();
  assert.equal(results.filter((r) => !r.ok).length, 0, 'nothing refused or failed');
  assert.ok(g.monitors.every((m) => m.running));
});

test('start() right after stop() starts each instance again once its child is gone; startAsync() waits for instances still starting', async (t) => {
  const g = await servers(t, { instances: 2, env: { READY_DELAY: '300' } });
  const ready = record(g, 'ready');
  const pids0 = g.monitors.map((m) => m.child.pid);
  // The instances are still stopping when start() comes: each starts again after.
  g.stop();
  await g.startAsync();
  assert.ok(
    g.monitors.every((m, i) => m.running && m.child.pid !== pids0[i]),
    'every instance runs a new child',
  );
  assert.equal(ready.length, 2, 'startAsync() resolved once both were ready');
  // start(), then startAsync() while both are still booting: it waits for their 'ready'.
  await g.stopAsync();
  g.start();
  await g.startAsync();
  assert.equal(ready.length, 4, 'both were ready when startAsync() resolved');
  assert.ok(g.monitors.every((m) => m.running));
});

test("'scaled' comes once the new instances have started; scale() after stop() starts none", async (t) => {
  const g = group(t, fixture('run-forever.js'), { instances: 1 });
  await g.startAsync();
  const seen = [];
  g.on('start', (i) => seen.push(`start ${i}`));
  g.on('scaled', ({ from, to }) => seen.push(`scaled ${from}->${to}`));
  g.scale(3);
  await until(() => seen.includes('scaled 1->3'), 10000, "'scaled'");
  assert.deepEqual(seen.slice().sort(), ['scaled 1->3', 'start 1', 'start 2']);
  assert.equal(seen[2], 'scaled 1->3', seen.join(', '));
  await g.stopAsync();
  await g.scaleAsync(4);
  assert.ok(
    g.monitors.every((m) => !m.running),
    'a stopped group starts no new instance',
  );
});

test("'scaled' comes too when a new instance's start fails, and leaves no waiting listener behind", async () => {
  const g = new Group(path.join(os.tmpdir(), 'fn-no-such-dir', 'app.js'), { silent: true });
  const errors = record(g, 'error');
  g.start();
  // Not events.once(): it rejects at the first 'error', and errors are expected here.
  const scaled = new Promise((resolve) => g.once('scaled', resolve));
  g.scale(2);
  assert.deepEqual(await scaled, { from: 1, to: 2 });
  assert.deepEqual(
    errors.map(([err, i]) => [i, /Target script does not exist/.test(err.message)]),
    [
      [0, true],
      [1, true],
    ],
  );
  // Instance 1 (started by scale(), which waited for it) has no more listeners than
  // instance 0 (started by start(), which waits for nothing).
  for (const event of ['start', 'restart', 'ready', 'exit', 'error'])
    assert.equal(g.monitors[1].listenerCount(event), g.monitors[0].listenerCount(event), event);
});

test("a failed reload() with no 'error' listener is an uncaught exception, as a monitor's", async () => {
  const dir = tempDir('fn-group-uncaught-');
  // Instance 1's children exit at boot once fail-1 exists: the script makes it after the
  // first start, then reloads with no 'error' listener.
  const code = `
const fs = require('fs');
const { Group } = require(${JSON.stringify(path.join(__dirname, '..'))});
const g = new Group(${JSON.stringify(SERVER)}, {
  instances: 2, listen: '127.0.0.1:0', fork: true, waitReady: true, readyTimeout: 10000,
  silent: true, killSignal: 'SIGTERM', env: { FAIL_FILE: ${JSON.stringify(path.join(dir, 'fail-%i'))} },
});
process.on('exit', () => g.stop());
g.startAsync().then(() => {
  fs.writeFileSync(${JSON.stringify(path.join(dir, 'fail-1'))}, 'exit');
  g.reload();
});
setTimeout(() => { console.log('no exception'); g.stop(); }, 15000).unref();
`;
  const r = await runNode(['-e', code], { timeout: 30000 });
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /ERR_RELOAD_FAILED/);
  assert.doesNotMatch(r.stdout, /no exception/);
});

test('stop() during a rolling reload ends it without an error; reloadAsync() rejects with ERR_SUPERVISION_ENDED', async (t) => {
  const g = await servers(t, { instances: 2 });
  const errors = record(g, 'error');
  // The stop comes as soon as the first new child is spawned, while it boots.
  const starting = next(g, 'reload');
  const rolled = g.reloadAsync();
  await starting;
  g.reload();
  const stopped = g.stopAsync();
  await assert.rejects(rolled, { code: 'ERR_SUPERVISION_ENDED' });
  await stopped;
  // reload() during the roll was refused at once; the stop itself reported nothing.
  assert.deepEqual(
    errors.map(([err, i]) => [err.code, i]),
    [['ERR_RELOAD_IN_PROGRESS', -1]],
  );
  assert.ok(g.monitors.every((m) => !m.running));
});

test('options are checked: instances, reloadBatch, listenReusePort; max is the CPUs', () => {
  const cpus =
    typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  assert.equal(new Group(SERVER, { instances: 'max' }).size, cpus);
  assert.equal(new Group(SERVER, { instances: -1 }).size, Math.max(1, cpus - 1));
  assert.equal(new Group(SERVER, { instances: '3' }).size, 3);
  assert.equal(new Group(SERVER).size, 1);
  assert.throws(() => new Group(SERVER, { instances: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new Group(SERVER, { instances: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new Group(SERVER, { instances: 'all' }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new Group(SERVER, { reloadBatch: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new Group(SERVER, { listenReusePort: 'yes' }), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
  assert.throws(() => new Group(SERVER, { instanceVar: 7 }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new Group(SERVER, { instanceVar: 'A=B' }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new Group(SERVER, { instanceVar: '' }), { code: 'ERR_OUT_OF_RANGE' });
  for (const own of ['FOREVER_INSTANCE', 'FOREVER_INSTANCES'])
    assert.throws(() => new Group(SERVER, { instanceVar: own }), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(new Group(SERVER, { reloadBatch: '2' }).reloadBatch, 2);
  assert.equal(new Group(SERVER, { instanceVar: 'WORKER_ID' }).instanceVar, 'WORKER_ID');
  assert.equal(new Group(SERVER).instanceVar, 'NODE_APP_INSTANCE');
  // interceptListen is a monitor's option: a flag, and only with listen.
  assert.throws(() => new Group(SERVER, { interceptListen: 'yes', listen: 8080 }), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
  assert.throws(() => new Group(SERVER, { interceptListen: true }), {
    code: 'ERR_OUT_OF_RANGE',
    message: /interceptListen.*used with "listen"/,
  });
  // A monitor's own options are checked by its monitors.
  assert.throws(() => new Group(SERVER, { instances: 2, max: 'x' }), TypeError);
  assert.throws(() => new Group(SERVER, { instances: 2 }).scale(0), { code: 'ERR_OUT_OF_RANGE' });
});

test("require('forever-native') does not load the Group until it is used", async () => {
  const script = `
    const fn = require(${JSON.stringify(path.join(__dirname, '..'))});
    const loaded = () => Object.keys(require.cache).some((f) => f.endsWith('group.js'));
    const before = loaded();
    const G = fn.Group;
    console.log(JSON.stringify({ before, after: loaded(), name: G.name, keys: Object.keys(fn) }));`;
  const { stdout, code } = await runNode(['-e', script]);
  assert.equal(code, 0);
  const r = JSON.parse(stdout);
  assert.equal(r.before, false);
  assert.equal(r.after, true);
  assert.equal(r.name, 'Group');
  assert.ok(r.keys.includes('Group'));
});

test('CLI -i: one status line per instance with its index, and SIGHUP with --reloadOnHup rolls', async () => {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--json',
      '-i',
      '2',
      '--listen',
      '127.0.0.1:0',
      '--fork',
      '--waitReady',
      '--reloadOnHup',
      SERVER,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const events = [];
  let partial = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  child.stderr.on('data', (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const e = JSON.parse(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
      events.push(e);
      if (e.event === 'ready' && events.filter((x) => x.event === 'ready').length === 2)
        child.kill('SIGHUP');
      if (e.event === 'rolled') child.kill('SIGTERM');
    }
  });
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  const shown = events.map((e) => `${e.app} ${e.event} ${e.phase || ''}`).join('\n');
  assert.equal(code, 0, shown);
  const starts = events.filter((e) => e.event === 'start');
  assert.deepEqual(starts.map((e) => [e.app, e.instance]).sort(), [
    ['listen-server.js[0]', 0],
    ['listen-server.js[1]', 1],
  ]);
  const rolled = events.find((e) => e.event === 'rolled');
  assert.ok(rolled, shown);
  assert.equal(rolled.app, 'listen-server.js');
  assert.equal(rolled.instances, 2);
  // One instance at a time: instance 1's new child starts after instance 0's took over.
  const steps = events.filter((e) => e.event === 'reload').map((e) => `${e.instance}:${e.phase}`);
  assert.ok(steps.indexOf('0:ready') < steps.indexOf('1:starting'), steps.join(' '));
  assert.equal(events.filter((e) => e.event === 'stop').length, 2);
});

test('CLI -i: its values, and instances in a config file', async () => {
  const cli = require('../bin/cli.js');
  const app = (argv) => cli.plan(argv, { exists: () => true }).apps[0];
  assert.equal(app(['-i', 'max', 'app.js']).options.instances, 'max');
  assert.equal(app(['--instances', '-1', 'app.js']).options.instances, -1);
  assert.equal(app(['-i4', 'app.js']).options.instances, 4);
  assert.throws(() => app(['-i', '0', 'app.js']), /-i must be a whole number of instances/);
  assert.throws(() => app(['-i', 'many', 'app.js']), cli.UsageError);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-group-cli-'));
  try {
    const file = path.join(dir, 'apps.json');
    fs.writeFileSync(
      file,
      JSON.stringify([{ script: 'a.js', instances: 2, reloadBatch: 1, listenReusePort: true }]),
    );
    const [entry] = cli.plan(['--config', file]).apps;
    assert.equal(entry.options.instances, 2);
    assert.equal(entry.options.listenReusePort, true);
    // A bad count is the usage error the Group gives, exit 2.
    const bad = await runNode([CLI, '-i', 'x', SERVER]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-i must be a whole number of instances/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
