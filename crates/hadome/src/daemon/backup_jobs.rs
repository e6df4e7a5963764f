//! The daemon's scheduled backup jobs: `hadome backup run` and `hadome backup restore-test` on
//! each backup's schedule (`every_seconds`, `restore_test_every_seconds`).
//!
//! When a job is due is the core's decision ([`due_job`]); this shell starts each as a child
//! process — the same `hadome backup …` a person runs, so it journals, verifies, moves aside and
//! escalates exactly as it does by hand — and never waits on it inside a pass: a dump that takes
//! an hour does not stall supervision. Each pass reaps the jobs that ended and logs how; the
//! child's report lines go to the daemon's log. At most one job per backup runs at a time, and
//! only in the daemon that holds the backup's journal lease (`backup:NAME`, `single-actor`).
//!
//! When the daemon stops, it sends each running job SIGTERM (by PID) and waits for it up to
//! [`STOP_GRACE`]: `backup run` then kills its command, moves the partial output aside and
//! journals the interrupted run; `restore-test` tears its scratch server down. A job still running
//! after the grace is killed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hadome_core::backup::{due_job, BackupJob, JobsState};
use hadome_core::estate::Estate;
use hadome_core::fact::{History, Timestamp};
use hadome_core::finding::human_duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::backup_facts::{observe_backups, BackupReading};
use crate::clock::wall_clock;

/// How long a stopping daemon waits for its running jobs to end after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// One job running as a child process.
struct Running {
    job: BackupJob,
    child: Child,
    pid: Option<u32>,
    since: Instant,
}

/// The daemon's backup jobs: those running, and when each kind last started.
pub(crate) struct BackupJobs {
    config: PathBuf,
    hadome: Option<PathBuf>,
    running: BTreeMap<String, Running>,
    started: BTreeMap<(String, BackupJob), Timestamp>,
}

impl BackupJobs {
    /// Jobs that run `hadome backup … --config config` (this very binary).
    pub(crate) fn new(config: PathBuf) -> BackupJobs {
        BackupJobs {
            config,
            hadome: std::env::current_exe().ok(),
            running: BTreeMap::new(),
            started: BTreeMap::new(),
        }
    }

    /// Whether any backup of `estate` is on a schedule.
    pub(crate) fn scheduled(estate: &Estate) -> bool {
        estate.backups.iter().any(|backup| {
            backup.every_seconds.is_some() || backup.restore_test_every_seconds.is_some()
        })
    }

    /// Reaps the jobs that ended, then starts the ones due now of the backups whose lease this
    /// daemon holds (`held`): a second daemon on the same estate runs none of them.
    pub(crate) async fn tend(
        &mut self,
        estate: &Estate,
        history: &History,
        held: &dyn Fn(&str) -> bool,
    ) {
        self.reap();
        if !Self::scheduled(estate) {
            return;
        }
        let (observations, _) = observe_backups(estate, BackupReading::ListOnly).await;
        let now = wall_clock();
        for backup in estate.backups.iter().filter(|backup| held(&backup.name)) {
            let jobs = JobsState {
                running: self.running.contains_key(&backup.name),
                make_started: self
                    .started
                    .get(&(backup.name.clone(), BackupJob::Make))
                    .copied(),
                test_started: self
                    .started
                    .get(&(backup.name.clone(), BackupJob::RestoreTest))
                    .copied(),
            };
            let due = due_job(
                backup,
                observations.get(&backup.name),
                history.backups.get(&backup.name),
                &jobs,
                now,
            );
            if let Some((job, why)) = due {
                self.started.insert((backup.name.clone(), job), now);
                self.start(&backup.name, job, &why);
            }
        }
    }

    fn start(&mut self, backup: &str, job: BackupJob, why: &str) {
        let Some(hadome) = &self.hadome else {
            tracing::error!(
                backup,
                job = job.as_str(),
                "backup `{backup}`: {} is due ({why}), but the daemon cannot find its own binary to run it",
                job.as_str()
            );
            return;
        };
        let subcommand = match job {
            BackupJob::Make => "run",
            BackupJob::RestoreTest => "restore-test",
        };
        let mut command = tokio::process::Command::new(hadome);
        command
            .args(["backup", subcommand, backup, "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // The daemon's failpoint is the daemon's: a job must not kill itself at it.
            .env_remove(crate::failpoint::VARIABLE)
            // A job outlives a dropped handle only until `stop` ends it by PID.
            .kill_on_drop(false);
        match command.spawn() {
            Ok(mut child) => {
                let pid = child.id();
                tracing::info!(
                    backup,
                    job = job.as_str(),
                    pid,
                    "backup `{backup}`: {} started (pid {}): {why}",
                    job.as_str(),
                    pid.map_or_else(|| "?".to_owned(), |pid| pid.to_string())
                );
                if let Some(stdout) = child.stdout.take() {
                    let name = backup.to_owned();
                    tokio::spawn(async move {
                        let mut lines = BufReader::new(stdout).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if !line.trim().is_empty() {
                                tracing::info!(backup = name, "backup `{name}`: | {line}");
                            }
                        }
                    });
                }
                self.running.insert(
                    backup.to_owned(),
                    Running {
                        job,
                        child,
                        pid,
                        since: Instant::now(),
                    },
                );
            }
            Err(error) => tracing::error!(
                backup,
                job = job.as_str(),
                "backup `{backup}`: {} is due ({why}), but `{}` could not start: {error}",
                job.as_str(),
                hadome.display()
            ),
        }
    }

    /// Logs and forgets the jobs that ended.
    fn reap(&mut self) {
        let mut ended = Vec::new();
        for (backup, running) in &mut self.running {
            match running.child.try_wait() {
                Ok(Some(status)) => {
                    let text = format!(
                        "backup `{backup}`: {} (pid {}) ended after {}: {}",
                        running.job.as_str(),
                        running
                            .pid
                            .map_or_else(|| "?".to_owned(), |pid| pid.to_string()),
                        human_duration(running.since.elapsed().as_secs_f64()),
                        outcome(running.job, status.code())
                    );
                    log_ended(backup, running.job, status.code(), &text);
                    ended.push(backup.clone());
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(
                        backup,
                        job = running.job.as_str(),
                        "backup `{backup}`: cannot tell whether {} ended ({error}); forgetting it",
                        running.job.as_str()
                    );
                    ended.push(backup.clone());
                }
            }
        }
        for backup in ended {
            self.running.remove(&backup);
        }
    }

    /// Ends every running job: SIGTERM by PID, up to [`STOP_GRACE`] to end, then SIGKILL.
    pub(crate) async fn stop(&mut self) {
        if self.running.is_empty() {
            return;
        }
        for (backup, running) in &self.running {
            if let Some(pid) = running.pid.and_then(|pid| i32::try_from(pid).ok()) {
                tracing::info!(
                    backup,
                    job = running.job.as_str(),
                    pid,
                    "backup `{backup}`: stopping {} (pid {pid}): SIGTERM, up to {} to end",
                    running.job.as_str(),
                    human_duration(STOP_GRACE.as_secs_f64())
                );
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for (backup, running) in &mut self.running {
            match tokio::time::timeout_at(deadline, running.child.wait()).await {
                Ok(Ok(status)) => {
                    let text = format!(
                        "backup `{backup}`: {} stopped: {}",
                        running.job.as_str(),
                        outcome(running.job, status.code())
                    );
                    log_ended(backup, running.job, status.code(), &text);
                }
                Ok(Err(error)) => tracing::warn!(
                    backup,
                    job = running.job.as_str(),
                    "backup `{backup}`: waiting for {} failed: {error}",
                    running.job.as_str()
                ),
                Err(_) => {
                    tracing::warn!(
                        backup,
                        job = running.job.as_str(),
                        "backup `{backup}`: {} did not end within {}: killing it",
                        running.job.as_str(),
                        human_duration(STOP_GRACE.as_secs_f64())
                    );
                    let _ = running.child.kill().await;
                }
            }
        }
        self.running.clear();
    }
}

/// What a job's exit code means (`hadome backup …`'s exit codes).
/// A job's end: info when it did its work (or found another run at it), a warning otherwise (a
/// failed copy or restore test is journaled and escalated by the job itself).
fn log_ended(backup: &str, job: BackupJob, code: Option<i32>, text: &str) {
    let job = job.as_str();
    match code {
        Some(0) => tracing::info!(backup, job, outcome = "ok", "{text}"),
        Some(4) => tracing::info!(backup, job, outcome = "busy", "{text}"),
        _ => tracing::warn!(backup, job, outcome = "failed", "{text}"),
    }
}

fn outcome(job: BackupJob, code: Option<i32>) -> String {
    match (job, code) {
        (BackupJob::Make, Some(0)) => "a copy was made and kept".to_owned(),
        (BackupJob::Make, Some(1)) => {
            "it kept nothing (journaled as backup-failed, and escalated)".to_owned()
        }
        (BackupJob::RestoreTest, Some(0)) => "the restore test passed".to_owned(),
        (BackupJob::RestoreTest, Some(1)) => {
            "the restore test FAILED (journaled, and escalated)".to_owned()
        }
        (BackupJob::Make, Some(4)) => {
            "another run is making a copy of it already (busy): nothing was done".to_owned()
        }
        (_, Some(code)) => format!("it could not run (exit {code}; its error is logged above)"),
        (_, None) => "it was killed by a signal".to_owned(),
    }
}
