//! The guardian: a tiny process that takes the children down with the host, however the
//! host dies.
//!
//! `PR_SET_PDEATHSIG` kills a direct child when the host dies, but not the child's own
//! children. So before the first child is spawned, the host forks a guardian
//! (double-forked, so the host never reaps it, and in a session of its own, so neither
//! terminal signals nor a signal to the host's process group reach it). It names itself
//! `forever-guard (host <pid>)`, so that a `pkill -f` aimed at the host — `app.js`, `node`,
//! `forever-native` (the command line's script) — does not hit it too: a SIGKILL that
//! reaches both at once would leave the children's own children running (the children
//! themselves die by their parent-death signal). The host tells it which process groups are live over a pipe whose
//! write end only the host holds. When the host dies — even by SIGKILL — the kernel closes
//! that end, and the guardian sends SIGKILL to every registered group, to the descendants
//! of their leaders that left them, and to every process that carries this host's
//! [tag](crate::tag) in its environment (which also finds a child whose spawn the host
//! did not live to register), then exits.
//!
//! The guardian runs raw system calls only and allocates nothing: it was forked from a
//! multi-threaded process, where anything that may take a lock can hang for ever.
//!
//! The host watches a second pipe whose write end only the guardian holds: when it reads
//! EOF there, the guardian has died (someone killed it), and the host starts a new one,
//! registers the live groups again, and says so through the warning handler.

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::procfs;
use crate::runtime;
use crate::sync::lock;
use crate::tag;

/// Most process groups the guardian tracks at once; later ones are not tracked.
const CAPACITY: usize = 4096;
const WATCH: u32 = 1;
const FORGET: u32 = 2;
const RECORD: usize = 8;
/// How often groups that outlived their leader are checked for being empty.
const PRUNE_EVERY: Duration = Duration::from_secs(1);
/// Most bytes held back for one write (see [`hold`]): well under `PIPE_BUF`, so that the
/// write is atomic, as each record's own is.
const BATCH_LIMIT: usize = 512;

/// Receives the guardian's warnings (it died and was replaced, or could not be).
pub type WarningHandler = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct State {
  /// The write end of the running guardian's command pipe.
  commands: Option<OwnedFd>,
  /// Its pid, for messages.
  pid: u32,
  /// Bumped at each start, so that a stale death notice replaces nothing.
  generation: u64,
  /// Groups registered and not yet released: what a new guardian must be told.
  groups: HashSet<u32>,
  /// Released groups that still had members, each with the last live member seen in it
  /// (looked at first next time); dropped once empty.
  lingering: HashMap<u32, i32>,
  /// The last groups released, newest last (see [`retain_unwatched`]).
  recent: std::collections::VecDeque<u32>,
  pruning: bool,
  warn: Option<WarningHandler>,
  /// Records decided and not yet written (see [`hold`]): kept here, under the lock that
  /// decides them, so that they reach the guardian in the order they were decided.
  held: Vec<u8>,
  /// Whether the guardian's failure to start has been told (once until one starts).
  told_unavailable: bool,
  /// Guardians in a row that died before they could say their pid.
  stillborn: u32,
  /// When a replacement was last told, and how many were not told since (a guardian killed
  /// over and over is said at most once per [`REPLACED_QUIET`]).
  replaced_told: Option<std::time::Instant>,
  replaced_untold: u32,
}

/// How long after one warning of a replaced guardian the next waits.
const REPLACED_QUIET: Duration = Duration::from_secs(10);

/// How long to wait before trying again after the `n`-th guardian in a row (from the second)
/// died as it started: 100 ms, doubling, at most 30 s.
fn stillborn_delay(n: u32) -> Duration {
  let doublings = n.saturating_sub(2).min(9);
  Duration::from_millis(100 << doublings).min(Duration::from_secs(30))
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<State>> {
  lock(&STATE)
}

fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
  let mut guard = state();
  f(guard.get_or_insert_with(State::default))
}

/// Sets where warnings go (the binding turns them into `process.emitWarning`).
pub fn set_warning_handler(handler: WarningHandler) {
  with_state(|s| s.warn = Some(handler));
}

/// Starts the guardian if it is not running yet; the error when it could not be started
/// (it is tried again next time: a host short of descriptors for a moment keeps its
/// guardian).
pub fn available() -> std::io::Result<()> {
  let (result, warn) = with_state(|s| {
    if s.commands.is_some() {
      return (Ok(()), None);
    }
    match start_into(s) {
      // Told again only once a guardian has lived (said its pid): see `watch_life`.
      Ok(()) => (Ok(()), None),
      Err(errno) => {
        // Out of descriptors, the spawn fails too and says so. Anything else (no process
        // left under a pids limit, no memory) lets the child start unguarded: said once,
        // until a guardian starts again (each spawn tries).
        let spawn_fails = matches!(errno, nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE);
        let warn = if spawn_fails || s.told_unavailable {
          None
        } else {
          s.told_unavailable = true;
          s.warn.clone()
        };
        (Err(std::io::Error::from(errno)), warn.map(|w| (w, errno)))
      }
    }
  });
  if let Some((warn, errno)) = warn {
    warn(&format!(
      "the forever-native guardian could not be started ({errno}): children may outlive \
       this process if it dies; each spawn tries again"
    ));
  }
  result
}

/// Asks the guardian to kill process group `pgid` if the host dies.
pub fn watch(pgid: u32) {
  with_state(|s| {
    s.groups.insert(pgid);
    s.lingering.remove(&pgid);
    send(s, WATCH, pgid);
  });
}

/// How many released groups [`retain_unwatched`] remembers.
const RECENT: usize = 4096;

/// Takes out of `pids` the children of this host's monitors: those registered now, and
/// those released lately (a pid handed out a moment ago to one of them has not been
/// reused since).
pub fn retain_unwatched(pids: &mut Vec<i32>) {
  let guard = state();
  if let Some(s) = guard.as_ref() {
    pids.retain(|&pid| {
      u32::try_from(pid).map_or(true, |p| !s.groups.contains(&p) && !s.recent.contains(&p))
    });
  }
}

/// The group's leader has been reaped. The guardian keeps the group while anything is
/// left in it (a `killTree: false` child's leftovers still die with the host), and
/// forgets it once it is empty, before its number can be reused.
pub fn release(pgid: u32) {
  with_state(|s| {
    s.groups.remove(&pgid);
    if s.recent.len() == RECENT {
      s.recent.pop_front();
    }
    s.recent.push_back(pgid);
    let mut live = 0;
    if group_is_empty(pgid, &mut live) {
      send(s, FORGET, pgid);
      return;
    }
    s.lingering.insert(pgid, live);
    if !s.pruning {
      if let Ok(runtime) = runtime::get() {
        s.pruning = true;
        runtime.spawn(prune());
      }
    }
  });
}

/// Whether group `pgid` is empty or holds only zombies. `live` is a member found alive the
/// last time (0: none), looked at first, and updated: a group that lingers for hours (a
/// `killTree: false` child's leftovers) costs one read of `/proc` per look, not a scan.
fn group_is_empty(pgid: u32, live: &mut i32) -> bool {
  let Ok(pgid) = i32::try_from(pgid) else {
    return true;
  };
  // SAFETY: signal 0 only checks whether the group exists.
  if unsafe { libc::kill(-pgid, 0) == -1 && errno() == libc::ESRCH } {
    return true;
  }
  // Zombies keep a group in existence until they are reaped, which a host that is pid 1
  // never does for orphans it adopted: such a group would be tracked for ever, and fill
  // the guardian's table.
  if *live > 0 && procfs::is_live_member(pgid, *live) {
    return false;
  }
  *live = procfs::live_member(pgid).unwrap_or(0);
  *live == 0
}

fn errno() -> i32 {
  std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

async fn prune() {
  loop {
    tokio::time::sleep(PRUNE_EVERY).await;
    let done = with_state(|s| {
      let mut empty = Vec::new();
      for (&pgid, live) in s.lingering.iter_mut() {
        if group_is_empty(pgid, live) {
          empty.push(pgid);
        }
      }
      for pgid in empty {
        s.lingering.remove(&pgid);
        send(s, FORGET, pgid);
      }
      s.pruning = !s.lingering.is_empty();
      !s.pruning
    });
    if done {
      return;
    }
  }
}

/// The running guardian's command pipe, starting a guardian first if need be.
fn ensure(s: &mut State) -> Option<&OwnedFd> {
  if s.commands.is_none() {
    let _ = start_into(s);
  }
  s.commands.as_ref()
}

/// Starts a guardian and tells it the live groups.
fn start_into(s: &mut State) -> nix::Result<()> {
  let (commands, life) = start()?;
  s.commands = Some(commands);
  s.pid = 0;
  s.generation += 1;
  let generation = s.generation;
  if let Ok(runtime) = runtime::get() {
    runtime.spawn(watch_life(life, generation));
  }
  let groups: Vec<u32> = s.groups.iter().chain(s.lingering.keys()).copied().collect();
  for pgid in groups {
    send_raw(s.commands.as_ref(), WATCH, pgid);
  }
  Ok(())
}

fn send(s: &mut State, op: u32, pgid: u32) {
  let record = record(op, pgid);
  if !hold(s, &record) {
    // Whatever another thread holds goes first: it was decided first.
    let mut records = std::mem::take(&mut s.held);
    records.extend_from_slice(&record);
    let fd = ensure(s);
    write_records(fd, &records);
  }
}

/// Keeps `record` back while this thread's [`crate::sync::hold_wakes`] is under way (and
/// the write has room), for one write at its end or at the next write from anywhere. A restart tells the guardian to forget the
/// old child's group and to watch the new one's: each write wakes the guardian, so the
/// restart wakes it once, after the new child is spawned, rather than twice with one wake-up
/// before it. The new child is no less guarded meanwhile: the guardian also kills whatever
/// carries this host's tag, registered or not.
///
/// Held records wait in the state, not on the thread: any later write (another thread's, not
/// holding) takes them first, under the same lock, so a group's FORGET never overtakes a
/// WATCH decided after it (a freed group number handed out again meanwhile).
fn hold(s: &mut State, record: &[u8; RECORD]) -> bool {
  if !crate::sync::holding_wakes() || s.held.len() + RECORD > BATCH_LIMIT {
    return false;
  }
  if s.held.is_empty() {
    crate::sync::wake_later(write_held);
  }
  s.held.extend_from_slice(record);
  true
}

/// Writes the records held back (by any thread), in one write.
fn write_held() {
  with_state(|s| {
    let records = std::mem::take(&mut s.held);
    if !records.is_empty() {
      let fd = ensure(s);
      write_records(fd, &records);
    }
  });
}

fn send_raw(fd: Option<&OwnedFd>, op: u32, pgid: u32) {
  write_records(fd, &record(op, pgid));
}

fn record(op: u32, pgid: u32) -> [u8; RECORD] {
  let mut record = [0u8; RECORD];
  record[..4].copy_from_slice(&op.to_le_bytes());
  record[4..].copy_from_slice(&pgid.to_le_bytes());
  record
}

/// Writes whole records in one write: at most [`BATCH_LIMIT`] bytes and one record more,
/// under `PIPE_BUF`, so that the write is atomic: never interleaved with another.
fn write_records(fd: Option<&OwnedFd>, records: &[u8]) {
  let Some(fd) = fd else {
    return;
  };
  loop {
    // SAFETY: writes the bytes of `records` to a descriptor we own.
    let n = unsafe { libc::write(fd.as_raw_fd(), records.as_ptr().cast(), records.len()) };
    // A short write cannot happen: a pipe writes up to PIPE_BUF bytes at once or not at
    // all. A dead guardian (EPIPE) is noticed and replaced by `watch_life`.
    if n >= 0 || errno() != libc::EINTR {
      break;
    }
  }
}

/// Waits for the guardian to die (EOF on its life pipe), then replaces it.
async fn watch_life(life: OwnedFd, generation: u64) {
  // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open (and the same
  // descriptor) until it is dropped.
  let Ok(life) = (unsafe { AsyncFd::register_with_interest(life, Interest::READABLE) }) else {
    return;
  };
  // The guardian's pid comes first, then nothing until EOF: its death.
  let mut pid = [0u8; 4];
  let mut got = 0;
  loop {
    let Ok(mut ready) = life.readable().await else {
      return;
    };
    let mut bytes = [0u8; 16];
    // SAFETY: reads into `bytes` from a descriptor the AsyncFd owns.
    let n = unsafe { libc::read(life.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len()) };
    if n == 0 {
      break;
    }
    if n < 0 {
      if errno() == libc::EAGAIN {
        ready.clear_ready();
      }
      continue;
    }
    for &b in &bytes[..n as usize] {
      if got < 4 {
        pid[got] = b;
        got += 1;
        if got == 4 {
          with_state(|s| {
            if s.generation == generation {
              s.pid = u32::from_le_bytes(pid);
              s.told_unavailable = false;
              s.stillborn = 0;
            }
          });
        }
      }
    }
  }
  let (message, warn) = with_state(|s| {
    if s.generation != generation {
      return (None, None);
    }
    let old = s.pid;
    s.commands = None;
    if got < 4 {
      s.stillborn += 1;
    }
    if s.stillborn > 1 {
      // Two in a row died as they started, before they could say their pid: another born
      // at once would likely do the same, again and again. One is tried after a pause
      // that doubles (or by the next spawn, if sooner); said once until one lives.
      if let Ok(runtime) = runtime::get() {
        runtime.spawn(retry_after(stillborn_delay(s.stillborn), s.generation));
      }
      if std::mem::replace(&mut s.told_unavailable, true) {
        return (None, None);
      }
      let message = "the forever-native guardian died as it started: children may outlive \
                     this process if it dies until one starts (tried again shortly, and at \
                     each spawn)"
        .to_string();
      return (Some(message), s.warn.clone());
    }
    let count = s.groups.len() + s.lingering.len();
    let who = if old == 0 {
      "the forever-native guardian (as it started)".to_string()
    } else {
      format!("the forever-native guardian (pid {old})")
    };
    let message = match ensure(s) {
      Some(_) => {
        // Killed over and over (a `pkill` loop): said at most once per REPLACED_QUIET.
        let now = std::time::Instant::now();
        if s
          .replaced_told
          .is_some_and(|at| now.duration_since(at) < REPLACED_QUIET)
        {
          s.replaced_untold += 1;
          return (None, None);
        }
        let untold = std::mem::take(&mut s.replaced_untold);
        s.replaced_told = Some(now);
        let also = if untold > 0 {
          format!(" (and {untold} time(s) since the last warning)")
        } else {
          String::new()
        };
        format!(
          "{who} died and was replaced{also}; {count} process group(s) registered with the \
           new one"
        )
      }
      None => format!(
        "{who} died and could not be replaced: children may outlive this process if it \
         dies before the next start"
      ),
    };
    (Some(message), s.warn.clone())
  });
  if let (Some(message), Some(warn)) = (message, warn) {
    warn(&message);
  }
}

/// After guardians died as they started: one more is tried once `delay` has passed, unless
/// one was started meanwhile (a spawn's, or a later try's).
async fn retry_after(delay: Duration, generation: u64) {
  tokio::time::sleep(delay).await;
  with_state(|s| {
    if s.generation == generation && s.commands.is_none() {
      ensure(s);
    }
  });
}

/// Forks the guardian. Returns the command pipe's write end and the life pipe's read end
/// (on which the guardian writes its pid first; `watch_life` reads it, so that the host
/// does not wait for the guardian to be scheduled).
fn start() -> nix::Result<(OwnedFd, OwnedFd)> {
  // Everything the guardian needs is made before the fork: it allocates nothing after.
  let prefix: &'static str = tag::host_prefix();
  let title = format!("forever-guard (host {})", std::process::id());
  let (cmd_read, cmd_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
  let (life_read, life_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
  let fds = [cmd_read.as_raw_fd(), life_write.as_raw_fd()];
  let plan = Birth {
    fds,
    prefix: prefix.as_bytes(),
    title: title.as_bytes(),
  };
  let middle = match spawn_middle(&plan)? {
    Some(middle) => middle,
    None => fork_middle(&plan)?,
  };
  let born = birth_result(middle);
  drop(cmd_read);
  drop(life_write);
  born?;
  let flags = nix::fcntl::OFlag::O_NONBLOCK;
  nix::fcntl::fcntl(&life_read, nix::fcntl::FcntlArg::F_SETFL(flags))?;
  Ok((cmd_write, life_read))
}

/// Reaps exactly the short-lived middle process (never anything else), which exits with 1
/// when it could not fork the guardian (a pids limit): EAGAIN then. Killed by a signal, it
/// may have forked the guardian first, which then holds the pipes: whether it lives is for
/// `watch_life` to see (its pid, or the end of the life pipe).
fn birth_result(middle: libc::pid_t) -> nix::Result<()> {
  let mut status = 0;
  // SAFETY: waits for our own child `middle` only.
  while unsafe { libc::waitpid(middle, &mut status, 0) } == -1 && errno() == libc::EINTR {}
  if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1 {
    Err(nix::errno::Errno::EAGAIN)
  } else {
    Ok(())
  }
}

/// What the guardian is born with, made before the clone: nothing is allocated after it.
struct Birth<'a> {
  fds: [i32; 2],
  prefix: &'a [u8],
  title: &'a [u8],
}

/// The stack the middle process runs on. The guardian's whole life runs on its copy and
/// takes 32 to 64 KiB (`guard`'s table of groups, then `kill_everything`; the test of both
/// births fails with 32). A mebibyte leaves room to spare and costs only the pages touched;
/// a page below it, mapped without access, makes an overflow a fault rather than a silent
/// write over the heap.
const MIDDLE_STACK: usize = 1 << 20;

/// A stack for the middle process: mapped, with an inaccessible guard page below it;
/// unmapped when dropped (after the middle has exited: the guardian has its own copy).
struct Stack {
  base: *mut libc::c_void,
  len: usize,
}

impl Stack {
  fn new(size: usize) -> nix::Result<Stack> {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let len = size.saturating_add(page);
    // SAFETY: a new private anonymous mapping; nothing else refers to it.
    let base = unsafe {
      libc::mmap(
        std::ptr::null_mut(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
        -1,
        0,
      )
    };
    if base == libc::MAP_FAILED {
      return Err(nix::errno::Errno::last());
    }
    let stack = Stack { base, len };
    // SAFETY: the lowest page of the mapping just made.
    if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
      return Err(nix::errno::Errno::last());
    }
    Ok(stack)
  }

  /// Where the stack starts (it grows down), aligned on 16 bytes as the ABI wants.
  fn top(&self) -> *mut libc::c_void {
    let end = self.base.cast::<u8>().wrapping_add(self.len);
    end.wrapping_sub(end as usize % 16).cast()
  }
}

impl Drop for Stack {
  fn drop(&mut self) {
    // SAFETY: the mapping `new` made, which nothing uses any more.
    unsafe { libc::munmap(self.base, self.len) };
  }
}

/// Starts the middle process, which forks the guardian and exits at once, so that the
/// guardian is nobody's child here (a kill of the host's tree does not reach it). The
/// middle shares the host's memory until it exits (`CLONE_VM | CLONE_VFORK`, which suspends
/// this thread meanwhile): only the guardian's fork copies the host's page tables, once,
/// where two forks copied them twice (half a millisecond of a first start).
/// `Ok(None)`: not here (see [`fork_middle`]).
fn spawn_middle(plan: &Birth<'_>) -> nix::Result<Option<libc::pid_t>> {
  spawn_middle_on(plan, MIDDLE_STACK)
}

/// [`spawn_middle`] with a stack of `size` bytes.
fn spawn_middle_on(plan: &Birth<'_>, size: usize) -> nix::Result<Option<libc::pid_t>> {
  // The guardian goes on with the host's thread's copy of libc's thread data (its thread
  // id among them), which glibc's calls in `guard` never use; musl's `raise()` would.
  if !cfg!(target_env = "gnu") || !crate::process::libc_clone_is_clean() {
    return Ok(None);
  }
  // Without room for the stack (an address-space limit, the map count), the fork still works.
  let Ok(stack) = Stack::new(size) else {
    return Ok(None);
  };
  // SAFETY: `middle` runs on `stack`, which outlives it (the clone returns once the middle
  // has exited, and `stack` and `plan` are dropped after); it only reads `plan`, and makes
  // raw system calls.
  let cloned = unsafe {
    crate::process::clone_sharing_memory(
      middle,
      stack.top(),
      0,
      std::ptr::from_ref(plan).cast_mut().cast::<libc::c_void>(),
      std::ptr::null_mut(),
    )
  };
  match cloned {
    Ok(pid) => Ok(Some(pid)),
    // A plain fork then.
    Err(e) if crate::process::clone_refused(&e) => Ok(None),
    Err(e) => Err(nix::errno::Errno::from_raw(
      e.raw_os_error().unwrap_or(libc::EIO),
    )),
  }
}

/// The middle process as a plain fork of the host, where a clone sharing its memory is not
/// safe (glibc before 2.25) or refused.
fn fork_middle(plan: &Birth<'_>) -> nix::Result<libc::pid_t> {
  // SAFETY: after fork, the child runs only async-signal-safe code (see `guard`) and ends
  // with `_exit`; the parent only reaps the short-lived middle process.
  match unsafe { libc::fork() } {
    -1 => Err(nix::errno::Errno::last()),
    // SAFETY: in the child of a fork: `guard` never returns, and the middle process exits
    // at once.
    0 => unsafe {
      let pid = libc::fork();
      if pid == 0 {
        guard(plan.fds, plan.prefix, plan.title);
      }
      libc::_exit(if pid < 0 { 1 } else { 0 })
    },
    middle => Ok(middle),
  }
}

/// The middle process: forks the guardian and exits. It shares the host's memory, so it
/// makes raw system calls only (no libc `fork`, whose handlers would run on the host's
/// state).
extern "C" fn middle(arg: *mut libc::c_void) -> libc::c_int {
  // SAFETY: `arg` is the `Birth` that `spawn_middle` passed, alive until this process ends.
  let plan = unsafe { &*arg.cast::<Birth<'_>>() };
  // SAFETY: a plain fork (no flags but the exit signal): the child gets a copy of this
  // memory, so `plan` and the stack stay valid in it; it runs only `guard`, which never
  // returns. The middle exits at once either way.
  unsafe {
    let pid = libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0);
    if pid == 0 {
      guard(plan.fds, plan.prefix, plan.title);
    }
    libc::_exit(if pid < 0 { 1 } else { 0 })
  }
}

/// The guardian's whole life.
///
/// # Safety
/// Call only in a freshly forked child; it never returns. Raw system calls only.
unsafe fn guard(fds: [i32; 2], prefix: &[u8], title: &[u8]) -> ! {
  // SAFETY: each call below is an async-signal-safe system call on
  // memory this process owns; nothing allocates or takes a lock.
  unsafe {
    libc::setsid();
    libc::chdir(c"/".as_ptr());
    libc::prctl(libc::PR_SET_NAME, c"forever-guard".as_ptr());
    // The handlers inherited from Node point at code that must never run here.
    for sig in 1..65 {
      if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        continue;
      }
      let ignore = matches!(
        sig,
        libc::SIGINT
          | libc::SIGTERM
          | libc::SIGHUP
          | libc::SIGQUIT
          | libc::SIGPIPE
          | libc::SIGUSR1
          | libc::SIGUSR2
          | libc::SIGTSTP
          | libc::SIGTTIN
          | libc::SIGTTOU
      );
      let mut action: libc::sigaction = std::mem::zeroed();
      action.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
      libc::sigaction(sig, &action, std::ptr::null_mut());
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

    // Hold nothing of the host's: not its sockets, not its children's pipes, not its stdio.
    // Everything else goes first: a host at its descriptor limit leaves none free for the
    // moves below (the guardian then died at birth, and the host ran unguarded).
    let (low, high) = (fds[0].min(fds[1]), fds[0].max(fds[1]));
    close_between(0, low);
    close_between(low + 1, high);
    close_between(high + 1, 65536);
    // fd 3 reads commands, fd 4 is the life pipe the host watches.
    // Both are moved out of the way first, so that placing one cannot close the other.
    let [commands, life] = fds.map(|fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10));
    let placed =
      commands >= 0 && life >= 0 && libc::dup2(commands, 3) == 3 && libc::dup2(life, 4) == 4;
    if !placed {
      libc::_exit(1);
    }
    close_between(5, 65536);
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    if null >= 0 {
      for std_fd in 0..3 {
        libc::dup2(null, std_fd);
      }
      if null > 2 {
        libc::close(null);
      }
    }
    // Reads /proc/self/stat: after the host's descriptors are gone, so that one is free.
    retitle(title);
    let me = libc::getpid();
    let pid = me.to_le_bytes();
    libc::write(4, pid.as_ptr().cast(), pid.len());

    let mut groups = [0i32; CAPACITY];
    let count = read_commands(&mut groups);
    kill_everything(&groups[..count], prefix, me);
    libc::_exit(0)
  }
}

/// Closes the descriptors from `from` up to `to` (excluded). Raw system calls only.
fn close_between(from: i32, to: i32) {
  if from >= to {
    return;
  }
  // SAFETY: closes descriptors of this (freshly forked) process only.
  unsafe {
    let last = u32::try_from(to - 1).unwrap_or(0);
    let first = u32::try_from(from).unwrap_or(0);
    if libc::syscall(libc::SYS_close_range, first, last, 0u32) != 0 {
      for fd in from..to.min(65536) {
        libc::close(fd);
      }
    }
  }
}

/// Follows the host's commands until its end of the pipe closes; returns how many groups
/// are registered then.
fn read_commands(groups: &mut [i32; CAPACITY]) -> usize {
  let mut count = 0usize;
  let mut buf = [0u8; 512];
  let mut filled = 0usize;
  loop {
    // SAFETY: reads into the unfilled part of `buf`.
    let n = unsafe { libc::read(3, buf.as_mut_ptr().add(filled).cast(), buf.len() - filled) };
    if n < 0 && errno() == libc::EINTR {
      continue;
    }
    if n <= 0 {
      return count;
    }
    filled += n as usize;
    let whole = filled - filled % RECORD;
    let mut at = 0;
    while at < whole {
      let op = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
      let pgid = i32::from_le_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]]);
      if op == WATCH && pgid > 1 && count < CAPACITY && !groups[..count].contains(&pgid) {
        groups[count] = pgid;
        count += 1;
      } else if op == FORGET {
        if let Some(i) = groups[..count].iter().position(|&g| g == pgid) {
          groups[i] = groups[count - 1];
          count -= 1;
        }
      }
      at += RECORD;
    }
    buf.copy_within(whole..filled, 0);
    filled -= whole;
  }
}

/// The host is gone: kill every registered group, the descendants that left them, and
/// everything that carries this host's tag — again until a scan finds nothing, so that a
/// child the host was spawning at its death (it runs its new program, tagged, a moment
/// later) or one forked meanwhile is caught too.
fn kill_everything(groups: &[i32], prefix: &[u8], me: i32) {
  // Strays first, while the parent links that find them still stand.
  let mut strays = [0i32; 1024];
  let mut stray_count = 0;
  let mut seen = [procfs::ProcInfo {
    pid: 0,
    ppid: 0,
    pgid: 0,
    state: 0,
  }; 1024];
  for &pgid in groups {
    procfs::walk_descendants(pgid, &mut seen, &mut |p| {
      if p.pgid != pgid && stray_count < strays.len() {
        strays[stray_count] = p.pid;
        stray_count += 1;
      }
    });
  }
  // SAFETY: kill() with pids and groups we read; SIGKILL cannot be caught.
  unsafe {
    for &pgid in groups {
      libc::kill(-pgid, libc::SIGKILL);
    }
    for &pid in &strays[..stray_count] {
      libc::kill(pid, libc::SIGKILL);
    }
  }
  let pause = libc::timespec {
    tv_sec: 0,
    tv_nsec: 20_000_000,
  };
  for round in 0..12 {
    let mut found = 0;
    procfs::for_each_pid(&mut |pid| {
      if pid != me && procfs::environ_has(pid, prefix, true) {
        // SAFETY: SIGKILL to a process that carries this host's tag.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        found += 1;
      }
      true
    });
    if found == 0 && round >= 2 {
      return;
    }
    // SAFETY: sleeps; `pause` is a valid timespec.
    unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
  }
}

/// Rewrites this process's command line (and the environment block after it, which holds
/// the host's) with `title`, so that `/proc/<pid>/cmdline` no longer reads as the host's.
fn retitle(title: &[u8]) {
  let Some((arg_start, arg_end, env_start, env_end)) = procfs::own_strings_area() else {
    return;
  };
  // The kernel shows a title that runs on into the environment block only when that block
  // follows the arguments directly.
  let end = if env_start == arg_end {
    env_end
  } else {
    arg_end
  };
  if end <= arg_start {
    return;
  }
  let area = end - arg_start;
  let len = title.len().min(area - 1);
  // SAFETY: [arg_start, end) is this process's own argument (and environment) strings,
  // in its writable stack mapping, as the kernel reports them; nothing reads them here.
  unsafe {
    let start = arg_start as *mut u8;
    std::ptr::copy_nonoverlapping(title.as_ptr(), start, len);
    std::ptr::write_bytes(start.add(len), 0, area - len);
    if env_start != arg_end && env_end > env_start {
      std::ptr::write_bytes(env_start as *mut u8, 0, env_end - env_start);
    }
  }
}

/// For tests: the running guardian's pid (0 when none).
pub fn pid() -> u32 {
  with_state(|s| if s.commands.is_some() { s.pid } else { 0 })
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::sync::hold_wakes;

  /// The guardian's state is the process's: these tests take turns with it.
  static SERIAL: Mutex<()> = Mutex::new(());

  /// What is held back, taken out (so that the scope's end writes nothing).
  fn take_held() -> Vec<u8> {
    with_state(|s| std::mem::take(&mut s.held))
  }

  /// `hold` as `send` calls it, under the lock.
  fn hold_one(record: &[u8; RECORD]) -> bool {
    with_state(|s| hold(s, record))
  }

  /// Both ways a guardian is born (the middle sharing the host's memory, or a plain fork
  /// where that is not safe): it is not the host's child, it says its pid first, and once
  /// its command pipe closes (the host is gone) it kills the group it was told of, from the
  /// stack it was born on.
  #[test]
  fn a_guardian_born_either_way_kills_its_groups_when_the_host_goes() {
    use std::io::{Read, Write};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let _turn = lock(&SERIAL);
    for shared in [true, false] {
      let flags = nix::fcntl::OFlag::O_CLOEXEC;
      let (cmd_read, cmd_write) = nix::unistd::pipe2(flags).unwrap();
      let (life_read, life_write) = nix::unistd::pipe2(flags).unwrap();
      let plan = Birth {
        fds: [cmd_read.as_raw_fd(), life_write.as_raw_fd()],
        prefix: b"FN_GUARDIAN_BIRTH_TEST=",
        title: b"forever-guard (test)",
      };
      let middle = if shared {
        match spawn_middle(&plan).unwrap() {
          Some(middle) => middle,
          None => continue,
        }
      } else {
        fork_middle(&plan).unwrap()
      };
      let mut status = 0;
      // SAFETY: waits for the middle process just started.
      assert_eq!(unsafe { libc::waitpid(middle, &mut status, 0) }, middle);
      drop((cmd_read, life_write));
      let mut life = std::fs::File::from(life_read);
      let mut pid = [0u8; 4];
      life.read_exact(&mut pid).unwrap();
      let guardian = i32::from_le_bytes(pid);
      let info = crate::procfs::proc_info(guardian).expect("the guardian runs");
      assert_ne!(info.ppid, std::process::id() as i32, "shared: {shared}");
      let mut child = std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
      let mut commands = std::fs::File::from(cmd_write);
      commands.write_all(&record(WATCH, child.id())).unwrap();
      drop(commands);
      let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
      let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
          break status;
        }
        assert!(
          std::time::Instant::now() < deadline,
          "shared: {shared}: not killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
      };
      assert_eq!(status.signal(), Some(libc::SIGKILL), "shared: {shared}");
      // Its work done, the guardian ends: the life pipe closes.
      assert_eq!(life.read(&mut pid).unwrap(), 0, "shared: {shared}");
    }
  }

  /// A birth whose pipes are made here (`Birth` borrows them): both ends of each.
  fn pipes() -> [(OwnedFd, OwnedFd); 2] {
    let flags = nix::fcntl::OFlag::O_CLOEXEC;
    [
      nix::unistd::pipe2(flags).unwrap(),
      nix::unistd::pipe2(flags).unwrap(),
    ]
  }

  #[test]
  fn without_room_for_its_stack_the_middle_is_a_plain_fork() {
    let _turn = lock(&SERIAL);
    let [(cmd_read, _cmd_write), (_life_read, life_write)] = pipes();
    let plan = Birth {
      fds: [cmd_read.as_raw_fd(), life_write.as_raw_fd()],
      prefix: b"FN_GUARDIAN_STACK_TEST=",
      title: b"forever-guard (test)",
    };
    // More than any address space: the mapping fails, and no middle is made this way.
    assert_eq!(spawn_middle_on(&plan, 1 << 60), Ok(None));
  }

  /// Makes every `clone` of a new process (one that shares no memory: a fork) fail with
  /// EAGAIN in this process, as a pids limit does; `clone3` is refused (glibc then uses
  /// `clone`). For a forked test process only.
  ///
  /// # Safety
  /// Call in a process of its own, which it changes for good.
  unsafe fn refuse_forks() -> bool {
    let stmt = |code: u32, k: u32| libc::sock_filter {
      code: code as u16,
      jt: 0,
      jf: 0,
      k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
      code: code as u16,
      jt,
      jf,
      k,
    };
    let mut filter = [
      // The system call's number.
      stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
      jump(
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::SYS_clone3 as u32,
        0,
        1,
      ),
      stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
      ),
      jump(
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::SYS_clone as u32,
        0,
        3,
      ),
      // Its flags (the low half of the first argument).
      stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 16),
      jump(
        libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
        libc::CLONE_VM as u32,
        1,
        0,
      ),
      stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EAGAIN as u32,
      ),
      stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
      len: filter.len() as u16,
      filter: filter.as_mut_ptr(),
    };
    // SAFETY: a filter for this process only; the program outlives the call.
    unsafe {
      libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        && libc::prctl(
          libc::PR_SET_SECCOMP,
          libc::SECCOMP_MODE_FILTER,
          std::ptr::from_ref(&program),
        ) == 0
    }
  }

  /// Where no new process can be made (a pids limit): the guardian's start says so (EAGAIN)
  /// by either birth, rather than pass for one whose guardian never came (its watcher then
  /// replaced it, and failed, and replaced it, at a core's full speed).
  #[test]
  fn a_guardian_that_cannot_be_forked_is_an_error_either_way() {
    let _turn = lock(&SERIAL);
    // SAFETY: the child refuses forks in itself alone, tries both births, and exits.
    match unsafe { libc::fork() } {
      0 => {
        // SAFETY: in the forked test process.
        let refused = unsafe { refuse_forks() };
        let [(cmd_read, _cmd_write), (_life_read, life_write)] = pipes();
        let plan = Birth {
          fds: [cmd_read.as_raw_fd(), life_write.as_raw_fd()],
          prefix: b"FN_GUARDIAN_FORK_TEST=",
          title: b"forever-guard (test)",
        };
        let shared = match spawn_middle(&plan) {
          Ok(Some(middle)) => birth_result(middle),
          other => other.map(|_| ()),
        };
        let forked = fork_middle(&plan).and_then(birth_result);
        let code = match (refused, shared, forked) {
          (false, _, _) => 2,
          (true, Err(nix::errno::Errno::EAGAIN), Err(nix::errno::Errno::EAGAIN)) => 0,
          _ => 1,
        };
        // SAFETY: ends the forked test process.
        unsafe { libc::_exit(code) }
      }
      pid => {
        let mut status = 0;
        // SAFETY: waits for the test process just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "{status}");
        assert_eq!(
          libc::WEXITSTATUS(status),
          0,
          "2: no filter; 1: a birth passed"
        );
      }
    }
  }

  #[test]
  fn guardians_that_die_as_they_start_are_tried_again_ever_more_slowly() {
    assert_eq!(stillborn_delay(2), Duration::from_millis(100));
    assert_eq!(stillborn_delay(3), Duration::from_millis(200));
    assert_eq!(stillborn_delay(10), Duration::from_millis(25_600));
    assert_eq!(stillborn_delay(11), Duration::from_secs(30));
    assert_eq!(stillborn_delay(u32::MAX), Duration::from_secs(30));
  }

  #[test]
  fn records_are_held_in_order_until_the_scope_ends() {
    let _turn = lock(&SERIAL);
    assert!(!hold_one(&record(WATCH, 7)), "no scope: written at once");
    hold_wakes(|| {
      assert!(hold_one(&record(FORGET, 7)));
      assert!(hold_one(&record(WATCH, 9)));
      let held = take_held();
      assert_eq!(held.len(), 2 * RECORD);
      assert_eq!(&held[..RECORD], &record(FORGET, 7));
      assert_eq!(&held[RECORD..], &record(WATCH, 9));
    });
    assert!(!hold_one(&record(WATCH, 7)), "the scope is over");
  }

  /// The (op, pgid) records written to the command pipe while `f` runs with `ours` as the
  /// guardian's pipe (the running guardian's, if any, is put back after).
  fn records_written(f: impl FnOnce()) -> Vec<(u32, u32)> {
    let (read, ours) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let saved = with_state(|s| s.commands.replace(ours));
    f();
    drop(with_state(|s| std::mem::replace(&mut s.commands, saved)));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(read), &mut bytes).unwrap();
    bytes
      .chunks_exact(RECORD)
      .map(|r| {
        (
          u32::from_le_bytes(r[..4].try_into().unwrap()),
          u32::from_le_bytes(r[4..].try_into().unwrap()),
        )
      })
      .collect()
  }

  #[test]
  fn a_forget_held_back_does_not_overtake_a_later_watch_of_the_same_group() {
    let _turn = lock(&SERIAL);
    // A group no process is in (pids stop below 2^22), so that `release` forgets it at once.
    let pgid: u32 = 0x7fff_0001;
    let written = records_written(|| {
      hold_wakes(|| {
        // A restart on this worker thread: the exited child's group is released (its
        // FORGET is held until the next child is spawned)...
        release(pgid);
        // ...and meanwhile another thread (another monitor's start on the JS thread, or its
        // task on another worker) spawns a child that got the freed number, and registers
        // its group: decided after the release, under the same lock.
        std::thread::spawn(move || watch(pgid)).join().unwrap();
      });
    });
    let registered = with_state(|s| s.groups.remove(&pgid));
    assert!(registered, "the host counts the group as registered");
    let ops: Vec<u32> = written
      .iter()
      .filter(|(_, g)| *g == pgid)
      .map(|(op, _)| *op)
      .collect();
    // What the guardian makes of them: the last word on the group stands.
    assert_eq!(
      ops.last(),
      Some(&WATCH),
      "the guardian was told FORGET after WATCH ({ops:?}): a registered, live group goes \
       unguarded"
    );
  }

  #[test]
  fn past_the_bound_records_are_written_at_once() {
    let _turn = lock(&SERIAL);
    hold_wakes(|| {
      for pgid in 0..(BATCH_LIMIT / RECORD) as u32 {
        assert!(hold_one(&record(WATCH, pgid + 2)));
      }
      assert!(!hold_one(&record(WATCH, 1)), "over the bound: not held");
      assert_eq!(take_held().len(), BATCH_LIMIT);
    });
  }
}
