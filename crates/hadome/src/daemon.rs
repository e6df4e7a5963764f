//! `hadome daemon`: the thin async shell around the core's [`Supervisor`].
//!
//! Every `[probe] interval_seconds` it: renews its lease on each cluster (`single-actor`), probes
//! every instance with a new connection (the observer) and pings the open session it keeps to
//! each (a hung postmaster accepts no new connection while open sessions still answer), journals
//! what changed, reads budgets and pauses from the journal, asks the supervisor, and carries out
//! its commands — each automated action between a journaled intent and its outcome, with every
//! step journaled, exactly as `hadome run` does for a person.
//!
//! The journal is SQLite: every call is short, but it is blocking I/O, so it runs on tokio's
//! blocking pool ([`Journaled`]).
//!
//! A failover is: intent → fence the old primary → observe again → re-choose the candidate on the
//! fresh facts ([`choose_candidate`]) and assess its promotion → `pg_promote()` → make the new
//! primary's `synchronous_standby_names` its own → each other standby follows it → outcome. A
//! daemon killed between intent and outcome finds the intent open at its next start and finishes
//! it (`resume`): the failover is done once, never twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use hadome_core::action::Action;
use hadome_core::estate::{Cluster, Estate};
use hadome_core::fact::{Facts, History, ProbeOutcome, Timestamp};
use hadome_core::supervise::{
    choose_candidate, ClusterReport, Command, Escalation, FailoverPlan, Spent, Supervisor, Tick,
};
use hadome_journal::{hold_lease, Journal, JournalError};
use hadome_observer::Session;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backup_jobs::BackupJobs;
use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::estate_command::wall_clock;
use crate::notify;
use crate::run_command::{execute, plan, run_argv, Step};

/// The shortest time between two passes when an ended session starts one early.
const EARLY_PASS_GAP: Duration = Duration::from_millis(50);

/// The journal's actor name for what the daemon does.
pub(crate) const ACTOR: &str = "daemon";
/// The prefix of the first step of a failover intent's plan (read back by [`resume`]).
const FENCE_PREFIX: &str = "fence the failed primary `";

/// The name of the journal lease that lets one daemon run `backup`'s scheduled jobs.
fn backup_lease(backup: &str) -> String {
    format!("backup:{backup}")
}

/// The journal, shared with the blocking pool.
#[derive(Clone)]
struct Journaled(Arc<Mutex<Journal>>);

impl Journaled {
    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, CliError> {
        let journal = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut journal = journal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut journal)
        })
        .await
        .map_err(|error| CliError::Usage {
            message: format!("a journal task failed: {error}"),
            hint: None,
        })?
        .map_err(CliError::from)
    }
}

struct Daemon {
    estate: Estate,
    journal: Journaled,
    holder: String,
    supervisor: Supervisor,
    sessions: BTreeMap<String, Session>,
    /// Notified when an open session ends on its own: the next pass starts at once.
    session_ended: Arc<Notify>,
    last_reports: BTreeMap<String, (String, String)>,
    failpoint: Option<String>,
    /// The scheduled backup jobs; `None` with `--once` (one pass starts no job).
    jobs: Option<BackupJobs>,
}

/// One line on stderr, stamped to the millisecond (to line up with PostgreSQL's own log).
pub(crate) fn log(line: &str) {
    let now = wall_clock();
    let utc = crate::ack_command::utc_text(now);
    eprintln!(
        "{}.{:03} UTC hadome daemon: {line}",
        utc.trim_end_matches(" UTC"),
        now.0.rem_euclid(1000)
    );
}

/// `hadome daemon`.
pub(crate) async fn run(config: ConfigFile, once: bool) -> Result<u8, CliError> {
    let estate = hadome_config::load(&config.config)?;
    let journal = Journaled(Arc::new(Mutex::new(Journal::open(&estate.journal_path)?)));
    let holder = format!("{}:{}", crate::held::hostname(), std::process::id());
    let jobs = (!once).then(|| BackupJobs::new(config.config.clone()));
    let mut daemon = Daemon {
        estate,
        journal,
        holder,
        supervisor: Supervisor::new(),
        sessions: BTreeMap::new(),
        session_ended: Arc::new(Notify::new()),
        last_reports: BTreeMap::new(),
        failpoint: std::env::var("HADOME_FAILPOINT")
            .ok()
            .filter(|value| !value.is_empty()),
        jobs,
    };
    log(&format!(
        "supervising {} instance(s) in {} cluster(s) every {} s as `{}` (journal {})",
        daemon.estate.instances.len(),
        daemon.estate.clusters.len(),
        daemon.estate.probe_interval_seconds,
        daemon.holder,
        daemon.estate.journal_path.display()
    ));
    daemon.resume().await?;

    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(CliError::Runtime)?;
    let interval = Duration::from_secs_f64(daemon.estate.probe_interval_seconds.max(0.05));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let session_ended = Arc::clone(&daemon.session_ended);
    let mut last_pass = Instant::now();
    loop {
        let early = tokio::select! {
            _ = ticker.tick() => false,
            _ = session_ended.notified() => true,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        if early {
            // An open session ended (a crash closes them all at once): pass now, not at the
            // next tick, but never more often than every EARLY_PASS_GAP.
            tokio::time::sleep_until(last_pass + EARLY_PASS_GAP).await;
            ticker.reset();
        }
        last_pass = Instant::now();
        if let Err(error) = daemon.pass().await {
            log(&format!("pass failed: {error}"));
        }
        if once {
            break;
        }
    }
    if let Some(jobs) = daemon.jobs.as_mut() {
        jobs.stop().await;
    }
    daemon.release().await;
    log("stopped");
    Ok(crate::exit_code::OK)
}

impl Daemon {
    fn lease_ttl_ms(&self) -> i64 {
        ((self.estate.probe_interval_seconds * 6.0).max(5.0) * 1000.0) as i64
    }

    /// The leases this daemon takes: one per cluster, and one per scheduled backup
    /// ([`backup_lease`]), so that two daemons on one estate never run the same backup twice.
    fn lease_names(&self) -> Vec<String> {
        let clusters = self
            .estate
            .clusters
            .iter()
            .map(|cluster| cluster.name.clone());
        let backups = self
            .estate
            .backups
            .iter()
            .filter(|backup| {
                self.jobs.is_some()
                    && (backup.every_seconds.is_some()
                        || backup.restore_test_every_seconds.is_some())
            })
            .map(|backup| backup_lease(&backup.name));
        clusters.chain(backups).collect()
    }

    async fn release(&self) {
        for name in self.lease_names() {
            let holder = self.holder.clone();
            let _ = self
                .journal
                .call(move |journal| journal.release_lease(&name, &holder, wall_clock()))
                .await;
        }
    }

    /// Open intents of an earlier daemon (killed mid-action): finish a failover, close the rest.
    async fn resume(&mut self) -> Result<(), CliError> {
        let open = self.journal.call(|journal| journal.open_intents()).await?;
        let held = self.held(wall_clock()).await?;
        for intent in open.into_iter().filter(|intent| intent.actor == ACTOR) {
            let old = intent
                .plan
                .first()
                .and_then(|step| step.strip_prefix(FENCE_PREFIX))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned);
            let cluster = self.estate.cluster_of(&intent.target).cloned();
            let holder = cluster.as_ref().and_then(|cluster| held.get(&cluster.name));
            match (intent.action_name.as_str(), old, cluster) {
                ("promote", Some(old), Some(cluster)) if holder.is_none() => {
                    log(&format!(
                        "intent #{} (failover of `{}` from `{old}` to `{}`) was left open by an earlier daemon after {} of {} steps: finishing it",
                        intent.id, cluster.name, intent.target, intent.steps_done.len(), intent.plan.len()
                    ));
                    let facts = hadome_observer::observe(&self.estate).await;
                    self.failover_steps(intent.id, &cluster, &old, &facts)
                        .await?;
                }
                _ => {
                    let left = holder.map_or_else(String::new, |holder| {
                        format!(
                            ", and left the rest to `{holder}`, whose `hadome run` holds the cluster"
                        )
                    });
                    let detail = format!(
                        "interrupted: the daemon that recorded it stopped after {} of {} steps; a new daemon closed it at start-up{left}",
                        intent.steps_done.len(),
                        intent.plan.len()
                    );
                    log(&format!(
                        "intent #{} ({}): {detail}",
                        intent.id, intent.action_text
                    ));
                    let id = intent.id;
                    self.journal
                        .call(move |journal| {
                            journal.record_outcome(id, wall_clock(), false, &detail)
                        })
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn pass(&mut self) -> Result<(), CliError> {
        let now = wall_clock();
        let mut leases = BTreeSet::new();
        for lease in self.lease_names() {
            let (name, holder, ttl) = (lease.clone(), self.holder.clone(), self.lease_ttl_ms());
            let outcome = self
                .journal
                .call(move |journal| journal.acquire_lease(&name, &holder, now, ttl))
                .await?;
            if outcome.is_held() {
                leases.insert(lease);
            }
        }
        let estate = self.estate.clone();
        let (mut facts, sessions) =
            tokio::join!(hadome_observer::observe(&estate), self.ping_sessions());
        self.ask_witnesses_again(&mut facts).await;
        let facts_for_journal = facts.clone();
        let history = self
            .journal
            .call(move |journal| {
                journal.record_facts(&facts_for_journal)?;
                journal.history()
            })
            .await?;
        let (paused, spent) = self.budget_state(wall_clock()).await?;
        let now = wall_clock();
        let held = self.held(now).await?;
        let tick = Tick {
            estate: &self.estate,
            facts: &facts,
            history: &history,
            now,
            sessions: &sessions,
            leases: &leases,
            paused: &paused,
            spent: &spent,
            held: &held,
        };
        let decision = self.supervisor.step(&tick);
        for report in &decision.reports {
            self.log_report(report);
        }
        for command in decision.commands {
            self.carry_out(command, &facts).await?;
        }
        if let Some(jobs) = self.jobs.as_mut() {
            let held = |backup: &str| leases.contains(&backup_lease(backup));
            jobs.tend(&self.estate, &history, &held).await;
        }
        Ok(())
    }

    /// When a cluster's primary did not answer this pass, probes its other members again and
    /// keeps their newer answers. They were probed at the pass's start, while hadome waited out
    /// the primary's probe timeout; what they have heard from it since (`primary-agreement`
    /// judges their silence by it) is worth that many milliseconds of detection.
    async fn ask_witnesses_again(&self, facts: &mut Facts) {
        let answered = |facts: &Facts, name: &str| {
            matches!(
                facts.instances.get(name).map(|probe| &probe.outcome),
                Some(ProbeOutcome::Answered(_))
            )
        };
        let mut witnesses = BTreeSet::new();
        for cluster in &self.estate.clusters {
            let Some(primary) = self.supervisor.primary_of(&cluster.name) else {
                continue;
            };
            if answered(facts, primary) {
                continue;
            }
            witnesses.extend(
                cluster
                    .members
                    .iter()
                    .filter(|member| member.as_str() != primary && answered(facts, member))
                    .cloned(),
            );
        }
        if witnesses.is_empty() {
            return;
        }
        let mut estate = self.estate.clone();
        estate
            .instances
            .retain(|instance| witnesses.contains(&instance.name));
        let again = hadome_observer::observe(&estate).await;
        facts.instances.extend(again.instances);
    }

    fn log_report(&mut self, report: &ClusterReport) {
        let line = (report.state.as_str().to_owned(), report.detail.clone());
        let changed = self
            .last_reports
            .get(&report.cluster)
            .is_none_or(|(state, _)| *state != line.0);
        if changed {
            log(&format!(
                "cluster `{}`: {}: {}",
                report.cluster, line.0, line.1
            ));
            self.last_reports.insert(report.cluster.clone(), line);
        }
    }

    /// Keeps an open session to every instance (connecting where there is none) and pings each.
    async fn ping_sessions(&mut self) -> BTreeMap<String, bool> {
        let timeout = Duration::from_secs_f64(self.estate.probe_timeout_seconds.max(0.1));
        self.sessions.retain(|_, session| !session.is_closed());
        let missing: Vec<_> = self
            .estate
            .instances
            .iter()
            .filter(|instance| !self.sessions.contains_key(&instance.name))
            .cloned()
            .collect();
        let ended = &self.session_ended;
        let connects = missing.iter().map(|instance| async move {
            (
                instance.name.clone(),
                Session::connect_notifying(instance, timeout, Arc::clone(ended)).await,
            )
        });
        let pings = self.sessions.iter().map(|(name, session)| async move {
            (name.clone(), session.ping(timeout).await.is_ok())
        });
        let (connected, pinged) = tokio::join!(join_all(connects), join_all(pings));
        let mut answers: BTreeMap<String, bool> = pinged.into_iter().collect();
        for (name, session) in connected {
            if let Ok(session) = session {
                answers.insert(name.clone(), true);
                self.sessions.insert(name, session);
            }
        }
        // A session that did not answer is dropped after this pass only if it closed; a hung
        // one stays (it may answer again when the instance resumes).
        answers
    }

    /// The clusters a person's `hadome run` holds at `now` (an unexpired hold lease), with its
    /// holder.
    async fn held(&self, now: Timestamp) -> Result<BTreeMap<String, String>, CliError> {
        let clusters: Vec<String> = self
            .estate
            .clusters
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect();
        self.journal
            .call(move |journal| {
                let mut held = BTreeMap::new();
                for cluster in clusters {
                    if let Some(lease) = journal.lease(&hold_lease(&cluster))? {
                        if !lease.is_expired(now) {
                            held.insert(cluster, lease.holder);
                        }
                    }
                }
                Ok(held)
            })
            .await
    }

    async fn budget_state(&self, now: Timestamp) -> Result<(BTreeSet<String>, Spent), CliError> {
        let estate = self.estate.clone();
        self.journal
            .call(move |journal| {
                let paused: BTreeSet<String> = journal
                    .paused()?
                    .into_iter()
                    .map(|pause| pause.target)
                    .collect();
                let mut spent = Spent::default();
                for cluster in &estate.clusters {
                    let window = Timestamp(
                        now.0 - (cluster.automation.budget.window_seconds * 1000.0) as i64,
                    );
                    let since = |target: &str| -> Result<Timestamp, JournalError> {
                        Ok(journal
                            .last_ack(target)?
                            .map_or(window, |ack| ack.max(window)))
                    };
                    for member in &cluster.members {
                        let from = since(member)?;
                        spent.restarts.insert(
                            member.clone(),
                            journal.count_intents(ACTOR, "restart", &[member], from)?,
                        );
                        spent.rebuilds.insert(
                            member.clone(),
                            journal.count_intents(ACTOR, "rebuild", &[member], from)?,
                        );
                    }
                    let members: Vec<&str> = cluster.members.iter().map(String::as_str).collect();
                    let from = since(&cluster.name)?;
                    spent.failovers.insert(
                        cluster.name.clone(),
                        journal.count_intents(ACTOR, "promote", &members, from)?,
                    );
                }
                Ok((paused, spent))
            })
            .await
    }

    async fn carry_out(&mut self, command: Command, facts: &Facts) -> Result<(), CliError> {
        match command {
            Command::Heartbeat { instance } => {
                if let Some(session) = self.sessions.get(&instance) {
                    let timeout =
                        Duration::from_secs_f64(self.estate.probe_timeout_seconds.max(0.1));
                    if let Err(error) = session.heartbeat(timeout).await {
                        log(&format!("heartbeat on `{instance}` failed: {error}"));
                    }
                }
            }
            Command::Restart {
                target,
                reason,
                wake,
                ..
            } => {
                log(&format!("restarting `{target}`: {reason}"));
                let action = Action::Restart { target };
                let mut steps = plan(&self.estate, &action);
                if !wake.is_empty() {
                    steps.push(Step::RetryStreams(wake));
                }
                self.act_steps(action, steps, &reason).await?;
            }
            Command::Rebuild {
                target,
                source,
                reason,
                ..
            } => {
                log(&format!("rebuilding `{target}` from `{source}`: {reason}"));
                self.act(Action::Rebuild { target, source }, &reason)
                    .await?;
            }
            Command::Fence { target, reason, .. } => {
                log(&format!("fencing `{target}`: {reason}"));
                let steps = vec![Step::Fence(target.clone())];
                self.act_steps(Action::Stop { target }, steps, &reason)
                    .await?;
            }
            Command::Failover(plan) => self.failover(plan, facts).await?,
            Command::Escalate(escalation) => self.escalate(escalation).await?,
            Command::Pause { escalation } => {
                let (at, target, reason) = (
                    wall_clock(),
                    escalation.subject.clone(),
                    escalation.message.clone(),
                );
                self.journal
                    .call(move |journal| journal.pause(at, &target, &reason))
                    .await?;
                self.escalate(escalation).await?;
            }
        }
        Ok(())
    }

    /// Journals an escalation, then sends it to the webhook (and journals how that went).
    async fn escalate(&self, escalation: Escalation) -> Result<(), CliError> {
        log(&format!(
            "ESCALATION [{}] {}: {}",
            escalation.rule, escalation.subject, escalation.message
        ));
        let record = escalation.clone();
        let id = self
            .journal
            .call(move |journal| {
                journal.record_escalation(
                    wall_clock(),
                    &record.cluster,
                    &record.subject,
                    record.rule,
                    &record.message,
                )
            })
            .await?;
        if let Some(url) = self.estate.notify.webhook_url.clone() {
            let result = notify::send(&url, &escalation).await;
            if let Err(error) = &result {
                log(&format!(
                    "the webhook did not take escalation #{id}: {error}"
                ));
            }
            self.journal
                .call(move |journal| journal.record_notified(id, wall_clock(), result))
                .await?;
        }
        Ok(())
    }

    /// An automated action through the same executor as `hadome run`.
    async fn act(&self, action: Action, reason: &str) -> Result<bool, CliError> {
        let steps = plan(&self.estate, &action);
        self.act_steps(action, steps, reason).await
    }

    async fn act_steps(
        &self,
        action: Action,
        steps: Vec<Step>,
        reason: &str,
    ) -> Result<bool, CliError> {
        let mut plan_text: Vec<String> = steps.iter().map(Step::describe).collect();
        plan_text.push(format!("because: {reason}"));
        let Some(intent) = self.record_automated(&action, plan_text).await? else {
            return Ok(false);
        };
        let mut ok = true;
        let mut detail = format!("{action} done");
        for step in &steps {
            let outcome = execute(&self.estate, step).await;
            let (step_ok, step_detail) = match outcome {
                Ok(detail) => (true, detail),
                Err(error) => (false, error),
            };
            log(&format!(
                "  {} {}: {step_detail}",
                if step_ok { "done" } else { "FAILED" },
                step.describe()
            ));
            let described = step.describe();
            let journaled = step_detail.clone();
            self.journal
                .call(move |journal| {
                    journal.record_step(intent, wall_clock(), &described, step_ok, &journaled)
                })
                .await?;
            if !step_ok {
                ok = false;
                detail = format!("{} failed: {step_detail}", step.describe());
                break;
            }
        }
        let outcome_detail = detail.clone();
        self.journal
            .call(move |journal| journal.record_outcome(intent, wall_clock(), ok, &outcome_detail))
            .await?;
        Ok(ok)
    }

    /// Journals the intent of an automated action, unless a person's `hadome run` holds the
    /// target's cluster (taken since this pass began): then logs it and returns `None`, and the
    /// daemon does not act.
    async fn record_automated(
        &self,
        action: &Action,
        plan_text: Vec<String>,
    ) -> Result<Option<i64>, CliError> {
        let hold = self
            .estate
            .cluster_of(action.target())
            .map(|cluster| hold_lease(&cluster.name))
            .unwrap_or_default();
        let recorded = {
            let action = action.clone();
            self.journal
                .call(move |journal| {
                    journal.record_automated_intent(&hold, wall_clock(), &action, &plan_text, ACTOR)
                })
                .await?
        };
        Ok(match recorded {
            Ok(intent) => Some(intent),
            Err(lease) => {
                log(&format!(
                    "not acting on `{}`: `{}` holds it for `hadome run` (`{}`), so {action} is left to that person",
                    action.target(),
                    lease.holder,
                    lease.cluster
                ));
                None
            }
        })
    }

    async fn step(&self, intent: i64, step: &str, ok: bool, detail: &str) -> Result<(), CliError> {
        log(&format!(
            "  {} {step}: {detail}",
            if ok { "done" } else { "FAILED" }
        ));
        let (step, detail) = (step.to_owned(), detail.to_owned());
        self.journal
            .call(move |journal| journal.record_step(intent, wall_clock(), &step, ok, &detail))
            .await
    }

    async fn failover(&mut self, plan: FailoverPlan, facts: &Facts) -> Result<(), CliError> {
        log(&format!(
            "FAILOVER of `{}`: {}; candidate `{}`",
            plan.cluster, plan.evidence, plan.candidate
        ));
        let Some(cluster) = self
            .estate
            .clusters
            .iter()
            .find(|c| c.name == plan.cluster)
            .cloned()
        else {
            return Ok(());
        };
        let followers: Vec<String> = cluster
            .members
            .iter()
            .filter(|member| **member != plan.old_primary && **member != plan.candidate)
            .cloned()
            .collect();
        let plan_text = vec![
            format!("{FENCE_PREFIX}{}` (its fence_command)", plan.old_primary),
            "observe again and re-choose the most advanced eligible standby".to_owned(),
            format!(
                "promote it with pg_promote() (chosen now: `{}`)",
                plan.candidate
            ),
            "make its synchronous_standby_names its own".to_owned(),
            format!(
                "repoint the other standbys at it ({})",
                followers.join(", ")
            ),
            format!("because: {}", plan.evidence),
        ];
        let action = Action::Promote {
            target: plan.candidate.clone(),
        };
        let Some(intent) = self.record_automated(&action, plan_text).await? else {
            return Ok(());
        };
        self.failover_steps(intent, &cluster, &plan.old_primary, facts)
            .await
    }

    /// The steps of a failover whose intent is journaled (also finishing one an earlier daemon
    /// left open), starting from `facts`: the pass's own for a failover it just decided, a fresh
    /// observation when finishing an open one. Safe to repeat: fencing a fenced instance succeeds;
    /// a member that already accepts writes is recognised and not promoted twice.
    ///
    /// The pass's facts are enough to start from: the candidate is chosen again on facts observed
    /// after the fence, and a member that became a primary meanwhile makes that choice refuse.
    /// Observing again here would cost a whole probe timeout on the hung primary.
    async fn failover_steps(
        &mut self,
        intent: i64,
        cluster: &Cluster,
        old: &str,
        facts: &Facts,
    ) -> Result<(), CliError> {
        // A member other than the old primary that already accepts writes: the failover is done.
        if let Some(primary) = cluster.members.iter().find(|member| {
            *member != old
                && matches!(&facts.instances.get(*member).map(|probe| &probe.outcome), Some(ProbeOutcome::Answered(state)) if !state.in_recovery)
        }) {
            let detail = format!("`{primary}` already accepts writes: nothing left to promote");
            self.step(intent, "observe", true, &detail).await?;
            self.supervisor.remember_failover(&cluster.name, old, primary);
            self.follow(intent, cluster, old, primary).await?;
            return self.close(intent, true, &format!("failover of `{}` to `{primary}` done", cluster.name)).await;
        }

        let fenced = execute(&self.estate, &Step::Fence(old.to_owned())).await;
        let fence_step = format!("fence `{old}`");
        match &fenced {
            Ok(detail) => self.step(intent, &fence_step, true, detail).await?,
            Err(error) => {
                // Without a fence, only synchronous replication keeps a hung old primary from
                // acknowledging commits alone; hadome does not bet on it (docs/daemon.md).
                self.step(intent, &fence_step, false, error).await?;
                let message = format!("failover of `{}` stopped: fencing `{old}` failed ({error}); promoting another member while `{old}` may still accept writes could make two primaries", cluster.name);
                self.escalate(Escalation {
                    cluster: cluster.name.clone(),
                    subject: old.to_owned(),
                    rule: hadome_core::rule::PROMOTE_ELIGIBILITY,
                    message: message.clone(),
                })
                .await?;
                return self.close(intent, false, &message).await;
            }
        }
        if self.failpoint.as_deref() == Some("after-fence") {
            log("failpoint after-fence: waiting here until killed (HADOME_FAILPOINT)");
            std::future::pending::<()>().await;
        }

        let facts = hadome_observer::observe(&self.estate).await;
        let facts_for_journal = facts.clone();
        let history: History = self
            .journal
            .call(move |journal| {
                journal.record_facts(&facts_for_journal)?;
                journal.history()
            })
            .await?;
        let synchronous = self.synchronous_of(cluster);
        let candidate = match choose_candidate(
            &self.estate,
            &facts,
            &history,
            wall_clock(),
            cluster,
            old,
            &synchronous,
        ) {
            Ok(candidate) => candidate,
            Err(refusals) => {
                let message = format!(
                    "failover of `{}` stopped after fencing `{old}`: no standby may be promoted: {}",
                    cluster.name,
                    refusals.join("; ")
                );
                self.step(intent, "re-choose the candidate", false, &message)
                    .await?;
                self.escalate(Escalation {
                    cluster: cluster.name.clone(),
                    subject: old.to_owned(),
                    rule: hadome_core::rule::PROMOTE_ELIGIBILITY,
                    message: message.clone(),
                })
                .await?;
                return self.close(intent, false, &message).await;
            }
        };
        self.step(
            intent,
            "re-choose the candidate",
            true,
            &format!("`{}` is the most advanced eligible standby", candidate.name),
        )
        .await?;
        let Some(instance) = self.estate.instance(&candidate.name).cloned() else {
            return Ok(());
        };
        let timeout = Duration::from_secs(60);
        if let Err(error) = hadome_observer::promote(&instance, timeout).await {
            self.step(
                intent,
                &format!("promote `{}`", candidate.name),
                false,
                &error.to_string(),
            )
            .await?;
            let message = format!("promoting `{}` failed: {error}", candidate.name);
            self.escalate(Escalation {
                cluster: cluster.name.clone(),
                subject: candidate.name.clone(),
                rule: hadome_core::rule::PROMOTE_ELIGIBILITY,
                message: message.clone(),
            })
            .await?;
            return self.close(intent, false, &message).await;
        }
        self.step(
            intent,
            &format!("promote `{}`", candidate.name),
            true,
            "pg_promote() returned; it accepts writes",
        )
        .await?;
        self.supervisor
            .remember_failover(&cluster.name, old, &candidate.name);
        // The new primary must not wait for a synchronous standby named after itself or the old
        // primary: it starts asynchronous; its followers become synchronous once they stream.
        match hadome_observer::set_synchronous_standby_names(&instance, "", Duration::from_secs(10))
            .await
        {
            Ok(()) => {
                self.step(
                    intent,
                    "synchronous_standby_names = ''",
                    true,
                    "writes do not wait for a standby until one follows",
                )
                .await?
            }
            Err(error) => {
                self.step(
                    intent,
                    "synchronous_standby_names = ''",
                    false,
                    &error.to_string(),
                )
                .await?
            }
        }
        let followed = self.follow(intent, cluster, old, &candidate.name).await?;
        if !synchronous.is_empty() && !followed.is_empty() {
            let names: Vec<String> = followed
                .iter()
                .filter_map(|name| self.estate.instance(name))
                .map(|instance| format!("\"{}\"", instance.application_name))
                .collect();
            let value = format!("ANY 1 ({})", names.join(", "));
            match hadome_observer::set_synchronous_standby_names(
                &instance,
                &value,
                Duration::from_secs(10),
            )
            .await
            {
                Ok(()) => {
                    self.step(
                        intent,
                        &format!("synchronous_standby_names = '{value}'"),
                        true,
                        "commits wait for a follower again",
                    )
                    .await?
                }
                Err(error) => {
                    self.step(
                        intent,
                        &format!("synchronous_standby_names = '{value}'"),
                        false,
                        &error.to_string(),
                    )
                    .await?
                }
            }
        }
        self.close(
            intent,
            true,
            &format!(
                "failover of `{}` from `{old}` to `{}` done",
                cluster.name, candidate.name
            ),
        )
        .await
    }

    /// The application names the old primary last listed as synchronous (the supervisor
    /// remembers them from the last pass it answered).
    fn synchronous_of(&self, cluster: &Cluster) -> Vec<String> {
        self.supervisor.synchronous_of(&cluster.name).to_vec()
    }

    /// Repoints every other standby at the new primary with its `follow_command`.
    async fn follow(
        &self,
        intent: i64,
        cluster: &Cluster,
        old: &str,
        primary: &str,
    ) -> Result<Vec<String>, CliError> {
        let source = self.estate.instance(primary).cloned();
        let mut followed = Vec::new();
        for member in cluster
            .members
            .iter()
            .filter(|member| *member != old && *member != primary)
        {
            let Some(instance) = self.estate.instance(member) else {
                continue;
            };
            let Some(command) = &instance.commands.follow else {
                self.step(
                    intent,
                    &format!("`{member}` follows `{primary}`"),
                    false,
                    "no follow_command: it keeps its old upstream",
                )
                .await?;
                continue;
            };
            let argv: Vec<String> = command
                .iter()
                .map(|argument| {
                    argument
                        .replace(
                            "{source_conninfo}",
                            source
                                .as_ref()
                                .map_or("", |source| source.conninfo.as_str()),
                        )
                        .replace("{source}", primary)
                        .replace("{target}", member)
                        .replace("{data_dir}", &instance.data_dir.display().to_string())
                })
                .collect();
            match run_argv(&argv).await {
                Ok(detail) => {
                    self.step(
                        intent,
                        &format!("`{member}` follows `{primary}`"),
                        true,
                        &detail,
                    )
                    .await?;
                    followed.push(member.clone());
                }
                Err(error) => {
                    self.step(
                        intent,
                        &format!("`{member}` follows `{primary}`"),
                        false,
                        &error,
                    )
                    .await?
                }
            }
        }
        Ok(followed)
    }

    async fn close(&self, intent: i64, ok: bool, detail: &str) -> Result<(), CliError> {
        log(&format!("intent #{intent}: {detail}"));
        let detail = detail.to_owned();
        self.journal
            .call(move |journal| journal.record_outcome(intent, wall_clock(), ok, &detail))
            .await
    }
}
