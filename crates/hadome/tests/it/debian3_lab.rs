//! `hadome lab up debian3` (issue 15 point 4): three real systemd hosts, each running Debian's own
//! `postgresql@15-main` under its own systemd, reached over a real sshd through the lab proxy,
//! replicating db-1 → db-2 (synchronous) and db-1 → db-3 (asynchronous); the faults work by PID on
//! the hosted nodes, and teardown leaves nothing. Through the real binary; one lab for the whole
//! feature (a lab is three containers of 520 MB each). A guard tears the lab down by PID even
//! when the test fails. Waits poll with deadlines.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use hadome_lab::Lab;

use crate::support::{
    describe, eventually, run_hadome, scratch, show, value, wait_for_row, write_row,
};

/// The lab, brought up by the real binary; dropped, it is torn down by PID.
pub(crate) struct Debian3 {
    pub(crate) dir: PathBuf,
    scratch: tempfile::TempDir,
}

impl Debian3 {
    pub(crate) fn up() -> Debian3 {
        let scratch = scratch();
        let dir = scratch.path().join("lab");
        let lab = Debian3 {
            dir: dir.clone(),
            scratch,
        };
        let output = run_hadome(&["lab", "up", "debian3", "--dir", lab.dir_text()], &[]);
        assert!(output.status.success(), "lab up debian3: {}", show(&output));
        lab
    }

    pub(crate) fn dir_text(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 scratch path")
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        let output = run_hadome(&["lab", "status", "--dir", self.dir_text(), "--json"], &[]);
        assert!(output.status.success(), "lab status: {}", show(&output));
        serde_json::from_slice(&output.stdout).expect("status JSON")
    }

    fn fault(&self, words: &[&str]) -> Output {
        let mut args = vec!["lab", "fault", "--dir", self.dir_text()];
        args.extend_from_slice(words);
        run_hadome(&args, &[])
    }

    pub(crate) fn fault_ok(&self, words: &[&str]) -> String {
        let output = self.fault(words);
        assert!(
            output.status.success(),
            "fault {words:?}: {}",
            show(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn ssh_port(&self, host: &str) -> u16 {
        let status = self.status();
        let hosts = status["hosts"].as_array().expect("hosts");
        let found = hosts
            .iter()
            .find(|entry| entry["name"] == host)
            .unwrap_or_else(|| panic!("host {host} in {status}"));
        u16::try_from(found["ssh_port"].as_u64().expect("an SSH port")).unwrap()
    }

    /// `ssh` as a person would: the lab's key, the given known hosts, strict checking, no prompt.
    fn ssh(&self, host: &str, known_hosts: &Path, command: &str) -> Output {
        let port = self.ssh_port(host).to_string();
        let identity = self.dir.join("ssh/id_ed25519");
        std::process::Command::new("ssh")
            .arg("-i")
            .arg(&identity)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=20",
                "-p",
                &port,
                "root@127.0.0.1",
                command,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh runs")
    }

    pub(crate) fn ssh_ok(&self, host: &str, command: &str) -> String {
        let output = self.ssh(host, &self.dir.join("ssh/known_hosts"), command);
        assert!(
            output.status.success(),
            "ssh {host} {command}: {}",
            show(&output)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Debian3 {
    fn drop(&mut self) {
        if self.dir.join("lab.json").exists() {
            if let Ok(lab) = Lab::open(&self.dir) {
                if let Err(error) = lab.down() {
                    eprintln!("teardown of {}: {error}", self.dir.display());
                }
            }
        }
    }
}

/// `/proc/PID/stat`'s state letter, when the process exists.
fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

fn alive(pid: i32) -> bool {
    state_of(pid).is_some_and(|state| state != 'Z' && state != 'X')
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// Every process on the machine whose command line holds `needle`.
fn processes_naming(needle: &str) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| alive(*pid))
        .map(|pid| (pid, cmdline(pid)))
        .filter(|(_, line)| line.contains(needle))
        .collect()
}

/// db-1's `pg_stat_replication`: (application_name, state, sync_state), by name.
async fn replication(lab: &Lab) -> Vec<(String, String, String)> {
    let client = lab
        .connect_client("db-1")
        .await
        .unwrap_or_else(|error| panic!("connect to db-1: {}", describe(&error)));
    let rows = client
        .query(
            "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1",
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("pg_stat_replication: {}", describe(&error)));
    rows.iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian3_runs_debian_postgresql_under_systemd_over_ssh_and_faults_work_by_pid() {
    let lab = Debian3::up();
    let handle = Lab::open(&lab.dir).unwrap();

    // Each host runs Debian's unit under its own systemd, reached over real SSH with the lab's
    // key, its host key checked against the lab's known_hosts.
    for (host, node) in [("host-1", "db-1"), ("host-2", "db-2"), ("host-3", "db-3")] {
        assert_eq!(
            lab.ssh_ok(host, "systemctl is-active postgresql@15-main"),
            "active"
        );
        assert_eq!(lab.ssh_ok(host, "hostname"), host);
        // Its network is the lab's namespace: loopback alone.
        let links = lab.ssh_ok(host, "ip -brief link");
        assert!(
            links.starts_with("lo ") && links.lines().count() == 1,
            "{links}"
        );
        let client = handle.connect_client(node).await.unwrap();
        let data_directory = value(&client, node, "SHOW data_directory").await;
        assert_eq!(
            data_directory.as_deref(),
            Some("/var/lib/postgresql/15/main")
        );
        // Its process titles are the lab's: unique on the machine, as `instance_pids` needs.
        let cluster_name = value(&client, node, "SHOW cluster_name").await.unwrap();
        assert!(
            cluster_name.starts_with("hadome-lab-") && cluster_name.ends_with(node),
            "{cluster_name}"
        );
    }
    // The postmaster is the host's `postgres`, never root, and the lab knows it by machine PID.
    let postmaster = handle.postmaster_pid("db-1").unwrap().expect("db-1 runs");
    assert!(
        cmdline(postmaster).contains("-D /var/lib/postgresql/15/main"),
        "{}",
        cmdline(postmaster)
    );
    let status = std::fs::read_to_string(format!("/proc/{postmaster}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().next())
        .unwrap();
    assert_ne!(uid, "0", "PostgreSQL never runs as root");

    // A wrong host key in known_hosts: ssh refuses, so the check is real.
    let other = lab.scratch.path().join("other_key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", show(&keygen));
    let public = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    let wrong = lab.scratch.path().join("wrong_known_hosts");
    let port = lab.ssh_port("host-1");
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{port} {} {}\n", key[0], key[1]),
    )
    .unwrap();
    let refused = lab.ssh("host-1", &wrong, "systemctl is-active postgresql@15-main");
    assert_eq!(refused.status.code(), Some(255), "{}", show(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Host key verification failed")
            || stderr.contains("IDENTIFICATION HAS CHANGED"),
        "{stderr}"
    );

    // db-2 streams synchronously and db-3 asynchronously from db-1; a write on db-1 is read on db-3.
    assert_eq!(
        replication(&handle).await,
        vec![
            ("db-2".to_owned(), "streaming".to_owned(), "sync".to_owned()),
            (
                "db-3".to_owned(),
                "streaming".to_owned(),
                "async".to_owned()
            ),
        ]
    );
    write_row(&handle, "db-1", "from-db-1").await;
    wait_for_row(&handle, "db-3", "from-db-1").await;

    // hang / resume by PID on the hosted primary.
    let hung = lab.fault_ok(&["hang", "db-1"]);
    assert!(hung.contains(&format!("PID {postmaster}")), "{hung}");
    assert_eq!(state_of(postmaster), Some('T'));
    assert_eq!(lab.status()["nodes"][0]["process"], "hung");
    lab.fault_ok(&["resume", "db-1"]);
    assert_ne!(state_of(postmaster), Some('T'));
    assert_eq!(lab.status()["nodes"][0]["process"], "running");

    // crash (SIGKILL by PID), then start through the unit: a new postmaster, the data kept.
    lab.fault_ok(&["crash", "db-1"]);
    assert!(!alive(postmaster), "the postmaster is gone");
    assert_eq!(handle.postmaster_pid("db-1").unwrap(), None);
    assert_eq!(lab.status()["nodes"][0]["process"], "stopped");
    let started = lab.fault_ok(&["start", "db-1"]);
    assert!(
        started.contains("systemctl start postgresql@15-main"),
        "{started}"
    );
    let restarted = handle
        .postmaster_pid("db-1")
        .unwrap()
        .expect("db-1 runs again");
    assert_ne!(restarted, postmaster);
    assert_eq!(
        lab.ssh_ok("host-1", "systemctl is-active postgresql@15-main"),
        "active"
    );
    let client = handle.connect("db-1").await.unwrap();
    let kept = value(
        &client,
        "db-1",
        "SELECT count(*)::text FROM probe WHERE marker = 'from-db-1'",
    )
    .await;
    assert_eq!(kept.as_deref(), Some("1"), "crash recovery kept the row");

    // cut db-1 → db-3 (db-3's link, inside host-3's namespace): db-3 stops streaming; heal: it
    // streams again.
    eventually(
        "both standbys to stream again after db-1's restart",
        Duration::from_secs(60),
        || async { (replication(&handle).await.len() == 2).then_some(()) },
    )
    .await;
    lab.fault_ok(&["cut", "db-1", "db-3"]);
    eventually(
        "db-3 to stop streaming while its link is cut",
        Duration::from_secs(30),
        || async {
            let names: Vec<String> = replication(&handle)
                .await
                .into_iter()
                .map(|(name, _, _)| name)
                .collect();
            (names == ["db-2"]).then_some(())
        },
    )
    .await;
    write_row(&handle, "db-1", "while-cut").await;
    assert!(
        !crate::support::has_row(&handle, "db-3", "while-cut").await,
        "db-3 gets nothing through a cut link"
    );
    lab.fault_ok(&["heal", "db-1", "db-3"]);
    wait_for_row(&handle, "db-3", "while-cut").await;
    eventually(
        "db-3 to stream again once healed",
        Duration::from_secs(30),
        || async {
            replication(&handle)
                .await
                .iter()
                .any(|(name, state, _)| name == "db-3" && state == "streaming")
                .then_some(())
        },
    )
    .await;

    // The lab's own operations that rewrite a node's files refuse a hosted node, changing nothing.
    let fence = lab.fault(&["fence", "db-2"]);
    assert_eq!(fence.status.code(), Some(1), "{}", show(&fence));
    assert!(
        String::from_utf8_lossy(&fence.stderr).contains("runs Debian's postgresql@15-main"),
        "{}",
        show(&fence)
    );
    assert!(handle.postmaster_pid("db-2").unwrap().is_some());

    // A load through db-1's client route, verified on db-3.
    let ack_log = lab.scratch.path().join("ack.log");
    let ack_text = ack_log.to_str().unwrap();
    let load = run_hadome(
        &[
            "lab",
            "load",
            "--dir",
            lab.dir_text(),
            "--node",
            "db-1",
            "--duration",
            "2",
            "--ack-log",
            ack_text,
        ],
        &[],
    );
    assert!(load.status.success(), "{}", show(&load));
    let verify = run_hadome(
        &[
            "lab",
            "verify",
            "--dir",
            lab.dir_text(),
            "--node",
            "db-3",
            "--ack-log",
            ack_text,
        ],
        &[],
    );
    assert!(verify.status.success(), "{}", show(&verify));

    // Teardown through the binary: every process of the lab ended by PID, the directory gone.
    let cluster_name = value(&client, "db-1", "SHOW cluster_name").await.unwrap();
    let token_prefix = cluster_name.trim_end_matches("db-1").to_owned();
    let pids = handle.pids();
    assert!(pids.len() > 10, "{pids:?}");
    drop(client);
    let down = run_hadome(&["lab", "down", "--dir", lab.dir_text()], &[]);
    assert!(down.status.success(), "{}", show(&down));
    let left: Vec<i32> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "still alive: {left:?}");
    assert!(!lab.dir.exists());
    assert_eq!(processes_naming(lab.dir_text()), Vec::new());
    assert_eq!(processes_naming(&token_prefix), Vec::new());
}
