'use strict';
// The host process of scenario 8, started by scale.js (not a worker itself).
//
//   node scale-host.js <impl> <n>
//
// Starts <n> monitors (<impl>: native or forever-monitor) of a child that appends one
// byte to the file $FOREVER_BENCH_COUNT and exits 1, with minUptime: 0 and no max, so
// each crash-loops. Writes one byte to fd 3 at each monitor's first 'start'. A line on
// stdin stops every monitor; the host exits once all have emitted 'exit'. Errors go to
// stderr. It keeps no timer of its own: forever-monitor's loop, busy with child exits,
// may not run timers for seconds (scale.js measures from outside for that reason).
const fs = require('fs');

const [impl, nText] = process.argv.slice(2);
const n = Number(nText);
const { Monitor } = impl === 'native' ? require('../..') : require('forever-monitor');

const CHILD = 'echo >> "$FOREVER_BENCH_COUNT"; exit 1';
const monitors = [];
let ended = 0;
for (let i = 0; i < n; i++) {
  // killTree: false — the child has no tree, and forever-monitor's tree kill runs `ps`
  // once per monitor, which would make stopping 1,000 of them the longest part.
  const m = new Monitor(['sh', '-c', CHILD], { minUptime: 0, silent: true, killTree: false });
  m.once('start', () => fs.writeSync(3, '.'));
  m.once('exit', () => {
    if (++ended === n) process.exit(0);
  });
  m.on('error', (err) => {
    // stop() on a monitor between two runs: forever-monitor's answer, not a failure.
    if (!/not running/.test(err.message)) process.stderr.write(`monitor error: ${err.message}\n`);
  });
  monitors.push(m);
}
process.stdin.once('data', () => {
  for (const m of monitors) m.stop();
});
for (const m of monitors) m.start();
