//! The outbox: one supervision run's events and output, handed to JS in the order they
//! happened.
//!
//! The supervisor never waits for it. When a child exits, the supervisor records where
//! that child's output ends in each stream (its *marks*) and hands the exit report over
//! with them; the outbox holds the report until every destination has those bytes — JS
//! listeners, the host's stdout/stderr, the log files (unfinished last lines included) —
//! so that `'exit'` still comes after the last byte, while the next child already runs.
//! Output that arrives meanwhile from the next child is held back (within the JS budget)
//! until the report has gone. Only JS may hold a report for long: JS that does not run
//! cannot see it anyway. A host stdout or log disk that stops moving for [`STALL`] no
//! longer holds reports back; their bytes follow later, in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::error::CoreError;
use crate::ipc::{Channel, Wake};
use crate::logs::LogSink;
use crate::output::{Budget, Destination, HostPort, Reservation, Stream, Taps};
use crate::sync::lock;

use super::events::{Event, EventSink};

/// Bytes of output that may wait for JS, per supervision run.
pub const JS_BACKLOG: usize = 8 * 1024 * 1024;
/// A destination with bytes waiting that has written nothing for this long is stalled,
/// and no longer holds reports back.
pub const STALL: Duration = Duration::from_millis(500);
/// How often a held report is looked at again while nothing else happens.
const TICK: Duration = Duration::from_millis(100);

struct Pending {
  /// `None` while its place is held for an event not known yet (see [`Outbox::hold`]).
  event: Option<Event>,
  /// Where the exited child's output ends, per stream; `None` for an event that only
  /// waits for the ones before it.
  marks: Option<[u64; 2]>,
  id: u64,
}

/// A place held in the outbox for an event to come.
#[derive(Debug)]
pub struct Place(u64);

/// Bytes for JS that came after the first held report's marks.
struct Held {
  end: u64,
  data: Vec<u8>,
  credit: Reservation,
}

struct Inner {
  sink: Option<Arc<dyn EventSink>>,
  pending: VecDeque<Pending>,
  held: [VecDeque<Held>; 2],
  /// Bytes of each stream seen so far (sent, held, or dropped for want of a listener).
  received: [u64; 2],
  /// The run is over: the sink goes once everything pending has been handed on.
  closing: bool,
  ticking: bool,
  ids: u64,
  /// [`Cork`]s alive: while any is, what would go to the sink waits in `corked`.
  corks: u32,
  corked: Vec<Event>,
}

impl Inner {
  fn next_id(&mut self) -> u64 {
    self.ids += 1;
    self.ids
  }

  /// Lets the sink go once the run is over and nothing is left for it.
  fn settle_sink(&mut self) {
    if self.closing && self.pending.is_empty() && self.corks == 0 && self.corked.is_empty() {
      self.sink = None;
    }
  }
}

/// Holds a run's events back while it lives, and hands them to the sink, in order, when
/// it goes (see [`Outbox::cork`]).
pub struct Cork(Arc<Outbox>);

impl Drop for Cork {
  fn drop(&mut self) {
    let mut inner = lock(&self.0.inner);
    inner.corks -= 1;
    if inner.corks == 0 {
      let events = std::mem::take(&mut inner.corked);
      if let Some(sink) = &inner.sink {
        for event in events {
          sink.emit(event);
        }
      }
      inner.settle_sink();
    }
  }
}

/// One supervision run's way to JS.
pub struct Outbox {
  inner: Mutex<Inner>,
  taps: Arc<Taps>,
  budget: Arc<Budget>,
  host: Option<Arc<HostPort>>,
  logs: Option<Arc<LogSink>>,
  runtime: tokio::runtime::Handle,
  me: Weak<Outbox>,
}

impl Outbox {
  /// An outbox to `sink`, whose held reports wait for the host's stdout/stderr too (with
  /// `to_host`) and for `logs`.
  pub fn new(
    sink: Arc<dyn EventSink>,
    taps: Arc<Taps>,
    to_host: bool,
    logs: Option<Arc<LogSink>>,
    runtime: tokio::runtime::Handle,
  ) -> Arc<Outbox> {
    Arc::new_cyclic(|me: &Weak<Outbox>| {
      let host = to_host.then(|| {
        let poke = me.clone();
        Arc::new(HostPort::new(Box::new(move || {
          if let Some(outbox) = poke.upgrade() {
            outbox.poke();
          }
        })))
      });
      Outbox {
        inner: Mutex::new(Inner {
          sink: Some(sink),
          pending: VecDeque::new(),
          held: [VecDeque::new(), VecDeque::new()],
          received: [0, 0],
          closing: false,
          ticking: false,
          ids: 0,
          corks: 0,
          corked: Vec::new(),
        }),
        taps,
        budget: Budget::new(JS_BACKLOG),
        host,
        logs,
        runtime,
        me: me.clone(),
      }
    })
  }

  /// The host's stdout/stderr as a destination of this run, when output is copied there.
  pub fn host_port(&self) -> Option<Arc<HostPort>> {
    self.host.clone()
  }

  /// An id for this run, unique while it exists.
  pub fn id(&self) -> usize {
    self as *const Outbox as usize
  }

  /// Holds every event back until the returned [`Cork`] goes, then hands them on together.
  /// A restart reports the old child's exit and the new child's start: each report that
  /// finds JS idle wakes its thread, and a wake-up costs the core's thread tens of
  /// microseconds on a virtual machine, so a restart wakes JS once, after the new child is
  /// spawned, rather than twice with one wake-up before the spawn. Order is kept: output
  /// that comes meanwhile waits behind the held events.
  pub fn cork(self: &Arc<Self>) -> Cork {
    lock(&self.inner).corks += 1;
    Cork(Arc::clone(self))
  }

  /// Hands `event` on after everything before it.
  pub fn emit(&self, event: Event) {
    let mut inner = lock(&self.inner);
    if inner.pending.is_empty() {
      send(&mut inner, event);
    } else {
      let id = inner.next_id();
      inner.pending.push_back(Pending {
        event: Some(event),
        marks: None,
        id,
      });
    }
  }

  /// Hands `event` on once every destination has each stream's bytes up to `marks`.
  pub fn emit_after(&self, event: Event, marks: [u64; 2]) {
    let mut inner = lock(&self.inner);
    let id = inner.next_id();
    inner.pending.push_back(Pending {
      event: Some(event),
      marks: Some(marks),
      id,
    });
    self.release(&mut inner);
    self.keep_looking(&mut inner);
  }

  /// While reports are held, looks at them again now and then: a stalled destination
  /// makes no progress that would.
  fn keep_looking(&self, inner: &mut Inner) {
    if inner.pending.is_empty() || inner.ticking {
      return;
    }
    if let Some(me) = self.me.upgrade() {
      inner.ticking = true;
      self.runtime.spawn(tick(me));
    }
  }

  /// Holds a place at `marks` for an event known only later (a new child's start: it is
  /// known once the child is spawned, but the child's first bytes must not come before it).
  pub fn hold(&self, marks: [u64; 2]) -> Place {
    let mut inner = lock(&self.inner);
    let id = inner.next_id();
    inner.pending.push_back(Pending {
      event: None,
      marks: Some(marks),
      id,
    });
    self.keep_looking(&mut inner);
    Place(id)
  }

  /// Puts `event` (or nothing) in the place held for it, and hands on what can go.
  pub fn fill(&self, place: Place, event: Option<Event>) {
    let mut inner = lock(&self.inner);
    match event {
      Some(event) => {
        if let Some(p) = inner.pending.iter_mut().find(|p| p.id == place.0) {
          p.event = Some(event);
        }
      }
      None => inner.pending.retain(|p| p.id != place.0),
    }
    self.release(&mut inner);
  }

  /// The run is over: once everything pending has been handed on, the sink is let go
  /// (and with it, the host's event loop).
  pub fn close(&self) {
    let mut inner = lock(&self.inner);
    inner.closing = true;
    inner.settle_sink();
  }

  /// Looks again at the held reports (a destination has made progress).
  pub fn poke(&self) {
    let mut inner = lock(&self.inner);
    if !inner.pending.is_empty() {
      self.release(&mut inner);
    }
  }

  /// Whether the sink is still held.
  pub fn is_open(&self) -> bool {
    lock(&self.inner).sink.is_some()
  }

  /// Hands on every held report whose destinations are there, with the output that
  /// follows it.
  fn release(&self, inner: &mut Inner) {
    while let Some(front) = inner.pending.front() {
      if front.event.is_none() {
        return;
      }
      if let Some(marks) = front.marks {
        if !self.reached(inner, marks) && !self.stalled() {
          return;
        }
      }
      let Some(Pending {
        event: Some(event), ..
      }) = inner.pending.pop_front()
      else {
        return;
      };
      send(inner, event);
      let next_marks = inner.pending.iter().find_map(|p| p.marks);
      for stream in Stream::BOTH {
        self.send_held(inner, stream, next_marks.map(|m| m[stream.index()]));
      }
    }
    inner.settle_sink();
  }

  /// Sends the held bytes of `stream` up to `until` (all of them without a bound).
  fn send_held(&self, inner: &mut Inner, stream: Stream, until: Option<u64>) {
    let queue = stream.index();
    while let Some(first) = inner.held[queue].front() {
      let start = first.end - first.data.len() as u64;
      match until {
        Some(at) if start >= at => return,
        Some(at) if first.end > at => {
          // Split: the part before the next report goes now.
          let Some(mut held) = inner.held[queue].pop_front() else {
            return;
          };
          let cut = usize::try_from(at - start).unwrap_or(held.data.len());
          let rest = held.data.split_off(cut);
          let rest_credit = held.credit.split_off(cut);
          inner.held[queue].push_front(Held {
            end: held.end,
            data: rest,
            credit: rest_credit,
          });
          send_output(inner, stream, held.data, held.credit);
          return;
        }
        _ => {
          if let Some(held) = inner.held[queue].pop_front() {
            send_output(inner, stream, held.data, held.credit);
          }
        }
      }
    }
  }

  fn reached(&self, inner: &Inner, marks: [u64; 2]) -> bool {
    Stream::BOTH.iter().all(|&stream| {
      let mark = marks[stream.index()];
      inner.received[stream.index()] >= mark
        && self.host.as_ref().is_none_or(|h| h.written(stream) >= mark)
        && self
          .logs
          .as_ref()
          .is_none_or(|l| !l.routes(stream) || l.settled(stream) >= mark)
    })
  }

  fn stalled(&self) -> bool {
    let ms = u64::try_from(STALL.as_millis()).unwrap_or(u64::MAX);
    self.host.as_ref().is_some_and(|h| h.stalled_for(ms))
      || self.logs.as_ref().is_some_and(|l| l.stalled_for(ms))
  }
}

fn send(inner: &mut Inner, event: Event) {
  if inner.corks > 0 {
    if inner.sink.is_some() {
      inner.corked.push(event);
    }
  } else if let Some(sink) = &inner.sink {
    sink.emit(event);
  }
}

fn send_output(inner: &mut Inner, stream: Stream, data: Vec<u8>, credit: Reservation) {
  send(
    inner,
    Event::Output {
      stream,
      data,
      credit,
    },
  );
}

async fn tick(outbox: Arc<Outbox>) {
  loop {
    tokio::time::sleep(TICK).await;
    let mut inner = lock(&outbox.inner);
    outbox.release(&mut inner);
    if inner.pending.is_empty() {
      inner.ticking = false;
      return;
    }
  }
}

impl Destination for Outbox {
  fn wants(&self, stream: Stream) -> bool {
    // Bytes nobody listens to are only counted (see `seen`): no copy, no budget.
    self.taps.get(stream)
  }

  fn seen(&self, stream: Stream, end: u64) {
    let mut inner = lock(&self.inner);
    let queue = stream.index();
    inner.received[queue] = inner.received[queue].max(end);
    if !inner.pending.is_empty() {
      self.release(&mut inner);
    }
  }

  fn budget(&self, _stream: Stream) -> &Arc<Budget> {
    &self.budget
  }

  fn put(&self, stream: Stream, mut data: Vec<u8>, end: u64, credit: Reservation) {
    let mut inner = lock(&self.inner);
    let queue = stream.index();
    let start = inner.received[queue];
    inner.received[queue] = inner.received[queue].max(end);
    if !self.taps.get(stream) || inner.sink.is_none() {
      // Nobody listens: the bytes only count (the credit goes now).
      drop(credit);
    } else {
      let until = inner
        .pending
        .front()
        .and_then(|p| p.marks)
        .map(|m| m[queue]);
      match until {
        None if inner.held[queue].is_empty() => send_output(&mut inner, stream, data, credit),
        Some(at) if end <= at && inner.held[queue].is_empty() => {
          send_output(&mut inner, stream, data, credit)
        }
        Some(at) if start < at && inner.held[queue].is_empty() => {
          // The part before the held report goes now; the rest waits behind it.
          let cut = usize::try_from(at - start).unwrap_or(data.len());
          let rest = data.split_off(cut);
          let mut credit = credit;
          let rest_credit = credit.split_off(cut);
          inner.held[queue].push_back(Held {
            end,
            data: rest,
            credit: rest_credit,
          });
          send_output(&mut inner, stream, data, credit);
        }
        _ => inner.held[queue].push_back(Held { end, data, credit }),
      }
    }
    if !inner.pending.is_empty() {
      self.release(&mut inner);
    }
  }
}

impl Wake for Outbox {
  fn messages_waiting(&self, channel: &Arc<Channel>) {
    self.emit(Event::ChannelWaiting(Arc::clone(channel)));
  }
}

/// Reports a failure of the run (a log file, a spawn) through `outbox`, if it still exists.
pub fn report(outbox: &Weak<Outbox>, error: CoreError) {
  if let Some(outbox) = outbox.upgrade() {
    outbox.emit(Event::Error(error));
  }
}
