//! How journeyd recovers when GBG GO is gone for a while: an outage of the API probed slowly and
//! the backlog ramped up after it, a down token endpoint asked a few times a minute, error
//! backoff, shutdown with polls in flight, and random faults that still end every journey with a
//! clean history. Time is a manual clock throughout, except where a real timeout is the point.

mod common;

use std::time::Duration;

use common::{Backend, Harness, forever, gaps};
use journeyd::flow::DownCause;
use journeyd::simulator::{Fault, FaultRates, Script, SimulatorConfig};

const ID: &str = "PiIuACmx8Q8R7qPnAkLAqBAT";

#[tokio::test]
async fn an_outage_is_probed_slowly_and_the_backlog_ramps_up_afterwards() {
    let h = Harness::with(
        |c| {
            c.api.max_requests_per_second = 20.0;
            c.poll.concurrency = 8;
        },
        SimulatorConfig::default(),
    )
    .await;
    let ids: Vec<String> = (0..200).map(|n| format!("backlog-{n:03}")).collect();
    for id in &ids {
        h.sim
            .add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    h.sim.set_api_down(true);

    // An hour of outage, a poll round every second.
    let mut sent_per_minute = Vec::new();
    let mut sent = 0;
    for second in 1..=3_600 {
        h.poll().await;
        if second % 60 == 0 {
            sent_per_minute.push(h.sim.state_requests() - sent);
            sent = h.sim.state_requests();
        }
        h.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(h.scheduler().api_down(), Some(DownCause::Unavailable));
    assert!(
        sent_per_minute[0] <= 16 + 4,
        "first minute: {sent_per_minute:?}"
    );
    assert!(
        sent_per_minute[5..].iter().all(|n| *n <= 1),
        "one probe a minute once backed off: {sent_per_minute:?}"
    );

    h.sim.set_api_down(false);
    let mut polled_per_second = Vec::new();
    let mut before = h.sim.state_requests();
    for _ in 0..120 {
        h.poll().await;
        polled_per_second.push(h.sim.state_requests() - before);
        before = h.sim.state_requests();
        h.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(h.scheduler().api_down(), None);
    let first = polled_per_second.iter().position(|n| *n > 0).unwrap();
    let ramp = &polled_per_second[first..];
    assert!(ramp[..5].iter().all(|n| *n <= 2), "starts slowly: {ramp:?}");
    assert!(
        ramp.iter().all(|n| *n <= 20),
        "never above the budget: {ramp:?}"
    );
    assert!(
        ramp[30..40].iter().sum::<u64>() > ramp[..10].iter().sum::<u64>(),
        "climbs: {ramp:?}"
    );
    assert!(h.all_stopped().await, "the whole backlog got through");
}

#[tokio::test]
async fn a_down_token_endpoint_gets_a_few_requests_a_minute() {
    let sim = SimulatorConfig {
        token_lifetime: Duration::from_secs(60),
        ..SimulatorConfig::default()
    };
    let h = Harness::with(|c| c.poll.concurrency = 8, sim).await;
    let ids: Vec<String> = (0..50).map(|n| format!("tokenless-{n:02}")).collect();
    for id in &ids {
        h.sim.add_journey(id, forever("InProgress"));
    }
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    h.poll().await;
    assert_eq!(h.sim.token_requests(), 1);
    h.sim.set_token_endpoint_down(true);

    let mut per_minute = Vec::new();
    let mut before = h.sim.token_requests();
    for second in 1..=600 {
        h.clock.advance(Duration::from_secs(1));
        h.poll().await;
        if second % 60 == 0 {
            per_minute.push(h.sim.token_requests() - before);
            before = h.sim.token_requests();
        }
    }
    assert!(per_minute.iter().all(|n| *n <= 4), "{per_minute:?}");
    assert_eq!(h.scheduler().api_down(), Some(DownCause::Unavailable));
    let row = h.row("tokenless-00").await;
    assert_eq!(row.last_error_class.as_deref(), Some("token_unavailable"));

    h.sim.set_token_endpoint_down(false);
    for _ in 0..120 {
        h.clock.advance(Duration::from_secs(1));
        h.poll().await;
    }
    assert_eq!(
        h.scheduler().api_down(),
        None,
        "recovered once tokens flow again"
    );
}

#[tokio::test]
async fn error_backoff_gaps_double_up_to_the_maximum() {
    let h = Harness::with(
        |c| c.retry.max_backoff = Duration::from_secs(4),
        SimulatorConfig::default(),
    )
    .await;
    h.sim.add_journey(ID, forever("InProgress"));
    // Four failures in a row: one more would count as an outage (see the outage test).
    for _ in 0..4 {
        h.sim.inject(ID, Fault::Status(502));
    }
    h.enqueue(&[ID]).await;
    for _ in 0..5 {
        h.poll_when_due(ID).await;
    }
    assert_eq!(gaps(&h.sim.fetches(ID)), [1.0, 2.0, 4.0, 4.0]);
    assert_eq!(h.row(ID).await.status.as_deref(), Some("InProgress"));
}

async fn wait_for_fetch(sim: &journeyd::simulator::Simulator, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sim.fetches(id).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{id} was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn shutdown_lets_polls_in_flight_finish_and_records_them(backend: Backend) {
    let mut h = Harness::on_with(
        backend,
        |c| c.shutdown.grace_period = Duration::from_secs(20),
        SimulatorConfig::default(),
    )
    .await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Slow(Duration::from_millis(300)));
    h.enqueue(&[ID]).await;
    let (shutdown, run) = h.start();
    wait_for_fetch(&h.sim, ID).await;

    shutdown.cancel();
    run.await.unwrap().expect("clean stop");

    let row = h.store.journey(ID).await.unwrap().unwrap();
    assert_eq!(
        row.status.as_deref(),
        Some("InProgress"),
        "the answer was recorded"
    );
    assert_eq!(row.lease_owner, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_slower_than_the_grace_period_are_abandoned() {
    let mut h = Harness::with(
        |c| {
            c.shutdown.grace_period = Duration::from_millis(100);
            c.api.request_timeout = Duration::from_secs(120);
        },
        SimulatorConfig::default(),
    )
    .await;
    h.sim.add_journey(ID, forever("InProgress"));
    h.sim.inject(ID, Fault::Slow(Duration::from_secs(60)));
    h.enqueue(&[ID]).await;
    let (shutdown, run) = h.start();
    wait_for_fetch(&h.sim, ID).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the grace period bounds the shutdown")
        .unwrap()
        .expect("clean stop");

    let row = h.store.journey(ID).await.unwrap().unwrap();
    assert_eq!(row.polls, 0, "nothing half-written");
    assert_eq!(
        row.lease_owner, None,
        "its lease is released for the next start"
    );
}

async fn under_random_faults_every_journey_still_ends_with_a_clean_history(backend: Backend) {
    let h = Harness::on_with(
        backend,
        |c| {
            c.poll.concurrency = 8;
            c.api.max_requests_per_second = 50.0;
            c.api.request_timeout = Duration::from_secs(5);
            c.api.max_response_bytes = 64 * 1024;
        },
        SimulatorConfig::default(),
    )
    .await;
    h.sim.set_fault_rates(FaultRates {
        server_error: 0.08,
        rate_limited: 0.04,
        retry_after_seconds: 2,
        malformed: 0.04,
        slow: 0.04,
        slow_by: Duration::from_millis(20),
        oversized: 0.04,
        oversized_bytes: 1 << 20,
    });
    let statuses = ["InProgress", "Paused", "InProgress", "Completed"];
    let script: Vec<(&str, u32)> = statuses.iter().map(|s| (*s, 2)).collect();
    let ids: Vec<String> = (0..60).map(|n| format!("chaos-{n:02}")).collect();
    for id in &ids {
        h.sim.add_journey(id, Script::polls(&script));
    }
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;

    for second in 0.. {
        h.poll().await;
        if h.all_stopped().await {
            break;
        }
        assert!(second < 3_600, "journeys never finished");
        h.clock.advance(Duration::from_secs(1));
    }

    let mut errors = 0;
    for id in &ids {
        let row = h.row(id).await;
        assert_eq!(row.status.as_deref(), Some("Completed"), "{id}");
        errors += row.error_count;
        // Faults only delay answers; a failed poll does not consume a scripted step, so every
        // status is seen, once.
        assert_eq!(
            common::path(&h.transitions(id).await),
            common::expected_path(&statuses),
            "{id}"
        );
    }
    assert!(errors > 0, "faults were injected");
    assert!(h.sim.rejections().is_empty(), "{:?}", h.sim.rejections());
}

on_both_backends!(
    multi_thread: shutdown_lets_polls_in_flight_finish_and_records_them,
);

on_both_backends!(under_random_faults_every_journey_still_ends_with_a_clean_history);
