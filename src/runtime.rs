//! The one tokio runtime every monitor shares.
//!
//! It starts on first use, not at `require()`, so loading the package stays cheap. Its
//! worker threads live as long as the host: children spawned from them may carry a
//! parent-death signal, which follows the spawning thread. Blocking work (log files) runs
//! on its blocking pool, capped at [`BLOCKING_THREADS`] so that a thousand monitors with
//! log files cost a handful of threads, not a thousand.

use std::sync::Mutex;

use tokio::runtime::Runtime;

use crate::error::{CoreError, Result};
use crate::sync::lock;

/// Threads that may block on files at once, for all monitors together.
pub const BLOCKING_THREADS: usize = 4;

/// The runtime, started on first call. A failure to create it (no descriptors left) is
/// not remembered: the next call tries again.
pub fn get() -> Result<&'static Runtime> {
  static RUNTIME: Mutex<Option<&'static Runtime>> = Mutex::new(None);
  let mut slot = lock(&RUNTIME);
  if let Some(runtime) = *slot {
    return Ok(runtime);
  }
  // tokio's signal driver panics (for good: its globals are a poisoned once-cell) when it
  // finds no descriptor for its self-pipe. Make sure there is room first, so that a host at
  // its descriptor limit gets a clean EMFILE and can try again later.
  let reserve = (0..8)
    .map(|_| std::fs::File::open("/dev/null").map_err(|e| CoreError::sys("runtime", None, e)))
    .collect::<Result<Vec<_>>>()?;
  drop(reserve);
  let runtime = std::panic::catch_unwind(|| {
    tokio::runtime::Builder::new_multi_thread()
      .worker_threads(2)
      .max_blocking_threads(BLOCKING_THREADS)
      .thread_name("forever-native")
      .enable_all()
      .build()
  })
  .map_err(|_| CoreError::Panic("the async runtime could not be built".to_string()))?
  .map_err(|e| CoreError::sys("runtime", None, e))?;
  let runtime: &'static Runtime = Box::leak(Box::new(runtime));
  *slot = Some(runtime);
  Ok(runtime)
}
