//! The restart policy's rules, one by one, on a clock the tests move by hand.

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
  assert_eq!(p.phase(), Phase::running(500, true));
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
  assert_eq!(p.phase(), Phase::running(5000, true));
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
  assert_eq!(p.phase(), Phase::running(100, true));
  assert!(!p.reloading());
  assert_eq!(p.handover(300), None, "nothing left to hand over");
  // With waitReady, the new child still has to say it is ready.
  let mut q = running(reloading(|l| l.wait_ready = true), 0);
  q.ready(10);
  q.reload(100).unwrap();
  assert!(q.exited(200, CRASH).takeover);
  assert_eq!(q.phase(), Phase::running(100, false));
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
