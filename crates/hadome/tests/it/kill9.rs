//! Issue 17: kill -9 at every step. `hadome run rebuild`, `hadome run restore-backup` and `hadome
//! backup run`, each killed with SIGKILL right after its intent and after each journaled step in
//! turn (`HADOME_FAILPOINT=after-intent`, `after-step:N`), then run again: the journal holds the
//! one open intent with exactly the steps done, `hadome status` names it, nothing was deleted, and
//! the next run names it, finishes the job, leaves the estate healthy and closes the open intent as
//! interrupted. (The daemon's failover: `daemon::a_daemon_killed_after*`.)
//!
//! One lab per operation, put back into the state the operation starts from before each kill.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use hadome_journal::{Journal, OpenIntent};
use hadome_lab::Fault;
use serde_json::Value;

use crate::backup::{
    append, backup_lab, backup_table, backups_dir, copies, lab_restore, pg_dump, seed,
};
use crate::support::{
    asides, execute, hadome_json, lab, run_hadome, show, wait_for_row, write_row,
};

fn journal(config: &Path) -> Journal {
    Journal::open(&config.with_file_name("hadome.sqlite")).unwrap()
}

/// The failpoints of a plan of `steps` steps, each with how many steps are done when it kills:
/// `after-intent` (0), `after-step:1` (1) … `after-step:N` (N).
fn failpoints(steps: usize) -> Vec<(String, usize)> {
    std::iter::once(("after-intent".to_owned(), 0))
        .chain((1..=steps).map(|done| (format!("after-step:{done}"), done)))
        .collect()
}

/// `hadome ARGS --config CONFIG` killed at `point`: asserts it died of SIGKILL, and that the
/// journal holds exactly one open intent, with `done` steps done, which `hadome status` names;
/// returns it.
fn killed_at(config: &Path, args: &[&str], point: &str, done: usize) -> OpenIntent {
    let mut full = args.to_vec();
    full.extend(["--config", config.to_str().unwrap()]);
    let output = run_hadome(&full, &[("HADOME_FAILPOINT", point)]);
    assert_eq!(
        output.status.signal(),
        Some(9),
        "killed by SIGKILL at {point}: {}",
        show(&output)
    );
    let open = journal(config).open_intents().unwrap();
    assert_eq!(open.len(), 1, "one open intent at {point}: {open:#?}");
    let open = open.into_iter().next().unwrap();
    assert_eq!(
        open.steps_done.len(),
        done,
        "{done} steps done at {point}: {open:#?}"
    );

    let status = run_hadome(&["status", "--config", config.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!("OPEN intent #{} ({}", open.id, open.action_text))
            && text.contains(&format!("{done} of its {} steps done", open.plan.len())),
        "`hadome status` names the open intent at {point}: {}",
        show(&status)
    );
    let (_, status) = hadome_json(config, &["status"]);
    assert_eq!(
        status["open_intents"][0]["id"].as_i64(),
        Some(open.id),
        "{status:#}"
    );
    open
}

/// After the run that finished the job: the intent killed at `point` is closed as interrupted,
/// naming `by` (the run that finished it) when given, and nothing is left open.
fn closed_as_interrupted(config: &Path, killed: &OpenIntent, point: &str, by: Option<i64>) {
    let journal = journal(config);
    let record = journal.intent(killed.id).unwrap().unwrap();
    let outcome = record.outcome.expect("the killed intent is closed");
    assert!(!outcome.ok, "{outcome:?}");
    assert!(
        outcome.detail.starts_with(&format!(
            "interrupted: its process stopped after {} of its {} steps",
            killed.steps_done.len(),
            killed.plan.len()
        )),
        "at {point}: {outcome:?}"
    );
    if let Some(by) = by {
        assert!(
            outcome
                .detail
                .contains(&format!("intent #{by} carried out")),
            "{outcome:?}"
        );
    }
    assert_eq!(journal.open_intents().unwrap(), [], "nothing left open");
}

/// The directories moved aside from `data_dir`, each still holding its data.
fn kept_whole(data_dir: &Path) -> Vec<PathBuf> {
    let kept = asides(data_dir);
    for aside in &kept {
        assert!(
            aside.join("PG_VERSION").is_file() && aside.join("global").is_dir(),
            "`{}` still holds its data",
            aside.display()
        );
    }
    kept
}

/// `run`'s JSON answer lists `id` among the open intents it found.
fn names_open(report: &Value, id: i64) {
    assert!(
        report["open_intents"]
            .as_array()
            .is_some_and(|open| open.iter().any(|intent| intent["id"].as_i64() == Some(id))),
        "the next run names open intent #{id}: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_killed_after_each_step_is_finished_by_running_it_again() {
    let lab = lab("misskey").await;
    let config = lab.dir().join("estate.toml");
    let data_dir = lab.data_dir("db-3").unwrap();
    let args = ["run", "rebuild", "db-3", "--from", "db-1"];
    let (_, dry) = hadome_json(&config, &[&args[..], &["--dry-run"]].concat());
    let steps = dry["plan"].as_array().expect("a plan").len();
    assert_eq!(steps, 3, "stop, move aside, base backup: {dry:#}");

    for (point, done) in failpoints(steps) {
        lab.fault(&Fault::Stall("db-3".into())).await.unwrap();
        let before = kept_whole(&data_dir);
        let killed = killed_at(&config, &args, &point, done);

        // Nothing deleted: what was aside still is; the data moved aside at step 2 is whole.
        let after = kept_whole(&data_dir);
        assert!(before.iter().all(|kept| after.contains(kept)), "{after:?}");
        if done >= 2 {
            assert_eq!(after.len(), before.len() + 1, "{point}: {after:?}");
        } else {
            assert_eq!(after, before, "{point}");
            assert!(data_dir.join("PG_VERSION").is_file(), "{point}");
        }

        let (code, again) = hadome_json(&config, &args);
        assert_eq!(
            code, 0,
            "the rebuild killed at {point}, run again: {again:#}"
        );
        assert_eq!(again["outcome"]["ok"], true, "{again:#}");
        names_open(&again, killed.id);
        closed_as_interrupted(&config, &killed, &point, again["intent"].as_i64());
        assert!(
            before
                .iter()
                .all(|kept| kept_whole(&data_dir).contains(kept)),
            "the second run deleted nothing"
        );
        let marker = format!("after-{point}");
        write_row(&lab, "db-1", &marker).await;
        wait_for_row(&lab, "db-3", &marker).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_after_each_step_is_finished_by_running_it_again() {
    let (lab, _backups) = backup_lab().await;
    let config = lab.dir().join("estate.toml");
    seed(&lab, 1_000).await;
    append(
        &lab,
        &backup_table(&lab, "nightly", &pg_dump(&lab, &[]), &lab_restore(&lab)),
    );
    let (code, made) = hadome_json(&config, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{made:#}");
    let copy = copies(&lab, "nightly").pop().unwrap();
    let copy_bytes = std::fs::read(&copy).unwrap();
    let data_dir = lab.data_dir("db-1").unwrap();
    let args = ["run", "restore-backup", "db-1", "--from", "nightly"];

    // db-1 moves ahead of the copy, so that a restore discards rows: denied unless overridden.
    let db1 = lab.connect("db-1").await.unwrap();
    execute(
        &db1,
        "db-1",
        "INSERT INTO notes SELECT g, 'after the dump' FROM generate_series(100001, 120000) g",
    )
    .await;
    drop(db1);
    let (_, dry) = hadome_json(&config, &[&args[..], &["--dry-run"]].concat());
    let steps = dry["plan"].as_array().expect("a plan").len();
    assert_eq!(
        steps, 5,
        "stop, move aside, restore, start, compare: {dry:#}"
    );

    for (point, done) in failpoints(steps) {
        let before = kept_whole(&data_dir);
        let overridden = overriding(&config, &args);
        let overridden: Vec<&str> = overridden.iter().map(String::as_str).collect();
        let killed = killed_at(&config, &overridden, &point, done);

        let after = kept_whole(&data_dir);
        assert!(before.iter().all(|kept| after.contains(kept)), "{after:?}");
        if done >= 2 {
            assert_eq!(after.len(), before.len() + 1, "{point}: {after:?}");
        } else {
            assert_eq!(after, before, "{point}");
        }
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            copy_bytes,
            "the copy is intact"
        );

        let overridden = overriding(&config, &args);
        let overridden: Vec<&str> = overridden.iter().map(String::as_str).collect();
        let (code, again) = hadome_json(&config, &overridden);
        assert_eq!(
            code, 0,
            "the restore killed at {point}, run again: {again:#}"
        );
        assert_eq!(again["outcome"]["ok"], true, "{again:#}");
        names_open(&again, killed.id);
        closed_as_interrupted(&config, &killed, &point, again["intent"].as_i64());
        let db1 = lab.connect("db-1").await.unwrap();
        let rows: i64 = db1
            .query_one("SELECT count(*) FROM notes", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1_000, "the copy's rows, after {point}");
    }
}

/// `args`, overriding every rule that refuses them now (a dry run says which), with a reason: a
/// person's restore drill. Which rules refuse changes as the drill goes: a restored primary is a
/// history its old standby does not share (`last-copy`), a stopped one is not observed.
fn overriding(config: &Path, args: &[&str]) -> Vec<String> {
    let (_, dry) = hadome_json(config, &[args, &["--dry-run"]].concat());
    let mut rules: Vec<String> = dry["assessment"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("an assessment: {dry:#}"))
        .iter()
        .filter(|finding| finding["severity"] == "deny" || finding["severity"] == "needs-human")
        .map(|finding| finding["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    rules.dedup();
    let mut overridden: Vec<String> = args.iter().map(|word| (*word).to_owned()).collect();
    for rule in &rules {
        overridden.extend(["--override".to_owned(), rule.clone()]);
    }
    if !rules.is_empty() {
        overridden.extend(["--reason".to_owned(), "kill -9 drill".to_owned()]);
    }
    overridden
}

/// The temporary (`.hadome-tmp-`) and failed (`.hadome-failed-`) outputs in the backups'
/// directory.
fn outputs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_run_killed_after_each_step_never_leaves_a_copy_it_did_not_check() {
    let (lab, _backups) = backup_lab().await;
    let config = lab.dir().join("estate.toml");
    seed(&lab, 1_000).await;
    append(
        &lab,
        &backup_table(&lab, "nightly", &pg_dump(&lab, &[]), ""),
    );
    let dir = backups_dir(&lab);
    let (code, made) = hadome_json(&config, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{made:#}");
    // Its report says which intent it journaled.
    let said = made["said"].as_str().unwrap_or_default();
    let id: i64 = said
        .split_once("intent #")
        .and_then(|(_, rest)| rest.split_once(" journaled"))
        .and_then(|(id, _)| id.parse().ok())
        .unwrap_or_else(|| panic!("the intent's id: {made:#}"));
    let clean = journal(&config).intent(id).unwrap().unwrap();
    assert!(
        clean.outcome.as_ref().is_some_and(|outcome| outcome.ok),
        "{clean:#?}"
    );
    let steps = clean.steps.len();
    assert_eq!(steps, 4, "snapshot, command, read whole, rename into place");

    for (point, done) in failpoints(steps) {
        let before: Vec<(PathBuf, Vec<u8>)> = copies(&lab, "nightly")
            .into_iter()
            .map(|copy| {
                let bytes = std::fs::read(&copy).unwrap();
                (copy, bytes)
            })
            .collect();
        let killed = killed_at(&config, &["backup", "run", "nightly"], &point, done);
        assert_eq!(killed.action_name, "backup-run");
        assert_eq!(killed.target, "nightly");

        // Every copy made before is intact; a new one is in place only once it was read whole.
        for (copy, bytes) in &before {
            assert_eq!(&std::fs::read(copy).unwrap(), bytes, "{}", copy.display());
        }
        let now = copies(&lab, "nightly");
        assert_eq!(
            now.len(),
            before.len() + usize::from(done == 4),
            "{point}: {now:?}"
        );
        let temporary = outputs(&dir, ".hadome-tmp-");
        if (2..=3).contains(&done) {
            assert_eq!(temporary.len(), 1, "{point}: the dump's output stays");
        }
        // A partial output never counts: the newest copy verifies.
        let (code, verified) = hadome_json(&config, &["backup", "verify", "nightly"]);
        assert_eq!(code, 0, "{point}: {verified:#}");

        let failed_before = outputs(&dir, ".hadome-failed-").len();
        let (code, again) = hadome_json(&config, &["backup", "run", "nightly"]);
        assert_eq!(
            code, 0,
            "the backup run killed at {point}, run again: {again:#}"
        );
        assert_eq!(again["made"], true, "{again:#}");
        let said = again["said"].as_str().unwrap_or_default();
        assert!(
            said.contains(&format!("intent #{} (backup run `nightly`", killed.id)),
            "the next run names the killed one: {again:#}"
        );
        closed_as_interrupted(&config, &killed, &point, None);
        assert_eq!(
            outputs(&dir, ".hadome-tmp-"),
            Vec::<PathBuf>::new(),
            "{point}"
        );
        assert_eq!(
            outputs(&dir, ".hadome-failed-").len(),
            failed_before + temporary.len(),
            "{point}: the temporary output is moved aside, never deleted"
        );
        let (code, verified) = hadome_json(&config, &["backup", "verify", "nightly"]);
        assert_eq!(code, 0, "{point}: {verified:#}");
    }
}
