//! Watching the source for changes (`watch: true`), natively.
//!
//! One thread per watching monitor owns a `notify` watcher (inotify, or polling when asked
//! or when inotify runs out of watches), drops the paths forever-monitor's rules ignore
//! (dot files, `watchIgnorePatterns`, `.foreverignore`), and hands the rest to the
//! supervisor, which turns a burst into at most two restarts. Both queues are bounded: the
//! kernel's events wait in a queue of [`RAW_QUEUE`] (then in inotify's own, whose overflow
//! counts as a change), and changes reach the supervisor through [`NOTICE_QUEUE`] places,
//! past which only the latest change is kept: a burst needs no more. Once a second the thread checks
//! that every watched directory is still the one it watches, so a directory that
//! disappears and comes back is watched again. It exists only while the monitor runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use globset::{Glob, GlobBuilder, GlobMatcher};
use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::error::CoreError;

/// What to watch and what to ignore.
#[derive(Debug, Clone)]
pub struct WatchConfig {
  /// Directories watched recursively.
  pub dirs: Vec<PathBuf>,
  /// Ignore files whose name starts with a dot.
  pub ignore_dot_files: bool,
  /// minimatch-style patterns: relative to each directory, absolute when they start with
  /// `/`, and matched against the file name alone when they hold no `/`.
  pub patterns: Vec<String>,
  /// Poll instead of using inotify.
  pub use_polling: bool,
  /// Time between polls.
  pub polling_interval: Duration,
  /// Quiet time that ends a burst of changes; the burst gives one restart.
  pub debounce: Duration,
}

/// A change or a failure, from the watcher thread.
#[derive(Debug)]
pub enum Notice {
  /// Every directory that exists is now watched (sent once).
  Ready,
  /// A file that is not ignored changed.
  Changed(PathBuf),
  /// Watching failed; the watcher carries on as well as it can.
  Failed(CoreError),
}

struct Pattern {
  absolute: bool,
  base_name_only: bool,
  matcher: GlobMatcher,
}

/// forever-monitor's `watchFilter`: does a change to `file` restart the child?
pub struct Filter {
  dirs: Vec<PathBuf>,
  ignore_dot_files: bool,
  patterns: Vec<Pattern>,
}

impl Filter {
  /// Compiles the patterns; an invalid one is an error naming it.
  pub fn new(config: &WatchConfig) -> Result<Filter, CoreError> {
    let mut patterns = Vec::new();
    let raws = config
      .patterns
      .iter()
      .map(|p| p.trim())
      .filter(|p| !p.is_empty());
    // As in minimatch, `dir/**` matches `dir` itself too.
    let raws = raws.flat_map(|p| {
      let own = p.strip_suffix("/**").filter(|d| !d.is_empty());
      std::iter::once(p).chain(own)
    });
    for raw in raws {
      let glob = GlobBuilder::new(raw)
        .literal_separator(true)
        .build()
        .or_else(|_| Glob::new(&globset::escape(raw)))
        .map_err(|e| CoreError::InvalidOption(format!("watchIgnorePatterns {raw:?}: {e}")))?;
      patterns.push(Pattern {
        absolute: raw.starts_with('/'),
        base_name_only: !raw.contains('/'),
        matcher: glob.compile_matcher(),
      });
    }
    Ok(Filter {
      dirs: config.dirs.clone(),
      ignore_dot_files: config.ignore_dot_files,
      patterns,
    })
  }

  /// True when a change to `file` should restart the child.
  pub fn wants(&self, file: &Path) -> bool {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    if self.ignore_dot_files && name.as_deref().is_some_and(|n| n.starts_with('.')) {
      return false;
    }
    for pattern in &self.patterns {
      if pattern.absolute {
        if pattern.matcher.is_match(file) {
          return false;
        }
        continue;
      }
      if pattern.base_name_only {
        if name.as_deref().is_some_and(|n| pattern.matcher.is_match(n)) {
          return false;
        }
        continue;
      }
      for dir in &self.dirs {
        if let Ok(relative) = file.strip_prefix(dir) {
          if pattern.matcher.is_match(relative) {
            return false;
          }
        }
      }
    }
    true
  }
}

/// File-system events waiting for the watcher thread's filter.
const RAW_QUEUE: usize = 1024;
/// Notices waiting for the supervisor.
const NOTICE_QUEUE: usize = 64;

/// A running watcher; dropping it stops the thread.
pub struct Watching {
  stop: Arc<AtomicBool>,
  /// Changes and failures, for the supervisor.
  pub notices: mpsc::Receiver<Notice>,
}

impl Drop for Watching {
  fn drop(&mut self) {
    self.stop.store(true, Ordering::Release);
  }
}

enum Backend {
  Native(RecommendedWatcher),
  Poll(PollWatcher),
}

impl Backend {
  fn watch(&mut self, dir: &Path) -> notify::Result<()> {
    match self {
      Backend::Native(w) => w.watch(dir, RecursiveMode::Recursive),
      Backend::Poll(w) => w.watch(dir, RecursiveMode::Recursive),
    }
  }

  fn unwatch(&mut self, dir: &Path) {
    let _ = match self {
      Backend::Native(w) => w.unwatch(dir),
      Backend::Poll(w) => w.unwatch(dir),
    };
  }
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
  use std::os::unix::fs::MetadataExt;
  std::fs::metadata(dir)
    .ok()
    .filter(|m| m.is_dir())
    .map(|m| (m.dev(), m.ino()))
}

fn watch_error(dir: &Path, e: notify::Error) -> CoreError {
  let source = match e.kind {
    notify::ErrorKind::Io(io) => io,
    notify::ErrorKind::PathNotFound => std::io::Error::from_raw_os_error(libc::ENOENT),
    notify::ErrorKind::MaxFilesWatch => std::io::Error::from_raw_os_error(libc::ENOSPC),
    other => std::io::Error::other(format!("{other:?}")),
  };
  CoreError::sys("watch", dir.display().to_string(), source)
}

/// Starts watching. Failures to watch a directory arrive as [`Notice::Failed`].
pub fn start(config: WatchConfig) -> Result<Watching, CoreError> {
  let filter = Filter::new(&config)?;
  let (notices_tx, notices) = mpsc::channel(NOTICE_QUEUE);
  let stop = Arc::new(AtomicBool::new(false));
  let stopped = Arc::clone(&stop);
  std::thread::Builder::new()
    .name("forever-watch".to_string())
    .spawn(move || run(config, filter, notices_tx, stopped))
    .map_err(|e| CoreError::sys("thread", None, e))?;
  Ok(Watching { stop, notices })
}

/// The supervisor's end of the notices, as the watcher thread sees it.
struct Notices {
  tx: mpsc::Sender<Notice>,
  /// The latest change that found the queue full, sent as soon as there is room.
  pending: Option<PathBuf>,
}

impl Notices {
  /// Sends a failure or readiness (rare, never dropped). False once the supervisor is gone.
  fn send(&mut self, notice: Notice) -> bool {
    self.tx.blocking_send(notice).is_ok()
  }

  /// Sends a change; with the queue full it is kept, in place of any kept before.
  fn changed(&mut self, path: PathBuf) -> bool {
    self.pending = Some(path);
    self.flush()
  }

  /// Sends the kept change if there is room. False once the supervisor is gone.
  fn flush(&mut self) -> bool {
    let Some(path) = self.pending.take() else {
      return true;
    };
    match self.tx.try_send(Notice::Changed(path)) {
      Ok(()) => true,
      Err(mpsc::error::TrySendError::Full(Notice::Changed(path))) => {
        self.pending = Some(path);
        true
      }
      Err(_) => false,
    }
  }
}

fn run(config: WatchConfig, filter: Filter, notices: mpsc::Sender<Notice>, stop: Arc<AtomicBool>) {
  let mut notices = Notices {
    tx: notices,
    pending: None,
  };
  // Bounded: when the filter falls behind, notify's thread waits, and the kernel queues
  // (and, past its limit, reports an overflow, taken as a change).
  let (raw_tx, raw_rx) = std_mpsc::sync_channel::<notify::Result<notify::Event>>(RAW_QUEUE);
  let handler = |tx: std_mpsc::SyncSender<notify::Result<notify::Event>>| {
    move |event| {
      let _ = tx.send(event);
    }
  };
  let poll_config = notify::Config::default().with_poll_interval(config.polling_interval);
  let make_poll =
    |tx: std_mpsc::SyncSender<_>| PollWatcher::new(handler(tx), poll_config).map(Backend::Poll);
  let first = if config.use_polling {
    make_poll(raw_tx.clone())
  } else {
    RecommendedWatcher::new(handler(raw_tx.clone()), notify::Config::default()).map(Backend::Native)
  };
  let mut backend = match first {
    Ok(b) => b,
    Err(e) => {
      let _ = notices.send(Notice::Failed(watch_error(Path::new("."), e)));
      match make_poll(raw_tx.clone()) {
        Ok(b) => b,
        Err(_) => return,
      }
    }
  };
  let mut watched: Vec<Option<(u64, u64)>> = vec![None; config.dirs.len()];
  let mut reported = vec![false; config.dirs.len()];
  let mut polling = config.use_polling;
  let mut ready = false;

  loop {
    // (Re-)watch every directory that is there and is not watched as it is now.
    for (i, dir) in config.dirs.iter().enumerate() {
      let now = identity(dir);
      if now.is_some() && now == watched[i] {
        continue;
      }
      if watched[i].is_some() {
        backend.unwatch(dir);
      }
      watched[i] = None;
      let Some(id) = now else {
        if !reported[i] {
          reported[i] = true;
          let e = CoreError::sys(
            "watch",
            dir.display().to_string(),
            std::io::Error::from_raw_os_error(libc::ENOENT),
          );
          let _ = notices.send(Notice::Failed(e));
        }
        continue;
      };
      match backend.watch(dir) {
        Ok(()) => {
          watched[i] = Some(id);
          reported[i] = false;
        }
        Err(e) => {
          let exhausted = matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
            || matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::ENOSPC));
          let _ = notices.send(Notice::Failed(watch_error(dir, e)));
          if exhausted && !polling {
            // Out of inotify watches: poll everything instead.
            if let Ok(poll) = make_poll(raw_tx.clone()) {
              backend = poll;
              polling = true;
              watched.iter_mut().for_each(|w| *w = None);
            }
          }
        }
      }
    }

    if !ready {
      ready = true;
      let _ = notices.send(Notice::Ready);
    }

    // A kept change is retried soon; otherwise the directories are checked once a second.
    let wait = if notices.pending.is_some() {
      Duration::from_millis(10)
    } else {
      Duration::from_secs(1)
    };
    match raw_rx.recv_timeout(wait) {
      Ok(Ok(event)) => {
        if event.need_rescan() {
          // Events were lost (the kernel's queue overflowed): something changed.
          if let Some(dir) = config.dirs.first() {
            if !notices.changed(dir.clone()) {
              return;
            }
          }
        } else if matches!(
          event.kind,
          EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) {
          for path in event.paths {
            if filter.wants(&path) && !notices.changed(path) {
              return;
            }
          }
        }
      }
      Ok(Err(_)) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
      Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
    }
    if !notices.flush() || stop.load(Ordering::Acquire) || notices.tx.is_closed() {
      return;
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn filter(dirs: &[&str], dot: bool, patterns: &[&str]) -> Filter {
    Filter::new(&WatchConfig {
      dirs: dirs.iter().map(PathBuf::from).collect(),
      ignore_dot_files: dot,
      patterns: patterns.iter().map(|p| p.to_string()).collect(),
      use_polling: false,
      polling_interval: Duration::from_millis(100),
      debounce: Duration::from_millis(10),
    })
    .unwrap()
  }

  #[test]
  fn dot_files_are_ignored_unless_asked() {
    assert!(!filter(&["/app"], true, &[]).wants(Path::new("/app/.env")));
    assert!(filter(&["/app"], false, &[]).wants(Path::new("/app/.env")));
    assert!(filter(&["/app"], true, &[]).wants(Path::new("/app/index.js")));
  }

  #[test]
  fn patterns_without_a_slash_match_the_file_name_anywhere() {
    let f = filter(&["/app"], true, &["*.log"]);
    assert!(!f.wants(Path::new("/app/out.log")));
    assert!(!f.wants(Path::new("/app/deep/er/out.log")));
    assert!(f.wants(Path::new("/app/out.js")));
  }

  #[test]
  fn patterns_with_a_slash_are_relative_to_each_directory() {
    let f = filter(&["/app", "/lib"], true, &["node_modules/**", "src/*.tmp"]);
    assert!(!f.wants(Path::new("/app/node_modules/x/index.js")));
    assert!(!f.wants(Path::new("/lib/node_modules/y.js")));
    assert!(!f.wants(Path::new("/app/src/a.tmp")));
    assert!(
      f.wants(Path::new("/app/src/deep/a.tmp")),
      "* does not cross /"
    );
    assert!(f.wants(Path::new("/app/src/a.js")));
    assert!(
      !f.wants(Path::new("/app/node_modules")),
      "dir/** covers dir"
    );
  }

  #[test]
  fn absolute_patterns_match_the_whole_path() {
    let f = filter(&["/app"], true, &["/app/cache/**"]);
    assert!(!f.wants(Path::new("/app/cache/a/b")));
    assert!(f.wants(Path::new("/app/cachex")));
  }

  #[test]
  fn blank_patterns_are_skipped_and_bad_ones_kept_literal() {
    let f = filter(&["/app"], true, &["", "  ", "[unclosed"]);
    assert!(f.wants(Path::new("/app/a.js")));
    assert!(!f.wants(Path::new("/app/[unclosed")));
  }
}
