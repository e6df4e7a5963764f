//! `hadome init` (issue 15) on real clusters that Debian's postgresql-common makes and starts
//! (`pg_createcluster`, `pg_ctlcluster`), listed by the real `pg_lsclusters` through the real
//! binary.
//!
//! postgresql-common reads `$PG_CLUSTER_CONF_ROOT` instead of `/etc/postgresql`, so every
//! cluster here lives in the test's own directory (configuration, data, socket, log, PID file)
//! and the machine's clusters are never listed or touched; it also keeps systemd out of
//! `pg_ctlcluster`. The servers listen on their socket only (`listen_addresses = ''`), and
//! [`DebianClusters`] stops them on drop, panics included.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_postgres::NoTls;

use crate::support::{eventually, execute, hadome_json, run_hadome, scratch, show};

/// Clusters made by postgresql-common under a temporary configuration root; dropped, each is
/// stopped and the directory removed.
struct DebianClusters {
    version: String,
    created: Vec<String>,
    // Dropped after `drop` stopped the servers.
    scratch: tempfile::TempDir,
}

/// Where a cluster made here listens and keeps its data.
struct Made {
    port: u16,
    data_dir: PathBuf,
}

impl DebianClusters {
    fn new() -> DebianClusters {
        let scratch = scratch();
        // The cluster's owner (`postgres` when the tests run as root) must reach its directories.
        std::fs::set_permissions(
            scratch.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("the scratch directory opened to the cluster's owner");
        let bindir = hadome_lab::locate_bindir()
            .unwrap_or_else(|error| panic!("PostgreSQL's server binaries: {error}"));
        let version = bindir
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .expect("Debian's binaries live in /usr/lib/postgresql/VERSION/bin")
            .to_owned();
        DebianClusters {
            version,
            created: Vec::new(),
            scratch,
        }
    }

    fn conf_root(&self) -> PathBuf {
        self.scratch.path().join("conf")
    }

    fn socket_dir(&self) -> PathBuf {
        self.scratch.path().join("sock")
    }

    /// `PG_CLUSTER_CONF_ROOT` for a child that must see only these clusters.
    fn conf_root_arg(&self) -> String {
        self.conf_root().display().to_string()
    }

    /// A postgresql-common command, under this root.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("PG_CLUSTER_CONF_ROOT", self.conf_root());
        command
    }

    /// `pg_createcluster` with this test's data, socket, log and PID file paths and an unused
    /// port; local connections trusted (a private socket directory), TCP refused and not bound.
    fn create(&mut self, name: &str) -> Made {
        let port = unused_port();
        let data_dir = self.scratch.path().join("data").join(name);
        let socket_dir = self.socket_dir();
        let mut command = self.command("pg_createcluster");
        if running_as_root() {
            // PostgreSQL refuses to run as root.
            command.args(["--user", "postgres"]);
        }
        command
            .arg("--datadir")
            .arg(&data_dir)
            .arg("--socketdir")
            .arg(&socket_dir)
            .arg("--logfile")
            .arg(self.scratch.path().join(format!("{name}.log")))
            .args(["--port", &port.to_string()])
            .arg("-o")
            .arg(format!(
                "external_pid_file={}",
                socket_dir.join(format!("{name}.pid")).display()
            ))
            .args([self.version.as_str(), name])
            .args(["--", "--auth-local=trust", "--auth-host=reject"]);
        self.created.push(name.to_owned());
        succeed(&mut command, &format!("pg_createcluster {name}"));
        // After postgresql.conf, so it wins: no TCP listener at all.
        let conf_d = self
            .conf_root()
            .join(&self.version)
            .join(name)
            .join("conf.d");
        std::fs::write(conf_d.join("hadome-test.conf"), "listen_addresses = ''\n")
            .expect("the cluster's conf.d takes a file");
        Made { port, data_dir }
    }

    fn start(&self, name: &str) {
        let mut command = self.command("pg_ctlcluster");
        command.args([self.version.as_str(), name, "start"]);
        succeed(&mut command, &format!("pg_ctlcluster {name} start"));
    }

    /// A session as `postgres` on `port`, once the server accepts it.
    async fn superuser(&self, port: u16) -> tokio_postgres::Client {
        let socket_dir = self.socket_dir();
        eventually(
            &format!("the cluster on port {port} to accept connections"),
            Duration::from_secs(30),
            || async {
                let connected = tokio_postgres::Config::new()
                    .host_path(&socket_dir)
                    .port(port)
                    .user("postgres")
                    .dbname("postgres")
                    .connect(NoTls)
                    .await
                    .ok()?;
                let (client, connection) = connected;
                tokio::spawn(connection);
                Some(client)
            },
        )
        .await
    }
}

impl Drop for DebianClusters {
    fn drop(&mut self) {
        for name in &self.created {
            // A cluster that is not running makes it exit 2, which is fine here.
            let _ = self
                .command("pg_ctlcluster")
                .args(["--mode", "immediate", self.version.as_str(), name, "stop"])
                .output();
            let data_dir = self.scratch.path().join("data").join(name);
            stop_by_pid(&data_dir);
        }
    }
}

/// If `data_dir`'s postmaster still runs (its `postmaster.pid`, checked against
/// `/proc/PID/cmdline`), kills it by PID and waits, with a deadline, until it is gone.
fn stop_by_pid(data_dir: &Path) {
    let Ok(pid_file) = std::fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    let Some(pid) = pid_file
        .lines()
        .next()
        .and_then(|line| line.trim().parse::<i32>().ok())
    else {
        return;
    };
    let is_ours = || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            String::from_utf8_lossy(&cmdline).contains(&*data_dir.to_string_lossy())
        })
    };
    if !is_ours() {
        return;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_ours() && Instant::now() < deadline {
        // The interval between two looks at /proc; the deadline bounds the wait.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|proc_self| proc_self.uid() == 0)
}

/// A port no one listens on (the servers bind none: it names their socket file).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn succeed(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error} (is postgresql-common installed?)"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `hadome init ARGS --json` under `clusters`' root: exit code and report.
fn init_json(clusters: &DebianClusters, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["init"];
    full.extend(args);
    full.push("--json");
    let root = clusters.conf_root_arg();
    let output = run_hadome(&full, &[("PG_CLUSTER_CONF_ROOT", &root)]);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "JSON from `hadome {}` ({error}):\n{}",
            full.join(" "),
            show(&output)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// The report's entry for `cluster` (`VERSION/NAME`).
fn entry<'a>(report: &'a Value, cluster: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|entry| entry["cluster"] == cluster)
        .unwrap_or_else(|| panic!("no cluster `{cluster}` in {report:#}"))
}

/// Each privilege of an entry: name → `granted`, `missing` or `superuser-only`.
fn held(entry: &Value) -> Vec<(String, String)> {
    entry["privileges"]
        .as_array()
        .expect("privileges")
        .iter()
        .map(|privilege| {
            (
                privilege["privilege"].as_str().expect("a name").to_owned(),
                privilege["held"].as_str().expect("a state").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_the_local_clusters_and_names_the_missing_grants() {
    let mut clusters = DebianClusters::new();
    let version = clusters.version.clone();
    let busy = clusters.create("busy");
    clusters.start("busy");
    let postgres = clusters.superuser(busy.port).await;
    let output = clusters.scratch.path().join("estate.toml");
    let journal = clusters.scratch.path().join("journal.sqlite");
    let output_arg = output.to_str().expect("a UTF-8 path");
    let journal_arg = journal.to_str().expect("a UTF-8 path");
    let busy_name = format!("{version}/busy");

    // As the superuser: the cluster is found where it listens, and every privilege is held.
    let (code, report) = init_json(
        &clusters,
        &[
            "--user",
            "postgres",
            "--output",
            output_arg,
            "--journal",
            journal_arg,
        ],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["version"], 1);
    assert_eq!(report["complete"], true);
    assert_eq!(report["output"], output_arg);
    let found = entry(&report, &busy_name);
    assert_eq!(found["instance"], format!("{version}-busy"));
    assert_eq!(found["port"], busy.port);
    assert_eq!(found["socket_dir"], clusters.socket_dir().to_str().unwrap());
    assert_eq!(found["data_dir"], busy.data_dir.to_str().unwrap());
    assert_eq!(found["running"], true);
    assert_eq!(found["connection"], "checked");
    assert_eq!(found["superuser"], true);
    assert_eq!(found["in_recovery"], false);
    assert!(
        held(found).iter().all(|(_, state)| state == "granted"),
        "{found:#}"
    );

    // The file is an estate hadome reads, and `check` accepts it and probes the instance.
    let estate = hadome_config::load(&output).expect("the written file loads");
    let instance = estate
        .instance(&format!("{version}-busy"))
        .expect("its instance");
    assert_eq!(instance.data_dir, busy.data_dir);
    assert_eq!(
        instance.conninfo,
        format!(
            "host={} port={} user=postgres dbname=postgres",
            clusters.socket_dir().display(),
            busy.port
        )
    );
    assert_eq!(estate.journal_path, journal);
    let (code, checked) = hadome_json(&output, &["check"]);
    assert_eq!(
        (code, &checked["critical"]),
        (0, &serde_json::json!(0)),
        "`hadome check` probes the instance through the written conninfo: {checked:#}"
    );

    // A role with pg_monitor alone: the report names each missing grant with its statement.
    execute(
        &postgres,
        "busy",
        "CREATE ROLE hadome_probe LOGIN; GRANT pg_monitor TO hadome_probe;",
    )
    .await;
    let as_probe = [
        "--user",
        "hadome_probe",
        "--output",
        output_arg,
        "--journal",
        journal_arg,
    ];
    let before = std::fs::read_to_string(&output).expect("the first file");
    let root = clusters.conf_root_arg();
    let mut refused = vec!["init"];
    refused.extend(as_probe);
    let refused = run_hadome(&refused, &[("PG_CLUSTER_CONF_ROOT", &root)]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "an existing file is not overwritten without --force: {}",
        show(&refused)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("add --force to move it aside"),
        "{}",
        show(&refused)
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), before);

    let mut forced = as_probe.to_vec();
    forced.push("--force");
    let (code, report) = init_json(&clusters, &forced);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["complete"], false);
    let aside = report["moved_aside"]
        .as_str()
        .expect("the old file moved aside");
    assert!(
        aside.starts_with(&format!("{output_arg}.hadome-aside-")),
        "{aside}"
    );
    assert_eq!(std::fs::read_to_string(aside).unwrap(), before);
    let found = entry(&report, &busy_name);
    assert_eq!(found["superuser"], false);
    let expected: Vec<(String, String)> = [
        ("membership in pg_monitor", "granted"),
        ("SELECT on pg_file_settings", "missing"),
        ("EXECUTE on pg_show_all_file_settings()", "missing"),
        (
            "EXECUTE on pg_read_file(text, bigint, bigint, boolean)",
            "missing",
        ),
        ("EXECUTE on pg_promote(boolean, integer)", "missing"),
        ("ALTER SYSTEM on synchronous_standby_names", "missing"),
        ("EXECUTE on pg_reload_conf()", "missing"),
    ]
    .iter()
    .map(|(name, state)| ((*name).to_owned(), (*state).to_owned()))
    .collect();
    assert_eq!(held(found), expected);
    let missing: Vec<&str> = found["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|statement| statement.as_str().expect("a statement"))
        .collect();
    assert_eq!(
        missing,
        [
            "GRANT SELECT ON pg_catalog.pg_file_settings TO hadome_probe;",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO hadome_probe;",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO hadome_probe;",
            "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO hadome_probe;",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO hadome_probe;",
        ],
        "the optional pg_read_file grant is a warning, not a missing grant"
    );
    let text = std::fs::read_to_string(&output).expect("the new file");
    assert!(
        text.contains(missing[0]),
        "the file names them too:\n{text}"
    );
    hadome_config::load(&output).expect("the new file loads");

    // The statements it printed are the fix: run them, and the role is complete (the optional
    // grant still missing), the file printed on stdout with the report on stderr.
    execute(&postgres, "busy", &missing.join("\n")).await;
    let printed = run_hadome(
        &["init", "--user", "hadome_probe", "--journal", journal_arg],
        &[("PG_CLUSTER_CONF_ROOT", &root)],
    );
    assert_eq!(printed.status.code(), Some(0), "{}", show(&printed));
    let stdout = String::from_utf8_lossy(&printed.stdout);
    let stderr = String::from_utf8_lossy(&printed.stderr);
    hadome_config::parse(&stdout, &clusters.scratch.path().join("printed.toml"))
        .unwrap_or_else(|error| panic!("stdout is the estate file: {error}\n{stdout}"));
    assert!(
        stderr.contains("holds every grant hadome needs") && stderr.contains("optional"),
        "{stderr}"
    );

    // A cluster that is down is listed, written, and not checked: the file is out, exit 1.
    let resting = clusters.create("resting");
    let (code, report) = init_json(
        &clusters,
        &["--user", "hadome_probe", "--journal", journal_arg],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["output"], Value::Null);
    let down = entry(&report, &format!("{version}/resting"));
    assert_eq!(down["running"], false);
    assert_eq!(down["connection"], "not-running");
    assert_eq!(down["port"], resting.port);
    assert_eq!(down["privileges"], serde_json::json!([]));
    assert_eq!(entry(&report, &busy_name)["complete"], true);
    let file = report["estate_file"].as_str().expect("the file's text");
    let estate = hadome_config::parse(file, &clusters.scratch.path().join("both.toml"))
        .unwrap_or_else(|error| panic!("the file with both loads: {error}\n{file}"));
    let names: Vec<&str> = estate
        .instances
        .iter()
        .map(|instance| instance.name.as_str())
        .collect();
    assert_eq!(
        names,
        [format!("{version}-busy"), format!("{version}-resting")]
    );
    assert!(file.contains("not running"), "{file}");
}

#[test]
fn init_without_pg_lsclusters_cannot_proceed_and_says_what_to_install() {
    let empty = scratch();
    let path = empty.path().to_str().expect("a UTF-8 path");
    let output = run_hadome(&["init"], &[("PATH", path)]);
    assert_eq!(output.status.code(), Some(5), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`pg_lsclusters` is not on PATH")
            && stderr.contains(
                "install postgresql-common, or write the estate file by hand from \
                 examples/estate.toml"
            ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing is printed as a file");
}
