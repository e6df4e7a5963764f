//! The `last_known` table: each instance as it was the last time it answered.
//!
//! This is what lets hadome reason about a copy that stops answering: `ask rebuild db-1 --from db-3`
//! while db-1 hangs still knows where db-1's data stood. Only an answer writes a row; an
//! unreachable instance keeps the row of its last answer.
//!
//! Encodings: the system identifier (a `u64`) is decimal text; the LSN (a `u64`) is stored as the
//! signed 64-bit integer with the same bits, so it round-trips exactly (values ≥ 2^63, which
//! PostgreSQL never reaches, would show negative in `sqlite3`); the timeline history is a JSON
//! array of `[timeline, switch LSN]` pairs, or NULL when it was not read; the synchronous
//! settings are their text as read, NULL when not read (every row written before schema 9); the
//! replication timeouts are milliseconds, NULL when not read (every row written before schema 10).

use std::collections::BTreeMap;
use std::path::Path;

use hadome_core::fact::{
    History, InstanceState, KeepaliveSettings, LastKnown, SyncSettings, Timestamp,
};
use hadome_core::position::{DataPosition, Lsn, TimelineSwitch};
use rusqlite::Connection;

use crate::column::RowReader;
use crate::{summary, JournalError};

const TABLE: &str = "last_known";

/// The LSN as the SQLite integer with the same 64 bits.
pub(crate) fn lsn_to_sql(lsn: Lsn) -> i64 {
    i64::from_ne_bytes(lsn.0.to_ne_bytes())
}

/// The LSN stored as [`lsn_to_sql`] wrote it.
pub(crate) fn lsn_from_sql(value: i64) -> Lsn {
    Lsn(u64::from_ne_bytes(value.to_ne_bytes()))
}

/// Records `state`, seen at `observed_at`, as `instance`'s last known state, unless the journal
/// already holds a later observation (two processes recording passes out of order).
pub(crate) fn upsert(
    connection: &Connection,
    path: &Path,
    instance: &str,
    observed_at: Timestamp,
    state: &InstanceState,
) -> Result<(), JournalError> {
    let position = &state.position;
    let history = match &position.history {
        Some(history) => {
            let pairs: Vec<(u32, u64)> = history
                .iter()
                .map(|switch| (switch.timeline, switch.switch_lsn.0))
                .collect();
            Some(
                serde_json::to_string(&pairs).map_err(|source| JournalError::Encode {
                    path: path.to_owned(),
                    what: "a timeline history",
                    source,
                })?,
            )
        }
        None => None,
    };
    let mut statement = connection
        .prepare_cached(
            "INSERT INTO last_known (instance, system_identifier, timeline, lsn, history, was_primary, \
                 was_streaming, observed_at_ms, last_replay_at_ms, synchronous_standby_names, \
                 synchronous_commit, wal_sender_timeout_ms, wal_receiver_status_interval_ms, \
                 wal_receiver_timeout_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (instance) DO UPDATE SET
                 system_identifier = excluded.system_identifier,
                 timeline = excluded.timeline,
                 lsn = excluded.lsn,
                 history = excluded.history,
                 was_primary = excluded.was_primary,
                 was_streaming = excluded.was_streaming,
                 observed_at_ms = excluded.observed_at_ms,
                 last_replay_at_ms = excluded.last_replay_at_ms,
                 synchronous_standby_names = excluded.synchronous_standby_names,
                 synchronous_commit = excluded.synchronous_commit,
                 wal_sender_timeout_ms = excluded.wal_sender_timeout_ms,
                 wal_receiver_status_interval_ms = excluded.wal_receiver_status_interval_ms,
                 wal_receiver_timeout_ms = excluded.wal_receiver_timeout_ms
             WHERE typeof(last_known.observed_at_ms) != 'integer'
                 OR excluded.observed_at_ms >= last_known.observed_at_ms",
        )
        .map_err(|source| sqlite(path, source))?;
    statement
        .execute(rusqlite::params![
            instance,
            position.system_identifier.to_string(),
            position.timeline,
            lsn_to_sql(position.lsn),
            history,
            !state.in_recovery,
            summary::is_streaming(state),
            observed_at.0,
            state.last_replay_at.map(|at| at.0),
            state.synchronous.standby_names,
            state.synchronous.commit,
            millis_to_sql(state.keepalive.sender_timeout_ms),
            millis_to_sql(state.keepalive.receiver_status_interval_ms),
            millis_to_sql(state.keepalive.receiver_timeout_ms),
        ])
        .map_err(|source| sqlite(path, source))?;
    Ok(())
}

/// A duration in milliseconds as SQLite's integer (saturating: no setting reaches 2^63 ms).
fn millis_to_sql(ms: Option<u64>) -> Option<i64> {
    ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

fn sqlite(path: &Path, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: path.to_owned(),
        action: "record an instance's last known state",
        source,
    }
}

/// Every instance's last known state.
pub(crate) fn read_all(connection: &Connection, path: &Path) -> Result<History, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the last known states",
        source,
    };
    let mut statement = connection
        .prepare_cached(
            "SELECT instance, system_identifier, timeline, lsn, history, was_primary, was_streaming, \
                 observed_at_ms, last_replay_at_ms, synchronous_standby_names, synchronous_commit, \
                 wal_sender_timeout_ms, wal_receiver_status_interval_ms, wal_receiver_timeout_ms
             FROM last_known ORDER BY instance",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut last_known = BTreeMap::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let unnamed = RowReader {
            path,
            table: TABLE,
            row: "a row".to_owned(),
        };
        let instance = unnamed.text(row, 0, "instance")?;
        let reader = RowReader {
            path,
            table: TABLE,
            row: format!("instance `{instance}`"),
        };
        let known = read_row(&reader, row)?;
        last_known.insert(instance, known);
    }
    Ok(History {
        last_known,
        ..History::default()
    })
}

fn read_row(reader: &RowReader<'_>, row: &rusqlite::Row<'_>) -> Result<LastKnown, JournalError> {
    let system_identifier_text = reader.text(row, 1, "system_identifier")?;
    let system_identifier = system_identifier_text.parse::<u64>().map_err(|error| {
        reader.corrupt(
            "system_identifier",
            format!("{system_identifier_text:?} is not a decimal u64: {error}"),
        )
    })?;
    let timeline = timeline(reader, reader.integer(row, 2, "timeline")?, "timeline")?;
    let lsn = lsn_from_sql(reader.integer(row, 3, "lsn")?);
    let history = match reader.optional_text(row, 4, "history")? {
        None => None,
        Some(text) => {
            let pairs: Vec<(u32, u64)> = serde_json::from_str(&text).map_err(|error| {
                reader.corrupt(
                    "history",
                    format!("not a JSON array of [timeline, lsn] pairs: {error}"),
                )
            })?;
            Some(
                pairs
                    .into_iter()
                    .map(|(timeline, lsn)| TimelineSwitch {
                        timeline,
                        switch_lsn: Lsn(lsn),
                    })
                    .collect(),
            )
        }
    };
    Ok(LastKnown {
        position: DataPosition {
            system_identifier,
            timeline,
            lsn,
            history,
        },
        was_primary: reader.boolean(row, 5, "was_primary")?,
        was_streaming: reader.boolean(row, 6, "was_streaming")?,
        observed_at: Timestamp(reader.integer(row, 7, "observed_at_ms")?),
        last_replay_at: reader
            .optional_integer(row, 8, "last_replay_at_ms")?
            .map(Timestamp),
        synchronous: SyncSettings {
            standby_names: reader.optional_text(row, 9, "synchronous_standby_names")?,
            commit: reader.optional_text(row, 10, "synchronous_commit")?,
        },
        keepalive: KeepaliveSettings {
            sender_timeout_ms: millis(reader, row, 11, "wal_sender_timeout_ms")?,
            receiver_status_interval_ms: millis(
                reader,
                row,
                12,
                "wal_receiver_status_interval_ms",
            )?,
            receiver_timeout_ms: millis(reader, row, 13, "wal_receiver_timeout_ms")?,
        },
    })
}

/// A duration in milliseconds that [`millis_to_sql`] wrote: NULL is "not read", a negative
/// number is corruption.
fn millis(
    reader: &RowReader<'_>,
    row: &rusqlite::Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<u64>, JournalError> {
    reader
        .optional_integer(row, index, column)?
        .map(|value| {
            u64::try_from(value).map_err(|_| {
                reader.corrupt(
                    column,
                    format!("{value} is not a duration in milliseconds (0 or more)"),
                )
            })
        })
        .transpose()
}

fn timeline(reader: &RowReader<'_>, value: i64, column: &'static str) -> Result<u32, JournalError> {
    u32::try_from(value)
        .map_err(|_| reader.corrupt(column, format!("{value} is not a timeline (0 to 2^32 - 1)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_keep_their_bits_through_sqlite_integers() {
        for value in [
            0,
            1,
            0x5000000,
            i64::MAX as u64,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(lsn_from_sql(lsn_to_sql(Lsn(value))), Lsn(value));
        }
        assert_eq!(
            lsn_to_sql(Lsn(0x1_0000_0000)),
            0x1_0000_0000,
            "ordinary LSNs read as themselves"
        );
    }
}
