//! The monitor's task: waits for the child, carries out the orders JS left, and does what
//! the policy says when the child exits — never waiting for JS or for any destination of
//! the child's output.
//!
//! Its state is one [`Life`]: no child; a child [`Running`], which holds everything that is
//! that child's alone (a kill escalating, its health checks, a reload's new child starting
//! beside it), so that none of it outlives the child; or the time between two children,
//! when what the last one left is being cleaned up and the next one is due. Children on
//! their way out beside the current one — a reload's old child being stopped, a reload's
//! new child that failed — are [`Draining`]: their exits end no run and restart nothing
//! (reloads are `reload.rs`'s). One `select!` drives it, with one timer for the earliest
//! of the times the task waits for ([`Due`]); every arm ends in a short, non-blocking step.

use std::future::{poll_fn, Future};
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
use crate::health::{Signal, Signals};
use crate::policy::{Cause, Command, Ended, KillOrder, Next, Phase, Reach};
use crate::process::signal_name;
use crate::watch::{self, Notice, Watching};

use super::checks::{self, Checks, Finding, Sample};
use super::events::Event;
use super::outbox::Cork;
use super::processes::Remains;
use super::reload::{self, Draining, Incoming, Leaving, Retired};
use super::{lock, ChildRun, Core, Order, Outlet, Run};

/// How often leftovers are looked at while they are being waited for (doubling from the
/// first, up to the last).
const CLEANUP_POLL: (Duration, Duration) = (Duration::from_millis(2), Duration::from_millis(50));
/// After SIGKILL, how long leftovers may take to go before the next child starts anyway
/// (a zombie that nobody reaps, in a container without init, would otherwise hold it).
const CLEANUP_AFTER_KILL: Duration = Duration::from_secs(1);

/// What the task holds between events.
pub(super) enum Life {
  /// No child, nothing scheduled.
  Idle,
  /// A child runs, maybe being killed, and maybe with a reload's new child beside it.
  Running(Running),
  /// The child exited and the next one is due (at the policy's time); what the last one
  /// left is being cleaned up first.
  Between {
    run: Arc<Run>,
    cleanup: Option<Cleanup>,
    /// A watched change asked for the next child now.
    asked: bool,
    /// No child starts before this (a change asked for one: see [`SAME_SAVE`]).
    held_until: Option<Instant>,
  },
}

/// The current child, and what is its alone: it all goes when the child does, and the
/// next child begins with its own.
pub(super) struct Running {
  pub(super) child: Box<ChildRun>,
  /// The kill under way, if any.
  pub(super) kill: Kill,
  /// A reload's new child, starting beside it.
  pub(super) incoming: Option<Box<Incoming>>,
  /// Its readiness, watchdog and usage checks (boxed: the other states are much smaller).
  checks: Box<Checks>,
  /// The last sample of its tree (for CPU use between two).
  sample: Option<Sample>,
  /// The tree's memory that made a check take it down.
  memory_taken_down: Option<u64>,
  /// While it, or the reload's new child, has not said it is ready: when the IPC socket is
  /// next read from here ([`READY_PEEK`]).
  pub(super) ready_peek: Option<Instant>,
  /// A watched change is restarting it: the next child starts no sooner than this (see
  /// [`SAME_SAVE`]).
  held_until: Option<Instant>,
}

impl Running {
  /// `child`, just made the current one, with `checks` of its own.
  pub(super) fn new(child: Box<ChildRun>, checks: Checks) -> Running {
    Running {
      child,
      kill: Kill::default(),
      incoming: None,
      checks: Box::new(checks),
      sample: None,
      memory_taken_down: None,
      ready_peek: None,
      held_until: None,
    }
  }

  /// Whether it, or the reload's new child, waits to say over IPC that it is ready.
  fn awaits_ready_over_ipc(&self) -> bool {
    let current = self.child.channel.is_some() && self.checks.awaits_ready();
    let new = self
      .incoming
      .as_ref()
      .is_some_and(|i| i.child.channel.is_some() && i.child.run.options.health.wait_ready);
    current || new
  }
}

/// A kill under way.
#[derive(Default)]
pub(super) struct Kill {
  /// When the kill becomes SIGKILL, if one was sent — or, when the child was sent the
  /// shutdown message, when it gets `then`, the kill signal.
  escalate_at: Option<Instant>,
  then: Option<KillOrder>,
}

impl Kill {
  /// Sends `order` to `child`: the shutdown message first (once), when the order has a grace
  /// and the child a channel; a kill already under way goes on as it is.
  pub(super) fn send(&mut self, core: &Core, child: &ChildRun, order: KillOrder) {
    if let Some(grace) = order.grace_ms {
      if self.then.is_some() {
        return;
      }
      let message = child.run.options.health.shutdown_message.as_ref();
      if self.escalate_at.is_none() {
        if let (Some(channel), Some(message)) = (&child.channel, message) {
          if channel.send(message.clone()).is_ok() {
            self.then = Some(KillOrder {
              grace_ms: None,
              ..order
            });
            self.escalate_at = Some(Instant::now() + Duration::from_millis(grace));
            return;
          }
        }
      }
    }
    core.processes.signal(child.pid, order.signal, order.reach);
    if let Some(ms) = order.escalate_after_ms {
      self
        .escalate_at
        .get_or_insert(Instant::now() + Duration::from_millis(ms));
    }
  }

  /// Its time has come (if it has): the kill signal after the shutdown message's grace, or
  /// SIGKILL to the whole tree.
  pub(super) fn escalate(&mut self, core: &Core, child: &ChildRun, now: Instant) {
    if self.escalate_at.is_none_or(|at| at > now) {
      return;
    }
    self.escalate_at = None;
    if let Some(order) = self.then.take() {
      return self.send(core, child, order);
    }
    let order = core.state().policy.escalation();
    core.processes.signal(child.pid, order.signal, order.reach);
  }

  /// When it next escalates.
  pub(super) fn escalate_at(&self) -> Option<Instant> {
    self.escalate_at
  }
}

/// Which child exited.
enum Exited {
  /// The current one.
  Current(std::io::Result<ExitStatus>),
  /// A reload's new child, before it took over.
  Incoming(std::io::Result<ExitStatus>),
}

/// What the task does when a time it waits for comes. When several are due at once, the
/// first in this order goes first (the others are due again at the next turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
  /// A kill escalates: the current child's, or a draining child's.
  Escalate,
  /// A reload's deadline: its grace period, or its new child's `readyTimeout`.
  Reload,
  /// Leftovers are looked at again.
  Look,
  /// The next child is due.
  Respawn,
  /// A burst of file changes has been quiet for the debounce time.
  BurstEnd,
  /// A health check: readiness, the watchdog, or a sample of the tree.
  Check,
  /// The IPC socket of a child that has not said it is ready is read from here.
  Peek,
}

/// Leftovers of an exited child being killed and waited for.
pub(super) struct Cleanup {
  pid: u32,
  remains: Box<dyn Remains>,
  /// SIGKILL at this time, if they are still there.
  escalate_at: Option<Instant>,
  /// Give up waiting at this time (after the SIGKILL).
  give_up_at: Option<Instant>,
  next_look: Instant,
  interval: Duration,
  /// The wait ended at `give_up_at` with leftovers still there.
  timed_out: bool,
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
      timed_out: false,
    };
    if cleanup.escalate_at.is_none() {
      cleanup.give_up_at = Some(now + CLEANUP_AFTER_KILL);
    }
    cleanup
  }

  /// Looks at the leftovers once; true when waiting for them is over.
  fn look(&mut self) -> bool {
    let now = Instant::now();
    if self.remains.is_gone() {
      return true;
    }
    if self.give_up_at.is_some_and(|at| now >= at) {
      self.timed_out = true;
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
      core.cleanup_over(self.timed_out);
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

pub(super) struct Task {
  pub(super) core: Arc<Core>,
  pub(super) life: Life,
  /// Children on their way out beside the current one.
  pub(super) draining: Vec<Draining>,
  watching: Option<Watching>,
  burst: Option<Burst>,
  /// The run the watcher was started for.
  watched_run: usize,
  /// `usage()` was called: the tree is sampled until then, whichever child runs.
  usage_interest: Option<Instant>,
}

/// How often the task reads what waits in the IPC socket of a child (or a reload's new
/// child) that has not said it is ready: its `'ready'` is normally heard through the JS
/// thread, which reads the channel, and a blocked one would hold it back (and with it the
/// watchdog, which starts at ready, and a reload's handover).
const READY_PEEK: Duration = Duration::from_millis(100);

/// Runs a monitor's task until its handle is dropped. A panic inside is caught: the child
/// is killed, JS is told, and a fresh, idle task carries on.
pub(super) async fn run(core: Arc<Core>) {
  loop {
    let mut task = Task {
      core: Arc::clone(&core),
      life: Life::Idle,
      draining: Vec::new(),
      watching: None,
      burst: None,
      watched_run: 0,
      usage_interest: None,
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
  let others = std::mem::take(&mut *lock(&core.others));
  for pid in std::iter::once(pid).chain(others).filter(|&pid| pid != 0) {
    core.processes.signal(pid, libc::SIGKILL, Reach::Tree);
    // Reaped by tokio's orphan reaper; the guardian lets the group go once it is empty.
    core.processes.release(pid);
  }
  *lock(&core.outlet) = Outlet::Idle;
  // The children's stdin closes as the lost task state is dropped.
  core.forget_inputs();
  let mut state = core.state();
  state.policy.spawn_failed();
  state.orders.retain(|o| matches!(o, Order::Shutdown));
  if let Some(run) = state.run.take() {
    run.unbind();
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
      let due = self.next_due();
      // The current child's notify socket, if it has one, its pid and a reload's new child's.
      let listen = match &self.life {
        Life::Running(Running {
          child, incoming, ..
        }) if child.run.notify.is_some() => Some((
          Arc::clone(&child.run),
          child.pid,
          incoming.as_ref().map(|i| i.child.pid),
        )),
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
        exit = exit_of(&mut self.life) => match exit {
          Exited::Current(status) => self.exited(status),
          Exited::Incoming(status) => self.incoming_exited(status),
        },
        (i, status) = next_drained(&mut self.draining) => self.drained(i, status),
        _ = sleep_until(due.map(|(at, _)| at)) => {
          if let Some((_, due)) = due {
            self.fire(due);
          }
        }
        notice = next_notice(&mut self.watching) => self.notice(notice),
        _ = signals.changed() => self.heard(),
        _ = notify_read(listen.as_ref(), &signals) => {}
      }
    }
  }

  /// The next time the task waits for, and what it does then: the earliest; of those
  /// already past, the first in [`Due`]'s order.
  fn next_due(&mut self) -> Option<(Instant, Due)> {
    let now = Instant::now();
    self
      .deadlines()
      .into_iter()
      .filter_map(|(at, due)| Some((at?, due)))
      .min_by_key(|&(at, due)| (at.max(now), due))
  }

  /// Every time the task waits for, from its state.
  fn deadlines(&mut self) -> [(Option<Instant>, Due); 7] {
    let draining = self.draining.iter().filter_map(|d| d.kill.escalate_at());
    let (escalate, reload, check, peek) = match &mut self.life {
      Life::Running(running) => {
        let peek = if running.awaits_ready_over_ipc() {
          Some(
            *running
              .ready_peek
              .get_or_insert_with(|| Instant::now() + READY_PEEK),
          )
        } else {
          running.ready_peek = None;
          None
        };
        (
          draining.chain(running.kill.escalate_at()).min(),
          running.incoming.as_ref().and_then(|i| i.deadline),
          running.checks.next_due(),
          peek,
        )
      }
      _ => (draining.min(), None, None, None),
    };
    let look = match &self.life {
      Life::Between {
        cleanup: Some(c), ..
      } => Some(c.next_look),
      _ => None,
    };
    [
      (escalate, Due::Escalate),
      (reload, Due::Reload),
      (look, Due::Look),
      (self.respawn_at(), Due::Respawn),
      (self.burst.as_ref().map(|b| b.quiet_at), Due::BurstEnd),
      (check, Due::Check),
      (peek, Due::Peek),
    ]
  }

  /// A time the task waited for has come.
  fn fire(&mut self, due: Due) {
    match due {
      Due::Escalate => self.escalate(),
      Due::Reload => self.reload_due(),
      Due::Look => self.look(),
      Due::Respawn => self.respawn(),
      Due::BurstEnd => self.burst_ended(),
      Due::Check => self.check(),
      Due::Peek => {
        if let Life::Running(running) = &mut self.life {
          running.ready_peek = None;
        }
        self.check();
      }
    }
  }

  /// When the next child is due: the policy's time, once the cleanup is over.
  fn respawn_at(&self) -> Option<Instant> {
    let Life::Between {
      cleanup,
      asked,
      held_until,
      ..
    } = &self.life
    else {
      return None;
    };
    let at = if *asked {
      Instant::now()
    } else if cleanup.is_none() {
      let at = self.core.state().policy.wake_at()?;
      let ms = at.saturating_sub(self.core.now_ms());
      Instant::now() + Duration::from_millis(ms)
    } else {
      return None;
    };
    Some(held_until.map_or(at, |held| at.max(held)))
  }

  /// Carries out the orders JS left. False on shutdown.
  fn orders(&mut self) -> bool {
    loop {
      let Some(order) = self.core.state().orders.pop_front() else {
        return true;
      };
      match order {
        Order::Adopt(child) => self.adopt(child),
        Order::Signal(order, serial) => self.signal(order, serial),
        Order::Stop(order, serial) => {
          self.signal(order, serial);
          // A reload's new child goes with the old one.
          self.drop_incoming("stopped", None);
        }
        Order::Reload(plan) => self.reload(plan),
        Order::SignalChild(signal, serial, pid) => {
          if let Life::Running(Running { child, .. }) = &self.life {
            if child.serial == serial && pid.is_none_or(|pid| pid == child.pid) {
              self.core.processes.signal(child.pid, signal, Reach::Child);
            }
          }
        }
        Order::SpawnNow => self.spawn_now(),
        Order::Sample(stale) => {
          // Sampling goes on for a while, whichever child runs meanwhile.
          self.usage_interest = Some(Instant::now() + checks::USAGE_INTEREST);
          if let Life::Running(running) = &mut self.life {
            running.checks.want_usage(stale);
          }
        }
        Order::End(run, after_exit) => {
          run.unbind();
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
      #[cfg(feature = "test-hooks")]
      self
        .core
        .orders_done
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
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
    let checks = self.checks_for(&child);
    self.life = Life::Running(Running::new(child, checks));
    // Watching runs from `start()` until `stop()`: a new start begins it anew.
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

  /// Signals the current child if it is the one the order was given for: a call made as
  /// its child exited (before the task told the policy) must not reach the next child.
  fn signal(&mut self, order: KillOrder, serial: u64) {
    if let Life::Running(Running { child, kill, .. }) = &mut self.life {
      if child.serial == serial {
        kill.send(&self.core, child, order);
      }
    }
  }

  /// Signals the current child: the task's own decision (its health, a watched change).
  fn signal_current(&mut self, order: KillOrder) {
    if let Life::Running(Running { child, kill, .. }) = &mut self.life {
      kill.send(&self.core, child, order);
    }
  }

  /// A kill's time has come: the current child's, or one of the draining children's.
  fn escalate(&mut self) {
    let now = Instant::now();
    if let Life::Running(Running { child, kill, .. }) = &mut self.life {
      kill.escalate(&self.core, child, now);
    }
    for d in &mut self.draining {
      d.kill.escalate(&self.core, &d.child, now);
    }
  }

  /// The checks of `child`, spawned now (or made the current one by a reload).
  pub(super) fn checks_for(&self, child: &ChildRun) -> Checks {
    let tag = child.guarded.then_some(&child.tag);
    Checks::new(
      child.pid,
      tag,
      &child.run.options.health,
      &self.core.signals,
      self.usage_interest,
    )
  }

  /// The current child's checks begin anew: a reload's new child became the current one.
  pub(super) fn begin_current_checks(&mut self) {
    let Life::Running(running) = &self.life else {
      return;
    };
    let checks = self.checks_for(&running.child);
    if let Life::Running(running) = &mut self.life {
      *running.checks = checks;
      running.sample = None;
      running.memory_taken_down = None;
    }
    self.hear_current();
  }

  /// A child that said it is ready before it became the current one (a reload's new child)
  /// is heard at once.
  pub(super) fn hear_current(&mut self) {
    let Life::Running(running) = &mut self.life else {
      return;
    };
    if running.checks.heard(&self.core.signals) == Finding::Ready {
      self.became_ready();
    }
  }

  /// The child said something (ready, alive); a reload's new child may be ready.
  fn heard(&mut self) {
    self.hear_current();
    if self.incoming_ready() {
      self.hand_over();
    }
  }

  fn became_ready(&mut self) {
    let Life::Running(Running { child, .. }) = &self.life else {
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
    if let Life::Running(Running {
      child, incoming, ..
    }) = &self.life
    {
      let new = incoming.as_ref().map(|i| &i.child);
      for channel in std::iter::once(child)
        .chain(new)
        .filter_map(|c| c.channel.as_ref())
      {
        channel.read_ahead();
      }
    }
    self.heard();
    let Life::Running(running) = &mut self.life else {
      return;
    };
    let (finding, sample) = running.checks.due();
    if let Some(mut sample) = sample {
      if let Some(before) = &running.sample {
        sample.cpu = checks::cpu_between(before, &sample);
      }
      running.sample = Some(sample);
      lock(&self.core.usage).sample = Some(sample);
    }
    if let Finding::TakeDown(cause) = finding {
      if cause == Cause::Memory {
        running.memory_taken_down = sample.map(|s| s.usage.tree_rss);
      }
      let command = self.core.state().policy.health_kill(cause);
      if let Ok(Command::Signal(order)) = command {
        self.signal_current(order);
      }
    }
  }

  fn exited(&mut self, status: std::io::Result<ExitStatus>) {
    let Life::Running(running) = std::mem::replace(&mut self.life, Life::Idle) else {
      return;
    };
    // The restart's critical path is from this exit to the next spawn: what wakes another
    // thread (JS hearing of the exit, the output pumps' tasks hearing of the new child's
    // pipes, the guardian forgetting the old child's group) is held back until after the
    // next child is spawned, and each is woken once for both children (see `Outbox::cork`,
    // `sync::hold_wakes`).
    let mut cork = Some(running.child.run.outbox.cork());
    crate::sync::hold_wakes(|| {
      self.ended(running, status, &mut cork);
      // JS hears of the new child after the guardian is told of its group: the cork goes
      // with the other held wake-ups, after the guardian's write asked for before it.
      if let Some(cork) = cork.take() {
        crate::sync::wake_later(move || drop(cork));
      }
    });
  }

  /// The current child has exited: its report, and the next child if one is due at once.
  /// `cork` holds the report back until the next child is spawned; taken (and dropped) when
  /// no child is.
  fn ended(
    &mut self,
    running: Running,
    status: std::io::Result<ExitStatus>,
    cork: &mut Option<Cork>,
  ) {
    // Its checks, its kill and its last sample end with it.
    let Running {
      child,
      incoming,
      memory_taken_down: rss,
      ready_peek,
      held_until,
      ..
    } = running;
    let mut child = *child;
    // What waits for its stdin fails now (EPIPE), before the next child is spawned.
    drop(child.stdin.take());
    let (code, signal) = code_and_signal(&status);
    {
      let mut usage = lock(&self.core.usage);
      usage.child = None;
      usage.last_exit = Some((code, signal, super::epoch_ms()));
    }
    let core = Arc::clone(&self.core);
    core.live.store(0, Ordering::Release);
    *lock(&core.outlet) = Outlet::Idle;
    core.forget_input(child.pid);
    let run = child.run;
    let (verdict, waiting, incoming) = {
      let mut state = core.state();
      let ended = Ended {
        code,
        random: random(),
      };
      let verdict = state.policy.exited(core.now_ms(), ended);
      if verdict.takeover && incoming.is_none() {
        // A reload whose new child is not spawned yet: it is spawned below, and counts as
        // running from now on, under this lock, so that a call made meanwhile (a stop) is
        // for that child and stands.
        state.policy.spawned(core.now_ms());
      }
      // A reload's new child either takes over, or goes (reported first).
      let incoming = incoming
        .map(|new| reload::at_exit(&core, &mut state.policy, &run, child.pid, new, &verdict));
      let marks = run.marks();
      if let Some(logs) = &run.logs {
        logs.settle(marks);
      }
      let waiting = state.policy.phase() == Phase::Waiting;
      if verdict.next.gives_up() && !waiting {
        run.unbind();
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
      if verdict.next.gives_up() && !waiting {
        // Under the lock: a `start()` right after the exit must find the run gone.
        state.run = None;
        run.close();
      }
      (verdict, waiting, incoming)
    };
    // Only a next child spawned now is worth holding the report for: without one (a stop,
    // the end of supervision, a restart after a delay) JS hears of the exit now, not after
    // the look below for what the child left, which may read all of /proc.
    let restart_now = verdict.takeover
      || matches!(verdict.next, Next::Restart { delay_ms: 0, .. }) && held_until.is_none();
    if !restart_now {
      drop(cork.take());
    }
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
    if verdict.takeover {
      // A reload's new child is the restart: it runs already (the old one's leftovers go in
      // the background; the sockets are the core's, so they hold nothing the new one needs).
      if let Some(cleanup) = cleanup {
        cleanup.detach(&core);
      }
      return match incoming {
        Some((new, _)) => {
          let old = Retired {
            pid: child.pid,
            code,
            signal,
            times: verdict.times,
          };
          self.take_over(run, new.child, old, ready_peek)
        }
        // The reload's order has not been carried out yet: its child is spawned now (the
        // policy counted it above).
        None => self.spawn_next(run),
      };
    }
    if let Some((new, order)) = incoming {
      self.drain(new.child, Kill::default(), Leaving::Dropped, order);
    }
    match verdict.next {
      // The child ended on its own, and the monitor watches: a change starts it again.
      Next::GiveUp(_) if waiting => self.between(run, cleanup, held_until),
      Next::GiveUp(_) => {
        if let Some(cleanup) = cleanup {
          cleanup.detach(&core);
        }
        self.idle();
      }
      Next::Restart { delay_ms, .. } => {
        let at_once = delay_ms == 0 && held_until.is_none() && cleanup.is_none();
        self.between(run, cleanup, held_until);
        if at_once {
          // The common case of a crash loop: no timer round trip.
          self.respawn();
        }
      }
    }
  }

  /// The time between two children of `run` begins.
  fn between(&mut self, run: Arc<Run>, cleanup: Option<Cleanup>, held_until: Option<Instant>) {
    self.life = Life::Between {
      run,
      cleanup,
      asked: false,
      held_until,
    };
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
      self.core.cleanup_over(cleanup.timed_out);
      if let Life::Between { cleanup, .. } = &mut self.life {
        *cleanup = None;
      }
      self.core.processes.release(pid);
    }
  }

  /// The next child is due (or a change asked for it now).
  fn respawn(&mut self) {
    let Life::Between {
      asked, held_until, ..
    } = &mut self.life
    else {
      return;
    };
    if held_until.is_some_and(|held| held > Instant::now()) {
      return;
    }
    *held_until = None;
    if std::mem::take(asked) {
      return self.spawn_now();
    }
    let core = Arc::clone(&self.core);
    let mut state = core.state();
    let due =
      matches!(state.policy.phase(), Phase::Sleeping { until_ms } if until_ms <= core.now_ms());
    if !due {
      return;
    }
    state.policy.spawned(core.now_ms());
    drop(state);
    self.spawn_between();
  }

  /// `restart()` during a sleep: the next child now, whatever is left to clean up.
  fn spawn_now(&mut self) {
    if !matches!(self.life, Life::Between { .. }) {
      return;
    }
    let core = Arc::clone(&self.core);
    let mut state = core.state();
    if !matches!(
      state.policy.phase(),
      Phase::Sleeping { .. } | Phase::Waiting
    ) {
      return;
    }
    state.policy.spawned(core.now_ms());
    drop(state);
    self.spawn_between();
  }

  /// The time between two children ends with the next child, which the policy counts as
  /// running already: a cleanup still under way finishes in the background.
  fn spawn_between(&mut self) {
    let Life::Between { run, cleanup, .. } = std::mem::replace(&mut self.life, Life::Idle) else {
      return;
    };
    if let Some(cleanup) = cleanup {
      cleanup.detach(&self.core);
    }
    self.spawn_next(run);
  }

  /// Spawns the next child of `run`, which the policy already counts as running (the caller
  /// said `spawned` under the lock). The spawn itself — files opened, the fork, the
  /// guardian told — happens without the lock: a JS call meanwhile finds the child running
  /// and leaves its order, carried out once the child is installed (a `stop()` kills it).
  pub(super) fn spawn_next(&mut self, run: Arc<Run>) {
    let core = Arc::clone(&self.core);
    core.before_spawn();
    let direct = open_direct(&run);
    // The new child's first bytes come after its start report: its place is held where
    // the output written so far ends.
    let place = run.outbox.hold(run.marks());
    match core.spawn_child(&run, direct) {
      Ok(mut child) => {
        {
          let mut state = core.state();
          // Its uptime counts from the end of the spawn.
          state.policy.launched(core.now_ms());
          // Numbered at `spawned` (before the spawn); only this task renumbers.
          child.serial = state.policy.child();
        }
        run.outbox.fill(
          place,
          Some(Event::Start {
            pid: child.pid,
            ctime: super::epoch_ms(),
            restart: true,
            channel: child.channel.clone(),
          }),
        );
        let checks = self.checks_for(&child);
        self.life = Life::Running(Running::new(child, checks));
        self.settle_burst();
      }
      Err(e) => {
        let mut state = core.state();
        // A `stop()` during the spawn: supervision ends as it asked.
        let stopped = state.policy.stop_requested();
        state.policy.spawn_failed();
        if state.run.as_ref().is_some_and(|r| Arc::ptr_eq(r, &run)) {
          state.run = None;
        }
        run.unbind();
        run.outbox.fill(place, Some(Event::Error(e)));
        run.outbox.emit(Event::End {
          stopped,
          after_exit: false,
        });
        run.close();
        drop(state);
        self.idle();
      }
    }
  }

  /// The child a burst's change asked for has started: a change from now on is one it may
  /// not have seen.
  pub(super) fn settle_burst(&mut self) {
    if let Some(burst) = &mut self.burst {
      burst.settled = true;
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
    let held_until = match command {
      Ok(Command::Signal(order)) => {
        self.signal_current(order);
        match &mut self.life {
          Life::Running(running) => &mut running.held_until,
          _ => return,
        }
      }
      Ok(Command::Spawn { .. }) => match &mut self.life {
        Life::Between {
          asked, held_until, ..
        } => {
          *asked = true;
          held_until
        }
        _ => return,
      },
      _ => return,
    };
    *held_until = Some(Instant::now() + SAME_SAVE);
  }

  /// Emits through the current run's outbox.
  pub(super) fn emit(&self, event: Event) {
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
  }

  /// The JS side is gone (its object was collected, or its Worker ended): kill the
  /// children.
  fn shutdown(&mut self) {
    let core = Arc::clone(&self.core);
    match std::mem::replace(&mut self.life, Life::Idle) {
      Life::Running(Running {
        child, incoming, ..
      }) => {
        core.live.store(0, Ordering::Release);
        *lock(&core.outlet) = Outlet::Idle;
        core.forget_inputs();
        kill_now(&core, *child);
        if let Some(new) = incoming {
          kill_now(&core, *new.child);
        }
      }
      other => self.life = other,
    }
    for gone in std::mem::take(&mut self.draining) {
      kill_now(&core, *gone.child);
    }
    lock(&core.others).clear();
    let run = self.core.state().run.take();
    if let Some(run) = run {
      run.close();
    }
    self.idle();
  }
}

/// SIGKILL to `child` (and its tree, with `killTree`); it is reaped in the background.
fn kill_now(core: &Arc<Core>, child: ChildRun) {
  let tree = child.run.options.limits.kill.tree;
  core.processes.signal(
    child.pid,
    libc::SIGKILL,
    if tree { Reach::Tree } else { Reach::Child },
  );
  // Reap it, rather than leave tokio's best-effort orphan queue to it.
  let core = Arc::clone(core);
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

/// What an exited child beside the current one left is killed (`order`) and waited for in
/// the background; then its group is let go.
pub(super) fn clean_up_after(core: &Arc<Core>, child: &ChildRun, order: Option<KillOrder>) {
  if !child.guarded {
    return;
  }
  let remains = order.and_then(|order| {
    core
      .processes
      .leftovers(child.pid, &child.tag, child.started.elapsed())
      .map(|remains| (remains, order))
  });
  match remains {
    Some((remains, order)) => Cleanup::start(child.pid, remains, order).detach(core),
    None => core.processes.release(child.pid),
  }
}

/// With `logDirect`, the files a new child of `run` writes itself (opened here, on a core
/// thread); a file that cannot be opened is reported, and that stream is piped instead.
pub(super) fn open_direct(run: &Run) -> [Option<std::fs::File>; 2] {
  match &run.logs {
    Some(logs) if logs.config().direct => {
      let (files, errors) = logs.open_direct();
      for error in errors {
        run.outbox.emit(Event::Error(error));
      }
      files
    }
    _ => [None, None],
  }
}

pub(super) fn code_and_signal(
  status: &std::io::Result<ExitStatus>,
) -> (Option<i32>, Option<&'static str>) {
  match status {
    Ok(status) => (status.code(), status.signal().and_then(signal_name)),
    Err(_) => (None, None),
  }
}

async fn exit_of(life: &mut Life) -> Exited {
  let Life::Running(Running {
    child, incoming, ..
  }) = life
  else {
    return std::future::pending().await;
  };
  poll_fn(|cx| {
    if let Poll::Ready(status) = child.exit.as_mut().poll(cx) {
      return Poll::Ready(Exited::Current(status));
    }
    if let Some(new) = incoming {
      if let Poll::Ready(status) = new.child.exit.as_mut().poll(cx) {
        return Poll::Ready(Exited::Incoming(status));
      }
    }
    Poll::Pending
  })
  .await
}

/// The next draining child to exit: its index and status.
async fn next_drained(draining: &mut [Draining]) -> (usize, std::io::Result<ExitStatus>) {
  if draining.is_empty() {
    return std::future::pending().await;
  }
  poll_fn(|cx| {
    for (i, d) in draining.iter_mut().enumerate() {
      if let Poll::Ready(status) = d.child.exit.as_mut().poll(cx) {
        return Poll::Ready((i, status));
      }
    }
    Poll::Pending
  })
  .await
}

async fn next_notice(watching: &mut Option<Watching>) -> Option<Notice> {
  match watching {
    Some(w) => w.notices.recv().await,
    None => std::future::pending().await,
  }
}

/// Reads the run's notify socket: what the child, or a reload's new child, or one of their
/// descendants, says is recorded for it; anyone else is not heard.
async fn notify_read(listen: Option<&(Arc<Run>, u32, Option<u32>)>, signals: &Signals) {
  let Some((run, pid, new)) = listen else {
    return std::future::pending().await;
  };
  let Some(socket) = &run.notify else {
    return std::future::pending().await;
  };
  let children = [*pid, new.unwrap_or(*pid)];
  socket
    .read(&children, &mut |child, signal: Signal| {
      signals.record(child, signal)
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
