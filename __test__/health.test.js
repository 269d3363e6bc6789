// Health, decided by the core: readiness, the watchdog, the memory limit, usage(), the
// shutdown message, the awaitable calls and the abort signal, with real children.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { spawn } = require('child_process');
const { Monitor } = require('..');
const {
  fixture,
  next,
  record,
  until,
  isAlive,
  stopAfter,
  has,
  processesWith,
} = require('./helpers');

function monitor(t, script, options) {
  return stopAfter(t, new Monitor(script, { silent: true, ...options }));
}

/** Lines the child wrote on stdout, as they come. */
function lines(m) {
  const seen = [];
  let partial = '';
  m.on('stdout', (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      seen.push({ line: partial.slice(0, nl), at: Date.now() });
      partial = partial.slice(nl + 1);
    }
  });
  return seen;
}

/** Blocks this thread (so no event is handled) for `ms`. */
function block(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* busy */
  }
}

test("waitReady: 'ready' comes when the child says so, and usage() tells starting from running", async (t) => {
  const m = monitor(t, fixture('ready-after.js'), { fork: true, waitReady: true, args: ['300'] });
  const t0 = Date.now();
  const started = next(m, 'start');
  const ready = next(m, 'ready');
  m.start();
  await started;
  assert.equal(m.usage().state, 'starting');
  const [self, data] = await ready;
  const elapsed = Date.now() - t0;
  assert.equal(self, m);
  assert.equal(data.pid, m.child.pid);
  assert.ok(elapsed >= 290, `ready after ${elapsed} ms`);
  assert.equal(m.usage().state, 'running');
});

test('readyTimeout: a child that never says it is ready is taken down, and the policy decides', async (t) => {
  const m = monitor(t, fixture('run-forever.js'), {
    fork: true,
    waitReady: true,
    readyTimeout: 300,
    max: 2,
  });
  const restarting = record(m, 'restarting');
  const readies = record(m, 'ready');
  m.start();
  const [, spinning, info] = await next(m, 'exit');
  assert.equal(info.reason, 'max');
  assert.equal(spinning, false);
  assert.equal(m.times, 2);
  assert.equal(readies.length, 0);
  assert.deepEqual(
    restarting.map(([r]) => [r.reason, r.attempt]),
    [['readyTimeout', 1]],
  );
  assert.equal(restarting[0][0].signal, 'SIGKILL', "the monitor's killSignal");
});

test('the systemd notify protocol: READY=1 from a Python service, and from systemd-notify in a shell', async (t) => {
  if (!has('python3')) return t.skip('python3 is not installed');
  const m = monitor(t, ['python3', fixture('notify-ready.py'), '200'], {
    waitReady: true,
    readyTimeout: 5000,
  });
  const out = lines(m);
  const ready = next(m, 'ready');
  m.start();
  await ready;
  await until(
    () => out.some((l) => /^ready \d+$/.test(l.line)),
    5000,
    'the service to say it is up',
  );
  assert.equal(m.usage().state, 'running');

  if (!has('systemd-notify')) return;
  // systemd-notify sends from its own process, a child of the shell: the tree is heard.
  const sh = monitor(t, ['sh', '-c', 'sleep 0.1; systemd-notify --ready; exec sleep 1000'], {
    waitReady: true,
    readyTimeout: 5000,
  });
  const shReady = next(sh, 'ready');
  sh.start();
  await shReady;
});

test('a READY=1 from a process outside the tree is not heard', async (t) => {
  if (!has('python3')) return t.skip('python3 is not installed');
  // The outsider is started (its Python loaded) before the child: it sends READY=1 to each
  // address it reads on stdin, and answers "sent" or the error's name.
  const outsider = spawn(
    'python3',
    [
      '-u',
      '-c',
      [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        'print("up")',
        'for line in sys.stdin:',
        '    try:',
        '        s.sendto(b"READY=1", "\\0" + line.strip())',
        '        print("sent")',
        '    except OSError as e:',
        '        print(type(e).__name__)',
      ].join('\n'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.after(() => outsider.kill());
  const answers = [];
  let partial = '';
  outsider.stdout.setEncoding('utf8');
  outsider.stdout.on('data', (d) => {
    partial += d;
    const done = partial.split('\n');
    partial = done.pop();
    answers.push(...done);
  });
  await until(() => answers.includes('up'), 10000, 'the outsider to start');
  // readyTimeout counts from the spawn, and the outsider's datagram must reach the socket
  // within it for a run to show anything: on a loaded machine it may come too late (the
  // socket is gone: ConnectionRefusedError), and the run is tried again with twice the time.
  for (let readyTimeout = 800; ; readyTimeout *= 2) {
    const m = monitor(t, fixture('run-forever.js'), { waitReady: true, readyTimeout, max: 1 });
    const readies = record(m, 'ready');
    const started = next(m, 'start');
    const exited = next(m, 'exit', readyTimeout + 10000);
    m.start();
    await started;
    // The address is in the child's environment; the outsider sends to it.
    let env = [];
    try {
      env = fs.readFileSync(`/proc/${m.child.pid}/environ`, 'utf8').split('\0');
    } catch {
      // Gone already: its readyTimeout passed before this thread heard of its start.
    }
    const entry = env.find((e) => e.startsWith('NOTIFY_SOCKET='));
    if (entry === undefined) {
      // Too late to read its address (a loaded machine): the run is tried with more time.
      const [, , late] = await exited;
      assert.equal(late.reason, 'max');
      assert.equal(readies.length, 0);
      assert.ok(readyTimeout < 12800, 'the child never lived long enough to be read');
      continue;
    }
    const address = entry.slice('NOTIFY_SOCKET='.length);
    const asked = answers.length;
    outsider.stdin.write(`${address.slice(1)}\n`);
    await until(() => answers.length > asked, 10000, 'the outsider to send');
    const [, , info] = await exited;
    assert.equal(info.reason, 'max');
    assert.equal(readies.length, 0);
    if (answers[asked] === 'sent') break;
    assert.ok(
      readyTimeout < 12800,
      `the outsider never reached the socket in time: ${answers[asked]}`,
    );
  }
});

test('monitors share one copy of an equal environment, and the notify socket stays with its own', async (t) => {
  const environ = (pid) =>
    fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  const notify = (pid) => environ(pid).filter((e) => e.startsWith('NOTIFY_SOCKET='));
  const plain = monitor(t, fixture('run-forever.js'), { env: { FN_SHARED: 'x' } });
  const waits = monitor(t, fixture('run-forever.js'), {
    env: { FN_SHARED: 'x' },
    waitReady: true,
    readyTimeout: 60000,
  });
  const after = monitor(t, fixture('run-forever.js'), { env: { FN_SHARED: 'x' } });
  // The child's own first line (`ready <pid>`): its program runs, so /proc shows the
  // environment it was given (while the exec is still under way, /proc/<pid>/environ does
  // not show it yet).
  const out = new Map([plain, waits, after].map((m) => [m, lines(m)]));
  const running = (/** @type {Monitor} */ m) =>
    until(
      () => out.get(m).some((l) => l.line === `ready ${m.child.pid}`),
      10000,
      `child ${m.child.pid} to run`,
    );
  for (const m of [plain, waits, after]) {
    const started = next(m, 'start');
    m.start();
    await started;
    await running(m);
  }
  assert.equal(notify(waits.child.pid).length, 1);
  for (const m of [plain, after]) {
    assert.deepEqual(notify(m.child.pid), []);
    assert.ok(environ(m.child.pid).includes('FN_SHARED=x'));
  }
  // A restart of the first still gets the environment it was started with.
  const restarted = next(plain, 'restart');
  plain.restart();
  await restarted;
  await running(plain);
  assert.deepEqual(notify(plain.child.pid), []);
  assert.ok(environ(plain.child.pid).includes('FN_SHARED=x'));
});

test('watchdog: a child whose event loop hangs is taken down and restarted', async (t) => {
  // Without waitReady the first interval starts at the spawn: it must cover Node's boot,
  // which a loaded machine can stretch past half a second.
  const m = monitor(t, fixture('busy-after.js'), {
    fork: true,
    watchdog: 1500,
    args: ['600'],
    max: 2,
  });
  const out = lines(m);
  const restarting = next(m, 'restarting');
  m.start();
  const [info] = await restarting;
  assert.equal(info.reason, 'watchdog');
  const hung = out.find((l) => l.line.startsWith('hanging'));
  assert.ok(hung, 'the child hung before it was taken down');
  await next(m, 'exit');
});

test('watchdog pings over the notify socket keep a ready child alive until they stop', async (t) => {
  if (!has('python3')) return t.skip('python3 is not installed');
  // Ready at once, then pings every 100 ms for ever: not taken down while it pings. The
  // watchdog (2 s) leaves a loaded machine room to run the pinger late.
  const script = [
    'sh',
    '-c',
    `python3 ${fixture('notify-ready.py')} 0 100 & pid=$!; sleep 4; kill -STOP $pid; wait`,
  ];
  const m = monitor(t, script, { waitReady: true, watchdog: 2000, max: 1 });
  const ready = next(m, 'ready');
  const restarting = record(m, 'restarting');
  m.start();
  await ready;
  const t0 = Date.now();
  // The pings stop four seconds after the start (the pinger is stopped): then the watchdog
  // fires. Without them it would have fired 2 s after ready.
  const [, , info] = await next(m, 'exit');
  const elapsed = Date.now() - t0;
  assert.equal(info.reason, 'max');
  assert.ok(
    elapsed >= 3000,
    `taken down after ${elapsed} ms: the pings kept it alive until they stopped`,
  );
  assert.equal(restarting.length, 0);
});

test('maxMemory: a child growing 20 MB/s is restarted within two samples of crossing 100 MB', async (t) => {
  const m = monitor(t, fixture('grow-memory.js'), {
    maxMemory: '100M',
    memoryCheckInterval: 250,
    max: 2,
  });
  const out = lines(m);
  const restarting = next(m, 'restarting');
  m.start();
  const [info] = await restarting;
  const at = Date.now();
  assert.equal(info.reason, 'memory');
  assert.ok(info.rss > 100 * 1024 * 1024, `rss ${info.rss}`);
  const crossed = out.find((l) => Number(l.line.split(' ')[1]) > 100);
  assert.ok(crossed, 'the child reported crossing 100 MB');
  const late = at - crossed.at;
  // Two sampling intervals, plus the time the restart takes to be reported.
  assert.ok(late <= 2 * 250 + 400, `restarted ${late} ms after crossing`);
  await next(m, 'exit');
});

test("maxMemory counts what stop() kills: a double-forked daemon that left the tree is in the tree's memory and usage().treePids", async (t) => {
  const mark = `${process.pid}${Date.now()}`;
  t.after(() => {
    for (const pid of processesWith(mark)) process.kill(pid, 'SIGKILL');
  });
  // Child and daemon are ~45 MB each to begin with; the daemon then grows 20 MB/s.
  const m = monitor(t, fixture('spawn-memory-daemon.js'), {
    args: ['20', mark],
    maxMemory: '160M',
    memoryCheckInterval: 200,
    max: 2,
  });
  let out = '';
  /** @type {{pid: number, daemon: number, ppid?: number | null} | null} */
  let facts = null;
  m.on('stdout', (chunk) => {
    out += chunk;
    if (facts || !out.includes('\n')) return;
    facts = JSON.parse(out.slice(0, out.indexOf('\n')));
    // Its parent, while it runs (its parent link no longer leads to the child).
    try {
      facts.ppid = Number(
        fs.readFileSync(`/proc/${facts.daemon}/stat`, 'utf8').split(') ')[1].split(' ')[1],
      );
    } catch {
      facts.ppid = null;
    }
  });
  const restarting = next(m, 'restarting', 30000);
  const started = next(m, 'start');
  m.start();
  await started;
  // What usage() says of the first child, read as often as it may change.
  const first = m.child.pid;
  let most = 0;
  const reader = setInterval(() => {
    const u = m.usage();
    if (u.pid === first) most = Math.max(most, u.treePids ?? 0);
  }, 20);
  t.after(() => clearInterval(reader));
  const [info] = await restarting;
  clearInterval(reader);
  assert.equal(info.reason, 'memory');
  assert.ok(info.rss > 160 * 1024 * 1024, `rss ${info.rss}`);
  assert.ok(facts, 'the child said where its daemon is');
  assert.equal(facts.pid, first);
  assert.ok(
    facts.ppid && facts.ppid !== facts.pid,
    `the daemon had left the tree (its parent: ${facts.ppid})`,
  );
  assert.ok(most >= 2, `usage() counted the daemon (treePids up to ${most})`);
  // The restart takes it down with the child, found by its tag.
  const { daemon } = facts;
  await until(() => !isAlive(daemon), 5000, 'the daemon to die at the restart');
});

test('usage() is sane against /proc, never reads it on the caller, and keeps the last exit', async (t) => {
  const m = monitor(t, fixture('spawn-grandchildren.js'), {});
  assert.deepEqual(m.usage(), {
    pid: null,
    uptime: null,
    restarts: 0,
    cpu: null,
    rss: null,
    treeRss: null,
    treePids: null,
    sampledAt: null,
    state: 'idle',
    lastExit: null,
  });
  const started = next(m, 'start');
  m.start();
  await started;
  let u;
  await until(() => (u = m.usage()).rss !== null && u.treePids >= 2, 5000, 'a sample of the tree');
  const pid = m.child.pid;
  assert.equal(u.pid, pid);
  assert.equal(u.state, 'running');
  assert.equal(u.restarts, 0);
  const statm = Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  assert.ok(u.rss > statm / 2 && u.rss < statm * 2, `rss ${u.rss} vs /proc ${statm}`);
  assert.ok(u.treeRss >= u.rss);
  assert.ok(u.uptime >= 0 && u.uptime < 60000);
  assert.ok(Math.abs(u.sampledAt - Date.now()) < 5000);
  await until(() => m.usage().cpu !== null, 5000, 'a CPU figure (two samples)');
  assert.ok(m.usage().cpu >= 0);
  const restarted = next(m, 'restart');
  m.restart();
  await restarted;
  const after = m.usage();
  assert.equal(after.restarts, 1);
  assert.equal(after.lastExit.signal, 'SIGKILL');
  assert.equal(after.lastExit.code, null);
  assert.ok(after.lastExit.at <= Date.now());
});

test('shutdownMessage: a cooperative child exits on the message alone, with no signal', async (t) => {
  const m = monitor(t, fixture('shutdown-aware.js'), {
    fork: true,
    shutdownMessage: { cmd: 'shutdown' },
    shutdownTimeout: 5000,
    args: ['cooperative'],
  });
  const out = lines(m);
  const started = next(m, 'start');
  m.start();
  await started;
  await until(() => out.some((l) => l.line.startsWith('ready')), 5000, 'the child to listen');
  const code = next(m, 'exit:code');
  m.stop();
  assert.deepEqual(await code, [0, null], 'it exited by itself, with no signal');
  assert.ok(out.some((l) => l.line === 'shutdown message'));
});

test('shutdownMessage: a stubborn child gets the message, then killSignal, then SIGKILL', async (t) => {
  const m = monitor(t, fixture('shutdown-aware.js'), {
    fork: true,
    shutdownMessage: 'bye',
    shutdownTimeout: 200,
    killSignal: 'SIGTERM',
    killTTL: 300,
    args: ['stubborn'],
  });
  const out = lines(m);
  const started = next(m, 'start');
  m.start();
  await started;
  await until(() => out.some((l) => l.line.startsWith('ready')), 5000, 'the child to listen');
  const code = next(m, 'exit:code');
  m.stop();
  assert.deepEqual(await code, [null, 'SIGKILL']);
  assert.deepEqual(
    out.map((l) => l.line).filter((l) => l !== `ready ${m.child.pid}` && !l.startsWith('ready')),
    ['shutdown message', 'got SIGTERM'],
  );
});

test('shutdownMessage that cannot be sent is refused at new Monitor(), naming the option and why', () => {
  const cycle = {};
  cycle.self = cycle;
  const throwing = {
    toJSON() {
      throw new Error('toJSON said no');
    },
  };
  const LIMIT = 64 * 1024;
  // [what, message, serialization, class, code, pattern]
  const refused = [
    [
      'a BigInt',
      10n,
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage" option must be serializable as JSON \(serialization: "json"\)\. Received 10n \(Do not know how to serialize a BigInt\)/,
    ],
    [
      'a nested BigInt',
      { n: 1n },
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*Received an object \(Do not know how to serialize a BigInt\)/,
    ],
    [
      'a cycle',
      cycle,
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*as JSON.*Received an object \(Converting circular structure to JSON\)$/,
    ],
    [
      'a throwing toJSON',
      throwing,
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*Received an object \(toJSON said no\)/,
    ],
    [
      'a function',
      () => 1,
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*as JSON.*Received a function \(JSON\.stringify gives undefined\)/,
    ],
    [
      'a Symbol',
      Symbol('q'),
      'json',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*Received Symbol\(q\)/,
    ],
    [
      'a function (advanced)',
      () => 1,
      'advanced',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage" option must be serializable by V8's serializer \(serialization: "advanced"\)\. Received a function/,
    ],
    [
      'a Symbol (advanced)',
      Symbol('q'),
      'advanced',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*V8's serializer.*Received Symbol\(q\)/,
    ],
    [
      'an object with a method (advanced)',
      { f() {} },
      'advanced',
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      /"shutdownMessage".*V8's serializer.*could not be cloned/,
    ],
    [
      'one byte past 64 KiB',
      'x'.repeat(LIMIT - 1),
      'json',
      RangeError,
      'ERR_OUT_OF_RANGE',
      new RegExp(
        `"shutdownMessage" option must be at most ${LIMIT} bytes \\(64 KiB\\) serialized.*environment variable\\. Received a message of ${LIMIT + 1} bytes$`,
      ),
    ],
    [
      '64 KiB of characters that are 128 KiB of bytes',
      'é'.repeat(LIMIT / 2),
      'json',
      RangeError,
      'ERR_OUT_OF_RANGE',
      /"shutdownMessage".*at most 65536 bytes.*Received a message of 65538 bytes/,
    ],
    [
      '70 MB',
      'x'.repeat(70 * 1024 * 1024),
      'json',
      RangeError,
      'ERR_OUT_OF_RANGE',
      /"shutdownMessage".*at most 65536 bytes.*Received a message of 73400322 bytes/,
    ],
    [
      '70 MB (advanced)',
      { big: 'x'.repeat(70 * 1024 * 1024) },
      'advanced',
      RangeError,
      'ERR_OUT_OF_RANGE',
      /"shutdownMessage".*at most 65536 bytes/,
    ],
  ];
  for (const [what, message, serialization, type, code, pattern] of refused) {
    assert.throws(
      () => new Monitor('app.js', { fork: true, serialization, shutdownMessage: message }),
      (err) =>
        err instanceof type &&
        err.code === code &&
        pattern.test(err.message) &&
        err.message.length < 400,
      what,
    );
  }
  // What the channel can send, up to the bound, is taken as it is.
  const taken = [
    ['a string of exactly 64 KiB as JSON', 'x'.repeat(LIMIT - 2), 'json'],
    ['null', null, 'json'],
    ['0', 0, 'json'],
    ['an object whose toJSON works', { toJSON: () => 'bye' }, 'json'],
    ['a BigInt (advanced)', 10n, 'advanced'],
    ['a cycle (advanced)', cycle, 'advanced'],
    ['a Map (advanced)', new Map([[1, 2]]), 'advanced'],
    ['a Buffer (advanced)', Buffer.from('bye'), 'advanced'],
  ];
  for (const [what, message, serialization] of taken) {
    const m = new Monitor('app.js', { fork: true, serialization, shutdownMessage: message });
    assert.equal(m.shutdownMessage, message, what);
  }
  // The serialization may come from spawnWith, as Node's spawn reads it.
  assert.doesNotThrow(
    () =>
      new Monitor('app.js', {
        fork: true,
        spawnWith: { serialization: 'advanced' },
        shutdownMessage: 10n,
      }),
  );
  assert.throws(
    () =>
      new Monitor('app.js', {
        fork: true,
        spawnWith: { serialization: 'json' },
        shutdownMessage: 10n,
      }),
    TypeError,
  );
});

test('shutdownMessage changed after new Monitor() is checked again at start(): the error, and nothing spawned', async (t) => {
  const rows = [
    [10n, TypeError, 'ERR_INVALID_ARG_TYPE', /"shutdownMessage".*Received 10n/],
    [
      'x'.repeat(100000),
      RangeError,
      'ERR_OUT_OF_RANGE',
      /"shutdownMessage".*at most 65536 bytes.*Received a message of 100002 bytes/,
    ],
  ];
  for (const [message, type, code, pattern] of rows) {
    const m = monitor(t, fixture('shutdown-aware.js'), { fork: true, shutdownMessage: 'bye' });
    m.shutdownMessage = message;
    const errored = next(m, 'error');
    m.start();
    const [err] = await errored;
    assert.ok(err instanceof type && err.code === code && pattern.test(err.message), err.message);
    assert.equal(m.running, undefined, 'nothing was spawned');
    await assert.rejects(m.startAsync(), (e) => e instanceof type && e.code === code);
  }
});

test('shutdownMessage with serialization advanced: a JSON message reaches the helper; a BigInt one is sent, and the helper takes SIGTERM', async (t) => {
  const run = async (shutdownMessage, before) => {
    const m = monitor(t, fixture('shutdown-aware.js'), {
      fork: true,
      serialization: 'advanced',
      shutdownMessage,
      killSignal: 'SIGTERM',
      shutdownTimeout: 100,
      args: ['cooperative'],
    });
    const out = lines(m);
    await m.startAsync();
    await until(() => out.some((l) => l.line.startsWith('ready')), 5000, 'the child to start');
    const code = next(m, 'exit:code');
    if (before !== undefined) m.send(before);
    m.stop();
    assert.deepEqual(await code, [0, null], 'it exited by itself');
    return out.map((l) => l.line).filter((l) => !l.startsWith('ready'));
  };
  assert.deepEqual(await run({ cmd: 'shutdown' }), ['shutdown message']);
  // JSON cannot hold it, so the helper does not know it: the message does not crash the
  // child, and the kill signal that follows reaches onShutdown.
  assert.deepEqual(await run({ cmd: 'shutdown', n: 10n }), ['shutdown SIGTERM']);
  // Nor does another message JSON cannot hold, sent before the shutdown message.
  assert.deepEqual(await run({ cmd: 'shutdown' }, { other: 10n }), ['shutdown message']);
});

test('startAsync, restartAsync and stopAsync resolve and reject as documented', async (t) => {
  const m = monitor(t, fixture('run-forever.js'), {});
  assert.equal(await m.startAsync(), m);
  assert.equal(m.running, true);
  const pid = m.child.pid;
  assert.equal(await m.restartAsync(), m);
  assert.notEqual(m.child.pid, pid);
  assert.equal(await m.stopAsync(), m);
  assert.ok(!isAlive(pid));
  // Errors go to the promise, not to 'error' (which has no listener here: it would throw).
  await assert.rejects(m.stopAsync(), /Cannot stop process that is not running\./);
  const missing = new Monitor('/nonexistent/app.js', { silent: true });
  await assert.rejects(
    missing.startAsync(),
    /Target script does not exist: \/nonexistent\/app\.js/,
  );
  // With waitReady, start resolves at ready; a child never ready rejects once supervision ends.
  const r = monitor(t, fixture('ready-after.js'), { fork: true, waitReady: true, args: ['100'] });
  const readies = record(r, 'ready');
  await r.startAsync();
  assert.equal(readies.length, 1);
  const never = monitor(t, fixture('run-forever.js'), {
    fork: true,
    waitReady: true,
    readyTimeout: 200,
    max: 1,
  });
  await assert.rejects(
    never.startAsync(),
    (err) => err.code === 'ERR_SUPERVISION_ENDED' && err.reason === 'max',
  );
});

/** Settles each promise to 'ok' or its error's code, and counts them. */
async function outcomes(promises) {
  const counts = {};
  for (const r of await Promise.all(
    promises.map((p) =>
      p.then(
        () => 'ok',
        (e) => e.code || e.message,
      ),
    ),
  )) {
    counts[r] = (counts[r] || 0) + 1;
  }
  return counts;
}

test('any number of pending awaitable calls: no listener each, no MaxListenersExceededWarning, each settles', async (t) => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const m = monitor(t, fixture('run-forever.js'), {});
  const listeners = (x) =>
    Object.fromEntries(x.eventNames().map((e) => [String(e), x.listenerCount(e)]));
  const before = listeners(m);
  const N = 30;
  const many = (call) => Array.from({ length: N }, () => call());
  // The first start starts; the others find it under way.
  const starts = many(() => m.startAsync());
  assert.deepEqual(listeners(m), before, 'pending calls add no listeners');
  assert.deepEqual(await outcomes(starts), { ok: 1, ERR_ALREADY_RUNNING: N - 1 });
  // Restarts in a row all wait for a restart.
  const restarts = many(() => m.restartAsync());
  assert.deepEqual(listeners(m), before);
  assert.deepEqual(await outcomes(restarts), { ok: N });
  // One reload; the others find it in progress.
  assert.deepEqual(await outcomes(many(() => m.reloadAsync())), {
    ok: 1,
    ERR_RELOAD_IN_PROGRESS: N - 1,
  });
  // Stops: the first stops; the others join it, or find the child gone already.
  const stops = await outcomes(many(() => m.stopAsync()));
  assert.ok(stops.ok >= 1 && stops.ok + (stops.ERR_NOT_RUNNING || 0) === N, JSON.stringify(stops));
  assert.equal(m.running, false);
  assert.deepEqual(listeners(m), before, 'nothing left behind');
  // Supervision ending rejects every call waiting for a start (this child is never ready).
  const w = monitor(t, fixture('run-forever.js'), { fork: true, waitReady: true });
  const wBefore = listeners(w);
  const waiting = many(() => w.restartAsync());
  await next(w, 'restart');
  const stopped = w.stopAsync();
  assert.deepEqual(listeners(w), wBefore);
  assert.deepEqual(await outcomes([...waiting, stopped]), { ok: 1, ERR_SUPERVISION_ENDED: N });
  // A warning is emitted on a later tick: give it one.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warnings.filter((x) => x.name === 'MaxListenersExceededWarning').map((x) => x.message),
    [],
  );
});

test('pending awaitable calls hear the events emitted after they were made, as listeners would', async (t) => {
  const m = monitor(t, fixture('run-forever.js'), {});
  await m.startAsync();
  // A call made inside an 'exit' listener does not hear that 'exit' (which would reject
  // it: supervision ended), only what follows: it resolves on its own start.
  const inner = [];
  m.once('exit', () =>
    inner.push(
      m.startAsync().then(
        (x) => x === m && x.running,
        (e) => e.code,
      ),
    ),
  );
  await m.stopAsync();
  assert.deepEqual(await Promise.all(inner), [true]);
  assert.equal(await m.stopAsync(), m);
  // Listeners removed by the user do not take the calls' waiting away.
  const started = m.startAsync();
  m.removeAllListeners('start');
  m.removeAllListeners('exit');
  assert.equal(await started, m);
  assert.equal(await m.stopAsync(), m);
});

test('startAsync() while a start is under way or the child runs rejects with ERR_ALREADY_RUNNING, as start() emits', async (t) => {
  const m = monitor(t, fixture('run-forever.js'), {});
  const errors = record(m, 'error');
  const starts = record(m, 'start');
  m.start();
  // The first start's 'start' event is on its way: the second call must not take it as its own.
  await assert.rejects(
    m.startAsync(),
    (err) => err.code === 'ERR_ALREADY_RUNNING' && /already running/i.test(err.message),
  );
  await until(() => starts.length === 1, 5000, 'the first start');
  await assert.rejects(m.startAsync(), (err) => err.code === 'ERR_ALREADY_RUNNING');
  // start() says the same, as an 'error' event (the promise's errors never are).
  m.start();
  await until(() => errors.length === 1, 5000, "start()'s error");
  assert.equal(errors[0][0].code, 'ERR_ALREADY_RUNNING');
  assert.equal(starts.length, 1, 'one child');
  // Under way, with waitReady: the second call rejects too; the first resolves at ready.
  const r = monitor(t, fixture('ready-after.js'), { fork: true, waitReady: true, args: ['100'] });
  const first = r.startAsync();
  await assert.rejects(r.startAsync(), (err) => err.code === 'ERR_ALREADY_RUNNING');
  assert.equal(await first, r);
  // Stopped, it starts again.
  await m.stopAsync();
  assert.equal(await m.startAsync(), m);
});

test('the signal option: aborting stops the monitor; a start with an aborted signal is an error', async (t) => {
  const controller = new AbortController();
  const m = monitor(t, fixture('run-forever.js'), { signal: controller.signal });
  await m.startAsync();
  const pid = m.child.pid;
  const stopped = next(m, 'stop');
  controller.abort();
  await stopped;
  assert.ok(!isAlive(pid));
  const failed = next(m, 'error');
  m.start();
  const [err] = await failed;
  assert.equal(err.name, 'AbortError');
  assert.equal(m.running, false);
});

test('the signal option: one listener per signal, only while a monitor supervises; never-started monitors are not held', async (t) => {
  const { getEventListeners } = require('events');
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const controller = new AbortController();
  const { signal } = controller;
  const abortListeners = () => getEventListeners(signal, 'abort').length;
  // Monitors made, never started: the signal knows none of them.
  const idle = Array.from({ length: 30 }, () => monitor(t, fixture('run-forever.js'), { signal }));
  assert.equal(abortListeners(), 0);
  // One monitor, started and stopped again and again: one listener while it runs, none after.
  const m = idle[0];
  for (let i = 0; i < 5; i++) {
    await m.startAsync();
    assert.equal(abortListeners(), 1);
    await m.stopAsync();
    assert.equal(abortListeners(), 0);
  }
  // A monitor whose supervision ends by itself (max) leaves too.
  const once = monitor(t, fixture('crash-after.js'), { signal, args: ['0', '1'], max: 1 });
  const ended = next(once, 'exit');
  once.start();
  assert.equal(abortListeners(), 1);
  await ended;
  assert.equal(abortListeners(), 0);
  // Fifteen running at once share one listener; the abort stops each of them.
  const running = idle.slice(0, 15);
  await Promise.all(running.map((x) => x.startAsync()));
  assert.equal(abortListeners(), 1);
  const pids = running.map((x) => x.child.pid);
  const stops = running.map((x) => next(x, 'stop'));
  controller.abort();
  await Promise.all(stops);
  for (const pid of pids) assert.ok(!isAlive(pid));
  assert.ok(running.every((x) => x.running === false));
  assert.ok(
    idle.slice(15).every((x) => x.running === undefined),
    'the others were never started',
  );
  assert.equal(abortListeners(), 0);
  // An aborted signal: start() is an AbortError, startAsync() rejects with it; no listener.
  const late = monitor(t, fixture('run-forever.js'), { signal });
  await assert.rejects(late.startAsync(), { name: 'AbortError' });
  const failed = next(late, 'error');
  late.start();
  assert.equal((await failed)[0].name, 'AbortError');
  assert.equal(abortListeners(), 0);
  // The reason, when it is an error, is the error.
  const reason = new Error('shutting down');
  const given = monitor(t, fixture('run-forever.js'), { signal: AbortSignal.abort(reason) });
  await assert.rejects(given.startAsync(), (err) => err === reason);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
    [],
  );
});

test('the signal option: an abort while a restart waits stops the monitor, and it leaves the signal', async (t) => {
  const { getEventListeners } = require('events');
  const controller = new AbortController();
  const m = monitor(t, fixture('crash-after.js'), {
    signal: controller.signal,
    args: ['0', '1'],
    restartDelay: 60000,
  });
  const restarting = next(m, 'restarting');
  await m.startAsync();
  await restarting;
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  const stopped = next(m, 'stop');
  const exited = next(m, 'exit');
  controller.abort();
  await stopped;
  assert.equal((await exited)[2].reason, 'stopped');
  assert.equal(m.running, false);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test("health holds while the host's JavaScript is blocked", async (t) => {
  // A ready message that sits unread (JS is blocked) still counts: no false timeout. The
  // timeout ends within the block (so an unread message that did not count would fail this)
  // but leaves a loaded machine time to boot the child.
  const ready = monitor(t, fixture('ready-after.js'), {
    fork: true,
    waitReady: true,
    readyTimeout: 3000,
    args: ['50'],
    max: 1,
  });
  const restarted = record(ready, 'restarting');
  const started = next(ready, 'start');
  const isReady = next(ready, 'ready');
  ready.start();
  await started;
  // A hung child is caught by the watchdog, and restarted, while JS cannot run.
  const hung = monitor(t, fixture('busy-after.js'), { fork: true, watchdog: 500, args: ['100'] });
  const hungStart = next(hung, 'start');
  const hungRestart = next(hung, 'restart');
  hung.start();
  await hungStart;
  const firstPid = hung.child.pid;
  const blockedAt = Date.now();
  block(4000);
  const [, data] = await hungRestart;
  assert.ok(
    data.ctime < blockedAt + 4000,
    `the new child started at +${data.ctime - blockedAt} ms, while JS was blocked`,
  );
  assert.notEqual(data.pid, firstPid);
  await isReady;
  assert.equal(restarted.length, 0, 'the ready child was not taken down');
});

test('waitReady with a watchdog and no readyTimeout: a ready message JS has not read starts the watchdog', async (t) => {
  // The child says it is ready at once and never feeds the watchdog: it must be taken down
  // 300 ms after its ready, though the host's JS, which reads the IPC channel, is blocked.
  const m = monitor(t, fixture('ready-after.js'), {
    fork: true,
    waitReady: true,
    watchdog: 300,
    args: ['20'],
  });
  const restarting = record(m, 'restarting');
  const started = next(m, 'start');
  const restarted = next(m, 'restart');
  m.start();
  await started;
  const blockedAt = Date.now();
  block(2500);
  const [, data] = await restarted;
  assert.ok(
    data.ctime < blockedAt + 2500,
    `the new child started at +${data.ctime - blockedAt} ms, while JS was blocked`,
  );
  assert.equal(restarting[0][0].reason, 'watchdog');
});

test('bad health options are named', () => {
  const rows = [
    [{ waitReady: 'yes' }, TypeError, /"waitReady" option must be a boolean/],
    [
      { readyTimeout: 100 },
      RangeError,
      /"readyTimeout" option must be used with "waitReady: true"/,
    ],
    [
      { waitReady: true, readyTimeout: 0 },
      RangeError,
      /"readyTimeout" option must be a finite number > 0. Received 0/,
    ],
    [{ watchdog: '1s' }, TypeError, /"watchdog" option must be a number of milliseconds/],
    [
      { maxMemory: '12 parsecs' },
      RangeError,
      /"maxMemory" option must be a number of bytes or a size such as "512M"/,
    ],
    [{ maxMemory: 1000 }, RangeError, /"maxMemory" option must be a finite size of at least 1 MiB/],
    [{ maxMemory: true }, TypeError, /"maxMemory" option/],
    [
      { memoryCheckInterval: 5 },
      RangeError,
      /"memoryCheckInterval" option must be a finite number >= 10. Received 5/,
    ],
    [
      { shutdownMessage: 'bye' },
      RangeError,
      /"shutdownMessage" option must be used with "fork: true"/,
    ],
    [{ shutdownTimeout: -1 }, RangeError, /"shutdownTimeout" option must be a finite number >= 0/],
    [{ signal: {} }, TypeError, /"signal" option must be an AbortSignal/],
  ];
  for (const [options, type, message] of rows) {
    assert.throws(
      () => new Monitor('app.js', options),
      (err) => err instanceof type && message.test(err.message),
      JSON.stringify(options),
    );
  }
  const m = new Monitor('app.js', {
    maxMemory: '1.5G',
    fork: true,
    shutdownMessage: { cmd: 'stop' },
  });
  assert.equal(m.maxMemory, 1.5 * 1024 ** 3);
  assert.deepEqual(m.shutdownMessage, { cmd: 'stop' });
  const d = new Monitor('app.js');
  assert.deepEqual(
    [
      d.waitReady,
      d.readyTimeout,
      d.watchdog,
      d.maxMemory,
      d.memoryCheckInterval,
      'shutdownMessage' in d,
    ],
    [false, undefined, undefined, undefined, 1000, false],
  );
});
