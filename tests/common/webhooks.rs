//! Webhook tests' shared set-up: a daemon configured to send to a receiver, journeys that
//! announce a known list of events, and what arrived, by journey.

use std::collections::BTreeMap;

use journeyd::simulator::{Script, Simulator};

use super::TestDb;
use super::daemon::{Daemon, enqueue};
use super::receiver::{Received, Receiver, SECRET};

/// Fast retries, three of them.
pub const FAST_RETRIES: &str = r#"retry_schedule = ["200ms", "200ms", "200ms"]"#;

/// `[[webhooks]]` named `crm` for `url` (with `extra` lines), its secret written next to the
/// config, and `[webhook_delivery]` (`delivery` lines). The endpoint's timeout is the default
/// 15 s unless `extra` says otherwise.
pub fn webhook_config(db: &TestDb, url: &str, delivery: &str, extra: &str) -> String {
    std::fs::write(db.dir.path().join("webhook-secret"), format!("{SECRET}\n")).unwrap();
    format!(
        r#"
        [webhook_delivery]
        {delivery}
        [[webhooks]]
        name = "crm"
        url = "{url}"
        secret_file = "webhook-secret"
        {extra}
        "#
    )
}

/// A daemon sending to `receiver`, attempts timing out after a second.
pub fn start(db: &TestDb, sim: &Simulator, receiver: &Receiver, run: u32, extra: &str) -> Daemon {
    let extra = format!("timeout = \"1s\"\n{extra}");
    let config = webhook_config(db, &receiver.url, FAST_RETRIES, &extra);
    Daemon::start_with_config(db, sim, run, &[], &config)
}

/// `count` journeys named `prefix` + a number, each seen in progress once and then completed
/// (three events each), enqueued.
pub fn completing_journeys(
    db: &TestDb,
    sim: &Simulator,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|n| format!("{prefix}{n:03}")).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    enqueue(db, &refs);
    ids
}

/// Whether `journeys` journeys' three events each have arrived.
pub fn all_three_events(received: &[Received], journeys: usize) -> bool {
    by_journey(received)
        .values()
        .filter(|events| events.len() == 3)
        .count()
        == journeys
}

/// The events of each journey, in the order they arrived, without repeats.
pub fn by_journey(received: &[Received]) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut journeys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for r in received.iter().filter(|r| seen.insert(r.id.clone())) {
        journeys
            .entry(r.instance_id().to_owned())
            .or_default()
            .push((
                r.json["data"]["sequence"].as_i64().unwrap(),
                r.event_type().to_owned(),
            ));
    }
    journeys
}
