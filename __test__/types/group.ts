/**
 * Type-check test of `Group` (instances). Nothing here is run; every `@ts-expect-error`
 * proves a wrong usage is rejected.
 */
import {
  Group,
  GroupOptions,
  GroupUsage,
  InstanceMonitor,
  Monitor,
  RollingReloadError,
  Usage,
} from '../..';

const options: GroupOptions = {
  instances: 'max',
  reloadBatch: 2,
  listenReusePort: false,
  listen: 'http=127.0.0.1:8080',
  fork: true,
  waitReady: true,
};
const g = new Group('server.js', options);
new Group(['node', 'worker.js'], { instances: 4 });
new Group('server.js', { instances: -1 });
new Group('server.js', { instances: '3' });
// @ts-expect-error -- not a count
new Group('server.js', { instances: 'all' });
// @ts-expect-error -- a number of instances
new Group('server.js', { reloadBatch: '2' });
// @ts-expect-error -- a boolean
new Group('server.js', { listenReusePort: 1 });

const monitors: InstanceMonitor[] = g.monitors;
const first: Monitor = g.monitors[0];
const index: number = g.monitors[0].instance;
// @ts-expect-error -- read-only
g.monitors[0].instance = 2;
const size: number = g.size;
const chained: Group = g.start().stop().scale(3).scale('max').reload();
const started: Promise<Group> = g.startAsync();
const stopped: Promise<Group> = g.stopAsync();
const scaled: Promise<Group> = g.scaleAsync(2);
const reloaded: Promise<Group> = g.reloadAsync();
// @ts-expect-error -- a count, not a list
g.scale([1]);
const port: number | undefined = g.listenAddresses()[0].port;
const u: GroupUsage = g.usage();
const each: Usage[] = u.instances;
const cpu: number | null = u.total.cpu;
const running: number = u.total.running;

g.on('start', (i, m, data) => {
  const n: number = i;
  const inst: number = m.instance;
  const pid: number | undefined = data.pid;
});
g.on('exit:code', (i, code, signal) => {
  const n: number = i;
  const c: number | null = code;
  const s: NodeJS.Signals | null = signal;
});
g.on('exit', (i, m, spinning, info) => {
  const why: string = info.reason;
});
g.on('reload', (i, info) => {
  if (info.phase === 'failed') {
    const reason: string = info.reason;
  }
});
g.on('stdout', (i, data) => {
  const b: Buffer = data;
});
g.on('error', (err, i) => {
  const code: string | undefined = err.code;
  const at: number | undefined = err.instance;
  const n: number = i;
});
g.on('reloaded', (info) => {
  const n: number = info.instances;
});
g.on('scaled', ({ from, to }) => {
  const d: number = to - from;
});
// @ts-expect-error -- the index comes first
g.on('exit:code', (code: string) => {});
g.on('custom-event', (...args: any[]) => {});

reloaded.catch((err: RollingReloadError) => {
  const i: number = err.instance;
  const replaced: number = err.replaced;
});
