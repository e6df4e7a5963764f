//! `hadome backup run|verify|restore-test <name>`.
//!
//! Misskey's bot uploaded an empty dump every night for months, each run "successful". Here a
//! copy is trusted only after hadome has read it whole:
//! - **run** (`run.rs`): the backup's `command` writes a temporary `{output}` in the backup's
//!   directory; hadome checks the command's exit status, then reads the output whole (size,
//!   SHA-256, structure: `hadome-backup`); only a copy that passes is renamed into place, and the
//!   journal records its size, checksum, the source's position and, with `{snapshot}`, every
//!   table's row count in the dump's own snapshot. A failed output is moved aside (never deleted,
//!   never renamed into place) and escalated.
//! - **verify** (`verify.rs`): reads the newest copy whole and judges it (`backup-trust`,
//!   `snapshot-independence`).
//! - **restore-test** (`restore_test.rs`): restores the newest copy into a scratch PostgreSQL
//!   (`hadome-restore`) and compares its tables and row counts with what was recorded when it was
//!   made.
//!
//! This file dispatches and holds what the three share: the backup's own findings and how they
//! are shown, and escalating about a backup. The facts side, what every pass observes of the
//! backups, is `crate::backup_facts`.

use hadome_core::estate::{Backup, Estate};
use hadome_core::finding::{Finding, Severity};
use hadome_core::interlock;
use hadome_core::rule;
use hadome_core::supervise::Escalation;

use crate::assessment::severity_label;
use crate::cli::BackupCommand;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::pass::Pass;

mod command;
mod job;
mod restore_test;
mod run;
mod verify;

/// `hadome backup …`.
pub(crate) async fn run(command: BackupCommand) -> Result<u8, CliError> {
    match command {
        BackupCommand::Run { name, config, json } => run::run(name, config, json.json).await,
        BackupCommand::Verify { name, config, json } => {
            verify::verify(name, config, json.json).await
        }
        BackupCommand::RestoreTest { name, config, json } => {
            restore_test::restore_test(name, config, json.json).await
        }
    }
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
fn findings_of(pass: &Pass, backup: &str) -> Vec<Finding> {
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

/// Journals an escalation about `backup` and sends it to the webhook; says what was done.
async fn escalate(pass: &mut Pass, backup: &Backup, message: String) -> Result<String, CliError> {
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
