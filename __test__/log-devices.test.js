// Log destinations that are not files: the host's own /dev/stdout and /dev/stderr (a pipe
// or a file, as a container or a shell gives them), /dev/fd/N, character devices and
// FIFOs. They are streamed (never rotated), bounded, and a reader that stalls holds
// neither the host nor a restart. A symlink planted at a log path is still refused.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { Monitor } = require('..');
const { fixture, next, record, until, runNode, stopAfter } = require('./helpers');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-devices-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => fs.mkdtempSync(path.join(root, `${n++}-`));

/** Asserts `text` holds `out 0` … `out <count - 1>` (print-both.js) once each, in order. */
function assertLines(text, prefix, count) {
  const got = text
    .split('\n')
    .filter((l) => l.startsWith(`${prefix} `))
    .map((l) => Number(l.split(' ')[1]));
  assert.equal(got.length, count, `${count} ${prefix} lines`);
  got.forEach((v, i) => assert.equal(v, i, 'in order, none lost or twice'));
}

for (const [out, err, options] of [
  ['/dev/stdout', '/dev/stderr', {}],
  ['/dev/fd/1', '/dev/fd/2', {}],
  // Rotation options are ignored for a stream; its lines stay whole.
  [
    '/proc/self/fd/1',
    '/proc/self/fd/2',
    { logMaxSize: 1000, logRotate: 'hourly', logCompress: true },
  ],
]) {
  test(`outFile ${out} and errFile ${err} when they are pipes (a container's)${options.logMaxSize ? ', with rotation options' : ''}: every line, and the host lives`, async () => {
    const count = 20000;
    const { code, stdout, stderr } = await runNode([
      fixture('host-dev-log.js'),
      out,
      err,
      String(count),
      JSON.stringify(options),
    ]);
    assert.equal(code, 0, stderr);
    const lines = stdout.split('\n');
    assert.equal(lines[0], 'host before');
    assert.equal(lines[lines.length - 2], 'host after', 'every line came before the exit');
    assertLines(stdout, 'out', count);
    assertLines(stderr, 'err', count);
  });
}

test('outFile /dev/stdout when fd 1 is a file: the lines land after what the host wrote, and what it writes next after them', async () => {
  const dir = freshDir();
  const file = path.join(dir, 'host.out');
  const fd = fs.openSync(file, 'w');
  const count = 20000;
  const child = spawn(
    process.execPath,
    [fixture('host-dev-log.js'), '/dev/stdout', '-', String(count)],
    { stdio: ['ignore', fd, 'pipe'] },
  );
  fs.closeSync(fd);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await next(child, 'close', 20000);
  assert.equal(code, 0, stderr);
  // The core writes through the host's own descriptor (its offset), not a second one
  // that the host's later writes would overwrite.
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  assert.equal(lines[0], 'host before');
  assert.equal(lines[lines.length - 2], 'host after');
  assertLines(text, 'out', count);
  assert.equal(lines.length, count + 3);
});

test('a FIFO with a reader is a destination; with none, an ENXIO error once, the child unharmed', async (t) => {
  const dir = freshDir();
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  // No reader yet: reported, never waited for.
  const m = stopAfter(
    t,
    new Monitor(['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.01; done'], {
      silent: true,
      outFile: fifo,
    }),
  );
  const errors = record(m, 'error');
  const output = record(m, 'stdout');
  m.start();
  await until(() => errors.length > 0, 5000, 'the error');
  assert.equal(errors[0][0].code, 'ENXIO');
  assert.equal(errors[0][0].path, fifo);
  await until(() => output.length > 0, 5000, 'output still flowing');
  // A reader comes: within about a second (the retry), the lines stream to it.
  const reader = fs.createReadStream(fifo);
  let got = '';
  reader.on('data', (d) => (got += d));
  await until(() => /tick \d+\n.*tick \d+\n/s.test(got), 5000, 'lines through the FIFO');
  assert.equal(errors.length, 1, 'one error for the episode');
  // Supervision over, the FIFO is let go: its reader sees the end.
  const ended = next(reader, 'end', 5000);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  await ended;
  assert.match(got, /(tick \d+\n)+$/);
});

test('a FIFO whose reader never reads holds no restart: a crash-looping child writing 20 MB runs after run', async (t) => {
  const dir = freshDir();
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const held = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  t.after(() => fs.closeSync(held));
  // Each run writes 20 MB (more than the pipe and the 8 MiB bound together) then exits.
  const m = stopAfter(
    t,
    new Monitor(fixture('write-bytes.js'), {
      silent: true,
      outFile: fifo,
      args: [String(20 * 1024 * 1024)],
    }),
  );
  const errors = record(m, 'error');
  const exits = record(m, 'exit:code');
  m.start();
  // The output stops at the bound; the child waits on its pipe, as with any pipe nobody
  // reads. It is killed, and restarted at once.
  await until(() => m.child && m.child.pid, 5000, 'a child');
  for (let i = 0; i < 3; i++) {
    const pid = m.child.pid;
    await until(() => fs.existsSync(`/proc/${pid}`), 5000, 'the child');
    const restarted = next(m, 'restart', 10000);
    process.kill(pid, 'SIGKILL');
    const [again] = await restarted;
    assert.notEqual(again.child.pid, pid);
  }
  assert.ok(exits.length >= 3, `${exits.length} exits reported`);
  assert.deepEqual(errors, []);
  const before = Date.now();
  const stopped = next(m, 'stop', 5000);
  m.stop();
  await stopped;
  assert.ok(Date.now() - before < 2000, `stop() took ${Date.now() - before} ms`);
});

test('a symlink at the log path is still refused unless it leads to a device or a FIFO', async () => {
  const dir = freshDir();
  // To a regular file: refused, nothing written through it.
  const victim = path.join(dir, 'victim');
  fs.writeFileSync(victim, 'theirs\n');
  const planted = path.join(dir, 'planted.log');
  fs.symlinkSync(victim, planted);
  const m = new Monitor(fixture('print-lines.js'), {
    silent: true,
    outFile: planted,
    args: ['1'],
    max: 1,
  });
  const [err] = await next(m, 'error');
  assert.equal(err.code, 'ELOOP');
  assert.equal(err.path, planted);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'theirs\n');
  // To nothing: refused, nothing created.
  const dangling = path.join(dir, 'dangling.log');
  fs.symlinkSync(path.join(dir, 'nowhere'), dangling);
  const d = new Monitor(fixture('print-lines.js'), {
    silent: true,
    outFile: dangling,
    args: ['1'],
    max: 1,
  });
  assert.equal((await next(d, 'error'))[0].code, 'ELOOP');
  assert.ok(!fs.existsSync(path.join(dir, 'nowhere')));
  // To a character device (/dev/null): followed.
  const toNull = path.join(dir, 'null.log');
  fs.symlinkSync('/dev/null', toNull);
  const ok = new Monitor(fixture('print-lines.js'), {
    silent: true,
    outFile: toNull,
    args: ['100'],
    max: 1,
  });
  const errors = record(ok, 'error');
  const exited = next(ok, 'exit');
  ok.start();
  await exited;
  assert.deepEqual(errors, []);
});

test("the command line: -o /dev/stdout -e /dev/stderr stream the app's output", async () => {
  const count = 5000;
  const { code, stdout, stderr } = await runNode([
    path.join(__dirname, '..', 'bin', 'forever-native.js'),
    '--json',
    '-s',
    '--max',
    '1',
    '-o',
    '/dev/stdout',
    '-e',
    '/dev/stderr',
    fixture('print-both.js'),
    String(count),
  ]);
  assert.equal(code, 0, stderr);
  assertLines(stdout, 'out', count);
  assertLines(stderr, 'err', count);
  const events = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l).event);
  assert.ok(
    !events.includes('error'),
    stderr
      .split('\n')
      .filter((l) => l.includes('error'))
      .join('\n'),
  );
});
