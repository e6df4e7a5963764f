//! Migrations: a journal written by an older hadome is brought to the current schema in place, in
//! one transaction, keeping what it remembers.

use hadome_core::action::Action;
use hadome_core::fact::{KeepaliveSettings, LastKnown, SyncSettings, Timestamp};
use hadome_core::finding::Verdict;
use hadome_journal::{Journal, JournalError};
use serde_json::json;

use crate::support::{position, raw};

/// The schema version this hadome writes (`PRAGMA user_version` after every migration).
pub(crate) const CURRENT_VERSION: i64 = 10;

/// The schema of version 1, as hadome's first journal wrote it. Frozen: files of version 1 exist.
const VERSION_1: &str = "
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
    PRAGMA application_id = 1751213167;
    PRAGMA user_version = 1;
";

/// A version-1 journal at `path` in WAL mode, with what a pass and a verdict left in it.
fn version_1_journal(path: &std::path::Path) {
    let connection = raw(path);
    let mode: String = connection
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    connection.execute_batch(VERSION_1).unwrap();
    connection
        .execute_batch(
            r#"
            INSERT INTO last_known VALUES ('db-1', '7', 2, 83886080, '[[1,50331648]]', 1, 0, 1000, NULL);
            INSERT INTO last_known VALUES ('db-3', '7', 1, 67108864, NULL, 0, 1, 1000, 999);
            INSERT INTO summaries VALUES ('db-1', 'primary, timeline 2');
            INSERT INTO summaries VALUES ('db-3', 'standby, timeline 1, streaming');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (1000, 'fact-changed', 'db-1',
                '{"version":1,"instance":"db-1","before":null,"after":"primary, timeline 2","position":null}');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (2000, 'verdict', 'db-3',
                '{"version":1,"action":{"text":"promote db-3","name":"promote","target":"db-3","source":null},"verdict":"allow","findings":[]}');
            "#,
        )
        .unwrap();
}

/// What version 2 added to version 1, as hadome's second journal wrote it. Frozen: files of
/// version 2 exist.
const VERSION_2: &str = "
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
    PRAGMA user_version = 2;
";

/// The tables of a current journal.
const CURRENT_TABLES: [&str; 16] = [
    "acks",
    "backup_records",
    "escalations",
    "events",
    "failover_records",
    "findings",
    "host_boots",
    "host_images",
    "intent_steps",
    "intents",
    "last_known",
    "leases",
    "member_episodes",
    "member_last_known",
    "pauses",
    "summaries",
];

/// A version-2 journal at `path`: a version-1 journal migrated by the hadome of version 2, with
/// two intents of the daemon's (one closed, one left open with a step) and their events.
fn version_2_journal(path: &std::path::Path) {
    version_1_journal(path);
    let connection = raw(path);
    connection.execute_batch(VERSION_2).unwrap();
    connection
        .execute_batch(
            r#"
            INSERT INTO intents VALUES (1, 3000, 'restart db-3', 'restart', 'db-3', NULL, 'allow',
                '["restart db-3"]', '[]', 'daemon', 3500, 1, 'restarted');
            INSERT INTO intents VALUES (2, 4000, 'restart db-3', 'restart', 'db-3', NULL, 'allow',
                '["stop db-3","start db-3"]', '[]', 'daemon', NULL, NULL, NULL);
            INSERT INTO intent_steps VALUES (1, 2, 4100, 'stop db-3', 1, 'stopped');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (3000, 'intent', 'db-3',
                '{"version":1,"intent":1}');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (3500, 'outcome', 'db-3',
                '{"version":1,"intent":1,"ok":true,"detail":"restarted"}');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (4000, 'intent', 'db-3',
                '{"version":1,"intent":2}');
            INSERT INTO events (at_ms, kind, subject, body) VALUES (4100, 'step', 'db-3',
                '{"version":1,"intent":2,"step":"stop db-3","ok":true,"detail":"stopped"}');
            "#,
        )
        .unwrap();
}

fn indexes(path: &std::path::Path) -> Vec<String> {
    raw(path)
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn user_version(path: &std::path::Path) -> i64 {
    raw(path)
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

fn tables(path: &std::path::Path) -> Vec<String> {
    raw(path)
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_1_journal_is_migrated_to_the_current_version_keeping_its_rows_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    version_1_journal(&path);
    assert_eq!(user_version(&path), 1);

    let mut journal = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(tables(&path), CURRENT_TABLES);

    let history = journal.history().unwrap();
    assert_eq!(
        history.last_known["db-1"],
        LastKnown {
            position: position(7, 2, 0x500_0000, Some(&[(1, 0x300_0000)])),
            was_primary: true,
            was_streaming: false,
            observed_at: Timestamp(1_000),
            last_replay_at: None,
            // Not read by the hadome that wrote the row: not known, never a guess.
            synchronous: SyncSettings::default(),
            keepalive: KeepaliveSettings::UNKNOWN,
        }
    );
    assert_eq!(
        history.last_known["db-3"],
        LastKnown {
            position: position(7, 1, 0x400_0000, None),
            was_primary: false,
            was_streaming: true,
            observed_at: Timestamp(1_000),
            last_replay_at: Some(Timestamp(999)),
            synchronous: SyncSettings::default(),
            keepalive: Default::default(),
        }
    );
    let events = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|event| (event.id, event.kind.as_str(), event.subject.as_str()))
            .collect::<Vec<_>>(),
        [(1, "fact-changed", "db-1"), (2, "verdict", "db-3")]
    );
    assert_eq!(events[0].body["after"], "primary, timeline 2");
    assert_eq!(events[1].body["action"]["text"], "promote db-3");

    // The migrated journal records intents, after the old events.
    assert_eq!(journal.open_intents().unwrap(), []);
    let id = journal
        .record_intent(
            Timestamp(3_000),
            &Action::Promote {
                target: "db-3".into(),
            },
            Verdict::Allow,
            &["promote db-3".into()],
            &[],
            "alice",
        )
        .unwrap();
    assert_eq!(journal.open_intents().unwrap()[0].id, id);
    let events = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        (
            events[2].id,
            events[2].kind.as_str(),
            &events[2].body["actor"]
        ),
        (3, "intent", &json!("alice"))
    );
    drop(journal);

    // Reopening a migrated journal migrates nothing.
    let reopened = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(reopened.history().unwrap(), history);
    assert_eq!(reopened.open_intents().unwrap().len(), 1);
}

#[test]
fn a_migration_that_fails_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    version_1_journal(&path);
    // Something in the way of the migration's second table: the first must not stay behind.
    raw(&path)
        .execute_batch("CREATE TABLE intent_steps (anything)")
        .unwrap();

    let error = Journal::open(&path).unwrap_err();
    assert!(
        matches!(&error, JournalError::Sqlite { action, .. } if action.contains("migrate")),
        "{error:?}"
    );
    assert_eq!(user_version(&path), 1);
    assert_eq!(
        tables(&path),
        ["events", "intent_steps", "last_known", "summaries"],
        "no `intents` table"
    );

    raw(&path).execute_batch("DROP TABLE intent_steps").unwrap();
    let journal = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(journal.events_since(Timestamp(i64::MIN)).unwrap().len(), 2);
}

#[test]
fn a_version_2_journal_is_migrated_to_the_current_version_keeping_its_intents_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    version_2_journal(&path);
    assert_eq!(user_version(&path), 2);

    let mut journal = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(tables(&path), CURRENT_TABLES);
    for index in [
        "acks_target",
        "escalations_at",
        "intents_budget",
        "pauses_open",
    ] {
        assert!(
            indexes(&path).iter().any(|name| name == index),
            "{index} in {:?}",
            indexes(&path)
        );
    }

    // What version 2 knew is all there.
    let open = journal.open_intents().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id, open[0].steps_done.as_slice()),
        (2, &["stop db-3".to_owned()][..])
    );
    assert_eq!(journal.history().unwrap().last_known.len(), 2);
    let events = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(events.len(), 6, "the version-1 and version-2 events");
    // The budget counts the intents version 2 recorded.
    assert_eq!(
        journal
            .count_intents("daemon", "restart", &["db-3"], Timestamp(0))
            .unwrap(),
        2
    );

    // And the journal does what version 3 added, its events after the old ones.
    assert!(journal
        .acquire_lease("misskey", "daemon@a", Timestamp(5_000), 10_000)
        .unwrap()
        .is_held());
    let pause = journal
        .pause(Timestamp(5_100), "db-3", "restarted twice; still down")
        .unwrap();
    assert_eq!(journal.paused().unwrap(), [pause]);
    let escalation = journal
        .record_escalation(Timestamp(5_200), "misskey", "db-3", "budget", "db-3 paused")
        .unwrap();
    journal
        .record_notified(escalation, Timestamp(5_300), Ok::<(), String>(()))
        .unwrap();
    let ack = journal
        .ack(Timestamp(6_000), "db-3", "alice", "disk replaced")
        .unwrap();
    assert_eq!(ack.cleared.len(), 1);
    assert_eq!(journal.paused().unwrap(), []);
    let kinds: Vec<(i64, String)> = journal
        .events_since(Timestamp(5_000))
        .unwrap()
        .into_iter()
        .map(|event| (event.id, event.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (7, "lease".to_owned()),
            (8, "pause".to_owned()),
            (9, "escalation".to_owned()),
            (10, "notified".to_owned()),
            (11, "ack".to_owned()),
        ]
    );
    drop(journal);

    // Reopening migrates nothing and loses nothing.
    let reopened = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(
        reopened.lease("misskey").unwrap().unwrap().holder,
        "daemon@a"
    );
    assert_eq!(reopened.last_ack("db-3").unwrap(), Some(Timestamp(6_000)));
    assert_eq!(reopened.escalations_since(Timestamp(0)).unwrap().len(), 1);
}

#[test]
fn a_failed_migration_from_version_2_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    version_2_journal(&path);
    // Something in the way of version 3's fourth table: the first three must not stay behind.
    raw(&path)
        .execute_batch("CREATE TABLE escalations (anything)")
        .unwrap();

    let error = Journal::open(&path).unwrap_err();
    assert!(
        matches!(&error, JournalError::Sqlite { action, .. } if action.contains("migrate")),
        "{error:?}"
    );
    assert_eq!(user_version(&path), 2);
    assert_eq!(
        tables(&path),
        [
            "escalations",
            "events",
            "intent_steps",
            "intents",
            "last_known",
            "summaries"
        ],
        "no `leases`, `pauses` or `acks`"
    );
    assert!(!indexes(&path).iter().any(|name| name == "intents_budget"));

    raw(&path).execute_batch("DROP TABLE escalations").unwrap();
    let journal = Journal::open(&path).unwrap();
    assert_eq!(user_version(&path), CURRENT_VERSION);
    assert_eq!(journal.open_intents().unwrap().len(), 1);
}
