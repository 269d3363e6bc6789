//! Log files (`outFile`/`errFile`), written by one thread per monitor.
//!
//! File writes block, so they never run on the runtime's workers: the pumps hand chunks to
//! a bounded channel and a dedicated thread writes them, which also makes the channel the
//! backpressure that slows a child whose disk cannot keep up. The thread keeps lines whole
//! where that matters — timestamps, both streams in one file, size rotation — by holding a
//! stream's unfinished line until its newline arrives (or the child exits). A failing
//! destination is reported once as an `'error'` with its path and retried later; the other
//! destinations keep flowing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use crate::error::CoreError;
use crate::output::Stream;
use crate::supervisor::{no_sink, Event, EventSink};

/// An unfinished line longer than this is written as it is rather than held.
const MAX_PENDING: usize = 64 * 1024;
/// How often a destination is checked for having been moved or deleted, or retried.
const RECHECK: Duration = Duration::from_secs(1);

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
  /// How many rotated files to keep (`file.1` … `file.N`).
  pub max_files: u32,
  /// The child writes the files itself: they are its stdout/stderr, opened for appending
  /// at each spawn, so its output costs the host nothing (no line mode is possible then).
  pub direct: bool,
}

enum Message {
  Data {
    stream: Stream,
    bytes: Vec<u8>,
    sink: Weak<dyn EventSink>,
  },
  /// Writes out unfinished lines too (the child is gone), then answers.
  Flush(oneshot::Sender<()>),
  /// Closes and re-opens every file (for external log rotation), answering with failures.
  Reopen(std::sync::mpsc::Sender<Vec<CoreError>>),
}

/// The handle the pumps write through; the thread ends when the last handle is dropped.
pub struct LogWriter {
  tx: mpsc::Sender<Message>,
  /// With `direct`, the files a child gets as stdout and stderr.
  direct: [Option<PathBuf>; 2],
  /// Whether the last attempt to open each of them failed (reported once per failure).
  direct_failing: [AtomicBool; 2],
}

impl LogWriter {
  /// Opens the files now (truncating them unless `append`) and starts the writer thread.
  /// Files that cannot be opened are reported in the list and retried on later writes.
  pub fn open(config: LogConfig) -> (Arc<LogWriter>, Vec<CoreError>) {
    let (tx, rx) = mpsc::channel(64);
    let mut errors = Vec::new();
    let mut state = Writer::new(&config, &mut errors);
    let started = std::thread::Builder::new()
      .name("forever-logs".to_string())
      .spawn(move || state.run(rx));
    if let Err(e) = started {
      errors.push(CoreError::sys("thread", None, e));
    }
    let direct = if config.direct {
      [config.out_file.clone(), config.err_file.clone()]
    } else {
      [None, None]
    };
    let writer = LogWriter {
      tx,
      direct,
      direct_failing: Default::default(),
    };
    (Arc::new(writer), errors)
  }

  /// With `direct`, the log files opened for the next child to write itself (stdout,
  /// stderr). A file that cannot be opened now is `None`: that stream is piped through the
  /// writer instead. The failure is returned the first time, not again until the file
  /// could be opened in between.
  pub fn direct_files(&self) -> ([Option<File>; 2], Vec<CoreError>) {
    let mut errors = Vec::new();
    let mut files = [None, None];
    for (slot, path) in self.direct.iter().enumerate() {
      let Some(path) = path else { continue };
      match Target::open(path, false) {
        Ok((file, ..)) => {
          self.direct_failing[slot].store(false, Ordering::Relaxed);
          files[slot] = Some(file);
        }
        Err(e) => {
          if !self.direct_failing[slot].swap(true, Ordering::Relaxed) {
            errors.push(CoreError::sys("open", path.display().to_string(), e));
          }
        }
      }
    }
    (files, errors)
  }

  /// Queues `bytes` from `stream`; waits only when the writer is 64 chunks behind.
  pub async fn write(&self, stream: Stream, bytes: Vec<u8>, sink: Weak<dyn EventSink>) {
    let _ = self
      .tx
      .send(Message::Data {
        stream,
        bytes,
        sink,
      })
      .await;
  }

  /// Waits until everything queued so far, unfinished lines included, is written.
  pub async fn flush(&self) {
    let (done, wait) = oneshot::channel();
    if self.tx.send(Message::Flush(done)).await.is_ok() {
      let _ = wait.await;
    }
  }

  /// Closes and re-opens the files (call from a thread outside the runtime).
  pub fn reopen(&self) -> Vec<CoreError> {
    let (done, wait) = std::sync::mpsc::channel();
    if self.tx.blocking_send(Message::Reopen(done)).is_err() {
      return vec![CoreError::SupervisorGone];
    }
    wait
      .recv()
      .unwrap_or_else(|_| vec![CoreError::SupervisorGone])
  }
}

struct Target {
  path: PathBuf,
  file: Option<File>,
  size: u64,
  identity: Option<(u64, u64)>,
  checked: Instant,
  reported: bool,
}

impl Target {
  fn open(path: &Path, truncate: bool) -> io::Result<(File, u64, (u64, u64))> {
    let file = OpenOptions::new()
      .create(true)
      .append(true)
      .mode(0o644)
      // Never write through a symlink planted at the log's path.
      .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
      .open(path)?;
    let meta = file.metadata()?;
    // Devices (/dev/null, /dev/full, a tty) cannot be truncated, and need not be.
    if truncate && meta.is_file() {
      file.set_len(0)?;
    }
    Ok((
      file,
      if truncate { 0 } else { meta.len() },
      (meta.dev(), meta.ino()),
    ))
  }

  fn new(path: PathBuf, truncate: bool, errors: &mut Vec<CoreError>) -> Target {
    let mut target = Target {
      path,
      file: None,
      size: 0,
      identity: None,
      checked: Instant::now(),
      reported: false,
    };
    if let Err(e) = target.reopen(truncate) {
      target.reported = true;
      errors.push(e);
    }
    target
  }

  fn reopen(&mut self, truncate: bool) -> Result<(), CoreError> {
    self.file = None;
    self.checked = Instant::now();
    let (file, size, identity) = Target::open(&self.path, truncate)
      .map_err(|e| CoreError::sys("open", self.path.display().to_string(), e))?;
    self.file = Some(file);
    self.size = size;
    self.identity = Some(identity);
    Ok(())
  }

  /// Re-opens a file that was moved or deleted under us, or retries a failed one, at most
  /// once per [`RECHECK`].
  fn recheck(&mut self) -> Result<(), CoreError> {
    if self.checked.elapsed() < RECHECK {
      return Ok(());
    }
    self.checked = Instant::now();
    let current = fs::symlink_metadata(&self.path)
      .ok()
      .map(|m| (m.dev(), m.ino()));
    if self.file.is_none() || current != self.identity {
      self.reopen(false)?;
    }
    Ok(())
  }

  fn write(&mut self, bytes: &[u8]) -> Result<(), CoreError> {
    self.recheck()?;
    let Some(file) = self.file.as_mut() else {
      return Ok(());
    };
    match file.write_all(bytes) {
      Ok(()) => {
        self.size += bytes.len() as u64;
        Ok(())
      }
      Err(e) => Err(CoreError::sys("write", self.path.display().to_string(), e)),
    }
  }

  fn rotate(&mut self, keep: u32) -> Result<(), CoreError> {
    self.file = None;
    let numbered = |n: u32| {
      let mut name = self.path.clone().into_os_string();
      name.push(format!(".{n}"));
      PathBuf::from(name)
    };
    if keep == 0 {
      return self.reopen(true);
    }
    for n in (1..keep).rev() {
      let _ = fs::rename(numbered(n), numbered(n + 1));
    }
    fs::rename(&self.path, numbered(1))
      .map_err(|e| CoreError::sys("rename", self.path.display().to_string(), e))?;
    self.reopen(false)
  }
}

struct Writer {
  targets: Vec<Target>,
  route: [Option<usize>; 2],
  pending: [Vec<u8>; 2],
  line_mode: bool,
  timestamps: bool,
  max_size: Option<u64>,
  max_files: u32,
}

fn index(stream: Stream) -> usize {
  match stream {
    Stream::Stdout => 0,
    Stream::Stderr => 1,
  }
}

impl Writer {
  fn new(config: &LogConfig, errors: &mut Vec<CoreError>) -> Writer {
    let mut targets: Vec<Target> = Vec::new();
    let mut route = [None, None];
    for (slot, path) in [(0, &config.out_file), (1, &config.err_file)] {
      let Some(path) = path else { continue };
      let existing = targets.iter().position(|t| same_path(&t.path, path));
      route[slot] = Some(existing.unwrap_or_else(|| {
        targets.push(Target::new(path.clone(), !config.append, errors));
        targets.len() - 1
      }));
    }
    let merged = route[0].is_some() && route[0] == route[1];
    Writer {
      targets,
      route,
      pending: [Vec::new(), Vec::new()],
      line_mode: merged || config.timestamps || config.max_size.is_some(),
      timestamps: config.timestamps,
      max_size: config.max_size,
      max_files: config.max_files,
    }
  }

  fn run(&mut self, mut rx: mpsc::Receiver<Message>) {
    while let Some(message) = rx.blocking_recv() {
      match message {
        Message::Data {
          stream,
          bytes,
          sink,
        } => self.data(stream, &bytes, &sink),
        Message::Flush(done) => {
          for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[index(stream)]);
            if !rest.is_empty() {
              self.emit_line(stream, &rest, &no_sink());
            }
          }
          let _ = done.send(());
        }
        Message::Reopen(done) => {
          let errors = self
            .targets
            .iter_mut()
            .filter_map(|t| {
              let result = t.reopen(false);
              t.reported = result.is_err();
              result.err()
            })
            .collect();
          let _ = done.send(errors);
        }
      }
    }
  }

  fn data(&mut self, stream: Stream, bytes: &[u8], sink: &Weak<dyn EventSink>) {
    if self.route[index(stream)].is_none() {
      return;
    }
    if !self.line_mode {
      self.put(stream, bytes, sink);
      return;
    }
    let i = index(stream);
    self.pending[i].extend_from_slice(bytes);
    let Some(last_newline) = self.pending[i].iter().rposition(|&b| b == b'\n') else {
      if self.pending[i].len() > MAX_PENDING {
        let long = std::mem::take(&mut self.pending[i]);
        self.emit_line(stream, &long, sink);
      }
      return;
    };
    let rest = self.pending[i].split_off(last_newline + 1);
    let complete = std::mem::replace(&mut self.pending[i], rest);
    for line in complete.split_inclusive(|&b| b == b'\n') {
      self.emit_line(stream, line, sink);
    }
  }

  /// Writes one line (or an overlong fragment) with its timestamp, rotating first when it
  /// would not fit.
  fn emit_line(&mut self, stream: Stream, line: &[u8], sink: &Weak<dyn EventSink>) {
    let stamp = if self.timestamps {
      humantime::format_rfc3339_millis(SystemTime::now()).to_string() + " "
    } else {
      String::new()
    };
    let mut whole = Vec::with_capacity(stamp.len() + line.len() + 1);
    whole.extend_from_slice(stamp.as_bytes());
    whole.extend_from_slice(line);
    if !whole.ends_with(b"\n") {
      whole.push(b'\n');
    }
    if let (Some(max), Some(t)) = (self.max_size, self.route[index(stream)]) {
      let target = &mut self.targets[t];
      if target.size > 0 && target.size + whole.len() as u64 > max {
        let keep = self.max_files;
        if let Err(e) = self.targets[t].rotate(keep) {
          report(&mut self.targets[t], e, sink);
        }
      }
    }
    self.put(stream, &whole, sink);
  }

  fn put(&mut self, stream: Stream, bytes: &[u8], sink: &Weak<dyn EventSink>) {
    let Some(t) = self.route[index(stream)] else {
      return;
    };
    let target = &mut self.targets[t];
    match target.write(bytes) {
      Ok(()) => target.reported = false,
      Err(e) => report(target, e, sink),
    }
  }
}

/// Tells JS about a failing destination once, until it works again.
fn report(target: &mut Target, error: CoreError, sink: &Weak<dyn EventSink>) {
  if !target.reported {
    target.reported = true;
    if let Some(sink) = sink.upgrade() {
      sink.emit(Event::Error(error));
    }
  }
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

  fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fn-logs-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
  }

  fn writer(config: LogConfig) -> Writer {
    let mut errors = Vec::new();
    let w = Writer::new(&config, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    w
  }

  fn none() -> Weak<dyn EventSink> {
    no_sink()
  }

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
    w.data(Stream::Stdout, b"new\n", &none());
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    w.data(Stream::Stdout, b"fresh\n", &none());
    assert_eq!(fs::read_to_string(&path).unwrap(), "fresh\n");
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
    w.data(Stream::Stdout, b"out-a", &none());
    w.data(Stream::Stderr, b"err-a", &none());
    w.data(Stream::Stdout, b"-more\n", &none());
    w.data(Stream::Stderr, b"-more\n", &none());
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
    w.data(Stream::Stdout, b"hel", &none());
    w.data(Stream::Stdout, b"lo\nwor", &none());
    w.data(Stream::Stdout, b"ld\n", &none());
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
      w.data(Stream::Stdout, format!("line {i:03}\n").as_bytes(), &none());
    }
    let mut all = String::new();
    for name in ["out.log.2", "out.log.1", "out.log"] {
      let text = fs::read_to_string(dir.join(name)).unwrap();
      assert!(text.len() <= 100, "{name} is {} bytes", text.len());
      assert!(text.lines().all(|l| l.len() == 8), "{name}: {text}");
      all += &text;
    }
    assert!(!dir.join("out.log.3").exists());
    assert!(all.ends_with("line 049\n"));
  }

  #[test]
  fn flush_writes_an_unfinished_line() {
    let dir = temp("flush");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      timestamps: true,
      ..Default::default()
    });
    w.data(Stream::Stdout, b"no newline", &none());
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
    let rest = std::mem::take(&mut w.pending[0]);
    w.emit_line(Stream::Stdout, &rest, &none());
    assert!(fs::read_to_string(&path)
      .unwrap()
      .ends_with("Z no newline\n"));
  }

  #[test]
  fn a_symlink_at_the_path_is_refused() {
    let dir = temp("symlink");
    let target = dir.join("elsewhere");
    let link = dir.join("out.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut errors = Vec::new();
    Writer::new(
      &LogConfig {
        out_file: Some(link),
        ..Default::default()
      },
      &mut errors,
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code().as_deref(), Some("ELOOP"));
    assert!(!target.exists());
  }

  #[test]
  fn a_deleted_file_is_recreated() {
    let dir = temp("deleted");
    let path = dir.join("out.log");
    let mut w = writer(LogConfig {
      out_file: Some(path.clone()),
      ..Default::default()
    });
    w.data(Stream::Stdout, b"one\n", &none());
    fs::remove_file(&path).unwrap();
    w.targets[0].checked = Instant::now() - RECHECK;
    w.data(Stream::Stdout, b"two\n", &none());
    assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
  }
}
