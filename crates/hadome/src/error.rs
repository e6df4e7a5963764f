//! The CLI's one error type, its exit codes and how it is shown.
//!
//! A failure prints `error: HEADLINE`, then each cause on a `caused by:` line, then `hint:` lines
//! that say how to fix it, all on stderr.

use std::io::Write;

use hadome_journal::JournalError;
use hadome_lab::LabError;

use crate::exit_code;

/// Everything a hadome command can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The lab failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The command line holds something clap could not check.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The estate file is missing or invalid.
    #[error(transparent)]
    Config(#[from] hadome_config::ConfigError),
    /// The journal could not be opened, read or written.
    #[error(transparent)]
    Journal(#[from] hadome_journal::JournalError),
    /// A restore test could not run (a failed test is not an error: it is its report).
    #[error("the restore test could not run: {0}")]
    Restore(#[from] hadome_restore::RestoreError),
    /// Another actor holds the target; nothing was changed.
    #[error("{message}")]
    Busy {
        message: String,
        hint: Option<String>,
    },
    /// The input is right, but the world does not let hadome do it now; nothing was changed.
    #[error("{message}")]
    CannotProceed {
        message: String,
        hint: Option<String>,
    },
    /// A signal stopped the command.
    #[error("{message}")]
    Interrupted { message: String },
    /// hadome itself failed (a task, a file of its own, a bug).
    #[error("{message}")]
    Internal {
        message: String,
        hint: Option<String>,
    },
    /// The tokio runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl CliError {
    /// The exit code for this error (see `exit_code`): every variant, and every variant of the
    /// library errors it wraps where they differ, is mapped here with no wildcard, so a new one
    /// does not compile until someone decides its code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage { .. } | CliError::Config(_) => exit_code::USAGE,
            CliError::Busy { .. } => exit_code::BUSY,
            CliError::CannotProceed { .. } | CliError::Restore(_) => exit_code::CANNOT_PROCEED,
            CliError::Interrupted { .. } => exit_code::INTERRUPTED,
            CliError::Internal { .. } | CliError::Runtime(_) => exit_code::INTERNAL,
            CliError::Lab(lab) => match lab {
                LabError::Topology { .. }
                | LabError::UnknownTopology { .. }
                | LabError::UnknownNode { .. }
                | LabError::NotALab { .. }
                | LabError::DirNotEmpty { .. }
                | LabError::Unreachable { .. } => exit_code::USAGE,
                LabError::Io { .. }
                | LabError::PgBinariesMissing { .. }
                | LabError::NoPostgresUser
                | LabError::State { .. }
                | LabError::Command { .. }
                | LabError::Spawn { .. }
                | LabError::Timeout { .. }
                | LabError::Sql { .. }
                | LabError::FaultRejected { .. }
                | LabError::HostedNode { .. }
                | LabError::Proxy { .. }
                | LabError::Namespace { .. }
                | LabError::Survivors { .. }
                | LabError::Rootfs { .. }
                | LabError::NoMirror
                | LabError::HostToolMissing { .. }
                | LabError::EtcdMissing { .. }
                | LabError::NotRoot { .. }
                | LabError::Host { .. }
                | LabError::Web { .. } => exit_code::FAILURE,
                LabError::Bug(_) | LabError::Certificate { .. } => exit_code::INTERNAL,
            },
            CliError::Journal(journal) => match journal {
                // The estate's `journal` names a file hadome cannot use: fix the path.
                JournalError::Open { .. }
                | JournalError::NotAJournal { .. }
                | JournalError::UnsupportedVersion { .. }
                | JournalError::NoWal { .. } => exit_code::USAGE,
                JournalError::Sqlite { .. }
                | JournalError::Corrupt { .. }
                | JournalError::Intent { .. }
                | JournalError::Escalation { .. }
                | JournalError::Encode { .. } => exit_code::INTERNAL,
            },
        }
    }

    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            CliError::Lab(lab) => lab.hint(),
            CliError::Usage { hint, .. }
            | CliError::Busy { hint, .. }
            | CliError::CannotProceed { hint, .. }
            | CliError::Internal { hint, .. } => hint.clone(),
            CliError::Interrupted { .. } => None,
            CliError::Config(config) => config.hint(),
            CliError::Journal(journal) => journal.hint(),
            CliError::Restore(restore) => restore.hint(),
            CliError::Runtime(_) => None,
        }
    }

    /// The error's causes, outermost first, without the duplicate of the headline that
    /// `transparent` variants forward.
    pub(crate) fn causes(&self) -> Vec<String> {
        let mut source = std::error::Error::source(self);
        match self {
            CliError::Lab(inner) => source = std::error::Error::source(inner),
            CliError::Config(inner) => source = std::error::Error::source(inner),
            CliError::Journal(inner) => source = std::error::Error::source(inner),
            CliError::Restore(inner) => source = std::error::Error::source(inner),
            CliError::Usage { .. }
            | CliError::Busy { .. }
            | CliError::CannotProceed { .. }
            | CliError::Interrupted { .. }
            | CliError::Internal { .. }
            | CliError::Runtime(_) => {}
        }
        let mut causes = Vec::new();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        causes
    }

    /// Prints the error, its causes and its hint to stderr: as text, or, when the command was
    /// given `--json`, as one versioned JSON object (`{"version", "error", "causes", "hint",
    /// "exit"}`) so a script parses failures as it parses answers.
    pub(crate) fn report(&self, as_json: bool) {
        if as_json {
            report_json(
                &self.to_string(),
                &self.causes(),
                self.hint().as_deref(),
                self.exit_code(),
            );
            return;
        }
        let mut text = format!("error: {self}\n");
        for cause in self.causes() {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        if let Some(hint) = self.hint() {
            text.push_str(&format!("hint: {hint}\n"));
        }
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// One error as JSON on stderr (for `--json`), the CLI's own and clap's alike.
pub(crate) fn report_json(error: &str, causes: &[String], hint: Option<&str>, exit: u8) {
    let body = serde_json::json!({
        "version": 1,
        "error": error,
        "causes": causes,
        "hint": hint,
        "exit": exit,
    });
    let _ = std::io::stderr().write_all(format!("{body}\n").as_bytes());
}
