// @ts-check
'use strict';
/**
 * `interceptListen`: loaded into a node child with `--require` (through `NODE_OPTIONS`),
 * before the app, by a monitor whose `listen` sockets the app does not take itself.
 *
 * An app written for PM2's cluster mode calls `server.listen(3000)` in every instance and
 * lets the cluster module share the port. Under a `Group` no primary process is there to
 * share it: the core already holds the socket, and each child inherits it (fd 3, …). This
 * hook makes the app's own `listen()` of a port the monitor listens on take that inherited
 * socket instead of binding a new one, so the app runs unchanged, and N instances serve one
 * port. Any other `listen()` (another port, a Unix path, a handle, port 0) is Node's own.
 *
 * Which descriptor holds which port comes from `FOREVER_LISTEN_PORTS` (`port/host` per
 * inherited socket, in `LISTEN_FDS` order; host empty for every interface, port 0 for a
 * socket that is not a TCP port given in advance), and the sockets are this process's only
 * when `LISTEN_PID` is its pid (`forever-native/child`'s rule), so a descendant that
 * inherited the variables binds as usual. A `listen()` without a host (or with `0.0.0.0`
 * or `::`) takes a socket of its port whatever address it is bound to; one with a host
 * takes one only when it is bound to that host: a socket on every interface is never
 * handed to an app that asked for `127.0.0.1` alone. Each socket is handed out once (a
 * server that closes it closes the descriptor). When no socket fits, the app's own bind
 * goes ahead — and fails with `EADDRINUSE` while the monitor holds the port — after a
 * warning that says why. Only the main thread's servers take sockets: a worker thread has
 * the same pid, but its `listen()` binds as it would have. The hook takes itself out of
 * `NODE_OPTIONS` at once, so the app's own node children do not load it.
 */

const net = require('net');
const { isMainThread } = require('worker_threads');
const { listenFds, requireOption } = require('./child.js');

/**
 * `NODE_OPTIONS` without this hook's `--require` (as the monitor wrote it, with the
 * file's real path, which is what `__filename` is); the rest exactly as it was.
 * @param {string} options
 * @returns {string}
 */
function withoutSelf(options) {
  const self = requireOption(__filename);
  let rest = options;
  for (let at = rest.indexOf(self); at >= 0; at = rest.indexOf(self)) {
    // The words, and the one space that parted them from what follows.
    const end = at + self.length;
    rest = rest.slice(0, at) + rest.slice(rest[end] === ' ' ? end + 1 : end);
  }
  return rest.trim();
}

/**
 * @typedef {{ fd: number, host: string, taken: boolean }} Held An inherited socket: its
 *   descriptor, its host ('' for every interface), and whether a server has it.
 */

/**
 * The inherited sockets of each TCP port, from `FOREVER_LISTEN_PORTS`.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Map<number, Held[]>} port → its sockets, in the monitor's order
 */
function socketsByPort(env) {
  const entries = String(env.FOREVER_LISTEN_PORTS || '').split(',');
  /** @type {Map<number, Held[]>} */
  const byPort = new Map();
  listenFds().forEach(({ fd }, i) => {
    const entry = entries[i] || '';
    const cut = entry.indexOf('/');
    const port = Number(cut < 0 ? entry : entry.slice(0, cut));
    const host = cut < 0 ? '' : entry.slice(cut + 1);
    if (!Number.isInteger(port) || port <= 0 || port >= 65536) return;
    const list = byPort.get(port) || [];
    list.push({ fd, host, taken: false });
    byPort.set(port, list);
  });
  return byPort;
}

/** Hosts that mean every interface. */
const ANY = new Set(['', '0.0.0.0', '::', '[::]']);
/** The loopback addresses `localhost` may stand for. */
const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** A host as the core writes it: no brackets, lower case. @param {string} host */
const bare = (host) => host.replace(/^\[|\]$/g, '').toLowerCase();

/**
 * Whether an app's `listen()` on `asked` may take a socket bound to `held`: any socket
 * when it asked for every interface; the same address otherwise (never a wider one).
 * @param {string} asked
 * @param {string} held
 */
function hostFits(asked, held) {
  if (ANY.has(asked)) return true;
  if (ANY.has(held)) return false;
  const a = bare(asked);
  return a === held || (a === 'localhost' && LOOPBACK.has(held));
}

/**
 * The `listen` address to give the monitor for `host`:`port`, as that option reads it.
 * @param {string} host
 * @param {number} port
 */
function suggestion(host, port) {
  const h = bare(host);
  if (h === 'localhost') return `127.0.0.1:${port}`;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * A port as Node's `listen()` reads one (a number, or a string of one: `'3000'`,
 * `'0x0bb8'`); undefined otherwise.
 * @param {unknown} raw
 */
function portOf(raw) {
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && raw.trim() !== ''
        ? Number(raw)
        : NaN;
  return Number.isInteger(n) && n >= 0 && n < 65536 ? n : undefined;
}

/**
 * What a `listen()` call asks for, as Node reads its arguments: the TCP port (undefined
 * for a path, a handle, a descriptor or port 0), the host, the backlog (from the options,
 * or from the arguments after the port), the abort signal and the callback.
 * @param {unknown[]} args
 * @returns {{ port: number | undefined, host: string, backlog: number | undefined,
 *   signal: unknown, callback: Function | null }}
 */
function asked(args) {
  /** @type {any} */
  const netAny = net;
  /** @type {any[]} */
  let normalized;
  if (typeof netAny._normalizeArgs === 'function') normalized = netAny._normalizeArgs(args);
  else {
    // Without Node's own reader: the common forms, listen(port[, host][, backlog][, cb]).
    const last = args[args.length - 1];
    normalized = [
      typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0] },
      typeof last === 'function' ? last : null,
    ];
  }
  const [options, callback] = normalized;
  const o = options && typeof options === 'object' ? options : {};
  const port = portOf(o.port);
  const plain = o.path === undefined && o.fd === undefined && o.handle === undefined;
  // Node's own reading: options.backlog, else (port, backlog) or (port, host, backlog).
  const number = (/** @type {unknown} */ v) => {
    const n = Number(v);
    return typeof v !== 'function' && v !== null && v !== '' && n > 0 ? n : undefined;
  };
  const backlog =
    number(o.backlog) ||
    (args.length > 1 ? number(args[1]) : undefined) ||
    (args.length > 2 ? number(args[2]) : undefined);
  return {
    port: plain && port !== undefined && port > 0 ? port : undefined,
    host: typeof o.host === 'string' ? o.host : '',
    backlog,
    signal: o.signal,
    callback: typeof callback === 'function' ? callback : null,
  };
}

/**
 * Why no held socket fits a `listen()` of `port` on `host`, or null when one does.
 * @param {Held[]} list the port's sockets
 * @param {number} port
 * @param {string} host
 * @returns {string | null}
 */
function unfit(list, port, host) {
  const call = host === '' ? `listen(${port})` : `listen(${port}, ${JSON.stringify(host)})`;
  const fitting = list.filter((h) => hostFits(host, h.host));
  if (fitting.length === 0) {
    const where = list.map((h) => (h.host === '' ? 'every interface' : h.host)).join(', ');
    return `${call} binds by itself: the socket the monitor holds for port ${port} listens on ${where}, not on ${host} alone (give the monitor's listen "${suggestion(host, port)}" to share it)`;
  }
  if (fitting.every((h) => h.taken)) {
    return `${call} binds by itself: the socket the monitor holds for port ${port} was taken by an earlier listen() in this process (each is handed out once: a server that closed it cannot have it again)`;
  }
  return null;
}

/**
 * Patches `net.Server.prototype.listen` (http, https and every framework's `listen()` go
 * through it) for the sockets in `byPort`.
 * @param {Map<number, Held[]>} byPort
 * @param {number | undefined} heldBacklog the monitor's `listenBacklog`, kept when the app
 *   gives none (a `listen()` sets the shared socket's backlog for every instance)
 */
function install(byPort, heldBacklog) {
  const listen = net.Server.prototype.listen;
  /** @this {net.Server} @param {...any} args */
  function listenInherited(...args) {
    const a = asked(args);
    const list = a.port === undefined ? undefined : byPort.get(a.port);
    if (list === undefined || a.port === undefined)
      return listen.apply(this, /** @type {any} */ (args));
    const why = unfit(list, a.port, a.host);
    if (why !== null) {
      process.emitWarning(why, { code: 'FOREVER_NATIVE_LISTEN' });
      return listen.apply(this, /** @type {any} */ (args));
    }
    const held = /** @type {Held} */ (list.find((h) => !h.taken && hostFits(a.host, h.host)));
    held.taken = true;
    /** @type {Record<string, unknown>} */
    const options = { fd: held.fd };
    if (a.signal !== undefined) options.signal = a.signal;
    // With { fd }, Node reads the backlog from the argument after the options only.
    const backlog = a.backlog || heldBacklog;
    /** @type {unknown[]} */
    const call = [options];
    if (backlog !== undefined) call.push(backlog);
    if (a.callback !== null) call.push(a.callback);
    return listen.apply(this, /** @type {any} */ (call));
  }
  Object.defineProperty(listenInherited, 'name', { value: 'listen' });
  net.Server.prototype.listen = listenInherited;
}

if (typeof process.env.NODE_OPTIONS === 'string') {
  const rest = withoutSelf(process.env.NODE_OPTIONS);
  if (rest === '') delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = rest;
}
if (isMainThread && process.env.FOREVER_LISTEN_PORTS !== undefined) {
  const byPort = socketsByPort(process.env);
  if (byPort.size > 0) {
    const backlog = Number(process.env.FOREVER_LISTEN_BACKLOG);
    install(byPort, Number.isInteger(backlog) && backlog > 0 ? backlog : undefined);
  } else if (
    process.env.LISTEN_PID !== undefined &&
    Number(process.env.LISTEN_PID) !== process.pid
  ) {
    // The monitor's child is not this node: a shell or a wrapper (npm) runs it, and the
    // sockets are that process's.
    process.emitWarning(
      `interceptListen: the sockets the monitor holds were handed to its child (pid ${process.env.LISTEN_PID}), not to this process (pid ${process.pid}), which it started in turn: run node as the monitor's child itself, not through a shell or a wrapper such as npm`,
      { code: 'FOREVER_NATIVE_LISTEN' },
    );
  }
}

module.exports = { withoutSelf, asked, hostFits, suggestion };
