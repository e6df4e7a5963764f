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
use hadome_core::finding::human_bytes;
use hadome_journal::BackupMade;
use serde_json::json;

use super::command::run_to_end;
use super::job::{close_interrupted, Job};
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

/// A failed run: moves the output aside (never deletes it), journals the failed step `step` and
/// the job's outcome, escalates; says what.
#[allow(clippy::too_many_arguments)] // The run's own state, passed from each place it fails.
async fn failed_run(
    pass: &mut Pass,
    backup: &Backup,
    output: &Path,
    mut job: Job,
    step: &str,
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
    job.step(&mut pass.journal, step, false, &detail)?;
    job.finish(
        &mut pass.journal,
        false,
        &format!("{step} failed: {detail}"),
    )?;
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
    let uses_snapshot = command
        .iter()
        .any(|argument| argument.contains("{snapshot}"));
    // What earlier runs of this backup left open (killed midway) is closed first, and said.
    let mut text = close_interrupted(&mut pass.journal, &name, &dir, &prefix)?;
    let snapshot_step = backup
        .instance
        .as_ref()
        .filter(|_| uses_snapshot)
        .map(|instance| format!("export a snapshot of `{instance}` and count its rows in it"));
    let command_step = format!(
        "run the backup's command, its output to `{}`",
        output.display()
    );
    let read_step = format!("read `{}` whole and check it", output.display());
    let rename_step = format!("rename it into place as `{}`", final_path.display());
    let plan: Vec<String> = snapshot_step
        .iter()
        .cloned()
        .chain([command_step.clone(), read_step.clone(), rename_step.clone()])
        .collect();
    let mut job = Job::start(&mut pass.journal, &name, &plan)?;
    text.push_str(&format!("intent #{} journaled\n", job.intent()));
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
                        job,
                        snapshot_step.as_deref().unwrap_or("snapshot"),
                        "snapshot",
                        format!("could not export a snapshot of `{instance}`: {error}"),
                    )
                    .await?;
                    return report_failure(as_json, &name, "snapshot", &error, &text, &said);
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
        let step = snapshot_step.as_deref().unwrap_or("snapshot");
        let said = failed_run(
            &mut pass,
            &backup,
            &output,
            job,
            step,
            "snapshot",
            error.clone(),
        )
        .await?;
        return report_failure(as_json, &name, "snapshot", &error, &text, &said);
    }
    if let (Some(step), Some(snapshot)) = (&snapshot_step, &snapshot) {
        let detail = format!(
            "snapshot `{}` exported, {} tables counted in it",
            snapshot.snapshot_id,
            snapshot.counts.len()
        );
        job.step(&mut pass.journal, step, true, &detail)?;
    }
    let clock = Instant::now();
    let ran = run_to_end(&argv).await;
    let duration = clock.elapsed();
    // The snapshot may end once the command is done.
    let row_counts = snapshot.map(|snapshot| snapshot.counts).unwrap_or_default();
    if let Err(error) = ran {
        let error = error.to_string();
        let said = failed_run(
            &mut pass,
            &backup,
            &output,
            job,
            &command_step,
            "command",
            error.clone(),
        )
        .await?;
        return report_failure(as_json, &name, "command", &error, &text, &said);
    }
    let detail = format!("exited 0 in {:.1} s", duration.as_secs_f64());
    job.step(&mut pass.journal, &command_step, true, &detail)?;

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
            let said = failed_run(
                &mut pass,
                &backup,
                &output,
                job,
                &read_step,
                "verify",
                problem.clone(),
            )
            .await?;
            return report_failure(as_json, &name, "verify", &problem, &text, &said);
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
    let detail = format!(
        "{} bytes, sha256 {}",
        inspection.size_bytes, inspection.sha256_hex
    );
    job.step(&mut pass.journal, &read_step, true, &detail)?;
    if let Err(error) = std::fs::rename(&output, &final_path) {
        let detail = format!(
            "could not rename it into place as `{}`: {error}",
            final_path.display()
        );
        let said = failed_run(
            &mut pass,
            &backup,
            &output,
            job,
            &rename_step,
            "rename",
            detail.clone(),
        )
        .await?;
        return report_failure(as_json, &name, "rename", &detail, &text, &said);
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
    job.step(&mut pass.journal, &rename_step, true, "renamed into place")?;
    pass.journal.record_backup_made(wall_clock(), &made)?;
    job.finish(
        &mut pass.journal,
        true,
        &format!("made `{}`", final_path.display()),
    )?;

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
            "said": text,
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
    before: &str,
    said: &str,
) -> Result<u8, CliError> {
    if as_json {
        print_json(&json!({
            "version": 1,
            "backup": name,
            "made": false,
            "stage": stage,
            "error": detail,
            "said": format!("{before}{said}"),
        }));
    } else {
        print_text(&format!(
            "{before}FAILED backup `{name}` ({stage}): {detail}\n{said}"
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
