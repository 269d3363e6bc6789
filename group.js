// @ts-check
'use strict';
/**
 * `Group`: N instances of one app, each supervised by a full `Monitor` of its own (its own
 * restart rules, health, logs and IPC), all serving the same `listen` sockets, with no
 * process between the clients and the children.
 *
 * How the sockets are shared. By default every instance holds the same socket for each
 * address: the first instance to start binds it, the others hold it too (the core's
 * registry, keyed by the group and the address), and it closes with the last. Every child
 * accepts from that one queue, so while an instance restarts the others take its share of
 * new connections, and an instance stopped by `scale()` takes nothing queued with it. With
 * `listenReusePort: true`, each instance holds a TCP socket of its own with `SO_REUSEPORT`
 * instead (across its restarts), and the kernel spreads new connections over them by a
 * hash of the connection's addresses; see docs/instances.md for what each costs.
 *
 * Loaded by `require('forever-native').Group` on first use, so `require()` stays cheap.
 */

const { EventEmitter } = require('events');
const os = require('os');
const { Monitor } = require('./index.js');
const { typeError, rangeError, isSet } = require('./options.js');

/** Events of each instance the group re-emits, with the instance's index first. */
const FORWARDED = /** @type {const} */ ([
  'start',
  'restart',
  'exit',
  'exit:code',
  'stop',
  'restarting',
  'ready',
  'reload',
  'message',
  'disconnect',
  'watch:restart',
  'watch:error',
  'watch:ready',
]);
/** Forwarded only while the group has listeners for them: the core then copies output to JS. */
const OUTPUT = /** @type {const} */ (['stdout', 'stderr']);
/** The group's own options, which its monitors do not get. */
const GROUP_OPTIONS = ['instances', 'reloadBatch', 'listenReusePort', 'instanceVar'];

let groups = 0;

/** The native half, already loaded by the monitors' start. */
function binding() {
  return /** @type {typeof import('./binding')} */ (require('./loader.js').load());
}

/**
 * What `'max'` means: the CPUs this process may run on (its affinity mask, and with newer
 * Node its cgroup quota), at least 1.
 * @returns {number}
 */
function cpus() {
  const n =
    typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, n);
}

/**
 * `instances`: a whole number >= 1, `'max'` (the CPUs this process may use), or, as PM2
 * reads it, a negative number: that many fewer than `'max'` (at least 1). A numeric string
 * (`'4'`, from a command line or a config file) is read as its number.
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function checkInstances(name, value) {
  let n = value;
  if (value === 'max') return cpus();
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) n = Number(value);
  if (typeof n !== 'number') throw typeError(name, 'a whole number of instances or "max"', value);
  if (!Number.isInteger(n) || n === 0 || n > 4096 || n < -4096)
    throw rangeError(
      name,
      'a whole number from 1 to 4096, "max", or a negative number (that many fewer than "max")',
      value,
    );
  return n > 0 ? n : Math.max(1, cpus() + n);
}

/**
 * @typedef {import('./index.js').Monitor & {
 *   instance: number, _group: Group,
 *   _env: Record<string, string>, _native: import('./binding').NativeMonitor | null,
 *   running: boolean | undefined, listen: unknown[], waitReady: boolean,
 *   startAsync(): Promise<unknown>, stopAsync(): Promise<unknown>, reloadAsync(): Promise<unknown>,
 *   reload(): unknown, start(): unknown, stop(): unknown,
 *   listenAddresses(): Array<{ name: string, fd: number, family: string, address?: string, port?: number, path?: string }>,
 *   usage(): import('./index.js').Usage }} Instance
 */

/**
 * A monitor of one instance: a `Monitor` whose sockets are the group's.
 */
class InstanceMonitor extends /** @type {any} */ (Monitor) {
  /**
   * @param {Group} group
   * @param {number} index
   * @param {string | string[]} script
   * @param {object} options
   */
  constructor(group, index, script, options) {
    super(script, options);
    /** This instance's index in its group (its `FOREVER_INSTANCE`). */
    this.instance = index;
    Object.defineProperty(this, '_group', { value: group, enumerable: false });
  }

  /**
   * The monitor's `listen` sockets for the core, shared as the group shares them.
   * @param {import('./binding').NativeListen[]} listen
   */
  _listenFor(listen) {
    return this._group._share(listen, this);
  }
}

/**
 * Whether `m` supervises: a child runs, or its restart is due, or it waits for a file
 * change.
 * @param {Instance} m
 */
function active(m) {
  return m.running === true || (m._native !== null && m._native.state() !== 'idle');
}

/**
 * Emits `event` now, from inside a promise's chain: a throw (a listener's, or an `'error'`
 * no one listens to) is thrown again outside it, as an uncaught exception, where a plain
 * emit would have made it the chain's rejection, and lost it.
 * @param {EventEmitter} emitter
 * @param {string} event
 * @param {...unknown} args
 */
function emitNow(emitter, event, ...args) {
  try {
    emitter.emit(event, ...args);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** Whether `m`'s current child is up: it started (and, with `waitReady`, said it is ready). */
const UP = new WeakSet();

/**
 * Resolves once `m`, which supervises, has a child up (ready, with `waitReady`): at once
 * if it has; rejects with `ERR_SUPERVISION_ENDED` if its supervision ends first, and, with
 * `failed`, with the first `'error'` (a start that failed: no child will come up).
 * @param {Instance} m
 * @param {boolean} [failed] settle on an `'error'` too
 * @returns {Promise<void>}
 */
function upNow(m, failed = false) {
  if (UP.has(m) && m.running === true) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const events = m.waitReady ? ['ready'] : ['start', 'restart'];
    const off = () => {
      for (const e of events) m.off(e, up);
      m.off('exit', ended);
      m.off('error', errored);
    };
    const up = () => {
      off();
      resolve();
    };
    const ended = () => {
      off();
      const err = /** @type {Error & { code: string, instance: number }} */ (
        new Error(`Supervision of instance ${m.instance} ended before its child was up.`)
      );
      err.code = 'ERR_SUPERVISION_ENDED';
      err.instance = m.instance;
      reject(err);
    };
    /** @param {Error} err */
    const errored = (err) => {
      off();
      reject(err);
    };
    for (const e of events) m.on(e, up);
    m.on('exit', ended);
    if (failed) m.on('error', errored);
  });
}

/**
 * The error of a rolling reload that stopped at a new child that failed.
 * @param {Error & { code?: string, reason?: string }} cause the instance's reload error
 * @param {number} index
 * @param {number} replaced instances replaced before it
 * @param {number} total
 */
function rollFailed(cause, index, replaced, total) {
  const err =
    /** @type {Error & { code: string, instance: number, reason?: string, replaced: number, cause: unknown }} */ (
      new Error(
        `Rolling reload stopped at instance ${index}: ${cause.message} (${replaced} of ${total} replaced; the others serve on)`,
      )
    );
  err.code = 'ERR_RELOAD_FAILED';
  err.instance = index;
  err.reason = cause.reason;
  err.replaced = replaced;
  err.cause = cause;
  return err;
}

/**
 * The error of a rolling reload that `stop()` ended.
 * @param {number} replaced instances replaced before it
 * @param {number} total
 */
function stoppedRoll(replaced, total) {
  const err = /** @type {Error & { code: string, reason: string, replaced: number }} */ (
    new Error(
      `Supervision ended (stopped) before the rolling reload was done (${replaced} of ${total} replaced).`,
    )
  );
  err.code = 'ERR_SUPERVISION_ENDED';
  err.reason = 'stopped';
  err.replaced = replaced;
  return err;
}

/**
 * N instances of one app. Each `monitors[i]` is a full `Monitor` (its own restart rules,
 * health, logs, IPC and events); the group starts, stops, scales and reloads them
 * together, and re-emits their events with the instance's index first.
 */
class Group extends EventEmitter {
  /**
   * @param {string | string[]} script the script to run, or a whole argv
   * @param {Record<string, unknown>} [options] a Monitor's options, plus `instances`
   *   (a number, `'max'`, or a negative number: that many fewer than `'max'`; default 1),
   *   `reloadBatch` (instances replaced at a time by `reload()`, default 1) and
   *   `listenReusePort` (a socket per instance with `SO_REUSEPORT`, default false) and
   *   `instanceVar` (the variable with the index PM2's way, default `NODE_APP_INSTANCE`)
   */
  constructor(script, options = {}) {
    super();
    if (options === null || typeof options !== 'object')
      throw typeError('options', 'an object', options);
    const count = isSet(options.instances) ? checkInstances('instances', options.instances) : 1;
    const given = isSet(options.reloadBatch) ? options.reloadBatch : 1;
    // A numeric string (a config file's, an environment's) as `instances` reads one.
    const batch = typeof given === 'string' && /^\s*\d+\s*$/.test(given) ? Number(given) : given;
    if (typeof batch !== 'number') throw typeError('reloadBatch', 'a number of instances', batch);
    if (!Number.isInteger(batch) || batch < 1)
      throw rangeError('reloadBatch', 'a whole number >= 1', batch);
    const reusePort = isSet(options.listenReusePort) ? options.listenReusePort : false;
    if (typeof reusePort !== 'boolean')
      throw typeError('listenReusePort', 'a boolean', options.listenReusePort);
    const instanceVar = isSet(options.instanceVar) ? options.instanceVar : 'NODE_APP_INSTANCE';
    if (typeof instanceVar !== 'string')
      throw typeError('instanceVar', 'a variable name', options.instanceVar);
    if (!/^[^=\0]+$/.test(instanceVar))
      throw rangeError(
        'instanceVar',
        'a variable name (not empty, without "=" or null bytes)',
        instanceVar,
      );
    if (instanceVar === 'FOREVER_INSTANCE' || instanceVar === 'FOREVER_INSTANCES')
      throw rangeError(
        'instanceVar',
        "a variable other than the group's own FOREVER_INSTANCE and FOREVER_INSTANCES",
        instanceVar,
      );
    /** @type {Record<string, unknown>} */
    const base = {};
    for (const key of Object.keys(options)) {
      if (!GROUP_OPTIONS.includes(key)) base[key] = options[key];
    }
    /** The script, as given. */
    this.script = script;
    /** Instances `reload()` replaces at a time. */
    this.reloadBatch = batch;
    /** Each instance holds a socket of its own with `SO_REUSEPORT` (TCP addresses). */
    this.listenReusePort = reusePort;
    /** The variable that holds the instance's index PM2's way (PM2's `instance_var`). */
    this.instanceVar = instanceVar;
    /** The instances' monitors, by index. @type {Instance[]} */
    this.monitors = [];
    /** The monitors' options. @type {Record<string, unknown>} */
    this._options = base;
    /** The key of this group's shared sockets in the core's registry (per process). */
    this._key = `${process.pid}.${++groups}`;
    /** start() was called and stop() was not since: instances added by scale() start. */
    this._started = false;
    /** The instances of the rolling reload under way. @type {Instance[] | null} */
    this._rolling = null;
    /** Instances removed by scale() that still supervise: their events are still forwarded. @type {Set<Instance>} */
    this._leaving = new Set();
    /** The output forwarders of each monitor, while the group has output listeners. @type {WeakMap<Instance, Record<string, (data: Buffer) => void>>} */
    this._outputs = new WeakMap();
    /** The stops under way, by monitor: a start() meanwhile starts it again after. @type {Map<Instance, Promise<void>>} */
    this._stopping = new Map();
    for (const name of [
      '_options',
      '_key',
      '_started',
      '_rolling',
      '_leaving',
      '_outputs',
      '_stopping',
    ]) {
      Object.defineProperty(this, name, { enumerable: false });
    }
    this.on('newListener', (event) => {
      if (OUTPUT.includes(/** @type {any} */ (event)) && this.listenerCount(event) === 0)
        for (const m of this._all()) this._forwardOutput(m, /** @type {any} */ (event), true);
    });
    this.on('removeListener', (event) => {
      if (OUTPUT.includes(/** @type {any} */ (event)) && this.listenerCount(event) === 0)
        for (const m of this._all()) this._forwardOutput(m, /** @type {any} */ (event), false);
    });
    // The first monitor checks the options (it throws TypeError/RangeError as Monitor does).
    for (let i = 0; i < count; i++) this.monitors.push(this._create(i, count));
  }

  /** How many instances the group has now. */
  get size() {
    return this.monitors.length;
  }

  /** Every monitor whose events the group forwards: its instances and those leaving. */
  _all() {
    return [...this.monitors, ...this._leaving];
  }

  /**
   * The monitor of instance `index` of `count`.
   * @param {number} index
   * @param {number} count
   * @returns {Instance}
   */
  _create(index, count) {
    const o = /** @type {Record<string, any>} */ ({ ...this._options });
    // Each its own copy of what a monitor changes in place.
    if (o.spawnWith && typeof o.spawnWith === 'object') o.spawnWith = { ...o.spawnWith };
    if (Array.isArray(o.watchIgnorePatterns)) o.watchIgnorePatterns = o.watchIgnorePatterns.slice();
    const env = o.env && typeof o.env === 'object' ? o.env : {};
    o.env = {
      ...env,
      FOREVER_INSTANCE: String(index),
      // PM2's name for it (or its instance_var's), so apps written for PM2's cluster mode
      // run unchanged.
      [this.instanceVar]: String(index),
      FOREVER_INSTANCES: String(count),
    };
    const m = /** @type {Instance} */ (
      /** @type {unknown} */ (new InstanceMonitor(this, index, this.script, o))
    );
    // Whether its child is up, for startAsync() (see upNow).
    m.on('start', () => (m.waitReady ? UP.delete(m) : UP.add(m)));
    m.on('restart', () => (m.waitReady ? UP.delete(m) : UP.add(m)));
    m.on('ready', () => UP.add(m));
    m.on('exit', () => UP.delete(m));
    for (const event of FORWARDED) {
      m.on(event, (...args) => {
        const leaving = this._leaving.has(m);
        if (!leaving && !this.monitors.includes(m)) return;
        this.emit(event, index, ...args);
        // Its supervision ended: a monitor that left the group is let go.
        if (event === 'exit' && leaving) this._forget(m);
      });
    }
    m.on('error', (/** @type {Error & { instance?: number }} */ err) => {
      if (err && typeof err === 'object' && !('instance' in err)) err.instance = index;
      this.emit('error', err, index);
    });
    for (const stream of OUTPUT)
      if (this.listenerCount(stream) > 0) this._forwardOutput(m, stream, true);
    return m;
  }

  /**
   * Starts or stops forwarding `stream` from `m`.
   * @param {Instance} m
   * @param {'stdout' | 'stderr'} stream
   * @param {boolean} on
   */
  _forwardOutput(m, stream, on) {
    const outputs = this._outputs;
    let mine = outputs.get(m);
    if (!mine) outputs.set(m, (mine = {}));
    const had = mine[stream];
    if (on && !had) {
      /** @param {Buffer} data */
      const forward = (data) => this.emit(stream, m.instance, data);
      mine[stream] = forward;
      m.on(stream, forward);
    } else if (!on && had) {
      m.off(stream, had);
      delete mine[stream];
    }
  }

  /** A monitor that left the group has ended: its events are no longer forwarded. @param {Instance} m */
  _forget(m) {
    this._leaving.delete(m);
    for (const stream of OUTPUT) this._forwardOutput(m, stream, false);
  }

  /**
   * The `listen` sockets of an instance about to start, in the core's shape, shared as the
   * group shares them.
   * @param {import('./binding').NativeListen[]} listen
   * @param {Instance} self
   * @returns {import('./binding').NativeListen[]}
   */
  _share(listen, self) {
    if (!this.listenReusePort) return listen.map((l) => ({ ...l, group: this._key }));
    // Port 0: the port the instances that listen already were given.
    const peer = this._all().find((m) => m !== self && m.listenAddresses().length > 0);
    const bound = peer ? peer.listenAddresses() : [];
    return listen.map((l, i) => {
      // A Unix socket cannot be bound twice: one for all, as without listenReusePort.
      if (l.path !== undefined && l.path !== null) return { ...l, group: this._key };
      const port = l.port === 0 && bound[i] && bound[i].port !== undefined ? bound[i].port : l.port;
      // The instance's key: a scale-down lets go of its sockets early (see `_scale`).
      return { ...l, port, reusePort: true, group: `${this._key}/${self.instance}` };
    });
  }

  /**
   * Starts every instance that is not running. Returns the group; each instance's
   * `'start'` follows (as `'start'` with its index), and failures arrive as `'error'`.
   */
  start() {
    this._started = true;
    for (const m of this.monitors) this._startOne(m, false, false).catch(() => {});
    return this;
  }

  /**
   * `start()`, awaitable: resolves once every instance has started (is ready, with
   * `waitReady`), those started earlier included; rejects with the first instance's error.
   * @returns {Promise<this>}
   */
  async startAsync() {
    this._started = true;
    await Promise.all(this.monitors.map((m) => this._startOne(m, true)));
    return this;
  }

  /**
   * Starts instance `m` unless it supervises already. One that a stop() is taking down
   * starts again once its child is gone (a monitor refuses a start meanwhile).
   * @param {Instance} m
   * @param {boolean} wait settle with its start (its errors are the promise's, as
   *   `startAsync()`'s); else its errors are `'error'`s, and the promise only says when
   * @param {boolean} [track] without `wait`: settle once it is up or its start failed
   *   (scale()'s `'scaled'` waits for it); false: settle at once, waiting for nothing
   * @returns {Promise<unknown>}
   */
  _startOne(m, wait, track = true) {
    const stopping = this._stopping.get(m);
    if (stopping !== undefined) {
      return stopping.then(() => {
        // stop() again, or scale() took it out, meanwhile: not to be started.
        if (!this._started || !this.monitors.includes(m)) return undefined;
        return this._startOne(m, wait, track);
      });
    }
    if (active(m)) return wait || track ? upNow(m) : Promise.resolve();
    if (wait) return m.startAsync();
    m.start();
    return track ? upNow(m, true) : Promise.resolve();
  }

  /**
   * Stops instance `m`, remembering the stop until its child is gone.
   * @param {Instance} m
   * @returns {Promise<void>}
   */
  _stopOne(m) {
    const settled = m
      .stopAsync()
      .then(
        () => {},
        () => {},
      )
      .then(() => {
        if (this._stopping.get(m) === settled) this._stopping.delete(m);
      });
    this._stopping.set(m, settled);
    return settled;
  }

  /** Stops every instance (gracefully: each `killSignal`, then `SIGKILL` after `killTTL`). */
  stop() {
    this._started = false;
    for (const m of this._all()) if (active(m)) this._stopOne(m);
    return this;
  }

  /**
   * `stop()`, awaitable: resolves once every instance's child (and tree) is gone.
   * @returns {Promise<this>}
   */
  async stopAsync() {
    this._started = false;
    await Promise.all(
      this._all().map((m) => (active(m) ? this._stopOne(m) : this._stopping.get(m))),
    );
    return this;
  }

  /**
   * Changes the number of instances to `n` at run time. New instances start at once if the
   * group was started; the last `size - n` instances leave the group and are stopped
   * gracefully (their children drain: with the shared socket, what waits in its queue is
   * taken by the others). FOREVER_INSTANCES says `n` to children started from now on.
   * @param {number | string} n a whole number >= 1 or `'max'`
   */
  scale(n) {
    this._scale(n);
    return this;
  }

  /**
   * `scale()`, awaitable: resolves once the new instances have started (are ready, with
   * `waitReady`) and the removed ones are gone.
   * @param {number | string} n
   * @returns {Promise<this>}
   */
  async scaleAsync(n) {
    await Promise.all(this._scale(n, true));
    return this;
  }

  /**
   * @param {number | string} n
   * @param {boolean} [wait] return the promises of each step
   * @returns {Promise<unknown>[]}
   */
  _scale(n, wait = false) {
    const to = checkInstances('n', n);
    const from = this.monitors.length;
    /** @type {Promise<unknown>[]} */
    const steps = [];
    if (to < from) {
      const leaving = this.monitors.splice(to);
      for (const m of leaving) {
        if (!active(m)) continue;
        this._leaving.add(m);
        // Its own SO_REUSEPORT sockets: the core lets go of them now, so that they leave the
        // kernel's group when the child stops listening, not once it has drained and exited
        // (connections still landing there meanwhile would be reset at the close).
        if (this.listenReusePort) binding().releaseListeners(`${this._key}/${m.instance}`);
        steps.push(this._stopOne(m));
      }
    }
    for (const m of this.monitors) m._env.FOREVER_INSTANCES = String(to);
    for (let i = from; i < to; i++) {
      const m = this._create(i, to);
      this.monitors.push(m);
      if (this._started) steps.push(this._startOne(m, wait));
    }
    // Not awaited: a failed start is its own 'error', and the promise only says when.
    if (!wait) for (const step of steps) step.catch(() => {});
    if (from !== to) {
      // Once each step is done; a listener's throw is not swallowed by the chain.
      const done = Promise.allSettled(steps).then(() => emitNow(this, 'scaled', { from, to }));
      if (wait) steps.push(done);
    }
    return steps;
  }

  /**
   * Rolling reload: replaces the instances `reloadBatch` at a time, each new child ready
   * (`waitReady`, else after `reloadGrace`) before its old one is stopped, so at most
   * `reloadBatch` instances are ever between an old and a new child. The next batch starts
   * once every new child of this one has taken over. A new child that fails stops the
   * roll: the instances not yet replaced serve on with their old children, and the failure
   * is reported once (`'error'` with code `ERR_RELOAD_FAILED` and `instance`, or the
   * rejection of `reloadAsync()`). `'reloaded'` follows a roll that replaced every instance.
   */
  reload() {
    this._roll(false).catch(() => {});
    return this;
  }

  /**
   * `reload()`, awaitable: resolves once every instance was replaced and every old child
   * is gone; rejects with the failure that stopped the roll (then not emitted as `'error'`).
   * @returns {Promise<this>}
   */
  async reloadAsync() {
    await this._roll(true);
    return this;
  }

  /**
   * @param {boolean} awaited the caller takes the failure (else it is emitted)
   */
  async _roll(awaited) {
    if (this._rolling) {
      const err = /** @type {Error & { code: string }} */ (
        new Error('A rolling reload is already under way.')
      );
      err.code = 'ERR_RELOAD_IN_PROGRESS';
      if (!awaited) process.nextTick(() => this.emit('error', err, -1));
      throw err;
    }
    const order = this.monitors.slice();
    this._rolling = order;
    this._started = true;
    /** @type {Promise<unknown>[]} */
    const olds = [];
    let replaced = 0;
    try {
      for (let at = 0; at < order.length; at += this.reloadBatch) {
        // stop() ends the roll; instances removed by scale() meanwhile are not reloaded.
        if (!this._started) throw stoppedRoll(replaced, order.length);
        const batch = order
          .slice(at, at + this.reloadBatch)
          .filter((m) => this.monitors.includes(m));
        const results = await Promise.allSettled(batch.map((m) => this._reloadOne(m)));
        for (let i = 0; i < results.length; i++) {
          const r = results[i];
          if (r.status === 'fulfilled') {
            replaced += 1;
            olds.push(r.value.done);
          }
        }
        if (!this._started) throw stoppedRoll(replaced, order.length);
        // An instance that left the group (scale()) while it reloaded is no failure.
        const failed = results.findIndex(
          (r, i) => r.status === 'rejected' && this.monitors.includes(batch[i]),
        );
        if (failed >= 0) {
          const cause = /** @type {PromiseRejectedResult} */ (results[failed]).reason;
          throw rollFailed(cause, batch[failed].instance, replaced, order.length);
        }
      }
      // Every new child has taken over: another roll may start while the old ones drain, as
      // a monitor's reload() may while its old child drains.
      this._rolling = null;
      await Promise.all(olds);
    } catch (err) {
      // A roll ended by stop() is no error to report: only reloadAsync() hears of it. Emitted
      // out of this promise's chain: with no 'error' listener it throws, as a monitor's does.
      const e = /** @type {Error & { code?: string, instance?: number }} */ (err);
      if (!awaited && e.code !== 'ERR_SUPERVISION_ENDED')
        emitNow(this, 'error', e, e.instance ?? -1);
      throw err;
    } finally {
      if (this._rolling === order) this._rolling = null;
    }
    // A listener that throws is the listener's error, not the roll's.
    emitNow(this, 'reloaded', { instances: replaced });
  }

  /**
   * Reloads one instance: resolves once its new child has taken over, with `done`, the
   * promise of its old child's end; rejects if the new child failed.
   * @param {Instance} m
   * @returns {Promise<{ done: Promise<unknown> }>}
   */
  _reloadOne(m) {
    return new Promise((resolve, reject) => {
      /** @type {Promise<unknown>} */
      let done = Promise.resolve();
      /** @param {{ phase: string }} info */
      const onReload = (info) => {
        if (info.phase !== 'ready') return;
        m.off('reload', onReload);
        resolve({ done: done.catch(() => {}) });
      };
      m.on('reload', onReload);
      // Rejects (and the monitor emits no 'error') when the new child fails; resolves at
      // 'done', or when an instance that was not running has started.
      done = m.reloadAsync();
      done.then(
        () => {
          m.off('reload', onReload);
          resolve({ done: Promise.resolve() });
        },
        (err) => {
          m.off('reload', onReload);
          reject(err);
        },
      );
    });
  }

  /**
   * The sockets the instances listen on, as bound (the port the system picked for port 0):
   * those of the first instance that listens. Empty while none does.
   */
  listenAddresses() {
    for (const m of this.monitors) {
      const bound = m.listenAddresses();
      if (bound.length > 0) return bound;
    }
    return [];
  }

  /**
   * What each instance uses (`Monitor.usage()`), and the sums: CPU (percent of one core),
   * memory and processes of every instance's tree, restarts, and how many instances run.
   */
  usage() {
    const instances = this.monitors.map((m) => m.usage());
    /** @param {'cpu' | 'rss' | 'treeRss' | 'treePids'} key */
    const sum = (key) => {
      const known = instances.filter((u) => u[key] !== null);
      return known.length === 0
        ? null
        : known.reduce((n, u) => n + /** @type {number} */ (u[key]), 0);
    };
    return {
      instances,
      total: {
        cpu: sum('cpu'),
        rss: sum('rss'),
        treeRss: sum('treeRss'),
        treePids: sum('treePids'),
        restarts: instances.reduce((n, u) => n + u.restarts, 0),
        running: instances.filter((u) => u.pid !== null).length,
      },
    };
  }
}

module.exports = { Group, checkInstances };
