// API storms: thousands of random start/stop/restart/send/kill(false) calls, from several
// timers, against one monitor. The call sequence comes from a seeded PRNG, so a failure
// reproduces with the seed it prints (FN_STORM_SEED=<seed> to rerun one).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');

// The build with test hooks (npm test makes it) tells when the core has carried out every
// call's orders: the storm's end state is judged only then, never while a kill is queued.
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
const { fixture, isAlive, until } = require('../helpers');

const SCRIPT = fixture('run-forever.js');
const SEED = Number(process.env.FN_STORM_SEED || 20261128);
const TIMERS = 4;
// 2,000 calls in all, in three storms with a different last call each.
const STORMS = [
  { calls: 667, last: 'stop' },
  { calls: 667, last: 'restart' },
  { calls: 666, last: 'start' },
];
const OPS = ['start', 'stop', 'restart', 'send', 'kill'];

// What forever-monitor itself reports for calls made in the wrong state; anything else
// is a failure. ERR_IPC_CHANNEL_CLOSED is Node's code for a send to a child whose
// channel has just closed (it died and is not reaped yet).
const KNOWN_MESSAGES = new Set([
  'Cannot start process that is already running.',
  'Cannot stop process that is not running.',
  'Cannot send to process that is not running.',
]);
const KNOWN_CODES = new Set(['ERR_IPC_CHANNEL_CLOSED']);

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Live (non-zombie) children of this process whose command line names run-forever.js. */
function liveChildren() {
  const found = [];
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let kids;
    try {
      kids = fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      continue;
    }
    for (const kid of kids) {
      try {
        if (
          fs.readFileSync(`/proc/${kid}/cmdline`, 'utf8').includes('run-forever.js') &&
          isAlive(kid)
        ) {
          found.push(Number(kid));
        }
      } catch {
        // gone meanwhile
      }
    }
  }
  // The scan reads one thread's children after another, so it can find a child that has
  // exited since and its successor. Checked again after the scan, every pid still alive was
  // alive all the while from its first check on: they were alive at the same time.
  return found.filter(isAlive);
}

/**
 * Whether `pid` is on its way out though not a zombie yet: a SIGKILL sent and not acted on,
 * or its exit begun (PF_EXITING in the flags of /proc/<pid>/stat).
 */
function dying(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
    if (flags & 0x4) return true;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return ['SigPnd', 'ShdPnd'].some((field) => {
      const hex = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(status)[1];
      return (BigInt(`0x${hex}`) & (1n << 8n)) !== 0n;
    });
  } catch {
    return true;
  }
}

test(
  'API storm: 2,000 random calls from several timers against one fork monitor',
  {
    skip: !haveHooks && 'needs the test-hooks build (npm run build:test-hooks; npm test makes it)',
  },
  async (t) => {
    const m = new Monitor(SCRIPT, { silent: true, fork: true });
    const errors = [];
    const thrown = [];
    const started = []; // the pid of each 'start'/'restart', in order
    let exits = 0;
    const samples = { count: 0, maxLive: 0, worst: null };
    m.on('error', (err) => errors.push(err));
    m.on('start', (self, data) => started.push(data.pid));
    m.on('restart', (self, data) => started.push(data.pid));
    m.on('exit:code', () => exits++);
    m.on('stdout', () => {}); // the children's "ready" lines cross into JS during the storm too

    t.after(async () => {
      if (m.running) {
        const stopped = new Promise((resolve) => m.once('stop', resolve));
        m.stop();
        await Promise.race([stopped, until(() => !m.running, 5000).catch(() => {})]);
      }
      for (const pid of [...started, ...liveChildren()])
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });

    const sample = () => {
      const live = liveChildren();
      samples.count++;
      if (live.length > samples.maxLive) {
        samples.maxLive = live.length;
        samples.worst = live;
      }
    };

    /**
     * Every call's consequences have been delivered: the core has carried out every order
     * (a test hook), each started child but the last has reported its exit, JS's `running`
     * matches the children in /proc, and the one child left (if any) is the one JS knows,
     * not dying.
     */
    const settled = () => {
      if (!m._ordersDoneForTest()) return false;
      const live = liveChildren();
      if (started.length === exits) return !m.running && live.length === 0;
      if (started.length !== exits + 1) return false;
      const last = started.at(-1);
      return (
        m.running && live.length === 1 && live[0] === last && m.child.pid === last && !dying(last)
      );
    };
    const state = () =>
      JSON.stringify({
        running: m.running,
        starts: started.length,
        exits,
        live: liveChildren(),
        childPid: m.child && m.child.pid,
      });

    /** Waits for settled(); on a timeout, says what the state was then. */
    const settle = (what) =>
      until(settled, 10000, what).catch((err) => {
        throw new Error(`${err.message}; state: ${state()}`);
      });

    const call = (op, i) => {
      try {
        if (op === 'start') m.start();
        else if (op === 'stop') m.stop();
        else if (op === 'restart') m.restart();
        else if (op === 'send') m.send({ i });
        else m.kill(false);
      } catch (err) {
        thrown.push(`${op}: ${err.message}`);
      }
    };

    let stormSeed = SEED;
    for (const [n, { calls, last }] of STORMS.entries()) {
      const seed = stormSeed++;
      const where = `storm ${n + 1} (FN_STORM_SEED=${SEED}, storm seed ${seed})`;
      const rand = prng(seed);
      // The plan fixes the call sequence; the timers only decide when each call is made.
      const plan = Array.from({ length: calls }, () => OPS[Math.floor(rand() * OPS.length)]);
      let issued = 0;
      const timer = async (k) => {
        const delays = prng(seed * 31 + k);
        while (issued < plan.length) {
          await new Promise((resolve) => setTimeout(resolve, Math.floor(delays() * 4)));
          if (issued >= plan.length) break;
          const i = issued++;
          call(plan[i], i);
          sample();
        }
      };
      const sampler = setInterval(sample, 5);
      try {
        await Promise.all(Array.from({ length: TIMERS }, (_, k) => timer(k)));
      } finally {
        clearInterval(sampler);
      }

      // Calls still in flight decide against a last start() or restart(), by forever-monitor's
      // own rules: a stop() whose child has not exited yet wins over a later restart() (its
      // forceStop beats forceRestart), and start() is refused ("already running") until JS
      // has heard of the stop. So those are made once the storm's events have settled. A last
      // stop() decides the end state whatever is in flight, so it is made at once.
      if (last !== 'stop') await settle(`${where}: events to settle before the last call`);
      call(last, -1);
      if (last === 'stop') {
        // The kill is sent by the core, a moment after stop() returns: until then the child
        // still looks settled and running, so wait for the stopped state itself.
        await until(() => settled() && !m.running, 10000, 'the stop').catch((err) => {
          throw new Error(`${where}: ${err.message}; state: ${state()}`);
        });
      } else {
        await settle(`${where}: events to settle after the last ${last}()`);
      }
      sample();

      const live = liveChildren();
      if (last === 'stop') {
        assert.equal(m.running, false, `${where}: not running after a final stop()`);
        assert.deepEqual(live, [], `${where}: no child after a final stop()`);
      } else {
        assert.equal(m.running, true, `${where}: running after a final ${last}()`);
        assert.deepEqual(
          live,
          [m.child.pid],
          `${where}: exactly one child after a final ${last}()`,
        );
      }
    }

    assert.deepEqual(thrown, [], 'no call threw');
    const unknown = errors.filter(
      (e) => !KNOWN_MESSAGES.has(e.message) && !KNOWN_CODES.has(e.code),
    );
    assert.deepEqual(
      unknown.map((e) => `${e.code}: ${e.message}`),
      [],
      "only forever-monitor's errors",
    );
    assert.ok(samples.count > 2000, `sampled ${samples.count} times`);
    assert.ok(
      samples.maxLive <= 1,
      `at most one child at a time, but saw ${JSON.stringify(samples.worst)}`,
    );
    const byMessage = {};
    for (const e of errors) byMessage[e.message] = (byMessage[e.message] || 0) + 1;
    t.diagnostic(
      `seed ${SEED}: ${started.length} children, ${samples.count} samples, errors: ${JSON.stringify(byMessage)}`,
    );
  },
);
