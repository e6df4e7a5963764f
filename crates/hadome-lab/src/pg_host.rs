//! Nodes on Debian hosts (`debian3`) once their hosts run: bringing the standbys up as a Debian
//! user would, finding a postmaster by PID across the container's PID namespace, and `stop` /
//! `start` through the host's systemd. `debian_hosts.rs` sets the hosts up before they boot.
//!
//! - **Bring-up** (`Lab::placed_nodes_up`): the primary is the cluster Debian's postinst made,
//!   started by the host's systemd at boot; the lab waits until it answers on its socket and
//!   creates the load table. Each standby's host then runs `systemctl stop postgresql@15-main`;
//!   the lab replaces the fresh package cluster's data directory (the lab constructing its own
//!   fresh copy, not data), and the host runs `runuser -u postgres -- pg_basebackup -D
//!   /var/lib/postgresql/15/main -R -X stream -c fast -d 'host=127.0.0.1 port=P …'` (P: the
//!   upstream's port, bound in the host's namespace) and `systemctl start postgresql@15-main`.
//! - **Identity**: the PID in a hosted node's `postmaster.pid` is its container's PID namespace's,
//!   and its command line names `/var/lib/postgresql/15/main`. The lab translates it: among the
//!   processes of that host's PID namespace (`host::container_pids`), the one whose
//!   `/proc/PID/status` `NSpid:` ends with that PID and whose command line names Debian's data
//!   directory. Every fault then works by that machine PID, as for the lab's own nodes.
//! - **Stop and start** go through the unit, as on a Debian host, and are verified by PID.
//! - `fence`, `follow`, `rebuild` and `restore` refuse a hosted node ([`LabError::HostedNode`]):
//!   they rewrite a node's files as the lab lays them out; on these hosts hadome's built-in
//!   Debian actions do that work.

use std::path::PathBuf;
use std::time::Duration;

use crate::debian_hosts::{CLUSTER, DATA_DIR_IN_HOST, UNIT};
use crate::host;
use crate::lab::{instance_pids, process_state, Lab, LOAD_TABLE};
use crate::pg::{self, connect_socket};
use crate::process;
use crate::state::{LabState, NodeState};
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// Debian's `pg_basebackup`, inside a host.
const PG_BASEBACKUP: &str = "/usr/lib/postgresql/15/bin/pg_basebackup";

/// The machine PID of a hosted node's postmaster, when it runs (see the module's doc).
pub(crate) fn postmaster_pid(state: &LabState, node: &NodeState) -> Option<i32> {
    let text = std::fs::read_to_string(node.data_dir.join("postmaster.pid")).ok()?;
    let in_container: i32 = text.lines().next()?.trim().parse().ok()?;
    let host = state.host(node.host.as_deref()?).ok()?;
    let record = host::read_record(host)?;
    host::container_pids(&record).into_iter().find(|pid| {
        namespace_pid(*pid) == Some(in_container)
            && process::cmdline(*pid).is_some_and(|line| line.contains(DATA_DIR_IN_HOST))
            && process::is_alive(*pid)
    })
}

/// A process's PID in its innermost PID namespace: the last field of `NSpid:`.
fn namespace_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Refuses `operation` on a node that runs on a Debian host.
pub(crate) fn refuse(node: &NodeState, operation: &str) -> Result<(), LabError> {
    match &node.host {
        Some(host) => Err(LabError::HostedNode {
            operation: operation.to_owned(),
            node: node.name.clone(),
            host: host.clone(),
        }),
        None => Ok(()),
    }
}

/// The `postgresql.conf` a node reads: in its data directory, or Debian's in `/etc` on a host.
pub(crate) fn config_file(state: &LabState, node: &NodeState) -> PathBuf {
    match node.host.as_deref().and_then(|host| state.host(host).ok()) {
        Some(host) => host.root.join("etc/postgresql/15/main/postgresql.conf"),
        None => node.data_dir.join("postgresql.conf"),
    }
}

impl Lab {
    /// The host a node runs on, and its container's PID 1 once systemd runs there.
    async fn host_of(&self, node: &NodeState) -> Result<(String, i32), LabError> {
        let host = node
            .host
            .clone()
            .ok_or_else(|| LabError::Bug(format!("`{}` runs on no host", node.name)))?;
        let init = self.wait_host_running(&host).await?;
        Ok((host, init))
    }

    /// `ActiveState` of Debian's unit in `host` (`active`, `inactive`, `failed` …).
    async fn unit_state(&self, host: &str, init: i32) -> Result<String, LabError> {
        let state = self
            .run_in_host(
                host,
                init,
                &[
                    "systemctl",
                    "show",
                    "--property=ActiveState",
                    "--value",
                    UNIT,
                ],
            )
            .await?;
        Ok(state.trim().to_owned())
    }

    /// `systemctl stop|start postgresql@15-main` in the node's host, verified by the unit's
    /// state and by PID.
    async fn run_unit(&self, node: &NodeState, verb: &str) -> Result<(String, i32), LabError> {
        let (host, init) = self.host_of(node).await?;
        let ran = self
            .run_in_host(&host, init, &["systemctl", verb, UNIT])
            .await;
        let wanted_running = verb == "start";
        poll_until(
            &node.name,
            &format!("`systemctl {verb} {UNIT}` in `{host}` to take effect"),
            self.wait_timeout,
            || async {
                let unit = self.unit_state(&host, init).await?;
                let running = postmaster_pid(&self.state, node).is_some();
                let done = if wanted_running {
                    unit == "active" && running
                } else {
                    unit != "active" && instance_pids(&self.state, node).is_empty()
                };
                Ok(if done {
                    Poll::Done(())
                } else if wanted_running && (unit == "failed" || ran.is_err()) {
                    return Err(LabError::Host {
                        host: host.clone(),
                        problem: format!(
                            "`systemctl start {UNIT}` left the unit {unit}{}:\n{}",
                            ran.as_ref()
                                .err()
                                .map_or_else(String::new, |error| format!(" ({error})")),
                            log_tail(node)
                        ),
                        fix: format!(
                            "look at `journalctl -u {UNIT}` in the host (`hadome lab exec --dir DIR {host} -- journalctl -u {UNIT}`)"
                        ),
                    });
                } else {
                    Poll::NotYet(format!("unit {unit}, postmaster running: {running}"))
                })
            },
        )
        .await?;
        Ok((host, init))
    }

    /// `stop N` of a hosted node: `systemctl stop postgresql@15-main` (Debian's `pg_ctlcluster
    /// stop -m fast`). Already stopped: nothing to do, as a service manager's stop.
    pub(crate) async fn stop_placed(&self, node: &NodeState) -> Result<String, LabError> {
        match process_state(&self.state, node) {
            "stopped" => return Ok(format!("`{}` is already stopped", node.name)),
            "running" => {}
            other => {
                return Err(LabError::FaultRejected {
                    fault: "stop".to_owned(),
                    node: node.name.clone(),
                    reason: format!("the instance is {other}, not running"),
                    fix: format!(
                        "resume it first: `hadome lab fault --dir DIR resume {}`",
                        node.name
                    ),
                })
            }
        }
        let postmaster = postmaster_pid(&self.state, node);
        let (host, _) = self.run_unit(node, "stop").await?;
        Ok(format!(
            "stopped `{}` with `systemctl stop {UNIT}` in `{host}` (postmaster PID {} gone)",
            node.name,
            postmaster.map_or_else(|| "-".to_owned(), |pid| pid.to_string())
        ))
    }

    /// `start N` of a hosted node: `systemctl start postgresql@15-main`, once every process of the
    /// old instance is gone; returns with the new postmaster's PID.
    pub(crate) async fn start_placed(&self, node: &NodeState) -> Result<String, LabError> {
        let current = process_state(&self.state, node);
        if current != "stopped" {
            return Err(LabError::FaultRejected {
                fault: "start".to_owned(),
                node: node.name.clone(),
                reason: format!("the instance is {current}, not stopped"),
                fix: format!("`{}` is {current}: nothing to start", node.name),
            });
        }
        self.wait_old_processes_gone(node).await?;
        let (host, _) = self.run_unit(node, "start").await?;
        let pid = postmaster_pid(&self.state, node).ok_or_else(|| {
            LabError::Bug(format!("`{}` started but has no postmaster", node.name))
        })?;
        Ok(format!(
            "started `{}` with `systemctl start {UNIT}` in `{host}` (postmaster PID {pid}); it accepts connections",
            node.name
        ))
    }

    /// Brings up the nodes placed on hosts, whose hosts run: the primary as Debian's postinst made
    /// it, each standby made again by `pg_basebackup -R` inside its host; returns once every
    /// standby streams and every synchronous one is synchronous.
    pub(crate) async fn placed_nodes_up(&self) -> Result<(), LabError> {
        let primary = self
            .state
            .nodes
            .iter()
            .find(|node| node.upstream.is_none())
            .ok_or_else(|| LabError::Bug("a lab of hosted nodes without a primary".to_owned()))?;
        let client = poll_until(
            &primary.name,
            &format!("Debian's cluster {CLUSTER} to answer on its socket"),
            self.wait_timeout,
            || async {
                Ok(
                    match connect_socket(&primary.name, &primary.socket_dir, Duration::from_secs(2))
                        .await
                    {
                        Ok(client) => Poll::Done(client),
                        Err(error) => Poll::NotYet(crate::lab::error_chain(&error)),
                    },
                )
            },
        )
        .await?;
        pg::execute(
            &client,
            &primary.name,
            // Its synchronous standby does not exist yet: a normal commit would wait for it.
            &format!(
                "SET synchronous_commit = local; \
                 CREATE TABLE {LOAD_TABLE} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
            ),
            self.wait_timeout,
        )
        .await?;
        // Upstreams come before their standbys in the lab state, as in the topology.
        for node in self
            .state
            .nodes
            .iter()
            .filter(|node| node.upstream.is_some())
        {
            self.make_placed_standby(node).await?;
        }
        for node in self
            .state
            .nodes
            .iter()
            .filter(|node| node.upstream.is_some())
        {
            self.wait_streaming(&node.name).await?;
            if node.synchronous {
                self.wait_synchronous(&node.name).await?;
            }
        }
        Ok(())
    }

    async fn make_placed_standby(&self, node: &NodeState) -> Result<(), LabError> {
        let upstream = node
            .upstream
            .as_deref()
            .ok_or_else(|| LabError::Bug(format!("standby `{}` has no upstream", node.name)))?;
        let port = self.state.link_port(upstream, &node.name)?;
        let (host, init) = self.run_unit(node, "stop").await?;
        // The fresh cluster the package made at install: the lab's own construction, replaced by
        // a copy of the upstream. Only ever a path inside this lab's directory.
        if !node.data_dir.starts_with(&self.state.dir) {
            return Err(LabError::Bug(format!(
                "`{}` is outside the lab directory",
                node.data_dir.display()
            )));
        }
        std::fs::remove_dir_all(&node.data_dir).map_err(|source| LabError::Io {
            action: "replace the package's fresh cluster",
            path: node.data_dir.clone(),
            source,
        })?;
        let conninfo = format!(
            "host=127.0.0.1 port={port} user=postgres application_name={}",
            node.name
        );
        self.run_in_host(
            &host,
            init,
            &[
                "runuser",
                "-u",
                "postgres",
                "--",
                PG_BASEBACKUP,
                "-D",
                DATA_DIR_IN_HOST,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-d",
                &conninfo,
            ],
        )
        .await?;
        self.run_unit(node, "start").await?;
        Ok(())
    }
}

/// The end of a hosted node's server log, for an error.
fn log_tail(node: &NodeState) -> String {
    let log = std::fs::read_to_string(&node.log_file).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}
