//! Every fault has its real effect, asserted on the servers' own state.

use std::time::Duration;

use hadome_lab::Fault;

use crate::support::{
    current_lsn, eventually, execute, has_row, lab, receiver_and_replay, value, wait_for_row,
    write_row,
};

const SHORT: Duration = Duration::from_secs(2);
const LONG: Duration = Duration::from_secs(30);

fn node(name: &str) -> String {
    name.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_freezes_every_process_and_resume_thaws_them() {
    let lab = lab("pair").await;
    let client = lab.connect_client("db-1").await.unwrap();
    lab.fault(&Fault::Hang(node("db-1"))).await.unwrap();

    let frozen = tokio::time::timeout(SHORT, client.simple_query("SELECT 1")).await;
    assert!(
        frozen.is_err(),
        "an open session's query must time out on a hung instance: {frozen:?}"
    );
    let connecting = lab.connect_client("db-1").await;
    assert!(
        connecting.is_err(),
        "a new connection must not be answered either"
    );
    let status = lab.status().await.unwrap();
    assert_eq!(status.nodes[0].process, "hung");
    assert!(
        status.nodes[0].live.is_none(),
        "a hung node is not probed: {:?}",
        status.nodes[0]
    );

    lab.fault(&Fault::Resume(node("db-1"))).await.unwrap();
    let answer = tokio::time::timeout(LONG, client.simple_query("SELECT 1")).await;
    assert!(
        matches!(answer, Ok(Ok(_))),
        "the same session answers after resume: {answer:?}"
    );
    assert_eq!(lab.status().await.unwrap().nodes[0].process, "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_postmaster_blocks_new_connections_while_sessions_and_wal_senders_go_on() {
    let lab = lab("pair").await;
    let session = lab.connect_client("db-1").await.unwrap();
    execute(
        &session,
        "db-1",
        "CREATE TABLE probe (marker text PRIMARY KEY)",
    )
    .await;
    lab.fault(&Fault::HangPostmaster(node("db-1")))
        .await
        .unwrap();

    assert!(
        lab.connect_client("db-1").await.is_err(),
        "new connections hang"
    );
    // The open session commits, and the commit reaches the synchronous standby: the WAL sender runs.
    execute(&session, "db-1", "INSERT INTO probe VALUES ('during-hang')").await;
    wait_for_row(&lab, "db-2", "during-hang").await;
    assert_eq!(
        lab.status().await.unwrap().nodes[0].process,
        "hung-postmaster"
    );

    lab.fault(&Fault::Resume(node("db-1"))).await.unwrap();
    assert!(
        lab.connect_client("db-1").await.is_ok(),
        "new connections are answered again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kills_the_postmaster_and_start_brings_the_data_back() {
    let lab = lab("pair").await;
    write_row(&lab, "db-1", "before-crash").await;
    let postmaster = lab.postmaster_pid("db-1").unwrap().expect("db-1 runs");
    lab.fault(&Fault::Crash(node("db-1"))).await.unwrap();

    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the postmaster is dead: {stat}"
    );
    assert_eq!(lab.postmaster_pid("db-1").unwrap(), None);
    assert!(
        lab.connect_client("db-1").await.is_err(),
        "nothing answers on db-1's port"
    );
    assert_eq!(lab.status().await.unwrap().nodes[0].process, "stopped");

    lab.fault(&Fault::Start(node("db-1"))).await.unwrap();
    assert!(
        has_row(&lab, "db-1", "before-crash").await,
        "crash recovery kept the committed row"
    );
    let restarted = lab
        .postmaster_pid("db-1")
        .unwrap()
        .expect("db-1 runs again");
    assert_ne!(restarted, postmaster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_start_are_clean_and_the_standby_streams_again() {
    let lab = lab("pair").await;
    lab.fault(&Fault::Stop(node("db-2"))).await.unwrap();
    assert_eq!(lab.postmaster_pid("db-2").unwrap(), None);
    let log = std::fs::read_to_string(lab.log_file("db-2").unwrap()).unwrap();
    assert!(
        log.contains("database system is shut down"),
        "a clean shutdown:\n{log}"
    );
    // Stopping a stopped instance succeeds and says so, as a service manager's stop does.
    let again = lab.fault(&Fault::Stop(node("db-2"))).await.unwrap();
    assert!(
        again.summary.contains("already stopped"),
        "{}",
        again.summary
    );
    // A hung instance cannot stop cleanly: refused, with the fix.
    lab.fault(&Fault::HangPostmaster(node("db-1")))
        .await
        .unwrap();
    let refused = lab.fault(&Fault::Stop(node("db-1"))).await.unwrap_err();
    assert!(
        refused.to_string().contains("hung-postmaster, not running"),
        "{refused}"
    );
    assert!(refused.hint().unwrap().contains("resume it first"));
    lab.fault(&Fault::Resume(node("db-1"))).await.unwrap();

    lab.fault(&Fault::Start(node("db-2"))).await.unwrap();
    eventually("db-2 to stream again", LONG, || async {
        (receiver_and_replay(&lab, "db-2").await.0.as_deref() == Some("streaming")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_stops_a_standby_while_the_primary_advances_and_heal_lets_it_catch_up() {
    let lab = lab("trio").await;
    lab.fault(&Fault::Cut {
        upstream: node("db-1"),
        standby: node("db-3"),
    })
    .await
    .unwrap();
    let (receiver, replay_at_cut) =
        eventually("db-3's receiver to stop streaming", LONG, || async {
            let (receiver, replay) = receiver_and_replay(&lab, "db-3").await;
            (receiver.as_deref() != Some("streaming")).then_some((receiver, replay))
        })
        .await;
    assert_ne!(receiver.as_deref(), Some("streaming"));

    write_row(&lab, "db-1", "after-cut").await;
    // db-2, on an intact link, is the witness that the write left db-1.
    wait_for_row(&lab, "db-2", "after-cut").await;
    assert!(
        current_lsn(&lab, "db-1").await > replay_at_cut,
        "the primary advanced"
    );
    let (_, replay_now) = receiver_and_replay(&lab, "db-3").await;
    assert_eq!(replay_now, replay_at_cut, "db-3 replayed nothing while cut");
    assert!(!has_row(&lab, "db-3", "after-cut").await);
    let status = lab.status().await.unwrap();
    assert!(status
        .links
        .iter()
        .any(|link| link.upstream == "db-1" && link.standby == "db-3" && link.cut));

    lab.fault(&Fault::Heal {
        upstream: node("db-1"),
        standby: node("db-3"),
    })
    .await
    .unwrap();
    wait_for_row(&lab, "db-3", "after-cut").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolate_cuts_clients_off_while_replication_goes_on() {
    let lab = lab("pair").await;
    let before = lab.connect_client("db-1").await.unwrap();
    lab.fault(&Fault::Isolate(node("db-1"))).await.unwrap();

    assert!(
        lab.connect_client("db-1").await.is_err(),
        "clients cannot reach db-1"
    );
    let open = tokio::time::timeout(SHORT, before.simple_query("SELECT 1")).await;
    assert!(
        !matches!(open, Ok(Ok(_))),
        "an open client session is cut too: {open:?}"
    );
    write_row(&lab, "db-1", "while-isolated").await;
    wait_for_row(&lab, "db-2", "while-isolated").await;
    assert!(lab.status().await.unwrap().nodes[0].isolated);

    lab.fault(&Fault::Rejoin(node("db-1"))).await.unwrap();
    let client = lab.connect_client("db-1").await.unwrap();
    assert_eq!(
        value(&client, "db-1", "SELECT 'back'").await.as_deref(),
        Some("back")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_leaves_a_standby_running_that_can_never_catch_up() {
    let lab = lab("misskey").await;
    let report = lab.fault(&Fault::Stall(node("db-3"))).await.unwrap();
    assert!(
        report.summary.contains("has already been removed"),
        "{}",
        report.summary
    );

    let log_file = lab.log_file("db-3").unwrap();
    let removed_lines = || {
        std::fs::read_to_string(&log_file)
            .unwrap()
            .lines()
            .filter(|line| line.contains("has already been removed"))
            .count()
    };
    assert!(removed_lines() >= 1);
    // The link is healed, yet every retry of the receiver fails the same way.
    eventually(
        "db-3's receiver to fail again after the heal",
        LONG,
        || async { (removed_lines() >= 2).then_some(()) },
    )
    .await;

    write_row(&lab, "db-1", "after-stall").await;
    wait_for_row(&lab, "db-2", "after-stall").await;
    let (receiver, replay) = receiver_and_replay(&lab, "db-3").await;
    assert_ne!(receiver.as_deref(), Some("streaming"));
    assert!(
        replay < current_lsn(&lab, "db-1").await,
        "db-3 is behind the primary"
    );
    assert!(!has_row(&lab, "db-3", "after-stall").await);
    assert_eq!(
        lab.status().await.unwrap().nodes[2].process,
        "running",
        "the process is up: the incident's trap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_starts_a_new_timeline() {
    let lab = lab("mackerel").await;
    let timeline_sql = "SELECT timeline_id::text FROM pg_control_checkpoint()";
    let before = value(&lab.connect("db001").await.unwrap(), "db001", timeline_sql).await;
    assert_eq!(before.as_deref(), Some("1"));

    let report = lab.fault(&Fault::Promote(node("db001"))).await.unwrap();
    assert!(report.summary.contains("timeline 2"), "{}", report.summary);
    let client = lab.connect("db001").await.unwrap();
    assert_eq!(
        value(&client, "db001", "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("false")
    );
    execute(&client, "db001", "CHECKPOINT").await;
    assert_eq!(
        value(&client, "db001", timeline_sql).await.as_deref(),
        Some("2")
    );
    let refused = lab.fault(&Fault::Promote(node("db001"))).await.unwrap_err();
    assert!(refused.to_string().contains("not a standby"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_change_is_on_disk_but_not_applied() {
    let lab = lab("pair").await;
    lab.fault(&Fault::ConfigChange {
        node: node("db-2"),
        key: node("work_mem"),
        value: node("64MB"),
    })
    .await
    .unwrap();
    let client = lab.connect("db-2").await.unwrap();
    let on_disk = value(
        &client,
        "db-2",
        "SELECT setting FROM pg_file_settings WHERE name = 'work_mem' ORDER BY seqno DESC LIMIT 1",
    )
    .await;
    assert_eq!(
        on_disk.as_deref(),
        Some("64MB"),
        "the file holds the new value"
    );
    assert_eq!(
        value(&client, "db-2", "SHOW work_mem").await.as_deref(),
        Some("4MB"),
        "the server runs the old one"
    );

    let typo = lab
        .fault(&Fault::ConfigChange {
            node: node("db-2"),
            key: node("wrok_mem"),
            value: node("1MB"),
        })
        .await
        .unwrap_err();
    assert!(
        typo.to_string().contains("`wrok_mem` is not a setting"),
        "{typo}"
    );
    let conf =
        std::fs::read_to_string(lab.data_dir("db-2").unwrap().join("postgresql.conf")).unwrap();
    assert!(
        !conf.contains("wrok_mem"),
        "a rejected change is not written"
    );
}
