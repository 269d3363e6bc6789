//! The monitor's task: waits for the child, carries out the orders JS left, and does what
//! the policy says when the child exits — never waiting for JS or for any destination of
//! the child's output.
//!
//! Its state is one [`Life`]: no child, a child running (maybe with a kill escalating), or
//! the time between two children, when what the last one left is being cleaned up and the
//! next one is due. One `select!` drives it; every arm ends in a short, non-blocking step.

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::CoreError;
use crate::health::{self, Signal, Signals};
use crate::policy::{Cause, Command, Ended, KillOrder, Next, Phase, Reach};
use crate::process::signal_name;
use crate::watch::{self, Notice, Watching};

use super::checks::{self, Checks, Finding, Sample};
use super::events::Event;
use super::processes::Remains;
use super::{lock, ChildRun, Core, Order, Outlet, Run};

/// How often leftovers are looked at while they are being waited for (doubling from the
/// first, up to the last).
const CLEANUP_POLL: (Duration, Duration) = (Duration::from_millis(2), Duration::from_millis(50));
/// After SIGKILL, how long leftovers may take to go before the next child starts anyway
/// (a zombie that nobody reaps, in a container without init, would otherwise hold it).
const CLEANUP_AFTER_KILL: Duration = Duration::from_secs(1);

/// What the task holds between events.
enum Life {
  /// No child, nothing scheduled.
  Idle,
  /// A child runs; `escalate_at` is when a kill becomes SIGKILL, if one was sent — or,
  /// when the child was sent the shutdown message, when it gets `then`, the kill signal.
  Running {
    child: Box<ChildRun>,
    escalate_at: Option<Instant>,
    then: Option<KillOrder>,
  },
  /// The child exited and the next one is due (at the policy's time); what the last one
  /// left is being cleaned up first.
  Between {
    run: Arc<Run>,
    cleanup: Option<Cleanup>,
  },
}

/// Leftovers of an exited child being killed and waited for.
struct Cleanup {
  pid: u32,
  remains: Box<dyn Remains>,
  /// SIGKILL at this time, if they are still there.
  escalate_at: Option<Instant>,
  /// Give up waiting at this time (after the SIGKILL).
  give_up_at: Option<Instant>,
  next_look: Instant,
  interval: Duration,
}

impl Cleanup {
  fn start(pid: u32, mut remains: Box<dyn Remains>, order: KillOrder) -> Cleanup {
    remains.signal(order.signal);
    let now = Instant::now();
    let mut cleanup = Cleanup {
      pid,
      remains,
      escalate_at: order
        .escalate_after_ms
        .map(|ms| now + Duration::from_millis(ms)),
      give_up_at: None,
      next_look: now + CLEANUP_POLL.0,
      interval: CLEANUP_POLL.0,
    };
    if cleanup.escalate_at.is_none() {
      cleanup.give_up_at = Some(now + CLEANUP_AFTER_KILL);
    }
    cleanup
  }

  /// Looks at the leftovers once; true when waiting for them is over.
  fn look(&mut self) -> bool {
    let now = Instant::now();
    if self.remains.is_gone() || self.give_up_at.is_some_and(|at| now >= at) {
      return true;
    }
    if self.escalate_at.is_some_and(|at| now >= at) {
      self.escalate_at = None;
      self.remains.signal(libc::SIGKILL);
      self.give_up_at = Some(now + CLEANUP_AFTER_KILL);
      // SIGKILL is quick: look again soon.
      self.interval = CLEANUP_POLL.0;
    } else {
      self.interval = (self.interval * 2).min(CLEANUP_POLL.1);
    }
    self.next_look = now + self.interval;
    if let Some(at) = self.escalate_at {
      self.next_look = self.next_look.min(at);
    }
    false
  }

  /// Finishes in the background (supervision ended, or the next child was started anyway).
  fn detach(mut self, core: &Arc<Core>) {
    let core = Arc::clone(core);
    tokio::spawn(async move {
      while !self.look() {
        tokio::time::sleep_until(self.next_look).await;
      }
      core.processes.release(self.pid);
    });
  }
}

/// A burst of file changes. Its first change restarted the child at once; the ones
/// after it, if any, restart it once more when the burst has been quiet for the debounce
/// time (or has gone on for ten of them).
struct Burst {
  first: Instant,
  /// When the burst ends if nothing else changes.
  quiet_at: Instant,
  /// A change since the first, waiting for the burst to end.
  trailing: Option<PathBuf>,
  /// The child its first change asked for has started: a change from now on is one that
  /// child may not have seen. Until then, changes are part of the first (one save is several
  /// file-system events), and the child to come sees them.
  settled: bool,
}

/// How long after a change the child it asks for starts, at the soonest: the other events
/// of the same save arrive meanwhile, and that child sees them all.
const SAME_SAVE: Duration = Duration::from_millis(10);

impl Burst {
  fn new(now: Instant, debounce: Duration) -> Burst {
    Burst {
      first: now,
      quiet_at: now + debounce,
      trailing: None,
      settled: false,
    }
  }
}

struct Task {
  core: Arc<Core>,
  life: Life,
  watching: Option<Watching>,
  burst: Option<Burst>,
  /// The run the watcher was started for.
  watched_run: usize,
  /// No child starts before this (a change asked for one: see [`SAME_SAVE`]).
  held_until: Option<Instant>,
  /// A change asked for a child while none ran (a sleep, or waiting for a change).
  asked: bool,
  /// Readiness, watchdog and usage of the running child.
  checks: Checks,
  /// The last sample of the running child's tree (for CPU use between two).
  sample: Option<Sample>,
  /// The tree's memory that made a check take the child down.
  memory_taken_down: Option<u64>,
}

/// Runs a monitor's task until its handle is dropped. A panic inside is caught: the child
/// is killed, JS is told, and a fresh, idle task carries on.
pub(super) async fn run(core: Arc<Core>) {
  loop {
    let mut task = Task {
      core: Arc::clone(&core),
      life: Life::Idle,
      watching: None,
      burst: None,
      watched_run: 0,
      held_until: None,
      asked: false,
      checks: Checks::default(),
      sample: None,
      memory_taken_down: None,
    };
    match CatchUnwind(task.main()).await {
      Ok(()) => return,
      Err(message) => recover(&core, message),
    }
  }
}

/// The task's state is lost with a panic: take its child down rather than leave it
/// unsupervised, tell JS, and make the monitor idle and usable again.
fn recover(core: &Arc<Core>, message: String) {
  let pid = core.live.swap(0, Ordering::AcqRel);
  if pid != 0 {
    core.processes.signal(pid, libc::SIGKILL, Reach::Tree);
    // Reaped by tokio's orphan reaper; the guardian lets the group go once it is empty.
    core.processes.release(pid);
  }
  *lock(&core.outlet) = Outlet::Idle;
  let mut state = core.state();
  state.policy.spawn_failed();
  state.orders.retain(|o| matches!(o, Order::Shutdown));
  if let Some(run) = state.run.take() {
    run.outbox.emit(Event::Error(CoreError::Panic(message)));
    run.outbox.emit(Event::End {
      stopped: false,
      after_exit: false,
    });
    run.close();
  }
}

impl Task {
  async fn main(&mut self) {
    loop {
      let wake_at = self.due();
      let look_at = match &self.life {
        Life::Between {
          cleanup: Some(c), ..
        } => Some(c.next_look),
        _ => None,
      };
      let escalate_at = match &self.life {
        Life::Running { escalate_at, .. } => *escalate_at,
        _ => None,
      };
      let change_at = self.burst.as_ref().map(|b| b.quiet_at);
      let check_at = self.checks.next_due();
      // The current child's notify socket, if it has one, and its pid.
      let listen = match &self.life {
        Life::Running { child, .. } if child.run.notify.is_some() => {
          Some((Arc::clone(&child.run), child.pid))
        }
        _ => None,
      };
      let signals = Arc::clone(&self.core.signals);
      tokio::select! {
        biased;
        _ = self.core.wake.notified() => {
          if !self.orders() {
            return;
          }
        }
        status = exit_of(&mut self.life) => self.exited(status),
        _ = sleep_until(escalate_at) => self.escalate(),
        _ = sleep_until(look_at) => self.look(),
        _ = sleep_until(wake_at) => self.respawn(),
        notice = next_notice(&mut self.watching) => self.notice(notice),
        _ = sleep_until(change_at) => self.burst_ended(),
        _ = signals.changed() => self.heard(),
        _ = notify_read(listen.as_ref(), &signals) => {}
        _ = sleep_until(check_at) => self.check(),
      }
    }
  }

  /// When the next child is due: the policy's time, once the cleanup is over.
  fn due(&self) -> Option<Instant> {
    let Life::Between { cleanup, .. } = &self.life else {
      return None;
    };
    let at = if self.asked {
      Instant::now()
    } else if cleanup.is_none() {
      let at = self.core.state().policy.wake_at()?;
      let ms = at.saturating_sub(self.core.now_ms());
      Instant::now() + Duration::from_millis(ms)
    } else {
      return None;
    };
    Some(self.held_until.map_or(at, |held| at.max(held)))
  }

  /// Carries out the orders JS left. False on shutdown.
  fn orders(&mut self) -> bool {
    loop {
      let Some(order) = self.core.state().orders.pop_front() else {
        return true;
      };
      match order {
        Order::Adopt(child) => self.adopt(child),
        Order::Signal(order) => self.signal(order),
        Order::SignalChild(signal) => {
          if let Life::Running { child, .. } = &self.life {
            self.core.processes.signal(child.pid, signal, Reach::Child);
          }
        }
        Order::SpawnNow => self.spawn_now(),
        Order::Sample(stale) => self.checks.want_usage(stale),
        Order::End(run, after_exit) => {
          run.outbox.emit(Event::End {
            stopped: true,
            after_exit,
          });
          run.close();
          // The time between two children of that run ends too (unless `start()` has
          // already begun another).
          if matches!(&self.life, Life::Between { run: between, .. } if Arc::ptr_eq(between, &run))
          {
            self.idle();
          }
        }
        Order::Shutdown => {
          self.shutdown();
          return false;
        }
        #[cfg(feature = "test-hooks")]
        Order::Panic => panic!("panic requested by a test"),
      }
    }
  }

  fn adopt(&mut self, child: Box<ChildRun>) {
    // A cleanup still under way finishes in the background: the user asked for a child now.
    if let Life::Between {
      cleanup: Some(cleanup),
      ..
    } = std::mem::replace(&mut self.life, Life::Idle)
    {
      cleanup.detach(&self.core);
    }
    let watch = child.run.options.watch.clone();
    let run_id = child.run.outbox.id();
    self.begin_checks(&child);
    self.life = Life::Running {
      child,
      escalate_at: None,
      then: None,
    };
    // Watching runs from `start()` until `stop()`: a new start begins it anew.
    self.held_until = None;
    self.asked = false;
    if self.watched_run != run_id {
      self.watching = None;
      self.burst = None;
      self.watched_run = run_id;
      if let Some(config) = watch {
        match watch::start(config) {
          Ok(watching) => self.watching = Some(watching),
          Err(e) => self.emit(Event::WatchError(e)),
        }
      }
    }
  }

  fn signal(&mut self, order: KillOrder) {
    if let Life::Running {
      child,
      escalate_at,
      then,
    } = &mut self.life
    {
      if let Some(grace) = order.grace_ms {
        // The shutdown message first, once: a kill already under way goes on as it is.
        if then.is_some() {
          return;
        }
        let message = child.run.options.health.shutdown_message.as_ref();
        if escalate_at.is_none() {
          if let (Some(channel), Some(message)) = (&child.channel, message) {
            if channel.send(message.clone()).is_ok() {
              *then = Some(KillOrder {
                grace_ms: None,
                ..order
              });
              *escalate_at = Some(Instant::now() + Duration::from_millis(grace));
              return;
            }
          }
        }
      }
      self
        .core
        .processes
        .signal(child.pid, order.signal, order.reach);
      if let Some(ms) = order.escalate_after_ms {
        escalate_at.get_or_insert(Instant::now() + Duration::from_millis(ms));
      }
    }
  }

  fn escalate(&mut self) {
    if let Life::Running {
      child,
      escalate_at,
      then,
    } = &mut self.life
    {
      *escalate_at = None;
      // After the shutdown message's grace: the kill signal.
      if let Some(order) = then.take() {
        return self.signal(order);
      }
      let order = self.core.state().policy.escalation();
      self
        .core
        .processes
        .signal(child.pid, order.signal, order.reach);
    }
  }

  /// Starts the checks of a child just spawned.
  fn begin_checks(&mut self, child: &ChildRun) {
    self.sample = None;
    self.memory_taken_down = None;
    self
      .checks
      .begin(child.pid, &child.run.options.health, &self.core.signals);
  }

  /// The child said something (ready, alive).
  fn heard(&mut self) {
    if self.checks.heard(&self.core.signals) == Finding::Ready {
      self.became_ready();
    }
  }

  fn became_ready(&mut self) {
    let Life::Running { child, .. } = &self.life else {
      return;
    };
    let pid = child.pid;
    let core = Arc::clone(&self.core);
    if core.state().policy.ready(core.now_ms()) {
      if let Some((p, _, ready)) = &mut lock(&core.usage).child {
        if *p == pid {
          *ready = true;
        }
      }
      self.emit(Event::Ready { pid });
    }
  }

  /// A check is due: readiness, the watchdog, or a sample of the tree.
  fn check(&mut self) {
    // What a busy JS thread has not read yet may hold the child's answer.
    if let Life::Running { child, .. } = &self.life {
      if let Some(channel) = &child.channel {
        channel.read_ahead();
      }
    }
    self.heard();
    let (finding, sample) = self.checks.due();
    if let Some(mut sample) = sample {
      if let Some(before) = &self.sample {
        sample.cpu = checks::cpu_between(before, &sample);
      }
      self.sample = Some(sample);
      lock(&self.core.usage).sample = Some(sample);
    }
    if let Finding::TakeDown(cause) = finding {
      if cause == Cause::Memory {
        self.memory_taken_down = sample.map(|s| s.usage.tree_rss);
      }
      let command = self.core.state().policy.health_kill(cause);
      if let Ok(Command::Signal(order)) = command {
        self.signal(order);
      }
    }
  }

  fn exited(&mut self, status: std::io::Result<ExitStatus>) {
    if !matches!(self.life, Life::Running { .. }) {
      return;
    }
    let Life::Running { child, .. } = std::mem::replace(&mut self.life, Life::Idle) else {
      return;
    };
    let child = *child;
    let (code, signal) = match &status {
      Ok(status) => (status.code(), status.signal().and_then(signal_name)),
      Err(_) => (None, None),
    };
    self.checks.end();
    let rss = self.memory_taken_down.take();
    {
      let mut usage = lock(&self.core.usage);
      usage.child = None;
      usage.last_exit = Some((code, signal, super::epoch_ms()));
    }
    let core = Arc::clone(&self.core);
    core.live.store(0, Ordering::Release);
    *lock(&core.outlet) = Outlet::Idle;
    let run = child.run;
    let verdict = {
      let mut state = core.state();
      let ended = Ended {
        code,
        random: random(),
      };
      let verdict = state.policy.exited(core.now_ms(), ended);
      let marks = run.marks();
      if let Some(logs) = &run.logs {
        logs.settle(marks);
      }
      run.outbox.emit_after(
        Event::Exit {
          code,
          signal,
          spinning: verdict.spinning,
          times: verdict.times,
          next: verdict.next,
          requested: verdict.requested,
          rss,
          channel: child.channel,
        },
        marks,
      );
      let waiting = state.policy.phase() == Phase::Waiting;
      if verdict.next.gives_up() && !waiting {
        // Under the lock: a `start()` right after the exit must find the run gone.
        state.run = None;
        run.close();
      }
      (verdict, waiting)
    };
    let (verdict, waiting) = verdict;
    // Whatever the child left running goes before the next child starts: it may hold the
    // port that child needs.
    let cleanup = match (verdict.leftovers, child.guarded) {
      (Some(order), true) => {
        let uptime = child.started.elapsed();
        core
          .processes
          .leftovers(child.pid, &child.tag, uptime)
          .map(|remains| Cleanup::start(child.pid, remains, order))
      }
      _ => None,
    };
    if cleanup.is_none() && child.guarded {
      core.processes.release(child.pid);
    }
    match verdict.next {
      // The child ended on its own, and the monitor watches: a change starts it again.
      Next::GiveUp(_) if waiting => self.life = Life::Between { run, cleanup },
      Next::GiveUp(_) => {
        if let Some(cleanup) = cleanup {
          cleanup.detach(&core);
        }
        self.idle();
      }
      Next::Restart { delay_ms, .. } => {
        self.life = Life::Between { run, cleanup };
        if delay_ms == 0
          && self.held_until.is_none()
          && matches!(self.life, Life::Between { cleanup: None, .. })
        {
          // The common case of a crash loop: no timer round trip.
          self.respawn();
        }
      }
    }
  }

  fn look(&mut self) {
    let Life::Between {
      cleanup: Some(cleanup),
      ..
    } = &mut self.life
    else {
      return;
    };
    if cleanup.look() {
      let pid = cleanup.pid;
      if let Life::Between { cleanup, .. } = &mut self.life {
        *cleanup = None;
      }
      self.core.processes.release(pid);
    }
  }

  /// The run and cleanup of the time between two children, leaving `Idle` in its place;
  /// `None` (and nothing changed) at any other time.
  fn take_between(&mut self) -> Option<(Arc<Run>, Option<Cleanup>)> {
    if !matches!(self.life, Life::Between { .. }) {
      return None;
    }
    match std::mem::replace(&mut self.life, Life::Idle) {
      Life::Between { run, cleanup } => Some((run, cleanup)),
      _ => None,
    }
  }

  /// The next child is due (or `restart()` asked for it now).
  fn respawn(&mut self) {
    if self.held_until.is_some_and(|held| held > Instant::now()) {
      return;
    }
    self.held_until = None;
    if std::mem::take(&mut self.asked) {
      return self.spawn_now();
    }
    let Some((run, cleanup)) = self.take_between() else {
      return;
    };
    let core = Arc::clone(&self.core);
    let mut state = core.state();
    let due =
      matches!(state.policy.phase(), Phase::Sleeping { until_ms } if until_ms <= core.now_ms());
    if !due {
      drop(state);
      self.life = Life::Between { run, cleanup };
      return;
    }
    if let Some(cleanup) = cleanup {
      cleanup.detach(&core);
    }
    self.spawn_next(&mut state, run);
  }

  /// `restart()` during a sleep: the next child now, whatever is left to clean up.
  fn spawn_now(&mut self) {
    let Some((run, cleanup)) = self.take_between() else {
      return;
    };
    let core = Arc::clone(&self.core);
    let mut state = core.state();
    if !matches!(
      state.policy.phase(),
      Phase::Sleeping { .. } | Phase::Waiting
    ) {
      drop(state);
      self.life = Life::Between { run, cleanup };
      return;
    }
    if let Some(cleanup) = cleanup {
      cleanup.detach(&core);
    }
    self.spawn_next(&mut state, run);
  }

  fn spawn_next(&mut self, state: &mut super::State, run: Arc<Run>) {
    let core = Arc::clone(&self.core);
    let direct = match &run.logs {
      Some(logs) if logs.config().direct => {
        let (files, errors) = logs.open_direct();
        for error in errors {
          run.outbox.emit(Event::Error(error));
        }
        files
      }
      _ => [None, None],
    };
    // The new child's first bytes come after its start report: its place is held where
    // the output written so far ends.
    let place = run.outbox.hold(run.marks());
    match core.spawn_child(&run, direct) {
      Ok(child) => {
        state.policy.spawned(core.now_ms());
        run.outbox.fill(
          place,
          Some(Event::Start {
            pid: child.pid,
            ctime: super::epoch_ms(),
            restart: true,
            channel: child.channel.clone(),
          }),
        );
        self.begin_checks(&child);
        self.life = Life::Running {
          child,
          escalate_at: None,
          then: None,
        };
        if let Some(burst) = &mut self.burst {
          burst.settled = true;
        }
        self.held_until = None;
        self.asked = false;
      }
      Err(e) => {
        state.policy.spawn_failed();
        state.run = None;
        run.outbox.fill(place, Some(Event::Error(e)));
        run.outbox.emit(Event::End {
          stopped: false,
          after_exit: false,
        });
        run.close();
        self.idle();
      }
    }
  }

  fn notice(&mut self, notice: Option<Notice>) {
    match notice {
      Some(Notice::Changed(file)) => {
        let debounce = self.debounce();
        let now = Instant::now();
        match &mut self.burst {
          // Within a burst: one more restart when it ends. A burst that never pauses still
          // ends, after ten debounce periods.
          Some(burst) => {
            burst.quiet_at = (now + debounce).min(burst.first + debounce * 10);
            if burst.settled {
              burst.trailing = Some(file);
            }
          }
          // The first change of a burst restarts at once: one change costs no more than
          // forever-monitor's latency.
          None => {
            self.burst = Some(Burst::new(now, debounce));
            self.changed(file);
          }
        }
      }
      Some(Notice::Failed(error)) => self.emit(Event::WatchError(error)),
      Some(Notice::Ready) => self.emit(Event::WatchReady),
      // The watcher thread is gone; nothing more will come.
      None => self.watching = None,
    }
  }

  fn debounce(&self) -> Duration {
    let state = self.core.state();
    state
      .run
      .as_ref()
      .and_then(|run| run.options.watch.as_ref())
      .map_or(Duration::ZERO, |w| w.debounce)
  }

  /// The burst has been quiet for the debounce time: what changed since its first change
  /// restarts the child once more.
  fn burst_ended(&mut self) {
    if let Some(Burst {
      trailing: Some(file),
      ..
    }) = self.burst.take()
    {
      // That restart begins a burst of its own: changes still coming are coalesced into
      // it, so a stream of changes restarts once per debounce period at most.
      self.burst = Some(Burst::new(Instant::now(), self.debounce()));
      self.changed(file);
    }
  }

  /// A watched file changed: restart the child, or start it again if it had ended on its
  /// own (a watching monitor waits for changes).
  fn changed(&mut self, file: PathBuf) {
    self.emit(Event::WatchRestart {
      file: file.display().to_string(),
    });
    let command = self.core.state().policy.restart();
    match command {
      Ok(crate::policy::Command::Signal(order)) => self.signal(order),
      Ok(crate::policy::Command::Spawn { .. }) => self.asked = true,
      _ => return,
    }
    self.held_until = Some(Instant::now() + SAME_SAVE);
  }

  /// Emits through the current run's outbox.
  fn emit(&self, event: Event) {
    let run = self.core.state().run.clone();
    if let Some(run) = run {
      run.outbox.emit(event);
    }
  }

  /// Supervision is over: stop watching; a cleanup under way finishes in the background.
  fn idle(&mut self) {
    if let Life::Between {
      cleanup: Some(cleanup),
      ..
    } = std::mem::replace(&mut self.life, Life::Idle)
    {
      cleanup.detach(&self.core);
    }
    self.watching = None;
    self.burst = None;
    self.watched_run = 0;
    self.held_until = None;
    self.asked = false;
  }

  /// The JS side is gone (its object was collected, or its Worker ended): kill the child.
  fn shutdown(&mut self) {
    let core = Arc::clone(&self.core);
    match std::mem::replace(&mut self.life, Life::Idle) {
      Life::Running { child, .. } => {
        let child = *child;
        let tree = child.run.options.limits.kill.tree;
        core.processes.signal(
          child.pid,
          libc::SIGKILL,
          if tree { Reach::Tree } else { Reach::Child },
        );
        core.live.store(0, Ordering::Release);
        *lock(&core.outlet) = Outlet::Idle;
        // Reap it, rather than leave tokio's best-effort orphan queue to it.
        let guarded = child.guarded;
        let pid = child.pid;
        let exit = child.exit;
        tokio::spawn(async move {
          let _ = exit.await;
          if guarded {
            core.processes.release(pid);
          }
        });
      }
      other => self.life = other,
    }
    let run = self.core.state().run.take();
    if let Some(run) = run {
      run.close();
    }
    self.idle();
  }
}

async fn exit_of(life: &mut Life) -> std::io::Result<ExitStatus> {
  match life {
    Life::Running { child, .. } => (&mut child.exit).await,
    _ => std::future::pending().await,
  }
}

async fn next_notice(watching: &mut Option<Watching>) -> Option<Notice> {
  match watching {
    Some(w) => w.notices.recv().await,
    None => std::future::pending().await,
  }
}

/// Reads the run's notify socket: what the child, or one of its descendants, says is
/// recorded for it; anyone else is not heard.
async fn notify_read(listen: Option<&(Arc<Run>, u32)>, signals: &Signals) {
  let Some((run, pid)) = listen else {
    return std::future::pending().await;
  };
  let Some(socket) = &run.notify else {
    return std::future::pending().await;
  };
  socket
    .read(&mut |sender, signal: Signal| {
      if health::in_tree(sender, *pid as i32) {
        signals.record(*pid, signal);
      }
    })
    .await;
}

async fn sleep_until(at: Option<Instant>) {
  match at {
    Some(at) => tokio::time::sleep_until(at).await,
    None => std::future::pending().await,
  }
}

/// Runs a future, turning a panic inside it into `Err(message)`.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
  type Output = Result<F::Output, String>;

  fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
    // SAFETY: the inner future is structurally pinned: it is never moved out of the
    // wrapper, which is itself pinned.
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

/// A number in `[0, 1)` for the policy's jitter: the standard library's per-process random
/// hash keys are enough for spreading restarts, and need no crate.
fn random() -> f64 {
  use std::hash::{BuildHasher, Hasher};
  let bits = std::collections::hash_map::RandomState::new()
    .build_hasher()
    .finish();
  (bits >> 11) as f64 / (1u64 << 53) as f64
}
