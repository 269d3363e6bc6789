'use strict';
// The host process of scenario 3, started by output.js (not a worker itself).
//
//   node output-host.js <impl> <mode> <file> <command>
//
// <impl>: native, native-direct (forever-native with logDirect: true) or forever-monitor.
//
// Supervises `sh -c <command>` for one run (max: 1). mode "outFile" logs the child's
// stdout to <file> (silent: true); mode "stdout" copies it to the host's own stdout
// (silent: false), which output.js has redirected to a file. The host exits by itself
// once supervision has ended; on the way out it writes one JSON line to fd 3:
// { startToExitMs, startToProcessExitMs, cpuMs, runCpuMs, forcedExit } — cpuMs from
// before require() to exit, runCpuMs from just before start() to exit.
const fs = require('fs');

const [impl, mode, file, command] = process.argv.slice(2);
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const ms = (t) => Number(t - t0) / 1e6;

const direct = impl === 'native-direct';
const { Monitor } = impl === 'native' || direct ? require('../..') : require('forever-monitor');

const m = new Monitor(['sh', '-c', command], {
  max: 1,
  silent: mode !== 'stdout',
  outFile: mode === 'outFile' ? file : undefined,
  // native-direct: forever-native with logDirect, the child writing outFile itself.
  ...(direct ? { logDirect: true } : {}),
});
let startToExitMs = null;
let forcedExit = false;
m.on('exit', () => {
  startToExitMs = ms(process.hrtime.bigint());
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
  };
  fs.writeSync(3, JSON.stringify(line) + '\n');
});
cpuStart = process.cpuUsage();
m.start();
