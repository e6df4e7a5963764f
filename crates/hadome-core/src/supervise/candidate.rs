//! Choosing the standby to promote: the most advanced member whose promotion the interlocks
//! allow (`promote-eligibility`), on the facts the caller observed.

use crate::action::Action;
use crate::estate::{Cluster, Estate};
use crate::fact::{Facts, History, Timestamp};
use crate::finding::{Severity, Verdict};
use crate::interlock::{self, Assessment, View};
use crate::position::PositionOrder;

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
/// allow; on equal positions, one the old primary listed as synchronous, then the first in the
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
        estate
            .instance(name)
            .is_some_and(|instance| synchronous.contains(&instance.application_name))
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
/// A commit a primary acknowledged waited (with `synchronous_commit` on, its default) for at
/// least one of the standbys it listed as synchronous, so the most advanced of them holds it: the
/// proof is that `old_primary` listed at least one (`synchronous`, as it last listed them), that
/// every one of them answers now, and that `candidate` is not behind any of them. An asynchronous
/// primary's commits waited for no standby: whatever it acknowledged after its last message to
/// `candidate` is on its own disk alone.
pub(super) fn unproven_loss(
    view: &View,
    cluster: &Cluster,
    old_primary: &str,
    candidate: &str,
    synchronous: &[String],
) -> Option<String> {
    let estate = view.estate;
    if synchronous.is_empty() {
        return Some(format!(
            "`{old_primary}` listed no synchronous standby when hadome last saw it, so it acknowledged commits without waiting for any standby: nothing proves `{candidate}` holds the last of them"
        ));
    }
    let Some(mine) = view.fresh(candidate) else {
        return Some(format!("`{candidate}` does not answer"));
    };
    for application_name in synchronous {
        let member = cluster.members.iter().find(|member| {
            estate
                .instance(member)
                .is_some_and(|instance| &instance.application_name == application_name)
        });
        let Some(member) = member else {
            return Some(format!(
                "`{old_primary}` listed `{application_name}` as synchronous, and no member of `{}` has that application_name: nothing proves `{candidate}` holds what it acknowledged",
                cluster.name
            ));
        };
        if member == candidate {
            continue;
        }
        let Some(theirs) = view.fresh(member) else {
            return Some(format!(
                "`{member}`, which `{old_primary}` listed as synchronous, does not answer: nothing proves `{candidate}` holds every commit `{old_primary}` acknowledged"
            ));
        };
        if !matches!(
            mine.position.compare(&theirs.position),
            PositionOrder::Ahead | PositionOrder::Equal
        ) {
            return Some(format!(
                "`{candidate}` is not proven to be at or past `{member}`, which `{old_primary}` listed as synchronous ({} against {}): commits acknowledged on `{member}`'s word may be missing",
                mine.position, theirs.position
            ));
        }
    }
    None
}
