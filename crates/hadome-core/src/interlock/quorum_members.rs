//! `quorum` for quorum clusters (incident D): never take a voting member down when the members
//! left healthy would be fewer than a majority.
//!
//! A 3-member datastore tolerated one member down. One was unreachable; an operator took a
//! machine image of a *healthy* member with the console's default "reboot the instance": 1 of 3
//! left, quorum lost, every dependent application failed. The same id judges PostgreSQL's
//! synchronous standby (`crate::interlock`'s `availability`); this file is the quorum-cluster half.
//!
//! An action that takes members of a `[[quorum]]` down — `stop` or `restart` of a member,
//! `reboot`, `image` (unless `--no-reboot`) or `delete-host` of the host it is placed on — MUST be:
//! - `deny` when the voting members left healthy would be fewer than a majority of the voters
//!   (`voters / 2 + 1`);
//! - `deny` when another voter is not healthy (down, unreachable, catching up, never seen), even
//!   with a majority left: one disruption per quorum cluster at a time, so a second action never
//!   lands while the first one's member is still coming back;
//! - `warn` when exactly a majority would be left: one more failure stops writes.
//!
//! A change of membership — `replace-member` and `remove-member` — is counted on the voters left
//! after the removal (a member of 3 removed leaves 2 voters, quorum 2; a replacement joins as a
//! learner, which does not vote while it catches up). It MUST be `deny` when the voters left
//! healthy would be fewer than their quorum, `deny` when the member is healthy and another voter
//! is not (one disruption at a time; replacing a healthy member is denied outright), and `warn`
//! when exactly the quorum would be left.
//!
//! A member is healthy when it answered within its quorum's `freshness_seconds`, reports no
//! errors, follows a leader, and its raft index is within `max_raft_lag` of the leader's (of the
//! highest index seen when the leader did not answer). A member not probed, unreachable, stale,
//! with errors, without a leader or catching up counts as down (fail closed). A member is a voter
//! unless its own fresh answer says it is a learner: a member whose role is unknown counts as a
//! voter that is down, which can only raise the bar.
//!
//! The refusal MUST name each voter's state and the arithmetic
//! ("3 voters, quorum 2: … rebooting `h2` takes `etcd-2` down: 1 healthy left").
//!
//! In `check` (no action): an active alarm (`NOSPACE`, `CORRUPT`), a quorum with no healthy
//! majority, no leader, or two leaders in one term are critical; a member list that differs
//! between members, and a quorum with no failure left to tolerate, are warnings.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::Action;
use crate::estate::Estate;
use crate::fact::{Facts, FailureKind, History, Timestamp};
use crate::finding::{human_duration, Finding, Severity};
use crate::interlock::view::View;
use crate::quorum::{MemberOutcome, MemberState, QuorumCluster};
use crate::rule::QUORUM;

/// What hadome knows of one member's health now.
#[derive(Debug, Clone, Copy)]
enum Health<'a> {
    Healthy,
    /// It was not probed.
    Unknown,
    Unreachable {
        error: &'a str,
        kind: FailureKind,
    },
    Stale {
        age_seconds: f64,
    },
    Errors(&'a [String]),
    NoLeader,
    Lagging {
        behind: u64,
        bound: u64,
    },
}

/// One member of a quorum, judged.
struct Judged<'a> {
    name: &'a str,
    health: Health<'a>,
    /// Its fresh answer, when it gave one.
    state: Option<&'a MemberState>,
}

impl Judged<'_> {
    fn voter(&self) -> bool {
        !self.state.is_some_and(|state| state.is_learner)
    }

    fn healthy(&self) -> bool {
        matches!(self.health, Health::Healthy)
    }
}

/// Every member of `quorum`, judged on this pass's facts.
fn judge<'a>(view: &View<'a>, quorum: &'a QuorumCluster) -> Vec<Judged<'a>> {
    let fresh: Vec<(&'a str, Option<&'a MemberState>, Health<'a>)> = quorum
        .members
        .iter()
        .map(|name| {
            let Some(probe) = view.facts.members.get(name) else {
                return (name.as_str(), None, Health::Unknown);
            };
            match &probe.outcome {
                MemberOutcome::Unreachable { error, kind } => (
                    name.as_str(),
                    None,
                    Health::Unreachable { error, kind: *kind },
                ),
                MemberOutcome::Answered(state) => {
                    let age_seconds = view.now.seconds_since(probe.observed_at);
                    if age_seconds > quorum.freshness_seconds {
                        (name.as_str(), None, Health::Stale { age_seconds })
                    } else {
                        (name.as_str(), Some(state), Health::Healthy)
                    }
                }
            }
        })
        .collect();
    let answers: Vec<&MemberState> = fresh.iter().filter_map(|(_, state, _)| *state).collect();
    let reference = leader(&answers)
        .map(|leader| leader.raft_index)
        .or_else(|| answers.iter().map(|state| state.raft_index).max());
    fresh
        .into_iter()
        .map(|(name, state, health)| {
            let health = match state {
                None => health,
                Some(state) if !state.errors.is_empty() => Health::Errors(&state.errors),
                Some(state) if state.leader_id == 0 => Health::NoLeader,
                Some(state) => {
                    let behind =
                        reference.map_or(0, |index| index.saturating_sub(state.raft_index));
                    if behind > quorum.max_raft_lag {
                        Health::Lagging {
                            behind,
                            bound: quorum.max_raft_lag,
                        }
                    } else {
                        Health::Healthy
                    }
                }
            };
            Judged {
                name,
                health,
                state,
            }
        })
        .collect()
}

/// The member that says it leads, in the highest term any does.
fn leader<'a>(answers: &[&'a MemberState]) -> Option<&'a MemberState> {
    answers
        .iter()
        .copied()
        .filter(|state| state.member_id != 0 && state.member_id == state.leader_id)
        .max_by_key(|state| state.raft_term)
}

/// One member's state, as a person reads it.
fn describe(view: &View, member: &Judged) -> String {
    let name = member.name;
    let state = match member.health {
        Health::Healthy => return format!("`{name}` healthy"),
        Health::Unknown => "was not probed".to_owned(),
        Health::Unreachable { error, kind } => {
            format!("does not answer ({error}; {})", kind.as_str())
        }
        Health::Stale { age_seconds } => {
            format!(
                "answered {} ago, past its freshness",
                human_duration(age_seconds)
            )
        }
        Health::Errors(errors) => format!("reports errors ({})", errors.join("; ")),
        Health::NoLeader => "follows no leader".to_owned(),
        Health::Lagging { behind, bound } => format!(
            "is catching up: {behind} raft entries behind the leader (max_raft_lag {bound})"
        ),
    };
    let since = match view
        .history
        .members
        .get(name)
        .and_then(|record| record.last_healthy)
    {
        Some(at) => format!(
            ", down for {} since it was last healthy",
            human_duration(view.now.seconds_since(at))
        ),
        None => ", never seen healthy".to_owned(),
    };
    format!("`{name}` {state}{since}")
}

/// What `action` does to members, as a phrase, and the members it takes down.
fn taken_down<'a>(view: &View<'a>, action: &Action) -> Option<(String, Vec<&'a str>)> {
    let on_host = |host: &str| -> Vec<&'a str> {
        view.estate
            .etcd_members
            .iter()
            .filter(|member| member.host == host)
            .map(|member| member.name.as_str())
            .collect()
    };
    let (phrase, members) = match action {
        Action::Stop { target } | Action::Restart { target } => {
            let member = view.estate.etcd_member(target)?;
            let verb = if matches!(action, Action::Stop { .. }) {
                "stopping"
            } else {
                "restarting"
            };
            (format!("{verb} `{target}`"), vec![member.name.as_str()])
        }
        Action::Reboot { host } => (format!("rebooting `{host}`"), on_host(host)),
        Action::Image {
            host,
            reboots: true,
        } => (
            format!("imaging `{host}` (which reboots it)"),
            on_host(host),
        ),
        Action::DeleteHost { host } => (format!("deleting `{host}`"), on_host(host)),
        Action::Image { reboots: false, .. }
        | Action::DeletePath { .. }
        | Action::Promote { .. }
        | Action::Rebuild { .. }
        | Action::DeleteData { .. }
        | Action::RestoreBackup { .. }
        | Action::ReplaceMember { .. }
        | Action::RemoveMember { .. }
        | Action::Reload { .. } => return None,
    };
    (!members.is_empty()).then_some((phrase, members))
}

/// One member of a quorum as this pass judges it: what the `quorum` rule counts, and what the
/// pass journals (`last_healthy`, down episodes) so that the two agree on "healthy".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    /// The quorum it belongs to.
    pub quorum: String,
    /// Healthy: answered within the quorum's freshness, no errors, follows a leader, caught up.
    pub healthy: bool,
    /// A voter (anything but a fresh answer saying it is a learner).
    pub voter: bool,
    /// Its state as a person reads it ("`etcd-3` does not answer (…)"), without its history.
    pub state: String,
}

/// Every member of every `[[quorum]]`, judged on `facts` at `now` exactly as the `quorum` rule
/// judges it, by name. A member of no quorum is not judged (it has no freshness or lag bound).
pub fn member_health(
    estate: &Estate,
    facts: &Facts,
    now: Timestamp,
) -> BTreeMap<String, MemberHealth> {
    let history = History::default();
    let view = View {
        estate,
        facts,
        history: &history,
        now,
    };
    let mut judged_members = BTreeMap::new();
    for quorum in &estate.quorums {
        for member in judge(&view, quorum) {
            let mut state = describe(&view, &member);
            if let Some(cut) = state.find(", never seen healthy") {
                state.truncate(cut);
            }
            judged_members.insert(
                member.name.to_owned(),
                MemberHealth {
                    quorum: quorum.name.clone(),
                    healthy: member.healthy(),
                    voter: member.voter(),
                    state,
                },
            );
        }
    }
    judged_members
}

/// "`a`, `b`".
fn names(members: &[&str]) -> String {
    members
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A change of a quorum's membership, judged by its arithmetic rather than as a member taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// `replace-member`: remove it, add a fresh member as a learner (it does not vote while it
    /// catches up).
    Replace,
    /// `remove-member`: remove it for good; the cluster has one voter fewer.
    Remove,
}

/// `ask replace-member` and `ask remove-member`: removing a member changes the voter count (a
/// member of 3 removed leaves 2 voters, quorum 2), and a replacement joins as a learner, which
/// does not vote while it catches up. Replacing a healthy member is a disruption for nothing:
/// denied. Removing a healthy member is allowed only when every other voter is healthy (one
/// disruption per cluster at a time) and the voters left keep their quorum.
fn assess_membership(view: &View, member: &str, change: Membership) -> Vec<Finding> {
    let verb = match change {
        Membership::Replace => "replacing",
        Membership::Remove => "removing",
    };
    let Some(quorum) = view
        .estate
        .quorums
        .iter()
        .find(|quorum| quorum.members.iter().any(|name| name == member))
    else {
        return vec![Finding {
            rule: QUORUM,
            severity: Severity::NeedsHuman,
            subject: member.to_owned(),
            message: format!(
                "`{member}` belongs to no `[[quorum]]`: hadome cannot count what removing it leaves"
            ),
            alternative: Some(format!(
                "declare its cluster with `[[quorum]]` and `members` naming `{member}`"
            )),
        }];
    };
    let judged = judge(view, quorum);
    let Some(changed) = judged.iter().find(|judged| judged.name == member) else {
        return Vec::new();
    };
    if change == Membership::Replace && changed.healthy() {
        return vec![Finding {
            rule: QUORUM,
            severity: Severity::Deny,
            subject: quorum.name.clone(),
            message: format!(
                "`{member}` is healthy: replacing it takes a working voter out of `{}` for nothing \
                 (incident D: the disruption was done to a healthy member)",
                quorum.name
            ),
            alternative: Some(
                "replace only a member that is down; `hadome advise MEMBER` says whether to wait \
                 or replace"
                    .to_owned(),
            ),
        }];
    }
    let voters: Vec<&Judged> = judged.iter().filter(|member| member.voter()).collect();
    let majority = voters.len() / 2 + 1;
    let states: Vec<String> = voters.iter().map(|member| describe(view, member)).collect();
    let after: Vec<&&Judged> = voters
        .iter()
        .filter(|judged| judged.name != member)
        .collect();
    let majority_after = after.len() / 2 + 1;
    let healthy_after: Vec<&str> = after
        .iter()
        .filter(|judged| judged.healthy())
        .map(|judged| judged.name)
        .collect();
    let unhealthy_after: Vec<&str> = after
        .iter()
        .filter(|judged| !judged.healthy())
        .map(|judged| judged.name)
        .collect();
    let tail = match change {
        Membership::Replace => {
            "; the fresh member joins as a learner and does not vote while it catches up"
        }
        Membership::Remove => "",
    };
    let arithmetic = format!(
        "{} voters, quorum {majority}: {}; removing `{member}` leaves {} voters, quorum \
         {majority_after}: {} healthy ({}){tail}",
        voters.len(),
        states.join("; "),
        after.len(),
        healthy_after.len(),
        names(&healthy_after)
    );
    if healthy_after.len() < majority_after {
        vec![Finding {
            rule: QUORUM,
            severity: Severity::Deny,
            subject: quorum.name.clone(),
            message: format!(
                "{arithmetic}: under the quorum of {majority_after}, `{}` would stop accepting writes",
                quorum.name
            ),
            alternative: Some(
                "bring another member back first: a member that is down often comes back by itself"
                    .to_owned(),
            ),
        }]
    } else if changed.healthy() && !unhealthy_after.is_empty() {
        vec![Finding {
            rule: QUORUM,
            severity: Severity::Deny,
            subject: quorum.name.clone(),
            message: format!(
                "{arithmetic}: one disruption per quorum cluster at a time, and {} is not healthy \
                 yet",
                names(&unhealthy_after)
            ),
            alternative: Some(format!(
                "bring {} back and caught up first, then ask again",
                names(&unhealthy_after)
            )),
        }]
    } else if healthy_after.len() == majority_after {
        let until = match change {
            Membership::Replace => "until the new member is promoted to a voter",
            Membership::Remove => "until a member is added back",
        };
        vec![Finding {
            rule: QUORUM,
            severity: Severity::Warn,
            subject: quorum.name.clone(),
            message: format!(
                "{arithmetic}: exactly the quorum after {verb} `{member}`, every one of {} must \
                 stay healthy {until}",
                names(&healthy_after)
            ),
            alternative: None,
        }]
    } else {
        Vec::new()
    }
}

/// `ask`: an action that takes voting members down.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    match action {
        Action::ReplaceMember { member } => {
            return assess_membership(view, member, Membership::Replace)
        }
        Action::RemoveMember { member } => {
            return assess_membership(view, member, Membership::Remove)
        }
        _ => {}
    }
    let Some((phrase, down)) = taken_down(view, action) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for quorum in &view.estate.quorums {
        let judged = judge(view, quorum);
        let voters: Vec<&Judged> = judged.iter().filter(|member| member.voter()).collect();
        let taken: Vec<&str> = voters
            .iter()
            .map(|member| member.name)
            .filter(|name| down.contains(name))
            .collect();
        if taken.is_empty() {
            continue;
        }
        let majority = voters.len() / 2 + 1;
        let left = voters
            .iter()
            .filter(|member| member.healthy() && !taken.contains(&member.name))
            .count();
        let states: Vec<String> = voters.iter().map(|member| describe(view, member)).collect();
        let arithmetic = format!(
            "{} voters, quorum {majority}: {}; {phrase} takes {} down: {left} healthy left",
            voters.len(),
            states.join("; "),
            names(&taken)
        );
        let unhealthy: Vec<&str> = voters
            .iter()
            .filter(|member| !member.healthy() && !taken.contains(&member.name))
            .map(|member| member.name)
            .collect();
        if left < majority {
            let mut alternative = if unhealthy.is_empty() {
                format!(
                    "keep {} up: `{}` cannot lose it",
                    names(&taken),
                    quorum.name
                )
            } else {
                format!(
                    "bring {} back and caught up first (a member that is down often comes back \
                     by itself: wait, then ask again)",
                    names(&unhealthy)
                )
            };
            if matches!(action, Action::Image { .. }) {
                alternative.push_str("; or take the image without rebooting (`--no-reboot`)");
            }
            findings.push(Finding {
                rule: QUORUM,
                severity: Severity::Deny,
                subject: quorum.name.clone(),
                message: format!(
                    "{arithmetic}, under the quorum of {majority}: `{}` would stop accepting writes",
                    quorum.name
                ),
                alternative: Some(alternative),
            });
        } else if !unhealthy.is_empty() {
            findings.push(Finding {
                rule: QUORUM,
                severity: Severity::Deny,
                subject: quorum.name.clone(),
                message: format!(
                    "{arithmetic}: one disruption per quorum cluster at a time, and {} is not \
                     healthy yet",
                    names(&unhealthy)
                ),
                alternative: Some(format!(
                    "bring {} back and caught up first, then ask again",
                    names(&unhealthy)
                )),
            });
        } else if left == majority {
            findings.push(Finding {
                rule: QUORUM,
                severity: Severity::Warn,
                subject: quorum.name.clone(),
                message: format!(
                    "{arithmetic}, exactly the quorum: one more failure while it lasts stops writes"
                ),
                alternative: None,
            });
        }
    }
    findings
}

/// `check`: each quorum's majority, leaders, alarms and member lists.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for quorum in &view.estate.quorums {
        let finding = |severity: Severity, message: String, alternative: Option<String>| Finding {
            rule: QUORUM,
            severity,
            subject: quorum.name.clone(),
            message,
            alternative,
        };
        let judged = judge(view, quorum);
        let voters: Vec<&Judged> = judged.iter().filter(|member| member.voter()).collect();
        let majority = voters.len() / 2 + 1;
        let healthy = voters.iter().filter(|member| member.healthy()).count();
        let unhealthy: Vec<String> = voters
            .iter()
            .filter(|member| !member.healthy())
            .map(|member| describe(view, member))
            .collect();
        if healthy < majority {
            findings.push(finding(
                Severity::Deny,
                format!(
                    "`{}` has no healthy majority: {} voters, quorum {majority}, {healthy} healthy: {}",
                    quorum.name,
                    voters.len(),
                    unhealthy.join("; ")
                ),
                Some("bring members back before any other action on the cluster".to_owned()),
            ));
        } else if healthy == majority && !unhealthy.is_empty() {
            findings.push(finding(
                Severity::Warn,
                format!(
                    "`{}` tolerates no further failure: {} voters, quorum {majority}, {healthy} healthy: {}",
                    quorum.name,
                    voters.len(),
                    unhealthy.join("; ")
                ),
                None,
            ));
        }
        let answers: Vec<(&str, &MemberState)> = judged
            .iter()
            .filter_map(|member| member.state.map(|state| (member.name, state)))
            .collect();
        let id_name: BTreeMap<u64, &str> = answers
            .iter()
            .flat_map(|(_, state)| state.members.iter())
            .map(|(id, name)| (*id, name.as_str()))
            .collect();
        let who = |id: u64| match id_name.get(&id) {
            Some(name) => format!("`{name}`"),
            None => format!("member {id:x}"),
        };
        let mut alarms: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, state) in &answers {
            for alarm in &state.alarms {
                alarms.entry(alarm.as_str()).or_default().push(name);
            }
        }
        for (alarm, reporters) in alarms {
            let meaning = match alarm {
                "NOSPACE" => {
                    "its database reached its quota: etcd refuses writes until the \
                              space is freed (compact, defragment) and the alarm disarmed"
                }
                "CORRUPT" => {
                    "a member's data does not match the others': stop acting on the \
                              cluster and have a person inspect it"
                }
                _ => "etcd raised it",
            };
            findings.push(finding(
                Severity::Deny,
                format!(
                    "`{}` has alarm {alarm} (reported by {}): {meaning}",
                    quorum.name,
                    names(&reporters)
                ),
                None,
            ));
        }
        if !answers.is_empty() && answers.iter().all(|(_, state)| state.leader_id == 0) {
            findings.push(finding(
                Severity::Deny,
                format!(
                    "`{}` has no leader: {} answered and none follows a leader",
                    quorum.name,
                    names(&answers.iter().map(|(name, _)| *name).collect::<Vec<_>>())
                ),
                None,
            ));
        }
        let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for (_, state) in &answers {
            if state.leader_id != 0 {
                leaders
                    .entry(state.raft_term)
                    .or_default()
                    .insert(state.leader_id);
            }
        }
        for (term, ids) in leaders {
            if ids.len() > 1 {
                let named: Vec<String> = ids.iter().map(|id| who(*id)).collect();
                findings.push(finding(
                    Severity::Deny,
                    format!(
                        "`{}` has two leaders in term {term}: members follow {}",
                        quorum.name,
                        named.join(" and ")
                    ),
                    Some("stop acting on the cluster and have a person inspect it".to_owned()),
                ));
            }
        }
        let mut lists: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
        // A learner is not told the member list (etcd refuses it the call): it has none to compare.
        for (name, state) in answers.iter().filter(|(_, state)| !state.is_learner) {
            let mut list: Vec<&str> = state
                .members
                .iter()
                .map(|(_, name)| name.as_str())
                .collect();
            list.sort_unstable();
            lists.entry(list).or_default().push(name);
        }
        if lists.len() > 1 {
            let shown: Vec<String> = lists
                .iter()
                .map(|(list, reporters)| format!("{} list [{}]", names(reporters), list.join(", ")))
                .collect();
            findings.push(finding(
                Severity::Warn,
                format!(
                    "`{}`'s members disagree on its member list: {}",
                    quorum.name,
                    shown.join("; ")
                ),
                Some("finish or undo the membership change under way before acting".to_owned()),
            ));
        }
    }
    findings
}
