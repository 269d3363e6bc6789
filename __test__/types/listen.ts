/**
 * Type-check test of the `listen` option, `reload()` and the child's `listenFd()`.
 * Nothing here is run; every `@ts-expect-error` proves a wrong usage is rejected.
 */
import { Monitor, ListenAddress, ListenEntry, ListeningSocket, ReloadEvent } from '../..';
import child = require('../../child');

const addresses: ListenAddress[] = [
  8080,
  '127.0.0.1:8080',
  '[::1]:8080',
  '/run/app.sock',
  'http=8080',
  { address: 8443, name: 'https' },
  'fd:3',
  'web=fd:4',
  { fd: 5, name: 'admin' },
];
// @ts-expect-error an fd is a number
new Monitor('server.js', { listen: { fd: '3' } });
const m = new Monitor('server.js', {
  listen: addresses,
  listenBacklog: 1024,
  reloadGrace: 500,
  fork: true,
  waitReady: true,
});
new Monitor('server.js', { listen: 'admin=127.0.0.1:9000' });
new Monitor('server.js', { listen: '/run/app.sock', listenMode: 0o660 });
const socketMode: number | undefined = new Monitor('server.js', {
  listen: '/run/app.sock',
  listenMode: '0660',
}).listenMode;
const held: ListenEntry[] = m.listen;
const grace: number = m.reloadGrace;
const sockets: ListeningSocket[] = m.listenAddresses();
const port: number | undefined = sockets[0].port;
const family: 'IPv4' | 'IPv6' | 'unix' = sockets[0].family;
const same: Monitor = m.reload();
const done: Promise<Monitor> = m.reloadAsync();
m.on('reload', (info: ReloadEvent) => {
  if (info.phase === 'done') {
    const code: number | null = info.code;
  } else if (info.phase === 'failed') {
    const reason: string = info.reason;
    const newPid: number | null = info.newPid;
    const why: string | undefined = info.error?.reason;
  } else {
    const newPid: number = info.newPid;
  }
});
m.on('error', (err) => {
  const address: string | undefined = err.address;
  const errPort: number | undefined = err.port;
});

const fds: Array<{ fd: number; name: string }> = child.listenFds();
const fd: number | null = child.listenFd('http');
child.listenFd();

// @ts-expect-error listen takes addresses, not booleans
new Monitor('server.js', { listen: true });
// @ts-expect-error an object needs its address
new Monitor('server.js', { listen: { name: 'http' } });
// @ts-expect-error listenBacklog is a number
new Monitor('server.js', { listenBacklog: '511' });
// @ts-expect-error listenMode is a mode, not a flag
new Monitor('server.js', { listen: '/run/app.sock', listenMode: true });
// @ts-expect-error reload takes no argument
m.reload(true);
// @ts-expect-error a name is a string
child.listenFd(3);
// @ts-expect-error phase is one of four words
const bad: ReloadEvent = { phase: 'begun', oldPid: 1, newPid: 2 };
