/**
 * forever-native: a drop-in replacement for `forever-monitor` 3.0.3 whose supervisor core
 * is written in Rust.
 *
 * Hand-written declarations for the public API of `index.js`. The generated declarations
 * of the native half live in `binding.d.ts` and are not part of the public API.
 */

/// <reference types="node" />

import { EventEmitter } from 'events';
import type { Readable, Writable } from 'stream';

/**
 * Environment variables for the child. Numbers and booleans are converted to strings;
 * `undefined` values are skipped. Keys must be non-empty and hold no `=` or null byte.
 */
export type MonitorEnv = Record<string, string | number | boolean | undefined>;

/**
 * A word for all three standard streams at once, as in `child_process.spawn`.
 * `'overlapped'` behaves like `'pipe'` outside Windows.
 */
export type StdioWord = 'pipe' | 'inherit' | 'ignore' | 'overlapped';

/**
 * One standard stream: a word, a file descriptor of the parent (an integer >= 0),
 * `null`/`undefined` for the default (`'pipe'`), or `'ipc'` (at most once, at any index)
 * for Node's IPC channel. Streams are not supported.
 */
export type StdioEntry = StdioWord | 'ipc' | number | null | undefined;

/**
 * The child's standard streams: one word for all three, or an array of up to three
 * entries (stdin, stdout, stderr). Entries after the third may only be `'ignore'`,
 * `null` or `undefined`: only the three standard streams are connected.
 */
export type StdioOption =
  | StdioWord
  | readonly [
      stdin?: StdioEntry,
      stdout?: StdioEntry,
      stderr?: StdioEntry,
      ...extra: Array<'ignore' | 'ipc' | null | undefined>,
    ];

/** What a `parser` returns: the program to run and its arguments. */
export interface ParsedCommand {
  /** The program to run (a non-empty string). */
  command: string;
  /** Its arguments. */
  args: string[];
}

/**
 * Turns the monitor's `command` and `args` into the program to run. The default is
 * {@link Monitor.parseCommand}. Returning anything but a {@link ParsedCommand} (`false`
 * included) makes `start()` emit a `TypeError` as `'error'`; a thrown error is emitted
 * wrapped, with the original as `cause`.
 */
export type CommandParser = (command: string, args: string[]) => ParsedCommand | false;

/**
 * The options passed along to spawning the child (forever-monitor's "all or nothing
 * options passed along to `child_process.spawn`"). The monitor fills in `cwd` and `env`
 * on this object when it starts the child.
 */
export interface SpawnWith {
  /** Working directory of the child. Default: the monitor's `cwd`. */
  cwd?: string | undefined;
  /**
   * The child's environment. Overwritten on every start with the host's environment,
   * less `hideEnv`, plus the `env` option.
   */
  env?: MonitorEnv | undefined;
  /** User id to run the child as (an integer from 0 to 4294967295). */
  uid?: number | undefined;
  /** Group id to run the child as (an integer from 0 to 4294967295). */
  gid?: number | undefined;
  /** Runs the child in a new session, detached from the monitor's. Default: `false`. */
  detached?: boolean | undefined;
  /**
   * Runs the command line through a shell: `true` for `/bin/sh`, or the shell's path.
   * The command and its arguments are joined with spaces and passed as `-c <line>`.
   */
  shell?: boolean | string | undefined;
  /** The `argv[0]` the child sees. Default: the command. */
  argv0?: string | undefined;
  /** The child's standard streams, unless the `stdio` option is set. Default: `'pipe'`. */
  stdio?: StdioOption | undefined;
}

/** forever-monitor's options for a {@link Monitor}. Every field is optional. */
export interface MonitorOptions {
  /** Silences the child's stdout and stderr in the parent process. Default: `false`. */
  silent?: boolean | undefined;
  /** Custom uid for this forever process. Default: 4 random characters. */
  uid?: string | number | undefined;
  /** An id for this process, reported in `data.id`. Default: `false`. */
  id?: string | undefined;
  /** Path of a pid file for the process, reported in `data.pidFile`. */
  pidFile?: string | undefined;
  /**
   * The maximum number of times the script runs (a number >= 0); once the child has run
   * this often it is not restarted. Default: unlimited.
   */
  max?: number | undefined;
  /** Kills the child's whole process tree, not just the child. Default: `true`. */
  killTree?: boolean | undefined;
  /**
   * Minimum uptime of a child in milliseconds; a child that exits sooner is "spinning".
   * Default: `0`.
   */
  minUptime?: number | undefined;
  /**
   * Milliseconds to wait before restarting a spinning child. Without it (or with `0`) a
   * spinning child is not restarted.
   */
  spinSleepTime?: number | undefined;
  /**
   * Program to run the script with; may hold arguments of its own after a space (see
   * {@link Monitor.parseCommand}). Default: `process.execPath`.
   */
  command?: string | undefined;
  /**
   * Arguments passed after the script. Numbers and booleans are converted to strings.
   * Default: `[]`.
   */
  args?: ReadonlyArray<string | number | boolean> | undefined;
  /**
   * Arguments passed after the script; used only when `args` is not set, and warns when set.
   * @deprecated Use `args` instead.
   */
  options?: ReadonlyArray<string | number | boolean> | undefined;
  /** Directory the script is in; the script's path is joined to it. */
  sourceDir?: string | undefined;
  /** Options passed along to spawning the child. */
  spawnWith?: SpawnWith | undefined;
  /** Extra environment variables for the child, on top of the host's (less `hideEnv`). */
  env?: MonitorEnv | undefined;
  /** Names of the host's environment variables the child must not inherit. */
  hideEnv?: readonly string[] | undefined;
  /** Working directory of the child. Default: `process.cwd()`. */
  cwd?: string | undefined;
  /**
   * Turns `command` and `args` into the program to run.
   * Default: {@link Monitor.parseCommand}.
   */
  parser?: CommandParser | undefined;
  /**
   * Milliseconds to wait after `killSignal` before killing with `SIGKILL`.
   * Default: no escalation.
   */
  killTTL?: number | undefined;
  /** Signal (name or number) that `kill()`, `stop()` and `restart()` send. Default: `'SIGKILL'`. */
  killSignal?: NodeJS.Signals | number | undefined;
  /**
   * Checks that the script exists before the first start, when `command` is `node`.
   * Default: `true`.
   */
  checkFile?: boolean | undefined;
  /** The child's standard streams; overrides `spawnWith.stdio`. Default: `'pipe'`. */
  stdio?: StdioOption | undefined;
  /** Path to log output from the forever process (when daemonized); reported in `data.logFile`. */
  logFile?: string | undefined;
  /**
   * File the child's stdout is written to (by the native core, across restarts). Opened
   * and truncated in the constructor unless `append`; created with mode 0644; a symlink at
   * the path is not followed (unless it is the host's own and leads to a device or a
   * FIFO). `'/dev/stdout'`, `'/dev/stderr'`, `'/dev/fd/N'`, character devices and FIFOs
   * are streamed to, never rotated. Monitors of one host with the same file share it.
   * Write failures are `'error'` events; the child keeps running.
   */
  outFile?: string | undefined;
  /** File the child's stderr is written to; the same path as `outFile` merges the streams. */
  errFile?: string | undefined;
  /** Appends to `outFile`/`errFile` rather than truncating them. */
  append?: boolean | undefined;
  /** Prefixes every logged line with an ISO-8601 UTC time (lines are kept whole). Default `false`. */
  logTimestamps?: boolean | undefined;
  /** Writes stderr into `outFile` too, never splitting a line. Requires `outFile`. Default `false`. */
  mergeLogs?: boolean | undefined;
  /**
   * Rotates a log file before it would grow past this many bytes: renamed to `file.1`,
   * `file.2`, … counting up, the newest with the highest number, and never renamed again
   * (with `logRotate`, to the period's name with `.1`, `.2`, …). Lines are never split.
   */
  logMaxSize?: number | undefined;
  /**
   * How many rotated files to keep (0 empties the file in place instead). Default `5`, or
   * `1000` when `logMaxAge` is given.
   */
  logMaxFiles?: number | undefined;
  /**
   * Rotates a log file when its period ends, between two lines: `'daily'` (at midnight),
   * `'hourly'`, or every this many milliseconds (100 to 2,678,400,000), counted from
   * 1970-01-01 00:00 on the local (or, with `logRotateUtc`, the UTC) clock. A rotated file
   * is named for the start of its period, to the interval's precision: `out.log.2026-11-30`,
   * `out.log.2026-11-30T14`, `out.log.2026-11-30T14-05`, `out.log.2026-11-30T14-05-07`,
   * `out.log.2026-11-30T14-05-07.200`; more files of one period (`logMaxSize`) get `.1`, `.2`.
   */
  logRotate?: 'daily' | 'hourly' | number | undefined;
  /** Counts `logRotate`'s periods on the UTC clock rather than the local one. Default `false`. */
  logRotateUtc?: boolean | undefined;
  /**
   * Gzips rotated files (`out.log.1.gz`, `out.log.2026-11-30.gz`) in the background; the
   * `.gz` appears whole, and the plain file goes only once it has. Needs `logRotate` or
   * `logMaxSize`. Default `false`.
   */
  logCompress?: boolean | undefined;
  /**
   * Removes rotated files last written longer ago than this: milliseconds, or a duration
   * such as `'14d'`, `'12h'`, `'30m'` (units `ms`, `s`, `m`, `h`, `d`, `w`). Needs `logRotate`
   * or `logMaxSize`.
   */
  logMaxAge?: number | `${number}${'ms' | 's' | 'm' | 'h' | 'd' | 'w'}` | undefined;
  /**
   * The child writes `outFile`/`errFile` itself: each child gets the files (opened for
   * appending) as its stdout/stderr, so its output costs the host no CPU at all. Those
   * streams then emit no `'stdout'`/`'stderr'` events, and `reopenLogs()` takes effect at
   * the next restart. Requires `silent: true`; cannot be combined with `logTimestamps`,
   * `logMaxSize` or `logRotate`. Default `false`.
   */
  logDirect?: boolean | undefined;
  /**
   * Restarts the child when a watched file is added, changed or removed, from `start()`
   * until `stop()`: a change after the child ended on its own runs it again. The first
   * change of a burst restarts at once, the rest give at most one more restart.
   */
  watch?: boolean | undefined;
  /** Directory, or directories, to watch. Default: `sourceDir`, else the script's directory. */
  watchDirectory?: string | string[] | undefined;
  /** Quiet time (ms) that ends a burst of changes (which then gives its one more restart). Default: `300`. */
  watchDebounce?: number | undefined;
  /** A pause (ms) before every automatic restart (not before one `restart()` asks for). Default: none. */
  restartDelay?: number | undefined;
  /**
   * Delays that grow while restarts follow each other: `true` for
   * `{ initial: 100, factor: 1.5, max: 15000, jitter: 0.1, resetAfter: 30000 }`, or some
   * of those. The longest of `restartDelay`, the backoff delay and (for a spinning child)
   * `spinSleepTime` applies. Default: none.
   */
  backoff?: boolean | BackoffOptions | undefined;
  /**
   * Which exits are restarted: `'always'` (forever-monitor's), `'on-failure'` (not exit
   * code 0) or `'never'`; PM2's `true`/`false` mean `'always'`/`'never'`. Default: `'always'`.
   */
  autorestart?: AutoRestart | boolean | undefined;
  /** Exit codes (0–255) that end supervision instead of a restart. Default: none. */
  stopExitCodes?: number | readonly number[] | undefined;
  /** Give up when more than `count` automatic restarts happen within `window` ms. Default: none. */
  restartWindow?: RestartWindow | undefined;
  /**
   * A child is up only once it says so: `process.send('ready')` over IPC (`fork: true`; see
   * `forever-native/child`), or `READY=1` on `NOTIFY_SOCKET` (systemd's protocol). `'ready'`
   * follows, and `minUptime` counts from then. Default: `false`.
   */
  waitReady?: boolean | undefined;
  /** With `waitReady`: a child not ready this long (ms) after its spawn is taken down, as a crash. */
  readyTimeout?: number | undefined;
  /**
   * A child must ping at least this often (ms): `process.send('heartbeat')` or
   * `WATCHDOG=1`; one that stops is taken down (`'restarting'` with reason `'watchdog'`).
   * Counted from ready with `waitReady`, else from the spawn. The child gets `WATCHDOG_USEC`.
   */
  watchdog?: number | undefined;
  /** The most resident memory of the child's tree: bytes, or `'512M'`, `'1.5G'` (at least 1 MiB). */
  maxMemory?: number | string | undefined;
  /** How often (ms, >= 10) the tree's memory is read with `maxMemory`. Default: `1000`. */
  memoryCheckInterval?: number | undefined;
  /**
   * Sent over IPC (`fork: true`) before `killSignal` by every kill (`stop()`, `restart()`,
   * the watchdog, the memory limit); a child that exits on it gets no signal. It must be
   * serializable as the channel sends it (`JSON.stringify` gives a string; with
   * `serialization: 'advanced'`, V8's serializer takes it), else `new Monitor()` throws a
   * `TypeError` (`ERR_INVALID_ARG_TYPE`); and at most 64 KiB serialized (it also reaches
   * the child in an environment variable), else a `RangeError` (`ERR_OUT_OF_RANGE`).
   * Checked again at each start (then an `'error'`).
   */
  shutdownMessage?: unknown;
  /** How long (ms) a kill waits after `shutdownMessage` before `killSignal`. Default: `killTTL`, else `5000`. */
  shutdownTimeout?: number | undefined;
  /**
   * Aborting it stops the monitor (and a `start()` after that is an `AbortError`). The
   * signal holds the monitor only while it supervises, with one `'abort'` listener for all
   * the monitors sharing it: any number may share one.
   */
  signal?: AbortSignal | undefined;
  /**
   * Addresses the core listens on, from `start()` until supervision ends, for every child:
   * they get the sockets as fds 3, 4, … with systemd's `LISTEN_FDS`, `LISTEN_PID` and
   * `LISTEN_FDNAMES` (see `forever-native/child`'s `listenFd()`). While no child runs, new
   * connections wait in the kernel's queue. Needed by a `reload()` without downtime.
   */
  listen?: ListenAddress | readonly ListenAddress[] | undefined;
  /** The backlog of each `listen` socket (1–65535). Default: `511`, as Node's. */
  listenBacklog?: number | undefined;
  /**
   * The mode of each Unix socket file `listen` makes: a number (`0o660`) or its octal
   * digits (`'660'`, `'0660'`), set before the socket accepts any connection. Needs a
   * socket path in `listen`. Default: what the umask leaves (`0o777` less the umask).
   */
  listenMode?: number | string | undefined;
  /**
   * The app's own `server.listen(PORT)` (any `net`/`http` server) of a TCP port in `listen`
   * takes the socket the monitor holds instead of binding one, as under PM2's cluster mode:
   * a node child preloads `forever-native/listen-hook` through `NODE_OPTIONS`. Other ports,
   * paths and port 0 bind as usual; each held socket is taken once. Needs `listen`.
   * Default: `false`.
   */
  interceptListen?: boolean | undefined;
  /**
   * Without `waitReady`: how long (ms) a reload's new child runs beside the old one before
   * it takes over. Default: `1000`.
   */
  reloadGrace?: number | undefined;
  /** Whether to ignore files starting with a `.` when watching. Default: `true`. */
  watchIgnoreDotFiles?: boolean | undefined;
  /** Glob patterns of files to ignore when watching. Default: `[]`. */
  watchIgnorePatterns?: string[] | undefined;
  /** Polls for changes when watching, rather than using file system events. */
  usePolling?: boolean | undefined;
  /** Milliseconds between polls when `usePolling` is set. */
  pollingInterval?: number | undefined;
  /**
   * Spawns the child with Node's IPC channel (default stdio `['pipe','pipe','pipe','ipc']`),
   * for `send()` and `'message'`. The channel is spoken by the native core. An `'ipc'` entry
   * in `stdio` gives a channel too. Default `false`.
   */
  fork?: boolean | undefined;
  /** How IPC messages are encoded, as Node's `fork()` option. Default `'json'`. */
  serialization?: 'json' | 'advanced' | undefined;
}

/** forever-monitor's snapshot of a monitor and its child (`monitor.data`). */
export interface MonitorData {
  /** When the child started (ms since the epoch); `undefined` before the first start. */
  ctime: number | undefined;
  /** The program run. */
  command: string;
  /** The script (the first argument), relative to `sourceDir` when that is set. */
  file: string;
  /** The pid of the process running the monitor. */
  foreverPid: number;
  /** The `logFile` option. */
  logFile: string | undefined;
  /** The arguments after the script. */
  args: string[];
  /** The child's pid; `undefined` before the first start. */
  pid: number | undefined;
  /** The `silent` option. */
  silent: boolean;
  /** The monitor's uid. */
  uid: string | number;
  /** The `id` option, or `false`. */
  id: string | false;
  /** The options the child is spawned with. */
  spawnWith: SpawnWith;
  /** Whether the child is running; `undefined` before the first start. */
  running: boolean | undefined;
  /** How many times the child has exited. */
  restarts: number;
  /** Whether the monitor runs in the cluster's primary; `undefined` before the first start. */
  isMaster: boolean | undefined;
  /** The `pidFile` option, when set. */
  pidFile?: string;
  /** The `outFile` option, when set. */
  outFile?: string;
  /** The `errFile` option, when set. */
  errFile?: string;
  /** The `env` option, when set. */
  env?: MonitorEnv;
  /** The working directory of the child. */
  cwd?: string;
  /** The `sourceDir` option, when set. */
  sourceDir?: string;
}

/**
 * An error emitted as `'error'`. Failures of system calls (spawning, signalling) carry
 * Node's `code` (`'ENOENT'`, …), `errno`, `syscall` and `path`; option errors carry
 * `code`s such as `'ERR_INVALID_ARG_TYPE'`.
 */
export interface MonitorError extends Error {
  /** Node's error code, such as `'ENOENT'` or `'ERR_OUT_OF_RANGE'`. */
  code?: string;
  /** The (negative) errno of a failed system call. */
  errno?: number;
  /** The failed system call. */
  syscall?: string;
  /** The path or command involved. */
  path?: string;
  /** The address a `listen` failure is about (`'127.0.0.1:8080'`, or a socket path). */
  address?: string;
  /** Its port, for TCP. */
  port?: number;
  /** Why a reload failed (`'exit'`, `'readyTimeout'`), with `ERR_RELOAD_FAILED`. */
  reason?: string;
  /** The error a `parser` threw. */
  cause?: unknown;
}

/**
 * One `listen` address: a port (every interface: `[::]`, or `0.0.0.0` without IPv6),
 * `'127.0.0.1:8080'`, `'[::1]:8080'`, a Unix socket path (anything with a `/`), or
 * `'fd:3'`, a listening socket this process inherited (systemd's socket activation: the
 * core holds a copy, never binds nor unlinks it; `start()` fails if nothing listens
 * there), each optionally named `'http=127.0.0.1:8080'`; or `{ address, name }`,
 * `{ fd, name }`. Names (letters, digits, `_`, `.`, `@`, `-`) default to `listen<index>`.
 * IP addresses only: names are not resolved. Port 0 takes a port the system picks
 * ({@link Monitor.listenAddresses} tells it).
 */
export type ListenAddress =
  | number
  | string
  | { address: number | string; name?: string | undefined }
  | { fd: number; name?: string | undefined };

/** A `listen` address, as the monitor holds it (`monitor.listen`). */
export interface ListenEntry {
  /** The descriptor's name (`LISTEN_FDNAMES`). */
  name: string;
  /** A port, `'host:port'`, `'[ipv6]:port'`, an absolute socket path, or `'fd:N'`. */
  address: number | string;
}

/** A socket the core listens on, as bound: {@link Monitor.listenAddresses}. */
export interface ListeningSocket {
  /** Its name. */
  name: string;
  /** The descriptor children get it at (3, 4, …). */
  fd: number;
  /** `'IPv4'`, `'IPv6'` or `'unix'`. */
  family: 'IPv4' | 'IPv6' | 'unix';
  /** The IP address (TCP). */
  address?: string;
  /** The port (TCP): the one the system picked for port 0. */
  port?: number;
  /** The socket's path (Unix). */
  path?: string;
}

/**
 * The payload of `'reload'`, one per step of a `reload()`: `'starting'` (the new child was
 * spawned beside the old one), `'ready'` (it took over: `monitor.child` is it, and the old
 * one is being stopped), `'done'` (the old one exited, with `code`/`signal`), or `'failed'`
 * (the new child exited, was not ready within `readyTimeout`, could not be spawned, or
 * supervision ended; the old child serves on unless supervision ended).
 */
export type ReloadEvent =
  | { phase: 'starting' | 'ready'; oldPid: number; newPid: number }
  | {
      phase: 'done';
      oldPid: number;
      newPid: number;
      code: number | null;
      signal: NodeJS.Signals | null;
    }
  | {
      phase: 'failed';
      oldPid: number;
      /** `null` when it could not be spawned. */
      newPid: number | null;
      /** `'exit'`, `'readyTimeout'`, `'spawn'`, or why supervision ended (`'stopped'`, `'max'`, …). */
      reason: string;
      /** The new child's exit code, when it exited. */
      code: number | null;
      signal: NodeJS.Signals | null;
      /** `ERR_RELOAD_FAILED` (or the spawn error), also emitted as `'error'` unless `reloadAsync()` awaits it; absent when supervision ended. */
      error?: MonitorError;
    };

/** The events of a {@link ForeverChildProcess} and their listeners' arguments (Node's `ChildProcess` events). */
export interface ChildProcessEvents {
  /** The child was spawned (on the next tick after `monitor.child` is set). */
  spawn: [];
  /** A message from the child over its IPC channel; the monitor's `'message'` came first. */
  message: [message: unknown];
  /** The IPC channel closed. */
  disconnect: [];
  /** The child exited: its code, or the signal that ended it. The monitor's `'exit:code'` came first. */
  exit: [code: number | null, signal: NodeJS.Signals | null];
  /** The child exited and its stdout and stderr (those that were touched) have closed. */
  close: [code: number | null, signal: NodeJS.Signals | null];
  /** A `send()` without a callback failed, or `disconnect()` of a closed channel. */
  error: [err: MonitorError];
}

/**
 * `monitor.child`: one run of the child, as a Node `ChildProcess` for what code does with
 * one. The core owns the process; each run gets a new object, and an old one still tells
 * its own end. Streams are made when first touched; a stream nobody reads drops output past
 * 8 MiB unread (64 KiB before it is first touched), never holding the child or a restart.
 */
export interface ForeverChildProcess extends EventEmitter {
  /** The child's process id. */
  readonly pid: number;
  /** Whether a `kill()` of this object delivered its signal. */
  readonly killed: boolean;
  /** Its exit code once it has exited by itself, else null. */
  readonly exitCode: number | null;
  /** The signal that ended it, else null. */
  readonly signalCode: NodeJS.Signals | null;
  /** The command spawned. */
  readonly spawnfile: string;
  /** Its argv. */
  readonly spawnargs: string[];
  /** Its stdin when that is a pipe (the default), else null: bytes written reach the child. */
  readonly stdin: Writable | null;
  /** Its stdout when that is a pipe (the default), else null (also with `logDirect`). */
  readonly stdout: Readable | null;
  /** Its stderr when that is a pipe (the default), else null (also with `logDirect`). */
  readonly stderr: Readable | null;
  /** `[stdin, stdout, stderr]`. */
  readonly stdio: [Writable | null, Readable | null, Readable | null];
  /** Whether the IPC channel is open (`fork: true`). */
  readonly connected: boolean;
  /**
   * Sends `signal` (default `'SIGTERM'`) to the child alone; returns whether it was
   * delivered. Throws for an unknown signal.
   */
  kill(signal?: NodeJS.Signals | number): boolean;
  /**
   * Sends a message over the IPC channel; false when it cannot (the callback gets the
   * error, else `'error'` is emitted). Handles cannot be sent (`ERR_FOREVER_NATIVE_NO_HANDLES`).
   */
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  send(message: unknown, sendHandle?: null, callback?: (error: Error | null) => void): boolean;
  send(
    message: unknown,
    sendHandle?: null,
    options?: object,
    callback?: (error: Error | null) => void,
  ): boolean;
  /** Closes the IPC channel. */
  disconnect(): void;
  /** No-ops: the core's children never hold the host's event loop. */
  ref(): void;
  unref(): void;
  on<E extends keyof ChildProcessEvents>(
    event: E,
    listener: (...args: ChildProcessEvents[E]) => void,
  ): this;
  on(event: string | symbol, listener: AnyListener): this;
  once<E extends keyof ChildProcessEvents>(
    event: E,
    listener: (...args: ChildProcessEvents[E]) => void,
  ): this;
  once(event: string | symbol, listener: AnyListener): this;
}

/** @deprecated The old name of {@link ForeverChildProcess}. */
export type ChildProcessHandle = ForeverChildProcess;

/** The payload of `'watch:restart'`. */
export interface WatchRestartEvent {
  /** The file that changed. */
  file: string;
  /** Its stats; `undefined` when it was removed. */
  stat?: import('fs').Stats | undefined;
}

/** Which exits are restarted. */
export type AutoRestart = 'always' | 'on-failure' | 'never';

/** The `backoff` option; each field left out takes its default. */
export interface BackoffOptions {
  /** The first delay (ms). Default: `100`. */
  initial?: number | undefined;
  /** What each restart in a row multiplies the delay by (>= 1). Default: `1.5`. */
  factor?: number | undefined;
  /** The longest delay (ms, >= `initial`). Default: `15000`. */
  max?: number | undefined;
  /** Up to this fraction (0 to 1) of each delay is taken off at random. Default: `0.1`. */
  jitter?: number | undefined;
  /** A child that stays up this long (ms) makes the next restart the first in a row. Default: `30000`. */
  resetAfter?: number | undefined;
}

/** The `backoff` option, complete (the monitor's field). */
export interface Backoff {
  /** The first delay (ms). */
  initial: number;
  /** Growth per restart in a row. */
  factor: number;
  /** The longest delay (ms). */
  max: number;
  /** The fraction of each delay taken off at random. */
  jitter: number;
  /** Uptime (ms) after which restarts in a row count from 1 again. */
  resetAfter: number;
}

/** The `restartWindow` option: systemd's start limit. */
export interface RestartWindow {
  /** Automatic restarts allowed within the window (0 to 10000). */
  count: number;
  /** The window (ms, > 0). */
  window: number;
}

/** The payload of `'restarting'`: an automatic restart is on its way. */
export interface RestartingEvent {
  /**
   * `'spinning'` when the child lived less than `minUptime`, `'readyTimeout'`, `'watchdog'`
   * or `'memory'` when the core took it down for its health, else `'exit'`.
   */
  reason: 'exit' | 'spinning' | 'readyTimeout' | 'watchdog' | 'memory';
  /** Milliseconds until the next child (after jitter). */
  delay: number;
  /** Automatic restarts in a row, this one included. */
  attempt: number;
  /** The exit code of the child that ended; `null` if a signal ended it. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  /** With reason `'memory'`: the tree's resident memory (bytes) that was over the limit. */
  rss?: number;
}

/** What {@link Monitor.usage} gives: the core's last reading, at most about a second old. */
export interface Usage {
  /** The child's pid, when one runs. */
  pid: number | null;
  /** How long it has run (ms). */
  uptime: number | null;
  /** Runs so far (`times`). */
  restarts: number;
  /** CPU use of its tree over the last second, in percent of one core. */
  cpu: number | null;
  /** Resident memory of the child (bytes). */
  rss: number | null;
  /** Resident memory of its whole tree (bytes). */
  treeRss: number | null;
  /** Processes in its tree. */
  treePids: number | null;
  /** When those figures were read (ms since the epoch). */
  sampledAt: number | null;
  /** Where supervision stands. */
  state: 'idle' | 'starting' | 'running' | 'stopping' | 'sleeping' | 'waiting';
  /** The last child's exit. */
  lastExit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null;
}

/** Why supervision ended: `'exit'`'s third argument. */
export interface ExitInfo {
  /**
   * `'stopped'` (`stop()`), `'max'`, `'spinning'` (no `spinSleepTime`), `'window'`
   * (`restartWindow`), `'exitCode'` (`autorestart: 'on-failure'`, `stopExitCodes`),
   * `'never'` (`autorestart: 'never'`) or `'error'` (a restart could not spawn).
   */
  reason: 'stopped' | 'max' | 'spinning' | 'window' | 'exitCode' | 'never' | 'error';
  /** The last child's exit code, if it had one. */
  code: number | null;
  /** The signal that ended the last child, if one did. */
  signal: NodeJS.Signals | null;
}

/** The payload of `'watch:error'`. */
export interface WatchErrorEvent {
  /** What failed. */
  message: string;
  /** The underlying error's message. */
  error: string;
}

/** A listener of any event (Node's `EventEmitter` listener type). */
export type AnyListener = (...args: any[]) => void;

/** The events of a {@link Monitor} and their listeners' arguments. */
export interface MonitorEvents {
  /** The child started. */
  start: [monitor: Monitor, data: MonitorData];
  /** The child started again. */
  restart: [monitor: Monitor, data: MonitorData];
  /**
   * The child exited and will not be restarted; `spinning` if it lived less than
   * `minUptime`; `info` says why supervision ended.
   */
  exit: [monitor: Monitor, spinning: boolean, info: ExitInfo];
  /** The child exited and the core restarts it by itself after `info.delay` ms. */
  restarting: [info: RestartingEvent];
  /** The child said it is ready (`waitReady`). */
  ready: [monitor: Monitor, data: MonitorData];
  /** A step of a `reload()`. */
  reload: [info: ReloadEvent];
  /** The child exited (every time): its exit code, or the signal that ended it. */
  'exit:code': [code: number | null, signal: NodeJS.Signals | null];
  /** The child was stopped by `stop()` or `kill(true)`. */
  stop: [childData: MonitorData];
  /** Something failed: starting, killing, restarting or sending. */
  error: [err: MonitorError];
  /** Output of the child on stdout. */
  stdout: [data: Buffer];
  /** Output of the child on stderr. */
  stderr: [data: Buffer];
  /** A watched file changed; the restart follows. */
  'watch:restart': [info: WatchRestartEvent];
  /** Watching failed (missing `.foreverignore`, a missing directory, inotify exhausted). */
  'watch:error': [info: WatchErrorEvent];
  /** Every watched directory that exists is being watched (once per `start()`). */
  'watch:ready': [];
  /** A message from the child over its IPC channel (`fork: true`). */
  message: [message: unknown];
  /** The child closed its IPC channel (`process.disconnect()` or exit). */
  disconnect: [];
  /** `EventEmitter`: a listener is about to be added. */
  newListener: [eventName: string | symbol, listener: AnyListener];
  /** `EventEmitter`: a listener was removed. */
  removeListener: [eventName: string | symbol, listener: AnyListener];
}

/** EventEmitter2's listener options (the third argument of `on`, `once`, `many`). */
export interface ListenerOptions {
  /** Call the listener on a later tick (`setImmediate`). */
  async?: boolean;
  /** Wrap the listener's result in a promise (`emitAsync` awaits it). */
  promisify?: boolean;
  /** Call the listener on `process.nextTick`. */
  nextTick?: boolean;
  /** Return a handle with `off()` instead of the emitter. */
  objectify?: boolean;
}

/** What `on`/`many` return with `objectify`. */
export interface ListenerHandle {
  emitter: EventEmitter;
  event: string | symbol;
  listener: AnyListener;
  /** Removes the listener. */
  off(): unknown;
}

/** EventEmitter2's `waitFor` options. */
export interface WaitForOptions {
  /** Milliseconds before it rejects (0: never). */
  timeout?: number;
  /** Only events whose arguments pass this count. */
  filter?: (...args: any[]) => boolean;
  /** The first argument is a callback-style error: reject with it when set, else resolve with the rest. */
  handleError?: boolean;
  /** The Promise class to use. */
  Promise?: PromiseConstructor;
  /** Add this `cancel()` even when the Promise class has one of its own (bluebird). */
  overload?: boolean;
}

/** A promise that `cancel()` rejects at once. */
export interface CancelablePromise<T> extends Promise<T> {
  cancel(reason?: unknown): void;
}

/** EventEmitter2's `listenTo` options. */
export interface ListenToOptions {
  /** Reducers that decide per event whether it is re-emitted. */
  reducers?:
    | ((event: { name: string | symbol; args: any[] }) => boolean)
    | Record<string, (event: { name: string | symbol; args: any[] }) => boolean>;
  /** The target's method to add listeners with (default `on` / `addListener`). */
  on?: string;
  /** The target's method to remove them with (default `off` / `removeListener`). */
  off?: string;
}

/** An event name that is not one of {@link MonitorEvents}. */
export type OtherEvent<E extends string | symbol> = Exclude<E, keyof MonitorEvents>;

/**
 * Runs a script and restarts it when it exits, as forever-monitor's `Monitor` does.
 * Spawning, waiting, restarting, killing and output happen in the Rust core, off the
 * JavaScript thread.
 */
export declare class Monitor extends EventEmitter {
  /**
   * Creates a monitor; call `start()` to run the child.
   * @param script the script to run (with `command`, `node` by default), or a whole argv
   *   whose first entry is the program
   * @param options forever-monitor's options
   * @throws {TypeError | RangeError} for an invalid script or option
   */
  constructor(script: string | readonly string[], options?: MonitorOptions);

  /**
   * forever-monitor's default parser: splits `command` at its first unescaped space, so
   * `'node --expose-gc'` runs `node` with `--expose-gc` before `args`. Returns `false`
   * when `command` cannot be split (an empty string).
   */
  static parseCommand(command: string, args: string[]): ParsedCommand | false;

  /** Silences the child's output in the parent process. */
  silent: boolean;
  /** Kills the child's whole process tree. */
  killTree: boolean;
  /** The uid of this forever process. */
  uid: string | number;
  /** The `id` option, or `false`. */
  id: string | false;
  /** The `pidFile` option. */
  pidFile: string | undefined;
  /** The maximum number of runs; `undefined` for unlimited. */
  max: number | undefined;
  /** Milliseconds before escalating a kill to `SIGKILL`. */
  killTTL: number | undefined;
  /** The signal `kill()` sends, as given (default `'SIGKILL'`). */
  killSignal: NodeJS.Signals | number;
  /** Whether the script was found to exist (see `checkFile`). */
  childExists: boolean;
  /** Checks that the script exists before the first start. */
  checkFile: boolean;
  /** How many times the child has exited. */
  times: number;
  /** Where warnings go; `console.error`. */
  warn: (message?: unknown, ...optionalParams: unknown[]) => void;
  /** The `logFile` option. */
  logFile: string | undefined;
  /** The `outFile` option. */
  outFile: string | undefined;
  /** The `errFile` option. */
  errFile: string | undefined;
  /** The `append` option. */
  append: boolean | undefined;
  /** The `logTimestamps` option. */
  logTimestamps: boolean;
  /** The `mergeLogs` option. */
  mergeLogs: boolean;
  /** The `logMaxSize` option. */
  logMaxSize: number | undefined;
  /** The `logMaxFiles` option. */
  logMaxFiles: number | undefined;
  /** The `logRotate` option. */
  logRotate: 'daily' | 'hourly' | number | undefined;
  /** The `logRotateUtc` option. */
  logRotateUtc: boolean;
  /** The `logCompress` option. */
  logCompress: boolean;
  /** The `logMaxAge` option, in milliseconds. */
  logMaxAge: number | undefined;
  /** The `logDirect` option. */
  logDirect: boolean;
  /** The `usePolling` option. */
  usePolling: boolean | undefined;
  /** The `watch` option. */
  watch: boolean;
  /** The `watchDebounce` option (ms). */
  watchDebounce: number;
  /** The `restartDelay` option (ms). */
  restartDelay: number | undefined;
  /** The `backoff` option, complete; `undefined` for none. */
  backoff: Backoff | undefined;
  /** The `autorestart` option, as a word. */
  autorestart: AutoRestart;
  /** The `stopExitCodes` option, as an array. */
  stopExitCodes: number[];
  /** The `restartWindow` option. */
  restartWindow: RestartWindow | undefined;
  /** The `waitReady` option. */
  waitReady: boolean;
  /** The `readyTimeout` option (ms). */
  readyTimeout: number | undefined;
  /** The `watchdog` option (ms). */
  watchdog: number | undefined;
  /** The `maxMemory` option, in bytes. */
  maxMemory: number | undefined;
  /** The `memoryCheckInterval` option (ms). */
  memoryCheckInterval: number;
  /** The `shutdownMessage` option (absent when not given). */
  shutdownMessage?: unknown;
  /** The `shutdownTimeout` option (ms). */
  shutdownTimeout: number | undefined;
  /** The `listen` option, checked (`[]` for none). */
  listen: ListenEntry[];
  /** The `listenBacklog` option. */
  listenBacklog: number | undefined;
  /** The `listenMode` option, as a number (`0o660`). */
  listenMode: number | undefined;
  /** The `interceptListen` option. */
  interceptListen: boolean;
  /** The `reloadGrace` option (ms). */
  reloadGrace: number;
  /** The `pollingInterval` option. */
  pollingInterval: number | undefined;
  /** The parser that turns `command` and `args` into the program to run. */
  parser: CommandParser;
  /** Minimum uptime of a child in milliseconds. */
  minUptime: number;
  /** Milliseconds to wait before restarting a spinning child; `null` not to restart it. */
  spinSleepTime: number | null;
  /** The program to run. */
  command: string;
  /** Its arguments: the script first. */
  args: string[];
  /** The options the child is spawned with. */
  spawnWith: SpawnWith;
  /** The `sourceDir` option. */
  sourceDir: string | undefined;
  /** Whether the child has an IPC channel (`fork` option). */
  fork: boolean;
  /** How IPC messages are encoded. */
  serialization: 'json' | 'advanced';
  /** The working directory of the child. */
  cwd: string;
  /** Names of the host's environment variables the child does not inherit. */
  hideEnv: string[];
  /** The `env` option, as given; absent when it was not set. */
  env?: MonitorEnv;
  /** The `stdio` option, or `null`. */
  stdio: StdioOption | null;
  /** Whether to ignore files starting with a `.` when watching. */
  watchIgnoreDotFiles: boolean;
  /** Patterns of files to ignore when watching. */
  watchIgnorePatterns: string[];
  /** Directory, or directories, to watch: `watchDirectory` or `sourceDir`. */
  watchDirectory: string | string[] | undefined;
  /** Whether the child is running; `undefined` before the first start. */
  running?: boolean;
  /** The current (or last) child; `undefined` before the first start. */
  child?: ForeverChildProcess;
  /** When the child started (ms since the epoch); `undefined` before the first start. */
  ctime?: number;
  /** Whether the monitor runs in the cluster's primary; set by `start()`. */
  isMaster?: boolean;
  /** The last snapshot taken by reading `data`. */
  childData?: MonitorData;
  /** A fresh snapshot of this monitor and its child (also stored as `childData`). */
  readonly data: MonitorData;
  /** `null`, so `util.inspect` does not call a method of that name (as forever-monitor). */
  inspect: null;

  /**
   * Starts the child. `'start'` (or `'restart'`) follows asynchronously; failures arrive
   * as `'error'`.
   * @param restart report the start as a restart (and start even when running)
   */
  start(restart?: boolean): this;
  /** Stops the child and its tree; it is not restarted. `'stop'` follows. */
  stop(): this;
  /** Restarts the child (starts it when not running). */
  restart(): this;
  /**
   * `start()`, awaitable: resolves once the child started (once it is ready, with
   * `waitReady`); rejects with the error `start()` would emit (not emitted then), or with
   * `ERR_SUPERVISION_ENDED` (its `reason` says why) when supervision ends first. While the
   * monitor runs, or a start is under way (its `'start'` not yet emitted), that error is
   * `ERR_ALREADY_RUNNING`: the promise never resolves on another call's start. Any number
   * of awaitable calls may be pending: they add no listeners.
   */
  startAsync(): Promise<this>;
  /** `restart()`, awaitable: resolves once the new child started (or is ready). */
  restartAsync(): Promise<this>;
  /**
   * Reloads without downtime: a new child starts beside the running one (both get the
   * `listen` sockets); once it is ready (`waitReady`) or after `reloadGrace`, it takes over
   * and the old one is stopped as `stop()` would stop it. A new child that exits or misses
   * `readyTimeout` is killed, the old one serving on (`'error'` with `ERR_RELOAD_FAILED`).
   * `'reload'` tells each step. Starts a stopped monitor, as `restart()` does; emits
   * `'error'` with `ERR_RELOAD_IN_PROGRESS` while a reload's new child starts, or
   * `ERR_RELOAD_WHILE_STOPPING` while the child is being stopped or restarted.
   */
  reload(): this;
  /**
   * `reload()`, awaitable: resolves once the old child is gone and the new one serves;
   * rejects with the failure (then not emitted as `'error'`), or with
   * `ERR_SUPERVISION_ENDED` when supervision ends first.
   */
  reloadAsync(): Promise<this>;
  /**
   * The sockets the core listens on (`listen`), as bound: the port the system picked for
   * port 0. Empty before `start()` and once supervision has ended.
   */
  listenAddresses(): ListeningSocket[];
  /**
   * `stop()`, awaitable: resolves once the child and its tree are gone; rejects with
   * `Cannot stop process that is not running.` when nothing runs.
   */
  stopAsync(): Promise<this>;
  /**
   * What the child and its tree use, as the core last read it (once a second while
   * someone asks; the first call starts it, so its figures may be null). Never reads
   * `/proc` on the calling thread.
   */
  usage(): Usage;
  /**
   * Closes and re-opens `outFile`/`errFile`, e.g. after an external logrotate moved them.
   * Files that cannot be opened are reported as `'error'` events.
   */
  reopenLogs(): this;
  /**
   * Kills the child with `killSignal` (its whole tree unless `killTree: false`); it is
   * restarted unless `forceStop`. Emits `'error'` when not running.
   * @param forceStop also end supervision (as `stop()`)
   */
  kill(forceStop?: boolean): this;
  /**
   * Sends `message` to the child over its IPC channel (`fork: true`); never blocks.
   * Throws a `TypeError` for a message that cannot be serialised (undefined, a function, a
   * cycle); emits `'error'` when no child runs (forever-monitor's message), when the child
   * has no channel (`ERR_IPC_CHANNEL_CLOSED`) or when 16 MiB already wait for a child that
   * does not read (`ERR_IPC_BACKLOG`).
   */
  send(message: unknown): this;
  /** The monitor as JSON. */
  toString(): string;
  /**
   * forever-monitor's spawn hook, called by `start()` (and `restart()` of a stopped
   * monitor): spawns the child and returns it, or false when the script does not exist.
   * An override may wrap or log the spawn and must call this one; the core's own restarts
   * do not call it.
   */
  trySpawn(): ForeverChildProcess | false;
  /** forever-monitor's flag: a stop was asked for and its `'exit:code'` not heard yet. */
  forceStop?: boolean;
  /** forever-monitor's flag: a restart was asked for and its `'exit:code'` not heard yet. */
  forceRestart?: boolean;

  // EventEmitter2's API, as forever-monitor's monitors had it (matched, not inherited).
  /** The name of the event being emitted (EventEmitter2's field). */
  event: string | symbol;
  /** Adds a listener of every event, called with the event's name first. */
  onAny(listener: (event: string | symbol, ...args: any[]) => void): this;
  /** `onAny`, first in line. */
  prependAny(listener: (event: string | symbol, ...args: any[]) => void): this;
  /** Removes an `onAny` listener, or all of them. */
  offAny(listener?: (event: string | symbol, ...args: any[]) => void): this;
  /** The `onAny` listeners. */
  listenersAny(): Array<(event: string | symbol, ...args: any[]) => void>;
  /** Adds a listener called at most `timesToListen` times. */
  many(
    event: string | symbol,
    timesToListen: number,
    listener: AnyListener,
    options?: boolean | ListenerOptions,
  ): this | ListenerHandle;
  /** `many`, first in line. */
  prependMany(
    event: string | symbol,
    timesToListen: number,
    listener: AnyListener,
    options?: boolean | ListenerOptions,
  ): this | ListenerHandle;
  /**
   * Resolves with the arguments of the next `event` (passing `filter`); rejects after
   * `timeout` ms (`Error('timeout')`, code `ETIMEDOUT`), or with the first argument when
   * `handleError`; `cancel()` rejects it at once.
   */
  waitFor(event: string | symbol, options?: number | WaitForOptions): CancelablePromise<any[]>;
  /** Calls the listeners and resolves with what they returned (promises awaited). */
  emitAsync(event: string | symbol, ...args: any[]): Promise<any[]>;
  /** Re-emits events of `target` on this monitor. */
  listenTo(
    target: EventEmitter,
    events: string | symbol | Array<string | symbol> | Record<string, (...args: any[]) => any>,
    options?: ListenToOptions,
  ): this;
  /** Stops re-emitting `target`'s events (all targets, or one event). */
  stopListeningTo(target?: EventEmitter, event?: string | symbol): boolean;
  /** Whether there are listeners of `event` (or of anything, `onAny` ones included). */
  hasListeners(event?: string | symbol): boolean;

  /** Adds a listener of a monitor event. */
  on<K extends keyof MonitorEvents>(event: K, listener: (...args: MonitorEvents[K]) => void): this;
  /** Adds a listener of any other event. */
  on<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Adds a one-time listener of a monitor event. */
  once<K extends keyof MonitorEvents>(
    event: K,
    listener: (...args: MonitorEvents[K]) => void,
  ): this;
  /** Adds a one-time listener of any other event. */
  once<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Adds a listener of a monitor event (alias of `on`). */
  addListener<K extends keyof MonitorEvents>(
    event: K,
    listener: (...args: MonitorEvents[K]) => void,
  ): this;
  /** Adds a listener of any other event (alias of `on`). */
  addListener<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Adds a listener of a monitor event before the others. */
  prependListener<K extends keyof MonitorEvents>(
    event: K,
    listener: (...args: MonitorEvents[K]) => void,
  ): this;
  /** Adds a listener of any other event before the others. */
  prependListener<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Adds a one-time listener of a monitor event before the others. */
  prependOnceListener<K extends keyof MonitorEvents>(
    event: K,
    listener: (...args: MonitorEvents[K]) => void,
  ): this;
  /** Adds a one-time listener of any other event before the others. */
  prependOnceListener<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Removes a listener of a monitor event. */
  off<K extends keyof MonitorEvents>(event: K, listener: (...args: MonitorEvents[K]) => void): this;
  /** Removes a listener of any other event. */
  off<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Removes a listener of a monitor event (alias of `off`). */
  removeListener<K extends keyof MonitorEvents>(
    event: K,
    listener: (...args: MonitorEvents[K]) => void,
  ): this;
  /** Removes a listener of any other event (alias of `off`). */
  removeListener<E extends string | symbol>(event: OtherEvent<E>, listener: AnyListener): this;

  /** Emits a monitor event; returns whether it had listeners. */
  emit<K extends keyof MonitorEvents>(event: K, ...args: MonitorEvents[K]): boolean;
  /** Emits any other event; returns whether it had listeners. */
  emit<E extends string | symbol>(event: OtherEvent<E>, ...args: any[]): boolean;
}

/**
 * Creates a monitor and starts it, as forever-monitor's `start()` does. Sets
 * `options.uid` when it is not set.
 * @param script the script to run, or a whole argv whose first entry is the program
 * @param options forever-monitor's options
 * @throws {TypeError | RangeError} for an invalid script or option
 */
export declare function start(
  script: string | readonly string[],
  options?: MonitorOptions,
): Monitor;

/**
 * Sends `signal` (default `'SIGKILL'`) to `pid`, and with `killTree` to all its
 * descendants. `callback` runs once the signals are sent.
 * @param pid a positive integer, or a string of digits
 * @throws {TypeError} for an invalid pid
 * @throws {TypeError | RangeError} for an unknown signal
 */
export declare function kill(
  pid: number | string,
  killTree?: boolean,
  signal?: NodeJS.Signals | number,
  callback?: () => void,
): void;

/** Whether a process with this pid exists (and may be signalled); `false` for no pid. */
export declare function checkProcess(pid: number | string | undefined | null): boolean;

/** The version of forever-native. */
export declare const version: string;

/** `instances`: a whole number, `'max'` (the CPUs this process may use), or, as PM2 reads it, a negative number: that many fewer than `'max'` (at least 1). */
export type InstanceCount = number | 'max' | `${number}`;

/** The options of a {@link Group}: a {@link Monitor}'s, for every instance, and the group's own. */
export interface GroupOptions extends MonitorOptions {
  /** How many instances. Default: `1`. */
  instances?: InstanceCount | undefined;
  /**
   * How many instances `reload()` replaces at a time: the next batch starts once each new
   * child of this one has taken over. Default: `1`.
   */
  reloadBatch?: number | undefined;
  /**
   * Each instance holds a TCP socket of its own for each `listen` address, with
   * `SO_REUSEPORT` (across its restarts), and the kernel spreads new connections over them;
   * by default all share one socket. Unix sockets are shared either way. Default: `false`.
   */
  listenReusePort?: boolean | undefined;
  /**
   * The variable each child finds its index in as PM2 sets it (PM2's `instance_var`), beside
   * `FOREVER_INSTANCE` (neither it nor `FOREVER_INSTANCES`). Default: `'NODE_APP_INSTANCE'`.
   */
  instanceVar?: string | undefined;
}

/** A monitor of one instance of a {@link Group}: a full {@link Monitor}. */
export interface InstanceMonitor extends Monitor {
  /** Its index in the group (its child's `FOREVER_INSTANCE`). */
  readonly instance: number;
}

/** What {@link Group.usage} gives. */
export interface GroupUsage {
  /** Each instance's {@link Monitor.usage}, by index. */
  instances: Usage[];
  /** The sums over the instances (`null` while no instance has that figure yet). */
  total: {
    /** CPU use of every tree, in percent of one core. */
    cpu: number | null;
    /** Resident memory of every child (bytes). */
    rss: number | null;
    /** Resident memory of every tree (bytes). */
    treeRss: number | null;
    /** Processes in every tree. */
    treePids: number | null;
    /** Every instance's runs so far. */
    restarts: number;
    /** Instances with a child running. */
    running: number;
  };
}

/** The error of a rolling reload that stopped at an instance whose new child failed. */
export interface RollingReloadError extends MonitorError {
  code: 'ERR_RELOAD_FAILED';
  /** The instance whose new child failed. */
  instance: number;
  /** Why it failed: `'exit'`, `'readyTimeout'`, `'spawn'`, … */
  reason?: string;
  /** How many instances were replaced before it. */
  replaced: number;
}

/** Prepends the instance's index to a tuple of event arguments. */
type Indexed<A extends unknown[]> = [index: number, ...args: A];

/**
 * The events of a {@link Group}: every instance's events (but `'error'`) with its index
 * first, `'error'` with the index second, and the group's own.
 */
export type GroupEvents = {
  [
    K in Exclude<
      keyof MonitorEvents,
      'error' | 'newListener' | 'removeListener' | 'start' | 'restart' | 'ready' | 'exit'
    >
  ]: Indexed<MonitorEvents[K]>;
} & {
  /** An instance's child started. */
  start: [index: number, monitor: InstanceMonitor, data: MonitorData];
  /** An instance's child started again. */
  restart: [index: number, monitor: InstanceMonitor, data: MonitorData];
  /** An instance's child is ready (`waitReady`). */
  ready: [index: number, monitor: InstanceMonitor, data: MonitorData];
  /** An instance's supervision ended. */
  exit: [index: number, monitor: InstanceMonitor, spinning: boolean, info: ExitInfo];
  /**
   * An instance's error (with `err.instance` set too), or a rolling reload's failure (a
   * {@link RollingReloadError}, or `ERR_RELOAD_IN_PROGRESS` with index `-1`).
   */
  error: [err: MonitorError & { instance?: number }, index: number];
  /** A rolling reload replaced every instance and every old child is gone. */
  reloaded: [info: { instances: number }];
  /** `scale()` is done: the new instances started, the removed ones are gone. */
  scaled: [info: { from: number; to: number }];
  /** `EventEmitter`: a listener is about to be added. */
  newListener: [eventName: string | symbol, listener: AnyListener];
  /** `EventEmitter`: a listener was removed. */
  removeListener: [eventName: string | symbol, listener: AnyListener];
};

/** An event name that is not one of {@link GroupEvents}. */
export type OtherGroupEvent<E extends string | symbol> = Exclude<E, keyof GroupEvents>;

/**
 * N instances of one app, each supervised by a full {@link Monitor} (its own restart rules,
 * health, logs and IPC), all serving the same `listen` sockets with no process between the
 * clients and the children. Each child gets `FOREVER_INSTANCE` and `NODE_APP_INSTANCE` (its
 * index) and `FOREVER_INSTANCES` (the count when it was started).
 */
export declare class Group extends EventEmitter {
  /**
   * Creates the group's monitors; call `start()` to run them.
   * @throws {TypeError | RangeError} for an invalid option (a monitor's, or the group's)
   */
  constructor(script: string | readonly string[], options?: GroupOptions);
  /** The script, as given. */
  readonly script: string | readonly string[];
  /** Each instance's monitor, by index. */
  readonly monitors: InstanceMonitor[];
  /** How many instances there are now. */
  readonly size: number;
  /** Instances `reload()` replaces at a time. */
  reloadBatch: number;
  /** Whether each instance has a `SO_REUSEPORT` socket of its own. */
  readonly listenReusePort: boolean;
  /** The variable with each child's index PM2's way (`NODE_APP_INSTANCE` by default). */
  readonly instanceVar: string;
  /** Starts every instance that is not running. */
  start(): this;
  /** Resolves once every instance has started (is ready, with `waitReady`). */
  startAsync(): Promise<this>;
  /** Stops every instance gracefully. */
  stop(): this;
  /** Resolves once every instance's child (and tree) is gone. */
  stopAsync(): Promise<this>;
  /**
   * `n` instances from now on: new ones start (if the group was started), the last ones
   * leave and are stopped gracefully.
   * @throws {TypeError | RangeError} for an invalid count
   */
  scale(n: InstanceCount): this;
  /** `scale()`, resolving once the new instances have started and the removed ones are gone. */
  scaleAsync(n: InstanceCount): Promise<this>;
  /**
   * Rolling reload: `reloadBatch` instances at a time, each new child ready before its old
   * one is stopped; a new child that fails stops the roll (reported once, as `'error'`).
   */
  reload(): this;
  /**
   * `reload()`, resolving once every instance was replaced; rejects with a
   * {@link RollingReloadError} (`ERR_RELOAD_FAILED`, or `ERR_SUPERVISION_ENDED` when `stop()`
   * ended the roll), or with `ERR_RELOAD_IN_PROGRESS` while another roll is under way.
   */
  reloadAsync(): Promise<this>;
  /** The sockets the instances listen on, as bound (the first listening instance's). */
  listenAddresses(): ListeningSocket[];
  /** Each instance's usage, and the sums. */
  usage(): GroupUsage;

  on<K extends keyof GroupEvents>(event: K, listener: (...args: GroupEvents[K]) => void): this;
  on<E extends string | symbol>(event: OtherGroupEvent<E>, listener: AnyListener): this;
  once<K extends keyof GroupEvents>(event: K, listener: (...args: GroupEvents[K]) => void): this;
  once<E extends string | symbol>(event: OtherGroupEvent<E>, listener: AnyListener): this;
  addListener<K extends keyof GroupEvents>(
    event: K,
    listener: (...args: GroupEvents[K]) => void,
  ): this;
  addListener<E extends string | symbol>(event: OtherGroupEvent<E>, listener: AnyListener): this;
  prependListener<K extends keyof GroupEvents>(
    event: K,
    listener: (...args: GroupEvents[K]) => void,
  ): this;
  prependListener<E extends string | symbol>(
    event: OtherGroupEvent<E>,
    listener: AnyListener,
  ): this;
  off<K extends keyof GroupEvents>(event: K, listener: (...args: GroupEvents[K]) => void): this;
  off<E extends string | symbol>(event: OtherGroupEvent<E>, listener: AnyListener): this;
  removeListener<K extends keyof GroupEvents>(
    event: K,
    listener: (...args: GroupEvents[K]) => void,
  ): this;
  removeListener<E extends string | symbol>(event: OtherGroupEvent<E>, listener: AnyListener): this;
  emit<K extends keyof GroupEvents>(event: K, ...args: GroupEvents[K]): boolean;
  emit<E extends string | symbol>(event: OtherGroupEvent<E>, ...args: any[]): boolean;
}
