//! The restart policy: a pure state machine with forever-monitor's rules.
//!
//! It owns no process and reads no clock: the supervisor feeds it what happened (a
//! command from the user, a child that started or exited, a timer that fired) together
//! with the current time in milliseconds, and it answers with what to do next. That makes
//! every rule here testable without spawning anything.

/// Limits that decide whether an exited child is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
  /// How many runs in all (`times >= max` ends supervision); `None` means no limit.
  pub max: Option<u32>,
  /// A child that lived less than this many milliseconds is "spinning".
  pub min_uptime_ms: u64,
  /// How long to wait before restarting a spinning child; `None` lets it die.
  pub spin_sleep_ms: Option<u64>,
}

/// Where the supervised service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
  /// No child and nothing scheduled: never started, stopped, or given up.
  Idle,
  /// A child is alive since `started_ms`.
  Running { started_ms: u64 },
  /// The last child spun; the next one starts at `until_ms`.
  Sleeping { until_ms: u64 },
}

/// Why a command was refused; each maps to one of forever-monitor's error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
  /// `start()` while a child runs or a restart is scheduled.
  AlreadyRunning,
  /// `stop()`/`kill()` with nothing to stop.
  NotRunning,
}

/// What the supervisor must do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
  /// Spawn a child now; `restart` tells whether to report it as a restart.
  Spawn { restart: bool },
  /// Signal the running child (and its tree) so that it exits.
  Signal,
  /// Nothing was running but a restart was scheduled: supervision ended at once.
  Cancelled,
}

/// What happens after a child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
  /// Start the next child now.
  Restart,
  /// Start the next child after this many milliseconds (spin sleep).
  RestartAfter(u64),
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
  pub outcome: Outcome,
  /// The exit was asked for by `stop()`, `kill()` or `restart()` (forever-monitor emits `stop`).
  pub requested: bool,
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

  /// Replaces the limits; used when `start()` is called again with new options.
  pub fn set_limits(&mut self, limits: Limits) {
    self.limits = limits;
  }

  /// `start(restart)`: refused while a child runs or a restart is scheduled.
  pub fn start(&mut self, restart: bool) -> Result<Action, Refusal> {
    match self.phase {
      Phase::Idle => Ok(Action::Spawn { restart }),
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
  pub fn kill(&mut self, force_stop: bool) -> Result<Action, Refusal> {
    match self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Running { .. } => {
        self.force_stop |= force_stop;
        self.kill_requested = true;
        Ok(Action::Signal)
      }
      // No child to signal. A stop cancels the scheduled restart at once; forever-monitor
      // could not stop a monitor in this state at all.
      Phase::Sleeping { .. } if force_stop => {
        self.end();
        Ok(Action::Cancelled)
      }
      Phase::Sleeping { .. } => Err(Refusal::NotRunning),
    }
  }

  /// `restart()`: starts a stopped monitor, kills a running child so that it restarts
  /// whatever the limits say, and cuts a spin sleep short.
  pub fn restart(&mut self) -> Action {
    match self.phase {
      Phase::Idle | Phase::Sleeping { .. } => Action::Spawn { restart: true },
      Phase::Running { .. } => {
        self.force_restart = true;
        self.kill_requested = true;
        Action::Signal
      }
    }
  }

  /// The running child exited at `now_ms`.
  pub fn exited(&mut self, now_ms: u64) -> ExitVerdict {
    let started_ms = match self.phase {
      Phase::Running { started_ms } => started_ms,
      // Only a running child can exit; treat a stray report as a zero-length run.
      Phase::Idle | Phase::Sleeping { .. } => now_ms,
    };
    let spinning = now_ms.saturating_sub(started_ms) < self.limits.min_uptime_ms;
    self.times = self.times.saturating_add(1);
    let requested = self.kill_requested;
    let max_reached = self.limits.max.is_some_and(|max| self.times >= max);

    let outcome = if self.force_stop
      || (max_reached && !self.force_restart)
      || (spinning && self.limits.spin_sleep_ms.is_none() && !self.force_restart)
    {
      Outcome::GiveUp
    } else if self.force_restart {
      // A restart the user asked for is not delayed by spin detection.
      Outcome::Restart
    } else if spinning {
      Outcome::RestartAfter(self.limits.spin_sleep_ms.unwrap_or(0))
    } else {
      Outcome::Restart
    };

    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
    self.phase = match outcome {
      Outcome::GiveUp => Phase::Idle,
      Outcome::Restart => Phase::Sleeping { until_ms: now_ms },
      Outcome::RestartAfter(ms) => Phase::Sleeping {
        until_ms: now_ms.saturating_add(ms),
      },
    };
    ExitVerdict {
      spinning,
      times: self.times,
      outcome,
      requested,
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
    }
  }

  fn running(limits: Limits, at: u64) -> Policy {
    let mut p = Policy::new(limits);
    assert_eq!(p.start(false), Ok(Action::Spawn { restart: false }));
    p.spawned(at);
    p
  }

  #[test]
  fn restarts_a_healthy_child_until_max_runs() {
    let mut p = running(limits(Some(3), 0, None), 0);
    assert_eq!(p.exited(10).outcome, Outcome::Restart);
    p.spawned(10);
    assert_eq!(p.exited(20).outcome, Outcome::Restart);
    p.spawned(20);
    let last = p.exited(30);
    assert_eq!(last.outcome, Outcome::GiveUp);
    assert_eq!(last.times, 3);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn max_zero_and_one_give_a_single_run() {
    for max in [0, 1] {
      let mut p = running(limits(Some(max), 0, None), 0);
      assert_eq!(p.exited(5).outcome, Outcome::GiveUp, "max {max}");
    }
  }

  #[test]
  fn no_max_restarts_for_ever() {
    let mut p = running(limits(None, 0, None), 0);
    for t in 1..1000 {
      assert_eq!(p.exited(t).outcome, Outcome::Restart);
      p.spawned(t);
    }
    assert_eq!(p.times(), 999);
  }

  #[test]
  fn spinning_child_without_spin_sleep_is_let_die() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(999);
    assert!(v.spinning);
    assert_eq!(v.outcome, Outcome::GiveUp);
  }

  #[test]
  fn uptime_equal_to_min_uptime_is_not_spinning() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(1000);
    assert!(!v.spinning);
    assert_eq!(v.outcome, Outcome::Restart);
  }

  #[test]
  fn spinning_child_with_spin_sleep_waits_then_restarts() {
    let mut p = running(limits(None, 1000, Some(250)), 100);
    let v = p.exited(200);
    assert!(v.spinning);
    assert_eq!(v.outcome, Outcome::RestartAfter(250));
    assert_eq!(p.wake_at(), Some(450));
    assert_eq!(p.start(false), Err(Refusal::AlreadyRunning));
  }

  #[test]
  fn max_wins_over_spin_sleep() {
    let mut p = running(limits(Some(1), 1000, Some(250)), 0);
    assert_eq!(p.exited(1).outcome, Outcome::GiveUp);
  }

  #[test]
  fn stop_gives_up_whatever_the_limits() {
    let mut p = running(limits(None, 0, Some(10)), 0);
    assert_eq!(p.kill(true), Ok(Action::Signal));
    let v = p.exited(50);
    assert_eq!(v.outcome, Outcome::GiveUp);
    assert!(v.requested);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn kill_without_force_stop_follows_the_rules_and_is_reported() {
    let mut p = running(limits(None, 0, None), 0);
    assert_eq!(p.kill(false), Ok(Action::Signal));
    let v = p.exited(50);
    assert_eq!(v.outcome, Outcome::Restart);
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
    assert_eq!(p.restart(), Action::Signal);
    let v = p.exited(10);
    assert!(v.spinning);
    assert!(v.requested);
    assert_eq!(v.outcome, Outcome::Restart);
  }

  #[test]
  fn restart_of_an_idle_monitor_spawns_as_restart() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(p.restart(), Action::Spawn { restart: true });
  }

  #[test]
  fn restart_cuts_a_spin_sleep_short() {
    let mut p = running(limits(None, 1000, Some(60_000)), 0);
    p.exited(1);
    assert_eq!(p.restart(), Action::Spawn { restart: true });
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
    assert_eq!(p.kill(true), Ok(Action::Cancelled));
    assert_eq!(p.phase(), Phase::Idle);
    assert_eq!(p.wake_at(), None);
  }

  #[test]
  fn start_while_running_is_refused_and_after_give_up_allowed() {
    let mut p = running(limits(Some(1), 0, None), 0);
    assert_eq!(p.start(false), Err(Refusal::AlreadyRunning));
    p.exited(1);
    assert_eq!(p.start(false), Ok(Action::Spawn { restart: false }));
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
    p.start(false).unwrap();
    p.spawned(2);
    let v = p.exited(3);
    assert_eq!(v.times, 2);
    assert_eq!(v.outcome, Outcome::GiveUp);
  }

  #[test]
  fn clock_going_backwards_counts_as_spinning_not_a_panic() {
    let mut p = running(limits(None, 10, Some(5)), 100);
    let v = p.exited(50);
    assert!(v.spinning);
  }
}
