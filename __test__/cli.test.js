// The command line (bin/forever-native.js), driven as a subprocess, plus unit tests of the
// pure parts in bin/cli.js. Every wait is for a line, an event or an exit, never a sleep.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { fixture, isAlive, until, eachLine } = require('./helpers');
const cli = require('../bin/cli.js');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');
const VERSION = require('../package.json').version;
const ENV = { ...process.env, NO_COLOR: '1' };
delete ENV.FORCE_COLOR;

// Everything a test started, so nothing outlives it even when an assertion fails.
const started = new Set();
const pidsSeen = new Set();
test.afterEach(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
  for (const pid of pidsSeen) {
    try {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  pidsSeen.clear();
});

const dirs = new Set();
test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
});

/** A fresh temporary directory, removed when the file's tests are done. */
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-cli-'));
  dirs.add(dir);
  return dir;
}

/**
 * Starts the CLI (under `umask` when given). `out`/`err` collect stdout/stderr lines, `events` the JSON status lines
 * (with --json); `waitOut`/`waitEvent` resolve with the first match, `exited` with
 * {code, signal} once the CLI is gone and its pipes are drained.
 */
function startCli(args, { cwd, env = ENV, umask } = {}) {
  const argv =
    umask === undefined
      ? [process.execPath, BIN, ...args]
      : ['/bin/sh', '-c', `umask ${umask} && exec "$@"`, 'sh', process.execPath, BIN, ...args];
  const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const h = { child, out: [], err: [], events: [], stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (h.stdout += d));
  child.stderr.on('data', (d) => (h.stderr += d));
  eachLine(child.stdout, (l) => h.out.push(l));
  eachLine(child.stderr, (l) => {
    h.err.push(l);
    try {
      const e = JSON.parse(l);
      h.events.push(e);
      if (typeof e.pid === 'number') pidsSeen.add(e.pid);
    } catch {
      // a human line
    }
  });
  h.exited = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = (list, pred, what) => {
    let found;
    return until(() => (found = list.find(pred)) !== undefined, 10000, what).then(() => found);
  };
  h.waitOut = (pred, what = 'a stdout line') => waitFor(h.out, pred, what);
  h.waitEvent = (pred, what = 'a status event') => waitFor(h.events, pred, what);
  h.running = () => child.exitCode === null && child.signalCode === null;
  return h;
}

/** Runs the CLI to its end: {code, stdout, stderr, events}. */
async function runCli(args, options = {}) {
  const h = startCli(args, options);
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      h.child.kill('SIGKILL');
      reject(new Error(`forever-native ${args.join(' ')} timed out\nstderr: ${h.err.join('\n')}`));
    }, 15000);
  });
  const { code } = await Promise.race([h.exited, timeout]).finally(() => clearTimeout(timer));
  return { code, stdout: h.stdout, stderr: h.stderr, events: h.events };
}

const names = (events) => events.map((e) => e.event);

// ---------------------------------------------------------------------------------------
// --help, --version

test('--help lists every flag and an example; --version prints the package version', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.equal(help.stderr, '');
  for (const flag of cli.FLAGS) {
    assert.ok(help.stdout.includes(`--${flag.long}`), `--help mentions --${flag.long}`);
    if (flag.short)
      assert.ok(
        help.stdout.includes(`-${flag.short}, --${flag.long}`),
        `--help mentions -${flag.short}`,
      );
  }
  assert.match(help.stdout, /Examples?:\n\s+forever-native .*\.js/);

  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `${VERSION}\n`);
});

// ---------------------------------------------------------------------------------------
// Flags reach the Monitor

test("--max 2 with a crashing child: two runs, then the child's exit code is the CLI's; --json parses line by line", async () => {
  const r = await runCli(['--json', '--max', '2', fixture('crash-after.js'), '0', '3']);
  assert.equal(r.code, 3, r.stderr);
  const stderrLines = r.stderr.split('\n').filter(Boolean);
  assert.equal(r.events.length, stderrLines.length, 'every stderr line is JSON');
  for (const e of r.events) {
    assert.equal(typeof e.event, 'string');
    assert.ok(!Number.isNaN(Date.parse(e.time)), `time of ${e.event}`);
    assert.ok('pid' in e, `pid in ${e.event}`);
  }
  assert.deepEqual(names(r.events), ['start', 'exit', 'restarting', 'restart', 'exit', 'giveup']);
  const [start, exit1, restarting, restart, , giveup] = r.events;
  assert.equal(start.run, 1);
  assert.equal(start.max, 2);
  assert.equal(exit1.code, 3);
  assert.equal(exit1.pid, start.pid);
  assert.equal(restarting.run, 2);
  assert.notEqual(restart.pid, start.pid);
  assert.deepEqual(
    { reason: giveup.reason, runs: giveup.runs, exitCode: giveup.exitCode },
    { reason: 'max', runs: 2, exitCode: 3 },
  );
  assert.deepEqual(r.stdout.trim().split('\n'), [`started ${start.pid}`, `started ${restart.pid}`]);
});

test('--restartDelay and --backoff: each restart says when and which attempt; --restartWindow gives up', async () => {
  const r = await runCli([
    '--json',
    '--restartDelay',
    '50',
    '--backoff=initial:20,factor:2,jitter:0',
    '--restartWindow',
    '3/60000',
    fixture('crash-after.js'),
    '0',
    '4',
  ]);
  assert.equal(r.code, 4, r.stderr);
  const restarting = r.events.filter((e) => e.event === 'restarting');
  assert.deepEqual(
    restarting.map((e) => [e.delay, e.attempt]),
    [
      [50, 1],
      [50, 2],
      [80, 3],
    ],
    'the longest of 50 and 20, 40, 80',
  );
  assert.match(
    cli.formatHuman({ ...restarting[2], app: 'web' }),
    /web restarting in 80ms \(run 4, attempt 3\)$/,
  );
  const giveup = r.events.at(-1);
  assert.deepEqual(
    [giveup.event, giveup.reason, giveup.runs, giveup.window],
    ['giveup', 'window', 4, { count: 3, window: 60000 }],
  );
  assert.match(
    cli.formatHuman(giveup),
    /gave up: more than 3 restarts within 1m 0s \(exit code 4\)$/,
  );
});

test('--autorestart on-failure: a clean exit ends the CLI with code 0; --stopExitCodes ends on a listed code', async () => {
  const clean = await runCli([
    '--json',
    '--autorestart',
    'on-failure',
    fixture('crash-after.js'),
    '0',
    '0',
  ]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.deepEqual(names(clean.events), ['start', 'exit', 'giveup']);
  assert.equal(clean.events[2].reason, 'exitCode');
  assert.match(cli.formatHuman(clean.events[2]), /ended: exit code 0 is not restarted$/);
  const listed = await runCli([
    '--json',
    '--stopExitCodes',
    '0,78',
    fixture('crash-after.js'),
    '0',
    '78',
  ]);
  assert.equal(listed.code, 78, listed.stderr);
  assert.equal(listed.events.at(-1).reason, 'exitCode');
  const once = await runCli([
    '--json',
    '--autorestart',
    'never',
    fixture('crash-after.js'),
    '0',
    '5',
  ]);
  assert.equal(once.code, 5);
  assert.deepEqual(names(once.events), ['start', 'exit', 'giveup']);
  assert.equal(once.events[2].reason, 'never');
});

test('--fork --waitReady --watchdog: a ready line, a status line on SIGUSR1, and a clean stop', async () => {
  const h = startCli([
    '--json',
    '--fork',
    '--waitReady',
    '--readyTimeout',
    '5000',
    '--watchdog',
    '60000',
    fixture('ready-after.js'),
    '100',
  ]);
  const ready = await h.waitEvent((e) => e.event === 'ready', 'the ready line');
  assert.ok(ready.after >= 90, `ready ${ready.after} ms after the start`);
  assert.match(
    cli.formatHuman({ ...ready, app: 'web' }),
    /web ready \(pid \d+, (\d+ms|\d+(\.\d+)?s) after its start\)$/,
  );
  h.child.kill('SIGUSR1');
  const status = await h.waitEvent((e) => e.event === 'status', 'the status line');
  assert.equal(status.state, 'running');
  assert.equal(status.pid, ready.pid);
  assert.ok(status.rss > 1024 * 1024, `rss ${status.rss}`);
  // Even the first line has the CPU use (two readings of the tree), and a child alone has no tree.
  assert.equal(typeof status.cpu, 'number');
  assert.equal(status.treePids, 1);
  assert.match(
    cli.formatHuman({ ...status, app: 'web' }),
    /web running \(pid \d+, up [\d.]+m?s, cpu [\d.]+%, rss [\d.]+ MB, restarts 0\)$/,
  );
  h.child.kill('SIGTERM');
  assert.equal((await h.exited).code, 0);
});

test("SIGUSR1: README's status line, cpu and tree included, the first time and after", async () => {
  const h = startCli(['--killSignal', 'SIGKILL', fixture('spawn-grandchildren.js'), '2'], {
    env: ENV,
  });
  const spawned = JSON.parse(await h.waitOut((l) => l.startsWith('{'), 'the grandchildren'));
  const statusLines = () => h.err.filter((l) => / running \(/.test(l));
  // `web running (pid 4242, up 3m 2s, cpu 1.2%, rss 45.1 MB, tree 3 processes 60.2 MB, restarts 2)`
  const readme = new RegExp(
    `^forever-native: spawn-grandchildren\\.js running \\(pid ${spawned.pid}, up [\\d.]+m?s( \\d+s)?, ` +
      'cpu \\d+\\.\\d%, rss [\\d.]+ MB, tree (\\d+) processes ([\\d.]+) MB, restarts 0\\)$',
  );
  for (let i = 1; i <= 2; i++) {
    h.child.kill('SIGUSR1');
    await until(() => statusLines().length === i, 10000, `status line ${i}`);
    const line = statusLines()[i - 1];
    const m = readme.exec(line);
    assert.ok(m, line);
    assert.ok(
      Number(m[2]) >= 3,
      `the child and its ${spawned.grandchildren.length} grandchildren (and theirs): ${line}`,
    );
  }
  h.child.kill('SIGTERM');
  assert.equal((await h.exited).code, 0);
});

test('SIGUSR1 with --json: the figures as numbers, cpu and the tree included', async () => {
  const h = startCli(['--json', '--killSignal', 'SIGKILL', fixture('spawn-grandchildren.js'), '1']);
  await h.waitOut((l) => l.startsWith('{'), 'the grandchild');
  h.child.kill('SIGUSR1');
  const status = await h.waitEvent((e) => e.event === 'status', 'the status line');
  assert.equal(status.state, 'running');
  for (const key of ['cpu', 'rss', 'treeRss', 'treePids', 'uptime', 'sampledAt'])
    assert.equal(typeof status[key], 'number', key);
  assert.ok(
    status.cpu >= 0 && status.treePids >= 2 && status.treeRss >= status.rss,
    JSON.stringify(status),
  );
  h.child.kill('SIGTERM');
  assert.equal((await h.exited).code, 0);
});

test('--maxMemory: the memory restart says how much, then the CLI gives up at --max', async () => {
  const r = await runCli([
    '--json',
    '--maxMemory',
    '100M',
    '--memoryCheckInterval',
    '250',
    '--max',
    '2',
    fixture('grow-memory.js'),
  ]);
  const restarting = r.events.find((e) => e.event === 'restarting');
  assert.equal(restarting.reason, 'memory');
  assert.ok(restarting.rss > 100 * 1024 * 1024);
  assert.match(
    cli.formatHuman(restarting),
    /restarting in \d+ms \(memory [\d.]+ MB over the limit, run 2 of 2, attempt 1\)$/,
  );
  assert.equal(r.events.at(-1).event, 'giveup');
});

test('a child that dies by a signal gives exit code 1 when the CLI gives up', async () => {
  const r = await runCli(['--json', '--max', '1', fixture('kill-self.js')]);
  assert.equal(r.code, 1, r.stderr);
  const exit = r.events.find((e) => e.event === 'exit');
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(exit.code, null);
  assert.equal(r.events.at(-1).event, 'giveup');
  assert.equal(r.events.at(-1).exitCode, 1);
});

test('--minUptime without --spinSleepTime: a spinning child is let die, with its exit code', async () => {
  const r = await runCli(['--json', '--minUptime', '60000', fixture('crash-after.js'), '0', '4']);
  assert.equal(r.code, 4, r.stderr);
  assert.deepEqual(names(r.events), ['start', 'exit', 'spinning', 'giveup']);
  assert.equal(r.events[2].minUptime, 60000);
  assert.equal(r.events[2].restartIn, null);
  assert.equal(r.events[3].reason, 'spinning');
});

test('args after the script reach the child, our own flags included; --workingDir sets its cwd; -o and -l write files', async () => {
  const dir = tmpdir();
  const work = fs.mkdtempSync(path.join(dir, 'work-'));
  const out = path.join(dir, 'out.log');
  const status = path.join(dir, 'status.log');
  // The script is relative to the CLI's cwd, not to --workingDir.
  // Options go before the script; everything after it is the script's, a service's own
  // --config, --id, --silent, --watch, --max and --help included, and so is a `--`.
  const own = [
    '--port',
    '8080',
    '-s',
    '--config',
    'prod.json',
    '--id',
    '7',
    '--silent',
    '--watch',
    '--max',
    '9',
    '--help',
    '--version',
    '--json',
    '--',
    '--max',
    'x y',
  ];
  const r = await runCli(
    ['--max', '1', '--workingDir', work, '-o', out, '-l', status, 'fixtures/print-env.js', ...own],
    { cwd: __dirname },
  );
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  const seen = JSON.parse(line);
  assert.deepEqual(seen.argv, own);
  assert.equal(seen.cwd, work);
  assert.equal(fs.readFileSync(out, 'utf8'), `${line}\n`);
  // Human status lines on stderr (the script's --json is not ours), no colour on a pipe.
  assert.match(r.stderr, /print-env\.js started \(pid \d+\)/);
  assert.ok(!r.stderr.includes('\u001b['), 'no colour when stderr is not a TTY');
  // The script's --id 7 is not ours: the status lines name the script; --max 1 is ours.
  assert.match(r.stderr, /print-env\.js gave up after 1 run \(max 1, exit code 0\)/);
  // -l: the same status lines, timestamped.
  const logged = fs.readFileSync(status, 'utf8');
  assert.match(
    logged,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z forever-native: print-env\.js started \(pid \d+\)$/m,
  );
  assert.match(logged, /gave up after 1 run/);
});

test("the README's example: forever-native --max 2 examples/flaky-server.js runs it twice, then gives up", async () => {
  // Crashing after one request (CRASH_AFTER=1) rather than after 1-4 s keeps it quick.
  const h = startCli(['--json', '--max', '2', 'examples/flaky-server.js'], {
    cwd: path.join(__dirname, '..'),
    env: { ...ENV, CRASH_AFTER: '1' },
  });
  for (const run of [1, 2]) {
    const started = await h.waitEvent(
      (e) => (e.event === 'start' || e.event === 'restart') && e.run === run,
      `run ${run}`,
    );
    const listening = await h.waitOut((l) =>
      l.startsWith(`flaky-server ${started.pid}: listening on `),
    );
    const res = await fetch(listening.split('listening on ')[1]);
    assert.match(await res.text(), new RegExp(`hello from pid ${started.pid}`));
  }
  const { code } = await h.exited;
  assert.equal(code, 1);
  const giveup = h.events.at(-1);
  assert.deepEqual([giveup.event, giveup.reason, giveup.runs, giveup.max], ['giveup', 'max', 2, 2]);
});

test("a script's own --max is its own: forever-native keeps no run limit", async () => {
  // With the old parsing `--max 1` after the script was forever-native's and the child
  // would not be restarted; now it runs again, and the CLI is stopped by SIGINT.
  const h = startCli(['--json', fixture('crash-after.js'), '0', '0', '--max', '1']);
  const restart = await h.waitEvent(
    (e) => e.event === 'restart',
    "a restart past the script's --max 1",
  );
  assert.equal(restart.run, 2);
  assert.equal(restart.max, null);
  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 0);
});

test("-s keeps the child's output off the terminal but not out of -o", async () => {
  const dir = tmpdir();
  const out = path.join(dir, 'out.log');
  const r = await runCli(['-s', '--max', '1', '-o', out, fixture('print-env.js'), 'hello']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')).argv, ['hello']);
});

test('FORCE_COLOR colours the human status lines', async () => {
  const env = { ...process.env, FORCE_COLOR: '1' };
  delete env.NO_COLOR;
  const r = await runCli(['--max', '1', fixture('crash-after.js'), '0', '0'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes('\u001b[32mstarted'), r.stderr);
});

test("--max 0 is read as a config file's max: 0, which forever-monitor runs once", async () => {
  const r = await runCli(['--json', '--max', '0', fixture('crash-after.js'), '0', '3']);
  const events = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    events.filter((e) => e.event === 'start' || e.event === 'restart').map((e) => e.event),
    ['start'],
  );
  assert.equal(r.code, 3, r.stderr);
});

// ---------------------------------------------------------------------------------------
// --config

test("--config with one app: forever's keys, paths relative to the config file", async () => {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'work'));
  const file = path.join(dir, 'app.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      id: 'svc',
      script: fixture('print-env.js'),
      args: ['a', 'b c'],
      max: 1,
      silent: true,
      workingDir: 'work',
      outFile: 'out.log',
      pidFile: 'svc.pid',
    }),
  );
  const r = await runCli(['--json', '--config', file], { cwd: os.tmpdir() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const seen = JSON.parse(fs.readFileSync(path.join(dir, 'out.log'), 'utf8'));
  assert.deepEqual(seen.argv, ['a', 'b c']);
  assert.equal(seen.cwd, path.join(dir, 'work'));
  assert.deepEqual(names(r.events), ['start', 'exit', 'giveup']);
  assert.ok(r.events.every((e) => e.app === 'svc'));
  assert.ok(!fs.existsSync(path.join(dir, 'svc.pid')), 'pid file removed at the end');
});

test('--config with an array: the apps run side by side and the CLI exits when all have ended', async () => {
  const dir = tmpdir();
  const file = path.join(dir, 'apps.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      { id: 'once', script: fixture('print-env.js'), args: ['one'], max: 1 },
      { id: 'server', script: fixture('run-forever.js') },
    ]),
  );
  const h = startCli(['--json', '--config', file]);
  const once = await h.waitEvent(
    (e) => e.event === 'giveup' && e.app === 'once',
    'the first app to end',
  );
  assert.equal(once.exitCode, 0);
  const server = await h.waitEvent(
    (e) => e.event === 'start' && e.app === 'server',
    'the second app',
  );
  await h.waitOut((l) => l === `ready ${server.pid}`);
  assert.ok(h.running(), 'the CLI waits for the app still running');
  assert.ok(h.out.some((l) => l.startsWith('{') && JSON.parse(l).argv[0] === 'one'));
  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 0);
  assert.ok(h.events.some((e) => e.event === 'stop' && e.app === 'server'));
  assert.ok(!isAlive(server.pid));
});

test('--config with an array: the first app that gives up with a failure sets the exit code', async () => {
  const dir = tmpdir();
  const file = path.join(dir, 'apps.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      { script: fixture('print-env.js'), max: 1, silent: true },
      { script: fixture('crash-after.js'), args: ['0', '5'], max: 2, silent: true },
    ]),
  );
  const r = await runCli(['--json', '--config', file]);
  assert.equal(r.code, 5, r.stderr);
  const ends = r.events.filter((e) => e.event === 'giveup');
  assert.deepEqual(ends.map((e) => [e.app, e.exitCode]).sort(), [
    ['crash-after.js', 5],
    ['print-env.js', 0],
  ]);
});

test('--config that is not a regular file of at most 1 MiB: exit code 2 at once, one line naming the path and why', async (t) => {
  const dir = tmpdir();
  const fifo = path.join(dir, 'app.fifo');
  execFileSync('mkfifo', [fifo]);
  // A valid config, padded with spaces: one byte past the bound, and exactly at it.
  const app = JSON.stringify({ script: fixture('print-env.js'), max: 1, silent: true });
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, app + ' '.repeat(cli.CONFIG_MAX_BYTES + 1 - app.length));
  const atBound = path.join(dir, 'at-bound.json');
  fs.writeFileSync(atBound, app + ' '.repeat(cli.CONFIG_MAX_BYTES - app.length));
  const locked = path.join(dir, 'locked.json');
  fs.writeFileSync(locked, app, { mode: 0o000 });
  const rows = [
    // Without the bound, /dev/zero is read until memory runs out; a FIFO's open waits for a writer forever.
    [
      '/dev/zero',
      '/dev/zero',
      /^forever-native: cannot read config "\/dev\/zero": it is a character device, not a regular file\n$/,
    ],
    [
      'a FIFO with no writer',
      fifo,
      /cannot read config ".*\/app\.fifo": it is a FIFO, not a regular file\n$/,
    ],
    [
      'a directory',
      dir,
      /cannot read config ".*fn-cli-\w+": it is a directory, not a regular file\n$/,
    ],
    [
      'a file of 1 MiB + 1 byte',
      big,
      /cannot read config ".*\/big\.json": it is too large \(1048577 bytes; a config may hold at most 1 MiB\)\n$/,
    ],
  ];
  // Root reads any file: a mode-000 file is unreadable only to others.
  if (process.getuid() !== 0)
    rows.push([
      'an unreadable file',
      locked,
      /cannot read config ".*\/locked\.json": permission denied \(EACCES\)\n$/,
    ]);
  for (const [what, file, message] of rows) {
    await t.test(what, async () => {
      // runCli gives up (and fails) after 15 s: a hang is a failure, not a stuck suite.
      const r = await runCli(['--config', file]);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^forever-native: [^\n]+\n$/, `${what}: exactly one line`);
      assert.match(r.stderr, message);
    });
  }
  await t.test('a config of exactly 1 MiB runs', async () => {
    const r = await runCli(['--json', '--config', atBound]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(names(r.events), ['start', 'exit', 'giveup']);
  });
});

test('readConfigFile: a file swapped for a device after its stat is refused by the fstat of what was opened', () => {
  const real = fs.statSync;
  const regular = real(__filename);
  // The path looks like a regular file when it is looked at, and is /dev/zero when it is opened.
  fs.statSync = (file, ...rest) => (file === '/dev/zero' ? regular : real(file, ...rest));
  try {
    assert.throws(() => cli.readConfigFile('/dev/zero'), {
      reason: 'it is a character device, not a regular file',
    });
  } finally {
    fs.statSync = real;
  }
  assert.equal(cli.readConfigFile(__filename), fs.readFileSync(__filename, 'utf8'));
});

// ---------------------------------------------------------------------------------------
// Directories for the CLI's own files (-l, --pidFile)

const modeOf = (file) => fs.statSync(file).mode & 0o777;

/** The `--config` example of docs/cli.md, as the page shows it. */
function readmeConfig() {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'docs', 'cli.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## `--config`'));
  return JSON.parse(
    section.slice(
      section.indexOf('```json\n') + 8,
      section.indexOf('\n```', section.indexOf('```json\n')),
    ),
  );
}

test('the --config example of docs/cli.md works in a fresh directory: run/ for the pid file is created', async (t) => {
  const dir = tmpdir();
  const apps = readmeConfig();
  assert.deepEqual(
    apps.map((a) => [a.script, a.outFile, a.errFile, a.pidFile]),
    [
      ['server.js', 'logs/web.out.log', 'logs/web.err.log', 'run/web.pid'],
      ['worker.js', undefined, undefined, undefined],
    ],
  );
  fs.writeFileSync(path.join(dir, 'app.json'), JSON.stringify(apps));
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    [
      "process.stdout.write(`ready ${process.pid} ${process.argv.slice(2).join(' ')} ${process.env.NODE_ENV}\\n`);",
      "process.stderr.write('server warning\\n');",
      'setInterval(() => {}, 1 << 30);',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'worker.js'), 'setInterval(() => {}, 1 << 30);\n');
  const pidFile = path.join(dir, 'run', 'web.pid');

  const h = startCli(['--json', '--config', 'app.json'], { cwd: dir, umask: '022' });
  const web = await h.waitEvent((e) => e.event === 'start' && e.app === 'web', 'web to start');
  await h.waitEvent((e) => e.event === 'start' && e.app === 'worker', 'worker to start');
  // Not silent: the output also reaches the CLI's stdout and stderr.
  assert.equal(
    await h.waitOut((l) => l.startsWith(`ready ${web.pid}`)),
    `ready ${web.pid} --port 8080 production`,
  );
  await until(() => h.err.includes('server warning'), 5000, "the server's stderr");
  await until(() => fs.existsSync(pidFile), 5000, 'run/web.pid');
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${web.pid}\n`);
  assert.ok(fs.lstatSync(path.join(dir, 'run')).isDirectory());
  assert.equal(modeOf(path.join(dir, 'run')), 0o755);
  assert.ok(!h.events.some((e) => e.event === 'error' && /pid file/.test(e.message)), h.stderr);
  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 0, h.stderr);
  assert.ok(!fs.existsSync(pidFile), 'pid file removed at the end');

  await t.test('outFile and errFile are written under the new logs/', () => {
    assert.deepEqual(
      h.events.filter((e) => e.event === 'error'),
      [],
    );
    assert.match(
      fs.readFileSync(path.join(dir, 'logs', 'web.out.log'), 'utf8'),
      new RegExp(`^\\d{4}-[\\d:.T-]+Z ready ${web.pid} --port 8080 production\\n$`),
    );
    assert.match(
      fs.readFileSync(path.join(dir, 'logs', 'web.err.log'), 'utf8'),
      /^\S+Z server warning\n$/,
    );
    assert.equal(modeOf(path.join(dir, 'logs')), 0o755);
  });
});

test('-l and --pidFile in directories that do not exist yet: each made with mode 0755 less the umask', async () => {
  // umask 002 tells 0755 from 0777; umask 077 shows the umask is applied.
  for (const [umask, mode] of [
    ['002', 0o755],
    ['077', 0o700],
  ]) {
    const dir = tmpdir();
    const h = startCli(
      [
        '--json',
        '-l',
        'logs/deep/status.log',
        '--pidFile',
        'run/app/app.pid',
        fixture('run-forever.js'),
      ],
      { cwd: dir, umask },
    );
    const start = await h.waitEvent((e) => e.event === 'start');
    await h.waitOut((l) => l === `ready ${start.pid}`);
    const pidFile = path.join(dir, 'run', 'app', 'app.pid');
    assert.equal(fs.readFileSync(pidFile, 'utf8'), `${start.pid}\n`);
    for (const d of ['logs', 'logs/deep', 'run', 'run/app'])
      assert.equal(modeOf(path.join(dir, d)), mode, `${d} under umask ${umask}`);
    h.child.kill('SIGINT');
    const { code } = await h.exited;
    assert.equal(code, 0, h.stderr);
    assert.deepEqual(
      h.events.filter((e) => e.event === 'error'),
      [],
    );
    const logged = fs
      .readFileSync(path.join(dir, 'logs', 'deep', 'status.log'), 'utf8')
      .trim()
      .split('\n')
      .map(JSON.parse);
    assert.deepEqual(names(logged), ['start', 'signal', 'exit', 'stop']);
    assert.ok(!fs.existsSync(pidFile), 'pid file removed');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'run', 'app')), [], 'no temporary file left');
  }
});

test('directories for -l and --pidFile: existing symlinks are followed; a dangling one, a loop or a file is refused', async (t) => {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'real'));
  fs.symlinkSync('real', path.join(dir, 'link'));
  fs.symlinkSync('nowhere', path.join(dir, 'dangling'));
  fs.symlinkSync('loop', path.join(dir, 'loop'));
  fs.writeFileSync(path.join(dir, 'afile'), '');
  fs.writeFileSync(path.join(dir, 'target.log'), 'keep\n');
  fs.symlinkSync('target.log', path.join(dir, 'status-link.log'));
  /** Runs print-env once with `flags`; the child runs whatever happens to the files. */
  const once = async (flags) => {
    const r = await runCli(['--json', '-s', '--max', '1', ...flags, fixture('print-env.js')], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.events.some((e) => e.event === 'exit' && e.code === 0),
      'the child ran',
    );
    return r.events.filter((e) => e.event === 'error');
  };

  await t.test(
    'an existing symlink to a directory is followed, and what is created is a real directory',
    async () => {
      const errors = await once(['-l', 'link/sub/status.log', '--pidFile', 'link/sub2/app.pid']);
      assert.deepEqual(errors, []);
      assert.ok(fs.lstatSync(path.join(dir, 'real', 'sub')).isDirectory());
      assert.ok(!fs.lstatSync(path.join(dir, 'real', 'sub')).isSymbolicLink());
      assert.match(
        fs.readFileSync(path.join(dir, 'real', 'sub', 'status.log'), 'utf8'),
        /"event":"start"/,
      );
      assert.ok(fs.lstatSync(path.join(dir, 'real', 'sub2')).isDirectory());
    },
  );
  const refused = [
    [
      'a dangling symlink',
      'dangling/sub',
      'ENOENT',
      `${path.join(dir, 'dangling')} is a symlink to nothing`,
    ],
    ['a symlink loop', 'loop/sub', 'ELOOP', `${path.join(dir, 'loop')} is a symlink loop`],
    ['a file', 'afile/sub', 'ENOTDIR', `${path.join(dir, 'afile')} is not a directory`],
  ];
  for (const [what, sub, code, detail] of refused) {
    await t.test(
      `${what} in the path is refused with ${code}, nothing created through it`,
      async () => {
        const errors = await once(['-l', `${sub}/status.log`, '--pidFile', `${sub}/app.pid`]);
        const log = path.join(dir, sub, 'status.log');
        const pid = path.join(dir, sub, 'app.pid');
        assert.deepEqual(
          errors.map((e) => [e.message, e.code]),
          [
            [`cannot open log file ${log}: ${code} (${detail})`, code],
            [`cannot write pid file ${pid}: ${code} (${detail})`, code],
          ],
        );
        assert.ok(
          !fs.existsSync(path.join(dir, 'nowhere')),
          'no directory made for the dangling symlink',
        );
      },
    );
  }
  await t.test(
    'a symlink at the log file itself is still refused (ELOOP), its target untouched',
    async () => {
      const errors = await once(['-l', 'status-link.log']);
      assert.deepEqual(
        errors.map((e) => e.code),
        ['ELOOP'],
      );
      assert.match(errors[0].message, /^cannot open log file .*status-link\.log: ELOOP$/);
      assert.equal(fs.readFileSync(path.join(dir, 'target.log'), 'utf8'), 'keep\n');
    },
  );
});

// ---------------------------------------------------------------------------------------
// Signals

test('SIGINT stops the child and its whole tree, then the CLI exits 0', async () => {
  const h = startCli(['--json', fixture('spawn-grandchildren.js'), '2']);
  const start = await h.waitEvent((e) => e.event === 'start');
  const treeLine = await h.waitOut((l) => l.startsWith('{'));
  const tree = JSON.parse(treeLine);
  tree.grandchildren.forEach((p) => pidsSeen.add(p));
  assert.equal(tree.pid, start.pid);
  const all = [tree.pid, ...tree.grandchildren];
  assert.ok(all.every(isAlive), 'the tree runs');
  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 0);
  assert.deepEqual(names(h.events).slice(1), ['signal', 'exit', 'stop']);
  assert.equal(h.events[1].action, 'stop');
  assert.equal(h.events[2].signal, 'SIGTERM', 'the default graceful signal');
  // The core SIGKILLs what is left of the group before reporting the exit; give the
  // kernel a moment to reap the grandchildren that ignored SIGTERM.
  await until(() => all.every((p) => !isAlive(p)), 2000, 'the whole tree gone');
});

test('a second SIGINT kills a child that ignores SIGTERM (--killTTL 60000)', async () => {
  const h = startCli(['--json', '--killTTL', '60000', fixture('ignore-sigterm.js')]);
  const start = await h.waitEvent((e) => e.event === 'start');
  await h.waitOut((l) => l === `ready ${start.pid}`);
  h.child.kill('SIGINT');
  await h.waitOut((l) => l === 'got SIGTERM', 'the child to get SIGTERM');
  assert.ok(isAlive(start.pid), 'the child ignored SIGTERM');
  assert.ok(h.running(), 'the CLI waits for the child');
  assert.ok(!h.events.some((e) => e.event === 'stop'));
  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 130, 'a forced stop exits 128 + SIGINT');
  assert.ok(!isAlive(start.pid));
  const signals = h.events.filter((e) => e.event === 'signal').map((e) => e.action);
  assert.deepEqual(signals, ['stop', 'force']);
  assert.equal(h.events.find((e) => e.event === 'exit').signal, 'SIGKILL');
  assert.equal(h.events.at(-1).event, 'stop');
  assert.equal(h.events.at(-1).forced, true);
});

test('SIGHUP restarts the child; the pid file follows it and is removed on exit', async () => {
  const dir = tmpdir();
  const pidFile = path.join(dir, 'app.pid');
  const h = startCli(['--json', '--pidFile', pidFile, fixture('run-forever.js')]);
  const start = await h.waitEvent((e) => e.event === 'start');
  await h.waitOut((l) => l === `ready ${start.pid}`);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${start.pid}\n`);

  h.child.kill('SIGHUP');
  const restart = await h.waitEvent((e) => e.event === 'restart', 'the restart');
  assert.notEqual(restart.pid, start.pid);
  await h.waitOut((l) => l === `ready ${restart.pid}`);
  assert.ok(!isAlive(start.pid), 'the old child is gone');
  assert.ok(isAlive(restart.pid));
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${restart.pid}\n`);
  const restarting = h.events.find((e) => e.event === 'restarting');
  assert.equal(restarting.reason, 'SIGHUP');

  h.child.kill('SIGINT');
  const { code } = await h.exited;
  assert.equal(code, 0);
  assert.ok(!isAlive(restart.pid));
  assert.deepEqual(fs.readdirSync(dir), [], 'pid file and temporary files gone');
});

test('SIGTERM stops gracefully too (the child gets SIGTERM and exits 0)', async () => {
  const h = startCli(['--json', path.join(__dirname, '..', 'examples', 'flaky-server.js')], {
    env: { ...ENV, CRASH_AFTER: '1000' },
  });
  const start = await h.waitEvent((e) => e.event === 'start');
  await h.waitOut((l) => l.includes('listening on http://127.0.0.1:'));
  h.child.kill('SIGTERM');
  const { code } = await h.exited;
  assert.equal(code, 0);
  const exit = h.events.find((e) => e.event === 'exit');
  assert.equal(exit.code, 0, 'flaky-server closed cleanly on SIGTERM');
  assert.ok(!isAlive(start.pid));
});

test('--watch: after giving up it waits for a file change, runs again, and stops on SIGTERM', async () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, '.foreverignore'), '');
  fs.writeFileSync(path.join(dir, 'written.txt'), 'already');
  const h = startCli([
    '--json',
    '-m',
    '1',
    '-w',
    '--watchDirectory',
    dir,
    fixture('touch-and-exit.js'),
    dir,
  ]);
  await h.waitEvent((e) => e.event === 'waiting', 'the first give-up');
  assert.ok(h.running(), 'the CLI keeps running while it waits');
  // The watcher may still be starting (the CLI has no line for it): write until it sees
  // one, far enough apart that each write is a burst of its own.
  for (let n = 0; !h.events.some((e) => e.event === 'restart'); n++) {
    assert.ok(n < 15, 'the run a change starts');
    fs.writeFileSync(path.join(dir, 'app.js'), String(n));
    await until(() => h.events.some((e) => e.event === 'restart'), 700, 'a restart').catch(
      () => {},
    );
  }
  await until(
    () => h.events.filter((e) => e.event === 'waiting').length === 2,
    10000,
    'the second give-up',
  );
  h.child.kill('SIGTERM');
  const { code } = await h.exited;
  assert.equal(code, 0);
  assert.deepEqual(
    names(h.events).filter((n) => n !== 'exit'),
    ['start', 'waiting', 'watch', 'restart', 'waiting', 'signal', 'stop'],
  );
  const waiting = h.events.find((e) => e.event === 'waiting');
  assert.deepEqual([waiting.reason, waiting.runs, waiting.max], ['max', 1, 1]);
  assert.match(cli.formatHuman(waiting), /waiting for a file change \(gave up: 1 run, max 1\)$/);
});

// ---------------------------------------------------------------------------------------
// Errors

test('bad input: one line on stderr, no stack trace, exit code 2', async (t) => {
  const dir = tmpdir();
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{ "script": "app.js", ');
  const badValue = path.join(dir, 'bad-value.json');
  fs.writeFileSync(badValue, JSON.stringify([{ script: fixture('run-forever.js'), max: 'three' }]));
  const badDelay = path.join(dir, 'bad-delay.json');
  fs.writeFileSync(
    badDelay,
    JSON.stringify({ script: fixture('run-forever.js'), restartDelay: '1s' }),
  );
  const unknownKey = path.join(dir, 'unknown-key.json');
  fs.writeFileSync(unknownKey, JSON.stringify({ script: fixture('run-forever.js'), maxx: 3 }));
  const script = fixture('run-forever.js');
  const rows = [
    ['unknown flag', ['--nope', script], /unknown option --nope/],
    ['unknown short flag', ['-z', script], /unknown option -z/],
    ['missing script', [], /missing script/],
    [
      '--max abc',
      ['--max', 'abc', script],
      /--max must be a whole number from 0 to 9007199254740991, got "abc"/,
    ],
    ['--max without a value', ['--max'], /--max needs a value/],
    [
      '--minUptime -1',
      ['--minUptime', '-1', script],
      /--minUptime must be a finite number of milliseconds >= 0, got "-1"/,
    ],
    [
      '--killSignal SIGNOPE',
      ['--killSignal', 'SIGNOPE', script],
      /--killSignal must be a signal name.*"SIGNOPE"/,
    ],
    [
      '--config missing.json',
      ['--config', path.join(dir, 'missing.json')],
      /cannot read config ".*missing\.json": no such file/,
    ],
    ['--config with invalid JSON', ['--config', bad], /config ".*bad\.json" is not valid JSON/],
    ['--config with a script too', ['--config', bad, script], /cannot be given with --config/],
    [
      '--config with app flags',
      ['--max', '2', '--config', bad],
      /--max cannot be used with --config/,
    ],
    ['--config with an unknown key', ['--config', unknownKey], /unknown key "maxx"/],
    [
      'a TypeError from new Monitor',
      ['--config', badValue],
      /bad-value\.json\[0\]: The "max" option must be a number/,
    ],
    [
      'a RangeError from new Monitor (--logMaxFiles 5000)',
      ['--logMaxFiles', '5000', script],
      /"logMaxFiles" option must be a whole number from 0 to 1000/,
    ],
    ['a RangeError from new Monitor (--mergeLogs)', ['--mergeLogs', script], /"mergeLogs" option/],
    [
      '--autorestart sometimes',
      ['--autorestart', 'sometimes', script],
      /--autorestart must be always, on-failure or never, got "sometimes"/,
    ],
    [
      '--stopExitCodes 0,300',
      ['--stopExitCodes', '0,300', script],
      /--stopExitCodes must be exit codes from 0 to 255/,
    ],
    ['--restartWindow 5', ['--restartWindow', '5', script], /--restartWindow must be N\/MS/],
    [
      '--backoff=initial:x',
      ['--backoff=initial:x', script],
      /--backoff must be initial:MS,factor:F/,
    ],
    [
      'a RangeError from new Monitor (--backoff=factor:0.5)',
      ['--backoff=factor:0.5', script],
      /"backoff.factor" option must be a finite number >= 1/,
    ],
    [
      'a TypeError from new Monitor (restartDelay "1s" in a config)',
      ['--config', badDelay],
      /The "restartDelay" option must be a number of milliseconds/,
    ],
    // Each message names the range that is accepted, not one a refused value is in.
    [
      '--watchdog NaN',
      ['--watchdog', 'NaN', script],
      /--watchdog must be a finite number of milliseconds > 0, got "NaN"/,
    ],
    [
      '--watchdog 0 (the Monitor refuses it)',
      ['--watchdog', '0', script],
      /"watchdog" option must be a finite number > 0\. Received 0/,
    ],
    [
      '--readyTimeout -5',
      ['--waitReady', '--fork', '--readyTimeout', '-5', script],
      /--readyTimeout must be a finite number of milliseconds > 0, got "-5"/,
    ],
    [
      '--memoryCheckInterval x',
      ['--memoryCheckInterval', 'x', script],
      /--memoryCheckInterval must be a finite number of milliseconds >= 10, got "x"/,
    ],
    [
      '--memoryCheckInterval 5 (the Monitor refuses it)',
      ['--memoryCheckInterval', '5', script],
      /"memoryCheckInterval" option must be a finite number >= 10\. Received 5/,
    ],
    [
      '--listenBacklog x',
      ['--listenBacklog', 'x', script],
      /--listenBacklog must be a whole number from 1 to 65535, got "x"/,
    ],
    [
      '--logMaxFiles -1',
      ['--logMaxFiles', '-1', script],
      /--logMaxFiles must be a whole number from 0 to 1000, got "-1"/,
    ],
    [
      '--backoff=factor:0 (the Monitor refuses it)',
      ['--backoff=factor:0', script],
      /"backoff\.factor" option must be a finite number >= 1\. Received 0/,
    ],
    // A key given twice in one --backoff is a mistake, not "the last one wins".
    [
      '--backoff=initial=100,initial=200',
      ['--backoff=initial=100,initial=200', script],
      /--backoff must be .* with each key once \("initial" is given twice\), got "initial=100,initial=200"/,
    ],
    [
      '--backoff=factor:2,max:900,factor:3',
      ['--backoff=factor:2,max:900,factor:3', script],
      /--backoff .*\("factor" is given twice\)/,
    ],
  ];
  for (const [what, args, message] of rows) {
    await t.test(what, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^forever-native: [^\n]+\n$/, `${what}: exactly one line`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /^\s*at /m);
    });
  }
  await t.test('with --json the line is a JSON object', async () => {
    const r = await runCli(['--json', '--max', 'abc', script]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
    const e = JSON.parse(r.stderr);
    assert.equal(e.event, 'error');
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /--max/);
  });
});

test("forever's commands as the script: a usage error saying what to do, unless such a file exists", async (t) => {
  const dir = tmpdir();
  const rows = [
    [
      'start',
      ['start', 'app.js'],
      /^forever-native: "start" is not a file here, and no start command is needed: forever-native runs the script itself, in the foreground; use: forever-native app\.js\n$/,
    ],
    [
      'start with options and args',
      ['--max', '5', 'start', 'app.js', '--port', '8080'],
      /; use: forever-native --max 5 app\.js --port 8080\n$/,
    ],
    [
      "forever's order: start [options] script",
      ['start', '-m', '5', '--watch', 'app.js', 'a b'],
      /; use: forever-native -m 5 --watch app\.js 'a b'\n$/,
    ],
    ['start alone', ['start'], /; use: forever-native \[options\] script \[args\.\.\.\]\n$/],
    [
      'start with node as the command',
      ['-c', 'node', 'start', 'app.js'],
      /; use: forever-native -c node app\.js\n$/,
    ],
    [
      'stop',
      ['stop', 'app.js'],
      /"stop" is not a file here, and forever-native has no stop command: .*Ctrl-C or SIGTERM/,
    ],
    ['stopall', ['stopall'], /no stopall command: .*Ctrl-C or SIGTERM/],
    ['restart', ['restart', 'app.js'], /no restart command: .*SIGHUP/],
    ['list', ['list'], /no list command: .*not as a daemon/],
    ['logs', ['logs', 'app.js'], /no logs command: .*-o\/-e\/-l files/],
    ['config', ['config'], /no config command: .*--config FILE/],
  ];
  for (const [what, args, message] of rows) {
    await t.test(what, async () => {
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^forever-native: [^\n]+\n$/, `${what}: exactly one line`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /Target script does not exist/);
    });
  }
  await t.test('with --json the line is a JSON object', async () => {
    const r = await runCli(['--json', 'start', 'app.js'], { cwd: dir });
    assert.equal(r.code, 2);
    const e = JSON.parse(r.stderr);
    assert.deepEqual([e.event, e.exitCode], ['error', 2]);
    assert.match(e.message, /no start command is needed.*use: forever-native --json app\.js$/);
  });
  await t.test('a file named start is run, with the rest as its arguments', async () => {
    const here = tmpdir();
    fs.copyFileSync(fixture('print-env.js'), path.join(here, 'start'));
    const r = await runCli(['--max', '1', 'start', 'app.js', '--port', '1'], { cwd: here });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).argv, ['app.js', '--port', '1']);
  });
  await t.test('with another --command, start is handed to it as it is', async () => {
    const r = await runCli(['--max', '1', '-c', 'echo', 'start', 'web'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${path.join(dir, 'start')} web\n`);
  });
});

test('a runtime error from the monitor is a status line, not a crash (exit code 1)', async () => {
  // A missing script is a usage error before any monitor starts (exit 2, tested above); a
  // --command that does not exist is the monitor's to report.
  const r = await runCli([
    '--json',
    '-c',
    path.join(os.tmpdir(), 'no-such-dir-fn', 'prog'),
    'app.js',
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(names(r.events), ['error', 'giveup']);
  assert.match(r.events[0].message, /no-such-dir-fn\/prog/);
  assert.equal(r.events[1].reason, 'error');
  assert.doesNotMatch(r.stderr, /^\s*at /m);
});

// ---------------------------------------------------------------------------------------
// Production defaults: a crash loop backs off, a script node cannot run is exit 2

/** A script that throws as it starts, in a fresh directory. */
function throwingScript() {
  const file = path.join(tmpdir(), 'boom.js');
  fs.writeFileSync(file, "throw new Error('boom at startup');\n");
  return file;
}

test('a script that throws at startup backs off by default: the delays between runs grow', async () => {
  const r = await runCli(['--json', '-s', '--max', '5', throwingScript()]);
  assert.equal(r.code, 1, r.stderr);
  const restarting = r.events.filter((e) => e.event === 'restarting');
  assert.deepEqual(
    restarting.map((e) => [e.reason, e.run, e.max, e.attempt]),
    [
      ['exit', 2, 5, 1],
      ['exit', 3, 5, 2],
      ['exit', 4, 5, 3],
      ['exit', 5, 5, 4],
    ],
  );
  // backoff: true is 100 ms x1.5 with up to a tenth of jitter off: 90-100, 135-150, ...
  const delays = restarting.map((e) => e.delay);
  for (const [i, base] of [100, 150, 225, 337.5].entries()) {
    assert.ok(
      delays[i] >= base * 0.9 - 1 && delays[i] <= base,
      `delay ${i + 1}: ${delays[i]} in [${base * 0.9}, ${base}]`,
    );
  }
  for (let i = 1; i < delays.length; i++)
    assert.ok(delays[i] > delays[i - 1], `delays grow: ${delays}`);
  assert.deepEqual(
    [r.events.at(-1).event, r.events.at(-1).reason, r.events.at(-1).runs],
    ['giveup', 'max', 5],
  );
});

test('--no-backoff (or --backoff=false, or --restartDelay) restores the immediate restarts', async (t) => {
  for (const flags of [['--no-backoff'], ['--backoff=false'], ['--restartDelay', '0']]) {
    await t.test(flags.join(' '), async () => {
      const r = await runCli(['--json', '-s', '--max', '3', ...flags, throwingScript()]);
      assert.equal(r.code, 1, r.stderr);
      const restarting = r.events.filter((e) => e.event === 'restarting');
      assert.deepEqual(
        restarting.map((e) => [e.run, e.delay, e.attempt]),
        [
          [2, 0, 1],
          [3, 0, 2],
        ],
      );
    });
  }
  assert.throws(() => cli.parseArgs(['--no-backoff=true', 'a.js']), /--no-backoff takes no value/);
});

test('status lines: one run/attempt scheme in every restarting line, human and JSON', async () => {
  // jitter:0 makes the delays exact; -s keeps the child's stack trace off stderr.
  const r = await runCli(['-s', '--max', '3', '--backoff=jitter:0', throwingScript()]);
  assert.equal(r.code, 1, r.stderr);
  const shown = r.stderr
    .trim()
    .split('\n')
    .map((l) => l.replace(/pid \d+/, 'pid N').replace(/uptime [^)]+/, 'uptime T'));
  assert.deepEqual(shown, [
    'forever-native: boom.js started (pid N)',
    'forever-native: boom.js exited (code 1, uptime T)',
    'forever-native: boom.js restarting in 100ms (run 2 of 3, attempt 1)',
    'forever-native: boom.js restarted (pid N, run 2 of 3)',
    'forever-native: boom.js exited (code 1, uptime T)',
    'forever-native: boom.js restarting in 150ms (run 3 of 3, attempt 2)',
    'forever-native: boom.js restarted (pid N, run 3 of 3)',
    'forever-native: boom.js exited (code 1, uptime T)',
    'forever-native: boom.js gave up after 3 runs (max 3, exit code 1)',
  ]);
  // The other reasons say it the same way: why first, then run, then attempt (none for a
  // restart that was asked for); JSON has the same fields whatever the reason.
  const line = (e) => cli.formatHuman({ event: 'restarting', app: 'web', ...e });
  assert.equal(
    line({ reason: 'SIGHUP', run: 4, max: null, delay: 0, attempt: null }),
    'forever-native: web restarting (SIGHUP, run 4)',
  );
  assert.equal(
    line({ reason: 'watch', run: 4, max: 9, delay: 0, attempt: null }),
    'forever-native: web restarting (file changed, run 4 of 9)',
  );
  assert.equal(
    line({ reason: 'watchdog', run: 2, max: 9, delay: 1500, attempt: 1 }),
    'forever-native: web restarting in 1.5s (watchdog: no heartbeat in time, run 2 of 9, attempt 1)',
  );
  assert.equal(
    line({ reason: 'memory', run: 3, max: null, delay: 0, attempt: 2, rss: 200 * 1024 * 1024 }),
    'forever-native: web restarting (memory 200.0 MB over the limit, run 3, attempt 2)',
  );
});

test('a missing script or a directory is exit code 2 at once, with one line', async (t) => {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'src'));
  const rows = [
    ['a missing script', ['app.js'], 'forever-native: app.js: no such file\n'],
    [
      'a missing script in a missing directory',
      ['--max', '3', 'lib/app.js'],
      'forever-native: lib/app.js: no such file\n',
    ],
    ['a directory', ['src'], 'forever-native: src: is a directory\n'],
    [
      'forever-native logs with a logs/ directory: the command hint',
      ['logs'],
      'forever-native: logs: is a directory; forever-native has no logs command: the output goes to the terminal, or to the -o/-e/-l files (see --help)\n',
    ],
    [
      'node as --command',
      ['-c', 'node --expose-gc', 'app.js'],
      'forever-native: app.js: no such file\n',
    ],
  ];
  for (const [what, args, line] of rows) {
    await t.test(what, async () => {
      const before = Date.now();
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.equal(r.stderr, line);
      assert.equal(r.stdout, '');
      assert.ok(
        Date.now() - before < 5000,
        `at once, not after restarts (${Date.now() - before} ms)`,
      );
    });
  }
  await t.test('with --json the line is a JSON object', async () => {
    const r = await runCli(['--json', 'logs'], { cwd: dir });
    assert.equal(r.code, 2);
    const e = JSON.parse(r.stderr);
    assert.deepEqual([e.event, e.exitCode], ['error', 2]);
    assert.match(e.message, /^logs: is a directory; forever-native has no logs command/);
  });
  await t.test(
    'another command gets its words as they are, even ones that are no file',
    async () => {
      const r = await runCli(['--max', '1', '-c', 'echo', 'missing.py', 'x'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${path.join(dir, 'missing.py')} x\n`);
    },
  );
});

test('scriptProblem and withRestartDefaults: what the CLI checks and sets before any monitor starts', () => {
  const stat = (file) => {
    if (file === '/srv/app.js') return { isDirectory: () => false };
    if (file === '/srv/logs' || file === '/srv/lib') return { isDirectory: () => true };
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  };
  const problem = (argv) => {
    const p = cli.scriptProblem(cli.plan(argv, { cwd: '/srv', exists: () => true }).apps[0], stat);
    return p && p.message;
  };
  assert.equal(problem(['app.js']), null);
  assert.equal(problem(['--sourceDir', '/srv', 'app.js']), null);
  assert.equal(problem(['--sourceDir', '/srv/lib', 'app.js']), 'app.js: no such file');
  assert.equal(problem(['lib']), 'lib: is a directory');
  assert.match(problem(['logs']), /^logs: is a directory; forever-native has no logs command/);
  assert.equal(problem(['-c', 'python3', 'nope.py']), null);
  assert.equal(problem(['-c', '/usr/bin/nodejs', 'nope.js']), 'nope.js: no such file');
  const config = { where: 'app.json[1]', script: '/srv/nope.js', shown: 'nope.js', options: {} };
  assert.equal(cli.scriptProblem(config, stat).message, 'app.json[1]: nope.js: no such file');

  const defaults = (argv) =>
    cli.withRestartDefaults(cli.plan(argv, { cwd: '/srv' }).apps[0].options);
  assert.equal(defaults(['a.js']).backoff, true);
  assert.deepEqual(defaults(['--backoff=initial:5', 'a.js']).backoff, { initial: 5 });
  assert.equal(defaults(['--no-backoff', 'a.js']).backoff, false);
  assert.equal(defaults(['--restartDelay', '250', 'a.js']).backoff, undefined);
  assert.equal(
    cli.withRestartDefaults({ restartDelay: 0 }).backoff,
    undefined,
    'a config key counts too',
  );
  assert.equal(cli.withRestartDefaults({ backoff: false }).backoff, false);
});

// ---------------------------------------------------------------------------------------
// Unit tests of bin/cli.js

test('parseArgs: our flags before the script; everything after it passed through', () => {
  const p = cli.parseArgs([
    '-sa',
    '-m5',
    '--minUptime=100',
    '--watchDirectory',
    'a',
    '--watchDirectory',
    'b',
    '--watchIgnore',
    '*.log',
    '--watchIgnore=*.tmp',
    '--killTree=false',
    'app.js',
    '--port',
    '80',
    '-s',
    '--spinSleepTime',
    '50',
    '--',
    '--max',
    '1',
    '--help',
  ]);
  assert.equal(p.script, 'app.js');
  assert.deepEqual(p.args, [
    '--port',
    '80',
    '-s',
    '--spinSleepTime',
    '50',
    '--',
    '--max',
    '1',
    '--help',
  ]);
  assert.deepEqual(p.flags, {
    silent: true,
    append: true,
    max: 5,
    minUptime: 100,
    watchDirectory: ['a', 'b'],
    watchIgnore: ['*.log', '*.tmp'],
    killTree: false,
  });
  // The restart policy's flags.
  const policy = cli.parseArgs([
    '--restartDelay',
    '250',
    '--backoff',
    '--autorestart',
    'on-failure',
    '--stopExitCodes',
    '0,78',
    '--restartWindow',
    '5/60000',
    'app.js',
  ]);
  assert.deepEqual(policy.flags, {
    restartDelay: 250,
    backoff: true,
    autorestart: 'on-failure',
    stopExitCodes: [0, 78],
    restartWindow: { count: 5, window: 60000 },
  });
  assert.equal(policy.script, 'app.js', '--backoff takes no value of its own');
  assert.deepEqual(
    cli.parseArgs(['--backoff=initial:200,factor:2,max:8000,jitter:0.2,resetAfter:60000', 'a.js'])
      .flags.backoff,
    { initial: 200, factor: 2, max: 8000, jitter: 0.2, resetAfter: 60000 },
  );
  assert.equal(cli.parseArgs(['--backoff=false', 'a.js']).flags.backoff, false);
  // Every key once; the same key twice is a usage error, whichever separator it uses.
  assert.deepEqual(cli.parseArgs(['--backoff=initial=100,factor:2', 'a.js']).flags.backoff, {
    initial: 100,
    factor: 2,
  });
  for (const spec of [
    'initial=100,initial=200',
    'max:10,max:10',
    'jitter:0.1,factor:2,jitter=0.2',
    'resetAfter:1,resetAfter=2',
  ]) {
    const key = /^(\w+)/.exec(spec.split(',').pop())[1];
    assert.throws(
      () => cli.parseArgs([`--backoff=${spec}`, 'a.js']),
      (err) =>
        err instanceof cli.UsageError &&
        err.message.includes(`"${key}" is given twice`) &&
        err.message.startsWith('--backoff ') &&
        !err.message.includes('\n'),
      spec,
    );
  }
  // The lowest values the Monitor takes are read, and taken.
  const { Monitor } = require('..');
  const lowest = cli.plan(
    [
      '--fork',
      '--waitReady',
      '--readyTimeout',
      '0.5',
      '--watchdog',
      '1',
      '--memoryCheckInterval',
      '10',
      '--maxMemory',
      '1M',
      '--listenBacklog',
      '1',
      '--backoff=factor:1,jitter:0,initial:0,max:0',
      'a.js',
    ],
    { exists: () => true },
  ).apps[0];
  const m = new Monitor(lowest.script, lowest.options);
  assert.deepEqual(
    [
      m.readyTimeout,
      m.watchdog,
      m.memoryCheckInterval,
      m.listenBacklog,
      m.backoff.factor,
      m.backoff.jitter,
    ],
    [0.5, 1, 10, 1, 1, 0],
  );
  // The README's example: options first.
  const readme = cli.parseArgs(['--max', '5', 'examples/flaky-server.js']);
  assert.deepEqual(
    [readme.script, readme.flags.max, readme.args],
    ['examples/flaky-server.js', 5, []],
  );
  // After the script, our long options are the script's, even ones that would be invalid
  // for us (`--max` without a value, `--nope`).
  const late = cli.parseArgs([
    'examples/flaky-server.js',
    '--max',
    '5',
    '--config',
    'prod.json',
    '--max',
    '--nope',
  ]);
  assert.deepEqual(late.flags, {});
  assert.deepEqual(late.given, []);
  assert.deepEqual(late.args, ['--max', '5', '--config', 'prod.json', '--max', '--nope']);
  // `--` ends our options: the next argument is the script, even one starting with -.
  const dashed = cli.parseArgs(['--max', '2', '--', '-weird.js', 'x', '--', '--max']);
  assert.equal(dashed.script, '-weird.js');
  assert.equal(dashed.flags.max, 2);
  assert.deepEqual(dashed.args, ['x', '--', '--max']);
  assert.equal(cli.parseArgs(['--', 'app.js']).script, 'app.js');
  assert.equal(cli.parseArgs(['--']).script, undefined);
  assert.throws(() => cli.parseArgs(['--max']), /--max needs a value/);
  assert.throws(() => cli.parseArgs(['--silent=maybe', 'a.js']), /--silent must be true or false/);
  assert.throws(() => cli.parseArgs(['--max', '1.5', 'a.js']), cli.UsageError);
  assert.throws(
    () => cli.parseArgs(['--logMaxSize', '0', 'a.js']),
    /--logMaxSize must be a whole number from 1 to 9007199254740991/,
  );
  assert.equal(cli.parseArgs(['--logMaxFiles', '0', 'a.js']).flags.logMaxFiles, 0);
  assert.equal(cli.parseArgs(['--killSignal', 'int', 'a.js']).flags.killSignal, 'SIGINT');
  assert.equal(cli.parseArgs(['--killSignal', '15', 'a.js']).flags.killSignal, 15);
});

test('plan: a forever command is an error only when no such file exists (--sourceDir included)', () => {
  const none = () => false;
  assert.throws(
    () => cli.plan(['restartall'], { cwd: '/srv', exists: none }),
    /"restartall" is not a file here, and forever-native has no restartall command/,
  );
  assert.throws(
    () => cli.plan(['--sourceDir', 'lib', 'start', 'a.js'], { cwd: '/srv', exists: none }),
    /use: forever-native --sourceDir lib a\.js$/,
  );
  const seen = [];
  const only = (file) => seen.push(file) && file === '/srv/lib/start';
  const [app] = cli.plan(['--sourceDir', 'lib', 'start', 'a.js'], {
    cwd: '/srv',
    exists: only,
  }).apps;
  assert.deepEqual(seen, ['/srv/lib/start']);
  assert.deepEqual([app.script, app.options.args], ['start', ['a.js']]);
  assert.equal(
    cli.plan(['start'], { cwd: '/srv', exists: (f) => f === '/srv/start' }).apps[0].script,
    '/srv/start',
  );
  assert.equal(
    cli.plan(['-c', 'python3', 'list'], { cwd: '/srv', exists: none }).apps[0].script,
    '/srv/list',
  );
  assert.throws(
    () => cli.plan(['-c', '/usr/bin/node --expose-gc', 'list'], { cwd: '/srv', exists: none }),
    /no list command/,
  );
  // Not a forever command: the Monitor reports the missing script as before.
  assert.equal(cli.plan(['startup'], { cwd: '/srv', exists: none }).apps[0].script, '/srv/startup');
  assert.equal(
    cli.plan(['toString'], { cwd: '/srv', exists: none }).apps[0].script,
    '/srv/toString',
  );
});

test("plan: the options reach a real Monitor, with the CLI's graceful-stop defaults", () => {
  const { Monitor } = require('..');
  const cwd = '/srv/app';
  const { apps } = cli.plan(
    [
      '--max',
      '3',
      '--minUptime',
      '1000',
      '--spinSleepTime',
      '500',
      '-c',
      'node --expose-gc',
      '--workingDir',
      'work',
      '--uid',
      'u1',
      '--id',
      'web',
      '--pidFile',
      'run/app.pid',
      '-t',
      'server.js',
      '--port',
      '1',
    ],
    { cwd },
  );
  assert.equal(apps.length, 1);
  const [app] = apps;
  assert.equal(app.name, 'web');
  assert.equal(app.script, '/srv/app/server.js');
  const m = new Monitor(app.script, app.options);
  assert.equal(m.max, 3);
  assert.equal(m.minUptime, 1000);
  assert.equal(m.spinSleepTime, 500);
  assert.equal(m.command, 'node --expose-gc');
  assert.equal(m.cwd, '/srv/app/work');
  assert.equal(m.uid, 'u1');
  assert.equal(m.id, 'web');
  assert.equal(m.pidFile, '/srv/app/run/app.pid');
  assert.equal(m.killTree, true);
  assert.deepEqual(m.args, ['/srv/app/server.js', '--port', '1']);
  assert.equal(m.killSignal, 'SIGTERM');
  assert.equal(m.killTTL, 5000);

  const given = cli.plan(['--killSignal', 'SIGINT', 'a.js'], { cwd }).apps[0].options;
  assert.equal(given.killSignal, 'SIGINT');
  assert.equal(given.killTTL, undefined, 'no TTL unless asked for when a signal is given');
  const ttl = cli.plan(['--killTTL', '100', 'a.js'], { cwd }).apps[0].options;
  assert.deepEqual([ttl.killSignal, ttl.killTTL], ['SIGTERM', 100]);
  const src = cli.plan(['--sourceDir', 'lib', 'a.js'], { cwd }).apps[0];
  assert.deepEqual([src.script, src.options.sourceDir], ['a.js', '/srv/app/lib']);
  const logs = cli.plan(
    [
      '-o',
      'o.log',
      '-e',
      'e.log',
      '-a',
      '--logTimestamps',
      '--mergeLogs',
      '--logMaxSize',
      '1024',
      '--logMaxFiles',
      '3',
      '-w',
      '--watchDirectory',
      'x',
      '--watchIgnore',
      '*.md',
      'a.js',
    ],
    { cwd },
  ).apps[0].options;
  assert.deepEqual(logs, {
    outFile: '/srv/app/o.log',
    errFile: '/srv/app/e.log',
    append: true,
    logTimestamps: true,
    mergeLogs: true,
    logMaxSize: 1024,
    logMaxFiles: 3,
    watch: true,
    watchDirectory: '/srv/app/x',
    watchIgnorePatterns: ['*.md'],
    killSignal: 'SIGTERM',
    killTTL: 5000,
  });
  const direct = cli.plan(['-s', '-o', 'o.log', '--logDirect', 'a.js'], { cwd }).apps[0].options;
  assert.deepEqual(
    [direct.silent, direct.outFile, direct.logDirect],
    [true, '/srv/app/o.log', true],
  );
});

test("appsFromConfig: forever's keys become Monitor options", () => {
  const files = {
    '/etc/svc/app.json': JSON.stringify({
      script: 'index.js',
      sourceDir: 'src',
      workingDir: '.',
      watchIgnore: 'node_modules/**',
      killSignal: 'TERM',
      logFile: 'logs/forever.log',
    }),
  };
  const readFile = (file) => {
    if (!(file in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return files[file];
  };
  const [app] = cli.appsFromConfig('app.json', '/etc/svc', readFile);
  assert.equal(app.script, 'index.js');
  assert.deepEqual(app.options, {
    sourceDir: '/etc/svc/src',
    cwd: '/etc/svc',
    watchIgnorePatterns: ['node_modules/**'],
    killSignal: 'SIGTERM',
    logFile: '/etc/svc/logs/forever.log',
  });
  assert.throws(
    () => cli.appsFromConfig('none.json', '/etc/svc', readFile),
    /cannot read config "none\.json": no such file/,
  );
  files['/etc/svc/empty.json'] = '[]';
  assert.throws(() => cli.appsFromConfig('empty.json', '/etc/svc', readFile), /empty array/);
  files['/etc/svc/noscript.json'] = '[{"max": 1}]';
  assert.throws(
    () => cli.appsFromConfig('noscript.json', '/etc/svc', readFile),
    /noscript\.json\[0\]: "script" must be/,
  );
});

test('status lines: human (coloured only when asked) and JSON', () => {
  const time = new Date('2024-01-02T03:04:05.678Z');
  const e = { event: 'exit', time, app: 'web', pid: 42, code: 1, signal: null, uptime: 2345 };
  assert.equal(cli.formatHuman(e), 'forever-native: web exited (code 1, uptime 2.3s)');
  assert.ok(cli.formatHuman(e, true).includes('\u001b[31mexited'));
  assert.deepEqual(JSON.parse(cli.formatJson(e)), { ...e, time: '2024-01-02T03:04:05.678Z' });
  assert.equal(
    cli.formatHuman({ event: 'restarting', app: 'web', run: 2, max: 5 }),
    'forever-native: web restarting (run 2 of 5)',
  );
  assert.equal(
    cli.formatHuman({ event: 'giveup', app: 'web', reason: 'max', runs: 5, max: 5, exitCode: 1 }),
    'forever-native: web gave up after 5 runs (max 5, exit code 1)',
  );
  assert.equal(cli.formatDuration(65000), '1m 5s');
  assert.equal(cli.useColor({ isTTY: true }, {}), true);
  assert.equal(cli.useColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(cli.useColor({ isTTY: false }, {}), false);
  assert.equal(cli.useColor({ isTTY: false }, { FORCE_COLOR: '1' }), true);
});

test("--json: a process warning (a loose config value) is a status line, not Node's text", async () => {
  const dir = tmpdir();
  const script = path.join(dir, 'ok.js');
  fs.writeFileSync(script, 'process.exit(0)\n');
  const config = path.join(dir, 'app.json');
  fs.writeFileSync(config, JSON.stringify({ script, max: '1' }));
  const r = await runCli(['--json', '--config', config]);
  assert.equal(r.code, 0);
  const lines = r.stderr.split('\n').filter(Boolean);
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line);
  const warning = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'warning');
  assert.match(warning.message, /"max".*FOREVER_NATIVE_LOOSE_OPTION/);
});
