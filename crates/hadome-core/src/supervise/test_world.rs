//! The world the supervisor's tests build, pass after pass: a healthy `trio` estate, hand-built
//! instance states, and the faults the tests inflict (a hang, a crash), shared by `tests.rs`,
//! `standbys_tests.rs` and `failover_tests.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;
use crate::estate::{Automation, Cluster, FailoverPolicy, Instance};
use crate::fact::{
    InstanceState, KeepaliveSettings, LastKnown, Probe, ProbeOutcome, ReceiverStatus,
    ReplicationPeer, SyncSettings, SyncState, WalReceiver,
};
use crate::position::{DataPosition, Lsn};

pub(super) const T0: i64 = 1_000_000_000;
pub(super) const MB: u64 = 1 << 20;

pub(super) fn estate() -> Estate {
    let names = ["db-1", "db-2", "db-3"];
    Estate {
        instances: names
            .iter()
            .map(|name| Instance {
                name: (*name).to_owned(),
                conninfo: format!("host=127.0.0.1 application_name={name}"),
                data_dir: PathBuf::from(format!("/srv/{name}")),
                host: "localhost".to_owned(),
                application_name: (*name).to_owned(),
                commands: Default::default(),
            })
            .collect(),
        clusters: vec![Cluster {
            name: "main".to_owned(),
            members: names.iter().map(|name| (*name).to_owned()).collect(),
            failover: FailoverPolicy::Auto,
            max_lag_on_failover_bytes: 0,
            freshness_seconds: 5.0,
            max_replication_lag_bytes: 64 * MB,
            automation: Automation {
                detection_seconds: 1.5,
                restart_window_seconds: 10.0,
                ..Automation::default()
            },
        }],
        journal_path: PathBuf::from("/tmp/j.sqlite"),
        probe_timeout_seconds: 1.0,
        probe_interval_seconds: 0.5,
        notify: Default::default(),
        backups: Vec::new(),
        snapshots: Vec::new(),
        hosts: Vec::new(),
        etcd_members: Vec::new(),
        quorums: Vec::new(),
        coordination: None,
        api: None,
        web: Default::default(),
    }
}

pub(super) fn position(timeline: u32, lsn: u64) -> DataPosition {
    DataPosition {
        system_identifier: 7,
        timeline,
        lsn: Lsn(lsn),
        history: Some(Vec::new()),
    }
}

pub(super) fn state(in_recovery: bool, lsn: u64) -> InstanceState {
    InstanceState {
        in_recovery,
        position: position(1, lsn),
        receive_lsn: None,
        replay_lsn: None,
        last_replay_at: None,
        postmaster_started_at: Timestamp(0),
        wal_segment_size_bytes: MB,
        oldest_wal_segment: Some(1),
        recovery_target_timeline: "latest".to_owned(),
        primary_conninfo: String::new(),
        wal_receiver: None,
        replication: Vec::new(),
        slots: Vec::new(),
        unapplied_settings: Vec::new(),
        keepalive: KeepaliveSettings {
            sender_timeout_ms: Some(1_000),
            receiver_status_interval_ms: Some(10_000),
            receiver_timeout_ms: Some(60_000),
        },
        synchronous: SyncSettings {
            standby_names: Some(String::new()),
            commit: Some("on".to_owned()),
        },
    }
}

pub(super) fn primary(lsn: u64) -> InstanceState {
    let mut primary = state(false, lsn);
    primary.synchronous.standby_names = Some("\"db-2\"".to_owned());
    primary.replication = [("db-2", "sync"), ("db-3", "async")]
        .iter()
        .map(|(name, sync_state)| ReplicationPeer {
            application_name: (*name).to_owned(),
            state: "streaming".to_owned(),
            sent_lsn: Some(Lsn(lsn)),
            flush_lsn: Some(Lsn(lsn)),
            replay_lsn: Some(Lsn(lsn)),
            sync_state: SyncState::parse(sync_state),
            reply_at: None,
        })
        .collect();
    primary
}

/// A standby at `lsn` whose receiver is `status`, last message `age_ms` ago.
pub(super) fn standby(lsn: u64, status: &str, age_ms: i64) -> InstanceState {
    let mut standby = state(true, lsn);
    standby.wal_receiver = Some(WalReceiver {
        status: ReceiverStatus::parse(status),
        received_timeline: 1,
        flushed_lsn: Some(Lsn(lsn)),
        last_message_at: None,
        last_message_age_ms: Some(age_ms),
        sender: None,
        slot_name: None,
    });
    standby
}

/// The world the supervisor sees, pass after pass.
pub(super) struct World {
    pub(super) estate: Estate,
    pub(super) facts: Facts,
    pub(super) history: History,
    pub(super) now: Timestamp,
    pub(super) sessions: BTreeMap<String, bool>,
    pub(super) leases: BTreeSet<String>,
    pub(super) paused: BTreeSet<String>,
    pub(super) spent: Spent,
    pub(super) held: BTreeMap<String, String>,
    pub(super) supervisor: Supervisor,
}

impl World {
    /// A healthy trio seen once: db-1 primary at 100 MB, both standbys caught up.
    pub(super) fn healthy() -> World {
        let mut world = World {
            estate: estate(),
            facts: Facts::default(),
            history: History::default(),
            now: Timestamp(T0),
            sessions: BTreeMap::new(),
            leases: BTreeSet::from(["main".to_owned()]),
            paused: BTreeSet::new(),
            spent: Spent::default(),
            held: BTreeMap::new(),
            supervisor: Supervisor::new(),
        };
        world.answer("db-1", primary(100 * MB));
        world.answer("db-2", standby(100 * MB, "streaming", 200));
        world.answer("db-3", standby(100 * MB, "streaming", 200));
        world
    }

    pub(super) fn answer(&mut self, name: &str, state: InstanceState) {
        self.history.last_known.insert(
            name.to_owned(),
            LastKnown {
                position: state.position.clone(),
                was_primary: !state.in_recovery,
                was_streaming: state.wal_receiver.is_some(),
                observed_at: self.now,
                last_replay_at: None,
                synchronous: state.synchronous.clone(),
                keepalive: state.keepalive,
            },
        );
        self.facts.instances.insert(
            name.to_owned(),
            Probe {
                observed_at: self.now,
                outcome: ProbeOutcome::Answered(Box::new(state)),
            },
        );
    }

    /// The standby `name`'s postmaster is gone: hadome's connections fail at once, and no member
    /// lists it in `pg_stat_replication` any more (its WAL receiver died with it).
    pub(super) fn crash_standby(&mut self, name: &str) {
        self.fail(name, CRASHED);
        for probe in self.facts.instances.values_mut() {
            if let ProbeOutcome::Answered(state) = &mut probe.outcome {
                state
                    .replication
                    .retain(|peer| peer.application_name != name);
            }
        }
    }

    pub(super) fn fail(&mut self, name: &str, error: &str) {
        self.facts.instances.insert(
            name.to_owned(),
            Probe {
                observed_at: self.now,
                outcome: ProbeOutcome::unreachable(error),
            },
        );
    }

    /// Time passes and the next pass sees the same as the last one (until a test says otherwise);
    /// the journal remembers the answers as of when they were given.
    pub(super) fn later(&mut self, seconds: f64) {
        self.now = Timestamp(self.now.0 + (seconds * 1000.0) as i64);
        for probe in self.facts.instances.values_mut() {
            probe.observed_at = self.now;
        }
    }

    pub(super) fn step(&mut self) -> Decision {
        let tick = Tick {
            estate: &self.estate,
            facts: &self.facts,
            history: &self.history,
            now: self.now,
            sessions: &self.sessions,
            leases: &self.leases,
            paused: &self.paused,
            spent: &self.spent,
            held: &self.held,
        };
        self.supervisor.step(&tick)
    }
}

pub(super) const HUNG: &str =
    "no answer to accept the connection within 1.0 s (probe_timeout_seconds)";
pub(super) const CRASHED: &str =
    "cannot connect: error communicating with the server: Connection reset by peer";

pub(super) fn state_of(decision: &Decision) -> ClusterState {
    decision.reports[0].state
}

pub(super) fn failover_plan(decision: &Decision) -> Option<FailoverPlan> {
    decision.commands.iter().find_map(|command| match command {
        Command::Failover(plan) => Some(plan.clone()),
        _ => None,
    })
}

pub(super) fn failover_to(decision: &Decision) -> Option<String> {
    failover_plan(decision).map(|plan| plan.candidate)
}

pub(super) fn escalations(decision: &Decision) -> Vec<&Escalation> {
    decision
        .commands
        .iter()
        .filter_map(|command| match command {
            Command::Escalate(escalation) | Command::Pause { escalation } => Some(escalation),
            _ => None,
        })
        .collect()
}

/// The primary hangs: hadome's probes time out, and then the standbys hear nothing either.
pub(super) fn hang_primary(world: &mut World, seconds: f64) {
    world.later(seconds);
    world.fail("db-1", HUNG);
    let age = (seconds * 1000.0) as i64;
    world.answer("db-2", standby(100 * MB, "streaming", age));
    world.answer("db-3", standby(100 * MB, "streaming", age));
}
