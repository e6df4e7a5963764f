//! `hadome advise MEMBER`: wait or replace, the runbook's decision point for a quorum member that
//! is down (issue 13, incident D). One pass (so the journal learns this pass's health too), then
//! the core's `advise` with its reasons; nothing is executed.

use hadome_core::advise::{advise as advise_member, Advice, Decision};
use hadome_core::suggest::closest;
use serde_json::json;

use crate::backup_facts::BackupReading;
use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};
use crate::pass::observe;

/// Runs `hadome advise MEMBER`: exit 0 wait or healthy, 1 replace, 3 needs-human.
pub(crate) async fn advise(
    member: &str,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let pass = observe(&config, BackupReading::ListOnly).await?;
    let Some(advice) = advise_member(&pass.estate, &pass.facts, &pass.history, pass.now, member)
    else {
        let names: Vec<&str> = pass
            .estate
            .etcd_members
            .iter()
            .map(|declared| declared.name.as_str())
            .collect();
        return Err(CliError::Usage {
            message: format!(
                "the estate `{}` declares no etcd member `{member}`",
                config.config.display()
            ),
            hint: Some(match closest(member, &names) {
                Some(close) => format!("did you mean `{close}`?"),
                None if names.is_empty() => {
                    "`advise` takes the name of an `[[etcd]]` member; this estate declares none"
                        .to_owned()
                }
                None => format!("the estate's etcd members: {}", names.join(", ")),
            }),
        });
    };
    if as_json {
        print_json(&advice_json(&advice));
    } else {
        print_text(&advice_text(&advice));
    }
    Ok(match advice.decision {
        Decision::Healthy | Decision::Wait => exit_code::OK,
        Decision::Replace => exit_code::FAILURE,
        Decision::NeedsHuman => exit_code::NEEDS_HUMAN,
    })
}

fn advice_text(advice: &Advice) -> String {
    let next = match advice.decision {
        Decision::Healthy => "nothing to do".to_owned(),
        Decision::Wait => format!(
            "it likely comes back by itself: do not replace it; ask again later (`hadome advise {}`)",
            advice.member
        ),
        Decision::Replace => format!(
            "`hadome ask replace-member {0}`, then `hadome run replace-member {0}`",
            advice.member
        ),
        Decision::NeedsHuman => "the facts do not decide it: a person does".to_owned(),
    };
    let mut text = format!(
        "advise {}: {}\n  next: {next}\n",
        advice.member,
        advice.decision.as_str().to_uppercase()
    );
    for reason in &advice.reasons {
        text.push_str(&format!("  - {reason}\n"));
    }
    text
}

fn advice_json(advice: &Advice) -> serde_json::Value {
    json!({
        "version": 1,
        "member": advice.member,
        "decision": advice.decision.as_str(),
        "reasons": advice.reasons,
        "down_seconds": advice.down_seconds,
        "wait_bound_seconds": advice.wait_bound_seconds,
        "replace_keeps_quorum": advice.replace_keeps_quorum,
    })
}
