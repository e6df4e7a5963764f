//! `config-applied` (incident A): configuration changed on disk but not applied.
//!
//! Every setting whose configuration-file value differs from what the server runs with, or that
//! waits for a restart, MUST be reported (a warning): the operator believes a change is live that
//! is not — Misskey's DB-4 was never fed because a changed configuration was never applied.
//!
//! An action that destroys an instance's data (rebuild, restore-backup, delete-data) MUST say
//! when such a change lives in the data directory it replaces (a warning, [`assess`]): the change
//! is not lost — hadome moves the directory aside — but the copy that replaces it starts without
//! it, and the finding names the file, the settings, and where the file will be.

use std::path::Path;

use crate::action::Action;
use crate::finding::{Finding, Severity};
use crate::interlock::view::View;
use crate::rule::CONFIG_APPLIED;

/// `check`: one finding per instance with unapplied settings.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for instance in &view.estate.instances {
        let Some(state) = view.fresh(&instance.name) else {
            continue;
        };
        if state.unapplied_settings.is_empty() {
            continue;
        }
        let details: Vec<String> = state
            .unapplied_settings
            .iter()
            .map(|setting| {
                if setting.pending_restart {
                    format!(
                        "`{}` = {} ({}) waits for a restart",
                        setting.name, setting.file_value, setting.source
                    )
                } else {
                    format!(
                        "`{}` is {} in {} but the server runs with {}",
                        setting.name, setting.file_value, setting.source, setting.live_value
                    )
                }
            })
            .collect();
        let needs_restart = state
            .unapplied_settings
            .iter()
            .any(|setting| setting.pending_restart);
        findings.push(Finding {
            rule: CONFIG_APPLIED,
            severity: Severity::Warn,
            subject: instance.name.clone(),
            message: format!(
                "`{}`: configuration changed on disk, not applied: {}",
                instance.name,
                details.join("; ")
            ),
            alternative: Some(if needs_restart {
                format!(
                    "restart `{}` to apply it, or revert the file",
                    instance.name
                )
            } else {
                format!(
                    "reload `{}` (SELECT pg_reload_conf()) to apply it, or revert the file",
                    instance.name
                )
            }),
        });
    }
    findings
}

/// `ask`/`run` of an action that destroys an instance's data: its unapplied settings that live
/// in that data directory (a file under it, or a relative one, which PostgreSQL reads from it).
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let mut findings = Vec::new();
    for name in action.impact().destroyed {
        let (Some(instance), Some(state)) = (view.estate.instance(&name), view.fresh(&name)) else {
            continue;
        };
        let data_dir = &instance.data_dir;
        let inside: Vec<String> = state
            .unapplied_settings
            .iter()
            .filter(|setting| {
                let file = setting
                    .source
                    .rsplit_once(':')
                    .map_or(setting.source.as_str(), |(file, _)| file);
                let file = Path::new(file);
                file.is_relative() || file.starts_with(data_dir)
            })
            .map(|setting| {
                format!(
                    "`{}` = {} ({})",
                    setting.name, setting.file_value, setting.source
                )
            })
            .collect();
        if inside.is_empty() {
            continue;
        }
        let aside = format!("{}.hadome-aside-STAMP", data_dir.display());
        findings.push(Finding {
            rule: CONFIG_APPLIED,
            severity: Severity::Warn,
            subject: name.clone(),
            message: format!(
                "`{name}` has a configuration change not applied yet, in its data directory: {}. The {} replaces that directory: the change is kept, moved aside with the old data to `{aside}`, but the new copy starts without it",
                inside.join(", "),
                action.name()
            ),
            alternative: Some(format!(
                "after the {}, apply the change again on the new copy (the old file is in `{aside}`), or keep it in a file outside the data directory",
                action.name()
            )),
        });
    }
    findings
}
