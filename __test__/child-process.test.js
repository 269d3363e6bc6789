// monitor.child as the core owns it: what its ChildProcess object does where forever-native
// differs from a plain ChildProcess (the core restarts on its own, output is fanned out),
// and the corners of its API.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Writable } = require('stream');
const { Monitor } = require('..');
const { fixture, next, until, stopAfter, tempDir } = require('./helpers');

const tmp = tempDir('fn-child-');

/** Blocks the JS thread until `file` has `lines` lines (the core starts children meanwhile). */
function blockUntilLines(file, lines, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const pids = text.split('\n').filter(Boolean).map(Number);
    if (pids.length >= lines) return pids;
    if (Date.now() > deadline) throw new Error(`${file}: ${pids.length} of ${lines} children`);
  }
}

test('an old child object used after the core replaced its child (JS busy meanwhile) never reaches the new one', async (t) => {
  const file = path.join(tmp, 'pids-kill.txt');
  const m = stopAfter(
    t,
    new Monitor([process.execPath, fixture('note-pid-then-exit.js'), file, '100', '3'], {
      silent: true,
      fork: true,
      max: 3,
    }),
  );
  const codes = [];
  m.on('exit:code', (code, signal) => codes.push(signal || code));
  m.start();
  const old = m.child;
  // The first child exits and the core starts the second while this thread is blocked.
  const [first, second] = blockUntilLines(file, 2);
  assert.equal(old.pid, first);
  assert.equal(old.kill('SIGKILL'), false, 'kill() of the replaced child');
  assert.equal(old.killed, false);
  let sendError;
  assert.equal(
    old.send({ hello: 1 }, (err) => {
      sendError = err && err.code;
    }),
    false,
  );
  old.disconnect();
  await next(m, 'exit');
  assert.equal(sendError, 'ERR_IPC_CHANNEL_CLOSED');
  // Every child ended by itself (code 3): the second was neither killed nor cut off.
  assert.deepEqual(codes, [3, 3, 3]);
  assert.notEqual(first, second);
});

test(
  "children piped to a sink that stopped: the monitor's unread bytes stay bounded across restarts",
  { timeout: 60000 },
  async (t) => {
    const stuck = new Writable({ highWaterMark: 1024, write() {} }); // never calls back
    const m = stopAfter(
      t,
      new Monitor([process.execPath, fixture('write-bytes.js'), String(4 * 1024 * 1024)], {
        silent: true,
        max: 8,
      }),
    );
    const pipe = () => m.child.stdout.pipe(stuck, { end: false });
    m.on('start', pipe);
    m.on('restart', pipe);
    process.on('warning', () => {});
    const ended = next(m, 'exit', 50000);
    m.start();
    await ended;
    // 32 MB were written through children whose streams all feed the stuck sink.
    const { UNREAD_LIMIT } = require('../child-process.js');
    const held = m._childUnreadElsewhere(null);
    assert.ok(held <= UNREAD_LIMIT, `${held} bytes held unread across the children`);
  },
);

test('child.stdin: destroy() gives the child EOF; touched after the exit it is destroyed and writes fail quietly', async (t) => {
  const m = stopAfter(t, new Monitor(fixture('stdin-echo.js'), { silent: true, max: 1 }));
  const ended = next(m, 'exit');
  m.start();
  const child = m.child;
  let text = '';
  child.stdout.on('data', (d) => {
    text += d;
  });
  child.stdin.write('a\n');
  await until(() => text.includes('a\n'), 10000, 'the echo');
  child.stdin.destroy();
  await ended;
  assert.match(text, /EOF/);
  // A second monitor: stdin first touched after its child exited.
  const m2 = stopAfter(
    t,
    new Monitor(fixture('crash-after.js'), { silent: true, max: 1, args: ['0', '0'] }),
  );
  const m2Ended = next(m2, 'exit');
  m2.start();
  await m2Ended;
  const stdin = m2.child.stdin;
  assert.equal(stdin.destroyed, true);
  const failed = await new Promise((resolve) =>
    stdin.write('x', (err) => resolve(err && err.code)),
  );
  assert.equal(failed, 'ERR_STREAM_DESTROYED');
});

test('child.kill(0) tells whether the child is there; signal names are taken in any case, as Node takes them', async (t) => {
  const m = stopAfter(t, new Monitor(fixture('run-forever.js'), { silent: true, max: 1 }));
  const started = next(m, 'start');
  m.start();
  await started;
  const child = m.child;
  assert.equal(child.kill(0), true);
  const exited = next(m, 'exit');
  assert.equal(child.kill('sigterm'), true);
  await exited;
  assert.equal(child.signalCode, 'SIGTERM');
  assert.equal(child.kill(0), false);
});

test("removeAllListeners() keeps the monitor's own hooks: a stdout listener added after it hears the output", async (t) => {
  const m = stopAfter(
    t,
    new Monitor(fixture('print-lines.js'), { silent: true, max: 1, args: ['3'] }),
  );
  m.on('stdout', () => {});
  m.removeAllListeners();
  let text = '';
  m.on('stdout', (d) => {
    text += d;
  });
  const ended = next(m, 'exit');
  m.start();
  await ended;
  assert.equal(text.split('\n').filter(Boolean).length, 3);
});

test('stopping a child with stdin writes pending ends the stream quietly: the callback hears, the host goes on', async (t) => {
  const m = stopAfter(t, new Monitor(fixture('run-forever.js'), { silent: true, max: 1 }));
  const started = next(m, 'start');
  m.start();
  await started;
  const stdin = m.child.stdin;
  const errors = [];
  stdin.on('error', (err) => errors.push(err.code));
  // More than the pipe holds: the rest waits in the core and the stream when the child goes.
  const heard = new Promise((resolve) =>
    stdin.write(Buffer.alloc(4 * 1024 * 1024), (err) => resolve(err && err.code)),
  );
  stdin.removeAllListeners('error');
  const exited = next(m, 'exit');
  m.stop();
  await exited;
  assert.ok(['EPIPE', 'ERR_STREAM_DESTROYED'].includes(await heard));
  assert.equal(stdin.destroyed, true);
  assert.deepEqual(errors, []);
});
