//! The host's own stdout and stderr (`silent: false`), written by one thread each.
//!
//! The host's descriptor may be a slow or stalled pipe, and runtime workers must never
//! block on it, so a dedicated thread per descriptor writes what every monitor hands it.
//! What waits for it is bounded by one [`Budget`] per descriptor for all monitors
//! together ([`HOST_BACKLOG`]): when it is full, pumps stop reading and children wait on
//! their pipes. Each monitor's [`HostPort`] tells how far its streams have been written,
//! and whether its bytes are stuck, so that exit reports are not held behind a stalled
//! terminal.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{Budget, Destination, Reservation, Stream};
use crate::sync::lock;

/// Bytes that may wait for each of the host's stdout and stderr, all monitors together.
pub const HOST_BACKLOG: usize = 8 * 1024 * 1024;

struct Item {
  data: Vec<u8>,
  end: u64,
  stream: Stream,
  port: Arc<PortState>,
  _room: Reservation,
}

struct Writer {
  tx: Mutex<Option<mpsc::Sender<Item>>>,
  budget: Arc<Budget>,
}

/// Bytes handed to the host's writers so far, and bytes they have finished with, all
/// monitors and both streams.
static HANDED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

fn writer(stream: Stream) -> &'static Writer {
  static WRITERS: [OnceLock<Writer>; 2] = [OnceLock::new(), OnceLock::new()];
  WRITERS[stream.index()].get_or_init(|| {
    let fd: RawFd = match stream {
      Stream::Stdout => 1,
      Stream::Stderr => 2,
    };
    let (tx, rx) = mpsc::channel::<Item>();
    let started = std::thread::Builder::new()
      .name(format!("forever-host-fd{fd}"))
      .spawn(move || {
        while let Ok(item) = rx.recv() {
          write_all(fd, &item.data);
          DONE.fetch_add(item.data.len() as u64, Ordering::AcqRel);
          item.port.wrote(item.stream, item.end, item.data.len());
        }
      });
    Writer {
      // No thread, no host copy: puts are then counted as written at once.
      tx: Mutex::new(started.ok().map(|_| tx)),
      budget: Budget::new(HOST_BACKLOG),
    }
  })
}

/// For a host that is exiting (`process.exit()` in a `'stdout'` listener, say): waits
/// until the bytes handed to the host's writers by now are on its stdout and stderr,
/// giving up once nothing has been written for `stall` (a stalled terminal must not hold
/// the exit for ever). What children write meanwhile, or still hold in their pipes, is not
/// waited for: a chatty child cannot keep the host from exiting.
pub fn drain(stall: Duration) {
  let target = HANDED.load(Ordering::Acquire);
  let mut last = (DONE.load(Ordering::Acquire), Instant::now());
  while last.0 < target {
    std::thread::sleep(Duration::from_millis(1));
    let done = DONE.load(Ordering::Acquire);
    if done != last.0 {
      last = (done, Instant::now());
    } else if last.1.elapsed() >= stall {
      return;
    }
  }
}

struct PortState {
  written: [AtomicU64; 2],
  queued: AtomicUsize,
  /// Milliseconds since `origin` of the last write (or of bytes starting to wait).
  moved_ms: AtomicU64,
  origin: Instant,
  waker: Box<dyn Fn() + Send + Sync>,
}

impl PortState {
  fn wrote(&self, stream: Stream, end: u64, len: usize) {
    self.written[stream.index()].fetch_max(end, Ordering::AcqRel);
    self.queued.fetch_sub(len, Ordering::AcqRel);
    self.touch();
    (self.waker)();
  }

  fn touch(&self) {
    let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    self.moved_ms.store(now, Ordering::Release);
  }
}

/// One monitor's way to the host's stdout and stderr.
pub struct HostPort {
  state: Arc<PortState>,
}

impl HostPort {
  /// A port whose progress calls `waker`.
  pub fn new(waker: Box<dyn Fn() + Send + Sync>) -> HostPort {
    HostPort {
      state: Arc::new(PortState {
        written: Default::default(),
        queued: AtomicUsize::new(0),
        moved_ms: AtomicU64::new(0),
        origin: Instant::now(),
        waker,
      }),
    }
  }

  /// How far `stream` has been written to the host.
  pub fn written(&self, stream: Stream) -> u64 {
    self.state.written[stream.index()].load(Ordering::Acquire)
  }

  /// True when bytes of this monitor wait and nothing has been written for `ms`.
  pub fn stalled_for(&self, ms: u64) -> bool {
    let s = &self.state;
    let now = u64::try_from(s.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    s.queued.load(Ordering::Acquire) > 0
      && now.saturating_sub(s.moved_ms.load(Ordering::Acquire)) >= ms
  }
}

impl Destination for HostPort {
  fn wants(&self, _stream: Stream) -> bool {
    true
  }

  fn budget(&self, stream: Stream) -> &Arc<Budget> {
    &writer(stream).budget
  }

  fn put(&self, stream: Stream, data: Vec<u8>, end: u64, room: Reservation) {
    let writer = writer(stream);
    let len = data.len();
    if self.state.queued.fetch_add(len, Ordering::AcqRel) == 0 {
      self.state.touch();
    }
    let item = Item {
      data,
      end,
      stream,
      port: Arc::clone(&self.state),
      _room: room,
    };
    HANDED.fetch_add(len as u64, Ordering::AcqRel);
    let sent = match lock(&writer.tx).as_ref() {
      Some(tx) => tx.send(item).map_err(|e| e.0),
      None => Err(item),
    };
    if let Err(item) = sent {
      DONE.fetch_add(len as u64, Ordering::AcqRel);
      item.port.wrote(stream, end, len);
    }
  }
}

/// Writes all of `data` to `fd`, waiting out `EAGAIN` (Node may have made the descriptor
/// non-blocking). Gives up silently when the host's stream is closed.
fn write_all(fd: RawFd, mut data: &[u8]) {
  while !data.is_empty() {
    // SAFETY: writes from the bytes of `data` to the host's own stdout or stderr.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n > 0 {
      data = &data[n as usize..];
      continue;
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
      Some(libc::EINTR) => {}
      Some(libc::EAGAIN) => {
        let mut pfd = libc::pollfd {
          fd,
          events: libc::POLLOUT,
          revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 1000) };
      }
      _ => return,
    }
  }
}
