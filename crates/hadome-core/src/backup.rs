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
    /// Its copies, newest first; the error when the directory could not be read.
    pub copies: Result<Vec<BackupCopy>, String>,
}

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
    /// Its structure: `Ok` with a one-line summary, or why it is broken.
    pub structure: Result<String, String>,
    /// The tables whose data it holds (`schema.table`), when its structure says.
    pub tables: Vec<String>,
}

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
