//! Wakes the scheduler loop early when it has something to do before its planned wake-up.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tokio::sync::Notify;

use crate::clock::Timestamp;

/// The scheduler sleeps until a planned time; others tell it about earlier work.
#[derive(Debug)]
pub struct Wakeup {
    /// Planned wake-up, in milliseconds since the epoch.
    planned_ms: AtomicI64,
    /// Set while the scheduler waits for a concurrency slot.
    wants_slot: AtomicBool,
    notify: Notify,
}

impl Default for Wakeup {
    fn default() -> Self {
        Self {
            planned_ms: AtomicI64::new(i64::MAX),
            wants_slot: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }
}

impl Wakeup {
    /// Records when the scheduler intends to wake up next.
    pub fn plan(&self, at: Timestamp) {
        self.wants_slot.store(false, Ordering::SeqCst);
        self.planned_ms
            .store(at.timestamp_millis(), Ordering::SeqCst);
    }

    /// Records that the scheduler waits for a free concurrency slot.
    pub fn plan_for_slot(&self) {
        self.planned_ms.store(i64::MIN, Ordering::SeqCst);
        self.wants_slot.store(true, Ordering::SeqCst);
    }

    /// Work falls due at `at`: wakes the scheduler if that is before its plan.
    pub fn due_at(&self, at: Timestamp) {
        let at = at.timestamp_millis();
        if self.planned_ms.fetch_min(at, Ordering::SeqCst) > at {
            self.notify.notify_one();
        }
    }

    /// A poll finished, so a concurrency slot is free.
    pub fn slot_freed(&self) {
        if self.wants_slot.swap(false, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// Resolves at the next wake-up call, or at once if one came since the last wait.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}
