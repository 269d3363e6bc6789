// fork: true — Node's IPC channel, spoken by the core.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Monitor } = require('..');
const { fixture, next, record, until } = require('./helpers');

function fork(name, options = {}) {
  return new Monitor(fixture(name), { silent: true, fork: true, ...options });
}

async function stop(m) {
  if (!m.running) return;
  const stopped = new Promise((resolve) => m.once('stop', resolve));
  m.stop();
  await stopped;
}

test("forever-monitor's fork fixture: a message from the child, then disconnect", async () => {
  const m = fork('ipc-hello.js', { max: 1 });
  const messages = record(m, 'message');
  const disconnected = next(m, 'disconnect');
  const exited = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  await disconnected;
  await exited;
  assert.deepEqual(messages, [[{ from: 'child' }]]);
});

test('send() reaches the child and its answer comes back as message', async () => {
  const m = fork('ipc-echo.js');
  m.start();
  const [ready] = await next(m, 'message');
  assert.equal(ready.ready, true);
  m.send({ hello: 'world', n: [1, 2] });
  const [answer] = await next(m, 'message');
  assert.deepEqual(answer, {
    pong: true,
    message: { hello: 'world', n: [1, 2] },
    pid: m.child.pid,
  });
  await stop(m);
});

test("IPC on fd 0 (stdio: ['ipc', 'pipe', 'pipe']) works the same way", async () => {
  const m = new Monitor(fixture('ipc-echo.js'), { silent: true, stdio: ['ipc', 'pipe', 'pipe'] });
  m.start();
  await next(m, 'message');
  m.send('over fd 0');
  const [answer] = await next(m, 'message');
  assert.equal(answer.message, 'over fd 0');
  await stop(m);
});

test("Node's internal NODE_ messages are not surfaced", async () => {
  const m = fork('ipc-internal.js', { max: 1 });
  const messages = record(m, 'message');
  const exited = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  await exited;
  assert.deepEqual(messages, [[{ visible: true }]]);
});

test('a child that sends a handle does not stall: the core acknowledges it', async () => {
  const m = fork('ipc-handle.js', { max: 1 });
  const messages = record(m, 'message');
  const exited = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  await exited;
  assert.deepEqual(messages, [[{ with: 'handle' }], [{ after: 'handle' }]]);
});

test('order is kept over 10,000 messages each way', async () => {
  const m = fork('ipc-flood.js', { args: ['10000'], max: 1 });
  const seen = [];
  m.on('message', (msg) => seen.push(msg));
  const exited = new Promise((resolve) => m.once('exit', resolve));
  m.start();
  await exited;
  assert.equal(seen.length, 10001);
  seen.slice(0, 10000).forEach((msg, i) => assert.equal(msg.i, i));
  assert.deepEqual(seen[10000], { done: true });

  const echo = fork('ipc-echo.js');
  echo.start();
  await next(echo, 'message');
  for (let i = 0; i < 10000; i++) echo.send({ i, quiet: true });
  echo.send({ count: true });
  const [count] = await next(echo, 'message');
  assert.equal(count.received, 10000);
  await stop(echo);
});

test('after a restart, messages reach the new child over a fresh channel', async () => {
  const m = fork('ipc-echo.js');
  m.start();
  const [first] = await next(m, 'message');
  const readyAgain = new Promise((resolve) => m.on('message', (msg) => msg.ready && resolve(msg)));
  m.restart();
  const second = await readyAgain;
  assert.notEqual(second.pid, first.pid);
  m.send('again');
  const [answer] = await next(m, 'message');
  assert.equal(answer.pid, second.pid);
  assert.equal(answer.message, 'again');
  await stop(m);
});

test('serialization: advanced round-trips a Map, a Date, a BigInt and typed arrays', async () => {
  const m = fork('ipc-echo.js', { serialization: 'advanced' });
  m.start();
  await next(m, 'message');
  const value = {
    map: new Map([
      ['a', 1],
      ['b', { nested: true }],
    ]),
    when: new Date(1700000000000),
    big: 12345678901234567890n,
    bytes: new Uint8Array([1, 2, 3]),
    buffer: Buffer.from('hi'),
    set: new Set([1, 2]),
  };
  m.send(value);
  const [answer] = await next(m, 'message');
  assert.ok(answer.message.map instanceof Map);
  assert.deepEqual(answer.message.map.get('b'), { nested: true });
  assert.equal(answer.message.when.getTime(), 1700000000000);
  assert.equal(answer.message.big, 12345678901234567890n);
  assert.deepEqual([...answer.message.bytes], [1, 2, 3]);
  assert.equal(Buffer.from(answer.message.buffer).toString(), 'hi');
  assert.deepEqual([...answer.message.set], [1, 2]);
  await stop(m);
});

test("send() when no child runs emits forever-monitor's error and does not throw", async () => {
  const m = fork('ipc-echo.js');
  assert.equal(m.send({ x: 1 }), m);
  const [err] = await next(m, 'error');
  assert.equal(err.message, 'Cannot send to process that is not running.');
});

test('send() of something JSON cannot carry throws a TypeError at the call', async () => {
  const m = fork('ipc-echo.js');
  m.start();
  await next(m, 'message');
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => m.send(undefined), TypeError);
  assert.throws(() => m.send(() => 1), TypeError);
  assert.throws(() => m.send(cycle), TypeError);
  assert.throws(() => m.send(1n), TypeError);
  m.send('still fine');
  const [answer] = await next(m, 'message');
  assert.equal(answer.message, 'still fine');
  await stop(m);
});

test('a child writing garbage on the channel gets an error event, not a host crash', async () => {
  const m = fork('ipc-garbage.js');
  m.start();
  const [err] = await next(m, 'error');
  assert.equal(err.code, 'ERR_IPC_BAD_MESSAGE');
  assert.equal(m.running, true);
  await stop(m);
});

test('a child that stops reading gets a bounded queue and an error, not unbounded memory', async () => {
  const m = fork('ipc-busy.js', { killSignal: 'SIGKILL' });
  m.start();
  await next(m, 'message');
  const big = 'x'.repeat(1024 * 1024);
  const errors = record(m, 'error');
  for (let i = 0; i < 64; i++) m.send(big);
  await new Promise((resolve) => setImmediate(resolve));
  // 16 MiB are queued (the socket takes a little more); the rest is refused.
  assert.ok(errors.length >= 40 && errors.length < 64, `${errors.length} sends refused`);
  assert.ok(errors.every(([err]) => err.code === 'ERR_IPC_BACKLOG'));
  await stop(m);
});

test("a child keeps being read while the host's JS is busy, so a blocking writer never stalls", async (t) => {
  const n = 6000;
  const mark = path.join(os.tmpdir(), `fn-ipc-mark-${process.pid}-${Date.now()}`);
  t.after(() => fs.rmSync(mark, { force: true }));
  // A child that is not Node: it echoes each line of the channel with a blocking write,
  // and creates the mark once it has read n lines.
  const script = `i=0; while read -r line <&3; do echo "$line" >&3; i=$((i+1)); [ $i = ${n} ] && : > "${mark}"; done`;
  const m = new Monitor(['sh', '-c', script], { silent: true, fork: true });
  const echoes = record(m, 'message');
  m.start();
  // One synchronous stretch: send everything, then wait for the child to have read it
  // all. Its ~400 KB of echoes do not fit the socket: unless the core reads them while JS
  // is busy, the child blocks writing, stops reading, and the mark never appears.
  for (let i = 0; i < n; i++) m.send({ i, body: 'ping ping ping ping ping ping ping ping' });
  const deadline = Date.now() + 20000;
  while (!fs.existsSync(mark) && Date.now() < deadline) {
    /* busy */
  }
  assert.ok(fs.existsSync(mark), 'the child read every message while JS was busy');
  await until(() => echoes.length === n, 10000, 'every echo');
  assert.ok(
    echoes.every(([message], i) => message.i === i),
    'echoes in order',
  );
  await stop(m);
});

test('a child killed with our messages unread disconnects without an error', async () => {
  const m = fork('ipc-busy.js', { killSignal: 'SIGKILL', max: 1 });
  const events = [];
  for (const name of ['disconnect', 'error', 'exit']) m.on(name, () => events.push(name));
  m.start();
  await next(m, 'message');
  m.send({ unread: true });
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
  // The socket reports the reset as an error condition; it is a disconnect all the same.
  assert.deepEqual(events, ['disconnect', 'exit']);
});

test('send() to a child without IPC channel drops the message, as forever-monitor does, and warns once', async () => {
  const m = new Monitor(fixture('run-forever.js'), { silent: true });
  const errors = record(m, 'error');
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  m.start();
  await next(m, 'start');
  assert.equal(m.send({ x: 1 }), m);
  m.send({ x: 2 });
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  assert.deepEqual(errors, [], 'no error: a host without an error listener would crash');
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['FOREVER_NATIVE_NO_CHANNEL'],
  );
  assert.match(
    warnings[0].message,
    /without an IPC channel \(use fork: true\)\. The message was dropped/,
  );
  await stop(m);
});
