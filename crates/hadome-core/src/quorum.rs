//! Quorum clusters: etcd members placed on hosts (issue 13, incident D,
//! `../shared/incidents/README.md`).
//!
//! A quorum cluster stays writable while a majority of its voting members is healthy. Incident D
//! lost that majority by taking a machine image of a *healthy* member (the console rebooted it)
//! while another member was already down. Each member is declared with `[[etcd]]` (its client
//! endpoints, the host it is placed on, and the argv commands that start and stop it), each
//! cluster with `[[quorum]]`. A member's facts are what one probe of its endpoints saw
//! ([`MemberProbe`]); what the journal remembers of it is [`MemberLastKnown`].

use crate::fact::{FailureKind, Timestamp};

/// `max_raft_lag` when unset: a member whose raft index is further behind the leader's than
/// this many entries is still catching up, and counts as down.
pub const DEFAULT_MAX_RAFT_LAG: u64 = 1000;

/// One etcd member of the estate (`[[etcd]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Its name in the estate (etcd's `--name`): unique across instances and members.
    pub name: String,
    /// Its client URLs (`http://` or `https://`), as etcd's `--advertise-client-urls`.
    pub endpoints: Vec<String>,
    /// The host it is placed on: an action on that host takes it down.
    pub host: String,
    /// Its data directory on its host (etcd's `--data-dir`), when declared: `advise` reads
    /// whether it is intact (when its `[[host]]` lists it in `data_paths`), and `replace-member`
    /// moves it aside, never deletes it.
    pub data_dir: Option<std::path::PathBuf>,
    /// How hadome starts, stops, removes, adds and promotes it.
    pub commands: MemberCommands,
}

/// Argv commands (never shell strings) that act on a member; `None` when not configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCommands {
    /// Starts the member (`["systemctl", "start", "etcd"]`).
    pub start: Option<Vec<String>>,
    /// Stops the member.
    pub stop: Option<Vec<String>>,
    /// Removes it from its cluster (`etcdctl member remove`; `{target}` is its name).
    pub remove: Option<Vec<String>>,
    /// Adds a fresh member of the same name as a learner (`etcdctl member add --learner`), with
    /// an empty data directory at `{data_dir}`; `start` starts it afterwards.
    pub add: Option<Vec<String>>,
    /// Promotes it from learner to voter once it has caught up (`etcdctl member promote`; etcd
    /// refuses until the learner is caught up, so the command retries within its own deadline).
    pub promote: Option<Vec<String>>,
}

/// A quorum cluster (`[[quorum]]`): members that vote on every write.
#[derive(Debug, Clone, PartialEq)]
pub struct QuorumCluster {
    /// Its name in the estate.
    pub name: String,
    /// Its members' names (`[[etcd]]` names), in the order of the file.
    pub members: Vec<String>,
    /// A member whose raft index is behind the leader's by more than this is catching up: it
    /// counts as down (default [`DEFAULT_MAX_RAFT_LAG`]).
    pub max_raft_lag: u64,
    /// A member's facts older than this are stale and count as down (default 30 s).
    pub freshness_seconds: f64,
    /// How hadome reaches its members: TLS and credentials (none by default).
    pub security: EtcdSecurity,
}

/// How hadome connects to a quorum's members (`[[quorum]]`'s `ca_file`, `cert_file`,
/// `key_file`, `user`, `password_file`). Only paths are kept: the password is read from its file
/// by the probe that needs it, and never held in the estate, logged or journaled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdSecurity {
    /// The CA that signed the members' server certificates: set, the endpoints are `https://`.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate and its key, for members that check clients' certificates
    /// (etcd's `--client-cert-auth`).
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// An etcd user (etcd's `auth enable`) and the file holding its password.
    pub credentials: Option<EtcdCredentials>,
}

/// An etcd user and where its password is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCredentials {
    /// The user's name.
    pub user: String,
    /// A file whose content (one line, trailing newline ignored) is the password.
    pub password_file: std::path::PathBuf,
}

/// What one probe of one member returned.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberProbe {
    /// When the probe started.
    pub observed_at: Timestamp,
    /// What it found.
    pub outcome: MemberOutcome,
}

/// A member answered, or did not within the probe timeout.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOutcome {
    /// It answered: its status, member list and alarms.
    Answered(MemberState),
    /// It did not answer (refused, timed out, failed).
    Unreachable {
        /// What went wrong, as text.
        error: String,
        /// What kind of failure that is.
        kind: FailureKind,
    },
}

/// What an etcd member said of itself (`Status`, `MemberList`, `Alarm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    /// Its member id.
    pub member_id: u64,
    /// The id of the leader it follows (0: it knows no leader).
    pub leader_id: u64,
    /// The raft term it is in.
    pub raft_term: u64,
    /// Its raft index.
    pub raft_index: u64,
    /// Its database's size.
    pub db_size_bytes: u64,
    /// Whether it is a learner (a non-voting member catching up).
    pub is_learner: bool,
    /// Errors its status reports (`errors`); any makes it unhealthy.
    pub errors: Vec<String>,
    /// Active alarms in the cluster, as etcd names them (`NOSPACE`, `CORRUPT`).
    pub alarms: Vec<String>,
    /// The member list it returned: each member's id and name.
    pub members: Vec<(u64, String)>,
}

/// What the journal remembers of a member, so "down for 14 min" survives a restart of hadome.
///
/// `hadome-journal` (schema version 7) writes `last_state` whenever the member answers, and, from
/// each pass's judgement (`crate::interlock::member_health`, the one the `quorum` rule makes),
/// `last_healthy` when it is healthy, and opens or closes a [`DownEpisode`] when it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberLastKnown {
    /// The last time a pass judged it healthy.
    pub last_healthy: Option<Timestamp>,
    /// Its last answer, and when.
    pub last_state: Option<(Timestamp, MemberState)>,
    /// Each time it was judged down and (when it did) came back, oldest first.
    pub episodes: Vec<DownEpisode>,
}

/// One time a member was down: from the first pass that judged it not healthy to the first pass
/// that judged it healthy again (`back_at`, `None` while it is still down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownEpisode {
    /// When a pass last judged it healthy before this episode (`None`: never seen healthy).
    pub last_healthy_before: Option<Timestamp>,
    /// The first pass that judged it not healthy.
    pub first_seen_down: Timestamp,
    /// The first pass that judged it healthy again.
    pub back_at: Option<Timestamp>,
}

impl DownEpisode {
    /// How long it was down (until `now` while open): from its last healthy pass when known
    /// (the longest it can have been down), else from the first pass that saw it down.
    pub fn down_seconds(&self, now: Timestamp) -> f64 {
        let start = self.last_healthy_before.unwrap_or(self.first_seen_down);
        self.back_at.unwrap_or(now).seconds_since(start).max(0.0)
    }
}
