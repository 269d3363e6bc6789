// watch: true — restarts on file changes, watched by the core.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Monitor } = require('..');
const { fixture, next, until } = require('./helpers');

function tempDir() {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fn-watch-')));
  fs.writeFileSync(path.join(dir, '.foreverignore'), 'ignored-by-file.txt\n');
  return dir;
}

async function watching(options) {
  const m = new Monitor(fixture('run-forever.js'), { silent: true, watch: true, watchDebounce: 100, ...options });
  const ready = next(m, 'watch:ready');
  m.start();
  await ready;
  return m;
}

async function stop(m) {
  const stopped = new Promise((resolve) => m.once('stop', resolve));
  m.stop();
  await stopped;
}

/** Does `action` and resolves with the file of the next watch:restart, once the child restarted. */
async function restartAfter(m, action) {
  const restarted = next(m, 'restart');
  const change = next(m, 'watch:restart');
  action();
  const [info] = await change;
  await restarted;
  return info;
}

test('change, add and remove in the first and in a second watched directory each restart', async () => {
  const a = tempDir();
  const b = tempDir();
  fs.writeFileSync(path.join(a, 'app.js'), '1');
  fs.writeFileSync(path.join(b, 'lib.js'), '1');
  const m = await watching({ watchDirectory: [a, b] });
  try {
    const pid = m.child.pid;
    let info = await restartAfter(m, () => fs.writeFileSync(path.join(a, 'app.js'), '2'));
    assert.equal(info.file, path.join(a, 'app.js'));
    assert.ok(info.stat && info.stat.isFile());
    assert.notEqual(m.child.pid, pid);
    info = await restartAfter(m, () => fs.writeFileSync(path.join(a, 'new.js'), 'x'));
    assert.equal(info.file, path.join(a, 'new.js'));
    info = await restartAfter(m, () => fs.unlinkSync(path.join(a, 'new.js')));
    assert.equal(info.file, path.join(a, 'new.js'));
    assert.equal(info.stat, undefined);
    info = await restartAfter(m, () => fs.writeFileSync(path.join(b, 'lib.js'), '2'));
    assert.equal(info.file, path.join(b, 'lib.js'));
    info = await restartAfter(m, () => fs.writeFileSync(path.join(b, 'more.js'), '2'));
    assert.equal(info.file, path.join(b, 'more.js'));
    info = await restartAfter(m, () => fs.unlinkSync(path.join(b, 'more.js')));
    assert.equal(info.file, path.join(b, 'more.js'));
  } finally {
    await stop(m);
  }
});

test('ignored files never restart: patterns, .foreverignore and dot files', async () => {
  const dir = tempDir();
  const m = await watching({ watchDirectory: dir, watchIgnorePatterns: ['*.log', 'tmp/**'] });
  try {
    fs.mkdirSync(path.join(dir, 'tmp'));
    const info = await restartAfter(m, () => {
      fs.writeFileSync(path.join(dir, 'debug.log'), 'x');
      fs.writeFileSync(path.join(dir, 'tmp', 'cache.js'), 'x');
      fs.writeFileSync(path.join(dir, 'ignored-by-file.txt'), 'x');
      fs.writeFileSync(path.join(dir, '.hidden'), 'x');
      // Only this one counts; had any of the others counted, it would be reported first.
      setTimeout(() => fs.writeFileSync(path.join(dir, 'real.js'), 'x'), 300);
    });
    assert.equal(info.file, path.join(dir, 'real.js'));
  } finally {
    await stop(m);
  }
});

test('a burst of 50 writes gives one restart', async () => {
  const dir = tempDir();
  const m = await watching({ watchDirectory: dir, watchDebounce: 300 });
  try {
    const restarts = [];
    m.on('watch:restart', (info) => restarts.push(info.file));
    await restartAfter(m, () => {
      for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, `f${i % 5}.js`), String(i));
    });
    // A later, separate change is reported on its own: the burst left nothing behind.
    const info = await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'sentinel.js'), 'x'));
    assert.equal(info.file, path.join(dir, 'sentinel.js'));
    assert.equal(restarts.length, 2);
  } finally {
    await stop(m);
  }
});

test('a directory created after start is watched', async () => {
  const dir = tempDir();
  const m = await watching({ watchDirectory: dir });
  try {
    const sub = path.join(dir, 'later');
    await restartAfter(m, () => fs.mkdirSync(sub));
    const info = await restartAfter(m, () => fs.writeFileSync(path.join(sub, 'x.js'), 'x'));
    assert.equal(info.file, path.join(sub, 'x.js'));
  } finally {
    await stop(m);
  }
});

test('polling mode works', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'app.js'), '1');
  const m = await watching({ watchDirectory: dir, usePolling: true, pollingInterval: 50 });
  try {
    const file = path.join(dir, 'app.js');
    const info = await restartAfter(m, () => {
      fs.writeFileSync(file, '22');
      // Polling compares modification times, which the kernel keeps at a coarse grain: make
      // this write look as if it came a while after the first, as an edit would.
      const later = new Date(Date.now() + 10000);
      fs.utimesSync(file, later, later);
    });
    assert.equal(info.file, file);
  } finally {
    await stop(m);
  }
});

const watcherThreads = () => fs.readdirSync('/proc/self/task')
  .filter((t) => { try { return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'forever-watch'; } catch { return false; } })
  .length;

test('the watcher runs only while the monitor runs: stop() stops watching', async () => {
  const dir = tempDir();
  // Watchers of earlier tests end within a second of their stop.
  await until(() => watcherThreads() === 0, 5000, 'earlier watcher threads to end');
  const m = await watching({ watchDirectory: dir });
  assert.equal(watcherThreads(), 1);
  await stop(m);
  await until(() => watcherThreads() === 0, 5000, 'the watcher thread to end');
  const never = new Monitor(fixture('run-forever.js'), { silent: true, watch: true, watchDirectory: dir });
  assert.equal(watcherThreads(), 0, 'a monitor that was never started watches nothing');
  assert.equal(never.running, undefined);
});

test('a missing .foreverignore is reported as forever-monitor does', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-watch-'));
  const m = new Monitor(fixture('run-forever.js'), { silent: true, watch: true, watchDirectory: dir });
  const [info] = await next(m, 'watch:error');
  assert.equal(info.message, 'Could not read .foreverignore file.');
  assert.match(info.error, /ENOENT/);
});

test('a watched directory that does not exist is a watch:error, and the child still runs', async () => {
  const dir = path.join(tempDir(), 'missing');
  const m = new Monitor(fixture('run-forever.js'), { silent: true, watch: true, watchDirectory: dir });
  const errors = [];
  m.on('watch:error', (info) => errors.push(info));
  m.start();
  await until(() => errors.some((e) => /missing/.test(e.message)), 5000, 'watch:error for the directory');
  assert.equal(m.running, true);
  await stop(m);
});
