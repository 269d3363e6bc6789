'use strict';
// A/B: forever-native in this checkout against forever-native in another (an earlier
// commit, say), on the bench's own workers, alternating rounds, medians. This is how a
// change shows it moved no figure the wrong way.
//
//   node bench/ab.js <other checkout> [--rounds N] [worker:case[:key,key] ...]
//
// Each worker runs in a fresh `node` process from its own checkout (its bench/workers and
// its addon, which must be a release build). Without figures named, a default set runs:
// crash-loop rate and gap, busy restart, stop, footprint (require, N=100), the 200 MB
// outFile and stdout copies, and IPC.
const path = require('path');
const { spawnSync } = require('child_process');

const HERE = path.resolve(__dirname, '..');
const DEFAULT = [
  'crash-loop:rate:restartsPerSec,cpuPerRestartUs',
  'crash-loop:gap:gapMs,gapMaxMs',
  'busy-restart:default:gapMs',
  'stop:default:stopMs,survivors',
  'footprint:require:requireMs,firstStartMs,firstUseRssMB',
  'footprint:n100:startAllMs,rssPerMonitorKB,fdsPerMonitor,stopAllMs',
  'output:outFile:wallMs,cpuMs,bytesLost',
  'output:stdout:wallMs,cpuMs,bytesLost',
  'ipc:pingpong:perSec,hostCpuUs',
  'ipc:pipelined:perSec,hostCpuUs',
];

function parse(argv) {
  const opts = { other: null, rounds: 5, figures: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') opts.rounds = Number(argv[++i]);
    else if (!opts.other) opts.other = path.resolve(a);
    else opts.figures.push(a);
  }
  if (!opts.other)
    throw new Error(
      'usage: node bench/ab.js <other checkout> [--rounds N] [worker:case[:keys] ...]',
    );
  if (opts.figures.length === 0) opts.figures = DEFAULT;
  return opts;
}

function run(root, worker, kase) {
  const args = [
    '--expose-gc',
    path.join(root, 'bench', 'workers', `${worker}.js`),
    '--impl',
    'native',
    '--case',
    kase,
  ];
  const result = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 300000,
  });
  const line = (result.stdout || '').trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(
      `${root} ${worker} ${kase} failed (${result.status}):\n${(result.stderr || '').slice(-2000)}`,
    );
  }
}

const median = (values) => {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

const opts = parse(process.argv.slice(2));
const rows = [];
for (const figure of opts.figures) {
  const [worker, kase, keyList] = figure.split(':');
  const seen = { here: [], other: [] };
  for (let round = 0; round < opts.rounds; round++) {
    // Which goes first flips every round.
    const order = round % 2 ? ['other', 'here'] : ['here', 'other'];
    for (const side of order)
      seen[side].push(run(side === 'here' ? HERE : opts.other, worker, kase));
  }
  const keys = keyList
    ? keyList.split(',')
    : Object.keys(seen.here[0]).filter((k) => typeof seen.here[0][k] === 'number');
  for (const key of keys) {
    const here = median(seen.here.map((r) => r[key]));
    const other = median(seen.other.map((r) => r[key]));
    rows.push({
      figure: `${worker} ${kase} ${key}`,
      here,
      other,
      ratio: here && other ? here / other : null,
    });
    process.stderr.write(`${worker} ${kase} ${key}: here ${here} other ${other}\n`);
  }
}
console.log(
  `| figure (median of ${opts.rounds}) | this checkout | ${path.basename(opts.other)} | this ÷ other |`,
);
console.log('| --- | --- | --- | --- |');
for (const r of rows) {
  const fmt = (x) =>
    x === null ? '—' : Number.isInteger(x) ? String(x) : x.toFixed(x < 10 ? 3 : 1);
  console.log(
    `| ${r.figure} | ${fmt(r.here)} | ${fmt(r.other)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} |`,
  );
}
