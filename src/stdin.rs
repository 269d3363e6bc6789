//! The core's end of a child's stdin, when `stdio[0]` is `'pipe'`.
//!
//! Every child gets a pipe of its own (see `process::stdio`); the core keeps the write end,
//! non-blocking and close-on-exec, as a [`Stdin`] owned by that child's run: it closes when
//! the child exits (or its supervision ends), so bytes for one child can never reach the
//! next. The child sees EOF only when JS asks for it ([`Stdin::end`]), as with a Node
//! `'pipe'` that nobody writes to.
//!
//! Bytes are written by a task on the core's runtime, never on the JS thread, and only
//! while some wait: a stdin nobody writes to costs its descriptor and this small struct,
//! no task and no buffer. Each chunk's [`Done`] is called once all of its bytes are in the
//! pipe, or with the reason it was dropped (EPIPE when the child closed its stdin or
//! exited).
//!
//! Writing to a pipe whose reader is gone raises SIGPIPE; Node ignores it (as Rust
//! programs do), so the write fails with EPIPE instead.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::error::{CoreError, Result};
use crate::sync::lock;

/// Bytes the writer puts in the pipe before it lets other tasks of the runtime run (a
/// child that reads as fast as the core writes would otherwise never make it wait).
const BURST: usize = 1024 * 1024;

/// Called once with how one chunk ended: `Ok` once all of its bytes are in the pipe, or
/// the error that dropped it. A chunk dropped without a word (the runtime shut down while
/// it waited) reports EPIPE, so the caller always hears back, exactly once.
pub struct Done(Option<Box<dyn FnOnce(Result<()>) + Send>>);

impl Done {
  /// `report` hears how the chunk ended.
  pub fn new(report: impl FnOnce(Result<()>) + Send + 'static) -> Done {
    Done(Some(Box::new(report)))
  }

  fn call(mut self, result: Result<()>) {
    if let Some(report) = self.0.take() {
      report(result);
    }
  }
}

impl Drop for Done {
  fn drop(&mut self) {
    if let Some(report) = self.0.take() {
      report(Err(broken_pipe()));
    }
  }
}

/// The error of a chunk that cannot reach the child: its stdin is closed.
fn broken_pipe() -> CoreError {
  CoreError::sys("write", None, io::Error::from_raw_os_error(libc::EPIPE))
}

/// One chunk JS handed over, not yet written.
struct Chunk {
  data: Vec<u8>,
  done: Done,
}

/// Why nothing more is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
  /// JS asked for EOF, and the queue was written.
  Ended,
  /// A write failed with this errno (EPIPE: the child closed its stdin).
  Failed(i32),
  /// The child exited, or its supervision ended.
  Gone,
}

impl Closed {
  fn error(self) -> CoreError {
    match self {
      Closed::Failed(errno) => CoreError::sys("write", None, io::Error::from_raw_os_error(errno)),
      Closed::Ended | Closed::Gone => broken_pipe(),
    }
  }
}

struct Queue {
  /// The write end while no writer holds it; `None` while one does, and once closed.
  fd: Option<OwnedFd>,
  /// Chunks waiting for the writer, oldest first. Empty whenever no writer runs.
  chunks: VecDeque<Chunk>,
  /// A writer task runs, and holds the descriptor.
  writing: bool,
  /// JS asked for EOF: the write end closes once the queue is written.
  ending: bool,
  /// Nothing more is written, and why.
  closed: Option<Closed>,
}

/// The write end of one child's stdin pipe.
///
/// Memory is bounded by JS: the core holds only the chunks JS has handed it and that are
/// not yet written, each until its [`Done`] is called. A Node `Writable` in front of
/// `writeStdin` holds the rest, one `_write` at a time, and tells its own writers to wait
/// (`write()` returns false past `highWaterMark`) until then; the JS side bounds it.
pub struct Stdin {
  queue: Mutex<Queue>,
  /// Wakes a writer waiting for room in the pipe when the child is gone.
  gone: Notify,
  runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Stdin {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let queue = lock(&self.queue);
    f.debug_struct("Stdin")
      .field("chunks", &queue.chunks.len())
      .field("writing", &queue.writing)
      .field("closed", &queue.closed)
      .finish()
  }
}

impl Stdin {
  /// Takes the write end (already non-blocking) of a child's stdin pipe. Call from inside
  /// the core's runtime: the writer runs there.
  pub fn open(fd: OwnedFd) -> Result<Arc<Stdin>> {
    let runtime = tokio::runtime::Handle::try_current()
      .map_err(|e| CoreError::Panic(format!("stdin opened outside the runtime: {e}")))?;
    Ok(Arc::new(Stdin {
      queue: Mutex::new(Queue {
        fd: Some(fd),
        chunks: VecDeque::new(),
        writing: false,
        ending: false,
        closed: None,
      }),
      gone: Notify::new(),
      runtime,
    }))
  }

  /// Queues `data` behind what waits already; `done` hears when it is all in the pipe, or
  /// why it was dropped. Never writes on the calling thread and never waits: a writer task
  /// is started when the queue was empty.
  pub fn write(self: &Arc<Self>, data: Vec<u8>, done: Done) {
    let mut queue = lock(&self.queue);
    if let Some(closed) = queue.closed {
      drop(queue);
      return done.call(Err(closed.error()));
    }
    if queue.ending {
      drop(queue);
      return done.call(Err(broken_pipe()));
    }
    queue.chunks.push_back(Chunk { data, done });
    if queue.writing {
      return;
    }
    // Not writing and not closed: the descriptor is here.
    let Some(fd) = queue.fd.take() else {
      let chunks = std::mem::take(&mut queue.chunks);
      queue.closed = Some(Closed::Gone);
      drop(queue);
      return fail(chunks, Closed::Gone);
    };
    queue.writing = true;
    drop(queue);
    self.runtime.spawn(write_out(Arc::clone(self), fd));
  }

  /// Closes the write end once what is queued has been written: the child sees EOF.
  /// Nothing to do when it is closed already.
  pub fn end(&self) {
    let fd = {
      let mut queue = lock(&self.queue);
      if queue.closed.is_some() || queue.ending {
        return;
      }
      queue.ending = true;
      if queue.writing {
        // The writer closes it after the last chunk.
        return;
      }
      queue.closed = Some(Closed::Ended);
      queue.fd.take()
    };
    drop(fd);
  }

  /// The child is gone (it exited, or its supervision ended): the write end closes now, and
  /// what waits is dropped with EPIPE. A writer waiting for room lets go of the descriptor.
  pub fn close(&self) {
    let (chunks, fd) = {
      let mut queue = lock(&self.queue);
      if queue.closed.is_none() {
        queue.closed = Some(Closed::Gone);
      }
      if queue.writing {
        // Stored as a permit if the writer is not waiting yet: it cannot miss it.
        self.gone.notify_one();
      }
      (std::mem::take(&mut queue.chunks), queue.fd.take())
    };
    drop(fd);
    fail(chunks, Closed::Gone);
  }

  /// Whether the write end is closed (for tests).
  #[cfg(test)]
  fn is_closed(&self) -> bool {
    lock(&self.queue).closed.is_some()
  }

  /// Whether no writer runs and nothing waits (for tests).
  #[cfg(test)]
  fn is_idle(&self) -> bool {
    let queue = lock(&self.queue);
    !queue.writing && queue.chunks.is_empty()
  }
}

fn fail(chunks: VecDeque<Chunk>, why: Closed) {
  for chunk in chunks {
    chunk.done.call(Err(why.error()));
  }
}

/// The writer: writes the queue out as the child reads, then gives the descriptor back
/// (or closes it, when JS asked for EOF) and ends.
async fn write_out(stdin: Arc<Stdin>, fd: OwnedFd) {
  // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open (and the same
  // descriptor) until it is dropped or taken back with `into_inner`.
  let io = match unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) } {
    Ok(io) => io,
    Err(e) => {
      // The descriptor could not be polled (out of memory): nothing can be written.
      let e: io::Error = e.into();
      let errno = e.raw_os_error().unwrap_or(libc::EIO);
      let chunks = {
        let mut queue = lock(&stdin.queue);
        queue.closed.get_or_insert(Closed::Failed(errno));
        queue.writing = false;
        std::mem::take(&mut queue.chunks)
      };
      return fail(chunks, Closed::Failed(errno));
    }
  };
  // The chunk being written, and how many of its bytes are in the pipe.
  let mut current: Option<(Chunk, usize)> = None;
  let mut burst = 0;
  loop {
    // What to write next: a chunk taken from the queue only when the last one is done, so
    // that `close()` finds every other waiting chunk there.
    {
      let mut queue = lock(&stdin.queue);
      if let Some(closed) = queue.closed {
        // `close()` took the queue; the chunk in hand goes the same way. The descriptor is
        // closed as `io` is dropped, after it is deregistered.
        queue.writing = false;
        drop(queue);
        if let Some((chunk, _)) = current {
          chunk.done.call(Err(closed.error()));
        }
        return;
      }
      if current.is_none() {
        match queue.chunks.pop_front() {
          Some(chunk) => current = Some((chunk, 0)),
          None => {
            queue.writing = false;
            if queue.ending {
              queue.closed = Some(Closed::Ended);
              // `io` is dropped below: the child sees EOF.
            } else {
              queue.fd = Some(io.into_inner());
            }
            return;
          }
        }
      }
    }
    let Some((chunk, written)) = current.as_mut() else {
      continue;
    };
    if *written == chunk.data.len() {
      if let Some((chunk, _)) = current.take() {
        chunk.done.call(Ok(()));
      }
      continue;
    }
    if burst >= BURST {
      burst = 0;
      tokio::task::yield_now().await;
      continue;
    }
    let rest = &chunk.data[*written..];
    let step = tokio::select! {
      biased;
      _ = stdin.gone.notified() => Step::Gone,
      guard = io.writable() => match guard {
        Ok(mut guard) => match guard.try_io(|io| nix::unistd::write(io.get_ref(), rest).map_err(io::Error::from)) {
          Ok(Ok(n)) => Step::Wrote(n),
          Ok(Err(e)) => Step::Failed(e),
          // The pipe is full: wait for the child to read.
          Err(_would_block) => Step::Full,
        },
        Err(e) => Step::Failed(e),
      },
    };
    match step {
      // The child is gone: the loop finds the queue closed.
      Step::Gone | Step::Full => {}
      Step::Wrote(n) => {
        *written += n;
        burst += n;
      }
      Step::Failed(e) if e.kind() == io::ErrorKind::Interrupted => {}
      Step::Failed(e) => {
        // EPIPE: the child closed its stdin (or exited while something else held it).
        let why = Closed::Failed(e.raw_os_error().unwrap_or(libc::EIO));
        let chunks = {
          let mut queue = lock(&stdin.queue);
          queue.closed.get_or_insert(why);
          queue.writing = false;
          std::mem::take(&mut queue.chunks)
        };
        if let Some((chunk, _)) = current.take() {
          chunk.done.call(Err(why.error()));
        }
        return fail(chunks, why);
      }
    }
  }
}

/// What one turn of the writer came to.
enum Step {
  /// `close()` woke it.
  Gone,
  /// The pipe had no room.
  Full,
  /// This many bytes went into the pipe.
  Wrote(usize),
  /// The write failed.
  Failed(io::Error),
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::io::Read;
  use std::sync::mpsc;
  use std::time::Duration;

  const WAIT: Duration = Duration::from_secs(10);

  /// A pipe whose write end is a `Stdin`, and its read end as a file.
  fn pipe() -> (Arc<Stdin>, std::fs::File) {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    nix::fcntl::fcntl(
      &write,
      nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    (Stdin::open(write).unwrap(), std::fs::File::from(read))
  }

  /// A `Done` that reports on `tx`, with `tag`.
  fn done(tx: &mpsc::Sender<(u32, Result<()>)>, tag: u32) -> Done {
    let tx = tx.clone();
    Done::new(move |result| {
      let _ = tx.send((tag, result));
    })
  }

  fn code(result: &Result<()>) -> Option<String> {
    result.as_ref().err().and_then(CoreError::code)
  }

  /// Waits (off the runtime's threads) until the writer has given the descriptor back.
  fn until_idle(stdin: &Stdin) {
    let until = std::time::Instant::now() + WAIT;
    while !stdin.is_idle() {
      assert!(std::time::Instant::now() < until, "the writer never ended");
      std::thread::sleep(Duration::from_millis(1));
    }
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn chunks_arrive_in_order_each_done_once_in_the_pipe_and_no_writer_stays() {
    let (stdin, mut read) = pipe();
    assert!(stdin.is_idle());
    let (tx, rx) = mpsc::channel();
    stdin.write(b"one\n".to_vec(), done(&tx, 1));
    stdin.write(b"two\n".to_vec(), done(&tx, 2));
    stdin.write(Vec::new(), done(&tx, 3));
    let results: Vec<_> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert_eq!(
      results.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
      [1, 2, 3]
    );
    let mut buf = [0u8; 8];
    read.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"one\ntwo\n");
    until_idle(&stdin);
    assert!(!stdin.is_closed(), "the child sees no EOF unless asked");
    // Once more, after the writer has ended: a new one starts.
    stdin.write(b"three\n".to_vec(), done(&tx, 4));
    assert!(rx.recv_timeout(WAIT).unwrap().1.is_ok());
    let mut buf = [0u8; 6];
    read.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"three\n");
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn end_closes_the_pipe_after_what_is_queued_and_later_writes_fail() {
    let (stdin, mut read) = pipe();
    let big = vec![b'x'; 1024 * 1024 + 3];
    let (tx, rx) = mpsc::channel();
    stdin.write(big.clone(), done(&tx, 1));
    stdin.end();
    let reader = std::thread::spawn(move || {
      let mut all = Vec::new();
      read.read_to_end(&mut all).unwrap();
      all
    });
    let (_, result) = rx.recv_timeout(WAIT).unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(reader.join().unwrap(), big, "every byte, then EOF");
    assert!(stdin.is_closed());
    stdin.write(b"late".to_vec(), done(&tx, 2));
    let (_, late) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(code(&late).as_deref(), Some("EPIPE"));
    stdin.end();
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn end_of_an_idle_stdin_closes_it_at_once() {
    let (stdin, mut read) = pipe();
    stdin.end();
    let mut all = Vec::new();
    assert_eq!(read.read_to_end(&mut all).unwrap(), 0);
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn a_reader_that_closes_fails_the_chunk_with_epipe() {
    let (stdin, read) = pipe();
    drop(read);
    let (tx, rx) = mpsc::channel();
    stdin.write(b"nobody reads".to_vec(), done(&tx, 1));
    let (_, result) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(code(&result).as_deref(), Some("EPIPE"));
    assert_eq!(
      result.unwrap_err().syscall(),
      Some("write"),
      "a Node-like error"
    );
    stdin.write(b"again".to_vec(), done(&tx, 2));
    assert_eq!(
      code(&rx.recv_timeout(WAIT).unwrap().1).as_deref(),
      Some("EPIPE")
    );
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn close_drops_what_waits_with_epipe_even_while_another_process_holds_the_reader() {
    // The reader stays open and never reads (a grandchild holding the child's stdin): the
    // writer waits for room, and only `close()` can end it.
    let (stdin, read) = pipe();
    let (tx, rx) = mpsc::channel();
    stdin.write(vec![0; 10 * 1024 * 1024], done(&tx, 1));
    stdin.write(b"after".to_vec(), done(&tx, 2));
    assert!(
      rx.recv_timeout(Duration::from_millis(100)).is_err(),
      "the pipe is full"
    );
    stdin.close();
    let mut results: Vec<_> = (0..2).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    results.sort_by_key(|(tag, _)| *tag);
    for (_, result) in &results {
      assert_eq!(code(result).as_deref(), Some("EPIPE"));
    }
    until_idle(&stdin);
    // The write end is closed: the reader gets what was in the pipe, then EOF.
    let mut rest = Vec::new();
    let mut read = read;
    read.read_to_end(&mut rest).unwrap();
    assert!(rest.len() < 10 * 1024 * 1024);
    stdin.write(b"late".to_vec(), done(&tx, 3));
    assert_eq!(
      code(&rx.recv_timeout(WAIT).unwrap().1).as_deref(),
      Some("EPIPE")
    );
  }

  #[test]
  fn a_chunk_dropped_unwritten_still_reports_epipe() {
    let (tx, rx) = mpsc::channel();
    drop(done(&tx, 1));
    let (_, result) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(code(&result).as_deref(), Some("EPIPE"));
  }
}
