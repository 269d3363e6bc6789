/**
 * The child's side of forever-native's health checks: `require('forever-native/child')`.
 * Every call is a harmless no-op (returning `false`) when the process has no IPC channel to
 * a forever-native monitor.
 */

/** Tells the monitor the child is ready (`waitReady`): sends `'ready'` over IPC. */
export function ready(): boolean;

/**
 * Pings the watchdog: by default at half the interval the monitor gave (`WATCHDOG_USEC`),
 * from now on, on an unref'd timer; once with `{ auto: false }`. Returns whether a
 * watchdog is there to ping.
 */
export function heartbeat(options?: { auto?: boolean }): boolean;

/** Stops the automatic heartbeat. */
export function stopHeartbeat(): void;

/**
 * Calls `fn` once when the monitor asks the child to shut down: its `shutdownMessage`, or
 * SIGTERM / SIGINT. Returns a function that removes the handlers.
 */
export function onShutdown(fn: (reason: 'message' | 'SIGTERM' | 'SIGINT') => unknown): () => void;

/** Whether this process runs under a forever-native monitor. */
export function supervised(): boolean;

/** The watchdog interval the monitor gave, in ms (0 for none). */
export function watchdogInterval(): number;

/**
 * The listening sockets the monitor handed to this process (its `listen` option): fds 3,
 * 4, … with their names (`LISTEN_FDNAMES`). Empty when there are none, or when they are
 * another process's (`LISTEN_PID`).
 */
export function listenFds(): Array<{ fd: number; name: string }>;

/**
 * The descriptor of the listening socket named `name` (the first one without a name), for
 * `server.listen({ fd })`; `null` when there is none.
 */
export function listenFd(name?: string): number | null;

/**
 * The backlog the monitor gave its `listen` sockets (`listenBacklog`; Node's 511 when there
 * is none). A `listen()` of an inherited socket sets the backlog again, for every process
 * that shares it, so pass this one: `server.listen({ fd }, listenBacklog(), cb)`.
 */
export function listenBacklog(): number;

/**
 * The `NODE_OPTIONS` words that preload `file`: `--require "file"`, with `\\` and `"`
 * escaped as Node reads that variable (the monitor writes the `interceptListen` hook so).
 */
export function requireOption(file: string): string;
