//! The restore test's one error type: hadome's own trouble, never a failed test.
//!
//! A dump that does not restore, a missing table or a count that differs is a failed test (a
//! [`crate::RestoreTestReport`] with `ok` false), not an error. A [`RestoreError`] says that the
//! test, or a count, could not be done at all: what failed, where (the copy, the table, the
//! scratch server), the cause as its `source()`, and the fix as [`RestoreError::hint`].
//! [`RestoreError::to_line`] puts all of it on one line, for a journal entry or a step's detail.

use std::path::PathBuf;
use std::time::Duration;

use hadome_lab::LabError;

/// Why a restore test or a row count could not be done.
///
/// The `Display` of a variant is its headline; the cause is its `source()`, and how to fix it is
/// [`RestoreError::hint`]. No variant holds a conninfo, which may hold a password. A lab error is
/// boxed: it is large, and every `Result` of this crate would carry its size.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The conninfo of the server to count does not parse.
    #[error("{reason}")]
    Conninfo {
        /// What the parser said (`the conninfo does not parse: …`), without the conninfo.
        reason: String,
    },

    /// A statement or a connection failed: on the counted server, or on the scratch server when
    /// `what` says so (`create the scratch database`, `connect to the restored database`).
    #[error("cannot {what}")]
    Sql {
        /// What hadome was doing, as a verb phrase (`connect`, `list the tables`).
        what: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A connection or a statement got no answer in time.
    #[error("cannot {what}: no answer within {} s", waited.as_secs_f64())]
    NoAnswer {
        /// What hadome was doing, as a verb phrase.
        what: &'static str,
        /// How long it waited.
        waited: Duration,
    },

    /// A value the server sent is not of the type hadome asked for.
    #[error("unreadable {what}")]
    Unreadable {
        /// The value (`` `pg_export_snapshot()` ``, `table list`).
        what: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Counting one table's rows failed.
    #[error("cannot count the rows of {table}")]
    CountRows {
        /// The table, quoted as SQL names it (`"Odd Schema"."Mixed Case"`).
        table: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// One table's row count came back in a type hadome cannot read.
    #[error("unreadable row count of {table}")]
    UnreadableCount {
        /// The table, quoted.
        table: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A table's row count came back negative.
    #[error("{table} has a negative row count ({count})")]
    NegativeCount {
        /// The table, quoted.
        table: String,
        /// What the server said.
        count: i64,
    },

    /// Two tables would be recorded under one `schema.table` key (`"a.b".c` and `a."b.c"`).
    #[error("tables {first} and {second} would both be recorded as `{key}`")]
    SameKey {
        /// The first table, quoted.
        first: String,
        /// The second table, quoted.
        second: String,
        /// The key they share.
        key: String,
    },

    /// Counting every table took longer than allowed.
    #[error("counting the rows of every table took more than {} s", waited.as_secs_f64())]
    CountTimeout {
        /// The bound.
        waited: Duration,
    },

    /// Counting the rows of the restored database failed.
    #[error("cannot count the restored rows")]
    CountRestored {
        /// Why.
        #[source]
        source: Box<RestoreError>,
    },

    /// The scratch server ended the connection that counted the restored rows.
    #[error(
        "the scratch server ended the connection while hadome counted rows{}",
        if source.is_none() { ": closed" } else { "" }
    )]
    ScratchConnectionEnded {
        /// The driver's error, when the connection failed rather than closed.
        #[source]
        source: Option<tokio_postgres::Error>,
    },

    /// The dump cannot be opened.
    #[error("cannot open the dump `{}`", dump.display())]
    OpenDump {
        /// The copy.
        dump: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The dump was opened, but what it is cannot be learned.
    #[error("cannot read the dump `{}`", dump.display())]
    ReadDump {
        /// The copy.
        dump: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The dump is a directory, a device or a pipe.
    #[error("the dump `{}` is not a file", dump.display())]
    DumpNotAFile {
        /// The copy.
        dump: PathBuf,
    },

    /// The `hadome` binary, which serves the scratch server's lab proxy, is not there.
    #[error(
        "the `hadome` binary `{}`, which runs the scratch server's lab proxy, does not exist",
        binary.display()
    )]
    HadomeBinaryMissing {
        /// The path given.
        binary: PathBuf,
    },

    /// PostgreSQL's programs were not found.
    #[error("cannot find PostgreSQL's programs for the scratch server")]
    Bindir {
        /// The lab's error, with its hint.
        #[source]
        source: Box<LabError>,
    },

    /// PostgreSQL's programs were found, but not `pg_restore`.
    #[error("PostgreSQL's `pg_restore` was not found in `{}`", bindir.display())]
    PgRestoreMissing {
        /// The directory searched.
        bindir: PathBuf,
    },

    /// `pg_restore` could not be started.
    #[error("cannot run `{}`", program.display())]
    PgRestoreSpawn {
        /// The program.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// `pg_restore` ran, but hadome lost track of it.
    #[error("cannot {what}")]
    PgRestoreIo {
        /// What hadome was doing (`` read `pg_restore`'s messages ``).
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The directory the scratch server's directory is made in does not exist.
    #[error("the directory for the scratch server, `{}`, does not exist", parent.display())]
    ScratchParentMissing {
        /// The directory given.
        parent: PathBuf,
    },

    /// The scratch server's directory cannot be made.
    #[error("cannot create a scratch directory in `{}`", parent.display())]
    ScratchDir {
        /// Where it was to be made.
        parent: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Every name the scratch server's directory could take is taken.
    #[error(
        "`{}` already holds a hundred scratch directories by this name",
        parent.display()
    )]
    ScratchDirsTaken {
        /// Where they are.
        parent: PathBuf,
    },

    /// A file's or directory's owner could not be learned.
    #[error("cannot read `{}`", path.display())]
    Metadata {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The scratch server did not start.
    #[error("cannot start the scratch PostgreSQL server in `{}`", dir.display())]
    ScratchStart {
        /// The scratch server's directory.
        dir: PathBuf,
        /// The lab's error, with its hint.
        #[source]
        source: Box<LabError>,
    },

    /// The running scratch server did not give what the restore needs.
    #[error("{what}")]
    Scratch {
        /// What failed (`cannot connect to the scratch server`).
        what: &'static str,
        /// The lab's error, with its hint.
        #[source]
        source: Box<LabError>,
    },

    /// The scratch server was not torn down.
    #[error("the scratch server in `{}` was not torn down", dir.display())]
    ScratchTeardown {
        /// The scratch server's directory.
        dir: PathBuf,
        /// The lab's error, with its hint.
        #[source]
        source: Box<LabError>,
    },

    /// The test failed, and the scratch server was not torn down either.
    #[error("{}; then {}", error.to_line(), teardown.to_line())]
    ThenTeardown {
        /// Why the test failed.
        error: Box<RestoreError>,
        /// Why the teardown failed.
        teardown: Box<RestoreError>,
    },

    /// The scratch server's one-node topology does not parse.
    #[error("the restore test's topology is invalid, a bug in hadome (please report it)")]
    TopologyBug {
        /// The lab's error.
        #[source]
        source: Box<LabError>,
    },

    /// The task tearing the scratch server down panicked or was cancelled.
    #[error(
        "tearing the scratch server in `{}` down failed, a bug in hadome (please report it)",
        dir.display()
    )]
    TeardownBug {
        /// The scratch server's directory.
        dir: PathBuf,
        /// The task's error.
        #[source]
        source: tokio::task::JoinError,
    },

    /// `pg_restore`'s standard error was asked for and not given.
    #[error("`pg_restore`'s stderr was not captured, a bug in hadome (please report it)")]
    StderrBug,
}

impl RestoreError {
    /// How to fix the error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let install = "install PostgreSQL 15 with `apt-get install postgresql-15`";
        match self {
            RestoreError::SameKey { .. } => Some("rename one of them".to_owned()),
            RestoreError::CountTimeout { .. } => Some("allow more time".to_owned()),
            RestoreError::CountRestored { source } => source.hint(),
            RestoreError::DumpNotAFile { .. } => {
                Some("give the path of a `pg_dump --format=custom` archive".to_owned())
            }
            RestoreError::HadomeBinaryMissing { .. } => {
                Some("give the path of an installed hadome".to_owned())
            }
            RestoreError::PgRestoreMissing { .. } => Some(format!(
                "{install}, or point `{}` at a directory holding it",
                hadome_lab::BINDIR_ENV
            )),
            RestoreError::PgRestoreSpawn { .. } => Some(format!(
                "{install}, or point `{}` at its binaries",
                hadome_lab::BINDIR_ENV
            )),
            RestoreError::ScratchParentMissing { .. } => {
                Some("create it or choose another".to_owned())
            }
            RestoreError::ScratchDir { .. } => {
                Some("choose a directory hadome may write to".to_owned())
            }
            RestoreError::ScratchDirsTaken { .. } => Some("remove the leftovers".to_owned()),
            RestoreError::Bindir { source }
            | RestoreError::ScratchStart { source, .. }
            | RestoreError::Scratch { source, .. }
            | RestoreError::ScratchTeardown { source, .. } => source.hint(),
            RestoreError::Conninfo { .. }
            | RestoreError::Sql { .. }
            | RestoreError::NoAnswer { .. }
            | RestoreError::Unreadable { .. }
            | RestoreError::CountRows { .. }
            | RestoreError::UnreadableCount { .. }
            | RestoreError::NegativeCount { .. }
            | RestoreError::ScratchConnectionEnded { .. }
            | RestoreError::OpenDump { .. }
            | RestoreError::ReadDump { .. }
            | RestoreError::PgRestoreIo { .. }
            | RestoreError::Metadata { .. }
            // Both halves are already on their line, each with its own hint.
            | RestoreError::ThenTeardown { .. }
            | RestoreError::TopologyBug { .. }
            | RestoreError::TeardownBug { .. }
            | RestoreError::StderrBug => None,
        }
    }

    /// The error on one line, as a journal entry or a step's detail records it: the headline,
    /// each cause after `: `, and the hint after `; `.
    pub fn to_line(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        if let Some(hint) = self.hint() {
            text.push_str("; ");
            text.push_str(&hint);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-line texts are those the restore test wrote before its errors were typed: the
    /// journal and `run restore-backup`'s step details keep saying the same.
    #[test]
    fn a_line_holds_the_headline_the_causes_and_the_hint() {
        let same_key = RestoreError::SameKey {
            first: "\"a.b\".c".to_owned(),
            second: "a.\"b.c\"".to_owned(),
            key: "a.b.c".to_owned(),
        };
        assert_eq!(
            same_key.to_line(),
            "tables \"a.b\".c and a.\"b.c\" would both be recorded as `a.b.c`; rename one of them"
        );
        assert_eq!(
            RestoreError::CountRestored {
                source: Box::new(same_key)
            }
            .to_line(),
            "cannot count the restored rows: tables \"a.b\".c and a.\"b.c\" would both be recorded \
             as `a.b.c`; rename one of them"
        );
        assert_eq!(
            RestoreError::NoAnswer {
                what: "connect",
                waited: Duration::from_millis(2500),
            }
            .to_line(),
            "cannot connect: no answer within 2.5 s"
        );
        assert_eq!(
            RestoreError::CountTimeout {
                waited: Duration::from_secs(10)
            }
            .to_line(),
            "counting the rows of every table took more than 10 s; allow more time"
        );
        assert_eq!(
            RestoreError::ScratchConnectionEnded { source: None }.to_line(),
            "the scratch server ended the connection while hadome counted rows: closed"
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            RestoreError::OpenDump {
                dump: PathBuf::from("/b/x.dump"),
                source: missing,
            }
            .to_line(),
            format!(
                "cannot open the dump `/b/x.dump`: {}",
                std::io::Error::from(std::io::ErrorKind::NotFound)
            )
        );
        assert_eq!(
            RestoreError::ScratchParentMissing {
                parent: PathBuf::from("/nowhere"),
            }
            .to_line(),
            "the directory for the scratch server, `/nowhere`, does not exist; create it or choose another"
        );
    }

    #[test]
    fn a_failed_teardown_after_a_failure_keeps_both_lines() {
        let error = RestoreError::ThenTeardown {
            error: Box::new(RestoreError::CountTimeout {
                waited: Duration::from_secs(1),
            }),
            teardown: Box::new(RestoreError::ScratchDirsTaken {
                parent: PathBuf::from("/tmp"),
            }),
        };
        assert_eq!(
            error.to_line(),
            "counting the rows of every table took more than 1 s; allow more time; then \
             `/tmp` already holds a hundred scratch directories by this name; remove the leftovers"
        );
        assert_eq!(error.hint(), None);
    }
}
