//! `hadome run`: a person's guarded action.
//!
//! The same assessment as `ask`, then, only when the verdict allows (or a person overrode the
//! refusing rules, with a reason), the plan, carried out by the executor (`hadome_executor`):
//! each step journaled as it is done, between an intent recorded before anything happens and an
//! outcome recorded after. Destroying steps never destroy: a data directory is moved aside, never
//! deleted (preserve before destroy). A kill -9 between intent and outcome leaves an open intent
//! in the journal, which `hadome run` reports.
//!
//! This module holds what is the command's own: its arguments, the assessment and overrides, the
//! hold on the cluster, and the output ([`Journaling`], its side of the executor's loop).

use hadome_core::action::Action;
use hadome_core::estate::Estate;
use hadome_core::fact::{ProbeOutcome, Timestamp};
use hadome_core::finding::{Severity, Verdict};
use hadome_core::host::{final_image_name, ImageRecord};
use hadome_core::interlock::{self, Assessment};
use hadome_executor::{
    carry_out, check_configured, name_image, plan, preflight, Outcome, Recorder, Step,
};
use hadome_journal::{Journal, Override};
use serde_json::{json, Value};

use crate::actor;
use crate::assessment::{action_from, assessment_json, render_assessment, ActionWords};
use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::failpoint::{self, Reached};
use crate::notify;
use crate::output::{print_json, print_text, Paint};
use crate::pass::{observe_for, Pass};
use crate::rows::RestoredRows;

mod holds;
use holds::hold_clusters;

/// Marks the findings of the overridden rules as warnings, with who and why; returns the new
/// assessment, or a usage error when an override names no blocking finding.
fn apply_overrides(
    mut assessment: Assessment,
    overrides: &[String],
    reason: &str,
) -> Result<Assessment, CliError> {
    for rule in overrides {
        let blocking = assessment
            .findings
            .iter()
            .any(|finding| finding.rule == rule && finding.severity >= Severity::NeedsHuman);
        if !blocking {
            return Err(CliError::Usage {
                message: format!("nothing to override: no `{rule}` finding refuses this action"),
                hint: Some("`--override` takes the rule id of a deny or needs-human finding (see `hadome ask`)".to_owned()),
            });
        }
    }
    for finding in &mut assessment.findings {
        if overrides.iter().any(|rule| rule == finding.rule)
            && finding.severity >= Severity::NeedsHuman
        {
            finding.severity = Severity::Warn;
            finding.message = format!("OVERRIDDEN ({reason}): {}", finding.message);
        }
    }
    assessment.verdict = Verdict::of(&assessment.findings, &assessment.prerequisites);
    Ok(assessment)
}

/// Options of one `hadome run`.
pub(crate) struct RunOptions {
    pub(crate) words: ActionWords,
    pub(crate) config: ConfigFile,
    pub(crate) dry_run: bool,
    pub(crate) overrides: Vec<String>,
    pub(crate) reason: Option<String>,
    pub(crate) json: bool,
}

/// `hadome run`.
pub(crate) async fn run(options: RunOptions) -> Result<u8, CliError> {
    let action = action_from(options.words)?;
    let reason = match (
        options.overrides.is_empty(),
        options.reason.as_deref().map(str::trim),
    ) {
        (true, _) => String::new(),
        (false, Some(reason)) if !reason.is_empty() => reason.to_owned(),
        (false, _) => {
            return Err(CliError::Usage {
                message: "`--override` needs `--reason TEXT`: why a person overrides the interlock"
                    .to_owned(),
                hint: Some("the reason is journaled with who overrode which rule".to_owned()),
            })
        }
    };
    let mut pass = observe_for(&options.config, &action).await?;
    let mut steps = plan(&pass.estate, &action);
    // A host's final image is named at this pass's time, as the assessment's prerequisites name it.
    if let Some(host) = action.host() {
        let taken = pass
            .history
            .hosts
            .get(host)
            .map_or(&[][..], |history| history.images.as_slice());
        name_image(&mut steps, &final_image_name(host, pass.now, taken));
    }
    check_configured(&pass.estate, &steps).map_err(|error| CliError::Usage {
        message: error.to_string(),
        hint: error.hint(),
    })?;
    if let Action::RestoreBackup { backup, target } = &action {
        let newest = pass
            .facts
            .backups
            .get(backup)
            .and_then(|observation| observation.copies.as_ref().ok())
            .and_then(|copies| copies.first())
            .map(|copy| copy.path.clone());
        let recorded = match &newest {
            Some(copy) => pass
                .journal
                .made_copy(backup, copy)?
                .map(|made| made.row_counts)
                .filter(|counts| !counts.is_empty()),
            None => None,
        };
        for step in &mut steps {
            if let Step::Restore { copy, .. } = step {
                copy.clone_from(&newest);
            }
        }
        if let Some(expected) = recorded {
            steps.push(Step::Compare {
                target: target.clone(),
                expected,
            });
        }
    }
    if let Action::Restart { target } = &action {
        let standbys = standbys_to_wake(&pass, target);
        if !standbys.is_empty() {
            steps.push(Step::RetryStreams(standbys));
        }
    }
    let open = pass.journal.open_intents()?;
    let assessed = interlock::assess(&pass.estate, &pass.facts, &pass.history, &action, pass.now);
    let assessment = apply_overrides(assessed, &options.overrides, &reason)?;
    pass.journal.record_verdict(
        pass.now,
        &assessment.action,
        assessment.verdict,
        &assessment.findings,
    )?;

    let paint = Paint::for_stdout();
    let mut text = render_assessment(&assessment, &options.config.config, paint);
    for intent in &open {
        text.push_str(&format!(
            "  ! intent #{} ({}, by {}) was never closed: it stopped after {} of its {} steps; check `{}` before acting again\n",
            intent.id,
            intent.action_text,
            intent.actor,
            intent.steps_done.len(),
            intent.plan.len(),
            intent.target
        ));
    }
    let allowed = assessment.verdict <= Verdict::AllowAfter;
    let mut report = json!({
        "version": 1,
        "assessment": assessment_json(&assessment, &options.config.config),
        "plan": steps.iter().map(Step::describe).collect::<Vec<_>>(),
        "dry_run": options.dry_run,
        "open_intents": open.iter().map(|intent| json!({"id": intent.id, "action": intent.action_text, "actor": intent.actor})).collect::<Vec<_>>(),
        "executed": false,
    });
    if options.dry_run || !allowed {
        text.push_str(if options.dry_run {
            "plan (dry run: nothing is done):\n"
        } else {
            "nothing was done; the plan would have been:\n"
        });
        for (index, step) in steps.iter().enumerate() {
            text.push_str(&format!(
                "  {}. {}\n",
                index + 1,
                step.describe_in(&pass.estate)
            ));
        }
        emit(options.json, &report, &text);
        return Ok(match assessment.verdict {
            Verdict::Allow | Verdict::AllowAfter => exit_code::OK,
            Verdict::Deny => exit_code::FAILURE,
            Verdict::NeedsHuman => exit_code::NEEDS_HUMAN,
        });
    }

    // Never worse (issue 18): a plan whose constructive half cannot work is refused before its
    // intent, so nothing is moved aside for a copy that cannot be made.
    let checked =
        preflight(&pass.estate, &steps)
            .await
            .map_err(|error| CliError::CannotProceed {
                message: format!("pre-flight: {error}; nothing was done"),
                hint: error.hint(),
            })?;
    for check in &checked {
        text.push_str(&format!("  pre-flight: {check}\n"));
    }
    report["preflight"] = json!(checked);

    let overrides: Vec<Override> = options
        .overrides
        .iter()
        .map(|rule| Override {
            rule: rule.clone(),
            reason: reason.clone(),
        })
        .collect();
    // Held until the outcome is journaled: a daemon supervising the cluster stays off it.
    let _holds = hold_clusters(&mut pass, &action)?;
    let mut recorder = Journaling {
        estate: &pass.estate,
        journal: &mut pass.journal,
        action: &action,
        verdict: assessment.verdict,
        overrides: &overrides,
        paint,
        text: &mut text,
        report: &mut report,
        step_reports: Vec::new(),
        step_started: wall_clock(),
        image_taken: None,
        steps_recorded: 0,
    };
    let outcome = carry_out(&pass.estate, &action, &steps, &RestoredRows, &mut recorder).await?;
    emit(options.json, &report, &text);
    Ok(match outcome {
        Some(Outcome { ok: true, .. }) => exit_code::OK,
        _ => exit_code::FAILURE,
    })
}

/// `hadome run`'s side of the executor's loop: each stage journaled at once, shown as a ✓/✗
/// line and in the JSON report.
struct Journaling<'a> {
    estate: &'a Estate,
    journal: &'a mut Journal,
    action: &'a Action,
    verdict: Verdict,
    overrides: &'a [Override],
    paint: Paint,
    text: &'a mut String,
    report: &'a mut Value,
    step_reports: Vec<Value>,
    /// When the step being carried out started (the previous one's record, or the intent's).
    step_started: Timestamp,
    /// A final image taken and not yet verified: its host, its name, and when its command
    /// started.
    image_taken: Option<(String, String, Timestamp)>,
    /// How many steps the journal holds so far (`HADOME_FAILPOINT=after-step:N`).
    steps_recorded: usize,
}

impl Recorder for Journaling<'_> {
    type Intent = i64;
    type Error = CliError;

    async fn intent(&mut self, steps: &[Step]) -> Result<Option<i64>, CliError> {
        let plan_text: Vec<String> = steps
            .iter()
            .map(|step| step.describe_in(self.estate))
            .collect();
        let intent = self.journal.record_intent(
            wall_clock(),
            self.action,
            self.verdict,
            &plan_text,
            self.overrides,
            &actor::person(),
        )?;
        self.text
            .push_str(&format!("intent #{intent} journaled; executing:\n"));
        for overridden in self.overrides {
            let said = notify_override(self.estate, self.journal, self.action, overridden).await?;
            self.text.push_str(&said);
        }
        self.report["executed"] = true.into();
        self.report["intent"] = intent.into();
        self.step_started = wall_clock();
        failpoint::kill_if_reached(Reached::Intent);
        Ok(Some(intent))
    }

    async fn step(&mut self, intent: &i64, step: &Step, done: &Outcome) -> Result<(), CliError> {
        let Outcome { ok, detail } = done;
        self.journal.record_step(
            *intent,
            wall_clock(),
            &step.describe_in(self.estate),
            *ok,
            detail,
        )?;
        self.steps_recorded += 1;
        failpoint::kill_if_reached(Reached::Step(self.steps_recorded));
        self.text.push_str(&format!(
            "  {} {} — {detail}\n",
            if *ok {
                self.paint.green("✓")
            } else {
                self.paint.red("✗")
            },
            step.describe_in(self.estate)
        ));
        self.step_reports
            .push(json!({"step": step.describe_in(self.estate), "ok": ok, "detail": detail}));
        // A final image is remembered with when its command started, and whether it verified:
        // `destroy-coverage` trusts only a verified image newer than the data's last change.
        match step {
            Step::TakeImage {
                host,
                image: Some(name),
            } if *ok => {
                self.image_taken = Some((host.clone(), name.clone(), self.step_started));
            }
            Step::VerifyImage {
                host,
                image: Some(name),
            } => {
                if let Some((taken_host, taken_name, taken_at)) = self.image_taken.take() {
                    if (&taken_host, &taken_name) == (host, name) {
                        let image = ImageRecord {
                            name: name.clone(),
                            taken_at,
                            verified: *ok,
                        };
                        self.journal.record_image(host, &image)?;
                    }
                }
            }
            _ => {}
        }
        self.step_started = wall_clock();
        Ok(())
    }

    async fn outcome(&mut self, intent: &i64, outcome: &Outcome) -> Result<(), CliError> {
        let Outcome { ok, detail } = outcome;
        self.journal
            .record_outcome(*intent, wall_clock(), *ok, detail)?;
        if *ok {
            let closed = close_superseded(self.journal, self.action, *intent)?;
            self.text.push_str(&closed);
        }
        self.text.push_str(&format!(
            "outcome of intent #{intent} journaled: {}\n",
            if *ok {
                self.paint.green(detail)
            } else {
                self.paint.red(detail)
            }
        ));
        self.report["steps"] = std::mem::take(&mut self.step_reports).into();
        self.report["outcome"] = json!({"ok": ok, "detail": detail});
        Ok(())
    }
}

/// Closes the intents a person's earlier `hadome run` of the very same `action` left open (it was
/// killed mid-plan), now that intent `finished` carried the action out to its end; returns what
/// it says of them. Only a person's: a daemon closes its own. While this run holds the cluster,
/// no other `hadome run` can be at work on it, so an open one is a dead one.
fn close_superseded(
    journal: &mut Journal,
    action: &Action,
    finished: i64,
) -> Result<String, CliError> {
    let text = action.to_string();
    let mut said = String::new();
    for open in journal.open_intents()? {
        if open.id == finished || open.actor == actor::DAEMON || open.action_text != text {
            continue;
        }
        let detail = format!(
            "interrupted: its process stopped after {} of its {} steps without an outcome; intent #{finished} carried out the same action to its end",
            open.steps_done.len(),
            open.plan.len()
        );
        journal.record_outcome(open.id, wall_clock(), false, &detail)?;
        said.push_str(&format!(
            "  intent #{} ({}, by {}) closed: {detail}\n",
            open.id, open.action_text, open.actor
        ));
    }
    Ok(said)
}

/// An override is an escalation: journaled (so `hadome status` shows it) and sent to the webhook.
async fn notify_override(
    estate: &Estate,
    journal: &mut Journal,
    action: &Action,
    overridden: &Override,
) -> Result<String, CliError> {
    let cluster = estate
        .cluster_of(action.target())
        .map_or_else(String::new, |cluster| cluster.name.clone());
    let escalation = hadome_core::supervise::Escalation {
        cluster,
        subject: action.target().to_owned(),
        rule: hadome_core::rule::CATALOGUE
            .iter()
            .find(|rule| rule.id == overridden.rule)
            .map_or("override", |rule| rule.id),
        message: format!(
            "{} overrode `{}` to {action}: {}",
            actor::person(),
            overridden.rule,
            overridden.reason
        ),
    };
    let id = journal.record_escalation(
        wall_clock(),
        &escalation.cluster,
        &escalation.subject,
        escalation.rule,
        &escalation.message,
    )?;
    let Some(url) = estate.notify.webhook_url.clone() else {
        return Ok(format!("  override of `{}` journaled\n", overridden.rule));
    };
    let result = notify::send(&url, &escalation).await;
    let said = match &result {
        Ok(()) => format!(
            "  override of `{}` journaled and notified\n",
            overridden.rule
        ),
        Err(error) => format!(
            "  override of `{}` journaled; the webhook did not take it: {error}\n",
            overridden.rule
        ),
    };
    journal.record_notified(id, wall_clock(), result)?;
    Ok(said)
}

fn emit(as_json: bool, report: &Value, text: &str) {
    if as_json {
        print_json(report);
    } else {
        print_text(text);
    }
}

/// When `target` is its cluster's primary (it answered as one, or was last seen as one), the
/// other members that answered as standbys: after its restart they are asked to retry their
/// stream at once, as the daemon asks them.
fn standbys_to_wake(pass: &Pass, target: &str) -> Vec<String> {
    let answered = |name: &str| match pass.facts.instances.get(name).map(|probe| &probe.outcome) {
        Some(ProbeOutcome::Answered(state)) => Some(state.in_recovery),
        _ => None,
    };
    let primary = answered(target).map_or_else(
        || {
            pass.history
                .last_known
                .get(target)
                .is_some_and(|known| known.was_primary)
        },
        |in_recovery| !in_recovery,
    );
    let Some(cluster) = pass.estate.cluster_of(target).filter(|_| primary) else {
        return Vec::new();
    };
    cluster
        .members
        .iter()
        .filter(|member| member.as_str() != target && answered(member) == Some(true))
        .cloned()
        .collect()
}
