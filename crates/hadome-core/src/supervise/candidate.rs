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
