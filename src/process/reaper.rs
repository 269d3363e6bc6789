//! Reaping orphans, as an init does: what `tini` (`docker run --init`) would do for a host
//! that is pid 1 in a container, or that made itself a child subreaper.
//!
//! Orphans — the grandchildren of a crashed app, a daemon's double-forked helpers — are
//! re-parented to pid 1 (or to the nearest subreaper). When they exit, only their new
//! parent can reap them; a supervisor that does not leaves zombies that fill the pid table.
//!
//! The reaper must not take the exits of the processes the core waits for itself: its
//! children spawned by [`vfork`](super::vfork) (reaped through their pidfds with
//! `waitpid(pid)`) or by std (through tokio), whose exit statuses make the `'exit'` events.
//! So it never calls `waitpid(-1)`: every child of the core is in a registry from before its
//! fork (a spawn in flight holds [`Spawning`]) until the core has reaped it, and the reaper
//! reaps, one pid at a time with `waitpid(pid, WNOHANG)`, only zombies that are not in it.
//! A spawn in flight makes the reaper wait for the next turn: a child that exits at once is
//! a zombie before its pid is known, and must not be mistaken for an orphan. Zombies in the
//! host's own process group are left alone too: those are its own forks (Node's
//! `child_process`, which libuv reaps by pid; the guardian's short-lived middle process),
//! never an orphan of a supervised child, whose trees live in groups of their own.
//!
//! Why a poll (every [`EVERY`], and right after one of the core's children exits) rather
//! than SIGCHLD: libuv owns SIGCHLD in a Node process (it reaps `child_process` children in
//! its handler) and tokio may add its own; a third handler would race both. A look costs one
//! `waitid(WNOWAIT)`, which says whether any child is a zombie at all without reaping it,
//! and only then a read of the children lists in `/proc`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::procfs;
use crate::sync::lock;

/// How often the reaper looks when nothing wakes it.
pub const EVERY: Duration = Duration::from_secs(1);
/// How soon it looks again when a spawn in flight made it skip a turn.
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// The core's children, and the spawns in flight.
#[derive(Debug)]
pub struct Registry {
  inner: Mutex<Pids>,
}

#[derive(Debug)]
struct Pids {
  /// Spawns between their start and the registration of their child's pid.
  spawning: usize,
  /// Children the core will reap itself.
  pids: Vec<u32>,
}

impl Registry {
  /// An empty registry.
  pub const fn new() -> Registry {
    Registry {
      inner: Mutex::new(Pids {
        spawning: 0,
        pids: Vec::new(),
      }),
    }
  }

  fn lock(&self) -> MutexGuard<'_, Pids> {
    lock(&self.inner)
  }

  /// Marks a spawn in flight until the guard is dropped; take it before the fork.
  pub fn spawning(&'static self) -> Spawning {
    self.lock().spawning += 1;
    Spawning { registry: self }
  }

  /// Whether `pid` is a child the core reaps itself.
  pub fn holds(&self, pid: u32) -> bool {
    self.lock().pids.contains(&pid)
  }

  /// One look: reaps the zombies among `candidates` (the host's children) that the core
  /// does not wait for, and that are not of the host's own process group `own_group`.
  /// `Busy` when a spawn is in flight (nothing is reaped then).
  pub fn reap(&self, candidates: &mut dyn Iterator<Item = i32>, own_group: i32) -> Look {
    // Held for the whole look: no spawn starts while zombies are being told apart.
    let registry = self.lock();
    if registry.spawning > 0 {
      return Look::Busy;
    }
    let me = std::process::id() as i32;
    let mut reaped = 0;
    for pid in candidates {
      if pid <= 0 || registry.pids.contains(&(pid as u32)) {
        continue;
      }
      let Some(info) = procfs::proc_info(pid) else {
        continue;
      };
      if info.state != b'Z' || info.ppid != me || info.pgid == own_group {
        continue;
      }
      let mut status = 0;
      // SAFETY: waits, without blocking, for one zombie child that nobody else waits for.
      if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
        reaped += 1;
      }
    }
    Look::Reaped(reaped)
  }
}

impl Default for Registry {
  fn default() -> Self {
    Registry::new()
  }
}

/// What one look did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
  /// A spawn was in flight: look again soon.
  Busy,
  /// This many orphans were reaped.
  Reaped(u64),
}

/// A spawn in flight: the reaper reaps nothing until it is dropped.
#[derive(Debug)]
pub struct Spawning {
  registry: &'static Registry,
}

impl Spawning {
  /// Registers the child `pid` the spawn made: the reaper leaves it to the core until the
  /// returned registration is released.
  pub fn register(&self, pid: u32) -> Registered {
    self.registry.lock().pids.push(pid);
    Registered {
      registry: self.registry,
      pid: Some(pid),
    }
  }
}

impl Drop for Spawning {
  fn drop(&mut self) {
    let mut registry = self.registry.lock();
    registry.spawning = registry.spawning.saturating_sub(1);
  }
}

/// A child the core reaps itself, registered until it is reaped (or dropped unreaped: then
/// whoever reaps it first, tokio's orphan queue, a background wait or the reaper, only
/// discards a status nobody reads).
#[derive(Debug)]
pub struct Registered {
  registry: &'static Registry,
  pid: Option<u32>,
}

impl Registered {
  /// The child has been reaped: it leaves the registry, and the reaper looks at once for
  /// the orphans it may have left.
  pub fn release(&mut self) {
    let Some(pid) = self.pid.take() else {
      return;
    };
    {
      let mut registry = self.registry.lock();
      if let Some(i) = registry.pids.iter().position(|&p| p == pid) {
        registry.pids.swap_remove(i);
      }
    }
    wake();
  }
}

impl Drop for Registered {
  fn drop(&mut self) {
    self.release();
  }
}

/// The core's children.
pub static REGISTRY: Registry = Registry::new();

/// Marks a spawn of the core's in flight (see [`Registry::spawning`]).
pub fn spawning() -> Spawning {
  REGISTRY.spawning()
}

/// Whether the reaper runs.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Set to wake the reaper before its time.
static WAKE: Mutex<bool> = Mutex::new(false);
static WAKE_UP: Condvar = Condvar::new();

fn wake() {
  if !ENABLED.load(Ordering::Relaxed) {
    return;
  }
  *lock(&WAKE) = true;
  WAKE_UP.notify_one();
}

/// Starts reaping orphans (once; later calls only add `subreaper`). With `subreaper`, the
/// host becomes a child subreaper first (`PR_SET_CHILD_SUBREAPER`): the orphans of its
/// descendants come to it instead of to pid 1. Only for a host whose own forks are the
/// core's children and Node's non-detached `child_process` children (see the module's doc):
/// the CLI, which calls it as pid 1 or with `--reap`; never the API's default.
pub fn enable(subreaper: bool) -> std::io::Result<()> {
  if subreaper {
    // SAFETY: prctl with an integer argument changes only this process's attribute.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
      return Err(std::io::Error::last_os_error());
    }
  }
  if ENABLED.swap(true, Ordering::AcqRel) {
    return Ok(());
  }
  let started = std::thread::Builder::new()
    .name("forever-reaper".to_string())
    .stack_size(128 * 1024)
    .spawn(run);
  if let Err(e) = started {
    ENABLED.store(false, Ordering::Release);
    return Err(e);
  }
  Ok(())
}

/// The reaper's life: a look now and then, and whenever it is woken.
fn run() {
  // SAFETY: getpgrp(2) cannot fail.
  let own_group = unsafe { libc::getpgrp() };
  let mut wait = EVERY;
  loop {
    {
      let woken = lock(&WAKE);
      let (mut woken, _) = WAKE_UP
        .wait_timeout_while(woken, wait, |woken| !*woken)
        .unwrap_or_else(|p| p.into_inner());
      *woken = false;
    }
    wait = match look(own_group) {
      Look::Busy => BUSY_RETRY,
      Look::Reaped(_) => EVERY,
    };
  }
}

/// One look at the host's children, when one of them is a zombie.
fn look(own_group: i32) -> Look {
  if !any_zombie_child() {
    return Look::Reaped(0);
  }
  let me = std::process::id() as i32;
  let mut children = Vec::new();
  if !procfs::for_each_child(me, &mut |pid| children.push(pid)) {
    // No children lists in this kernel: every process is looked at.
    procfs::for_each_pid(&mut |pid| {
      if procfs::proc_info(pid).is_some_and(|info| info.ppid == me) {
        children.push(pid);
      }
      true
    });
  }
  REGISTRY.reap(&mut children.into_iter(), own_group)
}

/// Whether any child of the host has exited and waits to be reaped; reaps none of them
/// (`WNOWAIT`).
fn any_zombie_child() -> bool {
  loop {
    // SAFETY: siginfo_t is plain data, filled by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes into `info`; WNOWAIT leaves the child waitable for its owner.
    let r = unsafe {
      libc::waitid(
        libc::P_ALL,
        0,
        &mut info,
        libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
      )
    };
    if r == 0 {
      // SAFETY: after a successful waitid, si_pid is set (0 when no child has exited).
      return unsafe { info.si_pid() } != 0;
    }
    if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
      // ECHILD: no children at all.
      return false;
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::os::unix::process::CommandExt;

  /// A child in a process group of its own that exits at once, left unreaped.
  fn zombie() -> u32 {
    let child = std::process::Command::new("true")
      .process_group(0)
      .spawn()
      .unwrap();
    let pid = child.id();
    // The Child is forgotten: nothing of std's waits for it.
    std::mem::forget(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while procfs::proc_info(pid as i32).map(|i| i.state) != Some(b'Z') {
      assert!(std::time::Instant::now() < deadline, "{pid} never exited");
      std::thread::sleep(Duration::from_millis(1));
    }
    pid
  }

  fn own_group() -> i32 {
    // SAFETY: getpgrp(2) cannot fail.
    unsafe { libc::getpgrp() }
  }

  /// Reaps `pid` here; true when it was still waiting to be reaped.
  fn reap_here(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) == pid as i32 }
  }

  // Each test has a registry of its own and looks only at its own children: the test
  // binary's other children (other tests') are never candidates.

  #[test]
  fn an_orphans_zombie_is_reaped_and_a_registered_child_is_left_to_the_core() {
    static REGISTRY: Registry = Registry::new();
    let spawning = REGISTRY.spawning();
    let ours = zombie();
    let mut registered = spawning.register(ours);
    drop(spawning);
    let orphan = zombie();
    let look = REGISTRY.reap(&mut [ours as i32, orphan as i32].into_iter(), own_group());
    assert_eq!(look, Look::Reaped(1));
    assert!(!reap_here(orphan), "the orphan was reaped by the look");
    assert!(REGISTRY.holds(ours));
    assert!(reap_here(ours), "the core's child was left for the core");
    registered.release();
    assert!(!REGISTRY.holds(ours));
  }

  #[test]
  fn a_child_that_exits_before_its_pid_is_registered_is_not_taken_for_an_orphan() {
    static REGISTRY: Registry = Registry::new();
    let spawning = REGISTRY.spawning();
    // The spawn's child exited at once: a zombie whose pid the registry does not know yet.
    let quick = zombie();
    assert_eq!(
      REGISTRY.reap(&mut [quick as i32].into_iter(), own_group()),
      Look::Busy
    );
    let registered = spawning.register(quick);
    drop(spawning);
    assert_eq!(
      REGISTRY.reap(&mut [quick as i32].into_iter(), own_group()),
      Look::Reaped(0)
    );
    assert!(reap_here(quick), "its exit status was kept for the core");
    drop(registered);
  }

  #[test]
  fn zombies_of_the_hosts_own_group_are_left_to_their_forker() {
    static REGISTRY: Registry = Registry::new();
    let child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    std::mem::forget(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while procfs::proc_info(pid as i32).map(|i| i.state) != Some(b'Z') {
      assert!(std::time::Instant::now() < deadline);
      std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
      REGISTRY.reap(&mut [pid as i32].into_iter(), own_group()),
      Look::Reaped(0)
    );
    assert!(reap_here(pid));
  }

  #[test]
  fn a_zombie_child_is_seen_without_being_reaped() {
    let pid = zombie();
    assert!(any_zombie_child());
    assert!(reap_here(pid), "the look left it waitable");
  }
}
