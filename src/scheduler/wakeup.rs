//! Wakes the scheduler loop early when it has something to do before its planned wake-up.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::clock::Timestamp;

/// The scheduler sleeps until a planned time; others tell it about earlier work.
#[derive(Debug)]
pub struct Wakeup {
    /// Planned wake-up, in milliseconds since the epoch.
    planned_ms: AtomicI64,
    /// While the scheduler waits for free concurrency slots, how many it waits for (else 0).
    wanted_slots: AtomicUsize,
    notify: Notify,
}

impl Default for Wakeup {
    fn default() -> Self {
        Self {
            planned_ms: AtomicI64::new(i64::MAX),
            wanted_slots: AtomicUsize::new(0),
            notify: Notify::new(),
        }
    }
}

impl Wakeup {
    /// Records when the scheduler intends to wake up next.
    pub fn plan(&self, at: Timestamp) {
        self.wanted_slots.store(0, Ordering::SeqCst);
        self.planned_ms
            .store(at.timestamp_millis(), Ordering::SeqCst);
    }

    /// Records that the scheduler waits until `count` concurrency slots are free.
    pub fn plan_for_slots(&self, count: usize) {
        self.planned_ms.store(i64::MIN, Ordering::SeqCst);
        self.wanted_slots.store(count.max(1), Ordering::SeqCst);
    }

    /// Work falls due at `at`: wakes the scheduler if that is before its plan.
    pub fn due_at(&self, at: Timestamp) {
        let at = at.timestamp_millis();
        if self.planned_ms.fetch_min(at, Ordering::SeqCst) > at {
            self.notify.notify_one();
        }
    }

    /// A poll finished; `free` slots are free now.
    pub fn slot_freed(&self, free: usize) {
        let wanted = self.wanted_slots.load(Ordering::SeqCst);
        if wanted > 0
            && free >= wanted
            && self
                .wanted_slots
                .compare_exchange(wanted, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// Something other than due work or free slots changed (kept results were written):
    /// wakes the scheduler whatever it planned.
    pub fn resume(&self) {
        self.notify.notify_one();
    }

    /// Resolves at the next wake-up call, or at once if one came since the last wait.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}
