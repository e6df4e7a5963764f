//! Data-driven tests of the interlocks on hand-built facts: one `render` of an assessment, compared
//! with the expected line, so the tests follow the rules' text and not the internal API.
//!
//! The same scenarios run on real servers in `crates/hadome/tests/it/replay.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::action::Action;
use crate::estate::{AsyncFailoverPolicy, Cluster, Estate, FailoverPolicy, Instance};
use crate::fact::{
    Facts, History, InstanceState, LastKnown, Probe, ProbeOutcome, ReceiverStatus, ReplicationPeer,
    ReplicationSlot, SyncSettings, SyncState, Timestamp, UnappliedSetting, WalReceiver, WalStatus,
};
use crate::finding::Finding;
use crate::interlock::{assess, cannot_catch_up, check, View};
use crate::position::{DataPosition, Lsn, TimelineSwitch};

const NOW: Timestamp = Timestamp(1_000_000_000);
const MB: u64 = 1 << 20;

struct Scenario {
    estate: Estate,
    facts: Facts,
    history: History,
}

fn estate(members: &[&str]) -> Estate {
    Estate {
        instances: members
            .iter()
            .map(|name| Instance {
                name: (*name).to_owned(),
                conninfo: format!("host=127.0.0.1 dbname=postgres application_name={name}"),
                data_dir: PathBuf::from(format!("/srv/{name}/data")),
                host: "localhost".to_owned(),
                application_name: (*name).to_owned(),
                commands: Default::default(),
            })
            .collect(),
        clusters: vec![Cluster {
            name: "main".to_owned(),
            members: members.iter().map(|name| (*name).to_owned()).collect(),
            failover: FailoverPolicy::Manual,
            max_lag_on_failover_bytes: 0,
            freshness_seconds: 30.0,
            max_replication_lag_bytes: 64 * MB,
            automation: Default::default(),
        }],
        journal_path: PathBuf::from("/tmp/journal.sqlite"),
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
    }
}

fn position(timeline: u32, lsn: u64, history: &[(u32, u64)]) -> DataPosition {
    DataPosition {
        system_identifier: 7_000_000_000_000_000_001,
        timeline,
        lsn: Lsn(lsn),
        history: Some(
            history
                .iter()
                .map(|(tli, at)| TimelineSwitch {
                    timeline: *tli,
                    switch_lsn: Lsn(*at),
                })
                .collect(),
        ),
    }
}

fn state(in_recovery: bool, position: DataPosition) -> InstanceState {
    InstanceState {
        in_recovery,
        position,
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
        keepalive: crate::fact::KeepaliveSettings::UNKNOWN,
        synchronous: Default::default(),
    }
}

fn primary(lsn: u64, feeds: &[(&str, &str)]) -> InstanceState {
    let mut primary = state(false, position(1, lsn, &[]));
    primary.replication = feeds
        .iter()
        .map(|(name, sync_state)| ReplicationPeer {
            application_name: (*name).to_owned(),
            state: "streaming".to_owned(),
            sent_lsn: Some(Lsn(lsn)),
            flush_lsn: Some(Lsn(lsn)),
            replay_lsn: Some(Lsn(lsn)),
            sync_state: SyncState::parse(sync_state),
            reply_at: Some(NOW),
        })
        .collect();
    primary
}

fn standby(lsn: u64, streaming: bool) -> InstanceState {
    let mut standby = state(true, position(1, lsn, &[]));
    standby.last_replay_at = Some(Timestamp(NOW.0 - 3_600_000));
    standby.wal_receiver = streaming.then_some(WalReceiver {
        status: ReceiverStatus::Streaming,
        received_timeline: 1,
        flushed_lsn: Some(Lsn(lsn)),
        last_message_at: Some(NOW),
        last_message_age_ms: Some(0),
        sender: None,
        slot_name: None,
    });
    standby
}

impl Scenario {
    fn new(members: &[&str]) -> Scenario {
        Scenario {
            estate: estate(members),
            facts: Facts::default(),
            history: History::default(),
        }
    }

    fn answered(mut self, name: &str, state: InstanceState) -> Scenario {
        self.facts.instances.insert(
            name.to_owned(),
            Probe {
                observed_at: NOW,
                outcome: ProbeOutcome::Answered(Box::new(state)),
            },
        );
        self
    }

    fn unreachable(mut self, name: &str) -> Scenario {
        self.facts.instances.insert(
            name.to_owned(),
            Probe {
                observed_at: NOW,
                outcome: ProbeOutcome::unreachable("timed out after 2 s"),
            },
        );
        self
    }

    fn remembered(
        mut self,
        name: &str,
        was_primary: bool,
        position: DataPosition,
        seconds_ago: i64,
    ) -> Scenario {
        self.history.last_known.insert(
            name.to_owned(),
            LastKnown {
                position,
                was_primary,
                was_streaming: !was_primary,
                observed_at: Timestamp(NOW.0 - seconds_ago * 1000),
                last_replay_at: None,
                synchronous: Default::default(),
                keepalive: Default::default(),
            },
        );
        self
    }

    fn ask(&self, action: Action) -> String {
        let assessment = assess(&self.estate, &self.facts, &self.history, &action, NOW);
        format!("{}: {}", assessment.verdict, rules(&assessment.findings))
    }

    fn check(&self) -> String {
        rules(&check(&self.estate, &self.facts, &self.history, NOW))
    }
}

fn rules(findings: &[Finding]) -> String {
    let mut seen: BTreeMap<(String, &str), ()> = BTreeMap::new();
    for finding in findings {
        seen.insert(
            (
                format!("{}@{}", finding.rule, finding.subject),
                finding.severity.as_str(),
            ),
            (),
        );
    }
    seen.keys()
        .map(|(rule, severity)| format!("{rule}({severity})"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rebuild(target: &str, source: &str) -> Action {
    Action::Rebuild {
        target: target.to_owned(),
        source: source.to_owned(),
    }
}

/// Misskey: db-1 and db-2 hang; db-3 stalled months ago (the WAL it needs is gone); db-4 is fed
/// by db-3.
fn misskey() -> Scenario {
    let mut stalled = standby(9 * MB, false);
    stalled.last_replay_at = Some(Timestamp(NOW.0 - 187 * 86_400_000));
    let mut cascade = standby(9 * MB, true);
    cascade.last_replay_at = stalled.last_replay_at;
    Scenario::new(&["db-1", "db-2", "db-3", "db-4"])
        .remembered("db-1", true, position(1, 9_000 * MB, &[]), 240)
        .remembered("db-2", false, position(1, 9_000 * MB, &[]), 240)
        .unreachable("db-1")
        .unreachable("db-2")
        .answered("db-3", {
            let mut db3 = stalled;
            db3.replication = primary(0, &[("db-4", "async")]).replication;
            db3
        })
        .answered("db-4", cascade)
}

#[test]
fn misskey_rebuilding_the_freshest_copies_from_a_stale_one_is_denied() {
    let scenario = misskey();
    assert_eq!(
        scenario.ask(rebuild("db-1", "db-3")),
        "deny: last-copy@db-1(deny) overwrite-older@db-1(deny)"
    );
    assert_eq!(
        scenario.ask(rebuild("db-2", "db-3")),
        "deny: last-copy@db-2(deny) overwrite-older@db-2(deny)"
    );
    assert_eq!(
        scenario.ask(Action::Promote {
            target: "db-3".into()
        }),
        "deny: promote-eligibility@db-3(deny)"
    );
    let assessment = assess(
        &scenario.estate,
        &scenario.facts,
        &scenario.history,
        &rebuild("db-1", "db-3"),
        NOW,
    );
    let overwrite = assessment
        .findings
        .iter()
        .find(|finding| finding.rule == "overwrite-older")
        .unwrap();
    assert!(
        overwrite
            .message
            .contains("was last seen, 4 min ago, at 2/32800000 on timeline 1"),
        "{}",
        overwrite.message
    );
    assert!(
        overwrite
            .message
            .contains("discards 8.8 GiB of WAL, about 187 days of writes"),
        "{}",
        overwrite.message
    );
    assert!(overwrite
        .alternative
        .as_deref()
        .unwrap()
        .contains("rebuild `db-3` from `db-1` once it answers"));
}

#[test]
fn misskey_check_sees_the_stall_the_cascade_and_the_unapplied_config_before_the_crash() {
    let mut db4 = standby(9 * MB, true);
    db4.unapplied_settings.push(UnappliedSetting {
        name: "work_mem".into(),
        file_value: "64MB".into(),
        live_value: "4MB".into(),
        source: "postgresql.conf:830".into(),
        pending_restart: false,
    });
    let mut db1 = primary(80 * MB, &[("db-2", "sync"), ("db-3", "async")]);
    db1.oldest_wal_segment = Some(12);
    let mut db3 = standby(9 * MB, false);
    db3.replication = primary(0, &[("db-4", "async")]).replication;
    let scenario = Scenario::new(&["db-1", "db-2", "db-3", "db-4"])
        .answered("db-1", db1)
        .answered("db-2", {
            // A standby recycles WAL at its restartpoints too.
            let mut db2 = standby(80 * MB, true);
            db2.oldest_wal_segment = Some(12);
            db2
        })
        .answered("db-3", db3)
        .answered("db-4", db4);
    assert_eq!(
        scenario.check(),
        "config-applied@db-4(warn) replication-stalled@db-3(deny) replication-stalled@db-4(deny)"
    );
    let findings = check(&scenario.estate, &scenario.facts, &scenario.history, NOW);
    let db3 = findings
        .iter()
        .find(|finding| finding.subject == "db-3")
        .unwrap();
    assert!(
        db3.message.contains("can never catch up"),
        "{}",
        db3.message
    );
    assert!(
        db3.message
            .contains("was removed from the primary `db-1` (it keeps segments from 0xC)"),
        "{}",
        db3.message
    );
}

/// Incident A's repair: rebuilding `db-4` discards its unapplied `work_mem` with the old data
/// directory. It is not blocked (the change is kept aside), but said, with where it goes; a
/// change in a file outside the data directory (Debian's `/etc/postgresql`) is not.
#[test]
fn a_rebuild_says_it_discards_an_unapplied_change_kept_in_the_data_directory() {
    let with_change = |source: &str| {
        let mut db4 = standby(9 * MB, true);
        db4.unapplied_settings.push(UnappliedSetting {
            name: "work_mem".into(),
            file_value: "64MB".into(),
            live_value: "4MB".into(),
            source: source.into(),
            pending_restart: false,
        });
        Scenario::new(&["db-1", "db-4"])
            .answered("db-1", primary(80 * MB, &[("db-4", "async")]))
            .answered("db-4", db4)
    };
    let inside = with_change("/srv/db-4/data/postgresql.conf:830");
    let action = rebuild("db-4", "db-1");
    assert_eq!(
        inside.ask(action.clone()),
        "allow-after: config-applied@db-4(warn)"
    );
    let assessment = assess(&inside.estate, &inside.facts, &inside.history, &action, NOW);
    let finding = &assessment.findings[0];
    assert!(
        finding
            .message
            .contains("`work_mem` = 64MB (/srv/db-4/data/postgresql.conf:830)")
            && finding
                .message
                .contains("moved aside with the old data to `/srv/db-4/data.hadome-aside-STAMP`"),
        "{}",
        finding.message
    );
    let outside = with_change("/etc/postgresql/15/main/conf.d/memory.conf:3");
    assert_eq!(outside.ask(action), "allow-after: ");
}

#[test]
fn mackerel_promoting_the_cascade_that_missed_the_switch_is_denied_with_the_gap() {
    let mut db002 = state(true, position(1, 100 * MB, &[]));
    db002.recovery_target_timeline = "current".into();
    db002.last_replay_at = Some(Timestamp(NOW.0 - 3_600_000));
    let scenario = Scenario::new(&["db000", "db001", "db002"])
        .remembered("db001", true, position(2, 180 * MB, &[(1, 100 * MB)]), 5)
        .unreachable("db000")
        .unreachable("db001")
        .answered("db002", db002);
    assert_eq!(
        scenario.ask(Action::Promote {
            target: "db002".into()
        }),
        "deny: promote-eligibility@db002(deny)"
    );
    let assessment = assess(
        &scenario.estate,
        &scenario.facts,
        &scenario.history,
        &Action::Promote {
            target: "db002".into(),
        },
        NOW,
    );
    let text: Vec<&str> = assessment
        .findings
        .iter()
        .map(|finding| finding.message.as_str())
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("on timeline 1, but `db001` reached timeline 2"),
        "{text}"
    );
    assert!(
        text.contains("80.0 MiB behind `db001`'s last known position 0/B400000 on timeline 2"),
        "{text}"
    );
    assert!(text.contains("60 min of writes"), "{text}");
    assert!(
        text.contains("diverging from `db001`'s timeline 2"),
        "{text}"
    );
    assert_eq!(
        scenario.check(),
        "stale-facts@db000(deny) stale-facts@db001(deny) timeline-follow@db002(deny)"
    );
}

#[test]
fn positive_controls_the_guard_is_not_a_blanket_no() {
    // pair, db-1 crashed after hadome saw it; db-2 received everything.
    let pair = Scenario::new(&["db-1", "db-2"])
        .remembered("db-1", true, position(1, 50 * MB, &[]), 3)
        .unreachable("db-1")
        .answered("db-2", standby(50 * MB, false));
    assert_eq!(
        pair.ask(Action::Promote {
            target: "db-2".into()
        }),
        "allow: "
    );

    let trio = Scenario::new(&["db-1", "db-2", "db-3"])
        .answered(
            "db-1",
            primary(50 * MB, &[("db-2", "sync"), ("db-3", "async")]),
        )
        .answered("db-2", standby(50 * MB, true))
        .answered("db-3", standby(50 * MB, true));
    assert_eq!(
        trio.ask(Action::Restart {
            target: "db-3".into()
        }),
        "allow: "
    );
    assert_eq!(trio.ask(rebuild("db-3", "db-1")), "allow-after: ");
    assert_eq!(trio.check(), "");
    // The guard still says no where it must, on the same healthy estate.
    assert_eq!(
        trio.ask(Action::Promote {
            target: "db-2".into()
        }),
        "deny: promote-eligibility@db-2(deny)"
    );
    assert_eq!(
        trio.ask(Action::Stop {
            target: "db-2".into()
        }),
        "needs-human: quorum@db-2(needs-human)"
    );
    assert_eq!(
        trio.ask(rebuild("db-1", "db-1")),
        "deny: overwrite-older@db-1(deny)"
    );
}

#[test]
fn fail_closed_a_never_observed_unreachable_target_needs_a_human() {
    let scenario = Scenario::new(&["db-1", "db-2"])
        .answered("db-1", primary(50 * MB, &[]))
        .unreachable("db-2");
    assert_eq!(
        scenario.ask(rebuild("db-2", "db-1")),
        "needs-human: stale-facts@db-2(needs-human)"
    );
    assert_eq!(
        scenario.ask(Action::DeleteData {
            target: "db-2".into()
        }),
        "needs-human: stale-facts@db-2(needs-human)"
    );
    let missing = Scenario::new(&["db-1", "db-2"]).answered("db-1", primary(50 * MB, &[]));
    assert_eq!(
        missing.ask(rebuild("db-2", "db-1")),
        "needs-human: stale-facts@db-2(needs-human)"
    );
    assert_eq!(
        missing.ask(rebuild("db-9", "db-1")),
        "deny: stale-facts@db-9(deny)"
    );
}

#[test]
fn stale_facts_are_not_fresh_even_when_they_answered() {
    let mut scenario =
        Scenario::new(&["db-1", "db-2"]).answered("db-1", primary(50 * MB, &[("db-2", "sync")]));
    scenario.facts.instances.insert(
        "db-2".into(),
        Probe {
            observed_at: Timestamp(NOW.0 - 120_000),
            outcome: ProbeOutcome::Answered(Box::new(standby(50 * MB, true))),
        },
    );
    assert_eq!(
        scenario.ask(Action::Promote {
            target: "db-2".into()
        }),
        "deny: stale-facts@db-2(deny)"
    );
    assert_eq!(scenario.check(), "stale-facts@db-2(warn)");
}

#[test]
fn divergent_copies_need_a_human_and_are_critical_in_check() {
    let scenario = Scenario::new(&["db-1", "db-2"])
        .answered(
            "db-1",
            state(false, position(2, 300 * MB, &[(1, 100 * MB)])),
        )
        .answered("db-2", state(false, position(3, 200 * MB, &[(1, 90 * MB)])));
    // db-2 holds writes nobody else has: destroying it is also a last-copy refusal.
    assert_eq!(
        scenario.ask(rebuild("db-2", "db-1")),
        "deny: last-copy@db-2(deny) overwrite-older@db-2(needs-human)"
    );
    assert_eq!(scenario.check(), "timeline-follow@db-1, db-2(deny)");
}

#[test]
fn promotion_within_the_configured_lag_is_a_warning_not_a_refusal() {
    let mut scenario = Scenario::new(&["db-1", "db-2"])
        .remembered("db-1", true, position(1, 50 * MB + 4096, &[]), 3)
        .unreachable("db-1")
        .answered("db-2", standby(50 * MB, false));
    assert_eq!(
        scenario.ask(Action::Promote {
            target: "db-2".into()
        }),
        "deny: promote-eligibility@db-2(deny)"
    );
    scenario.estate.clusters[0].max_lag_on_failover_bytes = 8192;
    assert_eq!(
        scenario.ask(Action::Promote {
            target: "db-2".into()
        }),
        "allow: promote-eligibility@db-2(warn)"
    );
}

#[test]
fn a_receiver_flapping_to_streaming_on_an_abandoned_timeline_is_not_replicating() {
    // db002 (recovery_target_timeline = 'current') cycles through "end of timeline 1"; caught at
    // the instant its receiver says `streaming`, it still does not replicate.
    let mut db002 = standby(100 * MB, true);
    db002.recovery_target_timeline = "current".into();
    let mut db001 = state(false, position(2, 180 * MB, &[(1, 100 * MB)]));
    db001.replication = primary(0, &[("db002", "async")]).replication;
    let scenario = Scenario::new(&["db001", "db002"])
        .answered("db001", db001)
        .answered("db002", db002);
    assert_eq!(
        scenario.check(),
        "replication-stalled@db002(deny) timeline-follow@db002(deny)"
    );
}

#[test]
fn a_standby_that_still_holds_the_segment_is_named_instead_of_claiming_never() {
    // The primary recycled segment 9; the synchronous standby has not reached its restartpoint.
    let mut db1 = primary(80 * MB, &[("db-2", "sync"), ("db-3", "async")]);
    db1.oldest_wal_segment = Some(12);
    let mut db2 = standby(80 * MB, true);
    db2.oldest_wal_segment = Some(4);
    let scenario = Scenario::new(&["db-1", "db-2", "db-3"])
        .answered("db-1", db1)
        .answered("db-2", db2)
        .answered("db-3", standby(9 * MB, false));
    let findings = check(&scenario.estate, &scenario.facts, &scenario.history, NOW);
    let db3 = &findings[0].message;
    assert!(db3.contains("was removed from the primary `db-1`"), "{db3}");
    assert!(
        db3.contains("only `db-2` still holds it, until its next restartpoint"),
        "{db3}"
    );
    assert!(!db3.contains("never"), "{db3}");
}

/// A trio whose primary `db-1` holds the replication slot `db_3` with `wal_status`; `db-3`
/// streams or not.
fn slotted(wal_status: &str, db3_streams: bool) -> Scenario {
    let mut db1 = primary(80 * MB, &[("db-2", "sync"), ("db-3", "async")]);
    db1.slots.push(ReplicationSlot {
        name: "db_3".into(),
        active: db3_streams,
        wal_status: Some(WalStatus::parse(wal_status)),
        restart_lsn: Some(Lsn(80 * MB)),
    });
    Scenario::new(&["db-1", "db-2", "db-3"])
        .answered("db-1", db1)
        .answered("db-2", standby(80 * MB, true))
        .answered("db-3", standby(80 * MB, db3_streams))
}

impl Scenario {
    fn cannot_catch_up(&self, instance: &str) -> bool {
        let view = View {
            estate: &self.estate,
            facts: &self.facts,
            history: &self.history,
            now: NOW,
        };
        cannot_catch_up(&view, instance)
    }

    fn message_for(&self, instance: &str) -> String {
        check(&self.estate, &self.facts, &self.history, NOW)
            .into_iter()
            .find(|finding| finding.subject == instance)
            .map_or_else(String::new, |finding| finding.message)
    }
}

#[test]
fn replication_stalled_a_lost_slot_proves_the_standby_cannot_catch_up() {
    let lost = slotted("lost", false);
    assert_eq!(lost.check(), "replication-stalled@db-3(deny)");
    assert!(lost.cannot_catch_up("db-3"));
    let streaming = slotted("lost", true);
    assert_eq!(streaming.check(), "replication-stalled@db-3(deny)");
    let message = streaming.message_for("db-3");
    assert!(
        message.contains("replication slot `db_3` on `db-1` is lost"),
        "{message}"
    );
    assert_eq!(slotted("reserved", true).check(), "");
    assert!(!slotted("unreserved", false).cannot_catch_up("db-3"));
}

#[test]
fn replication_stalled_an_unknown_wal_status_is_reported_but_proves_nothing() {
    // A `wal_status` a later PostgreSQL may add: the WAL may be gone, so `check` says so and the
    // copy is no candidate; but it is no proof that justifies an immediate rebuild.
    let unknown = slotted("archived", true);
    assert_eq!(unknown.check(), "replication-stalled@db-3(deny)");
    let message = unknown.message_for("db-3");
    assert!(
        message.contains(
            "replication slot `db_3` on `db-1` reports `wal_status` `archived`, which this version of hadome does not know"
        ),
        "{message}"
    );
    assert!(!unknown.cannot_catch_up("db-3"));
    assert!(!slotted("archived", false).cannot_catch_up("db-3"));
}

#[test]
fn replication_stalled_an_unknown_receiver_status_is_not_streaming() {
    let mut db2 = standby(50 * MB, true);
    if let Some(receiver) = &mut db2.wal_receiver {
        receiver.status = ReceiverStatus::parse("catching-up");
    }
    let scenario = Scenario::new(&["db-1", "db-2"])
        .answered("db-1", primary(50 * MB, &[("db-2", "async")]))
        .answered("db-2", db2);
    assert_eq!(scenario.check(), "replication-stalled@db-2(deny)");
    let message = scenario.message_for("db-2");
    assert!(
        message.contains("its WAL receiver is `catching-up`"),
        "{message}"
    );
}

#[test]
fn quorum_counts_sync_and_quorum_standbys_and_no_unknown_state() {
    let stop = || Action::Stop {
        target: "db-2".into(),
    };
    for (sync_state, verdict) in [
        ("sync", "needs-human: quorum@db-2(needs-human)"),
        ("quorum", "needs-human: quorum@db-2(needs-human)"),
        ("potential", "allow: "),
        ("eventual", "allow: "),
    ] {
        let scenario = Scenario::new(&["db-1", "db-2"])
            .answered("db-1", primary(50 * MB, &[("db-2", sync_state)]))
            .answered("db-2", standby(50 * MB, true));
        assert_eq!(scenario.ask(stop()), verdict, "{sync_state}");
    }
}

/// `check` warns before any failure when the daemon could not prove a failover lossless, so would
/// escalate instead (`async_failover = "escalate"`): the primary waits for no member, or for a
/// standby outside the estate, or its setting cannot be read. The rendering is `subject: message`.
#[test]
fn check_warns_ahead_of_a_failure_the_daemon_would_escalate_instead_of_failing_over() {
    let check_with = |names: Option<&str>, commit: &str, failover, policy| {
        let mut db1 = primary(9 * MB, &[("db-2", "sync")]);
        db1.synchronous = SyncSettings {
            standby_names: names.map(str::to_owned),
            commit: Some(commit.to_owned()),
        };
        let mut scenario = Scenario::new(&["db-1", "db-2"])
            .answered("db-1", db1)
            .answered("db-2", standby(9 * MB, true));
        scenario.estate.clusters[0].failover = failover;
        scenario.estate.clusters[0].automation.async_failover = policy;
        check(&scenario.estate, &scenario.facts, &scenario.history, NOW)
            .into_iter()
            .filter(|finding| finding.rule == crate::rule::PROMOTE_ELIGIBILITY)
            .map(|finding| {
                assert_eq!(finding.severity, crate::finding::Severity::Warn);
                assert!(finding.alternative.is_some(), "{finding:?}");
                format!("{}: {}", finding.subject, finding.message)
            })
            .collect::<Vec<_>>()
    };
    let auto = |names: Option<&str>, commit: &str| {
        check_with(
            names,
            commit,
            FailoverPolicy::Auto,
            AsyncFailoverPolicy::Escalate,
        )
    };
    let one = |found: Vec<String>, part: &str| {
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("db-1: "), "{found:?}");
        assert!(found[0].contains(part), "`{part}` in {found:?}");
        assert!(
            found[0].contains("the daemon escalates instead of failing over"),
            "{found:?}"
        );
    };
    // Waits for a member: nothing to say, whatever the form.
    assert_eq!(auto(Some("\"db-2\""), "on"), Vec::<String>::new());
    assert_eq!(
        auto(Some("ANY 1 (\"DB-2\")"), "remote_apply"),
        Vec::<String>::new()
    );
    assert_eq!(auto(Some("*"), "on"), Vec::<String>::new());
    // Waits for nobody; the way out names the members it could wait for: those streaming from it
    // directly when it lists any (a cascade is never synchronous), else every other member.
    one(auto(Some(""), "on"), "synchronous_standby_names is empty");
    let way_out = |feeds: &[(&str, &str)]| {
        let mut db1 = primary(9 * MB, feeds);
        db1.synchronous = SyncSettings {
            standby_names: Some(String::new()),
            commit: Some("on".to_owned()),
        };
        let mut scenario = Scenario::new(&["db-1", "db-2", "db-3"]).answered("db-1", db1);
        scenario.estate.clusters[0].failover = FailoverPolicy::Auto;
        check(&scenario.estate, &scenario.facts, &scenario.history, NOW)
            .into_iter()
            .find(|finding| finding.rule == crate::rule::PROMOTE_ELIGIBILITY)
            .and_then(|finding| finding.alternative)
            .expect("a warning with a way out")
    };
    let every_other = way_out(&[]);
    assert!(
        every_other.contains("'ANY 1 (\"db-2\", \"db-3\")'"),
        "{every_other}"
    );
    let direct = way_out(&[("db-2", "async")]);
    assert!(direct.contains("'ANY 1 (\"db-2\")'"), "{direct}");
    one(auto(Some("db-2"), "local"), "synchronous_commit = local");
    // Waits for a standby outside the estate (one of two named is enough to warn).
    one(
        auto(Some("ANY 1 (\"db-2\", offsite)"), "on"),
        "names `offsite`, and no member of `main`",
    );
    // A setting hadome cannot read (PostgreSQL takes `db-2` only quoted): warned, not guessed.
    one(auto(Some("db-2"), "on"), "cannot be read");
    one(auto(Some("FIRST 1 (\"db-2\""), "on"), "cannot be read");
    // Not read at all (an older server, a failed query): stale-facts' business, not a warning.
    assert_eq!(auto(None, "on"), Vec::<String>::new());
    // The operator accepted the loss, or fails over by hand: nothing to warn about.
    assert_eq!(
        check_with(
            Some(""),
            "on",
            FailoverPolicy::Auto,
            AsyncFailoverPolicy::Promote
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        check_with(
            Some(""),
            "on",
            FailoverPolicy::Manual,
            AsyncFailoverPolicy::Escalate
        ),
        Vec::<String>::new()
    );
}

/// `check` on a standby hadome cannot reach: when its primary still lists it in
/// `pg_stat_replication` it runs, and the finding says the path from hadome fails (issue 17's
/// seed 2); when nobody lists it, nothing more is claimed.
#[test]
fn check_tells_an_unreachable_standby_that_its_primary_still_lists_from_a_lost_one() {
    let message_on_db2 = |feeds: &[(&str, &str)]| {
        let scenario = Scenario::new(&["db-1", "db-2"])
            .answered("db-1", primary(9 * MB, feeds))
            .unreachable("db-2");
        let found = check(&scenario.estate, &scenario.facts, &scenario.history, NOW);
        let finding = found
            .into_iter()
            .find(|finding| finding.rule == crate::rule::STALE_FACTS && finding.subject == "db-2")
            .expect("a stale-facts finding on db-2");
        assert_eq!(finding.severity, crate::finding::Severity::Deny);
        (finding.message, finding.alternative)
    };
    let (listed, way_out) = message_on_db2(&[("db-2", "sync")]);
    assert!(
        listed.contains("`db-1` lists it in pg_stat_replication: it runs"),
        "{listed}"
    );
    assert!(way_out.is_some_and(|way_out| way_out.contains("do not restart it")));
    let (lost, way_out) = message_on_db2(&[]);
    assert!(!lost.contains("pg_stat_replication"), "{lost}");
    assert_eq!(way_out, None);
}
