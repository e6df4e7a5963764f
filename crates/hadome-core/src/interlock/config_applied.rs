//! `config-applied` (incident A): configuration changed on disk but not applied.
//!
//! Every setting whose configuration-file value differs from what the server runs with, or that
//! waits for a restart, MUST be reported (a warning): the operator believes a change is live that
//! is not — Misskey's DB-4 was never fed because a changed configuration was never applied.

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
