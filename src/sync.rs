//! The one way the core takes a lock.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even when a thread panicked while holding it.
///
/// A panic is never fatal here: a monitor's task catches its own (and takes its child down),
/// and every call from JS catches one at the boundary. A poisoned lock, left as the standard
/// library leaves it, would then make every later `lock()` of that data panic too — one bug
/// in one monitor turned into every call of every monitor sharing the data failing (the
/// runtime slot, the log files' registry, the guardian's state). What the core keeps behind
/// its locks stays usable after a panic: queues, counters, handles and flags, each updated
/// in steps that leave it valid, none holding an invariant half-made across a call that
/// could panic. So the poison is ignored and the data is taken as it is.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
  mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_lock_poisoned_by_a_panic_is_still_taken() {
    let mutex = std::sync::Arc::new(Mutex::new(vec![1]));
    let held = std::sync::Arc::clone(&mutex);
    let panicked = std::thread::spawn(move || {
      let mut data = held.lock().unwrap();
      data.push(2);
      panic!("while holding the lock");
    })
    .join();
    assert!(panicked.is_err());
    assert!(mutex.is_poisoned());
    let mut data = lock(&mutex);
    assert_eq!(*data, [1, 2], "the data as the panicking thread left it");
    data.push(3);
    drop(data);
    assert_eq!(*lock(&mutex), [1, 2, 3]);
  }
}
