//! The `failover_records` table (schema version 5): each failover's state, recorded anew at every
//! phase it reaches, so that a daemon started after a `kill -9` reads back exactly what its
//! predecessor did — the old primary's fence included — and carries the failover on
//! (`hadome_core::supervise::Failover::resumed`), instead of parsing plan text.
//!
//! One row per record, appended and never changed, tied to the failover's intent; its body is a
//! versioned JSON document (`"version": 1`), the journal's own serialisable form of the core's
//! [`Failover`], converted here at the journal boundary. Each record also appends a `failover`
//! event for the incident timeline.

use std::path::Path;

use hadome_core::fact::Timestamp;
use hadome_core::supervise::{Failover, FailoverPhase, FollowState, Follower};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::column::RowReader;
use crate::JournalError;

const TABLE: &str = "failover_records";

#[derive(Serialize, Deserialize)]
struct FollowerBody {
    name: String,
    application_name: String,
    /// `pending`, `followed` or `failed`.
    state: String,
}

#[derive(Serialize, Deserialize)]
struct FailoverBody {
    version: u32,
    cluster: String,
    old_primary: String,
    evidence: String,
    synchronous: Vec<String>,
    phase: String,
    fenced: bool,
    new_primary: Option<String>,
    followers: Vec<FollowerBody>,
    synchronous_restored: bool,
    stopped_because: String,
}

#[derive(Serialize)]
struct EventBody<'a> {
    version: u32,
    intent: i64,
    #[serde(flatten)]
    record: &'a FailoverBody,
}

fn follow_state_text(state: FollowState) -> &'static str {
    match state {
        FollowState::Pending => "pending",
        FollowState::Followed => "followed",
        FollowState::Failed => "failed",
    }
}

fn body_of(failover: &Failover) -> FailoverBody {
    FailoverBody {
        version: 1,
        cluster: failover.cluster.clone(),
        old_primary: failover.old_primary.clone(),
        evidence: failover.evidence.clone(),
        synchronous: failover.synchronous.clone(),
        phase: failover.phase.as_str().to_owned(),
        fenced: failover.fenced,
        new_primary: failover.new_primary.clone(),
        followers: failover
            .followers
            .iter()
            .map(|follower| FollowerBody {
                name: follower.name.clone(),
                application_name: follower.application_name.clone(),
                state: follow_state_text(follower.state).to_owned(),
            })
            .collect(),
        synchronous_restored: failover.synchronous_restored,
        stopped_because: failover.stopped_because.clone(),
    }
}

fn failover_of(body: FailoverBody, reader: &RowReader) -> Result<Failover, JournalError> {
    let phase = FailoverPhase::parse(&body.phase).ok_or_else(|| {
        reader.corrupt("body", format!("`{}` is not a failover phase", body.phase))
    })?;
    let followers = body
        .followers
        .into_iter()
        .map(|follower| {
            let state = match follower.state.as_str() {
                "pending" => FollowState::Pending,
                "followed" => FollowState::Followed,
                "failed" => FollowState::Failed,
                other => {
                    return Err(
                        reader.corrupt("body", format!("`{other}` is not a follower's state"))
                    )
                }
            };
            Ok(Follower {
                name: follower.name,
                application_name: follower.application_name,
                state,
            })
        })
        .collect::<Result<Vec<_>, JournalError>>()?;
    Ok(Failover {
        cluster: body.cluster,
        old_primary: body.old_primary,
        evidence: body.evidence,
        synchronous: body.synchronous,
        phase,
        fenced: body.fenced,
        new_primary: body.new_primary,
        followers,
        synchronous_restored: body.synchronous_restored,
        stopped_because: body.stopped_because,
    })
}

/// Appends `failover`'s state as a record of `intent` (a row and a `failover` event).
pub(crate) fn insert(
    connection: &Connection,
    path: &Path,
    intent: i64,
    at: Timestamp,
    failover: &Failover,
) -> Result<(), JournalError> {
    let body = body_of(failover);
    let text = serde_json::to_string(&body).map_err(|source| JournalError::Encode {
        path: path.to_owned(),
        what: "a failover record",
        source,
    })?;
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a failover",
        source,
    };
    connection
        .prepare_cached(
            "INSERT INTO failover_records (at_ms, intent_id, cluster, phase, body) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(failed)?
        .execute(rusqlite::params![
            at.0,
            intent,
            failover.cluster,
            body.phase,
            text
        ])
        .map_err(failed)?;
    crate::event::append(
        connection,
        path,
        at,
        crate::FAILOVER,
        &failover.cluster,
        &EventBody {
            version: 1,
            intent,
            record: &body,
        },
    )
}

/// The newest record of each intent that `filter` selects, as `(intent, failover)`, oldest intent
/// first.
fn newest(
    connection: &Connection,
    path: &Path,
    sql_filter: &str,
    parameter: rusqlite::types::Value,
) -> Result<Vec<(i64, Failover)>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the failover records",
        source,
    };
    let sql = format!(
        "SELECT id, intent_id, body FROM failover_records WHERE id IN \
         (SELECT max(id) FROM failover_records WHERE {sql_filter} GROUP BY intent_id) \
         ORDER BY intent_id"
    );
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement.query([parameter]).map_err(failed)?;
    let mut found = Vec::new();
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
        let intent = reader.integer(row, 1, "intent_id")?;
        let body: FailoverBody = serde_json::from_str(&reader.text(row, 2, "body")?)
            .map_err(|error| reader.corrupt("body", error.to_string()))?;
        if body.version != 1 {
            // A record of a newer hadome: kept in the file, not understood here.
            continue;
        }
        let failover = failover_of(body, &reader)?;
        found.push((intent, failover));
    }
    Ok(found)
}

/// The newest record of `intent`'s failover; `None` when it has none (not a failover, or one
/// recorded by a hadome older than schema version 5).
pub(crate) fn of_intent(
    connection: &Connection,
    path: &Path,
    intent: i64,
) -> Result<Option<Failover>, JournalError> {
    Ok(newest(connection, path, "intent_id = ?1", intent.into())?
        .pop()
        .map(|(_, failover)| failover))
}

/// Per cluster, its newest failover (finished, open or interrupted) as last recorded, with its
/// intent.
pub(crate) fn last_per_cluster(
    connection: &Connection,
    path: &Path,
) -> Result<Vec<(i64, Failover)>, JournalError> {
    let mut last: std::collections::BTreeMap<String, (i64, Failover)> =
        std::collections::BTreeMap::new();
    for (intent, failover) in newest(connection, path, "?1 = ?1", 1.into())? {
        last.insert(failover.cluster.clone(), (intent, failover));
    }
    Ok(last.into_values().collect())
}
