//! What the log modules' tests share: scratch directories, error collectors, writers.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::file::FileState;
use super::schedule::DAY_MS;
use super::writer::Writer;
use super::{LogConfig, Report, Schedule};
use crate::error::CoreError;
use crate::output::Stream;
use crate::sync::lock;

/// Target `t`'s shared file, locked.
pub(super) fn file(w: &Writer, t: usize) -> MutexGuard<'_, FileState> {
  w.targets[t].shared.as_ref().expect("opened").lock()
}

/// A fresh, empty scratch directory for the test `name`.
pub(super) fn temp(name: &str) -> PathBuf {
  let dir = std::env::temp_dir().join(format!("fn-logs-{}-{name}", std::process::id()));
  let _ = fs::remove_dir_all(&dir);
  fs::create_dir_all(&dir).unwrap();
  dir
}

/// A report that keeps what it is given, and where it keeps it.
pub(super) fn collect() -> (Report, Arc<Mutex<Vec<CoreError>>>) {
  let seen = Arc::new(Mutex::new(Vec::new()));
  let into = Arc::clone(&seen);
  (Arc::new(move |e| lock(&into).push(e)), seen)
}

/// A writer for `config`, its files prepared (truncated unless `append`) without errors.
pub(super) fn writer(config: LogConfig) -> Writer {
  let mut w = Writer::new(&config, Arc::default());
  let (report, seen) = collect();
  w.prepare(!config.append, &report);
  assert!(lock(&seen).is_empty());
  w
}

/// Feeds `bytes` as the next chunk of `stream`.
pub(super) fn feed(w: &mut Writer, stream: Stream, bytes: &[u8]) {
  let end = w.written[stream.index()] + bytes.len() as u64;
  w.data(stream, bytes, end, None);
}

/// Rotation at midnight UTC.
pub(super) fn daily_utc() -> Option<Schedule> {
  Some(Schedule {
    every_ms: DAY_MS,
    utc: true,
  })
}

/// The names in `dir`, sorted.
pub(super) fn listing(dir: &Path) -> Vec<String> {
  let mut names: Vec<String> = fs::read_dir(dir)
    .unwrap()
    .map(|e| e.unwrap().file_name().into_string().unwrap())
    .collect();
  names.sort();
  names
}
