// Zombies hold nothing: a process group left holding only zombies (killed leftovers that
// their parent, not the core, has not reaped, or never will: a host that is pid 1 in a
// container) is gone, and the next child starts without waiting for them. Judged by the
// build with test hooks (npm test makes it): the core counts the cleanups that gave up
// waiting for leftovers still there, which is what a zombie-only group used to cost (a
// full second each).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

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
const { fixture, next, until, processesWith, marker } = require('../helpers');
const noHooks = !haveHooks && 'needs the build with test hooks (npm run build:test-hooks)';

/** Kills whatever is left with `mark` once the test is over. */
function sweep(t, mark) {
  t.after(() => {
    for (const pid of processesWith(mark)) process.kill(pid, 'SIGKILL');
  });
}

/** The state letter of `pid` (`Z` for a zombie), or null when it is gone. */
function state(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return null;
  }
}

test(
  'restart() of a child whose group holds only a zombie nobody reaps: the next child starts without waiting for it',
  { skip: noHooks },
  async (t) => {
    const mark = marker();
    sweep(t, mark);
    const m = new Monitor(fixture('zombie-in-group.js'), { args: [mark], silent: true });
    t.after(async () => {
      if (!m.running) return;
      const stopped = next(m, 'stop', 5000).catch(() => {});
      m.stop();
      await stopped;
    });
    let out = '';
    m.on('stdout', (chunk) => (out += chunk));
    m.start();
    await until(() => out.includes('\n'), 10000, 'the child to leave its zombie');
    const { zombie } = JSON.parse(out);
    assert.equal(state(zombie), 'Z');
    const restarted = next(m, 'restart');
    m.restart();
    await restarted;
    // The zombie is still there (its parent never reaps it), and the cleanup saw the group
    // gone rather than waiting out its bound.
    assert.equal(state(zombie), 'Z', 'the zombie outlived the restart');
    assert.equal(m._cleanupsTimedOutForTest(), 0, 'no cleanup waited for the zombie');
  },
);

/** Whether this kernel and these privileges allow a new pid namespace. */
function canUnshare() {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], {
      stdio: 'ignore',
      timeout: 10000,
    });
    return true;
  } catch {
    return false;
  }
}

test(
  'a host that is pid 1 (a container without an init) restarts without waiting for the zombies it adopts',
  { skip: noHooks || (!canUnshare() && 'no new pid namespace here (unshare --pid refused)') },
  async () => {
    const { execFile } = require('child_process');
    const stdout = await new Promise((resolve, reject) => {
      execFile(
        'unshare',
        ['--pid', '--fork', '--mount-proc', process.execPath, fixture('host-pid1-zombies.js')],
        {
          timeout: 30000,
          env: { ...process.env, FOREVER_NATIVE_ADDON: hooked },
        },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      );
    });
    const seen = JSON.parse(stdout.trim().split('\n').pop());
    assert.equal(seen.pid, 1, 'the host ran as pid 1');
    assert.equal(seen.times, 3);
    // Each run leaves a zombie the host never reaps: the group is gone all the same.
    assert.equal(seen.timedOut, 0, 'no cleanup waited for the adopted zombies');
  },
);
