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
 * Adding an option takes four places, as `listenMode` took them (listenBacklog's default
 * moved here from the core the same way):
 * 1. Here, an entry in CATALOGUE, in its section (the order is the order of the checks and
 *    of `--help`): `name`, `check` (one of the checks below, or a new one), `default`,
 *    `core` (the group and field of `binding.d.ts`'s shape it becomes, tsc-checked, and
 *    `to` when the core wants another form: whole milliseconds, a signal's number), `cli`
 *    (kind, help). A rule that ties it to another option goes in `rules()`, and only there
 *    (listenMode's: it needs a socket path). The flag, the config key, `--help` and the
 *    check at each start() come with the entry.
 * 2. The core's use of it: its field in src/binding/types.rs (no default there: the value
 *    arrives complete), and the code that uses it (listenMode's: src/listen.rs).
 * 3. index.d.ts: its line in `MonitorOptions`, and the monitor's field; and its line in
 *    the manual: docs/api.md's options, docs/cli.md's flags (docs.test.js checks that
 *    every flag is there).
 * 4. A test through the public API (`__test__/`; listenMode's is in listen.test.js).
 */

const path = require('path');

/** @typedef {import('./binding').NativeRunOptions} NativeRunOptions */
/** @typedef {import('./binding').NativeHealthOptions} NativeHealthOptions */
/** @typedef {import('./binding').NativeWatchOptions} NativeWatchOptions */
/** @typedef {import('./binding').NativeLogOptions} NativeLogOptions */
/** @typedef {import('./binding').NativeListen} NativeListen */

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
 * @property {string} [key] the app option it sets, for a CLI option the Monitor does not take
 *   (a Group's `instances`)
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
 * forever-monitor reads these options as `options.x || default`: a falsy value (`false`,
 * `0`, `''`, `null`) is the default there, so it is here too. (`NaN` is still refused, as
 * a value forever-monitor would misuse elsewhere.)
 * @param {unknown} v
 */
const givenOr = (v) => isSet(v) && v !== false && v !== 0 && v !== '';
/**
 * forever-monitor keeps these as given and tests them for truth later (`if (this.outFile)`),
 * or reads them with `||` where `''` and `NaN` are refused here as documented (a command,
 * a path, a number): `false` is unset there, so it is here too.
 * @param {unknown} v
 */
const givenNotFalse = (v) => v !== undefined && v !== null && v !== false;

/**
 * Every option, in the order they are checked and shown by `--help`.
 * @type {readonly Option[]}
 */
const CATALOGUE = Object.freeze([
  // Restarts.
  {
    name: 'max',
    given: givenNotFalse,
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
    cli: {
      short: 'm',
      kind: 'runs',
      // 0 as a config file's max: 0, which forever-monitor runs once (times >= max).
      min: 0,
      arg: 'N',
      help: 'Only run the script N times in total (0 runs it once, as forever-monitor reads max 0)',
    },
  },
  {
    name: 'minUptime',
    given: givenNotFalse,
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
    given: givenNotFalse,
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
    given: givenOr,
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
    given: givenOr,
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
    given: givenOr,
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
    // Any value, null included: whether the channel can send it depends on serialization
    // (see rules()).
    given: (v) => v !== undefined,
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
      help: 'Hold a listening socket for the child (repeatable): 8080, 127.0.0.1:8080, [::1]:8080, a socket path, fd:N (inherited), name=ADDR; it gets fds 3, 4, ... with LISTEN_FDS',
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
      {
        // For the child: a listen() of an inherited socket sets its backlog again (Node's
        // 511 when none is given), for every process that shares it. The child helper's
        // listenBacklog() and the interceptListen hook pass this one.
        group: 'env',
        field: 'FOREVER_LISTEN_BACKLOG',
        to: (/** @type {number | undefined} */ n, values) =>
          values.listen.length > 0 ? String(n === undefined ? LISTEN_BACKLOG : n) : undefined,
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
    name: 'interceptListen',
    check: checkStrictFlag,
    default: false,
    core: [
      {
        // For the hook (listen-hook.js, which index.js preloads): each inherited socket's
        // TCP port and address, in LISTEN_FDS order: `port/host` (host empty: every
        // interface; port 0: not one given in advance).
        group: 'env',
        field: 'FOREVER_LISTEN_PORTS',
        to: (on, values) =>
          on
            ? values.listen
                .map((/** @type {ListenEntry} */ l) => {
                  const native = nativeListen(l);
                  return `${native.port || 0}/${native.host || ''}`;
                })
                .join(',')
            : undefined,
      },
    ],
    cli: {
      kind: 'bool',
      help: "A node child's own server.listen(PORT) of a --listen port takes the held socket instead of binding, as under PM2's cluster mode (apps that bind their port themselves run as instances unchanged)",
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
  // A Group's (group.js checks them): the CLI runs an app with any of them as instances.
  {
    name: 'instances',
    api: false,
    cli: {
      kind: 'instances',
      short: 'i',
      key: 'instances',
      arg: 'N',
      help: "Run N instances of the script (max: one per CPU; -1: one fewer), each supervised on its own, sharing the --listen sockets; SIGHUP's reload rolls through them",
    },
  },
  { name: 'reloadBatch', api: false },
  { name: 'listenReusePort', api: false },
  { name: 'instanceVar', api: false },

  // What runs, and where.
  {
    name: 'command',
    given: givenNotFalse,
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
    given: givenNotFalse,
    check: checkStrings,
    default: (/** @type {Values} */ values) =>
      isSet(values.options) ? checkStrings('options', values.options) : [],
    core: 'js',
  },
  {
    name: 'parser',
    given: givenOr,
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
    given: givenNotFalse,
    check: checkString,
    cli: { kind: 'path', arg: 'DIR', help: 'Directory the script path is relative to' },
  },
  {
    name: 'cwd',
    given: givenNotFalse,
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
  {
    name: 'env',
    given: givenNotFalse,
    check: checkEnv,
    default: () => ({}),
    field: '_env',
    core: 'js',
  },
  { name: 'hideEnv', given: givenOr, check: checkStrings, default: () => [], core: 'js' },

  // Output and logs.
  {
    name: 'silent',
    given: givenOr,
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
    given: givenNotFalse,
    check: checkString,
    core: 'js',
    cli: { short: 'o', kind: 'path', arg: 'FILE', help: "Write the child's stdout to FILE" },
  },
  {
    name: 'errFile',
    given: givenNotFalse,
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
    given: givenNotFalse,
    check: checkString,
    cli: { short: 'l', kind: 'path', arg: 'FILE', help: 'Also write the status lines to FILE' },
  },
  {
    name: 'append',
    given: givenNotFalse,
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
    given: givenNotFalse,
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
    given: givenNotFalse,
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
    given: givenOr,
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
    given: givenNotFalse,
    check: checkBoolean,
    core: [{ group: 'watch', field: 'usePolling', to: (polling) => polling === true }],
  },
  {
    name: 'pollingInterval',
    given: givenNotFalse,
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
    given: givenOr,
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
    given: givenNotFalse,
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
    given: givenOr,
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
    given: givenOr,
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
  {
    // The CLI's, for its whole process (bin/cli.js checks it in a config): any app with it
    // turns the core's orphan reaper on.
    name: 'reap',
    api: false,
    cli: {
      kind: 'bool',
      help: 'Reap orphaned processes as an init would (a child subreaper); on by itself as pid 1',
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
  if (values.interceptListen && values.listen.length === 0)
    throw rangeError('interceptListen', 'used with "listen"', source.interceptListen);
  if (values.readyTimeout !== undefined && !values.waitReady)
    throw rangeError('readyTimeout', 'used with "waitReady: true"', source.readyTimeout);
  if (values.shutdownMessage !== undefined)
    checkShutdownMessage(values.shutdownMessage, values.serialization);
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

/** @type {((target: object, fields: object) => void) | null} */
let setFields = null;
/**
 * Copies `fields` (from {@link construct}) onto a new monitor, as named stores in the
 * catalogue's order. Stores by computed key in a loop would put every monitor's ~70
 * properties in V8's dictionary mode (more than a dozen keyed additions make an object
 * a hash table): twice the memory per monitor and slower reads on every path. So the
 * stores are compiled once, from the catalogue's own field names, into one function whose
 * `target["name"] = …` are named stores (a constant key is a name to V8).
 * @param {object} target
 * @param {object} fields
 */
function assignFields(target, fields) {
  if (setFields === null) {
    const body = API.map(fieldOf)
      .filter((field) => field !== false)
      .map((field) => {
        const key = JSON.stringify(field);
        return `if (${key} in f) t[${key}] = f[${key}];`;
      })
      .join('\n');
    try {
      setFields = /** @type {(target: object, fields: object) => void} */ (
        new Function('t', 'f', body)
      );
    } catch {
      // Code generation is off (node --disallow-code-generation-from-strings): keyed
      // stores, slower to read but the same fields.
      setFields = (t, f) => Object.assign(t, f);
    }
  }
  setFields(target, fields);
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
    env: true,
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

// ---------------------------------------------------------------------------------------
// The signal table

let signalTable = /** @type {Record<string, number> | null} */ (null);
/** Node's signal names and numbers: the one signal table of the package. */
function signals() {
  if (signalTable === null)
    signalTable = /** @type {Record<string, number>} */ (
      /** @type {unknown} */ (require('os').constants.signals)
    );
  return signalTable;
}

// ---------------------------------------------------------------------------------------
// Errors and warnings

/** @param {unknown} value */
function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/**
 * @param {string} name
 * @param {string} expected
 * @param {unknown} value
 */
function typeError(name, expected, value) {
  const err = /** @type {TypeError & { code: string }} */ (
    new TypeError(`The "${name}" option must be ${expected}. Received ${describe(value)}`)
  );
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/**
 * @param {string} name
 * @param {string} expected
 * @param {unknown} value
 */
function rangeError(name, expected, value) {
  const err = /** @type {RangeError & { code: string }} */ (
    new RangeError(`The "${name}" option must be ${expected}. Received ${describe(value)}`)
  );
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/**
 * @param {unknown} value
 * @returns {boolean}
 */
const isSet = (value) => value !== undefined && value !== null;

/** Options a loose value was taken for already, in this process (warned once each). */
const warned = new Set();

/** The warning's `code`: this package's own. */
const LOOSE_OPTION = 'FOREVER_NATIVE_LOOSE_OPTION';
/** The warning code for a spawnWith field that is not used here. */
const UNSUPPORTED_OPTION = 'FOREVER_NATIVE_UNSUPPORTED_OPTION';

/**
 * Tells once per option that a value forever-monitor passed on to `child_process.spawn`
 * is not used here, and what to use instead.
 * @param {string} name
 * @param {unknown} value
 * @param {string} instead
 */
function unsupported(name, value, instead) {
  if (!warned.has(name)) {
    warned.add(name);
    process.emitWarning(
      `The "${name}" option (${describe(value)}) is not used by forever-native; use ${instead}`,
      { code: UNSUPPORTED_OPTION },
    );
  }
}

/**
 * forever-monitor reads its options by JavaScript's rules, so code in the wild passes
 * `max: '2'` or `silent: 'true'` and it works there. Such a value is taken with
 * forever-monitor's meaning, and the user is told once per option, so the code can be
 * fixed without breaking.
 * @template T
 * @param {string} name
 * @param {unknown} value
 * @param {string} expected
 * @param {T} taken
 * @returns {T}
 */
function loose(name, value, expected, taken) {
  if (!warned.has(name)) {
    warned.add(name);
    process.emitWarning(
      `The "${name}" option should be ${expected}. Received ${describe(value)}, taken as ${describe(taken)} (as forever-monitor would)`,
      { code: LOOSE_OPTION },
    );
  }
  return taken;
}

// ---------------------------------------------------------------------------------------
// The checks: each takes the option's name (for its errors) and a value that is set, takes
// forever-monitor's loose values with its meaning (warning once per option), and returns
// the value as the monitor keeps it. Every check accepts what it returns, so the fold at
// start() reads the fields it made as the user's options were read. (Function
// declarations: the catalogue above refers to them as it is built.)

/**
 * @param {string} name
 * @param {unknown} value
 * @param {{ empty?: boolean }} [rules]
 * @returns {string}
 */
function checkString(name, value, { empty = false } = {}) {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
  if (!empty && value.length === 0) throw rangeError(name, 'a non-empty string', value);
  if (value.includes('\u0000')) throw rangeError(name, 'a string without null bytes', value);
  return value;
}

/**
 * A flag: a boolean, or any value taken by its truthiness (forever-monitor's `if (x)`),
 * or, with `notFalse`, as true unless it is `false` itself (forever-monitor's
 * `x !== false`, for the flags that default to true).
 * @param {string} name
 * @param {unknown} value
 * @param {{ notFalse?: boolean }} [rules]
 * @returns {boolean}
 */
function checkFlag(name, value, { notFalse = false } = {}) {
  if (typeof value === 'boolean') return value;
  return loose(name, value, 'a boolean', notFalse ? value !== false : Boolean(value));
}

/**
 * A flag forever-monitor had, whose default is false: any value by its truthiness.
 * @param {string} name
 * @param {unknown} value
 * @returns {boolean}
 */
function checkBoolean(name, value) {
  return checkFlag(name, value);
}

/**
 * A flag forever-monitor had, whose default is true: true unless it is `false` itself.
 * @param {string} name
 * @param {unknown} value
 * @returns {boolean}
 */
function checkNotFalse(name, value) {
  return checkFlag(name, value, { notFalse: true });
}

/**
 * A strict flag (the options forever-monitor never had take no loose values).
 * @param {string} name
 * @param {unknown} value
 * @returns {boolean}
 */
function checkStrictFlag(name, value) {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/** A whole or decimal number, written out (what `Number()` reads without surprises). */
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A number, or a string that is one (taken as that number, with a warning). Anything
 * else, the empty string and `'abc'` included, is refused: forever-monitor would have
 * misused it without a word.
 * @param {string} name
 * @param {unknown} value
 * @param {string} expected
 * @returns {number}
 */
function checkNumber(name, value, expected) {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && NUMERIC.test(value.trim())) {
    return loose(name, value, expected, Number(value.trim()));
  }
  throw typeError(name, expected, value);
}

/**
 * A number of milliseconds forever-monitor had: finite and >= 0, loose.
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkMillis(name, value) {
  const ms = checkNumber(name, value, 'a number of milliseconds');
  if (!Number.isFinite(ms) || ms < 0) {
    throw rangeError(name, 'a finite number >= 0', value);
  }
  return ms;
}

/**
 * A finite number of at least `min` (above it, with `above`), strictly; the range error
 * states the range, so that a value refused never gets a message that another refused
 * value satisfies.
 * @param {string} name
 * @param {unknown} value
 * @param {string} expected what the type error says it must be
 * @param {number} min
 * @param {{ above?: boolean, bound?: string }} [rules] `bound`: how to name `min`
 * @returns {number}
 */
function checkStrictNumber(
  name,
  value,
  expected,
  min,
  { above = false, bound = String(min) } = {},
) {
  if (typeof value !== 'number') throw typeError(name, expected, value);
  if (!Number.isFinite(value) || (above ? value <= min : value < min)) {
    throw rangeError(name, `a finite number ${above ? '>' : '>='} ${bound}`, value);
  }
  return value;
}

/**
 * A number of milliseconds, strictly (the options forever-monitor never had take no
 * strings).
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkStrictMillis(name, value) {
  return checkStrictNumber(name, value, 'a number of milliseconds', 0);
}

/**
 * A duration that must be positive.
 * @param {string} name
 * @param {unknown} value
 */
function checkPositiveMillis(name, value) {
  return checkStrictNumber(name, value, 'a number of milliseconds', 0, { above: true });
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkId(name, value) {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw typeError(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff)
    throw rangeError(name, 'an integer from 0 to 4294967295', value);
  return value;
}

/**
 * A signal name (`'SIGTERM'`) or number, as its number.
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkSignal(name, value) {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && Object.values(signals()).includes(value)) return value;
    throw rangeError(name, 'a signal name or number', value);
  }
  if (typeof value !== 'string') throw typeError(name, 'a signal name such as "SIGTERM"', value);
  const number = Object.prototype.hasOwnProperty.call(signals(), value)
    ? signals()[value]
    : undefined;
  if (number === undefined) throw rangeError(name, 'a signal name such as "SIGTERM"', value);
  return number;
}

/**
 * @param {string} name
 * @param {unknown} value
 * @returns {string[]}
 */
function checkStrings(name, value) {
  if (!Array.isArray(value)) throw typeError(name, 'an array of strings', value);
  return value.map((item, i) => {
    if (typeof item === 'number' || typeof item === 'boolean') return String(item);
    return checkString(`${name}[${i}]`, item, { empty: true });
  });
}

/**
 * An environment object, with numbers and booleans made strings (as Node does).
 * @param {string} name
 * @param {unknown} value
 * @returns {Record<string, string>}
 */
function checkEnv(name, value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(name, 'an object of strings', value);
  }
  /** @type {Record<string, string>} */
  const env = {};
  const source = /** @type {Record<string, unknown>} */ (value);
  for (const key of Object.keys(source)) {
    const v = source[key];
    if (v === undefined) continue;
    if (key.includes('\u0000') || key.includes('=') || key === '') {
      throw rangeError(
        `${name}`,
        'an object whose keys are non-empty and hold no "=" or null byte',
        key,
      );
    }
    if (
      typeof v === 'string' ||
      typeof v === 'number' ||
      typeof v === 'boolean' ||
      typeof v === 'bigint'
    ) {
      const s = String(v);
      if (s.includes('\u0000'))
        throw rangeError(`${name}.${key}`, 'a string without null bytes', v);
      env[key] = s;
    } else {
      throw typeError(`${name}.${key}`, 'a string', v);
    }
  }
  return env;
}

const STDIO_WORDS = new Set(['pipe', 'inherit', 'ignore', 'overlapped']);

/**
 * Normalises Node's `stdio` forms to the three standard entries the core connects, plus the
 * fd number of the IPC channel (`'ipc'`), if any.
 * @param {string} name
 * @param {unknown} value
 * @returns {{ stdio: Array<'pipe' | 'inherit' | 'ignore' | number>, ipc: number | undefined }}
 */
function normalizeStdio(name, value) {
  /** @param {string} word @returns {'pipe' | 'inherit' | 'ignore'} */
  const connect = (word) =>
    word === 'overlapped' ? 'pipe' : /** @type {'pipe' | 'inherit' | 'ignore'} */ (word);
  if (typeof value === 'string') {
    if (!STDIO_WORDS.has(value)) {
      throw rangeError(name, '"pipe", "inherit", "ignore" or an array', value);
    }
    return { stdio: [connect(value), connect(value), connect(value)], ipc: undefined };
  }
  if (!Array.isArray(value)) throw typeError(name, 'a string or an array', value);
  /** @type {Array<'pipe' | 'inherit' | 'ignore' | number>} */
  const stdio = ['pipe', 'pipe', 'pipe'];
  /** @type {number | undefined} */
  let ipc;
  value.forEach((entry, i) => {
    const where = `${name}[${i}]`;
    if (entry === 'ipc') {
      if (ipc !== undefined)
        throw rangeError(where, 'unique: only one "ipc" entry is allowed', entry);
      ipc = i;
      if (i < 3) stdio[i] = 'ignore';
      return;
    }
    if (!isSet(entry)) return;
    if (i > 2) {
      if (entry === 'ignore') return;
      throw rangeError(
        where,
        'undefined, null, "ignore" or "ipc" (only stdin, stdout and stderr are connected)',
        entry,
      );
    }
    if (typeof entry === 'string' && STDIO_WORDS.has(entry)) stdio[i] = connect(entry);
    else if (Number.isInteger(entry) && entry >= 0) stdio[i] = entry;
    else throw typeError(where, '"pipe", "inherit", "ignore", "ipc" or a file descriptor', entry);
  });
  return { stdio, ipc };
}

/**
 * The child's standard streams as the spawn connects them, from the options that decide
 * them: `stdio`, else `fork`'s (with the channel), else `spawnWith.stdio`, else pipes.
 * @param {{ stdio: unknown, fork: boolean, spawnWith: Record<string, unknown> }} values
 */
function stdioOf(values) {
  if (values.stdio !== null) return normalizeStdio('stdio', values.stdio);
  if (values.fork) return normalizeStdio('stdio', ['pipe', 'pipe', 'pipe', 'ipc']);
  const sw = values.spawnWith;
  return normalizeStdio('spawnWith.stdio', isSet(sw.stdio) ? sw.stdio : 'pipe');
}

/**
 * `serialization` (also `spawnWith.serialization`, which forever-monitor handed to
 * `child_process.spawn`).
 * @param {string} name
 * @param {unknown} value
 * @returns {'json' | 'advanced'}
 */
function checkSerialization(name, value) {
  if (value !== 'json' && value !== 'advanced')
    throw rangeError(name, '"json" or "advanced"', value);
  return value;
}

/**
 * `spawnWith`: the object forever-monitor passed to `spawn` as it is; its fields are
 * checked, and it stays the caller's object (the monitor fills in `cwd` and `env`).
 * @param {string} name
 * @param {unknown} value
 * @param {{ env?: boolean }} [rules] `env: false`: its `env` is the monitor's (filled in
 *   at each start from the host's and the `env` option), not checked
 * @returns {Record<string, unknown>}
 */
function checkSpawnWith(name, value, { env = true } = {}) {
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(name, 'an object', value);
  const sw = /** @type {Record<string, unknown>} */ (value);
  if (isSet(sw.cwd)) checkString('spawnWith.cwd', sw.cwd);
  if (env && isSet(sw.env)) checkEnv('spawnWith.env', sw.env);
  if (isSet(sw.uid)) checkId('spawnWith.uid', sw.uid);
  if (isSet(sw.gid)) checkId('spawnWith.gid', sw.gid);
  // Node's spawn reads `detached` by its truthiness, as it does here.
  if (isSet(sw.detached)) {
    const detached = checkFlag('spawnWith.detached', sw.detached);
    // Kept on the user's object as forever-monitor's spawn read it; a frozen one keeps its
    // own value (read by truthiness alike).
    if (detached !== sw.detached && Object.isExtensible(sw) && !Object.isFrozen(sw)) {
      sw.detached = detached;
    }
  }
  if (isSet(sw.argv0)) checkString('spawnWith.argv0', sw.argv0);
  if (isSet(sw.shell) && typeof sw.shell !== 'boolean') checkString('spawnWith.shell', sw.shell);
  if (isSet(sw.stdio)) normalizeStdio('spawnWith.stdio', sw.stdio);
  if (isSet(sw.serialization)) checkSerialization('spawnWith.serialization', sw.serialization);
  for (const key of ['timeout', 'killSignal', 'signal']) {
    if (isSet(sw[key]))
      unsupported(
        `spawnWith.${key}`,
        sw[key],
        key === 'signal'
          ? 'the "signal" option'
          : key === 'killSignal'
            ? 'the "killSignal" option'
            : 'a restart policy (restartWindow, maxMemory) or your own timer',
      );
  }
  return sw;
}

/**
 * forever-monitor's random ids: base64 characters.
 * @param {number} length
 * @returns {string}
 */
function randomString(length) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  let out = '';
  for (let i = 0; i < length; i++) out += chars[Math.floor(Math.random() * 64)];
  return out;
}

/**
 * @typedef {{ initial: number, factor: number, max: number, jitter: number, resetAfter: number }} Backoff
 */

/**
 * `backoff`: `true` for `defaults`, or an object of some of them (the rest: `defaults`);
 * false for none.
 * @param {string} name
 * @param {unknown} value
 * @param {Readonly<Backoff>} defaults
 * @returns {Backoff | undefined}
 */
function checkBackoff(name, value, defaults) {
  if (value === false) return undefined;
  if (value === true) return { ...defaults };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(
      name,
      'true, false or an object of { initial, factor, max, jitter, resetAfter }',
      value,
    );
  }
  const given = /** @type {Record<string, unknown>} */ (value);
  for (const key of Object.keys(given)) {
    if (!(key in defaults)) {
      throw rangeError(
        name,
        `an object of { initial, factor, max, jitter, resetAfter } (not "${key}")`,
        value,
      );
    }
  }
  /**
   * @param {'initial' | 'factor' | 'max' | 'jitter' | 'resetAfter'} key
   * @param {(name: string, value: unknown) => number} check
   */
  const field = (key, check) =>
    isSet(given[key]) ? check(`backoff.${key}`, given[key]) : defaults[key];
  const initial = field('initial', checkStrictMillis);
  const factor = field('factor', (n, v) => checkStrictNumber(n, v, 'a number', 1));
  const jitter = field('jitter', (n, v) => {
    if (typeof v !== 'number') throw typeError(n, 'a fraction from 0 to 1', v);
    if (!(v >= 0 && v <= 1)) throw rangeError(n, 'a fraction from 0 to 1', v);
    return v;
  });
  const max = field('max', (n, v) =>
    checkStrictNumber(n, v, 'a number of milliseconds', initial, {
      bound: `backoff.initial (${initial})`,
    }),
  );
  if (max < initial)
    throw rangeError('backoff.max', `a finite number >= backoff.initial (${initial})`, max);
  const resetAfter = field('resetAfter', checkStrictMillis);
  return { initial, factor, max, jitter, resetAfter };
}

/**
 * `autorestart`: one of three words, or PM2's boolean (`true`: always, `false`: never).
 * @param {string} name
 * @param {unknown} value
 * @returns {'always' | 'on-failure' | 'never'}
 */
function checkAutorestart(name, value) {
  if (value === true) return 'always';
  if (value === false) return 'never';
  if (value === 'always' || value === 'on-failure' || value === 'never') return value;
  if (typeof value !== 'string')
    throw typeError(name, '"always", "on-failure", "never" or a boolean', value);
  throw rangeError(name, '"always", "on-failure" or "never"', value);
}

/**
 * `stopExitCodes`: exit codes (0 to 255) that end supervision; one code, or an array.
 * @param {string} name
 * @param {unknown} value
 * @returns {number[]}
 */
function checkExitCodes(name, value) {
  const list = Array.isArray(value) ? value : [value];
  return list.map((code, i) => {
    const where = Array.isArray(value) ? `${name}[${i}]` : name;
    if (typeof code !== 'number') throw typeError(where, 'an exit code (a number)', code);
    if (!Number.isInteger(code) || code < 0 || code > 255)
      throw rangeError(where, 'an exit code from 0 to 255', code);
    return code;
  });
}

/** The most restarts a `restartWindow` may allow (the core keeps a time for each). */
const MAX_WINDOW_COUNT = 10000;

/**
 * `restartWindow`: give up past `count` restarts within `window` ms.
 * @param {string} name
 * @param {unknown} value
 * @returns {{ count: number, window: number }}
 */
function checkRestartWindow(name, value) {
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(name, 'an object of { count, window }', value);
  }
  const w = /** @type {Record<string, unknown>} */ (value);
  for (const key of Object.keys(w)) {
    if (key !== 'count' && key !== 'window')
      throw rangeError(name, `an object of { count, window } (not "${key}")`, value);
  }
  if (typeof w.count !== 'number')
    throw typeError(`${name}.count`, 'a number of restarts', w.count);
  if (!Number.isInteger(w.count) || w.count < 0 || w.count > MAX_WINDOW_COUNT) {
    throw rangeError(`${name}.count`, `a whole number from 0 to ${MAX_WINDOW_COUNT}`, w.count);
  }
  const window = checkPositiveMillis(`${name}.window`, w.window);
  return { count: w.count, window };
}

const SIZE_UNITS = /** @type {Record<string, number>} */ ({
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
});

/**
 * `maxMemory`: bytes, or a size such as `'512M'`, `'1.5G'`, `'300MB'` (powers of 1024).
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkMemory(name, value) {
  let bytes;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined)
      throw rangeError(name, 'a number of bytes or a size such as "512M" or "1G"', value);
    bytes = Math.round(Number(m[1]) * unit);
  } else {
    throw typeError(name, 'a number of bytes or a size such as "512M"', value);
  }
  if (!Number.isFinite(bytes) || bytes < 1024 * 1024) {
    throw rangeError(name, 'a finite size of at least 1 MiB (1048576 bytes)', value);
  }
  return bytes;
}

/**
 * `signal`: an AbortSignal that stops the monitor.
 * @param {string} name
 * @param {unknown} value
 * @returns {AbortSignal}
 */
function checkAbortSignal(name, value) {
  const s = /** @type {any} */ (value);
  if (
    !s ||
    typeof s !== 'object' ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function'
  ) {
    throw typeError(name, 'an AbortSignal', value);
  }
  return s;
}

/**
 * The largest `shutdownMessage`, serialized (bytes). Besides the channel, it reaches the
 * child helper in an environment variable (`FOREVER_NATIVE_SHUTDOWN_MESSAGE`, as JSON), and
 * Linux refuses a spawn (E2BIG) whose single variable passes 128 KiB.
 */
const MAX_SHUTDOWN_MESSAGE = 64 * 1024;

/**
 * `shutdownMessage`: a message the channel can serialize (`JSON.stringify` gives a string,
 * or, with `serialization: 'advanced'`, V8's serializer takes it), at most
 * {@link MAX_SHUTDOWN_MESSAGE} bytes serialized either way.
 * @param {unknown} value
 * @param {unknown} serialization the monitor's (`'advanced'`, else JSON)
 * @returns {string | undefined} its JSON, for the child helper's variable (undefined when
 *   JSON cannot represent it, with `serialization: 'advanced'`)
 */
function checkShutdownMessage(value, serialization) {
  const advanced = serialization === 'advanced';
  /** @param {unknown} cause */
  const why = (cause) => String(cause instanceof Error ? cause.message : cause).split('\n')[0];
  /** @type {string | undefined} */
  let text;
  let jsonFailure = 'JSON.stringify gives undefined';
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    jsonFailure = why(cause);
  }
  /** @param {string} expected @param {string} reason */
  const unserializable = (expected, reason) => {
    const err = /** @type {TypeError & { code: string }} */ (
      new TypeError(
        `The "shutdownMessage" option must be ${expected}. Received ${describe(value)} (${reason})`,
      )
    );
    err.code = 'ERR_INVALID_ARG_TYPE';
    return err;
  };
  let size;
  if (advanced) {
    try {
      size = require('v8').serialize(value).length;
    } catch (cause) {
      throw unserializable(
        'serializable by V8\'s serializer (serialization: "advanced")',
        why(cause),
      );
    }
  } else if (typeof text !== 'string') {
    throw unserializable('serializable as JSON (serialization: "json")', jsonFailure);
  }
  if (typeof text !== 'string') text = undefined;
  const bytes = Math.max(size || 0, text === undefined ? 0 : Buffer.byteLength(text));
  if (bytes > MAX_SHUTDOWN_MESSAGE) {
    const err = /** @type {RangeError & { code: string }} */ (
      new RangeError(
        `The "shutdownMessage" option must be at most ${MAX_SHUTDOWN_MESSAGE} bytes (64 KiB) serialized: it is also given to the child in an environment variable. Received a message of ${bytes} bytes`,
      )
    );
    err.code = 'ERR_OUT_OF_RANGE';
    throw err;
  }
  return text;
}

/** A descriptor name, as `LISTEN_FDNAMES` carries it (no `:`, its separator). */
const LISTEN_NAME = /^[A-Za-z0-9_.@-]{1,255}$/;
/** The longest Unix socket path (`sun_path` less its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * @typedef {{ name: string, address: string | number }} ListenEntry One `listen` address,
 *   as the monitor holds it: a port (every interface), `'host:port'`, `'[v6]:port'`, an
 *   absolute socket path, or `'fd:N'` (an inherited listening socket).
 */

/**
 * One `listen` address: `8080`, `'127.0.0.1:8080'`, `'[::1]:8080'`, a Unix socket path
 * (with a `/`), `'fd:3'` (a listening socket this process inherited, as systemd passes
 * them), each optionally named `'http=…'`; or `{ address, name }`, `{ fd, name }`.
 * @param {string} where the option's name, for errors (`listen[1]`)
 * @param {unknown} value
 * @param {number} index its position (the default name is `listen<index>`)
 * @returns {ListenEntry}
 */
function checkListenEntry(where, value, index) {
  let name = `listen${index}`;
  /** @type {unknown} */
  let address = value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const given = /** @type {Record<string, unknown>} */ (value);
    for (const key of Object.keys(given)) {
      if (key !== 'address' && key !== 'name' && key !== 'fd')
        throw rangeError(
          where,
          `an address, { address, name } or { fd, name } (not "${key}")`,
          value,
        );
    }
    if (isSet(given.fd) && isSet(given.address))
      throw rangeError(where, 'either an address or an fd, not both', value);
    if (isSet(given.name)) {
      if (typeof given.name !== 'string') throw typeError(`${where}.name`, 'a string', given.name);
      if (!LISTEN_NAME.test(given.name))
        throw rangeError(
          `${where}.name`,
          'a name of letters, digits, "_", ".", "@" or "-" (at most 255)',
          given.name,
        );
      name = given.name;
    }
    if (isSet(given.fd)) return { name, address: `fd:${checkListenFd(`${where}.fd`, given.fd)}` };
    address = given.address;
    where = `${where}.address`;
  } else if (typeof value === 'string') {
    const named = /^([^=/]+)=(.*)$/s.exec(value);
    if (named) {
      if (!LISTEN_NAME.test(named[1]))
        throw rangeError(
          where,
          'an address, optionally named as "name=address" with a name of letters, digits, "_", ".", "@" or "-"',
          value,
        );
      name = named[1];
      address = named[2];
    }
  }
  const expected =
    'a port, "host:port", "[ipv6]:port" or a Unix socket path (with a "/"), or "fd:N"';
  if (typeof address === 'number') {
    if (!Number.isInteger(address) || address < 0 || address > 65535)
      throw rangeError(where, 'a port from 0 to 65535', address);
    return { name, address };
  }
  if (typeof address !== 'string') throw typeError(where, expected, address);
  checkString(where, address);
  const inherited = /^fd:(.*)$/s.exec(address);
  if (inherited) {
    const fd = /^\d+$/.test(inherited[1]) ? Number(inherited[1]) : inherited[1];
    if (typeof fd !== 'number') throw rangeError(where, '"fd:" and a descriptor number', address);
    return { name, address: `fd:${checkListenFd(where, fd)}` };
  }
  if (/^\d+$/.test(address)) {
    const port = Number(address);
    if (port > 65535) throw rangeError(where, 'a port from 0 to 65535', address);
    return { name, address: port };
  }
  if (address.includes('/')) {
    const full = path.resolve(address);
    if (Buffer.byteLength(full) > MAX_SOCKET_PATH) {
      throw rangeError(where, `a Unix socket path of at most ${MAX_SOCKET_PATH} bytes`, address);
    }
    return { name, address: full };
  }
  const net = require('net');
  const tcp = /^\[([^\]]+)\]:(\d+)$/.exec(address) || /^([^:[\]]+):(\d+)$/.exec(address);
  if (!tcp) throw rangeError(where, expected, address);
  const [, host, digits] = tcp;
  const port = Number(digits);
  if (port > 65535) throw rangeError(where, 'an address whose port is from 0 to 65535', address);
  const v6 = address.startsWith('[');
  if (v6 ? !net.isIPv6(host) : !net.isIPv4(host)) {
    throw rangeError(
      where,
      `an address with an IP${v6 ? 'v6' : 'v4'} address (names are not resolved: use 127.0.0.1 or [::1])`,
      address,
    );
  }
  return { name, address: v6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/**
 * The descriptor of an inherited listening socket (`{ fd }`, `'fd:3'`): a whole number the
 * kernel can hold. Whether a socket listens there is the core's check, at `start()`.
 * @param {string} where
 * @param {unknown} fd
 * @returns {number}
 */
function checkListenFd(where, fd) {
  if (typeof fd !== 'number') throw typeError(where, 'a file descriptor number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 2147483647)
    throw rangeError(where, 'a file descriptor from 0 to 2147483647', fd);
  return fd;
}

/**
 * `listen`: one address or an array of them (see {@link checkListenEntry}).
 * @param {string} name
 * @param {unknown} value
 * @returns {ListenEntry[]}
 */
function checkListen(name, value) {
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry, i) =>
    checkListenEntry(Array.isArray(value) ? `${name}[${i}]` : name, entry, i),
  );
}

/**
 * One `listen` entry as the core takes it: a port, an IP address and port, or a path.
 * @param {ListenEntry} entry
 * @returns {NativeListen}
 */
function nativeListen({ name, address }) {
  if (typeof address === 'number') return { name, port: address };
  if (address.startsWith('fd:')) return { name, fd: Number(address.slice(3)) };
  if (address.startsWith('/')) return { name, path: address };
  const cut = address.lastIndexOf(':');
  return {
    name,
    host: address.slice(0, cut).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(cut + 1)),
  };
}

/**
 * `listenBacklog`: the kernel's accept queue for each listening socket.
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkBacklog(name, value) {
  if (typeof value !== 'number') throw typeError(name, 'a number of connections', value);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw rangeError(name, 'a whole number from 1 to 65535', value);
  return value;
}

/** `logRotate`'s words, as the length of their periods (ms). */
const ROTATE_PERIODS = Object.freeze({ daily: 86400000, hourly: 3600000 });
/** The shortest and the longest `logRotate` interval (ms): a tenth of a second, 31 days. */
const ROTATE_MIN = 100;
const ROTATE_MAX = 31 * 86400000;
/** `logMaxAge`'s units. */
const AGE_UNITS = Object.freeze({
  ms: 1,
  s: 1000,
  m: 60000,
  h: 3600000,
  d: 86400000,
  w: 604800000,
});

/**
 * `logRotate`: `'daily'`, `'hourly'`, or an interval in ms; taken as given.
 * @param {string} name
 * @param {unknown} value
 * @returns {'daily' | 'hourly' | number}
 */
function checkLogRotate(name, value) {
  const expected = '"daily", "hourly" or a number of milliseconds';
  if (value === 'daily' || value === 'hourly') return value;
  if (typeof value === 'string') throw rangeError(name, expected, value);
  if (typeof value !== 'number') throw typeError(name, expected, value);
  if (!Number.isInteger(value) || value < ROTATE_MIN || value > ROTATE_MAX) {
    throw rangeError(
      name,
      `"daily", "hourly" or a whole number of milliseconds from ${ROTATE_MIN} to ${ROTATE_MAX} (31 days)`,
      value,
    );
  }
  return value;
}

/**
 * `logMaxAge`: a number of milliseconds, or a duration such as `'14d'`, `'12h'`, `'30m'`.
 * @param {string} name
 * @param {unknown} value
 * @returns {number} milliseconds
 */
function checkLogMaxAge(name, value) {
  const expected = 'a number of milliseconds or a duration such as "14d", "12h" or "30m"';
  let ms;
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value);
    if (!m) throw rangeError(name, expected, value);
    ms = Number(m[1]) * AGE_UNITS[/** @type {keyof typeof AGE_UNITS} */ (m[2])];
  } else if (typeof value === 'number') {
    ms = value;
  } else {
    throw typeError(name, expected, value);
  }
  if (!Number.isFinite(ms) || ms < 1 || ms > Number.MAX_SAFE_INTEGER) {
    throw rangeError(name, `a duration from 1 ms to ${Number.MAX_SAFE_INTEGER} ms`, value);
  }
  return Math.round(ms);
}

module.exports = {
  CATALOGUE,
  assignFields,
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
