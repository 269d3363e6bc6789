// Shared test helpers: waiting on events and processes, never on fixed sleeps.
const { once } = require('events');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const fixture = (name) => path.join(__dirname, 'fixtures', name);

/** Resolves with the args of the next `event`, or rejects after `ms`. */
function next(emitter, event, ms = 10000) {
  return once(emitter, event, { signal: AbortSignal.timeout(ms) });
}

/** Collects every emission of `event` into an array. */
function record(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

/** True while `pid` exists and is not a zombie. */
function isAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `check` until it returns true; rejects after `ms`. */
async function until(check, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs a node script; resolves with {code, signal, stdout, stderr} once it exits. */
function runNode(args, { timeout = 20000, env = process.env, onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (onLine) {
        partial += d;
        let nl;
        while ((nl = partial.indexOf('\n')) >= 0) {
          onLine(partial.slice(0, nl), child);
          partial = partial.slice(nl + 1);
        }
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout);
    // 'exit' may come before the last of stdout has been read: resolve at 'close' (all
    // read), or 2 s after the exit when something else still holds the pipes open.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const done = () => resolve({ code, signal, stdout, stderr, child });
      const late = setTimeout(done, 2000);
      child.on('close', () => {
        clearTimeout(late);
        done();
      });
    });
  });
}

/** Stops `m` after the test if it is still running, so a failed assertion leaves no child. */
function stopAfter(t, m) {
  t.after(async () => {
    if (m.running) {
      const stopped = next(m, 'stop', 5000).catch(() => {});
      m.stop();
      await stopped;
    }
  });
  return m;
}

/** Live processes whose command line contains `text` (a marker a test put there), and `also`. */
function processesWith(text, also = '') {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(text) && cmdline.includes(also) && isAlive(entry))
        found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A sleep time no other process uses: its command line marks the processes of one test. */
function marker() {
  return `${7000 + Math.floor(Math.random() * 1000)}.${process.pid}${Math.floor(Math.random() * 1000)}`;
}

/** The child's stdout, line by line, as it comes (an array that fills). */
function lines(m) {
  const seen = [];
  eachLine(m, (line) => seen.push(line), 'stdout');
  return seen;
}

/**
 * Calls `onLine` with each whole line of a stream's `'data'` (or of emitter `source`'s
 * `event`), as it comes.
 * @param {NodeJS.EventEmitter & { setEncoding?: (e: string) => unknown }} source
 * @param {(line: string) => void} onLine
 * @param {string} [event]
 */
function eachLine(source, onLine, event = 'data') {
  let partial = '';
  if (event === 'data' && typeof source.setEncoding === 'function') source.setEncoding('utf8');
  source.on(event, (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
}

/** Whether this machine has the command `cmd`. */
function has(cmd) {
  try {
    require('child_process').execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * For a child run as another user (`spawnWith.uid`), who may not be able to enter the
 * checkout (a clone under a mode-0700 directory): copies `files`, paths from the checkout's
 * root, into a new directory anyone can read, in the same layout (so a fixture's relative
 * `require('../../child')` still works). Returns that directory, removed after the test, or
 * `null` when another user cannot reach os.tmpdir() itself.
 */
function sharedCopy(t, files) {
  for (let d = os.tmpdir(); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return null;
    if (d === path.dirname(d)) break;
  }
  const root = path.join(__dirname, '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-shared-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  for (const file of files) {
    let at = dir;
    for (const part of path
      .dirname(file)
      .split(path.sep)
      .filter((p) => p !== '.')) {
      at = path.join(at, part);
      fs.mkdirSync(at, { recursive: true });
      fs.chmodSync(at, 0o755);
    }
    fs.copyFileSync(path.join(root, file), path.join(dir, file));
    fs.chmodSync(path.join(dir, file), 0o644);
  }
  return dir;
}

/** Directories made by {@link tempDir}, removed when the test file's process exits. */
const temps = [];
process.on('exit', () => {
  for (const dir of temps) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A child still writing there: the system's tmp cleaning takes it.
    }
  }
});

/** A new directory under the system's tmp, removed when this test file is done. */
function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A TCP port free on 127.0.0.1 a moment ago. */
async function freePort() {
  const net = require('net');
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Lines of `stream` as they come, with a way to wait for one that matches. */
function follow(stream, parse = (line) => line) {
  const seen = [];
  const waiters = [];
  require('readline')
    .createInterface({ input: stream })
    .on('line', (line) => {
      const item = parse(line);
      seen.push(item);
      for (const w of waiters.slice()) {
        if (seen.length > w.from && w.match(item)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(item);
        }
      }
    });
  /** The first item from index `from` on that matches, now or when it comes. */
  const when = (match, what, from = 0, ms = 30000) =>
    new Promise((resolve, reject) => {
      const found = seen.slice(from).find(match);
      if (found) return resolve(found);
      const w = { match, from, resolve };
      waiters.push(w);
      setTimeout(() => {
        if (waiters.includes(w)) reject(new Error(`timed out waiting for ${what}`));
      }, ms).unref();
    });
  return { seen, when };
}

module.exports = {
  eachLine,
  follow,
  freePort,
  tempDir,
  fixture,
  next,
  record,
  isAlive,
  until,
  runNode,
  stopAfter,
  processesWith,
  marker,
  lines,
  has,
  sharedCopy,
};
