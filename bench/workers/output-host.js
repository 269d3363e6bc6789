'use strict';
// The host process of scenario 3, started by output.js (not a worker itself).
//
//   node output-host.js <impl> <mode> <file> <command> [<rotate bytes>]
//
// <impl>: native, native-direct (forever-native with logDirect: true), native-rotate
// (forever-native rotating outFile every <rotate bytes>, by time too, gzipping the rotated
// files) or forever-monitor.
//
// Supervises `sh -c <command>` for one run (max: 1). mode "outFile" logs the child's
// stdout to <file> (silent: true); mode "stdout" copies it to the host's own stdout
// (silent: false), which output.js has redirected to a file. The host exits by itself
// once supervision has ended (native-rotate: once every rotated file is gzipped, too);
// on the way out it writes one JSON line to fd 3:
// { startToExitMs, startToProcessExitMs, cpuMs, runCpuMs, forcedExit, compressedMs } —
// cpuMs from before require() to exit, runCpuMs from just before start() to exit.
const fs = require('fs');
const path = require('path');

const [impl, mode, file, command, rotateBytes] = process.argv.slice(2);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const ms = (t) => Number(t - t0) / 1e6;

const direct = impl === 'native-direct';
const rotate = impl === 'native-rotate';
const { Monitor } =
  impl === 'native' || direct || rotate ? require('../..') : require('forever-monitor');

const m = new Monitor(['sh', '-c', command], {
  max: 1,
  silent: mode !== 'stdout',
  outFile: mode === 'outFile' ? file : undefined,
  // native-direct: forever-native with logDirect, the child writing outFile itself.
  ...(direct ? { logDirect: true } : {}),
  // native-rotate: size rotation in a daily period, every rotated file gzipped.
  ...(rotate
    ? { logMaxSize: Number(rotateBytes), logRotate: 'daily', logCompress: true, logMaxFiles: 1000 }
    : {}),
});
let startToExitMs = null;
let compressedMs = null;
let forcedExit = false;

/** Whether every rotated file of `file` is gzipped (no plain one, no temporary left). */
function allGzipped() {
  const base = path.basename(file);
  return fs
    .readdirSync(path.dirname(file))
    .every((n) => n === base || !n.startsWith(`${base}.`) || n.endsWith('.gz'));
}

m.on('exit', () => {
  startToExitMs = ms(process.hrtime.bigint());
  if (rotate) {
    // The monitor is held by this listener, so its writer lives on; the host stays up
    // (polling) until the background thread has gzipped every rotated file.
    const poll = setInterval(() => {
      if (!allGzipped()) return;
      compressedMs = ms(process.hrtime.bigint());
      clearInterval(poll);
    }, 5);
  }
  // The host should now exit on its own; if something keeps it alive, say so.
  setTimeout(() => {
    forcedExit = true;
    process.exit(0);
  }, 10000).unref();
});
m.on('error', (err) => {
  throw err;
});
let cpuStart = null;
process.on('exit', () => {
  const cpu = process.cpuUsage(cpu0);
  const run = process.cpuUsage(cpuStart);
  const line = {
    startToExitMs,
    startToProcessExitMs: ms(process.hrtime.bigint()),
    cpuMs: (cpu.user + cpu.system) / 1000,
    runCpuMs: (run.user + run.system) / 1000,
    forcedExit,
    compressedMs,
  };
  fs.writeSync(3, JSON.stringify(line) + '\n');
});
cpuStart = process.cpuUsage();
m.start();
