//! The pump: reads one stream's pipe for a whole supervision run and hands each chunk to
//! the destinations that want it, after reserving room in each of them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;

use super::{read_chunk, Destination, Reservation, Stream, CHUNK};

/// Called after each chunk, so that whoever waits on offsets looks again.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

struct Shared {
  /// Held across one read and the offset update that follows it, so that a mark sees both
  /// or neither.
  reading: Mutex<Reading>,
  offset: AtomicU64,
}

struct Reading {
  /// The pipe's descriptor while it is open (for FIONREAD); `None` once the pump is done.
  fd: Option<RawFd>,
}

/// A running pump for one stream.
pub struct Pump {
  shared: Arc<Shared>,
}

impl Pump {
  /// Starts pumping `pipe` (from the core's runtime) into `destinations`.
  pub fn start(
    pipe: pipe::Receiver,
    stream: Stream,
    destinations: Vec<Arc<dyn Destination>>,
    waker: Waker,
  ) -> Pump {
    let shared = Arc::new(Shared {
      reading: Mutex::new(Reading {
        fd: Some(pipe.as_raw_fd()),
      }),
      offset: AtomicU64::new(0),
    });
    tokio::spawn(run(pipe, stream, destinations, waker, Arc::clone(&shared)));
    Pump { shared }
  }

  /// Bytes read so far.
  pub fn offset(&self) -> u64 {
    self.shared.offset.load(Ordering::Acquire)
  }

  /// The offset at which everything written into the pipe so far ends: bytes read plus
  /// bytes waiting in the pipe. Called when a child has exited, it says where that child's
  /// output ends.
  pub fn mark(&self) -> u64 {
    let reading = self
      .shared
      .reading
      .lock()
      .unwrap_or_else(|p| p.into_inner());
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

async fn run(
  pipe: pipe::Receiver,
  stream: Stream,
  destinations: Vec<Arc<dyn Destination>>,
  waker: Waker,
  shared: Arc<Shared>,
) {
  let mut hot = false;
  let mut rooms: Vec<(usize, Reservation)> = Vec::with_capacity(destinations.len());
  loop {
    if pipe.readable().await.is_err() {
      break;
    }
    // Room first: nothing is read that a destination could not take.
    rooms.clear();
    for (i, destination) in destinations.iter().enumerate() {
      if destination.wants(stream) {
        rooms.push((i, destination.budget(stream).reserve(CHUNK).await));
      }
    }
    let limit = rooms.iter().map(|(_, r)| r.len()).min().unwrap_or(CHUNK);
    let read = {
      let _reading = shared.reading.lock().unwrap_or_else(|p| p.into_inner());
      let read = read(&pipe, hot, limit);
      if let Ok(data) = &read {
        shared.offset.fetch_add(data.len() as u64, Ordering::AcqRel);
      }
      read
    };
    match read {
      Ok(data) if data.is_empty() => break,
      Ok(data) => {
        hot = data.len() >= CHUNK / 2;
        let end = shared.offset.load(Ordering::Acquire);
        deliver(&destinations, stream, data, end, &mut rooms);
        waker();
      }
      Err(e)
        if matches!(
          e.kind(),
          io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) => {}
      Err(_) => break,
    }
  }
  shared.reading.lock().unwrap_or_else(|p| p.into_inner()).fd = None;
  drop(pipe);
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

/// One read of at most `limit` bytes. A pipe that keeps filling whole chunks is read
/// straight into a chunk of its own (no copy out of the scratch buffer: that is a third
/// of the CPU of a chatty child); a quiet one goes through the shared scratch buffer.
fn read(pipe: &pipe::Receiver, hot: bool, limit: usize) -> io::Result<Vec<u8>> {
  let limit = limit.clamp(1, CHUNK);
  if hot {
    let mut chunk = Vec::with_capacity(limit);
    pipe.try_read_buf(&mut chunk)?;
    Ok(chunk)
  } else {
    read_chunk(|buf| pipe.try_read(&mut buf[..limit]))
  }
}
