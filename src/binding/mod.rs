//! The napi boundary: the only module that knows about Node-API.
//!
//! `index.js` wraps [`NativeMonitor`] in forever-monitor's `Monitor` class. Options arrive
//! here already validated and normalised by `index.js`, are deserialised into the core's
//! types with serde, and core events go back through one threadsafe function per
//! supervision run. That function is strong (it keeps Node's event loop alive) exactly as
//! long as the core holds it: from `start()` until the monitor stops or gives up.
//! Incoming IPC messages take a shorter way: [`event_loop`] reads the channel on Node's
//! own loop.

mod event_loop;

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Either, Function, JsValue, Object};
use napi::threadsafe_function::{
  ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, Status};
use napi_derive::napi;
use nix::sys::signal::Signal;
use serde::Deserialize;

use crate::error::CoreError;
use crate::logs::LogConfig;
use crate::output::Stream;
use crate::policy::{Limits, Outcome};
use crate::process::{self, Reach, SpawnSpec};
use crate::supervisor::{Event, EventSink, Handle, RunOptions, StartRequest};
use crate::watch::WatchConfig;

/// How core events reach JS: queued without blocking, one JS call per event, the callee
/// receiving the event itself (no error-first argument), and strong while held.
type EventFn = ThreadsafeFunction<Event, UnknownReturnValue, NativeEvent, Status, false>;

impl From<CoreError> for napi::Error {
  fn from(error: CoreError) -> Self {
    napi::Error::new(Status::GenericFailure, error.to_string())
  }
}

/// A failure the JS wrapper turns into an `Error` (thrown or emitted as `'error'`).
#[napi(object)]
pub struct NativeFailure {
  /// `ERR_ALREADY_RUNNING`, `ERR_NOT_RUNNING`, or Node's errno name (`ENOENT`, …).
  pub code: String,
  /// What failed and why.
  pub message: String,
  /// Negative errno, for system errors.
  pub errno: Option<i32>,
  /// The failed system call.
  pub syscall: Option<String>,
  /// The path or command involved.
  pub path: Option<String>,
}

impl From<CoreError> for NativeFailure {
  fn from(error: CoreError) -> Self {
    let code = match &error {
      CoreError::AlreadyRunning => "ERR_ALREADY_RUNNING".to_string(),
      CoreError::NotRunning => "ERR_NOT_RUNNING".to_string(),
      CoreError::InvalidOption(_) => "ERR_INVALID_ARG_VALUE".to_string(),
      CoreError::Panic(_) => "ERR_INTERNAL_PANIC".to_string(),
      CoreError::NoChannel => "ERR_IPC_CHANNEL_CLOSED".to_string(),
      CoreError::ChannelClosed => "ERR_IPC_CHANNEL_CLOSED".to_string(),
      CoreError::IpcBacklog(_) => "ERR_IPC_BACKLOG".to_string(),
      CoreError::BadMessage(_) => "ERR_IPC_BAD_MESSAGE".to_string(),
      other => other
        .code()
        .unwrap_or_else(|| "ERR_FOREVER_NATIVE".to_string()),
    };
    NativeFailure {
      code,
      message: error.to_string(),
      errno: error.errno(),
      syscall: error.syscall().map(str::to_string),
      path: error.path().map(str::to_string),
    }
  }
}

fn failure(result: Result<(), CoreError>) -> Option<NativeFailure> {
  result.err().map(NativeFailure::from)
}

/// One event from the core, as the JS wrapper receives it.
#[napi(object)]
pub struct NativeEvent {
  /// `start`, `exit`, `end`, `error`, `stdout`, `stderr`, `disconnect`, `none` (ignored),
  /// `watch:ready`, `watch:restart` or `watch:error`.
  pub kind: String,
  /// `start`: the new child's pid.
  pub pid: Option<u32>,
  /// `start`: when it started (ms since the epoch).
  pub ctime: Option<f64>,
  /// `start`: reported as a restart.
  pub restart: Option<bool>,
  /// `exit`: the exit code.
  pub code: Option<i32>,
  /// `exit`: the signal's name.
  pub signal: Option<String>,
  /// `exit`: it lived less than `minUptime`.
  pub spinning: Option<bool>,
  /// `exit`: runs so far.
  pub times: Option<u32>,
  /// `exit`: `restart`, `sleep` or `die`.
  pub outcome: Option<String>,
  /// `exit`: asked for by `stop()`/`kill()`/`restart()`; `end`: ended by `stop()`.
  pub stopped: Option<bool>,
  /// `error`: what failed.
  pub error: Option<NativeFailure>,
  /// `stdout`/`stderr`: the bytes.
  pub data: Option<Buffer>,
  /// `watch:restart`: the file that changed.
  pub path: Option<String>,
}

impl NativeEvent {
  fn new(kind: &str) -> Self {
    NativeEvent {
      kind: kind.to_string(),
      pid: None,
      ctime: None,
      restart: None,
      code: None,
      signal: None,
      spinning: None,
      times: None,
      outcome: None,
      stopped: None,
      error: None,
      data: None,
      path: None,
    }
  }
}

impl From<Event> for NativeEvent {
  fn from(event: Event) -> Self {
    match event {
      Event::Started {
        pid,
        ctime,
        restart,
        ..
      } => NativeEvent {
        pid: Some(pid),
        ctime: Some(ctime),
        restart: Some(restart),
        ..NativeEvent::new("start")
      },
      Event::Exited {
        code,
        signal,
        spinning,
        times,
        outcome,
        requested,
        ..
      } => NativeEvent {
        code,
        signal,
        spinning: Some(spinning),
        times: Some(times),
        outcome: Some(
          match outcome {
            Outcome::Restart => "restart",
            Outcome::RestartAfter(_) => "sleep",
            Outcome::GiveUp => "die",
          }
          .to_string(),
        ),
        stopped: Some(requested),
        ..NativeEvent::new("exit")
      },
      Event::Ended { stopped } => NativeEvent {
        stopped: Some(stopped),
        ..NativeEvent::new("end")
      },
      Event::Error(error) => error_event(error),
      // Handled before conversion (see `deliver`): nothing is left for `onEvent`.
      Event::ChannelWaiting(_) => NativeEvent::new("none"),
      Event::WatchRestart { file } => NativeEvent {
        path: Some(file),
        ..NativeEvent::new("watch:restart")
      },
      Event::WatchReady => NativeEvent::new("watch:ready"),
      Event::WatchError(error) => NativeEvent {
        error: Some(NativeFailure::from(error)),
        ..NativeEvent::new("watch:error")
      },
      Event::Output { stream, data, .. } => NativeEvent {
        // The credit is dropped here, once the bytes are on the JS thread.
        data: Some(Buffer::from(data)),
        ..NativeEvent::new(match stream {
          Stream::Stdout => "stdout",
          Stream::Stderr => "stderr",
        })
      },
    }
  }
}

/// An `'error'` event.
fn error_event(error: CoreError) -> NativeEvent {
  NativeEvent {
    error: Some(NativeFailure::from(error)),
    ..NativeEvent::new("error")
  }
}

/// Turns a core event into what JS receives, on the JS thread. A new child's channel
/// starts being read on the loop; an exited child's channel is read to its end first, so
/// its last messages come before its exit; messages read ahead while JS was busy go to
/// `onMessage`.
fn deliver(run: &event_loop::Run, event: Event) -> NativeEvent {
  match &event {
    Event::Started {
      channel: Some(channel),
      ..
    } => run.attach(std::sync::Arc::clone(channel)),
    Event::Exited {
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
    // NonBlocking on an unbounded queue never waits; output is bounded by the core's gate.
    let _ = self.0.call(event, ThreadsafeFunctionCallMode::NonBlocking);
  }
}

/// Restart and kill settings, as `index.js` normalised them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsRunOptions {
  max: Option<u32>,
  #[serde(default)]
  min_uptime: u64,
  spin_sleep_time: Option<u64>,
  kill_signal: i32,
  #[serde(default = "yes")]
  kill_tree: bool,
  #[serde(rename = "killTTL")]
  kill_ttl: Option<u64>,
  #[serde(default)]
  silent: bool,
  watch: Option<JsWatchOptions>,
}

/// Watch options, as `index.js` normalised them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsWatchOptions {
  dirs: Vec<String>,
  ignore_dot_files: bool,
  #[serde(default)]
  patterns: Vec<String>,
  #[serde(default)]
  use_polling: bool,
  polling_interval: u64,
  debounce: u64,
}

/// Log options, as `index.js` normalised them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsLogOptions {
  out_file: Option<String>,
  err_file: Option<String>,
  #[serde(default)]
  append: bool,
  #[serde(default)]
  log_timestamps: bool,
  log_max_size: Option<u64>,
  log_max_files: Option<u32>,
  #[serde(default)]
  log_direct: bool,
}

fn yes() -> bool {
  true
}

impl TryFrom<JsRunOptions> for RunOptions {
  type Error = CoreError;

  fn try_from(js: JsRunOptions) -> Result<Self, CoreError> {
    let kill_signal = Signal::try_from(js.kill_signal).map_err(|_| {
      CoreError::InvalidOption(format!("killSignal {} is not a signal", js.kill_signal))
    })?;
    Ok(RunOptions {
      limits: Limits {
        max: js.max,
        min_uptime_ms: js.min_uptime,
        spin_sleep_ms: js.spin_sleep_time,
      },
      kill_signal,
      kill_tree: js.kill_tree,
      kill_ttl: js.kill_ttl.map(std::time::Duration::from_millis),
      to_host: !js.silent,
      watch: js.watch.map(|w| WatchConfig {
        dirs: w.dirs.into_iter().map(PathBuf::from).collect(),
        ignore_dot_files: w.ignore_dot_files,
        patterns: w.patterns,
        use_polling: w.use_polling,
        polling_interval: std::time::Duration::from_millis(w.polling_interval.max(1)),
        debounce: std::time::Duration::from_millis(w.debounce),
      }),
    })
  }
}

/// What `start()` returns: the child, or why there is none.
#[napi(object)]
pub struct NativeStart {
  /// The child's pid.
  pub pid: Option<u32>,
  /// When it started (ms since the epoch).
  pub ctime: Option<f64>,
  /// Why it did not start.
  pub error: Option<NativeFailure>,
  /// It started, but its IPC channel cannot be read (reported as an `'error'`).
  pub channel_error: Option<NativeFailure>,
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

  /// Spawns a child. `spec` is the command (see `SpawnSpec`), `options` the restart and kill
  /// settings; `onEvent` receives every later event of this supervision run, and
  /// `onMessage` each IPC message (a JSON text, or a V8 payload in `advanced` mode). Throws
  /// only for options the core cannot read.
  #[napi(catch_unwind)]
  pub fn start(
    &self,
    env: Env,
    spec: Object,
    options: Object,
    restart: bool,
    on_event: Function<NativeEvent, UnknownReturnValue>,
    on_message: Function<Either<String, Buffer>, UnknownReturnValue>,
  ) -> napi::Result<NativeStart> {
    let spec: SpawnSpec = env.from_js_value(spec)?;
    let options: JsRunOptions = env.from_js_value(options)?;
    let options = RunOptions::try_from(options)?;
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
      Err(error) => NativeStart {
        pid: None,
        ctime: None,
        error: Some(error.into()),
        channel_error: None,
      },
    })
  }

  /// Kills the child; with `forceStop`, supervision ends when it exits. Returns the
  /// failure (`ERR_NOT_RUNNING` when there is nothing to kill), or null.
  #[napi(catch_unwind)]
  pub fn kill(&self, force_stop: bool) -> Option<NativeFailure> {
    failure(self.handle.kill(force_stop))
  }

  /// Restarts the running child. Returns `ERR_NOT_RUNNING` when idle, or null.
  #[napi(catch_unwind)]
  pub fn restart(&self) -> Option<NativeFailure> {
    failure(self.handle.restart())
  }

  /// Sends a signal (by number) to the child alone. Returns the failure, or null.
  #[napi(catch_unwind)]
  pub fn signal(&self, signal: i32) -> Option<NativeFailure> {
    failure(
      Signal::try_from(signal)
        .map_err(|_| CoreError::InvalidOption(format!("{signal} is not a signal")))
        .and_then(|signal| self.handle.signal(signal)),
    )
  }

  /// Sends one serialised message (JSON text or V8 payload) to the child. Returns the
  /// failure (`ERR_NOT_RUNNING`, `ERR_IPC_CHANNEL_CLOSED`, `ERR_IPC_BACKLOG`), or null.
  #[napi(catch_unwind)]
  pub fn send(&self, payload: Either<String, Buffer>) -> Option<NativeFailure> {
    let bytes = match payload {
      Either::A(text) => text.into_bytes(),
      Either::B(buffer) => buffer.to_vec(),
    };
    failure(self.handle.send(bytes))
  }

  /// Tells the core whether JS listens to `'stdout'` or `'stderr'`.
  #[napi]
  pub fn set_listening(&self, stream: String, on: bool) -> napi::Result<()> {
    let stream = match stream.as_str() {
      "stdout" => Stream::Stdout,
      "stderr" => Stream::Stderr,
      other => {
        return Err(napi::Error::from_reason(format!(
          "unknown stream {other:?}"
        )))
      }
    };
    self.handle.taps.set(stream, on);
    Ok(())
  }

  /// Opens the log files (truncating them unless `append`) for every later child's output.
  /// Returns the files that could not be opened; they are retried on later writes.
  #[napi(catch_unwind)]
  pub fn set_logs(&self, env: Env, config: Object) -> napi::Result<Vec<NativeFailure>> {
    let config: JsLogOptions = env.from_js_value(config)?;
    let errors = self.handle.set_logs(LogConfig {
      out_file: config.out_file.map(PathBuf::from),
      err_file: config.err_file.map(PathBuf::from),
      append: config.append,
      timestamps: config.log_timestamps,
      max_size: config.log_max_size,
      max_files: config.log_max_files.unwrap_or(5),
      direct: config.log_direct,
    });
    Ok(errors.into_iter().map(NativeFailure::from).collect())
  }

  /// Closes and re-opens the log files (after an external logrotate). Returns failures.
  #[napi(catch_unwind)]
  pub fn reopen_logs(&self) -> Vec<NativeFailure> {
    self
      .handle
      .reopen_logs()
      .into_iter()
      .map(NativeFailure::from)
      .collect()
  }

  /// Test hook: makes the supervisor task panic.
  #[napi]
  pub fn panic_for_test(&self) {
    self.handle.panic_for_test();
  }
}

/// Sends `signal` (a number) to `pid`, and with `tree` to all its descendants, as
/// forever-monitor's `kill()` does with `ps-tree` (but read from `/proc`).
#[napi(catch_unwind)]
pub fn kill_process(pid: u32, signal: i32, tree: bool) -> Option<NativeFailure> {
  failure(
    Signal::try_from(signal)
      .map_err(|_| CoreError::InvalidOption(format!("{signal} is not a signal")))
      .map(|signal| {
        let reach = if tree {
          Reach::Descendants
        } else {
          Reach::Process
        };
        process::signal_tree(pid, signal, reach);
      }),
  )
}
