//! The `escalations` table: what the daemon found that needs a person, and whether the
//! notification got through.
//!
//! An escalation is recorded first (so the journal has it even when no notification can be
//! sent), then each attempt to notify is recorded on it: `notified_at_ms` is the last attempt,
//! `notify_error` its error (NULL when it got through). Every write is one durable transaction
//! ([`crate::intent::durably`]) that appends its event (`escalation`, `notified`).

use std::path::Path;

use hadome_core::fact::Timestamp;
use rusqlite::{Connection, Row, Transaction};

use crate::column::RowReader;
use crate::record::{
    EscalationEventRecord, NotifiedEventRecord, ESCALATION, NOTIFIED, RECORD_VERSION,
};
use crate::{event, JournalError};

/// Something that needs a person, as the daemon escalated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The escalation's id.
    pub id: i64,
    /// When it was escalated.
    pub at: Timestamp,
    /// The cluster it concerns.
    pub cluster: String,
    /// What it is about: an instance, or the cluster.
    pub subject: String,
    /// The rule that called for a person (`budget`, `single-actor` …).
    pub rule: String,
    /// What is wrong and what was (not) done, for a person.
    pub message: String,
    /// When a notification was last attempted; `None` when none was.
    pub notified_at: Option<Timestamp>,
    /// Why that attempt failed; `None` when it got through (or none was attempted).
    pub notify_error: Option<String>,
}

impl Escalation {
    /// Whether a notification got through (the last attempt succeeded).
    pub fn delivered(&self) -> bool {
        self.notified_at.is_some() && self.notify_error.is_none()
    }
}

/// What [`record`] records.
pub(crate) struct NewEscalation<'a> {
    pub(crate) at: Timestamp,
    pub(crate) cluster: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) rule: &'a str,
    pub(crate) message: &'a str,
}

/// Inserts an escalation and appends its `escalation` event (subject: its subject). Returns its
/// id.
pub(crate) fn record(
    transaction: &Transaction<'_>,
    path: &Path,
    new: &NewEscalation<'_>,
) -> Result<i64, JournalError> {
    let NewEscalation {
        at,
        cluster,
        subject,
        rule,
        message,
    } = *new;
    transaction
        .prepare_cached(
            "INSERT INTO escalations (at_ms, cluster, subject, rule, message)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|source| sqlite(path, "record an escalation", source))?
        .execute(rusqlite::params![at.0, cluster, subject, rule, message])
        .map_err(|source| sqlite(path, "record an escalation", source))?;
    let id = transaction.last_insert_rowid();
    let record = EscalationEventRecord {
        version: RECORD_VERSION,
        escalation: id,
        cluster: cluster.to_owned(),
        subject: subject.to_owned(),
        rule: rule.to_owned(),
        message: message.to_owned(),
    };
    event::append(transaction, path, at, ESCALATION, subject, &record)?;
    Ok(id)
}

/// Records one attempt to notify a person of escalation `id` (`error`: why it did not get
/// through; `None`: it did), and appends its `notified` event. An unknown escalation is a
/// [`JournalError::Escalation`], and changes nothing.
pub(crate) fn notified(
    transaction: &Transaction<'_>,
    path: &Path,
    id: i64,
    at: Timestamp,
    error: Option<&str>,
) -> Result<(), JournalError> {
    let subject: Option<String> = {
        let failed = |source| sqlite(path, "read an escalation", source);
        let mut statement = transaction
            .prepare_cached("SELECT subject FROM escalations WHERE id = ?1")
            .map_err(failed)?;
        let mut rows = statement.query([id]).map_err(failed)?;
        match rows.next().map_err(failed)? {
            Some(row) => Some(reader(path, id).text(row, 0, "subject")?),
            None => None,
        }
    };
    let Some(subject) = subject else {
        return Err(JournalError::Escalation {
            path: path.to_owned(),
            id,
            reason: "there is no such escalation".to_owned(),
        });
    };
    transaction
        .prepare_cached(
            "UPDATE escalations SET notified_at_ms = ?2, notify_error = ?3 WHERE id = ?1",
        )
        .map_err(|source| sqlite(path, "record a notification", source))?
        .execute(rusqlite::params![id, at.0, error])
        .map_err(|source| sqlite(path, "record a notification", source))?;
    let record = NotifiedEventRecord {
        version: RECORD_VERSION,
        escalation: id,
        ok: error.is_none(),
        error: error.map(str::to_owned),
    };
    event::append(transaction, path, at, NOTIFIED, &subject, &record)
}

/// The escalations at or after `since`, newest first (ties: the last recorded first).
pub(crate) fn since(
    connection: &Connection,
    path: &Path,
    since: Timestamp,
) -> Result<Vec<Escalation>, JournalError> {
    let failed = |source| sqlite(path, "read escalations", source);
    let mut statement = connection
        .prepare_cached(
            "SELECT id, at_ms, cluster, subject, rule, message, notified_at_ms, notify_error
             FROM escalations WHERE at_ms >= ?1 ORDER BY at_ms DESC, id DESC",
        )
        .map_err(failed)?;
    let mut rows = statement.query([since.0]).map_err(failed)?;
    let mut escalations = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        escalations.push(read_row(path, row)?);
    }
    Ok(escalations)
}

fn reader(path: &Path, id: i64) -> RowReader<'_> {
    RowReader {
        path,
        table: "escalations",
        row: format!("escalation {id}"),
    }
}

fn read_row(path: &Path, row: &Row<'_>) -> Result<Escalation, JournalError> {
    let unnamed = RowReader {
        path,
        table: "escalations",
        row: "an escalation".to_owned(),
    };
    let id = unnamed.integer(row, 0, "id")?;
    let reader = reader(path, id);
    Ok(Escalation {
        id,
        at: Timestamp(reader.integer(row, 1, "at_ms")?),
        cluster: reader.text(row, 2, "cluster")?,
        subject: reader.text(row, 3, "subject")?,
        rule: reader.text(row, 4, "rule")?,
        message: reader.text(row, 5, "message")?,
        notified_at: reader
            .optional_integer(row, 6, "notified_at_ms")?
            .map(Timestamp),
        notify_error: reader.optional_text(row, 7, "notify_error")?,
    })
}

fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: path.to_owned(),
        action,
        source,
    }
}
