//! `lab rebuild`, the lab's rebuild_command: a stopped node whose data directory was moved aside
//! becomes a fresh standby of a running node, and every refusal leaves the estate as it was.

use std::path::{Path, PathBuf};

use hadome_lab::{Fault, Lab, LabError};

use crate::support::{lab, receiver_and_replay, run_hadome, show, value, wait_for_row, write_row};

/// What a refusal must leave untouched: lab.json's bytes, the node's data directory (its entries,
/// or its absence), and the node directory's entries (no half-made data directory beside it).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    lab_json: Vec<u8>,
    data_entries: Option<Vec<String>>,
    home_entries: Vec<String>,
    process: &'static str,
}

fn entries(dir: &Path) -> Option<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Some(names)
}

async fn snapshot(lab: &Lab, node: &str) -> Snapshot {
    let data_dir = lab.data_dir(node).unwrap();
    let status = lab.status().await.unwrap();
    Snapshot {
        lab_json: std::fs::read(lab.dir().join("lab.json")).unwrap(),
        data_entries: entries(&data_dir),
        home_entries: entries(data_dir.parent().unwrap()).unwrap(),
        process: status
            .nodes
            .iter()
            .find(|status| status.name == node)
            .unwrap()
            .process,
    }
}

/// Moves a node's data directory aside, as hadome's executor does; returns where it went.
fn move_aside(lab: &Lab, node: &str) -> PathBuf {
    let data_dir = lab.data_dir(node).unwrap();
    let aside = data_dir.with_extension("aside");
    std::fs::rename(&data_dir, &aside).unwrap();
    aside
}

fn upstream_of(status: &hadome_lab::LabStatus, node: &str) -> Option<String> {
    status
        .nodes
        .iter()
        .find(|status| status.name == node)
        .unwrap()
        .upstream
        .clone()
}

fn refusal_reason(error: &LabError) -> &str {
    match error {
        LabError::FaultRejected { fault, reason, .. } => {
            assert_eq!(fault, "rebuild");
            reason
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_makes_a_stalled_copy_stream_again_and_keeps_the_old_data_aside() {
    let lab = lab("misskey").await;
    lab.fault(&Fault::Stall("db-3".into())).await.unwrap();
    lab.fault(&Fault::Stop("db-3".into())).await.unwrap();
    let aside = move_aside(&lab, "db-3");

    let report = lab.rebuild("db-3", "db-1").await.unwrap();
    assert_eq!(
        (report.target.as_str(), report.source.as_str()),
        ("db-3", "db-1")
    );
    assert!(
        report.summary.contains("streams from `db-1`"),
        "{}",
        report.summary
    );

    let (receiver, _) = receiver_and_replay(&lab, "db-3").await;
    assert_eq!(receiver.as_deref(), Some("streaming"));
    write_row(&lab, "db-1", "after-rebuild").await;
    wait_for_row(&lab, "db-3", "after-rebuild").await;
    assert!(
        aside.join("PG_VERSION").exists(),
        "the old data is still aside"
    );

    // The copy holds db-1's lab settings; db-3 runs with its own again.
    let client = lab.connect("db-3").await.unwrap();
    let cluster_name = value(&client, "db-3", "SHOW cluster_name").await.unwrap();
    assert!(cluster_name.ends_with("-db-3"), "{cluster_name}");
    let keep = value(&client, "db-3", "SHOW wal_keep_size").await;
    assert_eq!(
        keep.as_deref(),
        Some("8MB"),
        "the topology's setting for db-3"
    );
    let socket = value(&client, "db-3", "SHOW unix_socket_directories").await;
    assert!(socket.unwrap().ends_with("nodes/db-3/run"));

    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-3").as_deref(), Some("db-1"));
    let db3 = status
        .nodes
        .iter()
        .find(|node| node.name == "db-3")
        .unwrap();
    assert_eq!(db3.process, "running");
    assert_eq!(
        db3.live.as_ref().unwrap().wal_receiver.as_deref(),
        Some("streaming")
    );

    // Through the CLI, onto a new upstream: db-4 (declared downstream of db-3) from db-1.
    lab.fault(&Fault::Stop("db-4".into())).await.unwrap();
    let aside = move_aside(&lab, "db-4");
    let dir = lab.dir().to_str().unwrap().to_owned();
    let output = run_hadome(
        &["lab", "rebuild", "--dir", &dir, "db-4", "--from", "db-1"],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{}", show(&output));
    assert!(
        stdout.starts_with("rebuilt `db-4` from `db-1`"),
        "{}",
        show(&output)
    );
    assert!(aside.join("PG_VERSION").exists());
    write_row(&lab, "db-1", "after-cli-rebuild").await;
    wait_for_row(&lab, "db-4", "after-cli-rebuild").await;

    // This handle read lab.json before the CLI rewrote it; its status reads the new upstream.
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-4").as_deref(), Some("db-1"));
    assert!(
        status
            .links
            .iter()
            .any(|link| link.upstream == "db-1" && link.standby == "db-4"),
        "the link in use is listed: {:?}",
        status.links
    );
    let reopened = Lab::open(lab.dir()).unwrap().status().await.unwrap();
    assert_eq!(upstream_of(&reopened, "db-4").as_deref(), Some("db-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rebuilds_change_nothing() {
    let lab = lab("misskey").await;

    // The target runs.
    let before = snapshot(&lab, "db-3").await;
    let error = lab.rebuild("db-3", "db-1").await.unwrap_err();
    assert!(refusal_reason(&error).contains("is running"), "{error}");
    assert!(error.hint().unwrap().contains("stop it"), "{error:?}");
    assert_eq!(snapshot(&lab, "db-3").await, before);
    let (receiver, _) = receiver_and_replay(&lab, "db-3").await;
    assert_eq!(receiver.as_deref(), Some("streaming"), "db-3 still streams");

    // From itself.
    let error = lab.rebuild("db-3", "db-3").await.unwrap_err();
    assert!(refusal_reason(&error).contains("from itself"), "{error}");
    assert_eq!(snapshot(&lab, "db-3").await, before);

    // Stopped, but its data directory is still there.
    lab.fault(&Fault::Stop("db-3".into())).await.unwrap();
    let before = snapshot(&lab, "db-3").await;
    assert_eq!(before.process, "stopped");
    let error = lab.rebuild("db-3", "db-1").await.unwrap_err();
    assert!(
        refusal_reason(&error).contains("never overwrites or deletes"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("move it aside"), "{error:?}");
    assert_eq!(snapshot(&lab, "db-3").await, before);
    assert!(lab.data_dir("db-3").unwrap().join("PG_VERSION").exists());

    // Moved aside, but the source is stopped.
    let aside = move_aside(&lab, "db-3");
    lab.fault(&Fault::Stop("db-2".into())).await.unwrap();
    let before = snapshot(&lab, "db-3").await;
    let error = lab.rebuild("db-3", "db-2").await.unwrap_err();
    assert!(
        refusal_reason(&error).contains("the source `db-2` is stopped"),
        "{error}"
    );
    assert_eq!(snapshot(&lab, "db-3").await, before);
    assert_eq!(before.data_entries, None, "no data directory was made");

    // The CLI says the same, exit 1, with a hint; an unknown node is a usage error.
    let dir = lab.dir().to_str().unwrap().to_owned();
    let output = run_hadome(
        &["lab", "rebuild", "--dir", &dir, "db-3", "--from", "db-2"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hint: start it first"), "{}", show(&output));
    let output = run_hadome(
        &["lab", "rebuild", "--dir", &dir, "db-3", "--from", "db9"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(snapshot(&lab, "db-3").await, before);

    // With the source started, the same rebuild goes through; the old data stays aside.
    lab.fault(&Fault::Start("db-2".into())).await.unwrap();
    lab.rebuild("db-3", "db-2").await.unwrap();
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-3").as_deref(), Some("db-2"));
    write_row(&lab, "db-1", "through-db-2").await;
    wait_for_row(&lab, "db-3", "through-db-2").await;
    assert!(aside.join("PG_VERSION").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_old_primary_is_rebuilt_from_a_standby_promoted_behind_the_labs_back() {
    // The daemon's failover with `on_old_primary = "rebuild"`: fence db-1, promote db-2 with SQL
    // (the lab is not told), stop and move aside db-1, rebuild it from db-2.
    let lab = lab("pair").await;
    write_row(&lab, "db-1", "before-failover").await;
    lab.fault(&Fault::Fence("db-1".into())).await.unwrap();
    let db2 = lab.connect("db-2").await.unwrap();
    assert_eq!(
        value(&db2, "db-2", "SELECT pg_promote()::text")
            .await
            .as_deref(),
        Some("true")
    );
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-2").as_deref(), Some("db-1"));
    lab.fault(&Fault::Stop("db-1".into())).await.unwrap();
    let aside = move_aside(&lab, "db-1");
    assert!(
        aside.join("standby.signal").exists(),
        "the fence's signal went aside with the old data"
    );

    let report = lab.rebuild("db-1", "db-2").await.unwrap();
    assert!(
        report
            .summary
            .contains("the lab now records `db-2` as a primary"),
        "{}",
        report.summary
    );
    let status = lab.status().await.unwrap();
    assert_eq!(upstream_of(&status, "db-2"), None, "no cycle db-1 <-> db-2");
    assert_eq!(upstream_of(&status, "db-1").as_deref(), Some("db-2"));
    assert_eq!(
        value(&db2, "db-2", "SHOW primary_conninfo")
            .await
            .as_deref(),
        Some("")
    );
    write_row(&lab, "db-2", "after-failover").await;
    wait_for_row(&lab, "db-1", "after-failover").await;
    let (receiver, _) = receiver_and_replay(&lab, "db-1").await;
    assert_eq!(receiver.as_deref(), Some("streaming"));
}
