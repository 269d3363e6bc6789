//! The napi boundary: the only module that knows about Node-API.
//!
//! `index.js` wraps [`NativeMonitor`] in forever-monitor's `Monitor` class. Options arrive
//! here already checked, normalised and complete (`options.js`'s catalogue owns every check
//! and default; nothing here adds one), as the `#[napi(object)]` types below, so
//! `binding.d.ts` spells out every field the JS side must pass, and `tsc` checks it. Core events go back as one discriminated union
//! ([`NativeEvent`]) through one threadsafe function per supervision run, which is strong
//! (it keeps Node's event loop alive) exactly as long as the core holds it: from
//! `start()` until the run's last event. Incoming IPC messages take a shorter way:
//! [`event_loop`] reads the channel on Node's own loop.

mod event_loop;
mod types;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Either, Function, JsValue};
use napi::threadsafe_function::{
  ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, Status};
use napi_derive::napi;

use crate::error::CoreError;
use crate::guardian;
use crate::logs::{LogConfig, LogSink, Report, Schedule};
use crate::output::Stream;
use crate::process::tree::{self, Reach};
use crate::stdin::Done;
use crate::supervisor::{Event, EventSink, Handle, StartRequest};

pub use types::{
  NativeAutorestart, NativeBackoff, NativeChannel, NativeEvent, NativeFailure, NativeFamily,
  NativeHealthOptions, NativeListen, NativeListening, NativeLogOptions, NativeReason,
  NativeRestartWindow, NativeRunOptions, NativeSerialization, NativeSpawnSpec, NativeStart,
  NativeState, NativeStdio, NativeUsage, NativeWatchOptions,
};

/// How core events reach JS: queued without blocking, one JS call per event, the callee
/// receiving the event itself (no error-first argument), and strong while held.
type EventFn = ThreadsafeFunction<Event, UnknownReturnValue, NativeEvent, Status, false>;
/// How failures outside a run (log files prepared or reopened) reach JS: strong only while
/// the job that may fail holds it.
type FailureFn = ThreadsafeFunction<CoreError, UnknownReturnValue, NativeFailure, Status, false>;
/// How failures of a log file written from JS reach JS: weak, it never keeps the host alive.
type WeakFailureFn =
  ThreadsafeFunction<CoreError, UnknownReturnValue, NativeFailure, Status, false, true>;
/// How the end of one `writeStdin` chunk reaches JS: `null` once its bytes are in the pipe,
/// or the failure that dropped it. Strong while the chunk waits, as Node's loop stays alive
/// for a pending write to a child's stdin; let go once called (the core calls it exactly
/// once, and a child that exits ends the wait with EPIPE).
type DoneFn =
  ThreadsafeFunction<Option<CoreError>, UnknownReturnValue, Option<NativeFailure>, Status, false>;
/// How the guardian's warnings reach JS: weak, it never keeps the host alive.
type WarningFn = ThreadsafeFunction<String, UnknownReturnValue, String, Status, false, true>;

impl From<CoreError> for napi::Error {
  fn from(error: CoreError) -> Self {
    napi::Error::new(Status::GenericFailure, error.to_string())
  }
}

fn failure(result: Result<(), CoreError>) -> Option<NativeFailure> {
  result.err().map(NativeFailure::from)
}

/// Turns a core event into what JS receives, on the JS thread. A new child's channel
/// starts being read on the loop; an exited child's channel is read to its end first, so
/// its last messages come before its exit; messages read ahead while JS was busy go to
/// `onMessage`.
fn deliver(run: &event_loop::Run, event: Event) -> NativeEvent {
  match &event {
    Event::Start {
      channel: Some(channel),
      ..
    } => run.attach(Arc::clone(channel)),
    Event::ReloadStarting {
      channel: Some(channel),
      ..
    } => run.attach(Arc::clone(channel)),
    Event::Exit {
      channel: Some(channel),
      ..
    }
    | Event::ReloadDone {
      channel: Some(channel),
      ..
    }
    | Event::ReloadFailed {
      channel: Some(channel),
      ..
    } => event_loop::finish(channel),
    Event::ChannelWaiting(channel) => event_loop::take_waiting(channel),
    _ => {}
  }
  NativeEvent::from(event)
}

struct JsSink(EventFn);

impl EventSink for JsSink {
  fn emit(&self, event: Event) {
    // NonBlocking on an unbounded queue never waits; output is bounded by the core's
    // budgets, and events are a few per restart.
    let _ = self.0.call(event, ThreadsafeFunctionCallMode::NonBlocking);
  }
}

/// A report of failures to a JS callback, strong while it exists.
fn reporter(on_failure: Function<NativeFailure, UnknownReturnValue>) -> napi::Result<Report> {
  let tsfn: FailureFn = on_failure
    .build_threadsafe_function::<CoreError>()
    .callee_handled::<false>()
    .build_callback(|ctx| Ok(NativeFailure::from(ctx.value)))?;
  Ok(Arc::new(move |error| {
    let _ = tsfn.call(error, ThreadsafeFunctionCallMode::NonBlocking);
  }))
}

/// The native half of a `Monitor`: a handle on the core's supervisor task.
#[napi]
#[derive(Default)]
pub struct NativeMonitor {
  handle: Handle,
}

#[napi]
impl NativeMonitor {
  /// Creates an idle supervisor.
  #[napi(constructor)]
  pub fn new() -> Self {
    NativeMonitor {
      handle: Handle::new(),
    }
  }

  /// Spawns a child, on this thread, and hands it to the core. `onEvent` receives every
  /// later event of this supervision run, `onMessage` each IPC message (a JSON text, or a
  /// V8 payload in `advanced` mode). Returns the child, or why there is none.
  #[napi(catch_unwind)]
  pub fn start(
    &self,
    env: Env,
    spec: NativeSpawnSpec,
    options: NativeRunOptions,
    restart: bool,
    on_event: Function<NativeEvent, UnknownReturnValue>,
    on_message: Function<Either<String, Buffer>, UnknownReturnValue>,
  ) -> napi::Result<NativeStart> {
    let converted = spec
      .into_core()
      .and_then(|(spec, mode)| Ok((spec, options.into_core(mode)?)));
    let (spec, options) = match converted {
      Ok(both) => both,
      Err(error) => return Ok(NativeStart::failed(error)),
    };
    let run = event_loop::Run::new(env.raw(), on_event.raw(), on_message.raw())?;
    let run_key = run.key();
    let events: EventFn = on_event
      .build_threadsafe_function::<Event>()
      .callee_handled::<false>()
      .build_callback(move |ctx| Ok(deliver(&run, ctx.value)))?;
    let started = self.handle.start(StartRequest {
      spec,
      options,
      restart,
      sink: Arc::new(JsSink(events)),
    });
    Ok(match started {
      Ok(info) => {
        let channel_error = info
          .channel
          .and_then(|channel| event_loop::attach(run_key, channel).err())
          .map(NativeFailure::from);
        NativeStart {
          pid: Some(info.pid),
          ctime: Some(info.ctime),
          error: None,
          channel_error,
        }
      }
      Err(error) => NativeStart::failed(error),
    })
  }

  /// Kills the child; with `forceStop`, supervision ends when it exits. Returns the
  /// refusal (`ERR_NOT_RUNNING` when there is nothing to kill), or null. Never waits.
  #[napi(catch_unwind)]
  pub fn kill(&self, force_stop: bool) -> Option<NativeFailure> {
    failure(self.handle.kill(force_stop))
  }

  /// Restarts the running child, or cuts a sleep before a restart short. Returns
  /// `ERR_NOT_RUNNING` when idle (the caller starts it afresh), or null. Never waits.
  #[napi(catch_unwind)]
  pub fn restart(&self) -> Option<NativeFailure> {
    failure(self.handle.restart())
  }

  /// Starts a new child beside the running one, which takes over once ready; cuts a sleep
  /// before a restart short. Returns `ERR_NOT_RUNNING` when idle (the caller starts it
  /// afresh), `ERR_RELOAD_IN_PROGRESS` or `ERR_RELOAD_WHILE_STOPPING`, or null. Never waits.
  #[napi(catch_unwind)]
  pub fn reload(&self) -> Option<NativeFailure> {
    failure(self.handle.reload())
  }

  /// The sockets the current supervision run listens on, as bound (the port the system
  /// picked for port 0); empty when supervision has ended.
  #[napi(catch_unwind)]
  pub fn listening(&self) -> Vec<NativeListening> {
    self
      .handle
      .listening()
      .into_iter()
      .enumerate()
      .map(|(i, (name, bound))| NativeListening::of(i, name, bound))
      .collect()
  }

  /// Sends a signal (by number) to the child alone: the current one, or with `pid` that
  /// child only while it is the current one (a `ChildProcess` object of a child the core
  /// has already replaced never reaches the next). Returns the refusal, or null.
  #[napi(catch_unwind)]
  pub fn signal(&self, signal: i32, pid: Option<u32>) -> Option<NativeFailure> {
    failure(self.handle.signal(signal, pid))
  }

  /// Sends one serialised message (JSON text or V8 payload) to the child (with `pid`, only
  /// while that child is the current one). Returns the failure (`ERR_NOT_RUNNING`,
  /// `ERR_IPC_CHANNEL_CLOSED`, `ERR_IPC_BACKLOG`), or null.
  #[napi(catch_unwind)]
  pub fn send(&self, payload: Either<String, Buffer>, pid: Option<u32>) -> Option<NativeFailure> {
    let bytes = match payload {
      Either::A(text) => text.into_bytes(),
      Either::B(buffer) => buffer.to_vec(),
    };
    failure(self.handle.send(bytes, pid))
  }

  /// Closes the current child's IPC channel both ways (`ChildProcess#disconnect()`; with
  /// `pid`, only while that child is the current one): the child and the core each see it
  /// end, and `'disconnect'` follows.
  #[napi(catch_unwind)]
  pub fn disconnect(&self, pid: Option<u32>) {
    self.handle.disconnect(pid);
  }

  /// Queues `data` for the stdin of child `pid` (the current child, or a reload's new
  /// child beside it), without waiting: a core task writes it, never this thread. Returns
  /// the refusal at once — `ERR_NOT_RUNNING` when `pid` is not such a child (bytes for a
  /// child that exited never reach the next one), `ERR_STDIN_NOT_PIPE` when its stdin is
  /// not a pipe — or null; then `done` is called once, on this thread, with null once every
  /// byte of `data` is in the pipe, or with the failure that dropped it (`EPIPE`, syscall
  /// `write`, when the child closed its stdin or exited). Chunks are written in the order
  /// of the calls.
  ///
  /// The core holds only the chunks handed to it and not yet written (a copy of each:
  /// the caller may reuse `data` at once). A Node `Writable` in front of this holds the
  /// rest and calls it one `_write` at a time, so the JS side bounds the memory.
  #[napi(catch_unwind)]
  pub fn write_stdin(
    &self,
    pid: u32,
    data: Buffer,
    done: Function<Option<NativeFailure>, UnknownReturnValue>,
  ) -> napi::Result<Option<NativeFailure>> {
    let stdin = match self.handle.stdin(pid) {
      Ok(stdin) => stdin,
      Err(refused) => return Ok(Some(refused.into())),
    };
    let tsfn: DoneFn = done
      .build_threadsafe_function::<Option<CoreError>>()
      .callee_handled::<false>()
      .build_callback(|ctx| Ok(ctx.value.map(NativeFailure::from)))?;
    stdin.write(
      data.to_vec(),
      Done::new(move |result| {
        let _ = tsfn.call(result.err(), ThreadsafeFunctionCallMode::NonBlocking);
      }),
    );
    Ok(None)
  }

  /// Closes the stdin of child `pid` once the bytes already queued for it are written: the
  /// child sees EOF. Returns `ERR_NOT_RUNNING` or `ERR_STDIN_NOT_PIPE` as `writeStdin`
  /// does, or null (also when it is closed already). Never waits.
  #[napi(catch_unwind)]
  pub fn end_stdin(&self, pid: u32) -> Option<NativeFailure> {
    failure(self.handle.stdin(pid).map(|stdin| stdin.end()))
  }

  /// The supervision's state, as `usage()` names it, without asking the core for a sample
  /// of the child's tree (the calls that check it run on every restart and stop).
  #[napi(catch_unwind)]
  pub fn state(&self) -> napi::Result<NativeState> {
    Ok(NativeState::named(self.handle.state())?)
  }

  /// What the child and its tree use, as the core last read it (never read on this
  /// thread: a process stuck in the kernel cannot hang the caller).
  #[napi(catch_unwind)]
  pub fn usage(&self) -> napi::Result<NativeUsage> {
    let u = self.handle.usage();
    Ok(NativeUsage {
      pid: u.pid,
      uptime: u.uptime_ms.map(|ms| ms as f64),
      restarts: u.restarts,
      cpu: u.cpu,
      rss: u.rss.map(|b| b as f64),
      tree_rss: u.tree_rss.map(|b| b as f64),
      tree_pids: u.tree_pids,
      sampled_at: u.sampled_at,
      state: NativeState::named(u.state)?,
      last_exit_code: u.last_exit.and_then(|(code, _, _)| code),
      last_exit_signal: u
        .last_exit
        .and_then(|(_, signal, _)| signal.map(str::to_string)),
      last_exit_at: u.last_exit.map(|(_, _, at)| at),
    })
  }

  /// Tells the core whether JS listens to `'stdout'` (`stream` 1) or `'stderr'` (2).
  #[napi]
  pub fn set_listening(&self, stream: u32, on: bool) {
    let stream = if stream == 2 {
      Stream::Stderr
    } else {
      Stream::Stdout
    };
    self.handle.taps().set(stream, on);
  }

  /// Sets up the log files for every later child's output. They are created (and
  /// truncated unless `append`) in the background; a file that cannot be opened goes to
  /// `onFailure`, and is retried on later writes.
  #[napi(catch_unwind)]
  pub fn set_logs(
    &self,
    config: NativeLogOptions,
    on_failure: Function<NativeFailure, UnknownReturnValue>,
  ) -> napi::Result<()> {
    let report = reporter(on_failure)?;
    self.handle.set_logs(config.into_core()?, report)?;
    Ok(())
  }

  /// Closes and re-opens the log files (after an external logrotate), in the background;
  /// failures go to `onFailure`.
  #[napi(catch_unwind)]
  pub fn reopen_logs(
    &self,
    on_failure: Function<NativeFailure, UnknownReturnValue>,
  ) -> napi::Result<()> {
    self.handle.reopen_logs(reporter(on_failure)?);
    Ok(())
  }
}

#[cfg(feature = "test-hooks")]
#[napi]
impl NativeMonitor {
  /// Test hook (only in builds with the `test-hooks` feature): makes the supervisor task
  /// panic, to prove a panic never reaches Node.
  #[napi]
  pub fn panic_for_test(&self) {
    self.handle.panic_for_test();
  }

  /// Test hook: from now on (`true`), the core's spawns — restarts, a reload's new child,
  /// not `start()`'s — wait until this is called with `false` (or 10 s have passed).
  /// Returns whether a spawn was waiting: with `false`, this call released it.
  #[napi]
  pub fn hold_spawns_for_test(&self, hold: bool) -> bool {
    self.handle.hold_spawns_for_test(hold)
  }

  /// Test hook: whether a spawn is waiting now.
  #[napi]
  pub fn spawn_held_for_test(&self) -> bool {
    self.handle.spawn_held_for_test()
  }

  /// Test hook: whether the core has carried out every order of the calls made so far
  /// (their signals sent, their spawns made); their consequences come as events.
  #[napi]
  pub fn orders_done_for_test(&self) -> bool {
    self.handle.orders_done_for_test()
  }

  /// Test hook: how many cleanups of a child's leftovers gave up waiting (the leftovers
  /// were still there at the wait's bound) rather than seeing them gone.
  #[napi]
  pub fn cleanups_timed_out_for_test(&self) -> u32 {
    u32::try_from(self.handle.cleanups_timed_out_for_test()).unwrap_or(u32::MAX)
  }

  /// Test hook: how many walks up a sender's parents the current run's notify socket made
  /// to place its senders.
  #[napi]
  pub fn notify_walks_for_test(&self) -> u32 {
    u32::try_from(self.handle.notify_walks_for_test()).unwrap_or(u32::MAX)
  }
}

/// A log file written from JS a line at a time (the CLI's status log), by the same writer
/// as a monitor's and with the same rotation, but on the calling thread: a line is on disk
/// when `write()` returns. Rotated files are compressed and pruned in the background.
#[napi]
pub struct NativeLogFile {
  sink: Arc<LogSink>,
  report: Report,
}

#[napi]
impl NativeLogFile {
  /// A writer for `options.outFile`; failures (once per episode) go to `onFailure`.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    options: NativeLogOptions,
    on_failure: Function<NativeFailure, UnknownReturnValue>,
  ) -> napi::Result<Self> {
    let tsfn: WeakFailureFn = on_failure
      .build_threadsafe_function::<CoreError>()
      .callee_handled::<false>()
      .weak::<true>()
      .build_callback(|ctx| Ok(NativeFailure::from(ctx.value)))?;
    let runtime = crate::runtime::get()?.handle().clone();
    let mut config = options.into_core()?;
    config.err_file = None;
    Ok(NativeLogFile {
      sink: LogSink::new(config, runtime),
      report: Arc::new(move |error| {
        let _ = tsfn.call(error, ThreadsafeFunctionCallMode::NonBlocking);
      }),
    })
  }

  /// Writes `text` (whole lines), rotating the file first when it is due.
  #[napi(catch_unwind)]
  pub fn write(&self, text: String) {
    self.sink.write_now(text.as_bytes(), &self.report);
  }

  /// Closes and re-opens the file (after an external logrotate moved it).
  #[napi(catch_unwind)]
  pub fn reopen(&self) {
    self.sink.reopen_now(&self.report);
  }
}

/// Sends `signal` (a number) to `pid`, and with `tree` to all its descendants, as
/// forever-monitor's `kill()` does with `ps-tree` (but read from `/proc`).
#[napi(catch_unwind)]
pub fn kill_process(pid: u32, signal: i32, tree: bool) -> Option<NativeFailure> {
  failure(
    nix::sys::signal::Signal::try_from(signal)
      .map_err(|_| CoreError::InvalidOption(format!("{signal} is not a signal")))
      .map(|signal| {
        let reach = if tree {
          Reach::Descendants
        } else {
          Reach::Process
        };
        tree::signal_tree(pid, signal, reach);
      }),
  )
}

/// Sends the guardian's warnings (it died and was replaced) to `onWarning`, which emits
/// them with `process.emitWarning`. Held weakly: it never keeps the host alive.
#[napi(catch_unwind)]
pub fn on_warning(on_warning: Function<String, UnknownReturnValue>) -> napi::Result<()> {
  let tsfn: WarningFn = on_warning
    .build_threadsafe_function::<String>()
    .callee_handled::<false>()
    .weak::<true>()
    .build()?;
  guardian::set_warning_handler(Arc::new(move |message: &str| {
    let _ = tsfn.call(message.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
  }));
  Ok(())
}

/// For a host that is exiting: waits until the bytes children wrote for the host's stdout
/// and stderr (`silent: false`) are written there, at most 0.5 s without progress.
#[napi(catch_unwind)]
pub fn drain_host_output() {
  crate::output::drain_host_output(std::time::Duration::from_millis(500));
}

/// The pid of this host's guardian process, or 0 when it is not running (for tests).
#[napi]
pub fn guardian_pid() -> u32 {
  guardian::pid()
}

impl NativeLogOptions {
  /// The writer's settings. `options.js` sends whole numbers in range; a size or a period
  /// below 1 (which would rotate at every line, or divide by zero) is refused.
  fn into_core(self) -> Result<LogConfig, CoreError> {
    let below_one = |name: &str, value: Option<f64>| match value {
      // NaN included: it is not at least 1 either.
      Some(v) if v.is_nan() || v < 1.0 => Err(CoreError::InvalidOption(format!(
        "{name} must be at least 1, not {v}"
      ))),
      _ => Ok(()),
    };
    below_one("logMaxSize", self.max_size)?;
    below_one("logRotate", self.rotate_every)?;
    Ok(LogConfig {
      out_file: self.out_file.map(PathBuf::from),
      err_file: self.err_file.map(PathBuf::from),
      append: self.append,
      timestamps: self.timestamps,
      max_size: self.max_size.map(|bytes| bytes as u64),
      rotate: self.rotate_every.map(|every| Schedule {
        every_ms: every as i64,
        utc: self.rotate_utc,
      }),
      max_files: self.max_files,
      max_age: self.max_age.map(|ms| Duration::from_millis(ms as u64)),
      compress: self.compress,
      direct: self.direct,
    })
  }
}

// ---------------------------------------------------------------------------------------
// The CLI's service manager (systemd's notify protocol) and pid 1's orphans. Self-contained:
// plain arguments, no option types.

/// Tells the service manager at `notifySocket` (the value of `NOTIFY_SOCKET`) the
/// assignments in `fields` (`READY=1`, `STATUS=…`, `RELOADING=1`, `STOPPING=1`), in one
/// datagram; `RELOADING=1` gets its `MONOTONIC_USEC=`. Returns why it could not be sent, or
/// null. Never blocks.
#[napi(catch_unwind)]
pub fn sd_notify(notify_socket: String, fields: Vec<String>) -> Option<String> {
  let message = crate::sd_notify::compose(&fields, crate::sd_notify::monotonic_usec())?;
  crate::sd_notify::send(&notify_socket, &message)
    .err()
    .map(|e| format!("cannot notify systemd at {notify_socket}: {e}"))
}

/// Starts pinging `WATCHDOG=1` to `notifySocket` from a task of the core, at half the
/// interval `watchdogUsec` asks (`WATCHDOG_USEC`), when `watchdogPid` (`WATCHDOG_PID`) is
/// absent or this process's pid. Returns the ping interval in milliseconds, or null when no
/// watchdog is asked of this process. A ping that fails goes to `onWarning` (held weakly),
/// once until one succeeds again.
#[napi(catch_unwind)]
pub fn sd_watchdog(
  notify_socket: String,
  watchdog_usec: Option<String>,
  watchdog_pid: Option<String>,
  on_warning: Function<String, UnknownReturnValue>,
) -> napi::Result<Option<f64>> {
  let Some(every) = crate::sd_notify::watchdog_interval(
    watchdog_usec.as_deref(),
    watchdog_pid.as_deref(),
    std::process::id(),
  ) else {
    return Ok(None);
  };
  let tsfn: WarningFn = on_warning
    .build_threadsafe_function::<String>()
    .callee_handled::<false>()
    .weak::<true>()
    .build()?;
  crate::sd_notify::start_watchdog(
    notify_socket,
    every,
    Arc::new(move |message: String| {
      let _ = tsfn.call(message, ThreadsafeFunctionCallMode::NonBlocking);
    }),
  )?;
  Ok(Some(every.as_secs_f64() * 1000.0))
}

/// Reaps the orphans re-parented to this host, as an init does (it is pid 1 in a
/// container): a core thread looks every second, and right after one of the core's
/// children exits, and reaps the zombies that are not the core's own children. With
/// `subreaper`, the host becomes a child subreaper first, so that its descendants' orphans
/// come to it. Only for a host that spawns no detached `child_process` children of its own
/// (the CLI). Returns why it could not start, or null.
#[napi(catch_unwind)]
pub fn reap_orphans(subreaper: bool) -> Option<String> {
  crate::process::reaper::enable(subreaper)
    .err()
    .map(|e| format!("cannot reap orphans: {e}"))
}

/// `instances` with `listenReusePort`: lets go of the `SO_REUSEPORT` sockets bound under
/// `key` (an instance leaving its group by `scale()`), so that they leave the kernel's group
/// as soon as the child stops listening; returns how many (see `listen::release`).
#[napi(catch_unwind)]
pub fn release_listeners(key: String) -> u32 {
  u32::try_from(crate::listen::release(&key)).unwrap_or(u32::MAX)
}
