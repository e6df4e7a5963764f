//! hadome's journal: its append-only memory, in one SQLite file.
//!
//! hadome must remember what it no longer sees: a copy that stops answering keeps its last known
//! data position, so that `hadome ask rebuild db-1 --from db-3` while db-1 hangs can still tell
//! whether db-1 holds data db-3 lacks. The journal keeps
//!
//! - each instance's **last known state** (the last time it answered): its data position, whether
//!   it was a primary and streaming, what it waited for before acknowledging a commit (schema
//!   version 9), its replication timeouts (version 10), when; read back as [`hadome_core::fact::History`];
//! - **events**, appended and never changed: `fact-changed` when an instance's summary changes
//!   (first seen, reachable or not, primary or standby, timeline, streaming, unapplied settings),
//!   `verdict` for each decision on an action, with its findings, and the story of each action
//!   `hadome run` carries out: `intent`, `override`, `step`, `outcome`;
//! - **intents**: nothing executes without a journaled intent, and its outcome is journaled
//!   after, with each step in between. An intent never closed is *open*: the process that
//!   recorded it died mid-action (or is still at work), and [`Journal::open_intents`] finds it;
//! - what the daemon needs: each cluster's **lease** (one daemon automates a cluster at a time,
//!   rule `single-actor`), **pauses** and **acks** (automation that did not restore health or ran
//!   out of budget pauses until a person acknowledges, rule `budget`; the budget counts intents
//!   with [`Journal::count_intents`] since the last ack), and **escalations** with whether their
//!   notification got through. Their events: `lease`, `pause`, `ack`, `escalation`, `notified`;
//! - **backups** (schema version 4): each copy hadome made (size, SHA-256, the source's position
//!   and row counts at dump time) and each restore test, read back into `History::backups`; their
//!   events: `backup-made`, `backup-failed`, `restore-test`;
//! - **failovers** (schema version 5): the daemon's failover, recorded at every phase it reaches
//!   (the core's `Failover`: old primary and whether it is fenced, candidate, followers), so a
//!   daemon started after a `kill -9` carries it on from what was done; their event: `failover`;
//! - **hosts** (schema version 6): every boot id hadome saw a host in, its own reading's or the
//!   host's journal's, so a reboot count survives a volatile journal; and every final image
//!   hadome took of a host; read back into `History::hosts`; their events: `host-boot`, `image`;
//! - **findings** (schema version 8): each finding `hadome check` raised, by rule and subject, open
//!   until a complete pass no longer has it ([`Journal::record_findings`]); their events:
//!   `finding-raised`, `finding-cleared`. With every other event, read back in a time window
//!   ([`Journal::events_between`]), they are the incident timeline (`hadome timeline`).
//!
//! The file is SQLite in WAL mode (`synchronous=NORMAL`, a 5 s busy timeout; intents, steps,
//! outcomes, leases, pauses, acks and escalations are committed at `synchronous=FULL`, so that a
//! power loss cannot lose them), its
//! schema versioned by `PRAGMA user_version`. Event bodies are the journal's own versioned JSON
//! records: the core has no serde. The API is synchronous and fast; async callers may call it
//! directly or from `spawn_blocking`.

#![warn(missing_docs)]

mod api;
mod backup;
mod column;
mod error;
mod escalation;
mod event;
mod failover;
mod finding;
mod host;
mod intent;
mod last_known;
mod lease;
mod member;
mod pause;
mod record;
mod schema;
mod summary;
mod tally;

use std::path::{Path, PathBuf};

use hadome_core::action::Action;
use hadome_core::fact::{Facts, History, ProbeOutcome, Timestamp};
use hadome_core::finding::{Finding, Verdict};
use rusqlite::{Connection, TransactionBehavior};

pub use crate::api::ApiRefusal;
pub use crate::backup::{BackupMade, RestoreTestDone};
pub use crate::error::JournalError;
pub use crate::escalation::Escalation;
pub use crate::event::JournalEvent;
pub use crate::finding::{FindingChanges, OpenFinding};
pub use crate::intent::{IntentRecord, OpenIntent, OutcomeRecord, Override, StepRecord};
pub use crate::lease::{Lease, LeaseOutcome};
pub use crate::pause::{Ack, Pause};
pub use crate::tally::EventTally;

/// The name of the lease a person's `hadome run` holds on `cluster` while it acts there: a daemon
/// takes no automated action on the cluster while another holder's hold is unexpired (rule
/// `single-actor`; [`Journal::record_automated_intent`]).
pub fn hold_lease(cluster: &str) -> String {
    format!("hold:{cluster}")
}

/// The name of the lease a `hadome backup run` holds on `backup` while it makes a copy: one copy
/// of a backup is made at a time, whoever started it (the daemon's schedule, a person, cron).
pub fn making_lease(backup: &str) -> String {
    format!("making:{backup}")
}
use crate::record::{
    ActionRecord, FactChangedRecord, VerdictRecord, ACK, ESCALATION, FACT_CHANGED, INTENT, LEASE,
    NOTIFIED, OUTCOME, OVERRIDE, PAUSE, STEP, VERDICT,
};

/// The kind of event recording a change of an instance's summary.
pub const KIND_FACT_CHANGED: &str = FACT_CHANGED;

/// The kind of event recording a finding `hadome check` raised that was not open (schema version
/// 8).
pub const KIND_FINDING_RAISED: &str = crate::finding::FINDING_RAISED;

/// The kind of event recording that a complete pass no longer had an open finding, which is
/// closed (schema version 8).
pub const KIND_FINDING_CLEARED: &str = crate::finding::FINDING_CLEARED;

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

/// The kind of event recording a cluster's lease taken, taken over from an expired holder, or
/// released (not renewed: renewals are no events).
pub const KIND_LEASE: &str = LEASE;

/// The kind of event recording that automation paused on a target.
pub const KIND_PAUSE: &str = PAUSE;

/// The kind of event recording a person's acknowledgement of a target.
pub const KIND_ACK: &str = ACK;

/// The kind of event recording an escalation: something needs a person.
pub const KIND_ESCALATION: &str = ESCALATION;

/// The kind of event recording one attempt to notify a person of an escalation.
pub const KIND_NOTIFIED: &str = NOTIFIED;

/// The kind of event recording a backup copy hadome made, verified and kept.
pub const KIND_BACKUP_MADE: &str = BACKUP_MADE;

/// The kind of event recording a backup run that kept nothing, and why.
pub const KIND_BACKUP_FAILED: &str = BACKUP_FAILED;

/// The kind of event recording a restore test and how it ended.
pub const KIND_RESTORE_TEST: &str = RESTORE_TEST;

/// The kind of event recording a failover's state as it reached a phase (schema version 5).
pub const KIND_FAILOVER: &str = FAILOVER;

/// The kind of event recording a boot of a host hadome saw for the first time (schema version 6).
pub const KIND_HOST_BOOT: &str = HOST_BOOT;

/// The kind of event recording a final image hadome took of a host (schema version 6).
pub const KIND_IMAGE: &str = IMAGE;

/// The kind of event recording that a pass judged a quorum member not healthy, opening a down
/// episode (schema version 7).
pub const KIND_MEMBER_DOWN: &str = MEMBER_DOWN;

/// The kind of event recording that a pass judged a quorum member healthy again, closing its
/// down episode (schema version 7).
pub const KIND_MEMBER_BACK: &str = MEMBER_BACK;

/// The kind of event recording a request the daemon's HTTP API refused (issue 16).
pub const KIND_API_REFUSED: &str = crate::api::API_REFUSED;

pub(crate) const MEMBER_DOWN: &str = "member-down";
pub(crate) const MEMBER_BACK: &str = "member-back";
pub(crate) const FAILOVER: &str = "failover";
pub(crate) const HOST_BOOT: &str = "host-boot";
pub(crate) const IMAGE: &str = "image";
pub(crate) const BACKUP_MADE: &str = "backup-made";
pub(crate) const BACKUP_FAILED: &str = "backup-failed";
pub(crate) const RESTORE_TEST: &str = "restore-test";

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
    /// 5 s, the schema created or migrated by `PRAGMA user_version` (version 10; a file of an
    /// older version is migrated in place, in one transaction).
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
            if before
                .as_deref()
                .is_some_and(|before| summary::unchanged(before, &after))
            {
                // The first wording stays recorded: the next real change is told from it.
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
        for (name, probe) in &facts.hosts {
            host::record_boots(&transaction, path, name, probe)?;
        }
        member::record_answers(&transaction, path, &facts.members)?;
        transaction.commit().map_err(failed)?;
        Ok(changes)
    }

    /// Records one pass's judgement of each quorum member at `at` (the core's `member_health`:
    /// name → healthy), in one transaction: a healthy member's `last_healthy` moves to `at` and
    /// its open down episode closes (`member-back`); a member not healthy opens one unless it is
    /// already down (`member-down`). So "down for 14 min" survives a restart of hadome.
    pub fn record_member_health(
        &mut self,
        at: Timestamp,
        healthy: &std::collections::BTreeMap<String, bool>,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        let failed = |source| JournalError::Sqlite {
            path: path.to_owned(),
            action: "record the members' health",
            source,
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        member::record_health(&transaction, path, at, healthy)?;
        transaction.commit().map_err(failed)
    }

    /// Records the findings of one pass that observed everything (`hadome check`) at `at`, in one
    /// transaction: a finding (by rule and subject) not open before is raised (a `finding-raised`
    /// event: rule, severity, subject, message, alternative), and an open finding absent from
    /// `findings` is cleared (a `finding-cleared` event) and closed. An open finding whose
    /// message, severity or alternative changed keeps its raise time and takes the new text; it
    /// is not raised again. Returns what was raised and cleared.
    ///
    /// Never call it with the findings of a partial pass: what it did not look at would clear.
    pub fn record_findings(
        &mut self,
        at: Timestamp,
        findings: &[Finding],
    ) -> Result<FindingChanges, JournalError> {
        let path = self.path.as_path();
        let failed = |source| JournalError::Sqlite {
            path: path.to_owned(),
            action: "record findings",
            source,
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let changes = finding::record(&transaction, path, at, findings)?;
        transaction.commit().map_err(failed)?;
        Ok(changes)
    }

    /// The findings open now (raised by `hadome check` and not cleared since), by rule then
    /// subject.
    pub fn open_findings(&self) -> Result<Vec<OpenFinding>, JournalError> {
        finding::read_open(&self.connection, &self.path)
    }

    /// What earlier passes remember: the last known state of every instance that ever answered.
    pub fn history(&self) -> Result<History, JournalError> {
        let mut history = last_known::read_all(&self.connection, &self.path)?;
        history.backups = backup::read_all(&self.connection, &self.path)?;
        history.hosts = host::read_all(&self.connection, &self.path)?;
        history.members = member::read_all(&self.connection, &self.path)?;
        Ok(history)
    }

    /// Records a final image hadome took of `host` (a row of `host_images` and an `image`
    /// event). Durable when it returns.
    pub fn record_image(
        &mut self,
        host: &str,
        image: &hadome_core::host::ImageRecord,
    ) -> Result<(), JournalError> {
        let path = self.path.clone();
        intent::durably(
            &mut self.connection,
            &path,
            "record an image",
            |transaction| host::record_image(transaction, &path, host, image),
        )
    }

    /// Records a copy of a backup that hadome made, verified and renamed into place (a row of
    /// `backup_records` and a `backup-made` event). Durable when it returns.
    pub fn record_backup_made(
        &mut self,
        at: Timestamp,
        made: &BackupMade,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a backup",
            |transaction| backup::made(transaction, path, at, made),
        )
    }

    /// Records a backup run that kept nothing: `stage` (`command`, `verify` …) and why (a
    /// `backup-failed` event). Durable when it returns.
    pub fn record_backup_failed(
        &mut self,
        at: Timestamp,
        backup_name: &str,
        stage: &str,
        detail: &str,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a failed backup",
            |transaction| backup::failed(transaction, path, at, backup_name, stage, detail),
        )
    }

    /// Records a restore test (a row of `backup_records` and a `restore-test` event). Durable
    /// when it returns.
    pub fn record_restore_test(
        &mut self,
        at: Timestamp,
        done: &RestoreTestDone,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a restore test",
            |transaction| backup::restore_test(transaction, path, at, done),
        )
    }

    /// What hadome recorded when it made `copy` of `backup_name`, if it did.
    pub fn made_copy(
        &self,
        backup_name: &str,
        copy: &Path,
    ) -> Result<Option<hadome_core::backup::MadeCopy>, JournalError> {
        backup::made_copy(&self.connection, &self.path, backup_name, copy)
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

    /// Events from `since` to `until`, both included, oldest first (ties in the order they were
    /// appended): an incident's window. Empty when `until` is before `since`.
    pub fn events_between(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<JournalEvent>, JournalError> {
        let mut events = event::since(&self.connection, &self.path, since)?;
        events.retain(|event| event.at <= until);
        Ok(events)
    }

    /// Writes a consistent copy of the whole journal to `to` (SQLite's `VACUUM INTO`: one file,
    /// committed transactions only, while others may keep writing), for a journal that must
    /// outlive its estate (a drill's lab is removed when it ends). `to` must not exist.
    pub fn copy_to(&self, to: &Path) -> Result<(), JournalError> {
        self.connection
            .execute("VACUUM INTO ?1", [to.to_string_lossy()])
            .map_err(|source| JournalError::Sqlite {
                path: self.path.clone(),
                action: "copy the journal",
                source,
            })?;
        Ok(())
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
            action: ActionRecord::of(action),
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

    /// Records the intent of a job that is no [`Action`] on the estate (`hadome backup run`:
    /// `name` `backup-run`, `target` the backup's name), verdict `allow`, no override, as
    /// [`record_intent`](Journal::record_intent) does: its steps and outcome are recorded with
    /// [`record_step`](Journal::record_step) and [`record_outcome`](Journal::record_outcome), and
    /// a job killed in between is an open intent like any other. Durable when it returns.
    pub fn record_job_intent(
        &mut self,
        at: Timestamp,
        name: &str,
        text: &str,
        target: &str,
        plan: &[String],
        actor: &str,
    ) -> Result<i64, JournalError> {
        let new = intent::NewIntent {
            at,
            action: ActionRecord {
                text: text.to_owned(),
                name: name.to_owned(),
                target: target.to_owned(),
                source: None,
            },
            verdict: Verdict::Allow,
            plan,
            overrides: &[],
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

    /// Records an automated intent (verdict `allow`, no override), as
    /// [`record_intent`](Journal::record_intent) does, unless the lease `hold` is unexpired at
    /// `at`: then nothing is recorded and the answer is that lease.
    ///
    /// The check and the insert are one `BEGIN IMMEDIATE` transaction. A person's `hadome run`
    /// takes the hold first and then looks for open automated intents, so the two are serialised:
    /// either this intent was recorded before the hold was taken (and `run` finds it open and
    /// refuses), or the daemon is told of the hold and does not act.
    pub fn record_automated_intent(
        &mut self,
        hold: &str,
        at: Timestamp,
        action: &Action,
        plan: &[String],
        actor: &str,
    ) -> Result<Result<i64, Lease>, JournalError> {
        let new = intent::NewIntent {
            at,
            action: ActionRecord::of(action),
            verdict: Verdict::Allow,
            plan,
            overrides: &[],
            actor,
        };
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record an intent",
            |transaction| match lease::read(transaction, path, hold)? {
                Some(lease) if !lease.is_expired(at) => Ok(Err(lease)),
                _ => intent::insert(transaction, path, &new).map(Ok),
            },
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

    /// Records the state `failover` reached, as a record of its intent `intent` (one row per
    /// phase reached, appended; a `failover` event). Durable when it returns.
    pub fn record_failover(
        &mut self,
        intent: i64,
        at: Timestamp,
        failover: &hadome_core::supervise::Failover,
    ) -> Result<(), JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a failover",
            |transaction| failover::insert(transaction, path, intent, at, failover),
        )
    }

    /// The newest record of the failover of intent `intent`; `None` when it has none.
    pub fn failover(
        &self,
        intent: i64,
    ) -> Result<Option<hadome_core::supervise::Failover>, JournalError> {
        failover::of_intent(&self.connection, &self.path, intent)
    }

    /// Per cluster, its newest failover (finished, open or interrupted) as last recorded, with
    /// its intent's id: what a daemon must know at start-up of what its predecessors did.
    pub fn last_failovers(
        &self,
    ) -> Result<Vec<(i64, hadome_core::supervise::Failover)>, JournalError> {
        failover::last_per_cluster(&self.connection, &self.path)
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

    /// Takes, takes over or renews `cluster`'s lease for `holder`, until `now + ttl_ms`: one
    /// daemon automates a cluster at a time (rule `single-actor`).
    ///
    /// In one `BEGIN IMMEDIATE` transaction, so that two handles (two processes) never both get
    /// [`LeaseOutcome::Held`] for a lease unexpired at their `now`: when there is no lease, when
    /// the lease expired (`expires_at <= now`), or when `holder` holds it, the lease becomes
    /// `holder`'s until `now + ttl_ms` and the answer is `Held` (a renewal keeps `acquired_at`;
    /// `ttl_ms` should be positive, else the lease is expired at once). Otherwise the answer is
    /// [`LeaseOutcome::HeldBy`] with the other holder's lease, and nothing changes.
    ///
    /// Appends a `lease` event (subject: the cluster) only when the lease is taken (`taken`, no
    /// lease before) or taken over from an expired lease (`taken-over`, naming the previous
    /// holder and when its lease expired; the previous holder may be `holder` itself, whose
    /// lease lapsed), never on a renewal. Durable when it returns.
    pub fn acquire_lease(
        &mut self,
        cluster: &str,
        holder: &str,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, JournalError> {
        let path = self.path.as_path();
        intent::durably(&mut self.connection, path, "take a lease", |transaction| {
            lease::acquire(transaction, path, cluster, holder, now, ttl_ms)
        })
    }

    /// Releases `cluster`'s lease if `holder` holds it (expired or not), so that another daemon
    /// may take it at once; returns whether it did. Another holder's lease is left alone.
    ///
    /// Appends a `lease` event (`released`) at `now` when it releases. Durable when it returns.
    pub fn release_lease(
        &mut self,
        cluster: &str,
        holder: &str,
        now: Timestamp,
    ) -> Result<bool, JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "release a lease",
            |transaction| lease::release(transaction, path, cluster, holder, now),
        )
    }

    /// `cluster`'s lease, expired or not ([`Lease::is_expired`] tells); `None` when it was never
    /// taken or was released.
    pub fn lease(&self, cluster: &str) -> Result<Option<Lease>, JournalError> {
        lease::read(&self.connection, &self.path, cluster)
    }

    /// Every cluster's lease, expired or not, by cluster name.
    pub fn leases(&self) -> Result<Vec<Lease>, JournalError> {
        lease::read_all(&self.connection, &self.path)
    }

    /// Pauses automation on `target` (an instance or a cluster, by name) until a person
    /// acknowledges it (rule `budget`), and returns the pause.
    ///
    /// Idempotent: when `target` is paused already, returns the open pause unchanged (its time
    /// and reason) and records nothing. Otherwise appends a `pause` event (subject: the target;
    /// body: version, pause id, target, reason). Durable when it returns.
    pub fn pause(
        &mut self,
        at: Timestamp,
        target: &str,
        reason: &str,
    ) -> Result<Pause, JournalError> {
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a pause",
            |transaction| pause::pause(transaction, path, at, target, reason),
        )
    }

    /// The pauses not yet acknowledged, oldest first (ties in the order they were recorded).
    pub fn paused(&self) -> Result<Vec<Pause>, JournalError> {
        pause::open(&self.connection, &self.path)
    }

    /// Records a person's acknowledgement of `target`, and clears every open pause of that
    /// target (exactly that name: acknowledging a cluster does not clear its members' pauses).
    /// Returns the ack with the pauses it cleared.
    ///
    /// An ack with nothing paused is recorded too: it restarts the target's budget count
    /// ([`Journal::last_ack`]). Appends an `ack` event (subject: the target; body: version, ack
    /// id, target, who, note, and the cleared pauses' ids, times and reasons). Durable when it
    /// returns.
    pub fn ack(
        &mut self,
        at: Timestamp,
        target: &str,
        who: &str,
        note: &str,
    ) -> Result<Ack, JournalError> {
        let path = self.path.as_path();
        intent::durably(&mut self.connection, path, "record an ack", |transaction| {
            pause::ack(transaction, path, at, target, who, note)
        })
    }

    /// When `target` was last acknowledged (the latest ack's time); `None` when it never was.
    pub fn last_ack(&self, target: &str) -> Result<Option<Timestamp>, JournalError> {
        pause::last_ack(&self.connection, &self.path, target)
    }

    /// How many intents `actor` recorded (its `actor` exactly, e.g. `daemon`) for the action
    /// `action_name` (as [`Action::name`] spells it: `promote`, `rebuild`, `restart`, `stop`,
    /// `delete-data`) on any of `targets`, at or after `since`: a budget's count. Open and
    /// closed intents count alike. No targets: 0.
    pub fn count_intents(
        &self,
        actor: &str,
        action_name: &str,
        targets: &[&str],
        since: Timestamp,
    ) -> Result<u32, JournalError> {
        intent::count(
            &self.connection,
            &self.path,
            actor,
            action_name,
            targets,
            since,
        )
    }

    /// Records an escalation: something in `cluster` about `subject` (an instance or the cluster)
    /// needs a person, by `rule`, with a `message` for them. Returns its id, on which to record
    /// the notification ([`Journal::record_notified`]).
    ///
    /// Appends an `escalation` event (subject: `subject`; body: version, escalation id, cluster,
    /// subject, rule, message). Durable when it returns.
    pub fn record_escalation(
        &mut self,
        at: Timestamp,
        cluster: &str,
        subject: &str,
        rule: &str,
        message: &str,
    ) -> Result<i64, JournalError> {
        let new = escalation::NewEscalation {
            at,
            cluster,
            subject,
            rule,
            message,
        };
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record an escalation",
            |transaction| escalation::record(transaction, path, &new),
        )
    }

    /// Records one attempt, at `at`, to notify a person of escalation `id`: `Ok(())` when it got
    /// through, `Err` with why not (whatever the notifier's error type: the journal keeps its
    /// text). The escalation keeps the last attempt; each attempt appends a `notified` event
    /// (subject: the escalation's subject; body: version, escalation id, ok, error). An unknown
    /// escalation is a [`JournalError::Escalation`] and changes nothing. Durable when it returns.
    pub fn record_notified<E: std::fmt::Display>(
        &mut self,
        id: i64,
        at: Timestamp,
        result: Result<(), E>,
    ) -> Result<(), JournalError> {
        let error = result.err().map(|error| error.to_string());
        let path = self.path.as_path();
        intent::durably(
            &mut self.connection,
            path,
            "record a notification",
            |transaction| escalation::notified(transaction, path, id, at, error.as_deref()),
        )
    }

    /// Escalations at or after `since`, newest first (ties: the last recorded first).
    pub fn escalations_since(&self, since: Timestamp) -> Result<Vec<Escalation>, JournalError> {
        escalation::since(&self.connection, &self.path, since)
    }
}
