//! Records the commit journeyd is built from, for `journeyd --version` and the package:
//! `BUILD_VERSION_WITH_COMMIT` is the crate's version and the commit (`unknown` outside a git
//! checkout). Not `JOURNEYD_*`: cargo also sets it for the tests it runs, and the daemons they
//! start would read it as configuration.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!(
        "cargo:rustc-env=BUILD_VERSION_WITH_COMMIT={} (commit {commit})",
        env!("CARGO_PKG_VERSION")
    );
    // The migrations are embedded (`sqlx::migrate!`), which cargo cannot see by itself.
    println!("cargo:rerun-if-changed=migrations");
    // A new commit moves HEAD or the branch it names.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
