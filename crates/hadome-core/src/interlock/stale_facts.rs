//! `stale-facts` (all incidents): acting on facts that are missing or old.
//!
//! A destructive action MUST NOT be allowed on facts that are missing or stale: a rebuild needs a
//! source that answers now, and a target whose data is known (now or from the journal); a target
//! never observed is `needs-human`, never `allow` (a restore from a backup too). A promotion needs a
//! candidate that answers now.
//! In `check`, every instance that did not answer is critical: hadome is blind to it; so is every
//! declared host whose facts could not be read (its reboots and deletions are then refused). An
//! instance that another member lists in `pg_stat_replication` runs: the finding says the path
//! from hadome fails, not the server.

use crate::action::Action;
use crate::finding::{Finding, Severity};
use crate::interlock::view::{HostKnowledge, Knowledge, View};
use crate::rule::STALE_FACTS;

fn finding(
    subject: &str,
    severity: Severity,
    message: String,
    alternative: Option<String>,
) -> Finding {
    Finding {
        rule: STALE_FACTS,
        severity,
        subject: subject.to_owned(),
        message,
        alternative,
    }
}

/// `ask`: the facts this action needs.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let mut findings = Vec::new();
    match action {
        Action::Rebuild { target, source } => {
            if view.fresh(source).is_none() {
                findings.push(finding(
                    source,
                    Severity::Deny,
                    format!(
                        "cannot copy from `{source}`: {}",
                        view.why_not_fresh(source)
                    ),
                    None,
                ));
            }
            if view.fresh(target).is_none() && view.last_known(target).is_none() {
                findings.push(finding(
                    target,
                    Severity::NeedsHuman,
                    format!(
                        "`{target}` was never observed and {}: hadome cannot tell what its data holds",
                        view.why_not_fresh(target)
                    ),
                    Some(format!("make `{target}` answer once, or have a person inspect {} first", data_dir(view, target))),
                ));
            }
        }
        Action::DeleteData { target } | Action::RestoreBackup { target, .. } => {
            if view.fresh(target).is_none() && view.last_known(target).is_none() {
                findings.push(finding(
                    target,
                    Severity::NeedsHuman,
                    format!("`{target}` was never observed and {}: hadome cannot tell what its data holds", view.why_not_fresh(target)),
                    None,
                ));
            }
        }
        Action::Promote { target } => {
            if view.fresh(target).is_none() {
                findings.push(finding(
                    target,
                    Severity::Deny,
                    format!("cannot promote `{target}`: {}", view.why_not_fresh(target)),
                    None,
                ));
            }
        }
        Action::Restart { .. }
        | Action::Stop { .. }
        | Action::ReplaceMember { .. }
        | Action::RemoveMember { .. } => {}
        // A host's facts are `reboot-uptime`'s and `destroy-coverage`'s to judge; what is placed
        // on the host is judged as the instance actions the host action amounts to.
        Action::Reboot { .. }
        | Action::Image { .. }
        | Action::DeleteHost { .. }
        | Action::DeletePath { .. }
        | Action::Reload { .. } => {}
    }
    findings
}

fn data_dir(view: &View, instance: &str) -> String {
    view.estate.instance(instance).map_or_else(
        || "its data directory".to_owned(),
        |found| format!("`{}`", found.data_dir.display()),
    )
}

/// `check`: every instance hadome cannot see now.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for instance in &view.estate.instances {
        let name = &instance.name;
        let last_seen = view.last_known(name).map_or_else(
            || "never seen answering".to_owned(),
            |known| {
                format!(
                    "last seen {} at {}",
                    view.ago(known.observed_at),
                    known.position
                )
            },
        );
        match view.knowledge(name) {
            Knowledge::Fresh(_) => {}
            Knowledge::Stale { age_seconds, .. } => findings.push(finding(
                name,
                Severity::Warn,
                format!(
                    "`{name}`'s facts are {} old",
                    crate::finding::human_duration(age_seconds)
                ),
                None,
            )),
            // Its upstream still listing it says it runs: the path from hadome fails, not the
            // server (the daemon never restarts it for that, `supervise::standbys`).
            Knowledge::Unreachable { error } => match view.feeder_of(name) {
                Some(feeder) => findings.push(finding(
                    name,
                    Severity::Deny,
                    format!("`{name}` does not answer: {error}; {last_seen}; but `{feeder}` lists it in pg_stat_replication: it runs, and what fails is the path from hadome to it"),
                    Some(format!("look at the network, proxy or firewall between hadome and `{name}`; do not restart it")),
                )),
                None => findings.push(finding(
                    name,
                    Severity::Deny,
                    format!("`{name}` does not answer: {error}; {last_seen}"),
                    None,
                )),
            },
            Knowledge::Unknown => findings.push(finding(
                name,
                Severity::Deny,
                format!("`{name}` was not observed; {last_seen}"),
                None,
            )),
        }
    }
    for host in &view.estate.hosts {
        let name = &host.name;
        match view.host_knowledge(name) {
            HostKnowledge::Fresh(_) => {}
            HostKnowledge::Stale { age_seconds, .. } => findings.push(finding(
                name,
                Severity::Warn,
                format!(
                    "host `{name}`'s facts are {} old",
                    crate::finding::human_duration(age_seconds)
                ),
                None,
            )),
            HostKnowledge::Unreachable { error } => findings.push(finding(
                name,
                Severity::Deny,
                format!("host `{name}`'s facts could not be read: {error}; its reboots and deletions are refused until they are"),
                Some("check its `facts_command` by hand: it must print `hadome host-facts`'s JSON".to_owned()),
            )),
            HostKnowledge::Unknown => findings.push(finding(
                name,
                Severity::Deny,
                format!("host `{name}`'s facts were not read"),
                None,
            )),
        }
    }
    findings
}
