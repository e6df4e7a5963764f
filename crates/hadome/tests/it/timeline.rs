//! `hadome timeline` after the real Misskey drill (issue 16): the journal the drill keeps beside
//! its lab tells, in order, the stall, the unapplied configuration, the denied rebuild with its
//! numbers, the safe repair, and the findings cleared at the end.

use hadome_core::fact::Timestamp;
use serde_json::Value;

use crate::support::{run_hadome, scratch, show};

/// One entry of the timeline's JSON.
struct Entry<'a> {
    at_ms: i64,
    kind: &'a str,
    subject: &'a str,
    text: &'a str,
}

fn entries(timeline: &Value) -> Vec<Entry<'_>> {
    timeline["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| Entry {
            at_ms: entry["at_ms"].as_i64().expect("at_ms"),
            kind: entry["kind"].as_str().expect("kind"),
            subject: entry["subject"].as_str().expect("subject"),
            text: entry["text"].as_str().expect("text"),
        })
        .collect()
}

/// The index of the first entry `matches` selects, named `what` in the failure.
fn first(entries: &[Entry], what: &str, matches: impl Fn(&Entry) -> bool, shown: &str) -> usize {
    entries
        .iter()
        .position(matches)
        .unwrap_or_else(|| panic!("no entry for {what} in the timeline:\n{shown}"))
}

fn timeline_json(journal: &str, window: &[&str]) -> Value {
    let mut args = vec!["timeline", "--journal", journal, "--format", "json"];
    args.extend(window);
    let output = run_hadome(&args, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("timeline JSON: {error}: {}", show(&output)))
}

#[test]
fn the_misskey_drill_timeline_tells_the_stall_the_unapplied_setting_the_denied_rebuild_and_the_safe_repair_in_order(
) {
    let scratch = scratch();
    let dir = scratch.path().join("misskey");
    let drill = run_hadome(
        &["drill", "misskey", "--dir", dir.to_str().unwrap(), "--json"],
        &[],
    );
    assert_eq!(drill.status.code(), Some(0), "{}", show(&drill));
    let report: Value = serde_json::from_slice(&drill.stdout).unwrap();
    assert!(!dir.exists(), "the drill removed its lab directory");
    let journal = report["journal"]
        .as_str()
        .unwrap_or_else(|| panic!("the drill names the journal it kept: {report:#}"))
        .to_owned();
    assert_eq!(
        std::path::Path::new(&journal),
        scratch.path().join("misskey.drill-journal.sqlite"),
        "kept beside the lab directory"
    );

    let timeline = timeline_json(&journal, &[]);
    assert_eq!(timeline["version"], 1);
    let entries = entries(&timeline);
    let shown: String = entries
        .iter()
        .map(|entry| {
            format!(
                "{} {} {}: {}\n",
                entry.at_ms, entry.kind, entry.subject, entry.text
            )
        })
        .collect();
    assert!(
        entries
            .windows(2)
            .all(|pair| pair[0].at_ms <= pair[1].at_ms),
        "in time order:\n{shown}"
    );

    let stall = first(
        &entries,
        "db-3's stall",
        |entry| {
            entry.subject == "db-3"
                && ((entry.kind == "fact-changed" && entry.text.contains("not streaming"))
                    || (entry.kind == "finding-raised"
                        && entry.text.contains("replication-stalled")))
        },
        &shown,
    );
    let unapplied = first(
        &entries,
        "db-4's unapplied setting",
        |entry| {
            entry.subject == "db-4"
                && ((entry.kind == "fact-changed" && entry.text.contains("1 unapplied setting"))
                    || (entry.kind == "finding-raised" && entry.text.contains("config-applied")))
        },
        &shown,
    );
    let stalled_finding = first(
        &entries,
        "replication-stalled raised on db-3",
        |entry| {
            entry.kind == "finding-raised"
                && entry.subject == "db-3"
                && entry.text.contains("replication-stalled")
                && entry.text.contains("stands at 0/")
        },
        &shown,
    );
    let config_finding = first(
        &entries,
        "config-applied raised on db-4",
        |entry| {
            entry.kind == "finding-raised"
                && entry.subject == "db-4"
                && entry.text.contains("config-applied")
                && entry.text.contains("work_mem")
        },
        &shown,
    );
    let denied = first(
        &entries,
        "the denied rebuild of db-1 from db-3, with its numbers",
        |entry| {
            entry.kind == "verdict"
                && entry.subject == "db-1"
                && entry.text.contains("rebuild db-1 from db-3: deny")
                && entry.text.contains("overwrite-older: `db-3` is at 0/")
                && entry.text.contains("at 0/")
                && entry.text.contains("`db-1` was last seen")
                && entry.text.contains("discards")
                && entry.text.contains("of WAL")
        },
        &shown,
    );
    let intent = first(
        &entries,
        "the intent to rebuild db-3 from db-1",
        |entry| {
            entry.kind == "intent"
                && entry.subject == "db-3"
                && entry.text.contains("rebuild db-3 from db-1")
        },
        &shown,
    );
    let moved_aside = first(
        &entries,
        "db-3's data directory moved aside",
        |entry| {
            entry.kind == "step"
                && entry.subject == "db-3"
                && entry.text.starts_with("step ok · preserve")
                && entry.text.contains(".hadome-aside-")
        },
        &shown,
    );
    let repaired = first(
        &entries,
        "the repair's outcome",
        |entry| {
            entry.kind == "outcome"
                && entry.subject == "db-3"
                && entry
                    .text
                    .starts_with("outcome ok · rebuild db-3 from db-1")
        },
        &shown,
    );
    let stall_cleared = first(
        &entries,
        "replication-stalled cleared on db-3",
        |entry| {
            entry.kind == "finding-cleared"
                && entry.subject == "db-3"
                && entry.text.contains("replication-stalled")
        },
        &shown,
    );
    let config_cleared = first(
        &entries,
        "config-applied cleared on db-4",
        |entry| {
            entry.kind == "finding-cleared"
                && entry.subject == "db-4"
                && entry.text.contains("config-applied")
        },
        &shown,
    );
    let order = [
        ("the stall", stall),
        ("the unapplied setting", unapplied),
        ("the denied rebuild", denied),
        ("the repair's intent", intent),
        ("its move aside", moved_aside),
        ("its outcome", repaired),
    ];
    for pair in order.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "{} (entry {}) comes before {} (entry {}):\n{shown}",
            pair[0].0,
            pair[0].1,
            pair[1].0,
            pair[1].1
        );
    }
    assert!(
        stalled_finding < config_finding && config_finding < denied,
        "{shown}"
    );
    assert!(
        repaired < stall_cleared && repaired < config_cleared,
        "the findings clear after the repair:\n{shown}"
    );
    assert_eq!(
        entries.last().map(|entry| entry.kind),
        Some("finding-cleared"),
        "the story ends with the findings cleared:\n{shown}"
    );
    for (index, raised) in entries.iter().enumerate() {
        let Some(rule) = raised
            .text
            .strip_prefix("finding raised · ")
            .and_then(|rest| rest.split(' ').next())
        else {
            continue;
        };
        assert!(
            entries[index..]
                .iter()
                .any(|later| later.kind == "finding-cleared"
                    && later.subject == raised.subject
                    && later
                        .text
                        .starts_with(&format!("finding cleared · {rule} ("))),
            "{rule} on {} is cleared by the end:\n{shown}",
            raised.subject
        );
    }
    let condensed: u64 = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["count"].as_u64().unwrap())
        .sum();
    assert!(
        condensed > entries.len() as u64,
        "the drill's ask and run of the same rebuild condense into one entry:\n{shown}"
    );

    // The window: only the denied verdict's instant.
    let at = Timestamp(entries[denied].at_ms).rfc3339();
    let window = timeline_json(&journal, &["--since", &at, "--until", &at]);
    let in_window = self::entries(&window);
    assert!(
        !in_window.is_empty()
            && in_window
                .iter()
                .all(|entry| entry.at_ms == entries[denied].at_ms),
        "{window:#}"
    );
    assert_eq!(window["since_ms"], entries[denied].at_ms);

    // The markdown tells the same story, one line per entry, in the same order.
    let output = run_hadome(&["timeline", "--journal", &journal], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let markdown = String::from_utf8(output.stdout).unwrap();
    assert!(markdown.starts_with("## Timeline "), "{markdown}");
    let lines: Vec<&str> = markdown
        .lines()
        .filter(|line| line.starts_with("- **"))
        .collect();
    assert_eq!(lines.len(), entries.len(), "{markdown}");
    assert!(lines[stall].contains("`db-3`"), "{markdown}");
    assert!(
        lines[denied].contains("`db-1` verdict · rebuild db-1 from db-3: deny"),
        "{markdown}"
    );
    assert!(lines[moved_aside].contains("moved to"), "{markdown}");
}

#[test]
fn a_time_the_timeline_cannot_read_is_a_usage_error_naming_the_flag_and_the_forms() {
    let scratch = scratch();
    let journal = scratch.path().join("none.sqlite");
    let output = run_hadome(
        &[
            "timeline",
            "--journal",
            journal.to_str().unwrap(),
            "--until",
            "last tuesday",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--until last tuesday`")
            && stderr.contains("2026-12-05T14:02:03Z")
            && stderr.contains("15m"),
        "{}",
        show(&output)
    );
    let missing = run_hadome(&["timeline", "--journal", journal.to_str().unwrap()], &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", show(&missing));
    assert!(
        !journal.exists(),
        "reading a missing journal does not create one"
    );
}
