// The child's output: events, the host's own streams, and nothing lost before 'exit'.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Monitor } = require('..');
const { fixture, next, isAlive, runNode } = require('./helpers');

test('every byte reaches the stdout/stderr listeners before exit fires', async () => {
  const out = 5 * 1024 * 1024 + 17;
  const err = 1024 * 1024 + 3;
  const m = new Monitor(fixture('write-bytes.js'), {
    silent: true,
    max: 1,
    args: [String(out), String(err)],
  });
  let gotOut = 0;
  let gotErr = 0;
  m.on('stdout', (b) => {
    assert.ok(Buffer.isBuffer(b));
    gotOut += b.length;
  });
  m.on('stderr', (b) => (gotErr += b.length));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.equal(gotOut, out);
  assert.equal(gotErr, err);
});

test("silent: false copies the output to the host's own stdout and stderr, all of it before exit", async () => {
  const out = 2 * 1024 * 1024;
  const err = 300 * 1024;
  const { code, stdout, stderr } = await runNode([
    fixture('host-output.js'),
    String(out),
    String(err),
  ]);
  assert.equal(code, 0, stderr.slice(-500));
  assert.equal(stdout.length, out + '<EXIT>'.length);
  assert.ok(stdout.endsWith('x<EXIT>'), "the child's bytes came before the exit marker");
  assert.equal(stderr.length, err + '<EXIT>'.length);
});

test("stdio: 'inherit' gives the child the host's own stdout and stderr, though Node marks them close-on-exec", async () => {
  const script = [
    'const { Monitor } = require(process.argv[1]);',
    "const m = new Monitor(['sh', '-c', 'echo to-stdout; echo to-stderr >&2'], { stdio: 'inherit', max: 1 });",
    "m.on('exit', () => process.stdout.write('exit\\n'));",
    'm.start();',
  ].join('\n');
  const r = await runNode(['-e', script, require.resolve('..')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'to-stdout\nexit\n');
  assert.equal(r.stderr, 'to-stderr\n');
});

test('a grandchild holding the pipes open does not hold back the exit report', async () => {
  // killTree: false, so that the grandchild is left running after the exit (by default it
  // is killed with the child's tree once the child has exited).
  const m = new Monitor(fixture('leave-grandchild.js'), { silent: true, max: 1, killTree: false });
  let text = '';
  m.on('stdout', (b) => (text += b));
  const exited = next(m, 'exit:code');
  m.start();
  const [code] = await exited;
  assert.equal(code, 0);
  const pid = Number(/grandchild (\d+)/.exec(text)[1]);
  assert.ok(isAlive(pid), 'the grandchild still holds the pipe');
  process.kill(pid, 'SIGKILL');
});

test('a listener added after start receives the output from then on', async () => {
  const m = new Monitor(['sh', '-c', 'while :; do echo tick; sleep 0.02; done'], { silent: true });
  m.start();
  await next(m, 'start');
  const [first] = await next(m, 'stdout');
  assert.match(String(first), /tick/);
  assert.equal(m.listenerCount('stdout'), 0);
  const stopped = next(m, 'stop');
  m.stop();
  await stopped;
});

test("a restarted child's output comes after its 'restart', and before its 'exit:code'", async () => {
  const m = new Monitor(['sh', '-c', 'echo "run $$"; exit 1'], { silent: true, max: 3 });
  const seen = [];
  m.on('start', () => seen.push('start'));
  m.on('restart', () => seen.push('restart'));
  m.on('stdout', (b) =>
    seen.push(
      ...String(b)
        .trim()
        .split('\n')
        .map(() => 'out'),
    ),
  );
  m.on('exit:code', () => seen.push('exit:code'));
  const exited = next(m, 'exit');
  m.start();
  await exited;
  assert.deepEqual(seen, [
    'start',
    'out',
    'exit:code',
    'restart',
    'out',
    'exit:code',
    'restart',
    'out',
    'exit:code',
  ]);
});
