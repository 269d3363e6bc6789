// outFile/errFile written by the core: forever-monitor's behaviour, then what it lacked.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Monitor } = require('..');
const { fixture, next, record, until, stopAfter } = require('./helpers');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-logs-'));
let n = 0;
const file = (name) => path.join(dir, `${n++}-${name}`);
const lines = (p) => fs.readFileSync(p, 'utf8').split('\n').filter(Boolean);
/** A file's size, or -1 while it does not exist (the core creates it in the background). */
const sizeOf = (p) => (fs.statSync(p, { throwIfNoEntry: false }) || { size: -1 }).size;

function run(script, options) {
  const m = new Monitor(script, { silent: true, ...options });
  const done = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  return done.then(() => m);
}

test("forever-monitor's logger: 10 lines to each file", async () => {
  const outFile = file('out.log');
  const errFile = file('err.log');
  await run(fixture('print-lines.js'), { args: ['10'], outFile, errFile, max: 1 });
  assert.equal(lines(outFile).length, 10);
  assert.equal(lines(errFile).length, 10);
  assert.match(lines(errFile)[9], /^err 9 /);
  assert.equal(fs.statSync(outFile).mode & 0o777, 0o644);
});

test('logging continues across 5 restarts into the same files: 50 lines', async () => {
  const outFile = file('out.log');
  const m = await run(fixture('print-lines.js'), { args: ['10'], outFile, max: 5 });
  assert.equal(m.times, 5);
  const got = lines(outFile);
  assert.equal(got.length, 50);
  assert.equal(new Set(got.map((l) => l.split(' ')[2])).size, 5, 'five different children wrote');
});

test('the files are truncated at construction unless append is set', async () => {
  const outFile = file('out.log');
  fs.writeFileSync(outFile, 'earlier\n');
  await run(fixture('print-lines.js'), { args: ['1'], outFile, append: true, max: 1 });
  assert.deepEqual(
    lines(outFile).map((l) => l.split(' ')[0]),
    ['earlier', 'out'],
  );
  const m = new Monitor(fixture('print-lines.js'), { outFile });
  // In the background, as forever-monitor's createWriteStream does: never on the JS thread.
  await until(
    () => fs.readFileSync(outFile, 'utf8') === '',
    5000,
    'the file to be truncated before start()',
  );
  assert.equal(m.running, undefined);
});

test('no byte lost: 50 MB written just before exit is on disk when exit fires', async () => {
  const outFile = file('big.log');
  const size = 50 * 1024 * 1024;
  await run(fixture('write-bytes.js'), { args: [String(size)], outFile, max: 1 });
  assert.equal(fs.statSync(outFile).size, size);
});

test('logTimestamps prefixes whole lines, even when the child writes them in pieces', async () => {
  const outFile = file('out.log');
  const errFile = file('err.log');
  await run(fixture('partial-lines.js'), { outFile, errFile, logTimestamps: true, max: 1 });
  const stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
  const out = lines(outFile);
  assert.deepEqual(
    out.map((l) => l.replace(stamp, '')),
    ['hello', 'second line', 'third line'],
  );
  assert.ok(
    out.every((l) => stamp.test(l)),
    out.join('\n'),
  );
  assert.deepEqual(
    lines(errFile).map((l) => l.replace(stamp, '')),
    ['world'],
  );
});

test('mergeLogs puts both streams in outFile without splitting a line', async () => {
  const outFile = file('all.log');
  await run(fixture('partial-lines.js'), { outFile, mergeLogs: true, max: 1 });
  assert.deepEqual(lines(outFile).sort(), ['hello', 'second line', 'third line', 'world']);
});

test('the same path for outFile and errFile merges too', async () => {
  const outFile = file('same.log');
  await run(fixture('print-lines.js'), { args: ['20'], outFile, errFile: outFile, max: 1 });
  const got = lines(outFile);
  assert.equal(got.length, 40);
  assert.ok(
    got.every((l) => /^(out|err) \d+ \d+$/.test(l)),
    got.join('\n'),
  );
});

test('logMaxSize/logMaxFiles rotate at the limit, keeping N files and whole lines', async () => {
  const outFile = file('rot.log');
  await run(fixture('print-lines.js'), {
    args: ['300'],
    outFile,
    logMaxSize: 1000,
    logMaxFiles: 3,
    max: 1,
  });
  // Numbered up from .1, the newest the highest; retention (in the background) keeps three.
  const base = path.basename(outFile);
  const numbers = () =>
    fs
      .readdirSync(dir)
      .filter((name) => name.startsWith(`${base}.`))
      .map((name) => Number(name.slice(base.length + 1)))
      .sort((a, b) => a - b);
  await until(() => numbers().length === 3, 5000, `three rotated files: ${numbers()}`);
  const top = numbers()[2];
  assert.deepEqual(numbers(), [top - 2, top - 1, top]);
  const kept = [`${outFile}.${top - 2}`, `${outFile}.${top - 1}`, `${outFile}.${top}`, outFile];
  let all = [];
  for (const p of kept) {
    assert.ok(fs.statSync(p).size <= 1000, `${p} is within the limit`);
    all = all.concat(lines(p));
  }
  const lineNumbers = all.map((l) => Number(/^out (\d+) \d+$/.exec(l)[1]));
  assert.equal(lineNumbers[lineNumbers.length - 1], 299);
  lineNumbers.forEach(
    (v, i) => i > 0 && assert.equal(v, lineNumbers[i - 1] + 1, 'no line lost between files'),
  );
});

test('reopenLogs() moves on to a new file after an external logrotate', async (t) => {
  const outFile = file('reopen.log');
  // Stopped after the test even when an assertion fails, so a failure never hangs the file.
  const m = stopAfter(
    t,
    new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], { silent: true, outFile }),
  );
  m.start();
  await until(() => sizeOf(outFile) > 0, 5000, 'first output');
  fs.renameSync(outFile, `${outFile}.old`);
  m.reopenLogs();
  await until(() => sizeOf(outFile) > 0, 5000, 'output in the new file');
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.ok(lines(`${outFile}.old`).length > 0);
});

test('a log file deleted under the monitor is re-created', async (t) => {
  const outFile = file('deleted.log');
  const m = stopAfter(
    t,
    new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], { silent: true, outFile }),
  );
  m.start();
  await until(() => sizeOf(outFile) > 0, 5000, 'first output');
  fs.unlinkSync(outFile);
  await until(() => sizeOf(outFile) > 0, 5000, 'the file to come back');
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
});

test('a write error (/dev/full) is an error event; the child keeps running and output keeps flowing', async () => {
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], {
    silent: true,
    outFile: '/dev/full',
  });
  const failed = next(m, 'error');
  m.start();
  try {
    const [err] = await failed;
    assert.equal(err.code, 'ENOSPC');
    assert.equal(err.path, '/dev/full');
    assert.match(err.message, /\/dev\/full/);
    assert.equal(m.running, true);
    const [more] = await next(m, 'stdout');
    assert.match(String(more), /tick/);
  } finally {
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  }
});

test('a symlink planted at the log path is not followed', async () => {
  const target = file('victim');
  const outFile = file('link.log');
  fs.symlinkSync(target, outFile);
  const m = new Monitor(fixture('print-lines.js'), { silent: true, outFile, args: ['1'], max: 1 });
  const [err] = await next(m, 'error');
  assert.equal(err.code, 'ELOOP');
  assert.equal(err.path, outFile);
  assert.ok(!fs.existsSync(target));
});

test('logDirect: the child writes outFile/errFile itself, across restarts, after append', async () => {
  const outFile = file('direct-out.log');
  const errFile = file('direct-err.log');
  fs.writeFileSync(outFile, 'earlier\n');
  const script = 'echo "out $$"; f=$(readlink /proc/$$/fd/1); echo "$f" >&2';
  const m = new Monitor(['sh', '-c', script], {
    silent: true,
    outFile,
    errFile,
    append: true,
    logDirect: true,
    max: 3,
  });
  const seen = [];
  m.on('stdout', (data) => seen.push(data));
  m.on('stderr', (data) => seen.push(data));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  const out = lines(outFile);
  assert.equal(out[0], 'earlier');
  assert.equal(out.length, 4);
  assert.equal(new Set(out.slice(1)).size, 3, 'three children wrote');
  // Each child's own stdout was the log file, not a pipe to the host.
  assert.deepEqual(lines(errFile), [outFile, outFile, outFile]);
  assert.deepEqual(seen, [], 'no output passed through the host');
});

test('logDirect: 50 MB written just before exit is all on disk; merged streams share the file', async () => {
  const outFile = file('direct-big.log');
  const size = 50 * 1024 * 1024;
  await run(fixture('write-bytes.js'), {
    args: [String(size), '1000'],
    outFile,
    mergeLogs: true,
    logDirect: true,
    max: 1,
  });
  assert.equal(fs.statSync(outFile).size, size + 1000);
});

test('logDirect: reopenLogs() after a logrotate takes effect at the next restart', async () => {
  const outFile = file('direct-reopen.log');
  const m = new Monitor(['sh', '-c', 'echo "tick $$"; sleep 5'], {
    silent: true,
    outFile,
    logDirect: true,
  });
  m.start();
  await until(() => sizeOf(outFile) > 0, 5000, 'first output');
  fs.renameSync(outFile, `${outFile}.old`);
  m.reopenLogs();
  const restarted = next(m, 'restart');
  m.restart();
  await restarted;
  await until(() => sizeOf(outFile) > 0, 5000, 'output in the new file');
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  assert.equal(lines(`${outFile}.old`).length, 1);
  assert.notDeepEqual(lines(outFile), lines(`${outFile}.old`));
});

test('logDirect: silent turned off after construction fails the start, naming the option', async () => {
  const m = new Monitor(fixture('print-lines.js'), {
    silent: true,
    outFile: file('x.log'),
    logDirect: true,
  });
  m.silent = false;
  m.start();
  const [err] = await next(m, 'error');
  assert.ok(err instanceof RangeError);
  assert.match(err.message, /"logDirect".*"silent"/);
  assert.equal(m.running, undefined);
});

test('logDirect: a file that cannot be opened at spawn is an error event; output falls back to the pipe', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'gone-'));
  const outFile = path.join(sub, 'out.log');
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], {
    silent: true,
    outFile,
    logDirect: true,
  });
  // The constructor creates the file in the background (making its directory if need be):
  // let it finish first, or it could make the directory again under the file below.
  await until(() => fs.existsSync(outFile), 5000, 'the file to be created');
  // A missing directory would be made: a file in its place cannot be.
  fs.rmSync(sub, { recursive: true });
  fs.writeFileSync(sub, '');
  // Reported at the start, and by the writer the output falls back to.
  const errors = record(m, 'error');
  const output = record(m, 'stdout');
  m.start();
  try {
    await until(() => errors.length > 0, 5000, 'an error event');
    const [[err]] = errors;
    assert.equal(err.code, 'ENOTDIR');
    assert.equal(err.path, outFile);
    assert.equal(err.syscall, 'open');
    assert.equal(m.running, true);
    await until(() => output.length > 0, 5000, 'output through the pipe');
    assert.match(String(output[0][0]), /tick/);
  } finally {
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  }
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('outFile and errFile in directories that do not exist yet: made with mode 0755 less the umask, and again if removed', async () => {
  const base = fs.mkdtempSync(path.join(dir, 'fresh-'));
  const outFile = path.join(base, 'logs', 'deep', 'out.log');
  const errFile = path.join(base, 'other', 'err.log');
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; echo tock >&2; sleep 0.02; done'], {
    silent: true,
    outFile,
    errFile,
  });
  const errors = record(m, 'error');
  m.start();
  try {
    await until(() => sizeOf(outFile) > 0, 5000, 'output in the new directory');
    await until(() => sizeOf(errFile) > 0, 5000, 'errors in the new directory');
    const umask = process.umask();
    for (const d of ['logs', 'logs/deep', 'other']) {
      assert.equal(fs.statSync(path.join(base, d)).mode & 0o777, 0o755 & ~umask, d);
    }
    // A cleaned-up log directory comes back with the file, with no error.
    fs.rmSync(path.join(base, 'logs'), { recursive: true });
    await until(
      () => fs.existsSync(outFile) && /tick/.test(fs.readFileSync(outFile, 'utf8')),
      5000,
      'the file made again',
    );
    assert.deepEqual(errors, []);
  } finally {
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  }
});

test('outFile under a symlink to nothing, or under a file, is an error event naming the file', async () => {
  const base = fs.mkdtempSync(path.join(dir, 'bad-parent-'));
  fs.symlinkSync(path.join(base, 'nowhere'), path.join(base, 'dangling'));
  fs.writeFileSync(path.join(base, 'file'), '');
  for (const [outFile, code] of [
    [path.join(base, 'dangling', 'x', 'out.log'), 'ENOENT'],
    [path.join(base, 'file', 'x', 'out.log'), 'ENOTDIR'],
  ]) {
    const m = new Monitor(fixture('run-forever.js'), { silent: true, outFile });
    const [err] = await next(m, 'error');
    assert.equal(err.code, code, outFile);
    assert.equal(err.path, outFile);
    assert.ok(
      !fs.existsSync(path.join(base, 'nowhere')),
      'nothing made through the dangling symlink',
    );
  }
});
