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

//!
//! The module is split by concern: `primary.rs` (the primary's side of a pass), `standbys.rs`
//! (repairs of standbys), `candidate.rs` (which standby may be promoted), `failover.rs` (the
//! failover protocol as its own state machine), `watch.rs` (what is remembered between passes),
//! `agreement.rs` (what the standbys still hear).

use std::collections::{BTreeMap, BTreeSet};

use crate::estate::Estate;
use crate::fact::{Facts, History, Timestamp};
use crate::sync_rep::CommitWait;

mod agreement;
#[cfg(test)]
mod async_tests;
mod candidate;
mod failover;
#[cfg(test)]
mod failover_tests;
mod primary;
mod standbys;
#[cfg(test)]
mod standbys_tests;
#[cfg(test)]
mod test_world;
#[cfg(test)]
mod tests;
mod watch;

pub use agreement::{standby_view, StandbyView};
pub use candidate::{choose_candidate, Candidate};
pub use failover::{Failover, FailoverPhase, FailoverStep, FollowState, Follower, Reported};
pub use primary::LONG_SUSPICION_SECONDS;

use watch::Watch;

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

impl Supervisor {
    /// A supervisor that knows nothing yet.
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Tells the supervisor what a failover did so far: its old primary, once fenced, is an old
    /// primary (never restarted as it is, never taken for the primary that merely crashed), and
    /// the member it promoted is the primary. The shell hands over every failover as it
    /// advances, and at start-up the last one the journal recorded for each cluster (finished,
    /// open or interrupted), so a new daemon knows what its predecessor did.
    pub fn handle_failover(&mut self, failover: &Failover) {
        let watch = self.clusters.entry(failover.cluster.clone()).or_default();
        if failover.fenced {
            watch.old_primaries.insert(failover.old_primary.clone());
        }
        if let Some(primary) = failover.promoted() {
            watch.leader = Some(primary.to_owned());
            watch.old_primaries.remove(primary);
        }
        if watch.commit_wait.is_none() && !failover.synchronous.is_empty() {
            watch.commit_wait = Some(CommitWait::Standbys(failover.synchronous.clone()));
        }
    }

    /// Tells the supervisor that its restart of `target` in `cluster` failed at some step (it
    /// could not be stopped, did not start, did not answer). When `target` is the primary, the
    /// next pass fails over at once instead of waiting out `restart_window_seconds`: the
    /// restart is known not to bring it back (issue 18).
    pub fn handle_restart_failed(&mut self, cluster: &str, target: &str) {
        if let Some(watch) = self.clusters.get_mut(cluster) {
            if watch.leader.as_deref() == Some(target) && watch.restarted_at.is_some() {
                watch.restart_failed = true;
            }
        }
    }

    /// The member held to be `cluster`'s primary.
    pub fn primary_of(&self, cluster: &str) -> Option<&str> {
        self.clusters.get(cluster)?.leader.as_deref()
    }

    /// The standbys (`application_name`s) `cluster`'s primary waited for before acknowledging a
    /// commit when it last answered: what its `synchronous_standby_names` names (`*`: any).
    pub fn synchronous_of(&self, cluster: &str) -> &[String] {
        self.clusters
            .get(cluster)
            .map_or(&[], |watch| watch.synchronous())
    }

    /// One pass.
    pub fn step(&mut self, tick: &Tick) -> Decision {
        let mut decision = Decision::default();
        for cluster in &tick.estate.clusters {
            let watch = self.clusters.entry(cluster.name.clone()).or_default();
            let report = primary::supervise(watch, tick, cluster, &mut decision.commands);
            decision.reports.push(report);
        }
        decision
    }
}
