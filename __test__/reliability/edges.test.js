// The guarantees at their edges: no destination stalls a restart, no control call makes
// the JS thread wait, memory stays bounded, and no path can freeze the host.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { Monitor } = require('../..');
const { fixture, next, record, until, runNode } = require('../helpers');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-edges-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a host stdout nobody reads stalls neither restarts nor events, and stop() does not wait for it', async () => {
  // The host's stdout is a FIFO this test holds open and never reads.
  const fifo = path.join(dir, 'stalled-stdout');
  execFileSync('mkfifo', [fifo]);
  const held = fs.openSync(fifo, 'r+');
  const host = spawn(process.execPath, [fixture('host-stalled-stdout.js')], {
    stdio: ['ignore', held, 'pipe'],
  });
  const lines = [];
  let text = '';
  host.stderr.on('data', (d) => {
    text += d;
    let nl;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  try {
    await until(
      () => lines.some((l) => l.event === 'stopped'),
      15000,
      `the whole sequence (${JSON.stringify(lines)})`,
    );
  } finally {
    host.kill('SIGKILL');
    fs.closeSync(held);
  }
  const events = lines.map((l) => l.event);
  assert.deepEqual(events.filter((e) => e === 'exit:code').length, 3, JSON.stringify(lines));
  assert.equal(events.filter((e) => e === 'restart').length, 2);
  const stop = lines.find((l) => l.event === 'stop() returned');
  assert.ok(stop.took < 100, `stop() held the JS thread ${stop.took} ms`);
  assert.deepEqual(
    lines.filter((l) => l.event === 'error' || l.raw),
    [],
    'no error, nothing else on stderr',
  );
});

test('300 crash-looping monitors: start() and stop() hand their work to the core and return', async () => {
  const { code, stdout, stderr } = await runNode([fixture('host-call-latency.js'), '300', '1000'], {
    timeout: 60000,
  });
  assert.equal(code, 0, stderr);
  const figures = JSON.parse(stdout);
  // Bounds far above what the core needs (figures in bench/), far below what waiting for
  // a busy core costs (11.6 s to start them, 15.3 s to stop them, before).
  assert.ok(figures.startTotal < 4000, JSON.stringify(figures));
  assert.ok(figures.stopTotal < 1000, JSON.stringify(figures));
  assert.ok(figures.stopWorst < 100, JSON.stringify(figures));
  assert.ok(figures.restarts > 300, `the monitors did crash-loop: ${JSON.stringify(figures)}`);
});

// A build with test hooks (npm test makes one under target/test-hooks) can hold the core's
// spawns: each case calls usage(), listenAddresses(), send() and stop() while a spawn that
// forks is held, and proves structurally (no timing) that none of them waited for it.
const hooked = path.join(
  __dirname,
  '..',
  '..',
  'target',
  'test-hooks',
  'forever-native.linux-x64-gnu.node',
);
for (const [what, options] of [
  ['restart', { fork: true }],
  ['restart', { listen: '127.0.0.1:0' }],
  ['reload', { listen: '127.0.0.1:0' }],
]) {
  test(`no call waits for a spawn: stop() and usage() during a held ${what} spawn (${Object.keys(options)[0]})`, async () => {
    const { code, stdout, stderr } = await runNode(
      [fixture('host-held-spawn.js'), what, JSON.stringify(options)],
      {
        env: { ...process.env, FOREVER_NATIVE_ADDON: hooked },
        timeout: 30000,
      },
    );
    assert.equal(code, 0, stderr + stdout);
    const seen = JSON.parse(stdout);
    assert.equal(seen.heldAfterCalls, true, 'the spawn was still held when the calls had returned');
    assert.equal(seen.released, true, 'the release found the spawn held: no call waited for it');
    // The child being spawned counts as running; a reload's old child serves on meanwhile.
    assert.equal(seen.usage.state, 'running', JSON.stringify(seen));
    assert.equal(seen.listening, options.listen ? 1 : 0);
    assert.equal(seen.running, false);
    // The held child was spawned once released, then stopped as stop() said.
    assert.equal(seen.pids.length, 2, JSON.stringify(seen));
    if (what === 'restart') {
      // Between two children: no pid yet, and send() is refused as forever-monitor refuses it.
      assert.equal(seen.usage.pid, null);
      assert.deepEqual(
        seen.errors,
        ['Cannot send to process that is not running.'],
        JSON.stringify(seen),
      );
      assert.deepEqual(seen.events, ['start', 'restart', 'exit', 'stop'], JSON.stringify(seen));
    } else {
      assert.equal(seen.usage.pid, seen.pids[0]);
      assert.deepEqual(seen.errors, [], JSON.stringify(seen));
      assert.deepEqual(
        seen.events,
        ['start', 'reload:starting:', 'reload:failed:stopped', 'exit', 'stop'],
        JSON.stringify(seen),
      );
    }
  });
}

test('output for a blocked JS thread stays within its bound across a crash loop', async () => {
  const { code, stdout, stderr } = await runNode([fixture('host-blocked-output.js'), '4000'], {
    timeout: 30000,
  });
  assert.equal(code, 0, stderr);
  const { grewMB, bytes, runs } = JSON.parse(stdout);
  // The bound is 8 MiB for JS, plus the run's pipe; before, +911 MB in 4 s here.
  assert.ok(grewMB < 48, `host RSS grew ${grewMB.toFixed(1)} MB while JS was blocked`);
  assert.ok(bytes > 0 && runs >= 1, `output did flow: ${bytes} bytes, ${runs} restarts`);
});

test('an IPC message without end is cut off at 64 MiB: an error, the channel closed, memory kept', async () => {
  // A child that writes 300 MB on its IPC channel without a newline.
  const m = new Monitor(['sh', '-c', 'head -c 300000000 /dev/zero | tr "\\0" x >&3; sleep 5'], {
    silent: true,
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
  });
  const before = process.memoryUsage().rss;
  const failed = next(m, 'error', 30000);
  m.start();
  const [err] = await failed;
  const grew = (process.memoryUsage().rss - before) / 1048576;
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.equal(err.code, 'ERR_IPC_MESSAGE_TOO_LARGE');
  assert.match(err.message, /67108864 bytes/);
  assert.ok(grew < 160, `host RSS grew ${grew.toFixed(0)} MB`);
});

test('1,000 monitors with log files cost no thread and no descriptor each before start()', async () => {
  const threads = () => fs.readdirSync('/proc/self/task').length;
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  // The core is up already (other monitors in this process): count from here.
  const warm = new Monitor(['true'], { outFile: path.join(dir, 'warm.log') });
  await until(() => fs.existsSync(path.join(dir, 'warm.log')), 5000, 'the warm-up log');
  const before = { threads: threads(), fds: fds() };
  const monitors = [];
  for (let i = 0; i < 1000; i++) {
    monitors.push(
      new Monitor(['true'], { outFile: path.join(dir, `many-${i}.log`), silent: true }),
    );
  }
  await until(
    () => fs.existsSync(path.join(dir, 'many-999.log')),
    10000,
    'every log file to be created',
  );
  const after = { threads: threads(), fds: fds() };
  assert.ok(after.threads <= before.threads + 4, `threads ${before.threads} -> ${after.threads}`);
  await until(
    () => fds() <= before.fds + 4,
    5000,
    `descriptors back near ${before.fds} (${fds()})`,
  );
  assert.equal(monitors.length + (warm ? 1 : 0), 1001);
});

for (const when of ['at-construction', 'while-running']) {
  test(`a FIFO planted at the log path ${when.replace('-', ' ')} freezes nothing: errors, restarts and stop() still come`, async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'fifo-'));
    const lines = [];
    const { code, stderr } = await runNode([fixture('host-fifo-log.js'), sub, when], {
      timeout: 15000,
      onLine: (line) => lines.push(JSON.parse(line)),
    });
    assert.equal(code, 0, stderr);
    const steps = lines.map((l) => l.step);
    assert.equal(steps[0], 'constructed');
    assert.ok(steps.includes('restart'), JSON.stringify(lines));
    assert.ok(steps.includes('stopped'), JSON.stringify(lines));
    const returned = lines.find((l) => l.step === 'stop() returned');
    assert.ok(returned.took < 100, `stop() took ${returned.took} ms`);
    const errors = lines.filter((l) => l.step === 'error');
    assert.ok(errors.length >= 1, 'the FIFO is reported');
    assert.ok(
      errors.every((e) => e.path === path.join(sub, 'out.log')),
      JSON.stringify(errors),
    );
    assert.ok(
      errors.every((e) => e.code === 'ENXIO' || /FIFO/.test(e.message)),
      JSON.stringify(errors),
    );
  });
}

test('a log directory that cannot be made is one error for the whole episode, not one a second', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'gone-'));
  const outFile = path.join(sub, 'out.log');
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], {
    silent: true,
    outFile,
  });
  await until(() => fs.existsSync(outFile), 5000, 'the log file');
  const errors = record(m, 'error');
  m.start();
  await until(() => fs.statSync(outFile).size > 0, 5000, 'first output');
  // A missing directory is made again: a file in its place cannot be.
  fs.rmSync(sub, { recursive: true });
  fs.writeFileSync(sub, '');
  await until(() => errors.length > 0, 5000, 'the error');
  // The file is retried each second meanwhile; three more seconds of output bring no more.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.equal(errors.length, 1, errors.map(([e]) => e.message).join('\n'));
  assert.equal(errors[0][0].path, outFile);
});
