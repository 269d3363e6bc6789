// @ts-check
'use strict';
/**
 * EventEmitter2 6.x's extra API over Node's EventEmitter: code written for forever-monitor
 * (whose Monitor inherits EE2) calls `onAny`, `many`, `waitFor`, `emitAsync`, `listenTo`… on
 * monitors. index.js loads this on first use, so `require('forever-native')` never pays.
 * Listeners stay in Node's table (a wrapper's `.listener` names the original, as with Node's
 * own `once`), so `listeners()`, `removeListener(event, fn)` and 'newListener' see them.
 * EE2's behaviour is kept, its bugs excepted ("EE2 bug" below). Not supported (forever-monitor
 * never turns them on): wildcards, `on(fn)` as onAny, the newListener/removeListener/
 * ignoreErrors options, 'removeListenerAny'.
 */

const { EventEmitter, errorMonitor } = require('events');

/** @typedef {(...args: any[]) => any} Fn */
/** @typedef {EventEmitter & { _all?: Fn[], event?: string | symbol }} Emitter */
/** @typedef {(value: any, reject: (reason: string) => never) => any} Reducer */

// Listeners go in with Node's methods, as EE2's go in with its internal `_on`: a subclass's
// `on` override (index.js routes `options` through it) must not be entered again.
const nodeOn = EventEmitter.prototype.on;
const nodePrepend = EventEmitter.prototype.prependListener;

/**
 * EE2's option check, same errors and messages: unknown keys throw, undefined values keep
 * the default, the others go through their reducer.
 * @param {any} options @param {Record<string, any>} schema @param {Record<string, Reducer>} reducers
 * @returns {Record<string, any>}
 */
function resolveOptions(options, schema, reducers) {
  const computed = Object.assign({}, schema);
  if (!options) return computed;
  if (typeof options !== 'object') throw TypeError('options must be an object');
  for (const option of Object.keys(options)) {
    if (!Object.prototype.hasOwnProperty.call(schema, option))
      throw Error(`Unknown "${option}" option`);
    const value = options[option];
    if (value === undefined) continue;
    const reducer = reducers[option];
    computed[option] = !reducer
      ? value
      : reducer(value, (reason) => {
          throw Error(`Invalid "${option}" option value` + (reason ? `. Reason: ${reason}` : ''));
        });
  }
  return computed;
}

/** @param {string[]} types @returns {Reducer} */
const typeReducer = (types) => (v, reject) =>
  types.includes(typeof v) ? v : reject(`value must be type of ${types.join('|')}`);
const functionReducer = typeReducer(['function']);
/** @type {Reducer} */
const constructorReducer = (v, reject) =>
  typeof v === 'function' && Object.prototype.hasOwnProperty.call(v, 'prototype')
    ? v
    : reject('value must be a constructor');
/** @type {Reducer} */
const timeoutReducer = (v, reject) =>
  (v *= 1) >= 0 && Number.isFinite(v) ? v : reject('timeout must be a positive number');

/** What `{ objectify: true }` returns, as EE2's `Listener`: `off()` removes the listener. */
class Listener {
  /** @param {Emitter} emitter @param {string | symbol} event @param {Fn} listener */
  constructor(emitter, event, listener) {
    this.emitter = emitter;
    this.event = event;
    this.listener = listener;
  }
  off() {
    this.emitter.off(this.event, this.listener);
    return this;
  }
}

/**
 * EE2's setupListener (`async`, `nextTick`, `promisify`, `objectify`; `true` means promisify,
 * `false` async) and, with `counts`, `_many`'s counter (a `ttl` that never decrements to 0,
 * such as 0, -1 or undefined, listens for good, as there); adds the result with `add`.
 * @param {Emitter} emitter @param {Fn} add @param {string | symbol} event @param {Fn} fn
 * @param {any} options @param {any} ttl @param {boolean} counts
 * @returns {Emitter | Listener}
 */
function attach(emitter, add, event, fn, options, ttl, counts) {
  let listener = fn;
  /** @type {any} */
  const o =
    options === true
      ? { promisify: true }
      : options === false
        ? { async: true }
        : options === undefined
          ? {}
          : options;
  if (!o || typeof o !== 'object') throw TypeError('options should be an object or true');
  let { async, promisify, nextTick } = o;
  if (async || nextTick || promisify) {
    // EE2 looks at what it wraps, which for once/many is its counter: never async.
    if (promisify === undefined) promisify = !counts && fn.constructor.name === 'AsyncFunction';
    listener = /** @this {any} */ function deferred(...args) {
      const name = this.event;
      const call = () => {
        this.event = name; // EE2 gives the deferred call the event it was emitted for
        return fn.apply(this, args);
      };
      // EE2 bug: with promisify + nextTick it returns Promise.resolve() and never calls fn.
      if (promisify)
        return (
          nextTick ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve))
        ).then(call);
      return (nextTick ? process.nextTick : setImmediate)(() => {
        call();
      });
    };
    /** @type {any} */ (listener).listener = fn;
  }
  if (counts) {
    // EE2 bug: its counter sits inside the deferral and removes itself, which is not what it
    // registered, so once/many with async/nextTick/promisify never stop; counted here, at
    // emit time, they fire `ttl` times.
    const inner = listener;
    listener = /** @this {any} */ function counted(...args) {
      if (--ttl === 0) emitter.removeListener(event, counted);
      return inner.apply(this, args);
    };
    /** @type {any} */ (listener).listener = fn;
  }
  add.call(emitter, event, listener);
  return o.objectify ? new Listener(emitter, event, listener) : emitter;
}

/**
 * EE2's `on/prependListener/once/prependOnceListener(event, fn, options)` with an `options`
 * argument: index.js calls it whenever `options !== undefined` (EE2 rejects `null`, takes
 * `true`/`false`). `baseMethod` adds the finished listener (Node's `on` or `prependListener`;
 * when null, `prepend` picks one); `ttl` is 1 for once, undefined for on. Returns the
 * emitter, or under `objectify` a `Listener` with `off()`.
 * @param {Emitter} emitter @param {Fn | null | undefined} baseMethod @param {string | symbol} event
 * @param {Fn} fn @param {any} options @param {boolean} [prepend] @param {number} [ttl]
 * @returns {Emitter | Listener}
 */
function listen(emitter, baseMethod, event, fn, options, prepend, ttl) {
  const counts = ttl !== undefined;
  if (typeof fn !== 'function')
    throw Error(`${counts ? 'many' : 'on'} only accepts instances of Function`);
  return attach(
    emitter,
    baseMethod || (prepend ? nodePrepend : nodeOn),
    event,
    fn,
    options,
    ttl,
    counts,
  );
}

/**
 * Node's notices about its own table, and errorMonitor (Node emits it through `this.emit`
 * before each 'error'): EE2 as forever-monitor builds it never emits them, so they reach no
 * any-listener and leave `event` alone.
 * @param {string | symbol} event
 */
const nodeOwn = (event) =>
  event === 'newListener' || event === 'removeListener' || event === errorMonitor;

/**
 * EE2's `emit`, given Node's (`baseEmit`, called as `baseEmit.call(emitter, event, ...args)`):
 * any-listeners first, `emitter.event = event` before each of them and before Node's
 * listeners; with any-listeners it returns true, and an 'error' without 'error' listeners
 * does not throw (Node's emit still runs, for errorMonitor; its throw is dropped). Right in
 * any state, though index.js calls it only while `_all` is non-empty.
 * @param {Emitter} emitter @param {Fn} baseEmit @param {string | symbol} event @param {any[]} args
 * @returns {boolean}
 */
function emit(emitter, baseEmit, event, args) {
  const all = emitter._all;
  const own = nodeOwn(event);
  // EE2 bug: an `_all` that offAny() emptied still makes it return true and swallow
  // 'error'; here an empty one is none.
  if (own || all === undefined || all.length === 0) {
    if (!own && emitter.listenerCount(event) !== 0) emitter.event = event;
    return baseEmit.call(emitter, event, ...args);
  }
  for (const fn of all.slice()) {
    emitter.event = event;
    fn.call(emitter, event, ...args);
  }
  if (emitter.listenerCount(event) !== 0) emitter.event = event;
  else if (event === 'error') {
    try {
      baseEmit.call(emitter, event, ...args);
    } catch (err) {
      if (err !== args[0] && !(err && /** @type {any} */ (err).code === 'ERR_UNHANDLED_ERROR'))
        throw err;
    }
    return true;
  }
  baseEmit.call(emitter, event, ...args);
  return true;
}

/** Each emitter's listenTo subscriptions: one observer per target (EE2's `_observers`). */
const observersOf = /** @type {WeakMap<object, TargetObserver[]>} */ (new WeakMap());

/** EE2's TargetObserver: re-emits a target's events on the emitter. */
class TargetObserver {
  /** @param {Emitter} emitter @param {any} target @param {Record<string, any>} options */
  constructor(emitter, target, options) {
    let { on, off } = options;
    // As in EE2, the target's own methods win over options.on/off.
    if (target.addEventListener) [on, off] = [target.addEventListener, target.removeEventListener];
    else if (target.addListener) [on, off] = [target.addListener, target.removeListener];
    else if (target.on) [on, off] = [target.on, target.off];
    if (!on && !off) throw Error('target does not implement any known event API');
    if (typeof on !== 'function') throw TypeError('on method must be a function');
    if (typeof off !== 'function') throw TypeError('off method must be a function');
    this._emitter = emitter;
    this._target = target;
    /** @type {Fn} */ this._on = on;
    /** @type {Fn} */ this._off = off;
    this._count = 0;
    // Null-prototype: EE2's {} takes 'constructor' or 'toString' as already listening.
    /** @type {Record<PropertyKey, Fn>} */ this._listeners = Object.create(null);
    const list = observersOf.get(emitter);
    if (list) list.push(this);
    else observersOf.set(emitter, [this]);
  }

  /** @param {PropertyKey} event @param {any} localEvent @param {Fn | undefined} reducer */
  subscribe(event, localEvent, reducer) {
    const { _emitter: emitter, _target: target } = this;
    /** @param {...any} args */
    const handler = (...args) => {
      if (!reducer) return void emitter.emit(localEvent, ...args);
      // A reducer may rename the event (`name`), change `data` in place, or drop it (false).
      const eventObj = { data: args, name: localEvent, original: event };
      if (reducer.call(target, eventObj) !== false) emitter.emit(eventObj.name, ...args);
    };
    if (this._listeners[event]) throw Error(`Event '${String(event)}' is already listening`);
    this._count++;
    this._listeners[event] = handler;
    this._on.call(target, event, handler);
  }

  /** @param {any} event one event, or all of them when falsy */
  unsubscribe(event) {
    if (event && typeof event !== 'string') throw TypeError('event must be a string');
    const listeners = this._listeners;
    if (event) {
      if (!listeners[event]) return;
      this._off.call(this._target, event, listeners[event]);
      delete listeners[event];
      if (--this._count !== 0) return;
    } else {
      const events = Reflect.ownKeys(listeners);
      for (let i = events.length; i-- > 0;)
        this._off.call(this._target, events[i], listeners[events[i]]);
      this._listeners = Object.create(null);
      this._count = 0;
    }
    // EE2 bug: it looks for the observer among the targets, finds nothing and drops the last
    // observer (another target's, with several), whose handlers then stay attached for good.
    const list = /** @type {TargetObserver[]} */ (observersOf.get(this._emitter));
    const index = list.indexOf(this);
    if (index !== -1) list.splice(index, 1);
  }
}

/**
 * The methods index.js copies onto Monitor.prototype (the test onto its class), as EE2's.
 * `this` is a Node EventEmitter whose `emit` follows `emit` above.
 */
const methods = {
  /** Calls `fn(event, ...args)` for every event, before its listeners. @this {Emitter} @param {Fn} fn */
  onAny(fn) {
    return addAny(this, fn, false);
  },
  /** `onAny`, ahead of the any-listeners there. @this {Emitter} @param {Fn} fn */
  prependAny(fn) {
    return addAny(this, fn, true);
  },
  /** Removes `fn` from the any-listeners, or all of them without `fn`. @this {Emitter} @param {Fn} [fn] */
  offAny(fn) {
    const all = this._all;
    if (fn && all !== undefined && all.length > 0) {
      if (all.includes(fn)) all.splice(all.indexOf(fn), 1);
    } else if (all !== undefined) {
      this._all = []; // a new array, as EE2: a list listenersAny() gave keeps its content
    }
    return this;
  },
  /** The any-listeners: EE2 gives its own live array, or a new empty one. @this {Emitter} */
  listenersAny() {
    return this._all !== undefined ? this._all : [];
  },
  /** `fn` for the next `ttl` emits of `event`. @this {Emitter} @param {string | symbol} event @param {number} ttl @param {Fn} fn @param {any} [options] */
  many(event, ttl, fn, options) {
    return addMany(this, event, ttl, fn, false, options);
  },
  /** `many`, ahead of the listeners there. @this {Emitter} @param {string | symbol} event @param {number} ttl @param {Fn} fn @param {any} [options] */
  prependMany(event, ttl, fn, options) {
    return addMany(this, event, ttl, fn, true, options);
  },
  /**
   * A promise of the args of the next `event` that passes `filter`, with `cancel(reason)`
   * (rejects with `reason` or Error('canceled')). Options: `timeout` (or a number; rejects
   * with Error('timeout'), code ETIMEDOUT), `filter` (or a function), `handleError` (a
   * truthy first arg rejects, else resolve with the rest), `Promise`, `overload`.
   * @this {Emitter} @param {string | symbol} event @param {any} [options]
   */
  waitFor(event, options) {
    if (typeof options === 'number') options = { timeout: options };
    else if (typeof options === 'function') options = { filter: options };
    const o = resolveOptions(
      options,
      { timeout: 0, filter: undefined, handleError: false, Promise, overload: false },
      { filter: functionReducer, Promise: constructorReducer },
    );
    /** @type {(reason?: unknown) => void} */
    let cancel = () => {};
    let native = false;
    const promise = new o.Promise(
      (/** @type {Fn} */ resolve, /** @type {Fn} */ reject, /** @type {any} */ onCancel) => {
        // Checked in here, as in EE2: a bad timeout rejects, it does not throw.
        const { timeout } = resolveOptions(
          { timeout: o.timeout, overload: o.overload },
          { timeout: 0, overload: false },
          { timeout: timeoutReducer },
        );
        // A Promise class with its own cancel (bluebird) keeps it, unless `overload`.
        native =
          !o.overload &&
          typeof o.Promise.prototype.cancel === 'function' &&
          typeof onCancel === 'function';
        let pending = true;
        /** @type {ReturnType<typeof setTimeout> | undefined} */ let timer;
        /** @param {Fn} how @param {unknown} value */
        const settle = (how, value) => {
          pending = false;
          clearTimeout(timer);
          how(value);
        };
        /** @param {...any} args */
        const listener = (...args) => {
          if (o.filter && !o.filter.apply(this, args)) return;
          this.removeListener(event, listener);
          if (!o.handleError) settle(resolve, args);
          else if (args[0]) settle(reject, args[0]);
          else settle(resolve, args.slice(1));
        };
        if (native) onCancel(() => this.removeListener(event, listener));
        cancel = (reason) => {
          if (!pending) return;
          this.removeListener(event, listener);
          settle(reject, reason || Error('canceled'));
        };
        nodeOn.call(this, event, listener);
        if (timeout <= 0) return;
        timer = setTimeout(() => {
          const reason = Object.assign(Error('timeout'), { code: 'ETIMEDOUT' });
          promise.cancel(reason); // a bluebird cancel does not reject: EE2 rejects too
          reject(reason);
        }, timeout);
      },
    );
    if (!native) promise.cancel = (/** @type {unknown} */ reason) => cancel(reason);
    return promise;
  },
  /**
   * Calls the any-listeners and `event`'s listeners (setting `event` before each) and
   * resolves with their results (Promise.all). It calls them itself, as EE2 does: not
   * through `emit()`.
   * @this {Emitter} @param {string | symbol} event @param {...any} args
   */
  emitAsync(event, ...args) {
    if (event === 'newListener' && this.listenerCount('newListener') === 0)
      return Promise.resolve([false]);
    const all = this._all !== undefined && this._all.length !== 0 ? this._all.slice() : [];
    if (all.length === 0 && event === 'error' && this.listenerCount('error') === 0) {
      return Promise.reject(
        args[0] instanceof Error ? args[0] : "Uncaught, unspecified 'error' event.",
      );
    }
    const results = [];
    for (const fn of all) {
      this.event = event;
      results.push(fn.call(this, event, ...args));
    }
    // Read after the any-listeners ran, as EE2 does.
    for (const fn of this.rawListeners(event)) {
      this.event = event;
      results.push(fn.apply(this, args));
    }
    return Promise.all(results);
  },
  /**
   * Re-emits `target`'s events here. `events`: a name, space-separated names, an array, or a
   * map `{ targetEvent: localEvent }`; `options.reducers` (one function, or one per event)
   * may rename an event or drop it (false); `options.on/off` (functions) serve targets
   * without addEventListener/addListener/on.
   * @this {Emitter} @param {any} target @param {any} events @param {any} [options]
   */
  listenTo(target, events, options) {
    if (typeof target !== 'object') throw TypeError('target musts be an object');
    const o = resolveOptions(
      options,
      { on: undefined, off: undefined, reducers: undefined },
      { on: functionReducer, off: functionReducer, reducers: typeReducer(['object', 'function']) },
    );
    /** @param {PropertyKey[]} keys */
    const toObject = (keys) => Object.fromEntries(keys.map((key) => [key, undefined]));
    const map = Array.isArray(events)
      ? toObject(events)
      : typeof events === 'string'
        ? toObject(events.split(/\s+/))
        : events;
    if (typeof map !== 'object') throw TypeError('events must be an object');
    const list = observersOf.get(this);
    const observer =
      (list && list.find((known) => known._target === target)) ||
      new TargetObserver(this, target, o);
    const reducers = o.reducers;
    for (const event of Reflect.ownKeys(map)) {
      observer.subscribe(
        event,
        map[event] || event,
        typeof reducers === 'function' ? reducers : reducers && reducers[event],
      );
    }
    return this;
  },
  /**
   * Stops re-emitting `target`'s `event` (all its events without `event`, every target's
   * without `target`); true when a target matched.
   * @this {Emitter} @param {any} [target] @param {string} [event]
   */
  stopListeningTo(target, event) {
    const list = observersOf.get(this);
    if (!list) return false;
    if (target && typeof target !== 'object') throw TypeError('target should be an object');
    let matched = false;
    for (let i = list.length; i-- > 0;) {
      if (target && list[i]._target !== target) continue;
      list[i].unsubscribe(event);
      matched = true;
    }
    return matched;
  },
  /** Whether `event` (any event, without it) has listeners, any-listeners included. @this {Emitter} @param {string | symbol} [event] */
  hasListeners(event) {
    if (this._all !== undefined && this._all.length !== 0) return true;
    return event === undefined ? this.eventNames().length !== 0 : this.listenerCount(event) !== 0;
  },
};

/** EE2's `_onAny`; `_all` is made non-enumerable so a monitor's JSON stays as it was. @param {Emitter} emitter @param {Fn} fn @param {boolean} prepend */
function addAny(emitter, fn, prepend) {
  if (typeof fn !== 'function') throw Error('onAny only accepts instances of Function');
  if (emitter._all === undefined)
    Object.defineProperty(emitter, '_all', { value: [], writable: true, configurable: true });
  /** @type {Fn[]} */ (emitter._all)[prepend ? 'unshift' : 'push'](fn);
  return emitter;
}

/** EE2's `_many`. @param {Emitter} emitter @param {string | symbol} event @param {any} ttl @param {Fn} fn @param {boolean} prepend @param {any} options */
function addMany(emitter, event, ttl, fn, prepend, options) {
  if (typeof fn !== 'function') throw Error('many only accepts instances of Function');
  return attach(emitter, prepend ? nodePrepend : nodeOn, event, fn, options, ttl, true);
}

/**
 * A note for index.js: EE2 sets `emitter.event` on every emit that reaches a listener, so
 * Monitor.emit sets it on its own fast path (no any-listeners), written out inline:
 * `if (!nodeOwn(event) && this.listenerCount(event) !== 0) this.event = event`.
 */
const setsEvent = true;

module.exports = { methods, emit, listen, setsEvent };
