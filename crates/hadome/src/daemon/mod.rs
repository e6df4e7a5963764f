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
//!
//! This file is the loop and one pass; the rest, by concern: `observe.rs` (the open sessions and
//! the witnesses asked again), `journaled.rs` (the journal on the blocking pool, and the holds,
//! pauses and budgets read from it), `act.rs` (the supervisor's commands carried out),
//! `failover.rs` and `backup_jobs.rs` (the scheduled backup jobs). It logs through `tracing`, one
//! event per thing an operator watches, each with its fields (`cluster`, `intent`, …); the base
//! module `daemon_log.rs` installs the subscriber and its line format (journald's, or stamped).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::supervise::{ClusterReport, ClusterState, Supervisor, Tick};
use hadome_journal::Journal;
use hadome_observer::Session;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;
use tokio::time::Instant;

mod act;
mod api;
mod backup_jobs;
mod failover;
pub(crate) mod journaled;
mod observe;
mod systemd;

use backup_jobs::BackupJobs;
use journaled::Journaled;

use crate::actor::DAEMON as ACTOR;
use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::coordination::Coordinator;
use crate::error::CliError;

/// The shortest time between two passes when an ended session starts one early.
const EARLY_PASS_GAP: Duration = Duration::from_millis(50);

/// The name of the journal lease that lets one daemon run `backup`'s scheduled jobs.
fn backup_lease(backup: &str) -> String {
    format!("backup:{backup}")
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
    /// Standbys whose rebuild a pre-flight refused, escalated once until one passes.
    refused_rebuilds: BTreeSet<String>,
    /// Where its leases and people's holds live: the journal, or etcd (`[coordination]`).
    coordinator: Coordinator,
    /// Why it last could not reach its coordination, while it cannot (it acts on nothing).
    cut_off: Option<String>,
    /// The HTTP API, metrics and dashboard (`[api]`); `None` without it, and with `--once`.
    api: Option<api::Api>,
}

/// `hadome daemon`.
pub(crate) async fn run(config: ConfigFile, once: bool) -> Result<u8, CliError> {
    crate::daemon_log::init()?;
    let estate = hadome_config::load(&config.config)?;
    let journal = Journaled(Arc::new(Mutex::new(Journal::open(&estate.journal_path)?)));
    let holder = format!("{}:{}", crate::held::hostname(), std::process::id());
    let jobs = (!once).then(|| BackupJobs::new(config.config.clone()));
    let api = if once {
        None
    } else {
        api::Api::start(&estate, &config.config)?
    };
    let (estate_for_coordinator, holder_for_coordinator) = (estate.clone(), holder.clone());
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
        refused_rebuilds: BTreeSet::new(),
        coordinator: Coordinator::of(&estate_for_coordinator, &holder_for_coordinator),
        cut_off: None,
        api,
    };
    tracing::info!(
        "supervising {} instance(s) in {} cluster(s) every {} s as `{}` (journal {}; {})",
        daemon.estate.instances.len(),
        daemon.estate.clusters.len(),
        daemon.estate.probe_interval_seconds,
        daemon.holder,
        daemon.estate.journal_path.display(),
        daemon.coordinator.describe(&daemon.estate)
    );
    daemon.learn_from_journal().await?;

    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Runtime)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(CliError::Runtime)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(CliError::Runtime)?;
    let mut ticker = ticker_of(&daemon.estate);
    let notifier = systemd::Notifier::from_env();
    // Fed from this loop only: a pass that never returns starves it (no feeding: a day).
    let mut feeder =
        tokio::time::interval(notifier.feed_every().unwrap_or(Duration::from_secs(86_400)));
    feeder.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    notifier.ready(&daemon.status_line());
    let session_ended = Arc::clone(&daemon.session_ended);
    let mut last_pass = Instant::now();
    loop {
        let early = tokio::select! {
            _ = ticker.tick() => false,
            _ = session_ended.notified() => true,
            _ = feeder.tick() => {
                notifier.alive();
                continue;
            }
            _ = hangup.recv() => {
                notifier.reloading();
                let interval = daemon.estate.probe_interval_seconds;
                daemon.reload(&config.config);
                if daemon.estate.probe_interval_seconds != interval {
                    ticker = ticker_of(&daemon.estate);
                }
                notifier.ready(&daemon.status_line());
                continue;
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        if daemon.failpoint.as_deref() == Some("wedge-loop") {
            tracing::warn!(
                failpoint = "wedge-loop",
                "failpoint wedge-loop: the supervision loop blocks here (HADOME_FAILPOINT)"
            );
            std::future::pending::<()>().await;
        }
        if early {
            // An open session ended (a crash closes them all at once): pass now, not at the
            // next tick, but never more often than every EARLY_PASS_GAP.
            tokio::time::sleep_until(last_pass + EARLY_PASS_GAP).await;
            ticker.reset();
        }
        last_pass = Instant::now();
        if let Err(error) = daemon.pass().await {
            tracing::error!("pass failed: {error}");
        }
        if once {
            break;
        }
    }
    notifier.stopping();
    if let Some(jobs) = daemon.jobs.as_mut() {
        jobs.stop().await;
    }
    daemon.release().await;
    if let Some(api) = daemon.api.take() {
        api.stop();
    }
    tracing::info!("stopped");
    Ok(crate::exit_code::OK)
}

/// The pass ticker for `estate`'s probe interval.
fn ticker_of(estate: &Estate) -> tokio::time::Interval {
    let interval = Duration::from_secs_f64(estate.probe_interval_seconds.max(0.05));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

impl Daemon {
    /// `SIGHUP`: the estate file read again through the start-up path. A file that does not load,
    /// or that moves what a running daemon cannot move (its journal, its coordination), is
    /// refused with the reason and the running estate is kept; otherwise the new estate is
    /// supervised from the next pass, and open sessions to instances that are gone or whose
    /// conninfo changed are closed (the next pass opens them anew).
    fn reload(&mut self, path: &std::path::Path) {
        let new = match hadome_config::load(path) {
            Ok(new) => new,
            Err(error) => {
                let hint = error
                    .hint()
                    .map_or_else(String::new, |hint| format!(" (hint: {hint})"));
                tracing::error!(
                    "reload refused: {error}{hint}; still supervising the estate loaded before"
                );
                return;
            }
        };
        let unmovable = if new.journal_path != self.estate.journal_path {
            Some(format!(
                "the journal moved from {} to {}",
                self.estate.journal_path.display(),
                new.journal_path.display()
            ))
        } else if new.coordination != self.estate.coordination {
            Some("`[coordination]` changed".to_owned())
        } else {
            None
        };
        if let Some(why) = unmovable {
            tracing::error!(
                "reload refused: {why}, which a running daemon cannot follow: restart it (systemctl restart hadome); still supervising the estate loaded before"
            );
            return;
        }
        if let Some(api) = &self.api {
            api.reload(&new);
        }
        let old = std::mem::replace(&mut self.estate, new);
        self.sessions.retain(
            |name, _| match (old.instance(name), self.estate.instance(name)) {
                (Some(before), Some(now)) => before.conninfo == now.conninfo,
                _ => false,
            },
        );
        tracing::info!("reloaded {}: {}", path.display(), self.status_line());
    }

    /// One line for the service manager's status: what is supervised.
    fn status_line(&self) -> String {
        format!(
            "supervising {} instance(s) in {} cluster(s) every {} s",
            self.estate.instances.len(),
            self.estate.clusters.len(),
            self.estate.probe_interval_seconds
        )
    }

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

    async fn release(&mut self) {
        let names = self.lease_names();
        self.coordinator
            .release(&self.journal, names, &self.holder)
            .await;
    }

    async fn pass(&mut self) -> Result<(), CliError> {
        let started = Instant::now();
        let now = wall_clock();
        let (names, ttl) = (self.lease_names(), self.lease_ttl_ms());
        let acquired = self
            .coordinator
            .acquire(&self.journal, names, &self.holder, now, ttl)
            .await?;
        self.note_cut_off(acquired.cut_off);
        let leases = acquired.held;
        self.resume_open(&leases).await?;
        let estate = self.estate.clone();
        let ((mut facts, probes), sessions) = tokio::join!(
            hadome_observer::observe_timed(&estate),
            self.ping_sessions()
        );
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
        if let Some(api) = &self.api {
            api.publish(api::Snapshot {
                estate: self.estate.clone(),
                facts: facts.clone(),
                history: history.clone(),
                now,
                taken: std::time::Instant::now(),
                reports: decision.reports.clone(),
                pass_seconds: started.elapsed().as_secs_f64(),
                probes,
            });
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

    /// Logs (once, when it changes) that the daemon lost or regained its coordination: while it
    /// cannot reach etcd it holds no lease, so it acts on nothing.
    fn note_cut_off(&mut self, cut_off: Option<String>) {
        match (&self.cut_off, &cut_off) {
            (None, Some(why)) => tracing::error!(
                outcome = "stopped-acting",
                "STOPPED ACTING: cannot reach the coordination etcd, so this daemon holds no lease and acts on no cluster until it can: {why}"
            ),
            (Some(_), None) => tracing::info!(
                outcome = "acting",
                "coordination etcd reachable again: taking leases again"
            ),
            _ => {}
        }
        self.cut_off = cut_off;
    }

    fn log_report(&mut self, report: &ClusterReport) {
        let line = (report.state.as_str().to_owned(), report.detail.clone());
        let changed = self
            .last_reports
            .get(&report.cluster)
            .is_none_or(|(state, _)| *state != line.0);
        if changed {
            log_report(report);
            self.last_reports.insert(report.cluster.clone(), line);
        } else {
            // The same state, perhaps for another reason: each pass's reason, at debug level.
            let (cluster, state) = (&report.cluster, report.state.as_str());
            tracing::debug!(%cluster, outcome = state, "cluster `{cluster}`: {state}: {}", report.detail);
        }
    }
}

/// A cluster's new state: info while it is as it should be or a person or another actor has it,
/// a warning while the daemon works on it, an error when it waits for a person.
fn log_report(report: &ClusterReport) {
    let (cluster, state, detail) = (&report.cluster, report.state.as_str(), &report.detail);
    match report.state {
        ClusterState::Healthy
        | ClusterState::NotActor
        | ClusterState::Held
        | ClusterState::Manual => {
            tracing::info!(%cluster, outcome = state, "cluster `{cluster}`: {state}: {detail}")
        }
        ClusterState::Overloaded
        | ClusterState::Suspect
        | ClusterState::Restarting
        | ClusterState::FailingOver => {
            tracing::warn!(%cluster, outcome = state, "cluster `{cluster}`: {state}: {detail}")
        }
        ClusterState::NoCandidate | ClusterState::Paused | ClusterState::NoPrimary => {
            tracing::error!(%cluster, outcome = state, "cluster `{cluster}`: {state}: {detail}")
        }
    }
}
