//! Output: the child's stdout and stderr, read in the core and fanned out to destinations
//! (the host's own stdout/stderr, log files, JS listeners).
//!
//! Each stream has one pipe for a whole supervision run: every child of the run writes
//! into the same pipe, so a run costs the kernel one pipe buffer per stream however often
//! the child restarts, and a child whose output nobody takes blocks on its own writes (as
//! with any pipe) instead of growing anybody's memory. A [`Pump`] reads it. Every
//! destination bounds what it holds with a [`Budget`]: the pump reserves room in each
//! before it reads, so nothing is read that a destination could not take, and bytes are
//! handed on in the order they were written. Offsets count each stream's bytes from the
//! start of the run, so that the supervisor can say where one child's output ends
//! ([`Pump::mark`]) and hold its exit report until the destinations are there.

mod budget;
mod host;
mod pump;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use budget::{Budget, Reservation};
pub use host::{drain as drain_host_output, HostPort, HOST_BACKLOG};
pub use pump::Pump;

use crate::error::{CoreError, Result};

/// Bytes read from a pipe in one go.
pub const CHUNK: usize = 256 * 1024;
/// Capacity asked for each output pipe: fewer wake-ups per byte for a chatty child.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// One of the child's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
  /// fd 1.
  Stdout,
  /// fd 2.
  Stderr,
}

impl Stream {
  /// 0 for stdout, 1 for stderr: an index into per-stream arrays.
  pub fn index(self) -> usize {
    match self {
      Stream::Stdout => 0,
      Stream::Stderr => 1,
    }
  }

  /// Both streams.
  pub const BOTH: [Stream; 2] = [Stream::Stdout, Stream::Stderr];
}

/// Whether JS listens to each stream; set from the JS thread, read by the pumps.
#[derive(Debug, Default)]
pub struct Taps {
  flags: [AtomicBool; 2],
}

impl Taps {
  /// Records whether anyone listens to `stream`.
  pub fn set(&self, stream: Stream, on: bool) {
    self.flags[stream.index()].store(on, Ordering::Release);
  }

  /// Whether anyone listens to `stream`.
  pub fn get(&self, stream: Stream) -> bool {
    self.flags[stream.index()].load(Ordering::Acquire)
  }
}

/// Somewhere a pump's bytes go.
pub trait Destination: Send + Sync {
  /// Whether it takes bytes of `stream` now (otherwise it is only told how far the stream
  /// has come, with [`Destination::seen`]).
  fn wants(&self, stream: Stream) -> bool;
  /// The budget its queue for `stream` is bounded by: room is reserved before a read.
  fn budget(&self, stream: Stream) -> &Arc<Budget>;
  /// Takes `data`, read from `stream`, which ends at byte `end` of that stream; the
  /// reservation is released once the bytes are written (or taken by JS).
  fn put(&self, stream: Stream, data: Vec<u8>, end: u64, reservation: Reservation);
  /// `stream` has come to byte `end`, in bytes it did not want.
  fn seen(&self, _stream: Stream, _end: u64) {}
}

/// A fresh pipe for one stream, for a whole supervision run: its read end (each child
/// gets a write end of its own from the [`Pump`]).
pub fn pipe() -> Result<OwnedFd> {
  let (read, _write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
    .map_err(|e| CoreError::sys("pipe", None, io::Error::from(e)))?;
  // Best effort: capped by /proc/sys/fs/pipe-max-size.
  let _ = nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
  Ok(read)
}

/// Reads once into a per-thread scratch buffer and returns exactly the bytes read, so that
/// an idle pipe or socket costs no buffer of its own (hundreds of monitors mostly sit idle).
pub fn read_chunk(read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<Vec<u8>> {
  thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; CHUNK]);
  }
  SCRATCH.with(|scratch| {
    let mut scratch = scratch.borrow_mut();
    let n = read(&mut scratch)?;
    Ok(scratch[..n].to_vec())
  })
}
