//! The backup edge's one error type: I/O failures only.
//!
//! A backup that is truncated, empty, garbage or damaged is not an error: it is an answer,
//! `Structure::Invalid`, with the byte offset and a reason.
//! A `BackupError` means hadome could not look at all (the file is missing, permission is denied,
//! `pg_verifybackup` cannot be run), so nothing is known about the backup.
//! Every variant names the path; [`BackupError::hint`] says how to fix it.

use std::io::ErrorKind;
use std::path::PathBuf;

/// hadome could not inspect a backup: the file or program was not reachable.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A backup file or directory could not be opened or read.
    #[error("could not read `{}`", path.display())]
    Read {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A dump or plain file was expected, and the path names a directory.
    #[error("`{}` is a directory, not a backup file", path.display())]
    IsADirectory {
        /// The directory.
        path: PathBuf,
    },

    /// A base backup directory was expected, and the path names something else.
    #[error("`{}` is not a directory, so it is not a base backup", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A base backup directory holds no `backup_manifest`.
    #[error("`{}` has no `backup_manifest`", dir.display())]
    ManifestMissing {
        /// The base backup directory.
        dir: PathBuf,
    },

    /// `pg_verifybackup` could not be started.
    #[error("could not run `{}`", program.display())]
    Spawn {
        /// The program as given.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// `pg_verifybackup` was ended by a signal before it gave its answer.
    #[error("`{}` was ended by a signal ({status}) while it verified `{}`", program.display(), dir.display())]
    ProgramKilled {
        /// The program as given.
        program: PathBuf,
        /// The base backup directory.
        dir: PathBuf,
        /// How it ended, as the operating system reports it.
        status: String,
    },
}

impl BackupError {
    /// How to fix the error, when hadome knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            BackupError::Read { source, .. } => match source.kind() {
                ErrorKind::NotFound => Some(
                    "check the path: the backup may have been moved, renamed or deleted, \
                     or never written"
                        .to_owned(),
                ),
                ErrorKind::PermissionDenied => Some(
                    "run hadome as a user that may read the backup (often `postgres`), \
                     or grant that user read permission"
                        .to_owned(),
                ),
                _ => None,
            },
            BackupError::IsADirectory { .. } => Some(
                "hadome reads dumps in pg_dump's custom format, one file (`pg_dump -Fc`); \
                 a base backup directory is verified with `pg_verifybackup` instead"
                    .to_owned(),
            ),
            BackupError::NotADirectory { .. } => Some(
                "give the directory `pg_basebackup -D DIR -Fp` wrote, the one that holds \
                 `backup_manifest`"
                    .to_owned(),
            ),
            BackupError::ManifestMissing { .. } => Some(
                "take base backups with `pg_basebackup` of PostgreSQL 13 or later and without \
                 `--no-manifest`: hadome verifies a base backup against its manifest"
                    .to_owned(),
            ),
            BackupError::Spawn { program, source } => match source.kind() {
                ErrorKind::NotFound => Some(format!(
                    "install PostgreSQL's client programs (`apt-get install postgresql-client-15`) \
                     or give the full path of `pg_verifybackup` instead of `{}`",
                    program.display()
                )),
                ErrorKind::PermissionDenied => Some(format!(
                    "make `{}` executable for the user hadome runs as",
                    program.display()
                )),
                _ => None,
            },
            BackupError::ProgramKilled { program, dir, .. } => Some(format!(
                "run `{} {}` by hand to see why it stopped (out of memory, or killed by a timeout?)",
                program.display(),
                dir.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_the_path_and_says_to_check_it() {
        let error = BackupError::Read {
            path: PathBuf::from("/backups/nightly.dump"),
            source: std::io::Error::from(ErrorKind::NotFound),
        };
        assert_eq!(error.to_string(), "could not read `/backups/nightly.dump`");
        assert!(error.hint().unwrap().contains("moved"));
    }

    #[test]
    fn a_missing_program_says_what_to_install() {
        let error = BackupError::Spawn {
            program: PathBuf::from("pg_verifybackup"),
            source: std::io::Error::from(ErrorKind::NotFound),
        };
        assert!(error
            .hint()
            .unwrap()
            .contains("apt-get install postgresql-client-15"));
    }
}
