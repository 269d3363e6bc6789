//! Node's IPC channel, spoken by the core: what `fork: true` gives the child.
//!
//! The child finds one end of a `socketpair` through `NODE_CHANNEL_FD`; the core keeps the
//! other as a [`Channel`]. In `json` mode a message is one line of JSON; in `advanced` mode
//! it is a big-endian `u32` length and a V8-serialised payload. Framing lives here, while
//! serialising and parsing stay in JS, so each message is encoded and decoded exactly once.
//!
//! Who drives the channel is chosen for latency. Incoming messages are read on the host's
//! own event loop (the binding polls the socket there and calls [`Channel::receive`]), so
//! a message costs one wake-up, as it does in Node's own IPC; a reader thread in between
//! would cost two. Outgoing messages are written straight from `send()`; only when the
//! child falls behind does a core task take over the backlog, so writes still progress
//! while JS is busy. While it does, that task also reads ahead ([`Channel::collect`]): a
//! JS thread busy sending is not reading, and a child that blocks writing its answers
//! would stop reading ours. A child that passes a handle (`NODE_HANDLE`) waits for an
//! acknowledgement before it sends anything else; [`Channel::receive`] sends it with the
//! read that found the handle, so such a child never stalls. (A plain `recv` on a unix
//! socket closes any descriptors that came along.)

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Weak};

use serde::Deserialize;
use tokio::io::unix::AsyncFd;
use tokio::io::{Interest, Ready};

use crate::error::{CoreError, Result};
use crate::health::{IpcSignals, Signals};
use crate::output::{read_chunk, CHUNK};
use crate::sync::lock;

/// Told when the backlog task has read messages ahead for a busy JS thread.
pub trait Wake: Send + Sync {
  /// Messages (or the channel's end) wait in `channel` for JS to take them.
  fn messages_waiting(&self, channel: &Arc<Channel>);
}

/// Bytes `send()` may queue for a child that does not read before sends fail.
const SEND_BACKLOG: usize = 16 * 1024 * 1024;
/// Bytes the backlog task writes per hold of the lock `send()` also takes.
const FLUSH_BURST: usize = 1024 * 1024;
/// Bytes one turn of the host's loop reads before other I/O gets its turn.
const TURN_BUDGET: usize = 256 * 1024;
/// Bytes read when draining an exited child's channel: more than its socket buffers hold,
/// so a drain gets what the child wrote, yet stops if something else keeps writing.
const DRAIN_BUDGET: usize = 8 * 1024 * 1024;
/// Bytes the backlog task reads ahead for a busy JS thread before it leaves the rest in
/// the socket.
const PENDING_LIMIT: usize = 16 * 1024 * 1024;
/// The largest message accepted from a child, in either mode: beyond it the child gets
/// `ERR_IPC_MESSAGE_TOO_LARGE` and its channel is closed, rather than the host's memory
/// growing with whatever it writes.
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;
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

/// How much one [`Channel::receive`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
  /// One turn of the host's loop: what has arrived, up to a fair share. The poll says when
  /// there is more.
  Turn,
  /// An exited child's channel: everything it holds, up to a bound.
  Drain,
}

/// What one [`Channel::receive`] found.
#[derive(Debug, Default)]
pub struct Received {
  /// Each serialised message (a JSON text, or a V8 payload), without framing, in order.
  pub items: Vec<Vec<u8>>,
  /// Set when the channel is done: nothing more will be read from it.
  pub end: Option<Ending>,
}

/// Why a channel stopped delivering.
#[derive(Debug)]
pub enum Ending {
  /// The child closed its end (or exited).
  Disconnected,
  /// The child broke the framing, or the socket failed.
  Failed(CoreError),
}

/// The core's end of one child's channel, shared by the supervisor, `send()` and the
/// reader on the host's loop. The socket closes when the last of them lets go.
pub struct Channel {
  fd: OwnedFd,
  mode: Serialization,
  outgoing: Mutex<Outgoing>,
  incoming: Mutex<Incoming>,
  runtime: tokio::runtime::Handle,
  /// Told when the backlog task has read messages ahead, so that JS takes them.
  wake: Weak<dyn Wake>,
  /// Health signals (`'ready'`, `'heartbeat'`) to pick out of the stream, for the task.
  tap: std::sync::OnceLock<Tap>,
}

/// Where the health signals of one child's channel go.
struct Tap {
  pid: u32,
  patterns: IpcSignals,
  signals: Arc<Signals>,
}

/// Frames the socket did not take at once, oldest first.
#[derive(Default)]
struct Outgoing {
  backlog: VecDeque<Vec<u8>>,
  /// Bytes of `backlog[0]` already written.
  offset: usize,
  queued: usize,
  /// The socket failed; later sends fail too.
  broken: bool,
}

struct Incoming {
  framer: Framer,
  /// The channel's end has been handed on; nothing more is read.
  done: bool,
  /// Messages the backlog task read ahead (see [`Channel::collect`]), oldest first.
  pending: Vec<Vec<u8>>,
  pending_bytes: usize,
  /// How the channel ended, when the backlog task found out first.
  held_end: Option<Ending>,
  /// JS has been told that messages wait (and has not taken them yet).
  woken: bool,
}

impl std::fmt::Debug for Channel {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("Channel")
      .field("fd", &self.fd.as_raw_fd())
      .field("mode", &self.mode)
      .finish()
  }
}

/// One non-blocking `send`, never raising SIGPIPE.
fn send_some(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
  // SAFETY: sends from the bytes of `bytes` on a socket the caller owns.
  let n = unsafe {
    libc::send(
      fd,
      bytes.as_ptr().cast(),
      bytes.len(),
      libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
    )
  };
  if n < 0 {
    Err(io::Error::last_os_error())
  } else {
    Ok(n as usize)
  }
}

impl Channel {
  /// Takes the core's end of a fresh channel. Call from inside the core's runtime: a
  /// backlog is written by a task spawned there.
  pub fn open(fd: OwnedFd, mode: Serialization, wake: Weak<dyn Wake>) -> Result<Arc<Channel>> {
    let runtime = tokio::runtime::Handle::try_current()
      .map_err(|e| CoreError::Panic(format!("IPC channel opened outside the runtime: {e}")))?;
    Ok(Arc::new(Channel {
      fd,
      mode,
      outgoing: Mutex::new(Outgoing::default()),
      incoming: Mutex::new(Incoming {
        framer: Framer::new(mode),
        done: false,
        pending: Vec::new(),
        pending_bytes: 0,
        held_end: None,
        woken: false,
      }),
      wake,
      runtime,
      tap: std::sync::OnceLock::new(),
    }))
  }

  /// Picks child `pid`'s health signals (`patterns`) out of its messages as they are
  /// framed, whoever reads them, and records them in `signals`. The messages still reach
  /// JS as any other.
  pub fn tap_signals(&self, pid: u32, patterns: IpcSignals, signals: Arc<Signals>) {
    let _ = self.tap.set(Tap {
      pid,
      patterns,
      signals,
    });
  }

  /// Reads what waits in the socket now, for a JS thread that may be busy: the health
  /// signals in it are recorded, and the messages kept for JS (up to the read-ahead bound).
  pub fn read_ahead(self: &Arc<Self>) {
    loop {
      let (more, wake) = self.collect();
      if wake {
        if let Some(wake) = self.wake.upgrade() {
          wake.messages_waiting(self);
        }
      }
      if !more {
        return;
      }
    }
  }

  /// Closes the channel both ways, as `ChildProcess#disconnect()`: the child reads the
  /// end (its `'disconnect'`), and so does the core's reader, which reports it. What was
  /// queued and not yet written is dropped, as Node drops it.
  pub fn disconnect(&self) {
    // SAFETY: shuts down a socket this channel owns; the descriptor stays open (and
    // owned) until the last holder of the channel lets go.
    unsafe {
      libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR);
    }
  }

  /// The socket, for polling it for readability.
  pub fn raw_fd(&self) -> RawFd {
    self.fd.as_raw_fd()
  }

  /// How messages are encoded.
  pub fn mode(&self) -> Serialization {
    self.mode
  }

  /// Queues one serialised message (a JSON text, or a V8 payload in `advanced` mode); the
  /// core adds the framing. Written at once when the socket takes it; otherwise kept for a
  /// core task that writes as the child reads. Never blocks; fails when the child has
  /// fallen too far behind.
  pub fn send(self: &Arc<Self>, mut payload: Vec<u8>) -> Result<()> {
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
    self.send_frame(frame, true)
  }

  /// Writes or queues one frame. `limited` frames (the caller's messages) are refused when
  /// they would not fit the backlog; acknowledgements always go, or a child waiting for one
  /// would never send again.
  fn send_frame(self: &Arc<Self>, frame: Vec<u8>, limited: bool) -> Result<()> {
    let mut out = lock(&self.outgoing);
    if out.broken {
      return Err(CoreError::ChannelClosed);
    }
    let mut written = 0;
    if out.backlog.is_empty() {
      // Nothing waits before this frame, so it goes straight to the socket: no thread
      // hand-off on the common path.
      match send_some(self.raw_fd(), &frame) {
        Ok(n) if n == frame.len() => return Ok(()),
        Ok(n) => written = n,
        Err(e)
          if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
          ) => {}
        Err(_) => {
          out.broken = true;
          return Err(CoreError::ChannelClosed);
        }
      }
    }
    // A message the socket has started taking must be finished; one it has not may be
    // refused.
    if limited && written == 0 && out.queued + frame.len() > SEND_BACKLOG {
      return Err(CoreError::IpcBacklog(SEND_BACKLOG));
    }
    let start_writer = out.backlog.is_empty();
    out.queued += frame.len() - written;
    out.backlog.push_back(frame);
    if start_writer {
      out.offset = written;
      drop(out);
      self.runtime.spawn(flush(Arc::clone(self)));
    }
    Ok(())
  }

  /// Reads what has arrived without waiting, as much as `reading` says, and cuts it into
  /// messages. Acknowledges passed handles as it finds them.
  pub fn receive(self: &Arc<Self>, reading: Reading) -> Received {
    let budget = match reading {
      Reading::Turn => TURN_BUDGET,
      Reading::Drain => DRAIN_BUDGET,
    };
    let mut guard = lock(&self.incoming);
    let incoming = &mut *guard;
    let mut received = Received::default();
    if incoming.done {
      return received;
    }
    // What was read ahead came first.
    received.items = std::mem::take(&mut incoming.pending);
    incoming.pending_bytes = 0;
    incoming.woken = false;
    let end = match incoming.held_end.take() {
      Some(end) => Some(end),
      None => {
        self
          .read_into(
            &mut incoming.framer,
            &mut received.items,
            budget,
            reading == Reading::Turn,
          )
          .1
      }
    };
    incoming.done = end.is_some();
    received.end = end;
    received
  }

  /// Reads ahead for a JS thread that is busy (the backlog task calls this while the child
  /// is behind): a child blocked writing to us would stop reading what we send, so its
  /// messages are taken off the socket and kept, up to a bound, until JS comes for them.
  /// Returns whether to read again at once (the budget ran out) and whether JS should be
  /// told that messages wait.
  fn collect(self: &Arc<Self>) -> (bool, bool) {
    let mut guard = lock(&self.incoming);
    let incoming = &mut *guard;
    if incoming.done || incoming.held_end.is_some() || incoming.pending_bytes >= PENDING_LIMIT {
      return (false, false);
    }
    let mut items = Vec::new();
    let (more, end) = self.read_into(&mut incoming.framer, &mut items, TURN_BUDGET, true);
    incoming.pending_bytes += items.iter().map(Vec::len).sum::<usize>();
    incoming.pending.append(&mut items);
    incoming.held_end = end;
    let waiting = !incoming.pending.is_empty() || incoming.held_end.is_some();
    let wake = waiting && !incoming.woken;
    incoming.woken |= wake;
    (more && incoming.held_end.is_none(), wake)
  }

  /// Reads and frames up to `budget` bytes (stopping at a short read with `stop_short`).
  /// Returns whether the budget ran out, and how the channel ended if it did.
  fn read_into(
    self: &Arc<Self>,
    framer: &mut Framer,
    items: &mut Vec<Vec<u8>>,
    budget: usize,
    stop_short: bool,
  ) -> (bool, Option<Ending>) {
    let mut taken = 0;
    loop {
      if taken >= budget {
        return (true, None);
      }
      let read = read_chunk(|buf| {
        // SAFETY: receives into `buf`, at most its length, from the channel's own socket.
        let n = unsafe {
          libc::recv(
            self.raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
          )
        };
        if n < 0 {
          Err(io::Error::last_os_error())
        } else {
          Ok(n as usize)
        }
      });
      match read {
        Ok(chunk) if chunk.is_empty() => return (false, Some(Ending::Disconnected)),
        Ok(chunk) => {
          taken += chunk.len();
          let short = chunk.len() < CHUNK;
          if let Err(error) = self.frame(framer, &chunk, items) {
            // The stream cannot be followed past a bad frame: close the channel both ways,
            // so that the child sees it closed instead of writing into a socket nobody reads.
            // SAFETY: shuts down our own socket; it stays open until the channel is dropped.
            unsafe { libc::shutdown(self.raw_fd(), libc::SHUT_RDWR) };
            lock(&self.outgoing).fail();
            return (false, Some(Ending::Failed(error)));
          }
          // A short read emptied the socket: the poll says when there is more, which spares
          // a `recv` that would only say "nothing yet". A drain reads on to be sure.
          if short && stop_short {
            return (false, None);
          }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (false, None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
          return (false, Some(Ending::Disconnected))
        }
        Err(e) => {
          return (
            false,
            Some(Ending::Failed(CoreError::sys(
              "read",
              Some(format!("IPC channel fd {}", self.raw_fd())),
              e,
            ))),
          )
        }
      }
    }
  }

  /// Cuts `chunk` into messages, acknowledging passed handles at once.
  fn frame(
    self: &Arc<Self>,
    framer: &mut Framer,
    chunk: &[u8],
    items: &mut Vec<Vec<u8>>,
  ) -> Result<()> {
    let tap = self.tap.get();
    for message in framer.push(chunk) {
      let payload = message?;
      if self.mode == Serialization::Json && payload.starts_with(HANDLE_PREFIX) {
        let _ = self.send_frame(HANDLE_ACK.to_vec(), false);
      }
      if let Some(tap) = tap {
        if let Some(signal) = tap.patterns.classify(&payload) {
          tap.signals.record(tap.pid, signal);
        }
      }
      items.push(payload);
    }
    Ok(())
  }
}

/// Writes a channel's backlog as the child makes room, then ends: the socket is watched
/// for writability only while something waits, so a child reading our messages wakes no
/// core thread.
async fn flush(channel: Arc<Channel>) {
  let owner = Arc::clone(&channel);
  let interest = Interest::WRITABLE | Interest::READABLE;
  // SAFETY: the registration holds the channel, which owns the descriptor and closes it
  // only when dropped.
  let io = match unsafe { AsyncFd::register_with_interest(Registered(channel), interest) } {
    Ok(io) => io,
    Err(_) => return lock(&owner.outgoing).fail(),
  };
  loop {
    let mut ready = match io.ready(interest).await {
      Ok(ready) => ready,
      Err(_) => return lock(&owner.outgoing).fail(),
    };
    if ready.ready().is_readable() || ready.ready().is_read_closed() {
      let (more, wake) = owner.collect();
      if wake {
        if let Some(wake) = owner.wake.upgrade() {
          wake.messages_waiting(&owner);
        }
      }
      if !more {
        ready.clear_ready_matching(Ready::READABLE | Ready::READ_CLOSED);
      }
    }
    if !ready.ready().is_writable() && !ready.ready().is_write_closed() {
      continue;
    }
    let mut out = lock(&owner.outgoing);
    let mut burst = 0;
    while burst < FLUSH_BURST {
      let Some(front) = out.backlog.front() else {
        // Deregistered before `send()` can see the empty backlog: the task it may start
        // next registers the same socket afresh.
        drop(ready);
        drop(io);
        return;
      };
      match send_some(owner.raw_fd(), &front[out.offset..]) {
        Ok(n) => {
          let done = out.offset + n == front.len();
          out.queued -= n;
          burst += n;
          if done {
            out.backlog.pop_front();
            out.offset = 0;
          } else {
            out.offset += n;
          }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
          ready.clear_ready_matching(Ready::WRITABLE);
          break;
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(_) => return out.fail(),
      }
    }
  }
}

/// A channel's socket as the core's reactor sees it: kept open by the channel it belongs
/// to.
struct Registered(Arc<Channel>);

impl AsRawFd for Registered {
  fn as_raw_fd(&self) -> RawFd {
    self.0.raw_fd()
  }
}

impl Outgoing {
  /// The child is gone or the socket broke: what waits is dropped, later sends fail.
  fn fail(&mut self) {
    self.broken = true;
    self.backlog.clear();
    self.offset = 0;
    self.queued = 0;
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

  /// Adds `bytes` and takes out the messages they complete. Linear in the bytes pushed,
  /// however large a message is or however many arrive at once.
  fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>>> {
    let from = self.buf.len();
    self.buf.extend_from_slice(bytes);
    let mut out = Vec::new();
    match self.mode {
      Serialization::Json => {
        // Earlier bytes hold no newline: they were cut up to their last one.
        if let Some(last) = self.buf[from..].iter().rposition(|&b| b == b'\n') {
          let rest = self.buf.split_off(from + last + 1);
          let complete = std::mem::replace(&mut self.buf, rest);
          for line in complete.split(|&b| b == b'\n') {
            if line.len() > MAX_MESSAGE {
              out.push(Err(CoreError::MessageTooLarge(MAX_MESSAGE)));
              return out;
            }
            if !line.is_empty() {
              out.push(Ok(line.to_vec()));
            }
          }
        }
        // A message still without its newline may not grow past the bound either.
        if self.buf.len() > MAX_MESSAGE {
          self.buf = Vec::new();
          out.push(Err(CoreError::MessageTooLarge(MAX_MESSAGE)));
        }
      }
      Serialization::Advanced => {
        let mut at = 0;
        while let Some(header) = self.buf.get(at..at + 4) {
          let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
          if len > MAX_MESSAGE {
            self.buf.clear();
            out.push(Err(CoreError::MessageTooLarge(MAX_MESSAGE)));
            return out;
          }
          let Some(frame) = self.buf.get(at + 4..at + 4 + len) else {
            break;
          };
          out.push(Ok(frame.to_vec()));
          at += 4 + len;
        }
        self.buf.drain(..at);
      }
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
  fn a_message_in_many_pieces_and_many_messages_in_one_piece() {
    let mut f = Framer::new(Serialization::Json);
    let big = format!("\"{}\"", "x".repeat(100_000));
    for piece in big.as_bytes().chunks(1000) {
      assert!(f.push(piece).is_empty());
    }
    assert_eq!(payloads(f.push(b"\n")), [big]);

    let mut f = Framer::new(Serialization::Advanced);
    let mut bytes = Vec::new();
    for i in 0..1000u32 {
      let payload = i.to_string();
      bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
      bytes.extend_from_slice(payload.as_bytes());
    }
    let (all_but_two, tail) = bytes.split_at(bytes.len() - 2);
    let got = payloads(f.push(all_but_two));
    assert_eq!(got.len(), 999);
    assert_eq!(got[998], "998");
    assert_eq!(payloads(f.push(tail)), ["999"]);
  }

  #[test]
  fn a_json_message_without_end_is_cut_off_at_the_bound() {
    let mut f = Framer::new(Serialization::Json);
    let piece = vec![b'x'; 1 << 20];
    let mut failed = false;
    for _ in 0..=MAX_MESSAGE >> 20 {
      let out = f.push(&piece);
      if let [Err(CoreError::MessageTooLarge(limit))] = out.as_slice() {
        assert_eq!(*limit, MAX_MESSAGE);
        failed = true;
        break;
      }
      assert!(out.is_empty());
    }
    assert!(failed, "a message over the bound is refused");
    assert!(f.buf.capacity() < 1 << 20, "its bytes are let go");
  }

  #[test]
  fn an_absurd_frame_length_is_an_error() {
    let mut f = Framer::new(Serialization::Advanced);
    let out = f.push(&u32::MAX.to_be_bytes());
    assert!(matches!(out.as_slice(), [Err(_)]));
  }
}
