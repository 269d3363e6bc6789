//! Reading `/proc`: parent links, process groups, and the tag each child carries in its
//! environment.
//!
//! Everything here works with raw system calls and buffers on the stack, and allocates
//! nothing: the guardian calls it in a process forked from a multi-threaded host, where
//! only async-signal-safe code may run. The few helpers that return a `Vec` are thin
//! wrappers for the rest of the core.

use std::ffi::c_int;

/// A live process's parent and process group, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
  /// The process.
  pub pid: i32,
  /// Its parent.
  pub ppid: i32,
  /// Its process group.
  pub pgid: i32,
  /// Its state letter (`R`, `S`, `Z`, …).
  pub state: u8,
}

/// An open descriptor, closed when dropped.
struct Fd(c_int);

impl Drop for Fd {
  fn drop(&mut self) {
    // SAFETY: the descriptor was opened by `open_at` and is closed once, here.
    unsafe { libc::close(self.0) };
  }
}

/// A NUL-terminated path of the form `/proc/<pid>/<rest>`, built on the stack.
struct ProcPath {
  buf: [u8; 96],
  len: usize,
}

impl ProcPath {
  fn new(parts: &[&[u8]]) -> Option<ProcPath> {
    let mut path = ProcPath {
      buf: [0; 96],
      len: 0,
    };
    for part in parts {
      path.push(part)?;
    }
    Some(path)
  }

  fn push(&mut self, bytes: &[u8]) -> Option<()> {
    // One byte stays free for the terminating NUL.
    let end = self.len.checked_add(bytes.len())?;
    if end >= self.buf.len() {
      return None;
    }
    self.buf[self.len..end].copy_from_slice(bytes);
    self.len = end;
    Some(())
  }

  fn push_number(&mut self, n: i32) -> Option<()> {
    let mut digits = [0u8; 12];
    let text = format_decimal(n, &mut digits);
    self.push(text)
  }

  fn open(&self, flags: c_int) -> Option<Fd> {
    // SAFETY: `buf` is NUL-terminated (it is zeroed and `push` keeps a byte free).
    let fd = unsafe { libc::open(self.buf.as_ptr().cast(), flags | libc::O_CLOEXEC) };
    (fd >= 0).then_some(Fd(fd))
  }
}

/// Writes `n` in decimal into `out`, returning the digits.
fn format_decimal(n: i32, out: &mut [u8; 12]) -> &[u8] {
  let mut value = n.unsigned_abs();
  let mut at = out.len();
  loop {
    at -= 1;
    out[at] = b'0' + (value % 10) as u8;
    value /= 10;
    if value == 0 {
      break;
    }
  }
  if n < 0 {
    at -= 1;
    out[at] = b'-';
  }
  &out[at..]
}

fn pid_path(pid: i32, rest: &[u8]) -> Option<ProcPath> {
  let mut path = ProcPath::new(&[b"/proc/"])?;
  path.push_number(pid)?;
  path.push(rest)?;
  Some(path)
}

/// Reads as much of `fd` as fits in `buf`; the number of bytes read.
fn read_all(fd: &Fd, buf: &mut [u8]) -> usize {
  let mut filled = 0;
  while filled < buf.len() {
    // SAFETY: the pointer and length describe the unfilled part of `buf`.
    let n = unsafe { libc::read(fd.0, buf[filled..].as_mut_ptr().cast(), buf.len() - filled) };
    if n < 0 && errno() == libc::EINTR {
      continue;
    }
    if n <= 0 {
      break;
    }
    filled += n as usize;
  }
  filled
}

fn errno() -> c_int {
  std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn parse_decimal(text: &[u8]) -> Option<i64> {
  if text.is_empty() || text.len() > 18 {
    return None;
  }
  let (negative, digits) = match text.first() {
    Some(b'-') => (true, &text[1..]),
    _ => (false, text),
  };
  let mut value: i64 = 0;
  for &b in digits {
    if !b.is_ascii_digit() {
      return None;
    }
    value = value * 10 + i64::from(b - b'0');
  }
  Some(if negative { -value } else { value })
}

/// Calls `visit` with every entry of the directory at `path` whose name is a number,
/// until it returns false. Directory entries are read with `getdents64` into a buffer on
/// the stack.
fn for_each_numbered(path: &ProcPath, visit: &mut dyn FnMut(i32) -> bool) {
  let Some(dir) = path.open(libc::O_RDONLY | libc::O_DIRECTORY) else {
    return;
  };
  let mut buf = [0u8; 4096];
  loop {
    // SAFETY: getdents64 writes at most `buf.len()` bytes of records into `buf`.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.0, buf.as_mut_ptr(), buf.len()) };
    if n < 0 && errno() == libc::EINTR {
      continue;
    }
    if n <= 0 {
      return;
    }
    let records = &buf[..n as usize];
    let mut at = 0;
    // Each record: d_ino (8), d_off (8), d_reclen (2), d_type (1), then the NUL-terminated
    // name.
    while at + 19 <= records.len() {
      let reclen = usize::from(u16::from_ne_bytes([records[at + 16], records[at + 17]]));
      if reclen == 0 || at + reclen > records.len() {
        return;
      }
      let name = &records[at + 19..at + reclen];
      let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
      if let Some(number) = parse_decimal(name).and_then(|n| i32::try_from(n).ok()) {
        if number > 0 && !visit(number) {
          return;
        }
      }
      at += reclen;
    }
  }
}

/// Calls `visit` with every process id on the machine, until it returns false.
pub fn for_each_pid(visit: &mut dyn FnMut(i32) -> bool) {
  if let Some(path) = ProcPath::new(&[b"/proc"]) {
    for_each_numbered(&path, visit);
  }
}

/// Reads `/proc/<pid>/stat`: parent, group and state.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
  let stat = Stat::of(pid)?;
  Some(ProcInfo {
    pid,
    ppid: stat.ppid,
    pgid: stat.pgid,
    state: stat.state,
  })
}

/// The fields of a `/proc/<pid>/stat` the core reads (numbered as in proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
  /// Field 3: the state letter (`R`, `S`, `Z`, …).
  state: u8,
  /// Field 4: the parent.
  ppid: i32,
  /// Field 5: the process group.
  pgid: i32,
  /// Field 14: CPU time in user mode, in clock ticks.
  utime: u64,
  /// Field 15: CPU time in kernel mode, in clock ticks.
  stime: u64,
  /// Field 22: when the process started, in clock ticks since boot.
  start_time: u64,
  /// Fields 48 to 51, when asked for: where the argument and environment strings are
  /// (`arg_start`, `arg_end`, `env_start`, `env_end`). `None` when not asked for (they lie
  /// thirty fields further, and walks read every process's stat) or not there (a kernel
  /// before 3.5): nothing else depends on them.
  strings: Option<[usize; 4]>,
}

impl Stat {
  /// `/proc/<pid>/stat`, read and parsed (without the strings area).
  fn of(pid: i32) -> Option<Stat> {
    Stat::read(&pid_path(pid, b"/stat")?, false)
  }

  /// The stat file at `path`, read into a buffer on the stack and parsed; the strings area
  /// too with `strings`.
  fn read(path: &ProcPath, strings: bool) -> Option<Stat> {
    let fd = path.open(libc::O_RDONLY)?;
    let mut buf = [0u8; 1024];
    let len = read_all(&fd, &mut buf);
    Stat::parse(&buf[..len], strings)
  }

  /// Parses the text of a stat file: "pid (comm) state ppid pgrp …". The command name may
  /// hold spaces and parentheses, so the fields are counted from its last `)`. Fields the
  /// core does not use are skipped without being parsed (some do not fit an `i64`); the
  /// strings area is parsed only with `strings`.
  fn parse(stat: &[u8], strings: bool) -> Option<Stat> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..]
      .split(|&b| b == b' ' || b == b'\n')
      .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // The next field's number, or the one `skip` fields later.
    let mut number = |skip: usize| parse_decimal(fields.nth(skip)?);
    let ppid = i32::try_from(number(0)?).ok()?;
    let pgid = i32::try_from(number(0)?).ok()?;
    // Fields 6 to 13 come before utime (14).
    let utime = u64::try_from(number(8)?).ok()?;
    let stime = u64::try_from(number(0)?).ok()?;
    // Fields 16 to 21 come before the start time (22).
    let start_time = u64::try_from(number(6)?).ok()?;
    // Fields 23 to 47 come before arg_start (48).
    let mut address = |skip: usize| usize::try_from(number(skip)?).ok();
    let strings = strings
      .then(|| Some([address(25)?, address(0)?, address(0)?, address(0)?]))
      .flatten();
    Some(Stat {
      state,
      ppid,
      pgid,
      utime,
      stime,
      start_time,
      strings,
    })
  }
}

/// CPU time `pid` has used (user and system), in clock ticks.
pub fn cpu_ticks(pid: i32) -> Option<u64> {
  Stat::of(pid).map(|stat| stat.utime + stat.stime)
}

/// Resident memory of `pid`, in pages (`/proc/<pid>/statm`'s second field).
pub fn resident_pages(pid: i32) -> Option<u64> {
  let fd = pid_path(pid, b"/statm")?.open(libc::O_RDONLY)?;
  let mut buf = [0u8; 128];
  let len = read_all(&fd, &mut buf);
  let mut fields = buf[..len]
    .split(|&b| b == b' ' || b == b'\n')
    .filter(|f| !f.is_empty());
  u64::try_from(parse_decimal(fields.nth(1)?)?).ok()
}

/// When `pid` started, in clock ticks since boot: with the pid, it names one process for
/// good, where a pid alone may be reused.
pub fn start_time(pid: i32) -> Option<u64> {
  Stat::of(pid).map(|stat| stat.start_time)
}

/// Whether `pid` names a process rather than one of its threads: `/proc/<tid>` answers
/// for a thread too (it is only left out of the listing), with its process's environment.
pub fn is_process(pid: i32) -> bool {
  let Some(fd) = pid_path(pid, b"/status").and_then(|p| p.open(libc::O_RDONLY)) else {
    return false;
  };
  // "Tgid:" is on the fourth line, well within the first 512 bytes.
  let mut buf = [0u8; 512];
  let len = read_all(&fd, &mut buf);
  buf[..len]
    .split(|&b| b == b'\n')
    .find_map(|line| line.strip_prefix(b"Tgid:"))
    .and_then(|rest| {
      let digits: &[u8] = rest.trim_ascii();
      parse_decimal(digits)
    })
    .is_some_and(|tgid| tgid == i64::from(pid))
}

/// True when `pid` is gone or a zombie: it holds nothing any more (its descriptors and
/// ports were released when it exited).
pub fn is_dead(pid: i32) -> bool {
  proc_info(pid).is_none_or(|info| info.state == b'Z' || info.state == b'X')
}

/// Whether `pid` is a member of process group `pgid` that has not exited. A zombie holds
/// nothing any more (its descriptors and ports went when it exited), and whoever should
/// reap it may take its time, or never do it: a host that is pid 1 in a container adopts
/// orphans it does not know to reap.
pub fn is_live_member(pgid: i32, pid: i32) -> bool {
  proc_info(pid).is_some_and(|info| info.pgid == pgid && info.state != b'Z' && info.state != b'X')
}

/// A member of process group `pgid` that has not exited, looked for among every process;
/// `None` when the group is empty or holds only zombies.
pub fn live_member(pgid: i32) -> Option<i32> {
  let mut found = None;
  for_each_pid(&mut |pid| {
    if is_live_member(pgid, pid) {
      found = Some(pid);
      return false;
    }
    true
  });
  found
}

/// Calls `visit` with each child of `pid`, from `/proc/<pid>/task/*/children` (each
/// thread's own). Returns false when the kernel lacks those files (CONFIG_PROC_CHILDREN)
/// or `pid` is gone.
pub fn for_each_child(pid: i32, visit: &mut dyn FnMut(i32)) -> bool {
  let Some(tasks) = pid_path(pid, b"/task") else {
    return false;
  };
  let mut seen_any = false;
  for_each_numbered(&tasks, &mut |tid| {
    let Some(mut path) = pid_path(pid, b"/task/") else {
      return false;
    };
    if path
      .push_number(tid)
      .and_then(|_| path.push(b"/children"))
      .is_none()
    {
      return true;
    }
    let Some(fd) = path.open(libc::O_RDONLY) else {
      return true;
    };
    seen_any = true;
    // One number after another, separated by spaces; read in pieces so that a long list
    // needs no large buffer.
    let mut buf = [0u8; 512];
    let mut carry = [0u8; 12];
    let mut carried = 0;
    loop {
      // SAFETY: the pointer and length describe `buf`.
      let n = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), buf.len()) };
      if n < 0 && errno() == libc::EINTR {
        continue;
      }
      if n <= 0 {
        break;
      }
      for &b in &buf[..n as usize] {
        if b.is_ascii_digit() && carried < carry.len() {
          carry[carried] = b;
          carried += 1;
        } else if carried > 0 {
          if let Some(kid) = parse_decimal(&carry[..carried]).and_then(|k| i32::try_from(k).ok()) {
            visit(kid);
          }
          carried = 0;
        }
      }
    }
    if carried > 0 {
      if let Some(kid) = parse_decimal(&carry[..carried]).and_then(|k| i32::try_from(k).ok()) {
        visit(kid);
      }
    }
    true
  });
  seen_any
}

/// Calls `visit` with every live descendant of `root`, walking down the children lists
/// (only the subtree is read). At most `N` descendants are found; `seen` is their store.
pub fn walk_descendants<const N: usize>(
  root: i32,
  seen: &mut [ProcInfo; N],
  visit: &mut dyn FnMut(ProcInfo),
) -> usize {
  let mut found = 0;
  let mut next = 0;
  let mut current = root;
  loop {
    for_each_child(current, &mut |kid| {
      if found == N || seen[..found].iter().any(|s| s.pid == kid) {
        return;
      }
      if let Some(info) = proc_info(kid) {
        seen[found] = info;
        found += 1;
        visit(info);
      }
    });
    if next == found {
      return found;
    }
    current = seen[next].pid;
    next += 1;
  }
}

/// Every live descendant of `root`, found through `/proc` parent links.
pub fn descendants(root: i32) -> Vec<ProcInfo> {
  let mut seen = Box::new(
    [ProcInfo {
      pid: 0,
      ppid: 0,
      pgid: 0,
      state: 0,
    }; 4096],
  );
  let found = walk_descendants(root, &mut seen, &mut |_| {});
  seen[..found].to_vec()
}

/// What `/proc/<pid>/environ` says of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environ {
  /// The entry is there.
  Has,
  /// The environment is there, without the entry (or the process may not be read).
  Lacks,
  /// No environment at all: a zombie, a kernel thread, or a process starting a new
  /// program (the kernel sets the new environment up after waking a vfork parent).
  Empty,
}

/// Whether the environment `pid` started with holds an entry that is exactly `entry`
/// (`NAME=value`), or, with `prefix`, one that begins with it. Read in pieces on the
/// stack; a process that may not be read (another user's) does not match.
pub fn environ_has(pid: i32, entry: &[u8], prefix: bool) -> bool {
  environ(pid, entry, prefix) == Environ::Has
}

/// As [`environ_has`], telling an empty environment apart.
pub fn environ(pid: i32, entry: &[u8], prefix: bool) -> Environ {
  const MISMATCH: usize = usize::MAX;
  if entry.is_empty() {
    return Environ::Lacks;
  }
  let Some(fd) = pid_path(pid, b"/environ").and_then(|p| p.open(libc::O_RDONLY)) else {
    return Environ::Lacks;
  };
  let mut buf = [0u8; 4096];
  let mut total = 0usize;
  // How much of `entry` the current variable has matched so far.
  let mut matched = 0usize;
  loop {
    // SAFETY: the pointer and length describe `buf`.
    let n = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 && errno() == libc::EINTR {
      continue;
    }
    if n <= 0 {
      return if matched == entry.len() {
        Environ::Has
      } else if total == 0 && n == 0 {
        Environ::Empty
      } else {
        Environ::Lacks
      };
    }
    total += n as usize;
    for &b in &buf[..n as usize] {
      if b == 0 {
        if matched == entry.len() {
          return Environ::Has;
        }
        matched = 0;
      } else if matched != MISMATCH {
        if matched < entry.len() && entry[matched] == b {
          matched += 1;
          if prefix && matched == entry.len() {
            return Environ::Has;
          }
        } else {
          matched = MISMATCH;
        }
      }
    }
  }
}

/// The pid most recently handed out in this pid namespace. The file stays open: each
/// child's exit reads it, and a read from its start is one system call.
pub fn last_pid() -> Option<i32> {
  static FILE: std::sync::OnceLock<Option<Fd>> = std::sync::OnceLock::new();
  let fd = FILE
    .get_or_init(|| ProcPath::new(&[b"/proc/sys/kernel/ns_last_pid"])?.open(libc::O_RDONLY))
    .as_ref()?;
  let mut buf = [0u8; 16];
  // SAFETY: reads at most `buf.len()` bytes into `buf` from offset 0 of our own file.
  let n = unsafe { libc::pread(fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
  let len = usize::try_from(n).ok()?;
  let text = buf[..len].split(|&b| b == b'\n').next()?;
  i32::try_from(parse_decimal(text)?).ok()
}

/// The highest pid this system hands out (`/proc/sys/kernel/pid_max`).
pub fn pid_max() -> i32 {
  static MAX: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
  *MAX.get_or_init(|| {
    let read = || -> Option<i32> {
      let fd = ProcPath::new(&[b"/proc/sys/kernel/pid_max"])?.open(libc::O_RDONLY)?;
      let mut buf = [0u8; 16];
      let len = read_all(&fd, &mut buf);
      let text = buf[..len].split(|&b| b == b'\n').next()?;
      i32::try_from(parse_decimal(text)?).ok()
    };
    read().unwrap_or(4_194_304)
  })
}

/// The processes whose environment holds `entry` exactly, among those for which `wanted`
/// is true.
pub fn tagged(entry: &[u8], wanted: impl Fn(i32) -> bool) -> Vec<i32> {
  let mut found = Vec::new();
  let me = std::process::id() as i32;
  for_each_pid(&mut |pid| {
    if pid != me && wanted(pid) && environ_has(pid, entry, false) {
      found.push(pid);
    }
    true
  });
  found
}

/// The addresses of this process's argument and environment strings, from
/// `/proc/self/stat` (fields 48 to 51), for rewriting its command line in place.
pub fn own_strings_area() -> Option<(usize, usize, usize, usize)> {
  let [arg_start, arg_end, env_start, env_end] =
    Stat::read(&ProcPath::new(&[b"/proc/self/stat"])?, true)?.strings?;
  Some((arg_start, arg_end, env_start, env_end))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn parent_links_find_our_own_children() {
    let mut child = std::process::Command::new("sleep")
      .arg("5")
      .spawn()
      .unwrap();
    let me = std::process::id() as i32;
    let kid = child.id() as i32;
    let info = proc_info(kid).unwrap();
    assert_eq!(info.ppid, me);
    assert_eq!(info.pgid, proc_info(me).unwrap().pgid);
    assert!(descendants(me).iter().any(|p| p.pid == kid));
    let mut pids = Vec::new();
    for_each_pid(&mut |pid| {
      pids.push(pid);
      true
    });
    assert!(pids.contains(&kid) && pids.contains(&me));
    assert!(!is_dead(kid));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(is_dead(kid));
  }

  #[test]
  fn environment_entries_match_whole_or_by_prefix() {
    let mut child = std::process::Command::new("sleep")
      .arg("5")
      .env("FN_TEST_TAG", "12.34.5")
      .env("FN_OTHER", "x")
      .spawn()
      .unwrap();
    let kid = child.id() as i32;
    // A child spawned with vfork shows its new environment a moment after spawn() returns
    // (the kernel wakes the parent before it has set up the new program's stack).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !environ_has(kid, b"FN_TEST_TAG=12.34.5", false) {
      assert!(
        std::time::Instant::now() < deadline,
        "the child's environment never showed"
      );
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(environ_has(kid, b"FN_TEST_TAG=12.34.", true));
    assert!(!environ_has(kid, b"FN_TEST_TAG=12.34.", false));
    assert!(!environ_has(kid, b"FN_TEST_TAG=12.34.55", false));
    assert!(
      !environ_has(kid, b"TEST_TAG=12.34.5", false),
      "inside a name"
    );
    assert_eq!(tagged(b"FN_TEST_TAG=12.34.5", |_| true), vec![kid]);
    child.kill().unwrap();
    child.wait().unwrap();
  }

  #[test]
  fn threads_are_told_from_processes() {
    let me = std::process::id() as i32;
    assert!(is_process(me));
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
      // SAFETY: gettid(2) cannot fail.
      tx.send(unsafe { libc::gettid() }).unwrap();
      let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap();
    assert_ne!(tid, me);
    assert!(!is_process(tid), "a thread is not a process");
    done_tx.send(()).unwrap();
    thread.join().unwrap();
  }

  #[test]
  fn last_pid_and_start_time_are_read() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    // The last pid handed out is this child's or a later one's; pids wrap at pid_max (other
    // tests fork meanwhile, so a wrap may have come and gone): in range is what is sure.
    let pid_max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
      .unwrap()
      .trim()
      .parse()
      .unwrap();
    let last = last_pid().unwrap();
    assert!(last > 0 && last <= pid_max, "{last}");
    assert!(start_time(std::process::id() as i32).unwrap() > 0);
    child.wait().unwrap();
  }

  #[test]
  fn own_strings_area_is_ordered() {
    let (arg_start, arg_end, env_start, env_end) = own_strings_area().unwrap();
    assert!(arg_start < arg_end && arg_end <= env_start && env_start <= env_end);
  }

  /// A stat line as the kernel writes it, for a process named `comm` (fields 3 to 52).
  fn stat_line(comm: &str) -> String {
    let mut fields: Vec<String> = (3..=52).map(|n| format!("{}", n * 10)).collect();
    fields[0] = "S".to_string();
    // rsslim (25) unlimited: more digits than an i64 holds, never parsed.
    fields[25 - 3] = "18446744073709551615".to_string();
    format!("4242 ({comm}) {}\n", fields.join(" "))
  }

  #[test]
  fn a_stat_line_is_read_after_the_last_parenthesis_of_its_command_name() {
    for comm in ["sleep", "a b", "x) (y z", ") S 1 2 3 (", "((", ""] {
      let line = stat_line(comm);
      let stat = Stat::parse(line.as_bytes(), true).unwrap_or_else(|| panic!("{line}"));
      assert_eq!(
        stat,
        Stat {
          state: b'S',
          ppid: 40,
          pgid: 50,
          utime: 140,
          stime: 150,
          start_time: 220,
          strings: Some([480, 490, 500, 510]),
        },
        "{line}"
      );
      // Not asked for: the same, without the strings area.
      let without = Stat::parse(line.as_bytes(), false);
      assert_eq!(
        without,
        Some(Stat {
          strings: None,
          ..stat
        }),
        "{line}"
      );
    }
    // Cut after the start time (a kernel before 3.5): no strings, the rest as usual.
    let line = stat_line("old)kernel");
    let cut = line.split(' ').take(22).collect::<Vec<_>>().join(" ");
    let stat = Stat::parse(cut.as_bytes(), true).unwrap();
    assert_eq!((stat.start_time, stat.strings), (220, None));
    // Cut before it, or not a stat line at all: nothing.
    let cut = line.split(' ').take(21).collect::<Vec<_>>().join(" ");
    assert_eq!(Stat::parse(cut.as_bytes(), true), None);
    assert_eq!(Stat::parse(b"4242 (no close S 1 2 3", true), None);
    assert_eq!(Stat::parse(b"", true), None);
    let bad = stat_line("x").replace(" 40 ", " forty ");
    assert_eq!(Stat::parse(bad.as_bytes(), true), None);
  }

  #[test]
  fn a_live_process_named_with_spaces_and_parentheses_is_read() {
    // The kernel names a process after the file it runs: a link named so runs `sleep`.
    let dir = std::env::temp_dir().join(format!("fn-procfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let named = dir.join("x) (y z");
    std::os::unix::fs::symlink("/bin/sleep", &named).unwrap();
    let mut child = std::process::Command::new(&named).arg("5").spawn().unwrap();
    let kid = child.id() as i32;
    // SAFETY: getpid, getpgrp and getppid cannot fail and touch no memory.
    let (me, group) = unsafe { (libc::getpid(), libc::getpgrp()) };
    let stat = Stat::of(kid).unwrap();
    assert_eq!((stat.ppid, stat.pgid), (me, group));
    assert!(stat.start_time > 0);
    assert_eq!(proc_info(kid).map(|i| (i.ppid, i.pgid)), Some((me, group)));
    assert!(cpu_ticks(kid).is_some());
    assert_eq!(start_time(kid), Some(stat.start_time));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Our own, through /proc/self: the same reading.
    let own = Stat::read(&ProcPath::new(&[b"/proc/self/stat"]).unwrap(), true).unwrap();
    // SAFETY: as above.
    assert_eq!(own.ppid, unsafe { libc::getppid() });
    assert_eq!(own.pgid, group);
    assert!(own.strings.is_some());
  }

  #[test]
  fn decimals_format_and_parse() {
    let mut buf = [0u8; 12];
    assert_eq!(format_decimal(0, &mut buf), b"0");
    assert_eq!(format_decimal(4194304, &mut buf), b"4194304");
    assert_eq!(format_decimal(-12, &mut buf), b"-12");
    assert_eq!(parse_decimal(b"123"), Some(123));
    assert_eq!(parse_decimal(b"12a"), None);
    assert_eq!(parse_decimal(b""), None);
  }
}
