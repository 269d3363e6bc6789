//! A log path's file, shared by every writer of that path in the process.
//!
//! Several monitors of one host may log to the same file (the workers of one service, or
//! PM2-style merged logs). Were each to hold a descriptor of its own and rotate on its own,
//! their renames would overwrite each other's rotated files, and lines would be lost. So
//! the writers of one path share one [`SharedFile`], found in a process-wide registry by
//! the path's canonical form and kept while any writer holds it: one descriptor, one size,
//! one period, one [`Shelf`] — and one lock, which a writer holds for a whole chunk of
//! output, so that the file rotates once at its limit and every line goes, whole, into
//! exactly one file. The writer that opens a path first sets how it rotates.
//!
//! The file is opened as [`open`](super::open) says, and opened again when it was moved or
//! deleted. A stream's reader may be behind: what it does not take yet waits here, and the
//! writers wait for it without holding a thread (see [`FileState::waiting`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::keeper::{self, Keep, Shelf};
use super::open::{host_fd, make_parent_dirs, open_log, write_some, Kind};
use super::schedule::{Period, Schedule};
use super::{Report, LOG_BACKLOG, RECHECK};
use crate::error::CoreError;
use crate::sync::lock;

/// In line mode, whole lines are gathered up to this many bytes and written at once.
const BATCH: usize = 256 * 1024;

/// How a file rotates: the settings of the writer that opened it first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rotation {
  /// Rotate before the file would grow past this many bytes.
  pub max_size: Option<u64>,
  /// Rotate when the file's period ends.
  pub schedule: Option<Schedule>,
  /// Rotated files to keep; with 0, a rotation empties the file instead.
  pub max_files: u32,
  /// What becomes of rotated files, for a file that rotates.
  pub keep: Option<Keep>,
}

/// One path's file, shared by the writers of that path (see the module's description).
pub(super) struct SharedFile {
  /// The registry's key: the canonical path.
  key: PathBuf,
  state: Mutex<FileState>,
}

/// Every path written in this process, to the file its writers share. Weak: a file goes
/// when its last writer does.
static FILES: Mutex<BTreeMap<PathBuf, Weak<SharedFile>>> = Mutex::new(BTreeMap::new());

impl SharedFile {
  /// The file its writers share for `path` (call off the JS thread: the path is
  /// resolved), and whether this call made it: the caller is then the first writer, and
  /// `rotation` is how the file rotates.
  pub fn acquire(path: &Path, rotation: Rotation) -> (Arc<SharedFile>, bool) {
    let key = key_of(path);
    let mut files = lock(&FILES);
    if let Some(file) = files.get(&key).and_then(Weak::upgrade) {
      return (file, false);
    }
    let file = Arc::new(SharedFile {
      key: key.clone(),
      state: Mutex::new(FileState::new(path.to_path_buf(), rotation)),
    });
    files.insert(key, Arc::downgrade(&file));
    (file, true)
  }

  /// The file's state, locked: held for a whole chunk of one writer's output.
  pub fn lock(&self) -> std::sync::MutexGuard<'_, FileState> {
    lock(&self.state)
  }
}

impl Drop for SharedFile {
  fn drop(&mut self) {
    let mut files = lock(&FILES);
    // Another writer may have opened the path anew since the last one let go.
    if files.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
      files.remove(&self.key);
    }
  }
}

/// The registry's key for `path`: its directory resolved (symlinks, `..`) and its own name
/// as given — the file itself is never opened through a symlink. A directory that is not
/// there yet is made first, as the open would; one that cannot be is keyed by the path made
/// absolute, and the open reports why.
fn key_of(path: &Path) -> PathBuf {
  if let Some(fd) = host_fd(path) {
    // `/dev/stdout`, `/dev/fd/1` and `/proc/self/fd/1` are one destination.
    return PathBuf::from(format!("/proc/self/fd/{fd}"));
  }
  let dir = match path.parent() {
    Some(d) if !d.as_os_str().is_empty() => d,
    _ => Path::new("."),
  };
  let canonical = fs::canonicalize(dir).or_else(|_| {
    let _ = make_parent_dirs(path);
    fs::canonicalize(dir)
  });
  match (canonical, path.file_name()) {
    (Ok(dir), Some(name)) => dir.join(name),
    _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
  }
}

/// A failure kept to be given again, as the same error, while it lasts.
#[derive(Debug)]
struct Failure {
  syscall: &'static str,
  path: Option<String>,
  errno: Option<i32>,
  text: String,
}

impl Failure {
  fn of(e: &CoreError) -> Failure {
    Failure {
      syscall: e.syscall().unwrap_or("open"),
      path: e.path().map(str::to_string),
      errno: e.errno().map(|n| -n),
      text: e.to_string(),
    }
  }

  fn error(&self) -> CoreError {
    let source = match self.errno {
      Some(n) => io::Error::from_raw_os_error(n),
      None => io::Error::other(self.text.clone()),
    };
    CoreError::sys(self.syscall, self.path.clone(), source)
  }
}

/// A shared file's state: what its writers write through, under its lock.
pub(super) struct FileState {
  /// The path, as the first writer gave it.
  pub path: PathBuf,
  file: Option<File>,
  /// Bytes in the file (those gathered in `batch` not counted).
  pub size: u64,
  identity: Option<(u64, u64)>,
  /// When the file was last written before it was opened (ms since the epoch).
  modified_ms: i64,
  /// What the destination is (as last opened).
  kind: Kind,
  /// When the path was last looked at (opened, or checked for having moved).
  pub(super) checked: Option<Instant>,
  /// The last open failed, this way: given again until the next try.
  failure: Option<Failure>,
  /// How it rotates.
  pub rotation: Rotation,
  /// Its rotated files, when it rotates.
  shelf: Option<Arc<Shelf>>,
  /// With time rotation, the period of the lines in the file, once a line has asked.
  pub period: Option<Period>,
  /// In line mode, whole lines gathered to be written in one go (before the lock is let
  /// go, before a rotation, or at [`BATCH`] bytes).
  pub batch: Vec<u8>,
  /// A rotation failed (the file could not be moved aside: a directory the process may not
  /// write, a bind-mounted file): the file stays open and takes the lines past its limit,
  /// and no rotation is tried again before this instant.
  rotation_held: Option<Instant>,
  /// Each writer's flag: whether its monitor's child runs (its lines are coming).
  writers: Vec<Weak<AtomicBool>>,
  /// Bytes a stream's reader has not taken yet, written before any other.
  unwritten: Vec<u8>,
}

impl FileState {
  fn new(path: PathBuf, rotation: Rotation) -> FileState {
    // The host's own descriptors never rotate, and `/dev` holds no rotated files.
    let shelf = rotation
      .keep
      .filter(|_| host_fd(&path).is_none())
      .and_then(|keep| Shelf::new(&path, keep));
    FileState {
      path,
      file: None,
      size: 0,
      identity: None,
      modified_ms: 0,
      kind: Kind::File,
      checked: None,
      failure: None,
      rotation,
      shelf,
      period: None,
      batch: Vec::new(),
      rotation_held: None,
      writers: Vec::new(),
      unwritten: Vec::new(),
    }
  }

  /// Whether the file is open and rotates: a regular file opened at its path. A device, a
  /// stream or the host's own file never rotates.
  pub fn rotatable(&self) -> bool {
    self.file.is_some() && self.kind == Kind::File
  }

  /// Asks the keeper for a pass over the rotated files (a rotating file only), reporting
  /// failures to `report`.
  pub fn tidy(&self, report: Option<&Report>) {
    if let Some(shelf) = &self.shelf {
      keeper::request(shelf, report.cloned());
    }
  }

  /// Counts a writer in, with the flag that says when its monitor's child runs.
  pub fn join(&mut self, live: &Arc<AtomicBool>) {
    self.writers.retain(|w| w.strong_count() > 0);
    self.writers.push(Arc::downgrade(live));
  }

  /// Whether another writer's child runs now: its lines are in the file, and more come.
  pub fn others_live(&self, mine: &Arc<AtomicBool>) -> bool {
    self
      .writers
      .iter()
      .filter_map(Weak::upgrade)
      .any(|live| !Arc::ptr_eq(&live, mine) && live.load(std::sync::atomic::Ordering::Acquire))
  }

  /// Whether a failed rotation holds the next one back for now.
  pub fn rotation_held(&self) -> bool {
    self
      .rotation_held
      .is_some_and(|until| Instant::now() < until)
  }

  /// The file's length once the lines gathered are written.
  pub fn length(&self) -> u64 {
    self.size + self.batch.len() as u64
  }

  /// Writes the lines gathered, in one write; `None` when there were none (nothing was
  /// tried, so nothing ends or starts an episode of failure).
  pub fn flush(&mut self) -> Option<Result<(), CoreError>> {
    if self.batch.is_empty() {
      return None;
    }
    // Not kept: a thousand idle monitors should not each hold a batch's worth of memory.
    let bytes = std::mem::take(&mut self.batch);
    Some(self.write(&bytes))
  }

  /// Gathers `bytes` (whole lines; with `newline`, one more is ended), writing what is
  /// gathered once it reaches [`BATCH`] (then with the write's outcome).
  pub fn append(&mut self, bytes: &[u8], newline: bool) -> Option<Result<(), CoreError>> {
    self.batch.extend_from_slice(bytes);
    if newline {
      self.batch.push(b'\n');
    }
    if self.batch.len() >= BATCH {
      return self.flush();
    }
    None
  }

  /// Opens the file (truncating it with `truncate`).
  pub fn open(&mut self, truncate: bool) -> Result<(), CoreError> {
    self.file = None;
    self.checked = Some(Instant::now());
    let opened = match open_log(&self.path, truncate) {
      Ok(opened) => opened,
      Err(e) => {
        self.failure = Some(Failure::of(&e));
        return Err(e);
      }
    };
    self.failure = None;
    self.file = Some(opened.file);
    self.size = opened.size;
    self.identity = opened.identity;
    self.modified_ms = opened.modified_ms;
    self.kind = opened.kind;
    // Perhaps another file: its period is worked out again at its next line.
    self.period = None;
    Ok(())
  }

  /// Closes the file: a monitor that is never started costs no descriptor. The next write
  /// opens it again.
  pub fn close(&mut self) {
    self.file = None;
    self.checked = None;
  }

  /// Opens the file if it is not open, and re-opens it when it was moved or deleted under
  /// us; at most once per [`RECHECK`] after the first time.
  pub fn ready(&mut self) -> Result<(), CoreError> {
    if self.checked.is_some_and(|at| at.elapsed() < RECHECK) {
      return match (&self.file, &self.failure) {
        (None, Some(failure)) => Err(failure.error()),
        _ => Ok(()),
      };
    }
    self.checked = Some(Instant::now());
    let moved = self.identity.is_some_and(|identity| {
      let current = fs::symlink_metadata(&self.path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
      current != Some(identity)
    });
    if self.file.is_none() || moved {
      self.open(false)?;
    }
    Ok(())
  }

  /// Writes `bytes` now: to a file in full; to a stream as far as its reader takes them,
  /// the rest waiting (see [`FileState::waiting`]).
  pub fn write(&mut self, bytes: &[u8]) -> Result<(), CoreError> {
    self.ready()?;
    let Some(file) = self.file.as_mut() else {
      return Ok(());
    };
    if matches!(self.kind, Kind::Stream { .. } | Kind::Socket) {
      return self.stream(bytes);
    }
    match file.write_all(bytes) {
      Ok(()) => {
        self.size += bytes.len() as u64;
        Ok(())
      }
      Err(e) => Err(CoreError::sys("write", self.path.display().to_string(), e)),
    }
  }

  /// Writes `bytes` to a stream after what waits, keeping what its reader does not take.
  fn stream(&mut self, bytes: &[u8]) -> Result<(), CoreError> {
    self.push()?;
    let taken = if self.unwritten.is_empty() {
      self.send(bytes)?
    } else {
      0
    };
    let rest = &bytes[taken..];
    // Each writer waits for the reader before its next chunk, so what waits here is at
    // most a chunk per writer; only many writers of one stalled stream reach this bound.
    if self.unwritten.len() + rest.len() > LOG_BACKLOG {
      return Err(CoreError::sys(
        "write",
        self.path.display().to_string(),
        io::Error::other(format!(
          "its reader has not taken {} bytes: {} more dropped",
          self.unwritten.len(),
          rest.len()
        )),
      ));
    }
    self.unwritten.extend_from_slice(rest);
    Ok(())
  }

  /// Writes what waits for a stream's reader, as far as it takes it. Returns how many
  /// bytes went.
  pub fn push(&mut self) -> Result<usize, CoreError> {
    if self.unwritten.is_empty() {
      return Ok(0);
    }
    let waiting = std::mem::take(&mut self.unwritten);
    let taken = self.send(&waiting)?;
    self.unwritten = waiting;
    self.unwritten.drain(..taken);
    Ok(taken)
  }

  /// Whether bytes wait for a stream's reader: the writers then wait until it takes more
  /// (for [`FileState::poll_fd`] to be writable), without holding a thread.
  pub fn waiting(&self) -> bool {
    !self.unwritten.is_empty()
  }

  /// A descriptor to wait on for the stream to take more (a duplicate: the file may be
  /// closed and opened again meanwhile).
  pub fn poll_fd(&self) -> Option<OwnedFd> {
    self.file.as_ref()?.as_fd().try_clone_to_owned().ok()
  }

  /// Writes what the stream takes of `bytes` now. A failure (the reader went away, the
  /// device failed) closes it and drops what waited; the next write after [`RECHECK`]
  /// opens it again (a FIFO is `ENXIO` until a reader comes).
  fn send(&mut self, bytes: &[u8]) -> Result<usize, CoreError> {
    let Some(file) = self.file.as_ref() else {
      self.unwritten.clear();
      return Ok(bytes.len());
    };
    match write_some(file, self.kind, bytes) {
      Ok(n) => Ok(n),
      Err(e) => {
        let e = CoreError::sys("write", self.path.display().to_string(), e);
        self.file = None;
        self.unwritten.clear();
        self.checked = Some(Instant::now());
        self.failure = Some(Failure::of(&e));
        Err(e)
      }
    }
  }

  /// Whether the file is open (its size and kind are known).
  pub fn is_open(&self) -> bool {
    self.file.is_some()
  }

  /// With time rotation, at `now_ms`: the label of the period the file's lines belong to
  /// when that period is over (the file is then due to rotate), after which the current
  /// period is the file's. Costs one comparison until the period ends.
  pub fn period_due(&mut self, schedule: &Schedule, now_ms: i64) -> Option<String> {
    if self.period.as_ref().is_some_and(|p| now_ms < p.end_ms) {
      return None;
    }
    let zone = schedule.zone();
    let ended = match self.period.take() {
      Some(period) => Some(period.label),
      // The first line since the file was opened: what it holds was written in the period
      // of its last write (a host restarted the next day finds yesterday's lines).
      None if self.length() > 0 => {
        let then = schedule.period_at(self.modified_ms, zone);
        (then.end_ms <= now_ms).then_some(then.label)
      }
      None => None,
    };
    self.period = Some(schedule.period_at(now_ms, zone));
    ended.filter(|_| self.length() > 0)
  }

  /// Moves the file aside as a rotated file (named for `label`'s period, or numbered) and
  /// opens a new one; with `max_files` = 0, empties it instead. The keeper then compresses
  /// and prunes the rotated files, in the background, reporting to `report`.
  pub fn rotate(&mut self, label: Option<&str>, report: Option<&Report>) -> Result<(), CoreError> {
    // The new file starts in the current period (its creation time, which the kernel
    // keeps coarsely, could still fall in the last one).
    let period = self.period.take();
    match self.shelf.clone().filter(|_| self.rotation.max_files > 0) {
      Some(shelf) => {
        if let Err(e) = shelf.rotate(&self.path, label) {
          // The file is where it was, still open and writable: the lines go on into it,
          // past its limit, rather than nowhere; the rotation is tried again later, and
          // its failure reported once until one works.
          self.period = period;
          let again = self.rotation_held.replace(Instant::now() + RECHECK);
          return if again.is_some() { Ok(()) } else { Err(e) };
        }
        self.rotation_held = None;
        keeper::request(&shelf, report.cloned());
        self.open(false)?;
      }
      None => self.open(true)?,
    }
    self.period = period;
    Ok(())
  }
}
