//! `hadome daemon`: the thin async shell around the core's [`Supervisor`].
//!
//! Every `[probe] interval_seconds` it: renews its lease on each cluster (`single-actor`), probes
//! every instance with a new connection (the observer) and pings the open session it keeps to
//! each (a hung postmaster accepts no new connection while open sessions still answer), journals
//! what changed, reads budgets and pauses from the journal, asks the supervisor, and carries out
//! its commands — each automated action between a journaled intent and its outcome, with every
//! step journaled, through the executor's loop (`hadome_executor::carry_out`), exactly as `hadome
//! run` does for a person. Every step on a server, the failover's included, is the executor's
//! (`hadome_executor::execute`).
//!
//! The journal is SQLite: every call is short, but it is blocking I/O, so it runs on tokio's
//! blocking pool ([`Journaled`]).
//!
//! A failover is the core's state machine (`hadome_core::supervise::Failover`: fence → observe
//! again → choose → promote → resync → follow), driven by `failover.rs`, which journals its state
//! at every phase. A daemon killed at any phase finds the intent open and its record at its next
//! start and carries it on from there (`resume`): the failover is done once, never twice, and the
//! old primary stays known as fenced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use hadome_core::action::Action;
use hadome_core::estate::Estate;
use hadome_core::fact::{Facts, ProbeOutcome, Timestamp};
use hadome_core::supervise::{ClusterReport, Command, Escalation, Spent, Supervisor, Tick};
use hadome_executor::{carry_out, plan, Outcome, Recorder, Step};
use hadome_journal::{hold_lease, Journal, JournalError};
use hadome_observer::Session;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio::time::Instant;

mod failover;

use crate::backup_jobs::BackupJobs;
use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::estate_command::wall_clock;
use crate::notify;
use crate::run_command::RestoredRows;

/// The shortest time between two passes when an ended session starts one early.
const EARLY_PASS_GAP: Duration = Duration::from_millis(50);

/// The journal's actor name for what the daemon does.
pub(crate) const ACTOR: &str = "daemon";

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
        .map_err(|error| CliError::Internal {
            message: format!("a journal task failed: {error} (a bug in hadome: please report it)"),
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
    /// Intents an earlier daemon left open, until this daemon holds their cluster's lease.
    left_open: Vec<hadome_journal::OpenIntent>,
}

/// One line on stderr, stamped to the millisecond (to line up with PostgreSQL's own log).
pub(crate) fn log(line: &str) {
    let now = wall_clock();
    let utc = now.utc_text();
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
        left_open: Vec::new(),
    };
    log(&format!(
        "supervising {} instance(s) in {} cluster(s) every {} s as `{}` (journal {})",
        daemon.estate.instances.len(),
        daemon.estate.clusters.len(),
        daemon.estate.probe_interval_seconds,
        daemon.holder,
        daemon.estate.journal_path.display()
    ));
    daemon.learn_from_journal().await?;

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
        self.resume_open(&leases).await?;
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
            self.carry_out(command).await?;
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

    async fn carry_out(&mut self, command: Command) -> Result<(), CliError> {
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
                cluster,
                target,
                reason,
                wake,
            } => {
                log(&format!("restarting `{target}`: {reason}"));
                let action = Action::Restart {
                    target: target.clone(),
                };
                let mut steps = plan(&self.estate, &action);
                if !wake.is_empty() {
                    steps.push(Step::RetryStreams(wake));
                }
                if !self.act_steps(action, steps, &reason).await? {
                    // The restart cannot bring it back: a primary fails over on the next pass,
                    // started now rather than at the next tick (issue 18).
                    self.supervisor.handle_restart_failed(&cluster, &target);
                    self.session_ended.notify_one();
                }
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
            Command::Failover(plan) => self.failover(plan).await?,
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
        let mut recorder = Automated {
            daemon: self,
            action: &action,
            reason,
        };
        let outcome =
            carry_out(&self.estate, &action, &steps, &RestoredRows, &mut recorder).await?;
        Ok(outcome.is_some_and(|outcome| outcome.ok))
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
}

/// The daemon's side of the executor's loop: the intent recorded unless a person holds the
/// cluster ([`Daemon::record_automated`]), each step logged and journaled on the blocking pool.
struct Automated<'a> {
    daemon: &'a Daemon,
    action: &'a Action,
    reason: &'a str,
}

impl Recorder for Automated<'_> {
    type Intent = i64;
    type Error = CliError;

    async fn intent(&mut self, steps: &[Step]) -> Result<Option<i64>, CliError> {
        let mut plan_text: Vec<String> = steps.iter().map(Step::describe).collect();
        plan_text.push(format!("because: {}", self.reason));
        self.daemon.record_automated(self.action, plan_text).await
    }

    async fn step(&mut self, intent: &i64, step: &Step, done: &Outcome) -> Result<(), CliError> {
        self.daemon
            .step(*intent, &step.describe(), done.ok, &done.detail)
            .await
    }

    async fn outcome(&mut self, intent: &i64, outcome: &Outcome) -> Result<(), CliError> {
        let (intent, ok, detail) = (*intent, outcome.ok, outcome.detail.clone());
        self.daemon
            .journal
            .call(move |journal| journal.record_outcome(intent, wall_clock(), ok, &detail))
            .await
    }
}
