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

const { EventEmitter, errorMonitor } = require('events');
const fs = require('fs');
const path = require('path');
/** @type {typeof import('./options.js') | null} */
let optionsModule = null;
/**
 * The child's environment as the core takes it: every value a string, as Node's spawn
 * makes them (`${value}`; `undefined` leaves the variable out), so that a number put in
 * `monitor._env` after construction (`PORT = 3000`) or returned by a `_getEnv()` override
 * works as it did on forever-monitor.
 * @param {Record<string, unknown>} env
 * @returns {Record<string, string>}
 */
function envStrings(env) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const key of Object.keys(env)) {
    const value = env[key];
    if (value !== undefined) out[key] = typeof value === 'string' ? value : `${value}`;
  }
  return out;
}

/** The option checks, loaded with the first monitor, so that `require()` stays cheap. */
function checks() {
  if (optionsModule === null) optionsModule = require('./options.js');
  return optionsModule;
}

/** @typedef {import('./binding').NativeEvent} NativeEvent */
/** @typedef {import('./binding').NativeFailure} NativeFailure */
/** @typedef {import('./binding').NativeMonitor} NativeMonitor */
/** @typedef {import('./binding').NativeSpawnSpec} NativeSpawnSpec */
/** @typedef {import('./binding').NativeRunOptions} NativeRunOptions */
/** @typedef {import('./binding').NativeListening} NativeListening */

/** @type {typeof import('./emitter2.js') | null} */
let emitter2Module = null;
/**
 * EventEmitter2's API for monitors (forever-monitor's emitter), loaded on first use so that
 * `require()` stays cheap: matched on Node's EventEmitter and tested against EventEmitter2.
 */
function ee2() {
  if (emitter2Module === null) emitter2Module = require('./emitter2.js');
  return emitter2Module;
}

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

let drainAtExit = false;
/**
 * A host that calls `process.exit()` (in a `'stdout'` listener, say) must not lose what its
 * children wrote for its own stdout and stderr: the core's writers get to finish (at most
 * 0.5 s without progress). Hooked once, by the first monitor that copies output to the host.
 */
function drainHostOutputAtExit() {
  if (drainAtExit) return;
  drainAtExit = true;
  process.once('exit', () => {
    if (binding !== null) binding.drainHostOutput();
  });
}

/** @typedef {{ encode(message: unknown): Buffer, decode(buffer: Buffer): unknown }} Codec */
/**
 * @typedef {object} Usage What `usage()` gives.
 * @property {number | null} pid
 * @property {number | null} uptime
 * @property {number} restarts
 * @property {number | null} cpu
 * @property {number | null} rss
 * @property {number | null} treeRss
 * @property {number | null} treePids
 * @property {number | null} sampledAt
 * @property {'idle' | 'starting' | 'running' | 'stopping' | 'sleeping' | 'waiting'} state
 * @property {{ code: number | null, signal: string | null, at: number } | null} lastExit
 */
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
    write: /** @type {(this: object, object: object) => void} */ (
      /** @type {any} */ (v8.DefaultSerializer.prototype)._writeHostObject
    ),
    read: /** @type {(this: object) => unknown} */ (
      /** @type {any} */ (v8.DefaultDeserializer.prototype)._readHostObject
    ),
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
const isInternal = (message) =>
  message !== null &&
  typeof message === 'object' &&
  typeof message.cmd === 'string' &&
  message.cmd.length > 4 &&
  message.cmd.startsWith('NODE_');

/**
 * Builds an `Error` from a failure reported by the core, with Node's `code`, `errno`,
 * `syscall` and `path` fields when it came from a system call.
 * @param {NativeFailure} failure
 */
function toError(failure) {
  const err =
    /** @type {Error & { code?: string, errno?: number, syscall?: string, path?: string, address?: string, port?: number }} */ (
      new Error(failure.message)
    );
  err.code = failure.code;
  if (failure.errno !== undefined && failure.errno !== null) err.errno = failure.errno;
  if (failure.syscall) err.syscall = failure.syscall;
  if (failure.path) err.path = failure.path;
  if (failure.address) err.address = failure.address;
  if (failure.port !== undefined && failure.port !== null) err.port = failure.port;
  return err;
}

const NOT_RUNNING_SEND = 'Cannot send to process that is not running.';

/**
 * What each of the core's states (`native.state()`, the `NativeState` enum) means here:
 * whether the current child has ended as the core sees it (JS may not have heard yet),
 * and whether supervision is over. Every state of the enum has its line (tsc checks it).
 * @type {Readonly<Record<import('./binding').NativeState, { ended: boolean, over: boolean }>>}
 */
const STATES = Object.freeze({
  idle: { ended: true, over: true },
  starting: { ended: false, over: false },
  running: { ended: false, over: false },
  stopping: { ended: false, over: false },
  // Waiting to restart, or, with watch, for a file change: the child has ended.
  sleeping: { ended: true, over: false },
  waiting: { ended: true, over: false },
});

/**
 * Calls kept for an end the core has seen and JS has not heard of yet.
 * @typedef {{ restart: boolean, stop: boolean, forceStop: boolean, reject: ((err: Error) => void) | null }} AfterEnd
 */

/** Nothing kept. @returns {AfterEnd} */
function noneAfterEnd() {
  return { restart: false, stop: false, forceStop: false, reject: null };
}

/**
 * One supervision run as JS sees it: its current child's `ChildProcess` (the one the
 * run's output, messages and exits belong to), a reload's old children still running
 * (by pid), and how its children are spawned.
 * @typedef {{ child: ForeverChild, retired: Map<number, ForeverChild> | null, info: import('./child-process.js').SpawnInfo }} Cell
 */
/** @typedef {import('./child-process.js').ForeverChild} ForeverChild */
/** @typedef {{ run: number, result: import("./binding").NativeStart, cell: Cell }} Spawned */

/** @type {typeof import('./child-process.js') | null} */
let childModule = null;

/** @type {string | null} */
let hookOption = null;
/**
 * The `NODE_OPTIONS` words that preload listen-hook.js (`interceptListen`): its real path,
 * which is the `__filename` the hook takes itself out of `NODE_OPTIONS` by.
 * @returns {string}
 */
function listenHookOption() {
  if (hookOption === null) {
    hookOption = require('./child.js').requireOption(
      fs.realpathSync(path.join(__dirname, 'listen-hook.js')),
    );
  }
  return hookOption;
}

/**
 * `interceptListen` with `spawnWith.uid`/`gid`: throws when the child's user cannot read
 * the hook (a package under a 0700 home, say), which node would otherwise fail to preload
 * at every start. Judged by the mode bits of the file and of each directory above it, for
 * the child's uid and gid (their owner and group bits, else the others'); root reads
 * everything. Supplementary groups are not known here, so only a certain refusal throws.
 * @param {NativeSpawnSpec} spec
 */
function hookReadable(spec) {
  if (spec.uid === undefined && spec.gid === undefined) return;
  const uid = spec.uid === undefined ? process.getuid?.() : spec.uid;
  const gid = spec.gid === undefined ? process.getgid?.() : spec.gid;
  if (uid === 0) return;
  const file = fs.realpathSync(path.join(__dirname, 'listen-hook.js'));
  for (let at = file, last = ''; at !== last; last = at, at = path.dirname(at)) {
    let st;
    try {
      st = fs.statSync(at);
    } catch {
      return;
    }
    const bits = st.uid === uid ? st.mode >> 6 : st.gid === gid ? st.mode >> 3 : st.mode;
    const need = at === file ? 4 : 1;
    if ((bits & need) === 0) {
      throw toError({
        code: 'ERR_FOREVER_NATIVE_LISTEN_HOOK',
        message: `interceptListen: the child's user (uid ${uid}, gid ${gid}) cannot ${need === 4 ? 'read' : 'enter'} ${at}, so node could not preload ${file}: install forever-native where that user can read it`,
      });
    }
  }
}

/**
 * How a run's children are spawned, as their `ChildProcess` tells it.
 * @param {NativeSpawnSpec} spec
 * @param {boolean} logDirect the child writes its log files itself (no pipe)
 * @returns {import('./child-process.js').SpawnInfo}
 */
function spawnInfo(spec, logDirect) {
  const pipe = (/** @type {number} */ i) => spec.stdio[i] === 'pipe' && (i === 0 || !logDirect);
  return {
    spawnfile: spec.command,
    spawnargs: [spec.argv0 === undefined ? spec.command : spec.argv0, ...spec.args],
    pipes: [pipe(0), pipe(1), pipe(2)],
    ipc: spec.channel !== undefined,
  };
}

/** Stream numbers the core knows `'stdout'`/`'stderr'` listeners by. */
const STREAMS = /** @type {const} */ ({ stdout: 1, stderr: 2 });

/** Warning codes already given in this process. */
const warned = new Set();

/**
 * Emits a process warning once per `code`.
 * @param {string} code
 * @param {string} message
 */
function warnOnce(code, message) {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { code });
}

/**
 * The error of an awaitable call whose supervision ended before `what`.
 * @param {string | undefined} reason why it ended
 * @param {string} what
 */
function supervisionEnded(reason, what) {
  const err = /** @type {Error & { code?: string, reason?: string }} */ (
    new Error(`Supervision ended (${reason}) before ${what}.`)
  );
  err.code = 'ERR_SUPERVISION_ENDED';
  err.reason = reason;
  return err;
}

/**
 * The error an aborted `signal` option gives: its reason when that is an error, else an
 * `AbortError`.
 * @param {AbortSignal} signal
 * @returns {Error}
 */
function abortError(signal) {
  if (signal.reason instanceof Error) return signal.reason;
  const err = /** @type {Error & { code: string }} */ (new Error('The operation was aborted'));
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

/**
 * The monitors supervising under each `signal` option, and the one `'abort'` listener the
 * signal has for all of them (while any supervises). A monitor joins when it starts
 * supervising and leaves when supervision ends, so a signal never holds a monitor that is
 * not running, and shares one listener however many monitors use it.
 * @type {WeakMap<AbortSignal, { monitors: Set<MonitorPrototype>, listener: () => void }>}
 */
const abortWatches = new WeakMap();

/**
 * `monitor` supervises: its signal's abort stops it.
 * @param {MonitorPrototype} monitor
 * @param {AbortSignal} signal
 */
function watchAbort(monitor, signal) {
  if (signal.aborted) return;
  let watch = abortWatches.get(signal);
  if (!watch) {
    /** @type {Set<MonitorPrototype>} */
    const monitors = new Set();
    const listener = () => {
      abortWatches.delete(signal);
      for (const m of Array.from(monitors)) m._aborted();
      monitors.clear();
    };
    watch = { monitors, listener };
    abortWatches.set(signal, watch);
    signal.addEventListener('abort', listener, { once: true });
  }
  watch.monitors.add(monitor);
}

/**
 * `monitor` no longer supervises; the signal's listener goes with the last one.
 * @param {MonitorPrototype} monitor
 * @param {AbortSignal} signal
 */
function unwatchAbort(monitor, signal) {
  const watch = abortWatches.get(signal);
  if (!watch || !watch.monitors.delete(monitor) || watch.monitors.size > 0) return;
  abortWatches.delete(signal);
  signal.removeEventListener('abort', watch.listener);
}

/**
 * An awaitable call waiting for the monitor's events: `handle` sees each event emitted
 * while it waits, after the listeners.
 * @typedef {{ handle(event: string | symbol, args: any[]): void }} Waiter
 */

/**
 * A monitor's hook on its new listeners (`this` is the monitor).
 * @this {MonitorPrototype}
 * @param {string | symbol} name
 */
function onNewListener(name) {
  if (name === 'stdout' || name === 'stderr') this._setListening(name, true);
}

/**
 * A monitor's hook on its removed listeners (`this` is the monitor).
 * @this {MonitorPrototype}
 * @param {string | symbol} name
 */
function onRemoveListener(name) {
  if (name === 'stdout' || name === 'stderr')
    this._setListening(name, this.listenerCount(name) > 0);
}

/**
 * The methods and accessors of `Monitor.prototype` (a class only to write them; `Monitor`
 * below is the constructor, and this class is never constructed).
 */
/**
 * A monitor's fields, all set by `_init` (the body of the `Monitor` constructor function:
 * TypeScript sees them here, since this class has no constructor of its own).
 * @typedef {Omit<import('./options.js').MonitorFields, 'shutdownMessage'> & {
 *   env?: unknown, shutdownMessage?: unknown, _hideEnv: Record<string, boolean>,
 *   _waiters: Set<Waiter>, _custom: Record<'stdout' | 'stderr', any>, _listening: Record<'stdout' | 'stderr', boolean>,
 *   _childStreams: number, _childReadables?: Set<import('stream').Readable>, _afterEnd: AfterEnd, _reloadWaiters: number,
 *   _spawning: { restart: boolean, done: Spawned | null } | null, _run: number,
 *   _cell: Cell | null, _native: NativeMonitor | null,
 *   _rejectNext: ((err: Error) => void) | null, _childUp: boolean,
 *   _lastExit: { spinning: boolean, code: number | null, signal: string | null } | undefined,
 *   times: number, warn: (...args: unknown[]) => void, childExists: boolean,
 *   running: boolean | undefined, child: ForeverChild | undefined, ctime: number | undefined,
 *   isMaster: boolean | undefined, childData: object | undefined }} Fields
 */
const FieldsBase = /** @type {new () => EventEmitter & Fields} */ (
  /** @type {unknown} */ (EventEmitter)
);

class MonitorPrototype extends FieldsBase {
  /**
   * The body of `Monitor`: sets up a monitor's fields from `script` and `options`.
   * @param {string|string[]} script the script to run, or a whole argv
   * @param {object} [options] forever-monitor's options
   */
  _init(script, options) {
    /**
     * The awaitable calls waiting (`startAsync()`, …): they hear the events through
     * `emit()`, not as listeners, so any number may wait. @type {Set<Waiter>}
     */
    this._waiters = new Set();
    Object.defineProperty(this, '_waiters', { enumerable: false });
    // The options, checked and completed by the catalogue, become the monitor's fields
    // (forever-monitor's names and defaults): the core gets them from there at each start.
    const { fields, values: o } = checks().construct(script, options, Monitor.parseCommand);
    checks().assignFields(this, fields);
    // forever-monitor keeps the `env` option as given beside its `_env`, when it is given.
    const rawEnv = options ? /** @type {Record<string, unknown>} */ (options).env : undefined;
    if (rawEnv !== undefined && rawEnv !== null) this.env = rawEnv;
    this.childExists = false;
    this.times = 0;
    this.warn = console.error;
    /** @type {Record<string, boolean>} */
    this._hideEnv = {};
    for (const key of this.hideEnv) this._hideEnv[key] = true;
    /** @type {boolean | undefined} */
    this.running = undefined;
    /** The current run's child, a `ChildProcess` as code written for forever-monitor uses it. @type {ForeverChild | undefined} */
    this.child = undefined;
    /** @type {number | undefined} */
    this.ctime = undefined;
    /** @type {boolean | undefined} */
    this.isMaster = undefined;
    /** @type {object | undefined} */
    this.childData = undefined;

    /** The last child's exit, for a stop during the wait before its restart. @type {{ spinning: boolean, code: number | null, signal: string | null } | undefined} */
    this._lastExit = undefined;
    /** Where an error raised inside an awaitable call goes (at once). @type {((err: Error) => void) | null} */
    this._rejectNext = null;
    /** `reloadAsync()` calls waiting: a failed reload rejects them instead of emitting `'error'`. */
    this._reloadWaiters = 0;
    /** The core's monitor, made on first use. @type {NativeMonitor | null} */
    this._native = null;
    /** The current supervision run; events of earlier runs no longer change the state. */
    this._run = 0;
    /** The current child is up as far as JS has heard (its end not reported yet). */
    this._childUp = false;
    /**
     * Calls made after the core saw the child end but before JS heard of it, carried out
     * when the end is reported (see `_endUnheard`). @type {AfterEnd}
     */
    this._afterEnd = noneAfterEnd();
    /** Whether anyone listens to each stream. */
    this._listening = { stdout: false, stderr: false };
    /**
     * The children's streams, as bits: 1 and 2 once a child's stdout or stderr was made
     * (each child's output for it comes to JS from then on), 4 and 8 while the current
     * child's is full and unread.
     */
    this._childStreams = 0;
    /** The current supervision run (its children). @type {Cell | null} */
    this._cell = null;
    /** A start under way: whether it reports a restart, and what trySpawn() spawned. @type {{ restart: boolean, done: Spawned | null } | null} */
    this._spawning = null;
    /** forever-monitor's custom output streams (`options.stdout`, with `outFile`). */
    /** @param {unknown} s */
    const writable = (s) =>
      !!s && typeof s === 'object' && typeof (/** @type {any} */ (s).write) === 'function';
    this._custom = {
      stdout: this.outFile !== undefined && writable(o.stdout) ? o.stdout : undefined,
      stderr: this.errFile !== undefined && writable(o.stderr) ? o.stderr : undefined,
    };
    for (const name of [
      '_native',
      '_run',
      '_listening',
      '_childStreams',
      '_cell',
      '_spawning',
      '_custom',
      '_reloadWaiters',
    ]) {
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
    this._hookListeners();
    for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
      if (this._custom[stream]) this._pipeTo(stream);
    }
  }

  /**
   * EventEmitter2's `emit()`, as forever-monitor's monitors had it: `onAny` listeners hear
   * every event first, and `event` names the event being emitted.
   * @param {string | symbol} event
   * @param {...any} args
   * @returns {boolean}
   */
  emit(event, ...args) {
    const all = /** @type {{ _all?: unknown[] }} */ (this)._all;
    if (all !== undefined && all.length !== 0)
      return ee2().emit(
        /** @type {any} */ (this),
        MonitorPrototype.prototype._emitNode,
        event,
        args,
      );
    if (
      event !== 'newListener' &&
      event !== 'removeListener' &&
      event !== errorMonitor &&
      this.listenerCount(event) !== 0
    ) {
      /** @type {any} */ (this).event = event;
    }
    return this._emitNode(event, ...args);
  }

  /**
   * EventEmitter's `emit()`; the awaitable calls waiting then hear the event too (those
   * waiting when it was emitted, as listeners would be).
   * @param {string | symbol} event
   * @param {...any} args
   * @returns {boolean}
   */
  _emitNode(event, ...args) {
    const waiters = this._waiters;
    if (waiters === undefined || waiters.size === 0) return super.emit(event, ...args);
    const waiting = Array.from(waiters);
    try {
      return super.emit(event, ...args);
    } finally {
      for (const waiter of waiting) {
        if (waiters.has(waiter)) waiter.handle(event, args);
      }
    }
  }

  /**
   * Follows the `'stdout'`/`'stderr'` listeners (the core hands output to JS only for
   * them), with hooks shared by every monitor; adds those that are missing.
   */
  _hookListeners() {
    if (!this.listeners('newListener').includes(onNewListener))
      this.on('newListener', onNewListener);
    if (!this.listeners('removeListener').includes(onRemoveListener))
      this.on('removeListener', onRemoveListener);
  }

  /**
   * EventEmitter's `removeAllListeners()`: the monitor's own hooks on its listeners stay
   * (forever-monitor's emitter had none to lose, so code calls this freely).
   * @param {string | symbol} [event]
   * @returns {this}
   */
  removeAllListeners(event) {
    if (arguments.length === 0) super.removeAllListeners();
    else super.removeAllListeners(event);
    if (arguments.length === 0 || event === 'newListener' || event === 'removeListener')
      this._hookListeners();
    this._setListening('stdout', this.listenerCount('stdout') > 0);
    this._setListening('stderr', this.listenerCount('stderr') > 0);
    return this;
  }

  /**
   * EventEmitter's `on()`; with EventEmitter2's `options` (`async`, `promisify`,
   * `nextTick`, `objectify`) as its third argument, EventEmitter2's.
   * @param {string | symbol} event
   * @param {(...args: any[]) => void} listener
   * @param {unknown} [options]
   * @returns {this}
   */
  on(event, listener, options) {
    if (options === undefined) return super.on(event, listener);
    return /** @type {this} */ (
      ee2().listen(
        /** @type {any} */ (this),
        EventEmitter.prototype.on,
        event,
        listener,
        options,
        false,
      )
    );
  }

  /**
   * EventEmitter's `addListener()` (the same as `on()`).
   * @param {string | symbol} event
   * @param {(...args: any[]) => void} listener
   * @param {unknown} [options]
   * @returns {this}
   */
  addListener(event, listener, options) {
    return this.on(event, listener, options);
  }

  /**
   * EventEmitter's `prependListener()`, or EventEmitter2's with `options`.
   * @param {string | symbol} event
   * @param {(...args: any[]) => void} listener
   * @param {unknown} [options]
   * @returns {this}
   */
  prependListener(event, listener, options) {
    if (options === undefined) return super.prependListener(event, listener);
    return /** @type {this} */ (
      ee2().listen(
        /** @type {any} */ (this),
        EventEmitter.prototype.prependListener,
        event,
        listener,
        options,
        true,
      )
    );
  }

  /**
   * EventEmitter's `once()`, or EventEmitter2's with `options`.
   * @param {string | symbol} event
   * @param {(...args: any[]) => void} listener
   * @param {unknown} [options]
   * @returns {this}
   */
  once(event, listener, options) {
    if (options === undefined) return super.once(event, listener);
    return /** @type {this} */ (
      ee2().listen(
        /** @type {any} */ (this),
        EventEmitter.prototype.on,
        event,
        listener,
        options,
        false,
        1,
      )
    );
  }

  /**
   * EventEmitter's `prependOnceListener()`, or EventEmitter2's with `options`.
   * @param {string | symbol} event
   * @param {(...args: any[]) => void} listener
   * @param {unknown} [options]
   * @returns {this}
   */
  prependOnceListener(event, listener, options) {
    if (options === undefined) return super.prependOnceListener(event, listener);
    return /** @type {this} */ (
      ee2().listen(
        /** @type {any} */ (this),
        EventEmitter.prototype.prependListener,
        event,
        listener,
        options,
        true,
        1,
      )
    );
  }

  /**
   * forever-monitor's `options.stdout`/`options.stderr` (with `outFile`/`errFile`): a
   * writable stream of the caller's takes the place of the file, as `monitor.stdout` or
   * `monitor.stderr`, until supervision ends (it is then destroyed, as there).
   * @param {'stdout' | 'stderr'} stream
   */
  _pipeTo(stream) {
    const self = /** @type {Record<string, any>} */ (this);
    self[stream] = this._custom[stream];
    this.on(stream, (data) => {
      const sink = self[stream];
      if (sink && typeof sink.write === 'function') sink.write(data);
    });
    this.on('exit', () => {
      const sink = self[stream];
      if (sink && typeof sink.destroy === 'function') sink.destroy();
      self[stream] = null;
    });
  }

  /** forever-monitor's `.foreverignore`: patterns read from each watched directory. */
  _readIgnoreFiles() {
    for (const dir of checks().watchDirs(this)) {
      try {
        const text = fs.readFileSync(path.join(dir, '.foreverignore'), 'utf8');
        this.watchIgnorePatterns.push(...text.split('\n').filter(Boolean));
      } catch (err) {
        process.nextTick(() =>
          this.emit('watch:error', {
            message: 'Could not read .foreverignore file.',
            error: /** @type {Error} */ (err).message,
          }),
        );
      }
    }
  }

  /**
   * @param {'stdout' | 'stderr'} stream
   * @param {boolean} on
   */
  _setListening(stream, on) {
    this._listening[stream] = on;
    this._applyListening(stream);
  }

  /**
   * Tells the core whether JS wants `stream`: for the monitor's listeners, or for the
   * children's streams once one was read.
   * @param {'stdout' | 'stderr'} stream
   */
  _applyListening(stream) {
    if (this._native) this._native.setListening(STREAMS[stream], this._wantsOutput(stream));
  }

  /** A new child: its streams are not full yet. */
  _unstall() {
    if (this._childStreams <= 3) return;
    this._childStreams &= 3;
    this._applyListening('stdout');
    this._applyListening('stderr');
  }

  /**
   * Whether JS wants `stream` from the core: for the monitor's listeners (`onAny` ones
   * too), or for the children's streams once one was read (unless the current one is full
   * and unread).
   * @param {'stdout' | 'stderr'} stream
   * @returns {boolean}
   */
  _wantsOutput(stream) {
    const all = /** @type {{ _all?: unknown[] }} */ (/** @type {unknown} */ (this))._all;
    return (
      this._listening[stream] ||
      (all !== undefined && all.length !== 0) ||
      (this._childStreams & (STREAMS[stream] | (STREAMS[stream] << 2))) === STREAMS[stream]
    );
  }

  /** @returns {NativeMonitor} */
  _nativeMonitor() {
    if (!this._native) {
      const monitor = new (native().NativeMonitor)();
      this._native = monitor;
      for (const stream of /** @type {const} */ (['stdout', 'stderr'])) {
        if (this._wantsOutput(stream)) monitor.setListening(STREAMS[stream], true);
      }
      const outFile = this._custom.stdout ? undefined : this.outFile;
      const errFile = this._custom.stderr
        ? undefined
        : this.mergeLogs
          ? this.outFile
          : this.errFile;
      if (outFile !== undefined || errFile !== undefined) {
        monitor.setLogs(checks().logOptions(this, { outFile, errFile }), (failure) =>
          this.emit('error', toError(failure)),
        );
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

  /**
   * Emits `'error'` on the next tick, as forever-monitor does.
   * @param {Error} err
   */
  _errorSoon(err) {
    // Raised inside an awaitable call: its promise rejects instead, and stops waiting now,
    // so an event already on its way (the 'start' of a start under way) cannot settle it.
    const reject = this._rejectNext;
    if (reject) {
      this._rejectNext = null;
      reject(err);
      return this;
    }
    process.nextTick(() => this.emit('error', err));
    return this;
  }

  /**
   * Starts the child. Returns the monitor; `'start'` (or `'restart'`) follows
   * asynchronously, and failures arrive as `'error'`.
   * @param {boolean} [restart] report the start as a restart
   */
  start(restart) {
    const abort = this._abortSignal;
    if (abort && abort.aborted) return this._errorSoon(abortError(abort));
    // The child has ended and JS has not heard yet: forever-monitor, which still took it
    // for running, refused a start, and so does this (its end is reported next).
    if (!restart && this._endUnheard()) {
      return this._errorSoon(
        toError({
          code: 'ERR_ALREADY_RUNNING',
          message: 'Cannot start process that is already running.',
        }),
      );
    }
    this._spawning = { restart: !!restart, done: null };
    let child;
    /** @type {Error | null} */
    let thrown = null;
    try {
      child = this.trySpawn();
    } catch (err) {
      thrown = /** @type {Error} */ (err);
    }
    const spawned = this._spawning.done;
    this._spawning = null;
    if (spawned === null) {
      if (thrown !== null) return this._errorSoon(thrown);
      if (!child)
        return this._errorSoon(new Error('Target script does not exist: ' + this.args[0]));
      // An override of trySpawn() that spawned a child of its own: the core cannot supervise it.
      return this._errorSoon(
        toError({
          code: 'ERR_FOREVER_NATIVE_TRYSPAWN',
          message:
            'trySpawn() returned a child that Monitor.prototype.trySpawn() did not spawn: an override must call it (the core spawns and supervises the child).',
        }),
      );
    }
    const { run, result, cell } = spawned;
    this._run = run;
    this._unstall();
    this._cell = cell;
    // What was asked of an earlier run's end is moot once a new run began.
    this._afterEnd = noneAfterEnd();
    this._childUp = true;
    if (abort) watchAbort(this, abort);
    if (!this.silent) drainHostOutputAtExit();
    this.ctime = result.ctime;
    // forever-monitor's `this.child = child`: what trySpawn() returned (an override may wrap it).
    this.child = /** @type {ForeverChild} */ (child || cell.child);
    this.running = true;
    this.isMaster = isPrimary();
    process.nextTick(() => this.emit(restart ? 'restart' : 'start', this, this.data));
    if (result.channelError) this._errorSoon(toError(result.channelError));
    // An override that threw after the spawn: the child runs (and is supervised); the
    // error is reported.
    if (thrown !== null) this._errorSoon(thrown);
    return this;
  }

  /**
   * forever-monitor's hook, called by `start()` (and `restart()` of a stopped monitor) to
   * spawn the child: returns its `ChildProcess`, or false when the script does not exist.
   * An override may wrap or log the spawn, and must call this one. The restarts the core
   * makes by itself do not call it: they never wait for JavaScript.
   * @returns {ForeverChild | false}
   */
  trySpawn() {
    const spawning = this._spawning;
    if (spawning === null)
      throw new Error('trySpawn() spawns for start(): call start() or restart() instead.');
    if (spawning.done !== null) return spawning.done.cell.child;
    // The fields, read again through the catalogue: they may have changed since new Monitor().
    const values = checks().atStart(this);
    const spec = this._spawnSpec(values);
    if (spec === null) return false;
    const options = checks().runOptions(values, {
      encode: (message, name) => this._encode(message, name),
      ipc: spec.channel !== undefined,
    });
    if (options.run.listen) options.run.listen = this._listenFor(options.run.listen);
    // What the child helper (`forever-native/child`) needs to know, beside the variables
    // the user sees in spawnWith.env.
    for (const name of Object.keys(options.env)) {
      if (spec.env === values.spawnWith.env) spec.env = { ...spec.env };
      spec.env[name] = options.env[name];
    }
    // interceptListen: the hook that gives the app's own listen() the held sockets, preloaded
    // before whatever NODE_OPTIONS the child already has.
    if (options.env.FOREVER_LISTEN_PORTS !== undefined) {
      hookReadable(spec);
      const before = spec.env.NODE_OPTIONS;
      spec.env.NODE_OPTIONS = before ? `${listenHookOption()} ${before}` : listenHookOption();
    }
    const run = this._run + 1;
    /** @type {Cell} */
    const cell = {
      child: /** @type {any} */ (null),
      retired: null,
      info: spawnInfo(spec, this.logDirect),
    };
    const result = this._nativeMonitor().start(
      spec,
      options.run,
      spawning.restart,
      (event) => {
        this._onNative(event, run, cell);
      },
      (data) => {
        this._onMessage(data, cell);
      },
    );
    if (result.error) throw toError(result.error);
    cell.child = this._newChild(/** @type {number} */ (result.pid), cell);
    spawning.done = { run, result, cell };
    return cell.child;
  }

  /**
   * The `listen` sockets as the core binds them: as given. A `Group`'s instance shares them
   * with the other instances (group.js overrides this).
   * @param {import('./binding').NativeListen[]} listen
   * @returns {import('./binding').NativeListen[]}
   */
  _listenFor(listen) {
    return listen;
  }

  /**
   * A new `ChildProcess` for a run's child.
   * @param {number} pid
   * @param {Cell} cell
   * @param {boolean} [respawned] spawned by the core on its own
   * @returns {ForeverChild}
   */
  _newChild(pid, cell, respawned = false) {
    if (childModule === null) childModule = require('./child-process.js');
    return new childModule.ForeverChild(this, pid, cell.info, respawned);
  }

  /** @param {ForeverChild} child @returns {boolean} whether it is the current run's current child */
  _childIsCurrent(child) {
    return this._cell !== null && this._cell.child === child && this._childUp;
  }

  /**
   * Signals `child` if it is still the core's current child (the core may have replaced it
   * before JS heard: then nothing is sent).
   * @param {ForeverChild} child
   * @param {number} signal
   * @returns {boolean} whether it was sent
   */
  _childSignal(child, signal) {
    return this._native !== null && this._native.signal(signal, child.pid) === null;
  }

  /** @param {ForeverChild} child a reload's old child, still running @param {number} signal @returns {boolean} */
  _childSignalRetired(child, signal) {
    return native().killProcess(child.pid, signal, false) === null;
  }

  /**
   * Sends `message` to `child` if it is still the core's current child.
   * @param {ForeverChild} child
   * @param {unknown} message
   * @returns {NativeFailure | null}
   */
  _childSend(child, message) {
    return /** @type {NativeMonitor} */ (this._native).send(
      this._encode(message, 'message'),
      child.pid,
    );
  }

  /** A child's stream was made: every child's output for it comes to JS from now on. @param {1 | 2} index */
  _childWantOutput(index) {
    this._childStreams |= index;
    this._applyListening(index === 1 ? 'stdout' : 'stderr');
  }

  /** The current child's stream is full and unread (or read again). @param {1 | 2} index @param {boolean} stalled */
  _childStall(index, stalled) {
    if (stalled) this._childStreams |= index << 2;
    else this._childStreams &= ~(index << 2);
    this._applyListening(index === 1 ? 'stdout' : 'stderr');
  }

  /**
   * @param {number} pid
   * @param {Buffer} data
   * @param {(failure: NativeFailure | null | undefined) => void} done
   * @returns {NativeFailure | null}
   */
  _childWriteStdin(pid, data, done) {
    return /** @type {NativeMonitor} */ (this._native).writeStdin(pid, data, done);
  }

  /** @param {number} pid @returns {NativeFailure | null} */
  _childEndStdin(pid) {
    return /** @type {NativeMonitor} */ (this._native).endStdin(pid);
  }

  /** Closes `child`'s IPC channel if it is still the core's current child. @param {ForeverChild} child */
  _childDisconnect(child) {
    if (this._native !== null) this._native.disconnect(child.pid);
  }

  /**
   * Bytes the other streams of this monitor's children hold unread: one bound covers them
   * all, so children piped to a sink that stopped cannot each keep their own.
   * @param {import('stream').Readable} except
   * @returns {number}
   */
  _childUnreadElsewhere(except) {
    let bytes = 0;
    if (this._childReadables !== undefined) {
      for (const readable of this._childReadables)
        if (readable !== except) bytes += readable.readableLength;
    }
    return bytes;
  }

  /**
   * A child's stream was made: it counts toward the monitor's unread bound until it closes.
   * @param {import('stream').Readable} readable
   */
  _childReadableMade(readable) {
    if (this._childReadables === undefined) {
      Object.defineProperty(this, '_childReadables', { value: new Set(), enumerable: false });
    }
    const readables = /** @type {Set<import('stream').Readable>} */ (this._childReadables);
    readables.add(readable);
    readable.once('close', () => readables.delete(readable));
  }

  /** @param {NativeFailure} failure @returns {Error} */
  _childToError(failure) {
    return toError(failure);
  }

  /** @param {string} name @param {unknown} value @returns {number} */
  _childCheckSignal(name, value) {
    return checks().checkSignal(name, value);
  }

  /**
   * The command, as forever-monitor's `trySpawn` builds it, from a start's options; null
   * when the script is missing.
   * @param {Record<string, any>} values the options, as {@link trySpawn} read them
   * @returns {NativeSpawnSpec | null}
   */
  _spawnSpec(values) {
    let run;
    try {
      run = values.parser.call(this, values.command, values.args);
    } catch (err) {
      const wrapped = new Error(
        `The "parser" option threw: ${err && /** @type {Error} */ (err).message}`,
      );
      wrapped.cause = err;
      throw wrapped;
    }
    if (
      !run ||
      typeof run !== 'object' ||
      typeof run.command !== 'string' ||
      run.command === '' ||
      !Array.isArray(run.args)
    ) {
      throw new TypeError(
        `The "parser" option must return { command: string, args: string[] } for ${JSON.stringify(values.command)}. Received ${checks().describe(run)}`,
      );
    }
    const args = checks().checkStrings('parser().args', run.args);
    checks().checkString('parser().command', run.command);

    if (/[^\w]node$/.test(values.command) && values.checkFile && !this.childExists) {
      try {
        fs.statSync(values.args[0]);
        this.childExists = true;
      } catch {
        return null;
      }
    }

    // forever-monitor fills these in on the spawnWith object itself; one that cannot take
    // them (frozen, sealed) is copied, where forever-monitor's sloppy-mode stores were
    // silently lost.
    const given = /** @type {Record<string, any>} */ (values.spawnWith);
    const sw = Object.isExtensible(given) && !Object.isFrozen(given) ? given : { ...given };
    sw.cwd = sw.cwd || values.cwd;
    sw.env = this._getEnv();

    let command = run.command;
    let argv = args;
    if (sw.shell) {
      const line = [command].concat(args).join(' ');
      command = typeof sw.shell === 'string' ? sw.shell : '/bin/sh';
      argv = ['-c', line];
    }
    const { stdio, ipc } = checks().stdioOf(/** @type {any} */ (values));
    return {
      command,
      args: argv,
      argv0: sw.argv0 === undefined || sw.argv0 === null ? undefined : sw.argv0,
      cwd: sw.cwd,
      env: envStrings(sw.env),
      uid: sw.uid === undefined || sw.uid === null ? undefined : sw.uid,
      gid: sw.gid === undefined || sw.gid === null ? undefined : sw.gid,
      detached: Boolean(sw.detached),
      stdio,
      channel: ipc === undefined ? undefined : { fd: ipc, serialization: values.serialization },
    };
  }

  /**
   * Re-emits the core's events as forever-monitor's.
   * @param {NativeEvent} event
   * @param {number} run the supervision run it belongs to
   * @param {Cell} cell that run's children
   */
  _onNative(event, run, cell) {
    // Events of an earlier run (reported after a new start) are still emitted, but no
    // longer change the monitor's state.
    const current = run === this._run;
    switch (event.type) {
      case 'start': {
        // A reload's new child took over while the old one still runs: the old one's
        // ChildProcess tells its end when the reload is done.
        const old = cell.child;
        if (old && old.exitCode === null && old.signalCode === null) {
          if (cell.retired === null) cell.retired = new Map();
          cell.retired.set(old.pid, old);
        }
        cell.child = this._newChild(event.pid, cell, true);
        if (current) this._unstall();
        if (current) {
          this._childUp = true;
          this.ctime = event.ctime;
          this.child = cell.child;
          this.running = true;
        }
        this.emit(event.restart ? 'restart' : 'start', this, this.data);
        break;
      }
      case 'exit': {
        const code = event.code === undefined ? null : event.code;
        const signal = event.signal === undefined ? null : event.signal;
        // The child's fields tell its end to the monitor's listeners; its own 'exit' comes
        // after their 'exit:code' and 'exit' (forever-monitor's listener on the child came
        // first) and before 'stop' (forever-monitor's came last).
        const child = cell.child;
        child._settle(code, signal);
        const tell = () => child._exited(code, signal);
        this._onExit(event, current, code, signal, tell);
        tell();
        break;
      }
      case 'end': {
        const after = current ? this._takeAfterEnd() : noneAfterEnd();
        if (current) {
          this._childUp = false;
          this.running = false;
          this._supervisionEnded();
        }
        // A stop while a restart waited: the last child's exit is the one reported.
        const last = event.stopped ? this._lastExit : undefined;
        const info = {
          reason: event.stopped ? 'stopped' : 'error',
          code: last ? last.code : null,
          signal: last ? last.signal : null,
        };
        // Stopped while waiting for a file change: its 'exit' was emitted when the child ended.
        if (!event.afterExit) this.emit('exit', this, !!(last && last.spinning), info);
        if (event.stopped) this.emit('stop', this.childData);
        // Calls made after the end and before this report (a restart, after an error).
        if (after.stop || after.restart || after.forceStop)
          this._carryOut(after, event.stopped, event.stopped);
        break;
      }
      case 'error':
        this.emit('error', toError(event.error));
        break;
      case 'stdout':
      case 'stderr':
        this.emit(event.type, event.data);
        if (this._childStreams & STREAMS[event.type])
          cell.child._output(STREAMS[event.type], event.data);
        break;
      case 'disconnect':
        this.emit('disconnect');
        cell.child._disconnected();
        break;
      case 'watchRestart': {
        let stat;
        try {
          stat = fs.statSync(event.file);
        } catch {
          stat = undefined;
        }
        this.emit('watch:restart', { file: event.file, stat });
        break;
      }
      case 'watchReady':
        this.emit('watch:ready');
        break;
      case 'ready':
        this.emit('ready', this, this.data);
        break;
      case 'watchError':
        this.emit('watch:error', {
          message: `Could not watch ${event.error.path || 'a directory'}.`,
          error: event.error.message,
        });
        break;
      case 'reloadStarting':
        this.emit('reload', { phase: 'starting', oldPid: event.oldPid, newPid: event.newPid });
        break;
      case 'reloadReady':
        this.emit('reload', { phase: 'ready', oldPid: event.oldPid, newPid: event.newPid });
        break;
      case 'reloadDone': {
        const old = cell.retired === null ? undefined : cell.retired.get(event.oldPid);
        if (old !== undefined) {
          /** @type {Map<number, ForeverChild>} */ (cell.retired).delete(event.oldPid);
          old._exited(event.code ?? null, event.signal ?? null);
        }
        if (current) this.times = event.times;
        this.emit('reload', {
          phase: 'done',
          oldPid: event.oldPid,
          newPid: event.newPid,
          code: event.code ?? null,
          signal: event.signal ?? null,
        });
        break;
      }
      case 'reloadFailed': {
        const error = event.error ? toError(event.error) : undefined;
        /** @type {Record<string, unknown>} */
        const info = {
          phase: 'failed',
          oldPid: event.oldPid,
          newPid: event.newPid ?? null,
          reason: event.reason,
          code: event.code ?? null,
          signal: event.signal ?? null,
        };
        if (error) {
          /** @type {Error & { reason?: string }} */ (error).reason = event.reason;
          info.error = error;
        }
        // Awaited by reloadAsync(): its promise rejects with the error instead.
        const awaited = this._reloadWaiters > 0;
        this.emit('reload', info);
        if (error && !awaited) this.emit('error', error);
        break;
      }
      case 'messagesRead':
        break;
      default:
        break;
    }
  }

  /**
   * Reports a child's exit as forever-monitor did (`'exit:code'`, then `'exit'` when the run
   * ends, `'restarting'` before an automatic restart, `'stop'` for a requested one), and
   * carries out the calls kept for it.
   * @param {Extract<NativeEvent, { type: 'exit' }>} event
   * @param {boolean} current the event belongs to the current run
   * @param {number | null} code
   * @param {string | null} signal
   * @param {() => void} tell reports the exit on the child's own object: before `'stop'`,
   *   as forever-monitor's `'stop'` listener on the child came after the others
   */
  _onExit(event, current, code, signal, tell) {
    this.emit('exit:code', code, signal);
    // As forever-monitor cleared them before its 'exit' or restart; set only once asked for.
    if (/** @type {any} */ (this).forceStop !== undefined)
      /** @type {any} */ (this).forceStop = false;
    if (/** @type {any} */ (this).forceRestart !== undefined)
      /** @type {any} */ (this).forceRestart = false;
    if (current) this.times = event.times;
    this._lastExit = { spinning: event.spinning, code, signal };
    if (current) this._childUp = false;
    // Calls made after the end and before this report, carried out now.
    const after = current ? this._takeAfterEnd() : noneAfterEnd();
    const stopped = event.reason === 'stopped';
    let carried = false;
    if (event.restartIn === undefined || event.restartIn === null) {
      // A restart asked for meanwhile goes on with the run: no 'exit' between.
      if (after.restart && !after.forceStop && !stopped) {
        tell();
        if (event.requested) this.emit('stop', this.childData);
        this._carryOut(after, !!event.requested, false);
        // It could not start (its error is reported): the run ends after all.
        if (this.running) return;
        carried = true;
      }
      if (current) this.running = false;
      // With watch, a run that gave up waits for a file change: it ends with 'end'.
      if (current && (!this.watch || stopped)) this._supervisionEnded();
      this.emit('exit', this, event.spinning, { reason: event.reason, code, signal });
    } else if (event.reason !== 'restart') {
      // An automatic restart (not one restart() or a file change asked for).
      /** @type {Record<string, unknown>} */
      const info = {
        reason: event.reason,
        delay: event.restartIn,
        attempt: event.attempt,
        code,
        signal,
      };
      if (event.rss !== undefined && event.rss !== null) info.rss = event.rss;
      this.emit('restarting', info);
    }
    if (carried) return;
    tell();
    if (event.requested) this.emit('stop', this.childData);
    if (after.stop || after.restart || after.forceStop)
      this._carryOut(after, !!event.requested, stopped);
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
    // forever-monitor names 'env' here too, but never has that field: its data holds no env.
    for (const key of ['pidFile', 'outFile', 'errFile', 'cwd']) {
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
    // forever-monitor's flag, true from the call until the child's 'exit:code' was heard.
    /** @type {any} */ (this).forceRestart = true;
    if (this._endUnheard()) return this._keepForEnd('restart');
    const failure = this._nativeMonitor().restart();
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') return this.start(true);
    return this._errorSoon(toError(failure));
  }

  /**
   * Whether the core has seen the current child end while JS has not heard of it yet (JS
   * was busy; the report is on its way). forever-monitor, whose exit handler had not run,
   * still took the child for running then, so calls made now are kept ([`_keepForEnd`])
   * and carried out as it carried them out, when the end is reported ([`_carryOut`]).
   * @returns {boolean}
   */
  _endUnheard() {
    if (!this._childUp || this._native === null) return false;
    return STATES[this._native.state()].ended;
  }

  /**
   * Keeps a call made while the end is unheard. forever-monitor reported `'stop'` at the
   * end for each kill (a restart is one); its stop won over its restart.
   * @param {'restart' | 'reload' | 'kill' | 'stop'} call
   * @returns {this}
   */
  _keepForEnd(call) {
    const after = this._afterEnd;
    if (call === 'restart' || call === 'reload') after.restart = true;
    if (call !== 'reload') after.stop = true;
    if (call === 'stop') after.forceStop = true;
    // An awaitable call gets the errors of carrying it out.
    if (this._rejectNext) after.reject = this._rejectNext;
    return this;
  }

  /** What was kept for the end, now being reported; nothing is kept after. @returns {AfterEnd} */
  _takeAfterEnd() {
    const after = this._afterEnd;
    this._afterEnd = noneAfterEnd();
    return after;
  }

  /**
   * Carries out the calls kept for an end that is being reported.
   * @param {AfterEnd} after
   * @param {boolean} stopReported `'stop'` is reported for this end already
   * @param {boolean} stopped the run ended by a stop (which wins over a restart)
   */
  _carryOut(after, stopReported, stopped) {
    const native = /** @type {NativeMonitor} */ (this._native);
    const idle = STATES[native.state()].over;
    this._rejectNext = after.reject;
    try {
      if (after.forceStop) {
        // A run that waits (a restart due, a file change) is ended by the core, which
        // reports the stop; one that has ended is reported stopped here.
        if (idle || stopped) {
          if (!stopReported) this.emit('stop', this.childData);
        } else {
          native.kill(true);
        }
        return;
      }
      if (after.stop && !stopReported) this.emit('stop', this.childData);
      if (!after.restart || stopped) return;
      if (idle) {
        this.running = false;
        this.start(true);
      } else {
        const failure = native.restart();
        if (failure !== null) this._errorSoon(toError(failure));
      }
    } finally {
      this._rejectNext = null;
    }
  }

  /**
   * Reloads without downtime: starts a new child beside the running one (both get the
   * `listen` sockets), and once it is ready (`waitReady`) or after `reloadGrace`, stops the
   * old one gracefully. `'reload'` events tell each step; a new child that fails is killed
   * and the old one serves on. Starts a stopped monitor, as `restart()` does.
   */
  reload() {
    if (this._endUnheard()) return this._keepForEnd('reload');
    const failure = this._nativeMonitor().reload();
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') return this.start(true);
    return this._errorSoon(toError(failure));
  }

  /**
   * `reload()`, awaitable: resolves once the old child is gone and the new one serves
   * (`'reload'` with phase `'done'`; for a monitor that was not running, once its child
   * started, or is ready with `waitReady`); rejects with the reload's error (then not
   * emitted as `'error'`), or `ERR_SUPERVISION_ENDED` when supervision ends first.
   * @returns {Promise<this>}
   */
  reloadAsync() {
    return new Promise((resolve, reject) => {
      let reloading = false;
      const started = this.waitReady ? 'ready' : 'restart';
      /** @type {Waiter} */
      const waiter = {
        handle: (event, args) => {
          if (event === 'reload') onReload(args[0]);
          else if (event === started) onStarted();
          else if (event === 'exit') onExit(args[0], args[1], args[2]);
        },
      };
      const done = () => {
        this._reloadWaiters -= 1;
        this._waiters.delete(waiter);
      };
      /** @param {{ phase: string, reason?: string, error?: Error }} info */
      const onReload = (info) => {
        if (info.phase === 'starting') reloading = true;
        if (info.phase === 'done') {
          done();
          resolve(this);
        } else if (info.phase === 'failed') {
          done();
          reject(info.error || supervisionEnded(info.reason, 'the reload was done'));
        }
      };
      const onStarted = () => {
        // Not a reload: the monitor was not running, and restarted.
        if (reloading) return;
        done();
        resolve(this);
      };
      /** @param {MonitorPrototype} _m @param {boolean} _spinning @param {{ reason: string }} info */
      const onExit = (_m, _spinning, info) => {
        done();
        reject(supervisionEnded(info && info.reason, 'the reload was done'));
      };
      this._reloadWaiters += 1;
      this._waiters.add(waiter);
      this._rejectNext = (/** @type {Error} */ err) => {
        done();
        reject(err);
      };
      try {
        this.reload();
      } finally {
        this._rejectNext = null;
      }
    });
  }

  /**
   * The sockets the core listens on for this monitor's children (`listen`), as bound: the
   * port the system picked for port 0. Empty before `start()` and after supervision ended.
   * @returns {Array<{ name: string, fd: number, family: 'IPv4' | 'IPv6' | 'unix', address?: string, port?: number, path?: string }>}
   */
  listenAddresses() {
    if (!this._native) return [];
    return this._native.listening().map((l) => {
      /** @type {{ name: string, fd: number, family: 'IPv4' | 'IPv6' | 'unix', address?: string, port?: number, path?: string }} */
      const out = { name: l.name, fd: l.fd, family: l.family };
      if (l.path) out.path = l.path;
      else {
        out.address = /** @type {string} */ (l.address);
        out.port = /** @type {number} */ (l.port);
      }
      return out;
    });
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
    // forever-monitor's flag, true from a stop until the child's 'exit:code' was heard.
    if (forceStop) /** @type {any} */ (this).forceStop = true;
    if (this._endUnheard()) return this._keepForEnd(forceStop ? 'stop' : 'kill');
    const failure = this._nativeMonitor().kill(!!forceStop);
    if (failure === null) return this;
    return this._errorSoon(toError(failure));
  }

  /**
   * A message from a run's child: the monitor's `'message'`, then its `ChildProcess`'s.
   * @param {string | Buffer} data
   * @param {Cell} cell
   */
  _onMessage(data, cell) {
    let message;
    try {
      message = typeof data === 'string' ? JSON.parse(data) : advancedCodec().decode(data);
    } catch (cause) {
      const reason = /** @type {Error} */ (cause).message;
      const err = /** @type {Error & { code?: string }} */ (
        new Error(
          `The child sent a message that is not valid ${this.serialization === 'advanced' ? 'V8 serialization' : 'JSON'}: ${reason}`,
        )
      );
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
    cell.child._message(message);
  }

  /**
   * Sends `message` to the child over its IPC channel (`fork: true`), serialised as JSON
   * (or with V8's serializer for `serialization: 'advanced'`). Never blocks. Throws a
   * TypeError for a message that cannot be serialised; emits `'error'` when no child runs.
   * @param {unknown} message
   */
  send(message) {
    if (!this._native) return this._errorSoon(new Error(NOT_RUNNING_SEND));
    const payload = this._encode(message, 'message');
    const failure = this._native.send(payload);
    if (failure === null) return this;
    if (failure.code === 'ERR_NOT_RUNNING') return this._errorSoon(new Error(NOT_RUNNING_SEND));
    if (failure.code === 'ERR_IPC_NO_CHANNEL') {
      // forever-monitor sends only `if (child.send)`: a child without a channel is no error.
      warnOnce(
        'FOREVER_NATIVE_NO_CHANNEL',
        `${failure.message} The message was dropped, as forever-monitor drops it.`,
      );
      return this;
    }
    return this._errorSoon(toError(failure));
  }

  /** Supervision ended: the `signal` option no longer needs to know this monitor. */
  _supervisionEnded() {
    if (this._abortSignal) unwatchAbort(this, this._abortSignal);
  }

  /** The `signal` option was aborted: stop whatever runs (a child, a wait to restart). */
  _aborted() {
    if (this._native && (this._childUp || !STATES[this._native.state()].over)) this.stop();
  }

  /**
   * Serialises an IPC message as the channel encodes it; throws a TypeError naming `name`
   * when it cannot be.
   * @param {unknown} message
   * @param {string} name
   * @returns {Buffer}
   */
  _encode(message, name) {
    if (this.serialization === 'advanced') {
      try {
        return advancedCodec().encode(message);
      } catch (cause) {
        const err = /** @type {TypeError & { code?: string }} */ (
          new TypeError(
            `The "${name}" argument cannot be serialized: ${/** @type {Error} */ (cause).message}`,
          )
        );
        err.code = 'ERR_INVALID_ARG_TYPE';
        throw err;
      }
    }
    const text = JSON.stringify(message);
    if (text === undefined) throw checks().typeError(name, 'serializable as JSON', message);
    return Buffer.from(text);
  }

  /**
   * What the child and its tree use, as the core last read it (it samples once a second
   * while someone asks, and at each `memoryCheckInterval` with `maxMemory`). Never reads
   * `/proc` on the calling thread. The first call starts the sampling: its figures may
   * be null.
   * @returns {Usage}
   */
  usage() {
    if (!this._native) {
      return {
        pid: null,
        uptime: null,
        restarts: this.times,
        cpu: null,
        rss: null,
        treeRss: null,
        treePids: null,
        sampledAt: null,
        state: 'idle',
        lastExit: null,
      };
    }
    const u = this._native.usage();
    return {
      pid: u.pid ?? null,
      uptime: u.uptime ?? null,
      restarts: u.restarts,
      cpu: u.cpu ?? null,
      rss: u.rss ?? null,
      treeRss: u.treeRss ?? null,
      treePids: u.treePids ?? null,
      sampledAt: u.sampledAt ?? null,
      state: u.state,
      lastExit:
        u.lastExitAt === undefined || u.lastExitAt === null
          ? null
          : { code: u.lastExitCode ?? null, signal: u.lastExitSignal ?? null, at: u.lastExitAt },
    };
  }

  /**
   * `start()`, awaitable: resolves with the monitor once the child has started (once it is
   * ready, with `waitReady`); rejects with the error `start()` would emit, or when
   * supervision ends before that.
   * @returns {Promise<this>}
   */
  startAsync() {
    return this._until(() => this.start(), this.waitReady ? 'ready' : 'start');
  }

  /**
   * `restart()`, awaitable: resolves once the new child has started (or is ready, with
   * `waitReady`).
   * @returns {Promise<this>}
   */
  restartAsync() {
    return this._until(() => this.restart(), this.waitReady ? 'ready' : 'restart');
  }

  /**
   * `stop()`, awaitable: resolves once the child (and its tree) is gone; rejects with
   * `Cannot stop process that is not running.` when nothing runs.
   * @returns {Promise<this>}
   */
  stopAsync() {
    return this._until(() => this.stop(), 'stop');
  }

  /**
   * Calls `action`, and settles on `event` (resolve), on an error `action` itself raised,
   * or on the end of supervision before `event` (reject). The errors of `action` go to
   * the promise, not to `'error'` listeners.
   * @param {() => unknown} action
   * @param {string} event
   * @returns {Promise<this>}
   */
  _until(action, event) {
    return new Promise((resolve, reject) => {
      /** @type {Waiter} */
      const waiter = {
        handle: (name, args) => {
          if (name === event) {
            done();
            resolve(this);
          } else if (name === 'exit' && event !== 'stop') {
            const info = /** @type {{ reason: string } | undefined} */ (args[2]);
            done();
            reject(
              supervisionEnded(
                info && info.reason,
                event === 'ready' ? 'the child was ready' : 'the child started',
              ),
            );
          }
        },
      };
      const done = () => {
        this._waiters.delete(waiter);
      };
      this._waiters.add(waiter);
      this._rejectNext = (/** @type {Error} */ err) => {
        done();
        reject(err);
      };
      try {
        action();
      } finally {
        this._rejectNext = null;
      }
    });
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
    const monitor = /** @type {NativeMonitor & { panicForTest?: () => void }} */ (
      this._nativeMonitor()
    );
    if (typeof monitor.panicForTest !== 'function') {
      throw new Error(
        'this build of forever-native has no test hooks (cargo feature "test-hooks")',
      );
    }
    monitor.panicForTest();
  }

  /**
   * Holds the core's spawns (restarts, a reload's new child) until called with `false`, or
   * released after 10 s (tests prove no call waits for a spawn). Returns whether a spawn
   * was waiting: with `false`, this call released it.
   * @param {boolean} hold
   * @returns {boolean}
   */
  _holdSpawnsForTest(hold) {
    return this._testHooks().holdSpawnsForTest(hold);
  }

  /** Whether one of the core's spawns is being held now. @returns {boolean} */
  _spawnHeldForTest() {
    return this._testHooks().spawnHeldForTest();
  }

  /**
   * Whether the core has carried out every order of the calls made so far (signals sent,
   * spawns made); what follows comes as events. True before the first start().
   * @returns {boolean}
   */
  _ordersDoneForTest() {
    return this._native ? this._testHooks().ordersDoneForTest() : true;
  }

  /**
   * How many cleanups of what a child left gave up waiting (the leftovers were still there
   * at the wait's bound) rather than seeing it gone.
   * @returns {number}
   */
  _cleanupsTimedOutForTest() {
    return this._native ? this._testHooks().cleanupsTimedOutForTest() : 0;
  }

  /**
   * How many walks up a sender's parents the notify socket of the current supervision run
   * made to place its senders.
   * @returns {number}
   */
  _notifyWalksForTest() {
    return this._native ? this._testHooks().notifyWalksForTest() : 0;
  }

  /** @returns {NativeMonitor & { holdSpawnsForTest: (hold: boolean) => boolean, spawnHeldForTest: () => boolean, ordersDoneForTest: () => boolean, cleanupsTimedOutForTest: () => number, notifyWalksForTest: () => number }} */
  _testHooks() {
    const monitor =
      /** @type {NativeMonitor & { holdSpawnsForTest: (hold: boolean) => boolean, spawnHeldForTest: () => boolean, ordersDoneForTest: () => boolean, cleanupsTimedOutForTest: () => number, notifyWalksForTest: () => number }} */ (
        this._nativeMonitor()
      );
    if (typeof monitor.holdSpawnsForTest !== 'function') {
      throw new Error(
        'this build of forever-native has no test hooks (cargo feature "test-hooks")',
      );
    }
    return monitor;
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

/**
 * forever-monitor's `Monitor`: a plain constructor function, as forever-monitor's was, so
 * that old-style subclasses work (`Monitor.call(this, script, options)` with
 * `util.inherits(Sub, Monitor)` or `Sub.prototype = Object.create(Monitor.prototype)`,
 * then `Monitor.prototype.start.call(this)`), as does `class Sub extends Monitor`.
 * Called without `new`, it throws a TypeError, as forever-monitor's did.
 * @constructor
 * @param {string|string[]} script the script to run, or a whole argv
 * @param {object} [options] forever-monitor's options
 */
function Monitor(script, options) {
  if (!(this instanceof Monitor)) {
    const err = /** @type {TypeError & { code?: string }} */ (
      new TypeError(
        'Monitor must be called with new (or, in a subclass, with Monitor.call(this, script, options) on an object made from Monitor.prototype)',
      )
    );
    err.code = 'ERR_CONSTRUCT_CALL_REQUIRED';
    throw err;
  }
  EventEmitter.call(this);
  /** @type {MonitorPrototype} */ (/** @type {unknown} */ (this))._init(script, options);
}
Monitor.prototype = MonitorPrototype.prototype;
Object.defineProperty(Monitor.prototype, 'constructor', {
  value: Monitor,
  writable: true,
  enumerable: false,
  configurable: true,
});
// Statics inherited as `class extends EventEmitter` would have them (defaultMaxListeners, …).
Object.setPrototypeOf(Monitor, EventEmitter);
Monitor.parseCommand = MonitorPrototype.parseCommand;

// forever-monitor sets this so util.inspect does not call a method of that name.
/** @type {any} */ (Monitor.prototype).inspect = null;
// EventEmitter2's: the event being emitted (set on the monitor as it emits).
/** @type {any} */ (Monitor.prototype).event = '';
// EventEmitter2's methods, forever-monitor's monitors had them: each loads emitter2.js on first call.
for (const name of /** @type {const} */ ([
  'onAny',
  'prependAny',
  'offAny',
  'listenersAny',
  'many',
  'prependMany',
  'waitFor',
  'emitAsync',
  'listenTo',
  'stopListeningTo',
  'hasListeners',
])) {
  Object.defineProperty(Monitor.prototype, name, {
    value: /** @type {(this: MonitorPrototype, ...args: unknown[]) => unknown} */ (
      function ee2Method(...args) {
        const result = /** @type {(...a: unknown[]) => unknown} */ (ee2().methods[name]).apply(
          this,
          args,
        );
        // An onAny listener hears the output too, as forever-monitor's always emitted it.
        if (name === 'onAny' || name === 'prependAny' || name === 'offAny') {
          this._applyListening('stdout');
          this._applyListening('stderr');
        }
        return result;
      }
    ),
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

function isPrimary() {
  // A cluster worker's bootstrap loads `cluster` before any user code runs, so where it is
  // not loaded yet this is no worker: loading it just to be told so would cost a first
  // start 2-4 ms (it pulls in child_process, net, dgram, …).
  const loaded = /** @type {{ moduleLoadList?: unknown }} */ (/** @type {unknown} */ (process))
    .moduleLoadList;
  if (Array.isArray(loaded) && !loaded.includes('NativeModule cluster')) return true;
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
  return /** @type {MonitorPrototype} */ (/** @type {unknown} */ (new Monitor(script, o))).start();
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
  if (typeof pid !== 'number' || !Number.isInteger(pid))
    throw checks().typeError('pid', 'a positive integer', pid);
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
  } catch {
    return false;
  }
}

/**
 * The CLI's status log (`--logFile`): written by the core on the calling thread, and
 * rotated, compressed and pruned with `monitor`'s log options. Not part of the public API.
 * @param {string} file
 * @param {MonitorPrototype} monitor
 * @param {(err: Error) => void} onError
 * @returns {{ write(text: string): void, reopen(): void }}
 */
function _openStatusLog(file, monitor, onError) {
  return new (native().NativeLogFile)(checks().logOptions(monitor, { outFile: file }), (failure) =>
    onError(toError(failure)),
  );
}

module.exports = { Monitor, start, kill, checkProcess };
// N instances of one app (group.js), loaded on first use so that `require()` stays cheap.
Object.defineProperty(module.exports, 'Group', {
  enumerable: true,
  get: () => require('./group.js').Group,
});
/** @type {string | undefined} */
let version;
// This package's version, read on first use: reading package.json costs every require()
// a quarter of a millisecond.
Object.defineProperty(module.exports, 'version', {
  enumerable: true,
  configurable: true,
  get() {
    if (version === undefined) version = /** @type {string} */ (require('./package.json').version);
    return version;
  },
});
Object.defineProperty(module.exports, '_openStatusLog', {
  value: _openStatusLog,
  enumerable: false,
});
