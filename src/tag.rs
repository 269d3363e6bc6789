//! The tag every supervised child carries in its environment, and its descendants with it.
//!
//! `FOREVER_NATIVE_TAG=<host pid>.<host start time>.<run>`: the host pid and its start
//! time name this host for good (a pid alone may be reused), the run number names one
//! child. Descendants inherit it, so they can be found after their parent links are gone:
//! when a child exits, its children are re-parented to init and no walk down from it finds
//! them, but the tag does — at the child's exit (so that nothing it left holds the port the
//! next child needs) and when the host dies (the guardian kills everything with this
//! host's tag). A process that clears its environment escapes the tag; its process group
//! still reaches it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::procfs;

/// The environment variable.
pub const NAME: &str = "FOREVER_NATIVE_TAG";

/// `FOREVER_NATIVE_TAG=<pid>.<start>.`: what every tag of this host begins with.
pub fn host_prefix() -> &'static str {
  static PREFIX: OnceLock<String> = OnceLock::new();
  PREFIX.get_or_init(|| {
    let pid = std::process::id();
    let start = procfs::start_time(pid as i32).unwrap_or(0);
    format!("{NAME}={pid}.{start}.")
  })
}

/// A fresh tag for one child: its value, and the whole `NAME=value` entry to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
  entry: String,
}

impl Tag {
  /// The next run's tag.
  pub fn next() -> Tag {
    static RUN: AtomicU64 = AtomicU64::new(1);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    Tag {
      entry: format!("{}{run}", host_prefix()),
    }
  }

  /// The variable's value.
  pub fn value(&self) -> &str {
    &self.entry[NAME.len() + 1..]
  }

  /// `NAME=value`, as `/proc/<pid>/environ` holds it.
  pub fn entry(&self) -> &[u8] {
    self.entry.as_bytes()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn tags_are_unique_and_share_the_host_prefix() {
    let a = Tag::next();
    let b = Tag::next();
    assert_ne!(a, b);
    assert!(a.entry().starts_with(host_prefix().as_bytes()));
    assert!(host_prefix().starts_with("FOREVER_NATIVE_TAG="));
    assert_eq!(format!("{NAME}={}", a.value()).as_bytes(), a.entry());
  }
}
