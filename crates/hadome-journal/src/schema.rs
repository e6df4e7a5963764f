//! Opening the journal file: recognising it, WAL mode, and the schema by `PRAGMA user_version`.
//!
//! A file is checked before anything is written to it, so that pointing hadome at the wrong file
//! (someone else's SQLite database, a journal from a newer hadome, not SQLite at all) changes
//! nothing. Migrations run in one `BEGIN IMMEDIATE` transaction, so two processes opening a new
//! journal at once create the schema once.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::JournalError;

/// The schema version this code writes, and the newest it reads.
pub(crate) const SCHEMA_VERSION: i64 = 10;

/// `PRAGMA application_id` of a hadome journal: "hado" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x6861_646F;

/// How long a statement waits for another process's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `MIGRATIONS[n]` takes a journal from version `n` to `n + 1`. A migration, once released, is
/// never edited: files of that version exist.
const MIGRATIONS: &[&str] = &[
    // Version 1: events, last known states, summaries.
    "
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_at ON events (at_ms, id);
    CREATE TABLE last_known (
        instance TEXT PRIMARY KEY,
        system_identifier TEXT NOT NULL,
        timeline INTEGER NOT NULL,
        lsn INTEGER NOT NULL,
        history TEXT,
        was_primary INTEGER NOT NULL,
        was_streaming INTEGER NOT NULL,
        observed_at_ms INTEGER NOT NULL,
        last_replay_at_ms INTEGER
    );
    CREATE TABLE summaries (
        instance TEXT PRIMARY KEY,
        summary TEXT NOT NULL
    );
",
    // Version 2: intents (what `hadome run` set out to do, before doing it), their steps, and
    // their outcomes. An intent whose `outcome_at_ms` is NULL is open: its process died or is
    // still at work. `plan` is a JSON array of step texts; `overrides` a JSON array of
    // `{"rule", "reason"}` objects; `ok` and `outcome_ok` are 0 or 1.
    "
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        action_text TEXT NOT NULL,
        action_name TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT,
        verdict TEXT NOT NULL,
        plan TEXT NOT NULL,
        overrides TEXT NOT NULL,
        actor TEXT NOT NULL,
        outcome_at_ms INTEGER,
        outcome_ok INTEGER,
        outcome_detail TEXT
    );
    CREATE INDEX intents_open ON intents (at_ms, id) WHERE outcome_at_ms IS NULL;
    CREATE TABLE intent_steps (
        id INTEGER PRIMARY KEY,
        intent INTEGER NOT NULL REFERENCES intents (id),
        at_ms INTEGER NOT NULL,
        step TEXT NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX intent_steps_intent ON intent_steps (intent, id);
",
    // Version 3: what the daemon needs. `leases`: which daemon automates each cluster, until
    // when (rule `single-actor`). `pauses` and `acks`: automation paused on a target (an instance
    // or a cluster) until a person acknowledges (rule `budget`); an open pause has
    // `acked_at_ms` NULL. `intents_budget` serves the budget's counts of recent intents.
    // `escalations`: what needed a person, and whether the notification got through
    // (`notified_at_ms` NULL: not attempted yet; `notify_error` NULL after an attempt: it did).
    "
    CREATE TABLE leases (
        cluster TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired_at_ms INTEGER NOT NULL,
        renewed_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE TABLE pauses (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        acked_at_ms INTEGER
    );
    CREATE INDEX pauses_open ON pauses (target, id) WHERE acked_at_ms IS NULL;
    CREATE TABLE acks (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        target TEXT NOT NULL,
        who TEXT NOT NULL,
        note TEXT NOT NULL
    );
    CREATE INDEX acks_target ON acks (target, at_ms);
    CREATE INDEX intents_budget ON intents (actor, action_name, target, at_ms);
    CREATE TABLE escalations (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        cluster TEXT NOT NULL,
        subject TEXT NOT NULL,
        rule TEXT NOT NULL,
        message TEXT NOT NULL,
        notified_at_ms INTEGER,
        notify_error TEXT
    );
    CREATE INDEX escalations_at ON escalations (at_ms, id);
",
    // Version 4: backups. One row per copy hadome made (`kind` = 'made') and per restore test
    // (`kind` = 'restore-test'); `path` is the copy's; `body` a versioned JSON record.
    "
    CREATE TABLE backup_records (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        backup TEXT NOT NULL,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX backup_records_backup ON backup_records (backup, at_ms, id);
",
    // Version 5: failovers. One row per phase a failover reached, tied to its intent; `body` a
    // versioned JSON record of the core's `Failover`.
    "
    CREATE TABLE failover_records (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        intent_id INTEGER NOT NULL REFERENCES intents (id),
        cluster TEXT NOT NULL,
        phase TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX failover_records_intent ON failover_records (intent_id, id);
    CREATE INDEX failover_records_cluster ON failover_records (cluster, id);
",
    // Version 6: hosts. Every boot hadome saw a host in (its own reading, or the host's journal's
    // list), once per boot id; and every final image hadome took of a host.
    "
    CREATE TABLE host_boots (
        host TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        booted_at_ms INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (host, boot_id)
    );
    CREATE TABLE host_images (
        id INTEGER PRIMARY KEY,
        host TEXT NOT NULL,
        name TEXT NOT NULL,
        taken_at_ms INTEGER NOT NULL,
        verified INTEGER NOT NULL
    );
    CREATE INDEX host_images_host ON host_images (host, taken_at_ms, id);
",
    // Version 7: quorum members. Each member's last answer (`state`, the journal's JSON) and
    // when, and the last time a pass judged it healthy; and each time it was down, from the
    // first pass that judged it not healthy (with its last healthy time then) to the first that
    // judged it healthy again (`back_at_ms` NULL: still down).
    "
    CREATE TABLE member_last_known (
        member TEXT PRIMARY KEY,
        state TEXT,
        state_at_ms INTEGER,
        last_healthy_ms INTEGER
    );
    CREATE TABLE member_episodes (
        id INTEGER PRIMARY KEY,
        member TEXT NOT NULL,
        last_healthy_before_ms INTEGER,
        first_seen_down_ms INTEGER NOT NULL,
        back_at_ms INTEGER
    );
    CREATE INDEX member_episodes_member ON member_episodes (member, id);
",
    // Version 8: findings. Each finding `hadome check` raised, identified by rule and subject,
    // with its latest message, severity and alternative, from when it was raised to when a
    // complete pass no longer had it (`cleared_at_ms` NULL: still open; at most one open row per
    // rule and subject).
    "
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        alternative TEXT,
        raised_at_ms INTEGER NOT NULL,
        cleared_at_ms INTEGER
    );
    CREATE UNIQUE INDEX findings_open ON findings (rule, subject) WHERE cleared_at_ms IS NULL;
",
    // Version 9: what a primary waited for before acknowledging a commit, as it last answered
    // (`synchronous_standby_names`, `synchronous_commit`; NULL: not read), so a daemon started
    // while it does not answer can still prove a failover lossless.
    "
    ALTER TABLE last_known ADD COLUMN synchronous_standby_names TEXT;
    ALTER TABLE last_known ADD COLUMN synchronous_commit TEXT;
",
    // Version 10: its replication timeouts as it last answered (milliseconds; NULL: not read), so
    // a daemon started while the primary hangs counts its standbys' silence at the primary's
    // keepalive pace (`wal_sender_timeout`), not at the standbys' own `wal_receiver_timeout`.
    "
    ALTER TABLE last_known ADD COLUMN wal_sender_timeout_ms INTEGER;
    ALTER TABLE last_known ADD COLUMN wal_receiver_status_interval_ms INTEGER;
    ALTER TABLE last_known ADD COLUMN wal_receiver_timeout_ms INTEGER;
",
];

/// Opens `path`, creating it when missing, and brings its schema to [`SCHEMA_VERSION`].
pub(crate) fn open(path: &Path) -> Result<Connection, JournalError> {
    let open_error = |source| JournalError::Open {
        path: path.to_owned(),
        source,
    };
    let mut connection = Connection::open(path).map_err(open_error)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;

    // Recognise the file before writing anything to it. Reading these fails on a file that is
    // not SQLite ("file is not a database").
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_error)?;
    let application_id: i64 = connection
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(open_error)?;
    let objects: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(open_error)?;
    check_identity(path, version, application_id, objects)?;

    let mode: String = connection
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_error)?;

    if version < SCHEMA_VERSION {
        migrate(&mut connection, path)?;
    }
    Ok(connection)
}

/// Refuses a file that is not a journal this code can read, before anything is written to it.
fn check_identity(
    path: &Path,
    version: i64,
    application_id: i64,
    objects: i64,
) -> Result<(), JournalError> {
    let not_a_journal = |reason: String| JournalError::NotAJournal {
        path: path.to_owned(),
        reason,
    };
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(not_a_journal(format!(
            "its application id is {application_id:#x}, hadome's is {APPLICATION_ID:#x}"
        )));
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(JournalError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == 0 && objects > 0 {
        return Err(not_a_journal(format!(
            "it holds {objects} tables or indexes but no hadome schema version"
        )));
    }
    if version > 0 && application_id == 0 {
        return Err(not_a_journal(format!(
            "it has schema version {version} but not hadome's application id"
        )));
    }
    Ok(())
}

/// Runs the migrations from the file's version to [`SCHEMA_VERSION`], in one transaction.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "create or migrate the schema",
        source,
    };
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    // Another process may have migrated the file between the first look and the lock.
    let version: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(failed)?;
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(JournalError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(version).unwrap_or(0);
    for migration in MIGRATIONS.get(from..).unwrap_or_default() {
        transaction.execute_batch(migration).map_err(failed)?;
    }
    transaction
        .pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(failed)?;
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(failed)?;
    transaction.commit().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_version() {
        assert_eq!(MIGRATIONS.len(), usize::try_from(SCHEMA_VERSION).unwrap());
    }

    /// Every table, index and its SQL, as `sqlite_master` holds them.
    fn schema_of(connection: &Connection) -> Vec<(String, String, Option<String>)> {
        connection
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A file as the hadome of schema `version` left it, with one event.
    fn file_at_version(path: &Path, version: usize) {
        let connection = Connection::open(path).unwrap();
        for migration in &MIGRATIONS[..version] {
            connection.execute_batch(migration).unwrap();
        }
        if version > 0 {
            connection
                .pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            connection
                .pragma_update(None, "user_version", i64::try_from(version).unwrap())
                .unwrap();
            connection
                .execute(
                    "INSERT INTO events (at_ms, kind, subject, body) \
                     VALUES (1000, 'verdict', 'db-1', '{\"version\":1}')",
                    [],
                )
                .unwrap();
        }
    }

    #[test]
    fn every_older_version_migrates_to_the_schema_of_a_new_file_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let new = open(&dir.path().join("new.sqlite")).unwrap();
        let expected = schema_of(&new);
        for table in [
            "intent_steps",
            "leases",
            "pauses",
            "acks",
            "escalations",
            "findings",
        ] {
            assert!(expected.iter().any(|(_, name, _)| name == table), "{table}");
        }

        for version in 1..MIGRATIONS.len() {
            let path = dir.path().join(format!("version-{version}.sqlite"));
            file_at_version(&path, version);
            let migrated = open(&path).unwrap();
            assert_eq!(schema_of(&migrated), expected, "from version {version}");
            let found: i64 = migrated
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            assert_eq!(found, SCHEMA_VERSION);
            let events: i64 = migrated
                .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
                .unwrap();
            assert_eq!(events, 1, "from version {version}: the event is kept");
        }
    }
}
