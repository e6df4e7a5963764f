//! The restore test itself: refuse what cannot be used, start the scratch server, restore the
//! dump into it, count, tear the server down, and report.
//!
//! Everything that can be refused is checked before anything is started; from the moment the
//! scratch server runs, its guard owns it, and every path out (an error, a panic, a dropped
//! future) tears it down by PID.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hadome_lab::Lab;
use tokio_postgres::NoTls;

use crate::count::{bounded, table_row_counts, APPLICATION_NAME};
use crate::error::RestoreError;
use crate::pg_restore::{locate_pg_restore, open_dump, PgRestore};
use crate::report::{report, RestoreTestReport};
use crate::scratch::{self, metadata, RESTORE_DATABASE, SCRATCH_NODE, SCRATCH_TIMEOUT};

/// How a restore test is run.
#[derive(Debug, Clone)]
pub struct RestoreTestOptions {
    /// Where the scratch server's directory is made (a fresh, uniquely named directory inside;
    /// removed afterwards). The `postgres` user must be able to search it when hadome is root,
    /// and it must be short: PostgreSQL's socket path lies inside.
    pub scratch_parent: PathBuf,
    /// The `hadome` binary, which serves the lab proxy (`hadome lab proxy`).
    pub hadome_binary: PathBuf,
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
pub async fn restore_test(
    dump: &Path,
    expected: &BTreeMap<String, u64>,
    options: &RestoreTestOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RestoreTestReport, RestoreError> {
    let started = Instant::now();
    let pg_restore = locate_pg_restore()?;
    open_dump(dump)?;
    if !options.hadome_binary.is_file() {
        return Err(RestoreError::HadomeBinaryMissing {
            binary: options.hadome_binary.clone(),
        });
    }
    if !options.scratch_parent.is_dir() {
        return Err(RestoreError::ScratchParentMissing {
            parent: options.scratch_parent.clone(),
        });
    }
    let topology = scratch::topology()?;

    let server = scratch::start(&topology, &options.scratch_parent, &options.hadome_binary).await?;
    // From here on the guard owns the server: a `?`, a panic or a dropped future tears it down.
    let outcome = restore_and_count(
        &server.guard,
        dump,
        &pg_restore,
        server.hadome_uid,
        progress,
    )
    .await;
    let teardown = scratch::tear_down(server).await;
    let restored = match (outcome, teardown) {
        (Ok(restored), Ok(())) => restored,
        (Err(error), Ok(())) | (Ok(_), Err(error)) => return Err(error),
        (Err(error), Err(teardown)) => {
            return Err(RestoreError::ThenTeardown {
                error: Box::new(error),
                teardown: Box::new(teardown),
            })
        }
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

/// Lists the archive, creates [`RESTORE_DATABASE`], restores into it and counts its rows. An
/// archive `pg_restore` cannot list is restored no further: its error lines, and no counts.
async fn restore_and_count(
    lab: &Lab,
    dump: &Path,
    pg_restore: &Path,
    hadome_uid: u32,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Restored, RestoreError> {
    let data_dir = lab
        .data_dir(SCRATCH_NODE)
        .map_err(|source| RestoreError::Scratch {
            what: "the scratch server has no data directory",
            source: Box::new(source),
        })?;
    let port = lab
        .client_port(SCRATCH_NODE)
        .map_err(|source| RestoreError::Scratch {
            what: "the scratch server has no client port",
            source: Box::new(source),
        })?;
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
        .map_err(|source| RestoreError::Scratch {
            what: "cannot connect to the scratch server",
            source: Box::new(source),
        })?;
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
            ended = &mut connection => Err(RestoreError::ScratchConnectionEnded {
                source: ended.err(),
            }),
        }
    };
    let counts = counting
        .await
        .map_err(|source| RestoreError::CountRestored {
            source: Box::new(source),
        })?;
    Ok(Restored {
        counts,
        errors,
        restore_seconds,
    })
}
