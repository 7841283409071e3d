//! The instance IDs `journeyd enqueue` is given, on its command line or in a file.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use journeyd::journey::InstanceId;

use super::{EnqueueArgs, UsageError};

pub(super) fn instance_ids(args: &EnqueueArgs) -> anyhow::Result<Vec<InstanceId>> {
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
