//! Log files (`outFile`/`errFile`), written off the JS thread and off the runtime's
//! workers.
//!
//! Each monitor's [`LogSink`] queues what its pumps hand it and writes it on the runtime's
//! small blocking pool, bounded by a budget ([`sink`]). Its [`Writer`](writer) keeps lines
//! whole where that matters and rotates files between two lines, by size and by time
//! ([`writer`], periods from [`schedule`]). The monitors of one host that write the same
//! path share its file ([`file`](mod@file)): one descriptor, rotated once at its limit, each chunk of
//! output written under its lock; each monitor sees it through a [`target`], which reports
//! the file's failures to it once per episode. Destinations are regular files, or streams —
//! the host's own `/dev/stdout`, character devices, FIFOs — opened safely and written
//! without blocking ([`open`]). What happens to rotated files afterwards — compression,
//! retention — is the [`keeper`]'s, off the writer's path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::CoreError;

mod file;
mod keeper;
mod open;
mod schedule;
mod sink;
mod target;
#[cfg(test)]
mod testing;
mod writer;

pub use schedule::{Schedule, DAY_MS, HOUR_MS};
pub use sink::LogSink;

/// How often a destination is checked for having been moved or deleted, or retried.
const RECHECK: Duration = Duration::from_secs(1);
/// Bytes a monitor's log files may have waiting to be written.
pub const LOG_BACKLOG: usize = 8 * 1024 * 1024;

/// Which files to write and how.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
  /// The child's stdout goes here.
  pub out_file: Option<PathBuf>,
  /// The child's stderr goes here (the same path as `out_file` merges them).
  pub err_file: Option<PathBuf>,
  /// Keep what the files hold instead of truncating them when they are first opened.
  pub append: bool,
  /// Prefix every line with an ISO-8601 UTC time.
  pub timestamps: bool,
  /// Rotate a file before it would grow past this many bytes.
  pub max_size: Option<u64>,
  /// Rotate a file when its period ends (`file.2026-11-30`, …).
  pub rotate: Option<Schedule>,
  /// How many rotated files to keep (`file.1` … `file.N`).
  pub max_files: u32,
  /// Remove rotated files last written longer ago than this.
  pub max_age: Option<Duration>,
  /// Gzip rotated files (`file.1.gz`, `file.2026-11-30.gz`).
  pub compress: bool,
  /// The child writes the files itself: they are its stdout/stderr, opened for appending
  /// at each spawn, so its output costs the host nothing (no line mode is possible then).
  pub direct: bool,
}

/// Where a sink reports a failing file.
pub type Report = Arc<dyn Fn(CoreError) + Send + Sync>;
/// Called after each write, so that whoever waits on the written offsets looks again.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The wall clock, in milliseconds since the epoch: a `clock_gettime` the vDSO answers,
/// with no system call.
fn wall_ms() -> i64 {
  millis_since_epoch(SystemTime::now())
}

/// `at`, in milliseconds since the epoch (negative before it).
fn millis_since_epoch(at: SystemTime) -> i64 {
  // Seconds and milliseconds apart: no 128-bit division for every line.
  let millis = |d: Duration| {
    i64::try_from(d.as_secs())
      .unwrap_or(i64::MAX / 1000)
      .saturating_mul(1000)
      + i64::from(d.subsec_millis())
  };
  match at.duration_since(UNIX_EPOCH) {
    Ok(d) => millis(d),
    Err(e) => -millis(e.duration()),
  }
}
