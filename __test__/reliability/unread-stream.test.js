// A child's stream that nobody reads never holds the child, the core, a restart or the
// host's memory: each of four children writes 100 MB to a monitor.child.stdout that was made and never
// read, and the monitor still runs them all to their end while the host stays small.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fixture, runNode } = require('../helpers');
const { UNREAD_LIMIT } = require('../../child-process.js');

test(
  "an unread monitor.child.stdout holds neither a restart nor the host's memory (4 x 100 MB written)",
  { timeout: 120000 },
  async () => {
    const { code, stdout, stderr } = await runNode([fixture('host-unread-stream.js')], {
      timeout: 110000,
    });
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout.trim().split('\n').pop());
    assert.equal(result.runs, 4, 'every child ran to its end');
    assert.equal(result.held.length, 4);
    for (const bytes of result.held)
      assert.ok(bytes <= UNREAD_LIMIT, `a stream held ${bytes} bytes unread`);
    // 400 MB were written; the host kept at most its bound per stream (and the core stops
    // handing over what a full stream would drop), plus the GC's slack.
    assert.ok(result.growthMB < 80, `host RSS grew ${result.growthMB.toFixed(1)} MB`);
    assert.deepEqual(result.warnings, ['FOREVER_NATIVE_UNREAD_OUTPUT']);
  },
);

test(
  'a child that never reads its stdin: a writer that ignores backpressure is refused at the bound, and nothing blocks',
  { timeout: 60000 },
  async (t) => {
    const { Monitor } = require('../..');
    const { STDIN_LIMIT } = require('../../child-process.js');
    const { next } = require('../helpers');
    const m = new Monitor(fixture('run-forever.js'), { silent: true, max: 1 });
    t.after(() => m.running && m.stop());
    const started = next(m, 'start');
    m.start();
    await started;
    const stdin = m.child.stdin;
    const failed = next(stdin, 'error');
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let writes = 0;
    // Written in one go, never waiting for 'drain': each call returns at once.
    while (!stdin.destroyed && writes < (2 * STDIN_LIMIT) / chunk.length) {
      stdin.write(chunk);
      writes += 1;
    }
    const [err] = await failed;
    assert.equal(err.code, 'ERR_STDIN_BACKLOG');
    assert.ok(writes * chunk.length <= STDIN_LIMIT + 2 * chunk.length, `${writes} chunks taken`);
    // The child runs on, and the monitor still answers.
    assert.equal(m.running, true);
    const exited = next(m, 'exit');
    m.stop();
    await exited;
  },
);
