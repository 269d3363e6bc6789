'use strict';
/**
 * Finds and loads the native addon, or refuses with a message of this package's own.
 *
 * The addon is looked for in this order:
 * 1. `forever-native.<platform>.node` next to this file: a build from source (a checkout
 *    after `npm ci`, or a directory install after its `prepare`/`npm rebuild`);
 * 2. the prebuilt package for this platform, `forever-native-<platform>` (for example
 *    `forever-native-linux-x64-gnu`), which the published package lists as an optional
 *    dependency pinned to its own version.
 * `FOREVER_NATIVE_ADDON`, an absolute path to a `.node` file, comes before both: the test
 * suite runs a build with test hooks that way (and it helps to try a build by hand).
 * Anything else (macOS, Windows, Linux on another CPU or libc, a prebuilt package that is
 * missing or cannot be loaded) throws an Error with `code: 'ERR_FOREVER_NATIVE_NO_ADDON'`
 * naming the platform, arch and libc it saw, the platforms supported, and how to build from
 * source. `index.js` calls `load()` on first use, never at `require()`.
 */

const fs = require('fs');
const path = require('path');

const PACKAGE = 'forever-native';

/** Platforms with a prebuilt package: napi's platform name → Rust target. */
const PLATFORMS = {
  'linux-x64-gnu': 'x86_64-unknown-linux-gnu',
  'linux-arm64-gnu': 'aarch64-unknown-linux-gnu',
  'linux-x64-musl': 'x86_64-unknown-linux-musl',
  'linux-arm64-musl': 'aarch64-unknown-linux-musl',
};

/** The oldest glibc the prebuilt gnu binaries load on (checked by scripts/check-glibc.js). */
const GLIBC_FLOOR = '2.17';

/** What a build from source needs: Rust (the dependencies' floor) and Node (the napi CLI's). */
const BUILD_NEEDS = { rust: '1.91', node: '20.17' };

const SUPPORTED_TEXT = 'Linux on x64 or arm64, with glibc >= ' + GLIBC_FLOOR + ' (gnu) or musl';

const BUILD_FROM_SOURCE = [
  `To build it from source (Linux only; Rust >= ${BUILD_NEEDS.rust}, Node.js >= ${BUILD_NEEDS.node}): clone the forever-native`,
  'repository, run `npm ci` in the clone, then `npm install /path/to/the/clone` in your',
  'project (see docs/install.md in the repository).',
].join(' ');

/**
 * The C library this process runs on: 'glibc' or 'musl' (null off Linux, or when unknown).
 * Read from the libraries mapped into this very process, so it is Node's own libc, the one
 * the addon must match; a fraction of a millisecond, where Node's diagnostic report takes
 * several (it is asked only for glibc's version, and only for a message).
 * @returns {'glibc'|'musl'|null}
 */
function detectLibc() {
  if (process.platform !== 'linux') return null;
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    if (/\/(ld-musl-|libc\.musl-)/.test(maps)) return 'musl';
    if (/\/libc(-\d+\.\d+)?\.so\b/.test(maps)) return 'glibc';
  } catch {
    // No /proc: ask Node's diagnostic report below.
  }
  return glibcVersion() ? 'glibc' : null;
}

/** glibc's version from Node's diagnostic report (musl reports none), or null. */
function glibcVersion() {
  try {
    return process.report.getReport().header.glibcVersionRuntime || null;
  } catch {
    return null;
  }
}

/**
 * What this process runs on, and the name of its prebuilt package if there is one.
 * `libcVersion` and `text` (for messages) are worked out when first read.
 * @param {{ platform?: string, arch?: string, libc?: string|null, version?: string|null }} [seen]
 *   overrides, for tests
 */
function describePlatform(seen = {}) {
  const platform = seen.platform || process.platform;
  const arch = seen.arch || process.arch;
  const faked = 'libc' in seen;
  const libc = faked ? seen.libc : platform === process.platform ? detectLibc() : null;
  const abi = libc === 'glibc' ? 'gnu' : libc === 'musl' ? 'musl' : null;
  const name = platform === 'linux' && abi ? `${platform}-${arch}-${abi}` : `${platform}-${arch}`;
  let version;
  return {
    platform,
    arch,
    libc,
    get libcVersion() {
      if (version === undefined)
        version = faked ? seen.version || null : libc === 'glibc' ? glibcVersion() : null;
      return version;
    },
    name,
    supported: Object.prototype.hasOwnProperty.call(PLATFORMS, name),
    packageName: `${PACKAGE}-${name}`,
    file: `${PACKAGE}.${name}.node`,
    get text() {
      const libcText =
        libc === null
          ? platform === 'linux'
            ? 'libc unknown'
            : 'libc n/a'
          : libc + (this.libcVersion ? ' ' + this.libcVersion : '');
      return `platform ${platform}, arch ${arch}, ${libcText}`;
    },
  };
}

function noAddon(message, seen, causes) {
  const err = new Error(message);
  err.code = 'ERR_FOREVER_NATIVE_NO_ADDON';
  err.platform = seen.platform;
  err.arch = seen.arch;
  err.libc = seen.libc;
  err.supported = Object.keys(PLATFORMS);
  if (causes.length > 0)
    err.cause = causes.length === 1 ? causes[0] : new AggregateError(causes, 'load attempts');
  return err;
}

/** The refusal for a platform with no binary, or whose binary is missing or broken. */
function refusal(seen, version, attempts) {
  const causes = attempts.map((a) => a.error);
  const lines = [];
  const local = attempts.find((a) => a.kind === 'local');
  const localLine = local
    ? `A build from source, ${seen.file}, is there but could not be loaded: ${firstLine(local.error.message)}`
    : null;
  if (!seen.supported) {
    lines.push(`forever-native has no native addon for this system (${seen.text}).`);
    if (localLine) lines.push(localLine);
    lines.push(
      `Prebuilt binaries exist for ${SUPPORTED_TEXT}: the packages ${Object.keys(PLATFORMS)
        .map((p) => `${PACKAGE}-${p}`)
        .join(', ')}.`,
    );
    if (seen.platform !== 'linux') {
      lines.push(
        `It cannot be built for ${seen.platform} either: its supervisor core uses Linux's pidfd, /proc and PR_SET_PDEATHSIG.`,
      );
    } else {
      lines.push(BUILD_FROM_SOURCE);
    }
  } else {
    const pkg = `${seen.packageName}@${version}`;
    const failed = attempts.find((a) => a.kind === 'package' && a.reason === 'load');
    const mismatch = attempts.find((a) => a.kind === 'package' && a.reason === 'version');
    if (failed) {
      lines.push(
        `forever-native could not load its prebuilt binary ${pkg} on this system (${seen.text}): ${firstLine(failed.error.message)}`,
      );
      if (seen.libc === 'glibc')
        lines.push(`The prebuilt gnu binaries need glibc >= ${GLIBC_FLOOR}.`);
    } else if (mismatch) {
      lines.push(
        `forever-native ${version} found ${seen.packageName} ${mismatch.found} for this system (${seen.text}): the two must be the same version. Install ${pkg}.`,
      );
    } else {
      lines.push(
        `forever-native's binary for this system (${seen.text}) is the optional dependency ${pkg}, and it is not installed.`,
      );
      lines.push(
        `npm skips optional dependencies with --omit=optional (or --no-optional), and may skip one whose package-lock.json was written on another platform; install it with \`npm install ${pkg}\` (until it is on the npm registry, its tarball from \`node scripts/pack.js --local\` in a built clone).`,
      );
    }
    if (localLine) lines.push(localLine);
    lines.push(`Supported: ${SUPPORTED_TEXT}.`);
    lines.push(BUILD_FROM_SOURCE);
  }
  return noAddon(lines.join('\n'), seen, causes);
}

function firstLine(text) {
  return String(text).split('\n')[0];
}

const isMissing = (err, what) =>
  err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${what}`);

/**
 * Loads the addon: a local build first, then the prebuilt package.
 * @param {{ dir?: string, version?: string, seen?: object, requireFn?: Function, env?: object }} [options] for tests
 * @returns {object} the addon's exports
 */
function load(options = {}) {
  const dir = options.dir || __dirname;
  const requireFn = options.requireFn || require;
  const seen = describePlatform(options.seen);
  const attempts = [];

  const chosen =
    options.env === undefined ? process.env.FOREVER_NATIVE_ADDON : options.env.FOREVER_NATIVE_ADDON;
  if (chosen) return requireFn(path.resolve(chosen));

  const local = path.join(dir, seen.file);
  if (fs.existsSync(local)) {
    try {
      return requireFn(local);
    } catch (error) {
      attempts.push({ kind: 'local', reason: 'load', error });
    }
  }

  // Only the prebuilt package and the refusal need this package's version: a local build
  // loads without reading package.json.
  const version = options.version || require('./package.json').version;
  if (seen.supported) {
    let found;
    try {
      found = requireFn(`${seen.packageName}/package.json`).version;
    } catch (error) {
      if (!isMissing(error, seen.packageName))
        attempts.push({ kind: 'package', reason: 'load', error });
    }
    if (found !== undefined && found !== version) {
      attempts.push({
        kind: 'package',
        reason: 'version',
        found,
        error: new Error(`${seen.packageName} is ${found}, not ${version}`),
      });
    } else if (found !== undefined) {
      try {
        return requireFn(seen.packageName);
      } catch (error) {
        attempts.push({ kind: 'package', reason: 'load', error });
      }
    }
  }

  throw refusal(seen, version, attempts);
}

module.exports = { load, describePlatform, PLATFORMS, GLIBC_FLOOR, BUILD_NEEDS };
