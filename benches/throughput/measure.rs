//! What a scenario measures of its own process: CPU time, peak RSS, lateness percentiles.

use std::collections::BTreeMap;
use std::time::Instant;

use journeyd::telemetry::metrics;

/// Counters read at one moment.
pub(super) struct Snapshot {
    pub(super) at: Instant,
    pub(super) polls: f64,
    pub(super) cpu: f64,
    /// Cumulative lateness histogram: (upper bound in seconds, count).
    pub(super) lateness: Vec<(f64, f64)>,
}

impl Snapshot {
    pub(super) fn take(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Self {
        let text = handle.render();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let mut polls = 0.0;
        let mut lateness = Vec::new();
        for sample in &scrape.samples {
            match (&sample.metric[..], &sample.value) {
                (metrics::POLLS, prometheus_parse::Value::Counter(value)) => polls += value,
                (metrics::POLL_LATENESS, prometheus_parse::Value::Histogram(buckets)) => {
                    lateness = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                }
                _ => {}
            }
        }
        Self {
            at: Instant::now(),
            polls,
            cpu: cpu_seconds(),
            lateness,
        }
    }

    /// Per-bucket counts of what happened since `earlier`, still cumulative.
    pub(super) fn lateness_since(&self, earlier: &Snapshot) -> Vec<(f64, f64)> {
        self.lateness
            .iter()
            .map(|(bound, count)| {
                let before = earlier
                    .lateness
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - before)
            })
            .collect()
    }
}

/// The smallest bucket bound holding at least `p` of the samples.
pub(super) fn percentile(cumulative: &[(f64, f64)], p: f64) -> f64 {
    let total = cumulative.last().map_or(0.0, |(_, count)| *count);
    if total == 0.0 {
        return f64::NAN;
    }
    cumulative
        .iter()
        .find(|(_, count)| *count >= p * total)
        .map_or(f64::INFINITY, |(bound, _)| *bound)
}

pub(super) fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The process's peak resident set (VmHWM), in MiB.
pub(super) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// What the PostgreSQL server wrote, read at one moment: WAL position and, per table of the
/// scenario's database, rows updated (HOT ones among them), inserted and deleted. All
/// cumulative; a cost is the difference of two.
pub(super) struct ServerCounters {
    wal_lsn: String,
    tables: BTreeMap<String, RowCounts>,
}

/// A table's `n_tup_upd`, `n_tup_hot_upd`, `n_tup_ins`, `n_tup_del`.
type RowCounts = [i64; 4];

/// What polling cost the server, per poll.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct ServerCost {
    pub(super) wal_bytes_per_poll: f64,
    pub(super) row_updates_per_poll: f64,
    /// Of the row updates, the share that were HOT (no index entry written).
    pub(super) hot_share: f64,
    /// Each table written: rows updated, inserted and deleted per poll.
    pub(super) by_table: Vec<(String, [f64; 3])>,
}

impl ServerCounters {
    /// Reads the counters once the statistics of every closed session are in: a session
    /// reports its row counts when it ends (or a second after its last report), so this waits
    /// that long first.
    pub(super) async fn read(conn: &mut sqlx::PgConnection) -> Self {
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *conn)
            .await
            .unwrap();
        let wal_lsn = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, n_tup_upd, n_tup_hot_upd, n_tup_ins, n_tup_del \
             FROM pg_stat_user_tables",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let tables = rows
            .into_iter()
            .map(|(table, updated, hot, inserted, deleted)| {
                (table, [updated, hot, inserted, deleted])
            })
            .collect();
        Self { wal_lsn, tables }
    }

    /// The cost of `polls` polls made between `self` and `later`.
    pub(super) async fn cost_until(
        &self,
        later: &Self,
        polls: f64,
        conn: &mut sqlx::PgConnection,
    ) -> ServerCost {
        let (wal_bytes,): (f64,) =
            sqlx::query_as("SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)::float8")
                .bind(&later.wal_lsn)
                .bind(&self.wal_lsn)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        let changes: Vec<(String, [f64; 4])> = later
            .tables
            .iter()
            .map(|(table, after)| {
                let before = self.tables.get(table).copied().unwrap_or_default();
                let change: [f64; 4] = std::array::from_fn(|i| (after[i] - before[i]) as f64);
                (table.clone(), change)
            })
            .filter(|(_, change)| change.iter().any(|count| *count > 0.0))
            .collect();
        // Where to look for what the WAL holds: `pg_waldump --stats=record -s FROM -e TO`.
        eprintln!("WAL of this run: {} to {}", self.wal_lsn, later.wal_lsn);
        let updates: f64 = changes.iter().map(|(_, change)| change[0]).sum();
        let hot: f64 = changes.iter().map(|(_, change)| change[1]).sum();
        ServerCost {
            wal_bytes_per_poll: wal_bytes / polls,
            row_updates_per_poll: updates / polls,
            hot_share: if updates > 0.0 { hot / updates } else { 0.0 },
            by_table: changes
                .into_iter()
                .map(|(table, [updated, _, inserted, deleted])| {
                    (table, [updated / polls, inserted / polls, deleted / polls])
                })
                .collect(),
        }
    }
}
