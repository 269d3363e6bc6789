//! Opening a log destination, and writing to one without waiting.
//!
//! A path is opened with `O_NONBLOCK` (so a FIFO cannot block the open) and `O_NOFOLLOW`:
//! a symlink planted at it is refused, unless it is the host's own (or root's) and leads to
//! a character device or a FIFO — nobody's data can be overwritten through that. A
//! directory that is not there yet is made. The host's own descriptors (`/dev/stdout`,
//! `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: the usual way to log in a container) are
//! written through directly. What the destination turns out to be is its [`Kind`], which
//! says how it is written: pipes, FIFOs, terminals and sockets are *streams*, written
//! without blocking ([`write_some`]) and never rotated.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::millis_since_epoch;
use crate::error::CoreError;

/// What a destination is, which says how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
  /// A regular file opened at its path: rotated, truncated, opened again when moved.
  File,
  /// The host's own descriptor for a regular file (`/dev/stdout` of a host whose output
  /// goes to a file): written through a duplicate of it, so at the host's own offset — a
  /// second descriptor would write where the host's next line then overwrites. Never
  /// rotated or truncated.
  HostFile,
  /// A pipe, a FIFO or a character device (a terminal, `/dev/null`): written without
  /// blocking, never rotated. `own` when the open file description is ours (its
  /// `O_NONBLOCK` set), rather than a duplicate of the host's, whose flags are the host's.
  Stream {
    /// The description is ours.
    own: bool,
  },
  /// A socket the host holds as stdout or stderr (systemd's journal): written with
  /// `send(MSG_DONTWAIT)`, never rotated.
  Socket,
}

/// A log destination just opened.
#[derive(Debug)]
pub(super) struct Opened {
  /// The descriptor, for appending.
  pub file: File,
  /// Bytes it holds.
  pub size: u64,
  /// Device and inode, to tell whether the path still leads to it; `None` for what is not
  /// watched that way (the host's descriptors, a symlink followed to a device).
  pub identity: Option<(u64, u64)>,
  /// When it was last written (ms since the epoch).
  pub modified_ms: i64,
  /// What it is.
  pub kind: Kind,
}

/// The descriptor of the host's that `path` names, for the well-known names of the
/// process's own descriptors: `/dev/stdout` (1), `/dev/stderr` (2), `/dev/fd/N`,
/// `/proc/self/fd/N`.
pub(super) fn host_fd(path: &Path) -> Option<RawFd> {
  match path.to_str()? {
    "/dev/stdout" => Some(1),
    "/dev/stderr" => Some(2),
    name => {
      let n = name
        .strip_prefix("/dev/fd/")
        .or_else(|| name.strip_prefix("/proc/self/fd/"))?;
      // Digits only: no sign, no trailing slash, nothing else.
      if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
      }
      n.parse().ok()
    }
  }
}

/// Opens a log destination for appending: never through a symlink another user could
/// have planted, never blocking on a FIFO, never anything but a regular file, a character
/// device, a FIFO, or the host's own stdout/stderr (see the module's description).
pub(super) fn open_log(path: &Path, truncate: bool) -> Result<Opened, CoreError> {
  if let Some(fd) = host_fd(path) {
    return open_host_fd(path, fd);
  }
  let fail = |e: io::Error| CoreError::sys("open", path.display().to_string(), e);
  let open = || {
    OpenOptions::new()
      .create(true)
      .append(true)
      .mode(0o644)
      .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
      .open(path)
  };
  let file = match open() {
    // A directory that is not there yet (`logs/` in a fresh checkout) is made.
    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
      make_parent_dirs(path)?;
      open().map_err(fail)?
    }
    // A symlink at the path.
    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return follow_to_device(path, e),
    other => other.map_err(fail)?,
  };
  let meta = file.metadata().map_err(fail)?;
  let kind = meta.file_type();
  if kind.is_fifo() || kind.is_char_device() {
    return Ok(Opened {
      file,
      size: 0,
      identity: Some((meta.dev(), meta.ino())),
      modified_ms: 0,
      kind: Kind::Stream { own: true },
    });
  }
  if !kind.is_file() {
    return Err(CoreError::sys(
      "open",
      path.display().to_string(),
      io::Error::other(format!(
        "not a regular file, a character device or a FIFO ({})",
        if kind.is_socket() {
          "a socket"
        } else {
          "a special file"
        }
      )),
    ));
  }
  // Writes to a regular file block as usual from here on.
  let flags = nix::fcntl::OFlag::O_APPEND;
  nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(flags))
    .map_err(|e| fail(io::Error::from(e)))?;
  if truncate {
    file.set_len(0).map_err(fail)?;
  }
  Ok(Opened {
    file,
    size: if truncate { 0 } else { meta.len() },
    identity: Some((meta.dev(), meta.ino())),
    modified_ms: meta.modified().map_or(0, millis_since_epoch),
    kind: Kind::File,
  })
}

/// The path is a symlink (`O_NOFOLLOW` said `ELOOP`). It is followed only when it is the
/// host's own or root's — one another user planted is refused whatever it leads to — and
/// leads to a character device or a FIFO, which hold nobody's data: never to a file,
/// which could be anybody's, and nothing is created through it. Otherwise the answer is
/// the `ELOOP` it was.
fn follow_to_device(path: &Path, refused: io::Error) -> Result<Opened, CoreError> {
  let fail = |e: io::Error| CoreError::sys("open", path.display().to_string(), e);
  // SAFETY: geteuid cannot fail and touches no memory.
  let me = unsafe { libc::geteuid() };
  let link = match fs::symlink_metadata(path) {
    Ok(link) if link.file_type().is_symlink() && (link.uid() == me || link.uid() == 0) => link,
    _ => return Err(fail(refused)),
  };
  let file = OpenOptions::new()
    .append(true)
    .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
    .open(path);
  let file = match file {
    Ok(file) => file,
    // A FIFO with nobody reading it: say so.
    Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(fail(e)),
    Err(_) => return Err(fail(refused)),
  };
  let kind = file.metadata().map_err(fail)?.file_type();
  // The same link still (not swapped for another between the look and the open).
  let same = fs::symlink_metadata(path)
    .is_ok_and(|now| (now.dev(), now.ino(), now.uid()) == (link.dev(), link.ino(), link.uid()));
  if !same || !(kind.is_char_device() || kind.is_fifo()) {
    return Err(fail(refused));
  }
  Ok(Opened {
    file,
    size: 0,
    identity: None,
    modified_ms: 0,
    kind: Kind::Stream { own: true },
  })
}

/// Opens the host's descriptor `fd` (named by `path`) as a destination: a regular file
/// through a duplicate (the host's offset), a pipe, FIFO or device through an open file
/// description of our own (non-blocking without touching the host's), else — a socket, or
/// a pipe we may not open again (another user's) — through a duplicate.
fn open_host_fd(path: &Path, fd: RawFd) -> Result<Opened, CoreError> {
  let fail = |e: io::Error| CoreError::sys("open", path.display().to_string(), e);
  // SAFETY: `stat` is plain data, all-zero bytes a valid value; fstat writes into it and
  // only reads the descriptor's number (an invalid one is EBADF).
  let mut st: libc::stat = unsafe { std::mem::zeroed() };
  // SAFETY: as above: a live local, and a descriptor number.
  if unsafe { libc::fstat(fd, &mut st) } != 0 {
    return Err(fail(io::Error::last_os_error()));
  }
  let duplicate = || {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor (3 or above) for the same open file
    // description; the original stays the host's.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
      return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: `copy` was just made, and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(copy) }))
  };
  let opened = |file, kind| Opened {
    file,
    size: 0,
    identity: None,
    modified_ms: 0,
    kind,
  };
  match st.st_mode & libc::S_IFMT {
    libc::S_IFREG => Ok(opened(duplicate()?, Kind::HostFile)),
    libc::S_IFSOCK => Ok(opened(duplicate()?, Kind::Socket)),
    libc::S_IFIFO | libc::S_IFCHR => {
      let own = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{fd}"));
      match own {
        Ok(file) => Ok(opened(file, Kind::Stream { own: true })),
        // A pipe nobody reads any more.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Err(fail(e)),
        Err(_) => Ok(opened(duplicate()?, Kind::Stream { own: false })),
      }
    }
    _ => Err(fail(io::Error::other(
      "not a regular file, a character device, a pipe or a socket",
    ))),
  }
}

/// The descriptor a child writes itself (`logDirect`): a stream of ours is made blocking
/// again, as a child expects its stdout to be (the host's own descriptions are left as the
/// host has them).
pub(super) fn for_child(opened: Opened) -> File {
  if opened.kind == (Kind::Stream { own: true }) {
    let _ = nix::fcntl::fcntl(
      &opened.file,
      nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_APPEND),
    );
  }
  opened.file
}

/// Writes what it can of `bytes` to a stream without waiting: returns how many bytes were
/// taken (fewer when the reader is behind).
pub(super) fn write_some(file: &File, kind: Kind, bytes: &[u8]) -> io::Result<usize> {
  let fd = file.as_raw_fd();
  let mut done = 0;
  while done < bytes.len() {
    let rest = &bytes[done..];
    let n = match kind {
      // SAFETY: sends from the live slice `rest`, within its length.
      Kind::Socket => unsafe {
        libc::send(
          fd,
          rest.as_ptr().cast(),
          rest.len(),
          libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
      },
      Kind::Stream { own: false } => {
        // The host's description, blocking or not as the host set it: only as much as the
        // kernel takes at once is written — a pipe that polls writable has room for
        // PIPE_BUF bytes.
        let mut poll = libc::pollfd {
          fd,
          events: libc::POLLOUT,
          revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        match unsafe { libc::poll(&mut poll, 1, 0) } {
          0 => break,
          r if r < 0 => -1,
          // SAFETY: writes from the live slice `rest`, within its length.
          _ => unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len().min(libc::PIPE_BUF)) },
        }
      }
      // SAFETY: writes from the live slice `rest`, within its length.
      _ => unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) },
    };
    match usize::try_from(n) {
      Ok(0) => break,
      Ok(n) => done += n,
      Err(_) => {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
          Some(libc::EINTR) => {}
          Some(libc::EAGAIN) => break,
          _ => return Err(e),
        }
      }
    }
  }
  Ok(done)
}

/// Makes the missing directories above `file` (mode 0755 less the umask), as `mkdir -p`
/// would, but only below a directory that exists: a symlink on the way is followed when it
/// leads to a directory (as the open will), and one that leads nowhere, a loop, or a file
/// on the way is an error naming the file, as the open would have given.
pub(super) fn make_parent_dirs(file: &Path) -> Result<(), CoreError> {
  let lookup = |e: io::Error| CoreError::sys("open", file.display().to_string(), e);
  let mut missing = Vec::new();
  let mut dir = file.parent();
  while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
    match fs::symlink_metadata(d) {
      Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
        missing.push(d);
        dir = d.parent();
      }
      Err(e) => return Err(lookup(e)),
      Ok(meta) => {
        // Follows a symlink; a dangling one is ENOENT, a loop ELOOP.
        let meta = if meta.file_type().is_symlink() {
          fs::metadata(d).map_err(lookup)?
        } else {
          meta
        };
        if !meta.is_dir() {
          return Err(lookup(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        break;
      }
    }
  }
  for d in missing.into_iter().rev() {
    match fs::DirBuilder::new().mode(0o755).create(d) {
      Ok(()) => {}
      // Made by someone else meanwhile: fine if it is a directory, and not a symlink.
      Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
        let ok = fs::symlink_metadata(d).is_ok_and(|m| m.is_dir());
        if !ok {
          return Err(CoreError::sys("mkdir", d.display().to_string(), e));
        }
      }
      Err(e) => return Err(CoreError::sys("mkdir", d.display().to_string(), e)),
    }
  }
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::logs::testing::{collect, temp};
  use crate::logs::writer::Writer;
  use crate::logs::LogConfig;
  use crate::sync::lock;
  use std::path::PathBuf;
  use std::sync::Arc;

  #[test]
  fn missing_directories_are_made_below_one_that_exists() {
    let dir = temp("mkdir");
    let file = dir.join("a/b/c/out.log");
    drop(open_log(&file, false).unwrap());
    assert!(file.is_file());
    let mode = fs::metadata(dir.join("a/b")).unwrap().mode() & 0o777;
    // 0755 less the umask: never more than 0755.
    assert_eq!(mode & !0o755, 0, "mode {mode:o}");
    // A symlink to a directory on the way is followed, as the open follows it.
    std::os::unix::fs::symlink(dir.join("a"), dir.join("link")).unwrap();
    open_log(&dir.join("link/new/out.log"), false).unwrap();
    assert!(dir.join("a/new/out.log").is_file());
  }

  #[test]
  fn what_cannot_hold_a_directory_is_the_open_error_it_was() {
    let dir = temp("mkdir-bad");
    let code = |path: PathBuf| open_log(&path, false).unwrap_err().code().unwrap();
    // A symlink to nothing: nothing is made through it.
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    assert_eq!(code(dir.join("dangling/x/out.log")), "ENOENT");
    assert!(!dir.join("nowhere").exists());
    // A loop.
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).unwrap();
    assert_eq!(code(dir.join("loop/x/out.log")), "ELOOP");
    // A file on the way.
    fs::write(dir.join("file"), "x").unwrap();
    assert_eq!(code(dir.join("file/x/out.log")), "ENOTDIR");
    // A directory that cannot be made names itself.
    let e = make_parent_dirs(Path::new("/proc/forever-native-test/out.log")).unwrap_err();
    assert_eq!(e.syscall(), Some("mkdir"));
    assert_eq!(e.path(), Some("/proc/forever-native-test"));
  }

  #[test]
  fn a_symlink_at_the_path_is_refused() {
    let dir = temp("symlink");
    let target = dir.join("elsewhere");
    let link = dir.join("out.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut w = Writer::new(
      &LogConfig {
        out_file: Some(link),
        ..Default::default()
      },
      Arc::default(),
    );
    let (report, seen) = collect();
    w.prepare(true, &report);
    let seen = lock(&seen);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].code().as_deref(), Some("ELOOP"));
    assert!(!target.exists());
  }

  #[test]
  fn the_hosts_own_descriptors_are_named_as_usual() {
    for (name, fd) in [
      ("/dev/stdout", Some(1)),
      ("/dev/stderr", Some(2)),
      ("/dev/fd/7", Some(7)),
      ("/proc/self/fd/12", Some(12)),
      ("/dev/fd/", None),
      ("/dev/fd/+1", None),
      ("/dev/fd/1/", None),
      ("/proc/1/fd/1", None),
      ("/dev/stdin2", None),
    ] {
      assert_eq!(host_fd(Path::new(name)), fd, "{name}");
    }
  }

  #[test]
  fn a_symlink_of_ours_to_a_device_or_a_fifo_is_followed_and_to_a_file_refused() {
    let dir = temp("follow");
    let link = |name: &str, to: &Path| {
      let at = dir.join(name);
      std::os::unix::fs::symlink(to, &at).unwrap();
      at
    };
    let opened = open_log(&link("null.log", Path::new("/dev/null")), true).unwrap();
    assert_eq!(opened.kind, Kind::Stream { own: true });
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let to_fifo = link("fifo.log", &fifo);
    assert_eq!(
      open_log(&to_fifo, false).unwrap_err().code().as_deref(),
      Some("ENXIO"),
      "a FIFO nobody reads"
    );
    let _reader = OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(&fifo)
      .unwrap();
    assert!(open_log(&to_fifo, false).is_ok());
    fs::write(dir.join("theirs"), "keep\n").unwrap();
    for target in [dir.join("theirs"), dir.join("nowhere"), dir.clone()] {
      let at = link(
        &format!("{}.log", target.display()).replace('/', "_"),
        &target,
      );
      assert_eq!(
        open_log(&at, true).unwrap_err().code().as_deref(),
        Some("ELOOP"),
        "{target:?}"
      );
    }
    assert_eq!(fs::read_to_string(dir.join("theirs")).unwrap(), "keep\n");
    assert!(!dir.join("nowhere").exists());
  }
}
