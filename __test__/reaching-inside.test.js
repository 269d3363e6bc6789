// Code that reaches inside a monitor, written the way forever-monitor's dependents write it:
// `monitor.child` used as a ChildProcess, old-style subclasses, the trySpawn() hook. Each
// pattern runs against forever-monitor 3.0.3 and against this package, and both must give
// the same outcome.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const util = require('util');
const { EventEmitter } = require('events');
const { fixture, next, tempDir } = require('./helpers');

const tmp = tempDir('fn-inside-');

const IMPLEMENTATIONS = [
  ['forever-monitor', () => require('forever-monitor')],
  ['forever-native', () => require('..')],
];

/** Runs `pattern` against each implementation; both outcomes must equal `expected`. */
function both(name, pattern, expected) {
  for (const [impl, load] of IMPLEMENTATIONS) {
    test(`${name} (${impl})`, { timeout: 30000 }, async (t) => {
      const outcome = await pattern(load(), t);
      assert.deepEqual(outcome, expected);
    });
  }
}

/** Stops `m` when the test ends, whatever state it is in. */
function cleanup(t, m) {
  t.after(() => {
    if (m.running) {
      m.on('error', () => {});
      m.stop();
    }
  });
  return m;
}

both(
  'an old-style subclass sends a command to its child and awaits the reply on this.child',
  async (forever, t) => {
    function AppMonitor(script, options) {
      forever.Monitor.call(this, script, options);
      this.replies = 0;
    }
    util.inherits(AppMonitor, forever.Monitor);
    AppMonitor.prototype.ask = function ask(name) {
      return new Promise((resolve) => {
        const onReply = (message) => {
          if (!message.pong) return;
          this.child.removeListener('message', onReply);
          this.replies += 1;
          resolve(message.message);
        };
        this.child.on('message', onReply);
        this.child.send({ command: name });
      });
    };
    AppMonitor.prototype.boot = function boot() {
      const ready = new Promise((resolve) => {
        this.once('start', () => this.child.once('message', resolve));
      });
      forever.Monitor.prototype.start.call(this);
      return ready;
    };
    const m = cleanup(
      t,
      new AppMonitor(fixture('ipc-echo.js'), { silent: true, fork: true, max: 1 }),
    );
    const hello = await m.boot();
    const reply = await m.ask('status');
    const stopped = next(m, 'exit');
    m.stop();
    await stopped;
    return {
      instance: [
        m instanceof AppMonitor,
        m instanceof forever.Monitor,
        m.child instanceof EventEmitter,
      ],
      hello: hello.ready,
      reply,
      replies: m.replies,
      exitCode: m.child.exitCode,
      signalCode: typeof m.child.signalCode,
    };
  },
  {
    instance: [true, true, true],
    hello: true,
    reply: { command: 'status' },
    replies: 1,
    exitCode: null,
    signalCode: 'string',
  },
);

both(
  'a task starts a server and resolves on a line read from monitor.child.stdout',
  async (forever, t) => {
    const m = cleanup(
      t,
      forever.start([process.execPath, fixture('http-server.js')], { silent: true, max: 1 }),
    );
    const line = await new Promise((resolve) => {
      let text = '';
      m.child.stdout.on('data', (chunk) => {
        text += chunk;
        const newline = text.indexOf('\n');
        if (newline >= 0) resolve(text.slice(0, newline));
      });
    });
    const port = Number(line.split(' ')[1]);
    const answer = await fetch(`http://127.0.0.1:${port}/`).then((res) => res.text());
    return { listening: line.startsWith('listening '), servedBy: Number(answer) === m.child.pid };
  },
  { listening: true, servedBy: true },
);

both(
  "monitor.child.stdout piped to a file on every start and restart keeps every run's lines",
  async (forever, t) => {
    const file = path.join(tmp, `piped-${Math.random().toString(36).slice(2)}.log`);
    const out = fs.createWriteStream(file);
    const m = cleanup(
      t,
      new forever.Monitor(fixture('print-lines.js'), { silent: true, max: 3, args: ['5'] }),
    );
    const pids = [];
    const pipe = () => {
      pids.push(m.child.pid);
      m.child.stdout.pipe(out, { end: false });
    };
    m.on('start', pipe);
    m.on('restart', pipe);
    const ended = next(m, 'exit');
    m.start();
    await ended;
    // The last child's stream ends after 'exit': wait for its close, then for the file.
    if (m.child.exitCode === null && m.child.signalCode === null) await next(m.child, 'exit');
    await new Promise((resolve) => out.end(resolve));
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    return {
      runs: pids.length,
      lines: lines.length,
      everyRun: pids.every((pid) => lines.filter((l) => l.endsWith(` ${pid}`)).length === 5),
      inOrder: pids.every(
        (pid) =>
          lines
            .filter((l) => l.endsWith(` ${pid}`))
            .map((l) => Number(l.split(' ')[1]))
            .join() === '0,1,2,3,4',
      ),
    };
  },
  { runs: 3, lines: 15, everyRun: true, inOrder: true },
);

both(
  'a ChildProcess per run: the old one still tells its own end, with exit then close',
  async (forever, t) => {
    const m = cleanup(
      t,
      new forever.Monitor(fixture('print-lines.js'), { silent: true, max: 2, args: ['3'] }),
    );
    const seen = [];
    const watchChild = () => {
      const child = m.child;
      child.stdout.resume();
      child.on('exit', (code, signal) => seen.push(['exit', child.pid, code, signal]));
      child.on('close', (code, signal) => seen.push(['close', child.pid, code, signal]));
    };
    m.on('start', watchChild);
    m.on('restart', watchChild);
    const ended = next(m, 'exit');
    m.start();
    await ended;
    const last = m.child;
    if (!seen.some(([what, pid]) => what === 'close' && pid === last.pid))
      await next(last, 'close');
    const pids = [...new Set(seen.map(([, pid]) => pid))];
    return {
      children: pids.length,
      perChild: pids.map((pid) =>
        seen
          .filter(([, p]) => p === pid)
          .map(([what, , code, signal]) => `${what}:${code}:${signal}`),
      ),
      fields: [
        last.exitCode,
        last.signalCode,
        typeof last.spawnfile,
        Array.isArray(last.spawnargs),
      ],
    };
  },
  {
    children: 2,
    perChild: [
      ['exit:0:null', 'close:0:null'],
      ['exit:0:null', 'close:0:null'],
    ],
    fields: [0, null, 'string', true],
  },
);

both(
  'monitor.child.kill() returns true, sets killed, and the monitor restarts it',
  async (forever, t) => {
    const m = cleanup(t, new forever.Monitor(fixture('run-forever.js'), { silent: true, max: 2 }));
    const started = next(m, 'start');
    m.start();
    await started;
    const first = m.child;
    const restarted = next(m, 'restart');
    const sent = first.kill('SIGTERM');
    await restarted;
    const second = m.child;
    const stopped = next(m, 'exit');
    m.stop();
    await stopped;
    return {
      sent,
      killed: first.killed,
      signalCode: first.signalCode,
      newChild: second !== first && second.pid !== first.pid,
      badSignal: (() => {
        try {
          second.kill('SIGNOPE');
          return 'no throw';
        } catch (err) {
          return err.name;
        }
      })(),
    };
  },
  { sent: true, killed: true, signalCode: 'SIGTERM', newChild: true, badSignal: 'TypeError' },
);

both(
  'class extends Monitor, and Monitor without new',
  async (forever) => {
    class Sub extends forever.Monitor {
      constructor(script, options) {
        super(script, options);
        this.tag = 'sub';
      }
    }
    const s = new Sub(fixture('run-forever.js'), { silent: true });
    function Old(script, options) {
      forever.Monitor.call(this, script, options);
    }
    Old.prototype = Object.create(forever.Monitor.prototype);
    Old.prototype.constructor = Old;
    const o = new Old(fixture('run-forever.js'), { silent: true });
    let withoutNew;
    try {
      forever.Monitor(fixture('run-forever.js'), { silent: true });
      withoutNew = 'no throw';
    } catch (err) {
      withoutNew = err.name;
    }
    return {
      sub: [s instanceof forever.Monitor, s instanceof Sub, s.tag, typeof s.start],
      old: [o instanceof forever.Monitor, o instanceof Old, Array.isArray(o.args), typeof o.on],
      withoutNew,
    };
  },
  {
    sub: [true, true, 'sub', 'function'],
    old: [true, true, true, 'function'],
    withoutNew: 'TypeError',
  },
);

both(
  'a trySpawn() override that wraps the spawn is called by start() and its child is monitor.child',
  async (forever, t) => {
    const calls = [];
    function Logged(script, options) {
      forever.Monitor.call(this, script, options);
    }
    util.inherits(Logged, forever.Monitor);
    Logged.prototype.trySpawn = function trySpawn() {
      const child = forever.Monitor.prototype.trySpawn.call(this);
      calls.push(child ? typeof child.pid : 'none');
      return child;
    };
    const m = cleanup(t, new Logged(fixture('run-forever.js'), { silent: true }));
    const started = next(m, 'start');
    const returned = m.start();
    await started;
    const child = m.child;
    const stopped = next(m, 'exit');
    m.stop();
    await stopped;
    const missing = new Logged(path.join(tmp, 'no-such-script.js'), { silent: true });
    const error = next(missing, 'error');
    missing.start();
    const [err] = await error;
    return {
      calls,
      returned: returned === m,
      childPid: typeof child.pid,
      missing: err.message.startsWith('Target script does not exist'),
    };
  },
  { calls: ['number', 'none'], returned: true, childPid: 'number', missing: true },
);

both(
  'child.disconnect() closes the channel: the child and the parent each see it end',
  async (forever, t) => {
    const m = cleanup(
      t,
      new forever.Monitor(fixture('ipc-echo.js'), { silent: true, fork: true, max: 1 }),
    );
    const hello = next(m, 'message');
    m.start();
    await hello;
    const child = m.child;
    const before = child.connected;
    const disconnected = next(child, 'disconnect');
    const exited = next(m, 'exit');
    child.disconnect();
    await disconnected;
    const after = child.connected;
    // ipc-echo.js waits only for messages: with its channel gone, it ends by itself.
    await exited;
    let sendError;
    const sent = child.send({ late: true }, (err) => {
      sendError = err && err.code;
    });
    await new Promise((resolve) => setImmediate(resolve));
    return { before, after, exitCode: child.exitCode, sent, sendError };
  },
  { before: true, after: false, exitCode: 0, sent: false, sendError: 'ERR_IPC_CHANNEL_CLOSED' },
);

both(
  'onAny sees every event of a run, with its name in this.event',
  async (forever, t) => {
    const m = cleanup(
      t,
      new forever.Monitor(fixture('print-lines.js'), { silent: true, max: 1, args: ['1'] }),
    );
    const names = new Set();
    let named = true;
    m.onAny(function onAny(name) {
      names.add(name);
      if (this.event !== name) named = false;
    });
    const ended = next(m, 'exit');
    m.start();
    await ended;
    return { names: [...names].sort(), named, any: m.listenersAny().length };
  },
  { names: ['exit', 'exit:code', 'start', 'stderr', 'stdout'], named: true, any: 1 },
);

both(
  'an exit:code listener tells a crash from a stop by monitor.forceStop',
  async (forever, t) => {
    const m = cleanup(t, new forever.Monitor(fixture('run-forever.js'), { silent: true, max: 3 }));
    const seen = [];
    m.on('exit:code', () => seen.push(!!m.forceStop));
    const started = next(m, 'start');
    m.start();
    await started;
    const restarted = next(m, 'restart');
    m.child.kill('SIGTERM');
    await restarted;
    const exited = next(m, 'exit');
    m.stop();
    await exited;
    return { seen, after: !!m.forceStop };
  },
  { seen: [false, true], after: false },
);

both(
  'child.stdin.write() reaches a child that echoes, and end() gives it EOF',
  async (forever, t) => {
    const m = cleanup(t, new forever.Monitor(fixture('stdin-echo.js'), { silent: true, max: 1 }));
    const ended = next(m, 'exit');
    m.start();
    const child = m.child;
    let text = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      text += chunk;
    });
    const accepted = [child.stdin.write('hello\n'), child.stdin.write(Buffer.from('world\n'))];
    child.stdin.end('bye\n');
    await ended;
    if (!child.stdout.readableEnded) await next(child.stdout, 'end');
    const quiet = new forever.Monitor(fixture('stdin-echo.js'), {
      silent: true,
      max: 1,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const quietEnded = next(quiet, 'exit');
    quiet.start();
    const noStdin = quiet.child.stdin;
    await quietEnded;
    return { accepted, lines: text.split('\n').filter(Boolean), exitCode: child.exitCode, noStdin };
  },
  { accepted: [true, true], lines: ['hello', 'world', 'bye', 'EOF'], exitCode: 0, noStdin: null },
);

both(
  "stop(): exit:code, exit, then the child's own exit, then stop",
  async (forever, t) => {
    const m = cleanup(t, new forever.Monitor(fixture('run-forever.js'), { silent: true, max: 1 }));
    const order = [];
    const started = next(m, 'start');
    m.start();
    await started;
    const child = m.child;
    for (const name of ['exit:code', 'exit', 'stop'])
      m.on(name, () => order.push(`monitor ${name}`));
    child.on('exit', () => order.push('child exit'));
    const stopped = next(m, 'stop');
    m.stop();
    await stopped;
    return order;
  },
  ['monitor exit:code', 'monitor exit', 'child exit', 'monitor stop'],
);
