#!/usr/bin/env node
'use strict';
/**
 * forever-native [options] script [args...]
 * forever-native [--json] --config app.json
 *
 * Runs the script (or every app of the config file) under a forever-native Monitor in
 * the foreground, prints what happens on stderr, and stops it cleanly on SIGINT/SIGTERM.
 * A thin layer over the public Monitor API: parsing and formatting live in ./cli.js,
 * supervision in the Monitor.
 */

const fs = require('fs');
const path = require('path');
const cli = require('./cli.js');
const systemd = require('./systemd.js');

const version = () => require('../package.json').version;

function signalNumber(name) {
  return require('os').constants.signals[name] || 0;
}

/** The longest a status line (SIGUSR1) waits for the core's readings of the child's tree. */
const STATUS_WAIT = 5000;

/** Writes status lines to stderr (and to each app's --logFile). */
class Reporter {
  constructor(json) {
    this.json = json;
    this.color = !json && cli.useColor(process.stderr);
  }

  /**
   * @param {object} event
   * @param {Array<{ write(text: string): void }>} logs the --logFile writers; a failing one
   *   reports through its own error callback, and never stops supervision
   */
  emit(event, logs = []) {
    const e = { time: new Date(), ...event };
    const line = this.json ? cli.formatJson(e) : cli.formatHuman(e, this.color);
    process.stderr.write(`${line}\n`);
    if (logs.length === 0) return;
    const logged = this.json
      ? `${line}\n`
      : `${e.time.toISOString()} ${cli.formatHuman(e, false)}\n`;
    for (const log of logs) log.write(logged);
  }
}

/**
 * Creates the missing parent directories of one of the CLI's own files (--logFile,
 * --pidFile), so that `logs/app.log` or `run/app.pid` work on a fresh checkout. Each
 * missing component is made on its own with mode 0755, less the umask, from the top down.
 *
 * Symlinks. The files themselves are never written through one (the log file is opened
 * with O_NOFOLLOW, the pid file is renamed over its path), and no directory is created
 * through one either: a symlink on the way whose target is missing (ENOENT) or that loops
 * (ELOOP) is refused, as is a component that is not a directory (ENOTDIR). Directories
 * that exist are followed as the kernel follows them, symlinks included: /var/run -> /run
 * or a home directory behind a symlink were put there by whoever owns them, and refusing
 * them would refuse ordinary paths. What this creates is always a real directory.
 *
 * @throws {Error} with `code`, and `detail` naming the component at fault
 */
function makeParentDirs(file) {
  const fail = (err, detail) => Object.assign(err, { detail });
  const missing = [];
  // Set when a component above `dir` is at fault (ENOTDIR, ELOOP): the walk goes on up to
  // name it.
  let blocked = null;
  let dir = path.dirname(file);
  for (;;) {
    let st;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      const up = path.dirname(dir);
      if (up === dir || !['ENOENT', 'ENOTDIR', 'ELOOP'].includes(err.code))
        throw fail(blocked || err, `cannot look up ${dir}`);
      if (err.code === 'ENOENT' && !blocked) missing.push(dir);
      else blocked = blocked || err;
      dir = up;
      continue;
    }
    if (st.isSymbolicLink()) {
      try {
        st = fs.statSync(dir);
      } catch (err) {
        throw fail(err, `${dir} is a symlink ${err.code === 'ELOOP' ? 'loop' : 'to nothing'}`);
      }
    }
    if (!st.isDirectory()) {
      throw fail(
        Object.assign(new Error(`not a directory: ${dir}`), { code: 'ENOTDIR' }),
        `${dir} is not a directory`,
      );
    }
    if (blocked) throw fail(blocked, `cannot look up ${blocked.path || dir}`);
    break;
  }
  for (const created of missing.reverse()) {
    try {
      fs.mkdirSync(created, 0o755);
    } catch (err) {
      // Made by someone else meanwhile: fine if it is a real directory, not a symlink.
      let st = null;
      if (err.code === 'EEXIST') st = fs.lstatSync(created, { throwIfNoEntry: false });
      if (st && st.isDirectory()) continue;
      if (st && st.isSymbolicLink())
        throw fail(Object.assign(err, { code: 'ELOOP' }), `${created} became a symlink`);
      throw fail(err, `cannot create directory ${created}`);
    }
  }
}

/** `what` could not be opened or written: the error status line, with what was at fault. */
function fileError(what, file, err) {
  const detail = err && err.detail ? ` (${err.detail})` : '';
  return {
    event: 'error',
    message: `${what} ${file}: ${err && (err.code || err.message)}${detail}`,
    code: err && err.code,
  };
}

/** Writes `pid` to `file` atomically: a temporary file in the same directory, renamed. */
function writePidFile(file, pid) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Usually there is none.
    }
    fs.writeFileSync(tmp, `${pid}\n`, { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // Nothing was created.
    }
    throw err;
  }
}

/** One supervised app (or one instance of an app run with -i): a Monitor and what the CLI knows about it. */
class App {
  constructor(spec, reporter, onEnded, instance = null) {
    this.spec = spec;
    this.name = spec.name;
    // The instance's index (-i), reported with each of its status lines; null for a plain app.
    this.instance = instance;
    // The instances' Group (-i): SIGHUP's reload rolls through it; the app's own name.
    this.group = null;
    this.groupName = null;
    this.reporter = reporter;
    this.onEnded = onEnded;
    this.monitor = null;
    this.statusLog = null;
    this.pid = null;
    this.startedAt = 0;
    this.runs = 0;
    this.lastExit = null;
    this.lastUptime = undefined;
    this.errorAfterExit = false;
    this.hup = false;
    this.watchRestart = false;
    this.reloadStarted = null;
    this.stopRequested = false;
    // Gave up under --watch: a file change runs the child again.
    this.waiting = false;
    this.forced = false;
    this.ended = false;
    this.exitCode = 0;
    this.pidWritten = null;
  }

  report(event) {
    const instance = this.instance === null ? {} : { instance: this.instance };
    this.reporter.emit(
      { app: this.name, pid: this.pid, ...instance, ...event },
      this.statusLog === null ? [] : [this.statusLog],
    );
  }

  /** Creates the Monitor (which throws TypeError/RangeError for bad options). */
  create(Monitor) {
    this.attach(new Monitor(this.spec.script, this.spec.options));
  }

  /** Follows monitor `m` (its own, or an instance's of a Group). */
  attach(m) {
    this.monitor = m;
    m.on('start', () => this.onStart(false));
    m.on('restart', () => this.onStart(true));
    m.on('exit:code', (code, signal) => this.onExitCode(code, signal));
    m.on('exit', (_monitor, spinning, info) => this.onEnd(spinning, info));
    m.on('restarting', (info) => this.onRestarting(info));
    m.on('ready', () =>
      this.report({ event: 'ready', after: Math.max(0, Date.now() - this.startedAt) }),
    );
    m.on('reload', (info) => {
      const { phase, oldPid, newPid, reason, code, signal } = info;
      // The new child started now; it becomes the child (a 'restart') only once it takes over.
      if (phase === 'starting') this.reloadStarted = { pid: newPid, at: Date.now() };
      const fields =
        phase === 'done' ? { code, signal } : phase === 'failed' ? { reason, code, signal } : {};
      this.report({ event: 'reload', phase, oldPid, newPid, ...fields });
    });
    m.on('error', (err) => this.onError(err));
    // A stop while waiting for a change ends with 'stop' alone ('exit' came at the give-up).
    m.on('stop', () => {
      if (this.waiting && this.stopRequested) {
        this.waiting = false;
        this.exitCode = 0;
        this.report({ event: 'stop', forced: false });
        this.end();
      }
    });
    m.on('watch:restart', (info) => {
      this.watchRestart = true;
      this.report({ event: 'watch', file: info && info.file !== undefined ? info.file : null });
    });
    m.on('watch:error', (info) => {
      this.report({
        event: 'warning',
        message: [info && info.message, info && info.error].filter(Boolean).join(' '),
      });
    });
  }

  /**
   * Opens --logFile (after every Monitor accepted its options, so a usage error stays one
   * line). It is checked and truncated here, so that a bad path is an error line at once;
   * the core then writes it (each line on disk when `write()` returns) and rotates it with
   * the app's log options.
   */
  openLog(openStatusLog) {
    const file = this.spec.options.logFile;
    if (typeof file !== 'string') return;
    const c = fs.constants;
    try {
      makeParentDirs(file);
      fs.closeSync(
        fs.openSync(
          file,
          c.O_WRONLY |
            c.O_CREAT |
            c.O_APPEND |
            c.O_NOFOLLOW |
            (this.spec.options.append === true ? 0 : c.O_TRUNC),
          0o644,
        ),
      );
      this.statusLog = openStatusLog(file, this.monitor, (err) =>
        this.report(fileError('cannot write log file', file, err)),
      );
    } catch (err) {
      this.report(fileError('cannot open log file', file, err));
    }
  }

  /** Re-opens the app's log files (-o/-e and -l), after logrotate moved them. */
  reopenLogs() {
    if (this.monitor) this.monitor.reopenLogs();
    if (this.statusLog) this.statusLog.reopen();
  }

  start() {
    this.monitor.start();
  }

  onStart(restart) {
    const m = this.monitor;
    this.runs += 1;
    this.waiting = false;
    this.pid = m.child ? m.child.pid : null;
    this.startedAt = typeof m.ctime === 'number' ? m.ctime : Date.now();
    if (this.reloadStarted && this.reloadStarted.pid === this.pid)
      this.startedAt = this.reloadStarted.at;
    this.hup = false;
    this.watchRestart = false;
    this.errorAfterExit = false;
    this.report({
      event: restart ? 'restart' : 'start',
      run: this.runs,
      max: m.max === undefined ? null : m.max,
    });
    const sockets = restart ? [] : m.listenAddresses();
    if (sockets.length > 0) this.report({ event: 'listening', sockets });
    if (this.spec.options.pidFile && this.pid) {
      try {
        // Again at every start: the directory may have gone meanwhile (a cleaned /run).
        makeParentDirs(this.spec.options.pidFile);
        writePidFile(this.spec.options.pidFile, this.pid);
        this.pidWritten = this.pid;
      } catch (err) {
        this.report(fileError('cannot write pid file', this.spec.options.pidFile, err));
      }
    }
  }

  onExitCode(code, signal) {
    const uptime = Math.max(0, Math.round(Date.now() - this.startedAt));
    this.lastExit = { code, signal };
    this.lastUptime = uptime;
    this.errorAfterExit = false;
    this.report({ event: 'exit', code, signal, uptime });
    // When supervision ends here, 'exit' follows in this same tick; otherwise a restart
    // is on its way.
    process.nextTick(() => this.afterExit());
  }

  /** A restart that SIGHUP or a file change asked for (the monitor reports the others). */
  afterExit() {
    const m = this.monitor;
    if (this.ended || this.stopRequested || m.running !== true) return;
    if (this.hup || this.watchRestart) {
      const reason = this.hup ? 'SIGHUP' : 'watch';
      this.report({
        event: 'restarting',
        reason,
        run: m.times + 1,
        max: m.max === undefined ? null : m.max,
        delay: 0,
        attempt: null,
      });
    }
  }

  /** The Monitor's 'restarting': an automatic restart, after `info.delay` ms. */
  onRestarting(info) {
    const m = this.monitor;
    if (this.ended || this.stopRequested) return;
    if (info.reason === 'spinning') {
      this.report({
        event: 'spinning',
        uptime: this.lastUptime,
        minUptime: m.minUptime,
        restartIn: info.delay,
      });
      return;
    }
    const health =
      info.reason === 'watchdog' || info.reason === 'memory' || info.reason === 'readyTimeout';
    this.report({
      event: 'restarting',
      reason: health ? info.reason : 'exit',
      run: m.times + 1,
      max: m.max === undefined ? null : m.max,
      delay: info.delay,
      attempt: typeof info.attempt === 'number' ? info.attempt : null,
      ...(info.rss !== undefined ? { rss: info.rss } : {}),
    });
  }

  /**
   * Prints what the child uses (SIGUSR1), with all the figures of README's line. The core
   * reads the tree once a second while asked (the first usage() call starts it): memory
   * comes with its first reading, CPU use with the second (it is the CPU time between two).
   * So the first time, the line waits for a reading with both (at most STATUS_WAIT ms,
   * then it prints what there is).
   */
  status() {
    const m = this.monitor;
    if (!m || this.ended) return;
    const print = (u) =>
      this.report({ event: 'status', ...u, pid: u.pid === null ? this.pid : u.pid });
    const asked = Date.now();
    const complete = (u) =>
      u.state === 'idle' ||
      u.state === 'sleeping' ||
      u.state === 'waiting' ||
      (u.cpu !== null && u.rss !== null && u.sampledAt !== null && u.sampledAt >= asked - 2000);
    const poll = () => {
      if (this.ended) return;
      const u = m.usage();
      if (complete(u) || Date.now() - asked >= STATUS_WAIT) print(u);
      else setTimeout(poll, 100).unref();
    };
    poll();
  }

  /** The Monitor's 'exit': supervision ended (stopped, gave up, or failed). */
  onEnd(spinning, info) {
    if (this.ended) return;
    const m = this.monitor;
    if (this.stopRequested) {
      this.exitCode = 0;
      this.report({ event: 'stop', forced: this.forced });
    } else {
      const last = this.lastExit;
      this.exitCode = last && typeof last.code === 'number' ? last.code : 1;
      let reason = info && info.reason !== 'stopped' ? info.reason : 'max';
      if (!info) {
        if (spinning && typeof m.spinSleepTime !== 'number') reason = 'spinning';
        else if (this.errorAfterExit) reason = 'error';
      }
      if (reason === 'spinning') {
        this.report({
          event: 'spinning',
          uptime: this.lastUptime,
          minUptime: m.minUptime,
          restartIn: null,
        });
      }
      if (reason !== 'error' && m.watch === true) {
        // The monitor keeps watching: the next change runs the child again.
        this.waiting = true;
        this.removePidFile();
        this.report({
          event: 'waiting',
          reason,
          runs: m.times,
          max: m.max === undefined ? null : m.max,
        });
        return;
      }
      const extra = reason === 'window' ? { window: m.restartWindow } : {};
      this.report({
        event: 'giveup',
        reason,
        runs: m.times,
        max: m.max === undefined ? null : m.max,
        exitCode: this.exitCode,
        ...extra,
      });
    }
    this.end();
  }

  onError(err) {
    // Its 'reload' line says it, and the old child serves on.
    if (err && err.code === 'ERR_RELOAD_FAILED') return;
    this.errorAfterExit = true;
    this.report({
      event: 'error',
      message: String(err && err.message),
      code: err && err.code !== undefined ? err.code : null,
    });
    // An error that leaves the monitor not running (the first start failed) ends it: no
    // 'exit' will come.
    setImmediate(() => {
      if (this.ended || this.waiting || this.monitor.running === true) return;
      this.exitCode = 1;
      this.report({
        event: 'giveup',
        reason: 'error',
        runs: this.monitor.times || 0,
        max: this.monitor.max === undefined ? null : this.monitor.max,
        exitCode: 1,
      });
      this.end();
    });
  }

  end() {
    this.ended = true;
    this.removePidFile();
    this.onEnded(this);
  }

  /** Stops the child gracefully (killSignal, then SIGKILL after killTTL). */
  stop() {
    this.stopRequested = true;
    if (!this.ended && this.monitor && (this.monitor.running === true || this.waiting))
      this.monitor.stop();
  }

  /** Kills the child at once; returns whether there was one to kill. */
  force() {
    const m = this.monitor;
    if (this.ended || !m || m.running !== true || !m.child) return false;
    this.forced = true;
    return m.child.kill('SIGKILL');
  }

  /** Restarts a running child (SIGHUP), or reloads it with --reloadOnHup; returns whether it did. */
  restart() {
    const m = this.monitor;
    if (this.ended || this.stopRequested || !m || (m.running !== true && !this.waiting))
      return false;
    if (this.spec.reloadOnHup && m.running === true) {
      m.reload();
      return true;
    }
    this.hup = true;
    m.restart();
    return true;
  }

  removePidFile() {
    const file = this.spec.options.pidFile;
    if (!file || this.pidWritten === null) return;
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(this.pidWritten)) fs.unlinkSync(file);
    } catch {
      // Already gone.
    }
    this.pidWritten = null;
  }
}

/** Reports a usage error (or a bad option) as one line and exits with code 2. */
function failUsage(message, json) {
  if (json) {
    process.stderr.write(
      `${cli.formatJson({ event: 'error', time: new Date(), app: null, pid: null, message, exitCode: 2 })}\n`,
    );
  } else {
    process.stderr.write(`forever-native: ${message}\n`);
  }
  process.exit(2);
}

function run(specs, json, notes = [], reap = false) {
  const reporter = new Reporter(json);
  for (const message of notes) reporter.emit({ event: 'warning', app: null, pid: null, message });
  const warn = (message) => reporter.emit({ event: 'warning', app: null, pid: null, message });
  // Process warnings (a loose option value, a replaced guardian) are status lines too, so
  // that --json's stream stays one object per line: Node's own printer is replaced.
  process.removeAllListeners('warning');
  process.on('warning', (w) => warn(w.code ? `${w.message} (${w.code})` : w.message));
  // systemd's variables are the CLI's, not the children's; the orphans of pid 1 are reaped.
  const sd = systemd.fromEnv(process.env, warn);
  // Sockets systemd passed (socket activation) are held like --listen's.
  systemd.usePassedSockets(specs, systemd.takeListenFds(process.env), warn);
  systemd.reapOrphans(reap, warn);
  const apps = [];
  let stopSignals = 0;
  let forcedBy = null;
  let finished = false;

  const finish = (code) => {
    if (finished) return;
    finished = true;
    sd.stopping();
    for (const app of apps) app.removePidFile();
    process.exit(code);
  };

  const onEnded = () => {
    sd.update();
    if (!apps.every((app) => app.ended)) return;
    // 0 after a clean stop; the first failing app's exit code when one gave up; 128+n
    // when the stop had to be forced by signal n.
    const failed = apps.find((app) => app.exitCode !== 0);
    const forced = apps.some((app) => app.forced);
    finish(forced && forcedBy ? 128 + signalNumber(forcedBy) : failed ? failed.exitCode : 0);
  };

  const { Monitor, _openStatusLog } = require('..');
  for (const spec of specs) {
    try {
      if (isGroup(spec)) apps.push(...instancesOf(spec, reporter, onEnded));
      else {
        const app = new App(spec, reporter, onEnded);
        app.create(Monitor);
        apps.push(app);
      }
    } catch (err) {
      const where = spec.where === 'options' ? '' : `${spec.where}: `;
      if (err instanceof TypeError || err instanceof RangeError)
        failUsage(`${where}${err.message}`, json);
      process.stderr.write(`forever-native: ${where}${err && err.message}\n`);
      process.exit(1);
    }
  }

  const allLogs = () => apps.filter((a) => a.statusLog !== null).map((a) => a.statusLog);

  const onStopSignal = (signal) => {
    stopSignals += 1;
    if (stopSignals === 1) {
      sd.stopping();
      reporter.emit({ event: 'signal', app: null, pid: null, signal, action: 'stop' }, allLogs());
      for (const app of apps) app.stop();
    } else if (stopSignals === 2) {
      forcedBy = signal;
      reporter.emit({ event: 'signal', app: null, pid: null, signal, action: 'force' }, allLogs());
      for (const app of apps) app.force();
    } else {
      reporter.emit({ event: 'signal', app: null, pid: null, signal, action: 'exit' }, allLogs());
      finish(128 + signalNumber(signal));
    }
  };
  process.on('SIGINT', () => onStopSignal('SIGINT'));
  process.on('SIGTERM', () => onStopSignal('SIGTERM'));
  process.on('SIGHUP', () => {
    const action =
      stopSignals > 0 ? 'ignore' : apps.some((app) => app.spec.reloadOnHup) ? 'reload' : 'restart';
    reporter.emit({ event: 'signal', app: null, pid: null, signal: 'SIGHUP', action }, allLogs());
    if (action === 'ignore') return;
    sd.reload(() => {
      const reloading = [];
      const rolled = new Set();
      for (const app of apps) {
        // An app's instances reload one batch at a time, once for all of them.
        if (app.group && app.spec.reloadOnHup) {
          if (!rolled.has(app.group)) reloading.push(...rollGroup(app, apps, sd));
          rolled.add(app.group);
        } else if (app.restart()) reloading.push(app);
      }
      return reloading;
    });
  });
  // Status of every app on SIGUSR1 (which then no longer starts Node's inspector).
  process.on('SIGUSR1', () => {
    for (const app of apps) app.status();
  });
  // logrotate's postrotate convention: the files were moved; write to new ones. The line
  // comes after the reopen, so it is the first in the new --logFile.
  process.on('SIGUSR2', () => {
    for (const app of apps) app.reopenLogs();
    reporter.emit(
      { event: 'signal', app: null, pid: null, signal: 'SIGUSR2', action: 'reopen' },
      allLogs(),
    );
  });
  process.on('exit', () => {
    for (const app of apps) app.removePidFile();
  });
  process.stderr.on('error', () => {});

  for (const app of apps) {
    // An app's instances share its --logFile: the first one opens it.
    const first = app.group && apps.find((other) => other.group === app.group);
    if (first && first !== app) app.statusLog = first.statusLog;
    else app.openLog(_openStatusLog);
  }
  sd.watch(apps);
  for (const app of apps) app.start();
}

/** Whether an app runs as instances (-i, or `instances`, `reloadBatch`, `listenReusePort` or `instanceVar` in its config). */
function isGroup(spec) {
  const o = spec.options;
  return ['instances', 'reloadBatch', 'listenReusePort', 'instanceVar'].some(
    (key) => o[key] !== undefined && o[key] !== null,
  );
}

/**
 * The apps of `spec`'s instances: a Group (which throws TypeError/RangeError for bad
 * options, as a Monitor does) and one App per instance, named `<app>[<index>]`, each with
 * its own pid file (`app.pid` -> `app-0.pid`, as PM2 names them).
 */
function instancesOf(spec, reporter, onEnded) {
  const { Group } = require('..');
  const group = new Group(spec.script, spec.options);
  // Each instance's errors are its App's to report (its monitor's own listener).
  group.on('error', () => {});
  return group.monitors.map((m, i) => {
    const options = { ...spec.options };
    if (typeof options.pidFile === 'string') {
      const ext = path.extname(options.pidFile);
      options.pidFile = `${options.pidFile.slice(0, options.pidFile.length - ext.length)}-${i}${ext}`;
    }
    const app = new App({ ...spec, name: `${spec.name}[${i}]`, options }, reporter, onEnded, i);
    app.group = group;
    app.groupName = spec.name;
    app.attach(m);
    return app;
  });
}

/**
 * SIGHUP with --reloadOnHup for an app's instances: a rolling reload of its group. Each
 * instance's steps are its own 'reload' lines; the roll's end is one line for the app.
 * Returns the instances' apps it reloads (systemd's READY=1 waits for each to settle).
 */
function rollGroup(app, apps, sd) {
  const group = app.group;
  const mine = apps.filter((a) => a.group === group && !a.ended && !a.stopRequested);
  if (mine.length === 0) return [];
  const name = app.groupName;
  const say = (event) =>
    app.reporter.emit({ app: name, pid: null, ...event }, app.statusLog ? [app.statusLog] : []);
  group.reloadAsync().then(
    () => say({ event: 'rolled', instances: group.size }),
    (err) => {
      // The instances the roll did not reach: systemd's READY=1 does not wait for them.
      for (const a of mine) sd.abandonReload(a);
      // A stop (SIGTERM) ended the roll: the stop lines say so.
      if (mine.some((a) => a.stopRequested)) return;
      say({
        event: 'error',
        message: String(err && err.message),
        code: err && err.code !== undefined ? err.code : null,
        ...(err && typeof err.instance === 'number' ? { instance: err.instance } : {}),
      });
    },
  );
  return mine;
}

function main(argv) {
  let what;
  try {
    what = cli.plan(argv);
  } catch (err) {
    if (err instanceof cli.UsageError) return failUsage(err.message, cli.wantsJson(argv));
    throw err;
  }
  if (what.help) {
    process.stdout.write(cli.helpText(version()));
    return;
  }
  if (what.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  // A script node cannot run is a usage error now, not a restart loop.
  for (const app of what.apps) {
    const problem = cli.scriptProblem(app);
    if (problem) return failUsage(problem.message, what.json);
  }
  // The CLI's production default (the API keeps forever-monitor's): a crash loop backs off.
  for (const app of what.apps) cli.withRestartDefaults(app.options);
  run(what.apps, what.json, what.notes, what.reap === true || what.apps.some((a) => a.reap));
}

main(process.argv.slice(2));
