//! `hadome ack`, run as the real binary on an estate file whose servers need not exist: it reads
//! the estate and writes the journal, and contacts no server.

use std::path::{Path, PathBuf};

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, KIND_ACK};
use serde_json::json;

use crate::support::{hadome_json, run_hadome, scratch, show};

/// An estate of three instances (nothing listens on their port) in cluster `main`, its journal
/// beside it; returns the estate file and the journal file.
fn estate(dir: &Path) -> (PathBuf, PathBuf) {
    let mut text = String::new();
    for name in ["db-1", "db-2", "db-3"] {
        text.push_str(&format!(
            "[[instance]]\nname = \"{name}\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"/srv/{name}\"\n\n"
        ));
    }
    text.push_str("[[cluster]]\nname = \"main\"\nmembers = [\"db-1\", \"db-2\", \"db-3\"]\n");
    let config = dir.join("estate.toml");
    std::fs::write(&config, text).unwrap();
    (config, dir.join("hadome.sqlite"))
}

#[test]
fn ack_clears_the_targets_pause_says_so_and_restarts_its_budget() {
    let scratch = scratch();
    let (config, journal_path) = estate(scratch.path());
    let config_text = config.to_str().unwrap();
    {
        let mut journal = Journal::open(&journal_path).unwrap();
        journal
            .pause(
                Timestamp(1_709_301_723_000),
                "db-3",
                "restarted 3 times in 1 h; still down",
            )
            .unwrap();
        journal
            .pause(Timestamp(1_709_301_000_000), "db-2", "rebuild failed")
            .unwrap();
    }

    let output = run_hadome(
        &[
            "ack",
            "db-3",
            "--config",
            config_text,
            "--note",
            "disk replaced",
        ],
        &[("SUDO_USER", ""), ("USER", "alice")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "db-3: automation resumed (paused 2024-03-01 14:02:03 UTC: restarted 3 times in 1 h; still down)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("acknowledged by alice (disk replaced) at "),
        "{stdout}"
    );
    assert!(stdout.contains("db-3's budget counts from now"), "{stdout}");
    assert!(
        stdout.contains("still paused: db-2 since 2024-03-01 13:50:00 UTC: rebuild failed"),
        "{stdout}"
    );

    let journal = Journal::open(&journal_path).unwrap();
    let paused: Vec<String> = journal
        .paused()
        .unwrap()
        .into_iter()
        .map(|pause| pause.target)
        .collect();
    assert_eq!(paused, ["db-2"], "db-3's pause is cleared, db-2's is not");
    let acked = journal
        .last_ack("db-3")
        .unwrap()
        .expect("the ack is journaled");
    assert!(acked > Timestamp(1_709_301_723_000), "{acked:?}");
    let acks: Vec<_> = journal
        .events_since(Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == KIND_ACK)
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].subject, "db-3");
    assert_eq!(acks[0].body["who"], "alice");
    assert_eq!(acks[0].body["note"], "disk replaced");
    assert_eq!(acks[0].body["cleared"].as_array().unwrap().len(), 1);
    drop(journal);

    // Again, with nothing paused: recorded all the same, and the budget counts from it.
    let again = run_hadome(
        &["ack", "db-3", "--config", config_text, "--by", "bob"],
        &[],
    );
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("db-3: nothing was paused"), "{stdout}");
    assert!(stdout.contains("acknowledged by bob at "), "{stdout}");
    assert!(stdout.contains("db-3's budget counts from now"), "{stdout}");
    let later = Journal::open(&journal_path)
        .unwrap()
        .last_ack("db-3")
        .unwrap()
        .unwrap();
    assert!(later >= acked);
}

#[test]
fn ack_json_names_the_target_its_kind_and_what_it_cleared() {
    let scratch = scratch();
    let (config, journal_path) = estate(scratch.path());
    let pause = Journal::open(&journal_path)
        .unwrap()
        .pause(
            Timestamp(1_709_301_723_000),
            "main",
            "failover budget spent",
        )
        .unwrap();

    let (code, report) = hadome_json(&config, &["ack", "main", "--by", "carol"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["version"], 1);
    assert_eq!(report["target"], "main");
    assert_eq!(report["kind"], "cluster");
    assert_eq!(report["by"], "carol");
    assert_eq!(report["note"], "");
    assert_eq!(
        report["cleared"],
        json!([{
            "pause": pause.id,
            "target": "main",
            "paused_at_ms": 1_709_301_723_000_i64,
            "paused_at": "2024-03-01 14:02:03 UTC",
            "reason": "failover budget spent",
        }])
    );
    assert_eq!(report["still_paused"], json!([]));
    let at = report["at_ms"].as_i64().unwrap();
    assert_eq!(report["budget_counts_from_ms"], at);
    assert_eq!(
        Journal::open(&journal_path)
            .unwrap()
            .last_ack("main")
            .unwrap(),
        Some(Timestamp(at))
    );

    let (code, report) = hadome_json(&config, &["ack", "db-1", "--by", "carol"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        (&report["kind"], &report["cleared"]),
        (&json!("instance"), &json!([]))
    );
}

#[test]
fn ack_of_a_target_the_estate_does_not_name_is_exit_2_with_the_names_and_changes_nothing() {
    let scratch = scratch();
    let (config, journal_path) = estate(scratch.path());
    let config_text = config.to_str().unwrap();

    let typo = run_hadome(&["ack", "mian", "--config", config_text], &[]);
    assert_eq!(typo.status.code(), Some(2), "{}", show(&typo));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("error: the estate has no instance or cluster named `mian`"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `main`?"), "{stderr}");

    let unknown = run_hadome(&["ack", "postgres", "--config", config_text], &[]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!stderr.contains("did you mean"), "{stderr}");
    assert!(
        stderr.contains("its instances are `db-1`, `db-2`, `db-3`; its clusters are `main`"),
        "{stderr}"
    );
    assert!(
        !journal_path.exists(),
        "a refused ack opens no journal, so creates none"
    );
}

#[test]
fn ack_help_teaches_what_an_ack_is_for() {
    let help = run_hadome(&["ack", "--help"], &[]);
    assert!(help.status.success(), "{}", show(&help));
    let text = String::from_utf8_lossy(&help.stdout);
    for words in [
        "budget",
        "until a person",
        "restarts the target's budget count",
        "--by",
        "--note",
        "hadome ack db-3",
    ] {
        assert!(text.contains(words), "`{words}` in ack --help:\n{text}");
    }
}
