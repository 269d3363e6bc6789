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

/// Where the supervised service stands.
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
  force_stop: bool,
  force_restart: bool,
  kill_requested: bool,
  /// Automatic restarts in a row (since a child stayed up long enough).
  attempt: u32,
  /// When the automatic restarts within the current window happened, oldest first (at
  /// most `window.count` of them).
  recent: std::collections::VecDeque<u64>,
  /// The core took the running child down for its health.
  health: Option<Cause>,
  /// A reload's new child runs beside the current one, since this time.
  reload: Option<u64>,
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
      force_stop: false,
      force_restart: false,
      kill_requested: false,
      attempt: 0,
      recent: std::collections::VecDeque::new(),
      health: None,
      reload: None,
      child: 0,
    }
  }

  /// The current phase.
  pub fn phase(&self) -> Phase {
    self.phase
  }

  /// A kill of the running child is under way (asked for, or for its health).
  pub fn kill_under_way(&self) -> bool {
    self.kill_requested || self.health.is_some()
  }

  /// A reload's new child is starting.
  pub fn reloading(&self) -> bool {
    self.reload.is_some()
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
    self.phase = Phase::Running {
      started_ms: now_ms,
      ready: !self.limits.wait_ready,
    };
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
    self.health = None;
  }

  /// The child `spawned` announced is running since `now_ms`: its spawn took until then
  /// (the supervisor spawns without its lock held, so that control calls never wait for a
  /// spawn; what they asked meanwhile — a kill, a reload — stands). Its uptime counts from
  /// now, unless it counts from ready (`waitReady`).
  pub fn launched(&mut self, now_ms: u64) {
    if let Phase::Running {
      started_ms,
      ready: true,
    } = &mut self.phase
    {
      *started_ms = now_ms;
    }
  }

  /// A `stop()` is under way.
  pub fn stop_requested(&self) -> bool {
    self.force_stop
  }

  /// The running child said it is ready, at `now_ms`; true the first time (uptime counts
  /// from now on).
  pub fn ready(&mut self, now_ms: u64) -> bool {
    match self.phase {
      Phase::Running { ready: false, .. } => {
        self.phase = Phase::Running {
          started_ms: now_ms,
          ready: true,
        };
        true
      }
      _ => false,
    }
  }

  /// The core takes the running child down for its health: it gets the kill signal (the
  /// shutdown message first), and its exit goes through the rules as a crash would.
  /// Refused when no child runs, or a kill is already under way.
  pub fn health_kill(&mut self, cause: Cause) -> Result<Command, Refusal> {
    match self.phase {
      Phase::Running { .. } if !self.kill_requested && self.health.is_none() => {
        self.health = Some(cause);
        Ok(Command::Signal(self.kill_order()))
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
    match self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Running { .. } => {
        self.force_stop |= force_stop;
        self.kill_requested = true;
        if force_stop {
          // The reload's new child goes with the old one.
          self.reload = None;
        }
        Ok(Command::Signal(self.kill_order()))
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

  /// `reload()` at `now_ms`: a new child starts beside the running one, and the plan says
  /// until when it may take to be ready. When no child runs, it is `restart()`.
  pub fn reload(&mut self, now_ms: u64) -> Result<Command, Refusal> {
    match self.phase {
      Phase::Idle => Err(Refusal::NotRunning),
      Phase::Sleeping { .. } | Phase::Waiting => Ok(Command::Spawn { restart: true }),
      Phase::Running { .. } if self.reload.is_some() => Err(Refusal::Reloading),
      Phase::Running { .. } if self.kill_under_way() => Err(Refusal::Stopping),
      Phase::Running { .. } => {
        self.reload = Some(now_ms);
        let limits = self.limits;
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
    if !matches!(self.phase, Phase::Running { .. }) {
      return None;
    }
    let spawned_ms = self.reload.take()?;
    self.child = self.child.wrapping_add(1);
    self.phase = Phase::Running {
      // Uptime counts from ready with `waitReady`, else from the spawn.
      started_ms: if self.limits.wait_ready {
        now_ms
      } else {
        spawned_ms
      },
      ready: true,
    };
    // A kill under way was the old child's.
    self.force_restart = false;
    self.kill_requested = false;
    self.health = None;
    Some(self.kill_order())
  }

  /// The reload's new child failed (it exited, could not be spawned, or was not ready in
  /// time): the old child serves on, nothing is counted. Returns how the new child is
  /// stopped if it still runs.
  pub fn reload_failed(&mut self) -> KillOrder {
    self.reload = None;
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
    let started_ms = match self.phase {
      // Never ready: it was never up.
      Phase::Running { ready: false, .. } => now_ms,
      Phase::Running { started_ms, .. } => started_ms,
      // Only a running child can exit; treat a stray report as a zero-length run.
      Phase::Idle | Phase::Sleeping { .. } | Phase::Waiting => now_ms,
    };
    let uptime = now_ms.saturating_sub(started_ms);
    let spinning = uptime < self.limits.min_uptime_ms;
    self.times = self.times.saturating_add(1);
    let requested = self.kill_requested;
    let signalled = requested || self.health.is_some();
    let mut next = self.next(now_ms, uptime, spinning, ended);
    // A reload's new child, already starting, is the restart the rules ask for: at once.
    let takeover = match (self.reload.take(), next) {
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

    let stopped = self.force_stop;
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
    self.health = None;
    self.phase = match next {
      Next::GiveUp(_) if self.limits.watch && !stopped => Phase::Waiting,
      Next::GiveUp(_) => Phase::Idle,
      Next::Restart { .. } if takeover.is_some() => Phase::Running {
        started_ms: takeover.unwrap_or(now_ms),
        ready: !self.limits.wait_ready,
      },
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

  /// The rules of the table above, in its order.
  fn next(&mut self, now_ms: u64, uptime: u64, spinning: bool, ended: Ended) -> Next {
    let limits = self.limits;
    if self.force_stop {
      return Next::GiveUp(End::Stopped);
    }
    if self.force_restart {
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
    let why = match self.health {
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
    self.force_stop = false;
    self.force_restart = false;
    self.kill_requested = false;
    self.health = None;
    self.reload = None;
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
      ..Limits::default()
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

  const CRASH: Ended = Ended {
    code: Some(1),
    random: 0.0,
  };

  /// The delay of a restart; `None` for a give-up.
  fn delay(v: &ExitVerdict) -> Option<u64> {
    match v.next {
      Next::Restart { delay_ms, .. } => Some(delay_ms),
      Next::GiveUp(_) => None,
    }
  }

  /// Why supervision ended; `None` for a restart.
  fn end(v: &ExitVerdict) -> Option<End> {
    match v.next {
      Next::GiveUp(end) => Some(end),
      Next::Restart { .. } => None,
    }
  }

  #[test]
  fn restarts_a_healthy_child_until_max_runs() {
    let mut p = running(limits(Some(3), 0, None), 0);
    assert_eq!(delay(&p.exited(10, CRASH)), Some(0));
    p.spawned(10);
    assert_eq!(delay(&p.exited(20, CRASH)), Some(0));
    p.spawned(20);
    let last = p.exited(30, CRASH);
    assert!(end(&last).is_some());
    assert_eq!(last.times, 3);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn each_child_has_its_own_number_for_the_orders_given_for_it() {
    let mut p = running(limits(None, 0, None), 0);
    let first = p.child();
    // Orders given while it runs are for it, however many.
    assert!(matches!(p.restart(), Ok(Command::Signal(_))));
    assert!(matches!(p.kill(false), Ok(Command::Signal(_))));
    assert_eq!(p.child(), first);
    // Its exit settles them: the time before the next child, and the next child, differ.
    p.exited(10, CRASH);
    let between = p.child();
    assert_ne!(between, first);
    p.spawned(10);
    assert_ne!(p.child(), between);
    assert_ne!(p.child(), first);
    // A reload's hand-over makes the new child the one orders are for.
    let old = p.child();
    assert!(matches!(p.reload(20), Ok(Command::Reload(_))));
    assert_eq!(p.child(), old);
    assert!(p.handover(30).is_some());
    assert_ne!(p.child(), old);
  }

  #[test]
  fn a_stop_during_a_spawn_stands_and_uptime_counts_from_its_end() {
    // `spawned` before the spawn, a stop while it runs, `launched` once it is over.
    let mut p = running(limits(None, 100, Some(0)), 0);
    assert_eq!(delay(&p.exited(500, CRASH)), Some(0));
    p.spawned(500);
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    assert!(p.stop_requested());
    p.launched(590);
    let v = p.exited(650, CRASH);
    assert!(v.spinning, "up 60 ms, not 150");
    assert!(v.requested);
    assert_eq!(end(&v), Some(End::Stopped));
    // A restart asked for during a spawn stands too.
    let mut p = running(limits(None, 100, Some(0)), 0);
    p.exited(500, CRASH);
    p.spawned(500);
    assert!(matches!(p.restart(), Ok(Command::Signal(_))));
    p.launched(590);
    let v = p.exited(700, CRASH);
    assert!(!v.spinning);
    assert!(v.requested);
    assert_eq!(delay(&v), Some(0));
  }

  #[test]
  fn max_zero_and_one_give_a_single_run() {
    for max in [0, 1] {
      let mut p = running(limits(Some(max), 0, None), 0);
      assert!(end(&p.exited(5, CRASH)).is_some(), "max {max}");
    }
  }

  #[test]
  fn no_max_restarts_for_ever() {
    let mut p = running(limits(None, 0, None), 0);
    for t in 1..1000 {
      assert_eq!(delay(&p.exited(t, CRASH)), Some(0));
      assert_eq!(p.wake_at(), Some(t), "due at once");
      p.spawned(t);
    }
    assert_eq!(p.times(), 999);
  }

  #[test]
  fn spinning_child_without_spin_sleep_is_let_die() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(999, CRASH);
    assert!(v.spinning);
    assert!(end(&v).is_some());
  }

  #[test]
  fn uptime_equal_to_min_uptime_is_not_spinning() {
    let mut p = running(limits(None, 1000, None), 0);
    let v = p.exited(1000, CRASH);
    assert!(!v.spinning);
    assert_eq!(delay(&v), Some(0));
  }

  #[test]
  fn spinning_child_with_spin_sleep_waits_then_restarts() {
    let mut p = running(limits(None, 1000, Some(250)), 100);
    let v = p.exited(200, CRASH);
    assert!(v.spinning);
    assert_eq!(delay(&v), Some(250));
    assert_eq!(p.wake_at(), Some(450));
    assert_eq!(
      p.start(false, Limits::default()),
      Err(Refusal::AlreadyRunning)
    );
  }

  #[test]
  fn max_wins_over_spin_sleep() {
    let mut p = running(limits(Some(1), 1000, Some(250)), 0);
    assert!(end(&p.exited(1, CRASH)).is_some());
  }

  #[test]
  fn stop_gives_up_whatever_the_limits() {
    let mut p = running(limits(None, 0, Some(10)), 0);
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    let v = p.exited(50, CRASH);
    assert!(end(&v).is_some());
    assert!(v.requested);
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn kill_without_force_stop_follows_the_rules_and_is_reported() {
    let mut p = running(limits(None, 0, None), 0);
    assert!(matches!(p.kill(false), Ok(Command::Signal(_))));
    let v = p.exited(50, CRASH);
    assert_eq!(delay(&v), Some(0));
    assert!(v.requested);
    p.spawned(50);
    assert!(
      !p.exited(60, CRASH).requested,
      "the request is forgotten after one exit"
    );
  }

  #[test]
  fn restart_of_a_running_child_ignores_max_and_spinning() {
    let mut p = running(limits(Some(1), 1000, None), 0);
    assert!(matches!(p.restart(), Ok(Command::Signal(_))));
    let v = p.exited(10, CRASH);
    assert!(v.spinning);
    assert!(v.requested);
    assert_eq!(delay(&v), Some(0));
  }

  #[test]
  fn restart_of_an_idle_monitor_is_refused_so_that_it_is_started_afresh() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(p.restart(), Err(Refusal::NotRunning));
  }

  #[test]
  fn restart_cuts_a_spin_sleep_short() {
    let mut p = running(limits(None, 1000, Some(60_000)), 0);
    p.exited(1, CRASH);
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
    p.exited(1, CRASH);
    assert_eq!(
      p.kill(false),
      Ok(Command::Nothing),
      "the restart goes ahead"
    );
    assert!(matches!(p.phase(), Phase::Sleeping { .. }));
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
    p.exited(1, CRASH);
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
    p.exited(1, CRASH);
    p.start(false, limits(Some(1), 0, None)).unwrap();
    p.spawned(2);
    let v = p.exited(3, CRASH);
    assert_eq!(v.times, 2);
    assert!(end(&v).is_some());
  }

  #[test]
  fn clock_going_backwards_counts_as_spinning_not_a_panic() {
    let mut p = running(limits(None, 10, Some(5)), 100);
    let v = p.exited(50, CRASH);
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
    let v = p.exited(5, CRASH);
    assert!(end(&v).is_some(), "'exit' is reported as ever");
    assert_eq!(p.phase(), Phase::Waiting);
    assert_eq!(p.wake_at(), None, "no timer: a change starts it");
    assert_eq!(p.restart(), Ok(Command::Spawn { restart: true }));
    p.spawned(10);
    assert!(end(&p.exited(20, CRASH)).is_some(), "max counts on");
    assert_eq!(p.phase(), Phase::Waiting);
  }

  #[test]
  fn stop_ends_the_watching_and_a_stopped_monitor_does_not_wait() {
    let mut p = running(watching(None), 0);
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    p.exited(5, CRASH);
    assert_eq!(p.phase(), Phase::Idle, "stopped: nothing more to wait for");
    let mut q = running(watching(Some(1)), 0);
    q.exited(5, CRASH);
    assert_eq!(q.kill(false), Err(Refusal::NotRunning));
    assert_eq!(q.kill(true), Ok(Command::Cancelled));
    assert_eq!(q.phase(), Phase::Idle);
    assert_eq!(q.restart(), Err(Refusal::NotRunning));
  }

  #[test]
  fn start_of_a_waiting_monitor_begins_again() {
    let mut p = running(watching(Some(1)), 0);
    p.exited(5, CRASH);
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
        grace_ms: None,
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
    assert_eq!(p.exited(5, CRASH).leftovers, None);
  }

  #[test]
  fn a_crashed_childs_leftovers_get_kill_signal_then_sigkill() {
    let mut p = running(with_kill(libc::SIGTERM, true, None), 0);
    let leftovers = p.exited(5, CRASH).leftovers.unwrap();
    assert_eq!(leftovers.signal, libc::SIGTERM);
    assert_eq!(leftovers.escalate_after_ms, Some(LEFTOVER_GRACE_MS));
    p.spawned(5);
    let mut q = running(with_kill(libc::SIGINT, true, Some(700)), 0);
    assert_eq!(
      q.exited(5, CRASH).leftovers.unwrap().escalate_after_ms,
      Some(700)
    );
  }

  #[test]
  fn after_a_requested_kill_leftovers_get_sigkill_at_once() {
    let mut p = running(with_kill(libc::SIGTERM, true, Some(700)), 0);
    p.kill(false).unwrap();
    let leftovers = p.exited(5, CRASH).leftovers.unwrap();
    assert_eq!(leftovers.signal, libc::SIGKILL);
    assert_eq!(leftovers.escalate_after_ms, None);
  }

  fn exit_code(code: i32) -> Ended {
    Ended {
      code: Some(code),
      random: 0.0,
    }
  }

  fn with(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
  }

  /// Crashes a child after `uptime` ms, `n` times from `at`, and gives the delays.
  fn crash_loop(p: &mut Policy, at: &mut u64, uptime: u64, n: usize, random: f64) -> Vec<u64> {
    let mut delays = Vec::new();
    for _ in 0..n {
      *at += uptime;
      let v = p.exited(
        *at,
        Ended {
          code: Some(1),
          random,
        },
      );
      let d = delay(&v).expect("restarts");
      delays.push(d);
      *at += d;
      p.spawned(*at);
    }
    delays
  }

  fn no_jitter(reset_after_ms: u64) -> Backoff {
    Backoff {
      jitter: 0.0,
      reset_after_ms,
      ..Backoff::DEFAULT
    }
  }

  #[test]
  fn restart_delay_pauses_before_every_automatic_restart() {
    let mut p = running(with(|l| l.restart_delay_ms = 400), 0);
    let v = p.exited(5000, CRASH);
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 400,
        why: Why::Exit,
        attempt: 1
      }
    );
    assert_eq!(p.wake_at(), Some(5400));
  }

  #[test]
  fn backoff_grows_by_its_factor_up_to_its_max() {
    let mut p = running(with(|l| l.backoff = Some(no_jitter(30_000))), 0);
    let mut at = 0;
    let delays = crash_loop(&mut p, &mut at, 10, 14, 0.5);
    assert_eq!(
      delays,
      [100, 150, 225, 338, 506, 759, 1139, 1709, 2563, 3844, 5767, 8650, 12975, 15000]
    );
    assert_eq!(
      crash_loop(&mut p, &mut at, 10, 3, 0.5),
      [15000; 3],
      "capped"
    );
  }

  #[test]
  fn backoff_starts_again_once_a_child_stayed_up_reset_after() {
    let mut p = running(with(|l| l.backoff = Some(no_jitter(5000))), 0);
    let mut at = 0;
    assert_eq!(crash_loop(&mut p, &mut at, 10, 3, 0.0), [100, 150, 225]);
    // Up 4999 ms: still in a row.
    assert_eq!(crash_loop(&mut p, &mut at, 4999, 1, 0.0), [338]);
    // Up 5000 ms: the next restart is the first of a new row.
    assert_eq!(crash_loop(&mut p, &mut at, 5000, 1, 0.0), [100]);
    assert_eq!(crash_loop(&mut p, &mut at, 10, 1, 0.0), [150]);
  }

  #[test]
  fn jitter_takes_off_at_most_its_fraction_and_never_adds() {
    let backoff = Backoff {
      jitter: 0.25,
      ..Backoff::DEFAULT
    };
    for attempt in 1..40 {
      let full = backoff.delay(attempt, 0.0);
      for random in [0.0, 0.1, 0.5, 0.9, 0.999_999] {
        let d = backoff.delay(attempt, random);
        assert!(d <= full, "attempt {attempt}: {d} > {full}");
        assert!(
          d as f64 >= (full as f64 * 0.75).floor(),
          "attempt {attempt}: {d} < 0.75 × {full}"
        );
      }
    }
    assert_eq!(backoff.delay(1, 0.999_999), 75);
    // Out-of-range settings are clamped, not trusted.
    let wild = Backoff {
      jitter: 7.0,
      factor: 1e300,
      ..Backoff::DEFAULT
    };
    assert_eq!(wild.delay(5, 0.0), 15_000);
    assert_eq!(wild.delay(u32::MAX, 0.5), 7500, "jitter 7 is taken as 1");
    let from_zero = Backoff {
      initial_ms: 0,
      factor: 1e308,
      max_ms: u64::MAX,
      ..Backoff::DEFAULT
    };
    for attempt in [1, 2, 3, 10, u32::MAX] {
      assert_eq!(from_zero.delay(attempt, 0.5), 0, "attempt {attempt}");
    }
  }

  #[test]
  fn the_longest_of_spin_sleep_restart_delay_and_backoff_wins() {
    let l = with(|l| {
      l.min_uptime_ms = 1000;
      l.spin_sleep_ms = Some(300);
      l.restart_delay_ms = 200;
      l.backoff = Some(no_jitter(30_000));
    });
    let mut p = running(l, 0);
    // Spinning: 300 beats 200 and 100.
    let v = p.exited(10, CRASH);
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 300,
        why: Why::Spinning,
        attempt: 1
      }
    );
    p.spawned(310);
    // Not spinning: restartDelay 200 beats backoff's 150.
    let v = p.exited(2310, CRASH);
    assert_eq!(delay(&v), Some(200));
    p.spawned(2510);
    let mut at = 2510;
    // Then backoff grows past both.
    assert_eq!(crash_loop(&mut p, &mut at, 1000, 2, 0.0), [225, 338]);
  }

  #[test]
  fn on_failure_ends_on_exit_code_zero_only() {
    let l = with(|l| l.autorestart = AutoRestart::OnFailure);
    let mut p = running(l, 0);
    assert_eq!(delay(&p.exited(10, exit_code(1))), Some(0));
    p.spawned(10);
    let signalled = Ended {
      code: None,
      random: 0.0,
    };
    assert_eq!(
      delay(&p.exited(20, signalled)),
      Some(0),
      "a signal is a failure"
    );
    p.spawned(20);
    assert_eq!(end(&p.exited(30, exit_code(0))), Some(End::ExitCode));
    assert_eq!(p.phase(), Phase::Idle);
  }

  #[test]
  fn stop_exit_codes_end_supervision_on_any_listed_code() {
    let l = with(|l| l.stop_exit_codes = ExitCodes::of([0, 3, 255, 256, -1]));
    let codes = l.stop_exit_codes;
    assert!(codes.contains(0) && codes.contains(3) && codes.contains(255));
    assert!(!codes.contains(1) && !codes.contains(256) && !codes.contains(-1));
    let mut p = running(l, 0);
    assert_eq!(delay(&p.exited(10, exit_code(2))), Some(0));
    p.spawned(10);
    assert_eq!(end(&p.exited(20, exit_code(3))), Some(End::ExitCode));
  }

  #[test]
  fn never_gives_one_run() {
    let mut p = running(with(|l| l.autorestart = AutoRestart::Never), 0);
    assert_eq!(end(&p.exited(10, CRASH)), Some(End::Never));
  }

  #[test]
  fn exit_code_rules_do_not_hold_a_restart_the_user_asked_for_nor_a_stop() {
    let l = with(|l| l.autorestart = AutoRestart::Never);
    let mut p = running(l, 0);
    p.restart().unwrap();
    let v = p.exited(10, exit_code(0));
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 0,
        why: Why::Requested,
        attempt: 0
      }
    );
    p.spawned(10);
    p.kill(true).unwrap();
    assert_eq!(end(&p.exited(20, exit_code(0))), Some(End::Stopped));
  }

  #[test]
  fn the_window_gives_up_past_count_restarts_and_carries_on_below() {
    let window = Window {
      count: 3,
      window_ms: 1000,
    };
    let mut p = running(with(|l| l.window = Some(window)), 0);
    // Three restarts 100 ms apart fit; a fourth within the second does not.
    let mut at = 0;
    assert_eq!(crash_loop(&mut p, &mut at, 100, 3, 0.0), [0, 0, 0]);
    assert_eq!(end(&p.exited(400, CRASH)), Some(End::Window));
    // Spread out, restarts carry on for ever.
    let mut q = running(with(|l| l.window = Some(window)), 0);
    let mut at = 0;
    assert_eq!(crash_loop(&mut q, &mut at, 400, 50, 0.0), [0; 50]);
    // Exactly at the window's edge the oldest has left it.
    let mut r = running(with(|l| l.window = Some(window)), 0);
    let mut at = 0;
    crash_loop(&mut r, &mut at, 100, 3, 0.0);
    assert_eq!(delay(&r.exited(1100, CRASH)), Some(0));
  }

  #[test]
  fn requested_restarts_are_not_in_the_window_nor_in_a_row() {
    let window = Window {
      count: 1,
      window_ms: 60_000,
    };
    let l = with(|l| {
      l.window = Some(window);
      l.backoff = Some(no_jitter(60_000));
    });
    let mut p = running(l, 0);
    for t in 1..10 {
      p.restart().unwrap();
      assert_eq!(delay(&p.exited(t * 10, CRASH)), Some(0));
      p.spawned(t * 10);
    }
    let v = p.exited(200, CRASH);
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 100,
        why: Why::Exit,
        attempt: 1
      }
    );
    p.spawned(300);
    assert_eq!(end(&p.exited(310, CRASH)), Some(End::Window));
  }

  #[test]
  fn max_and_spinning_come_before_the_window_and_the_exit_codes_before_max() {
    let l = with(|l| {
      l.max = Some(1);
      l.window = Some(Window {
        count: 0,
        window_ms: 1000,
      });
      l.stop_exit_codes = ExitCodes::of([7]);
    });
    let mut p = running(l, 0);
    assert_eq!(end(&p.exited(10, exit_code(7))), Some(End::ExitCode));
    let mut q = running(l, 0);
    assert_eq!(end(&q.exited(10, CRASH)), Some(End::Max));
    let spin = with(|l| {
      l.min_uptime_ms = 100;
      l.window = Some(Window {
        count: 0,
        window_ms: 1000,
      });
    });
    let mut r = running(spin, 0);
    assert_eq!(end(&r.exited(10, CRASH)), Some(End::Spinning));
  }

  #[test]
  fn a_new_start_begins_the_row_and_the_window_anew() {
    let l = with(|l| {
      l.backoff = Some(no_jitter(60_000));
      l.window = Some(Window {
        count: 2,
        window_ms: 60_000,
      });
    });
    let mut p = running(l, 0);
    let mut at = 0;
    assert_eq!(crash_loop(&mut p, &mut at, 10, 2, 0.0), [100, 150]);
    assert_eq!(end(&p.exited(at + 10, CRASH)), Some(End::Window));
    p.start(false, l).unwrap();
    p.spawned(at + 20);
    let mut at = at + 20;
    assert_eq!(crash_loop(&mut p, &mut at, 10, 2, 0.0), [100, 150]);
  }

  #[test]
  fn with_wait_ready_uptime_counts_from_ready() {
    let l = with(|l| {
      l.wait_ready = true;
      l.min_uptime_ms = 1000;
      l.spin_sleep_ms = Some(10);
    });
    let mut p = running(l, 0);
    // Never ready: it was never up, so it spins, however long it ran.
    let v = p.exited(60_000, CRASH);
    assert!(v.spinning);
    p.spawned(60_010);
    assert!(p.ready(60_500));
    assert!(!p.ready(60_600), "once");
    // Up 999 ms since ready (1,489 since spawn): still spinning.
    assert!(p.exited(61_499, CRASH).spinning);
    p.spawned(61_510);
    assert!(p.ready(61_510));
    assert!(!p.exited(62_510, CRASH).spinning);
  }

  #[test]
  fn a_health_kill_goes_through_the_rules_and_says_why() {
    let l = with(|l| {
      l.max = Some(3);
      l.restart_delay_ms = 50;
      l.kill = KillRules {
        signal: libc::SIGTERM,
        tree: true,
        ttl_ms: Some(500),
      };
    });
    let mut p = running(l, 0);
    let Ok(Command::Signal(order)) = p.health_kill(Cause::Watchdog) else {
      panic!("a running child is signalled");
    };
    assert_eq!(order.signal, libc::SIGTERM);
    assert_eq!(
      p.health_kill(Cause::Memory),
      Err(Refusal::NotRunning),
      "one at a time"
    );
    let v = p.exited(100, exit_code(143));
    assert!(!v.requested, "no 'stop': nobody asked");
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 50,
        why: Why::Health(Cause::Watchdog),
        attempt: 1
      }
    );
    // The rest of the tree already had the signal: what is left gets SIGKILL.
    assert_eq!(v.leftovers.unwrap().signal, libc::SIGKILL);
    p.spawned(150);
    p.health_kill(Cause::Memory).unwrap();
    p.spawned(200);
    let v = p.exited(300, CRASH);
    assert!(!v.next.gives_up());
    assert!(
      matches!(v.next, Next::Restart { why: Why::Exit, .. }),
      "the cause is forgotten after a spawn"
    );
    p.spawned(400);
    p.health_kill(Cause::NotReady).unwrap();
    assert_eq!(
      end(&p.exited(500, CRASH)),
      Some(End::Max),
      "and max still counts"
    );
  }

  #[test]
  fn a_health_kill_waits_for_a_kill_under_way_and_a_stop_wins_over_it() {
    let mut p = running(Limits::default(), 0);
    p.kill(false).unwrap();
    assert_eq!(p.health_kill(Cause::Watchdog), Err(Refusal::NotRunning));
    let mut q = running(Limits::default(), 0);
    q.health_kill(Cause::Memory).unwrap();
    assert!(q.kill_under_way());
    q.kill(true).unwrap();
    assert_eq!(end(&q.exited(5, CRASH)), Some(End::Stopped));
  }

  #[test]
  fn a_shutdown_message_puts_a_grace_before_the_signal() {
    let l = with(|l| l.shutdown_grace_ms = Some(2000));
    let mut p = running(l, 0);
    let Ok(Command::Signal(order)) = p.kill(true) else {
      panic!("signalled");
    };
    assert_eq!(order.grace_ms, Some(2000));
    assert_eq!(p.escalation().grace_ms, None, "SIGKILL has no grace");
  }

  fn reloading(f: impl FnOnce(&mut Limits)) -> Limits {
    with(|l| {
      l.reload_grace_ms = 1000;
      l.kill = KillRules {
        signal: libc::SIGTERM,
        tree: true,
        ttl_ms: Some(3000),
      };
      f(l);
    })
  }

  #[test]
  fn a_reload_without_wait_ready_takes_over_at_the_end_of_the_grace_period() {
    let mut p = running(reloading(|_| {}), 0);
    assert_eq!(
      p.reload(500),
      Ok(Command::Reload(ReloadPlan {
        deadline_ms: Some(1500),
        takes_over: true
      }))
    );
    assert!(p.reloading());
    assert_eq!(p.reload(600), Err(Refusal::Reloading), "one at a time");
    let order = p.handover(1500).expect("a reload is under way");
    // The old child is stopped as stop() would: killSignal to the tree, SIGKILL after killTTL.
    assert_eq!(
      order,
      KillOrder {
        signal: libc::SIGTERM,
        reach: Reach::Tree,
        escalate_after_ms: Some(3000),
        grace_ms: None,
      }
    );
    assert!(!p.reloading());
    // Uptime counts from the new child's spawn.
    assert_eq!(
      p.phase(),
      Phase::Running {
        started_ms: 500,
        ready: true
      }
    );
    assert_eq!(p.times(), 0, "counted when the old child has gone");
    assert_eq!(p.retired(), 1);
    assert_eq!(
      p.reload(2000).map(|_| ()),
      Ok(()),
      "the next reload may begin"
    );
  }

  #[test]
  fn with_wait_ready_the_new_child_has_ready_timeout_and_its_deadline_fails_the_reload() {
    let l = reloading(|l| {
      l.wait_ready = true;
      l.ready_timeout_ms = Some(4000);
    });
    let mut p = running(l, 0);
    p.ready(10);
    assert_eq!(
      p.reload(100),
      Ok(Command::Reload(ReloadPlan {
        deadline_ms: Some(4100),
        takes_over: false
      }))
    );
    let stop_new = p.reload_failed();
    assert_eq!(stop_new.signal, libc::SIGTERM);
    assert!(!p.reloading());
    assert_eq!(
      p.handover(4200),
      None,
      "nothing to hand over after a failure"
    );
    assert_eq!(p.times(), 0, "a failed reload counts nothing");
    // Ready at 5000: uptime counts from ready.
    p.reload(4500).unwrap();
    p.handover(5000).unwrap();
    assert_eq!(
      p.phase(),
      Phase::Running {
        started_ms: 5000,
        ready: true
      }
    );
    // Without readyTimeout the new child has as long as it needs.
    let mut q = running(reloading(|l| l.wait_ready = true), 0);
    assert_eq!(
      q.reload(100),
      Ok(Command::Reload(ReloadPlan {
        deadline_ms: None,
        takes_over: false
      }))
    );
  }

  #[test]
  fn reload_when_nothing_runs_is_restart_and_while_stopping_is_refused() {
    let mut p = Policy::new(Limits::default());
    assert_eq!(
      p.reload(0),
      Err(Refusal::NotRunning),
      "started afresh by JS"
    );
    let mut q = running(with(|l| l.spin_sleep_ms = Some(60_000)), 0);
    q.limits.min_uptime_ms = 1000;
    q.exited(10, CRASH);
    assert_eq!(q.reload(20), Ok(Command::Spawn { restart: true }));
    let mut r = running(Limits::default(), 0);
    r.kill(false).unwrap();
    assert_eq!(r.reload(5), Err(Refusal::Stopping));
    let mut h = running(Limits::default(), 0);
    h.health_kill(Cause::Watchdog).unwrap();
    assert_eq!(h.reload(5), Err(Refusal::Stopping));
  }

  #[test]
  fn reloads_ignore_max_and_are_not_failures_in_a_row_or_in_the_window() {
    let l = reloading(|l| {
      l.max = Some(2);
      l.window = Some(Window {
        count: 1,
        window_ms: 60_000,
      });
      l.backoff = Some(no_jitter(60_000));
    });
    let mut p = running(l, 0);
    for t in 1..=5 {
      p.reload(t * 100).unwrap();
      p.handover(t * 100 + 50).unwrap();
      p.retired();
    }
    assert_eq!(p.times(), 5, "each reload counts one run, past max");
    // A crash now is the first in a row, within budget; but max is reached.
    assert_eq!(end(&p.exited(1000, CRASH)), Some(End::Max));
    let mut q = running(reloading(|l| l.backoff = Some(no_jitter(60_000))), 0);
    for t in 1..=5 {
      q.reload(t * 100).unwrap();
      q.handover(t * 100 + 50).unwrap();
      q.retired();
    }
    assert_eq!(
      q.exited(1000, CRASH).next,
      Next::Restart {
        delay_ms: 100,
        why: Why::Exit,
        attempt: 1
      }
    );
  }

  #[test]
  fn a_crash_of_the_old_child_during_a_reload_is_taken_over_by_the_new_one_at_once() {
    let l = reloading(|l| {
      l.restart_delay_ms = 5000;
      l.backoff = Some(no_jitter(60_000));
    });
    let mut p = running(l, 0);
    p.reload(100).unwrap();
    let v = p.exited(200, CRASH);
    assert!(v.takeover);
    assert!(!v.requested, "a crash");
    assert_eq!(
      v.next,
      Next::Restart {
        delay_ms: 0,
        why: Why::Exit,
        attempt: 1
      },
      "no delay: the new child already runs"
    );
    assert_eq!(v.times, 1);
    assert_eq!(
      p.phase(),
      Phase::Running {
        started_ms: 100,
        ready: true
      }
    );
    assert!(!p.reloading());
    assert_eq!(p.handover(300), None, "nothing left to hand over");
    // With waitReady, the new child still has to say it is ready.
    let mut q = running(reloading(|l| l.wait_ready = true), 0);
    q.ready(10);
    q.reload(100).unwrap();
    assert!(q.exited(200, CRASH).takeover);
    assert_eq!(
      q.phase(),
      Phase::Running {
        started_ms: 100,
        ready: false
      }
    );
    assert!(q.ready(250));
    // restart() during a reload: the new child is that restart too.
    let mut r = running(reloading(|_| {}), 0);
    r.reload(100).unwrap();
    r.restart().unwrap();
    let v = r.exited(150, CRASH);
    assert!(v.takeover && v.requested);
  }

  #[test]
  fn a_crash_during_a_reload_that_the_rules_end_takes_the_new_child_too() {
    let mut p = running(reloading(|l| l.max = Some(1)), 0);
    p.reload(100).unwrap();
    let v = p.exited(200, CRASH);
    assert!(!v.takeover);
    assert_eq!(end(&v), Some(End::Max));
    assert_eq!(p.phase(), Phase::Idle);
    assert!(!p.reloading());
  }

  #[test]
  fn stop_abandons_a_reload() {
    let mut p = running(reloading(|_| {}), 0);
    p.reload(100).unwrap();
    assert!(matches!(p.kill(true), Ok(Command::Signal(_))));
    assert!(!p.reloading());
    assert_eq!(p.handover(200), None, "the new child does not take over");
    let v = p.exited(300, CRASH);
    assert!(!v.takeover);
    assert_eq!(end(&v), Some(End::Stopped));
  }
}
