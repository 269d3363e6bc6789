// Crash loops: thousands of restarts of an instantly exiting child must cost the host
// nothing that lasts (fds, threads, memory, zombies) and lose no event.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fixture, runNode } = require('../helpers');

const RUNS = 5000;
const WARMUP = 100;
// The allocator keeps some high-water memory after the first thousands of spawns (measured
// here: 4-7 MB after 5,000 runs, no more after 20,000); a leak of even 2 KB per restart
// would add 10 MB over this loop.
const RSS_SLACK = 10 * 1024 * 1024;

test(`crash loop: ${RUNS} restarts of \`sh -c 'exit 1'\` leave fds, threads, RSS and zombies at baseline`, async () => {
  // In a subprocess host (with --expose-gc), so the measurements see the monitor alone;
  // runNode kills the host if it does not finish.
  const { code, signal, stdout, stderr } = await runNode(
    ['--expose-gc', fixture('host-crash-loop.js'), String(RUNS), String(WARMUP)],
    { timeout: 90000 },
  );
  assert.equal(signal, null, stderr);
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout.trim());
  const summary = JSON.stringify({ ...r, restartTimes: `${r.restartTimes.length} entries` });

  assert.deepEqual(r.warmup, { restarts: WARMUP - 1, errors: [] }, summary);
  assert.deepEqual(r.errors, [], summary);

  // Every run's events were delivered: 4,999 'restart's, with times strictly increasing.
  assert.equal(r.restarts, RUNS - 1, summary);
  assert.equal(r.exitCodes, RUNS, summary);
  assert.equal(r.restartTimes[0], 1);
  for (let i = 1; i < r.restartTimes.length; i++) {
    assert.ok(
      r.restartTimes[i] > r.restartTimes[i - 1],
      `monitor.times went from ${r.restartTimes[i - 1]} to ${r.restartTimes[i]} at restart ${i + 1}`,
    );
  }
  assert.equal(r.restartTimes.at(-1), RUNS - 1);
  assert.equal(r.finalTimes, RUNS);
  assert.equal(r.running, false);

  // Resources back to the baseline taken after the warm-up.
  assert.ok(r.settled, `fds/threads did not come back to the baseline: ${summary}`);
  assert.ok(r.after.fds <= r.baseline.fds, `fd leak: ${summary}`);
  assert.ok(r.after.threads <= r.baseline.threads, `thread leak: ${summary}`);
  assert.ok(
    r.after.rss - r.baseline.rss < RSS_SLACK,
    `RSS grew by ${((r.after.rss - r.baseline.rss) / 1048576).toFixed(1)} MB: ${summary}`,
  );

  // No zombie among the host's children (ps --ppid <host> -o stat=, and /proc).
  assert.deepEqual(r.zombies, { ps: [], proc: [] }, summary);
});
