//! Spawning a child and signalling its process tree.
//!
//! Every child starts as the leader of its own process group, so one `killpg` reaches the
//! child and every descendant that stayed in the group; descendants that moved to another
//! group are found by walking `/proc` parent links. A child that is not `detached` is
//! registered with the [`guardian`](crate::guardian), which kills its group when the host
//! dies; where the guardian is missing, or the spawn must fork anyway, the child also gets
//! `PR_SET_PDEATHSIG` (from a runtime thread that lives as long as the host). Reaping goes
//! through tokio's pidfd reaper, which waits for our own pids only and never competes with
//! libuv's SIGCHLD handling.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Mutex;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::Deserialize;
use tokio::net::unix::pipe;

use crate::error::{CoreError, Result};
use crate::guardian;
use crate::ipc::{self, Serialization};

/// How one of the child's standard streams is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum StdioSpec {
  /// A pipe read by the core (output) or held open by it (input).
  Pipe,
  /// The host's own stream.
  Inherit,
  /// `/dev/null`.
  Ignore,
  /// A host file descriptor, given by number.
  Fd(i32),
}

impl TryFrom<String> for StdioSpec {
  type Error = String;

  fn try_from(value: String) -> std::result::Result<Self, String> {
    match value.as_str() {
      "pipe" | "overlapped" => Ok(StdioSpec::Pipe),
      "inherit" => Ok(StdioSpec::Inherit),
      "ignore" => Ok(StdioSpec::Ignore),
      other => other
        .parse::<i32>()
        .ok()
        .filter(|fd| *fd >= 0)
        .map(StdioSpec::Fd)
        .ok_or_else(|| format!("stdio entry {other:?} is not supported")),
    }
  }
}

fn default_stdio() -> [StdioSpec; 3] {
  [StdioSpec::Pipe, StdioSpec::Pipe, StdioSpec::Pipe]
}

/// Everything needed to start one child, already validated by `index.js`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpawnSpec {
  /// The program, looked up in the child's `PATH` when it has no slash.
  pub command: String,
  /// Arguments after the program.
  #[serde(default)]
  pub args: Vec<String>,
  /// `argv[0]` as the child sees it, when it should differ from `command`.
  #[serde(default)]
  pub argv0: Option<String>,
  /// The child's working directory.
  #[serde(default)]
  pub cwd: Option<String>,
  /// The child's whole environment (nothing else is inherited).
  #[serde(default)]
  pub env: HashMap<String, String>,
  /// Unix user id to run as.
  #[serde(default)]
  pub uid: Option<u32>,
  /// Unix group id to run as.
  #[serde(default)]
  pub gid: Option<u32>,
  /// Start the child in its own session and let it outlive the host.
  #[serde(default)]
  pub detached: bool,
  /// stdin, stdout and stderr.
  #[serde(default = "default_stdio")]
  pub stdio: [StdioSpec; 3],
  /// The child's fd number for Node's IPC channel (`'ipc'` in Node's `stdio`), if any.
  #[serde(default)]
  pub ipc: Option<i32>,
  /// How IPC messages are encoded.
  #[serde(default)]
  pub serialization: Serialization,
}

/// A freshly started child with the host's ends of its pipes.
pub struct Spawned {
  /// The child, reaped through tokio (pidfd on Linux).
  pub child: tokio::process::Child,
  /// Its pid, which is also its process group id.
  pub pid: u32,
  /// The read end of its stdout pipe, when stdout is `pipe`.
  pub stdout: Option<pipe::Receiver>,
  /// The read end of its stderr pipe, when stderr is `pipe`.
  pub stderr: Option<pipe::Receiver>,
  /// The core's end of the IPC channel, when the child has one.
  pub ipc: Option<OwnedFd>,
}

/// Capacity asked for the child's stdout and stderr pipes.
const OUTPUT_PIPE_SIZE: libc::c_int = 1 << 20;

fn io_pipe(what: &'static str) -> Result<(OwnedFd, OwnedFd)> {
  nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
    .map_err(|e| CoreError::sys(what, None, std::io::Error::from(e)))
}

/// stdout or stderr: a log file the child writes itself takes the place of a pipe.
fn output_for(spec: StdioSpec, file: Option<fs::File>) -> Result<(Stdio, Option<OwnedFd>)> {
  match (spec, file) {
    (StdioSpec::Pipe, Some(file)) => Ok((Stdio::from(file), None)),
    (spec, _) => stdio_for(spec, true),
  }
}

fn stdio_for(spec: StdioSpec, output: bool) -> Result<(Stdio, Option<OwnedFd>)> {
  Ok(match spec {
    StdioSpec::Inherit => (Stdio::inherit(), None),
    StdioSpec::Ignore => (Stdio::null(), None),
    StdioSpec::Fd(fd) => {
      let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
      // Checked by dup: a closed descriptor becomes an EBADF error, not a bad child.
      let owned = borrowed
        .try_clone_to_owned()
        .map_err(|e| CoreError::sys("dup", Some(format!("fd {fd}")), e))?;
      (Stdio::from(owned), None)
    }
    StdioSpec::Pipe if output => {
      let (read, write) = io_pipe("pipe")?;
      // A larger pipe lets a chatty child run ahead between reads: fewer wake-ups and
      // system calls per byte. Best effort (capped by /proc/sys/fs/pipe-max-size).
      unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETPIPE_SZ, OUTPUT_PIPE_SIZE) };
      (Stdio::from(write), Some(read))
    }
    StdioSpec::Pipe => (Stdio::from(held_open_input()?), None),
  })
}

/// A stdin for children that never sees data or EOF, as a Node `'pipe'` nobody writes to.
/// All children share one pipe whose write end the core holds for ever: a monitor costs
/// no descriptor for it.
fn held_open_input() -> Result<OwnedFd> {
  // Created on first use; a failure (no descriptor left) is not remembered.
  static PIPE: Mutex<Option<(OwnedFd, OwnedFd)>> = Mutex::new(None);
  let mut pipe = PIPE.lock().unwrap_or_else(|p| p.into_inner());
  if pipe.is_none() {
    *pipe = Some(io_pipe("pipe")?);
  }
  let (read, _write) = pipe.as_ref().ok_or_else(|| {
    CoreError::sys(
      "pipe",
      None,
      std::io::Error::from_raw_os_error(libc::EMFILE),
    )
  })?;
  read
    .try_clone()
    .map_err(|e| CoreError::sys("dup", Some("stdin pipe".to_string()), e))
}

/// Starts a child as `spec` says; `direct` are files it writes itself in place of piped
/// stdout and stderr. Must run on the core's runtime: the child's parent-death signal
/// follows the spawning thread, and runtime workers live as long as the host.
pub fn spawn(spec: &SpawnSpec, direct: [Option<fs::File>; 2]) -> Result<Spawned> {
  if let Some(cwd) = &spec.cwd {
    match fs::metadata(cwd) {
      Ok(meta) if meta.is_dir() => {}
      Ok(_) => {
        return Err(CoreError::sys(
          "chdir",
          cwd.clone(),
          std::io::Error::from_raw_os_error(libc::ENOTDIR),
        ))
      }
      Err(e) => return Err(CoreError::sys("chdir", cwd.clone(), e)),
    }
  }

  // Room for what spawning needs after the fork: tokio's pidfd for the child. Without it,
  // tokio falls back to a SIGCHLD reaper whose set-up panics when no descriptor is left,
  // so a host at its descriptor limit gets a clean EMFILE here instead.
  let reserve = (0..2)
    .map(|_| {
      fs::File::open("/dev/null").map_err(|e| CoreError::sys("spawn", spec.command.clone(), e))
    })
    .collect::<Result<Vec<_>>>()?;

  // Resolved here, with the child's own PATH: std can then use posix_spawn (vfork speed)
  // instead of fork, which copies the host's page tables.
  let program = resolve(&spec.command, &spec.env);
  let mut cmd = tokio::process::Command::new(&program);
  if spec.argv0.is_none() {
    cmd.arg0(&spec.command);
  }
  cmd.args(&spec.args);
  cmd.env_clear();
  cmd.envs(&spec.env);
  if let Some(cwd) = &spec.cwd {
    cmd.current_dir(cwd);
  }
  if let Some(argv0) = &spec.argv0 {
    cmd.arg0(argv0);
  }
  if let Some(gid) = spec.gid {
    cmd.gid(gid);
  }
  if let Some(uid) = spec.uid {
    cmd.uid(uid);
  }
  cmd.kill_on_drop(false);

  let (mut stdin, _) = stdio_for(spec.stdio[0], false)?;
  let [direct_out, direct_err] = direct;
  let (mut stdout, stdout_read) = output_for(spec.stdio[1], direct_out)?;
  let (mut stderr, stderr_read) = output_for(spec.stdio[2], direct_err)?;

  let mut ipc_parent = None;
  // Kept open until the child has been spawned: the child inherits it.
  let mut _ipc_child = None;
  if let Some(fd) = spec.ipc {
    let (parent, child) = ipc::pair()?;
    cmd.env("NODE_CHANNEL_FD", fd.to_string());
    cmd.env(
      "NODE_CHANNEL_SERIALIZATION_MODE",
      spec.serialization.env_value(),
    );
    match fd {
      0 => stdin = Stdio::from(child),
      1 => stdout = Stdio::from(child),
      2 => stderr = Stdio::from(child),
      fd => {
        let raw = child.as_raw_fd();
        _ipc_child = Some(child);
        unsafe {
          cmd.pre_exec(move || {
            // Async-signal-safe calls only. The channel must sit at `fd` and survive exec.
            if raw == fd {
              let flags = libc::fcntl(fd, libc::F_GETFD);
              if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
              }
            } else if libc::dup2(raw, fd) < 0 {
              return Err(std::io::Error::last_os_error());
            }
            Ok(())
          });
        }
      }
    }
    ipc_parent = Some(parent);
  }
  cmd.stdin(stdin).stdout(stdout).stderr(stderr);

  if spec.detached {
    // As Node does for `detached`: a new session, so the child survives the host.
    unsafe {
      cmd.pre_exec(|| {
        nix::unistd::setsid().map_err(std::io::Error::from)?;
        Ok(())
      });
    }
  } else {
    cmd.process_group(0);
    // With the guardian up, the child needs no code run between fork and exec, and std can
    // spawn it with posix_spawn (CLONE_VM): measured here, 1,490 restarts/s against 656/s
    // for fork + exec from a Node host. Where the spawn forks anyway (uid/gid, an IPC fd
    // above 2) or there is no guardian, the parent-death signal costs nothing extra.
    let forks_anyway =
      spec.uid.is_some() || spec.gid.is_some() || spec.ipc.is_some_and(|fd| fd > 2);
    if forks_anyway || !guardian::available() {
      let host = nix::unistd::getpid();
      unsafe {
        cmd.pre_exec(move || {
          // Async-signal-safe calls only: this runs between fork and exec.
          nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
          // The host may have died before the line above; then nobody would send it.
          if nix::unistd::getppid() != host {
            libc::_exit(1);
          }
          Ok(())
        });
      }
    }
  }

  drop(reserve);
  let child = cmd
    .spawn()
    .map_err(|e| CoreError::sys("spawn", spec.command.clone(), e))?;
  let pid = child.id().unwrap_or(0);
  let to_receiver = |fd: Option<OwnedFd>| -> Result<Option<pipe::Receiver>> {
    fd.map(|fd| pipe::Receiver::from_owned_fd(fd).map_err(|e| CoreError::sys("pipe", None, e)))
      .transpose()
  };
  Ok(Spawned {
    child,
    pid,
    stdout: to_receiver(stdout_read)?,
    stderr: to_receiver(stderr_read)?,
    ipc: ipc_parent,
  })
}

/// Finds `command` in the child's `PATH` (as `execvp` would), when it has no slash.
fn resolve(command: &str, env: &HashMap<String, String>) -> std::path::PathBuf {
  use std::os::unix::fs::PermissionsExt;
  if command.contains('/') {
    return command.into();
  }
  let path = env
    .get("PATH")
    .map_or("/usr/local/bin:/usr/bin:/bin", String::as_str);
  path
    .split(':')
    .map(|dir| std::path::Path::new(if dir.is_empty() { "." } else { dir }).join(command))
    .find(|candidate| {
      fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
    .unwrap_or_else(|| command.into())
}

/// The name Node uses for a signal number (`SIGTERM`), if it is one.
pub fn signal_name(raw: i32) -> Option<&'static str> {
  Signal::try_from(raw).ok().map(|s| s.as_str())
}

/// A live process's parent and process group, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcInfo {
  /// The process.
  pub pid: i32,
  /// Its parent.
  pub ppid: i32,
  /// Its process group.
  pub pgid: i32,
}

/// Every live descendant of `root`, found through `/proc` parent links.
pub fn descendants(root: i32) -> Vec<ProcInfo> {
  if children_of(root).is_some() {
    return subtree(root);
  }
  scan_descendants(root)
}

/// The children of `pid`, from `/proc/<pid>/task/*/children` (each thread's own); `None`
/// when the kernel lacks those files (CONFIG_PROC_CHILDREN) or `pid` is gone.
fn children_of(pid: i32) -> Option<Vec<i32>> {
  let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
  let mut kids = Vec::new();
  let mut seen_any = false;
  for task in tasks.flatten() {
    let Ok(text) = fs::read_to_string(task.path().join("children")) else {
      continue;
    };
    seen_any = true;
    kids.extend(
      text
        .split_ascii_whitespace()
        .filter_map(|p| p.parse::<i32>().ok()),
    );
  }
  seen_any.then_some(kids)
}

/// Walks down from `root` through the children lists: reads only the subtree, where a
/// scan of all of `/proc` would read every process on the machine for each stop.
fn subtree(root: i32) -> Vec<ProcInfo> {
  let mut found: Vec<ProcInfo> = Vec::new();
  let mut stack = vec![root];
  while let Some(pid) = stack.pop() {
    for kid in children_of(pid).unwrap_or_default() {
      if found.iter().any(|f| f.pid == kid) {
        continue;
      }
      if let Some(info) = proc_info(kid) {
        found.push(info);
        stack.push(kid);
      }
    }
  }
  found
}

/// The same as [`descendants`] by reading every process's parent from `/proc`.
fn scan_descendants(root: i32) -> Vec<ProcInfo> {
  let mut children: HashMap<i32, Vec<ProcInfo>> = HashMap::new();
  let Ok(entries) = fs::read_dir("/proc") else {
    return Vec::new();
  };
  for entry in entries.flatten() {
    let Some(pid) = entry
      .file_name()
      .to_str()
      .and_then(|s| s.parse::<i32>().ok())
    else {
      continue;
    };
    if let Some(info) = proc_info(pid) {
      children.entry(info.ppid).or_default().push(info);
    }
  }
  let mut found: Vec<ProcInfo> = Vec::new();
  let mut stack = vec![root];
  while let Some(pid) = stack.pop() {
    for kid in children.get(&pid).into_iter().flatten() {
      if !found.iter().any(|f| f.pid == kid.pid) {
        found.push(*kid);
        stack.push(kid.pid);
      }
    }
  }
  found
}

fn proc_info(pid: i32) -> Option<ProcInfo> {
  let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
  // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so cut at the
  // last ')'.
  let close = stat.iter().rposition(|&b| b == b')')?;
  let mut fields = std::str::from_utf8(&stat[close + 1..])
    .ok()?
    .split_ascii_whitespace();
  fields.next()?; // state
  let ppid = fields.next()?.parse().ok()?;
  let pgid = fields.next()?.parse().ok()?;
  Some(ProcInfo { pid, ppid, pgid })
}

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
    Reach::Descendants | Reach::Group => descendants(pid),
  };
  // Each process gets the signal once: a second SIGTERM is, for many programs, "force".
  if reach == Reach::Group {
    let _ = signal::killpg(Pid::from_raw(pid), sig);
    // A child that moved itself to another group is not reached by the line above.
    if proc_info(pid).is_some_and(|me| me.pgid != pid) {
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

  #[test]
  fn stdio_spec_parses_node_forms() {
    assert_eq!(StdioSpec::try_from("pipe".to_string()), Ok(StdioSpec::Pipe));
    assert_eq!(
      StdioSpec::try_from("ignore".to_string()),
      Ok(StdioSpec::Ignore)
    );
    assert_eq!(
      StdioSpec::try_from("inherit".to_string()),
      Ok(StdioSpec::Inherit)
    );
    assert_eq!(StdioSpec::try_from("2".to_string()), Ok(StdioSpec::Fd(2)));
    assert!(StdioSpec::try_from("-1".to_string()).is_err());
    assert!(StdioSpec::try_from("ipc".to_string()).is_err());
  }

  #[test]
  fn parent_links_find_our_own_children() {
    let mut child = std::process::Command::new("sleep")
      .arg("5")
      .spawn()
      .unwrap();
    let me = std::process::id() as i32;
    let info = proc_info(child.id() as i32).unwrap();
    assert_eq!(info.ppid, me);
    assert_eq!(info.pgid, proc_info(me).unwrap().pgid);
    assert!(descendants(me).iter().any(|p| p.pid == child.id() as i32));
    assert!(scan_descendants(me)
      .iter()
      .any(|p| p.pid == child.id() as i32));
    assert!(subtree(me).iter().any(|p| p.pid == child.id() as i32));
    child.kill().unwrap();
    child.wait().unwrap();
  }

  #[test]
  fn signal_names_are_nodes() {
    assert_eq!(signal_name(libc::SIGTERM), Some("SIGTERM"));
    assert_eq!(signal_name(9), Some("SIGKILL"));
    assert_eq!(signal_name(999), None);
  }
}
