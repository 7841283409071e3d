//! Wall-clock time, behind a trait so that tests can drive it by hand.
//!
//! Every component that decides something by the time of day (the scheduler, the token cache, the
//! simulated GBG GO) reads it from a [`Clock`]. Tests hand them one [`ManualClock`] and move it
//! forward explicitly, which makes backoff and token expiry deterministic without sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, SubsecRound, Utc};

/// A point in time, always UTC.
pub type Timestamp = DateTime<Utc>;

/// Source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock, to the millisecond: the precision every timestamp is stored with, so that a
/// time read back from the database equals the one written (PostgreSQL would keep microseconds
/// from some statements and milliseconds from others).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now().trunc_subsecs(3)
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock poisoned");
        *now += chrono::Duration::from_std(by).expect("duration out of range");
    }

    pub fn set(&self, to: Timestamp) {
        *self.0.lock().expect("clock poisoned") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock poisoned")
    }
}

/// Formats a timestamp the way the database stores it: RFC 3339, UTC, always millisecond
/// precision and a `Z` suffix.
///
/// The fixed width matters: SQLite compares these as text, so `next_poll_at <= ?` and the index
/// on it only order correctly when every value has the same shape. SQLite's own
/// `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`, used for column defaults, produces the same shape.
pub fn format_timestamp(ts: Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a timestamp written by journeyd, by the GBG GO API, or by someone typing SQL:
/// RFC 3339 with any offset, or SQLite's `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, InvalidTimestamp> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Ok(ts.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|_| InvalidTimestamp(text.to_owned()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an RFC 3339 timestamp")]
pub struct InvalidTimestamp(pub String);

/// `to - from` as a std duration, zero when `to` is not after `from`.
pub fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}

/// `ts + by`, saturating at the far future instead of panicking on absurd configurations.
pub fn add(ts: Timestamp, by: Duration) -> Timestamp {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| ts.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `ts - by`, saturating at the distant past.
pub fn sub(ts: Timestamp, by: Duration) -> Timestamp {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| ts.checked_sub_signed(by))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_format_is_fixed_width_and_sorts_as_text() {
        let a = parse_timestamp("2026-01-02T03:04:05Z").unwrap();
        let b = parse_timestamp("2026-01-02T03:04:05.5Z").unwrap();
        assert_eq!(format_timestamp(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(format_timestamp(b), "2026-01-02T03:04:05.500Z");
        assert!(format_timestamp(a) < format_timestamp(b));
    }

    #[test]
    fn parses_offsets_and_sqlite_datetime() {
        let with_offset = parse_timestamp("2024-02-15T23:16:33.213+01:00").unwrap();
        assert_eq!(format_timestamp(with_offset), "2024-02-15T22:16:33.213Z");
        let sqlite = parse_timestamp("2024-02-15 22:16:33").unwrap();
        assert_eq!(format_timestamp(sqlite), "2024-02-15T22:16:33.000Z");
        assert_eq!(
            parse_timestamp("yesterday"),
            Err(InvalidTimestamp("yesterday".into()))
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = parse_timestamp("2026-01-01T00:00:00Z").unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.clone().advance(Duration::from_secs(90));
        assert_eq!(format_timestamp(clock.now()), "2026-01-01T00:01:30.000Z");
    }

    #[test]
    fn add_saturates() {
        let start = parse_timestamp("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(add(start, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            duration_between(start, start - chrono::Duration::seconds(5)),
            Duration::ZERO
        );
    }
}
