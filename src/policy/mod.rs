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
//!
//! What an exit leads to, rule by rule, the first that applies deciding (all the rules
//! after forever-monitor's are off by default):
//!
//! | rule | when | then |
//! |------|------|------|
//! | stopped | `stop()` asked for the exit | give up (`stopped`) |
//! | requested | `restart()` or a file change asked for it | restart at once, nothing counted |
//! | `autorestart: 'never'` | always | give up (`never`) |
//! | exit codes | code 0 under `'on-failure'`, or a code in `stopExitCodes` | give up (`exitCode`) |
//! | `max` | this was run number `max` | give up (`max`) |
//! | spinning | uptime < `minUptime` and no `spinSleepTime` | give up (`spinning`) |
//! | `restartWindow` | more than `count` restarts in the last `window` ms | give up (`window`) |
//! | otherwise | | restart after the longest of `spinSleepTime` (if spinning), `restartDelay`, the backoff delay |
//!
//! A child the core itself took down for its health (not ready in time, silent watchdog,
//! over its memory limit) goes through the same rules, as a crash would; its restart says
//! why. With `waitReady`, uptime (for `minUptime` and `resetAfter`) counts from readiness.
//!
//! The backoff delay of attempt `n` (restarts in a row) is `initial × factor^(n-1)`, at most
//! `max`, less a random part of up to `jitter` of it; a child that stayed up `resetAfter`
//! ms makes the next restart attempt 1 again.
//!
//! A reload (`reload()`) starts a new child beside the running one, which serves on:
//!
//! | while the new child starts | then |
//! |----------------------------|------|
//! | it is ready (`waitReady`), or the grace period is over (without) | it takes over: the old child gets the kill of `stop()`, and its exit counts one run, as `restart()`'s would (not `max`, not in a row, not in the window) |
//! | it exits, or is not ready within `readyTimeout` | the reload fails; the old child serves on, nothing is counted |
//! | the old child exits (a crash, `restart()`, a health kill) | the rules above decide; if they restart, the new child is that restart, at once |
//! | `stop()` | the reload is abandoned: both go |
//!
//! `reload()` is refused while a reload's new child is starting, or while the child is
//! being stopped or restarted; when no child runs it does what `restart()` does.

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

/// Which exits are followed by a restart (`autorestart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoRestart {
  /// Every exit, whatever its code (forever-monitor's).
  #[default]
  Always,
  /// Not an exit with code 0.
  OnFailure,
  /// None: one run.
  Never,
}

/// A set of exit codes (0 to 255), for `stopExitCodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitCodes([u64; 4]);

impl ExitCodes {
  /// The set of `codes`; those outside 0..=255 (which no exit has) are left out.
  pub fn of(codes: impl IntoIterator<Item = i32>) -> ExitCodes {
    let mut set = ExitCodes::default();
    for code in codes {
      if let Ok(code) = u8::try_from(code) {
        set.0[usize::from(code / 64)] |= 1 << (code % 64);
      }
    }
    set
  }

  /// Whether `code` is in the set.
  pub fn contains(&self, code: i32) -> bool {
    u8::try_from(code).is_ok_and(|c| self.0[usize::from(c / 64)] & (1 << (c % 64)) != 0)
  }
}

/// Delays that grow while restarts follow each other (`backoff`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
  /// The delay of the first restart in a row.
  pub initial_ms: u64,
  /// What each restart in a row multiplies it by.
  pub factor: f64,
  /// The longest delay.
  pub max_ms: u64,
  /// Up to this fraction of a delay (0 to 1) is taken off it at random, so that a fleet of
  /// monitors does not restart in step.
  pub jitter: f64,
  /// A child that stays up this long makes the next restart the first in a row again.
  pub reset_after_ms: u64,
}

impl Backoff {
  /// `backoff: true`: PM2's exponential backoff (100 ms, ×1.5, at most 15 s, reset after
  /// 30 s up), with a tenth of jitter.
  pub const DEFAULT: Backoff = Backoff {
    initial_ms: 100,
    factor: 1.5,
    max_ms: 15_000,
    jitter: 0.1,
    reset_after_ms: 30_000,
  };

  /// The delay of restart number `attempt` (1 for the first in a row), with `random` in
  /// `[0, 1)` choosing how much jitter takes off.
  pub fn delay(&self, attempt: u32, random: f64) -> u64 {
    let steps = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
    // 0 × an infinite growth is NaN: a backoff that starts at 0 stays at 0.
    let grown = match self.initial_ms {
      0 => 0.0,
      initial => initial as f64 * self.factor.powi(steps),
    };
    let capped = if grown.is_finite() {
      grown.min(self.max_ms as f64)
    } else {
      self.max_ms as f64
    };
    let kept = 1.0 - self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
    (capped * kept).round() as u64
  }
}

/// A restart budget (`restartWindow`): at most `count` restarts within any `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
  /// Restarts allowed within the window.
  pub count: u32,
  /// The window's length.
  pub window_ms: u64,
}

/// How long a child must stay up for the restarts in a row to start again at attempt 1,
/// without `backoff` (whose `resetAfter` says it otherwise).
pub const RESET_AFTER_MS: u64 = 30_000;

/// Limits that decide whether an exited child is started again.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
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
  /// A pause before every automatic restart.
  pub restart_delay_ms: u64,
  /// Growing delays for restarts in a row.
  pub backoff: Option<Backoff>,
  /// Which exits are restarted.
  pub autorestart: AutoRestart,
  /// Exit codes that end supervision.
  pub stop_exit_codes: ExitCodes,
  /// A restart budget over a sliding window.
  pub window: Option<Window>,
  /// A child is up only once it says it is ready: uptime counts from then.
  pub wait_ready: bool,
  /// With a shutdown message: how long a kill waits after sending it before the signal.
  pub shutdown_grace_ms: Option<u64>,
  /// With `wait_ready`: a child not ready this long after its spawn is taken down (a
  /// reload's new child fails the reload).
  pub ready_timeout_ms: Option<u64>,
  /// Without `wait_ready`: how long a reload's new child runs beside the old one before it
  /// takes over.
  pub reload_grace_ms: u64,
}

/// Why the core itself took a child down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
  /// It did not say it was ready within `readyTimeout`.
  NotReady,
  /// It stopped pinging the watchdog.
  Watchdog,
  /// Its tree used more memory than `maxMemory`.
  Memory,
}

/// How long leftovers of a crashed child get to exit after the kill signal when no
/// `killTTL` is set, before SIGKILL.
pub const LEFTOVER_GRACE_MS: u64 = 5000;

/// Where the supervised service stands. What was asked of a running child is carried by
/// its `Running` phase and goes with it: each child starts with nothing asked of it, and
/// nothing is left over for the next one to undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
  /// No child and nothing scheduled: never started, stopped, or given up.
  Idle,
  /// A child is alive since `started_ms`.
  Running {
    /// When it was spawned, or said it was ready (with `waitReady`).
    started_ms: u64,
    /// It said it was ready (always true without `waitReady`).
    ready: bool,
    /// What `stop()`, `kill()`, `restart()` or a file change asked of it.
    asked: Asked,
    /// The core is taking it down for its health.
    health: Option<Cause>,
    /// A reload's new child runs beside it, since this time.
    reload: Option<u64>,
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

impl Phase {
  /// A child running since `started_ms`, with nothing asked of it yet.
  fn running(started_ms: u64, ready: bool) -> Phase {
    Phase::Running {
      started_ms,
      ready,
      asked: Asked::Nothing,
      health: None,
      reload: None,
    }
  }
}

/// What the user asked of the running child. A later call never weakens an earlier one: a
/// stop wins over a restart, and a restart over a kill (the order of the variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Asked {
  /// Nothing: it runs on.
  Nothing,
  /// `kill()`: it goes, and the rules decide what follows.
  Kill,
  /// `restart()` or a file change: it goes and is started again at once.
  Restart,
  /// `stop()`: it goes, and supervision ends.
  Stop,
}

/// Why a command was refused; the first two map to forever-monitor's error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
  /// `start()` while a child runs or a restart is scheduled.
  AlreadyRunning,
  /// `stop()`/`kill()` with nothing to stop.
  NotRunning,
  /// `reload()` while a reload's new child is starting.
  Reloading,
  /// `reload()` while the child is being stopped or restarted.
  Stopping,
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
  /// Send the shutdown message first, and the signal only if the child is still there
  /// this many milliseconds later.
  pub grace_ms: Option<u64>,
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
  /// Nothing to do: `kill()` while a restart is scheduled (it goes ahead, as in
  /// forever-monitor, which kills the exited child again).
  Nothing,
  /// Start a reload's new child beside the running one.
  Reload(ReloadPlan),
}

/// What a reload's new child has until, and what happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadPlan {
  /// When (on the policy's clock): the grace period's end, or `readyTimeout`'s; `None` with
  /// `waitReady` and no `readyTimeout` (it has as long as it needs).
  pub deadline_ms: Option<u64>,
  /// At the deadline the new child takes over (the grace period, without `waitReady`);
  /// otherwise the reload fails.
  pub takes_over: bool,
}

/// Why a child is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
  /// `restart()` or a file change asked for it.
  Requested,
  /// It exited (or was killed by `kill()`), and the rules restart it.
  Exit,
  /// It exited before `minUptime`, and `spinSleepTime` restarts it.
  Spinning,
  /// The core took it down for its health.
  Health(Cause),
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
  /// `stop()`.
  Stopped,
  /// `max` runs.
  Max,
  /// A spinning child, with no `spinSleepTime`.
  Spinning,
  /// More than `restartWindow.count` restarts within its window.
  Window,
  /// An exit code that is not restarted (`autorestart: 'on-failure'`, `stopExitCodes`).
  ExitCode,
  /// `autorestart: 'never'`.
  Never,
}

impl End {
  /// The name JS sees.
  pub fn name(self) -> &'static str {
    match self {
      End::Stopped => "stopped",
      End::Max => "max",
      End::Spinning => "spinning",
      End::Window => "window",
      End::ExitCode => "exitCode",
      End::Never => "never",
    }
  }
}

impl Why {
  /// The name JS sees.
  pub fn name(self) -> &'static str {
    match self {
      Why::Requested => "restart",
      Why::Exit => "exit",
      Why::Spinning => "spinning",
      Why::Health(Cause::NotReady) => "readyTimeout",
      Why::Health(Cause::Watchdog) => "watchdog",
      Why::Health(Cause::Memory) => "memory",
    }
  }
}

/// What happens after a child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
  /// Start the next child after this many milliseconds (0: at once).
  Restart {
    /// The delay.
    delay_ms: u64,
    /// Why.
    why: Why,
    /// Automatic restarts in a row, this one included (0 for a requested one).
    attempt: u32,
  },
  /// Supervision is over.
  GiveUp(End),
}

impl Next {
  /// Supervision is over.
  pub fn gives_up(&self) -> bool {
    matches!(self, Next::GiveUp(_))
  }
}

/// How a child ended, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
  /// Its exit code; `None` when a signal ended it.
  pub code: Option<i32>,
  /// A number in `[0, 1)` from the supervisor's random source, for jitter.
  pub random: f64,
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
  /// A reload's new child, already running, is the restart: it takes over now.
  pub takeover: bool,
}

/// forever-monitor's restart rules, and the ones added to them, as a state machine.
#[derive(Debug, Clone)]
pub struct Policy {
  limits: Limits,
  phase: Phase,
  times: u32,
  /// Automatic restarts in a row (since a child stayed up long enough).
  attempt: u32,
  /// When the automatic restarts within the current window happened, oldest first (at
  /// most `window.count` of them).
  recent: std::collections::VecDeque<u64>,
  /// Which child the policy speaks of: a new number at each spawn, exit and hand-over, so
  /// that an order given for one child is never carried out on the next.
  child: u64,
}

impl Policy {
  /// A policy with no run yet.
  pub fn new(limits: Limits) -> Self {
    Policy {
      limits,
      phase: Phase::Idle,
      times: 0,
      attempt: 0,
      recent: std::collections::VecDeque::new(),
      child: 0,
    }
  }

  /// The current phase.
  pub fn phase(&self) -> Phase {
    self.phase
  }

  /// A kill of the running child is under way (asked for, or for its health).
  pub fn kill_under_way(&self) -> bool {
    matches!(self.phase, Phase::Running { asked, health, .. }
      if asked != Asked::Nothing || health.is_some())
  }

  /// A reload's new child is starting.
  pub fn reloading(&self) -> bool {
    matches!(
      self.phase,
      Phase::Running {
        reload: Some(_),
        ..
      }
    )
  }

  /// The number of the child that orders given now are for (see [`KillOrder`]'s users:
  /// the supervisor drops an order whose child has gone meanwhile).
  pub fn child(&self) -> u64 {
    self.child
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
        // A new supervision: its restarts in a row and its window begin anew (`times`,
        // as forever-monitor's, counts on).
        self.attempt = 0;
        self.recent.clear();
        Ok(Command::Spawn { restart })
      }
      Phase::Running { .. } | Phase::Sleeping { .. } => Err(Refusal::AlreadyRunning),
    }
  }

  /// A child was spawned at `now_ms`.
  pub fn spawned(&mut self, now_ms: u64) {
    self.child = self.child.wrapping_add(1);
    self.phase = Phase::running(now_ms, !self.limits.wait_ready);
  }

  /// The child `spawned` announced is running since `now_ms`: its spawn took until then
  /// (the supervisor spawns without its lock held, so that control calls never wait for a
  /// spawn; what they asked meanwhile — a kill, a reload — stands). Its uptime counts from
  /// now, unless it counts from ready (`waitReady`).
  pub fn launched(&mut self, now_ms: u64) {
    if let Phase::Running {
      started_ms,
      ready: true,
      ..
    } = &mut self.phase
    {
      *started_ms = now_ms;
    }
  }

  /// A `stop()` is under way.
  pub fn stop_requested(&self) -> bool {
    matches!(
      self.phase,
      Phase::Running {
        asked: Asked::Stop,
        ..
      }
    )
  }

  /// The running child said it is ready, at `now_ms`; true the first time (uptime counts
  /// from now on).
  pub fn ready(&mut self, now_ms: u64) -> bool {
    match &mut self.phase {
      Phase::Running {
        started_ms, ready, ..
      } if !*ready => {
        *started_ms = now_ms;
        *ready = true;
        true
      }
      _ => false,
    }
  }

  /// The core takes the running child down for its health: it gets the kill signal (the
  /// shutdown message first), and its exit goes through the rules as a crash would.
  /// Refused when no child runs, or a kill is already under way.
  pub fn health_kill(&mut self, cause: Cause) -> Result<Command, Refusal> {
    let order = self.kill_order();
    match &mut self.phase {
      Phase::Running {
        asked: Asked::Nothing,
        health: health @ None,
        ..
      } => {
        *health = Some(cause);
        Ok(Command::Signal(order))
      }
      _ => Err(Refusal::NotRunning),
    }
  }

  /// Spawning failed: supervision ends.
  pub fn spawn_failed(&mut self) {
    self.end();
  }

  /// `kill(force_stop)`: `stop()` is `kill(true)`; `kill(false)` kills the child and lets
  /// the restart rules decide.
  pub fn kill(&mut self, force_stop: bool) -> Result<Command, Refusal> {
    let order = self.kill_order();
    match &mut self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Running { asked, reload, .. } => {
        *asked = (*asked).max(if force_stop { Asked::Stop } else { Asked::Kill });
        if force_stop {
          // The reload's new child goes with the old one.
          *reload = None;
        }
        Ok(Command::Signal(order))
      }
      // No child to signal. A stop cancels the scheduled restart, or the watching, at once;
      // forever-monitor could stop neither.
      Phase::Sleeping { .. } | Phase::Waiting if force_stop => {
        self.end();
        Ok(Command::Cancelled)
      }
      Phase::Sleeping { .. } => Ok(Command::Nothing),
      Phase::Waiting => Err(Refusal::NotRunning),
    }
  }

  /// `restart()`: kills a running child so that it restarts whatever the limits say, and
  /// cuts a sleep before a restart short. An idle monitor is refused: it is started afresh
  /// (`start(true)`), with the options of that call.
  pub fn restart(&mut self) -> Result<Command, Refusal> {
    let order = self.kill_order();
    match &mut self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Sleeping { .. } | Phase::Waiting => Ok(Command::Spawn { restart: true }),
      Phase::Running { asked, .. } => {
        *asked = (*asked).max(Asked::Restart);
        Ok(Command::Signal(order))
      }
    }
  }

  /// `reload()` at `now_ms`: a new child starts beside the running one, and the plan says
  /// until when it may take to be ready. When no child runs, it is `restart()`.
  pub fn reload(&mut self, now_ms: u64) -> Result<Command, Refusal> {
    let stopping = self.kill_under_way();
    let limits = self.limits;
    match &mut self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Sleeping { .. } | Phase::Waiting => Ok(Command::Spawn { restart: true }),
      Phase::Running {
        reload: Some(_), ..
      } => Err(Refusal::Reloading),
      Phase::Running { .. } if stopping => Err(Refusal::Stopping),
      Phase::Running { reload, .. } => {
        *reload = Some(now_ms);
        let plan = if limits.wait_ready {
          ReloadPlan {
            deadline_ms: limits.ready_timeout_ms.map(|t| now_ms.saturating_add(t)),
            takes_over: false,
          }
        } else {
          ReloadPlan {
            deadline_ms: Some(now_ms.saturating_add(limits.reload_grace_ms)),
            takes_over: true,
          }
        };
        Ok(Command::Reload(plan))
      }
    }
  }

  /// The reload's new child is ready (it said so, or the grace period is over) at `now_ms`:
  /// it is the running child from now on. Returns how the old one is stopped — the kill of
  /// `stop()` — or `None` when no reload is under way (it was abandoned).
  pub fn handover(&mut self, now_ms: u64) -> Option<KillOrder> {
    let Phase::Running {
      reload: Some(spawned_ms),
      ..
    } = self.phase
    else {
      return None;
    };
    self.child = self.child.wrapping_add(1);
    // Uptime counts from ready with `waitReady`, else from the spawn. A kill under way was
    // the old child's: the new one has nothing asked of it.
    let started_ms = if self.limits.wait_ready {
      now_ms
    } else {
      spawned_ms
    };
    self.phase = Phase::running(started_ms, true);
    Some(self.kill_order())
  }

  /// The reload's new child failed (it exited, could not be spawned, or was not ready in
  /// time): the old child serves on, nothing is counted. Returns how the new child is
  /// stopped if it still runs.
  pub fn reload_failed(&mut self) -> KillOrder {
    if let Phase::Running { reload, .. } = &mut self.phase {
      *reload = None;
    }
    self.kill_order()
  }

  /// An old child that a reload's new one took over from has exited: one run, as a
  /// `restart()`'s. Returns the runs so far.
  pub fn retired(&mut self) -> u32 {
    self.times = self.times.saturating_add(1);
    self.times
  }

  /// The first signal of a requested kill: `killSignal` to the tree (or the child alone),
  /// SIGKILL after `killTTL`.
  fn kill_order(&self) -> KillOrder {
    let kill = self.limits.kill;
    KillOrder {
      signal: kill.signal,
      reach: if kill.tree { Reach::Tree } else { Reach::Child },
      escalate_after_ms: kill.ttl_ms,
      grace_ms: self.limits.shutdown_grace_ms,
    }
  }

  /// What the escalation timer sends once `killTTL` has passed: SIGKILL to the whole tree.
  pub fn escalation(&self) -> KillOrder {
    KillOrder {
      signal: libc::SIGKILL,
      reach: Reach::Tree,
      escalate_after_ms: None,
      grace_ms: None,
    }
  }

  /// The running child ended at `now_ms`.
  pub fn exited(&mut self, now_ms: u64, ended: Ended) -> ExitVerdict {
    // What was asked of the exited child is settled here; the next child is another.
    self.child = self.child.wrapping_add(1);
    // What was asked of it, and the reload beside it, end with it.
    let (started_ms, asked, health, reload) = match self.phase {
      Phase::Running {
        started_ms,
        ready,
        asked,
        health,
        reload,
      } => {
        // Never ready: it was never up.
        let started_ms = if ready { started_ms } else { now_ms };
        (started_ms, asked, health, reload)
      }
      // Only a running child can exit; treat a stray report as a zero-length run.
      Phase::Idle | Phase::Sleeping { .. } | Phase::Waiting => (now_ms, Asked::Nothing, None, None),
    };
    let uptime = now_ms.saturating_sub(started_ms);
    let spinning = uptime < self.limits.min_uptime_ms;
    self.times = self.times.saturating_add(1);
    let requested = asked != Asked::Nothing;
    let signalled = requested || health.is_some();
    let mut next = self.next(now_ms, uptime, spinning, ended, asked, health);
    // A reload's new child, already starting, is the restart the rules ask for: at once.
    let takeover = match (reload, next) {
      (Some(spawned_ms), Next::Restart { why, attempt, .. }) => {
        next = Next::Restart {
          delay_ms: 0,
          why,
          attempt,
        };
        Some(spawned_ms)
      }
      _ => None,
    };

    let leftovers = self.leftovers(signalled);

    let stopped = asked == Asked::Stop;
    self.phase = match next {
      Next::GiveUp(_) if self.limits.watch && !stopped => Phase::Waiting,
      Next::GiveUp(_) => Phase::Idle,
      Next::Restart { .. } if takeover.is_some() => {
        Phase::running(takeover.unwrap_or(now_ms), !self.limits.wait_ready)
      }
      Next::Restart { delay_ms, .. } => Phase::Sleeping {
        until_ms: now_ms.saturating_add(delay_ms),
      },
    };
    ExitVerdict {
      spinning,
      times: self.times,
      next,
      requested,
      leftovers,
      takeover: takeover.is_some(),
    }
  }

  /// What an exited child's leftovers get (`None` with `killTree: false`): SIGKILL at once
  /// when the tree was `signalled` already (what ignored the kill signal goes now);
  /// otherwise, after a crash, the kill signal, then SIGKILL.
  pub fn leftovers(&self, signalled: bool) -> Option<KillOrder> {
    let kill = self.limits.kill;
    kill.tree.then(|| {
      if signalled {
        self.escalation()
      } else {
        KillOrder {
          signal: kill.signal,
          reach: Reach::Tree,
          escalate_after_ms: Some(kill.ttl_ms.unwrap_or(LEFTOVER_GRACE_MS)),
          grace_ms: None,
        }
      }
    })
  }

  /// The rules of the table above, in its order, for a child that ended as `ended` after
  /// `uptime` ms, with `asked` asked of it and `health` the core's reason to take it down.
  fn next(
    &mut self,
    now_ms: u64,
    uptime: u64,
    spinning: bool,
    ended: Ended,
    asked: Asked,
    health: Option<Cause>,
  ) -> Next {
    let limits = self.limits;
    if asked == Asked::Stop {
      return Next::GiveUp(End::Stopped);
    }
    if asked == Asked::Restart {
      // Asked for: at once, whatever the limits, and not one of the restarts in a row.
      return Next::Restart {
        delay_ms: 0,
        why: Why::Requested,
        attempt: 0,
      };
    }
    let reset_after = limits.backoff.map_or(RESET_AFTER_MS, |b| b.reset_after_ms);
    if uptime >= reset_after {
      self.attempt = 0;
    }
    let stop_code = ended.code.is_some_and(|code| {
      (code == 0 && limits.autorestart == AutoRestart::OnFailure)
        || limits.stop_exit_codes.contains(code)
    });
    let end = if limits.autorestart == AutoRestart::Never {
      Some(End::Never)
    } else if stop_code {
      Some(End::ExitCode)
    } else if limits.max.is_some_and(|max| self.times >= max) {
      Some(End::Max)
    } else if spinning && limits.spin_sleep_ms.is_none() {
      Some(End::Spinning)
    } else if self.over_budget(now_ms) {
      Some(End::Window)
    } else {
      None
    };
    if let Some(end) = end {
      return Next::GiveUp(end);
    }
    self.attempt = self.attempt.saturating_add(1);
    let spin = if spinning {
      limits.spin_sleep_ms.unwrap_or(0)
    } else {
      0
    };
    let backoff = limits
      .backoff
      .map_or(0, |b| b.delay(self.attempt, ended.random));
    let why = match health {
      Some(cause) => Why::Health(cause),
      None if spinning => Why::Spinning,
      None => Why::Exit,
    };
    Next::Restart {
      delay_ms: spin.max(limits.restart_delay_ms).max(backoff),
      why,
      attempt: self.attempt,
    }
  }

  /// Whether one more restart now would exceed the restart window; if not, it is counted.
  fn over_budget(&mut self, now_ms: u64) -> bool {
    let Some(window) = self.limits.window else {
      return false;
    };
    while self
      .recent
      .front()
      .is_some_and(|&at| now_ms.saturating_sub(at) >= window.window_ms)
    {
      self.recent.pop_front();
    }
    if self.recent.len() >= window.count as usize {
      return true;
    }
    self.recent.push_back(now_ms);
    false
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
  }
}

#[cfg(test)]
mod tests;
