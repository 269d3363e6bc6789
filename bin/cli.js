'use strict';
/**
 * The pure parts of the `forever-native` command line: argument parsing, config files,
 * the Monitor options they turn into, and the status lines. Nothing here starts a
 * process, so all of it can be unit-tested; bin/forever-native.js does the running.
 *
 * The flags, the config keys and the help come from the option catalogue (options.js),
 * which is plain JavaScript; `require('forever-native')` itself is left to the caller, so
 * `--help` and `--version` never load the native addon.
 */

const fs = require('fs');
const path = require('path');
const os = require('os');
// The option catalogue: plain JavaScript, which loads no addon.
const { CATALOGUE } = require('../options.js');
const ecosystem = require('./ecosystem.js');

/** A mistake in the command line or the config file: one line on stderr, exit code 2. */
class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = 2;
  }
}

/**
 * How a flag's value is read (`kind`, from the option catalogue, options.js; see readValue):
 *   bool      takes no value (`--silent`, or `--silent=false`)
 *   string    any non-empty string
 *   path      a non-empty string, resolved against the current directory
 *   list      a path that may be given many times
 *   pattern   a string that may be given many times
 *   runs      a whole number >= 1
 *   count     a whole number >= 0
 *   bytes     a whole number >= 1
 *   ms        a number of milliseconds >= 0
 *   signal    a signal name (SIGTERM, TERM) or number
 *   backoff   no value (the defaults), or `=initial:100,factor:2,...` (`=false` for none)
 *   when      always, on-failure or never
 *   codes     exit codes 0-255, comma-separated
 *   window    COUNT/MS
 *   size      bytes, or a size such as 512M or 1G (checked by the Monitor)
 *   listen    an address, may be given many times (a socket path is resolved)
 *   rotate    daily, hourly or a number of milliseconds
 *   age       a number of milliseconds, or a duration such as 14d, 12h, 30m
 *   instances a whole number (negative: that many fewer than the CPUs), or max
 * A flag's `min`, `above` or `max` states another bound the Monitor enforces, so that the
 * CLI's message for a value it cannot read names the range that is accepted.
 */

/**
 * Every flag: one for each option of the catalogue that has one (`key` is the Monitor
 * option it sets; none for an option of the CLI alone), then the CLI's own.
 */
const FLAGS = CATALOGUE.filter((option) => option.cli)
  .map((option) => ({
    long: option.cli.long || option.name,
    ...option.cli,
    ...(option.api === false ? {} : { key: option.name }),
  }))
  .concat([
    {
      long: 'config',
      kind: 'path',
      arg: 'FILE',
      help: "Read the app (or an array of apps) from a JSON file, or PM2's ecosystem file (.js, .cjs, .json)",
    },
    {
      long: 'only',
      kind: 'string',
      arg: 'NAMES',
      help: 'With a config: run only the apps of these names (comma-separated), as PM2 --only',
    },
    {
      long: 'env',
      kind: 'string',
      arg: 'NAME',
      help: "With PM2's ecosystem file: add each app's env_NAME to its env, as PM2 --env",
    },
    { long: 'json', kind: 'bool', help: 'Print the status lines as JSON, one object per line' },
    { long: 'help', short: 'h', kind: 'bool', help: 'Show this help' },
    { long: 'version', kind: 'bool', help: "Show forever-native's version" },
  ]);

const BY_LONG = new Map(FLAGS.map((f) => [f.long, f]));
const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short, f]));
const TAKES_VALUE = (flag) => flag.kind !== 'bool' && flag.kind !== 'backoff';

/**
 * The keys a config file may hold for each app: `script`, and every option of the
 * catalogue that JSON can express, by its name and by its flag's (forever's `workingDir`
 * and `watchIgnore`).
 */
const CONFIG_KEYS = new Set(['script']);
for (const option of CATALOGUE) {
  if (option.config === false) continue;
  CONFIG_KEYS.add(option.name);
  if (option.cli && option.cli.long) CONFIG_KEYS.add(option.cli.long);
}

/** Config keys that hold paths, resolved against the config file's directory. */
const CONFIG_PATHS = FLAGS.filter((f) => f.kind === 'path' && f.key).flatMap((f) =>
  f.long === f.key ? [f.key] : [f.long, f.key],
);

/** The graceful stop the CLI uses when no killSignal is given (the catalogue's CLI defaults). */
const DEFAULT_KILL_SIGNAL = BY_LONG.get('killSignal').default;
const DEFAULT_KILL_TTL = BY_LONG.get('killTTL').default;

const quote = (value) => JSON.stringify(String(value));

/** The flag a mistyped name probably meant (`--min-uptime` -> `--minUptime`), or ''. */
function suggest(name) {
  const squash = (s) => s.toLowerCase().replace(/[-_]/g, '');
  const wanted = squash(name);
  const match = FLAGS.find((f) => squash(f.long) === wanted);
  return match ? ` (did you mean --${match.long}?)` : '';
}

/** Reads one flag's value into the form the Monitor takes; throws UsageError. */
function readValue(flag, raw, shown) {
  const bad = (what) => new UsageError(`${shown} must be ${what}, got ${quote(raw)}`);
  switch (flag.kind) {
    case 'bool':
      if (raw === undefined || raw === 'true') return true;
      if (raw === 'false') return false;
      throw bad('true or false');
    case 'runs':
    case 'count':
    case 'bytes': {
      const min = flag.min !== undefined ? flag.min : flag.kind === 'count' ? 0 : 1;
      const max = flag.max === undefined ? Number.MAX_SAFE_INTEGER : flag.max;
      const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
      // The upper bound is the Monitor's to enforce (its message names it too).
      if (!Number.isSafeInteger(n) || n < min) throw bad(`a whole number from ${min} to ${max}`);
      return n;
    }
    case 'ms': {
      const n = /^[0-9]+(\.[0-9]+)?$/.test(raw) ? Number(raw) : NaN;
      // A number below the bound is the Monitor's to refuse (its message names it too).
      if (!Number.isFinite(n)) {
        throw bad(
          `a finite number of milliseconds ${flag.above !== undefined ? `> ${flag.above}` : `>= ${flag.min || 0}`}`,
        );
      }
      return n;
    }
    case 'backoff': {
      if (raw === undefined || raw === 'true') return true;
      if (raw === 'false') return false;
      const backoff = {};
      for (const part of raw.split(',')) {
        const m = /^(initial|factor|max|jitter|resetAfter)[:=]([0-9]+(\.[0-9]+)?)$/.exec(
          part.trim(),
        );
        if (!m) throw bad('initial:MS,factor:F,max:MS,jitter:F,resetAfter:MS (any of them)');
        if (Object.prototype.hasOwnProperty.call(backoff, m[1])) {
          throw bad(
            `initial:MS,factor:F,max:MS,jitter:F,resetAfter:MS with each key once ("${m[1]}" is given twice)`,
          );
        }
        backoff[m[1]] = Number(m[2]);
      }
      return backoff;
    }
    case 'when':
      if (raw === 'always' || raw === 'on-failure' || raw === 'never') return raw;
      throw bad('always, on-failure or never');
    case 'codes': {
      const codes = raw.split(',').map((c) => (/^[0-9]+$/.test(c.trim()) ? Number(c.trim()) : NaN));
      if (codes.some((c) => !(c >= 0 && c <= 255)))
        throw bad('exit codes from 0 to 255, comma-separated');
      return codes;
    }
    case 'window': {
      const m = /^([0-9]+)\/([0-9]+)$/.exec(raw);
      const count = m ? Number(m[1]) : NaN;
      const window = m ? Number(m[2]) : NaN;
      if (!(count <= 10000 && window > 0 && Number.isSafeInteger(window)))
        throw bad('N/MS: at most N (0 to 10000) restarts within MS (> 0) milliseconds');
      return { count, window };
    }
    case 'rotate': {
      if (raw === 'daily' || raw === 'hourly') return raw;
      if (/^[0-9]+$/.test(raw)) return Number(raw);
      throw bad('daily, hourly or a whole number of milliseconds from 100 to 2678400000 (31 days)');
    }
    case 'age': {
      if (/^[0-9]+$/.test(raw)) return Number(raw);
      if (/^[0-9]+(\.[0-9]+)?(ms|s|m|h|d|w)$/.test(raw)) return raw;
      throw bad('a number of milliseconds (at least 1) or a duration such as 14d, 12h or 30m');
    }
    case 'instances': {
      if (raw === 'max') return raw;
      const n = /^-?[0-9]+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n === 0)
        throw bad(
          'a whole number of instances, max, or a negative number (that many fewer than max)',
        );
      return n;
    }
    case 'signal': {
      const n = parseSignal(raw);
      if (n === undefined) throw bad('a signal name such as SIGTERM (or its number)');
      return n;
    }
    default:
      if (raw === '') throw new UsageError(`${shown} must not be empty`);
      if (raw.includes('\u0000')) throw bad('a string without null bytes');
      return raw;
  }
}

/** 'SIGTERM', 'TERM', 'sigterm' -> 'SIGTERM'; '15' -> 15; anything else -> undefined. */
function parseSignal(raw) {
  const signals = os.constants.signals;
  if (typeof raw === 'number' || /^[0-9]+$/.test(raw)) {
    const n = Number(raw);
    return n > 0 && Object.values(signals).includes(n) ? n : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  let name = raw.toUpperCase();
  if (!name.startsWith('SIG')) name = `SIG${name}`;
  return Object.prototype.hasOwnProperty.call(signals, name) ? name : undefined;
}

/**
 * Parses the command line (without `node` and the script path). Flags come first; the
 * first argument that is not a flag is the script and everything after it is passed to
 * the script untouched, flags included. `--` ends the flags explicitly (for a script
 * whose name starts with `-`).
 *
 * @param {string[]} argv
 * @returns {{flags: Record<string, any>, given: string[], script?: string, scriptAt: number, args: string[]}}
 *   `scriptAt` is the script's index in `argv` (-1 without one)
 * @throws {UsageError}
 */
function parseArgs(argv) {
  const flags = {};
  const given = [];
  const out = { flags, given, script: undefined, scriptAt: -1, args: [] };
  const set = (flag, raw, shown) => {
    const value = readValue(flag, raw, shown);
    if (flag.kind === 'list' || flag.kind === 'pattern' || flag.kind === 'listen')
      (flags[flag.long] = flags[flag.long] || []).push(value);
    else flags[flag.long] = value;
    if (!given.includes(flag.long)) given.push(flag.long);
  };
  const valueAfter = (i, shown) => {
    if (i + 1 >= argv.length) throw new UsageError(`${shown} needs a value`);
    return argv[i + 1];
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = String(argv[i]);
    if (arg === '--') {
      if (i + 1 < argv.length) {
        out.script = argv[i + 1];
        out.scriptAt = i + 1;
        out.args = argv.slice(i + 2);
      }
      return out;
    }
    if (arg === '--no-backoff') {
      set(BY_LONG.get('backoff'), 'false', arg);
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const flag = BY_LONG.get(name);
      if (name === 'no-backoff') throw new UsageError('--no-backoff takes no value');
      if (!flag) throw new UsageError(`unknown option --${name}${suggest(name)}`);
      const shown = `--${name}`;
      if (eq >= 0) set(flag, arg.slice(eq + 1), shown);
      else if (TAKES_VALUE(flag)) set(flag, valueAfter(i++, shown), shown);
      else set(flag, undefined, shown);
      continue;
    }
    if (arg.length > 1 && arg[0] === '-') {
      // Short flags, which may be grouped (-sa); one that takes a value takes the rest of
      // the group (-m5) or the next argument (-m 5).
      for (let j = 1; j < arg.length; j++) {
        const flag = BY_SHORT.get(arg[j]);
        if (!flag) throw new UsageError(`unknown option -${arg[j]}`);
        const shown = `-${arg[j]}`;
        if (!TAKES_VALUE(flag)) {
          set(flag, undefined, shown);
        } else {
          if (j + 1 < arg.length) set(flag, arg.slice(j + 1), shown);
          else set(flag, valueAfter(i++, shown), shown);
          break;
        }
      }
      continue;
    }
    // The script. Everything after it is the script's, as with `node`, `forever` and
    // `nodemon`, so a service's own `--config prod.json` or `--silent` reach it.
    out.script = arg;
    out.scriptAt = i;
    out.args = argv.slice(i + 1).map(String);
    return out;
  }
  return out;
}

/**
 * A `listen` address with its socket path (an address holding a `/`, after an optional
 * `name=`) resolved against `base`; anything else as it is, for the Monitor to check.
 */
function resolveListen(value, base) {
  if (typeof value !== 'string') return value;
  const named = /^([^=/]+)=(.*)$/s.exec(value);
  const [prefix, address] = named ? [`${named[1]}=`, named[2]] : ['', value];
  return address.includes('/') ? `${prefix}${path.resolve(base, address)}` : value;
}

/** Applies the CLI's graceful-stop default: SIGTERM, then SIGKILL after 5 s. */
function withStopDefaults(options) {
  if (options.killSignal === undefined || options.killSignal === null) {
    options.killSignal = DEFAULT_KILL_SIGNAL;
    if (options.killTTL === undefined || options.killTTL === null)
      options.killTTL = DEFAULT_KILL_TTL;
  }
  return options;
}

/**
 * The CLI's restart default, which the API does not have: a crash loop backs off
 * (`backoff: true`) unless `backoff` or `restartDelay` was given (a flag, `--no-backoff`,
 * or a config key). Changes and returns `options`.
 */
function withRestartDefaults(options) {
  const given = (key) => options[key] !== undefined && options[key] !== null;
  if (!given('backoff') && !given('restartDelay')) options.backoff = BY_LONG.get('backoff').default;
  return options;
}

/** Whether `command` (the --command option) runs node, so that the script is node's file. */
const runsNode = (command) =>
  typeof command !== 'string' || /(^|\/)node(js)?$/.test(command.trim().split(/\s+/)[0]);

/**
 * Why `app`'s script cannot be run, as a UsageError, or null: a script that node would
 * run (no --command, or a node one) that does not exist or is a directory. Another
 * command's words are its own business (`-c python3 app.py`, `-c echo start`).
 * @param {{where: string, script: string, shown?: string, options: object}} app
 * @param {(file: string) => fs.Stats} [stat]
 */
function scriptProblem(app, stat = fs.statSync) {
  const { options } = app;
  if (Array.isArray(app.script) || !runsNode(options.command)) return null;
  const file = options.sourceDir ? path.join(options.sourceDir, app.script) : app.script;
  const shown = app.shown === undefined ? app.script : app.shown;
  const where = app.where === 'options' ? '' : `${app.where}: `;
  let st;
  try {
    st = stat(file);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR')
      return new UsageError(`${where}${shown}: no such file`);
    return null;
  }
  if (!st.isDirectory()) return null;
  // `forever-native logs` in a project with a logs/ directory: the command it looks like.
  const command = Object.prototype.hasOwnProperty.call(FOREVER_COMMANDS, shown)
    ? FOREVER_COMMANDS[shown]()
    : null;
  const hint = command ? `; ${command} (see --help)` : '';
  return new UsageError(`${where}${shown}: is a directory${hint}`);
}

/**
 * The Monitor options the flags ask for (paths resolved against `cwd`), with the CLI's
 * stop defaults.
 */
function monitorOptions(parsed, cwd) {
  const options = {};
  for (const name of parsed.given) {
    const flag = BY_LONG.get(name);
    if (!flag.key) continue;
    let value = parsed.flags[name];
    if (flag.kind === 'path') value = path.resolve(cwd, value);
    if (flag.kind === 'list') {
      value = value.map((dir) => path.resolve(cwd, dir));
      if (value.length === 1) value = value[0];
    }
    if (flag.kind === 'listen') {
      value = value.map((address) => resolveListen(address, cwd));
      if (value.length === 1) value = value[0];
    }
    options[flag.key] = value;
  }
  return withStopDefaults(options);
}

/** The name an app goes by in the status lines. */
function appName(script, options) {
  if (options.id) return String(options.id);
  if (options.uid !== undefined && options.uid !== null && options.uid !== '')
    return String(options.uid);
  return path.basename(Array.isArray(script) ? script[0] : String(script));
}

/**
 * forever's commands. forever-native has none: it runs one script in the foreground, so
 * `forever-native start app.js` (a `forever start` habit) would look for a script named
 * `start`. When no such file exists, the usage error says what to do instead; a file
 * named `start` is run as any script would be.
 */
const FOREVER_COMMANDS = {
  start: () =>
    'no start command is needed: forever-native runs the script itself, in the foreground',
  stop: () =>
    'forever-native has no stop command: it runs in the foreground; stop it with Ctrl-C or SIGTERM (systemctl stop, docker stop)',
  restart: () =>
    'forever-native has no restart command: it restarts the script itself; send it SIGHUP to restart the script by hand',
  list: () =>
    'forever-native has no list command: each forever-native runs one script (or one --config) in the foreground, not as a daemon; ask your service manager (systemctl status, docker ps)',
  logs: () =>
    'forever-native has no logs command: the output goes to the terminal, or to the -o/-e/-l files',
  config: () =>
    'forever-native has no config command: give the options on the command line (see --help), or a JSON file with --config FILE',
};
for (const [alias, of] of [
  ['stopall', 'stop'],
  ['restartall', 'restart'],
  ['cleanlogs', 'logs'],
  ['set', 'config'],
  ['clear', 'config'],
  ['columns', 'list'],
]) {
  FOREVER_COMMANDS[alias] = () =>
    FOREVER_COMMANDS[of]().replace(` ${of} command`, ` ${alias} command`);
}

/** `arg` as a shell would need it typed (single-quoted unless plain). */
function shellWord(arg) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/**
 * The usage error for a forever command given as the script (`forever-native start
 * app.js`), or null. Only when the script would be run by node (no --command, or a node
 * one; another command may take words that are not files) and no file of that name
 * exists: the Monitor would only say `Target script does not exist: /srv/app/start`.
 */
function foreverCommandError(parsed, argv, script, options, exists) {
  const name = parsed.script;
  if (!Object.prototype.hasOwnProperty.call(FOREVER_COMMANDS, name)) return null;
  if (!runsNode(options.command)) return null;
  const file = options.sourceDir ? path.join(options.sourceDir, script) : script;
  if (exists(file)) return null;
  const why = FOREVER_COMMANDS[name]();
  let message = `${quote(name)} is not a file here, and ${why}`;
  if (name === 'start') {
    // The same command line without `start`: forever's `start [options] script` keeps its
    // options before the script, which is where forever-native wants them too.
    const rest = argv
      .slice(0, parsed.scriptAt)
      .concat(argv.slice(parsed.scriptAt + 1))
      .map(String);
    let hasScript = false;
    try {
      hasScript = parseArgs(rest).script !== undefined;
    } catch {
      // The rest is not a command line that would run: show the usage instead.
    }
    const wanted = hasScript ? rest.map(shellWord).join(' ') : '[options] script [args...]';
    message += `; use: forever-native ${wanted}`;
  }
  return new UsageError(message);
}

/**
 * The app that the command line describes, without --config.
 * @returns {{name: string, where: string, script: string, options: object}}
 */
function appFromArgs(parsed, cwd, argv = [], exists = fs.existsSync) {
  if (parsed.script === undefined) {
    throw new UsageError(
      'missing script: usage is forever-native [options] script [args...] (see --help)',
    );
  }
  if (parsed.script === '') throw new UsageError('the script must not be empty');
  const options = monitorOptions(parsed, cwd);
  // Relative to the current directory (as `forever start` does), so --workingDir does not
  // move the script; with --sourceDir the Monitor joins the two.
  const script = options.sourceDir ? parsed.script : path.resolve(cwd, parsed.script);
  const notACommand = foreverCommandError(parsed, argv, script, options, exists);
  if (notACommand) throw notACommand;
  if (parsed.args.length > 0) options.args = parsed.args.slice();
  return {
    name: appName(script, options),
    where: 'options',
    script,
    shown: parsed.script,
    options,
    reloadOnHup: parsed.flags.reloadOnHup === true,
  };
}

/**
 * One app of a config file as a Monitor's script and options. Relative paths are
 * resolved against `baseDir`, the config file's directory.
 */
function appFromConfig(entry, where, baseDir) {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new UsageError(`${where} must be an object with a "script" key`);
  }
  for (const key of Object.keys(entry)) {
    if (!CONFIG_KEYS.has(key)) throw new UsageError(`${where}: unknown key ${quote(key)}`);
  }
  // An argv runs as it is (PM2's interpreter "none", or its command line as a script).
  const argv = Array.isArray(entry.script);
  if (
    argv
      ? !entry.script.every((w) => typeof w === 'string') || !entry.script[0]
      : typeof entry.script !== 'string' || entry.script === ''
  ) {
    throw new UsageError(`${where}: "script" must be a non-empty string`);
  }
  if (entry.workingDir !== undefined && entry.cwd !== undefined) {
    throw new UsageError(`${where}: give "workingDir" or "cwd", not both`);
  }
  const options = { ...entry };
  delete options.script;
  const reloadOnHup = options.reloadOnHup;
  delete options.reloadOnHup;
  if (reloadOnHup !== undefined && typeof reloadOnHup !== 'boolean') {
    throw new UsageError(`${where}: "reloadOnHup" must be true or false`);
  }
  // The CLI's, for the whole process: any app with it turns the reaper on.
  const reap = options.reap;
  delete options.reap;
  if (reap !== undefined && typeof reap !== 'boolean') {
    throw new UsageError(`${where}: "reap" must be true or false`);
  }
  if (options.listen !== undefined) {
    options.listen = Array.isArray(options.listen)
      ? options.listen.map((address) => resolveListen(address, baseDir))
      : resolveListen(options.listen, baseDir);
  }
  for (const key of CONFIG_PATHS) {
    if (typeof options[key] === 'string' && options[key] !== '')
      options[key] = path.resolve(baseDir, options[key]);
  }
  if (options.workingDir !== undefined) {
    options.cwd = options.workingDir;
    delete options.workingDir;
  }
  if (options.watchDirectory !== undefined) {
    const dirs = [].concat(options.watchDirectory);
    if (!dirs.every((d) => typeof d === 'string' && d !== '')) {
      throw new UsageError(`${where}: "watchDirectory" must be a path or an array of paths`);
    }
    options.watchDirectory =
      dirs.length === 1
        ? path.resolve(baseDir, dirs[0])
        : dirs.map((d) => path.resolve(baseDir, d));
  }
  if (options.watchIgnore !== undefined) {
    const patterns = [].concat(options.watchIgnore);
    if (!patterns.every((p) => typeof p === 'string')) {
      throw new UsageError(`${where}: "watchIgnore" must be a pattern or an array of patterns`);
    }
    options.watchIgnorePatterns = (options.watchIgnorePatterns || []).concat(patterns);
    delete options.watchIgnore;
  }
  if (typeof options.killSignal === 'string') {
    const signal = parseSignal(options.killSignal);
    if (signal === undefined) {
      throw new UsageError(
        `${where}: "killSignal" must be a signal name such as SIGTERM, got ${quote(options.killSignal)}`,
      );
    }
    options.killSignal = signal;
  }
  const script = argv
    ? entry.script.slice()
    : options.sourceDir
      ? entry.script
      : path.resolve(baseDir, entry.script);
  withStopDefaults(options);
  return {
    name: appName(script, options),
    where,
    script,
    shown: argv ? entry.script.join(' ') : entry.script,
    options,
    reloadOnHup: reloadOnHup === true,
    reap: reap === true,
  };
}

/** The most a config file may hold (it is read whole): 1 MiB. */
const CONFIG_MAX_BYTES = 1024 * 1024;

/** What a file that is not a regular file is, in words. */
function kindOf(stat) {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'a special file';
}

/**
 * The text of the config file at `full`: a regular file of at most CONFIG_MAX_BYTES,
 * or an Error whose `reason` says why not. A device, FIFO or directory is refused before
 * it is opened, and again by fstat on the descriptor opened (O_NONBLOCK: a FIFO put there
 * meanwhile never blocks the open); never more than the bound + 1 bytes are read, so
 * `/dev/zero` or a file growing while it is read cannot take the memory.
 */
function readConfigFile(full) {
  const refuse = (reason) => Object.assign(new Error(reason), { reason });
  const notRegular = (stat) => refuse(`it is ${kindOf(stat)}, not a regular file`);
  const tooLarge = (size) =>
    refuse(`it is too large (${size} bytes; a config may hold at most 1 MiB)`);
  const before = fs.statSync(full);
  if (!before.isFile()) throw notRegular(before);
  const { O_RDONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;
  const fd = fs.openSync(full, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw notRegular(stat);
    if (stat.size > CONFIG_MAX_BYTES) throw tooLarge(stat.size);
    const chunks = [];
    let total = 0;
    while (total <= CONFIG_MAX_BYTES) {
      const chunk = Buffer.allocUnsafe(Math.min(CONFIG_MAX_BYTES + 1 - total, 64 * 1024));
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    // It grew past the bound after the fstat.
    if (total > CONFIG_MAX_BYTES) throw tooLarge(`more than ${CONFIG_MAX_BYTES}`);
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Why reading a config failed, in a few words. */
function whyUnreadable(err) {
  if (err.reason) return err.reason;
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory, not a regular file';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${err.code})`;
    case 'ENOTDIR':
      return 'a part of the path is not a directory (ENOTDIR)';
    case 'ELOOP':
      return 'too many symbolic links (ELOOP)';
    case 'ENXIO':
      return 'it is a socket or a device with nothing behind it (ENXIO)';
    default:
      return err.code || err.message;
  }
}

/**
 * The apps in a config file: one object, or an array of them; or PM2's ecosystem file,
 * mapped by bin/ecosystem.js (whose notes are added to `select.notes`).
 * @param {string} file as the user gave it (shown in messages)
 * @param {(full: string, encoding: 'utf8') => string} [readFile] reads the file's text
 * @param {{ only?: string, env?: string, notes?: string[] }} [select] --only, --env
 */
function appsFromConfig(file, cwd, readFile = readConfigFile, select = {}) {
  const full = path.resolve(cwd, file);
  const javascript = ecosystem.isJavaScript(full);
  let text;
  let data;
  try {
    // A .js/.cjs file is code (PM2's ecosystem file): PM2 require()s it, and so does this.
    if (javascript) data = ecosystem.requireConfig(full);
    else text = readFile(full, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config ${quote(file)}: ${whyUnreadable(err)}`);
  }
  try {
    if (!javascript) data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `config ${quote(file)} is not valid JSON: ${String(err.message).split('\n')[0]}`,
    );
  }
  const baseDir = path.dirname(full);
  const pm2 = ecosystem.appsFromEcosystem(data, {
    file,
    baseDir,
    javascript,
    envName: select.env,
    foreverKeys: CONFIG_KEYS,
    fail: (message) => new UsageError(message),
  });
  if (pm2) {
    data = pm2.apps;
    if (select.notes) select.notes.push(...pm2.notes);
    const held = pm2.held;
    if (select.only !== undefined) {
      const asked = select.only.split(/[,\s]+/).filter((name) => held.includes(name));
      if (asked.length > 0)
        throw new UsageError(
          `--only ${quote(select.only)}: ${asked.map(quote).join(', ')} ${asked.length > 1 ? 'have' : 'has'} autostart: false in ${quote(file)}`,
        );
    }
    if (data.length === 0 && held.length > 0)
      throw new UsageError(
        `${quote(file)}: nothing to start: every app has autostart: false (${held.join(', ')})`,
      );
  } else if (select.env !== undefined) {
    throw new UsageError(`--env is for PM2's ecosystem files: ${quote(file)} is forever's format`);
  }
  let apps = [];
  if (Array.isArray(data)) {
    if (data.length === 0)
      throw new UsageError(
        `config ${quote(file)} is an empty array: it must hold at least one app`,
      );
    apps = data.map((entry, i) => appFromConfig(entry, `${file}[${i}]`, baseDir));
  } else apps = [appFromConfig(data, file, baseDir)];
  if (select.only !== undefined) apps = onlyApps(apps, select.only, file);
  // Two apps with the same name get their index, so their status lines can be told apart.
  for (const app of apps) {
    if (apps.filter((other) => other.name === app.name).length > 1)
      app.name = `${app.name}#${apps.indexOf(app)}`;
  }
  return apps;
}

/** `--only a,b`: those apps of a config (by name), as PM2's --only; another name is an error. */
function onlyApps(apps, only, file) {
  const wanted = only.split(/[,\s]+/).filter(Boolean);
  const missing = wanted.filter((name) => !apps.some((app) => app.name === name));
  if (missing.length > 0 || wanted.length === 0) {
    throw new UsageError(
      `--only ${quote(only)}: no app named ${missing.map(quote).join(', ') || '""'} in ${quote(file)} (its apps: ${apps.map((a) => a.name).join(', ')})`,
    );
  }
  return apps.filter((app) => wanted.includes(app.name));
}

/**
 * What to do, from the command line: `{help}`, `{version}`, or `{json, apps}`.
 * @throws {UsageError}
 */
function plan(argv, { cwd = process.cwd(), readFile, exists = fs.existsSync } = {}) {
  let parsed = parseArgs(argv);
  // `forever-native ecosystem.config.js --only api`, as `pm2 start`: an ecosystem file (not
  // after --) is the --config, and what follows it are options.
  if (parsed.flags.config === undefined && ecosystem.isEcosystemName(parsed.script)) {
    const file = parsed.script;
    if (argv[parsed.scriptAt - 1] !== '--') {
      parsed = parseArgs(argv.slice(0, parsed.scriptAt).concat(argv.slice(parsed.scriptAt + 1)));
      if (parsed.script !== undefined) {
        throw new UsageError(
          `${quote(parsed.script)} after the ecosystem file ${quote(file)}: only options (--only, --env, --json) may follow it`,
        );
      }
      parsed.flags.config = file;
    }
  }
  const json = parsed.flags.json === true;
  if (parsed.flags.help) return { help: true, json };
  if (parsed.flags.version) return { version: true, json };
  if (parsed.flags.config !== undefined) {
    if (parsed.script !== undefined) {
      throw new UsageError(
        `a script (${quote(parsed.script)}) cannot be given with --config: put it in the config file`,
      );
    }
    const clash = parsed.given.find((name) => BY_LONG.get(name).key);
    if (clash) {
      const key = BY_LONG.get(clash).key === 'cwd' ? 'workingDir' : clash;
      throw new UsageError(
        `--${clash} cannot be used with --config: set ${quote(key)} in the config file`,
      );
    }
    const { only, env } = parsed.flags;
    const notes = [];
    return {
      json,
      reap: parsed.flags.reap === true,
      apps: appsFromConfig(parsed.flags.config, cwd, readFile, { only, env, notes }),
      notes,
    };
  }
  const select = ['only', 'env'].find((name) => parsed.flags[name] !== undefined);
  if (select)
    throw new UsageError(
      `--${select} picks from a config: give --config FILE (or an ecosystem file)`,
    );
  return {
    json,
    reap: parsed.flags.reap === true,
    apps: [appFromArgs(parsed, cwd, argv, exists)],
    notes: [],
  };
}

/** Whether `json` was asked for, even when the command line failed to parse. */
function wantsJson(argv) {
  for (let i = 0; i < argv.length; i++) {
    const arg = String(argv[i]);
    // Options may follow an ecosystem file (`ecosystem.config.js --json`).
    if (arg[0] !== '-' && ecosystem.isEcosystemName(arg)) continue;
    if (arg === '--' || arg.length < 2 || arg[0] !== '-') return false;
    if (arg === '--json' || arg === '--json=true') return true;
    if (arg.startsWith('--')) {
      const flag = BY_LONG.get(arg.slice(2));
      if (flag && TAKES_VALUE(flag)) i++;
    } else {
      const flag = BY_SHORT.get(arg[arg.length - 1]);
      if (
        flag &&
        TAKES_VALUE(flag) &&
        Array.from(arg.slice(1, -1)).every((c) => BY_SHORT.has(c) && !TAKES_VALUE(BY_SHORT.get(c)))
      )
        i++;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Help

function helpText(version) {
  const rows = FLAGS.map((f) => {
    const names = `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.arg ? ` ${f.arg}` : ''}`;
    return `  ${names.padEnd(28)} ${f.help}`;
  });
  return [
    `forever-native ${version}: run a script under a forever-native Monitor, in the foreground`,
    '',
    'Usage:',
    '  forever-native [options] script [args...]',
    '  forever-native [--json] --config app.json',
    "  forever-native [--json] ecosystem.config.js [--only NAMES] [--env NAME]   (PM2's file)",
    '',
    "Options go before the script: everything after it is the script's, options",
    'included, as with node. A -- ends the options (for a script named like -x.js).',
    'There are no commands: forever-native app.js, not forever-native start app.js.',
    "Restarts back off by default (--backoff's delays); --no-backoff or --restartDelay for none.",
    '',
    'Options:',
    ...rows,
    '',
    'Signals: SIGINT/SIGTERM stop the child gracefully (a second one kills it at once);',
    'SIGHUP restarts it (reloads it without downtime with --reloadOnHup); SIGUSR2 reopens',
    "the log files (logrotate's postrotate).",
    "Exit codes: 0 after a clean stop; the child's last exit code when it gave up (1 if it",
    'died by a signal); 1 when it could not be started; 2 for bad usage (a script that is',
    'not there or is a directory included); 128+n when a',
    'second signal n had to kill the child.',
    '',
    'Examples:',
    '  forever-native --max 5 --minUptime 1000 --spinSleepTime 2000 server.js --port 8080',
    '  forever-native -o out.log -e err.log --logTimestamps --pidFile run/app.pid app.js',
    '  forever-native --max 3 app.js --config prod.json   (app.js gets --config prod.json)',
    '  forever-native --json --config app.json',
    '  forever-native --listen http=127.0.0.1:8080 --fork --waitReady --reloadOnHup server.js',
    '  forever-native -i max --listen 8080 --fork --waitReady --reloadOnHup server.js',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// Status lines

/** Whether to colour `stream`: only a TTY, never with NO_COLOR, always with FORCE_COLOR. */
function useColor(stream, env = process.env) {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0')
    return true;
  return Boolean(stream && stream.isTTY) && env.TERM !== 'dumb';
}

/** 850 -> '850ms', 2300 -> '2.3s', 65000 -> '1m 5s', 7380000 -> '2h 3m'. */
function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${Math.floor(ms / 100) / 10}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

const runOf = (run, max) => (max ? `run ${run} of ${max}` : `run ${run}`);

/** 52428800 -> '50.0 MB' (powers of 1024). */
function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes)) return '?';
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** The human text of a status event, and the colour it is shown in. */
function describe(e) {
  switch (e.event) {
    case 'start':
      return [`started (pid ${e.pid})`, 32];
    case 'restart':
      return [`restarted (pid ${e.pid}, ${runOf(e.run, e.max)})`, 32];
    case 'exit': {
      const how = e.signal ? `signal ${e.signal}` : `code ${e.code}`;
      return [`exited (${how}, uptime ${formatDuration(e.uptime)})`, e.code === 0 ? 33 : 31];
    }
    case 'restarting': {
      // One scheme for every restarting line: `restarting[ in DELAY] ([WHY, ]run N[ of M][, attempt K])`.
      // `attempt` (the restarts in a row, from 1) is on every automatic restart; a restart
      // that was asked for (SIGHUP, a file change) is none in a row, so it has none.
      const why = {
        SIGHUP: 'SIGHUP',
        watch: 'file changed',
        watchdog: 'watchdog: no heartbeat in time',
        readyTimeout: 'not ready in time',
        memory: `memory ${formatBytes(e.rss)} over the limit`,
      }[e.reason];
      const when =
        typeof e.delay === 'number' && e.delay > 0 ? ` in ${formatDuration(e.delay)}` : '';
      const attempt = typeof e.attempt === 'number' ? `, attempt ${e.attempt}` : '';
      const color =
        e.reason === 'watchdog' || e.reason === 'readyTimeout' || e.reason === 'memory' ? 35 : 36;
      return [
        `restarting${when} (${why ? `${why}, ` : ''}${runOf(e.run, e.max)}${attempt})`,
        color,
      ];
    }
    case 'watch':
      return [`file changed: ${e.file}`, 36];
    case 'spinning': {
      const then =
        typeof e.restartIn === 'number'
          ? `, restarting in ${formatDuration(e.restartIn)}`
          : ', not restarting (no spinSleepTime)';
      return [
        `spinning (uptime ${formatDuration(e.uptime)} < minUptime ${formatDuration(e.minUptime)})${then}`,
        35,
      ];
    }
    case 'stop':
      return [e.forced ? 'stopped (killed)' : 'stopped', 32];
    case 'giveup': {
      const code = `exit code ${e.exitCode}`;
      if (e.reason === 'spinning')
        return [`gave up: spinning after ${e.runs} run${e.runs === 1 ? '' : 's'} (${code})`, 31];
      if (e.reason === 'error') {
        return [
          e.runs ? `gave up after an error (${code})` : `gave up: could not start (${code})`,
          31,
        ];
      }
      if (e.reason === 'window')
        return [
          `gave up: more than ${e.window.count} restarts within ${formatDuration(e.window.window)} (${code})`,
          31,
        ];
      if (e.reason === 'exitCode')
        return [`ended: exit code ${e.exitCode} is not restarted`, e.exitCode === 0 ? 32 : 31];
      if (e.reason === 'never')
        return [`ended: autorestart is never (${code})`, e.exitCode === 0 ? 32 : 31];
      return [
        `gave up after ${e.runs} run${e.runs === 1 ? '' : 's'} (${e.max ? `max ${e.max}, ` : ''}${code})`,
        31,
      ];
    }
    case 'waiting': {
      const why =
        e.reason === 'spinning'
          ? 'spinning'
          : `${e.runs} run${e.runs === 1 ? '' : 's'}${e.max ? `, max ${e.max}` : ''}`;
      return [`waiting for a file change (gave up: ${why})`, 33];
    }
    case 'ready':
      return [`ready (pid ${e.pid}, ${formatDuration(e.after)} after its start)`, 32];
    case 'listening': {
      const where = (e.sockets || []).map(
        (l) =>
          `${l.name} ${l.path || (l.family === 'IPv6' ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`)} (fd ${l.fd})`,
      );
      return [`listening on ${where.join(', ')}`, 32];
    }
    case 'reload': {
      const how = (x) => (x.signal ? `signal ${x.signal}` : `code ${x.code}`);
      if (e.phase === 'starting')
        return [`reloading: new child pid ${e.newPid} starting beside pid ${e.oldPid}`, 36];
      if (e.phase === 'ready')
        return [`reloaded: pid ${e.newPid} took over, stopping pid ${e.oldPid}`, 32];
      if (e.phase === 'done') return [`reload done: pid ${e.oldPid} exited (${how(e)})`, 32];
      const why = {
        exit: `new child pid ${e.newPid} exited (${how(e)})`,
        readyTimeout: `new child pid ${e.newPid} not ready in time`,
        spawn: 'the new child could not be started',
      }[e.reason];
      return why
        ? [`reload failed: ${why}; pid ${e.oldPid} serves on`, 31]
        : [`reload abandoned: supervision ended (${e.reason})`, 33];
    }
    case 'rolled':
      return [
        `rolling reload done: ${e.instances} instance${e.instances === 1 ? '' : 's'} replaced`,
        32,
      ];
    case 'status': {
      if (e.state === 'idle') return ['idle', 0];
      const parts = [e.pid ? `pid ${e.pid}` : 'no child'];
      if (typeof e.uptime === 'number') parts.push(`up ${formatDuration(e.uptime)}`);
      if (typeof e.cpu === 'number') parts.push(`cpu ${e.cpu.toFixed(1)}%`);
      if (typeof e.rss === 'number') parts.push(`rss ${formatBytes(e.rss)}`);
      if (typeof e.treeRss === 'number' && e.treePids > 1)
        parts.push(`tree ${e.treePids} processes ${formatBytes(e.treeRss)}`);
      parts.push(`restarts ${e.restarts}`);
      return [`${e.state} (${parts.join(', ')})`, 36];
    }
    case 'error':
      return [`error: ${e.message}`, 31];
    case 'warning':
      return [`note: ${e.message}`, 33];
    case 'signal': {
      const what =
        {
          stop:
            e.signal === 'SIGINT'
              ? 'stopping (Ctrl-C again to kill at once)'
              : `stopping (${e.signal} again to kill at once)`,
          force: 'killing at once (SIGKILL)',
          exit: 'exiting now',
          restart: 'restarting',
          reload: 'reloading',
          reopen: 'reopening the log files',
          ignore: 'ignored while stopping',
        }[e.action] || e.action;
      return [`${e.signal} received: ${what}`, 36];
    }
    default:
      return [e.event, 0];
  }
}

/** One human-readable status line (no newline). */
function formatHuman(e, color = false) {
  const [text, code] = describe(e);
  const paint = (sgr, s) => (color && sgr ? `\u001b[${sgr}m${s}\u001b[0m` : s);
  const who = e.app ? `${paint(1, e.app)} ` : '';
  return `${paint(2, 'forever-native:')} ${who}${paint(code, text)}`;
}

/** One JSON status line (no newline): event, time, app, pid first, then the event's fields. */
function formatJson(e) {
  const { event, time, app, pid, ...rest } = e;
  const t = time instanceof Date ? time : new Date(time === undefined ? Date.now() : time);
  return JSON.stringify({
    event,
    time: t.toISOString(),
    app: app === undefined ? null : app,
    pid: pid === undefined ? null : pid,
    ...rest,
  });
}

module.exports = {
  resolveListen,
  UsageError,
  FLAGS,
  CONFIG_KEYS,
  CONFIG_MAX_BYTES,
  readConfigFile,
  DEFAULT_KILL_SIGNAL,
  DEFAULT_KILL_TTL,
  parseArgs,
  parseSignal,
  monitorOptions,
  withRestartDefaults,
  scriptProblem,
  appFromArgs,
  appFromConfig,
  appsFromConfig,
  plan,
  wantsJson,
  helpText,
  useColor,
  formatDuration,
  formatHuman,
  formatJson,
};
