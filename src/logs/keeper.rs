//! What becomes of a log's rotated files: their names, their compression and their
//! retention, kept off the writer's path.
//!
//! Each rotating log has a [`Shelf`]: its naming, and a lock that every rename of its
//! rotated files takes — the writer's rotation (a rename or two, and a shift of numbered
//! files), and the last step of a compression. After each rotation the writer asks for a
//! housekeeping pass ([`request`]) and goes on writing. Passes run on one background thread
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
use super::{lock, Report};
use crate::error::CoreError;

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

fn exists(path: &Path) -> bool {
  fs::symlink_metadata(path).is_ok()
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
  /// free name of `label`'s period; for a numbered one, `.1`, after shifting the others up
  /// (the oldest beyond `max_files` is dropped). Returns the new name.
  pub fn rotate(&self, path: &Path, label: Option<&str>) -> Result<PathBuf, CoreError> {
    let mut state = lock(&self.state);
    let to = match (self.naming, label) {
      (Naming::Dated(_), Some(label)) => {
        let mut n = match &state.last {
          Some((last, n)) if last == label => n + 1,
          _ => 0,
        };
        let to = loop {
          let candidate = self.dir.join(Naming::dated(&self.base, label, n));
          let taken = exists(&candidate)
            || exists(&with_suffix(&candidate, ".gz"))
            || exists(&with_suffix(&candidate, ".gz.tmp"));
          if !taken {
            break candidate;
          }
          n += 1;
        };
        state.last = Some((label.to_string(), n));
        to
      }
      _ => {
        let keep = u64::from(self.max_files.max(1));
        // Numbered files are contiguous from 1: find the last one.
        let mut top = 0;
        while top < keep
          && (exists(&self.numbered(top + 1))
            || exists(&with_suffix(&self.numbered(top + 1), ".gz")))
        {
          top += 1;
        }
        // A directory planted among the numbered names would refuse the file moved onto it
        // (and a later move would then overwrite a rotated file): the rotation fails,
        // naming it, and moves nothing.
        for n in 1..=(top + 1).min(keep) {
          for suffix in ["", ".gz"] {
            let name = with_suffix(&self.numbered(n), suffix);
            if fs::symlink_metadata(&name).is_ok_and(|m| m.is_dir()) {
              return Err(CoreError::sys(
                "rotate",
                name.display().to_string(),
                io::Error::other("a directory stands where a rotated file must go"),
              ));
            }
          }
        }
        if top == keep {
          for suffix in ["", ".gz"] {
            let _ = fs::remove_file(with_suffix(&self.numbered(keep), suffix));
          }
          top = keep - 1;
        }
        for n in (1..=top).rev() {
          for suffix in ["", ".gz"] {
            let _ = fs::rename(
              with_suffix(&self.numbered(n), suffix),
              with_suffix(&self.numbered(n + 1), suffix),
            );
          }
        }
        self.numbered(1)
      }
    };
    fs::rename(path, &to).map_err(|e| CoreError::sys("rename", path.display().to_string(), e))?;
    Ok(to)
  }

  /// This log's rotated files now, grouped by name (`X` with `X.gz` and `X.gz.tmp`).
  fn survey(&self) -> io::Result<Vec<Group>> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let entries = match fs::read_dir(&self.dir) {
      Ok(entries) => entries,
      // The directory went (moved or removed after the rotation that asked for this pass):
      // no rotated file is left here to tidy. Not a failure of the pass: if the log cannot
      // rotate for it, the writer's rename says so.
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
      Err(e) => return Err(e),
    };
    for entry in entries {
      let entry = entry?;
      let Some(name) = entry.file_name().to_str().map(str::to_string) else {
        continue;
      };
      let Some(rotated) = self.naming.parse(&self.base, &name) else {
        continue;
      };
      // Only regular files: never a symlink or a directory that happens to match.
      let Ok(meta) = fs::symlink_metadata(entry.path()) else {
        continue;
      };
      if !meta.is_file() {
        continue;
      }
      let group = groups.entry(rotated.stem.clone()).or_insert_with(|| Group {
        rotated: rotated.clone(),
        plain: None,
        gz: None,
        tmp: false,
      });
      match (rotated.gz, rotated.tmp) {
        (_, true) => group.tmp = true,
        (true, false) => group.gz = Some(meta),
        (false, false) => group.plain = Some(meta),
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
    let excess = groups.len().saturating_sub(self.max_files as usize);
    for (i, group) in groups.into_iter().enumerate() {
      let path = self.path_of(&group.rotated.stem);
      if group.tmp {
        remove(with_suffix(&path, ".gz.tmp"));
      }
      let written = group
        .plain
        .as_ref()
        .or(group.gz.as_ref())
        .and_then(|m| m.modified().ok());
      let too_old = match (self.max_age, written) {
        (Some(age), Some(at)) => now.duration_since(at).is_ok_and(|d| d > age),
        _ => false,
      };
      if i < excess || too_old {
        for suffix in ["", ".gz"] {
          remove(with_suffix(&path, suffix));
        }
        continue;
      }
      match (&group.plain, &group.gz) {
        // The .gz was renamed into place only once complete: the plain file is redundant.
        (Some(_), Some(_)) => remove(path),
        (Some(_), None) => kept.push(group.rotated.stem),
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

  /// The last step, under the lock: the file may have been renamed while it was compressed
  /// (numbered files shift at each rotation), so it is found again by its identity; its
  /// `.gz` takes the name beside it, the directory is flushed, and the plain file goes.
  fn put_in_place(&self, stem: &str, identity: (u64, u64), tmp: &Path) -> io::Result<()> {
    let _names = lock(&self.state);
    let Some(now) = self.find(stem, identity) else {
      // Removed while it was being compressed.
      let _ = fs::remove_file(tmp);
      return Ok(());
    };
    fs::rename(tmp, with_suffix(&now, ".gz"))?;
    sync_dir(&self.dir)?;
    fs::remove_file(&now)
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

  /// The name the file of `identity` has now: `stem` itself, or for numbered files any
  /// number it has moved to.
  fn find(&self, stem: &str, identity: (u64, u64)) -> Option<PathBuf> {
    let is_it = |p: &Path| {
      fs::symlink_metadata(p)
        .map(|m| identity_of(&m) == identity)
        .unwrap_or(false)
    };
    let path = self.path_of(stem);
    if is_it(&path) {
      return Some(path);
    }
    if self.naming != Naming::Numbered {
      return None;
    }
    (1..=u64::from(self.max_files.max(1)) + 1)
      .map(|n| self.numbered(n))
      .find(|p| is_it(p))
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
  plain: Option<fs::Metadata>,
  gz: Option<fs::Metadata>,
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

  #[test]
  fn numbered_files_shift_with_their_compressed_forms() {
    let dir = temp("shift");
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
    fs::write(dir.join("out.log.1"), "one").unwrap();
    fs::write(dir.join("out.log.2.gz"), "two").unwrap();
    fs::write(dir.join("out.log.3"), "three").unwrap();
    fs::write(dir.join("out.log.3.gz"), "three-gz").unwrap();
    fs::write(&log, "new").unwrap();
    shelf.rotate(&log, None).unwrap();
    assert_eq!(names(&dir), ["out.log.1", "out.log.2", "out.log.3.gz"]);
    assert_eq!(fs::read_to_string(dir.join("out.log.1")).unwrap(), "new");
    assert_eq!(fs::read_to_string(dir.join("out.log.3.gz")).unwrap(), "two");
  }

  #[test]
  fn a_directory_among_the_numbered_names_fails_the_rotation_and_nothing_moves() {
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
    fs::create_dir(dir.join("out.log.2")).unwrap();
    fs::write(dir.join("out.log.2").join("theirs"), "keep me").unwrap();
    fs::write(&log, "new").unwrap();
    let err = shelf.rotate(&log, None).unwrap_err().to_string();
    assert!(err.contains("out.log.2"), "{err}");
    assert_eq!(names(&dir), ["out.log", "out.log.1", "out.log.2"]);
    assert_eq!(fs::read_to_string(dir.join("out.log.1")).unwrap(), "one");
    assert_eq!(fs::read_to_string(&log).unwrap(), "new");
    assert_eq!(
      fs::read_to_string(dir.join("out.log.2").join("theirs")).unwrap(),
      "keep me"
    );
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
  fn a_file_shifted_while_compressed_is_found_by_identity() {
    let dir = temp("moved");
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
    // A rotation comes before the compression finishes: out.log.1 becomes out.log.2.
    let (identity, tmp) = shelf.gzip(&plain[0]).unwrap().unwrap();
    fs::write(&log, "second\n").unwrap();
    shelf.rotate(&log, None).unwrap();
    shelf.put_in_place(&plain[0], identity, &tmp).unwrap();
    assert_eq!(names(&dir), ["out.log.1", "out.log.2.gz"]);
    assert_eq!(gunzip(&dir.join("out.log.2.gz")), "first\n");
    assert_eq!(
      fs::read_to_string(dir.join("out.log.1")).unwrap(),
      "second\n"
    );
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
    // A directory that cannot be read (a file stands in its place: ENOTDIR, as root too)
    // fails each pass; one report for the episode. (One that is gone is nothing to tidy.)
    fs::remove_dir_all(dir.join("sub")).unwrap();
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
