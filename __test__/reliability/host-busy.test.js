// Host busy: the core restarts a crashing child while the host's JS thread is blocked,
// and JS hears about every run afterwards, in order.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { fixture, runNode } = require('../helpers');

test('host JS blocked for 5 s while the child crashes twice: both restarts happen meanwhile, events follow in order', async (t) => {
  const stamps = path.join(os.tmpdir(), `fn-busy-stamps-${process.pid}-${Date.now()}`);
  t.after(() => fs.rmSync(stamps, { force: true }));
  // A subprocess host: its JS thread is the one blocked. It ends by itself after 'exit'.
  const { code, signal, stdout, stderr } = await runNode(
    [fixture('host-block-while-crashing.js'), stamps],
    { timeout: 30000 },
  );
  assert.equal(signal, null, stderr);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout.trim());

  // Each run appends its pid: all three runs (two restarts) happened while JS was blocked.
  assert.equal(report.stampsAtUnblock.length, 3, JSON.stringify(report));
  assert.deepEqual(
    fs.readFileSync(stamps, 'utf8').split('\n').filter(Boolean).map(Number),
    report.stampsAtUnblock,
    'no run after the block ended',
  );

  // JS heard about them afterwards, in order, each restart with the pid that ran.
  assert.deepEqual(
    report.events.map((e) => e.name),
    ['start', 'exit:code', 'restart', 'exit:code', 'restart', 'exit:code', 'exit'],
  );
  assert.deepEqual(
    report.events.filter((e) => e.name === 'start' || e.name === 'restart').map((e) => e.pid),
    report.stampsAtUnblock,
  );
  assert.deepEqual(
    report.events.filter((e) => e.name === 'exit:code').map((e) => [e.code, e.signal]),
    [
      [1, null],
      [1, null],
      [1, null],
    ],
  );
  assert.ok(
    report.events.slice(1).every((e) => e.afterBlock),
    'every event after the first came after the block',
  );
});
