//! A journey's timeline: each status it was seen in, and for how long. A pure function of its
//! transitions and the time, so the journey page only renders it.

use std::time::Duration;

use crate::clock::{self, Timestamp, parse_timestamp};
use crate::storage::TransitionRow;

/// One status of a journey's history.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stretch {
    pub from_status: Option<String>,
    pub status: String,
    /// When journeyd first saw it (stored text).
    pub observed_at: String,
    /// Until the next status was seen, or until `end` for the last one.
    pub lasted: Option<Duration>,
    /// The journey is in this status now (the last one, still polled).
    pub current: bool,
}

/// The stretches of `transitions` (in order): the last one lasts until `stopped_at` when
/// polling stopped, else until `now`. A time that cannot be read gives no duration.
pub(super) fn stretches(
    transitions: &[TransitionRow],
    stopped_at: Option<&str>,
    now: Timestamp,
) -> Vec<Stretch> {
    let read = |text: &str| parse_timestamp(text).ok();
    let last_end = match stopped_at {
        Some(text) => read(text),
        None => Some(now),
    };
    transitions
        .iter()
        .enumerate()
        .map(|(index, transition)| {
            let next = transitions.get(index + 1);
            let end = match next {
                Some(next) => read(&next.observed_at),
                None => last_end,
            };
            let lasted = read(&transition.observed_at)
                .zip(end)
                .map(|(start, end)| clock::duration_between(start, end));
            Stretch {
                from_status: transition.from_status.clone(),
                status: transition.to_status.clone(),
                observed_at: transition.observed_at.clone(),
                lasted,
                current: next.is_none() && stopped_at.is_none(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(id: i64, from: Option<&str>, to: &str, at: &str) -> TransitionRow {
        TransitionRow {
            id,
            instance_id: "j1".into(),
            from_status: from.map(str::to_owned),
            to_status: to.into(),
            observed_at: at.into(),
        }
    }

    #[test]
    fn each_status_lasts_until_the_next_and_the_last_until_now() {
        let now = parse_timestamp("2026-12-02T10:10:00Z").unwrap();
        let history = [
            transition(1, None, "InProgress", "2026-12-02T10:00:00Z"),
            transition(2, Some("InProgress"), "Referred", "2026-12-02T10:02:30Z"),
        ];
        let stretches = stretches(&history, None, now);
        assert_eq!(stretches[0].lasted, Some(Duration::from_secs(150)));
        assert!(!stretches[0].current);
        assert_eq!(stretches[1].lasted, Some(Duration::from_secs(450)));
        assert!(stretches[1].current);
    }

    #[test]
    fn a_stopped_journey_ends_when_polling_stopped() {
        let now = parse_timestamp("2026-12-05T00:00:00Z").unwrap();
        let history = [
            transition(1, None, "InProgress", "2026-12-02T10:00:00Z"),
            transition(2, Some("InProgress"), "Completed", "bad time"),
        ];
        let stretches = stretches(&history, Some("2026-12-02T10:01:00Z"), now);
        assert_eq!(stretches[0].lasted, None, "the next time is unreadable");
        assert_eq!(stretches[1].lasted, None);
        assert!(!stretches[1].current, "polling stopped");
        let history = &history[..1];
        let stretches = super::stretches(history, Some("2026-12-02T10:01:00Z"), now);
        assert_eq!(stretches[0].lasted, Some(Duration::from_secs(60)));
    }
}
