// @ts-check
'use strict';
/**
 * The options of a `Monitor`: checked, normalised and completed, in plain JavaScript.
 *
 * `normalizeOptions()` is pure: it turns what a user passed into the fields
 * forever-monitor's `Monitor` has (same names, same defaults), and throws a `TypeError`
 * or `RangeError` naming the option and the value for anything it cannot use. This file
 * owns every default; the native core receives complete, typed input (see
 * `binding.d.ts`) and trusts it.
 */

const path = require('path');

/** @typedef {import('./binding').NativeSpawnSpec} NativeSpawnSpec */

let signalTable = /** @type {Record<string, number> | null} */ (null);
/** Node's signal names and numbers: the one signal table of the package. */
function signals() {
  if (signalTable === null)
    signalTable = /** @type {Record<string, number>} */ (
      /** @type {unknown} */ (require('os').constants.signals)
    );
  return signalTable;
}

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
 * @param {string} name
 * @param {unknown} value
 * @returns {boolean}
 */
function checkBoolean(name, value) {
  return checkFlag(name, value);
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
 * Checks `spawnWith`'s fields (forever-monitor passes the object to `spawn` as it is).
 * @param {Record<string, unknown>} sw
 */
function checkSpawnWith(sw) {
  if (isSet(sw.cwd)) checkString('spawnWith.cwd', sw.cwd);
  if (isSet(sw.env)) checkEnv('spawnWith.env', sw.env);
  if (isSet(sw.uid)) checkId('spawnWith.uid', sw.uid);
  if (isSet(sw.gid)) checkId('spawnWith.gid', sw.gid);
  // Node's spawn reads `detached` by its truthiness, as it does here.
  if (isSet(sw.detached)) sw.detached = checkFlag('spawnWith.detached', sw.detached);
  if (isSet(sw.argv0)) checkString('spawnWith.argv0', sw.argv0);
  if (isSet(sw.shell) && typeof sw.shell !== 'boolean') checkString('spawnWith.shell', sw.shell);
  if (isSet(sw.stdio)) normalizeStdio('spawnWith.stdio', sw.stdio);
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

/** `backoff: true`: PM2's exponential backoff, with a tenth of jitter. */
const BACKOFF_DEFAULTS = Object.freeze({
  initial: 100,
  factor: 1.5,
  max: 15000,
  jitter: 0.1,
  resetAfter: 30000,
});

/**
 * @typedef {{ initial: number, factor: number, max: number, jitter: number, resetAfter: number }} Backoff
 */

/**
 * `backoff`: `true` for the defaults, or an object of some of them; false or unset for none.
 * @param {unknown} value
 * @returns {Backoff | undefined}
 */
function checkBackoff(value) {
  if (!isSet(value) || value === false) return undefined;
  if (value === true) return { ...BACKOFF_DEFAULTS };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(
      'backoff',
      'true, false or an object of { initial, factor, max, jitter, resetAfter }',
      value,
    );
  }
  const given = /** @type {Record<string, unknown>} */ (value);
  for (const key of Object.keys(given)) {
    if (!(key in BACKOFF_DEFAULTS)) {
      throw rangeError(
        'backoff',
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
    isSet(given[key]) ? check(`backoff.${key}`, given[key]) : BACKOFF_DEFAULTS[key];
  const initial = field('initial', checkStrictMillis);
  const factor = field('factor', (name, v) => checkStrictNumber(name, v, 'a number', 1));
  const jitter = field('jitter', (name, v) => {
    if (typeof v !== 'number') throw typeError(name, 'a fraction from 0 to 1', v);
    if (!(v >= 0 && v <= 1)) throw rangeError(name, 'a fraction from 0 to 1', v);
    return v;
  });
  const max = field('max', (name, v) =>
    checkStrictNumber(name, v, 'a number of milliseconds', initial, {
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
 * @param {unknown} value
 * @returns {'always' | 'on-failure' | 'never'}
 */
function checkAutorestart(value) {
  if (!isSet(value) || value === true) return 'always';
  if (value === false) return 'never';
  if (value === 'always' || value === 'on-failure' || value === 'never') return value;
  if (typeof value !== 'string')
    throw typeError('autorestart', '"always", "on-failure", "never" or a boolean', value);
  throw rangeError('autorestart', '"always", "on-failure" or "never"', value);
}

/**
 * `stopExitCodes`: exit codes (0 to 255) that end supervision; one code, or an array.
 * @param {unknown} value
 * @returns {number[]}
 */
function checkExitCodes(value) {
  if (!isSet(value)) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((code, i) => {
    const name = Array.isArray(value) ? `stopExitCodes[${i}]` : 'stopExitCodes';
    if (typeof code !== 'number') throw typeError(name, 'an exit code (a number)', code);
    if (!Number.isInteger(code) || code < 0 || code > 255)
      throw rangeError(name, 'an exit code from 0 to 255', code);
    return code;
  });
}

/** The most restarts a `restartWindow` may allow (the core keeps a time for each). */
const MAX_WINDOW_COUNT = 10000;

/**
 * `restartWindow`: give up past `count` restarts within `window` ms.
 * @param {unknown} value
 * @returns {{ count: number, window: number } | undefined}
 */
function checkRestartWindow(value) {
  if (!isSet(value)) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError('restartWindow', 'an object of { count, window }', value);
  }
  const w = /** @type {Record<string, unknown>} */ (value);
  for (const key of Object.keys(w)) {
    if (key !== 'count' && key !== 'window')
      throw rangeError('restartWindow', `an object of { count, window } (not "${key}")`, value);
  }
  if (typeof w.count !== 'number')
    throw typeError('restartWindow.count', 'a number of restarts', w.count);
  if (!Number.isInteger(w.count) || w.count < 0 || w.count > MAX_WINDOW_COUNT) {
    throw rangeError(
      'restartWindow.count',
      `a whole number from 0 to ${MAX_WINDOW_COUNT}`,
      w.count,
    );
  }
  const window = checkPositiveMillis('restartWindow.window', w.window);
  return { count: w.count, window };
}

/**
 * The restart policy's options of a monitor, checked again at each start (they are plain
 * fields, which may change), in the core's shape.
 * @param {{ restartDelay?: unknown, backoff?: unknown, autorestart?: unknown, stopExitCodes?: unknown, restartWindow?: unknown }} m
 */
function policyOptions(m) {
  const backoff = checkBackoff(m.backoff);
  const window = checkRestartWindow(m.restartWindow);
  return {
    restartDelay: isSet(m.restartDelay)
      ? Math.round(checkStrictMillis('restartDelay', m.restartDelay))
      : undefined,
    backoff: backoff && {
      initial: Math.round(backoff.initial),
      factor: backoff.factor,
      max: Math.round(backoff.max),
      jitter: backoff.jitter,
      resetAfter: Math.round(backoff.resetAfter),
    },
    autorestart: checkAutorestart(m.autorestart),
    stopExitCodes: checkExitCodes(m.stopExitCodes),
    restartWindow: window && { count: window.count, window: Math.round(window.window) },
  };
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

/**
 * A duration that must be positive.
 * @param {string} name
 * @param {unknown} value
 */
function checkPositiveMillis(name, value) {
  return checkStrictNumber(name, value, 'a number of milliseconds', 0, { above: true });
}

/** The shortest `memoryCheckInterval` (ms). */
const MIN_MEMORY_CHECK_INTERVAL = 10;

/**
 * `memoryCheckInterval`: at least 10 ms.
 * @param {unknown} value
 * @returns {number}
 */
function checkMemoryInterval(value) {
  return checkStrictNumber(
    'memoryCheckInterval',
    value,
    'a number of milliseconds',
    MIN_MEMORY_CHECK_INTERVAL,
  );
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
 * @param {unknown} value
 * @returns {number}
 */
function checkMemory(value) {
  let bytes;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined)
      throw rangeError('maxMemory', 'a number of bytes or a size such as "512M" or "1G"', value);
    bytes = Math.round(Number(m[1]) * unit);
  } else {
    throw typeError('maxMemory', 'a number of bytes or a size such as "512M"', value);
  }
  if (!Number.isFinite(bytes) || bytes < 1024 * 1024) {
    throw rangeError('maxMemory', 'a finite size of at least 1 MiB (1048576 bytes)', value);
  }
  return bytes;
}

/**
 * `signal`: an AbortSignal that stops the monitor.
 * @param {unknown} value
 * @returns {AbortSignal}
 */
function checkAbortSignal(value) {
  const s = /** @type {any} */ (value);
  if (
    !s ||
    typeof s !== 'object' ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function'
  ) {
    throw typeError('signal', 'an AbortSignal', value);
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
 * {@link MAX_SHUTDOWN_MESSAGE} bytes serialized either way. Checked at `new Monitor()`
 * and again at each start (a plain field, which may change).
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

/** How often the tree's memory is read with `maxMemory`, by default. */
const MEMORY_CHECK_INTERVAL = 1000;
/** How long a kill waits after the shutdown message, without `shutdownTimeout` or `killTTL`. */
const SHUTDOWN_TIMEOUT = 5000;

/**
 * The health options of a monitor, checked again at each start (plain fields), in the
 * core's shape; `encode` serialises a message as the channel does.
 * @param {any} m
 * @param {(message: unknown, name: string) => Buffer} encode
 * @param {boolean} ipc whether the child has an IPC channel
 */
function healthOptions(m, encode, ipc) {
  const waitReady = isSet(m.waitReady) ? checkStrictFlag('waitReady', m.waitReady) : false;
  const readyTimeout = isSet(m.readyTimeout)
    ? checkPositiveMillis('readyTimeout', m.readyTimeout)
    : undefined;
  const watchdog = isSet(m.watchdog) ? checkPositiveMillis('watchdog', m.watchdog) : undefined;
  const maxMemory = isSet(m.maxMemory) ? checkMemory(m.maxMemory) : undefined;
  const interval = isSet(m.memoryCheckInterval)
    ? checkMemoryInterval(m.memoryCheckInterval)
    : MEMORY_CHECK_INTERVAL;
  if (readyTimeout !== undefined && !waitReady)
    throw rangeError('readyTimeout', 'used with "waitReady: true"', m.readyTimeout);
  const shutdown = m.shutdownMessage !== undefined;
  if (shutdown) checkShutdownMessage(m.shutdownMessage, m.serialization);
  if (shutdown && !ipc)
    throw rangeError(
      'shutdownMessage',
      'used with "fork: true" (it is sent over the IPC channel)',
      m.shutdownMessage,
    );
  const timeout = isSet(m.shutdownTimeout)
    ? checkStrictMillis('shutdownTimeout', m.shutdownTimeout)
    : typeof m.killTTL === 'number' && m.killTTL > 0
      ? m.killTTL
      : SHUTDOWN_TIMEOUT;
  if (!waitReady && watchdog === undefined && maxMemory === undefined && !shutdown)
    return undefined;
  return {
    waitReady,
    readyTimeout: readyTimeout === undefined ? undefined : Math.round(readyTimeout),
    watchdog: watchdog === undefined ? undefined : Math.round(watchdog),
    maxMemory,
    memoryCheckInterval: Math.round(interval),
    shutdownMessage: shutdown ? encode(m.shutdownMessage, 'shutdownMessage') : undefined,
    shutdownTimeout: Math.round(timeout),
    ipcReady: ipc ? encode('ready', 'ready') : undefined,
    ipcHeartbeat: ipc ? encode('heartbeat', 'heartbeat') : undefined,
  };
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
 * @param {unknown} value
 * @returns {ListenEntry[]}
 */
function checkListen(value) {
  if (!isSet(value)) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry, i) =>
    checkListenEntry(Array.isArray(value) ? `listen[${i}]` : 'listen', entry, i),
  );
}

/**
 * `listenBacklog`: the kernel's accept queue for each listening socket.
 * @param {unknown} value
 * @returns {number | undefined}
 */
function checkBacklog(value) {
  if (!isSet(value)) return undefined;
  if (typeof value !== 'number') throw typeError('listenBacklog', 'a number of connections', value);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw rangeError('listenBacklog', 'a whole number from 1 to 65535', value);
  return value;
}

/**
 * The socket options of a monitor, checked again at each start (plain fields), in the
 * core's shape.
 * @param {{ listen?: unknown, listenBacklog?: unknown, reloadGrace?: unknown }} m
 */
function listenOptions(m) {
  const listen = checkListen(m.listen);
  return {
    listen:
      listen.length === 0
        ? undefined
        : listen.map(({ name, address }) => {
            if (typeof address === 'number') return { name, port: address };
            if (address.startsWith('/')) return { name, path: address };
            const cut = address.lastIndexOf(':');
            return {
              name,
              host: address.slice(0, cut).replace(/^\[|\]$/g, ''),
              port: Number(address.slice(cut + 1)),
            };
          }),
    listenBacklog: checkBacklog(m.listenBacklog),
    reloadGrace: Math.round(
      isSet(m.reloadGrace) ? checkStrictMillis('reloadGrace', m.reloadGrace) : DEFAULTS.reloadGrace,
    ),
  };
}

/** Defaults this package owns (forever-monitor's own defaults are in `normalizeOptions`). */
const DEFAULTS = Object.freeze({
  /** ms a reload's new child runs beside the old one before it takes over (without waitReady). */
  reloadGrace: 1000,
  /** ms between polls with `usePolling`. */
  pollingInterval: 100,
  /** ms of quiet that end a burst of file changes. */
  watchDebounce: 300,
  /** Rotated log files kept. */
  logMaxFiles: 5,
});

/**
 * @typedef {object} MonitorFields A monitor's fields, as forever-monitor names them.
 * @property {boolean} silent
 * @property {boolean} killTree
 * @property {string | number} uid
 * @property {unknown} id
 * @property {string | undefined} pidFile
 * @property {number | undefined} max
 * @property {number | undefined} killTTL
 * @property {unknown} killSignal
 * @property {number} killSignalNumber
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
 * @property {Record<string, string>} envVars
 * @property {unknown} env
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
 * @property {AbortSignal | undefined} signal
 * @property {ListenEntry[]} listen
 * @property {number | undefined} listenBacklog
 * @property {number} reloadGrace
 */

/**
 * Checks and completes a monitor's options, as forever-monitor's constructor reads them.
 * It throws for what it cannot use, and touches nothing (but for forever-monitor's own
 * deprecation warning for `options.options`).
 * @param {string | string[]} script the script to run, or a whole argv
 * @param {unknown} options
 * @param {Function} defaultParser
 * @returns {MonitorFields}
 */
function normalizeOptions(script, options, defaultParser) {
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

  const o = /** @type {Record<string, any>} */ (options);
  /**
   * @template T
   * @param {string} name
   * @param {(name: string, value: unknown) => T} check
   * @returns {T | undefined}
   */
  const opt = (name, check) => (isSet(o[name]) ? check(name, o[name]) : undefined);

  if (isSet(o.uid) && typeof o.uid !== 'string' && typeof o.uid !== 'number') {
    throw typeError('uid', 'a string or a number', o.uid);
  }
  const max = isSet(o.max) ? checkNumber('max', o.max, 'a number') : undefined;
  if (max !== undefined && (Number.isNaN(max) || max < 0))
    throw rangeError('max', 'a number >= 0', o.max);
  const silent = opt('silent', checkBoolean) || false;
  const outFile = opt('outFile', checkString);
  const errFile = opt('errFile', checkString);
  const logTimestamps = opt('logTimestamps', checkBoolean) || false;
  const mergeLogs = opt('mergeLogs', checkBoolean) || false;
  if (mergeLogs) {
    if (outFile === undefined) throw rangeError('mergeLogs', 'used with "outFile"', o.mergeLogs);
    if (errFile !== undefined && path.resolve(errFile) !== path.resolve(outFile)) {
      throw rangeError(
        'errFile',
        `unset or equal to "outFile" (${outFile}) with mergeLogs`,
        errFile,
      );
    }
  }
  const logMaxSize = isSet(o.logMaxSize)
    ? checkNumber('logMaxSize', o.logMaxSize, 'a number of bytes')
    : undefined;
  if (logMaxSize !== undefined && (!Number.isSafeInteger(logMaxSize) || logMaxSize < 1)) {
    throw rangeError(
      'logMaxSize',
      `a whole number of bytes from 1 to ${Number.MAX_SAFE_INTEGER}`,
      o.logMaxSize,
    );
  }
  const logMaxFiles = isSet(o.logMaxFiles)
    ? checkNumber('logMaxFiles', o.logMaxFiles, 'a number')
    : undefined;
  if (
    logMaxFiles !== undefined &&
    (!Number.isInteger(logMaxFiles) || logMaxFiles < 0 || logMaxFiles > 1000)
  ) {
    throw rangeError('logMaxFiles', 'a whole number from 0 to 1000', o.logMaxFiles);
  }
  const rotation = checkLogRotation(o, logMaxSize);
  const logDirect = opt('logDirect', checkBoolean) || false;
  if (logDirect)
    checkLogDirect({
      silent,
      logTimestamps,
      logMaxSize,
      logRotate: rotation.logRotate,
      logDirect: o.logDirect,
    });

  if (isSet(o.parser) && typeof o.parser !== 'function')
    throw typeError('parser', 'a function', o.parser);
  const minUptime = isSet(o.minUptime) ? checkMillis('minUptime', o.minUptime) : 0;
  const spinSleepTime =
    (isSet(o.spinSleepTime) ? checkMillis('spinSleepTime', o.spinSleepTime) : 0) || null;
  // forever-monitor's one side effect here, at the same point of its checks.
  if (isSet(o.options)) console.warn('options.options is deprecated. Use options.args instead.');
  const command = isSet(o.command) ? checkString('command', o.command) : process.execPath;
  const args = isSet(o.args)
    ? checkStrings('args', o.args)
    : isSet(o.options)
      ? checkStrings('options', o.options)
      : [];
  if (isSet(o.spawnWith) && (typeof o.spawnWith !== 'object' || Array.isArray(o.spawnWith))) {
    throw typeError('spawnWith', 'an object', o.spawnWith);
  }
  const spawnWith = o.spawnWith || {};
  checkSpawnWith(spawnWith);
  const sourceDir = opt('sourceDir', checkString);
  if (isSet(o.serialization) && o.serialization !== 'json' && o.serialization !== 'advanced') {
    throw rangeError('serialization', '"json" or "advanced"', o.serialization);
  }
  // forever-monitor hands spawnWith to child_process.spawn, which reads its serialization.
  const sw = /** @type {Record<string, unknown>} */ (spawnWith);
  if (isSet(sw.serialization) && sw.serialization !== 'json' && sw.serialization !== 'advanced') {
    throw rangeError('spawnWith.serialization', '"json" or "advanced"', sw.serialization);
  }
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
  const stdio = isSet(o.stdio) ? o.stdio : null;
  if (stdio !== null) normalizeStdio('stdio', stdio);
  const watchIgnorePatterns = isSet(o.watchIgnorePatterns)
    ? checkStrings('watchIgnorePatterns', o.watchIgnorePatterns)
    : [];
  if (isSet(o.watchDirectory) && !Array.isArray(o.watchDirectory))
    checkString('watchDirectory', o.watchDirectory);
  if (Array.isArray(o.watchDirectory)) {
    checkStrings('watchDirectory', o.watchDirectory).forEach((d, i) =>
      checkString(`watchDirectory[${i}]`, d),
    );
  }

  const fields = {
    silent,
    killTree: isSet(o.killTree) ? checkFlag('killTree', o.killTree, { notFalse: true }) : true,
    uid: o.uid || randomString(4),
    id: o.id || false,
    pidFile: opt('pidFile', checkString),
    max,
    killTTL: opt('killTTL', checkMillis),
    killSignal: o.killSignal || 'SIGKILL',
    killSignalNumber: isSet(o.killSignal)
      ? checkSignal('killSignal', o.killSignal)
      : signals().SIGKILL,
    checkFile: isSet(o.checkFile) ? checkFlag('checkFile', o.checkFile, { notFalse: true }) : true,
    logFile: opt('logFile', checkString),
    outFile,
    errFile,
    append: opt('append', checkBoolean),
    logTimestamps,
    mergeLogs,
    logMaxSize,
    logMaxFiles,
    ...rotation,
    logDirect,
    parser: o.parser || defaultParser,
    minUptime,
    spinSleepTime,
    command,
    args,
    spawnWith,
    sourceDir,
    fork: opt('fork', checkBoolean) || false,
    serialization: o.serialization || sw.serialization || 'json',
    cwd: isSet(o.cwd) ? checkString('cwd', o.cwd) : process.cwd(),
    hideEnv: isSet(o.hideEnv) ? checkStrings('hideEnv', o.hideEnv) : [],
    envVars: isSet(o.env) ? checkEnv('env', o.env) : {},
    env: o.env,
    stdio,
    watch: opt('watch', checkBoolean) || false,
    watchIgnoreDotFiles: isSet(o.watchIgnoreDotFiles)
      ? checkFlag('watchIgnoreDotFiles', o.watchIgnoreDotFiles, { notFalse: true })
      : true,
    watchIgnorePatterns,
    watchDirectory: o.watchDirectory || sourceDir,
    usePolling: opt('usePolling', checkBoolean),
    pollingInterval: opt('pollingInterval', checkMillis),
    watchDebounce: isSet(o.watchDebounce)
      ? checkMillis('watchDebounce', o.watchDebounce)
      : DEFAULTS.watchDebounce,
    restartDelay: isSet(o.restartDelay)
      ? checkStrictMillis('restartDelay', o.restartDelay)
      : undefined,
    backoff: checkBackoff(o.backoff),
    autorestart: checkAutorestart(o.autorestart),
    stopExitCodes: checkExitCodes(o.stopExitCodes),
    restartWindow: checkRestartWindow(o.restartWindow),
    waitReady: isSet(o.waitReady) ? checkStrictFlag('waitReady', o.waitReady) : false,
    readyTimeout: isSet(o.readyTimeout)
      ? checkPositiveMillis('readyTimeout', o.readyTimeout)
      : undefined,
    watchdog: isSet(o.watchdog) ? checkPositiveMillis('watchdog', o.watchdog) : undefined,
    maxMemory: isSet(o.maxMemory) ? checkMemory(o.maxMemory) : undefined,
    memoryCheckInterval: isSet(o.memoryCheckInterval)
      ? checkMemoryInterval(o.memoryCheckInterval)
      : MEMORY_CHECK_INTERVAL,
    shutdownMessage: o.shutdownMessage,
    shutdownTimeout: isSet(o.shutdownTimeout)
      ? checkStrictMillis('shutdownTimeout', o.shutdownTimeout)
      : undefined,
    signal: isSet(o.signal) ? checkAbortSignal(o.signal) : undefined,
    listen: checkListen(o.listen),
    listenBacklog: checkBacklog(o.listenBacklog),
    reloadGrace: isSet(o.reloadGrace)
      ? checkStrictMillis('reloadGrace', o.reloadGrace)
      : DEFAULTS.reloadGrace,
  };
  if (fields.readyTimeout !== undefined && !fields.waitReady)
    throw rangeError('readyTimeout', 'used with "waitReady: true"', o.readyTimeout);
  if (o.shutdownMessage !== undefined) {
    checkShutdownMessage(o.shutdownMessage, fields.serialization);
    /** @param {unknown} v */
    const hasIpc = (v) => Array.isArray(v) && v.includes('ipc');
    if (!fields.fork && !hasIpc(stdio) && !hasIpc(spawnWith.stdio)) {
      throw rangeError(
        'shutdownMessage',
        'used with "fork: true" (it is sent over the IPC channel)',
        o.shutdownMessage,
      );
    }
  }

  // The script is the first argument of the command, or the argv itself.
  if (Array.isArray(script)) {
    fields.command = script[0];
    fields.args = script.slice(1);
  } else {
    fields.args.unshift(script);
  }
  if (fields.sourceDir) fields.args[0] = path.join(fields.sourceDir, fields.args[0]);
  return fields;
}

/**
 * `logDirect`'s partners: the child writes its log files itself, so nothing passes
 * through the host to be copied, stamped or rotated. Checked again at each start, since
 * `silent` is a plain property that may change.
 * @param {{ silent: boolean, logTimestamps: boolean, logMaxSize: unknown, logRotate?: unknown, logDirect: unknown }} o
 */
function checkLogDirect(o) {
  if (!o.silent) {
    throw rangeError(
      'logDirect',
      'false unless "silent" is true (the host never sees what the child writes to its log files itself)',
      o.logDirect,
    );
  }
  if (o.logTimestamps) {
    throw rangeError(
      'logDirect',
      'false with "logTimestamps" (the child writes its log files itself, so nothing can stamp its lines)',
      o.logDirect,
    );
  }
  if (isSet(o.logMaxSize)) {
    throw rangeError(
      'logDirect',
      'false with "logMaxSize" (the child writes its log files itself, so the core cannot rotate them)',
      o.logDirect,
    );
  }
  if (isSet(o.logRotate)) {
    throw rangeError(
      'logDirect',
      'false with "logRotate" (the child writes its log files itself, so the core cannot rotate them)',
      o.logDirect,
    );
  }
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
/** `logMaxFiles` when only `logMaxAge` limits the rotated files: the most it may be. */
const MAX_LOG_FILES = 1000;

/**
 * `logRotate`: `'daily'`, `'hourly'`, or an interval in ms; taken as given.
 * @param {unknown} value
 * @returns {'daily' | 'hourly' | number | undefined}
 */
function checkLogRotate(value) {
  if (!isSet(value)) return undefined;
  const expected = '"daily", "hourly" or a number of milliseconds';
  if (value === 'daily' || value === 'hourly') return value;
  if (typeof value === 'string') throw rangeError('logRotate', expected, value);
  if (typeof value !== 'number') throw typeError('logRotate', expected, value);
  if (!Number.isInteger(value) || value < ROTATE_MIN || value > ROTATE_MAX) {
    throw rangeError(
      'logRotate',
      `"daily", "hourly" or a whole number of milliseconds from ${ROTATE_MIN} to ${ROTATE_MAX} (31 days)`,
      value,
    );
  }
  return value;
}

/**
 * `logMaxAge`: a number of milliseconds, or a duration such as `'14d'`, `'12h'`, `'30m'`.
 * @param {unknown} value
 * @returns {number | undefined} milliseconds
 */
function checkLogMaxAge(value) {
  if (!isSet(value)) return undefined;
  const expected = 'a number of milliseconds or a duration such as "14d", "12h" or "30m"';
  let ms;
  if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(value);
    if (!m) throw rangeError('logMaxAge', expected, value);
    ms = Number(m[1]) * AGE_UNITS[/** @type {keyof typeof AGE_UNITS} */ (m[2])];
  } else if (typeof value === 'number') {
    ms = value;
  } else {
    throw typeError('logMaxAge', expected, value);
  }
  if (!Number.isFinite(ms) || ms < 1 || ms > Number.MAX_SAFE_INTEGER) {
    throw rangeError('logMaxAge', `a duration from 1 ms to ${Number.MAX_SAFE_INTEGER} ms`, value);
  }
  return Math.round(ms);
}

/**
 * The rotation options beyond `logMaxSize`/`logMaxFiles`, strictly: what they need
 * (compression and an age limit need some rotation; UTC needs `logRotate`).
 * @param {Record<string, unknown>} o
 * @param {number | undefined} logMaxSize
 */
function checkLogRotation(o, logMaxSize) {
  const flag = (/** @type {string} */ name) => {
    const value = o[name];
    if (!isSet(value)) return false;
    if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
    return value;
  };
  const logRotate = checkLogRotate(o.logRotate);
  const logRotateUtc = flag('logRotateUtc');
  const logCompress = flag('logCompress');
  const logMaxAge = checkLogMaxAge(o.logMaxAge);
  if (logRotateUtc && logRotate === undefined)
    throw rangeError('logRotateUtc', 'used with "logRotate"', o.logRotateUtc);
  const rotates = logRotate !== undefined || logMaxSize !== undefined;
  if (logCompress && !rotates)
    throw rangeError('logCompress', 'used with "logRotate" or "logMaxSize"', o.logCompress);
  if (logMaxAge !== undefined && !rotates)
    throw rangeError('logMaxAge', 'used with "logRotate" or "logMaxSize"', o.logMaxAge);
  return { logRotate, logRotateUtc, logCompress, logMaxAge };
}

/**
 * The log writer's settings, complete, in the core's shape (`NativeLogOptions`), from a
 * monitor's fields: for its `outFile`/`errFile`, and for the CLI's status log.
 * @param {Pick<MonitorFields, 'append' | 'logTimestamps' | 'logMaxSize' | 'logMaxFiles' | 'logRotate' | 'logRotateUtc' | 'logCompress' | 'logMaxAge' | 'logDirect'>} m
 * @param {{ outFile?: string, errFile?: string }} files
 * @returns {import('./binding').NativeLogOptions}
 */
function logOptions(m, files) {
  const maxFiles =
    m.logMaxFiles !== undefined
      ? m.logMaxFiles
      : m.logMaxAge !== undefined
        ? MAX_LOG_FILES
        : DEFAULTS.logMaxFiles;
  return {
    outFile: files.outFile,
    errFile: files.errFile,
    append: m.append === true,
    timestamps: m.logTimestamps,
    maxSize: m.logMaxSize,
    maxFiles,
    rotateEvery: typeof m.logRotate === 'string' ? ROTATE_PERIODS[m.logRotate] : m.logRotate,
    rotateUtc: m.logRotateUtc,
    compress: m.logCompress,
    maxAge: m.logMaxAge,
    direct: m.logDirect,
  };
}

module.exports = {
  BACKOFF_DEFAULTS,
  DEFAULTS,
  policyOptions,
  healthOptions,
  listenOptions,
  LOOSE_OPTION,
  normalizeOptions,
  normalizeStdio,
  checkLogDirect,
  checkShutdownMessage,
  MAX_SHUTDOWN_MESSAGE,
  logOptions,
  checkSignal,
  checkString,
  checkStrings,
  checkEnv,
  typeError,
  rangeError,
  describe,
  isSet,
  randomString,
  signals,
};
