// @ts-check
'use strict';
/**
 * forever-native: forever-monitor's API over a Rust supervisor core.
 *
 * `Monitor` keeps forever-monitor's instance fields and events and mirrors the core's
 * state from the events it sends. Options are checked and completed by `options.js`;
 * the rules (what may be started, stopped or restarted, and what happens when a child
 * exits) are the core's, which answers every call at once and never makes JS wait.
 * Spawning, waiting, restarting, killing and output all happen in the core (src/), off
 * the JS thread.
 */

const { EventEmitter } = require('events');
const fs = require('fs');
const path = require('path');
/** @type {typeof import('./options.js') | null} */
let optionsModule = null;
/** The option checks, loaded with the first monitor, so that `require()` stays cheap. */
function checks() {
  if (optionsModule === null) optionsModule = require('./options.js');
  return optionsModule;
}

const version = require('./package.json').version;

/** @typedef {import('./binding').NativeEvent} NativeEvent */
/** @typedef {import('./binding').NativeFailure} NativeFailure */
/** @typedef {import('./binding').NativeMonitor} NativeMonitor */
/** @typedef {import('./binding').NativeSpawnSpec} NativeSpawnSpec */
/** @typedef {import('./binding').NativeRunOptions} NativeRunOptions */

/** @type {typeof import('./binding') | null} */
let binding = null;
/** The native half, loaded on first use so that `require('forever-native')` stays cheap. */
function native() {
  // loader.js finds the addon (a local build, else the prebuilt package) or throws this
  // package's refusal.
  if (binding === null) {
    binding = /** @type {typeof import('./binding')} */ (require('./loader.js').load());
    binding.onWarning((message) => {
      process.emitWarning(message, { code: 'FOREVER_NATIVE_GUARDIAN' });
    });
  }
  return binding;
}

/** @typedef {{ encode(message: unknown): Buffer, decode(buffer: Buffer): unknown }} Codec */
/** @type {Codec | null} */
let advanced = null;
/**
 * Node's `serialization: 'advanced'` codec: V8's format, with the extra tag Node's
 * ChildProcessSerializer writes before host objects (typed arrays and Buffers).
 * @returns {Codec}
 */
function advancedCodec() {
  if (advanced !== null) return advanced;
  const v8 = require('v8');
  // The host-object hooks are V8's protected methods, which @types/node does not declare.
  const base = {
    write: /** @type {(this: object, object: object) => void} */ (/** @type {any} */ (v8.DefaultSerializer.prototype)._writeHostObject),
    read: /** @type {(this: object) => unknown} */ (/** @type {any} */ (v8.DefaultDeserializer.prototype)._readHostObject),
  };
  class Serializer extends v8.DefaultSerializer {
    /** @param {object} object */
    _writeHostObject(object) {
      this.writeUint32(0);
      return base.write.call(this, object);
    }
  }
  class Deserializer extends v8.DefaultDeserializer {
    _readHostObject() {
      const tag = this.readUint32();
      if (tag !== 0) throw new Error(`unsupported IPC host object tag ${tag}`);
      return base.read.call(this);
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

/**
 * Node's rule for its own messages on the channel (never surfaced as 'message').
 * @param {any} message
 * @returns {boolean}
 */
const isInternal = (message) => message !== null && typeof message === 'object'
  && typeof message.cmd === 'string' && message.cmd.length > 4 && message.cmd.startsWith('NODE_');

/**
 * Builds an `Error` from a failure reported by the core, with Node's `code`, `errno`,
 * `syscall` and `path` fields when it came from a system call.
 * @param {NativeFailure} failure
 */
function toError(failure) {
  const err = /** @type {Error & { code?: string, errno?: number, syscall?: string, path?: string }} */ (new Error(failure.message));
  err.code = failure.code;
  if (failure.errno !== undefined && failure.errno !== null) err.errno = failure.errno;
  if (failure.syscall) err.syscall = failure.syscall;
  if (failure.path) err.path = failure.path;
  return err;
}

const NOT_RUNNING_SEND = 'Cannot send to process that is not running.';

/**
 * The child as forever-monitor users see it: `monitor.child.pid`, `monitor.child.kill()`.
 */
class ChildProcessHandle {
  /**
   * @param {number} pid
   * @param {Monitor} monitor
   */
  constructor(pid, monitor) {
    /** The child's process id. */
    this.pid = pid;
    /** @type {Monitor} */
    this._monitor = monitor;
    Object.defineProperty(this, '_monitor', { value: monitor, enumerable: false });
  }

  /**
   * Sends `signal` (default `'SIGTERM'`) to the child alone; returns whether it was sent.
   * @param {string | number} [signal]
   */
  kill(signal = 'SIGTERM') {
    const number = checks().checkSignal('signal', signal);
    const monitor = this._monitor;
    if (!monitor._native || monitor.child !== this) return false;
    return monitor._native.signal(number) === null;
  }
}

/** Stream numbers the core knows `'stdout'`/`'stderr'` listeners by. */
const STREAMS = /** @type {const} */ ({ stdout: 1, stderr: 2 });

class Monitor extends EventEmitter {
  /**
   * @param {string|string[]} script the script to run, or a whole argv
   * @param {object} [options] forever-monitor's options
   */
  constructor(script, options) {
    super();
    const o = checks().normalizeOptions(script, options, Monitor.parseCommand);
    this.silent = o.silent;
    this.killTree = o.killTree;
    this.uid = o.uid;
    this.id = o.id;
    this.pidFile = o.pidFile;
    this.max = o.max;
    this.killTTL = o.killTTL;
    this.killSignal = o.killSignal;
    this.childExists = false;
    this.checkFile = o.checkFile;
    this.times = 0;
    this.warn = console.error;
    this.logFile = o.logFile;
    this.outFile = o.outFile;
    this.errFile = o.errFile;
    this.append = o.append;
    this.logTimestamps = o.logTimestamps;
    this.mergeLogs = o.mergeLogs;
    this.logMaxSize = o.logMaxSize;
    this.logMaxFiles = o.logMaxFiles;
    this.logRotate = o.logRotate;
    this.logRotateUtc = o.logRotateUtc;
    this.logCompress = o.logCompress;
    this.logMaxAge = o.logMaxAge;
    this.logDirect = o.logDirect;
    this.parser = o.parser;
    this.minUptime = o.minUptime;
    this.spinSleepTime = o.spinSleepTime;
    this.command = o.command;
    this.args = o.args;
    this.spawnWith = o.spawnWith;
    this.sourceDir = o.sourceDir;
    this.fork = o.fork;
    this.serialization = o.serialization;
    this.cwd = o.cwd;
    this.hideEnv = o.hideEnv;
    /** Extra variables for the child (forever-monitor's `_env`). */
    this._env = o.envVars;
    if (o.env !== undefined && o.env !== null) this.env = o.env;
    /** @type {Record<string, boolean>} */
    this._hideEnv = {};
    for (const key of this.hideEnv) this._hideEnv[key] = true;
    this.stdio = o.stdio;
    this.watch = o.watch;
    this.watchIgnoreDotFiles = o.watchIgnoreDotFiles;
    this.watchIgnorePatterns = o.watchIgnorePatterns;
    this.watchDirectory = o.watchDirectory;
    this.usePolling = o.usePolling;
    this.pollingInterval = o.pollingInterval;
    this.watchDebounce = o.watchDebounce;
    this.restartDelay = o.restartDelay;
    this.backoff = o.backoff;
    this.autorestart = o.autorestart;
    this.stopExitCodes = o.stopExitCodes;
    this.restartWindow = o.restartWindow;
    /** @type {boolean | undefined} */
    this.running = undefined;
    /** @type {ChildProcessHandle | undefined} */
    this.child = undefined;
    /** @type {number | undefined} */
    this.ctime = undefined;
    /** @type {boolean | undefined} */
    this.isMaster = undefined;
    /** @type {object | undefined} */
    this.childData = undefined;

    /** The last child's exit, for a stop during the wait before its restart. @type {{ spinning: boolean, code: number | null, signal: string | null } | undefined} */
    this._lastExit = undefined;
    /** The core's monitor, made on first use. @type {NativeMonitor | null} */
    this._native = null;
    /** The current supervision run; events of earlier runs no longer change the state. */
    this._run = 0;
    /** Whether anyone listens to each stream. */
    this._listening = { stdout: false, stderr: false };
    /** The killSignal as a number, as checked. */
    this._killSignal = o.killSignalNumber;
    for (const name of ['_native', '_run', '_listening', '_killSignal']) {
      Object.defineProperty(this, name, { enumerable: false });
    }

    if (this.watch) this._readIgnoreFiles();
    if (this.outFile !== undefined || this.errFile !== undefined) {
      // forever-monitor opens (and truncates) its log files in the constructor too; the
      // core does it in the background, never on this thread.
      try {
        this._nativeMonitor();
      } catch (err) {
        this._errorSoon(/** @type {Error} */ (err));
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
          error: /** @type {Error} */ (err).message,
        }));
      }
    }
  }

  /**
   * @param {'stdout' | 'stderr'} stream
   * @param {boolean} on
   */
  _setListening(stream, on) {
    this._listening[stream] = on;
    if (this._native) this._native.setListening(STREAMS[stream], on);
  }

  /** @returns {NativeMonitor} */
  _nativeMonitor() {
    if (!this._native) {
      const monitor = new (native().NativeMonitor)();
      this._native = monitor;
      for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
        if (this._listening[stream]) monitor.setListening(STREAMS[stream], true);
      }
      if (this.outFile !== undefined || this.errFile !== undefined) {
        const files = { outFile: this.outFile, errFile: this.mergeLogs ? this.outFile : this.errFile };
        monitor.setLogs(checks().logOptions(this, files), (failure) => this.emit('error', toError(failure)));
      }
    }
    return this._native;
  }

  /**
   * Closes and re-opens `outFile`/`errFile` (for an external logrotate), in the
   * background. Files that cannot be opened are reported as `'error'` events.
   */
  reopenLogs() {
    if (this._native) this._native.reopenLogs((failure) => this.emit('error', toError(failure)));
    return this;
  }

  /** @param {Error} err */
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
    let spec;
    try {
      spec = this._spawnSpec();
    } catch (err) {
      return this._errorSoon(/** @type {Error} */ (err));
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
      return this._errorSoon(/** @type {Error} */ (err));
    }
    if (result.error) return this._errorSoon(toError(result.error));

    this._run = run;
    this.ctime = result.ctime;
    this.child = new ChildProcessHandle(/** @type {number} */ (result.pid), this);
    this.running = true;
    this.isMaster = isPrimary();
    process.nextTick(() => this.emit(restart ? 'restart' : 'start', this, this.data));
    if (result.channelError) this._errorSoon(toError(result.channelError));
    return this;
  }

  /**
   * The command, as forever-monitor's `trySpawn` builds it; null when the script is missing.
   * @returns {NativeSpawnSpec | null}
   */
  _spawnSpec() {
    if (this.logDirect) checks().checkLogDirect(this);
    let run;
    try {
      run = this.parser(this.command, this.args.slice());
    } catch (err) {
      const wrapped = new Error(`The "parser" option threw: ${err && /** @type {Error} */ (err).message}`);
      wrapped.cause = err;
      throw wrapped;
    }
    if (!run || typeof run !== 'object' || typeof run.command !== 'string' || run.command === ''
      || !Array.isArray(run.args)) {
      throw new TypeError(`The "parser" option must return { command: string, args: string[] } for ${JSON.stringify(this.command)}. Received ${checks().describe(run)}`);
    }
    const args = checks().checkStrings('parser().args', run.args);
    checks().checkString('parser().command', run.command);

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
    const sw = /** @type {Record<string, any>} */ (this.spawnWith);

    let command = run.command;
    let argv = args;
    if (sw.shell) {
      const line = [command].concat(args).join(' ');
      command = typeof sw.shell === 'string' ? sw.shell : '/bin/sh';
      argv = ['-c', line];
    }
    let stdioOption = this.stdio !== null ? this.stdio : checks().isSet(sw.stdio) ? sw.stdio : 'pipe';
    if (this.fork && this.stdio === null) stdioOption = ['pipe', 'pipe', 'pipe', 'ipc'];
    const { stdio, ipc } = checks().normalizeStdio(this.stdio !== null ? 'stdio' : 'spawnWith.stdio', stdioOption);
    return {
      command,
      args: argv,
      argv0: checks().isSet(sw.argv0) ? sw.argv0 : undefined,
      cwd: sw.cwd,
      env: checks().checkEnv('env', sw.env),
      uid: checks().isSet(sw.uid) ? sw.uid : undefined,
      gid: checks().isSet(sw.gid) ? sw.gid : undefined,
      detached: sw.detached === true,
      stdio,
      channel: ipc === undefined ? undefined : { fd: ipc, serialization: this.serialization },
    };
  }

  /** @returns {NativeRunOptions} */
  _runOptions() {
    const max = this.max;
    return {
      max: max === undefined || max === Infinity ? undefined : Math.min(Math.ceil(max), 0xffffffff),
      minUptime: Math.round(this.minUptime),
      spinSleepTime: typeof this.spinSleepTime === 'number' ? Math.round(this.spinSleepTime) : undefined,
      killSignal: this._killSignal,
      killTree: this.killTree,
      killTTL: this.killTTL ? Math.round(this.killTTL) : undefined,
      toHost: !this.silent,
      ...checks().policyOptions(this),
      watch: this.watch ? {
        dirs: this._watchDirs(),
        ignoreDotFiles: this.watchIgnoreDotFiles,
        patterns: this.watchIgnorePatterns.slice(),
        usePolling: this.usePolling === true,
        pollingInterval: Math.round(this.pollingInterval || checks().DEFAULTS.pollingInterval),
        debounce: Math.round(this.watchDebounce),
      } : undefined,
    };
  }

  /**
   * Re-emits the core's events as forever-monitor's.
   * @param {NativeEvent} event
   * @param {number} run the supervision run it belongs to
   */
  _onNative(event, run) {
    // Events of an earlier run (reported after a new start) are still emitted, but no
    // longer change the monitor's state.
    const current = run === this._run;
    switch (event.type) {
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
        this._lastExit = { spinning: event.spinning, code, signal };
        if (event.restartIn === undefined || event.restartIn === null) {
          if (current) this.running = false;
          this.emit('exit', this, event.spinning, { reason: event.reason, code, signal });
        } else if (event.reason !== 'restart') {
          // An automatic restart (not one restart() or a file change asked for).
          this.emit('restarting', { reason: event.reason, delay: event.restartIn, attempt: event.attempt, code, signal });
        }
        if (event.requested) this.emit('stop', this.childData);
        break;
      }
      case 'end': {
        if (current) this.running = false;
        // A stop while a restart waited: the last child's exit is the one reported.
        const last = event.stopped ? this._lastExit : undefined;
        const info = { reason: event.stopped ? 'stopped' : 'error', code: last ? last.code : null, signal: last ? last.signal : null };
        // Stopped while waiting for a file change: its 'exit' was emitted when the child ended.
        if (!event.afterExit) this.emit('exit', this, !!(last && last.spinning), info);
        if (event.stopped) this.emit('stop', this.childData);
        break;
      }
      case 'error':
        this.emit('error', toError(event.error));
        break;
      case 'stdout':
      case 'stderr':
        this.emit(event.type, event.data);
        break;
      case 'disconnect':
        this.emit('disconnect');
        break;
      case 'watchRestart': {
        let stat;
        try {
          stat = fs.statSync(event.file);
        } catch (err) {
          stat = undefined;
        }
        this.emit('watch:restart', { file: event.file, stat });
        break;
      }
      case 'watchReady':
        this.emit('watch:ready');
        break;
      case 'watchError':
        this.emit('watch:error', { message: `Could not watch ${event.error.path || 'a directory'}.`, error: event.error.message });
        break;
      case 'messagesRead':
        break;
      default:
        break;
    }
  }

  /** forever-monitor's snapshot of this monitor and its child. */
  get data() {
    /** @type {Record<string, any>} */
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
    const self = /** @type {Record<string, any>} */ (this);
    for (const key of ['pidFile', 'outFile', 'errFile', 'env', 'cwd']) {
      if (self[key]) childData[key] = self[key];
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
    const failure = this._nativeMonitor().restart();
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
    const failure = this._nativeMonitor().kill(!!forceStop);
    if (failure !== null) return this._errorSoon(toError(failure));
    return this;
  }

  /** @param {string | Buffer} data */
  _onMessage(data) {
    let message;
    try {
      message = typeof data === 'string' ? JSON.parse(data) : advancedCodec().decode(data);
    } catch (cause) {
      const reason = /** @type {Error} */ (cause).message;
      const err = /** @type {Error & { code?: string }} */ (new Error(`The child sent a message that is not valid ${this.serialization === 'advanced' ? 'V8 serialization' : 'JSON'}: ${reason}`));
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
   * @param {unknown} message
   */
  send(message) {
    if (!this._native) return this._errorSoon(new Error(NOT_RUNNING_SEND));
    let payload;
    if (this.serialization === 'advanced') {
      try {
        payload = advancedCodec().encode(message);
      } catch (cause) {
        const err = /** @type {TypeError & { code?: string }} */ (new TypeError(`The "message" argument cannot be serialized: ${/** @type {Error} */ (cause).message}`));
        err.code = 'ERR_INVALID_ARG_TYPE';
        throw err;
      }
    } else {
      payload = JSON.stringify(message);
      if (payload === undefined) throw checks().typeError('message', 'serializable as JSON', message);
    }
    const failure = this._native.send(payload);
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') return this._errorSoon(new Error(NOT_RUNNING_SEND));
    return this._errorSoon(toError(failure));
  }

  /** The monitor as JSON. */
  toString() {
    return JSON.stringify(this);
  }

  /**
   * The environment for the child: the host's, less `hideEnv`, plus `env`.
   * @returns {Record<string, string | undefined>}
   */
  _getEnv() {
    /** @type {Record<string, string | undefined>} */
    const merged = {};
    for (const key of Object.keys(process.env)) {
      if (!this._hideEnv[key]) merged[key] = process.env[key];
    }
    for (const key of Object.keys(this._env)) merged[key] = this._env[key];
    return merged;
  }

  /** Panics the core's supervisor task (tests prove a panic never reaches Node). */
  _panicForTest() {
    const monitor = /** @type {NativeMonitor & { panicForTest?: () => void }} */ (this._nativeMonitor());
    if (typeof monitor.panicForTest !== 'function') {
      throw new Error('this build of forever-native has no test hooks (cargo feature "test-hooks")');
    }
    monitor.panicForTest();
  }

  /**
   * forever-monitor's default parser: splits `command` at its first unescaped space, so
   * `'node --expose-gc'` runs `node` with `--expose-gc` before `args`.
   * @param {string} command
   * @param {string[]} args
   * @returns {{command: string, args: string[]}|false}
   */
  static parseCommand(command, args) {
    const match = /(.*?[^\\])(?: (.*)|$)/.exec(command);
    if (!match) return false;
    return {
      command: match[1],
      args: match[2] ? match[2].split(' ').concat(args) : args,
    };
  }
}

// forever-monitor sets this so util.inspect does not call a method of that name.
/** @type {any} */ (Monitor.prototype).inspect = null;

function isPrimary() {
  // `isPrimary` from Node 16 on, `isMaster` before.
  const cluster = /** @type {{ isPrimary?: boolean, isMaster?: boolean }} */ (require('cluster'));
  return cluster.isPrimary !== undefined ? cluster.isPrimary : cluster.isMaster;
}

/**
 * Creates a monitor and starts it, as forever-monitor's `start()` does.
 * @param {string|string[]} script
 * @param {object} options
 */
function start(script, options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw checks().typeError('options', 'an object', options);
  const o = /** @type {Record<string, unknown>} */ (options);
  if (!o.uid) o.uid = checks().randomString(4).replace(/^-/, '_');
  return new Monitor(script, o).start();
}

/**
 * Sends `signal` (default `'SIGKILL'`) to `pid`, and with `killTree` to all its
 * descendants (read from /proc, no `ps`). `callback` runs once the signals are sent.
 * @param {number | string} pid
 * @param {boolean} [killTree]
 * @param {string | number} [signal]
 * @param {() => void} [callback]
 */
function kill(pid, killTree, signal, callback) {
  const number = checks().checkSignal('signal', signal || 'SIGKILL');
  const done = callback || function noop() {};
  if (typeof pid === 'string' && /^\d+$/.test(pid)) pid = Number(pid);
  if (typeof pid !== 'number' || !Number.isInteger(pid)) throw checks().typeError('pid', 'a positive integer', pid);
  // Linux pids fit in 31 bits; a larger number must not wrap onto another process.
  if (pid <= 0 || pid > 0x7fffffff) {
    const { rangeError } = require('./options.js');
    throw rangeError('pid', 'an integer from 1 to 2147483647', pid);
  }
  native().killProcess(pid, number, !!killTree);
  process.nextTick(done);
}

/**
 * Whether a process with this pid exists (and may be signalled).
 * @param {number} pid
 */
function checkProcess(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return false;
  }
}

/**
 * The CLI's status log (`--logFile`): written by the core on the calling thread, and
 * rotated, compressed and pruned with `monitor`'s log options. Not part of the public API.
 * @param {string} file
 * @param {Monitor} monitor
 * @param {(err: Error) => void} onError
 * @returns {{ write(text: string): void, reopen(): void }}
 */
function _openStatusLog(file, monitor, onError) {
  return new (native().NativeLogFile)(checks().logOptions(monitor, { outFile: file }), (failure) => onError(toError(failure)));
}

module.exports = { Monitor, start, kill, checkProcess, version };
Object.defineProperty(module.exports, '_openStatusLog', { value: _openStatusLog, enumerable: false });
