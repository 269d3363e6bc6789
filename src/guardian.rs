//! The guardian: a tiny process that takes the children's process groups down with the
//! host, however the host dies.
//!
//! `PR_SET_PDEATHSIG` kills a direct child when the host dies, but not the child's own
//! children. So the first time a non-detached child is spawned, the host forks a guardian
//! (double-forked, so the host never has to reap it, and in its own session, so terminal
//! signals pass it by). The host tells it which process groups are live over a pipe whose
//! write end only the host holds. When the host dies — even by SIGKILL — the kernel closes
//! that end, the guardian reads EOF, sends SIGKILL to every group still registered, and
//! exits, having also killed the descendants that left those groups. Until the host is
//! gone the guardian makes raw system calls only: it was forked from a multi-threaded
//! process, so nothing that may take a lock is allowed while it waits.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

/// Most process groups the guardian tracks at once; later ones are not tracked.
const CAPACITY: usize = 4096;
const WATCH: u32 = 1;
const FORGET: u32 = 2;
const RECORD: usize = 8;

static GUARDIAN: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Starts the guardian if it is not running yet; false when it could not be started (it
/// is tried again next time: a host short of descriptors for a moment keeps its guardian).
pub fn available() -> bool {
  guardian().is_some()
}

/// The write end of the guardian's pipe, starting the guardian first if need be.
fn guardian() -> MutexGuard<'static, Option<OwnedFd>> {
  let mut guardian = GUARDIAN.lock().unwrap_or_else(|p| p.into_inner());
  if guardian.is_none() {
    *guardian = start();
  }
  guardian
}

/// Asks the guardian to kill process group `pgid` if the host dies.
pub fn watch(pgid: u32) {
  send(WATCH, pgid);
}

/// The group's leader has been reaped: the guardian can stop tracking it.
pub fn forget(pgid: u32) {
  send(FORGET, pgid);
}

fn send(op: u32, pgid: u32) {
  let guardian = guardian();
  let Some(fd) = guardian.as_ref() else {
    return;
  };
  let mut record = [0u8; RECORD];
  record[..4].copy_from_slice(&op.to_le_bytes());
  record[4..].copy_from_slice(&pgid.to_le_bytes());
  loop {
    let n = unsafe { libc::write(fd.as_raw_fd(), record.as_ptr().cast(), RECORD) };
    if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
      break;
    }
  }
}

fn start() -> Option<OwnedFd> {
  let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
  let read_fd = read.as_raw_fd();
  match unsafe { libc::fork() } {
    -1 => None,
    0 => unsafe {
      if libc::fork() == 0 {
        guard(read_fd);
      }
      libc::_exit(0)
    },
    middle => {
      // Reap exactly the short-lived middle process; never wait for anything else.
      let mut status = 0;
      while unsafe { libc::waitpid(middle, &mut status, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
      {}
      drop(read);
      Some(write)
    }
  }
}

/// The guardian's whole life. Raw system calls only (see the module comment).
unsafe fn guard(read_fd: i32) -> ! {
  libc::setsid();
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
  let fd = libc::dup2(read_fd, 3);
  if fd != 3 || libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) != 0 {
    for other in 4..65536 {
      libc::close(other);
    }
  }
  let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
  if null >= 0 {
    for std_fd in 0..3 {
      libc::dup2(null, std_fd);
    }
  }

  let mut groups = [0i32; CAPACITY];
  let mut count = 0usize;
  let mut buf = [0u8; 512];
  let mut filled = 0usize;
  loop {
    let n = libc::read(3, buf.as_mut_ptr().add(filled).cast(), buf.len() - filled);
    if n < 0 && *libc::__errno_location() == libc::EINTR {
      continue;
    }
    if n <= 0 {
      break;
    }
    filled += n as usize;
    let whole = filled - filled % RECORD;
    let mut at = 0;
    while at < whole {
      let op = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
      let pgid = i32::from_le_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]]);
      if op == WATCH && pgid > 1 && count < CAPACITY {
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
  // The host is gone and this process is single-threaded now, with the allocator in a
  // consistent state (glibc's fork resets its locks), so the tree can be walked: first
  // find every descendant of every group's leader — including those that moved to a
  // session of their own — while the parent links still stand, then kill them all.
  let groups = &groups[..count];
  let strays: Vec<i32> = groups
    .iter()
    .flat_map(|&pgid| {
      crate::process::descendants(pgid)
        .into_iter()
        .filter(move |p| p.pgid != pgid)
        .map(|p| p.pid)
    })
    .collect();
  for &pgid in groups {
    libc::kill(-pgid, libc::SIGKILL);
  }
  for pid in strays {
    libc::kill(pid, libc::SIGKILL);
  }
  libc::_exit(0)
}
