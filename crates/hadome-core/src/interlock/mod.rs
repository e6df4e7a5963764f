//! Interlocks: pure functions from (estate, facts, history, action, now) to findings.
//!
//! [`assess`] answers "may this action go ahead?" with every finding and the prerequisites hadome
//! would do first; [`check`] reports the estate's health with no action in view. Evaluation never
//! stops at the first problem. When facts are missing, the answer fails closed: `needs-human` or
//! `deny`, never `allow`.
//!
//! An action on a host (issue 12) is judged by the host's own rules (`reboot-uptime`,
//! `destroy-coverage`) and by everything placed on it: each instance on the host is judged as the
//! instance action the host action amounts to for it (a reboot restarts it; a deletion stops it
//! and destroys its data), with the same rules as that instance action, so the logic is not
//! written twice.

use crate::action::Action;
use crate::estate::Estate;
use crate::fact::{Facts, History, Timestamp};
use crate::finding::{Finding, Severity, Verdict};

mod backup_trust;
mod config_applied;
mod destroy_coverage;
mod last_copy;
mod overwrite_older;
mod promote_eligibility;
mod quorum_members;
mod reboot_uptime;
mod replication_stalled;
mod routes;
mod snapshot_independence;
mod stale_facts;
mod systemd_reboot_loop;
mod timeline_follow;
mod view;

#[cfg(test)]
mod backup_tests;
#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod quorum_tests;
#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;

pub use quorum_members::{member_health, MemberHealth};
pub(crate) use replication_stalled::cannot_catch_up;
pub use routes::{judge_route, route_finding, RouteVerdict};
pub use view::{HostKnowledge, Knowledge, KnownPosition, View};

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
    match action.host() {
        Some(host) => {
            if estate.host(host).is_none() {
                findings.push(unknown_host(estate, host));
            }
        }
        None if member_action(estate, action) => {}
        None if matches!(
            action,
            Action::ReplaceMember { .. } | Action::RemoveMember { .. }
        ) =>
        {
            findings.push(Finding {
                rule: crate::rule::QUORUM,
                severity: Severity::Deny,
                subject: action.target().to_owned(),
                message: format!(
                    "the estate has no etcd member `{}`: `{}` takes an `[[etcd]]` name",
                    action.target(),
                    action.name()
                ),
                alternative: None,
            });
        }
        None if matches!(action, Action::Reload { .. }) => {
            if estate.web.nginx(action.target()).is_none() {
                findings.push(unknown_nginx(estate, action.target()));
            }
        }
        None => {
            if estate.instance(action.target()).is_none() {
                findings.push(unknown_instance(action.target()));
            }
        }
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
        if !member_action(estate, action) && !matches!(action, Action::Reload { .. }) {
            findings.extend(instance_findings(&view, action));
        }
        findings.extend(quorum_members::assess(&view, action));
        findings.extend(placed_findings(&view, action));
        findings.extend(reboot_uptime::assess(&view, action));
        findings.extend(destroy_coverage::assess(&view, action));
        findings.extend(routes::assess(&view, action));
    }
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    let mut prerequisites = prerequisites(&view, action);
    prerequisites.extend(destroy_coverage::prerequisites(&view, action));
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
    findings.extend(promote_eligibility::check(&view));
    findings.extend(config_applied::check(&view));
    findings.extend(backup_trust::check(&view));
    findings.extend(snapshot_independence::check(&view));
    findings.extend(systemd_reboot_loop::check(&view));
    findings.extend(quorum_members::check(&view));
    findings.extend(routes::check(&view));
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    findings
}

/// Whether `action` is a `stop`, `restart`, `replace-member` or `remove-member` of an etcd member (`[[etcd]]`):
/// judged by `quorum`, not by the instance rules (names are unique across instances and members).
fn member_action(estate: &Estate, action: &Action) -> bool {
    matches!(
        action,
        Action::Stop { .. }
            | Action::Restart { .. }
            | Action::ReplaceMember { .. }
            | Action::RemoveMember { .. }
    ) && estate.etcd_member(action.target()).is_some()
}

/// The rules that judge an action on an instance (nothing for an action on a host).
fn instance_findings(view: &View, action: &Action) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(stale_facts::assess(view, action));
    findings.extend(overwrite_older::assess(view, action));
    findings.extend(overwrite_older::assess_restore(view, action));
    findings.extend(backup_trust::assess(view, action));
    findings.extend(snapshot_independence::assess(view, action));
    findings.extend(last_copy::assess(view, action));
    findings.extend(promote_eligibility::assess(view, action));
    findings.extend(availability(view, action));
    findings.extend(config_applied::assess(view, action));
    findings
}

/// What an action on a host amounts to for an instance placed on it: a reboot (and an image
/// that reboots) restarts it; a deletion stops it and destroys its data; an image that does not
/// reboot, and the deletion of a path, touch no instance.
fn placed_actions(action: &Action, instance: &str) -> Vec<Action> {
    let target = instance.to_owned();
    match action {
        Action::Reboot { .. } | Action::Image { reboots: true, .. } => {
            vec![Action::Restart { target }]
        }
        Action::DeleteHost { .. } => vec![
            Action::Stop {
                target: target.clone(),
            },
            Action::DeleteData { target },
        ],
        Action::Image { reboots: false, .. }
        | Action::DeletePath { .. }
        | Action::Promote { .. }
        | Action::Rebuild { .. }
        | Action::Restart { .. }
        | Action::Stop { .. }
        | Action::DeleteData { .. }
        | Action::RestoreBackup { .. }
        | Action::ReplaceMember { .. }
        | Action::RemoveMember { .. }
        | Action::Reload { .. } => Vec::new(),
    }
}

/// An action on a host, judged by each instance placed on it: the findings of the instance
/// actions it amounts to ([`placed_actions`]), each saying which host carries the instance.
fn placed_findings(view: &View, action: &Action) -> Vec<Finding> {
    let Some(host) = action.host() else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for placed in view.estate.placed_on(host) {
        if placed.kind != crate::target::TargetKind::Instance {
            continue;
        }
        for derived in placed_actions(action, &placed.name) {
            for mut finding in instance_findings(view, &derived) {
                let does = match derived {
                    Action::Restart { .. } => "restarts",
                    Action::Stop { .. } => "stops",
                    _ => "destroys the data of",
                };
                finding.message = format!(
                    "`{host}` carries `{}` (a {} {does} it): {}",
                    placed.name,
                    action.name(),
                    finding.message
                );
                findings.push(finding);
            }
        }
    }
    findings
}

/// An action on a host the estate does not declare: denied, as one on an unknown instance.
fn unknown_host(estate: &Estate, name: &str) -> Finding {
    let declared: Vec<&str> = estate.hosts.iter().map(|host| host.name.as_str()).collect();
    let named_only = estate.host_names().contains(&name);
    let message = if named_only {
        format!("the estate declares no host `{name}`: instances name it as their host, but it has no `[[host]]`, so hadome cannot read its facts")
    } else {
        format!("the estate has no host `{name}`")
    };
    let alternative = match crate::suggest::closest(name, &declared) {
        Some(close) => Some(format!("did you mean `{close}`?")),
        None if named_only => Some(format!(
            "declare it: `[[host]]` with `name = \"{name}\"` (examples/estate.toml)"
        )),
        None => None,
    };
    Finding {
        rule: crate::rule::STALE_FACTS,
        severity: Severity::Deny,
        subject: name.to_owned(),
        message,
        alternative,
    }
}

/// A reload of an nginx instance the estate does not declare.
fn unknown_nginx(estate: &Estate, name: &str) -> Finding {
    let declared: Vec<&str> = estate
        .web
        .nginx
        .iter()
        .map(|nginx| nginx.name.as_str())
        .collect();
    Finding {
        rule: crate::rule::NGINX_TEST,
        severity: Severity::Deny,
        subject: name.to_owned(),
        message: format!("the estate has no nginx `{name}`"),
        alternative: match crate::suggest::closest(name, &declared) {
            Some(close) => Some(format!("did you mean `{close}`?")),
            None if declared.is_empty() => {
                Some("declare it: `[[nginx]]` with `name` (examples/estate.toml)".to_owned())
            }
            None => Some(format!(
                "the estate's nginx instances: {}",
                declared.join(", ")
            )),
        },
    }
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
