//! The one way the core takes a lock, and the way it holds back wake-ups of other threads.

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard};

/// A wake-up of another thread (or process), held back by [`hold_wakes`].
type Wake = Box<dyn FnOnce()>;

thread_local! {
  /// The wake-ups this thread's [`hold_wakes`] holds back, if one is under way.
  static HELD: RefCell<Option<Vec<Wake>>> = const { RefCell::new(None) };
}

/// Runs `f`, holding back until it returns (or unwinds) the wake-ups it asks for with
/// [`wake_later`], which then happen in the order asked.
///
/// Why: a restart's critical path runs from one child's exit to the next child's spawn, and
/// each wake-up on the way (of JS, of an output pump's task, of the guardian) costs the
/// waking thread tens of microseconds on a virtual machine, where it sends an interrupt to
/// another CPU. Held back, they happen after the spawn, and what several of them would have
/// woken twice is woken once. Scopes on one thread do not nest: an inner one is part of the
/// outer.
pub fn hold_wakes<T>(f: impl FnOnce() -> T) -> T {
  struct Release;
  impl Drop for Release {
    fn drop(&mut self) {
      let held = HELD
        .with(|held| held.borrow_mut().take())
        .unwrap_or_default();
      for wake in held {
        // A wake-up never panics (a notify, a write); if one did, the rest still happen,
        // and no panic starts while another unwinds.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(wake));
      }
    }
  }
  let outer = HELD.with(|held| {
    let mut held = held.borrow_mut();
    held.is_none() && {
      *held = Some(Vec::new());
      true
    }
  });
  // Made only by the outer scope: a `Release` dropped at once would end that scope here.
  let _release = outer.then(|| Release);
  f()
}

/// Wakes with `wake` at the end of this thread's [`hold_wakes`], or now outside one.
pub fn wake_later(wake: impl FnOnce() + 'static) {
  let wake: Wake = Box::new(wake);
  let now = HELD.with(|held| match held.borrow_mut().as_mut() {
    Some(queue) => {
      queue.push(wake);
      None
    }
    None => Some(wake),
  });
  if let Some(wake) = now {
    wake();
  }
}

/// Whether a [`hold_wakes`] is under way on this thread.
pub fn holding_wakes() -> bool {
  HELD.with(|held| held.borrow().is_some())
}

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
  fn held_wakes_happen_in_order_when_the_outer_scope_ends() {
    use std::rc::Rc;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let note = |n: u32| {
      let seen = Rc::clone(&seen);
      move || seen.borrow_mut().push(n)
    };
    wake_later(note(0));
    assert_eq!(*seen.borrow(), [0], "no scope: at once");
    hold_wakes(|| {
      assert!(holding_wakes());
      wake_later(note(1));
      hold_wakes(|| wake_later(note(2)));
      assert_eq!(*seen.borrow(), [0], "held until the outer scope ends");
    });
    assert!(!holding_wakes());
    assert_eq!(*seen.borrow(), [0, 1, 2]);
  }

  #[test]
  fn held_wakes_happen_when_the_scope_unwinds() {
    let woken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&woken);
    let unwound = std::panic::catch_unwind(move || {
      hold_wakes(|| {
        wake_later(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
        panic!("in the scope");
      })
    });
    assert!(unwound.is_err());
    assert!(woken.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!holding_wakes());
  }

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
