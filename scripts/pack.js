#!/usr/bin/env node
'use strict';
/**
 * Packs the packages that get published: the main package, with its platform packages as
 * optional dependencies pinned to its own version, and one package per built binary.
 *
 *   node scripts/pack.js [--out DIR] [--artifacts DIR] [--json]
 *
 * The binaries are every `forever-native.<platform>.node` under --artifacts (the release
 * workflow downloads its build jobs' artifacts there), else the one built in this checkout.
 * Each platform package is `npm/<platform>/` plus its binary and LICENSE; the main package is
 * what `npm pack` takes from this checkout (package.json's `files`), with the optional
 * dependencies added to its package.json and its `prepare` (the build) taken out, and no
 * binary. Tarballs go to --out (default
 * target/packages/); the release workflow publishes exactly these, and
 * __test__/package.test.js installs them into a scratch project.
 *
 * The optional dependencies are added here, at pack time, as napi-rs's `napi pre-publish`
 * does, rather than kept in package.json: a version that is not yet on the registry cannot
 * be in package-lock.json, and `npm ci` refuses a package.json and lock that disagree.
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

/**
 * Packs everything. Returns { main, platforms: { name: tarball } }.
 * @param {{ out?: string, artifacts?: string }} [options]
 */
function pack(options = {}) {
  const out = path.resolve(options.out || path.join(ROOT, 'target', 'packages'));
  fs.mkdirSync(out, { recursive: true });
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
    const pkg = { ...main, scripts: { ...main.scripts } };
    // `prepare` builds from source in a checkout; npm never runs it for a registry package,
    // but npm 11 lists it as an install script to approve, and scripts/ is not shipped.
    delete pkg.scripts.prepare;
    pkg.optionalDependencies = {};
    for (const platform of Object.keys(PLATFORMS))
      pkg.optionalDependencies[`${NAME}-${platform}`] = main.version;
    fs.writeFileSync(path.join(staged, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const packed = npmPack(staged, out);
    return { main: packed.file, mainFiles: packed.files, platforms };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function main(argv) {
  const options = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') options.out = argv[++i];
    else if (argv[i] === '--artifacts') options.artifacts = argv[++i];
    else if (argv[i] === '--json') json = true;
    else
      throw new Error(
        `unknown argument ${argv[i]}; usage: node scripts/pack.js [--out DIR] [--artifacts DIR] [--json]`,
      );
  }
  const result = pack(options);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    for (const file of Object.values(result.platforms)) process.stdout.write(`${file}\n`);
    process.stdout.write(`${result.main}\n`);
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
