// Worker threads: monitors created inside a worker_threads Worker work, and terminating
// the worker stops their children. In a subprocess host, so that a crash at worker
// teardown could not take the test process down.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fixture, isAlive, runNode } = require('../helpers');

test('monitors inside a Worker start, emit stdout, restart, talk IPC; worker.terminate() stops their children', async (t) => {
  const N = 3;
  let report = null;
  t.after(() => {
    if (!report) return;
    for (const pid of [...report.pids, report.restarted, report.ipcPid])
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const { code, signal, stdout, stderr } = await runNode(
    [fixture('host-worker-monitors.js'), String(N)],
    {
      timeout: 30000,
      onLine: (line) => {
        const message = JSON.parse(line);
        if (message.pids) report = message;
      },
    },
  );
  // The host exits by itself once the worker is gone: nothing of the monitors holds it.
  assert.equal(signal, null, stderr);
  assert.equal(code, 0, stderr);
  const lines = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.equal(lines.length, 2, stdout);
  const [, end] = lines;

  // In the worker: N children started, each said "ready <pid>" through a 'stdout' event,
  // and the first was restarted into a new child.
  assert.equal(report.pids.length, N);
  assert.equal(new Set(report.pids).size, N);
  assert.ok(!report.pids.includes(report.restarted));
  assert.deepEqual(report.childPids, [report.restarted, ...report.pids.slice(1)]);
  assert.deepEqual(report.running, Array(N).fill(true));
  assert.deepEqual(report.events.filter((e) => !e.startsWith('0:')).sort(), ['1:start', '2:start']);
  assert.deepEqual(
    report.events.filter((e) => e.startsWith('0:')),
    ['0:start', '0:exit:code', '0:stop', '0:restart'],
  );

  // A forked child's IPC channel works in a Worker too (it is read on the Worker's loop,
  // whose handles must all be closed when the Worker ends).
  assert.deepEqual(report.echo.message, { from: 'worker' });

  // worker.terminate(): the host, still alive, saw every child die.
  assert.deepEqual(end.survivors, [], `children alive after worker.terminate(): ${end.survivors}`);
  assert.equal(typeof end.terminated, 'number');
});
