'use strict';
/**
 * PM2's ecosystem files, run by the `forever-native` command line: `ecosystem.config.js`
 * (also `.cjs`, `.mjs`), a `.json`, `{ apps: [...] }` or a bare array of apps. Each PM2 app
 * declaration becomes an app of forever's config format (bin/cli.js's `--config`), key by
 * key, with PM2's semantics where forever-native has the same thing (docs/pm2-ecosystem.md
 * is the table). A key with no equivalent is named in one note per file, never dropped
 * without a word.
 *
 * `fromPm2App` is the mapping itself: pure, apart from the few look-ups PM2 makes on the
 * file system to find the script and its interpreter, which come in through `ctx.io` so
 * that tests can give their own. `requireConfig` loads a JavaScript file with `require()`,
 * as PM2 does: the file is code, run with this process's rights.
 */

const fs = require('fs');
const os = require('os');
const path = require('path');

/**
 * PM2's app keys (its lib/API/schema.json), with `kill_signal`, which this mapping reads
 * too. Each also goes by its camelCase spelling (`max_memory_restart` ->
 * `maxMemoryRestart`), as in PM2, and by the aliases below.
 */
const PM2_KEYS = [
  'script',
  'name',
  'name_prefix',
  'filter_env',
  'namespace',
  'install_url',
  'cwd',
  'args',
  'exec_interpreter',
  'node_args',
  'out_file',
  'error_file',
  'log_file',
  'disable_logs',
  'log_type',
  'log_date_format',
  'time',
  'env',
  'max_memory_restart',
  'pid_file',
  'restart_delay',
  'exp_backoff_restart_delay',
  'source_map_support',
  'disable_source_map_support',
  'wait_ready',
  'instances',
  'kill_timeout',
  'kill_signal',
  'shutdown_with_message',
  'listen_timeout',
  'cron_restart',
  'merge_logs',
  'vizion',
  'autostart',
  'autorestart',
  'stop_exit_codes',
  'watch_delay',
  'watch',
  'ignore_watch',
  'watch_options',
  'min_uptime',
  'max_restarts',
  'execute_command',
  'exec_mode',
  'force',
  'append_env_to_name',
  'post_update',
  'trace',
  'disable_trace',
  'v8',
  'event_loop_inspector',
  'deep_monitoring',
  'increment_var',
  'instance_var',
  'pmx',
  'automation',
  'treekill',
  'port',
  'username',
  'uid',
  'gid',
  'windowsHide',
  'kill_retry_time',
  'write',
  'io',
];

/** PM2's other names for its keys. */
const PM2_ALIASES = {
  exec: 'script',
  cmd: 'script',
  command: 'script',
  interpreter: 'exec_interpreter',
  interpreter_args: 'node_args',
  interpreterArgs: 'node_args',
  out: 'out_file',
  output: 'out_file',
  out_log: 'out_file',
  error: 'error_file',
  err: 'error_file',
  err_file: 'error_file',
  err_log: 'error_file',
  log: 'log_file',
  pid: 'pid_file',
  combine_logs: 'merge_logs',
  cron: 'cron_restart',
  user: 'uid',
  appendEnvToName: 'append_env_to_name',
};

/** `max_memory_restart` -> `maxMemoryRestart`, as PM2 spells a key's camelCase alias. */
const camel = (key) =>
  key
    .split('_')
    .map((part, i) => (i > 0 && part.length > 1 ? part[0].toUpperCase() + part.slice(1) : part))
    .join('');

/** Every name PM2 reads, to the key it means. */
const CANONICAL = new Map();
for (const key of PM2_KEYS) {
  CANONICAL.set(key, key);
  if (!CANONICAL.has(camel(key))) CANONICAL.set(camel(key), key);
}
for (const [alias, key] of Object.entries(PM2_ALIASES)) CANONICAL.set(alias, key);

/** The interpreter PM2 picks from a script's extension when none is given (lib/API/interpreter.json). */
const EXTENSION_INTERPRETERS = {
  '.sh': 'bash',
  '.py': 'python',
  '.rb': 'ruby',
  '.php': 'php',
  '.pl': 'perl',
  '.coffee': 'coffee',
  '.ls': 'lsc',
  '.ts': 'bun',
  '.tsx': 'bun',
};

/**
 * PM2's keys for features forever-native does not have, with the values that ask for none
 * of it (so they need no note): `vizion: false` is what forever-native does anyway.
 */
const OFF_VALUES = {
  vizion: (v) => v === false,
  pmx: (v) => v === false,
  automation: (v) => v === false,
  trace: (v) => v === false,
  disable_trace: (v) => v === true,
  v8: (v) => v === false,
  event_loop_inspector: (v) => v === false,
  deep_monitoring: (v) => v === false,
  source_map_support: (v) => v === false,
  disable_source_map_support: (v) => v === true,
  cron_restart: (v) => v === 0 || v === '0' || v === '' || v === false,
  post_update: (v) => Array.isArray(v) && v.length === 0,
  namespace: (v) => v === 'default',
  log_type: (v) => v === undefined || v === '' || v === false,
  io: () => false,
  install_url: () => false,
  name_prefix: () => false,
  write: (v) => v === false,
  // PM2's own bookkeeping, or nothing on Linux: no effect on how an app runs.
  force: () => true,
  windowsHide: () => true,
  username: () => true,
  kill_retry_time: () => true,
  execute_command: () => true,
  // With one instance the variable keeps the value the app's env gives it.
  increment_var: () => true,
};

/** PM2's defaults for the keys this mapping gives a value without being asked. */
const PM2_DEFAULTS = Object.freeze({
  killSignal: 'SIGINT',
  killTimeout: 1600,
  minUptime: 1000,
  maxRestarts: 16,
  backoffMax: 15000,
  backoffResetAfter: 30000,
});

/** Whether `file`'s name says it is an ecosystem file: `*.config.js` (`.cjs`, `.mjs`) or `*.json`. */
function isEcosystemName(file) {
  return typeof file === 'string' && /(\.config\.[cm]?js|\.json)$/.test(file);
}

/** Whether a config file is JavaScript (loaded with `require()`) rather than JSON. */
function isJavaScript(file) {
  return /\.[cm]?js$/.test(file);
}

/**
 * Loads a JavaScript ecosystem file as PM2 does: `require()` (afresh), so it runs as code
 * with this process's rights. An ES module's default export is what it exports.
 * @param {string} full an absolute path
 * @throws {Error} with `code` (from the file system), or `reason` (what the file threw)
 */
function requireConfig(full) {
  const stat = fs.statSync(full);
  if (!stat.isFile()) {
    const what = stat.isDirectory() ? 'a directory' : 'a special file';
    throw Object.assign(new Error(`${full} is ${what}`), {
      reason: `it is ${what}, not a regular file`,
    });
  }
  let data;
  try {
    const resolved = require.resolve(full);
    delete require.cache[resolved];
    data = require(resolved);
  } catch (err) {
    const message = String((err && err.message) || err).split('\n')[0];
    throw Object.assign(new Error(message), {
      reason: `${(err && err.name) || 'Error'}: ${message}`,
    });
  }
  if (
    data &&
    typeof data === 'object' &&
    (data[Symbol.toStringTag] === 'Module' || data.__esModule === true) &&
    'default' in data
  )
    data = data.default;
  return data;
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = (v) => JSON.stringify(String(v));

/**
 * A PM2 string of arguments as PM2 splits it: at whitespace, except inside quotes. A word
 * that is all quoted loses its quotes (`"a b"` -> `a b`); `--x="a b"` stays one word,
 * quotes and all, as in PM2. An array is taken as it is.
 */
function splitArgs(value) {
  if (Array.isArray(value)) return value.map(String);
  if (value === undefined || value === null || value === '') return [];
  const words = [];
  const word = /([^\s"'=]+=(?:"[^"]*"|'[^']*'))|"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = word.exec(String(value))) !== null) {
    const w =
      m[1] !== undefined ? m[1] : m[2] !== undefined ? m[2] : m[3] !== undefined ? m[3] : m[4];
    if (w.trim() !== '') words.push(w);
  }
  return words;
}

/** PM2's `min_uptime`-style durations: ms, or `'10s'`, `'5m'`, `'1h'` (and `'500ms'`). */
function parseDuration(value) {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const m =
    typeof value === 'string' ? /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(value) : null;
  if (!m) return undefined;
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] || 'ms']);
}

/** PM2's `max_memory_restart` sizes: bytes, or `'300M'`, `'1G'`, `'512K'` (powers of 1024). */
function parseSize(value) {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.round(value);
  const m =
    typeof value === 'string' ? /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG])?B?\s*$/i.exec(value) : null;
  if (!m) return undefined;
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] || '').toUpperCase()] || 1;
  return Math.round(Number(m[1]) * unit);
}

/** A whole number (PM2 takes digit strings for numbers too), or undefined. */
function parseCount(value) {
  const n = typeof value === 'string' && /^\s*-?[0-9]+\s*$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

/** The environment value PM2 hands a child: objects as JSON, nothing for null. */
function envValue(v) {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Adds `source`'s variables to `env`, as PM2 passes them. */
function addEnv(env, source) {
  if (!isObject(source)) return;
  for (const [k, v] of Object.entries(source)) {
    const value = envValue(v);
    if (value !== undefined) env[k] = value;
  }
}

/** Whether `command` is node (PM2 also takes a path ending in `node`). */
const isNode = (command) => command.endsWith('node');

/** The real file-system look-ups PM2 makes; tests give their own. */
const REAL_IO = {
  exists: (p) => fs.existsSync(p),
  isDirectory: (p) => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
  /** A program found on PATH (executable, not a directory), or null. */
  which(name) {
    for (const dir of (process.env.PATH || '').split(path.delimiter)) {
      if (dir === '') continue;
      const candidate = path.join(dir, name);
      try {
        if (fs.statSync(candidate).isFile()) {
          fs.accessSync(candidate, fs.constants.X_OK);
          return candidate;
        }
      } catch {
        // Not here.
      }
    }
    return null;
  },
  /** PM2 runs a binary file directly: an ELF, or NUL bytes in its first 512 bytes. */
  isBinary(p) {
    let fd;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const head = Buffer.alloc(512);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      return head.subarray(0, n).includes(0);
    } catch {
      return false;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  },
  /** The file node runs for a directory (its package.json `main`, or index.js), or null. */
  resolveDirectory(p) {
    try {
      return require.resolve(p);
    } catch {
      return null;
    }
  },
  homedir: () => os.homedir(),
};

/**
 * One PM2 app declaration as an app of forever's config format.
 *
 * @param {object} pm2App the app, as PM2 reads it (aliases and camelCase spellings included)
 * @param {object} ctx
 * @param {string} ctx.baseDir what relative paths are relative to when the app has no `cwd`
 *   (the ecosystem file's directory; PM2 takes the shell's)
 * @param {string} [ctx.envName] `--env NAME`: merge `env_NAME` over `env`
 * @param {object} [ctx.deployEnv] the file's `deploy[NAME].env`, below `env` (PM2's order)
 * @param {NodeJS.ProcessEnv} [ctx.hostEnv] the environment `filter_env` filters
 * @param {string} [ctx.execPath] the node that runs a node script with `node_args`
 * @param {Partial<typeof REAL_IO>} [ctx.io]
 * @param {(message: string) => Error} [ctx.fail] makes the error a bad value throws
 * @returns {{ name: string, config: object, unsupported: string[], unshared: string|null,
 *   autostart: boolean, hasEnv: boolean }} `unsupported` names the keys with no
 *   equivalent (with the value that asks for something when it says more); `unshared`
 *   the instances of a cluster-mode app that share no port (it has none in `port` or
 *   `env.PORT`); `hasEnv` whether `env_NAME` was there
 */
function fromPm2App(pm2App, ctx) {
  const fail = ctx.fail || ((message) => new Error(message));
  const io = { ...REAL_IO, ...ctx.io };
  const execPath = ctx.execPath || process.execPath;
  const hostEnv = ctx.hostEnv || process.env;
  const unsupported = [];
  const envs = {};

  // PM2's key for each key given: its own name wins over an alias of it.
  const app = {};
  const aliasOf = {};
  for (const [key, value] of Object.entries(pm2App)) {
    if (/^env_./.test(key)) {
      envs[key.slice(4)] = value;
      continue;
    }
    const canonical = CANONICAL.get(key);
    if (canonical === undefined) {
      unsupported.push(key);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(app, canonical)) {
      // Given twice: PM2's own name wins, else the first; the other is named.
      if (canonical !== key) {
        unsupported.push(`${key} (${aliasOf[canonical]} is given)`);
        continue;
      }
      unsupported.push(`${aliasOf[canonical]} (${key} is given)`);
    }
    app[canonical] = value;
    aliasOf[canonical] = key;
  }
  const given = (key) => app[key] !== undefined && app[key] !== null;
  const shown = (key) => aliasOf[key] || key;
  const bad = (key, what) =>
    fail(`${quote(shown(key))} must be ${what}, got ${JSON.stringify(app[key])}`);

  if (typeof app.script !== 'string' || app.script.trim() === '') {
    throw fail('"script" must be a non-empty string');
  }
  const config = {};

  // --- Where: the app's cwd (relative to the file's directory), and paths under it.
  if (given('cwd') && (typeof app.cwd !== 'string' || app.cwd === '')) throw bad('cwd', 'a path');
  const cwd = given('cwd') ? path.resolve(ctx.baseDir, app.cwd) : ctx.baseDir;
  config.cwd = cwd;
  const home = (p) => (p === '~' || p.startsWith('~/') ? path.join(io.homedir(), p.slice(1)) : p);
  const underCwd = (p) => path.resolve(cwd, home(p));

  // --- Name.
  let name;
  if (given('name')) name = String(app.name);
  else if (app.script.includes(' ')) name = app.script;
  else {
    name = path.basename(app.script);
    if (name.lastIndexOf('.') > 0) name = name.slice(0, name.lastIndexOf('.'));
  }
  if (app.append_env_to_name === true && ctx.envName !== undefined) name += `-${ctx.envName}`;
  config.id = name;

  // --- What runs: the script, its interpreter and their arguments.
  const args = splitArgs(app.args);
  const interpreterArgs = splitArgs(app.node_args);
  let interpreter = given('exec_interpreter') ? String(app.exec_interpreter) : undefined;
  let runsNode = false;
  if (app.script.includes(' ')) {
    // PM2 runs a script with a space as a shell command line, with no arguments of its own.
    config.script = [io.which('bash') ? 'bash' : 'sh', '-c', app.script];
    if (given('args')) unsupported.push(`${shown('args')} (the script is a command line)`);
  } else {
    let script = path.resolve(cwd, app.script);
    // Not a file here: a program on PATH (`script: 'npm'`), as PM2 finds it.
    if (!io.exists(script) && !app.script.includes('/')) script = io.which(app.script) || script;
    if (interpreter === undefined) {
      interpreter = EXTENSION_INTERPRETERS[path.extname(script)];
      if (interpreter === 'python' && !io.which('python') && io.which('python3'))
        interpreter = 'python3';
      if (interpreter === undefined) interpreter = io.isBinary(script) ? 'none' : 'node';
    }
    if (interpreter === 'none') {
      config.script = [script, ...args];
    } else {
      runsNode = isNode(interpreter);
      // A directory is run by node as a package: its main file.
      if (runsNode && io.isDirectory(script)) script = io.resolveDirectory(script) || script;
      config.script = script;
      const program = interpreter === 'node' ? execPath : interpreter;
      const words = [program, ...interpreterArgs];
      if (words.some((w) => /\s/.test(w) || w === '')) {
        // The command option splits at spaces: a word holding one needs a whole argv.
        config.script = [...words, script, ...args];
      } else {
        if (interpreter !== 'node' || interpreterArgs.length > 0) config.command = words.join(' ');
        if (args.length > 0) config.args = args;
      }
    }
  }

  // --- Environment: PM2's order, the later winning.
  const env = {};
  const instanceVar = given('instance_var') ? String(app.instance_var) : 'NODE_APP_INSTANCE';
  env[instanceVar] = '0';
  if (ctx.deployEnv) addEnv(env, ctx.deployEnv);
  if (given('env')) {
    if (isObject(app.env)) addEnv(env, app.env);
    else unsupported.push(`${shown('env')} (not an object)`);
  }
  if (given('port')) env.PORT = String(app.port);
  if (/python/.test(interpreter || '')) env.PYTHONUNBUFFERED = '1';
  const hasEnv =
    ctx.envName !== undefined && Object.prototype.hasOwnProperty.call(envs, ctx.envName);
  if (hasEnv) {
    if (isObject(envs[ctx.envName])) addEnv(env, envs[ctx.envName]);
    else unsupported.push(`env_${ctx.envName} (not an object)`);
  }
  config.env = env;
  if (given('filter_env') && app.filter_env !== false) {
    const f = app.filter_env;
    const hidden =
      f === true
        ? Object.keys(hostEnv)
        : typeof f === 'string'
          ? [f]
          : Array.isArray(f)
            ? Object.keys(hostEnv).filter((k) => f.some((part) => k.includes(String(part))))
            : null;
    if (hidden === null) unsupported.push(shown('filter_env'));
    else if (hidden.length > 0) config.hideEnv = hidden;
  }

  // --- Instances: PM2's instances as a Group; its cluster mode's shared port as one the
  // core holds, which the app's own listen(PORT) takes (interceptListen).
  let unshared = null;
  const count = app.instances === 'max' ? 0 : given('instances') ? parseCount(app.instances) : 1;
  if (given('exec_mode') && !/^(fork|cluster)(_mode)?$/.test(String(app.exec_mode)))
    throw bad('exec_mode', '"fork" or "cluster"');
  if (count === undefined) throw bad('instances', 'a number or "max"');
  // PM2's default: cluster mode for a node app that gives instances, unless exec_mode says.
  const cluster = given('exec_mode')
    ? String(app.exec_mode).startsWith('cluster')
    : given('instances') && runsNode;
  if (count !== 1) {
    // 0 is PM2's "max"; -N that many fewer than the CPUs, as a Group reads it.
    config.instances = count === 0 ? 'max' : count;
    if (given('instance_var')) config.instanceVar = instanceVar;
  }
  // One instance has nothing to share: it binds its port itself, as under PM2 (and may
  // listen through a wrapper, or on one host alone).
  if (cluster && runsNode && count !== 1) {
    // The PORT the app sees: its env's, else this process's when PM2 would pass it on.
    const inherited =
      config.hideEnv !== undefined && config.hideEnv.includes('PORT') ? undefined : hostEnv.PORT;
    const port = parseCount(env.PORT !== undefined ? env.PORT : inherited);
    if (port !== undefined && port > 0 && port < 65536) {
      config.listen = [port];
      config.interceptListen = true;
    } else {
      unshared = `${count === 0 ? '"max"' : count} instances in cluster mode`;
    }
  }

  // --- Restarts.
  const autorestart = app.autorestart;
  if (given('autorestart')) {
    if (autorestart === false || autorestart === 'false') config.autorestart = 'never';
    else if (autorestart === true || autorestart === 'true') config.autorestart = 'always';
    else throw bad('autorestart', 'true or false');
  }
  if (given('stop_exit_codes')) {
    const codes = [].concat(app.stop_exit_codes).map(parseCount);
    if (codes.some((c) => c === undefined)) throw bad('stop_exit_codes', 'exit codes (numbers)');
    config.stopExitCodes = codes;
  }
  if (given('exp_backoff_restart_delay')) {
    const initial = parseDuration(app.exp_backoff_restart_delay);
    if (initial === undefined) throw bad('exp_backoff_restart_delay', 'a number of milliseconds');
    // PM2's sequence exactly: initial, then x1.5 up to 15 s, no jitter, reset after 30 s up.
    // It replaces restart_delay in PM2, so restart_delay is not used with it.
    if (initial === 0) config.restartDelay = 0;
    else
      config.backoff = {
        initial,
        factor: 1.5,
        max: Math.max(PM2_DEFAULTS.backoffMax, initial),
        jitter: 0,
        resetAfter: PM2_DEFAULTS.backoffResetAfter,
      };
  } else if (given('restart_delay')) {
    const delay = parseDuration(app.restart_delay);
    if (delay === undefined) throw bad('restart_delay', 'a number of milliseconds');
    config.restartDelay = delay;
  } else {
    // PM2 restarts at once by default: no CLI backoff, whose growing delays would also spread
    // a crash loop past the window below, so that it never gave up as PM2 does.
    config.restartDelay = 0;
  }
  // PM2 gives up after max_restarts exits in a row that each came less than min_uptime
  // after their start, counted in the first min_uptime x max_restarts ms: as a sliding
  // window here, so that max_restarts runs of a crash loop are the last.
  const minUptime = given('min_uptime') ? parseDuration(app.min_uptime) : PM2_DEFAULTS.minUptime;
  if (minUptime === undefined) throw bad('min_uptime', 'milliseconds, or a duration such as "10s"');
  const maxRestarts = given('max_restarts')
    ? parseCount(app.max_restarts)
    : PM2_DEFAULTS.maxRestarts;
  if (maxRestarts === undefined || maxRestarts < 0)
    throw bad('max_restarts', 'a whole number >= 0');
  if (maxRestarts === 0) {
    // Nothing is restarted: one run.
    config.max = 1;
  } else if (maxRestarts === 1) {
    // PM2 gives up at the first exit that came less than min_uptime after the start, and
    // restarts a stable child as often as it exits: forever's own spin rule (minUptime
    // without spinSleepTime) is exactly that, where a window of one restart would end a
    // stable child at its first exit.
    config.minUptime = minUptime;
  } else if (maxRestarts <= 10001) {
    config.restartWindow = {
      count: Math.max(0, maxRestarts - 1),
      window: Math.max(1, minUptime * Math.max(1, maxRestarts)),
    };
  }
  if (given('max_memory_restart')) {
    const bytes = parseSize(app.max_memory_restart);
    if (bytes === undefined)
      throw bad('max_memory_restart', 'bytes, or a size such as "300M" or "1G"');
    config.maxMemory = bytes;
  }

  // --- Stopping: PM2's SIGINT, then SIGKILL after kill_timeout (1600 ms).
  config.killSignal = given('kill_signal') ? app.kill_signal : PM2_DEFAULTS.killSignal;
  const killTimeout = given('kill_timeout')
    ? parseDuration(app.kill_timeout)
    : PM2_DEFAULTS.killTimeout;
  if (killTimeout === undefined) throw bad('kill_timeout', 'a number of milliseconds');
  config.killTTL = killTimeout;
  if (given('treekill')) config.killTree = app.treekill !== false && app.treekill !== 'false';

  // --- Node's IPC channel, which PM2 gives every node app (process.send), and its uses.
  if (runsNode) config.fork = true;
  if (app.wait_ready === true) {
    config.waitReady = true;
    // PM2 takes the app for up once listen_timeout passes; readyTimeout would restart it
    // instead, so it is not its equivalent: with no limit the app just runs on.
    if (given('listen_timeout')) unsupported.push(shown('listen_timeout'));
  }
  if (app.shutdown_with_message === true) {
    if (runsNode) {
      config.shutdownMessage = 'shutdown';
      config.shutdownTimeout = killTimeout;
    } else unsupported.push(`${shown('shutdown_with_message')} (not a node app)`);
  }

  // --- Logs: PM2 appends to its files; each path is used as given (PM2's merge_logs).
  const logPath = (key) => {
    if (!given(key) || app[key] === false) return undefined;
    if (typeof app[key] !== 'string' || app[key] === '') throw bad(key, 'a path');
    return app[key] === 'NULL' || app[key] === '/dev/null' ? null : underCwd(app[key]);
  };
  const disabled = app.disable_logs === true;
  const out = disabled ? undefined : logPath('out_file');
  const err = disabled ? undefined : logPath('error_file');
  if (!disabled && given('log_file') && app.log_file !== false) {
    if (app.log_file === true) unsupported.push(`${shown('log_file')} (true: PM2's own directory)`);
    else {
      const both = logPath('log_file');
      if (both && out === undefined && err === undefined) {
        config.outFile = both;
        config.mergeLogs = true;
      } else if (both) unsupported.push(`${shown('log_file')} (with out_file or error_file)`);
    }
  }
  if (out) config.outFile = out;
  if (err) config.errFile = err;
  if (config.outFile || config.errFile) config.append = true;
  if (app.time === true || (typeof app.log_date_format === 'string' && app.log_date_format !== ''))
    config.logTimestamps = true;
  if (given('merge_logs') && app.merge_logs !== true && app.merge_logs !== 'true')
    unsupported.push(`${shown('merge_logs')} (false: PM2 suffixes the file names)`);
  if (given('pid_file')) {
    const pid = logPath('pid_file');
    if (pid) config.pidFile = pid;
  }

  // --- Watching.
  const watch = app.watch;
  if (given('watch') && watch !== false && watch !== 'false') {
    const paths =
      watch === true || (Array.isArray(watch) && watch.length === 0)
        ? [cwd]
        : [].concat(watch).map((d) => {
            if (typeof d !== 'string' || d === '') throw bad('watch', 'true, or paths');
            return underCwd(d);
          });
    // forever-native watches directories; its parent would watch more than the file asked.
    const files = paths.filter((p) => io.exists(p) && !io.isDirectory(p));
    if (files.length > 0) unsupported.push(`${shown('watch')} (files: ${files.join(', ')})`);
    const dirs = paths.filter((p) => !files.includes(p));
    if (dirs.length > 0) {
      config.watch = true;
      config.watchDirectory = dirs.length === 1 ? dirs[0] : dirs;
    }
    if (config.watch) {
      // PM2's default ignores dot files (forever-native's too) and node_modules anywhere.
      // Its own list is chokidar's: each path (or glob) relative to the app's cwd, ignoring
      // what it names and all below.
      const patterns = [];
      if (!given('ignore_watch')) patterns.push('**/node_modules/**');
      for (const p of given('ignore_watch') ? [].concat(app.ignore_watch) : []) {
        if (typeof p === 'string' && p !== '')
          patterns.push(`${underCwd(p).replace(/\/+$/, '')}/**`);
        else
          unsupported.push(
            `${shown('ignore_watch')} (${p instanceof RegExp ? 'a RegExp' : JSON.stringify(p)})`,
          );
      }
      if (patterns.length > 0) config.watchIgnore = patterns;
      if (given('watch_delay')) {
        const delay = parseDuration(app.watch_delay);
        if (delay === undefined) throw bad('watch_delay', 'a number of milliseconds');
        config.watchDebounce = delay;
      }
      if (given('watch_options')) {
        const o = isObject(app.watch_options) ? app.watch_options : {};
        for (const [k, v] of Object.entries(o)) {
          if (k === 'usePolling') config.usePolling = v === true;
          else if (k === 'interval') config.pollingInterval = v;
          else unsupported.push(`${shown('watch_options')}.${k}`);
        }
      }
    }
  }

  // --- Unix user and group: numbers only (a name would need PM2's /etc/passwd look-up).
  for (const key of ['uid', 'gid']) {
    if (!given(key)) continue;
    const id = parseCount(app[key]);
    if (id === undefined || id < 0) unsupported.push(`${shown(key)} (a name: give the number)`);
    else config.spawnWith = { ...config.spawnWith, [key]: id };
  }

  // --- What forever-native does not have.
  let autostart = true;
  if (given('autostart')) autostart = app.autostart !== false && app.autostart !== 'false';
  for (const [key, off] of Object.entries(OFF_VALUES)) {
    if (given(key) && !off(app[key])) unsupported.push(shown(key));
  }
  return { name, config, unsupported, unshared, autostart, hasEnv };
}

/**
 * The apps of an ecosystem file as forever's config format, or null when `data` is
 * forever's own format: a JavaScript file is always PM2's, JSON when it has `apps` (or
 * `pm2`, as in a package.json) or an app with a key forever's format does not have but
 * PM2's does.
 *
 * @param {unknown} data the file's content (parsed JSON, or what the JavaScript exports)
 * @param {object} ctx what fromPm2App takes, and:
 * @param {string} ctx.file the file as the user gave it (in the notes)
 * @param {boolean} ctx.javascript whether the file was JavaScript
 * @param {Set<string>} ctx.foreverKeys the keys of forever's config format
 * @returns {{ apps: object[], notes: string[], held: string[] } | null} the apps that start
 *   (autostart), in order; the notes to show once, before they run; the names of the apps
 *   autostart false holds back
 */
function appsFromEcosystem(data, ctx) {
  const fail = ctx.fail || ((message) => new Error(message));
  const top = isObject(data) && (data.apps !== undefined || data.pm2 !== undefined);
  const list = top ? (data.apps !== undefined ? data.apps : data.pm2) : data;
  const declared = Array.isArray(list) ? list : [list];
  const pm2Key = (k) => !ctx.foreverKeys.has(k) && (CANONICAL.has(k) || /^env_./.test(k));
  const pm2 =
    ctx.javascript || top || declared.some((a) => isObject(a) && Object.keys(a).some(pm2Key));
  if (!pm2) return null;

  const notes = [];
  if (declared.length === 0) throw fail(`${quote(ctx.file)} declares no app`);
  const deploy = isObject(data) && isObject(data.deploy) ? data.deploy : {};
  const deployEnv =
    ctx.envName !== undefined && isObject(deploy[ctx.envName])
      ? deploy[ctx.envName].env
      : undefined;
  const topUnsupported = top
    ? Object.keys(data).filter((k) => k !== 'apps' && k !== 'pm2' && k !== 'deploy')
    : [];

  const mapped = declared.map((app, i) => {
    if (!isObject(app))
      throw fail(`${ctx.file}: app ${i + 1} must be an object with a "script" key`);
    try {
      return fromPm2App(app, { ...ctx, deployEnv, fail });
    } catch (err) {
      const who = typeof app.name === 'string' ? `app ${quote(app.name)}` : `app ${i + 1}`;
      throw fail(`${ctx.file}: ${who}: ${err.message}`);
    }
  });

  // One line for every key with no equivalent, all apps together.
  const ignored = mapped
    .filter((m) => m.unsupported.length > 0)
    .map((m) => `${m.name}: ${m.unsupported.join(', ')}`);
  if (topUnsupported.length > 0) ignored.unshift(`(top level): ${topUnsupported.join(', ')}`);
  if (ignored.length > 0)
    notes.push(`${ctx.file}: ignored, no forever-native equivalent: ${ignored.join('; ')}`);
  const unshared = mapped.filter((m) => m.unshared !== null);
  if (unshared.length > 0) {
    notes.push(
      `${ctx.file}: ${unshared.map((m) => `${m.name} runs ${m.unshared}`).join('; ')} with no port to share (no "port" or env PORT): an app that listens on a port of its own fails with EADDRINUSE after its first instance; give the port as "port"`,
    );
  }
  if (ctx.envName !== undefined) {
    const without = mapped.filter((m) => !m.hasEnv).map((m) => m.name);
    if (without.length > 0)
      notes.push(
        `${ctx.file}: --env ${ctx.envName}: no env_${ctx.envName} in ${without.join(', ')}`,
      );
  }
  const held = mapped.filter((m) => !m.autostart).map((m) => m.name);
  if (held.length > 0) notes.push(`${ctx.file}: autostart false: not started: ${held.join(', ')}`);
  const starting = mapped.filter((m) => m.autostart);
  return { apps: starting.map((m) => m.config), notes, held };
}

module.exports = {
  PM2_KEYS,
  PM2_DEFAULTS,
  isEcosystemName,
  isJavaScript,
  requireConfig,
  splitArgs,
  parseDuration,
  parseSize,
  fromPm2App,
  appsFromEcosystem,
};
