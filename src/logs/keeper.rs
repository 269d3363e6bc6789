//! What becomes of a log's rotated files: their names, their compression and their
//! retention, kept off the writer's path.
//!
//! Each rotating log has a [`Shelf`]: its naming, and a lock that every rename of its
//! rotated files takes — the writer's rotation, and the last step of a compression. A
//! rotation is one rename, to a name no file has, whatever the number of files kept: a
//! rotated file is never renamed again (numbered files count up, the newest has the
//! highest number), and nothing is ever overwritten. When a log is first opened, and after
//! each rotation, the writer asks for a housekeeping pass ([`request`]) and goes on
//! writing. Passes run on one background thread
//! shared by every monitor (started when there is work, gone when there is none), one at a
//! time and in the order asked; a log has at most one pass waiting, so the queue is never
//! longer than the number of rotating logs. A pass:
//!
//! 1. removes what an interrupted compression left (`X.gz.tmp`, or `X` beside a finished
//!    `X.gz`);
//! 2. applies retention: keeps the newest `logMaxFiles` rotated files and removes those
//!    last written more than `logMaxAge` ago — only names this log's naming produces;
//! 3. with compression, gzips every rotated file still plain, oldest first: into `X.gz.tmp`,
//!    flushed to disk (`fsync`), renamed to `X.gz`, the directory flushed, and only then is
//!    `X` removed. A crash at any point leaves `X`, or `X.gz`, or both — never neither.
//!
//! If rotations outpace compression, rotated files wait uncompressed on disk (retention
//! still counts them) and the next pass takes all of them: nothing is dropped, and nothing
//! but disk space grows.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use flate2::{Compression, GzBuilder};

use super::schedule::{Naming, Rotated};
use super::Report;
use crate::error::CoreError;
use crate::sync::lock;

/// Buffer for reading a rotated file and writing its compressed form.
const COPY_BUFFER: usize = 256 * 1024;

/// A rotating log's rotated files: how they are named and what is kept.
pub struct Shelf {
  /// The directory the log is in.
  dir: PathBuf,
  /// The log's file name (`out.log`).
  base: String,
  naming: Naming,
  compress: bool,
  max_files: u32,
  max_age: Option<Duration>,
  state: Mutex<ShelfState>,
}

#[derive(Default)]
struct ShelfState {
  /// A pass waits in the queue (a second request adds nothing).
  queued: bool,
  /// The last dated name given out: a period's label, and its counter.
  last: Option<(String, u64)>,
  /// The next number for a numbered file, once the directory has been read for it.
  next: Option<u64>,
  /// A failure has been reported, and nothing has worked since.
  failing: bool,
}

/// The settings a [`Shelf`] keeps to.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
  /// How rotated files are named.
  pub naming: Naming,
  /// Gzip rotated files.
  pub compress: bool,
  /// The most rotated files kept.
  pub max_files: u32,
  /// Rotated files last written longer ago than this are removed.
  pub max_age: Option<Duration>,
}

#[cfg(test)]
thread_local! {
  /// Names a rotation looked up, renamed or removed on this thread (tests only).
  static TOUCHED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one name touched on a rotation's path: a rotation's cost, for the tests that
/// check it does not grow with the number of files kept.
fn touch() {
  #[cfg(test)]
  TOUCHED.with(|t| t.set(t.get() + 1));
}

fn exists(path: &Path) -> bool {
  touch();
  fs::symlink_metadata(path).is_ok()
}

/// Names tried for one rotated file before a rotation gives up: only names taken by
/// something else (a directory planted there, another process's files) are passed over.
const PROBES: u64 = 1000;

/// Renames `from` to `to` unless `to` exists (`EEXIST` then): a rotation never overwrites
/// a file, whoever made it. Where the kernel or the file system cannot do that in one call
/// (Linux before 3.15, some network file systems), it looks first.
fn rename_new(from: &Path, to: &Path) -> io::Result<()> {
  use std::os::unix::ffi::OsStrExt;
  touch();
  let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
  let (from_c, to_c) = (c(from)?, c(to)?);
  // SAFETY: renameat2 reads two NUL-terminated paths, which live across the call; glibc
  // 2.17 (the floor) has no wrapper for it, hence the raw system call.
  let done = unsafe {
    libc::syscall(
      libc::SYS_renameat2,
      libc::AT_FDCWD,
      from_c.as_ptr(),
      libc::AT_FDCWD,
      to_c.as_ptr(),
      libc::RENAME_NOREPLACE,
    )
  };
  if done == 0 {
    return Ok(());
  }
  let e = io::Error::last_os_error();
  match e.raw_os_error() {
    Some(libc::EINVAL | libc::ENOSYS) if exists(to) => {
      Err(io::Error::from_raw_os_error(libc::EEXIST))
    }
    Some(libc::EINVAL | libc::ENOSYS) => fs::rename(from, to),
    _ => Err(e),
  }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
  let mut name = path.as_os_str().to_owned();
  name.push(suffix);
  PathBuf::from(name)
}

fn identity_of(meta: &fs::Metadata) -> (u64, u64) {
  (meta.dev(), meta.ino())
}

impl Shelf {
  /// The shelf of the log at `path`, or `None` for a path without a file name.
  pub fn new(path: &Path, keep: Keep) -> Option<Arc<Shelf>> {
    let base = path.file_name()?.to_str()?.to_string();
    let dir = match path.parent() {
      Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
      _ => PathBuf::from("."),
    };
    Some(Arc::new(Shelf {
      dir,
      base,
      naming: keep.naming,
      compress: keep.compress,
      max_files: keep.max_files,
      max_age: keep.max_age,
      state: Mutex::new(ShelfState::default()),
    }))
  }

  fn numbered(&self, n: u64) -> PathBuf {
    self.dir.join(Naming::numbered(&self.base, n))
  }

  /// Moves the log at `path` aside as the newest rotated file: for a dated naming, the next
  /// free name of `label`'s period; for a numbered one, the next number (counting up from
  /// the highest there, read from the directory at the first rotation). One rename, and
  /// two names looked at, however many files are kept. Returns the new name.
  pub fn rotate(&self, path: &Path, label: Option<&str>) -> Result<PathBuf, CoreError> {
    let mut state = lock(&self.state);
    match (self.naming, label) {
      (Naming::Dated(_), Some(label)) => {
        let from = match &state.last {
          Some((last, n)) if last == label => n + 1,
          _ => 0,
        };
        let (to, n) = self.claim(path, from, |n| {
          self.dir.join(Naming::dated(&self.base, label, n))
        })?;
        state.last = Some((label.to_string(), n));
        Ok(to)
      }
      _ => {
        let from = match state.next {
          Some(n) => n,
          None => match self.highest() {
            Ok(top) => top + 1,
            // The rename says why (the directory went away, say), and the next rotation
            // reads the directory again.
            Err(_) => 1,
          },
        };
        let (to, n) = self.claim(path, from, |n| self.numbered(n))?;
        state.next = Some(n + 1);
        Ok(to)
      }
    }
  }

  /// Moves `path` to the first name from `name(from)` on that no file has, with or without
  /// `.gz`/`.gz.tmp`. Returns the name and its number.
  fn claim(
    &self,
    path: &Path,
    from: u64,
    name: impl Fn(u64) -> PathBuf,
  ) -> Result<(PathBuf, u64), CoreError> {
    let fail = |e: io::Error| CoreError::sys("rename", path.display().to_string(), e);
    for n in from..from.saturating_add(PROBES) {
      let to = name(n);
      if exists(&with_suffix(&to, ".gz")) || exists(&with_suffix(&to, ".gz.tmp")) {
        continue;
      }
      match rename_new(path, &to) {
        Ok(()) => return Ok((to, n)),
        // Taken, by a rotated file or by anything else (a directory planted there).
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
        Err(e) => return Err(fail(e)),
      }
    }
    Err(fail(io::Error::other(format!(
      "the next {PROBES} names for a rotated file are all taken"
    ))))
  }

  /// The highest number among this log's numbered files, 0 when there are none.
  fn highest(&self) -> io::Result<u64> {
    touch();
    let mut top = 0;
    for entry in fs::read_dir(&self.dir)? {
      let entry = entry?;
      if let Some(rotated) = entry
        .file_name()
        .to_str()
        .and_then(|name| Naming::Numbered.parse(&self.base, name))
      {
        top = top.max(rotated.counter());
      }
    }
    Ok(top)
  }

  /// This log's rotated files now, grouped by name (`X` with `X.gz` and `X.gz.tmp`).
  fn survey(&self) -> io::Result<Vec<Group>> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let entries = match fs::read_dir(&self.dir) {
      // A directory moved or removed since holds nothing of this log's to tidy; the writer
      // says what became of the log itself.
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
      other => other?,
    };
    for entry in entries {
      let entry = entry?;
      let Some(name) = entry.file_name().to_str().map(str::to_string) else {
        continue;
      };
      let Some(rotated) = self.naming.parse(&self.base, &name) else {
        continue;
      };
      // Only regular files: never a symlink or a directory that happens to match. The
      // type comes with the directory's entry: a thousand files kept cost no thousand
      // system calls per pass.
      if !entry.file_type().is_ok_and(|t| t.is_file()) {
        continue;
      }
      let group = groups.entry(rotated.stem.clone()).or_insert_with(|| Group {
        rotated: rotated.clone(),
        plain: false,
        gz: false,
        tmp: false,
      });
      match (rotated.gz, rotated.tmp) {
        (_, true) => group.tmp = true,
        (true, false) => group.gz = true,
        (false, false) => group.plain = true,
      }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| a.rotated.age_order(&b.rotated));
    Ok(groups)
  }

  fn path_of(&self, stem: &str) -> PathBuf {
    self.dir.join(stem)
  }

  /// Steps 1 and 2 of a pass (see the module's description), under the shelf's lock so that
  /// no rotation renames a file between its survey and its removal. Returns the plain files
  /// left to compress, oldest first.
  fn tidy(&self, now: SystemTime) -> io::Result<Vec<String>> {
    let _names = lock(&self.state);
    let groups = self.survey()?;
    let mut kept = Vec::new();
    let mut failure = None;
    let mut remove = |path: PathBuf| {
      if let Err(e) = fs::remove_file(&path) {
        if e.kind() != io::ErrorKind::NotFound {
          failure.get_or_insert(e);
        }
      }
    };
    // A name that holds only an unfinished .gz.tmp is no rotated file: it is not counted.
    let mut groups = groups;
    groups.retain(|group| {
      if group.tmp {
        remove(with_suffix(&self.path_of(&group.rotated.stem), ".gz.tmp"));
      }
      group.plain || group.gz
    });
    let excess = groups.len().saturating_sub(self.max_files as usize);
    // Files are rotated, and last written, in the order of their names: the age is read
    // from the oldest on, only until one is young enough.
    let mut aging = self.max_age;
    for (i, group) in groups.into_iter().enumerate() {
      let path = self.path_of(&group.rotated.stem);
      let too_old = i >= excess
        && aging.is_some_and(|age| {
          let which = if group.plain { "" } else { ".gz" };
          let written = fs::symlink_metadata(with_suffix(&path, which)).and_then(|m| m.modified());
          let old = written.is_ok_and(|at| now.duration_since(at).is_ok_and(|d| d > age));
          if !old {
            aging = None;
          }
          old
        });
      if i < excess || too_old {
        for suffix in ["", ".gz"] {
          remove(with_suffix(&path, suffix));
        }
        continue;
      }
      match (group.plain, group.gz) {
        // The .gz was renamed into place only once complete: the plain file is redundant.
        (true, true) => remove(path),
        (true, false) => kept.push(group.rotated.stem),
        _ => {}
      }
    }
    match failure {
      Some(e) => Err(e),
      None => Ok(kept),
    }
  }

  /// Gzips the rotated file now named `stem`, as step 3 of a pass describes.
  fn compress_one(&self, stem: &str) -> io::Result<()> {
    match self.gzip(stem)? {
      Some((identity, tmp)) => self.put_in_place(stem, identity, &tmp),
      None => Ok(()),
    }
  }

  /// Writes the gzipped form of the file named `stem` to `stem.gz.tmp`, flushed to disk.
  /// Returns the file's identity and the temporary name, or `None` when the file has gone.
  fn gzip(&self, stem: &str) -> io::Result<Option<((u64, u64), PathBuf)>> {
    let path = self.path_of(stem);
    let source = match OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
      .open(&path)
    {
      Ok(file) => file,
      // Removed meanwhile (retention, or someone else): nothing to do.
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
      Err(e) => return Err(e),
    };
    let meta = source.metadata()?;
    if !meta.is_file() {
      return Ok(None);
    }
    let tmp = with_suffix(&path, ".gz.tmp");
    let _ = fs::remove_file(&tmp);
    if let Err(e) = self.write_gz(&source, &meta, stem, &tmp) {
      let _ = fs::remove_file(&tmp);
      return Err(e);
    }
    Ok(Some((identity_of(&meta), tmp)))
  }

  /// The last step, under the lock: when the file compressed is still the one at its name
  /// (rotated files are never renamed, but may have been removed, or replaced by someone),
  /// its `.gz` takes the name beside it, the directory is flushed, and the plain file goes.
  fn put_in_place(&self, stem: &str, identity: (u64, u64), tmp: &Path) -> io::Result<()> {
    let _names = lock(&self.state);
    let path = self.path_of(stem);
    let same = fs::symlink_metadata(&path).is_ok_and(|m| identity_of(&m) == identity);
    if !same {
      let _ = fs::remove_file(tmp);
      return Ok(());
    }
    fs::rename(tmp, with_suffix(&path, ".gz"))?;
    sync_dir(&self.dir)?;
    fs::remove_file(&path)
  }

  fn write_gz(&self, source: &File, meta: &fs::Metadata, stem: &str, tmp: &Path) -> io::Result<()> {
    let out = OpenOptions::new()
      .write(true)
      .create_new(true)
      .mode(0o644)
      .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
      .open(tmp)?;
    let mut gz = GzBuilder::new()
      .filename(stem.as_bytes())
      .mtime(u32::try_from(meta.mtime()).unwrap_or(0))
      .write(
        BufWriter::with_capacity(COPY_BUFFER, out),
        Compression::default(),
      );
    io::copy(&mut BufReader::with_capacity(COPY_BUFFER, source), &mut gz)?;
    let out = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    // Retention goes by when a file was last written: the .gz keeps the original's time.
    if let Ok(modified) = meta.modified() {
      out.set_modified(modified)?;
    }
    out.sync_all()
  }

  /// One housekeeping pass. Failures are returned, first one only.
  pub fn pass(&self, now: SystemTime) -> Result<(), CoreError> {
    let fail =
      |e: io::Error| CoreError::sys("rotate", self.dir.join(&self.base).display().to_string(), e);
    let plain = self.tidy(now).map_err(fail)?;
    if self.compress {
      for stem in plain {
        self
          .compress_one(&stem)
          .map_err(|e| CoreError::sys("gzip", self.path_of(&stem).display().to_string(), e))?;
      }
    }
    Ok(())
  }

  /// Reports `result` once per episode of failure.
  fn outcome(&self, result: Result<(), CoreError>, report: Option<&Report>) {
    let mut state = lock(&self.state);
    match result {
      Ok(()) => state.failing = false,
      Err(e) => {
        if !std::mem::replace(&mut state.failing, true) {
          drop(state);
          if let Some(report) = report {
            report(e);
          }
        }
      }
    }
  }
}

struct Group {
  rotated: Rotated,
  /// The plain file is there.
  plain: bool,
  /// Its finished `.gz` is there.
  gz: bool,
  /// An unfinished `.gz.tmp` is there.
  tmp: bool,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
  File::open(dir)?.sync_all()
}

struct Queue {
  passes: VecDeque<(Arc<Shelf>, Option<Report>)>,
  running: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
  passes: VecDeque::new(),
  running: false,
});

/// Asks for a housekeeping pass of `shelf` on the background thread; failures go to
/// `report`. Returns at once.
pub fn request(shelf: &Arc<Shelf>, report: Option<Report>) {
  {
    let mut state = lock(&shelf.state);
    if std::mem::replace(&mut state.queued, true) {
      return;
    }
  }
  let mut queue = lock(&QUEUE);
  queue.passes.push_back((Arc::clone(shelf), report));
  if queue.running {
    return;
  }
  queue.running = true;
  let started = std::thread::Builder::new()
    .name("forever-native-logs".to_string())
    .spawn(run);
  if started.is_err() {
    // No thread now (the host is at its limit): the passes wait for the next request.
    queue.running = false;
  }
}

fn run() {
  loop {
    let (shelf, report) = {
      let mut queue = lock(&QUEUE);
      match queue.passes.pop_front() {
        Some(next) => next,
        None => {
          queue.running = false;
          return;
        }
      }
    };
    lock(&shelf.state).queued = false;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
      shelf.pass(SystemTime::now())
    }))
    .unwrap_or_else(|_| {
      Err(CoreError::Panic(
        "a log housekeeping pass panicked".to_string(),
      ))
    });
    shelf.outcome(result, report.as_ref());
  }
}

/// Waits until no pass is queued or running (tests only).
#[cfg(test)]
pub fn settle() {
  let deadline = std::time::Instant::now() + Duration::from_secs(10);
  while std::time::Instant::now() < deadline {
    let queue = lock(&QUEUE);
    if !queue.running && queue.passes.is_empty() {
      return;
    }
    drop(queue);
    std::thread::sleep(Duration::from_millis(5));
  }
  panic!("housekeeping did not settle");
}

#[cfg(test)]
mod tests {
  use super::super::schedule::{Schedule, DAY_MS};
  use super::*;
  use std::io::{Read, Write};

  fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fn-keeper-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
  }

  fn daily(max_files: u32, compress: bool, max_age: Option<Duration>) -> Keep {
    Keep {
      naming: Naming::Dated(Schedule {
        every_ms: DAY_MS,
        utc: true,
      }),
      compress,
      max_files,
      max_age,
    }
  }

  fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
      .unwrap()
      .map(|e| e.unwrap().file_name().into_string().unwrap())
      .collect();
    names.sort();
    names
  }

  fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(File::open(path).unwrap())
      .read_to_string(&mut text)
      .unwrap();
    text
  }

  fn set_mtime(path: &Path, at: SystemTime) {
    File::options()
      .write(true)
      .open(path)
      .unwrap()
      .set_modified(at)
      .unwrap();
  }

  #[test]
  fn dated_names_count_up_within_a_period_and_skip_what_exists() {
    let dir = temp("claim");
    let log = dir.join("out.log");
    let shelf = Shelf::new(&log, daily(10, false, None)).unwrap();
    fs::write(dir.join("out.log.2026-11-30.gz"), "").unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
      fs::write(&log, "x\n").unwrap();
      got.push(shelf.rotate(&log, Some("2026-11-30")).unwrap());
    }
    fs::write(&log, "x\n").unwrap();
    got.push(shelf.rotate(&log, Some("2026-12-01")).unwrap());
    let got: Vec<_> = got
      .iter()
      .map(|p| p.file_name().unwrap().to_str().unwrap())
      .collect();
    assert_eq!(
      got,
      [
        "out.log.2026-11-30.1",
        "out.log.2026-11-30.2",
        "out.log.2026-11-30.3",
        "out.log.2026-12-01"
      ]
    );
    // A name freed by retention is not given out again within its period: order holds.
    fs::remove_file(dir.join("out.log.2026-11-30.1")).unwrap();
    fs::write(&log, "x\n").unwrap();
    let again = shelf.rotate(&log, Some("2026-12-01")).unwrap();
    assert!(again.ends_with("out.log.2026-12-01.1"));
  }

  /// The names each of `rotations` rotations of `log` touched.
  fn costs(shelf: &Shelf, log: &Path, label: Option<&str>, rotations: usize) -> Vec<u64> {
    (0..rotations)
      .map(|_| {
        fs::write(log, "x\n").unwrap();
        let before = TOUCHED.with(|t| t.get());
        shelf.rotate(log, label).unwrap();
        TOUCHED.with(|t| t.get()) - before
      })
      .collect()
  }

  #[test]
  fn a_rotation_costs_the_same_with_1000_files_kept_as_with_none() {
    let keep = |naming| Keep {
      naming,
      compress: true,
      max_files: 1000,
      max_age: Some(Duration::from_secs(14 * 86_400)),
    };
    let hourly = Naming::Dated(Schedule {
      every_ms: 3_600_000,
      utc: true,
    });
    for (naming, plant) in [
      (
        Naming::Numbered,
        Box::new(|n: u64| format!("out.log.{n}")) as Box<dyn Fn(u64) -> String>,
      ),
      (
        hourly,
        Box::new(|n: u64| format!("out.log.2026-01-{:02}T{:02}", 1 + n / 24, n % 24)),
      ),
    ] {
      let empty = temp(&format!("cost-none-{naming:?}"));
      let full = temp(&format!("cost-1000-{naming:?}"));
      for n in 1..=1000 {
        let name = plant(n);
        let name = if n % 2 == 0 {
          format!("{name}.gz")
        } else {
          name
        };
        fs::write(full.join(name), "old\n").unwrap();
      }
      let label = (naming != Naming::Numbered).then_some("2026-11-30T14");
      let none = costs(
        &Shelf::new(&empty.join("out.log"), keep(naming)).unwrap(),
        &empty.join("out.log"),
        label,
        20,
      );
      let kept = costs(
        &Shelf::new(&full.join("out.log"), keep(naming)).unwrap(),
        &full.join("out.log"),
        label,
        20,
      );
      // One rename, and a few names looked at: the same with 1,000 files as with none.
      assert!(
        none.iter().all(|&c| c <= 4),
        "{naming:?}, no files: {none:?}"
      );
      assert_eq!(kept, none, "{naming:?}, 1,000 files kept");
    }
  }

  #[test]
  fn numbered_files_count_up_from_the_highest_and_are_never_renamed_again() {
    let dir = temp("count-up");
    let log = dir.join("out.log");
    let shelf = Shelf::new(
      &log,
      Keep {
        naming: Naming::Numbered,
        compress: true,
        max_files: 3,
        max_age: None,
      },
    )
    .unwrap();
    // Left by an earlier host: the next number is after the highest, gzipped or not.
    fs::write(dir.join("out.log.1"), "one").unwrap();
    fs::write(dir.join("out.log.2.gz"), "two").unwrap();
    // A compression cut short holds its name too.
    fs::write(dir.join("out.log.3.gz.tmp"), "three").unwrap();
    for text in ["new", "newer"] {
      fs::write(&log, text).unwrap();
      shelf.rotate(&log, None).unwrap();
    }
    assert_eq!(
      names(&dir),
      [
        "out.log.1",
        "out.log.2.gz",
        "out.log.3.gz.tmp",
        "out.log.4",
        "out.log.5"
      ]
    );
    assert_eq!(fs::read_to_string(dir.join("out.log.1")).unwrap(), "one");
    assert_eq!(fs::read_to_string(dir.join("out.log.4")).unwrap(), "new");
    assert_eq!(fs::read_to_string(dir.join("out.log.5")).unwrap(), "newer");
    // Retention keeps the three newest: the highest numbers.
    shelf.pass(SystemTime::now()).unwrap();
    assert_eq!(
      names(&dir),
      ["out.log.2.gz", "out.log.4.gz", "out.log.5.gz"]
    );
    assert_eq!(gunzip(&dir.join("out.log.5.gz")), "newer");
  }

  #[test]
  fn a_name_taken_by_anything_else_is_passed_over_and_never_overwritten() {
    let dir = temp("planted");
    let log = dir.join("out.log");
    let shelf = Shelf::new(
      &log,
      Keep {
        naming: Naming::Numbered,
        compress: false,
        max_files: 3,
        max_age: None,
      },
    )
    .unwrap();
    fs::write(dir.join("out.log.1"), "one").unwrap();
    fs::write(&log, "new").unwrap();
    shelf.rotate(&log, None).unwrap();
    // Planted after the directory was read: a directory and a file at the next names.
    fs::create_dir(dir.join("out.log.3")).unwrap();
    fs::write(dir.join("out.log.3").join("theirs"), "keep me").unwrap();
    fs::write(dir.join("out.log.4"), "theirs too").unwrap();
    fs::write(&log, "newer").unwrap();
    let to = shelf.rotate(&log, None).unwrap();
    assert!(to.ends_with("out.log.5"), "{to:?}");
    assert_eq!(fs::read_to_string(dir.join("out.log.2")).unwrap(), "new");
    assert_eq!(fs::read_to_string(dir.join("out.log.5")).unwrap(), "newer");
    assert_eq!(
      fs::read_to_string(dir.join("out.log.4")).unwrap(),
      "theirs too"
    );
    assert_eq!(
      fs::read_to_string(dir.join("out.log.3").join("theirs")).unwrap(),
      "keep me"
    );
    // A dated name taken the same way is passed over too.
    let shelf = Shelf::new(&log, daily(10, false, None)).unwrap();
    fs::create_dir(dir.join("out.log.2026-11-30")).unwrap();
    fs::write(&log, "dated").unwrap();
    let to = shelf.rotate(&log, Some("2026-11-30")).unwrap();
    assert!(to.ends_with("out.log.2026-11-30.1"), "{to:?}");
  }

  #[test]
  fn a_pass_after_the_directory_went_finds_nothing_to_do_and_no_failure() {
    let dir = temp("gone");
    let log = dir.join("logs").join("out.log");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    let shelf = Shelf::new(
      &log,
      Keep {
        naming: Naming::Numbered,
        compress: true,
        max_files: 3,
        max_age: None,
      },
    )
    .unwrap();
    fs::write(&log, "x\n").unwrap();
    shelf.rotate(&log, None).unwrap();
    // The pass the rotation asked for runs once the directory has been moved away.
    fs::rename(dir.join("logs"), dir.join("moved")).unwrap();
    shelf.pass(SystemTime::now()).unwrap();
    assert_eq!(names(&dir.join("moved")), ["out.log.1"]);
    assert!(
      !dir.join("logs").exists(),
      "nothing made where the directory was"
    );
  }

  #[test]
  fn a_pass_compresses_removes_leftovers_and_keeps_the_newest() {
    let dir = temp("pass");
    let log = dir.join("out.log");
    let shelf = Shelf::new(&log, daily(2, true, None)).unwrap();
    fs::write(&log, "live\n").unwrap();
    fs::write(dir.join("out.log.2026-11-27"), "27\n").unwrap();
    // An interrupted compression of the 28th, and one that finished before its plain file
    // could be removed.
    fs::write(dir.join("out.log.2026-11-28"), "28\n").unwrap();
    fs::write(dir.join("out.log.2026-11-28.gz.tmp"), "partial").unwrap();
    fs::write(dir.join("out.log.2026-11-29"), "29\n").unwrap();
    let done = GzBuilder::new().write(Vec::new(), Compression::default());
    let mut done = done;
    done.write_all(b"29\n").unwrap();
    fs::write(dir.join("out.log.2026-11-29.gz"), done.finish().unwrap()).unwrap();
    fs::write(dir.join("out.log.2026-11-30"), "30\n".repeat(1000)).unwrap();
    let written = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&dir.join("out.log.2026-11-30"), written);
    // Not this naming's: another log, another scheme, a directory, a symlink.
    for other in [
      "err.log.2026-11-01",
      "out.log.1",
      "out.log.old",
      "out.log.2026-11-30T10",
    ] {
      fs::write(dir.join(other), "keep").unwrap();
    }
    fs::create_dir(dir.join("out.log.2026-10-01")).unwrap();
    std::os::unix::fs::symlink("out.log.old", dir.join("out.log.2026-10-02")).unwrap();
    shelf.pass(SystemTime::now()).unwrap();
    assert_eq!(
      names(&dir),
      [
        "err.log.2026-11-01",
        "out.log",
        "out.log.1",
        "out.log.2026-10-01",
        "out.log.2026-10-02",
        "out.log.2026-11-29.gz",
        "out.log.2026-11-30.gz",
        "out.log.2026-11-30T10",
        "out.log.old",
      ]
    );
    let gz = dir.join("out.log.2026-11-30.gz");
    assert_eq!(gunzip(&gz), "30\n".repeat(1000));
    assert_eq!(fs::metadata(&gz).unwrap().modified().unwrap(), written);
    assert_eq!(fs::metadata(&gz).unwrap().mode() & 0o777, 0o644);
    assert_eq!(fs::read_to_string(&log).unwrap(), "live\n");
  }

  #[test]
  fn max_age_removes_what_was_last_written_before_it() {
    let dir = temp("age");
    let log = dir.join("out.log");
    let shelf = Shelf::new(&log, daily(1000, false, Some(Duration::from_secs(86_400)))).unwrap();
    let now = SystemTime::now();
    for (name, hours) in [
      ("out.log.2026-11-01", 49),
      ("out.log.2026-11-02.gz", 25),
      ("out.log.2026-11-03", 23),
    ] {
      fs::write(dir.join(name), "x").unwrap();
      set_mtime(&dir.join(name), now - Duration::from_secs(hours * 3600));
    }
    fs::write(dir.join("out.log.keep"), "x").unwrap();
    set_mtime(
      &dir.join("out.log.keep"),
      now - Duration::from_secs(100 * 3600),
    );
    shelf.pass(now).unwrap();
    assert_eq!(names(&dir), ["out.log.2026-11-03", "out.log.keep"]);
  }

  #[test]
  fn a_rotation_while_a_file_is_compressed_leaves_it_where_it_is() {
    let dir = temp("during-gzip");
    let log = dir.join("out.log");
    let shelf = Shelf::new(
      &log,
      Keep {
        naming: Naming::Numbered,
        compress: true,
        max_files: 5,
        max_age: None,
      },
    )
    .unwrap();
    fs::write(&log, "first\n").unwrap();
    shelf.rotate(&log, None).unwrap();
    let plain = shelf.tidy(SystemTime::now()).unwrap();
    assert_eq!(plain, ["out.log.1"]);
    // A rotation comes before the compression finishes: it takes the next number.
    let (identity, tmp) = shelf.gzip(&plain[0]).unwrap().unwrap();
    fs::write(&log, "second\n").unwrap();
    shelf.rotate(&log, None).unwrap();
    shelf.put_in_place(&plain[0], identity, &tmp).unwrap();
    assert_eq!(names(&dir), ["out.log.1.gz", "out.log.2"]);
    assert_eq!(gunzip(&dir.join("out.log.1.gz")), "first\n");
    assert_eq!(
      fs::read_to_string(dir.join("out.log.2")).unwrap(),
      "second\n"
    );
    // A file replaced while it was compressed is not the one compressed: its .gz is
    // dropped, and the file stays for the next pass.
    let plain = shelf.tidy(SystemTime::now()).unwrap();
    let (identity, tmp) = shelf.gzip(&plain[0]).unwrap().unwrap();
    fs::write(dir.join("other"), "replaced\n").unwrap();
    fs::rename(dir.join("other"), dir.join("out.log.2")).unwrap();
    shelf.put_in_place(&plain[0], identity, &tmp).unwrap();
    assert_eq!(names(&dir), ["out.log.1.gz", "out.log.2"]);
  }

  #[test]
  fn requests_run_in_the_background_and_report_failures_once() {
    let dir = temp("request");
    let log = dir.join("sub").join("out.log");
    fs::create_dir(dir.join("sub")).unwrap();
    let shelf = Shelf::new(&log, daily(5, true, None)).unwrap();
    fs::write(dir.join("sub/out.log.2026-11-30"), "x\n").unwrap();
    request(&shelf, None);
    settle();
    assert_eq!(names(&dir.join("sub")), ["out.log.2026-11-30.gz"]);
    // A directory gone has nothing to tidy: no error.
    fs::remove_dir_all(dir.join("sub")).unwrap();
    let silent = Arc::new(Mutex::new(0));
    let count = Arc::clone(&silent);
    let report: Report = Arc::new(move |_| *lock(&count) += 1);
    request(&shelf, Some(report));
    settle();
    assert_eq!(*lock(&silent), 0);
    // One that cannot be read (a file in its place) fails each pass; one report for the
    // episode.
    fs::write(dir.join("sub"), "").unwrap();
    let seen = Arc::new(Mutex::new(0));
    let count = Arc::clone(&seen);
    let report: Report = Arc::new(move |_| *lock(&count) += 1);
    for _ in 0..3 {
      request(&shelf, Some(Arc::clone(&report)));
      settle();
    }
    assert_eq!(*lock(&seen), 1);
  }
}
