//! Node's IPC channel, spoken by the core: what `fork: true` gives the child.
//!
//! The child finds one end of a `socketpair` through `NODE_CHANNEL_FD`; the core keeps the
//! other. In `json` mode a message is one line of JSON; in `advanced` mode it is a
//! big-endian `u32` length and a V8-serialised payload. Framing lives here, while
//! serialising and parsing stay in JS, so each message is encoded and decoded exactly once.
//! A child that passes a handle (`NODE_HANDLE`) waits for an acknowledgement before it
//! sends anything else; the core sends it at once, so such a child never stalls even while
//! JS is busy. (A plain `read` of a unix socket closes any descriptors that came along.)

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::Deserialize;
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{CoreError, Result};
use crate::output::read_chunk;
use crate::supervisor::{Event, EventSink};

/// Bytes `send()` may queue for a child that does not read before sends fail.
const SEND_BACKLOG: usize = 16 * 1024 * 1024;
/// The largest `advanced` frame accepted from a child.
const MAX_FRAME: usize = 1 << 30;
const HANDLE_PREFIX: &[u8] = b"{\"cmd\":\"NODE_HANDLE\"";
const HANDLE_ACK: &[u8] = b"{\"cmd\":\"NODE_HANDLE_ACK\"}\n";

/// How messages are encoded on the channel (Node's `serialization` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Serialization {
  /// One JSON text per line.
  #[default]
  Json,
  /// Length-prefixed V8 serialisation.
  Advanced,
}

impl Serialization {
  /// The value of `NODE_CHANNEL_SERIALIZATION_MODE`.
  pub fn env_value(self) -> &'static str {
    match self {
      Serialization::Json => "json",
      Serialization::Advanced => "advanced",
    }
  }
}

/// A fresh channel: the core's end and the end the child inherits.
pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
  socketpair(
    AddressFamily::Unix,
    SockType::Stream,
    None,
    SockFlag::SOCK_CLOEXEC,
  )
  .map_err(|e| CoreError::sys("socketpair", None, io::Error::from(e)))
}

/// Sends on one child's channel. Shared by JS (`send()`, called on the JS thread, never
/// waiting for the supervisor task) and the reader (acknowledgements).
pub struct Sender {
  fd: Arc<UnixStream>,
  outgoing: mpsc::UnboundedSender<Vec<u8>>,
  queued: Arc<AtomicUsize>,
  mode: Serialization,
  order: Mutex<()>,
}

impl Sender {
  /// Queues one serialised message (a JSON text, or a V8 payload in `advanced` mode); the
  /// core adds the framing. Written at once when the socket takes it; otherwise queued for
  /// the writer task. Never blocks; fails when the child has fallen too far behind.
  pub fn send(&self, mut payload: Vec<u8>) -> Result<()> {
    let frame = match self.mode {
      Serialization::Json => {
        if payload.is_empty() || payload.contains(&b'\n') {
          // An empty line or a raw newline would crash the child's parser.
          return Err(CoreError::InvalidOption(
            "an IPC message must be one non-empty line of JSON".to_string(),
          ));
        }
        payload.push(b'\n');
        payload
      }
      Serialization::Advanced => {
        let len = u32::try_from(payload.len())
          .map_err(|_| CoreError::InvalidOption("an IPC message over 4 GiB".to_string()))?;
        let mut frame = Vec::with_capacity(payload.len() + 4);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
      }
    };
    self.send_frame(frame)
  }

  fn send_frame(&self, frame: Vec<u8>) -> Result<()> {
    let _order = self.order.lock().unwrap_or_else(|p| p.into_inner());
    let mut written = 0;
    if self.queued.load(Ordering::Acquire) == 0 {
      // Nothing waits before this frame, so it may go straight to the socket: no thread
      // hand-off on the common path.
      let n = unsafe {
        libc::send(
          self.fd.as_raw_fd(),
          frame.as_ptr().cast(),
          frame.len(),
          libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
      };
      if n >= 0 {
        written = n as usize;
      } else {
        let e = io::Error::last_os_error();
        match e.kind() {
          io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
          _ => return Err(CoreError::ChannelClosed),
        }
      }
      if written == frame.len() {
        return Ok(());
      }
    }
    let rest = frame.len() - written;
    if written == 0 && self.queued.load(Ordering::Acquire) + rest > SEND_BACKLOG {
      return Err(CoreError::IpcBacklog(SEND_BACKLOG));
    }
    self.queued.fetch_add(rest, Ordering::AcqRel);
    let tail = if written == 0 {
      frame
    } else {
      frame[written..].to_vec()
    };
    self
      .outgoing
      .send(tail)
      .map_err(|_| CoreError::ChannelClosed)
  }
}

/// The core's side of one child's channel.
pub struct Link {
  sender: Arc<Sender>,
  exited: oneshot::Sender<()>,
  reader: JoinHandle<()>,
  writer: JoinHandle<()>,
}

impl Link {
  /// Starts reading and writing the core's end of a channel.
  pub fn start(fd: OwnedFd, mode: Serialization, sink: Weak<dyn EventSink>) -> Result<Link> {
    let std = std::os::unix::net::UnixStream::from(fd);
    std
      .set_nonblocking(true)
      .map_err(|e| CoreError::sys("ipc", None, e))?;
    let stream = Arc::new(UnixStream::from_std(std).map_err(|e| CoreError::sys("ipc", None, e))?);
    let (outgoing, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = Arc::new(Sender {
      fd: Arc::clone(&stream),
      outgoing,
      queued: Arc::clone(&queued),
      mode,
      order: Mutex::new(()),
    });
    let (exited, on_exit) = oneshot::channel();
    let writer = tokio::spawn(write_loop(Arc::clone(&stream), rx, queued));
    let reader = tokio::spawn(read_loop(stream, mode, sink, Arc::clone(&sender), on_exit));
    Ok(Link {
      sender,
      exited,
      reader,
      writer,
    })
  }

  /// The sending half, for JS.
  pub fn sender(&self) -> Arc<Sender> {
    Arc::clone(&self.sender)
  }

  /// The child has exited: hands on the messages it managed to send, then closes the
  /// channel.
  pub async fn finish(self) {
    let _ = self.exited.send(());
    let _ = self.reader.await;
    self.writer.abort();
  }
}

async fn write_loop(
  stream: Arc<UnixStream>,
  mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
  queued: Arc<AtomicUsize>,
) {
  while let Some(frame) = rx.recv().await {
    let len = frame.len();
    let mut rest = &frame[..];
    while !rest.is_empty() {
      if stream.writable().await.is_err() {
        return;
      }
      match stream.try_write(rest) {
        Ok(n) => rest = &rest[n..],
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(_) => return,
      }
    }
    queued.fetch_sub(len, Ordering::AcqRel);
  }
}

async fn read_loop(
  stream: Arc<UnixStream>,
  mode: Serialization,
  sink: Weak<dyn EventSink>,
  acks: Arc<Sender>,
  exited: oneshot::Receiver<()>,
) {
  let mut framer = Framer::new(mode);
  tokio::pin!(exited);
  let mut draining = false;
  loop {
    let read = if draining {
      read_chunk(|buf| stream.try_read(buf))
    } else {
      tokio::select! {
        biased;
        _ = &mut exited => {
          draining = true;
          continue;
        }
        ready = stream.ready(Interest::READABLE) => match ready {
          Ok(_) => read_chunk(|buf| stream.try_read(buf)),
          Err(e) => Err(e),
        },
      }
    };
    match read {
      Ok(chunk) if chunk.is_empty() => {
        emit(&sink, Event::Disconnect);
        return;
      }
      Ok(chunk) => {
        let mut items = Vec::new();
        for message in framer.push(&chunk) {
          match message {
            Ok(payload) => {
              if mode == Serialization::Json && payload.starts_with(HANDLE_PREFIX) {
                let _ = acks.send_frame(HANDLE_ACK.to_vec());
              }
              items.push(payload);
            }
            Err(error) => {
              emit(&sink, Event::Error(error));
              return;
            }
          }
        }
        // One event for all the messages of one read: pipelined messages cross into JS
        // together.
        if !items.is_empty() {
          emit(&sink, Event::Messages { mode, items });
        }
      }
      Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
        if draining {
          return;
        }
      }
      Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
      Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
        emit(&sink, Event::Disconnect);
        return;
      }
      Err(e) => {
        emit(
          &sink,
          Event::Error(CoreError::sys(
            "read",
            Some(format!("IPC channel fd {}", stream.as_raw_fd())),
            e,
          )),
        );
        return;
      }
    }
  }
}

fn emit(sink: &Weak<dyn EventSink>, event: Event) {
  if let Some(sink) = sink.upgrade() {
    sink.emit(event);
  }
}

/// Cuts the byte stream into messages.
struct Framer {
  mode: Serialization,
  buf: Vec<u8>,
}

impl Framer {
  fn new(mode: Serialization) -> Framer {
    Framer {
      mode,
      buf: Vec::new(),
    }
  }

  fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>>> {
    self.buf.extend_from_slice(bytes);
    let mut out = Vec::new();
    match self.mode {
      Serialization::Json => {
        let Some(last) = self.buf.iter().rposition(|&b| b == b'\n') else {
          return out;
        };
        let rest = self.buf.split_off(last + 1);
        let complete = std::mem::replace(&mut self.buf, rest);
        for line in complete.split(|&b| b == b'\n') {
          if !line.is_empty() {
            out.push(Ok(line.to_vec()));
          }
        }
      }
      Serialization::Advanced => loop {
        if self.buf.len() < 4 {
          break;
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME {
          self.buf.clear();
          out.push(Err(CoreError::InvalidOption(format!(
            "the child sent an IPC frame of {len} bytes (more than {MAX_FRAME})"
          ))));
          break;
        }
        if self.buf.len() < 4 + len {
          break;
        }
        let rest = self.buf.split_off(4 + len);
        let mut frame = std::mem::replace(&mut self.buf, rest);
        frame.drain(..4);
        out.push(Ok(frame));
      },
    }
    out
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn payloads(results: Vec<Result<Vec<u8>>>) -> Vec<String> {
    results
      .into_iter()
      .map(|r| String::from_utf8(r.unwrap()).unwrap())
      .collect()
  }

  #[test]
  fn json_lines_are_split_and_partial_tails_kept() {
    let mut f = Framer::new(Serialization::Json);
    assert!(f.push(b"{\"a\":").is_empty());
    assert_eq!(
      payloads(f.push(b"1}\n{\"b\":2}\n{\"c\"")),
      ["{\"a\":1}", "{\"b\":2}"]
    );
    assert_eq!(payloads(f.push(b":3}\n\n")), ["{\"c\":3}"]);
  }

  #[test]
  fn advanced_frames_are_length_prefixed() {
    let mut f = Framer::new(Serialization::Advanced);
    let mut bytes = Vec::new();
    for payload in [&b"hello"[..], b"", b"world!"] {
      bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
      bytes.extend_from_slice(payload);
    }
    let (a, b) = bytes.split_at(7);
    assert!(f.push(a).is_empty());
    assert_eq!(payloads(f.push(b)), ["hello", "", "world!"]);
  }

  #[test]
  fn an_absurd_frame_length_is_an_error() {
    let mut f = Framer::new(Serialization::Advanced);
    let out = f.push(&u32::MAX.to_be_bytes());
    assert!(matches!(out.as_slice(), [Err(_)]));
  }
}
