// Typing of forever-native/child.
import child = require('../../child');

const sent: boolean = child.ready();
const beating: boolean = child.heartbeat();
child.heartbeat({ auto: false });
child.stopHeartbeat();
const off: () => void = child.onShutdown((reason) => {
  const r: 'message' | 'SIGTERM' | 'SIGINT' = reason;
});
off();
const underMonitor: boolean = child.supervised();
const interval: number = child.watchdogInterval();
// @ts-expect-error onShutdown takes a function
child.onShutdown('bye');
