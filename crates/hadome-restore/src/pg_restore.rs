//! Running `pg_restore`: finding it, listing an archive, restoring it into the scratch server
//! while reading its `--verbose` lines as progress, and keeping its error lines for the report.
//!
//! `pg_restore` runs as the lab runs PostgreSQL's programs: as the user that owns the scratch
//! server's data directory (`postgres` when hadome is root), never as root. It is handed the dump
//! as its standard input, a file descriptor hadome opened, so it needs no permission on the file
//! itself (a dump made by root is mode 0600) and can still seek in it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncBufReadExt;

use crate::error::RestoreError;
use crate::scratch::RESTORE_DATABASE;

/// At most this many of `pg_restore`'s diagnostic lines are kept in a report: the journal records
/// them, and a broken archive can make a tool talk at length.
const MAX_DIAGNOSTIC_LINES: usize = 40;

/// `pg_restore` as the restore test runs it: as `run_as` (uid, gid) when that is not hadome's
/// user, in `cwd`, with the dump as its standard input.
pub(crate) struct PgRestore<'a> {
    /// The `pg_restore` program ([`locate_pg_restore`]).
    pub(crate) program: &'a Path,
    /// The archive.
    pub(crate) dump: &'a Path,
    /// Its working directory: the scratch server's.
    pub(crate) cwd: &'a Path,
    /// The user and group it runs as, when not hadome's own.
    pub(crate) run_as: Option<(u32, u32)>,
}

impl PgRestore<'_> {
    fn command(&self) -> Result<tokio::process::Command, RestoreError> {
        let mut command = tokio::process::Command::new(self.program);
        command
            .current_dir(self.cwd)
            // A descriptor hadome opened: `pg_restore` reads (and seeks in) a file that its own
            // user may not be allowed to open.
            .stdin(Stdio::from(open_dump(self.dump)?))
            // Its messages in English, which the progress and error lines are read from.
            .env("LC_ALL", "C")
            .kill_on_drop(true);
        // The caller's libpq settings (PGHOST, PGSSLMODE, PGOPTIONS, …) are for their servers,
        // not for the scratch one.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|key| key.starts_with("PG")) {
                command.env_remove(key);
            }
        }
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        Ok(command)
    }

    fn spawn_error(&self, source: std::io::Error) -> RestoreError {
        RestoreError::PgRestoreSpawn {
            program: self.program.to_owned(),
            source,
        }
    }

    /// The number of TOC entries a restore processes; `Err` holds `pg_restore`'s error lines
    /// when it cannot read the archive.
    pub(crate) async fn list(&self) -> Result<Result<u64, Vec<String>>, RestoreError> {
        let mut command = self.command()?;
        command
            .args([
                "--list",
                "--format=custom",
                // The same selection as the restore: `--no-privileges` leaves out the ACL entries.
                "--no-owner",
                "--no-privileges",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = command
            .output()
            .await
            .map_err(|source| self.spawn_error(source))?;
        if output.status.success() {
            return Ok(Ok(count_toc_entries(&String::from_utf8_lossy(
                &output.stdout,
            ))));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines = stderr.lines().filter(|line| !line.trim().is_empty());
        Ok(Err(diagnostics(lines, &output.status)))
    }

    /// Restores into [`RESTORE_DATABASE`] on the scratch server's client port, reporting
    /// progress; returns `pg_restore`'s error lines (empty when it succeeded).
    pub(crate) async fn restore(
        &self,
        port: u16,
        total: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Vec<String>, RestoreError> {
        let mut command = self.command()?;
        command
            .args([
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--verbose",
                "--no-password",
                "--host=127.0.0.1",
                &format!("--port={port}"),
                "--username=postgres",
                &format!("--dbname={RESTORE_DATABASE}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| self.spawn_error(source))?;
        let stderr = child.stderr.take().ok_or(RestoreError::StderrBug)?;
        let mut reader = tokio::io::BufReader::new(stderr);
        let mut kept = Vec::new();
        let mut done = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|source| RestoreError::PgRestoreIo {
                    what: "read `pg_restore`'s messages",
                    source,
                })?;
            if read == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            match classify_line(text) {
                StderrLine::Progress => {
                    done = (done + 1).min(total);
                    progress(done, total);
                }
                StderrLine::Diagnostic => kept.push(text.to_owned()),
                StderrLine::Info => {}
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|source| RestoreError::PgRestoreIo {
                what: "learn how `pg_restore` ended",
                source,
            })?;
        if status.success() {
            if done < total {
                progress(total, total);
            }
            return Ok(Vec::new());
        }
        Ok(diagnostics(kept.iter().map(String::as_str), &status))
    }
}

/// What one line of `pg_restore --verbose`'s stderr is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StderrLine {
    /// A TOC entry is being processed: `creating TABLE "public.x"`, `processing data for table
    /// "public.x"`, `processing BLOBS`, `executing SEQUENCE SET x_id_seq`.
    Progress,
    /// An error or warning, or its context: `error: …`, `from TOC entry …`, `detail: …`, and
    /// lines without the program's prefix (`Command was: …`, `LINE 1: …`).
    Diagnostic,
    /// Anything else (`connecting to database for restore`, blank lines).
    Info,
}

/// Classifies a line of `pg_restore`'s stderr (run with `LC_ALL=C`, so in English).
pub(crate) fn classify_line(line: &str) -> StderrLine {
    let Some(message) = line.strip_prefix("pg_restore: ") else {
        return if line.trim().is_empty() {
            StderrLine::Info
        } else {
            StderrLine::Diagnostic
        };
    };
    let starts = |prefixes: &[&str]| prefixes.iter().any(|prefix| message.starts_with(prefix));
    // `processing BLOBS` is the large objects' entry; `processing item …` would be a parallel
    // restore's second line for an entry, and this one is not parallel.
    if starts(&["creating ", "processing ", "executing "]) {
        StderrLine::Progress
    } else if starts(&[
        "error:",
        "warning:",
        "detail:",
        "hint:",
        "while PROCESSING TOC",
        "from TOC entry",
    ]) {
        StderrLine::Diagnostic
    } else {
        StderrLine::Info
    }
}

/// The entries of a `pg_restore --list` listing: one a line; `;` starts a comment.
pub(crate) fn count_toc_entries(listing: &str) -> u64 {
    let entries = listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(';'))
        .count();
    u64::try_from(entries).unwrap_or(u64::MAX)
}

/// A failed run's diagnostic lines, at most [`MAX_DIAGNOSTIC_LINES`], never none: when the
/// program said nothing, how it ended.
fn diagnostics<'a>(
    lines: impl Iterator<Item = &'a str>,
    status: &std::process::ExitStatus,
) -> Vec<String> {
    let lines: Vec<&str> = lines.collect();
    let mut kept: Vec<String> = lines
        .iter()
        .take(MAX_DIAGNOSTIC_LINES)
        .map(|line| (*line).to_owned())
        .collect();
    if lines.len() > MAX_DIAGNOSTIC_LINES {
        kept.push(format!(
            "({} more lines)",
            lines.len() - MAX_DIAGNOSTIC_LINES
        ));
    }
    if kept.is_empty() {
        kept.push(format!("pg_restore ended with {status} and said nothing"));
    }
    kept
}

/// `pg_restore` in the directory of PostgreSQL's programs that the lab uses.
pub(crate) fn locate_pg_restore() -> Result<PathBuf, RestoreError> {
    let bindir = hadome_lab::locate_bindir().map_err(|source| RestoreError::Bindir {
        source: Box::new(source),
    })?;
    let pg_restore = bindir.join("pg_restore");
    if !pg_restore.is_file() {
        return Err(RestoreError::PgRestoreMissing { bindir });
    }
    Ok(pg_restore)
}

/// Opens the dump for `pg_restore`'s standard input; it must be a file.
pub(crate) fn open_dump(dump: &Path) -> Result<std::fs::File, RestoreError> {
    let file = std::fs::File::open(dump).map_err(|source| RestoreError::OpenDump {
        dump: dump.to_owned(),
        source,
    })?;
    let is_file = file
        .metadata()
        .map_err(|source| RestoreError::ReadDump {
            dump: dump.to_owned(),
            source,
        })?
        .is_file();
    if !is_file {
        return Err(RestoreError::DumpNotAFile {
            dump: dump.to_owned(),
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_restore_lines_are_read_as_progress_or_diagnostics() {
        for line in [
            "pg_restore: creating TABLE \"public.big\"",
            "pg_restore: processing data for table \"Odd Schema.Mixed Case\"",
            "pg_restore: executing SEQUENCE SET accounts_id_seq",
            "pg_restore: creating FK CONSTRAINT \"app.orders orders_account_fkey\"",
        ] {
            assert_eq!(classify_line(line), StderrLine::Progress, "{line}");
        }
        for line in [
            "pg_restore: error: could not uncompress data: invalid distance too far back",
            "pg_restore: while PROCESSING TOC:",
            "pg_restore: from TOC entry 3350; 0 16390 TABLE DATA big postgres",
            "pg_restore: detail: Key (id)=(1) already exists.",
            "Command was: CREATE TABLE public.big (",
        ] {
            assert_eq!(classify_line(line), StderrLine::Diagnostic, "{line}");
        }
        for line in ["pg_restore: connecting to database for restore", "", "  "] {
            assert_eq!(classify_line(line), StderrLine::Info, "{line:?}");
        }
    }

    #[test]
    fn a_listing_counts_its_entries_not_its_comments() {
        let listing =
            ";\n; Archive created at 2026-11-30 10:00:00 UTC\n;     dbname: postgres\n;\n\
                       ; Selected TOC Entries:\n;\n\
                       5; 2615 16385 SCHEMA - app postgres\n\
                       215; 1259 16386 TABLE app accounts postgres\n\
                       3350; 0 16386 TABLE DATA app accounts postgres\n\n";
        assert_eq!(count_toc_entries(listing), 3);
        assert_eq!(count_toc_entries(""), 0);
    }
}
