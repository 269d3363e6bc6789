//! The core's one error type. The napi boundary turns it into a JS `Error` (or an
//! `'error'` event) whose message names what failed and why, with Node-style `code`,
//! `syscall` and `path` fields where the cause is a system call.

use std::fmt;
use std::io;

/// Everything that can go wrong inside the core.
#[derive(Debug)]
pub enum CoreError {
  /// `start()` while a child runs (forever-monitor's message).
  AlreadyRunning,
  /// `stop()`/`kill()` with nothing to stop (forever-monitor's message).
  NotRunning,
  /// A system call failed; `path` is the file it concerned, if any.
  Sys {
    /// The call that failed, as Node names it (`spawn`, `open`, `kill`, …).
    syscall: &'static str,
    /// The path or command involved.
    path: Option<String>,
    /// The OS error.
    source: io::Error,
  },
  /// Binding or listening on one of the `listen` addresses failed.
  Listen {
    /// `socket`, `bind` or `listen`.
    syscall: &'static str,
    /// The address as Node shows it: `127.0.0.1:8080`, `[::1]:8080`, or a socket path.
    address: String,
    /// The port, for a TCP address.
    port: Option<u16>,
    /// The OS error.
    source: io::Error,
  },
  /// `reload()` while a reload's new child is still starting.
  ReloadUnderWay,
  /// `reload()` while the child is being stopped or restarted.
  Stopping,
  /// A reload's new child did not get ready (`reason`: `exit`, `readyTimeout`, `spawn`).
  ReloadFailed {
    /// Why, as JS sees it.
    reason: &'static str,
    /// What happened, in words.
    detail: String,
  },
  /// `writeStdin`/`endStdin` for a pid that is neither the current child nor a reload's
  /// new child (it exited, or another child took its place), or while none runs.
  ChildNotRunning(u32),
  /// `writeStdin`/`endStdin` for a child whose stdin is not a pipe; `stdin` says what it is.
  StdinNotPipe {
    /// The child.
    pid: u32,
    /// What its stdin is, in words (`'ignore' (/dev/null)`, …).
    stdin: String,
  },
  /// `send()` to a child that has no IPC channel.
  NoChannel,
  /// `send()` to a child whose channel is closed.
  ChannelClosed,
  /// `send()` while this many bytes already wait for a child that does not read.
  IpcBacklog(usize),
  /// The options reached the core in a shape it cannot use.
  InvalidOption(String),
  /// The child sent something on its IPC channel that is not a message.
  BadMessage(String),
  /// The child sent an IPC message larger than this many bytes.
  MessageTooLarge(usize),
  /// The supervisor task is gone (it panicked or the runtime shut down).
  SupervisorGone,
  /// A panic inside the core, caught before it could reach Node.
  Panic(String),
}

impl CoreError {
  /// A failed system call about `path`.
  pub fn sys(syscall: &'static str, path: impl Into<Option<String>>, source: io::Error) -> Self {
    CoreError::Sys {
      syscall,
      path: path.into(),
      source,
    }
  }

  /// Node's name for the errno, e.g. `ENOENT`, when the error came from the OS.
  pub fn code(&self) -> Option<String> {
    match self {
      CoreError::Sys { source, .. } | CoreError::Listen { source, .. } => source
        .raw_os_error()
        .map(|n| format!("{:?}", nix::errno::Errno::from_raw(n))),
      _ => None,
    }
  }

  /// The failed call, when there is one.
  pub fn syscall(&self) -> Option<&'static str> {
    match self {
      CoreError::Sys { syscall, .. } | CoreError::Listen { syscall, .. } => Some(syscall),
      _ => None,
    }
  }

  /// The path involved, when there is one.
  pub fn path(&self) -> Option<&str> {
    match self {
      CoreError::Sys { path, .. } => path.as_deref(),
      _ => None,
    }
  }

  /// The negative errno, as Node reports it in `err.errno`.
  pub fn errno(&self) -> Option<i32> {
    match self {
      CoreError::Sys { source, .. } | CoreError::Listen { source, .. } => {
        source.raw_os_error().map(|n| -n)
      }
      _ => None,
    }
  }

  /// The address a `listen` error is about (Node's `err.address`), and its port.
  pub fn address(&self) -> Option<(&str, Option<u16>)> {
    match self {
      CoreError::Listen { address, port, .. } => Some((address, *port)),
      _ => None,
    }
  }
}

impl fmt::Display for CoreError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      CoreError::AlreadyRunning => f.write_str("Cannot start process that is already running."),
      CoreError::NotRunning => f.write_str("Cannot stop process that is not running."),
      CoreError::Sys {
        syscall,
        path,
        source,
      } => {
        // Node's shape: "spawn /usr/bin/foo ENOENT", followed by the OS's own words.
        let code = self.code().unwrap_or_else(|| "EUNKNOWN".to_string());
        match path {
          Some(path) => write!(f, "{syscall} {path} {code} ({source})"),
          None => write!(f, "{syscall} {code} ({source})"),
        }
      }
      CoreError::Listen {
        syscall,
        address,
        source,
        ..
      } => {
        // Node's shape: "listen EADDRINUSE: address already in use 127.0.0.1:8080".
        let code = self.code().unwrap_or_else(|| "EUNKNOWN".to_string());
        let words = source
          .raw_os_error()
          .map(|n| nix::errno::Errno::from_raw(n).desc().to_lowercase())
          .unwrap_or_else(|| source.to_string());
        write!(f, "{syscall} {code}: {words} {address}")
      }
      CoreError::ReloadUnderWay => {
        f.write_str("Cannot reload: a reload is already under way (its new child is starting).")
      }
      CoreError::Stopping => f.write_str("Cannot reload: the child is being stopped or restarted."),
      CoreError::ReloadFailed { detail, .. } => {
        write!(f, "Reload failed: {detail}; the old child keeps serving.")
      }
      CoreError::ChildNotRunning(pid) => write!(
        f,
        "Cannot write to the stdin of process {pid}: it is not running (it exited, or another child took its place)."
      ),
      CoreError::StdinNotPipe { pid, stdin } => write!(
        f,
        "Cannot write to the stdin of process {pid}: its stdin is {stdin}, not a pipe (stdio[0] must be 'pipe')."
      ),
      CoreError::NoChannel => {
        f.write_str("Cannot send to a process without an IPC channel (use fork: true).")
      }
      CoreError::ChannelClosed => f.write_str("Cannot send: the IPC channel is closed."),
      CoreError::IpcBacklog(limit) => write!(
        f,
        "Cannot send: {limit} bytes already wait for a child that does not read its IPC channel."
      ),
      CoreError::InvalidOption(msg) | CoreError::BadMessage(msg) => f.write_str(msg),
      CoreError::MessageTooLarge(limit) => write!(
        f,
        "the child sent an IPC message larger than {limit} bytes; its channel was closed"
      ),
      CoreError::SupervisorGone => {
        f.write_str("the monitor's supervisor task is no longer running")
      }
      CoreError::Panic(msg) => write!(f, "internal error in forever-native (panic): {msg}"),
    }
  }
}

impl std::error::Error for CoreError {
  fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
    match self {
      CoreError::Sys { source, .. } => Some(source),
      _ => None,
    }
  }
}

/// Result with the core's error.
pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn sys_errors_read_like_node_ones() {
    let e = CoreError::sys(
      "spawn",
      "/nope".to_string(),
      io::Error::from_raw_os_error(libc::ENOENT),
    );
    assert_eq!(e.code().as_deref(), Some("ENOENT"));
    assert_eq!(e.errno(), Some(-libc::ENOENT));
    assert!(e.to_string().starts_with("spawn /nope ENOENT"), "{e}");
  }

  #[test]
  fn listen_errors_read_like_node_ones() {
    let e = CoreError::Listen {
      syscall: "listen",
      address: "127.0.0.1:8080".to_string(),
      port: Some(8080),
      source: io::Error::from_raw_os_error(libc::EADDRINUSE),
    };
    assert_eq!(e.code().as_deref(), Some("EADDRINUSE"));
    assert_eq!(e.syscall(), Some("listen"));
    assert_eq!(e.address(), Some(("127.0.0.1:8080", Some(8080))));
    assert_eq!(
      e.to_string(),
      "listen EADDRINUSE: address already in use 127.0.0.1:8080"
    );
  }

  #[test]
  fn refusals_keep_forever_monitor_messages() {
    assert_eq!(
      CoreError::AlreadyRunning.to_string(),
      "Cannot start process that is already running."
    );
    assert_eq!(
      CoreError::NotRunning.to_string(),
      "Cannot stop process that is not running."
    );
  }
}
