//! The `pauses` and `acks` tables: automation paused on a target until a person acknowledges it
//! (rule `budget`).
//!
//! Automation that did not restore health, or that ran out of its budget of actions, pauses on
//! its target (an instance or a cluster, by name). A pause stays open until a person
//! acknowledges the target (`hadome ack`), which clears every open pause of that target. An ack
//! is recorded even when nothing is paused: it restarts the budget's count, which starts at the
//! target's last ack ([`last_ack`]).
//!
//! Every write is one durable transaction ([`crate::intent::durably`]) that appends its event
//! (`pause`, `ack`).

use std::path::Path;

use hadome_core::fact::Timestamp;
use rusqlite::{Connection, Row, Transaction};

use crate::column::RowReader;
use crate::record::{
    AckEventRecord, ClearedPauseRecord, PauseEventRecord, ACK, PAUSE, RECORD_VERSION,
};
use crate::{event, JournalError};

/// Automation paused on a target, until a person acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The pause's id.
    pub id: i64,
    /// When automation paused.
    pub at: Timestamp,
    /// The instance or cluster automation paused on.
    pub target: String,
    /// Why, in one line: what automation tried and what is still wrong, or which budget ran out.
    pub reason: String,
    /// When a person acknowledged it; `None` while it is open.
    pub acked_at: Option<Timestamp>,
}

/// A person's acknowledgement of a target: automation may act on it again, its budget counting
/// from now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The ack's id.
    pub id: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The instance or cluster acknowledged.
    pub target: String,
    /// Who acknowledged.
    pub who: String,
    /// What they said (possibly empty).
    pub note: String,
    /// The pauses it cleared, oldest first (with `acked_at` set); empty when nothing was paused.
    pub cleared: Vec<Pause>,
}

/// The columns [`read_pause`] reads, in its order.
const COLUMNS: &str = "id, at_ms, target, reason, acked_at_ms";

/// Pauses automation on `target`, unless it is paused already: then returns the open pause
/// (the oldest, should there be several) unchanged and appends nothing.
pub(crate) fn pause(
    transaction: &Transaction<'_>,
    path: &Path,
    at: Timestamp,
    target: &str,
    reason: &str,
) -> Result<Pause, JournalError> {
    if let Some(open) = open_of(transaction, path, target)?.into_iter().next() {
        return Ok(open);
    }
    transaction
        .prepare_cached("INSERT INTO pauses (at_ms, target, reason) VALUES (?1, ?2, ?3)")
        .map_err(|source| sqlite(path, "record a pause", source))?
        .execute(rusqlite::params![at.0, target, reason])
        .map_err(|source| sqlite(path, "record a pause", source))?;
    let id = transaction.last_insert_rowid();
    let record = PauseEventRecord {
        version: RECORD_VERSION,
        pause: id,
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    event::append(transaction, path, at, PAUSE, target, &record)?;
    Ok(Pause {
        id,
        at,
        target: target.to_owned(),
        reason: reason.to_owned(),
        acked_at: None,
    })
}

/// Records an ack of `target` and clears its open pauses.
pub(crate) fn ack(
    transaction: &Transaction<'_>,
    path: &Path,
    at: Timestamp,
    target: &str,
    who: &str,
    note: &str,
) -> Result<Ack, JournalError> {
    let open = open_of(transaction, path, target)?;
    transaction
        .prepare_cached("INSERT INTO acks (at_ms, target, who, note) VALUES (?1, ?2, ?3, ?4)")
        .map_err(|source| sqlite(path, "record an ack", source))?
        .execute(rusqlite::params![at.0, target, who, note])
        .map_err(|source| sqlite(path, "record an ack", source))?;
    let id = transaction.last_insert_rowid();
    transaction
        .prepare_cached(
            "UPDATE pauses SET acked_at_ms = ?2 WHERE target = ?1 AND acked_at_ms IS NULL",
        )
        .map_err(|source| sqlite(path, "clear pauses", source))?
        .execute(rusqlite::params![target, at.0])
        .map_err(|source| sqlite(path, "clear pauses", source))?;
    let cleared: Vec<Pause> = open
        .into_iter()
        .map(|pause| Pause {
            acked_at: Some(at),
            ..pause
        })
        .collect();
    let record = AckEventRecord {
        version: RECORD_VERSION,
        ack: id,
        target: target.to_owned(),
        who: who.to_owned(),
        note: note.to_owned(),
        cleared: cleared
            .iter()
            .map(|pause| ClearedPauseRecord {
                pause: pause.id,
                paused_at_ms: pause.at.0,
                reason: pause.reason.clone(),
            })
            .collect(),
    };
    event::append(transaction, path, at, ACK, target, &record)?;
    Ok(Ack {
        id,
        at,
        target: target.to_owned(),
        who: who.to_owned(),
        note: note.to_owned(),
        cleared,
    })
}

/// The open pauses of `target`, oldest first.
fn open_of(connection: &Connection, path: &Path, target: &str) -> Result<Vec<Pause>, JournalError> {
    let failed = |source| sqlite(path, "read pauses", source);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM pauses WHERE target = ?1 AND acked_at_ms IS NULL ORDER BY id"
        ))
        .map_err(failed)?;
    let mut rows = statement.query([target]).map_err(failed)?;
    let mut pauses = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        pauses.push(read_pause(path, row)?);
    }
    Ok(pauses)
}

/// Every open pause, oldest first (ties in the order they were recorded).
pub(crate) fn open(connection: &Connection, path: &Path) -> Result<Vec<Pause>, JournalError> {
    let failed = |source| sqlite(path, "read pauses", source);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM pauses WHERE acked_at_ms IS NULL ORDER BY at_ms, id"
        ))
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut pauses = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        pauses.push(read_pause(path, row)?);
    }
    Ok(pauses)
}

/// When `target` was last acknowledged; `None` when it never was.
pub(crate) fn last_ack(
    connection: &Connection,
    path: &Path,
    target: &str,
) -> Result<Option<Timestamp>, JournalError> {
    let failed = |source| sqlite(path, "read acks", source);
    let mut statement = connection
        .prepare_cached("SELECT max(at_ms) FROM acks WHERE target = ?1")
        .map_err(failed)?;
    let mut rows = statement.query([target]).map_err(failed)?;
    let Some(row) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    let reader = RowReader {
        path,
        table: "acks",
        row: format!("the last ack of `{target}`"),
    };
    Ok(reader.optional_integer(row, 0, "at_ms")?.map(Timestamp))
}

/// Reads one row selected with [`COLUMNS`].
fn read_pause(path: &Path, row: &Row<'_>) -> Result<Pause, JournalError> {
    let unnamed = RowReader {
        path,
        table: "pauses",
        row: "a pause".to_owned(),
    };
    let id = unnamed.integer(row, 0, "id")?;
    let reader = RowReader {
        path,
        table: "pauses",
        row: format!("pause {id}"),
    };
    Ok(Pause {
        id,
        at: Timestamp(reader.integer(row, 1, "at_ms")?),
        target: reader.text(row, 2, "target")?,
        reason: reader.text(row, 3, "reason")?,
        acked_at: reader
            .optional_integer(row, 4, "acked_at_ms")?
            .map(Timestamp),
    })
}

fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: path.to_owned(),
        action,
        source,
    }
}
