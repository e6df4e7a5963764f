//! The restore test of issue 5 (`hadome backup restore-test`) on real servers.
//!
//! A source lab (`pair`) holds tables and rows; Debian's `pg_dump --format=custom --snapshot=ID`
//! dumps it inside the snapshot that `snapshot_counts` counted; `restore_test` restores the dump
//! into a scratch server and compares. A good dump passes; a dump with flipped bytes in a data
//! block, and a dump that left a table out, fail with the reason in the report; rows written after
//! the snapshot are neither counted nor dumped.
//!
//! The machinery is the `hadome-restore` crate; its tests that start a scratch server live here
//! because the scratch lab's proxy is `hadome lab proxy`, and an integration test of this crate
//! is what cargo builds the `hadome` binary for. Its pure parts (reading `pg_restore`'s lines,
//! comparing counts) are its own unit tests. Each test tears its servers down by PID even when it
//! fails (the lab's guard, and the restore test's own), and its temporary directories go with it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hadome_lab::Lab;
use hadome_restore::{
    restore_test, snapshot_counts, RestoreError, RestoreTestOptions, RestoreTestReport,
};

use crate::support::{describe, eventually, execute, hadome_binary, lab, scratch, value};

/// The source's tables: two schemas, a quoted name, an empty table, a foreign key, a sequence,
/// and `public.big`, whose data is most of any dump (see `flipped_bytes_in_a_data_block_fail`).
const SOURCE_TABLES: &str = "\
CREATE SCHEMA app;
CREATE TABLE app.accounts (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO app.accounts (name) SELECT 'account ' || i FROM generate_series(1, 1000) AS i;
CREATE TABLE app.orders (id int PRIMARY KEY, account int NOT NULL REFERENCES app.accounts (id));
INSERT INTO app.orders SELECT i, 1 + i % 1000 FROM generate_series(1, 500) AS i;
CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL);
INSERT INTO public.big SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 40000) AS i;
CREATE TABLE public.empty (id int);
CREATE SCHEMA \"Odd Schema\";
CREATE TABLE \"Odd Schema\".\"Mixed Case\" (v int);
INSERT INTO \"Odd Schema\".\"Mixed Case\" VALUES (1), (2), (3);
";

/// What `snapshot_counts` must find in [`SOURCE_TABLES`] (and the lab's own load table).
fn source_counts() -> BTreeMap<String, u64> {
    BTreeMap::from([
        ("Odd Schema.Mixed Case".to_owned(), 3),
        ("app.accounts".to_owned(), 1000),
        ("app.orders".to_owned(), 500),
        ("public.big".to_owned(), 40000),
        ("public.empty".to_owned(), 0),
        ("public.hadome_lab_load".to_owned(), 0),
    ])
}

/// Where a test keeps its dumps, and the parent of the restore test's scratch server.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let work = Work { dir: scratch() };
        std::fs::create_dir(work.scratch_parent()).expect("a scratch parent");
        work
    }

    fn dump(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn scratch_parent(&self) -> PathBuf {
        // Short: the scratch server's socket path lies inside.
        self.dir.path().join("s")
    }

    fn options(&self) -> RestoreTestOptions {
        RestoreTestOptions {
            scratch_parent: self.scratch_parent(),
            hadome_binary: hadome_binary(),
        }
    }

    /// Runs the restore test, then checks that it left no directory and no process behind.
    async fn restore(
        &self,
        dump: &Path,
        expected: &BTreeMap<String, u64>,
    ) -> (RestoreTestReport, Vec<(u64, u64)>) {
        let mut calls = Vec::new();
        let mut progress = |done: u64, total: u64| calls.push((done, total));
        let report = restore_test(dump, expected, &self.options(), &mut progress)
            .await
            .unwrap_or_else(|error| {
                panic!("restore test of `{}`: {}", dump.display(), error.to_line())
            });
        let leftovers: Vec<PathBuf> = std::fs::read_dir(self.scratch_parent())
            .expect("the scratch parent is still there")
            .filter_map(|entry| Some(entry.ok()?.path()))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        let processes = processes_mentioning(&self.scratch_parent());
        assert!(processes.is_empty(), "still running: {processes:?}");
        (report, calls)
    }
}

/// The command lines of live processes that mention `path` (a postmaster's `-D`, a proxy's `--dir`).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| {
            let dir = entry.ok()?.path();
            // A zombie is dead: it only waits to be reaped by a parent that may never do so.
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            if stat.contains(") Z ") {
                return None;
            }
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(&needle).then_some(cmdline)
        })
        .collect()
}

/// How `snapshot_counts` reaches db-1: its client port, as hadome reaches an estate.
fn conninfo(lab: &Lab) -> String {
    let port = lab.client_port("db-1").expect("db-1 has a client port");
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
}

/// A source lab whose db-1 holds [`SOURCE_TABLES`].
async fn source_lab() -> crate::support::TestLab {
    let source = lab("pair").await;
    let client = source
        .connect("db-1")
        .await
        .unwrap_or_else(|error| panic!("connect to db-1: {}", describe(&error)));
    execute(&client, "db-1", SOURCE_TABLES).await;
    source
}

/// Debian's `pg_dump --format=custom` of db-1's `postgres` database inside `snapshot_id`, into
/// `out`, made readable by its owner only: `pg_restore`, run as `postgres`, reads it through the
/// descriptor the restore test hands it.
async fn pg_dump(lab: &Lab, snapshot_id: &str, extra: &[&str], out: &Path) {
    let bindir = hadome_lab::locate_bindir().unwrap_or_else(|error| {
        panic!("{error}; {}", error.hint().unwrap_or_default());
    });
    let port = lab.client_port("db-1").expect("db-1 has a client port");
    let output = tokio::process::Command::new(bindir.join("pg_dump"))
        .args([
            "--format=custom".to_owned(),
            format!("--snapshot={snapshot_id}"),
            "--host=127.0.0.1".to_owned(),
            format!("--port={port}"),
            "--username=postgres".to_owned(),
            "--no-password".to_owned(),
            format!("--file={}", out.display()),
        ])
        .args(extra)
        .arg("--dbname=postgres")
        .env("LC_ALL", "C")
        .kill_on_drop(true)
        .output()
        .await
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "pg_dump {extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600)).expect("chmod the dump");
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).expect("the dump exists").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_test_passes_on_a_good_dump() {
    let source = source_lab().await;
    let work = Work::new();
    let snapshot = snapshot_counts(&conninfo(&source), Duration::from_secs(10))
        .await
        .expect("snapshot counts");
    assert_eq!(snapshot.counts, source_counts());
    let dump = work.dump("good.dump");
    pg_dump(&source, &snapshot.snapshot_id, &[], &dump).await;
    drop(snapshot);

    let (report, calls) = work.restore(&dump, &source_counts()).await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.restored, source_counts());
    assert_eq!(report.expected, source_counts());
    assert!(report.missing_tables.is_empty() && report.unexpected_tables.is_empty());
    assert!(report.count_mismatches.is_empty() && report.pg_restore_errors.is_empty());
    assert!(report.restore_seconds > 0.0 && report.total_seconds > report.restore_seconds);

    // Progress: every TOC entry of the archive, in order, ending done.
    let (first, last) = (calls.first().copied(), calls.last().copied());
    let total = last.map_or(0, |(_, total)| total);
    assert!(total >= 10, "schemas, tables, data, constraints: {calls:?}");
    assert_eq!(first, Some((0, total)), "{calls:?}");
    assert_eq!(last, Some((total, total)), "{calls:?}");
    assert!(calls
        .windows(2)
        .all(|pair| pair[0].0 <= pair[1].0 && pair[1].1 == total));
    assert!(
        calls.len() as u64 > total / 2,
        "most entries report as they go, not all at the end: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_a_data_block_fail() {
    let source = source_lab().await;
    let work = Work::new();
    let snapshot = snapshot_counts(&conninfo(&source), Duration::from_secs(10))
        .await
        .expect("snapshot counts");
    let dump = work.dump("corrupt.dump");
    pg_dump(&source, &snapshot.snapshot_id, &[], &dump).await;
    let without_big = work.dump("without-big.dump");
    pg_dump(
        &source,
        &snapshot.snapshot_id,
        &["--exclude-table-data=public.big"],
        &without_big,
    )
    .await;
    drop(snapshot);

    // `public.big`'s data is one contiguous block of the archive, longer than half of it (the rest
    // of the archive is smaller than a quarter), so it covers the archive's middle byte.
    let size = size_of(&dump);
    assert!(
        size_of(&without_big) < size / 4,
        "`public.big` is not most of the archive: {} of {size} bytes are the rest",
        size_of(&without_big)
    );
    let mut bytes = std::fs::read(&dump).expect("read the dump");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 16] {
        *byte ^= 0xFF;
    }
    std::fs::write(&dump, &bytes).expect("write the corrupted dump");

    let (report, _) = work.restore(&dump, &source_counts()).await;
    assert!(!report.ok, "{report:#?}");
    assert!(
        !report.pg_restore_errors.is_empty() || !report.count_mismatches.is_empty(),
        "the failure is explained: {report:#?}"
    );
    assert!(
        report
            .pg_restore_errors
            .iter()
            .any(|line| line.contains("error:")),
        "pg_restore's own error line is kept: {report:#?}"
    );
    assert!(
        report.restored.get("public.big") != Some(&40000),
        "the damaged table did not come back whole: {report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_left_out_of_the_dump_is_missing() {
    let source = source_lab().await;
    let work = Work::new();
    let snapshot = snapshot_counts(&conninfo(&source), Duration::from_secs(10))
        .await
        .expect("snapshot counts");
    let dump = work.dump("partial.dump");
    pg_dump(
        &source,
        &snapshot.snapshot_id,
        &["--exclude-table=app.orders"],
        &dump,
    )
    .await;
    let expected = snapshot.counts.clone();
    drop(snapshot);

    let (report, _) = work.restore(&dump, &expected).await;
    assert!(!report.ok, "{report:#?}");
    assert_eq!(report.missing_tables, vec!["app.orders".to_owned()]);
    assert!(report.unexpected_tables.is_empty(), "{report:#?}");
    assert!(report.count_mismatches.is_empty(), "{report:#?}");
    assert!(
        report.pg_restore_errors.is_empty(),
        "the archive itself restored: {report:#?}"
    );
    let mut restored_plus_orders = report.restored.clone();
    restored_plus_orders.insert("app.orders".to_owned(), 500);
    assert_eq!(restored_plus_orders, source_counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_after_the_snapshot_are_neither_counted_nor_dumped() {
    let source = lab("pair").await;
    let work = Work::new();
    let setup = source.connect("db-1").await.expect("connect to db-1");
    execute(
        &setup,
        "db-1",
        "CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
         INSERT INTO ticks (at) SELECT now() FROM generate_series(1, 100);",
    )
    .await;

    // A writer commits one row after another for the whole test.
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer_client = source.connect("db-1").await.expect("connect to db-1");
    let writer = tokio::spawn({
        let (written, stop) = (written.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                writer_client
                    .batch_execute("INSERT INTO ticks DEFAULT VALUES")
                    .await
                    .map_err(|error| describe(&error))?;
                written.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }
    });
    let at_least = |count: u64| {
        let written = written.clone();
        move || {
            let written = written.clone();
            async move { (written.load(Ordering::Relaxed) >= count).then_some(()) }
        }
    };
    eventually(
        "the writer to commit rows",
        Duration::from_secs(30),
        at_least(20),
    )
    .await;

    let snapshot = snapshot_counts(&conninfo(&source), Duration::from_secs(10))
        .await
        .expect("snapshot counts");
    let ticks_in_snapshot = snapshot.counts["public.ticks"];
    assert!(ticks_in_snapshot >= 120, "{:?}", snapshot.counts);
    // Rows certainly committed after the snapshot: the writer's next ones, a batch, a new table.
    let written_at_snapshot = written.load(Ordering::Relaxed);
    eventually(
        "the writer to commit rows after the snapshot",
        Duration::from_secs(30),
        at_least(written_at_snapshot + 20),
    )
    .await;
    execute(
        &setup,
        "db-1",
        "INSERT INTO ticks (at) SELECT now() FROM generate_series(1, 500);
         CREATE TABLE late (v int); INSERT INTO late VALUES (1);",
    )
    .await;

    let dump = work.dump("concurrent.dump");
    pg_dump(&source, &snapshot.snapshot_id, &[], &dump).await;
    stop.store(true, Ordering::Relaxed);
    writer
        .await
        .expect("the writer task")
        .expect("the writer's inserts");
    let expected = snapshot.counts.clone();
    drop(snapshot);

    let now: u64 = value(&setup, "db-1", "SELECT count(*)::text FROM ticks")
        .await
        .and_then(|count| count.parse().ok())
        .expect("a count");
    assert!(
        now >= ticks_in_snapshot + 520,
        "{now} rows now, {ticks_in_snapshot} in the snapshot"
    );
    assert!(
        !expected.contains_key("public.late"),
        "a table created after the snapshot is not counted: {expected:?}"
    );

    let (report, _) = work.restore(&dump, &expected).await;
    assert!(
        report.ok,
        "the dump holds exactly the snapshot's rows: {report:#?}"
    );
    assert_eq!(report.restored, expected);
    assert_eq!(report.restored["public.ticks"], ticks_in_snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_test_refuses_what_it_cannot_use_before_starting_anything() {
    let work = Work::new();
    let mut progress = |_: u64, _: u64| panic!("nothing was restored");
    let missing_dump = restore_test(
        &work.dump("no-such.dump"),
        &BTreeMap::new(),
        &work.options(),
        &mut progress,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&missing_dump, RestoreError::OpenDump { dump, .. } if dump.ends_with("no-such.dump")),
        "{missing_dump:?}"
    );
    let line = missing_dump.to_line();
    assert!(
        line.contains("cannot open the dump") && line.contains("no-such.dump"),
        "{line}"
    );

    let dump = work.dump("empty.dump");
    std::fs::write(&dump, "").expect("write a dump");
    let options = RestoreTestOptions {
        scratch_parent: work.scratch_parent(),
        hadome_binary: work.dump("no-such-hadome"),
    };
    let no_binary = restore_test(&dump, &BTreeMap::new(), &options, &mut progress)
        .await
        .unwrap_err();
    assert!(
        matches!(no_binary, RestoreError::HadomeBinaryMissing { .. }),
        "{no_binary:?}"
    );
    let line = no_binary.to_line();
    assert!(
        line.contains("`hadome` binary") && line.contains("installed hadome"),
        "{line}"
    );

    let options = RestoreTestOptions {
        scratch_parent: work.dump("no-such-parent"),
        hadome_binary: hadome_binary(),
    };
    let no_parent = restore_test(&dump, &BTreeMap::new(), &options, &mut progress)
        .await
        .unwrap_err();
    assert!(
        matches!(no_parent, RestoreError::ScratchParentMissing { .. }),
        "{no_parent:?}"
    );
    assert!(no_parent.to_line().contains("create it"), "{no_parent}");
    assert_eq!(
        std::fs::read_dir(work.scratch_parent()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_pg_restore_cannot_read_is_a_failed_test() {
    let work = Work::new();
    let dump = work.dump("not-an-archive.dump");
    std::fs::write(&dump, "this is no pg_dump archive\n").expect("write a dump");
    let expected = BTreeMap::from([("public.t".to_owned(), 1)]);
    let (report, calls) = work.restore(&dump, &expected).await;
    assert!(!report.ok, "{report:#?}");
    assert_eq!(report.missing_tables, vec!["public.t".to_owned()]);
    assert!(
        report
            .pg_restore_errors
            .iter()
            .any(|line| line.starts_with("pg_restore: error:")),
        "{report:#?}"
    );
    assert!(calls.is_empty(), "nothing to restore: {calls:?}");
}
