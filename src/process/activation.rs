//! Socket activation, as systemd does it: listening sockets the core holds become the
//! child's descriptors 3, 4, … (`SD_LISTEN_FDS_START`), counted in `LISTEN_FDS`, named in
//! `LISTEN_FDNAMES` and claimed by `LISTEN_PID`, which must be the child's own pid — known
//! only once it has been forked.
//!
//! The descriptor layout of a child with `n` sockets: 0–2 its standard streams, 3 … 2+n
//! the sockets in the order given, and Node's IPC channel (when it is not on 0–2) at 3+n,
//! where `NODE_CHANNEL_FD` says.
//!
//! How `LISTEN_PID` gets the pid. The environment is built before the fork, and after a
//! fork in a multi-threaded host nothing may allocate. A `sh -c 'LISTEN_PID=$$ exec "$@"'`
//! trampoline would keep the pid, but it needs a `/bin/sh` in the child's world, costs an
//! extra exec, loses `argv0`, and turns a missing command into an exit code 127 instead of
//! an `ENOENT` error. Instead, the whole image — program, argv and an environment whose
//! `LISTEN_PID=` entry has room for ten digits — is built before the fork, and the last
//! `pre_exec` hook, in the child, moves the sockets into place, writes `getpid()`'s digits
//! into that entry, points `environ` at the environment and calls `execvp` itself, as std
//! would have right after it (std has already set up the standard streams, the user, the
//! directory and the process group by then). Only `dup2`, `getpid`, stores into memory
//! the hook owns, `execvp` and `write` run in the child.
//!
//! The sockets are first copied above every target number, in the parent, so that moving
//! one into place never overwrites another. A target may still overwrite std's own pipe
//! that reports a failed exec; a failure is therefore also written to a pipe of ours,
//! placed above the targets too, and read after the spawn.

use std::ffi::{c_char, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{CoreError, Result};

/// The first socket's descriptor in the child (systemd's `SD_LISTEN_FDS_START`).
pub const FIRST_FD: RawFd = 3;
/// Room for the pid's digits (Linux pids have at most 7; `u32::MAX` has 10).
const PID_DIGITS: usize = 10;
const PID_ENTRY: &str = "LISTEN_PID=";

/// The fd of Node's IPC channel in a child that gets `sockets` sockets: right after them.
pub fn channel_fd(sockets: usize) -> RawFd {
  FIRST_FD + sockets as RawFd
}

extern "C" {
  // The process's environment, which execvp gives the new program (the same declaration as
  // the libc crate's for glibc; musl has the symbol too).
  static mut environ: *mut *mut c_char;
}

/// The program image to exec, built before the fork.
struct Image {
  program: CString,
  _argv: Vec<CString>,
  _envp: Vec<CString>,
  /// `LISTEN_PID=` and room for the digits and a NUL; written in the child only.
  _pid_entry: Vec<u8>,
  argv_ptrs: Vec<*const c_char>,
  envp_ptrs: Vec<*mut c_char>,
  /// Where the pid's digits go: inside `_pid_entry`'s heap buffer.
  pid_digits: *mut u8,
}

impl Image {
  /// In the forked child: writes its pid into `LISTEN_PID`, and execs the program with this
  /// environment. Returns only if the exec failed (errno says why).
  ///
  /// # Safety
  /// Only in the forked child, right before it would exec anyway.
  unsafe fn exec(&mut self) {
    // SAFETY: getpid(2) cannot fail; `pid_digits` has room for the digits (see `image`).
    write_pid(self.pid_digits, unsafe { libc::getpid() } as u32);
    // SAFETY: one thread runs in the child; `environ` is read by execvp only, and points at
    // a NULL-terminated array of NUL-terminated entries the image owns.
    unsafe {
      environ = self.envp_ptrs.as_mut_ptr();
      libc::execvp(self.program.as_ptr(), self.argv_ptrs.as_ptr());
    }
  }
}

// SAFETY: the pointers point into heap buffers the image owns and never reallocates; they
// are only read (and the pid digits written) in the forked child, where one thread runs.
unsafe impl Send for Image {}
// SAFETY: as above: the parent never touches the pointed-to memory through `&Image`.
unsafe impl Sync for Image {}

/// What stays with the parent until the child has exec'd: the copies of the sockets placed
/// above the targets, and the read end of the failure pipe.
pub(super) struct Activation {
  _sources: Vec<OwnedFd>,
  report: OwnedFd,
  report_write: Option<OwnedFd>,
}

/// `bytes` as a C string; a null byte inside is refused, naming `what` held it.
pub(super) fn cstring(bytes: &[u8], what: &str) -> Result<CString> {
  CString::new(bytes).map_err(|_| CoreError::InvalidOption(format!("{what} holds a null byte")))
}

/// The program and its argv as C strings, for an `execve` of our own (here and in
/// `vfork`).
pub(super) fn exec_strings(program: &Path, argv: &[&OsStr]) -> Result<(CString, Vec<CString>)> {
  let program = cstring(program.as_os_str().as_bytes(), "the command")?;
  let argv = argv
    .iter()
    .map(|a| cstring(a.as_bytes(), "an argument"))
    .collect::<Result<Vec<_>>>()?;
  Ok((program, argv))
}

/// Copies `fd` to the lowest free descriptor at or above `floor`, close-on-exec.
fn above(fd: BorrowedFd<'_>, floor: RawFd) -> Result<OwnedFd> {
  // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we borrow; the new one is ours.
  let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
  if raw < 0 {
    return Err(CoreError::sys(
      "fcntl",
      Some("listen socket".to_string()),
      io::Error::last_os_error(),
    ));
  }
  // SAFETY: fcntl returned a fresh descriptor nobody else owns.
  Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Installs the last `pre_exec` hook of `cmd`: the child gets `sockets` at 3, 4, …, the
/// IPC channel's end (`channel`) at 3+n, the `LISTEN_*` variables, and is exec'd by the
/// hook itself. `program` and `argv` are what std would have run; the environment is the
/// one set on `cmd` (it was cleared first). Call [`Activation::confirm`] after the spawn.
pub(super) fn install(
  cmd: &mut tokio::process::Command,
  program: &Path,
  argv: &[&OsStr],
  sockets: &[(BorrowedFd<'_>, &str)],
  channel: Option<BorrowedFd<'_>>,
) -> Result<Activation> {
  let n = sockets.len();
  let targets = n as RawFd + RawFd::from(channel.is_some());
  let floor = FIRST_FD + targets;

  let mut sources = Vec::with_capacity(n + 1);
  let mut placements: Vec<(RawFd, RawFd)> = Vec::with_capacity(n + 1);
  for (i, (fd, _)) in sockets.iter().enumerate() {
    let high = above(*fd, floor)?;
    placements.push((high.as_raw_fd(), FIRST_FD + i as RawFd));
    sources.push(high);
  }
  if let Some(fd) = channel {
    let high = above(fd, floor)?;
    placements.push((high.as_raw_fd(), channel_fd(n)));
    sources.push(high);
  }
  let (report, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
    .map_err(|e| CoreError::sys("pipe", None, io::Error::from(e)))?;
  let report_write = above(write.as_fd(), floor)?;
  drop(write);

  let mut image = image(cmd, program, argv, sockets)?;
  let report_fd = report_write.as_raw_fd();
  // SAFETY: the hook runs in the forked child, after std's own set-up and its other hooks,
  // and calls only async-signal-safe functions (dup2, getpid, execvp, write) on memory it
  // owns: nothing allocates, locks or unwinds.
  unsafe {
    cmd.pre_exec(move || {
      for &(from, to) in &placements {
        // dup2 leaves `to` without FD_CLOEXEC: it survives the exec.
        if libc::dup2(from, to) < 0 {
          return Err(report_failure(report_fd));
        }
      }
      image.exec();
      Err(report_failure(report_fd))
    });
  }
  Ok(Activation {
    _sources: sources,
    report,
    report_write: Some(report_write),
  })
}

/// Writes the errno of the failure that just happened to our pipe; returns it as an error.
fn report_failure(fd: RawFd) -> io::Error {
  let error = io::Error::last_os_error();
  let errno = error.raw_os_error().unwrap_or(libc::EIO);
  let bytes = errno.to_ne_bytes();
  // SAFETY: write(2) of a local buffer to our own pipe; a failure leaves std's report.
  let _ = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
  error
}

/// Writes `pid` in decimal and a NUL at `at`, which has room for [`PID_DIGITS`] + 1 bytes.
fn write_pid(at: *mut u8, pid: u32) {
  let mut digits = [0u8; PID_DIGITS];
  let mut i = PID_DIGITS;
  let mut rest = pid;
  loop {
    i -= 1;
    digits[i] = b'0' + (rest % 10) as u8;
    rest /= 10;
    if rest == 0 {
      break;
    }
  }
  let len = PID_DIGITS - i;
  // SAFETY: `at` points at PID_DIGITS + 1 writable bytes (see `image`); len <= PID_DIGITS.
  unsafe {
    std::ptr::copy_nonoverlapping(digits.as_ptr().add(i), at, len);
    *at.add(len) = 0;
  }
}

fn image(
  cmd: &tokio::process::Command,
  program: &Path,
  argv: &[&OsStr],
  sockets: &[(BorrowedFd<'_>, &str)],
) -> Result<Image> {
  let (program, argv) = exec_strings(program, argv)?;
  let names: Vec<&str> = sockets.iter().map(|(_, name)| *name).collect();
  let mut envp = Vec::new();
  for (key, value) in cmd.as_std().get_envs() {
    let Some(value) = value else { continue };
    let key = key.as_bytes();
    // Ours replace whatever the host was given by its own supervisor.
    if key == b"LISTEN_FDS" || key == b"LISTEN_PID" || key == b"LISTEN_FDNAMES" {
      continue;
    }
    envp.push(cstring(
      &[key, b"=", value.as_bytes()].concat(),
      "the environment",
    )?);
  }
  envp.push(cstring(
    format!("LISTEN_FDS={}", sockets.len()).as_bytes(),
    "LISTEN_FDS",
  )?);
  envp.push(cstring(
    format!("LISTEN_FDNAMES={}", names.join(":")).as_bytes(),
    "LISTEN_FDNAMES",
  )?);
  let mut pid_entry = Vec::with_capacity(PID_ENTRY.len() + PID_DIGITS + 1);
  pid_entry.extend_from_slice(PID_ENTRY.as_bytes());
  pid_entry.resize(PID_ENTRY.len() + PID_DIGITS + 1, 0);
  // A placeholder, in case the child never writes it (it always does before exec).
  pid_entry[PID_ENTRY.len()] = b'0';

  let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
  argv_ptrs.push(std::ptr::null());
  let mut envp_ptrs: Vec<*mut c_char> = envp.iter().map(|e| e.as_ptr().cast_mut()).collect();
  // SAFETY: the offset is within the entry's buffer (len PID_ENTRY + PID_DIGITS + 1).
  let pid_digits = unsafe { pid_entry.as_mut_ptr().add(PID_ENTRY.len()) };
  envp_ptrs.push(pid_entry.as_mut_ptr().cast());
  envp_ptrs.push(std::ptr::null_mut());
  Ok(Image {
    program,
    _argv: argv,
    _envp: envp,
    _pid_entry: pid_entry,
    argv_ptrs,
    envp_ptrs,
    pid_digits,
  })
}

impl Activation {
  /// After a spawn that std reported as done: waits until the child has exec'd (or failed
  /// to), and returns the failure our hook reported, if any. std's report may have been
  /// lost to a socket placed over its pipe, so ours is the one that counts.
  pub(super) fn confirm(mut self) -> Option<io::Error> {
    // The child holds its own copy of the write end until it execs or exits.
    drop(self.report_write.take());
    let mut bytes = [0u8; 4];
    let mut got = 0;
    while got < bytes.len() {
      // SAFETY: read(2) into a local buffer from our own pipe.
      let n = unsafe {
        libc::read(
          self.report.as_raw_fd(),
          bytes[got..].as_mut_ptr().cast(),
          bytes.len() - got,
        )
      };
      match n {
        0 => return None,
        n if n > 0 => got += n as usize,
        _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
        _ => return None,
      }
    }
    Some(io::Error::from_raw_os_error(i32::from_ne_bytes(bytes)))
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::collections::HashMap;
  use std::io::Read;
  use std::net::TcpListener;

  use crate::process::{spawn, ChannelSlot, OutputEnd, SpawnSpec, StdioSpec};
  use crate::tag::Tag;

  fn sh(script: &str, channel: bool) -> SpawnSpec {
    let mut env = HashMap::new();
    env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    // What the host got from its own supervisor is replaced.
    env.insert("LISTEN_PID".to_string(), "1".to_string());
    SpawnSpec {
      command: "sh".to_string(),
      args: vec!["-c".to_string(), script.to_string()],
      argv0: Some("activated-sh".to_string()),
      cwd: Some("/".to_string()),
      env: std::sync::Arc::new(super::super::Env::from(env)),
      uid: None,
      gid: None,
      detached: false,
      stdio: [StdioSpec::Ignore, StdioSpec::Pipe, StdioSpec::Inherit],
      channel: channel.then_some(ChannelSlot {
        fd: 3,
        mode: "json",
      }),
      prepared: Default::default(),
    }
  }

  /// Runs `spec` with two listening sockets; returns its stdout.
  async fn run(spec: &SpawnSpec) -> String {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let sockets = [(a.as_fd(), "http"), (b.as_fd(), "admin")];
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let spawned = spawn(
      spec,
      &Tag::next(),
      [Some(OutputEnd::Pipe(write)), None],
      &sockets,
    )
    .unwrap();
    let mut child = spawned.child;
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    std::fs::File::from(read).read_to_string(&mut out).unwrap();
    out
  }

  #[tokio::test]
  async fn the_child_gets_the_sockets_at_3_its_own_pid_and_the_channel_after_them() {
    let script = r#"echo "$LISTEN_PID $$ $LISTEN_FDS $LISTEN_FDNAMES ${NODE_CHANNEL_FD:-none} $0 $(pwd)"; for f in 3 4 5; do readlink /proc/$$/fd/$f; done; true"#;
    let out = run(&sh(script, true)).await;
    let lines: Vec<&str> = out.lines().collect();
    let words: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(
      words[0], words[1],
      "LISTEN_PID is the child's own pid: {out}"
    );
    assert_eq!(&words[2..], ["2", "http:admin", "5", "activated-sh", "/"]);
    assert!(
      lines[1].starts_with("socket:") && lines[2].starts_with("socket:"),
      "{out}"
    );
    assert!(
      lines[3].starts_with("socket:"),
      "the IPC channel at 5: {out}"
    );
    let out = run(&sh(script, false)).await;
    assert!(
      out.starts_with(&format!(
        "{0} {0} 2 http:admin none",
        out.split(' ').next().unwrap()
      )),
      "{out}"
    );
  }

  #[tokio::test]
  async fn a_missing_program_is_an_enoent_error() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut spec = sh("true", false);
    spec.command = "/nonexistent/program".to_string();
    let err = match spawn(&spec, &Tag::next(), [None, None], &[(a.as_fd(), "http")]) {
      Ok(_) => panic!("spawned"),
      Err(e) => e,
    };
    assert_eq!(err.code().as_deref(), Some("ENOENT"));
    assert_eq!(err.syscall(), Some("spawn"));
  }

  #[test]
  fn pids_are_written_in_decimal_and_terminated() {
    let mut buf = [b'x'; PID_DIGITS + 1];
    write_pid(buf.as_mut_ptr(), 4_194_303);
    assert_eq!(&buf[..8], b"4194303\0");
    write_pid(buf.as_mut_ptr(), 7);
    assert_eq!(&buf[..2], b"7\0");
    write_pid(buf.as_mut_ptr(), u32::MAX);
    assert_eq!(&buf[..], b"4294967295\0");
  }
}
