//! The [`Writer`]: what a monitor's output becomes in its files.
//!
//! It keeps lines whole where that matters — timestamps, both streams in one file,
//! rotation — by holding a stream's unfinished line until its newline arrives (or the child
//! that wrote it exits). Rotation happens between two lines: by size (`logMaxSize`), and by
//! time (`logRotate`, see [`schedule`](super::schedule)) — each chunk is checked against
//! the instant the file's period ends, worked out once per period, so the check costs a
//! clock read (no system call) and a comparison. Without timestamps, the whole lines of a
//! chunk are written as one: only the lines at its ends and where a file fills up are
//! looked through. A monitor's writer runs in its sink's jobs, one at a time (or on the
//! caller's thread, for [`LogSink::write_now`](super::LogSink::write_now)).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use super::file::{FileState, Rotation};
use super::keeper::Keep;
use super::schedule::Naming;
use super::target::Target;
use super::{millis_since_epoch, LogConfig, Report};
use crate::output::Stream;

/// An unfinished line longer than this is written as it is rather than held.
const MAX_PENDING: usize = 64 * 1024;

/// A monitor's files and what is on its way to them: each stream's unfinished line and how
/// far it has been handled.
pub(super) struct Writer {
  /// The monitor's files: one per path (both streams may share one).
  pub targets: Vec<Target>,
  /// Which target each stream goes to, if any.
  route: [Option<usize>; 2],
  /// Each stream's unfinished line, held until its newline arrives.
  pending: [Vec<u8>; 2],
  /// Offset at which each stream's unfinished line must be written out (its child exited).
  settle_at: [Option<u64>; 2],
  /// How far each stream has been handled.
  pub written: [u64; 2],
  /// The last exit mark of each stream whose unfinished line has been written out.
  pub settled: [u64; 2],
  /// Lines are kept whole (timestamps, both streams in one file, or rotation).
  line_mode: bool,
  /// Every line is prefixed with the time.
  timestamps: bool,
  /// This monitor rotates by time: it keeps a timer for its quiet files.
  timed: bool,
}

impl Writer {
  /// A writer for `config`; `live` says when its monitor's child runs.
  pub fn new(config: &LogConfig, live: Arc<AtomicBool>) -> Writer {
    let mut targets: Vec<Target> = Vec::new();
    let mut route = [None, None];
    let rotates = config.max_size.is_some() || config.rotate.is_some();
    let rotation = Rotation {
      max_size: config.max_size,
      schedule: config.rotate,
      max_files: config.max_files,
      keep: rotates.then_some(Keep {
        naming: config.rotate.map_or(Naming::Numbered, Naming::Dated),
        compress: config.compress,
        max_files: config.max_files,
        max_age: config.max_age,
      }),
    };
    for (slot, path) in [(0, &config.out_file), (1, &config.err_file)] {
      let Some(path) = path else { continue };
      let existing = targets.iter().position(|t| same_path(&t.path, path));
      route[slot] = Some(existing.unwrap_or_else(|| {
        targets.push(Target::new(path.clone(), rotation, Arc::clone(&live)));
        targets.len() - 1
      }));
    }
    let merged = route[0].is_some() && route[0] == route[1];
    Writer {
      targets,
      route,
      pending: [Vec::new(), Vec::new()],
      settle_at: [None, None],
      written: [0, 0],
      settled: [0, 0],
      line_mode: merged || config.timestamps || rotates,
      timestamps: config.timestamps,
      timed: config.rotate.is_some(),
    }
  }

  /// Creates the files, emptying them with `truncate` — unless another monitor's child
  /// writes one — and lets them go again; failures go to `report`.
  pub fn prepare(&mut self, truncate: bool, report: &Report) {
    for target in &mut self.targets {
      let shared = target.shared(Some(report));
      let mut file = shared.lock();
      // A monitor that joins a file another one's child is writing never empties it under
      // that child: those lines stay.
      let empty = truncate && !file.others_live(&target.live);
      let result = if file.is_open() && !empty {
        Ok(())
      } else {
        let result = file.open(empty);
        // Held open only while there is something to write: a monitor that is never
        // started costs no descriptor.
        file.close();
        result
      };
      drop(file);
      target.outcome(result, Some(report));
    }
  }

  /// Closes and re-opens every file (an external logrotate moved them); each outcome goes
  /// to `report`, a success too ending an episode.
  pub fn reopen_all(&mut self, report: &Report) {
    for target in &mut self.targets {
      let shared = target.shared(Some(report));
      let result = shared.lock().open(false);
      // A reopen always says how it went: the caller asked.
      target.failing = false;
      target.outcome(result, Some(report));
    }
  }

  /// Handles `bytes` of `stream`, which end at offset `end`. The stream's file is locked
  /// meanwhile: the chunk's lines and any rotation they cause are one step for the other
  /// writers of the file.
  pub fn data(&mut self, stream: Stream, bytes: &[u8], end: u64, report: Option<&Report>) {
    let i = stream.index();
    let Some(t) = self.route[i] else {
      self.written[i] = self.written[i].max(end);
      return;
    };
    let shared = self.targets[t].shared(report);
    let mut file = shared.lock();
    let start = end.saturating_sub(bytes.len() as u64);
    match self.settle_at[i] {
      // The chunk runs past the point where the exited child's output ends: that child's
      // unfinished line is complete there.
      Some(at) if at >= start && at < end => {
        let cut = usize::try_from(at - start).unwrap_or(bytes.len());
        self.take(&mut file, t, stream, &bytes[..cut], report);
        self.flush_pending(&mut file, t, stream, report);
        self.settle_at[i] = None;
        self.settled[i] = self.settled[i].max(at);
        self.take(&mut file, t, stream, &bytes[cut..], report);
      }
      _ => self.take(&mut file, t, stream, bytes, report),
    }
    self.written[i] = self.written[i].max(end);
    if let Some(at) = self.settle_at[i].filter(|&at| at <= end) {
      self.flush_pending(&mut file, t, stream, report);
      self.settle_at[i] = None;
      self.settled[i] = self.settled[i].max(at);
    }
    // Nothing stays gathered once the lock is let go: the next writer's lines follow.
    let flushed = file.flush();
    drop(file);
    self.targets[t].wrote(flushed, report);
  }

  /// The child that wrote `stream` up to `at` has exited: its unfinished line is written as
  /// it is once the stream has been handled that far.
  pub fn settle(&mut self, stream: Stream, at: u64, report: Option<&Report>) {
    let i = stream.index();
    if self.written[i] < at {
      self.settle_at[i] = Some(at);
      return;
    }
    if let Some(t) = self.route[i] {
      let shared = self.targets[t].shared(report);
      let mut file = shared.lock();
      self.flush_pending(&mut file, t, stream, report);
      let flushed = file.flush();
      drop(file);
      self.targets[t].wrote(flushed, report);
    }
    self.settled[i] = self.settled[i].max(at);
  }

  fn flush_pending(
    &mut self,
    file: &mut FileState,
    t: usize,
    stream: Stream,
    report: Option<&Report>,
  ) {
    let rest = std::mem::take(&mut self.pending[stream.index()]);
    if !rest.is_empty() {
      let now = self.clock(file);
      self.emit(file, t, &rest, now, report);
    }
  }

  /// The clock, read once for a chunk when its lines need it (timestamps, periods): a chunk
  /// arrives at one instant, and all its lines belong to it.
  fn clock(&self, file: &FileState) -> Option<SystemTime> {
    (self.timestamps || file.rotation.schedule.is_some()).then(SystemTime::now)
  }

  fn take(
    &mut self,
    file: &mut FileState,
    t: usize,
    stream: Stream,
    bytes: &[u8],
    report: Option<&Report>,
  ) {
    if bytes.is_empty() {
      return;
    }
    if !self.line_mode {
      let result = file.write(bytes);
      self.targets[t].outcome(result, report);
      return;
    }
    let i = stream.index();
    // Only the chunk's last line and, after an unfinished one, its first are looked
    // through: the whole lines between are handled as one.
    let Some(last_newline) = bytes.iter().rposition(|&b| b == b'\n') else {
      self.pending[i].extend_from_slice(bytes);
      if self.pending[i].len() > MAX_PENDING {
        // A piece ends between two characters: a character cut in two would be two
        // invalid ones, one in each line.
        let mut long = std::mem::take(&mut self.pending[i]);
        self.pending[i] = long.split_off(char_boundary(&long));
        let now = self.clock(file);
        self.emit(file, t, &long, now, report);
      }
      return;
    };
    let now = self.clock(file);
    let (mut complete, rest) = bytes.split_at(last_newline + 1);
    if !self.pending[i].is_empty() {
      // The unfinished line ends at the chunk's first newline.
      let first = line_end(complete);
      let mut line = std::mem::take(&mut self.pending[i]);
      line.extend_from_slice(&complete[..first]);
      self.emit(file, t, &line, now, report);
      complete = &complete[first..];
    }
    if !complete.is_empty() {
      self.emit(file, t, complete, now, report);
    }
    self.pending[i].extend_from_slice(rest);
  }

  /// Writes `lines`, read at `now`, to target `t`'s `file`: whole lines, or one unfinished
  /// line (an overlong one, or an exited child's last) that is given its newline. Each file
  /// gets whole lines only, and rotates between two of them: when its period is over, or
  /// before the next line would take it past its size limit (a line longer than that gets
  /// a file of its own).
  fn emit(
    &mut self,
    file: &mut FileState,
    t: usize,
    lines: &[u8],
    now: Option<SystemTime>,
    report: Option<&Report>,
  ) {
    let now_ms = now.map(millis_since_epoch);
    // The last line has no newline only when it is an unfinished one written as it is.
    let newline = !lines.ends_with(b"\n");
    if let Some(now) = now.filter(|_| self.timestamps) {
      // One stamp serves the chunk, and always falls within the period its file is named
      // after. Each line is checked, as each is longer by it.
      let stamp = format!("{} ", humantime::format_rfc3339_millis(now));
      for line in lines.split_inclusive(|&b| b == b'\n') {
        let open = !line.ends_with(b"\n");
        let len = stamp.len() + line.len() + usize::from(open);
        self.rotate_if_due(file, t, now_ms, len as u64, report);
        file.batch.extend_from_slice(stamp.as_bytes());
        let wrote = file.append(line, open);
        self.targets[t].wrote(wrote, report);
      }
      return;
    }
    let mut rest = lines;
    while !rest.is_empty() {
      // The first line is checked as any line is (the period, once per chunk, and whether
      // it fits); it goes in, with the lines after it that fit too.
      let first = line_end(rest);
      let extra = usize::from(newline && first == rest.len());
      self.rotate_if_due(file, t, now_ms, (first + extra) as u64, report);
      let cut = match file
        .rotation
        .max_size
        .filter(|_| file.rotatable() && !file.rotation_held())
      {
        Some(max) => {
          let room = usize::try_from(max.saturating_sub(file.length())).unwrap_or(usize::MAX);
          fitting(rest, newline, room).max(first)
        }
        None => rest.len(),
      };
      let (head, later) = rest.split_at(cut);
      let wrote = file.append(head, newline && later.is_empty());
      self.targets[t].wrote(wrote, report);
      rest = later;
    }
  }

  /// Rotates target `t`'s `file` when the line of `len` bytes about to be written belongs
  /// to a later period than the file's, or would take the file past its size limit.
  fn rotate_if_due(
    &mut self,
    file: &mut FileState,
    t: usize,
    now_ms: Option<i64>,
    len: u64,
    report: Option<&Report>,
  ) {
    let rotation = file.rotation;
    if rotation.max_size.is_none() && rotation.schedule.is_none() {
      return;
    }
    if !file.is_open() {
      // The size and the kind of file are known once it is open.
      let _ = file.ready();
    }
    if !file.rotatable() || file.rotation_held() {
      return;
    }
    let ended = match (&rotation.schedule, now_ms) {
      (Some(schedule), Some(now)) => file.period_due(schedule, now),
      _ => None,
    };
    let label = match ended {
      Some(label) => Some(label),
      None => match rotation.max_size {
        // Another file of the same period (its period is known by now), or the next number.
        Some(max) if file.length() > 0 && file.length() + len > max => {
          file.period.as_ref().map(|p| p.label.clone())
        }
        _ => return,
      },
    };
    // The lines gathered so far belong to the file being rotated.
    let flushed = file.flush();
    self.targets[t].wrote(flushed, report);
    let result = file.rotate(label.as_deref(), report);
    self.targets[t].outcome(result, report);
  }

  /// Rotates the files whose period has ended by `now_ms` though nothing was written since.
  pub fn tick(&mut self, now_ms: i64, report: Option<&Report>) {
    for target in &mut self.targets {
      // Only a file written to since it was opened (its period is known), and still there.
      let Some(shared) = target.shared.clone() else {
        continue;
      };
      let mut file = shared.lock();
      let Some(schedule) = file.rotation.schedule else {
        continue;
      };
      if file.period.is_none() || file.ready().is_err() || !file.rotatable() || file.rotation_held()
      {
        continue;
      }
      if let Some(label) = file.period_due(&schedule, now_ms) {
        let result = file.rotate(Some(&label), report);
        drop(file);
        target.outcome(result, report);
      }
    }
  }

  /// Closes the files no other writer's child is writing to, and that hold nothing back
  /// for a reader.
  pub fn release(&mut self) {
    for target in &self.targets {
      if let Some(shared) = &target.shared {
        let mut file = shared.lock();
        if !file.waiting() && !file.others_live(&target.live) {
          file.close();
        }
      }
    }
  }

  /// Writes what waits for the readers of this writer's streams, as far as they take it.
  /// Returns whether any bytes went and, while some still wait, a descriptor to wait on
  /// for the reader to take more.
  pub fn blocked(&mut self, report: Option<&Report>) -> (bool, Option<Option<OwnedFd>>) {
    let mut progress = false;
    for target in &mut self.targets {
      let Some(shared) = target.shared.clone() else {
        continue;
      };
      let mut file = shared.lock();
      if !file.waiting() {
        continue;
      }
      match file.push() {
        Ok(taken) => progress |= taken > 0,
        Err(e) => {
          drop(file);
          target.outcome(Err(e), report);
          continue;
        }
      }
      if file.waiting() {
        return (progress, Some(file.poll_fd()));
      }
    }
    (progress, None)
  }

  /// The instant the next rotation by time is due, for a file that has lines in it.
  pub fn next_due(&self) -> Option<i64> {
    if !self.timed {
      return None;
    }
    self
      .targets
      .iter()
      .filter_map(|t| t.shared.as_ref())
      .filter_map(|shared| {
        let file = shared.lock();
        let due = file.period.as_ref().map(|p| p.end_ms);
        due.filter(|_| file.size > 0 && file.rotatable())
      })
      .min()
  }
}

/// The length of the first line of `bytes`, its newline included (all of it when none).
fn line_end(bytes: &[u8]) -> usize {
  bytes
    .iter()
    .position(|&b| b == b'\n')
    .map_or(bytes.len(), |p| p + 1)
}

/// Where `bytes` can be cut without splitting a UTF-8 character: before the last
/// character when it is unfinished, else at the end (bytes that are not UTF-8 are cut
/// where they end).
fn char_boundary(bytes: &[u8]) -> usize {
  let len = bytes.len();
  for back in 1..=len.min(4) {
    let b = bytes[len - back];
    if b & 0xC0 == 0x80 {
      continue; // a continuation byte: the character starts further back
    }
    let needs = match b {
      0xF0.. => 4,
      0xE0.. => 3,
      0xC0.. => 2,
      _ => 1,
    };
    return if needs > back { len - back } else { len };
  }
  len
}

/// The length of the longest run of whole lines at the start of `lines` that takes at
/// most `room` bytes; with `newline`, the last line is unfinished and takes one more.
/// Only the line at the limit is looked through.
fn fitting(lines: &[u8], newline: bool, room: usize) -> usize {
  if lines.len() + usize::from(newline) <= room {
    return lines.len();
  }
  lines[..room.min(lines.len())]
    .iter()
    .rposition(|&b| b == b'\n')
    .map_or(0, |p| p + 1)
}

fn same_path(a: &Path, b: &Path) -> bool {
  a == b
    || matches!(
      (fs::canonicalize(a), fs::canonicalize(b)),
      (Ok(x), Ok(y)) if x == y
    )
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::logs::keeper;
  use crate::logs::open::open_log;
  use crate::logs::schedule::{self, DAY_MS};
  use crate::logs::testing::{collect, daily_utc, feed, file, listing, temp, writer};
  use crate::logs::wall_ms;
  use crate::logs::RECHECK;
  use crate::sync::lock;
  use std::fs::{File, OpenOptions};
  use std::io;
  use std::os::unix::fs::OpenOptionsExt;
  use std::path::PathBuf;
  use std::sync::atomic::Ordering;
  use std::time::{Duration, Instant};

  #[test]
  fn truncates_unless_append() {
    let dir = temp("truncate");
    let path = dir.join("out.log");
    fs::write(&path, "old\n").unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"new\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");
    // A writer that joins the file while another one's child writes it never empties it.
    w.targets[0].live.store(true, Ordering::Release);
    let mut joined = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut joined, Stream::Stdout, b"joined\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\njoined\n");
    // Once that child is gone, a new monitor's file starts empty, as forever-monitor's do.
    w.targets[0].live.store(false, Ordering::Release);
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    assert_eq!(
      fs::read_to_string(&path).unwrap(),
      "",
      "truncated by prepare"
    );
    feed(&mut w, Stream::Stdout, b"fresh\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "fresh\n");
  }

  #[test]
  fn writers_of_one_path_share_its_file_and_rotate_it_once() {
    let dir = temp("shared");
    let config = |path: PathBuf| LogConfig {
      out_file: Some(path),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    };
    // The same file, spelled two ways.
    fs::create_dir(dir.join("sub")).unwrap();
    let mut a = writer(config(dir.join("out.log")));
    let mut b = writer(config(dir.join("sub/../out.log")));
    assert!(Arc::ptr_eq(
      a.targets[0].shared.as_ref().unwrap(),
      b.targets[0].shared.as_ref().unwrap()
    ));
    for i in 0..100 {
      feed(&mut a, Stream::Stdout, format!("a {i:03}\n").as_bytes());
      feed(&mut b, Stream::Stdout, format!("b {i:03}\n").as_bytes());
    }
    // 1,200 bytes in files of at most 100, each full but the last: each line in exactly
    // one of them (a second rotator would have made more, part empty, and lost lines).
    let names = listing(&dir);
    assert_eq!(names.len(), 12 + 1 + 1, "{names:?}");
    let mut lines: Vec<String> = Vec::new();
    for name in names.iter().filter(|n| n.starts_with("out.log")) {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name}: {text:?}");
      lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    let mut expected: Vec<String> = (0..100)
      .flat_map(|i| [format!("a {i:03}"), format!("b {i:03}")])
      .collect();
    expected.sort();
    assert_eq!(lines, expected);
    // The last writer gone, the path is free: a new writer opens (and empties) it afresh.
    let shared = Arc::downgrade(a.targets[0].shared.as_ref().unwrap());
    drop((a, b));
    assert!(shared.upgrade().is_none());
    let _c = writer(config(dir.join("out.log")));
    assert_eq!(fs::read_to_string(dir.join("out.log")).unwrap(), "");
  }

  #[test]
  fn merged_streams_keep_lines_whole() {
    let dir = temp("merge");
    let path = dir.join("all.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      err_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"out-a");
    feed(&mut w, Stream::Stderr, b"err-a");
    feed(&mut w, Stream::Stdout, b"-more\n");
    feed(&mut w, Stream::Stderr, b"-more\n");
    assert_eq!(
      fs::read_to_string(&path).unwrap(),
      "out-a-more\nerr-a-more\n"
    );
  }

  #[test]
  fn timestamps_prefix_whole_lines() {
    let dir = temp("stamps");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"hel");
    feed(&mut w, Stream::Stdout, b"lo\nwor");
    feed(&mut w, Stream::Stdout, b"ld\n");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("Z hello"), "{text}");
    assert!(lines[1].ends_with("Z world"), "{text}");
    assert_eq!(lines[0].len(), "2026-01-01T00:00:00.000Z hello".len());
  }

  #[test]
  fn rotation_keeps_lines_whole_and_n_files() {
    let dir = temp("rotate");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 2,
      ..Default::default()
    });
    for i in 0..50 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    // 400 bytes in files of at most 100 (12 lines of 8): four rotated, numbered up from
    // 1; retention, in the background, keeps the newest two.
    keeper::settle();
    assert_eq!(listing(&dir), ["out.log", "out.log.3", "out.log.4"]);
    let mut all = String::new();
    for name in ["out.log.3", "out.log.4", "out.log"] {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name} is {} bytes", text.len());
      assert!(text.lines().all(|l| l.len() == 8), "{name}: {text}");
      all += &text;
    }
    let first = 50 - all.len() / 9;
    let expected: String = (first..50).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(all, expected);
  }

  #[test]
  fn long_lines_are_cut_between_characters() {
    assert_eq!(char_boundary(b""), 0);
    assert_eq!(char_boundary(b"abc"), 3);
    let euro = "€".as_bytes(); // 3 bytes
    let mut text = b"ab".to_vec();
    text.extend_from_slice(euro);
    assert_eq!(char_boundary(&text), 5, "a whole character at the end");
    assert_eq!(char_boundary(&text[..4]), 2, "two bytes of three");
    assert_eq!(char_boundary(&text[..3]), 2, "one byte of three");
    let emoji = "😀".as_bytes(); // 4 bytes
    assert_eq!(char_boundary(&emoji[..3]), 0);
    assert_eq!(char_boundary(emoji), 4);
    assert_eq!(
      char_boundary(&[0x80, 0x80, 0x80, 0x80, 0x80]),
      5,
      "not UTF-8: as it is"
    );
    // Through the writer: a 200 KB line of euros comes out as valid UTF-8 pieces.
    let dir = temp("long-utf8");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    let line = "€".repeat(70_000);
    for chunk in line.as_bytes().chunks(1024) {
      feed(&mut w, Stream::Stdout, chunk);
    }
    feed(&mut w, Stream::Stdout, b"\n");
    let text = fs::read(&path).unwrap();
    let text = String::from_utf8(text).expect("every piece is valid UTF-8");
    let joined: String = text.lines().map(|l| &l[25..]).collect();
    assert_eq!(joined, line);
  }

  #[test]
  fn a_rotation_that_cannot_move_the_file_keeps_its_lines_in_it() {
    let dir = temp("held");
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(logs.join("out.log")),
      max_size: Some(100),
      max_files: 3,
      ..Default::default()
    });
    let (report, seen) = collect();
    let put = |w: &mut Writer, i: usize| {
      let line = format!("line {i:03}\n");
      let end = w.written[Stream::Stdout.index()] + line.len() as u64;
      w.data(Stream::Stdout, line.as_bytes(), end, Some(&report));
    };
    for i in 0..5 {
      put(&mut w, i);
    }
    // The directory is moved away under the open file (by hand, or a bind mount refusing
    // the rename): the file can no longer be moved aside, but it can still be written.
    let moved = dir.join("moved");
    fs::rename(&logs, &moved).unwrap();
    for i in 5..60 {
      put(&mut w, i);
    }
    let text = fs::read_to_string(moved.join("out.log")).unwrap();
    let expected: String = (0..60).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(
      text, expected,
      "every line, past the limit, in the file it could not rotate"
    );
    let errors = lock(&seen);
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert!(errors[0].to_string().contains("rename"), "{}", errors[0]);
  }

  #[test]
  fn size_rotation_within_a_period_counts_up_from_the_periods_name() {
    let dir = temp("dated-size");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      rotate: daily_utc(),
      max_files: 100,
      ..Default::default()
    });
    let today = daily_utc()
      .unwrap()
      .period_at(wall_ms(), &schedule::Utc)
      .label;
    for i in 0..30 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    keeper::settle();
    let all: Vec<String> = [
      format!("out.log.{today}"),
      format!("out.log.{today}.1"),
      "out.log".to_string(),
    ]
    .iter()
    .flat_map(|name| {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name}");
      text.lines().map(str::to_string).collect::<Vec<_>>()
    })
    .collect();
    assert_eq!(listing(&dir).len(), 3, "{:?}", listing(&dir));
    let expected: Vec<String> = (0..30).map(|i| format!("line {i:03}")).collect();
    assert_eq!(all, expected);
  }

  /// The numbered files of `path`, oldest first, and `path` itself last.
  fn numbered(path: &Path) -> Vec<String> {
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_str().unwrap();
    let count = listing(dir).len();
    let mut files: Vec<String> = (1..count)
      .map(|n| fs::read_to_string(dir.join(format!("{base}.{n}"))).unwrap())
      .collect();
    files.push(fs::read_to_string(path).unwrap());
    files
  }

  /// Lines of 1 to 60 bytes, in no order, and a few longer than a file may be.
  fn varied_lines() -> Vec<String> {
    let mut seed = 12345u32;
    let mut lines: Vec<String> = (0..400)
      .map(|i: usize| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let width = 1 + (seed >> 16) as usize % 60;
        format!("{i:0width$}\n")
      })
      .collect();
    lines[10] = format!("{}\n", "x".repeat(149));
    lines[11] = format!("{}\n", "y".repeat(99));
    lines[250] = format!("{}\n", "z".repeat(1000));
    lines
  }

  #[test]
  fn chunks_rotate_by_size_between_lines_as_single_lines_do() {
    let lines = varied_lines();
    let all: String = lines.concat();
    let config = |dir: &Path| LogConfig {
      out_file: Some(dir.join("out.log")),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    };
    // Line by line, as before.
    let dir = temp("chunks-lines");
    let mut w = writer(config(&dir));
    for line in &lines {
      feed(&mut w, Stream::Stdout, line.as_bytes());
    }
    let expected = numbered(&dir.join("out.log"));
    assert!(expected.len() > 100, "{}", expected.len());
    assert_eq!(expected.concat(), all);
    for file in &expected {
      assert!(file.ends_with('\n'), "{file:?}");
      assert!(
        file.len() <= 100 || file.lines().count() == 1,
        "{} bytes: {file:?}",
        file.len()
      );
    }
    // In chunks: all at once (one chunk over many rotations, the overlong lines among
    // them), and cut anywhere, lines split between chunks.
    for size in [all.len(), 4096, 250, 100, 37, 1] {
      let dir = temp(&format!("chunks-{size}"));
      let mut w = writer(config(&dir));
      for chunk in all.as_bytes().chunks(size) {
        feed(&mut w, Stream::Stdout, chunk);
      }
      assert_eq!(numbered(&dir.join("out.log")), expected, "chunks of {size}");
    }
  }

  #[test]
  fn chunks_keep_lines_whole_across_rotations_of_merged_streams() {
    let dir = temp("chunks-merged");
    let path = dir.join("all.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      err_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    });
    let out: String = (0..200).map(|i| format!("out {i:04}\n")).collect();
    let err: String = (0..200)
      .map(|i| format!("err {i:04} {}\n", "e".repeat(i % 13)))
      .collect();
    for (a, b) in out.as_bytes().chunks(23).zip(err.as_bytes().chunks(41)) {
      feed(&mut w, Stream::Stdout, a);
      feed(&mut w, Stream::Stderr, b);
    }
    for rest in out.as_bytes().chunks(23).skip(err.len().div_ceil(41)) {
      feed(&mut w, Stream::Stdout, rest);
    }
    let files = numbered(&path);
    let (mut outs, mut errs) = (Vec::new(), Vec::new());
    for file in &files {
      assert!(file.len() <= 100, "{} bytes: {file:?}", file.len());
      for line in file.lines() {
        match &line[..4] {
          "out " => outs.push(line),
          "err " => errs.push(line),
          _ => panic!("a line cut: {line:?}"),
        }
      }
    }
    assert_eq!(outs, out.lines().collect::<Vec<_>>());
    assert_eq!(errs, err.lines().collect::<Vec<_>>());
  }

  #[test]
  fn an_overlong_unfinished_line_gets_a_file_of_its_own() {
    let dir = temp("chunks-overlong");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(100),
      max_files: 100,
      ..Default::default()
    });
    let long = vec![b'L'; MAX_PENDING + 10];
    feed(&mut w, Stream::Stdout, b"one\ntwo\nthr");
    feed(&mut w, Stream::Stdout, &long);
    feed(&mut w, Stream::Stdout, b"\nfour\n");
    let files = numbered(&path);
    let expected_long = format!("thr{}\n", "L".repeat(MAX_PENDING + 10));
    assert_eq!(
      files,
      ["one\ntwo\n", expected_long.as_str(), "\nfour\n"],
      "{:?}",
      files.iter().map(String::len).collect::<Vec<_>>()
    );
  }

  #[test]
  fn stamped_chunks_rotate_by_size_between_lines() {
    let dir = temp("chunks-stamped");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      max_size: Some(100),
      max_files: 1000,
      ..Default::default()
    });
    let all: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
    for chunk in all.as_bytes().chunks(57) {
      feed(&mut w, Stream::Stdout, chunk);
    }
    let files = numbered(&path);
    let mut seen = Vec::new();
    for file in &files {
      // A stamp and a line are 34 bytes: two fit in 100.
      assert!(file.len() <= 100, "{file:?}");
      for line in file.lines() {
        assert_eq!(line.len(), 25 + 8, "{line:?}");
        seen.push(line[25..].to_string());
      }
    }
    assert_eq!(seen, all.lines().collect::<Vec<_>>());
  }

  #[test]
  fn a_quiet_file_rotates_when_its_period_ends() {
    let dir = temp("tick");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"today\n");
    let period = file(&w, 0).period.clone().unwrap();
    assert_eq!(w.next_due(), Some(period.end_ms));
    // Not yet: a tick a moment before the end does nothing.
    w.tick(period.end_ms - 1, None);
    assert_eq!(listing(&dir), ["out.log"]);
    w.tick(period.end_ms, None);
    assert_eq!(
      fs::read_to_string(dir.join(format!("out.log.{}", period.label))).unwrap(),
      "today\n"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    // An empty file has nothing to rotate, and no timer.
    assert_eq!(w.next_due(), None);
    w.tick(period.end_ms + 2 * DAY_MS, None);
    assert_eq!(listing(&dir).len(), 2);
  }

  #[test]
  fn lines_left_from_an_earlier_period_are_rotated_before_the_first_new_one() {
    let dir = temp("yesterday");
    let path = dir.join("out.log");
    fs::write(&path, "old\n").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    File::options()
      .write(true)
      .open(&path)
      .unwrap()
      .set_modified(two_days_ago)
      .unwrap();
    let label = daily_utc()
      .unwrap()
      .period_at(millis_since_epoch(two_days_ago), &schedule::Utc)
      .label;
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"new\n");
    assert_eq!(
      fs::read_to_string(dir.join(format!("out.log.{label}"))).unwrap(),
      "old\n"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
  }

  #[test]
  fn compressed_rotation_keeps_every_line() {
    let dir = temp("gz");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      max_size: Some(1000),
      compress: true,
      max_files: 100,
      ..Default::default()
    });
    for i in 0..500 {
      feed(&mut w, Stream::Stdout, format!("line {i:03}\n").as_bytes());
    }
    keeper::settle();
    let names = listing(&dir);
    assert!(
      names.iter().all(|n| n == "out.log" || n.ends_with(".gz")),
      "{names:?}"
    );
    let mut text = String::new();
    for n in 1..names.len() {
      let mut gz =
        flate2::read::GzDecoder::new(File::open(dir.join(format!("out.log.{n}.gz"))).unwrap());
      io::Read::read_to_string(&mut gz, &mut text).unwrap();
    }
    text += &fs::read_to_string(&path).unwrap();
    let expected: String = (0..500).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(text, expected);
  }

  #[test]
  fn the_first_writer_of_a_log_tidies_what_a_dead_host_left_before_any_rotation() {
    let dir = temp("tidy-at-open");
    let path = dir.join("out.log");
    fs::write(dir.join("out.log.2026-11-28"), "28\n").unwrap();
    fs::write(dir.join("out.log.2026-11-29"), "29\n").unwrap();
    fs::write(dir.join("out.log.2026-11-29.gz.tmp"), "cut short").unwrap();
    fs::write(&path, "live\n").unwrap();
    let _w = writer(LogConfig {
      out_file: Some(path.clone()),
      append: true,
      rotate: daily_utc(),
      compress: true,
      max_files: 5,
      ..Default::default()
    });
    keeper::settle();
    assert_eq!(
      listing(&dir),
      ["out.log", "out.log.2026-11-28.gz", "out.log.2026-11-29.gz"]
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "live\n");
  }

  #[test]
  fn a_device_is_never_rotated() {
    let mut w = writer(LogConfig {
      out_file: Some(PathBuf::from("/dev/null")),
      max_size: Some(10),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    let (report, seen) = collect();
    for _ in 0..5 {
      let end = w.written[0] + 20;
      w.data(Stream::Stdout, b"twenty bytes a line\n", end, Some(&report));
    }
    w.tick(wall_ms() + 2 * DAY_MS, Some(&report));
    assert!(lock(&seen).is_empty());
  }

  #[test]
  fn an_exited_childs_unfinished_line_is_written_at_its_end() {
    let dir = temp("settle");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    // The child wrote "no newline" and exited; the settle mark comes before the bytes.
    w.settle(Stream::Stdout, 10, None);
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    // Its bytes and the next child's first line arrive in one chunk.
    feed(&mut w, Stream::Stdout, b"no newlinenext\n");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].ends_with("Z no newline"), "{text}");
    assert!(lines[1].ends_with("Z next"), "{text}");
  }

  #[test]
  fn a_fifo_is_a_stream_its_writers_never_wait_on() {
    let dir = temp("fifo");
    let path = dir.join("out.log");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // No reader: the open itself fails at once (ENXIO), rather than waiting for one.
    let err = open_log(&path, false).unwrap_err();
    assert_eq!(err.code().as_deref(), Some("ENXIO"));
    // With a reader, it is a stream: what the reader has not taken waits, in order, and
    // no write waits for it.
    let mut reader = OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(&path)
      .unwrap();
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: false,
      max_size: Some(1000),
      rotate: daily_utc(),
      max_files: 5,
      ..Default::default()
    });
    let lines: Vec<String> = (0..20_000).map(|i| format!("line {i:05}\n")).collect();
    for line in &lines {
      feed(&mut w, Stream::Stdout, line.as_bytes());
    }
    assert!(file(&w, 0).waiting(), "more than a pipe holds");
    assert!(w.blocked(None).1.is_some());
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < lines.concat().len() && Instant::now() < deadline {
      let mut buf = [0u8; 65536];
      match io::Read::read(&mut reader, &mut buf) {
        Ok(n) => got.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
          w.blocked(None);
        }
        Err(e) => panic!("{e}"),
      }
    }
    assert_eq!(String::from_utf8(got).unwrap(), lines.concat());
    assert!(w.blocked(None).1.is_none());
    // Never rotated: nothing but the FIFO in the directory.
    assert_eq!(listing(&dir), ["out.log"]);
    // The reader gone: an error (EPIPE), and what waited goes with it. Another test's child
    // may hold a copy of the read end for the moment between its fork and its exec
    // (descriptors are close-on-exec, not close-on-fork): the lines go on until it is over.
    drop(reader);
    let (report, seen) = collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock(&seen).is_empty() {
      assert!(
        Instant::now() < deadline,
        "no error once the reader was gone"
      );
      let end = w.written[0] + 4;
      w.data(Stream::Stdout, b"gone", end, Some(&report));
      let end = w.written[0] + 1;
      w.data(Stream::Stdout, b"\n", end, Some(&report));
    }
    assert_eq!(lock(&seen)[0].code().as_deref(), Some("EPIPE"));
  }

  #[test]
  fn a_deleted_file_is_recreated() {
    let dir = temp("deleted");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    feed(&mut w, Stream::Stdout, b"one\n");
    fs::remove_file(&path).unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    feed(&mut w, Stream::Stdout, b"two\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
  }
}
