//! The daemon's decisions: a sans-IO state machine.
//!
//! The daemon's shell (`hadome daemon`) probes the estate, reads the journal and hands the result
//! to [`Supervisor::step`] as a [`Tick`]; the supervisor answers with [`Command`]s (write a
//! heartbeat, restart, rebuild, fence, fail over, escalate, pause) and one [`ClusterReport`] per
//! cluster saying what it believes and why. It does no I/O and reads no clock, so every path —
//! a hang, a crash, an isolated primary, an overloaded one, a stalled candidate, a budget spent —
//! is a unit test (`tests.rs`).
//!
//! What it decides, per cluster with `failover = "auto"` and only while this daemon holds the
//! cluster's lease (`single-actor`):
//! - **`primary-agreement`**: the primary has failed only when hadome has not reached it for
//!   `detection_seconds` *and* every standby that answers has lost it too (no WAL receiver
//!   streaming, or nothing received for `detection_seconds`, by the standby's own clock), or when
//!   hadome's open session to it still answers while new connections hang for the window (a hung
//!   postmaster: a local fault, proven by the open session). A proven crash (refused at once,
//!   hadome's open session closed, no answering witness's WAL receiver streaming) is restarted
//!   in place without waiting out the window, under `on_primary_crash = "restart"`; a failover
//!   always waits it out. An instance that says it is
//!   saturated (too many connections, statement timeouts) is `overloaded`: reported, never failed
//!   over.
//! - **`promote-eligibility`**: the candidate is the most advanced member whose promotion the
//!   interlocks allow ([`choose_candidate`]); with none, the daemon escalates and waits.
//! - **`budget`**: restarts and rebuilds per instance, failovers per cluster, within
//!   `budget_window_seconds` (counted by the shell from the journal since the window's start or the
//!   last `hadome ack`); over budget, or after an action that did not restore health, the target
//!   is paused and escalated until a person acknowledges it.
//! - A member that answers as a primary beside the cluster's primary (an old primary restarted,
//!   a hung one resumed) is fenced at once: there is never a second primary to write to.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::Action;
use crate::estate::{Cluster, CrashPolicy, Estate, FailoverPolicy, OldPrimaryPolicy};
use crate::fact::{Facts, FailureKind, History, KeepaliveSettings, ProbeOutcome, Timestamp};
use crate::finding::{human_duration, Severity, Verdict};
use crate::interlock::{self, Assessment, View};
use crate::position::PositionOrder;
use crate::rule;

mod agreement;
#[cfg(test)]
mod tests;

pub use agreement::{standby_view, StandbyView};

/// Everything the supervisor needs for one decision.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    /// The estate.
    pub estate: &'a Estate,
    /// This pass of observation (new connections, as `hadome check` makes them).
    pub facts: &'a Facts,
    /// What the journal remembers.
    pub history: &'a History,
    /// Now.
    pub now: Timestamp,
    /// Per instance, whether the daemon's open session to it answered this pass (`Session::ping`);
    /// missing when the daemon holds no open session to it.
    pub sessions: &'a BTreeMap<String, bool>,
    /// The clusters whose lease this daemon holds.
    pub leases: &'a BTreeSet<String>,
    /// Targets (instances or clusters) whose automation is paused until `hadome ack`.
    pub paused: &'a BTreeSet<String>,
    /// What the budget already spent, from the journal.
    pub spent: &'a Spent,
    /// Clusters a person's `hadome run` holds while it acts there, with the holder: the daemon
    /// takes no action on them (`single-actor`).
    pub held: &'a BTreeMap<String, String>,
}

/// Automated actions already taken within their budget windows (since the window started or the
/// target's last acknowledgement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spent {
    /// Restarts, per instance.
    pub restarts: BTreeMap<String, u32>,
    /// Rebuilds, per instance.
    pub rebuilds: BTreeMap<String, u32>,
    /// Failovers, per cluster.
    pub failovers: BTreeMap<String, u32>,
}

/// What the supervisor asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Write a heartbeat into the primary's WAL, so its standbys hear it even when it is idle.
    Heartbeat {
        /// The primary.
        instance: String,
    },
    /// Restart an instance in place (its stop command, then its start command).
    Restart {
        /// The cluster.
        cluster: String,
        /// The instance.
        target: String,
        /// Why, with the evidence.
        reason: String,
        /// Once a restarted primary answers, the standbys to ask to retry their stream at once
        /// (they retry every `wal_retrieve_retry_interval` otherwise, and synchronous commits
        /// wait for them); empty for a standby's restart.
        wake: Vec<String>,
    },
    /// Rebuild a standby from the primary (its data directory moved aside first).
    Rebuild {
        /// The cluster.
        cluster: String,
        /// The standby.
        target: String,
        /// The primary it is rebuilt from.
        source: String,
        /// Why, with the evidence.
        reason: String,
    },
    /// Fence an instance (its fence command): it must accept no writes, now or after a restart.
    Fence {
        /// The cluster.
        cluster: String,
        /// The instance.
        target: String,
        /// Why, with the evidence.
        reason: String,
    },
    /// Fence the failed primary, promote the most advanced eligible standby, repoint the others.
    Failover(FailoverPlan),
    /// Tell a person (journal + webhook).
    Escalate(Escalation),
    /// Pause automation of a target until `hadome ack`, and tell a person.
    Pause {
        /// The escalation that says why.
        escalation: Escalation,
    },
}

/// A failover, as decided on this pass's facts. The shell fences first, observes again, and
/// re-chooses the candidate with [`choose_candidate`] before promoting.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverPlan {
    /// The cluster.
    pub cluster: String,
    /// The failed primary, fenced first.
    pub old_primary: String,
    /// The candidate chosen on this pass's facts.
    pub candidate: String,
    /// Why the primary counts as failed (`primary-agreement`), in one line with numbers.
    pub evidence: String,
}

/// Something a person must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The cluster.
    pub cluster: String,
    /// The instance or cluster concerned (the target of a pause).
    pub subject: String,
    /// The rule id behind it.
    pub rule: &'static str,
    /// One line, with numbers.
    pub message: String,
}

/// What the supervisor believes of one cluster after a pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterReport {
    /// The cluster.
    pub cluster: String,
    /// The member it holds to be the primary.
    pub primary: Option<String>,
    /// The state, one word.
    pub state: ClusterState,
    /// Why, in one line.
    pub detail: String,
}

/// A cluster's state, as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// The primary answers.
    Healthy,
    /// The primary answers that it is saturated: never a failover.
    Overloaded,
    /// The primary has not answered, but the window has not passed or its standbys still hear it.
    Suspect,
    /// The primary was restarted in place; waiting for it within `restart_window_seconds`.
    Restarting,
    /// The primary failed and a failover was ordered.
    FailingOver,
    /// The primary failed and no standby may be promoted: escalated, waiting.
    NoCandidate,
    /// Automation of the cluster is paused until `hadome ack`.
    Paused,
    /// Another actor holds the lease: this daemon observes only.
    NotActor,
    /// A person's `hadome run` acts on the cluster: this daemon observes only until it is done.
    Held,
    /// `failover = "manual"`: this daemon observes and reports only.
    Manual,
    /// hadome has never seen a primary of this cluster.
    NoPrimary,
}

impl ClusterState {
    /// The state as one word.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Healthy => "healthy",
            ClusterState::Overloaded => "overloaded",
            ClusterState::Suspect => "suspect",
            ClusterState::Restarting => "restarting",
            ClusterState::FailingOver => "failing-over",
            ClusterState::NoCandidate => "no-candidate",
            ClusterState::Paused => "paused",
            ClusterState::NotActor => "not-actor",
            ClusterState::Held => "held",
            ClusterState::Manual => "manual",
            ClusterState::NoPrimary => "no-primary",
        }
    }
}

/// One pass's decisions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// What to do, in order.
    pub commands: Vec<Command>,
    /// One report per cluster.
    pub reports: Vec<ClusterReport>,
}

/// The supervisor's memory between passes (everything else comes from facts and the journal).
#[derive(Debug, Clone, Default)]
pub struct Supervisor {
    clusters: BTreeMap<String, Watch>,
}

#[derive(Debug, Clone, Default)]
struct Watch {
    /// The member held to be the primary.
    leader: Option<String>,
    /// Its synchronous standbys, as it last listed them.
    synchronous: Vec<String>,
    /// Every standby streaming from it directly, as it last listed them.
    direct: Vec<String>,
    /// Its replication timeouts, as last seen (they bound how long its standbys may hear
    /// nothing from it while it is idle).
    keepalive: Option<KeepaliveSettings>,
    /// Since when the leader has not answered.
    missing_since: Option<Timestamp>,
    /// When the leader was restarted in place for this failure.
    restarted_at: Option<Timestamp>,
    /// Members that were primaries before a failover: never restarted as they are.
    old_primaries: BTreeSet<String>,
    /// Per instance, when a restart of it was ordered (to judge whether it helped).
    restarts: BTreeMap<String, Timestamp>,
    /// Per standby that answers without streaming while the primary answers: since when
    /// (counted from the first such pass; forgotten while no primary answers).
    not_streaming_since: BTreeMap<String, Timestamp>,
    /// Escalations already sent (not repeated every pass).
    escalated: BTreeSet<String>,
}

impl Supervisor {
    /// A supervisor that knows nothing yet.
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Tells the supervisor that `cluster`'s primary is `primary` and that `old` were primaries
    /// before (the journal's last failover, read at start-up).
    pub fn remember_failover(&mut self, cluster: &str, old: &str, primary: &str) {
        let watch = self.clusters.entry(cluster.to_owned()).or_default();
        watch.leader = Some(primary.to_owned());
        watch.old_primaries.insert(old.to_owned());
        watch.old_primaries.remove(primary);
    }

    /// The member held to be `cluster`'s primary.
    pub fn primary_of(&self, cluster: &str) -> Option<&str> {
        self.clusters.get(cluster)?.leader.as_deref()
    }

    /// The synchronous standbys (`application_name`s) `cluster`'s primary listed when it last
    /// answered.
    pub fn synchronous_of(&self, cluster: &str) -> &[String] {
        self.clusters
            .get(cluster)
            .map_or(&[], |watch| watch.synchronous.as_slice())
    }

    /// One pass.
    pub fn step(&mut self, tick: &Tick) -> Decision {
        let mut decision = Decision::default();
        for cluster in &tick.estate.clusters {
            let watch = self.clusters.entry(cluster.name.clone()).or_default();
            let report = supervise(watch, tick, cluster, &mut decision.commands);
            decision.reports.push(report);
        }
        decision
    }
}

fn view<'a>(tick: &Tick<'a>) -> View<'a> {
    View {
        estate: tick.estate,
        facts: tick.facts,
        history: tick.history,
        now: tick.now,
    }
}

fn report(
    cluster: &Cluster,
    primary: Option<&str>,
    state: ClusterState,
    detail: String,
) -> ClusterReport {
    ClusterReport {
        cluster: cluster.name.clone(),
        primary: primary.map(str::to_owned),
        state,
        detail,
    }
}

fn failure_kind(tick: &Tick, instance: &str) -> Option<FailureKind> {
    match &tick.facts.instances.get(instance)?.outcome {
        ProbeOutcome::Answered(_) => None,
        ProbeOutcome::Unreachable { kind, .. } => Some(*kind),
    }
}

fn error_of(tick: &Tick, instance: &str) -> String {
    match tick
        .facts
        .instances
        .get(instance)
        .map(|probe| &probe.outcome)
    {
        Some(ProbeOutcome::Unreachable { error, .. }) => error.clone(),
        Some(ProbeOutcome::Answered(_)) => "it answered".to_owned(),
        None => "it was not probed".to_owned(),
    }
}

/// Escalates once per key until the key is forgotten.
fn escalate_once(
    watch: &mut Watch,
    commands: &mut Vec<Command>,
    key: String,
    escalation: Escalation,
) {
    if watch.escalated.insert(key) {
        commands.push(Command::Escalate(escalation));
    }
}

fn pause(
    watch: &mut Watch,
    tick: &Tick,
    commands: &mut Vec<Command>,
    cluster: &Cluster,
    target: &str,
    message: String,
) {
    if tick.paused.contains(target) || !watch.escalated.insert(format!("pause {target}")) {
        return;
    }
    commands.push(Command::Pause {
        escalation: Escalation {
            cluster: cluster.name.clone(),
            subject: target.to_owned(),
            rule: rule::BUDGET,
            message,
        },
    });
}

fn supervise(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    commands: &mut Vec<Command>,
) -> ClusterReport {
    if let Some(holder) = tick.held.get(&cluster.name) {
        // The person acts; what this daemon saw meanwhile must not be acted on later as if it
        // were a failure (the person stops and starts members on purpose).
        watch.missing_since = None;
        watch.not_streaming_since.clear();
        return report(
            cluster,
            watch.leader.as_deref(),
            ClusterState::Held,
            format!(
                "`{holder}` holds `{}` for `hadome run`: this daemon observes only until that is done",
                cluster.name
            ),
        );
    }
    let view = view(tick);
    let automation = &cluster.automation;
    let live = view.live_primaries(cluster);
    let acting = cluster.failover == FailoverPolicy::Auto && tick.leases.contains(&cluster.name);

    // A primary answers: choose the one that leads (newest timeline, then the one hadome already
    // follows); any other is a second primary and is fenced at once.
    if !live.is_empty() {
        let leader = leading_primary(&view, &live, watch.leader.as_deref());
        let Some(leader) = leader else {
            let message = format!(
                "`{}` all accept writes on the same timeline: hadome cannot tell which is the primary",
                live.join("`, `")
            );
            escalate_once(
                watch,
                commands,
                format!("two-primaries {}", live.join(",")),
                Escalation {
                    cluster: cluster.name.clone(),
                    subject: cluster.name.clone(),
                    rule: rule::PROMOTE_ELIGIBILITY,
                    message: message.clone(),
                },
            );
            return report(cluster, None, ClusterState::NoCandidate, message);
        };
        if watch.leader.as_deref() != Some(leader) {
            if let Some(old) = watch.leader.take() {
                if old != leader {
                    watch.old_primaries.insert(old);
                }
            }
        }
        watch.leader = Some(leader.to_owned());
        watch.old_primaries.remove(leader);
        watch.missing_since = None;
        watch.restarted_at = None;
        watch
            .escalated
            .retain(|key| key.starts_with("pause ") || key.starts_with("standby "));
        if let Some(state) = view.fresh(leader) {
            watch.synchronous = state
                .replication
                .iter()
                .filter(|peer| peer.sync_state == "sync" || peer.sync_state == "quorum")
                .map(|peer| peer.application_name.clone())
                .collect();
            watch.direct = state
                .replication
                .iter()
                .map(|peer| peer.application_name.clone())
                .collect();
            watch.keepalive = Some(state.keepalive);
        }
        commands.push(Command::Heartbeat {
            instance: leader.to_owned(),
        });
        let mut detail = format!("`{leader}` is the primary and answers");
        for other in live.iter().filter(|name| **name != leader) {
            let reason = format!(
                "`{other}` accepts writes beside the primary `{leader}`{}: a second primary",
                timeline_note(&view, other, leader)
            );
            if acting {
                commands.push(Command::Fence {
                    cluster: cluster.name.clone(),
                    target: (*other).to_owned(),
                    reason: reason.clone(),
                });
            } else {
                escalate_once(
                    watch,
                    commands,
                    format!("second-primary {other}"),
                    Escalation {
                        cluster: cluster.name.clone(),
                        subject: (*other).to_owned(),
                        rule: rule::PROMOTE_ELIGIBILITY,
                        message: reason.clone(),
                    },
                );
            }
            detail = format!("{detail}; {reason}");
        }
        if acting && !tick.paused.contains(&cluster.name) {
            care_for_standbys(watch, tick, cluster, leader, commands);
        }
        let state = if acting {
            ClusterState::Healthy
        } else if cluster.failover == FailoverPolicy::Manual {
            ClusterState::Manual
        } else {
            ClusterState::NotActor
        };
        return report(cluster, Some(leader), state, detail);
    }

    // No primary answers. Standbys that lost their stream now lost it to this failure: how long
    // they have not streamed counts again once a primary answers.
    watch.not_streaming_since.clear();
    let Some(primary) = watch.leader.clone().or_else(|| {
        view.last_known_primary(cluster)
            .map(|(name, _)| name.to_owned())
    }) else {
        return report(
            cluster,
            None,
            ClusterState::NoPrimary,
            format!(
                "no member of `{}` answers as a primary, and hadome never saw one",
                cluster.name
            ),
        );
    };
    watch.leader = Some(primary.clone());
    // Missing since it last answered (the journal remembers), else since this pass.
    let since = *watch.missing_since.get_or_insert_with(|| {
        view.last_known(&primary).map_or_else(
            || {
                tick.facts
                    .instances
                    .get(&primary)
                    .map_or(tick.now, |probe| probe.observed_at)
            },
            |known| known.observed_at,
        )
    });
    let missing_for = tick.now.seconds_since(since);
    let kind = failure_kind(tick, &primary);
    let error = error_of(tick, &primary);

    if matches!(kind, Some(FailureKind::Overloaded)) {
        return report(
            cluster,
            Some(&primary),
            ClusterState::Overloaded,
            format!("`{primary}` is reachable but saturated ({error}): overload follows the load, so it is never failed over"),
        );
    }
    let session_answers = tick.sessions.get(&primary).copied().unwrap_or(false);
    let standbys = standby_view(
        &view,
        cluster,
        &primary,
        &watch.direct,
        automation.detection_seconds,
        &watch.keepalive.unwrap_or(KeepaliveSettings::UNKNOWN),
    );
    let answering: Vec<&StandbyView> = standbys.iter().filter(|standby| standby.answers).collect();
    // A proven crash needs no detection window before an in-place restart: nothing listens, and
    // every witness lost its stream. Only the restart skips the window; a failover waits it out.
    let restart_at_once = automation.on_primary_crash == CrashPolicy::Restart
        && acting
        && watch.restarted_at.is_none()
        && !tick.paused.contains(&cluster.name)
        && !tick.paused.contains(&primary)
        && tick.spent.restarts.get(&primary).copied().unwrap_or(0)
            < automation.budget.restarts_per_target
        && proven_crash(kind, session_answers, &answering);
    if view.fresh(&primary).is_some() {
        // It answers, in recovery: the cluster has no primary at all (demoted, fenced and
        // restarted read-only). That is a proven failure of the primary role.
    } else if missing_for < automation.detection_seconds && !restart_at_once {
        return report(
            cluster,
            Some(&primary),
            ClusterState::Suspect,
            format!(
                "`{primary}` has not answered for {} ({error}); the detection window is {}",
                human_duration(missing_for),
                human_duration(automation.detection_seconds)
            ),
        );
    }

    // The window has passed (or the crash is proven): do its standbys agree?
    let still_hear: Vec<&StandbyView> = answering
        .iter()
        .copied()
        .filter(|standby| standby.hears_primary)
        .collect();
    let evidence = if view.fresh(&primary).is_some() {
        format!("`{primary}` answers, but as a standby: no member accepts writes")
    } else if session_answers && kind == Some(FailureKind::Timeout) {
        format!(
            "`{primary}`'s postmaster accepts no new connection for {} ({error}), while hadome's open session to it still answers: its postmaster hangs",
            human_duration(missing_for)
        )
    } else if answering.is_empty() {
        let message = format!(
            "`{primary}` has not answered for {} ({error}), and no standby answers to confirm it failed",
            human_duration(missing_for)
        );
        escalate_once(
            watch,
            commands,
            "no-witness".to_owned(),
            Escalation {
                cluster: cluster.name.clone(),
                subject: primary.clone(),
                rule: rule::PRIMARY_AGREEMENT,
                message: message.clone(),
            },
        );
        return report(cluster, Some(&primary), ClusterState::Suspect, message);
    } else if !still_hear.is_empty() {
        let names: Vec<String> = still_hear
            .iter()
            .map(|standby| standby.describe())
            .collect();
        return report(
            cluster,
            Some(&primary),
            ClusterState::Suspect,
            format!(
                "hadome has not reached `{primary}` for {} ({error}), but its standbys still hear it ({}): one observer's blip is not a failure",
                human_duration(missing_for),
                names.join("; ")
            ),
        );
    } else {
        let names: Vec<String> = answering.iter().map(|standby| standby.describe()).collect();
        let proven = if restart_at_once && missing_for < automation.detection_seconds {
            ": a proven crash (refused at once, hadome's open session closed, no witness's WAL receiver streams), so the detection window is not waited out"
        } else {
            ""
        };
        format!(
            "`{primary}` has not answered for {} ({error}) and its standbys lost it too ({}){proven}",
            human_duration(missing_for),
            names.join("; ")
        )
    };

    if !acting {
        let state = if cluster.failover == FailoverPolicy::Manual {
            ClusterState::Manual
        } else {
            ClusterState::NotActor
        };
        escalate_once(
            watch,
            commands,
            "failed".to_owned(),
            Escalation {
                cluster: cluster.name.clone(),
                subject: primary.clone(),
                rule: rule::PRIMARY_AGREEMENT,
                message: format!(
                    "{evidence}; hadome does not fail over here ({})",
                    state.as_str()
                ),
            },
        );
        return report(cluster, Some(&primary), state, evidence);
    }
    if tick.paused.contains(&cluster.name) || tick.paused.contains(&primary) {
        return report(
            cluster,
            Some(&primary),
            ClusterState::Paused,
            format!("{evidence}; automation is paused until `hadome ack`"),
        );
    }

    // A crash: restart in place first when the policy says so, within budget and window.
    let crashed = kind == Some(FailureKind::Down);
    if crashed && automation.on_primary_crash == CrashPolicy::Restart {
        match watch.restarted_at {
            None => {
                let spent = tick.spent.restarts.get(&primary).copied().unwrap_or(0);
                if spent < automation.budget.restarts_per_target {
                    watch.restarted_at = Some(tick.now);
                    commands.push(Command::Restart {
                        cluster: cluster.name.clone(),
                        target: primary.clone(),
                        reason: format!("{evidence}: on_primary_crash = \"restart\""),
                        wake: answering
                            .iter()
                            .map(|standby| standby.name.clone())
                            .collect(),
                    });
                    return report(
                        cluster,
                        Some(&primary),
                        ClusterState::Restarting,
                        format!("{evidence}; restarting it in place"),
                    );
                }
            }
            Some(at) if tick.now.seconds_since(at) < automation.restart_window_seconds => {
                return report(
                    cluster,
                    Some(&primary),
                    ClusterState::Restarting,
                    format!(
                        "restarted `{primary}` {} ago; waiting up to {} for it",
                        human_duration(tick.now.seconds_since(at)),
                        human_duration(automation.restart_window_seconds)
                    ),
                );
            }
            Some(_) => {}
        }
    }

    let failovers = tick
        .spent
        .failovers
        .get(&cluster.name)
        .copied()
        .unwrap_or(0);
    if failovers >= automation.budget.failovers {
        let message = format!(
            "{evidence}; but `{}` already failed over {failovers} time(s) within {} (max_failovers = {}): automation pauses until `hadome ack {}`",
            cluster.name,
            human_duration(automation.budget.window_seconds),
            automation.budget.failovers,
            cluster.name
        );
        pause(
            watch,
            tick,
            commands,
            cluster,
            &cluster.name,
            message.clone(),
        );
        return report(cluster, Some(&primary), ClusterState::Paused, message);
    }

    match choose_candidate(
        tick.estate,
        tick.facts,
        tick.history,
        tick.now,
        cluster,
        &primary,
        &watch.synchronous,
    ) {
        Ok(candidate) => {
            commands.push(Command::Failover(FailoverPlan {
                cluster: cluster.name.clone(),
                old_primary: primary.clone(),
                candidate: candidate.name.clone(),
                evidence: evidence.clone(),
            }));
            watch.old_primaries.insert(primary.clone());
            report(
                cluster,
                Some(&primary),
                ClusterState::FailingOver,
                format!("{evidence}; failing over to `{}`", candidate.name),
            )
        }
        Err(refusals) => {
            let message = format!(
                "{evidence}; no standby may be promoted: {}",
                refusals.join("; ")
            );
            escalate_once(
                watch,
                commands,
                "no-candidate".to_owned(),
                Escalation {
                    cluster: cluster.name.clone(),
                    subject: primary.clone(),
                    rule: rule::PROMOTE_ELIGIBILITY,
                    message: message.clone(),
                },
            );
            report(cluster, Some(&primary), ClusterState::NoCandidate, message)
        }
    }
}

/// Whether the primary's crash is proven, not merely suspected: its new connections are refused
/// or closed at once (nothing listens: a hang or a cut network answers nothing instead),
/// hadome's open session to it closed (a live postmaster's sessions stay open), and at least one
/// standby answers while no answering witness's WAL receiver streams (a primary that is only cut
/// off from hadome still streams to them: the `isolate` blip).
fn proven_crash(
    kind: Option<FailureKind>,
    session_answers: bool,
    answering: &[&StandbyView],
) -> bool {
    kind == Some(FailureKind::Down)
        && !session_answers
        && !answering.is_empty()
        && answering
            .iter()
            .all(|standby| standby.receiver.as_deref() != Some("streaming"))
}

fn timeline_note(view: &View, other: &str, leader: &str) -> String {
    match (view.fresh(other), view.fresh(leader)) {
        (Some(mine), Some(theirs)) if mine.position.timeline != theirs.position.timeline => {
            format!(
                " on timeline {} (the primary is on {})",
                mine.position.timeline, theirs.position.timeline
            )
        }
        _ => String::new(),
    }
}

/// Among members that accept writes, the one that leads: the newest timeline; on a tie, the one
/// hadome already holds to be the primary; `None` when that does not decide.
fn leading_primary<'a>(view: &View, live: &[&'a str], known: Option<&str>) -> Option<&'a str> {
    let timeline = |name: &str| view.fresh(name).map_or(0, |state| state.position.timeline);
    let newest = live.iter().map(|name| timeline(name)).max()?;
    let leaders: Vec<&'a str> = live
        .iter()
        .copied()
        .filter(|name| timeline(name) == newest)
        .collect();
    match leaders.as_slice() {
        [one] => Some(one),
        several => several.iter().copied().find(|name| Some(*name) == known),
    }
}

/// Standbys: restart the crashed, rebuild the stalled from the primary, deal with old primaries;
/// at most one repair per pass.
fn care_for_standbys(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    leader: &str,
    commands: &mut Vec<Command>,
) {
    let view = view(tick);
    let automation = &cluster.automation;
    let members: Vec<&String> = cluster
        .members
        .iter()
        .filter(|member| member.as_str() != leader)
        .collect();
    // How long each standby has gone without streaming, before any repair is decided.
    for member in &members {
        let not_streaming = view
            .fresh(member)
            .is_some_and(|state| state.in_recovery && !view.streams(member));
        if not_streaming {
            watch
                .not_streaming_since
                .entry((*member).clone())
                .or_insert(tick.now);
        } else {
            watch.not_streaming_since.remove(member.as_str());
        }
    }
    let acted = |commands: &[Command]| {
        commands
            .iter()
            .any(|command| matches!(command, Command::Restart { .. } | Command::Rebuild { .. }))
    };
    for member in members {
        // One repair per cluster and pass: the next pass decides on facts observed after it (a
        // rebuilt standby changes what its cascades need).
        if acted(commands) {
            break;
        }
        if tick.paused.contains(member.as_str()) {
            continue;
        }
        let old_primary = watch.old_primaries.contains(member.as_str());
        if old_primary {
            let rebuild_policy = automation.on_old_primary == OldPrimaryPolicy::Rebuild;
            // Down (refused connections: its fence killed it) is the usual state of an old
            // primary after a failover. Under the rebuild policy it is rebuilt from there; it is
            // never restarted as it is, which would bring back a primary of the old timeline. A
            // hung or unreachable one is left alone: the executor could not stop it.
            if rebuild_policy && failure_kind(tick, member) == Some(FailureKind::Down) {
                rebuild(watch, tick, cluster, member, leader, format!("`{member}` was the primary before the failover and is down (fenced): on_old_primary = \"rebuild\" makes it a standby of `{leader}`, its diverged data moved aside"), commands);
            } else if let Some(state) = view.fresh(member) {
                let streams_from_leader = view.streams(member) && view.feeder_of(member).is_some();
                if state.in_recovery && !streams_from_leader && rebuild_policy {
                    rebuild(watch, tick, cluster, member, leader, format!("`{member}` was the primary before the failover: on_old_primary = \"rebuild\" makes it a standby of `{leader}`, its diverged data moved aside"), commands);
                } else if streams_from_leader {
                    watch.old_primaries.remove(member.as_str());
                }
            }
            continue;
        }
        // A standby whose postmaster is gone: restart it within budget.
        if failure_kind(tick, member) == Some(FailureKind::Down)
            && view
                .last_known(member)
                .is_some_and(|known| !known.was_primary)
        {
            let spent = tick
                .spent
                .restarts
                .get(member.as_str())
                .copied()
                .unwrap_or(0);
            if spent >= automation.budget.restarts_per_target {
                pause(watch, tick, commands, cluster, member, format!(
                    "`{member}` is down again ({}) after {spent} restart(s) within {} (max_restarts_per_target = {}): automation of `{member}` pauses until `hadome ack {member}`",
                    error_of(tick, member),
                    human_duration(automation.budget.window_seconds),
                    automation.budget.restarts_per_target
                ));
                continue;
            }
            match watch.restarts.get(member.as_str()) {
                Some(at) if tick.now.seconds_since(*at) < automation.restart_window_seconds => {}
                Some(at)
                    if tick.now.seconds_since(*at) < 2.0 * automation.restart_window_seconds =>
                {
                    // Restarted within the window before this one and still down: it did not help.
                    let at = *at;
                    pause(watch, tick, commands, cluster, member, format!(
                        "a restart of `{member}` {} ago did not bring it back ({}): automation of `{member}` pauses until `hadome ack {member}`",
                        human_duration(tick.now.seconds_since(at)),
                        error_of(tick, member)
                    ));
                }
                _ => {
                    watch.restarts.insert(member.clone(), tick.now);
                    commands.push(Command::Restart {
                        cluster: cluster.name.clone(),
                        target: member.clone(),
                        reason: format!("standby `{member}` is down ({})", error_of(tick, member)),
                        wake: Vec::new(),
                    });
                }
            }
            continue;
        }
        if view.fresh(member).is_some() {
            watch.restarts.remove(member.as_str());
        }
        // A standby that can never catch up: rebuild it from the primary (never the reverse).
        // Proven by the facts (the WAL it needs is gone, its slot lost), or not streaming for
        // `stall_seconds` while the primary answers; one probe without a WAL receiver proves
        // nothing (it reconnects on its own after a restart or a blip).
        let stalled_for = watch
            .not_streaming_since
            .get(member.as_str())
            .map_or(0.0, |since| tick.now.seconds_since(*since));
        let proven = interlock::cannot_catch_up(&view, member);
        if !proven && stalled_for < automation.stall_seconds {
            continue;
        }
        if let Some(finding) = interlock::check(tick.estate, tick.facts, tick.history, tick.now)
            .into_iter()
            .find(|finding| {
                finding.rule == rule::REPLICATION_STALLED
                    && finding.subject == *member
                    && finding.severity >= Severity::NeedsHuman
            })
        {
            let reason = if proven {
                finding.message
            } else {
                format!(
                    "{}; it has not streamed for {} (stall_seconds = {})",
                    finding.message,
                    human_duration(stalled_for),
                    automation.stall_seconds
                )
            };
            rebuild(watch, tick, cluster, member, leader, reason, commands);
        }
    }
}

fn rebuild(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    target: &str,
    source: &str,
    reason: String,
    commands: &mut Vec<Command>,
) {
    let budget = &cluster.automation.budget;
    let spent = tick.spent.rebuilds.get(target).copied().unwrap_or(0);
    if spent >= budget.rebuilds_per_target {
        pause(watch, tick, commands, cluster, target, format!(
            "{reason}; but `{target}` was rebuilt {spent} time(s) within {} (max_rebuilds_per_target = {}): automation of `{target}` pauses until `hadome ack {target}`",
            human_duration(budget.window_seconds),
            budget.rebuilds_per_target
        ));
        return;
    }
    let assessment = interlock::assess(
        tick.estate,
        tick.facts,
        tick.history,
        &Action::Rebuild {
            target: target.to_owned(),
            source: source.to_owned(),
        },
        tick.now,
    );
    if matches!(assessment.verdict, Verdict::Allow | Verdict::AllowAfter) {
        commands.push(Command::Rebuild {
            cluster: cluster.name.clone(),
            target: target.to_owned(),
            source: source.to_owned(),
            reason,
        });
    } else {
        escalate_once(
            watch,
            commands,
            format!("standby rebuild {target}"),
            Escalation {
                cluster: cluster.name.clone(),
                subject: target.to_owned(),
                rule: assessment
                    .findings
                    .first()
                    .map_or(rule::OVERWRITE_OLDER, |finding| finding.rule),
                message: format!(
                    "{reason}; the rebuild from `{source}` is refused: {}",
                    refusal(&assessment)
                ),
            },
        );
    }
}

fn refusal(assessment: &Assessment) -> String {
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
