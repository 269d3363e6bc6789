//! Spawning a child with a parent-death signal at `posix_spawn`'s speed.
//!
//! The kernel sends a child its parent-death signal only if the child asked for it
//! (`PR_SET_PDEATHSIG`) between the fork and the exec: code of ours must run in the child.
//! std runs such code only after a full `fork()`, which copies the host's page tables (656
//! restarts/s against 1,490/s with `posix_spawn`, measured from a Node host) and stalls a
//! large host while it does. Without the signal, a child spawned with `posix_spawn` outlived
//! a SIGKILL that reached the host and its guardian together (the guardian alone would have
//! killed it). So this module does what glibc's `posix_spawn` does — a `clone` with
//! `CLONE_VM | CLONE_VFORK`: the child borrows the host's memory, on a stack of its own,
//! until it execs, while the calling thread waits — and asks for the signal on the way.
//!
//! The child runs raw system calls only, on memory the calling thread prepared and keeps
//! alive: it shares the host's memory, where the host's other threads go on running, so it
//! takes no lock and allocates nothing. All signals are blocked around the clone: a handler
//! of the host's must not run in the child, on the host's memory; the child puts handled
//! signals back to their defaults before it unblocks them (exec would have).
//!
//! The child is reaped through a pidfd (`CLONE_PIDFD`) that tokio polls. Where that is
//! missing (a kernel before 5.3, a seccomp filter that refuses pidfds), or where glibc's
//! `clone` writes into the calling thread's own data from the child (glibc before 2.25 resets
//! its cached pid there), [`available`] says no, and std forks instead.

use std::ffi::{c_char, c_int, c_void, CString, OsStr};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::activation::cstring;
use crate::error::{CoreError, Result};

/// The child's stack: it makes a few system calls, nothing more.
const STACK: usize = 64 * 1024;
/// Signals are numbered 1 to 64 on Linux.
const SIGNALS: c_int = 65;

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;
static AVAILABLE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether children can be spawned here (pidfds, and a `clone` that leaves the caller's
/// data alone); probed once.
pub(super) fn available() -> bool {
  match AVAILABLE.load(Ordering::Relaxed) {
    YES => true,
    NO => false,
    _ => {
      let yes = libc_clone_is_clean() && pidfds_work();
      AVAILABLE.store(if yes { YES } else { NO }, Ordering::Relaxed);
      yes
    }
  }
}

/// From now on std spawns (a `clone` refused these flags).
fn disable() {
  AVAILABLE.store(NO, Ordering::Relaxed);
}

/// glibc before 2.25 writes -1 into the calling thread's cached pid and tid from a child
/// made with `CLONE_VM`: the host's thread would then be corrupt.
#[cfg(target_env = "gnu")]
pub(crate) fn libc_clone_is_clean() -> bool {
  // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
  let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
  let mut parts = version.to_bytes().split(|&b| b == b'.').map(|p| {
    std::str::from_utf8(p)
      .ok()
      .and_then(|p| p.parse::<u32>().ok())
  });
  match (parts.next().flatten(), parts.next().flatten()) {
    (Some(major), Some(minor)) => (major, minor) >= (2, 25),
    _ => false,
  }
}

/// musl's `clone` touches nothing of the caller's.
#[cfg(not(target_env = "gnu"))]
pub(crate) fn libc_clone_is_clean() -> bool {
  true
}

/// Whether this kernel (5.3 and later, where pidfds can also be polled) lets us have pidfds.
fn pidfds_work() -> bool {
  // SAFETY: pidfd_open of our own pid; the descriptor, if any, is closed at once.
  let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
  if fd < 0 {
    return false;
  }
  // SAFETY: a descriptor pidfd_open just gave us.
  drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
  true
}

/// Everything the child needs, prepared before the clone: it only reads it (and writes the
/// error of a failed step).
pub(super) struct Plan<'a> {
  program: CString,
  _argv: Vec<CString>,
  /// The one variable made for this child (its tag); `envp` points into it and `env`.
  _own: CString,
  _env: std::marker::PhantomData<&'a super::env::Block>,
  argv: Vec<*const c_char>,
  envp: Vec<*const c_char>,
  cwd: Option<CString>,
  /// The descriptors that become the child's 0, 1 and 2.
  stdio: [RawFd; 3],
  /// The host's pid: the child's parent, unless the host has died meanwhile.
  host: libc::pid_t,
  /// The errno of the step that failed in the child (0: none).
  error: AtomicI32,
  /// Whether that step was the exec itself (the program), not one before it.
  exec_failed: std::sync::atomic::AtomicBool,
}

/// One environment variable as `execve` takes it: `key=value`, put together without
/// `format!` (the tag's, made at every spawn; the rest are the [`Env`](super::Env)'s).
pub(super) fn env_entry(key: &str, value: &str) -> Result<CString> {
  let mut entry = Vec::with_capacity(key.len() + value.len() + 2);
  entry.extend_from_slice(key.as_bytes());
  entry.push(b'=');
  entry.extend_from_slice(value.as_bytes());
  CString::new(entry)
    .map_err(|_| CoreError::InvalidOption("the environment holds a null byte".to_string()))
}

impl<'a> Plan<'a> {
  /// After a failed [`spawn`]: whether the exec itself failed (the program is missing or
  /// cannot run), rather than a step before it (the directory, the standard streams).
  pub(super) fn exec_failed(&self) -> bool {
    self.exec_failed.load(Ordering::Acquire)
  }

  /// Runs `program` with `argv` (`argv[0]` first), environment `env` and `own` (`key=value`,
  /// see [`env_entry`]), directory `cwd` and standard streams `stdio` (open until the spawn
  /// is over).
  pub(super) fn new(
    program: &Path,
    argv: &[&OsStr],
    env: &'a super::env::Block,
    own: CString,
    cwd: Option<&str>,
    stdio: [RawFd; 3],
  ) -> Result<Plan<'a>> {
    let (program, argv) = super::activation::exec_strings(program, argv)?;
    let cwd = cwd.map(|c| cstring(c.as_bytes(), "the cwd")).transpose()?;
    let argv_ptrs = argv
      .iter()
      .map(|a| a.as_ptr())
      .chain(std::iter::once(std::ptr::null()))
      .collect();
    let mut envp_ptrs = Vec::with_capacity(env.len() + 2);
    envp_ptrs.extend(env.pointers());
    envp_ptrs.push(own.as_ptr());
    envp_ptrs.push(std::ptr::null());
    Ok(Plan {
      program,
      _argv: argv,
      _own: own,
      _env: std::marker::PhantomData,
      argv: argv_ptrs,
      envp: envp_ptrs,
      cwd,
      stdio,
      // SAFETY: getpid(2) cannot fail.
      host: unsafe { libc::getpid() },
      error: AtomicI32::new(0),
      exec_failed: std::sync::atomic::AtomicBool::new(false),
    })
  }
}

/// Clones a child that shares this process's memory until it execs or exits (`CLONE_VM |
/// CLONE_VFORK | SIGCHLD`, and `more`): it runs `entry(arg)` on the stack that ends at
/// `top`, while this thread waits. Every signal is blocked on this thread meanwhile, so that
/// no handler of the host's runs in the child, which shares this thread's memory (the child
/// resets them before it unblocks them). With `CLONE_PIDFD` in `more`, the kernel stores the
/// child's pidfd at `pidfd`.
///
/// # Safety
/// `top` ends a stack (aligned on 16 bytes) that outlives the call and is large enough for
/// `entry`, which only reads `arg` (atomics aside) and makes system calls that take no
/// lock and allocate nothing, until it execs or exits.
pub(crate) unsafe fn clone_sharing_memory(
  entry: extern "C" fn(*mut c_void) -> c_int,
  top: *mut c_void,
  more: c_int,
  arg: *mut c_void,
  pidfd: *mut c_int,
) -> io::Result<libc::pid_t> {
  let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD | more;
  // SAFETY: sigset_t is plain data; sigfillset initialises it.
  let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
  // SAFETY: as above.
  let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
  // SAFETY: blocks signals on this thread (restored below).
  unsafe {
    libc::sigfillset(&mut all);
    libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
  }
  // SAFETY: as the caller promised; CLONE_VFORK suspends this thread until the child has
  // exec'd or exited.
  let pid = unsafe { libc::clone(entry, top, flags, arg, pidfd) };
  let clone_error = io::Error::last_os_error();
  // SAFETY: restores this thread's signal mask saved above.
  unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
  if pid < 0 {
    return Err(clone_error);
  }
  Ok(pid)
}

/// Whether a clone failed on flags this kernel (or its seccomp filter) refuses, rather than
/// on what it was short of: a caller then makes its child another way.
pub(crate) fn clone_refused(error: &io::Error) -> bool {
  matches!(
    error.raw_os_error(),
    Some(libc::EINVAL | libc::ENOSYS | libc::EPERM)
  )
}

/// Starts the child `plan` describes, in a process group of its own, with SIGKILL as its
/// parent-death signal. `Ok(None)`: this system refuses such a clone; spawn another way.
pub(super) fn spawn(plan: &Plan) -> io::Result<Option<(u32, OwnedFd)>> {
  let mut stack: Vec<u8> = Vec::with_capacity(STACK);
  // SAFETY: one past the end of the allocation, which the child's stack grows down from.
  let end = unsafe { stack.as_mut_ptr().add(STACK) };
  // The ABI wants the stack pointer aligned on 16 bytes.
  let top = end.wrapping_sub(end as usize % 16);
  let mut pidfd: c_int = -1;
  // SAFETY: `child` runs on `stack`, which outlives it (the clone returns once the child has
  // exec'd or exited, and `stack` and `plan` are dropped after); it only reads `plan`, and
  // stores into its atomic error.
  let cloned = unsafe {
    clone_sharing_memory(
      child,
      top.cast::<c_void>(),
      libc::CLONE_PIDFD,
      std::ptr::from_ref(plan).cast_mut().cast::<c_void>(),
      &mut pidfd,
    )
  };
  drop(stack);
  let pid = match cloned {
    Ok(pid) => pid,
    // Flags this kernel (or its seccomp filter) refuses: std spawns from now on.
    Err(e) if clone_refused(&e) => {
      disable();
      return Ok(None);
    }
    Err(e) => return Err(e),
  };
  // SAFETY: with CLONE_PIDFD, the kernel stored a new descriptor (close-on-exec) here.
  let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
  let errno = plan.error.load(Ordering::Acquire);
  if errno != 0 {
    // A step failed before the exec: the child has exited (which released this thread).
    let mut status = 0;
    // SAFETY: waits for our own child, which has exited.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
      && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
    return Err(io::Error::from_raw_os_error(errno));
  }
  Ok(Some((pid as u32, pidfd)))
}

/// The child, until it execs: a process group of its own, its standard streams, its
/// directory, the parent-death signal, then the program.
extern "C" fn child(arg: *mut c_void) -> c_int {
  // SAFETY: `arg` is the plan, which the suspended parent thread keeps alive and unchanged.
  let plan = unsafe { &*arg.cast::<Plan>() };
  let fail = || -> c_int {
    let errno = io::Error::last_os_error()
      .raw_os_error()
      .unwrap_or(libc::EIO);
    plan.error.store(errno, Ordering::Release);
    // SAFETY: _exit(2) ends the child without running anything of the host's.
    unsafe { libc::_exit(127) }
  };
  // SAFETY: raw system calls on memory the child owns (its stack) or reads (the plan);
  // nothing allocates, locks or unwinds.
  unsafe {
    let mut default: libc::sigaction = std::mem::zeroed();
    default.sa_sigaction = libc::SIG_DFL;
    for sig in 1..SIGNALS {
      if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        continue;
      }
      let mut old: libc::sigaction = std::mem::zeroed();
      if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
        continue;
      }
      // The host's handlers point at its code; SIGPIPE, which Node ignores, gets its default
      // as std gives it; other ignored signals stay ignored, as with posix_spawn.
      let handled = old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL;
      if handled || sig == libc::SIGPIPE {
        libc::sigaction(sig, &default, std::ptr::null_mut());
      }
    }
    if libc::setpgid(0, 0) != 0 {
      return fail();
    }
    // Sources below 3 are moved up first, so that placing one never overwrites another.
    let mut fds = plan.stdio;
    for fd in &mut fds {
      if *fd < 3 {
        let up = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
        if up < 0 {
          return fail();
        }
        *fd = up;
      }
    }
    for (target, fd) in (0..).zip(fds) {
      // dup2 leaves the target without FD_CLOEXEC: it survives the exec.
      if libc::dup2(fd, target) < 0 {
        return fail();
      }
    }
    if let Some(cwd) = &plan.cwd {
      if libc::chdir(cwd.as_ptr()) != 0 {
        return fail();
      }
    }
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
      return fail();
    }
    // The host may have died before the line above; then nobody would send it.
    if libc::getppid() != plan.host {
      libc::_exit(1);
    }
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    libc::execve(
      plan.program.as_ptr(),
      plan.argv.as_ptr(),
      plan.envp.as_ptr(),
    );
    plan.exec_failed.store(true, Ordering::Release);
    fail()
  }
}

/// A child spawned here, reaped through its pidfd.
#[derive(Debug)]
pub struct Child {
  pid: libc::pid_t,
  pidfd: Option<AsyncFd<OwnedFd>>,
  status: Option<ExitStatus>,
}

impl Child {
  /// Watches the child `pid` through `pidfd`. Call inside the runtime. On failure the
  /// child is killed and reaped.
  pub(super) fn new(pid: u32, pidfd: OwnedFd) -> io::Result<Child> {
    let pid = pid as libc::pid_t;
    // SAFETY: the registration owns the pidfd, which stays open (and the same descriptor)
    // until it is dropped.
    match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
      Ok(pidfd) => Ok(Child {
        pid,
        pidfd: Some(pidfd),
        status: None,
      }),
      Err(e) => {
        let mut status = 0;
        // SAFETY: our own child, not reaped yet: killed and reaped here.
        unsafe {
          libc::kill(pid, libc::SIGKILL);
          while libc::waitpid(pid, &mut status, 0) == -1
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
          {}
        }
        Err(e.into_parts().1)
      }
    }
  }

  /// Waits for the child to exit and reaps it.
  pub async fn wait(&mut self) -> io::Result<ExitStatus> {
    loop {
      if let Some(status) = self.try_reap()? {
        return Ok(status);
      }
      let Some(pidfd) = &self.pidfd else {
        return Err(io::Error::from_raw_os_error(libc::ECHILD));
      };
      // The pidfd turns readable when the child exits; it is looked at again after.
      pidfd.readable().await?.clear_ready();
    }
  }

  /// The exit status, if the child has exited (it is then reaped).
  fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
    if let Some(status) = self.status {
      return Ok(Some(status));
    }
    let mut status = 0;
    loop {
      // SAFETY: waits without blocking for our own child only.
      let reaped = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
      if reaped == self.pid {
        let status = ExitStatus::from_raw(status);
        self.status = Some(status);
        self.pidfd = None;
        return Ok(Some(status));
      }
      if reaped == 0 {
        return Ok(None);
      }
      let error = io::Error::last_os_error();
      if error.raw_os_error() != Some(libc::EINTR) {
        return Err(error);
      }
    }
  }
}

impl Drop for Child {
  /// A child nobody waits for is still reaped, in the background.
  fn drop(&mut self) {
    let Some(pidfd) = self.pidfd.take() else {
      return;
    };
    let pid = self.pid;
    // Without a runtime (never: children are spawned inside it) the child would stay a
    // zombie until the host exits.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
      runtime.spawn(async move {
        let mut orphan = Child {
          pid,
          pidfd: Some(pidfd),
          status: None,
        };
        let _ = orphan.wait().await;
        // Reaped, or never to be: either way nothing is left to watch.
        orphan.pidfd = None;
      });
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::os::fd::AsRawFd;

  fn plan(program: &str, args: &[&str], stdio: [RawFd; 3]) -> Plan<'static> {
    plan_in(program, args, stdio, "/")
  }

  fn plan_in(program: &str, args: &[&str], stdio: [RawFd; 3], cwd: &str) -> Plan<'static> {
    static ENV: std::sync::OnceLock<super::super::Env> = std::sync::OnceLock::new();
    let env = ENV
      .get_or_init(|| {
        super::super::Env::from(std::collections::HashMap::from([(
          "PATH".to_string(),
          "/usr/bin:/bin".to_string(),
        )]))
      })
      .block()
      .unwrap();
    let argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    Plan::new(
      Path::new(program),
      &argv,
      env,
      env_entry("FN_VFORK_TEST", "yes").unwrap(),
      Some(cwd),
      stdio,
    )
    .unwrap()
  }

  #[tokio::test]
  async fn a_child_runs_with_its_streams_group_directory_and_parent_death_signal() {
    if !available() {
      return;
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let script = r#"echo "$$ $(ps -o pgid= -p $$ 2>/dev/null | tr -d ' ') $(pwd) $FN_VFORK_TEST $0"; grep -E '^(PPid|SigCgt)' /proc/$$/status; exit 3"#;
    let p = plan(
      "/bin/sh",
      &["vforked-sh", "-c", script],
      [null.as_raw_fd(), write.as_raw_fd(), write.as_raw_fd()],
    );
    let (pid, pidfd) = spawn(&p).unwrap().unwrap();
    drop(write);
    let mut child = Child::new(pid, pidfd).unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(3));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut out).unwrap();
    let first = out.lines().next().unwrap();
    assert!(
      first.starts_with(&format!("{pid} ")) && first.ends_with(" / yes vforked-sh"),
      "{out}"
    );
    assert!(
      out.contains(&format!("PPid:\t{}", std::process::id())),
      "{out}"
    );
  }

  #[tokio::test]
  async fn the_child_dies_with_the_thread_that_spawned_it() {
    if !available() {
      return;
    }
    // The parent-death signal follows the spawning thread: one that ends takes its child.
    let (pid, pidfd) = std::thread::spawn(|| {
      let null = std::fs::File::open("/dev/null").unwrap();
      let fd = null.as_raw_fd();
      spawn(&plan("/bin/sleep", &["sleep", "30"], [fd, fd, fd]))
        .unwrap()
        .unwrap()
    })
    .join()
    .unwrap();
    let status = Child::new(pid, pidfd).unwrap().wait().await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
  }

  #[test]
  fn a_failed_exec_is_its_errno() {
    if !available() {
      return;
    }
    let null = std::fs::File::open("/dev/null").unwrap();
    let fd = null.as_raw_fd();
    let p = plan("/nonexistent/program", &["x"], [fd, fd, fd]);
    let err = spawn(&p).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(p.exec_failed(), "the exec failed");
    // The same errno from a step before the exec is told apart.
    let p = plan_in(
      "/bin/true",
      &["true"],
      [fd, fd, fd],
      "/nonexistent/directory",
    );
    let err = spawn(&p).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    assert!(!p.exec_failed(), "the chdir failed, not the exec");
  }
}
