//! What a supervision daemon asks of PostgreSQL (`hadome_observer::session`), on real servers:
//! failures classified as down, hung or overloaded; a session that outlives a hung postmaster;
//! heartbeats that reach the standby; promotion; `synchronous_standby_names`; a standby woken
//! out of its stream-retry wait; and that the documented grants are enough.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hadome_core::estate::Instance;
use hadome_core::fact::{FailureKind, Probe, ProbeOutcome};
use hadome_lab::{Fault, Lab};
use hadome_observer::{
    accepts_writes, observe_instance, promote, retry_stream, set_synchronous_standby_names,
    Session, SessionError,
};
use tokio::sync::Notify;

use crate::support::{describe, eventually, execute, lab, value};

const LONG: Duration = Duration::from_secs(30);
/// The bound given to calls that should answer at once.
const QUICK: Duration = Duration::from_secs(5);

/// `node` as an operator would declare it: through its client port, as `user`.
fn instance_of(lab: &Lab, node: &str, user: &str) -> Instance {
    Instance {
        name: node.to_owned(),
        conninfo: format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres",
            lab.client_port(node).expect("a lab node")
        ),
        data_dir: lab.data_dir(node).expect("a lab node"),
        host: "localhost".to_owned(),
        application_name: node.to_owned(),
        commands: Default::default(),
    }
}

/// The error and kind of an unreachable probe, or a panic.
fn failure(probe: &Probe) -> (&str, FailureKind) {
    match &probe.outcome {
        ProbeOutcome::Unreachable { error, kind } => (error, *kind),
        ProbeOutcome::Answered(state) => panic!("expected unreachable, it answered: {state:?}"),
    }
}

/// The kind of a session call's failure; its text (what the daemon journals) reads as the same.
fn kind_of(error: &SessionError) -> FailureKind {
    assert_eq!(
        FailureKind::of_error(&error.to_string()),
        error.kind(),
        "the text and the kind agree: {error}"
    );
    error.kind()
}

/// One value from `node` over the lab's socket (unaffected by faults on other nodes).
async fn lab_value(lab: &Lab, node: &str, sql: &str) -> Option<String> {
    let client = lab
        .connect(node)
        .await
        .unwrap_or_else(|error| panic!("connect to {node}: {}", describe(&error)));
    value(&client, node, sql).await
}

/// A standby's `last_msg_receipt_time` (ms since the epoch) and receive LSN (bytes).
async fn receipt(lab: &Lab, standby: &str) -> (i64, u64) {
    let client = lab
        .connect(standby)
        .await
        .unwrap_or_else(|error| panic!("connect to {standby}: {}", describe(&error)));
    let row = client
        .query_one(
            "SELECT (extract(epoch FROM last_msg_receipt_time) * 1000)::bigint, \
             pg_last_wal_receive_lsn()::text FROM pg_stat_wal_receiver",
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("pg_stat_wal_receiver on {standby}: {}", describe(&error)));
    let lsn: String = row.get(1);
    (row.get(0), hadome_lab::parse_lsn(&lsn).expect("an LSN"))
}

/// The primary's WAL insert position, in bytes.
async fn insert_lsn(lab: &Lab, primary: &str) -> u64 {
    let text = lab_value(lab, primary, "SELECT pg_current_wal_insert_lsn()::text")
        .await
        .expect("an LSN");
    hadome_lab::parse_lsn(&text).expect("an LSN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instance_probes_as_down_and_its_session_closes() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    let session = Session::connect(&db1, QUICK).await.unwrap();
    session.ping(QUICK).await.unwrap();
    let ended = Arc::new(Notify::new());
    let watched = Session::connect_notifying(&db1, QUICK, Arc::clone(&ended))
        .await
        .unwrap();

    lab.fault(&Fault::Crash("db-1".into())).await.unwrap();
    // The daemon wakes on this notice: by then the session already reads as closed.
    tokio::time::timeout(LONG, ended.notified())
        .await
        .expect("a notice that the session to the crashed db-1 ended");
    assert!(watched.is_closed());
    let probe = observe_instance(&db1, QUICK).await;
    let (error, kind) = failure(&probe);
    eprintln!("probe of a crashed db-1: {error}");
    assert_eq!(kind, FailureKind::Down, "{error}");

    eventually("the session to the crashed db-1 to close", LONG, || async {
        session.is_closed().then_some(())
    })
    .await;
    let error = session.ping(QUICK).await.unwrap_err();
    eprintln!("ping on the crashed db-1's session: {error}");
    assert_eq!(kind_of(&error), FailureKind::Down, "{error}");
    for error in [
        Session::connect(&db1, QUICK).await.unwrap_err(),
        accepts_writes(&db1, QUICK).await.unwrap_err(),
    ] {
        assert_eq!(kind_of(&error), FailureKind::Down, "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_instance_times_out_within_the_bound_and_its_session_waits() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    let session = Session::connect(&db1, QUICK).await.unwrap();
    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();

    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let probe = observe_instance(&db1, timeout).await;
    let elapsed = started.elapsed();
    let (error, kind) = failure(&probe);
    eprintln!("probe of a hung db-1 ({elapsed:?}): {error}");
    assert_eq!(kind, FailureKind::Timeout, "{error}");
    // A sanity bound, not a benchmark: the probe gives up at its timeout.
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");

    let started = Instant::now();
    let error = session.ping(timeout).await.unwrap_err();
    assert!(started.elapsed() < timeout + Duration::from_secs(2));
    assert_eq!(kind_of(&error), FailureKind::Timeout, "{error}");
    assert!(
        !session.is_closed(),
        "a hung server does not close the session"
    );
    for error in [
        Session::connect(&db1, timeout).await.unwrap_err(),
        accepts_writes(&db1, timeout).await.unwrap_err(),
        set_synchronous_standby_names(&db1, "", timeout)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(kind_of(&error), FailureKind::Timeout, "{error}");
    }

    // Resumed, the same session answers again: the late answer to the abandoned ping is dropped.
    lab.fault(&Fault::Resume("db-1".into())).await.unwrap();
    session.ping(QUICK).await.unwrap();
    session.heartbeat(QUICK).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_a_hung_postmaster_while_new_probes_time_out() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    let session = Session::connect(&db1, QUICK).await.unwrap();
    // The lab's own session, opened before the fault too, to read db-1's WAL position.
    let lab_session = lab.connect("db-1").await.unwrap();
    lab.fault(&Fault::HangPostmaster("db-1".into()))
        .await
        .unwrap();

    session.ping(QUICK).await.unwrap();
    let before = value(
        &lab_session,
        "db-1",
        "SELECT pg_current_wal_insert_lsn()::text",
    )
    .await
    .and_then(|lsn| hadome_lab::parse_lsn(&lsn))
    .expect("an LSN");
    session.heartbeat(QUICK).await.unwrap();
    // Its WAL senders still run: the heartbeat reaches the standby.
    eventually(
        "db-2 to receive the heartbeat written while db-1's postmaster hangs",
        LONG,
        || async { (receipt(&lab, "db-2").await.1 > before).then_some(()) },
    )
    .await;

    let timeout = Duration::from_secs(1);
    let probe = observe_instance(&db1, timeout).await;
    let (error, kind) = failure(&probe);
    eprintln!("probe of db-1 with its postmaster hung: {error}");
    assert_eq!(kind, FailureKind::Timeout, "{error}");
    let error = Session::connect(&db1, timeout).await.unwrap_err();
    assert_eq!(kind_of(&error), FailureKind::Timeout, "{error}");
    session.ping(QUICK).await.unwrap();
}

/// A one-node topology whose primary admits three connections and reserves none for
/// superusers (hadome connects as `postgres` here).
const THREE_SLOTS: &str = r#"
[[node]]
name = "db-1"
settings = { max_connections = "3", superuser_reserved_connections = "0" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_at_its_connection_limit_is_overloaded() {
    let topology_dir = crate::support::scratch();
    let topology = topology_dir.path().join("three-slots.toml");
    std::fs::write(&topology, THREE_SLOTS).unwrap();
    let lab = lab(topology.to_str().expect("a UTF-8 path")).await;
    let db1 = instance_of(&lab, "db-1", "postgres");

    // Hold sessions as hadome's role until the server refuses one, then probe; a slot freed in
    // between (a connection of `lab up` still ending) is taken by the next round.
    let mut held = Vec::new();
    let deadline = Instant::now() + LONG;
    let (probe, refused) = loop {
        let refused = loop {
            match Session::connect(&db1, QUICK).await {
                Ok(session) => held.push(session),
                Err(error) => break error,
            }
            assert!(
                held.len() <= 3,
                "max_connections = 3 admitted {}",
                held.len()
            );
        };
        let probe = observe_instance(&db1, QUICK).await;
        if matches!(probe.outcome, ProbeOutcome::Unreachable { .. }) {
            break (probe, refused);
        }
        assert!(
            Instant::now() < deadline,
            "db-1 never refused a probe at its connection limit"
        );
    };
    eprintln!("a session refused at the limit: {refused}");
    assert_eq!(kind_of(&refused), FailureKind::Overloaded, "{refused}");
    let (error, kind) = failure(&probe);
    eprintln!("probe of db-1 at its connection limit: {error}");
    assert!(error.to_string().contains("too many clients"), "{error}");
    assert_eq!(kind, FailureKind::Overloaded, "{error}");
    let error = accepts_writes(&db1, QUICK).await.unwrap_err();
    assert_eq!(kind_of(&error), FailureKind::Overloaded, "{error}");

    // Busy, not dead: the sessions it holds still answer.
    held[0].ping(QUICK).await.unwrap();
    held.pop();
    eventually("db-1 to admit a probe once a slot frees", LONG, || async {
        let probe = observe_instance(&db1, QUICK).await;
        matches!(probe.outcome, ProbeOutcome::Answered(_)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_on_the_primary_advances_the_standby_receipt() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    let session = Session::connect(&db1, QUICK).await.unwrap();

    let (received_at, _) = receipt(&lab, "db-2").await;
    let before = insert_lsn(&lab, "db-1").await;
    session.heartbeat(QUICK).await.unwrap();
    // The heartbeat's WAL, written after `before`, reaches db-2, whose receipt time moves.
    eventually("db-2 to receive db-1's heartbeat", LONG, || async {
        let (at, lsn) = receipt(&lab, "db-2").await;
        (lsn > before && at > received_at).then_some(())
    })
    .await;

    // A standby cannot write WAL: the error says where heartbeats go.
    let standby = Session::connect(&instance_of(&lab, "db-2", "postgres"), QUICK)
        .await
        .unwrap();
    let error = standby.heartbeat(QUICK).await.unwrap_err();
    assert!(
        error.to_string().contains("during recovery") && error.to_string().contains("primary"),
        "{error}"
    );
    assert!(!standby.is_closed(), "an error ends no session");
    standby.ping(QUICK).await.unwrap();

    // It takes no transaction ID and commits nothing: with the synchronous standby cut off,
    // where a commit would wait for ever, the heartbeat returns.
    lab.fault(&Fault::Cut {
        upstream: "db-1".into(),
        standby: "db-2".into(),
    })
    .await
    .unwrap();
    session.heartbeat(QUICK).await.unwrap();
    session.heartbeat(QUICK).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_makes_the_standby_accept_writes() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    let db2 = instance_of(&lab, "db-2", "postgres");
    assert!(accepts_writes(&db1, QUICK).await.unwrap());
    assert!(!accepts_writes(&db2, QUICK).await.unwrap());

    let error = promote(&db1, QUICK).await.unwrap_err();
    assert!(error.to_string().contains("not a standby"), "{error}");
    assert!(accepts_writes(&db1, QUICK).await.unwrap(), "db-1 unchanged");

    retry_stream(&db2, QUICK).await.unwrap();
    promote(&db2, LONG).await.unwrap();
    assert!(accepts_writes(&db2, QUICK).await.unwrap());
    let client = lab.connect("db-2").await.unwrap();
    execute(&client, "db-2", "CREATE TABLE promoted (id int)").await;
    let error = promote(&db2, QUICK).await.unwrap_err();
    assert!(error.to_string().contains("not a standby"), "{error}");

    // A primary that refuses writes (default_transaction_read_only) does not accept them.
    let client = lab.connect("db-1").await.unwrap();
    // ALTER SYSTEM runs in no transaction block: two statements, two round trips.
    execute(
        &client,
        "db-1",
        "ALTER SYSTEM SET default_transaction_read_only = on",
    )
    .await;
    execute(&client, "db-1", "SELECT pg_reload_conf()").await;
    eventually("db-1 to refuse writes", LONG, || async {
        (!accepts_writes(&db1, QUICK).await.unwrap()).then_some(())
    })
    .await;
}

/// `synchronous_standby_names` as a new session of `node` sees it.
async fn shown(lab: &Lab, node: &str) -> String {
    lab_value(lab, node, "SHOW synchronous_standby_names")
        .await
        .unwrap_or_default()
}

/// Waits for `primary` to list `standby` in `pg_stat_replication` with `sync_state`.
async fn wait_sync_state(lab: &Lab, primary: &str, standby: &str, sync_state: &str) {
    let sql =
        format!("SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby}'");
    eventually(
        &format!("{primary} to see {standby} as {sync_state}"),
        LONG,
        || async {
            (lab_value(lab, primary, &sql).await.as_deref() == Some(sync_state)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_standby_names_round_trip() {
    let lab = lab("pair").await;
    let db1 = instance_of(&lab, "db-1", "postgres");
    assert_eq!(shown(&lab, "db-1").await, r#""db-2""#, "the lab's value");

    // Empty: no synchronous standby. A quote in a name: the literal is escaped.
    for (value, sync_state) in [
        ("", "async"),
        (r#"ANY 1 ("db-2", "it's")"#, "quorum"),
        (r#""db-2""#, "sync"),
    ] {
        set_synchronous_standby_names(&db1, value, QUICK)
            .await
            .unwrap_or_else(|error| panic!("set `{value}`: {error}"));
        assert_eq!(shown(&lab, "db-1").await, value, "a new session sees it");
        wait_sync_state(&lab, "db-1", "db-2", sync_state).await;
    }

    // A value PostgreSQL refuses changes nothing.
    let error = set_synchronous_standby_names(&db1, "a b", QUICK)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("invalid value"), "{error}");
    assert_eq!(shown(&lab, "db-1").await, r#""db-2""#);
    let auto_conf =
        std::fs::read_to_string(lab.data_dir("db-1").unwrap().join("postgresql.auto.conf"))
            .unwrap();
    assert!(
        auto_conf.contains(r#"synchronous_standby_names = '"db-2"'"#),
        "{auto_conf}"
    );
}

/// The `sql` blocks of `docs/privileges.md`, in order: the probe's grants, supervision's, and
/// the optional revoke of `pg_logical_emit_message` from PUBLIC.
fn documented_sql() -> Vec<String> {
    let doc = include_str!("../../../../docs/privileges.md");
    doc.split("```sql\n")
        .skip(1)
        .map(|block| block.split("```").next().expect("a block").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_supervision_grants_are_enough() {
    let blocks = documented_sql();
    let [probe_grants, supervision_grants, revoke_heartbeat] = blocks.as_slice() else {
        panic!("docs/privileges.md has three sql blocks: {blocks:?}");
    };
    let lab = lab("pair").await;
    let primary = lab.connect("db-1").await.unwrap();
    execute(&primary, "db-1", probe_grants).await;
    let db1 = instance_of(&lab, "db-1", "hadome");
    let db2 = instance_of(&lab, "db-2", "hadome");
    eventually("the hadome role to reach db-2", LONG, || async {
        lab_value(
            &lab,
            "db-2",
            "SELECT count(*)::text FROM pg_roles WHERE rolname = 'hadome'",
        )
        .await
        .filter(|count| count == "1")
    })
    .await;

    // With the probe's grants alone: heartbeats and questions, but no change.
    let session = Session::connect(&db1, QUICK).await.unwrap();
    session.heartbeat(QUICK).await.unwrap();
    assert!(accepts_writes(&db1, QUICK).await.unwrap());
    // A rebuild's pre-flight reads the source's size with the probe's grants.
    let bytes = hadome_observer::data_bytes(&db1, QUICK).await.unwrap();
    assert!(bytes > 1 << 20, "{bytes}");
    for error in [
        promote(&db2, QUICK).await.unwrap_err(),
        set_synchronous_standby_names(&db1, "", QUICK)
            .await
            .unwrap_err(),
        retry_stream(&db2, QUICK).await.unwrap_err(),
    ] {
        assert!(
            error.to_string().contains("permission denied")
                && error.to_string().contains("docs/privileges.md"),
            "{error}"
        );
    }
    assert_eq!(shown(&lab, "db-1").await, r#""db-2""#, "nothing changed");

    execute(&primary, "db-1", supervision_grants).await;
    execute(&primary, "db-1", revoke_heartbeat).await;
    eventually("the supervision grants to reach db-2", LONG, || async {
        lab_value(
            &lab,
            "db-2",
            "SELECT has_function_privilege('hadome', 'pg_promote(boolean, integer)', 'EXECUTE')::text",
        )
        .await
        .filter(|granted| granted == "true")
    })
    .await;

    session.heartbeat(QUICK).await.unwrap();
    set_synchronous_standby_names(&db1, "", QUICK)
        .await
        .unwrap();
    set_synchronous_standby_names(&db1, r#""db-2""#, QUICK)
        .await
        .unwrap();
    // Revoked from PUBLIC, the heartbeat is hadome's alone.
    execute(&primary, "db-1", "CREATE ROLE intruder LOGIN").await;
    let intruder = Session::connect(&instance_of(&lab, "db-1", "intruder"), QUICK)
        .await
        .unwrap();
    let error = intruder.heartbeat(QUICK).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("permission denied for function pg_logical_emit_message"),
        "{error}"
    );

    retry_stream(&db2, QUICK).await.unwrap();
    promote(&db2, LONG).await.unwrap();
    assert!(accepts_writes(&db2, QUICK).await.unwrap());
    // The promoted standby has the grants too (they replicated).
    set_synchronous_standby_names(&db2, r#""db-1""#, QUICK)
        .await
        .unwrap();
    let db2_session = Session::connect(&db2, QUICK).await.unwrap();
    db2_session.heartbeat(QUICK).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_stream_wakes_a_standby_out_of_its_retry_wait_after_its_primary_restarted() {
    let lab = lab("pair").await;
    let (db1, db2) = (
        instance_of(&lab, "db-1", "postgres"),
        instance_of(&lab, "db-2", "postgres"),
    );
    let error = retry_stream(&db1, QUICK).await.unwrap_err();
    assert!(error.to_string().contains("not a standby"), "{error}");
    // Ten minutes between two attempts: without being woken, db-2 would not stream again within
    // this test's deadlines.
    let standby = lab.connect("db-2").await.unwrap();
    execute(
        &standby,
        "db-2",
        "ALTER SYSTEM SET wal_retrieve_retry_interval = '10min'",
    )
    .await;
    execute(&standby, "db-2", "SELECT pg_reload_conf()").await;
    eventually(
        "db-2 to run with wal_retrieve_retry_interval = 10min",
        LONG,
        || async {
            let shown = lab_value(&lab, "db-2", "SHOW wal_retrieve_retry_interval").await;
            (shown.as_deref() == Some("10min")).then_some(())
        },
    )
    .await;

    lab.fault(&Fault::Crash("db-1".into())).await.unwrap();
    // Its first attempt failed at once; now it waits out the interval.
    let waiting = "SELECT count(*)::text FROM pg_stat_activity \
                   WHERE backend_type = 'startup' AND wait_event = 'RecoveryRetrieveRetryInterval'";
    eventually(
        "db-2's startup process to wait out its retry interval",
        LONG,
        || async { (lab_value(&lab, "db-2", waiting).await.as_deref() == Some("1")).then_some(()) },
    )
    .await;
    lab.fault(&Fault::Start("db-1".into())).await.unwrap();
    let receiver = "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')";
    assert_eq!(
        lab_value(&lab, "db-2", waiting).await.as_deref(),
        Some("1"),
        "db-2 still waits once db-1 is back"
    );

    let asked = retry_stream(&db2, QUICK).await.unwrap();
    eprintln!("retry_stream on db-2: {asked}");
    assert!(asked.starts_with("asked to retry its stream"), "{asked}");
    eventually(
        "db-2 to stream from the restarted db-1 again",
        LONG,
        || async {
            (lab_value(&lab, "db-2", receiver).await.as_deref() == Some("streaming")).then_some(())
        },
    )
    .await;
}
