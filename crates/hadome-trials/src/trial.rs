//! One trial: a fresh lab, the daemon supervising it, the writer and the sampler running, the
//! plan's faults applied at their moments, then heal, settle, and check.
//!
//! 1. `Lab::up(topology)` in `SCRATCH/seed-N/lab`; the inode of every member's data directory
//!    is noted (a rebuild moves a directory aside and makes a new one);
//! 2. `hadome daemon` starts and finds the cluster healthy; the writer and the sampler start;
//!    the faults wait for [`WARM_UP_ACKS`] acknowledged commits;
//! 3. each fault at its moment (a fault during a failover waits for the daemon's `promote`
//!    intent); a victim named by role is resolved on the lab's live state then; a fault that
//!    cannot apply (its victim is already down, say) is recorded as skipped;
//! 4. [`Settings::hold`] later, heal: the daemon is started if it is down, hung members resumed,
//!    cut links healed, isolated members rejoined, standbys the trial stopped started again;
//! 5. settle: every 0.5 s every member is asked whether it is in recovery; settled once exactly one
//!    is not, the same one for [`Settings::stable`], with the writer's commits acknowledged by it
//!    meanwhile (bounded by [`Settings::settle`]);
//! 6. the checks of [`crate::verdict`], on the ack log, the commits the sampler saw, the journal
//!    and the data directories.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, KIND_INTENT};
use hadome_lab::{Fault, Lab, LabGuard, LabOptions, LabStatus, Topology};

use crate::daemon::{tail, Daemon};
use crate::load::{Clients, ACK_TABLE};
use crate::schedule::{Plan, Step, When, Who};
use crate::verdict::{self, Budget, End, IntentSeen};

/// Acknowledged commits before the first fault.
pub const WARM_UP_ACKS: usize = 20;
/// How long a fault may take to verify its effect.
const FAULT_BOUND: Duration = Duration::from_secs(20);
/// How long a fault during a failover waits for one to start.
const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// How trials run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `hadome` binary: the daemon, and the lab's commands.
    pub hadome: PathBuf,
    /// Where each trial's lab and logs go (`seed-N/`).
    pub scratch: PathBuf,
    /// From the last fault to the heal.
    pub hold: Duration,
    /// The settle's bound.
    pub settle: Duration,
    /// How long the one primary must stay the one.
    pub stable: Duration,
}

/// What a trial found.
#[derive(Debug)]
pub struct Outcome {
    /// Its plan.
    pub plan: Plan,
    /// Each fault as applied (or skipped, and why), with its moment.
    pub applied: Vec<String>,
    /// Commits the writer had acknowledged.
    pub acknowledged: usize,
    /// Commits whose outcome the writer does not know (failed or timed out).
    pub unknown: u64,
    /// Commits the sampler saw acknowledged.
    pub sampled: u64,
    /// Acknowledged ids missing where they were counted.
    pub lost: Vec<i64>,
    /// Where they were counted: the settled primary, or every member that answered.
    pub counted_on: String,
    /// Instants with two members accepting writes.
    pub two_writers: Vec<String>,
    /// Data directories replaced without a journaled intent.
    pub overwritten: Vec<String>,
    /// How it ended.
    pub end: End,
    /// The daemon's actions over their budget.
    pub over_budget: Vec<String>,
    /// The daemon's intents, counted by action.
    pub actions: BTreeMap<String, usize>,
    /// The trial's length.
    pub seconds: f64,
    /// Where its logs are.
    pub logs: PathBuf,
}

impl Outcome {
    /// Every check that failed, described; empty when the trial passed.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.sampled == 0 {
            failures.push(
                "the sampler saw no commit at all: the two-writer check was blind".to_owned(),
            );
        }
        if !self.lost.is_empty() {
            failures.push(format!(
                "{} acknowledged commits lost on {} (first ids {:?})",
                self.lost.len(),
                self.counted_on,
                &self.lost[..self.lost.len().min(10)]
            ));
        }
        failures.extend(
            self.two_writers
                .iter()
                .map(|found| format!("two writers: {found}")),
        );
        failures.extend(self.overwritten.iter().cloned());
        if let End::SilentStall { writable } = &self.end {
            failures.push(format!(
                "silent stall: no single primary after the settle (accepting writes: {writable:?}) and no escalation"
            ));
        }
        failures.extend(
            self.over_budget
                .iter()
                .map(|found| format!("action loop: {found}")),
        );
        failures
    }
}

/// Runs `plan`; `Err` when the harness itself could not (the lab would not come up, say).
pub async fn run(plan: &Plan, settings: &Settings) -> Result<Outcome, String> {
    // A failed trial's directory stays for its logs: a seed run again gets a directory of its own.
    let mut dir = settings.scratch.join(format!("seed-{}", plan.seed));
    for again in 2.. {
        if !dir.exists() {
            break;
        }
        dir = settings.scratch.join(format!("seed-{}.{again}", plan.seed));
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|error| format!("creating {}: {error}", logs.display()))?;
    let topology = Topology::resolve(plan.topology).map_err(|error| error.to_string())?;
    let lab = Lab::up(
        &topology,
        &dir.join("lab"),
        &LabOptions::with_hadome_binary(&settings.hadome),
    )
    .await
    .map_err(|error| format!("lab up {}: {error}", plan.topology))?;
    let mut trial = Trial {
        settings,
        plan,
        daemon: None,
        lab,
        logs,
        incarnations: 0,
        restart_at: None,
        applied: Vec::new(),
        stopped: Vec::new(),
        started: Instant::now(),
    };
    let result = trial.run(&topology).await;
    if let Some(daemon) = trial.daemon.take() {
        daemon.stop(Duration::from_secs(15)).await;
    }
    trial.keep_server_logs();
    let down = trial.lab.down();
    let outcome = result?;
    down.map_err(|error| format!("lab down: {error}"))?;
    Ok(outcome)
}

struct Trial<'a> {
    settings: &'a Settings,
    plan: &'a Plan,
    /// Declared before `lab`, so a trial dropped early (Ctrl-C, an error) stops its daemon first:
    /// a daemon still running while the lab goes down would start a node the teardown had
    /// already stopped (a restart in flight), and that server would outlive the trial.
    daemon: Option<Daemon>,
    lab: LabGuard,
    logs: PathBuf,
    incarnations: usize,
    /// When a killed daemon is to be started again.
    restart_at: Option<Instant>,
    applied: Vec<String>,
    /// Standbys the trial stopped.
    stopped: Vec<String>,
    started: Instant,
}

impl Trial<'_> {
    async fn run(&mut self, topology: &Topology) -> Result<Outcome, String> {
        let primary = topology
            .primary()
            .ok_or("the topology has no primary")?
            .name
            .clone();
        let before = self.data_dirs();
        self.start_daemon().await?;
        self.started = Instant::now();
        let clients = Clients::start(
            &self.lab,
            &primary,
            self.logs.join("acks.tsv"),
            self.started,
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while clients.acknowledged() < WARM_UP_ACKS {
            if Instant::now() > deadline {
                return Err(format!(
                    "the writer had {} commits acknowledged within 30 s, not {WARM_UP_ACKS}",
                    clients.acknowledged()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let base = Instant::now();
        for (when, step) in &self.plan.faults {
            match when {
                When::At(ms) => self.pause_until(base + Duration::from_millis(*ms)).await?,
                When::DuringFailover(delay) => {
                    match self.wait_for_failover().await? {
                        Some(at) => self.note(&format!("a failover began at +{at} ms")),
                        None => self.note(&format!(
                            "no failover began within {FAILOVER_WAIT:?}: applied anyway"
                        )),
                    }
                    self.pause_until(Instant::now() + Duration::from_millis(*delay))
                        .await?;
                }
            }
            self.apply(step).await?;
        }
        self.pause_until(Instant::now() + self.settings.hold)
            .await?;
        self.heal().await?;
        let (settled, writable) = self.settle(&clients).await;
        let record = clients.stop().await;

        let (lost, counted_on) = self.lost(settled.as_deref(), &record.acknowledged).await;
        let (intents, escalations) = self.journal()?;
        let after = self.data_dirs();
        let mut actions = BTreeMap::new();
        for intent in intents.iter().filter(|intent| intent.actor == "daemon") {
            *actions.entry(intent.action.clone()).or_insert(0) += 1;
        }
        let budget = hadome_core::estate::Budget::default();
        Ok(Outcome {
            plan: self.plan.clone(),
            applied: std::mem::take(&mut self.applied),
            acknowledged: record.acknowledged.len(),
            unknown: record.unknown,
            sampled: record.sampled,
            lost,
            counted_on,
            two_writers: verdict::two_writers(&record.commits),
            overwritten: verdict::overwritten(&before, &after, &intents),
            end: End::of(settled, writable, escalations),
            over_budget: verdict::over_budget(
                &intents,
                Budget {
                    restarts_per_target: budget.restarts_per_target as usize,
                    rebuilds_per_target: budget.rebuilds_per_target as usize,
                    failovers: budget.failovers as usize,
                },
            ),
            actions,
            seconds: self.started.elapsed().as_secs_f64(),
            logs: self.logs.clone(),
        })
    }

    fn at_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn note(&mut self, text: &str) {
        let line = format!("+{} ms {text}", self.at_ms());
        self.applied.push(line);
    }

    async fn start_daemon(&mut self) -> Result<(), String> {
        self.incarnations += 1;
        let mut daemon = Daemon::start(
            &self.settings.hadome,
            self.lab.dir(),
            &self.logs,
            self.incarnations,
        )?;
        let result = daemon
            .wait_healthy(self.lab.topology(), Duration::from_secs(60))
            .await;
        // A daemon started after a kill may find the cluster mid-failover, not healthy: that is
        // not the harness's failure; it only waits for the first one.
        if self.incarnations == 1 {
            result?;
        }
        self.daemon = Some(daemon);
        self.restart_at = None;
        Ok(())
    }

    /// Sleeps until `deadline`, starting a killed daemon again when its moment comes first.
    async fn pause_until(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            match self.restart_at {
                Some(at) if at <= deadline => {
                    tokio::time::sleep_until(at.into()).await;
                    self.start_daemon_again().await?;
                }
                _ => {
                    tokio::time::sleep_until(deadline.into()).await;
                    return Ok(());
                }
            }
        }
    }

    async fn start_daemon_again(&mut self) -> Result<(), String> {
        self.note(&format!(
            "daemon started again (#{})",
            self.incarnations + 1
        ));
        self.incarnations += 1;
        let daemon = Daemon::start(
            &self.settings.hadome,
            self.lab.dir(),
            &self.logs,
            self.incarnations,
        )?;
        self.daemon = Some(daemon);
        self.restart_at = None;
        Ok(())
    }

    /// Waits for a `promote` intent journaled after the trial started; its moment, or `None`.
    async fn wait_for_failover(&mut self) -> Result<Option<u64>, String> {
        let deadline = Instant::now() + FAILOVER_WAIT;
        while Instant::now() < deadline {
            let (intents, _) = self.journal()?;
            if intents.iter().any(|intent| intent.action == "promote") {
                return Ok(Some(self.at_ms()));
            }
            let next = Instant::now() + Duration::from_millis(20);
            self.pause_until(next).await?;
        }
        Ok(None)
    }

    async fn status(&self) -> Option<LabStatus> {
        tokio::time::timeout(Duration::from_secs(10), self.lab.status())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The member a role names now.
    async fn resolve(&self, who: Who) -> Option<String> {
        let status = self.status().await?;
        let primary = status
            .nodes
            .iter()
            .find(|node| node.live.as_ref().is_some_and(|live| !live.in_recovery))
            .or_else(|| status.nodes.iter().find(|node| node.upstream.is_none()))
            .map(|node| node.name.clone())?;
        match who {
            Who::Primary => Some(primary),
            Who::Standby(k) => {
                let standbys: Vec<String> = status
                    .nodes
                    .iter()
                    .filter(|node| node.name != primary)
                    .map(|node| node.name.clone())
                    .collect();
                (!standbys.is_empty()).then(|| standbys[k % standbys.len()].clone())
            }
        }
    }

    async fn apply(&mut self, step: &Step) -> Result<(), String> {
        let fault = match *step {
            Step::KillDaemon { restart_after_ms } => {
                match self.daemon.take() {
                    Some(daemon) => {
                        daemon.kill_9();
                        self.restart_at =
                            Some(Instant::now() + Duration::from_millis(restart_after_ms));
                        self.note(&format!("{step}: killed"));
                    }
                    None => self.note(&format!("{step}: skipped, the daemon is already down")),
                }
                return Ok(());
            }
            Step::Crash(who) | Step::Hang(who) | Step::HangPostmaster(who) | Step::Isolate(who) => {
                let Some(node) = self.resolve(who).await else {
                    self.note(&format!(
                        "{step}: skipped, no member answered to resolve it"
                    ));
                    return Ok(());
                };
                match step {
                    Step::Crash(_) => Fault::Crash(node),
                    Step::Hang(_) => Fault::Hang(node),
                    Step::HangPostmaster(_) => Fault::HangPostmaster(node),
                    _ => Fault::Isolate(node),
                }
            }
            Step::Stop(k) | Step::Stall(k) => {
                let node = if matches!(step, Step::Stall(_)) {
                    self.slotless(k)
                } else {
                    self.resolve(Who::Standby(k)).await
                };
                let Some(node) = node else {
                    self.note(&format!("{step}: skipped, no such standby now"));
                    return Ok(());
                };
                if matches!(step, Step::Stop(_)) {
                    self.stopped.push(node.clone());
                    Fault::Stop(node)
                } else {
                    Fault::Stall(node)
                }
            }
            Step::Cut(k) => {
                let links: Vec<(String, String)> = match self.status().await {
                    Some(status) => status
                        .links
                        .iter()
                        .filter(|link| !link.cut)
                        .map(|link| (link.upstream.clone(), link.standby.clone()))
                        .collect(),
                    None => Vec::new(),
                };
                if links.is_empty() {
                    self.note(&format!("{step}: skipped, no link to cut"));
                    return Ok(());
                }
                let (upstream, standby) = links[k % links.len()].clone();
                Fault::Cut { upstream, standby }
            }
            Step::Resume | Step::Heal | Step::Rejoin => {
                let undo = self.undoing(step.kind()).await;
                if undo.is_empty() {
                    self.note(&format!("{step}: nothing to undo"));
                }
                for fault in undo {
                    self.apply_fault(&fault, step).await;
                }
                return Ok(());
            }
        };
        self.apply_fault(&fault, step).await;
        Ok(())
    }

    /// `stall`'s victims ([`stallable`]), in topology order.
    fn slotless(&self, k: usize) -> Option<String> {
        let topology = Topology::resolve(self.plan.topology).ok()?;
        let slotless: Vec<String> = topology
            .nodes
            .iter()
            .filter(|node| stallable(node))
            .map(|node| node.name.clone())
            .collect();
        (!slotless.is_empty()).then(|| slotless[k % slotless.len()].clone())
    }

    async fn apply_fault(&mut self, fault: &Fault, step: &Step) {
        let started = self.at_ms();
        // A fault verifies its effect before it returns; one whose effect never comes (a stall
        // of a standby the daemon is rebuilding meanwhile) is given up after FAULT_BOUND: what it
        // left half-done (a cut link) the heal undoes.
        let result = tokio::time::timeout(FAULT_BOUND, self.lab.fault(fault)).await;
        let took = self.at_ms() - started;
        let line = match result {
            Ok(Ok(_)) => format!("{step}: {fault:?} applied in {took} ms"),
            Ok(Err(error)) => format!("{step}: {fault:?} skipped: {error}"),
            Err(_) => {
                format!("{step}: {fault:?} given up: no verified effect within {FAULT_BOUND:?}")
            }
        };
        self.applied.push(format!("+{started} ms {line}"));
    }

    /// The faults that undo `resume`, `heal` or `rejoin`'s kind of harm, as the lab is now.
    async fn undoing(&self, kind: &str) -> Vec<Fault> {
        let Some(status) = self.status().await else {
            return Vec::new();
        };
        match kind {
            "resume" => status
                .nodes
                .iter()
                .filter(|node| node.process.starts_with("hung"))
                .map(|node| Fault::Resume(node.name.clone()))
                .collect(),
            "heal" => status
                .links
                .iter()
                .filter(|link| link.cut)
                .map(|link| Fault::Heal {
                    upstream: link.upstream.clone(),
                    standby: link.standby.clone(),
                })
                .collect(),
            _ => status
                .nodes
                .iter()
                .filter(|node| node.isolated)
                .map(|node| Fault::Rejoin(node.name.clone()))
                .collect(),
        }
    }

    /// Undoes what the faults left: the daemon back, hung members resumed, links healed,
    /// isolated members rejoined, stopped standbys started.
    async fn heal(&mut self) -> Result<(), String> {
        if self.daemon.is_none() {
            self.start_daemon_again().await?;
        }
        for kind in ["resume", "heal", "rejoin"] {
            for fault in self.undoing(kind).await {
                let step = match kind {
                    "resume" => Step::Resume,
                    "heal" => Step::Heal,
                    _ => Step::Rejoin,
                };
                self.apply_fault(&fault, &step).await;
            }
        }
        let stopped = std::mem::take(&mut self.stopped);
        if let Some(status) = self.status().await {
            for node in status
                .nodes
                .iter()
                .filter(|node| node.process == "stopped" && stopped.contains(&node.name))
            {
                self.apply_fault(&Fault::Start(node.name.clone()), &Step::Stop(0))
                    .await;
            }
        }
        self.note("healed");
        Ok(())
    }

    /// The members not in recovery now, each asked over its socket (1 s each, all at once).
    async fn writable(&self) -> Vec<String> {
        let mut asks = tokio::task::JoinSet::new();
        for node in self.lab.node_names() {
            let Ok(handle) = Lab::open(self.lab.dir()) else {
                continue;
            };
            asks.spawn(async move {
                let ask = async {
                    let client = handle.connect(&node).await.ok()?;
                    let row = client
                        .query_one("SELECT pg_is_in_recovery()", &[])
                        .await
                        .ok()?;
                    (!row.get::<_, bool>(0)).then_some(())
                };
                tokio::time::timeout(Duration::from_secs(1), ask)
                    .await
                    .ok()
                    .flatten()
                    .map(|()| node)
            });
        }
        let mut writable = Vec::new();
        while let Some(joined) = asks.join_next().await {
            if let Ok(Some(node)) = joined {
                writable.push(node);
            }
        }
        writable.sort();
        writable
    }

    /// Settled: one member not in recovery, the same for `stable`, acknowledging the writer's
    /// commits meanwhile. Returns it (or `None`) and the members writable at the end.
    async fn settle(&mut self, clients: &Clients) -> (Option<String>, Vec<String>) {
        let deadline = Instant::now() + self.settings.settle;
        let mut candidate: Option<(String, Instant, usize)> = None;
        let mut writable = Vec::new();
        while Instant::now() < deadline {
            writable = self.writable().await;
            let acks = clients.acknowledged();
            match (writable.as_slice(), &candidate) {
                ([one], Some((node, since, acks_then))) if one == node => {
                    if since.elapsed() >= self.settings.stable && acks > *acks_then {
                        let settled = one.clone();
                        self.note(&format!("settled: `{settled}` the one primary"));
                        return (Some(settled), writable);
                    }
                }
                ([one], _) => candidate = Some((one.clone(), Instant::now(), acks)),
                _ => candidate = None,
            }
            // The settle's poll interval, under its deadline.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.note(&format!("not settled: writable {writable:?}"));
        self.keep_status();
        (None, writable)
    }

    /// The acknowledged ids missing on the settled primary, or, with none, on every member (when
    /// every member answers: a down member's data is unavailable, not lost).
    async fn lost(&self, settled: Option<&str>, acknowledged: &[i64]) -> (Vec<i64>, String) {
        let members: Vec<String> = match settled {
            Some(primary) => vec![primary.to_owned()],
            None => self.lab.node_names(),
        };
        let mut present = HashSet::new();
        let mut answered = Vec::new();
        for node in &members {
            let read = async {
                let client = self.lab.connect(node).await.ok()?;
                let rows = client
                    .query(&format!("SELECT id FROM {ACK_TABLE}"), &[])
                    .await
                    .ok()?;
                Some(
                    rows.iter()
                        .map(|row| row.get::<_, i64>(0))
                        .collect::<Vec<i64>>(),
                )
            };
            if let Ok(Some(ids)) = tokio::time::timeout(Duration::from_secs(10), read).await {
                present.extend(ids);
                answered.push(node.clone());
            }
        }
        if answered.len() < members.len() {
            // A member that does not answer still has its data on its disk: what it holds is
            // unavailable until a person brings it back (the escalation says so), not lost.
            let silent: Vec<&String> = members
                .iter()
                .filter(|node| !answered.contains(node))
                .collect();
            return (
                Vec::new(),
                format!("nothing: not counted, {silent:?} did not answer"),
            );
        }
        let counted_on = match settled {
            Some(primary) => format!("`{primary}`"),
            None => format!("any member ({})", answered.join(", ")),
        };
        (verdict::lost(acknowledged, &present), counted_on)
    }

    /// The journal's intents and the escalations' messages.
    fn journal(&self) -> Result<(Vec<IntentSeen>, Vec<String>), String> {
        let path = self.lab.dir().join("hadome.sqlite");
        let journal = Journal::open(&path).map_err(|error| error.to_string())?;
        let events = journal
            .events_since(Timestamp(i64::MIN))
            .map_err(|error| error.to_string())?;
        let mut intents = Vec::new();
        for event in events.iter().filter(|event| event.kind == KIND_INTENT) {
            let Some(id) = event.body["intent"].as_i64() else {
                continue;
            };
            let actor = journal
                .intent(id)
                .map_err(|error| error.to_string())?
                .map(|record| record.actor)
                .unwrap_or_default();
            intents.push(IntentSeen {
                action: event.body["action"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                target: event.body["action"]["target"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                actor,
            });
        }
        let escalations = journal
            .escalations_since(Timestamp(0))
            .map_err(|error| error.to_string())?
            .into_iter()
            .map(|escalation| {
                format!(
                    "{} ({}): {}",
                    escalation.subject, escalation.rule, escalation.message
                )
            })
            .collect();
        Ok((intents, escalations))
    }

    /// Each member's data directory's inode (`None` when it has none).
    fn data_dirs(&self) -> BTreeMap<String, Option<u64>> {
        self.lab
            .node_names()
            .into_iter()
            .map(|node| {
                let inode = self
                    .lab
                    .data_dir(&node)
                    .ok()
                    .and_then(|dir| std::fs::metadata(dir).ok())
                    .map(|metadata| metadata.ino());
                (node, inode)
            })
            .collect()
    }

    /// `hadome status` as it stands, into the logs: what the daemon and the facts say of an
    /// estate that did not settle.
    fn keep_status(&self) {
        let output = std::process::Command::new(&self.settings.hadome)
            .arg("status")
            .arg("--config")
            .arg(self.lab.dir().join("estate.toml"))
            .env("NO_COLOR", "1")
            .output();
        if let Ok(output) = output {
            let mut text = output.stdout;
            text.extend_from_slice(&output.stderr);
            let _ = std::fs::write(self.logs.join("status.txt"), text);
        }
    }

    /// Copies the servers' logs and the proxy's into the trial's logs, before the lab goes.
    fn keep_server_logs(&self) {
        for node in self.lab.node_names() {
            if let Ok(log) = self.lab.log_file(&node) {
                let _ = std::fs::copy(&log, self.logs.join(format!("postgresql-{node}.log")));
            }
        }
        let _ = std::fs::copy(
            self.lab.dir().join("proxy.log"),
            self.logs.join("proxy.log"),
        );
        let _ = std::fs::copy(
            self.lab.dir().join("hadome.sqlite"),
            self.logs.join("journal.sqlite"),
        );
    }
}

/// The daemon logs of a trial, their last lines, for a failure report.
pub fn daemon_tails(logs: &Path) -> String {
    let mut out = String::new();
    for n in 1.. {
        let path = logs.join(format!("daemon-{n}.log"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            break;
        };
        out.push_str(&format!(
            "--- {} (last 15 lines)\n{}\n",
            path.display(),
            tail(&text, 15)
        ));
    }
    out
}

/// The plan for `seed`, drawn on the shapes of the built-in topologies.
pub fn plan(seed: u64) -> Result<Plan, String> {
    let mut shapes = BTreeMap::new();
    for name in crate::schedule::TOPOLOGIES {
        let topology = Topology::resolve(name).map_err(|error| error.to_string())?;
        let standbys = topology
            .nodes
            .iter()
            .filter(|node| node.upstream.is_some())
            .count();
        let slotless = topology.nodes.iter().filter(|node| stallable(node)).count();
        shapes.insert(
            name,
            crate::schedule::Shape {
                standbys,
                links: standbys,
                slotless,
            },
        );
    }
    Ok(crate::schedule::plan(seed, |name| shapes[name]))
}

/// Whether `stall` applies to `node`: a standby with no slot kept for it (so its upstream may
/// recycle the WAL it needs), and not synchronous (the stall's writes would wait for it).
fn stallable(node: &hadome_lab::NodeSpec) -> bool {
    node.upstream.is_some() && !node.slot && !node.synchronous
}
