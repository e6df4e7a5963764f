//! Several daemons, one actor, through etcd (issue 13 point 7, feature F28), on real PostgreSQL and
//! real etcd: the `pair-etcd` lab (db-1, db-2, three etcd members, etcd clients `d1` and `d2`).
//!
//! Two daemons "on two hosts": one estate (the lab's instances and cluster), two estate files that
//! differ only in their `journal` (each daemon its own SQLite file, as on its own host) and their
//! `[coordination] endpoints` (the lab's `d1` or `d2` routes, as each host's own network to etcd).
//! `isolate-client d1` then cuts one host off from etcd while the other still reaches it. etcd is
//! read with Debian's `etcdctl`, each call bounded; every wait polls with a deadline.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, KIND_INTENT};
use hadome_lab::{Fault, Lab};

use crate::support::{eventually, hadome_binary, lab, run_hadome, show};

/// How long any one thing may take before a test gives up on it.
const WAIT: Duration = Duration::from_secs(90);

/// The cluster of the `pair-etcd` lab's estate file.
const CLUSTER: &str = "pair-etcd";

/// `hadome daemon` on one "host": its own estate file, journal and log; ended by PID.
struct HostDaemon {
    name: String,
    child: Child,
    log: PathBuf,
    journal: PathBuf,
    exited: bool,
}

/// Writes `DIR/estate-NAME.toml`: the lab's estate with journal `hadome-NAME.sqlite`, failover on a
/// primary's crash, and `[coordination]` through etcd client `NAME`'s endpoints.
async fn estate_of_host(lab: &Lab, name: &str) -> PathBuf {
    let status = lab.status().await.expect("lab status");
    let client = status
        .etcd_clients
        .iter()
        .find(|client| client.name == name)
        .unwrap_or_else(|| panic!("no etcd client {name}"));
    let endpoints: Vec<String> = client
        .endpoints
        .iter()
        .map(|endpoint| format!("{endpoint:?}"))
        .collect();
    let text = std::fs::read_to_string(lab.dir().join("estate.toml")).expect("the estate file");
    assert!(text.contains("path = \"hadome.sqlite\""), "{text}");
    let text = text
        .replace(
            "path = \"hadome.sqlite\"",
            &format!("path = \"hadome-{name}.sqlite\""),
        )
        .replace(
            "on_primary_crash = \"restart\"",
            "on_primary_crash = \"failover\"",
        );
    let text = format!(
        "{text}\n[coordination]\nendpoints = [{}]\n",
        endpoints.join(", ")
    );
    let path = lab.dir().join(format!("estate-{name}.toml"));
    std::fs::write(&path, text).expect("the host's estate file");
    path
}

impl HostDaemon {
    async fn start(lab: &Lab, name: &str) -> HostDaemon {
        let config = estate_of_host(lab, name).await;
        let log = lab.dir().join(format!("daemon-{name}.log"));
        let file = std::fs::File::create(&log).expect("the daemon's log file");
        let child = Command::new(hadome_binary())
            .arg("daemon")
            .arg("--config")
            .arg(&config)
            .env_remove("HADOME_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file, again"))
            .stderr(file)
            .spawn()
            .expect("hadome daemon starts");
        HostDaemon {
            name: name.to_owned(),
            child,
            log,
            journal: lab.dir().join(format!("hadome-{name}.sqlite")),
            exited: false,
        }
    }

    /// How this daemon names itself as a lease holder (`HOSTNAME:PID`).
    fn holder(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}:{}", host.trim(), self.child.id())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL to the daemon");
        self.child.wait().expect("the killed daemon is reaped");
        self.exited = true;
    }

    /// The `promote` intents in this daemon's journal.
    fn promotes(&self) -> usize {
        if !self.journal.exists() {
            return 0;
        }
        let journal = Journal::open(&self.journal).expect("the daemon's journal");
        journal
            .events_since(Timestamp(i64::MIN))
            .expect("the journal's events")
            .into_iter()
            .filter(|event| event.kind == KIND_INTENT && event.body["action"]["name"] == "promote")
            .count()
    }

    /// Every intent in this daemon's journal.
    fn intents(&self) -> usize {
        if !self.journal.exists() {
            return 0;
        }
        let journal = Journal::open(&self.journal).expect("the daemon's journal");
        journal
            .events_since(Timestamp(i64::MIN))
            .expect("the journal's events")
            .into_iter()
            .filter(|event| event.kind == KIND_INTENT)
            .count()
    }

    /// Whether a `promote` intent of this daemon is closed.
    fn closed_promote(&self) -> bool {
        if !self.journal.exists() {
            return false;
        }
        let journal = Journal::open(&self.journal).expect("the daemon's journal");
        journal
            .events_since(Timestamp(i64::MIN))
            .expect("the journal's events")
            .into_iter()
            .filter(|event| event.kind == KIND_INTENT && event.body["action"]["name"] == "promote")
            .filter_map(|event| event.body["intent"].as_i64())
            .any(|id| {
                journal
                    .intent(id)
                    .ok()
                    .flatten()
                    .is_some_and(|intent| intent.outcome.is_some())
            })
    }
}

impl Drop for HostDaemon {
    fn drop(&mut self) {
        if !self.exited && matches!(self.child.try_wait(), Ok(None)) {
            // The child is not reaped yet, so its PID cannot have been reused.
            let _ = Command::new("kill")
                .args(["-s", "TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                // The interval between two checks whether it exited; the deadline bounds them.
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() || std::env::var_os("SHOW_DAEMON_LOG").is_some() {
            eprintln!(
                "--- daemon {} ({}):\n{}",
                self.name,
                self.log.display(),
                self.log()
            );
        }
    }
}

/// The value of `key` in etcd, if it exists.
fn etcd_value(lab: &Lab, key: &str) -> Option<String> {
    let output = etcdctl(lab, &["get", key, "--print-value-only"]);
    let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!value.is_empty()).then_some(value)
}

/// Waits until `daemon` holds the cluster's lease in etcd.
async fn holds_lease(lab: &Lab, daemon: &HostDaemon) {
    let holder = daemon.holder();
    wait(&format!("daemon {} to hold the lease", daemon.name), || {
        (etcd_value(lab, &format!("/hadome/lease/{CLUSTER}")).as_deref() == Some(holder.as_str()))
            .then_some(())
    })
    .await;
}

async fn wait<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    eventually(what, WAIT, || std::future::ready(check())).await
}

/// The nodes that answer as primaries.
async fn writable(lab: &Lab) -> Vec<String> {
    lab.status()
        .await
        .expect("lab status")
        .nodes
        .into_iter()
        .filter(|node| node.live.as_ref().is_some_and(|live| !live.in_recovery))
        .map(|node| node.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemons_lease_is_taken_by_the_other_within_its_ttl() {
    let lab = lab("pair-etcd").await;
    let mut first = HostDaemon::start(&lab, "d1").await;
    holds_lease(&lab, &first).await;
    let second = HostDaemon::start(&lab, "d2").await;
    wait("d2 to find it is not the cluster's actor", || {
        second
            .log()
            .contains("cluster `pair-etcd`: not-actor")
            .then_some(())
    })
    .await;
    assert_eq!(
        etcd_value(&lab, &format!("/hadome/lease/{CLUSTER}")),
        Some(first.holder()),
        "the lease stays with d1 while it lives"
    );
    first.kill_9();
    holds_lease(&lab, &second).await;
    assert!(second.log().contains("leases in etcd"), "{}", second.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_cut_off_from_etcd_stops_acting_and_the_other_fails_over_once() {
    let lab = lab("pair-etcd").await;
    let first = HostDaemon::start(&lab, "d1").await;
    holds_lease(&lab, &first).await;
    let second = HostDaemon::start(&lab, "d2").await;
    wait("d1 to act and d2 to stand by", || {
        (first.log().contains("cluster `pair-etcd`: healthy")
            && second.log().contains("cluster `pair-etcd`: not-actor"))
        .then_some(())
    })
    .await;

    lab.fault(&Fault::IsolateClient("d1".into())).await.unwrap();
    lab.fault(&Fault::Crash("db-1".into())).await.unwrap();

    wait("a failover to be closed", || {
        (first.closed_promote() || second.closed_promote()).then_some(())
    })
    .await;
    wait("d1 to log that it stopped acting", || {
        first.log().contains("STOPPED ACTING").then_some(())
    })
    .await;
    holds_lease(&lab, &second).await;
    assert_eq!(first.promotes(), 0, "the cut-off daemon did not act");
    assert_eq!(second.promotes(), 1, "exactly one failover, by d2");
    assert_eq!(
        writable(&lab).await,
        ["db-2"],
        "exactly one standby promoted"
    );

    // d1 back in touch with etcd: the lease is d2's, and nothing more is promoted.
    lab.fault(&Fault::RejoinClient("d1".into())).await.unwrap();
    wait("d1 to reach etcd again", || {
        first.log().contains("reachable again").then_some(())
    })
    .await;
    holds_lease(&lab, &second).await;
    assert_eq!(first.promotes() + second.promotes(), 1);
    assert_eq!(writable(&lab).await, ["db-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_refused_while_another_run_holds_the_cluster_in_etcd() {
    let lab = lab("pair-etcd").await;
    let config = estate_of_host(&lab, "d1").await;
    let config = config.to_str().expect("a UTF-8 path");
    // Another person's `hadome run` holds the cluster: the key PREFIX/hold/CLUSTER, written here
    // with etcdctl as that run writes it.
    let key = format!("/hadome/hold/{CLUSTER}");
    assert_eq!(etcd_value(&lab, &key), None);
    etcdctl(&lab, &["put", &key, "another person pid 1 on elsewhere"]);
    let output = run_hadome(&["run", "restart", "db-2", "--config", config], &[]);
    assert_eq!(output.status.code(), Some(4), "busy: {}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "is held by another `hadome run` (`another person pid 1 on elsewhere`, in etcd)"
        ),
        "{}",
        show(&output)
    );
    assert_eq!(
        etcd_value(&lab, &key).as_deref(),
        Some("another person pid 1 on elsewhere"),
        "the refused run changed nothing"
    );
}

/// A person's hold on the cluster in etcd, as `hadome run` takes it (`coordination/hold.rs`): the
/// key `PREFIX/hold/CLUSTER`, its value the person, on an etcd lease of its own. Revoked (as a
/// `run` does when it ends), the key goes with its lease.
struct PersonHold {
    lease: String,
}

impl PersonHold {
    fn take(lab: &Lab, holder: &str) -> PersonHold {
        // Longer than the test: a `run` keeps its lease alive while it runs.
        let granted = etcdctl(lab, &["lease", "grant", "600"]);
        let text = String::from_utf8_lossy(&granted.stdout);
        // `lease 694d8a2f1c3b5e07 granted with TTL(600s)`
        let lease = text
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no lease id in `{text}`"))
            .to_owned();
        etcdctl(
            lab,
            &[
                "put",
                &format!("--lease={lease}"),
                &format!("/hadome/hold/{CLUSTER}"),
                holder,
            ],
        );
        PersonHold { lease }
    }

    fn release(self, lab: &Lab) {
        etcdctl(lab, &["lease", "revoke", &self.lease]);
    }
}

/// When `daemon`'s journal last saw `instance` answer (milliseconds, the daemon's clock).
fn last_answer(daemon: &HostDaemon, instance: &str) -> Option<i64> {
    let journal = Journal::open(&daemon.journal).ok()?;
    let history = journal.history().ok()?;
    history
        .last_known
        .get(instance)
        .map(|known| known.observed_at.0)
}

/// A person's `hadome run` holds the cluster in etcd when its primary crashes: the daemon, which
/// holds the cluster's lease and fails over on a crash, observes passes past its detection window
/// with the primary down, promotes nothing and logs that the person holds it; once the hold is
/// released, it fails over, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_does_not_fail_over_a_cluster_a_person_holds_in_etcd_until_released() {
    let lab = lab("pair-etcd").await;
    let daemon = HostDaemon::start(&lab, "d1").await;
    holds_lease(&lab, &daemon).await;
    wait("the daemon to find the cluster healthy", || {
        daemon
            .log()
            .contains("cluster `pair-etcd`: healthy")
            .then_some(())
    })
    .await;

    let holder = "a person pid 4242 on elsewhere";
    let hold = PersonHold::take(&lab, holder);
    wait("the daemon to see the hold", || {
        daemon
            .log()
            .contains(&format!(
                "cluster `pair-etcd`: held: `{holder}` holds `pair-etcd` for `hadome run`"
            ))
            .then_some(())
    })
    .await;

    lab.fault(&Fault::Crash("db-1".into())).await.unwrap();
    // db-1's last answer as the daemon journaled it: settled once a pass a second later saw db-2
    // answer (passes are 0.5 s apart) and db-1 not.
    let crashed_seen = wait("a pass of the daemon without db-1", || {
        let db_1 = last_answer(&daemon, "db-1")?;
        (last_answer(&daemon, "db-2")? > db_1 + 1000).then_some(db_1)
    })
    .await;
    // The cluster's `detection_seconds` is 0.75 s: wait until the daemon has seen db-2 answer
    // (a pass) well past that (4.5 s), by its own clock, with db-1 down all along.
    let past_detection = crashed_seen + 3 * 1500;
    wait("the daemon to pass beyond its detection window", || {
        (last_answer(&daemon, "db-2")? > past_detection).then_some(())
    })
    .await;
    assert_eq!(
        last_answer(&daemon, "db-1"),
        Some(crashed_seen),
        "db-1 stayed down"
    );
    assert_eq!(
        daemon.promotes(),
        0,
        "no failover while held: {}",
        daemon.log()
    );
    assert!(writable(&lab).await.is_empty(), "nothing was promoted");
    assert_eq!(
        daemon.intents(),
        0,
        "nor anything else done (a restart in place): {}",
        daemon.log()
    );

    hold.release(&lab);
    wait("the failover, once the hold is released", || {
        daemon.closed_promote().then_some(())
    })
    .await;
    assert_eq!(daemon.promotes(), 1, "one failover: {}", daemon.log());
    assert_eq!(writable(&lab).await, ["db-2"]);
}

/// A successful `hadome run restart db-2` under `[coordination]` puts its hold in etcd while it runs
/// (the person, with the run's PID) and deletes it when it ends: etcd's own history of the key,
/// replayed by a watch from the revision before the run, shows the put then the delete, and the key
/// is gone after exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_holds_the_cluster_in_etcd_while_it_runs_and_releases_it_after() {
    let lab = lab("pair-etcd").await;
    let config = estate_of_host(&lab, "d1").await;
    let key = format!("/hadome/hold/{CLUSTER}");
    let before = etcdctl(&lab, &["get", &key, "-w", "json"]);
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).expect("etcd's JSON");
    assert!(before["kvs"].is_null(), "no hold before the run: {before}");
    let revision = before["header"]["revision"]
        .as_i64()
        .expect("the store's revision");

    let run = Command::new(hadome_binary())
        .args(["run", "restart", "db-2", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hadome run starts");
    let pid = run.id();
    let output = run.wait_with_output().expect("hadome run ends");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(
        etcd_value(&lab, &key),
        None,
        "the hold is gone after the run"
    );

    // etcd's history of the key since just before the run.
    let events = watch_history(&lab, &key, revision + 1, "DELETE");
    let put = events
        .iter()
        .position(|line| line == "PUT")
        .unwrap_or_else(|| panic!("no put of the hold: {events:?}"));
    assert_eq!(events.get(put + 1), Some(&key));
    assert!(
        events
            .get(put + 2)
            .is_some_and(|value| value.contains(&format!("pid {pid} on"))),
        "the hold names the run: {events:?}"
    );
    let delete = events.iter().position(|line| line == "DELETE").unwrap();
    assert!(put < delete, "put, then deleted: {events:?}");
}

/// `etcdctl watch --rev=REVISION KEY`: the key's events since `revision`, read until a line
/// `until` (bounded); the watch is then ended by PID.
fn watch_history(lab: &Lab, key: &str, revision: i64, until: &str) -> Vec<String> {
    use std::io::BufRead;
    let endpoints = shared_endpoints(lab);
    let mut watch = Command::new("timeout")
        .args(["30", "etcdctl", "--endpoints", &endpoints.join(",")])
        .args([
            "--dial-timeout=2s",
            "watch",
            &format!("--rev={revision}"),
            key,
        ])
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcdctl watch starts");
    let stdout = watch.stdout.take().expect("the watch's output");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let done = line == until;
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        lines.iter().any(|line| line == until),
        "the watch from revision {revision} showed no {until} within 30 s: {lines:?}"
    );
    lines
}

/// The members' shared client endpoints, from the lab's estate file.
fn shared_endpoints(lab: &Lab) -> Vec<String> {
    std::fs::read_to_string(lab.dir().join("estate.toml"))
        .expect("the estate file")
        .lines()
        .filter_map(|line| line.strip_prefix("endpoints = [\""))
        .filter_map(|rest| rest.strip_suffix("\"]"))
        .map(str::to_owned)
        .collect()
}

/// `etcdctl ARGS` at the members' shared endpoints, bounded; it must succeed.
fn etcdctl(lab: &Lab, args: &[&str]) -> Output {
    let endpoints = shared_endpoints(lab);
    let output = Command::new("timeout")
        .args(["10", "etcdctl", "--endpoints", &endpoints.join(",")])
        .args(["--dial-timeout=2s", "--command-timeout=2s"])
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl runs (scripts/setup.sh installs etcd-client)");
    assert!(
        output.status.success(),
        "etcdctl {args:?}: {}",
        show(&output)
    );
    output
}
