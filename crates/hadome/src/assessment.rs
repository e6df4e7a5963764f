//! An assessment as hadome's commands take and show it: the typed action from the command line's
//! words (`ask`, `run`), each finding and severity as people and scripts see them (`check`, `ask`,
//! `run`, `backup …`), and a whole assessment as text and as JSON (`ask`, `run`).
//!
//! The JSON shapes are part of the CLI's boundary (`check`, `ask`).

use std::path::Path;

use hadome_core::action::Action;
use hadome_core::finding::{Finding, Severity, Verdict};
use hadome_core::interlock::Assessment;
use serde_json::{json, Value};

use crate::cli::ActionName;
use crate::error::CliError;
use crate::output::Paint;

/// The command line's words for an action (`ask`, `run`).
#[derive(Debug, Clone)]
pub(crate) struct ActionWords {
    pub(crate) action: ActionName,
    pub(crate) target: String,
    pub(crate) from: Option<String>,
    pub(crate) no_reboot: bool,
}

/// The typed action from the command line's words; `--from` goes with `rebuild` and
/// `restore-backup` only, `--no-reboot` with `image` only; `delete-data HOST:/PATH` names a path
/// on a host (an instance's name holds no `:`).
pub(crate) fn action_from(words: ActionWords) -> Result<Action, CliError> {
    let ActionWords {
        action,
        target,
        from,
        no_reboot,
    } = words;
    if no_reboot && !matches!(action, ActionName::Image) {
        return Err(CliError::Usage {
            message: format!(
                "`--no-reboot` goes with `image` only, not `{}`",
                action_word(action)
            ),
            hint: None,
        });
    }
    Ok(match (action, from) {
        (ActionName::Rebuild, Some(source)) => Action::Rebuild { target, source },
        (ActionName::Rebuild, None) => {
            return Err(CliError::Usage {
                message:
                    "`rebuild` needs `--from SOURCE`: the instance whose data replaces the target's"
                        .to_owned(),
                hint: Some("hadome ask rebuild db-3 --from db-1 --config estate.toml".to_owned()),
            })
        }
        (ActionName::RestoreBackup, Some(backup)) => Action::RestoreBackup { target, backup },
        (ActionName::RestoreBackup, None) => {
            return Err(CliError::Usage {
                message: "`restore-backup` needs `--from BACKUP`: the backup (its name in the estate) whose newest copy replaces the target's data".to_owned(),
                hint: Some("hadome ask restore-backup db-1 --from nightly --config estate.toml".to_owned()),
            })
        }
        (other, Some(_)) => {
            return Err(CliError::Usage {
                message: format!(
                    "`--from` goes with `rebuild` and `restore-backup` only, not `{}`",
                    action_word(other)
                ),
                hint: None,
            })
        }
        (ActionName::Promote, None) => Action::Promote { target },
        (ActionName::Restart, None) => Action::Restart { target },
        (ActionName::Stop, None) => Action::Stop { target },
        (ActionName::DeleteData, None) => match target.split_once(':') {
            None => Action::DeleteData { target },
            Some((host, path)) => {
                let path = std::path::PathBuf::from(path);
                if host.is_empty() || !path.is_absolute() {
                    return Err(CliError::Usage {
                        message: format!("`{target}` names no path on a host: `delete-data` takes an instance, or HOST:/PATH with an absolute path"),
                        hint: Some("hadome ask delete-data s512:/srv/uploads --config estate.toml".to_owned()),
                    });
                }
                Action::DeletePath {
                    host: host.to_owned(),
                    path,
                }
            }
        },
        (ActionName::Reboot, None) => Action::Reboot { host: target },
        (ActionName::Image, None) => Action::Image {
            host: target,
            reboots: !no_reboot,
        },
        (ActionName::DeleteHost, None) => Action::DeleteHost { host: target },
        (ActionName::ReplaceMember, None) => Action::ReplaceMember { member: target },
        (ActionName::RemoveMember, None) => Action::RemoveMember { member: target },
        (ActionName::Reload, None) => Action::Reload { nginx: target },
    })
}

pub(crate) fn action_word(action: ActionName) -> &'static str {
    match action {
        ActionName::Promote => "promote",
        ActionName::Rebuild => "rebuild",
        ActionName::Restart => "restart",
        ActionName::Stop => "stop",
        ActionName::DeleteData => "delete-data",
        ActionName::RestoreBackup => "restore-backup",
        ActionName::Reboot => "reboot",
        ActionName::Image => "image",
        ActionName::DeleteHost => "delete-host",
        ActionName::ReplaceMember => "replace-member",
        ActionName::RemoveMember => "remove-member",
        ActionName::Reload => "reload",
    }
}

/// A severity as `check` and `backup …` label it in their tables.
pub(crate) fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "CRITICAL",
        Severity::NeedsHuman => "NEEDS-HUMAN",
        Severity::Warn => "WARNING",
        Severity::Info => "INFO",
    }
}

/// A finding in the JSON of `check`, `ask`, `run` and `backup …`.
pub(crate) fn finding_json(finding: &Finding) -> Value {
    json!({
        "rule": finding.rule,
        "severity": finding.severity.as_str(),
        "subject": finding.subject,
        "message": finding.message,
        "alternative": finding.alternative,
    })
}

/// An assessment in the JSON of `ask` and `run`.
pub(crate) fn assessment_json(assessment: &Assessment, config: &Path) -> Value {
    let (source, target) = match &assessment.action {
        Action::Rebuild { source, target } => (Some(source.clone()), target.clone()),
        Action::RestoreBackup { backup, target } => (Some(backup.clone()), target.clone()),
        other => (None, other.target().to_owned()),
    };
    json!({
        "version": 1,
        "action": assessment.action.name(),
        "target": target,
        "source": source,
        "verdict": assessment.verdict.as_str(),
        "findings": assessment.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "prerequisites": assessment.prerequisites,
        "alternatives": assessment.findings.iter().filter_map(|finding| finding.alternative.clone()).collect::<Vec<_>>(),
        "next": next_step(assessment, config),
    })
}

/// What a person does next when the verdict is `needs-human`: check what the findings say, then
/// run the action overriding each rule that asked for them, with a reason (journaled).
pub(crate) fn next_step(assessment: &Assessment, config: &Path) -> Option<String> {
    if assessment.verdict != Verdict::NeedsHuman {
        return None;
    }
    let mut rules: Vec<&str> = assessment
        .findings
        .iter()
        .filter(|finding| finding.severity == Severity::NeedsHuman)
        .map(|finding| finding.rule)
        .collect();
    rules.dedup();
    let overrides: String = rules
        .iter()
        .map(|rule| format!(" --override {rule}"))
        .collect();
    Some(format!(
        "a person checks what the findings above say, then: hadome run {}{overrides} --reason \"WHY\" --config {}",
        assessment.action.command_words(),
        config.display()
    ))
}

/// An assessment for people: the verdict, each finding, what hadome would do first, and the safe alternatives.
pub(crate) fn render_assessment(assessment: &Assessment, config: &Path, paint: Paint) -> String {
    // Pad before painting: escape codes are invisible but would count toward the width.
    let verdict = format!("{:<11}", assessment.verdict.as_str().to_uppercase());
    let verdict = match assessment.verdict {
        Verdict::Deny | Verdict::NeedsHuman => paint.red(&verdict),
        Verdict::AllowAfter => paint.yellow(&verdict),
        Verdict::Allow => paint.green(&verdict),
    };
    let mut text = format!("{verdict}  {}\n", assessment.action);
    let width = assessment
        .findings
        .iter()
        .map(|finding| finding.rule.len())
        .max()
        .unwrap_or(0);
    for finding in &assessment.findings {
        let mark = match finding.severity {
            Severity::Deny | Severity::NeedsHuman => "✗",
            Severity::Warn => "!",
            Severity::Info => "·",
        };
        text.push_str(&format!(
            "  {mark} {:<width$}  {}\n",
            finding.rule, finding.message
        ));
    }
    // What hadome would do first matters only when the action may go ahead.
    if assessment.verdict <= Verdict::AllowAfter {
        for step in &assessment.prerequisites {
            text.push_str(&format!("  first: {step}\n"));
        }
    }
    for alternative in assessment
        .findings
        .iter()
        .filter_map(|finding| finding.alternative.as_ref())
    {
        text.push_str(&format!("  → safe instead: {alternative}\n"));
    }
    if let Some(next) = next_step(assessment, config) {
        text.push_str(&format!("  next: {next}\n"));
    }
    text
}
