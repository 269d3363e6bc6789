// The native half of a child's stdin: NativeMonitor.writeStdin/endStdin, reached through
// `monitor._native` (the JS Writable on top of it lives in index.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Monitor } = require('..');
const { fixture, next, lines, runNode, stopAfter } = require('./helpers');

/** Writes `text` to child `pid`'s stdin; resolves with what `done` got (null once written). */
function write(m, pid, text) {
  return new Promise((resolve, reject) => {
    const refused = m._native.writeStdin(pid, Buffer.from(text), resolve);
    if (refused) reject(Object.assign(new Error(refused.message), refused));
  });
}

/** Resolves once `seen` (filled by helpers.lines) holds `line`, checked at each 'stdout'. */
function seenLine(m, seen, line, ms = 10000) {
  if (seen.includes(line)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!seen.includes(line)) return;
      clearTimeout(timer);
      m.off('stdout', check);
      resolve();
    };
    const timer = setTimeout(() => {
      m.off('stdout', check);
      reject(
        new Error(`no line ${JSON.stringify(line)} within ${ms} ms; saw ${JSON.stringify(seen)}`),
      );
    }, ms);
    m.on('stdout', check);
  });
}

test(
  'bytes written to the child come back from it, and done gets null once they are in its pipe',
  { timeout: 20000 },
  async (t) => {
    const m = stopAfter(t, new Monitor(fixture('stdin-echo.js'), { silent: true }));
    const seen = lines(m);
    m.start();
    assert.equal(await write(m, m.child.pid, 'hello\n'), null);
    await seenLine(m, seen, 'hello');
    assert.equal(await write(m, m.child.pid, 'world\n'), null);
    await seenLine(m, seen, 'world');
    assert.deepEqual(seen, ['hello', 'world'], 'no EOF until asked for');
  },
);

test(
  "endStdin closes the child's stdin after what is queued: it sees EOF",
  { timeout: 20000 },
  async (t) => {
    const m = stopAfter(t, new Monitor(fixture('stdin-echo.js'), { silent: true, max: 1 }));
    const seen = lines(m);
    const exited = next(m, 'exit');
    m.start();
    const pid = m.child.pid;
    const written = write(m, pid, 'last\n');
    assert.equal(m._native.endStdin(pid), null);
    assert.equal(m._native.endStdin(pid), null, 'a second end is no error');
    assert.equal(await written, null);
    await seenLine(m, seen, 'EOF');
    await exited;
    assert.deepEqual(seen, ['last', 'EOF']);
  },
);

test(
  'after a restart the old pid is refused with ERR_NOT_RUNNING and the new child gets only its own bytes',
  { timeout: 20000 },
  async (t) => {
    const m = stopAfter(t, new Monitor(fixture('stdin-echo.js'), { silent: true }));
    const seen = lines(m);
    m.start();
    const old = m.child.pid;
    assert.equal(await write(m, old, 'before\n'), null);
    await seenLine(m, seen, 'before');
    const restarted = next(m, 'restart');
    m.restart();
    await restarted;
    const pid = m.child.pid;
    assert.notEqual(pid, old);
    const refused = m._native.writeStdin(old, Buffer.from('stale\n'), () =>
      assert.fail('a refused write has no callback'),
    );
    assert.equal(refused.code, 'ERR_NOT_RUNNING');
    assert.match(refused.message, new RegExp(`process ${old}`));
    assert.equal(m._native.endStdin(old).code, 'ERR_NOT_RUNNING');
    const mark = seen.length;
    assert.equal(await write(m, pid, 'after\n'), null);
    assert.equal(m._native.endStdin(pid), null);
    await seenLine(m, seen, 'EOF');
    assert.deepEqual(seen.slice(mark), ['after', 'EOF'], 'only its own bytes, then EOF');
    assert.ok(!seen.includes('stale'));
  },
);

test(
  "a child whose stdin is not 'pipe' is refused with ERR_STDIN_NOT_PIPE",
  { timeout: 20000 },
  async (t) => {
    const m = stopAfter(
      t,
      new Monitor(fixture('run-forever.js'), { silent: true, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const started = next(m, 'start');
    m.start();
    await started;
    const refused = m._native.writeStdin(m.child.pid, Buffer.from('x'), () =>
      assert.fail('a refused write has no callback'),
    );
    assert.equal(refused.code, 'ERR_STDIN_NOT_PIPE');
    assert.match(refused.message, /'ignore'/);
    assert.equal(m._native.endStdin(m.child.pid).code, 'ERR_STDIN_NOT_PIPE');
  },
);

test(
  'a child that exits while a 10 MB write waits: done gets EPIPE and the host exits on its own',
  { timeout: 30000 },
  async () => {
    // In a host of its own, so that a write still holding Node's loop would show as a hang.
    const script = `
    const { Monitor } = require(process.argv[1]);
    const m = new Monitor(process.argv[2], { silent: true, max: 1 });
    let sent = false;
    m.on('stdout', () => {
      if (sent) return;
      sent = true;
      const refused = m._native.writeStdin(m.child.pid, Buffer.alloc(10 * 1024 * 1024, 120), (failure) => {
        console.log(JSON.stringify({ failure }));
      });
      console.log(JSON.stringify({ refused }));
      // The child never reads its stdin: the write waits for room until the child goes.
      setImmediate(() => m.stop());
    });
    m.on('exit', () => console.log(JSON.stringify({ exit: true })));
    m.start();
  `;
    const r = await runNode(['-e', script, require.resolve('..'), fixture('run-forever.js')], {
      timeout: 20000,
    });
    assert.equal(r.code, 0, r.stderr);
    const said = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(said[0], { refused: null });
    const done = said.find((s) => 'failure' in s);
    assert.ok(done, `done was called: ${r.stdout}`);
    assert.equal(done.failure.code, 'EPIPE');
    assert.equal(done.failure.syscall, 'write');
    assert.ok(
      said.some((s) => s.exit),
      'the child exited',
    );
  },
);
