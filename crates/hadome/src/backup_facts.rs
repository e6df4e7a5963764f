//! The backup facts every pass observes: each backup's copies, newest first, the newest read whole
//! when asked ([`BackupReading::VerifyNewest`]), and which filesystem each path of interest lives
//! on. It is blocking file I/O and runs on tokio's blocking pool.
//!
//! `hadome backup run` reads a new copy the same way ([`inspect`], [`verification_of`]) before it
//! renames it into place, and names its temporary and failed outputs so that the backup's pattern
//! never lists them ([`TEMPORARY_PREFIX`], [`FAILED_PREFIX`]).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hadome_backup::{Inspection, Structure};
use hadome_core::backup::{
    BackupCopy, BackupObservation, Broken, CopyVerification, Storage, Unlisted,
};
use hadome_core::estate::{Backup, BackupKind, Estate};
use hadome_core::fact::Timestamp;

use crate::clock::wall_clock;

/// The prefix of a temporary output in a backup's directory; the copies' pattern never matches it.
pub(crate) const TEMPORARY_PREFIX: &str = ".hadome-tmp-";
/// The prefix a failed output is moved aside to.
pub(crate) const FAILED_PREFIX: &str = ".hadome-failed-";

/// How much of each backup a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupReading {
    /// List the copies (sizes, times): cheap, for `status` and `ask`.
    ListOnly,
    /// List, and read the newest copy whole (checksum and structure): `check`, `backup verify`,
    /// `ask restore-backup`.
    VerifyNewest,
}

/// How deep an action's pass reads the backups: a restore restores the newest copy, and a
/// deletion is allowed only when a backup that passes `backup-trust` covers what it destroys
/// (`destroy-coverage`), so both read the newest copy whole; nothing else needs to.
pub(crate) fn reading_for(action: &hadome_core::action::Action) -> BackupReading {
    use hadome_core::action::Action;
    match action {
        Action::RestoreBackup { .. } | Action::DeleteHost { .. } | Action::DeletePath { .. } => {
            BackupReading::VerifyNewest
        }
        _ => BackupReading::ListOnly,
    }
}

/// Every backup's copies and every path's filesystem, as the core's facts.
pub(crate) async fn observe_backups(
    estate: &Estate,
    reading: BackupReading,
) -> (
    BTreeMap<String, BackupObservation>,
    BTreeMap<PathBuf, Storage>,
) {
    if estate.backups.is_empty() && estate.snapshots.is_empty() {
        return (BTreeMap::new(), BTreeMap::new());
    }
    let estate = estate.clone();
    tokio::task::spawn_blocking(move || {
        let backups = estate
            .backups
            .iter()
            .map(|backup| (backup.name.clone(), observe_backup(backup, reading)))
            .collect();
        (backups, storage(&estate))
    })
    .await
    // A panic in the blocking task is a bug; the backups are then unobserved, so every rule
    // that needs them fails closed (`backup-trust`: "not looked at").
    .unwrap_or_default()
}

fn observe_backup(backup: &Backup, reading: BackupReading) -> BackupObservation {
    let observed_at = wall_clock();
    let copies = list_copies(backup).map(|mut copies| {
        if reading == BackupReading::VerifyNewest {
            if let Some(newest) = copies.first_mut() {
                newest.verification = Some(verify_copy(backup.kind, &newest.path));
            }
        }
        copies
    });
    BackupObservation {
        observed_at,
        copies: copies.map_err(|error| Unlisted {
            reason: error.to_string(),
        }),
    }
}

/// The file name's text before and after its `*`.
pub(crate) fn pattern(backup: &Backup) -> (String, String) {
    let name = backup
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.split_once('*') {
        Some((prefix, suffix)) => (prefix.to_owned(), suffix.to_owned()),
        None => (name, String::new()),
    }
}

/// The directory a backup's copies are made in.
pub(crate) fn directory(backup: &Backup) -> &Path {
    backup.path.parent().unwrap_or(Path::new("/"))
}

/// The copies matching the backup's path, newest first (by modification time, then name).
fn list_copies(backup: &Backup) -> Result<Vec<BackupCopy>, Unreadable> {
    let dir = directory(backup);
    let (prefix, suffix) = pattern(backup);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Unreadable::new(dir, error)),
    };
    let mut copies = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Unreadable::new(dir, error))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMPORARY_PREFIX)
            || name.starts_with(FAILED_PREFIX)
            || name.len() < prefix.len() + suffix.len()
            || !name.starts_with(&prefix)
            || !name.ends_with(&suffix)
        {
            continue;
        }
        let path = entry.path();
        let metadata = std::fs::metadata(&path).map_err(|error| Unreadable::new(&path, error))?;
        let size_bytes = match backup.kind {
            BackupKind::BaseBackup if metadata.is_dir() => tree_size(&path)?,
            BackupKind::BaseBackup => continue,
            BackupKind::PgDump | BackupKind::Files if metadata.is_file() => metadata.len(),
            BackupKind::PgDump | BackupKind::Files => continue,
        };
        copies.push(BackupCopy {
            path,
            size_bytes,
            modified_at: Timestamp(metadata.mtime() * 1000 + metadata.mtime_nsec() / 1_000_000),
            verification: None,
        });
    }
    copies.sort_by(|a, b| {
        b.modified_at
            .cmp(&a.modified_at)
            .then_with(|| b.path.cmp(&a.path))
    });
    Ok(copies)
}

/// The bytes of every regular file under `dir`.
fn tree_size(dir: &Path) -> Result<u64, Unreadable> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next).map_err(|error| Unreadable::new(&next, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| Unreadable::new(&next, error))?;
            let metadata = entry
                .metadata()
                .map_err(|error| Unreadable::new(&entry.path(), error))?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

/// Reads a copy whole: its checksum and structure.
pub(crate) fn verify_copy(kind: BackupKind, path: &Path) -> CopyVerification {
    match inspect(kind, path) {
        Ok(inspection) => verification_of(&inspection),
        Err(error) => CopyVerification {
            sha256_hex: String::new(),
            structure: Err(Broken {
                reason: format!("hadome could not read it: {error}"),
            }),
            tables: Vec::new(),
        },
    }
}

/// Reads a copy whole with `hadome-backup`, as its type says; `Err` is an I/O failure.
pub(crate) fn inspect(
    kind: BackupKind,
    path: &Path,
) -> Result<Inspection, hadome_backup::BackupError> {
    match kind {
        BackupKind::PgDump => hadome_backup::inspect_dump(path),
        BackupKind::Files => hadome_backup::inspect_file(path),
        BackupKind::BaseBackup => {
            let program = hadome_lab::locate_bindir()
                .map(|bindir| bindir.join("pg_verifybackup"))
                .unwrap_or_else(|_| PathBuf::from("pg_verifybackup"));
            hadome_backup::inspect_base_backup(path, &program)
        }
    }
}

/// A file or directory of a backup that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{}`: {error}", path.display())]
pub(crate) struct Unreadable {
    path: PathBuf,
    error: std::io::Error,
}

impl Unreadable {
    fn new(path: &Path, error: std::io::Error) -> Unreadable {
        Unreadable {
            path: path.to_owned(),
            error,
        }
    }
}

/// An inspection as the core's fact: checksum, structure (with why a broken one is broken) and tables.
pub(crate) fn verification_of(inspection: &Inspection) -> CopyVerification {
    let (structure, tables) = match &inspection.structure {
        Structure::Valid(summary) => (
            Ok(format!(
                "a pg_dump archive (format {}.{}.{}) of {} entries, {} with data",
                summary.format_version.0,
                summary.format_version.1,
                summary.format_version.2,
                summary.entries.len(),
                summary.data_blocks
            )),
            summary.tables(),
        ),
        Structure::ValidBaseBackup(summary) => (
            Ok(format!(
                "a base backup of {} files, WAL to {} on timeline {} (pg_verifybackup)",
                summary.files,
                summary.end_lsn.as_deref().unwrap_or("?"),
                summary
                    .timeline
                    .map_or_else(|| "?".to_owned(), |timeline| timeline.to_string())
            )),
            Vec::new(),
        ),
        Structure::Invalid {
            offset_bytes,
            reason,
        } => (
            // hadome-backup's reasons name the byte where they can; the offset is added only
            // where the reason does not.
            Err(match offset_bytes {
                Some(offset) if !reason.contains(&format!("byte {offset}")) => {
                    format!("{reason} (at byte {offset})")
                }
                _ => reason.clone(),
            }),
            Vec::new(),
        ),
        Structure::NotChecked => (Ok("not checked (type \"files\")".to_owned()), Vec::new()),
    };
    CopyVerification {
        sha256_hex: inspection.sha256_hex.clone(),
        structure: structure.map_err(|reason| Broken { reason }),
        tables,
    }
}

/// Which filesystem holds each path of interest that exists here.
fn storage(estate: &Estate) -> BTreeMap<PathBuf, Storage> {
    let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
    for snapshot in &estate.snapshots {
        paths.insert(snapshot.protects.clone());
        paths.insert(snapshot.location.clone());
    }
    for backup in &estate.backups {
        paths.insert(directory(backup).to_path_buf());
    }
    for instance in &estate.instances {
        paths.insert(instance.data_dir.clone());
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let metadata = std::fs::metadata(&path).ok()?;
            let canonical = std::fs::canonicalize(&path).ok()?;
            Some((
                path,
                Storage {
                    canonical,
                    device: metadata.dev(),
                },
            ))
        })
        .collect()
}
