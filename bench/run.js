#!/usr/bin/env node
'use strict';
// The bench harness: runs each scenario's worker for forever-native and forever-monitor
// (and PM2 with --peers pm2) in turn, rotating which goes first every round (and the
// machine's limit or a plain-Node reference where there is one),
// several rounds, each run in a fresh node process; prints medians and ratios and, for a
// full run of every scenario, writes bench/RESULTS.md.
//
//   node bench/run.js                 full run (release addon required), writes RESULTS.md
//   node bench/run.js --quick         smoke check: one round, small sizes, < 1 minute
//   node bench/run.js --only 1,ipc    some scenarios only (by number or id); prints only
//   node bench/run.js --rounds 3      rounds per scenario (default: per scenario)
//   node bench/run.js --allow-debug   run a full bench on a debug addon anyway
//   node bench/run.js --peers pm2     add PM2 as a peer where it fits (installs it first)
//
// Exit status: 0 when every run succeeded (forever-monitor's known ERR_STREAM_DESTROYED
// crash in scenario 3 is a finding, not a failure); 1 with a clear message otherwise.
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');

const PM2_LIB = require('./lib/pm2');

const BENCH = __dirname;
const ROOT = path.resolve(BENCH, '..');
const ADDON = path.join(ROOT, 'forever-native.linux-x64-gnu.node');
const NATIVE = 'native';
const FM = 'forever-monitor';
const PM2 = 'pm2';
const KNOWN_PEERS = [PM2];
/** Implementations compared with each other (the rest are references: limit, node-fork, …). */
const PEERS = [
  NATIVE,
  'native-direct',
  'native-rotate',
  'native-listen',
  'native-reuseport',
  FM,
  PM2,
];
/** A row's rounds vary "a lot" past this spread: (max − min) ÷ median. */
const NOISY = 0.2;

// ---- options -------------------------------------------------------------------------

function parseArgv(argv) {
  const opts = { quick: false, only: null, rounds: null, allowDebug: false, peers: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--allow-debug') opts.allowDebug = true;
    else if (a === '--only')
      opts.only = String(argv[++i] || '')
        .split(',')
        .filter(Boolean);
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--peers')
      opts.peers = String(argv[++i] || '')
        .split(',')
        .filter(Boolean);
    else if (a.startsWith('--peers=')) opts.peers = a.slice(8).split(',').filter(Boolean);
    else if (a === '--rounds') opts.rounds = Number(argv[++i]);
    else if (a.startsWith('--rounds=')) opts.rounds = Number(a.slice(9));
    else if (a === '--help' || a === '-h') {
      const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
      const header = lines.slice(
        0,
        lines.findIndex((l) => !l.startsWith('//')),
      );
      process.stdout.write(header.join('\n').replace(/^\/\/ ?/gm, '') + '\n');
      process.exit(0);
    } else throw new RunError(`unknown argument ${JSON.stringify(a)} (try --help)`);
  }
  if (opts.only && opts.only.length === 0)
    throw new RunError('--only needs a scenario: a number 1-7 or an id such as ipc');
  if (opts.rounds !== null && !(Number.isInteger(opts.rounds) && opts.rounds > 0))
    throw new RunError('--rounds needs a whole number > 0');
  const unknownPeers = opts.peers.filter((p) => !KNOWN_PEERS.includes(p));
  if (unknownPeers.length)
    throw new RunError(
      `--peers: unknown peer(s) ${unknownPeers.join(', ')}; known: ${KNOWN_PEERS.join(', ')}`,
    );
  return opts;
}

// ---- formatting ----------------------------------------------------------------------

function num(v, digits) {
  return v.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v === 'string') return v;
  const a = Math.abs(v);
  const digits = a === 0 || Number.isInteger(v) ? 0 : a < 10 ? 2 : a < 100 ? 1 : 0;
  const u = unit ? ` ${unit}` : '';
  return `${num(v, digits)}${u}`;
}
const ratioText = (r) =>
  r === null || !Number.isFinite(r) ? '—' : `${r >= 10 ? num(r, 0) : num(r, 2)}×`;

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
  const sizes = quick ? [1, 10, 50, 100] : [1, 10, 50, 100, 500];
  const scale = quick ? [1, 100] : [1, 10, 100, 1000];
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
          case: 'default',
          key: 'gapMs',
          label: `crash → new child gap, host blocked ${quick ? 1 : 3} s`,
          unit: 'ms',
          better: 'lower',
          ref: 'limit',
          goal: { text: '< 50 ms', check: (m) => m(NATIVE) < 50 },
        },
        {
          case: 'default',
          key: 'restartedWhileBlocked',
          label: 'new child started while the host was still blocked',
          kind: 'count',
        },
      ],
    },
    {
      n: 2,
      id: 'crash-loop',
      title: 'Restart gap (idle host) and crash-loop rate',
      note: `${quick ? 100 : '1,000'} restarts of \`sh -c 'exit 1'\` with minUptime: 0 (rate; its CPU is the supervisor's over the first batch), then as many again (growth per restart); gap: ${quick ? 20 : 100} restarts of a bash child stamping its start and exit; delay: ${quick ? 5 : 20} restarts each asked to wait 200 ms (forever-native: \`restartDelay: 200\`; forever-monitor, which has no such option: \`minUptime: 60000, spinSleepTime: 200\`), the error being the measured exit-to-start gap less 200 ms. Host resources are read after a GC; "before" is after a 10-restart warm-up. Limit: a shell loop spawning the same child.`,
      worker: 'crash-loop.js',
      cases: ['rate', 'gap', 'delay'],
      impls: (k) => (k === 'delay' ? [NATIVE, FM] : [NATIVE, FM, 'limit']),
      pm2Cases: ['rate', 'gap', 'delay'],
      pm2Note:
        "PM2: the same children as PM2 apps (restart_delay: 200 for delay); PM2 has no `max`, so the worker counts the app's 'exit' events on PM2's bus; CPU is its daemon's.",
      rounds: quick ? 1 : 5,
      timeout: 120000,
      rows: [
        {
          case: 'rate',
          key: 'restartsPerSec',
          label: 'crash-loop rate',
          unit: '/s',
          better: 'higher',
          ref: 'limit',
          goal: { text: '≥ 2× forever-monitor', check: (m) => m(NATIVE) >= 2 * m(FM) },
        },
        {
          case: 'rate',
          key: 'cpuPerRestartUs',
          label:
            "supervisor CPU per restart (the host's threads and forever-native's guardian; PM2: its daemon)",
          unit: 'µs',
          better: 'lower',
        },
        {
          case: 'gap',
          key: 'gapMs',
          label: 'restart gap (exit stamp → next start stamp), median',
          unit: 'ms',
          better: 'lower',
          ref: 'limit',
        },
        {
          case: 'gap',
          key: 'gapMaxMs',
          label: 'restart gap, worst of a run',
          unit: 'ms',
          better: 'lower',
          ref: 'limit',
        },
        {
          case: 'delay',
          key: 'errorMs',
          label: 'a 200 ms restart delay: gap less 200 ms, median',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'delay',
          key: 'errorMaxMs',
          label: 'a 200 ms restart delay: gap less 200 ms, worst of a run',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'rate',
          label: 'host fds: before → after → after 2nd batch (PM2: its daemon)',
          kind: 'series',
          keys: ['fdsBefore', 'fdsAfter', 'fdsAfter2'],
          pm2Keys: ['daemonFdsBefore', 'daemonFdsAfter', 'daemonFdsAfter2'],
          goal: {
            text: 'no growth',
            check: (m) => m(NATIVE, 'fdsAfter2') <= m(NATIVE, 'fdsBefore'),
          },
        },
        {
          case: 'rate',
          label:
            'host RSS MB: before → after → after 2nd batch (PM2: its daemon, without a forced GC)',
          kind: 'series',
          keys: ['rssBeforeMB', 'rssAfterMB', 'rssAfter2MB'],
          pm2Keys: ['daemonRssBeforeMB', 'daemonRssAfterMB', 'daemonRssAfter2MB'],
          digits: 1,
          goal: {
            text: 'no growth per restart (2nd batch < 1 MB)',
            check: (m) => m(NATIVE, 'rssAfter2MB') - m(NATIVE, 'rssAfterMB') < 1,
          },
        },
        {
          case: 'rate',
          label: 'zombie children: before → after → after 2nd batch',
          kind: 'series',
          keys: ['zombiesBefore', 'zombiesAfter', 'zombiesAfter2'],
          goal: {
            text: 'none',
            check: (m) => m(NATIVE, 'zombiesAfter') === 0 && m(NATIVE, 'zombiesAfter2') === 0,
          },
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
      impls: (k) =>
        k === 'outFile'
          ? [NATIVE, 'native-direct', 'native-rotate', FM, 'limit']
          : [NATIVE, FM, 'limit'],
      pm2Cases: ['outFile'],
      pm2Note:
        'PM2: the same child as an app with `out_file`; its daemon writes the file. Wall = pm2.start() until the file holds every byte; CPU = the daemon\'s over that time (only the "from start()" row: PM2 has no host that require()s anything).',
      rounds: quick ? 1 : 5,
      timeout: 400000,
      rows: [
        ...['outFile', 'stdout'].flatMap((k) => {
          const where = k === 'outFile' ? 'outFile' : 'host stdout (silent: false)';
          return [
            {
              case: k,
              key: 'wallMs',
              label: `${where}: wall`,
              unit: 'ms',
              better: 'lower',
              ref: 'limit',
              ...(k === 'outFile'
                ? {
                    goal: { text: '≤ 1.3× the limit', check: (m) => m(NATIVE) <= 1.3 * m('limit') },
                  }
                : {}),
            },
            { case: k, key: 'cpuMs', label: `${where}: host CPU`, unit: 'ms', better: 'lower' },
            ...(k === 'outFile'
              ? [
                  {
                    case: k,
                    key: 'runCpuMs',
                    label: `${where}: supervisor CPU from start() (PM2: its daemon)`,
                    unit: 'ms',
                    better: 'lower',
                  },
                ]
              : []),
            {
              case: k,
              key: 'bytesLost',
              label: `${where}: bytes lost (worst run)`,
              kind: 'max',
              ref: 'limit',
              goal: {
                text: '0 (README: no output is lost)',
                check: (m) => m.max(NATIVE, 'bytesLost') === 0,
              },
            },
            {
              case: k,
              key: 'crashes',
              label: `${where}: host crashes (ERR_STREAM_DESTROYED) / attempts`,
              kind: 'crashes',
            },
          ];
        }),
        // The same run with logDirect: the child writes outFile itself (forever-native's column).
        {
          case: 'outFile',
          nativeImpl: 'native-direct',
          key: 'wallMs',
          label: 'outFile, forever-native with logDirect: wall',
          unit: 'ms',
          better: 'lower',
          ref: 'limit',
        },
        {
          case: 'outFile',
          nativeImpl: 'native-direct',
          key: 'cpuMs',
          label: 'outFile, forever-native with logDirect: host CPU',
          unit: 'ms',
          better: 'lower',
          goal: { text: '≤ 0.1× forever-monitor', check: (m) => m(NATIVE) <= 0.1 * m(FM) },
        },
        {
          case: 'outFile',
          nativeImpl: 'native-direct',
          key: 'bytesLost',
          label: 'outFile, forever-native with logDirect: bytes lost (worst run)',
          kind: 'max',
          goal: {
            text: '0 (README: no output is lost)',
            check: (m) => m.max(NATIVE, 'bytesLost') === 0,
          },
        },
        // The same run with rotation every tenth of the output (logMaxSize within logRotate: 'daily')
        // and logCompress: the writer's throughput, then the background thread's.
        ...(() => {
          const what = `outFile rotated every ${mb / 10} MB (logRotate, logMaxSize, logCompress)`;
          return [
            {
              case: 'outFile',
              nativeImpl: 'native-rotate',
              key: 'startToExitMs',
              label: `${what}: start() → 'exit'`,
              unit: 'ms',
              better: 'lower',
            },
            {
              case: 'outFile',
              nativeImpl: 'native-rotate',
              key: 'compressedMs',
              label: `${what}: start() → every rotated file gzipped`,
              unit: 'ms',
            },
            {
              case: 'outFile',
              nativeImpl: 'native-rotate',
              key: 'cpuMs',
              label: `${what}: host CPU, gzip included`,
              unit: 'ms',
              better: 'lower',
            },
            {
              case: 'outFile',
              nativeImpl: 'native-rotate',
              key: 'bytesLost',
              label: `${what}: bytes lost (worst run)`,
              kind: 'max',
              goal: {
                text: '0 (README: no output is lost)',
                check: (m) => m.max(NATIVE, 'bytesLost') === 0,
              },
            },
          ];
        })(),
      ],
    },
    {
      n: 4,
      id: 'footprint',
      title: 'Footprint and scale',
      note: `require() in a fresh node process (hrtime and RSS around it; GC first). Start latency: ${quick ? 2 : 10} runs of a bash child that stamps its start, one at a time after a warm-up run: just before start() to the child's stamp. Then N monitors of \`sleep 1000\` (argv array), each N in a fresh process: time until every 'start', host RSS (after GC) and fds per monitor, time to stop them all. Reference: N plain \`child_process.spawn\` children with piped stdio.`,
      worker: 'footprint.js',
      cases: ['require', 'start', ...sizes.map((n) => `n${n}`)],
      impls: (k) => (k === 'require' || k === 'start' ? [NATIVE, FM] : [NATIVE, FM, 'node-spawn']),
      pm2Cases: ['require', 'start', 'n1', 'n10', 'n50'],
      pm2Note:
        "PM2: require('pm2') in a fresh process and its daemon's start (connect()); N = 1, 10, 50 apps in one daemon, RSS and fds being the daemon's (read from /proc, without a forced GC); start all = pm2.start() of the N apps until PM2 has launched them; stop all = pm2.delete('all') until every child is gone. Start latency: pm2.start() to the child's stamp.",
      rounds: quick ? 1 : 5,
      timeout: 300000,
      rows: [
        {
          case: 'require',
          key: 'requireMs',
          label: 'require() time',
          unit: 'ms',
          better: 'lower',
          goal: { text: '< 10 ms', check: (m) => m(NATIVE) < 10 },
        },
        {
          case: 'require',
          key: 'requireRssMB',
          label: 'require() RSS',
          unit: 'MB',
          better: 'lower',
          goal: { text: '< 3 MB', check: (m) => m(NATIVE) < 3 },
        },
        {
          case: 'require',
          key: 'firstStartMs',
          label: 'first new Monitor().start() call (loads the addon)',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'require',
          key: 'firstUseRssMB',
          label: 'RSS added by the first monitor run',
          unit: 'MB',
          better: 'lower',
        },
        {
          case: 'require',
          key: 'daemonBootMs',
          label: "PM2's daemon start (connect() with no daemon running)",
          unit: 'ms',
          pm2Only: true,
        },
        {
          case: 'start',
          key: 'startMs',
          label: `start latency: start() → the child's own start stamp, median of ${quick ? 2 : 10}`,
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'start',
          key: 'startMaxMs',
          label: 'start latency, worst of a run',
          unit: 'ms',
          better: 'lower',
        },
        ...sizes.flatMap((n) => [
          {
            case: `n${n}`,
            key: 'startAllMs',
            label: `N=${n}: time to start all`,
            unit: 'ms',
            better: 'lower',
            ref: 'node-spawn',
          },
          {
            case: `n${n}`,
            key: 'rssPerMonitorKB',
            label: `N=${n}: host RSS per monitor`,
            unit: 'KB',
            better: 'lower',
            ref: 'node-spawn',
          },
          {
            case: `n${n}`,
            key: 'fdsPerMonitor',
            label: `N=${n}: host fds per monitor`,
            better: 'lower',
            ref: 'node-spawn',
          },
          {
            case: `n${n}`,
            key: 'stopAllMs',
            label: `N=${n}: time to stop all`,
            unit: 'ms',
            better: 'lower',
            ref: 'node-spawn',
          },
          {
            case: `n${n}`,
            key: 'rssAfterMB',
            label: `N=${n}: supervisor process RSS, all running (the host node process; PM2: its daemon)`,
            unit: 'MB',
            better: 'lower',
            ref: 'node-spawn',
          },
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
          derived: (m, impl) =>
            marginal(m, impl, 'fdsAfter', sizes[sizes.length - 2], sizes[sizes.length - 1]),
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
          case: 'pingpong',
          key: 'perSec',
          label: 'ping-pong round trips',
          unit: '/s',
          better: 'higher',
          ref: 'plain-socket',
          goal: {
            text: '≥ 1.2× forever-monitor (Node IPC)',
            check: (m) => m(NATIVE) >= 1.2 * m(FM),
          },
        },
        {
          case: 'pingpong',
          key: 'hostCpuUs',
          label: "host CPU per ping-pong round trip (all the host's threads)",
          unit: 'µs',
          better: 'lower',
          ref: 'plain-socket',
        },
        {
          case: 'pipelined',
          key: 'perSec',
          label: 'pipelined messages (echoed)',
          unit: '/s',
          better: 'higher',
          ref: 'node-fork',
          goal: { text: '≥ 1× forever-monitor', check: (m) => m(NATIVE) >= m(FM) },
        },
        {
          case: 'pipelined',
          key: 'sendUs',
          label: 'JS thread time per send() call (pipelined loop)',
          unit: 'µs',
          better: 'lower',
          ref: 'node-fork',
        },
        {
          case: 'pipelined',
          key: 'hostCpuUs',
          label: "host CPU per pipelined message (all the host's threads)",
          unit: 'µs',
          better: 'lower',
          ref: 'plain-socket',
        },
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
        {
          case: 'default',
          key: 'gapMs',
          label: 'file change → new child (defaults)',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'debounce0',
          key: 'gapMs',
          label: 'file change → new child, forever-native with watchDebounce: 0',
          unit: 'ms',
        },
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
        {
          case: 'default',
          key: 'stopMs',
          label: "stop() → 'stop'",
          unit: 'ms',
          better: 'lower',
          ref: 'limit',
        },
        {
          case: 'default',
          key: 'aliveAtStop',
          label: "tree processes not yet dead at 'stop' (signalled, not exited)",
          kind: 'sum',
          ref: 'limit',
        },
        {
          case: 'default',
          key: 'survivors',
          label: 'tree processes surviving the stop (orphans)',
          kind: 'sum',
          ref: 'limit',
          goal: {
            text: '0 (README: nothing is orphaned)',
            check: (m) => m.sum(NATIVE, 'survivors') === 0,
          },
        },
      ],
    },
    {
      n: 8,
      id: 'scale',
      title: 'Scaling: crash-looping monitors in one host',
      note: `N = ${scale.join(', ')} monitors in one host process (its own node process, scale-host.js), each of \`sh -c 'echo >> $FILE; exit 1'\` with minUptime: 0 and no max, all started at once. After all have started (at most 10 s: past that the window is measured with those that did start, and Findings say so) and 0.5 s more, restarts (bytes the children appended) and the host's CPU time (/proc: all its threads, and forever-native's guardian) are counted over ${quick ? 1 : 3} s, from outside the host: forever-monitor's loop, busy with child exits, does not run its timers for seconds. Then the host is asked to stop all; one that has not exited ${quick ? 1.5 : 3} s later is killed (Findings). Host CPU as a share of one core; the host's open descriptors at the end of the window show whether it keeps up with closing the pipes of exited children.`,
      worker: 'scale.js',
      cases: scale.map((n) => `m${n}`),
      impls: () => [NATIVE, FM],
      rounds: quick ? 1 : 3,
      timeout: 60000,
      scaleTable: scale,
      rows: scale.flatMap((n) => [
        {
          case: `m${n}`,
          key: 'restartsPerSec',
          label: `N=${n}: restarts/s, all monitors together`,
          unit: '/s',
          better: 'higher',
        },
        {
          case: `m${n}`,
          key: 'cpuPerRestartUs',
          label: `N=${n}: host CPU per restart`,
          unit: 'µs',
          better: 'lower',
        },
      ]),
    },
    {
      n: 9,
      id: 'health',
      title: 'Health sampling (forever-native only)',
      note: `${quick ? 20 : 100} monitors of an idle child. sampling: each with maxMemory (its tree's memory read from /proc once a second); usage: JS calls usage() on each once a second. Figure: the host's CPU (all its threads) over ${quick ? 1.5 : 10} s, less the same monitors without either, in percent of one core; and the JS thread's time per usage() call. forever-monitor has neither feature.`,
      worker: 'health.js',
      cases: ['sampling', 'usage'],
      impls: () => [NATIVE],
      rounds: quick ? 1 : 3,
      timeout: 90000,
      rows: [
        {
          case: 'sampling',
          key: 'cpuPct',
          label: 'host CPU for sampling the trees once a second',
          unit: '% of a core',
          digits: 2,
          better: 'lower',
          goal: { text: '< 1% of a core for 100 monitors', check: (m) => m(NATIVE) < 1 },
        },
        {
          case: 'usage',
          key: 'cpuPct',
          label: 'host CPU for usage() on each, once a second',
          unit: '% of a core',
          digits: 2,
          better: 'lower',
        },
        {
          case: 'usage',
          key: 'usageCallUs',
          label: 'JS thread time per usage() call',
          unit: 'µs',
          better: 'lower',
        },
      ],
    },
    {
      n: 10,
      id: 'listen',
      title: 'Restarting an HTTP service under load',
      note: `An HTTP server (bench/children/http-server.js) restarted ${quick ? 5 : 20} times under a client loop on loopback (4 requests at a time, each on a fresh connection), one restart every 250 ms once the new child answers. restart: restart() with the child binding the port itself (forever-monitor, forever-native), or with forever-native's \`listen\` (the core holds the socket: connections wait in its queue while no child is there). reload: forever-native's reload() with \`listen\`, \`fork\` and \`waitReady\` (the new child starts beside the old one, which drains once it is ready). Refused: ECONNREFUSED (the loop retries at once, so their number says more about its speed than the gap's); refusal window: first refused request to the end of the last one, median over restarts; failed: any other error (a reset). Latency: the 99th percentile while restarting.`,
      worker: 'listen.js',
      cases: ['restart', 'reload'],
      impls: (k) => (k === 'restart' ? [NATIVE, 'native-listen', FM] : ['native-listen']),
      rounds: quick ? 1 : 3,
      timeout: 120000,
      rows: [
        {
          case: 'restart',
          key: 'refusedPerRestart',
          label: 'restart(), the child binding the port: requests refused per restart',
          digits: 1,
          better: 'lower',
        },
        {
          case: 'restart',
          key: 'refusalWindowMs',
          label: 'restart(), the child binding the port: refusal window',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'restart',
          nativeImpl: 'native-listen',
          key: 'refused',
          label: 'restart() with listen: requests refused (all restarts)',
          kind: 'sum',
          goal: {
            text: '0 (README: listen — the socket outlives the child)',
            check: (m) => m.sum(NATIVE, 'refused') === 0,
          },
        },
        {
          case: 'restart',
          nativeImpl: 'native-listen',
          key: 'failedPerRestart',
          label: 'restart() with listen: other failures per restart',
          digits: 1,
          better: 'lower',
        },
        {
          case: 'restart',
          nativeImpl: 'native-listen',
          key: 'p99Ms',
          label: 'restart() with listen: p99 latency while restarting',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'restart',
          key: 'p99Ms',
          label: 'restart(), the child binding the port: p99 latency while restarting',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'reload',
          nativeImpl: 'native-listen',
          key: 'refused',
          label: 'reload(): requests refused (all reloads)',
          kind: 'sum',
          goal: {
            text: '0 (README: reload without downtime)',
            check: (m) => m.sum(NATIVE, 'refused') === 0,
          },
        },
        {
          case: 'reload',
          nativeImpl: 'native-listen',
          key: 'failed',
          label: 'reload(): requests failed (all reloads)',
          kind: 'sum',
          goal: {
            text: '0 (README: the old child drains)',
            check: (m) => m.sum(NATIVE, 'failed') === 0,
          },
        },
        {
          case: 'reload',
          nativeImpl: 'native-listen',
          key: 'p99Ms',
          label: 'reload(): p99 latency while reloading',
          unit: 'ms',
          better: 'lower',
        },
      ],
    },
    {
      n: 11,
      id: 'instances',
      title: 'Instances: one app × 2 under keep-alive load (PM2: cluster mode)',
      note: `bench/children/cluster-app.js × 2 instances, 50 keep-alive connections on loopback (one request in flight each, a raw-socket client in the worker: bench/lib/keepalive.js); the supervisor runs in a process of its own (forever-native: a \`Group\` in workers/instances-host.js with \`listen\`, \`fork\`, \`waitReady\`; PM2: \`exec_mode: 'cluster'\`, \`wait_ready\`, its daemon being the cluster's primary). steady: ${quick ? 1 : 10} s of load. fresh (full runs only): the same with each request on a new connection (\`connection: close\`), where every connection goes through PM2's primary. reload: ${quick ? 1 : 5} rolling reload(s) of both instances back to back (forever-native: \`group.reloadAsync()\`; PM2: \`pm2.reload()\`). crash: instance 0 exits 1 (on SIGUSR2 from the worker) every 500 ms for ${quick ? 1 : 10} s. delay (full runs only): a new connection per request, and instance 0 crashes once with a restart delay of 1 s (\`restartDelay\`, PM2's \`restart_delay\`): the worst latency over the next 3 s. Refused: ECONNREFUSED; failed: a request sent that got no answer (reset, closed, 10 s). Imbalance: the largest deviation of one instance's answers from the mean, in percent. Supervisor CPU in percent of one core over the window, RSS at its end: forever-native's host process (with its guardian), PM2's daemon. Rows marked listenReusePort are forever-native with a SO_REUSEPORT socket per instance instead of one shared socket.`,
      worker: 'instances.js',
      cases: quick
        ? ['steady', 'reload', 'crash']
        : ['steady', 'fresh', 'reload', 'crash', 'delay'],
      impls: () => (quick ? [NATIVE] : [NATIVE, 'native-reuseport']),
      pm2Cases: ['steady', 'fresh', 'reload', 'crash', 'delay'],
      pm2Note:
        "PM2: the same app with exec_mode 'cluster', instances 2, wait_ready, listen_timeout 10 s, kill_timeout 5 s; it listens on a port of its own through PM2's primary (the daemon).",
      rounds: quick ? 1 : 3,
      timeout: 120000,
      rows: [
        {
          case: 'steady',
          key: 'perSec',
          label: 'steady load: requests/s',
          unit: '/s',
          better: 'higher',
          goal: {
            text: '≥ 1.15× PM2 cluster',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) >= 1.15 * m(PM2)),
          },
        },
        {
          case: 'steady',
          key: 'p50Ms',
          label: 'steady load: p50 latency',
          unit: 'ms',
          better: 'lower',
          goal: {
            text: 'no worse than PM2',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) <= m(PM2)),
          },
        },
        {
          case: 'steady',
          key: 'p99Ms',
          label: 'steady load: p99 latency',
          unit: 'ms',
          better: 'lower',
          goal: {
            text: 'no worse than PM2',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) <= m(PM2)),
          },
        },
        {
          case: 'steady',
          key: 'imbalancePct',
          label: "steady load: imbalance (one instance's share vs the mean)",
          unit: '%',
          better: 'lower',
          goal: { text: '≤ 15%', check: (m) => m(NATIVE) <= 15 },
        },
        {
          case: 'steady',
          key: 'supervisorCpuPct',
          label: 'steady load: supervisor CPU (PM2: its daemon, the primary)',
          unit: '% of a core',
          better: 'lower',
          goal: {
            text: 'below PM2',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) < m(PM2)),
          },
        },
        {
          case: 'steady',
          key: 'supervisorRssMB',
          label: 'supervisor RSS (forever-native: host + guardian; PM2: daemon)',
          unit: 'MB',
          better: 'lower',
          goal: {
            text: 'below PM2',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) < m(PM2)),
          },
        },
        {
          case: 'fresh',
          key: 'perSec',
          label: 'a new connection per request: requests/s',
          unit: '/s',
          better: 'higher',
        },
        {
          case: 'fresh',
          key: 'p99Ms',
          label: 'a new connection per request: p99 latency',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'fresh',
          key: 'imbalancePct',
          label: 'a new connection per request: imbalance',
          unit: '%',
          better: 'lower',
        },
        {
          case: 'fresh',
          key: 'supervisorCpuPct',
          label: 'a new connection per request: supervisor CPU',
          unit: '% of a core',
          better: 'lower',
        },
        {
          case: 'reload',
          key: 'refused',
          label: 'rolling reloads: requests refused (all rounds)',
          kind: 'sum',
          goal: { text: '0', check: (m) => m.sum(NATIVE, 'refused') === 0 },
        },
        {
          case: 'reload',
          key: 'failed',
          label: 'rolling reloads: requests failed (all rounds)',
          kind: 'sum',
        },
        {
          case: 'reload',
          key: 'perSec',
          label: 'rolling reloads: requests/s meanwhile',
          unit: '/s',
          better: 'higher',
        },
        {
          case: 'reload',
          key: 'p99Ms',
          label: 'rolling reloads: p99 latency',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'reload',
          key: 'rollMs',
          label: 'rolling reload of both instances: time',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'reload',
          key: 'supervisorCpuPct',
          label: 'rolling reloads: supervisor CPU',
          unit: '% of a core',
          better: 'lower',
        },
        {
          case: 'crash',
          key: 'failedPerCrash',
          label: 'one instance crashing every 500 ms: failed requests per crash',
          digits: 1,
          better: 'lower',
          goal: {
            text: 'no more than PM2',
            check: (m) => (m(PM2) === null ? null : m(NATIVE) <= m(PM2)),
          },
        },
        {
          case: 'crash',
          key: 'refused',
          label: 'one instance crashing: requests refused (all rounds)',
          kind: 'sum',
          goal: { text: '0', check: (m) => m.sum(NATIVE, 'refused') === 0 },
        },
        {
          case: 'crash',
          key: 'perSec',
          label: 'one instance crashing: requests/s',
          unit: '/s',
          better: 'higher',
        },
        {
          case: 'crash',
          key: 'p99Ms',
          label: 'one instance crashing: p99 latency',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'crash',
          key: 'supervisorCpuPct',
          label: 'one instance crashing: supervisor CPU',
          unit: '% of a core',
          better: 'lower',
        },
        {
          case: 'delay',
          key: 'maxMs',
          label: 'one crash, restarted 1 s later: worst latency (new connections)',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'delay',
          key: 'p99Ms',
          label: 'one crash, restarted 1 s later: p99 latency',
          unit: 'ms',
          better: 'lower',
        },
        {
          case: 'delay',
          key: 'failed',
          label: 'one crash, restarted 1 s later: requests failed (all rounds)',
          kind: 'sum',
        },
        ...(quick
          ? []
          : [
              ['steady', 'perSec', 'steady load: requests/s', '/s', 'higher'],
              ['steady', 'p99Ms', 'steady load: p99 latency', 'ms', 'lower'],
              ['steady', 'imbalancePct', 'steady load: imbalance', '%', 'lower'],
              ['fresh', 'perSec', 'a new connection per request: requests/s', '/s', 'higher'],
              ['fresh', 'imbalancePct', 'a new connection per request: imbalance', '%', 'lower'],
              ['reload', 'failed', 'rolling reloads: requests failed (all rounds)', null, null],
              ['crash', 'failedPerCrash', 'one instance crashing: failed per crash', null, 'lower'],
              ['crash', 'p99Ms', 'one instance crashing: p99 latency', 'ms', 'lower'],
              ['delay', 'maxMs', 'one crash, restarted 1 s later: worst latency', 'ms', 'lower'],
              ['delay', 'p99Ms', 'one crash, restarted 1 s later: p99 latency', 'ms', 'lower'],
            ].map(([k, key, label, unit, better]) => ({
              case: k,
              nativeImpl: 'native-reuseport',
              key,
              label: `listenReusePort — ${label}`,
              ...(unit ? { unit } : {}),
              ...(better ? { better } : { kind: 'sum' }),
              ...(key === 'failedPerCrash' ? { digits: 1 } : {}),
            }))),
      ],
    },
  ];
}

const REF_LABEL = {
  limit: 'machine limit',
  'node-fork': 'plain fork()',
  'node-spawn': 'plain spawn()',
  'plain-socket': 'plain socket parent',
};

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
      if (state !== 'Z')
        out.push({
          pid: Number(name),
          comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        });
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
    process.stderr.write(
      `\nbench: interrupted by ${sig}; every process it started has been killed\n`,
    );
    process.exit(130);
  });
}

// ---- running one worker --------------------------------------------------------------

class RunError extends Error {}

function runWorker(scenario, kase, impl, { quick, tmp, pm2Dir }) {
  const args = [
    '--expose-gc',
    path.join(BENCH, 'workers', scenario.worker),
    '--impl',
    impl,
    '--case',
    kase,
  ];
  if (quick) args.push('--quick');
  const what = `scenario ${scenario.n} ${scenario.id}, case ${kase}, impl ${impl}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so a timeout can take everything down
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        FOREVER_BENCH_TAG: TAG,
        FOREVER_BENCH_TMP: tmp,
        ...(pm2Dir ? { FOREVER_BENCH_PM2_DIR: pm2Dir } : {}),
      },
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
        reject(
          new RunError(
            `${what}: timed out after ${limit / 1000} s\n--- stderr ---\n${tail(stderr)}`,
          ),
        );
        return;
      }
      const line = stdout
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"bench":'));
      if (code !== 0 || !line) {
        reject(
          new RunError(
            `${what}: the worker failed (exit code ${code}${signal ? `, signal ${signal}` : ''})\n--- stderr ---\n${tail(stderr)}\n--- stdout ---\n${tail(stdout)}`,
          ),
        );
        return;
      }
      let result;
      try {
        result = JSON.parse(line);
      } catch {
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
  const values = (kase, impl, key) =>
    results.filter((r) => r.case === kase && r.impl === impl).map((r) => r[key]);
  const m = {};
  m.in = (kase, impl, key) => {
    const v = values(kase, impl, key);
    if (v.length && v.every((x) => typeof x === 'boolean')) return v.filter(Boolean).length;
    return med(v);
  };
  m.values = values;
  return m;
}

/** What the table shows besides forever-native and forever-monitor (set by main()). */
let tableOpts = { pm2: false, pm2Skipped: null };

/** The numbers among a row's per-round values. */
const numbers = (values) => values.filter((x) => typeof x === 'number' && Number.isFinite(x));

/** (max − min) ÷ |median| of the rounds, or null when it says nothing (one round, median 0). */
function spreadOf(values) {
  const v = numbers(values);
  if (v.length < 2) return null;
  const m = med(v);
  if (!m) return null;
  return (Math.max(...v) - Math.min(...v)) / Math.abs(m);
}

/** "median (min–max)" when there were several rounds; ⚠ when they spread past NOISY. */
function spreadCell(values, unit) {
  const v = numbers(values);
  const m = med(v);
  if (v.length < 2) return fmt(m, unit);
  const spread = spreadOf(v);
  return `${fmt(m, unit)} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})${spread !== null && spread > NOISY ? ' ⚠' : ''}`;
}

function rowCells(scenario, row, rawResults) {
  // A row may fill forever-native's column from a variant (e.g. native-direct).
  const results = row.nativeImpl
    ? rawResults
        .filter((r) => r.impl !== NATIVE)
        .map((r) => (r.impl === row.nativeImpl ? { ...r, impl: NATIVE } : r))
    : rawResults;
  const acc = buildAccess(results);
  const peers = [NATIVE, FM, ...(tableOpts.pm2 ? [PM2] : [])];
  const impls = [...peers, row.ref].filter(Boolean);
  const nativeSkipped = results.find((r) => r.impl === NATIVE && r.skipped);
  const cell = {};
  let medians = {};
  const spreads = []; // { impl, spread } of the cells whose rounds spread past NOISY

  if (row.derived) {
    for (const impl of impls) medians[impl] = row.derived(acc, impl);
    for (const impl of impls) cell[impl] = fmt(medians[impl], row.unit);
  } else if (row.kind === 'series') {
    for (const impl of [NATIVE, FM, ...(tableOpts.pm2 && row.pm2Keys ? [PM2] : [])]) {
      const keys = impl === PM2 ? row.pm2Keys : row.keys;
      cell[impl] = keys
        .map((k) =>
          fmt(
            acc.in(row.case, impl, k) === null
              ? null
              : Number(acc.in(row.case, impl, k).toFixed(row.digits || 0)),
          ),
        )
        .join(' → ');
    }
  } else if (row.kind === 'count') {
    for (const impl of impls) {
      const v = acc.values(row.case, impl, row.key).filter((x) => x !== undefined);
      cell[impl] = v.length ? `${v.filter(Boolean).length} of ${v.length} runs` : '—';
    }
  } else if (row.kind === 'sum' || row.kind === 'max') {
    for (const impl of impls) {
      const v = acc.values(row.case, impl, row.key).filter((x) => typeof x === 'number');
      medians[impl] = v.length
        ? row.kind === 'sum'
          ? v.reduce((a, b) => a + b, 0)
          : Math.max(...v)
        : null;
      cell[impl] = fmt(medians[impl], row.unit);
    }
  } else if (row.kind === 'crashes') {
    for (const impl of [NATIVE, FM]) {
      const rs = results.filter((r) => r.case === row.case && r.impl === impl);
      const crashes = rs.reduce((n, r) => n + (r.crashes || 0), 0);
      const attempts = rs.reduce((n, r) => n + (r.attempts || 0), 0);
      const allFailed = rs.filter((r) => r.crashed).length;
      cell[impl] = rs.length
        ? `${crashes} / ${attempts}${allFailed ? ` (${allFailed} run(s) crashed every attempt)` : ''}`
        : '—';
    }
  } else {
    for (const impl of impls) {
      const values = acc.values(row.case, impl, row.key);
      medians[impl] = acc.in(row.case, impl, row.key);
      cell[impl] = medians[impl] === null ? fmt(null) : spreadCell(values, row.unit);
      const spread = spreadOf(values);
      if (spread !== null && spread > NOISY) spreads.push({ impl, spread });
    }
  }
  if (nativeSkipped && (!row.case || row.case === nativeSkipped.case)) cell[NATIVE] = 'skipped';
  if (tableOpts.pm2Skipped && (scenario.pm2Cases || []).includes(row.case)) cell[PM2] = 'skipped';

  const advantage = (other) => {
    const a = medians[NATIVE];
    const b = medians[other];
    if (!row.better || typeof a !== 'number' || typeof b !== 'number' || !(a > 0) || !(b > 0))
      return null;
    return row.better === 'lower' ? b / a : a / b;
  };

  let status = '';
  if (row.goal) {
    if (nativeSkipped) status = 'skipped';
    else {
      const m = (impl, key = row.key) =>
        row.derived ? medians[impl] : acc.in(row.case, impl, key);
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
    pm2: cell[PM2] || '—',
    ratio: ratioText(advantage(FM)),
    ratioPm2: ratioText(advantage(PM2)),
    ref: row.ref ? `${cell[row.ref] || '—'} (${REF_LABEL[row.ref]})` : '',
    goal: row.goal ? row.goal.text : '',
    status,
    spreads,
  };
}

function table(done) {
  const pm2 = tableOpts.pm2;
  const lines = pm2
    ? [
        '| # | figure | forever-native | forever-monitor | PM2 | advantage over forever-monitor | advantage over PM2 | limit / reference | goal | status |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ]
    : [
        '| # | figure | forever-native | forever-monitor | native advantage | limit / reference | goal | status |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ];
  const goals = [];
  const noisy = [];
  let withRounds = 0;
  for (const { scenario, results } of done) {
    for (const row of scenario.rows) {
      if (row.pm2Only && !pm2) continue;
      const c = rowCells(scenario, row, results);
      lines.push(
        pm2
          ? `| ${scenario.n} | ${c.label} | ${c.native} | ${c.fm} | ${c.pm2} | ${c.ratio} | ${c.ratioPm2} | ${c.ref} | ${c.goal} | ${c.status} |`
          : `| ${scenario.n} | ${c.label} | ${c.native} | ${c.fm} | ${c.ratio} | ${c.ref} | ${c.goal} | ${c.status} |`,
      );
      if (row.goal)
        goals.push({
          n: scenario.n,
          label: c.label,
          goal: c.goal,
          status: c.status,
          native: c.native,
          fm: c.fm,
        });
      if (!row.kind && !row.derived && row.key) {
        const several = [NATIVE, FM, PM2].some(
          (impl) =>
            numbers(
              results.filter((r) => r.case === row.case && r.impl === impl).map((r) => r[row.key]),
            ).length > 1,
        );
        if (several) withRounds++;
      }
      for (const sp of c.spreads)
        noisy.push({ n: scenario.n, label: c.label, impl: sp.impl, spread: sp.spread });
    }
  }
  return { text: lines.join('\n'), goals, noise: { noisy, withRounds } };
}

const IMPL_NAME = { [NATIVE]: 'forever-native', [FM]: 'forever-monitor', [PM2]: 'PM2' };

/** How noisy the run was: the figures whose rounds spread more than NOISY, and the machine. */
function noiseSummary(noise, foreign) {
  const out = [];
  const rows = [...new Set(noise.noisy.map((x) => `${x.n}|${x.label}`))];
  out.push(
    `Of ${noise.withRounds} figures measured over several rounds, ${rows.length} had a spread (max − min over the median) above ${NOISY * 100}% in at least one column (marked ⚠); other work used ${(foreign * 100).toFixed(1)}% of the machine's CPU capacity during the run.`,
  );
  // One line per figure, its noisy columns with their spread, the noisiest figure first.
  const byRow = new Map();
  for (const x of noise.noisy) {
    const key = `${x.n}|${x.label}`;
    if (!byRow.has(key)) byRow.set(key, { n: x.n, label: x.label, cols: [] });
    byRow.get(key).cols.push(x);
  }
  const worstOf = (r) => Math.max(...r.cols.map((x) => x.spread));
  for (const r of [...byRow.values()].sort((a, b) => worstOf(b) - worstOf(a))) {
    const cols = r.cols
      .map(
        (x) =>
          `${IMPL_NAME[x.impl] || REF_LABEL[x.impl] || x.impl} ${(x.spread * 100).toFixed(0)}%`,
      )
      .join(', ');
    out.push(`- scenario ${r.n}, ${r.label}: ${cols}`);
  }
  return out;
}

/** Scenario 8 as one table: a line per N, each implementation's rate, CPU and fds. */
function scaleTable(done) {
  const entry = done.find((d) => d.scenario.scaleTable);
  if (!entry) return null;
  const acc = buildAccess(entry.results);
  const lines = [
    '| monitors | forever-native restarts/s | host CPU (% of a core) | CPU per restart | host fds at end | forever-monitor restarts/s | host CPU (% of a core) | CPU per restart | host fds at end |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const n of entry.scenario.scaleTable) {
    const k = `m${n}`;
    const cells = [NATIVE, FM].flatMap((impl) => [
      spreadCell(acc.values(k, impl, 'restartsPerSec'), '/s'),
      fmt(acc.in(k, impl, 'cpuPct'), '%'),
      fmt(acc.in(k, impl, 'cpuPerRestartUs'), 'µs'),
      fmt(acc.in(k, impl, 'fdsAtEnd')),
    ]);
    const capped = entry.results.filter((r) => r.case === k && r.startedAll === false);
    lines.push(
      `| ${fmt(n)}${capped.length ? ` (capped: ${capped.map((r) => `${IMPL_NAME[r.impl]} had ${fmt(r.started)} started`).join(', ')})` : ''} | ${cells.join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

function findings(done) {
  const out = [];
  for (const { scenario, results } of done) {
    for (const r of results) {
      if (r.crashes) {
        const lost = (r.lostInCrashes || []).map((b) => fmt(b)).join(', ');
        out.push(
          `scenario ${scenario.n} (${r.case}, round ${r.round}): forever-monitor crashed its host ${r.crashes} time(s) in ${r.attempts} attempt(s) with ${r.crashMessages[0] || 'ERR_STREAM_DESTROYED'}${lost ? ` (bytes missing from the file at the crash: ${lost})` : ''}${r.crashed ? ' — every attempt of this run crashed' : ''}`,
        );
      }
      if (r.skipped)
        out.push(
          `scenario ${scenario.n}: ${r.impl === NATIVE ? 'forever-native' : r.impl} skipped: ${r.reason}`,
        );
      if (r.leftovers)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${r.impl}): the worker had to kill ${r.leftovers} leftover descendant(s)`,
        );
      if (r.sweptLeftovers)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${r.impl}): ${r.sweptLeftovers.length} process(es) outlived the worker and were killed: ${r.sweptLeftovers.join(', ')}`,
        );
      if (r.forcedExit)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${r.impl}): the host did not exit by itself after 'exit' (forced after 10 s)`,
        );
      if (r.startedAll === false)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${IMPL_NAME[r.impl] || r.impl}, round ${r.round}): only ${fmt(r.started)} of ${fmt(r.n)} monitors had started after 10 s (capped); the window measured those`,
        );
      if (r.stopKilled)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${IMPL_NAME[r.impl] || r.impl}): the host had not stopped its monitors ${fmt(r.stopCapMs / 1000)} s after being asked (its event loop busy with child exits), so it was killed`,
        );
      if (r.impl === PM2 && r.bytesLost > 0)
        out.push(
          `scenario ${scenario.n} (${r.case}, PM2, round ${r.round}): PM2 lost the last ${fmt(r.bytesLost)} bytes of the child's output (the file stopped growing short of them)`,
        );
      if (r.hostCrash)
        out.push(
          `scenario ${scenario.n} (${r.case}, ${IMPL_NAME[r.impl] || r.impl}, round ${r.round}): the host crashed after the window was measured: ${r.hostCrash}`,
        );
    }
  }
  return [...new Set(out)];
}

function summaryLine(scenario, results) {
  const first = scenario.rows.find((r) => (r.key || r.derived) && r.better) || scenario.rows[0];
  const c = rowCells(scenario, first, results);
  const goalRows = scenario.rows
    .filter((r) => r.goal)
    .map((r) => rowCells(scenario, r, results).status);
  const goalsText = goalRows.length
    ? `; goals: ${goalRows.filter((s) => s === 'met').length}/${goalRows.length} met`
    : '';
  const pm2Text = tableOpts.pm2 && c.pm2 !== '—' ? `, PM2 ${c.pm2} (advantage ${c.ratioPm2})` : '';
  return `scenario ${scenario.n} ${scenario.id}: ok (${results.length} runs) — ${c.label}: forever-native ${c.native}, forever-monitor ${c.fm}, advantage ${c.ratio}${pm2Text}${goalsText}`;
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
    return {
      kind: debug ? 'debug' : 'release',
      text: `${debug ? 'NOT STRIPPED — looks like a debug build' : 'release (stripped)'}, ${size}`,
      mtime: fs.statSync(ADDON).mtimeMs,
    };
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
    `- Load average at start: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`,
  ];
}

// ---- which implementations run, in which order ------------------------------------------

/** The implementations of one case: the scenario's, and PM2 where it fits and was asked for. */
function implsFor(scenario, kase, pm2) {
  const impls = scenario.impls(kase);
  if (!pm2 || !(scenario.pm2Cases || []).includes(kase)) return impls;
  const at = impls.indexOf(FM) + 1;
  return [...impls.slice(0, at), PM2, ...impls.slice(at)];
}

/**
 * The order of one round: the peers (forever-native, forever-monitor, PM2, …) rotate by
 * one place every round, so each goes first, second, … equally often and drift in the
 * machine affects them alike; references (limit, plain fork/spawn) keep their place after
 * them. With two peers this is "which goes first flips every round".
 */
function roundOrder(impls, round) {
  const peers = impls.filter((i) => PEERS.includes(i));
  const refs = impls.filter((i) => !PEERS.includes(i));
  const k = peers.length ? (round - 1) % peers.length : 0;
  return [...peers.slice(k), ...peers.slice(0, k), ...refs];
}

// ---- main ----------------------------------------------------------------------------

async function main() {
  const opts = parseArgv(process.argv.slice(2));
  const all = scenarios(opts.quick);
  let chosen = all;
  if (opts.only) {
    chosen = all.filter((s) => opts.only.includes(String(s.n)) || opts.only.includes(s.id));
    const unknown = opts.only.filter((o) => !all.some((s) => String(s.n) === o || s.id === o));
    if (unknown.length)
      throw new RunError(
        `--only: unknown scenario(s) ${unknown.join(', ')}; choose from ${all.map((s) => `${s.n}=${s.id}`).join(', ')}`,
      );
  }

  const addon = addonBuild();
  if (addon.kind === 'missing') throw new RunError(`the addon is ${addon.text}`);
  if (!opts.quick && addon.kind !== 'release' && !opts.allowDebug) {
    throw new RunError(
      `the addon ${path.basename(ADDON)} is ${addon.text}. Benchmarks need the release build: run \`npm run build\` first (or pass --allow-debug).`,
    );
  }

  const started = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fnbench-'));
  tmpRoot = tmp;
  const head = machine(addon);
  // PM2, when asked for: installed into this run's temporary directory (never the project's
  // node_modules); not installable is a skipped column with the reason, not a failure.
  let pm2 = null;
  if (opts.peers.includes(PM2)) {
    process.stdout.write(`installing ${PM2_LIB.PM2_SPEC} into a temporary directory…\n`);
    pm2 = PM2_LIB.install(tmp);
    head.push(
      pm2.dir
        ? `- PM2 ${pm2.version} (\`${pm2.spec}\`, installed for this run into a temporary prefix; settings below)`
        : `- PM2: **skipped** — ${pm2.skipped}`,
    );
  }
  tableOpts = { pm2: !!pm2, pm2Skipped: pm2 && pm2.skipped };
  process.stdout.write(
    `forever-native bench${opts.quick ? ' (--quick)' : ''}\n${head.join('\n')}\n\n`,
  );

  const done = [];
  const failures = [];
  const rebuilds = []; // the addon changing under the run, scenario by scenario
  let seenAddon = addon.mtime;
  try {
    for (const scenario of chosen) {
      const now = addonBuild();
      if (now.mtime !== seenAddon) {
        rebuilds.push(
          `the addon file was rebuilt (by someone else?) before scenario ${scenario.n} ${scenario.id} started: now ${now.text}`,
        );
        seenAddon = now.mtime;
      }
      const rounds = opts.rounds || scenario.rounds;
      const results = [];
      try {
        for (let round = 1; round <= rounds; round++) {
          for (const kase of scenario.cases) {
            // Rotate which implementation goes first, round by round.
            const order = roundOrder(implsFor(scenario, kase, pm2 && pm2.dir), round);
            for (const impl of order) {
              const t0 = Date.now();
              const { result, stderr } = await runWorker(scenario, kase, impl, {
                quick: opts.quick,
                tmp,
                pm2Dir: pm2 && pm2.dir,
              });
              result.round = round;
              results.push(result);
              const shown = Object.entries(result)
                .filter(
                  ([k, v]) =>
                    !['bench', 'impl', 'case', 'round', 'crashMessages'].includes(k) &&
                    (typeof v !== 'object' || v === null),
                )
                .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`)
                .join(' ');
              process.stderr.write(
                `  [${scenario.n} ${scenario.id} ${round}/${rounds}] ${kase} ${impl}: ${shown} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
              );
              if (stderr.trim() && result.crashes)
                process.stderr.write(stderr.replace(/^/gm, '    '));
            }
          }
        }
        done.push({ scenario, results });
        process.stdout.write(summaryLine(scenario, results) + '\n');
      } catch (err) {
        if (!(err instanceof RunError)) throw err;
        failures.push(err.message);
        process.stdout.write(
          `scenario ${scenario.n} ${scenario.id}: FAILED — ${err.message.split('\n')[0]}\n`,
        );
        process.stderr.write(`\n${err.message}\n\n`);
      }
    }
  } finally {
    killCurrent();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const after = addonBuild();
  if (after.mtime !== seenAddon)
    rebuilds.push(
      `the addon file was rebuilt (by someone else?) during the last scenario: now ${after.text}`,
    );
  const addonChanged = rebuilds.length > 0;
  const { text, goals, noise } = table(done);
  const scaling = scaleTable(done);
  const notes = findings(done);
  notes.push(...rebuilds);
  if (pm2 && pm2.skipped) notes.push(`PM2 skipped: ${pm2.skipped}`);
  if (done.length) process.stdout.write(`\n${text}\n`);
  if (scaling) process.stdout.write(`\nScaling (scenario 8):\n\n${scaling}\n`);
  process.stdout.write(
    `\nOther work on the machine during the run: ${(foreignShare() * 100).toFixed(1)}% of its CPU capacity\n`,
  );
  if (noise.withRounds)
    process.stdout.write(`\nNoise: ${noiseSummary(noise, foreignShare()).join('\n')}\n`);
  if (notes.length) process.stdout.write(`\nFindings:\n${notes.map((n) => `- ${n}`).join('\n')}\n`);

  if (failures.length) {
    process.stdout.write(
      `\nbench FAILED: ${failures.length} scenario(s) did not complete:\n${failures.map((f) => `- ${f.split('\n')[0]}`).join('\n')}\n`,
    );
    process.exitCode = 1;
    return;
  }

  if (!opts.quick && !opts.only) {
    const md = resultsMarkdown({
      started,
      head,
      text,
      goals,
      notes,
      done,
      addonChanged,
      noise,
      scaling,
      pm2,
    });
    fs.writeFileSync(path.join(BENCH, 'RESULTS.md'), md);
    process.stdout.write(
      `\nwrote ${path.relative(process.cwd(), path.join(BENCH, 'RESULTS.md'))}\n`,
    );
  }
}

/**
 * CPU ticks of the whole machine ({ busy, all }) and of this run (the orchestrator plus
 * every worker it has reaped, with their reaped descendants: utime+stime+cutime+cstime).
 */
function cpuTicks() {
  const fields = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const all = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] || 0);
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const own = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .slice(11, 15)
    .map(Number)
    .reduce((a, b) => a + b, 0);
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

function resultsMarkdown({
  started,
  head,
  text,
  goals,
  notes,
  done,
  addonChanged,
  noise,
  scaling,
  pm2,
}) {
  const mins = ((Date.now() - started.getTime()) / 60000).toFixed(1);
  const out = [];
  out.push('# Bench results', '');
  out.push(
    `Generated by \`npm run bench\` (\`node bench/run.js\`) on ${started.toISOString()} (${mins} min). See [README.md](README.md) for what each figure means.`,
    '',
  );
  const foreign = foreignShare();
  out.push(
    ...head,
    `- Load average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (the bench's own processes count too)`,
    `- Other work on the machine during the run: ${(foreign * 100).toFixed(1)}% of its CPU capacity (all CPU time used, less this run's own and its workers'; kernel threads working for the run count as other work)`,
    '',
  );
  out.push(
    `Each run is a fresh \`node\` process per scenario, case and implementation; forever-native${pm2 ? ', forever-monitor and PM2 take turns (their order rotates by one place every round)' : ' and forever-monitor alternate (which goes first flips every round)'}. Figures are medians over the rounds, with the lowest and highest round in brackets where there were several — ⚠ marks a spread (max − min over the median) above ${NOISY * 100}% — and per-run values in the appendix. "${pm2 ? 'Advantage' : 'Native advantage'}" is how many times better forever-native is (the other ÷ forever-native for times and costs, forever-native ÷ the other for rates): above 1× forever-native is better, below 1× it is worse.`,
    '',
  );
  if (pm2 && pm2.dir) out.push(`**PM2's settings.** ${PM2_LIB.SETTINGS_TEXT}`, '');
  if (pm2 && pm2.skipped) out.push(`**PM2 was skipped:** ${pm2.skipped}`, '');
  if (addonChanged)
    out.push(
      '**Warning:** the addon file changed while the bench ran (each worker loads it afresh), so later scenarios used a newer build; see Findings for when.',
      '',
    );
  if (foreign > 0.1) {
    out.push(
      `**Noise:** other work used ${(foreign * 100).toFixed(0)}% of the machine's CPU capacity during this run. Expect noise, mostly in the rates, the IPC figures and the N=500 times; the ratios come from runs interleaved side by side, so they are less affected than the absolute numbers.`,
      '',
    );
  }
  out.push('## Results', '', text, '');
  if (scaling)
    out.push(
      '## Scaling',
      '',
      `Scenario 8: N crash-looping monitors in one host process (see its note below); restarts/s as median (lowest–highest round), the rest medians.`,
      '',
      scaling,
      '',
    );
  if (noise.withRounds) out.push('## Noise', '', ...noiseSummary(noise, foreign), '');
  out.push('## Goals', '');
  for (const g of goals)
    out.push(
      `- **${g.status}** — scenario ${g.n}, ${g.label}: goal ${g.goal}; forever-native ${g.native}, forever-monitor ${g.fm}.`,
    );
  out.push('');
  if (notes.length) out.push('## Findings', '', ...notes.map((n) => `- ${n}`), '');
  out.push('## Scenarios', '');
  for (const { scenario } of done)
    out.push(
      `${scenario.n}. **${scenario.title}.** ${scenario.note}${pm2 && pm2.dir && scenario.pm2Note ? ` ${scenario.pm2Note}` : ''}`,
    );
  out.push('', '## Appendix: every run', '');
  for (const { scenario, results } of done) {
    out.push(`<details><summary>${scenario.n}. ${scenario.id}</summary>`, '', '```');
    for (const r of results) {
      const { bench: _bench, ...rest } = r;
      out.push(
        JSON.stringify(rest, (k, v) =>
          typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v,
        ),
      );
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
