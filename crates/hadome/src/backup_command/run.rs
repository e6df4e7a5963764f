//! `hadome backup run <name>`: a copy made by the backup's command, read whole, and renamed into
//! place only when it is sound; a failed output is moved aside, journaled and escalated.
//!
//! One copy of a backup is made at a time (`hadome_journal::making_lease`, held through
//! `crate::held`). With `{snapshot}` in the command, every table's rows are counted in the very
//! snapshot the dump reads, for the restore test to compare.

use std::path::Path;
use std::time::{Duration, Instant};

use hadome_backup::Structure;
use hadome_core::estate::Backup;
use hadome_core::fact::ProbeOutcome;
use hadome_core::finding::{human_bytes, human_duration};
use hadome_journal::BackupMade;
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use super::{escalate, findings_of, render_findings, unknown_backup};
use crate::assessment::finding_json;
use crate::backup_facts::{
    directory, inspect, pattern, verification_of, BackupReading, FAILED_PREFIX, TEMPORARY_PREFIX,
};
use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::held::HeldLease;
use crate::output::{print_json, print_text};
use crate::pass::{observe, Pass};

/// How long a backup's command may run before hadome gives up on it (and keeps nothing).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// A failed run: moves the output aside (never deletes it), journals, escalates; says what.
async fn failed_run(
    pass: &mut Pass,
    backup: &Backup,
    output: &Path,
    stage: &str,
    detail: String,
) -> Result<String, CliError> {
    let mut said = String::new();
    if std::fs::symlink_metadata(output).is_ok() {
        let file_name = output
            .file_name()
            .map(|name| {
                name.to_string_lossy()
                    .replacen(TEMPORARY_PREFIX, FAILED_PREFIX, 1)
            })
            .unwrap_or_else(|| format!("{FAILED_PREFIX}{}", backup.name));
        let aside = output.with_file_name(file_name);
        match std::fs::rename(output, &aside) {
            Ok(()) => said.push_str(&format!(
                "  its output was moved aside to `{}` (not a copy: the backup's pattern does not match it)\n",
                aside.display()
            )),
            Err(error) => said.push_str(&format!(
                "  its output stays at `{}` (could not move it aside: {error})\n",
                output.display()
            )),
        }
    }
    pass.journal
        .record_backup_failed(wall_clock(), &backup.name, stage, &detail)?;
    said.push_str(
        &escalate(
            pass,
            backup,
            format!("backup `{}` kept nothing: {detail}", backup.name),
        )
        .await?,
    );
    Ok(said)
}

/// The source's position now, for the record (a lower bound of the dump's).
async fn position_of(pass: &Pass, instance: &str) -> Option<hadome_core::position::DataPosition> {
    let instance = pass.estate.instance(instance)?;
    let timeout = Duration::from_secs_f64(pass.estate.probe_timeout_seconds.max(1.0));
    match hadome_observer::observe_instance(instance, timeout)
        .await
        .outcome
    {
        ProbeOutcome::Answered(state) => Some(state.position),
        ProbeOutcome::Unreachable { .. } => None,
    }
}

/// Runs `argv` to its end (bounded by [`COMMAND_TIMEOUT`]); `Err` says how it failed.
///
/// Not `hadome_executor::run_argv`: that one names the whole command line in its result, and a
/// backup's command usually carries a conninfo, which may hold a password; this result is
/// journaled and sent to the webhook, so it names the program only.
async fn run_to_end(argv: &[String]) -> Result<(), CommandFailed> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err(CommandFailed::Empty);
    };
    let program = program.clone();
    let mut process = tokio::process::Command::new(&program);
    process
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SIGTERM or SIGINT (a stopping daemon, a person's Ctrl-C) ends the command — the dropped
    // future kills it — and the run fails like any other: its output is moved aside, journaled.
    let watch = |signal: &'static str| move |error| CommandFailed::Watch { signal, error };
    let mut terminate = signal(SignalKind::terminate()).map_err(watch("SIGTERM"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(watch("SIGINT"))?;
    let output = tokio::select! {
        ran = tokio::time::timeout(COMMAND_TIMEOUT, process.output()) => ran,
        _ = terminate.recv() => return Err(CommandFailed::Interrupted { signal: "SIGTERM", program }),
        _ = interrupt.recv() => return Err(CommandFailed::Interrupted { signal: "SIGINT", program }),
    };
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(CommandFailed::Start { program, error }),
        Err(_) => return Err(CommandFailed::Timeout { program }),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.trim().lines().last().unwrap_or("").to_owned();
    Err(match output.status.code() {
        Some(code) => CommandFailed::Exited {
            program,
            code,
            last,
        },
        None => CommandFailed::Killed { program, last },
    })
}

/// How a backup's command failed; the text names the program only, never its arguments.
#[derive(Debug, thiserror::Error)]
enum CommandFailed {
    #[error("the command is empty")]
    Empty,
    #[error("cannot watch for {signal}: {error}")]
    Watch {
        signal: &'static str,
        error: std::io::Error,
    },
    #[error("interrupted by {signal}: `{program}` was killed")]
    Interrupted {
        signal: &'static str,
        program: String,
    },
    #[error("could not start `{program}`: {error}")]
    Start {
        program: String,
        error: std::io::Error,
    },
    #[error("`{program}` did not finish within {}", human_duration(COMMAND_TIMEOUT.as_secs_f64()))]
    Timeout { program: String },
    #[error("`{program}` exited with {code}: {last}")]
    Exited {
        program: String,
        code: i32,
        last: String,
    },
    #[error("`{program}` was killed by a signal: {last}")]
    Killed { program: String, last: String },
}

/// How long a `backup run`'s claim on its backup lasts unless renewed (every third of that).
const MAKING_TTL_MS: i64 = 30_000;

/// `hadome backup run <name>`.
pub(crate) async fn run(name: String, config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let mut pass = observe(&config, BackupReading::ListOnly).await?;
    let Some(backup) = pass.estate.backup(&name).cloned() else {
        return Err(unknown_backup(&pass.estate, &name));
    };
    let Some(command) = backup.command.clone() else {
        return Err(CliError::Usage {
            message: format!("backup `{name}` has no `command`: hadome does not know how to make one"),
            hint: Some(format!(
                "add `command = [\"pg_dump\", \"-Fc\", \"--snapshot={{snapshot}}\", \"-f\", \"{{output}}\", \"…\"]` to the `[[backup]]` named `{name}`"
            )),
        });
    };
    // Held until the copy is judged and journaled; a `backup run` killed with -9 holds it for at
    // most MAKING_TTL_MS more.
    let _making = HeldLease::take(
        &pass.estate.journal_path,
        &hadome_journal::making_lease(&name),
        "hadome backup run",
        MAKING_TTL_MS,
        |lease| {
            CliError::Busy {
            message: format!(
                "a copy of backup `{name}` is being made already, by `{}` (since {}): one at a time; nothing was done",
                lease.holder,
                lease.acquired_at.utc_text()
            ),
            hint: Some(format!(
                "wait until it is done (`hadome status` lists the backup's copies); if that process is gone, its claim lapses {} s after it stopped",
                MAKING_TTL_MS / 1000
            )),
        }
        },
    )?;
    let started_at = wall_clock();
    let dir = directory(&backup).to_path_buf();
    let (prefix, suffix) = pattern(&backup);
    let copy_name = free_name(&prefix, &suffix, &started_at.utc_stamp(), |name| {
        std::fs::symlink_metadata(dir.join(name)).is_ok()
            || std::fs::symlink_metadata(dir.join(format!("{TEMPORARY_PREFIX}{name}"))).is_ok()
    });
    let final_path = dir.join(&copy_name);
    let output = dir.join(format!("{TEMPORARY_PREFIX}{copy_name}"));
    if let Err(error) = std::fs::create_dir_all(&dir) {
        return Err(CliError::CannotProceed {
            message: format!(
                "cannot create the backup directory `{}`: {error}",
                dir.display()
            ),
            hint: None,
        });
    }

    // With `{snapshot}`, the row counts are taken in the very snapshot the dump reads.
    let mut text = String::new();
    let uses_snapshot = command
        .iter()
        .any(|argument| argument.contains("{snapshot}"));
    let position = match &backup.instance {
        Some(instance) => position_of(&pass, instance).await,
        None => None,
    };
    let snapshot = match (&backup.instance, uses_snapshot) {
        (Some(instance), true) => {
            let conninfo = pass
                .estate
                .instance(instance)
                .map(|instance| instance.conninfo.clone())
                .unwrap_or_default();
            match hadome_restore::snapshot_counts(&conninfo, Duration::from_secs(60)).await {
                Ok(snapshot) => Some(snapshot),
                Err(error) => {
                    let error = error.to_line();
                    let said = failed_run(
                        &mut pass,
                        &backup,
                        &output,
                        "snapshot",
                        format!("could not export a snapshot of `{instance}`: {error}"),
                    )
                    .await?;
                    return report_failure(as_json, &name, "snapshot", &error, &said);
                }
            }
        }
        _ => None,
    };
    let argv = hadome_executor::fill(
        &command,
        &hadome_executor::Placeholders {
            output: Some(&output),
            snapshot: snapshot
                .as_ref()
                .map(|snapshot| snapshot.snapshot_id.as_str()),
            ..Default::default()
        },
    );
    if let Some(snapshot) = snapshot.as_ref().filter(|snapshot| !snapshot.is_open()) {
        let error = format!(
            "the session holding snapshot `{}` ended before the dump began: the server closed it",
            snapshot.snapshot_id
        );
        let said = failed_run(&mut pass, &backup, &output, "snapshot", error.clone()).await?;
        return report_failure(as_json, &name, "snapshot", &error, &said);
    }
    let clock = Instant::now();
    let ran = run_to_end(&argv).await;
    let duration = clock.elapsed();
    // The snapshot may end once the command is done.
    let row_counts = snapshot.map(|snapshot| snapshot.counts).unwrap_or_default();
    if let Err(error) = ran {
        let error = error.to_string();
        let said = failed_run(&mut pass, &backup, &output, "command", error.clone()).await?;
        return report_failure(as_json, &name, "command", &error, &said);
    }

    let kind = backup.kind;
    let read = output.clone();
    let inspected = tokio::task::spawn_blocking(move || inspect(kind, &read))
        .await
        .map_err(|error| CliError::Internal {
            message: format!(
                "reading the backup failed: {error} (a bug in hadome; please report it)"
            ),
            hint: None,
        })?;
    let problem = match &inspected {
        Err(error) => Some(format!("the command exited 0, but its output cannot be read: {error}")),
        Ok(inspection) if inspection.size_bytes == 0 => Some("the command exited 0, but its output is empty (0 bytes): a pipeline that \"succeeds\" on no input".to_owned()),
        Ok(inspection) => match (&inspection.structure, backup.min_size_bytes) {
            (Structure::Invalid { .. }, _) => Some(format!(
                "the command exited 0, but its output is broken: {}",
                verification_of(inspection).structure.err().map(|broken| broken.reason).unwrap_or_default()
            )),
            (_, Some(floor)) if inspection.size_bytes < floor => Some(format!(
                "the command exited 0, but its output is {} ({} bytes), under the floor of {} (min_size_bytes)",
                human_bytes(inspection.size_bytes),
                inspection.size_bytes,
                human_bytes(floor)
            )),
            _ => None,
        },
    };
    let inspection = match (problem, inspected) {
        (Some(problem), _) => {
            let said = failed_run(&mut pass, &backup, &output, "verify", problem.clone()).await?;
            return report_failure(as_json, &name, "verify", &problem, &said);
        }
        (None, Ok(inspection)) => inspection,
        // `problem` is `Some` for every `Err`.
        (None, Err(error)) => {
            return Err(CliError::Internal {
                message: format!(
                "{error} (a bug in hadome: an unreadable copy was not judged; please report it)"
            ),
                hint: None,
            })
        }
    };
    let verification = verification_of(&inspection);
    if let Err(error) = std::fs::rename(&output, &final_path) {
        let detail = format!(
            "could not rename it into place as `{}`: {error}",
            final_path.display()
        );
        let said = failed_run(&mut pass, &backup, &output, "rename", detail.clone()).await?;
        return report_failure(as_json, &name, "rename", &detail, &said);
    }
    if let Ok(directory) = std::fs::File::open(&dir) {
        // The rename is durable once the directory is synced; a failure here is reported by the
        // next verify (the copy would be missing), not hidden.
        let _ = directory.sync_all();
    }
    let made = BackupMade {
        backup: name.clone(),
        path: final_path.clone(),
        size_bytes: inspection.size_bytes,
        sha256_hex: inspection.sha256_hex.clone(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        position: position.clone(),
        row_counts: row_counts.clone(),
        structure: verification.structure.clone().unwrap_or_default(),
    };
    pass.journal.record_backup_made(wall_clock(), &made)?;

    // Judge the new copy against its history (a copy much smaller than the one before it). It
    // was just read whole: its verification is reused, not read a second time.
    let mut pass = observe(&config, BackupReading::ListOnly).await?;
    if let Some(Ok(copies)) = pass
        .facts
        .backups
        .get_mut(&name)
        .map(|observation| observation.copies.as_mut())
    {
        for copy in copies.iter_mut().filter(|copy| copy.path == final_path) {
            copy.verification = Some(verification.clone());
        }
    }
    let findings = findings_of(&pass, &name);
    if as_json {
        print_json(&json!({
            "version": 1,
            "backup": name,
            "made": true,
            "path": final_path.display().to_string(),
            "size_bytes": made.size_bytes,
            "sha256": made.sha256_hex,
            "duration_seconds": duration.as_secs_f64(),
            "position": position.as_ref().map(|position| position.to_string()),
            "row_counts": row_counts,
            "structure": made.structure,
            "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        }));
    } else {
        text.push_str(&format!(
            "made backup `{name}`: `{}`, {} in {:.1} s\n  sha256     {}\n  structure  {}\n",
            final_path.display(),
            human_bytes(made.size_bytes),
            duration.as_secs_f64(),
            made.sha256_hex,
            made.structure
        ));
        if let Some(position) = &position {
            text.push_str(&format!(
                "  position   {position} (the source, before the dump began)\n"
            ));
        }
        if row_counts.is_empty() {
            text.push_str("  rows       not recorded (the command has no `{snapshot}`): a restore test compares tables only\n");
        } else {
            let rows: u64 = row_counts.values().sum();
            text.push_str(&format!(
                "  rows       {rows} in {} tables, counted in the dump's own snapshot\n",
                row_counts.len()
            ));
        }
        text.push_str(&render_findings(&findings));
        print_text(&text);
    }
    Ok(exit_code::OK)
}

/// A new copy's file name: the stamp where the pattern's `*` is, and `-2`, `-3` … after it when a
/// copy (or a run in progress) already has that name: hadome never overwrites a copy.
fn free_name(prefix: &str, suffix: &str, stamp: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut name = format!("{prefix}{stamp}{suffix}");
    let mut counter = 1;
    while taken(&name) {
        counter += 1;
        name = format!("{prefix}{stamp}-{counter}{suffix}");
    }
    name
}

fn report_failure(
    as_json: bool,
    name: &str,
    stage: &str,
    detail: &str,
    said: &str,
) -> Result<u8, CliError> {
    if as_json {
        print_json(&json!({
            "version": 1,
            "backup": name,
            "made": false,
            "stage": stage,
            "error": detail,
        }));
    } else {
        print_text(&format!(
            "FAILED backup `{name}` ({stage}): {detail}\n{said}"
        ));
    }
    Ok(exit_code::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_within_the_same_second_gets_its_own_name() {
        let taken = [
            "nightly-20261201T031500Z.dump",
            "nightly-20261201T031500Z-2.dump",
        ];
        let name = free_name("nightly-", ".dump", "20261201T031500Z", |name| {
            taken.contains(&name)
        });
        assert_eq!(name, "nightly-20261201T031500Z-3.dump");
        let first = free_name("nightly-", ".dump", "20261201T031501Z", |name| {
            taken.contains(&name)
        });
        assert_eq!(first, "nightly-20261201T031501Z.dump");
    }
}
