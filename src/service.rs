//! How journeyd tells its supervisor how it is doing: a liveness record for `/healthz`, and
//! systemd's notify protocol (`READY=1` once the first scan is possible, `WATCHDOG=1` from the
//! scheduler loop itself, `STOPPING=1` on shutdown). Outside systemd there is no
//! `NOTIFY_SOCKET`, and the notifications do nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::DateTime;
use sd_notify::NotifyState;

use crate::clock::Timestamp;

/// Never ping the watchdog more often than this, however fast the loop turns.
const MIN_WATCHDOG_GAP: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Liveness {
    ready: AtomicBool,
    /// Last turn of the scheduler loop, in milliseconds since the epoch (0: none yet).
    last_tick_ms: AtomicI64,
    /// How often to ping systemd's watchdog, when it is on.
    watchdog_every: Option<Duration>,
    last_watchdog: Mutex<Option<Instant>>,
}

impl Liveness {
    /// Reads systemd's watchdog settings from the environment (`WATCHDOG_USEC`).
    pub fn from_env() -> Self {
        // Ping at a quarter of the timeout: one late turn of the loop is no reason to be killed.
        Self::new(sd_notify::watchdog_enabled().map(|timeout| (timeout / 4).max(MIN_WATCHDOG_GAP)))
    }

    pub fn new(watchdog_every: Option<Duration>) -> Self {
        Self {
            ready: AtomicBool::new(false),
            last_tick_ms: AtomicI64::new(0),
            watchdog_every,
            last_watchdog: Mutex::new(None),
        }
    }

    /// The daemon can do its work: migrations ran and the first scan is possible.
    pub fn ready(&self, now: Timestamp) {
        self.ready.store(true, Ordering::SeqCst);
        notify(&[NotifyState::Ready, NotifyState::Status("polling journeys")]);
        self.tick(now);
    }

    /// One turn of the scheduler loop.
    pub fn tick(&self, now: Timestamp) {
        self.last_tick_ms
            .store(now.timestamp_millis(), Ordering::SeqCst);
        let Some(every) = self.watchdog_every else {
            return;
        };
        let mut last = self.last_watchdog.lock().expect("watchdog state poisoned");
        if last.is_none_or(|at| at.elapsed() >= every) {
            *last = Some(Instant::now());
            notify(&[NotifyState::Watchdog]);
        }
    }

    /// Shutdown has begun.
    pub fn stopping(&self) {
        self.ready.store(false, Ordering::SeqCst);
        notify(&[
            NotifyState::Stopping,
            NotifyState::Status("finishing polls in flight"),
        ]);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn last_tick(&self) -> Option<Timestamp> {
        match self.last_tick_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "could not notify systemd");
    }
}
