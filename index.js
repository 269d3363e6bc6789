'use strict';
/**
 * forever-native: forever-monitor's API over a Rust supervisor core.
 *
 * This file validates and normalises options (so the core only sees clean, typed input),
 * keeps forever-monitor's instance fields and events, and mirrors the core's state from
 * the events it sends. Spawning, waiting, restarting, killing and output all happen in
 * the core (src/), off the JS thread.
 */

const { EventEmitter } = require('events');
const fs = require('fs');
const path = require('path');

const version = require('./package.json').version;

let binding = null;
function native() {
  // Loaded on first use, so require('forever-native') stays cheap. loader.js finds the
  // addon (a local build, else the prebuilt package) or throws this package's refusal.
  if (binding === null) binding = require('./loader.js').load();
  return binding;
}

let signalNumbers = null;
function signals() {
  if (signalNumbers === null) signalNumbers = require('os').constants.signals;
  return signalNumbers;
}

const describe = (value) => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
};

function typeError(name, expected, value) {
  const err = new TypeError(`The "${name}" option must be ${expected}. Received ${describe(value)}`);
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

function rangeError(name, expected, value) {
  const err = new RangeError(`The "${name}" option must be ${expected}. Received ${describe(value)}`);
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

const isSet = (value) => value !== undefined && value !== null;

function checkString(name, value, { empty = false } = {}) {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
  if (!empty && value.length === 0) throw rangeError(name, 'a non-empty string', value);
  if (value.includes('\u0000')) throw rangeError(name, 'a string without null bytes', value);
  return value;
}

function checkBoolean(name, value) {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

function checkMillis(name, value) {
  if (typeof value !== 'number') throw typeError(name, 'a number of milliseconds', value);
  if (!Number.isFinite(value) || value < 0) {
    throw rangeError(name, 'a finite number >= 0', value);
  }
  return value;
}

function checkId(name, value) {
  if (!Number.isInteger(value)) throw typeError(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw rangeError(name, 'an integer from 0 to 4294967295', value);
  return value;
}

function checkSignal(name, value) {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && Object.values(signals()).includes(value)) return value;
    throw rangeError(name, 'a signal name or number', value);
  }
  if (typeof value !== 'string') throw typeError(name, 'a signal name such as "SIGTERM"', value);
  const number = Object.prototype.hasOwnProperty.call(signals(), value) ? signals()[value] : undefined;
  if (number === undefined) throw rangeError(name, 'a signal name such as "SIGTERM"', value);
  return number;
}

function checkStrings(name, value) {
  if (!Array.isArray(value)) throw typeError(name, 'an array of strings', value);
  return value.map((item, i) => {
    if (typeof item === 'number' || typeof item === 'boolean') return String(item);
    return checkString(`${name}[${i}]`, item, { empty: true });
  });
}

function checkEnv(name, value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(name, 'an object of strings', value);
  }
  const env = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (v === undefined) continue;
    if (key.includes('\u0000') || key.includes('=') || key === '') {
      throw rangeError(`${name}`, 'an object whose keys are non-empty and hold no "=" or null byte', key);
    }
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') {
      const s = String(v);
      if (s.includes('\u0000')) throw rangeError(`${name}.${key}`, 'a string without null bytes', v);
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
 * @returns {{ stdio: string[], ipc: number | undefined }}
 */
function normaliseStdio(name, value) {
  if (typeof value === 'string') {
    if (!STDIO_WORDS.has(value)) {
      throw rangeError(name, '"pipe", "inherit", "ignore" or an array', value);
    }
    return { stdio: [value, value, value], ipc: undefined };
  }
  if (!Array.isArray(value)) throw typeError(name, 'a string or an array', value);
  const stdio = ['pipe', 'pipe', 'pipe'];
  let ipc;
  value.forEach((entry, i) => {
    const where = `${name}[${i}]`;
    if (entry === 'ipc') {
      if (ipc !== undefined) throw rangeError(where, 'unique: only one "ipc" entry is allowed', entry);
      ipc = i;
      if (i < 3) stdio[i] = 'ignore';
      return;
    }
    if (!isSet(entry)) return;
    if (i > 2) {
      if (entry === 'ignore') return;
      throw rangeError(where, 'undefined, null, "ignore" or "ipc" (only stdin, stdout and stderr are connected)', entry);
    }
    if (typeof entry === 'string' && STDIO_WORDS.has(entry)) stdio[i] = entry;
    else if (Number.isInteger(entry) && entry >= 0) stdio[i] = String(entry);
    else throw typeError(where, '"pipe", "inherit", "ignore", "ipc" or a file descriptor', entry);
  });
  return { stdio, ipc };
}

let advanced = null;
/**
 * Node's `serialization: 'advanced'` codec: V8's format, with the extra tag Node's
 * ChildProcessSerializer writes before host objects (typed arrays and Buffers).
 */
function advancedCodec() {
  if (advanced !== null) return advanced;
  const v8 = require('v8');
  class Serializer extends v8.DefaultSerializer {
    _writeHostObject(object) {
      this.writeUint32(0);
      return super._writeHostObject(object);
    }
  }
  class Deserializer extends v8.DefaultDeserializer {
    _readHostObject() {
      const tag = this.readUint32();
      if (tag !== 0) throw new Error(`unsupported IPC host object tag ${tag}`);
      return super._readHostObject();
    }
  }
  advanced = {
    encode(message) {
      const ser = new Serializer();
      ser.writeHeader();
      ser.writeValue(message);
      return ser.releaseBuffer();
    },
    decode(buffer) {
      const des = new Deserializer(buffer);
      des.readHeader();
      return des.readValue();
    },
  };
  return advanced;
}

/** Node's rule for its own messages on the channel (never surfaced as 'message'). */
const isInternal = (message) => message !== null && typeof message === 'object'
  && typeof message.cmd === 'string' && message.cmd.length > 4 && message.cmd.startsWith('NODE_');

/** forever-monitor's 4-character ids: base64 characters, no leading dash. */
function randomString(length) {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  let out = '';
  for (let i = 0; i < length; i++) out += chars[Math.floor(Math.random() * 64)];
  return out;
}

/**
 * Builds an `Error` from a failure reported by the core, with Node's `code`, `errno`,
 * `syscall` and `path` fields when it came from a system call.
 */
function toError(failure) {
  const err = new Error(failure.message);
  err.code = failure.code;
  if (failure.errno !== undefined && failure.errno !== null) err.errno = failure.errno;
  if (failure.syscall) err.syscall = failure.syscall;
  if (failure.path) err.path = failure.path;
  return err;
}

const NOT_RUNNING = 'Cannot stop process that is not running.';

/**
 * The child as forever-monitor users see it: `monitor.child.pid`, `monitor.child.kill()`.
 */
class ChildProcessHandle {
  constructor(pid, monitor) {
    /** The child's process id. */
    this.pid = pid;
    Object.defineProperty(this, '_monitor', { value: monitor, enumerable: false });
  }

  /** Sends `signal` (default `'SIGTERM'`) to the child alone; returns whether it was sent. */
  kill(signal = 'SIGTERM') {
    const number = checkSignal('signal', signal);
    const native = this._monitor._native;
    if (!native || this._monitor.child !== this) return false;
    return native.signal(number) === null;
  }
}

class Monitor extends EventEmitter {
  /**
   * @param {string|string[]} script the script to run, or a whole argv
   * @param {object} [options] forever-monitor's options
   */
  constructor(script, options) {
    super();
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

    const o = options;
    const opt = (name, check) => (isSet(o[name]) ? check(name, o[name]) : undefined);

    this.silent = opt('silent', checkBoolean) || false;
    this.killTree = opt('killTree', checkBoolean) !== false;
    if (isSet(o.uid) && typeof o.uid !== 'string' && typeof o.uid !== 'number') {
      throw typeError('uid', 'a string or a number', o.uid);
    }
    this.uid = o.uid || randomString(4);
    this.id = o.id || false;
    this.pidFile = opt('pidFile', checkString);
    if (isSet(o.max)) {
      if (typeof o.max !== 'number') throw typeError('max', 'a number', o.max);
      if (Number.isNaN(o.max) || o.max < 0) throw rangeError('max', 'a number >= 0', o.max);
    }
    this.max = isSet(o.max) ? o.max : undefined;
    this.killTTL = opt('killTTL', checkMillis);
    this._killSignal = isSet(o.killSignal) ? checkSignal('killSignal', o.killSignal) : signals().SIGKILL;
    this.killSignal = o.killSignal || 'SIGKILL';
    this.childExists = false;
    this.checkFile = opt('checkFile', checkBoolean) !== false;
    this.times = 0;
    this.warn = console.error;

    this.logFile = opt('logFile', checkString);
    this.outFile = opt('outFile', checkString);
    this.errFile = opt('errFile', checkString);
    this.append = opt('append', checkBoolean);
    this.logTimestamps = opt('logTimestamps', checkBoolean) || false;
    this.mergeLogs = opt('mergeLogs', checkBoolean) || false;
    if (this.mergeLogs) {
      if (this.outFile === undefined) throw rangeError('mergeLogs', 'used with "outFile"', o.mergeLogs);
      if (this.errFile !== undefined && path.resolve(this.errFile) !== path.resolve(this.outFile)) {
        throw rangeError('errFile', `unset or equal to "outFile" (${this.outFile}) with mergeLogs`, this.errFile);
      }
    }
    if (isSet(o.logMaxSize)) {
      if (typeof o.logMaxSize !== 'number') throw typeError('logMaxSize', 'a number of bytes', o.logMaxSize);
      if (!Number.isSafeInteger(o.logMaxSize) || o.logMaxSize < 1) {
        throw rangeError('logMaxSize', 'a whole number of bytes >= 1', o.logMaxSize);
      }
    }
    this.logMaxSize = o.logMaxSize;
    if (isSet(o.logMaxFiles)) {
      if (typeof o.logMaxFiles !== 'number') throw typeError('logMaxFiles', 'a number', o.logMaxFiles);
      if (!Number.isInteger(o.logMaxFiles) || o.logMaxFiles < 0 || o.logMaxFiles > 1000) {
        throw rangeError('logMaxFiles', 'a whole number from 0 to 1000', o.logMaxFiles);
      }
    }
    this.logMaxFiles = o.logMaxFiles;
    this.logDirect = opt('logDirect', checkBoolean) || false;
    if (this.logDirect) {
      // The child writes its log files itself: nothing passes through the host to be
      // copied, stamped or rotated.
      if (!this.silent) {
        throw rangeError('logDirect', 'false unless "silent" is true (the host never sees what the child writes to its log files itself)', o.logDirect);
      }
      if (this.logTimestamps) {
        throw rangeError('logDirect', 'false with "logTimestamps" (the child writes its log files itself, so nothing can stamp its lines)', o.logDirect);
      }
      if (this.logMaxSize !== undefined) {
        throw rangeError('logDirect', 'false with "logMaxSize" (the child writes its log files itself, so the core cannot rotate them)', o.logDirect);
      }
    }

    if (isSet(o.parser) && typeof o.parser !== 'function') throw typeError('parser', 'a function', o.parser);
    this.parser = o.parser || Monitor.parseCommand;

    this.minUptime = isSet(o.minUptime) ? checkMillis('minUptime', o.minUptime) : 0;
    this.spinSleepTime = (isSet(o.spinSleepTime) ? checkMillis('spinSleepTime', o.spinSleepTime) : 0) || null;

    if (isSet(o.options)) {
      console.warn('options.options is deprecated. Use options.args instead.');
    }

    this.command = isSet(o.command) ? checkString('command', o.command) : process.execPath;
    this.args = isSet(o.args) ? checkStrings('args', o.args) : isSet(o.options) ? checkStrings('options', o.options) : [];
    if (isSet(o.spawnWith) && (typeof o.spawnWith !== 'object' || Array.isArray(o.spawnWith))) {
      throw typeError('spawnWith', 'an object', o.spawnWith);
    }
    this.spawnWith = o.spawnWith || {};
    checkSpawnWith(this.spawnWith);
    this.sourceDir = opt('sourceDir', checkString);
    this.fork = opt('fork', checkBoolean) || false;
    if (isSet(o.serialization) && o.serialization !== 'json' && o.serialization !== 'advanced') {
      throw rangeError('serialization', '"json" or "advanced"', o.serialization);
    }
    this.serialization = o.serialization || 'json';
    this.cwd = isSet(o.cwd) ? checkString('cwd', o.cwd) : process.cwd();
    this.hideEnv = isSet(o.hideEnv) ? checkStrings('hideEnv', o.hideEnv) : [];
    this._env = isSet(o.env) ? checkEnv('env', o.env) : {};
    if (isSet(o.env)) this.env = o.env;
    this._hideEnv = {};

    this.stdio = isSet(o.stdio) ? o.stdio : null;
    if (this.stdio !== null) normaliseStdio('stdio', this.stdio);

    this.watch = opt('watch', checkBoolean) || false;
    this.watchIgnoreDotFiles = opt('watchIgnoreDotFiles', checkBoolean) !== false;
    this.watchIgnorePatterns = isSet(o.watchIgnorePatterns) ? checkStrings('watchIgnorePatterns', o.watchIgnorePatterns) : [];
    if (isSet(o.watchDirectory) && !Array.isArray(o.watchDirectory)) checkString('watchDirectory', o.watchDirectory);
    if (Array.isArray(o.watchDirectory)) checkStrings('watchDirectory', o.watchDirectory).forEach((d, i) => checkString(`watchDirectory[${i}]`, d));
    this.watchDirectory = o.watchDirectory || this.sourceDir;
    this.usePolling = opt('usePolling', checkBoolean);
    this.pollingInterval = opt('pollingInterval', checkMillis);
    this.watchDebounce = isSet(o.watchDebounce) ? checkMillis('watchDebounce', o.watchDebounce) : 300;

    for (const key of this.hideEnv) this._hideEnv[key] = true;

    if (Array.isArray(script)) {
      this.command = script[0];
      this.args = script.slice(1);
    } else {
      this.args.unshift(script);
    }
    if (this.sourceDir) {
      this.args[0] = path.join(this.sourceDir, this.args[0]);
    }

    Object.defineProperty(this, '_native', { value: null, writable: true, enumerable: false });
    Object.defineProperty(this, '_run', { value: 0, writable: true, enumerable: false });
    Object.defineProperty(this, '_listening', {
      value: { stdout: false, stderr: false },
      enumerable: false,
    });
    if (this.watch) this._readIgnoreFiles();
    if (this.outFile !== undefined || this.errFile !== undefined) {
      // forever-monitor opens (and truncates) its log files in the constructor too.
      try {
        this._nativeMonitor();
      } catch (err) {
        this._errorSoon(err);
      }
    }
    this.on('newListener', (name) => {
      if (name === 'stdout' || name === 'stderr') this._setListening(name, true);
    });
    this.on('removeListener', (name) => {
      if (name === 'stdout' || name === 'stderr') this._setListening(name, this.listenerCount(name) > 0);
    });
  }

  /** The directories to watch, absolute; by default `sourceDir`, else the script's. */
  _watchDirs() {
    let dirs = this.watchDirectory;
    if (!dirs) dirs = path.dirname(path.resolve(this.cwd, this.args[0] || '.'));
    return (Array.isArray(dirs) ? dirs : [dirs]).map((d) => path.resolve(d));
  }

  /** forever-monitor's `.foreverignore`: patterns read from each watched directory. */
  _readIgnoreFiles() {
    for (const dir of this._watchDirs()) {
      try {
        const text = fs.readFileSync(path.join(dir, '.foreverignore'), 'utf8');
        this.watchIgnorePatterns.push(...text.split('\n').filter(Boolean));
      } catch (err) {
        process.nextTick(() => this.emit('watch:error', {
          message: 'Could not read .foreverignore file.',
          error: err.message,
        }));
      }
    }
  }

  _setListening(stream, on) {
    this._listening[stream] = on;
    if (this._native) this._native.setListening(stream, on);
  }

  _nativeMonitor() {
    if (!this._native) {
      this._native = new (native().NativeMonitor)();
      for (const stream of ['stdout', 'stderr']) {
        if (this._listening[stream]) this._native.setListening(stream, true);
      }
      if (this.outFile !== undefined || this.errFile !== undefined) {
        this._reportFailures(this._native.setLogs({
          outFile: this.outFile,
          errFile: this.mergeLogs ? this.outFile : this.errFile,
          append: this.append === true,
          logTimestamps: this.logTimestamps,
          logMaxSize: this.logMaxSize,
          logMaxFiles: this.logMaxFiles,
          logDirect: this.logDirect,
        }));
      }
    }
    return this._native;
  }

  _reportFailures(failures) {
    for (const failure of failures) this._errorSoon(toError(failure));
    return this;
  }

  /**
   * Closes and re-opens `outFile`/`errFile` (for an external logrotate). Files that cannot
   * be opened are reported as `'error'` events.
   */
  reopenLogs() {
    if (!this._native) return this;
    return this._reportFailures(this._native.reopenLogs());
  }

  _errorSoon(err) {
    process.nextTick(() => this.emit('error', err));
    return this;
  }

  /**
   * Starts the child. Returns the monitor; `'start'` (or `'restart'`) follows
   * asynchronously, and failures arrive as `'error'`.
   * @param {boolean} [restart] report the start as a restart
   */
  start(restart) {
    if (this.running && !restart) {
      return this._errorSoon(new Error('Cannot start process that is already running.'));
    }
    let spec;
    try {
      spec = this._spawnSpec();
    } catch (err) {
      return this._errorSoon(err);
    }
    if (spec === null) {
      return this._errorSoon(new Error('Target script does not exist: ' + this.args[0]));
    }
    const run = this._run + 1;
    let result;
    try {
      result = this._nativeMonitor().start(spec, this._runOptions(), !!restart, (event) => {
        this._onNative(event, run);
      }, (data) => {
        this._onMessage(data);
      });
    } catch (err) {
      // The core could not be set up (e.g. no descriptors left for its runtime).
      return this._errorSoon(err);
    }
    if (result.error) return this._errorSoon(toError(result.error));

    this._run = run;
    this.ctime = result.ctime;
    this.child = new ChildProcessHandle(result.pid, this);
    this.running = true;
    this.isMaster = isPrimary();
    process.nextTick(() => this.emit(restart ? 'restart' : 'start', this, this.data));
    if (result.channelError) this._errorSoon(toError(result.channelError));
    return this;
  }

  /** The command, as forever-monitor's `trySpawn` builds it; null when the script is missing. */
  _spawnSpec() {
    if (this.logDirect && !this.silent) {
      // `silent` is a plain property: it may have been changed since the constructor checked.
      throw rangeError('logDirect', 'false unless "silent" is true (the host never sees what the child writes to its log files itself)', this.logDirect);
    }
    let run;
    try {
      run = this.parser(this.command, this.args.slice());
    } catch (err) {
      const wrapped = new Error(`The "parser" option threw: ${err && err.message}`);
      wrapped.cause = err;
      throw wrapped;
    }
    if (!run || typeof run !== 'object' || typeof run.command !== 'string' || run.command === ''
      || !Array.isArray(run.args)) {
      throw new TypeError(`The "parser" option must return { command: string, args: string[] } for ${JSON.stringify(this.command)}. Received ${describe(run)}`);
    }
    const args = checkStrings('parser().args', run.args);
    checkString('parser().command', run.command);

    if (/[^\w]node$/.test(this.command) && this.checkFile && !this.childExists) {
      try {
        fs.statSync(this.args[0]);
        this.childExists = true;
      } catch (err) {
        return null;
      }
    }

    this.spawnWith.cwd = this.spawnWith.cwd || this.cwd;
    this.spawnWith.env = this._getEnv();
    const sw = this.spawnWith;

    let command = run.command;
    let argv = args;
    if (sw.shell) {
      const line = [command].concat(args).join(' ');
      command = typeof sw.shell === 'string' ? sw.shell : '/bin/sh';
      argv = ['-c', line];
    }
    let stdioOption = this.stdio !== null ? this.stdio : isSet(sw.stdio) ? sw.stdio : 'pipe';
    if (this.fork && this.stdio === null) stdioOption = ['pipe', 'pipe', 'pipe', 'ipc'];
    const { stdio, ipc } = normaliseStdio(this.stdio !== null ? 'stdio' : 'spawnWith.stdio', stdioOption);
    return {
      command,
      args: argv,
      argv0: isSet(sw.argv0) ? sw.argv0 : undefined,
      cwd: sw.cwd,
      env: checkEnv('env', sw.env),
      uid: isSet(sw.uid) ? sw.uid : undefined,
      gid: isSet(sw.gid) ? sw.gid : undefined,
      detached: sw.detached === true,
      stdio,
      ipc,
      serialization: this.serialization,
    };
  }

  _runOptions() {
    const max = this.max;
    return {
      max: max === undefined || max === Infinity ? undefined : Math.min(Math.ceil(max), 0xffffffff),
      minUptime: Math.round(this.minUptime),
      spinSleepTime: typeof this.spinSleepTime === 'number' ? Math.round(this.spinSleepTime) : undefined,
      killSignal: this._killSignal,
      killTree: this.killTree,
      killTTL: this.killTTL ? Math.round(this.killTTL) : undefined,
      silent: this.silent,
      watch: this.watch ? {
        dirs: this._watchDirs(),
        ignoreDotFiles: this.watchIgnoreDotFiles,
        patterns: this.watchIgnorePatterns.slice(),
        usePolling: this.usePolling === true,
        pollingInterval: Math.round(this.pollingInterval || 100),
        debounce: Math.round(this.watchDebounce),
      } : undefined,
    };
  }

  _onNative(event, run) {
    // Events of an earlier run (reported after a new start) are still emitted, but no
    // longer change the monitor's state.
    const current = run === this._run;
    switch (event.kind) {
      case 'start':
        if (current) {
          this.ctime = event.ctime;
          this.child = new ChildProcessHandle(event.pid, this);
          this.running = true;
        }
        this.emit(event.restart ? 'restart' : 'start', this, this.data);
        break;
      case 'exit': {
        const code = event.code === undefined ? null : event.code;
        const signal = event.signal === undefined ? null : event.signal;
        this.emit('exit:code', code, signal);
        if (current) this.times = event.times;
        if (event.outcome === 'die') {
          if (current) this.running = false;
          this.emit('exit', this, event.spinning);
        }
        if (event.stopped) this.emit('stop', this.childData);
        break;
      }
      case 'end':
        if (current) this.running = false;
        this.emit('exit', this, !!event.stopped);
        if (event.stopped) this.emit('stop', this.childData);
        break;
      case 'error':
        this.emit('error', toError(event.error));
        break;
      case 'stdout':
      case 'stderr':
        this.emit(event.kind, event.data);
        break;
      case 'disconnect':
        this.emit('disconnect');
        break;
      case 'watch:restart': {
        let stat;
        try {
          stat = fs.statSync(event.path);
        } catch (err) {
          stat = undefined;
        }
        this.emit('watch:restart', { file: event.path, stat });
        break;
      }
      case 'watch:ready':
        this.emit('watch:ready');
        break;
      case 'watch:error':
        this.emit('watch:error', { message: `Could not watch ${event.error.path || 'a directory'}.`, error: event.error.message });
        break;
      default:
        break;
    }
  }

  /** forever-monitor's snapshot of this monitor and its child. */
  get data() {
    const childData = {
      ctime: this.ctime,
      command: this.command,
      file: this.args[0],
      foreverPid: process.pid,
      logFile: this.logFile,
      args: this.args.slice(1),
      pid: this.child ? this.child.pid : undefined,
      silent: this.silent,
      uid: this.uid,
      id: this.id,
      spawnWith: this.spawnWith,
      running: this.running,
      restarts: this.times,
      isMaster: this.isMaster,
    };
    for (const key of ['pidFile', 'outFile', 'errFile', 'env', 'cwd']) {
      if (this[key]) childData[key] = this[key];
    }
    if (this.sourceDir) {
      childData.sourceDir = this.sourceDir;
      childData.file = childData.file.replace(this.sourceDir + '/', '');
    }
    this.childData = childData;
    return this.childData;
  }

  /** Restarts the child (starts it when not running). */
  restart() {
    this.times = this.times || 0;
    if (!this.running || !this._native) return this.start(true);
    const failure = this._native.restart();
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') return this.start(true);
    return this._errorSoon(toError(failure));
  }

  /** Stops the child and its tree; it is not restarted. `'stop'` follows. */
  stop() {
    return this.kill(true);
  }

  /**
   * Kills the child with `killSignal` (its whole tree unless `killTree: false`).
   * @param {boolean} [forceStop] also end supervision
   */
  kill(forceStop) {
    if (!this.child || !this.running || !this._native) {
      return this._errorSoon(new Error(NOT_RUNNING));
    }
    const failure = this._native.kill(!!forceStop);
    if (failure !== null) return this._errorSoon(toError(failure));
    return this;
  }

  _onMessage(data) {
    let message;
    try {
      message = typeof data === 'string' ? JSON.parse(data) : advancedCodec().decode(data);
    } catch (cause) {
      const err = new Error(`The child sent a message that is not valid ${this.serialization === 'advanced' ? 'V8 serialization' : 'JSON'}: ${cause.message}`);
      err.code = 'ERR_IPC_BAD_MESSAGE';
      this.emit('error', err);
      return;
    }
    if (isInternal(message)) {
      // A handle sent with process.send(msg, handle): the core has closed the descriptor;
      // the message still reaches listeners, as Node's 'message' (msg, handle) would.
      if (message.cmd !== 'NODE_HANDLE') return;
      if (this.serialization === 'advanced' && this._native) {
        this._native.send(advancedCodec().encode({ cmd: 'NODE_HANDLE_ACK' }));
      }
      message = message.msg;
    }
    this.emit('message', message);
  }

  /**
   * Sends `message` to the child over its IPC channel (`fork: true`), serialised as JSON
   * (or with V8's serializer for `serialization: 'advanced'`). Never blocks. Throws a
   * TypeError for a message that cannot be serialised; emits `'error'` when no child runs.
   */
  send(message) {
    if (!this.child || !this.running || !this._native) {
      return this._errorSoon(new Error('Cannot send to process that is not running.'));
    }
    let payload;
    if (this.serialization === 'advanced') {
      try {
        payload = advancedCodec().encode(message);
      } catch (cause) {
        const err = new TypeError(`The "message" argument cannot be serialized: ${cause.message}`);
        err.code = 'ERR_INVALID_ARG_TYPE';
        throw err;
      }
    } else {
      payload = JSON.stringify(message);
      if (payload === undefined) throw typeError('message', 'serializable as JSON', message);
    }
    const failure = this._native.send(payload);
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') {
      return this._errorSoon(new Error('Cannot send to process that is not running.'));
    }
    return this._errorSoon(toError(failure));
  }

  /** The monitor as JSON. */
  toString() {
    return JSON.stringify(this);
  }

  /** Panics the core's supervisor task (tests prove a panic never reaches Node). */
  _panicForTest() {
    this._nativeMonitor().panicForTest();
  }
}

// forever-monitor sets this so util.inspect does not call a method of that name.
Monitor.prototype.inspect = null;

function checkSpawnWith(sw) {
  if (isSet(sw.cwd)) checkString('spawnWith.cwd', sw.cwd);
  if (isSet(sw.env)) checkEnv('spawnWith.env', sw.env);
  if (isSet(sw.uid)) checkId('spawnWith.uid', sw.uid);
  if (isSet(sw.gid)) checkId('spawnWith.gid', sw.gid);
  if (isSet(sw.detached)) checkBoolean('spawnWith.detached', sw.detached);
  if (isSet(sw.argv0)) checkString('spawnWith.argv0', sw.argv0);
  if (isSet(sw.shell) && typeof sw.shell !== 'boolean') checkString('spawnWith.shell', sw.shell);
  if (isSet(sw.stdio)) normaliseStdio('spawnWith.stdio', sw.stdio);
}

function isPrimary() {
  const cluster = require('cluster');
  return cluster.isPrimary !== undefined ? cluster.isPrimary : cluster.isMaster;
}

/**
 * forever-monitor's default parser: splits `command` at its first unescaped space, so
 * `'node --expose-gc'` runs `node` with `--expose-gc` before `args`.
 * @returns {{command: string, args: string[]}|false}
 */
Monitor.parseCommand = function parseCommand(command, args) {
  const match = /(.*?[^\\])(?: (.*)|$)/.exec(command);
  if (!match) return false;
  return {
    command: match[1],
    args: match[2] ? match[2].split(' ').concat(args) : args,
  };
};

/** The environment for the child: the host's, less `hideEnv`, plus `env`. */
Monitor.prototype._getEnv = function getEnv() {
  const merged = {};
  for (const key of Object.keys(process.env)) {
    if (!this._hideEnv[key]) merged[key] = process.env[key];
  }
  for (const key of Object.keys(this._env)) merged[key] = this._env[key];
  return merged;
};

/**
 * Creates a monitor and starts it, as forever-monitor's `start()` does.
 * @param {string|string[]} script
 * @param {object} options
 */
function start(script, options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  if (!options.uid) options.uid = randomString(4).replace(/^-/, '_');
  return new Monitor(script, options).start();
}

/**
 * Sends `signal` (default `'SIGKILL'`) to `pid`, and with `killTree` to all its
 * descendants (read from /proc, no `ps`). `callback` runs once the signals are sent.
 */
function kill(pid, killTree, signal, callback) {
  const number = checkSignal('signal', signal || 'SIGKILL');
  callback = callback || function noop() {};
  if (typeof pid === 'string' && /^\d+$/.test(pid)) pid = Number(pid);
  if (!Number.isInteger(pid)) throw typeError('pid', 'a positive integer', pid);
  // Linux pids fit in 31 bits; a larger number must not wrap onto another process.
  if (pid <= 0 || pid > 0x7fffffff) throw rangeError('pid', 'an integer from 1 to 2147483647', pid);
  native().killProcess(pid, number, !!killTree);
  process.nextTick(callback);
}

/** Whether a process with this pid exists (and may be signalled). */
function checkProcess(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return false;
  }
}

module.exports = { Monitor, start, kill, checkProcess, version };
