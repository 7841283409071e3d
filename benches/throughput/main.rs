//! journeyd's end-to-end benchmark: `cargo bench --bench throughput` (options after `--`; see
//! BENCHMARKS.md for the figures and how to read them).
//!
//! One run measures, on this machine:
//! 1. the raw limit: a plain reqwest loop at journeyd's concurrency against a fast fake GBG GO
//!    (the simulator, in a child process of its own);
//! 2. journeyd's real daemon (scheduler, client, storage) against the same fake with 10,000,
//!    100,000 and 1,000,000 tracked journeys, on SQLite and (when reachable) PostgreSQL:
//!    polls/s, its ratio to the raw limit, CPU seconds per 1,000 polls, peak RSS, and how late
//!    polls start after their due time;
//! 3. lateness at half the maximum rate, with due times spread evenly;
//! 4. the idle cost (CPU over 30 s with 100,000 journeys tracked and none due) and the delay
//!    from a plain SQL `INSERT` to the journey's first poll;
//! 5. answers far over `api.max_response_bytes` (a second fake whose every answer is 64 MiB):
//!    peak RSS, and how many such answers are turned away a second.
//!
//! Every scenario runs in a child process of its own, so its peak RSS and CPU time are its own.

mod basics;
#[path = "../common/mod.rs"]
mod common;
mod database;
mod fake;
mod measure;
mod scenario;

use basics::{CONCURRENCY, option, runtime};
use fake::{Fake, fake, raw_limit};
use journeyd::config::Config;
use scenario::{Backend, Mode, Scenario};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("fake") => fake(&args[1..]),
        Some("scenario") => {
            let scenario: Scenario = serde_json::from_str(&args[1]).expect("scenario JSON");
            let report = runtime().block_on(scenario.run());
            println!("REPORT {}", serde_json::to_string(&report).unwrap());
        }
        _ => orchestrate(&Options::parse(&args)),
    }
}

struct Options {
    sizes: Vec<u64>,
    seconds: u64,
    idle_seconds: u64,
    postgres: bool,
    /// Only the database cost section (`--cost-only`).
    cost_only: bool,
}

impl Options {
    fn parse(args: &[String]) -> Self {
        let sizes = option(args, "--sizes").map_or(vec![10_000, 100_000, 1_000_000], |list| {
            list.split(',').map(|n| n.parse().unwrap()).collect()
        });
        Self {
            sizes,
            seconds: option(args, "--seconds").map_or(10, |n| n.parse().unwrap()),
            idle_seconds: option(args, "--idle-seconds").map_or(30, |n| n.parse().unwrap()),
            postgres: !args.iter().any(|arg| arg == "--no-postgres"),
            cost_only: args.iter().any(|arg| arg == "--cost-only"),
        }
    }
}

/// Every answer of the second fake: far over the limit, as in the fault it measures.
const OVERSIZED_BYTES: usize = 64 << 20;

fn orchestrate(options: &Options) {
    let fake = Fake::start(&[]);
    let admin = match options.postgres {
        true => runtime().block_on(common::reachable_postgres()),
        false => None,
    };
    let mut backends = vec![Backend::Sqlite];
    if admin.is_some() {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("PostgreSQL not reachable (TEST_POSTGRES_URL): measuring SQLite only");
    }
    let scenario = |backend, journeys, mode, seconds| Scenario {
        backend,
        journeys,
        mode,
        seconds,
        replicas: 1,
        concurrency: CONCURRENCY,
        base_url: fake.urls.base_url.clone(),
        token_url: fake.urls.token_url.clone(),
        postgres_admin_url: admin.clone().unwrap_or_default(),
    };

    if options.cost_only {
        println!(
            "{}",
            database_cost(&backends, &scenario(Backend::Sqlite, 0, Mode::Idle, 0)).join("\n")
        );
        return;
    }
    eprintln!("measuring the raw limit...");
    let raw = raw_limit(&fake, options.seconds);
    let mut lines = vec![
        format!(
            "journeyd benchmark: {} CPUs, concurrency {CONCURRENCY}, {} s per measurement",
            std::thread::available_parallelism().map_or(0, usize::from),
            options.seconds
        ),
        format!("raw reqwest limit: {raw:.0} requests/s"),
        String::new(),
        "| backend | journeys | polls/s | of raw | CPU s / 1,000 polls | peak RSS | lateness p50 / p99 | WAL / poll | row updates / poll (HOT) |"
            .into(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|".into(),
    ];
    let mut max_rate = std::collections::BTreeMap::new();
    for &backend in &backends {
        for &journeys in &options.sizes {
            eprintln!("throughput: {backend:?}, {journeys} journeys...");
            let report =
                scenario(backend, journeys, Mode::Throughput, options.seconds).run_in_child();
            max_rate.entry(backend).or_insert(report.polls_per_second);
            lines.push(format!(
                "| {backend:?} | {journeys} | {:.0} | {:.0} % | {:.3} | {:.1} MiB | {} / {} | {} |",
                report.polls_per_second,
                report.polls_per_second / raw * 100.0,
                report.cpu_seconds_per_1000_polls,
                report.peak_rss_mib,
                report.lateness_p50,
                report.lateness_p99,
                server_cost(&report),
            ));
        }
    }
    lines.push(String::new());
    lines.push("| backend | scenario | figure |".into());
    lines.push("|---|---|---|".into());
    for &backend in &backends {
        let journeys = 10_000;
        let half = max_rate[&backend] / 2.0;
        let interval_ms = (journeys as f64 / half * 1_000.0).ceil() as u64;
        eprintln!("steady at half the maximum rate: {backend:?}...");
        let steady = scenario(
            backend,
            journeys,
            Mode::Steady { interval_ms },
            options.seconds,
        )
        .run_in_child();
        lines.push(format!(
            "| {backend:?} | {journeys} journeys at half the max rate ({:.0} polls/s measured) | lateness p50 {} / p99 {} |",
            steady.polls_per_second,
            steady.lateness_p50,
            steady.lateness_p99,
        ));
        eprintln!("idle: {backend:?}...");
        let idle = scenario(backend, 100_000, Mode::Idle, options.idle_seconds).run_in_child();
        lines.push(format!(
            "| {backend:?} | idle, 100000 journeys, none due, {} s | CPU {:.2} % of a core |",
            options.idle_seconds, idle.cpu_percent_of_a_core
        ));
        let delays = &idle.insert_to_first_poll_ms;
        lines.push(format!(
            "| {backend:?} | plain SQL INSERT → first poll (scan interval 1 s), {} inserts | mean {:.0} ms, max {:.0} ms |",
            delays.len(),
            delays.iter().sum::<f64>() / delays.len().max(1) as f64,
            delays.iter().copied().fold(0.0, f64::max),
        ));
    }
    eprintln!("oversized answers...");
    let oversized_fake = Fake::start(&["--oversized-bytes", &OVERSIZED_BYTES.to_string()]);
    let oversized = Scenario {
        base_url: oversized_fake.urls.base_url.clone(),
        token_url: oversized_fake.urls.token_url.clone(),
        ..scenario(Backend::Sqlite, 1_000, Mode::Throughput, options.seconds)
    }
    .run_in_child();
    lines.push(format!(
        "| Sqlite | every answer {} MiB, limit {} MiB, {CONCURRENCY} polls in flight | {:.0} answers turned away/s, peak RSS {:.1} MiB |",
        OVERSIZED_BYTES >> 20,
        Config::default().api.max_response_bytes >> 20,
        oversized.polls_per_second,
        oversized.peak_rss_mib,
    ));
    lines.push(String::new());
    lines.extend(database_cost(
        &backends,
        &scenario(Backend::Sqlite, 0, Mode::Idle, 0),
    ));
    println!("{}", lines.join("\n"));
}

/// Journeys polled at once until each ends at its 5th poll.
const LIFECYCLE_POLLS: u32 = 5;
const LIFECYCLE_JOURNEYS: u64 = 10_000;
const LIFECYCLE_CONCURRENCY: usize = 32;

/// What polling costs the database: 10,000 journeys, each polled until it ends at its 5th poll
/// (four polls that see `InProgress` again, then `Completed`), 32 polls in flight a replica;
/// on PostgreSQL with one replica and with three, and every poll seeing the same status again;
/// on both, every poll a status change (each journey ends at its first poll).
fn database_cost(backends: &[Backend], template: &Scenario) -> Vec<String> {
    let lifecycle = |backend, replicas| Scenario {
        backend,
        journeys: LIFECYCLE_JOURNEYS,
        mode: Mode::Lifecycle,
        replicas,
        concurrency: LIFECYCLE_CONCURRENCY,
        ..template.clone()
    };
    let mut lines = vec![
        format!(
            "| backend | {LIFECYCLE_JOURNEYS} journeys × {LIFECYCLE_POLLS} polls, {LIFECYCLE_CONCURRENCY} in flight a replica | polls/s | WAL / poll | row updates / poll (HOT) | rows updated / inserted / deleted per poll, by table |"
        ),
        "|---|---|---:|---:|---:|---|".into(),
    ];
    // Each with the poll at which the fake ends a journey, if it does.
    let mut runs: Vec<(Scenario, &str, Option<u32>)> = Vec::new();
    for &backend in backends {
        runs.push((lifecycle(backend, 1), "1 replica", Some(LIFECYCLE_POLLS)));
        if backend == Backend::Postgres {
            runs.push((lifecycle(backend, 3), "3 replicas", Some(LIFECYCLE_POLLS)));
            let same_status = Scenario {
                mode: Mode::Throughput,
                seconds: 10,
                ..lifecycle(backend, 1)
            };
            runs.push((same_status, "every poll the same status again, 10 s", None));
        }
        runs.push((
            lifecycle(backend, 1),
            "every poll a status change: each journey ends at its 1st",
            Some(1),
        ));
    }
    for (mut scenario, label, complete_after) in runs {
        eprintln!("database cost: {:?}, {label}...", scenario.backend);
        // Every lifecycle run has a fake of its own: the fake counts each journey's answers,
        // and the runs share their journeys' IDs.
        let fake =
            complete_after.map(|polls| Fake::start(&["--complete-after", &polls.to_string()]));
        if let Some(fake) = &fake {
            scenario.base_url = fake.urls.base_url.clone();
            scenario.token_url = fake.urls.token_url.clone();
        }
        let report = scenario.run_in_child();
        lines.push(format!(
            "| {:?} | {label} | {:.0} | {} | {} |",
            scenario.backend,
            report.polls_per_second,
            server_cost(&report),
            rows_by_table(&report),
        ));
    }
    lines
}

/// "WAL / poll | row updates / poll (HOT share)", or dashes without PostgreSQL.
fn server_cost(report: &scenario::Report) -> String {
    match &report.server_cost {
        Some(cost) => format!(
            "{:.0} B | {:.2} ({:.0} % HOT)",
            cost.wal_bytes_per_poll,
            cost.row_updates_per_poll,
            cost.hot_share * 100.0
        ),
        None => "- | -".into(),
    }
}

/// "table: updated / inserted / deleted per poll" for each table written, or a dash.
fn rows_by_table(report: &scenario::Report) -> String {
    match &report.server_cost {
        Some(cost) => cost
            .by_table
            .iter()
            .map(|(table, [updated, inserted, deleted])| {
                format!("{table} {updated:.2} / {inserted:.2} / {deleted:.2}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => "-".into(),
    }
}
