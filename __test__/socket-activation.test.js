// Socket activation: listening sockets this process inherited (`listen: { fd }`, `fd:3`), and
// the CLI under a fake systemd made here (a .socket unit's socket passed at fd 3 with
// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES): the socket outlives a restart of the CLI itself.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { Monitor } = require('..');
const { fixture, until, stopAfter, lines, has, follow } = require('./helpers');
const { request, clientLoop } = require('./client-loop');
const systemd = require('../bin/systemd.js');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');
const SERVER = fixture('listen-server.js');
const noPython = !has('python3') && 'python3 is needed for the fake systemd';

/**
 * The fake systemd (fixtures/socket-activate.py) running the CLI with `args` as its service:
 * `out` follows its stdout (its own lines and the apps'), `events` the CLI's --json lines.
 */
async function fakeSystemd(t, { kind = 'listen', pid = 'self', names = '-' }, args) {
  const sd = spawn(
    'python3',
    [
      fixture('socket-activate.py'),
      kind,
      pid,
      names,
      '--',
      process.execPath,
      BIN,
      '--json',
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  t.after(() => sd.kill('SIGKILL'));
  const out = follow(sd.stdout);
  const events = follow(sd.stderr, (line) => {
    try {
      return JSON.parse(line);
    } catch {
      return { text: line };
    }
  });
  const exited = new Promise((resolve) => sd.on('exit', resolve));
  const portLine = await out.when((l) => l.startsWith('port '), 'the socket');
  return {
    port: Number(portLine.slice('port '.length)),
    out,
    events,
    send: (command) => sd.stdin.write(`${command}\n`),
    /** Stops the service (and its children) and the fake systemd; resolves once it exited. */
    end: () => {
      sd.stdin.end();
      return exited;
    },
  };
}

test(
  'socket activation: the CLI holds the passed socket (first, then --listen), and a restart of the CLI refuses no connection',
  { skip: noPython, timeout: 90000 },
  async (t) => {
    const sd = await fakeSystemd(t, { names: 'web' }, [
      '--listen',
      'admin=127.0.0.1:0',
      '--fork',
      '--waitReady',
      SERVER,
    ]);
    sd.send('start');
    const listening = await sd.events.when((e) => e.event === 'listening', 'listening');
    assert.deepEqual(
      listening.sockets.map((s) => [s.name, s.fd, s.address]),
      [
        ['web', 3, '127.0.0.1'],
        ['admin', 4, '127.0.0.1'],
      ],
      "systemd's socket first, then --listen's",
    );
    assert.equal(listening.sockets[0].port, sd.port, 'the socket systemd passed');
    const first = await sd.events.when((e) => e.event === 'ready', 'the first app ready');
    const line = await sd.out.when((l) => l.startsWith(`listening ${first.pid} `), 'app facts');
    const facts = JSON.parse(line.slice(`listening ${first.pid} `.length));
    assert.equal(facts.listenPid, String(first.pid), "the app's own LISTEN_PID");
    assert.deepEqual(facts.fds, [
      { fd: 3, name: 'web' },
      { fd: 4, name: 'admin' },
    ]);

    const target = { host: '127.0.0.1', port: sd.port };
    assert.equal((await request(target, -1)).pid, first.pid);
    const loop = clientLoop(target, { concurrency: 3, ms: 60000 });
    await until(() => loop.results.some((r) => r.pid === first.pid), 10000, 'the loop served');
    // The CLI stops (its app drains) and exits; systemd keeps the socket; a new CLI takes it.
    sd.send('stop');
    assert.equal(await sd.out.when((l) => l.startsWith('exited '), 'the CLI to exit'), 'exited 0');
    sd.send('start');
    const second = await sd.events.when(
      (e) => e.event === 'ready' && e.pid !== first.pid,
      'the second app ready',
    );
    await until(() => loop.results.some((r) => r.pid === second.pid), 20000, 'the new app served');
    const results = await loop.stop();
    assert.equal(results.filter((r) => r.code === 'ECONNREFUSED').length, 0, 'none refused');
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.code),
      [],
    );
    assert.ok(results.some((r) => r.pid === first.pid));
    assert.ok(results.some((r) => r.pid === second.pid));
    assert.equal(await sd.end(), 0);
  },
);

test(
  'socket activation: a passed descriptor that does not listen is refused with an error naming it',
  { skip: noPython, timeout: 30000 },
  async (t) => {
    const sd = await fakeSystemd(t, { kind: 'bound' }, [SERVER]);
    sd.send('start');
    const error = await sd.events.when((e) => e.event === 'error', 'the error line');
    assert.equal(
      error.message,
      'listen "fd3": fd 3 is not a listening socket (a socket that does not listen)',
    );
    sd.send('wait');
    assert.equal(await sd.out.when((l) => l.startsWith('exited '), 'the CLI to exit'), 'exited 1');
    assert.equal(await sd.end(), 0);
  },
);

test(
  "socket activation: LISTEN_PID of another process means the fds are ignored, and the children never see systemd's variables",
  { skip: noPython, timeout: 30000 },
  async (t) => {
    const sd = await fakeSystemd(t, { pid: 'other', names: 'web' }, [fixture('print-env.js')]);
    sd.send('start');
    const printed = await sd.out.when((l) => l.startsWith('{'), "the app's environment");
    const { env } = JSON.parse(printed);
    assert.equal(env.LISTEN_FDS, undefined);
    assert.equal(env.LISTEN_PID, undefined);
    assert.equal(env.LISTEN_FDNAMES, undefined);
    await sd.events.when((e) => e.event === 'start', 'the start line');
    assert.equal(sd.events.seen.filter((e) => e.event === 'listening').length, 0);
    assert.equal(await sd.end(), 0);
  },
);

test('takeListenFds reads and unsets the variables as sd_listen_fds does; usePassedSockets routes them', () => {
  const env = { LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'web:bad name', KEEP: '1' };
  assert.deepEqual(systemd.takeListenFds(env, 42), [
    { fd: 3, name: 'web' },
    { fd: 4, name: 'fd4' },
  ]);
  assert.deepEqual(env, { KEEP: '1' }, 'unset');
  assert.deepEqual(systemd.takeListenFds({ LISTEN_FDS: '1', LISTEN_PID: '41' }, 42), []);
  assert.deepEqual(systemd.takeListenFds({ LISTEN_FDS: '1', LISTEN_PID: '42' }, 42), [
    { fd: 3, name: 'fd3' },
  ]);
  assert.deepEqual(systemd.takeListenFds({ LISTEN_FDS: 'x', LISTEN_PID: '42' }, 42), []);

  const passed = [
    { fd: 3, name: 'web' },
    { fd: 4, name: 'fd4' },
  ];
  const warnings = [];
  const warn = (m) => warnings.push(m);
  const one = [{ options: { listen: '9000' } }];
  systemd.usePassedSockets(one, passed, warn);
  assert.deepEqual(one[0].options.listen, ['web=fd:3', 'fd4=fd:4', '9000']);
  const routed = [{ options: { listen: 'api=fd:4' } }, { options: { listen: ['fd:3'] } }];
  systemd.usePassedSockets(routed, passed, warn);
  assert.deepEqual(
    routed.map((s) => s.options.listen),
    ['api=fd:4', ['fd:3']],
    'named by the apps: left as they are',
  );
  assert.deepEqual(warnings, []);
  const two = [{ options: {} }, { options: {} }];
  systemd.usePassedSockets(two, passed, warn);
  assert.deepEqual(two, [{ options: {} }, { options: {} }]);
  assert.match(warnings[0], /systemd passed 2 sockets \(fd:3, fd:4\) and there are 2 apps/);
});

test('listen: { fd } holds a copy of an inherited listening socket for every child, closed with supervision', async (t) => {
  const held = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => held.on('listening', resolve));
  t.after(() => held.close());
  const fd = held._handle.fd;
  assert.ok(fd > 2, 'the test has the descriptor');
  const m = stopAfter(
    t,
    new Monitor(SERVER, {
      silent: true,
      killSignal: 'SIGTERM',
      listen: [{ fd, name: 'web' }, `other=fd:${fd}`],
      fork: true,
      waitReady: true,
    }),
  );
  assert.deepEqual(m.listen, [
    { name: 'web', address: `fd:${fd}` },
    { name: 'other', address: `fd:${fd}` },
  ]);
  const out = lines(m);
  const { port } = held.address();
  await m.startAsync();
  // The core's copy listens on; the test's own must not accept (Node's server would).
  await new Promise((resolve) => held.close(resolve));
  assert.deepEqual(
    m.listenAddresses().map((s) => [s.name, s.fd, s.family, s.address, s.port]),
    [
      ['web', 3, 'IPv4', '127.0.0.1', port],
      ['other', 4, 'IPv4', '127.0.0.1', port],
    ],
  );
  await until(() => out.some((l) => l.startsWith(`listening ${m.child.pid} `)), 10000, 'serving');
  assert.equal((await request({ host: '127.0.0.1', port }, 0)).pid, m.child.pid);
  // Several children in turn: the copy is held across restarts.
  const before = m.child.pid;
  await m.restartAsync();
  assert.notEqual(m.child.pid, before);
  await until(() => out.some((l) => l.startsWith(`listening ${m.child.pid} `)), 10000, 'again');
  assert.equal((await request({ host: '127.0.0.1', port }, 1)).pid, m.child.pid);
  await m.stopAsync();
  // Closed with supervision: the original was the test's, and the test closed it.
  assert.equal((await request({ host: '127.0.0.1', port }, 2)).code, 'ECONNREFUSED');
});

test('listen: an fd that is not a listening socket fails start() naming it; a bad fd is a TypeError or RangeError naming the option', async (t) => {
  const file = fs.openSync('/dev/null', 'r');
  t.after(() => fs.closeSync(file));
  const m = stopAfter(t, new Monitor(SERVER, { silent: true, listen: `fd:${file}` }));
  await assert.rejects(m.startAsync(), {
    message: `listen "listen0": fd ${file} is not a listening socket (not a socket)`,
  });
  const bad = (listen) => () => new Monitor(SERVER, { listen });
  assert.throws(bad([{ fd: -1 }]), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /The "listen\[0\]\.fd" option must be a file descriptor from 0 to 2147483647/,
  });
  assert.throws(bad({ fd: 1.5 }), { name: 'RangeError', message: /"listen\.fd"/ });
  assert.throws(bad({ fd: '3' }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /The "listen\.fd" option must be a file descriptor number/,
  });
  assert.throws(bad('fd:x'), { name: 'RangeError', message: /"fd:" and a descriptor number/ });
  assert.throws(bad('fd:99999999999'), { name: 'RangeError', message: /"listen"/ });
  assert.throws(bad({ fd: 3, address: 80 }), {
    name: 'RangeError',
    message: /either an address or an fd, not both/,
  });
});
