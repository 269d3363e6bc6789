//! The supervisor: one tokio task per monitor, driven by a control channel.
//!
//! The task owns the child, waits for it, asks the [`Policy`] what to do when it exits and
//! does it at once — restarts never wait for the JS thread, which only hears about them
//! afterwards through the monitor's [`EventSink`]. Calls from JS ([`Handle`]) send a
//! [`Control`] and wait for the task's short answer, so errors such as "not running" are
//! decided by the task, which alone knows the truth.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use crate::error::{CoreError, Result};
use crate::guardian;
use crate::ipc;
use crate::logs::{LogConfig, LogWriter};
use crate::output::{self, Credit, Gate, Outputs, Pump, Stream, Taps};
use crate::policy::{Action, Limits, Outcome, Phase, Policy, Refusal};
use crate::process::{self, Reach, SpawnSpec};
use crate::watch::{self, Notice, WatchConfig};

/// What the core tells JS, in the order it happened.
#[derive(Debug)]
pub enum Event {
  /// The core started a child by itself (an automatic or requested restart).
  Started {
    /// The child's pid.
    pid: u32,
    /// Start time, milliseconds since the epoch (`Date.now()`).
    ctime: f64,
    /// Whether to report it as a restart.
    restart: bool,
    /// Its IPC channel, to be read on the host's loop from now on.
    channel: Option<Arc<ipc::Channel>>,
  },
  /// The child exited; `outcome` says what the core did next.
  Exited {
    /// Exit code, when it exited by itself.
    code: Option<i32>,
    /// Signal name, when a signal ended it.
    signal: Option<String>,
    /// It lived less than `minUptime`.
    spinning: bool,
    /// Runs so far.
    times: u32,
    /// What happens next.
    outcome: Outcome,
    /// The exit was requested by `stop()`/`kill()`/`restart()`.
    requested: bool,
    /// The child's IPC channel: whatever it sent before exiting is still to be read, and
    /// reported before the exit.
    channel: Option<Arc<ipc::Channel>>,
  },
  /// Supervision ended without a child exiting: a stop during a spin sleep, or a restart
  /// that could not spawn.
  Ended {
    /// True for a stop (JS emits `'stop'` too).
    stopped: bool,
  },
  /// A watched file changed; a restart follows.
  WatchRestart {
    /// The file.
    file: String,
  },
  /// Every watched directory that exists is being watched.
  WatchReady,
  /// Watching failed (a directory missing, inotify exhausted); watching goes on as it can.
  WatchError(CoreError),
  /// A runtime failure (spawn error, internal panic).
  Error(CoreError),
  /// Messages from the child wait in its channel, read ahead while the JS thread was
  /// busy; JS should take them.
  ChannelWaiting(Arc<ipc::Channel>),
  /// Output from the child, for JS listeners.
  Output {
    /// Which stream.
    stream: Stream,
    /// The bytes.
    data: Vec<u8>,
    /// Released once JS has taken the bytes.
    credit: Credit,
  },
}

/// Receives a monitor's events; implemented over a threadsafe function at the boundary.
pub trait EventSink: Send + Sync + 'static {
  /// Queues `event` for JS. Must not block.
  fn emit(&self, event: Event);
}

/// How a monitor runs its children, besides the command itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
  /// Restart limits.
  pub limits: Limits,
  /// Signal sent by `stop()`/`kill()`/`restart()`.
  pub kill_signal: Signal,
  /// Signal the whole process tree, not only the child.
  pub kill_tree: bool,
  /// Escalate to SIGKILL when the child outlives a kill by this long.
  pub kill_ttl: Option<Duration>,
  /// Copy output to the host's stdout/stderr.
  pub to_host: bool,
  /// Restart on file changes.
  pub watch: Option<WatchConfig>,
}

/// A start request from JS.
pub struct StartRequest {
  /// The command.
  pub spec: SpawnSpec,
  /// Restart and kill settings.
  pub options: RunOptions,
  /// Report the start as a restart.
  pub restart: bool,
  /// Where events go until supervision ends.
  pub sink: Arc<dyn EventSink>,
}

/// What `start()` returns.
#[derive(Debug, Clone)]
pub struct StartInfo {
  /// The child's pid.
  pub pid: u32,
  /// Start time, milliseconds since the epoch.
  pub ctime: f64,
  /// Its IPC channel, to be read on the host's loop.
  pub channel: Option<Arc<ipc::Channel>>,
}

/// Requests a [`Handle`] sends to its task.
enum Control {
  Start(Box<StartRequest>, oneshot::Sender<Result<StartInfo>>),
  Kill(bool, oneshot::Sender<Result<()>>),
  Restart(oneshot::Sender<Result<()>>),
  Signal(Signal, oneshot::Sender<Result<()>>),
  Logs(Option<Arc<LogWriter>>),
  Panic,
  Shutdown,
}

/// The JS side's handle on one monitor's task. Dropping it kills the child's tree.
pub struct Handle {
  tx: mpsc::UnboundedSender<Control>,
  pending: Mutex<Option<mpsc::UnboundedReceiver<Control>>>,
  /// Which output streams JS listens to.
  pub taps: Arc<Taps>,
  logs: Mutex<Option<Arc<LogWriter>>>,
  outlet: Arc<Mutex<Outlet>>,
}

/// Where `send()` goes right now; the task keeps it current so JS never waits for it.
#[derive(Clone, Default)]
enum Outlet {
  /// No child.
  #[default]
  Idle,
  /// A child without an IPC channel.
  NoChannel,
  /// The current child's channel.
  Open(Arc<ipc::Channel>),
}

/// The runtime all monitors share; its worker threads live as long as the host. A failure
/// to create it (no descriptors left) is not remembered: the next monitor tries again.
pub fn runtime() -> Result<&'static Runtime> {
  static RUNTIME: Mutex<Option<&'static Runtime>> = Mutex::new(None);
  let mut slot = lock(&RUNTIME);
  if let Some(runtime) = *slot {
    return Ok(runtime);
  }
  // tokio's signal driver panics (for good: its globals are a poisoned once-cell) when it
  // finds no descriptor for its self-pipe. Make sure there is room first, so that a host at
  // its descriptor limit gets a clean EMFILE and can try again later.
  let reserve = (0..8)
    .map(|_| std::fs::File::open("/dev/null").map_err(|e| CoreError::sys("runtime", None, e)))
    .collect::<Result<Vec<_>>>()?;
  drop(reserve);
  let runtime = std::panic::catch_unwind(|| {
    tokio::runtime::Builder::new_multi_thread()
      .worker_threads(2)
      .thread_name("forever-native")
      .enable_all()
      .build()
  })
  .map_err(|_| CoreError::Panic("the async runtime could not be built".to_string()))?
  .map_err(|e| CoreError::sys("runtime", None, e))?;
  let runtime: &'static Runtime = Box::leak(Box::new(runtime));
  *slot = Some(runtime);
  Ok(runtime)
}

impl Default for Handle {
  fn default() -> Self {
    Handle::new()
  }
}

impl Handle {
  /// A handle whose task starts with the first call that needs it; creating one cannot
  /// fail, so a host short of resources hears about it as a failed `start()`.
  pub fn new() -> Handle {
    let (tx, rx) = mpsc::unbounded_channel();
    Handle {
      tx,
      pending: Mutex::new(Some(rx)),
      taps: Arc::new(Taps::default()),
      logs: Mutex::new(None),
      outlet: Arc::new(Mutex::new(Outlet::Idle)),
    }
  }

  /// Spawns the task if it is not running yet (retried after a failure).
  fn ensure_task(&self) -> Result<()> {
    let mut pending = lock(&self.pending);
    if let Some(rx) = pending.take() {
      match runtime() {
        Ok(runtime) => {
          runtime.spawn(supervise(
            rx,
            Arc::clone(&self.taps),
            Arc::clone(&self.outlet),
          ));
        }
        Err(e) => {
          *pending = Some(rx);
          return Err(e);
        }
      }
    }
    Ok(())
  }

  fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Control) -> Result<T> {
    self.ensure_task()?;
    let (reply, answer) = oneshot::channel();
    self
      .tx
      .send(make(reply))
      .map_err(|_| CoreError::SupervisorGone)?;
    answer
      .blocking_recv()
      .map_err(|_| CoreError::SupervisorGone)?
  }

  /// Spawns the first child (or the next, after supervision ended).
  pub fn start(&self, request: StartRequest) -> Result<StartInfo> {
    self.call(|reply| Control::Start(Box::new(request), reply))
  }

  /// `kill(force_stop)`: signals the child; `stop()` is `kill(true)`.
  pub fn kill(&self, force_stop: bool) -> Result<()> {
    self.call(|reply| Control::Kill(force_stop, reply))
  }

  /// Restarts a running child (or cuts a spin sleep short). `NotRunning` when idle: the
  /// caller then starts it afresh.
  pub fn restart(&self) -> Result<()> {
    self.call(Control::Restart)
  }

  /// Sends `signal` to the child alone.
  pub fn signal(&self, signal: Signal) -> Result<()> {
    self.call(|reply| Control::Signal(signal, reply))
  }

  /// Sends one serialised message to the child over its IPC channel, from the calling
  /// thread: no round trip through the task.
  pub fn send(&self, payload: Vec<u8>) -> Result<()> {
    let outlet = lock(&self.outlet).clone();
    match outlet {
      Outlet::Open(channel) => channel.send(payload),
      Outlet::NoChannel => Err(CoreError::NoChannel),
      Outlet::Idle => Err(CoreError::NotRunning),
    }
  }

  /// Opens the log files now (truncating them unless `append`) and writes every later
  /// child's output to them. Returns the files that could not be opened (they are retried).
  pub fn set_logs(&self, config: LogConfig) -> Vec<CoreError> {
    let (writer, errors) = LogWriter::open(config);
    *lock(&self.logs) = Some(Arc::clone(&writer));
    let _ = self.tx.send(Control::Logs(Some(writer)));
    errors
  }

  /// Closes and re-opens the log files, e.g. after an external logrotate moved them.
  pub fn reopen_logs(&self) -> Vec<CoreError> {
    let writer = lock(&self.logs).clone();
    writer.map(|w| w.reopen()).unwrap_or_default()
  }

  /// Test hook: makes the task panic, to prove a panic never reaches Node.
  pub fn panic_for_test(&self) {
    let _ = self.tx.send(Control::Panic);
  }
}

impl Drop for Handle {
  fn drop(&mut self) {
    let _ = self.tx.send(Control::Shutdown);
  }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
  mutex
    .lock()
    .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn epoch_ms() -> f64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| d.as_secs_f64() * 1000.0)
    .unwrap_or(0.0)
}

/// The current child and what belongs to it.
struct Child {
  process: tokio::process::Child,
  pid: u32,
  guarded: bool,
  pumps: Vec<Pump>,
  ipc: Option<Arc<ipc::Channel>>,
}

/// The sink of the current supervision run, shared with the panic handler.
#[derive(Default)]
struct SinkSlot(Mutex<Option<Arc<dyn EventSink>>>);

impl SinkSlot {
  fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<dyn EventSink>>> {
    self
      .0
      .lock()
      .unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  fn emit(&self, event: Event) {
    if let Some(sink) = self.lock().as_ref() {
      sink.emit(event);
    }
  }

  fn weak(&self) -> Weak<dyn EventSink> {
    match self.lock().as_ref() {
      Some(sink) => Arc::downgrade(sink),
      None => no_sink(),
    }
  }
}

struct NoSink;
impl EventSink for NoSink {
  fn emit(&self, _event: Event) {}
}

/// A sink reference that never reaches anyone.
pub fn no_sink() -> Weak<dyn EventSink> {
  Weak::<NoSink>::new()
}

/// A burst of file changes being debounced.
struct Change {
  file: PathBuf,
  first: tokio::time::Instant,
  due: tokio::time::Instant,
}

struct Task {
  policy: Policy,
  spec: Option<SpawnSpec>,
  options: Option<RunOptions>,
  child: Option<Child>,
  escalate_at: Option<tokio::time::Instant>,
  sink: Arc<SinkSlot>,
  taps: Arc<Taps>,
  gate: Arc<Gate>,
  outlet: Arc<Mutex<Outlet>>,
  logs: Option<Arc<LogWriter>>,
  watching: Option<watch::Watching>,
  change: Option<Change>,
  origin: Instant,
  live_pid: Arc<AtomicU32>,
}

async fn supervise(
  mut rx: mpsc::UnboundedReceiver<Control>,
  taps: Arc<Taps>,
  outlet: Arc<Mutex<Outlet>>,
) {
  let sink = Arc::new(SinkSlot::default());
  let live_pid = Arc::new(AtomicU32::new(0));
  loop {
    let mut task = Task {
      policy: Policy::new(Limits::default()),
      spec: None,
      options: None,
      child: None,
      escalate_at: None,
      sink: Arc::clone(&sink),
      taps: Arc::clone(&taps),
      gate: Arc::new(Gate::default()),
      outlet: Arc::clone(&outlet),
      logs: None,
      watching: None,
      change: None,
      origin: Instant::now(),
      live_pid: Arc::clone(&live_pid),
    };
    match CatchUnwind(task.run(&mut rx)).await {
      Ok(()) => return,
      Err(message) => {
        // The task's state is lost with the panic: take its child down rather than leave
        // it unsupervised, tell JS, and carry on with a fresh, idle task.
        let pid = live_pid.swap(0, Ordering::AcqRel);
        if pid != 0 {
          process::signal_tree(pid, Signal::SIGKILL, Reach::Group);
        }
        *lock(&outlet) = Outlet::Idle;
        sink.emit(Event::Error(CoreError::Panic(message)));
        sink.emit(Event::Ended { stopped: false });
        sink.lock().take();
      }
    }
  }
}

impl Task {
  fn now_ms(&self) -> u64 {
    u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
  }

  async fn run(&mut self, rx: &mut mpsc::UnboundedReceiver<Control>) {
    loop {
      let wake = self
        .policy
        .wake_at()
        .map(|ms| tokio::time::Instant::from_std(self.origin + Duration::from_millis(ms)));
      tokio::select! {
        control = rx.recv() => match control {
          None | Some(Control::Shutdown) => {
            self.shutdown();
            return;
          }
          Some(control) => self.control(control),
        },
        status = wait(&mut self.child) => self.exited(status).await,
        _ = sleep_until(wake) => self.respawn(),
        notice = next_notice(&mut self.watching) => self.notice(notice),
        _ = sleep_until(self.change.as_ref().map(|c| c.due)) => self.changed(),
        _ = sleep_until(self.escalate_at) => {
          self.escalate_at = None;
          if let Some(child) = &self.child {
            process::signal_tree(child.pid, Signal::SIGKILL, Reach::Group);
          }
        }
      }
    }
  }

  fn control(&mut self, control: Control) {
    match control {
      Control::Start(request, reply) => {
        let _ = reply.send(self.start(*request));
      }
      Control::Kill(force_stop, reply) => {
        let result = match self.policy.kill(force_stop) {
          Ok(Action::Signal) => {
            self.signal_child();
            Ok(())
          }
          Ok(_) => {
            self.sink.emit(Event::Ended { stopped: true });
            self.end();
            Ok(())
          }
          Err(refusal) => Err(refusal.into()),
        };
        let _ = reply.send(result);
      }
      Control::Restart(reply) => {
        let _ = reply.send(self.restart());
      }
      Control::Signal(signal, reply) => {
        let result = match &self.child {
          Some(child) => {
            process::signal_tree(child.pid, signal, Reach::Process);
            Ok(())
          }
          None => Err(CoreError::NotRunning),
        };
        let _ = reply.send(result);
      }
      Control::Logs(logs) => self.logs = logs,
      Control::Panic => panic!("panic requested by a test"),
      Control::Shutdown => self.shutdown(),
    }
  }

  /// `restart()`: kills a running child so that it restarts, or cuts a spin sleep short.
  fn restart(&mut self) -> Result<()> {
    if self.policy.phase() == Phase::Idle {
      return Err(CoreError::NotRunning);
    }
    match self.policy.restart() {
      Action::Signal => self.signal_child(),
      _ => self.respawn(),
    }
    Ok(())
  }

  /// Supervision is over: release JS (its event loop may end) and stop watching.
  fn end(&mut self) {
    self.sink.lock().take();
    self.watching = None;
    self.change = None;
  }

  fn notice(&mut self, notice: Option<Notice>) {
    match notice {
      Some(Notice::Changed(file)) => {
        let debounce = self
          .options
          .as_ref()
          .and_then(|o| o.watch.as_ref())
          .map_or(Duration::ZERO, |w| w.debounce);
        let now = tokio::time::Instant::now();
        match &mut self.change {
          // A burst that never pauses still restarts, after ten debounce periods.
          Some(change) => change.due = (now + debounce).min(change.first + debounce * 10),
          None => {
            self.change = Some(Change {
              file,
              first: now,
              due: now + debounce,
            })
          }
        }
      }
      Some(Notice::Failed(error)) => self.sink.emit(Event::WatchError(error)),
      Some(Notice::Ready) => self.sink.emit(Event::WatchReady),
      // The watcher thread is gone; nothing more will come.
      None => self.watching = None,
    }
  }

  fn changed(&mut self) {
    let Some(change) = self.change.take() else {
      return;
    };
    self.sink.emit(Event::WatchRestart {
      file: change.file.display().to_string(),
    });
    let _ = self.restart();
  }

  fn start(&mut self, request: StartRequest) -> Result<StartInfo> {
    let Ok(Action::Spawn { .. }) = self.policy.start(request.restart) else {
      return Err(CoreError::AlreadyRunning);
    };
    self.policy.set_limits(request.options.limits);
    self.spec = Some(request.spec);
    self.options = Some(request.options);
    *self.sink.lock() = Some(request.sink);
    match self.spawn() {
      Ok(info) => {
        let config = self.options.as_ref().and_then(|o| o.watch.clone());
        if let Some(config) = config {
          match watch::start(config) {
            Ok(watching) => self.watching = Some(watching),
            Err(e) => self.sink.emit(Event::WatchError(e)),
          }
        }
        Ok(info)
      }
      Err(e) => {
        self.policy.spawn_failed();
        self.end();
        Err(e)
      }
    }
  }

  fn spawn(&mut self) -> Result<StartInfo> {
    let (Some(spec), Some(options)) = (&self.spec, &self.options) else {
      return Err(CoreError::NotRunning);
    };
    let direct = match &self.logs {
      Some(logs) => {
        let (files, errors) = logs.direct_files();
        for error in errors {
          self.sink.emit(Event::Error(error));
        }
        files
      }
      None => [None, None],
    };
    let spawned = process::spawn(spec, direct)?;
    let guarded = !spec.detached;
    if guarded {
      guardian::watch(spawned.pid);
    }
    let outputs = Arc::new(Outputs {
      to_host: options.to_host,
      taps: Arc::clone(&self.taps),
      gate: Arc::clone(&self.gate),
      logs: self.logs.clone(),
    });
    let mut pumps = Vec::with_capacity(2);
    for (pipe, stream) in [
      (spawned.stdout, Stream::Stdout),
      (spawned.stderr, Stream::Stderr),
    ] {
      if let Some(pipe) = pipe {
        pumps.push(Pump::start(
          pipe,
          stream,
          Arc::clone(&outputs),
          self.sink.weak(),
        ));
      }
    }
    let ipc = match spawned.ipc {
      Some(fd) => match ipc::Channel::open(fd, spec.serialization, self.sink.weak()) {
        Ok(channel) => Some(channel),
        Err(e) => {
          self.sink.emit(Event::Error(e));
          None
        }
      },
      None => None,
    };
    *lock(&self.outlet) = match &ipc {
      Some(channel) => Outlet::Open(Arc::clone(channel)),
      None => Outlet::NoChannel,
    };
    self.live_pid.store(spawned.pid, Ordering::Release);
    self.child = Some(Child {
      process: spawned.child,
      pid: spawned.pid,
      guarded,
      pumps,
      ipc: ipc.clone(),
    });
    self.escalate_at = None;
    let now = self.now_ms();
    self.policy.spawned(now);
    Ok(StartInfo {
      pid: spawned.pid,
      ctime: epoch_ms(),
      channel: ipc,
    })
  }

  /// Starts the next child by the core's own decision and tells JS.
  fn respawn(&mut self) {
    match self.spawn() {
      Ok(info) => self.sink.emit(Event::Started {
        pid: info.pid,
        ctime: info.ctime,
        restart: true,
        channel: info.channel,
      }),
      Err(e) => {
        self.policy.spawn_failed();
        self.sink.emit(Event::Error(e));
        self.sink.emit(Event::Ended { stopped: false });
        self.end();
      }
    }
  }

  fn signal_child(&mut self) {
    let (Some(child), Some(options)) = (&self.child, &self.options) else {
      return;
    };
    process::signal_tree(child.pid, options.kill_signal, reach(options.kill_tree));
    if let Some(ttl) = options.kill_ttl {
      self.escalate_at = Some(tokio::time::Instant::now() + ttl);
    }
  }

  async fn exited(&mut self, status: std::io::Result<ExitStatus>) {
    let Some(child) = self.child.take() else {
      return;
    };
    *lock(&self.outlet) = Outlet::Idle;
    self.live_pid.store(0, Ordering::Release);
    self.escalate_at = None;
    let now = self.now_ms();
    let kill_tree = self.options.as_ref().is_some_and(|o| o.kill_tree);
    let verdict = self.policy.exited(now);
    if verdict.requested && kill_tree {
      // What the kill left of the tree (grandchildren that ignored the signal) goes too.
      process::signal_group(child.pid, Signal::SIGKILL);
    }
    if child.guarded {
      guardian::forget(child.pid);
    }
    for pump in child.pumps {
      pump.finish().await;
    }
    if self.options.as_ref().is_some_and(|o| o.to_host) {
      output::flush_host().await;
    }
    if let Some(logs) = &self.logs {
      logs.flush().await;
    }
    let (code, signal) = match &status {
      Ok(status) => {
        use std::os::unix::process::ExitStatusExt;
        (
          status.code(),
          status
            .signal()
            .and_then(process::signal_name)
            .map(str::to_string),
        )
      }
      Err(_) => (None, None),
    };
    self.sink.emit(Event::Exited {
      code,
      signal,
      spinning: verdict.spinning,
      times: verdict.times,
      outcome: verdict.outcome,
      requested: verdict.requested,
      channel: child.ipc,
    });
    match verdict.outcome {
      Outcome::Restart => self.respawn(),
      Outcome::RestartAfter(_) => {}
      Outcome::GiveUp => self.end(),
    }
  }

  /// The JS side is gone (its object was collected, or its Worker ended): kill the child.
  fn shutdown(&mut self) {
    if let Some(mut child) = self.child.take() {
      let tree = self.options.as_ref().is_none_or(|o| o.kill_tree);
      process::signal_tree(child.pid, Signal::SIGKILL, reach(tree));
      self.live_pid.store(0, Ordering::Release);
      *lock(&self.outlet) = Outlet::Idle;
      // Reap it, rather than leave tokio's best-effort orphan queue to it.
      tokio::spawn(async move {
        let _ = child.process.wait().await;
        if child.guarded {
          guardian::forget(child.pid);
        }
      });
    }
    self.end();
  }
}

fn reach(kill_tree: bool) -> Reach {
  if kill_tree {
    Reach::Group
  } else {
    Reach::Process
  }
}

async fn wait(child: &mut Option<Child>) -> std::io::Result<ExitStatus> {
  match child {
    Some(child) => child.process.wait().await,
    None => std::future::pending().await,
  }
}

async fn next_notice(watching: &mut Option<watch::Watching>) -> Option<Notice> {
  match watching {
    Some(w) => w.notices.recv().await,
    None => std::future::pending().await,
  }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
  match at {
    Some(at) => tokio::time::sleep_until(at).await,
    None => std::future::pending().await,
  }
}

/// Runs a future, turning a panic inside it into `Err(message)`.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
  type Output = std::result::Result<F::Output, String>;

  fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
    // SAFETY: the inner future is never moved out of the pinned wrapper.
    let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
    match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
      Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
      Ok(Poll::Pending) => Poll::Pending,
      Err(payload) => Poll::Ready(Err(
        payload
          .downcast_ref::<&str>()
          .map(|s| s.to_string())
          .or_else(|| payload.downcast_ref::<String>().cloned())
          .unwrap_or_else(|| "unknown panic".to_string()),
      )),
    }
  }
}

impl From<Refusal> for CoreError {
  fn from(refusal: Refusal) -> Self {
    match refusal {
      Refusal::AlreadyRunning => CoreError::AlreadyRunning,
      Refusal::NotRunning => CoreError::NotRunning,
    }
  }
}
