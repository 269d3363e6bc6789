//! A monitor's [`LogSink`]: the queue between its pumps and its files.
//!
//! File writes block, and a disk may stall, so each monitor's sink queues what its pumps
//! hand it and writes it in jobs on the runtime's small blocking pool (at most one job per
//! monitor at a time, so order is kept; at most a handful of threads for all monitors
//! together). A monitor with log files and nothing to write holds no thread and, before it
//! starts, no descriptor. What a sink holds is bounded by its [`Budget`]: a disk that
//! cannot keep up makes the pumps wait, and the child with them, as a full pipe would. A
//! sink whose stream's reader is behind stops its drain and starts it again once the reader
//! takes more, holding no thread meanwhile ([`LogSink::park`]); a timer queues a tick for a
//! file whose period ends while its child is quiet. What a job does to the files is the
//! [`Writer`]'s.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::open::{for_child, open_log};
use super::writer::Writer;
use super::{wall_ms, LogConfig, Report, Waker, LOG_BACKLOG, RECHECK};
use crate::error::CoreError;
use crate::output::{Budget, Destination, Reservation, Stream};
use crate::sync::lock;

/// A piece of work for the drain, done in the order it was queued.
enum Job {
  /// Creates the files, truncating them unless `append` (forever-monitor does it when the
  /// monitor is constructed); failures go to the report given.
  Prepare(Report),
  /// Closes and re-opens every file (an external logrotate moved them).
  Reopen(Report),
  Data {
    stream: Stream,
    data: Vec<u8>,
    end: u64,
    _room: Reservation,
  },
  /// The child that wrote up to `marks` has exited: its unfinished lines are complete.
  Settle([u64; 2]),
  /// A period may have ended while nothing was written: rotate what is due.
  Tick,
  /// The run is over: let the files go once what was queued before is written.
  Release,
}

/// What waits for the drain, and who hears of it.
struct Queue {
  /// Each with the waker of the run that queued it.
  jobs: VecDeque<(Job, Option<Waker>)>,
  running: bool,
  /// The current supervision run (an id of its choosing) and its error report.
  owner: usize,
  report: Option<Report>,
  /// The waker of the last run attached, kept once that run is over (until another one
  /// attaches): its last report waits for the bytes its pumps still hand over.
  waker: Option<Waker>,
  /// The wakers of jobs done while a stream's reader was behind: called once it has
  /// taken their bytes.
  parked_wakers: Vec<Waker>,
}

/// One monitor's log files.
pub struct LogSink {
  config: LogConfig,
  budget: Arc<Budget>,
  runtime: tokio::runtime::Handle,
  queue: Mutex<Queue>,
  writer: Mutex<Writer>,
  settled: [AtomicU64; 2],
  queued: AtomicUsize,
  moved_ms: AtomicU64,
  origin: Instant,
  /// The instant (ms since the epoch) the rotation timer is set for, 0 for none.
  armed: AtomicI64,
  timer: Mutex<Option<tokio::task::AbortHandle>>,
  /// The drain waits for a stream's reader to take more (see [`LogSink::park`]).
  parked: AtomicBool,
  /// How far the tests have fed the stdout stream.
  #[cfg(test)]
  fed: AtomicU64,
  /// The monitor's child writes the files: from the start of a run, and from a new child's
  /// first bytes, until a child exits or the run ends. A monitor constructed meanwhile that
  /// shares one of the files does not empty it. (The exit is known here before it is
  /// reported, so a monitor constructed on `'exit'` empties it, as forever-monitor's do.)
  live: Arc<AtomicBool>,
  /// A supervision run is attached.
  attached: AtomicBool,
  /// Where the last exited child's output ended in each stream: bytes past it are a new
  /// child's.
  ended: [AtomicU64; 2],
  /// The sink itself, for jobs started from `&self`.
  me: Weak<LogSink>,
}

impl LogSink {
  /// A sink for `config`, writing on `runtime`'s blocking pool. Nothing is opened yet: the
  /// first job does that ([`LogSink::prepare`]).
  pub fn new(config: LogConfig, runtime: tokio::runtime::Handle) -> Arc<LogSink> {
    let live = Arc::new(AtomicBool::new(false));
    let writer = Writer::new(&config, Arc::clone(&live));
    Arc::new_cyclic(|me| LogSink {
      live,
      attached: AtomicBool::new(false),
      ended: Default::default(),
      me: me.clone(),
      budget: Budget::new(LOG_BACKLOG),
      runtime,
      queue: Mutex::new(Queue {
        jobs: VecDeque::new(),
        running: false,
        owner: 0,
        report: None,
        waker: None,
        parked_wakers: Vec::new(),
      }),
      writer: Mutex::new(writer),
      settled: Default::default(),
      queued: AtomicUsize::new(0),
      moved_ms: AtomicU64::new(0),
      origin: Instant::now(),
      armed: AtomicI64::new(0),
      timer: Mutex::new(None),
      parked: AtomicBool::new(false),
      #[cfg(test)]
      fed: AtomicU64::new(0),
      config,
    })
  }

  /// The configuration.
  pub fn config(&self) -> &LogConfig {
    &self.config
  }

  /// Creates (and unless `append`, truncates) the files in the background; failures go to
  /// `report`, which is dropped once done.
  pub fn prepare(self: &Arc<Self>, report: Report) {
    self.push(Job::Prepare(report));
  }

  /// Closes and re-opens the files in the background; failures go to `report`.
  pub fn reopen(self: &Arc<Self>, report: Report) {
    self.push(Job::Reopen(report));
  }

  /// Writes `bytes` to the stdout file now, on the calling thread, rotating it first when
  /// it is due (for a writer of whole lines that must be on disk when the call returns,
  /// such as the CLI's status log). Failures go to `report`, once per episode.
  pub fn write_now(&self, bytes: &[u8], report: &Report) {
    let mut writer = lock(&self.writer);
    let end = writer.written[0] + bytes.len() as u64;
    writer.data(Stream::Stdout, bytes, end, Some(report));
    self.rearm(&writer);
    // A stream's reader is behind: what it has not taken is written by a drain once it
    // takes more, never by this thread waiting.
    if let (_, Some(fd)) = writer.blocked(Some(report)) {
      let mut queue = lock(&self.queue);
      if !std::mem::replace(&mut queue.running, true) {
        drop(queue);
        self.park(fd);
      }
    }
  }

  /// Closes and re-opens the files now, on the calling thread; failures go to `report`.
  pub fn reopen_now(&self, report: &Report) {
    let mut writer = lock(&self.writer);
    writer.reopen_all(report);
    self.rearm(&writer);
  }

  /// Sets the timer for the next rotation a quiet file is due, if it is not set for it
  /// already. The timer only queues a [`Job::Tick`]; a clock that moved meanwhile is
  /// looked at again then.
  fn rearm(&self, writer: &Writer) {
    let Some(due) = writer.next_due() else {
      return;
    };
    if self.armed.swap(due, Ordering::AcqRel) == due {
      return;
    }
    let me = self.me.clone();
    let wait = u64::try_from(due.saturating_sub(wall_ms())).unwrap_or(0) + 1;
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
      self.runtime.spawn(async move {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if let Some(sink) = me.upgrade() {
          sink.armed.store(0, Ordering::Release);
          sink.push(Job::Tick);
        }
      })
    }));
    if let Ok(task) = spawned {
      if let Some(old) = lock(&self.timer).replace(task.abort_handle()) {
        old.abort();
      }
    }
  }

  /// Where write failures and progress go during the supervision run `owner`.
  pub fn attach(&self, owner: usize, report: Report, waker: Waker) {
    let mut queue = lock(&self.queue);
    queue.owner = owner;
    // A run's offsets count from its start.
    for ended in &self.ended {
      ended.store(0, Ordering::Release);
    }
    self.attached.store(true, Ordering::Release);
    self.live.store(true, Ordering::Release);
    queue.report = Some(report);
    queue.waker = Some(waker);
  }

  /// The run `owner` is over: failures are no longer reported to it (unless another run
  /// has taken its place already). It is still woken as its last bytes are written — the
  /// jobs queued before and after this call (its pumps empty the pipes) — since its exit
  /// report waits for them. Once they are written, the files are let go.
  pub fn detach(&self, owner: usize) {
    let mut queue = lock(&self.queue);
    if queue.owner == owner {
      queue.owner = 0;
      self.attached.store(false, Ordering::Release);
      self.live.store(false, Ordering::Release);
      queue.report = None;
      drop(queue);
      if let Some(me) = self.me.upgrade() {
        me.push(Job::Release);
      }
    }
  }

  /// Whether `stream` goes to a file through this sink.
  pub fn routes(&self, stream: Stream) -> bool {
    self.route(stream).is_some()
  }

  /// A child that wrote up to `marks` has exited: its unfinished lines are written as they
  /// are once the writer gets there.
  pub fn settle(self: &Arc<Self>, marks: [u64; 2]) {
    for stream in Stream::BOTH {
      self.ended[stream.index()].fetch_max(marks[stream.index()], Ordering::AcqRel);
    }
    self.live.store(false, Ordering::Release);
    self.push(Job::Settle(marks));
  }

  /// The last exit mark of `stream` (see [`LogSink::settle`]) up to which everything,
  /// the exited child's unfinished line included, has been written.
  pub fn settled(&self, stream: Stream) -> u64 {
    self.settled[stream.index()].load(Ordering::Acquire)
  }

  /// True when bytes wait and nothing has been written for `ms` (a stalled disk, or a
  /// stream's reader that does not read).
  pub fn stalled_for(&self, ms: u64) -> bool {
    let now = self.now_ms();
    (self.queued.load(Ordering::Acquire) > 0 || self.parked.load(Ordering::Acquire))
      && now.saturating_sub(self.moved_ms.load(Ordering::Acquire)) >= ms
  }

  /// Waits, off every thread, until the stream `fd` can take more (or a second has
  /// passed: the reader may have gone, the file been replaced), then drains again. The
  /// caller has set `running`: jobs queued meanwhile wait, bounded by the budget.
  fn park(&self, fd: Option<OwnedFd>) {
    self.parked.store(true, Ordering::Release);
    let me = self.me.clone();
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
      self.runtime.spawn(async move {
        // A descriptor epoll cannot watch never makes a write wait either; a short sleep
        // covers it all the same.
        // SAFETY: the AsyncFd owns the descriptor, which stays open, the same one, until
        // the AsyncFd is dropped.
        let fd =
          fd.and_then(|fd| unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }.ok());
        match fd {
          Some(fd) => {
            let _ = tokio::time::timeout(RECHECK, fd.writable()).await;
          }
          None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        if let Some(sink) = me.upgrade() {
          let again = Arc::clone(&sink);
          let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.runtime.spawn_blocking(move || again.drain());
          }));
        }
      })
    }));
    if spawned.is_err() {
      // The runtime is going away: nothing will be written any more.
      lock(&self.queue).running = false;
    }
  }

  fn now_ms(&self) -> u64 {
    u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
  }

  /// With `direct`, the files a child writes itself as its stdout and stderr, opened now
  /// (call off the JS thread). A file that cannot be opened is `None` and its error is
  /// returned: that stream is piped through the sink instead.
  pub fn open_direct(&self) -> ([Option<File>; 2], Vec<CoreError>) {
    let mut files = [None, None];
    let mut errors = Vec::new();
    if !self.config.direct {
      return (files, errors);
    }
    for (slot, path) in [&self.config.out_file, &self.config.err_file]
      .into_iter()
      .enumerate()
    {
      let Some(path) = path else { continue };
      match open_log(path, false) {
        Ok(opened) => files[slot] = Some(for_child(opened)),
        Err(e) => errors.push(e),
      }
    }
    (files, errors)
  }

  fn push(self: &Arc<Self>, job: Job) {
    let start = {
      let mut queue = lock(&self.queue);
      let waker = queue.waker.clone();
      queue.jobs.push_back((job, waker));
      !std::mem::replace(&mut queue.running, true)
    };
    if start {
      let sink = Arc::clone(self);
      // A job that cannot be queued (the runtime is shutting down) is simply not run.
      let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        self.runtime.spawn_blocking(move || sink.drain());
      }));
    }
  }

  /// Runs queued jobs until none is left. Only one drain runs per sink at a time.
  fn drain(&self) {
    let mut writer = lock(&self.writer);
    let mut wakers: Vec<Waker> = Vec::new();
    loop {
      // A stream whose reader is behind holds this sink's jobs behind what it has not
      // taken (their order is the output's): the drain stops, holding no thread, and
      // starts again once the reader takes more.
      let report = lock(&self.queue).report.clone();
      let (progress, blocked) = writer.blocked(report.as_ref());
      if progress {
        self.moved_ms.store(self.now_ms(), Ordering::Release);
      }
      if let Some(fd) = blocked {
        lock(&self.queue).parked_wakers.append(&mut wakers);
        self.park(fd);
        return;
      }
      self.parked.store(false, Ordering::Release);
      // Nothing waits for a reader: what the writer has handled is written.
      for stream in Stream::BOTH {
        self.settled[stream.index()].fetch_max(writer.settled[stream.index()], Ordering::AcqRel);
      }
      wakers.append(&mut lock(&self.queue).parked_wakers);
      for waker in wakers.drain(..) {
        waker();
      }
      let (job, report, job_wakers) = {
        let mut queue = lock(&self.queue);
        match queue.jobs.pop_front() {
          Some((job, queued_by)) => {
            // The run that queued the job (even once it is over: its last report waits
            // for the job), and the current one.
            let current = queue.waker.clone();
            let wakers = match (queued_by, current) {
              // Letting go of the files writes nothing anybody waits for.
              _ if matches!(job, Job::Release) => [None, None],
              (Some(a), Some(b)) if !Arc::ptr_eq(&a, &b) => [Some(a), Some(b)],
              (a, b) => [a.or(b), None],
            };
            (job, queue.report.clone(), wakers)
          }
          None => {
            queue.running = false;
            drop(queue);
            // Supervision is over (or has not begun): the files are let go, so that a FIFO's
            // reader sees its end, and a stopped monitor holds no descriptor. The next
            // write opens them again.
            if !self.live.load(Ordering::Acquire) {
              writer.release();
            }
            return;
          }
        }
      };
      match job {
        Job::Prepare(report) => writer.prepare(!self.config.append, &report),
        Job::Reopen(report) => writer.reopen_all(&report),
        Job::Data {
          stream,
          data,
          end,
          _room,
        } => {
          writer.data(stream, &data, end, report.as_ref());
          self.queued.fetch_sub(data.len(), Ordering::AcqRel);
          self.moved_ms.store(self.now_ms(), Ordering::Release);
        }
        Job::Settle(marks) => {
          for stream in Stream::BOTH {
            writer.settle(stream, marks[stream.index()], report.as_ref());
          }
        }
        Job::Tick => writer.tick(wall_ms(), report.as_ref()),
        // Done when the queue is empty (below), after the bytes the run's pumps still hand
        // over.
        Job::Release => {}
      }
      self.rearm(&writer);
      wakers.extend(job_wakers.into_iter().flatten());
    }
  }
}

#[cfg(test)]
impl LogSink {
  /// How far the stdout stream has been queued (tests feed it in order).
  fn written_for_test(&self) -> u64 {
    self.fed.load(Ordering::Acquire)
  }

  /// Records that the stdout stream has been fed up to `end`.
  fn mark_for_test(&self, end: u64) {
    self.fed.store(end, Ordering::Release);
  }
}

impl Drop for LogSink {
  fn drop(&mut self) {
    if let Some(timer) = lock(&self.timer).take() {
      timer.abort();
    }
  }
}

impl Destination for LogSink {
  fn wants(&self, stream: Stream) -> bool {
    self.route(stream).is_some()
  }

  fn budget(&self, _stream: Stream) -> &Arc<Budget> {
    &self.budget
  }

  fn put(&self, stream: Stream, data: Vec<u8>, end: u64, room: Reservation) {
    if self.queued.fetch_add(data.len(), Ordering::AcqRel) == 0 {
      self.moved_ms.store(self.now_ms(), Ordering::Release);
    }
    // A new child's bytes (an exited one's end at its mark or before).
    if end > self.ended[stream.index()].load(Ordering::Acquire)
      && self.attached.load(Ordering::Acquire)
      && !self.live.load(Ordering::Acquire)
    {
      self.live.store(true, Ordering::Release);
    }
    if let Some(me) = self.me.upgrade() {
      me.push(Job::Data {
        stream,
        data,
        end,
        _room: room,
      });
    }
  }
}

impl LogSink {
  fn route(&self, stream: Stream) -> Option<&PathBuf> {
    match stream {
      Stream::Stdout => self.config.out_file.as_ref(),
      Stream::Stderr => self.config.err_file.as_ref(),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::logs::testing::{collect, temp};
  use std::fs::{self, OpenOptions};
  use std::io;
  use std::os::unix::fs::OpenOptionsExt;

  #[test]
  fn a_stream_nobody_reads_holds_no_thread_and_its_bytes_follow_once_read() {
    // One thread for every sink's files: a sink waiting for its reader must not hold it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(1)
      .max_blocking_threads(1)
      .enable_all()
      .build()
      .unwrap();
    let dir = temp("parked");
    let fifo = dir.join("out.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let mut reader = OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(&fifo)
      .unwrap();
    let config = |path: PathBuf| LogConfig {
      out_file: Some(path),
      timestamps: true,
      ..Default::default()
    };
    let stalled = LogSink::new(config(fifo.clone()), runtime.handle().clone());
    let other = LogSink::new(config(dir.join("other.log")), runtime.handle().clone());
    let put = |sink: &Arc<LogSink>, text: &str| {
      let end = sink.written_for_test() + text.len() as u64;
      let room = runtime.block_on(sink.budget(Stream::Stdout).reserve(text.len()));
      assert_eq!(room.len(), text.len());
      sink.put(Stream::Stdout, text.as_bytes().to_vec(), end, room);
      sink.mark_for_test(end);
    };
    let lines: String = (0..40_000).map(|i| format!("line {i:05}\n")).collect();
    for chunk in lines.as_bytes().chunks(64 * 1024) {
      put(&stalled, std::str::from_utf8(chunk).unwrap());
    }
    let wait = |what: &str, done: &dyn Fn() -> bool| {
      let deadline = Instant::now() + Duration::from_secs(10);
      while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
      }
    };
    wait("the stalled sink to park", &|| {
      stalled.parked.load(Ordering::Acquire)
    });
    // The other sink's file is written meanwhile, on the one thread there is.
    put(&other, "other line\n");
    wait("the other sink", &|| {
      fs::read_to_string(dir.join("other.log")).is_ok_and(|t| t.ends_with("Z other line\n"))
    });
    assert!(stalled.stalled_for(0));
    // The reader reads: every line follows, stamped, in order.
    let mut got = Vec::new();
    let expected: Vec<String> = lines.lines().map(str::to_string).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.iter().filter(|&&b| b == b'\n').count() < expected.len() {
      assert!(Instant::now() < deadline, "timed out reading");
      let mut buf = [0u8; 65536];
      match io::Read::read(&mut reader, &mut buf) {
        Ok(n) => got.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
          std::thread::sleep(Duration::from_millis(1))
        }
        Err(e) => panic!("{e}"),
      }
    }
    let text = String::from_utf8(got).unwrap();
    let unstamped: Vec<String> = text.lines().map(|l| l[25..].to_string()).collect();
    assert_eq!(unstamped, expected);
    wait("the drain to end", &|| {
      !stalled.parked.load(Ordering::Acquire)
    });
  }

  #[test]
  fn a_monitor_is_live_while_a_child_of_its_writes_and_not_once_it_exited() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(1)
      .enable_all()
      .build()
      .unwrap();
    let dir = temp("live");
    let sink = LogSink::new(
      LogConfig {
        out_file: Some(dir.join("out.log")),
        ..Default::default()
      },
      runtime.handle().clone(),
    );
    let live = || sink.live.load(Ordering::Acquire);
    let put = |text: &[u8], end: u64| {
      let room = sink.budget(Stream::Stdout).try_reserve(text.len()).unwrap();
      sink.put(Stream::Stdout, text.to_vec(), end, room);
    };
    assert!(!live(), "not before a run");
    let (report, _) = collect();
    sink.attach(1, report, Arc::new(|| {}));
    assert!(live(), "from the run's start");
    put(b"one\n", 4);
    // The child exited having written 6 bytes; its last 2 arrive after: still its own.
    sink.settle([6, 0]);
    assert!(!live(), "its child exited");
    put(b"t\n", 6);
    assert!(!live(), "the exited child's last bytes");
    put(b"next\n", 11);
    assert!(live(), "a new child writes");
    sink.detach(1);
    assert!(!live(), "the run is over");
  }

  #[test]
  fn a_run_is_woken_by_its_last_writes_once_it_is_detached() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
      .worker_threads(1)
      .enable_all()
      .build()
      .unwrap();
    let dir = temp("wake");
    let sink = LogSink::new(
      LogConfig {
        out_file: Some(dir.join("out.log")),
        ..Default::default()
      },
      runtime.handle().clone(),
    );
    let (report, _) = collect();
    let woken = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&woken);
    sink.attach(
      1,
      report,
      Arc::new(move || {
        count.fetch_add(1, Ordering::AcqRel);
      }),
    );
    {
      // The writer is busy while the run queues its child's exit and is over.
      let _busy = lock(&sink.writer);
      sink.settle([0, 0]);
      sink.detach(1);
    }
    let wait_for = |n: usize| {
      let deadline = Instant::now() + Duration::from_secs(10);
      while woken.load(Ordering::Acquire) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
      }
      assert_eq!(woken.load(Ordering::Acquire), n);
    };
    wait_for(1);
    assert_eq!(sink.settled(Stream::Stdout), 0);
    // Its pump still hands over what the pipe held.
    let room = sink.budget(Stream::Stdout).try_reserve(5).unwrap();
    sink.put(Stream::Stdout, b"last\n".to_vec(), 5, room);
    wait_for(2);
    assert_eq!(fs::read_to_string(dir.join("out.log")).unwrap(), "last\n");
  }
}
