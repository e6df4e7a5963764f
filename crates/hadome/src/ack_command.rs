//! `hadome ack TARGET`: a person acknowledges a target, so that automation resumes on it.
//!
//! Automation has budgets (rule `budget`): when its actions on a target did not restore health,
//! or it spent its budget, it pauses on that target until a person acknowledges it. The ack is
//! journaled (who, when, why), clears the target's open pauses, and restarts the target's budget
//! count. It contacts no server: the estate file names the targets, the journal holds the rest.

use hadome_core::estate::Estate;
use hadome_core::suggest::closest;
use hadome_journal::{Ack, Pause};
use serde_json::{json, Value};

use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};

/// `hadome ack`.
pub(crate) fn ack(
    target: String,
    by: Option<String>,
    note: Option<String>,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let estate = hadome_config::load(&config.config)?;
    // Bad input changes nothing: the target is checked before the journal is opened.
    let kind = target_kind(&estate, &target)?;
    let mut journal = hadome_journal::Journal::open(&estate.journal_path)?;
    let who = by.unwrap_or_else(default_who);
    let note = note.unwrap_or_default();
    let recorded = journal.ack(wall_clock(), &target, &who, &note)?;
    let still_paused = journal.paused()?;
    if as_json {
        print_json(&ack_json(kind, &recorded, &still_paused));
    } else {
        print_text(&render(&recorded, &still_paused));
    }
    Ok(exit_code::OK)
}

/// `instance` or `cluster`, or a usage error naming the estate's targets.
fn target_kind(estate: &Estate, target: &str) -> Result<&'static str, CliError> {
    if estate.instance(target).is_some() {
        return Ok("instance");
    }
    if estate.clusters.iter().any(|cluster| cluster.name == target) {
        return Ok("cluster");
    }
    let instances: Vec<&str> = estate
        .instances
        .iter()
        .map(|instance| instance.name.as_str())
        .collect();
    let clusters: Vec<&str> = estate
        .clusters
        .iter()
        .map(|cluster| cluster.name.as_str())
        .collect();
    let all: Vec<&str> = instances.iter().chain(&clusters).copied().collect();
    let names = format!(
        "its instances are {}; its clusters are {}",
        backticked(&instances),
        if clusters.is_empty() {
            "none".to_owned()
        } else {
            backticked(&clusters)
        }
    );
    let hint = match closest(target, &all) {
        Some(close) => format!("did you mean `{close}`? {names}"),
        None => names,
    };
    Err(CliError::Usage {
        message: format!("the estate has no instance or cluster named `{target}`"),
        hint: Some(hint),
    })
}

/// Who acknowledges when `--by` is not given: the person behind `sudo`, else the OS user.
fn default_who() -> String {
    ["SUDO_USER", "USER"]
        .iter()
        .filter_map(|key| std::env::var(key).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn render(ack: &Ack, still_paused: &[Pause]) -> String {
    let mut text = String::new();
    for pause in &ack.cleared {
        text.push_str(&format!(
            "{}: automation resumed (paused {}: {})\n",
            ack.target,
            pause.at.utc_text(),
            pause.reason
        ));
    }
    if ack.cleared.is_empty() {
        text.push_str(&format!("{}: nothing was paused\n", ack.target));
    }
    let note = if ack.note.is_empty() {
        String::new()
    } else {
        format!(" ({})", ack.note)
    };
    text.push_str(&format!(
        "acknowledged by {}{note} at {}; {}'s budget counts from now\n",
        ack.who,
        ack.at.utc_text(),
        ack.target
    ));
    for pause in still_paused {
        text.push_str(&format!(
            "still paused: {} since {}: {} (hadome ack {})\n",
            pause.target,
            pause.at.utc_text(),
            pause.reason,
            pause.target
        ));
    }
    text
}

fn pause_json(pause: &Pause) -> Value {
    json!({
        "pause": pause.id,
        "target": pause.target,
        "paused_at_ms": pause.at.0,
        "paused_at": pause.at.utc_text(),
        "reason": pause.reason,
    })
}

fn ack_json(kind: &str, ack: &Ack, still_paused: &[Pause]) -> Value {
    json!({
        "version": 1,
        "ack": ack.id,
        "target": ack.target,
        "kind": kind,
        "by": ack.who,
        "note": ack.note,
        "at_ms": ack.at.0,
        "at": ack.at.utc_text(),
        "cleared": ack.cleared.iter().map(pause_json).collect::<Vec<_>>(),
        "budget_counts_from_ms": ack.at.0,
        "still_paused": still_paused.iter().map(pause_json).collect::<Vec<_>>(),
    })
}

/// `a`, `b`, `c`: names for a hint.
fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use hadome_core::fact::Timestamp;

    use super::*;

    fn pause(id: i64, target: &str, at: i64, reason: &str) -> Pause {
        Pause {
            id,
            at: Timestamp(at),
            target: target.to_owned(),
            reason: reason.to_owned(),
            acked_at: None,
        }
    }

    #[test]
    fn the_text_says_what_resumed_or_that_nothing_was_paused() {
        let cleared = Ack {
            id: 7,
            at: Timestamp(1_709_305_200_000),
            target: "db-3".to_owned(),
            who: "alice".to_owned(),
            note: "disk replaced".to_owned(),
            cleared: vec![Pause {
                acked_at: Some(Timestamp(1_709_305_200_000)),
                ..pause(3, "db-3", 1_709_301_723_000, "still down after 3 restarts")
            }],
        };
        assert_eq!(
            render(&cleared, &[pause(4, "db-2", 1_709_301_000_000, "rebuild failed")]),
            "db-3: automation resumed (paused 2024-03-01 14:02:03 UTC: still down after 3 restarts)\n\
             acknowledged by alice (disk replaced) at 2024-03-01 15:00:00 UTC; db-3's budget counts from now\n\
             still paused: db-2 since 2024-03-01 13:50:00 UTC: rebuild failed (hadome ack db-2)\n"
        );
        let nothing = Ack {
            cleared: Vec::new(),
            note: String::new(),
            ..cleared
        };
        assert_eq!(
            render(&nothing, &[]),
            "db-3: nothing was paused\n\
             acknowledged by alice at 2024-03-01 15:00:00 UTC; db-3's budget counts from now\n"
        );
    }
}
