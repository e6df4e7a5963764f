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
        ("synchronous_commit", "X'00'"),
        ("wal_sender_timeout_ms", "-1"),
        ("wal_receiver_status_interval_ms", "'10s'"),
        ("wal_receiver_timeout_ms", "0.5"),
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

/// A journal with one open intent (with a step) and one closed intent; returns their ids.
fn journal_with_intents() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    hadome_journal::Journal,
    i64,
    i64,
) {
    use hadome_core::action::Action;
    use hadome_core::finding::Verdict;
    use hadome_journal::Override;

    let (dir, path, mut journal) = new_journal();
    let action = Action::Restart {
        target: "db-1".into(),
    };
    let plan = ["restart db-1".to_owned()];
    let overrides = [Override {
        rule: "stale-facts".into(),
        reason: "known".into(),
    }];
    let open = journal
        .record_intent(
            Timestamp(1_000),
            &action,
            Verdict::Allow,
            &plan,
            &overrides,
            "alice",
        )
        .unwrap();
    journal
        .record_step(open, Timestamp(1_100), "restart db-1", true, "restarted")
        .unwrap();
    let closed = journal
        .record_intent(
            Timestamp(2_000),
            &action,
            Verdict::Allow,
            &plan,
            &overrides,
            "alice",
        )
        .unwrap();
    journal
        .record_outcome(closed, Timestamp(2_100), true, "done")
        .unwrap();
    (dir, path, journal, open, closed)
}

fn assert_corrupt(error: &JournalError, expected: (&str, &str, &str), case: &str) {
    let JournalError::Corrupt {
        table, row, column, ..
    } = error
    else {
        panic!("{case}: expected a corrupt value, got {error:?}");
    };
    assert_eq!((*table, row.as_str(), *column), expected, "{case}");
    assert!(error.hint().is_some());
    assert!(error.to_string().contains("journal.sqlite"), "{error}");
}

#[test]
fn corrupt_intent_values_are_errors_naming_the_intent_and_column() {
    // TEXT columns turn numbers into text: a blob is what they cannot hold.
    let damages = [
        ("at_ms", "'yesterday'"),
        ("action_text", "X'00'"),
        ("action_name", "X'01'"),
        ("target", "X'FFFE'"),
        ("source", "X'02'"),
        ("verdict", "'maybe'"),
        ("plan", "'[\"restart db-1\",'"),
        ("plan", "'{}'"),
        ("plan", "'[1]'"),
        ("plan", "'[\"a\", null]'"),
        ("overrides", "'[{\"rule\": 1}]'"),
        ("overrides", "'not json'"),
        ("actor", "X'FFFE'"),
        ("outcome_ok", "1"),
        ("outcome_detail", "'done'"),
    ];
    for (column, value) in damages {
        let (_dir, path, journal, open, _closed) = journal_with_intents();
        raw(&path)
            .execute(
                &format!("UPDATE intents SET {column} = {value} WHERE id = ?1"),
                [open],
            )
            .unwrap();
        let case = format!("{column} = {value}");
        let row = format!("intent {open}");
        let expected = ("intents", row.as_str(), column);
        assert_corrupt(&journal.intent(open).unwrap_err(), expected, &case);
        assert_corrupt(&journal.open_intents().unwrap_err(), expected, &case);
    }
}

#[test]
fn corrupt_outcomes_are_errors_naming_the_intent_and_column() {
    let damages = [
        ("outcome_ok", "2"),
        ("outcome_ok", "NULL"),
        ("outcome_ok", "'yes'"),
        ("outcome_detail", "NULL"),
        ("outcome_detail", "X'07'"),
    ];
    for (column, value) in damages {
        let (_dir, path, journal, _open, closed) = journal_with_intents();
        raw(&path)
            .execute(
                &format!("UPDATE intents SET {column} = {value} WHERE id = ?1"),
                [closed],
            )
            .unwrap();
        let case = format!("{column} = {value}");
        let row = format!("intent {closed}");
        assert_corrupt(
            &journal.intent(closed).unwrap_err(),
            ("intents", row.as_str(), column),
            &case,
        );
        assert_eq!(
            journal.open_intents().unwrap().len(),
            1,
            "{case}: the open intent is still listed"
        );
    }

    // A damaged close time: neither open nor closed, so nothing is recorded on it.
    let (_dir, path, mut journal, _open, closed) = journal_with_intents();
    raw(&path)
        .execute(
            "UPDATE intents SET outcome_at_ms = 'later' WHERE id = ?1",
            [closed],
        )
        .unwrap();
    let row = format!("intent {closed}");
    let expected = ("intents", row.as_str(), "outcome_at_ms");
    assert_corrupt(&journal.intent(closed).unwrap_err(), expected, "intent");
    let events = journal.events_since(Timestamp(0)).unwrap().len();
    assert_corrupt(
        &journal
            .record_outcome(closed, Timestamp(3_000), true, "again")
            .unwrap_err(),
        expected,
        "record_outcome",
    );
    assert_corrupt(
        &journal
            .record_step(closed, Timestamp(3_000), "x", true, "again")
            .unwrap_err(),
        expected,
        "record_step",
    );
    assert_eq!(journal.events_since(Timestamp(0)).unwrap().len(), events);
}

#[test]
fn corrupt_step_values_are_errors_naming_the_step_and_column() {
    let damages = [
        ("at_ms", "'soon'"),
        ("step", "X'05'"),
        ("ok", "2"),
        ("ok", "'yes'"),
        ("detail", "X'00'"),
    ];
    for (column, value) in damages {
        let (_dir, path, journal, open, _closed) = journal_with_intents();
        raw(&path)
            .execute(&format!("UPDATE intent_steps SET {column} = {value}"), [])
            .unwrap();
        let case = format!("{column} = {value}");
        let row = format!("step 1 (of intent {open})");
        let expected = ("intent_steps", row.as_str(), column);
        assert_corrupt(&journal.intent(open).unwrap_err(), expected, &case);
        assert_corrupt(&journal.open_intents().unwrap_err(), expected, &case);
    }
}
