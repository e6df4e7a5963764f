//! An instance's summary: the few facts whose change is worth an event.
//!
//! The journal appends a `fact-changed` event when an instance's summary differs from the previous
//! pass's: first seen, reachable or not, primary or standby, timeline, streaming or not, the number
//! of unapplied settings. The LSN is deliberately absent: a primary that writes would otherwise
//! "change" on every pass. The event's body carries the position at the change instead.
//! An unreachable instance whose error changes wording but not kind (a connection reset on one
//! pass, an early EOF on the next, both "down") has not changed either ([`unchanged`]).

use hadome_core::fact::{FailureKind, ProbeOutcome};

const UNREACHABLE: &str = "unreachable: ";

/// Whether `after` tells nothing new after `before`: the same text, or both unreachable for the
/// same reason in other words — down both times (refused, reset, closed: the wording depends on
/// the moment the connection died) or timed out both times. Any other failure (authentication, a
/// bad conninfo, a query error) is compared word for word: its text is the reason.
pub(crate) fn unchanged(before: &str, after: &str) -> bool {
    if before == after {
        return true;
    }
    let (Some(before), Some(after)) = (
        before.strip_prefix(UNREACHABLE),
        after.strip_prefix(UNREACHABLE),
    ) else {
        return false;
    };
    let kind = FailureKind::of_error(before);
    matches!(kind, FailureKind::Down | FailureKind::Timeout) && kind == FailureKind::of_error(after)
}

/// The summary of one probe, as short text: `primary, timeline 2`,
/// `standby, timeline 1, not streaming, 1 unapplied setting`, `unreachable: <error>`.
pub(crate) fn of(outcome: &ProbeOutcome) -> String {
    let state = match outcome {
        ProbeOutcome::Answered(state) => state,
        ProbeOutcome::Unreachable { error, .. } => return format!("{UNREACHABLE}{error}"),
    };
    let mut summary = if state.in_recovery {
        let streaming = if is_streaming(state) {
            "streaming"
        } else {
            "not streaming"
        };
        format!("standby, timeline {}, {streaming}", state.position.timeline)
    } else {
        format!("primary, timeline {}", state.position.timeline)
    };
    match state.unapplied_settings.len() {
        0 => {}
        1 => summary.push_str(", 1 unapplied setting"),
        count => summary.push_str(&format!(", {count} unapplied settings")),
    }
    summary
}

/// Whether the instance's WAL receiver streams.
pub(crate) fn is_streaming(state: &hadome_core::fact::InstanceState) -> bool {
    state
        .wal_receiver
        .as_ref()
        .is_some_and(|receiver| receiver.status.is_streaming())
}

/// The summary recorded for `instance` by the previous pass, if any.
pub(crate) fn recorded(
    connection: &rusqlite::Connection,
    path: &std::path::Path,
    instance: &str,
) -> Result<Option<String>, crate::JournalError> {
    let failed = |source| crate::JournalError::Sqlite {
        path: path.to_owned(),
        action: "read a summary",
        source,
    };
    let mut statement = connection
        .prepare_cached("SELECT summary FROM summaries WHERE instance = ?1")
        .map_err(failed)?;
    let mut rows = statement.query([instance]).map_err(failed)?;
    let Some(row) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    let reader = crate::column::RowReader {
        path,
        table: "summaries",
        row: format!("instance `{instance}`"),
    };
    reader.text(row, 0, "summary").map(Some)
}

/// Records `summary` as `instance`'s current one.
pub(crate) fn record(
    connection: &rusqlite::Connection,
    path: &std::path::Path,
    instance: &str,
    summary: &str,
) -> Result<(), crate::JournalError> {
    let failed = |source| crate::JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a summary",
        source,
    };
    connection
        .prepare_cached(
            "INSERT INTO summaries (instance, summary) VALUES (?1, ?2)
             ON CONFLICT (instance) DO UPDATE SET summary = excluded.summary",
        )
        .map_err(failed)?
        .execute([instance, summary])
        .map_err(failed)?;
    Ok(())
}
