// loader.js: which addon is loaded, and the refusal where there is none. The platform is
// faked (macOS, Windows, Linux on another CPU or libc); so is `require`, so nothing here
// needs the addon.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const { load, describePlatform, PLATFORMS, GLIBC_FLOOR } = require('../loader.js');

const VERSION = require('../package.json').version;
const SUPPORTED = Object.keys(PLATFORMS).map((p) => `forever-native-${p}`);

const notFound = (id) =>
  Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });

/** A `require` that knows only `modules` (id → exports, or an Error to throw). */
function fakeRequire(modules = {}) {
  const calls = [];
  const fn = (id) => {
    calls.push(id);
    if (!(id in modules)) throw notFound(id);
    if (modules[id] instanceof Error) throw modules[id];
    return modules[id];
  };
  fn.calls = calls;
  return fn;
}

const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-loader-'));
test.after(() => fs.rmSync(empty, { recursive: true, force: true }));

function refusal(seen, modules) {
  try {
    load({ seen, dir: empty, version: VERSION, requireFn: fakeRequire(modules) });
  } catch (err) {
    return err;
  }
  assert.fail('load() did not throw');
}

function assertRefusal(err, seen) {
  assert.equal(err.code, 'ERR_FOREVER_NATIVE_NO_ADDON');
  assert.equal(err.platform, seen.platform);
  assert.equal(err.arch, seen.arch);
  assert.deepEqual(err.supported, Object.keys(PLATFORMS));
  assert.match(err.message, new RegExp(`platform ${seen.platform}, arch ${seen.arch}`));
  assert.doesNotMatch(err.message, /npm has a bug|optional-dependencies|cli\/issues\/4828/);
}

for (const seen of [
  { platform: 'darwin', arch: 'arm64' },
  { platform: 'win32', arch: 'x64' },
]) {
  test(`on ${seen.platform}: no binary, Linux named as the only system, no build route offered`, () => {
    const err = refusal(seen);
    assertRefusal(err, seen);
    assert.match(
      err.message,
      /forever-native has no native addon for this system \(platform \w+, arch \w+, libc n\/a\)/,
    );
    for (const name of SUPPORTED) assert.ok(err.message.includes(name), name);
    assert.match(
      err.message,
      new RegExp(
        `cannot be built for ${seen.platform} either: its supervisor core uses Linux's pidfd, /proc and PR_SET_PDEATHSIG`,
      ),
    );
  });
}

test('on Linux riscv64: no binary; how to build from source', () => {
  const seen = { platform: 'linux', arch: 'riscv64', libc: 'glibc', version: '2.39' };
  const err = refusal(seen);
  assertRefusal(err, seen);
  assert.equal(err.libc, 'glibc');
  assert.match(err.message, /platform linux, arch riscv64, glibc 2\.39/);
  assert.match(
    err.message,
    new RegExp(`glibc >= ${GLIBC_FLOOR.replace('.', '\\.')} \\(gnu\\) or musl`),
  );
  assert.match(
    err.message,
    /To build it from source \(Linux only; Rust >= [\d.]+, Node\.js >= [\d.]+\): clone the forever-native repository, run `npm ci`/,
  );
});

test('on Linux x64 with an unknown libc: no binary', () => {
  const seen = { platform: 'linux', arch: 'x64', libc: null };
  const err = refusal(seen);
  assertRefusal(err, seen);
  assert.match(err.message, /libc unknown/);
});

test('a supported platform whose package is not installed: names it, and how to get it', () => {
  const seen = { platform: 'linux', arch: 'arm64', libc: 'musl' };
  const err = refusal(seen);
  assertRefusal(err, seen);
  assert.match(
    err.message,
    new RegExp(
      `optional dependency forever-native-linux-arm64-musl@${VERSION.replace(/\./g, '\\.')}, and it is not installed`,
    ),
  );
  assert.match(err.message, /--omit=optional/);
  assert.match(err.message, /npm install forever-native-linux-arm64-musl@/);
});

test("the platform package loads; its version must be the main package's", () => {
  const seen = { platform: 'linux', arch: 'x64', libc: 'glibc', version: '2.31' };
  const addon = { NativeMonitor: class {} };
  const requireFn = fakeRequire({
    'forever-native-linux-x64-gnu/package.json': { version: VERSION },
    'forever-native-linux-x64-gnu': addon,
  });
  assert.equal(load({ seen, dir: empty, version: VERSION, requireFn }), addon);

  const err = refusal(seen, {
    'forever-native-linux-x64-gnu/package.json': { version: '0.0.1' },
    'forever-native-linux-x64-gnu': addon,
  });
  assertRefusal(err, seen);
  assert.match(
    err.message,
    /found forever-native-linux-x64-gnu 0\.0\.1 for this system .*: the two must be the same version/,
  );
});

test('a platform package that cannot be loaded (an old glibc): the loader error and the floor', () => {
  const seen = { platform: 'linux', arch: 'x64', libc: 'glibc', version: '2.12' };
  const dlopen = Object.assign(
    new Error(
      "/lib64/libc.so.6: version `GLIBC_2.14' not found (required by forever-native.linux-x64-gnu.node)",
    ),
    { code: 'ERR_DLOPEN_FAILED' },
  );
  const err = refusal(seen, {
    'forever-native-linux-x64-gnu/package.json': { version: VERSION },
    'forever-native-linux-x64-gnu': dlopen,
  });
  assertRefusal(err, seen);
  assert.match(
    err.message,
    /could not load its prebuilt binary forever-native-linux-x64-gnu@[\d.]+ on this system \(platform linux, arch x64, glibc 2\.12\): .*GLIBC_2\.14' not found/,
  );
  assert.match(err.message, new RegExp(`need glibc >= ${GLIBC_FLOOR.replace('.', '\\.')}`));
  assert.equal(err.cause, dlopen);
});

test('a local build comes first; the package is the fallback', () => {
  const seen = { platform: 'linux', arch: 'x64', libc: 'glibc' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-local-'));
  try {
    const local = path.join(dir, 'forever-native.linux-x64-gnu.node');
    fs.writeFileSync(local, '');
    const mine = { local: true };
    const requireFn = fakeRequire({
      [local]: mine,
      'forever-native-linux-x64-gnu': { local: false },
    });
    assert.equal(load({ seen, dir, version: VERSION, requireFn }), mine);
    assert.deepEqual(requireFn.calls, [local]);

    // A local build that does not load: the package is tried, and both failures are told.
    const broken = new Error('invalid ELF header');
    const fallback = fakeRequire({
      [local]: broken,
      'forever-native-linux-x64-gnu/package.json': { version: VERSION },
      'forever-native-linux-x64-gnu': { local: false },
    });
    assert.deepEqual(load({ seen, dir, version: VERSION, requireFn: fallback }), { local: false });
    assert.throws(
      () => load({ seen, dir, version: VERSION, requireFn: fakeRequire({ [local]: broken }) }),
      /A build from source, forever-native\.linux-x64-gnu\.node, is there but could not be loaded: invalid ELF header/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("describePlatform names this process's platform and its package", () => {
  const here = describePlatform();
  assert.equal(here.platform, process.platform);
  assert.equal(here.arch, process.arch);
  if (process.platform === 'linux') {
    assert.ok(here.libc === 'glibc' || here.libc === 'musl', here.text);
    assert.equal(here.supported, here.name in PLATFORMS);
    assert.equal(here.packageName, `forever-native-${here.name}`);
    assert.equal(here.file, `forever-native.${here.name}.node`);
  }
});

test('require("forever-native") does not load the addon', () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const result = spawnSync(
    process.execPath,
    [
      '-e',
      `
require(${JSON.stringify(path.join(__dirname, '..'))});
console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.endsWith('.node'))));
`,
    ],
    { encoding: 'utf8', env },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), []);
});
