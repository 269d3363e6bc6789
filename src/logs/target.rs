//! A [`Target`]: one of a monitor's files, as that monitor sees it.
//!
//! The file itself is shared by every writer of its path ([`SharedFile`]); what is the
//! monitor's own is the path as it named it, and how the file's failures reach it: a
//! failing file is reported once per episode (until it works again) — the file is tried
//! again at most once a second — and never stops the monitor's other destinations.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::file::{Rotation, SharedFile};
use super::Report;
use crate::error::CoreError;

/// One of a monitor's files: the file it shares with the other writers of its path, and
/// how that file's failures are reported to this monitor.
pub(super) struct Target {
  /// The path, as this monitor gave it.
  pub path: PathBuf,
  /// How the file rotates, if this monitor is the first to open it.
  rotation: Rotation,
  /// The shared file, once a job has looked the path up (never on the JS thread).
  pub shared: Option<Arc<SharedFile>>,
  /// The shared file's path as its first writer spelled it, as errors name it.
  theirs: String,
  /// An episode of failure has been reported to this monitor and has not ended yet.
  pub failing: bool,
  /// Whether this monitor's child runs (a supervision run is attached), as the other
  /// writers of the file see it.
  pub live: Arc<AtomicBool>,
}

impl Target {
  /// A target for `path`, which rotates as `rotation` says if this monitor opens it first;
  /// `live` says when this monitor's child runs.
  pub fn new(path: PathBuf, rotation: Rotation, live: Arc<AtomicBool>) -> Target {
    Target {
      path,
      rotation,
      shared: None,
      theirs: String::new(),
      failing: false,
      live,
    }
  }

  /// The shared file, looked up at the first call. The first writer of a path in this
  /// process also has its rotated files tidied at once, in the background: what a host
  /// that died left (an interrupted compression, files not compressed yet) is finished
  /// when the next one opens the log, not at its first rotation — which, with a daily
  /// rotation, could be a day later. Failures go to `report`.
  pub fn shared(&mut self, report: Option<&Report>) -> Arc<SharedFile> {
    if let Some(shared) = &self.shared {
      return Arc::clone(shared);
    }
    let (shared, created) = SharedFile::acquire(&self.path, self.rotation);
    {
      let mut file = shared.lock();
      self.theirs = file.path.display().to_string();
      file.join(&self.live);
      if created {
        file.tidy(report);
      }
    }
    self.shared = Some(Arc::clone(&shared));
    shared
  }

  /// Reports `result`'s failure once per episode; a success ends the episode.
  pub fn outcome(&mut self, result: Result<(), CoreError>, report: Option<&Report>) {
    match result {
      Ok(()) => self.failing = false,
      Err(mut e) => {
        if !self.failing {
          self.failing = true;
          // Named as this monitor named it, when another spelled the shared path first.
          if let CoreError::Sys { path: Some(p), .. } = &mut e {
            if *p == self.theirs {
              *p = self.path.display().to_string();
            }
          }
          if let Some(report) = report {
            report(e);
          }
        }
      }
    }
  }

  /// Reports the outcome of a write, if one was made.
  pub fn wrote(&mut self, result: Option<Result<(), CoreError>>, report: Option<&Report>) {
    if let Some(result) = result {
      self.outcome(result, report);
    }
  }
}

#[cfg(test)]
mod tests {
  use crate::logs::testing::{collect, feed, file, temp, writer};
  use crate::logs::{LogConfig, RECHECK};
  use crate::output::Stream;
  use crate::sync::lock;
  use std::fs;
  use std::time::Instant;

  #[test]
  fn a_failing_file_is_reported_once_per_episode() {
    let dir = temp("episode");
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let path = sub.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    let (report, seen) = collect();
    feed(&mut w, Stream::Stdout, b"one\n");
    // A missing directory is made again: a file in its place is what fails.
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "").unwrap();
    for _ in 0..3 {
      file(&w, 0).checked = Some(Instant::now() - RECHECK);
      let end = w.written[0] + 4;
      w.data(Stream::Stdout, b"two\n", end, Some(&report));
    }
    assert_eq!(lock(&seen).len(), 1, "one error for the whole episode");
    fs::remove_file(&sub).unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    let end = w.written[0] + 6;
    w.data(Stream::Stdout, b"three\n", end, Some(&report));
    assert_eq!(fs::read_to_string(&path).unwrap(), "three\n");
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "").unwrap();
    file(&w, 0).checked = Some(Instant::now() - RECHECK);
    let end = w.written[0] + 5;
    w.data(Stream::Stdout, b"four\n", end, Some(&report));
    assert_eq!(lock(&seen).len(), 2, "a new episode is reported again");
  }
}
