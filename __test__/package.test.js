// The package a user installs: the glibc floor of the release addon, the per-platform
// packages, and `npm install` from the packed tarballs into a scratch project whose PATH has
// no cargo, where a monitor then runs end to end (crash, restart, IPC, stop). Everything is
// installed offline, from the tarballs scripts/pack.js makes, as the release workflow
// publishes them.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const { PLATFORMS, GLIBC_FLOOR, describePlatform } = require('../loader.js');
const {
  readGlibcNeeds,
  highest,
  compareVersions,
  dlopenOnSysroot,
} = require('../scripts/check-glibc.js');
const { unpackedToolchain, GLIBC_TOOLCHAINS } = require('../scripts/toolchains.js');
const { pack } = require('../scripts/pack.js');

const ROOT = path.join(__dirname, '..');
const MAIN = require('../package.json');
const HOST = describePlatform();
const ADDON = path.join(ROOT, HOST.file);

/** PATH without the directories that hold cargo or rustc: a user without Rust. */
function pathWithoutRust() {
  return process.env.PATH.split(path.delimiter)
    .filter((dir) => !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(dir, tool))))
    .join(path.delimiter);
}

/** The environment of a user's shell: no Rust, and none of the outer `npm test`'s settings. */
function userEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'NODE_TEST_CONTEXT' && key !== 'INIT_CWD') env[key] = value;
  }
  env.PATH = pathWithoutRust();
  return env;
}

function sh(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 60000, ...options });
  if (result.error) throw result.error;
  return result;
}

function npm(args, cwd, env) {
  return sh('npm', args.concat(['--no-audit', '--no-fund', '--no-update-notifier']), { cwd, env });
}

function tmpdir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `forever-native-${name}-`));
}

test(`the release addon needs no glibc above ${GLIBC_FLOOR}`, (t) => {
  if (HOST.libc !== 'glibc') return t.skip(`not a glibc system (${HOST.text})`);
  if (!(GLIBC_TOOLCHAINS[process.arch] || {})[PLATFORMS[HOST.name]]) {
    return t.skip(
      `no glibc ${GLIBC_FLOOR} toolchain runs on ${process.arch}: the release workflow builds this binary on x64`,
    );
  }
  const needs = readGlibcNeeds(ADDON);
  if (!needs.stripped)
    return t.skip("a debug build (npm run build:debug): the floor is the release build's");
  const top = highest(needs.versions);
  const over = [...needs.versions].filter(([v]) => compareVersions(v, GLIBC_FLOOR) > 0);
  assert.ok(
    top !== null && compareVersions(top, GLIBC_FLOOR) <= 0,
    `${HOST.file} needs GLIBC_${top}: ${over.map(([v, s]) => `GLIBC_${v} (${s.join(', ')})`).join('; ')}. ` +
      `Was it built by \`npm run build\` with the glibc ${GLIBC_FLOOR} toolchain? See its output.`,
  );
});

test(`the release addon loads on glibc ${GLIBC_FLOOR} itself (its sysroot's ld.so and libc)`, (t) => {
  const toolchain = unpackedToolchain(PLATFORMS[HOST.name]);
  if (!toolchain)
    return t.skip(
      `no glibc ${GLIBC_FLOOR} toolchain unpacked under target/ (npm run build unpacks it on x64)`,
    );
  if (!readGlibcNeeds(ADDON).stripped)
    return t.skip("a debug build (npm run build:debug), linked against this system's glibc");
  assert.match(
    dlopenOnSysroot(ADDON, toolchain, PLATFORMS[HOST.name]),
    new RegExp(`^glibc ${GLIBC_FLOOR.replace('.', '\\.')}: loaded`),
  );
});

test('npm/ holds one package per napi target, at the main version, with os, cpu and libc', () => {
  assert.deepEqual(MAIN.napi.targets.slice().sort(), Object.values(PLATFORMS).sort());
  assert.deepEqual(fs.readdirSync(path.join(ROOT, 'npm')).sort(), Object.keys(PLATFORMS).sort());
  for (const [platform, triple] of Object.entries(PLATFORMS)) {
    const pkg = require(`../npm/${platform}/package.json`);
    const [os_, arch, abi] = platform.split('-');
    assert.equal(pkg.name, `forever-native-${platform}`);
    assert.equal(
      pkg.version,
      MAIN.version,
      `npm/${platform} is not at ${MAIN.version}: run \`npx napi version\``,
    );
    assert.equal(pkg.main, `forever-native.${platform}.node`);
    assert.deepEqual(pkg.files, [pkg.main]);
    assert.deepEqual(pkg.os, [os_]);
    assert.deepEqual(pkg.cpu, [arch]);
    assert.deepEqual(pkg.libc, [abi === 'gnu' ? 'glibc' : 'musl']);
    assert.ok(pkg.description.includes(triple));
  }
  assert.equal(
    MAIN.optionalDependencies,
    undefined,
    'the optional dependencies are added by scripts/pack.js, not kept in package.json',
  );
  assert.ok(!MAIN.files.some((f) => f.includes('.node')), 'the main package holds no binary');
});

test(
  'a user without Rust installs the packed packages and runs a monitor end to end',
  { timeout: 110000 },
  (t) => {
    if (!HOST.supported || !fs.existsSync(ADDON))
      return t.skip(`no ${HOST.file} here (${HOST.text})`);
    const env = userEnv();
    assert.equal(
      sh('sh', ['-c', 'command -v cargo || command -v rustc'], { env }).stdout,
      '',
      'cargo is still on the PATH',
    );
    const out = tmpdir('packages');
    const project = tmpdir('project');
    t.after(() => {
      fs.rmSync(out, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    });

    const packed = pack({ out });
    assert.deepEqual(Object.keys(packed.platforms), [HOST.name]);
    assert.ok(
      !packed.mainFiles.some((f) => f.endsWith('.node')),
      `the main tarball holds a binary: ${packed.mainFiles}`,
    );
    assert.ok(
      packed.mainFiles.includes('loader.js') && packed.mainFiles.includes('LICENSE'),
      String(packed.mainFiles),
    );
    const manifest = JSON.parse(sh('tar', ['-xzOf', packed.main, 'package/package.json']).stdout);
    assert.deepEqual(
      manifest.optionalDependencies,
      Object.fromEntries(Object.keys(PLATFORMS).map((p) => [`forever-native-${p}`, MAIN.version])),
    );
    assert.equal(
      manifest.scripts,
      undefined,
      'the packed package.json keeps no scripts: each needs files it does not ship (prepare above all)',
    );

    // The user's project. --offline: only the tarballs, never the registry.
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }),
    );
    const installed = npm(
      ['install', '--offline', packed.main, packed.platforms[HOST.name]],
      project,
      env,
    );
    assert.equal(
      installed.status,
      0,
      `npm install failed:\n${installed.stdout}\n${installed.stderr}`,
    );

    fs.writeFileSync(
      path.join(project, 'child.js'),
      `
// Run 1 says hello and crashes; run 2 says hello, answers a ping, and waits to be stopped.
const fs = require('fs');
const runs = Number(fs.existsSync('runs') ? fs.readFileSync('runs', 'utf8') : 0) + 1;
fs.writeFileSync('runs', String(runs));
process.on('message', (msg) => { if (msg.ping) process.send({ pong: runs }); });
process.send({ hello: runs }, () => { if (runs === 1) process.exit(3); });
setInterval(() => {}, 1000);
`,
    );
    fs.writeFileSync(
      path.join(project, 'app.js'),
      `
const { Monitor } = require('forever-native');
const events = [];
const monitor = new Monitor(require('path').join(__dirname, 'child.js'), { max: 3, fork: true, silent: true });
monitor.on('start', () => events.push('start'));
monitor.on('restart', () => events.push('restart'));
monitor.on('exit:code', (code) => events.push('exit:' + code));
monitor.on('message', (msg) => {
  events.push('message:' + JSON.stringify(msg));
  if (msg.hello === 2) monitor.send({ ping: true });
  if (msg.pong) monitor.stop();
});
monitor.on('stop', () => {
  events.push('stop');
  const addons = Object.keys(require.cache).filter((file) => file.endsWith('.node'));
  console.log(JSON.stringify({ events, addons }));
});
monitor.on('error', (err) => { console.error(err.message); process.exit(1); });
monitor.start();
setTimeout(() => { console.error('timed out: ' + events); process.exit(2); }, 20000).unref();
`,
    );
    const run = sh(process.execPath, ['app.js'], { cwd: project, env });
    assert.equal(run.status, 0, `app.js failed:\n${run.stdout}\n${run.stderr}`);
    const { events, addons } = JSON.parse(run.stdout);
    assert.deepEqual(addons, [
      fs.realpathSync(path.join(project, 'node_modules', `forever-native-${HOST.name}`, HOST.file)),
    ]);
    for (const expected of [
      'start',
      'message:{"hello":1}',
      'exit:3',
      'restart',
      'message:{"hello":2}',
      'message:{"pong":2}',
      'stop',
    ]) {
      assert.ok(events.includes(expected), `no ${expected} in ${events}`);
    }
    assert.ok(events.indexOf('message:{"hello":1}') < events.indexOf('exit:3'), String(events));
    assert.ok(events.indexOf('exit:3') < events.indexOf('restart'), String(events));

    // The command-line tool, as npx would run it: two runs of a crashing script, then it gives up.
    fs.writeFileSync(path.join(project, 'crash.js'), 'process.exit(4);\n');
    const cli = sh(
      path.join(project, 'node_modules', '.bin', 'forever-native'),
      ['--max', '2', 'crash.js'],
      { cwd: project, env },
    );
    assert.equal(cli.status, 4, `${cli.stdout}\n${cli.stderr}`);
    assert.match(cli.stderr, /crash\.js gave up after 2 runs/);

    // Without the platform package (npm --omit=optional), the first start is this package's refusal.
    const platformDir = path.join(project, 'node_modules', `forever-native-${HOST.name}`);
    fs.renameSync(platformDir, `${platformDir}.away`);
    const refused = sh(
      process.execPath,
      [
        '-e',
        `
const { Monitor } = require('forever-native');
new Monitor('crash.js').on('error', (err) => { console.log(err.code); console.log(err.message); }).start();
`,
      ],
      { cwd: project, env },
    );
    assert.equal(refused.status, 0, refused.stderr);
    assert.match(refused.stdout, /^ERR_FOREVER_NATIVE_NO_ADDON$/m);
    assert.match(
      refused.stdout,
      new RegExp(
        `forever-native-${HOST.name}@${MAIN.version.replace(/\./g, '\\.')}, and it is not installed`,
      ),
    );
    assert.match(refused.stdout, /platform linux, arch \w+, (glibc|musl)/);
    assert.doesNotMatch(refused.stdout, /optional dependencies \(https|npm has a bug/);
  },
);

/** A copy of the checkout's git files (as `git clone` would give) in a new directory, or null. */
function copyOfClone() {
  const listed = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (listed.error || listed.status !== 0) return null;
  const clone = tmpdir('clone');
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!fs.existsSync(path.join(ROOT, file))) continue;
    fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(clone, file));
  }
  return clone;
}

/** A scratch project with a package.json and nothing else. */
function scratchProject(name) {
  const project = tmpdir(name);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }),
  );
  return project;
}

/** Runs a monitor of `sh -c 'exit 3'` twice from `project`; returns what it printed. */
function runMonitorIn(project, env) {
  const run = sh(
    process.execPath,
    [
      '-e',
      `
const { Monitor } = require('forever-native');
const events = [];
new Monitor(['sh', '-c', 'exit 3'], { max: 2 })
  .on('exit:code', (code) => events.push(code))
  .on('exit', () => console.log(JSON.stringify(events)))
  .on('error', (err) => { console.error(err.message); process.exitCode = 1; })
  .start();
`,
    ],
    { cwd: project, env },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  return run.stdout.trim();
}

test(
  'before a release: the --local tarballs install in a project without Rust, and npm ci installs it again from its lock',
  { timeout: 110000 },
  (t) => {
    if (!HOST.supported || !fs.existsSync(ADDON))
      return t.skip(`no ${HOST.file} here (${HOST.text})`);
    const env = userEnv();
    const out = tmpdir('local-packages');
    const project = scratchProject('local-project');
    t.after(() => {
      fs.rmSync(out, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    });
    // docs/install.md's commands: `node scripts/pack.js --local` (here with --out), then one
    // `npm install` of both tarballs by a glob.
    const packing = sh(process.execPath, ['scripts/pack.js', '--local', '--out', out], {
      cwd: ROOT,
      env,
    });
    assert.equal(packing.status, 0, packing.stderr);
    const tarballs = packing.stdout.trim().split('\n');
    const packed = { main: tarballs.at(-1) };
    assert.deepEqual(
      tarballs.map((f) => path.dirname(f)),
      [out, out],
    );
    assert.match(packing.stderr, /^pack: in your project: npm install \S+\.tgz \S+\.tgz$/m);
    const manifest = JSON.parse(sh('tar', ['-xzOf', packed.main, 'package/package.json']).stdout);
    assert.deepEqual(
      manifest.optionalDependencies,
      { [`forever-native-${HOST.name}`]: MAIN.version },
      'only the platform packages packed here: the others are not on the registry yet',
    );
    // --offline: never the registry.
    const installed = sh('sh', ['-c', `npm install --offline --no-audit --no-fund ${out}/*.tgz`], {
      cwd: project,
      env,
    });
    assert.equal(installed.status, 0, `${installed.stdout}\n${installed.stderr}`);
    assert.equal(runMonitorIn(project, env), '[3,3]');

    // A CI job or a container build installs from the project's lock.
    fs.rmSync(path.join(project, 'node_modules'), { recursive: true });
    const ci = npm(['ci', '--offline'], project, env);
    assert.equal(ci.status, 0, `npm ci refused the lock:\n${ci.stdout}\n${ci.stderr}`);
    assert.equal(runMonitorIn(project, env), '[3,3]');
  },
);

test(
  'a directory install of a built clone, without Rust, takes the binary there, and prepare says so in one line',
  { timeout: 60000 },
  (t) => {
    if (!HOST.supported || !fs.existsSync(ADDON))
      return t.skip(`no ${HOST.file} here (${HOST.text})`);
    const clone = copyOfClone();
    if (!clone) return t.skip('no git, or not a git checkout');
    const env = userEnv();
    const project = scratchProject('built-dir-install');
    t.after(() => {
      fs.rmSync(clone, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    });
    // Built after the sources were checked out, as `npm ci` in the clone leaves it.
    fs.copyFileSync(ADDON, path.join(clone, HOST.file));

    const result = npm(['install', '--offline', '--foreground-scripts', clone], project, env);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.match(
      output,
      new RegExp(
        `forever-native build: cargo is not on the PATH: not building, ${HOST.file.replace(/\./g, '\\.')} is here and newer than the Rust sources\\.`,
      ),
    );
    assert.equal(runMonitorIn(project, env), '[3,3]');

    // The sources change (a `git pull`): without Rust, a rebuild says why it cannot.
    const later = new Date(fs.statSync(path.join(clone, HOST.file)).mtimeMs + 60000);
    fs.utimesSync(path.join(clone, 'src', 'lib.rs'), later, later);
    const rebuild = npm(['rebuild', 'forever-native', '--foreground-scripts'], project, env);
    assert.notEqual(rebuild.status, 0, `${rebuild.stdout}\n${rebuild.stderr}`);
    assert.match(
      `${rebuild.stdout}\n${rebuild.stderr}`,
      /is older than the Rust sources .* rebuilding it needs Rust: `cargo` is not on the PATH/,
    );
  },
);

test('a plain npm pack in the checkout is refused, naming scripts/pack.js', () => {
  const result = npm(['pack', '--dry-run'], ROOT, userEnv());
  assert.notEqual(result.status, 0, result.stdout);
  assert.match(result.stderr, /no native binary and no platform packages/);
  assert.match(result.stderr, /Run `node scripts\/pack\.js --local` instead/);
  assert.doesNotMatch(result.stdout, /\.tgz/, 'no tarball was listed');
});

test(
  "a directory install of a never-built clone, without Rust, fails with this package's message",
  { timeout: 60000 },
  (t) => {
    const listed = spawnSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (listed.error || listed.status !== 0) return t.skip('no git, or not a git checkout');
    const env = userEnv();
    const clone = tmpdir('clone');
    const project = tmpdir('dir-install');
    t.after(() => {
      fs.rmSync(clone, { recursive: true, force: true });
      fs.rmSync(project, { recursive: true, force: true });
    });
    for (const file of listed.stdout.split('\0').filter(Boolean)) {
      if (!fs.existsSync(path.join(ROOT, file))) continue;
      fs.mkdirSync(path.dirname(path.join(clone, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(clone, file));
    }
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }),
    );
    const started = Date.now();
    const result = npm(['install', '--offline', clone], project, env);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.notEqual(result.status, 0, output);
    assert.match(
      output,
      /forever-native build: building forever-native from source needs Rust, and `cargo` is not on the PATH/,
    );
    assert.doesNotMatch(output, /napi: not found|cargo metadata failed/);
    assert.ok(Date.now() - started < 30000, 'it should stop at once');
  },
);

test('building off Linux stops at once with one message', () => {
  const result = sh(
    process.execPath,
    [
      '-e',
      `
Object.defineProperty(process, 'platform', { value: 'darwin' });
require('./scripts/build.js').cli(['--release']);
`,
    ],
    { cwd: ROOT, env: userEnv() },
  );
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /builds and runs on Linux only, and this is darwin/);
  assert.match(result.stderr, /pidfd, \/proc and PR_SET_PDEATHSIG\. Nothing was built\./);
});
