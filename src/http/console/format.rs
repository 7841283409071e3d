//! How the console writes times, spans, numbers and links for people.

use std::time::Duration;

use crate::clock::{self, Timestamp, parse_timestamp};
use crate::storage::JourneyRow;

/// A span in its two largest units: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
pub(super) fn span(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{minutes} min {} s", seconds % 60),
        3_600..86_400 => format!("{} h {minutes} min", seconds / 3_600),
        _ => format!("{days} d {hours} h"),
    }
}

/// How long before `now` a stored time was: `5 min 2 s ago`, or `in 3 s` for a later one.
pub(super) fn relative(stored: &str, now: Timestamp) -> String {
    match parse_timestamp(stored) {
        Ok(at) if at <= now => format!("{} ago", span(clock::duration_between(at, now))),
        Ok(at) => format!("in {}", span(clock::duration_between(now, at))),
        Err(_) => "unreadable time".to_owned(),
    }
}

/// A stored time as people read it: `2026-12-02 14:03:07 UTC`.
pub(super) fn time(stored: &str) -> String {
    match parse_timestamp(stored) {
        Ok(at) => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => stored.to_owned(),
    }
}

/// An integer with thousands separated: `1,234,567`.
pub(super) fn count(value: impl Into<i128>) -> String {
    let digits = value.into().unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A link to the journeys page with these query parameters.
pub(super) fn link(params: &[(&str, &str)]) -> String {
    let given: Vec<_> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    let query = serde_urlencoded::to_string(given).unwrap_or_default();
    format!("/console/journeys?{query}")
}

/// The journey page's address: IDs are URL-safe by their rules, but not `/`-free in theory.
pub(super) fn journey_link(instance_id: &str) -> String {
    let escaped = percent_encoding::utf8_percent_encode(instance_id, PATH_SEGMENT);
    format!("/console/journeys/{escaped}")
}

/// What a path segment may hold as it is: the characters of instance IDs as journeyd issues
/// them (RFC 3986's unreserved); anything else a row inserted by SQL holds is escaped.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// When the journey is polled next, or why it is not.
pub(super) fn next_poll(row: &JourneyRow, now: Timestamp) -> String {
    match (&row.next_poll_at, &row.stop_reason) {
        (Some(at), _) => relative(at, now),
        (None, Some(reason)) => format!("stopped ({reason})"),
        (None, None) => "not scheduled".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_use_their_two_largest_units() {
        let cases = [
            (0, "0 s"),
            (59, "59 s"),
            (200, "3 min 20 s"),
            (7_500, "2 h 5 min"),
            (273_600, "3 d 4 h"),
        ];
        for (seconds, text) in cases {
            assert_eq!(span(Duration::from_secs(seconds)), text);
        }
    }

    #[test]
    fn times_are_relative_to_now_either_way() {
        let now = parse_timestamp("2026-12-02T14:00:00Z").unwrap();
        assert_eq!(relative("2026-12-02T13:55:00Z", now), "5 min 0 s ago");
        assert_eq!(relative("2026-12-02T14:00:03.500Z", now), "in 3 s");
        assert_eq!(relative("yesterday", now), "unreadable time");
        assert_eq!(time("2026-12-02T14:03:07.250Z"), "2026-12-02 14:03:07 UTC");
    }

    #[test]
    fn journey_links_escape_what_a_path_segment_cannot_hold() {
        assert_eq!(journey_link("Ab_9-x"), "/console/journeys/Ab_9-x");
        assert_eq!(journey_link("a b/c?d"), "/console/journeys/a%20b%2Fc%3Fd");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000i64), "1,000,000");
        assert_eq!(count(12_345u64), "12,345");
    }
}
