//! Wait or replace: the runbook's decision point for a quorum member that is down (issue 13,
//! incident D, `hadome advise MEMBER`).
//!
//! In incident D the broken member would have come back by itself; the hurry to get back to three
//! members cost the quorum. [`advise`] gives the decision with its reasons, from facts only:
//! - how long it has been down (the journal's `last_healthy`: it survives a restart of hadome);
//! - whether its host answers (its `[[host]]`'s facts, when one is declared);
//! - whether its data directory is intact (when its `[[host]]` lists the member's `data_dir` in
//!   `data_paths`);
//! - how long it took to come back before (the journal's closed down episodes);
//! - whether replacing it would itself cross the quorum line: removing it leaves one voter
//!   fewer, and the fresh member joins as a learner, which does not vote while it catches up.
//!
//! The decision MUST be:
//! - `healthy` when the member is healthy (nothing to decide; `replace-member` is denied);
//! - `needs-human` when hadome never saw it healthy (how long it has been down is unknown), when
//!   it is in no `[[quorum]]`, or when it should be replaced but replacing it would cross the
//!   quorum line;
//! - `replace` when its data directory is gone (it cannot come back by itself), or when it has
//!   been down longer than [`wait_bound_seconds`] (twice its longest comeback before, at least
//!   [`WAIT_AT_LEAST_SECONDS`]), and replacing it keeps a healthy majority;
//! - `wait` otherwise: recently down, so it likely comes back by itself.

use crate::estate::Estate;
use crate::fact::{Facts, History, Timestamp};
use crate::finding::human_duration;
use crate::interlock::{member_health, HostKnowledge, View};

/// A member down for less than this is waited for, whatever its history: a restart, a reboot,
/// a network blip take minutes (30 min).
pub const WAIT_AT_LEAST_SECONDS: f64 = 30.0 * 60.0;

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The member is healthy: there is nothing to wait for or replace.
    Healthy,
    /// Wait for it to come back by itself.
    Wait,
    /// Replace it (`hadome run replace-member MEMBER`).
    Replace,
    /// The facts do not decide it: a person does.
    NeedsHuman,
}

impl Decision {
    /// `healthy`, `wait`, `replace`, `needs-human`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Healthy => "healthy",
            Decision::Wait => "wait",
            Decision::Replace => "replace",
            Decision::NeedsHuman => "needs-human",
        }
    }
}

/// The decision for one member and the facts it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// The member.
    pub member: String,
    /// The decision.
    pub decision: Decision,
    /// Each fact weighed, as a sentence, in the order above.
    pub reasons: Vec<String>,
    /// How long it has been down (since it was last healthy), when known.
    pub down_seconds: Option<f64>,
    /// How long it is waited for before replacing it ([`wait_bound_seconds`]).
    pub wait_bound_seconds: f64,
    /// Whether replacing it keeps a healthy majority while the new member catches up.
    pub replace_keeps_quorum: bool,
}

/// How long a member is waited for: twice its longest comeback before, at least
/// [`WAIT_AT_LEAST_SECONDS`].
pub fn wait_bound_seconds(longest_comeback_seconds: Option<f64>) -> f64 {
    longest_comeback_seconds.map_or(WAIT_AT_LEAST_SECONDS, |longest| {
        (2.0 * longest).max(WAIT_AT_LEAST_SECONDS)
    })
}

/// Whether the data directory is intact, as its host's facts show it.
enum DataDir {
    Intact(String),
    Gone(String),
    Unknown(String),
}

/// The advice for `member` on this pass's facts; `None` when the estate has no `[[etcd]]` of
/// that name.
pub fn advise(
    estate: &Estate,
    facts: &Facts,
    history: &History,
    now: Timestamp,
    member: &str,
) -> Option<Advice> {
    let declared = estate.etcd_member(member)?;
    let view = View {
        estate,
        facts,
        history,
        now,
    };
    let health = member_health(estate, facts, now);
    let mut reasons = Vec::new();
    let Some(judged) = health.get(member) else {
        reasons.push(format!(
            "`{member}` belongs to no `[[quorum]]`: hadome cannot judge it or count its cluster"
        ));
        return Some(Advice {
            member: member.to_owned(),
            decision: Decision::NeedsHuman,
            reasons,
            down_seconds: None,
            wait_bound_seconds: WAIT_AT_LEAST_SECONDS,
            replace_keeps_quorum: false,
        });
    };
    let known = history.members.get(member);
    let episodes: Vec<f64> = known
        .map(|known| {
            known
                .episodes
                .iter()
                .filter(|episode| episode.back_at.is_some())
                .map(|episode| episode.down_seconds(now))
                .collect()
        })
        .unwrap_or_default();
    let longest = episodes.iter().copied().reduce(f64::max);
    let bound = wait_bound_seconds(longest);

    // Replacing it: one voter fewer, the learner not voting while it catches up.
    let others: Vec<(&String, &crate::interlock::MemberHealth)> = health
        .iter()
        .filter(|(name, other)| {
            other.quorum == judged.quorum && other.voter && name.as_str() != member
        })
        .collect();
    let voters_after = others.len();
    let majority_after = voters_after / 2 + 1;
    let healthy_after = others.iter().filter(|(_, other)| other.healthy).count();
    let replace_keeps_quorum = healthy_after >= majority_after;
    let arithmetic = format!(
        "replacing it leaves {voters_after} voters, quorum {majority_after}, {healthy_after} \
         healthy while the fresh member catches up as a learner (it does not vote)"
    );

    if judged.healthy {
        reasons.push(format!(
            "{}: there is nothing to wait for, and replacing a healthy member is a disruption \
             (incident D)",
            judged.state
        ));
        return Some(Advice {
            member: member.to_owned(),
            decision: Decision::Healthy,
            reasons,
            down_seconds: None,
            wait_bound_seconds: bound,
            replace_keeps_quorum,
        });
    }

    let down_seconds = known
        .and_then(|known| known.last_healthy)
        .map(|at| now.seconds_since(at).max(0.0));
    reasons.push(match down_seconds {
        Some(seconds) => format!(
            "{}; down for {} (since it was last healthy); hadome waits up to {} before replacing",
            judged.state,
            human_duration(seconds),
            human_duration(bound)
        ),
        None => format!(
            "{}; hadome never saw it healthy: how long it has been down is unknown",
            judged.state
        ),
    });

    let host_answers = if estate.host(&declared.host).is_none() {
        reasons.push(format!(
            "no `[[host]]` is declared for `{}`: whether its host answers is not known",
            declared.host
        ));
        None
    } else {
        match view.host_knowledge(&declared.host) {
            HostKnowledge::Fresh(_) => {
                reasons.push(format!("its host `{}` answers", declared.host));
                Some(true)
            }
            HostKnowledge::Stale { age_seconds, .. } => {
                reasons.push(format!(
                    "its host `{}` last answered {} ago",
                    declared.host,
                    human_duration(age_seconds)
                ));
                None
            }
            HostKnowledge::Unreachable { error, .. } => {
                reasons.push(format!(
                    "its host `{}` does not answer either ({error})",
                    declared.host
                ));
                Some(false)
            }
            HostKnowledge::Unknown => {
                reasons.push(format!("its host `{}` was not read", declared.host));
                None
            }
        }
    };

    let data_dir = data_dir(&view, declared, host_answers);
    reasons.push(match &data_dir {
        DataDir::Intact(text) | DataDir::Gone(text) | DataDir::Unknown(text) => text.clone(),
    });

    reasons.push(match longest {
        Some(longest) => format!(
            "it came back by itself {} time{} before, after at most {}",
            episodes.len(),
            if episodes.len() == 1 { "" } else { "s" },
            human_duration(longest)
        ),
        None => "the journal holds no earlier time it came back".to_owned(),
    });
    reasons.push(if replace_keeps_quorum {
        format!("{arithmetic}: it keeps the quorum")
    } else {
        format!("{arithmetic}: it would cross the quorum line")
    });

    let replace_or_human = if replace_keeps_quorum {
        Decision::Replace
    } else {
        Decision::NeedsHuman
    };
    let decision = match (&data_dir, down_seconds) {
        (DataDir::Gone(_), _) => replace_or_human,
        (_, None) => Decision::NeedsHuman,
        (_, Some(seconds)) if seconds >= bound => replace_or_human,
        (_, Some(_)) => Decision::Wait,
    };
    Some(Advice {
        member: member.to_owned(),
        decision,
        reasons,
        down_seconds,
        wait_bound_seconds: bound,
        replace_keeps_quorum,
    })
}

/// Its data directory as its host's facts show it: only a host that answers and lists the
/// member's `data_dir` in its `data_paths` tells.
fn data_dir(
    view: &View,
    member: &crate::quorum::EtcdMember,
    host_answers: Option<bool>,
) -> DataDir {
    let Some(path) = &member.data_dir else {
        return DataDir::Unknown(
            "its data directory is not declared (`data_dir` in its `[[etcd]]`): whether it is \
             intact is not known"
                .to_owned(),
        );
    };
    let shown = path.display();
    let HostKnowledge::Fresh(host_facts) = view.host_knowledge(&member.host) else {
        return DataDir::Unknown(format!(
            "whether its data directory `{shown}` is intact is not known{}",
            if host_answers == Some(false) {
                ": its host does not answer"
            } else {
                ""
            }
        ));
    };
    match host_facts.data_paths.iter().find(|fact| &fact.path == path) {
        None => DataDir::Unknown(format!(
            "whether its data directory `{shown}` is intact is not known: list it in `{}`'s \
             `data_paths`",
            member.host
        )),
        Some(fact) => match &fact.outcome {
            Ok(state) if state.files > 0 => DataDir::Intact(format!(
                "its data directory `{shown}` is intact ({} files, {} bytes)",
                state.files, state.size_bytes
            )),
            Ok(_) => DataDir::Gone(format!(
                "its data directory `{shown}` is empty: it cannot come back by itself"
            )),
            Err(error) => DataDir::Gone(format!(
                "its data directory `{shown}` cannot be read ({error}): it cannot come back by itself"
            )),
        },
    }
}

#[cfg(test)]
#[path = "advise_tests.rs"]
mod tests;
