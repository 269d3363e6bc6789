'use strict';
/**
 * The glibc 2.17 toolchains the build links with, and where they are unpacked: shared by
 * scripts/build.js (which fetches them) and scripts/check-glibc.js (which uses one's
 * loader and libc to try the binary).
 */

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

/**
 * napi-rs's gcc toolchains with a glibc 2.17 sysroot, by host arch and Rust target.
 * Versions and integrities are pinned here: they are fetched by `npm pack`, not installed
 * as devDependencies, because npm refuses (EBADPLATFORM) a devDependency whose `cpu` is not
 * the host's, which would break `npm ci` on an arm64 host.
 */
const GLIBC_TOOLCHAINS = {
  x64: {
    'x86_64-unknown-linux-gnu': {
      name: '@napi-rs/cross-toolchain-x64-target-x86_64',
      version: '1.0.0',
      integrity:
        'sha512-lecoghCfoTAX9MLFcIx9/nL9M8xdkZ9n8Pki8qjKUNzjiq1zbECdEbzIZAMMHRtrXxifK9dAyYuh8gSxNbr2og==',
    },
    'aarch64-unknown-linux-gnu': {
      name: '@napi-rs/cross-toolchain-x64-target-aarch64',
      version: '1.0.3',
      integrity:
        'sha512-EMFcy/ahFsmCY3BI1tMC3wRUYZ+cDuILg7nP1micaKXW1tO1+RvUB1CC6QYe+cv2W4Tuz9wr3qcFExWyjgWf2w==',
    },
  },
};

/** Where the toolchain `spec` is unpacked. */
function toolchainDir(spec) {
  return path.join(
    ROOT,
    'target',
    'glibc-toolchain',
    `${spec.name.replace('@napi-rs/', '')}-${spec.version}`,
  );
}

/** The glibc toolchain for `triple` on this host if a build already unpacked it, else null. */
function unpackedToolchain(triple) {
  const spec = (GLIBC_TOOLCHAINS[process.arch] || {})[triple];
  return spec && fs.existsSync(path.join(toolchainDir(spec), '.ready')) ? toolchainDir(spec) : null;
}

module.exports = { GLIBC_TOOLCHAINS, toolchainDir, unpackedToolchain };
