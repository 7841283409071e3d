//! What a failed poll, or a row that cannot be polled, means for the journey.

use super::*;

#[test]
fn failure_backs_off_on_the_error_curve() {
    let now = at("2026-01-01T00:00:00Z");
    let decision = policy().decide(&journey(Some("InProgress")), failed(ServerError), now);
    // second failure in a row: 1 s × 2 = 2 s
    assert_eq!(
        decision.update.next_poll_at,
        Some(at("2026-01-01T00:00:02Z"))
    );
    assert_eq!(decision.update.stop, None);
    assert!(matches!(
        decision.update.outcome,
        UpdateOutcome::Failed {
            consecutive_errors: 2,
            consecutive_not_found: 0,
            ..
        }
    ));
}

#[test]
fn retry_after_is_a_floor_under_the_backoff() {
    let now = at("2026-01-01T00:00:00Z");
    let mut result = failed(RateLimited);
    if let PollResult::Failed(failure) = &mut result {
        failure.retry_after = Some(Duration::from_secs(120));
    }
    let decision = policy().decide(&journey(Some("InProgress")), result, now);
    assert_eq!(
        decision.update.next_poll_at,
        Some(at("2026-01-01T00:02:00Z"))
    );
}

#[test]
fn not_found_stops_after_the_configured_count_in_a_row() {
    let now = at("2026-01-01T00:00:00Z");
    let mut history = journey(Some("InProgress"));
    for round in 1..=3 {
        let decision = policy().decide(&history, failed(NotFound), now);
        let UpdateOutcome::Failed {
            consecutive_not_found,
            ..
        } = decision.update.outcome
        else {
            panic!("a 404 is a failure")
        };
        assert_eq!(consecutive_not_found, round);
        if round < 3 {
            assert_eq!(decision.update.stop, None, "round {round}");
            assert!(decision.update.next_poll_at.is_some());
        } else {
            assert_eq!(decision.update.stop, Some(StopReason::NotFound));
            assert_eq!(decision.update.next_poll_at, None);
        }
        history.consecutive_not_found = consecutive_not_found;
    }
    // Anything else in between resets the count.
    let decision = policy().decide(&history, failed(Timeout), now);
    assert!(matches!(
        decision.update.outcome,
        UpdateOutcome::Failed {
            consecutive_not_found: 0,
            ..
        }
    ));
}

#[test]
fn a_rejected_request_stops_at_once_with_the_message() {
    let now = at("2026-01-01T00:00:00Z");
    let decision = policy().decide(&journey(None), failed(Rejected), now);
    assert_eq!(decision.update.stop, Some(StopReason::Rejected));
    assert!(matches!(
        &decision.update.outcome,
        UpdateOutcome::Failed { error, .. } if error == "rejected happened"
    ));
}

#[test]
fn invalid_row_stops_at_once() {
    let now = at("2026-01-01T00:00:00Z");
    let result = PollResult::InvalidRow("instance ID is empty".into());
    let decision = policy().decide(&journey(None), result, now);
    assert_eq!(decision.update.next_poll_at, None);
    assert_eq!(decision.update.stop, Some(StopReason::InvalidRow));
    assert_eq!(
        decision.update.outcome,
        UpdateOutcome::Stopped {
            error: Some("instance ID is empty".into())
        }
    );
}
