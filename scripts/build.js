#!/usr/bin/env node
'use strict';
/**
 * Builds the native addon, `forever-native.<platform>.node`, in the package's directory.
 *
 *   node scripts/build.js [--release] [--prepare] [--target <rust triple>] [napi build flags…]
 *
 * `npm run build` (and `prepare`, so `npm ci` in a checkout) makes the release addon; on an
 * x64 Linux host a gnu target is linked against glibc 2.17 with napi-rs's prebuilt gcc
 * toolchain (the npm package @napi-rs/cross-toolchain-x64-target-*, fetched with `npm pack`,
 * checked against the integrity pinned below and unpacked under target/), so the binary loads
 * on any Linux with glibc >= 2.17. `npm run build:debug` makes a debug addon against the
 * host's glibc, for iterating.
 *
 * It stops at once, with one message and exit code 1, where a build cannot work: off Linux
 * (the core uses pidfd, /proc and PR_SET_PDEATHSIG), without cargo, or with a Rust older
 * than the dependencies need. Where the napi CLI is missing (a directory install of a clone
 * that never ran `npm ci`: npm runs `prepare` there without installing devDependencies) it
 * runs cargo itself. As `prepare` without cargo, it builds nothing when the addon for this
 * platform is already here and not older than the Rust sources (a directory install of a clone
 * built elsewhere), and says so in one line. In the throwaway clone npm makes for a git
 * install it builds nothing: the package npm packs from it holds no binary.
 */

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const { describePlatform, PLATFORMS, GLIBC_FLOOR, BUILD_NEEDS } = require('../loader.js');

const MIN_RUST = BUILD_NEEDS.rust;
const MIN_NODE_FOR_NAPI_CLI = BUILD_NEEDS.node;

const { GLIBC_TOOLCHAINS, toolchainDir } = require('./toolchains.js');

const say = (line) => process.stderr.write(`forever-native build: ${line}\n`);

class Refusal extends Error {}

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

function parseArgs(argv) {
  const opts = { release: false, prepare: false, target: null, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--release' || a === '-r') opts.release = true;
    else if (a === '--prepare') opts.prepare = true;
    else if (a === '--target' || a === '-t') opts.target = argv[++i];
    else if (a.startsWith('--target=')) opts.target = a.slice('--target='.length);
    else opts.rest.push(a);
  }
  return opts;
}

/** The napi platform name of a Rust target ('x86_64-unknown-linux-gnu' → 'linux-x64-gnu'). */
function platformOf(triple) {
  return Object.keys(PLATFORMS).find((name) => PLATFORMS[name] === triple) || null;
}

/** Whether `cargo` can be run from the PATH. */
function haveCargo() {
  return !spawnSync('cargo', ['--version'], { encoding: 'utf8' }).error;
}

function checkRust() {
  if (!haveCargo()) {
    throw new Refusal(
      [
        'building forever-native from source needs Rust, and `cargo` is not on the PATH.',
        `Install Rust ${MIN_RUST} or later (https://rustup.rs), then run the install again.`,
        'Without Rust, install the packed tarballs of a clone built elsewhere (`node scripts/pack.js --local` there; see docs/install.md), or, once forever-native is on the npm registry, `npm install forever-native`, with prebuilt binaries for ' +
          `${Object.keys(PLATFORMS).join(', ')}.`,
      ].join('\n'),
    );
  }
  const rustc = spawnSync('rustc', ['--version'], { encoding: 'utf8' });
  const version = /rustc (\d+\.\d+)/.exec(rustc.stdout || '');
  if (version && compareVersions(version[1], MIN_RUST) < 0) {
    throw new Refusal(
      `forever-native needs Rust ${MIN_RUST} or later to build (its dependencies' floor); this is ${version[0]}. Run \`rustup update\`.`,
    );
  }
}

/** The files a build reads: the addon is up to date when it is not older than any of them. */
const SOURCES = ['Cargo.toml', 'Cargo.lock', 'build.rs', 'src'];

/** The newest modification time among SOURCES (walking src/), in ms; 0 when none is there. */
function newestSource() {
  let newest = 0;
  const visit = (file) => {
    let stat;
    try {
      stat = fs.statSync(file);
    } catch {
      return;
    }
    if (stat.isDirectory()) for (const entry of fs.readdirSync(file)) visit(path.join(file, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const source of SOURCES) visit(path.join(ROOT, source));
  return newest;
}

/**
 * The addon already built in this directory for `host`: `{ file, current }`, where `current`
 * says it is not older than the sources; null when there is none.
 */
function builtAddon(host) {
  const file = path.join(ROOT, host.file);
  let built;
  try {
    built = fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
  return { file, current: built >= newestSource() };
}

/** The napi CLI's entry, when it is installed and this Node can run it. */
function napiCli() {
  let cli;
  try {
    cli = require.resolve('@napi-rs/cli/package.json', { paths: [ROOT] });
  } catch {
    return null;
  }
  if (compareVersions(process.versions.node, MIN_NODE_FOR_NAPI_CLI) < 0) {
    say(
      `Node.js ${process.versions.node} is too old for the napi CLI (it needs ${MIN_NODE_FOR_NAPI_CLI}): building with cargo alone, without binding.d.ts.`,
    );
    return null;
  }
  const pkg = JSON.parse(fs.readFileSync(cli, 'utf8'));
  return path.join(path.dirname(cli), typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.napi);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    const why = result.signal
      ? `was killed by ${result.signal}`
      : `exited with code ${result.status}`;
    throw new Refusal(`\`${[path.basename(command)].concat(args).join(' ')}\` ${why}.`);
  }
}

/** npm, as the running `npm run`/`npm ci` was started, else the one on the PATH. */
function npmCommand() {
  const cli = process.env.npm_execpath;
  if (cli && cli.endsWith('.js') && fs.existsSync(cli)) return [process.execPath, [cli]];
  return ['npm', []];
}

/**
 * The glibc 2.17 toolchain for `triple` on this host, unpacked under target/, or null (with
 * a note) when there is none for this host or it cannot be had.
 */
function glibcToolchain(triple) {
  const spec = (GLIBC_TOOLCHAINS[process.arch] || {})[triple];
  if (!spec) {
    say(
      `no glibc ${GLIBC_FLOOR} toolchain for ${triple} on a ${process.arch} host: linking against this system's glibc, which the binary will then need.`,
    );
    return null;
  }
  const dir = toolchainDir(spec);
  const gcc = path.join(dir, 'bin', `${triple}-gcc`);
  if (fs.existsSync(path.join(dir, '.ready'))) return { dir, gcc, spec };
  try {
    const started = Date.now();
    say(
      `fetching the glibc ${GLIBC_FLOOR} toolchain ${spec.name}@${spec.version} (48 MB, npm registry)…`,
    );
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-toolchain-'));
    try {
      const [npm, npmArgs] = npmCommand();
      const packed = spawnSync(
        npm,
        npmArgs.concat([
          'pack',
          `${spec.name}@${spec.version}`,
          '--prefer-offline',
          '--json',
          '--pack-destination',
          work,
        ]),
        {
          cwd: work,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      if (packed.status !== 0)
        throw new Error(`npm pack failed: ${(packed.stderr || '').trim().split('\n').pop()}`);
      const tgz = path.join(work, JSON.parse(packed.stdout)[0].filename);
      const digest = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tgz)).digest('base64')}`;
      if (digest !== spec.integrity)
        throw new Error(`${path.basename(tgz)} does not match the pinned integrity`);
      say(`unpacking it into ${path.relative(ROOT, dir)}/ (about 210 MB)…`);
      const xz = path.join(work, `${triple}.tar.xz`);
      run('tar', ['-xzf', tgz, '-C', work, '--strip-components=1', `package/${triple}.tar.xz`]);
      const staging = `${dir}.partial`;
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
      run('tar', ['-xJf', xz, '-C', staging]);
      if (!fs.existsSync(path.join(staging, 'bin', `${triple}-gcc`)))
        throw new Error(`the toolchain has no bin/${triple}-gcc`);
      fs.writeFileSync(path.join(staging, '.ready'), `${spec.name}@${spec.version}\n`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(staging, dir);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    say(`toolchain ready in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    return { dir, gcc, spec };
  } catch (err) {
    say(`WARNING: could not set up the glibc ${GLIBC_FLOOR} toolchain (${err.message}).`);
    say(
      "Linking against this system's glibc instead: the binary will need it, and `npm test` reports it above the floor.",
    );
    return null;
  }
}

/** The environment that links `triple` with the toolchain, as napi's --use-napi-cross sets it. */
function toolchainEnv(toolchain, triple) {
  const bin = (tool) => path.join(toolchain.dir, 'bin', `${triple}-${tool}`);
  const under = triple.replace(/-/g, '_');
  return {
    [`CARGO_TARGET_${under.toUpperCase()}_LINKER`]: bin('gcc'),
    [`CC_${under}`]: bin('gcc'),
    [`CXX_${under}`]: bin('g++'),
    [`AR_${under}`]: bin('ar'),
  };
}

/**
 * Whether this is npm preparing a git dependency: it runs `prepare` in a clone under its
 * cache (once inside pacote, which sets _PACOTE_NO_PREPARE_, and once more after), then
 * packs that clone by package.json's `files`, which hold no binary.
 */
function gitInstall() {
  if (process.env._PACOTE_NO_PREPARE_) return true;
  const cache = process.env.npm_config_cache;
  return !!cache && ROOT.startsWith(path.join(path.resolve(cache), '_cacache', 'tmp') + path.sep);
}

function main(argv) {
  const opts = parseArgs(argv);
  const started = Date.now();
  if (process.platform !== 'linux') {
    throw new Refusal(
      [
        `forever-native builds and runs on Linux only, and this is ${process.platform} (${process.arch}):`,
        "its supervisor core uses Linux's pidfd, /proc and PR_SET_PDEATHSIG. Nothing was built.",
      ].join('\n'),
    );
  }
  if (opts.prepare && gitInstall()) {
    say(
      'a git install: not building. npm packs this clone without the binary, so it has to come from the platform package (forever-native-<platform>, from the registry once published, or a tarball that `node scripts/pack.js --local` made in a built clone); or install a built clone as a directory, or its packed tarballs (docs/install.md).',
    );
    return;
  }
  const host = describePlatform();
  if (opts.prepare && !haveCargo()) {
    // A directory install of a clone built elsewhere (its `npm ci`), on a machine without Rust:
    // the binary is there, and nothing could rebuild it anyway.
    const built = builtAddon(host);
    if (built && built.current) {
      say(
        `cargo is not on the PATH: not building, ${host.file} is here and newer than the Rust sources.`,
      );
      return;
    }
    if (built) {
      throw new Refusal(
        [
          `${host.file} is older than the Rust sources (src/, Cargo.toml; changed by a \`git pull\`?), and rebuilding it needs Rust: \`cargo\` is not on the PATH.`,
          `Install Rust ${MIN_RUST} or later (https://rustup.rs) and run the install again, or check out the commit it was built from.`,
        ].join('\n'),
      );
    }
  }
  checkRust();

  const triple = opts.target || PLATFORMS[host.name] || null;
  const platform = triple ? platformOf(triple) : host.name;
  const profile = opts.release ? 'release' : 'debug';
  const env = { ...process.env };
  let floorNote =
    triple && triple.endsWith('-musl')
      ? 'musl'
      : triple && triple !== PLATFORMS[host.name]
        ? "the cross linker's glibc"
        : `this system's glibc${host.libcVersion ? ` (${host.libcVersion})` : ''}`;
  const crossArgs = opts.rest.some(
    (a) => a === '-x' || a === '--cross-compile' || a === '--use-cross' || a === '--use-napi-cross',
  );
  if (opts.release && triple && triple.endsWith('-linux-gnu') && !crossArgs) {
    const toolchain = glibcToolchain(triple);
    if (toolchain) {
      Object.assign(env, toolchainEnv(toolchain, triple));
      floorNote = `glibc ${GLIBC_FLOOR} (${toolchain.spec.name}@${toolchain.spec.version})`;
    }
  }

  const cli = napiCli();
  say(
    `building the ${profile} addon for ${platform || host.name}, linked against ${floorNote}${cli ? '' : ', with cargo alone'}; cargo's progress follows${opts.release ? ' (minutes on 2 cores the first time, less once target/ holds the dependencies)' : ''}.`,
  );
  let output;
  if (cli) {
    // `--no-const-enum`: a #[napi(string_enum)] is declared as the union of its words, which
    // the JS side passes and compares as strings, checked by tsc against the Rust enum.
    const args = [
      cli,
      'build',
      '--platform',
      '--no-js',
      '--dts',
      'binding.d.ts',
      '--no-const-enum',
    ];
    if (opts.release) args.push('--release');
    if (opts.target) args.push('--target', opts.target);
    run(process.execPath, args.concat(opts.rest), { cwd: ROOT, env });
    output = path.join(ROOT, `forever-native.${platform}.node`);
  } else {
    // What `napi build --platform` does, less the type definitions.
    if (!platform) throw new Refusal(`no known platform name for ${host.text}; pass --target.`);
    const args = ['build', '--lib'];
    if (opts.release) args.push('--release');
    if (opts.target) args.push('--target', opts.target);
    run('cargo', args.concat(opts.rest), { cwd: ROOT, env });
    const targetDir = env.CARGO_TARGET_DIR
      ? path.resolve(ROOT, env.CARGO_TARGET_DIR)
      : path.join(ROOT, 'target');
    const built = path.join(targetDir, opts.target || '', profile, 'libforever_native.so');
    output = path.join(ROOT, `forever-native.${platform}.node`);
    fs.copyFileSync(built, `${output}.tmp`);
    fs.renameSync(`${output}.tmp`, output);
  }

  let needs = '';
  try {
    const { readGlibcNeeds, highest } = require('./check-glibc.js');
    const top = highest(readGlibcNeeds(output).versions);
    if (top) needs = `; it needs glibc >= ${top}`;
  } catch {
    // Not an ELF we can read (another libc, say): nothing to add.
  }
  const size = (fs.statSync(output).size / 1048576).toFixed(1);
  say(
    `built ${path.basename(output)} (${size} MB) in ${((Date.now() - started) / 1000).toFixed(0)} s${needs}.`,
  );
}

/** Runs a build; a refusal is printed as one message, with exit code 1. */
function cli(argv) {
  try {
    main(argv);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    process.stderr.write(
      `\nforever-native build: ${err.message.split('\n').join('\nforever-native build: ')}\n\n`,
    );
    process.exitCode = 1;
  }
}

if (require.main === module) cli(process.argv.slice(2));

module.exports = { cli };
