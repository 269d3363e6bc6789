// forever-monitor's restart rules, through the public Monitor.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Monitor } = require('..');
const { fixture, next, record } = require('./helpers');

const crash = (ms = 0, code = 1) => [
  fixture('crash-after.js'),
  { args: [String(ms), String(code)] },
];

function monitor(script, options) {
  return new Monitor(script, { silent: true, ...options });
}

test('max counts runs: a crashing child runs exactly max times', async () => {
  const [script, base] = crash(0, 3);
  const m = monitor(script, { ...base, max: 3 });
  const starts = record(m, 'start');
  const restarts = record(m, 'restart');
  const codes = record(m, 'exit:code');
  m.start();
  const [self, spinning] = await next(m, 'exit');
  assert.equal(self, m);
  assert.equal(spinning, false);
  assert.equal(starts.length, 1);
  assert.equal(restarts.length, 2);
  assert.deepEqual(codes, [
    [3, null],
    [3, null],
    [3, null],
  ]);
  assert.equal(m.times, 3);
  assert.equal(m.running, false);
  assert.equal(m.data.restarts, 3);
});

test('start and restart events carry the monitor and its data, with the new pid', async () => {
  const [script, base] = crash(0, 1);
  const m = monitor(script, { ...base, max: 2 });
  m.start();
  const [self, data] = await next(m, 'start');
  assert.equal(self, m);
  assert.equal(data.pid, m.child.pid);
  const firstPid = data.pid;
  const [, restartData] = await next(m, 'restart');
  assert.notEqual(restartData.pid, firstPid);
  assert.equal(restartData.running, true);
  await next(m, 'exit');
});

test('a spinning child without spinSleepTime is let die, with spinning = true', async () => {
  const [script, base] = crash(0, 1);
  const m = monitor(script, { ...base, minUptime: 60000 });
  const restarts = record(m, 'restart');
  m.start();
  const [, spinning] = await next(m, 'exit');
  assert.equal(spinning, true);
  assert.equal(restarts.length, 0);
  assert.equal(m.running, false);
});

test('a spinning child with spinSleepTime is restarted after the sleep', async () => {
  const [script, base] = crash(0, 1);
  const m = monitor(script, { ...base, minUptime: 60000, spinSleepTime: 50, max: 3 });
  const restarts = record(m, 'restart');
  m.start();
  const [, spinning] = await next(m, 'exit');
  assert.equal(spinning, true);
  assert.equal(restarts.length, 2);
});

test('stop() ends supervision: exit:code, exit, then stop, and no restart', async () => {
  const m = monitor(fixture('run-forever.js'));
  const order = [];
  for (const e of ['exit:code', 'exit', 'stop', 'restart']) m.on(e, () => order.push(e));
  m.start();
  await next(m, 'start');
  const pid = m.child.pid;
  m.stop();
  const [childData] = await next(m, 'stop');
  assert.deepEqual(order, ['exit:code', 'exit', 'stop']);
  assert.equal(childData.pid, pid);
  assert.equal(m.running, false);
});

test('exit:code reports the signal for a killed child (default killSignal SIGKILL)', async () => {
  const m = monitor(fixture('run-forever.js'));
  m.start();
  await next(m, 'start');
  m.stop();
  const [code, signal] = await next(m, 'exit:code');
  assert.equal(code, null);
  assert.equal(signal, 'SIGKILL');
});

test('restart() of a running child: exit:code, stop, then restart with a new pid', async () => {
  const m = monitor(fixture('run-forever.js'), { max: 1 });
  const order = [];
  for (const e of ['exit:code', 'exit', 'stop', 'restart']) m.on(e, () => order.push(e));
  m.start();
  await next(m, 'start');
  const first = m.child.pid;
  m.restart();
  await next(m, 'restart');
  assert.deepEqual(order, ['exit:code', 'stop', 'restart']);
  assert.notEqual(m.child.pid, first);
  assert.equal(m.running, true);
  m.stop();
  await next(m, 'stop');
});

test('restart() of a stopped monitor starts it, reported as restart', async () => {
  const m = monitor(fixture('run-forever.js'));
  m.restart();
  const [self] = await next(m, 'restart');
  assert.equal(self.running, true);
  m.stop();
  await next(m, 'stop');
});

test('kill(false) kills the child and lets the rules restart it', async () => {
  const m = monitor(fixture('run-forever.js'));
  m.start();
  await next(m, 'start');
  const first = m.child.pid;
  m.kill(false);
  await next(m, 'restart');
  assert.notEqual(m.child.pid, first);
  m.stop();
  await next(m, 'stop');
});

test('stop() during a spin sleep stops at once and emits exit and stop', async () => {
  const [script, base] = crash(0, 1);
  const m = monitor(script, { ...base, minUptime: 60000, spinSleepTime: 60000 });
  const restarts = record(m, 'restart');
  m.start();
  await next(m, 'exit:code');
  assert.equal(m.running, true, 'still supervised while sleeping');
  const stopped = next(m, 'stop');
  m.stop();
  const [, spinning] = await next(m, 'exit');
  assert.equal(spinning, true);
  await stopped;
  assert.equal(m.running, false);
  assert.equal(restarts.length, 0);
});

test("start() of a running monitor emits forever-monitor's error", async () => {
  const m = monitor(fixture('run-forever.js'));
  m.start();
  await next(m, 'start');
  assert.equal(m.start(), m);
  const [err] = await next(m, 'error');
  assert.equal(err.message, 'Cannot start process that is already running.');
  m.stop();
  await next(m, 'stop');
});

test("stop() of a monitor that is not running emits forever-monitor's error", async () => {
  const m = monitor(fixture('run-forever.js'));
  assert.equal(m.stop(), m);
  const [err] = await next(m, 'error');
  assert.equal(err.message, 'Cannot stop process that is not running.');
  m.start();
  await next(m, 'start');
  m.stop();
  await next(m, 'stop');
  m.stop();
  const [again] = await next(m, 'error');
  assert.equal(again.message, 'Cannot stop process that is not running.');
});

test('a monitor can be started again after it gave up, and times keeps counting', async () => {
  const [script, base] = crash(0, 1);
  const m = monitor(script, { ...base, max: 1 });
  m.start();
  await next(m, 'exit');
  assert.equal(m.times, 1);
  m.start();
  await next(m, 'exit');
  assert.equal(m.times, 2);
});

test('killSignal and killTTL: a child ignoring SIGTERM is killed after killTTL', async () => {
  const m = monitor(fixture('ignore-sigterm.js'), { killSignal: 'SIGTERM', killTTL: 200 });
  const out = [];
  m.on('stdout', (d) => out.push(String(d)));
  m.start();
  await next(m, 'stdout');
  const stopped = next(m, 'stop');
  m.stop();
  const [code, signal] = await next(m, 'exit:code');
  assert.equal(code, null);
  assert.equal(signal, 'SIGKILL');
  await stopped;
  assert.match(out.join(''), /got SIGTERM/);
});

test('a child that exits on killSignal reports that signal', async () => {
  const m = monitor(fixture('run-forever.js'), { killSignal: 'SIGTERM' });
  m.start();
  await next(m, 'start');
  m.stop();
  const [, signal] = await next(m, 'exit:code');
  assert.equal(signal, 'SIGTERM');
});
