#!/usr/bin/env node
'use strict';
// The bench harness: runs each scenario's worker for forever-native and forever-monitor
// alternately (and the machine's limit or a plain-Node reference where there is one),
// several rounds, each run in a fresh node process; prints medians and ratios and, for a
// full run of every scenario, writes bench/RESULTS.md.
//
//   node bench/run.js                 full run (release addon required), writes RESULTS.md
//   node bench/run.js --quick         smoke check: one round, small sizes, < 1 minute
//   node bench/run.js --only 1,ipc    some scenarios only (by number or id); prints only
//   node bench/run.js --rounds 3      rounds per scenario (default: per scenario)
//   node bench/run.js --allow-debug   run a full bench on a debug addon anyway
//
// Exit status: 0 when every run succeeded (forever-monitor's known ERR_STREAM_DESTROYED
// crash in scenario 3 is a finding, not a failure); 1 with a clear message otherwise.
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

const BENCH = __dirname;
const ROOT = path.resolve(BENCH, '..');
const ADDON = path.join(ROOT, 'forever-native.linux-x64-gnu.node');
const NATIVE = 'native';
const FM = 'forever-monitor';

// ---- options -------------------------------------------------------------------------

function parseArgv(argv) {
  const opts = { quick: false, only: null, rounds: null, allowDebug: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--allow-debug') opts.allowDebug = true;
    else if (a === '--only') opts.only = String(argv[++i] || '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--rounds') opts.rounds = Number(argv[++i]);
    else if (a.startsWith('--rounds=')) opts.rounds = Number(a.slice(9));
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 16).join('\n').replace(/^\/\/ ?/gm, '') + '\n');
      process.exit(0);
    } else throw new RunError(`unknown argument ${JSON.stringify(a)} (try --help)`);
  }
  if (opts.only && opts.only.length === 0) throw new RunError('--only needs a scenario: a number 1-7 or an id such as ipc');
  if (opts.rounds !== null && !(Number.isInteger(opts.rounds) && opts.rounds > 0)) throw new RunError('--rounds needs a whole number > 0');
  return opts;
}

// ---- formatting ----------------------------------------------------------------------

function num(v, digits) {
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v === 'string') return v;
  const a = Math.abs(v);
  const digits = a === 0 || Number.isInteger(v) ? 0 : a < 10 ? 2 : a < 100 ? 1 : 0;
  const u = unit ? ` ${unit}` : '';
  return `${num(v, digits)}${u}`;
}
const ratioText = (r) => (r === null || !Number.isFinite(r) ? '—' : `${r >= 10 ? num(r, 0) : num(r, 2)}×`);

// ---- the scenarios -------------------------------------------------------------------
//
// A row is one figure: `key` of the worker's result for `case`, its median per
// implementation, the ratio (always "how many times better forever-native is": > 1 is
// better, < 1 worse), the reference column (`ref` impl), and a goal when the issue set one.
// `cells(m)` replaces the plain median cells for rows that are not a single number.

const med = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

/** The marginal cost of one more monitor between N=a and N=b, from the medians of `key`. */
function marginal(m, impl, key, a, b) {
  const x = m.in(`n${a}`, impl, key);
  const y = m.in(`n${b}`, impl, key);
  return x === null || y === null ? null : (y - x) / (b - a);
}

function scenarios(quick) {
  const sizes = quick ? [1, 10, 100] : [1, 10, 100, 500];
  const mb = quick ? 20 : 200;
  return [
    {
      n: 1,
      id: 'busy-restart',
      title: 'Restart with a busy host',
      note: `The host's JS thread is blocked ${quick ? 1 : 3} s from 'start'; the child crashes at 300 ms. Gap = first child's exit stamp to the second child's start stamp, both written by the children (bash $EPOCHREALTIME). Limit: bash running the same child twice in a row.`,
      worker: 'busy-restart.js',
      cases: ['default'],
      impls: () => [NATIVE, FM, 'limit'],
      rounds: quick ? 1 : 5,
      timeout: 60000,
      rows: [
        {
          case: 'default', key: 'gapMs', label: `crash → new child gap, host blocked ${quick ? 1 : 3} s`, unit: 'ms', better: 'lower', ref: 'limit',
          goal: { text: '< 50 ms', check: (m) => m(NATIVE) < 50 },
        },
        {
          case: 'default', key: 'restartedWhileBlocked', label: 'new child started while the host was still blocked', kind: 'count',
        },
      ],
    },
    {
      n: 2,
      id: 'crash-loop',
      title: 'Restart gap (idle host) and crash-loop rate',
      note: `${quick ? 100 : '1,000'} restarts of \`sh -c 'exit 1'\` with minUptime: 0 (rate), then as many again (growth per restart); gap: ${quick ? 20 : 100} restarts of a bash child stamping its start and exit; delay: ${quick ? 5 : 20} restarts each asked to wait 200 ms (forever-native: \`restartDelay: 200\`; forever-monitor, which has no such option: \`minUptime: 60000, spinSleepTime: 200\`), the error being the measured exit-to-start gap less 200 ms. Host resources are read after a GC; "before" is after a 10-restart warm-up. Limit: a shell loop spawning the same child.`,
      worker: 'crash-loop.js',
      cases: ['rate', 'gap', 'delay'],
      impls: (k) => (k === 'delay' ? [NATIVE, FM] : [NATIVE, FM, 'limit']),
      rounds: quick ? 1 : 5,
      timeout: 120000,
      rows: [
        {
          case: 'rate', key: 'restartsPerSec', label: 'crash-loop rate', unit: '/s', better: 'higher', ref: 'limit',
          goal: { text: '≥ 2× forever-monitor', check: (m) => m(NATIVE) >= 2 * m(FM) },
        },
        { case: 'gap', key: 'gapMs', label: 'restart gap (exit stamp → next start stamp), median', unit: 'ms', better: 'lower', ref: 'limit' },
        { case: 'gap', key: 'gapMaxMs', label: 'restart gap, worst of a run', unit: 'ms', better: 'lower', ref: 'limit' },
        { case: 'delay', key: 'errorMs', label: 'a 200 ms restart delay: gap less 200 ms, median', unit: 'ms', better: 'lower' },
        { case: 'delay', key: 'errorMaxMs', label: 'a 200 ms restart delay: gap less 200 ms, worst of a run', unit: 'ms', better: 'lower' },
        {
          case: 'rate', label: 'host fds: before → after → after 2nd batch', kind: 'series', keys: ['fdsBefore', 'fdsAfter', 'fdsAfter2'],
          goal: { text: 'no growth', check: (m) => m(NATIVE, 'fdsAfter2') <= m(NATIVE, 'fdsBefore') },
        },
        {
          case: 'rate', label: 'host RSS MB: before → after → after 2nd batch', kind: 'series', keys: ['rssBeforeMB', 'rssAfterMB', 'rssAfter2MB'], digits: 1,
          goal: {
            text: 'no growth per restart (2nd batch < 1 MB)',
            check: (m) => m(NATIVE, 'rssAfter2MB') - m(NATIVE, 'rssAfterMB') < 1,
          },
        },
        {
          case: 'rate', label: 'zombie children: before → after → after 2nd batch', kind: 'series', keys: ['zombiesBefore', 'zombiesAfter', 'zombiesAfter2'],
          goal: { text: 'none', check: (m) => m(NATIVE, 'zombiesAfter') === 0 && m(NATIVE, 'zombiesAfter2') === 0 },
        },
      ],
    },
    {
      n: 3,
      id: 'output',
      title: 'Output and logs',
      note: `${mb} MB of text (\`yes … | head -c\`, through \`sh -c\`) from one child run, into \`outFile\` (silent) or, with silent: false, into the host's stdout redirected to a file. Wall = start() to the host's exit; CPU = the host's user + system time (all threads), from before require() to exit. Limit: \`producer | cat > file\`. With \`logDirect\` (a forever-native option), the child writes \`outFile\` itself: its wall then depends on the child's own write size (\`head\` writes 8 KiB at a time, where \`cat\` and forever-native's writer write in large chunks). With rotation (forever-native's \`logRotate: 'daily'\` with \`logMaxSize\` at a tenth of the output, and \`logCompress\`), the host stays up until its background thread has gzipped every rotated file: 'exit' shows the writer's throughput, the gzip time the thread's, and the CPU includes both. One line repeated compresses faster than real logs do.`,
      worker: 'output.js',
      cases: ['outFile', 'stdout'],
      impls: (k) => (k === 'outFile' ? [NATIVE, 'native-direct', 'native-rotate', FM, 'limit'] : [NATIVE, FM, 'limit']),
      rounds: quick ? 1 : 5,
      timeout: 400000,
      rows: [
        ...['outFile', 'stdout'].flatMap((k) => {
          const where = k === 'outFile' ? 'outFile' : 'host stdout (silent: false)';
          return [
            {
              case: k, key: 'wallMs', label: `${where}: wall`, unit: 'ms', better: 'lower', ref: 'limit',
              ...(k === 'outFile' ? { goal: { text: '≤ 1.3× the limit', check: (m) => m(NATIVE) <= 1.3 * m('limit') } } : {}),
            },
            { case: k, key: 'cpuMs', label: `${where}: host CPU`, unit: 'ms', better: 'lower' },
            {
              case: k, key: 'bytesLost', label: `${where}: bytes lost (worst run)`, kind: 'max', ref: 'limit',
              goal: { text: '0 (README: no output is lost)', check: (m) => m.max(NATIVE, 'bytesLost') === 0 },
            },
            { case: k, key: 'crashes', label: `${where}: host crashes (ERR_STREAM_DESTROYED) / attempts`, kind: 'crashes' },
          ];
        }),
        // The same run with logDirect: the child writes outFile itself (forever-native's column).
        { case: 'outFile', nativeImpl: 'native-direct', key: 'wallMs', label: 'outFile, forever-native with logDirect: wall', unit: 'ms', better: 'lower', ref: 'limit' },
        {
          case: 'outFile', nativeImpl: 'native-direct', key: 'cpuMs', label: 'outFile, forever-native with logDirect: host CPU', unit: 'ms', better: 'lower',
          goal: { text: '≤ 0.1× forever-monitor', check: (m) => m(NATIVE) <= 0.1 * m(FM) },
        },
        {
          case: 'outFile', nativeImpl: 'native-direct', key: 'bytesLost', label: 'outFile, forever-native with logDirect: bytes lost (worst run)', kind: 'max',
          goal: { text: '0 (README: no output is lost)', check: (m) => m.max(NATIVE, 'bytesLost') === 0 },
        },
        // The same run with rotation every tenth of the output (logMaxSize within logRotate: 'daily')
        // and logCompress: the writer's throughput, then the background thread's.
        ...(() => {
          const what = `outFile rotated every ${mb / 10} MB (logRotate, logMaxSize, logCompress)`;
          return [
            { case: 'outFile', nativeImpl: 'native-rotate', key: 'startToExitMs', label: `${what}: start() → 'exit'`, unit: 'ms', better: 'lower' },
            { case: 'outFile', nativeImpl: 'native-rotate', key: 'compressedMs', label: `${what}: start() → every rotated file gzipped`, unit: 'ms' },
            { case: 'outFile', nativeImpl: 'native-rotate', key: 'cpuMs', label: `${what}: host CPU, gzip included`, unit: 'ms', better: 'lower' },
            {
              case: 'outFile', nativeImpl: 'native-rotate', key: 'bytesLost', label: `${what}: bytes lost (worst run)`, kind: 'max',
              goal: { text: '0 (README: no output is lost)', check: (m) => m.max(NATIVE, 'bytesLost') === 0 },
            },
          ];
        })(),
      ],
    },
    {
      n: 4,
      id: 'footprint',
      title: 'Footprint and scale',
      note: `require() in a fresh node process (hrtime and RSS around it; GC first). Then N monitors of \`sleep 1000\` (argv array), each N in a fresh process: time until every 'start', host RSS (after GC) and fds per monitor, time to stop them all. Reference: N plain \`child_process.spawn\` children with piped stdio.`,
      worker: 'footprint.js',
      cases: ['require', ...sizes.map((n) => `n${n}`)],
      impls: (k) => (k === 'require' ? [NATIVE, FM] : [NATIVE, FM, 'node-spawn']),
      rounds: quick ? 1 : 5,
      timeout: 300000,
      rows: [
        {
          case: 'require', key: 'requireMs', label: 'require() time', unit: 'ms', better: 'lower',
          goal: { text: '< 10 ms', check: (m) => m(NATIVE) < 10 },
        },
        {
          case: 'require', key: 'requireRssMB', label: 'require() RSS', unit: 'MB', better: 'lower',
          goal: { text: '< 3 MB', check: (m) => m(NATIVE) < 3 },
        },
        { case: 'require', key: 'firstStartMs', label: 'first new Monitor().start() call (loads the addon)', unit: 'ms', better: 'lower' },
        { case: 'require', key: 'firstUseRssMB', label: 'RSS added by the first monitor run', unit: 'MB', better: 'lower' },
        ...sizes.flatMap((n) => [
          { case: `n${n}`, key: 'startAllMs', label: `N=${n}: time to start all`, unit: 'ms', better: 'lower', ref: 'node-spawn' },
          { case: `n${n}`, key: 'rssPerMonitorKB', label: `N=${n}: host RSS per monitor`, unit: 'KB', better: 'lower', ref: 'node-spawn' },
          { case: `n${n}`, key: 'fdsPerMonitor', label: `N=${n}: host fds per monitor`, better: 'lower', ref: 'node-spawn' },
          { case: `n${n}`, key: 'stopAllMs', label: `N=${n}: time to stop all`, unit: 'ms', better: 'lower', ref: 'node-spawn' },
        ]),
        ...sizes.slice(1).map((n, i) => {
          const from = sizes[i];
          const isLast = i === sizes.length - 2;
          return {
            label: `RSS per extra monitor, N=${from} → ${n}`,
            unit: 'KB',
            better: 'lower',
            ref: 'node-spawn',
            derived: (m, impl) => {
              const mb = marginal(m, impl, 'rssAfterMB', from, n);
              return mb === null ? null : mb * 1024;
            },
            goal: isLast
              ? {
                text: 'below forever-monitor, and not growing with N (≤ 1.5× the first step)',
                check: (m) => {
                  const first = marginal(m, NATIVE, 'rssAfterMB', sizes[0], sizes[1]);
                  const last = marginal(m, NATIVE, 'rssAfterMB', from, n);
                  return last < marginal(m, FM, 'rssAfterMB', from, n) && last <= 1.5 * first;
                },
              }
              : undefined,
          };
        }),
        {
          label: `fds per extra monitor, N=${sizes[sizes.length - 2]} → ${sizes[sizes.length - 1]}`,
          better: 'lower',
          ref: 'node-spawn',
          derived: (m, impl) => marginal(m, impl, 'fdsAfter', sizes[sizes.length - 2], sizes[sizes.length - 1]),
          goal: {
            text: '≤ forever-monitor',
            check: (m) => {
              const [a, b] = sizes.slice(-2);
              return marginal(m, NATIVE, 'fdsAfter', a, b) <= marginal(m, FM, 'fdsAfter', a, b);
            },
          },
        },
      ],
    },
    {
      n: 5,
      id: 'ipc',
      title: 'IPC (fork: true)',
      note: `A child that echoes every message ({seq, body}). Ping-pong: one message in flight, ${quick ? '2,000' : '20,000'} round trips after a warm-up. Pipelined: ${quick ? '2,000' : '100,000'} messages sent at once, rate until the last echo. References: plain \`child_process.fork\` (Node's own IPC, which forever-monitor uses), and a parent that speaks the channel itself over a plain socket (JSON lines split in JS), which marks what this Node child allows: every round trip also pays the child's own IPC.`,
      worker: 'ipc.js',
      cases: ['pingpong', 'pipelined'],
      impls: () => [NATIVE, FM, 'node-fork', 'plain-socket'],
      rounds: quick ? 1 : 5,
      timeout: 180000,
      rows: [
        {
          case: 'pingpong', key: 'perSec', label: 'ping-pong round trips', unit: '/s', better: 'higher', ref: 'plain-socket',
          goal: { text: '≥ 1.2× forever-monitor (Node IPC)', check: (m) => m(NATIVE) >= 1.2 * m(FM) },
        },
        { case: 'pingpong', key: 'hostCpuUs', label: "host CPU per ping-pong round trip (all the host's threads)", unit: 'µs', better: 'lower', ref: 'plain-socket' },
        {
          case: 'pipelined', key: 'perSec', label: 'pipelined messages (echoed)', unit: '/s', better: 'higher', ref: 'node-fork',
          goal: { text: '≥ 1× forever-monitor', check: (m) => m(NATIVE) >= m(FM) },
        },
        { case: 'pipelined', key: 'sendUs', label: 'JS thread time per send() call (pipelined loop)', unit: 'µs', better: 'lower', ref: 'node-fork' },
        { case: 'pipelined', key: 'hostCpuUs', label: "host CPU per pipelined message (all the host's threads)", unit: 'µs', better: 'lower', ref: 'plain-socket' },
      ],
    },
    {
      n: 6,
      id: 'watch',
      title: 'Watch',
      note: `A file in the watched directory is rewritten; gap = the write to the new child's start stamp, median of ${quick ? 1 : 5} changes per run, default settings (forever-native restarts on a burst's first change, its child starting 10 ms after it; forever-monitor restarts on every chokidar event), and forever-native again with \`watchDebounce: 0\`.`,
      worker: 'watch.js',
      cases: ['default', 'debounce0'],
      impls: (k) => (k === 'default' ? [NATIVE, FM] : [NATIVE]),
      rounds: quick ? 1 : 3,
      timeout: 90000,
      rows: [
        { case: 'default', key: 'gapMs', label: 'file change → new child (defaults)', unit: 'ms', better: 'lower' },
        { case: 'debounce0', key: 'gapMs', label: 'file change → new child, forever-native with watchDebounce: 0', unit: 'ms' },
      ],
    },
    {
      n: 7,
      id: 'stop',
      title: 'Stop with killTree',
      note: `A \`sh\` child with three \`sleep\` grandchildren (one moved to its own session with setsid); stop() with killTree and the default SIGKILL; median of ${quick ? 2 : 10} stops per run. Alive at 'stop' / survivors are summed over all stops of all rounds (4 processes per stop). Limit: node kills the known group and pid itself.`,
      worker: 'stop.js',
      cases: ['default'],
      impls: () => [NATIVE, FM, 'limit'],
      rounds: quick ? 1 : 5,
      timeout: 90000,
      rows: [
        { case: 'default', key: 'stopMs', label: "stop() → 'stop'", unit: 'ms', better: 'lower', ref: 'limit' },
        { case: 'default', key: 'aliveAtStop', label: "tree processes not yet dead at 'stop' (signalled, not exited)", kind: 'sum', ref: 'limit' },
        {
          case: 'default', key: 'survivors', label: 'tree processes surviving the stop (orphans)', kind: 'sum', ref: 'limit',
          goal: { text: '0 (README: nothing is orphaned)', check: (m) => m.sum(NATIVE, 'survivors') === 0 },
        },
      ],
    },
  ];
}

const REF_LABEL = { limit: 'machine limit', 'node-fork': 'plain fork()', 'node-spawn': 'plain spawn()', 'plain-socket': 'plain socket parent' };

// ---- process hygiene -----------------------------------------------------------------

const TAG = `fnbench-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
let current = null; // the running worker
let tmpRoot = null; // this run's temporary directory

/** Pids of processes (other than ours) whose environment carries this run's tag. */
function tagged() {
  const out = [];
  const needle = Buffer.from(`FOREVER_BENCH_TAG=${TAG}\0`);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (!fs.readFileSync(`/proc/${name}/environ`).includes(needle)) continue;
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      if (state !== 'Z') out.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * After a worker has exited: whatever it started must be gone too. Processes still
 * running 2 s later (the time forever-native's guardian may take) are killed and returned.
 */
async function sweep() {
  const deadline = Date.now() + 2000;
  let left = tagged();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = tagged();
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  return left;
}

function killCurrent() {
  if (current && current.exitCode === null && current.signalCode === null) {
    try {
      process.kill(-current.pid, 'SIGKILL');
    } catch {}
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killCurrent();
    for (const p of tagged()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
    process.stderr.write(`\nbench: interrupted by ${sig}; every process it started has been killed\n`);
    process.exit(130);
  });
}

// ---- running one worker --------------------------------------------------------------

class RunError extends Error {}

function runWorker(scenario, kase, impl, { quick, tmp }) {
  const args = ['--expose-gc', path.join(BENCH, 'workers', scenario.worker), '--impl', impl, '--case', kase];
  if (quick) args.push('--quick');
  const what = `scenario ${scenario.n} ${scenario.id}, case ${kase}, impl ${impl}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so a timeout can take everything down
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FOREVER_BENCH_TAG: TAG, FOREVER_BENCH_TMP: tmp },
    });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const limit = quick ? Math.min(scenario.timeout, 45000) : scenario.timeout;
    const timer = setTimeout(() => {
      timedOut = true;
      killCurrent();
    }, limit);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new RunError(`${what}: could not start the worker: ${err.message}`));
    });
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      current = null;
      const leftovers = await sweep();
      const tail = (s) => s.trim().split('\n').slice(-25).join('\n');
      if (timedOut) {
        reject(new RunError(`${what}: timed out after ${limit / 1000} s\n--- stderr ---\n${tail(stderr)}`));
        return;
      }
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('{"bench":'));
      if (code !== 0 || !line) {
        reject(new RunError(`${what}: the worker failed (exit code ${code}${signal ? `, signal ${signal}` : ''})\n--- stderr ---\n${tail(stderr)}\n--- stdout ---\n${tail(stdout)}`));
        return;
      }
      let result;
      try {
        result = JSON.parse(line);
      } catch (err) {
        reject(new RunError(`${what}: unreadable result line ${line}`));
        return;
      }
      if (leftovers.length) result.sweptLeftovers = leftovers.map((p) => `${p.comm}(${p.pid})`);
      resolve({ result, stderr });
    });
  });
}

// ---- the table -----------------------------------------------------------------------

function buildAccess(results) {
  const values = (kase, impl, key) => results.filter((r) => r.case === kase && r.impl === impl).map((r) => r[key]);
  const m = {};
  m.in = (kase, impl, key) => {
    const v = values(kase, impl, key);
    if (v.length && v.every((x) => typeof x === 'boolean')) return v.filter(Boolean).length;
    return med(v);
  };
  m.values = values;
  return m;
}

function rowCells(scenario, row, rawResults) {
  // A row may fill forever-native's column from a variant (e.g. native-direct).
  const results = row.nativeImpl
    ? rawResults.filter((r) => r.impl !== NATIVE).map((r) => (r.impl === row.nativeImpl ? { ...r, impl: NATIVE } : r))
    : rawResults;
  const acc = buildAccess(results);
  const impls = [NATIVE, FM, row.ref].filter(Boolean);
  const nativeSkipped = results.find((r) => r.impl === NATIVE && r.skipped);
  const cell = {};
  let medians = {};

  if (row.derived) {
    for (const impl of impls) medians[impl] = row.derived(acc, impl);
    for (const impl of impls) cell[impl] = fmt(medians[impl], row.unit);
  } else if (row.kind === 'series') {
    for (const impl of [NATIVE, FM]) {
      cell[impl] = row.keys.map((k) => fmt(acc.in(row.case, impl, k) === null ? null : Number(acc.in(row.case, impl, k).toFixed(row.digits || 0)))).join(' → ');
    }
  } else if (row.kind === 'count') {
    for (const impl of impls) {
      const v = acc.values(row.case, impl, row.key).filter((x) => x !== undefined);
      cell[impl] = v.length ? `${v.filter(Boolean).length} of ${v.length} runs` : '—';
    }
  } else if (row.kind === 'sum' || row.kind === 'max') {
    for (const impl of impls) {
      const v = acc.values(row.case, impl, row.key).filter((x) => typeof x === 'number');
      medians[impl] = v.length ? (row.kind === 'sum' ? v.reduce((a, b) => a + b, 0) : Math.max(...v)) : null;
      cell[impl] = fmt(medians[impl], row.unit);
    }
  } else if (row.kind === 'crashes') {
    for (const impl of [NATIVE, FM]) {
      const rs = results.filter((r) => r.case === row.case && r.impl === impl);
      const crashes = rs.reduce((n, r) => n + (r.crashes || 0), 0);
      const attempts = rs.reduce((n, r) => n + (r.attempts || 0), 0);
      const allFailed = rs.filter((r) => r.crashed).length;
      cell[impl] = rs.length ? `${crashes} / ${attempts}${allFailed ? ` (${allFailed} run(s) crashed every attempt)` : ''}` : '—';
    }
  } else {
    for (const impl of impls) {
      medians[impl] = acc.in(row.case, impl, row.key);
      cell[impl] = fmt(medians[impl], row.unit);
    }
  }
  if (nativeSkipped && (!row.case || row.case === nativeSkipped.case)) cell[NATIVE] = 'skipped';

  let ratio = null;
  const a = medians[NATIVE];
  const b = medians[FM];
  if (row.better && typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0) ratio = row.better === 'lower' ? b / a : a / b;

  let status = '';
  if (row.goal) {
    if (nativeSkipped) status = 'skipped';
    else {
      const m = (impl, key = row.key) => (row.derived ? medians[impl] : acc.in(row.case, impl, key));
      m.in = acc.in;
      m.sum = (impl, key) => acc.values(row.case, impl, key).reduce((s, x) => s + (x || 0), 0);
      m.max = (impl, key) => Math.max(...acc.values(row.case, impl, key).map((x) => x || 0));
      let met;
      try {
        met = row.goal.check(m);
      } catch {
        met = null;
      }
      status = met === true ? 'met' : met === false ? 'MISSED' : 'n/a';
    }
  }
  return {
    label: row.label,
    native: cell[NATIVE] || '—',
    fm: cell[FM] || '—',
    ratio: ratioText(ratio),
    ref: row.ref ? `${cell[row.ref] || '—'} (${REF_LABEL[row.ref]})` : '',
    goal: row.goal ? row.goal.text : '',
    status,
  };
}

function table(done) {
  const lines = [
    '| # | figure | forever-native | forever-monitor | native advantage | limit / reference | goal | status |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const goals = [];
  for (const { scenario, results } of done) {
    for (const row of scenario.rows) {
      const c = rowCells(scenario, row, results);
      lines.push(`| ${scenario.n} | ${c.label} | ${c.native} | ${c.fm} | ${c.ratio} | ${c.ref} | ${c.goal} | ${c.status} |`);
      if (row.goal) goals.push({ n: scenario.n, label: c.label, goal: c.goal, status: c.status, native: c.native, fm: c.fm });
    }
  }
  return { text: lines.join('\n'), goals };
}

function findings(done) {
  const out = [];
  for (const { scenario, results } of done) {
    for (const r of results) {
      if (r.crashes) {
        const lost = (r.lostInCrashes || []).map((b) => fmt(b)).join(', ');
        out.push(`scenario ${scenario.n} (${r.case}, round ${r.round}): forever-monitor crashed its host ${r.crashes} time(s) in ${r.attempts} attempt(s) with ${r.crashMessages[0] || 'ERR_STREAM_DESTROYED'}${lost ? ` (bytes missing from the file at the crash: ${lost})` : ''}${r.crashed ? ' — every attempt of this run crashed' : ''}`);
      }
      if (r.skipped) out.push(`scenario ${scenario.n}: ${r.impl === NATIVE ? 'forever-native' : r.impl} skipped: ${r.reason}`);
      if (r.leftovers) out.push(`scenario ${scenario.n} (${r.case}, ${r.impl}): the worker had to kill ${r.leftovers} leftover descendant(s)`);
      if (r.sweptLeftovers) out.push(`scenario ${scenario.n} (${r.case}, ${r.impl}): ${r.sweptLeftovers.length} process(es) outlived the worker and were killed: ${r.sweptLeftovers.join(', ')}`);
      if (r.forcedExit) out.push(`scenario ${scenario.n} (${r.case}, ${r.impl}): the host did not exit by itself after 'exit' (forced after 10 s)`);
    }
  }
  return [...new Set(out)];
}

function summaryLine(scenario, results) {
  const first = scenario.rows.find((r) => (r.key || r.derived) && r.better) || scenario.rows[0];
  const c = rowCells(scenario, first, results);
  const goalRows = scenario.rows.filter((r) => r.goal).map((r) => rowCells(scenario, r, results).status);
  const goalsText = goalRows.length ? `; goals: ${goalRows.filter((s) => s === 'met').length}/${goalRows.length} met` : '';
  return `scenario ${scenario.n} ${scenario.id}: ok (${results.length} runs) — ${c.label}: forever-native ${c.native}, forever-monitor ${c.fm}, advantage ${c.ratio}${goalsText}`;
}

// ---- machine -------------------------------------------------------------------------

/** Whether the addon is a release build: stripped (no .symtab, no .debug_* sections). */
function addonBuild() {
  let buf;
  try {
    buf = fs.readFileSync(ADDON);
  } catch (err) {
    return { kind: 'missing', text: `missing (${err.code}): run npm run build` };
  }
  const size = `${(buf.length / (1024 * 1024)).toFixed(1)} MB`;
  try {
    const shoff = Number(buf.readBigUInt64LE(0x28));
    const shentsize = buf.readUInt16LE(0x3a);
    const shnum = buf.readUInt16LE(0x3c);
    const shstrndx = buf.readUInt16LE(0x3e);
    const strOff = Number(buf.readBigUInt64LE(shoff + shstrndx * shentsize + 0x18));
    const names = [];
    for (let i = 0; i < shnum; i++) {
      const nameOff = buf.readUInt32LE(shoff + i * shentsize);
      const end = buf.indexOf(0, strOff + nameOff);
      names.push(buf.toString('latin1', strOff + nameOff, end));
    }
    const debug = names.some((n) => n === '.symtab' || n.startsWith('.debug_'));
    return { kind: debug ? 'debug' : 'release', text: `${debug ? 'NOT STRIPPED — looks like a debug build' : 'release (stripped)'}, ${size}`, mtime: fs.statSync(ADDON).mtimeMs };
  } catch {
    return { kind: 'unknown', text: `unreadable ELF, ${size}` };
  }
}

function machine(addon) {
  const cpus = os.cpus();
  return [
    `- Machine: ${cpus.length} × ${cpus[0] ? cpus[0].model.trim() : 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB RAM, Linux ${os.release()}`,
    `- Node.js ${process.version}; forever-monitor ${require('forever-monitor/package.json').version}; forever-native ${require('../package.json').version}`,
    `- Addon: ${addon.text}`,
    `- Load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`,
  ];
}

// ---- main ----------------------------------------------------------------------------

async function main() {
  const opts = parseArgv(process.argv.slice(2));
  const all = scenarios(opts.quick);
  let chosen = all;
  if (opts.only) {
    chosen = all.filter((s) => opts.only.includes(String(s.n)) || opts.only.includes(s.id));
    const unknown = opts.only.filter((o) => !all.some((s) => String(s.n) === o || s.id === o));
    if (unknown.length) throw new RunError(`--only: unknown scenario(s) ${unknown.join(', ')}; choose from ${all.map((s) => `${s.n}=${s.id}`).join(', ')}`);
  }

  const addon = addonBuild();
  if (addon.kind === 'missing') throw new RunError(`the addon is ${addon.text}`);
  if (!opts.quick && addon.kind !== 'release' && !opts.allowDebug) {
    throw new RunError(`the addon ${path.basename(ADDON)} is ${addon.text}. Benchmarks need the release build: run \`npm run build\` first (or pass --allow-debug).`);
  }

  const started = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fnbench-'));
  tmpRoot = tmp;
  const head = machine(addon);
  process.stdout.write(`forever-native bench${opts.quick ? ' (--quick)' : ''}\n${head.join('\n')}\n\n`);

  const done = [];
  const failures = [];
  const rebuilds = []; // the addon changing under the run, scenario by scenario
  let seenAddon = addon.mtime;
  try {
    for (const scenario of chosen) {
      const now = addonBuild();
      if (now.mtime !== seenAddon) {
        rebuilds.push(`the addon file was rebuilt (by someone else?) before scenario ${scenario.n} ${scenario.id} started: now ${now.text}`);
        seenAddon = now.mtime;
      }
      const rounds = opts.rounds || scenario.rounds;
      const results = [];
      try {
        for (let round = 1; round <= rounds; round++) {
          for (const kase of scenario.cases) {
            const impls = scenario.impls(kase);
            // Alternate which implementation goes first, round by round.
            const order = round % 2 || impls.length < 2 ? impls : [impls[1], impls[0], ...impls.slice(2)];
            for (const impl of order) {
              const t0 = Date.now();
              const { result, stderr } = await runWorker(scenario, kase, impl, { quick: opts.quick, tmp });
              result.round = round;
              results.push(result);
              const shown = Object.entries(result)
                .filter(([k, v]) => !['bench', 'impl', 'case', 'round', 'crashMessages'].includes(k) && (typeof v !== 'object' || v === null))
                .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`)
                .join(' ');
              process.stderr.write(`  [${scenario.n} ${scenario.id} ${round}/${rounds}] ${kase} ${impl}: ${shown} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
              if (stderr.trim() && result.crashes) process.stderr.write(stderr.replace(/^/gm, '    '));
            }
          }
        }
        done.push({ scenario, results });
        process.stdout.write(summaryLine(scenario, results) + '\n');
      } catch (err) {
        if (!(err instanceof RunError)) throw err;
        failures.push(err.message);
        process.stdout.write(`scenario ${scenario.n} ${scenario.id}: FAILED — ${err.message.split('\n')[0]}\n`);
        process.stderr.write(`\n${err.message}\n\n`);
      }
    }
  } finally {
    killCurrent();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const after = addonBuild();
  if (after.mtime !== seenAddon) rebuilds.push(`the addon file was rebuilt (by someone else?) during the last scenario: now ${after.text}`);
  const addonChanged = rebuilds.length > 0;
  const { text, goals } = table(done);
  const notes = findings(done);
  notes.push(...rebuilds);
  if (done.length) process.stdout.write(`\n${text}\n`);
  process.stdout.write(`\nOther work on the machine during the run: ${(foreignShare() * 100).toFixed(1)}% of its CPU capacity\n`);
  if (notes.length) process.stdout.write(`\nFindings:\n${notes.map((n) => `- ${n}`).join('\n')}\n`);

  if (failures.length) {
    process.stdout.write(`\nbench FAILED: ${failures.length} scenario(s) did not complete:\n${failures.map((f) => `- ${f.split('\n')[0]}`).join('\n')}\n`);
    process.exitCode = 1;
    return;
  }

  if (!opts.quick && !opts.only) {
    const md = resultsMarkdown({ started, head, text, goals, notes, done, addonChanged });
    fs.writeFileSync(path.join(BENCH, 'RESULTS.md'), md);
    process.stdout.write(`\nwrote ${path.relative(process.cwd(), path.join(BENCH, 'RESULTS.md'))}\n`);
  }
}

/**
 * CPU ticks of the whole machine ({ busy, all }) and of this run (the orchestrator plus
 * every worker it has reaped, with their reaped descendants: utime+stime+cutime+cstime).
 */
function cpuTicks() {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const all = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] || 0);
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const own = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number).reduce((a, b) => a + b, 0);
  return { busy: all - idle, all, own };
}
const startTicks = cpuTicks();

/** The share of the machine's CPU capacity that other work used during the run. */
function foreignShare() {
  const end = cpuTicks();
  const all = end.all - startTicks.all;
  if (all <= 0) return 0;
  return Math.max(0, end.busy - startTicks.busy - (end.own - startTicks.own)) / all;
}

function resultsMarkdown({ started, head, text, goals, notes, done, addonChanged }) {
  const mins = ((Date.now() - started.getTime()) / 60000).toFixed(1);
  const out = [];
  out.push('# Bench results', '');
  out.push(`Generated by \`npm run bench\` (\`node bench/run.js\`) on ${started.toISOString()} (${mins} min). See [README.md](README.md) for what each figure means.`, '');
  const foreign = foreignShare();
  out.push(
    ...head,
    `- Load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')} (the bench's own processes count too)`,
    `- Other work on the machine during the run: ${(foreign * 100).toFixed(1)}% of its CPU capacity (all CPU time used, less this run's own and its workers'; kernel threads working for the run count as other work)`,
    '',
  );
  out.push(
    'Each run is a fresh `node` process per scenario, case and implementation; forever-native and forever-monitor alternate (which goes first flips every round). Figures are medians over the rounds (per-run values are in the appendix). "Native advantage" is how many times better forever-native is (forever-monitor ÷ forever-native for times and costs, forever-native ÷ forever-monitor for rates): above 1× forever-native is better, below 1× it is worse.',
    '',
  );
  if (addonChanged) out.push('**Warning:** the addon file changed while the bench ran (each worker loads it afresh), so later scenarios used a newer build; see Findings for when.', '');
  if (foreign > 0.1) {
    out.push(`**Noise:** other work used ${(foreign * 100).toFixed(0)}% of the machine's CPU capacity during this run. Expect noise, mostly in the rates, the IPC figures and the N=500 times; the ratios come from runs interleaved side by side, so they are less affected than the absolute numbers.`, '');
  }
  out.push('## Results', '', text, '');
  out.push('## Goals', '');
  for (const g of goals) out.push(`- **${g.status}** — scenario ${g.n}, ${g.label}: goal ${g.goal}; forever-native ${g.native}, forever-monitor ${g.fm}.`);
  out.push('');
  if (notes.length) out.push('## Findings', '', ...notes.map((n) => `- ${n}`), '');
  out.push('## Scenarios', '');
  for (const { scenario } of done) out.push(`${scenario.n}. **${scenario.title}.** ${scenario.note}`);
  out.push('', '## Appendix: every run', '');
  for (const { scenario, results } of done) {
    out.push(`<details><summary>${scenario.n}. ${scenario.id}</summary>`, '', '```');
    for (const r of results) {
      const { bench, ...rest } = r;
      out.push(JSON.stringify(rest, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v)));
    }
    out.push('```', '', '</details>', '');
  }
  return out.join('\n');
}

main().catch((err) => {
  killCurrent();
  process.stderr.write(`\nbench: ${err instanceof RunError ? err.message : err.stack}\n`);
  process.stdout.write(`bench FAILED: ${err.message.split('\n')[0]}\n`);
  process.exitCode = 1;
});
