//! `status`: each cluster's members (role, timeline, position, lag, streaming, last seen), then
//! what the daemon's journal says of the cluster (`automation_status.rs`), then the backups
//! (`backups_status.rs`), as tables and as one JSON document: `hadome status` prints it, the
//! daemon's `GET /v1/status` answers it.

use hadome_core::estate::FailoverPolicy;
use hadome_core::fact::ProbeOutcome;
use hadome_core::finding::{human_bytes, human_duration};
use hadome_core::interlock::View;
use hadome_core::position::PositionOrder;
use serde_json::json;

use super::automation_status::automation_status;
use super::backups_status::backups_status;
use super::{Seen, StatusSection};
use crate::error::CliError;
use crate::output::Table;

/// The estate's status, as text and as JSON (`version` 1).
pub(crate) fn status(pass: &Seen<'_>) -> Result<StatusSection, CliError> {
    let view = View {
        estate: pass.estate,
        facts: pass.facts,
        history: pass.history,
        now: pass.now,
    };
    let mut clusters_json = Vec::new();
    // What is half-done comes first: it is what a person must look at before acting again.
    let open = open_intents(pass)?;
    let mut text = open.text.clone();
    for cluster in &pass.estate.clusters {
        let primary = view
            .live_primaries(cluster)
            .first()
            .and_then(|name| view.fresh(name));
        let mut members_json = Vec::new();
        let mut table = Table::new([
            "MEMBER",
            "ROLE",
            "TIMELINE",
            "LSN",
            "LAG",
            "LAG (S)",
            "STREAMING",
            "LAST SEEN",
        ]);
        for member in &cluster.members {
            let probe = pass.facts.instances.get(member);
            let error = match probe.map(|probe| &probe.outcome) {
                Some(ProbeOutcome::Unreachable { error, .. }) => Some(error.clone()),
                None => Some("not probed".to_owned()),
                _ => None,
            };
            let known = view.position(member);
            let state = view.fresh(member);
            let role = match (state, known) {
                (Some(state), _) => {
                    if state.in_recovery {
                        "standby"
                    } else {
                        "primary"
                    }
                }
                (None, Some(_)) => "unreachable",
                (None, None) => "unknown",
            };
            // Streaming is a standby's fact: a primary has no WAL receiver.
            let streaming = state
                .filter(|state| state.in_recovery)
                .map(|_| view.streams(member));
            let (lag_bytes, lag_seconds) = match (state, primary) {
                (Some(state), Some(primary)) if state.in_recovery => {
                    let bytes = match primary.position.compare(&state.position) {
                        PositionOrder::Ahead | PositionOrder::Equal => {
                            Some(primary.position.lsn.bytes_after(state.position.lsn))
                        }
                        _ => None,
                    };
                    let seconds = match (bytes, state.last_replay_at) {
                        (Some(0), _) => Some(0.0),
                        (Some(_), Some(at)) => Some(pass.now.seconds_since(at).max(0.0)),
                        _ => None,
                    };
                    (bytes, seconds)
                }
                _ => (None, None),
            };
            let seen_seconds = known.map(|known| pass.now.seconds_since(known.seen_at).max(0.0));
            members_json.push(json!({
                "name": member,
                "role": role,
                "reachable": state.is_some(),
                "timeline": known.map(|known| known.position.timeline),
                "lsn": known.map(|known| known.position.lsn.to_string()),
                "lag_bytes": lag_bytes,
                "lag_seconds": lag_seconds,
                "streaming": streaming,
                "last_seen_seconds_ago": seen_seconds,
                "error": error,
            }));
            let dash = || "-".to_owned();
            table.row([
                member.clone(),
                role.to_owned(),
                known.map_or_else(dash, |known| known.position.timeline.to_string()),
                known.map_or_else(dash, |known| known.position.lsn.to_string()),
                lag_bytes.map_or_else(dash, human_bytes),
                lag_seconds.map_or_else(dash, |seconds| format!("{seconds:.0}")),
                streaming.map_or_else(dash, |streaming| {
                    if streaming {
                        "yes".to_owned()
                    } else {
                        "no".to_owned()
                    }
                }),
                seen_seconds.map_or_else(
                    || "never".to_owned(),
                    |seconds| {
                        if state.is_some() {
                            "now".to_owned()
                        } else {
                            format!("{} ago", human_duration(seconds))
                        }
                    },
                ),
            ]);
            if let Some(error) = &error {
                table.footer(format!("{member}: {error}"));
            }
        }
        let failover = match cluster.failover {
            FailoverPolicy::Manual => "manual",
            FailoverPolicy::Auto => "auto",
        };
        text.push_str(&format!(
            "cluster {} (failover {failover})\n{table}\n",
            cluster.name
        ));
        let automation = automation_status(pass, cluster)?;
        text.push_str(&automation.text);
        clusters_json.push(json!({
            "name": cluster.name,
            "failover": failover,
            "members": members_json,
            "daemon": automation.json,
        }));
    }
    let backups = backups_status(pass);
    text.push_str(&backups.text);
    Ok(StatusSection {
        text,
        json: json!({
            "version": 1,
            "clusters": clusters_json,
            "backups": backups.json,
            "open_intents": open.json,
        }),
    })
}

/// The intents never closed (issue 17): an action or a backup run at work now, or one whose
/// process was killed midway, with how far it got; nothing half-done goes unsaid.
fn open_intents(pass: &Seen<'_>) -> Result<StatusSection, CliError> {
    let open = pass.journal.open_intents()?;
    let mut text = String::new();
    for intent in &open {
        let last = intent
            .steps_done
            .last()
            .map_or_else(|| "none yet".to_owned(), |step| format!("`{step}`"));
        text.push_str(&format!(
            "OPEN intent #{} ({}, by {}, {} ago): {} of its {} steps done (the last: {last}); at work still, or its process stopped without an outcome: check `{}` before acting again\n",
            intent.id,
            intent.action_text,
            intent.actor,
            human_duration(pass.now.seconds_since(intent.at).max(0.0)),
            intent.steps_done.len(),
            intent.plan.len(),
            intent.target
        ));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    let json = open
        .iter()
        .map(|intent| {
            json!({
                "id": intent.id,
                "at_ms": intent.at.0,
                "action": intent.action_text,
                "action_name": intent.action_name,
                "target": intent.target,
                "actor": intent.actor,
                "plan": intent.plan,
                "steps_done": intent.steps_done,
            })
        })
        .collect::<Vec<_>>();
    Ok(StatusSection {
        text,
        json: json.into(),
    })
}
