//! How the daemon carries out the supervisor's commands: heartbeats, restarts, rebuilds, fences,
//! failovers (`failover.rs`), escalations and pauses. Every automated action goes through the
//! executor's loop (`hadome_executor::carry_out`), exactly as `hadome run` does for a person, with
//! the daemon's [`Automated`] recorder: the intent journaled unless a person holds the cluster,
//! each step logged and journaled on the blocking pool, then the outcome.

use std::time::Duration;

use hadome_core::action::Action;
use hadome_core::fact::ProbeOutcome;
use hadome_core::supervise::{Command, Escalation};
use hadome_executor::{carry_out, plan, preflight, Outcome, Recorder, Step};
use hadome_journal::hold_lease;

use super::{Daemon, ACTOR};
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::notify;
use crate::rows::RestoredRows;

impl Daemon {
    pub(super) async fn carry_out(&mut self, command: Command) -> Result<(), CliError> {
        match command {
            Command::Heartbeat { instance } => {
                if let Some(session) = self.sessions.get(&instance) {
                    let timeout =
                        Duration::from_secs_f64(self.estate.probe_timeout_seconds.max(0.1));
                    if let Err(error) = session.heartbeat(timeout).await {
                        tracing::warn!(%instance, "heartbeat on `{instance}` failed: {error}");
                    }
                }
            }
            Command::Restart {
                cluster,
                target,
                reason,
                wake,
            } => {
                tracing::warn!(%cluster, instance = %target, "restarting `{target}`: {reason}");
                let action = Action::Restart {
                    target: target.clone(),
                };
                let mut steps = plan(&self.estate, &action);
                if !wake.is_empty() {
                    steps.push(Step::RetryStreams(wake));
                }
                if !self.act_steps(action, steps, &reason).await? {
                    // The restart cannot bring it back: a primary fails over on the next pass,
                    // started now rather than at the next tick (issue 18).
                    self.supervisor.handle_restart_failed(&cluster, &target);
                    self.session_ended.notify_one();
                }
            }
            Command::Rebuild {
                cluster,
                target,
                source,
                reason,
            } => {
                // The daemon does not act on a member it cannot help (issue 18): a rebuild
                // whose source the target cannot reach would move its data aside for nothing.
                let action = Action::Rebuild {
                    target: target.clone(),
                    source: source.clone(),
                };
                let steps = plan(&self.estate, &action);
                if let Err(error) = preflight(&self.estate, &steps).await {
                    tracing::warn!(
                        %cluster,
                        instance = %target,
                        outcome = "refused",
                        "not rebuilding `{target}` from `{source}`: pre-flight: {error}"
                    );
                    if self.refused_rebuilds.insert(target.clone()) {
                        self.escalate(Escalation {
                            cluster,
                            subject: target,
                            rule: hadome_core::rule::REPLICATION_STALLED,
                            message: format!(
                                "{reason}; hadome does not rebuild it now: pre-flight: {error}"
                            ),
                        })
                        .await?;
                    }
                    return Ok(());
                }
                self.refused_rebuilds.remove(&target);
                tracing::warn!(
                    %cluster,
                    instance = %target,
                    "rebuilding `{target}` from `{source}`: {reason}"
                );
                self.act_steps(action, steps, &reason).await?;
            }
            Command::Fence {
                cluster,
                target,
                reason,
            } => {
                tracing::warn!(%cluster, instance = %target, "fencing `{target}`: {reason}");
                let steps = vec![Step::Fence(target.clone())];
                self.act_steps(Action::Stop { target }, steps, &reason)
                    .await?;
            }
            Command::Failover(plan) => self.failover(plan).await?,
            Command::Escalate(escalation) => {
                let escalation = self.with_cause(escalation).await;
                self.escalate(escalation).await?
            }
            Command::Pause { escalation } => {
                let (at, target, reason) = (
                    wall_clock(),
                    escalation.subject.clone(),
                    escalation.message.clone(),
                );
                self.journal
                    .call(move |journal| journal.pause(at, &target, &reason))
                    .await?;
                self.escalate(escalation).await?;
            }
        }
        Ok(())
    }

    /// A standby's `replication-stalled` escalation with the cause as hadome can see it: whether
    /// its upstream answers at the address the standby uses (its `primary_conninfo`). A network
    /// cut then reads "cannot reach …", not only "not streaming" (issue 18).
    async fn with_cause(&self, mut escalation: Escalation) -> Escalation {
        if escalation.rule != hadome_core::rule::REPLICATION_STALLED {
            return escalation;
        }
        let Some(standby) = self.estate.instance(&escalation.subject) else {
            return escalation;
        };
        let timeout = Duration::from_secs_f64(self.estate.probe_timeout_seconds.max(0.1));
        let probe = hadome_observer::observe_instance(standby, timeout).await;
        let ProbeOutcome::Answered(state) = &probe.outcome else {
            return escalation;
        };
        if state.primary_conninfo.is_empty() {
            return escalation;
        }
        let cause = match hadome_observer::answers_at(&state.primary_conninfo, timeout).await {
            Ok(how) => format!("its upstream answers at the address it uses ({how})"),
            Err(error) => format!(
                "it cannot reach its upstream at the address its primary_conninfo names: {error}"
            ),
        };
        escalation.message = format!("{}; cause: {cause}", escalation.message);
        escalation
    }

    /// Journals an escalation, then sends it to the webhook (and journals how that went).
    pub(super) async fn escalate(&self, escalation: Escalation) -> Result<(), CliError> {
        tracing::error!(
            cluster = %escalation.cluster,
            subject = %escalation.subject,
            rule = escalation.rule,
            "ESCALATION [{}] {}: {}",
            escalation.rule,
            escalation.subject,
            escalation.message
        );
        let record = escalation.clone();
        let id = self
            .journal
            .call(move |journal| {
                journal.record_escalation(
                    wall_clock(),
                    &record.cluster,
                    &record.subject,
                    record.rule,
                    &record.message,
                )
            })
            .await?;
        if let Some(url) = self.estate.notify.webhook_url.clone() {
            let result = notify::send(&url, &escalation).await;
            if let Err(error) = &result {
                tracing::error!(
                    escalation = id,
                    "the webhook did not take escalation #{id}: {error}"
                );
            }
            self.journal
                .call(move |journal| journal.record_notified(id, wall_clock(), result))
                .await?;
        }
        Ok(())
    }

    /// An automated action through the same executor as `hadome run`.
    async fn act_steps(
        &self,
        action: Action,
        steps: Vec<Step>,
        reason: &str,
    ) -> Result<bool, CliError> {
        let mut recorder = Automated {
            daemon: self,
            action: &action,
            reason,
        };
        let outcome =
            carry_out(&self.estate, &action, &steps, &RestoredRows, &mut recorder).await?;
        Ok(outcome.is_some_and(|outcome| outcome.ok))
    }

    /// Journals the intent of an automated action, unless a person's `hadome run` holds the
    /// target's cluster (taken since this pass began): then logs it and returns `None`, and the
    /// daemon does not act.
    pub(super) async fn record_automated(
        &self,
        action: &Action,
        plan_text: Vec<String>,
    ) -> Result<Option<i64>, CliError> {
        let cluster = self
            .estate
            .cluster_of(action.target())
            .map(|cluster| cluster.name.clone());
        if let Some(cluster) = &cluster {
            // etcd's guard (`[coordination]`): the lease's remaining time to live, then a
            // transaction guarded by the lease; the journal's is in its own transaction below.
            if let Err(why) = self
                .coordinator
                .guard_intent(cluster, &action.to_string())
                .await
            {
                tracing::error!(
                    %cluster,
                    outcome = "stopped-acting",
                    "STOPPED ACTING: not acting on `{}` ({action}): {why}",
                    action.target()
                );
                return Ok(None);
            }
        }
        let hold = cluster.as_deref().map(hold_lease).unwrap_or_default();
        let recorded = {
            let action = action.clone();
            self.journal
                .call(move |journal| {
                    journal.record_automated_intent(&hold, wall_clock(), &action, &plan_text, ACTOR)
                })
                .await?
        };
        Ok(match recorded {
            Ok(intent) => Some(intent),
            Err(lease) => {
                tracing::info!(
                    cluster = %lease.cluster,
                    outcome = "held",
                    "not acting on `{}`: `{}` holds it for `hadome run` (`{}`), so {action} is left to that person",
                    action.target(),
                    lease.holder,
                    lease.cluster
                );
                None
            }
        })
    }
}

/// The daemon's side of the executor's loop: the intent recorded unless a person holds the
/// cluster ([`Daemon::record_automated`]), each step logged and journaled on the blocking pool.
struct Automated<'a> {
    daemon: &'a Daemon,
    action: &'a Action,
    reason: &'a str,
}

impl Recorder for Automated<'_> {
    type Intent = i64;
    type Error = CliError;

    async fn intent(&mut self, steps: &[Step]) -> Result<Option<i64>, CliError> {
        let mut plan_text: Vec<String> = steps
            .iter()
            .map(|step| step.describe_in(&self.daemon.estate))
            .collect();
        plan_text.push(format!("because: {}", self.reason));
        self.daemon.record_automated(self.action, plan_text).await
    }

    async fn step(&mut self, intent: &i64, step: &Step, done: &Outcome) -> Result<(), CliError> {
        self.daemon
            .step(
                *intent,
                &step.describe_in(&self.daemon.estate),
                done.ok,
                &done.detail,
            )
            .await
    }

    async fn outcome(&mut self, intent: &i64, outcome: &Outcome) -> Result<(), CliError> {
        self.daemon
            .close(*intent, outcome.ok, &outcome.detail)
            .await
    }
}
