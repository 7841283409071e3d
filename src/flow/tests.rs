//! The flow control, driven by hand: every timestamp is explicit.

use super::*;
use crate::clock::parse_timestamp;

fn t(seconds: f64) -> Timestamp {
    clock::add(
        parse_timestamp("2026-01-01T00:00:00Z").unwrap(),
        Duration::from_secs_f64(seconds),
    )
}

fn flow(max_rate: f64) -> FlowControl {
    FlowControl::new(FlowSettings {
        max_rate,
        recovery_period: Duration::from_secs(60),
        probe_interval: Duration::from_secs(5),
        max_probe_interval: Duration::from_secs(60),
    })
}

const DOWN: Signal = Signal::Unavailable { retry_after: None };

#[test]
fn the_bucket_allows_a_burst_then_the_rate() {
    let mut flow = flow(10.0);
    assert_eq!(
        flow.admit(t(0.0), 25).allowed,
        10,
        "one second's worth at once"
    );
    let empty = flow.admit(t(0.0), 5);
    assert_eq!(empty.allowed, 0);
    assert_eq!(empty.retry_at, Some(t(0.1)));
    assert_eq!(flow.admit(t(0.55), 5).allowed, 5);
    assert_eq!(
        flow.admit(t(10.0), 100).allowed,
        10,
        "never more than the burst"
    );
}

#[test]
fn unused_permits_come_back() {
    let mut flow = flow(2.0);
    assert_eq!(flow.admit(t(0.0), 2).allowed, 2);
    flow.give_back(2);
    assert_eq!(flow.admit(t(0.0), 2).allowed, 2);
}

#[test]
fn a_429_halves_the_rate_which_climbs_back_over_the_recovery_period() {
    let mut flow = flow(20.0);
    assert!(matches!(
        flow.observe(t(0.0), Signal::TooManyRequests),
        Some(FlowEvent::RateLimited { rate }) if rate == 10.0
    ));
    assert_eq!(flow.rate(t(0.0)), 10.0);
    assert_eq!(flow.rate(t(30.0)), 15.0);
    flow.observe(t(30.0), Signal::TooManyRequests);
    assert_eq!(flow.rate(t(30.0)), 7.5);
    assert_eq!(flow.rate(t(90.0)), 20.0);
    for _ in 0..20 {
        flow.observe(t(90.0), Signal::TooManyRequests);
    }
    assert_eq!(flow.rate(t(90.0)), 1.0, "never below one request a second");
}

#[test]
fn sporadic_failures_are_not_an_outage() {
    let mut flow = flow(10.0);
    for round in 0..50 {
        let signal = if round % 3 == 0 {
            DOWN
        } else {
            Signal::Answered
        };
        assert_eq!(flow.observe(t(0.0), signal), None);
    }
    assert_eq!(flow.down(), None);
}

#[test]
fn an_outage_sends_only_probes_at_a_slowing_pace_then_ramps_up() {
    let mut flow = flow(10.0);
    for _ in 0..4 {
        assert_eq!(flow.observe(t(0.0), DOWN), None);
    }
    assert!(matches!(
        flow.observe(t(0.0), DOWN),
        Some(FlowEvent::OutageStarted { failures: 5, .. })
    ));
    assert_eq!(flow.down(), Some(DownCause::Unavailable));
    // Answers to requests already in flight change nothing: only probes count.
    assert_eq!(flow.observe(t(0.5), DOWN), None);
    assert_eq!(flow.observe(t(0.5), Signal::Answered), None);
    assert_eq!(flow.down(), Some(DownCause::Unavailable));

    let closed = flow.admit(t(1.0), 8);
    assert_eq!((closed.allowed, closed.retry_at), (0, Some(t(5.0))));
    let mut probes = Vec::new();
    let mut now = 5.0;
    while probes.len() < 6 {
        if flow.admit(t(now), 8).allowed == 1 {
            probes.push(now);
            assert_eq!(flow.admit(t(now), 8).allowed, 0, "one probe at a time");
            flow.observe(t(now), DOWN);
        }
        now += 1.0;
    }
    assert_eq!(probes, [5.0, 15.0, 35.0, 75.0, 135.0, 195.0]);

    let probe = flow.admit(t(255.0), 8);
    assert_eq!(probe.allowed, 1);
    assert!(matches!(
        flow.observe(t(255.0), Signal::Answered),
        Some(FlowEvent::Recovered { down_for, .. }) if down_for == Duration::from_secs(255)
    ));
    assert_eq!(flow.down(), None);
    assert_eq!(flow.rate(t(255.0)), 1.0);
    assert_eq!(flow.rate(t(285.0)), 5.5);
    assert_eq!(flow.admit(t(256.0), 100).allowed, 1, "no thundering herd");
}

#[test]
fn retry_after_on_503_delays_the_first_probe() {
    let mut flow = flow(10.0);
    for _ in 0..4 {
        flow.observe(t(0.0), DOWN);
    }
    flow.observe(
        t(0.0),
        Signal::Unavailable {
            retry_after: Some(Duration::from_secs(120)),
        },
    );
    assert_eq!(flow.admit(t(5.0), 1).retry_at, Some(t(120.0)));
}

#[test]
fn denied_access_pauses_at_once_and_alarms_once_a_minute() {
    let mut flow = flow(10.0);
    assert_eq!(
        flow.observe(t(0.0), Signal::AccessDenied),
        Some(FlowEvent::AccessDenied)
    );
    assert_eq!(flow.down(), Some(DownCause::AccessDenied));
    assert_eq!(flow.admit(t(30.0), 4).allowed, 0);
    for minute in 1..=3 {
        let now = t(60.0 * f64::from(minute));
        assert_eq!(flow.admit(now, 4).allowed, 1);
        assert_eq!(
            flow.observe(now, Signal::AccessDenied),
            Some(FlowEvent::AccessDenied)
        );
    }
    let now = t(240.0);
    assert_eq!(flow.admit(now, 4).allowed, 1);
    assert!(matches!(
        flow.observe(now, Signal::Answered),
        Some(FlowEvent::Recovered {
            cause: DownCause::AccessDenied,
            ..
        })
    ));
}

#[test]
fn a_probe_that_finds_nothing_due_is_not_lost() {
    let mut flow = flow(10.0);
    flow.observe(t(0.0), Signal::AccessDenied);
    assert_eq!(flow.admit(t(60.0), 1).allowed, 1);
    flow.give_back(1);
    assert_eq!(flow.admit(t(61.0), 1).allowed, 1);
}

#[test]
fn the_report_names_healthy_slowed_and_down() {
    let mut flow = flow(20.0);
    assert_eq!(flow.report(t(0.0)).state, ApiState::Healthy);
    flow.observe(t(0.0), Signal::TooManyRequests);
    let slowed = flow.report(t(30.0));
    assert_eq!(slowed.state, ApiState::Slowed);
    assert_eq!((slowed.rate, slowed.max_rate), (15.0, 20.0));
    assert_eq!(flow.report(t(60.0)).state, ApiState::Healthy);
    flow.observe(t(61.0), Signal::AccessDenied);
    assert_eq!(
        flow.report(t(62.0)).state,
        ApiState::Down {
            cause: DownCause::AccessDenied,
            since: t(61.0),
            next_probe: t(121.0),
        }
    );
}
