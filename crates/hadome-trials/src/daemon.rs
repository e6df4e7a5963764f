//! The supervising `hadome daemon`, started, killed with SIGKILL and started again by PID.
//!
//! Each incarnation logs to `DIR/daemon-N.log`; the trial reads them when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One incarnation of the daemon.
pub struct Daemon {
    child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `hadome daemon --config DIR/estate.toml`, logging to `logs/daemon-N.log`.
    pub fn start(hadome: &Path, lab_dir: &Path, logs: &Path, n: usize) -> Result<Daemon, String> {
        let log = logs.join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log)
            .map_err(|error| format!("creating {}: {error}", log.display()))?;
        let stdout = file
            .try_clone()
            .map_err(|error| format!("opening {} again: {error}", log.display()))?;
        let child = Command::new(hadome)
            .arg("daemon")
            .arg("--config")
            .arg(lab_dir.join("estate.toml"))
            .env_remove("HADOME_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .map_err(|error| format!("starting {} daemon: {error}", hadome.display()))?;
        Ok(Daemon { child, log })
    }

    /// Waits until its log says `cluster` is healthy (its first pass is done).
    pub async fn wait_healthy(&mut self, cluster: &str, timeout: Duration) -> Result<(), String> {
        let needle = format!("cluster `{cluster}`: healthy");
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(&needle) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the daemon exited ({status}) before finding `{cluster}` healthy:\n{}",
                    tail(&text, 20)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon did not find `{cluster}` healthy within {timeout:?}:\n{}",
                    tail(&text, 20)
                ));
            }
            // Poll interval under the deadline above.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// kill -9, and reaps it.
    pub fn kill_9(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; reaps it.
    pub async fn stop(mut self, grace: Duration) {
        if self.running() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + grace;
            while self.running() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.kill_9();
    }
}

impl Drop for Daemon {
    /// A trial that ends early (an error, Ctrl-C) leaves no daemon behind, and nothing the daemon
    /// started: SIGTERM first, which it obeys between passes, so a command it runs (a restart of
    /// a node) ends before the lab goes down; SIGKILL after [`DROP_GRACE`].
    fn drop(&mut self) {
        if self.running() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + DROP_GRACE;
            while self.running() && Instant::now() < deadline {
                // Poll interval under the deadline above (a destructor cannot await).
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.end();
    }
}

/// How long a dropped daemon may take to finish its pass after SIGTERM.
const DROP_GRACE: Duration = Duration::from_secs(15);

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
