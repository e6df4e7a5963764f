//! A damaged file: every bad value is an error naming its table, row and column, never a panic.

use hadome_core::fact::Timestamp;
use hadome_journal::JournalError;

use crate::support::{answered, facts, new_journal, position, raw, state, unreachable};

#[test]
fn corrupt_last_known_values_are_errors_naming_the_instance_and_column() {
    let damages = [
        ("system_identifier", "'seven'"),
        ("system_identifier", "'-1'"),
        ("timeline", "-1"),
        ("timeline", "4294967296"),
        ("timeline", "'two'"),
        ("lsn", "1.5"),
        ("lsn", "X'00'"),
        ("history", "'[[1,'"),
        ("history", "'[[-1, 5]]'"),
        ("history", "'{}'"),
        ("history", "3"),
        ("was_primary", "2"),
        ("was_streaming", "'yes'"),
        ("observed_at_ms", "'yesterday'"),
        ("last_replay_at_ms", "'never'"),
    ];
    for (column, value) in damages {
        let (_dir, path, mut journal) = new_journal();
        journal
            .record_facts(&facts([(
                "db-1",
                answered(
                    1_000,
                    state(true, position(7, 1, 0x500, Some(&[])), true, 0),
                ),
            )]))
            .unwrap();
        raw(&path)
            .execute(&format!("UPDATE last_known SET {column} = {value}"), [])
            .unwrap();

        let error = journal.history().unwrap_err();
        let JournalError::Corrupt {
            table,
            row,
            column: named,
            ..
        } = &error
        else {
            panic!("{column} = {value}: expected a corrupt value, got {error:?}");
        };
        assert_eq!(
            (*table, row.as_str(), *named),
            ("last_known", "instance `db-1`", column),
            "{column} = {value}"
        );
        let message = error.to_string();
        assert!(
            message.contains("db-1")
                && message.contains(column)
                && message.contains("journal.sqlite"),
            "{message}"
        );
        assert!(error.hint().is_some());
    }
}

#[test]
fn a_corrupt_event_body_is_an_error_naming_the_event() {
    let (_dir, path, mut journal) = new_journal();
    journal
        .record_facts(&facts([("db-1", unreachable(1_000, "connection refused"))]))
        .unwrap();
    raw(&path)
        .execute("UPDATE events SET body = '{not json'", [])
        .unwrap();
    let error = journal.events_since(Timestamp(0)).unwrap_err();
    assert!(
        matches!(&error, JournalError::Corrupt { table: "events", row, column: "body", .. } if row == "event 1"),
        "{error:?}"
    );
}

#[test]
fn a_corrupt_summary_is_an_error_and_the_pass_records_nothing() {
    let (_dir, path, mut journal) = new_journal();
    journal
        .record_facts(&facts([("db-1", unreachable(1_000, "connection refused"))]))
        .unwrap();
    raw(&path)
        .execute("UPDATE summaries SET summary = X'FFFE'", [])
        .unwrap();
    let error = journal
        .record_facts(&facts([
            (
                "db-0",
                answered(2_000, state(false, position(7, 1, 0x500, None), false, 0)),
            ),
            ("db-1", unreachable(2_000, "timed out")),
        ]))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            JournalError::Corrupt {
                table: "summaries",
                column: "summary",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        journal.history().unwrap().last_known.is_empty(),
        "the transaction was rolled back"
    );
    assert_eq!(journal.events_since(Timestamp(0)).unwrap().len(), 1);
}
