//! The `intents` and `intent_steps` tables: what `hadome run` set out to do, each step, and how it
//! ended.
//!
//! The executor's rule is that nothing executes without a journaled intent, and that the outcome
//! is journaled after, with each step in between. An intent whose outcome columns are NULL is
//! *open*: the process that recorded it is still at work, or died mid-action (kill -9, power
//! loss), and a later process finds it with [`open`].
//!
//! Every write here is one `BEGIN IMMEDIATE` transaction committed with `synchronous=FULL`
//! ([`durably`]), and appends its events (`intent`, `override`, `step`, `outcome`) in the same
//! transaction, so the tables and the event log never disagree.

use std::path::Path;

use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use rusqlite::{Connection, Row, Transaction, TransactionBehavior};

use crate::column::RowReader;
use crate::record::{
    ActionRecord, IntentEventRecord, OutcomeEventRecord, OverrideEventRecord, OverrideRecord,
    StepEventRecord, INTENT, OUTCOME, OVERRIDE, RECORD_VERSION, STEP,
};
use crate::{event, JournalError};

const INTENTS: &str = "intents";
const STEPS: &str = "intent_steps";

/// A rule whose finding an intent goes ahead despite, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The rule's stable id (`overwrite-older`, `stale-facts` …).
    pub rule: String,
    /// Why the actor overrode it, in their words.
    pub reason: String,
}

/// An intent recorded and never closed: what a process that died mid-action left (or what a
/// process still at work is doing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIntent {
    /// The intent's id.
    pub id: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The action as people read it: `rebuild db-1 from db-3`.
    pub action_text: String,
    /// The action's name on the command line: `rebuild`.
    pub action_name: String,
    /// The instance acted upon.
    pub target: String,
    /// Where a rebuild copies from.
    pub source: Option<String>,
    /// The plan's steps, in order.
    pub plan: Vec<String>,
    /// Who asked.
    pub actor: String,
    /// The steps recorded as done (not failed), in the order they were recorded. Failed steps
    /// are in [`Journal::intent`](crate::Journal::intent).
    pub steps_done: Vec<String>,
}

/// One intent with its steps and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRecord {
    /// The intent's id.
    pub id: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// The action as people read it: `rebuild db-1 from db-3`.
    pub action_text: String,
    /// The verdict as assessed: `allow`, `allow-after`, `needs-human`, `deny`.
    pub verdict: String,
    /// The plan's steps, in order.
    pub plan: Vec<String>,
    /// The overridden rules, in the order given.
    pub overrides: Vec<Override>,
    /// Who asked.
    pub actor: String,
    /// The steps recorded, in the order they were recorded.
    pub steps: Vec<StepRecord>,
    /// How it ended; `None` while it is open.
    pub outcome: Option<OutcomeRecord>,
}

/// One step of an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// When it was recorded.
    pub at: Timestamp,
    /// The step, as the plan names it.
    pub step: String,
    /// Done (`true`) or failed.
    pub ok: bool,
    /// One line: what was done, or what went wrong.
    pub detail: String,
}

/// How an intent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRecord {
    /// When it was recorded.
    pub at: Timestamp,
    /// Succeeded (`true`) or failed.
    pub ok: bool,
    /// One line: what was done, or what went wrong.
    pub detail: String,
}

/// Runs `write` in one `BEGIN IMMEDIATE` transaction, committed with `synchronous=FULL`.
///
/// The journal otherwise runs at `synchronous=NORMAL`. In WAL mode, a NORMAL commit survives the
/// process dying (kill -9, abort, out of memory: the WAL is in the OS's page cache), but not a
/// power loss or an OS crash: the WAL is fsynced only at checkpoints, so the last transactions
/// can roll back. An intent must survive both, since hadome acts on the estate as soon as
/// `record_intent` returns, and a lost intent would leave an action with no trace; a lost step or
/// outcome would report a finished action as open, or hide a failure. FULL fsyncs the WAL at each
/// commit, which also makes every NORMAL commit before it durable. Observation passes keep NORMAL
/// and their speed: the switch back follows the commit. (`PRAGMA synchronous` cannot change
/// inside a transaction, hence around it.)
pub(crate) fn durably<T>(
    connection: &mut Connection,
    path: &Path,
    action: &'static str,
    write: impl FnOnce(&Transaction<'_>) -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action,
        source,
    };
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(failed)?;
    let result = (|| {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let value = write(&transaction)?;
        transaction.commit().map_err(failed)?;
        Ok(value)
    })();
    // Should this fail (it reads and writes nothing in the file), the connection stays at FULL:
    // slower, never less safe. The write's own result is what the caller must see.
    let _ = connection.pragma_update(None, "synchronous", "NORMAL");
    result
}

/// An intent to record, as `Journal::record_intent` received it.
pub(crate) struct NewIntent<'a> {
    pub(crate) at: Timestamp,
    pub(crate) action: ActionRecord,
    pub(crate) verdict: Verdict,
    pub(crate) plan: &'a [String],
    pub(crate) overrides: &'a [Override],
    pub(crate) actor: &'a str,
}

/// Inserts an intent and appends its `intent` event and one `override` event per override.
/// Returns its id.
pub(crate) fn insert(
    transaction: &Transaction<'_>,
    path: &Path,
    new: &NewIntent<'_>,
) -> Result<i64, JournalError> {
    let NewIntent {
        at,
        action: ref action_record,
        verdict,
        plan,
        overrides,
        actor,
    } = *new;
    let override_records: Vec<OverrideRecord> = overrides
        .iter()
        .map(|item| OverrideRecord {
            rule: item.rule.clone(),
            reason: item.reason.clone(),
        })
        .collect();
    let encode = |what, result: serde_json::Result<String>| {
        result.map_err(|source| JournalError::Encode {
            path: path.to_owned(),
            what,
            source,
        })
    };
    let plan_json = encode("an intent's plan", serde_json::to_string(plan))?;
    let overrides_json = encode(
        "an intent's overrides",
        serde_json::to_string(&override_records),
    )?;
    transaction
        .prepare_cached(
            "INSERT INTO intents (at_ms, action_text, action_name, target, source, verdict, plan, \
                 overrides, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(|source| sqlite(path, "record an intent", source))?
        .execute(rusqlite::params![
            at.0,
            action_record.text,
            action_record.name,
            action_record.target,
            action_record.source,
            verdict.as_str(),
            plan_json,
            overrides_json,
            actor,
        ])
        .map_err(|source| sqlite(path, "record an intent", source))?;
    let id = transaction.last_insert_rowid();

    let target = action_record.target.as_str();
    let intent = IntentEventRecord {
        version: RECORD_VERSION,
        intent: id,
        action: action_record.clone(),
        verdict: verdict.as_str().to_owned(),
        plan: plan.to_vec(),
        overrides: override_records.clone(),
        actor: actor.to_owned(),
    };
    event::append(transaction, path, at, INTENT, target, &intent)?;
    for record in override_records {
        let event = OverrideEventRecord {
            version: RECORD_VERSION,
            intent: id,
            rule: record.rule,
            reason: record.reason,
            actor: actor.to_owned(),
            action: action_record.clone(),
        };
        event::append(transaction, path, at, OVERRIDE, target, &event)?;
    }
    Ok(id)
}

/// Inserts one step of the open intent `intent` and appends its `step` event.
pub(crate) fn insert_step(
    transaction: &Transaction<'_>,
    path: &Path,
    intent: i64,
    at: Timestamp,
    step: &str,
    ok: bool,
    detail: &str,
) -> Result<(), JournalError> {
    let target = open_target(transaction, path, intent)?;
    transaction
        .prepare_cached(
            "INSERT INTO intent_steps (intent, at_ms, step, ok, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|source| sqlite(path, "record a step", source))?
        .execute(rusqlite::params![intent, at.0, step, ok, detail])
        .map_err(|source| sqlite(path, "record a step", source))?;
    let record = StepEventRecord {
        version: RECORD_VERSION,
        intent,
        step: step.to_owned(),
        ok,
        detail: detail.to_owned(),
    };
    event::append(transaction, path, at, STEP, &target, &record)
}

/// Closes the open intent `intent` and appends its `outcome` event.
pub(crate) fn close(
    transaction: &Transaction<'_>,
    path: &Path,
    intent: i64,
    at: Timestamp,
    ok: bool,
    detail: &str,
) -> Result<(), JournalError> {
    let target = open_target(transaction, path, intent)?;
    transaction
        .prepare_cached(
            "UPDATE intents SET outcome_at_ms = ?2, outcome_ok = ?3, outcome_detail = ?4
             WHERE id = ?1 AND outcome_at_ms IS NULL",
        )
        .map_err(|source| sqlite(path, "record an outcome", source))?
        .execute(rusqlite::params![intent, at.0, ok, detail])
        .map_err(|source| sqlite(path, "record an outcome", source))?;
    let record = OutcomeEventRecord {
        version: RECORD_VERSION,
        intent,
        ok,
        detail: detail.to_owned(),
    };
    event::append(transaction, path, at, OUTCOME, &target, &record)
}

/// The target of `intent`, which must exist and be open; otherwise a [`JournalError::Intent`].
fn open_target(connection: &Connection, path: &Path, intent: i64) -> Result<String, JournalError> {
    let failed = |source| sqlite(path, "read an intent", source);
    let mut statement = connection
        .prepare_cached("SELECT target, outcome_at_ms, outcome_ok FROM intents WHERE id = ?1")
        .map_err(failed)?;
    let mut rows = statement.query([intent]).map_err(failed)?;
    let refused = |reason: String| JournalError::Intent {
        path: path.to_owned(),
        id: intent,
        reason,
    };
    let Some(row) = rows.next().map_err(failed)? else {
        return Err(refused("there is no such intent".to_owned()));
    };
    let reader = intent_reader(path, intent);
    let target = reader.text(row, 0, "target")?;
    if let Some(closed_at) = reader.optional_integer(row, 1, "outcome_at_ms")? {
        let ended = match reader.optional_boolean(row, 2, "outcome_ok")? {
            Some(true) => "succeeded",
            Some(false) => "failed",
            None => "ended",
        };
        return Err(refused(format!(
            "it is closed already (it {ended} at {closed_at} ms)"
        )));
    }
    Ok(target)
}

/// The columns [`read_row`] reads, in its order.
const COLUMNS: &str = "id, at_ms, action_text, action_name, target, source, verdict, plan, \
                       overrides, actor, outcome_at_ms, outcome_ok, outcome_detail";

/// One row of `intents`, read and checked.
struct IntentRow {
    id: i64,
    at: Timestamp,
    action_text: String,
    action_name: String,
    target: String,
    source: Option<String>,
    verdict: String,
    plan: Vec<String>,
    overrides: Vec<Override>,
    actor: String,
    outcome: Option<OutcomeRecord>,
}

/// The intent `id` with its steps and outcome, if there is one.
pub(crate) fn read(
    connection: &Connection,
    path: &Path,
    id: i64,
) -> Result<Option<IntentRecord>, JournalError> {
    let failed = |source| sqlite(path, "read an intent", source);
    let mut statement = connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM intents WHERE id = ?1"))
        .map_err(failed)?;
    let mut rows = statement.query([id]).map_err(failed)?;
    let Some(row) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    let intent = read_row(path, row)?;
    let steps = steps(connection, path, intent.id)?;
    Ok(Some(IntentRecord {
        id: intent.id,
        at: intent.at,
        action_text: intent.action_text,
        verdict: intent.verdict,
        plan: intent.plan,
        overrides: intent.overrides,
        actor: intent.actor,
        steps,
        outcome: intent.outcome,
    }))
}

/// The intents never closed, oldest first (ties in the order they were recorded).
pub(crate) fn open(connection: &Connection, path: &Path) -> Result<Vec<OpenIntent>, JournalError> {
    let failed = |source| sqlite(path, "read the open intents", source);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM intents WHERE outcome_at_ms IS NULL ORDER BY at_ms, id"
        ))
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut open = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let intent = read_row(path, row)?;
        let steps_done = steps(connection, path, intent.id)?
            .into_iter()
            .filter(|step| step.ok)
            .map(|step| step.step)
            .collect();
        open.push(OpenIntent {
            id: intent.id,
            at: intent.at,
            action_text: intent.action_text,
            action_name: intent.action_name,
            target: intent.target,
            source: intent.source,
            plan: intent.plan,
            actor: intent.actor,
            steps_done,
        });
    }
    Ok(open)
}

/// How many intents `actor` recorded for `action_name` on one of `targets`, at or after `since`
/// (served by the `intents_budget` index).
pub(crate) fn count(
    connection: &Connection,
    path: &Path,
    actor: &str,
    action_name: &str,
    targets: &[&str],
    since: Timestamp,
) -> Result<u32, JournalError> {
    if targets.is_empty() {
        return Ok(0);
    }
    let failed = |source| sqlite(path, "count intents", source);
    // Placeholders ?3, ?4 … for the targets: their number varies, hence one statement per count.
    let placeholders: Vec<String> = (0..targets.len())
        .map(|index| format!("?{}", index + 3))
        .collect();
    let sql = format!(
        "SELECT count(*) FROM intents WHERE actor = ?1 AND action_name = ?2 AND target IN ({}) \
         AND at_ms >= ?{}",
        placeholders.join(", "),
        targets.len() + 3
    );
    let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(targets.len() + 3);
    values.push(actor.to_owned().into());
    values.push(action_name.to_owned().into());
    values.extend(targets.iter().map(|target| (*target).to_owned().into()));
    values.push(since.0.into());
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(values))
        .map_err(failed)?;
    let count = match rows.next().map_err(failed)? {
        Some(row) => RowReader {
            path,
            table: INTENTS,
            row: "a count of intents".to_owned(),
        }
        .integer(row, 0, "count(*)")?,
        None => 0,
    };
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

fn intent_reader(path: &Path, id: i64) -> RowReader<'_> {
    RowReader {
        path,
        table: INTENTS,
        row: format!("intent {id}"),
    }
}

/// Reads one row selected with [`COLUMNS`].
fn read_row(path: &Path, row: &Row<'_>) -> Result<IntentRow, JournalError> {
    let unnamed = RowReader {
        path,
        table: INTENTS,
        row: "an intent".to_owned(),
    };
    let id = unnamed.integer(row, 0, "id")?;
    let reader = intent_reader(path, id);

    let verdict = reader.text(row, 6, "verdict")?;
    let known = [
        Verdict::Allow,
        Verdict::AllowAfter,
        Verdict::NeedsHuman,
        Verdict::Deny,
    ];
    if !known.iter().any(|known| known.as_str() == verdict) {
        return Err(reader.corrupt(
            "verdict",
            format!("{verdict:?} is not a verdict (allow, allow-after, needs-human, deny)"),
        ));
    }
    let plan_text = reader.text(row, 7, "plan")?;
    let plan: Vec<String> = serde_json::from_str(&plan_text)
        .map_err(|error| reader.corrupt("plan", format!("not a JSON array of strings: {error}")))?;
    let overrides_text = reader.text(row, 8, "overrides")?;
    let overrides: Vec<OverrideRecord> =
        serde_json::from_str(&overrides_text).map_err(|error| {
            reader.corrupt(
                "overrides",
                format!("not a JSON array of {{\"rule\", \"reason\"}} objects: {error}"),
            )
        })?;

    Ok(IntentRow {
        id,
        at: Timestamp(reader.integer(row, 1, "at_ms")?),
        action_text: reader.text(row, 2, "action_text")?,
        action_name: reader.text(row, 3, "action_name")?,
        target: reader.text(row, 4, "target")?,
        source: reader.optional_text(row, 5, "source")?,
        verdict,
        plan,
        overrides: overrides
            .into_iter()
            .map(|record| Override {
                rule: record.rule,
                reason: record.reason,
            })
            .collect(),
        actor: reader.text(row, 9, "actor")?,
        outcome: read_outcome(&reader, row)?,
    })
}

/// The outcome columns: all NULL (open) or none.
fn read_outcome(
    reader: &RowReader<'_>,
    row: &Row<'_>,
) -> Result<Option<OutcomeRecord>, JournalError> {
    let at = reader.optional_integer(row, 10, "outcome_at_ms")?;
    let ok = reader.optional_boolean(row, 11, "outcome_ok")?;
    let detail = reader.optional_text(row, 12, "outcome_detail")?;
    match (at, ok, detail) {
        (None, None, None) => Ok(None),
        (Some(at), Some(ok), Some(detail)) => Ok(Some(OutcomeRecord {
            at: Timestamp(at),
            ok,
            detail,
        })),
        (None, ok, _) => {
            let column = if ok.is_some() {
                "outcome_ok"
            } else {
                "outcome_detail"
            };
            Err(reader.corrupt(column, "set on an open intent".to_owned()))
        }
        (Some(_), ok, _) => {
            let column = if ok.is_none() {
                "outcome_ok"
            } else {
                "outcome_detail"
            };
            Err(reader.corrupt(column, "NULL on a closed intent".to_owned()))
        }
    }
}

/// The steps of `intent`, in the order they were recorded.
fn steps(
    connection: &Connection,
    path: &Path,
    intent: i64,
) -> Result<Vec<StepRecord>, JournalError> {
    let failed = |source| sqlite(path, "read an intent's steps", source);
    let mut statement = connection
        .prepare_cached(
            "SELECT id, at_ms, step, ok, detail FROM intent_steps WHERE intent = ?1 ORDER BY id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([intent]).map_err(failed)?;
    let mut steps = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let unnamed = RowReader {
            path,
            table: STEPS,
            row: format!("a step of intent {intent}"),
        };
        let id = unnamed.integer(row, 0, "id")?;
        let reader = RowReader {
            path,
            table: STEPS,
            row: format!("step {id} (of intent {intent})"),
        };
        steps.push(StepRecord {
            at: Timestamp(reader.integer(row, 1, "at_ms")?),
            step: reader.text(row, 2, "step")?,
            ok: reader.boolean(row, 3, "ok")?,
            detail: reader.text(row, 4, "detail")?,
        });
    }
    Ok(steps)
}

fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: path.to_owned(),
        action,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(connection: &Connection) -> i64 {
        connection
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn durable_writes_commit_at_full_and_leave_the_connection_at_normal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut connection = crate::schema::open(&path).unwrap();
        assert_eq!(synchronous(&connection), 1, "NORMAL");
        let seen = durably(&mut connection, &path, "test", |transaction| {
            Ok(synchronous(transaction))
        })
        .unwrap();
        assert_eq!(seen, 2, "FULL while the transaction commits");
        assert_eq!(synchronous(&connection), 1, "NORMAL again");

        let error = durably(&mut connection, &path, "test", |_| -> Result<(), _> {
            Err(JournalError::Intent {
                path: path.clone(),
                id: 1,
                reason: "refused".to_owned(),
            })
        })
        .unwrap_err();
        assert!(matches!(error, JournalError::Intent { .. }));
        assert_eq!(synchronous(&connection), 1, "NORMAL again after a failure");
        assert!(connection.is_autocommit(), "the transaction is over");
    }
}
