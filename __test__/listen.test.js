// Listening sockets held by the core (`listen`) and reload() without downtime, with real
// children: an HTTP server on loopback (Node, and Python), a client loop against it.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { Monitor } = require('..');
const {
  fixture,
  next,
  record,
  until,
  isAlive,
  stopAfter,
  lines,
  has,
  sharedCopy,
} = require('./helpers');
const { request, clientLoop, crashReports } = require('./client-loop');

const SERVER = fixture('listen-server.js');

function monitor(t, script, options) {
  return stopAfter(
    t,
    new Monitor(script, { silent: true, killSignal: 'SIGTERM', killTTL: 5000, ...options }),
  );
}

/** The facts the listen-server with `pid` printed when it started serving. */
async function factsOf(out, pid) {
  let line;
  await until(
    () => (line = out.find((l) => l.startsWith(`listening ${pid} `))),
    10000,
    `server ${pid} to listen`,
  );
  return JSON.parse(line.slice(`listening ${pid} `.length));
}

/** The TCP target of the monitor's first socket. */
function target(m) {
  const [first] = m.listenAddresses();
  return { host: first.address, port: first.port };
}

test('listen: the core binds at start(), each child gets the sockets from fd 3 with its own LISTEN_PID, and they close at stop', async (t) => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-listen-cwd-'));
  t.after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const m = monitor(t, SERVER, {
    listen: ['http=127.0.0.1:0', { address: '127.0.0.1:0', name: 'admin' }],
    fork: true,
    waitReady: true,
    cwd,
  });
  assert.deepEqual(m.listen, [
    { name: 'http', address: '127.0.0.1:0' },
    { name: 'admin', address: '127.0.0.1:0' },
  ]);
  assert.deepEqual(m.listenAddresses(), [], 'nothing before start()');
  const out = lines(m);
  await m.startAsync();
  const bound = m.listenAddresses();
  assert.deepEqual(
    bound.map((b) => [b.name, b.fd, b.family, b.address]),
    [
      ['http', 3, 'IPv4', '127.0.0.1'],
      ['admin', 4, 'IPv4', '127.0.0.1'],
    ],
  );
  assert.ok(
    bound.every((b) => b.port > 0),
    'the ports the system picked',
  );
  const facts = await factsOf(out, m.child.pid);
  assert.equal(facts.listenPid, String(m.child.pid), 'LISTEN_PID is the child itself');
  assert.deepEqual(facts.fds, [
    { fd: 3, name: 'http' },
    { fd: 4, name: 'admin' },
  ]);
  assert.equal(facts.channelFd, 5, 'the IPC channel comes after the sockets');
  assert.equal(facts.cwd, fs.realpathSync(cwd));
  const answer = await request(target(m), 1);
  assert.deepEqual([answer.ok, answer.pid], [true, m.child.pid]);
  // The IPC channel works beside the sockets.
  const pong = next(m, 'message');
  m.send('ping');
  assert.deepEqual(await pong, [`pong ${m.child.pid}`]);

  await m.stopAsync();
  assert.deepEqual(m.listenAddresses(), []);
  const after = await request(target({ listenAddresses: () => bound }), 2);
  assert.equal(after.code, 'ECONNREFUSED', 'closed when supervision ended');
});

test('the sockets close when supervision gives up, as at stop()', async (t) => {
  const m = monitor(t, SERVER, { listen: '127.0.0.1:0', max: 1 });
  const out = lines(m);
  m.start();
  await next(m, 'start');
  await factsOf(out, m.child.pid);
  const where = target(m);
  const ended = next(m, 'exit');
  await request(where, 1, '/crash?id=1');
  const [, , info] = await ended;
  assert.equal(info.reason, 'max');
  assert.equal((await request(where, 2)).code, 'ECONNREFUSED');
});

test('while no child runs, connections wait in the accept queue: a restart delay refuses none', async (t) => {
  const m = monitor(t, SERVER, { listen: '127.0.0.1:0', restartDelay: 400 });
  const out = lines(m);
  m.start();
  await next(m, 'start');
  const first = m.child.pid;
  await factsOf(out, first);
  const where = target(m);
  const crashed = next(m, 'restarting');
  const crash = await request(where, 1, '/crash?id=1');
  assert.equal(crash.ok, false, 'the crash request itself is lost with its child');
  await crashed;
  // No child runs for 400 ms: this connection is made, and waits for the next one.
  const t0 = Date.now();
  const waited = await request(where, 2);
  assert.equal(waited.ok, true, `refused? ${waited.code}`);
  assert.notEqual(waited.pid, first);
  assert.ok(Date.now() - t0 >= 250, `answered after ${Date.now() - t0} ms, by the next child`);
});

test('30 reloads and 10 crashes under a client loop: nothing refused, and the only failed requests are those in flight inside a crashed child', async (t) => {
  const m = monitor(t, SERVER, {
    listen: '127.0.0.1:0',
    fork: true,
    waitReady: true,
    readyTimeout: 10000,
    env: { DELAY: '5' },
  });
  const out = lines(m);
  const reloads = record(m, 'reload');
  const errors = record(m, 'error');
  await m.startAsync();
  const loop = clientLoop(target(m), { concurrency: 4, ms: 17000 });
  for (let i = 0; i < 30; i++) {
    await m.reloadAsync();
    if (i % 3 === 2) {
      const ready = next(m, 'ready');
      loop.send('/crash');
      await ready;
    }
  }
  const results = await loop.stop();
  const refused = results.filter((r) => r.code === 'ECONNREFUSED');
  assert.equal(refused.length, 0, 'no connection refused');
  const failed = results.filter((r) => !r.ok);
  const crashes = crashReports(out);
  assert.equal(crashes.length, 10);
  const lost = crashes.reduce((n, c) => n + c.lost, 0);
  const inCrashed = new Set(crashes.flatMap((c) => c.ids));
  assert.equal(
    failed.length,
    lost,
    `failed ${failed.length}: ${JSON.stringify(failed.slice(0, 5))}; in flight in crashed children ${lost}`,
  );
  for (const f of failed) {
    if (!inCrashed.has(f.id)) {
      // Only a connection accepted before its request came may fail without an id.
      assert.ok(lost > inCrashed.size, `request ${f.id} failed (${f.code}) outside a crash`);
    }
  }
  assert.ok(results.length >= 200, `only ${results.length} requests`);
  assert.equal(reloads.filter(([r]) => r.phase === 'done').length, 30);
  assert.equal(reloads.filter(([r]) => r.phase === 'failed').length, 0);
  assert.equal(m.times, 40, 'each reload and each crash counts one run');
  assert.deepEqual(errors, []);
});

test(
  'a Python server written for socket activation takes the sockets, and reloads refuse nothing',
  { timeout: 60000 },
  async (t) => {
    if (!has('python3')) return t.skip('python3 is not installed');
    const m = monitor(t, ['python3', fixture('listen-server.py')], {
      listen: ['web=127.0.0.1:0', 'other=127.0.0.1:0'],
      reloadGrace: 300,
    });
    const out = lines(m);
    m.start();
    await next(m, 'start');
    const pid = m.child.pid;
    await until(() => out.some((l) => l.startsWith('listening ')), 10000, 'python to listen');
    assert.equal(
      out.find((l) => l.startsWith('listening ')),
      `listening ${pid} 2 web:other`,
      'LISTEN_PID was its own pid',
    );
    const loop = clientLoop(target(m), { concurrency: 3, ms: 50000 });
    await until(() => loop.results.some((r) => r.pid === pid), 10000, 'the first child to serve');
    for (let i = 0; i < 3; i++) {
      await m.reloadAsync();
      // Without waitReady a new child takes over after reloadGrace (300 ms) whether or not it
      // serves yet; on a loaded machine Python may take longer to start, and a next reload
      // would replace it before it served anything. Each new child must serve before the next.
      const child = m.child.pid;
      await until(
        () => loop.results.some((r) => r.pid === child),
        10000,
        `new child ${child} (reload ${i + 1}) to serve`,
      );
    }
    const results = await loop.stop();
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.code),
      [],
    );
    assert.equal(
      new Set(results.map((r) => r.pid)).size,
      4,
      'served by the old and each new child',
    );
    assert.notEqual(m.child.pid, pid);
  },
);

test(
  'with uid and gid the child serves, as another user, a privileged port the core bound',
  { skip: process.getuid() !== 0 && 'needs root' },
  async (t) => {
    // nobody may not be able to enter the checkout: the server runs from a copy anyone can read.
    const shared = sharedCopy(t, ['child.js', path.relative(path.join(__dirname, '..'), SERVER)]);
    if (shared === null) {
      t.skip(`nobody cannot reach ${os.tmpdir()} (TMPDIR)`);
      return;
    }
    const server = path.join(shared, path.relative(path.join(__dirname, '..'), SERVER));
    let m;
    let out;
    // A port below 1024 on loopback; another taken one is tried.
    for (let port = 1023; port > 1000; port--) {
      m = monitor(t, server, {
        listen: `127.0.0.1:${port}`,
        spawnWith: { uid: 65534, gid: 65534 },
        cwd: '/',
      });
      out = lines(m);
      const started = next(m, 'start');
      const failed = next(m, 'error');
      m.start();
      const first = await Promise.race([started.then(() => null), failed.then(([err]) => err)]);
      if (first === null) break;
      assert.equal(first.code, 'EADDRINUSE', first.message);
    }
    const facts = await factsOf(out, m.child.pid);
    assert.deepEqual([facts.uid, facts.gid], [65534, 65534]);
    const answer = await request(target(m), 1);
    assert.deepEqual([answer.ok, answer.pid], [true, m.child.pid]);
    await m.reloadAsync();
    assert.equal((await request(target(m), 2)).pid, m.child.pid);
  },
);

test('killTree: a worker the child gave the sockets to goes with it, and the next child serves', async (t) => {
  const m = monitor(t, SERVER, { listen: '127.0.0.1:0', env: { GRANDCHILD: '1' } });
  const out = lines(m);
  m.start();
  await next(m, 'start');
  const facts = await factsOf(out, m.child.pid);
  assert.ok(isAlive(facts.grandchild));
  const restarted = next(m, 'restart');
  await request(target(m), 1, '/crash?id=1');
  await restarted;
  await until(() => !isAlive(facts.grandchild), 5000, 'the worker to be gone');
  const answer = await request(target(m), 2);
  assert.deepEqual([answer.ok, answer.pid], [true, m.child.pid]);
});

test("reload(): 'reload' events step by step, monitor.child switches at 'ready', times counts one run", async (t) => {
  const m = monitor(t, SERVER, { listen: '127.0.0.1:0', reloadGrace: 300 });
  const out = lines(m);
  const order = [];
  for (const name of ['reload', 'restart', 'exit:code', 'stop', 'exit']) {
    m.on(name, (a) => order.push(name === 'reload' ? `reload:${a.phase}` : name));
  }
  const reloads = record(m, 'reload');
  m.start();
  await next(m, 'start');
  const old = m.child.pid;
  await factsOf(out, old);
  const t0 = Date.now();
  const ready = next(m, 'reload');
  m.reload();
  const [starting] = await ready;
  assert.equal(starting.phase, 'starting');
  assert.equal(m.child.pid, old, 'the old child is the child until the new one takes over');
  // A second reload while the new child starts is refused.
  const refused = next(m, 'error');
  m.reload();
  const [err] = await refused;
  assert.equal(err.code, 'ERR_RELOAD_IN_PROGRESS');
  await until(() => reloads.some(([r]) => r.phase === 'done'), 10000, 'the reload to be done');
  assert.ok(Date.now() - t0 >= 300, 'after reloadGrace');
  const newPid = starting.newPid;
  assert.deepEqual(
    reloads.map(([r]) => r),
    [
      { phase: 'starting', oldPid: old, newPid },
      { phase: 'ready', oldPid: old, newPid },
      { phase: 'done', oldPid: old, newPid, code: 0, signal: null },
    ],
  );
  assert.deepEqual(
    order,
    ['reload:starting', 'restart', 'reload:ready', 'reload:done'],
    "no 'exit:code' or 'stop' for the old child",
  );
  assert.equal(m.child.pid, newPid);
  assert.equal(m.times, 1);
  assert.ok(!isAlive(old));
  // A stopped monitor is started by reload(), as by restart().
  await m.stopAsync();
  const again = await m.reloadAsync();
  assert.equal(again, m);
  assert.equal(m.running, true);
});

test('a new child that fails is killed, the old one serves on, and reloadAsync() rejects with why', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-listen-fail-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const failFile = path.join(dir, 'fail');
  const m = monitor(t, SERVER, {
    listen: '127.0.0.1:0',
    fork: true,
    waitReady: true,
    readyTimeout: 2000,
    env: { FAIL_FILE: failFile },
  });
  const errors = record(m, 'error');
  const reloads = record(m, 'reload');
  await m.startAsync();
  const old = m.child.pid;

  fs.writeFileSync(failFile, 'exit');
  await assert.rejects(
    m.reloadAsync(),
    (err) => err.code === 'ERR_RELOAD_FAILED' && err.reason === 'exit',
  );
  const failed = reloads.find(([r]) => r.phase === 'failed')[0];
  assert.deepEqual([failed.reason, failed.code, failed.oldPid], ['exit', 3, old]);
  assert.equal(m.child.pid, old);
  assert.equal((await request(target(m), 1)).pid, old, 'the old child serves on');

  // Never ready: killed at readyTimeout; reported as an 'error' without reloadAsync().
  fs.writeFileSync(failFile, 'hang');
  const error = next(m, 'error');
  m.reload();
  const [err] = await error;
  assert.equal(err.code, 'ERR_RELOAD_FAILED');
  assert.equal(err.reason, 'readyTimeout');
  const hung = reloads.filter(([r]) => r.phase === 'failed')[1][0].newPid;
  await until(() => !isAlive(hung), 5000, 'the new child to be killed');
  assert.equal((await request(target(m), 2)).pid, old);
  assert.equal(errors.length, 1, "the awaited failure was not emitted as 'error'");
  assert.equal(m.times, 0, 'failed reloads count nothing');
  fs.unlinkSync(failFile);
  await m.reloadAsync();
  assert.notEqual(m.child.pid, old);
});

test("bind errors are 'error's at start() naming the address, and no child is spawned", async (t) => {
  const taken = net.createServer();
  await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const { port } = taken.address();
  const m = new Monitor(SERVER, { silent: true, listen: ['127.0.0.1:0', `127.0.0.1:${port}`] });
  const failed = next(m, 'error');
  m.start();
  const [err] = await failed;
  assert.equal(err.code, 'EADDRINUSE');
  assert.equal(err.syscall, 'bind');
  assert.equal(err.address, `127.0.0.1:${port}`);
  assert.equal(err.port, port);
  assert.equal(err.message, `bind EADDRINUSE: address already in use 127.0.0.1:${port}`);
  assert.equal(m.running, undefined, 'never started');
  assert.deepEqual(m.listenAddresses(), []);
  await assert.rejects(m.startAsync(), (e) => e.code === 'EADDRINUSE');

  const missing = new Monitor(SERVER, {
    silent: true,
    listen: path.join(os.tmpdir(), 'no-such-dir-fn', 'app.sock'),
  });
  const enoent = next(missing, 'error');
  missing.start();
  assert.equal((await enoent)[0].code, 'ENOENT');

  if (process.getuid() !== 0) {
    const low = new Monitor(SERVER, { silent: true, listen: '127.0.0.1:1' });
    const eacces = next(low, 'error');
    low.start();
    assert.equal((await eacces)[0].code, 'EACCES');
  }
});

test('a Unix socket: served, removed at stop, a stale one replaced', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-listen-unix-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'app.sock');
  // A stale socket file, as a supervisor killed by SIGKILL leaves.
  spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.ok(fs.statSync(socketPath).isSocket(), 'a stale socket is there');
  const m = monitor(t, SERVER, { listen: `unix=${socketPath}` });
  const out = lines(m);
  m.start();
  await next(m, 'start');
  await factsOf(out, m.child.pid);
  assert.deepEqual(m.listenAddresses(), [
    { name: 'unix', fd: 3, family: 'unix', path: socketPath },
  ]);
  const answer = await request({ socketPath }, 1);
  assert.deepEqual([answer.ok, answer.pid], [true, m.child.pid]);
  await m.stopAsync();
  assert.equal(fs.existsSync(socketPath), false, 'removed with its listener');
});

test(
  "listenBacklog is the socket's backlog until a child listens again with its own",
  { skip: !has('ss') && 'needs ss' },
  async (t) => {
    const m = monitor(t, SERVER, {
      listen: '127.0.0.1:0',
      listenBacklog: 37,
      env: { READY_DELAY: '1000' },
    });
    const out = lines(m);
    m.start();
    await next(m, 'start');
    const { port } = target(m);
    const backlog = () => {
      const text = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
      return Number(text.trim().split(/\s+/)[2]);
    };
    assert.equal(backlog(), 37, "the core's, while the child boots");
    await factsOf(out, m.child.pid);
    assert.equal(backlog(), 511, "a Node server's listen({ fd }) sets Node's default again");
    await m.stopAsync();
    const again = monitor(t, SERVER, {
      listen: `127.0.0.1:${port}`,
      listenBacklog: 37,
      env: { BACKLOG: '37' },
    });
    const againOut = lines(again);
    again.start();
    await next(again, 'start');
    await factsOf(againOut, again.child.pid);
    assert.equal(backlog(), 37, 'unless it passes the same one: listen({ fd }, backlog)');
  },
);

test(
  "listenBacklog's default is the option catalogue's 511: the socket's backlog while the child boots",
  { skip: !has('ss') && 'needs ss' },
  async (t) => {
    const m = monitor(t, SERVER, { listen: '127.0.0.1:0', env: { READY_DELAY: '5000' } });
    assert.equal(m.listenBacklog, undefined, 'the field is left unset');
    m.start();
    await next(m, 'start');
    const { port } = target(m);
    const text = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    assert.equal(Number(text.trim().split(/\s+/)[2]), 511);
  },
);

test('listenBacklog holds once the child listens: examples/listen-server.js passes child.listenBacklog()', async (t) => {
  if (!has('ss')) return t.skip('no ss here to read a backlog');
  const m = monitor(t, path.join(__dirname, '..', 'examples', 'listen-server.js'), {
    listen: 'http=127.0.0.1:0',
    listenBacklog: 1234,
    fork: true,
    waitReady: true,
    readyTimeout: 10000,
  });
  await m.startAsync();
  const { port } = target(m);
  // The child's listen() has run (it said ready in its callback): its backlog is the monitor's.
  const row = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
    .trim()
    .split(/\s+/);
  assert.equal(row[2], '1234', row.join(' '));
});

test('listenMode: a socket file gets the mode, as a number or octal digits, before it listens; it needs a socket path', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-listen-mode-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'app.sock');
  for (const [listenMode, mode] of [
    [0o600, 0o600],
    ['660', 0o660],
    ['0604', 0o604],
  ]) {
    const m = monitor(t, SERVER, { listen: socketPath, listenMode });
    assert.equal(m.listenMode, mode);
    m.start();
    await next(m, 'start');
    assert.equal(fs.statSync(socketPath).mode & 0o777, mode, `listenMode ${listenMode}`);
    await m.stopAsync();
  }
  const bad = [
    [{ listen: socketPath, listenMode: 'rw-rw----' }, RangeError, /an octal mode such as "660"/],
    [{ listen: socketPath, listenMode: 0o1777 }, RangeError, /a file mode from 0 to 0o777/],
    [{ listen: socketPath, listenMode: true }, TypeError, /"listenMode" option/],
    [{ listen: 8080, listenMode: 0o600 }, RangeError, /used with a Unix socket path in "listen"/],
    [{ listenMode: 0o600 }, RangeError, /used with a Unix socket path/],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(
      () => new Monitor('x.js', options),
      (err) => err instanceof type && message.test(err.message),
      JSON.stringify(options),
    );
  }
  // The command line and config files have it too, from the same catalogue entry.
  const cli = require('../bin/cli.js');
  const [app] = cli.plan(['--listen', socketPath, '--listenMode', '660', 'app.js'], {
    cwd: dir,
    exists: () => true,
  }).apps;
  assert.equal(app.options.listenMode, '660');
  assert.ok(cli.CONFIG_KEYS.has('listenMode'));
});

test('listen options are checked strictly, naming the option and the value', () => {
  const bad = [
    [
      { listen: 'localhost:80' },
      RangeError,
      /"listen" option must be an address with an IPv4 address \(names are not resolved/,
    ],
    [{ listen: '127.0.0.1:70000' }, RangeError, /port is from 0 to 65535/],
    [
      { listen: 70000 },
      RangeError,
      /"listen" option must be a port from 0 to 65535\. Received 70000/,
    ],
    [{ listen: 80.5 }, RangeError, /a port from 0 to 65535/],
    [
      { listen: 'http' },
      RangeError,
      /must be a port, "host:port", "\[ipv6\]:port" or a Unix socket path/,
    ],
    [{ listen: '' }, RangeError, /non-empty/],
    [{ listen: ['127.0.0.1:1', true] }, TypeError, /"listen\[1\]" option/],
    [{ listen: { name: 'x' } }, TypeError, /"listen.address" option/],
    [{ listen: { address: 80, port: 80 } }, RangeError, /not "port"/],
    [{ listen: { address: 80, name: 'a:b' } }, RangeError, /"listen.name" option/],
    [{ listen: 'a b=80' }, RangeError, /name=address/],
    [{ listen: '[1.2.3.4]:80' }, RangeError, /IPv6/],
    [{ listen: `/${'x'.repeat(120)}.sock` }, RangeError, /at most 107 bytes/],
    [
      { listenBacklog: 0 },
      RangeError,
      /"listenBacklog" option must be a whole number from 1 to 65535/,
    ],
    [{ listenBacklog: '511' }, TypeError, /"listenBacklog"/],
    [{ reloadGrace: -1 }, RangeError, /"reloadGrace"/],
    [{ reloadGrace: '1000' }, TypeError, /"reloadGrace"/],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(
      () => new Monitor('x.js', options),
      (err) => err instanceof type && message.test(err.message),
      JSON.stringify(options),
    );
  }
  const m = new Monitor('x.js', {
    listen: [8080, '[::1]:8081', 'admin=0.0.0.0:9000', './run/app.sock'],
  });
  assert.deepEqual(m.listen, [
    { name: 'listen0', address: 8080 },
    { name: 'listen1', address: '[::1]:8081' },
    { name: 'admin', address: '0.0.0.0:9000' },
    { name: 'listen3', address: path.resolve('run/app.sock') },
  ]);
  assert.equal(m.reloadGrace, 1000);
  assert.deepEqual(new Monitor('x.js').listen, []);
});

test('fields are checked again at start(): a bad listen set after construction is an error', async () => {
  const m = new Monitor(SERVER, { silent: true });
  m.listen = 'nowhere';
  const failed = next(m, 'error');
  m.start();
  const [err] = await failed;
  assert.ok(err instanceof RangeError);
  assert.match(err.message, /"listen" option/);
  assert.equal(m.running, undefined);
});

test('examples/listen-server.js drains cleanly: reloads under a client loop fail nothing, and every old child exits 0', async (t) => {
  const example = path.join(__dirname, '..', 'examples', 'listen-server.js');
  const m = monitor(t, example, {
    listen: 'http=127.0.0.1:0',
    fork: true,
    waitReady: true,
    readyTimeout: 10000,
  });
  const done = [];
  m.on('reload', (info) => {
    if (info.phase === 'done') done.push(info);
  });
  const errors = record(m, 'error');
  await m.startAsync();
  const loop = clientLoop(target(m), { concurrency: 4, ms: 15000 });
  for (let i = 0; i < 5; i++) {
    const finished = new Promise((resolve) => {
      const on = (info) => {
        if (info.phase === 'done') {
          m.off('reload', on);
          resolve();
        }
      };
      m.on('reload', on);
    });
    await m.reloadAsync();
    await finished;
  }
  const results = await loop.stop();
  assert.deepEqual(
    results.filter((r) => !r.ok).map((r) => r.code),
    [],
    'no request failed',
  );
  assert.deepEqual(
    done.map((d) => [d.code, d.signal]),
    Array(5).fill([0, null]),
    'each old child exited 0 after draining',
  );
  assert.deepEqual(errors, []);
});
