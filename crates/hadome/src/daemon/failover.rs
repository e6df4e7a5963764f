//! The daemon's shell around the core's failover state machine ([`Failover`]): it carries out
//! each step the machine asks for, reports what happened, and journals the machine's state after
//! every report, so that a daemon killed at any phase is carried on by the next one from exactly
//! what was done (`resume`).
//!
//! A failover is one automated intent (action `promote`): intent → the machine's steps, each
//! journaled as a step of the intent and each phase as a failover record → outcome.

use std::collections::BTreeSet;

use hadome_core::action::Action;
use hadome_core::fact::History;
use hadome_core::supervise::{Failover, FailoverPhase, FailoverPlan, FailoverStep, Reported};
use hadome_executor::{execute, Step};
use hadome_journal::OpenIntent;

use super::{Daemon, ACTOR};
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::rows::RestoredRows;

/// The failpoint (`HADOME_FAILPOINT`) that holds the daemon once a failover reached `phase`, until
/// it is killed: how the tests kill it after each phase.
fn failpoint_of(phase: FailoverPhase) -> Option<&'static str> {
    match phase {
        FailoverPhase::Reobserving => Some("after-fence"),
        FailoverPhase::Promoting => Some("after-reobserve"),
        FailoverPhase::Resyncing => Some("after-promote"),
        FailoverPhase::Following => Some("after-resync"),
        FailoverPhase::Done => Some("after-follow"),
        // Its intent and first record journaled, nothing done yet.
        FailoverPhase::Fencing => Some("after-intent"),
        FailoverPhase::Escalated => None,
    }
}

impl Daemon {
    /// At start-up, what earlier daemons did: the supervisor learns each cluster's last failover
    /// (finished, open or interrupted: an old primary it fenced stays known as fenced), and the
    /// daemon's open intents wait for [`resume_open`](Daemon::resume_open).
    pub(super) async fn learn_from_journal(&mut self) -> Result<(), CliError> {
        let last = self
            .journal
            .call(|journal| journal.last_failovers())
            .await?;
        for (_, failover) in &last {
            self.supervisor.handle_failover(failover);
        }
        let open = self.journal.call(|journal| journal.open_intents()).await?;
        self.left_open = open
            .into_iter()
            .filter(|intent| intent.actor == ACTOR)
            .collect();
        Ok(())
    }

    /// The intents an earlier daemon left open, each once this daemon holds its cluster's lease
    /// (`leases`; the earlier daemon may still be alive until its lease expires): an open
    /// failover is carried on from its last record, unless a person's `hadome run` holds its
    /// cluster; every other is closed as interrupted.
    pub(super) async fn resume_open(&mut self, leases: &BTreeSet<String>) -> Result<(), CliError> {
        if self.left_open.is_empty() {
            return Ok(());
        }
        let held = self.held(wall_clock()).await?;
        let (ready, waiting): (Vec<OpenIntent>, Vec<OpenIntent>) =
            std::mem::take(&mut self.left_open)
                .into_iter()
                .partition(|intent| {
                    self.estate
                        .cluster_of(&intent.target)
                        .is_none_or(|cluster| leases.contains(&cluster.name))
                });
        self.left_open = waiting;
        for intent in ready {
            let id = intent.id;
            let record = self
                .journal
                .call(move |journal| journal.failover(id))
                .await?;
            let holder = self
                .estate
                .cluster_of(&intent.target)
                .and_then(|cluster| held.get(&cluster.name))
                .cloned();
            match (record, holder) {
                (Some(failover), None) => {
                    tracing::warn!(
                        intent = intent.id,
                        cluster = %failover.cluster,
                        step = failover.phase.as_str(),
                        outcome = "resumed",
                        "intent #{} (failover of `{}` from `{}`, {}) was left open by an earlier daemon after {} of {} steps: carrying it on",
                        intent.id,
                        failover.cluster,
                        failover.old_primary,
                        failover.phase.as_str(),
                        intent.steps_done.len(),
                        intent.plan.len()
                    );
                    let failover = failover.resumed();
                    self.supervisor.handle_failover(&failover);
                    self.drive_failover(intent.id, failover).await?;
                }
                (_, holder) => {
                    let left = holder.map_or_else(String::new, |holder| {
                        format!(
                            ", and left the rest to `{holder}`, whose `hadome run` holds the cluster"
                        )
                    });
                    let detail = format!(
                        "interrupted: the daemon that recorded it stopped after {} of {} steps; a new daemon closed it at start-up{left}",
                        intent.steps_done.len(),
                        intent.plan.len()
                    );
                    tracing::warn!(
                        intent = intent.id,
                        outcome = "interrupted",
                        "intent #{} ({}): {detail}",
                        intent.id,
                        intent.action_text
                    );
                    self.journal
                        .call(move |journal| {
                            journal.record_outcome(id, wall_clock(), false, &detail)
                        })
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A failover the supervisor ordered: its intent, then the state machine driven to its end.
    pub(super) async fn failover(&mut self, plan: FailoverPlan) -> Result<(), CliError> {
        tracing::warn!(
            cluster = %plan.cluster,
            instance = %plan.candidate,
            "FAILOVER of `{}`: {}; candidate `{}`",
            plan.cluster,
            plan.evidence,
            plan.candidate
        );
        let Some(cluster) = self.estate.clusters.iter().find(|c| c.name == plan.cluster) else {
            return Ok(());
        };
        let followers: Vec<String> = cluster
            .members
            .iter()
            .filter(|member| **member != plan.old_primary && **member != plan.candidate)
            .cloned()
            .collect();
        let plan_text = vec![
            {
                // "(its fence_command)", or how the built-in actions fence it.
                let fence = Step::Fence(plan.old_primary.clone()).describe_in(&self.estate);
                let how = fence.split_once(" (").map_or("", |(_, how)| how);
                format!("fence the failed primary `{}` ({how}", plan.old_primary)
            },
            "observe again and re-choose the most advanced eligible standby".to_owned(),
            format!(
                "promote it with pg_promote() (chosen now: `{}`)",
                plan.candidate
            ),
            "make its synchronous_standby_names its own".to_owned(),
            format!(
                "repoint the other standbys at it ({})",
                followers.join(", ")
            ),
            format!("because: {}", plan.evidence),
        ];
        let synchronous = self.supervisor.synchronous_of(&plan.cluster).to_vec();
        let failover = Failover::start(&plan, &synchronous);
        let action = Action::Promote {
            target: plan.candidate.clone(),
        };
        let Some(intent) = self.record_automated(&action, plan_text).await? else {
            return Ok(());
        };
        self.drive_failover(intent, failover).await
    }

    /// Carries out the machine's steps until it is over: after each report, the supervisor
    /// learns the new state and the journal records it, before the next step starts.
    async fn drive_failover(
        &mut self,
        intent: i64,
        mut failover: Failover,
    ) -> Result<(), CliError> {
        self.record_failover(intent, &failover).await?;
        if failover.phase == FailoverPhase::Fencing {
            self.hold_at_failpoint(FailoverPhase::Fencing).await;
        }
        loop {
            let phase = failover.phase;
            match failover.next_step() {
                FailoverStep::Finish {
                    ok,
                    detail,
                    escalation,
                } => {
                    if let Some(escalation) = escalation {
                        self.escalate(escalation).await?;
                    }
                    return self.close(intent, ok, &detail).await;
                }
                FailoverStep::Observe => self.reobserve(intent, &mut failover).await?,
                step => {
                    let (name, reported) = self.carry_out_failover_step(&step).await;
                    let (ok, detail) = match &reported {
                        Reported::Done(detail) => (true, detail.as_str()),
                        Reported::Failed(error) => (false, error.as_str()),
                    };
                    self.step(intent, &name, ok, detail).await?;
                    failover.handle_step(reported);
                }
            }
            self.supervisor.handle_failover(&failover);
            self.record_failover(intent, &failover).await?;
            if failover.phase != phase {
                self.hold_at_failpoint(failover.phase).await;
            }
        }
    }

    /// Observes the estate again (after the fence) and lets the machine choose on those facts.
    async fn reobserve(&mut self, intent: i64, failover: &mut Failover) -> Result<(), CliError> {
        let facts = hadome_observer::observe(&self.estate).await;
        let facts_for_journal = facts.clone();
        let history: History = self
            .journal
            .call(move |journal| {
                journal.record_facts(&facts_for_journal)?;
                journal.history()
            })
            .await?;
        failover.handle_facts(&self.estate, &facts, &history, wall_clock());
        let candidate = failover.new_primary.clone().unwrap_or_default();
        match failover.phase {
            FailoverPhase::Promoting => {
                self.step(
                    intent,
                    "re-choose the candidate",
                    true,
                    &format!("`{candidate}` is the most advanced eligible standby"),
                )
                .await
            }
            FailoverPhase::Escalated => {
                let message = failover.stopped_because.clone();
                self.step(intent, "re-choose the candidate", false, &message)
                    .await
            }
            _ => {
                self.step(
                    intent,
                    "observe",
                    true,
                    &format!("`{candidate}` already accepts writes: nothing left to promote"),
                )
                .await
            }
        }
    }

    /// Carries out one step of a failover through the executor; returns the step's journal name
    /// and what became of it.
    async fn carry_out_failover_step(&self, step: &FailoverStep) -> (String, Reported) {
        let (name, step) = match step {
            FailoverStep::Fence { target } => {
                (format!("fence `{target}`"), Step::Fence(target.clone()))
            }
            FailoverStep::Promote { target } => {
                (format!("promote `{target}`"), Step::Promote(target.clone()))
            }
            FailoverStep::SetSynchronous { primary, value } => (
                format!("synchronous_standby_names = '{value}'"),
                Step::SetSynchronousStandbyNames {
                    instance: primary.clone(),
                    value: value.clone(),
                },
            ),
            FailoverStep::Follow { target, primary } => (
                format!("`{target}` follows `{primary}`"),
                Step::Follow {
                    target: target.clone(),
                    source: primary.clone(),
                },
            ),
            FailoverStep::Observe | FailoverStep::Finish { .. } => {
                return (
                    String::new(),
                    Reported::Failed(
                        "not a step to carry out (a bug in hadome: please report it)".to_owned(),
                    ),
                )
            }
        };
        let reported = match execute(&self.estate, &step, &RestoredRows).await {
            Ok(detail) => Reported::Done(detail),
            Err(error) => Reported::Failed(error.to_string()),
        };
        (name, reported)
    }

    async fn record_failover(&self, intent: i64, failover: &Failover) -> Result<(), CliError> {
        let record = failover.clone();
        self.journal
            .call(move |journal| journal.record_failover(intent, wall_clock(), &record))
            .await
    }

    /// With `HADOME_FAILPOINT` naming the point a failover just reached, waits there until the
    /// daemon is killed (the tests' way to kill it after each phase).
    async fn hold_at_failpoint(&self, phase: FailoverPhase) {
        let Some(point) = failpoint_of(phase) else {
            return;
        };
        if self.failpoint.as_deref() == Some(point) {
            tracing::warn!(
                failpoint = point,
                step = phase.as_str(),
                "failpoint {point}: waiting here until killed (HADOME_FAILPOINT)"
            );
            std::future::pending::<()>().await;
        }
    }
}
