'use strict';
// Scenario 3 — output and logs: 200 MB (20 MB with --quick) of text from the child.
//
// --case outFile  the child's stdout goes to `outFile` (silent: true)
// --case stdout   silent: false: it goes to the host's stdout, redirected to a file
//
// Each run starts a separate host process (output-host.js) so that its stdout can be
// the file and its CPU time is its own. Figures: wall (start() to the host's exit, which
// is when everything it was going to write is written), host CPU (user + system, all
// threads, from before require() to exit), and bytes lost (expected - file size).
//
// forever-monitor sometimes crashes its host here with ERR_STREAM_DESTROYED (it destroys
// the log stream on 'exit' while the child's pipe still has data). That crash is the
// one failure this worker tolerates: it is counted (`crashes`) and the run is retried,
// at most MAX_ATTEMPTS times in all. Anything else fails the worker.
//
// --impl limit: `sh -c '<producer> | cat > file'`, the machine's own pipe-to-file speed.
// --impl native-direct: forever-native with logDirect: true (the child writes outFile
// itself; --case outFile only).
// --impl pm2 (--case outFile only; bench/run.js --peers pm2): the same child as a PM2 app
// with out_file, in a daemon of the worker's own (lib/pm2.js). The daemon writes the file:
// wall = pm2.start() until the file holds every byte (polled every 2 ms; or until it has
// stopped growing for 2 s), CPU = the daemon's over the same time (runCpuMs; PM2 has no
// cpuMs, which for the others counts from before require()). No event bus is opened:
// PM2 publishes every chunk of output on it, and a listener would cost the daemon a
// socket write of the whole output.
// --impl native-rotate: forever-native rotating outFile every tenth of the output (in a
// daily period: names out.log.<date>, .1, .2 …) and gzipping the rotated files on its
// background thread (--case outFile only). Bytes lost count what the .gz files and
// out.log hold, gunzipped; `compressedMs` is start() to the last rotated file gzipped.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { spawn, execFileSync } = require('child_process');
const c = require('../lib/common');
const pm2lib = require('../lib/pm2');

const MAX_ATTEMPTS = 3;
const LINE =
  'forever-native bench: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Bytes that `file` and its rotated files (gunzipped) hold. */
function loggedBytes(file) {
  const base = path.basename(file);
  let total = 0;
  for (const name of fs.readdirSync(path.dirname(file))) {
    if (name !== base && !name.startsWith(`${base}.`)) continue;
    const data = fs.readFileSync(path.join(path.dirname(file), name));
    total += name.endsWith('.gz') ? zlib.gunzipSync(data).length : data.length;
  }
  return total;
}

function runHost(impl, mode, file, command, rotateBytes) {
  return new Promise((resolve, reject) => {
    const outFd = mode === 'stdout' ? fs.openSync(file, 'w') : 'ignore';
    const host = spawn(
      process.execPath,
      [path.join(__dirname, 'output-host.js'), impl, mode, file, command, String(rotateBytes)],
      {
        stdio: ['ignore', outFd, 'pipe', 'pipe'],
      },
    );
    if (typeof outFd === 'number') fs.closeSync(outFd);
    let stderr = '';
    let report = '';
    host.stderr.on('data', (d) => (stderr += d));
    host.stdio[3].on('data', (d) => (report += d));
    const timer = setTimeout(() => {
      host.kill('SIGKILL');
      reject(new Error(`the ${impl} host timed out; stderr: ${stderr.slice(-2000)}`));
    }, 120000);
    host.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, report: report.trim() });
    });
  });
}

c.runWorker('output', async ({ impl, quick, case: mode }) => {
  if (mode !== 'outFile' && mode !== 'stdout')
    throw new Error(`unknown --case ${mode} (outFile | stdout)`);
  const bytes = (quick ? 20 : 200) * 1024 * 1024;
  const producer = `yes '${LINE}' | head -c ${bytes}`;
  const dir = c.tmpDir('output');
  const file = path.join(dir, 'out.log');
  try {
    if (impl === 'limit') {
      const t0 = c.now();
      execFileSync('sh', ['-c', `${producer} | cat > "${file}"`], {
        stdio: 'ignore',
        timeout: 120000,
      });
      const wallMs = c.now() - t0;
      return { bytes, wallMs, bytesLost: bytes - fs.statSync(file).size };
    }
    if (impl === 'pm2') {
      if (mode !== 'outFile') throw new Error('--impl pm2 is for --case outFile');
      return await pm2lib.withPm2(
        c,
        async (h) => {
          await c.sleep(500); // the daemon's own start-up work settles
          const size = () => (fs.existsSync(file) ? fs.statSync(file).size : 0);
          const cpu0 = h.daemonCpuMs();
          const t0 = c.now();
          await h.start({
            name: 'out',
            script: 'sh',
            args: ['-c', producer],
            autorestart: false,
            out_file: file,
          });
          let last = size();
          let still = c.now();
          while (last < bytes && c.now() - still < 2000) {
            await c.sleep(2);
            const now = size();
            if (now !== last) {
              last = now;
              still = c.now();
            }
          }
          const wallMs = (last < bytes ? still : c.now()) - t0;
          const runCpuMs = h.daemonCpuMs() - cpu0;
          return { bytes, wallMs, runCpuMs, bytesLost: bytes - size(), attempts: 1, crashes: 0 };
        },
        { bus: false },
      );
    }
    if (!c.isMonitorImpl(impl) && impl !== 'native-direct' && impl !== 'native-rotate')
      throw new Error(`unknown --impl ${impl}`);
    if (impl.startsWith('native-') && mode !== 'outFile')
      throw new Error(`--impl ${impl} is for --case outFile`);

    const crashes = [];
    const lostInCrashes = []; // bytes missing from the file when the host crashed
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const run = await runHost(impl, mode, file, producer, Math.floor(bytes / 10));
      if (run.code === 0 && run.report) {
        const r = JSON.parse(run.report);
        const rotated = impl === 'native-rotate';
        // Rotation writes whole lines: the child's last line, cut short by `head -c`, is
        // completed with a newline, one byte more than was written.
        const completed = rotated && bytes % (LINE.length + 1) !== 0 ? 1 : 0;
        const size = rotated
          ? loggedBytes(file) - completed
          : fs.existsSync(file)
            ? fs.statSync(file).size
            : 0;
        return {
          ...(rotated ? { compressedMs: r.compressedMs, files: fs.readdirSync(dir).length } : {}),
          bytes,
          wallMs: r.startToProcessExitMs,
          startToExitMs: r.startToExitMs,
          cpuMs: r.cpuMs,
          runCpuMs: r.runCpuMs,
          bytesLost: bytes - size,
          forcedExit: r.forcedExit,
          attempts: attempt,
          crashes: crashes.length,
          crashMessages: crashes,
          lostInCrashes,
        };
      }
      const known = impl === 'forever-monitor' && /ERR_STREAM_DESTROYED/.test(run.stderr);
      if (!known) {
        throw new Error(
          `the ${impl} host failed (code ${run.code}, signal ${run.signal}); stderr:\n${run.stderr.slice(-3000)}`,
        );
      }
      const message = (/^.*ERR_STREAM_DESTROYED.*$/m.exec(run.stderr) || [''])[0].trim();
      crashes.push(message);
      lostInCrashes.push(bytes - (fs.existsSync(file) ? fs.statSync(file).size : 0));
      process.stderr.write(
        `[bench output] forever-monitor crashed its host (attempt ${attempt}/${MAX_ATTEMPTS}): ${message}\n`,
      );
    }
    return {
      bytes,
      crashed: true,
      attempts: MAX_ATTEMPTS,
      crashes: crashes.length,
      crashMessages: crashes,
      lostInCrashes,
    };
  } finally {
    c.rmrf(dir);
  }
});
