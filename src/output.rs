//! Output pumping: the child's stdout/stderr pipes, read in the core and fanned out to the
//! host's own stdout/stderr (`silent: false`) and to JS listeners (`'stdout'`/`'stderr'`).
//!
//! Bytes cross into JS only while a listener is attached ([`Taps`]), and the bytes in
//! flight to JS are bounded by a [`Gate`]: when JS falls behind, the pump stops reading and
//! the pipe pushes back on the child instead of the host's memory growing. When the child
//! exits, [`Pump::finish`] reads what is left in the pipe without waiting for JS, so every
//! byte the child wrote is handed on before the exit is reported, and a grandchild that
//! keeps the pipe open cannot hold the exit report back.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::logs::LogWriter;
use crate::supervisor::{Event, EventSink};

/// Bytes read from a pipe in one go.
pub const CHUNK: usize = 256 * 1024;
/// Bytes allowed in flight to JS before the pump stops reading.
const JS_BACKLOG: usize = 8 * 1024 * 1024;

/// One of the child's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
  /// fd 1.
  Stdout,
  /// fd 2.
  Stderr,
}

impl Stream {
  fn host_fd(self) -> RawFd {
    match self {
      Stream::Stdout => 1,
      Stream::Stderr => 2,
    }
  }
}

/// Whether JS listens to each stream; set from the JS thread, read by the pumps.
#[derive(Debug, Default)]
pub struct Taps {
  stdout: AtomicBool,
  stderr: AtomicBool,
}

impl Taps {
  /// Records whether anyone listens to `stream`.
  pub fn set(&self, stream: Stream, on: bool) {
    self.flag(stream).store(on, Ordering::Release);
  }

  /// Whether anyone listens to `stream`.
  pub fn get(&self, stream: Stream) -> bool {
    self.flag(stream).load(Ordering::Acquire)
  }

  fn flag(&self, stream: Stream) -> &AtomicBool {
    match stream {
      Stream::Stdout => &self.stdout,
      Stream::Stderr => &self.stderr,
    }
  }
}

/// Bounds the bytes queued for JS; each chunk holds a [`Credit`] until JS has taken it.
#[derive(Debug, Default)]
pub struct Gate {
  in_flight: AtomicUsize,
  freed: Notify,
}

impl Gate {
  fn take(self: &Arc<Self>, len: usize) -> Credit {
    self.in_flight.fetch_add(len, Ordering::AcqRel);
    Credit {
      gate: Arc::clone(self),
      len,
    }
  }

  async fn wait_for_room(&self) {
    loop {
      let freed = self.freed.notified();
      tokio::pin!(freed);
      freed.as_mut().enable();
      if self.in_flight.load(Ordering::Acquire) < JS_BACKLOG {
        return;
      }
      freed.await;
    }
  }
}

/// A chunk's claim on the [`Gate`]; dropping it (once JS has the bytes) frees the room.
#[derive(Debug)]
pub struct Credit {
  gate: Arc<Gate>,
  len: usize,
}

impl Drop for Credit {
  fn drop(&mut self) {
    self.gate.in_flight.fetch_sub(self.len, Ordering::AcqRel);
    self.gate.freed.notify_waiters();
  }
}

/// Where one monitor's output goes.
pub struct Outputs {
  /// Copy to the host's stdout/stderr (`silent: false`).
  pub to_host: bool,
  /// JS listener flags.
  pub taps: Arc<Taps>,
  /// Backlog bound for JS.
  pub gate: Arc<Gate>,
  /// The log files, if any.
  pub logs: Option<Arc<LogWriter>>,
}

impl Outputs {
  async fn deliver(&self, stream: Stream, data: Vec<u8>, sink: &Weak<dyn EventSink>) {
    let js = if self.taps.get(stream) {
      sink.upgrade()
    } else {
      None
    };
    // Each destination takes its own copy, except the last one, which takes the chunk.
    let mut wanted = usize::from(self.to_host) + usize::from(self.logs.is_some());
    wanted += usize::from(js.is_some());
    let mut data = Some(data);
    let mut next = move || {
      wanted -= 1;
      if wanted == 0 {
        data.take().unwrap_or_default()
      } else {
        data.clone().unwrap_or_default()
      }
    };
    if self.to_host {
      host_writer(stream).write(next()).await;
    }
    if let Some(logs) = &self.logs {
      logs.write(stream, next(), sink.clone()).await;
    }
    if let Some(sink) = js {
      let data = next();
      let credit = self.gate.take(data.len());
      sink.emit(Event::Output {
        stream,
        data,
        credit,
      });
    }
  }
}

/// Reads once into a per-thread scratch buffer and returns exactly the bytes read, so that
/// an idle pipe costs no buffer of its own (hundreds of monitors mostly sit idle).
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

/// Waits until the host's stdout and stderr have written everything handed to them.
pub async fn flush_host() {
  host_writer(Stream::Stdout).flush().await;
  host_writer(Stream::Stderr).flush().await;
}

/// A running pump for one pipe.
pub struct Pump {
  exited: oneshot::Sender<()>,
  task: JoinHandle<Option<pipe::Receiver>>,
  stream: Stream,
  outputs: Arc<Outputs>,
  sink: Weak<dyn EventSink>,
}

impl Pump {
  /// Starts pumping `pipe` into `outputs`.
  pub fn start(
    pipe: pipe::Receiver,
    stream: Stream,
    outputs: Arc<Outputs>,
    sink: Weak<dyn EventSink>,
  ) -> Pump {
    let (exited, on_exit) = oneshot::channel();
    let task = tokio::spawn(run(
      pipe,
      stream,
      Arc::clone(&outputs),
      sink.clone(),
      async move {
        let _ = on_exit.await;
      },
    ));
    Pump {
      exited,
      task,
      stream,
      outputs,
      sink,
    }
  }

  /// The child has exited: hands on what is left in the pipe, then returns. If something
  /// else (a grandchild) still holds the pipe open, its later output keeps flowing from a
  /// background task until the pipe closes.
  pub async fn finish(self) {
    let _ = self.exited.send(());
    if let Ok(Some(pipe)) = self.task.await {
      tokio::spawn(run(
        pipe,
        self.stream,
        self.outputs,
        self.sink,
        std::future::pending(),
      ));
    }
  }
}

async fn run(
  pipe: pipe::Receiver,
  stream: Stream,
  outputs: Arc<Outputs>,
  sink: Weak<dyn EventSink>,
  exited: impl std::future::Future<Output = ()>,
) -> Option<pipe::Receiver> {
  tokio::pin!(exited);
  let mut hot = false;
  loop {
    tokio::select! {
      biased;
      _ = &mut exited => break,
      _ = outputs.gate.wait_for_room() => {}
    }
    tokio::select! {
      biased;
      _ = &mut exited => break,
      ready = pipe.readable() => {
        if ready.is_err() {
          return None;
        }
        match read(&pipe, hot) {
          Ok(data) if data.is_empty() => return None,
          Ok(data) => {
            hot = data.len() >= CHUNK / 2;
            outputs.deliver(stream, data, &sink).await
          }
          Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
          Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
          Err(_) => return None,
        }
      }
    }
  }
  // The child is gone, so the pipe holds a bounded remainder: take all of it now,
  // whatever JS's backlog.
  loop {
    match read(&pipe, true) {
      Ok(data) if data.is_empty() => return None,
      Ok(data) => outputs.deliver(stream, data, &sink).await,
      Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
      Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(pipe),
      Err(_) => return None,
    }
  }
}

/// One read from a child's pipe. A pipe that keeps filling whole chunks is read straight
/// into a chunk of its own (no copy out of the scratch buffer: that is a third of the CPU of
/// a chatty child); a quiet one goes through the shared scratch buffer.
fn read(pipe: &pipe::Receiver, hot: bool) -> io::Result<Vec<u8>> {
  if hot {
    let mut chunk = Vec::with_capacity(CHUNK);
    pipe.try_read_buf(&mut chunk)?;
    Ok(chunk)
  } else {
    read_chunk(|buf| pipe.try_read(buf))
  }
}

enum HostWrite {
  Data(Vec<u8>),
  Flush(oneshot::Sender<()>),
}

/// The host's own stdout or stderr, written by a dedicated thread: the descriptor may be a
/// slow or blocking pipe, and runtime workers must never block on it.
pub struct HostWriter {
  tx: mpsc::Sender<HostWrite>,
}

impl HostWriter {
  fn spawn(fd: RawFd) -> HostWriter {
    let (tx, mut rx) = mpsc::channel::<HostWrite>(64);
    let started = std::thread::Builder::new()
      .name(format!("forever-host-fd{fd}"))
      .spawn(move || {
        while let Some(msg) = rx.blocking_recv() {
          match msg {
            HostWrite::Data(data) => write_all(fd, &data),
            HostWrite::Flush(done) => {
              let _ = done.send(());
            }
          }
        }
      });
    if started.is_err() {
      // No thread, no host copy: the receiver is gone, so writes below become no-ops.
    }
    HostWriter { tx }
  }

  async fn write(&self, data: Vec<u8>) {
    let _ = self.tx.send(HostWrite::Data(data)).await;
  }

  async fn flush(&self) {
    let (done, wait) = oneshot::channel();
    if self.tx.send(HostWrite::Flush(done)).await.is_ok() {
      let _ = wait.await;
    }
  }
}

fn host_writer(stream: Stream) -> &'static HostWriter {
  static STDOUT: OnceLock<HostWriter> = OnceLock::new();
  static STDERR: OnceLock<HostWriter> = OnceLock::new();
  let cell = match stream {
    Stream::Stdout => &STDOUT,
    Stream::Stderr => &STDERR,
  };
  cell.get_or_init(|| HostWriter::spawn(stream.host_fd()))
}

/// Writes all of `data` to `fd`, waiting out `EAGAIN` (Node may have made the descriptor
/// non-blocking). Gives up silently when the host's stream is closed.
fn write_all(fd: RawFd, mut data: &[u8]) {
  while !data.is_empty() {
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
        unsafe { libc::poll(&mut pfd, 1, 1000) };
      }
      _ => return,
    }
  }
}
