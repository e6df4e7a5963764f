//! The PostgreSQL observer on real estates: what it sees of healthy, hung, misconfigured,
//! stalled and promoted instances, and that the documented grants are enough.

use std::time::{Duration, Instant};

use hadome_core::estate::{Cluster, Estate, FailoverPolicy, Instance};
use hadome_core::fact::{
    Facts, FailureKind, InstanceState, ProbeOutcome, SyncSettings, SyncState, Timestamp,
};
use hadome_core::position::{Lsn, PositionOrder};
use hadome_core::sync_rep::{commit_wait, CommitWait};
use hadome_lab::{Fault, Lab};
use hadome_observer::observe;

use crate::support::{describe, eventually, execute, lab, value};

const LONG: Duration = Duration::from_secs(30);

/// The estate of a lab, as an operator would write it: every node through its client port.
fn estate_of(lab: &Lab, user: &str, probe_timeout_seconds: f64) -> Estate {
    let names = lab.node_names();
    let instances = names
        .iter()
        .map(|name| Instance {
            name: name.clone(),
            conninfo: format!(
                "host=127.0.0.1 port={} user={user} dbname=postgres",
                lab.client_port(name).expect("a lab node")
            ),
            data_dir: lab.data_dir(name).expect("a lab node"),
            host: "localhost".to_owned(),
            application_name: name.clone(),
            commands: Default::default(),
        })
        .collect();
    Estate {
        instances,
        clusters: vec![Cluster {
            name: lab.topology().to_owned(),
            members: names,
            failover: FailoverPolicy::Manual,
            max_lag_on_failover_bytes: 0,
            freshness_seconds: 30.0,
            max_replication_lag_bytes: 16 * 1024 * 1024,
            automation: Default::default(),
        }],
        journal_path: lab.dir().join("journal.sqlite"),
        probe_timeout_seconds,
        probe_interval_seconds: 5.0,
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

/// The state of `name`, or a panic that says why it did not answer.
fn answered<'a>(facts: &'a Facts, name: &str) -> &'a InstanceState {
    match facts.instances.get(name).map(|probe| &probe.outcome) {
        Some(ProbeOutcome::Answered(state)) => state,
        Some(ProbeOutcome::Unreachable { error, .. }) => panic!("`{name}` did not answer: {error}"),
        None => panic!("`{name}` was not probed: {facts:?}"),
    }
}

fn is_streaming(state: &InstanceState) -> bool {
    state
        .wal_receiver
        .as_ref()
        .is_some_and(|receiver| receiver.status.is_streaming())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_sees_a_pair_primary_and_its_sync_standby() {
    let lab = lab("pair").await;
    let estate = estate_of(&lab, "postgres", 5.0);

    let started = Instant::now();
    let facts = observe(&estate).await;
    eprintln!("observe(pair), healthy: {:?}", started.elapsed());
    let primary = answered(&facts, "db-1");
    let standby = answered(&facts, "db-2");

    assert!(!primary.in_recovery);
    assert_eq!(primary.position.timeline, 1);
    assert_eq!(primary.position.history, Some(Vec::new()));
    assert_eq!((primary.receive_lsn, primary.replay_lsn), (None, None));
    assert_eq!(
        primary.wal_segment_size_bytes,
        1024 * 1024,
        "the lab's 1 MB segments"
    );
    let oldest = primary
        .oldest_wal_segment
        .expect("pg_ls_waldir() is readable");
    assert!(oldest <= primary.position.lsn.0 / primary.wal_segment_size_bytes);
    assert_eq!(primary.primary_conninfo, "");
    assert!(primary.wal_receiver.is_none());
    let peer = primary
        .replication
        .iter()
        .find(|peer| peer.application_name == "db-2")
        .unwrap_or_else(|| panic!("db-1 lists db-2: {:?}", primary.replication));
    assert_eq!(
        (peer.state.as_str(), peer.sync_state.as_str()),
        ("streaming", "sync")
    );
    assert!(peer.sent_lsn.is_some() && peer.flush_lsn.is_some() && peer.reply_at.is_some());
    assert!(
        primary.unapplied_settings.is_empty(),
        "{:?}",
        primary.unapplied_settings
    );
    // The lab's replication timeouts, in ms: an idle db-1 reaches db-2 at least every 375 ms
    // (half its 750 ms wal_sender_timeout, docs/lab.md).
    let lab_keepalive = hadome_core::fact::KeepaliveSettings {
        sender_timeout_ms: Some(750),
        receiver_status_interval_ms: Some(10_000),
        receiver_timeout_ms: Some(60_000),
    };
    assert_eq!(primary.keepalive, lab_keepalive);
    assert_eq!(standby.keepalive, lab_keepalive);
    assert_eq!(primary.keepalive.idle_gap_ms(&standby.keepalive), Some(375));
    let observed_at = facts.instances["db-1"].observed_at;
    assert!(primary.postmaster_started_at <= observed_at);
    assert!(observed_at.seconds_since(primary.postmaster_started_at) < 3600.0);

    assert!(standby.in_recovery);
    assert_eq!(
        standby.position.system_identifier,
        primary.position.system_identifier
    );
    assert_eq!(standby.position.timeline, 1);
    assert_eq!(standby.position.history, Some(Vec::new()));
    assert!(standby.receive_lsn.is_some() && standby.replay_lsn.is_some());
    assert_eq!(
        standby.position.lsn,
        standby.receive_lsn.max(standby.replay_lsn).unwrap()
    );
    let receiver = standby
        .wal_receiver
        .as_ref()
        .expect("db-2 runs a WAL receiver");
    assert_eq!(
        (receiver.status.as_str(), receiver.received_timeline),
        ("streaming", 1)
    );
    assert!(receiver
        .sender
        .as_deref()
        .is_some_and(|sender| sender.starts_with("127.0.0.1:")));
    assert!(receiver.flushed_lsn.is_some() && receiver.last_message_at.is_some());
    assert!(
        standby.primary_conninfo.contains("application_name=db-2"),
        "{}",
        standby.primary_conninfo
    );
    assert_eq!(standby.recovery_target_timeline, "latest");
    assert!(standby.replication.is_empty());
    assert!(
        standby.unapplied_settings.is_empty(),
        "{:?}",
        standby.unapplied_settings
    );
    assert!(standby.oldest_wal_segment.is_some());

    // What db-1 waits for before it acknowledges a commit: db-2, by its setting.
    assert_eq!(
        primary.synchronous,
        SyncSettings {
            standby_names: Some("\"db-2\"".to_owned()),
            commit: Some("on".to_owned()),
        }
    );
    assert_eq!(
        commit_wait(&primary.synchronous),
        CommitWait::Standbys(vec!["db-2".to_owned()])
    );
    // A role that commits locally makes db-1's commits wait for nobody, whatever hadome's own
    // session says.
    let client = lab.connect("db-1").await.unwrap();
    execute(
        &client,
        "db-1",
        "CREATE ROLE app_local; ALTER ROLE app_local SET synchronous_commit = local",
    )
    .await;
    let facts = observe(&estate).await;
    let primary = answered(&facts, "db-1");
    assert_eq!(primary.synchronous.commit.as_deref(), Some("local"));
    assert!(
        matches!(commit_wait(&primary.synchronous), CommitWait::Nobody(ref why) if why == "synchronous_commit = local"),
        "{:?}",
        primary.synchronous
    );

    // The standby never holds more than its primary. The two are probed concurrently and the
    // primary may write a WAL record between the two (a standby snapshot), so a pass where the
    // standby is ahead is retried; one where it is not must come.
    eventually("db-2's position not ahead of db-1's", LONG, || async {
        let facts = observe(&estate).await;
        let order = answered(&facts, "db-2")
            .position
            .compare(&answered(&facts, "db-1").position);
        matches!(order, PositionOrder::Behind | PositionOrder::Equal).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_reports_a_hung_instance_unreachable_within_the_bound() {
    let lab = lab("pair").await;
    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();
    let estate = estate_of(&lab, "postgres", 1.0);

    let started = Instant::now();
    let facts = observe(&estate).await;
    let elapsed = started.elapsed();
    eprintln!("observe(pair) with db-1 hung, 1 s timeout: {elapsed:?}");

    match &facts.instances["db-1"].outcome {
        ProbeOutcome::Unreachable { error, kind } => {
            assert!(
                error.contains("no answer") && error.contains("1.0 s"),
                "{error}"
            );
            assert_eq!(*kind, FailureKind::Timeout, "{error}");
        }
        ProbeOutcome::Answered(state) => panic!("a hung db-1 answered: {state:?}"),
    }
    assert!(
        answered(&facts, "db-2").in_recovery,
        "the standby answers while its primary hangs"
    );
    // A sanity bound, not a benchmark: the pass must not wait on the hung server.
    assert!(
        elapsed < Duration::from_secs(10),
        "observe took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_reports_a_config_change_not_applied() {
    let lab = lab("pair").await;
    lab.fault(&Fault::ConfigChange {
        node: "db-2".into(),
        key: "work_mem".into(),
        value: "64MB".into(),
    })
    .await
    .unwrap();
    let facts = observe(&estate_of(&lab, "postgres", 5.0)).await;

    let unapplied = &answered(&facts, "db-2").unapplied_settings;
    let work_mem = unapplied
        .iter()
        .find(|setting| setting.name == "work_mem")
        .unwrap_or_else(|| panic!("work_mem is unapplied on db-2: {unapplied:?}"));
    assert_eq!(work_mem.file_value, "64MB");
    assert_eq!(
        work_mem.live_value, "4MB",
        "PostgreSQL's default, still running"
    );
    assert!(!work_mem.pending_restart);
    assert!(
        work_mem.source.contains("postgresql.conf:"),
        "{}",
        work_mem.source
    );
    assert_eq!(unapplied.len(), 1, "{unapplied:?}");
    assert!(answered(&facts, "db-1").unapplied_settings.is_empty());

    // Once reloaded, it is applied: the same check says nothing.
    let client = lab.connect("db-2").await.unwrap();
    execute(&client, "db-2", "SELECT pg_reload_conf()").await;
    let estate = estate_of(&lab, "postgres", 5.0);
    eventually("db-2 to run with work_mem = 64MB", LONG, || async {
        let facts = observe(&estate).await;
        answered(&facts, "db-2")
            .unapplied_settings
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_sees_a_stalled_standby_and_the_wal_it_lost() {
    let lab = lab("misskey").await;
    lab.fault(&Fault::Stall("db-3".into())).await.unwrap();
    let estate = estate_of(&lab, "postgres", 5.0);

    // db-3's WAL receiver keeps restarting and failing; poll for a pass that sees it down.
    let facts = eventually(
        "db-3 observed without a streaming WAL receiver",
        LONG,
        || async {
            let facts = observe(&estate).await;
            (!is_streaming(answered(&facts, "db-3"))).then_some(facts)
        },
    )
    .await;
    let primary = answered(&facts, "db-1");
    let stalled = answered(&facts, "db-3");
    let needed = stalled.position.lsn.0 / stalled.wal_segment_size_bytes;
    let oldest = primary.oldest_wal_segment.expect("db-1's pg_wal is listed");
    assert!(
        oldest > needed,
        "db-1 keeps segments from {oldest:X}, db-3 needs {needed:X} (at {})",
        stalled.position
    );
    assert_eq!(
        primary.position.compare(&stalled.position),
        PositionOrder::Ahead
    );
    assert!(
        is_streaming(answered(&facts, "db-2")),
        "the synchronous standby is unaffected"
    );
    assert!(
        !primary
            .replication
            .iter()
            .any(|peer| peer.application_name == "db-3" && peer.state == "streaming"),
        "db-1 does not stream to db-3: {:?}",
        primary.replication
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_sees_the_mackerel_timeline_switch() {
    let lab = lab("mackerel").await;
    lab.fault(&Fault::Promote("db001".into())).await.unwrap();
    let client = lab.connect("db001").await.unwrap();
    execute(
        &client,
        "db001",
        "CREATE TABLE t(); SELECT pg_switch_wal();",
    )
    .await;
    let estate = estate_of(&lab, "postgres", 5.0);

    let facts = observe(&estate).await;
    let promoted = answered(&facts, "db001");
    let cascaded = answered(&facts, "db002");
    let old_primary = answered(&facts, "db000");

    assert!(!promoted.in_recovery);
    assert_eq!(promoted.position.timeline, 2);
    let history = promoted
        .position
        .history
        .clone()
        .expect("the history of timeline 2 is read");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].timeline, 1);
    let switch = history[0].switch_lsn;
    assert!(
        switch > Lsn(0) && switch < promoted.position.lsn,
        "switched at {switch}, now at {}",
        promoted.position
    );

    assert!(cascaded.in_recovery);
    assert_eq!(cascaded.recovery_target_timeline, "current");
    assert_eq!(cascaded.position.timeline, 1, "db002 did not follow");
    assert!(
        cascaded.position.lsn <= switch,
        "db002 at {} holds nothing past the switch {switch}",
        cascaded.position
    );
    assert_eq!(
        promoted.position.compare(&cascaded.position),
        PositionOrder::Ahead
    );

    // db000 never knew: it still writes timeline 1, the same cluster.
    assert!(!old_primary.in_recovery);
    assert_eq!(old_primary.position.timeline, 1);
    assert_eq!(
        old_primary.position.system_identifier,
        promoted.position.system_identifier
    );
}

/// The role and grants of `docs/privileges.md`, exactly as written there.
fn documented_grants() -> String {
    let doc = include_str!("../../../../docs/privileges.md");
    let start = doc
        .find("```sql\n")
        .expect("docs/privileges.md has an sql block")
        + "```sql\n".len();
    let length = doc[start..].find("```").expect("the sql block ends");
    doc[start..start + length].to_owned()
}

/// What must match between the superuser's and hadome's view: everything but what moves between
/// two probes (positions, times) — for those, only whether they are known. `settled`: false while
/// replication is reconnecting after a promotion, when receivers and senders come and go.
fn comparable(state: &InstanceState, settled: bool) -> InstanceState {
    let mut state = state.clone();
    let blur = |lsn: &mut Option<Lsn>| *lsn = lsn.map(|_| Lsn(0));
    let zero = |at: &mut Option<Timestamp>| *at = at.map(|_| Timestamp(0));
    state.position.lsn = Lsn(0);
    blur(&mut state.receive_lsn);
    blur(&mut state.replay_lsn);
    zero(&mut state.last_replay_at);
    state.oldest_wal_segment = state.oldest_wal_segment.map(|_| 0);
    if let Some(receiver) = &mut state.wal_receiver {
        blur(&mut receiver.flushed_lsn);
        zero(&mut receiver.last_message_at);
        receiver.last_message_age_ms = receiver.last_message_age_ms.map(|_| 0);
    }
    for peer in &mut state.replication {
        blur(&mut peer.sent_lsn);
        blur(&mut peer.flush_lsn);
        blur(&mut peer.replay_lsn);
        zero(&mut peer.reply_at);
    }
    for slot in &mut state.slots {
        blur(&mut slot.restart_lsn);
    }
    if !settled {
        state.wal_receiver = None;
        state.replication.clear();
    }
    state
}

/// Observes the lab as the superuser and as hadome, and checks that they saw the same.
async fn same_as_superuser(lab: &Lab, settled: bool) -> Facts {
    let as_superuser = observe(&estate_of(lab, "postgres", 5.0)).await;
    let as_hadome = observe(&estate_of(lab, "hadome", 5.0)).await;
    for name in lab.node_names() {
        let superuser = comparable(answered(&as_superuser, &name), settled);
        let hadome = comparable(answered(&as_hadome, &name), settled);
        assert_eq!(hadome, superuser, "`{name}` as hadome vs as postgres");
    }
    as_hadome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_needs_only_the_documented_grants() {
    let lab = lab("mackerel").await;
    let primary = lab.connect("db000").await.unwrap();
    execute(&primary, "db000", &documented_grants()).await;
    // Roles replicate: wait for the cascade's end to have it.
    eventually("the hadome role to reach db002", LONG, || async {
        let client = lab
            .connect("db002")
            .await
            .unwrap_or_else(|error| panic!("connect to db002: {}", describe(&error)));
        value(
            &client,
            "db002",
            "SELECT count(*)::text FROM pg_roles WHERE rolname = 'hadome'",
        )
        .await
        .filter(|count| count == "1")
    })
    .await;

    // Healthy: the replication views' details (pg_read_all_stats), the WAL directory
    // (pg_ls_waldir), primary_conninfo (pg_read_all_settings).
    let healthy = same_as_superuser(&lab, true).await;
    let first = answered(&healthy, "db000");
    assert!(
        first
            .replication
            .iter()
            .any(|peer| peer.application_name == "db001" && peer.sync_state == SyncState::Async),
        "{:?}",
        first.replication
    );
    assert!(first.oldest_wal_segment.is_some());
    let cascaded = answered(&healthy, "db002");
    assert!(is_streaming(cascaded));
    assert!(
        cascaded.primary_conninfo.contains("application_name=db002"),
        "{}",
        cascaded.primary_conninfo
    );

    // A timeline with a history file (pg_read_file) and an unapplied setting (pg_file_settings).
    lab.fault(&Fault::Promote("db001".into())).await.unwrap();
    lab.fault(&Fault::ConfigChange {
        node: "db002".into(),
        key: "work_mem".into(),
        value: "64MB".into(),
    })
    .await
    .unwrap();
    let switched = same_as_superuser(&lab, false).await;
    let promoted = answered(&switched, "db001");
    assert_eq!(
        promoted.position.history.as_ref().map(Vec::len),
        Some(1),
        "{:?}",
        promoted.position
    );
    let cascaded = answered(&switched, "db002");
    assert!(
        cascaded
            .unapplied_settings
            .iter()
            .any(|setting| setting.name == "work_mem"),
        "{:?}",
        cascaded.unapplied_settings
    );
}
