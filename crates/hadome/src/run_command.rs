//! `hadome run`: the guarded executor.
//!
//! The same assessment as `ask`, then, only when the verdict allows (or a person overrode the
//! refusing rules, with a reason), the plan: each step journaled as it is done, between an intent
//! recorded before anything happens and an outcome recorded after. Destroying steps never destroy:
//! a data directory is moved aside, never deleted (preserve before destroy). A kill -9 between
//! intent and outcome leaves an open intent in the journal, which `hadome run` reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hadome_core::action::Action;
use hadome_core::estate::{Estate, Instance};
use hadome_core::fact::{ProbeOutcome, Timestamp};
use hadome_core::finding::{Severity, Verdict};
use hadome_core::interlock::{self, Assessment};
use serde_json::{json, Value};

use crate::cli::{ActionName, ConfigFile};
use crate::error::CliError;
use crate::estate_command::{action_from, assessment_json, observe, render_assessment, wall_clock};
use crate::exit_code;
use crate::held::HeldLease;
use crate::output::{print_json, print_text, Paint};

/// How long a configured command (start, stop, rebuild) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// How long hadome waits for the effect of a step (an instance answering, streaming, promoted).
const EFFECT_TIMEOUT: Duration = Duration::from_secs(120);

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run the instance's `stop_command`.
    Stop(String),
    /// Move the instance's data directory aside (never delete it).
    Preserve { instance: String, data_dir: PathBuf },
    /// Run the target's `rebuild_command`, then wait until it streams.
    Rebuild { target: String, source: String },
    /// Run the instance's `start_command`, then wait until it answers.
    Start(String),
    /// `pg_promote()`, then wait until it accepts writes.
    Promote(String),
    /// Run the instance's `fence_command` (its `stop_command` when it has none): it must accept
    /// no more writes, even when hung.
    Fence(String),
    /// Run the backup's `restore_command` on `copy` (the newest copy, verified by the
    /// assessment), which creates the target's data directory and leaves it stopped.
    Restore {
        backup: String,
        target: String,
        copy: Option<PathBuf>,
    },
    /// Count the target's rows in every table and compare them with those recorded when the copy
    /// was made (in the dump's own snapshot).
    Compare {
        target: String,
        expected: BTreeMap<String, u64>,
    },
    /// Ask standbys to retry their stream at once (`pg_reload_conf()`), after their primary was
    /// restarted in place. Advisory: a standby that cannot be asked retries on its own within
    /// `wal_retrieve_retry_interval`, so the step reports each answer and never fails.
    RetryStreams(Vec<String>),
}

impl Step {
    pub(crate) fn describe(&self) -> String {
        match self {
            Step::Stop(instance) => format!("stop `{instance}` (its stop_command)"),
            Step::Preserve { instance, data_dir } => {
                format!(
                    "preserve `{instance}`'s data directory: move `{}` aside",
                    data_dir.display()
                )
            }
            Step::Rebuild { target, source } => {
                format!("rebuild `{target}` from `{source}` (its rebuild_command), then wait until it streams")
            }
            Step::Start(instance) => {
                format!("start `{instance}` (its start_command), then wait until it answers")
            }
            Step::Promote(instance) => {
                format!("promote `{instance}` with pg_promote(), then wait until it accepts writes")
            }
            Step::Fence(instance) => format!("fence `{instance}` (its fence_command)"),
            Step::Restore {
                backup,
                target,
                copy,
            } => format!(
                "restore `{backup}`'s copy {} onto `{target}` (the backup's restore_command)",
                copy.as_ref().map_or_else(
                    || "(the newest, as verified)".to_owned(),
                    |copy| format!("`{}`", copy.display())
                )
            ),
            Step::Compare { target, expected } => format!(
                "compare `{target}`'s tables with the {} tables and {} rows recorded when the copy was made",
                expected.len(),
                expected.values().sum::<u64>()
            ),
            Step::RetryStreams(standbys) => format!(
                "ask `{}` to retry their stream at once (pg_reload_conf(); synchronous commits wait for them)",
                standbys.join("`, `")
            ),
        }
    }
}

/// The steps that carry out `action`: pure, so it is tested without servers.
pub(crate) fn plan(estate: &Estate, action: &Action) -> Vec<Step> {
    let data_dir = |name: &str| {
        estate
            .instance(name)
            .map(|instance| instance.data_dir.clone())
            .unwrap_or_default()
    };
    match action {
        Action::Promote { target } => vec![Step::Promote(target.clone())],
        Action::Restart { target } => vec![Step::Stop(target.clone()), Step::Start(target.clone())],
        Action::Stop { target } => vec![Step::Stop(target.clone())],
        Action::DeleteData { target } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
        ],
        // `run` puts the copy the assessment verified into `Restore`, and adds `Compare` when
        // the journal recorded the copy's row counts.
        Action::RestoreBackup { target, backup } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
            Step::Restore {
                backup: backup.clone(),
                target: target.clone(),
                copy: None,
            },
            Step::Start(target.clone()),
        ],
        Action::Rebuild { target, source } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
            Step::Rebuild {
                target: target.clone(),
                source: source.clone(),
            },
        ],
    }
}

/// Every configured command the plan needs, or the first one missing, with the key to set.
fn check_configured(estate: &Estate, plan: &[Step]) -> Result<(), CliError> {
    for step in plan {
        let (instance, key, present) = match step {
            Step::Stop(name) => (
                name,
                "stop_command",
                instance_of(estate, name)?.commands.stop.is_some(),
            ),
            Step::Start(name) => (
                name,
                "start_command",
                instance_of(estate, name)?.commands.start.is_some(),
            ),
            Step::Rebuild { target, .. } => (
                target,
                "rebuild_command",
                instance_of(estate, target)?.commands.rebuild.is_some(),
            ),
            Step::Fence(name) => (
                name,
                "fence_command",
                instance_of(estate, name)?.commands.fence.is_some()
                    || instance_of(estate, name)?.commands.stop.is_some(),
            ),
            Step::Restore { backup, .. } => {
                let present = estate
                    .backup(backup)
                    .is_some_and(|backup| backup.restore_command.is_some());
                if !present {
                    return Err(CliError::Usage {
                        message: format!("backup `{backup}` has no `restore_command`: hadome does not know how to restore it"),
                        hint: Some(format!("add `restore_command = [\"program\", \"{{copy}}\", \"{{data_dir}}\", …]` to the `[[backup]]` named `{backup}`: it must create the data directory from the copy and leave the instance stopped (examples/estate.toml)")),
                    });
                }
                continue;
            }
            Step::Preserve { .. }
            | Step::Promote(_)
            | Step::Compare { .. }
            | Step::RetryStreams(_) => continue,
        };
        if !present {
            return Err(CliError::Usage {
                message: format!("instance `{instance}` has no `{key}`: hadome does not know how to {}", &key[..key.len() - 8].replace('_', " ")),
                hint: Some(format!("add `{key} = [\"program\", \"arg\", …]` to the `[[instance]]` named `{instance}` (examples/estate.toml shows each)")),
            });
        }
    }
    Ok(())
}

fn instance_of<'a>(estate: &'a Estate, name: &str) -> Result<&'a Instance, CliError> {
    estate.instance(name).ok_or_else(|| CliError::Usage {
        message: format!("the estate has no instance `{name}`"),
        hint: None,
    })
}

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
    pub(crate) action: ActionName,
    pub(crate) target: String,
    pub(crate) from: Option<String>,
    pub(crate) config: ConfigFile,
    pub(crate) dry_run: bool,
    pub(crate) overrides: Vec<String>,
    pub(crate) reason: Option<String>,
    pub(crate) json: bool,
}

/// `hadome run`.
pub(crate) async fn run(options: RunOptions) -> Result<u8, CliError> {
    let action = action_from(options.action, options.target.clone(), options.from.clone())?;
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
    // A restore reads the newest copy whole first: `backup-trust` judges what is restored.
    let reading = match &action {
        Action::RestoreBackup { .. } => crate::backup_command::BackupReading::VerifyNewest,
        _ => crate::backup_command::BackupReading::ListOnly,
    };
    let mut pass = observe(&options.config, reading).await?;
    let mut steps = plan(&pass.estate, &action);
    check_configured(&pass.estate, &steps)?;
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
    let mut text = render_assessment(&assessment, paint);
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
        "assessment": assessment_json(&assessment),
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
            text.push_str(&format!("  {}. {}\n", index + 1, step.describe()));
        }
        emit(options.json, &report, &text);
        return Ok(match assessment.verdict {
            Verdict::Allow | Verdict::AllowAfter => exit_code::OK,
            Verdict::Deny => exit_code::FAILURE,
            Verdict::NeedsHuman => exit_code::NEEDS_HUMAN,
        });
    }

    let overrides: Vec<hadome_journal::Override> = options
        .overrides
        .iter()
        .map(|rule| hadome_journal::Override {
            rule: rule.clone(),
            reason: reason.clone(),
        })
        .collect();
    let plan_text: Vec<String> = steps.iter().map(Step::describe).collect();
    // Held until the outcome is journaled: a daemon supervising the cluster stays off it.
    let _hold = hold_cluster(&mut pass, &action)?;
    let intent = pass.journal.record_intent(
        wall_clock(),
        &action,
        assessment.verdict,
        &plan_text,
        &overrides,
        &actor(),
    )?;
    text.push_str(&format!("intent #{intent} journaled; executing:\n"));
    for overridden in &overrides {
        text.push_str(&notify_override(&mut pass, &action, overridden).await?);
    }
    let mut step_reports = Vec::new();
    let mut failure = None;
    for step in &steps {
        let outcome = execute(&pass.estate, step).await;
        let (ok, detail) = match &outcome {
            Ok(detail) => (true, detail.clone()),
            Err(error) => (false, error.clone()),
        };
        pass.journal
            .record_step(intent, wall_clock(), &step.describe(), ok, &detail)?;
        text.push_str(&format!(
            "  {} {} — {detail}\n",
            if ok {
                paint.green("✓")
            } else {
                paint.red("✗")
            },
            step.describe()
        ));
        step_reports.push(json!({"step": step.describe(), "ok": ok, "detail": detail}));
        if !ok {
            failure = Some(format!("{} failed: {detail}", step.describe()));
            break;
        }
    }
    let (ok, detail) = match &failure {
        None => (true, format!("{action} done")),
        Some(failure) => (false, failure.clone()),
    };
    pass.journal
        .record_outcome(intent, wall_clock(), ok, &detail)?;
    text.push_str(&format!(
        "outcome of intent #{intent} journaled: {}\n",
        if ok {
            paint.green(&detail)
        } else {
            paint.red(&detail)
        }
    ));
    report["executed"] = true.into();
    report["intent"] = intent.into();
    report["steps"] = step_reports.into();
    report["outcome"] = json!({"ok": ok, "detail": detail});
    emit(options.json, &report, &text);
    Ok(if ok {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}

/// An override is an escalation: journaled (so `hadome status` shows it) and sent to the webhook.
async fn notify_override(
    pass: &mut crate::estate_command::Pass,
    action: &Action,
    overridden: &hadome_journal::Override,
) -> Result<String, CliError> {
    let cluster = pass
        .estate
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
            actor(),
            overridden.rule,
            overridden.reason
        ),
    };
    let id = pass.journal.record_escalation(
        wall_clock(),
        &escalation.cluster,
        &escalation.subject,
        escalation.rule,
        &escalation.message,
    )?;
    let Some(url) = pass.estate.notify.webhook_url.clone() else {
        return Ok(format!("  override of `{}` journaled\n", overridden.rule));
    };
    let result = crate::notify::send(&url, &escalation).await;
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
    pass.journal.record_notified(id, wall_clock(), result)?;
    Ok(said)
}

fn emit(as_json: bool, report: &Value, text: &str) {
    if as_json {
        print_json(report);
    } else {
        print_text(text);
    }
}

/// Who acts, for the journal: the OS user, through `hadome run`.
/// When `target` is its cluster's primary (it answered as one, or was last seen as one), the
/// other members that answered as standbys: after its restart they are asked to retry their
/// stream at once, as the daemon asks them.
fn standbys_to_wake(pass: &crate::estate_command::Pass, target: &str) -> Vec<String> {
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

/// How long a person's hold on a cluster lasts unless renewed (the renewals come every third of
/// that), so a `run` that was killed holds the cluster off its daemon for at most this long.
const HOLD_TTL_MS: i64 = 30_000;

/// Takes the person's hold on `action`'s cluster ([`hadome_journal::hold_lease`]; none when its
/// target is in no cluster): while it is held, a daemon supervising the cluster takes no action
/// there (`single-actor`). Refuses, changing nothing, when another `hadome run` holds the
/// cluster, or when a live daemon is in the middle of an automated action there (an open intent
/// of its own).
fn hold_cluster(
    pass: &mut crate::estate_command::Pass,
    action: &Action,
) -> Result<Option<HeldLease>, CliError> {
    let Some(cluster) = pass
        .estate
        .cluster_of(action.target())
        .map(|cluster| cluster.name.clone())
    else {
        return Ok(None);
    };
    let name = hadome_journal::hold_lease(&cluster);
    let hold = HeldLease::take(
        &pass.estate.journal_path,
        &name,
        &actor(),
        HOLD_TTL_MS,
        |lease| {
            CliError::Usage {
            message: format!(
                "cluster `{cluster}` is held by another `hadome run` (`{}`, until {} unless renewed): one actor at a time; nothing was done",
                lease.holder,
                crate::ack_command::utc_text(lease.expires_at)
            ),
            hint: Some(format!(
                "run again once it is done; a hold lapses {} s after its `hadome run` stopped",
                HOLD_TTL_MS / 1000
            )),
        }
        },
    )?;
    let now = wall_clock();
    let daemon_alive = pass
        .journal
        .lease(&cluster)?
        .is_some_and(|lease| !lease.is_expired(now));
    let busy = pass.journal.open_intents()?.into_iter().find(|intent| {
        intent.actor == crate::daemon::ACTOR
            && pass
                .estate
                .cluster_of(&intent.target)
                .is_some_and(|of| of.name == cluster)
    });
    if let (true, Some(intent)) = (daemon_alive, busy) {
        drop(hold);
        return Err(CliError::Usage {
            message: format!(
                "the daemon is carrying out intent #{} ({}) on cluster `{cluster}`, after {} of its {} steps: one actor at a time; nothing was done",
                intent.id,
                intent.action_text,
                intent.steps_done.len(),
                intent.plan.len()
            ),
            hint: Some("run again once it is closed (`hadome status` lists open intents)".to_owned()),
        });
    }
    Ok(Some(hold))
}

fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    format!("{user} (hadome run)")
}

/// Carries out one step and verifies its effect; `Ok` with what was done, `Err` with why not.
pub(crate) async fn execute(estate: &Estate, step: &Step) -> Result<String, String> {
    let instance = |name: &str| {
        estate
            .instance(name)
            .ok_or_else(|| format!("no instance `{name}`"))
    };
    match step {
        Step::Stop(name) => {
            let command = instance(name)?.commands.stop.clone().unwrap_or_default();
            run_argv(&command).await
        }
        Step::Fence(name) => {
            let target = instance(name)?;
            let command: Vec<String> = match &target.commands.fence {
                Some(fence) => fence
                    .iter()
                    .map(|argument| {
                        argument
                            .replace("{target}", name)
                            .replace("{data_dir}", &target.data_dir.display().to_string())
                    })
                    .collect(),
                None => target.commands.stop.clone().unwrap_or_default(),
            };
            run_argv(&command).await
        }
        Step::Start(name) => {
            let target = instance(name)?;
            let command = target.commands.start.clone().unwrap_or_default();
            let ran = run_argv(&command).await?;
            wait_for(estate, target, "it answers", |state| {
                Some(state.is_some())
                    .filter(|answered| *answered)
                    .map(|_| ())
            })
            .await?;
            Ok(format!("{ran}; it answers"))
        }
        Step::Preserve { data_dir, .. } => preserve(data_dir),
        Step::Rebuild { target, source } => {
            let target_instance = instance(target)?;
            let source_instance = instance(source)?;
            let command: Vec<String> = target_instance
                .commands
                .rebuild
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|argument| {
                    argument
                        .replace("{source_conninfo}", &source_instance.conninfo)
                        .replace("{source}", source)
                        .replace("{target}", target)
                        .replace(
                            "{data_dir}",
                            &target_instance.data_dir.display().to_string(),
                        )
                })
                .collect();
            let ran = run_argv(&command).await?;
            wait_for(estate, target_instance, "it streams", |state| {
                let state = state?;
                let streaming = state.in_recovery
                    && state
                        .wal_receiver
                        .as_ref()
                        .is_some_and(|receiver| receiver.status == "streaming");
                streaming.then_some(())
            })
            .await?;
            Ok(format!("{ran}; it streams"))
        }
        Step::Restore {
            backup,
            target,
            copy,
        } => {
            let copy = copy.as_ref().ok_or_else(|| {
                format!("backup `{backup}` has no copy to restore (nothing was verified)")
            })?;
            let target_instance = instance(target)?;
            let command: Vec<String> = estate
                .backup(backup)
                .and_then(|backup| backup.restore_command.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|argument| {
                    argument
                        .replace("{copy}", &copy.display().to_string())
                        .replace("{target}", target)
                        .replace(
                            "{data_dir}",
                            &target_instance.data_dir.display().to_string(),
                        )
                })
                .collect();
            run_argv(&command).await
        }
        Step::RetryStreams(standbys) => {
            let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
            let asks = standbys.iter().map(|name| async move {
                let answer = match estate.instance(name) {
                    Some(standby) => hadome_observer::retry_stream(standby, timeout)
                        .await
                        .map_err(|error| error.to_string()),
                    None => Err("no such instance".to_owned()),
                };
                match answer {
                    Ok(detail) => format!("`{name}`: {detail}"),
                    Err(error) => format!(
                        "`{name}`: not asked ({error}); it retries on its own within wal_retrieve_retry_interval"
                    ),
                }
            });
            Ok(futures_util::future::join_all(asks).await.join("; "))
        }
        Step::Compare { target, expected } => {
            let target = instance(target)?;
            let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(10.0));
            let counts = crate::restore_test::current_counts(&target.conninfo, timeout).await?;
            let mut problems = Vec::new();
            for (table, recorded) in expected {
                match counts.get(table) {
                    None => problems.push(format!("`{table}` is missing")),
                    Some(found) if found != recorded => problems.push(format!(
                        "`{table}` has {found} rows, {recorded} when the copy was made"
                    )),
                    Some(_) => {}
                }
            }
            if problems.is_empty() {
                Ok(format!(
                    "{} tables and {} rows, as recorded when the copy was made",
                    expected.len(),
                    expected.values().sum::<u64>()
                ))
            } else {
                Err(problems.join("; "))
            }
        }
        Step::Promote(name) => {
            let target = instance(name)?;
            promote(target).await?;
            wait_for(estate, target, "it accepts writes", |state| {
                state.filter(|state| !state.in_recovery).map(|_| ())
            })
            .await?;
            Ok("pg_promote() returned; it accepts writes".to_owned())
        }
    }
}

/// Runs an argv command (never through a shell), bounded by `COMMAND_TIMEOUT`.
pub(crate) async fn run_argv(command: &[String]) -> Result<String, String> {
    let Some((program, arguments)) = command.split_first() else {
        return Err("the command is empty".to_owned());
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, process.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(format!("could not start `{program}`: {error}")),
        Err(_) => {
            return Err(format!(
                "`{program}` did not finish within {} s",
                COMMAND_TIMEOUT.as_secs()
            ))
        }
    };
    let said = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    };
    if output.status.success() {
        Ok(format!(
            "`{}` exited 0: {}",
            shown_argv(command),
            said(&output.stdout)
        ))
    } else {
        let mut detail = said(&output.stderr);
        if detail.is_empty() {
            detail = said(&output.stdout);
        }
        Err(format!(
            "`{}` exited with {}: {detail}",
            shown_argv(command),
            output.status
        ))
    }
}

/// A command line as it is logged and journaled: an argument that is (or holds) a connection
/// string with a password — `password=…`, or a `postgres://user:secret@…` URI, as
/// `{source_conninfo}` becomes when the instance's conninfo has one — is shown without it.
fn shown_argv(command: &[String]) -> String {
    command
        .iter()
        .map(|argument| {
            let lower = argument.to_ascii_lowercase();
            if lower.contains("password=")
                || lower.starts_with("postgres://")
                || lower.starts_with("postgresql://")
            {
                hadome_observer::strip_password(argument)
            } else {
                argument.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Moves `data_dir` aside to `DATA.hadome-aside-YYYYMMDDTHHMMSSZ`; nothing is deleted.
fn preserve(data_dir: &Path) -> Result<String, String> {
    if data_dir.as_os_str().is_empty() {
        return Err("the instance has no data_dir in the estate".to_owned());
    }
    match std::fs::symlink_metadata(data_dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "nothing to preserve: `{}` does not exist",
                data_dir.display()
            ))
        }
        Err(error) => return Err(format!("cannot read `{}`: {error}", data_dir.display())),
        Ok(_) => {}
    }
    let stamp = utc_stamp(wall_clock());
    let mut aside = PathBuf::from(format!("{}.hadome-aside-{stamp}", data_dir.display()));
    let mut counter = 1;
    while aside.exists() {
        counter += 1;
        aside = PathBuf::from(format!(
            "{}.hadome-aside-{stamp}-{counter}",
            data_dir.display()
        ));
    }
    std::fs::rename(data_dir, &aside).map_err(|error| {
        format!(
            "could not move `{}` aside to `{}`: {error}",
            data_dir.display(),
            aside.display()
        )
    })?;
    Ok(format!("moved to `{}`", aside.display()))
}

/// `YYYYMMDDTHHMMSSZ` for a timestamp (UTC), without a date library: days to civil date after
/// Howard Hinnant's `civil_from_days`.
pub(crate) fn utc_stamp(at: Timestamp) -> String {
    let seconds = at.0.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

async fn promote(target: &Instance) -> Result<(), String> {
    let mut config: tokio_postgres::Config = target
        .conninfo
        .parse()
        .map_err(|error| format!("bad conninfo: {error}"))?;
    config.connect_timeout(Duration::from_secs(5));
    let connecting = tokio::time::timeout(
        Duration::from_secs(10),
        config.connect(tokio_postgres::NoTls),
    )
    .await;
    let (client, connection) = match connecting {
        Ok(Ok(pair)) => pair,
        Ok(Err(error)) => return Err(format!("cannot connect to `{}`: {error}", target.name)),
        Err(_) => {
            return Err(format!(
                "`{}` did not accept a connection within 10 s",
                target.name
            ))
        }
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let promoting = client.query_one("SELECT pg_promote(true, 60)", &[]);
    match tokio::time::timeout(Duration::from_secs(70), promoting).await {
        Ok(Ok(row)) if row.get::<_, bool>(0) => Ok(()),
        Ok(Ok(_)) => {
            Err("pg_promote() returned false: the promotion did not finish within 60 s".to_owned())
        }
        Ok(Err(error)) => Err(format!("pg_promote() failed: {error}")),
        Err(_) => Err("pg_promote() did not answer within 70 s".to_owned()),
    }
}

/// Probes `target` until `ready` says the effect is there, or `EFFECT_TIMEOUT` passes.
async fn wait_for(
    estate: &Estate,
    target: &Instance,
    what: &str,
    ready: impl Fn(Option<&hadome_core::fact::InstanceState>) -> Option<()>,
) -> Result<(), String> {
    let started = Instant::now();
    let probe_timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
    let mut last = String::from("not probed yet");
    while started.elapsed() < EFFECT_TIMEOUT {
        let probe = hadome_observer::observe_instance(target, probe_timeout).await;
        let state = match &probe.outcome {
            ProbeOutcome::Answered(state) => Some(state.as_ref()),
            ProbeOutcome::Unreachable { error, .. } => {
                last = error.clone();
                None
            }
        };
        if ready(state).is_some() {
            return Ok(());
        }
        if let Some(state) = state {
            last = format!(
                "in recovery: {}, receiver: {}",
                state.in_recovery,
                state
                    .wal_receiver
                    .as_ref()
                    .map_or("none", |receiver| receiver.status.as_str())
            );
        }
        // The interval between two probes; the deadline above bounds the wait.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "`{}`: timed out after {} s waiting until {what} (last seen: {last})",
        target.name,
        EFFECT_TIMEOUT.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroying_plans_preserve_first_and_never_delete() {
        let estate = Estate {
            instances: Vec::new(),
            clusters: Vec::new(),
            journal_path: PathBuf::from("/tmp/j"),
            probe_timeout_seconds: 2.0,
            probe_interval_seconds: 1.0,
            notify: Default::default(),
            backups: Vec::new(),
            snapshots: Vec::new(),
        };
        let rebuild = plan(
            &estate,
            &Action::Rebuild {
                target: "db-3".into(),
                source: "db-1".into(),
            },
        );
        assert!(
            matches!(
                rebuild.as_slice(),
                [Step::Stop(_), Step::Preserve { .. }, Step::Rebuild { .. }]
            ),
            "{rebuild:?}"
        );
        let delete = plan(
            &estate,
            &Action::DeleteData {
                target: "db-3".into(),
            },
        );
        assert!(
            matches!(delete.as_slice(), [Step::Stop(_), Step::Preserve { .. }]),
            "{delete:?}"
        );
        assert_eq!(
            plan(
                &estate,
                &Action::Promote {
                    target: "db-2".into()
                }
            ),
            [Step::Promote("db-2".into())]
        );
    }

    #[test]
    fn command_lines_are_shown_without_passwords() {
        let argv = |words: &[&str]| {
            words
                .iter()
                .map(|word| (*word).to_owned())
                .collect::<Vec<_>>()
        };
        let shown = shown_argv(&argv(&[
            "pg_basebackup",
            "-d",
            "host=db-1 user=replicator password=hunter2 dbname=postgres",
            "--dbname=host=db-1 password='two words'",
            "postgres://replicator:s3cret@db-1:5432/postgres",
            "--no-password",
            "-D",
            "/srv/db-3",
        ]));
        for secret in ["hunter2", "two words", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("host=db-1 user=replicator dbname=postgres"),
            "{shown}"
        );
        assert!(shown.contains("--no-password -D /srv/db-3"), "{shown}");
        assert!(shown.starts_with("pg_basebackup -d "), "{shown}");
    }

    #[test]
    fn utc_stamps_are_calendar_dates() {
        assert_eq!(utc_stamp(Timestamp(0)), "19700101T000000Z");
        assert_eq!(utc_stamp(Timestamp(1_795_000_000_000)), "20261118T110640Z");
        assert_eq!(utc_stamp(Timestamp(951_782_400_000)), "20000229T000000Z");
    }

    #[test]
    fn preserve_moves_aside_and_never_deletes() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let detail = preserve(&data).unwrap();
        assert!(!data.exists());
        let aside: Vec<PathBuf> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(
            std::fs::read_to_string(aside[0].join("PG_VERSION")).unwrap(),
            "15\n"
        );
        assert!(detail.contains(".hadome-aside-"), "{detail}");
        assert!(preserve(&data).unwrap().contains("nothing to preserve"));
    }
}
