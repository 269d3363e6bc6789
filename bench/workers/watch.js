'use strict';
// Scenario 6 — watch: time from a file change to the new child.
//
// The child (bash) stamps its start and then sleeps. The worker rewrites a file in the
// watched directory and waits for the next start stamp. Figure: the median time from
// the write to the new child's start stamp over 5 changes (1 with --quick), each with
// the implementation's default settings (forever-native restarts on a burst's first
// change, its child starting 10 ms after it; forever-monitor restarts on every chokidar
// event).
//
// --case debounce0 (forever-native only): the same with `watchDebounce: 0`, to tell the
// debounce from the watcher's own latency.
//
// An implementation that rejects `watch: true` (forever-native before watching was
// implemented throws a RangeError) is reported as skipped with the error's message.
const fs = require('fs');
const path = require('path');
const c = require('../lib/common');

const CHILD = `${c.stamp('S')}; exec sleep 1000`;

c.runWorker('watch', async ({ impl, quick, case: kase }) => {
  if (kase !== 'default' && kase !== 'debounce0')
    throw new Error(`unknown --case ${kase} (default | debounce0)`);
  const { Monitor } = c.loadImpl(impl);
  const dir = c.tmpDir('watch');
  const watched = path.join(dir, 'src');
  fs.mkdirSync(watched);
  const file = path.join(watched, 'app.js');
  fs.writeFileSync(file, '// version 0\n');
  const stamps = path.join(dir, 'stamps');
  fs.writeFileSync(stamps, '');
  const starts = () => c.readStamps(stamps).filter((s) => s.tag === 'S');

  let m;
  try {
    const options = { watch: true, watchDirectory: watched, silent: true, env: { STAMPS: stamps } };
    if (kase === 'debounce0') options.watchDebounce = 0;
    m = new Monitor(['bash', '-c', CHILD], options);
  } catch (err) {
    c.rmrf(dir);
    if (err instanceof RangeError) return { skipped: true, reason: err.message };
    throw err;
  }

  try {
    // forever-native says when it watches; forever-monitor (chokidar) does not.
    const ready =
      impl === 'native' ? c.next(m, 'watch:ready', 3000).catch(() => null) : Promise.resolve(null);
    m.on('error', (err) => {
      throw err;
    });
    m.start();
    await c.until(() => starts().length === 1, 10000, 'the first start stamp');
    if ((await ready) === null) await c.sleep(500); // forever-monitor: give chokidar time to be ready

    const iterations = quick ? 1 : 5;
    const gaps = [];
    let writes = 0;
    for (let i = 1; i <= iterations; i++) {
      const seen = starts().length;
      let gapMs = null;
      for (let attempt = 1; attempt <= 5 && gapMs === null; attempt++) {
        const writtenUs = c.epochMicros();
        fs.writeFileSync(file, `// version ${i}.${attempt}\n`);
        writes++;
        try {
          await c.until(() => starts().length > seen, 3000, 'a start stamp after the change');
          gapMs = (starts()[seen].us - writtenUs) / 1000;
        } catch {
          // The change was missed (a watcher not ready yet): write again.
        }
      }
      if (gapMs === null) throw new Error(`no restart after 5 changes to ${file}`);
      gaps.push(gapMs);
      // Let any further restarts caused by the same change happen before the next one.
      let count = starts().length;
      await c.sleep(400);
      while (starts().length !== count) {
        count = starts().length;
        await c.sleep(400);
      }
    }
    const stopped = c.next(m, 'stop', 20000);
    m.stop();
    await stopped;
    return { changes: iterations, writes, restarts: starts().length - 1, gapMs: c.median(gaps) };
  } finally {
    c.rmrf(dir);
  }
});
