'use strict';
// PM2 as a peer in the bench (`node bench/run.js --peers pm2`).
//
// install(): run by the orchestrator once per bench run: `npm install` of PM2 (pinned,
// PM2_SPEC) into a temporary prefix with the bench's own npm cache, never into the
// project's node_modules. Its failure (no registry, say) is an answer, not an error: the
// PM2 column is then skipped with the reason.
//
// open(): used by a worker (`--impl pm2`): a private PM2_HOME in the worker's temporary
// directory, a daemon of its own (started by connect()), the event bus, and close(),
// which always ends with the daemon gone (`pm2 kill`, then SIGKILL if it lingers).
//
// The settings every PM2 app of the bench gets (APP_DEFAULTS), and why:
// - autorestart: true, max_restarts: 1e9 — PM2's defaults give up after 16 restarts that
//   each lived less than min_uptime (1 s); forever-native and forever-monitor, with
//   minUptime: 0, never do. With this many PM2 does not give up either.
// - min_uptime: 100 — the lowest PM2 accepts (it drops 0 with a warning); with
//   max_restarts at 1e9 it changes nothing but the unstable-restart count.
// - restart_delay: 0 (PM2's default): restart at once, as the others do.
// - out_file / error_file: /dev/null — PM2's documented way to keep no log, as
//   `silent: true` does for the others (the output scenario sets out_file).
// - interpreter: 'none' — run the command itself, as the others do (not through node).
// - cwd: the worker's temporary directory, so PM2's vizion (git metadata of the app's
//   directory, read at each start) finds no repository there.
// Everything else is PM2's default. PM2_DISABLE_VERSION_CHECK and PM2_NO_INTERACTION are
// set so that the daemon contacts nothing outside this machine.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const PM2_SPEC = 'pm2@7.0.4';
const PM2_FALLBACK = 'pm2@7'; // the newest 7.x, when the pinned version is not there
const NPM_TIMEOUT_MS = 240000;

const APP_DEFAULTS = Object.freeze({
  interpreter: 'none',
  autorestart: true,
  max_restarts: 1e9,
  min_uptime: 100,
  restart_delay: 0,
  out_file: '/dev/null',
  error_file: '/dev/null',
});

/** What RESULTS.md says about PM2's settings. */
const SETTINGS_TEXT =
  "PM2 runs with a private `PM2_HOME` and a daemon of its own per worker run (started by `connect()`, ended by `pm2 kill`), driven through its programmatic API. Every app gets `autorestart: true`, `max_restarts: 1e9` (PM2 gives up after 16 restarts under `min_uptime` by default; forever-native and forever-monitor with `minUptime: 0` never do), `min_uptime: 100` (the lowest PM2 accepts), `restart_delay: 0`, `interpreter: none` (the command itself, not through node), logs to `/dev/null` (as `silent: true`) except in the log-file case, and a working directory without git metadata (PM2 reads it at each start); the rest is PM2's default. PM2's supervisor CPU is its daemon's (the God process, all threads); the bench's client, which only listens to the event bus, is not counted (its CPU is in the raw runs as `clientCpuMs`).";

// ---- the orchestrator's side ---------------------------------------------------------

/** The last lines of npm's output that say what went wrong. */
function npmReason(result) {
  if (result.error)
    return result.error.code === 'ETIMEDOUT'
      ? `npm install timed out after ${NPM_TIMEOUT_MS / 1000} s`
      : `npm could not run: ${result.error.message}`;
  const lines = `${result.stderr || ''}\n${result.stdout || ''}`
    .split('\n')
    .map((l) => l.replace(/^npm (error|ERR!) ?/, '').trim())
    .filter((l) => l && !/^(A complete log|Log files were not written|\d{4}-\d\d-\d\dT)/.test(l));
  const code = lines.find((l) => l.startsWith('code '));
  const rest = lines.filter((l) => !l.startsWith('code '));
  return (
    [code, ...rest.slice(0, 2)].filter(Boolean).join('; ').slice(0, 300) ||
    `npm install exited with ${result.status}`
  );
}

/**
 * Installs PM2 under `<tmp>/pm2`. Resolves { dir, version, spec } where `dir` is the
 * package's directory, or { skipped: reason }.
 */
function install(tmp) {
  const prefix = path.join(tmp, 'pm2');
  const cache = path.join(os.tmpdir(), 'forever-native-bench-npm-cache');
  fs.mkdirSync(prefix, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const attempt = (spec) =>
    spawnSync(
      npm,
      [
        'install',
        '--prefix',
        prefix,
        '--cache',
        cache,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--loglevel',
        'error',
        spec,
      ],
      {
        encoding: 'utf8',
        timeout: NPM_TIMEOUT_MS,
        env: { ...process.env, npm_config_update_notifier: 'false' },
      },
    );
  let spec = PM2_SPEC;
  let result = attempt(spec);
  if (
    result.status !== 0 &&
    /ETARGET|No matching version/i.test(`${result.stderr}${result.stdout}`)
  ) {
    spec = PM2_FALLBACK;
    result = attempt(spec);
  }
  if (result.status !== 0 || result.error)
    return { skipped: `PM2 could not be installed (${spec}): ${npmReason(result)}` };
  const dir = path.join(prefix, 'node_modules', 'pm2');
  try {
    const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    return { dir, version, spec };
  } catch (err) {
    return { skipped: `PM2 was installed but cannot be read: ${err.message}` };
  }
}

// ---- the worker's side ---------------------------------------------------------------

const promisify = (fn) =>
  new Promise((resolve, reject) =>
    fn((err, value) =>
      err
        ? reject(
            err instanceof Error ? err : new Error(String(err && err.message ? err.message : err)),
          )
        : resolve(value),
    ),
  );

/**
 * Connects to a PM2 daemon of this worker's own (private PM2_HOME, in the worker's
 * temporary directory), and to its event bus unless `bus: false`. Resolves a handle:
 *   pm2, pid (the daemon's), home, cwd (a directory for the apps), requireMs and
 *   requireRssMB (of require(pm2) in this process), bootMs (connect(): the daemon's start),
 *   start(app) → the apps PM2 started; del(name); exits(name) → 'exit' events seen so far;
 *   waitExits(name, k, ms) → the time (c.now()) at which the k-th 'exit' was seen;
 *   waitEvent(name, event, ms); daemonCpuMs(); daemonRssMB(); daemonFds(); close().
 */
async function open(c, { bus: useBus = true } = {}) {
  const dir = process.env.FOREVER_BENCH_PM2_DIR;
  if (!dir)
    throw new Error(
      '--impl pm2 needs FOREVER_BENCH_PM2_DIR (node bench/run.js --peers pm2 installs PM2 and sets it)',
    );
  const home = c.tmpDir('pm2home');
  const cwd = c.tmpDir('pm2cwd');
  Object.assign(process.env, {
    PM2_HOME: home,
    PM2_DISABLE_VERSION_CHECK: 'true',
    PM2_PROGRAMMATIC: 'true',
    PM2_NO_INTERACTION: 'true',
  });
  const rss0 = c.rssMB();
  const t0 = c.now();
  const pm2 = require(dir);
  const requireMs = c.now() - t0;
  const requireRssMB = c.rssMB() - rss0;
  const t1 = c.now();
  await promisify((cb) => pm2.connect(cb));
  const bootMs = c.now() - t1;
  const pid = Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
  if (!c.isAlive(pid))
    throw new Error(`the PM2 daemon (pid ${pid}) is not running after connect()`);

  // The bus carries every event, the apps' output too ('log:out', which the daemon packs
  // whether anyone listens or not): a worker that measures output opens none, so that
  // the daemon does not also write the output into a socket for the bench.
  const bus = useBus ? await promisify((cb) => pm2.launchBus(cb)) : null;
  const exits = new Map();
  const waiters = [];
  if (bus)
    bus.on('process:event', (packet) => {
      const name = packet && packet.process && packet.process.name;
      const at = c.now();
      if (packet.event === 'exit') exits.set(name, (exits.get(name) || 0) + 1);
      for (const w of Array.from(waiters)) {
        if (w.name === name && w.test(packet.event)) {
          waiters.splice(waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(at);
        }
      }
    });
  const wait = (name, test, ms, what) =>
    new Promise((resolve, reject) => {
      const w = { name, test, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      waiters.push(w);
    });

  let closed = false;
  const handle = {
    pm2,
    pid,
    home,
    cwd,
    requireMs,
    requireRssMB,
    bootMs,
    /** Starts one app or an array of apps, with APP_DEFAULTS; resolves when PM2 has launched them. */
    start: (app) => {
      const conf = (a) => ({ ...APP_DEFAULTS, cwd, ...a });
      return promisify((cb) => pm2.start(Array.isArray(app) ? app.map(conf) : conf(app), cb));
    },
    /** [{ name, pid, status }] of every app, from the daemon. */
    list: () =>
      promisify((cb) => pm2.list(cb)).then((procs) =>
        procs.map((p) => ({ name: p.name, pid: p.pid, status: p.pm2_env && p.pm2_env.status })),
      ),
    del: (name) => promisify((cb) => pm2.delete(name, cb)),
    exits: (name) => exits.get(name) || 0,
    waitExits(name, k, ms = 120000) {
      if (!bus) throw new Error('waitExits needs the bus (open(c, { bus: true }))');
      if ((exits.get(name) || 0) >= k) return Promise.resolve(c.now());
      return wait(
        name,
        (event) => event === 'exit' && (exits.get(name) || 0) >= k,
        ms,
        `exit #${k} of PM2 app ${name}`,
      );
    },
    waitEvent: (name, event, ms = 30000) =>
      wait(name, (e) => e === event, ms, `PM2 event ${event} of app ${name}`),
    daemonCpuMs: () => c.procCpuMs(pid),
    daemonRssMB: () => c.procRssMB(pid),
    daemonFds: () => c.fdCount(pid),
    /** `pm2 kill`, bounded; the daemon is SIGKILLed if it is still there. Never throws. */
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (bus) pm2.disconnectBus();
      } catch {}
      try {
        await Promise.race([promisify((cb) => pm2.killDaemon(cb)), c.sleep(15000)]);
      } catch {}
      try {
        pm2.disconnect();
      } catch {}
      try {
        await c.until(() => !c.isAlive(pid), 3000, 'the PM2 daemon to exit', 20);
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    },
  };
  return handle;
}

/**
 * Runs `body(handle)` with a PM2 daemon of its own, and always closes it (pm2 kill) —
 * also when `body` throws. `options`: { bus: false } to open no event bus.
 */
async function withPm2(c, body, options) {
  const h = await open(c, options);
  try {
    return await body(h);
  } finally {
    await h.close();
    c.rmrf(h.home);
    c.rmrf(h.cwd);
  }
}

module.exports = { PM2_SPEC, PM2_FALLBACK, APP_DEFAULTS, SETTINGS_TEXT, install, open, withPm2 };
