//! Spawning a child, and signalling what it leaves.
//!
//! Every child starts as the leader of its own process group, so one `killpg` reaches the
//! child and every descendant that stayed in the group; descendants that moved to another
//! group are found by walking `/proc` parent links ([`tree`]) or, once those are gone, by
//! the [tag](crate::tag) in their environment. A child that is not `detached` carries the
//! tag, is registered with the [guardian](crate::guardian), and gets `PR_SET_PDEATHSIG`:
//! the guardian takes down the whole tree with a dead host, and the kernel takes the child
//! itself even when the guardian dies with the host (both SIGKILLed at once). Children are
//! spawned by [`vfork`] (posix_spawn's speed, with the signal) or, where a spawn needs more
//! (a user, the IPC channel, sockets) or the system lacks pidfds, by std's fork. Reaping
//! goes through pidfds (ours, or tokio's reaper), which wait for our own pids only and
//! never compete with libuv's SIGCHLD handling; every child is in the [`reaper`]'s registry
//! from before its fork until then, so that a host that reaps orphans (pid 1) never takes
//! its exit.
//!
//! [`spawn`] is a sequence of small steps: the command ([`command`]), its standard streams
//! ([`stdio`]), the IPC channel, the process group or session, the parent-death signal,
//! and the listening sockets it inherits ([`activation`]).

pub mod activation;
mod env;
pub mod reaper;
mod stdio;
pub mod tree;
mod vfork;

pub use env::{shared_env, Env};
pub(crate) use vfork::{clone_refused, clone_sharing_memory, libc_clone_is_clean};

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use crate::error::{CoreError, Result};
use crate::sync::lock;
use crate::tag::{self, Tag};

pub use stdio::{OutputEnd, StdioSpec};

/// The child's end of Node's IPC channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSlot {
  /// The child's fd number for it (`'ipc'` in Node's `stdio`).
  pub fd: i32,
  /// `NODE_CHANNEL_SERIALIZATION_MODE`: `json` or `advanced`.
  pub mode: &'static str,
}

/// Everything needed to start one child, already validated by `index.js`.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
  /// The program, looked up in the child's `PATH` when it has no slash.
  pub command: String,
  /// Arguments after the program.
  pub args: Vec<String>,
  /// `argv[0]` as the child sees it, when it should differ from `command`.
  pub argv0: Option<String>,
  /// The child's working directory.
  pub cwd: Option<String>,
  /// The child's whole environment (nothing else is inherited); monitors with the same
  /// environment share one copy ([`shared_env`]).
  pub env: Arc<Env>,
  /// Unix user id to run as.
  pub uid: Option<u32>,
  /// Unix group id to run as.
  pub gid: Option<u32>,
  /// Start the child in its own session and let it outlive the host.
  pub detached: bool,
  /// stdin, stdout and stderr.
  pub stdio: [StdioSpec; 3],
  /// Node's IPC channel, if the child gets one.
  pub channel: Option<ChannelSlot>,
  /// What its children's spawns share, made by the first (empty in a new spec).
  pub prepared: Prepared,
}

/// What a restart need not work out again, made by the first spawn of a spec through
/// [`vfork`]: where `PATH` led (9 `statx` calls for `sh` on a usual `PATH`, a quarter of
/// what the core did between a child's exit and the next spawn). The environment's strings
/// are the [`Env`]'s, shared with the monitors that share it.
#[derive(Debug, Default)]
pub struct Prepared {
  /// The program `PATH` led to; looked up again when an exec of it fails as a missing or
  /// unusable file would (it moved, or another took its place in `PATH`).
  program: Mutex<Option<PathBuf>>,
}

impl Clone for Prepared {
  /// Empty: a copy of a spec may be changed before it is spawned.
  fn clone(&self) -> Self {
    Prepared::default()
  }
}

/// A started child, to be reaped; in the [reaper](reaper)'s registry until it is.
#[derive(Debug)]
pub struct Child {
  inner: Reaped,
  registered: reaper::Registered,
}

/// How a child is reaped.
#[derive(Debug)]
enum Reaped {
  /// Spawned by std, reaped through tokio (pidfd on Linux).
  Std(tokio::process::Child),
  /// Spawned by [`vfork`], reaped through its pidfd.
  Vfork(vfork::Child),
}

impl Child {
  /// Waits for the child to exit and reaps it.
  pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
    let status = match &mut self.inner {
      Reaped::Std(child) => child.wait().await,
      Reaped::Vfork(child) => child.wait().await,
    };
    if status.is_ok() {
      self.registered.release();
    }
    status
  }
}

/// A freshly started child.
pub struct Spawned {
  /// The child, to be reaped.
  pub child: Child,
  /// Its pid, which is also its process group id.
  pub pid: u32,
  /// The core's end of the IPC channel, when the child has one.
  pub channel: Option<OwnedFd>,
  /// The write end (non-blocking) of the child's own stdin pipe, when its stdin is `pipe`.
  pub stdin: Option<OwnedFd>,
}

/// Listening sockets a child inherits, each with its name (see [`activation`]).
pub type Sockets<'a> = [(BorrowedFd<'a>, &'a str)];

/// Starts a child as `spec` says, tagged with `tag`. `outputs` replace stdout and stderr
/// where the spec says `pipe`: the monitor's own pipes, or log files the child writes
/// itself. `sockets` become its descriptors 3, 4, … (socket activation). Must run inside
/// the core's runtime (the reaper registers with it).
pub fn spawn(
  spec: &SpawnSpec,
  tag: &Tag,
  outputs: [Option<OutputEnd>; 2],
  sockets: &Sockets<'_>,
) -> Result<Spawned> {
  check_cwd(spec)?;
  // Until the child's pid is registered, the reaper takes no zombie for an orphan: a child
  // that exits at once is one before its pid is known here.
  let spawning = reaper::spawning();

  // Out of descriptors, the guardian cannot start: the child would start without it, and
  // what it starts could outlive a host that dies. The spawn fails as it would have for its
  // own pipes; the next one starts the guardian first.
  if !spec.detached {
    if let Err(e) = crate::guardian::available() {
      if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return Err(CoreError::sys("spawn", spec.command.clone(), e));
      }
    }
  }
  let mut wiring = stdio::Wiring::new(spec, outputs)?;
  let activated = !sockets.is_empty();
  // The common case needs no full fork: no user to switch to, no descriptor above 2.
  let plain = !spec.detached
    && spec.uid.is_none()
    && spec.gid.is_none()
    && spec.channel.is_none()
    && !activated;
  // A vforked child's pidfd comes from the clone itself, which fails cleanly (EMFILE) when
  // no descriptor is left: nothing needs to be kept free for it.
  if plain && vfork::available() {
    if let Some(spawned) = spawn_vforked(spec, tag, &mut wiring, &spawning)? {
      // The wiring goes now: the child's copies (the stdin pipe's read end among them)
      // close, so that the core's write end sees EPIPE once the child is gone.
      drop(wiring);
      return Ok(spawned);
    }
  }
  // Room for what spawning needs after the fork: tokio's pidfd for the child. Without it,
  // tokio falls back to a SIGCHLD reaper whose set-up panics when no descriptor is left,
  // so a host at its descriptor limit gets a clean EMFILE here instead.
  let reserve = (0..2)
    .map(|_| {
      std::fs::File::open("/dev/null").map_err(|e| CoreError::sys("spawn", spec.command.clone(), e))
    })
    .collect::<Result<Vec<_>>>()?;
  let mut cmd = command(spec, tag);
  // With sockets at 3, 4, …, a channel above the standard streams goes right after them.
  let slot = spec.channel.as_ref().map(|slot| match slot.fd {
    fd if fd > 2 && activated => ChannelSlot {
      fd: activation::channel_fd(sockets.len()),
      mode: slot.mode,
    },
    _ => slot.clone(),
  });
  let mut placed_channel = None;
  let channel = match &slot {
    Some(slot) if activated && slot.fd > 2 => {
      let (parent, child) = channel_pair(&mut cmd, slot)?;
      placed_channel = Some(child);
      Some(parent)
    }
    Some(slot) => Some(attach_channel(&mut cmd, &mut wiring, slot)?),
    None => None,
  };
  wiring.apply(&mut cmd);
  if spec.detached {
    new_session(&mut cmd);
  } else {
    cmd.process_group(0);
    // The signal is a `pre_exec` hook: std forks for it (here the spawn needs a fork for
    // its user or its descriptors anyway, or the system lacks what `vfork` needs).
    parent_death_signal(&mut cmd);
  }
  // The last hook: it execs the program itself (see `activation`).
  let activation = if activated {
    let program = resolve(&spec.command, &spec.env);
    let arg0 = OsStr::new(spec.argv0.as_deref().unwrap_or(&spec.command));
    let argv: Vec<&OsStr> = std::iter::once(arg0)
      .chain(spec.args.iter().map(OsStr::new))
      .collect();
    Some(activation::install(
      &mut cmd,
      &program,
      &argv,
      sockets,
      placed_channel.as_ref().map(AsFd::as_fd),
    )?)
  } else {
    None
  };

  drop(reserve);
  let child = cmd
    .spawn()
    .map_err(|e| CoreError::sys("spawn", spec.command.clone(), e))?;
  // The child's copies are its own now: the command's (the stdin pipe's read end among
  // them) close, so that the core's write end sees EPIPE once the child is gone.
  drop(cmd);
  let stdin = wiring.take_stdin();
  drop(wiring);
  drop(placed_channel);
  if let Some(error) = activation.and_then(activation::Activation::confirm) {
    // The exec failed and std's report of it was lost: the child is exiting; reap it.
    let registered = spawning.register(child.id().unwrap_or(0));
    let mut child = Child {
      inner: Reaped::Std(child),
      registered,
    };
    tokio::spawn(async move {
      let _ = child.wait().await;
    });
    return Err(CoreError::sys("spawn", spec.command.clone(), error));
  }
  let pid = child.id().unwrap_or(0);
  Ok(Spawned {
    child: Child {
      inner: Reaped::Std(child),
      registered: spawning.register(pid),
    },
    pid,
    channel,
    stdin,
  })
}

/// Spawns `spec` through [`vfork`], with the parent-death signal at posix_spawn's speed.
/// `Ok(None)`: this spawn must go through std (the program was not found in `PATH`, which
/// std reports as execvp would, or the system refused the clone).
fn spawn_vforked(
  spec: &SpawnSpec,
  tag: &Tag,
  wiring: &mut stdio::Wiring,
  spawning: &reaper::Spawning,
) -> Result<Option<Spawned>> {
  let Some(stdio) = wiring.fds() else {
    return Ok(None);
  };
  let env = spec.env.block()?;
  let arg0 = OsStr::new(spec.argv0.as_deref().unwrap_or(&spec.command));
  let argv: Vec<&OsStr> = std::iter::once(arg0)
    .chain(spec.args.iter().map(OsStr::new))
    .collect();
  let fail = |e| CoreError::sys("spawn", spec.command.clone(), e);
  let looked_up = !spec.command.contains('/');
  let mut remembered = if looked_up {
    lock(&spec.prepared.program).clone()
  } else {
    None
  };
  loop {
    let cached = remembered.is_some();
    let program = match remembered.take() {
      Some(program) => program,
      None => resolve(&spec.command, &spec.env),
    };
    if !program.as_os_str().as_encoded_bytes().contains(&b'/') {
      return Ok(None);
    }
    let own = vfork::env_entry(tag::NAME, tag.value())?;
    let plan = vfork::Plan::new(&program, &argv, env, own, spec.cwd.as_deref(), stdio)?;
    let (pid, pidfd) = match vfork::spawn(&plan) {
      Ok(Some(spawned)) => spawned,
      Ok(None) => return Ok(None),
      // What `PATH` led to last time is gone or no longer runs: look again, once.
      Err(e)
        if cached
          && plan.exec_failed()
          && matches!(
            e.raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR | libc::EACCES)
          ) =>
      {
        *lock(&spec.prepared.program) = None;
        continue;
      }
      Err(e) => return Err(fail(e)),
    };
    if looked_up && !cached {
      *lock(&spec.prepared.program) = Some(program);
    }
    let child = vfork::Child::new(pid, pidfd).map_err(fail)?;
    return Ok(Some(Spawned {
      child: Child {
        inner: Reaped::Vfork(child),
        registered: spawning.register(pid),
      },
      pid,
      channel: None,
      stdin: wiring.take_stdin(),
    }));
  }
}

fn check_cwd(spec: &SpawnSpec) -> Result<()> {
  let Some(cwd) = &spec.cwd else {
    return Ok(());
  };
  match std::fs::metadata(cwd) {
    Ok(meta) if meta.is_dir() => Ok(()),
    Ok(_) => Err(CoreError::sys(
      "chdir",
      cwd.clone(),
      std::io::Error::from_raw_os_error(libc::ENOTDIR),
    )),
    Err(e) => Err(CoreError::sys("chdir", cwd.clone(), e)),
  }
}

/// The program, its arguments, environment (with the tag), directory and user.
fn command(spec: &SpawnSpec, tag: &Tag) -> tokio::process::Command {
  // Resolved here, with the child's own PATH: std can then use posix_spawn (vfork speed)
  // instead of fork, which copies the host's page tables.
  let program = resolve(&spec.command, &spec.env);
  let mut cmd = tokio::process::Command::new(program);
  cmd.arg0(spec.argv0.as_deref().unwrap_or(&spec.command));
  cmd.args(&spec.args);
  cmd.env_clear();
  cmd.envs(spec.env.iter());
  if spec.detached {
    // A detached child outlives the host: nothing may find it as this host's.
    cmd.env_remove(tag::NAME);
  } else {
    cmd.env(tag::NAME, tag.value());
  }
  if let Some(cwd) = &spec.cwd {
    cmd.current_dir(cwd);
  }
  if let Some(gid) = spec.gid {
    cmd.gid(gid);
  }
  if let Some(uid) = spec.uid {
    cmd.uid(uid);
  }
  cmd.kill_on_drop(false);
  cmd
}

/// Creates the channel's socket pair and tells the child where its end is: returns the
/// core's end and the child's.
fn channel_pair(
  cmd: &mut tokio::process::Command,
  slot: &ChannelSlot,
) -> Result<(OwnedFd, OwnedFd)> {
  let (parent, child) = socketpair(
    AddressFamily::Unix,
    SockType::Stream,
    None,
    SockFlag::SOCK_CLOEXEC,
  )
  .map_err(|e| CoreError::sys("socketpair", None, std::io::Error::from(e)))?;
  cmd.env("NODE_CHANNEL_FD", slot.fd.to_string());
  cmd.env("NODE_CHANNEL_SERIALIZATION_MODE", slot.mode);
  Ok((parent, child))
}

/// Creates the channel's socket pair and puts the child's end at `slot.fd`; returns the
/// core's end.
fn attach_channel(
  cmd: &mut tokio::process::Command,
  wiring: &mut stdio::Wiring,
  slot: &ChannelSlot,
) -> Result<OwnedFd> {
  let (parent, child) = channel_pair(cmd, slot)?;
  if slot.fd <= 2 {
    wiring.replace(slot.fd as usize, child);
    return Ok(parent);
  }
  let fd = slot.fd;
  let raw = child.as_raw_fd();
  // Kept open until the child has been spawned: the child inherits it.
  wiring.keep(child);
  // SAFETY: the closure runs between fork and exec and makes async-signal-safe calls only.
  unsafe {
    cmd.pre_exec(move || {
      // The channel must sit at `fd` and survive exec.
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
  Ok(parent)
}

/// As Node does for `detached`: a new session, so the child survives the host.
fn new_session(cmd: &mut tokio::process::Command) {
  // SAFETY: the closure runs between fork and exec and calls only setsid(2).
  unsafe {
    cmd.pre_exec(|| {
      nix::unistd::setsid().map_err(std::io::Error::from)?;
      Ok(())
    });
  }
}

/// SIGKILL to the child when the spawning thread (a runtime worker, or the JS thread that
/// called `start()`) ends: the host's death, or its Worker's.
fn parent_death_signal(cmd: &mut tokio::process::Command) {
  let host = nix::unistd::getpid();
  // SAFETY: the closure runs between fork and exec and makes async-signal-safe calls only.
  unsafe {
    cmd.pre_exec(move || {
      nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
      // The host may have died before the line above; then nobody would send it.
      if nix::unistd::getppid() != host {
        libc::_exit(1);
      }
      Ok(())
    });
  }
}

/// Finds `command` in the child's `PATH` (as `execvp` would), when it has no slash.
fn resolve(command: &str, env: &HashMap<String, String>) -> PathBuf {
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
      std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
    .unwrap_or_else(|| command.into())
}

/// The name Node uses for a signal number (`SIGTERM`), if it is one.
pub fn signal_name(raw: i32) -> Option<&'static str> {
  Signal::try_from(raw).ok().map(|s| s.as_str())
}

#[cfg(test)]
mod tests {
  use super::*;

  fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
      .iter()
      .map(|(k, v)| (k.to_string(), v.to_string()))
      .collect()
  }

  #[test]
  fn signal_names_are_nodes() {
    assert_eq!(signal_name(libc::SIGTERM), Some("SIGTERM"));
    assert_eq!(signal_name(9), Some("SIGKILL"));
    assert_eq!(signal_name(999), None);
  }

  /// Spawns `spec` with no standard streams; its exit code.
  async fn exit_code(spec: &SpawnSpec) -> Result<Option<i32>> {
    let mut spawned = spawn(spec, &Tag::next(), [None, None], &[])?;
    Ok(spawned.child.wait().await.unwrap().code())
  }

  #[tokio::test]
  async fn a_program_found_in_path_is_looked_up_again_only_when_it_no_longer_runs() {
    use std::os::unix::fs::PermissionsExt;
    if !vfork::available() {
      return;
    }
    let dir = std::env::temp_dir().join(format!("fn-path-cache-{}", std::process::id()));
    let (first, second) = (dir.join("a"), dir.join("b"));
    for d in [&first, &second] {
      std::fs::create_dir_all(d).unwrap();
    }
    let put = |d: &std::path::Path, code: i32| {
      let file = d.join("fn-cached-prog");
      std::fs::write(&file, format!("#!/bin/sh\nexit {code}\n")).unwrap();
      std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    put(&second, 3);
    let path = format!("{}:{}", first.display(), second.display());
    let spec = SpawnSpec {
      command: "fn-cached-prog".to_string(),
      args: Vec::new(),
      argv0: None,
      cwd: None,
      env: Arc::new(Env::from(env_of(&[("PATH", &path)]))),
      uid: None,
      gid: None,
      detached: false,
      stdio: [StdioSpec::Ignore; 3],
      channel: None,
      prepared: Prepared::default(),
    };
    assert_eq!(exit_code(&spec).await.unwrap(), Some(3));
    let remembered = lock(&spec.prepared.program).clone();
    assert_eq!(remembered, Some(second.join("fn-cached-prog")));
    // One put earlier in PATH since is not looked for: the lookup is the first spawn's.
    put(&first, 4);
    assert_eq!(exit_code(&spec).await.unwrap(), Some(3));
    // The one found is gone: PATH is searched again, at once, and the new one remembered.
    std::fs::remove_file(second.join("fn-cached-prog")).unwrap();
    assert_eq!(exit_code(&spec).await.unwrap(), Some(4));
    let remembered = lock(&spec.prepared.program).clone();
    assert_eq!(remembered, Some(first.join("fn-cached-prog")));
    // None left: the spawn fails as it always did.
    std::fs::remove_file(first.join("fn-cached-prog")).unwrap();
    let error = exit_code(&spec).await.unwrap_err().to_string();
    assert!(error.contains("fn-cached-prog"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn programs_are_found_in_the_childs_path() {
    let mut env = HashMap::new();
    env.insert("PATH".to_string(), "/nonexistent:/bin:/usr/bin".to_string());
    let sh = resolve("sh", &env);
    assert!(sh.is_absolute() && sh.ends_with("sh"), "{sh:?}");
    assert_eq!(resolve("./x", &env), PathBuf::from("./x"));
    assert_eq!(
      resolve("no-such-program-here", &env),
      PathBuf::from("no-such-program-here")
    );
  }
}
