//! `hadome backup verify <name>`: the newest copy read whole and judged (`backup-trust`,
//! `snapshot-independence`).

use hadome_core::backup::BackupCopy;
use hadome_core::finding::{human_bytes, human_duration};
use serde_json::{json, Value};

use super::{critical, findings_of, render_findings, unknown_backup};
use crate::assessment::finding_json;
use crate::backup_facts::BackupReading;
use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};
use crate::pass::observe;

/// `hadome backup verify <name>`.
pub(crate) async fn verify(
    name: String,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let pass = observe(&config, BackupReading::VerifyNewest).await?;
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
