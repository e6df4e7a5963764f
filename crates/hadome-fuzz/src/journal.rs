//! The journal's JSON bodies, read back: what hadome finds in its own file after damage on disk,
//! a hand edit, or a newer hadome's records.
//!
//! The journal writes every body itself, so the only way to give it untrusted bodies is the way
//! damage does: past its API, into the file. The target keeps one journal per thread, writes the
//! fuzzed text into one JSON column through a second SQLite connection, and reads it back through
//! the journal's public readers, which must refuse it as corrupt naming that table and column
//! (`JournalError::Corrupt`), or read it.

use std::cell::RefCell;
use std::path::PathBuf;

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, JournalError};
use rusqlite::Connection;

/// A journal and a second connection to its file, in a directory of their own.
struct Fixture {
    journal: Journal,
    raw: Connection,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

/// Where the fuzzed text goes: a table and its JSON column.
#[derive(Debug, Clone, Copy)]
enum Column {
    /// `events.body`, of an event of one of the known kinds (or an unknown one).
    EventBody,
    LastKnownHistory,
    BackupMadeBody,
    RestoreTestBody,
    MemberState,
    FailoverBody,
    IntentPlan,
    IntentOverrides,
}

impl Column {
    const ALL: [Column; 8] = [
        Column::EventBody,
        Column::LastKnownHistory,
        Column::BackupMadeBody,
        Column::RestoreTestBody,
        Column::MemberState,
        Column::FailoverBody,
        Column::IntentPlan,
        Column::IntentOverrides,
    ];

    /// `table.column`, as a corrupt value's error names it.
    fn name(self) -> &'static str {
        match self {
            Column::EventBody => "events.body",
            Column::LastKnownHistory => "last_known.history",
            Column::BackupMadeBody | Column::RestoreTestBody => "backup_records.body",
            Column::MemberState => "member_last_known.state",
            Column::FailoverBody => "failover_records.body",
            Column::IntentPlan => "intents.plan",
            Column::IntentOverrides => "intents.overrides",
        }
    }
}

/// Event kinds the fuzzed event body is stored under: every kind the journal writes, and one
/// from a newer hadome.
const EVENT_KINDS: &[&str] = &[
    hadome_journal::KIND_FACT_CHANGED,
    hadome_journal::KIND_FINDING_RAISED,
    hadome_journal::KIND_FINDING_CLEARED,
    hadome_journal::KIND_VERDICT,
    hadome_journal::KIND_INTENT,
    hadome_journal::KIND_OVERRIDE,
    hadome_journal::KIND_STEP,
    hadome_journal::KIND_OUTCOME,
    hadome_journal::KIND_LEASE,
    hadome_journal::KIND_PAUSE,
    hadome_journal::KIND_ACK,
    hadome_journal::KIND_ESCALATION,
    hadome_journal::KIND_NOTIFIED,
    hadome_journal::KIND_BACKUP_MADE,
    hadome_journal::KIND_BACKUP_FAILED,
    hadome_journal::KIND_RESTORE_TEST,
    hadome_journal::KIND_FAILOVER,
    hadome_journal::KIND_HOST_BOOT,
    hadome_journal::KIND_IMAGE,
    hadome_journal::KIND_MEMBER_DOWN,
    hadome_journal::KIND_MEMBER_BACK,
    hadome_journal::KIND_API_REFUSED,
    "from-a-newer-hadome",
];

/// The first byte picks the column (and the second, for an event, its kind); the rest is the
/// column's text, bytes as they are (SQLite stores text that is not UTF-8 as readily).
///
/// Invariants: no panic; a refusal is `JournalError::Corrupt` naming the table and column the
/// text was written to.
pub fn journal(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let column = Column::ALL[usize::from(selector) % Column::ALL.len()];
    let (kind, text) = match (column, rest.split_first()) {
        (Column::EventBody, Some((&kind, text))) => {
            (EVENT_KINDS[usize::from(kind) % EVENT_KINDS.len()], text)
        }
        _ => (EVENT_KINDS[0], rest),
    };
    FIXTURE.with(|fixture| {
        let mut fixture = fixture.borrow_mut();
        let fixture = fixture.get_or_insert_with(Fixture::new);
        fixture.write(column, kind, text);
        for (reader, result) in fixture.read(column) {
            if let Err(error) = result {
                check_refusal(&error, column, reader, &fixture.path);
            }
        }
    });
}

/// What a refusal must say: the table and column, in the journal file.
fn check_refusal(error: &JournalError, column: Column, reader: &str, path: &std::path::Path) {
    let message = error.to_string();
    assert!(
        matches!(error, JournalError::Corrupt { .. }),
        "{reader}: a damaged value is a corrupt value, not another error: {message}"
    );
    assert!(
        message.contains(&format!("`{}`", column.name())),
        "{reader}: the refusal names `{}`: {message}",
        column.name()
    );
    assert!(
        message.contains(&path.display().to_string()),
        "{reader}: the refusal names the journal file: {message}"
    );
}

impl Fixture {
    fn new() -> Fixture {
        // The fixture is the target's own set-up, not input: failing here is the harness's bug.
        let dir = tempfile::Builder::new()
            .prefix("hadome-fuzz-journal")
            .tempdir_in(scratch_dir())
            .expect("a temporary directory for the fuzzed journal");
        let path = dir.path().join("journal.sqlite");
        let journal = Journal::open(&path).expect("a new journal opens");
        let raw = Connection::open(&path).expect("a second connection to the new journal");
        // Damage written by the target needs no durability: it is rewritten on every input.
        raw.pragma_update(None, "synchronous", "OFF")
            .expect("PRAGMA synchronous on the fuzzed journal");
        Fixture {
            journal,
            raw,
            path,
            _dir: dir,
        }
    }

    /// Empties the tables the target writes, then writes one row holding `text` in `column`,
    /// every other value one the journal itself would write.
    fn write(&self, column: Column, kind: &str, text: &[u8]) {
        let valid = |wanted: Column, valid: &'static [u8]| -> &[u8] {
            if column as u8 == wanted as u8 {
                text
            } else {
                valid
            }
        };
        let sql = "
            DELETE FROM events; DELETE FROM last_known; DELETE FROM backup_records;
            DELETE FROM member_last_known; DELETE FROM failover_records; DELETE FROM intents;";
        self.raw
            .execute_batch(sql)
            .expect("emptying the fuzzed journal");
        // The intent first: a failover record refers to it.
        self.raw
            .execute(
                "INSERT INTO intents (id, at_ms, action_text, action_name, target, source, \
                 verdict, plan, overrides, actor, outcome_at_ms, outcome_ok, outcome_detail) \
                 VALUES (1, 1, 'restart db-1', 'restart', 'db-1', NULL, 'allow', \
                 CAST(?1 AS TEXT), CAST(?2 AS TEXT), 'cli', NULL, NULL, NULL)",
                rusqlite::params![
                    valid(Column::IntentPlan, b"[\"stop db-1\"]"),
                    valid(Column::IntentOverrides, b"[]")
                ],
            )
            .expect("writing the fuzzed intent");
        let statement = match column {
            Column::EventBody => {
                "INSERT INTO events (at_ms, kind, subject, body) \
                 VALUES (1, ?2, 'db-1', CAST(?1 AS TEXT))"
            }
            Column::LastKnownHistory => {
                "INSERT INTO last_known (instance, system_identifier, timeline, lsn, history, \
                 was_primary, was_streaming, observed_at_ms, last_replay_at_ms) \
                 VALUES ('db-1', '7000000000000000001', 1, 100, CAST(?1 AS TEXT), 1, 0, 1, NULL)"
            }
            Column::BackupMadeBody | Column::RestoreTestBody => {
                "INSERT INTO backup_records (at_ms, backup, kind, path, body) \
                 VALUES (1, 'nightly', ?2, '/srv/backup/nightly.dump', CAST(?1 AS TEXT))"
            }
            Column::MemberState => {
                "INSERT INTO member_last_known (member, state, state_at_ms, last_healthy_ms) \
                 VALUES ('etcd-1', CAST(?1 AS TEXT), 1, 1)"
            }
            Column::FailoverBody => {
                "INSERT INTO failover_records (at_ms, intent_id, cluster, phase, body) \
                 VALUES (1, 1, 'main', 'promoted', CAST(?1 AS TEXT))"
            }
            // Written with the intent below.
            Column::IntentPlan | Column::IntentOverrides => "",
        };
        let kind = match column {
            Column::BackupMadeBody => "made",
            Column::RestoreTestBody => "restore-test",
            _ => kind,
        };
        // Only the statements of a kind take it.
        let params: Vec<&dyn rusqlite::ToSql> = if statement.contains("?2") {
            vec![&text, &kind]
        } else {
            vec![&text]
        };
        if !statement.is_empty() {
            self.raw
                .execute(statement, rusqlite::params_from_iter(params))
                .expect("writing the fuzzed value");
        }
    }

    /// Every public reader that reads `column`, by name, and what it returned.
    fn read(&self, column: Column) -> Vec<(&'static str, Result<(), JournalError>)> {
        let journal = &self.journal;
        match column {
            Column::EventBody => vec![
                (
                    "events_since",
                    journal.events_since(Timestamp(i64::MIN)).map(drop),
                ),
                (
                    "tally_events_after",
                    journal.tally_events_after(0).map(drop),
                ),
            ],
            Column::LastKnownHistory
            | Column::BackupMadeBody
            | Column::RestoreTestBody
            | Column::MemberState => vec![("history", journal.history().map(drop))],
            Column::FailoverBody => vec![
                ("last_failovers", journal.last_failovers().map(drop)),
                ("failover", journal.failover(1).map(drop)),
            ],
            Column::IntentPlan | Column::IntentOverrides => vec![
                ("open_intents", journal.open_intents().map(drop)),
                ("intent", journal.intent(1).map(drop)),
            ],
        }
    }
}

/// Where the fuzzed journal lives: memory-backed `/dev/shm` when there is one, since the target
/// rewrites it on every input.
fn scratch_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}
