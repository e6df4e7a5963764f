//! hadome's journal: its append-only memory, in one SQLite file.
//!
//! hadome must remember what it no longer sees: a copy that stops answering keeps its last known
//! data position, so that `hadome ask rebuild db-1 --from db-3` while db-1 hangs can still tell
//! whether db-1 holds data db-3 lacks. The journal keeps
//!
//! - each instance's **last known state** (the last time it answered): its data position, whether
//!   it was a primary and streaming, when; read back as [`hadome_core::fact::History`];
//! - **events**, appended and never changed: `fact-changed` when an instance's summary changes
//!   (first seen, reachable or not, primary or standby, timeline, streaming, unapplied settings),
//!   `verdict` for each decision on an action, with its findings, and the story of each action
//!   `hadome run` carries out: `intent`, `override`, `step`, `outcome`;
//! - **intents**: nothing executes without a journaled intent, and its outcome is journaled
//!   after, with each step in between. An intent never closed is *open*: the process that
//!   recorded it died mid-action (or is still at work), and [`Journal::open_intents`] finds it.
//!
//! The file is SQLite in WAL mode (`synchronous=NORMAL`, a 5 s busy timeout; intents, steps and
//! outcomes are committed at `synchronous=FULL`, so that a power loss cannot lose them), its
//! schema versioned by `PRAGMA user_version`. Event bodies are the journal's own versioned JSON
//! records: the core has no serde. The API is synchronous and fast; async callers may call it
//! directly or from `spawn_blocking`.

#![warn(missing_docs)]

mod column;
mod error;
mod event;
mod intent;
mod last_known;
mod record;
mod schema;
mod summary;

use std::path::{Path, PathBuf};

use hadome_core::action::Action;
use hadome_core::fact::{Facts, History, ProbeOutcome, Timestamp};
use hadome_core::finding::{Finding, Verdict};
use rusqlite::{Connection, TransactionBehavior};

pub use crate::error::JournalError;
pub use crate::event::JournalEvent;
pub use crate::intent::{IntentRecord, OpenIntent, OutcomeRecord, Override, StepRecord};
use crate::record::{
    FactChangedRecord, VerdictRecord, FACT_CHANGED, INTENT, OUTCOME, OVERRIDE, STEP, VERDICT,
};

/// The kind of event recording a change of an instance's summary.
pub const KIND_FACT_CHANGED: &str = FACT_CHANGED;

/// The kind of event recording a verdict on an action.
pub const KIND_VERDICT: &str = VERDICT;

/// The kind of event recording the intent to carry out an action, before anything is done.
pub const KIND_INTENT: &str = INTENT;

/// The kind of event recording one rule an intent overrides (one event per rule).
pub const KIND_OVERRIDE: &str = OVERRIDE;

/// The kind of event recording one step of an intent, done or failed.
pub const KIND_STEP: &str = STEP;

/// The kind of event recording how an intent ended.
pub const KIND_OUTCOME: &str = OUTCOME;

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    connection: Connection,
    path: PathBuf,
}

/// A change of one instance's summary, recorded by [`Journal::record_facts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactChange {
    /// The instance.
    pub instance: String,
    /// When the probe that saw the change started.
    pub at: Timestamp,
    /// The summary of the previous pass; `None` the first time the instance is seen.
    pub before: Option<String>,
    /// The summary now: `primary, timeline 2`, `standby, timeline 1, not streaming`,
    /// `standby, timeline 1, streaming, 2 unapplied settings`, `unreachable: <error>`.
    pub after: String,
}

impl Journal {
    /// Opens or creates the journal at `path`: WAL mode, `synchronous=NORMAL`, a busy timeout of
    /// 5 s, the schema created or migrated by `PRAGMA user_version` (version 2; a version-1 file
    /// is migrated in place, in one transaction).
    ///
    /// Refuses, changing nothing, a file that is not SQLite, someone else's SQLite database, and a
    /// journal whose schema version is newer than this code knows.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let connection = schema::open(path)?;
        Ok(Journal {
            connection,
            path: path.to_owned(),
        })
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one pass of observation, in one transaction.
    ///
    /// For every instance that answered, its last known state (position, primary or not,
    /// streaming or not, when, last replay) replaces the previous one, unless the journal holds a
    /// later observation already. An unreachable instance keeps its last known state. For every
    /// instance whose summary changed since the previous pass (or that is seen for the first
    /// time), a `fact-changed` event is appended. Instances absent from `facts` (not probed) are
    /// left alone. Returns the changes, in instance order.
    pub fn record_facts(&mut self, facts: &Facts) -> Result<Vec<FactChange>, JournalError> {
        let path = self.path.as_path();
        let failed = |source| JournalError::Sqlite {
            path: path.to_owned(),
            action: "record facts",
            source,
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let mut changes = Vec::new();
        for (instance, probe) in &facts.instances {
            let state = match &probe.outcome {
                ProbeOutcome::Answered(state) => Some(state.as_ref()),
                ProbeOutcome::Unreachable { .. } => None,
            };
            if let Some(state) = state {
                last_known::upsert(&transaction, path, instance, probe.observed_at, state)?;
            }
            let after = summary::of(&probe.outcome);
            let before = summary::recorded(&transaction, path, instance)?;
            if before.as_deref() == Some(after.as_str()) {
                continue;
            }
            summary::record(&transaction, path, instance, &after)?;
            let record = FactChangedRecord::new(instance, before.clone(), after.clone(), state);
            event::append(
                &transaction,
                path,
                probe.observed_at,
                FACT_CHANGED,
                instance,
                &record,
            )?;
            changes.push(FactChange {
                instance: instance.clone(),
                at: probe.observed_at,
                before,
                after,
            });
        }
        transaction.commit().map_err(failed)?;
        Ok(changes)
    }

    /// What earlier passes remember: the last known state of every instance that ever answered.
    pub fn history(&self) -> Result<History, JournalError> {
        last_known::read_all(&self.connection, &self.path)
    }

    /// Appends a `verdict` event: the action (its text, name, target and source), the verdict,
    /// and each finding (rule, severity, subject, message, alternative). Its subject is the
    /// action's target.
    pub fn record_verdict(
        &mut self,
        at: Timestamp,
        action: &Action,
        verdict: Verdict,
        findings: &[Finding],
    ) -> Result<(), JournalError> {
        let record = VerdictRecord::new(action, verdict, findings);
        event::append(
            &self.connection,
            &self.path,
            at,
            VERDICT,
            action.target(),
            &record,
        )
    }

    /// Events at or after `since`, oldest first (ties in the order they were appended).
    pub fn events_since(&self, since: Timestamp) -> Result<Vec<JournalEvent>, JournalError> {
        event::since(&self.connection, &self.path, since)
    }

    /// Records the intent to carry out `action` (verdict as assessed, the plan's steps in order,
    /// any overrides with who and why) before anything is done. Returns the intent's id.
    ///
    /// Appends an `intent` event (subject: the action's target; body: version, intent id,
    /// action, verdict, plan, overrides, actor), then one `override` event per override (body:
    /// version, intent id, rule, reason, actor, action), in the same transaction. Durable when it
    /// returns: committed at `synchronous=FULL`.
    pub fn record_intent(
        &mut self,
        at: Timestamp,
        action: &Action,
        verdict: Verdict,
        plan: &[String],
        overrides: &[Override],
        actor: &str,
    ) -> Result<i64, JournalError> {
        let new = intent::NewIntent {
            at,
            action,
            verdict,
            plan,
            overrides,
            actor,
        };
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record an intent",
            |transaction| intent::insert(transaction, path, &new),
        )
    }

    /// Records one step of an intent: done or failed, with a detail line.
    ///
    /// Appends a `step` event (subject: the action's target; body: version, intent id, step, ok,
    /// detail) in the same transaction. A step of an unknown or closed intent is an error
    /// ([`JournalError::Intent`]) and changes nothing. Durable when it returns.
    pub fn record_step(
        &mut self,
        intent: i64,
        at: Timestamp,
        step: &str,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(&mut self.connection, path, "record a step", |transaction| {
            intent::insert_step(transaction, path, intent, at, step, ok, detail)
        })
    }

    /// Closes an intent with its outcome. Closing an unknown or already closed intent is an error
    /// ([`JournalError::Intent`]), and changes nothing.
    ///
    /// Appends an `outcome` event (subject: the action's target; body: version, intent id, ok,
    /// detail) in the same transaction. Durable when it returns.
    pub fn record_outcome(
        &mut self,
        intent: i64,
        at: Timestamp,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record an outcome",
            |transaction| intent::close(transaction, path, intent, at, ok, detail),
        )
    }

    /// Intents recorded and never closed, oldest first (ties in the order they were recorded):
    /// what a process that died mid-action left, or what one still at work is doing.
    pub fn open_intents(&self) -> Result<Vec<OpenIntent>, JournalError> {
        intent::open(&self.connection, &self.path)
    }

    /// One intent with its steps and outcome (for `hadome run` output and tests); `None` when
    /// there is no such intent.
    pub fn intent(&self, id: i64) -> Result<Option<IntentRecord>, JournalError> {
        intent::read(&self.connection, &self.path, id)
    }
}
