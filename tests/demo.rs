//! `journeyd demo`, the newcomer's first command, runs to the end by itself.

mod common;

use std::process::Command;

/// Runs the demo on `version`; checks what it prints.
fn the_demo_tracks_every_journey_to_its_end_on(version: &str) {
    let kept = tempfile::tempdir().unwrap();
    let db = kept.path().join("demo.db");
    let output = Command::new(common::binary())
        .args(["demo", "--keep-database", db.to_str().unwrap()])
        .args(["--api-version", version])
        .env_remove("JOURNEYD_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(text.contains("event=\"journey_completed\""), "{text}");
    assert!(text.contains("event=\"journey_failed\""), "{text}");
    // The summary has a line per journey, each ended; exact paths depend on timing.
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "summary")
        .filter(|line| line.starts_with("Demo"))
        .collect();
    assert_eq!(summary.len(), 6, "{text}");
    let failed = summary.iter().filter(|l| l.contains(" Failed ")).count();
    let completed = summary.iter().filter(|l| l.contains(" Completed ")).count();
    assert_eq!((completed, failed), (5, 1), "{text}");
    assert!(text.contains("\n6 journeys, "), "{text}");
    assert!(
        text.contains("0 requests rejected by the simulator"),
        "{text}"
    );
    assert!(db.exists(), "--keep-database keeps the file");
    assert!(
        text.contains(&format!("simulated GBG GO API {version}")),
        "{text}"
    );
    // The failed journey's outcome, read from its answers on either version.
    let failed_line = summary.iter().find(|l| l.contains(" Failed ")).unwrap();
    assert!(failed_line.contains(" failed "), "{failed_line}");
}

#[test]
fn the_demo_tracks_every_journey_to_its_end() {
    the_demo_tracks_every_journey_to_its_end_on("v1");
}

#[test]
fn the_demo_runs_on_gbg_go_v2_too() {
    the_demo_tracks_every_journey_to_its_end_on("v2");
}
