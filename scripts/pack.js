#!/usr/bin/env node
'use strict';
/**
 * Packs the packages that get published: the main package, with its platform packages as
 * optional dependencies pinned to its own version, and one package per built binary.
 *
 *   node scripts/pack.js [--local] [--out DIR] [--artifacts DIR] [--json]
 *
 * The binaries are every `forever-native.<platform>.node` under --artifacts (the release
 * workflow downloads its build jobs' artifacts there), else the one built in this checkout.
 * Each platform package is `npm/<platform>/` plus its binary and LICENSE; the main package is
 * what `npm pack` takes from this checkout (package.json's `files`), with the optional
 * dependencies added to its package.json, its `scripts` taken out (the build and the tests
 * need files it does not ship), and no binary. Tarballs go to --out (default target/packages/,
 * where this package's older tarballs are removed first); the release workflow publishes
 * exactly these, and __test__/package.test.js installs them into a scratch project.
 *
 * --local is for installing the tarballs before a release is on the registry: the main
 * package then lists as optional dependencies only the platform packages packed here, so
 * that a project's package-lock.json names no package the registry does not have yet (else
 * `npm ci` there refuses the lock). The published package lists all four.
 *
 * The optional dependencies are added here, at pack time, as napi-rs's `napi pre-publish`
 * does, rather than kept in package.json: a version that is not yet on the registry cannot
 * be in package-lock.json, and `npm ci` refuses a package.json and lock that disagree.
 *
 * `npm pack` (and `npm publish`) in the checkout run `prepack`, which is
 * `node scripts/pack.js --refuse-npm-pack`: it stops them with one message naming this
 * script, since what they would pack has no binary and no optional dependencies.
 */

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { PLATFORMS } = require('../loader.js');

const ROOT = path.resolve(__dirname, '..');
const NAME = 'forever-native';

function npm(args, cwd) {
  const cli = process.env.npm_execpath;
  const [command, pre] =
    cli && cli.endsWith('.js') && fs.existsSync(cli) ? [process.execPath, [cli]] : ['npm', []];
  const result = spawnSync(command, pre.concat(args), {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${result.stderr}`);
  return result.stdout;
}

/** `npm pack` of `dir` into `out`; returns the tarball's path and the files in it. */
function npmPack(dir, out) {
  const [info] = JSON.parse(
    npm(['pack', '--ignore-scripts', '--json', '--pack-destination', out], dir),
  );
  return { file: path.join(out, info.filename), files: info.files.map((f) => f.path) };
}

/** The binaries to pack: platform name → path. */
function findBinaries(artifacts) {
  const found = {};
  const pattern = new RegExp(`^${NAME}\\.(.+)\\.node$`);
  const visit = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (pattern.test(entry.name)) {
        const platform = pattern.exec(entry.name)[1];
        if (!PLATFORMS[platform])
          throw new Error(
            `${full}: ${platform} is not one of ${Object.keys(PLATFORMS).join(', ')}`,
          );
        if (found[platform])
          throw new Error(`two binaries for ${platform}: ${found[platform]} and ${full}`);
        found[platform] = full;
      }
    }
  };
  if (artifacts) visit(path.resolve(artifacts));
  else {
    for (const platform of Object.keys(PLATFORMS)) {
      const file = path.join(ROOT, `${NAME}.${platform}.node`);
      if (fs.existsSync(file)) found[platform] = file;
    }
  }
  if (Object.keys(found).length === 0) {
    throw new Error(
      artifacts
        ? `no ${NAME}.<platform>.node under ${artifacts}`
        : `no ${NAME}.<platform>.node here: run \`npm run build\` first`,
    );
  }
  return found;
}

/** The default --out, which holds nothing but this script's tarballs. */
const DEFAULT_OUT = path.join(ROOT, 'target', 'packages');

/**
 * Packs everything. Returns { main, platforms: { name: tarball } }.
 * @param {{ out?: string, artifacts?: string, local?: boolean }} [options]
 */
function pack(options = {}) {
  const out = path.resolve(options.out || DEFAULT_OUT);
  fs.mkdirSync(out, { recursive: true });
  if (out === DEFAULT_OUT) {
    // So that `npm install target/packages/*.tgz` takes this version's tarballs only.
    for (const file of fs.readdirSync(out))
      if (file.startsWith(`${NAME}-`) && file.endsWith('.tgz')) fs.rmSync(path.join(out, file));
  }
  const main = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const binaries = findBinaries(options.artifacts);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-pack-'));
  try {
    const platforms = {};
    for (const [platform, binary] of Object.entries(binaries)) {
      const dir = path.join(ROOT, 'npm', platform);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.version !== main.version)
        throw new Error(
          `npm/${platform}/package.json is ${pkg.version}, not ${main.version}: run \`npx napi version\``,
        );
      const staged = path.join(stage, platform);
      fs.mkdirSync(staged);
      for (const file of fs.readdirSync(dir))
        fs.copyFileSync(path.join(dir, file), path.join(staged, file));
      fs.copyFileSync(path.join(ROOT, 'LICENSE'), path.join(staged, 'LICENSE'));
      fs.copyFileSync(binary, path.join(staged, `${NAME}.${platform}.node`));
      const packed = npmPack(staged, out);
      if (!packed.files.includes(`${NAME}.${platform}.node`))
        throw new Error(`${packed.file} lacks its binary`);
      platforms[platform] = packed.file;
    }

    // The main package: the files npm would pack from this checkout, with the optional
    // dependencies added. A binary built here is never among them.
    const listed = JSON.parse(
      npm(['pack', '--dry-run', '--ignore-scripts', '--json'], ROOT),
    )[0].files.map((f) => f.path);
    const staged = path.join(stage, NAME);
    for (const file of listed) {
      if (file.endsWith('.node'))
        throw new Error(
          `the main package would hold the binary ${file}: keep *.node out of package.json's "files"`,
        );
      fs.mkdirSync(path.dirname(path.join(staged, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(staged, file));
    }
    const pkg = { ...main };
    // Every script needs files the package does not ship (scripts/, __test__/, bench/, the
    // Rust sources). `prepare` above all: npm never runs it for a registry package, but npm 11
    // lists it as an install script to approve.
    delete pkg.scripts;
    pkg.optionalDependencies = {};
    for (const platform of Object.keys(options.local ? platforms : PLATFORMS))
      pkg.optionalDependencies[`${NAME}-${platform}`] = main.version;
    fs.writeFileSync(path.join(staged, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const packed = npmPack(staged, out);
    return { main: packed.file, mainFiles: packed.files, platforms };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** What `prepack` says to a plain `npm pack` or `npm publish` in the checkout. */
const REFUSE_NPM_PACK = [
  'npm pack here would make a forever-native package with no native binary and no platform packages.',
  'Run `node scripts/pack.js --local` instead (after `npm ci`): it writes the main and platform tarballs to target/packages/ (docs/install.md).',
  'Releases are published by .github/workflows/release.yml from the tarballs of `node scripts/pack.js`.',
].join('\n');

function main(argv) {
  const options = {};
  let json = false;
  if (argv[0] === '--refuse-npm-pack') {
    process.stderr.write(`${REFUSE_NPM_PACK}\n`);
    process.exitCode = 1;
    return;
  }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--local') options.local = true;
    else if (argv[i] === '--out') options.out = argv[++i];
    else if (argv[i] === '--artifacts') options.artifacts = argv[++i];
    else if (argv[i] === '--json') json = true;
    else
      throw new Error(
        `unknown argument ${argv[i]}; usage: node scripts/pack.js [--local] [--out DIR] [--artifacts DIR] [--json]`,
      );
  }
  const result = pack(options);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const file of Object.values(result.platforms)) process.stdout.write(`${file}\n`);
    process.stdout.write(`${result.main}\n`);
    if (options.local) {
      const files = Object.values(result.platforms).concat(result.main);
      process.stderr.write(`pack: in your project: npm install ${files.join(' ')}\n`);
    }
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`pack: ${err.message}\n`);
    process.exitCode = 1;
  }
}

module.exports = { pack };
