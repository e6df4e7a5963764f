//! `hadome backup restore-test <name>`: the newest copy restored into a scratch PostgreSQL
//! (`hadome-restore`), its tables and row counts compared with what was recorded when it was
//! made, the result journaled and, when it failed, escalated. A progress bar shows on a terminal.

use std::io::IsTerminal;

use hadome_core::estate::BackupKind;
use hadome_journal::RestoreTestDone;
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use super::{escalate, unknown_backup};
use crate::backup_facts::BackupReading;
use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};
use crate::pass::observe;

/// A progress bar on stderr, when stderr is a terminal.
struct Progress {
    on_terminal: bool,
    shown: Option<(u64, u64)>,
}

impl Progress {
    fn update(&mut self, done: u64, total: u64) {
        if !self.on_terminal || self.shown == Some((done, total)) {
            return;
        }
        self.shown = Some((done, total));
        const WIDTH: usize = 30;
        let filled = (done.min(total) * WIDTH as u64)
            .checked_div(total)
            .map_or(0, |filled| usize::try_from(filled).unwrap_or(WIDTH));
        eprint!(
            "\r  restoring [{}{}] {done}/{total} entries",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        );
    }

    fn finish(&self) {
        if self.on_terminal && self.shown.is_some() {
            eprintln!();
        }
    }
}

/// `hadome backup restore-test <name>`.
pub(crate) async fn restore_test(
    name: String,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let mut pass = observe(&config, BackupReading::VerifyNewest).await?;
    let Some(backup) = pass.estate.backup(&name).cloned() else {
        return Err(unknown_backup(&pass.estate, &name));
    };
    if backup.kind != BackupKind::PgDump {
        return Err(CliError::Usage {
            message: format!(
                "backup `{name}` is of type \"{}\": hadome restore-tests pg_dump archives only, today",
                backup.kind.as_str()
            ),
            hint: Some("its checksum and structure are verified by `hadome backup verify`".to_owned()),
        });
    }
    let newest = pass
        .facts
        .backups
        .get(&name)
        .and_then(|observation| observation.copies.as_ref().ok())
        .and_then(|copies| copies.first())
        .cloned();
    let Some(newest) = newest else {
        return Err(CliError::CannotProceed {
            message: format!(
                "backup `{name}` has no copy to restore (nothing matches `{}`)",
                backup.path.display()
            ),
            hint: backup
                .command
                .as_ref()
                .map(|_| format!("make one: `hadome backup run {name}`")),
        });
    };
    let made = pass.journal.made_copy(&name, &newest.path)?;
    let expected = made
        .as_ref()
        .map(|made| made.row_counts.clone())
        .unwrap_or_default();
    let archive_tables: Vec<String> = newest
        .verification
        .as_ref()
        .map(|verification| verification.tables.clone())
        .unwrap_or_default();
    let options = hadome_restore::RestoreTestOptions {
        scratch_parent: std::env::temp_dir(),
        hadome_binary: std::env::current_exe().map_err(|error| CliError::Internal {
            message: format!(
                "cannot find the hadome binary itself (for the scratch server's proxy): {error}"
            ),
            hint: None,
        })?,
    };
    let mut progress = Progress {
        on_terminal: std::io::stderr().is_terminal() && !as_json,
        shown: None,
    };
    // SIGTERM or SIGINT drops the test: pg_restore is killed and the scratch server torn down.
    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(CliError::Runtime)?;
    let mut on_progress = |done, total| progress.update(done, total);
    let interrupted = |signal: &str| {
        CliError::Interrupted {
        message: format!(
            "the restore test of `{name}` could not run: interrupted by {signal}; the scratch server was torn down"
        ),
    }
    };
    let report = tokio::select! {
        report = hadome_restore::restore_test(&newest.path, &expected, &options, &mut on_progress) => report.map_err(CliError::from),
        _ = terminate.recv() => Err(interrupted("SIGTERM")),
        _ = interrupt.recv() => Err(interrupted("SIGINT")),
    };
    progress.finish();
    let report = report?;

    // Without recorded counts (a copy hadome did not make, or made without `{snapshot}`), the
    // tables the archive lists must all come back; their rows are not compared.
    let mut missing = report.missing_tables.clone();
    if expected.is_empty() {
        for table in &archive_tables {
            if !report.restored.contains_key(table) && !missing.contains(table) {
                missing.push(table.clone());
            }
        }
    }
    // With no recorded counts, every restored table is "unexpected" to the report: what counts
    // then is that pg_restore succeeded and the archive's tables came back.
    let ok = if expected.is_empty() {
        report.pg_restore_errors.is_empty() && missing.is_empty()
    } else {
        report.ok && missing.is_empty()
    };
    let rows: u64 = report.restored.values().sum();
    let detail = if ok {
        if expected.is_empty() {
            format!(
                "{} tables restored, {rows} rows, in {:.1} s; row counts were not recorded when the copy was made, so only the tables are compared",
                report.restored.len(),
                report.restore_seconds
            )
        } else {
            format!(
                "{} tables and {rows} rows restored as recorded, in {:.1} s",
                report.restored.len(),
                report.restore_seconds
            )
        }
    } else {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing tables: {}", missing.join(", ")));
        }
        for (table, recorded, restored) in &report.count_mismatches {
            problems.push(format!(
                "`{table}` has {restored} rows, {recorded} when the copy was made"
            ));
        }
        if let Some(error) = report.pg_restore_errors.first() {
            problems.push(format!("pg_restore: {error}"));
        }
        problems.join("; ")
    };
    let mut mismatches: Vec<(String, Option<u64>, Option<u64>)> = missing
        .iter()
        .map(|table| (table.clone(), expected.get(table).copied(), None))
        .collect();
    mismatches.extend(
        report
            .count_mismatches
            .iter()
            .map(|(table, recorded, restored)| (table.clone(), Some(*recorded), Some(*restored))),
    );
    pass.journal.record_restore_test(
        wall_clock(),
        &RestoreTestDone {
            backup: name.clone(),
            path: newest.path.clone(),
            ok,
            detail: detail.clone(),
            restore_seconds: report.restore_seconds,
            mismatches: mismatches.clone(),
        },
    )?;
    let escalated = if ok {
        String::new()
    } else {
        escalate(
            &mut pass,
            &backup,
            format!(
                "the restore test of `{name}` FAILED (`{}`): {detail}",
                newest.path.display()
            ),
        )
        .await?
    };
    if as_json {
        print_json(&json!({
            "version": 1,
            "backup": name,
            "path": newest.path.display().to_string(),
            "ok": ok,
            "detail": detail,
            "restore_seconds": report.restore_seconds,
            "total_seconds": report.total_seconds,
            "tables": report.restored,
            "expected": expected,
            "mismatches": mismatches.iter().map(|(table, recorded, restored)| json!({"table": table, "recorded": recorded, "restored": restored})).collect::<Vec<_>>(),
            "pg_restore_errors": report.pg_restore_errors,
        }));
    } else {
        print_text(&format!(
            "{} restore test of `{name}` (`{}`): {detail}\n{escalated}",
            if ok { "PASSED" } else { "FAILED" },
            newest.path.display()
        ));
    }
    Ok(if ok {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}
