// Behaviours of forever-monitor that code in the wild relies on, found by auditing its
// source field by field and event by event.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Writable } = require('stream');
const { Monitor } = require('..');
const { fixture, next, record, until, stopAfter } = require('./helpers');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-dropin-'));

test('kill(false) during a spin sleep is no error, and the restart goes ahead', async (t) => {
  const m = stopAfter(t, new Monitor(['sh', '-c', 'exit 1'], { silent: true, minUptime: 60000, spinSleepTime: 300, max: 2 }));
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
  const sink = (list) => new Writable({
    write(chunk, _enc, cb) {
      list.push(String(chunk));
      cb();
    },
  });
  const stdout = sink(chunks.out);
  const stderr = sink(chunks.err);
  const outFile = path.join(tmp, 'custom.out.log');
  const errFile = path.join(tmp, 'custom.err.log');
  const m = new Monitor(['sh', '-c', 'echo to-out; echo to-err >&2'], { silent: true, outFile, errFile, stdout, stderr, max: 1 });
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

test('spawnWith.serialization is the channel\'s, as child_process.spawn reads it', async (t) => {
  const m = stopAfter(t, new Monitor(fixture('ipc-echo.js'), { silent: true, fork: true, spawnWith: { serialization: 'advanced' } }));
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
  assert.match(mine[0].message, /"spawnWith.timeout" option \(1000\) is not used by forever-native/);
});

test('data holds no env: forever-monitor never had the field, and forever list would show it', () => {
  const m = new Monitor('app.js', { env: { SECRET: 'x' } });
  assert.equal('env' in m.data, false);
  assert.deepEqual(m.env, { SECRET: 'x' });
});

test("the forever CLI's view: data, times and child.pid through a restart", async (t) => {
  const m = stopAfter(t, new Monitor(fixture('run-forever.js'), { silent: true, uid: 'abcd', id: 'web' }));
  const started = next(m, 'start');
  m.start();
  const [, data] = await started;
  for (const key of ['ctime', 'command', 'file', 'foreverPid', 'args', 'pid', 'silent', 'uid', 'id', 'spawnWith', 'running', 'restarts', 'isMaster']) {
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
    for (const name of ['start', 'restart', 'exit:code', 'exit', 'stop']) m.on(name, () => seen.push(name));
    const started = next(m, 'start');
    m.start();
    await started;
    // JS stays busy until the core has seen the end (its report waits for JS).
    const deadline = Date.now() + 5000;
    while (m.usage().state !== 'idle' && Date.now() < deadline);
    assert.equal(m.usage().state, 'idle', 'the core saw the end');
    assert.equal(m.running, true, 'JS has not heard of it yet');
    const result = m[call]();
    if (call.endsWith('Async')) await result;
    await until(() => seen.length >= order.length, 10000, `${order.join(', ')}: ${seen}`);
    assert.deepEqual(seen.slice(0, order.length), order);
    // A start is refused, as forever-monitor refused it (the child still ran, for JS).
    assert.deepEqual(errors.map(([e]) => e.message), call === 'start' ? ['Cannot start process that is already running.'] : []);
    // The run ends once: for a restart, when its new child ends (max: 1).
    await until(() => seen.includes('exit'), 10000, `an exit: ${seen}`);
    if (call.startsWith('restart')) assert.deepEqual(seen.slice(order.length), ['exit:code', 'exit']);
    assert.equal(m.running, false);
  });
}
