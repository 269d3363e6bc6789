//! Signalling a child's process tree, and what is left of it once the child has exited.

use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::procfs;
use crate::tag::Tag;

/// Which processes a signal reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
  /// The process alone.
  Process,
  /// The process and every descendant (found through `/proc`), as `ps-tree` would.
  Descendants,
  /// A child we started as a group leader: its group, and descendants that left it.
  Group,
}

/// Sends `sig` to `pid` and, as `reach` says, to its tree. Processes that are already gone
/// are not an error.
pub fn signal_tree(pid: u32, sig: Signal, reach: Reach) {
  let Ok(pid) = i32::try_from(pid) else {
    return;
  };
  if pid <= 1 {
    return;
  }
  // Collected before signalling: once a process dies its children are re-parented and
  // the links that find them are gone.
  let below = match reach {
    Reach::Process => Vec::new(),
    Reach::Descendants | Reach::Group => procfs::descendants(pid),
  };
  // Each process gets the signal once: a second SIGTERM is, for many programs, "force".
  if reach == Reach::Group {
    let _ = signal::killpg(Pid::from_raw(pid), sig);
    // A child that moved itself to another group is not reached by the line above.
    if procfs::proc_info(pid).is_some_and(|me| me.pgid != pid) {
      let _ = signal::kill(Pid::from_raw(pid), sig);
    }
  } else {
    let _ = signal::kill(Pid::from_raw(pid), sig);
  }
  for p in below {
    if reach != Reach::Group || p.pgid != pid {
      let _ = signal::kill(Pid::from_raw(p.pid), sig);
    }
  }
}

/// Children younger than this are looked for among the pids handed out since they
/// started; older ones among all processes (pid numbers may have wrapped meanwhile).
const RECENT: Duration = Duration::from_secs(1);

/// What an exited child left running: its process group (members that stayed in it) and
/// every process that carries its tag (its descendants, wherever they went).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftovers {
  pgid: i32,
  /// Tagged processes outside the group.
  strays: Vec<i32>,
  /// Tagged processes inside it.
  members: Vec<i32>,
  /// The entry to look for, and the pid window, for the second look.
  tag: Vec<u8>,
  window: Window,
  /// The last signal sent, for what a later look finds.
  sent: Option<Signal>,
  looked_again: bool,
  /// Live processes of the window that showed no environment (starting a new program),
  /// with the looks left to give them.
  unsure: Vec<(i32, u8)>,
  /// A live member of the group found by the last look, looked at first by the next.
  live_hint: Option<i32>,
}

/// Which pids may belong to an exited child's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
  /// Handed out after the child: (child, last], wrapping at the top.
  Since { child: i32, last: i32 },
  /// Any: the child lived long enough for the numbers to wrap.
  All,
}

/// Whether orphans are re-parented to this process (it is pid 1, or a subreaper): then its
/// children may be anyone's descendants.
fn adopts_orphans() -> bool {
  static ADOPTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
  *ADOPTS.get_or_init(|| {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer.
    let subreaper =
      unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag) } == 0 && flag != 0;
    std::process::id() == 1 || subreaper
  })
}

/// How many looks (a few milliseconds apart) a process starting a new program is given to
/// show its environment.
const UNSURE_LOOKS: u8 = 5;

/// Windows up to this many pids are looked at pid by pid.
const PROBE_AT_MOST: i32 = 256;

impl Window {
  /// The pids of a small window, in order; `None` for a large one (or all).
  fn pids(self) -> Option<impl Iterator<Item = i32>> {
    let Window::Since { child, last } = self else {
      return None;
    };
    let max = procfs::pid_max();
    let count = if last >= child {
      last - child
    } else {
      max - child + last
    };
    (count <= PROBE_AT_MOST).then(|| {
      (1..=count).map(move |step| {
        let pid = child + step;
        if pid > max {
          pid - max
        } else {
          pid
        }
      })
    })
  }

  fn holds(self, pid: i32) -> bool {
    match self {
      Window::Since { child, last } if last >= child => pid > child && pid <= last,
      // The numbers wrapped: the window runs to the top, then from the bottom.
      Window::Since { child, last } => pid > child || pid <= last,
      Window::All => true,
    }
  }
}

impl Leftovers {
  /// Finds what the child `pid` (the leader of group `pid`, tagged `tag`) left, now that
  /// it has been reaped after `uptime`. `siblings` takes out of a list of pids the other
  /// children the host supervises (never this child's descendants). `None` when nothing
  /// is left.
  pub fn find(
    pid: u32,
    tag: &Tag,
    uptime: Duration,
    siblings: &dyn Fn(&mut Vec<i32>),
  ) -> Option<Leftovers> {
    let pgid = i32::try_from(pid).ok().filter(|&p| p > 1)?;
    let newest = procfs::last_pid();
    // Everything the child started was started after it, so has a newer pid: when no pid
    // was handed out since, nothing can be left (the cheap path of a crash loop).
    if uptime < RECENT && newest == Some(pgid) {
      return None;
    }
    let window = match newest {
      Some(last) if uptime < RECENT => Window::Since { child: pgid, last },
      _ => Window::All,
    };
    let mut leftovers = Leftovers {
      pgid,
      strays: Vec::new(),
      members: Vec::new(),
      tag: tag.entry().to_vec(),
      window,
      sent: None,
      looked_again: false,
      unsure: Vec::new(),
      live_hint: None,
    };
    leftovers.scan(siblings);
    (!leftovers.is_gone()).then_some(leftovers)
  }

  /// Adds the tagged processes not known yet; returns them.
  fn scan(&mut self, siblings: &dyn Fn(&mut Vec<i32>)) -> Vec<i32> {
    let window = self.window;
    let known: Vec<i32> = self.strays.iter().chain(&self.members).copied().collect();
    let found = match window.pids() {
      // A few pids handed out since the child started (the usual case): each is looked at
      // directly, which costs less than listing every process.
      Some(pids) => {
        let mut alive: Vec<i32> = pids.filter(|pid| !known.contains(pid)).collect();
        let adopts = adopts_orphans();
        if !adopts {
          // The other monitors' children, started meanwhile, are the host's own children,
          // never this child's descendants: known without a look at each.
          siblings(&mut alive);
        }
        // Most of the rest are gone already: one system call each says so.
        alive
          .retain(|&pid| signal::kill(Pid::from_raw(pid), None) != Err(nix::errno::Errno::ESRCH));
        let host = std::process::id() as i32;
        let mut found = Vec::new();
        for pid in alive {
          let Some(info) = procfs::proc_info(pid) else {
            continue;
          };
          // Gone already, a kernel thread (kthreadd's child), or the host's own child.
          if info.state == b'Z' || info.ppid == 2 || (info.ppid == host && !adopts) {
            continue;
          }
          match procfs::environ(pid, &self.tag, false) {
            // A thread's id answers with its process's environment: signalled on its own,
            // the process would get the signal once per thread.
            procfs::Environ::Has if procfs::is_process(pid) => found.push(pid),
            procfs::Environ::Empty if !self.unsure.iter().any(|(p, _)| *p == pid) => {
              self.unsure.push((pid, UNSURE_LOOKS));
            }
            _ => {}
          }
        }
        found
      }
      None => procfs::tagged(&self.tag, |pid| window.holds(pid) && !known.contains(&pid)),
    };
    self.sort(&found);
    found
  }

  fn sort(&mut self, found: &[i32]) {
    for &pid in found {
      if procfs::proc_info(pid).is_some_and(|info| info.pgid == self.pgid) {
        self.members.push(pid);
      } else {
        self.strays.push(pid);
      }
    }
  }

  /// Looks again at the processes that were starting a new program: those that turn out
  /// tagged get the signal the others got.
  fn settle_unsure(&mut self) {
    let mut found = Vec::new();
    let mut still = Vec::new();
    for (pid, looks) in std::mem::take(&mut self.unsure) {
      match procfs::environ(pid, &self.tag, false) {
        procfs::Environ::Has if procfs::is_process(pid) => found.push(pid),
        procfs::Environ::Empty if looks > 1 && !procfs::is_dead(pid) => {
          still.push((pid, looks - 1))
        }
        _ => {}
      }
    }
    self.unsure = still;
    self.sort(&found);
    if let Some(sig) = self.sent {
      for pid in found {
        let _ = signal::kill(Pid::from_raw(pid), sig);
      }
    }
  }

  /// Looks once more for tagged processes, a moment after the first look: one that was
  /// starting a new program then showed no environment yet (the kernel sets it up after
  /// waking a vfork parent). What it finds gets the signal the others got.
  pub fn look_again(&mut self) {
    self.settle_unsure();
    self.catch_movers();
    if std::mem::replace(&mut self.looked_again, true) {
      return;
    }
    let found = self.scan(&|_| {});
    if let Some(sig) = self.sent {
      for pid in found {
        let _ = signal::kill(Pid::from_raw(pid), sig);
      }
    }
  }

  /// Sends `sig` to each leftover once: the group, and the strays outside it.
  pub fn signal(&mut self, sig: Signal) {
    self.sent = Some(sig);
    let _ = signal::killpg(Pid::from_raw(self.pgid), sig);
    for &pid in &self.strays {
      let _ = signal::kill(Pid::from_raw(pid), sig);
    }
    self.catch_movers();
  }

  /// Members seen in the group that have left it since (a `setsid` between the look and
  /// the signal): the group's signal may have missed them, so they get it on their own.
  fn catch_movers(&mut self) {
    let Some(sig) = self.sent else { return };
    let pgid = self.pgid;
    let (moved, stayed): (Vec<i32>, Vec<i32>) = self
      .members
      .iter()
      .partition(|&&pid| procfs::proc_info(pid).is_some_and(|info| info.pgid != pgid));
    for &pid in &moved {
      let _ = signal::kill(Pid::from_raw(pid), sig);
    }
    self.members = stayed;
    self.strays.extend(moved);
  }

  /// True once nothing is left: every tagged process has exited (a zombie holds nothing),
  /// and the group is empty or holds only such processes.
  pub fn is_gone(&mut self) -> bool {
    if !self.unsure.is_empty() {
      return false;
    }
    let tagged_dead = self
      .strays
      .iter()
      .chain(&self.members)
      .all(|&p| procfs::is_dead(p));
    tagged_dead && !self.group_alive()
  }

  /// Whether the group still holds a live process. A group that exists may hold only
  /// zombies — killed members whose parent (not us) has not reaped them yet, or never will
  /// (a host that is pid 1 in a container): they hold nothing, and waiting for them held
  /// the next child for the cleanup's full second. Members that cleared their environment
  /// (never found by the tag) count like the others.
  fn group_alive(&mut self) -> bool {
    let pgid = self.pgid;
    if signal::killpg(Pid::from_raw(pgid), None).is_err() {
      return false;
    }
    // The cheap looks first: the member alive last time, and those found by the tag.
    let known = self
      .live_hint
      .into_iter()
      .chain(self.members.iter().copied());
    for pid in known {
      if procfs::is_live_member(pgid, pid) {
        self.live_hint = Some(pid);
        return true;
      }
    }
    self.live_hint = self.live_member();
    self.live_hint.is_some()
  }

  /// A live member of the group, looked for among the pids handed out since the child
  /// started (every member is its descendant, so has a newer pid) while they are few, else
  /// among every process.
  fn live_member(&self) -> Option<i32> {
    let pgid = self.pgid;
    let window = match self.window {
      // Up to the newest pid now: a member may have been forked after the first look.
      Window::Since { child, .. } => match procfs::last_pid() {
        Some(last) => Window::Since { child, last },
        None => Window::All,
      },
      Window::All => Window::All,
    };
    match window.pids() {
      Some(mut pids) => pids.find(|&pid| procfs::is_live_member(pgid, pid)),
      None => procfs::live_member(pgid),
    }
  }

  /// How many processes were found.
  pub fn count(&self) -> usize {
    self.strays.len() + self.members.len()
  }
}

/// Sends `sig` to what is left of a process group once its leader has been reaped.
pub fn signal_group(pgid: u32, sig: Signal) {
  if let Ok(pgid) = i32::try_from(pgid) {
    if pgid > 1 {
      let _ = signal::killpg(Pid::from_raw(pgid), sig);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::os::unix::process::CommandExt;

  /// Waits (at most 5 s) until `pid`, a child of ours, has exited and is a zombie.
  fn until_zombie(pid: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while procfs::proc_info(pid).is_some_and(|info| info.state != b'Z') {
      assert!(std::time::Instant::now() < deadline, "{pid} never exited");
      std::thread::sleep(Duration::from_millis(1));
    }
  }

  #[test]
  fn a_tagged_process_is_found_once_not_once_per_thread() {
    let python = "/usr/bin/python3";
    if !std::path::Path::new(python).exists() {
      return;
    }
    // A child that has exited and been reaped: the window starts after its pid.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let tag = Tag::next();
    // A tagged process with three threads, left by a shell that exits (so that it is not
    // this process's own child), which prints its pid once its threads run.
    let script = "import os, threading, time\n\
      for _ in range(3): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n\
      print(os.getpid(), flush=True)\n\
      time.sleep(30)";
    let mut shell = std::process::Command::new("sh")
      .args(["-c", "\"$0\" -c \"$1\" &", python, script])
      .env(crate::tag::NAME, tag.value())
      .stdout(std::process::Stdio::piped())
      .spawn()
      .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
      &mut std::io::BufReader::new(shell.stdout.take().unwrap()),
      &mut line,
    )
    .unwrap();
    shell.wait().unwrap();
    let threaded: i32 = line.trim().parse().unwrap();
    let left = Leftovers::find(gone.id(), &tag, Duration::ZERO, &|_| {});
    let _ = signal::kill(Pid::from_raw(threaded), Signal::SIGKILL);
    let left = left.unwrap();
    assert_eq!(left.strays, [threaded], "{left:?}");
  }

  #[test]
  fn a_group_holding_only_zombies_is_gone() {
    // A group of two processes that have exited and that nobody reaps yet (they are our
    // children, zombies until we wait for them): the group still exists for the kernel.
    let mut leader = std::process::Command::new("true")
      .process_group(0)
      .spawn()
      .unwrap();
    let pgid = leader.id() as i32;
    let mut member = std::process::Command::new("true")
      .process_group(pgid)
      .spawn()
      .unwrap();
    until_zombie(pgid);
    until_zombie(member.id() as i32);
    assert!(signal::killpg(Pid::from_raw(pgid), None).is_ok());
    let mut left = Leftovers {
      pgid,
      strays: Vec::new(),
      members: Vec::new(),
      tag: b"FN_NO_SUCH_TAG=1".to_vec(),
      window: Window::All,
      sent: None,
      looked_again: true,
      unsure: Vec::new(),
      live_hint: None,
    };
    assert!(left.is_gone(), "zombies hold nothing: the group is gone");
    // A live process joining the group makes it alive again, found without the tag.
    let mut live = std::process::Command::new("sleep")
      .arg("30")
      .process_group(pgid)
      .spawn()
      .unwrap();
    assert!(
      !left.is_gone(),
      "a live member that carries no tag still counts"
    );
    live.kill().unwrap();
    live.wait().unwrap();
    assert!(left.is_gone());
    leader.wait().unwrap();
    member.wait().unwrap();
  }
}
