//! A byte budget: how much a destination may hold at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The least a waiting reservation takes: 64 KiB.
pub const MIN_GRANT: usize = 64 * 1024;

/// Bounds the bytes a destination holds. Room is reserved before bytes are read, and
/// released when the destination is done with them, so the bound is never exceeded, however
/// many pumps share it.
#[derive(Debug)]
pub struct Budget {
  limit: usize,
  used: AtomicUsize,
  freed: Notify,
}

impl Budget {
  /// A budget of `limit` bytes.
  pub fn new(limit: usize) -> Arc<Budget> {
    Arc::new(Budget {
      limit,
      used: AtomicUsize::new(0),
      freed: Notify::new(),
    })
  }

  /// Bytes held now.
  pub fn used(&self) -> usize {
    self.used.load(Ordering::Acquire)
  }

  /// The bound.
  pub fn limit(&self) -> usize {
    self.limit
  }

  /// Reserves up to `max` bytes, waiting until there is room for a worthwhile share of
  /// them ([`MIN_GRANT`], or all of a smaller `max`): a nearly full budget would otherwise
  /// hand out slivers, and the reader would make a system call for each.
  pub async fn reserve(self: &Arc<Self>, max: usize) -> Reservation {
    let least = max.min(MIN_GRANT).min(self.limit).max(1);
    loop {
      let freed = self.freed.notified();
      tokio::pin!(freed);
      freed.as_mut().enable();
      if self.limit.saturating_sub(self.used()) >= least {
        if let Some(reservation) = self.try_reserve(max) {
          return reservation;
        }
      }
      freed.await;
    }
  }

  /// Reserves up to `max` bytes if there is room now.
  pub fn try_reserve(self: &Arc<Self>, max: usize) -> Option<Reservation> {
    let mut used = self.used.load(Ordering::Acquire);
    loop {
      let room = self.limit.saturating_sub(used);
      if room == 0 || max == 0 {
        return None;
      }
      let len = room.min(max);
      match self
        .used
        .compare_exchange_weak(used, used + len, Ordering::AcqRel, Ordering::Acquire)
      {
        Ok(_) => {
          return Some(Reservation {
            budget: Arc::clone(self),
            len,
          })
        }
        Err(now) => used = now,
      }
    }
  }

  fn release(&self, len: usize) {
    if len > 0 {
      self.used.fetch_sub(len, Ordering::AcqRel);
      self.freed.notify_waiters();
    }
  }
}

/// Room held in a [`Budget`]; released when dropped.
#[derive(Debug)]
pub struct Reservation {
  budget: Arc<Budget>,
  len: usize,
}

impl Reservation {
  /// Bytes reserved.
  pub fn len(&self) -> usize {
    self.len
  }

  /// Whether nothing is reserved.
  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// Keeps `len` bytes of the reservation and returns the rest as a reservation of its own
  /// (for a chunk cut in two).
  pub fn split_off(&mut self, len: usize) -> Reservation {
    let kept = len.min(self.len);
    let rest = self.len - kept;
    self.len = kept;
    Reservation {
      budget: Arc::clone(&self.budget),
      len: rest,
    }
  }

  /// Keeps only `len` bytes of the reservation, releasing the rest.
  pub fn shrink(&mut self, len: usize) {
    if len < self.len {
      self.budget.release(self.len - len);
      self.len = len;
    }
  }
}

impl Drop for Reservation {
  fn drop(&mut self) {
    self.budget.release(self.len);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn reservations_never_exceed_the_limit() {
    let budget = Budget::new(100);
    let a = budget.try_reserve(70).unwrap();
    let mut b = budget.try_reserve(70).unwrap();
    assert_eq!((a.len(), b.len()), (70, 30));
    assert!(budget.try_reserve(1).is_none());
    b.shrink(10);
    assert_eq!(budget.used(), 80);
    drop(a);
    drop(b);
    assert_eq!(budget.used(), 0);
  }

  #[tokio::test]
  async fn a_waiting_reservation_gets_freed_room() {
    let budget = Budget::new(10);
    let held = budget.try_reserve(10).unwrap();
    let waiter = tokio::spawn({
      let budget = Arc::clone(&budget);
      async move { budget.reserve(5).await.len() }
    });
    tokio::task::yield_now().await;
    drop(held);
    assert_eq!(waiter.await.unwrap(), 5);
  }
}
