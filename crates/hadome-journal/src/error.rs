//! The journal's one error type: what failed, on which file, and what to do about it.
//!
//! Every variant names the journal file; a value that is not what hadome wrote also names its
//! table, row and column, so a person can look at it with `sqlite3`. Nothing read from the file
//! ever panics: it becomes one of these.

use std::path::PathBuf;

/// Why the journal could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened or created, or is not a SQLite database.
    #[error("cannot open the journal `{}`", path.display())]
    Open {
        /// The journal file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is a SQLite database, but someone else's.
    #[error("`{}` is a SQLite database but not a hadome journal: {reason}", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The file's schema version (`PRAGMA user_version`) is one this code does not know: written
    /// by a newer hadome, most likely.
    #[error(
        "the journal `{}` has schema version {found}; this hadome knows versions up to {known}",
        path.display()
    )]
    UnsupportedVersion {
        /// The journal file.
        path: PathBuf,
        /// The file's version.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },
    /// SQLite would not put the file in WAL mode.
    #[error("the journal `{}` cannot use WAL mode: SQLite kept journal mode `{mode}`", path.display())]
    NoWal {
        /// The journal file.
        path: PathBuf,
        /// The mode SQLite reported.
        mode: String,
    },
    /// A statement failed.
    #[error("the journal `{}`: could not {action}", path.display())]
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// What hadome was doing, as a verb phrase (`record facts`, `read events` …).
        action: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A value in the file is not one hadome writes.
    #[error(
        "the journal `{}` holds a corrupt value in `{table}.{column}` of {row}: {detail}",
        path.display()
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// Which row: "instance `db-1`", "event 17".
        row: String,
        /// The column.
        column: &'static str,
        /// What is wrong with the value.
        detail: String,
    },
    /// A step or an outcome names an intent that does not exist or is closed already. Nothing was
    /// recorded.
    #[error("the journal `{}`: intent {id}: {reason}", path.display())]
    Intent {
        /// The journal file.
        path: PathBuf,
        /// The intent's id.
        id: i64,
        /// Why nothing can be recorded on it: `there is no such intent`,
        /// `it is closed already (it failed at 1700000000000 ms)`.
        reason: String,
    },
    /// A notification names an escalation that does not exist. Nothing was recorded.
    #[error("the journal `{}`: escalation {id}: {reason}", path.display())]
    Escalation {
        /// The journal file.
        path: PathBuf,
        /// The escalation's id.
        id: i64,
        /// Why nothing can be recorded on it: `there is no such escalation`.
        reason: String,
    },
    /// A record could not be encoded as JSON (a bug).
    #[error("the journal `{}`: could not encode {what} (a bug: please report it)", path.display())]
    Encode {
        /// The journal file.
        path: PathBuf,
        /// Which record.
        what: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl JournalError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            JournalError::Open { path, .. } => Some(format!(
                "check that `{}` is a hadome journal (or does not exist yet) and that its directory exists and is writable; \
                 the estate file's `[journal] path` names it",
                path.display()
            )),
            JournalError::NotAJournal { .. } => {
                Some("point the estate file's `[journal] path` at a new file or at hadome's own journal".to_owned())
            }
            JournalError::UnsupportedVersion { .. } => Some(
                "upgrade hadome to the version that wrote this journal, or point `[journal] path` at another file"
                    .to_owned(),
            ),
            JournalError::NoWal { path, .. } => Some(format!(
                "put `{}` on a local file system (WAL needs shared memory, which network file systems lack)",
                path.display()
            )),
            JournalError::Sqlite { source, .. } if is_busy(source) => Some(
                "another process held the journal's write lock for more than 5 s: check for a stuck hadome process"
                    .to_owned(),
            ),
            JournalError::Corrupt { path, table, .. } => Some(format!(
                "inspect it with `sqlite3 {} 'SELECT * FROM {table}'`; hadome never writes such a value",
                path.display()
            )),
            JournalError::Intent { path, id, .. } => Some(format!(
                "an intent is closed once, by the process that recorded it; look at it with \
                 `sqlite3 {} 'SELECT * FROM intents WHERE id = {id}'`",
                path.display()
            )),
            JournalError::Escalation { path, .. } => Some(format!(
                "record a notification on the id `record_escalation` returned; the escalations are \
                 `sqlite3 {} 'SELECT * FROM escalations'`",
                path.display()
            )),
            JournalError::Sqlite { .. } | JournalError::Encode { .. } => None,
        }
    }
}

/// Whether SQLite gave up waiting for a lock.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
