//! Health: what tells the core that a child works, beyond running.
//!
//! A child says it is ready, and keeps a watchdog fed, in one of two ways. Programs written
//! for systemd use its notify protocol: `READY=1` or `WATCHDOG=1` in a datagram to the
//! socket named by `NOTIFY_SOCKET`, which the core opens per supervision run (an abstract
//! address, so nothing is left on disk). The kernel vouches for each sender's pid and user
//! (`SO_PASSCRED`), and only the child and its descendants, as the child's user, are heard:
//! another process cannot make a hung child look alive. The address is public (abstract
//! sockets are listed in `/proc/net/unix`), so the reading is bounded: another user's
//! datagrams cost no look at `/proc`, and one turn of the task reads a few datagrams only. Node children send `'ready'` or `'heartbeat'` over
//! their IPC channel instead ([`Signals`] picks them out of the stream as it is framed).
//!
//! The memory limit and `usage()` read the child's tree from `/proc`: its children lists
//! (only the subtree, not every process), each member's resident pages and CPU ticks.

use std::collections::VecDeque;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{
  bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
  SockFlag, SockType, UnixAddr,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::error::{CoreError, Result};
use crate::procfs::{self, ProcInfo};
use crate::sync::lock;

/// The largest notify datagram read; systemd's own limit is the same order.
const DATAGRAM: usize = 4096;
/// How far up from a sender its parents are followed to find the child.
const MAX_DEPTH: usize = 64;
/// The most processes of one tree that are counted.
const MAX_TREE: usize = 512;

/// What a child said about its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
  /// It is ready (`READY=1`, `'ready'`).
  Ready,
  /// It is alive (`WATCHDOG=1`, `'heartbeat'`).
  Alive,
}

/// The signals a monitor's children sent, whichever way, for the task to take. Shared by
/// the notify socket's reader (the task itself) and the IPC framing (the JS thread or the
/// core's backlog task): a short lock, never held across anything else.
///
/// Kept per child, for the last few children: during a reload two of them talk at once,
/// and one's ping or readiness must not hide the other's.
#[derive(Debug, Default)]
pub struct Signals {
  /// Most recent first.
  children: Mutex<VecDeque<Heard>>,
  /// Wakes the task.
  notify: Notify,
}

/// What one child said.
#[derive(Debug, Clone, Copy)]
struct Heard {
  pid: u32,
  ready: bool,
  pings: u64,
}

/// How many children are remembered (the current one, a reload's new one, and the ones
/// that just left).
const REMEMBERED: usize = 4;

impl Signals {
  /// Records that child `pid` sent `signal`, and wakes the task.
  pub fn record(&self, pid: u32, signal: Signal) {
    {
      let mut children = lock(&self.children);
      let heard = match children.iter().position(|h| h.pid == pid) {
        Some(i) => children.remove(i),
        None => None,
      };
      let mut heard = heard.unwrap_or(Heard {
        pid,
        ready: false,
        pings: 0,
      });
      match signal {
        Signal::Ready => heard.ready = true,
        Signal::Alive => heard.pings += 1,
      }
      children.push_front(heard);
      children.truncate(REMEMBERED);
    }
    self.notify.notify_one();
  }

  fn of(&self, pid: u32) -> Option<Heard> {
    let children = lock(&self.children);
    children.iter().find(|h| h.pid == pid).copied()
  }

  /// Whether child `pid` has said it is ready.
  pub fn is_ready(&self, pid: u32) -> bool {
    self.of(pid).is_some_and(|h| h.ready)
  }

  /// Pings child `pid` sent so far, and whether it sent any.
  pub fn pings(&self, pid: u32) -> (u64, bool) {
    self.of(pid).map_or((0, false), |h| (h.pings, h.pings > 0))
  }

  /// Waits until a signal is recorded.
  pub async fn changed(&self) {
    self.notify.notified().await;
  }
}

/// The serialised IPC messages that carry a signal, as this channel's child sends them.
#[derive(Debug, Clone, Default)]
pub struct IpcSignals {
  /// `process.send('ready')`.
  pub ready: Vec<u8>,
  /// `process.send('heartbeat')`.
  pub alive: Vec<u8>,
}

impl IpcSignals {
  /// The signal `payload` carries, if any.
  pub fn classify(&self, payload: &[u8]) -> Option<Signal> {
    if !self.ready.is_empty() && payload == self.ready.as_slice() {
      Some(Signal::Ready)
    } else if !self.alive.is_empty() && payload == self.alive.as_slice() {
      Some(Signal::Alive)
    } else {
      None
    }
  }
}

/// A monitor's health settings (all off by default).
#[derive(Debug, Clone, Default)]
pub struct HealthConfig {
  /// A child is up only once it says so.
  pub wait_ready: bool,
  /// A child not ready this long after its spawn is taken down.
  pub ready_timeout: Option<std::time::Duration>,
  /// A ready child must ping at least this often.
  pub watchdog: Option<std::time::Duration>,
  /// The most resident memory (bytes) the child's tree may use.
  pub max_memory: Option<u64>,
  /// How often the tree's memory is read, with `max_memory`.
  pub memory_interval: std::time::Duration,
  /// Sent over IPC before the kill signal (serialised as the channel encodes).
  pub shutdown_message: Option<Vec<u8>>,
  /// The IPC messages that carry signals.
  pub ipc: IpcSignals,
}

impl HealthConfig {
  /// Whether children need a notify socket.
  pub fn needs_socket(&self) -> bool {
    self.wait_ready || self.watchdog.is_some()
  }
}

/// The most datagrams one wake-up of the reader takes: a flood of them (the address is
/// public: abstract sockets are listed in `/proc/net/unix`) must not hold the task's other
/// work. The rest waits in the socket for the task's next turn.
const READ_AT_MOST: usize = 32;
/// How many senders' verdicts (in the child's tree or not) are remembered.
const VERDICTS: usize = 16;

/// The notify socket of one supervision run.
pub struct NotifySocket {
  fd: AsyncFd<OwnedFd>,
  address: String,
  /// The only sender uid heard: the children's.
  uid: u32,
  /// Senders already placed (sender pid, child pid, in its tree), newest last: a child's
  /// pings cost one walk up its parents, not one per datagram.
  verdicts: Mutex<VecDeque<(i32, u32, bool)>>,
  /// Test hook: walks made to place a sender.
  #[cfg(feature = "test-hooks")]
  walks: AtomicU64,
}

impl std::fmt::Debug for NotifySocket {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("NotifySocket")
      .field("address", &self.address)
      .finish()
  }
}

impl NotifySocket {
  /// Opens a socket at a fresh abstract address, for children that run as `uid`. Call
  /// inside the runtime.
  pub fn open(uid: u32) -> Result<NotifySocket> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let name = format!(
      "forever-native/{}/{}",
      std::process::id(),
      NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let fail = |e: nix::Error| CoreError::sys("socket", Some(format!("@{name}")), e.into());
    let fd = socket(
      AddressFamily::Unix,
      SockType::Datagram,
      SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
      None,
    )
    .map_err(fail)?;
    // The kernel attaches each sender's pid: what is said is checked against the tree.
    setsockopt(&fd, sockopt::PassCred, &true).map_err(fail)?;
    let address = UnixAddr::new_abstract(name.as_bytes()).map_err(fail)?;
    bind(fd.as_raw_fd(), &address).map_err(fail)?;
    // SAFETY: the registration owns the descriptor, which stays open until it is dropped.
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
      .map_err(|e| CoreError::sys("socket", Some(format!("@{name}")), e.into()))?;
    Ok(NotifySocket {
      fd,
      address: format!("@{name}"),
      uid,
      verdicts: Mutex::new(VecDeque::with_capacity(VERDICTS)),
      #[cfg(feature = "test-hooks")]
      walks: AtomicU64::new(0),
    })
  }

  /// Test hook: how many walks up a sender's parents were made to place it.
  #[cfg(feature = "test-hooks")]
  pub fn walks_for_test(&self) -> u64 {
    self.walks.load(Ordering::Relaxed)
  }

  /// Which of `children` (a child and a reload's new one) `sender` belongs to: itself or
  /// one of its descendants.
  fn placed(&self, sender: i32, children: &[u32]) -> Option<u32> {
    let mut verdicts = lock(&self.verdicts);
    for &child in children {
      let known = verdicts
        .iter()
        .find(|&&(s, c, _)| s == sender && c == child)
        .map(|&(_, _, inside)| inside);
      let inside = match known {
        Some(inside) => inside,
        None => {
          #[cfg(feature = "test-hooks")]
          self.walks.fetch_add(1, Ordering::Relaxed);
          let inside = in_tree(sender, child as i32);
          if verdicts.len() == VERDICTS {
            verdicts.pop_front();
          }
          verdicts.push_back((sender, child, inside));
          inside
        }
      };
      if inside {
        return Some(child);
      }
    }
    None
  }

  /// The value of `NOTIFY_SOCKET` (`@` for the abstract namespace, as systemd writes it).
  pub fn address(&self) -> &str {
    &self.address
  }

  /// Waits until datagrams wait, then reads them, at most [`READ_AT_MOST`]: the signals
  /// of senders in the tree of one of `children` (a child, and a reload's new one) go to
  /// `visit` with that child. Datagrams from another user are dropped on the kernel's word
  /// (the credentials it attaches), without a look at `/proc`; a sender of the children's
  /// user is placed once by a walk up its parents, and remembered.
  pub async fn read(&self, children: &[u32], visit: &mut (dyn FnMut(u32, Signal) + Send)) {
    let Ok(mut guard) = self.fd.readable().await else {
      return std::future::pending().await;
    };
    for _ in 0..READ_AT_MOST {
      let mut buf = [0u8; DATAGRAM];
      let mut cmsg = nix::cmsg_space!(libc::ucred);
      let mut iov = [IoSliceMut::new(&mut buf)];
      let received = recvmsg::<()>(
        self.fd.get_ref().as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
      );
      let (len, sender) = match received {
        Ok(msg) => {
          let sender = msg.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|c| match c {
              ControlMessageOwned::ScmCredentials(cred) => Some((cred.pid(), cred.uid())),
              _ => None,
            })
          });
          (msg.bytes, sender)
        }
        Err(nix::Error::EAGAIN) => {
          guard.clear_ready();
          return;
        }
        Err(nix::Error::EINTR) => continue,
        // Nothing else is expected of a datagram socket; wait for the next one.
        Err(_) => {
          guard.clear_ready();
          return;
        }
      };
      let Some((pid, uid)) = sender else { continue };
      if uid != self.uid {
        continue;
      }
      let said = |line: &[u8]| match line {
        b"READY=1" => Some(Signal::Ready),
        b"WATCHDOG=1" => Some(Signal::Alive),
        _ => None,
      };
      let lines = || buf[..len].split(|&b| b == b'\n').filter_map(said);
      if lines().next().is_none() {
        continue;
      }
      let Some(child) = self.placed(pid, children) else {
        continue;
      };
      for signal in lines() {
        visit(child, signal);
      }
    }
  }
}

/// Whether `pid` is `root` or one of its descendants (followed up its parents).
pub fn in_tree(pid: i32, root: i32) -> bool {
  let mut current = pid;
  for _ in 0..MAX_DEPTH {
    if current == root {
      return true;
    }
    match procfs::proc_info(current) {
      Some(info) if info.ppid > 1 => current = info.ppid,
      _ => return false,
    }
  }
  false
}

/// What a child's tree uses, read from `/proc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeUsage {
  /// Processes in the tree, the child included, and those outside it that carry its tag
  /// (at most 512 of each are counted).
  pub pids: u32,
  /// Resident memory of the child alone, in bytes.
  pub rss: u64,
  /// Resident memory of the whole tree, in bytes (shared pages are counted in each).
  pub tree_rss: u64,
  /// CPU time of the whole tree, in clock ticks.
  pub cpu_ticks: u64,
}

/// How many pids handed out since the last look are looked at one by one; past that, every
/// process is.
const WINDOW_AT_MOST: i32 = 4096;
/// How often every process is looked at anyway: pid numbers may wrap between two looks.
const FULL_LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How many looks a process starting a new program (no environment yet) is given.
const UNSURE_LOOKS: u8 = 3;

/// The processes that carry a child's [tag](crate::tag) — its descendants, wherever they
/// went: a double-forked daemon's parent link no longer leads to the child, but `stop()`
/// kills it through the tag, so the memory limit counts it too. Each pid is looked at once,
/// among those handed out since the last look (every process at the first look, and now and
/// then), and the tagged ones are remembered while they live.
#[derive(Debug)]
pub struct Tagged {
  /// `FOREVER_NATIVE_TAG=<value>`, as `/proc/<pid>/environ` holds it.
  entry: Vec<u8>,
  /// The newest pid looked at.
  looked_to: Option<i32>,
  /// When every process was last looked at.
  full_at: Option<std::time::Instant>,
  /// Tagged processes found, with their start times (a pid alone may be reused).
  known: Vec<(i32, u64)>,
  /// Processes that showed no environment yet (starting a new program), with looks left.
  unsure: Vec<(i32, u8)>,
}

impl Tagged {
  /// The processes tagged `entry` (`NAME=value`).
  pub fn new(entry: &[u8]) -> Tagged {
    Tagged {
      entry: entry.to_vec(),
      looked_to: None,
      full_at: None,
      known: Vec::new(),
      unsure: Vec::new(),
    }
  }

  /// Looks for tagged processes started since the last look; returns the live ones known.
  fn look(&mut self) -> &[(i32, u64)] {
    let last = procfs::last_pid();
    let full_due = self
      .full_at
      .is_none_or(|at| at.elapsed() >= FULL_LOOK_EVERY);
    let window = match (self.looked_to, last) {
      (Some(from), Some(to)) if !full_due => {
        let max = procfs::pid_max();
        let count = if to >= from {
          to - from
        } else {
          max - from + to
        };
        (count <= WINDOW_AT_MOST).then_some((from, count, max))
      }
      _ => None,
    };
    let me = std::process::id() as i32;
    let unsure = std::mem::take(&mut self.unsure);
    match window {
      Some((from, count, max)) => {
        for step in 1..=count {
          let pid = if from + step > max {
            from + step - max
          } else {
            from + step
          };
          self.consider(pid, me, UNSURE_LOOKS);
        }
      }
      None => {
        self.full_at = Some(std::time::Instant::now());
        let mut pids = Vec::new();
        procfs::for_each_pid(&mut |pid| {
          pids.push(pid);
          true
        });
        for pid in pids {
          self.consider(pid, me, UNSURE_LOOKS);
        }
      }
    }
    for (pid, looks) in unsure {
      if looks > 1 {
        self.consider(pid, me, looks - 1);
      }
    }
    if last.is_some() {
      self.looked_to = last;
    }
    // The dead, and pids that now name another process, are forgotten.
    self
      .known
      .retain(|&(pid, start)| !procfs::is_dead(pid) && procfs::start_time(pid) == Some(start));
    &self.known
  }

  /// Looks at `pid` once: remembered when tagged, looked at again when it shows no
  /// environment yet.
  fn consider(&mut self, pid: i32, me: i32, looks: u8) {
    if pid == me || self.known.iter().any(|&(p, _)| p == pid) || self.known.len() >= MAX_TREE {
      return;
    }
    // Most pids handed out since the last look are gone already: one system call says so.
    // SAFETY: signal 0 only checks whether the process exists.
    if unsafe { libc::kill(pid, 0) } == -1
      && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
      return;
    }
    match procfs::environ(pid, &self.entry, false) {
      // A thread's id is a pid number too, and shows its process's environment: counted, it
      // would count the process's memory once per thread.
      procfs::Environ::Has if procfs::is_process(pid) => {
        if let Some(start) = procfs::start_time(pid) {
          self.known.push((pid, start));
        }
      }
      procfs::Environ::Empty if !procfs::is_dead(pid) && self.unsure.len() < MAX_TREE => {
        self.unsure.push((pid, looks));
      }
      _ => {}
    }
  }
}

/// Reads the usage of `root` and its descendants, and of the processes that carry its tag
/// wherever they are (`tagged`); `None` when `root` is gone.
pub fn tree_usage(root: i32, tagged: Option<&mut Tagged>) -> Option<TreeUsage> {
  let page = page_size();
  let rss = procfs::resident_pages(root)? * page;
  let mut usage = TreeUsage {
    pids: 1,
    rss,
    tree_rss: rss,
    cpu_ticks: procfs::cpu_ticks(root).unwrap_or(0),
  };
  let mut seen = [ProcInfo {
    pid: 0,
    ppid: 0,
    pgid: 0,
    state: 0,
  }; MAX_TREE];
  let found = procfs::walk_descendants(root, &mut seen, &mut |info| {
    usage.pids += 1;
    usage.tree_rss += procfs::resident_pages(info.pid).unwrap_or(0) * page;
    usage.cpu_ticks += procfs::cpu_ticks(info.pid).unwrap_or(0);
  });
  if let Some(tagged) = tagged {
    let walked = &seen[..found];
    for &(pid, _) in tagged.look() {
      if pid == root || walked.iter().any(|p| p.pid == pid) {
        continue;
      }
      usage.pids += 1;
      usage.tree_rss += procfs::resident_pages(pid).unwrap_or(0) * page;
      usage.cpu_ticks += procfs::cpu_ticks(pid).unwrap_or(0);
    }
  }
  Some(usage)
}

fn page_size() -> u64 {
  static PAGE: AtomicU64 = AtomicU64::new(0);
  let cached = PAGE.load(Ordering::Relaxed);
  if cached != 0 {
    return cached;
  }
  // SAFETY: sysconf reads a constant of the system.
  let size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
  PAGE.store(size, Ordering::Relaxed);
  size
}

/// Clock ticks per second, for turning CPU ticks into time.
pub fn ticks_per_second() -> u64 {
  // SAFETY: sysconf reads a constant of the system.
  u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
    .ok()
    .filter(|&t| t > 0)
    .unwrap_or(100)
}

/// A shared handle on the signals, for closures.
pub type SharedSignals = Arc<Signals>;

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn two_children_talking_at_once_are_heard_apart() {
    let signals = Signals::default();
    signals.record(10, Signal::Ready);
    signals.record(10, Signal::Alive);
    signals.record(11, Signal::Alive);
    signals.record(11, Signal::Ready);
    signals.record(10, Signal::Alive);
    // The old child's readiness and pings are not hidden by the new one's, nor the reverse.
    assert!(signals.is_ready(10) && signals.is_ready(11));
    assert_eq!(signals.pings(10), (2, true));
    assert_eq!(signals.pings(11), (1, true));
    assert_eq!(signals.pings(12), (0, false));
    for pid in 20..30 {
      signals.record(pid, Signal::Alive);
    }
    assert!(
      !signals.is_ready(10),
      "only the last few children are remembered"
    );
    assert_eq!(signals.pings(29), (1, true));
  }

  #[test]
  fn ipc_payloads_are_told_apart_exactly() {
    let ipc = IpcSignals {
      ready: b"\"ready\"".to_vec(),
      alive: b"\"heartbeat\"".to_vec(),
    };
    assert_eq!(ipc.classify(b"\"ready\""), Some(Signal::Ready));
    assert_eq!(ipc.classify(b"\"heartbeat\""), Some(Signal::Alive));
    assert_eq!(ipc.classify(b"\"ready \""), None);
    assert_eq!(ipc.classify(b"{\"ready\":1}"), None);
    assert_eq!(IpcSignals::default().classify(b""), None);
  }

  #[test]
  fn the_own_process_is_in_its_own_tree_and_not_in_another() {
    let me = std::process::id() as i32;
    assert!(in_tree(me, me));
    let parent = procfs::proc_info(me).unwrap().ppid;
    assert!(in_tree(me, parent));
    assert!(!in_tree(parent, me));
  }

  #[test]
  fn the_own_tree_uses_memory() {
    let usage = tree_usage(std::process::id() as i32, None).unwrap();
    assert!(usage.rss > 1024 * 1024, "{usage:?}");
    assert!(usage.tree_rss >= usage.rss);
    assert!(usage.pids >= 1);
  }

  #[test]
  fn tagged_processes_outside_the_tree_are_counted() {
    let spawn = |tag: Option<&str>| {
      let mut cmd = std::process::Command::new("sleep");
      cmd.arg("30");
      if let Some(tag) = tag {
        cmd.env("FN_USAGE_TEST_TAG", tag);
      }
      cmd.spawn().unwrap()
    };
    // `root` and a tagged process that is not its descendant (a sibling, as a daemon that
    // left the tree is).
    let mut root = spawn(None);
    let mut away = spawn(Some("1"));
    let mut other = spawn(Some("2"));
    let root_pid = root.id() as i32;
    let entry = b"FN_USAGE_TEST_TAG=1";
    // A child spawned with vfork shows its environment a moment after spawn() returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !procfs::environ_has(away.id() as i32, entry, false) {
      assert!(std::time::Instant::now() < deadline);
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(tree_usage(root_pid, None).unwrap().pids, 1);
    let mut tagged = Tagged::new(entry);
    let usage = tree_usage(root_pid, Some(&mut tagged)).unwrap();
    assert_eq!(usage.pids, 2, "the first look finds it among every process");
    assert!(usage.tree_rss > usage.rss);
    // One started after the first look is found among the pids handed out since.
    let mut later = spawn(Some("1"));
    while !procfs::environ_has(later.id() as i32, entry, false) {
      assert!(std::time::Instant::now() < deadline);
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(tree_usage(root_pid, Some(&mut tagged)).unwrap().pids, 3);
    // Gone, it is no longer counted.
    away.kill().unwrap();
    away.wait().unwrap();
    assert_eq!(tree_usage(root_pid, Some(&mut tagged)).unwrap().pids, 2);
    for child in [&mut root, &mut other, &mut later] {
      child.kill().unwrap();
      child.wait().unwrap();
    }
  }

  #[tokio::test]
  async fn a_notify_datagram_is_read_with_its_senders_pid() {
    // SAFETY: getuid(2) cannot fail.
    let socket = NotifySocket::open(unsafe { libc::getuid() }).unwrap();
    assert!(socket.address().starts_with("@forever-native/"));
    let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let name = &socket.address()[1..];
    let addr =
      <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(
        name.as_bytes(),
      )
      .unwrap();
    sender
      .send_to_addr(b"STATUS=starting\nREADY=1\nWATCHDOG=1", &addr)
      .unwrap();
    let mut seen = Vec::new();
    let me = std::process::id();
    // This process is in its own tree, not in its child's.
    socket
      .read(&[1_000_000_000, me], &mut |child, s| seen.push((child, s)))
      .await;
    assert_eq!(seen, [(me, Signal::Ready), (me, Signal::Alive)]);
  }
}
