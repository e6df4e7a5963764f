//! What the supervisor remembers of one cluster between passes, and the small helpers every
//! concern of a pass shares (reports, escalations sent once, pauses).

use std::collections::{BTreeMap, BTreeSet};

use crate::estate::Cluster;
use crate::fact::{FailureKind, KeepaliveSettings, ProbeOutcome, Timestamp};
use crate::interlock::View;
use crate::rule;
use crate::sync_rep::CommitWait;

use super::{ClusterReport, ClusterState, Command, Escalation, Tick};

#[derive(Debug, Clone, Default)]
pub(super) struct Watch {
    /// The member held to be the primary.
    pub(super) leader: Option<String>,
    /// What it waited for before acknowledging a commit, as it last answered (or as the journal
    /// remembers it, or as the last failover set it); `None`: never seen.
    pub(super) commit_wait: Option<CommitWait>,
    /// Every standby streaming from it directly, as it last listed them.
    pub(super) direct: Vec<String>,
    /// Standbys (`application_name`s) ever seen streaming from another standby, and not since
    /// from the primary: a cascade hears its own upstream, so it is never a witness of the
    /// primary, even when the primary's own list is empty (issue 17's seeds 1 and 35).
    pub(super) cascaded: BTreeSet<String>,
    /// Its replication timeouts, as last seen by this daemon or, started while it did not
    /// answer, as the journal remembers them (they bound how long its standbys may hear nothing
    /// from it while it is idle).
    pub(super) keepalive: Option<KeepaliveSettings>,
    /// Since when the leader has not answered.
    pub(super) missing_since: Option<Timestamp>,
    /// When the leader was restarted in place for this failure.
    pub(super) restarted_at: Option<Timestamp>,
    /// The leader's restart in place failed (the shell said so): fail over without waiting.
    pub(super) restart_failed: bool,
    /// Members that were primaries before a failover: never restarted as they are.
    pub(super) old_primaries: BTreeSet<String>,
    /// Per instance, when a restart of it was ordered (to judge whether it helped).
    pub(super) restarts: BTreeMap<String, Timestamp>,
    /// Per standby that answers without streaming while the primary answers: since when
    /// (counted from the first such pass; forgotten while no primary answers).
    pub(super) not_streaming_since: BTreeMap<String, Timestamp>,
    /// Per standby hadome cannot reach while its upstream lists it in
    /// `pg_stat_replication` (it runs; the path from hadome fails): since when (forgotten while
    /// no primary answers).
    pub(super) unseen_since: BTreeMap<String, Timestamp>,
    /// Escalations already sent (not repeated every pass).
    pub(super) escalated: BTreeSet<EscalationKey>,
}

impl Watch {
    /// The standbys the leader waited for before acknowledging a commit (empty: none, or not
    /// known).
    pub(super) fn synchronous(&self) -> &[String] {
        self.commit_wait.as_ref().map_or(&[], CommitWait::standbys)
    }
}

/// What an escalation is about: it is sent once per key, and the keys about the primary's failure
/// are forgotten once a primary answers again (so the next failure is told again).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum EscalationKey {
    /// Several members accept writes on the same timeline (their names).
    TwoPrimaries(Vec<String>),
    /// A member accepts writes beside the primary, and this daemon may not fence it.
    SecondPrimary(String),
    /// The primary does not answer and no standby answers to confirm it failed.
    NoWitness,
    /// The primary failed where this daemon does not fail over.
    Failed,
    /// The primary failed and no standby may be promoted.
    NoCandidate,
    /// The primary failed, and nothing proves the standby to promote holds every commit it
    /// acknowledged (`async_failover = "escalate"`).
    Unproven,
    /// Automation of a target (instance or cluster) was paused.
    Pause(String),
    /// A standby's rebuild was refused.
    StandbyRebuild(String),
    /// A standby has not streamed for `stall_seconds`, with no proven cause to rebuild it.
    StandbyStalled(String),
    /// hadome has not reached a standby for `stall_seconds` though its upstream lists it.
    StandbyUnseen(String),
    /// The primary has been unreachable for [`LONG_SUSPICION_SECONDS`](super::primary::LONG_SUSPICION_SECONDS)
    /// and the daemon still has no proof to act on.
    LongSuspicion,
}

impl EscalationKey {
    /// Whether the key is about the primary's failure: forgotten once a primary answers.
    pub(super) fn about_the_primary(&self) -> bool {
        match self {
            EscalationKey::TwoPrimaries(_)
            | EscalationKey::SecondPrimary(_)
            | EscalationKey::NoWitness
            | EscalationKey::Failed
            | EscalationKey::NoCandidate
            | EscalationKey::Unproven
            | EscalationKey::LongSuspicion => true,
            EscalationKey::Pause(_)
            | EscalationKey::StandbyRebuild(_)
            | EscalationKey::StandbyStalled(_)
            | EscalationKey::StandbyUnseen(_) => false,
        }
    }
}

pub(super) fn view<'a>(tick: &Tick<'a>) -> View<'a> {
    View {
        estate: tick.estate,
        facts: tick.facts,
        history: tick.history,
        now: tick.now,
    }
}

pub(super) fn report(
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

pub(super) fn failure_kind(tick: &Tick, instance: &str) -> Option<FailureKind> {
    match &tick.facts.instances.get(instance)?.outcome {
        ProbeOutcome::Answered(_) => None,
        ProbeOutcome::Unreachable { kind, .. } => Some(*kind),
    }
}

pub(super) fn error_of(tick: &Tick, instance: &str) -> String {
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
pub(super) fn escalate_once(
    watch: &mut Watch,
    commands: &mut Vec<Command>,
    key: EscalationKey,
    escalation: Escalation,
) {
    if watch.escalated.insert(key) {
        commands.push(Command::Escalate(escalation));
    }
}

pub(super) fn pause(
    watch: &mut Watch,
    tick: &Tick,
    commands: &mut Vec<Command>,
    cluster: &Cluster,
    target: &str,
    message: String,
) {
    if tick.paused.contains(target)
        || !watch
            .escalated
            .insert(EscalationKey::Pause(target.to_owned()))
    {
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
