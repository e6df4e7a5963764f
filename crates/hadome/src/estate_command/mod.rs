//! `hadome check`, `status` and `ask`: observe once, remember, judge, print.
//!
//! All three share one pass (`crate::pass`): load the estate, observe every instance concurrently
//! (each probe bounded by the probe timeout), record the facts in the journal (so a copy that
//! stops answering keeps its last known position), read the journal's history back, and hand
//! everything to the pure core with `now`.
//!
//! What `check` and `status` answer is built in the base module `views` (the daemon's API serves
//! the same documents); `ask --api URL` asks a daemon instead of probing (`api_client.rs`).

use hadome_core::finding::{Severity, Verdict};
use hadome_core::interlock;

use crate::assessment::{
    action_from, assessment_json, render_assessment, severity_label, ActionWords,
};
use crate::backup_facts::BackupReading;
use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text, Paint};
use crate::pass::{observe, observe_for};

mod api_client;

pub(crate) use api_client::ask_api;

/// `hadome status`.
pub(crate) async fn status(config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let pass = observe(&config, BackupReading::ListOnly).await?;
    let status = crate::views::status(&pass.seen())?;
    if as_json {
        print_json(&status.json);
    } else {
        print_text(&status.text);
    }
    Ok(exit_code::OK)
}

/// `hadome check`.
pub(crate) async fn check(config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let mut pass = observe(&config, BackupReading::VerifyNewest).await?;
    let findings = interlock::check(&pass.estate, &pass.facts, &pass.history, pass.now);
    pass.journal.record_findings(pass.now, &findings)?;
    let (critical, warnings) = crate::views::counts(&findings);
    if as_json {
        print_json(&crate::views::check_json(&pass.estate, &findings));
    } else {
        let paint = Paint::for_stdout();
        let mut text = String::new();
        for finding in &findings {
            // Pad before painting: escape codes are invisible but would count toward the width.
            let label = format!("{:<11}", severity_label(finding.severity));
            let label = if finding.severity >= Severity::NeedsHuman {
                paint.red(&label)
            } else {
                paint.yellow(&label)
            };
            text.push_str(&format!(
                "{label}  {:<20} {}\n",
                finding.rule, finding.message
            ));
            if let Some(alternative) = &finding.alternative {
                text.push_str(&format!("{:<11}  {:<20} → {alternative}\n", "", ""));
            }
        }
        let counted = |count: usize, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        let mut observed = vec![counted(
            pass.estate.instances.len(),
            "instance",
            "instances",
        )];
        if !pass.estate.hosts.is_empty() {
            observed.push(counted(pass.estate.hosts.len(), "host", "hosts"));
        }
        if !pass.estate.etcd_members.is_empty() {
            observed.push(counted(
                pass.estate.etcd_members.len(),
                "etcd member",
                "etcd members",
            ));
        }
        if !pass.estate.web.routes.is_empty() {
            observed.push(counted(pass.estate.web.routes.len(), "route", "routes"));
        }
        if !pass.estate.web.nginx.is_empty() {
            observed.push(counted(pass.estate.web.nginx.len(), "nginx", "nginx"));
        }
        text.push_str(&format!(
            "{critical} critical, {warnings} {}; {} observed in {:.2} s\n",
            if warnings == 1 { "warning" } else { "warnings" },
            observed.join(", "),
            pass.observe_seconds
        ));
        print_text(&text);
    }
    Ok(if critical > 0 {
        exit_code::FAILURE
    } else {
        exit_code::OK
    })
}

/// `hadome ask`.
pub(crate) async fn ask(
    words: ActionWords,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let action = action_from(words)?;
    let mut pass = observe_for(&config, &action).await?;
    let assessment = interlock::assess(&pass.estate, &pass.facts, &pass.history, &action, pass.now);
    pass.journal.record_verdict(
        pass.now,
        &assessment.action,
        assessment.verdict,
        &assessment.findings,
    )?;
    if as_json {
        print_json(&assessment_json(&assessment, &config.config));
    } else {
        print_text(&render_assessment(
            &assessment,
            &config.config,
            Paint::for_stdout(),
        ));
    }
    Ok(match assessment.verdict {
        Verdict::Allow | Verdict::AllowAfter => exit_code::OK,
        Verdict::Deny => exit_code::FAILURE,
        Verdict::NeedsHuman => exit_code::NEEDS_HUMAN,
    })
}
