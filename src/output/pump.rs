//! The pump: reads one stream's pipe for a whole supervision run and hands each chunk to
//! the destinations that want it, after reserving room in each of them.
//!
//! The core holds only the pipe's read end. Each child gets a write end opened afresh
//! through `/proc/self/fd` ([`Pump::writer`]), so a running monitor costs one descriptor per
//! stream, and between two children the pipe has no writer: the pump reads its end, then
//! waits for the next child (or for the run to close) instead of stopping.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use super::{read_chunk, Destination, Reservation, Stream, CHUNK};
use crate::error::{CoreError, Result};
use crate::sync::lock;

/// Called after each chunk, so that whoever waits on offsets looks again.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

struct Shared {
  /// Held across one read and the offset update that follows it, so that a mark sees both
  /// or neither; also while a writer is opened, so that the descriptor is the pump's.
  reading: Mutex<Reading>,
  offset: AtomicU64,
  /// A writer was attached, or the run closed.
  changed: Notify,
}

struct Reading {
  /// The pipe's read end while the pump runs; `None` once it is done.
  fd: Option<RawFd>,
  /// The run is open: more writers may come.
  open: bool,
}

/// A running pump for one stream.
pub struct Pump {
  shared: Arc<Shared>,
}

impl Pump {
  /// Starts pumping `read` (a pipe's read end) into `destinations`, on the current runtime.
  pub fn start(
    read: OwnedFd,
    stream: Stream,
    destinations: Vec<Arc<dyn Destination>>,
    waker: Waker,
  ) -> Result<Pump> {
    set_nonblocking(&read)?;
    let raw = read.as_raw_fd();
    let fd = register(read)?;
    let shared = Arc::new(Shared {
      reading: Mutex::new(Reading {
        fd: Some(raw),
        open: true,
      }),
      offset: AtomicU64::new(0),
      changed: Notify::new(),
    });
    tokio::spawn(run(fd, stream, destinations, waker, Arc::clone(&shared)));
    Ok(Pump { shared })
  }

  /// A new write end of the pipe, for the next child (blocking, close-on-exec).
  pub fn writer(&self) -> Result<OwnedFd> {
    let reading = lock(&self.shared.reading);
    let fd = reading.fd.filter(|_| reading.open).ok_or_else(|| {
      CoreError::sys(
        "open",
        Some("output pipe".to_string()),
        io::Error::from_raw_os_error(libc::EBADF),
      )
    })?;
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: `path` is NUL-terminated; the descriptor it names is the pump's read end,
    // kept open while we hold the lock. Non-blocking: a FIFO open never waits (the read
    // end is ours, so it would not anyway).
    let raw = unsafe {
      libc::open(
        path.as_ptr().cast(),
        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
      )
    };
    if raw < 0 {
      return Err(CoreError::sys(
        "open",
        Some("output pipe".to_string()),
        io::Error::last_os_error(),
      ));
    }
    // SAFETY: `raw` was just opened and is owned by nobody else.
    let write = unsafe { OwnedFd::from_raw_fd(raw) };
    // The child's stdout blocks as a pipe normally does.
    nix::fcntl::fcntl(
      &write,
      nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|e| CoreError::sys("fcntl", Some("output pipe".to_string()), e.into()))?;
    drop(reading);
    // The pump's task watches the pipe again once woken; a restart wakes it after the new
    // child is spawned (`sync::hold_wakes`): meanwhile the child's output waits in the pipe.
    let shared = Arc::clone(&self.shared);
    crate::sync::wake_later(move || shared.changed.notify_one());
    Ok(write)
  }

  /// The run is over: once every writer is gone and the pipe is empty, the pump ends.
  pub fn close(&self) {
    lock(&self.shared.reading).open = false;
    self.shared.changed.notify_one();
  }

  /// Bytes read so far.
  pub fn offset(&self) -> u64 {
    self.shared.offset.load(Ordering::Acquire)
  }

  /// The offset at which everything written into the pipe so far ends: bytes read plus
  /// bytes waiting in the pipe. Called when a child has exited, it says where that child's
  /// output ends.
  pub fn mark(&self) -> u64 {
    let reading = lock(&self.shared.reading);
    let mut waiting: libc::c_int = 0;
    if let Some(fd) = reading.fd {
      // SAFETY: `fd` is the pump's open pipe (it is closed only after `fd` is cleared
      // under this lock); FIONREAD writes one int.
      if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut waiting) } != 0 {
        waiting = 0;
      }
    }
    self.shared.offset.load(Ordering::Acquire) + u64::try_from(waiting.max(0)).unwrap_or(0)
  }
}

/// Watches the pipe for readability on the current runtime.
fn register(read: OwnedFd) -> Result<AsyncFd<OwnedFd>> {
  // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open (and the same
  // descriptor) until it is dropped or taken back with `into_inner`.
  unsafe { AsyncFd::register_with_interest(read, Interest::READABLE) }
    .map_err(|e| CoreError::sys("epoll_ctl", Some("output pipe".to_string()), e.into()))
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
  nix::fcntl::fcntl(
    fd,
    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
  )
  .map(|_| ())
  .map_err(|e| CoreError::sys("fcntl", Some("output pipe".to_string()), e.into()))
}

/// What one read found.
enum Read {
  Data(Vec<u8>),
  /// No writer now, nothing left.
  End,
  Nothing,
  Failed,
}

async fn run(
  fd: AsyncFd<OwnedFd>,
  stream: Stream,
  destinations: Vec<Arc<dyn Destination>>,
  waker: Waker,
  shared: Arc<Shared>,
) {
  let mut fd = Some(fd);
  // The pipe between two children, while it is not watched.
  let mut idle: Option<OwnedFd> = None;
  let mut hot = false;
  let mut rooms: Vec<(usize, Reservation)> = Vec::with_capacity(destinations.len());
  while let Some(watched) = fd.take() {
    // Room first: nothing is read that a destination could not take.
    rooms.clear();
    for (i, destination) in destinations.iter().enumerate() {
      if destination.wants(stream) {
        rooms.push((i, destination.budget(stream).reserve(CHUNK).await));
      }
    }
    let limit = rooms.iter().map(|(_, r)| r.len()).min().unwrap_or(CHUNK);
    let found = {
      let _reading = lock(&shared.reading);
      let found = read(watched.get_ref().as_raw_fd(), hot, limit);
      if let Read::Data(data) = &found {
        shared.offset.fetch_add(data.len() as u64, Ordering::AcqRel);
      }
      found
    };
    match found {
      Read::Data(data) => {
        hot = data.len() >= CHUNK / 2;
        let end = shared.offset.load(Ordering::Acquire);
        // Those that did not want the bytes hear how far the stream has come.
        for (i, destination) in destinations.iter().enumerate() {
          if !rooms.iter().any(|(r, _)| *r == i) {
            destination.seen(stream, end);
          }
        }
        deliver(&destinations, stream, data, end, &mut rooms);
        waker();
        fd = Some(watched);
      }
      Read::Nothing => {
        rooms.clear();
        let stale = match watched.readable().await {
          // A hang-up tokio kept from a child that has gone, while the next one already
          // writes: the pipe must be watched afresh, or this would never wait again.
          Ok(ready) if ready.ready().is_read_closed() => true,
          // A read follows at once: clearing here loses nothing.
          Ok(mut ready) => {
            ready.clear_ready();
            false
          }
          Err(_) => break,
        };
        if stale {
          let pipe = watched.into_inner();
          // SAFETY: as in `register`; on failure the descriptor comes back, to be closed
          // below, after its number is let go.
          match unsafe { AsyncFd::register_with_interest(pipe, Interest::READABLE) } {
            Ok(again) => fd = Some(again),
            Err(failed) => {
              idle = Some(failed.into_parts().0);
              break;
            }
          }
        } else {
          fd = Some(watched);
        }
      }
      Read::End => {
        rooms.clear();
        // Between two children, or after the last one. tokio keeps a hang-up for good, so
        // the pipe is watched afresh once the next child's writer is there.
        idle = Some(watched.into_inner());
        if !lock(&shared.reading).open {
          break;
        }
        // The next child's writer (or the close) wakes this; one attached since the read
        // above left a permit.
        shared.changed.notified().await;
        let Some(pipe) = idle.take() else { break };
        // SAFETY: as in `register`; on failure the descriptor comes back, to be closed
        // below, after its number is let go.
        match unsafe { AsyncFd::register_with_interest(pipe, Interest::READABLE) } {
          Ok(again) => fd = Some(again),
          Err(failed) => {
            idle = Some(failed.into_parts().0);
            break;
          }
        }
      }
      Read::Failed => break,
    }
  }
  // The pipe closes with `fd` (or with the descriptor taken out of it), once no mark or
  // writer can look at its number any more.
  let mut reading = lock(&shared.reading);
  reading.fd = None;
  drop(fd);
  drop(idle);
  drop(reading);
  waker();
}

/// Hands `data` to each destination that reserved room: a copy to all but the last, which
/// takes the chunk itself.
fn deliver(
  destinations: &[Arc<dyn Destination>],
  stream: Stream,
  data: Vec<u8>,
  end: u64,
  rooms: &mut Vec<(usize, Reservation)>,
) {
  let len = data.len();
  let mut data = Some(data);
  let count = rooms.len();
  for (n, (i, mut room)) in rooms.drain(..).enumerate() {
    room.shrink(len);
    let chunk = if n + 1 == count {
      data.take().unwrap_or_default()
    } else {
      data.clone().unwrap_or_default()
    };
    destinations[i].put(stream, chunk, end, room);
  }
}

/// One non-blocking read of at most `limit` bytes. A pipe that keeps filling whole chunks
/// is read straight into a chunk of its own (no copy out of the scratch buffer: that is a
/// third of the CPU of a chatty child); a quiet one goes through the shared scratch buffer.
fn read(fd: RawFd, hot: bool, limit: usize) -> Read {
  let limit = limit.clamp(1, CHUNK);
  let once = |buf: &mut [u8]| -> io::Result<usize> {
    // SAFETY: reads at most `buf.len()` bytes into `buf` from the pump's own pipe.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
      Err(io::Error::last_os_error())
    } else {
      Ok(n as usize)
    }
  };
  let result = if hot {
    let mut chunk = vec![0u8; limit];
    once(&mut chunk).map(|n| {
      chunk.truncate(n);
      chunk
    })
  } else {
    read_chunk(|buf| once(&mut buf[..limit]))
  };
  match result {
    Ok(data) if data.is_empty() => Read::End,
    Ok(data) => Read::Data(data),
    Err(e)
      if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
      ) =>
    {
      Read::Nothing
    }
    Err(_) => Read::Failed,
  }
}
