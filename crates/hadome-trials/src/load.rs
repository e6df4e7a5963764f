//! The trial's two clients: a writer that remembers every acknowledged commit, and a sampler
//! that asks every member to commit every 100 ms.
//!
//! The writer is an application: it connects through the members' client ports (so `isolate`
//! cuts it off as it cuts hadome off), commits single-row INSERTs one after another, and appends
//! an id to its ack log only once PostgreSQL acknowledged it. On an error or a commit slower than
//! [`COMMIT_TIMEOUT`] it drops the connection (the outcome is unknown, so the id is not logged)
//! and writes to whichever member then says it is not in recovery.
//!
//! The sampler is the referee: one task per member, over the member's Unix socket (no proxy, so an
//! isolated member that still accepts writes is seen), an INSERT every [`PERIOD_MS`], each
//! acknowledged commit recorded with its time.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hadome_lab::Lab;
use tokio::sync::watch;
use tokio_postgres::Client;

use crate::verdict::{Commit, PERIOD_MS};

/// The table the writer's acknowledged ids go to.
pub const ACK_TABLE: &str = "hadome_trial_acks";
/// The table the sampler's probes go to.
pub const PROBE_TABLE: &str = "hadome_trial_probes";
/// How long one commit may take before its outcome counts as unknown.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a sample may wait for a connection or a commit.
const SAMPLE_TIMEOUT: Duration = Duration::from_millis(1_000);

/// What the writer and the sampler record, shared with the trial.
#[derive(Debug, Default)]
pub struct Record {
    /// Acknowledged ids, in order.
    pub acknowledged: Vec<i64>,
    /// Every acknowledged commit, the writer's and the sampler's, with its member.
    pub commits: Vec<Commit>,
    /// Commits attempted by the writer whose outcome is unknown.
    pub unknown: u64,
    /// Commits the sampler saw acknowledged (none would leave the two-writer check blind).
    pub sampled: u64,
}

/// The writer's and the sampler's tasks; [`Clients::stop`] ends them.
pub struct Clients {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What they recorded.
    pub record: Arc<Mutex<Record>>,
}

impl Clients {
    /// Creates the tables on `primary` and starts the writer and one sampler per member.
    pub async fn start(
        lab: &Lab,
        primary: &str,
        ack_log: PathBuf,
        started: Instant,
    ) -> Result<Clients, String> {
        let client = lab
            .connect(primary)
            .await
            .map_err(|error| format!("connecting to `{primary}` to create the tables: {error}"))?;
        client
            .batch_execute(&format!(
                "CREATE TABLE {ACK_TABLE} (id bigint PRIMARY KEY, node text);
                 CREATE TABLE {PROBE_TABLE} (node text, at timestamptz DEFAULT clock_timestamp());"
            ))
            .await
            .map_err(|error| format!("creating the trial's tables on `{primary}`: {error}"))?;
        let (stop, stopped) = watch::channel(false);
        let record = Arc::new(Mutex::new(Record::default()));
        let nodes = lab.node_names();
        let mut ports = Vec::new();
        for node in &nodes {
            let port = lab.client_port(node).map_err(|error| error.to_string())?;
            ports.push((node.clone(), port));
        }
        let mut tasks = Vec::new();
        let log = std::fs::File::create(&ack_log)
            .map_err(|error| format!("creating the ack log {}: {error}", ack_log.display()))?;
        tasks.push(tokio::spawn(write(
            ports,
            log,
            record.clone(),
            stopped.clone(),
            started,
        )));
        for node in nodes {
            let handle = Lab::open(lab.dir()).map_err(|error| error.to_string())?;
            tasks.push(tokio::spawn(sample(
                handle,
                node,
                record.clone(),
                stopped.clone(),
                started,
            )));
        }
        Ok(Clients {
            stop,
            tasks,
            record,
        })
    }

    /// How many commits the writer has had acknowledged.
    pub fn acknowledged(&self) -> usize {
        self.record.lock().expect("the record").acknowledged.len()
    }

    /// Stops every task and waits for them (each bounded by its own timeouts); what they recorded.
    pub async fn stop(self) -> Record {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        std::mem::take(&mut *self.record.lock().expect("the record"))
    }
}

async fn write(
    ports: Vec<(String, u16)>,
    mut log: std::fs::File,
    record: Arc<Mutex<Record>>,
    mut stopped: watch::Receiver<bool>,
    started: Instant,
) {
    let mut next_id: i64 = 1;
    let statement = format!("INSERT INTO {ACK_TABLE} (id, node) VALUES ($1, $2)");
    let mut current: Option<(String, Client)> = None;
    while !*stopped.borrow() {
        let Some((node, client)) = current.take() else {
            current = tokio::select! {
                found = find_primary(&ports) => found,
                _ = stopped.changed() => None,
            };
            if current.is_none() {
                // Nobody accepts writes now: ask again after one sampling period (a poll interval).
                tokio::time::sleep(Duration::from_millis(PERIOD_MS)).await;
            }
            continue;
        };
        let id = next_id;
        next_id += 1;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &node];
        let insert = client.execute(statement.as_str(), &params);
        match tokio::time::timeout(COMMIT_TIMEOUT, insert).await {
            Ok(Ok(_)) => {
                let at_ms = started.elapsed().as_millis() as u64;
                // The line is written before the id counts: a killed trial loses no ack.
                let _ = writeln!(log, "{id}\t{at_ms}\t{node}");
                let mut record = record.lock().expect("the record");
                record.acknowledged.push(id);
                record.commits.push(Commit {
                    at_ms,
                    node: node.clone(),
                });
                drop(record);
                current = Some((node, client));
            }
            _ => {
                record.lock().expect("the record").unknown += 1;
                // Dropping the client closes the connection: the next id goes wherever writes are
                // accepted then.
            }
        }
    }
}

/// The first member that connects and says it is not in recovery, through its client port.
async fn find_primary(ports: &[(String, u16)]) -> Option<(String, Client)> {
    for (node, port) in ports {
        let attempt = async {
            let client = hadome_lab::connect_tcp(node, *port, Duration::from_secs(1))
                .await
                .ok()?;
            let row = client
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await
                .ok()?;
            (!row.get::<_, bool>(0)).then_some(client)
        };
        if let Ok(Some(client)) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
            return Some((node.clone(), client));
        }
    }
    None
}

async fn sample(
    lab: Lab,
    node: String,
    record: Arc<Mutex<Record>>,
    mut stopped: watch::Receiver<bool>,
    started: Instant,
) {
    let mut ticks = tokio::time::interval(Duration::from_millis(PERIOD_MS));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut client: Option<Client> = None;
    let insert = format!("INSERT INTO {PROBE_TABLE} (node) VALUES ($1)");
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        if *stopped.borrow() {
            return;
        }
        if client.is_none() {
            client = tokio::time::timeout(SAMPLE_TIMEOUT, lab.connect(&node))
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(open) = &client else { continue };
        match tokio::time::timeout(SAMPLE_TIMEOUT, open.execute(&insert, &[&node])).await {
            Ok(Ok(_)) => {
                let at_ms = started.elapsed().as_millis() as u64;
                let mut record = record.lock().expect("the record");
                record.sampled += 1;
                record.commits.push(Commit {
                    at_ms,
                    node: node.clone(),
                });
            }
            Ok(Err(error)) if error.as_db_error().is_some() && !open.is_closed() => {
                // A standby refuses the write: it answers, and accepts none.
            }
            _ => client = None,
        }
    }
}
