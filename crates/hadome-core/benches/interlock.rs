//! How long one interlock evaluation takes on cached facts: a 10-node estate (one primary, nine
//! standbys, one of them stalled, histories on timeline 2), judged for `rebuild`, `promote` and a
//! whole `check`. Target (`../shared/design.md` §6): p99 ≤ 100 µs.
//!
//! `cargo bench -p hadome-core --bench interlock` runs criterion, then times 100,000 single
//! `rebuild` assessments one by one and prints p50, p99 and max, which criterion does not report.

use std::path::PathBuf;
use std::time::Instant;

use std::hint::black_box;

use criterion::Criterion;
use hadome_core::action::Action;
use hadome_core::estate::{Cluster, Estate, FailoverPolicy, Instance};
use hadome_core::fact::{
    Facts, History, InstanceState, LastKnown, Probe, ProbeOutcome, ReceiverStatus, ReplicationPeer,
    SyncState, Timestamp, WalReceiver,
};
use hadome_core::interlock::{assess, check};
use hadome_core::position::{DataPosition, Lsn, TimelineSwitch};

const NOW: Timestamp = Timestamp(1_000_000_000);

fn position(lsn: u64) -> DataPosition {
    DataPosition {
        system_identifier: 42,
        timeline: 2,
        lsn: Lsn(lsn),
        history: Some(vec![TimelineSwitch {
            timeline: 1,
            switch_lsn: Lsn(1 << 20),
        }]),
    }
}

fn fixture() -> (Estate, Facts, History) {
    let names: Vec<String> = (1..=10).map(|index| format!("db-{index}")).collect();
    let estate = Estate {
        instances: names
            .iter()
            .map(|name| Instance {
                name: name.clone(),
                conninfo: String::new(),
                data_dir: PathBuf::from(format!("/srv/{name}")),
                host: "localhost".into(),
                application_name: name.clone(),
                commands: Default::default(),
            })
            .collect(),
        clusters: vec![Cluster {
            name: "main".into(),
            members: names.clone(),
            failover: FailoverPolicy::Manual,
            max_lag_on_failover_bytes: 0,
            freshness_seconds: 30.0,
            max_replication_lag_bytes: 64 << 20,
            automation: Default::default(),
        }],
        journal_path: PathBuf::from("/tmp/j"),
        probe_timeout_seconds: 2.0,
        probe_interval_seconds: 1.0,
        notify: Default::default(),
        backups: Vec::new(),
        snapshots: Vec::new(),
        hosts: Vec::new(),
        etcd_members: Vec::new(),
        quorums: Vec::new(),
        coordination: None,
        api: None,
        web: Default::default(),
    };
    let mut facts = Facts::default();
    let mut history = History::default();
    for (index, name) in names.iter().enumerate() {
        let primary = index == 0;
        let stalled = index == 9;
        let lsn = if stalled { 2 << 20 } else { 900 << 20 };
        let state = InstanceState {
            in_recovery: !primary,
            position: position(lsn),
            receive_lsn: (!primary).then_some(Lsn(lsn)),
            replay_lsn: (!primary).then_some(Lsn(lsn)),
            last_replay_at: (!primary).then_some(Timestamp(NOW.0 - 1000)),
            postmaster_started_at: Timestamp(0),
            wal_segment_size_bytes: 16 << 20,
            oldest_wal_segment: Some(40),
            recovery_target_timeline: "latest".into(),
            primary_conninfo: String::new(),
            wal_receiver: (!primary && !stalled).then_some(WalReceiver {
                status: ReceiverStatus::Streaming,
                received_timeline: 2,
                flushed_lsn: Some(Lsn(lsn)),
                last_message_at: Some(NOW),
                last_message_age_ms: Some(0),
                sender: None,
                slot_name: None,
            }),
            replication: if primary {
                names[1..]
                    .iter()
                    .map(|standby| ReplicationPeer {
                        application_name: standby.clone(),
                        state: "streaming".into(),
                        sent_lsn: Some(Lsn(lsn)),
                        flush_lsn: Some(Lsn(lsn)),
                        replay_lsn: Some(Lsn(lsn)),
                        sync_state: if standby == "db-2" {
                            SyncState::Sync
                        } else {
                            SyncState::Async
                        },
                        reply_at: Some(NOW),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            slots: Vec::new(),
            unapplied_settings: Vec::new(),
            keepalive: hadome_core::fact::KeepaliveSettings::UNKNOWN,
            synchronous: Default::default(),
        };
        history.last_known.insert(
            name.clone(),
            LastKnown {
                position: state.position.clone(),
                was_primary: primary,
                was_streaming: !primary,
                observed_at: NOW,
                last_replay_at: state.last_replay_at,
                synchronous: Default::default(),
                keepalive: Default::default(),
            },
        );
        facts.instances.insert(
            name.clone(),
            Probe {
                observed_at: NOW,
                outcome: ProbeOutcome::Answered(Box::new(state)),
            },
        );
    }
    (estate, facts, history)
}

fn main() {
    let (estate, facts, history) = fixture();
    let rebuild = Action::Rebuild {
        target: "db-10".into(),
        source: "db-1".into(),
    };
    let promote = Action::Promote {
        target: "db-2".into(),
    };

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("assess rebuild, 10 nodes", |bencher| {
        bencher.iter(|| {
            assess(
                black_box(&estate),
                black_box(&facts),
                black_box(&history),
                black_box(&rebuild),
                NOW,
            )
        })
    });
    criterion.bench_function("assess promote, 10 nodes", |bencher| {
        bencher.iter(|| {
            assess(
                black_box(&estate),
                black_box(&facts),
                black_box(&history),
                black_box(&promote),
                NOW,
            )
        })
    });
    criterion.bench_function("check, 10 nodes", |bencher| {
        bencher.iter(|| {
            check(
                black_box(&estate),
                black_box(&facts),
                black_box(&history),
                NOW,
            )
        })
    });
    criterion.final_summary();

    for (label, action) in [("rebuild", &rebuild), ("promote", &promote)] {
        let mut samples: Vec<u128> = (0..100_000)
            .map(|_| {
                let started = Instant::now();
                black_box(assess(&estate, &facts, &history, action, NOW));
                started.elapsed().as_nanos()
            })
            .collect();
        samples.sort_unstable();
        let at = |quantile: f64| {
            samples[((samples.len() - 1) as f64 * quantile) as usize] as f64 / 1000.0
        };
        println!(
            "assess {label}, 10 nodes, 100000 single evaluations: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            at(0.50),
            at(0.99),
            at(1.0)
        );
    }
}
