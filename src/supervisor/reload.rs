//! The task's side of `reload()`: a new child of the run starts beside the running one,
//! which serves on until the new one takes over — once it says it is ready (`waitReady`),
//! or when the grace period is over. The policy decides ([`Policy::reload`],
//! [`Policy::handover`], [`Policy::reload_failed`], [`Policy::retired`]); this module
//! spawns the new child, keeps its deadline, hands over, and lets the children beside the
//! current one drain:
//!
//! | the new child                       | then                                                       |
//! |-------------------------------------|------------------------------------------------------------|
//! | is ready, or its grace period ends  | [`Task::hand_over`]: it is the current child; the old one drains |
//! | exits, or misses `readyTimeout`     | the reload failed: the old child serves on; the new one drains, if still there |
//! | outlives the old child, whose exit the rules restart | [`Task::take_over`]: it is that restart, at once |
//! | outlives the old child, and supervision ends, or `stop()` | it goes too ([`at_exit`], [`Task::drop_incoming`]) |
//!
//! Every step that ends a new child's start begins the same way, by taking it from beside
//! the running child ([`take_incoming`]).

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::CoreError;
use crate::policy::{ExitVerdict, KillOrder, Next, Policy, ReloadPlan};

use super::events::Event;
use super::task::{clean_up_after, code_and_signal, open_direct, Kill, Life, Running, Task};
use super::{epoch_ms, lock, ChildRun, Core, Run};

/// A reload's new child, started beside the running one.
pub(super) struct Incoming {
  pub(super) child: Box<ChildRun>,
  /// The grace period's end (it then takes over) or `readyTimeout`'s (the reload fails).
  pub(super) deadline: Option<Instant>,
  takes_over: bool,
}

/// A child on its way out beside the current one.
pub(super) struct Draining {
  pub(super) child: Box<ChildRun>,
  pub(super) kill: Kill,
  leaving: Leaving,
}

/// Why a child is draining.
pub(super) enum Leaving {
  /// A reload's new child took over from it: its exit completes the reload.
  HandedOver { new_pid: u32 },
  /// A reload's new child that failed or was abandoned: that was reported already.
  Dropped,
}

/// The old child whose exit a reload's new child took over from.
pub(super) struct Retired {
  pub(super) pid: u32,
  pub(super) code: Option<i32>,
  pub(super) signal: Option<&'static str>,
  /// Runs so far, its own included.
  pub(super) times: u32,
}

/// The running child, and the reload's new child taken from beside it (`None` when there is
/// none).
fn take_incoming(life: &mut Life) -> Option<(&mut Running, Box<Incoming>)> {
  let Life::Running(running) = life else {
    return None;
  };
  let new = running.incoming.take()?;
  Some((running, new))
}

/// The current child exited with a reload's new child starting beside it (under the state
/// lock, the policy's verdict given): the new child is the restart the rules ask for (it
/// takes over), or it goes — the failed reload reported now, before the exit — and the
/// order says how it is stopped.
pub(super) fn at_exit(
  core: &Core,
  policy: &mut Policy,
  run: &Run,
  old_pid: u32,
  new: Box<Incoming>,
  verdict: &ExitVerdict,
) -> (Box<Incoming>, KillOrder) {
  if verdict.takeover {
    return (new, policy.escalation());
  }
  core.forget_input(new.child.pid);
  let order = policy.reload_failed();
  run.outbox.emit(Event::ReloadFailed {
    old_pid,
    new_pid: new.child.pid,
    reason: match verdict.next {
      Next::GiveUp(end) => end.name(),
      Next::Restart { .. } => "exit",
    },
    code: None,
    signal: None,
    error: None,
    channel: None,
  });
  (new, order)
}

impl Task {
  /// The reload's new child starting beside the running one, if any.
  fn incoming(&self) -> Option<&Incoming> {
    match &self.life {
      Life::Running(running) => running.incoming.as_deref(),
      _ => None,
    }
  }

  /// The reload's new child said it is ready (with `waitReady`): it may take over.
  pub(super) fn incoming_ready(&self) -> bool {
    self.incoming().is_some_and(|new| {
      new.child.run.options.health.wait_ready && self.core.signals.is_ready(new.child.pid)
    })
  }

  /// `child` goes, beside the current one: it gets `order` (on top of `kill`, a kill that
  /// may be under way already), and its exit is waited for.
  pub(super) fn drain(
    &mut self,
    child: Box<ChildRun>,
    kill: Kill,
    leaving: Leaving,
    order: KillOrder,
  ) {
    let mut gone = Draining {
      child,
      kill,
      leaving,
    };
    gone.kill.send(&self.core, &gone.child, order);
    self.draining.push(gone);
  }

  /// `reload()`: a new child of the run starts beside the running one.
  pub(super) fn reload(&mut self, plan: ReloadPlan) {
    let core = Arc::clone(&self.core);
    let Life::Running(running) = &mut self.life else {
      // The child exited meanwhile: its exit settled the reload.
      return;
    };
    if running.incoming.is_some() || !core.state().policy.reloading() {
      return;
    }
    // Spawned without the lock: what JS asks meanwhile (a stop) waits in the orders, and is
    // carried out on both children once the new one is in place.
    let run = Arc::clone(&running.child.run);
    let old_pid = running.child.pid;
    core.before_spawn();
    let direct = open_direct(&run);
    // The new child's first bytes come after the report of its start.
    let place = run.outbox.hold(run.marks());
    match core.spawn_beside(&run, direct) {
      Ok(new) => {
        lock(&core.others).push(new.pid);
        core.add_incoming_input(&new);
        let deadline = plan
          .deadline_ms
          .map(|ms| Instant::now() + Duration::from_millis(ms.saturating_sub(core.now_ms())));
        run.outbox.fill(
          place,
          Some(Event::ReloadStarting {
            old_pid,
            new_pid: new.pid,
            channel: new.channel.clone(),
          }),
        );
        running.incoming = Some(Box::new(Incoming {
          child: new,
          deadline,
          takes_over: plan.takes_over,
        }));
      }
      Err(e) => {
        core.state().policy.reload_failed();
        run.outbox.fill(
          place,
          Some(Event::ReloadFailed {
            old_pid,
            new_pid: 0,
            reason: "spawn",
            code: None,
            signal: None,
            error: Some(e),
            channel: None,
          }),
        );
      }
    }
  }

  /// The reload's deadline: the grace period is over (the new child takes over), or
  /// `readyTimeout` is (the reload fails, unless the answer waits unread).
  pub(super) fn reload_due(&mut self) {
    let Some(incoming) = self.incoming() else {
      return;
    };
    if incoming.takes_over {
      return self.hand_over();
    }
    if let Some(channel) = &incoming.child.channel {
      channel.read_ahead();
    }
    if self.core.signals.is_ready(incoming.child.pid) {
      return self.hand_over();
    }
    let pid = incoming.child.pid;
    let error = CoreError::ReloadFailed {
      reason: "readyTimeout",
      detail: format!("its new child (pid {pid}) was not ready within readyTimeout"),
    };
    self.drop_incoming("readyTimeout", Some(error));
  }

  /// The reload's new child is ready: it becomes the running child, and the old one is
  /// stopped as `stop()` would stop it, beside it.
  pub(super) fn hand_over(&mut self) {
    let core = Arc::clone(&self.core);
    let Some((running, mut new)) = take_incoming(&mut self.life) else {
      return;
    };
    let (order, serial) = {
      let mut state = core.state();
      (state.policy.handover(core.now_ms()), state.policy.child())
    };
    let Some(order) = order else {
      // Abandoned meanwhile (cannot happen: a stop drops the new child at once).
      running.incoming = Some(new);
      return self.drop_incoming("stopped", None);
    };
    new.child.serial = serial;
    let new_pid = new.child.pid;
    let old = std::mem::replace(&mut running.child, new.child);
    let old_pid = old.pid;
    let old_kill = std::mem::take(&mut running.kill);
    core.make_current(&running.child, true);
    lock(&core.others).push(old_pid);
    let run = Arc::clone(&running.child.run);
    let wait_ready = run.options.health.wait_ready;
    self.drain(old, old_kill, Leaving::HandedOver { new_pid }, order);
    self.begin_current_checks();
    run.outbox.emit(Event::Start {
      pid: new_pid,
      ctime: epoch_ms(),
      restart: true,
      channel: None,
    });
    if wait_ready {
      run.outbox.emit(Event::Ready { pid: new_pid });
    }
    run.outbox.emit(Event::ReloadReady { old_pid, new_pid });
  }

  /// The reload's new child goes (it failed, or supervision is ending): it is stopped as
  /// `stop()` would, beside the running child, which serves on. `error` is reported.
  pub(super) fn drop_incoming(&mut self, reason: &'static str, error: Option<CoreError>) {
    let core = Arc::clone(&self.core);
    let Some((running, new)) = take_incoming(&mut self.life) else {
      return;
    };
    let old_pid = running.child.pid;
    let new_pid = new.child.pid;
    // On its way out: its stdin stays open until it exits, but takes no more writes.
    core.forget_input(new_pid);
    let order = core.state().policy.reload_failed();
    let run = Arc::clone(&new.child.run);
    self.drain(new.child, Kill::default(), Leaving::Dropped, order);
    run.outbox.emit(Event::ReloadFailed {
      old_pid,
      new_pid,
      reason,
      code: None,
      signal: None,
      error,
      channel: None,
    });
  }

  /// The reload's new child exited before it took over: the reload failed.
  pub(super) fn incoming_exited(&mut self, status: std::io::Result<ExitStatus>) {
    let core = Arc::clone(&self.core);
    let Some((running, new)) = take_incoming(&mut self.life) else {
      return;
    };
    let old_pid = running.child.pid;
    let mut new = *new;
    let (code, signal) = code_and_signal(&status);
    let pid = new.child.pid;
    lock(&core.others).retain(|&p| p != pid);
    core.forget_input(pid);
    // What waits for its stdin fails now (EPIPE).
    drop(new.child.stdin.take());
    let leftovers = {
      let mut state = core.state();
      state.policy.reload_failed();
      state.policy.leftovers(false)
    };
    let how = match (code, signal) {
      (Some(code), _) => format!("code {code}"),
      (None, Some(signal)) => format!("signal {signal}"),
      _ => "an unknown status".to_string(),
    };
    let run = Arc::clone(&new.child.run);
    run.outbox.emit(Event::ReloadFailed {
      old_pid,
      new_pid: pid,
      reason: "exit",
      code,
      signal,
      error: Some(CoreError::ReloadFailed {
        reason: "exit",
        detail: format!("its new child (pid {pid}) exited with {how} before it was ready"),
      }),
      channel: new.child.channel.clone(),
    });
    clean_up_after(&core, &new.child, leftovers);
  }

  /// A draining child exited.
  pub(super) fn drained(&mut self, i: usize, status: std::io::Result<ExitStatus>) {
    let mut gone = self.draining.swap_remove(i);
    // What waits for its stdin fails now (EPIPE).
    drop(gone.child.stdin.take());
    let core = Arc::clone(&self.core);
    let pid = gone.child.pid;
    lock(&core.others).retain(|&p| p != pid);
    let (code, signal) = code_and_signal(&status);
    let leftovers = {
      let mut state = core.state();
      if let Leaving::HandedOver { new_pid } = gone.leaving {
        let times = state.policy.retired();
        let run = &gone.child.run;
        let marks = run.marks();
        if let Some(logs) = &run.logs {
          logs.settle(marks);
        }
        run.outbox.emit_after(
          Event::ReloadDone {
            old_pid: pid,
            new_pid,
            code,
            signal,
            times,
            channel: gone.child.channel.clone(),
          },
          marks,
        );
      }
      // It had the kill signal: what is left of its tree goes now.
      state.policy.leftovers(true)
    };
    clean_up_after(&core, &gone.child, leftovers);
  }

  /// The current child (`old`) exited during a reload and the rules restart it: the
  /// reload's new child, already running, takes its place at once; the reload is done.
  /// `ready_peek` is when the new child's IPC socket was to be read next.
  pub(super) fn take_over(
    &mut self,
    run: Arc<Run>,
    mut new: Box<ChildRun>,
    old: Retired,
    ready_peek: Option<Instant>,
  ) {
    let core = Arc::clone(&self.core);
    // The policy numbered it at the exit it takes over from; only this task renumbers.
    new.serial = core.state().policy.child();
    let new_pid = new.pid;
    let wait_ready = run.options.health.wait_ready;
    core.make_current(&new, !wait_ready);
    run.outbox.emit(Event::Start {
      pid: new_pid,
      ctime: epoch_ms(),
      restart: true,
      channel: None,
    });
    run.outbox.emit(Event::ReloadDone {
      old_pid: old.pid,
      new_pid,
      code: old.code,
      signal: old.signal,
      times: old.times,
      channel: None,
    });
    self.settle_burst();
    let checks = self.checks_for(&new);
    let mut running = Running::new(new, checks);
    running.ready_peek = ready_peek;
    self.life = Life::Running(running);
    self.hear_current();
  }
}
