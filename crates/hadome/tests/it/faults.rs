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

    // The lab state follows the promotion: db001 is a primary, its file names no upstream.
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db001"), None);
    assert_eq!(status.nodes[1].role, "primary");
    assert_eq!(
        value(&client, "db001", "SHOW primary_conninfo")
            .await
            .as_deref(),
        Some("")
    );

    // db002 (recovery_target_timeline = 'current') would never follow db001 onto timeline 2:
    // refused, changing nothing.
    let lab_json = std::fs::read(lab.dir().join("lab.json")).unwrap();
    let refused = lab
        .fault(&Fault::Follow {
            standby: node("db002"),
            upstream: node("db001"),
        })
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("recovery_target_timeline = 'current' keeps it on timeline 1"),
        "{refused}"
    );
    assert_eq!(std::fs::read(lab.dir().join("lab.json")).unwrap(), lab_json);
    // It can follow db000, still on timeline 1, though its receiver waits at the end of
    // timeline 1 on its connection to db001 (the lab restarts it).
    lab.fault(&Fault::Follow {
        standby: node("db002"),
        upstream: node("db000"),
    })
    .await
    .unwrap();
    write_row(&lab, "db000", "from-db000").await;
    wait_for_row(&lab, "db002", "from-db000").await;
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

/// The state letter of `/proc/PID/stat` (`T` stopped, `Z` zombie …); `None` once the process is
/// gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The PIDs whose parent is `parent`, zombies included.
fn children(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let after = stat[stat.rfind(')')? + 1..].to_owned();
                    after.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Dead, or a zombie: it runs nothing (where PID 1 does not reap, a killed process stays `Z`).
fn is_dead(pid: i32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

fn process_of(status: &hadome_lab::LabStatus, name: &str) -> &'static str {
    status
        .nodes
        .iter()
        .find(|node| node.name == name)
        .unwrap()
        .process
}

fn upstream_of(status: &hadome_lab::LabStatus, name: &str) -> Option<String> {
    status
        .nodes
        .iter()
        .find(|node| node.name == name)
        .unwrap()
        .upstream
        .clone()
}

/// Sorted names of the entries of `dir`.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_kills_a_hung_primary_and_a_later_start_is_read_only() {
    use std::os::unix::fs::MetadataExt;

    let lab = lab("pair").await;
    write_row(&lab, "db-1", "before-fence").await;
    let data_dir = lab.data_dir("db-1").unwrap();
    let signal = data_dir.join("standby.signal");
    assert!(!signal.exists(), "a primary has no standby.signal");
    lab.fault(&Fault::Hang(node("db-1"))).await.unwrap();
    let postmaster = lab.postmaster_pid("db-1").unwrap().expect("db-1 runs");
    let mut processes = children(postmaster);
    processes.retain(|pid| !is_dead(*pid));
    processes.push(postmaster);
    assert!(processes.len() > 3, "the instance: {processes:?}");
    for pid in &processes {
        assert_eq!(proc_state(*pid), Some('T'), "{pid} is hung");
    }

    let report = lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();
    assert_eq!(report.fault, "fence");
    for pid in &processes {
        assert!(is_dead(*pid), "{pid} was killed: {:?}", proc_state(*pid));
    }
    assert!(
        report
            .summary
            .contains(&format!("postmaster PID {postmaster}"))
            && report.summary.contains("with SIGKILL")
            && report.summary.contains("hung")
            && report.summary.contains("standby.signal"),
        "{}",
        report.summary
    );
    assert_eq!(lab.postmaster_pid("db-1").unwrap(), None);
    assert_eq!(process_of(&lab.status().await.unwrap(), "db-1"), "stopped");
    let metadata = std::fs::metadata(&signal).expect("standby.signal was written");
    assert_eq!(metadata.len(), 0, "it is empty");
    assert_eq!(
        metadata.uid(),
        std::fs::metadata(&data_dir).unwrap().uid(),
        "it belongs to the server's user"
    );

    // A start brings the old primary up read-only, in recovery, with its data.
    let started = lab.fault(&Fault::Start(node("db-1"))).await.unwrap();
    assert!(
        started.summary.contains("in recovery"),
        "{}",
        started.summary
    );
    let client = lab.connect("db-1").await.unwrap();
    assert_eq!(
        value(&client, "db-1", "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("true")
    );
    assert!(has_row(&lab, "db-1", "before-fence").await);
    let refused = client
        .batch_execute("INSERT INTO probe VALUES ('after-fence')")
        .await
        .expect_err("a fenced node accepts no write");
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
        "{}",
        crate::support::describe(&refused)
    );
    let status = lab.status().await.unwrap();
    assert!(status.nodes[0].live.as_ref().unwrap().in_recovery);

    // Fencing a running standby works the same; the signal that is there stays.
    let again = lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();
    assert!(
        again.summary.contains("it was already there"),
        "{}",
        again.summary
    );
    assert_eq!(process_of(&lab.status().await.unwrap(), "db-1"), "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_of_a_node_already_down_succeeds_and_deletes_nothing() {
    let lab = lab("pair").await;
    lab.fault(&Fault::Crash(node("db-1"))).await.unwrap();
    let data_dir = lab.data_dir("db-1").unwrap();
    let before = entries(&data_dir);

    let report = lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();
    assert!(
        report.summary.contains("already down") && report.summary.contains("standby.signal"),
        "{}",
        report.summary
    );
    let mut expected = before.clone();
    expected.push("standby.signal".to_owned());
    expected.sort();
    assert_eq!(
        entries(&data_dir),
        expected,
        "only standby.signal was added"
    );

    // Idempotent: a second fence succeeds and changes nothing.
    let again = lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();
    assert!(
        again.summary.contains("already down") && again.summary.contains("already there"),
        "{}",
        again.summary
    );
    assert_eq!(entries(&data_dir), expected);

    // Through the CLI, as hadome's daemon runs the lab's fence_command.
    let dir = lab.dir().to_str().unwrap().to_owned();
    let output = crate::support::run_hadome(&["lab", "fault", "--dir", &dir, "fence", "db-1"], &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::support::show(&output)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("fenced: "));
}

/// Promotes `name` with SQL, as hadome's daemon does: the lab does not know.
async fn promote_behind_the_labs_back(lab: &hadome_lab::Lab, name: &str) {
    let client = lab.connect(name).await.unwrap();
    assert_eq!(
        value(&client, name, "SELECT pg_promote()::text")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        value(&client, name, "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("false")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_repoints_a_standby_at_a_primary_promoted_behind_the_labs_back() {
    let lab = lab("trio").await;
    write_row(&lab, "db-1", "before-failover").await;
    wait_for_row(&lab, "db-3", "before-failover").await;
    promote_behind_the_labs_back(&lab, "db-2").await;
    lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();
    let status = lab.status().await.unwrap();
    assert_eq!(
        upstream_of(&status, "db-2").as_deref(),
        Some("db-1"),
        "the lab has not been told"
    );

    let report = lab
        .fault(&Fault::Follow {
            standby: node("db-3"),
            upstream: node("db-2"),
        })
        .await
        .unwrap();
    assert_eq!(report.fault, "follow");
    assert!(
        report
            .summary
            .contains("`db-3` streams from `db-2` (it streamed from `db-1`)")
            && report.summary.contains("timeline 2")
            && report.summary.contains("records `db-2` as a primary"),
        "{}",
        report.summary
    );
    // The lab state, the files and the servers agree.
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-3").as_deref(), Some("db-2"));
    assert_eq!(upstream_of(&status, "db-2"), None);
    assert_eq!(status.nodes[1].role, "primary");
    let link = status
        .links
        .iter()
        .find(|link| link.upstream == "db-2" && link.standby == "db-3")
        .expect("the link in use is listed");
    let db3 = lab.connect("db-3").await.unwrap();
    let conninfo = value(&db3, "db-3", "SHOW primary_conninfo").await.unwrap();
    assert!(
        conninfo.contains(&format!("port={} ", link.port))
            && conninfo.contains("application_name=db-3"),
        "{conninfo}"
    );
    let db2 = lab.connect("db-2").await.unwrap();
    assert_eq!(
        value(&db2, "db-2", "SHOW primary_conninfo")
            .await
            .as_deref(),
        Some(""),
        "the new primary's file names no upstream"
    );
    let replication = value(
        &db2,
        "db-2",
        "SELECT state FROM pg_stat_replication WHERE application_name = 'db-3'",
    )
    .await;
    assert_eq!(replication.as_deref(), Some("streaming"));

    write_row(&lab, "db-2", "after-failover").await;
    wait_for_row(&lab, "db-3", "after-failover").await;

    // Refusals name the state and the fix, and change nothing.
    let lab_json = std::fs::read(lab.dir().join("lab.json")).unwrap();
    for (standby, upstream, reason, hint) in [
        ("db-1", "db-2", "is stopped", "start it first"),
        ("db-2", "db-3", "not a standby", "fence it"),
        ("db-3", "db-1", "`db-1` is stopped", "start db-1"),
        ("db-3", "db-3", "from itself", "another node"),
    ] {
        let refused = lab
            .fault(&Fault::Follow {
                standby: node(standby),
                upstream: node(upstream),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(refused, hadome_lab::LabError::FaultRejected { .. })
                && refused.to_string().contains(reason),
            "follow {standby} {upstream}: {refused}"
        );
        assert!(
            refused.hint().unwrap().contains(hint),
            "follow {standby} {upstream}: {refused:?}"
        );
        assert_eq!(
            std::fs::read(lab.dir().join("lab.json")).unwrap(),
            lab_json,
            "follow {standby} {upstream} changed lab.json"
        );
    }
    assert_eq!(
        receiver_and_replay(&lab, "db-3").await.0.as_deref(),
        Some("streaming")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_gives_a_slotted_standby_its_slot_on_the_new_upstream() {
    let scratch = crate::support::scratch();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/lab-topology.toml"
    );
    let guard = hadome_lab::Lab::up(
        &hadome_lab::Topology::resolve(path).unwrap(),
        &scratch.path().join("lab"),
        &hadome_lab::LabOptions::with_hadome_binary(crate::support::hadome_binary()),
    )
    .await
    .unwrap();
    let lab = crate::support::TestLab { guard, scratch };

    // db-3 streams from db-1 through its slot `db_3`; db-2 is a standby with no slots.
    let report = lab
        .fault(&Fault::Follow {
            standby: node("db-3"),
            upstream: node("db-2"),
        })
        .await
        .unwrap();
    assert!(
        report
            .summary
            .contains("created the physical replication slot `db_3` on `db-2`"),
        "{}",
        report.summary
    );
    let db2 = lab.connect("db-2").await.unwrap();
    assert_eq!(
        value(&db2, "db-2", "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("true"),
        "a cascade: db-2 is still a standby"
    );
    let slot = value(
        &db2,
        "db-2",
        "SELECT active::text FROM pg_replication_slots WHERE slot_name = 'db_3'",
    )
    .await;
    assert_eq!(slot.as_deref(), Some("true"), "db-3 streams through it");
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-3").as_deref(), Some("db-2"));
    assert_eq!(
        upstream_of(&status, "db-2").as_deref(),
        Some("db-1"),
        "a standby upstream keeps its own"
    );
    write_row(&lab, "db-1", "through-db-2").await;
    wait_for_row(&lab, "db-3", "through-db-2").await;
    wait_for_row(&lab, "db-4", "through-db-2").await;

    // Following the same upstream again is harmless: the slot is there, in use.
    let again = lab
        .fault(&Fault::Follow {
            standby: node("db-3"),
            upstream: node("db-2"),
        })
        .await
        .unwrap();
    assert!(
        again.summary.contains("(as before)") && again.summary.contains("uses the slot `db_3`"),
        "{}",
        again.summary
    );

    // db-2 cannot follow db-4: db-4 streams from db-3, which now streams from db-2.
    let refused = lab
        .fault(&Fault::Follow {
            standby: node("db-2"),
            upstream: node("db-4"),
        })
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("each would wait for the other"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_fails_fast_when_the_standby_went_past_the_new_timeline() {
    let lab = lab("trio").await;
    // db-2 stops receiving; db-1 commits without waiting for it, and db-3 receives the commit.
    lab.fault(&Fault::Cut {
        upstream: node("db-1"),
        standby: node("db-2"),
    })
    .await
    .unwrap();
    let db1 = lab.connect("db-1").await.unwrap();
    execute(
        &db1,
        "db-1",
        "SET synchronous_commit = local; CREATE TABLE probe (marker text PRIMARY KEY); \
         INSERT INTO probe VALUES ('only-on-db-1-and-db-3')",
    )
    .await;
    wait_for_row(&lab, "db-3", "only-on-db-1-and-db-3").await;
    promote_behind_the_labs_back(&lab, "db-2").await;
    lab.fault(&Fault::Fence(node("db-1"))).await.unwrap();

    let error = lab
        .fault(&Fault::Follow {
            standby: node("db-3"),
            upstream: node("db-2"),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, hadome_lab::LabError::FaultRejected { .. })
            && error.to_string().contains("has diverged from `db-2`"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("rebuild"), "{error:?}");
    assert!(
        has_row(&lab, "db-3", "only-on-db-1-and-db-3").await,
        "db-3 keeps what it had"
    );
}
