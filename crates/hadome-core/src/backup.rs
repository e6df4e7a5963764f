//! Backups and snapshots as facts: what is on disk now, where it lives, and what the journal
//! remembers of how each copy was made and restore-tested.
//!
//! The shell lists a backup's copies (newest first), verifies the newest one (size, SHA-256 and
//! structure: `hadome-backup`) and says on which filesystem each path of interest lives; the
//! journal remembers, per copy hadome made, its checksum, size, the source's position at dump time
//! and its tables' row counts, and the restore tests. `backup-trust` and `snapshot-independence`
//! judge from these alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::fact::Timestamp;
use crate::position::DataPosition;

/// One backup's copies, as listed now.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupObservation {
    /// When they were listed.
    pub observed_at: Timestamp,
    /// Its copies, newest first; why not when they could not be listed.
    pub copies: Result<Vec<BackupCopy>, Unlisted>,
}

/// Why a backup's copies could not be listed, as the shell that listed them said it (the path it
/// could not read, and the operating system's error).
///
/// The core reads no directory: it is given this account and judges from it (`backup-trust`
/// denies, since nothing on disk vouches for the backup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlisted {
    /// What went wrong, in a sentence that names the path.
    pub reason: String,
}

impl std::fmt::Display for Unlisted {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for Unlisted {}

/// One copy of a backup on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupCopy {
    /// Its path.
    pub path: PathBuf,
    /// Its size (a base backup: every file in it).
    pub size_bytes: u64,
    /// Its modification time.
    pub modified_at: Timestamp,
    /// What reading it whole found; `None` when it was only listed (older copies).
    pub verification: Option<CopyVerification>,
}

/// What reading a copy whole found.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyVerification {
    /// SHA-256 of the file (a base backup: of its `backup_manifest`), in hex.
    pub sha256_hex: String,
    /// Its structure: `Ok` with a one-line summary of what it holds, or why it is broken.
    pub structure: Result<String, Broken>,
    /// The tables whose data it holds (`schema.table`), when its structure says.
    pub tables: Vec<String>,
}

/// Why a copy's structure is broken (truncated, damaged, garbage, or unreadable), as reading it
/// whole found: a fact about the copy, which `backup-trust` turns into a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// What is wrong, in a sentence (with the byte offset where there is one).
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for Broken {}

/// Where a path lives: the filesystem that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// The path with symbolic links resolved.
    pub canonical: PathBuf,
    /// `st_dev`: the filesystem (on btrfs, the subvolume) that holds it.
    pub device: u64,
}

/// What the journal remembers of one backup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupHistory {
    /// The copies hadome made, by path.
    pub made: BTreeMap<PathBuf, MadeCopy>,
    /// The newest restore test.
    pub last_restore_test: Option<RestoreTestRecord>,
    /// The newest restore test that passed.
    pub last_restore_pass: Option<RestoreTestRecord>,
}

/// A copy as hadome made it (`hadome backup run`).
#[derive(Debug, Clone, PartialEq)]
pub struct MadeCopy {
    /// When it was renamed into place.
    pub made_at: Timestamp,
    /// Its size then.
    pub size_bytes: u64,
    /// Its SHA-256 then.
    pub sha256_hex: String,
    /// The source's data position when the dump's snapshot was taken.
    pub position: Option<DataPosition>,
    /// Rows per table (`schema.table`) in the dump's snapshot.
    pub row_counts: BTreeMap<String, u64>,
}

/// One restore test.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreTestRecord {
    /// When it ended.
    pub at: Timestamp,
    /// The copy it restored.
    pub path: PathBuf,
    /// Whether every table came back with its row count.
    pub ok: bool,
    /// One line, with numbers.
    pub detail: String,
}

/// A job the daemon runs for a backup on its schedule (`every_seconds`,
/// `restore_test_every_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BackupJob {
    /// `hadome backup run`: make a copy.
    Make,
    /// `hadome backup restore-test`: restore the newest copy into a scratch server.
    RestoreTest,
}

impl BackupJob {
    /// The job's name in logs and the journal (`backup run`, `restore-test`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupJob::Make => "backup run",
            BackupJob::RestoreTest => "restore-test",
        }
    }
}

/// What the daemon knows of a backup's jobs beyond the journal: whether one runs now, and when
/// each kind last started (a failed `backup run` keeps no row, so the journal cannot pace retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobsState {
    /// A job of this backup is running: no second one starts beside it.
    pub running: bool,
    /// When this daemon last started a `backup run` of it.
    pub make_started: Option<Timestamp>,
    /// When this daemon last started a restore test of it.
    pub test_started: Option<Timestamp>,
}

/// A job that did not bring its backup up to date is tried again after its interval, but never
/// later than this (a nightly backup that failed is retried within the hour).
pub const MAX_RETRY_SECONDS: f64 = 3600.0;

/// The job `backup` is due for now, with why; `None` when none is.
///
/// A copy is due when the backup has `every_seconds` and its newest copy (on disk, or as the
/// journal recorded it) is at least that old, or there is none. A restore test is due when it has
/// `restore_test_every_seconds`, a copy exists, no copy is due, and the last restore test is at
/// least that old, or there was none. Nothing starts while a job of the backup runs, nor sooner
/// than `min(interval, MAX_RETRY_SECONDS)` after the same kind of job last started: a failing
/// job is retried, not hammered.
pub fn due_job(
    backup: &crate::estate::Backup,
    observation: Option<&BackupObservation>,
    history: Option<&BackupHistory>,
    jobs: &JobsState,
    now: Timestamp,
) -> Option<(BackupJob, String)> {
    if jobs.running {
        return None;
    }
    let rested = |started: Option<Timestamp>, interval: f64| {
        started.is_none_or(|started| now.seconds_since(started) >= interval.min(MAX_RETRY_SECONDS))
    };
    let copies: &[BackupCopy] = observation
        .and_then(|observation| observation.copies.as_ref().ok())
        .map_or(&[], Vec::as_slice);
    let newest = copies
        .iter()
        .map(|copy| copy.modified_at)
        .chain(
            history
                .into_iter()
                .flat_map(|history| history.made.values().map(|made| made.made_at)),
        )
        .max();
    if let Some(every) = backup.every_seconds {
        let why = match newest {
            None => Some("it has no copy yet".to_owned()),
            Some(newest) if now.seconds_since(newest) >= every => Some(format!(
                "its newest copy is {} old (every_seconds = {every})",
                crate::finding::human_duration(now.seconds_since(newest))
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            return rested(jobs.make_started, every).then_some((BackupJob::Make, why));
        }
    }
    let every = backup.restore_test_every_seconds?;
    if copies.is_empty() || !rested(jobs.test_started, every) {
        return None;
    }
    let last = history.and_then(|history| history.last_restore_test.as_ref());
    let why = match last {
        None => "it was never restore-tested".to_owned(),
        Some(last) if now.seconds_since(last.at) >= every => format!(
            "its last restore test is {} old (restore_test_every_seconds = {every})",
            crate::finding::human_duration(now.seconds_since(last.at))
        ),
        Some(_) => return None,
    };
    Some((BackupJob::RestoreTest, why))
}
