//! The `backup_records` table (schema version 4): the copies hadome made of each backup, and the
//! restore tests, so that `backup-trust` can judge a copy against its own history (its recorded
//! checksum, the size of the copy before it, the last restore test that passed).
//!
//! One row per record, its body a versioned JSON document (`"version": 1`); each also appends an
//! event (`backup-made`, `backup-failed`, `restore-test`) for the incident timeline. A backup's
//! failed run leaves no row here: nothing was kept, only the event says what went wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hadome_core::backup::{BackupHistory, MadeCopy, RestoreTestRecord};
use hadome_core::fact::Timestamp;
use hadome_core::position::{DataPosition, Lsn, TimelineSwitch};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::column::RowReader;
use crate::JournalError;

const TABLE: &str = "backup_records";
const MADE: &str = "made";
const RESTORE_TEST: &str = "restore-test";

/// A copy hadome made and kept: what `hadome backup run` records once the copy is verified and
/// renamed into place.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupMade {
    /// The backup's name.
    pub backup: String,
    /// The copy's final path.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its SHA-256, in hex.
    pub sha256_hex: String,
    /// How long the command ran, in milliseconds.
    pub duration_ms: u64,
    /// The source's data position when the dump's snapshot was taken.
    pub position: Option<DataPosition>,
    /// Rows per table (`schema.table`) in the dump's snapshot.
    pub row_counts: BTreeMap<String, u64>,
    /// The structure check's one-line summary.
    pub structure: String,
}

/// One restore test, as `hadome backup restore-test` ends it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreTestDone {
    /// The backup's name.
    pub backup: String,
    /// The copy restored.
    pub path: PathBuf,
    /// Whether every table came back with its recorded row count.
    pub ok: bool,
    /// One line, with numbers.
    pub detail: String,
    /// Seconds the restore itself took.
    pub restore_seconds: f64,
    /// Tables whose rows did not come back as recorded: `(table, recorded, restored)`.
    pub mismatches: Vec<(String, Option<u64>, Option<u64>)>,
}

#[derive(Serialize, Deserialize)]
struct PositionBody {
    system_identifier: String,
    timeline: u32,
    lsn: u64,
    history: Option<Vec<(u32, u64)>>,
}

#[derive(Serialize, Deserialize)]
struct MadeBody {
    version: u32,
    size_bytes: u64,
    sha256: String,
    duration_ms: u64,
    position: Option<PositionBody>,
    row_counts: BTreeMap<String, u64>,
    structure: String,
}

#[derive(Serialize, Deserialize)]
struct RestoreTestBody {
    version: u32,
    ok: bool,
    detail: String,
    restore_seconds: f64,
    mismatches: Vec<(String, Option<u64>, Option<u64>)>,
}

#[derive(Serialize)]
struct EventBody<'a, T: Serialize> {
    version: u32,
    backup: &'a str,
    path: String,
    #[serde(flatten)]
    record: &'a T,
}

#[derive(Serialize)]
struct FailedBody<'a> {
    version: u32,
    backup: &'a str,
    stage: &'a str,
    detail: &'a str,
}

fn position_body(position: &DataPosition) -> PositionBody {
    PositionBody {
        system_identifier: position.system_identifier.to_string(),
        timeline: position.timeline,
        lsn: position.lsn.0,
        history: position.history.as_ref().map(|history| {
            history
                .iter()
                .map(|switch| (switch.timeline, switch.switch_lsn.0))
                .collect()
        }),
    }
}

fn position_of(body: PositionBody) -> Option<DataPosition> {
    Some(DataPosition {
        system_identifier: body.system_identifier.parse().ok()?,
        timeline: body.timeline,
        lsn: Lsn(body.lsn),
        history: body.history.map(|history| {
            history
                .into_iter()
                .map(|(timeline, lsn)| TimelineSwitch {
                    timeline,
                    switch_lsn: Lsn(lsn),
                })
                .collect()
        }),
    })
}

fn insert(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    backup: &str,
    kind: &str,
    copy: &Path,
    body: &impl Serialize,
) -> Result<(), JournalError> {
    let text = serde_json::to_string(body).map_err(|source| JournalError::Encode {
        path: path.to_owned(),
        what: "a backup record",
        source,
    })?;
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a backup",
        source,
    };
    connection
        .prepare_cached(
            "INSERT INTO backup_records (at_ms, backup, kind, path, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(failed)?
        .execute(rusqlite::params![
            at.0,
            backup,
            kind,
            copy.to_string_lossy(),
            text
        ])
        .map_err(failed)?;
    Ok(())
}

/// Records a copy made (a row and a `backup-made` event), in `transaction`.
pub(crate) fn made(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    made: &BackupMade,
) -> Result<(), JournalError> {
    let body = MadeBody {
        version: 1,
        size_bytes: made.size_bytes,
        sha256: made.sha256_hex.clone(),
        duration_ms: made.duration_ms,
        position: made.position.as_ref().map(position_body),
        row_counts: made.row_counts.clone(),
        structure: made.structure.clone(),
    };
    insert(connection, path, at, &made.backup, MADE, &made.path, &body)?;
    crate::event::append(
        connection,
        path,
        at,
        crate::BACKUP_MADE,
        &made.backup,
        &EventBody {
            version: 1,
            backup: &made.backup,
            path: made.path.display().to_string(),
            record: &body,
        },
    )
}

/// Records a failed run (a `backup-failed` event only: nothing was kept).
pub(crate) fn failed(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    backup: &str,
    stage: &str,
    detail: &str,
) -> Result<(), JournalError> {
    crate::event::append(
        connection,
        path,
        at,
        crate::BACKUP_FAILED,
        backup,
        &FailedBody {
            version: 1,
            backup,
            stage,
            detail,
        },
    )
}

/// Records a restore test (a row and a `restore-test` event).
pub(crate) fn restore_test(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    done: &RestoreTestDone,
) -> Result<(), JournalError> {
    let body = RestoreTestBody {
        version: 1,
        ok: done.ok,
        detail: done.detail.clone(),
        restore_seconds: done.restore_seconds,
        mismatches: done.mismatches.clone(),
    };
    insert(
        connection,
        path,
        at,
        &done.backup,
        RESTORE_TEST,
        &done.path,
        &body,
    )?;
    crate::event::append(
        connection,
        path,
        at,
        crate::RESTORE_TEST,
        &done.backup,
        &EventBody {
            version: 1,
            backup: &done.backup,
            path: done.path.display().to_string(),
            record: &body,
        },
    )
}

/// Every backup's history, by backup name.
pub(crate) fn read_all(
    connection: &Connection,
    path: &Path,
) -> Result<BTreeMap<String, BackupHistory>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the backup records",
        source,
    };
    let mut statement = connection
        .prepare_cached(
            "SELECT id, at_ms, backup, kind, path, body FROM backup_records ORDER BY at_ms, id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut histories: BTreeMap<String, BackupHistory> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let id = RowReader {
            path,
            table: TABLE,
            row: "a row".to_owned(),
        }
        .integer(row, 0, "id")?;
        let reader = RowReader {
            path,
            table: TABLE,
            row: format!("record {id}"),
        };
        let at = Timestamp(reader.integer(row, 1, "at_ms")?);
        let backup = reader.text(row, 2, "backup")?;
        let kind = reader.text(row, 3, "kind")?;
        let copy = PathBuf::from(reader.text(row, 4, "path")?);
        let body = reader.text(row, 5, "body")?;
        let history = histories.entry(backup).or_default();
        match kind.as_str() {
            MADE => {
                let body: MadeBody = serde_json::from_str(&body)
                    .map_err(|error| reader.corrupt("body", error.to_string()))?;
                history.made.insert(
                    copy,
                    MadeCopy {
                        made_at: at,
                        size_bytes: body.size_bytes,
                        sha256_hex: body.sha256,
                        position: body.position.and_then(position_of),
                        row_counts: body.row_counts,
                    },
                );
            }
            RESTORE_TEST => {
                let body: RestoreTestBody = serde_json::from_str(&body)
                    .map_err(|error| reader.corrupt("body", error.to_string()))?;
                let record = RestoreTestRecord {
                    at,
                    path: copy,
                    ok: body.ok,
                    detail: body.detail,
                };
                if record.ok {
                    history.last_restore_pass = Some(record.clone());
                }
                history.last_restore_test = Some(record);
            }
            // A kind from a newer hadome: kept in the file, not understood here.
            _ => {}
        }
    }
    Ok(histories)
}

/// The copy recorded as made at `copy`, with its row counts (for a restore test).
pub(crate) fn made_copy(
    connection: &Connection,
    path: &Path,
    backup: &str,
    copy: &Path,
) -> Result<Option<MadeCopy>, JournalError> {
    Ok(read_all(connection, path)?
        .remove(backup)
        .and_then(|mut history| history.made.remove(copy)))
}
