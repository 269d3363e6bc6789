//! The shapes that cross the boundary, as `binding.d.ts` declares them.
//!
//! Inputs arrive checked and complete: `options.js`'s catalogue owns every option's check
//! and default, so nothing here supplies a default or checks a rule again; what cannot be
//! represented in the core's types is refused with an error. They are turned into the
//! core's own types here. Closed sets of words cross as string enums, so that
//! `binding.d.ts` names each word; events leave as one discriminated union, named as in the
//! core.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;

use crate::error::CoreError;
use crate::health::{HealthConfig, IpcSignals};
use crate::ipc::Serialization;
use crate::listen::{Address, Bound, ListenSpec, Share};
use crate::output::Stream;
use crate::policy::{
  AutoRestart, Backoff, Cause, End, ExitCodes, KillRules, Limits, Next, Why, Window,
};
use crate::process::{ChannelSlot, SpawnSpec, StdioSpec};
use crate::supervisor::{Event, RunOptions};
use crate::watch::WatchConfig;

/// How the child's IPC channel encodes messages (Node's `serialization`).
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeSerialization {
  /// JSON text, one message a line.
  Json,
  /// V8's serializer, as Node's `serialization: 'advanced'`.
  Advanced,
}

/// What one of the child's standard streams is connected to, when it is not a descriptor
/// of the host's.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeStdio {
  /// A pipe to the core.
  Pipe,
  /// The host's own stream.
  Inherit,
  /// `/dev/null`.
  Ignore,
}

/// Which exits are restarted (`autorestart`).
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeAutorestart {
  /// Every exit (forever-monitor's).
  Always,
  /// Every exit but code 0.
  OnFailure,
  /// None: one run.
  Never,
}

/// The supervision's state, as `usage()` and `state()` name it.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeState {
  /// No supervision.
  Idle,
  /// A child runs and is not ready yet (`waitReady`).
  Starting,
  /// A child runs.
  Running,
  /// A kill is under way.
  Stopping,
  /// Waiting to restart.
  Sleeping,
  /// Given up, waiting for a file change (`watch`).
  Waiting,
}

/// Why a child restarts, why supervision ended, or why a reload failed.
#[napi(string_enum = "camelCase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeReason {
  /// Restarted because `restart()` (or a file change) asked for it.
  Restart,
  /// The child exited (a restart), or a reload's new child exited.
  Exit,
  /// The child lived less than `minUptime`.
  Spinning,
  /// The child was not ready in time (`readyTimeout`).
  ReadyTimeout,
  /// The child stopped pinging (`watchdog`).
  Watchdog,
  /// The child's tree used too much memory (`maxMemory`).
  Memory,
  /// Ended by `stop()`.
  Stopped,
  /// Ended after `max` runs.
  Max,
  /// Ended by `restartWindow`.
  Window,
  /// Ended by one of `stopExitCodes`.
  ExitCode,
  /// Ended with `autorestart: 'never'` (or `'on-failure'` after code 0).
  Never,
  /// A reload's new child could not be spawned.
  Spawn,
}

/// The address family of a listening socket.
#[napi(string_enum)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeFamily {
  /// TCP over IPv4.
  IPv4,
  /// TCP over IPv6.
  IPv6,
  /// A Unix socket.
  #[napi(value = "unix")]
  Unix,
}

/// The command to run, as `index.js` built it (forever-monitor's `trySpawn`).
#[napi(object)]
pub struct NativeSpawnSpec {
  /// The program, looked up in the child's `PATH` when it has no slash.
  pub command: String,
  /// Arguments after the program.
  pub args: Vec<String>,
  /// `argv[0]` as the child sees it, when it should differ from `command`.
  pub argv0: Option<String>,
  /// The child's working directory.
  pub cwd: String,
  /// The child's whole environment.
  pub env: HashMap<String, String>,
  /// Unix user id to run as.
  pub uid: Option<u32>,
  /// Unix group id to run as.
  pub gid: Option<u32>,
  /// Start the child in its own session and let it outlive the host.
  pub detached: bool,
  /// stdin, stdout and stderr: a word, or a descriptor of the host's.
  pub stdio: Vec<Either<NativeStdio, i32>>,
  /// Node's IPC channel, if the child gets one.
  pub channel: Option<NativeChannel>,
}

/// Node's IPC channel for the child.
#[napi(object)]
pub struct NativeChannel {
  /// The child's descriptor number for it.
  pub fd: i32,
  /// How messages are encoded.
  pub serialization: NativeSerialization,
}

/// Restart, kill, health, watch and socket settings, complete (`options.js`'s
/// `runOptions()`): an absent field is an option that is off, never one left to a default.
#[napi(object)]
pub struct NativeRunOptions {
  /// Runs in all before giving up; absent for no limit.
  pub max: Option<u32>,
  /// A child that lived less than this (ms) is spinning.
  pub min_uptime: f64,
  /// Wait this long (ms) before restarting a spinning child; absent to let it die.
  pub spin_sleep_time: Option<f64>,
  /// The signal (a number) that stops and restarts the child.
  pub kill_signal: i32,
  /// Signal the whole process tree.
  pub kill_tree: bool,
  /// SIGKILL the tree when the child outlives a kill by this long (ms); absent for never.
  #[napi(js_name = "killTTL")]
  pub kill_ttl: Option<f64>,
  /// Copy the child's output to the host's stdout/stderr.
  pub to_host: bool,
  /// Restart on file changes.
  pub watch: Option<NativeWatchOptions>,
  /// A pause (ms) before every automatic restart.
  pub restart_delay: Option<f64>,
  /// Growing delays for restarts in a row.
  pub backoff: Option<NativeBackoff>,
  /// Which exits are restarted.
  pub autorestart: NativeAutorestart,
  /// Exit codes that end supervision (none: empty).
  pub stop_exit_codes: Vec<i32>,
  /// A restart budget over a sliding window.
  pub restart_window: Option<NativeRestartWindow>,
  /// Health: readiness, watchdog, memory limit and shutdown message.
  pub health: Option<NativeHealthOptions>,
  /// Without `waitReady`: how long (ms) a reload's new child runs beside the old one before
  /// it takes over.
  pub reload_grace: f64,
  /// Addresses the core listens on, for every child of the run (fds 3, 4, …; none: empty).
  pub listen: Vec<NativeListen>,
  /// The backlog of each listening socket.
  pub listen_backlog: u32,
  /// The mode of each Unix socket's file; absent: the umask's.
  pub listen_mode: Option<u32>,
}

/// One address to listen on, checked by `options.js`: `host` and `port` (no host: every
/// interface), a Unix socket `path`, or an inherited listening socket's `fd`.
#[napi(object)]
pub struct NativeListen {
  /// The descriptor's name (`LISTEN_FDNAMES`).
  pub name: String,
  /// An IPv4 or IPv6 address (without brackets).
  pub host: Option<String>,
  /// The TCP port (0: one the system picks).
  pub port: Option<u32>,
  /// A Unix socket's absolute path.
  pub path: Option<String>,
  /// A listening socket this process inherited (socket activation): its descriptor.
  pub fd: Option<u32>,
  /// `instances`: the group's key, under which every instance holds one socket for this
  /// address (bound by the first to start, closed with the last).
  pub group: Option<String>,
  /// `instances` with `listenReusePort`: a TCP socket of this instance's own with
  /// `SO_REUSEPORT`, beside the other instances' on the same address (`group` is then the
  /// instance's key, for `releaseListeners`).
  pub reuse_port: Option<bool>,
}

/// A socket the core listens on, as bound.
#[napi(object)]
pub struct NativeListening {
  /// Its name.
  pub name: String,
  /// The descriptor number children get it at.
  pub fd: u32,
  /// Its address family.
  pub family: NativeFamily,
  /// The IP address (TCP).
  pub address: Option<String>,
  /// The port (TCP).
  pub port: Option<u32>,
  /// The socket's path (Unix).
  pub path: Option<String>,
}

/// Health settings, complete.
#[napi(object)]
pub struct NativeHealthOptions {
  /// A child is up only once it says so.
  pub wait_ready: bool,
  /// Take down a child not ready this long (ms) after its spawn.
  pub ready_timeout: Option<f64>,
  /// A ready child must ping at least this often (ms).
  pub watchdog: Option<f64>,
  /// The most resident memory (bytes) the child's tree may use.
  pub max_memory: Option<f64>,
  /// How often (ms) the tree's memory is read.
  pub memory_check_interval: f64,
  /// Sent over IPC before the kill signal, serialised as the channel encodes.
  pub shutdown_message: Option<Buffer>,
  /// How long (ms) a kill waits after the shutdown message before the signal.
  pub shutdown_timeout: f64,
  /// `process.send('ready')`, serialised as the channel encodes.
  pub ipc_ready: Option<Buffer>,
  /// `process.send('heartbeat')`, serialised as the channel encodes.
  pub ipc_heartbeat: Option<Buffer>,
}

/// What `usage()` gives.
#[napi(object)]
pub struct NativeUsage {
  /// The child's pid, if one runs.
  pub pid: Option<u32>,
  /// How long it has run (ms).
  pub uptime: Option<f64>,
  /// Runs so far.
  pub restarts: u32,
  /// CPU use of its tree over the last second, in percent of one core.
  pub cpu: Option<f64>,
  /// Resident memory of the child (bytes).
  pub rss: Option<f64>,
  /// Resident memory of its tree (bytes).
  pub tree_rss: Option<f64>,
  /// Processes in its tree.
  pub tree_pids: Option<u32>,
  /// When the figures were read (ms since the epoch).
  pub sampled_at: Option<f64>,
  /// The supervision's state.
  pub state: NativeState,
  /// The last exit's code, if it had one.
  pub last_exit_code: Option<i32>,
  /// The last exit's signal, if one ended it.
  pub last_exit_signal: Option<String>,
  /// When the last exit happened (ms since the epoch).
  pub last_exit_at: Option<f64>,
}

/// Backoff settings, complete.
#[napi(object)]
pub struct NativeBackoff {
  /// The first delay (ms).
  pub initial: f64,
  /// Growth per restart in a row.
  pub factor: f64,
  /// The longest delay (ms).
  pub max: f64,
  /// The fraction (0 to 1) of a delay taken off at random.
  pub jitter: f64,
  /// Uptime (ms) after which restarts in a row count from 1 again.
  pub reset_after: f64,
}

/// A restart budget.
#[napi(object)]
pub struct NativeRestartWindow {
  /// Restarts allowed within the window.
  pub count: u32,
  /// The window (ms).
  pub window: f64,
}

/// Watch settings, complete.
#[napi(object)]
pub struct NativeWatchOptions {
  /// Directories watched recursively (absolute).
  pub dirs: Vec<String>,
  /// Ignore files whose name starts with a dot.
  pub ignore_dot_files: bool,
  /// minimatch-style ignore patterns.
  pub patterns: Vec<String>,
  /// Poll instead of using inotify.
  pub use_polling: bool,
  /// Time between polls (ms).
  pub polling_interval: f64,
  /// Quiet time that ends a burst of changes (ms).
  pub debounce: f64,
}

/// Log file settings, complete.
#[napi(object)]
pub struct NativeLogOptions {
  /// The child's stdout goes here.
  pub out_file: Option<String>,
  /// The child's stderr goes here (the same path as `outFile` merges them).
  pub err_file: Option<String>,
  /// Keep what the files hold instead of truncating them.
  pub append: bool,
  /// Prefix every line with an ISO-8601 UTC time.
  pub timestamps: bool,
  /// Rotate a file before it would grow past this many bytes.
  pub max_size: Option<f64>,
  /// Rotated files to keep.
  pub max_files: u32,
  /// Rotate by time: the length of a period in ms (86,400,000 for `'daily'`).
  pub rotate_every: Option<f64>,
  /// Count periods on the UTC clock rather than the local one.
  pub rotate_utc: bool,
  /// Gzip rotated files.
  pub compress: bool,
  /// Remove rotated files last written more than this many ms ago.
  pub max_age: Option<f64>,
  /// The child writes the files itself.
  pub direct: bool,
}

/// A failure the JS wrapper turns into an `Error` (thrown or emitted as `'error'`).
#[napi(object)]
pub struct NativeFailure {
  /// `ERR_ALREADY_RUNNING`, `ERR_NOT_RUNNING`, … or Node's errno name (`ENOENT`, …).
  pub code: String,
  /// What failed and why.
  pub message: String,
  /// Negative errno, for system errors.
  pub errno: Option<i32>,
  /// The failed system call.
  pub syscall: Option<String>,
  /// The path or command involved.
  pub path: Option<String>,
  /// The address a `listen` failure is about (a socket path for Unix sockets).
  pub address: Option<String>,
  /// Its port, for TCP.
  pub port: Option<u32>,
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

/// One event from the core, as the JS wrapper receives it; `type` names the core's
/// `Event` variant.
#[napi(discriminant = "type", discriminant_case = "camelCase")]
pub enum NativeEvent {
  /// The core started a child by itself.
  Start {
    /// The child's pid.
    pid: u32,
    /// When it started (ms since the epoch).
    ctime: f64,
    /// Reported as a restart.
    restart: bool,
  },
  /// The child exited.
  Exit {
    /// Its exit code.
    code: Option<i32>,
    /// The signal that ended it.
    signal: Option<String>,
    /// It lived less than `minUptime`.
    spinning: bool,
    /// Runs so far.
    times: u32,
    /// Milliseconds until the next child; absent when supervision ends.
    restart_in: Option<f64>,
    /// Asked for by `stop()`/`kill()`/`restart()`.
    requested: bool,
    /// Why the child restarts (`exit`, `spinning`, `restart`, `readyTimeout`, `watchdog`,
    /// `memory`) or why supervision ended (`stopped`, `max`, `spinning`, `window`,
    /// `exitCode`, `never`).
    reason: NativeReason,
    /// Automatic restarts in a row, this one included (0 when it does not restart on its own).
    attempt: u32,
    /// The tree's resident memory (bytes) that made the core take it down.
    rss: Option<f64>,
  },
  /// The child said it is ready.
  Ready {
    /// Its pid.
    pid: u32,
  },
  /// `reload()` started a new child beside the running one.
  ReloadStarting {
    /// The running child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
  },
  /// The reload's new child took over; the old one is being stopped.
  ReloadReady {
    /// The old child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
  },
  /// The reload is over: the old child has exited.
  ReloadDone {
    /// The old child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
    /// The old child's exit code.
    code: Option<i32>,
    /// The signal that ended the old child.
    signal: Option<String>,
    /// Runs so far.
    times: u32,
  },
  /// The reload failed; the old child serves on (unless supervision ended).
  ReloadFailed {
    /// The old child.
    old_pid: u32,
    /// The new one, if it was spawned.
    new_pid: Option<u32>,
    /// `'exit'`, `'readyTimeout'`, `'spawn'`, or why supervision ended (`'stopped'`, `'max'`, …).
    reason: NativeReason,
    /// The new child's exit code.
    code: Option<i32>,
    /// The signal that ended the new child.
    signal: Option<String>,
    /// The error to report; absent when supervision ended.
    error: Option<NativeFailure>,
  },
  /// Supervision ended without a child exiting.
  End {
    /// Ended by `stop()`.
    stopped: bool,
    /// `'exit'` was reported already: the monitor was waiting for a file change.
    after_exit: bool,
  },
  /// A runtime failure.
  Error {
    /// What failed.
    error: NativeFailure,
  },
  /// Output on the child's stdout.
  Stdout {
    /// The bytes.
    data: Buffer,
  },
  /// Output on the child's stderr.
  Stderr {
    /// The bytes.
    data: Buffer,
  },
  /// The child closed its IPC channel.
  Disconnect,
  /// Messages read ahead were handed to `onMessage`; nothing else to do.
  MessagesRead,
  /// Watching has begun.
  WatchReady,
  /// A watched file changed.
  WatchRestart {
    /// The file.
    file: String,
  },
  /// Watching failed.
  WatchError {
    /// What failed.
    error: NativeFailure,
  },
}

impl From<NativeSerialization> for Serialization {
  fn from(mode: NativeSerialization) -> Self {
    match mode {
      NativeSerialization::Json => Serialization::Json,
      NativeSerialization::Advanced => Serialization::Advanced,
    }
  }
}

impl From<NativeStdio> for StdioSpec {
  fn from(word: NativeStdio) -> Self {
    match word {
      NativeStdio::Pipe => StdioSpec::Pipe,
      NativeStdio::Inherit => StdioSpec::Inherit,
      NativeStdio::Ignore => StdioSpec::Ignore,
    }
  }
}

impl From<NativeAutorestart> for AutoRestart {
  fn from(when: NativeAutorestart) -> Self {
    match when {
      NativeAutorestart::Always => AutoRestart::Always,
      NativeAutorestart::OnFailure => AutoRestart::OnFailure,
      NativeAutorestart::Never => AutoRestart::Never,
    }
  }
}

impl From<Why> for NativeReason {
  fn from(why: Why) -> Self {
    match why {
      Why::Requested => NativeReason::Restart,
      Why::Exit => NativeReason::Exit,
      Why::Spinning => NativeReason::Spinning,
      Why::Health(Cause::NotReady) => NativeReason::ReadyTimeout,
      Why::Health(Cause::Watchdog) => NativeReason::Watchdog,
      Why::Health(Cause::Memory) => NativeReason::Memory,
    }
  }
}

impl From<End> for NativeReason {
  fn from(end: End) -> Self {
    match end {
      End::Stopped => NativeReason::Stopped,
      End::Max => NativeReason::Max,
      End::Spinning => NativeReason::Spinning,
      End::Window => NativeReason::Window,
      End::ExitCode => NativeReason::ExitCode,
      End::Never => NativeReason::Never,
    }
  }
}

impl NativeReason {
  /// The reason the core names `name` (a reload's failure, which the core reports by name).
  pub(super) fn named(name: &str) -> Option<NativeReason> {
    Some(match name {
      "restart" => NativeReason::Restart,
      "exit" => NativeReason::Exit,
      "spinning" => NativeReason::Spinning,
      "readyTimeout" => NativeReason::ReadyTimeout,
      "watchdog" => NativeReason::Watchdog,
      "memory" => NativeReason::Memory,
      "stopped" => NativeReason::Stopped,
      "max" => NativeReason::Max,
      "window" => NativeReason::Window,
      "exitCode" => NativeReason::ExitCode,
      "never" => NativeReason::Never,
      "spawn" => NativeReason::Spawn,
      _ => return None,
    })
  }
}

impl NativeState {
  /// The state the core names `name`.
  pub(super) fn named(name: &str) -> Result<NativeState, CoreError> {
    Ok(match name {
      "idle" => NativeState::Idle,
      "starting" => NativeState::Starting,
      "running" => NativeState::Running,
      "stopping" => NativeState::Stopping,
      "sleeping" => NativeState::Sleeping,
      "waiting" => NativeState::Waiting,
      other => {
        return Err(CoreError::InvalidOption(format!(
          "the core's state {other:?} has no name in NativeState"
        )))
      }
    })
  }
}

impl From<CoreError> for NativeFailure {
  fn from(error: CoreError) -> Self {
    let code = match &error {
      CoreError::AlreadyRunning => "ERR_ALREADY_RUNNING".to_string(),
      CoreError::NotRunning | CoreError::ChildNotRunning(_) => "ERR_NOT_RUNNING".to_string(),
      CoreError::StdinNotPipe { .. } => "ERR_STDIN_NOT_PIPE".to_string(),
      CoreError::InvalidOption(_) => "ERR_INVALID_ARG_VALUE".to_string(),
      CoreError::Panic(_) => "ERR_INTERNAL_PANIC".to_string(),
      CoreError::NoChannel => "ERR_IPC_NO_CHANNEL".to_string(),
      CoreError::ChannelClosed => "ERR_IPC_CHANNEL_CLOSED".to_string(),
      CoreError::IpcBacklog(_) => "ERR_IPC_BACKLOG".to_string(),
      CoreError::BadMessage(_) => "ERR_IPC_BAD_MESSAGE".to_string(),
      CoreError::MessageTooLarge(_) => "ERR_IPC_MESSAGE_TOO_LARGE".to_string(),
      CoreError::ReloadUnderWay => "ERR_RELOAD_IN_PROGRESS".to_string(),
      CoreError::Stopping => "ERR_RELOAD_WHILE_STOPPING".to_string(),
      CoreError::ReloadFailed { .. } => "ERR_RELOAD_FAILED".to_string(),
      other => other
        .code()
        .unwrap_or_else(|| "ERR_FOREVER_NATIVE".to_string()),
    };
    let address = error.address();
    NativeFailure {
      code,
      message: error.to_string(),
      errno: error.errno(),
      syscall: error.syscall().map(str::to_string),
      path: error.path().map(str::to_string),
      address: address.map(|(a, _)| a.to_string()),
      port: address.and_then(|(_, port)| port).map(u32::from),
    }
  }
}

impl NativeStart {
  pub(super) fn failed(error: CoreError) -> NativeStart {
    NativeStart {
      pid: None,
      ctime: None,
      error: Some(error.into()),
      channel_error: None,
    }
  }
}

impl From<Event> for NativeEvent {
  fn from(event: Event) -> Self {
    match event {
      Event::Start {
        pid,
        ctime,
        restart,
        ..
      } => NativeEvent::Start {
        pid,
        ctime,
        restart,
      },
      Event::Exit {
        code,
        signal,
        spinning,
        times,
        next,
        requested,
        rss,
        ..
      } => NativeEvent::Exit {
        code,
        signal: signal.map(str::to_string),
        spinning,
        times,
        restart_in: match next {
          Next::Restart { delay_ms, .. } => Some(delay_ms as f64),
          Next::GiveUp(_) => None,
        },
        requested,
        reason: match next {
          Next::Restart { why, .. } => why.into(),
          Next::GiveUp(end) => end.into(),
        },
        attempt: match next {
          Next::Restart { attempt, .. } => attempt,
          Next::GiveUp(_) => 0,
        },
        rss: rss.map(|b| b as f64),
      },
      Event::Ready { pid } => NativeEvent::Ready { pid },
      Event::ReloadStarting {
        old_pid, new_pid, ..
      } => NativeEvent::ReloadStarting { old_pid, new_pid },
      Event::ReloadReady { old_pid, new_pid } => NativeEvent::ReloadReady { old_pid, new_pid },
      Event::ReloadDone {
        old_pid,
        new_pid,
        code,
        signal,
        times,
        ..
      } => NativeEvent::ReloadDone {
        old_pid,
        new_pid,
        code,
        signal: signal.map(str::to_string),
        times,
      },
      Event::ReloadFailed {
        old_pid,
        new_pid,
        reason,
        code,
        signal,
        error,
        ..
      } => match NativeReason::named(reason) {
        Some(reason) => NativeEvent::ReloadFailed {
          old_pid,
          new_pid: (new_pid != 0).then_some(new_pid),
          reason,
          code,
          signal: signal.map(str::to_string),
          error: error.map(NativeFailure::from),
        },
        // A name the enum lacks is the core's mistake: said loudly, as an 'error'.
        None => NativeEvent::Error {
          error: CoreError::InvalidOption(format!(
            "a reload failed for a reason with no name in NativeReason: {reason:?}"
          ))
          .into(),
        },
      },
      Event::End {
        stopped,
        after_exit,
      } => NativeEvent::End {
        stopped,
        after_exit,
      },
      Event::Error(error) => NativeEvent::Error {
        error: error.into(),
      },
      Event::ChannelWaiting(_) => NativeEvent::MessagesRead,
      Event::WatchRestart { file } => NativeEvent::WatchRestart { file },
      Event::WatchReady => NativeEvent::WatchReady,
      Event::WatchError(error) => NativeEvent::WatchError {
        error: error.into(),
      },
      // The credit is dropped here, once the bytes are on the JS thread.
      Event::Output { stream, data, .. } => match stream {
        Stream::Stdout => NativeEvent::Stdout {
          data: Buffer::from(data),
        },
        Stream::Stderr => NativeEvent::Stderr {
          data: Buffer::from(data),
        },
      },
    }
  }
}

/// Milliseconds from JS (whole, finite and >= 0: `options.js` sends them so) as the core's
/// integer; what no check lets through (NaN, a negative) reads as 0.
fn millis(value: f64) -> u64 {
  if value.is_finite() && value > 0.0 {
    value.round().min(u64::MAX as f64) as u64
  } else {
    0
  }
}

/// A period the core waits between two checks. `options.js` sends at least 1 ms; 0 would
/// make the core spin, so it is refused.
fn period(name: &str, ms: f64) -> Result<Duration, CoreError> {
  match millis(ms) {
    0 => Err(CoreError::InvalidOption(format!(
      "{name} must be at least 1 ms, not {ms}"
    ))),
    whole => Ok(Duration::from_millis(whole)),
  }
}

impl NativeSpawnSpec {
  /// The core's spec, and how the IPC channel (if any) encodes messages.
  pub(super) fn into_core(self) -> Result<(SpawnSpec, Serialization), CoreError> {
    if self.stdio.len() != 3 {
      return Err(CoreError::InvalidOption(format!(
        "stdio must have 3 entries, not {}",
        self.stdio.len()
      )));
    }
    let mut stdio = [StdioSpec::Pipe; 3];
    for (slot, entry) in stdio.iter_mut().zip(self.stdio) {
      *slot = match entry {
        Either::A(word) => word.into(),
        Either::B(fd) if fd >= 0 => StdioSpec::Fd(fd),
        Either::B(fd) => {
          return Err(CoreError::InvalidOption(format!(
            "stdio entry {fd} is not a file descriptor"
          )))
        }
      };
    }
    let mode = self
      .channel
      .as_ref()
      .map_or(Serialization::Json, |channel| channel.serialization.into());
    let channel = self.channel.map(|channel| ChannelSlot {
      fd: channel.fd,
      mode: mode.env_value(),
    });
    let spec = SpawnSpec {
      command: self.command,
      args: self.args,
      argv0: self.argv0,
      cwd: Some(self.cwd),
      env: crate::process::shared_env(self.env),
      uid: self.uid,
      gid: self.gid,
      detached: self.detached,
      stdio,
      channel,
      prepared: Default::default(),
    };
    Ok((spec, mode))
  }
}

impl NativeRunOptions {
  /// The core's options, for a child whose channel encodes messages as `serialization`.
  pub(super) fn into_core(self, serialization: Serialization) -> Result<RunOptions, CoreError> {
    if nix::sys::signal::Signal::try_from(self.kill_signal).is_err() {
      return Err(CoreError::InvalidOption(format!(
        "killSignal {} is not a signal",
        self.kill_signal
      )));
    }
    let health = match &self.health {
      Some(h) => HealthConfig {
        wait_ready: h.wait_ready,
        ready_timeout: h.ready_timeout.map(|ms| Duration::from_millis(millis(ms))),
        watchdog: h.watchdog.map(|ms| period("watchdog", ms)).transpose()?,
        max_memory: h.max_memory.map(millis),
        memory_interval: period("memoryCheckInterval", h.memory_check_interval)?,
        shutdown_message: h.shutdown_message.as_ref().map(|b| b.to_vec()),
        ipc: IpcSignals {
          ready: h.ipc_ready.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
          alive: h
            .ipc_heartbeat
            .as_ref()
            .map(|b| b.to_vec())
            .unwrap_or_default(),
        },
      },
      None => HealthConfig::default(),
    };
    Ok(RunOptions {
      limits: Limits {
        max: self.max,
        min_uptime_ms: millis(self.min_uptime),
        spin_sleep_ms: self.spin_sleep_time.map(millis),
        kill: KillRules {
          signal: self.kill_signal,
          tree: self.kill_tree,
          ttl_ms: self.kill_ttl.map(millis),
        },
        watch: self.watch.is_some(),
        restart_delay_ms: self.restart_delay.map_or(0, millis),
        backoff: self.backoff.map(|b| Backoff {
          initial_ms: millis(b.initial),
          factor: b.factor,
          max_ms: millis(b.max),
          jitter: b.jitter,
          reset_after_ms: millis(b.reset_after),
        }),
        autorestart: self.autorestart.into(),
        stop_exit_codes: ExitCodes::of(self.stop_exit_codes),
        window: self.restart_window.map(|w| Window {
          count: w.count,
          window_ms: millis(w.window),
        }),
        wait_ready: health.wait_ready,
        shutdown_grace_ms: self
          .health
          .as_ref()
          .filter(|h| h.shutdown_message.is_some())
          .map(|h| millis(h.shutdown_timeout)),
        ready_timeout_ms: health
          .ready_timeout
          .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        reload_grace_ms: millis(self.reload_grace),
      },
      listen: self
        .listen
        .into_iter()
        .map(|listen| listen.into_core(self.listen_mode))
        .collect::<Result<_, _>>()?,
      backlog: i32::try_from(self.listen_backlog).map_err(|_| {
        CoreError::InvalidOption(format!(
          "listenBacklog {} is too large",
          self.listen_backlog
        ))
      })?,
      health,
      to_host: self.to_host,
      watch: self
        .watch
        .map(|w| {
          Ok::<_, CoreError>(WatchConfig {
            polling_interval: period("pollingInterval", w.polling_interval)?,
            dirs: w.dirs.into_iter().map(PathBuf::from).collect(),
            ignore_dot_files: w.ignore_dot_files,
            patterns: w.patterns,
            use_polling: w.use_polling,
            debounce: Duration::from_millis(millis(w.debounce)),
          })
        })
        .transpose()?,
      serialization,
    })
  }
}

impl NativeListen {
  fn into_core(self, mode: Option<u32>) -> Result<ListenSpec, CoreError> {
    let bad = |what: &str| CoreError::InvalidOption(format!("listen {:?}: {what}", self.name));
    let address = match (&self.host, self.port, &self.path) {
      _ if self.fd.is_some() => Address::Inherited(
        self
          .fd
          .and_then(|fd| i32::try_from(fd).ok())
          .ok_or_else(|| bad("fd out of range"))?,
      ),
      (_, _, Some(path)) => Address::Unix(PathBuf::from(path)),
      (Some(host), Some(port), None) => {
        let ip: std::net::IpAddr = host.parse().map_err(|_| bad("not an IP address"))?;
        let port = u16::try_from(port).map_err(|_| bad("port out of range"))?;
        Address::Tcp(std::net::SocketAddr::new(ip, port))
      }
      (None, Some(port), None) => {
        Address::Port(u16::try_from(port).map_err(|_| bad("port out of range"))?)
      }
      _ => return Err(bad("neither a port nor a path")),
    };
    let share = match (self.group, self.reuse_port) {
      (key, Some(true)) => Share::ReusePort(key.unwrap_or_default()),
      (Some(key), _) => Share::Group(key),
      _ => Share::Own,
    };
    Ok(ListenSpec {
      address,
      name: self.name,
      mode,
      share,
    })
  }
}

impl NativeListening {
  /// The socket at position `index` (the child's fd 3 + index).
  pub(super) fn of(index: usize, name: String, bound: Bound) -> NativeListening {
    let fd = u32::try_from(crate::process::activation::FIRST_FD).unwrap_or(3) + index as u32;
    match bound {
      Bound::Tcp(addr) => NativeListening {
        name,
        fd,
        family: if addr.is_ipv4() {
          NativeFamily::IPv4
        } else {
          NativeFamily::IPv6
        },
        address: Some(addr.ip().to_string()),
        port: Some(u32::from(addr.port())),
        path: None,
      },
      Bound::Unix(path) => NativeListening {
        name,
        fd,
        family: NativeFamily::Unix,
        address: None,
        port: None,
        path: Some(path.display().to_string()),
      },
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn reasons_the_core_names_are_the_reasons_it_reports() {
    // A reload's failure comes by name, the other reasons by value: the two agree.
    let ends = [
      End::Stopped,
      End::Max,
      End::Spinning,
      End::Window,
      End::ExitCode,
      End::Never,
    ];
    for end in ends {
      assert_eq!(
        NativeReason::named(end.name()),
        Some(NativeReason::from(end))
      );
    }
    let whys = [
      Why::Requested,
      Why::Exit,
      Why::Spinning,
      Why::Health(Cause::NotReady),
      Why::Health(Cause::Watchdog),
      Why::Health(Cause::Memory),
    ];
    for why in whys {
      assert_eq!(
        NativeReason::named(why.name()),
        Some(NativeReason::from(why))
      );
    }
    assert_eq!(NativeReason::named("spawn"), Some(NativeReason::Spawn));
    assert_eq!(NativeReason::named("nonsense"), None);
  }

  #[test]
  fn states_are_named_and_an_unknown_one_is_refused() {
    for (name, state) in [
      ("idle", NativeState::Idle),
      ("starting", NativeState::Starting),
      ("running", NativeState::Running),
      ("stopping", NativeState::Stopping),
      ("sleeping", NativeState::Sleeping),
      ("waiting", NativeState::Waiting),
    ] {
      assert_eq!(NativeState::named(name).ok(), Some(state));
    }
    assert!(NativeState::named("dozing").is_err());
  }

  // (The shapes that hold a Buffer cannot be made here: a test binary has no Node to link
  // against. Their conversions are tested through index.js.)
  #[test]
  fn a_period_of_less_than_a_millisecond_is_refused_not_mended() {
    assert!(period("watchdog", 0.2).is_err());
    assert!(period("watchdog", f64::NAN).is_err());
    assert_eq!(period("watchdog", 1.0).unwrap(), Duration::from_millis(1));
    assert_eq!(
      AutoRestart::from(NativeAutorestart::OnFailure),
      AutoRestart::OnFailure
    );
    assert_eq!(
      Serialization::from(NativeSerialization::Advanced),
      Serialization::Advanced
    );
  }

  #[test]
  fn stdin_refusals_and_failures_carry_their_codes() {
    let gone = NativeFailure::from(CoreError::ChildNotRunning(42));
    assert_eq!(gone.code, "ERR_NOT_RUNNING");
    assert!(gone.message.contains("process 42"), "{}", gone.message);
    let not_pipe = NativeFailure::from(CoreError::StdinNotPipe {
      pid: 42,
      stdin: "'ignore' (/dev/null)".to_string(),
    });
    assert_eq!(not_pipe.code, "ERR_STDIN_NOT_PIPE");
    assert!(
      not_pipe.message.contains("'ignore'"),
      "{}",
      not_pipe.message
    );
    let broken = NativeFailure::from(CoreError::sys(
      "write",
      None,
      std::io::Error::from_raw_os_error(libc::EPIPE),
    ));
    assert_eq!(broken.code, "EPIPE");
    assert_eq!(broken.syscall.as_deref(), Some("write"));
    assert_eq!(broken.errno, Some(-libc::EPIPE));
  }
}
