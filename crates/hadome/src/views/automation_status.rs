//! The daemon's side of each cluster in `hadome status`: who holds its lease, whether a person's
//! `hadome run` holds it, what is paused, and the last day's escalations.

use hadome_core::fact::Timestamp;
use hadome_core::finding::human_duration;
use serde_json::json;

use super::{Seen, StatusSection};
use crate::error::CliError;

/// How far back `status` shows escalations.
const ESCALATIONS_SHOWN_MS: i64 = 24 * 3600 * 1000;

/// What the daemon's journal says of a cluster: who holds its lease, what is paused, and the
/// escalations of the last day, newest first: `status` says why automation does or does not act.
pub(crate) fn automation_status(
    pass: &Seen<'_>,
    cluster: &hadome_core::estate::Cluster,
) -> Result<StatusSection, CliError> {
    let lease = pass.journal.lease(&cluster.name)?;
    let paused: Vec<_> = pass
        .journal
        .paused()?
        .into_iter()
        .filter(|pause| pause.target == cluster.name || cluster.members.contains(&pause.target))
        .collect();
    let escalations: Vec<_> = pass
        .journal
        .escalations_since(Timestamp(pass.now.0 - ESCALATIONS_SHOWN_MS))?
        .into_iter()
        .filter(|escalation| escalation.cluster == cluster.name)
        .collect();
    let mut text = String::new();
    match &lease {
        Some(lease) if !lease.is_expired(pass.now) => text.push_str(&format!(
            "  daemon: `{}` holds the lease (renewed {} ago)\n",
            lease.holder,
            human_duration(pass.now.seconds_since(lease.renewed_at).max(0.0))
        )),
        Some(lease) => text.push_str(&format!(
            "  daemon: none running (the last lease, `{}`'s, expired {} ago)\n",
            lease.holder,
            human_duration(pass.now.seconds_since(lease.expires_at).max(0.0))
        )),
        None => text.push_str("  daemon: none has supervised this cluster\n"),
    }
    let hold = pass
        .journal
        .lease(&hadome_journal::hold_lease(&cluster.name))?
        .filter(|hold| !hold.is_expired(pass.now));
    if let Some(hold) = &hold {
        text.push_str(&format!(
            "  HELD by `{}` (hadome run) since {} ago: the daemon takes no action here until it is done\n",
            hold.holder,
            human_duration(pass.now.seconds_since(hold.acquired_at).max(0.0))
        ));
    }
    for pause in &paused {
        text.push_str(&format!(
            "  PAUSED `{}` since {} ago: {} — resume with `hadome ack {}`\n",
            pause.target,
            human_duration(pass.now.seconds_since(pause.at).max(0.0)),
            pause.reason,
            pause.target
        ));
    }
    for escalation in escalations.iter().take(5) {
        text.push_str(&format!(
            "  escalated {} ago [{}] {}: {}\n",
            human_duration(pass.now.seconds_since(escalation.at).max(0.0)),
            escalation.rule,
            escalation.subject,
            escalation.message
        ));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    let json = json!({
        "lease": lease.as_ref().map(|lease| json!({
            "holder": lease.holder,
            "renewed_at_ms": lease.renewed_at.0,
            "expires_at_ms": lease.expires_at.0,
            "expired": lease.is_expired(pass.now),
        })),
        "held_by": hold.as_ref().map(|hold| json!({
            "holder": hold.holder,
            "acquired_at_ms": hold.acquired_at.0,
            "expires_at_ms": hold.expires_at.0,
        })),
        "paused": paused.iter().map(|pause| json!({
            "target": pause.target, "at_ms": pause.at.0, "reason": pause.reason,
        })).collect::<Vec<_>>(),
        "escalations": escalations.iter().map(|escalation| json!({
            "at_ms": escalation.at.0,
            "subject": escalation.subject,
            "rule": escalation.rule,
            "message": escalation.message,
            "notified": escalation.notified_at.is_some() && escalation.notify_error.is_none(),
            "notify_error": escalation.notify_error,
        })).collect::<Vec<_>>(),
    });
    Ok(StatusSection { text, json })
}
