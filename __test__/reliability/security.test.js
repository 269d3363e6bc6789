// Security: hideEnv removes exactly the variables it names. (spawnWith.shell and literal
// ';' / '$()' are in monitor-api.test.js, log file modes in logs.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const { Monitor } = require('../..');
const { fixture, next } = require('../helpers');

/** Runs `m` (print-env.js, max: 1) once; resolves with the environment its child saw. */
async function childEnv(m) {
  let out = '';
  const onData = (chunk) => (out += chunk);
  m.on('stdout', onData);
  const exited = next(m, 'exit');
  m.start();
  await exited;
  m.removeListener('stdout', onData);
  return JSON.parse(out.trim()).env;
}

test('hideEnv removes the exact key, even when set after the monitor was built; other casings are other variables', async (t) => {
  const names = ['FN_SECRET_TOKEN', 'fn_secret_token', 'Fn_Secret_Token'];
  const saved = names.map((name) => process.env[name]);
  t.after(() =>
    names.forEach((name, i) => {
      if (saved[i] === undefined) delete process.env[name];
      else process.env[name] = saved[i];
    }),
  );
  process.env.FN_SECRET_TOKEN = 'upper';
  process.env.fn_secret_token = 'lower';

  const m = new Monitor(fixture('print-env.js'), {
    silent: true,
    max: 1,
    hideEnv: ['FN_SECRET_TOKEN'],
  });
  t.after(async () => {
    if (!m.running) return;
    const stopped = next(m, 'stop', 5000).catch(() => {});
    m.stop();
    await stopped;
  });
  const first = await childEnv(m);
  assert.equal('FN_SECRET_TOKEN' in first, false, 'the hidden key is absent');
  // On Linux the environment is case-sensitive: hideEnv names one exact key.
  assert.equal(first.fn_secret_token, 'lower');

  // The host's environment is read at each start: a value set (or changed) later stays hidden.
  process.env.FN_SECRET_TOKEN = 'changed';
  process.env.Fn_Secret_Token = 'mixed';
  const second = await childEnv(m);
  assert.equal('FN_SECRET_TOKEN' in second, false, 'still absent after the host changed it');
  assert.equal(second.Fn_Secret_Token, 'mixed');
  assert.equal(second.fn_secret_token, 'lower');
  assert.equal(Object.keys(second).filter((k) => k === 'FN_SECRET_TOKEN').length, 0);
});
