// forever-monitor's API surface: exports, constructor fields, data, and the options that
// shape the child.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const forever = require('..');
const { Monitor } = forever;
const { fixture, next, record, until, isAlive, stopAfter, sharedCopy } = require('./helpers');

const PRINT_ENV = fixture('print-env.js');
const RUN_FOREVER = fixture('run-forever.js');

/**
 * Runs `script` once (max: 1, silent) and resolves when the monitor gives up, with the
 * child's stdout as text, the stdout chunks, and the exit codes.
 */
async function runOnce(script, options = {}) {
  const m = new Monitor(script, { max: 1, silent: true, ...options });
  const chunks = [];
  m.on('stdout', (d) => chunks.push(d));
  const codes = record(m, 'exit:code');
  const errors = record(m, 'error');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(errors, [], 'no error events');
  return { m, chunks, out: chunks.map(String).join(''), codes };
}

/** Runs print-env.js once and resolves with the JSON line it printed. */
async function printEnv(options = {}) {
  const { out, codes } = await runOnce(PRINT_ENV, options);
  assert.deepEqual(codes, [[0, null]]);
  return JSON.parse(out.split('\n')[0]);
}

// ---- module exports ----

test("module exports forever-monitor's names and the package version", () => {
  assert.equal(typeof forever.Monitor, 'function');
  assert.equal(typeof forever.start, 'function');
  assert.equal(typeof forever.kill, 'function');
  assert.equal(typeof forever.checkProcess, 'function');
  assert.equal(forever.version, require('../package.json').version);
  const reference = require('forever-monitor');
  for (const name of Object.keys(reference)) {
    assert.ok(name in forever, `forever-monitor exports ${name}`);
  }
});

// ---- constructor ----

test("constructor fields match forever-monitor's defaults", () => {
  const m = new Monitor('app.js');
  assert.equal(m.silent, false);
  assert.equal(m.killTree, true);
  assert.equal(typeof m.uid, 'string');
  assert.match(m.uid, /^[A-Za-z0-9_-]{4}$/);
  assert.equal(m.id, false);
  assert.equal(m.times, 0);
  assert.equal(m.minUptime, 0);
  assert.equal(m.spinSleepTime, null);
  assert.equal(m.killSignal, 'SIGKILL');
  assert.equal(m.checkFile, true);
  assert.equal(m.childExists, false);
  assert.equal(m.command, process.execPath);
  assert.deepEqual(m.args, ['app.js']);
  assert.equal(m.cwd, process.cwd());
  assert.deepEqual(m.hideEnv, []);
  assert.deepEqual(m.spawnWith, {});
  assert.equal(m.fork, false);
  assert.equal(m.stdio, null);
  assert.equal(m.watchIgnoreDotFiles, true);
  assert.deepEqual(m.watchIgnorePatterns, []);
  assert.equal(m.watchDirectory, undefined);
  assert.equal(m.sourceDir, undefined);
  assert.equal(m.max, undefined);
  assert.equal(m.parser, Monitor.parseCommand);
  assert.equal(m.warn, console.error);
  assert.equal(m.running, undefined);
  assert.equal(m.child, undefined);
  assert.ok(m instanceof require('events').EventEmitter);
  assert.equal(new Monitor('app.js', { sourceDir: '/srv' }).watchDirectory, '/srv');
  assert.equal(
    new Monitor('app.js', { sourceDir: '/srv', watchDirectory: '/w' }).watchDirectory,
    '/w',
  );
  assert.notEqual(new Monitor('a.js').uid, new Monitor('a.js').uid + 'x');
});

test("constructor fields equal a real forever-monitor Monitor's for the same options", () => {
  const { Monitor: Reference } = require('forever-monitor');
  const cases = [
    ['app.js', {}],
    [
      'app.js',
      { sourceDir: '/srv', args: ['--a', 'b'], cwd: '/tmp', hideEnv: ['X'], env: { A: '1' } },
    ],
    [
      ['sh', '-c', 'echo moo'],
      { killSignal: 'SIGTERM', minUptime: 500, spinSleepTime: 100, max: 3 },
    ],
    [
      'app.js',
      { command: 'node --expose-gc', silent: true, killTree: false, checkFile: false, id: 'x' },
    ],
  ];
  const fields = [
    'silent',
    'killTree',
    'id',
    'times',
    'minUptime',
    'spinSleepTime',
    'killSignal',
    'checkFile',
    'childExists',
    'command',
    'args',
    'cwd',
    'hideEnv',
    'spawnWith',
    'fork',
    'stdio',
    'watchIgnoreDotFiles',
    'watchIgnorePatterns',
    'watchDirectory',
    'sourceDir',
    'max',
    'killTTL',
    'pidFile',
    'logFile',
  ];
  for (const [script, options] of cases) {
    const ours = new Monitor(script, { ...options, uid: 'same' });
    const theirs = new Reference(script, { ...options, uid: 'same' });
    for (const field of fields) {
      assert.deepEqual(ours[field], theirs[field], `${JSON.stringify(script)} ${field}`);
    }
    const ourData = ours.data;
    const theirData = theirs.data;
    for (const key of Object.keys(theirData)) {
      assert.deepEqual(ourData[key], theirData[key], `data.${key}`);
    }
    // The same keys: forever-monitor lists 'env' among data's keys but never sets this.env,
    // so no environment shows (forever list would print it).
    assert.deepEqual(Object.keys(ourData).sort(), Object.keys(theirData).sort());
    assert.equal('env' in ourData, false);
  }
});

test('an argv array script runs its first entry as the command', async () => {
  const m = new Monitor(['sh', '-c', 'echo moo']);
  assert.equal(m.command, 'sh');
  assert.deepEqual(m.args, ['-c', 'echo moo']);
  const { out, codes } = await runOnce(['sh', '-c', 'echo moo']);
  assert.equal(out, 'moo\n');
  assert.deepEqual(codes, [[0, null]]);
});

test('sourceDir is joined to the script, and data.file strips it again', () => {
  const m = new Monitor('app.js', { sourceDir: '/srv/app', args: ['x'] });
  assert.deepEqual(m.args, ['/srv/app/app.js', 'x']);
  const data = m.data;
  assert.equal(data.file, 'app.js');
  assert.equal(data.sourceDir, '/srv/app');
  assert.deepEqual(data.args, ['x']);
  const nested = new Monitor('lib/app.js', { sourceDir: '/srv' });
  assert.equal(nested.args[0], '/srv/lib/app.js');
  assert.equal(nested.data.file, 'lib/app.js');
});

test('sourceDir: the joined script is what runs', async () => {
  const { out } = await runOnce('print-env.js', {
    sourceDir: path.dirname(PRINT_ENV),
    args: ['z'],
  });
  assert.deepEqual(JSON.parse(out).argv, ['z']);
});

test('Monitor.parseCommand splits a command at its first space', () => {
  assert.deepEqual(Monitor.parseCommand('node --expose-gc', ['a.js']), {
    command: 'node',
    args: ['--expose-gc', 'a.js'],
  });
  assert.deepEqual(Monitor.parseCommand('node', ['a.js']), { command: 'node', args: ['a.js'] });
  assert.deepEqual(Monitor.parseCommand('node --a --b', []), {
    command: 'node',
    args: ['--a', '--b'],
  });
  assert.deepEqual(Monitor.parseCommand('/opt/my\\ node --a', ['x']), {
    command: '/opt/my\\ node',
    args: ['--a', 'x'],
  });
  assert.equal(Monitor.parseCommand('', ['x']), false);
});

test('a command with flags passes them to the child', async () => {
  const line = await printEnv({ command: `${process.execPath} --expose-gc` });
  assert.equal(line.hasGc, true);
  assert.ok(line.execArgv.includes('--expose-gc'));
  const plain = await printEnv({});
  assert.equal(plain.hasGc, false);
});

test('options.options is a deprecated alias of args: it warns and is used', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const m = new Monitor(PRINT_ENV, { options: ['one', 'two'] });
  assert.equal(warn.mock.callCount(), 1);
  assert.equal(
    warn.mock.calls[0].arguments[0],
    'options.options is deprecated. Use options.args instead.',
  );
  assert.deepEqual(m.args, [PRINT_ENV, 'one', 'two']);
  const withArgs = new Monitor(PRINT_ENV, { options: ['ignored'], args: ['used'] });
  assert.deepEqual(withArgs.args, [PRINT_ENV, 'used']);
  assert.equal(warn.mock.callCount(), 2);
  const line = await printEnv({ options: ['one', 'two'] });
  assert.deepEqual(line.argv, ['one', 'two']);
});

// ---- data, toString, inspect ----

test("data: forever-monitor's snapshot fields, before and while running; sets childData", async (t) => {
  const m = stopAfter(
    t,
    new Monitor(RUN_FOREVER, { silent: true, args: ['a'], id: 'web', uid: 'abcd' }),
  );
  const before = m.data;
  assert.equal(m.childData, before);
  assert.equal(before.ctime, undefined);
  assert.equal(before.pid, undefined);
  assert.equal(before.running, undefined);
  assert.equal(before.isMaster, undefined);
  assert.equal(before.restarts, 0);
  assert.equal(before.command, process.execPath);
  assert.equal(before.file, RUN_FOREVER);
  assert.deepEqual(before.args, ['a']);
  assert.equal(before.foreverPid, process.pid);
  assert.equal(before.logFile, undefined);
  assert.equal(before.silent, true);
  assert.equal(before.uid, 'abcd');
  assert.equal(before.id, 'web');
  assert.equal(before.spawnWith, m.spawnWith);
  assert.equal(before.cwd, process.cwd());
  for (const key of ['pidFile', 'env', 'sourceDir', 'outFile', 'errFile']) {
    assert.equal(key in before, false, `${key} absent when unset`);
  }

  const started = next(m, 'start');
  const t0 = Date.now();
  m.start();
  const [, startData] = await started;
  assert.equal(startData.pid, m.child.pid);
  assert.equal(typeof startData.pid, 'number');
  assert.equal(startData.running, true);
  assert.equal(startData.isMaster, true);
  assert.equal(typeof startData.ctime, 'number');
  assert.ok(Math.abs(startData.ctime - t0) < 5000, `ctime ${startData.ctime} near ${t0}`);
  // Whole milliseconds, as forever-monitor's Date.now(): the forever CLI prints uptime from it.
  assert.ok(Number.isInteger(startData.ctime), `ctime ${startData.ctime} is an integer`);
  const during = m.data;
  assert.equal(m.childData, during);
  assert.notEqual(during, before);
  assert.equal(during.spawnWith.cwd, process.cwd());
  assert.equal(typeof during.spawnWith.env, 'object');

  const stopped = next(m, 'stop');
  m.stop();
  const [childData] = await stopped;
  assert.equal(childData.pid, startData.pid);
  assert.equal(m.data.running, false);
  assert.equal(m.data.restarts, 1);
});

test('ctime is whole milliseconds at every start and restart', async (t) => {
  const m = stopAfter(t, new Monitor(fixture('run-forever.js'), { silent: true }));
  const started = next(m, 'start');
  m.start();
  const [, first] = await started;
  for (let i = 0; i < 3; i++) {
    const restarted = next(m, 'restart');
    m.restart();
    const [, data] = await restarted;
    assert.ok(Number.isInteger(data.ctime), `ctime ${data.ctime} is an integer`);
    assert.ok(data.ctime >= first.ctime);
    assert.equal(m.ctime, data.ctime);
  }
});

test('data: pidFile, logFile, cwd and sourceDir appear when set (env never, as in forever-monitor)', () => {
  const env = { A: '1' };
  const m = new Monitor('app.js', {
    pidFile: '/tmp/x.pid',
    logFile: '/tmp/x.log',
    env,
    cwd: '/tmp',
    sourceDir: '/srv',
  });
  const data = m.data;
  assert.equal(data.pidFile, '/tmp/x.pid');
  assert.equal(data.logFile, '/tmp/x.log');
  assert.equal('env' in data, false);
  assert.equal(data.cwd, '/tmp');
  assert.equal(data.sourceDir, '/srv');
  assert.equal(data.file, 'app.js');
});

test('toString() is JSON of the monitor, also with a running child', async (t) => {
  const m = stopAfter(t, new Monitor(RUN_FOREVER, { silent: true, uid: 'tstr' }));
  const idle = JSON.parse(m.toString());
  assert.equal(idle.uid, 'tstr');
  const started = next(m, 'start');
  m.start();
  await started;
  let text;
  assert.doesNotThrow(() => {
    text = m.toString();
  });
  const parsed = JSON.parse(text);
  assert.equal(parsed.uid, 'tstr');
  assert.equal(parsed.running, true);
  assert.equal(parsed.child.pid, m.child.pid);
  assert.equal(parsed.command, process.execPath);
  assert.equal(String(m), text);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
});

test('Monitor.prototype.inspect is null', () => {
  assert.equal(Monitor.prototype.inspect, null);
  assert.equal(new Monitor('a.js').inspect, null);
  assert.doesNotThrow(() => require('util').inspect(new Monitor('a.js')));
});

// ---- the child handle ----

test("monitor.child: pid while running, and kill('SIGTERM') ends the child with SIGTERM", async (t) => {
  const m = stopAfter(t, new Monitor(RUN_FOREVER, { silent: true, max: 1 }));
  const started = next(m, 'start');
  m.start();
  await started;
  const pid = m.child.pid;
  assert.equal(typeof pid, 'number');
  assert.ok(Number.isInteger(pid) && pid > 0);
  assert.ok(isAlive(pid));
  const code = next(m, 'exit:code');
  const exited = next(m, 'exit');
  assert.equal(m.child.kill('SIGTERM'), true);
  assert.deepEqual(await code, [null, 'SIGTERM']);
  await exited;
  assert.equal(m.running, false);
  assert.equal(isAlive(pid), false);
  assert.equal(m.child.kill('SIGTERM'), false, 'nothing left to signal');
});

test('monitor.child.kill() defaults to SIGTERM and the monitor restarts the child', async (t) => {
  const m = stopAfter(t, new Monitor(RUN_FOREVER, { silent: true }));
  const started = next(m, 'start');
  m.start();
  await started;
  const first = m.child.pid;
  const code = next(m, 'exit:code');
  const restarted = next(m, 'restart');
  assert.equal(m.child.kill(), true);
  assert.deepEqual(await code, [null, 'SIGTERM']);
  await restarted;
  assert.notEqual(m.child.pid, first);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
});

// ---- module functions ----

/** SIGKILLs what is left of `pids` (cleanup after a failed assertion). */
function killAll(pids) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

test('module start() returns a started Monitor with a uid', async (t) => {
  const options = { silent: true };
  const m = stopAfter(t, forever.start(RUN_FOREVER, options));
  assert.ok(m instanceof Monitor);
  assert.equal(typeof m.uid, 'string');
  assert.match(m.uid, /^[A-Za-z0-9_][A-Za-z0-9_-]{3}$/);
  assert.equal(options.uid, m.uid, 'sets options.uid as forever-monitor does');
  assert.equal(m.running, true);
  const [self] = await next(m, 'start');
  assert.equal(self, m);
  assert.ok(isAlive(m.child.pid));
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;

  const kept = stopAfter(t, forever.start(RUN_FOREVER, { silent: true, uid: 'mine' }));
  assert.equal(kept.uid, 'mine');
  await next(kept, 'start');
  const keptStopped = next(kept, 'stop');
  kept.stop();
  await keptStopped;
});

/** Starts spawn-grandchildren.js with child_process (not a Monitor) and reads its tree. */
async function spawnTree(t, n) {
  const child = spawn(process.execPath, [fixture('spawn-grandchildren.js'), String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = next(child, 'exit');
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await until(() => out.includes('\n'), 10000, 'the JSON line');
  const { pid, grandchildren } = JSON.parse(out.split('\n')[0]);
  t.after(() => killAll([pid, ...grandchildren]));
  return { child, exited, pid, grandchildren };
}

test("module kill(pid, true, 'SIGKILL', cb) kills a whole process tree", async (t) => {
  const { child, exited, pid, grandchildren } = await spawnTree(t, 2);
  assert.equal(pid, child.pid);
  assert.equal(grandchildren.length, 2);
  for (const p of [pid, ...grandchildren]) assert.ok(isAlive(p), `${p} alive before`);

  const called = new Promise((resolve) => {
    assert.equal(forever.kill(pid, true, 'SIGKILL', resolve), undefined);
  });
  await called;
  await until(() => [pid, ...grandchildren].every((p) => !isAlive(p)), 5000, 'the tree to die');
  const [, signal] = await exited;
  assert.equal(signal, 'SIGKILL');
});

test('module kill(pid) without killTree leaves the grandchildren (then they are cleaned up)', async (t) => {
  const { exited, pid, grandchildren } = await spawnTree(t, 1);
  await new Promise((resolve) => forever.kill(String(pid), false, 'SIGKILL', resolve));
  await exited;
  assert.equal(isAlive(pid), false);
  assert.ok(isAlive(grandchildren[0]), 'the grandchild was not signalled');
  process.kill(grandchildren[0], 'SIGKILL');
  await until(() => !isAlive(grandchildren[0]), 5000, 'grandchild gone');
});

test('checkProcess: this process true, 0 false, a dead pid false', async () => {
  assert.equal(forever.checkProcess(process.pid), true);
  assert.equal(forever.checkProcess(0), false);
  assert.equal(forever.checkProcess(undefined), false);
  assert.equal(forever.checkProcess(null), false);
  const child = spawn(process.execPath, ['-e', 'process.exit(0)'], { stdio: 'ignore' });
  const pid = child.pid;
  assert.equal(forever.checkProcess(pid), true);
  await next(child, 'exit');
  await until(() => !isAlive(pid), 5000, 'reaped');
  assert.equal(forever.checkProcess(pid), false);
});

// ---- options that shape the child ----

test('env and hideEnv: hidden host variables are absent, extra ones present', async (t) => {
  const saved = process.env.FN_HIDE_ME;
  process.env.FN_HIDE_ME = 'x';
  process.env.FN_KEEP_ME = 'k';
  t.after(() => {
    if (saved === undefined) delete process.env.FN_HIDE_ME;
    else process.env.FN_HIDE_ME = saved;
    delete process.env.FN_KEEP_ME;
  });
  const line = await printEnv({ hideEnv: ['FN_HIDE_ME'], env: { FN_EXTRA: 'y' } });
  assert.equal('FN_HIDE_ME' in line.env, false);
  assert.equal(line.env.FN_EXTRA, 'y');
  assert.equal(line.env.FN_KEEP_ME, 'k');
  assert.equal(line.env.PATH, process.env.PATH);
  const plain = await printEnv({});
  assert.equal(plain.env.FN_HIDE_ME, 'x');
  assert.equal('FN_EXTRA' in plain.env, false);
});

test('env overrides a host variable of the same name, even a hidden one', async (t) => {
  process.env.FN_BOTH = 'host';
  t.after(() => delete process.env.FN_BOTH);
  const line = await printEnv({ env: { FN_BOTH: 'mine' } });
  assert.equal(line.env.FN_BOTH, 'mine');
  const hiddenButSet = await printEnv({ hideEnv: ['FN_BOTH'], env: { FN_BOTH: 'again' } });
  assert.equal(hiddenButSet.env.FN_BOTH, 'again');
});

test("cwd and spawnWith.cwd set the child's working directory", async () => {
  const tmp = fs.realpathSync(os.tmpdir());
  assert.notEqual(tmp, fs.realpathSync(process.cwd()));
  const a = await printEnv({ cwd: os.tmpdir() });
  assert.equal(a.cwd, tmp);
  const b = await printEnv({ spawnWith: { cwd: os.tmpdir() } });
  assert.equal(b.cwd, tmp);
  // forever-monitor: spawnWith.cwd wins over cwd.
  const c = await printEnv({ cwd: '/', spawnWith: { cwd: os.tmpdir() } });
  assert.equal(c.cwd, tmp);
  const d = await printEnv({});
  assert.equal(d.cwd, fs.realpathSync(process.cwd()));
});

test('spawnWith.shell: true runs the command line through a shell', async () => {
  const { m, out, codes } = await runOnce('b', {
    command: 'echo a; echo $(echo hi)',
    spawnWith: { shell: true },
  });
  assert.equal(out, 'a\nhi b\n');
  assert.deepEqual(codes, [[0, null]]);
  assert.equal(m.command, 'echo a; echo $(echo hi)');
});

test('spawnWith.shell as a path uses that shell', async () => {
  const { out } = await runOnce('b', { command: 'echo $0', spawnWith: { shell: '/bin/sh' } });
  assert.equal(out, '/bin/sh b\n');
});

test('an argv array script without shell keeps ; and $(...) literal', async () => {
  const { out, codes } = await runOnce(['/bin/echo', 'a;b', '$(echo hi)']);
  assert.equal(out, 'a;b $(echo hi)\n');
  assert.deepEqual(codes, [[0, null]]);
});

test("stdio 'ignore': no stdout events, but the child runs and exits", async () => {
  const { chunks, codes } = await runOnce(fixture('crash-after.js'), {
    args: ['0', '7'],
    stdio: 'ignore',
  });
  assert.deepEqual(chunks, []);
  assert.deepEqual(codes, [[7, null]]);
  const shown = await runOnce(fixture('crash-after.js'), { args: ['0', '7'] });
  assert.match(shown.out, /^started \d+\n$/, 'the same child prints when piped');
});

test("spawnWith.stdio 'ignore' also drops output; the stdio option wins over it", async () => {
  const ignored = await runOnce(fixture('crash-after.js'), {
    args: ['0', '0'],
    spawnWith: { stdio: 'ignore' },
  });
  assert.deepEqual(ignored.chunks, []);
  const piped = await runOnce(fixture('crash-after.js'), {
    args: ['0', '0'],
    spawnWith: { stdio: 'ignore' },
    stdio: 'pipe',
  });
  assert.match(piped.out, /^started/);
});

test("silent: true still emits 'stdout' and 'stderr' events with Buffers", async () => {
  const m = new Monitor(['sh', '-c', 'echo out; echo err >&2'], { silent: true, max: 1 });
  const out = record(m, 'stdout');
  const err = record(m, 'stderr');
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.ok(out.length > 0);
  for (const [chunk] of [...out, ...err]) assert.ok(Buffer.isBuffer(chunk));
  assert.equal(Buffer.concat(out.map(([c]) => c)).toString(), 'out\n');
  assert.equal(Buffer.concat(err.map(([c]) => c)).toString(), 'err\n');
});

test('spawnWith.uid/gid run the child as that user (root only)', async (t) => {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    t.skip('needs root');
    return;
  }
  // The child runs as nobody, who may not be able to enter the checkout (a clone under a
  // mode-0700 `mktemp -d`): it gets a copy of its fixture in a directory anyone can read.
  const shared = sharedCopy(t, [path.relative(path.join(__dirname, '..'), PRINT_ENV)]);
  if (shared === null) {
    t.skip(`nobody cannot reach ${os.tmpdir()} (TMPDIR)`);
    return;
  }
  const script = path.join(shared, path.relative(path.join(__dirname, '..'), PRINT_ENV));
  const dir = path.dirname(script);
  const { out, codes } = await runOnce(script, { spawnWith: { uid: 65534, gid: 65534 }, cwd: dir });
  assert.deepEqual(codes, [[0, null]]);
  const line = JSON.parse(out.split('\n')[0]);
  assert.equal(line.uid, 65534);
  assert.equal(line.gid, 65534);
  assert.equal(line.cwd, dir);
});

test('isMaster is false in a cluster worker, true in the primary, as cluster.isMaster says', async () => {
  const { spawnSync } = require('child_process');
  const r = spawnSync(process.execPath, [fixture('host-cluster.js')], {
    encoding: 'utf8',
    timeout: 20000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), ['primary true', 'worker false false']);
});

test("a monitor's fields stay V8 fast properties (no dictionary mode: memory per monitor)", () => {
  // The catalogue's fields are set as named stores; keyed stores in a loop turned every
  // monitor into a hash table (twice its memory). Checked in a child with natives syntax.
  const { spawnSync } = require('child_process');
  const code = `
    const { Monitor } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const a = new Monitor(['sleep', '1'], { silent: true, max: 1 });
    const b = new Monitor('app.js', { fork: true, shutdownMessage: 'bye', env: { A: '1' } });
    console.log(JSON.stringify([%HasFastProperties(a), %HasFastProperties(b)]));
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', code], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [true, true]);
});

test('monitors work where code generation from strings is off (node --disallow-code-generation-from-strings)', () => {
  const { spawnSync } = require('child_process');
  const code = `
    const { Monitor } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const m = new Monitor(['sleep', '1'], { silent: true, max: 3, killSignal: 'SIGTERM' });
    console.log(JSON.stringify([m.max, m.silent, m.killSignal]));
  `;
  const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '-e', code], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [3, true, 'SIGTERM']);
});
