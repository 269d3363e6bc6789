'use strict';
// Memory per monitor, away from one-time costs: one monitor is started and stopped first
// (loading the options, the addon and the runtime), then N more are made (and started, with
// `start`), and the growth of the V8 heap and of RSS is divided by N.
//
//   node --expose-gc bench/monitor-memory.js [checkout] [start] [--n N]
//
// `checkout` is a forever-native checkout (this one by default), so that two can be compared
// side by side; the children are `sleep 100`, stopped at the end.
const path = require('path');

const args = process.argv.slice(2);
const nAt = args.indexOf('--n');
const N = nAt >= 0 ? Number(args.splice(nAt, 2)[1]) : 300;
const started = args.includes('start');
const checkout = path.resolve(args.find((a) => a !== 'start') || path.join(__dirname, '..'));
if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
const { Monitor } = require(checkout);

const kb = (bytes) => (bytes / N / 1024).toFixed(1);
const warm = new Monitor(['sleep', '100'], { silent: true, max: 1 });
warm.on('start', () => warm.stop());
warm.on('stop', () => setTimeout(measure, 200));
warm.start();

function measure() {
  global.gc();
  const before = process.memoryUsage();
  const monitors = [];
  let up = 0;
  for (let i = 0; i < N; i++) {
    const m = new Monitor(['sleep', '100'], { silent: true, max: 1 });
    monitors.push(m);
    if (started) {
      m.on('start', () => {
        if (++up === N) setTimeout(report, 500);
      });
      m.start();
    }
  }
  if (!started) setTimeout(report, 500);

  function report() {
    global.gc();
    const after = process.memoryUsage();
    console.log(
      JSON.stringify({
        checkout,
        monitors: N,
        started,
        heapUsedKB: Number(kb(after.heapUsed - before.heapUsed)),
        heapTotalKB: Number(kb(after.heapTotal - before.heapTotal)),
        rssKB: Number(kb(after.rss - before.rss)),
      }),
    );
    if (started) for (const m of monitors) m.stop();
    setTimeout(() => process.exit(0), 500);
  }
}
