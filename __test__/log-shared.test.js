// Monitors of one host that write the same log file, with rotation on: the file is
// rotated once per limit or period, not once per monitor, so every line of every child
// lands in exactly one file (gzip included), and none is split. Also the command line's
// multi-app config with one shared -o file.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { spawn } = require('child_process');
const { Monitor } = require('..');
const { fixture, next, until } = require('./helpers');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-shared-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => fs.mkdtempSync(path.join(root, `${n++}-`));
/** Monitors whose last file must still rotate after they end: kept from the collector. */
const monitors = [];

const LINE = /^(m\d+) (\d+) x{40}$/;

/**
 * Every line of `out.log` and its rotated files in `dir` once the keeper is done (nothing
 * left plain beside its .gz, no .tmp), counted per tag: asserts each of `count` lines of
 * each tag is there exactly once and whole. Returns the rotated files' names.
 */
async function assertEveryLineOnce(dir, tags, count, { compressed }) {
  await until(
    () => {
      const names = fs.readdirSync(dir);
      if (names.some((name) => name.endsWith('.tmp'))) return false;
      // Compression leaves X and X.gz side by side for a moment: wait for it to finish.
      return !compressed || names.every((name) => name === 'out.log' || name.endsWith('.gz'));
    },
    8000,
    'compression to finish',
  );
  const seen = new Map(tags.map((tag) => [tag, new Uint8Array(count)]));
  const names = fs.readdirSync(dir);
  for (const name of names) {
    assert.ok(name === 'out.log' || name.startsWith('out.log.'), name);
    const data = fs.readFileSync(path.join(dir, name));
    const text = name.endsWith('.gz') ? zlib.gunzipSync(data).toString() : data.toString();
    assert.ok(text === '' || text.endsWith('\n'), `${name} ends with a whole line`);
    for (const line of text.split('\n').slice(0, -1)) {
      const m = LINE.exec(line);
      assert.ok(m, `a whole line in ${name}: ${JSON.stringify(line.slice(0, 80))}`);
      seen.get(m[1])[Number(m[2])] += 1;
    }
  }
  for (const [tag, counts] of seen) {
    const lost = counts.filter((c) => c === 0).length;
    const twice = counts.filter((c) => c > 1).length;
    assert.deepEqual({ tag, lost, twice }, { tag, lost: 0, twice: 0 }, `${names.length} files`);
  }
  return names.filter((name) => name !== 'out.log');
}

/** Runs `count` monitors of tagged-lines.js into one out.log with `options`; resolves at their ends. */
async function runShared(dir, count, lines, options) {
  const outFile = path.join(dir, 'out.log');
  const tags = Array.from({ length: count }, (_, i) => `m${i}`);
  const errors = [];
  const ended = tags.map((tag) => {
    const m = new Monitor(fixture('tagged-lines.js'), {
      silent: true,
      max: 1,
      outFile,
      args: [tag, String(lines), '2'],
      ...options,
    });
    monitors.push(m);
    m.on('error', (err) => errors.push(err));
    const exited = next(m, 'exit', 20000);
    m.start();
    return exited;
  });
  await Promise.all(ended);
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  return tags;
}

test('8 monitors share one out.log rotated every 200 KB, gzipped: every line once, none split', async () => {
  const dir = freshDir();
  const lines = 25000;
  const tags = await runShared(dir, 8, lines, {
    logMaxSize: 200 * 1024,
    logMaxFiles: 1000,
    logCompress: true,
  });
  const rotated = await assertEveryLineOnce(dir, tags, lines, { compressed: true });
  // ~10 MB in files of 200 KB: one rotation per 200 KB (a rotation per monitor made many
  // more, some of them nearly empty).
  const total = fs.readdirSync(dir).reduce((sum, name) => {
    const data = fs.readFileSync(path.join(dir, name));
    return sum + (name.endsWith('.gz') ? zlib.gunzipSync(data).length : data.length);
  }, 0);
  const limit = 200 * 1024;
  assert.ok(
    rotated.length >= Math.floor(total / limit) &&
      rotated.length <= Math.ceil(total / (limit - 1000)),
    `${rotated.length} rotated files for ${total} bytes`,
  );
  for (const name of rotated) assert.match(name, /^out\.log\.\d+\.gz$/);
});

test('8 monitors share one out.log rotated every 100 ms (logRotate), gzipped: every line once, none split', async () => {
  const dir = freshDir();
  const lines = 25000;
  const tags = await runShared(dir, 8, lines, {
    logRotate: 100,
    logRotateUtc: true,
    logMaxFiles: 1000,
    logCompress: true,
  });
  const rotated = await assertEveryLineOnce(dir, tags, lines, { compressed: true });
  assert.ok(rotated.length >= 1, 'rotated');
  // One file per period: no second file of a period, as a second rotator would make.
  for (const name of rotated)
    assert.match(name, /^out\.log\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.gz$/);
});

test('the command line: a config of 8 apps with one shared -o file rotated every 50 KB loses no line', async () => {
  const dir = freshDir();
  const lines = 25000;
  const apps = Array.from({ length: 8 }, (_, i) => ({
    id: `m${i}`,
    script: fixture('tagged-lines.js'),
    args: [`m${i}`, String(lines), '2'],
    max: 1,
    silent: true,
    outFile: 'out.log',
    logMaxSize: 50 * 1024,
    logMaxFiles: 1000,
  }));
  fs.writeFileSync(path.join(dir, 'app.json'), JSON.stringify(apps));
  const child = spawn(
    process.execPath,
    [path.join(__dirname, '..', 'bin', 'forever-native.js'), '--json', '--config', 'app.json'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await next(child, 'close', 20000);
  assert.equal(code, 0, stderr);
  fs.unlinkSync(path.join(dir, 'app.json'));
  const rotated = await assertEveryLineOnce(
    dir,
    apps.map((a) => a.id),
    lines,
    { compressed: false },
  );
  assert.ok(rotated.length >= 150, `${rotated.length} rotated files`);
});
