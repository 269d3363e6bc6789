// watch: true — restarts on file changes, watched by the core.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Monitor } = require('..');
const { fixture, next, record, until, tempDir: newTempDir } = require('./helpers');

function tempDir() {
  const dir = fs.realpathSync(newTempDir('fn-watch-'));
  fs.writeFileSync(path.join(dir, '.foreverignore'), 'ignored-by-file.txt\n');
  return dir;
}

async function watching(options) {
  const m = new Monitor(fixture('run-forever.js'), {
    silent: true,
    watch: true,
    watchDebounce: 100,
    ...options,
  });
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

test('the first change restarts at once, whatever watchDebounce says', async () => {
  const dir = tempDir();
  // A debounce longer than next()'s own timeout: the restart must not wait for it.
  const m = await watching({ watchDirectory: dir, watchDebounce: 60000 });
  try {
    const info = await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'app.js'), 'x'));
    assert.equal(info.file, path.join(dir, 'app.js'));
  } finally {
    await stop(m);
  }
});

test('one save restarts once, though it is several file-system events', async () => {
  const dir = tempDir();
  const m = await watching({ watchDirectory: dir, watchDebounce: 200 });
  try {
    const changes = record(m, 'watch:restart');
    // Create, write and close: three events for one file.
    await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'app.js'), 'x'.repeat(100000)));
    // A later change is reported on its own: the save left nothing behind.
    const info = await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'sentinel.js'), 'x'));
    assert.equal(info.file, path.join(dir, 'sentinel.js'));
    assert.deepEqual(
      changes.map(([c]) => path.basename(c.file)),
      ['app.js', 'sentinel.js'],
    );
  } finally {
    await stop(m);
  }
});

test('a burst restarts at once and once more when it ends, never more', async () => {
  const dir = tempDir();
  const m = await watching({ watchDirectory: dir, watchDebounce: 300 });
  try {
    const changes = record(m, 'watch:restart');
    const starts = record(m, 'restart');
    // Forty writes over about a second, like a checkout of many files.
    let i = 0;
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        fs.writeFileSync(path.join(dir, `f${i}.js`), String(i));
        if (++i === 40) {
          clearInterval(timer);
          resolve();
        }
      }, 25);
    });
    await until(() => changes.length === 2, 5000, 'the restart at the end of the burst');
    assert.equal(path.basename(changes[0][0].file), 'f0.js');
    assert.equal(
      path.basename(changes[1][0].file),
      'f39.js',
      'the trailing restart names the last change',
    );
    await until(() => starts.length === 2, 5000, 'the second restart');
    // A later change is a burst of its own.
    const info = await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'sentinel.js'), 'x'));
    assert.equal(info.file, path.join(dir, 'sentinel.js'));
    assert.equal(changes.length, 3);
  } finally {
    await stop(m);
  }
});

test('a child that writes into its watched directory and exits at once, under max: 1, runs again', async () => {
  // A build-tool plugin's test: forever-monitor reports the change and runs the child again.
  const dir = tempDir();
  const m = new Monitor(fixture('touch-and-exit.js'), {
    silent: true,
    max: 1,
    watch: true,
    watchDirectory: dir,
    args: [dir],
  });
  const changes = record(m, 'watch:restart');
  const exits = record(m, 'exit');
  const second = next(m, 'restart');
  m.start();
  await second;
  assert.equal(changes.length, 1);
  assert.equal(changes[0][0].file, path.join(dir, 'written.txt'));
  // The second run writes nothing and ends; the monitor waits for the next change.
  await until(() => exits.length >= 1 && !m.running, 10000, 'the second run to end');
  await stop(m);
  assert.equal(changes.length, 1);
  assert.equal(m.running, false);
});

test('a change after the child ended on its own starts it again; stop() then emits only stop', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'written.txt'), 'already');
  const m = new Monitor(fixture('touch-and-exit.js'), {
    silent: true,
    max: 1,
    watch: true,
    watchDirectory: dir,
    args: [dir],
  });
  const exits = record(m, 'exit');
  const ready = next(m, 'watch:ready');
  const ended = next(m, 'exit');
  m.start();
  await Promise.all([ready, ended]);
  assert.equal(m.running, false);
  // max is reached, but a change is the user asking for a new run, as with forever-monitor.
  const info = await restartAfter(m, () => fs.writeFileSync(path.join(dir, 'app.js'), 'x'));
  assert.equal(info.file, path.join(dir, 'app.js'));
  await until(() => exits.length === 2, 10000, 'the second run to end');
  const stops = record(m, 'stop');
  await stop(m);
  assert.equal(stops.length, 1);
  assert.equal(exits.length, 2, "stop() while waiting for a change emits no second 'exit'");
});

test('a stopped monitor, a killed one and one never started are not started by a change', async () => {
  const dir = tempDir();
  const options = { silent: true, watch: true, watchDirectory: dir, watchDebounce: 50 };
  const stopped = await watching(options);
  await stop(stopped);
  const killed = await watching(options);
  const killedDone = next(killed, 'stop');
  killed.kill(true);
  await killedDone;
  const never = new Monitor(fixture('run-forever.js'), options);
  const quiet = [stopped, killed, never].map((m) => ({
    starts: record(m, 'start'),
    restarts: record(m, 'restart'),
    changes: record(m, 'watch:restart'),
  }));
  // A monitor that still runs sees the change: by then, the others would have too.
  const witness = await watching(options);
  try {
    await restartAfter(witness, () => fs.writeFileSync(path.join(dir, 'app.js'), 'x'));
    await restartAfter(witness, () => fs.writeFileSync(path.join(dir, 'app2.js'), 'x'));
  } finally {
    await stop(witness);
  }
  for (const seen of quiet) assert.deepEqual(seen, { starts: [], restarts: [], changes: [] });
  assert.equal(never.running, undefined);
  assert.equal(stopped.running, false);
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

const watcherThreads = () =>
  fs.readdirSync('/proc/self/task').filter((t) => {
    try {
      return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'forever-watch';
    } catch {
      return false;
    }
  }).length;

test('the watcher runs only while the monitor runs: stop() stops watching', async () => {
  const dir = tempDir();
  // Watchers of earlier tests end within a second of their stop.
  await until(() => watcherThreads() === 0, 5000, 'earlier watcher threads to end');
  const m = await watching({ watchDirectory: dir });
  assert.equal(watcherThreads(), 1);
  await stop(m);
  await until(() => watcherThreads() === 0, 5000, 'the watcher thread to end');
  const never = new Monitor(fixture('run-forever.js'), {
    silent: true,
    watch: true,
    watchDirectory: dir,
  });
  assert.equal(watcherThreads(), 0, 'a monitor that was never started watches nothing');
  assert.equal(never.running, undefined);
});

test('a missing .foreverignore is reported as forever-monitor does', async () => {
  const dir = newTempDir('fn-watch-');
  const m = new Monitor(fixture('run-forever.js'), {
    silent: true,
    watch: true,
    watchDirectory: dir,
  });
  const [info] = await next(m, 'watch:error');
  assert.equal(info.message, 'Could not read .foreverignore file.');
  assert.match(info.error, /ENOENT/);
});

test('a watched directory that does not exist is a watch:error, and the child still runs', async () => {
  const dir = path.join(tempDir(), 'missing');
  const m = new Monitor(fixture('run-forever.js'), {
    silent: true,
    watch: true,
    watchDirectory: dir,
  });
  const errors = [];
  m.on('watch:error', (info) => errors.push(info));
  m.start();
  await until(
    () => errors.some((e) => /missing/.test(e.message)),
    5000,
    'watch:error for the directory',
  );
  assert.equal(m.running, true);
  await stop(m);
});
