// Resource exhaustion: a host out of file descriptors, and a child flooding its stdout.
// (Log writes to /dev/full are in logs.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { spawn } = require('child_process');
const { Monitor } = require('../..');
const { fixture, next, isAlive, until, processesWith } = require('../helpers');

const FD_LIMIT = 64;

/**
 * Runs a fixture host under `ulimit -n 64`; resolves with {code, signal, steps, stderr}
 * (steps: its stdout's JSON lines) once it exits. `onStep(step, host)` sees each line as
 * it comes. The host is SIGKILLed after the test if it is still running.
 */
function runLimited(t, args, onStep = () => {}) {
  const host = spawn(
    'sh',
    ['-c', `ulimit -n ${FD_LIMIT} && exec "$@"`, 'sh', process.execPath, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => {
    if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
  });
  const steps = [];
  let stdout = '';
  let stderr = '';
  host.stdout.on('data', (chunk) => {
    stdout += chunk;
    let nl;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      const step = JSON.parse(stdout.slice(0, nl));
      stdout = stdout.slice(nl + 1);
      steps.push(step);
      onStep(step, host);
    }
  });
  host.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => {
    host.on('exit', (code, signal) => resolve({ code, signal, steps, stderr }));
  });
}

const byStep = (steps) => Object.fromEntries(steps.map((s) => [s.step, s]));

async function exhaustThenRecover(t, mode) {
  const { code, signal, steps, stderr } = await runLimited(t, [
    fixture('host-fd-exhaustion.js'),
    mode,
  ]);
  const s = byStep(steps);
  const report = JSON.stringify(steps);
  assert.equal(signal, null, `${report}\n${stderr}`);
  assert.equal(code, 0, `${report}\n${stderr}`);
  assert.equal(s.exhausted.limit, FD_LIMIT, report);
  // With two fds left, start() neither throws nor starts: it emits an EMFILE 'error'...
  assert.equal(s.start.threw, null, `start() threw: ${report}`);
  assert.equal(s.start.started, null, report);
  assert.equal(s.start.error && s.start.error.code, 'EMFILE', report);
  assert.match(s.start.error.message, /EMFILE/, report);
  // ...and what it had opened on the way is closed again. (Not "equal": the warm-up
  // child's last pipe end may be closed by the core just after its 'stop' was delivered.)
  assert.ok(s.start.fdsAfter <= s.start.fdsBefore, `fd leak: ${report}`);
  // Once fds are free again, the same monitor starts (and stops) normally.
  assert.equal(s.restart.threw, null, report);
  assert.equal(s.restart.error, null, report);
  assert.ok(s.restart.started > 0, report);
  assert.deepEqual(s.stopped.uncaught, [], report);
}

test('out of fds: start() emits an EMFILE error, the host lives on, and start() works once fds are free', async (t) => {
  // 'warm': a monitor has run before, as in a host that has been supervising for a while.
  await exhaustThenRecover(t, 'warm');
});

test('out of fds at the very first start(): EMFILE error event, then start() works once fds are free', async (t) => {
  await exhaustThenRecover(t, 'cold');
});

test('out of fds at the first spawn: once start() works again, the children still die with their host', async (t) => {
  let pids = [];
  let guardians = [];
  t.after(() => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const { signal, steps, stderr } = await runLimited(
    t,
    [fixture('host-fd-pressure.js')],
    (step, host) => {
      pids = [step.tree.pid, ...step.tree.grandchildren];
      // The child started only with its guardian up: without it, the child alone would die
      // with the host (its parent-death signal), and its own children would live on.
      guardians = processesWith(`forever-guard (host ${host.pid})`);
      host.kill('SIGKILL');
    },
  );
  assert.equal(signal, 'SIGKILL', stderr);
  assert.equal(guardians.length, 1, 'a guardian watched the host when its first child started');
  // A guardian started by a host at its descriptor limit lives (it died at birth, before).
  assert.doesNotMatch(stderr, /guardian \(pid \d+\) died/);
  const [{ failures }] = steps;
  assert.ok(failures.length > 0, 'some starts failed first');
  assert.ok(
    failures.every((f) => f.code === 'EMFILE'),
    JSON.stringify(failures),
  );
  await until(
    () => pids.every((pid) => !isAlive(pid)),
    1500,
    `the tree to die with its host (alive: ${pids.filter(isAlive)}; failures: ${JSON.stringify(failures)})`,
  );
});

test('a child flooding stdout with nobody listening (silent): host RSS stays bounded', async (t) => {
  const m = new Monitor(['yes', 'xxxxxxxxxxxxxxxx'], { silent: true });
  t.after(async () => {
    if (m.running) {
      const stopped = next(m, 'stop', 5000).catch(() => {});
      m.stop();
      await stopped;
    }
  });
  const errors = [];
  m.on('error', (err) => errors.push(err));
  m.start();
  await next(m, 'start');
  const pid = m.child.pid;
  const written = () =>
    Number(/^wchar:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  // 1 GB of output: several seconds' worth for a pipe read by a slow host; the host's RSS
  // is sampled all along.
  const GOAL = 1e9;
  await until(
    () => {
      peak = Math.max(peak, process.memoryUsage().rss);
      return written() > GOAL;
    },
    60000,
    `the child to write ${GOAL} bytes`,
  );
  assert.ok(isAlive(pid), 'the child was flooding all along, never blocked for good or killed');
  const growth = peak - baseline;
  assert.ok(growth < 50 * 1024 * 1024, `host RSS grew by ${(growth / 1048576).toFixed(1)} MB`);

  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.deepEqual(errors, []);
  t.diagnostic(
    `host RSS growth while the child wrote ${GOAL} bytes: ${(growth / 1048576).toFixed(1)} MB`,
  );
});
