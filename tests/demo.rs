//! `journeyd demo`, the newcomer's first command, runs to the end by itself.

mod common;

use std::process::Command;

#[test]
fn the_demo_tracks_every_journey_to_its_end() {
    let kept = tempfile::tempdir().unwrap();
    let db = kept.path().join("demo.db");
    let output = Command::new(common::binary())
        .args(["demo", "--keep-database", db.to_str().unwrap()])
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
}
