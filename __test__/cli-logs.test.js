// The command line's log files over time: SIGUSR2 reopens them (logrotate's postrotate),
// and the --logFile of status lines rotates with the app's log options. Driven as a
// subprocess; every wait is for a line, an event, a file or an exit, never a sleep.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { spawn } = require('child_process');
const { fixture, until } = require('./helpers');
const cli = require('../bin/cli.js');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');
const ENV = { ...process.env, NO_COLOR: '1' };

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-cli-logs-'));
const children = new Set();
test.afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Starts `forever-native --json …` in `cwd`; collects its JSON status lines. */
function startCli(args, cwd) {
  const child = spawn(process.execPath, [BIN, '--json', ...args], {
    cwd,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const h = { child, events: [], stderr: '' };
  let partial = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    h.stderr += d;
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      h.events.push(JSON.parse(partial.slice(0, nl)));
      partial = partial.slice(nl + 1);
    }
  });
  h.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  h.waitEvent = async (pred, what) => {
    await until(() => h.events.some(pred), 10000, what);
    return h.events.find(pred);
  };
  return h;
}

/** A file's size, or -1 while it does not exist (the monitor creates it in the background). */
const sizeOf = (p) => (fs.statSync(p, { throwIfNoEntry: false }) || { size: -1 }).size;
/** The JSON lines of a status log. */
const statusLines = (file) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test("SIGUSR2 reopens every log file, the -l file included, and says so (for logrotate's postrotate)", async () => {
  const dir = fs.mkdtempSync(path.join(root, 'usr2-'));
  const h = startCli(
    ['-s', '-o', 'out.log', '-l', 'status.log', fixture('print-lines.js'), '100000', '10'],
    dir,
  );
  await h.waitEvent((e) => e.event === 'start', 'the start');
  await until(() => sizeOf(path.join(dir, 'out.log')) > 0, 5000, 'output');
  // What logrotate does: move the files, then signal.
  fs.renameSync(path.join(dir, 'out.log'), path.join(dir, 'out.log.1'));
  fs.renameSync(path.join(dir, 'status.log'), path.join(dir, 'status.log.1'));
  h.child.kill('SIGUSR2');
  const signal = await h.waitEvent((e) => e.event === 'signal', 'the SIGUSR2 status line');
  assert.deepEqual([signal.signal, signal.action], ['SIGUSR2', 'reopen']);
  // The line came after the reopen: it is the first of the new status log, and the moved
  // one ends before it (its last write was moments ago, so only the reopen explains this).
  assert.deepEqual(
    statusLines(path.join(dir, 'status.log')).map((e) => [e.event, e.action]),
    [['signal', 'reopen']],
  );
  assert.deepEqual(
    statusLines(path.join(dir, 'status.log.1')).map((e) => e.event),
    ['start'],
  );
  await until(() => sizeOf(path.join(dir, 'out.log')) > 0, 5000, 'output in the new out.log');
  assert.match(fs.readFileSync(path.join(dir, 'out.log.1'), 'utf8'), /^(out \d+ \d+\n)+$/);
  h.child.kill('SIGTERM');
  assert.equal(await h.exited, 0, h.stderr);
  const events = statusLines(path.join(dir, 'status.log')).map((e) => e.event);
  assert.deepEqual(events, ['signal', 'signal', 'exit', 'stop']);
});

test("the -l status log rotates with the app's options (--logMaxSize, --logCompress): every line once, in order", async () => {
  const dir = fs.mkdtempSync(path.join(root, 'status-size-'));
  const h = startCli(
    [
      '-s',
      '--max',
      '12',
      '-l',
      'status.log',
      '--logMaxSize',
      '400',
      '--logMaxFiles',
      '100',
      '--logCompress',
      fixture('crash-after.js'),
      '0',
      '1',
    ],
    dir,
  );
  assert.equal(await h.exited, 1, h.stderr);
  // The CLI exits without waiting for the compression thread: each rotated file is there,
  // plain or gzipped (a compression cut short leaves the plain file, and the next rotation
  // finishes it), never neither.
  const rotated = fs
    .readdirSync(dir)
    .map((name) => /^status\.log\.(\d+)(\.gz)?$/.exec(name))
    .filter(Boolean);
  const numbers = [...new Set(rotated.map((m) => Number(m[1])))].sort((a, b) => a - b);
  assert.ok(numbers.length >= 3, fs.readdirSync(dir).join(' '));
  assert.deepEqual(
    numbers,
    numbers.map((_, i) => i + 1),
    'status.log.1 … N, oldest first, none missing',
  );
  const logged = [];
  for (const k of numbers) {
    const plain = path.join(dir, `status.log.${k}`);
    const text = fs.existsSync(plain)
      ? fs.readFileSync(plain, 'utf8')
      : zlib.gunzipSync(fs.readFileSync(`${plain}.gz`)).toString();
    assert.ok(Buffer.byteLength(text) <= 400, `status.log.${k} is within --logMaxSize`);
    logged.push(
      ...text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
  }
  logged.push(...statusLines(path.join(dir, 'status.log')));
  assert.deepEqual(
    logged,
    h.events.map((e) => JSON.parse(JSON.stringify(e))),
  );
  assert.equal(logged.filter((e) => e.event === 'start' || e.event === 'restart').length, 12);
});

test('the -l status log rotates by time (--logRotate 200 --logRotateUtc): files named for their periods', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'status-time-'));
  const h = startCli(
    ['-s', '-l', 'status.log', '--logRotate', '200', '--logRotateUtc', fixture('run-forever.js')],
    dir,
  );
  await h.waitEvent((e) => e.event === 'start', 'the start');
  // The start line's period ends; the quiet file is rotated, named for it.
  await until(
    () => fs.readdirSync(dir).some((name) => name.startsWith('status.log.')),
    5000,
    'a rotated status log',
  );
  const [name] = fs.readdirSync(dir).filter((n) => n.startsWith('status.log.'));
  const label = /^status\.log\.(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d)\.(\d{3})$/.exec(name);
  assert.ok(label, name);
  const start = Date.parse(`${label[1]}:${label[2]}:${label[3]}.${label[4]}Z`);
  const [line] = statusLines(path.join(dir, name));
  assert.equal(line.event, 'start');
  // The line is stamped by the CLI, then written by the core in the period it reaches it:
  // the stamp falls within that period, or (on a loaded machine) the one just before.
  const at = Date.parse(line.time);
  assert.ok(at >= start - 200 && at < start + 200, `${line.time} in ${name}`);
  h.child.kill('SIGTERM');
  assert.equal(await h.exited, 0, h.stderr);
});

test('the rotation flags and config keys reach the Monitor; bad values are usage errors', async () => {
  const { Monitor } = require('..');
  const [app] = cli.plan(
    [
      '--logRotate',
      'hourly',
      '--logRotateUtc',
      '--logCompress',
      '--logMaxAge',
      '14d',
      '-o',
      'o.log',
      'a.js',
    ],
    { cwd: '/srv' },
  ).apps;
  const m = new Monitor(app.script, app.options);
  assert.deepEqual(
    [m.logRotate, m.logRotateUtc, m.logCompress, m.logMaxAge],
    ['hourly', true, true, 14 * 86400000],
  );
  assert.equal(cli.parseArgs(['--logRotate', '60000', 'a.js']).flags.logRotate, 60000);
  assert.equal(cli.parseArgs(['--logMaxAge', '3600000', 'a.js']).flags.logMaxAge, 3600000);
  assert.throws(
    () => cli.parseArgs(['--logRotate', 'weekly', 'a.js']),
    /--logRotate must be daily, hourly or a whole number of milliseconds from 100 to 2678400000 \(31 days\), got "weekly"/,
  );
  assert.throws(
    () => cli.parseArgs(['--logMaxAge', '2 weeks', 'a.js']),
    /--logMaxAge must be a number of milliseconds \(at least 1\) or a duration/,
  );
  const [fromConfig] = cli.appsFromConfig('app.json', '/srv', () =>
    JSON.stringify({
      script: 'a.js',
      logRotate: 'daily',
      logRotateUtc: false,
      logCompress: true,
      logMaxAge: '30d',
      logMaxSize: 1000,
    }),
  );
  assert.deepEqual(
    [fromConfig.options.logRotate, fromConfig.options.logCompress, fromConfig.options.logMaxAge],
    ['daily', true, '30d'],
  );
  // The Monitor's own check: a usage error, exit code 2, naming the option.
  const dir = fs.mkdtempSync(path.join(root, 'usage-'));
  const h = startCli(['--logRotate', '50', fixture('run-forever.js')], dir);
  assert.equal(await h.exited, 2);
  assert.match(h.events[0].message, /"logRotate".*from 100 to 2678400000.*Received 50/);
});
