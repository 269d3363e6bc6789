//! The child's standard streams.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::sync::Mutex;

use crate::error::{CoreError, Result};

use super::SpawnSpec;

/// How one of the child's standard streams is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioSpec {
  /// A pipe read by the core (output) or held open by it (input).
  Pipe,
  /// The host's own stream.
  Inherit,
  /// `/dev/null`.
  Ignore,
  /// A host file descriptor, given by number.
  Fd(i32),
}

/// What takes the place of a `pipe` stdout or stderr.
pub enum OutputEnd {
  /// The write end of the monitor's pipe for that stream.
  Pipe(OwnedFd),
  /// A log file the child writes itself.
  File(File),
}

/// The three streams, ready to hand to the command (or to place in the child ourselves),
/// and descriptors that must stay open until the child has been spawned.
pub(super) struct Wiring {
  streams: [Option<OwnedFd>; 3],
  kept: Vec<OwnedFd>,
}

impl Wiring {
  pub(super) fn new(spec: &SpawnSpec, outputs: [Option<OutputEnd>; 2]) -> Result<Wiring> {
    let [out, err] = outputs;
    Ok(Wiring {
      streams: [
        Some(input(spec.stdio[0])?),
        Some(output(spec.stdio[1], out, 1)?),
        Some(output(spec.stdio[2], err, 2)?),
      ],
      kept: Vec::new(),
    })
  }

  /// Puts `fd` in place of standard stream `index` (the IPC channel on fd 0, 1 or 2).
  pub(super) fn replace(&mut self, index: usize, fd: OwnedFd) {
    self.streams[index] = Some(fd);
  }

  /// The descriptors that become the child's 0, 1 and 2 (open while the wiring lives).
  pub(super) fn fds(&self) -> Option<[RawFd; 3]> {
    let [a, b, c] = &self.streams;
    Some([a.as_ref()?, b.as_ref()?, c.as_ref()?].map(AsRawFd::as_raw_fd))
  }

  /// Keeps `fd` open until the wiring is dropped, after the spawn.
  pub(super) fn keep(&mut self, fd: OwnedFd) {
    self.kept.push(fd);
  }

  pub(super) fn apply(&mut self, cmd: &mut tokio::process::Command) {
    let [stdin, stdout, stderr] = &mut self.streams;
    if let Some(s) = stdin.take() {
      cmd.stdin(Stdio::from(s));
    }
    if let Some(s) = stdout.take() {
      cmd.stdout(Stdio::from(s));
    }
    if let Some(s) = stderr.take() {
      cmd.stderr(Stdio::from(s));
    }
  }
}

fn input(spec: StdioSpec) -> Result<OwnedFd> {
  match spec {
    StdioSpec::Pipe => held_open_input(),
    other => shared(other, 0),
  }
}

fn output(spec: StdioSpec, end: Option<OutputEnd>, index: RawFd) -> Result<OwnedFd> {
  match (spec, end) {
    (StdioSpec::Pipe, Some(OutputEnd::Pipe(fd))) => Ok(fd),
    (StdioSpec::Pipe, Some(OutputEnd::File(file))) => Ok(OwnedFd::from(file)),
    // No pipe was made for it (nobody reads it): the output has nowhere to go.
    (StdioSpec::Pipe, None) => null(),
    (other, _) => shared(other, index),
  }
}

/// `index` is the stream's own descriptor (0, 1 or 2), which `Inherit` passes on.
fn shared(spec: StdioSpec, index: RawFd) -> Result<OwnedFd> {
  match spec {
    // A copy, as libuv makes: the host's own descriptors may be close-on-exec (Node marks
    // them so), and left as they are the child would find them closed.
    StdioSpec::Inherit => shared(StdioSpec::Fd(index), index),
    StdioSpec::Ignore | StdioSpec::Pipe => null(),
    StdioSpec::Fd(fd) => {
      // SAFETY: the descriptor is only borrowed to be duplicated; dup checks it is open.
      let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
      // Checked by dup: a closed descriptor becomes an EBADF error, not a bad child.
      borrowed
        .try_clone_to_owned()
        .map_err(|e| CoreError::sys("dup", Some(format!("fd {fd}")), e))
    }
  }
}

/// `/dev/null`, for reading and writing (as `Stdio::null()` opens it, per spawn).
fn null() -> Result<OwnedFd> {
  File::options()
    .read(true)
    .write(true)
    .open("/dev/null")
    .map(OwnedFd::from)
    .map_err(|e| CoreError::sys("open", Some("/dev/null".to_string()), e))
}

/// A stdin for children that never sees data or EOF, as a Node `'pipe'` nobody writes to.
/// All children share one pipe whose write end the core holds for ever: a monitor costs
/// no descriptor for it.
fn held_open_input() -> Result<OwnedFd> {
  // Created on first use; a failure (no descriptor left) is not remembered.
  static PIPE: Mutex<Option<(OwnedFd, OwnedFd)>> = Mutex::new(None);
  let mut pipe = PIPE.lock().unwrap_or_else(|p| p.into_inner());
  if pipe.is_none() {
    let fds = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
      .map_err(|e| CoreError::sys("pipe", None, std::io::Error::from(e)))?;
    *pipe = Some(fds);
  }
  let Some((read, _write)) = pipe.as_ref() else {
    return Err(CoreError::sys(
      "pipe",
      None,
      std::io::Error::from_raw_os_error(libc::EMFILE),
    ));
  };
  read
    .try_clone()
    .map_err(|e| CoreError::sys("dup", Some("stdin pipe".to_string()), e))
}
