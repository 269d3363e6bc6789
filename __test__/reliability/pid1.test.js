// The CLI as pid 1 of a container without an init (`docker run` without `--init`): the
// orphans its app leaves are re-parented to it, and it reaps them as tini would, without
// taking the exits of the children its core waits for.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn, execFileSync } = require('child_process');
const { fixture, until } = require('../helpers');

const BIN = path.join(__dirname, '..', '..', 'bin', 'forever-native.js');
// --kill-child: a test that fails leaves nothing running (the CLI dies with unshare).
const UNSHARE = ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc', '--kill-child'];

/** Why a new pid namespace cannot be made here, or null. */
function unshareRefused() {
  try {
    execFileSync('unshare', [...UNSHARE, 'true'], { stdio: 'ignore', timeout: 10000 });
    return null;
  } catch (err) {
    return `no new pid namespace here (unshare ${UNSHARE.join(' ')}: ${err.message.split('\n')[0]})`;
  }
}

/** The children of `pid` (every thread's), with their state letters. */
function children(pid) {
  const found = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    let list = '';
    try {
      list = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const kid of list.split(' ').filter(Boolean).map(Number)) {
      try {
        const stat = fs.readFileSync(`/proc/${kid}/stat`, 'utf8');
        const rest = stat.slice(stat.lastIndexOf(')') + 2);
        found.push({
          pid: kid,
          state: rest[0],
          comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        });
      } catch {
        // Reaped meanwhile.
      }
    }
  }
  return found;
}

test(
  "as pid 1 the CLI reaps 200 orphaned grandchildren, and still reports and restarts its app's own crashes",
  { skip: unshareRefused() || false, timeout: 90000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-pid1-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    // Two runs each leave 100 orphans and crash (exit code 3); the third stays up.
    const ns = spawn(
      'unshare',
      [
        ...UNSHARE,
        process.execPath,
        BIN,
        '--json',
        fixture('make-orphans.js'),
        path.join(dir, 'runs'),
        '2',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => ns.kill('SIGKILL'));
    const events = [];
    const out = [];
    readline.createInterface({ input: ns.stderr }).on('line', (line) => {
      try {
        events.push(JSON.parse(line));
      } catch {
        events.push({ event: 'text', line });
      }
    });
    readline.createInterface({ input: ns.stdout }).on('line', (line) => out.push(line));
    const exited = new Promise((resolve) => ns.on('exit', (code) => resolve(code)));

    await until(() => out.some((l) => l.startsWith('up ')), 60000, 'the third run to be up');
    // The CLI is pid 1 in there; out here it is unshare's child.
    const [cli] = children(ns.pid).map((c) => c.pid);
    assert.ok(cli, 'the CLI runs');
    const made = out.filter((l) => l.startsWith('orphans '));
    assert.deepEqual(made, ['orphans 100 adopted 100', 'orphans 100 adopted 100']);
    // The orphans exited with the runs that made them; none is left a zombie.
    let left = [];
    await until(
      () => {
        left = children(cli).filter((c) => c.state === 'Z' || c.comm === 'cat');
        return left.length === 0;
      },
      20000,
      'the orphans to be reaped',
    ).catch((err) =>
      assert.fail(`${err.message}: ${JSON.stringify(left.slice(0, 5))} (${left.length})`),
    );

    // The app's own exits were the core's, each reported with its code and restarted.
    const exits = events.filter((e) => e.event === 'exit');
    assert.deepEqual(
      exits.map((e) => [e.code, e.signal]),
      [
        [3, null],
        [3, null],
      ],
    );
    assert.equal(events.filter((e) => e.event === 'restart').length, 2);
    assert.deepEqual(
      events.filter((e) => e.event === 'error' || e.event === 'text'),
      [],
    );
    assert.equal(events.find((e) => e.event === 'start').pid > 1, true);

    // pid 1 gets the signals it handles: a clean stop.
    process.kill(cli, 'SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(events.at(-1).event, 'stop');
  },
);

test('--reap outside pid 1: the CLI becomes a child subreaper and reaps the orphans that come to it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-reap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cli = spawn(
    process.execPath,
    [BIN, '--json', '--reap', fixture('make-orphans.js'), path.join(dir, 'runs'), '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => cli.kill('SIGKILL'));
  const out = [];
  const events = [];
  readline.createInterface({ input: cli.stdout }).on('line', (line) => out.push(line));
  readline
    .createInterface({ input: cli.stderr })
    .on('line', (line) => events.push(JSON.parse(line)));
  const exited = new Promise((resolve) => cli.on('exit', (code) => resolve(code)));
  await until(() => out.some((l) => l.startsWith('up ')), 60000, 'the second run to be up');
  // Adopted by the CLI (the subreaper), not by pid 1: the app saw none of them under pid 1.
  assert.deepEqual(
    out.filter((l) => l.startsWith('orphans ')),
    ['orphans 100 adopted 0'],
  );
  await until(
    () => children(cli.pid).every((c) => c.state !== 'Z' && c.comm !== 'cat'),
    20000,
    'the orphans to be reaped',
  );
  assert.deepEqual(
    events.filter((e) => e.event === 'exit').map((e) => e.code),
    [3],
  );
  assert.equal(events.filter((e) => e.event === 'restart').length, 1);
  assert.deepEqual(
    events.filter((e) => e.event === 'warning' || e.event === 'error'),
    [],
  );
  cli.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('--reap and a config\'s "reap" key belong to the CLI, not to the Monitor', () => {
  const cli = require('../../bin/cli.js');
  assert.equal(cli.plan(['--reap', 'a.js'], { cwd: '/srv', exists: () => true }).reap, true);
  assert.equal(cli.plan(['a.js'], { cwd: '/srv', exists: () => true }).reap, false);
  const apps = cli.appsFromConfig('app.json', '/srv', () =>
    JSON.stringify([{ script: 'a.js', reap: true }, { script: 'b.js' }]),
  );
  assert.deepEqual(
    apps.map((a) => [a.reap, 'reap' in a.options]),
    [
      [true, false],
      [false, false],
    ],
  );
  assert.throws(
    () => cli.appsFromConfig('app.json', '/srv', () => '{"script":"a.js","reap":1}'),
    /"reap" must be true or false/,
  );
});
