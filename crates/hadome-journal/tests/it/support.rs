//! Hand-built facts for the tests: every field of `InstanceState` filled, with a few knobs.

use std::path::PathBuf;

use hadome_core::fact::{
    Facts, InstanceState, Probe, ProbeOutcome, ReceiverStatus, ReplicationSlot, Timestamp,
    UnappliedSetting, WalReceiver, WalStatus,
};
use hadome_core::position::{DataPosition, Lsn, TimelineSwitch};
use hadome_journal::Journal;

/// A data position of cluster `system_identifier`.
pub(crate) fn position(
    system_identifier: u64,
    timeline: u32,
    lsn: u64,
    history: Option<&[(u32, u64)]>,
) -> DataPosition {
    DataPosition {
        system_identifier,
        timeline,
        lsn: Lsn(lsn),
        history: history.map(|history| {
            history
                .iter()
                .map(|&(timeline, at)| TimelineSwitch {
                    timeline,
                    switch_lsn: Lsn(at),
                })
                .collect()
        }),
    }
}

/// What an instance says of itself: a primary (`in_recovery` false) or a standby whose WAL
/// receiver streams or not, with `unapplied` settings changed on disk.
pub(crate) fn state(
    in_recovery: bool,
    position: DataPosition,
    streaming: bool,
    unapplied: usize,
) -> InstanceState {
    let lsn = position.lsn;
    InstanceState {
        in_recovery,
        receive_lsn: in_recovery.then_some(lsn),
        replay_lsn: in_recovery.then_some(lsn),
        last_replay_at: in_recovery.then_some(Timestamp(1_700_000_000_000)),
        postmaster_started_at: Timestamp(1_600_000_000_000),
        wal_segment_size_bytes: 16 * 1024 * 1024,
        oldest_wal_segment: Some(1),
        recovery_target_timeline: "latest".to_owned(),
        primary_conninfo: if in_recovery {
            "host=db-0 user=replicator".to_owned()
        } else {
            String::new()
        },
        wal_receiver: in_recovery.then(|| WalReceiver {
            status: if streaming {
                ReceiverStatus::Streaming
            } else {
                ReceiverStatus::Waiting
            },
            received_timeline: position.timeline,
            flushed_lsn: Some(lsn),
            last_message_at: Some(Timestamp(1_700_000_000_000)),
            last_message_age_ms: Some(0),
            sender: Some("db-0:5432".to_owned()),
            slot_name: Some("db_1".to_owned()),
        }),
        replication: Vec::new(),
        slots: vec![ReplicationSlot {
            name: "db_2".to_owned(),
            active: true,
            wal_status: Some(WalStatus::Reserved),
            restart_lsn: Some(lsn),
        }],
        unapplied_settings: (0..unapplied)
            .map(|index| UnappliedSetting {
                name: format!("setting_{index}"),
                file_value: "on".to_owned(),
                live_value: "off".to_owned(),
                source: format!("/etc/postgresql/15/main/postgresql.conf:{index}"),
                pending_restart: index % 2 == 1,
            })
            .collect(),
        keepalive: hadome_core::fact::KeepaliveSettings::UNKNOWN,
        synchronous: Default::default(),
        position,
    }
}

/// A probe started at `at` ms that got `state`.
pub(crate) fn answered(at: i64, state: InstanceState) -> Probe {
    Probe {
        observed_at: Timestamp(at),
        outcome: ProbeOutcome::Answered(Box::new(state)),
    }
}

/// A probe started at `at` ms that got no answer.
pub(crate) fn unreachable(at: i64, error: &str) -> Probe {
    Probe {
        observed_at: Timestamp(at),
        outcome: ProbeOutcome::unreachable(error.to_owned()),
    }
}

/// One pass over these instances.
pub(crate) fn facts<const N: usize>(probes: [(&str, Probe); N]) -> Facts {
    Facts {
        instances: probes
            .into_iter()
            .map(|(name, probe)| (name.to_owned(), probe))
            .collect(),
        ..Facts::default()
    }
}

/// A new journal in a new temporary directory (kept alive by the returned guard).
pub(crate) fn new_journal() -> (tempfile::TempDir, PathBuf, Journal) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("journal.sqlite");
    let journal = Journal::open(&path).expect("a new journal opens");
    (dir, path, journal)
}

/// A raw connection to look at (or damage) the file.
pub(crate) fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("the file opens with rusqlite")
}
