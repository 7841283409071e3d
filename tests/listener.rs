//! The HTTP listener of the real `journeyd run` against clients that hold connections open,
//! under an open-file limit the daemon cannot raise: `/healthz` and `/metrics` keep answering,
//! polling goes on, idle connections and half-sent requests are closed, and the metrics say so.

mod common;

use common::TestDb;
use common::daemon::{DEADLINE, Daemon, STOPPED, Scrape, enqueue, simulator, wait_for_count};
use journeyd::simulator::Script;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPEN_FILES: u64 = 256;
const IDLE_CONNECTIONS: usize = 1_000;

/// Waits until the peer closes `stream` (a read returns end of file or a reset).
async fn closed_by_peer(stream: &mut TcpStream) {
    let mut buffer = [0; 64];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut buffer))
        .await
        .expect("the daemon closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_under_a_lowered_open_file_limit_starve_nothing() {
    let db = TestDb::new();
    let sim = simulator().await;
    let ids: Vec<String> = (0..20).map(|n| format!("listener-{n:02}")).collect();
    for id in &ids {
        sim.add_journey(
            id,
            Script::polls(&[("InProgress", 10), ("Paused", 10), ("Completed", 0)]),
        );
    }
    enqueue(&db, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let daemon = Daemon::start_with_open_files(
        &db,
        &sim,
        1,
        &[
            ("JOURNEYD_HTTP__IDLE_TIMEOUT", "3s"),
            ("JOURNEYD_HTTP__HEADER_TIMEOUT", "500ms"),
        ],
        OPEN_FILES,
    );
    let address = daemon.address().await;
    let fitted = daemon.event("open_files").await;
    assert_eq!(fitted["limit"], OPEN_FILES);
    // 256 - 64 reserved - 2 × 8 polls.
    assert_eq!(fitted["http_max_connections"], 176);

    // Far more idle connections than the daemon has file descriptors.
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    let (code, body) = daemon.get("/healthz").await;
    assert_eq!(code, 200, "{body}");
    let (code, metrics) = daemon.get("/metrics").await;
    assert_eq!(code, 200);
    let metrics = Scrape::parse(metrics);
    assert!(metrics.value("journeyd_http_connections", None) <= 176.0);
    let evicted = Some(("reason", "evicted"));
    assert!(
        metrics.value("journeyd_http_connections_closed_total", evicted) >= 800.0,
        "{}",
        metrics.text
    );

    // Polling goes on, its connections unharmed.
    let pool = db.outside().await;
    wait_for_count(&pool, STOPPED, ids.len() as i64).await;
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM journeys WHERE error_count > 0")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(failed, 0, "no poll failed for want of a file descriptor");

    // The idle connections left open are closed after `http.idle_timeout`...
    closed_by_peer(idle.last_mut().unwrap()).await;
    // ...and a request whose headers stop halfway after `http.header_timeout`.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_by_peer(&mut slow).await;
    let metrics = Scrape::parse(daemon.get("/metrics").await.1);
    for reason in ["idle_timeout", "header_timeout"] {
        assert!(
            metrics.value(
                "journeyd_http_connections_closed_total",
                Some(("reason", reason))
            ) >= 1.0,
            "{reason}: {}",
            metrics.text
        );
    }
}
