'use strict';
// The host process of the instances scenario (forever-native's side), started by
// instances.js: a Group of bench/children/cluster-app.js, so that its CPU and memory are
// the supervisor's alone (the load generator runs in the worker).
//
//   node instances-host.js '<json: { instances, reusePort, pidDir, restartDelay? }>'
//
// Prints JSON lines on stdout: { event: 'ready', port } once every instance is ready,
// { event: 'reloaded', ms } after each rolling reload, { event: 'error', message }.
// Reads commands on stdin, one a line: `reload` (a rolling reload of every instance),
// `stop` (stops the group, then exits 0).
const path = require('path');
const readline = require('readline');
const { Group } = require('../..');

const settings = JSON.parse(process.argv[2]);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const group = new Group(path.join(__dirname, '..', 'children', 'cluster-app.js'), {
  instances: settings.instances,
  listenReusePort: settings.reusePort === true,
  listen: '127.0.0.1:0',
  fork: true,
  waitReady: true,
  readyTimeout: 10000,
  killSignal: 'SIGTERM',
  killTTL: 5000,
  silent: true,
  env: { PID_DIR: settings.pidDir },
  ...(settings.restartDelay ? { restartDelay: settings.restartDelay } : {}),
});
group.on('error', (err, index) => say({ event: 'error', index, message: String(err.message) }));

(async () => {
  await group.startAsync();
  say({ event: 'ready', port: group.listenAddresses()[0].port });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'reload') {
      const t0 = performance.now();
      try {
        await group.reloadAsync();
        say({ event: 'reloaded', ms: performance.now() - t0 });
      } catch (err) {
        say({ event: 'error', message: String(err.message) });
      }
    } else if (line === 'stop') {
      await group.stopAsync();
      process.exit(0);
    }
  }
})().catch((err) => {
  say({ event: 'error', message: String(err && err.message) });
  process.exit(1);
});
