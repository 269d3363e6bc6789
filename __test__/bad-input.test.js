// Bad input: what throws (TypeError / RangeError, naming the option), what becomes an
// 'error' event, and which edge values are accepted.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const forever = require('..');
const { Monitor } = forever;
const { fixture, next, record, until, isAlive, stopAfter, runNode } = require('./helpers');

const SCRIPT = fixture('run-forever.js');

// [description, () => the call, expected class, regexp for the message]
const constructorRows = [
  // script
  ['script: a number', () => new Monitor(42), TypeError, /"script".*Received 42/],
  [
    'script: an empty string',
    () => new Monitor(''),
    RangeError,
    /"script".*non-empty.*Received ""/,
  ],
  ['script: an empty array', () => new Monitor([]), RangeError, /"script".*Received an array/],
  [
    'script: an array with a non-string',
    () => new Monitor(['node', {}]),
    TypeError,
    /"script\[1\]".*Received an object/,
  ],
  [
    'script: an array with a null entry',
    () => new Monitor(['node', null]),
    TypeError,
    /"script\[1\]".*Received null/,
  ],
  [
    'script: an array whose program is empty',
    () => new Monitor(['', 'x']),
    RangeError,
    /"script\[0\]"/,
  ],
  [
    'script: a string with a NUL byte',
    () => new Monitor('a\u0000b.js'),
    RangeError,
    /"script".*null bytes.*"a\\u0000b\.js"/,
  ],
  [
    'script: an array entry with a NUL byte',
    () => new Monitor(['sh', 'a\u0000b']),
    RangeError,
    /"script\[1\]".*null bytes/,
  ],
  // options
  [
    'options: a string',
    () => new Monitor(SCRIPT, 'silent'),
    TypeError,
    /"options".*an object.*Received "silent"/,
  ],
  ['options: an array', () => new Monitor(SCRIPT, []), TypeError, /"options".*Received an array/],
  ['options: a number', () => new Monitor(SCRIPT, 5), TypeError, /"options".*Received 5/],
];

const optionRows = [
  // uid
  ['uid', {}, TypeError, /"uid".*a string or a number.*Received an object/],
  ['uid', [], TypeError, /"uid".*Received an array/],
  // max
  ['max', 'three', TypeError, /"max".*a number.*Received "three"/],
  ['max', '', TypeError, /"max".*a number.*Received ""/],
  ['max', '-1', RangeError, /"max".*>= 0.*Received "-1"/],
  ['max', NaN, RangeError, /"max".*>= 0.*Received NaN/],
  ['max', -1, RangeError, /"max".*>= 0.*Received -1/],
  // millisecond options
  ...['minUptime', 'spinSleepTime', 'killTTL'].flatMap((name) => [
    [name, 'soon', TypeError, new RegExp(`"${name}".*milliseconds.*Received "soon"`)],
    [name, '1e999', RangeError, new RegExp(`"${name}".*finite number >= 0.*Received "1e999"`)],
    [name, -5, RangeError, new RegExp(`"${name}".*finite number >= 0.*Received -5`)],
    [name, NaN, RangeError, new RegExp(`"${name}".*Received NaN`)],
    [name, Infinity, RangeError, new RegExp(`"${name}".*Received Infinity`)],
  ]),
  // killSignal
  ['killSignal', 'SIGFOO', RangeError, /"killSignal".*signal name.*Received "SIGFOO"/],
  ['killSignal', 'TERM', RangeError, /"killSignal".*signal name.*Received "TERM"/],
  ['killSignal', 'sigterm', RangeError, /"killSignal".*Received "sigterm"/],
  ['killSignal', 999, RangeError, /"killSignal".*signal name or number.*Received 999/],
  ['killSignal', 1.5, RangeError, /"killSignal".*Received 1\.5/],
  ['killSignal', {}, TypeError, /"killSignal".*Received an object/],
  ['killSignal', 'constructor', RangeError, /"killSignal".*Received "constructor"/],
  // command
  ['command', 42, TypeError, /"command".*a string.*Received 42/],
  ['command', '', RangeError, /"command".*non-empty.*Received ""/],
  ['command', 'node\u0000x', RangeError, /"command".*null bytes.*"node\\u0000x"/],
  // args and its deprecated alias
  ['args', 'a b', TypeError, /"args".*an array of strings.*Received "a b"/],
  ['args', [{}], TypeError, /"args\[0\]".*a string.*Received an object/],
  ['args', ['ok', 'x\u0000'], RangeError, /"args\[1\]".*null bytes/],
  ['options', 'a b', TypeError, /"options".*an array of strings.*Received "a b"/],
  ['options', ['ok', null], TypeError, /"options\[1\]".*Received null/],
  // paths
  ['sourceDir', 5, TypeError, /"sourceDir".*a string.*Received 5/],
  ['sourceDir', 'a\u0000b', RangeError, /"sourceDir".*null bytes/],
  ['cwd', 5, TypeError, /"cwd".*a string.*Received 5/],
  ['cwd', '/tmp\u0000x', RangeError, /"cwd".*null bytes.*"\/tmp\\u0000x"/],
  ['pidFile', 5, TypeError, /"pidFile".*a string.*Received 5/],
  ['logFile', true, TypeError, /"logFile".*a string.*Received true/],
  // hideEnv
  ['hideEnv', 'PATH', TypeError, /"hideEnv".*an array of strings.*Received "PATH"/],
  ['hideEnv', [{}], TypeError, /"hideEnv\[0\]".*Received an object/],
  // env
  ['env', ['A=1'], TypeError, /"env".*an object of strings.*Received an array/],
  ['env', 'A=1', TypeError, /"env".*an object of strings.*Received "A=1"/],
  ['env', { A: {} }, TypeError, /"env\.A".*a string.*Received an object/],
  ['env', { A: () => 1 }, TypeError, /"env\.A".*a string.*Received a function/],
  ['env', { A: null }, TypeError, /"env\.A".*Received null/],
  ['env', { 'A=B': 'x' }, RangeError, /"env".*"=".*Received "A=B"/],
  ['env', { '': 'x' }, RangeError, /"env".*non-empty.*Received ""/],
  ['env', { A: 'x\u0000y' }, RangeError, /"env\.A".*null bytes/],
  // spawnWith
  ['spawnWith', 'cwd', TypeError, /"spawnWith".*an object.*Received "cwd"/],
  ['spawnWith', [], TypeError, /"spawnWith".*an object.*Received an array/],
  ['spawnWith', { cwd: 5 }, TypeError, /"spawnWith\.cwd".*a string.*Received 5/],
  ['spawnWith', { uid: -1 }, RangeError, /"spawnWith\.uid".*0 to 4294967295.*Received -1/],
  ['spawnWith', { uid: 2 ** 32 }, RangeError, /"spawnWith\.uid".*Received 4294967296/],
  ['spawnWith', { uid: 1.5 }, TypeError, /"spawnWith\.uid".*an integer.*Received 1\.5/],
  ['spawnWith', { uid: '0' }, TypeError, /"spawnWith\.uid".*an integer.*Received "0"/],
  ['spawnWith', { gid: 'x' }, TypeError, /"spawnWith\.gid".*an integer.*Received "x"/],
  ['spawnWith', { shell: 5 }, TypeError, /"spawnWith\.shell".*a string.*Received 5/],
  ['spawnWith', { shell: '' }, RangeError, /"spawnWith\.shell".*non-empty/],
  ['spawnWith', { argv0: 7 }, TypeError, /"spawnWith\.argv0".*Received 7/],
  ['spawnWith', { env: [] }, TypeError, /"spawnWith\.env".*Received an array/],
  // parser
  ['parser', 'split', TypeError, /"parser".*a function.*Received "split"/],
  ['parser', {}, TypeError, /"parser".*a function.*Received an object/],
  // log files (validated before anything is opened)
  ['outFile', 5, TypeError, /"outFile".*a string.*Received 5/],
  ['outFile', '', RangeError, /"outFile".*non-empty/],
  ['outFile', '/tmp/o\u0000.log', RangeError, /"outFile".*null bytes/],
  ['errFile', {}, TypeError, /"errFile".*a string.*Received an object/],
  ['errFile', '/tmp/e\u0000.log', RangeError, /"errFile".*null bytes/],
  ['mergeLogs', 1, RangeError, /"mergeLogs".*"outFile".*Received 1/],
  ['mergeLogs', true, RangeError, /"mergeLogs".*"outFile".*Received true/],
  [
    'mergeLogs',
    true,
    RangeError,
    /"errFile".*"outFile".*mergeLogs.*Received "\/nonexistent\/b\.log"/,
    { mergeLogs: true, outFile: '/nonexistent/a.log', errFile: '/nonexistent/b.log' },
  ],
  ['logMaxSize', '1mb', TypeError, /"logMaxSize".*bytes.*Received "1mb"/],
  ['logMaxSize', 0, RangeError, /"logMaxSize".*from 1 to 9007199254740991.*Received 0/],
  ['logMaxSize', 1.5, RangeError, /"logMaxSize".*Received 1\.5/],
  ['logMaxFiles', 'all', TypeError, /"logMaxFiles".*a number.*Received "all"/],
  ['logMaxFiles', '2.5', RangeError, /"logMaxFiles".*0 to 1000.*Received "2\.5"/],
  ['logMaxFiles', -1, RangeError, /"logMaxFiles".*0 to 1000.*Received -1/],
  ['logMaxFiles', 1001, RangeError, /"logMaxFiles".*Received 1001/],
  [
    'logDirect',
    'yes',
    RangeError,
    /"logDirect".*false unless "silent" is true.*Received "yes"/,
    { logDirect: 'yes', outFile: '/nonexistent/a.log' },
  ],
  [
    'logDirect',
    true,
    RangeError,
    /"logDirect".*false unless "silent" is true.*Received true/,
    { logDirect: true, outFile: '/nonexistent/a.log' },
  ],
  [
    'logDirect',
    true,
    RangeError,
    /"logDirect".*false with "logTimestamps".*Received true/,
    { logDirect: true, silent: true, logTimestamps: true, outFile: '/nonexistent/a.log' },
  ],
  [
    'logDirect',
    true,
    RangeError,
    /"logDirect".*false with "logMaxSize".*Received true/,
    { logDirect: true, silent: true, logMaxSize: 1000, outFile: '/nonexistent/a.log' },
  ],
  [
    'logDirect',
    true,
    RangeError,
    /"logDirect".*false with "logRotate".*Received true/,
    { logDirect: true, silent: true, logRotate: 'daily', outFile: '/nonexistent/a.log' },
  ],
  // time rotation, compression, retention: new options, so strictly typed
  [
    'logRotate',
    'weekly',
    RangeError,
    /"logRotate".*"daily", "hourly" or a number of milliseconds.*Received "weekly"/,
  ],
  ['logRotate', '200', RangeError, /"logRotate".*Received "200"/],
  ['logRotate', true, TypeError, /"logRotate".*"daily", "hourly" or a number.*Received true/],
  ['logRotate', 99, RangeError, /"logRotate".*from 100 to 2678400000.*Received 99/],
  ['logRotate', 2678400001, RangeError, /"logRotate".*Received 2678400001/],
  ['logRotate', 150.5, RangeError, /"logRotate".*whole number.*Received 150\.5/],
  ['logRotate', NaN, RangeError, /"logRotate".*Received NaN/],
  [
    'logRotateUtc',
    'yes',
    TypeError,
    /"logRotateUtc".*a boolean.*Received "yes"/,
    { logRotate: 'daily', logRotateUtc: 'yes' },
  ],
  ['logRotateUtc', true, RangeError, /"logRotateUtc".*used with "logRotate".*Received true/],
  [
    'logCompress',
    1,
    TypeError,
    /"logCompress".*a boolean.*Received 1/,
    { logRotate: 'daily', logCompress: 1 },
  ],
  [
    'logCompress',
    true,
    RangeError,
    /"logCompress".*used with "logRotate" or "logMaxSize".*Received true/,
  ],
  [
    'logMaxAge',
    '14 days',
    RangeError,
    /"logMaxAge".*"14d".*Received "14 days"/,
    { logRotate: 'daily', logMaxAge: '14 days' },
  ],
  [
    'logMaxAge',
    '2y',
    RangeError,
    /"logMaxAge".*Received "2y"/,
    { logRotate: 'daily', logMaxAge: '2y' },
  ],
  ['logMaxAge', '', RangeError, /"logMaxAge".*Received ""/, { logRotate: 'daily', logMaxAge: '' }],
  [
    'logMaxAge',
    {},
    TypeError,
    /"logMaxAge".*a number of milliseconds or a duration.*Received an object/,
    { logRotate: 'daily', logMaxAge: {} },
  ],
  [
    'logMaxAge',
    0,
    RangeError,
    /"logMaxAge".*from 1 ms to 9007199254740991 ms.*Received 0/,
    { logRotate: 'daily', logMaxAge: 0 },
  ],
  [
    'logMaxAge',
    Infinity,
    RangeError,
    /"logMaxAge".*Received Infinity/,
    { logMaxSize: 10, logMaxAge: Infinity },
  ],
  [
    'logMaxAge',
    '0d',
    RangeError,
    /"logMaxAge".*Received "0d"/,
    { logMaxSize: 10, logMaxAge: '0d' },
  ],
  [
    'logMaxAge',
    '14d',
    RangeError,
    /"logMaxAge".*used with "logRotate" or "logMaxSize".*Received "14d"/,
  ],
  // fork and IPC
  ['serialization', 'xml', RangeError, /"serialization".*"json" or "advanced".*Received "xml"/],
  // watching
  [
    'watchIgnorePatterns',
    '*.log',
    TypeError,
    /"watchIgnorePatterns".*an array of strings.*Received "\*\.log"/,
  ],
  ['watchIgnorePatterns', [{}], TypeError, /"watchIgnorePatterns\[0\]".*Received an object/],
  ['watchDirectory', 5, TypeError, /"watchDirectory".*a string.*Received 5/],
  ['watchDirectory', [{}], TypeError, /"watchDirectory\[0\]".*Received an object/],
  ['watchDirectory', ['a', ''], RangeError, /"watchDirectory\[1\]".*non-empty/],
  ['pollingInterval', -1, RangeError, /"pollingInterval".*>= 0.*Received -1/],
  ['watchDebounce', 'fast', TypeError, /"watchDebounce".*milliseconds.*Received "fast"/],
];

// stdio forms, both as the stdio option and as spawnWith.stdio.
for (const [name, wrap] of [
  ['stdio', (v) => ({ stdio: v })],
  ['spawnWith.stdio', (v) => ({ spawnWith: { stdio: v } })],
]) {
  const n = name.replace('.', '\\.');
  const rows = [
    [
      'ipc',
      RangeError,
      new RegExp(`"${n}".*"pipe", "inherit", "ignore" or an array.*Received "ipc"`),
    ],
    ['pipes', RangeError, new RegExp(`"${n}".*Received "pipes"`)],
    [5, TypeError, new RegExp(`"${n}".*a string or an array.*Received 5`)],
    [
      ['pipe', {}, 'pipe'],
      TypeError,
      new RegExp(`"${n}\\[1\\]".*file descriptor.*Received an object`),
    ],
    [
      ['pipe', 'pipe', 'pipe', 'pipe'],
      RangeError,
      new RegExp(`"${n}\\[3\\]".*only stdin, stdout and stderr.*Received "pipe"`),
    ],
    [
      ['pipe', 'ipc', 'ipc'],
      RangeError,
      new RegExp(`"${n}\\[2\\]".*only one "ipc".*Received "ipc"`),
    ],
    [['pipe', -1], TypeError, new RegExp(`"${n}\\[1\\]".*Received -1`)],
  ];
  for (const [value, cls, re] of rows) {
    optionRows.push([name, value, cls, re, wrap(value)]);
  }
}

function label(value) {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value, (k, v) => (typeof v === 'function' ? '[function]' : v));
  } catch {
    return String(value);
  }
}

/** The host is fine after a throw: it can still build and use a monitor. */
function hostIsFine() {
  const ok = new Monitor(SCRIPT);
  assert.equal(ok.args[0], SCRIPT);
  assert.equal(forever.checkProcess(process.pid), true);
}

test('constructor: bad script and options throw, naming what was wrong', async (t) => {
  for (const [what, call, cls, re] of constructorRows) {
    await t.test(what, () => {
      assert.throws(call, (err) => {
        assert.ok(
          err instanceof cls,
          `${what}: expected ${cls.name}, got ${err && err.constructor.name}: ${err && err.message}`,
        );
        assert.match(err.message, re);
        return true;
      });
      hostIsFine();
    });
  }
});

test('constructor: every validated option throws for bad values', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  for (const [name, value, cls, re, options] of optionRows) {
    await t.test(`${name}: ${label(value)}`, () => {
      assert.throws(
        () => new Monitor(SCRIPT, options || { [name]: value }),
        (err) => {
          assert.ok(
            err instanceof cls,
            `expected ${cls.name}, got ${err && err.constructor.name}: ${err && err.message}`,
          );
          assert.match(err.message, re);
          assert.equal(err.code, cls === TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE');
          return true;
        },
      );
      hostIsFine();
    });
  }
  assert.ok(warn.mock.callCount() >= 1, 'options.options warned');
});

test('module start(): bad script and options throw before anything is spawned', () => {
  assert.throws(
    () => forever.start(SCRIPT, 'x'),
    (err) => err instanceof TypeError && /"options".*Received "x"/.test(err.message),
  );
  assert.throws(
    () => forever.start(42),
    (err) => err instanceof TypeError && /"script".*Received 42/.test(err.message),
  );
  assert.throws(
    () => forever.start(SCRIPT, { max: -1 }),
    (err) => err instanceof RangeError && /"max"/.test(err.message),
  );
  assert.throws(
    () => forever.start(SCRIPT, { env: 'A=1' }),
    (err) => err instanceof TypeError && /"env"/.test(err.message),
  );
  hostIsFine();
});

test('module kill(): a bad pid is a TypeError, a bad signal a RangeError', () => {
  // A pid above any pid_max: nothing can be signalled even if validation were missing.
  const nobody = 4194305;
  for (const pid of ['abc', {}, '12abc', NaN]) {
    assert.throws(
      () => forever.kill(pid, true, 'SIGTERM'),
      (err) => {
        assert.ok(err instanceof TypeError, `pid ${label(pid)}: ${err.constructor.name}`);
        assert.match(err.message, /"pid".*a positive integer/);
        return true;
      },
    );
  }
  assert.throws(
    () => forever.kill(nobody, true, 'SIGNOPE'),
    (err) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /"signal".*Received "SIGNOPE"/);
      return true;
    },
  );
  assert.throws(() => forever.kill(nobody, false, 999), RangeError);
  assert.throws(() => forever.kill(nobody, false, {}), TypeError);
  hostIsFine();
});

test('module kill(): a pid beyond 32 bits is refused, not wrapped onto another process', async (t) => {
  const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => victim.kill('SIGKILL'));
  await next(victim, 'spawn');
  const exited = next(victim, 'exit');
  try {
    for (const pid of [2 ** 32 + victim.pid, String(2 ** 32 + victim.pid), 0, '0', -victim.pid]) {
      assert.throws(
        () => forever.kill(pid, false, 'SIGTERM'),
        (err) =>
          (err instanceof TypeError || err instanceof RangeError) && /"pid"/.test(err.message),
      );
    }
    assert.equal(victim.signalCode, null);
    assert.ok(isAlive(victim.pid), 'the unrelated process was not signalled');
  } finally {
    victim.kill('SIGKILL');
    await exited;
  }
});

test('child.kill(): an unknown signal throws, as ChildProcess#kill throws it', async (t) => {
  const m = stopAfter(t, new Monitor(SCRIPT, { silent: true }));
  m.start();
  await next(m, 'start');
  for (const signal of ['SIGNOPE', 999, -1, {}]) {
    assert.throws(
      () => m.child.kill(signal),
      (err) =>
        err instanceof TypeError &&
        err.code === 'ERR_UNKNOWN_SIGNAL' &&
        err.message.includes(String(signal)),
    );
  }
  assert.equal(m.running, true);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
});

test('valid edge values are accepted', (t) => {
  assert.equal(new Monitor(SCRIPT, { max: 0 }).max, 0);
  assert.equal(new Monitor(SCRIPT, { max: Infinity }).max, Infinity);
  assert.equal(new Monitor(SCRIPT, { killSignal: 15 }).killSignal, 15);
  assert.equal(new Monitor(SCRIPT, { killSignal: 'SIGTERM' }).killSignal, 'SIGTERM');
  assert.equal(new Monitor(SCRIPT, { uid: 42 }).uid, 42);
  assert.equal(new Monitor(SCRIPT, { uid: 'abcd' }).uid, 'abcd');
  assert.equal(new Monitor(SCRIPT, { minUptime: 0, spinSleepTime: 0, killTTL: 0 }).minUptime, 0);
  assert.equal(new Monitor(SCRIPT, { fork: false, watch: false }).fork, false);
  assert.deepEqual(new Monitor(SCRIPT, { args: [1, true, ''] }).args, [SCRIPT, '1', 'true', '']);
  assert.equal(
    new Monitor(SCRIPT, {
      spawnWith: { uid: 0, gid: 4294967295, shell: '/bin/sh', detached: false },
    }).spawnWith.gid,
    4294967295,
  );
  assert.deepEqual(new Monitor(SCRIPT, { stdio: ['ignore', null, undefined, 'ignore'] }).stdio, [
    'ignore',
    null,
    undefined,
    'ignore',
  ]);
  assert.equal(new Monitor(SCRIPT, { stdio: [0, 1, 2] }).stdio.length, 3);
  assert.equal(new Monitor(SCRIPT, { env: { A: undefined, B: 1n } }).env.B, 1n);
  assert.equal(new Monitor(SCRIPT, null).silent, false);
  // Rotation: the words and the bounds of an interval; an age in ms or with a unit.
  assert.equal(new Monitor(SCRIPT, { logRotate: 'hourly' }).logRotate, 'hourly');
  assert.equal(new Monitor(SCRIPT, { logRotate: 100 }).logRotate, 100);
  assert.equal(
    new Monitor(SCRIPT, { logRotate: 2678400000, logRotateUtc: true }).logRotateUtc,
    true,
  );
  const aged = new Monitor(SCRIPT, { logMaxSize: 1, logCompress: true, logMaxAge: '1.5d' });
  assert.deepEqual(
    [aged.logMaxAge, aged.logCompress, aged.logRotate],
    [129600000, true, undefined],
  );
  assert.equal(new Monitor(SCRIPT, { logRotate: 'daily', logMaxAge: 1 }).logMaxAge, 1);
  assert.equal(new Monitor(SCRIPT, { logRotate: 'daily', logMaxAge: '2w' }).logMaxAge, 1209600000);
  assert.deepEqual(
    [new Monitor(SCRIPT, {}).logRotateUtc, new Monitor(SCRIPT, {}).logCompress],
    [false, false],
  );
  const warn = t.mock.method(console, 'warn', () => {});
  assert.deepEqual(new Monitor(SCRIPT, { options: ['x'] }).args, [SCRIPT, 'x']);
  assert.equal(warn.mock.callCount(), 1);
});

test('max: 0 is accepted and runs the child exactly once (as forever-monitor: times >= max)', async () => {
  const m = new Monitor(fixture('crash-after.js'), { args: ['0', '4'], max: 0, silent: true });
  const codes = record(m, 'exit:code');
  const restarts = record(m, 'restart');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(codes, [[4, null]]);
  assert.equal(restarts.length, 0);
});

test('env values that are numbers and booleans reach the child as strings', async () => {
  const m = new Monitor(fixture('print-env.js'), {
    env: { PORT: 8080, FLAG: true, OFF: false },
    max: 1,
    silent: true,
  });
  let out = '';
  m.on('stdout', (d) => (out += d));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  const line = JSON.parse(out.split('\n')[0]);
  assert.equal(line.env.PORT, '8080');
  assert.equal(line.env.FLAG, 'true');
  assert.equal(line.env.OFF, 'false');
  assert.equal(m.running, false);
});

// ---- runtime failures: 'error' events, never throws ----

/** Starts `m` (must not throw) and resolves with the first 'error'. */
async function startError(t, m) {
  stopAfter(t, m);
  const starts = record(m, 'start');
  const failed = next(m, 'error');
  let returned;
  assert.doesNotThrow(() => {
    returned = m.start();
  });
  assert.equal(returned, m);
  const [err] = await failed;
  assert.ok(err instanceof Error);
  assert.notEqual(m.running, true);
  assert.equal(starts.length, 0, 'no start event');
  return err;
}

/** After an 'error', the host can still run a child to completion. */
async function hostRunsAChild() {
  const m = new Monitor(fixture('crash-after.js'), { args: ['0', '5'], max: 1, silent: true });
  const codes = record(m, 'exit:code');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(codes, [[5, null]]);
}

test("a missing script is an error event with forever-monitor's message", async (t) => {
  const missing = path.join(os.tmpdir(), `fn-missing-${process.pid}.js`);
  const m = new Monitor(missing);
  const err = await startError(t, m);
  assert.equal(err.message, `Target script does not exist: ${missing}`);
  await hostRunsAChild();
});

test('a command that does not exist is ENOENT (argv-array script)', async (t) => {
  const m = new Monitor(['/nonexistent/bin', 'x'], { command: '/nonexistent/bin' });
  const err = await startError(t, m);
  assert.equal(err.code, 'ENOENT');
  assert.match(err.message, /\/nonexistent\/bin/);
  assert.equal(m.child, undefined);
  await hostRunsAChild();
});

test('a command that does not exist is ENOENT (command option, string script)', async (t) => {
  const m = new Monitor('x', { command: '/nonexistent/bin' });
  const err = await startError(t, m);
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.syscall, 'spawn');
  assert.equal(err.path, '/nonexistent/bin');
  assert.equal(typeof err.errno, 'number');
});

test('a command that is not executable is EACCES', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-noexec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'prog');
  fs.writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
  const m = new Monitor([file]);
  const err = await startError(t, m);
  assert.equal(err.code, 'EACCES');
  assert.match(err.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
  await hostRunsAChild();
});

test('a directory as the command is EACCES', async (t) => {
  const m = new Monitor([os.tmpdir()]);
  const err = await startError(t, m);
  assert.equal(err.code, 'EACCES');
});

test('a cwd that does not exist is ENOENT naming the cwd', async (t) => {
  const cwd = path.join(os.tmpdir(), `fn-no-such-dir-${process.pid}`);
  const m = new Monitor(SCRIPT, { cwd });
  const err = await startError(t, m);
  assert.equal(err.code, 'ENOENT');
  assert.ok(err.message.includes(cwd), err.message);
  await hostRunsAChild();
});

test('a spawnWith.cwd that does not exist is ENOENT naming it', async (t) => {
  const cwd = path.join(os.tmpdir(), `fn-no-such-dir-sw-${process.pid}`);
  const m = new Monitor(SCRIPT, { spawnWith: { cwd } });
  const err = await startError(t, m);
  assert.equal(err.code, 'ENOENT');
  assert.ok(err.message.includes(cwd), err.message);
});

test('a stdio file descriptor that is not open is EBADF', async (t) => {
  const m = new Monitor(SCRIPT, { stdio: ['pipe', 99, 'pipe'] });
  const err = await startError(t, m);
  assert.equal(err.code, 'EBADF');
  await hostRunsAChild();
});

test('a parser that throws is an error event saying the "parser" option threw', async (t) => {
  const boom = new Error('boom');
  const m = new Monitor(SCRIPT, {
    parser: () => {
      throw boom;
    },
  });
  const err = await startError(t, m);
  assert.match(err.message, /"parser" option threw.*boom/);
  assert.equal(err.cause, boom);
  await hostRunsAChild();
});

for (const [what, parser] of [
  ['() => 42', () => 42],
  ['() => ({command: 5})', () => ({ command: 5 })],
  ['() => ({command: "node"}) without args', () => ({ command: 'node' })],
  ['() => false', () => false],
  ['() => ({command: "", args: []})', () => ({ command: '', args: [] })],
]) {
  test(`a parser that returns nonsense (${what}) is an error event naming "parser"`, async (t) => {
    const m = new Monitor(SCRIPT, { parser });
    const err = await startError(t, m);
    assert.match(err.message, /"parser"/);
  });
}

test('a parser whose args hold a non-string is an error event naming "parser"', async (t) => {
  const m = new Monitor(SCRIPT, { parser: (command) => ({ command, args: [{}] }) });
  const err = await startError(t, m);
  assert.match(err.message, /parser\(\)\.args\[0\]/);
});

test('a bad env key set on spawnWith.env after construction is overwritten, not an error', async () => {
  // forever-monitor rebuilds spawnWith.env from the host's env on every start.
  const m = new Monitor(fixture('print-env.js'), { max: 1, silent: true });
  m.spawnWith.env = { 'A=B': 'x' };
  let out = '';
  m.on('stdout', (d) => (out += d));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.equal(JSON.parse(out.split('\n')[0]).env['A=B'], undefined);
});

test("send() when not running is forever-monitor's error event", async () => {
  const m = new Monitor(SCRIPT);
  const failed = next(m, 'error');
  assert.equal(m.send({ hello: 1 }), m);
  const [err] = await failed;
  assert.equal(err.message, 'Cannot send to process that is not running.');
});

test('kill() errors are events, and the monitor still works after them', async (t) => {
  const m = stopAfter(t, new Monitor(SCRIPT, { silent: true }));
  const failed = next(m, 'error');
  assert.equal(m.kill(), m);
  const [err] = await failed;
  assert.equal(err.message, 'Cannot stop process that is not running.');
  const started = next(m, 'start');
  m.start();
  await started;
  const pid = m.child.pid;
  assert.ok(isAlive(pid));
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  await until(() => !isAlive(pid), 5000, 'child gone');
});

/** Pids whose parent is `pid`, from /proc. */
function childrenOf(pid) {
  const kids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return kids.sort();
}

test('a thrown option error never leaves a child behind', async (t) => {
  const before = childrenOf(process.pid);
  for (let i = 0; i < 20; i++) {
    assert.throws(() => forever.start(SCRIPT, { spawnWith: { uid: -1 } }), RangeError);
    assert.throws(() => forever.start(SCRIPT, { killSignal: 'SIGNOPE' }), RangeError);
    assert.throws(() => forever.start(SCRIPT, { env: { 'A=B': '1' } }), RangeError);
  }
  assert.deepEqual(childrenOf(process.pid), before);
  // The check above can see children: one started now shows up.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await next(child, 'spawn');
  assert.ok(childrenOf(process.pid).includes(child.pid));
  const exited = next(child, 'exit');
  child.kill('SIGKILL');
  await exited;
});

test('loose values forever-monitor takes are taken with its meaning, with one warning per option', async () => {
  const { code, stdout, stderr } = await runNode([fixture('host-loose-options.js')]);
  assert.equal(code, 0, stderr);
  const { first, detached, second, warnings } = JSON.parse(stdout);
  // A numeric string is that number; a flag is its truthiness (or, for the flags that
  // default to true, true unless it is false itself: forever-monitor's `x !== false`).
  assert.deepEqual(first, {
    max: 2,
    minUptime: 1000,
    spinSleepTime: 500,
    killTTL: 250,
    silent: true,
    killTree: true,
    checkFile: true,
    append: true,
    fork: true,
    watch: false,
    watchIgnoreDotFiles: true,
    usePolling: true,
    watchDebounce: 50,
    pollingInterval: 20,
    logMaxFiles: 3,
  });
  assert.equal(detached, false);
  assert.deepEqual(second, { max: 7, silent: false, killTree: true });
  const named = warnings.map((w) => /^The "([^"]+)" option/.exec(w.message)[1]).sort();
  assert.deepEqual(
    named,
    [
      'append',
      'checkFile',
      'fork',
      'killTTL',
      'killTree',
      'logMaxFiles',
      'max',
      'minUptime',
      'pollingInterval',
      'silent',
      'spawnWith.detached',
      'spinSleepTime',
      'usePolling',
      'watch',
      'watchDebounce',
      'watchIgnoreDotFiles',
    ],
    'one warning per option, the second monitor adding none',
  );
  assert.ok(warnings.every((w) => w.code === 'FOREVER_NATIVE_LOOSE_OPTION'));
  const max = warnings.find((w) => w.message.startsWith('The "max"'));
  assert.match(max.message, /should be a number\. Received "2", taken as 2/);
});

test("loose values run as forever-monitor runs them: max: '2' gives two runs", async () => {
  const m = new Monitor(fixture('crash-after.js'), { args: ['0', '1'], max: '2', silent: 'true' });
  const codes = record(m, 'exit:code');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.equal(codes.length, 2);
});

test('a range error names the range that is accepted: no refused value is inside it, its lowest value is taken', () => {
  // [options, a value, and where it goes] for each refused value, the message's range;
  // then the lowest value accepted.
  const rows = [
    [
      'backoff.factor',
      (v) => ({ backoff: { factor: v } }),
      [-1, 0, 0.5, NaN, Infinity],
      /"backoff\.factor" option must be a finite number >= 1\./,
      1,
    ],
    [
      'backoff.jitter',
      (v) => ({ backoff: { jitter: v } }),
      [-1, -0.01, 1.5, NaN],
      /"backoff\.jitter" option must be a fraction from 0 to 1\./,
      0,
    ],
    [
      'backoff.max',
      (v) => ({ backoff: { initial: 200, max: v } }),
      [-1, 0, 199, NaN],
      /"backoff\.max" option must be a finite number >= backoff\.initial \(200\)\./,
      200,
    ],
    [
      'backoff.initial',
      (v) => ({ backoff: { initial: v } }),
      [-1, Infinity],
      /"backoff\.initial" option must be a finite number >= 0\./,
      0,
    ],
    [
      'readyTimeout',
      (v) => ({ waitReady: true, readyTimeout: v }),
      [-5, 0, NaN, Infinity],
      /"readyTimeout" option must be a finite number > 0\./,
      0.001,
    ],
    [
      'watchdog',
      (v) => ({ watchdog: v }),
      [-5, 0, NaN, -Infinity],
      /"watchdog" option must be a finite number > 0\./,
      0.001,
    ],
    [
      'restartWindow.window',
      (v) => ({ restartWindow: { count: 1, window: v } }),
      [-1, 0, NaN],
      /"restartWindow\.window" option must be a finite number > 0\./,
      1,
    ],
    [
      'memoryCheckInterval',
      (v) => ({ memoryCheckInterval: v }),
      [-1, 0, 9.99, NaN],
      /"memoryCheckInterval" option must be a finite number >= 10\./,
      10,
    ],
    [
      'maxMemory',
      (v) => ({ maxMemory: v }),
      [0, 1048575, Infinity],
      /"maxMemory" option must be a finite size of at least 1 MiB/,
      1048576,
    ],
    [
      'logMaxSize',
      (v) => ({ logMaxSize: v }),
      [0, 2 ** 60],
      /"logMaxSize" option must be a whole number of bytes from 1 to 9007199254740991\./,
      1,
    ],
    [
      'logMaxAge',
      (v) => ({ logMaxSize: 10, logMaxAge: v }),
      [0, 1e300],
      /"logMaxAge" option must be a duration from 1 ms to 9007199254740991 ms\./,
      1,
    ],
  ];
  for (const [name, options, refused, message, lowest] of rows) {
    for (const value of refused) {
      assert.throws(
        () => new Monitor(SCRIPT, options(value)),
        (err) =>
          err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE' && message.test(err.message),
        `${name}: ${value}`,
      );
    }
    assert.doesNotThrow(() => new Monitor(SCRIPT, options(lowest)), `${name}: ${lowest} is taken`);
  }
  // The fields are checked again at start(), with the same messages.
  const m = new Monitor(SCRIPT, { silent: true });
  m.backoff = { factor: -1 };
  const errors = [];
  m.on('error', (err) => errors.push(err));
  m.start();
  return new Promise((resolve) => process.nextTick(resolve)).then(() => {
    assert.equal(errors.length, 1);
    assert.match(
      errors[0].message,
      /"backoff\.factor" option must be a finite number >= 1\. Received -1/,
    );
    assert.equal(m.running, undefined, 'nothing was started');
  });
});

test('a bad value set on a field after construction fails start() with the error the constructor gives', async (t) => {
  // One fold over the option catalogue: the same checks and rules, at new Monitor() and
  // at each start(), whether the value is an option's own or breaks a rule between two.
  const bad = [
    { max: -1 },
    { minUptime: 'soon' },
    { backoff: { factor: -1 } },
    { autorestart: 'sometimes' },
    { killSignal: 'SIGNOPE' },
    { listenBacklog: 0 },
    { watchDebounce: -1 },
    { logMaxFiles: 2000 },
    { readyTimeout: 500 },
    { mergeLogs: true },
    { listenMode: 0o600 },
    { logCompress: true },
  ];
  for (const fields of bad) {
    let thrown;
    assert.throws(
      () => new Monitor(SCRIPT, { silent: true, ...fields }),
      (err) => (thrown = err) instanceof Error,
    );
    const m = stopAfter(t, new Monitor(SCRIPT, { silent: true }));
    Object.assign(m, fields);
    await assert.rejects(
      m.startAsync(),
      (err) =>
        err.constructor === thrown.constructor &&
        err.code === thrown.code &&
        err.message === thrown.message,
      JSON.stringify(fields),
    );
    assert.equal(m.running, undefined, `${JSON.stringify(fields)}: nothing was started`);
  }
});
