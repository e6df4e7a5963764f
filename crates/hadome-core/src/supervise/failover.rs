//! The failover protocol as a state machine: fence → observe again → choose → promote → resync →
//! follow → done (or escalated).
//!
//! The supervisor decides *that* a cluster fails over ([`Command::Failover`](super::Command));
//! this machine says *how*, one step at a time. The daemon's shell asks it for the next step
//! ([`Failover::next_step`]), carries the step out, and reports what happened
//! ([`Failover::handle_step`], or [`Failover::handle_facts`] after it observed the estate again).
//! After every report the shell journals the whole [`Failover`] as a typed record, so a daemon
//! started after a `kill -9` at any phase reads back exactly what was done — the old primary's
//! fence included — and carries on from there ([`Failover::resumed`]), never promoting a second
//! member and never forgetting that the old primary was fenced.
//!
//! Every step is safe to repeat, which is what makes "carry on from the last journaled phase"
//! correct when the kill fell between a step and its record: fencing a fenced instance succeeds;
//! a resumed failover observes again before it promotes, and adopts a member that already accepts
//! writes instead of promoting another; clearing and restoring `synchronous_standby_names` and
//! repointing a standby at the primary it already follows change nothing.
//!
//! ```text
//!  Fencing ──fenced──▶ Reobserving ──candidate──▶ Promoting ──promoted──▶ Resyncing ──▶ Following ──▶ Done
//!     │                    │    └──a member already accepts writes──────────▲              (each follower,
//!     │ fence failed       │ no standby may be promoted                                     then sync again)
//!     ▼                    ▼                         promote failed
//!  Escalated ◀─────────────┴─────────────────────────────────┘
//! ```
//!
//! Rule `promote-eligibility`: nothing is promoted before the old primary is fenced (a hung
//! primary that resumes must not find a second one beside it), and the candidate is chosen on
//! facts observed after the fence.

use crate::estate::{AsyncFailoverPolicy, Estate};
use crate::fact::{Facts, History, ProbeOutcome, Timestamp};
use crate::interlock::View;
use crate::rule;

use super::candidate::unproven_loss;
use super::{choose_candidate, Escalation, FailoverPlan};
use crate::sync_rep::CommitWait;

/// Where a failover stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailoverPhase {
    /// The old primary is to be fenced (or its fence is not known to be done).
    Fencing,
    /// The old primary is fenced; the estate is to be observed again and the candidate chosen
    /// on those facts.
    Reobserving,
    /// The candidate is chosen and is to be promoted.
    Promoting,
    /// The new primary accepts writes; its `synchronous_standby_names` is to be cleared, so it
    /// does not wait for a standby named after itself or the old primary.
    Resyncing,
    /// The other standbys are to follow the new primary, then commits wait for one of them again.
    Following,
    /// One primary, the old one fenced, the others following it.
    Done,
    /// Stopped, and a person is told why.
    Escalated,
}

impl FailoverPhase {
    /// Every phase, in protocol order.
    pub const ALL: [FailoverPhase; 7] = [
        FailoverPhase::Fencing,
        FailoverPhase::Reobserving,
        FailoverPhase::Promoting,
        FailoverPhase::Resyncing,
        FailoverPhase::Following,
        FailoverPhase::Done,
        FailoverPhase::Escalated,
    ];

    /// The phase as one word (journal records, logs, failpoints).
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverPhase::Fencing => "fencing",
            FailoverPhase::Reobserving => "reobserving",
            FailoverPhase::Promoting => "promoting",
            FailoverPhase::Resyncing => "resyncing",
            FailoverPhase::Following => "following",
            FailoverPhase::Done => "done",
            FailoverPhase::Escalated => "escalated",
        }
    }

    /// The phase named `word` ([`as_str`](FailoverPhase::as_str)).
    pub fn parse(word: &str) -> Option<FailoverPhase> {
        FailoverPhase::ALL
            .into_iter()
            .find(|phase| phase.as_str() == word)
    }
}

/// What a standby other than the old and the new primary has been told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowState {
    /// Not repointed yet.
    Pending,
    /// It follows the new primary (its follow command succeeded).
    Followed,
    /// Its follow command failed, or it has none: it keeps its old upstream.
    Failed,
}

/// A standby that is to follow the new primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// The instance.
    pub name: String,
    /// Its `application_name` (what `synchronous_standby_names` lists).
    pub application_name: String,
    /// What it has been told.
    pub state: FollowState,
}

/// One failover in progress, or as it ended: everything a daemon needs to carry it on.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    /// The cluster.
    pub cluster: String,
    /// The failed primary, fenced first.
    pub old_primary: String,
    /// Why the primary counts as failed (`primary-agreement`), in one line with numbers.
    pub evidence: String,
    /// The `application_name`s the old primary waited for (its `synchronous_standby_names`, `*`
    /// for any) when it last answered: they break ties
    /// between equally advanced candidates, and tell whether commits must wait for a follower
    /// again once the others follow.
    pub synchronous: Vec<String>,
    /// Where it stands.
    pub phase: FailoverPhase,
    /// Whether the old primary's fence is done (it stays known after an escalation).
    pub fenced: bool,
    /// The member chosen on the facts observed after the fence; once the phase is past
    /// [`Promoting`](FailoverPhase::Promoting), the member that accepts writes.
    pub new_primary: Option<String>,
    /// The other standbys, to follow the new primary.
    pub followers: Vec<Follower>,
    /// Whether `synchronous_standby_names` was set again after the follows.
    pub synchronous_restored: bool,
    /// Why it stopped ([`Escalated`](FailoverPhase::Escalated)), else empty.
    pub stopped_because: String,
}

/// What the shell must do next for a [`Failover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverStep {
    /// Fence the old primary (its fence command): it must accept no more writes, even hung.
    Fence {
        /// The old primary.
        target: String,
    },
    /// Observe the estate again, then hand the facts to [`Failover::handle_facts`].
    Observe,
    /// `pg_promote()` the candidate, then wait until it accepts writes.
    Promote {
        /// The candidate.
        target: String,
    },
    /// Set the new primary's `synchronous_standby_names` (`''` to stop waiting for standbys;
    /// `ANY 1 (…)` once followers stream again).
    SetSynchronous {
        /// The new primary.
        primary: String,
        /// The value.
        value: String,
    },
    /// Repoint a standby at the new primary (its follow command).
    Follow {
        /// The standby.
        target: String,
        /// The new primary.
        primary: String,
    },
    /// Journal the outcome: the failover is over.
    Finish {
        /// Whether it succeeded.
        ok: bool,
        /// One line, for the outcome.
        detail: String,
        /// For a failover that stopped: what a person must hear.
        escalation: Option<Escalation>,
    },
}

/// What became of the step the shell carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// It was done; what was done, in one line.
    Done(String),
    /// It failed; why, in one line.
    Failed(String),
}

impl Failover {
    /// A failover the supervisor just ordered, with the old primary's synchronous standbys as it
    /// last listed them: nothing is done yet.
    pub fn start(plan: &FailoverPlan, synchronous: &[String]) -> Failover {
        Failover {
            cluster: plan.cluster.clone(),
            old_primary: plan.old_primary.clone(),
            evidence: plan.evidence.clone(),
            synchronous: synchronous.to_vec(),
            phase: FailoverPhase::Fencing,
            fenced: false,
            new_primary: None,
            followers: Vec::new(),
            synchronous_restored: false,
            stopped_because: String::new(),
        }
    }

    /// The failover as a new daemon carries it on from its last journaled record. A step may
    /// have been done after that record was written (the kill fell between the two): a
    /// promotion is therefore never repeated blindly — a failover read back while choosing or
    /// promoting observes again first, and adopts a member that already accepts writes.
    pub fn resumed(mut self) -> Failover {
        if self.phase == FailoverPhase::Promoting {
            self.phase = FailoverPhase::Reobserving;
        }
        self
    }

    /// The member that accepts writes, once it was promoted (or found promoted).
    pub fn promoted(&self) -> Option<&str> {
        match self.phase {
            FailoverPhase::Resyncing | FailoverPhase::Following | FailoverPhase::Done => {
                self.new_primary.as_deref()
            }
            _ => None,
        }
    }

    /// Whether the failover is over (its outcome is to be journaled).
    pub fn is_over(&self) -> bool {
        matches!(self.phase, FailoverPhase::Done | FailoverPhase::Escalated)
    }

    /// What the shell must do next.
    pub fn next_step(&self) -> FailoverStep {
        let primary = self.new_primary.clone().unwrap_or_default();
        match self.phase {
            FailoverPhase::Fencing => FailoverStep::Fence {
                target: self.old_primary.clone(),
            },
            FailoverPhase::Reobserving => FailoverStep::Observe,
            FailoverPhase::Promoting => FailoverStep::Promote { target: primary },
            FailoverPhase::Resyncing => FailoverStep::SetSynchronous {
                primary,
                value: String::new(),
            },
            FailoverPhase::Following => match self.pending_follower() {
                Some(follower) => FailoverStep::Follow {
                    target: follower.name.clone(),
                    primary,
                },
                // Commits wait for a follower again only where they waited for a standby before
                // (`settle` ends the phase when they need not).
                None => FailoverStep::SetSynchronous {
                    primary,
                    value: self.restored_synchronous().unwrap_or_default(),
                },
            },
            FailoverPhase::Done => FailoverStep::Finish {
                ok: true,
                detail: format!(
                    "failover of `{}` from `{}` to `{primary}` done",
                    self.cluster, self.old_primary
                ),
                escalation: None,
            },
            FailoverPhase::Escalated => FailoverStep::Finish {
                ok: false,
                detail: self.stopped_because.clone(),
                escalation: Some(Escalation {
                    cluster: self.cluster.clone(),
                    subject: self.escalation_subject(),
                    rule: rule::PROMOTE_ELIGIBILITY,
                    message: self.stopped_because.clone(),
                }),
            },
        }
    }

    fn pending_follower(&self) -> Option<&Follower> {
        self.followers
            .iter()
            .find(|follower| follower.state == FollowState::Pending)
    }

    /// Ends the follow phase once every follower was told and, where commits must wait for one
    /// again, `synchronous_standby_names` was set.
    fn settle(&mut self) {
        if self.phase == FailoverPhase::Following
            && self.pending_follower().is_none()
            && (self.synchronous_restored || self.restored_synchronous().is_none())
        {
            self.phase = FailoverPhase::Done;
        }
    }

    /// `ANY 1 ("a", "b")` over the followers that follow, when the old primary had synchronous
    /// standbys; `None` when commits need not wait for one.
    fn restored_synchronous(&self) -> Option<String> {
        let followed: Vec<String> = self
            .followers
            .iter()
            .filter(|follower| follower.state == FollowState::Followed)
            .map(|follower| format!("\"{}\"", follower.application_name.replace('"', "\"\"")))
            .collect();
        (!self.synchronous.is_empty() && !followed.is_empty())
            .then(|| format!("ANY 1 ({})", followed.join(", ")))
    }

    fn escalation_subject(&self) -> String {
        match (self.phase, &self.new_primary) {
            (FailoverPhase::Escalated, Some(candidate)) => candidate.clone(),
            _ => self.old_primary.clone(),
        }
    }

    /// The outcome of the step [`next_step`](Failover::next_step) gave. A report that does not
    /// fit the phase (none is expected while observing or once over) changes nothing.
    pub fn handle_step(&mut self, reported: Reported) {
        match (self.phase, reported) {
            (FailoverPhase::Fencing, Reported::Done(_)) => {
                self.fenced = true;
                self.phase = FailoverPhase::Reobserving;
            }
            (FailoverPhase::Fencing, Reported::Failed(error)) => {
                // Without a fence, only synchronous replication keeps a hung old primary from
                // acknowledging commits alone; hadome does not bet on it (docs/daemon.md).
                self.escalate(format!(
                    "failover of `{}` stopped: fencing `{}` failed ({error}); promoting another member while `{}` may still accept writes could make two primaries",
                    self.cluster, self.old_primary, self.old_primary
                ));
            }
            (FailoverPhase::Promoting, Reported::Done(_)) => self.phase = FailoverPhase::Resyncing,
            (FailoverPhase::Promoting, Reported::Failed(error)) => {
                let candidate = self.new_primary.clone().unwrap_or_default();
                self.escalate(format!("promoting `{candidate}` failed: {error}"));
            }
            // A primary that still waits for a standby named after the old primary is slow, not
            // wrong: the follows go on either way, and the step's failure is journaled.
            (FailoverPhase::Resyncing, _) => self.phase = FailoverPhase::Following,
            (FailoverPhase::Following, reported) => {
                let pending = self
                    .followers
                    .iter_mut()
                    .find(|follower| follower.state == FollowState::Pending);
                match (pending, reported) {
                    (Some(follower), Reported::Done(_)) => follower.state = FollowState::Followed,
                    (Some(follower), Reported::Failed(_)) => follower.state = FollowState::Failed,
                    // The last step sets synchronous_standby_names: done or not, the failover is
                    // over (its failure is journaled; commits are acknowledged without a standby).
                    (None, _) => self.synchronous_restored = true,
                }
            }
            (FailoverPhase::Reobserving | FailoverPhase::Done | FailoverPhase::Escalated, _) => {}
        }
        self.settle();
    }

    /// The estate as observed after the fence (the step [`FailoverStep::Observe`]): adopts a
    /// member other than the old primary that already accepts writes (a failover resumed after
    /// its promotion), else chooses the most advanced standby whose promotion the interlocks
    /// allow ([`choose_candidate`]), else stops and escalates. Outside
    /// [`Reobserving`](FailoverPhase::Reobserving) it changes nothing.
    pub fn handle_facts(
        &mut self,
        estate: &Estate,
        facts: &Facts,
        history: &History,
        now: Timestamp,
    ) {
        if self.phase != FailoverPhase::Reobserving {
            return;
        }
        let Some(cluster) = estate
            .clusters
            .iter()
            .find(|cluster| cluster.name == self.cluster)
        else {
            self.escalate(format!(
                "failover of `{}` stopped after fencing `{}`: the estate has no cluster `{}` any more",
                self.cluster, self.old_primary, self.cluster
            ));
            return;
        };
        let writable = cluster.members.iter().find(|member| {
            **member != self.old_primary
                && matches!(
                    facts.instances.get(*member).map(|probe| &probe.outcome),
                    Some(ProbeOutcome::Answered(state)) if !state.in_recovery
                )
        });
        let new_primary = match writable {
            Some(primary) => {
                self.phase = FailoverPhase::Resyncing;
                primary.clone()
            }
            None => match choose_candidate(
                estate,
                facts,
                history,
                now,
                cluster,
                &self.old_primary,
                &self.synchronous,
            ) {
                Ok(candidate) => {
                    let view = View {
                        estate,
                        facts,
                        history,
                        now,
                    };
                    let wait = if self.synchronous.is_empty() {
                        CommitWait::Unknown(
                            "this failover's record names no standby it waited for".to_owned(),
                        )
                    } else {
                        CommitWait::Standbys(self.synchronous.clone())
                    };
                    let unproven = unproven_loss(
                        &view,
                        cluster,
                        &self.old_primary,
                        &candidate.name,
                        Some(&wait),
                    );
                    if let (Some(why), AsyncFailoverPolicy::Escalate) =
                        (unproven, cluster.automation.async_failover)
                    {
                        self.escalate(format!(
                            "failover of `{}` stopped after fencing `{}`: not promoting `{}`: {why} (async_failover = \"escalate\")",
                            self.cluster, self.old_primary, candidate.name
                        ));
                        return;
                    }
                    self.phase = FailoverPhase::Promoting;
                    candidate.name
                }
                Err(refusals) => {
                    self.escalate(format!(
                        "failover of `{}` stopped after fencing `{}`: no standby may be promoted: {}",
                        self.cluster,
                        self.old_primary,
                        refusals.join("; ")
                    ));
                    return;
                }
            },
        };
        self.followers = cluster
            .members
            .iter()
            .filter(|member| **member != self.old_primary && **member != new_primary)
            .map(|member| Follower {
                name: member.clone(),
                application_name: estate.instance(member).map_or_else(
                    || member.clone(),
                    |instance| instance.application_name.clone(),
                ),
                state: FollowState::Pending,
            })
            .collect();
        self.new_primary = Some(new_primary);
        self.settle();
    }

    fn escalate(&mut self, message: String) {
        self.stopped_because = message;
        self.phase = FailoverPhase::Escalated;
    }
}
