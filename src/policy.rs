//! The restart policy: a pure state machine with forever-monitor's rules.
//!
//! It owns no process and reads no clock: the supervisor feeds it what happened (a
//! command from the user, a child that started or exited, a timer that fired) together
//! with the current time in milliseconds, and it answers with what to do next — including
//! how far each kill reaches and when it escalates. That makes every rule here testable
//! without spawning anything.
//!
//! | phase      | `start()`     | `stop()`         | `kill()`         | `restart()`, a change | child exits        |
//! |------------|---------------|------------------|------------------|-----------------------|--------------------|
//! | `Idle`     | spawn         | refused          | refused          | refused               | —                  |
//! | `Running`  | refused       | signal, give up  | signal, rules    | signal, restart       | rules: next or end |
//! | `Sleeping` | refused       | end at once      | refused          | spawn now             | —                  |
//! | `Waiting`  | spawn (anew)  | end at once      | refused          | spawn now             | —                  |
//!
//! `Waiting` is where a watching monitor goes when its child ended on its own and the
//! rules gave up: a file change (or `restart()`) starts it again, as forever-monitor's
//! watcher did; `stop()` ends the watching.

/// The kill signal and how far it reaches: what `stop()`, `kill()`, `restart()` and the
/// clean-up after an exit send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillRules {
  /// The signal (a raw number) sent first.
  pub signal: i32,
  /// Signal the whole process tree, not only the child.
  pub tree: bool,
  /// Escalate to SIGKILL when the child outlives a kill by this long.
  pub ttl_ms: Option<u64>,
}

impl Default for KillRules {
  fn default() -> Self {
    KillRules {
      signal: libc::SIGKILL,
      tree: true,
      ttl_ms: None,
    }
  }
}

/// Limits that decide whether an exited child is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
  /// How many runs in all (`times >= max` ends supervision); `None` means no limit.
  pub max: Option<u32>,
  /// A child that lived less than this many milliseconds is "spinning".
  pub min_uptime_ms: u64,
  /// How long to wait before restarting a spinning child; `None` lets it die.
  pub spin_sleep_ms: Option<u64>,
  /// How the child and its tree are killed.
  pub kill: KillRules,
  /// The monitor watches files: a give-up waits for a change instead of ending it all.
  pub watch: bool,
}

/// How long leftovers of a crashed child get to exit after the kill signal when no
/// `killTTL` is set, before SIGKILL.
pub const LEFTOVER_GRACE_MS: u64 = 5000;

/// Where the supervised service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
  /// No child and nothing scheduled: never started, stopped, or given up.
  Idle,
  /// A child is alive since `started_ms`.
  Running {
    /// When it was spawned.
    started_ms: u64,
  },
  /// The last child exited; the next one starts at `until_ms` (at the earliest: what
  /// the last one left must be gone first).
  Sleeping {
    /// When the next child is due.
    until_ms: u64,
  },
  /// The child ended on its own and the rules gave up, but the monitor watches files: a
  /// change starts it again.
  Waiting,
}

/// Why a command was refused; each maps to one of forever-monitor's error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
  /// `start()` while a child runs or a restart is scheduled.
  AlreadyRunning,
  /// `stop()`/`kill()` with nothing to stop.
  NotRunning,
}

/// Which processes a signal reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
  /// The child alone.
  Child,
  /// The child's process group and the descendants that left it.
  Tree,
}

/// One signal to send, and when to follow it with SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillOrder {
  /// The signal.
  pub signal: i32,
  /// Who gets it.
  pub reach: Reach,
  /// SIGKILL to the whole tree after this many milliseconds, if the target is still there.
  pub escalate_after_ms: Option<u64>,
}

/// What the supervisor must do after `kill()` or `restart()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
  /// Spawn a child now; `restart` tells whether to report it as a restart.
  Spawn {
    /// Report it as a restart.
    restart: bool,
  },
  /// Signal the running child so that it exits.
  Signal(KillOrder),
  /// Nothing was running but a restart was scheduled: supervision ended at once.
  Cancelled,
}

/// What happens after a child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
  /// Start the next child after this many milliseconds (0: at once).
  Restart {
    /// The delay.
    delay_ms: u64,
  },
  /// Supervision is over.
  GiveUp,
}

/// The policy's verdict on one exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitVerdict {
  /// The child lived less than `min_uptime_ms`.
  pub spinning: bool,
  /// Runs so far, this one included.
  pub times: u32,
  /// What happens next.
  pub next: Next,
  /// The exit was asked for by `stop()`, `kill()` or `restart()` (forever-monitor emits `stop`).
  pub requested: bool,
  /// What to send to whatever the child left running (its group and tagged descendants),
  /// which the next child waits for: `None` leaves them be (`killTree: false`).
  pub leftovers: Option<KillOrder>,
}

/// forever-monitor's restart rules as a state machine.
#[derive(Debug, Clone)]
pub struct Policy {
  limits: Limits,
  phase: Phase,
  times: u32,
  force_stop: bool,
  force_restart: bool,
  kill_requested: bool,
}

impl Policy {
  /// A policy with no run yet.
  pub fn new(limits: Limits) -> Self {
    Policy {
      limits,
      phase: Phase::Idle,
      times: 0,
      force_stop: false,
      force_restart: false,
      kill_requested: false,
    }
  }

  /// The current phase.
  pub fn phase(&self) -> Phase {
    self.phase
  }

  /// Runs counted so far (forever-monitor's `times`).
  pub fn times(&self) -> u32 {
    self.times
  }

  /// The limits in force.
  pub fn limits(&self) -> &Limits {
    &self.limits
  }

  /// `start(restart)`: refused while a child runs or a restart is scheduled. The limits
  /// are those of this start (`start()` may be called again with new options).
  pub fn start(&mut self, restart: bool, limits: Limits) -> Result<Command, Refusal> {
    match self.phase {
      Phase::Idle | Phase::Waiting => {
        self.limits = limits;
        Ok(Command::Spawn { restart })
      }
      Phase::Running { .. } | Phase::Sleeping { .. } => Err(Refusal::AlreadyRunning),
    }
  }

  /// A child was spawned at `now_ms`.
  pub fn spawned(&mut self, now_ms: u64) {
    self.phase = Phase::Running { started_ms: now_ms };
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
  }

  /// Spawning failed: supervision ends.
  pub fn spawn_failed(&mut self) {
    self.end();
  }

  /// `kill(force_stop)`: `stop()` is `kill(true)`; `kill(false)` kills the child and lets
  /// the restart rules decide.
  pub fn kill(&mut self, force_stop: bool) -> Result<Command, Refusal> {
    match self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Running { .. } => {
        self.force_stop |= force_stop;
        self.kill_requested = true;
        Ok(Command::Signal(self.kill_order()))
      }
      // No child to signal. A stop cancels the scheduled restart, or the watching, at once;
      // forever-monitor could stop neither.
      Phase::Sleeping { .. } | Phase::Waiting if force_stop => {
        self.end();
        Ok(Command::Cancelled)
      }
      Phase::Sleeping { .. } | Phase::Waiting => Err(Refusal::NotRunning),
    }
  }

  /// `restart()`: kills a running child so that it restarts whatever the limits say, and
  /// cuts a sleep before a restart short. An idle monitor is refused: it is started afresh
  /// (`start(true)`), with the options of that call.
  pub fn restart(&mut self) -> Result<Command, Refusal> {
    match self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Sleeping { .. } | Phase::Waiting => Ok(Command::Spawn { restart: true }),
      Phase::Running { .. } => {
        self.force_restart = true;
        self.kill_requested = true;
        Ok(Command::Signal(self.kill_order()))
      }
    }
  }

  /// The first signal of a requested kill: `killSignal` to the tree (or the child alone),
  /// SIGKILL after `killTTL`.
  fn kill_order(&self) -> KillOrder {
    let kill = self.limits.kill;
    KillOrder {
      signal: kill.signal,
      reach: if kill.tree { Reach::Tree } else { Reach::Child },
      escalate_after_ms: kill.ttl_ms,
    }
  }

  /// What the escalation timer sends once `killTTL` has passed: SIGKILL to the whole tree.
  pub fn escalation(&self) -> KillOrder {
    KillOrder {
      signal: libc::SIGKILL,
      reach: Reach::Tree,
      escalate_after_ms: None,
    }
  }

  /// The running child exited at `now_ms`.
  pub fn exited(&mut self, now_ms: u64) -> ExitVerdict {
    let started_ms = match self.phase {
      Phase::Running { started_ms } => started_ms,
      // Only a running child can exit; treat a stray report as a zero-length run.
      Phase::Idle | Phase::Sleeping { .. } | Phase::Waiting => now_ms,
    };
    let spinning = now_ms.saturating_sub(started_ms) < self.limits.min_uptime_ms;
    self.times = self.times.saturating_add(1);
    let requested = self.kill_requested;
    let max_reached = self.limits.max.is_some_and(|max| self.times >= max);

    let next = if self.force_stop
      || (max_reached && !self.force_restart)
      || (spinning && self.limits.spin_sleep_ms.is_none() && !self.force_restart)
    {
      Next::GiveUp
    } else if spinning && !self.force_restart {
      // A restart the user asked for is not delayed by spin detection.
      Next::Restart {
        delay_ms: self.limits.spin_sleep_ms.unwrap_or(0),
      }
    } else {
      Next::Restart { delay_ms: 0 }
    };

    let kill = self.limits.kill;
    let leftovers = kill.tree.then(|| {
      if requested {
        // The tree already had the kill signal: what ignored it goes now.
        self.escalation()
      } else {
        // A crash: the rest of the tree gets the kill signal, then SIGKILL.
        KillOrder {
          signal: kill.signal,
          reach: Reach::Tree,
          escalate_after_ms: Some(kill.ttl_ms.unwrap_or(LEFTOVER_GRACE_MS)),
        }
      }
    });

    let stopped = self.force_stop;
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
    self.phase = match next {
      Next::GiveUp if self.limits.watch && !stopped => Phase::Waiting,
      Next::GiveUp => Phase::Idle,
      Next::Restart { delay_ms } => Phase::Sleeping {
        until_ms: now_ms.saturating_add(delay_ms),
      },
    };
    ExitVerdict {
      spinning,
      times: self.times,
      next,
      requested,
      leftovers,
    }
  }

  /// The instant a scheduled restart is due, if one is.
  pub fn wake_at(&self) -> Option<u64> {
    match self.phase {
      Phase::Sleeping { until_ms } => Some(until_ms),
      _ => None,
    }
  }

  fn end(&mut self) {
    self.phase = Phase::Idle;
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn limits(max: Option<u32>, min_uptime_ms: u64, spin_sleep_ms: Option<u64>) -> Limits {
    Limits {
      max,
      min_uptime_ms,
      spin_sleep_ms,
      kill: KillRules::default(),
      watch: false,
    }
  }

  fn running(limits: Limits, at: u64) -> Policy {
    let mut p = Policy::new(Limits::default());
    assert_eq!(
      p.start(false, limits),
      Ok(Command::Spawn { restart: false })
    );
    p.spawned(at);
    p
  }

  const NOW: Next = Next::Restart { delay_ms: 0 };

  #[test]
  fn restarts_a_healthy_child_until_max_runs() {
    let mut p = running(limits(Some(3), 0, None), 0);
    assert_eq!(p.exited(10).next, NOW);
    p.spawned(10);
    assert_eq!(p.exited(20).next, NOW);
    p.spawned(20);
    let last = p.exited(30);
    assert_eq!(last.next, Next::GiveUp);
    assert_eq!(last.times, 3);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn max_zero_and_one_give_a_single_run() {
    for max in [0, 1] {
      let mut p = running(limits(Some(max), 0, None), 0);
      assert_eq!(p.exited(5).next, Next::GiveUp, "max {max}");
    }
  }

  #[test]
  fn no_max_restarts_for_ever() {
    let mut p = running(limits(None, 0, None), 0);
    for t in 1..1000 {
      assert_eq!(p.exited(t).next, NOW);
      assert_eq!(p.wake_at(), Some(t), "due at once");
      p.spawned(t);
    }
    assert_eq!(p.times(), 999);
  }

  #[test]
  fn spinning_child_without_spin_sleep_is_let_die() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(999);
    assert!(v.spinning);
    assert_eq!(v.next, Next::GiveUp);
  }

  #[test]
  fn uptime_equal_to_min_uptime_is_not_spinning() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(1000);
    assert!(!v.spinning);
    assert_eq!(v.next, NOW);
  }

  #[test]
  fn spinning_child_with_spin_sleep_waits_then_restarts() {
    let mut p = running(limits(None, 1000, Some(250)), 100);
    let v = p.exited(200);
    assert!(v.spinning);
    assert_eq!(v.next, Next::Restart { delay_ms: 250 });
    assert_eq!(p.wake_at(), Some(450));
    assert_eq!(
      p.start(false, Limits::default()),
      Err(Refusal::AlreadyRunning)
    );
  }

  #[test]
  fn max_wins_over_spin_sleep() {
    let mut p = running(limits(Some(1), 1000, Some(250)), 0);
    assert_eq!(p.exited(1).next, Next::GiveUp);
  }

  #[test]
  fn stop_gives_up_whatever_the_limits() {
    let mut p = running(limits(None, 0, Some(10)), 0);
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    let v = p.exited(50);
    assert_eq!(v.next, Next::GiveUp);
    assert!(v.requested);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn kill_without_force_stop_follows_the_rules_and_is_reported() {
    let mut p = running(limits(None, 0, None), 0);
    assert!(matches!(p.kill(false), Ok(Command::Signal(_))));
    let v = p.exited(50);
    assert_eq!(v.next, NOW);
    assert!(v.requested);
    p.spawned(50);
    assert!(
      !p.exited(60).requested,
      "the request is forgotten after one exit"
    );
  }

  #[test]
  fn restart_of_a_running_child_ignores_max_and_spinning() {
    let mut p = running(limits(Some(1), 1000, None), 0);
    assert!(matches!(p.restart(), Ok(Command::Signal(_))));
    let v = p.exited(10);
    assert!(v.spinning);
    assert!(v.requested);
    assert_eq!(v.next, NOW);
  }

  #[test]
  fn restart_of_an_idle_monitor_is_refused_so_that_it_is_started_afresh() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(p.restart(), Err(Refusal::NotRunning));
  }

  #[test]
  fn restart_cuts_a_spin_sleep_short() {
    let mut p = running(limits(None, 1000, Some(60_000)), 0);
    p.exited(1);
    assert_eq!(p.restart(), Ok(Command::Spawn { restart: true }));
  }

  #[test]
  fn stop_and_kill_of_an_idle_monitor_are_refused() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(p.kill(true), Err(Refusal::NotRunning));
    assert_eq!(p.kill(false), Err(Refusal::NotRunning));
  }

  #[test]
  fn stop_during_spin_sleep_cancels_at_once() {
    let mut p = running(limits(None, 1000, Some(60_000)), 0);
    p.exited(1);
    assert_eq!(p.kill(false), Err(Refusal::NotRunning));
    assert_eq!(p.kill(true), Ok(Command::Cancelled));
    assert_eq!(p.phase(), Phase::Idle);
    assert_eq!(p.wake_at(), None);
  }

  #[test]
  fn start_while_running_is_refused_and_after_give_up_allowed() {
    let mut p = running(limits(Some(1), 0, None), 0);
    assert_eq!(
      p.start(false, Limits::default()),
      Err(Refusal::AlreadyRunning)
    );
    p.exited(1);
    assert_eq!(
      p.start(false, Limits::default()),
      Ok(Command::Spawn { restart: false })
    );
  }

  #[test]
  fn spawn_failure_ends_supervision() {
    let mut p = Policy::new(Limits::default());
    p.spawn_failed();
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn times_keeps_counting_across_starts() {
    let mut p = running(limits(Some(1), 0, None), 0);
    p.exited(1);
    p.start(false, limits(Some(1), 0, None)).unwrap();
    p.spawned(2);
    let v = p.exited(3);
    assert_eq!(v.times, 2);
    assert_eq!(v.next, Next::GiveUp);
  }

  #[test]
  fn clock_going_backwards_counts_as_spinning_not_a_panic() {
    let mut p = running(limits(None, 10, Some(5)), 100);
    let v = p.exited(50);
    assert!(v.spinning);
  }

  fn with_kill(signal: i32, tree: bool, ttl_ms: Option<u64>) -> Limits {
    Limits {
      kill: KillRules {
        signal,
        tree,
        ttl_ms,
      },
      ..Limits::default()
    }
  }

  fn watching(max: Option<u32>) -> Limits {
    Limits {
      watch: true,
      ..limits(max, 0, None)
    }
  }

  #[test]
  fn a_watching_monitor_that_gives_up_waits_for_a_change() {
    let mut p = running(watching(Some(1)), 0);
    let v = p.exited(5);
    assert_eq!(v.next, Next::GiveUp, "'exit' is reported as ever");
    assert_eq!(p.phase(), Phase::Waiting);
    assert_eq!(p.wake_at(), None, "no timer: a change starts it");
    assert_eq!(p.restart(), Ok(Command::Spawn { restart: true }));
    p.spawned(10);
    assert_eq!(p.exited(20).next, Next::GiveUp, "max counts on");
    assert_eq!(p.phase(), Phase::Waiting);
  }

  #[test]
  fn stop_ends_the_watching_and_a_stopped_monitor_does_not_wait() {
    let mut p = running(watching(None), 0);
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    p.exited(5);
    assert_eq!(p.phase(), Phase::Idle, "stopped: nothing more to wait for");
    let mut q = running(watching(Some(1)), 0);
    q.exited(5);
    assert_eq!(q.kill(false), Err(Refusal::NotRunning));
    assert_eq!(q.kill(true), Ok(Command::Cancelled));
    assert_eq!(q.phase(), Phase::Idle);
    assert_eq!(q.restart(), Err(Refusal::NotRunning));
  }

  #[test]
  fn start_of_a_waiting_monitor_begins_again() {
    let mut p = running(watching(Some(1)), 0);
    p.exited(5);
    assert_eq!(
      p.start(false, watching(Some(1))),
      Ok(Command::Spawn { restart: false })
    );
  }

  #[test]
  fn a_kill_sends_kill_signal_to_the_tree_and_escalates_after_ttl() {
    let mut p = running(with_kill(libc::SIGTERM, true, Some(300)), 0);
    assert_eq!(
      p.kill(true),
      Ok(Command::Signal(KillOrder {
        signal: libc::SIGTERM,
        reach: Reach::Tree,
        escalate_after_ms: Some(300),
      }))
    );
    assert_eq!(p.escalation().signal, libc::SIGKILL);
    assert_eq!(p.escalation().reach, Reach::Tree);
  }

  #[test]
  fn kill_tree_false_signals_the_child_alone_and_leaves_leftovers() {
    let mut p = running(with_kill(libc::SIGTERM, false, None), 0);
    let Ok(Command::Signal(order)) = p.kill(false) else {
      panic!("a running child is signalled");
    };
    assert_eq!(order.reach, Reach::Child);
    assert_eq!(order.escalate_after_ms, None);
    assert_eq!(p.exited(5).leftovers, None);
  }

  #[test]
  fn a_crashed_childs_leftovers_get_kill_signal_then_sigkill() {
    let mut p = running(with_kill(libc::SIGTERM, true, None), 0);
    let leftovers = p.exited(5).leftovers.unwrap();
    assert_eq!(leftovers.signal, libc::SIGTERM);
    assert_eq!(leftovers.escalate_after_ms, Some(LEFTOVER_GRACE_MS));
    p.spawned(5);
    let mut q = running(with_kill(libc::SIGINT, true, Some(700)), 0);
    assert_eq!(q.exited(5).leftovers.unwrap().escalate_after_ms, Some(700));
  }

  #[test]
  fn after_a_requested_kill_leftovers_get_sigkill_at_once() {
    let mut p = running(with_kill(libc::SIGTERM, true, Some(700)), 0);
    p.kill(false).unwrap();
    let leftovers = p.exited(5).leftovers.unwrap();
    assert_eq!(leftovers.signal, libc::SIGKILL);
    assert_eq!(leftovers.escalate_after_ms, None);
  }
}
