//! Database faults met mid-poll, driven by hand with a manual clock: a result kept through a
//! write outage is written once the database takes writes again (past its lease, if the journey
//! is still this daemon's), discarded if another replica claimed the journey since, and a result
//! the database refuses on its own is recorded as a failure instead. The same faults against the
//! real binary, with a full disk and terminated connections, are in `tests/outages.rs`.

mod common;

use std::time::Duration;

use common::{Backend, CapturedLogs, Harness, expected_path, path, t0};
use journeyd::clock::format_timestamp;
use journeyd::scheduler::Scheduler;
use journeyd::simulator::{Fault, Script, SimulatorConfig};
use journeyd::storage::WriteFault;
use sqlx::{AnyPool, Executor};

/// Makes the daemon's writes of poll results fail, the way a real fault would on each backend:
/// on SQLite another connection holds the write lock (the daemon's busy timeout is short); on
/// PostgreSQL a trigger fails the result writes of one lease owner with SQLSTATE 53100
/// (`disk_full`), leaving other replicas alone.
enum WriteBlock {
    SqliteLock(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    PostgresTrigger(AnyPool),
}

const FAIL_RESULTS_OF_OWNER: &str = "\
    CREATE TABLE fault_switch (owner TEXT); \
    INSERT INTO fault_switch VALUES (NULL); \
    CREATE FUNCTION fail_results() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
        IF EXISTS (SELECT 1 FROM journey_leases l JOIN fault_switch f ON l.owner = f.owner \
                   WHERE l.instance_id = OLD.instance_id) THEN \
            RAISE EXCEPTION 'injected: could not extend file' USING ERRCODE = 'disk_full'; \
        END IF; \
        RETURN COALESCE(NEW, OLD); \
    END $$; \
    CREATE TRIGGER fail_results BEFORE UPDATE OR DELETE ON journey_schedule \
        FOR EACH ROW EXECUTE FUNCTION fail_results();";

impl WriteBlock {
    /// Blocks the result writes of whoever holds `instance_id`'s lease now.
    async fn engage(h: &Harness, instance_id: &str) -> Self {
        match h.db.backend {
            Backend::Sqlite => {
                let mut lock = h.db.outside_pool().await.acquire().await.unwrap();
                lock.execute("BEGIN IMMEDIATE").await.unwrap();
                Self::SqliteLock(lock)
            }
            Backend::Postgres => {
                let pool = h.db.outside().await;
                pool.execute(FAIL_RESULTS_OF_OWNER).await.unwrap();
                sqlx::query(
                    "UPDATE fault_switch SET owner = \
                     (SELECT owner FROM journey_leases WHERE instance_id = $1)",
                )
                .bind(instance_id)
                .execute(&pool)
                .await
                .unwrap();
                Self::PostgresTrigger(pool)
            }
        }
    }

    /// The class the daemon should name.
    fn fault(&self) -> WriteFault {
        match self {
            Self::SqliteLock(_) => WriteFault::Locked,
            Self::PostgresTrigger(_) => WriteFault::DiskFull,
        }
    }

    async fn release(self) {
        match self {
            Self::SqliteLock(mut lock) => {
                lock.execute("COMMIT").await.unwrap();
            }
            Self::PostgresTrigger(pool) => {
                pool.execute("UPDATE fault_switch SET owner = NULL")
                    .await
                    .unwrap();
            }
        }
    }
}

async fn harness(backend: Backend) -> Harness {
    Harness::on_with(
        backend,
        |config| config.database.busy_timeout = Duration::from_millis(50),
        SimulatorConfig::default(),
    )
    .await
}

/// Waits (in real time: the writer retries on real time) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Polls `instance_id`, whose answer comes a second late, and blocks the result's write while
/// the request is under way; `meanwhile` runs once the write failed, then the block is lifted.
async fn poll_through_a_write_outage(
    h: &Harness,
    scheduler: &Scheduler,
    instance_id: &str,
    meanwhile: impl AsyncFnOnce(),
) {
    h.sim
        .inject(instance_id, Fault::Slow(Duration::from_secs(1)));
    let outage = async {
        until("the request is under way", || {
            !h.sim.fetches(instance_id).is_empty()
        })
        .await;
        let block = WriteBlock::engage(h, instance_id).await;
        let fault = block.fault();
        until("the write failed", || {
            h.store.write_health().fault() == Some(fault)
        })
        .await;
        meanwhile().await;
        block.release().await;
    };
    let (polled, ()) = tokio::join!(scheduler.poll_due_once(), outage);
    assert_eq!(polled.unwrap(), 1);
}

async fn a_result_kept_past_its_lease_is_written_while_the_journey_is_still_ours(backend: Backend) {
    let logs = CapturedLogs::start();
    let h = harness(backend).await;
    h.sim.add_journey(
        "kept-1",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue(&["kept-1"]).await;

    poll_through_a_write_outage(&h, h.scheduler(), "kept-1", async || {
        // Past the lease: with nobody else claiming, the journey is still this daemon's.
        h.clock.advance(h.config.lease.ttl * 2);
    })
    .await;

    let transitions = h.transitions("kept-1").await;
    assert_eq!(path(&transitions), expected_path(&["InProgress"]));
    assert_eq!(
        transitions[0].observed_at,
        format_timestamp(t0()),
        "recorded with the time it was observed, not the time it was written"
    );
    let row = h.row("kept-1").await;
    assert_eq!((row.polls, row.lease_owner), (1, None));
    assert_eq!(h.store.write_health().fault(), None);
    let class = if backend == Backend::Sqlite {
        "locked"
    } else {
        "disk_full"
    };
    let failed = logs.events("database_write_failed");
    assert_eq!(failed.len(), 1, "announced once: {failed:?}");
    assert_eq!(failed[0]["class"], class);
    assert_eq!(failed[0]["level"], "ERROR");
    assert_eq!(failed[0]["operation"], "recording poll results");
    let recovered = logs.events("database_recovered");
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0]["class"], class);
    assert!(logs.events("journey_result_discarded").is_empty());
    assert_eq!(logs.events("journey_status_changed").len(), 1);

    // The daemon goes on as if nothing happened.
    h.poll_until_stopped("kept-1").await;
    assert_eq!(
        path(&h.transitions("kept-1").await),
        expected_path(&["InProgress", "Completed"])
    );
}

async fn a_result_the_database_refuses_is_recorded_as_an_unrecordable_failure(backend: Backend) {
    let logs = CapturedLogs::start();
    let h = harness(backend).await;
    let refuse = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_status BEFORE UPDATE OF status ON journeys \
             WHEN NEW.status = 'Unstorable' \
             BEGIN SELECT RAISE(ABORT, 'this status cannot be stored'); END"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_status() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.status = 'Unstorable' THEN \
                     RAISE EXCEPTION 'this status cannot be stored'; \
                 END IF; \
                 RETURN NEW; \
             END $$; \
             CREATE TRIGGER refuse_status BEFORE UPDATE ON journeys \
                 FOR EACH ROW EXECUTE FUNCTION refuse_status()"
        }
    };
    h.db.outside().await.execute(refuse).await.unwrap();
    h.sim
        .add_journey("refused-1", Script::polls(&[("Unstorable", 0)]));
    h.sim.add_journey(
        "fine-2",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    h.enqueue(&["refused-1", "fine-2"]).await;

    assert_eq!(h.poll().await, 2);

    let refused = h.row("refused-1").await;
    assert_eq!(refused.status, None);
    assert_eq!(refused.last_error_class.as_deref(), Some("unrecordable"));
    let error = refused.last_error.unwrap();
    assert!(error.contains("this status cannot be stored"), "{error}");
    assert_eq!((refused.polls, refused.error_count), (1, 1));
    assert_eq!(refused.lease_owner, None);
    assert_eq!(
        refused.next_poll_at,
        Some(format_timestamp(t0() + chrono::Duration::seconds(1))),
        "retried on the error curve"
    );
    assert!(h.transitions("refused-1").await.is_empty());
    assert_eq!(
        path(&h.transitions("fine-2").await),
        expected_path(&["InProgress"]),
        "the rest of the batch is written"
    );
    assert_eq!(
        h.store.write_health().fault(),
        None,
        "a refusal is no outage"
    );
    let failed = logs.events("journey_poll_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["class"], "unrecordable");
    assert!(logs.events("database_write_failed").is_empty());
}

on_both_backends!(
    a_result_kept_past_its_lease_is_written_while_the_journey_is_still_ours,
    a_result_the_database_refuses_is_recorded_as_an_unrecordable_failure,
);

#[tokio::test]
async fn postgres_a_result_kept_past_its_lease_is_discarded_once_another_replica_claimed_it() {
    let logs = CapturedLogs::start();
    let h = harness(Backend::Postgres).await;
    h.sim.add_journey(
        "taken-1",
        Script::polls(&[("InProgress", 1), ("Paused", 1), ("Completed", 0)]),
    );
    h.enqueue(&["taken-1"]).await;
    let other = h.another_scheduler().await;

    poll_through_a_write_outage(&h, h.scheduler(), "taken-1", async || {
        h.clock.advance(h.config.lease.ttl * 2);
        assert_eq!(other.poll_due_once().await.unwrap(), 1, "the lease ran out");
    })
    .await;

    assert_eq!(
        path(&h.transitions("taken-1").await),
        expected_path(&["Paused"]),
        "only what the replica that holds the journey now saw"
    );
    assert_eq!(h.row("taken-1").await.polls, 1);
    let discarded = logs.events("journey_result_discarded");
    assert_eq!(discarded.len(), 1, "{discarded:?}");
    assert_eq!(discarded[0]["instance_id"], "taken-1");
    assert_eq!(h.sim.overlapping_fetches(), 0);
}
