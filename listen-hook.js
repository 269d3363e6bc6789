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
 * or `::`) takes the socket of its port whatever address it is bound to; one with a host
 * takes it only when the socket is bound to that host: a socket on every interface is
 * never handed to an app that asked for `127.0.0.1` alone (its own bind then fails with
 * `EADDRINUSE`, and a line on stderr says why). Each socket is taken once: a second
 * `listen()` of the same port in one process binds as it would have. The hook takes itself
 * out of `NODE_OPTIONS` at once, so the app's own node children do not load it.
 */

const net = require('net');
const { listenFds, requireOption } = require('./child.js');

/**
 * `NODE_OPTIONS` without this hook's `--require` (as the monitor wrote it, with the
 * file's real path, which is what `__filename` is).
 * @param {string} options
 * @returns {string}
 */
function withoutSelf(options) {
  return options.split(requireOption(__filename)).join('').replace(/\s+/g, ' ').trim();
}

/** @typedef {{ fd: number, host: string }} Held An inherited socket: its descriptor and host ('' for every interface). */

/**
 * The inherited socket of each TCP port, from `FOREVER_LISTEN_PORTS`.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Map<number, Held>} port → socket
 */
function socketsByPort(env) {
  const entries = String(env.FOREVER_LISTEN_PORTS || '').split(',');
  /** @type {Map<number, Held>} */
  const byPort = new Map();
  listenFds().forEach(({ fd }, i) => {
    const entry = entries[i] || '';
    const cut = entry.indexOf('/');
    const port = Number(cut < 0 ? entry : entry.slice(0, cut));
    const host = cut < 0 ? '' : entry.slice(cut + 1);
    if (Number.isInteger(port) && port > 0 && port < 65536 && !byPort.has(port))
      byPort.set(port, { fd, host });
  });
  return byPort;
}

/** Hosts that mean every interface. */
const ANY = new Set(['', '0.0.0.0', '::', '[::]']);
/** The loopback names an app may give for a socket bound to a loopback address. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

/**
 * Whether an app's `listen()` on `asked` may take a socket bound to `held`: any socket
 * when it asked for every interface; the same address otherwise (never a wider one).
 * @param {string} asked
 * @param {string} held
 */
function hostFits(asked, held) {
  if (ANY.has(asked)) return true;
  if (ANY.has(held)) return false;
  const a = asked.replace(/^\[|\]$/g, '').toLowerCase();
  return a === held || (a === 'localhost' && LOOPBACK.has(held));
}

/**
 * The TCP port a `listen()` call asks for, as Node reads its arguments; undefined for a
 * path, a handle, a descriptor or no port.
 * @param {unknown[]} args
 * @returns {{ port: number | undefined, host: string, callback: Function | null, backlog: unknown }}
 */
function asked(args) {
  /** @type {any} */
  const netAny = net;
  const normalize = typeof netAny._normalizeArgs === 'function' ? netAny._normalizeArgs : null;
  /** @type {any[]} */
  let normalized;
  if (normalize !== null) normalized = normalize(args);
  else {
    // Without Node's own reader: the common forms, listen(port[, host][, backlog][, cb]).
    const last = args[args.length - 1];
    normalized = [
      typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0] },
      typeof last === 'function' ? last : null,
    ];
  }
  const [options, callback] = normalized;
  const o = options && typeof options === 'object' && options.port !== undefined ? options : {};
  const raw = o.port;
  const port =
    typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw.trim()))
      ? Number(raw)
      : undefined;
  const bare = o.path === undefined && o.fd === undefined && o.handle === undefined;
  return {
    port: bare && port !== undefined && port > 0 ? port : undefined,
    host: typeof o.host === 'string' ? o.host : '',
    callback: typeof callback === 'function' ? callback : null,
    backlog: o.backlog,
  };
}

/**
 * Patches `net.Server.prototype.listen` (http, https and every framework's `listen()` go
 * through it) for the sockets in `byPort`.
 * @param {Map<number, Held>} byPort
 */
function install(byPort) {
  const listen = net.Server.prototype.listen;
  /** @this {net.Server} @param {...any} args */
  function listenInherited(...args) {
    const { port, host, callback, backlog } = asked(args);
    const held = port === undefined ? undefined : byPort.get(port);
    if (held === undefined) return listen.apply(this, /** @type {any} */ (args));
    if (!hostFits(host, held.host)) {
      process.emitWarning(
        `listen(${port}, ${JSON.stringify(host)}) binds by itself: the socket the monitor holds for port ${port} listens on ${held.host === '' ? 'every interface' : held.host}, not on ${host} alone (give the monitor's listen "${host}:${port}" to share it)`,
        { code: 'FOREVER_NATIVE_LISTEN_HOST' },
      );
      return listen.apply(this, /** @type {any} */ (args));
    }
    byPort.delete(port);
    /** @type {net.ListenOptions} */
    const options = { fd: held.fd };
    if (typeof backlog === 'number') options.backlog = backlog;
    return callback === null
      ? listen.call(this, options)
      : listen.call(this, options, /** @type {() => void} */ (callback));
  }
  Object.defineProperty(listenInherited, 'name', { value: 'listen' });
  net.Server.prototype.listen = listenInherited;
}

if (typeof process.env.NODE_OPTIONS === 'string') {
  const rest = withoutSelf(process.env.NODE_OPTIONS);
  if (rest === '') delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = rest;
}
const byPort = socketsByPort(process.env);
if (byPort.size > 0) install(byPort);

module.exports = { withoutSelf, asked, hostFits };
