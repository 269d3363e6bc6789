'use strict';
// Scenario 5 — IPC with `fork: true`, against a child that echoes every message.
//
// --case pingpong   one message in flight: send, wait for the echo, send the next.
//                   Figures: round trips/s over 20,000 (2,000 with --quick) after a warm-up,
//                   and the host's CPU time per round trip (all its threads).
// --case pipelined  send all messages at once (100,000; 2,000 with --quick), count the
//                   echoes. Figures: messages/s, from the first send to the last echo, and
//                   the JS thread's time per send() call in that loop, and the host's CPU
//                   time per message.
//
// --impl node-fork: plain child_process.fork() of the same child, as a reference
// (forever-monitor's fork: true is Node's own IPC too).
// --impl plain-socket: the parent speaks the channel itself over a plain socket (JSON lines
// split in JS): about the least a parent can do, so it marks what this child allows.
const path = require('path');
const { fork, spawn } = require('child_process');
const { EventEmitter } = require('events');
const c = require('../lib/common');

const CHILD = path.join(c.CHILDREN, 'ipc-echo.js');

/** Waits for the child's first message, which must be {ready: true}. */
async function readyFrom(emitter) {
  const [ready] = await c.next(emitter, 'message', 20000, 'the child to say ready');
  if (!ready || !ready.ready) throw new Error(`unexpected first message ${JSON.stringify(ready)}`);
}

/** SIGKILLs a plain child and waits for its exit. */
async function killAndWait(child) {
  const exited = c.next(child, 'exit', 20000);
  child.kill('SIGKILL');
  await exited;
}

/** { send, emitter, stop } over a Monitor, a plain fork()ed child or a plain socket. */
async function open(impl) {
  if (impl === 'node-fork') {
    const child = fork(CHILD, [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
    await readyFrom(child);
    return {
      emitter: child,
      send: (msg) => child.send(msg),
      stop: () => killAndWait(child),
    };
  }
  if (impl === 'plain-socket') {
    const child = spawn(process.execPath, [CHILD], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_CHANNEL_FD: '3', NODE_CHANNEL_SERIALIZATION_MODE: 'json' },
    });
    const socket = child.stdio[3];
    const emitter = new EventEmitter();
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (text) => {
      buffered += text;
      let end;
      while ((end = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        emitter.emit('message', JSON.parse(line));
      }
    });
    await readyFrom(emitter);
    return {
      emitter,
      send: (msg) => socket.write(JSON.stringify(msg) + '\n'),
      stop: () => killAndWait(child),
    };
  }
  const { Monitor } = c.loadImpl(impl);
  const m = new Monitor(CHILD, { fork: true, silent: true, max: 1 });
  m.on('error', (err) => {
    throw err;
  });
  const ready = readyFrom(m);
  m.start();
  await ready;
  return {
    emitter: m,
    send: (msg) => m.send(msg),
    stop: async () => {
      const stopped = c.next(m, 'stop', 20000);
      m.stop();
      await stopped;
    },
  };
}

/** Ping-pong: `count` round trips, one at a time; resolves with the time in ms. */
function pingPong(ch, count) {
  return new Promise((resolve, reject) => {
    let seq = 0;
    const t0 = c.now();
    const timer = setTimeout(
      () => reject(new Error(`ping-pong stalled at ${seq}/${count}`)),
      120000,
    );
    const on = (msg) => {
      if (!msg || msg.seq !== seq) {
        clearTimeout(timer);
        reject(new Error(`expected echo ${seq}, got ${JSON.stringify(msg)}`));
        return;
      }
      seq++;
      if (seq === count) {
        clearTimeout(timer);
        ch.emitter.removeListener('message', on);
        resolve(c.now() - t0);
      } else {
        ch.send({ seq, body: 'ping' });
      }
    };
    ch.emitter.on('message', on);
    ch.send({ seq, body: 'ping' });
  });
}

/** How long the last pipelined send() loop held the JS thread, in ms. */
let sendLoopMs = null;

/** Pipelined: `count` messages sent at once; resolves when every echo has come back. */
function pipelined(ch, count) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(
      () => reject(new Error(`pipelined stalled at ${got}/${count}`)),
      120000,
    );
    const on = (msg) => {
      if (!msg || msg.seq !== got) {
        clearTimeout(timer);
        reject(new Error(`expected echo ${got} (in order), got ${JSON.stringify(msg)}`));
        return;
      }
      got++;
      if (got === count) {
        clearTimeout(timer);
        ch.emitter.removeListener('message', on);
        resolve(c.now() - t0);
      }
    };
    ch.emitter.on('message', on);
    const t0 = c.now();
    for (let seq = 0; seq < count; seq++) ch.send({ seq, body: 'ping' });
    sendLoopMs = c.now() - t0;
  });
}

/** The host's CPU time (user + system, all its threads) since `start`, in µs. */
function cpuUs(start) {
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

c.runWorker('ipc', async ({ impl, quick, case: kase }) => {
  if (!c.isMonitorImpl(impl) && impl !== 'node-fork' && impl !== 'plain-socket')
    throw new Error(`unknown --impl ${impl}`);
  const ch = await open(impl);
  try {
    if (kase === 'pingpong') {
      const count = quick ? 2000 : 20000;
      await pingPong(ch, Math.min(500, count)); // warm-up
      const cpu = process.cpuUsage();
      const ms = await pingPong(ch, count);
      return { messages: count, ms, perSec: count / (ms / 1000), hostCpuUs: cpuUs(cpu) / count };
    }
    if (kase === 'pipelined') {
      const count = quick ? 2000 : 100000;
      await pipelined(ch, Math.min(500, count)); // warm-up
      const cpu = process.cpuUsage();
      const ms = await pipelined(ch, count);
      // The JS thread's time per send() call in the loop (send() is synchronous in both).
      return {
        messages: count,
        ms,
        perSec: count / (ms / 1000),
        sendUs: (sendLoopMs * 1000) / count,
        hostCpuUs: cpuUs(cpu) / count,
      };
    }
    throw new Error(`unknown --case ${kase} (pingpong | pipelined)`);
  } finally {
    await ch.stop();
  }
});
