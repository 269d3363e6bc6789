//! The child's standard streams.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::Stdio;

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
/// descriptors that must stay open until the child has been spawned, and the core's end
/// of the child's stdin pipe.
pub(super) struct Wiring {
  streams: [Option<OwnedFd>; 3],
  kept: Vec<OwnedFd>,
  stdin: Option<OwnedFd>,
}

impl Wiring {
  pub(super) fn new(spec: &SpawnSpec, outputs: [Option<OutputEnd>; 2]) -> Result<Wiring> {
    let [out, err] = outputs;
    // The IPC channel on fd 0 takes the place of stdin: no pipe for it.
    let channel_on_stdin = spec.channel.as_ref().is_some_and(|slot| slot.fd == 0);
    let (stdin, host_end) = match spec.stdio[0] {
      StdioSpec::Pipe if !channel_on_stdin => {
        let (read, write) = input_pipe()?;
        (read, Some(write))
      }
      other => (shared(other, 0)?, None),
    };
    Ok(Wiring {
      streams: [
        Some(stdin),
        Some(output(spec.stdio[1], out, 1)?),
        Some(output(spec.stdio[2], err, 2)?),
      ],
      kept: Vec::new(),
      stdin: host_end,
    })
  }

  /// Puts `fd` in place of standard stream `index` (the IPC channel on fd 0, 1 or 2).
  pub(super) fn replace(&mut self, index: usize, fd: OwnedFd) {
    self.streams[index] = Some(fd);
    if index == 0 {
      // Nobody would read that pipe.
      self.stdin = None;
    }
  }

  /// The write end of the child's stdin pipe, once the child has been spawned (the read
  /// end closes with the wiring, so that the write end sees EPIPE when the child is gone).
  pub(super) fn take_stdin(&mut self) -> Option<OwnedFd> {
    self.stdin.take()
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

/// A stdin pipe of the child's own: its read end for the child, and the write end the core
/// keeps, close-on-exec (no other child inherits it, so the child sees EOF only when the
/// core closes it) and non-blocking (the core's writer never waits in `write`). Nothing is
/// written unless JS asks: the child then sees neither data nor EOF, as with a Node
/// `'pipe'` nobody writes to. No descriptor left (EMFILE) fails the spawn.
fn input_pipe() -> Result<(OwnedFd, OwnedFd)> {
  use nix::fcntl::{fcntl, FcntlArg, OFlag};
  // O_NONBLOCK is set on the write end alone: the child's end stays as programs expect.
  let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
    .map_err(|e| CoreError::sys("pipe", None, std::io::Error::from(e)))?;
  fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
    .map_err(|e| CoreError::sys("fcntl", Some("stdin pipe".to_string()), e.into()))?;
  Ok((read, write))
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::os::fd::AsRawFd;

  fn flags(fd: &OwnedFd) -> (bool, bool) {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    let fl = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap());
    let fd_flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
    (
      fl.contains(OFlag::O_NONBLOCK),
      fd_flags.contains(FdFlag::FD_CLOEXEC),
    )
  }

  #[test]
  fn each_stdin_pipe_is_new_close_on_exec_and_non_blocking_on_the_hosts_end_only() {
    let (read, write) = input_pipe().unwrap();
    assert_eq!(flags(&write), (true, true));
    assert_eq!(
      flags(&read),
      (false, true),
      "the child's end blocks, as usual"
    );
    let (other, _) = input_pipe().unwrap();
    assert_ne!(other.as_raw_fd(), read.as_raw_fd());
  }

  fn spec(stdin: StdioSpec, channel_fd: Option<i32>) -> SpawnSpec {
    SpawnSpec {
      command: "true".to_string(),
      args: Vec::new(),
      argv0: None,
      cwd: None,
      env: Default::default(),
      uid: None,
      gid: None,
      detached: false,
      stdio: [stdin, StdioSpec::Ignore, StdioSpec::Ignore],
      channel: channel_fd.map(|fd| super::super::ChannelSlot { fd, mode: "json" }),
      prepared: Default::default(),
    }
  }

  #[test]
  fn only_a_pipe_stdin_leaves_the_core_an_end() {
    let mut piped = Wiring::new(&spec(StdioSpec::Pipe, None), [None, None]).unwrap();
    assert!(piped.take_stdin().is_some());
    for other in [StdioSpec::Ignore, StdioSpec::Inherit] {
      let mut wiring = Wiring::new(&spec(other, None), [None, None]).unwrap();
      assert!(wiring.take_stdin().is_none(), "{other:?}");
    }
    // The IPC channel on fd 0 is the child's stdin.
    let mut channel = Wiring::new(&spec(StdioSpec::Pipe, Some(0)), [None, None]).unwrap();
    assert!(channel.take_stdin().is_none());
  }
}
