//! What every integration test shares: a lab on real servers, the real binary, and polling.
//!
//! Each test gets its own temporary directory and its own lab (free ports, its own servers); the
//! [`TestLab`] guard tears it down by PID even when the test panics. Waits poll with a deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use hadome_lab::{Lab, LabGuard, LabOptions, Topology};
use tokio_postgres::Client;

/// The `hadome` binary cargo built for these tests.
pub(crate) fn hadome_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hadome"))
}

/// A lab brought up for one test; dropped, it stops every process and removes its directory.
pub(crate) struct TestLab {
    // Field order matters: the guard tears the lab down before the temporary directory goes.
    pub(crate) guard: LabGuard,
    pub(crate) scratch: tempfile::TempDir,
}

impl std::ops::Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.guard
    }
}

/// A fresh scratch directory under /tmp (short paths: PostgreSQL's socket path is limited).
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hadome-it-")
        .tempdir_in("/tmp")
        .expect("a temporary directory under /tmp")
}

/// Brings up a built-in topology in a fresh directory.
pub(crate) async fn lab(topology: &str) -> TestLab {
    let scratch = scratch();
    let topology = Topology::resolve(topology).expect("a built-in topology");
    let guard = Lab::up(
        &topology,
        &scratch.path().join("lab"),
        &LabOptions::with_hadome_binary(hadome_binary()),
    )
    .await
    .unwrap_or_else(|error| panic!("lab up {}: {error}", topology.name));
    TestLab { guard, scratch }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming what was awaited.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        // The interval between two polls; the deadline above bounds the wait.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One text value from a one-row, one-column query, or a panic that says which node and query.
pub(crate) async fn value(client: &Client, node: &str, sql: &str) -> Option<String> {
    let row = tokio::time::timeout(Duration::from_secs(10), client.query_opt(sql, &[]))
        .await
        .unwrap_or_else(|_| panic!("`{sql}` on `{node}` did not answer within 10 s"))
        .unwrap_or_else(|error| panic!("`{sql}` on `{node}`: {}", describe(&error)))?;
    row.get(0)
}

/// Executes statements, panicking with the node and SQL on failure or after 10 s.
pub(crate) async fn execute(client: &Client, node: &str, sql: &str) {
    tokio::time::timeout(Duration::from_secs(10), client.batch_execute(sql))
        .await
        .unwrap_or_else(|_| panic!("`{sql}` on `{node}` did not answer within 10 s"))
        .unwrap_or_else(|error| panic!("`{sql}` on `{node}`: {}", describe(&error)));
}

/// An error with its causes: tokio-postgres's own `Display` says only "db error".
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// How many rows `marker` has in `probe` on `node` (0 while the table has not arrived there).
pub(crate) async fn count_rows(lab: &Lab, node: &str, marker: &str) -> i64 {
    let client = lab
        .connect(node)
        .await
        .unwrap_or_else(|error| panic!("connect to {node}: {}", describe(&error)));
    let exists = value(
        &client,
        node,
        "SELECT (to_regclass('probe') IS NOT NULL)::text",
    )
    .await;
    if exists.as_deref() != Some("true") {
        return 0;
    }
    let sql = format!("SELECT count(*)::text FROM probe WHERE marker = '{marker}'");
    value(&client, node, &sql)
        .await
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// Polls until `node` has the row `marker` in table `probe` (the lab's socket view).
pub(crate) async fn wait_for_row(lab: &Lab, node: &str, marker: &str) {
    eventually(
        &format!("`{node}` to have row `{marker}`"),
        Duration::from_secs(30),
        || async { (count_rows(lab, node, marker).await == 1).then_some(()) },
    )
    .await;
}

/// Whether `node` has the row `marker` right now.
pub(crate) async fn has_row(lab: &Lab, node: &str, marker: &str) -> bool {
    count_rows(lab, node, marker).await == 1
}

/// Creates the `probe` table on the primary and writes `marker` into it.
pub(crate) async fn write_row(lab: &Lab, primary: &str, marker: &str) {
    let client = lab
        .connect(primary)
        .await
        .unwrap_or_else(|error| panic!("connect to {primary}: {error}"));
    execute(
        &client,
        primary,
        &format!("CREATE TABLE IF NOT EXISTS probe (marker text PRIMARY KEY); INSERT INTO probe VALUES ('{marker}')"),
    )
    .await;
}

/// A standby's WAL receiver status (`None`: no receiver runs) and replayed LSN, in bytes.
pub(crate) async fn receiver_and_replay(lab: &Lab, node: &str) -> (Option<String>, u64) {
    let client = lab
        .connect(node)
        .await
        .unwrap_or_else(|error| panic!("connect to {node}: {error}"));
    let row = client
        .query_one(
            "SELECT (SELECT status FROM pg_stat_wal_receiver), pg_last_wal_replay_lsn()::text",
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("receiver state of {node}: {error}"));
    let replay: String = row.get(1);
    (row.get(0), hadome_lab::parse_lsn(&replay).expect("an LSN"))
}

/// The primary's current WAL position, in bytes.
pub(crate) async fn current_lsn(lab: &Lab, node: &str) -> u64 {
    let client = lab
        .connect(node)
        .await
        .unwrap_or_else(|error| panic!("connect to {node}: {error}"));
    let text = value(&client, node, "SELECT pg_current_wal_lsn()::text")
        .await
        .expect("an LSN");
    hadome_lab::parse_lsn(&text).expect("an LSN")
}

/// Runs the real `hadome` binary with `args`; returns its output.
pub(crate) fn run_hadome(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(hadome_binary());
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("hadome runs")
}

/// stdout and stderr of an output, for assertion messages.
pub(crate) fn show(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `hadome ARGS --config CONFIG --json`; returns the exit code and the JSON it printed.
pub(crate) fn hadome_json(config: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--config", config.to_str().expect("a UTF-8 path"), "--json"]);
    let output = run_hadome(&full, &[]);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "JSON from `hadome {}` ({error}):\n{}",
            args.join(" "),
            show(&output)
        )
    });
    (output.status.code().unwrap_or(-1), json)
}

/// The directories beside `data_dir` that hadome moved aside.
pub(crate) fn asides(data_dir: &Path) -> Vec<PathBuf> {
    let name = data_dir.file_name().unwrap().to_str().unwrap().to_owned();
    let mut found: Vec<PathBuf> = std::fs::read_dir(data_dir.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("{name}.hadome-aside-"))
        })
        .collect();
    found.sort();
    found
}
