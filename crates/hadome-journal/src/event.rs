//! The `events` table: the append-only log of fact changes, findings raised and cleared, verdicts,
//! intents with their overrides, steps and outcomes, and the daemon's leases, pauses, acks and
//! escalations, backups, failovers, host boots and images, quorum members down and back.
//!
//! Rows are only ever inserted. Each body is a versioned JSON record (`crate::record`); reading
//! returns it as JSON, so a reader of an older or newer record still sees it whole.

use std::path::Path;

use hadome_core::fact::Timestamp;
use rusqlite::Connection;
use serde::Serialize;

use crate::column::RowReader;
use crate::JournalError;

/// One event of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEvent {
    /// Its id: increasing in the order events were appended.
    pub id: i64,
    /// When what it records happened (a probe's start, a verdict's decision, an intent, step,
    /// outcome, lease change, pause, ack, escalation or notification as its caller timed it).
    pub at: Timestamp,
    /// `fact-changed`, `finding-raised`, `finding-cleared`, `verdict`, `intent`, `override`,
    /// `step`, `outcome`, `lease`, `pause`, `ack`, `escalation`, `notified` … (the `KIND_*`
    /// constants).
    pub kind: String,
    /// What it is about: the instance, the action's target, the lease's cluster, the paused or
    /// acknowledged target, or the escalation's subject.
    pub subject: String,
    /// The record, with its `"version"`.
    pub body: serde_json::Value,
}

/// Appends one event.
pub(crate) fn append(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    kind: &'static str,
    subject: &str,
    body: &impl Serialize,
) -> Result<(), JournalError> {
    let body = serde_json::to_string(body).map_err(|source| JournalError::Encode {
        path: path.to_owned(),
        what: kind,
        source,
    })?;
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "append an event",
        source,
    };
    connection
        .prepare_cached("INSERT INTO events (at_ms, kind, subject, body) VALUES (?1, ?2, ?3, ?4)")
        .map_err(failed)?
        .execute(rusqlite::params![at.0, kind, subject, body])
        .map_err(failed)?;
    Ok(())
}

/// Events at or after `since`, oldest first (ties in the order they were appended).
pub(crate) fn since(
    connection: &Connection,
    path: &Path,
    since: Timestamp,
) -> Result<Vec<JournalEvent>, JournalError> {
    read(
        connection,
        path,
        "SELECT id, at_ms, kind, subject, body FROM events WHERE at_ms >= ?1 ORDER BY at_ms, id",
        [since.0],
    )
}

/// At most `limit` events appended after the event `after` (0: from the first), in the order
/// they were appended: a page of the journal, the next one starting after the last id returned.
pub(crate) fn after_id(
    connection: &Connection,
    path: &Path,
    after: i64,
    limit: u32,
) -> Result<Vec<JournalEvent>, JournalError> {
    read(
        connection,
        path,
        "SELECT id, at_ms, kind, subject, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
        [after, i64::from(limit)],
    )
}

/// The events `sql` selects (`id, at_ms, kind, subject, body`), each body read as JSON.
fn read<P: rusqlite::Params>(
    connection: &Connection,
    path: &Path,
    sql: &str,
    params: P,
) -> Result<Vec<JournalEvent>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read events",
        source,
    };
    let mut statement = connection.prepare_cached(sql).map_err(failed)?;
    let mut rows = statement.query(params).map_err(failed)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let unnamed = RowReader {
            path,
            table: "events",
            row: "an event".to_owned(),
        };
        let id = unnamed.integer(row, 0, "id")?;
        let reader = RowReader {
            path,
            table: "events",
            row: format!("event {id}"),
        };
        let body_text = reader.text(row, 4, "body")?;
        let body = serde_json::from_str(&body_text)
            .map_err(|error| reader.corrupt("body", format!("not JSON: {error}")))?;
        events.push(JournalEvent {
            id,
            at: Timestamp(reader.integer(row, 1, "at_ms")?),
            kind: reader.text(row, 2, "kind")?,
            subject: reader.text(row, 3, "subject")?,
            body,
        });
    }
    Ok(events)
}
