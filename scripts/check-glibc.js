#!/usr/bin/env node
'use strict';
/**
 * Lists the GLIBC_* symbol versions a built addon needs, and fails when one is above the
 * floor: the oldest glibc the binary must load on.
 *
 *   node scripts/check-glibc.js [file.node] [--floor 2.17] [--all] [--dlopen]
 *
 * The file defaults to this platform's `forever-native.<platform>.node`; the floor to the
 * one the prebuilt gnu binaries promise (loader.js). Reads the ELF file itself (its
 * `.gnu.version_r` and `.dynsym`), so it needs neither binutils nor the target's CPU:
 * the arm64 binary is checked on an x64 runner the same way. With --dlopen it also loads the
 * binary under the toolchain's own glibc 2.17 (see dlopenOnSysroot). Exit codes: 0 at or
 * below the floor, 1 above it (or not loadable), 2 for a file that cannot be read as a
 * 64-bit ELF.
 */

const fs = require('fs');
const path = require('path');

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const STB_GLOBAL = 1;

/** Compares dotted versions numerically: '2.2.5' < '2.17'. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

function cString(buf, offset) {
  const end = buf.indexOf(0, offset);
  return buf.toString('latin1', offset, end < 0 ? buf.length : end);
}

/**
 * The glibc versions an ELF shared object needs, each with the symbols that need it.
 * @param {string} file
 * @returns {{ versions: Map<string, string[]>, libraries: string[], stripped: boolean, machine: number }}
 */
function readGlibcNeeds(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46)
    throw new Error(`${file} is not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1)
    throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const machine = buf.readUInt16LE(0x12);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    sections.push({
      nameOffset: buf.readUInt32LE(at),
      type: buf.readUInt32LE(at + 4),
      offset: Number(buf.readBigUInt64LE(at + 0x18)),
      size: Number(buf.readBigUInt64LE(at + 0x20)),
      link: buf.readUInt32LE(at + 0x28),
      info: buf.readUInt32LE(at + 0x2c),
    });
  }
  const names = sections[shstrndx];
  for (const s of sections) s.name = names ? cString(buf, names.offset + s.nameOffset) : '';
  const stripped = !sections.some((s) => s.name === '.symtab' || s.name === '.debug_info');

  // Version index → name, for the indices that belong to glibc's libraries.
  const needed = new Map();
  const libraries = [];
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (verneed) {
    const strtab = sections[verneed.link];
    let entry = verneed.offset;
    for (let i = 0; i < verneed.info; i++) {
      const count = buf.readUInt16LE(entry + 2);
      libraries.push(cString(buf, strtab.offset + buf.readUInt32LE(entry + 4)));
      let aux = entry + buf.readUInt32LE(entry + 8);
      for (let j = 0; j < count; j++) {
        const other = buf.readUInt16LE(aux + 6);
        const name = cString(buf, strtab.offset + buf.readUInt32LE(aux + 8));
        if (name.startsWith('GLIBC_')) needed.set(other, name.slice('GLIBC_'.length));
        aux += buf.readUInt32LE(aux + 12);
      }
      const next = buf.readUInt32LE(entry + 12);
      if (next === 0) break;
      entry += next;
    }
  }

  const versions = new Map();
  for (const version of needed.values()) versions.set(version, []);
  const host = []; // undefined, unversioned, not weak: what the host process (node) provides
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  if (dynsym && versym) {
    const dynstr = sections[dynsym.link];
    const count = Math.floor(dynsym.size / 24);
    for (let i = 1; i < count; i++) {
      const sym = dynsym.offset + i * 24;
      const name = cString(buf, dynstr.offset + buf.readUInt32LE(sym));
      const index = buf.readUInt16LE(versym.offset + i * 2) & 0x7fff;
      const version = needed.get(index);
      if (version !== undefined) versions.get(version).push(name);
      else if (
        index <= 1 &&
        buf.readUInt16LE(sym + 6) === 0 &&
        buf[sym + 4] >> 4 === STB_GLOBAL &&
        name
      )
        host.push(name);
    }
  }
  return { versions, libraries, stripped, machine, host };
}

/**
 * Loads `file` with dlopen(RTLD_NOW) in a small C program run by the glibc of the toolchain's
 * sysroot (its own ld.so, libc and libpthread): the proof that it loads on that glibc, beyond
 * its symbol versions. What node would provide (napi_*, uv_*) is stubbed. Needs the gcc
 * toolchain `npm run build` unpacked (scripts/build.js). Returns the program's output.
 * @param {string} file an x86_64 or aarch64 addon, run on a host of the same arch
 * @param {string} toolchain the unpacked toolchain's directory
 * @param {string} triple its target, e.g. x86_64-unknown-linux-gnu
 */
function dlopenOnSysroot(file, toolchain, triple) {
  const { execFileSync } = require('child_process');
  const os = require('os');
  toolchain = path.resolve(toolchain);
  const gcc = path.join(toolchain, 'bin', `${triple}-gcc`);
  const sysroot = path.join(toolchain, triple, 'sysroot');
  const lib = fs.existsSync(path.join(sysroot, 'lib64')) ? 'lib64' : 'lib';
  const loader = fs
    .readdirSync(path.join(sysroot, lib))
    .find((f) => /^ld-linux.*\.so\.\d$/.test(f));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-dlopen-'));
  try {
    const stubs = readGlibcNeeds(file)
      .host.map((name) => `void ${name}(void) {}`)
      .join('\n');
    fs.writeFileSync(path.join(work, 'stub.c'), `${stubs}\n`);
    fs.writeFileSync(
      path.join(work, 'host.c'),
      [
        '#include <dlfcn.h>',
        '#include <stdio.h>',
        '#include <gnu/libc-version.h>',
        'int main(int argc, char **argv) {',
        '  if (!dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) { printf("stubs: %s\\n", dlerror()); return 1; }',
        '  void *addon = dlopen(argv[2], RTLD_NOW);',
        '  if (!addon) { printf("glibc %s: dlopen failed: %s\\n", gnu_get_libc_version(), dlerror()); return 1; }',
        '  printf("glibc %s: loaded (RTLD_NOW, constructors run), napi_register_module_v1 %s\\n",',
        '    gnu_get_libc_version(), dlsym(addon, "napi_register_module_v1") ? "found" : "MISSING");',
        '  return dlsym(addon, "napi_register_module_v1") ? 0 : 1;',
        '}',
        '',
      ].join('\n'),
    );
    execFileSync(gcc, ['-shared', '-fPIC', '-o', 'libstub.so', 'stub.c'], { cwd: work });
    execFileSync(gcc, ['-o', 'host', 'host.c', '-ldl'], { cwd: work });
    const libraryPath = [
      path.join(sysroot, lib),
      path.join(sysroot, 'usr', lib),
      path.join(toolchain, triple, lib),
    ].join(':');
    return execFileSync(
      path.join(sysroot, lib, loader),
      ['--library-path', libraryPath, './host', './libstub.so', path.resolve(file)],
      {
        cwd: work,
        encoding: 'utf8',
      },
    ).trim();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The highest glibc version in `versions`, or null when it needs none. */
function highest(versions) {
  return [...versions.keys()].sort(compareVersions).pop() || null;
}

function main(argv) {
  const { describePlatform, GLIBC_FLOOR } = require('../loader.js');
  let file = null;
  let floor = GLIBC_FLOOR;
  let all = false;
  let dlopen = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--floor') floor = argv[++i];
    else if (argv[i].startsWith('--floor=')) floor = argv[i].slice('--floor='.length);
    else if (argv[i] === '--all') all = true;
    else if (argv[i] === '--dlopen') dlopen = true;
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write(
        'usage: node scripts/check-glibc.js [file.node] [--floor 2.17] [--all] [--dlopen]\n',
      );
      return 0;
    } else file = argv[i];
  }
  if (!/^\d+\.\d+(\.\d+)?$/.test(String(floor))) {
    process.stderr.write(`check-glibc: --floor must be a version such as 2.17, not ${floor}\n`);
    return 2;
  }
  file = file || path.join(__dirname, '..', describePlatform().file);

  let needs;
  try {
    needs = readGlibcNeeds(file);
  } catch (err) {
    process.stderr.write(
      `check-glibc: ${err.code === 'ENOENT' ? `${file} does not exist (build it with \`npm run build\`)` : err.message}\n`,
    );
    return 2;
  }
  const sorted = [...needs.versions.keys()].sort(compareVersions);
  const top = highest(needs.versions);
  const out = [
    `${path.basename(file)}: GLIBC_* versions needed from ${needs.libraries.join(', ') || 'no library'}${needs.stripped ? '' : ' (not stripped: a debug build?)'}`,
  ];
  for (const version of sorted) {
    const symbols = needs.versions.get(version).sort();
    const shown = all || compareVersions(version, '2.3') > 0 ? symbols : [];
    const list =
      shown.length > 0
        ? `  ${shown.slice(0, all ? shown.length : 6).join(', ')}${!all && shown.length > 6 ? ', …' : ''}`
        : '';
    const over = compareVersions(version, floor) > 0 ? '  <-- above the floor' : '';
    out.push(
      `  GLIBC_${version.padEnd(8)} ${String(symbols.length).padStart(4)} symbol${symbols.length === 1 ? ' ' : 's'}${list}${over}`,
    );
  }
  if (top === null || compareVersions(top, floor) <= 0) {
    out.push(
      `ok: the highest is ${top === null ? 'none' : `GLIBC_${top}`}, at or below the floor, glibc ${floor}`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return dlopen ? dlopenCheck(file) : 0;
  }
  out.push(
    `FAIL: needs GLIBC_${top}, above the floor, glibc ${floor}: it would not load on glibc ${floor}–${previousOf(top)}. Build it with \`npm run build\` (the glibc ${GLIBC_FLOOR} toolchain).`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  return 1;
}

/** --dlopen: loads the file on the glibc 2.17 sysroot of the toolchain the build unpacked. */
function dlopenCheck(file) {
  const { PLATFORMS } = require('../loader.js');
  const name = /forever-native\.(.+)\.node$/.exec(path.basename(file));
  const triple = name ? PLATFORMS[name[1]] : null;
  const toolchain = triple ? require('./toolchains.js').unpackedToolchain(triple) : null;
  if (!toolchain || !triple.startsWith(process.arch === 'x64' ? 'x86_64' : process.arch)) {
    process.stderr.write(
      `check-glibc: --dlopen needs a forever-native.<platform>.node of this host's arch and the glibc toolchain \`npm run build\` unpacks under target/\n`,
    );
    return 2;
  }
  try {
    process.stdout.write(`${dlopenOnSysroot(file, toolchain, triple)}\n`);
    return 0;
  } catch (err) {
    process.stdout.write(
      `FAIL: it does not load on glibc ${require('../loader.js').GLIBC_FLOOR}: ${`${err.stdout || ''}${err.stderr || ''}`.trim() || err.message}\n`,
    );
    return 1;
  }
}

/** A readable "below this version" for the failure line. */
function previousOf(version) {
  const parts = version.split('.').map(Number);
  if (parts.length > 2) return parts.slice(0, 2).join('.');
  parts[1] -= 1;
  return parts.join('.');
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { readGlibcNeeds, highest, compareVersions, dlopenOnSysroot };
