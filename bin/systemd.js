'use strict';
/**
 * The CLI and the engine around it: systemd's notify protocol (`Type=notify`), and pid 1's
 * orphans in a container. bin/forever-native.js calls it at a few points; the datagrams
 * and the reaping are the core's (Node has no Unix datagram sockets, and the watchdog's
 * pings must not depend on the JS thread).
 *
 * What systemd is told, when `NOTIFY_SOCKET` is set:
 * - `READY=1` once every app is up: started, or ready with `waitReady` (an app that ended
 *   counts as settled);
 * - `STATUS=` after each start, exit and reload: per app, its pid, restarts and last exit;
 * - `RELOADING=1` with `MONOTONIC_USEC=` at SIGHUP, then `READY=1` once every app restarted
 *   (ready, with `waitReady`) or its reload's new child took over (or failed: the old one
 *   serves on);
 * - `STOPPING=1` at the first stop signal, or when the last app ended;
 * - `WATCHDOG=1` every half of `WATCHDOG_USEC`, from the core, when systemd asks for it
 *   (`WatchdogSec=`) of this process (`WATCHDOG_PID` absent or ours).
 * `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` are taken out of the environment the
 * children inherit: they are the CLI's (the core gives a child a socket of its own when
 * `waitReady` or `watchdog` asks).
 *
 * Socket activation (a `.socket` unit): the listening sockets systemd passes at fds 3, 4, …
 * (`LISTEN_FDS`, claimed by `LISTEN_PID`, named by `LISTEN_FDNAMES`) become `listen`
 * entries (`name=fd:3`): the core holds them and hands them to the children as `--listen`'s,
 * so the port stays open while the children, or this process itself, restart. The variables
 * are taken out of the environment too: the core sets each child's own.
 */

/** The variables systemd sets for the service's main process. */
const SYSTEMD_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'];

/** The variables of socket activation, which `sd_listen_fds()` reads and unsets. */
const LISTEN_ENV = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];
/** The first descriptor systemd passes (`SD_LISTEN_FDS_START`). */
const FIRST_LISTEN_FD = 3;
/** A name a `listen` entry can carry (options.js's rule); systemd's others fall back to `fdN`. */
const LISTEN_NAME = /^[A-Za-z0-9_.@-]{1,255}$/;

/** The native addon (loaded on first use: --help never needs it). */
const native = () => require('../loader.js').load();

/** `code 1`, `signal SIGKILL`, or null. */
function exitText(exit) {
  if (!exit) return null;
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** One app's part of the STATUS= line. */
function appStatus(app) {
  const restarts = Math.max(0, app.runs - 1);
  const parts = [];
  // The monitor's `running` is false from a child's exit to the next start: no pid then.
  const running = !app.ended && Boolean(app.monitor) && app.monitor.running === true;
  if (running && app.pid) parts.push(`pid ${app.pid}`);
  parts.push(`${restarts} restart${restarts === 1 ? '' : 's'}`);
  const last = exitText(app.lastExit);
  if (last) parts.push(`last exit ${last}`);
  let state;
  if (app.ended) state = `ended (exit code ${app.exitCode})`;
  else if (app.waiting) state = 'waiting for a file change';
  else if (running) state = 'running';
  else state = app.runs > 0 ? 'restarting' : 'starting';
  return `${app.name}: ${state} (${parts.join(', ')})`;
}

/** The state messages (READY=1, …) kept at most while systemd's socket cannot take them. */
const MAX_PENDING = 64;

/** What the CLI tells systemd; every method is a no-op without `NOTIFY_SOCKET`. */
class ServiceManager {
  /**
   * @param {string | null} socket the value of NOTIFY_SOCKET
   * @param {(message: string) => void} warn prints one warning line
   */
  constructor(socket, warn) {
    this.socket = socket;
    this.warn = warn;
    this.apps = [];
    this.ready = false;
    this.stopped = false;
    this.failing = false;
    /** @type {Map<object, number>} apps a SIGHUP restarts, with their settle count then */
    this.reloading = new Map();
    /** A SIGHUP's READY=1 is still to be sent. */
    this.reloadPending = false;
    /** @type {Map<object, {up: boolean, settled: number}>} */
    this.seen = new Map();
    /** @type {string[][]} state messages not sent yet, oldest first */
    this.pending = [];
    /** @type {string[] | null} the latest STATUS= not sent yet */
    this.status = null;
    /** @type {NodeJS.Timeout | null} */
    this.timer = null;
  }

  /**
   * Tells systemd `fields` (`READY=1`, …). A state change (anything but `STATUS=`) is never
   * lost: a send that fails (systemd's queue full, `EAGAIN`; the socket not there yet) keeps
   * it, in order, and tries again every 250 ms, since a lost `READY=1` would leave a
   * `Type=notify` unit activating until its timeout. Only the latest `STATUS=` is kept. At
   * most {@link MAX_PENDING} state messages wait; beyond, the oldest is dropped. A failure
   * is one warning, until a send succeeds again.
   * @param {string[]} fields
   */
  notify(fields) {
    if (this.socket === null) return;
    if (fields.some((f) => !f.startsWith('STATUS='))) {
      this.pending.push(fields);
      if (this.pending.length > MAX_PENDING) this.pending.shift();
    } else {
      this.status = fields;
    }
    this.flush();
  }

  /** Sends what waits, oldest first; on a failure, tries again later. */
  flush() {
    while (this.pending.length > 0) {
      if (!this.send(this.pending[0])) return this.retry();
      this.pending.shift();
    }
    if (this.status !== null) {
      if (!this.send(this.status)) return this.retry();
      this.status = null;
    }
  }

  /** One datagram; false when it could not be sent (warned about once). */
  send(fields) {
    let error;
    try {
      error = native().sdNotify(this.socket, fields);
    } catch (err) {
      error = `cannot notify systemd at ${this.socket}: ${err && err.message}`;
    }
    if (error && !this.failing) this.warn(error);
    this.failing = Boolean(error);
    return !error;
  }

  /** Tries the waiting messages again in 250 ms (never holding the CLI's exit). */
  retry() {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, 250);
    this.timer.unref();
  }

  /** Starts the watchdog's pings when systemd asks for them. */
  watchdog(env) {
    if (this.socket === null) return;
    try {
      native().sdWatchdog(this.socket, env.WATCHDOG_USEC, env.WATCHDOG_PID, (message) =>
        this.warn(message),
      );
    } catch (err) {
      this.warn(`cannot ping the systemd watchdog: ${err && err.message}`);
    }
  }

  /** Follows the apps' monitors (after the CLI's own listeners, so its counts are current). */
  watch(apps) {
    if (this.socket === null) return;
    this.apps = apps;
    for (const app of apps) {
      const seen = { up: false, settled: 0 };
      this.seen.set(app, seen);
      const waitReady = app.spec.options.waitReady === true;
      const settle = () => {
        seen.up = true;
        seen.settled += 1;
        this.update();
      };
      const m = app.monitor;
      m.on('start', () => (waitReady ? this.update() : settle()));
      m.on('restart', () => (waitReady ? this.update() : settle()));
      m.on('ready', settle);
      m.on('reload', (info) => (info && info.phase === 'starting' ? this.update() : settle()));
      m.on('exit:code', () => this.update());
    }
  }

  /** The STATUS= line, and READY=1 when every app is up or no reload is left waiting. */
  update() {
    if (this.socket === null || this.stopped) return;
    const settled = (app) => {
      const seen = this.seen.get(app);
      return app.ended || (seen !== undefined && seen.up);
    };
    let ready = false;
    if (!this.ready && this.apps.every(settled)) {
      this.ready = true;
      ready = true;
    }
    for (const [app, before] of this.reloading) {
      if (app.ended || this.seen.get(app).settled > before) this.reloading.delete(app);
    }
    if (this.ready && this.reloadPending && this.reloading.size === 0) {
      this.reloadPending = false;
      ready = true;
    }
    const fields = ready ? ['READY=1'] : [];
    fields.push(`STATUS=${this.apps.map(appStatus).join('; ')}`);
    this.notify(fields);
  }

  /**
   * A SIGHUP: `RELOADING=1` first, then `restart()` returns the apps it restarts; `READY=1`
   * follows once each has settled again.
   * @param {() => object[]} restart
   */
  reload(restart) {
    if (this.socket === null) {
      restart();
      return;
    }
    const before = new Map(this.apps.map((app) => [app, this.seen.get(app).settled]));
    this.notify(['RELOADING=1', 'STATUS=reloading']);
    for (const app of restart()) {
      if (!this.reloading.has(app)) this.reloading.set(app, before.get(app));
    }
    this.reloadPending = true;
    this.update();
  }

  /**
   * `app` will not settle after all (a rolling reload of instances stopped before it):
   * the SIGHUP's READY=1 no longer waits for it.
   * @param {object} app
   */
  abandonReload(app) {
    if (this.reloading.delete(app)) this.update();
  }

  /** `STOPPING=1`, once. */
  stopping() {
    if (this.socket === null || this.stopped) return;
    this.stopped = true;
    this.notify(['STOPPING=1', 'STATUS=stopping']);
  }
}

/**
 * Takes systemd's variables out of `env` (the environment the children inherit) and
 * returns what the CLI tells systemd through (a silent one without `NOTIFY_SOCKET`).
 * @param {NodeJS.ProcessEnv} env
 * @param {(message: string) => void} warn
 */
function fromEnv(env, warn) {
  const taken = {};
  for (const name of SYSTEMD_ENV) {
    taken[name] = env[name];
    delete env[name];
  }
  const socket = typeof taken.NOTIFY_SOCKET === 'string' && taken.NOTIFY_SOCKET !== '';
  const manager = new ServiceManager(socket ? taken.NOTIFY_SOCKET : null, warn);
  manager.watchdog(taken);
  return manager;
}

/**
 * Takes socket activation's variables out of `env` (as `sd_listen_fds(1)` unsets them,
 * whatever they say) and returns the sockets passed to process `pid`: `[{ fd, name }]` at
 * fds 3, 4, …, named by `LISTEN_FDNAMES` (when it names each), else `fd3`, `fd4`, …. None
 * when `LISTEN_PID` is another process's: they were meant for it, not for us.
 * @param {NodeJS.ProcessEnv} env
 * @param {number} pid
 * @returns {{ fd: number, name: string }[]}
 */
function takeListenFds(env, pid = process.pid) {
  /** @type {Record<string, string | undefined>} */
  const taken = {};
  for (const name of LISTEN_ENV) {
    taken[name] = env[name];
    delete env[name];
  }
  const number = (value) => (/^\d{1,9}$/.test(value || '') ? Number(value) : null);
  const n = number(taken.LISTEN_FDS);
  if (number(taken.LISTEN_PID) !== pid || n === null) return [];
  const names = typeof taken.LISTEN_FDNAMES === 'string' ? taken.LISTEN_FDNAMES.split(':') : [];
  return Array.from({ length: n }, (_, i) => {
    const fd = FIRST_LISTEN_FD + i;
    const given = names.length === n ? names[i] : '';
    return { fd, name: LISTEN_NAME.test(given) ? given : `fd${fd}` };
  });
}

/** The descriptor a `listen` entry names (`fd:3`, `http=fd:3`, `{ fd: 3 }`), or null. */
function listenFdOf(entry) {
  if (typeof entry === 'string') {
    const m = /^(?:[^=/]+=)?fd:(\d+)$/.exec(entry);
    return m ? Number(m[1]) : null;
  }
  if (entry !== null && typeof entry === 'object' && typeof entry.fd === 'number') return entry.fd;
  return null;
}

/**
 * Gives the sockets systemd passed to the apps, as `listen` entries. One app gets them all,
 * first (its fds 3, 4, … in systemd's order), then its own `--listen` addresses. An app
 * that names one of them itself (`fd:3`) decides where each goes: nothing is added. Several
 * apps must name them so (a socket is one app's): otherwise one warning, and none is used.
 * @param {{ options: Record<string, any> }[]} specs the apps, changed in place
 * @param {{ fd: number, name: string }[]} passed
 * @param {(message: string) => void} warn
 */
function usePassedSockets(specs, passed, warn) {
  if (passed.length === 0) return;
  const listOf = (options) =>
    options.listen === undefined || options.listen === null
      ? []
      : Array.isArray(options.listen)
        ? options.listen
        : [options.listen];
  const fds = new Set(passed.map((p) => p.fd));
  const routed = specs.some((spec) =>
    listOf(spec.options).some((entry) => fds.has(listenFdOf(entry))),
  );
  if (routed) return;
  if (specs.length !== 1) {
    warn(
      `systemd passed ${passed.length} socket${passed.length === 1 ? '' : 's'} (${passed.map((p) => `fd:${p.fd}`).join(', ')}) and there are ${specs.length} apps: none is used until an app's "listen" names it, e.g. "listen": "fd:${passed[0].fd}"`,
    );
    return;
  }
  const { options } = specs[0];
  options.listen = [...passed.map((p) => `${p.name}=fd:${p.fd}`), ...listOf(options)];
}

/**
 * Reaps orphaned zombies, as tini would, when this process is pid 1 (a container without
 * an init), or when `force` (`--reap`) asks it to adopt its descendants' orphans as a
 * child subreaper. Returns whether the reaper runs.
 * @param {boolean} force
 * @param {(message: string) => void} warn
 */
function reapOrphans(force, warn) {
  if (process.pid !== 1 && !force) return false;
  let error;
  try {
    error = native().reapOrphans(process.pid !== 1);
  } catch (err) {
    error = `cannot reap orphans: ${err && err.message}`;
  }
  if (error) warn(error);
  return !error;
}

module.exports = {
  fromEnv,
  reapOrphans,
  takeListenFds,
  usePassedSockets,
  ServiceManager,
  appStatus,
  SYSTEMD_ENV,
  LISTEN_ENV,
};
