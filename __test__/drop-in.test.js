// Behaviours of forever-monitor that code in the wild relies on, found by auditing its
// source field by field and event by event.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Writable } = require('stream');
const { Monitor } = require('..');
const { fixture, next, record, until, stopAfter, tempDir } = require('./helpers');

const tmp = tempDir('fn-dropin-');

test('kill(false) during a spin sleep is no error, and the restart goes ahead', async (t) => {
  const m = stopAfter(
    t,
    new Monitor(['sh', '-c', 'exit 1'], {
      silent: true,
      minUptime: 60000,
      spinSleepTime: 300,
      max: 2,
    }),
  );
  const errors = record(m, 'error');
  const restarting = next(m, 'restarting');
  m.start();
  await restarting;
  assert.equal(m.running, true, 'forever-monitor keeps running true while it sleeps');
  m.kill(false);
  await next(m, 'restart');
  await next(m, 'exit');
  assert.deepEqual(errors, []);
});

test('options.stdout / options.stderr (writable streams, with outFile/errFile) take the place of the files', async () => {
  const chunks = { out: [], err: [] };
  const sink = (list) =>
    new Writable({
      write(chunk, _enc, cb) {
        list.push(String(chunk));
        cb();
      },
    });
  const stdout = sink(chunks.out);
  const stderr = sink(chunks.err);
  const outFile = path.join(tmp, 'custom.out.log');
  const errFile = path.join(tmp, 'custom.err.log');
  const m = new Monitor(['sh', '-c', 'echo to-out; echo to-err >&2'], {
    silent: true,
    outFile,
    errFile,
    stdout,
    stderr,
    max: 1,
  });
  assert.equal(m.stdout, stdout);
  assert.equal(m.stderr, stderr);
  m.start();
  await next(m, 'exit');
  assert.equal(chunks.out.join(''), 'to-out\n');
  assert.equal(chunks.err.join(''), 'to-err\n');
  // As forever-monitor's logger: the files are not written, and the streams end with supervision.
  assert.equal(fs.existsSync(outFile), false);
  assert.equal(fs.existsSync(errFile), false);
  assert.equal(m.stdout, null);
  assert.equal(stdout.destroyed, true);
});

test("spawnWith.serialization is the channel's, as child_process.spawn reads it", async (t) => {
  const m = stopAfter(
    t,
    new Monitor(fixture('ipc-echo.js'), {
      silent: true,
      fork: true,
      spawnWith: { serialization: 'advanced' },
    }),
  );
  assert.equal(m.serialization, 'advanced');
  const hello = next(m, 'message');
  m.start();
  await hello;
  const got = next(m, 'message');
  m.send(new Map([['a', 1]]));
  const [answer] = await got;
  assert.ok(answer.message instanceof Map, 'a Map came back');
  assert.equal(answer.message.get('a'), 1);
});

test('spawnWith fields that are not used here are named once in a warning', async () => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    new Monitor('app.js', { spawnWith: { timeout: 1000 } });
    new Monitor('app.js', { spawnWith: { timeout: 2000 } });
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  const mine = warnings.filter((w) => w.code === 'FOREVER_NATIVE_UNSUPPORTED_OPTION');
  assert.equal(mine.length, 1);
  assert.match(
    mine[0].message,
    /"spawnWith.timeout" option \(1000\) is not used by forever-native/,
  );
});

test('data holds no env: forever-monitor never had the field, and forever list would show it', () => {
  const m = new Monitor('app.js', { env: { SECRET: 'x' } });
  assert.equal('env' in m.data, false);
  assert.deepEqual(m.env, { SECRET: 'x' });
});

test("the forever CLI's view: data, times and child.pid through a restart", async (t) => {
  const m = stopAfter(
    t,
    new Monitor(fixture('run-forever.js'), { silent: true, uid: 'abcd', id: 'web' }),
  );
  const started = next(m, 'start');
  m.start();
  const [, data] = await started;
  for (const key of [
    'ctime',
    'command',
    'file',
    'foreverPid',
    'args',
    'pid',
    'silent',
    'uid',
    'id',
    'spawnWith',
    'running',
    'restarts',
    'isMaster',
  ]) {
    assert.ok(key in data, key);
  }
  const restarted = next(m, 'restart');
  m.restart();
  const [, after] = await restarted;
  assert.equal(after.restarts, 1);
  assert.equal(m.child.pid, after.pid);
  await until(() => m.running === true, 1000, 'running');
});

// A call made after the child ended but before JS heard of it (its JavaScript was busy):
// forever-monitor still took the child for running, so its calls refused nothing and
// acted on the end when it was reported. The core has ended the run by then.
for (const [call, order] of [
  ['restart', ['start', 'exit:code', 'stop', 'restart']],
  ['restartAsync', ['start', 'exit:code', 'stop', 'restart']],
  ['stop', ['start', 'exit:code', 'exit', 'stop']],
  ['stopAsync', ['start', 'exit:code', 'exit', 'stop']],
  ['kill', ['start', 'exit:code', 'exit', 'stop']],
  ['start', ['start', 'exit:code', 'exit']],
]) {
  test(`${call}() after the child ended, before JS heard: as forever-monitor, ${order.slice(1).join(', ')}`, async (t) => {
    const m = stopAfter(t, new Monitor(['sh', '-c', 'exit 3'], { max: 1, silent: true }));
    const seen = [];
    const errors = record(m, 'error');
    for (const name of ['start', 'restart', 'exit:code', 'exit', 'stop'])
      m.on(name, () => seen.push(name));
    const started = next(m, 'start');
    m.start();
    await started;
    // JS stays busy until the core has seen the end (its report waits for JS).
    const deadline = Date.now() + 5000;
    while (m.usage().state !== 'idle' && Date.now() < deadline);
    assert.equal(m.usage().state, 'idle', 'the core saw the end');
    assert.equal(m.running, true, 'JS has not heard of it yet');
    const result = m[call]();
    if (call.endsWith('Async')) await within(result, `${call}()`);
    await until(() => seen.length >= order.length, 10000, `${order.join(', ')}: ${seen}`);
    assert.deepEqual(seen.slice(0, order.length), order);
    // A start is refused, as forever-monitor refused it (the child still ran, for JS).
    assert.deepEqual(
      errors.map(([e]) => e.message),
      call === 'start' ? ['Cannot start process that is already running.'] : [],
    );
    // The run ends once: for a restart, when its new child ends (max: 1).
    await until(() => seen.includes('exit'), 10000, `an exit: ${seen}`);
    if (call.startsWith('restart'))
      assert.deepEqual(seen.slice(order.length), ['exit:code', 'exit']);
    assert.equal(m.running, false);
  });
}

/** `promise`, or a rejection naming `what` after `ms`: a regression fails, never hangs. */
function within(promise, what, ms = 10000) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Starts `m` and keeps JS busy until the core has seen its child end (state `until`). */
async function endUnheard(m, until = 'idle') {
  const started = next(m, 'start');
  m.start();
  await started;
  const deadline = Date.now() + 5000;
  while (m.usage().state !== until && Date.now() < deadline);
  assert.equal(m.usage().state, until, 'the core saw the end');
  assert.equal(m.running, true, 'JS has not heard of it yet');
}

test('with watch, in that window: a stop wins over a later restart, and restartAsync() resolves', async (t) => {
  const dir = fs.mkdtempSync(path.join(tmp, 'watch-'));
  const watching = { max: 1, silent: true, watch: true, watchDirectory: dir };
  const a = stopAfter(t, new Monitor(['sh', '-c', 'exit 3'], watching));
  const seenA = [];
  for (const name of ['start', 'restart', 'exit:code', 'exit', 'stop'])
    a.on(name, () => seenA.push(name));
  await endUnheard(a, 'waiting');
  const stopped = a.stopAsync();
  a.restart();
  await within(stopped, 'stopAsync()');
  await until(() => a.usage().state === 'idle', 5000, 'supervision to end');
  assert.deepEqual(seenA, ['start', 'exit:code', 'exit', 'stop']);
  assert.equal(a.running, false);

  const b = stopAfter(t, new Monitor(['sh', '-c', 'exit 3'], watching));
  const seenB = [];
  for (const name of ['start', 'restart', 'exit:code', 'exit', 'stop'])
    b.on(name, () => seenB.push(name));
  await endUnheard(b, 'waiting');
  await within(b.restartAsync(), 'restartAsync()');
  assert.deepEqual(seenB.slice(0, 4), ['start', 'exit:code', 'stop', 'restart']);
});

test('in that window, a restartAsync() whose start fails rejects with the error, not an error event', async (t) => {
  const dir = fs.mkdtempSync(path.join(tmp, 'gone-'));
  const script = path.join(dir, 'app.sh');
  fs.writeFileSync(script, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  const m = stopAfter(t, new Monitor([script], { max: 1, silent: true }));
  const errors = record(m, 'error');
  await endUnheard(m);
  fs.unlinkSync(script);
  await assert.rejects(within(m.restartAsync(), 'restartAsync()'), { code: 'ENOENT' });
  await until(() => m.running === false, 5000, 'the end to be reported');
  assert.deepEqual(errors, []);
});

test('in that window, an abort of the signal option after a restart() stops cleanly', async (t) => {
  const controller = new AbortController();
  const m = stopAfter(
    t,
    new Monitor(['sh', '-c', 'exit 3'], { max: 1, silent: true, signal: controller.signal }),
  );
  const seen = [];
  const errors = record(m, 'error');
  for (const name of ['start', 'restart', 'exit:code', 'exit', 'stop'])
    m.on(name, () => seen.push(name));
  await endUnheard(m);
  m.restart();
  controller.abort();
  await until(() => seen.includes('stop'), 5000, `a stop: ${seen}`);
  assert.deepEqual(seen, ['start', 'exit:code', 'exit', 'stop']);
  assert.deepEqual(errors, []);
  assert.equal(m.running, false);
});

test('falsy values forever-monitor reads as unset (`options.x || default`, or `if (this.x)`) are the defaults here', () => {
  const cases = [
    ['outFile', false],
    ['errFile', false],
    ['logFile', false],
    ['pidFile', false],
    ['sourceDir', false],
    ['cwd', false],
    ['command', false],
    ['killSignal', false],
    ['killSignal', 0],
    ['killSignal', ''],
    ['env', false],
    ['args', false],
    ['hideEnv', ''],
    ['stdio', false],
    ['spawnWith', ''],
    ['watchIgnorePatterns', false],
    ['uid', false],
    ['parser', false],
    ['max', false],
    ['minUptime', false],
    ['spinSleepTime', false],
    ['killTTL', false],
    ['pollingInterval', false],
  ];
  const field = (k) => (k === 'env' ? '_env' : k);
  const plain = new Monitor('app.js', {});
  for (const [k, v] of cases) {
    const m = new Monitor('app.js', { [k]: v });
    if (k === 'uid') assert.equal(typeof m.uid, 'string', 'a random uid');
    else assert.deepEqual(m[field(k)], plain[field(k)], `${k}: ${JSON.stringify(v)}`);
  }
});

test('a frozen spawnWith works as on forever-monitor (its fields are filled in on a copy)', async () => {
  const m = new Monitor(fixture('print-env.js'), {
    silent: true,
    max: 1,
    spawnWith: Object.freeze({ detached: 1 }),
  });
  const out = [];
  m.on('stdout', (d) => out.push(String(d)));
  const errors = record(m, 'error');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(errors, []);
  assert.ok(out.join('').length > 0, 'the child ran and printed');
});

test('_env changed after construction: numbers reach the child as strings; a bad value is named at start()', async () => {
  const m = new Monitor(['sh', '-c', 'echo "$PORT $OTHER"'], { env: { PORT: 3000 }, max: 1 });
  m.silent = true;
  m._env.OTHER = 5;
  const out = [];
  m.on('stdout', (d) => out.push(String(d)));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.equal(out.join('').trim(), '3000 5');

  const bad = new Monitor(['sh', '-c', 'true'], { silent: true, max: 1 });
  bad._env = { A: {} };
  const error = next(bad, 'error');
  bad.start();
  const [err] = await error;
  assert.ok(err instanceof TypeError);
  assert.match(err.message, /"env\.A" option/);
});
