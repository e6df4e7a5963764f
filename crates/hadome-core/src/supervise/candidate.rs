//! Choosing the standby to promote: the most advanced member whose promotion the interlocks
//! allow (`promote-eligibility`), on the facts the caller observed.

use crate::action::Action;
use crate::estate::{Cluster, Estate};
use crate::fact::{Facts, History, Timestamp};
use crate::finding::{Severity, Verdict};
use crate::interlock::{self, Assessment, View};
use crate::position::PositionOrder;
use crate::sync_rep::CommitWait;

/// Why an assessment refuses, one clause per blocking finding.
pub(super) fn refusal(assessment: &Assessment) -> String {
    assessment
        .findings
        .iter()
        .filter(|finding| finding.severity >= Severity::NeedsHuman)
        .map(|finding| format!("{} ({})", finding.message, finding.rule))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A standby the interlocks allow to be promoted.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its name.
    pub name: String,
    /// The assessment of its promotion (allow, possibly with warnings).
    pub assessment: Assessment,
}

/// The most advanced member of `cluster` (other than `old_primary`) whose promotion the interlocks
/// allow; on equal positions, one the old primary waited for as synchronous, then the first in the
/// cluster's order. `Err` lists, per standby, why not.
pub fn choose_candidate(
    estate: &Estate,
    facts: &Facts,
    history: &History,
    now: Timestamp,
    cluster: &Cluster,
    old_primary: &str,
    synchronous: &[String],
) -> Result<Candidate, Vec<String>> {
    let view = View {
        estate,
        facts,
        history,
        now,
    };
    let mut eligible: Vec<Candidate> = Vec::new();
    let mut refusals = Vec::new();
    for member in cluster
        .members
        .iter()
        .filter(|member| member.as_str() != old_primary)
    {
        let assessment = interlock::assess(
            estate,
            facts,
            history,
            &Action::Promote {
                target: member.clone(),
            },
            now,
        );
        if matches!(assessment.verdict, Verdict::Allow | Verdict::AllowAfter) {
            eligible.push(Candidate {
                name: member.clone(),
                assessment,
            });
        } else {
            refusals.push(format!("`{member}`: {}", refusal(&assessment)));
        }
    }
    let synchronous_of = |name: &str| {
        estate.instance(name).is_some_and(|instance| {
            synchronous
                .iter()
                .any(|name| name.eq_ignore_ascii_case(&instance.application_name))
        })
    };
    let mut best: Option<Candidate> = None;
    for candidate in eligible {
        let better = match &best {
            None => true,
            Some(current) => match (view.fresh(&candidate.name), view.fresh(&current.name)) {
                (Some(mine), Some(theirs)) => match mine.position.compare(&theirs.position) {
                    PositionOrder::Ahead => true,
                    PositionOrder::Equal => {
                        synchronous_of(&candidate.name) && !synchronous_of(&current.name)
                    }
                    _ => false,
                },
                _ => false,
            },
        };
        if better {
            best = Some(candidate);
        }
    }
    best.ok_or(refusals)
}

/// Why nothing proves that `candidate` holds every commit `old_primary` acknowledged (`None`:
/// something does), for the `async_failover` policy.
///
/// A commit a primary acknowledged waited for at least one of the standbys its
/// `synchronous_standby_names` names (with `synchronous_commit` at `on`, its default,
/// `remote_write` or `remote_apply`; [`crate::sync_rep`]), so the most advanced of them holds it:
/// the proof is that the primary waited for named standbys when hadome last saw it (`wait`), that
/// every named member answers now (every other member, for `*`), and that `candidate` is not
/// behind any of them. A name no member of the cluster has escapes the proof: some other standby
/// may have acknowledged what none of the members holds. An asynchronous primary's commits
/// waited for no standby: whatever it acknowledged after its last message to `candidate` is on its
/// own disk alone.
pub(super) fn unproven_loss(
    view: &View,
    cluster: &Cluster,
    old_primary: &str,
    candidate: &str,
    wait: Option<&CommitWait>,
) -> Option<String> {
    let estate = view.estate;
    let names = match wait {
        None => {
            return Some(format!(
                "hadome never saw `{old_primary}` answer as a primary and its journal does not say what it waited for, so nothing proves `{candidate}` holds every commit it acknowledged"
            ))
        }
        Some(CommitWait::Nobody(why)) => {
            return Some(format!(
                "`{old_primary}` acknowledged commits without waiting for any standby when hadome last saw it ({why}): nothing proves `{candidate}` holds the last of them"
            ))
        }
        Some(CommitWait::Unknown(why)) => {
            return Some(format!(
                "what `{old_primary}` waited for before acknowledging a commit is not known ({why}): nothing proves `{candidate}` holds every commit it acknowledged"
            ))
        }
        Some(CommitWait::Standbys(names)) => names,
    };
    let Some(mine) = view.fresh(candidate) else {
        return Some(format!("`{candidate}` does not answer"));
    };
    let application_name = |member: &str| {
        estate
            .instance(member)
            .map(|instance| instance.application_name.as_str())
    };
    let mut witnesses: Vec<&str> = Vec::new();
    if names.iter().any(|name| name == "*") {
        witnesses.extend(cluster.members.iter().map(String::as_str));
    }
    for name in names.iter().filter(|name| name.as_str() != "*") {
        let member = cluster.members.iter().find(|member| {
            application_name(member).is_some_and(|known| known.eq_ignore_ascii_case(name))
        });
        let Some(member) = member else {
            return Some(format!(
                "`{old_primary}`'s synchronous_standby_names names `{name}`, and no member of `{}` has that application_name: a standby outside the estate may hold commits `{candidate}` lacks (name only the cluster's members there, or add that standby to the estate)",
                cluster.name
            ));
        };
        witnesses.push(member);
    }
    for member in witnesses {
        if member == candidate || member == old_primary {
            continue;
        }
        let Some(theirs) = view.fresh(member) else {
            return Some(format!(
                "`{member}`, which `{old_primary}` waited for as a synchronous standby, does not answer: nothing proves `{candidate}` holds every commit `{old_primary}` acknowledged"
            ));
        };
        if !matches!(
            mine.position.compare(&theirs.position),
            PositionOrder::Ahead | PositionOrder::Equal
        ) {
            return Some(format!(
                "`{candidate}` is not proven to be at or past `{member}`, which `{old_primary}` waited for as a synchronous standby ({} against {}): commits acknowledged on `{member}`'s word may be missing",
                mine.position, theirs.position
            ));
        }
    }
    None
}
