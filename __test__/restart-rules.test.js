// The restart rules added to forever-monitor's: restartDelay, backoff, autorestart,
// stopExitCodes, restartWindow, and the 'restarting' event, with real children.
// Delays are checked from the core's own reports, and against the clock only with margins.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Monitor } = require('..');
const { fixture, next, record, until, stopAfter, tempDir } = require('./helpers');

/** A child that exits with `code` at once. */
const exiting = (code) => ['sh', '-c', `exit ${code}`];

function monitor(t, script, options) {
  return stopAfter(t, new Monitor(script, { silent: true, ...options }));
}

async function stop(m) {
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
}

test('restartDelay: every automatic restart waits, and says so in a restarting event', async (t) => {
  const m = monitor(t, exiting(1), { restartDelay: 300, max: 3 });
  const restarting = record(m, 'restarting');
  // The core's own start times (ctime), so that a busy test runner, which hears of events
  // late, cannot make a gap look shorter or longer than it was.
  const starts = [];
  m.on('start', (_m, data) => starts.push(data.ctime));
  m.on('restart', (_m, data) => starts.push(data.ctime));
  m.start();
  const [, spinning, info] = await next(m, 'exit');
  assert.equal(spinning, false);
  assert.deepEqual(info, { reason: 'max', code: 1, signal: null });
  assert.deepEqual(
    restarting.map(([r]) => r),
    [
      { reason: 'exit', delay: 300, attempt: 1, code: 1, signal: null },
      { reason: 'exit', delay: 300, attempt: 2, code: 1, signal: null },
    ],
  );
  // Start to start is the child's run plus the delay: never less than the delay (the
  // core's timer may fire late, never early).
  assert.equal(starts.length, 3);
  for (let i = 1; i < 3; i++) {
    const gap = starts[i] - starts[i - 1];
    assert.ok(gap >= 300 && gap < 5000, `start to start ${gap} ms`);
  }
});

test('backoff: 100, 150, 225 ... without jitter, and starts again after resetAfter', async (t) => {
  const m = monitor(t, exiting(1), { backoff: { jitter: 0, resetAfter: 60000 }, max: 5 });
  const restarting = record(m, 'restarting');
  m.start();
  await next(m, 'exit');
  assert.deepEqual(
    restarting.map(([r]) => [r.delay, r.attempt]),
    [
      [100, 1],
      [150, 2],
      [225, 3],
      [338, 4],
    ],
  );
  assert.deepEqual(m.backoff, {
    initial: 100,
    factor: 1.5,
    max: 15000,
    jitter: 0,
    resetAfter: 60000,
  });

  // A child that stayed up resetAfter (here 300 ms) makes the next restart attempt 1 again.
  const tmp = tempDir('fn-backoff-');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const file = path.join(tmp, 'runs');
  // Runs 1 and 2 crash at once; run 3 stays up 600 ms; run 4 crashes at once.
  const script = [
    'sh',
    '-c',
    `echo x >> ${file}; n=$(wc -l < ${file}); [ "$n" -eq 3 ] && sleep 0.6; exit 1`,
  ];
  const r = monitor(t, script, {
    backoff: { initial: 50, factor: 2, jitter: 0, resetAfter: 300 },
    max: 4,
  });
  const seen = record(r, 'restarting');
  r.start();
  await next(r, 'exit');
  assert.deepEqual(
    seen.map(([e]) => [e.delay, e.attempt]),
    [
      [50, 1],
      [100, 2],
      [50, 1],
    ],
  );
});

test("backoff jitter stays within its fraction, and backoff: true is PM2's", async (t) => {
  const m = monitor(t, exiting(1), { backoff: { initial: 200, factor: 1, jitter: 0.5 }, max: 6 });
  const restarting = record(m, 'restarting');
  m.start();
  await next(m, 'exit');
  assert.equal(restarting.length, 5);
  for (const [r] of restarting) assert.ok(r.delay >= 100 && r.delay <= 200, `delay ${r.delay}`);
  const defaults = new Monitor('app.js', { backoff: true });
  assert.deepEqual(defaults.backoff, {
    initial: 100,
    factor: 1.5,
    max: 15000,
    jitter: 0.1,
    resetAfter: 30000,
  });
});

test('the longest of spinSleepTime, restartDelay and backoff applies', async (t) => {
  const m = monitor(t, exiting(1), {
    minUptime: 5000,
    spinSleepTime: 250,
    restartDelay: 120,
    backoff: { jitter: 0 },
    max: 2,
  });
  const restarting = record(m, 'restarting');
  m.start();
  await next(m, 'exit');
  assert.deepEqual(
    restarting.map(([r]) => [r.reason, r.delay]),
    [['spinning', 250]],
  );
});

test("autorestart: 'on-failure' ends on exit code 0 and restarts other codes", async (t) => {
  const ok = monitor(t, exiting(0), { autorestart: 'on-failure' });
  const restarts = record(ok, 'restart');
  ok.start();
  const [, , info] = await next(ok, 'exit');
  assert.deepEqual(info, { reason: 'exitCode', code: 0, signal: null });
  assert.equal(restarts.length, 0);
  assert.equal(ok.running, false);

  const failing = monitor(t, exiting(2), { autorestart: 'on-failure', max: 3 });
  failing.start();
  const [, , why] = await next(failing, 'exit');
  assert.equal(why.reason, 'max');
  assert.equal(failing.times, 3);
});

test("autorestart: 'never' (or false) runs once; stopExitCodes end on a listed code", async (t) => {
  for (const autorestart of ['never', false]) {
    const m = monitor(t, exiting(1), { autorestart });
    m.start();
    const [, , info] = await next(m, 'exit');
    assert.equal(info.reason, 'never');
    assert.equal(m.times, 1);
  }
  const script = ['sh', '-c', 'echo x >> "$F"; [ $(wc -l < "$F") -ge 3 ] && exit 78; exit 1'];
  const file = path.join(tempDir('fn-codes-'), 'runs');
  const m = monitor(t, script, { stopExitCodes: [78], env: { F: file } });
  const codes = record(m, 'exit:code');
  m.start();
  const [, , info] = await next(m, 'exit');
  assert.deepEqual(info, { reason: 'exitCode', code: 78, signal: null });
  assert.deepEqual(
    codes.map(([c]) => c),
    [1, 1, 78],
  );
});

test('restartWindow: more than count restarts within the window gives up', async (t) => {
  const m = monitor(t, exiting(1), { restartWindow: { count: 2, window: 60000 } });
  const restarting = record(m, 'restarting');
  m.start();
  const [, , info] = await next(m, 'exit');
  assert.equal(info.reason, 'window');
  assert.equal(m.times, 3, 'the first run and two restarts');
  assert.equal(restarting.length, 2);
});

test('restart() during the wait restarts at once; stop() during it ends supervision with reason stopped', async (t) => {
  const m = monitor(t, exiting(1), { restartDelay: 60000 });
  const waiting = next(m, 'restarting');
  m.start();
  const [info] = await waiting;
  assert.equal(info.delay, 60000);
  const restarted = next(m, 'restart');
  m.restart();
  await restarted;

  const s = monitor(t, exiting(1), { restartDelay: 60000 });
  const pending = next(s, 'restarting');
  s.start();
  await pending;
  const exit = next(s, 'exit');
  const stopped = next(s, 'stop');
  s.stop();
  const [, , why] = await exit;
  await stopped;
  assert.deepEqual(why, { reason: 'stopped', code: 1, signal: null });
  assert.equal(s.running, false);
  const again = record(s, 'restart');
  // Nothing was left scheduled.
  const witness = monitor(t, exiting(1), { max: 1 });
  witness.start();
  await next(witness, 'exit');
  assert.equal(again.length, 0);
});

test("a restart delay is kept by the core while the host's JavaScript is blocked", async (t) => {
  const file = path.join(tempDir('fn-blocked-'), 'stamps');
  // Each child notes when it started (ms), then crashes.
  const script = ['sh', '-c', `echo $(($(date +%s%N) / 1000000)) >> ${file}; exit 1`];
  const m = monitor(t, script, { restartDelay: 200 });
  const started = next(m, 'start');
  m.start();
  await started;
  // Two seconds with the JS thread busy: no event can be handled meanwhile.
  const until = Date.now() + 2000;
  while (Date.now() < until) {
    /* busy */
  }
  const stamps = fs.readFileSync(file, 'utf8').trim().split('\n').map(Number);
  await stop(m);
  assert.ok(
    stamps.length >= 5,
    `${stamps.length} children started while JS was blocked (about 10 expected)`,
  );
  for (let i = 1; i < stamps.length; i++) {
    const gap = stamps[i] - stamps[i - 1];
    assert.ok(gap >= 195 && gap < 2000, `gap ${gap} ms between children ${i} and ${i + 1}`);
  }
});

test('bad values are named: TypeError for the wrong type, RangeError out of range', () => {
  const rows = [
    [{ restartDelay: '100' }, TypeError, /"restartDelay" option must be a number of milliseconds/],
    [
      { restartDelay: -1 },
      RangeError,
      /"restartDelay" option must be a finite number >= 0. Received -1/,
    ],
    [{ backoff: 'yes' }, TypeError, /"backoff" option must be true, false or an object/],
    [
      { backoff: { inital: 100 } },
      RangeError,
      /"backoff" option must be an object of .* \(not "inital"\)/,
    ],
    [
      { backoff: { factor: 0.5 } },
      RangeError,
      /"backoff.factor" option must be a finite number >= 1. Received 0.5/,
    ],
    [
      { backoff: { jitter: 2 } },
      RangeError,
      /"backoff.jitter" option must be a fraction from 0 to 1/,
    ],
    [
      { backoff: { initial: 500, max: 100 } },
      RangeError,
      /"backoff.max" option must be a finite number >= backoff.initial \(500\)/,
    ],
    [{ backoff: { initial: NaN } }, RangeError, /"backoff.initial" option must be a finite number/],
    [
      { autorestart: 'sometimes' },
      RangeError,
      /"autorestart" option must be "always", "on-failure" or "never"/,
    ],
    [{ autorestart: 1 }, TypeError, /"autorestart" option must be/],
    [{ stopExitCodes: ['0'] }, TypeError, /"stopExitCodes\[0\]" option must be an exit code/],
    [
      { stopExitCodes: 256 },
      RangeError,
      /"stopExitCodes" option must be an exit code from 0 to 255/,
    ],
    [{ stopExitCodes: [1.5] }, RangeError, /"stopExitCodes\[0\]"/],
    [
      { restartWindow: 5 },
      TypeError,
      /"restartWindow" option must be an object of \{ count, window \}/,
    ],
    [
      { restartWindow: { count: 5 } },
      TypeError,
      /"restartWindow.window" option must be a number of milliseconds/,
    ],
    [
      { restartWindow: { count: -1, window: 1000 } },
      RangeError,
      /"restartWindow.count" option must be a whole number from 0 to 10000/,
    ],
    [
      { restartWindow: { count: 1, window: 0 } },
      RangeError,
      /"restartWindow.window" option must be a finite number > 0. Received 0/,
    ],
    [{ restartWindow: { count: 1, window: 10, per: 'minute' } }, RangeError, /\(not "per"\)/],
  ];
  for (const [options, type, message] of rows) {
    assert.throws(
      () => new Monitor('app.js', options),
      (err) => err instanceof type && message.test(err.message),
      JSON.stringify(options),
    );
  }
  // Defaults: forever-monitor's behaviour exactly.
  const m = new Monitor('app.js');
  assert.deepEqual(
    [m.restartDelay, m.backoff, m.autorestart, m.stopExitCodes, m.restartWindow],
    [undefined, undefined, 'always', [], undefined],
  );
});

test('a field changed to a bad value after construction is an error event at start, not a throw', async () => {
  const m = new Monitor(fixture('run-forever.js'), { silent: true });
  m.backoff = { factor: -1 };
  const failed = next(m, 'error');
  assert.doesNotThrow(() => m.start());
  const [err] = await failed;
  assert.ok(err instanceof RangeError);
  assert.match(err.message, /backoff.factor/);
  await until(() => m.running !== true, 1000, 'no child');
});
