//! Log files (`outFile`/`errFile`), written off the JS thread and off the runtime's
//! workers.
//!
//! File writes block, and a disk may stall, so each monitor's [`LogSink`] queues what its
//! pumps hand it and writes it in jobs on the runtime's small blocking pool (at most one job
//! per monitor at a time, so order is kept; at most a handful of threads for all monitors
//! together). A monitor with log files and nothing to write holds no thread and, before it
//! starts, no descriptor. What a sink holds is bounded by its [`Budget`]: a disk that
//! cannot keep up makes the pumps wait, and the child with them, as a full pipe would.
//!
//! The monitors of one host that write the same path share its file ([`file`]): one
//! descriptor, rotated once at its limit, each chunk of output written under its lock.
//! Destinations are regular files, or streams — the host's own `/dev/stdout`, character
//! devices, FIFOs — written without blocking; a sink whose stream's reader is behind stops
//! its drain and starts it again once the reader takes more, holding no thread meanwhile
//! ([`LogSink::park`]). The writer keeps
//! lines whole where that matters — timestamps, both streams in one file, rotation — by
//! holding a stream's unfinished line until its newline arrives (or the child that wrote
//! it exits). A failing file is reported once per episode (until it works again), retried
//! at most once a second, and never stops the other destinations.
//!
//! Rotation happens between two lines: by size (`logMaxSize`), and by time (`logRotate`,
//! see [`schedule`]) — each chunk is checked against the instant the file's period ends,
//! worked out once per period, so the check costs a clock read (no system call) and a
//! comparison; a timer rotates a file whose child has gone quiet. Without timestamps, the
//! whole lines of a chunk are written as one: only the lines at its ends and where a file
//! fills up are looked through. What happens to rotated
//! files afterwards — compression, retention — is the [`keeper`]'s, off the writer's path.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::CoreError;
use crate::output::{Budget, Destination, Reservation, Stream};
use crate::sync::lock;

mod file;
mod keeper;
mod schedule;

use file::{for_child, open_log, FileState, Rotation, SharedFile};
use keeper::Keep;
use schedule::Naming;
pub use schedule::{Schedule, DAY_MS, HOUR_MS};

/// An unfinished line longer than this is written as it is rather than held.
const MAX_PENDING: usize = 64 * 1024;
/// In line mode, whole lines are gathered up to this many bytes and written at once.
const BATCH: usize = 256 * 1024;
/// How often a destination is checked for having been moved or deleted, or retried.
const RECHECK: Duration = Duration::from_secs(1);
/// Bytes a monitor's log files may have waiting to be written.
pub const LOG_BACKLOG: usize = 8 * 1024 * 1024;

/// Which files to write and how.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
  /// The child's stdout goes here.
  pub out_file: Option<PathBuf>,
  /// The child's stderr goes here (the same path as `out_file` merges them).
  pub err_file: Option<PathBuf>,
  /// Keep what the files hold instead of truncating them when they are first opened.
  pub append: bool,
  /// Prefix every line with an ISO-8601 UTC time.
  pub timestamps: bool,
  /// Rotate a file before it would grow past this many bytes.
  pub max_size: Option<u64>,
  /// Rotate a file when its period ends (`file.2026-11-30`, …).
  pub rotate: Option<Schedule>,
  /// How many rotated files to keep (`file.1` … `file.N`).
  pub max_files: u32,
  /// Remove rotated files last written longer ago than this.
  pub max_age: Option<Duration>,
  /// Gzip rotated files (`file.1.gz`, `file.2026-11-30.gz`).
  pub compress: bool,
  /// The child writes the files itself: they are its stdout/stderr, opened for appending
  /// at each spawn, so its output costs the host nothing (no line mode is possible then).
  pub direct: bool,
}

/// Where a sink reports a failing file.
pub type Report = Arc<dyn Fn(CoreError) + Send + Sync>;
/// Called after each write, so that whoever waits on the written offsets looks again.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

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

/// The wall clock, in milliseconds since the epoch: a `clock_gettime` the vDSO answers,
/// with no system call.
fn wall_ms() -> i64 {
  millis_since_epoch(SystemTime::now())
}

fn millis_since_epoch(at: SystemTime) -> i64 {
  // Seconds and milliseconds apart: no 128-bit division for every line.
  let millis = |d: Duration| {
    i64::try_from(d.as_secs())
      .unwrap_or(i64::MAX / 1000)
      .saturating_mul(1000)
      + i64::from(d.subsec_millis())
  };
  match at.duration_since(UNIX_EPOCH) {
    Ok(d) => millis(d),
    Err(e) => -millis(e.duration()),
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

/// One of a monitor's files: the file it shares with the other writers of its path, and
/// how that file's failures are reported to this monitor.
struct Target {
  /// The path, as this monitor gave it.
  path: PathBuf,
  /// How the file rotates, if this monitor is the first to open it.
  rotation: Rotation,
  /// The shared file, once a job has looked the path up (never on the JS thread).
  shared: Option<Arc<SharedFile>>,
  /// The shared file's path as its first writer spelled it, as errors name it.
  theirs: String,
  /// An episode of failure has been reported to this monitor and has not ended yet.
  failing: bool,
  /// Whether this monitor's child runs (a supervision run is attached), as the other
  /// writers of the file see it.
  live: Arc<AtomicBool>,
}

impl Target {
  fn new(path: PathBuf, rotation: Rotation, live: Arc<AtomicBool>) -> Target {
    Target {
      path,
      rotation,
      shared: None,
      theirs: String::new(),
      failing: false,
      live,
    }
  }

  /// The shared file, looked up at the first call. The first writer of a path in this
  /// process also has its rotated files tidied at once, in the background: what a host
  /// that died left (an interrupted compression, files not compressed yet) is finished
  /// when the next one opens the log, not at its first rotation — which, with a daily
  /// rotation, could be a day later. Failures go to `report`.
  fn shared(&mut self, report: Option<&Report>) -> Arc<SharedFile> {
    if let Some(shared) = &self.shared {
      return Arc::clone(shared);
    }
    let (shared, created) = SharedFile::acquire(&self.path, self.rotation);
    {
      let mut file = shared.lock();
      self.theirs = file.path.display().to_string();
      file.join(&self.live);
      if created {
        file.tidy(report);
      }
    }
    self.shared = Some(Arc::clone(&shared));
    shared
  }

  /// Reports `result`'s failure once per episode; a success ends the episode.
  fn outcome(&mut self, result: Result<(), CoreError>, report: Option<&Report>) {
    match result {
      Ok(()) => self.failing = false,
      Err(mut e) => {
        if !self.failing {
          self.failing = true;
          // Named as this monitor named it, when another spelled the shared path first.
          if let CoreError::Sys { path: Some(p), .. } = &mut e {
            if *p == self.theirs {
              *p = self.path.display().to_string();
            }
          }
          if let Some(report) = report {
            report(e);
          }
        }
      }
    }
  }

  /// Reports the outcome of a write, if one was made.
  fn wrote(&mut self, result: Option<Result<(), CoreError>>, report: Option<&Report>) {
    if let Some(result) = result {
      self.outcome(result, report);
    }
  }
}

struct Writer {
  targets: Vec<Target>,
  route: [Option<usize>; 2],
  pending: [Vec<u8>; 2],
  /// Offset at which each stream's unfinished line must be written out (its child exited).
  settle_at: [Option<u64>; 2],
  /// How far each stream has been handled.
  written: [u64; 2],
  /// The last exit mark of each stream whose unfinished line has been written out.
  settled: [u64; 2],
  line_mode: bool,
  timestamps: bool,
  /// This monitor rotates by time: it keeps a timer for its quiet files.
  timed: bool,
}

impl Writer {
  /// A writer for `config`; `live` says when its monitor's child runs.
  fn new(config: &LogConfig, live: Arc<AtomicBool>) -> Writer {
    let mut targets: Vec<Target> = Vec::new();
    let mut route = [None, None];
    let rotates = config.max_size.is_some() || config.rotate.is_some();
    let rotation = Rotation {
      max_size: config.max_size,
      schedule: config.rotate,
      max_files: config.max_files,
      keep: rotates.then_some(Keep {
        naming: config.rotate.map_or(Naming::Numbered, Naming::Dated),
        compress: config.compress,
        max_files: config.max_files,
        max_age: config.max_age,
      }),
    };
    for (slot, path) in [(0, &config.out_file), (1, &config.err_file)] {
      let Some(path) = path else { continue };
      let existing = targets.iter().position(|t| same_path(&t.path, path));
      route[slot] = Some(existing.unwrap_or_else(|| {
        targets.push(Target::new(path.clone(), rotation, Arc::clone(&live)));
        targets.len() - 1
      }));
    }
    let merged = route[0].is_some() && route[0] == route[1];
    Writer {
      targets,
      route,
      pending: [Vec::new(), Vec::new()],
      settle_at: [None, None],
      written: [0, 0],
      settled: [0, 0],
      line_mode: merged || config.timestamps || rotates,
      timestamps: config.timestamps,
      timed: config.rotate.is_some(),
    }
  }

  fn prepare(&mut self, truncate: bool, report: &Report) {
    for target in &mut self.targets {
      let shared = target.shared(Some(report));
      let mut file = shared.lock();
      // A monitor that joins a file another one's child is writing never empties it under
      // that child: those lines stay.
      let empty = truncate && !file.others_live(&target.live);
      let result = if file.is_open() && !empty {
        Ok(())
      } else {
        let result = file.open(empty);
        // Held open only while there is something to write: a monitor that is never
        // started costs no descriptor.
        file.close();
        result
      };
      drop(file);
      target.outcome(result, Some(report));
    }
  }

  fn reopen_all(&mut self, report: &Report) {
    for target in &mut self.targets {
      let shared = target.shared(Some(report));
      let result = shared.lock().open(false);
      // A reopen always says how it went: the caller asked.
      target.failing = false;
      target.outcome(result, Some(report));
    }
  }

  /// Handles `bytes` of `stream`, which end at offset `end`. The stream's file is locked
  /// meanwhile: the chunk's lines and any rotation they cause are one step for the other
  /// writers of the file.
  fn data(&mut self, stream: Stream, bytes: &[u8], end: u64, report: Option<&Report>) {
    let i = stream.index();
    let Some(t) = self.route[i] else {
      self.written[i] = self.written[i].max(end);
      return;
    };
    let shared = self.targets[t].shared(report);
    let mut file = shared.lock();
    let start = end.saturating_sub(bytes.len() as u64);
    match self.settle_at[i] {
      // The chunk runs past the point where the exited child's output ends: that child's
      // unfinished line is complete there.
      Some(at) if at >= start && at < end => {
        let cut = usize::try_from(at - start).unwrap_or(bytes.len());
        self.take(&mut file, t, stream, &bytes[..cut], report);
        self.flush_pending(&mut file, t, stream, report);
        self.settle_at[i] = None;
        self.settled[i] = self.settled[i].max(at);
        self.take(&mut file, t, stream, &bytes[cut..], report);
      }
      _ => self.take(&mut file, t, stream, bytes, report),
    }
    self.written[i] = self.written[i].max(end);
    if let Some(at) = self.settle_at[i].filter(|&at| at <= end) {
      self.flush_pending(&mut file, t, stream, report);
      self.settle_at[i] = None;
      self.settled[i] = self.settled[i].max(at);
    }
    // Nothing stays gathered once the lock is let go: the next writer's lines follow.
    let flushed = file.flush();
    drop(file);
    self.targets[t].wrote(flushed, report);
  }

  fn settle(&mut self, stream: Stream, at: u64, report: Option<&Report>) {
    let i = stream.index();
    if self.written[i] < at {
      self.settle_at[i] = Some(at);
      return;
    }
    if let Some(t) = self.route[i] {
      let shared = self.targets[t].shared(report);
      let mut file = shared.lock();
      self.flush_pending(&mut file, t, stream, report);
      let flushed = file.flush();
      drop(file);
      self.targets[t].wrote(flushed, report);
    }
    self.settled[i] = self.settled[i].max(at);
  }

  fn flush_pending(
    &mut self,
    file: &mut FileState,
    t: usize,
    stream: Stream,
    report: Option<&Report>,
  ) {
    let rest = std::mem::take(&mut self.pending[stream.index()]);
    if !rest.is_empty() {
      let now = self.clock(file);
      self.emit(file, t, &rest, now, report);
    }
  }

  /// The clock, read once for a chunk when its lines need it (timestamps, periods): a chunk
  /// arrives at one instant, and all its lines belong to it.
  fn clock(&self, file: &FileState) -> Option<SystemTime> {
    (self.timestamps || file.rotation.schedule.is_some()).then(SystemTime::now)
  }

  fn take(
    &mut self,
    file: &mut FileState,
    t: usize,
    stream: Stream,
    bytes: &[u8],
    report: Option<&Report>,
  ) {
    if bytes.is_empty() {
      return;
    }
    if !self.line_mode {
      let result = file.write(bytes);
      self.targets[t].outcome(result, report);
      return;
    }
    let i = stream.index();
    // Only the chunk's last line and, after an unfinished one, its first are looked
    // through: the whole lines between are handled as one.
    let Some(last_newline) = bytes.iter().rposition(|&b| b == b'\n') else {
      self.pending[i].extend_from_slice(bytes);
      if self.pending[i].len() > MAX_PENDING {
        // A piece ends between two characters: a character cut in two would be two
        // invalid ones, one in each line.
        let mut long = std::mem::take(&mut self.pending[i]);
        self.pending[i] = long.split_off(char_boundary(&long));
        let now = self.clock(file);
        self.emit(file, t, &long, now, report);
      }
      return;
    };
    let now = self.clock(file);
    let (mut complete, rest) = bytes.split_at(last_newline + 1);
    if !self.pending[i].is_empty() {
      // The unfinished line ends at the chunk's first newline.
      let first = line_end(complete);
      let mut line = std::mem::take(&mut self.pending[i]);
      line.extend_from_slice(&complete[..first]);
      self.emit(file, t, &line, now, report);
      complete = &complete[first..];
    }
    if !complete.is_empty() {
      self.emit(file, t, complete, now, report);
    }
    self.pending[i].extend_from_slice(rest);
  }

  /// Writes `lines`, read at `now`, to target `t`'s `file`: whole lines, or one unfinished
  /// line (an overlong one, or an exited child's last) that is given its newline. Each file
  /// gets whole lines only, and rotates between two of them: when its period is over, or
  /// before the next line would take it past its size limit (a line longer than that gets
  /// a file of its own).
  fn emit(
    &mut self,
    file: &mut FileState,
    t: usize,
    lines: &[u8],
    now: Option<SystemTime>,
    report: Option<&Report>,
  ) {
    let now_ms = now.map(millis_since_epoch);
    // The last line has no newline only when it is an unfinished one written as it is.
    let newline = !lines.ends_with(b"\n");
    if let Some(now) = now.filter(|_| self.timestamps) {
      // One stamp serves the chunk, and always falls within the period its file is named
      // after. Each line is checked, as each is longer by it.
      let stamp = format!("{} ", humantime::format_rfc3339_millis(now));
      for line in lines.split_inclusive(|&b| b == b'\n') {
        let open = !line.ends_with(b"\n");
        let len = stamp.len() + line.len() + usize::from(open);
        self.rotate_if_due(file, t, now_ms, len as u64, report);
        file.batch.extend_from_slice(stamp.as_bytes());
        let wrote = file.append(line, open);
        self.targets[t].wrote(wrote, report);
      }
      return;
    }
    let mut rest = lines;
    while !rest.is_empty() {
      // The first line is checked as any line is (the period, once per chunk, and whether
      // it fits); it goes in, with the lines after it that fit too.
      let first = line_end(rest);
      let extra = usize::from(newline && first == rest.len());
      self.rotate_if_due(file, t, now_ms, (first + extra) as u64, report);
      let cut = match file
        .rotation
        .max_size
        .filter(|_| file.rotatable() && !file.rotation_held())
      {
        Some(max) => {
          let room = usize::try_from(max.saturating_sub(file.length())).unwrap_or(usize::MAX);
          fitting(rest, newline, room).max(first)
        }
        None => rest.len(),
      };
      let (head, later) = rest.split_at(cut);
      let wrote = file.append(head, newline && later.is_empty());
      self.targets[t].wrote(wrote, report);
      rest = later;
    }
  }

  /// Rotates target `t`'s `file` when the line of `len` bytes about to be written belongs
  /// to a later period than the file's, or would take the file past its size limit.
  fn rotate_if_due(
    &mut self,
    file: &mut FileState,
    t: usize,
    now_ms: Option<i64>,
    len: u64,
    report: Option<&Report>,
  ) {
    let rotation = file.rotation;
    if rotation.max_size.is_none() && rotation.schedule.is_none() {
      return;
    }
    if !file.is_open() {
      // The size and the kind of file are known once it is open.
      let _ = file.ready();
    }
    if !file.rotatable() || file.rotation_held() {
      return;
    }
    let ended = match (&rotation.schedule, now_ms) {
      (Some(schedule), Some(now)) => file.period_due(schedule, now),
      _ => None,
    };
    let label = match ended {
      Some(label) => Some(label),
      None => match rotation.max_size {
        // Another file of the same period (its period is known by now), or the next number.
        Some(max) if file.length() > 0 && file.length() + len > max => {
          file.period.as_ref().map(|p| p.label.clone())
        }
        _ => return,
      },
    };
    // The lines gathered so far belong to the file being rotated.
    let flushed = file.flush();
    self.targets[t].wrote(flushed, report);
    let result = file.rotate(label.as_deref(), report);
    self.targets[t].outcome(result, report);
  }

  /// Rotates the files whose period has ended by `now_ms` though nothing was written since.
  fn tick(&mut self, now_ms: i64, report: Option<&Report>) {
    for target in &mut self.targets {
      // Only a file written to since it was opened (its period is known), and still there.
      let Some(shared) = target.shared.clone() else {
        continue;
      };
      let mut file = shared.lock();
      let Some(schedule) = file.rotation.schedule else {
        continue;
      };
      if file.period.is_none() || file.ready().is_err() || !file.rotatable() || file.rotation_held()
      {
        continue;
      }
      if let Some(label) = file.period_due(&schedule, now_ms) {
        let result = file.rotate(Some(&label), report);
        drop(file);
        target.outcome(result, report);
      }
    }
  }

  /// Closes the files no other writer's child is writing to, and that hold nothing back
  /// for a reader.
  fn release(&mut self) {
    for target in &self.targets {
      if let Some(shared) = &target.shared {
        let mut file = shared.lock();
        if !file.waiting() && !file.others_live(&target.live) {
          file.close();
        }
      }
    }
  }

  /// Writes what waits for the readers of this writer's streams, as far as they take it.
  /// Returns whether any bytes went and, while some still wait, a descriptor to wait on
  /// for the reader to take more.
  fn blocked(&mut self, report: Option<&Report>) -> (bool, Option<Option<OwnedFd>>) {
    let mut progress = false;
    for target in &mut self.targets {
      let Some(shared) = target.shared.clone() else {
        continue;
      };
      let mut file = shared.lock();
      if !file.waiting() {
        continue;
      }
      match file.push() {
        Ok(taken) => progress |= taken > 0,
        Err(e) => {
          drop(file);
          target.outcome(Err(e), report);
          continue;
        }
      }
      if file.waiting() {
        return (progress, Some(file.poll_fd()));
      }
    }
    (progress, None)
  }

  /// The instant the next rotation by time is due, for a file that has lines in it.
  fn next_due(&self) -> Option<i64> {
    if !self.timed {
      return None;
    }
    self
      .targets
      .iter()
      .filter_map(|t| t.shared.as_ref())
      .filter_map(|shared| {
        let file = shared.lock();
        let due = file.period.as_ref().map(|p| p.end_ms);
        due.filter(|_| file.size > 0 && file.rotatable())
      })
      .min()
  }
}

/// The length of the first line of `bytes`, its newline included (all of it when none).
fn line_end(bytes: &[u8]) -> usize {
  bytes
    .iter()
    .position(|&b| b == b'\n')
    .map_or(bytes.len(), |p| p + 1)
}

/// Where `bytes` can be cut without splitting a UTF-8 character: before the last
/// character when it is unfinished, else at the end (bytes that are not UTF-8 are cut
/// where they end).
fn char_boundary(bytes: &[u8]) -> usize {
  let len = bytes.len();
  for back in 1..=len.min(4) {
    let b = bytes[len - back];
    if b & 0xC0 == 0x80 {
      continue; // a continuation byte: the character starts further back
    }
    let needs = match b {
      0xF0.. => 4,
      0xE0.. => 3,
      0xC0.. => 2,
      _ => 1,
    };
    return if needs > back { len - back } else { len };
  }
  len
}

/// The length of the longest run of whole lines at the start of `lines` that takes at
/// most `room` bytes; with `newline`, the last line is unfinished and takes one more.
/// Only the line at the limit is looked through.
fn fitting(lines: &[u8], newline: bool, room: usize) -> usize {
  if lines.len() + usize::from(newline) <= room {
    return lines.len();
  }
  lines[..room.min(lines.len())]
    .iter()
    .rposition(|&b| b == b'\n')
    .map_or(0, |p| p + 1)
}

fn same_path(a: &Path, b: &Path) -> bool {
  a == b
    || matches!(
      (fs::canonicalize(a), fs::canonicalize(b)),
      (Ok(x), Ok(y)) if x == y
    )
}

#[cfg(test)]
mod tests {
  use super::file::make_parent_dirs;
  use super::*;
  use std::fs::OpenOptions;
  use std::io;
  use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

  /// Target `t`'s shared file, locked.
  fn file(w: &Writer, t: usize) -> std::sync::MutexGuard<'_, FileState> {
    w.targets[t].shared.as_ref().expect("opened").lock()
  }

  fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fn-logs-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
  }

  fn collect() -> (Report, Arc<Mutex<Vec<CoreError>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    (Arc::new(move |e| lock(&into).push(e)), seen)
  }

  fn writer(config: LogConfig) -> Writer {
    let mut w = Writer::new(&config, Arc::default());
    let (report, seen) = collect();
    w.prepare(!config.append, &report);
    assert!(lock(&seen).is_empty());
    w
  }

  #[test]
  fn missing_directories_are_made_below_one_that_exists() {
    let dir = temp("mkdir");
    let file = dir.join("a/b/c/out.log");
    drop(open_log(&file, false).unwrap());
    assert!(file.is_file());
    let mode = fs::metadata(dir.join("a/b")).unwrap().mode() & 0o777;
    // 0755 less the umask: never more than 0755.
    assert_eq!(mode & !0o755, 0, "mode {mode:o}");
    // A symlink to a directory on the way is followed, as the open follows it.
    std::os::unix::fs::symlink(dir.join("a"), dir.join("link")).unwrap();
    open_log(&dir.join("link/new/out.log"), false).unwrap();
    assert!(dir.join("a/new/out.log").is_file());
  }

  #[test]
  fn what_cannot_hold_a_directory_is_the_open_error_it_was() {
    let dir = temp("mkdir-bad");
    let code = |path: PathBuf| open_log(&path, false).unwrap_err().code().unwrap();
    // A symlink to nothing: nothing is made through it.
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    assert_eq!(code(dir.join("dangling/x/out.log")), "ENOENT");
    assert!(!dir.join("nowhere").exists());
    // A loop.
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).unwrap();
    assert_eq!(code(dir.join("loop/x/out.log")), "ELOOP");
    // A file on the way.
    fs::write(dir.join("file"), "x").unwrap();
    assert_eq!(code(dir.join("file/x/out.log")), "ENOTDIR");
    // A directory that cannot be made names itself.
    let e = make_parent_dirs(Path::new("/proc/forever-native-test/out.log")).unwrap_err();
    assert_eq!(e.syscall(), Some("mkdir"));
    assert_eq!(e.path(), Some("/proc/forever-native-test"));
  }

  /// Feeds `bytes` as the next chunk of `stream`.
  fn feed(w: &mut Writer, stream: Stream, bytes: &[u8]) {
    let end = w.written[stream.index()] + bytes.len() as u64;
    w.data(stream, bytes, end, None);
  }

  #[test]
  fn truncates_unless_append() {
    let dir = temp("truncate");
    let path = dir.join("out.log");
    fs::write(&path, "old\n").unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"new\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");
    // A writer that joins the file while another one's child writes it never empties it.
    w.targets[0].live.store(true, Ordering::Release);
    let mut joined = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut joined, Stream::Stdout, b"joined\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\njoined\n");
    // Once that child is gone, a new monitor's file starts empty, as forever-monitor's do.
    w.targets[0].live.store(false, Ordering::Release);
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    assert_eq!(
      fs::read_to_string(&path).unwrap(),
      "",
      "truncated by prepare"
    );
    feed(&mut w, Stream::Stdout, b"fresh\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "fresh\n");
  }

  #[test]
  fn writers_of_one_path_share_its_file_and_rotate_it_once() {
    let dir = temp("shared");
    let config = |path: PathBuf| LogConfig {
      out_file: Some(path),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    };
    // The same file, spelled two ways.
    fs::create_dir(dir.join("sub")).unwrap();
    let mut a = writer(config(dir.join("out.log")));
    let mut b = writer(config(dir.join("sub/../out.log")));
    assert!(Arc::ptr_eq(
      a.targets[0].shared.as_ref().unwrap(),
      b.targets[0].shared.as_ref().unwrap()
    ));
    for i in 0..100 {
      feed(&mut a, Stream::Stdout, format!("a {i:03}\n").as_bytes());
      feed(&mut b, Stream::Stdout, format!("b {i:03}\n").as_bytes());
    }
    // 1,200 bytes in files of at most 100, each full but the last: each line in exactly
    // one of them (a second rotator would have made more, part empty, and lost lines).
    let names = listing(&dir);
    assert_eq!(names.len(), 12 + 1 + 1, "{names:?}");
    let mut lines: Vec<String> = Vec::new();
    for name in names.iter().filter(|n| n.starts_with("out.log")) {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name}: {text:?}");
      lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    let mut expected: Vec<String> = (0..100)
      .flat_map(|i| [format!("a {i:03}"), format!("b {i:03}")])
      .collect();
    expected.sort();
    assert_eq!(lines, expected);
    // The last writer gone, the path is free: a new writer opens (and empties) it afresh.
    let shared = Arc::downgrade(a.targets[0].shared.as_ref().unwrap());
    drop((a, b));
    assert!(shared.upgrade().is_none());
    let _c = writer(config(dir.join("out.log")));
    assert_eq!(fs::read_to_string(dir.join("out.log")).unwrap(), "");
  }

  #[test]
  fn merged_streams_keep_lines_whole() {
    let dir = temp("merge");
    let path = dir.join("all.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      err_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"out-a");
    feed(&mut w, Stream::Stderr, b"err-a");
    feed(&mut w, Stream::Stdout, b"-more\n");
    feed(&mut w, Stream::Stderr, b"-more\n");
    assert_eq!(
      fs::read_to_string(&path).unwrap(),
      "out-a-more\nerr-a-more\n"
    );
  }

  #[test]
  fn timestamps_prefix_whole_lines() {
    let dir = temp("stamps");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"hel");
    feed(&mut w, Stream::Stdout, b"lo\nwor");
    feed(&mut w, Stream::Stdout, b"ld\n");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("Z hello"), "{text}");
    assert!(lines[1].ends_with("Z world"), "{text}");
    assert_eq!(lines[0].len(), "2026-01-01T00:00:00.000Z hello".len());
  }

  #[test]
  fn rotation_keeps_lines_whole_and_n_files() {
    let dir = temp("rotate");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 2,
      ..Default::default()
    });
    for i in 0..50 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    // 400 bytes in files of at most 100 (12 lines of 8): four rotated, numbered up from
    // 1; retention, in the background, keeps the newest two.
    keeper::settle();
    assert_eq!(listing(&dir), ["out.log", "out.log.3", "out.log.4"]);
    let mut all = String::new();
    for name in ["out.log.3", "out.log.4", "out.log"] {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name} is {} bytes", text.len());
      assert!(text.lines().all(|l| l.len() == 8), "{name}: {text}");
      all += &text;
    }
    let first = 50 - all.len() / 9;
    let expected: String = (first..50).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(all, expected);
  }

  #[test]
  fn long_lines_are_cut_between_characters() {
    assert_eq!(char_boundary(b""), 0);
    assert_eq!(char_boundary(b"abc"), 3);
    let euro = "€".as_bytes(); // 3 bytes
    let mut text = b"ab".to_vec();
    text.extend_from_slice(euro);
    assert_eq!(char_boundary(&text), 5, "a whole character at the end");
    assert_eq!(char_boundary(&text[..4]), 2, "two bytes of three");
    assert_eq!(char_boundary(&text[..3]), 2, "one byte of three");
    let emoji = "😀".as_bytes(); // 4 bytes
    assert_eq!(char_boundary(&emoji[..3]), 0);
    assert_eq!(char_boundary(emoji), 4);
    assert_eq!(
      char_boundary(&[0x80, 0x80, 0x80, 0x80, 0x80]),
      5,
      "not UTF-8: as it is"
    );
    // Through the writer: a 200 KB line of euros comes out as valid UTF-8 pieces.
    let dir = temp("long-utf8");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    let line = "€".repeat(70_000);
    for chunk in line.as_bytes().chunks(1024) {
      feed(&mut w, Stream::Stdout, chunk);
    }
    feed(&mut w, Stream::Stdout, b"\n");
    let text = fs::read(&path).unwrap();
    let text = String::from_utf8(text).expect("every piece is valid UTF-8");
    let joined: String = text.lines().map(|l| &l[25..]).collect();
    assert_eq!(joined, line);
  }

  #[test]
  fn a_rotation_that_cannot_move_the_file_keeps_its_lines_in_it() {
    let dir = temp("held");
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(logs.join("out.log")),
      max_size: Some(100),
      max_files: 3,
      ..Default::default()
    });
    let (report, seen) = collect();
    let put = |w: &mut Writer, i: usize| {
      let line = format!("line {i:03}\n");
      let end = w.written[Stream::Stdout.index()] + line.len() as u64;
      w.data(Stream::Stdout, line.as_bytes(), end, Some(&report));
    };
    for i in 0..5 {
      put(&mut w, i);
    }
    // The directory is moved away under the open file (by hand, or a bind mount refusing
    // the rename): the file can no longer be moved aside, but it can still be written.
    let moved = dir.join("moved");
    fs::rename(&logs, &moved).unwrap();
    for i in 5..60 {
      put(&mut w, i);
    }
    let text = fs::read_to_string(moved.join("out.log")).unwrap();
    let expected: String = (0..60).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(
      text, expected,
      "every line, past the limit, in the file it could not rotate"
    );
    let errors = lock(&seen);
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert!(errors[0].to_string().contains("rename"), "{}", errors[0]);
  }

  fn daily_utc() -> Option<Schedule> {
    Some(Schedule {
      every_ms: DAY_MS,
      utc: true,
    })
  }

  fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
      .unwrap()
      .map(|e| e.unwrap().file_name().into_string().unwrap())
      .collect();
    names.sort();
    names
  }

  #[test]
  fn size_rotation_within_a_period_counts_up_from_the_periods_name() {
    let dir = temp("dated-size");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      rotate: daily_utc(),
      max_files: 100,
      ..Default::default()
    });
    let today = daily_utc()
      .unwrap()
      .period_at(wall_ms(), &schedule::Utc)
      .label;
    for i in 0..30 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    keeper::settle();
    let all: Vec<String> = [
      format!("out.log.{today}"),
      format!("out.log.{today}.1"),
      "out.log".to_string(),
    ]
    .iter()
    .flat_map(|name| {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name}");
      text.lines().map(str::to_string).collect::<Vec<_>>()
    })
    .collect();
    assert_eq!(listing(&dir).len(), 3, "{:?}", listing(&dir));
    let expected: Vec<String> = (0..30).map(|i| format!("line {i:03}")).collect();
    assert_eq!(all, expected);
  }

  /// The numbered files of `path`, oldest first, and `path` itself last.
  fn numbered(path: &Path) -> Vec<String> {
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_str().unwrap();
    let count = listing(dir).len();
    let mut files: Vec<String> = (1..count)
      .map(|n| fs::read_to_string(dir.join(format!("{base}.{n}"))).unwrap())
      .collect();
    files.push(fs::read_to_string(path).unwrap());
    files
  }

  /// Lines of 1 to 60 bytes, in no order, and a few longer than a file may be.
  fn varied_lines() -> Vec<String> {
    let mut seed = 12345u32;
    let mut lines: Vec<String> = (0..400)
      .map(|i: usize| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let width = 1 + (seed >> 16) as usize % 60;
        format!("{i:0width$}\n")
      })
      .collect();
    lines[10] = format!("{}\n", "x".repeat(149));
    lines[11] = format!("{}\n", "y".repeat(99));
    lines[250] = format!("{}\n", "z".repeat(1000));
    lines
  }

  #[test]
  fn chunks_rotate_by_size_between_lines_as_single_lines_do() {
    let lines = varied_lines();
    let all: String = lines.concat();
    let config = |dir: &Path| LogConfig {
      out_file: Some(dir.join("out.log")),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    };
    // Line by line, as before.
    let dir = temp("chunks-lines");
    let mut w = writer(config(&dir));
    for line in &lines {
      feed(&mut w, Stream::Stdout, line.as_bytes());
    }
    let expected = numbered(&dir.join("out.log"));
    assert!(expected.len() > 100, "{}", expected.len());
    assert_eq!(expected.concat(), all);
    for file in &expected {
      assert!(file.ends_with('\n'), "{file:?}");
      assert!(
        file.len() <= 100 || file.lines().count() == 1,
        "{} bytes: {file:?}",
        file.len()
      );
    }
    // In chunks: all at once (one chunk over many rotations, the overlong lines among
    // them), and cut anywhere, lines split between chunks.
    for size in [all.len(), 4096, 250, 100, 37, 1] {
      let dir = temp(&format!("chunks-{size}"));
      let mut w = writer(config(&dir));
      for chunk in all.as_bytes().chunks(size) {
        feed(&mut w, Stream::Stdout, chunk);
      }
      assert_eq!(numbered(&dir.join("out.log")), expected, "chunks of {size}");
    }
  }

  #[test]
  fn chunks_keep_lines_whole_across_rotations_of_merged_streams() {
    let dir = temp("chunks-merged");
    let path = dir.join("all.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      err_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    });
    let out: String = (0..200).map(|i| format!("out {i:04}\n")).collect();
    let err: String = (0..200)
      .map(|i| format!("err {i:04} {}\n", "e".repeat(i % 13)))
      .collect();
    for (a, b) in out.as_bytes().chunks(23).zip(err.as_bytes().chunks(41)) {
      feed(&mut w, Stream::Stdout, a);
      feed(&mut w, Stream::Stderr, b);
    }
    for rest in out.as_bytes().chunks(23).skip(err.len().div_ceil(41)) {
      feed(&mut w, Stream::Stdout, rest);
    }
    let files = numbered(&path);
    let (mut outs, mut errs) = (Vec::new(), Vec::new());
    for file in &files {
      assert!(file.len() <= 100, "{} bytes: {file:?}", file.len());
      for line in file.lines() {
        match &line[..4] {
          "out " => outs.push(line),
          "err " => errs.push(line),
          _ => panic!("a line cut: {line:?}"),
        }
      }
    }
    assert_eq!(outs, out.lines().collect::<Vec<_>>());
    assert_eq!(errs, err.lines().collect::<Vec<_>>());
  }

  #[test]
  fn an_overlong_unfinished_line_gets_a_file_of_its_own() {
    let dir = temp("chunks-overlong");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 100,
      ..Default::default()
    });
    let long = vec![b'L'; MAX_PENDING + 10];
    feed(&mut w, Stream::Stdout, b"one\ntwo\nthr");
    feed(&mut w, Stream::Stdout, &long);
    feed(&mut w, Stream::Stdout, b"\nfour\n");
    let files = numbered(&path);
    let expected_long = format!("thr{}\n", "L".repeat(MAX_PENDING + 10));
    assert_eq!(
      files,
      ["one\ntwo\n", expected_long.as_str(), "\nfour\n"],
      "{:?}",
      files.iter().map(String::len).collect::<Vec<_>>()
    );
  }

  #[test]
  fn stamped_chunks_rotate_by_size_between_lines() {
    let dir = temp("chunks-stamped");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    });
    let all: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
    for chunk in all.as_bytes().chunks(57) {
      feed(&mut w, Stream::Stdout, chunk);
    }
    let files = numbered(&path);
    let mut seen = Vec::new();
    for file in &files {
      // A stamp and a line are 34 bytes: two fit in 100.
      assert!(file.len() <= 100, "{file:?}");
      for line in file.lines() {
        assert_eq!(line.len(), 25 + 8, "{line:?}");
        seen.push(line[25..].to_string());
      }
    }
    assert_eq!(seen, all.lines().collect::<Vec<_>>());
  }

  #[test]
  fn a_quiet_file_rotates_when_its_period_ends() {
    let dir = temp("tick");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"today\n");
    let period = file(&w, 0).period.clone().unwrap();
    assert_eq!(w.next_due(), Some(period.end_ms));
    // Not yet: a tick a moment before the end does nothing.
    w.tick(period.end_ms - 1, None);
    assert_eq!(listing(&dir), ["out.log"]);
    w.tick(period.end_ms, None);
    assert_eq!(
      fs::read_to_string(dir.join(format!("out.log.{}", period.label))).unwrap(),
      "today\n"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    // An empty file has nothing to rotate, and no timer.
    assert_eq!(w.next_due(), None);
    w.tick(period.end_ms + 2 * DAY_MS, None);
    assert_eq!(listing(&dir).len(), 2);
  }

  #[test]
  fn lines_left_from_an_earlier_period_are_rotated_before_the_first_new_one() {
    let dir = temp("yesterday");
    let path = dir.join("out.log");
    fs::write(&path, "old\n").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    File::options()
      .write(true)
      .open(&path)
      .unwrap()
      .set_modified(two_days_ago)
      .unwrap();
    let label = daily_utc()
      .unwrap()
      .period_at(millis_since_epoch(two_days_ago), &schedule::Utc)
      .label;
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"new\n");
    assert_eq!(
      fs::read_to_string(dir.join(format!("out.log.{label}"))).unwrap(),
      "old\n"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
  }

  #[test]
  fn compressed_rotation_keeps_every_line() {
    let dir = temp("gz");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(1000),
      compress: true,
      max_files: 100,
      ..Default::default()
    });
    for i in 0..500 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    keeper::settle();
    let names = listing(&dir);
    assert!(
      names.iter().all(|n| n == "out.log" || n.ends_with(".gz")),
      "{names:?}"
    );
    let mut text = String::new();
    for n in 1..names.len() {
      let mut gz =
        flate2::read::GzDecoder::new(File::open(dir.join(format!("out.log.{n}.gz"))).unwrap());
      io::Read::read_to_string(&mut gz, &mut text).unwrap();
    }
    text += &fs::read_to_string(&path).unwrap();
    let expected: String = (0..500).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(text, expected);
  }

  #[test]
  fn the_first_writer_of_a_log_tidies_what_a_dead_host_left_before_any_rotation() {
    let dir = temp("tidy-at-open");
    let path = dir.join("out.log");
    fs::write(dir.join("out.log.2026-11-28"), "28\n").unwrap();
    fs::write(dir.join("out.log.2026-11-29"), "29\n").unwrap();
    fs::write(dir.join("out.log.2026-11-29.gz.tmp"), "cut short").unwrap();
    fs::write(&path, "live\n").unwrap();
    let _w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      rotate: daily_utc(),
      compress: true,
      max_files: 5,
      ..Default::default()
    });
    keeper::settle();
    assert_eq!(
      listing(&dir),
      ["out.log", "out.log.2026-11-28.gz", "out.log.2026-11-29.gz"]
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "live\n");
  }

  #[test]
  fn a_device_is_never_rotated() {
    let mut w = writer(LogConfig {
      out_file: Some(PathBuf::from("/dev/null")),
      max_size: Some(10),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    let (report, seen) = collect();
    for _ in 0..5 {
      let end = w.written[0] + 20;
      w.data(Stream::Stdout, b"twenty bytes a line\n", end, Some(&report));
    }
    w.tick(wall_ms() + 2 * DAY_MS, Some(&report));
    assert!(lock(&seen).is_empty());
  }

  #[test]
  fn an_exited_childs_unfinished_line_is_written_at_its_end() {
    let dir = temp("settle");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    // The child wrote "no newline" and exited; the settle mark comes before the bytes.
    w.settle(Stream::Stdout, 10, None);
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    // Its bytes and the next child's first line arrive in one chunk.
    feed(&mut w, Stream::Stdout, b"no newlinenext\n");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("Z no newline"), "{text}");
    assert!(lines[1].ends_with("Z next"), "{text}");
  }

  #[test]
  fn a_symlink_at_the_path_is_refused() {
    let dir = temp("symlink");
    let target = dir.join("elsewhere");
    let link = dir.join("out.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut w = Writer::new(
      &LogConfig {
        out_file: Some(link),
        ..Default::default()
      },
      Arc::default(),
    );
    let (report, seen) = collect();
    w.prepare(true, &report);
    let seen = lock(&seen);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].code().as_deref(), Some("ELOOP"));
    assert!(!target.exists());
  }

  #[test]
  fn a_fifo_is_a_stream_its_writers_never_wait_on() {
    let dir = temp("fifo");
    let path = dir.join("out.log");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // No reader: the open itself fails at once (ENXIO), rather than waiting for one.
    let err = open_log(&path, false).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("ENXIO"));
    // With a reader, it is a stream: what the reader has not taken waits, in order, and
    // no write waits for it.
    let mut reader = OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(&path)
      .unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: false,
      max_size: Some(1000),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    let lines: Vec<String> = (0..20_000).map(|i| format!("line {i:05}\n")).collect();
    for line in &lines {
      feed(&mut w, Stream::Stdout, line.as_bytes());
    }
    assert!(file(&w, 0).waiting(), "more than a pipe holds");
    assert!(w.blocked(None).1.is_some());
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < lines.concat().len() && Instant::now() < deadline {
      let mut buf = [0u8; 65536];
      match io::Read::read(&mut reader, &mut buf) {
        Ok(n) => got.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
          w.blocked(None);
        }
        Err(e) => panic!("{e}"),
      }
    }
    assert_eq!(String::from_utf8(got).unwrap(), lines.concat());
    assert!(w.blocked(None).1.is_none());
    // Never rotated: nothing but the FIFO in the directory.
    assert_eq!(listing(&dir), ["out.log"]);
    // The reader gone: an error (EPIPE), and what waited goes with it.
    drop(reader);
    let (report, seen) = collect();
    let end = w.written[0] + 4;
    w.data(Stream::Stdout, b"gone", end, Some(&report));
    let end = w.written[0] + 1;
    w.data(Stream::Stdout, b"\n", end, Some(&report));
    assert_eq!(lock(&seen)[0].code().as_deref(), Some("EPIPE"));
  }

  #[test]
  fn the_hosts_own_descriptors_are_named_as_usual() {
    for (name, fd) in [
      ("/dev/stdout", Some(1)),
      ("/dev/stderr", Some(2)),
      ("/dev/fd/7", Some(7)),
      ("/proc/self/fd/12", Some(12)),
      ("/dev/fd/", None),
      ("/dev/fd/+1", None),
      ("/dev/fd/1/", None),
      ("/proc/1/fd/1", None),
      ("/dev/stdin2", None),
    ] {
      assert_eq!(file::host_fd(Path::new(name)), fd, "{name}");
    }
  }

  #[test]
  fn a_symlink_of_ours_to_a_device_or_a_fifo_is_followed_and_to_a_file_refused() {
    let dir = temp("follow");
    let link = |name: &str, to: &Path| {
      let at = dir.join(name);
      std::os::unix::fs::symlink(to, &at).unwrap();
      at
    };
    let opened = open_log(&link("null.log", Path::new("/dev/null")), true).unwrap();
    assert_eq!(opened.kind, file::Kind::Stream { own: true });
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let to_fifo = link("fifo.log", &fifo);
    assert_eq!(
      open_log(&to_fifo, false).unwrap_err().code().as_deref(),
      Some("ENXIO"),
      "a FIFO nobody reads"
    );
    let _reader = OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(&fifo)
      .unwrap();
    assert!(open_log(&to_fifo, false).is_ok());
    fs::write(dir.join("theirs"), "keep\n").unwrap();
    for target in [dir.join("theirs"), dir.join("nowhere"), dir.clone()] {
      let at = link(
        &format!("{}.log", target.display()).replace('/', "_"),
        &target,
      );
      assert_eq!(
        open_log(&at, true).unwrap_err().code().as_deref(),
        Some("ELOOP"),
        "{target:?}"
      );
    }
    assert_eq!(fs::read_to_string(dir.join("theirs")).unwrap(), "keep\n");
    assert!(!dir.join("nowhere").exists());
  }

  #[test]
  fn a_failing_file_is_reported_once_per_episode() {
    let dir = temp("episode");
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    let (report, seen) = collect();
    feed(&mut w, Stream::Stdout, b"one\n");
    // A missing directory is made again: a file in its place is what fails.
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "").unwrap();
    for _ in 0..3 {
      file(&w, 0).checked = Some(Instant::now() - RECHECK);
      let end = w.written[0] + 4;
      w.data(Stream::Stdout, b"two\n", end, Some(&report));
    }
    assert_eq!(lock(&seen).len(), 1, "one error for the whole episode");
    fs::remove_file(&sub).unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    let end = w.written[0] + 6;
    w.data(Stream::Stdout, b"three\n", end, Some(&report));
    assert_eq!(fs::read_to_string(&path).unwrap(), "three\n");
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "").unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    let end = w.written[0] + 5;
    w.data(Stream::Stdout, b"four\n", end, Some(&report));
    assert_eq!(lock(&seen).len(), 2, "a new episode is reported again");
  }

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

  #[test]
  fn a_deleted_file_is_recreated() {
    let dir = temp("deleted");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"one\n");
    fs::remove_file(&path).unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    feed(&mut w, Stream::Stdout, b"two\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
  }
}
