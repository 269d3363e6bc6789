// @ts-check
'use strict';
/**
 * The checks of the option catalogue (`options.js`): each reads one option's value, throws
 * a `TypeError` or `RangeError` naming the option and the value (`code`
 * `ERR_INVALID_ARG_TYPE` / `ERR_OUT_OF_RANGE`) for what it cannot use, takes
 * forever-monitor's loose values with its meaning (warning once per option), and returns
 * the value as the monitor keeps it. Pure: no state but the warnings given.
 */

const path = require('path');

/** @typedef {import('./binding').NativeListen} NativeListen */

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
// Checks: each takes the option's name (for its errors) and a value that is set, and
// returns the value as the monitor keeps it. Every check accepts what it returns, so the
// fold at start() reads the fields it made as the user's options were read.

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
const checkBoolean = (name, value) => checkFlag(name, value);

/**
 * A flag forever-monitor had, whose default is true: true unless it is `false` itself.
 * @param {string} name
 * @param {unknown} value
 * @returns {boolean}
 */
const checkNotFalse = (name, value) => checkFlag(name, value, { notFalse: true });

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
  if (isSet(sw.detached)) sw.detached = checkFlag('spawnWith.detached', sw.detached);
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
 *   as the monitor holds it: a port (every interface), `'host:port'`, `'[v6]:port'`, or an
 *   absolute socket path.
 */

/**
 * One `listen` address: `8080`, `'127.0.0.1:8080'`, `'[::1]:8080'`, a Unix socket path
 * (with a `/`), each optionally named `'http=…'`; or `{ address, name }`.
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
      if (key !== 'address' && key !== 'name')
        throw rangeError(where, `an address or { address, name } (not "${key}")`, value);
    }
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
  const expected = 'a port, "host:port", "[ipv6]:port" or a Unix socket path (with a "/")';
  if (typeof address === 'number') {
    if (!Number.isInteger(address) || address < 0 || address > 65535)
      throw rangeError(where, 'a port from 0 to 65535', address);
    return { name, address };
  }
  if (typeof address !== 'string') throw typeError(where, expected, address);
  checkString(where, address);
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
  normalizeStdio,
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
  ROTATE_MIN,
  ROTATE_MAX,
  checkLogRotate,
  checkLogMaxAge,
};
