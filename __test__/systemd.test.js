// The CLI under systemd's Type=notify: a fake notify socket made here (as systemd makes one
// for its service) hears READY, STATUS, RELOADING and STOPPING in order, and the watchdog's
// pings; the children never see the CLI's NOTIFY_SOCKET.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { fixture, has, until, follow } = require('./helpers');
const systemd = require('../bin/systemd.js');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');
const noPython = !has('python3') && 'python3 is needed to bind a Unix datagram socket';

/** A fake notify socket at `address` (a path, or @name): resolves once it is bound. */
async function notifySocket(t, address, busySeconds = 0) {
  const receiver = spawn('python3', [fixture('notify-receiver.py'), address, String(busySeconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => receiver.kill('SIGKILL'));
  const datagrams = follow(receiver.stdout, (line) =>
    line === 'bound' ? { bound: true } : JSON.parse(line),
  );
  await datagrams.when((d) => d.bound, 'the notify socket to be bound');
  return datagrams;
}

/** The CLI with `env` added, its --json status lines followed. */
function runCli(t, args, env) {
  const child = spawn(process.execPath, [BIN, '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  t.after(() => child.kill('SIGKILL'));
  const events = follow(child.stderr, (line) => JSON.parse(line));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, events, exited };
}

const fields = (d) => d.text.split('\n');
const has1 = (name) => (d) => d.text !== undefined && fields(d).includes(`${name}=1`);

test(
  'Type=notify: READY once the app is ready, STATUS, RELOADING with MONOTONIC_USEC then READY around a SIGHUP reload, STOPPING',
  { skip: noPython, timeout: 60000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-sd-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const address = path.join(dir, 'notify.sock');
    const socket = await notifySocket(t, address);
    const { child, events, exited } = runCli(
      t,
      ['--fork', '--waitReady', '--reloadOnHup', fixture('ready-after.js'), '300'],
      { NOTIFY_SOCKET: address },
    );
    const ready = await socket.when(has1('READY'), 'READY=1');
    const readyEvent = await events.when((e) => e.event === 'ready', "the CLI's ready line");
    // With waitReady, READY waits for the child: its start was told before, as a STATUS alone.
    const first = socket.seen.findIndex((d) => d.text !== undefined);
    assert.ok(socket.seen.indexOf(ready) > first, 'a STATUS came before READY');
    assert.match(
      socket.seen[first].text,
      /^STATUS=ready-after\.js: running \(pid \d+, 0 restarts\)$/,
    );
    assert.match(
      ready.text,
      new RegExp(`STATUS=ready-after\\.js: running \\(pid ${readyEvent.pid}, 0 restarts\\)`),
    );

    const before = process.hrtime.bigint() / 1000n;
    const hupAt = socket.seen.length;
    child.kill('SIGHUP');
    const reloading = await socket.when(has1('RELOADING'), 'RELOADING=1', hupAt);
    const monotonic = /^MONOTONIC_USEC=(\d+)$/m.exec(reloading.text);
    assert.ok(monotonic, reloading.text);
    // systemd's CLOCK_MONOTONIC, which is Node's hrtime on Linux: taken at the SIGHUP.
    assert.ok(BigInt(monotonic[1]) >= before, `${monotonic[1]} >= ${before}`);
    assert.ok(BigInt(monotonic[1]) <= process.hrtime.bigint() / 1000n);
    const from = socket.seen.indexOf(reloading) + 1;
    const reloaded = await socket.when(has1('READY'), 'READY=1 after the reload', from);
    const took = await events.when((e) => e.event === 'reload' && e.phase === 'ready', 'reload');
    // READY only once the new child took over: nothing between RELOADING and it said READY.
    assert.equal(
      socket.seen.slice(from, socket.seen.indexOf(reloaded)).filter(has1('READY')).length,
      0,
    );
    await socket.when(
      (d) => d.text !== undefined && d.text.includes(`(pid ${took.newPid}, 1 restart)`),
      'a STATUS with the new child',
      from,
    );

    const stopAt = socket.seen.length;
    child.kill('SIGTERM');
    await socket.when(has1('STOPPING'), 'STOPPING=1', stopAt);
    assert.equal(await exited, 0);

    const told = socket.seen.filter((d) => d.text !== undefined);
    const order = told
      .flatMap(fields)
      .filter((f) => /^(READY|RELOADING|STOPPING)=/.test(f))
      .map((f) => f.split('=')[0]);
    assert.deepEqual(order, ['READY', 'RELOADING', 'READY', 'STOPPING']);
    // All from the CLI itself, as NotifyAccess=main wants.
    assert.deepEqual([...new Set(told.map((d) => d.pid))], [child.pid]);
  },
);

test(
  'WATCHDOG_USEC: the core pings WATCHDOG=1 to an abstract socket; the children see none of the CLI systemd variables',
  { skip: noPython, timeout: 60000 },
  async (t) => {
    const address = `@forever-native-test/${process.pid}/${Date.now()}`;
    const socket = await notifySocket(t, address);
    const { child, events, exited } = runCli(t, [fixture('print-env.js')], {
      NOTIFY_SOCKET: address,
      WATCHDOG_USEC: '200000',
      WATCHDOG_PID: undefined,
    });
    // Several pings, whatever the child does (print-env.js exits at once and is restarted).
    const pings = () => socket.seen.filter((d) => d.text === 'WATCHDOG=1').length;
    await until(() => pings() >= 3, 20000, 'three pings');
    assert.ok(socket.seen.every((d) => d.bound || d.pid === child.pid));
    const env = JSON.parse(
      await new Promise((resolve) =>
        readline.createInterface({ input: child.stdout }).once('line', resolve),
      ),
    ).env;
    for (const name of systemd.SYSTEMD_ENV) assert.equal(env[name], undefined, name);
    await events.when((e) => e.event === 'start', 'the start line');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  },
);

test(
  'WATCHDOG_PID naming another process asks no pings of the CLI; a notify socket that is gone is one warning line',
  { skip: noPython, timeout: 60000 },
  async (t) => {
    const address = `@forever-native-test/${process.pid}/${Date.now()}/other`;
    const socket = await notifySocket(t, address);
    const { child, events, exited } = runCli(t, [fixture('run-forever.js')], {
      NOTIFY_SOCKET: address,
      WATCHDOG_USEC: '20000',
      WATCHDOG_PID: String(process.pid),
    });
    await socket.when(has1('READY'), 'READY=1');
    const gone = path.join(os.tmpdir(), `fn-sd-none-${process.pid}.sock`);
    // A second CLI whose socket does not exist: it runs on, with one warning.
    const lost = runCli(t, [fixture('run-forever.js')], { NOTIFY_SOCKET: gone });
    await lost.events.when((e) => e.event === 'start', 'the start line');
    const warning = await lost.events.when((e) => e.event === 'warning', 'a warning');
    assert.match(warning.message, /cannot notify systemd at .*fn-sd-none/);
    const started = socket.seen.length;
    child.kill('SIGHUP');
    await events.when((e) => e.event === 'restart', 'the restart');
    await socket.when(has1('READY'), 'READY=1 after the restart', started);
    assert.equal(socket.seen.filter((d) => d.text === 'WATCHDOG=1').length, 0, 'no pings');
    lost.child.kill('SIGHUP');
    await lost.events.when((e) => e.event === 'restart', 'the restart');
    lost.child.kill('SIGTERM');
    assert.equal(await lost.exited, 0);
    assert.equal(lost.events.seen.filter((e) => e.event === 'warning').length, 1);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  },
);

test(
  'a busy systemd (its queue full, EAGAIN) still gets READY=1, then STOPPING=1: state is never dropped',
  { skip: noPython, timeout: 60000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-sd-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const address = path.join(dir, 'notify.sock');
    // The queue is full when the CLI starts its app, and stays so for 1.5 s.
    const socket = await notifySocket(t, address, 1.5);
    const { child, exited } = runCli(t, [fixture('run-forever.js')], { NOTIFY_SOCKET: address });
    const ready = await socket.when(has1('READY'), 'READY=1 after the queue drained');
    child.kill('SIGTERM');
    const stopping = await socket.when(has1('STOPPING'), 'STOPPING=1');
    assert.ok(socket.seen.indexOf(stopping) > socket.seen.indexOf(ready));
    await exited;
  },
);

test('the STATUS text names each app with its pid, restarts and last exit', () => {
  const app = (fields) => ({
    name: 'web',
    runs: 1,
    pid: 10,
    ended: false,
    monitor: { child: {}, running: true },
    ...fields,
  });
  assert.equal(systemd.appStatus(app({})), 'web: running (pid 10, 0 restarts)');
  assert.equal(
    systemd.appStatus(app({ runs: 3, lastExit: { code: 1, signal: null } })),
    'web: running (pid 10, 2 restarts, last exit code 1)',
  );
  assert.equal(
    systemd.appStatus(
      app({ runs: 2, monitor: { child: null }, lastExit: { code: null, signal: 'SIGKILL' } }),
    ),
    'web: restarting (1 restart, last exit signal SIGKILL)',
  );
  // Between an exit and the next start the old child object stays, but nothing runs.
  assert.equal(
    systemd.appStatus(
      app({ runs: 2, monitor: { child: {}, running: false }, lastExit: { code: 1, signal: null } }),
    ),
    'web: restarting (1 restart, last exit code 1)',
  );
  assert.equal(
    systemd.appStatus(app({ ended: true, exitCode: 3, lastExit: { code: 3, signal: null } })),
    'web: ended (exit code 3) (0 restarts, last exit code 3)',
  );
});

test(
  "-i with --reloadOnHup: READY after a SIGHUP once the roll's last new child took over, and after a roll that stopped early",
  { skip: noPython, timeout: 90000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-sd-i-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const address = path.join(dir, 'notify.sock');
    const socket = await notifySocket(t, address);
    const { child, events, exited } = runCli(
      t,
      [
        '-i',
        '2',
        '--listen',
        '127.0.0.1:0',
        '--fork',
        '--waitReady',
        '--reloadOnHup',
        fixture('listen-server.js'),
      ],
      { NOTIFY_SOCKET: address, FAIL_FILE: path.join(dir, 'fail-%i') },
    );
    await socket.when(has1('READY'), 'READY=1');
    const roll = async (what) => {
      const hupAt = socket.seen.length;
      const eventsAt = events.seen.length;
      child.kill('SIGHUP');
      const reloading = await socket.when(has1('RELOADING'), 'RELOADING=1', hupAt);
      const from = socket.seen.indexOf(reloading) + 1;
      await socket.when(has1('READY'), `READY=1 after ${what}`, from);
      return events.seen.slice(eventsAt);
    };
    // A whole roll: READY comes after instance 1's new child took over, not instance 0's.
    await roll('the roll');
    const tookOver = await events.when(
      (e) => e.event === 'reload' && e.phase === 'ready' && e.instance === 1,
      "instance 1's new child taking over",
    );
    const readyAt = socket.seen.filter(has1('READY')).length;
    assert.equal(readyAt, 2);
    assert.ok(tookOver);
    // Instance 0's new child fails: the roll stops there, and READY still comes.
    fs.writeFileSync(path.join(dir, 'fail-0'), 'exit');
    await roll('a roll that stopped at instance 0');
    await events.when(
      (e) => e.event === 'error' && e.code === 'ERR_RELOAD_FAILED' && e.instance === 0,
      "the roll's failure",
    );
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  },
);
