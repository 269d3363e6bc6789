// PM2's ecosystem files (bin/ecosystem.js): the mapping of each PM2 key, files shaped as in
// PM2's documentation, and the command line running one. Every wait is for a line, an
// event or an exit, never a sleep.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { fixture, isAlive, until, freePort, eachLine } = require('./helpers');
const { request } = require('./client-loop');
const eco = require('../bin/ecosystem.js');
const cli = require('../bin/cli.js');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');
const ENV = { ...process.env, NO_COLOR: '1' };
delete ENV.FORCE_COLOR;

// ---------------------------------------------------------------------------------------
// The mapping, key by key, on a file system of the test's own

const NODE = '/opt/node/bin/node';
const FILES = new Set([
  '/srv/app/server.js',
  '/srv/app/api/index.js',
  '/srv/app/worker.py',
  '/srv/app/run.sh',
  '/srv/app/bin/www',
  '/srv/app/bin/server-go',
  '/srv/app/config.json',
]);
const DIRS = new Set(['/srv/app', '/srv/app/api', '/srv/app/src', '/srv/app/lib']);
const io = (over = {}) => ({
  exists: (p) => FILES.has(p) || DIRS.has(p),
  isDirectory: (p) => DIRS.has(p),
  which: (name) =>
    ({
      npm: '/usr/bin/npm',
      bash: '/bin/bash',
      python: '/usr/bin/python',
      python3: '/usr/bin/python3',
    })[name] || null,
  isBinary: (p) => p === '/srv/app/bin/server-go',
  resolveDirectory: (p) => (p === '/srv/app/api' ? '/srv/app/api/index.js' : null),
  homedir: () => '/home/u',
  ...over,
});
const HOST = { PATH: '/usr/bin', REACT_APP_KEY: 'k', REACT_APP_URL: 'u', SECRET: 's' };

/** One PM2 app mapped, with the test's file system and a file in /srv/app. */
function map(app, ctx = {}) {
  const { io: over, ...rest } = ctx;
  return eco.fromPm2App(app, {
    baseDir: '/srv/app',
    execPath: NODE,
    hostEnv: HOST,
    ...rest,
    io: io(over),
  });
}
const config = (app, ctx) => map(app, ctx).config;
const unsupported = (app, ctx) => map(app, ctx).unsupported;

test('script, name and cwd: paths as PM2 resolves them, from the file directory', () => {
  const m = map({ script: 'server.js' });
  assert.equal(m.name, 'server', "the script's name without its extension");
  assert.equal(m.config.id, 'server');
  assert.equal(m.config.script, '/srv/app/server.js');
  assert.equal(m.config.cwd, '/srv/app', 'the child runs in the file directory');
  assert.equal(m.config.command, undefined, "node: the CLI's own");
  assert.equal(m.config.fork, true, 'an IPC channel, as PM2 gives every node app');
  assert.deepEqual(m.unsupported, []);
  assert.equal(map({ name: 'web', script: 'server.js' }).config.id, 'web');
  assert.equal(map({ script: 'lib/app.min.js' }).name, 'app.min');

  const inCwd = config({ script: 'index.js', cwd: 'api' });
  assert.equal(inCwd.cwd, '/srv/app/api');
  assert.equal(inCwd.script, '/srv/app/api/index.js', 'the script is relative to cwd');
  assert.equal(config({ script: '/abs/app.js', cwd: '/elsewhere' }).script, '/abs/app.js');
  assert.throws(() => map({ name: 'x' }), /"script" must be a non-empty string/);
  assert.throws(() => map({ script: 'a.js', cwd: 3 }), /"cwd" must be a path, got 3/);
});

test('script: a program on PATH, a directory, a command line', () => {
  const npm = config({ script: 'npm', args: 'start' });
  assert.equal(npm.script, '/usr/bin/npm', 'found on PATH as PM2 finds it');
  assert.deepEqual(npm.args, ['start']);

  assert.equal(config({ script: './api' }).script, '/srv/app/api/index.js', "a package's main");

  const line = map({ script: 'npm run start -- --port 80', args: 'ignored' });
  assert.equal(line.name, 'npm run start -- --port 80');
  assert.deepEqual(line.config.script, ['bash', '-c', 'npm run start -- --port 80']);
  assert.equal(line.config.args, undefined);
  assert.deepEqual(line.unsupported, ['args (the script is a command line)']);
  const noBash = config({ script: 'make run' }, { io: { which: () => null } });
  assert.deepEqual(noBash.script, ['sh', '-c', 'make run']);
});

test('args: a string split as PM2 splits it, or an array as it is', () => {
  assert.deepEqual(config({ script: 'server.js', args: '-a 13  -b 12' }).args, [
    '-a',
    '13',
    '-b',
    '12',
  ]);
  assert.deepEqual(
    config({ script: 'server.js', args: `--to='heya coco' -d 1 "two words" ''` }).args,
    ["--to='heya coco'", '-d', '1', 'two words'],
    "PM2 keeps a name='value' word whole, quotes included, and drops an empty one",
  );
  assert.deepEqual(config({ script: 'server.js', args: ['--x=a b', 2] }).args, ['--x=a b', '2']);
  assert.equal(config({ script: 'server.js', args: '' }).args, undefined);
  assert.deepEqual(eco.splitArgs(undefined), []);
});

test('interpreter, interpreter_args/node_args: the command; PM2 picks by extension', () => {
  const flags = config({ script: 'server.js', node_args: '--max-old-space-size=4096 --expose-gc' });
  assert.equal(flags.command, `${NODE} --max-old-space-size=4096 --expose-gc`);
  assert.equal(flags.fork, true);
  assert.equal(
    config({ script: 'server.js', interpreter_args: ['--inspect'] }).command,
    `${NODE} --inspect`,
  );
  assert.equal(
    config({ script: 'server.js', interpreter: '/usr/local/bin/node' }).command,
    '/usr/local/bin/node',
  );

  const py = config({ script: 'worker.py' });
  assert.equal(py.command, 'python');
  assert.equal(py.env.PYTHONUNBUFFERED, '1', 'as PM2 sets it');
  assert.equal(py.fork, undefined, 'no IPC for another interpreter');
  assert.equal(
    config({ script: 'worker.py' }, { io: { which: (n) => (n === 'python3' ? '/x' : null) } })
      .command,
    'python3',
    'python3 when there is no python, as PM2',
  );
  assert.equal(config({ script: 'run.sh' }).command, 'bash');
  assert.equal(
    config({ script: 'worker.py', exec_interpreter: 'python3', interpreter_args: '-u' }).command,
    'python3 -u',
  );
  assert.equal(config({ script: 'bin/www' }).command, undefined, 'a file without extension: node');

  // A binary, or interpreter "none": run as it is, arguments in the argv.
  assert.deepEqual(config({ script: 'bin/server-go', args: '-p 1' }).script, [
    '/srv/app/bin/server-go',
    '-p',
    '1',
  ]);
  assert.deepEqual(config({ script: 'run.sh', interpreter: 'none' }).script, ['/srv/app/run.sh']);
  // A word with a space cannot go in the command option: the whole argv then.
  assert.deepEqual(config({ script: 'server.js', node_args: ['--title=a b'], args: 'x' }).script, [
    NODE,
    '--title=a b',
    '/srv/app/server.js',
    'x',
  ]);
});

test('env, env_<name> with --env, deploy env, port, NODE_APP_INSTANCE: in PM2 order', () => {
  const app = {
    script: 'server.js',
    port: 8080,
    env: { NODE_ENV: 'development', N: 3, ON: true, OBJ: { a: 1 }, NONE: null, PORT: 1 },
    env_production: { NODE_ENV: 'production', PORT: 443 },
  };
  const dev = map(app);
  assert.deepEqual(dev.config.env, {
    NODE_APP_INSTANCE: '0',
    NODE_ENV: 'development',
    N: '3',
    ON: 'true',
    OBJ: '{"a":1}',
    PORT: '8080',
  });
  const prod = map(app, { envName: 'production', deployEnv: { DEPLOYED: 'yes', NODE_ENV: 'x' } });
  assert.equal(prod.hasEnv, true);
  assert.equal(prod.config.env.NODE_ENV, 'production');
  assert.equal(prod.config.env.PORT, '443', 'env_<name> wins over port');
  assert.equal(prod.config.env.DEPLOYED, 'yes', "deploy's env, below the app's");
  assert.equal(map(app, { envName: 'staging' }).hasEnv, false);
  assert.deepEqual(config({ script: 'server.js', instance_var: 'INSTANCE_ID' }).env, {
    INSTANCE_ID: '0',
  });
  assert.deepEqual(unsupported({ script: 'server.js', env: 'A=1' }), ['env (not an object)']);
});

test('filter_env: which host variables the child does not see', () => {
  assert.deepEqual(config({ script: 'server.js', filter_env: true }).hideEnv, Object.keys(HOST));
  assert.deepEqual(config({ script: 'server.js', filter_env: 'SECRET' }).hideEnv, ['SECRET']);
  assert.deepEqual(config({ script: 'server.js', filter_env: ['REACT_'] }).hideEnv, [
    'REACT_APP_KEY',
    'REACT_APP_URL',
  ]);
  assert.equal(config({ script: 'server.js', filter_env: false }).hideEnv, undefined);
});

test("instances and exec_mode: a Group; cluster mode's port held by the core and taken by the app's own listen()", () => {
  for (const one of [
    {},
    { instances: 1 },
    { instances: '1' },
    { exec_mode: 'fork' },
    { exec_mode: 'fork_mode', instances: 1 },
  ]) {
    const m = map({ script: 'server.js', port: 3000, ...one });
    assert.equal(m.config.instances, undefined, JSON.stringify(one));
    // PM2's cluster mode is the default only with instances given.
    if (!('instances' in one)) assert.equal(m.config.listen, undefined, JSON.stringify(one));
  }
  // PM2's counts: 0 and 'max' are every CPU, -N that many fewer.
  assert.equal(config({ script: 'server.js', instances: 4 }).instances, 4);
  assert.equal(config({ script: 'server.js', instances: '3' }).instances, 3);
  assert.equal(config({ script: 'server.js', instances: 'max' }).instances, 'max');
  assert.equal(config({ script: 'server.js', instances: 0 }).instances, 'max');
  assert.equal(config({ script: 'server.js', instances: -1 }).instances, -1);
  // Cluster mode (PM2's default for a node app with instances): the port is held, and the
  // app's own listen(PORT) takes it.
  for (const app of [
    { instances: 2, port: 3000 },
    { instances: 2, exec_mode: 'cluster', env: { PORT: 3000 } },
    { instances: 'max', exec_mode: 'cluster_mode', env: { PORT: '3000' } },
  ]) {
    const c = config({ script: 'server.js', ...app });
    assert.deepEqual(c.listen, [3000], JSON.stringify(app));
    assert.equal(c.interceptListen, true, JSON.stringify(app));
  }
  // One instance has nothing to share: it binds its port itself, as under PM2 (through a
  // wrapper such as npm, or on one host alone, it still works).
  for (const app of [
    { instances: 1, exec_mode: 'cluster_mode', env: { PORT: '3000' } },
    { exec_mode: 'cluster', port: '3000' },
  ]) {
    const m = map({ script: 'server.js', ...app });
    assert.equal(m.config.listen, undefined, JSON.stringify(app));
    assert.equal(m.unshared, null);
  }
  // The PORT this process passes on counts too, unless filter_env hides it.
  assert.deepEqual(
    config({ script: 'server.js', instances: 2 }, { hostEnv: { ...HOST, PORT: '8080' } }).listen,
    [8080],
  );
  assert.equal(
    map(
      { script: 'server.js', instances: 2, filter_env: ['PORT'] },
      { hostEnv: { ...HOST, PORT: '8080' } },
    ).unshared,
    '2 instances in cluster mode',
  );
  // --env's PORT is the one that counts.
  assert.deepEqual(
    config(
      { script: 'server.js', instances: 2, env: { PORT: 1 }, env_prod: { PORT: 4000 } },
      { envName: 'prod' },
    ).listen,
    [4000],
  );
  // Fork mode: each instance binds what it binds, as under PM2; not node: no cluster mode.
  for (const app of [
    { script: 'server.js', instances: 2, exec_mode: 'fork', port: 3000 },
    { script: 'worker.py', instances: 2, port: 3000 },
  ]) {
    const m = map(app);
    assert.equal(m.config.listen, undefined, JSON.stringify(app));
    assert.equal(m.unshared, null);
  }
  // Cluster mode without a port: named for the note.
  assert.equal(map({ script: 'server.js', instances: 4 }).unshared, '4 instances in cluster mode');
  assert.equal(
    map({ script: 'server.js', instances: 'max', exec_mode: 'cluster' }).unshared,
    '"max" instances in cluster mode',
  );
  assert.equal(map({ script: 'server.js', instances: 4, port: 80 }).unshared, null);
  // instance_var names the index's variable of every instance.
  const named = config({ script: 'server.js', instances: 2, instance_var: 'INSTANCE_ID' });
  assert.equal(named.instanceVar, 'INSTANCE_ID');
  assert.equal(named.env.INSTANCE_ID, '0');
  assert.throws(
    () => map({ script: 'server.js', exec_mode: 'swarm' }),
    /"exec_mode" must be "fork" or "cluster"/,
  );
  assert.throws(
    () => map({ script: 'server.js', instances: 'many' }),
    /"instances" must be a number or "max"/,
  );
});

test("max_memory_restart: PM2's sizes as bytes", () => {
  assert.equal(
    config({ script: 'server.js', max_memory_restart: '300M' }).maxMemory,
    300 * 1024 ** 2,
  );
  assert.equal(config({ script: 'server.js', max_memory_restart: '1G' }).maxMemory, 1024 ** 3);
  assert.equal(
    config({ script: 'server.js', max_memory_restart: '2048K' }).maxMemory,
    2 * 1024 ** 2,
  );
  assert.equal(config({ script: 'server.js', max_memory_restart: 5e6 }).maxMemory, 5e6);
  assert.throws(
    () => map({ script: 'server.js', max_memory_restart: 'lots' }),
    /"max_memory_restart" must be bytes, or a size such as "300M" or "1G", got "lots"/,
  );
});

test("restart_delay, exp_backoff_restart_delay: a fixed delay, or PM2's backoff exactly", () => {
  const fixed = config({ script: 'server.js', restart_delay: 4000 });
  assert.equal(fixed.restartDelay, 4000);
  assert.equal(fixed.backoff, undefined);
  const expo = config({ script: 'server.js', exp_backoff_restart_delay: 100, restart_delay: 4000 });
  assert.deepEqual(expo.backoff, {
    initial: 100,
    factor: 1.5,
    max: 15000,
    jitter: 0,
    resetAfter: 30000,
  });
  assert.equal(expo.restartDelay, undefined, "PM2's backoff replaces its restart_delay");
  assert.equal(
    config({ script: 'server.js', exp_backoff_restart_delay: 20000 }).backoff.max,
    20000,
  );
  const none = config({ script: 'server.js', exp_backoff_restart_delay: 0 });
  assert.equal(none.restartDelay, 0, "PM2's delays are all 0 then");
  assert.equal(none.backoff, undefined);
  // Neither key: PM2 restarts at once, so the CLI's default backoff is off for this app.
  const plain = config({ script: 'server.js' });
  assert.equal(plain.restartDelay, 0);
  assert.equal(plain.backoff, undefined);
  assert.throws(
    () => map({ script: 'server.js', restart_delay: 'soon' }),
    /"restart_delay" must be/,
  );
});

test('max_restarts and min_uptime: max_restarts runs of a crash loop are the last', () => {
  assert.deepEqual(
    config({ script: 'server.js' }).restartWindow,
    { count: 15, window: 16000 },
    "PM2's 16 and 1 s",
  );
  assert.deepEqual(
    config({ script: 'server.js', max_restarts: 3, min_uptime: '10s' }).restartWindow,
    {
      count: 2,
      window: 30000,
    },
  );
  assert.deepEqual(
    config({ script: 'server.js', max_restarts: '10', min_uptime: 5000 }).restartWindow,
    {
      count: 9,
      window: 50000,
    },
  );
  assert.deepEqual(
    config({ script: 'server.js', min_uptime: '1m' }).restartWindow.window,
    16 * 60000,
  );
  // One: the first quick exit is the last, and a stable child is restarted as often as it
  // exits (forever's spin rule); a window of one restart would end it at its first exit.
  const one = config({ script: 'server.js', min_uptime: '2h', max_restarts: 1 });
  assert.equal(one.restartWindow, undefined);
  assert.equal(one.minUptime, 7200000);
  assert.equal(one.spinSleepTime, undefined);
  // None: one run.
  const none = config({ script: 'server.js', max_restarts: 0 });
  assert.equal(none.restartWindow, undefined);
  assert.equal(none.max, 1);
  assert.equal(
    config({ script: 'server.js', max_restarts: 1e9 }).restartWindow,
    undefined,
    'no limit',
  );
  assert.throws(() => map({ script: 'server.js', min_uptime: 'a while' }), /"min_uptime" must be/);
  assert.throws(() => map({ script: 'server.js', max_restarts: -1 }), /"max_restarts" must be/);
  assert.equal(eco.parseDuration('500ms'), 500);
  assert.equal(eco.parseDuration('1.5s'), 1500);
});

test('autorestart and stop_exit_codes', () => {
  assert.equal(config({ script: 'server.js', autorestart: false }).autorestart, 'never');
  assert.equal(config({ script: 'server.js', autorestart: 'false' }).autorestart, 'never');
  assert.equal(config({ script: 'server.js', autorestart: true }).autorestart, 'always');
  assert.equal(config({ script: 'server.js' }).autorestart, undefined);
  assert.throws(
    () => map({ script: 'server.js', autorestart: 'sometimes' }),
    /"autorestart" must be true or false/,
  );
  assert.deepEqual(config({ script: 'server.js', stop_exit_codes: 0 }).stopExitCodes, [0]);
  assert.deepEqual(
    config({ script: 'server.js', stop_exit_codes: [0, '78'] }).stopExitCodes,
    [0, 78],
  );
  assert.throws(
    () => map({ script: 'server.js', stop_exit_codes: ['ok'] }),
    /"stop_exit_codes" must be/,
  );
});

test('watch, ignore_watch, watch_delay, watch_options', () => {
  const all = config({ script: 'server.js', watch: true });
  assert.equal(all.watch, true);
  assert.equal(all.watchDirectory, '/srv/app', "the app's cwd, as PM2");
  assert.deepEqual(
    all.watchIgnore,
    ['**/node_modules/**'],
    "PM2's default (dot files are forever-native's)",
  );
  assert.equal(config({ script: 'server.js', watch: [] }).watchDirectory, '/srv/app');
  assert.equal(config({ script: 'server.js', watch: false }).watch, undefined);
  assert.deepEqual(
    config({ script: 'server.js', cwd: 'api', watch: ['../src', '../lib'] }).watchDirectory,
    ['/srv/app/src', '/srv/app/lib'],
  );
  const some = map({
    script: 'server.js',
    watch: 'src',
    ignore_watch: ['node_modules', 'logs/', '*.log', /\.tmp$/],
    watch_delay: 1000,
    watch_options: { usePolling: true, interval: 500, followSymlinks: false },
  });
  assert.equal(some.config.watchDirectory, '/srv/app/src');
  assert.deepEqual(
    some.config.watchIgnore,
    ['/srv/app/node_modules/**', '/srv/app/logs/**', '/srv/app/*.log/**'],
    "chokidar's: each relative to the app's cwd, with all below it",
  );
  assert.equal(some.config.watchDebounce, 1000);
  assert.equal(some.config.usePolling, true);
  assert.equal(some.config.pollingInterval, 500);
  assert.deepEqual(some.unsupported, ['ignore_watch (a RegExp)', 'watch_options.followSymlinks']);
  // A file: forever-native watches directories, and the file's would watch more.
  const file = map({ script: 'server.js', watch: ['server.js', 'src'] });
  assert.equal(file.config.watchDirectory, '/srv/app/src');
  assert.deepEqual(file.unsupported, ['watch (files: /srv/app/server.js)']);
  assert.equal(map({ script: 'server.js', watch: 'config.json' }).config.watch, undefined);
});

test('log files: appended, relative to cwd; log_file, time, log_date_format, merge_logs, disable_logs, pid_file', () => {
  const files = config({
    script: 'server.js',
    cwd: 'api',
    out_file: 'logs/out.log',
    error_file: '~/logs/err.log',
    pid_file: '/run/app.pid',
    time: true,
    merge_logs: true,
  });
  assert.equal(files.outFile, '/srv/app/api/logs/out.log');
  assert.equal(files.errFile, '/home/u/logs/err.log');
  assert.equal(files.append, true, 'PM2 appends to its files');
  assert.equal(files.logTimestamps, true);
  assert.equal(files.mergeLogs, undefined, "PM2's merge_logs is not forever-native's mergeLogs");
  assert.equal(files.pidFile, '/run/app.pid');

  const both = config({
    script: 'server.js',
    log_file: 'combined.log',
    log_date_format: 'YYYY-MM-DD',
  });
  assert.equal(both.outFile, '/srv/app/combined.log');
  assert.equal(both.mergeLogs, true, 'stdout and stderr in one file, whole lines');
  assert.equal(both.logTimestamps, true);
  assert.deepEqual(unsupported({ script: 'server.js', out_file: 'o.log', log_file: 'all.log' }), [
    'log_file (with out_file or error_file)',
  ]);
  assert.deepEqual(unsupported({ script: 'server.js', log_file: true }), [
    "log_file (true: PM2's own directory)",
  ]);
  const devNull = config({ script: 'server.js', out_file: '/dev/null', error_file: 'NULL' });
  assert.equal(devNull.outFile, undefined);
  assert.equal(devNull.errFile, undefined);
  assert.equal(devNull.append, undefined);
  assert.equal(
    config({ script: 'server.js', out_file: 'o.log', disable_logs: true }).outFile,
    undefined,
  );
  assert.deepEqual(unsupported({ script: 'server.js', merge_logs: false }), [
    'merge_logs (false: PM2 suffixes the file names)',
  ]);
  assert.equal(config({ script: 'server.js' }).logTimestamps, undefined);
});

test("kill_timeout, kill_signal, treekill: PM2's SIGINT and 1.6 s by default", () => {
  const plain = config({ script: 'server.js' });
  assert.equal(plain.killSignal, 'SIGINT');
  assert.equal(plain.killTTL, 1600);
  assert.equal(plain.killTree, undefined, 'the whole tree, as PM2');
  const given = config({
    script: 'server.js',
    kill_timeout: 3000,
    kill_signal: 'SIGTERM',
    treekill: false,
  });
  assert.equal(given.killTTL, 3000);
  assert.equal(given.killSignal, 'SIGTERM');
  assert.equal(given.killTree, false);
});

test('wait_ready, listen_timeout, shutdown_with_message', () => {
  const ready = map({ script: 'server.js', wait_ready: true, listen_timeout: 10000 });
  assert.equal(ready.config.waitReady, true);
  assert.equal(ready.config.fork, true);
  assert.equal(
    ready.config.readyTimeout,
    undefined,
    'PM2 takes the app for up after it; no restart',
  );
  assert.deepEqual(ready.unsupported, ['listen_timeout']);
  assert.deepEqual(
    unsupported({ script: 'server.js', listen_timeout: 8000 }),
    [],
    'nothing without wait_ready',
  );
  const message = config({ script: 'server.js', shutdown_with_message: true, kill_timeout: 5000 });
  assert.equal(message.shutdownMessage, 'shutdown');
  assert.equal(message.shutdownTimeout, 5000);
  assert.deepEqual(unsupported({ script: 'worker.py', shutdown_with_message: true }), [
    'shutdown_with_message (not a node app)',
  ]);
});

test('uid and gid: numbers for spawnWith; a user name is named', () => {
  assert.deepEqual(config({ script: 'server.js', uid: 1000, gid: '1000' }).spawnWith, {
    uid: 1000,
    gid: 1000,
  });
  assert.deepEqual(unsupported({ script: 'server.js', user: 'www-data' }), [
    'user (a name: give the number)',
  ]);
});

test('aliases and camelCase are PM2 keys too; keys with no equivalent are named, off values are not', () => {
  const aliased = config({
    exec: 'server.js',
    output: 'o.log',
    err: 'e.log',
    interpreter: 'node',
    interpreterArgs: '--expose-gc',
    maxMemoryRestart: '1G',
    expBackoffRestartDelay: 200,
    killTimeout: 100,
    appendEnvToName: true,
  });
  assert.equal(aliased.script, '/srv/app/server.js');
  assert.equal(aliased.outFile, '/srv/app/o.log');
  assert.equal(aliased.errFile, '/srv/app/e.log');
  assert.equal(aliased.command, `${NODE} --expose-gc`);
  assert.equal(aliased.maxMemory, 1024 ** 3);
  assert.equal(aliased.backoff.initial, 200);
  assert.equal(aliased.killTTL, 100);
  assert.deepEqual(unsupported({ script: 'server.js', out_file: 'a.log', output: 'b.log' }), [
    'output (out_file is given)',
  ]);
  assert.equal(
    config({ script: 'server.js', out_file: 'a.log', output: 'b.log' }).outFile,
    '/srv/app/a.log',
  );

  const off = {
    script: 'server.js',
    vizion: false,
    pmx: false,
    automation: false,
    source_map_support: false,
    cron_restart: 0,
    namespace: 'default',
    force: true,
    autostart: true,
    merge_logs: true,
    instance_var: 'NODE_APP_INSTANCE',
    increment_var: 'PORT',
  };
  assert.deepEqual(unsupported(off), []);
  assert.deepEqual(
    unsupported({
      script: 'server.js',
      vizion: true,
      cron_restart: '0 3 * * *',
      post_update: ['npm install'],
      namespace: 'api',
      source_map_support: true,
      typo_key: 1,
    }),
    ['typo_key', 'vizion', 'source_map_support', 'cron_restart', 'post_update', 'namespace'],
  );
});

test('append_env_to_name and autostart', () => {
  assert.equal(
    map({ name: 'api', script: 'server.js', append_env_to_name: true }, { envName: 'prod' }).name,
    'api-prod',
  );
  assert.equal(map({ name: 'api', script: 'server.js', append_env_to_name: true }).name, 'api');
  assert.equal(map({ script: 'server.js', autostart: false }).autostart, false);
  assert.equal(map({ script: 'server.js' }).autostart, true);
});

// ---------------------------------------------------------------------------------------
// Whole files: which are PM2's, and the notes

const FOREVER_KEYS = cli.CONFIG_KEYS;
const fromFile = (data, ctx = {}) =>
  eco.appsFromEcosystem(data, {
    file: 'ecosystem.config.js',
    baseDir: '/srv/app',
    javascript: false,
    foreverKeys: FOREVER_KEYS,
    io: io(),
    execPath: NODE,
    hostEnv: HOST,
    ...ctx,
  });

test("appsFromEcosystem: PM2's file by its shape; forever's format is left alone", () => {
  assert.equal(fromFile({ script: 'a.js', max: 3 }), null, "forever's keys only");
  assert.equal(fromFile([{ script: 'a.js' }, { script: 'b.js', id: 'b' }]), null);
  assert.equal(fromFile({ script: 'a.js', maxx: 3 }), null, "a typo stays forever's error");
  assert.equal(
    fromFile({ script: 'a.js' }, { javascript: true }).apps.length,
    1,
    'JavaScript is always PM2',
  );
  assert.equal(fromFile({ apps: [{ script: 'a.js' }] }).apps.length, 1);
  assert.equal(fromFile({ apps: { script: 'a.js' } }).apps.length, 1, 'apps may be one object');
  assert.equal(fromFile({ pm2: [{ script: 'a.js' }] }).apps.length, 1, "a package.json's pm2");
  assert.equal(fromFile([{ name: 'a', script: 'a.js' }]).apps.length, 1, 'name is PM2');
  assert.equal(fromFile({ script: 'a.js', env_production: {} }).apps.length, 1);
  assert.throws(() => fromFile({ apps: [] }), /declares no app/);
  assert.throws(() => fromFile({ apps: ['a.js'] }), /app 1 must be an object with a "script" key/);
  assert.throws(
    () => fromFile({ apps: [{ name: 'api', script: 'a.js', max_memory_restart: 'huge' }] }),
    /^Error: ecosystem.config.js: app "api": "max_memory_restart" must be/,
  );
});

test('appsFromEcosystem: one note for every key with no equivalent, one for instances, one for --env', () => {
  const r = fromFile(
    {
      apps: [
        {
          name: 'api',
          script: 'server.js',
          instances: 4,
          exec_mode: 'cluster',
          cron_restart: '0 3 * * *',
          env_production: {},
        },
        { name: 'worker', script: 'worker.py', vizion: true, pmx: true },
        { name: 'batch', script: 'server.js', autostart: false },
        { name: 'quiet', script: 'server.js', vizion: false },
      ],
      deploy: { production: { env: { FROM_DEPLOY: '1' } } },
      static: [{ port: 8080 }],
    },
    { envName: 'production' },
  );
  assert.deepEqual(r.notes, [
    'ecosystem.config.js: ignored, no forever-native equivalent: (top level): static; api: cron_restart; worker: vizion, pmx',
    'ecosystem.config.js: api runs 4 instances in cluster mode with no port to share (no "port" or env PORT): an app that listens on a port of its own fails with EADDRINUSE after its first instance; give the port as "port"',
    'ecosystem.config.js: --env production: no env_production in worker, batch, quiet',
    'ecosystem.config.js: autostart false: not started: batch',
  ]);
  assert.deepEqual(
    r.apps.map((a) => a.id),
    ['api', 'worker', 'quiet'],
  );
  assert.equal(r.apps[1].env.FROM_DEPLOY, '1', "the deploy section's env for --env");
  assert.deepEqual(
    fromFile({ apps: [{ script: 'server.js' }], deploy: {} }).notes,
    [],
    'deploy is pm2 deploy',
  );
});

// ---------------------------------------------------------------------------------------
// Files shaped as in PM2's documentation, through the CLI's plan

const dirs = new Set();
test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-eco-'));
  dirs.add(dir);
  return dir;
}
/** A directory holding `files` ({ name: text }), and the scripts they name. */
function project(files) {
  const dir = tmpdir();
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

// PM2's "Javascript format" and "Switching environments" examples, in one file.
const DOC_JS = `module.exports = {
  apps : [{
    name        : "worker",
    script      : "./worker.js",
    watch       : true,
    env: {
      "NODE_ENV": "development",
    },
    env_production : {
       "NODE_ENV": "production"
    }
  },{
    name       : "api-app",
    script     : "./api.js",
    instances  : 4,
    exec_mode  : "cluster"
  }]
}
`;

test("PM2's documented two-app ecosystem.config.js: env, env_production with --env, instances", () => {
  const dir = project({ 'ecosystem.config.js': DOC_JS, 'worker.js': '', 'api.js': '' });
  const file = path.join(dir, 'ecosystem.config.js');
  const dev = cli.plan([file], { cwd: '/' });
  assert.deepEqual(
    dev.apps.map((a) => [a.name, a.script]),
    [
      ['worker', path.join(dir, 'worker.js')],
      ['api-app', path.join(dir, 'api.js')],
    ],
  );
  const worker = dev.apps[0].options;
  assert.equal(worker.env.NODE_ENV, 'development');
  assert.equal(worker.watch, true);
  assert.equal(worker.watchDirectory, dir);
  assert.equal(worker.cwd, dir, 'the child runs beside the file, wherever the CLI runs');
  assert.equal(worker.killSignal, 'SIGINT');
  assert.deepEqual(dev.notes, [
    `${file}: api-app runs 4 instances in cluster mode with no port to share (no "port" or env PORT): an app that listens on a port of its own fails with EADDRINUSE after its first instance; give the port as "port"`,
  ]);
  assert.equal(dev.apps[1].options.instances, 4, 'api-app runs as a group of 4');
  const prod = cli.plan(['--json', file, '--env', 'production'], { cwd: '/' });
  assert.equal(prod.json, true);
  assert.equal(prod.apps[0].options.env.NODE_ENV, 'production');
  assert.match(prod.notes[1], /--env production: no env_production in api-app$/);
  // The same through --config, and --only.
  const only = cli.plan(['--config', file, '--only', 'api-app'], { cwd: '/' });
  assert.deepEqual(
    only.apps.map((a) => a.name),
    ['api-app'],
  );
});

test("PM2's documented JSON format, and a .config.js exporting { apps } with every common key", () => {
  const json = {
    apps: [
      {
        name: 'worker',
        script: './worker.js',
        watch: true,
        env: { NODE_ENV: 'development' },
        env_production: { NODE_ENV: 'production' },
      },
      { name: 'api-app', script: './api.js', instances: 4, exec_mode: 'cluster' },
    ],
  };
  const dir = project({
    'process.json': JSON.stringify(json, null, 2),
    'worker.js': '',
    'api.js': '',
    'app/ecosystem.config.js': `module.exports = {
  apps: [{
    name: 'app',
    script: './index.js',
    args: 'one two',
    instances: 1,
    autorestart: true,
    watch: false,
    max_memory_restart: '1G',
    out_file: './logs/out.log',
    error_file: './logs/err.log',
    merge_logs: true,
    log_date_format: 'YYYY-MM-DD HH:mm Z',
    kill_timeout: 3000,
    env: { NODE_ENV: 'development' },
    env_production: { NODE_ENV: 'production' },
  }],
};
`,
    'app/index.js': '',
  });
  const fromJson = cli.plan([path.join(dir, 'process.json'), '--only', 'worker,api-app']);
  assert.deepEqual(
    fromJson.apps.map((a) => a.name),
    ['worker', 'api-app'],
  );
  assert.equal(fromJson.apps[0].options.watch, true);

  const r = cli.plan([
    '--config',
    path.join(dir, 'app', 'ecosystem.config.js'),
    '--env',
    'production',
  ]);
  assert.deepEqual(r.notes, [], 'every key is mapped');
  const [app] = r.apps;
  assert.equal(app.script, path.join(dir, 'app', 'index.js'));
  assert.deepEqual(app.options.args, ['one', 'two']);
  assert.equal(app.options.maxMemory, 1024 ** 3);
  assert.equal(app.options.outFile, path.join(dir, 'app', 'logs', 'out.log'));
  assert.equal(app.options.logTimestamps, true);
  assert.equal(app.options.append, true);
  assert.equal(app.options.killTTL, 3000);
  assert.equal(app.options.autorestart, 'always');
  assert.equal(app.options.env.NODE_ENV, 'production');
  // Each becomes a Monitor's options that a Monitor takes.
  const { Monitor } = require('..');
  for (const a of [...fromJson.apps, app])
    new Monitor(a.script, cli.withRestartDefaults(a.options));
});

test(
  'an ES module ecosystem file: its default export',
  { skip: !process.features.require_module && 'this node cannot require() an ES module' },
  () => {
    const dir = project({
      'ecosystem.config.mjs': 'export default { apps: [{ name: "esm", script: "./a.js" }] };\n',
      'a.js': '',
    });
    const [app] = cli.plan([path.join(dir, 'ecosystem.config.mjs')]).apps;
    assert.equal(app.name, 'esm');
    assert.equal(app.script, path.join(dir, 'a.js'));
  },
);

test('the command line: usage errors for ecosystem files are one line, exit code 2', () => {
  const dir = project({
    'ecosystem.config.js': DOC_JS,
    'worker.js': '',
    'api.js': '',
    'forever.json': '{"script":"worker.js"}',
  });
  const file = path.join(dir, 'ecosystem.config.js');
  const usage = (argv, re) =>
    assert.throws(
      () => cli.plan(argv),
      (err) => err instanceof cli.UsageError && re.test(err.message),
    );
  usage(
    [file, '--only', 'nope'],
    /^--only "nope": no app named "nope" in ".*" \(its apps: worker, api-app\)$/,
  );
  usage([file, 'extra.js'], /^"extra.js" after the ecosystem file ".*": only options/);
  usage([file, '--max', '3'], /^--max cannot be used with --config/);
  usage(['--only', 'worker', path.join(dir, 'worker.js')], /^--only picks from a config/);
  usage(
    ['--env', 'production', '--config', path.join(dir, 'forever.json')],
    /^--env is for PM2's ecosystem files/,
  );
  usage(
    [path.join(dir, 'missing.config.js')],
    /^cannot read config ".*missing.config.js": no such file$/,
  );
  // autostart: false: nothing to start is said so, and --only naming a held app too.
  fs.writeFileSync(
    path.join(dir, 'held.config.js'),
    'module.exports = { apps: [{ name: "a", script: "./api.js", autostart: false }] }',
  );
  usage(
    [path.join(dir, 'held.config.js')],
    /^".*held.config.js": nothing to start: every app has autostart: false \(a\)$/,
  );
  usage(
    [path.join(dir, 'held.config.js'), '--only', 'a'],
    /^--only "a": "a" has autostart: false in ".*held.config.js"$/,
  );
  fs.writeFileSync(path.join(dir, 'broken.config.js'), 'module.exports = {');
  usage([path.join(dir, 'broken.config.js')], /^cannot read config ".*": SyntaxError: /);
  fs.writeFileSync(path.join(dir, 'throws.config.js'), 'throw new Error("no DB_URL")');
  usage([path.join(dir, 'throws.config.js')], /^cannot read config ".*": Error: no DB_URL$/);
  // After --, a .config.js is a script like any other.
  const asScript = cli.plan(['--', file]);
  assert.equal(asScript.apps[0].script, file);
  // A forever config given as the script is a --config too.
  assert.equal(
    cli.plan([path.join(dir, 'forever.json')]).apps[0].script,
    path.join(dir, 'worker.js'),
  );
  assert.equal(cli.wantsJson([file, '--json']), true);
});

// ---------------------------------------------------------------------------------------
// The command line running an ecosystem file

const started = new Set();
test.afterEach(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
});

/** Starts the CLI; `out`/`err` collect lines, `events` the JSON status lines. */
function startCli(args, cwd) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const h = { child, out: [], err: [], events: [] };
  eachLine(child.stdout, (l) => h.out.push(l));
  eachLine(child.stderr, (l) => {
    h.err.push(l);
    try {
      h.events.push(JSON.parse(l));
    } catch {
      // a human line
    }
  });
  h.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  h.waitEvent = (pred, what) =>
    until(() => h.events.some(pred), 15000, what).then(() => h.events.find(pred));
  h.waitOut = (pred, what) =>
    until(() => h.out.some(pred), 15000, what).then(() => h.out.find(pred));
  return h;
}
const printed = (h, name) =>
  h.out
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((o) => o.name === name);

test('a two-app ecosystem file runs both with the mapped options, and warns once for a key with no equivalent', async () => {
  const dir = project({
    'ecosystem.config.js': `module.exports = {
  apps: [
    {
      name: 'web',
      script: ${JSON.stringify(fixture('pm2-app.js'))},
      args: 'web',
      wait_ready: true,
      out_file: 'logs/web.out.log',
      time: true,
      cron_restart: '0 3 * * *',
      env: { NODE_ENV: 'development' },
      env_production: { NODE_ENV: 'production' },
    },
    {
      name: 'flaky',
      script: ${JSON.stringify(fixture('pm2-app.js'))},
      args: ['flaky', 'exit', '3'],
      max_restarts: 3,
      min_uptime: '1m',
      env_production: { NODE_ENV: 'production' },
    },
  ],
};
`,
  });
  const h = startCli(['--json', 'ecosystem.config.js', '--env', 'production'], dir);

  // flaky: max_restarts 3 is three runs, then it gives up with its exit code.
  const gaveUp = await h.waitEvent(
    (e) => e.event === 'giveup' && e.app === 'flaky',
    'flaky to give up',
  );
  assert.equal(gaveUp.reason, 'window');
  assert.equal(gaveUp.exitCode, 3);
  const flakyRuns = h.events.filter(
    (e) => e.app === 'flaky' && (e.event === 'start' || e.event === 'restart'),
  );
  assert.equal(flakyRuns.length, 3);
  await until(() => printed(h, 'flaky').length === 3, 5000, "flaky's three lines");

  // web: ready over IPC (wait_ready), with env_production, in the file's directory.
  await h.waitEvent((e) => e.event === 'ready' && e.app === 'web', 'web to be ready');
  const [web] = printed(h, 'web');
  assert.equal(web.NODE_ENV, 'production');
  assert.equal(web.NODE_APP_INSTANCE, '0');
  assert.equal(web.ipc, true);
  assert.equal(web.cwd, dir);
  assert.deepEqual(web.argv, ['web']);
  const logged = fs.readFileSync(path.join(dir, 'logs', 'web.out.log'), 'utf8');
  assert.match(logged, /^\d{4}-\d\d-\d\dT\S+Z \{"name":"web"/, 'out_file, with time');

  // One warning, for the one key with no equivalent.
  const warnings = h.events.filter((e) => e.event === 'warning');
  assert.deepEqual(
    warnings.map((e) => e.message),
    ['ecosystem.config.js: ignored, no forever-native equivalent: web: cron_restart'],
  );
  assert.equal(h.events.indexOf(warnings[0]), 0, 'before the apps start');

  // A stop is PM2's: SIGINT, which the app handles.
  h.child.kill('SIGINT');
  assert.equal(await h.exited, 3, "flaky's exit code, the first app that failed");
  assert.ok(h.out.includes('web got SIGINT'));
  assert.ok(h.events.some((e) => e.event === 'stop' && e.app === 'web'));
  assert.ok(!isAlive(web.pid));
});

test('a PM2 cluster-mode app that calls listen(PORT) itself runs as instances serving one port', async () => {
  const port = await freePort();
  const dir = project({
    'ecosystem.config.js': `module.exports = {
  apps: [{
    name: 'api',
    script: ${JSON.stringify(fixture('cluster-app.js'))},
    instances: 2,
    exec_mode: 'cluster',
    env: { PORT: ${port} },
  }],
};
`,
  });
  const h = startCli(['--json', 'ecosystem.config.js'], dir);
  await until(
    () => h.out.filter((l) => l.startsWith('{"listening"')).length === 2,
    15000,
    'both instances listening',
  );
  const lines = h.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.listening).sort(), [port, port]);
  assert.deepEqual(lines.map((l) => l.instance).sort(), ['0', '1']);
  const pids = lines.map((l) => l.pid);
  for (let k = 0; k < 10; k++) {
    const r = await request({ host: '127.0.0.1', port }, k);
    assert.ok(r.ok && pids.includes(r.pid), JSON.stringify(r));
  }
  assert.deepEqual(
    h.events.filter((e) => e.event === 'warning'),
    [],
  );
  h.child.kill('SIGINT');
  await h.exited;
  assert.ok(pids.every((pid) => !isAlive(pid)));
});

test('--only runs the apps named, from a JSON ecosystem file given as the script', async () => {
  const dir = project({
    'process.json': JSON.stringify({
      apps: [
        { name: 'web', script: fixture('pm2-app.js'), args: 'web' },
        { name: 'job', script: fixture('pm2-app.js'), args: 'job exit 0', autorestart: false },
      ],
    }),
  });
  const h = startCli(['process.json', '--only', 'job'], dir);
  assert.equal(await h.exited, 0, h.err.join('\n'));
  assert.deepEqual(
    h.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).name),
    ['job'],
  );
  assert.ok(
    h.err.some((l) => l === 'forever-native: job ended: autorestart is never (exit code 0)'),
    h.err.join('\n'),
  );
  assert.ok(!h.err.some((l) => l.includes('web')));
});
