//! Interlocks: pure functions from (estate, facts, history, action, now) to findings.
//!
//! [`assess`] answers "may this action go ahead?" with every finding and the prerequisites hadome
//! would do first; [`check`] reports the estate's health with no action in view. Evaluation never
//! stops at the first problem. When facts are missing, the answer fails closed: `needs-human` or
//! `deny`, never `allow`.

use crate::action::Action;
use crate::estate::Estate;
use crate::fact::{Facts, History, Timestamp};
use crate::finding::{Finding, Severity, Verdict};

mod backup_trust;
mod config_applied;
mod last_copy;
mod overwrite_older;
mod promote_eligibility;
mod replication_stalled;
mod snapshot_independence;
mod stale_facts;
mod timeline_follow;
mod view;

#[cfg(test)]
mod backup_tests;
#[cfg(test)]
mod tests;

pub(crate) use replication_stalled::cannot_catch_up;
pub use view::{Knowledge, KnownPosition, View};

/// The answer to one proposed action.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The action assessed.
    pub action: Action,
    /// The worst finding, or `allow-after` when there are prerequisites.
    pub verdict: Verdict,
    /// Every finding, worst first.
    pub findings: Vec<Finding>,
    /// What hadome does before the action (preserve before destroy).
    pub prerequisites: Vec<String>,
}

/// Assesses `action` against every interlock.
pub fn assess(
    estate: &Estate,
    facts: &Facts,
    history: &History,
    action: &Action,
    now: Timestamp,
) -> Assessment {
    let view = View {
        estate,
        facts,
        history,
        now,
    };
    let mut findings = Vec::new();
    if estate.instance(action.target()).is_none() {
        findings.push(unknown_instance(action.target()));
    }
    if let Action::RestoreBackup { backup, .. } = action {
        if estate.backup(backup).is_none() {
            findings.push(Finding {
                rule: crate::rule::BACKUP_TRUST,
                severity: Severity::Deny,
                subject: backup.clone(),
                message: format!("the estate has no backup `{backup}`"),
                alternative: None,
            });
        }
    }
    if let Action::Rebuild { source, target } = action {
        if estate.instance(source).is_none() {
            findings.push(unknown_instance(source));
        }
        if source == target {
            findings.push(Finding {
                rule: crate::rule::OVERWRITE_OLDER,
                severity: Severity::Deny,
                subject: target.clone(),
                message: format!("`{target}` cannot be rebuilt from itself"),
                alternative: None,
            });
        }
    }
    if findings.is_empty() {
        findings.extend(stale_facts::assess(&view, action));
        findings.extend(overwrite_older::assess(&view, action));
        findings.extend(overwrite_older::assess_restore(&view, action));
        findings.extend(backup_trust::assess(&view, action));
        findings.extend(snapshot_independence::assess(&view, action));
        findings.extend(last_copy::assess(&view, action));
        findings.extend(promote_eligibility::assess(&view, action));
        findings.extend(availability(&view, action));
    }
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    let prerequisites = prerequisites(&view, action);
    Assessment {
        verdict: Verdict::of(&findings, &prerequisites),
        action: action.clone(),
        findings,
        prerequisites,
    }
}

/// The estate's health: every finding with no action in view, worst first.
pub fn check(estate: &Estate, facts: &Facts, history: &History, now: Timestamp) -> Vec<Finding> {
    let view = View {
        estate,
        facts,
        history,
        now,
    };
    let mut findings = Vec::new();
    findings.extend(stale_facts::check(&view));
    findings.extend(replication_stalled::check(&view));
    findings.extend(timeline_follow::check(&view));
    findings.extend(config_applied::check(&view));
    findings.extend(backup_trust::check(&view));
    findings.extend(snapshot_independence::check(&view));
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    findings
}

fn unknown_instance(name: &str) -> Finding {
    Finding {
        rule: crate::rule::STALE_FACTS,
        severity: Severity::Deny,
        subject: name.to_owned(),
        message: format!("the estate has no instance `{name}`"),
        alternative: None,
    }
}

/// Preserve before destroy: every destroyed data directory is moved aside first.
fn prerequisites(view: &View, action: &Action) -> Vec<String> {
    let mut steps = Vec::new();
    for destroyed in action.impact().destroyed {
        if matches!(action, Action::DeleteData { .. }) && view.fresh(&destroyed).is_some() {
            steps.push(format!("stop `{destroyed}`"));
        }
        let data_dir = view.estate.instance(&destroyed).map_or_else(
            || "its data directory".to_owned(),
            |instance| format!("`{}`", instance.data_dir.display()),
        );
        steps.push(format!(
            "preserve `{destroyed}`'s data directory: move {data_dir} aside, never delete it"
        ));
    }
    steps
}

/// Stopping or restarting the primary, or the synchronous standby it waits for, takes writes away.
///
/// Synchronous replication is a write quorum: with its only synchronous standby gone, every commit
/// on the primary waits. These findings use the catalogue's `quorum` id.
fn availability(view: &View, action: &Action) -> Vec<Finding> {
    let (Action::Restart { target } | Action::Stop { target }) = action else {
        return Vec::new();
    };
    let Some(cluster) = view.cluster_of(target) else {
        return Vec::new();
    };
    let stopping = matches!(action, Action::Stop { .. });
    let mut findings = Vec::new();
    for primary in view.live_primaries(cluster) {
        let Some(state) = view.fresh(primary) else {
            continue;
        };
        let application_name = view
            .estate
            .instance(target)
            .map(|instance| instance.application_name.as_str());
        let synchronous: Vec<&str> = state
            .replication
            .iter()
            .filter(|peer| peer.sync_state.is_synchronous())
            .map(|peer| peer.application_name.as_str())
            .collect();
        let (severity, message) = if primary == target {
            (
                if stopping {
                    Severity::NeedsHuman
                } else {
                    Severity::Warn
                },
                format!(
                    "`{target}` is the primary of `{}`: writes stop until it is back",
                    cluster.name
                ),
            )
        } else if synchronous.len() == 1 && Some(synchronous[0]) == application_name {
            (
                if stopping { Severity::NeedsHuman } else { Severity::Warn },
                format!("`{target}` is `{primary}`'s only synchronous standby: every commit on `{primary}` waits until it is back"),
            )
        } else {
            continue;
        };
        findings.push(Finding {
            rule: crate::rule::QUORUM,
            severity,
            subject: target.clone(),
            message,
            alternative: None,
        });
    }
    findings
}
