//! `hadome backup run|verify|restore-test <name>`, and the backup facts every pass observes.
//!
//! Misskey's bot uploaded an empty dump every night for months, each run "successful". Here a
//! copy is trusted only after hadome has read it whole:
//! - **run**: the backup's `command` writes a temporary `{output}` in the backup's directory;
//!   hadome checks the command's exit status, then reads the output whole (size, SHA-256,
//!   structure: `hadome-backup`); only a copy that passes is renamed into place, and the journal
//!   records its size, checksum, the source's position and, with `{snapshot}`, every table's row
//!   count in the dump's own snapshot. A failed output is moved aside (never deleted, never
//!   renamed into place) and escalated.
//! - **verify**: reads the newest copy whole and judges it (`backup-trust`,
//!   `snapshot-independence`).
//! - **restore-test**: restores the newest copy into a scratch PostgreSQL (`restore_test`) and
//!   compares its tables and row counts with what was recorded when it was made.
//!
//! [`observe_backups`] is the facts side: it lists every backup's copies, newest first, reads the
//! newest whole when asked ([`BackupReading::VerifyNewest`]), and looks up which filesystem each
//! path of interest lives on. It is blocking file I/O and runs on tokio's blocking pool.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hadome_backup::{Inspection, Structure};
use hadome_core::backup::{
    BackupCopy, BackupObservation, Broken, CopyVerification, Storage, Unlisted,
};
use hadome_core::estate::{Backup, BackupKind, Estate};
use hadome_core::fact::{ProbeOutcome, Timestamp};
use hadome_core::finding::{human_bytes, human_duration, Finding, Severity};
use hadome_core::interlock;
use hadome_core::rule;
use hadome_core::supervise::Escalation;
use hadome_journal::{BackupMade, RestoreTestDone};
use serde_json::{json, Value};

use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::estate_command::{finding_json, severity_label, wall_clock};
use crate::exit_code;
use crate::output::{print_json, print_text};
use tokio::signal::unix::{signal, SignalKind};

/// How long a backup's command may run before hadome gives up on it (and keeps nothing).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// The prefix of a temporary output in a backup's directory; the copies' pattern never matches it.
const TEMPORARY_PREFIX: &str = ".hadome-tmp-";
/// The prefix a failed output is moved aside to.
const FAILED_PREFIX: &str = ".hadome-failed-";

/// How much of each backup a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupReading {
    /// List the copies (sizes, times): cheap, for `status` and `ask`.
    ListOnly,
    /// List, and read the newest copy whole (checksum and structure): `check`, `backup verify`,
    /// `ask restore-backup`.
    VerifyNewest,
}

/// Every backup's copies and every path's filesystem, as the core's facts.
pub(crate) async fn observe_backups(
    estate: &Estate,
    reading: BackupReading,
) -> (
    BTreeMap<String, BackupObservation>,
    BTreeMap<PathBuf, Storage>,
) {
    if estate.backups.is_empty() && estate.snapshots.is_empty() {
        return (BTreeMap::new(), BTreeMap::new());
    }
    let estate = estate.clone();
    tokio::task::spawn_blocking(move || {
        let backups = estate
            .backups
            .iter()
            .map(|backup| (backup.name.clone(), observe_backup(backup, reading)))
            .collect();
        (backups, storage(&estate))
    })
    .await
    // A panic in the blocking task is a bug; the backups are then unobserved, so every rule
    // that needs them fails closed (`backup-trust`: "not looked at").
    .unwrap_or_default()
}

fn observe_backup(backup: &Backup, reading: BackupReading) -> BackupObservation {
    let observed_at = wall_clock();
    let copies = list_copies(backup).map(|mut copies| {
        if reading == BackupReading::VerifyNewest {
            if let Some(newest) = copies.first_mut() {
                newest.verification = Some(verify_copy(backup.kind, &newest.path));
            }
        }
        copies
    });
    BackupObservation {
        observed_at,
        copies: copies.map_err(|reason| Unlisted { reason }),
    }
}

/// The file name's text before and after its `*`.
fn pattern(backup: &Backup) -> (String, String) {
    let name = backup
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.split_once('*') {
        Some((prefix, suffix)) => (prefix.to_owned(), suffix.to_owned()),
        None => (name, String::new()),
    }
}

fn directory(backup: &Backup) -> &Path {
    backup.path.parent().unwrap_or(Path::new("/"))
}

/// The copies matching the backup's path, newest first (by modification time, then name).
fn list_copies(backup: &Backup) -> Result<Vec<BackupCopy>, String> {
    let dir = directory(backup);
    let (prefix, suffix) = pattern(backup);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("cannot read `{}`: {error}", dir.display())),
    };
    let mut copies = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| format!("cannot read `{}`: {error}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMPORARY_PREFIX)
            || name.starts_with(FAILED_PREFIX)
            || name.len() < prefix.len() + suffix.len()
            || !name.starts_with(&prefix)
            || !name.ends_with(&suffix)
        {
            continue;
        }
        let path = entry.path();
        let metadata = std::fs::metadata(&path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        let size_bytes = match backup.kind {
            BackupKind::BaseBackup if metadata.is_dir() => tree_size(&path)?,
            BackupKind::BaseBackup => continue,
            BackupKind::PgDump | BackupKind::Files if metadata.is_file() => metadata.len(),
            BackupKind::PgDump | BackupKind::Files => continue,
        };
        copies.push(BackupCopy {
            path,
            size_bytes,
            modified_at: Timestamp(metadata.mtime() * 1000 + metadata.mtime_nsec() / 1_000_000),
            verification: None,
        });
    }
    copies.sort_by(|a, b| {
        b.modified_at
            .cmp(&a.modified_at)
            .then_with(|| b.path.cmp(&a.path))
    });
    Ok(copies)
}

/// The bytes of every regular file under `dir`.
fn tree_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next)
            .map_err(|error| format!("cannot read `{}`: {error}", next.display()))?;
        for entry in entries {
            let entry =
                entry.map_err(|error| format!("cannot read `{}`: {error}", next.display()))?;
            let metadata = entry
                .metadata()
                .map_err(|error| format!("cannot read `{}`: {error}", entry.path().display()))?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

/// Reads a copy whole: its checksum and structure.
fn verify_copy(kind: BackupKind, path: &Path) -> CopyVerification {
    match inspect(kind, path) {
        Ok(inspection) => verification_of(&inspection),
        Err(error) => CopyVerification {
            sha256_hex: String::new(),
            structure: Err(Broken {
                reason: format!("hadome could not read it: {error}"),
            }),
            tables: Vec::new(),
        },
    }
}

fn inspect(kind: BackupKind, path: &Path) -> Result<Inspection, String> {
    let result = match kind {
        BackupKind::PgDump => hadome_backup::inspect_dump(path),
        BackupKind::Files => hadome_backup::inspect_file(path),
        BackupKind::BaseBackup => {
            let program = hadome_lab::locate_bindir()
                .map(|bindir| bindir.join("pg_verifybackup"))
                .unwrap_or_else(|_| PathBuf::from("pg_verifybackup"));
            hadome_backup::inspect_base_backup(path, &program)
        }
    };
    result.map_err(|error| error.to_string())
}

fn verification_of(inspection: &Inspection) -> CopyVerification {
    let (structure, tables) = match &inspection.structure {
        Structure::Valid(summary) => (
            Ok(format!(
                "a pg_dump archive (format {}.{}.{}) of {} entries, {} with data",
                summary.format_version.0,
                summary.format_version.1,
                summary.format_version.2,
                summary.entries.len(),
                summary.data_blocks
            )),
            summary.tables(),
        ),
        Structure::ValidBaseBackup(summary) => (
            Ok(format!(
                "a base backup of {} files, WAL to {} on timeline {} (pg_verifybackup)",
                summary.files,
                summary.end_lsn.as_deref().unwrap_or("?"),
                summary
                    .timeline
                    .map_or_else(|| "?".to_owned(), |timeline| timeline.to_string())
            )),
            Vec::new(),
        ),
        Structure::Invalid {
            offset_bytes,
            reason,
        } => (
            // hadome-backup's reasons name the byte where they can; the offset is added only
            // where the reason does not.
            Err(match offset_bytes {
                Some(offset) if !reason.contains(&format!("byte {offset}")) => {
                    format!("{reason} (at byte {offset})")
                }
                _ => reason.clone(),
            }),
            Vec::new(),
        ),
        Structure::NotChecked => (Ok("not checked (type \"files\")".to_owned()), Vec::new()),
    };
    CopyVerification {
        sha256_hex: inspection.sha256_hex.clone(),
        structure: structure.map_err(|reason| Broken { reason }),
        tables,
    }
}

/// Which filesystem holds each path of interest that exists here.
fn storage(estate: &Estate) -> BTreeMap<PathBuf, Storage> {
    let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
    for snapshot in &estate.snapshots {
        paths.insert(snapshot.protects.clone());
        paths.insert(snapshot.location.clone());
    }
    for backup in &estate.backups {
        paths.insert(directory(backup).to_path_buf());
    }
    for instance in &estate.instances {
        paths.insert(instance.data_dir.clone());
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let metadata = std::fs::metadata(&path).ok()?;
            let canonical = std::fs::canonicalize(&path).ok()?;
            Some((
                path,
                Storage {
                    canonical,
                    device: metadata.dev(),
                },
            ))
        })
        .collect()
}

fn unknown_backup(estate: &Estate, name: &str) -> CliError {
    let names: Vec<&str> = estate
        .backups
        .iter()
        .map(|backup| backup.name.as_str())
        .collect();
    CliError::Usage {
        message: format!("the estate has no backup `{name}`"),
        hint: Some(if names.is_empty() {
            "describe one in a `[[backup]]` table (examples/estate.toml shows every key)".to_owned()
        } else {
            format!("the estate's backups: {}", names.join(", "))
        }),
    }
}

/// The findings about `backup`: its own (`backup-trust`, `snapshot-independence`).
fn findings_of(pass: &crate::estate_command::Pass, backup: &str) -> Vec<Finding> {
    interlock::check(&pass.estate, &pass.facts, &pass.history, pass.now)
        .into_iter()
        .filter(|finding| {
            finding.subject == backup
                && (finding.rule == rule::BACKUP_TRUST
                    || finding.rule == rule::SNAPSHOT_INDEPENDENCE)
        })
        .collect()
}

fn render_findings(findings: &[Finding]) -> String {
    let mut text = String::new();
    for finding in findings {
        text.push_str(&format!(
            "  {:<11}  {:<21} {}\n",
            severity_label(finding.severity),
            finding.rule,
            finding.message
        ));
        if let Some(alternative) = &finding.alternative {
            text.push_str(&format!("  {:<11}  {:<21} → {alternative}\n", "", ""));
        }
    }
    text
}

fn critical(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|finding| finding.severity >= Severity::NeedsHuman)
}

/// `hadome backup verify <name>`.
pub(crate) async fn verify(
    name: String,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let pass = crate::estate_command::observe(&config, BackupReading::VerifyNewest).await?;
    if pass.estate.backup(&name).is_none() {
        return Err(unknown_backup(&pass.estate, &name));
    }
    let findings = findings_of(&pass, &name);
    let newest = pass
        .facts
        .backups
        .get(&name)
        .and_then(|observation| observation.copies.as_ref().ok())
        .and_then(|copies| copies.first());
    if as_json {
        print_json(&json!({
            "version": 1,
            "backup": name,
            "newest": newest.map(copy_json),
            "trusted": !critical(&findings),
            "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        }));
    } else {
        let mut text = match newest {
            Some(copy) => format!(
                "backup `{name}`: newest copy `{}`, {}, {} old\n",
                copy.path.display(),
                human_bytes(copy.size_bytes),
                human_duration(pass.now.seconds_since(copy.modified_at))
            ),
            None => format!("backup `{name}`: no copy\n"),
        };
        if let Some(verification) = newest.and_then(|copy| copy.verification.as_ref()) {
            text.push_str(&format!("  sha256     {}\n", verification.sha256_hex));
            match &verification.structure {
                Ok(summary) => text.push_str(&format!("  structure  {summary}\n")),
                Err(reason) => text.push_str(&format!("  structure  BROKEN: {reason}\n")),
            }
        }
        text.push_str(&render_findings(&findings));
        text.push_str(if critical(&findings) {
            "not trusted\n"
        } else {
            "trusted\n"
        });
        print_text(&text);
    }
    Ok(if critical(&findings) {
        exit_code::FAILURE
    } else {
        exit_code::OK
    })
}

fn copy_json(copy: &BackupCopy) -> Value {
    json!({
        "path": copy.path.display().to_string(),
        "size_bytes": copy.size_bytes,
        "modified_at_ms": copy.modified_at.0,
        "sha256": copy.verification.as_ref().map(|verification| verification.sha256_hex.clone()),
        "structure": copy.verification.as_ref().map(|verification| match &verification.structure {
            Ok(summary) => json!({"ok": true, "summary": summary}),
            Err(broken) => json!({"ok": false, "reason": broken.reason}),
        }),
    })
}

/// `YYYYMMDDTHHMMSSZ`, the stamp in a copy's name.
fn stamp(at: Timestamp) -> String {
    crate::run_command::utc_stamp(at)
}

/// A failed run: moves the output aside (never deletes it), journals, escalates; says what.
async fn failed_run(
    pass: &mut crate::estate_command::Pass,
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

/// Journals an escalation about `backup` and sends it to the webhook; says what was done.
async fn escalate(
    pass: &mut crate::estate_command::Pass,
    backup: &Backup,
    message: String,
) -> Result<String, CliError> {
    let mut said = String::new();
    let at = wall_clock();
    let escalation = Escalation {
        cluster: backup
            .instance
            .as_deref()
            .and_then(|instance| pass.estate.cluster_of(instance))
            .map_or_else(String::new, |cluster| cluster.name.clone()),
        subject: backup.name.clone(),
        rule: rule::BACKUP_TRUST,
        message,
    };
    let id = pass.journal.record_escalation(
        at,
        &escalation.cluster,
        &escalation.subject,
        escalation.rule,
        &escalation.message,
    )?;
    match pass.estate.notify.webhook_url.clone() {
        None => said.push_str("  escalated: journaled (no [notify] webhook_url)\n"),
        Some(url) => {
            let result = crate::notify::send(&url, &escalation).await;
            match &result {
                Ok(()) => said.push_str("  escalated: journaled and sent to the webhook\n"),
                Err(error) => said.push_str(&format!(
                    "  escalated: journaled; the webhook did not take it: {error}\n"
                )),
            }
            pass.journal.record_notified(id, wall_clock(), result)?;
        }
    }
    Ok(said)
}

/// The source's position now, for the record (a lower bound of the dump's).
async fn position_of(
    pass: &crate::estate_command::Pass,
    instance: &str,
) -> Option<hadome_core::position::DataPosition> {
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
/// Not `run_command::run_argv`: that one names the whole command line in its result, and a
/// backup's command usually carries a conninfo, which may hold a password; this result is
/// journaled and sent to the webhook, so it names the program only.
async fn run_to_end(argv: &[String]) -> Result<(), String> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err("the command is empty".to_owned());
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SIGTERM or SIGINT (a stopping daemon, a person's Ctrl-C) ends the command — the dropped
    // future kills it — and the run fails like any other: its output is moved aside, journaled.
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|error| format!("cannot watch for SIGTERM: {error}"))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|error| format!("cannot watch for SIGINT: {error}"))?;
    let output = tokio::select! {
        ran = tokio::time::timeout(COMMAND_TIMEOUT, process.output()) => ran,
        _ = terminate.recv() => return Err(format!("interrupted by SIGTERM: `{program}` was killed")),
        _ = interrupt.recv() => return Err(format!("interrupted by SIGINT: `{program}` was killed")),
    };
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(format!("could not start `{program}`: {error}")),
        Err(_) => {
            return Err(format!(
                "`{program}` did not finish within {}",
                human_duration(COMMAND_TIMEOUT.as_secs_f64())
            ))
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.trim().lines().last().unwrap_or("").to_owned();
    Err(match output.status.code() {
        Some(code) => format!("`{program}` exited with {code}: {last}"),
        None => format!("`{program}` was killed by a signal: {last}"),
    })
}

/// `hadome backup run <name>`.
/// How long a `backup run`'s claim on its backup lasts unless renewed (every third of that).
const MAKING_TTL_MS: i64 = 30_000;

pub(crate) async fn run(name: String, config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let mut pass = crate::estate_command::observe(&config, BackupReading::ListOnly).await?;
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
    let _making = crate::held::HeldLease::take(
        &pass.estate.journal_path,
        &hadome_journal::making_lease(&name),
        "hadome backup run",
        MAKING_TTL_MS,
        |lease| {
            CliError::Usage {
            message: format!(
                "a copy of backup `{name}` is being made already, by `{}` (since {}): one at a time; nothing was done",
                lease.holder,
                crate::ack_command::utc_text(lease.acquired_at)
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
    let copy_name = free_name(&prefix, &suffix, &stamp(started_at), |name| {
        std::fs::symlink_metadata(dir.join(name)).is_ok()
            || std::fs::symlink_metadata(dir.join(format!("{TEMPORARY_PREFIX}{name}"))).is_ok()
    });
    let final_path = dir.join(&copy_name);
    let output = dir.join(format!("{TEMPORARY_PREFIX}{copy_name}"));
    if let Err(error) = std::fs::create_dir_all(&dir) {
        return Err(CliError::Usage {
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
            match crate::restore_test::snapshot_counts(&conninfo, Duration::from_secs(60)).await {
                Ok(snapshot) => Some(snapshot),
                Err(error) => {
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
    let argv: Vec<String> = command
        .iter()
        .map(|argument| {
            let argument = argument.replace("{output}", &output.display().to_string());
            match &snapshot {
                Some(snapshot) => argument.replace("{snapshot}", &snapshot.snapshot_id),
                None => argument,
            }
        })
        .collect();
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
        let said = failed_run(&mut pass, &backup, &output, "command", error.clone()).await?;
        return report_failure(as_json, &name, "command", &error, &said);
    }

    let kind = backup.kind;
    let read = output.clone();
    let inspected = tokio::task::spawn_blocking(move || inspect(kind, &read))
        .await
        .map_err(|error| CliError::Usage {
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
            return Err(CliError::Usage {
                message: error,
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
    let mut pass = crate::estate_command::observe(&config, BackupReading::ListOnly).await?;
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
    let mut pass = crate::estate_command::observe(&config, BackupReading::VerifyNewest).await?;
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
        return Err(CliError::Usage {
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
    let options = crate::restore_test::RestoreTestOptions {
        scratch_parent: std::env::temp_dir(),
        hadome_binary: std::env::current_exe().map_err(|error| CliError::Usage {
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
    let report = tokio::select! {
        report = crate::restore_test::restore_test(&newest.path, &expected, &options, &mut on_progress) => report,
        _ = terminate.recv() => Err("interrupted by SIGTERM; the scratch server was torn down".to_owned()),
        _ = interrupt.recv() => Err("interrupted by SIGINT; the scratch server was torn down".to_owned()),
    };
    progress.finish();
    let report = report.map_err(|error| CliError::Usage {
        message: format!("the restore test of `{name}` could not run: {error}"),
        hint: None,
    })?;

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
