//! Backups that are real, through the real binary on a real lab: `hadome backup run` with Debian's
//! `pg_dump`, `backup verify`, `backup restore-test` (a scratch PostgreSQL), `check`, and `ask`
//! for `restore-backup` and `delete-data`.
//!
//! Each test appends `[[backup]]` (and `[[snapshot]]`) tables to the lab's `estate.toml`; the
//! copies go to a directory of the test's scratch directory, which is removed with it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{asides, execute, hadome_json, lab, run_hadome, show, TestLab};

/// The lab's PostgreSQL programs.
fn bin(program: &str) -> String {
    hadome_lab::locate_bindir()
        .expect("PostgreSQL 15's programs (scripts/setup.sh installs them)")
        .join(program)
        .display()
        .to_string()
}

/// The conninfo of `node`'s client port, for pg_dump.
fn conninfo(lab: &TestLab, node: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        lab.client_port(node).unwrap()
    )
}

pub(crate) fn config(lab: &TestLab) -> PathBuf {
    lab.dir().join("estate.toml")
}

/// Where a test's backup copies go (written by [`backup_lab`] into the lab's scratch directory).
pub(crate) fn backups_dir(lab: &TestLab) -> PathBuf {
    let marker = lab.scratch.path().join("backups-dir");
    PathBuf::from(std::fs::read_to_string(&marker).expect("a lab from `backup_lab`"))
}

/// Removes the backups directory when the test ends, passed or failed.
pub(crate) struct RemoveBackups(PathBuf);

impl Drop for RemoveBackups {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A lab, and a directory for its backup copies on another filesystem than the lab's data
/// directories (`/dev/shm`, a tmpfs), as `snapshot-independence` requires; the directory is
/// removed with the returned guard.
pub(crate) async fn backup_lab() -> (TestLab, RemoveBackups) {
    let lab = lab("pair").await;
    let dir = tempfile::Builder::new()
        .prefix("hadome-it-backups-")
        .tempdir_in("/dev/shm")
        .expect(
            "a directory in /dev/shm: the tests need a filesystem other than /tmp's for backups",
        )
        .keep();
    std::fs::write(
        lab.scratch.path().join("backups-dir"),
        dir.display().to_string(),
    )
    .unwrap();
    (lab, RemoveBackups(dir))
}

/// Appends `text` to the lab's estate file.
pub(crate) fn append(lab: &TestLab, text: &str) {
    let path = config(lab);
    let mut estate = std::fs::read_to_string(&path).unwrap();
    estate.push_str(text);
    std::fs::write(&path, estate).unwrap();
}

fn quoted(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| toml_string(word)).collect();
    format!("[{}]", quoted.join(", "))
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A `[[backup]]` of db-1 named `name`, with `command` and extra keys.
pub(crate) fn backup_table(lab: &TestLab, name: &str, command: &[String], extra: &str) -> String {
    format!(
        "\n[[backup]]\nname = \"{name}\"\ntype = \"pg_dump\"\ninstance = \"db-1\"\npath = {}\ncommand = {}\n{extra}",
        toml_string(&backups_dir(lab).join(format!("{name}-*.dump")).display().to_string()),
        quoted(command)
    )
}

/// `pg_dump -Fc` of db-1 in hadome's exported snapshot, plus `extra` arguments.
pub(crate) fn pg_dump(lab: &TestLab, extra: &[&str]) -> Vec<String> {
    let mut argv = vec![
        bin("pg_dump"),
        "-Fc".to_owned(),
        "--snapshot={snapshot}".to_owned(),
        "-f".to_owned(),
        "{output}".to_owned(),
    ];
    argv.extend(extra.iter().map(|word| (*word).to_owned()));
    argv.push(conninfo(lab, "db-1"));
    argv
}

/// Two tables with rows on db-1.
pub(crate) async fn seed(lab: &TestLab, rows: u32) {
    let db1 = lab.connect("db-1").await.unwrap();
    execute(
        &db1,
        "db-1",
        &format!(
            "CREATE TABLE notes (id bigint PRIMARY KEY, body text);
             INSERT INTO notes SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, {rows}) g;
             CREATE TABLE users (id int PRIMARY KEY, name text);
             INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 50) g;"
        ),
    )
    .await;
}

fn hadome(lab: &TestLab, args: &[&str]) -> (i32, Value) {
    hadome_json(&config(lab), args)
}

/// The copies of `name` on disk (not the failed or temporary outputs).
pub(crate) fn copies(lab: &TestLab, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(backups_dir(lab))
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    let file = path.file_name().unwrap().to_string_lossy().into_owned();
                    file.starts_with(&format!("{name}-")) && file.ends_with(".dump")
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn messages(report: &Value) -> String {
    report["findings"]
        .as_array()
        .map(|findings| {
            findings
                .iter()
                .map(|finding| {
                    format!(
                        "{}@{}({}): {}",
                        finding["rule"].as_str().unwrap_or(""),
                        finding["subject"].as_str().unwrap_or(""),
                        finding["severity"].as_str().unwrap_or(""),
                        finding["message"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Makes the file's modification time `hours` ago.
fn age(path: &Path, hours: u32) {
    let status = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("{hours} hours ago"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_dump_is_never_kept_and_is_escalated() {
    let (lab, _backups) = backup_lab().await;
    // The command "succeeds" and writes nothing, as Misskey's pipeline did every night.
    let command = vec!["touch".to_owned(), "{output}".to_owned()];
    append(&lab, &backup_table(&lab, "empty", &command, ""));
    let (code, report) = hadome(&lab, &["backup", "run", "empty"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["made"], false, "{report}");
    assert_eq!(report["stage"], "verify", "{report}");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("empty (0 bytes)"),
        "{report}"
    );
    assert!(
        copies(&lab, "empty").is_empty(),
        "nothing renamed into place"
    );
    let aside: Vec<String> = std::fs::read_dir(backups_dir(&lab))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside
            .iter()
            .any(|name| name.starts_with(".hadome-failed-empty-")),
        "the failed output is kept aside: {aside:?}"
    );
    let journal = hadome_journal::Journal::open(&lab.dir().join("hadome.sqlite")).unwrap();
    let escalations = journal
        .escalations_since(hadome_core::fact::Timestamp(0))
        .unwrap();
    assert!(
        escalations
            .iter()
            .any(|escalation| escalation.rule == "backup-trust" && escalation.subject == "empty"),
        "{escalations:#?}"
    );
    // check says the backup has no copy.
    let (code, report) = hadome(&lab, &["check"]);
    assert_eq!(code, 1);
    assert!(
        messages(&report).contains("backup-trust@empty(deny): backup `empty` has no copy"),
        "{}",
        messages(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_dump_is_made_verified_and_restore_tested_and_a_truncated_one_fails() {
    let (lab, _backups) = backup_lab().await;
    seed(&lab, 2_000).await;
    append(
        &lab,
        &backup_table(
            &lab,
            "nightly",
            &pg_dump(&lab, &[]),
            "min_size_bytes = 1024\n",
        ),
    );
    // Another `backup run` of the same backup is at work (its claim in the journal): refused,
    // nothing made, nothing journaled as failed.
    let journal_path = lab.dir().join("hadome.sqlite");
    let making = hadome_journal::making_lease("nightly");
    let other = "hadome backup run pid 1 on elsewhere";
    let at = hadome_core::fact::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let mut journal = hadome_journal::Journal::open(&journal_path).unwrap();
    assert!(journal
        .acquire_lease(&making, other, at, 600_000)
        .unwrap()
        .is_held());
    let refused = run_hadome(
        &[
            "backup",
            "run",
            "nightly",
            "--config",
            config(&lab).to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(4), "busy: {}", show(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("a copy of backup `nightly` is being made already, by `hadome backup run pid 1 on elsewhere`"),
        "{}",
        show(&refused)
    );
    assert!(copies(&lab, "nightly").is_empty());
    assert!(std::fs::read_dir(backups_dir(&lab))
        .map(|entries| entries.count() == 0)
        .unwrap_or(true));
    let failed = journal
        .events_since(hadome_core::fact::Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == hadome_journal::KIND_BACKUP_FAILED)
        .count();
    assert_eq!(failed, 0, "a refused run journals no failure");
    assert!(journal.release_lease(&making, other, at).unwrap());

    let (code, made) = hadome(&lab, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{made}");
    assert_eq!(made["made"], true);
    // Its own claim is gone with it.
    assert_eq!(journal.lease(&making).unwrap(), None);
    assert_eq!(made["row_counts"]["public.notes"], 2_000, "{made}");
    assert_eq!(made["row_counts"]["public.users"], 50, "{made}");
    assert!(made["position"].as_str().is_some(), "{made}");
    let path = PathBuf::from(made["path"].as_str().unwrap());
    assert_eq!(copies(&lab, "nightly"), std::slice::from_ref(&path));
    let sha = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sha.stdout).starts_with(made["sha256"].as_str().unwrap()),
        "{made}"
    );

    let (code, verified) = hadome(&lab, &["backup", "verify", "nightly"]);
    assert_eq!(code, 0, "{verified}");
    assert_eq!(verified["trusted"], true, "{verified}");

    let (code, tested) = hadome(&lab, &["backup", "restore-test", "nightly"]);
    assert_eq!(code, 0, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["tables"]["public.notes"], 2_000, "{tested}");

    // Truncated: the structure check fails, and the checksum no longer matches the record.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (code, verified) = hadome(&lab, &["backup", "verify", "nightly"]);
    assert_eq!(code, 1, "{verified}");
    let said = messages(&verified);
    assert!(said.contains("is broken"), "{said}");
    assert!(said.contains("fails its checksum"), "{said}");
    let (code, report) = hadome(&lab, &["check"]);
    assert_eq!(code, 1, "{report}");
    assert!(messages(&report).contains("backup-trust@nightly(deny)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrunken_or_stale_copy_is_a_finding() {
    let (lab, _backups) = backup_lab().await;
    seed(&lab, 20_000).await;
    append(
        &lab,
        &backup_table(
            &lab,
            "nightly",
            &pg_dump(&lab, &["-Z0"]),
            "max_shrink_ratio = 0.5\nmax_age_seconds = 3600\n",
        ),
    );
    let (code, first) = hadome(&lab, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{first}");
    let db1 = lab.connect("db-1").await.unwrap();
    execute(&db1, "db-1", "DELETE FROM notes WHERE id > 6000").await;
    // Within the same second, too: the new copy never overwrites the first.
    let (code, second) = hadome(&lab, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{second}");
    assert_eq!(copies(&lab, "nightly").len(), 2, "{second}");
    let said = messages(&second);
    assert!(
        said.contains("smaller than the copy before it"),
        "a copy 70% smaller is a finding: {said}"
    );
    let (code, _) = hadome(&lab, &["backup", "verify", "nightly"]);
    assert_eq!(code, 1);

    // Stale: the newest copy made 3 hours ago, against a 1 hour bound.
    for copy in copies(&lab, "nightly") {
        age(&copy, 3);
    }
    let (code, verified) = hadome(&lab, &["backup", "verify", "nightly"]);
    assert_eq!(code, 1);
    assert!(
        messages(&verified).contains("past its bound of 60 min (max_age_seconds)"),
        "{}",
        messages(&verified)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_test_fails_on_a_corrupted_copy_and_on_one_missing_a_table() {
    let (lab, _backups) = backup_lab().await;
    seed(&lab, 5_000).await;
    // Leaves `users` out: hadome's counts (taken in the snapshot) name it, the dump lacks it.
    append(
        &lab,
        &backup_table(&lab, "partial", &pg_dump(&lab, &["-T", "users"]), ""),
    );
    append(
        &lab,
        &backup_table(&lab, "plain", &pg_dump(&lab, &["-Z0"]), ""),
    );
    let (code, made) = hadome(&lab, &["backup", "run", "partial"]);
    assert_eq!(code, 0, "{made}");
    let (code, tested) = hadome(&lab, &["backup", "restore-test", "partial"]);
    assert_eq!(code, 1, "{tested}");
    assert_eq!(tested["ok"], false);
    assert!(
        tested["detail"].as_str().unwrap().contains("public.users"),
        "{tested}"
    );
    let (code, report) = hadome(&lab, &["backup", "verify", "partial"]);
    assert_eq!(code, 1, "a failed restore test is a finding: {report}");

    // Bytes flipped inside the data: the structure walk may pass (sizes intact), the restore
    // must not.
    let (code, made) = hadome(&lab, &["backup", "run", "plain"]);
    assert_eq!(code, 0, "{made}");
    let path = PathBuf::from(made["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte = b'\t';
    }
    std::fs::write(&path, &bytes).unwrap();
    let (code, tested) = hadome(&lab, &["backup", "restore-test", "plain"]);
    assert_eq!(code, 1, "{tested}");
    assert_eq!(tested["ok"], false, "{tested}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_inside_the_data_dir_are_a_finding_and_go_with_delete_data() {
    let (lab, _backups) = backup_lab().await;
    let data_dir = lab.data_dir("db-1").unwrap();
    let inside = data_dir.join("hadome-test-snapshots");
    std::fs::create_dir(&inside).unwrap();
    append(
        &lab,
        &format!(
            "\n[[snapshot]]\nname = \"hourly\"\nprotects = {}\nlocation = {}\n",
            toml_string(&data_dir.display().to_string()),
            toml_string(&inside.display().to_string())
        ),
    );
    let (code, report) = hadome(&lab, &["check"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        messages(&report).contains(
            "snapshot-independence@hourly(deny): the snapshots `hourly` live inside what they protect"
        ),
        "{}",
        messages(&report)
    );
    let (code, asked) = hadome(&lab, &["ask", "delete-data", "db-1"]);
    assert_eq!(code, 1, "{asked}");
    let said = messages(&asked);
    assert!(said.contains("snapshot `hourly`"), "{said}");
    assert!(
        said.contains("they are the only copies of its data"),
        "{said}"
    );

    // A backup of db-1 on the data directory's own filesystem (/tmp) is a finding too.
    let beside = lab.scratch.path().join("same-fs");
    append(
        &lab,
        &format!(
            "\n[[backup]]\nname = \"beside\"\ntype = \"pg_dump\"\ninstance = \"db-1\"\npath = {}\n",
            toml_string(&beside.join("beside-*.dump").display().to_string())
        ),
    );
    std::fs::create_dir(&beside).unwrap();
    let (_, report) = hadome(&lab, &["check"]);
    assert!(
        messages(&report).contains(
            "snapshot-independence@beside(deny): the copies of backup `beside` live on the same filesystem as what they protect"
        ),
        "{}",
        messages(&report)
    );
}

/// `restore_command`: the lab's own restore of a pg_dump archive into a stopped primary node.
pub(crate) fn lab_restore(lab: &TestLab) -> String {
    format!(
        "restore_command = {}\n",
        quoted(&[
            crate::support::hadome_binary().display().to_string(),
            "lab".to_owned(),
            "restore".to_owned(),
            "--dir".to_owned(),
            lab.dir().display().to_string(),
            "{target}".to_owned(),
            "--from".to_owned(),
            "{copy}".to_owned(),
        ])
    )
}

async fn count(lab: &TestLab, node: &str, sql: &str) -> i64 {
    let client = lab.connect(node).await.unwrap();
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// The data directories `hadome run` moved aside next to `node`'s.
fn aside(lab: &TestLab, node: &str) -> Vec<PathBuf> {
    asides(&lab.data_dir(node).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_backup_over_a_copy_that_is_ahead_of_it_is_denied_and_an_override_keeps_the_newer_data(
) {
    let (lab, _backups) = backup_lab().await;
    seed(&lab, 1_000).await;
    append(
        &lab,
        &backup_table(&lab, "nightly", &pg_dump(&lab, &[]), &lab_restore(&lab)),
    );
    let (code, made) = hadome(&lab, &["backup", "run", "nightly"]);
    assert_eq!(code, 0, "{made}");
    let db1 = lab.connect("db-1").await.unwrap();
    execute(
        &db1,
        "db-1",
        "INSERT INTO notes SELECT g, 'after the dump' FROM generate_series(100001, 120000) g",
    )
    .await;
    drop(db1);
    let output = run_hadome(
        &[
            "ask",
            "restore-backup",
            "db-1",
            "--from",
            "nightly",
            "--config",
            config(&lab).to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("DENY"), "{}", show(&output));
    assert!(stdout.contains("overwrite-older"), "{}", show(&output));
    assert!(stdout.contains("discards"), "{}", show(&output));

    // `run` refuses the same, and changes nothing.
    let (code, refused) = hadome(
        &lab,
        &["run", "restore-backup", "db-1", "--from", "nightly"],
    );
    assert_eq!(code, 1, "{refused}");
    assert_eq!(refused["executed"], false, "{refused}");
    assert!(aside(&lab, "db-1").is_empty());
    assert_eq!(
        count(&lab, "db-1", "SELECT count(*) FROM notes").await,
        21_000
    );

    // The lab's restore_command alone refuses a running node and a standby, changing nothing.
    let copy = copies(&lab, "nightly")[0].display().to_string();
    let dir = lab.dir().display().to_string();
    for (node, reason) in [
        (
            "db-1",
            "the instance is running: only a stopped instance is restored",
        ),
        (
            "db-2",
            "it is a standby of `db-1`: only a primary node is restored from a backup",
        ),
    ] {
        let output = run_hadome(
            &["lab", "restore", "--dir", &dir, node, "--from", &copy],
            &[],
        );
        assert_ne!(output.status.code(), Some(0), "{}", show(&output));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(reason),
            "{}",
            show(&output)
        );
    }
    assert_eq!(
        count(&lab, "db-1", "SELECT count(*) FROM notes").await,
        21_000
    );

    // A person overrides: the newer data directory is moved aside (never deleted), the copy is
    // restored, the instance started, and its rows are the dump's.
    let (code, done) = hadome(
        &lab,
        &[
            "run",
            "restore-backup",
            "db-1",
            "--from",
            "nightly",
            "--override",
            "overwrite-older",
            "--reason",
            "restore drill",
        ],
    );
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["executed"], true, "{done}");
    let steps: Vec<String> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| format!("{} {}", step["ok"], step["step"].as_str().unwrap()))
        .collect();
    assert_eq!(steps.len(), 5, "{steps:#?}");
    assert!(
        steps.iter().all(|step| step.starts_with("true")),
        "{steps:#?}"
    );
    assert!(
        steps[2].contains(&format!(
            "restore `nightly`'s copy `{}`",
            copies(&lab, "nightly")[0].display()
        )),
        "{steps:#?}"
    );
    assert!(
        steps[4].contains("compare `db-1`'s tables with the 3 tables and 1050 rows"),
        "{steps:#?}"
    );
    assert_eq!(
        count(&lab, "db-1", "SELECT count(*) FROM notes").await,
        1_000
    );
    assert_eq!(count(&lab, "db-1", "SELECT count(*) FROM users").await, 50);
    let kept = aside(&lab, "db-1");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("PG_VERSION").is_file(), "{kept:?}");
}
