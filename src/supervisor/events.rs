//! What the supervisor tells JS.

use std::sync::Arc;

use crate::error::CoreError;
use crate::ipc::Channel;
use crate::output::{Reservation, Stream};
use crate::policy::Next;

/// One event, in the order it happened.
#[derive(Debug)]
pub enum Event {
  /// The core started a child by itself (a restart it decided, or asked for).
  Start {
    /// The child's pid.
    pid: u32,
    /// Start time, milliseconds since the epoch (`Date.now()`).
    ctime: f64,
    /// Report it as a restart.
    restart: bool,
    /// Its IPC channel, to be read on the host's loop from now on.
    channel: Option<Arc<Channel>>,
  },
  /// The child exited; `next` says what the core does next.
  Exit {
    /// Exit code, when it exited by itself.
    code: Option<i32>,
    /// Signal name, when a signal ended it.
    signal: Option<&'static str>,
    /// It lived less than `minUptime`.
    spinning: bool,
    /// Runs so far.
    times: u32,
    /// What happens next.
    next: Next,
    /// The exit was asked for by `stop()`/`kill()`/`restart()`.
    requested: bool,
    /// The tree's resident memory that made the core take it down (`maxMemory`).
    rss: Option<u64>,
    /// The child's IPC channel: whatever it sent before exiting is read, and reported,
    /// before the exit.
    channel: Option<Arc<Channel>>,
  },
  /// `reload()` started a new child beside the running one (its first output comes after
  /// this).
  ReloadStarting {
    /// The running child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
    /// The new child's IPC channel, to be read on the host's loop from now on.
    channel: Option<Arc<Channel>>,
  },
  /// The reload's new child is ready (or its grace period is over): it is the running
  /// child now (a `Start` came just before), and the old one is being stopped.
  ReloadReady {
    /// The old child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
  },
  /// The reload is over: the old child has exited (or crashed before the new one was ready,
  /// which then took its place at once).
  ReloadDone {
    /// The old child.
    old_pid: u32,
    /// The new one.
    new_pid: u32,
    /// The old child's exit code.
    code: Option<i32>,
    /// The signal that ended the old child.
    signal: Option<&'static str>,
    /// Runs so far.
    times: u32,
    /// The old child's IPC channel, read to its end before this is reported.
    channel: Option<Arc<Channel>>,
  },
  /// The reload failed: the old child serves on (unless supervision ended).
  ReloadFailed {
    /// The old child.
    old_pid: u32,
    /// The new one (0 when it could not be spawned).
    new_pid: u32,
    /// `exit`, `readyTimeout`, `spawn`, or why supervision ended (`stopped`, `max`, …).
    reason: &'static str,
    /// The new child's exit code, if it exited.
    code: Option<i32>,
    /// The signal that ended the new child, if one did.
    signal: Option<&'static str>,
    /// The error to report (none when supervision ended: `'exit'` says why).
    error: Option<CoreError>,
    /// The new child's IPC channel, read to its end before this is reported.
    channel: Option<Arc<Channel>>,
  },
  /// The child said it is ready (`waitReady`).
  Ready {
    /// Its pid.
    pid: u32,
  },
  /// Supervision ended without a child exiting: a stop during a sleep before a restart, or
  /// a restart that could not spawn.
  End {
    /// True for a stop (JS emits `'stop'` too).
    stopped: bool,
    /// The run's `'exit'` was reported already (a stop while waiting for a change).
    after_exit: bool,
  },
  /// A runtime failure (spawn error, log file error, internal panic).
  Error(CoreError),
  /// A watched file changed; a restart follows.
  WatchRestart {
    /// The file.
    file: String,
  },
  /// Every watched directory that exists is being watched.
  WatchReady,
  /// Watching failed (a directory missing, inotify exhausted); watching goes on as it can.
  WatchError(CoreError),
  /// Messages from the child wait in its channel, read ahead while the JS thread was busy.
  ChannelWaiting(Arc<Channel>),
  /// Output from the child, for JS listeners.
  Output {
    /// Which stream.
    stream: Stream,
    /// The bytes.
    data: Vec<u8>,
    /// Released once JS has taken the bytes.
    credit: Reservation,
  },
}

/// Receives a supervision run's events; implemented over a threadsafe function at the
/// boundary. Held from the run's start until its last event has been handed on: while
/// held, it keeps the host alive.
pub trait EventSink: Send + Sync + 'static {
  /// Queues `event` for JS. Must not block.
  fn emit(&self, event: Event);
}
