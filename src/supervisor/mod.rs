//! The supervisor: one tokio task per monitor, driven by orders from JS and by what its
//! child does.
//!
//! JS calls ([`Handle`]) never wait for the task. Each takes the monitor's state lock for
//! a moment, asks the pure [`Policy`] what to do — so refusals such as "not running" are
//! answered at once, by the one owner of the rules — and leaves an [`Order`] for the task.
//! Only `start()` does work on the calling thread: it spawns the child there, because
//! forever-monitor's callers read `monitor.child.pid` right after it. Everything else —
//! waiting for the child, deciding and performing restarts, kills and their escalation,
//! cleaning up what a crashed child left — happens in the task (see `task.rs`), even
//! while the JS thread is blocked; JS hears about it afterwards through the run's
//! [`Outbox`], which keeps events in order with the output.
//!
//! No spawn holds the state lock while it forks (or opens files, or starts the guardian),
//! except the first one, `start()`'s, on the JS thread itself: the task tells the policy a
//! child is running, lets go of the lock, spawns, and installs the child. A call JS makes
//! meanwhile sees that child as running; its order waits in the queue and is carried out
//! on that child once it is installed, as if the call had come a moment after the spawn.
//!
//! A supervision run may hold listening sockets ([`Listeners`]): bound by `start()`, given
//! to every child of the run, closed when the run ends. With them, `reload()` starts a new
//! child beside the running one, which takes over once it is ready (see `reload.rs`).

mod checks;
pub mod events;
mod outbox;
mod processes;
mod reload;
mod task;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::error::{CoreError, Result};
use crate::health::{HealthConfig, NotifySocket, Signals};
use crate::ipc::{Channel, Serialization};
use crate::listen::{Bound, ListenSpec, Listeners};
use crate::logs::{LogConfig, LogSink, Report};
use crate::output::{self, Destination, Pump, Stream, Taps};
use crate::policy::{Command, KillOrder, Limits, Policy, Refusal, ReloadPlan};
use crate::process::{OutputEnd, SpawnSpec, StdioSpec};
use crate::runtime;
use crate::stdin::Stdin;
use crate::sync::lock;
use crate::tag::Tag;
use crate::watch::WatchConfig;

pub use events::{Event, EventSink};
pub use outbox::{Outbox, JS_BACKLOG};
pub use processes::{ExitFuture, Launched, Processes, Remains, System};

/// How long `start()` waits for `logDirect` files to open on the blocking pool before it
/// gives the child a pipe instead (a hung file system must not hang the JS thread).
const DIRECT_OPEN_WAIT: Duration = Duration::from_millis(100);

/// How a monitor runs its children, besides the command itself.
#[derive(Debug, Clone)]
pub struct RunOptions {
  /// Restart limits and kill rules.
  pub limits: Limits,
  /// Copy output to the host's stdout/stderr.
  pub to_host: bool,
  /// Restart on file changes.
  pub watch: Option<WatchConfig>,
  /// How IPC messages are encoded.
  pub serialization: Serialization,
  /// Readiness, watchdog, memory limit and shutdown message.
  pub health: HealthConfig,
  /// Addresses the core listens on for the children of the run (socket activation).
  pub listen: Vec<ListenSpec>,
  /// The listen backlog of each.
  pub backlog: i32,
}

/// A start request from JS.
pub struct StartRequest {
  /// The command.
  pub spec: SpawnSpec,
  /// Restart and kill settings.
  pub options: RunOptions,
  /// Report the start as a restart.
  pub restart: bool,
  /// Where the run's events go.
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
  pub channel: Option<Arc<Channel>>,
}

/// A child the JS thread (or the task) has just spawned.
pub(crate) struct ChildRun {
  pid: u32,
  /// The policy's number for it ([`Policy::child`](crate::policy::Policy::child)), once it
  /// is the current child: orders carry the number of the child they were given for.
  serial: u64,
  tag: Tag,
  exit: ExitFuture,
  started: tokio::time::Instant,
  channel: Option<Arc<Channel>>,
  /// The write end of its stdin pipe, closed when the child is dropped (it exited, or its
  /// supervision ended); JS reaches it by pid while it is the current child or a reload's
  /// new child ([`Inputs`]).
  stdin: Option<OwnStdin>,
  guarded: bool,
  run: Arc<Run>,
}

/// A child's own hold on its stdin: whatever else holds the [`Stdin`] (a writer, a JS call
/// under way), the write end closes when the child is dropped, and what waits fails with
/// EPIPE. A closed write end is never handed to another child: each has its own.
pub(crate) struct OwnStdin(Arc<Stdin>);

impl Drop for OwnStdin {
  fn drop(&mut self) {
    self.0.close();
  }
}

/// Where `writeStdin` and `endStdin` go: the child with that pid, if it is the current one
/// or a reload's new one beside it; kept current by the task, read by JS without waiting
/// for it. Children on their way out (a reload's old child being stopped) are not here:
/// their stdin stays open until they exit, but JS writes to them no more.
#[derive(Default)]
struct Inputs {
  current: Option<Input>,
  incoming: Option<Input>,
}

/// One child's entry in [`Inputs`].
#[derive(Clone)]
struct Input {
  pid: u32,
  stdin: Option<Arc<Stdin>>,
  /// Its `stdio[0]`, for the refusal when there is no pipe to write.
  spec: StdioSpec,
}

impl Input {
  fn of(child: &ChildRun) -> Input {
    Input {
      pid: child.pid,
      stdin: child.stdin.as_ref().map(|own| Arc::clone(&own.0)),
      spec: child.run.spec.stdio[0],
    }
  }
}

/// What a JS call leaves for the task, in order.
pub(crate) enum Order {
  /// A child `start()` spawned: the task waits for it from now on.
  Adopt(Box<ChildRun>),
  /// Signal the running child as the policy said, if it is still the child numbered so
  /// (one that exited as the call was made is gone, and the call's wish settled with it).
  Signal(KillOrder, u64),
  /// `child.kill(signal)`: the child alone, if it is still the child numbered so (and,
  /// for a call made on one child's object, still that pid: the core may have restarted
  /// it before JS heard).
  SignalChild(i32, u64, Option<u32>),
  /// `restart()` during a sleep before a restart: spawn now.
  SpawnNow,
  /// `stop()`: signal the running child (if still the one numbered so) as the policy
  /// said; a reload's new child goes too.
  Stop(KillOrder, u64),
  /// `reload()`: start a new child beside the running one.
  Reload(ReloadPlan),
  /// `stop()` during a sleep, or while waiting for a change: supervision of this run ended
  /// at once (`true`: after its `'exit'` was reported, while waiting).
  End(Arc<Run>, bool),
  /// `usage()` was called (`true`: its figures are stale): sample the tree.
  Sample(bool),
  /// The JS side is gone: kill the child and end.
  Shutdown,
  /// Test hook: panic inside the task.
  #[cfg(feature = "test-hooks")]
  Panic,
}

/// One supervision run: from a `start()` until supervision ends. Its pipes and pumps
/// serve every child of the run.
pub(crate) struct Run {
  spec: SpawnSpec,
  options: RunOptions,
  outbox: Arc<Outbox>,
  /// A pump per piped stream, for every child of the run.
  pumps: [Option<Pump>; 2],
  logs: Option<Arc<LogSink>>,
  /// Where its children say they are ready or alive (systemd's protocol).
  notify: Option<NotifySocket>,
  /// The sockets its children inherit, until the run ends. A spawn holds its own reference
  /// rather than the lock, which `listening()` takes.
  listeners: Mutex<Option<Arc<Listeners>>>,
}

impl Run {
  fn new(
    core: &Core,
    mut request: StartRequest,
    runtime: &tokio::runtime::Handle,
  ) -> Result<Arc<Run>> {
    // First: an address in use then leaves nothing behind.
    let listeners = if request.options.listen.is_empty() {
      None
    } else {
      Some(Arc::new(Listeners::bind(
        &request.options.listen,
        request.options.backlog,
      )?))
    };
    let health = &request.options.health;
    let notify = if health.needs_socket() {
      // The children's user: only its datagrams are heard.
      // SAFETY: getuid(2) cannot fail.
      let uid = request
        .spec
        .uid
        .unwrap_or_else(|| unsafe { libc::getuid() });
      let socket = NotifySocket::open(uid)?;
      // This monitor's own copy from now on.
      let env = std::sync::Arc::make_mut(&mut request.spec.env);
      env.insert("NOTIFY_SOCKET".to_string(), socket.address().to_string());
      if let Some(watchdog) = health.watchdog {
        env.insert(
          "WATCHDOG_USEC".to_string(),
          watchdog.as_micros().to_string(),
        );
      }
      Some(socket)
    } else {
      None
    };
    let logs = lock(&core.logs).clone();
    let outbox = Outbox::new(
      request.sink,
      Arc::clone(&core.taps),
      request.options.to_host,
      logs.clone(),
      runtime.clone(),
    );
    // Every pipe first: a failure (EMFILE) then leaves nothing behind.
    let mut ends = [None, None];
    for stream in Stream::BOTH {
      if request.spec.stdio[stream.index() + 1] == StdioSpec::Pipe {
        ends[stream.index()] = Some(output::pipe()?);
      }
    }
    let mut pumps = [None, None];
    for (stream, end) in Stream::BOTH.into_iter().zip(ends) {
      let Some(read) = end else { continue };
      let mut destinations: Vec<Arc<dyn Destination>> = vec![outbox.clone()];
      if let Some(host) = outbox.host_port() {
        destinations.push(host);
      }
      if let Some(logs) = &logs {
        if logs.routes(stream) {
          destinations.push(logs.clone());
        }
      }
      let poke = Arc::downgrade(&outbox);
      pumps[stream.index()] = Some(Pump::start(
        read,
        stream,
        destinations,
        Arc::new(move || {
          if let Some(outbox) = poke.upgrade() {
            outbox.poke();
          }
        }),
      )?);
    }
    if let Some(logs) = &logs {
      let errors = Arc::downgrade(&outbox);
      let poke = Arc::downgrade(&outbox);
      logs.attach(
        outbox.id(),
        Arc::new(move |e| outbox::report(&errors, e)),
        Arc::new(move || {
          if let Some(outbox) = poke.upgrade() {
            outbox.poke();
          }
        }),
      );
    }
    Ok(Arc::new(Run {
      spec: request.spec,
      options: request.options,
      outbox,
      pumps,
      logs,
      notify,
      listeners: Mutex::new(listeners),
    }))
  }

  /// What the run's sockets are bound to.
  fn listening(&self) -> Vec<(String, Bound)> {
    lock(&self.listeners)
      .as_ref()
      .map(|l| l.bound())
      .unwrap_or_default()
  }

  /// Where each stream's output ends now: bytes read plus bytes waiting in the pipe.
  fn marks(&self) -> [u64; 2] {
    let mark = |i: usize| self.pumps[i].as_ref().map_or(0, Pump::mark);
    [mark(0), mark(1)]
  }

  /// The outputs a new child gets: write ends of the run's pipes, or log files it writes
  /// itself (`logDirect`).
  fn outputs(&self, direct: [Option<File>; 2]) -> Result<[Option<OutputEnd>; 2]> {
    let mut ends = [None, None];
    for (i, file) in direct.into_iter().enumerate() {
      ends[i] = match (file, &self.pumps[i]) {
        (Some(file), _) => Some(OutputEnd::File(file)),
        (None, Some(pump)) => Some(OutputEnd::Pipe(pump.writer()?)),
        (None, None) => None,
      };
    }
    Ok(ends)
  }

  /// Closes the run's listening sockets (a Unix socket's file goes with them). Called before
  /// the event that ends supervision is emitted, so JS never hears of the end while they
  /// are still there. New connections are refused from now on; children still running
  /// keep their copies.
  fn unbind(&self) {
    drop(lock(&self.listeners).take());
  }

  /// Supervision is over: the pumps end once the pipes are empty and nothing holds them
  /// (leftovers may), the log files stop reporting to this run, and the outbox lets the
  /// sink go once its last events are out.
  fn close(&self) {
    self.unbind();
    for pump in self.pumps.iter().flatten() {
      pump.close();
    }
    if let Some(logs) = &self.logs {
      logs.detach(self.outbox.id());
    }
    self.outbox.close();
  }
}

/// Where `send()` goes right now; the task keeps it current so JS never waits for it.
#[derive(Clone, Default)]
enum Outlet {
  /// No child.
  #[default]
  Idle,
  /// A child without an IPC channel.
  NoChannel,
  /// The current child's channel, and that child's pid (a call for another child is
  /// refused under the same lock that switches the outlet).
  Open(Arc<Channel>, u32),
}

/// What `usage()` reads: kept by the task, read by JS without waiting for it.
#[derive(Debug, Default)]
struct UsageState {
  /// The current child: its pid, when it was spawned, and whether it is ready.
  child: Option<(u32, tokio::time::Instant, bool)>,
  /// The last reading of its tree.
  sample: Option<checks::Sample>,
  /// The last exit: code, signal, and when (ms since the epoch).
  last_exit: Option<(Option<i32>, Option<&'static str>, f64)>,
}

/// A snapshot for `usage()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
  /// The child's pid, if one runs.
  pub pid: Option<u32>,
  /// How long it has run (ms).
  pub uptime_ms: Option<u64>,
  /// Runs so far.
  pub restarts: u32,
  /// CPU use of its tree over the last sampling interval, in percent of one core.
  pub cpu: Option<f64>,
  /// Resident memory of the child (bytes).
  pub rss: Option<u64>,
  /// Resident memory of its tree (bytes).
  pub tree_rss: Option<u64>,
  /// Processes in its tree.
  pub tree_pids: Option<u32>,
  /// When those figures were read (ms since the epoch).
  pub sampled_at: Option<f64>,
  /// `idle`, `starting` (waiting for ready), `running`, `stopping`, `sleeping` (before a
  /// restart) or `waiting` (for a file change).
  pub state: &'static str,
  /// The last exit: code, signal, and when (ms since the epoch).
  pub last_exit: Option<(Option<i32>, Option<&'static str>, f64)>,
}

/// What the JS thread and the task share.
struct State {
  policy: Policy,
  orders: VecDeque<Order>,
  run: Option<Arc<Run>>,
  task: bool,
}

pub(crate) struct Core {
  state: Mutex<State>,
  wake: Notify,
  processes: Arc<dyn Processes>,
  taps: Arc<Taps>,
  outlet: Mutex<Outlet>,
  logs: Mutex<Option<Arc<LogSink>>>,
  /// The pid of the current child, for the panic handler (0 when none).
  live: AtomicU32,
  /// The policy's clock starts here (tokio's, so that tests can pause it).
  origin: tokio::time::Instant,
  /// What the children said of their health.
  signals: Arc<Signals>,
  /// Children beside the current one (a reload's new child, old children on their way
  /// out), for the panic handler.
  others: Mutex<Vec<u32>>,
  /// What `usage()` reads.
  usage: Mutex<UsageState>,
  /// Where `writeStdin` goes.
  inputs: Mutex<Inputs>,
  runtime: Mutex<Option<tokio::runtime::Handle>>,
  /// Test hook: holds the task's spawns.
  #[cfg(feature = "test-hooks")]
  spawn_gate: SpawnGate,
  /// Test hook: orders given and orders carried out, so that a test can wait for the
  /// consequences of its calls rather than guess at them.
  #[cfg(feature = "test-hooks")]
  orders_given: std::sync::atomic::AtomicU64,
  #[cfg(feature = "test-hooks")]
  orders_done: std::sync::atomic::AtomicU64,
  /// Test hook: cleanups that waited for leftovers until they gave up.
  #[cfg(feature = "test-hooks")]
  cleanups_timed_out: std::sync::atomic::AtomicU64,
}

/// Test hook: while closed, each spawn of the task waits at the gate (at most
/// [`SpawnGate::WAIT`]), so that a test can prove JS calls do not wait for a spawn.
#[cfg(feature = "test-hooks")]
#[derive(Default)]
struct SpawnGate {
  state: Mutex<GateState>,
  opened: std::sync::Condvar,
}

#[cfg(feature = "test-hooks")]
#[derive(Default)]
struct GateState {
  closed: bool,
  /// A spawn waits at the gate.
  waiting: bool,
}

#[cfg(feature = "test-hooks")]
impl SpawnGate {
  /// The longest a spawn waits at the gate: a test that never opens it fails, never hangs.
  const WAIT: Duration = Duration::from_secs(10);

  /// Waits while the gate is closed (at most [`Self::WAIT`]).
  fn pass(&self) {
    let mut state = lock(&self.state);
    if !state.closed {
      return;
    }
    state.waiting = true;
    let until = std::time::Instant::now() + Self::WAIT;
    while state.closed {
      let left = until.saturating_duration_since(std::time::Instant::now());
      if left.is_zero() {
        break;
      }
      state = self
        .opened
        .wait_timeout(state, left)
        .map(|(state, _)| state)
        .unwrap_or_else(|p| p.into_inner().0);
    }
    state.waiting = false;
  }

  /// Closes or opens the gate; true when a spawn was waiting at it.
  fn set(&self, closed: bool) -> bool {
    let mut state = lock(&self.state);
    state.closed = closed;
    self.opened.notify_all();
    state.waiting
  }
}

fn epoch_ms() -> f64 {
  SystemTime::now()
    .duration_since(UNIX_EPOCH)
    .map(|d| (d.as_millis() as f64).floor())
    .unwrap_or(0.0)
}

/// The name `usage()` gives the policy's phase.
fn state_name(policy: &crate::policy::Policy) -> &'static str {
  match policy.phase() {
    crate::policy::Phase::Idle => "idle",
    crate::policy::Phase::Running { .. } if policy.kill_under_way() => "stopping",
    crate::policy::Phase::Running { ready: false, .. } => "starting",
    crate::policy::Phase::Running { .. } => "running",
    crate::policy::Phase::Sleeping { .. } => "sleeping",
    crate::policy::Phase::Waiting => "waiting",
  }
}

impl Core {
  fn now_ms(&self) -> u64 {
    u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
  }

  fn state(&self) -> MutexGuard<'_, State> {
    lock(&self.state)
  }

  fn order(&self, state: &mut State, order: Order) {
    #[cfg(feature = "test-hooks")]
    self.orders_given.fetch_add(1, Ordering::AcqRel);
    state.orders.push_back(order);
    self.wake.notify_one();
  }

  fn runtime(&self) -> Result<tokio::runtime::Handle> {
    let mut slot = lock(&self.runtime);
    if let Some(handle) = slot.as_ref() {
      return Ok(handle.clone());
    }
    let handle = runtime::get()?.handle().clone();
    *slot = Some(handle.clone());
    Ok(handle)
  }

  /// Spawns the next child of `run` and makes it the current one. Called inside the
  /// runtime by `start()` on the JS thread (with the state locked), or by the task (without
  /// it: JS calls never wait for a spawn).
  fn spawn_child(
    self: &Arc<Self>,
    run: &Arc<Run>,
    direct: [Option<File>; 2],
  ) -> Result<Box<ChildRun>> {
    let child = self.spawn_beside(run, direct)?;
    self.make_current(&child, !run.options.health.wait_ready);
    Ok(child)
  }

  /// The current child from now on: `send()` and `writeStdin` go to it, `usage()` reads
  /// it. The child it replaces (if any) takes no more writes.
  fn make_current(&self, child: &ChildRun, ready: bool) {
    *lock(&self.outlet) = match &child.channel {
      Some(channel) => Outlet::Open(Arc::clone(channel), child.pid),
      None => Outlet::NoChannel,
    };
    {
      let mut inputs = lock(&self.inputs);
      inputs.current = Some(Input::of(child));
      if inputs.incoming.as_ref().is_some_and(|i| i.pid == child.pid) {
        inputs.incoming = None;
      }
    }
    self.live.store(child.pid, Ordering::Release);
    lock(&self.others).retain(|&pid| pid != child.pid);
    lock(&self.usage).child = Some((child.pid, child.started, ready));
  }

  /// A reload's new child, beside the current one: `writeStdin` reaches it by its pid.
  fn add_incoming_input(&self, child: &ChildRun) {
    lock(&self.inputs).incoming = Some(Input::of(child));
  }

  /// The child `pid` exited, or is on its way out: `writeStdin` reaches it no more.
  fn forget_input(&self, pid: u32) {
    let mut guard = lock(&self.inputs);
    let inputs = &mut *guard;
    for slot in [&mut inputs.current, &mut inputs.incoming] {
      if slot.as_ref().is_some_and(|i| i.pid == pid) {
        *slot = None;
      }
    }
  }

  /// Supervision ended with no child left: nothing takes writes.
  fn forget_inputs(&self) {
    *lock(&self.inputs) = Inputs::default();
  }

  /// Spawns a child of `run` without making it the current one (a reload's new child).
  fn spawn_beside(
    self: &Arc<Self>,
    run: &Arc<Run>,
    direct: [Option<File>; 2],
  ) -> Result<Box<ChildRun>> {
    let tag = Tag::next();
    let outputs = run.outputs(direct)?;
    let launched = {
      // Not under the lock: the fork may take a while, and `listening()` must not wait.
      let listeners = lock(&run.listeners).clone();
      let sockets = listeners.as_deref().map(Listeners::fds).unwrap_or_default();
      self.processes.spawn(&run.spec, &tag, outputs, &sockets)?
    };
    let guarded = !run.spec.detached;
    if guarded {
      self.processes.guard(launched.pid);
    }
    let channel = match launched.channel {
      Some(fd) => {
        let wake = Arc::downgrade(&run.outbox);
        match Channel::open(fd, run.options.serialization, wake) {
          Ok(channel) => {
            let health = &run.options.health;
            if health.needs_socket() {
              channel.tap_signals(launched.pid, health.ipc.clone(), Arc::clone(&self.signals));
            }
            Some(channel)
          }
          Err(e) => {
            run.outbox.emit(Event::Error(e));
            None
          }
        }
      }
      None => None,
    };
    let stdin = match launched.stdin.map(Stdin::open) {
      Some(Ok(stdin)) => Some(OwnStdin(stdin)),
      Some(Err(e)) => {
        run.outbox.emit(Event::Error(e));
        None
      }
      None => None,
    };
    Ok(Box::new(ChildRun {
      pid: launched.pid,
      // Numbered when it becomes the current child.
      serial: 0,
      tag,
      exit: launched.exit,
      started: tokio::time::Instant::now(),
      channel,
      stdin,
      guarded,
      run: Arc::clone(run),
    }))
  }
}

/// The JS side's handle on one monitor. Dropping it kills the child's tree.
pub struct Handle {
  core: Arc<Core>,
}

impl Default for Handle {
  fn default() -> Self {
    Handle::new()
  }
}

impl Handle {
  /// A handle on real processes, whose task starts with the first `start()`.
  pub fn new() -> Handle {
    Handle::with(Arc::new(System), None)
  }

  /// A handle on `processes`, run on `runtime` (the shared runtime when `None`).
  pub fn with(processes: Arc<dyn Processes>, runtime: Option<tokio::runtime::Handle>) -> Handle {
    Handle {
      core: Arc::new(Core {
        state: Mutex::new(State {
          policy: Policy::new(Limits::default()),
          orders: VecDeque::new(),
          run: None,
          task: false,
        }),
        wake: Notify::new(),
        processes,
        taps: Arc::new(Taps::default()),
        outlet: Mutex::new(Outlet::Idle),
        logs: Mutex::new(None),
        live: AtomicU32::new(0),
        origin: tokio::time::Instant::now(),
        signals: Arc::new(Signals::default()),
        others: Mutex::new(Vec::new()),
        usage: Mutex::new(UsageState::default()),
        inputs: Mutex::new(Inputs::default()),
        runtime: Mutex::new(runtime),
        #[cfg(feature = "test-hooks")]
        spawn_gate: SpawnGate::default(),
        #[cfg(feature = "test-hooks")]
        orders_given: Default::default(),
        #[cfg(feature = "test-hooks")]
        orders_done: Default::default(),
        #[cfg(feature = "test-hooks")]
        cleanups_timed_out: Default::default(),
      }),
    }
  }

  /// Which output streams JS listens to.
  pub fn taps(&self) -> &Taps {
    &self.core.taps
  }

  /// Spawns the first child (or the next, after supervision ended) on the calling thread,
  /// and hands it to the task. Refused (`AlreadyRunning`) while a child runs or a restart
  /// is due.
  pub fn start(&self, request: StartRequest) -> Result<StartInfo> {
    let core = &self.core;
    let runtime = core.runtime()?;
    let _inside = runtime.enter();
    let direct = self.direct_files(&runtime);
    let mut state = core.state();
    if let Command::Spawn { .. } = state
      .policy
      .start(request.restart, request.options.limits)?
    {
      if !state.task {
        state.task = true;
        runtime.spawn(task::run(Arc::clone(core)));
      }
    }
    // A monitor waiting for a change (its last run gave up) begins anew: that run ends.
    if let Some(old) = state.run.take() {
      old.close();
    }
    let run = Run::new(core, request, &runtime)?;
    let (files, errors) = direct;
    for error in errors {
      run.outbox.emit(Event::Error(error));
    }
    match core.spawn_child(&run, files) {
      Ok(mut child) => {
        state.policy.spawned(core.now_ms());
        child.serial = state.policy.child();
        let info = StartInfo {
          pid: child.pid,
          ctime: epoch_ms(),
          channel: child.channel.clone(),
        };
        state.run = Some(Arc::clone(&run));
        core.order(&mut state, Order::Adopt(child));
        Ok(info)
      }
      Err(e) => {
        state.policy.spawn_failed();
        run.close();
        Err(e)
      }
    }
  }

  /// With `logDirect`, the files the first child writes itself, opened on the blocking
  /// pool (never on the JS thread) and waited for a moment.
  fn direct_files(&self, runtime: &tokio::runtime::Handle) -> ([Option<File>; 2], Vec<CoreError>) {
    let Some(logs) = lock(&self.core.logs).clone() else {
      return ([None, None], Vec::new());
    };
    if !logs.config().direct {
      return ([None, None], Vec::new());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn_blocking(move || {
      let _ = tx.send(logs.open_direct());
    });
    rx.recv_timeout(DIRECT_OPEN_WAIT)
      .unwrap_or_else(|_| ([None, None], Vec::new()))
  }

  /// `kill(force_stop)`: signals the child; `stop()` is `kill(true)`.
  pub fn kill(&self, force_stop: bool) -> Result<()> {
    let core = &self.core;
    let mut state = core.state();
    let waiting = state.policy.phase() == crate::policy::Phase::Waiting;
    match state.policy.kill(force_stop)? {
      Command::Signal(order) if force_stop => {
        let child = state.policy.child();
        core.order(&mut state, Order::Stop(order, child));
      }
      Command::Signal(order) => {
        let child = state.policy.child();
        core.order(&mut state, Order::Signal(order, child));
      }
      Command::Cancelled => {
        // Taken now: a `start()` right after this call begins a run of its own.
        if let Some(run) = state.run.take() {
          core.order(&mut state, Order::End(run, waiting));
        }
      }
      Command::Spawn { .. } | Command::Nothing | Command::Reload(_) => {}
    }
    Ok(())
  }

  /// Restarts a running child, or cuts a sleep before a restart short. `NotRunning` when
  /// idle: the caller starts it afresh.
  pub fn restart(&self) -> Result<()> {
    let core = &self.core;
    let mut state = core.state();
    match state.policy.restart()? {
      Command::Signal(order) => {
        let child = state.policy.child();
        core.order(&mut state, Order::Signal(order, child));
      }
      Command::Spawn { .. } => core.order(&mut state, Order::SpawnNow),
      Command::Cancelled | Command::Nothing | Command::Reload(_) => {}
    }
    Ok(())
  }

  /// Starts a new child beside the running one, which takes over once it is ready (with
  /// `waitReady`) or after the grace period; cuts a sleep before a restart short.
  /// `NotRunning` when idle (the caller starts it afresh), `ReloadUnderWay` while a reload's
  /// new child is starting, `Stopping` while the child is being stopped or restarted.
  pub fn reload(&self) -> Result<()> {
    let core = &self.core;
    let mut state = core.state();
    match state.policy.reload(core.now_ms())? {
      Command::Reload(plan) => core.order(&mut state, Order::Reload(plan)),
      Command::Spawn { .. } => core.order(&mut state, Order::SpawnNow),
      Command::Signal(_) | Command::Cancelled | Command::Nothing => {}
    }
    Ok(())
  }

  /// The sockets the current supervision run listens on (each one's name and what it is
  /// bound to, in the order of the children's fds); none when supervision has ended.
  pub fn listening(&self) -> Vec<(String, Bound)> {
    let run = self.core.state().run.clone();
    run.map(|run| run.listening()).unwrap_or_default()
  }

  /// Sends `signal` (a number) to the child alone: the current one, or with `pid` only
  /// that child, if it is still the current one (never the next).
  pub fn signal(&self, signal: i32, pid: Option<u32>) -> Result<()> {
    let core = &self.core;
    let mut state = core.state();
    // Another child is current already: refused now (the task checks again as it signals).
    if pid.is_some_and(|pid| pid != core.live.load(Ordering::Acquire)) {
      return Err(CoreError::NotRunning);
    }
    match state.policy.phase() {
      crate::policy::Phase::Running { .. } => {
        let child = state.policy.child();
        core.order(&mut state, Order::SignalChild(signal, child, pid));
        Ok(())
      }
      _ => Err(CoreError::NotRunning),
    }
  }

  /// Sends one serialised message to the child over its IPC channel, from the calling
  /// thread: no round trip through the task. With `pid`, only to that child, if it is
  /// still the current one.
  pub fn send(&self, payload: Vec<u8>, pid: Option<u32>) -> Result<()> {
    let outlet = lock(&self.core.outlet).clone();
    match outlet {
      Outlet::Open(channel, current) if pid.is_none_or(|pid| pid == current) => {
        channel.send(payload)
      }
      Outlet::Open(..) | Outlet::Idle => Err(CoreError::NotRunning),
      Outlet::NoChannel => Err(CoreError::NoChannel),
    }
  }

  /// Closes the current child's IPC channel (`ChildProcess#disconnect()`); with `pid`,
  /// only if that child is still the current one. Nothing when it has none.
  pub fn disconnect(&self, pid: Option<u32>) {
    if let Outlet::Open(channel, current) = lock(&self.core.outlet).clone() {
      if pid.is_none_or(|pid| pid == current) {
        channel.disconnect();
      }
    }
  }

  /// The stdin of child `pid`, for `writeStdin` and `endStdin`: the current child's, or
  /// that of a reload's new child running beside it. Any other pid is refused with
  /// `ChildNotRunning` (bytes for a child that exited must never reach the next one), and
  /// a child whose stdin is not a pipe with `StdinNotPipe`. Never waits for the task.
  pub fn stdin(&self, pid: u32) -> Result<Arc<Stdin>> {
    let inputs = lock(&self.core.inputs);
    let input = [&inputs.current, &inputs.incoming]
      .into_iter()
      .flatten()
      .find(|input| input.pid == pid)
      .ok_or(CoreError::ChildNotRunning(pid))?;
    input.stdin.clone().ok_or_else(|| CoreError::StdinNotPipe {
      pid,
      stdin: match input.spec {
        // A pipe in the spec, yet none for the child: the IPC channel took fd 0.
        StdioSpec::Pipe => "the IPC channel".to_string(),
        StdioSpec::Inherit => "'inherit' (the host's own stdin)".to_string(),
        StdioSpec::Ignore => "'ignore' (/dev/null)".to_string(),
        StdioSpec::Fd(fd) => format!("the host's descriptor {fd}"),
      },
    })
  }

  /// Sets up the log files: they are created (and truncated unless `append`) in the
  /// background; failures go to `report`.
  pub fn set_logs(&self, config: LogConfig, report: Report) -> Result<()> {
    let runtime = self.core.runtime()?;
    let sink = LogSink::new(config, runtime);
    sink.prepare(report);
    *lock(&self.core.logs) = Some(sink);
    Ok(())
  }

  /// Closes and re-opens the log files (after an external logrotate moved them), in the
  /// background; failures go to `report`.
  pub fn reopen_logs(&self, report: Report) {
    if let Some(logs) = lock(&self.core.logs).clone() {
      logs.reopen(report);
    }
  }

  /// What `usage()` says of the supervision's state, without asking for a sample.
  pub fn state(&self) -> &'static str {
    state_name(&self.core.state().policy)
  }

  /// The figures `usage()` gives: what the core read last (at most a second old while
  /// someone asks; the first call starts the sampling, so its figures may be missing).
  /// Never reads `/proc` on the calling thread.
  pub fn usage(&self) -> Usage {
    let core = &self.core;
    let mut state = core.state();
    let usage = lock(&core.usage);
    let now = tokio::time::Instant::now();
    let child = usage.child;
    let sample = usage
      .sample
      .filter(|s| child.is_some_and(|(pid, ..)| pid == s.pid));
    let stale = sample.is_none_or(|s| now.duration_since(s.at) >= checks::USAGE_INTERVAL);
    let running = matches!(state.policy.phase(), crate::policy::Phase::Running { .. });
    let info = Usage {
      pid: child.filter(|_| running).map(|(pid, ..)| pid),
      uptime_ms: child
        .filter(|_| running)
        .map(|(_, at, _)| u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX)),
      restarts: state.policy.times(),
      cpu: sample.and_then(|s| s.cpu),
      rss: sample.map(|s| s.usage.rss),
      tree_rss: sample.map(|s| s.usage.tree_rss),
      tree_pids: sample.map(|s| s.usage.pids),
      sampled_at: sample.map(|s| s.at_epoch_ms),
      state: state_name(&state.policy),
      last_exit: usage.last_exit,
    };
    drop(usage);
    if running && state.task && stale {
      core.order(&mut state, Order::Sample(true));
    }
    info
  }

  /// Test hook: makes the task panic, to prove a panic never reaches Node.
  #[cfg(feature = "test-hooks")]
  pub fn panic_for_test(&self) {
    let mut state = self.core.state();
    self.core.order(&mut state, Order::Panic);
  }
}

#[cfg(feature = "test-hooks")]
impl Handle {
  /// Test hook: from now on, the task's spawns (restarts, a reload's new child; not
  /// `start()`'s) wait until `hold_spawns_for_test(false)`, or 10 s. True when a spawn was
  /// waiting: with `false`, it was released by this call.
  pub fn hold_spawns_for_test(&self, hold: bool) -> bool {
    self.core.spawn_gate.set(hold)
  }

  /// Test hook: a spawn waits at the gate now.
  pub fn spawn_held_for_test(&self) -> bool {
    lock(&self.core.spawn_gate.state).waiting
  }

  /// Test hook: every order JS gave has been carried out (its signal sent, its child
  /// spawned); what follows from it comes as events.
  pub fn orders_done_for_test(&self) -> bool {
    self.core.orders_done.load(Ordering::Acquire) == self.core.orders_given.load(Ordering::Acquire)
  }

  /// Test hook: how many cleanups gave up waiting for what a child left (it was still
  /// there after the wait's bound) rather than seeing it gone.
  pub fn cleanups_timed_out_for_test(&self) -> u64 {
    self.core.cleanups_timed_out.load(Ordering::Acquire)
  }

  /// Test hook: how many walks up a sender's parents the notify socket of the current
  /// supervision run made to place its senders (0 without one).
  pub fn notify_walks_for_test(&self) -> u64 {
    let state = self.core.state();
    state
      .run
      .as_ref()
      .and_then(|run| run.notify.as_ref())
      .map_or(0, NotifySocket::walks_for_test)
  }
}

impl Core {
  /// Where the task's spawns begin: a test may hold them there.
  fn before_spawn(&self) {
    #[cfg(feature = "test-hooks")]
    self.spawn_gate.pass();
  }

  /// A cleanup is over; `timed_out`: it gave up waiting for leftovers still there.
  fn cleanup_over(&self, timed_out: bool) {
    #[cfg(feature = "test-hooks")]
    if timed_out {
      self.cleanups_timed_out.fetch_add(1, Ordering::AcqRel);
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = timed_out;
  }
}

impl Drop for Handle {
  fn drop(&mut self) {
    let mut state = self.core.state();
    if state.task {
      self.core.order(&mut state, Order::Shutdown);
    }
  }
}

impl From<Refusal> for CoreError {
  fn from(refusal: Refusal) -> Self {
    match refusal {
      Refusal::AlreadyRunning => CoreError::AlreadyRunning,
      Refusal::NotRunning => CoreError::NotRunning,
      Refusal::Reloading => CoreError::ReloadUnderWay,
      Refusal::Stopping => CoreError::Stopping,
    }
  }
}
