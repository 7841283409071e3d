//! SQLite under dashboards: a reader that holds read transactions back to back while the daemon
//! works. Neither side may see `database is locked`, and the WAL must stay bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Harness;
use journeyd::simulator::{Script, SimulatorConfig};
use sqlx::{Connection, SqliteConnection};

const JOURNEYS: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_readers_never_block_the_daemon_nor_get_blocked() {
    let h = Harness::with(
        |c| {
            c.poll.concurrency = 16;
            c.api.max_requests_per_second = 100_000.0;
        },
        SimulatorConfig::default(),
    )
    .await;
    let ids: Vec<String> = (0..JOURNEYS)
        .map(|n| format!("dashboarded-{n:04}"))
        .collect();
    let script = Script::polls(&[("InProgress", 1), ("Paused", 1), ("Completed", 0)]);
    for id in &ids {
        h.sim.add_journey(id, script.clone());
    }
    h.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
        .await;

    // A dashboard: its own connection (default busy timeout), one read transaction after another.
    let stop = Arc::new(AtomicBool::new(false));
    let dashboard = {
        let stop = stop.clone();
        let url = h.db.url.clone();
        tokio::spawn(async move {
            let mut conn = SqliteConnection::connect(&url).await?;
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut tx = conn.begin().await?;
                let _: Vec<(Option<String>, i64)> =
                    sqlx::query_as("SELECT status, count(*) FROM journeys GROUP BY status")
                        .fetch_all(&mut *tx)
                        .await?;
                tokio::time::sleep(Duration::from_millis(3)).await;
                let _: i64 = sqlx::query_scalar("SELECT count(*) FROM journey_transitions")
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                reads += 1;
            }
            Ok::<_, sqlx::Error>(reads)
        })
    };

    let wal = {
        let mut path = h.db.path.clone().into_os_string();
        path.push("-wal");
        std::path::PathBuf::from(path)
    };
    let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let mut largest_wal = 0;
    let mut truncated_while_reading = 0;
    for round in 0.. {
        h.poll().await; // panics on any store error, SQLITE_BUSY included
        if round % 5 == 0 {
            let before = wal_size();
            h.store.maintain().await.expect("checkpoint");
            if wal_size() < before {
                truncated_while_reading += 1;
            }
        }
        largest_wal = largest_wal.max(wal_size());
        if h.all_stopped().await {
            break;
        }
        assert!(round < 1_000, "journeys never finished");
        h.clock.advance(Duration::from_secs(10));
    }

    stop.store(true, Ordering::Relaxed);
    assert!(
        truncated_while_reading > 0,
        "checkpoints reset the WAL while the dashboard reads"
    );
    let reads = dashboard
        .await
        .unwrap()
        .expect("the dashboard never saw an error");
    assert!(reads > 0);
    h.store.maintain().await.unwrap();
    let wal_after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_after, 0, "the WAL is truncated once readers are gone");
    assert!(
        largest_wal < 64 * 1024 * 1024,
        "the WAL stayed bounded ({largest_wal} bytes)"
    );
    let transitions: i64 = sqlx::query_scalar("SELECT count(*) FROM journey_transitions")
        .fetch_one(&h.db.outside_pool().await)
        .await
        .unwrap();
    assert_eq!(transitions, 3 * JOURNEYS as i64);
}
