// emitter2.js: EventEmitter2's extra API over Node's EventEmitter. Each scenario runs on
// EventEmitter2 itself and on a Node EventEmitter subclass wired as index.js wires Monitor
// (and on a Monitor, once index.js is wired), and must give the same observable outcome.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { EventEmitter, errorMonitor } = require('events');
const { EventEmitter2 } = require('eventemitter2');
const ee2 = require('../emitter2.js');

const RUN_FOREVER = path.join(__dirname, 'fixtures', 'run-forever.js');

/** A Node EventEmitter wired exactly as index.js wires Monitor. */
class Mixed extends EventEmitter {
  constructor() {
    super();
    // EE2's default `event` (its prototype has ''), non-enumerable so JSON is unchanged.
    Object.defineProperty(this, 'event', { value: '', writable: true });
  }

  emit(event, ...args) {
    if (this._all !== undefined && this._all.length !== 0)
      return ee2.emit(this, EventEmitter.prototype.emit, event, args);
    if (
      event !== 'newListener' &&
      event !== 'removeListener' &&
      event !== errorMonitor &&
      this.listenerCount(event) !== 0
    )
      this.event = event;
    return super.emit(event, ...args);
  }

  on(event, fn, options) {
    return options === undefined
      ? super.on(event, fn)
      : ee2.listen(this, super.on, event, fn, options, false);
  }

  prependListener(event, fn, options) {
    return options === undefined
      ? super.prependListener(event, fn)
      : ee2.listen(this, super.prependListener, event, fn, options, true);
  }

  once(event, fn, options) {
    return options === undefined
      ? super.once(event, fn)
      : ee2.listen(this, super.on, event, fn, options, false, 1);
  }

  prependOnceListener(event, fn, options) {
    return options === undefined
      ? super.prependOnceListener(event, fn)
      : ee2.listen(this, super.prependListener, event, fn, options, true, 1);
  }
}
Mixed.prototype.addListener = Mixed.prototype.on;
Object.assign(Mixed.prototype, ee2.methods);

const SYM = Symbol('sym');
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Listeners that log `[tag, this.event, ...args]` and return `result`. */
function recorder() {
  const log = [];
  const make = (tag, result) => {
    const fn = function (...args) {
      log.push([
        tag,
        this.event,
        ...args.map((a) => (a instanceof Error ? `Error: ${a.message}` : a)),
      ]);
      return result;
    };
    fn.tag = tag;
    return fn;
  };
  return { log, make };
}

/** A comparable picture of a value (functions by tag, errors by message). */
function picture(value, e) {
  if (value === e) return '<emitter>';
  if (Array.isArray(value)) return value.map((v) => picture(v, e));
  if (value instanceof Error)
    return { error: value.constructor.name, message: value.message, code: value.code };
  if (typeof value === 'function') return value.tag || `<${typeof value}>`;
  if (value && typeof value === 'object' && value.constructor !== Object)
    return `<${value.constructor.name}>`;
  return value;
}

/** What a call did: returned (pictured) or threw. */
function attempt(e, call) {
  try {
    return { returned: picture(call(), e) };
  } catch (err) {
    return { threw: picture(err, e) };
  }
}

/** How a promise settled. */
const settle = (e, promise) =>
  promise.then(
    (v) => ({ resolved: picture(v, e) }),
    (err) => ({ rejected: picture(err, e) }),
  );

/**
 * The scenarios: each gets a fresh emitter and returns what it observed. `fresh` ones read
 * state a Monitor never has (it always has 'newListener'/'removeListener' listeners).
 */
const scenarios = [
  {
    name: 'onAny/prependAny see every event name and args, before the listeners',
    run(e) {
      const { log, make } = recorder();
      e.on('a', make('on-a'));
      e.onAny(make('any1'));
      e.prependAny(make('any0'));
      e.on('late', make('on-late'));
      e.removeListener('late', e.listeners('late')[0]);
      const returns = [
        e.emit('a', 1, 2),
        e.emit('b'),
        e.emit('c', 'x', { y: 1 }, [3], 4),
        e.emit(SYM, 5),
        e.emit('late'),
      ];
      return { log, returns, event: e.event, any: picture(e.listenersAny(), e) };
    },
  },
  {
    name: 'offAny removes one any-listener, or all; listenersAny is the live list',
    run(e) {
      const { log, make } = recorder();
      const [f, g, h] = [make('f'), make('g'), make('h')];
      e.onAny(f).onAny(g).onAny(h);
      const live = e.listenersAny();
      e.emit('a', 1);
      const r1 = e.offAny(g) === e;
      e.emit('b', 2);
      e.offAny(make('never-added'));
      e.emit('c', 3);
      const afterOne = picture(e.listenersAny(), e);
      const same = live === e.listenersAny();
      const r2 = e.offAny() === e;
      e.emit('d', 4);
      return {
        log,
        r1,
        r2,
        afterOne,
        same,
        afterAll: e.listenersAny().length,
        oldList: live.length,
      };
    },
  },
  {
    name: "any-listeners and `event` skip Node's own 'newListener'/'removeListener'",
    run(e) {
      const { log, make } = recorder();
      e.on('newListener', function () {});
      e.on('removeListener', function () {});
      e.emit('first');
      e.on('w', function () {});
      const beforeAny = e.event;
      e.onAny(make('any'));
      const f = make('f');
      e.on('x', f);
      e.removeListener('x', f);
      e.many('y', 1, f);
      const before = e.event;
      e.emit('y', 1);
      return { log, beforeAny, before, after: e.event };
    },
  },
  {
    name: 'the `event` field: EE2 default, set only when listeners run',
    run(e) {
      const { log, make } = recorder();
      const initial = e.event;
      e.emit('nobody');
      const afterNobody = e.event;
      e.on('a', make('a'));
      e.on(SYM, make('sym'));
      e.emit('a', 1);
      e.emit('nobody');
      const afterA = e.event;
      e.emit(SYM);
      return { log, initial, afterNobody, afterA, afterSym: e.event };
    },
  },
  {
    name: 'bad input throws as EE2 does',
    run(e) {
      const noop = function () {};
      return {
        onAny: attempt(e, () => e.onAny(5)),
        prependAny: attempt(e, () => e.prependAny()),
        many: attempt(e, () => e.many('a', 2, 'x')),
        prependMany: attempt(e, () => e.prependMany('a', 2)),
        onNull: attempt(e, () => e.on('a', noop, null)),
        onString: attempt(e, () => e.on('a', noop, 'x')),
        onNonFn: attempt(e, () => e.on('a', 5, {})),
        onceNonFn: attempt(e, () => e.once('a', 5, {})),
        manyOptions: attempt(e, () => e.many('a', 1, noop, 3)),
        waitForUnknown: attempt(e, () => e.waitFor('a', { nope: 1 })),
        waitForFilter: attempt(e, () => e.waitFor('a', { filter: 5 })),
        waitForString: attempt(e, () => e.waitFor('a', 'x')),
        waitForTrue: attempt(e, () => e.waitFor('a', true)),
        waitForPromise: attempt(e, () => e.waitFor('a', { Promise: () => {} })),
        count: e.listenerCount('a'),
      };
    },
  },
  {
    name: 'many counts its calls and removes itself; prependMany goes first',
    run(e) {
      const { log, make } = recorder();
      e.on('a', make('on'));
      const r1 = e.many('a', 2, make('many2'));
      const r2 = e.prependMany('a', 3, make('pmany3'));
      const counts = [];
      for (let i = 1; i <= 4; i++) {
        counts.push(e.emit('a', i), e.listenerCount('a'));
      }
      return { log, counts, returns: picture([r1, r2], e) };
    },
  },
  {
    name: 'many with a negative, zero, string or missing ttl',
    run(e) {
      const { log, make } = recorder();
      e.many('neg', -1, make('neg'));
      e.many('zero', 0, make('zero'));
      e.many('str', '2', make('str'));
      e.many('nan', undefined, make('nan'));
      for (let i = 0; i < 4; i++) for (const name of ['neg', 'zero', 'str', 'nan']) e.emit(name, i);
      return { log, counts: ['neg', 'zero', 'str', 'nan'].map((n) => e.listenerCount(n)) };
    },
  },
  {
    name: 'many/prependMany removed early by removeListener(event, fn) and removeAllListeners',
    run(e) {
      const { log, make } = recorder();
      const f = make('f');
      const g = make('g');
      e.many('a', 5, f);
      e.emit('a', 1);
      e.removeListener('a', f);
      e.emit('a', 2);
      e.prependMany('b', 5, g);
      e.off('b', g);
      e.emit('b', 3);
      e.many('c', 5, f);
      e.removeAllListeners('c');
      e.emit('c', 4);
      e.many('d', 5, g, { objectify: true }).off();
      e.emit('d', 5);
      return { log, counts: ['a', 'b', 'c', 'd'].map((n) => e.listenerCount(n)) };
    },
  },
  {
    name: 'once, with and without options; objectify gives a Listener with off()',
    run(e) {
      const { log, make } = recorder();
      e.once('a', make('once'));
      const l = e.once('a', make('once-obj'), { objectify: true });
      const shape = [
        l.constructor.name,
        Object.keys(l),
        l.emitter === e,
        l.event,
        typeof l.listener,
      ];
      const l2 = e.on('b', make('on-obj'), { objectify: true });
      e.prependOnceListener('a', make('ponce'), {});
      e.prependListener('b', make('pon'), {});
      e.emit('a', 1);
      e.emit('a', 2);
      e.emit('b', 1);
      const offReturns = l2.off() === l2;
      e.emit('b', 2);
      e.once('c', make('never'), { objectify: true }).off();
      e.emit('c');
      return { log, shape, offReturns, counts: ['a', 'b', 'c'].map((n) => e.listenerCount(n)) };
    },
  },
  {
    name: 'async, nextTick and promisify listeners run later, with their event',
    async run(e) {
      const { log, make } = recorder();
      e.on('a', make('async'), { async: true });
      e.on('a', make('tick'), { nextTick: true });
      e.on('a', make('false-is-async'), false);
      e.on('a', make('sync'));
      e.on('z', make('z'));
      e.emit('a', 1);
      e.emit('z', 2);
      log.push('emitted');
      await turn();
      await turn();
      const l = e.on('b', make('async-off'), { async: true, objectify: true });
      l.off();
      e.emit('b');
      await turn();
      e.on(
        'c',
        async function (x) {
          return x + 1;
        },
        { async: true },
      );
      e.on(
        'c',
        function (x) {
          return x + 2;
        },
        true,
      );
      e.on(
        'c',
        function (x) {
          return x + 3;
        },
        { promisify: true },
      );
      e.on(
        'c',
        function (x) {
          return x + 4;
        },
        { async: true, promisify: false },
      );
      const results = await e.emitAsync('c', 10);
      return {
        log,
        results: picture(results, e),
        counts: ['a', 'b', 'c'].map((n) => e.listenerCount(n)),
      };
    },
  },
  {
    name: 'waitFor resolves with the args of the first emit, then stops listening',
    async run(e) {
      const p = e.waitFor('a');
      const during = e.listenerCount('a');
      const returned = e.emit('a', 1, 'two');
      e.emit('a', 3);
      const q = e.waitFor('b', 0);
      e.emit('b');
      return {
        during,
        returned,
        cancel: typeof p.cancel,
        a: await settle(e, p),
        b: await settle(e, q),
        after: e.listenerCount('a') + e.listenerCount('b'),
      };
    },
  },
  {
    name: 'waitFor with filter (option or function)',
    async run(e) {
      const seen = [];
      const p = e.waitFor('a', {
        filter(x) {
          seen.push([x, this === e]);
          return x > 1;
        },
      });
      const q = e.waitFor('a', (x, y) => y === 'yes');
      e.emit('a', 1, 'no');
      e.emit('a', 2, 'no');
      e.emit('a', 3, 'yes');
      return { seen, p: await settle(e, p), q: await settle(e, q), after: e.listenerCount('a') };
    },
  },
  {
    name: 'waitFor with handleError',
    async run(e) {
      const ok = e.waitFor('a', { handleError: true });
      e.emit('a', null, 5, 6);
      const bad = e.waitFor('a', { handleError: true });
      e.emit('a', new Error('bad'), 7);
      const err = e.waitFor('error');
      const returned = e.emit('error', new Error('heard'));
      return {
        ok: await settle(e, ok),
        bad: await settle(e, bad),
        err: await settle(e, err),
        returned,
        after: e.listenerCount('a') + e.listenerCount('error'),
      };
    },
  },
  {
    name: 'waitFor times out, rejecting with ETIMEDOUT, and stops listening',
    async run(e) {
      const p = e.waitFor('a', 20);
      const q = e.waitFor('b', { timeout: 20, filter: () => false });
      e.emit('b', 1);
      const r = e.waitFor('c', { timeout: '20' });
      e.emit('c', 'in time');
      const results = { p: await settle(e, p), q: await settle(e, q), r: await settle(e, r) };
      e.emit('a', 'late');
      return { ...results, after: ['a', 'b', 'c'].map((n) => e.listenerCount(n)) };
    },
  },
  {
    name: 'waitFor cancel()',
    async run(e) {
      const p = e.waitFor('a', 1000);
      const cancelReturns = p.cancel();
      const q = e.waitFor('a');
      q.cancel(new Error('mine'));
      const r = e.waitFor('a');
      e.emit('a', 1);
      r.cancel();
      const duringEmit = e.listenerCount('a');
      return {
        cancelReturns,
        p: await settle(e, p),
        q: await settle(e, q),
        r: await settle(e, r),
        duringEmit,
        after: e.listenerCount('a'),
      };
    },
  },
  {
    name: 'waitFor with a bad timeout rejects (it does not throw); Promise option',
    async run(e) {
      const negative = e.waitFor('a', -1);
      const word = e.waitFor('a', { timeout: 'abc' });
      const infinite = e.waitFor('a', { timeout: Infinity });
      const cancelIsNoop = negative.cancel();
      class MyPromise extends Promise {}
      const mine = e.waitFor('b', { Promise: MyPromise });
      const isMine = mine instanceof MyPromise;
      e.emit('b', 'x');
      return {
        negative: await settle(e, negative),
        word: await settle(e, word),
        infinite: await settle(e, infinite),
        cancelIsNoop,
        isMine,
        mine: await settle(e, mine),
        after: e.listenerCount('a') + e.listenerCount('b'),
      };
    },
  },
  {
    name: 'emitAsync resolves with the results of any-listeners and listeners, sync and async',
    async run(e) {
      const { log, make } = recorder();
      e.onAny(function (type, x) {
        log.push(['any', this.event, type, x]);
        return `any:${String(type)}`;
      });
      e.on('a', make('sync', 10));
      e.on('a', async function (x) {
        await Promise.resolve();
        return x * 3;
      });
      e.once('a', make('once', 'once'));
      e.many('a', 1, function () {
        return Promise.resolve('many');
      });
      const a = await e.emitAsync('a', 5);
      const again = await e.emitAsync('a', 6);
      const nobody = await e.emitAsync('nobody', 1);
      const error = await settle(e, e.emitAsync('error', new Error('with any')));
      return {
        log,
        a: picture(a, e),
        again: picture(again, e),
        nobody,
        error,
        count: e.listenerCount('a'),
      };
    },
  },
  {
    name: "emitAsync 'error' without listeners rejects; 'newListener' without listeners",
    fresh: true,
    async run(e) {
      const error = await settle(e, e.emitAsync('error', new Error('boom')));
      const notError = await settle(e, e.emitAsync('error', 'text'));
      const newListener = await settle(e, e.emitAsync('newListener', 'x'));
      e.on('error', function (err) {
        return err.message;
      });
      const handled = await settle(e, e.emitAsync('error', new Error('handled')));
      return { error, notError, newListener, handled };
    },
  },
  {
    name: "'error' with only an any-listener neither throws nor is lost",
    run(e) {
      const { log, make } = recorder();
      const before = attempt(e, () => e.emit('error', new Error('no listener')));
      e.onAny(make('any'));
      const returned = [
        e.emit('error', new Error('x')),
        e.emit('error', 'not an error'),
        e.emit('error'),
      ];
      e.on('error', make('error-listener'));
      returned.push(e.emit('error', new Error('y')));
      return { before, log, returned, event: e.event };
    },
  },
  {
    name: 'hasListeners counts listeners and any-listeners',
    run(e) {
      const f = function () {};
      const out = [e.hasListeners('a')];
      e.on('a', f);
      out.push(e.hasListeners('a'), e.hasListeners('b'));
      e.off('a', f);
      out.push(e.hasListeners('a'));
      e.onAny(f);
      out.push(e.hasListeners('b'), e.hasListeners());
      e.offAny(f);
      out.push(e.hasListeners('b'));
      return out;
    },
  },
  {
    name: 'listenTo a Node EventEmitter: string, array and map; stopListeningTo',
    run(e) {
      const { log, make } = recorder();
      const target = new EventEmitter();
      for (const n of ['a', 'b', 'c', 'd', 'x', 'local-d']) e.on(n, make(`on-${n}`));
      e.onAny(make('any'));
      const r = e.listenTo(target, 'a b') === e;
      e.listenTo(target, ['c']);
      e.listenTo(target, { d: 'local-d', x: null });
      const counts = () => ['a', 'b', 'c', 'd', 'x'].map((n) => target.listenerCount(n));
      const attached = counts();
      for (const n of ['a', 'b', 'c', 'd', 'x']) target.emit(n, n.toUpperCase(), 2);
      const stops = [e.stopListeningTo(target, 'a'), e.stopListeningTo(target, 'unknown')];
      const afterOne = counts();
      target.emit('a', 'not forwarded');
      stops.push(e.stopListeningTo(target));
      const afterAll = counts();
      target.emit('b', 'not forwarded');
      stops.push(e.stopListeningTo(target), e.stopListeningTo());
      return { r, log, attached, afterOne, afterAll, stops };
    },
  },
  {
    name: 'listenTo reducers (one, or one per event) and options.on/off',
    run(e) {
      const { log, make } = recorder();
      const target = new EventEmitter();
      e.onAny(make('any'));
      const seen = [];
      e.listenTo(target, 'a b', {
        reducers(ev) {
          seen.push([this === target, ev.name, ev.original, ev.data]);
          if (ev.original === 'b') ev.name = 'renamed';
          return ev.data[0] !== 'drop';
        },
      });
      e.listenTo(
        target,
        { c: 'local-c' },
        {
          reducers: {
            c(ev) {
              ev.data.push('added');
            },
          },
        },
      );
      target.emit('a', 1);
      target.emit('a', 'drop');
      target.emit('b', 2);
      target.emit('c', 3);
      // A Node target's own methods win over options.on/off.
      let custom = 0;
      const other = new EventEmitter();
      e.listenTo(other, 'o', {
        on() {
          custom++;
        },
        off() {
          custom++;
        },
      });
      other.emit('o', 4);
      // A target with no event API of its own uses them.
      const calls = [];
      const bare = {};
      e.listenTo(bare, 'p q', {
        on(name, handler) {
          calls.push(['on', this === bare, name]);
          bare[name] = handler;
        },
        off(name) {
          calls.push(['off', this === bare, name]);
        },
      });
      bare.p(5);
      e.stopListeningTo(bare, 'p');
      e.stopListeningTo();
      return {
        log,
        seen,
        custom,
        calls,
        left: target.listenerCount('a') + other.listenerCount('o'),
      };
    },
  },
  {
    name: 'listenTo two targets; stopping the last one, then all',
    run(e) {
      const { log, make } = recorder();
      e.onAny(make('any'));
      const [t1, t2] = [new EventEmitter(), new EventEmitter()];
      e.listenTo(t1, 'a');
      e.listenTo(t2, 'a');
      t1.emit('a', 1);
      t2.emit('a', 2);
      const stops = [e.stopListeningTo(t2)];
      t2.emit('a', 'not forwarded');
      t1.emit('a', 3);
      e.listenTo(t2, 'b');
      stops.push(e.stopListeningTo());
      t1.emit('a', 'not forwarded');
      return {
        log,
        stops,
        left: [t1.listenerCount('a'), t2.listenerCount('a'), t2.listenerCount('b')],
      };
    },
  },
  {
    name: 'listenTo/stopListeningTo bad input',
    run(e) {
      const target = new EventEmitter();
      const before = attempt(e, () => e.stopListeningTo('x'));
      const out = {
        before,
        target: attempt(e, () => e.listenTo('x', 'a')),
        events: attempt(e, () => e.listenTo(target, 5)),
        noEvents: attempt(e, () => e.listenTo(target)),
        noApi: attempt(e, () => e.listenTo({}, 'a')),
        onOnly: attempt(e, () => e.listenTo({}, 'a', { on() {} })),
        onName: attempt(e, () => e.listenTo(target, 'a', { on: 'addListener' })),
        reducers: attempt(e, () => e.listenTo(target, 'a', { reducers: 5 })),
        unknown: attempt(e, () => e.listenTo(target, 'a', { nope: 1 })),
      };
      e.listenTo(target, 'a');
      out.twice = attempt(e, () => e.listenTo(target, 'a'));
      out.stopTarget = attempt(e, () => e.stopListeningTo('x'));
      out.stopEvent = attempt(e, () => e.stopListeningTo(target, 5));
      out.left = target.listenerCount('a');
      return out;
    },
  },
];

/** Runs `scenario` on EventEmitter2 and on `make()`'s emitter; both must see the same. */
async function same(scenario, make) {
  const want = await scenario.run(new EventEmitter2());
  const got = await scenario.run(make());
  assert.deepEqual(got, want);
}

for (const scenario of scenarios) {
  test(scenario.name, () => same(scenario, () => new Mixed()));
}

test('a Monitor', async (t) => {
  const { Monitor } = require('../index.js');
  if (typeof Monitor.prototype.onAny !== 'function') {
    t.skip('index.js does not wire emitter2.js yet');
    return;
  }
  for (const scenario of scenarios) {
    if (scenario.fresh) continue;
    await t.test(scenario.name, () =>
      same(scenario, () => new Monitor(RUN_FOREVER, { silent: true })),
    );
  }
});

test("many/once-with-options listeners live in Node's table, as Node's once wrappers do", async () => {
  const m = new Mixed();
  const added = [];
  const removed = [];
  m.on('removeListener', (name, fn) => removed.push([name, fn]));
  m.on('newListener', (name, fn) => added.push([name, fn]));
  const f = function f() {};
  m.many('a', 2, f);
  assert.deepEqual(added, [['a', f]]);
  assert.deepEqual(m.listeners('a'), [f]);
  assert.notEqual(m.rawListeners('a')[0], f);
  assert.equal(m.rawListeners('a')[0].listener, f);
  m.emit('a');
  m.emit('a');
  assert.deepEqual(removed, [['a', f]]);
  assert.equal(m.listenerCount('a'), 0);

  m.prependMany('b', 5, f);
  m.once('b', f, { async: true });
  m.on('b', f, { objectify: true });
  assert.deepEqual(m.listeners('b'), [f, f, f]);
  m.removeListener('b', f);
  m.removeListener('b', f);
  assert.equal(m.listenerCount('b'), 1);
  m.many('c', 3, f);
  m.removeAllListeners('c');
  assert.equal(m.listenerCount('c'), 0);

  const p = m.waitFor('d');
  assert.equal(m.listenerCount('d'), 1);
  m.emit('d', 1);
  assert.deepEqual(await p, [1]);
  assert.equal(m.listenerCount('d'), 0);
  assert.equal(removed.at(-1)[0], 'd');
});

test('errorMonitor still hears an error that only an any-listener took', () => {
  const m = new Mixed();
  const seen = [];
  m.on(errorMonitor, (err) => seen.push(['monitor', err.message]));
  m.onAny((name, err) => seen.push(['any', name, err.message]));
  assert.equal(m.emit('error', new Error('x')), true);
  assert.deepEqual(seen, [
    ['any', 'error', 'x'],
    ['monitor', 'x'],
  ]);
  assert.equal(m.event, 'error');
});

test('onAny leaves JSON unchanged (`_all` is not enumerable)', () => {
  const m = new Mixed();
  m.on('a', () => {});
  const before = JSON.stringify(m);
  m.onAny(() => {});
  m.emit('a');
  assert.equal(JSON.stringify(m), before);
});

// Where emitter2.js knowingly differs from EventEmitter2: its bugs, and Node's emit loop.
test('documented differences from EventEmitter2', async (t) => {
  await t.test('once/many with async options fire ttl times (EE2 never removes them)', async () => {
    const run = async (e) => {
      let calls = 0;
      e.once('a', () => calls++, { async: true });
      e.many('b', 2, () => calls++, { nextTick: true });
      for (let i = 0; i < 3; i++) {
        e.emit('a');
        e.emit('b');
      }
      await turn();
      return [calls, e.listenerCount('a'), e.listenerCount('b')];
    };
    assert.deepEqual(await run(new EventEmitter2()), [6, 1, 1]);
    assert.deepEqual(await run(new Mixed()), [3, 0, 0]);
  });

  await t.test('promisify + nextTick calls the listener (EE2 never does)', async () => {
    const run = async (e) => {
      let calls = 0;
      e.on('a', () => ++calls, { promisify: true, nextTick: true });
      return [await e.emitAsync('a'), calls];
    };
    assert.deepEqual(await run(new EventEmitter2()), [[undefined], 0]);
    assert.deepEqual(await run(new Mixed()), [[1], 1]);
  });

  await t.test(
    'an any-list offAny() emptied counts as none (EE2: emit returns true, error swallowed)',
    () => {
      const run = (e) => {
        e.onAny(() => {});
        e.offAny();
        return [e.emit('x'), attempt(e, () => e.emit('error', new Error('lost?')))];
      };
      assert.deepEqual(run(new EventEmitter2()), [true, { returned: true }]);
      assert.deepEqual(run(new Mixed()), [
        false,
        { threw: { error: 'Error', message: 'lost?', code: undefined } },
      ]);
    },
  );

  await t.test(
    'stopListeningTo(a target that is not the last) forgets that one (EE2: the last)',
    () => {
      const run = (e) => {
        const [t1, t2] = [new EventEmitter(), new EventEmitter()];
        e.listenTo(t1, 'a');
        e.listenTo(t2, 'a');
        return [
          e.stopListeningTo(t1),
          e.stopListeningTo(t2),
          t1.listenerCount('a'),
          t2.listenerCount('a'),
        ];
      };
      assert.deepEqual(run(new EventEmitter2()), [true, false, 0, 1]);
      assert.deepEqual(run(new Mixed()), [true, true, 0, 0]);
    },
  );

  await t.test("`event` is set once before Node's listeners (EE2: before each)", () => {
    const run = (e) => {
      const seen = [];
      e.on('inner', () => {});
      e.on('outer', function () {
        this.emit('inner');
      });
      e.on('outer', function () {
        seen.push(this.event);
      });
      e.emit('outer');
      return seen;
    };
    assert.deepEqual(run(new EventEmitter2()), ['outer']);
    assert.deepEqual(run(new Mixed()), ['inner']);
  });

  await t.test("listeners() gives the originals (Node's rule), EE2 its wrappers", () => {
    const f = () => {};
    const e = new EventEmitter2();
    e.many('a', 2, f);
    assert.notEqual(e.listeners('a')[0], f);
    const m = new Mixed();
    m.many('a', 2, f);
    assert.equal(m.listeners('a')[0], f);
  });
});
