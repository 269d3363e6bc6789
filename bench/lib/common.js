'use strict';
// Shared helpers for the bench workers: arguments, loading an implementation, /proc
// readings, child-side time stamps, and the one JSON result line a worker prints.
//
// Kept light on purpose: the footprint worker measures require() after loading this file.

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const CHILDREN = path.join(__dirname, '..', 'children');

/** `--key value` and `--flag` pairs. */
function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    const value = argv[i + 1];
    if (value !== undefined && !value.startsWith('--')) {
      out[key] = value;
      i++;
    } else {
      out[key] = true;
    }
  }
  return out;
}

/** The module under test: this package (index.js) or forever-monitor. */
function loadImpl(name) {
  if (name === 'native') return require(ROOT);
  if (name === 'forever-monitor') return require('forever-monitor');
  throw new Error(`--impl must be "native" or "forever-monitor" here, not ${JSON.stringify(name)}`);
}

const isMonitorImpl = (name) => name === 'native' || name === 'forever-monitor';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds (float) since an arbitrary origin, monotonic. */
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Wall-clock time in microseconds (comparable with bash's $EPOCHREALTIME). */
const epochMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** Resolves with the args of the next `event`; rejects after `ms` with a clear message. */
function next(emitter, event, ms = 30000, what = event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    function on(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, on);
  });
}

/** Polls `check` until it returns a truthy value; rejects after `ms`. */
async function until(check, ms = 10000, what = 'a condition', every = 10) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// ---- /proc ---------------------------------------------------------------------------

/** { pid, comm, state, ppid } of a process, or null when it is gone. */
function procStat(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    pid: Number(pid),
    comm: text.slice(text.indexOf('(') + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
  };
}

/** True while `pid` exists and is not a zombie. */
function isAlive(pid) {
  const st = procStat(pid);
  return st !== null && st.state !== 'Z';
}

/** Every process visible in /proc, as procStat() rows. */
function allProcs() {
  const rows = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(name);
    if (st) rows.push(st);
  }
  return rows;
}

/** Descendants of `root` (default: this process), zombies included, as procStat() rows. */
function descendants(root = process.pid) {
  const rows = allProcs();
  const byParent = new Map();
  for (const r of rows) {
    if (!byParent.has(r.ppid)) byParent.set(r.ppid, []);
    byParent.get(r.ppid).push(r);
  }
  const out = [];
  const stack = [Number(root)];
  while (stack.length) {
    for (const r of byParent.get(stack.pop()) || []) {
      out.push(r);
      stack.push(r.pid);
    }
  }
  return out;
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ; 100 on Linux). */
let clkTck = null;
function ticksPerSec() {
  if (clkTck === null) {
    try {
      clkTck =
        Number(
          require('child_process')
            .execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
            .trim(),
        ) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU time (user + system, all threads) of another process in ms, or null when it is gone. */
function procCpuMs(pid) {
  const st = procStat(pid);
  return st === null ? null : ((st.utime + st.stime) * 1000) / ticksPerSec();
}

/** Resident set size of another process in MB (VmRSS), or null when it is gone. */
function procRssMB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The pid of forever-native's guardian for this host (a double-forked process named
 * `forever-guard (host <pid>)`, comm `forever-guard`), or null before the first
 * child was spawned.
 */
function guardianPid(host = process.pid) {
  const needle = `(host ${host})`;
  for (const r of allProcs()) {
    if (r.comm !== 'forever-guard') continue;
    try {
      if (fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').includes(needle)) return r.pid;
    } catch {}
  }
  return null;
}

/** This process's CPU time (user + system, all its threads) in ms, µs resolution. */
function ownCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The supervisor's CPU time so far, in ms: the host process `pid` (default: this one; all
 * its threads) and, for forever-native, its guardian process too (which does a little
 * work per spawn). Differences of two readings are what a stretch of supervision cost.
 * This process is read with µs resolution, another one in clock ticks (10 ms).
 */
function supervisorCpuMs(impl, pid = process.pid) {
  let ms = pid === process.pid ? ownCpuMs() : procCpuMs(pid);
  if (ms === null) return null;
  if (impl === 'native') {
    const g = guardianPid(pid);
    if (g !== null) ms += procCpuMs(g) || 0;
  }
  return ms;
}

/** Zombie children of this process (exited, not yet reaped). */
const zombieCount = () =>
  descendants().filter((r) => r.ppid === process.pid && r.state === 'Z').length;

const fdCount = (pid = 'self') => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Resident set size in MB, after a full GC when the worker runs with --expose-gc. */
function rssMB({ collect = true } = {}) {
  if (collect && global.gc) {
    global.gc();
    global.gc();
  }
  return process.memoryUsage().rss / (1024 * 1024);
}

/** A snapshot of the host's own resources: fds, RSS (MB) and zombie children. */
function hostResources() {
  return { fds: fdCount(), rssMB: rssMB(), zombies: zombieCount() };
}

/**
 * Safety net run by every worker before it reports: kills whatever is still running
 * below this process and returns how many there were (a leak the result reports).
 */
async function killLeftovers() {
  const alive = () => descendants().filter((r) => r.state !== 'Z');
  // Children already being torn down get a moment to go away by themselves.
  try {
    await until(() => alive().length === 0, 1000, 'descendants to exit', 20);
    return 0;
  } catch {
    const left = alive();
    for (const r of left) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {}
    }
    return left.length;
  }
}

// ---- child-side stamps ---------------------------------------------------------------

/** A bash snippet appending "<tag> <microseconds since the epoch>" to $STAMPS (no fork). */
const stamp = (tag) => `echo "${tag} \${EPOCHREALTIME/[.,]/}" >> "$STAMPS"`;

/** [{ tag, us }] from a stamps file, in file order. */
function readStamps(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [tag, us] = line.split(' ');
      return { tag, us: Number(us) };
    });
}

/** Gaps in ms from each "E" stamp to the following "S" stamp. */
function exitToStartGaps(stamps) {
  const gaps = [];
  for (let i = 0; i + 1 < stamps.length; i++) {
    if (stamps[i].tag === 'E' && stamps[i + 1].tag === 'S')
      gaps.push((stamps[i + 1].us - stamps[i].us) / 1000);
  }
  return gaps;
}

/** A fresh private directory for one worker run (removed by cleanup()). */
function tmpDir(label) {
  const base = process.env.FOREVER_BENCH_TMP || require('os').tmpdir();
  return fs.mkdtempSync(path.join(base, `fnbench-${label}-`));
}

function rmrf(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {}
}

// ---- the worker's life ---------------------------------------------------------------

/**
 * Runs a worker: parses --impl/--case/--quick, calls `body(args)`, kills any leftover
 * descendants, prints `{"bench": ..., ...result}` as one line and exits. Any failure
 * prints the error to stderr and exits 1.
 */
function runWorker(scenario, body) {
  const args = parseArgs(process.argv.slice(2));
  args.quick = args.quick === true;
  args.case = args.case || 'default';
  const fail = (err) => {
    process.stderr.write(
      `[bench ${scenario} impl=${args.impl} case=${args.case}] ${err && err.stack ? err.stack : err}\n`,
    );
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  Promise.resolve()
    .then(() => body(args))
    .then(async (result) => {
      const leftovers = await killLeftovers();
      const line = { bench: scenario, impl: args.impl, case: args.case, ...result };
      if (leftovers) line.leftovers = (line.leftovers || 0) + leftovers;
      process.stdout.write(JSON.stringify(line) + '\n');
      process.exit(0);
    }, fail);
}

module.exports = {
  ROOT,
  CHILDREN,
  parseArgs,
  loadImpl,
  isMonitorImpl,
  sleep,
  now,
  epochMicros,
  next,
  until,
  median,
  procStat,
  isAlive,
  descendants,
  zombieCount,
  fdCount,
  procCpuMs,
  procRssMB,
  guardianPid,
  ownCpuMs,
  supervisorCpuMs,
  rssMB,
  hostResources,
  killLeftovers,
  stamp,
  readStamps,
  exitToStartGaps,
  tmpDir,
  rmrf,
  runWorker,
};
