// Nothing is orphaned: what a crashed child leaves, what a killTree: false child leaves, a
// host killed in the middle of restarts, a guardian killed by mistake. Each case marks its
// processes with a unique `sleep` time and looks for them in /proc afterwards.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const { Monitor } = require('../..');
const { fixture, next, isAlive, until, runNode, processesWith, marker } = require('../helpers');

/** Kills whatever is left with `mark` once the test is over, whatever it found. */
function sweep(t, mark) {
  t.after(() => {
    for (const pid of processesWith(mark)) process.kill(pid, 'SIGKILL');
  });
}

/** Runs host-script.js with `plan`; `onLine` sees each JSON line and the host process. */
function host(plan, onLine, timeout = 20000) {
  return runNode([fixture('host-script.js'), JSON.stringify(plan)], {
    timeout,
    onLine: (line, child) => onLine(JSON.parse(line), child),
  });
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

test('a crashed child takes what it left with it, in its group or in a session of its own', async (t) => {
  const mark = marker();
  sweep(t, mark);
  // Each run prints the pids of what it leaves: a sleep in its group, one in a session
  // of its own.
  const script = `sleep ${mark} & echo $!; setsid sleep ${mark} & echo $!; sleep 0.2; exit 1`;
  const m = new Monitor(['sh', '-c', script], { max: 3, silent: true });
  let out = '';
  const alive = [];
  m.on('stdout', (chunk) => (out += chunk));
  // A run's output comes before its exit, and the next run starts once what it left is
  // gone: at each 'restart', the leftovers printed so far are dead.
  m.on('restart', () => {
    const pids = out.trim().split('\n').map(Number);
    alive.push(pids.filter(isAlive));
  });
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(
    alive,
    [[], []],
    'the leftovers of each run were gone when the next one started',
  );
  const pids = out.trim().split('\n').map(Number);
  assert.equal(pids.length, 6);
  await until(
    () => pids.every((pid) => !isAlive(pid)),
    5000,
    'the leftovers of the last run to die',
  );
  assert.deepEqual(processesWith(mark), []);
});

test("the EADDRINUSE loop: a crashed child's worker no longer holds the port the next child needs", async (t) => {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {net.AddressInfo} */ (probe.address());
  await new Promise((resolve) => probe.close(resolve));
  const m = new Monitor(fixture('port-worker.js'), { args: [String(port)], max: 3, silent: true });
  let out = '';
  m.on('stdout', (chunk) => (out += chunk));
  t.after(() => {
    for (const pid of processesWith(`port-worker.js ${port} worker`)) process.kill(pid, 'SIGKILL');
  });
  // Each run starts two node processes: a generous bound for a loaded machine.
  const exited = next(m, 'exit', 60000);
  m.start();
  await exited;
  const lines = out.trim().split('\n');
  assert.deepEqual(
    lines,
    [`listening ${port}`, `listening ${port}`, `listening ${port}`],
    "each run's worker got the port",
  );
});

test('crash after crash, leftovers holding the pipes: no process and no descriptor piles up', async (t) => {
  const mark = marker();
  sweep(t, mark);
  // The core's one-time descriptors (its runtime, the guardian) are there before counting.
  const warm = new Monitor(['true'], { max: 1, silent: true });
  const warmed = next(warm, 'exit');
  warm.start();
  await warmed;
  const before = openFds();
  const m = new Monitor(['sh', '-c', `setsid sleep ${mark} & exit 1`], { max: 30, silent: true });
  const exited = next(m, 'exit', 30000);
  m.start();
  await exited;
  await until(() => processesWith(mark).length === 0, 5000, "every run's leftover to die");
  await until(
    () => openFds() <= before + 2,
    5000,
    `descriptors back near ${before} (now ${openFds()})`,
  );
});

test('host SIGKILLed when its crashed child gives up: nothing the child left survives', async (t) => {
  const mark = marker();
  sweep(t, mark);
  const script = `sleep ${mark} & setsid sleep ${mark} & sleep 0.3; exit 1`;
  const outcome = await host(
    {
      monitors: [{ script: ['sh', '-c', script], options: { max: 3 } }],
      on: { exit: 'sigkill' },
    },
    () => {},
  );
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  await until(
    () => processesWith(mark).length === 0,
    2000,
    `the leftovers to die with the host (${processesWith(mark)})`,
  );
});

test('host SIGKILLed in the middle of a restart storm, five times: no child survives', async (t) => {
  const mark = marker();
  sweep(t, mark);
  for (let round = 0; round < 5; round++) {
    const monitors = Array.from({ length: 40 }, () => ({ script: ['sleep', mark], options: {} }));
    const outcome = await host(
      { monitors, restartStorm: 150 + Math.floor(Math.random() * 250) },
      () => {},
    );
    assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
    await until(
      () => processesWith(mark).length === 0,
      2000,
      `round ${round}: every child to die with the host (left: ${processesWith(mark).length})`,
    );
  }
});

test("killTree: false leaves a stopped child's leftovers running, but not past the host's death", async (t) => {
  const mark = marker();
  sweep(t, mark);
  let leftovers = null;
  const outcome = await host(
    {
      monitors: [
        { script: ['sh', '-c', `sleep ${mark} & exit 0`], options: { max: 1, killTree: false } },
      ],
      stay: true,
    },
    (line, child) => {
      if (line.event !== 'exit') return;
      // The child has exited; what it left still runs (the host's own command line holds
      // the mark too: it is left out)...
      const left = () => processesWith(mark).filter((pid) => pid !== child.pid);
      until(() => left().length === 1, 2000, 'the leftover').then(
        () => {
          leftovers = left();
          child.kill('SIGKILL');
        },
        () => child.kill('SIGKILL'),
      );
    },
  );
  assert.equal(outcome.signal, 'SIGKILL');
  assert.equal(leftovers && leftovers.length, 1, 'the leftover ran on after the child exited');
  // ...until the host dies.
  await until(
    () => leftovers.every((pid) => !isAlive(pid)),
    2000,
    'the leftover to die with the host',
  );
});

/** The guardian of host `pid`, found by its command line. */
const guardianOf = (pid) => processesWith(`forever-guard (host ${pid})`);

test('the guardian has a command line of its own, and a killed guardian is replaced with a warning', async (t) => {
  const mark = marker();
  sweep(t, mark);
  const facts = {};
  const outcome = await host(
    { monitors: [{ script: ['sleep', mark], options: {} }] },
    (line, child) => {
      if (line.event === 'start') {
        facts.host = child.pid;
        // The guardian takes its name a moment after it starts (it is not waited for).
        until(() => guardianOf(child.pid).length > 0, 5000, 'the guardian to take its name').then(
          () => {
            const [guardian] = guardianOf(child.pid);
            facts.first = guardian;
            // `pkill -f host-script.js` aimed at the host would find the host alone (of this
            // test: the mark tells it from other tests' hosts).
            facts.matchingHost = processesWith('host-script.js', mark);
            process.kill(guardian, 'SIGKILL');
          },
          () => child.kill('SIGKILL'),
        );
      }
      if (line.event === 'warning') {
        facts.warning = line;
        until(
          () => guardianOf(child.pid).some((pid) => pid !== facts.first),
          2000,
          'a new guardian',
        ).then(
          () => {
            facts.second = guardianOf(child.pid)[0];
            child.kill('SIGKILL');
          },
          () => child.kill('SIGKILL'),
        );
      }
    },
  );
  assert.equal(outcome.signal, 'SIGKILL', outcome.stderr);
  assert.ok(facts.first > 0, 'a guardian ran');
  assert.deepEqual(facts.matchingHost, [facts.host]);
  assert.equal(facts.warning && facts.warning.code, 'FOREVER_NATIVE_GUARDIAN');
  assert.match(facts.warning.message, /guardian .* died and was replaced/);
  assert.ok(facts.second > 0 && facts.second !== facts.first, 'a new guardian took over');
  // The new guardian does its job: the child dies with the host.
  await until(() => processesWith(mark).length === 0, 2000, 'the child to die with the host');
});
