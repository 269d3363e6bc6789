//! The task's health checks of the running child: the deadline to be ready, the watchdog,
//! and the samples of its tree's usage (for the memory limit and `usage()`).
//!
//! Everything here is bookkeeping the task consults between events: when the next check
//! is due, and what a signal or a sample means. Taking a child down is the task's (it goes
//! through the policy like any kill).

use std::time::Duration;

use tokio::time::Instant;

use crate::health::{self, HealthConfig, Signals, Tagged, TreeUsage};
use crate::policy::Cause;
use crate::tag::Tag;

/// How often usage is sampled for `usage()` when no memory limit sets the pace.
pub(super) const USAGE_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a `usage()` call the core keeps sampling.
pub(super) const USAGE_INTEREST: Duration = Duration::from_secs(10);

/// The last reading of a child's tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
  /// The child it is of.
  pub pid: u32,
  /// What its tree used.
  pub usage: TreeUsage,
  /// CPU use of the tree since the reading before, in percent of one core.
  pub cpu: Option<f64>,
  /// When it was read.
  pub at: Instant,
  /// The same, in milliseconds since the epoch.
  pub at_epoch_ms: f64,
}

/// The checks of one child, held beside it while it is the current one.
#[derive(Debug, Default)]
pub(super) struct Checks {
  pid: u32,
  config: Option<HealthConfig>,
  ready: bool,
  ready_by: Option<Instant>,
  watchdog_by: Option<Instant>,
  pings: u64,
  sample_at: Option<Instant>,
  /// Sampling for `usage()` goes on until then.
  interest_until: Option<Instant>,
  /// A check has taken this child down: no more checks.
  taken_down: bool,
  /// The processes that carry the child's tag, outside its tree too.
  tagged: Option<Tagged>,
}

/// What a check found.
#[derive(Debug, PartialEq)]
pub(super) enum Finding {
  /// Nothing to do.
  Fine,
  /// The child said it is ready (the first time).
  Ready,
  /// Take the child down.
  TakeDown(Cause),
}

impl Checks {
  /// The checks of a child spawned now (see [`Checks::begin`]), with usage sampled until
  /// `interest_until` (a `usage()` call's interest, which outlives children).
  pub fn new(
    pid: u32,
    tag: Option<&Tag>,
    config: &HealthConfig,
    signals: &Signals,
    interest_until: Option<Instant>,
  ) -> Checks {
    let mut checks = Checks {
      interest_until,
      ..Checks::default()
    };
    checks.begin(pid, tag, config, signals);
    checks
  }

  /// A new child, spawned now, tagged `tag` (none when detached).
  pub fn begin(&mut self, pid: u32, tag: Option<&Tag>, config: &HealthConfig, signals: &Signals) {
    let now = Instant::now();
    let interest = self.interest_until;
    *self = Checks {
      pid,
      config: Some(config.clone()),
      interest_until: interest,
      tagged: tag.map(|tag| Tagged::new(tag.entry())),
      ..Checks::default()
    };
    self.pings = signals.pings(pid).0;
    if config.wait_ready {
      self.ready_by = config.ready_timeout.map(|t| now + t);
    } else {
      self.ready = true;
      self.watchdog_by = config.watchdog.map(|w| now + w);
    }
    self.schedule_sample(now);
  }

  /// `usage()` was called: sample for a while, and now if the last sample is stale.
  pub fn want_usage(&mut self, stale: bool) {
    let now = Instant::now();
    self.interest_until = Some(now + USAGE_INTEREST);
    if self.pid != 0 && (stale || self.sample_at.is_none()) {
      self.sample_at = Some(now);
    }
  }

  /// Whether the child is still to say it is ready (and no check has taken it down).
  pub fn awaits_ready(&self) -> bool {
    self.pid != 0
      && !self.ready
      && !self.taken_down
      && self.config.as_ref().is_some_and(|c| c.wait_ready)
  }

  /// The earliest check due; none once a check has taken the child down ([`Checks::due`]
  /// has nothing more to do, and a deadline left would be due again and again until the
  /// child has gone).
  pub fn next_due(&self) -> Option<Instant> {
    if self.pid == 0 || self.taken_down {
      return None;
    }
    [self.ready_by, self.watchdog_by, self.sample_at]
      .into_iter()
      .flatten()
      .min()
  }

  /// Looks at what the child has said since the last look.
  pub fn heard(&mut self, signals: &Signals) -> Finding {
    if self.pid == 0 || self.taken_down {
      return Finding::Fine;
    }
    let now = Instant::now();
    let watchdog = self.config.as_ref().and_then(|c| c.watchdog);
    let mut finding = Finding::Fine;
    if !self.ready && signals.is_ready(self.pid) {
      self.ready = true;
      self.ready_by = None;
      self.watchdog_by = watchdog.map(|w| now + w);
      finding = Finding::Ready;
    }
    let (pings, from_child) = signals.pings(self.pid);
    if pings != self.pings {
      self.pings = pings;
      // A ping before readiness does not count: the watchdog starts at ready.
      if from_child && self.ready {
        self.watchdog_by = watchdog.map(|w| now + w);
      }
    }
    finding
  }

  /// A deadline has passed (the caller has read what waited in the IPC socket and called
  /// [`Checks::heard`] first). Returns what to do, and the sample taken if one was due.
  pub fn due(&mut self) -> (Finding, Option<Sample>) {
    if self.pid == 0 || self.taken_down {
      return (Finding::Fine, None);
    }
    let now = Instant::now();
    if self.ready_by.is_some_and(|at| now >= at) {
      self.ready_by = None;
      self.taken_down = true;
      return (Finding::TakeDown(Cause::NotReady), None);
    }
    if self.watchdog_by.is_some_and(|at| now >= at) {
      self.watchdog_by = None;
      self.taken_down = true;
      return (Finding::TakeDown(Cause::Watchdog), None);
    }
    if self.sample_at.is_some_and(|at| now >= at) {
      self.sample_at = None;
      let sample = self.sample(now);
      self.schedule_sample(now);
      let limit = self.config.as_ref().and_then(|c| c.max_memory);
      if let (Some(limit), Some(sample)) = (limit, &sample) {
        if sample.usage.tree_rss > limit {
          self.taken_down = true;
          return (Finding::TakeDown(Cause::Memory), Some(*sample));
        }
      }
      return (Finding::Fine, sample);
    }
    (Finding::Fine, None)
  }

  fn schedule_sample(&mut self, now: Instant) {
    let memory = self
      .config
      .as_ref()
      .filter(|c| c.max_memory.is_some())
      .map(|c| c.memory_interval);
    let usage = self
      .interest_until
      .filter(|&until| until > now)
      .map(|_| USAGE_INTERVAL);
    let every = match (memory, usage) {
      (Some(m), Some(u)) => Some(m.min(u)),
      (m, u) => m.or(u),
    };
    self.sample_at = every.map(|every| now + every);
  }

  fn sample(&mut self, now: Instant) -> Option<Sample> {
    let usage = health::tree_usage(self.pid as i32, self.tagged.as_mut())?;
    Some(Sample {
      pid: self.pid,
      usage,
      cpu: None,
      at: now,
      at_epoch_ms: super::epoch_ms(),
    })
  }
}

/// CPU use between two samples of the same child, in percent of one core.
pub(super) fn cpu_between(before: &Sample, after: &Sample) -> Option<f64> {
  if before.pid != after.pid {
    return None;
  }
  let secs = after.at.duration_since(before.at).as_secs_f64();
  if secs <= 0.0 {
    return None;
  }
  let ticks = after.usage.cpu_ticks.saturating_sub(before.usage.cpu_ticks) as f64;
  Some(ticks / health::ticks_per_second() as f64 / secs * 100.0)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn config(f: impl FnOnce(&mut HealthConfig)) -> HealthConfig {
    let mut c = HealthConfig {
      memory_interval: Duration::from_secs(1),
      ..HealthConfig::default()
    };
    f(&mut c);
    c
  }

  #[tokio::test(start_paused = true)]
  async fn a_child_not_ready_in_time_is_taken_down_once() {
    let signals = Signals::default();
    let mut checks = Checks::default();
    checks.begin(
      7,
      None,
      &config(|c| {
        c.wait_ready = true;
        c.ready_timeout = Some(Duration::from_millis(300));
      }),
      &signals,
    );
    let due = checks.next_due().unwrap();
    tokio::time::sleep_until(due).await;
    assert_eq!(checks.heard(&signals), Finding::Fine);
    assert_eq!(checks.due().0, Finding::TakeDown(Cause::NotReady));
    assert_eq!(checks.next_due(), None);
    assert_eq!(checks.due().0, Finding::Fine, "once");
  }

  #[tokio::test(start_paused = true)]
  async fn a_child_taken_down_has_no_check_due_while_it_goes() {
    let signals = Signals::default();
    let mut checks = Checks::default();
    checks.begin(
      std::process::id(),
      None,
      &config(|c| {
        c.wait_ready = true;
        c.ready_timeout = Some(Duration::from_millis(300));
      }),
      &signals,
    );
    // `usage()` keeps a sample due every second.
    checks.want_usage(false);
    let _ = checks.due();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(checks.due().0, Finding::TakeDown(Cause::NotReady));
    // The task would otherwise wake for that sample over and over until the child exits.
    assert_eq!(checks.next_due(), None);
  }

  #[tokio::test(start_paused = true)]
  async fn ready_starts_the_watchdog_and_pings_keep_it_fed() {
    let signals = Signals::default();
    let mut checks = Checks::default();
    let c = config(|c| {
      c.wait_ready = true;
      c.watchdog = Some(Duration::from_millis(100));
    });
    checks.begin(7, None, &c, &signals);
    assert_eq!(
      checks.next_due(),
      None,
      "no ready timeout, no watchdog before ready"
    );
    // Another child's readiness is not this one's.
    signals.record(8, crate::health::Signal::Ready);
    assert_eq!(checks.heard(&signals), Finding::Fine);
    signals.record(7, crate::health::Signal::Ready);
    assert_eq!(checks.heard(&signals), Finding::Ready);
    for _ in 0..5 {
      tokio::time::sleep(Duration::from_millis(80)).await;
      signals.record(7, crate::health::Signal::Alive);
      assert_eq!(checks.heard(&signals), Finding::Fine);
      assert_eq!(checks.due().0, Finding::Fine);
    }
    tokio::time::sleep_until(checks.next_due().unwrap()).await;
    assert_eq!(checks.heard(&signals), Finding::Fine);
    assert_eq!(checks.due().0, Finding::TakeDown(Cause::Watchdog));
  }

  #[tokio::test(start_paused = true)]
  async fn usage_is_sampled_only_while_someone_asks() {
    let signals = Signals::default();
    let mut checks = Checks::default();
    checks.begin(std::process::id(), None, &config(|_| {}), &signals);
    assert_eq!(checks.next_due(), None);
    checks.want_usage(true);
    let (finding, sample) = checks.due();
    assert_eq!(finding, Finding::Fine);
    assert!(sample.unwrap().usage.rss > 0);
    assert!(checks.next_due().is_some(), "sampling goes on for a while");
    tokio::time::sleep(USAGE_INTEREST + USAGE_INTERVAL).await;
    let _ = checks.due();
    assert_eq!(checks.next_due(), None, "and stops when nobody asks");
  }
}
