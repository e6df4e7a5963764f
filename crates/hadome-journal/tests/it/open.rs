//! Opening: a new file in WAL mode, reopening, and files hadome must refuse without touching.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use hadome_journal::{Journal, JournalError};

use crate::support::{answered, facts, new_journal, position, raw, state};

#[test]
fn open_creates_the_file_in_wal_mode_with_the_current_schema_version() {
    let (_dir, path, journal) = new_journal();
    assert!(path.is_file());
    assert_eq!(journal.path(), path);
    let connection = raw(&path);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, crate::migrate::CURRENT_VERSION);
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
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
            "summaries"
        ]
    );
}

#[test]
fn reopening_keeps_history_and_events() {
    let (_dir, path, mut journal) = new_journal();
    journal
        .record_facts(&facts([(
            "db-1",
            answered(
                1_000,
                state(
                    false,
                    position(7, 2, 0x500_0000, Some(&[(1, 0x300_0000)])),
                    false,
                    0,
                ),
            ),
        )]))
        .unwrap();
    journal
        .record_verdict(
            Timestamp(2_000),
            &Action::Stop {
                target: "db-1".into(),
            },
            Verdict::Allow,
            &[],
        )
        .unwrap();
    let history = journal.history().unwrap();
    let events = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(events.len(), 2);
    drop(journal);

    let reopened = Journal::open(&path).unwrap();
    assert_eq!(reopened.history().unwrap(), history);
    assert_eq!(reopened.events_since(Timestamp(i64::MIN)).unwrap(), events);
}

#[test]
fn a_newer_schema_version_is_refused_and_left_alone() {
    let (_dir, path, journal) = new_journal();
    drop(journal);
    raw(&path)
        .pragma_update(None, "user_version", crate::migrate::CURRENT_VERSION + 1)
        .unwrap();

    let error = Journal::open(&path).unwrap_err();
    assert!(
        matches!(
            error,
            JournalError::UnsupportedVersion {
                found: 11,
                known: 10,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("schema version 11") && message.contains("up to 10"),
        "{message}"
    );
    assert!(error.hint().is_some());
    let version: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, crate::migrate::CURRENT_VERSION + 1);
}

#[test]
fn someone_elses_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    raw(&path)
        .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .unwrap();

    let error = Journal::open(&path).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("other.sqlite"), "{error}");
    let connection = raw(&path);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "its journal mode is unchanged");
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .unwrap();
    assert_eq!(tables, 1, "no table was added");

    let other_application = dir.path().join("other-app.sqlite");
    raw(&other_application)
        .pragma_update(None, "application_id", 42)
        .unwrap();
    let error = Journal::open(&other_application).unwrap_err();
    assert!(
        matches!(error, JournalError::NotAJournal { .. }),
        "{error:?}"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let content = "not a database, but long enough to have a header of sorts: ".repeat(20);
    std::fs::write(&path, &content).unwrap();

    let error = Journal::open(&path).unwrap_err();
    assert!(matches!(error, JournalError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("notes.txt"), "{error}");
    assert!(
        std::error::Error::source(&error).is_some(),
        "carries SQLite's error"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

#[test]
fn a_missing_directory_is_an_open_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("journal.sqlite");
    let error = Journal::open(&path).unwrap_err();
    assert!(matches!(error, JournalError::Open { .. }), "{error:?}");
    assert!(
        error.to_string().contains("missing/journal.sqlite"),
        "{error}"
    );
}

#[test]
fn a_journal_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Journal>();
}

#[test]
fn two_handles_on_one_file_both_record() {
    let (_dir, path, journal) = new_journal();
    drop(journal);
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut journal = Journal::open(&path).unwrap();
                for pass in 0..50 {
                    let at = 1_000 * pass + writer;
                    let instance = format!("db-{writer}");
                    let error = format!("pass {pass}");
                    journal
                        .record_facts(&crate::support::facts([(
                            instance.as_str(),
                            crate::support::unreachable(at, &error),
                        )]))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let events = Journal::open(&path)
        .unwrap()
        .events_since(Timestamp(i64::MIN))
        .unwrap();
    assert_eq!(
        events.len(),
        100,
        "every pass changed its instance's summary"
    );
}
