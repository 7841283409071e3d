//! The command line: what each subcommand does, on top of the library.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use journeyd::clock::{self, Clock, SystemClock};
use journeyd::config::{Config, ConfigError};
use journeyd::events::JourneyEvent;
use journeyd::journey::StopReason;
use journeyd::journey::{ApiVersion, InstanceId};
use journeyd::storage::{self, Abandoned, JourneyRow, ListCursor, ListFilter, Store};
use journeyd::telemetry::metrics;
use journeyd::{daemon, demo, housekeeping, shutdown, telemetry};

/// Tracks GBG GO identity-verification journeys until they end.
#[derive(Debug, Parser)]
#[command(name = "journeyd", version, about, max_term_width = 100)]
pub struct Cli {
    /// TOML configuration file (environment variables JOURNEYD_* override it).
    #[arg(
        long,
        short,
        global = true,
        env = "JOURNEYD_CONFIG",
        value_name = "PATH"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: poll every due journey until SIGTERM or SIGINT.
    Run,
    /// Add journeys to track (idempotent; all or nothing).
    Enqueue(EnqueueArgs),
    /// Show one journey and its status history.
    Status {
        instance_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tracked journeys, newest first.
    List(ListArgs),
    /// Stop polling journeys the application gave up; their rows and history stay.
    Stop {
        /// Instance IDs to stop tracking.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Apply database migrations (`run` also does this at start).
    Migrate,
    /// Delete journeys that stopped being polled long ago, with their transitions.
    Prune {
        /// Delete journeys stopped longer ago than this, e.g. `30d`.
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Only count what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Run the daemon against a simulated GBG GO on a fresh database; no credentials needed.
    Demo {
        /// Keep the demo database at this path instead of a temporary file.
        #[arg(long, value_name = "PATH")]
        keep_database: Option<PathBuf>,
        /// The GBG GO API version the journeys run on.
        #[arg(long, value_name = "VERSION", default_value = "v1")]
        api_version: ApiVersion,
    },
}

#[derive(Debug, Args)]
struct EnqueueArgs {
    /// Instance IDs to track.
    ids: Vec<String>,
    /// The GBG GO API version the journeys were started on (default: `api.version` when the
    /// daemon first polls them).
    #[arg(long, value_name = "VERSION")]
    api_version: Option<ApiVersion>,
    /// Also read IDs from this file, one a line (`-` for standard input; blank lines skipped).
    #[arg(long, short, value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only journeys in this status (case and underscores ignored).
    #[arg(long)]
    status: Option<String>,
    /// Only journeys still being polled.
    #[arg(long, conflicts_with = "stopped")]
    active: bool,
    /// Only journeys no longer polled.
    #[arg(long)]
    stopped: bool,
    /// Only journeys marked stuck.
    #[arg(long)]
    stuck: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Only journeys after this cursor (printed after a full page): the next page.
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Bad input or configuration, as opposed to a failure while working.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

pub fn is_usage_error(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<ConfigError>())
}

pub async fn execute(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo {
        keep_database,
        api_version,
    } = &cli.command
    {
        telemetry::init_for_demo();
        let mut stdout = std::io::stdout();
        demo::run(keep_database.as_deref(), *api_version, &mut stdout).await?;
        return Ok(());
    }

    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Config => {
            print!(
                "{}",
                toml::to_string_pretty(&config).context("cannot render configuration")?
            );
        }
        Command::Run => {
            // Credentials and the API's address are checked before anything is opened.
            let settings = config.daemon()?;
            telemetry::init(config.log.format, &config.log.level);
            // Before the store opens, so that its write-health gauges are published.
            let metrics = metrics::install().context("cannot set up metrics")?;
            let store = open_store(&config).await?;
            let shutdown = shutdown::on_signals().context("cannot listen for signals")?;
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            daemon::run(&config, &settings, store, clock, shutdown, Some(metrics)).await?;
        }
        Command::Enqueue(args) => {
            // Every ID is checked before the database is touched: all or nothing.
            let ids = collect_ids(&args)?;
            let store = open_store(&config).await?;
            let result = store
                .enqueue(&ids, args.api_version, SystemClock.now())
                .await?;
            println!(
                "enqueued {} new journey(s); {} already tracked",
                result.added.len(),
                result.already_tracked.len()
            );
        }
        Command::Status { instance_id, json } => {
            status(open_store(&config).await?.as_ref(), &instance_id, json).await?;
        }
        Command::List(args) => list(open_store(&config).await?.as_ref(), args).await?,
        Command::Stop { ids } => stop(open_store(&config).await?.as_ref(), &ids).await?,
        Command::Migrate => {
            open_store(&config).await?;
            println!("database is up to date ({})", config.database.shown_url());
        }
        Command::Prune {
            older_than,
            dry_run,
        } => {
            let store = open_store(&config).await?;
            let cutoff = clock::sub(SystemClock.now(), older_than);
            if dry_run {
                let prunable = store.prunable(cutoff).await?;
                println!(
                    "would delete {} journey(s) and {} transition(s) stopped before {}",
                    prunable.journeys,
                    prunable.transitions,
                    clock::format_timestamp(cutoff)
                );
            } else {
                let deleted = housekeeping::prune(store.as_ref(), cutoff).await?;
                println!(
                    "deleted {deleted} journey(s) stopped before {}, with their transitions",
                    clock::format_timestamp(cutoff)
                );
            }
        }
        Command::Demo { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Opens the configured database and brings its schema up to date.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = storage::open_with(&config.database.url, &config.store_options())
        .await
        .context("cannot open the database")?;
    store.migrate().await?;
    Ok(store)
}

fn collect_ids(args: &EnqueueArgs) -> anyhow::Result<Vec<InstanceId>> {
    let mut ids = Vec::new();
    for raw in &args.ids {
        ids.push(
            InstanceId::parse(raw)
                .map_err(|err| UsageError(format!("{err}; nothing was enqueued")))?,
        );
    }
    if let Some(file) = &args.file {
        ids.extend(read_ids(file)?);
    }
    if ids.is_empty() {
        return Err(UsageError("no instance IDs given; nothing was enqueued".into()).into());
    }
    Ok(ids)
}

/// Reads and checks every ID of a file before any is stored.
fn read_ids(file: &Path) -> anyhow::Result<Vec<InstanceId>> {
    let (name, reader): (String, Box<dyn BufRead>) = if file == Path::new("-") {
        ("standard input".into(), Box::new(std::io::stdin().lock()))
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|err| UsageError(format!("cannot open {}: {err}", file.display())))?;
        (
            file.display().to_string(),
            Box::new(std::io::BufReader::new(opened)),
        )
    };
    let mut ids = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {name}"))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.trim().is_empty() {
            continue;
        }
        let id = InstanceId::parse(line).map_err(|err| {
            UsageError(format!(
                "line {} of {name}: {err}; nothing was enqueued",
                index + 1
            ))
        })?;
        ids.push(id);
    }
    Ok(ids)
}

async fn status(store: &dyn Store, instance_id: &str, json: bool) -> anyhow::Result<()> {
    let Some(row) = store.journey(instance_id).await? else {
        bail!(UsageError(format!(
            "journey {instance_id:?} is not tracked"
        )));
    };
    let transitions = store.transitions(instance_id).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({ "journey": row, "transitions": transitions });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    let serde_json::Value::Object(fields) = serde_json::to_value(&row)? else {
        unreachable!("a row serialises to an object")
    };
    for (column, value) in fields {
        let text = match value {
            serde_json::Value::Null => "-".to_owned(),
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        writeln!(out, "{column:<22} {text}")?;
    }
    writeln!(out, "\ntransitions")?;
    for t in &transitions {
        writeln!(
            out,
            "  {}  {} -> {}",
            t.observed_at,
            t.from_status.as_deref().unwrap_or("(first seen)"),
            t.to_status
        )?;
    }
    Ok(())
}

async fn list(store: &dyn Store, args: ListArgs) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status,
        active: match (args.active, args.stopped) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        stuck: args.stuck,
        limit: args.limit,
        after: args
            .after
            .as_deref()
            .map(|token| {
                ListCursor::decode(token)
                    .ok_or_else(|| UsageError(format!("{token:?} is not a cursor of `list`")))
            })
            .transpose()?,
    };
    let page = store.list(&filter).await?;
    let rows = &page.journeys;
    let mut out = std::io::stdout().lock();
    if let Some(next) = &page.next {
        eprintln!("more: journeyd list --after {}", next.encode());
    }
    if args.json {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
        return Ok(());
    }
    let header = [
        "INSTANCE_ID",
        "STATUS",
        "POLLS",
        "ERRORS",
        "NEXT_POLL / STOPPED",
        "ENQUEUED",
    ]
    .map(str::to_owned);
    writeln!(out, "{}", table_line(&header))?;
    for row in rows {
        let cells = [
            row.instance_id.clone(),
            row.status.clone().unwrap_or_else(|| "-".into()),
            row.polls.to_string(),
            row.error_count.to_string(),
            polling_state(row),
            row.enqueued_at.clone(),
        ];
        writeln!(out, "{}", table_line(&cells))?;
    }
    if std::io::stdout().is_terminal() {
        writeln!(out, "({} shown, at most {})", rows.len(), args.limit)?;
    }
    Ok(())
}

async fn stop(store: &dyn Store, ids: &[String]) -> anyhow::Result<()> {
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outcomes = store.abandon(&asked, SystemClock.now()).await?;
    let mut unknown = Vec::new();
    for (id, outcome) in asked.iter().zip(outcomes) {
        match outcome {
            Abandoned::Now => {
                JourneyEvent::Stopped {
                    instance_id: (*id).to_owned(),
                    reason: StopReason::Abandoned,
                    detail: "stopped with `journeyd stop`".into(),
                }
                .emit();
                println!("{id}: stopped");
            }
            Abandoned::Already(reason) => println!(
                "{id}: already stopped ({})",
                reason.as_deref().unwrap_or("no reason recorded")
            ),
            Abandoned::Unknown => unknown.push(*id),
        }
    }
    if !unknown.is_empty() {
        bail!(UsageError(format!(
            "not tracked: {}; the others were handled",
            unknown.join(", ")
        )));
    }
    Ok(())
}

fn table_line([id, status, polls, errors, polling, enqueued]: &[String; 6]) -> String {
    format!("{id:<26} {status:<12} {polls:>5} {errors:>6}  {polling:<26} {enqueued}")
}

fn polling_state(row: &JourneyRow) -> String {
    match (&row.next_poll_at, &row.stop_reason) {
        (_, Some(reason)) => format!("stopped: {reason}"),
        (Some(next), None) => next.clone(),
        (None, None) => "-".into(),
    }
}
