// The command line's --listen, --listenBacklog, --reloadGrace and --reloadOnHup: parsing,
// config keys, and a real run reloaded by SIGHUP without refusing a connection.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const cli = require('../bin/cli.js');
const { fixture, runNode } = require('./helpers');
const { request, clientLoop } = require('./client-loop');

const BIN = path.join(__dirname, '..', 'bin', 'forever-native.js');

test('--listen is repeatable, socket paths are resolved, and --reloadOnHup belongs to the CLI', () => {
  const { apps } = cli.plan(
    [
      '--listen',
      'http=127.0.0.1:8080',
      '--listen',
      'run/app.sock',
      '--listen',
      '9000',
      '--listenBacklog',
      '64',
      '--reloadGrace',
      '250',
      '--reloadOnHup',
      'app.js',
      '--listen',
      'x',
    ],
    { cwd: '/srv/app', exists: () => true },
  );
  const [app] = apps;
  assert.deepEqual(app.options.listen, ['http=127.0.0.1:8080', '/srv/app/run/app.sock', '9000']);
  assert.equal(
    cli.plan(['--listen', '8080', 'app.js'], { exists: () => true }).apps[0].options.listen,
    '8080',
    'one is one',
  );
  assert.equal(app.options.listenBacklog, 64);
  assert.equal(app.options.reloadGrace, 250);
  assert.equal(app.reloadOnHup, true);
  assert.equal('reloadOnHup' in app.options, false, 'not a Monitor option');
  assert.deepEqual(app.options.args, ['--listen', 'x'], "after the script, the script's");
  assert.throws(
    () => cli.plan(['--listenBacklog', '0', 'app.js'], { exists: () => true }),
    /--listenBacklog must be a whole number from 1 to 65535/,
  );
});

test('config files take listen (paths relative to the file), listenBacklog, reloadGrace and reloadOnHup', () => {
  const read = () =>
    JSON.stringify([
      {
        script: 'web.js',
        listen: ['http=8080', 'admin=sock/admin.sock'],
        listenBacklog: 128,
        reloadOnHup: true,
      },
      { script: 'other.js', listen: 'sock/other.sock' },
    ]);
  const apps = cli.appsFromConfig('app.json', '/etc/svc', read);
  assert.deepEqual(apps[0].options.listen, ['http=8080', 'admin=/etc/svc/sock/admin.sock']);
  assert.equal(apps[0].reloadOnHup, true);
  assert.equal(apps[1].options.listen, '/etc/svc/sock/other.sock');
  assert.equal(apps[1].reloadOnHup, false);
  assert.throws(
    () => cli.appsFromConfig('app.json', '/etc', () => '{"script":"a.js","reloadOnHup":"yes"}'),
    /"reloadOnHup" must be true or false/,
  );
});

test('a bad --listen address is a usage error naming the option', async () => {
  const { code, stderr } = await runNode([
    BIN,
    '--listen',
    'localhost:80',
    fixture('listen-server.js'),
  ]);
  assert.equal(code, 2);
  assert.match(stderr, /The "listen" option must be an address with an IPv4 address/);
});

test(
  'forever-native --listen --reloadOnHup: SIGHUP reloads, and a client loop sees nothing refused or failed',
  { timeout: 20000 },
  async (t) => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--json',
        '--silent',
        '--listen',
        'http=127.0.0.1:0',
        '--fork',
        '--waitReady',
        '--reloadOnHup',
        fixture('listen-server.js'),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const events = [];
    const waiters = [];
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      const e = JSON.parse(line);
      events.push(e);
      for (const w of waiters.slice()) {
        if (w.match(e)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
    const when = (match) =>
      new Promise((resolve) => {
        const seen = events.find(match);
        if (seen) resolve(seen);
        else waiters.push({ match, resolve });
      });
    const listening = await when((e) => e.event === 'listening');
    assert.equal(listening.sockets[0].name, 'http');
    await when((e) => e.event === 'ready');
    const target = { host: listening.sockets[0].address, port: listening.sockets[0].port };
    const first = await request(target, 0);
    assert.equal(first.ok, true);

    const loop = clientLoop(target, { concurrency: 3, ms: 12000 });
    child.kill('SIGHUP');
    const done = await when((e) => e.event === 'reload' && e.phase === 'done');
    const results = await loop.stop();
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.code),
      [],
    );
    assert.deepEqual(
      events.filter((e) => e.event === 'reload').map((e) => e.phase),
      ['starting', 'ready', 'done'],
    );
    assert.equal(events.find((e) => e.event === 'signal').action, 'reload');
    assert.equal(done.oldPid, first.pid);
    assert.equal((await request(target, 1)).pid, done.newPid);

    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal((await request(target, 2)).code, 'ECONNREFUSED');
  },
);
