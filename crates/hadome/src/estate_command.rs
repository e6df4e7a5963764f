//! `hadome check`, `status` and `ask`: observe once, remember, judge, print.
//!
//! All three share one pass: load the estate, observe every instance concurrently (each probe
//! bounded by the probe timeout), record the facts in the journal (so a copy that stops answering
//! keeps its last known position), read the journal's history back, and hand everything to the
//! pure core with `now`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hadome_core::action::Action;
use hadome_core::estate::{Estate, FailoverPolicy};
use hadome_core::fact::{Facts, History, ProbeOutcome, Timestamp};
use hadome_core::finding::{human_bytes, human_duration, Finding, Severity, Verdict};
use hadome_core::interlock::{self, Assessment, View};
use hadome_core::position::PositionOrder;
use serde_json::{json, Value};

use crate::backup_command::{observe_backups, BackupReading};
use crate::cli::{ActionName, ConfigFile};
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text, Paint, Table};

/// One observation pass and what the journal remembers.
pub(crate) struct Pass {
    pub(crate) estate: Estate,
    pub(crate) facts: Facts,
    pub(crate) history: History,
    pub(crate) now: Timestamp,
    pub(crate) journal: hadome_journal::Journal,
    pub(crate) observe_seconds: f64,
}

pub(crate) fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// One pass: the instances probed and, concurrently, the backups read as deep as `reading` says.
pub(crate) async fn observe(config: &ConfigFile, reading: BackupReading) -> Result<Pass, CliError> {
    let estate = hadome_config::load(&config.config)?;
    let mut journal = hadome_journal::Journal::open(&estate.journal_path)?;
    let started = Instant::now();
    let (mut facts, (backups, storage)) = tokio::join!(
        hadome_observer::observe(&estate),
        observe_backups(&estate, reading)
    );
    facts.backups = backups;
    facts.storage = storage;
    let observe_seconds = started.elapsed().as_secs_f64();
    journal.record_facts(&facts)?;
    let history = journal.history()?;
    Ok(Pass {
        estate,
        facts,
        history,
        now: wall_clock(),
        journal,
        observe_seconds,
    })
}

pub(crate) fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "CRITICAL",
        Severity::NeedsHuman => "NEEDS-HUMAN",
        Severity::Warn => "WARNING",
        Severity::Info => "INFO",
    }
}

pub(crate) fn finding_json(finding: &Finding) -> Value {
    json!({
        "rule": finding.rule,
        "severity": finding.severity.as_str(),
        "subject": finding.subject,
        "message": finding.message,
        "alternative": finding.alternative,
    })
}

/// `hadome check`.
pub(crate) async fn check(config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let pass = observe(&config, BackupReading::VerifyNewest).await?;
    let findings = interlock::check(&pass.estate, &pass.facts, &pass.history, pass.now);
    let critical = findings
        .iter()
        .filter(|finding| finding.severity >= Severity::NeedsHuman)
        .count();
    let warnings = findings
        .iter()
        .filter(|finding| finding.severity == Severity::Warn)
        .count();
    if as_json {
        print_json(&json!({
            "version": 1,
            "critical": critical,
            "warnings": warnings,
            "instances": pass.estate.instances.len(),
            "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        }));
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
        text.push_str(&format!(
            "{critical} critical, {warnings} {}; {} instances observed in {:.2} s\n",
            if warnings == 1 { "warning" } else { "warnings" },
            pass.estate.instances.len(),
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

/// `hadome status`.
pub(crate) async fn status(config: ConfigFile, as_json: bool) -> Result<u8, CliError> {
    let pass = observe(&config, BackupReading::ListOnly).await?;
    let view = View {
        estate: &pass.estate,
        facts: &pass.facts,
        history: &pass.history,
        now: pass.now,
    };
    let mut clusters_json = Vec::new();
    let mut text = String::new();
    for cluster in &pass.estate.clusters {
        let primary = view
            .live_primaries(cluster)
            .first()
            .and_then(|name| view.fresh(name));
        let mut members_json = Vec::new();
        let mut table = Table::new([
            "MEMBER",
            "ROLE",
            "TIMELINE",
            "LSN",
            "LAG",
            "LAG (S)",
            "STREAMING",
            "LAST SEEN",
        ]);
        for member in &cluster.members {
            let probe = pass.facts.instances.get(member);
            let error = match probe.map(|probe| &probe.outcome) {
                Some(ProbeOutcome::Unreachable { error, .. }) => Some(error.clone()),
                None => Some("not probed".to_owned()),
                _ => None,
            };
            let known = view.position(member);
            let state = view.fresh(member);
            let role = match (state, known) {
                (Some(state), _) => {
                    if state.in_recovery {
                        "standby"
                    } else {
                        "primary"
                    }
                }
                (None, Some(_)) => "unreachable",
                (None, None) => "unknown",
            };
            // Streaming is a standby's fact: a primary has no WAL receiver.
            let streaming = state
                .filter(|state| state.in_recovery)
                .map(|_| view.streams(member));
            let (lag_bytes, lag_seconds) = match (state, primary) {
                (Some(state), Some(primary)) if state.in_recovery => {
                    let bytes = match primary.position.compare(&state.position) {
                        PositionOrder::Ahead | PositionOrder::Equal => {
                            Some(primary.position.lsn.bytes_after(state.position.lsn))
                        }
                        _ => None,
                    };
                    let seconds = match (bytes, state.last_replay_at) {
                        (Some(0), _) => Some(0.0),
                        (Some(_), Some(at)) => Some(pass.now.seconds_since(at).max(0.0)),
                        _ => None,
                    };
                    (bytes, seconds)
                }
                _ => (None, None),
            };
            let seen_seconds = known.map(|known| pass.now.seconds_since(known.seen_at).max(0.0));
            members_json.push(json!({
                "name": member,
                "role": role,
                "reachable": state.is_some(),
                "timeline": known.map(|known| known.position.timeline),
                "lsn": known.map(|known| known.position.lsn.to_string()),
                "lag_bytes": lag_bytes,
                "lag_seconds": lag_seconds,
                "streaming": streaming,
                "last_seen_seconds_ago": seen_seconds,
                "error": error,
            }));
            let dash = || "-".to_owned();
            table.row([
                member.clone(),
                role.to_owned(),
                known.map_or_else(dash, |known| known.position.timeline.to_string()),
                known.map_or_else(dash, |known| known.position.lsn.to_string()),
                lag_bytes.map_or_else(dash, human_bytes),
                lag_seconds.map_or_else(dash, |seconds| format!("{seconds:.0}")),
                streaming.map_or_else(dash, |streaming| {
                    if streaming {
                        "yes".to_owned()
                    } else {
                        "no".to_owned()
                    }
                }),
                seen_seconds.map_or_else(
                    || "never".to_owned(),
                    |seconds| {
                        if state.is_some() {
                            "now".to_owned()
                        } else {
                            format!("{} ago", human_duration(seconds))
                        }
                    },
                ),
            ]);
            if let Some(error) = &error {
                table.footer(format!("{member}: {error}"));
            }
        }
        let failover = match cluster.failover {
            FailoverPolicy::Manual => "manual",
            FailoverPolicy::Auto => "auto",
        };
        text.push_str(&format!(
            "cluster {} (failover {failover})\n{table}\n",
            cluster.name
        ));
        let automation = automation_status(&pass, cluster)?;
        text.push_str(&automation.text);
        clusters_json.push(json!({
            "name": cluster.name,
            "failover": failover,
            "members": members_json,
            "daemon": automation.json,
        }));
    }
    let backups = backups_status(&pass);
    text.push_str(&backups.text);
    if as_json {
        print_json(&json!({"version": 1, "clusters": clusters_json, "backups": backups.json}));
    } else {
        print_text(&text);
    }
    Ok(exit_code::OK)
}

/// Each backup as listed now (copies are not read: `hadome backup verify` and `check` do that),
/// with the journal's last restore test and the daemon's schedule.
fn backups_status(pass: &Pass) -> StatusSection {
    if pass.estate.backups.is_empty() {
        return StatusSection {
            text: String::new(),
            json: json!([]),
        };
    }
    let mut table = Table::new([
        "BACKUP",
        "TYPE",
        "COPIES",
        "NEWEST",
        "AGE",
        "SIZE",
        "RESTORE TEST",
        "SCHEDULE",
    ]);
    let mut entries = Vec::new();
    let dash = || "-".to_owned();
    for backup in &pass.estate.backups {
        let observation = pass.facts.backups.get(&backup.name);
        let (copies, error) = match observation.map(|observation| &observation.copies) {
            Some(Ok(copies)) => (copies.as_slice(), None),
            Some(Err(error)) => (&[][..], Some(error.to_string())),
            None => (&[][..], Some("not looked at".to_owned())),
        };
        let newest = copies.first();
        let age = newest.map(|copy| pass.now.seconds_since(copy.modified_at).max(0.0));
        let test = pass
            .history
            .backups
            .get(&backup.name)
            .and_then(|history| history.last_restore_test.as_ref());
        let test_text = test.map_or_else(
            || "never".to_owned(),
            |test| {
                format!(
                    "{} {} ago",
                    if test.ok { "passed" } else { "FAILED" },
                    human_duration(pass.now.seconds_since(test.at).max(0.0))
                )
            },
        );
        let mut schedule = Vec::new();
        if let Some(every) = backup.every_seconds {
            schedule.push(format!("copy every {}", human_duration(every)));
        }
        if let Some(every) = backup.restore_test_every_seconds {
            schedule.push(format!("test every {}", human_duration(every)));
        }
        table.row([
            backup.name.clone(),
            backup.kind.as_str().to_owned(),
            copies.len().to_string(),
            newest.map_or_else(dash, |copy| {
                copy.path
                    .file_name()
                    .map_or_else(dash, |name| name.to_string_lossy().into_owned())
            }),
            age.map_or_else(dash, human_duration),
            newest.map_or_else(dash, |copy| human_bytes(copy.size_bytes)),
            test_text,
            if schedule.is_empty() {
                "none (by hand)".to_owned()
            } else {
                schedule.join(", ")
            },
        ]);
        if let Some(error) = &error {
            table.footer(format!("{}: {error}", backup.name));
        }
        entries.push(json!({
            "name": backup.name,
            "type": backup.kind.as_str(),
            "copies": copies.len(),
            "newest": newest.map(|copy| json!({
                "path": copy.path.display().to_string(),
                "size_bytes": copy.size_bytes,
                "age_seconds": age,
            })),
            "last_restore_test": test.map(|test| json!({
                "ok": test.ok,
                "path": test.path.display().to_string(),
                "seconds_ago": pass.now.seconds_since(test.at).max(0.0),
                "detail": test.detail,
            })),
            "every_seconds": backup.every_seconds,
            "restore_test_every_seconds": backup.restore_test_every_seconds,
            "error": error,
        }));
    }
    StatusSection {
        text: format!(
            "backups (listed, not read: `hadome backup verify NAME` reads and judges a copy)\n{table}\n"
        ),
        json: Value::Array(entries),
    }
}

/// One section of `status`, as text and as JSON.
struct StatusSection {
    text: String,
    json: Value,
}

/// How far back `status` shows escalations.
const ESCALATIONS_SHOWN_MS: i64 = 24 * 3600 * 1000;

/// What the daemon's journal says of a cluster: who holds its lease, what is paused, and the
/// escalations of the last day, newest first: `status` says why automation does or does not act.
fn automation_status(
    pass: &Pass,
    cluster: &hadome_core::estate::Cluster,
) -> Result<StatusSection, CliError> {
    let lease = pass.journal.lease(&cluster.name)?;
    let paused: Vec<_> = pass
        .journal
        .paused()?
        .into_iter()
        .filter(|pause| pause.target == cluster.name || cluster.members.contains(&pause.target))
        .collect();
    let escalations: Vec<_> = pass
        .journal
        .escalations_since(Timestamp(pass.now.0 - ESCALATIONS_SHOWN_MS))?
        .into_iter()
        .filter(|escalation| escalation.cluster == cluster.name)
        .collect();
    let mut text = String::new();
    match &lease {
        Some(lease) if !lease.is_expired(pass.now) => text.push_str(&format!(
            "  daemon: `{}` holds the lease (renewed {} ago)\n",
            lease.holder,
            human_duration(pass.now.seconds_since(lease.renewed_at).max(0.0))
        )),
        Some(lease) => text.push_str(&format!(
            "  daemon: none running (the last lease, `{}`'s, expired {} ago)\n",
            lease.holder,
            human_duration(pass.now.seconds_since(lease.expires_at).max(0.0))
        )),
        None => text.push_str("  daemon: none has supervised this cluster\n"),
    }
    let hold = pass
        .journal
        .lease(&hadome_journal::hold_lease(&cluster.name))?
        .filter(|hold| !hold.is_expired(pass.now));
    if let Some(hold) = &hold {
        text.push_str(&format!(
            "  HELD by `{}` (hadome run) since {} ago: the daemon takes no action here until it is done\n",
            hold.holder,
            human_duration(pass.now.seconds_since(hold.acquired_at).max(0.0))
        ));
    }
    for pause in &paused {
        text.push_str(&format!(
            "  PAUSED `{}` since {} ago: {} — resume with `hadome ack {}`\n",
            pause.target,
            human_duration(pass.now.seconds_since(pause.at).max(0.0)),
            pause.reason,
            pause.target
        ));
    }
    for escalation in escalations.iter().take(5) {
        text.push_str(&format!(
            "  escalated {} ago [{}] {}: {}\n",
            human_duration(pass.now.seconds_since(escalation.at).max(0.0)),
            escalation.rule,
            escalation.subject,
            escalation.message
        ));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    let json = json!({
        "lease": lease.as_ref().map(|lease| json!({
            "holder": lease.holder,
            "renewed_at_ms": lease.renewed_at.0,
            "expires_at_ms": lease.expires_at.0,
            "expired": lease.is_expired(pass.now),
        })),
        "held_by": hold.as_ref().map(|hold| json!({
            "holder": hold.holder,
            "acquired_at_ms": hold.acquired_at.0,
            "expires_at_ms": hold.expires_at.0,
        })),
        "paused": paused.iter().map(|pause| json!({
            "target": pause.target, "at_ms": pause.at.0, "reason": pause.reason,
        })).collect::<Vec<_>>(),
        "escalations": escalations.iter().map(|escalation| json!({
            "at_ms": escalation.at.0,
            "subject": escalation.subject,
            "rule": escalation.rule,
            "message": escalation.message,
            "notified": escalation.notified_at.is_some() && escalation.notify_error.is_none(),
            "notify_error": escalation.notify_error,
        })).collect::<Vec<_>>(),
    });
    Ok(StatusSection { text, json })
}

/// `hadome ask`.
pub(crate) async fn ask(
    action: ActionName,
    target: String,
    from: Option<String>,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    let action = action_from(action, target, from)?;
    // Restoring from a backup needs its newest copy read whole; nothing else does.
    let reading = match action {
        Action::RestoreBackup { .. } => BackupReading::VerifyNewest,
        _ => BackupReading::ListOnly,
    };
    let mut pass = observe(&config, reading).await?;
    let assessment = interlock::assess(&pass.estate, &pass.facts, &pass.history, &action, pass.now);
    pass.journal.record_verdict(
        pass.now,
        &assessment.action,
        assessment.verdict,
        &assessment.findings,
    )?;
    if as_json {
        print_json(&assessment_json(&assessment));
    } else {
        print_text(&render_assessment(&assessment, Paint::for_stdout()));
    }
    Ok(match assessment.verdict {
        Verdict::Allow | Verdict::AllowAfter => exit_code::OK,
        Verdict::Deny => exit_code::FAILURE,
        Verdict::NeedsHuman => exit_code::NEEDS_HUMAN,
    })
}

/// The typed action from the command line's words; `--from` goes with `rebuild` only.
pub(crate) fn action_from(
    action: ActionName,
    target: String,
    from: Option<String>,
) -> Result<Action, CliError> {
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
        (ActionName::DeleteData, None) => Action::DeleteData { target },
    })
}

fn action_word(action: ActionName) -> &'static str {
    match action {
        ActionName::Promote => "promote",
        ActionName::Rebuild => "rebuild",
        ActionName::Restart => "restart",
        ActionName::Stop => "stop",
        ActionName::DeleteData => "delete-data",
        ActionName::RestoreBackup => "restore-backup",
    }
}

pub(crate) fn assessment_json(assessment: &Assessment) -> Value {
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
    })
}

pub(crate) fn render_assessment(assessment: &Assessment, paint: Paint) -> String {
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
    text
}
