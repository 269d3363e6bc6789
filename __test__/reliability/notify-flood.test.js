// No one in: the notify socket's address is public (abstract sockets are listed in
// /proc/net/unix), so another user may flood it. Its datagrams must not be heard as the
// child's, must cost no look at /proc, and must not hold restarts — the flooded monitor's
// or another's. Judged by the build with test hooks (npm test makes it): the core counts
// the walks up a sender's parents it makes to place senders. (The restart gap under a
// flood is measured by hand, not asserted: see the closing note of the change.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const hooked = path.join(
  __dirname,
  '..',
  '..',
  'target',
  'test-hooks',
  'forever-native.linux-x64-gnu.node',
);
const haveHooks = fs.existsSync(hooked);
if (haveHooks) process.env.FOREVER_NATIVE_ADDON = hooked;
const { Monitor } = require('../..');
const { next, record, until } = require('../helpers');

const PYTHON = '/usr/bin/python3';
const skip =
  (!haveHooks && 'needs the build with test hooks (npm run build:test-hooks)') ||
  (process.getuid() !== 0 && 'needs root, to flood as another user') ||
  (!fs.existsSync(PYTHON) && `needs ${PYTHON}`);

/** The notify sockets of this process's monitors, as another user finds them. */
function notifyAddresses() {
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/).pop())
    .filter((name) => name && name.startsWith(`@forever-native/${process.pid}/`));
}

// Sends READY=1 and WATCHDOG=1 to the address for ever, printing a count now and then.
const FLOOD = [
  'import socket, sys',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  'address = "\\0" + sys.argv[1][1:]',
  'n = 0',
  'while True:',
  '    try:',
  '        s.sendto(b"READY=1\\nWATCHDOG=1", address)',
  '        n += 1',
  '    except OSError:',
  '        pass',
  '    if n % 500 == 0:',
  '        print(n, flush=True)',
].join('\n');

test(
  "a notify flood from another user is dropped without a look at /proc, heard as nobody's, and restarts go on under it",
  { skip },
  async (t) => {
    const runs = 60;
    const flooded = new Monitor(['sh', '-c', 'sleep 0.05; exit 1'], {
      waitReady: true,
      max: runs,
      silent: true,
    });
    const plain = new Monitor(['sh', '-c', 'sleep 0.05; exit 1'], { max: runs, silent: true });
    for (const m of [flooded, plain]) {
      t.after(async () => {
        if (!m.running) return;
        const stopped = next(m, 'stop', 5000).catch(() => {});
        m.stop();
        await stopped;
      });
    }
    const readies = record(flooded, 'ready');
    let walks = 0;
    flooded.on('restart', () => (walks = Math.max(walks, flooded._notifyWalksForTest())));
    const floodedExit = next(flooded, 'exit', 90000);
    const started = next(flooded, 'start');
    flooded.start();
    await started;
    const [address] = notifyAddresses();
    assert.ok(address, 'the socket is listed in /proc/net/unix');
    // Each flooder's largest count so far.
    const sent = [0, 0, 0];
    const flooders = sent.map((_, i) => {
      const p = spawn(PYTHON, ['-c', FLOOD, address], {
        uid: 65534,
        gid: 65534,
        cwd: '/',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let partial = '';
      p.stdout.on('data', (d) => {
        const lines = (partial + d).split('\n');
        partial = lines.pop();
        for (const line of lines) sent[i] = Math.max(sent[i], Number(line) || 0);
      });
      return p;
    });
    t.after(() => flooders.forEach((p) => p.kill('SIGKILL')));
    await until(
      () => sent.every((n) => n >= 1000),
      20000,
      'each flooder to have sent 1,000 datagrams',
    );
    const plainExit = next(plain, 'exit', 90000);
    plain.start();
    const [[, , floodedInfo], [, , plainInfo]] = await Promise.all([floodedExit, plainExit]);
    assert.ok(
      flooders.every((p) => p.exitCode === null && p.signalCode === null),
      'the flood lasted the whole run',
    );
    assert.equal(floodedInfo.reason, 'max', 'the flooded monitor restarted to its max');
    assert.equal(plainInfo.reason, 'max', 'and so did the other one');
    assert.equal(readies.length, 0, "no READY=1 of the flood was heard as a child's");
    assert.equal(walks, 0, 'no datagram of the flood cost a walk up /proc');
  },
);
