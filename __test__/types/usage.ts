/**
 * Type-check test of index.d.ts: `tsc -p __test__/types` must pass with zero errors.
 * Nothing here is run; every `@ts-expect-error` proves a wrong usage is rejected.
 */
import { EventEmitter } from 'events';
import {
  Monitor,
  start,
  kill,
  checkProcess,
  version,
  ChildProcessHandle,
  ForeverChildProcess,
  CancelablePromise,
  CommandParser,
  MonitorData,
  MonitorError,
  MonitorEnv,
  MonitorEvents,
  MonitorOptions,
  ParsedCommand,
  SpawnWith,
  StdioOption,
  WatchErrorEvent,
  WatchRestartEvent,
} from '../..';
import forever = require('../..');

// --- Options: every field -------------------------------------------------------------

const parser: CommandParser = (command, args) => {
  const c: string = command;
  const a: string[] = args;
  return c === '' ? false : { command: c, args: a };
};

const spawnWith: SpawnWith = {
  cwd: '/tmp',
  env: { A: 'a', B: 1, C: true, D: undefined },
  uid: 1000,
  gid: 1000,
  detached: false,
  shell: '/bin/bash',
  argv0: 'app',
  stdio: ['ignore', 'pipe', 'inherit'],
};

const options: MonitorOptions = {
  silent: true,
  uid: 'abcd',
  id: 'my-app',
  pidFile: '/tmp/app.pid',
  max: 3,
  killTree: true,
  minUptime: 2000,
  spinSleepTime: 1000,
  command: 'node --expose-gc',
  args: ['--port', 8080, true],
  options: ['--legacy'],
  sourceDir: '/srv/app',
  spawnWith,
  env: { NODE_ENV: 'production', PORT: 8080, DEBUG: false, UNSET: undefined },
  hideEnv: ['SECRET'],
  cwd: '/srv/app',
  parser,
  killTTL: 5000,
  killSignal: 'SIGTERM',
  checkFile: false,
  stdio: 'pipe',
  logFile: '/tmp/forever.log',
  outFile: 'out.log',
  errFile: 'err.log',
  logTimestamps: true,
  mergeLogs: false,
  logMaxSize: 10 * 1024 * 1024,
  logMaxFiles: 3,
  append: true,
  watch: false,
  watchDirectory: ['/srv/app/lib', '/srv/app/bin'],
  watchIgnoreDotFiles: true,
  watchIgnorePatterns: ['*.log'],
  usePolling: false,
  pollingInterval: 100,
  fork: false,
};

// Other accepted forms.
const numericOptions: MonitorOptions = {
  uid: 42,
  killSignal: 9,
  watchDirectory: '/srv',
  spawnWith: { shell: true },
};
const stdioForms: StdioOption[] = [
  'inherit',
  'ignore',
  'overlapped',
  [],
  ['pipe'],
  [0, 1, 2],
  [null, undefined, 'pipe'],
  ['pipe', 'pipe', 'pipe', 'ignore', null],
];
const readonlyArgv = ['node', 'app.js'] as const;
const readonlyStdio = ['inherit', 'inherit', 'inherit'] as const;
const fromConst: MonitorOptions = {
  stdio: readonlyStdio,
  args: readonlyArgv,
  hideEnv: readonlyArgv,
};
// Options that this version rejects at run time still type-check, so existing code compiles.
const legacyOptions: MonitorOptions = {
  outFile: 'out.log',
  errFile: 'err.log',
  watch: true,
  fork: true,
};
const watchOptions: MonitorOptions = {
  watch: true,
  watchDirectory: ['src', 'lib'],
  watchDebounce: 500,
  usePolling: true,
  pollingInterval: 200,
};
// @ts-expect-error watchDebounce is a number of milliseconds
const badDebounce: MonitorOptions = { watchDebounce: '1s' };

// @ts-expect-error max is a number
const badMax: MonitorOptions = { max: '3' };
// @ts-expect-error not a signal name
const badSignal: MonitorOptions = { killSignal: 'SIGFOO' };
// @ts-expect-error silent is a boolean
const badSilent: MonitorOptions = { silent: 'yes' };
// @ts-expect-error uid is a string or number
const badUid: MonitorOptions = { uid: true };
// @ts-expect-error env values are strings, numbers or booleans
const badEnv: MonitorOptions = { env: { A: { nested: true } } };
// @ts-expect-error hideEnv is an array of strings
const badHideEnv: MonitorOptions = { hideEnv: 'SECRET' };
// @ts-expect-error args is an array
const badArgs: MonitorOptions = { args: '--port' };
// @ts-expect-error watchDirectory is a string or strings
const badWatchDirectory: MonitorOptions = { watchDirectory: 1 };
// @ts-expect-error 'ipc' goes in an array entry, not as the whole stdio word
const badStdioWord: MonitorOptions = { stdio: 'ipc' };
const forked: MonitorOptions = {
  fork: true,
  serialization: 'advanced',
  stdio: ['ipc', 'pipe', 'pipe'],
};
// @ts-expect-error serialization is 'json' or 'advanced'
const badSerialization: MonitorOptions = { serialization: 'v8' };
// @ts-expect-error only 'ignore' after the three standard streams
const badStdioExtra: MonitorOptions = { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] };
// @ts-expect-error shell is a boolean or a path
const badShell: SpawnWith = { shell: 1 };
// @ts-expect-error uid of spawnWith is a number
const badSpawnUid: SpawnWith = { uid: 'root' };
// @ts-expect-error unknown option
const unknownOption: MonitorOptions = { restartDelayMs: 10 };
// The restart policy.
const policy: MonitorOptions = {
  restartDelay: 500,
  backoff: { initial: 200, factor: 2, max: 10000, jitter: 0.2, resetAfter: 60000 },
  autorestart: 'on-failure',
  stopExitCodes: [0, 78],
  restartWindow: { count: 5, window: 60000 },
};
const policyShort: MonitorOptions = { backoff: true, autorestart: false, stopExitCodes: 78 };
// @ts-expect-error autorestart is one of three words or a boolean
const badAutorestart: MonitorOptions = { autorestart: 'sometimes' };
// @ts-expect-error restartWindow needs its count
const badWindow: MonitorOptions = { restartWindow: { window: 1000 } };
// @ts-expect-error backoff fields are numbers
const badBackoff: MonitorOptions = { backoff: { factor: '2' } };

// @ts-expect-error a parser takes strings and returns { command, args } or false
const badParser: MonitorOptions = { parser: (command: string) => command };

// --- Construction ------------------------------------------------------------------------

const monitor = new Monitor('app.js', options);
const fromArgv = new Monitor(['node', 'app.js', '--port', '8080']);
const fromReadonly = new Monitor(readonlyArgv, numericOptions);
const viaRequire: forever.Monitor = new forever.Monitor('app.js', {});
const emitter: EventEmitter = monitor;

// @ts-expect-error the script is a string or an argv
new Monitor(42);
// @ts-expect-error the script is required
new Monitor();
// @ts-expect-error options are an object
new Monitor('app.js', 'silent');

// --- Instance properties -----------------------------------------------------------------

const silent: boolean = monitor.silent;
const killTree: boolean = monitor.killTree;
const uid: string | number = monitor.uid;
const id: string | false = monitor.id;
const pidFile: string | undefined = monitor.pidFile;
const max: number | undefined = monitor.max;
const killTTL: number | undefined = monitor.killTTL;
const killSignal: NodeJS.Signals | number = monitor.killSignal;
const childExists: boolean = monitor.childExists;
const checkFile: boolean = monitor.checkFile;
const times: number = monitor.times;
monitor.warn('careful', 1, {});
monitor.warn = console.error;
const logFile: string | undefined = monitor.logFile;
const outFile: string | undefined = monitor.outFile;
const errFile: string | undefined = monitor.errFile;
const stamped: boolean = monitor.logTimestamps;
const direct: boolean = monitor.logDirect;
const directOptions: MonitorOptions = { silent: true, outFile: 'out.log', logDirect: true };
// @ts-expect-error logDirect is a boolean
const badDirect: MonitorOptions = { logDirect: 'yes' };
const reopened: Monitor = monitor.reopenLogs();
// @ts-expect-error logMaxSize is a number of bytes
const badRotation: MonitorOptions = { logMaxSize: '10M' };
const append: boolean | undefined = monitor.append;
const usePolling: boolean | undefined = monitor.usePolling;
const pollingInterval: number | undefined = monitor.pollingInterval;
const monitorParser: CommandParser = monitor.parser;
const minUptime: number = monitor.minUptime;
const spinSleepTime: number | null = monitor.spinSleepTime;
const command: string = monitor.command;
const args: string[] = monitor.args;
const monitorSpawnWith: SpawnWith = monitor.spawnWith;
const sourceDir: string | undefined = monitor.sourceDir;
const fork: boolean = monitor.fork;
const cwd: string = monitor.cwd;
const hideEnv: string[] = monitor.hideEnv;
const env: MonitorEnv | undefined = monitor.env;
const stdio: StdioOption | null = monitor.stdio;
const watchIgnoreDotFiles: boolean = monitor.watchIgnoreDotFiles;
const watchIgnorePatterns: string[] = monitor.watchIgnorePatterns;
const watchDirectory: string | string[] | undefined = monitor.watchDirectory;
const running: boolean | undefined = monitor.running;
const child: ChildProcessHandle | undefined = monitor.child;
const ctime: number | undefined = monitor.ctime;
const isMaster: boolean | undefined = monitor.isMaster;
const childData: MonitorData | undefined = monitor.childData;
const inspect: null = monitor.inspect;

if (monitor.child) {
  const pid: number = monitor.child.pid;
  const sent: boolean = monitor.child.kill();
  monitor.child.kill('SIGINT');
  monitor.child.kill(15);
  // @ts-expect-error not a signal name
  monitor.child.kill('SIGFOO');
  // @ts-expect-error pid is read-only
  monitor.child.pid = 1;
  const asChild: ForeverChildProcess = monitor.child;
  const code: number | null = asChild.exitCode;
  const signalCode: NodeJS.Signals | null = asChild.signalCode;
  const connected: boolean = asChild.connected;
  const ok: boolean = asChild.send({ hello: 1 }, (err) => err && err.message);
  if (asChild.stdout)
    asChild.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.length);
  if (asChild.stdin) asChild.stdin.write('line\n');
  asChild.on('exit', (exitCode, exitSignal) => [exitCode, exitSignal]);
  asChild.on('close', (closeCode: number | null) => closeCode);
  asChild.disconnect();
  void [code, signalCode, connected, ok];
}

// EventEmitter2's API, as forever-monitor's monitors had it.
monitor.onAny((name, ...args) => [name, args]);
monitor.offAny();
const anyCount: number = monitor.listenersAny().length;
monitor.many('restart', 2, () => undefined);
const waiting: CancelablePromise<any[]> = monitor.waitFor('exit', { timeout: 1000 });
waiting.cancel();
monitor.emitAsync('custom', 1).then((results: any[]) => results.length);
const lastEvent: string | symbol = monitor.event;
const spawned: ForeverChildProcess | false = monitor.trySpawn();
const stopping: boolean | undefined = monitor.forceStop;
void [anyCount, lastEvent, spawned, stopping];

// @ts-expect-error running is boolean | undefined
const runningNow: boolean = monitor.running;
// @ts-expect-error child may be undefined
monitor.child.kill();
// @ts-expect-error spinSleepTime may be null
const sleep: number = monitor.spinSleepTime;

// --- data --------------------------------------------------------------------------------

const data: MonitorData = monitor.data;
const dataCtime: number | undefined = data.ctime;
const dataCommand: string = data.command;
const dataFile: string = data.file;
const foreverPid: number = data.foreverPid;
const dataLogFile: string | undefined = data.logFile;
const dataArgs: string[] = data.args;
const dataPid: number | undefined = data.pid;
const dataSilent: boolean = data.silent;
const dataUid: string | number = data.uid;
const dataId: string | false = data.id;
const dataSpawnWith: SpawnWith = data.spawnWith;
const dataRunning: boolean | undefined = data.running;
const restarts: number = data.restarts;
const dataIsMaster: boolean | undefined = data.isMaster;
const dataPidFile: string | undefined = data.pidFile;
const dataOutFile: string | undefined = data.outFile;
const dataErrFile: string | undefined = data.errFile;
const dataEnv: MonitorEnv | undefined = data.env;
const dataCwd: string | undefined = data.cwd;
const dataSourceDir: string | undefined = data.sourceDir;

// @ts-expect-error data is read-only
monitor.data = data;

// --- Methods -----------------------------------------------------------------------------

const chained: Monitor = monitor
  .start()
  .restart()
  .kill()
  .kill(true)
  .stop()
  .send({ hello: 'world' });
monitor.start(true);
const json: string = monitor.toString();
const parsed: ParsedCommand | false = Monitor.parseCommand('node --expose-gc', ['app.js']);
if (parsed) {
  const parsedCommand: string = parsed.command;
  const parsedArgs: string[] = parsed.args;
}

// @ts-expect-error restart takes no argument of this type
monitor.start('yes');
// @ts-expect-error forceStop is a boolean
monitor.kill('SIGTERM');
// @ts-expect-error parseCommand is static
monitor.parseCommand('node', []);
// @ts-expect-error parseCommand takes args
Monitor.parseCommand('node');

// A subclass keeps `this` types.
class MyMonitor extends Monitor {
  extra = 1;
}
const mine: MyMonitor = new MyMonitor('app.js').start().on('start', () => undefined);

// --- Events ------------------------------------------------------------------------------

monitor
  .on('start', (m, d) => {
    const startedMonitor: Monitor = m;
    const startedData: MonitorData = d;
  })
  .on('restart', (m, d) => {
    const restartedMonitor: Monitor = m;
    const restartedData: MonitorData = d;
  })
  .on('exit', (m, spinning) => {
    const exitedMonitor: Monitor = m;
    const isSpinning: boolean = spinning;
  })
  .on('exit:code', (code, signal) => {
    const exitCode: number | null = code;
    const exitSignal: NodeJS.Signals | null = signal;
  })
  .on('stop', (d) => {
    const stoppedData: MonitorData = d;
  })
  .on('error', (err) => {
    const error: Error = err;
    const monitorError: MonitorError = err;
    const code: string | undefined = err.code;
    const errno: number | undefined = err.errno;
    const syscall: string | undefined = err.syscall;
    const path: string | undefined = err.path;
  })
  .on('stdout', (chunk) => {
    const out: Buffer = chunk;
  })
  .on('stderr', (chunk) => {
    const err: Buffer = chunk;
  })
  .on('watch:restart', (info) => {
    const restart: WatchRestartEvent = info;
    const file: string = info.file;
    const stat: unknown = info.stat;
  })
  .on('watch:error', (info) => {
    const watchError: WatchErrorEvent = info;
    const message: string = info.message;
    const error: string = info.error;
  })
  .on('message', (message) => {
    const received: unknown = message;
  })
  .on('newListener', (name, listener) => {
    const eventName: string | symbol = name;
    const fn: (...args: any[]) => void = listener;
  });

// Every listener method, with the same typing.
const onExitCode = (code: number | null, signal: NodeJS.Signals | null): void => undefined;
const onData = (chunk: Buffer): void => undefined;
monitor.once('exit:code', onExitCode);
monitor.addListener('stdout', onData);
monitor.prependListener('stderr', onData);
monitor.prependOnceListener('stdout', onData);
monitor.off('stdout', onData);
monitor.removeListener('exit:code', onExitCode);
monitor.once('start', (m: Monitor, d: MonitorData) => undefined);
monitor.prependOnceListener('exit', (m, spinning) => {
  const s: boolean = spinning;
});

// Fewer parameters are fine.
monitor.on('exit', () => undefined);
monitor.on('restarting', (info) => {
  const delay: number = info.delay;
  const attempt: number = info.attempt;
  const reason: 'exit' | 'spinning' | 'readyTimeout' | 'watchdog' | 'memory' = info.reason;
  const rss: number | undefined = info.rss;
  const code: number | null = info.code;
});
monitor.on('exit', (m, spinning, info) => {
  const reason: 'stopped' | 'max' | 'spinning' | 'window' | 'exitCode' | 'never' | 'error' =
    info.reason;
});
const backoffField: number | undefined = monitor.backoff?.initial;
const autorestartField: 'always' | 'on-failure' | 'never' = monitor.autorestart;
// Health.
const healthy: MonitorOptions = {
  fork: true,
  waitReady: true,
  readyTimeout: 5000,
  watchdog: 10000,
  maxMemory: '512M',
  memoryCheckInterval: 500,
  shutdownMessage: { cmd: 'shutdown' },
  shutdownTimeout: 3000,
  signal: new AbortController().signal,
};
// @ts-expect-error waitReady is a boolean
const badReady: MonitorOptions = { waitReady: 'yes' };
// @ts-expect-error signal is an AbortSignal
const badAbortSignal: MonitorOptions = { signal: 'SIGTERM' };
monitor.on('ready', (m: Monitor, data) => data.pid);
const usage = monitor.usage();
const usageState: 'idle' | 'starting' | 'running' | 'stopping' | 'sleeping' | 'waiting' =
  usage.state;
const usageRss: number | null = usage.treeRss;
async function awaitable() {
  const started: Monitor = await monitor.startAsync();
  await monitor.restartAsync();
  await monitor.stopAsync();
}

// Arbitrary events still type-check.
const custom = Symbol('custom');
monitor.on('custom', (a: string, b: number) => undefined);
monitor.once(custom, () => undefined);
monitor.off('custom', () => undefined);
const eventName: string = 'start';
monitor.on(eventName, (...anything: any[]) => undefined);

// Emitting.
const emitted: boolean = monitor.emit('exit:code', 0, null);
monitor.emit('exit', monitor, false, { reason: 'max', code: 1, signal: null });
monitor.emit('stdout', Buffer.from('hi'));
monitor.emit('custom', 1, 'two');

// Events map.
const exitArgs: MonitorEvents['exit'] = [
  monitor,
  true,
  { reason: 'spinning', code: null, signal: 'SIGSEGV' },
];

// @ts-expect-error spinning is a boolean, not a string
monitor.on('exit', (m: Monitor, spinning: string) => undefined);
// @ts-expect-error output is a Buffer
monitor.on('stdout', (chunk: string) => undefined);
// @ts-expect-error the exit code may be null
monitor.on('exit:code', (code: number) => undefined);
// @ts-expect-error the signal is a name, not a number
monitor.once('exit:code', (code: number | null, signal: number | null) => undefined);
// @ts-expect-error stop passes the monitor's data, not the monitor
monitor.addListener('stop', (m: Monitor) => m.start());
// @ts-expect-error start passes the monitor first
monitor.prependListener('start', (d: MonitorData) => undefined);
// @ts-expect-error errors are MonitorErrors
monitor.prependOnceListener('error', (err: string) => undefined);
// @ts-expect-error watch:restart passes an object
monitor.off('watch:restart', (file: string) => undefined);
// @ts-expect-error watch:error passes an object
monitor.removeListener('watch:error', (message: string, error: string) => undefined);
// @ts-expect-error too many parameters
monitor.on('stderr', (chunk: Buffer, extra: string) => undefined);
monitor.on('stderr', (chunk) => {
  // @ts-expect-error chunk is a Buffer
  const text: string = chunk;
});
monitor.on('error', (err) => {
  // @ts-expect-error code is a string
  const code: number | undefined = err.code;
});
// @ts-expect-error wrong argument for a known event
monitor.emit('exit', monitor, 'yes');
// @ts-expect-error missing argument for a known event
monitor.emit('start', monitor);
// @ts-expect-error event names are strings or symbols
monitor.on(42, () => undefined);

// --- Module functions --------------------------------------------------------------------

const started: Monitor = start('app.js');
start(['node', 'app.js'], { max: 1, silent: true });
forever.start('app.js', options);

kill(1234);
kill('1234', true);
kill(1234, false, 'SIGTERM');
kill(1234, true, 15, () => undefined);
forever.kill(1234, true, 'SIGINT', () => {
  const nothing: void = undefined;
});
const killed: void = kill(1);

const exists: boolean = checkProcess(1234);
checkProcess('1234');
checkProcess(undefined);
checkProcess(null);
forever.checkProcess(process.pid);

const v: string = version;
const v2: string = forever.version;

// @ts-expect-error start takes a script
start(42);
// @ts-expect-error max is a number
start('app.js', { max: '3' });
// @ts-expect-error the pid is a number or a string
kill({ pid: 1 });
// @ts-expect-error not a signal name
kill(1234, true, 'SIGFOO');
// @ts-expect-error killTree is a boolean
kill(1234, 'SIGTERM');
// @ts-expect-error the callback takes no error
kill(1234, true, 'SIGTERM', (err: Error) => undefined);
// @ts-expect-error checkProcess takes a pid
checkProcess({ pid: 1 });
// @ts-expect-error version is a string
const badVersion: number = version;
// @ts-expect-error no default export
import('../..').then((m) => m.default);
