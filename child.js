'use strict';
/**
 * The child's side of forever-native's health checks: `require('forever-native/child')`
 * in the supervised program.
 *
 *   const child = require('forever-native/child');
 *   server.listen(8080, () => child.ready());   // with waitReady: the monitor's 'ready'
 *   child.heartbeat();                            // with watchdog: pings at half its interval
 *   child.onShutdown(async () => { await server.close(); process.exit(0); });
 *   server.listen({ fd: child.listenFd('http') });   // with listen: a socket the monitor holds
 *
 * Tiny, no dependencies, no native code, and harmless when the process is not supervised
 * by forever-native (or by a monitor without these options): every call is then a no-op
 * that returns false. It talks over the IPC channel (`fork: true`), which Node children
 * have; other programs use systemd's notify protocol on `NOTIFY_SOCKET` instead.
 */

/** True when an IPC channel to the supervisor is open. */
function connected() {
  return typeof process.send === 'function' && process.connected === true;
}

/**
 * Tells the monitor the child is ready (`waitReady`). Returns whether it could.
 * @returns {boolean}
 */
function ready() {
  if (!connected()) return false;
  process.send('ready');
  return true;
}

/** The watchdog interval the monitor gave (`WATCHDOG_USEC`), in ms; 0 for none. */
function watchdogInterval() {
  const usec = Number(process.env.WATCHDOG_USEC);
  return Number.isFinite(usec) && usec > 0 ? usec / 1000 : 0;
}

/** @type {NodeJS.Timeout | null} */
let beating = null;

/**
 * Pings the watchdog: once when `auto` is false; by default, at half the interval the
 * monitor gave, from now on (an unref'd timer: it never keeps the process alive). A
 * child whose event loop is stuck stops pinging, which is the point. Returns whether
 * there is a watchdog to ping.
 * @param {{ auto?: boolean }} [options]
 * @returns {boolean}
 */
function heartbeat(options = {}) {
  if (!connected()) return false;
  const interval = watchdogInterval();
  if (options.auto === false || interval === 0) {
    process.send('heartbeat');
    return interval > 0;
  }
  if (beating === null) {
    process.send('heartbeat');
    beating = setInterval(
      () => {
        if (connected()) process.send('heartbeat');
      },
      Math.max(1, interval / 2),
    );
    beating.unref();
  }
  return true;
}

/** Stops the automatic heartbeat. */
function stopHeartbeat() {
  if (beating !== null) clearInterval(beating);
  beating = null;
}

/**
 * Calls `fn` once when the monitor asks the child to shut down: the `shutdownMessage`
 * (given to the child in `FOREVER_NATIVE_SHUTDOWN_MESSAGE`), or SIGTERM / SIGINT. `fn`
 * should finish the work in hand and exit; the monitor sends its kill signal after
 * `shutdownTimeout` if it has not. Returns a function that removes the handlers.
 * @param {(reason: 'message' | 'SIGTERM' | 'SIGINT') => unknown} fn
 * @returns {() => void}
 */
function onShutdown(fn) {
  if (typeof fn !== 'function') throw new TypeError('onShutdown needs a function');
  const expected = process.env.FOREVER_NATIVE_SHUTDOWN_MESSAGE;
  let called = false;
  /** @param {'message' | 'SIGTERM' | 'SIGINT'} reason */
  const once = (reason) => {
    if (called) return;
    called = true;
    fn(reason);
  };
  /** @param {unknown} message */
  const onMessage = (message) => {
    if (expected === undefined) return;
    let text;
    try {
      text = JSON.stringify(message);
    } catch {
      // A message JSON cannot hold (a BigInt, a cycle: serialization 'advanced') is not it.
      return;
    }
    if (text === expected) once('message');
  };
  const onTerm = () => once('SIGTERM');
  const onInt = () => once('SIGINT');
  process.on('message', onMessage);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  // Listening for messages keeps the channel (and the process) alive: not this one.
  if (
    typeof process.channel === 'object' &&
    process.channel &&
    typeof process.channel.unref === 'function'
  ) {
    process.channel.unref();
  }
  return () => {
    process.off('message', onMessage);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}

/**
 * The listening sockets the monitor handed to this process (its `listen` option), as
 * systemd's socket activation does: fds 3, 4, … named by `LISTEN_FDNAMES`. Empty when
 * there are none, or when they are not this process's (`LISTEN_PID` is another's: a
 * descendant inherited the variables).
 * @returns {Array<{ fd: number, name: string }>}
 */
function listenFds() {
  const env = process.env;
  const count = Number(env.LISTEN_FDS);
  if (Number(env.LISTEN_PID) !== process.pid || !Number.isInteger(count) || count < 1) return [];
  const names = typeof env.LISTEN_FDNAMES === 'string' ? env.LISTEN_FDNAMES.split(':') : [];
  return Array.from({ length: count }, (_, i) => ({ fd: 3 + i, name: names[i] || 'unknown' }));
}

/**
 * The descriptor of the listening socket named `name` (the first one without a name), for
 * `server.listen({ fd })`; null when there is none.
 * @param {string} [name]
 * @returns {number | null}
 */
function listenFd(name) {
  const all = listenFds();
  const found = name === undefined ? all[0] : all.find((l) => l.name === name);
  return found ? found.fd : null;
}

/**
 * The backlog the monitor gave its `listen` sockets (`listenBacklog`; Node's 511 when
 * there is none). A `listen()` of an inherited socket sets the backlog again, for every
 * process that shares it, so pass this one: `server.listen({ fd }, listenBacklog(), cb)`.
 * @returns {number}
 */
function listenBacklog() {
  const n = Number(process.env.FOREVER_LISTEN_BACKLOG);
  return Number.isInteger(n) && n > 0 ? n : 511;
}

/**
 * The `NODE_OPTIONS` words that preload `file` (`--require "file"`, quoted as Node reads
 * that variable: `\\` and `"` escaped, every other byte as it is). The monitor writes the
 * `interceptListen` hook with it, and the hook takes it out again.
 * @param {string} file
 * @returns {string}
 */
function requireOption(file) {
  return `--require "${file.replace(/[\\"]/g, '\\$&')}"`;
}

/** Whether this process runs under a forever-native monitor. */
function supervised() {
  return typeof process.env.FOREVER_NATIVE_TAG === 'string';
}

module.exports = {
  ready,
  heartbeat,
  stopHeartbeat,
  onShutdown,
  supervised,
  watchdogInterval,
  listenFds,
  listenFd,
  listenBacklog,
  requireOption,
};
