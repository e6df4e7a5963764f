//! The restore test of issue 5: a backup is restored into a scratch PostgreSQL, and counted.
//!
//! A backup is worth what its restore gives back. When `pg_dump` makes a backup, the `backup`
//! command records the row counts of every table with [`snapshot_counts`]: they are taken inside an
//! exported snapshot, and `pg_dump --snapshot=ID` dumps that very snapshot, so counts and dump agree
//! exactly even while the source keeps taking writes. `hadome backup restore-test` then calls
//! [`restore_test`]: a one-node lab (`hadome-lab`) starts in a fresh directory, `pg_restore` loads
//! the archive into a new database, every table is counted again and compared with the record, and
//! the server is torn down by PID by the lab's guard, also on error, cancellation or panic.
//!
//! A restore that fails, a missing table or a count that differs is a *failed test*: `Ok` with
//! [`RestoreTestReport::ok`] false, which the journal records with its numbers. `Err` is hadome's
//! own trouble (no `pg_restore`, a scratch server that does not start), and its message says what
//! to do about it.
//!
//! `pg_restore` runs as the lab runs PostgreSQL's programs: as the user that owns the scratch
//! server's data directory (`postgres` when hadome is root), never as root. It is handed the dump
//! as its standard input, a file descriptor hadome opened, so it needs no permission on the file
//! itself (a dump made by root is mode 0600) and can still seek in it.
//!
//! The integration tests (`tests/it/restore_test.rs`) compile this file too, by path: only they can
//! name the `hadome` binary that cargo built, which the lab needs for its proxy. So this module uses
//! other crates only, never `crate::`.

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hadome_lab::{Lab, LabError, LabOptions, Topology};
use tokio::io::AsyncBufReadExt;
use tokio_postgres::{Client, NoTls};

/// The scratch server's one node.
const SCRATCH_NODE: &str = "scratch";

/// The scratch server: one primary. It is thrown away after the test, so it skips durability:
/// a crash of the scratch server loses nothing anyone keeps, and the restore runs faster.
const SCRATCH_TOPOLOGY: &str = "\
# hadome's restore test: one primary, removed after the test.
[settings]
fsync = false
synchronous_commit = false
full_page_writes = false

[[node]]
name = \"scratch\"
";

/// The database the dump is restored into, created from `template0` so that nothing of the
/// scratch server's own (the lab's load table) is mixed with what the dump brings.
const RESTORE_DATABASE: &str = "hadome_restore_test";

/// How long connecting to the scratch server, or creating its database, may take.
const SCRATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// At most this many of `pg_restore`'s diagnostic lines are kept in a report: the journal records
/// them, and a broken archive can make a tool talk at length.
const MAX_DIAGNOSTIC_LINES: usize = 40;

/// The `application_name` of hadome's backup connections, unless the conninfo names one.
const APPLICATION_NAME: &str = "hadome-backup";

/// The ordinary user tables (`relkind = 'r'`; partitions included, partitioned parents left out,
/// since their rows are their partitions'), outside `pg_catalog` and `information_schema`, not
/// temporary, and not members of an extension: `pg_dump` dumps an extension's tables as
/// `CREATE EXTENSION`, not as data. Columns: schema, table, quoted name, unlogged.
const TABLES_SQL: &str = "\
SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relpersistence = 'u'
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objid = c.oid
        AND d.deptype = 'e')
ORDER BY n.nspname, c.relname";

/// Exact row counts of every ordinary user table (not pg_catalog / information_schema), keyed
/// `schema.table`.
///
/// Each table is counted with `SELECT count(*) FROM ONLY …`: `pg_dump` copies each table's own
/// rows, not those of its inheritance children. On a server in recovery an unlogged table counts
/// 0 rows: a standby holds none of them, and `pg_dump` on a standby dumps none (it cannot read
/// them). Extension member tables and temporary tables are left out (see [`TABLES_SQL`]).
///
/// Nothing bounds the time this takes (a count reads the whole table): the caller does, with
/// `tokio::time::timeout`. Two tables whose names join to the same key (`"a.b".c` and
/// `a."b.c"`) are an error rather than one silently hiding the other.
pub(crate) async fn table_row_counts(client: &Client) -> Result<BTreeMap<String, u64>, String> {
    let recovery = client
        .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
        .await
        .map_err(|error| {
            format!(
                "cannot ask whether the server is in recovery: {}",
                describe(&error)
            )
        })?;
    let in_recovery: bool = recovery
        .try_get(0)
        .map_err(|error| format!("unreadable `pg_is_in_recovery()`: {}", describe(&error)))?;
    let tables = client
        .query(TABLES_SQL, &[])
        .await
        .map_err(|error| format!("cannot list the tables: {}", describe(&error)))?;
    let mut counts = BTreeMap::new();
    let mut quoted_by_key: BTreeMap<String, String> = BTreeMap::new();
    for row in tables {
        let read = |index: usize| -> Result<String, String> {
            row.try_get(index)
                .map_err(|error| format!("unreadable table list: {}", describe(&error)))
        };
        let (schema, table, quoted) = (read(0)?, read(1)?, read(2)?);
        let unlogged: bool = row
            .try_get(3)
            .map_err(|error| format!("unreadable table list: {}", describe(&error)))?;
        let key = format!("{schema}.{table}");
        if let Some(other) = quoted_by_key.insert(key.clone(), quoted.clone()) {
            return Err(format!(
                "tables {other} and {quoted} would both be recorded as `{key}`; rename one of them"
            ));
        }
        let count = if in_recovery && unlogged {
            0
        } else {
            count_rows(client, &quoted).await?
        };
        counts.insert(key, count);
    }
    Ok(counts)
}

async fn count_rows(client: &Client, quoted: &str) -> Result<u64, String> {
    let sql = format!("SELECT count(*) FROM ONLY {quoted}");
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|error| format!("cannot count the rows of {quoted}: {}", describe(&error)))?;
    let count: i64 = row
        .try_get(0)
        .map_err(|error| format!("unreadable row count of {quoted}: {}", describe(&error)))?;
    u64::try_from(count).map_err(|_| format!("{quoted} has a negative row count ({count})"))
}

/// Row counts taken inside an exported snapshot, with the transaction that keeps it valid.
///
/// `pg_dump --snapshot=ID` with [`SnapshotCounts::snapshot_id`] dumps exactly the rows counted in
/// [`SnapshotCounts::counts`]. The snapshot stays valid while this value lives: dropping it ends
/// the connection, which ends the transaction.
pub(crate) struct SnapshotCounts {
    /// The exported snapshot's identifier, for `pg_dump --snapshot`.
    pub(crate) snapshot_id: String,
    /// Every table's row count inside the snapshot (see [`table_row_counts`]).
    pub(crate) counts: BTreeMap<String, u64>,
    /// The session whose open transaction holds the snapshot.
    client: Client,
}

impl SnapshotCounts {
    /// Whether the session holding the snapshot is still open. When the server has ended it, the
    /// snapshot is gone and a `pg_dump --snapshot` fails with "invalid snapshot identifier".
    pub(crate) fn is_open(&self) -> bool {
        !self.client.is_closed()
    }
}

impl std::fmt::Debug for SnapshotCounts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SnapshotCounts")
            .field("snapshot_id", &self.snapshot_id)
            .field("counts", &self.counts)
            .field("open", &!self.client.is_closed())
            .finish()
    }
}

/// Row counts taken inside an exported snapshot, so a pg_dump run with `--snapshot=ID` sees exactly
/// the same rows: opens a REPEATABLE READ transaction on `conninfo`, `SELECT pg_export_snapshot()`,
/// returns a guard holding the transaction open (the snapshot stays valid while it lives) with the
/// snapshot id and the counts taken inside it.
///
/// `timeout` bounds each step: connecting (authentication included), opening the snapshot, and
/// counting every table. The session turns `idle_in_transaction_session_timeout` off, since it
/// sits idle in its transaction while `pg_dump` works, and `row_security` off, as `pg_dump` does:
/// a table whose policies would hide rows from hadome's role is an error, not a short count.
/// The error never repeats the conninfo, which may hold a password.
pub(crate) async fn snapshot_counts(
    conninfo: &str,
    timeout: Duration,
) -> Result<SnapshotCounts, String> {
    // The connection ends when `SnapshotCounts` drops the client, or the server ends it;
    // `SnapshotCounts::is_open` tells the second.
    let client = counting_session(
        conninfo,
        timeout,
        "SET idle_in_transaction_session_timeout = 0; SET row_security = off",
    )
    .await?;
    // The first statement of a REPEATABLE READ transaction takes its snapshot: the one exported
    // here, and the one every count below reads.
    let row = bounded(
        timeout,
        "export a snapshot",
        client.query_one("SELECT pg_catalog.pg_export_snapshot()", &[]),
    )
    .await?;
    let snapshot_id: String = row
        .try_get(0)
        .map_err(|error| format!("unreadable `pg_export_snapshot()`: {}", describe(&error)))?;
    let counts = counts_within(&client, timeout).await?;
    Ok(SnapshotCounts {
        snapshot_id,
        counts,
        client,
    })
}

/// Rows per table (`schema.table`) of the database `conninfo` reaches, counted in one snapshot,
/// with `row_security` off (as [`snapshot_counts`] counts them). Each step bounded by `timeout`;
/// the error never repeats the conninfo.
pub(crate) async fn current_counts(
    conninfo: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, String> {
    let client = counting_session(conninfo, timeout, "SET row_security = off").await?;
    counts_within(&client, timeout).await
}

/// A new session on `conninfo` that ran `settings`, then opened a READ ONLY REPEATABLE READ
/// transaction (its first statement takes the snapshot every count reads). Its connection task
/// ends when the client is dropped or the server ends it.
async fn counting_session(
    conninfo: &str,
    timeout: Duration,
    settings: &str,
) -> Result<Client, String> {
    let config = connect_config(conninfo, timeout)?;
    let (client, connection) = bounded(timeout, "connect", config.connect(NoTls)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    bounded(
        timeout,
        "prepare the session",
        client.batch_execute(settings),
    )
    .await?;
    bounded(
        timeout,
        "open a REPEATABLE READ transaction",
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
    )
    .await?;
    Ok(client)
}

/// [`table_row_counts`], bounded by `timeout`.
async fn counts_within(
    client: &Client,
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, String> {
    match tokio::time::timeout(timeout, table_row_counts(client)).await {
        Ok(counts) => counts,
        Err(_) => Err(format!(
            "counting the rows of every table took more than {} s; allow more time",
            timeout.as_secs_f64()
        )),
    }
}

/// The connection settings for `conninfo`: its connect timeout bounded by `timeout`, and
/// [`APPLICATION_NAME`] unless it names one.
fn connect_config(conninfo: &str, timeout: Duration) -> Result<tokio_postgres::Config, String> {
    let mut config: tokio_postgres::Config = conninfo
        .parse()
        .map_err(|error| format!("the conninfo does not parse: {}", describe(&error)))?;
    let connect_timeout = config
        .get_connect_timeout()
        .map_or(timeout, |set| (*set).min(timeout));
    config.connect_timeout(connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name(APPLICATION_NAME);
    }
    Ok(config)
}

/// How a restore test is run.
#[derive(Debug, Clone)]
pub(crate) struct RestoreTestOptions {
    /// Where the scratch server's directory is made (a fresh, uniquely named directory inside;
    /// removed afterwards). The `postgres` user must be able to search it when hadome is root,
    /// and it must be short: PostgreSQL's socket path lies inside.
    pub(crate) scratch_parent: PathBuf,
    /// The `hadome` binary, which serves the lab proxy (`hadome lab proxy`).
    pub(crate) hadome_binary: PathBuf,
}

/// What a restore test found. `ok` holds exactly when the four lists are empty.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RestoreTestReport {
    /// Whether the archive restored without error, every recorded table came back with its
    /// count, and no other table came back. With an empty `expected` (nothing recorded), every
    /// restored table is unexpected, so `ok` is false whenever the archive holds a table.
    pub(crate) ok: bool,
    /// The row counts recorded at dump time.
    pub(crate) expected: BTreeMap<String, u64>,
    /// The row counts of the restored database (also after a failed restore: what it got to).
    pub(crate) restored: BTreeMap<String, u64>,
    /// Tables recorded at dump time that the restored database lacks.
    pub(crate) missing_tables: Vec<String>,
    /// Tables of the restored database that were not recorded at dump time.
    pub(crate) unexpected_tables: Vec<String>,
    /// `(table, expected, restored)` for each table whose count differs.
    pub(crate) count_mismatches: Vec<(String, u64, u64)>,
    /// How long `pg_restore` ran.
    pub(crate) restore_seconds: f64,
    /// How long the whole test took: scratch server up, restore, counts, teardown.
    pub(crate) total_seconds: f64,
    /// `pg_restore`'s error lines (and their context: the TOC entry, the command), when it failed.
    pub(crate) pg_restore_errors: Vec<String>,
}

/// Starts a scratch PostgreSQL (a one-node lab: `hadome_lab::Lab::up` with a one-node topology, in
/// a fresh directory under `scratch_parent`), restores `dump` (a pg_dump custom archive) into a new
/// database with `pg_restore --no-owner --no-privileges --exit-on-error`, counts rows, compares
/// with `expected`, tears the server down (by PID, the lab's guard, even on error or panic) and
/// removes its directory.
///
/// `progress(done, total)` is called as pg_restore works through the archive's TOC entries:
/// `total` is the number of entries `pg_restore --list` names, `done` counts the entries its
/// `--verbose` lines report (`creating TABLE …`, `processing data for table …`, `executing …`),
/// and a successful restore ends with `progress(total, total)`.
///
/// An archive `pg_restore` cannot read or restore is a failed test (`Ok`, `ok == false`, its error
/// lines in `pg_restore_errors`); `Err` is hadome's own trouble. Everything that can be refused
/// (the dump cannot be opened, a binary is missing, the parent directory does not exist) is
/// checked before anything is started. The restore itself is not bounded in time (it takes what
/// the data needs): a caller that wants a bound wraps this future in `tokio::time::timeout`, and
/// dropping the future kills `pg_restore` and tears the server down.
pub(crate) async fn restore_test(
    dump: &Path,
    expected: &BTreeMap<String, u64>,
    options: &RestoreTestOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RestoreTestReport, String> {
    let started = Instant::now();
    let pg_restore = locate_pg_restore()?;
    open_dump(dump)?;
    if !options.hadome_binary.is_file() {
        return Err(format!(
            "the `hadome` binary `{}`, which runs the scratch server's lab proxy, does not exist; \
             give the path of an installed hadome",
            options.hadome_binary.display()
        ));
    }
    if !options.scratch_parent.is_dir() {
        return Err(format!(
            "the directory for the scratch server, `{}`, does not exist; create it or choose another",
            options.scratch_parent.display()
        ));
    }
    let topology = Topology::parse(SCRATCH_NODE, "hadome's restore test", SCRATCH_TOPOLOGY)
        .map_err(|error| {
            format!(
                "the restore test's topology is invalid, a bug in hadome (please report it): {}",
                describe(&error)
            )
        })?;

    let dir = make_scratch_dir(&options.scratch_parent)?;
    // A directory this process made belongs to its effective user: who hadome runs as.
    let hadome_uid = metadata(&dir)?.uid();
    let lab_options = LabOptions::with_hadome_binary(&options.hadome_binary);
    let guard = match Lab::up(&topology, &dir, &lab_options).await {
        Ok(guard) => guard,
        Err(error) => {
            // The lab removes what it built; a refusal before it built anything leaves the empty
            // directory made above.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(lab_message(
                &format!(
                    "cannot start the scratch PostgreSQL server in `{}`",
                    dir.display()
                ),
                &error,
            ));
        }
    };
    // From here on the guard owns the server: a `?`, a panic or a dropped future tears it down.
    let outcome = restore_and_count(&guard, dump, &pg_restore, hadome_uid, progress).await;
    let teardown = match tokio::task::spawn_blocking(move || guard.down()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(lab_message(
            &format!(
                "the scratch server in `{}` was not torn down",
                dir.display()
            ),
            &error,
        )),
        Err(error) => Err(format!(
            "tearing the scratch server in `{}` down failed, a bug in hadome (please report it): {error}",
            dir.display()
        )),
    };
    let restored = match (outcome, teardown) {
        (Ok(restored), Ok(())) => restored,
        (Err(error), Ok(())) | (Ok(_), Err(error)) => return Err(error),
        (Err(error), Err(teardown)) => return Err(format!("{error}; then {teardown}")),
    };
    Ok(report(
        expected,
        restored.counts,
        restored.errors,
        restored.restore_seconds,
        started.elapsed().as_secs_f64(),
    ))
}

/// What the scratch server got: its counts, `pg_restore`'s errors, and how long it ran.
struct Restored {
    counts: BTreeMap<String, u64>,
    errors: Vec<String>,
    restore_seconds: f64,
}

async fn restore_and_count(
    lab: &Lab,
    dump: &Path,
    pg_restore: &Path,
    hadome_uid: u32,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Restored, String> {
    let lab_trouble = |what: &str, error: LabError| lab_message(what, &error);
    let data_dir = lab
        .data_dir(SCRATCH_NODE)
        .map_err(|error| lab_trouble("the scratch server has no data directory", error))?;
    let port = lab
        .client_port(SCRATCH_NODE)
        .map_err(|error| lab_trouble("the scratch server has no client port", error))?;
    // The lab runs PostgreSQL as the owner of its data directories: `postgres` when hadome is
    // root. Its client programs run as that user too, never as root.
    let owner = metadata(&data_dir)?;
    let run_as = (owner.uid() != hadome_uid).then(|| (owner.uid(), owner.gid()));
    let runner = PgRestore {
        program: pg_restore,
        dump,
        cwd: lab.dir(),
        run_as,
    };

    let listing = runner.list().await?;
    let total = match listing {
        Ok(total) => total,
        Err(errors) => {
            return Ok(Restored {
                counts: BTreeMap::new(),
                errors,
                restore_seconds: 0.0,
            })
        }
    };

    let admin = lab
        .connect(SCRATCH_NODE)
        .await
        .map_err(|error| lab_trouble("cannot connect to the scratch server", error))?;
    bounded(
        SCRATCH_TIMEOUT,
        "create the scratch database",
        admin.batch_execute(&format!(
            "CREATE DATABASE {RESTORE_DATABASE} TEMPLATE template0"
        )),
    )
    .await?;
    drop(admin);

    progress(0, total);
    let restore_started = Instant::now();
    let errors = runner.restore(port, total, progress).await?;
    let restore_seconds = restore_started.elapsed().as_secs_f64();

    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname(RESTORE_DATABASE)
        .application_name(APPLICATION_NAME)
        .connect_timeout(SCRATCH_TIMEOUT);
    let (client, connection) = bounded(
        SCRATCH_TIMEOUT,
        "connect to the restored database",
        config.connect(NoTls),
    )
    .await?;
    let counting = async {
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            counts = table_row_counts(&client) => counts,
            ended = &mut connection => Err(format!(
                "the scratch server ended the connection while hadome counted rows: {}",
                ended.map_or_else(|error| describe(&error), |()| "closed".to_owned())
            )),
        }
    };
    let counts = counting
        .await
        .map_err(|error| format!("cannot count the restored rows: {error}"))?;
    Ok(Restored {
        counts,
        errors,
        restore_seconds,
    })
}

/// `pg_restore` as the restore test runs it: as `run_as` (uid, gid) when that is not hadome's
/// user, in `cwd`, with the dump as its standard input.
struct PgRestore<'a> {
    program: &'a Path,
    dump: &'a Path,
    cwd: &'a Path,
    run_as: Option<(u32, u32)>,
}

impl PgRestore<'_> {
    fn command(&self) -> Result<tokio::process::Command, String> {
        let mut command = tokio::process::Command::new(self.program);
        command
            .current_dir(self.cwd)
            // A descriptor hadome opened: `pg_restore` reads (and seeks in) a file that its own
            // user may not be allowed to open.
            .stdin(Stdio::from(open_dump(self.dump)?))
            // Its messages in English, which the progress and error lines are read from.
            .env("LC_ALL", "C")
            .kill_on_drop(true);
        // The caller's libpq settings (PGHOST, PGSSLMODE, PGOPTIONS, …) are for their servers,
        // not for the scratch one.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|key| key.starts_with("PG")) {
                command.env_remove(key);
            }
        }
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        Ok(command)
    }

    fn spawn_error(&self, error: &std::io::Error) -> String {
        format!(
            "cannot run `{}`: {error}; install PostgreSQL 15 with `apt-get install postgresql-15`, \
             or point `{}` at its binaries",
            self.program.display(),
            hadome_lab::BINDIR_ENV
        )
    }

    /// The number of TOC entries a restore processes; `Err` holds `pg_restore`'s error lines
    /// when it cannot read the archive.
    async fn list(&self) -> Result<Result<u64, Vec<String>>, String> {
        let mut command = self.command()?;
        command
            .args([
                "--list",
                "--format=custom",
                // The same selection as the restore: `--no-privileges` leaves out the ACL entries.
                "--no-owner",
                "--no-privileges",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .await
            .map_err(|error| self.spawn_error(&error))?;
        if output.status.success() {
            return Ok(Ok(count_toc_entries(&String::from_utf8_lossy(
                &output.stdout,
            ))));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines = stderr.lines().filter(|line| !line.trim().is_empty());
        Ok(Err(diagnostics(lines, &output.status)))
    }

    /// Restores into [`RESTORE_DATABASE`] on the scratch server's client port, reporting
    /// progress; returns `pg_restore`'s error lines (empty when it succeeded).
    async fn restore(
        &self,
        port: u16,
        total: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Vec<String>, String> {
        let mut command = self.command()?;
        command
            .args([
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--verbose",
                "--no-password",
                "--host=127.0.0.1",
                &format!("--port={port}"),
                "--username=postgres",
                &format!("--dbname={RESTORE_DATABASE}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|error| self.spawn_error(&error))?;
        let stderr = child.stderr.take().ok_or_else(|| {
            "`pg_restore`'s stderr was not captured, a bug in hadome (please report it)".to_owned()
        })?;
        let mut reader = tokio::io::BufReader::new(stderr);
        let mut kept = Vec::new();
        let mut done = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|error| format!("cannot read `pg_restore`'s messages: {error}"))?;
            if read == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            match classify_line(text) {
                StderrLine::Progress => {
                    done = (done + 1).min(total);
                    progress(done, total);
                }
                StderrLine::Diagnostic => kept.push(text.to_owned()),
                StderrLine::Info => {}
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|error| format!("cannot learn how `pg_restore` ended: {error}"))?;
        if status.success() {
            if done < total {
                progress(total, total);
            }
            return Ok(Vec::new());
        }
        Ok(diagnostics(kept.iter().map(String::as_str), &status))
    }
}

/// What one line of `pg_restore --verbose`'s stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StderrLine {
    /// A TOC entry is being processed: `creating TABLE "public.x"`, `processing data for table
    /// "public.x"`, `processing BLOBS`, `executing SEQUENCE SET x_id_seq`.
    Progress,
    /// An error or warning, or its context: `error: …`, `from TOC entry …`, `detail: …`, and
    /// lines without the program's prefix (`Command was: …`, `LINE 1: …`).
    Diagnostic,
    /// Anything else (`connecting to database for restore`, blank lines).
    Info,
}

/// Classifies a line of `pg_restore`'s stderr (run with `LC_ALL=C`, so in English).
pub(crate) fn classify_line(line: &str) -> StderrLine {
    let Some(message) = line.strip_prefix("pg_restore: ") else {
        return if line.trim().is_empty() {
            StderrLine::Info
        } else {
            StderrLine::Diagnostic
        };
    };
    let starts = |prefixes: &[&str]| prefixes.iter().any(|prefix| message.starts_with(prefix));
    // `processing BLOBS` is the large objects' entry; `processing item …` would be a parallel
    // restore's second line for an entry, and this one is not parallel.
    if starts(&["creating ", "processing ", "executing "]) {
        StderrLine::Progress
    } else if starts(&[
        "error:",
        "warning:",
        "detail:",
        "hint:",
        "while PROCESSING TOC",
        "from TOC entry",
    ]) {
        StderrLine::Diagnostic
    } else {
        StderrLine::Info
    }
}

/// The entries of a `pg_restore --list` listing: one a line; `;` starts a comment.
pub(crate) fn count_toc_entries(listing: &str) -> u64 {
    let entries = listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(';'))
        .count();
    u64::try_from(entries).unwrap_or(u64::MAX)
}

/// A failed run's diagnostic lines, at most [`MAX_DIAGNOSTIC_LINES`], never none: when the
/// program said nothing, how it ended.
fn diagnostics<'a>(
    lines: impl Iterator<Item = &'a str>,
    status: &std::process::ExitStatus,
) -> Vec<String> {
    let lines: Vec<&str> = lines.collect();
    let mut kept: Vec<String> = lines
        .iter()
        .take(MAX_DIAGNOSTIC_LINES)
        .map(|line| (*line).to_owned())
        .collect();
    if lines.len() > MAX_DIAGNOSTIC_LINES {
        kept.push(format!(
            "({} more lines)",
            lines.len() - MAX_DIAGNOSTIC_LINES
        ));
    }
    if kept.is_empty() {
        kept.push(format!("pg_restore ended with {status} and said nothing"));
    }
    kept
}

/// The report of a restore test: `expected` against `restored`.
pub(crate) fn report(
    expected: &BTreeMap<String, u64>,
    restored: BTreeMap<String, u64>,
    pg_restore_errors: Vec<String>,
    restore_seconds: f64,
    total_seconds: f64,
) -> RestoreTestReport {
    let missing_tables: Vec<String> = expected
        .keys()
        .filter(|table| !restored.contains_key(*table))
        .cloned()
        .collect();
    let unexpected_tables: Vec<String> = restored
        .keys()
        .filter(|table| !expected.contains_key(*table))
        .cloned()
        .collect();
    let count_mismatches: Vec<(String, u64, u64)> = expected
        .iter()
        .filter_map(|(table, &want)| {
            let got = *restored.get(table)?;
            (got != want).then(|| (table.clone(), want, got))
        })
        .collect();
    RestoreTestReport {
        ok: pg_restore_errors.is_empty()
            && missing_tables.is_empty()
            && unexpected_tables.is_empty()
            && count_mismatches.is_empty(),
        expected: expected.clone(),
        restored,
        missing_tables,
        unexpected_tables,
        count_mismatches,
        restore_seconds,
        total_seconds,
        pg_restore_errors,
    }
}

fn locate_pg_restore() -> Result<PathBuf, String> {
    let bindir = hadome_lab::locate_bindir().map_err(|error| {
        lab_message(
            "cannot find PostgreSQL's programs for the scratch server",
            &error,
        )
    })?;
    let pg_restore = bindir.join("pg_restore");
    if !pg_restore.is_file() {
        return Err(format!(
            "PostgreSQL's `pg_restore` was not found in `{}`; install PostgreSQL 15 with \
             `apt-get install postgresql-15`, or point `{}` at a directory holding it",
            bindir.display(),
            hadome_lab::BINDIR_ENV
        ));
    }
    Ok(pg_restore)
}

fn open_dump(dump: &Path) -> Result<std::fs::File, String> {
    let file = std::fs::File::open(dump)
        .map_err(|error| format!("cannot open the dump `{}`: {error}", dump.display()))?;
    let is_file = file
        .metadata()
        .map_err(|error| format!("cannot read the dump `{}`: {error}", dump.display()))?
        .is_file();
    if !is_file {
        return Err(format!(
            "the dump `{}` is not a file; give the path of a `pg_dump --format=custom` archive",
            dump.display()
        ));
    }
    Ok(file)
}

fn metadata(path: &Path) -> Result<std::fs::Metadata, String> {
    std::fs::metadata(path).map_err(|error| format!("cannot read `{}`: {error}", path.display()))
}

/// Makes a fresh, empty directory `hadome-rt-PID-N` inside `parent`. The name is short because
/// PostgreSQL's socket path lies inside it and must fit in 107 bytes; the PID and a counter make
/// it unique, and a leftover of an earlier process that had this PID is stepped over.
fn make_scratch_dir(parent: &Path) -> Result<PathBuf, String> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    for _ in 0..100 {
        let number = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("hadome-rt-{}-{number}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(format!(
                    "cannot create a scratch directory in `{}`: {error}; choose a directory hadome may write to",
                    parent.display()
                ))
            }
        }
    }
    Err(format!(
        "`{}` already holds a hundred scratch directories by this name; remove the leftovers",
        parent.display()
    ))
}

/// Awaits `future` for at most `timeout`; the error names `what`.
async fn bounded<T, E>(
    timeout: Duration,
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, String>
where
    E: std::error::Error + 'static,
{
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("cannot {what}: {}", describe(&error))),
        Err(_) => Err(format!(
            "cannot {what}: no answer within {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// A lab error as one line: `what`, the error and its causes, and the lab's hint.
fn lab_message(what: &str, error: &LabError) -> String {
    let mut text = format!("{what}: {}", describe(error));
    if let Some(hint) = error.hint() {
        text.push_str("; ");
        text.push_str(&hint);
    }
    text
}

/// An error with its causes: tokio-postgres's own `Display` says only "db error".
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
