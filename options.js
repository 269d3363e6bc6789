// @ts-check
'use strict';
/**
 * The catalogue of a `Monitor`'s options, and the one fold that reads them.
 *
 * {@link CATALOGUE} has one entry per option: its check (type and range, and the loose
 * values forever-monitor took), its default, the core group and field it reaches the core
 * as, and its command-line flag and help. Everything else follows from it:
 * - `new Monitor()` folds the user's options over it ({@link construct}): checked,
 *   completed, and kept as the monitor's fields (forever-monitor's names and defaults);
 * - each `start()` folds the monitor's fields over it again ({@link atStart}: they are
 *   plain properties, which may have changed) with the same checks and the same
 *   {@link rules} between options, and {@link runOptions} / {@link logOptions} turn the
 *   result into the core's shapes (`binding.d.ts`), complete: the core trusts them and
 *   supplies no defaults of its own;
 * - the CLI's flags, config keys and `--help` (bin/cli.js) are read from the entries.
 * So an option walks one way: this catalogue → the core (src/binding/types.rs, then the
 * code that uses it) → its user. A check throws a `TypeError` or `RangeError` naming the
 * option and the value (`code` `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE`).
 *
 * Adding an option (the whole recipe; `listenBacklog` was moved here by it, from a default
 * in the core):
 * 1. An entry in CATALOGUE, in its section (the order is the order of the checks and of
 *    `--help`): `name`, `check` (one of the checks below, or a new one), `default`, `core`
 *    (the group and field of `binding.d.ts`'s shape it becomes, and `to` when the core
 *    wants another form: whole milliseconds, a number for a signal), `cli` (kind, help; the
 *    flag and the config key come with it). A rule that ties it to another option goes in
 *    `rules()`, and only there.
 * 2. The core's use of it: the field in src/binding/types.rs (no default there: the value
 *    arrives complete), and the code that uses it.
 * 3. index.d.ts: its line in `MonitorOptions`.
 * 4. A test through the public API (`__test__/`).
 */

const path = require('path');

/** @typedef {import('./binding').NativeRunOptions} NativeRunOptions */
/** @typedef {import('./binding').NativeHealthOptions} NativeHealthOptions */
/** @typedef {import('./binding').NativeWatchOptions} NativeWatchOptions */
/** @typedef {import('./binding').NativeLogOptions} NativeLogOptions */

const {
  signals,
  describe,
  typeError,
  rangeError,
  isSet,
  LOOSE_OPTION,
  checkString,
  checkBoolean,
  checkNotFalse,
  checkStrictFlag,
  checkNumber,
  checkMillis,
  checkStrictNumber,
  checkStrictMillis,
  checkPositiveMillis,
  checkSignal,
  checkStrings,
  checkEnv,
  stdioOf,
  checkSerialization,
  checkSpawnWith,
  randomString,
  checkBackoff,
  checkAutorestart,
  checkExitCodes,
  checkRestartWindow,
  checkMemory,
  checkAbortSignal,
  MAX_SHUTDOWN_MESSAGE,
  checkShutdownMessage,
  checkListen,
  nativeListen,
  checkBacklog,
  ROTATE_PERIODS,
  checkLogRotate,
  checkLogMaxAge,
  normalizeStdio,
} = require('./option-checks.js');
/** @typedef {import('./option-checks.js').Backoff} Backoff */
/** @typedef {import('./option-checks.js').ListenEntry} ListenEntry */

// ---------------------------------------------------------------------------------------
// The catalogue

/** `backoff: true`: PM2's exponential backoff, with a tenth of jitter. */
const BACKOFF_DEFAULTS = Object.freeze({
  initial: 100,
  factor: 1.5,
  max: 15000,
  jitter: 0.1,
  resetAfter: 30000,
});
/** How often the tree's memory is read with `maxMemory`, by default (ms). */
const MEMORY_CHECK_INTERVAL = 1000;
/** The shortest `memoryCheckInterval` (ms). */
const MIN_MEMORY_CHECK_INTERVAL = 10;
/** How long a kill waits after the shutdown message, without `shutdownTimeout` or `killTTL`. */
const SHUTDOWN_TIMEOUT = 5000;
/** The backlog of each `listen` socket without `listenBacklog`: Node's. */
const LISTEN_BACKLOG = 511;
/** ms a reload's new child runs beside the old one before it takes over (without waitReady). */
const RELOAD_GRACE = 1000;
/** ms between polls with `usePolling`. */
const POLLING_INTERVAL = 100;
/** ms of quiet that end a burst of file changes. */
const WATCH_DEBOUNCE = 300;
/** Rotated log files kept. */
const LOG_MAX_FILES = 5;
/** `logMaxFiles` when only `logMaxAge` limits the rotated files: the most it may be. */
const MAX_LOG_FILES = 1000;
/** The CLI's stop, where the API's is forever-monitor's immediate SIGKILL. */
const CLI_KILL_SIGNAL = 'SIGTERM';
const CLI_KILL_TTL = 5000;

/** Whole milliseconds, for the core. @param {number} ms */
const wholeMs = (ms) => Math.round(ms);
/** Whole milliseconds, or none. @param {number | undefined} ms */
const wholeMsOrNone = (ms) => (ms === undefined ? undefined : Math.round(ms));
/** Whole milliseconds, at least 1 (a period of 0 would never wait). @param {number} ms */
const periodMs = (ms) => Math.max(1, Math.round(ms));

/**
 * @typedef {Record<string, any>} Values Options by name, as read so far.
 * @typedef {{ parser: Function, start: boolean }} FoldContext What the fold knows besides
 *   the options: the default parser, and whether it reads a monitor's fields at a start()
 *   rather than the user's options.
 * @typedef {{ encode(message: unknown, name: string): Buffer, ipc: boolean }} StartContext
 *   What the core's shapes need besides the options: how the channel serialises a
 *   message, and whether the child has one.
 * @typedef {(value: any, values: Values, context: StartContext) => unknown} To
 * @typedef {{ group: 'run', field: keyof NativeRunOptions, to?: To }
 *   | { group: 'health', field: keyof NativeHealthOptions, to?: To }
 *   | { group: 'watch', field: keyof NativeWatchOptions, to?: To }
 *   | { group: 'logs', field: keyof NativeLogOptions, to?: To }
 *   | { group: 'env', field: string, to?: To }} Target
 *   One field of a core shape the option becomes: `run` is `NativeRunOptions`, `health`
 *   its `health` (sent when a health option is on), `watch` its `watch` (sent with `watch`),
 *   `logs` the `NativeLogOptions` of the monitor's files, `env` a variable in the child's
 *   environment (for the child helper). `to` turns the checked value into the core's form
 *   (undefined: the field is left out).
 * @typedef {object} Cli The option's command-line flag; its config key is the flag's name.
 * @property {string} [long] the flag, when it is not the option's name
 * @property {string} [short]
 * @property {string} kind how its text is read (see bin/cli.js's `readValue`)
 * @property {string} [arg] what its value is called in `--help`
 * @property {string} help
 * @property {number} [min] a bound the check enforces, named in the CLI's own message
 * @property {number} [max]
 * @property {number} [above]
 * @property {unknown} [default] the CLI's default, where it has its own (see bin/cli.js)
 * @typedef {object} Option One entry of the catalogue.
 * @property {string} name
 * @property {(name: string, value: any, values: Values, context: FoldContext) => unknown} [check] reads a set
 *   value (see `given`); none: taken as it is
 * @property {unknown | ((values: Values, context: FoldContext) => unknown)} [default]
 *   the value when it is not set (a function: of the options before it)
 * @property {(value: unknown) => boolean} [given] whether a value counts as set: by
 *   default, neither undefined nor null
 * @property {string | false} [field] the monitor's field: the option's name unless given;
 *   false for none
 * @property {Target[] | 'js'} [core] what the core gets of it; `'js'`: read by index.js
 *   when it spawns (the spawn spec, the log files). Options with a `core` are read again,
 *   from the monitor's fields, at each start()
 * @property {Cli} [cli]
 * @property {boolean} [config] whether a `--config` file may hold it (default: true)
 * @property {boolean} [api] false for an option of the CLI alone (no Monitor option)
 */

/**
 * Every option, in the order they are checked and shown by `--help`.
 * @type {readonly Option[]}
 */
const CATALOGUE = Object.freeze([
  // Restarts.
  {
    name: 'max',
    check: (n, v) => {
      const max = checkNumber(n, v, 'a number');
      if (Number.isNaN(max) || max < 0) throw rangeError(n, 'a number >= 0', v);
      return max;
    },
    core: [
      {
        group: 'run',
        field: 'max',
        to: (/** @type {number | undefined} */ max) =>
          max === undefined || max === Infinity ? undefined : Math.min(Math.ceil(max), 0xffffffff),
      },
    ],
    cli: { short: 'm', kind: 'runs', arg: 'N', help: 'Only run the script N times in total' },
  },
  {
    name: 'minUptime',
    check: checkMillis,
    default: 0,
    core: [{ group: 'run', field: 'minUptime', to: wholeMs }],
    cli: {
      kind: 'ms',
      arg: 'MS',
      help: 'A child that lived less than MS is spinning (default 0)',
    },
  },
  {
    name: 'spinSleepTime',
    // forever-monitor's `spinSleepTime || null`: 0 is none.
    check: (n, v) => checkMillis(n, v) || null,
    default: null,
    core: [
      {
        group: 'run',
        field: 'spinSleepTime',
        to: (/** @type {number | null} */ ms) => (ms === null ? undefined : Math.round(ms)),
      },
    ],
    cli: {
      kind: 'ms',
      arg: 'MS',
      help: 'Wait MS before restarting a spinning child; without it, give up',
    },
  },
  {
    name: 'restartDelay',
    check: checkStrictMillis,
    core: [{ group: 'run', field: 'restartDelay', to: wholeMsOrNone }],
    cli: { kind: 'ms', arg: 'MS', help: 'Wait MS before every automatic restart' },
  },
  {
    name: 'backoff',
    check: (n, v) => checkBackoff(n, v, BACKOFF_DEFAULTS),
    core: [
      {
        group: 'run',
        field: 'backoff',
        to: (/** @type {Backoff | undefined} */ b) =>
          b && {
            initial: Math.round(b.initial),
            factor: b.factor,
            max: Math.round(b.max),
            jitter: b.jitter,
            resetAfter: Math.round(b.resetAfter),
          },
      },
    ],
    cli: {
      kind: 'backoff',
      default: true,
      help: `Growing delays for restarts in a row: ${BACKOFF_DEFAULTS.initial}ms x${BACKOFF_DEFAULTS.factor} up to ${BACKOFF_DEFAULTS.max / 1000}s, reset after ${BACKOFF_DEFAULTS.resetAfter / 1000}s up (or =initial:MS,factor:F,max:MS,jitter:F,resetAfter:MS). On by default here unless --restartDelay is given; --no-backoff (or --backoff=false) for none`,
    },
  },
  {
    name: 'autorestart',
    check: checkAutorestart,
    default: 'always',
    core: [{ group: 'run', field: 'autorestart' }],
    cli: {
      kind: 'when',
      arg: 'WHEN',
      help: 'always (default), on-failure (not after exit code 0) or never',
    },
  },
  {
    name: 'stopExitCodes',
    check: checkExitCodes,
    default: () => [],
    core: [{ group: 'run', field: 'stopExitCodes' }],
    cli: {
      kind: 'codes',
      arg: 'CODES',
      help: 'Exit codes that end supervision instead of a restart, e.g. 0,78',
    },
  },
  {
    name: 'restartWindow',
    check: checkRestartWindow,
    core: [
      {
        group: 'run',
        field: 'restartWindow',
        to: (/** @type {{ count: number, window: number } | undefined} */ w) =>
          w && { count: w.count, window: Math.round(w.window) },
      },
    ],
    cli: {
      kind: 'window',
      arg: 'N/MS',
      help: 'Give up after more than N restarts within MS, e.g. 5/60000',
    },
  },

  // The program and how it is spawned (index.js builds the spawn spec from these).
  {
    name: 'fork',
    check: checkBoolean,
    default: false,
    core: 'js',
    cli: {
      kind: 'bool',
      help: 'Give the child an IPC channel (Node children: for --waitReady, --watchdog, --shutdownMessage)',
    },
  },
  {
    name: 'spawnWith',
    // Its env is the monitor's to fill in at each start: only the user's is checked.
    check: (n, v, _values, { start }) => checkSpawnWith(n, v, { env: !start }),
    default: () => ({}),
    core: 'js',
  },
  {
    name: 'serialization',
    check: checkSerialization,
    // forever-monitor handed spawnWith to child_process.spawn, which reads its serialization.
    default: (/** @type {Values} */ values) => values.spawnWith.serialization || 'json',
    core: 'js',
  },
  {
    name: 'stdio',
    check: (n, v) => {
      normalizeStdio(n, v);
      return v;
    },
    default: null,
    core: 'js',
  },

  // Health.
  {
    name: 'waitReady',
    check: checkStrictFlag,
    default: false,
    core: [{ group: 'health', field: 'waitReady' }],
    cli: {
      kind: 'bool',
      help: "The child is up once it says so: process.send('ready') (with --fork) or READY=1 on NOTIFY_SOCKET",
    },
  },
  {
    name: 'readyTimeout',
    check: checkPositiveMillis,
    core: [{ group: 'health', field: 'readyTimeout', to: wholeMsOrNone }],
    cli: {
      kind: 'ms',
      above: 0,
      arg: 'MS',
      help: 'With --waitReady: a child not ready within MS is taken down, as a crash',
    },
  },
  {
    name: 'watchdog',
    check: checkPositiveMillis,
    core: [
      {
        group: 'health',
        field: 'watchdog',
        to: (/** @type {number | undefined} */ ms) => (ms === undefined ? undefined : periodMs(ms)),
      },
    ],
    cli: {
      kind: 'ms',
      above: 0,
      arg: 'MS',
      help: "The child must ping within every MS (process.send('heartbeat') or WATCHDOG=1), or it is restarted",
    },
  },
  {
    name: 'maxMemory',
    check: checkMemory,
    core: [{ group: 'health', field: 'maxMemory' }],
    cli: {
      kind: 'size',
      arg: 'SIZE',
      help: "Restart the child gracefully when its tree's memory passes SIZE (bytes, 512M, 1G)",
    },
  },
  {
    name: 'memoryCheckInterval',
    check: (n, v) => checkStrictNumber(n, v, 'a number of milliseconds', MIN_MEMORY_CHECK_INTERVAL),
    default: MEMORY_CHECK_INTERVAL,
    core: [{ group: 'health', field: 'memoryCheckInterval', to: wholeMs }],
    cli: {
      kind: 'ms',
      min: MIN_MEMORY_CHECK_INTERVAL,
      arg: 'MS',
      help: `How often --maxMemory reads the memory (default ${MEMORY_CHECK_INTERVAL})`,
    },
  },
  {
    name: 'shutdownMessage',
    // Any value, null included; whether the channel can send it depends on serialization.
    given: (v) => v !== undefined,
    check: (n, v, values) => {
      checkShutdownMessage(v, values.serialization);
      return v;
    },
    core: [
      {
        group: 'health',
        field: 'shutdownMessage',
        to: (message, _values, { encode }) =>
          message === undefined ? undefined : encode(message, 'shutdownMessage'),
      },
      {
        // The child helper (`forever-native/child`) compares messages by their JSON.
        group: 'env',
        field: 'FOREVER_NATIVE_SHUTDOWN_MESSAGE',
        to: (message, values) =>
          message === undefined ? undefined : checkShutdownMessage(message, values.serialization),
      },
    ],
    cli: {
      kind: 'string',
      arg: 'TEXT',
      help: 'With --fork: send TEXT over IPC before the kill signal; a child that exits on it gets none',
    },
  },
  {
    name: 'shutdownTimeout',
    check: checkStrictMillis,
    core: [
      {
        group: 'health',
        field: 'shutdownTimeout',
        to: (/** @type {number | undefined} */ ms, values) =>
          Math.round(
            ms !== undefined
              ? ms
              : typeof values.killTTL === 'number' && values.killTTL > 0
                ? values.killTTL
                : SHUTDOWN_TIMEOUT,
          ),
      },
    ],
    cli: {
      kind: 'ms',
      arg: 'MS',
      help: 'How long a kill waits after --shutdownMessage before the signal (default: --killTTL)',
    },
  },

  // Listening sockets and reload.
  {
    name: 'listen',
    check: checkListen,
    default: () => [],
    core: [
      {
        group: 'run',
        field: 'listen',
        to: (/** @type {ListenEntry[]} */ list) => list.map(nativeListen),
      },
    ],
    cli: {
      kind: 'listen',
      arg: 'ADDR',
      help: 'Hold a listening socket for the child (repeatable): 8080, 127.0.0.1:8080, [::1]:8080, a socket path, name=ADDR; it gets fds 3, 4, ... with LISTEN_FDS',
    },
  },
  {
    name: 'listenBacklog',
    check: checkBacklog,
    core: [
      {
        group: 'run',
        field: 'listenBacklog',
        to: (/** @type {number | undefined} */ n) => (n === undefined ? LISTEN_BACKLOG : n),
      },
    ],
    cli: {
      kind: 'runs',
      max: 65535,
      arg: 'N',
      help: `The backlog of each --listen socket (default ${LISTEN_BACKLOG})`,
    },
  },
  {
    name: 'listenMode',
    // An octal mode, as chmod takes it: 0o660, or "660" / "0660" (what JSON can hold).
    check: (n, v) => {
      const mode = typeof v === 'string' && /^0?[0-7]{3}$/.test(v) ? parseInt(v, 8) : v;
      if (typeof mode === 'string') throw rangeError(n, 'an octal mode such as "660"', v);
      if (typeof mode !== 'number') throw typeError(n, 'a file mode such as 0o660 or "660"', v);
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
        throw rangeError(n, 'a file mode from 0 to 0o777', v);
      return mode;
    },
    core: [{ group: 'run', field: 'listenMode' }],
    cli: {
      kind: 'string',
      arg: 'MODE',
      help: "The mode of each --listen socket file, in octal, e.g. 660 (default: the umask's)",
    },
  },
  {
    name: 'reloadGrace',
    check: checkStrictMillis,
    default: RELOAD_GRACE,
    core: [{ group: 'run', field: 'reloadGrace', to: wholeMs }],
    cli: {
      kind: 'ms',
      arg: 'MS',
      help: `Without --waitReady: how long a reload's new child runs beside the old one before taking over (default ${RELOAD_GRACE})`,
    },
  },
  {
    name: 'reloadOnHup',
    api: false,
    cli: {
      kind: 'bool',
      help: 'SIGHUP reloads the child without downtime (a new child beside the old, with --listen) instead of restarting it',
    },
  },

  // What runs, and where.
  {
    name: 'command',
    check: checkString,
    default: () => process.execPath,
    core: 'js',
    cli: {
      short: 'c',
      kind: 'string',
      arg: 'CMD',
      help: 'Program to run the script with (default: this node), e.g. "node --expose-gc" or python3',
    },
  },
  {
    name: 'options',
    // forever-monitor's one side effect here, at the same point of its checks; `args`
    // reads it.
    check: (_n, v) => {
      console.warn('options.options is deprecated. Use options.args instead.');
      return v;
    },
    field: false,
    config: false,
  },
  {
    name: 'args',
    check: checkStrings,
    default: (/** @type {Values} */ values) =>
      isSet(values.options) ? checkStrings('options', values.options) : [],
    core: 'js',
  },
  {
    name: 'parser',
    check: (n, v) => {
      if (typeof v !== 'function') throw typeError(n, 'a function', v);
      return v;
    },
    default: (/** @type {Values} */ _values, /** @type {FoldContext} */ { parser }) => parser,
    core: 'js',
    config: false,
  },
  {
    name: 'checkFile',
    check: checkNotFalse,
    default: true,
    core: 'js',
  },
  {
    name: 'sourceDir',
    check: checkString,
    cli: { kind: 'path', arg: 'DIR', help: 'Directory the script path is relative to' },
  },
  {
    name: 'cwd',
    check: checkString,
    default: () => process.cwd(),
    core: 'js',
    cli: {
      long: 'workingDir',
      kind: 'path',
      arg: 'DIR',
      help: "The child's working directory (default: the current one)",
    },
  },
  // forever-monitor's `_env` and `_hideEnv`, read once, by the constructor.
  { name: 'env', check: checkEnv, default: () => ({}), field: '_env' },
  { name: 'hideEnv', check: checkStrings, default: () => [] },

  // Output and logs.
  {
    name: 'silent',
    check: checkBoolean,
    default: false,
    core: [{ group: 'run', field: 'toHost', to: (/** @type {boolean} */ silent) => !silent }],
    cli: {
      short: 's',
      kind: 'bool',
      help: "Do not copy the child's stdout/stderr to this terminal",
    },
  },
  {
    name: 'outFile',
    check: checkString,
    core: 'js',
    cli: { short: 'o', kind: 'path', arg: 'FILE', help: "Write the child's stdout to FILE" },
  },
  {
    name: 'errFile',
    check: checkString,
    core: 'js',
    cli: {
      short: 'e',
      kind: 'path',
      arg: 'FILE',
      help: "Write the child's stderr to FILE (the same path as -o merges them)",
    },
  },
  // forever-monitor's writable streams in place of outFile/errFile (index.js pipes to them).
  { name: 'stdout', field: false, config: false },
  { name: 'stderr', field: false, config: false },
  {
    name: 'logFile',
    check: checkString,
    cli: { short: 'l', kind: 'path', arg: 'FILE', help: 'Also write the status lines to FILE' },
  },
  {
    name: 'append',
    check: checkBoolean,
    core: [{ group: 'logs', field: 'append', to: (append) => append === true }],
    cli: {
      short: 'a',
      kind: 'bool',
      help: 'Append to the -o/-e/-l files instead of truncating them',
    },
  },
  {
    name: 'pidFile',
    check: checkString,
    cli: { kind: 'path', arg: 'FILE', help: "Keep the child's pid in FILE while it runs" },
  },

  // Watching.
  {
    name: 'watch',
    check: checkBoolean,
    default: false,
    core: 'js',
    cli: {
      short: 'w',
      kind: 'bool',
      help: 'Restart the child when a file in the watched directories changes',
    },
  },
  {
    name: 'watchDirectory',
    check: (n, v) => {
      if (!Array.isArray(v)) return checkString(n, v);
      checkStrings(n, v).forEach((d, i) => checkString(`${n}[${i}]`, d));
      return v;
    },
    default: (/** @type {Values} */ values) => values.sourceDir,
    core: [
      {
        group: 'watch',
        field: 'dirs',
        to: (_dirs, values) => watchDirs(/** @type {WatchPlace} */ (values)),
      },
    ],
    cli: {
      kind: 'list',
      arg: 'DIR',
      help: "Directory to watch (repeatable; default: --sourceDir, else the script's)",
    },
  },
  {
    name: 'watchIgnorePatterns',
    check: checkStrings,
    default: () => [],
    core: [{ group: 'watch', field: 'patterns', to: (/** @type {string[]} */ p) => p.slice() }],
    cli: {
      long: 'watchIgnore',
      kind: 'pattern',
      arg: 'GLOB',
      help: 'Pattern of files not to watch (repeatable)',
    },
  },
  {
    name: 'watchIgnoreDotFiles',
    check: checkNotFalse,
    default: true,
    core: [{ group: 'watch', field: 'ignoreDotFiles' }],
  },
  {
    name: 'usePolling',
    check: checkBoolean,
    core: [{ group: 'watch', field: 'usePolling', to: (polling) => polling === true }],
  },
  {
    name: 'pollingInterval',
    check: checkMillis,
    core: [
      {
        group: 'watch',
        field: 'pollingInterval',
        // forever-monitor's `pollingInterval || 100`: 0 is the default.
        to: (/** @type {number | undefined} */ ms) => periodMs(ms || POLLING_INTERVAL),
      },
    ],
  },
  {
    name: 'watchDebounce',
    check: checkMillis,
    default: WATCH_DEBOUNCE,
    core: [{ group: 'watch', field: 'debounce', to: wholeMs }],
  },

  // Stopping.
  {
    name: 'killSignal',
    // Kept as given (forever-monitor's field); the core gets its number.
    check: (n, v) => {
      checkSignal(n, v);
      return v;
    },
    default: 'SIGKILL',
    core: [
      { group: 'run', field: 'killSignal', to: (signal) => checkSignal('killSignal', signal) },
    ],
    cli: {
      kind: 'signal',
      arg: 'SIG',
      default: CLI_KILL_SIGNAL,
      help: `Signal that stops or restarts the child (default ${CLI_KILL_SIGNAL})`,
    },
  },
  {
    name: 'killTTL',
    check: checkMillis,
    // forever-monitor's `if (killTTL)`: 0 is none.
    core: [{ group: 'run', field: 'killTTL', to: (ms) => (ms ? Math.round(ms) : undefined) }],
    cli: {
      kind: 'ms',
      arg: 'MS',
      default: CLI_KILL_TTL,
      help: `SIGKILL a child still alive MS after killSignal (default ${CLI_KILL_TTL} when no --killSignal is given)`,
    },
  },
  {
    name: 'killTree',
    check: checkNotFalse,
    default: true,
    core: [{ group: 'run', field: 'killTree' }],
    cli: {
      short: 't',
      kind: 'bool',
      help: "Signal the child's whole process tree (the default; --killTree=false for the child alone)",
    },
  },
  {
    // Aborting it stops the monitor; the signal knows the monitor only while it supervises
    // (index.js's `abortWatches`).
    name: 'signal',
    check: checkAbortSignal,
    field: '_abortSignal',
    config: false,
  },

  // Names.
  {
    name: 'uid',
    check: (n, v) => {
      if (typeof v !== 'string' && typeof v !== 'number')
        throw typeError(n, 'a string or a number', v);
      return v || randomString(4);
    },
    default: () => randomString(4),
    cli: {
      kind: 'string',
      arg: 'UID',
      help: 'Id of this process for forever tools (not a Unix user)',
    },
  },
  {
    name: 'id',
    check: (_n, v) => v || false,
    default: false,
    cli: { kind: 'string', arg: 'ID', help: 'Name of this process, shown in the status lines' },
  },

  // Log files.
  {
    name: 'logTimestamps',
    check: checkBoolean,
    default: false,
    core: [{ group: 'logs', field: 'timestamps' }],
    cli: { kind: 'bool', help: 'Prefix every line of -o/-e with an ISO-8601 UTC time' },
  },
  {
    name: 'mergeLogs',
    check: checkBoolean,
    default: false,
    core: 'js',
    cli: { kind: 'bool', help: 'Write stderr into the -o file too, whole lines at a time' },
  },
  {
    name: 'logMaxSize',
    check: (n, v) => {
      const bytes = checkNumber(n, v, 'a number of bytes');
      if (!Number.isSafeInteger(bytes) || bytes < 1) {
        throw rangeError(n, `a whole number of bytes from 1 to ${Number.MAX_SAFE_INTEGER}`, v);
      }
      return bytes;
    },
    core: [{ group: 'logs', field: 'maxSize' }],
    cli: {
      kind: 'bytes',
      arg: 'BYTES',
      help: 'Rotate -o/-e/-l before they grow past BYTES (file.1, file.2, ... counting up: the newest is the highest)',
    },
  },
  {
    name: 'logRotate',
    check: checkLogRotate,
    core: [
      {
        group: 'logs',
        field: 'rotateEvery',
        to: (/** @type {'daily' | 'hourly' | number | undefined} */ every) =>
          typeof every === 'string' ? ROTATE_PERIODS[every] : every,
      },
    ],
    cli: {
      kind: 'rotate',
      arg: 'WHEN',
      help: 'Rotate -o/-e/-l daily, hourly or every MS, at local time (file.2026-11-30, file.2026-11-30T14)',
    },
  },
  {
    name: 'logRotateUtc',
    check: checkStrictFlag,
    default: false,
    core: [{ group: 'logs', field: 'rotateUtc' }],
    cli: { kind: 'bool', help: 'Count --logRotate periods in UTC rather than local time' },
  },
  {
    name: 'logCompress',
    check: checkStrictFlag,
    default: false,
    core: [{ group: 'logs', field: 'compress' }],
    cli: {
      kind: 'bool',
      help: 'Gzip rotated files, in the background (file.1.gz, file.2026-11-30.gz)',
    },
  },
  {
    name: 'logMaxFiles',
    check: (n, v) => {
      const files = checkNumber(n, v, 'a number');
      if (!Number.isInteger(files) || files < 0 || files > MAX_LOG_FILES)
        throw rangeError(n, `a whole number from 0 to ${MAX_LOG_FILES}`, v);
      return files;
    },
    core: [
      {
        group: 'logs',
        field: 'maxFiles',
        to: (/** @type {number | undefined} */ files, values) =>
          files !== undefined
            ? files
            : values.logMaxAge !== undefined
              ? MAX_LOG_FILES
              : LOG_MAX_FILES,
      },
    ],
    cli: {
      kind: 'count',
      max: MAX_LOG_FILES,
      arg: 'N',
      help: `Rotated files to keep (default ${LOG_MAX_FILES}; ${MAX_LOG_FILES} with --logMaxAge)`,
    },
  },
  {
    name: 'logMaxAge',
    check: checkLogMaxAge,
    core: [{ group: 'logs', field: 'maxAge' }],
    cli: {
      kind: 'age',
      arg: 'AGE',
      help: 'Remove rotated files last written more than AGE ago: 14d, 12h, 30m or MS',
    },
  },
  {
    name: 'logDirect',
    check: checkBoolean,
    default: false,
    core: [{ group: 'logs', field: 'direct' }],
    cli: {
      kind: 'bool',
      help: 'The child writes -o/-e itself: no host CPU for its output (needs -s; no timestamps or rotation)',
    },
  },
]);

/** The catalogue's options of the Monitor API (not the CLI's own). */
const API = CATALOGUE.filter((o) => o.api !== false);
/** The options the core gets, read again from the monitor's fields at each start(). */
const AT_START = API.filter((o) => o.core !== undefined);
/** The options that make the log files' settings. */
const LOGS = API.filter(
  (o) => Array.isArray(o.core) && o.core.some((target) => target.group === 'logs'),
);

/** @param {Option} option @returns {string | false} */
const fieldOf = (option) => (option.field === undefined ? option.name : option.field);

// ---------------------------------------------------------------------------------------
// The fold

/**
 * Reads `options` through the catalogue, in its order: each option's check when it is
 * set, its default when not. Checks and defaults may read the options before them. A
 * value that is the option's default itself (a number, a word, a flag) is taken as it
 * is: it is what the check would return, and a start() reads most fields so.
 * @param {readonly Option[]} entries
 * @param {(option: Option) => unknown} read an option's value in the source
 * @param {FoldContext} context
 * @returns {Values}
 */
function fold(entries, read, context) {
  /** @type {Values} */
  const values = {};
  for (const option of entries) {
    const value = read(option);
    const given = option.given ? option.given(value) : isSet(value);
    if (given)
      values[option.name] =
        option.check && value !== option.default
          ? option.check(option.name, value, values, context)
          : value;
    else {
      const fallback = option.default;
      values[option.name] = typeof fallback === 'function' ? fallback(values, context) : fallback;
    }
  }
  return values;
}

/**
 * The rules between options, for the constructor and each start() alike: each names the
 * option at fault and the value it was given (`source`: the user's options, or the
 * monitor's fields).
 * @param {Values} values
 * @param {Record<string, any>} source
 */
function rules(values, source) {
  const { outFile, errFile } = values;
  if (values.mergeLogs) {
    if (outFile === undefined)
      throw rangeError('mergeLogs', 'used with "outFile"', source.mergeLogs);
    if (errFile !== undefined && path.resolve(errFile) !== path.resolve(outFile)) {
      throw rangeError(
        'errFile',
        `unset or equal to "outFile" (${outFile}) with mergeLogs`,
        source.errFile,
      );
    }
  }
  // Compression and an age limit need some rotation; UTC needs `logRotate`.
  if (values.logRotateUtc && values.logRotate === undefined)
    throw rangeError('logRotateUtc', 'used with "logRotate"', source.logRotateUtc);
  const rotates = values.logRotate !== undefined || values.logMaxSize !== undefined;
  if (values.logCompress && !rotates)
    throw rangeError('logCompress', 'used with "logRotate" or "logMaxSize"', source.logCompress);
  if (values.logMaxAge !== undefined && !rotates)
    throw rangeError('logMaxAge', 'used with "logRotate" or "logMaxSize"', source.logMaxAge);
  // The child writes its log files itself, so nothing passes through the host to be
  // copied, stamped or rotated.
  if (values.logDirect) {
    if (!values.silent) {
      throw rangeError(
        'logDirect',
        'false unless "silent" is true (the host never sees what the child writes to its log files itself)',
        source.logDirect,
      );
    }
    if (values.logTimestamps) {
      throw rangeError(
        'logDirect',
        'false with "logTimestamps" (the child writes its log files itself, so nothing can stamp its lines)',
        source.logDirect,
      );
    }
    if (values.logMaxSize !== undefined) {
      throw rangeError(
        'logDirect',
        'false with "logMaxSize" (the child writes its log files itself, so the core cannot rotate them)',
        source.logDirect,
      );
    }
    if (values.logRotate !== undefined) {
      throw rangeError(
        'logDirect',
        'false with "logRotate" (the child writes its log files itself, so the core cannot rotate them)',
        source.logDirect,
      );
    }
  }
  if (
    values.listenMode !== undefined &&
    !values.listen.some((/** @type {ListenEntry} */ l) => String(l.address).startsWith('/'))
  )
    throw rangeError('listenMode', 'used with a Unix socket path in "listen"', source.listenMode);
  if (values.readyTimeout !== undefined && !values.waitReady)
    throw rangeError('readyTimeout', 'used with "waitReady: true"', source.readyTimeout);
  if (values.shutdownMessage !== undefined && stdioOf(stdioPlace(values)).ipc === undefined) {
    throw rangeError(
      'shutdownMessage',
      'used with "fork: true" (it is sent over the IPC channel)',
      source.shutdownMessage,
    );
  }
}

/** @param {Values} values */
const stdioPlace = (values) =>
  /** @type {{ stdio: unknown, fork: boolean, spawnWith: Record<string, unknown> }} */ (values);

/**
 * @typedef {object} MonitorFields A monitor's fields from its options, as forever-monitor
 *   names them (and `_env`, `_abortSignal` for `env`, `signal`).
 * @property {boolean} silent
 * @property {boolean} killTree
 * @property {string | number} uid
 * @property {unknown} id
 * @property {string | undefined} pidFile
 * @property {number | undefined} max
 * @property {number | undefined} killTTL
 * @property {unknown} killSignal
 * @property {boolean} checkFile
 * @property {string | undefined} logFile
 * @property {string | undefined} outFile
 * @property {string | undefined} errFile
 * @property {boolean | undefined} append
 * @property {boolean} logTimestamps
 * @property {boolean} mergeLogs
 * @property {number | undefined} logMaxSize
 * @property {number | undefined} logMaxFiles
 * @property {'daily' | 'hourly' | number | undefined} logRotate
 * @property {boolean} logRotateUtc
 * @property {boolean} logCompress
 * @property {number | undefined} logMaxAge
 * @property {boolean} logDirect
 * @property {Function} parser
 * @property {number} minUptime
 * @property {number | null} spinSleepTime
 * @property {string} command
 * @property {string[]} args
 * @property {Record<string, unknown>} spawnWith
 * @property {string | undefined} sourceDir
 * @property {boolean} fork
 * @property {'json' | 'advanced'} serialization
 * @property {string} cwd
 * @property {string[]} hideEnv
 * @property {Record<string, string>} _env
 * @property {unknown} stdio
 * @property {boolean} watch
 * @property {boolean} watchIgnoreDotFiles
 * @property {string[]} watchIgnorePatterns
 * @property {string | string[] | undefined} watchDirectory
 * @property {boolean | undefined} usePolling
 * @property {number | undefined} pollingInterval
 * @property {number} watchDebounce
 * @property {number | undefined} restartDelay
 * @property {Backoff | undefined} backoff
 * @property {'always' | 'on-failure' | 'never'} autorestart
 * @property {number[]} stopExitCodes
 * @property {{ count: number, window: number } | undefined} restartWindow
 * @property {boolean} waitReady
 * @property {number | undefined} readyTimeout
 * @property {number | undefined} watchdog
 * @property {number | undefined} maxMemory
 * @property {number} memoryCheckInterval
 * @property {unknown} shutdownMessage
 * @property {number | undefined} shutdownTimeout
 * @property {AbortSignal | undefined} _abortSignal
 * @property {ListenEntry[]} listen
 * @property {number | undefined} listenBacklog
 * @property {number | undefined} listenMode
 * @property {number} reloadGrace
 */

/**
 * The constructor's fold: checks and completes a monitor's options, as forever-monitor's
 * constructor reads them, and places the script. It throws for what it cannot use, and
 * touches nothing (but for forever-monitor's own deprecation warning for
 * `options.options`, and the loose values' warnings).
 * @param {string | string[]} script the script to run, or a whole argv
 * @param {unknown} options
 * @param {Function} parser the default parser
 * @returns {{ fields: MonitorFields, values: Values }} the fields, in the catalogue's order
 *   (only those set, for `env`'s raw value and `shutdownMessage`), and every option's value
 */
function construct(script, options, parser) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw typeError('options', 'an object', options);
  }
  if (Array.isArray(script)) {
    if (script.length === 0) throw rangeError('script', 'a path or a non-empty argv array', script);
    checkStrings('script', script);
    checkString('script[0]', script[0]);
  } else {
    checkString('script', script);
  }
  const source = /** @type {Record<string, unknown>} */ (options);
  const values = fold(API, (option) => source[option.name], { parser, start: false });
  rules(values, source);

  // The script is the first argument of the command, or the argv itself.
  values.args = values.args.slice();
  if (Array.isArray(script)) {
    values.command = script[0];
    values.args = script.slice(1);
  } else {
    values.args.unshift(script);
  }
  if (values.sourceDir) values.args[0] = path.join(values.sourceDir, values.args[0]);

  /** @type {Record<string, unknown>} */
  const fields = {};
  for (const option of API) {
    const field = fieldOf(option);
    if (field === false) continue;
    // Left unset unless given, as forever-monitor leaves them.
    if (option.name === 'shutdownMessage' && values.shutdownMessage === undefined) continue;
    fields[field] = values[option.name];
  }
  return { fields: /** @type {MonitorFields} */ (/** @type {unknown} */ (fields)), values };
}

/**
 * The fold of each start(): the options the core gets, read again from the monitor's
 * fields (plain properties, which may have changed since the constructor), with the same
 * checks and rules. Throws as the constructor would.
 * @param {Record<string, any>} monitor
 * @param {readonly Option[]} [entries] the options wanted (all that the core gets)
 * @returns {Values}
 */
function atStart(monitor, entries = AT_START) {
  const values = fold(
    entries,
    (option) => {
      const field = fieldOf(option);
      return field === false ? undefined : monitor[field];
    },
    { parser: monitor.parser, start: true },
  );
  if (entries === AT_START) rules(values, monitor);
  return values;
}

/**
 * Where watching happens: the `watchDirectory` option, by default `sourceDir`, else the
 * script's directory; absolute.
 * @typedef {{ watchDirectory?: string | string[], cwd: string, args: string[] }} WatchPlace
 * @param {WatchPlace} values
 * @returns {string[]}
 */
function watchDirs(values) {
  let dirs = values.watchDirectory;
  if (!dirs) dirs = path.dirname(path.resolve(values.cwd, values.args[0] || '.'));
  return (Array.isArray(dirs) ? dirs : [dirs]).map((d) => path.resolve(d));
}

/**
 * The fields of the core's shapes that `values` make, for the groups wanted.
 * @param {readonly Option[]} entries
 * @param {Values} values
 * @param {StartContext} context
 * @param {Partial<Record<Target['group'], boolean>>} wanted
 * @returns {Record<Target['group'], Record<string, unknown>>}
 */
function targets(entries, values, context, wanted) {
  /** @type {Record<Target['group'], Record<string, unknown>>} */
  const groups = { run: {}, health: {}, watch: {}, logs: {}, env: {} };
  for (const option of entries) {
    if (!Array.isArray(option.core)) continue;
    for (const target of option.core) {
      if (!wanted[target.group]) continue;
      const value = values[option.name];
      const core = target.to ? target.to(value, values, context) : value;
      if (core !== undefined) groups[target.group][target.field] = core;
    }
  }
  return groups;
}

/**
 * What the core runs a child with (`NativeRunOptions`), complete, from a start's values;
 * and the variables the child's environment gets for the child helper.
 * @param {Values} values
 * @param {StartContext} context
 * @returns {{ run: NativeRunOptions, env: Record<string, string> }}
 */
function runOptions(values, context) {
  // Health is sent when one of its options is on, watch with `watch`.
  const healthy =
    values.waitReady ||
    values.watchdog !== undefined ||
    values.maxMemory !== undefined ||
    values.shutdownMessage !== undefined;
  const groups = targets(AT_START, values, context, {
    run: true,
    health: healthy,
    watch: values.watch,
    env: healthy,
  });
  const health = healthy
    ? {
        ...groups.health,
        // The messages of the child helper, as this channel serialises them.
        ipcReady: context.ipc ? context.encode('ready', 'ready') : undefined,
        ipcHeartbeat: context.ipc ? context.encode('heartbeat', 'heartbeat') : undefined,
      }
    : undefined;
  const run = {
    ...groups.run,
    health,
    watch: values.watch ? groups.watch : undefined,
  };
  return {
    run: /** @type {NativeRunOptions} */ (/** @type {unknown} */ (run)),
    env: /** @type {Record<string, string>} */ (groups.env),
  };
}

/**
 * The log writer's settings, complete (`NativeLogOptions`), from a monitor's fields: for
 * its `outFile`/`errFile`, and for the CLI's status log.
 * @param {Record<string, any>} monitor
 * @param {{ outFile?: string, errFile?: string }} files
 * @returns {NativeLogOptions}
 */
function logOptions(monitor, files) {
  const values = atStart(monitor, LOGS);
  const groups = targets(LOGS, values, /** @type {StartContext} */ ({}), { logs: true });
  return /** @type {NativeLogOptions} */ ({
    ...groups.logs,
    outFile: files.outFile,
    errFile: files.errFile,
  });
}

module.exports = {
  CATALOGUE,
  BACKOFF_DEFAULTS,
  LOOSE_OPTION,
  MAX_SHUTDOWN_MESSAGE,
  construct,
  atStart,
  runOptions,
  logOptions,
  stdioOf,
  watchDirs,
  checkSignal,
  checkString,
  checkStrings,
  typeError,
  rangeError,
  describe,
  isSet,
  randomString,
  signals,
};
