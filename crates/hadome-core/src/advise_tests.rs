//! [`advise`](crate::advise::advise) on hand-built facts, one case per branch of the decision:
//! each row names the situation, the decision, and a reason a person must read in it.

use std::path::PathBuf;

use crate::advise::{advise, Decision, WAIT_AT_LEAST_SECONDS};
use crate::backup::Storage;
use crate::estate::Estate;
use crate::fact::{Facts, FailureKind, History, Timestamp};
use crate::host::{DataPathFact, DataPathState, Host, HostFacts, HostOutcome, HostProbe};
use crate::quorum::{
    DownEpisode, EtcdMember, MemberLastKnown, MemberOutcome, MemberProbe, MemberState,
    QuorumCluster,
};

/// 2027-01-15 08:00:00 UTC.
const NOW: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: i64 = 60_000;

fn ago(milliseconds: i64) -> Timestamp {
    Timestamp(NOW.0 - milliseconds)
}

fn data_dir() -> PathBuf {
    PathBuf::from("/var/lib/etcd/etcd-3")
}

/// `etcd-1`..`etcd-3` on `h1`..`h3` in quorum `etcd`, every one healthy now; `h3` lists
/// `etcd-3`'s data directory in its `data_paths`.
fn healthy() -> (Estate, Facts, History) {
    let estate = Estate {
        instances: Vec::new(),
        clusters: Vec::new(),
        journal_path: PathBuf::from("/tmp/j.sqlite"),
        probe_timeout_seconds: 1.0,
        probe_interval_seconds: 1.0,
        notify: Default::default(),
        backups: Vec::new(),
        snapshots: Vec::new(),
        hosts: (1..=3)
            .map(|n| Host {
                name: format!("h{n}"),
                facts_command: None,
                data_paths: if n == 3 { vec![data_dir()] } else { Vec::new() },
                min_uptime_seconds: 600.0,
                max_boots: 3,
                boot_window_seconds: 3600.0,
                freshness_seconds: 30.0,
                commands: Default::default(),
                ssh: None,
            })
            .collect(),
        etcd_members: (1..=3)
            .map(|n| EtcdMember {
                name: format!("etcd-{n}"),
                endpoints: vec![format!("http://127.0.0.1:2379{n}")],
                host: format!("h{n}"),
                data_dir: (n == 3).then(data_dir),
                commands: Default::default(),
            })
            .collect(),
        quorums: vec![QuorumCluster {
            name: "etcd".to_owned(),
            members: (1..=3).map(|n| format!("etcd-{n}")).collect(),
            max_raft_lag: 1000,
            freshness_seconds: 30.0,
            security: Default::default(),
        }],
        coordination: None,
        api: None,
        web: Default::default(),
    };
    let mut facts = Facts::default();
    let mut history = History::default();
    for n in 1..=3u64 {
        facts.members.insert(
            format!("etcd-{n}"),
            MemberProbe {
                observed_at: NOW,
                outcome: MemberOutcome::Answered(MemberState {
                    member_id: n,
                    leader_id: 1,
                    raft_term: 7,
                    raft_index: 5000,
                    db_size_bytes: 1 << 20,
                    is_learner: false,
                    errors: Vec::new(),
                    alarms: Vec::new(),
                    members: (1..=3).map(|id| (id, format!("etcd-{id}"))).collect(),
                }),
            },
        );
        facts
            .hosts
            .insert(format!("h{n}"), host_answers(if n == 3 { 12 } else { 0 }));
        history.members.insert(
            format!("etcd-{n}"),
            MemberLastKnown {
                last_healthy: Some(NOW),
                last_state: None,
                episodes: Vec::new(),
            },
        );
    }
    (estate, facts, history)
}

/// A host that answers, its `etcd-3` data directory holding `files` files.
fn host_answers(files: u64) -> HostProbe {
    HostProbe {
        observed_at: NOW,
        outcome: HostOutcome::Answered(Box::new(HostFacts {
            boot_id: "b".repeat(32),
            booted_at: ago(48 * 60 * MINUTE),
            boots: None,
            timers: Vec::new(),
            services: Vec::new(),
            failed_units: Vec::new(),
            data_paths: vec![DataPathFact {
                path: data_dir(),
                outcome: Ok(DataPathState {
                    size_bytes: files * 4096,
                    files,
                    storage: Storage {
                        canonical: data_dir(),
                        device: 64,
                    },
                    newest_change: None,
                }),
            }],
        })),
    }
}

/// `etcd-N` refuses connections, last healthy `minutes` ago (`None`: never seen healthy).
fn down(facts: &mut Facts, history: &mut History, number: u64, minutes: Option<i64>) {
    facts.members.insert(
        format!("etcd-{number}"),
        MemberProbe {
            observed_at: NOW,
            outcome: MemberOutcome::Unreachable {
                error: "connection refused".to_owned(),
                kind: FailureKind::Down,
            },
        },
    );
    history.members.insert(
        format!("etcd-{number}"),
        MemberLastKnown {
            last_healthy: minutes.map(|minutes| ago(minutes * MINUTE)),
            last_state: None,
            episodes: Vec::new(),
        },
    );
}

/// (situation, how to build it, decision, a reason it must give).
type Case = (
    &'static str,
    fn(&mut Estate, &mut Facts, &mut History),
    Decision,
    &'static str,
);

#[test]
fn advise_decides_each_branch_from_the_facts() {
    let cases: [Case; 9] = [
        (
            "healthy",
            |_, _, _| {},
            Decision::Healthy,
            "`etcd-3` healthy: there is nothing to wait for",
        ),
        (
            "never seen healthy",
            |_, facts, history| down(facts, history, 3, None),
            Decision::NeedsHuman,
            "hadome never saw it healthy: how long it has been down is unknown",
        ),
        (
            "in no quorum",
            |estate, _, _| estate.quorums[0].members.retain(|name| name != "etcd-3"),
            Decision::NeedsHuman,
            "`etcd-3` belongs to no `[[quorum]]`",
        ),
        (
            "data directory gone, recently down",
            |_, facts, history| {
                down(facts, history, 3, Some(5));
                facts.hosts.insert("h3".to_owned(), host_answers(0));
            },
            Decision::Replace,
            "its data directory `/var/lib/etcd/etcd-3` is empty: it cannot come back by itself",
        ),
        (
            "down longer than the bound",
            |_, facts, history| down(facts, history, 3, Some(31)),
            Decision::Replace,
            "down for 31 min (since it was last healthy); hadome waits up to 30 min",
        ),
        (
            "down longer than twice its longest comeback, which was longer than the floor",
            |_, facts, history| {
                down(facts, history, 3, Some(100));
                history
                    .members
                    .get_mut("etcd-3")
                    .unwrap()
                    .episodes
                    .push(DownEpisode {
                        last_healthy_before: Some(ago(1000 * MINUTE)),
                        first_seen_down: ago(1000 * MINUTE),
                        back_at: Some(ago(955 * MINUTE)),
                    });
            },
            Decision::Replace,
            "it came back by itself 1 time before, after at most 45 min",
        ),
        (
            "replacing it would cross the quorum line",
            |_, facts, history| {
                down(facts, history, 3, Some(31));
                down(facts, history, 2, Some(1));
            },
            Decision::NeedsHuman,
            "replacing it leaves 2 voters, quorum 2, 1 healthy while the fresh member catches up \
             as a learner (it does not vote): it would cross the quorum line",
        ),
        (
            "its host does not answer, recently down",
            |_, facts, history| {
                down(facts, history, 3, Some(5));
                facts.hosts.insert(
                    "h3".to_owned(),
                    HostProbe {
                        observed_at: NOW,
                        outcome: HostOutcome::Unreachable {
                            error: "ssh: connect to host h3: No route to host".to_owned(),
                        },
                    },
                );
            },
            Decision::Wait,
            "its host `h3` does not answer either (ssh: connect to host h3: No route to host)",
        ),
        (
            "recently down, its data intact",
            |_, facts, history| down(facts, history, 3, Some(5)),
            Decision::Wait,
            "its data directory `/var/lib/etcd/etcd-3` is intact (12 files, 49152 bytes)",
        ),
    ];
    for (situation, build, decision, reason) in cases {
        let (mut estate, mut facts, mut history) = healthy();
        build(&mut estate, &mut facts, &mut history);
        let advice = advise(&estate, &facts, &history, NOW, "etcd-3").expect("declared");
        assert_eq!(advice.decision, decision, "{situation}: {advice:#?}");
        assert!(
            advice.reasons.iter().any(|said| said.contains(reason)),
            "{situation}: no reason says {reason:?}: {:#?}",
            advice.reasons
        );
    }
    let (estate, facts, history) = healthy();
    assert_eq!(advise(&estate, &facts, &history, NOW, "etcd-9"), None);
    assert_eq!(WAIT_AT_LEAST_SECONDS, 1800.0);
}
