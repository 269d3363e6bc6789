'use strict';
// Scenario — N instances of one HTTP app under keep-alive load: forever-native's Group
// (no process between the clients and the children) against PM2's cluster mode (its
// daemon is the cluster's primary: it accepts every connection and hands it to a worker).
//
// The app is bench/children/cluster-app.js for both, with 2 instances; the load is 50
// keep-alive connections on loopback, one request in flight each (bench/lib/keepalive.js),
// generated in this worker; the supervisor runs in a process of its own
// (workers/instances-host.js for forever-native, PM2's daemon), whose CPU and memory are
// read from /proc.
//
//   --impl native            Group: one listening socket shared by every instance
//   --impl native-reuseport  Group with listenReusePort: a SO_REUSEPORT socket per instance
//   --impl pm2               PM2 cluster mode (exec_mode: 'cluster', wait_ready)
//
//   --case steady   10 s of load (1 with --quick): requests/s, p50/p99 latency, balance
//                   (the largest deviation of one instance's share from the mean),
//                   supervisor CPU (% of one core) and RSS
//   --case fresh    the same, each request on a new connection (connection: close): every
//                   connection is accepted by a child (forever-native) or by PM2's primary,
//                   which hands it to a worker over IPC
//   --case reload   5 rolling reloads of every instance back to back (1 with --quick):
//                   refused and failed requests, latency, time per roll
//   --case crash    instance 0 crashes (exit 1, SIGUSR2) every 500 ms for 10 s (1
//                   with --quick): failed and refused requests, per crash too, latency
//   --case delay    a new connection per request; instance 0 crashes once and is restarted
//                   after restartDelay (restart_delay) 1 s: the worst latency meanwhile (a
//                   connection that waits for the crashed instance's next child), p99,
//                   failed and refused requests
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const c = require('../lib/common');
const { loadClient, summarize } = require('../lib/keepalive');

const APP = path.join(c.CHILDREN, 'cluster-app.js');
const INSTANCES = 2;
const CONNECTIONS = 50;
/** The restart delay of the delay case (ms). */
const RESTART_DELAY = 1000;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The pid instance `i` wrote once it served, or null. */
function instancePid(pidDir, i) {
  try {
    return Number(fs.readFileSync(path.join(pidDir, `instance-${i}.pid`), 'utf8'));
  } catch {
    return null;
  }
}

/** forever-native: a Group in instances-host.js. */
async function startNative(pidDir, reusePort, restartDelay) {
  const host = spawn(
    process.execPath,
    [
      path.join(__dirname, 'instances-host.js'),
      JSON.stringify({ instances: INSTANCES, reusePort, pidDir, restartDelay }),
    ],
    // A session of its own, as PM2's daemon has: Linux's autogroup scheduling shares the
    // CPUs between sessions first, so a supervisor in the worker's session would leave the
    // load generator a smaller share of the CPUs than under PM2.
    { stdio: ['pipe', 'pipe', 'inherit'], detached: true },
  );
  const waiting = [];
  let partial = '';
  const errors = [];
  host.stdout.on('data', (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const msg = JSON.parse(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
      if (msg.event === 'error') errors.push(msg.message);
      const w = waiting.shift();
      if (w) w(msg);
    }
  });
  const nextMessage = () =>
    Promise.race([
      new Promise((resolve) => waiting.push(resolve)),
      c.sleep(60000).then(() => {
        throw new Error('the instances host said nothing for 60 s');
      }),
    ]);
  const ready = await nextMessage();
  if (ready.event !== 'ready') throw new Error(`instances host: ${JSON.stringify(ready)}`);
  const guardian = () => c.guardianPid(host.pid);
  return {
    port: ready.port,
    errors,
    cpuMs: () => c.supervisorCpuMs('native', host.pid),
    rssMB: () => {
      const g = guardian();
      return c.procRssMB(host.pid) + (g === null ? 0 : c.procRssMB(g) || 0);
    },
    async reload() {
      host.stdin.write('reload\n');
      const msg = await nextMessage();
      if (msg.event !== 'reloaded') throw new Error(`rolling reload: ${JSON.stringify(msg)}`);
      return msg.ms;
    },
    async stop() {
      const exited = new Promise((resolve) => host.once('exit', resolve));
      host.stdin.write('stop\n');
      await Promise.race([exited, c.sleep(15000)]);
      if (host.exitCode === null) host.kill('SIGKILL');
    },
  };
}

/** PM2's cluster mode, with a daemon of this worker's own. */
async function startPm2(pidDir, restartDelay) {
  const pm2lib = require('../lib/pm2');
  const h = await pm2lib.open(c, { bus: false });
  const port = await freePort();
  await h.start({
    name: 'app',
    script: APP,
    exec_mode: 'cluster',
    instances: INSTANCES,
    interpreter: 'node',
    wait_ready: true,
    listen_timeout: 10000,
    kill_timeout: 5000,
    ...(restartDelay ? { restart_delay: restartDelay } : {}),
    env: { PORT: String(port), PID_DIR: pidDir },
  });
  return {
    port,
    errors: [],
    cpuMs: () => h.daemonCpuMs(),
    rssMB: () => h.daemonRssMB(),
    async reload() {
      const t0 = c.now();
      await new Promise((resolve, reject) =>
        h.pm2.reload('app', (err) => (err ? reject(err) : resolve())),
      );
      return c.now() - t0;
    },
    async stop() {
      try {
        await h.del('app');
      } finally {
        await h.close();
        c.rmrf(h.home);
        c.rmrf(h.cwd);
      }
    },
  };
}

c.runWorker('instances', async ({ impl, case: kase, quick }) => {
  if (!['native', 'native-reuseport', 'pm2'].includes(impl))
    throw new Error('--impl native | native-reuseport | pm2');
  if (!['steady', 'fresh', 'reload', 'crash', 'delay'].includes(kase))
    throw new Error('--case steady | fresh | reload | crash | delay');
  const pidDir = c.tmpDir('instances');
  const delay = kase === 'delay' ? RESTART_DELAY : undefined;
  const sup =
    impl === 'pm2'
      ? await startPm2(pidDir, delay)
      : await startNative(pidDir, impl === 'native-reuseport', delay);
  try {
    await c.until(
      () => Array.from({ length: INSTANCES }, (_, i) => instancePid(pidDir, i)).every(Boolean),
      20000,
      'every instance to serve',
    );
    const client = loadClient({
      port: sup.port,
      connections: CONNECTIONS,
      fresh: kase === 'fresh' || kase === 'delay',
    });
    await c.sleep(quick ? 200 : 1500);
    const cpu0 = sup.cpuMs();
    const t0 = c.now();
    client.phase = 'measure';
    const extra = {};
    if (kase === 'steady' || kase === 'fresh') {
      await c.sleep(quick ? 1000 : 10000);
    } else if (kase === 'reload') {
      const rolls = [];
      for (let i = 0; i < (quick ? 1 : 5); i++) rolls.push(await sup.reload());
      extra.rollMs = c.median(rolls);
      extra.rolls = rolls.length;
    } else if (kase === 'delay') {
      // One crash, its restart 1 s later: what the clients wait meanwhile.
      process.kill(instancePid(pidDir, 0), 'SIGUSR2');
      await c.sleep(RESTART_DELAY + (quick ? 500 : 2000));
    } else {
      let crashes = 0;
      let last = null;
      const end = c.now() + (quick ? 1000 : 10000);
      while (c.now() < end) {
        const pid = instancePid(pidDir, 0);
        if (pid !== null && pid !== last && c.isAlive(pid)) {
          try {
            process.kill(pid, 'SIGUSR2');
            crashes += 1;
            last = pid;
          } catch {}
        }
        await c.sleep(500);
      }
      extra.instanceCrashes = crashes;
    }
    const windowMs = c.now() - t0;
    const cpu1 = sup.cpuMs();
    const rssMB = sup.rssMB();
    const phases = await client.stop();
    const s = summarize(phases.get('measure'), INSTANCES);
    if (sup.errors.length) extra.supervisorErrors = sup.errors.slice(0, 5);
    if (kase === 'crash')
      extra.failedPerCrash = extra.instanceCrashes ? s.failed / extra.instanceCrashes : null;
    return {
      ...s,
      ...extra,
      windowMs,
      supervisorCpuPct: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) / windowMs) * 100,
      supervisorRssMB: rssMB,
    };
  } finally {
    await sup.stop();
    c.rmrf(pidDir);
  }
});
