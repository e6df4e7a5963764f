//! A write workload that remembers every acknowledged commit, and the check of how many a node lost.
//!
//! `load` inserts one row per commit into `hadome_lab_load` through a node's client port, as an
//! application would, and appends a line to the ack log only after PostgreSQL acknowledged the
//! commit: `ID LSN UNIX_MILLIS`, where LSN is the WAL insert position at the insert (the commit
//! record follows it) and the time is when the acknowledgement arrived. A failed or timed-out
//! commit is never logged: its outcome is unknown, and it does not count against a node. The log
//! is written line by line with no buffering, so a killed load loses no acknowledged line.
//!
//! `verify` counts the logged ids missing from a node: the RPO of a failover to that node.

use std::collections::HashSet;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::lab::{error_chain, Lab, LOAD_TABLE};
use crate::pg::{self, parse_lsn};
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// How to run a load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The node whose client port takes the writes.
    pub node: String,
    /// Commits attempted per second.
    pub rate_per_second: f64,
    /// Where acknowledged commits are appended.
    pub ack_log: PathBuf,
    /// How long one commit may take before it counts as failed and the connection is dropped.
    pub commit_timeout: Duration,
}

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The node written to.
    pub node: String,
    /// Commits attempted.
    pub attempted: u64,
    /// Commits acknowledged (and logged).
    pub acknowledged: u64,
    /// Commits that failed or timed out (outcome unknown, not logged).
    pub failed: u64,
    /// The last failure, for the reader.
    pub last_error: Option<String>,
    /// Seconds the load ran.
    pub seconds: f64,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The node checked.
    pub node: String,
    /// Acknowledged commits in the log.
    pub acknowledged: u64,
    /// How many of them the node does not have.
    pub missing: u64,
    /// Up to 10 missing ids, smallest first.
    pub missing_sample: Vec<i64>,
}

/// Reads an ack log: the logged ids, in order. Lines that are not `ID ...` are errors.
pub fn read_ack_log(path: &Path) -> Result<Vec<i64>, LabError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LabError::Io {
                action: "read ack log",
                path: path.to_owned(),
                source,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            line.split_whitespace()
                .next()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| LabError::State {
                    path: path.to_owned(),
                    message: format!("line {}: `{line}` is not `ID LSN UNIX_MILLIS`", index + 1),
                })
        })
        .collect()
}

impl Lab {
    /// Writes to `options.node` at `options.rate_per_second` until `until` completes.
    ///
    /// Ids continue after the largest in the ack log and on the node, so several loads can share
    /// one log and a commit that was never answered is never reused.
    pub async fn load(
        &self,
        options: &LoadOptions,
        until: impl Future<Output = ()>,
    ) -> Result<LoadReport, LabError> {
        let port = self.client_port(&options.node)?;
        let mut next_id = read_ack_log(&options.ack_log)?
            .into_iter()
            .max()
            .unwrap_or(0)
            + 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&options.ack_log)
            .map_err(|source| LabError::Io {
                action: "open ack log",
                path: options.ack_log.clone(),
                source,
            })?;
        if !(options.rate_per_second > 0.0 && options.rate_per_second.is_finite()) {
            return Err(LabError::FaultRejected {
                fault: "load".to_owned(),
                node: options.node.clone(),
                reason: format!("a rate of {} commits per second", options.rate_per_second),
                fix: "give a positive `--rate`".to_owned(),
            });
        }
        let mut ticker =
            tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate_per_second));
        // A commit that waited (a synchronous standby gone) does not make the load burst after.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sql = format!(
            "INSERT INTO {LOAD_TABLE} (id) VALUES ($1) RETURNING pg_current_wal_insert_lsn()::text"
        );
        let started = Instant::now();
        let mut report = LoadReport {
            node: options.node.clone(),
            attempted: 0,
            acknowledged: 0,
            failed: 0,
            last_error: None,
            seconds: 0.0,
        };
        let mut client = None;
        tokio::pin!(until);
        loop {
            tokio::select! {
                _ = &mut until => break,
                _ = ticker.tick() => {}
            }
            if client.is_none() {
                let connected = async {
                    let connected =
                        pg::connect_tcp(&options.node, port, Duration::from_secs(2)).await?;
                    // A commit that went unanswered may have committed all the same: continue
                    // past the node's largest id as well as the log's, or ids would collide.
                    let largest: i64 = pg::query_one(
                        &connected,
                        &options.node,
                        &format!("SELECT coalesce(max(id), 0) FROM {LOAD_TABLE}"),
                        options.commit_timeout,
                    )
                    .await?
                    .get(0);
                    Ok::<_, LabError>((connected, largest))
                };
                match connected.await {
                    Ok((connected, largest)) => {
                        next_id = next_id.max(largest + 1);
                        client = Some(connected);
                    }
                    Err(error) => {
                        report.attempted += 1;
                        report.failed += 1;
                        report.last_error = Some(error_chain(&error));
                        continue;
                    }
                }
            }
            let Some(connected) = &client else { continue };
            let id = next_id;
            next_id += 1;
            report.attempted += 1;
            let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(options.commit_timeout, connected.query_one(sql.as_str(), &parameters)) => outcome,
                _ = &mut until => break,
            };
            match outcome {
                Ok(Ok(row)) => {
                    let lsn: String = row.get(0);
                    let millis = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_millis());
                    log.write_all(format!("{id} {lsn} {millis}\n").as_bytes())
                        .map_err(|source| LabError::Io {
                            action: "append to ack log",
                            path: options.ack_log.clone(),
                            source,
                        })?;
                    report.acknowledged += 1;
                }
                Ok(Err(error)) => {
                    report.failed += 1;
                    report.last_error = Some(error_chain(&error));
                    client = None;
                }
                Err(_) => {
                    report.failed += 1;
                    report.last_error = Some(format!(
                        "no acknowledgement within {:?}",
                        options.commit_timeout
                    ));
                    client = None;
                }
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Counts the commits in `ack_log` that `node` does not have.
    ///
    /// A standby is first given time to replay everything it has received, so "missing" means
    /// not on the node, not merely not replayed yet.
    pub async fn verify(&self, node: &str, ack_log: &Path) -> Result<VerifyReport, LabError> {
        let acknowledged = read_ack_log(ack_log)?;
        let client = self.connect(node).await?;
        let timeout = Duration::from_secs(10);
        poll_until(
            node,
            "it to replay all the WAL it received",
            self.wait_timeout,
            || async {
                let row = pg::query_one(
                &client,
                node,
                "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn(), '0/0')::text, \
                        coalesce(pg_last_wal_replay_lsn(), '0/0')::text",
                timeout,
            )
            .await?;
                let in_recovery: bool = row.get(0);
                let received = parse_lsn(row.get(1)).unwrap_or(0);
                let replayed = parse_lsn(row.get(2)).unwrap_or(0);
                Ok(if !in_recovery || replayed >= received {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("received {received}, replayed {replayed}"))
                })
            },
        )
        .await?;
        let rows = tokio::time::timeout(
            self.wait_timeout,
            client.query(&format!("SELECT id FROM {LOAD_TABLE}"), &[]),
        )
        .await
        .map_err(|_| LabError::Timeout {
            node: node.to_owned(),
            awaited: "the load table to be read".to_owned(),
            waited: self.wait_timeout,
            last_seen: "no answer".to_owned(),
        })?
        .map_err(|source| LabError::Sql {
            node: node.to_owned(),
            what: format!("read `{LOAD_TABLE}`"),
            source,
        })?;
        let present: HashSet<i64> = rows.iter().map(|row| row.get(0)).collect();
        let mut missing: Vec<i64> = acknowledged
            .iter()
            .copied()
            .filter(|id| !present.contains(id))
            .collect();
        missing.sort_unstable();
        Ok(VerifyReport {
            node: node.to_owned(),
            acknowledged: acknowledged.len() as u64,
            missing: missing.len() as u64,
            missing_sample: missing.into_iter().take(10).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_log_reads_ids_and_names_a_bad_line() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("acks");
        assert_eq!(
            read_ack_log(&path).unwrap(),
            Vec::<i64>::new(),
            "a missing log is empty"
        );
        std::fs::write(
            &path,
            "1 0/3000148 1700000000000\n2 0/3000200 1700000000010\n\n",
        )
        .unwrap();
        assert_eq!(read_ack_log(&path).unwrap(), vec![1, 2]);
        std::fs::write(&path, "1 0/3000148 1\nnot-a-number\n").unwrap();
        let error = read_ack_log(&path).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
    }
}
