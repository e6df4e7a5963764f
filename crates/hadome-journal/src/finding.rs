//! The `findings` table (schema version 8): the findings `hadome check` raised and that are still
//! open, so that the journal can tell when a finding was raised and when it cleared (the incident
//! timeline's "what was wrong, from when to when").
//!
//! A finding is identified by its rule and its subject alone: the same rule on the same subject
//! with other numbers in its message (a lag that grew) is the same finding, whose stored message,
//! severity and alternative follow the latest pass; it is not raised again. A finding of the
//! pass that is not open appends a `finding-raised` event; an open finding absent from the pass
//! appends `finding-cleared` and is closed (`cleared_at_ms` set: rows are never deleted).
//!
//! Only a pass that observed everything may record its findings (`hadome check`): a finding
//! absent from a partial pass would be cleared though nobody looked.

use std::collections::BTreeMap;
use std::path::Path;

use hadome_core::fact::Timestamp;
use hadome_core::finding::Finding;
use rusqlite::{Connection, Row};
use serde::Serialize;

use crate::column::RowReader;
use crate::record::RECORD_VERSION;
use crate::{event, JournalError};

/// The kind of an event recording a finding raised.
pub(crate) const FINDING_RAISED: &str = "finding-raised";

/// The kind of an event recording a finding cleared.
pub(crate) const FINDING_CLEARED: &str = "finding-cleared";

/// A finding the journal holds open (or held, once cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFinding {
    /// Its row's id, which its events name.
    pub id: i64,
    /// The rule's stable id.
    pub rule: String,
    /// `info`, `warn`, `needs-human`, `deny`: as the latest pass that raised it judged it.
    pub severity: String,
    /// What it is about: an instance, cluster, host, member or route.
    pub subject: String,
    /// Its message as the latest pass wrote it, numbers included.
    pub message: String,
    /// What to do instead, where there is something.
    pub alternative: Option<String>,
    /// When it was raised.
    pub raised_at: Timestamp,
}

/// What [`crate::Journal::record_findings`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingChanges {
    /// Findings that were not open and are now, in the order the pass gave them.
    pub raised: Vec<OpenFinding>,
    /// Findings that were open and are absent from the pass, closed now, by rule then subject
    /// (with their last message).
    pub cleared: Vec<OpenFinding>,
}

/// The body of a `finding-raised` event.
#[derive(Serialize)]
struct RaisedBody<'a> {
    version: u32,
    /// The finding's id (its row).
    finding: i64,
    rule: &'a str,
    severity: &'a str,
    subject: &'a str,
    message: &'a str,
    alternative: Option<&'a str>,
}

/// The body of a `finding-cleared` event.
#[derive(Serialize)]
struct ClearedBody<'a> {
    version: u32,
    finding: i64,
    rule: &'a str,
    severity: &'a str,
    subject: &'a str,
    /// Its last message.
    message: &'a str,
    raised_at_ms: i64,
}

/// The columns [`read_finding`] reads, in its order.
const COLUMNS: &str = "id, rule, severity, subject, message, alternative, raised_at_ms";

/// Records the findings of one complete pass at `at`, in the caller's transaction.
pub(crate) fn record(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    findings: &[Finding],
) -> Result<FindingChanges, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record findings",
        source,
    };
    // One finding per (rule, subject): should a rule report one subject twice, its messages are
    // kept together, worst severity first as the pass sorted them.
    let mut now: Vec<(&str, &str, String, &str, Option<&str>)> = Vec::new();
    for finding in findings {
        let same = now
            .iter_mut()
            .find(|(rule, subject, ..)| *rule == finding.rule && *subject == finding.subject);
        match same {
            Some((_, _, message, _, _)) => {
                message.push_str("; ");
                message.push_str(&finding.message);
            }
            None => now.push((
                finding.rule,
                finding.subject.as_str(),
                finding.message.clone(),
                finding.severity.as_str(),
                finding.alternative.as_deref(),
            )),
        }
    }
    let mut open: BTreeMap<(String, String), OpenFinding> = read_open(connection, path)?
        .into_iter()
        .map(|finding| ((finding.rule.clone(), finding.subject.clone()), finding))
        .collect();
    let mut changes = FindingChanges::default();
    for (rule, subject, message, severity, alternative) in now {
        if let Some(known) = open.remove(&(rule.to_owned(), subject.to_owned())) {
            if known.message != message
                || known.severity != severity
                || known.alternative.as_deref() != alternative
            {
                connection
                    .prepare_cached(
                        "UPDATE findings SET message = ?2, severity = ?3, alternative = ?4 \
                         WHERE id = ?1",
                    )
                    .map_err(failed)?
                    .execute(rusqlite::params![known.id, message, severity, alternative])
                    .map_err(failed)?;
            }
            continue;
        }
        connection
            .prepare_cached(
                "INSERT INTO findings (rule, subject, severity, message, alternative, raised_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(failed)?
            .execute(rusqlite::params![
                rule,
                subject,
                severity,
                message,
                alternative,
                at.0
            ])
            .map_err(failed)?;
        let id = connection.last_insert_rowid();
        let body = RaisedBody {
            version: RECORD_VERSION,
            finding: id,
            rule,
            severity,
            subject,
            message: &message,
            alternative,
        };
        event::append(connection, path, at, FINDING_RAISED, subject, &body)?;
        changes.raised.push(OpenFinding {
            id,
            rule: rule.to_owned(),
            severity: severity.to_owned(),
            subject: subject.to_owned(),
            message,
            alternative: alternative.map(str::to_owned),
            raised_at: at,
        });
    }
    for gone in open.into_values() {
        connection
            .prepare_cached("UPDATE findings SET cleared_at_ms = ?2 WHERE id = ?1")
            .map_err(failed)?
            .execute(rusqlite::params![gone.id, at.0])
            .map_err(failed)?;
        let body = ClearedBody {
            version: RECORD_VERSION,
            finding: gone.id,
            rule: &gone.rule,
            severity: &gone.severity,
            subject: &gone.subject,
            message: &gone.message,
            raised_at_ms: gone.raised_at.0,
        };
        event::append(connection, path, at, FINDING_CLEARED, &gone.subject, &body)?;
        changes.cleared.push(gone);
    }
    Ok(changes)
}

/// The open findings, by rule then subject.
pub(crate) fn read_open(
    connection: &Connection,
    path: &Path,
) -> Result<Vec<OpenFinding>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the open findings",
        source,
    };
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM findings WHERE cleared_at_ms IS NULL ORDER BY rule, subject"
        ))
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut open = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        open.push(read_finding(path, row)?);
    }
    Ok(open)
}

/// Reads one row selected with [`COLUMNS`].
fn read_finding(path: &Path, row: &Row<'_>) -> Result<OpenFinding, JournalError> {
    let id = RowReader {
        path,
        table: "findings",
        row: "a finding".to_owned(),
    }
    .integer(row, 0, "id")?;
    let reader = RowReader {
        path,
        table: "findings",
        row: format!("finding {id}"),
    };
    Ok(OpenFinding {
        id,
        rule: reader.text(row, 1, "rule")?,
        severity: reader.text(row, 2, "severity")?,
        subject: reader.text(row, 3, "subject")?,
        message: reader.text(row, 4, "message")?,
        alternative: reader.optional_text(row, 5, "alternative")?,
        raised_at: Timestamp(reader.integer(row, 6, "raised_at_ms")?),
    })
}

#[cfg(test)]
mod tests {
    use hadome_core::finding::Severity;

    use crate::{Journal, KIND_FINDING_CLEARED, KIND_FINDING_RAISED};

    use super::*;

    fn finding(rule: &'static str, subject: &str, message: &str) -> Finding {
        Finding {
            rule,
            severity: Severity::Deny,
            subject: subject.to_owned(),
            message: message.to_owned(),
            alternative: Some("rebuild it".to_owned()),
        }
    }

    fn journal(dir: &tempfile::TempDir) -> Journal {
        Journal::open(&dir.path().join("journal.sqlite")).unwrap()
    }

    /// Every finding event as (kind, subject, rule, message).
    fn events(journal: &Journal) -> Vec<(String, String, String, String)> {
        journal
            .events_since(Timestamp(0))
            .unwrap()
            .into_iter()
            .filter(|event| event.kind.starts_with("finding-"))
            .map(|event| {
                (
                    event.kind,
                    event.subject,
                    event.body["rule"].as_str().unwrap().to_owned(),
                    event.body["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_finding_is_raised_once_and_cleared_when_a_pass_no_longer_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = journal(&dir);
        let stalled = finding("replication-stalled", "db-3", "behind by 67.0 MiB");
        let unapplied = finding("config-applied", "db-4", "work_mem is 64MB on disk");

        let first = journal
            .record_findings(Timestamp(1_000), &[stalled.clone(), unapplied.clone()])
            .unwrap();
        assert_eq!(
            first
                .raised
                .iter()
                .map(|f| (f.rule.as_str(), f.subject.as_str(), f.raised_at))
                .collect::<Vec<_>>(),
            [
                ("replication-stalled", "db-3", Timestamp(1_000)),
                ("config-applied", "db-4", Timestamp(1_000))
            ]
        );
        assert!(first.cleared.is_empty());

        let again = journal
            .record_findings(Timestamp(2_000), &[stalled.clone(), unapplied])
            .unwrap();
        assert_eq!(
            again,
            FindingChanges::default(),
            "nothing new, nothing gone"
        );

        let later = journal
            .record_findings(Timestamp(3_000), &[stalled])
            .unwrap();
        assert!(later.raised.is_empty());
        assert_eq!(later.cleared.len(), 1);
        assert_eq!(
            (later.cleared[0].rule.as_str(), later.cleared[0].raised_at),
            ("config-applied", Timestamp(1_000))
        );

        let clean = journal.record_findings(Timestamp(4_000), &[]).unwrap();
        assert_eq!(clean.cleared.len(), 1);
        assert!(journal.open_findings().unwrap().is_empty());

        let raised = KIND_FINDING_RAISED.to_owned();
        let cleared = KIND_FINDING_CLEARED.to_owned();
        let text = |s: &str| s.to_owned();
        assert_eq!(
            events(&journal),
            [
                (
                    raised.clone(),
                    text("db-3"),
                    text("replication-stalled"),
                    text("behind by 67.0 MiB")
                ),
                (
                    raised,
                    text("db-4"),
                    text("config-applied"),
                    text("work_mem is 64MB on disk")
                ),
                (
                    cleared.clone(),
                    text("db-4"),
                    text("config-applied"),
                    text("work_mem is 64MB on disk")
                ),
                (
                    cleared,
                    text("db-3"),
                    text("replication-stalled"),
                    text("behind by 67.0 MiB")
                ),
            ]
        );
    }

    #[test]
    fn new_numbers_update_the_open_finding_without_raising_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = journal(&dir);
        journal
            .record_findings(
                Timestamp(1_000),
                &[finding("replication-stalled", "db-3", "behind by 1 MiB")],
            )
            .unwrap();
        let mut worse = finding("replication-stalled", "db-3", "behind by 9 MiB");
        worse.severity = Severity::NeedsHuman;
        let changes = journal.record_findings(Timestamp(2_000), &[worse]).unwrap();
        assert_eq!(changes, FindingChanges::default());
        let open = journal.open_findings().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (
                open[0].message.as_str(),
                open[0].severity.as_str(),
                open[0].raised_at
            ),
            ("behind by 9 MiB", "needs-human", Timestamp(1_000)),
            "the message and severity follow the latest pass; raised when first seen"
        );
        journal.record_findings(Timestamp(3_000), &[]).unwrap();
        let events = events(&journal);
        assert_eq!(events.len(), 2, "raised once, cleared once: {events:?}");
        assert_eq!(
            events[1].3, "behind by 9 MiB",
            "cleared with its last message"
        );
    }

    #[test]
    fn the_same_rule_on_another_subject_is_another_finding_and_duplicates_are_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = journal(&dir);
        let changes = journal
            .record_findings(
                Timestamp(1_000),
                &[
                    finding("config-applied", "db-4", "work_mem"),
                    finding("config-applied", "db-4", "shared_buffers"),
                    finding("config-applied", "db-2", "work_mem"),
                ],
            )
            .unwrap();
        assert_eq!(changes.raised.len(), 2);
        assert_eq!(changes.raised[0].message, "work_mem; shared_buffers");
        assert_eq!(changes.raised[1].subject, "db-2");
    }

    #[test]
    fn open_findings_survive_a_reopened_journal_and_a_finding_can_be_raised_again() {
        let dir = tempfile::tempdir().unwrap();
        let stalled = finding("replication-stalled", "db-3", "behind");
        {
            let mut journal = journal(&dir);
            journal
                .record_findings(Timestamp(1_000), std::slice::from_ref(&stalled))
                .unwrap();
        }
        let mut journal = journal(&dir);
        assert_eq!(journal.open_findings().unwrap().len(), 1);
        journal.record_findings(Timestamp(2_000), &[]).unwrap();
        let raised = journal
            .record_findings(Timestamp(3_000), std::slice::from_ref(&stalled))
            .unwrap()
            .raised;
        assert_eq!(raised.len(), 1, "cleared, then raised anew");
        assert_eq!(raised[0].raised_at, Timestamp(3_000));
        let kinds: Vec<String> = events(&journal).into_iter().map(|e| e.0).collect();
        assert_eq!(
            kinds,
            [
                KIND_FINDING_RAISED,
                KIND_FINDING_CLEARED,
                KIND_FINDING_RAISED
            ]
        );
    }
}
