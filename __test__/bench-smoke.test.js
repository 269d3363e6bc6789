// Smoke test of the bench harness: `node bench/run.js --quick` runs every scenario once
// (both implementations, small sizes), cleans up after itself and exits 0. The numbers
// are not judged here — only that each scenario completed and said so.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawn } = require('child_process');

const SCENARIOS = [
  'busy-restart',
  'crash-loop',
  'output',
  'footprint',
  'ipc',
  'watch',
  'stop',
  'scale',
  'health',
  'listen',
  'instances',
];

test('npm run bench -- --quick completes every scenario', { timeout: 240000 }, async () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    process.execPath,
    [path.join(__dirname, '..', 'bench', 'run.js'), '--quick'],
    {
      cwd: path.join(__dirname, '..'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), 230000);
  const [code, signal] = await new Promise((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  const why = `exit ${code} ${signal || ''}\n--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`;
  assert.equal(signal, null, `the quick bench was killed (over 90 s?)\n${why}`);
  assert.equal(code, 0, why);
  SCENARIOS.forEach((id, i) => {
    assert.match(
      stdout,
      new RegExp(`^scenario ${i + 1} ${id}: ok`, 'm'),
      `no line for scenario ${i + 1} ${id}\n${why}`,
    );
  });
});
