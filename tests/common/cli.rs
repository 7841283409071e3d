//! Running the real binary's commands on a test database, as an operator would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::{TestDb, binary};

/// Runs `journeyd` in the test database's directory with a clean `JOURNEYD_*` environment.
pub fn journeyd(db: &TestDb, args: &[&str]) -> Output {
    journeyd_with_input(db, args, None)
}

pub fn journeyd_with_input(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("JOURNEYD_") && name != "JOURNEYD_DATABASE__URL" {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("start journeyd");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("journeyd runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// How many journeys the database holds.
pub async fn row_count(db: &TestDb) -> i64 {
    let pool = db.outside().await;
    sqlx::query_scalar("SELECT count(*) FROM journeys")
        .fetch_one(&pool)
        .await
        .unwrap()
}
