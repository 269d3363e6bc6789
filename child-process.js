// @ts-check
'use strict';
/**
 * `monitor.child`: the child as a Node `ChildProcess` looks to code written for
 * forever-monitor, whose `child` was one.
 *
 * The core owns the real process (it spawns, waits, restarts and kills it, off the JS
 * thread); this object is a view of one run of it, made by `index.js` when the run starts
 * and told of its output, messages and end. It costs nothing until used: its streams are
 * made when first touched, and only then does the monitor ask the core for output. A
 * stream nobody reads never holds the child, the core or a restart: past
 * `UNREAD_LIMIT` unread bytes it drops what comes (every other destination still gets
 * them) and warns once. Each run gets a new object, as each forever-monitor run got a new
 * `ChildProcess`; an old one still tells its own end.
 */

const { EventEmitter } = require('events');

/** Bytes a stream keeps unread (paused, or piped to a slow destination) before it drops. */
const UNREAD_LIMIT = 8 * 1024 * 1024;
/**
 * Bytes kept for a stream not made yet (the child wrote before anyone touched
 * `child.stdout`): what a pipe would have held for a reader that comes late.
 */
const EARLY_LIMIT = 64 * 1024;
/** Bytes `child.stdin` may hold waiting for the child before it refuses more. */
const STDIN_LIMIT = 64 * 1024 * 1024;

/** @typedef {import('stream').Readable} Readable */
/** @typedef {import('stream').Writable} Writable */
/** @typedef {import('./binding').NativeFailure} NativeFailure */

/**
 * What the child needs of its monitor (kept apart so this file does not load index.js):
 * the monitor's own methods, on its prototype, so that a monitor costs no extra object.
 * @typedef {object} Owner
 * @property {(child: ForeverChild) => boolean} _childIsCurrent whether `child` is the monitor's current child
 * @property {(child: ForeverChild, signal: number) => boolean} _childSignal signals `child` if it is still the current child; whether it was sent
 * @property {(child: ForeverChild, signal: number) => boolean} _childSignalRetired signals a child that is no longer current but still runs
 * @property {(child: ForeverChild, message: unknown) => NativeFailure | null} _childSend sends a message to `child` if it is still the current child
 * @property {(index: 1 | 2) => void} _childWantOutput asks the core for stream `index` from now on
 * @property {(index: 1 | 2, stalled: boolean) => void} _childStall the current child's stream `index` is full and unread (or read again)
 * @property {(pid: number, data: Buffer, done: (failure: NativeFailure | null | undefined) => void) => NativeFailure | null} _childWriteStdin
 * @property {(pid: number) => NativeFailure | null} _childEndStdin
 * @property {(child: ForeverChild) => void} _childDisconnect closes `child`'s IPC channel if it is still the current child
 * @property {(except: Readable) => number} _childUnreadElsewhere bytes the monitor's other child streams hold unread
 * @property {(readable: Readable) => void} _childReadableMade a child's stream was made (it counts until it closes)
 * @property {(failure: NativeFailure) => Error} _childToError
 * @property {(name: string, value: unknown) => number} _childCheckSignal
 */

/**
 * How the run was spawned.
 * @typedef {object} SpawnInfo
 * @property {string} spawnfile
 * @property {string[]} spawnargs
 * @property {[boolean, boolean, boolean]} pipes which of stdin, stdout, stderr are pipes
 * @property {boolean} ipc whether it has an IPC channel
 */

/**
 * A child's own state (kept off its enumerable fields).
 * @typedef {object} ChildState
 * @property {Owner} owner
 * @property {SpawnInfo} info
 * @property {boolean} ended the child has exited (its fields say so)
 * @property {boolean} reported its `'exit'` was emitted
 * @property {boolean} disconnected
 * @property {ChildIO | null} io made when a stream is first touched or output first comes
 * @property {number} closesNeeded
 * @property {number} closesGot
 */

/**
 * A child's streams and what waits for them.
 * @typedef {object} ChildIO
 * @property {Array<Readable | Writable | null | undefined>} streams undefined: not made yet; null: not a pipe
 * @property {[Buffer[], Buffer[]]} early output kept for streams not made yet
 * @property {[number, number]} earlyBytes
 * @property {[boolean, boolean]} stalled the stream is full and unread: the core keeps its output from JS
 */

/** @type {typeof import('stream') | null} */
let streamModule = null;
function stream() {
  if (streamModule === null) streamModule = require('stream');
  return streamModule;
}

const warned = new Set();
/** @param {string} code @param {string} message */
function warnOnce(code, message) {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { code });
}

/**
 * A `ChildProcess` for what code does with one: `pid`, `kill()`, `killed`, `exitCode`,
 * `signalCode`, `spawnfile`, `spawnargs`, `stdin`/`stdout`/`stderr`/`stdio`, `send()`,
 * `connected`, `disconnect()`, and the events `'spawn'`, `'message'`, `'disconnect'`,
 * `'exit'`, `'close'`, `'error'`.
 */
class ForeverChild extends EventEmitter {
  /**
   * @param {Owner} owner
   * @param {number} pid
   * @param {SpawnInfo} info
   * @param {boolean} [respawned] spawned by the core on its own (a restart JS hears of after)
   */
  constructor(owner, pid, info, respawned = false) {
    super();
    /** The child's process id. */
    this.pid = pid;
    /** Whether a `kill()` of this object delivered its signal. */
    this.killed = false;
    /** The exit code, once the child has exited by itself; else null. @type {number | null} */
    this.exitCode = null;
    /** The signal that ended the child, once it has; else null. @type {string | null} */
    this.signalCode = null;
    /** The command spawned. */
    this.spawnfile = info.spawnfile;
    /** The full argv, as `child_process.spawn` keeps it (one array for a run's children). */
    this.spawnargs = info.spawnargs;
    /** @type {ChildState} */
    const state = {
      owner,
      info,
      ended: false,
      reported: false,
      disconnected: false,
      io: null,
      closesNeeded: 1,
      closesGot: 0,
    };
    Object.defineProperty(this, '_state', { value: state, writable: false, enumerable: false });
    // Node emits 'spawn' on the tick after spawn(): before forever-monitor's 'start' or
    // 'restart' listeners could listen. A child the core restarted by itself was spawned
    // before JS heard of it, so its 'spawn' has passed.
    if (!respawned) process.nextTick(() => this.emit('spawn'));
  }

  /** @returns {Owner} */
  get _o() {
    return this._s.owner;
  }

  /** @returns {ChildState} */
  get _s() {
    return /** @type {any} */ (this)._state;
  }

  /** The child's stdin, a `Writable`, when it is a pipe; else null. @returns {Writable | null} */
  get stdin() {
    const io = this._io();
    if (io.streams[0] === undefined) {
      io.streams[0] = this._s.info.pipes[0] ? this._makeStdin() : null;
      // As Node's, destroyed once the child has exited: writes fail quietly.
      if (io.streams[0] !== null && this._s.ended) io.streams[0].destroy();
    }
    return /** @type {Writable | null} */ (io.streams[0]);
  }

  /** The child's stdout, a `Readable`, when it is a pipe; else null. @returns {Readable | null} */
  get stdout() {
    return this._readable(1);
  }

  /** The child's stderr, a `Readable`, when it is a pipe; else null. @returns {Readable | null} */
  get stderr() {
    return this._readable(2);
  }

  /** `[stdin, stdout, stderr]`, as `ChildProcess#stdio`. */
  get stdio() {
    return [this.stdin, this.stdout, this.stderr];
  }

  /** Whether messages can still be sent and received. */
  get connected() {
    const s = this._s;
    return s.info.ipc && !s.disconnected && !s.ended;
  }

  /**
   * Sends `signal` (default `'SIGTERM'`) to the child alone, as `ChildProcess#kill`:
   * returns whether it was delivered. An unknown signal throws.
   * @param {string | number} [signal]
   * @returns {boolean}
   */
  kill(signal = 'SIGTERM') {
    // Signal 0 asks whether the child is there, as with Node (the core holds it until reaped).
    if (signal === 0) return !this._s.ended;
    let number;
    try {
      number = this._o._childCheckSignal(
        'signal',
        typeof signal === 'string' ? signal.toUpperCase() : signal,
      );
    } catch {
      // Node's own error for a signal it does not know.
      const err = /** @type {TypeError & { code?: string }} */ (
        new TypeError(`Unknown signal: ${String(signal)}`)
      );
      err.code = 'ERR_UNKNOWN_SIGNAL';
      throw err;
    }
    if (this._s.ended) return false;
    const sent = this._o._childIsCurrent(this)
      ? this._o._childSignal(this, number)
      : this._o._childSignalRetired(this, number);
    if (sent) this.killed = true;
    return sent;
  }

  /**
   * Sends `message` over the IPC channel, as `ChildProcess#send`: returns false when it
   * cannot (`callback` gets the error, else `'error'` is emitted). Handles cannot be sent:
   * the core owns the channel.
   * @param {unknown} message
   * @param {unknown} [handle]
   * @param {unknown} [options]
   * @param {(err: Error | null) => void} [callback]
   * @returns {boolean}
   */
  send(message, handle, options, callback) {
    if (typeof handle === 'function') {
      callback = /** @type {(err: Error | null) => void} */ (handle);
      handle = undefined;
    } else if (typeof options === 'function') {
      callback = /** @type {(err: Error | null) => void} */ (options);
    }
    if (message === undefined) {
      const err = /** @type {TypeError & { code?: string }} */ (
        new TypeError('The "message" argument must be specified')
      );
      err.code = 'ERR_MISSING_ARGS';
      throw err;
    }
    /** @type {Error | null} */
    let error = null;
    if (!this.connected) {
      error = codeError('ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
    } else if (handle !== undefined && handle !== null) {
      error = codeError(
        'ERR_FOREVER_NATIVE_NO_HANDLES',
        'A handle cannot be sent to a child of forever-native: the core owns the channel (use the listen option to share sockets).',
      );
    } else if (!this._o._childIsCurrent(this)) {
      error = codeError('ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
    } else {
      // Serialises (and throws a TypeError for what cannot be), as Node's send() does.
      const failure = this._o._childSend(this, message);
      // The core replaced this child before JS heard: its channel is gone, as Node says it.
      if (failure !== null && failure.code === 'ERR_NOT_RUNNING')
        error = codeError('ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
      else if (failure !== null) error = this._o._childToError(failure);
    }
    if (typeof callback !== 'function') callback = undefined;
    if (error === null) {
      if (callback) process.nextTick(callback, null);
      return true;
    }
    if (callback) process.nextTick(callback, error);
    else process.nextTick(() => this.emit('error', error));
    return false;
  }

  /** Closes the IPC channel: `'disconnect'` follows, here and in the child. */
  disconnect() {
    if (!this.connected) {
      process.nextTick(() =>
        this.emit(
          'error',
          codeError('ERR_IPC_DISCONNECTED', 'IPC channel is already disconnected'),
        ),
      );
      return;
    }
    this._s.disconnected = true;
    if (this._o._childIsCurrent(this)) this._o._childDisconnect(this);
    process.nextTick(() => this.emit('disconnect'));
  }

  /** JSON of a child: its pid (what `JSON.stringify(monitor)` showed of it before). */
  toJSON() {
    return { pid: this.pid };
  }

  /** Node's `ref()`/`unref()` are about the host's event loop, which the core's children never hold. */
  ref() {}

  unref() {}

  /**
   * Output of the child for stream `index` (1 stdout, 2 stderr).
   * @param {1 | 2} index
   * @param {Buffer} data
   */
  _output(index, data) {
    if (this._s.ended) return undefined;
    const io = this._io();
    const made = io.streams[index];
    if (made === undefined) {
      // Not touched yet: keep what a pipe would have held.
      const i = index - 1;
      if (io.earlyBytes[i] + data.length > EARLY_LIMIT) return this._dropped(index, EARLY_LIMIT);
      io.early[i].push(data);
      io.earlyBytes[i] += data.length;
      return undefined;
    }
    if (made === null) return undefined;
    const readable = /** @type {Readable} */ (made);
    if (readable.destroyed || readable.readableEnded) return undefined;
    // Unread bytes are bounded, for all of the monitor's children together (an old
    // child's stream piped to a sink that stopped keeps what it holds): past the limit
    // this stream drops what comes.
    if (
      readable.readableLength + data.length + this._o._childUnreadElsewhere(readable) >
      UNREAD_LIMIT
    ) {
      // Until it is read again, the core need not hand JS what this stream would drop.
      if (!io.stalled[index - 1] && this._o._childIsCurrent(this)) {
        io.stalled[index - 1] = true;
        this._o._childStall(index, true);
      }
      return this._dropped(index, UNREAD_LIMIT);
    }
    readable.push(data);
    return undefined;
  }

  /** @param {1 | 2} index @param {number} limit */
  _dropped(index, limit) {
    const name = index === 1 ? 'stdout' : 'stderr';
    warnOnce(
      'FOREVER_NATIVE_UNREAD_OUTPUT',
      `monitor.child.${name} of pid ${this.pid} is not being read: output past ${limit} unread bytes is dropped for this stream (listeners, outFile/errFile and the host still get every byte).`,
    );
  }

  /** A message from the child. @param {unknown} message */
  _message(message) {
    if (!this._s.disconnected) this.emit('message', message);
  }

  /** The child's channel closed. */
  _disconnected() {
    const s = this._s;
    if (s.disconnected || !s.info.ipc) return;
    s.disconnected = true;
    this.emit('disconnect');
  }

  /**
   * The child has exited: its fields say so from now on (the monitor's own exit events,
   * which come first as forever-monitor's listener came first, see them), its stdin is
   * destroyed and its channel closed.
   * @param {number | null} code
   * @param {string | null} signal
   */
  _settle(code, signal) {
    const s = this._s;
    if (s.ended) return;
    if (s.info.ipc && !s.disconnected) this._disconnected();
    s.ended = true;
    this.exitCode = signal ? null : code;
    this.signalCode = signal;
    const stdin = s.io === null ? null : s.io.streams[0];
    if (stdin) stdin.destroy();
  }

  /**
   * Reports the end (its last bytes reached every destination): ends its streams and
   * emits `'exit'`, then `'close'` once the streams are closed, as `ChildProcess` does.
   * @param {number | null} code
   * @param {string | null} signal
   */
  _exited(code, signal) {
    const s = this._s;
    if (s.reported) return;
    s.reported = true;
    this._settle(code, signal);
    const streams = s.io === null ? [] : s.io.streams;
    for (const index of /** @type {const} */ ([1, 2])) {
      const readable = /** @type {Readable | null | undefined} */ (streams[index]);
      if (!readable) continue;
      s.closesNeeded += 1;
      readable.once('close', () => this._closed());
      readable.push(null);
    }
    this.emit('exit', this.exitCode, this.signalCode);
    // As Node's flushStdio: a stream nobody reads still ends (its bytes are let go), so
    // that 'close' comes; a late reader had this tick to start.
    process.nextTick(() => {
      for (const index of [1, 2]) {
        const readable = /** @type {Readable | null | undefined} */ (streams[index]);
        if (readable && !readable.destroyed) readable.resume();
      }
    });
    this._closed();
  }

  /** One more of the exit and the streams' closes: all of them give `'close'`. */
  _closed() {
    const s = this._s;
    s.closesGot += 1;
    if (s.closesGot === s.closesNeeded) {
      this.emit('close', this.exitCode, this.signalCode);
    }
  }

  /**
   * @param {1 | 2} index
   * @returns {Readable | null}
   */
  _readable(index) {
    const s = this._s;
    const io = this._io();
    if (io.streams[index] !== undefined) return /** @type {Readable | null} */ (io.streams[index]);
    if (!s.info.pipes[index]) {
      io.streams[index] = null;
      return null;
    }
    const child = this;
    const readable = new (stream().Readable)({
      read() {
        // Read again after it stalled: the core hands this stream's output to JS again.
        if (io.stalled[index - 1]) {
          io.stalled[index - 1] = false;
          if (child._o._childIsCurrent(child)) child._o._childStall(index, false);
        }
      },
    });
    io.streams[index] = readable;
    this._o._childReadableMade(readable);
    for (const chunk of io.early[index - 1]) readable.push(chunk);
    io.early[index - 1] = [];
    if (s.ended) readable.push(null);
    else this._o._childWantOutput(index);
    return readable;
  }

  /** The child's streams, made on first need. @returns {ChildIO} */
  _io() {
    const s = this._s;
    if (s.io === null)
      s.io = {
        streams: [undefined, undefined, undefined],
        early: [[], []],
        earlyBytes: [0, 0],
        stalled: [false, false],
      };
    return s.io;
  }

  /** @returns {Writable} */
  _makeStdin() {
    const child = this;
    const { Writable } = stream();
    const writable = new Writable({
      write(chunk, _encoding, callback) {
        /** @param {NativeFailure | null | undefined} f */
        const done = (f) => {
          // The child closed its stdin or exited: the stream ends there, quietly (the
          // write's callback still gets the error). Node would emit an EPIPE 'error' that,
          // unheard, takes the host down as a child is stopped with writes pending.
          if (f && f.code === 'EPIPE') writable.destroy();
          callback(f ? child._o._childToError(f) : null);
        };
        if (child._s.ended)
          return done({ code: 'EPIPE', message: 'write EPIPE', syscall: 'write' });
        const failure = child._o._childWriteStdin(child.pid, chunk, done);
        if (failure !== null) done(failure);
        return undefined;
      },
      final(callback) {
        if (!child._s.ended) child._o._childEndStdin(child.pid);
        callback();
      },
      destroy(err, callback) {
        // A destroyed stdin closes the pipe, as Node's does: the child sees EOF.
        if (!child._s.ended) child._o._childEndStdin(child.pid);
        callback(err);
      },
    });
    // Bounded: a writer that ignores write()'s false (and 'drain') is refused at the
    // limit instead of growing the host without end.
    const write = writable.write;
    /** @type {any} */ (writable).write = function boundedWrite(/** @type {any[]} */ ...args) {
      if (writable.writableLength >= STDIN_LIMIT && !writable.destroyed) {
        writable.destroy(
          codeError(
            'ERR_STDIN_BACKLOG',
            `child.stdin holds ${writable.writableLength} bytes the child has not read (at most ${STDIN_LIMIT}); wait for 'drain' when write() returns false.`,
          ),
        );
        return false;
      }
      return write.apply(writable, /** @type {any} */ (args));
    };
    return writable;
  }
}

/**
 * @param {string} code
 * @param {string} message
 * @returns {Error}
 */
function codeError(code, message) {
  const err = /** @type {Error & { code?: string }} */ (new Error(message));
  err.code = code;
  return err;
}

module.exports = { ForeverChild, UNREAD_LIMIT, EARLY_LIMIT, STDIN_LIMIT };
