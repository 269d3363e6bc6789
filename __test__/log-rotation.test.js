// Rotation by time (logRotate), with size, compression (logCompress) and retention
// (logMaxFiles, logMaxAge), through the public Monitor: a chatty child across forced
// rotations loses no line and splits none, files are named for their periods, .gz files
// hold exactly what was written, and retention removes this log's old files and nothing else.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { Monitor } = require('..');
const { fixture, next, until } = require('./helpers');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-rotation-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A file's size, or -1 while it does not exist (between a rotation's rename and its new file). */
const sizeOf = (p) => (fs.statSync(p, { throwIfNoEntry: false }) || { size: -1 }).size;
/** A fresh directory for one test. */
const freshDir = () => fs.mkdtempSync(path.join(root, `${n++}-`));

/** A 200 ms interval's label: the period's start, UTC with logRotateUtc. */
const MS_LABEL = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}$/;
/** `out.log.<label>[.<n>][.gz]`, for any label. */
const ROTATED =
  /^out\.log\.(\d{4}-\d\d-\d\d(?:T\d\d(?:-\d\d(?:-\d\d(?:\.\d{3})?)?)?)?)(?:\.([1-9]\d*))?(\.gz)?$/;

/** Monitors whose last file must still rotate after they end: kept from the collector. */
const monitors = [];

/** Runs `script` once under a monitor with `options` and resolves when supervision ends. */
async function runOnce(script, options) {
  const m = new Monitor(script, { silent: true, max: 1, ...options });
  monitors.push(m);
  const errors = [];
  m.on('error', (err) => errors.push(err));
  const exited = next(m, 'exit', 20000);
  m.start();
  await exited;
  assert.deepEqual(errors, []);
  return m;
}

/**
 * The rotated files of `out.log` in `dir`, oldest first: by period, then by counter (as
 * the writer names them), each with its label, counter and whether it is gzipped.
 */
function rotated(dir) {
  return fs
    .readdirSync(dir)
    .map((name) => {
      const m = ROTATED.exec(name);
      return m && { name, label: m[1], n: Number(m[2] || 0), gz: Boolean(m[3]) };
    })
    .filter(Boolean)
    .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : a.n - b.n));
}

/** The lines of a log file, gunzipped when it ends in .gz. */
function linesOf(file) {
  const data = fs.readFileSync(file);
  const text = file.endsWith('.gz') ? zlib.gunzipSync(data).toString() : data.toString();
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends with a whole line`);
  return text.split('\n').slice(0, -1);
}

/**
 * Checks that `lines` (optionally stamped) are `line <first>` … `line <last>` of
 * chatty-lines.js, each exactly once, in order, none split.
 */
function assertWholeSequence(lines, first, last) {
  const numbers = lines.map((line) => {
    const m = /^(?:\S+Z )?line (\d+) x{40}$/.exec(line);
    assert.ok(m, `a whole line: ${JSON.stringify(line)}`);
    return Number(m[1]);
  });
  assert.equal(numbers.length, last - first + 1, 'every line once');
  numbers.forEach((v, i) => assert.equal(v, first + i, 'in order'));
}

/** Milliseconds of a UTC label `2026-11-30T14-05-07.200`. */
function labelTime(label) {
  const [date, time] = label.split('T');
  const [h, m, s] = time.split('-');
  return Date.parse(`${date}T${h}:${m}:${s}Z`);
}

/** Resolves once the writer and the keeper are done: `out.log` empty, nothing left plain. */
async function settled(dir, { compressed = false } = {}) {
  await until(
    () => {
      const names = fs.readdirSync(dir);
      if (names.some((name) => name.endsWith('.tmp'))) return false;
      if (compressed && rotated(dir).some((f) => !f.gz)) return false;
      return sizeOf(path.join(dir, 'out.log')) === 0;
    },
    10000,
    'rotation and housekeeping to finish',
  );
}

test('a chatty child across rotations every 200 ms: every line once, in order, none split, each in the file of its period', async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const total = 6000;
  // 50 lines every 10 ms: ~1.2 s, so about six periods of 200 ms.
  await runOnce(fixture('chatty-lines.js'), {
    args: [String(total), '50', '10'],
    outFile,
    logRotate: 200,
    logRotateUtc: true,
    logTimestamps: true,
    logMaxFiles: 1000,
  });
  // The last file rotates once its period is over, though nothing more is written.
  await settled(dir);
  const files = rotated(dir);
  assert.ok(files.length >= 4, `rotated at least four times: ${files.map((f) => f.name)}`);
  let all = [];
  for (const f of files) {
    assert.match(f.label, MS_LABEL, f.name);
    const start = labelTime(f.label);
    assert.equal(start % 200, 0, `${f.name} starts on a period`);
    assert.equal(f.gz, false);
    const lines = linesOf(path.join(dir, f.name));
    // The stamp and the rotation read one clock: each line falls in its file's period.
    for (const line of lines) {
      const at = Date.parse(line.slice(0, line.indexOf(' ')));
      assert.ok(at >= start && at < start + 200, `${line.slice(0, 24)} is within ${f.name}`);
    }
    all = all.concat(lines);
  }
  assert.deepEqual(
    new Set(files.map((f) => f.label)).size,
    files.length,
    'one file per period (no size rotation)',
  );
  assertWholeSequence(all, 0, total - 1);
});

test('logMaxSize with logRotate: more files of one period get .1, .2 …; no line lost or split', async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const total = 2000;
  await runOnce(fixture('chatty-lines.js'), {
    args: [String(total), '100', '2'],
    outFile,
    logRotate: 'hourly',
    logRotateUtc: true,
    logMaxSize: 10000,
    logMaxFiles: 1000,
  });
  const files = rotated(dir);
  for (const f of files) {
    assert.match(f.label, /^\d{4}-\d\d-\d\dT\d\d$/, f.name);
    assert.ok(fs.statSync(path.join(dir, f.name)).size <= 10000, `${f.name} is within logMaxSize`);
  }
  assert.ok(
    files.some((f) => f.n === 1) && files.some((f) => f.n === 2),
    files.map((f) => f.name).join(' '),
  );
  // Within a period, the counters run on from the period's first file.
  const hours = new Set(files.map((f) => f.label));
  for (const hour of hours) {
    const counters = files.filter((f) => f.label === hour).map((f) => f.n);
    assert.deepEqual(
      counters,
      counters.map((_, i) => i),
      `${hour}: ${counters}`,
    );
  }
  const all = files.flatMap((f) => linesOf(path.join(dir, f.name))).concat(linesOf(outFile));
  assertWholeSequence(all, 0, total - 1);
});

test('logCompress: rotated files become .gz files that gunzip to exactly the lines written; no plain file or temporary is left', async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const total = 6000;
  await runOnce(fixture('chatty-lines.js'), {
    args: [String(total), '50', '10'],
    outFile,
    logRotate: 200,
    logRotateUtc: true,
    logCompress: true,
    logMaxFiles: 1000,
  });
  await settled(dir, { compressed: true });
  const files = rotated(dir);
  assert.ok(files.length >= 4, files.map((f) => f.name).join(' '));
  assert.ok(
    files.every((f) => f.gz),
    files.map((f) => f.name).join(' '),
  );
  const all = files.flatMap((f) => {
    const file = path.join(dir, f.name);
    assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    return linesOf(file);
  });
  assertWholeSequence(all, 0, total - 1);
  assert.deepEqual(
    fs.readdirSync(dir).filter((name) => !ROTATED.test(name)),
    ['out.log'],
  );
});

test('logCompress with size rotation alone: out.log.1.gz, out.log.2.gz, … counting up, the newest the highest', async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const total = 3000;
  await runOnce(fixture('chatty-lines.js'), {
    args: [String(total), '100', '2'],
    outFile,
    logMaxSize: 20000,
    logMaxFiles: 3,
    logCompress: true,
  });
  // 152 KB in files of 20 KB: seven rotated, numbered 1 to 7; the newest three are kept.
  await until(
    () => fs.readdirSync(dir).sort().join(' ') === 'out.log out.log.5.gz out.log.6.gz out.log.7.gz',
    10000,
    `three .gz files: ${fs.readdirSync(dir)}`,
  );
  const kept = ['out.log.5.gz', 'out.log.6.gz', 'out.log.7.gz', 'out.log'].flatMap((name) =>
    linesOf(path.join(dir, name)),
  );
  // Older files were dropped: what is kept is the end of the sequence, whole.
  const first = Number(/^line (\d+)/.exec(kept[0])[1]);
  assertWholeSequence(kept, first, total - 1);
});

test("retention: logMaxFiles keeps the newest of this log's rotated files and touches nothing else", async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  // Files of this naming, from long ago, and files of any other.
  const ours = ['out.log.2020-01-01T00-00-00.000', 'out.log.2020-01-01T00-00-00.000.1.gz'];
  const others = [
    'out.log.backup',
    'out.log.1',
    'out.log.2020-01-01',
    'out.log.2020-01-01T00',
    'err.log.2020-01-01T00-00-00.000',
    'out.log.2020-01-01T00-00-00.000.gz.old',
  ];
  for (const name of ours.concat(others)) fs.writeFileSync(path.join(dir, name), 'old\n');
  const total = 6000;
  await runOnce(fixture('chatty-lines.js'), {
    args: [String(total), '50', '10'],
    outFile,
    logRotate: 200,
    logRotateUtc: true,
    logMaxFiles: 3,
  });
  await settled(dir);
  await until(
    () => rotated(dir).filter((f) => MS_LABEL.test(f.label)).length === 3,
    10000,
    'retention',
  );
  const files = rotated(dir).filter((f) => MS_LABEL.test(f.label));
  assert.ok(
    files.every((f) => !f.label.startsWith('2020')),
    files.map((f) => f.name).join(' '),
  );
  for (const name of others)
    assert.equal(fs.readFileSync(path.join(dir, name), 'utf8'), 'old\n', `${name} kept`);
  const kept = files.flatMap((f) => linesOf(path.join(dir, f.name)));
  assertWholeSequence(kept, Number(/^line (\d+)/.exec(kept[0])[1]), total - 1);
});

test("retention: logMaxAge removes this log's files last written before it, and nothing else", async () => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const hoursAgo = (h) => new Date(Date.now() - h * 3600000);
  const plant = (name, h) => {
    fs.writeFileSync(path.join(dir, name), 'old\n');
    fs.utimesSync(path.join(dir, name), hoursAgo(h), hoursAgo(h));
  };
  plant('out.log.2020-01-01T00-00-00.000.gz', 3);
  plant('out.log.2020-01-02T00-00-00.000', 2);
  plant('out.log.2020-01-03T00-00-00.000', 0.5);
  plant('out.log.old', 3);
  plant('err.log.2020-01-01T00-00-00.000', 3);
  await runOnce(fixture('chatty-lines.js'), {
    args: ['600', '50', '10'],
    outFile,
    logRotate: 200,
    logRotateUtc: true,
    logMaxAge: '1h',
  });
  await settled(dir);
  await until(
    () => !fs.existsSync(path.join(dir, 'out.log.2020-01-02T00-00-00.000')),
    10000,
    'retention',
  );
  assert.ok(!fs.existsSync(path.join(dir, 'out.log.2020-01-01T00-00-00.000.gz')));
  for (const name of [
    'out.log.2020-01-03T00-00-00.000',
    'out.log.old',
    'err.log.2020-01-01T00-00-00.000',
  ]) {
    assert.ok(fs.existsSync(path.join(dir, name)), `${name} kept`);
  }
  // With logMaxAge alone, the count is not what limits: every new file is kept.
  const fresh = rotated(dir).filter((f) => !f.label.startsWith('2020'));
  assertWholeSequence(
    fresh.flatMap((f) => linesOf(path.join(dir, f.name))),
    0,
    599,
  );
});

test('a child that has gone quiet: its file still rotates when the period ends', async (t) => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const m = new Monitor(['sh', '-c', 'echo "one line"; exec sleep 30'], {
    silent: true,
    outFile,
    logRotate: 200,
    logRotateUtc: true,
  });
  t.after(async () => {
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  });
  m.start();
  await until(
    () => rotated(dir).length === 1 && sizeOf(outFile) === 0,
    5000,
    'the quiet file to rotate',
  );
  assert.deepEqual(linesOf(path.join(dir, rotated(dir)[0].name)), ['one line']);
  assert.equal(fs.readFileSync(outFile, 'utf8'), '');
  assert.equal(m.running, true);
});

test('reopenLogs() with time rotation: the moved file keeps its lines; later lines rotate by period in the new one', async (t) => {
  const dir = freshDir();
  const outFile = path.join(dir, 'out.log');
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.01; done'], {
    silent: true,
    outFile,
    logRotate: 200,
    logRotateUtc: true,
  });
  t.after(async () => {
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
  });
  m.start();
  await until(() => rotated(dir).length >= 1, 5000, 'a first rotation');
  fs.renameSync(outFile, path.join(dir, 'moved.log'));
  m.reopenLogs();
  await until(() => rotated(dir).length >= 3, 5000, 'rotations in the new file');
  assert.ok(linesOf(path.join(dir, 'moved.log')).every((l) => l === 'tick'));
  for (const f of rotated(dir)) assert.match(f.label, MS_LABEL);
});

test('a rotation that cannot move the file (its directory moved away) keeps every line, in the file still open, and says so once', async (t) => {
  const dir = freshDir();
  const logs = path.join(dir, 'logs');
  const moved = path.join(dir, 'moved');
  const m = new Monitor(fixture('chatty-lines.js'), {
    silent: true,
    max: 1,
    outFile: path.join(logs, 'out.log'),
    logMaxSize: 2000,
    logMaxFiles: 1000,
    args: ['3000', '10', '10'],
  });
  t.after(() => m.stop());
  const errors = [];
  m.on('error', (err) => errors.push(err));
  const exited = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  // Once rotations have begun (the child writes for ~3 s), the directory goes (by hand, or
  // under a bind-mounted file the rename is refused): the open file can still be written.
  await until(() => fs.existsSync(path.join(logs, 'out.log.1')), 10000, 'a first rotation');
  fs.renameSync(logs, moved);
  await exited;
  const lines = [];
  for (const where of [moved, logs]) {
    if (!fs.existsSync(where)) continue;
    for (const name of fs.readdirSync(where))
      lines.push(...fs.readFileSync(path.join(where, name), 'utf8').split('\n').filter(Boolean));
  }
  const numbers = lines.map((l) => Number(/^line (\d+) x+$/.exec(l)[1])).sort((a, b) => a - b);
  assert.deepEqual(
    numbers,
    Array.from({ length: 3000 }, (_, i) => i),
    'every line once, none split',
  );
  assert.ok(
    errors.length >= 1 && errors.length <= 2,
    `reported once per episode: ${errors.map((e) => e.message)}`,
  );
  // Each says the file could not be renamed: not the housekeeping a rotation just before
  // the move asked for, which finds no directory and so nothing to tidy.
  for (const err of errors) {
    assert.equal(err.syscall, 'rename', err.message);
    assert.match(err.message, /rename/);
  }
});

for (const naming of ['numbered', 'dated']) {
  test(`what a host killed mid-compression left (${naming} files) is tidied when the next monitor opens the log, before any rotation`, async (t) => {
    const dir = freshDir();
    const outFile = path.join(dir, 'out.log');
    const name = naming === 'numbered' ? (k) => `out.log.${k}` : (k) => `out.log.2020-01-0${k}`;
    // 1: rotated, not compressed yet; 2: its compression cut short (a .gz.tmp beside it);
    // 3: compressed, its plain file not removed yet.
    fs.writeFileSync(path.join(dir, name(1)), 'one\n');
    fs.writeFileSync(path.join(dir, name(2)), 'two\n');
    fs.writeFileSync(path.join(dir, `${name(2)}.gz.tmp`), zlib.gzipSync('two\n').subarray(0, 10));
    fs.writeFileSync(path.join(dir, name(3)), 'three\n');
    fs.writeFileSync(path.join(dir, `${name(3)}.gz`), zlib.gzipSync('three\n'));
    fs.writeFileSync(outFile, 'live\n');
    const rotation =
      naming === 'numbered'
        ? { logMaxSize: 1024 * 1024 }
        : { logRotate: 'daily', logRotateUtc: true };
    const m = new Monitor(['sh', '-c', 'echo started; exec sleep 30'], {
      silent: true,
      outFile,
      append: true,
      logCompress: true,
      ...rotation,
    });
    monitors.push(m);
    t.after(async () => {
      const stopped = next(m, 'stop');
      m.stop();
      await stopped;
    });
    const errors = [];
    m.on('error', (err) => errors.push(err));
    m.start();
    const expected = ['out.log', ...[1, 2, 3].map((k) => `${name(k)}.gz`)];
    await until(
      () => fs.readdirSync(dir).sort().join(' ') === expected.join(' '),
      5000,
      `the leftovers tidied: ${fs.readdirSync(dir).sort().join(' ')}`,
    );
    assert.deepEqual(
      [1, 2, 3].map((k) => linesOf(path.join(dir, `${name(k)}.gz`))),
      [['one'], ['two'], ['three']],
    );
    // No rotation happened: the live file holds its old line and the child's.
    await until(
      () => fs.readFileSync(outFile, 'utf8') === 'live\nstarted\n',
      5000,
      "the child's line",
    );
    assert.deepEqual(errors, []);
  });
}
