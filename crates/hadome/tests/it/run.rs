//! `hadome run`, the guarded executor, on real servers: it does only what the interlocks allow,
//! preserves before it destroys, and journals intent, steps and outcome.

use hadome_lab::Fault;
use serde_json::Value;

use crate::support::{asides, hadome_json, lab, run_hadome, show, value, wait_for_row, write_row};

fn journal(lab: &hadome_lab::Lab) -> hadome_journal::Journal {
    hadome_journal::Journal::open(&lab.dir().join("hadome.sqlite")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rebuild_preserves_the_stale_copy_and_makes_it_stream_again() {
    let lab = lab("misskey").await;
    let config = lab.dir().join("estate.toml");
    lab.fault(&Fault::Stall("db-3".into())).await.unwrap();
    let data_dir = lab.data_dir("db-3").unwrap();

    let (code, dry) = hadome_json(
        &config,
        &["run", "rebuild", "db-3", "--from", "db-1", "--dry-run"],
    );
    assert_eq!(
        (code, dry["executed"].as_bool()),
        (0, Some(false)),
        "{dry:#}"
    );
    assert_eq!(dry["plan"].as_array().unwrap().len(), 3, "{dry:#}");
    assert!(asides(&data_dir).is_empty(), "a dry run moves nothing");
    assert!(data_dir.join("PG_VERSION").exists());

    let (code, done) = hadome_json(&config, &["run", "rebuild", "db-3", "--from", "db-1"]);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(done["outcome"]["ok"], true, "{done:#}");
    let checked: Vec<&str> = done["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        checked
            .iter()
            .any(|line| line.starts_with("room for the copy: `db-1` needs ")),
        "the pre-flight measured the copy against the free space: {checked:#?}"
    );
    let moved = asides(&data_dir);
    assert_eq!(moved.len(), 1, "the old data dir is kept aside: {moved:?}");
    assert!(moved[0].join("PG_VERSION").exists(), "with its data");

    write_row(&lab, "db-1", "after-rebuild").await;
    wait_for_row(&lab, "db-3", "after-rebuild").await;
    let (_, check) = hadome_json(&config, &["check"]);
    let stalled: Vec<&Value> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["rule"] == "replication-stalled" && finding["subject"] == "db-3")
        .collect();
    assert!(stalled.is_empty(), "db-3 replicates again: {check:#}");

    let intent = journal(&lab)
        .intent(done["intent"].as_i64().unwrap())
        .unwrap()
        .expect("the intent is journaled");
    assert_eq!(intent.steps.len(), 3);
    assert!(intent.steps.iter().all(|step| step.ok), "{intent:?}");
    assert!(
        intent.outcome.as_ref().is_some_and(|outcome| outcome.ok),
        "{intent:?}"
    );
    assert!(journal(&lab).open_intents().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_the_bots_overwrite_and_touches_nothing() {
    let lab = lab("misskey").await;
    let config = lab.dir().join("estate.toml");
    lab.fault(&Fault::Stall("db-3".into())).await.unwrap();
    let (code, _) = hadome_json(&config, &["check"]);
    assert_eq!(code, 1);
    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();

    let (code, refused) = hadome_json(&config, &["run", "rebuild", "db-1", "--from", "db-3"]);
    assert_eq!(
        (code, refused["executed"].as_bool()),
        (1, Some(false)),
        "{refused:#}"
    );
    assert_eq!(refused["assessment"]["verdict"], "deny");
    let data_dir = lab.data_dir("db-1").unwrap();
    assert!(asides(&data_dir).is_empty(), "nothing moved");
    assert!(
        data_dir.join("PG_VERSION").exists(),
        "db-1's data is where it was"
    );
    assert!(
        journal(&lab).open_intents().unwrap().is_empty(),
        "no intent for a refused action"
    );
    lab.fault(&Fault::Resume("db-1".into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_promote_after_a_crash_and_an_override_with_its_reason() {
    let pair = lab("pair").await;
    let config = pair.dir().join("estate.toml");
    let (code, _) = hadome_json(&config, &["status"]);
    assert_eq!(code, 0);
    pair.fault(&Fault::Crash("db-1".into())).await.unwrap();
    let (code, promoted) = hadome_json(&config, &["run", "promote", "db-2"]);
    assert_eq!(code, 0, "{promoted:#}");
    let client = pair.connect("db-2").await.unwrap();
    assert_eq!(
        value(&client, "db-2", "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("false")
    );

    // The crashed old primary comes back only as a standby of the new one, its data kept aside.
    let (code, repaired) = hadome_json(&config, &["run", "rebuild", "db-1", "--from", "db-2"]);
    assert_eq!(code, 0, "{repaired:#}");
    let old_primary = pair.data_dir("db-1").unwrap();
    assert_eq!(
        asides(&old_primary).len(),
        1,
        "the old primary's data is kept aside"
    );
    let client = pair.connect("db-1").await.unwrap();
    assert_eq!(
        value(&client, "db-1", "SELECT pg_is_in_recovery()::text")
            .await
            .as_deref(),
        Some("true")
    );
    write_row(&pair, "db-2", "on-the-new-primary").await;
    wait_for_row(&pair, "db-1", "on-the-new-primary").await;

    let trio = lab("trio").await;
    let config = trio.dir().join("estate.toml");
    let (code, refused) = hadome_json(&config, &["run", "stop", "db-2"]);
    assert_eq!(
        (code, refused["executed"].as_bool()),
        (3, Some(false)),
        "the only sync standby: {refused:#}"
    );
    let without_reason = run_hadome(
        &[
            "run",
            "stop",
            "db-2",
            "--override",
            "quorum",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        without_reason.status.code(),
        Some(2),
        "{}",
        show(&without_reason)
    );
    let (code, overridden) = hadome_json(
        &config,
        &[
            "run",
            "stop",
            "db-2",
            "--override",
            "quorum",
            "--reason",
            "disk replacement, ticket 812",
        ],
    );
    assert_eq!(code, 0, "{overridden:#}");
    assert_eq!(
        trio.postmaster_pid("db-2").unwrap(),
        None,
        "db-2 was stopped"
    );
    let events = journal(&trio)
        .events_since(hadome_core::fact::Timestamp(0))
        .unwrap();
    let override_event = events
        .iter()
        .find(|event| event.kind == "override")
        .expect("the override is journaled");
    assert!(
        override_event
            .body
            .to_string()
            .contains("disk replacement, ticket 812"),
        "{:?}",
        override_event.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_restart_of_a_primary_asks_its_standbys_to_retry_their_stream_and_holds_the_cluster_meanwhile(
) {
    let lab = lab("trio").await;
    let config = lab.dir().join("estate.toml");

    // A standby's restart wakes no one.
    let (code, standby) = hadome_json(&config, &["run", "restart", "db-3", "--dry-run"]);
    assert_eq!(code, 0, "{standby:#}");
    assert_eq!(standby["plan"].as_array().unwrap().len(), 2, "{standby:#}");

    // A live daemon in the middle of its own action on the cluster: refused, nothing done.
    let now = hadome_core::fact::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let mut journal_now = journal(&lab);
    assert!(journal_now
        .acquire_lease("trio", "vm:1", now, 600_000)
        .unwrap()
        .is_held());
    let busy = journal_now
        .record_intent(
            now,
            &hadome_core::action::Action::Restart {
                target: "db-3".into(),
            },
            hadome_core::finding::Verdict::Allow,
            &["stop `db-3`".to_owned(), "start `db-3`".to_owned()],
            &[],
            "daemon",
        )
        .unwrap();
    let refused = run_hadome(
        &[
            "run",
            "restart",
            "db-1",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(4), "busy: {}", show(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!(
            "the daemon is carrying out intent #{busy} (restart db-3)"
        )),
        "{}",
        show(&refused)
    );
    assert_eq!(
        journal_now
            .lease(&hadome_journal::hold_lease("trio"))
            .unwrap(),
        None
    );
    journal_now
        .record_outcome(busy, now, true, "restart db-3 done")
        .unwrap();
    assert!(journal_now.release_lease("trio", "vm:1", now).unwrap());

    let (code, done) = hadome_json(&config, &["run", "restart", "db-1"]);
    assert_eq!(code, 0, "{done:#}");
    assert_eq!(done["outcome"]["ok"], true, "{done:#}");
    let steps = done["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "stop, start, wake: {done:#}");
    let wake = &steps[2];
    assert!(
        wake["step"]
            .as_str()
            .unwrap()
            .starts_with("ask `db-2`, `db-3` to retry their stream"),
        "{done:#}"
    );
    for standby in ["db-2", "db-3"] {
        assert!(
            wake["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("`{standby}`: asked to retry its stream")),
            "{done:#}"
        );
    }
    // The hold it took while acting is gone with it.
    assert_eq!(
        journal(&lab)
            .lease(&hadome_journal::hold_lease("trio"))
            .unwrap(),
        None
    );
    write_row(&lab, "db-1", "after-restart").await;
    wait_for_row(&lab, "db-2", "after-restart").await;
}

/// Issue 18: a rebuild whose constructive half fails after the data directory was moved aside
/// (here the rebuild command names a source it cannot use) puts the old data directory back and
/// starts the standby as it was: a repair never leaves a member without its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_that_fails_after_the_move_aside_puts_the_data_back_and_starts_the_standby() {
    let lab = lab("trio").await;
    let config = lab.dir().join("estate.toml");
    let estate = std::fs::read_to_string(&config).unwrap();
    let broken = estate.replace(
        "\"db-3\", \"--from\", \"{source}\"",
        "\"db-3\", \"--from\", \"db-9\"",
    );
    assert_ne!(estate, broken, "db-3's rebuild_command:\n{estate}");
    std::fs::write(&config, broken).unwrap();
    let data_dir = lab.data_dir("db-3").unwrap();
    write_row(&lab, "db-1", "before-the-failed-rebuild").await;
    wait_for_row(&lab, "db-3", "before-the-failed-rebuild").await;

    let (code, done) = hadome_json(&config, &["run", "rebuild", "db-3", "--from", "db-1"]);
    assert_eq!(code, 1, "the rebuild failed: {done:#}");
    assert_eq!(done["outcome"]["ok"], false, "{done:#}");
    let detail = done["outcome"]["detail"].as_str().unwrap();
    assert!(
        detail
            .contains("`db-3`'s data directory was put back in place and `db-3` started as it was"),
        "{detail}"
    );
    let steps: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert!(
        steps
            .iter()
            .any(|step| step.starts_with("put `db-3`'s data directory back")),
        "{steps:#?}"
    );
    assert!(asides(&data_dir).is_empty(), "nothing is left aside");
    assert!(data_dir.join("PG_VERSION").exists(), "the data is in place");

    // It is the standby it was: it streams again and gets what the primary writes.
    write_row(&lab, "db-1", "after-the-failed-rebuild").await;
    wait_for_row(&lab, "db-3", "after-the-failed-rebuild").await;
    wait_for_row(&lab, "db-3", "before-the-failed-rebuild").await;
    let intent = journal(&lab).open_intents().unwrap();
    assert!(intent.is_empty(), "the intent is closed: {intent:#?}");
}

/// Issue 18: a rebuild whose source the target cannot reach (the cut that stopped its stream) is
/// refused by its pre-flight, exit 5 (cannot proceed), with nothing moved and no intent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_across_a_cut_is_refused_by_its_preflight_and_changes_nothing() {
    let lab = lab("trio").await;
    let config = lab.dir().join("estate.toml");
    let data_dir = lab.data_dir("db-3").unwrap();
    lab.fault(&Fault::Cut {
        upstream: "db-1".into(),
        standby: "db-3".into(),
    })
    .await
    .unwrap();

    let refused = run_hadome(
        &[
            "run",
            "rebuild",
            "db-3",
            "--from",
            "db-1",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(5), "{}", show(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("pre-flight: `db-3` cannot reach its upstream")
            && stderr.contains("nothing was done"),
        "{}",
        show(&refused)
    );
    assert!(asides(&data_dir).is_empty(), "nothing was moved aside");
    assert!(data_dir.join("PG_VERSION").exists());
    let journal = journal(&lab);
    assert!(journal.open_intents().unwrap().is_empty());
    assert!(
        journal
            .events_since(hadome_core::fact::Timestamp(0))
            .unwrap()
            .iter()
            .all(|event| event.kind != hadome_journal::KIND_INTENT),
        "no intent was recorded"
    );

    // Healed, it catches up on its own; and the pre-flight lets a rebuild through again.
    lab.fault(&Fault::Heal {
        upstream: "db-1".into(),
        standby: "db-3".into(),
    })
    .await
    .unwrap();
    write_row(&lab, "db-1", "after-the-heal").await;
    wait_for_row(&lab, "db-3", "after-the-heal").await;
    let (code, dry) = hadome_json(
        &config,
        &["run", "rebuild", "db-3", "--from", "db-1", "--dry-run"],
    );
    assert_eq!(code, 0, "{dry:#}");
}

/// Issue 12: an action on a host is an action on everything placed on it. `run image --no-reboot`
/// of the host that carries trio's instances holds the `trio` cluster while it acts, as a `run`
/// on an instance does, so a daemon takes no action there meanwhile. The image command here is
/// `hadome status` itself, which shows the hold it runs under (the real images are the s512
/// drill's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_action_holds_the_clusters_of_what_the_host_carries() {
    let lab = lab("trio").await;
    let config = lab.dir().join("estate.toml");
    let estate = std::fs::read_to_string(&config).unwrap();
    let hadome = crate::support::hadome_binary();
    std::fs::write(
        &config,
        format!(
            "{estate}\n[[host]]\nname = \"localhost\"\nimage_command = [{:?}, \"status\", \"--config\", {:?}]\nverify_image_command = [\"true\"]\n",
            hadome.display().to_string(),
            config.display().to_string()
        ),
    )
    .unwrap();

    let (code, done) = hadome_json(&config, &["run", "image", "localhost", "--no-reboot"]);
    assert_eq!(code, 0, "{done:#}");
    let detail = done["steps"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("HELD by") && detail.contains("(hadome run)"),
        "the image was taken while trio was held: {done:#}"
    );
    assert_eq!(
        journal(&lab)
            .lease(&hadome_journal::hold_lease("trio"))
            .unwrap(),
        None,
        "released after the outcome"
    );
}
