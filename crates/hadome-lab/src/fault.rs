//! Faults: the incidents' failures, injected into a running lab estate.
//!
//! Every fault checks that it can apply, applies, then verifies its effect before it returns: a
//! `hang` returns when every process of the instance is stopped, a `stall` when the standby's log
//! says the WAL it needs has been removed. What each fault does to the servers is described on
//! [`Fault`]; `docs/lab.md` says how the network faults are built.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::lab::{append, instance_pids, postmaster_of, process_state, quote_setting, Lab};
use crate::pg::{self, format_lsn, parse_lsn, run};
use crate::process;
use crate::proxy;
use crate::state::NodeState;
use crate::wait::{poll_until, Poll};
use crate::{FaultWordsError, LabError};

/// A fault to inject. Node arguments are node names of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// SIGSTOP every process of the instance (postmaster and all its children): connections stay
    /// open, queries never answer, new connections hang. The Misskey freeze.
    Hang(String),
    /// SIGCONT every process of the instance: undoes `Hang` and `HangPostmaster`.
    Resume(String),
    /// SIGSTOP the postmaster alone: new connections hang; open sessions and WAL senders go on.
    HangPostmaster(String),
    /// SIGKILL the postmaster. Returns once it and its children are gone.
    Crash(String),
    /// A clean `pg_ctl stop -m fast`.
    Stop(String),
    /// `pg_ctl start`.
    Start(String),
    /// Break the replication link from upstream to standby (the link's proxy route).
    Cut {
        /// The sending node.
        upstream: String,
        /// The receiving node.
        standby: String,
    },
    /// Restore the replication link from upstream to standby.
    Heal {
        /// The sending node.
        upstream: String,
        /// The receiving node.
        standby: String,
    },
    /// Cut the node off from hadome and clients (its client port); replication links stay.
    Isolate(String),
    /// Undo `Isolate`.
    Rejoin(String),
    /// Cut a named etcd client (`etcd_clients.rs`) off from every member; others go on.
    IsolateClient(String),
    /// Undo `IsolateClient`.
    RejoinClient(String),
    /// Cut hadome's SSH path to a PostgreSQL host of the lab (`debian3`): its proxy route closes
    /// every connection at once, open ones included, as a dead link or sshd would.
    CutSsh(String),
    /// Undo `CutSsh`.
    HealSsh(String),
    /// Leave the standby running but unable ever to catch up: cut its link, make its upstream
    /// write and recycle more WAL than `wal_keep_size` keeps, heal. Returns when the standby's log
    /// says the WAL segment it requested has already been removed.
    Stall(String),
    /// `pg_promote()` on a standby; returns when it accepts writes. The lab state then records it
    /// as a primary (no upstream).
    Promote(String),
    /// The lab's STONITH: SIGKILL every process of the instance, hung or not (idempotent: a down
    /// instance is already fenced), verify they are gone, and write `standby.signal` into its data
    /// directory, so a later start brings it up read-only, in recovery, never as a second primary.
    Fence(String),
    /// Make a running standby stream from another node: `primary_conninfo` on the link route from
    /// the new upstream (and its replication slot there, when it uses one), a reload; returns once
    /// it streams from the new upstream.
    Follow {
        /// The running standby to repoint.
        standby: String,
        /// The node it streams from afterwards: a primary (perhaps just promoted), or a standby.
        upstream: String,
    },
    /// A real `systemctl reboot` inside a host; returns once a new boot id runs.
    RebootHost(String),
    /// Incident C's loop: the timer's stamp does not survive a reboot (a drop-in on
    /// `reboot-daily.service` sets it back two days, and it is set back now), so every boot fires
    /// `reboot-daily.timer` again.
    StampLost(String),
    /// SIGSTOP of every process of a host's container; `Resume` undoes it.
    HangHost(String),
    /// `systemctl poweroff` inside a host: its supervisor does not start it again.
    StopHost(String),
    /// Start a stopped host; returns once systemd runs.
    StartHost(String),
    /// Write `key = value` to the node's postgresql.conf without reloading: on disk, not applied.
    ConfigChange {
        /// The node.
        node: String,
        /// The setting.
        key: String,
        /// Its new value.
        value: String,
    },
    /// The showcase's `deploy APP [--fixed]` and `reload nginx` (`web/`); its services take
    /// `stop` and `start`.
    Web(crate::web::WebFault),
}

/// The fault names, as the CLI spells them.
pub const FAULT_NAMES: &[&str] = &[
    "hang",
    "resume",
    "hang-postmaster",
    "crash",
    "stop",
    "start",
    "cut",
    "heal",
    "isolate",
    "rejoin",
    "stall",
    "promote",
    "config-change",
    "fence",
    "follow",
    "reboot-host",
    "stamp-lost",
    "hang-host",
    "stop-host",
    "start-host",
    "isolate-client",
    "rejoin-client",
    "cut-ssh",
    "heal-ssh",
    "deploy",
    "reload",
];

impl Fault {
    /// Builds a fault from its CLI name and arguments (`cut db-1 db-2`, `config-change db-4 k=v`).
    pub fn from_words(name: &str, arguments: &[String]) -> Result<Fault, FaultWordsError> {
        let usage = |takes: &str| FaultWordsError::Arguments {
            fault: name.to_owned(),
            takes: takes.to_owned(),
        };
        let one = |make: fn(String) -> Fault| match arguments {
            [node] => Ok(make(node.clone())),
            _ => Err(usage(&format!(
                "one node: `hadome lab fault --dir DIR {name} NODE`"
            ))),
        };
        match name {
            "hang" => one(Fault::Hang),
            "resume" => one(Fault::Resume),
            "hang-postmaster" => one(Fault::HangPostmaster),
            "crash" => one(Fault::Crash),
            "stop" => one(Fault::Stop),
            "start" => one(Fault::Start),
            "isolate" => one(Fault::Isolate),
            "rejoin" => one(Fault::Rejoin),
            "stall" => one(Fault::Stall),
            "promote" => one(Fault::Promote),
            "fence" => one(Fault::Fence),
            "reboot-host" => one(Fault::RebootHost),
            "stamp-lost" => one(Fault::StampLost),
            "hang-host" => one(Fault::HangHost),
            "stop-host" => one(Fault::StopHost),
            "start-host" => one(Fault::StartHost),
            "isolate-client" => one(Fault::IsolateClient),
            "rejoin-client" => one(Fault::RejoinClient),
            "cut-ssh" => one(Fault::CutSsh),
            "heal-ssh" => one(Fault::HealSsh),
            "deploy" => match arguments {
                [app, flags @ ..]
                    if flags
                        .iter()
                        .all(|flag| flag == "--fixed" || flag == "--no-reload") =>
                {
                    Ok(Fault::Web(crate::web::WebFault::Deploy {
                        app: app.clone(),
                        fixed: flags.iter().any(|flag| flag == "--fixed"),
                        reload: !flags.iter().any(|flag| flag == "--no-reload"),
                    }))
                }
                _ => Err(usage(
                    "an app: `hadome lab fault --dir DIR deploy APP [--fixed] [--no-reload]`",
                )),
            },
            "reload" => one(|target| Fault::Web(crate::web::WebFault::Reload(target))),
            "follow" => match arguments {
                [standby, upstream] => Ok(Fault::Follow {
                    standby: standby.clone(),
                    upstream: upstream.clone(),
                }),
                _ => Err(usage(
                    "two nodes, the standby then its new upstream: `follow db-3 db-2`",
                )),
            },
            "cut" | "heal" => match arguments {
                [upstream, standby] => {
                    let (upstream, standby) = (upstream.clone(), standby.clone());
                    Ok(if name == "cut" {
                        Fault::Cut { upstream, standby }
                    } else {
                        Fault::Heal { upstream, standby }
                    })
                }
                _ => Err(usage(
                    "two nodes, the upstream then the standby: `cut db-1 db-2`",
                )),
            },
            "config-change" => match arguments {
                [node, assignment] => {
                    let (key, value) = assignment.split_once('=').ok_or_else(|| {
                        usage("a node and `key=value`: `config-change db-4 work_mem=64MB`")
                    })?;
                    let key = key.trim();
                    let valid = !key.is_empty()
                        && key.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                        });
                    if !valid {
                        return Err(FaultWordsError::NotASetting {
                            key: key.to_owned(),
                        });
                    }
                    Ok(Fault::ConfigChange {
                        node: node.clone(),
                        key: key.to_owned(),
                        value: value.trim().to_owned(),
                    })
                }
                _ => Err(usage(
                    "a node and `key=value`: `config-change db-4 work_mem=64MB`",
                )),
            },
            other => Err(FaultWordsError::Unknown {
                name: other.to_owned(),
            }),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Fault::Hang(_) => "hang",
            Fault::Resume(_) => "resume",
            Fault::HangPostmaster(_) => "hang-postmaster",
            Fault::Crash(_) => "crash",
            Fault::Stop(_) => "stop",
            Fault::Start(_) => "start",
            Fault::Cut { .. } => "cut",
            Fault::Heal { .. } => "heal",
            Fault::Isolate(_) => "isolate",
            Fault::Rejoin(_) => "rejoin",
            Fault::Stall(_) => "stall",
            Fault::Promote(_) => "promote",
            Fault::ConfigChange { .. } => "config-change",
            Fault::Fence(_) => "fence",
            Fault::Follow { .. } => "follow",
            Fault::RebootHost(_) => "reboot-host",
            Fault::StampLost(_) => "stamp-lost",
            Fault::HangHost(_) => "hang-host",
            Fault::StopHost(_) => "stop-host",
            Fault::StartHost(_) => "start-host",
            Fault::IsolateClient(_) => "isolate-client",
            Fault::RejoinClient(_) => "rejoin-client",
            Fault::CutSsh(_) => "cut-ssh",
            Fault::HealSsh(_) => "heal-ssh",
            Fault::Web(web) => web.name(),
        }
    }
}

/// What a fault did and the effect it verified, in one sentence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultReport {
    /// The fault's name.
    pub fault: &'static str,
    /// What was done and verified.
    pub summary: String,
}

impl Lab {
    /// Injects `fault` and verifies its effect, on the lab as `DIR/lab.json` now records it.
    pub async fn fault(&self, fault: &Fault) -> Result<FaultReport, LabError> {
        self.reread()?.apply(fault).await
    }

    async fn apply(&self, fault: &Fault) -> Result<FaultReport, LabError> {
        let summary = match fault {
            Fault::Hang(name)
            | Fault::Resume(name)
            | Fault::Crash(name)
            | Fault::Stop(name)
            | Fault::Start(name)
            | Fault::Isolate(name)
            | Fault::Rejoin(name)
                if self.state.etcd_member(name).is_some() =>
            {
                self.etcd_fault(fault, name).await?
            }
            Fault::Stop(name) | Fault::Start(name) if self.is_web_service(name) => {
                self.web_stop_start(name, matches!(fault, Fault::Start(_)))
                    .await?
            }
            Fault::Web(web) => self.web_fault(web).await?,
            Fault::Hang(node) => self.hang(self.state.node(node)?).await?,
            Fault::Resume(name) if self.state.host(name).is_ok() => self.resume_host(name).await?,
            Fault::Resume(node) => self.resume(self.state.node(node)?).await?,
            Fault::IsolateClient(client) => self.client_fault(client, true).await?,
            Fault::RejoinClient(client) => self.client_fault(client, false).await?,
            Fault::CutSsh(host) => self.ssh_path(host, true).await?,
            Fault::HealSsh(host) => self.ssh_path(host, false).await?,
            Fault::RebootHost(host) if self.placed_host_names().contains(host) => {
                self.reboot_placed_host(host, crate::placed::DEFAULT_DOWN_TIME)
                    .await?
            }
            Fault::RebootHost(host) => self.reboot_host(host).await?,
            Fault::StampLost(host) => self.stamp_lost(host).await?,
            Fault::HangHost(host) => self.hang_host(host).await?,
            Fault::StopHost(host) => self.stop_host(host).await?,
            Fault::StartHost(host) => self.start_host(host).await?,
            Fault::HangPostmaster(node) => self.hang_postmaster(self.state.node(node)?).await?,
            Fault::Crash(node) => self.crash(self.state.node(node)?).await?,
            Fault::Stop(node) => self.stop(self.state.node(node)?).await?,
            Fault::Start(node) => self.start(self.state.node(node)?).await?,
            Fault::Cut { upstream, standby } | Fault::Heal { upstream, standby }
                if self.state.etcd_member(upstream).is_some()
                    || self.state.etcd_member(standby).is_some() =>
            {
                let cut = matches!(fault, Fault::Cut { .. });
                self.etcd_link(upstream, standby, cut).await?
            }
            Fault::Cut { upstream, standby } => self.link(fault, upstream, standby, true).await?,
            Fault::Heal { upstream, standby } => self.link(fault, upstream, standby, false).await?,
            Fault::Isolate(node) => self.isolate(self.state.node(node)?, true).await?,
            Fault::Rejoin(node) => self.isolate(self.state.node(node)?, false).await?,
            Fault::Stall(node) => self.stall(self.state.node(node)?).await?,
            Fault::Promote(node) => self.promote(self.state.node(node)?).await?,
            Fault::ConfigChange { node, key, value } => {
                self.config_change(self.state.node(node)?, key, value)
                    .await?
            }
            Fault::Fence(node) => self.fence(self.state.node(node)?).await?,
            Fault::Follow { standby, upstream } => self.follow(standby, upstream).await?,
        };
        Ok(FaultReport {
            fault: fault.name(),
            summary,
        })
    }

    fn running_postmaster(&self, node: &NodeState, fault: &str) -> Result<i32, LabError> {
        postmaster_of(&self.state, node).ok_or_else(|| LabError::FaultRejected {
            fault: fault.to_owned(),
            node: node.name.clone(),
            reason: "its postmaster is not running".to_owned(),
            fix: format!(
                "start it first: `hadome lab fault --dir DIR start {}`",
                node.name
            ),
        })
    }

    fn require_process_state(
        &self,
        node: &NodeState,
        fault: &str,
        wanted: &str,
    ) -> Result<(), LabError> {
        let current = process_state(&self.state, node);
        if current == wanted {
            return Ok(());
        }
        let fix = match current {
            "hung" | "hung-postmaster" => format!(
                "resume it first: `hadome lab fault --dir DIR resume {}`",
                node.name
            ),
            "stopped" => format!(
                "start it first: `hadome lab fault --dir DIR start {}`",
                node.name
            ),
            _ => format!("`{}` is {current}: nothing to do", node.name),
        };
        Err(LabError::FaultRejected {
            fault: fault.to_owned(),
            node: node.name.clone(),
            reason: format!("the instance is {current}, not {wanted}"),
            fix,
        })
    }

    async fn hang(&self, node: &NodeState) -> Result<String, LabError> {
        self.require_process_state(node, "hang", "running")?;
        let postmaster = self.running_postmaster(node, "hang")?;
        // The postmaster first: once it is stopped it forks no new child, so the set below is final.
        process::send(postmaster, Signal::SIGSTOP)?;
        let stopped = poll_until(
            &node.name,
            "every process of the instance to stop",
            self.wait_timeout,
            || async {
                let pids = instance_pids(&self.state, node);
                for pid in &pids {
                    if !process::is_stopped(*pid) {
                        process::send(*pid, Signal::SIGSTOP)?;
                    }
                }
                let running: Vec<i32> = pids
                    .iter()
                    .copied()
                    .filter(|pid| !process::is_stopped(*pid))
                    .collect();
                Ok(if running.is_empty() {
                    Poll::Done(pids.len())
                } else {
                    Poll::NotYet(format!("still running: {running:?}"))
                })
            },
        )
        .await?;
        Ok(format!(
            "stopped all {stopped} processes of `{}` (postmaster PID {postmaster}) with SIGSTOP",
            node.name
        ))
    }

    async fn resume(&self, node: &NodeState) -> Result<String, LabError> {
        let postmaster = self.running_postmaster(node, "resume")?;
        let pids = instance_pids(&self.state, node);
        // Children first, then the postmaster, so it wakes to a running instance.
        for pid in pids.iter().rev() {
            process::send(*pid, Signal::SIGCONT)?;
        }
        poll_until(
            &node.name,
            "every process of the instance to run",
            self.wait_timeout,
            || async {
                let stopped: Vec<i32> = pids
                    .iter()
                    .copied()
                    .filter(|pid| process::is_stopped(*pid))
                    .collect();
                Ok(if stopped.is_empty() {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("still stopped: {stopped:?}"))
                })
            },
        )
        .await?;
        Ok(format!(
            "continued {} processes of `{}` (postmaster PID {postmaster}) with SIGCONT",
            pids.len(),
            node.name
        ))
    }

    async fn hang_postmaster(&self, node: &NodeState) -> Result<String, LabError> {
        self.require_process_state(node, "hang-postmaster", "running")?;
        let postmaster = self.running_postmaster(node, "hang-postmaster")?;
        process::send(postmaster, Signal::SIGSTOP)?;
        poll_until(
            &node.name,
            "the postmaster to stop",
            self.wait_timeout,
            || async {
                Ok(if process::is_stopped(postmaster) {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("{:?}", process::stat(postmaster)))
                })
            },
        )
        .await?;
        Ok(format!(
            "stopped the postmaster of `{}` (PID {postmaster}); open sessions and WAL senders still run",
            node.name
        ))
    }

    async fn crash(&self, node: &NodeState) -> Result<String, LabError> {
        let postmaster = self.running_postmaster(node, "crash")?;
        let pids = instance_pids(&self.state, node);
        process::send(postmaster, Signal::SIGKILL)?;
        // Children notice their postmaster's death and exit; ones stopped by an earlier `hang`
        // must be continued to notice anything.
        for pid in &pids[1..] {
            process::send(*pid, Signal::SIGCONT)?;
        }
        poll_until(
            &node.name,
            "the postmaster and its children to exit",
            self.wait_timeout,
            || async {
                let alive: Vec<i32> = pids
                    .iter()
                    .copied()
                    .filter(|pid| process::is_alive(*pid))
                    .collect();
                Ok(if alive.is_empty() {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("alive: {alive:?}"))
                })
            },
        )
        .await?;
        Ok(format!(
            "killed the postmaster of `{}` (PID {postmaster}) with SIGKILL; its {} children exited",
            node.name,
            pids.len() - 1
        ))
    }

    async fn stop(&self, node: &NodeState) -> Result<String, LabError> {
        // Idempotent, as a service manager's stop is: the executor stops a target before it
        // preserves and rebuilds it, and a crashed target is already stopped.
        if node.host.is_some() {
            return self.stop_placed(node).await;
        }
        if process_state(&self.state, node) == "stopped" {
            return Ok(format!("`{}` is already stopped", node.name));
        }
        self.require_process_state(node, "stop", "running")?;
        let data_dir = node.data_dir.display().to_string();
        let timeout = self.wait_timeout.as_secs().max(1).to_string();
        run(
            &self.state.run_as,
            &self.state.dir,
            &self.state.bindir.join("pg_ctl"),
            [
                "stop", "-D", &data_dir, "-m", "fast", "-w", "-t", &timeout, "-s",
            ],
            &format!("stopping `{}`", node.name),
        )
        .await?;
        Ok(format!(
            "stopped `{}` cleanly (pg_ctl stop -m fast)",
            node.name
        ))
    }

    /// Waits until no process bears `node`'s `cluster_name` any more (a crashed postmaster's
    /// backends may hold its shared memory for a moment, and PostgreSQL refuses to start until
    /// they are gone).
    pub(crate) async fn wait_old_processes_gone(&self, node: &NodeState) -> Result<(), LabError> {
        let cluster_name = self.state.cluster_name(&node.name);
        poll_until(
            &node.name,
            "the old instance's processes to exit",
            self.wait_timeout,
            || async {
                let left = process::titled(&cluster_name);
                Ok(if left.is_empty() {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("alive: {left:?}"))
                })
            },
        )
        .await
    }

    async fn start(&self, node: &NodeState) -> Result<String, LabError> {
        if node.host.is_some() {
            return self.start_placed(node).await;
        }
        self.require_process_state(node, "start", "stopped")?;
        // After a crash, backends may still hold the old shared memory for a moment; PostgreSQL
        // refuses to start until they are gone.
        self.wait_old_processes_gone(node).await?;
        clear_stale_lock(node, "start")?;
        self.pg_ctl_start(node).await?;
        let pid = postmaster_of(&self.state, node).ok_or_else(|| {
            LabError::Bug(format!("`{}` started but has no postmaster.pid", node.name))
        })?;
        // A fenced node (or a standby) has a standby.signal: it came up read-only, in recovery.
        let recovery = if node.data_dir.join("standby.signal").exists() {
            " read-only, in recovery (standby.signal)"
        } else {
            ""
        };
        Ok(format!(
            "started `{}` (postmaster PID {pid}); it accepts connections{recovery}",
            node.name
        ))
    }

    async fn link(
        &self,
        fault: &Fault,
        upstream: &str,
        standby: &str,
        cut: bool,
    ) -> Result<String, LabError> {
        self.state.node(upstream)?;
        self.state.node(standby)?;
        if upstream == standby {
            return Err(LabError::FaultRejected {
                fault: fault.name().to_owned(),
                node: standby.to_owned(),
                reason: "a link joins two different nodes".to_owned(),
                fix: "name the upstream, then the standby: `cut db-1 db-2`".to_owned(),
            });
        }
        let route = proxy::link_route(upstream, standby);
        let verb = if cut { "block" } else { "unblock" };
        proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
        Ok(if cut {
            format!("cut the link from `{upstream}` to `{standby}`: its connections are closed, new ones refused")
        } else {
            format!(
                "healed the link from `{upstream}` to `{standby}`: `{standby}` may connect again"
            )
        })
    }

    /// Blocks (or unblocks) the proxy route hadome's SSH takes to `host`, and checks the proxy
    /// says so.
    async fn ssh_path(&self, host: &str, cut: bool) -> Result<String, LabError> {
        let fault = if cut { "cut-ssh" } else { "heal-ssh" };
        let placed = self
            .state
            .nodes
            .iter()
            .any(|node| node.host.as_deref() == Some(host));
        if !placed {
            return Err(LabError::FaultRejected {
                fault: fault.to_owned(),
                node: host.to_owned(),
                reason: "it is not a PostgreSQL host of this lab (none reached over SSH)"
                    .to_owned(),
                fix: "name a host of `debian3`: host-1, host-2 or host-3".to_owned(),
            });
        }
        let route = crate::debian_hosts::ssh_route(host);
        let verb = if cut { "block" } else { "unblock" };
        proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
        let blocked = self.blocked_routes().await?;
        if blocked.contains(&route) != cut {
            return Err(LabError::Proxy {
                message: format!("`{verb} {route}` did not take: blocked routes {blocked:?}"),
            });
        }
        Ok(if cut {
            format!("cut hadome's SSH path to `{host}` (route {route}: every connection closed)")
        } else {
            format!("healed hadome's SSH path to `{host}` (route {route} open)")
        })
    }

    async fn isolate(&self, node: &NodeState, isolate: bool) -> Result<String, LabError> {
        let route = proxy::client_route(&node.name);
        let verb = if isolate { "block" } else { "unblock" };
        proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
        Ok(if isolate {
            format!(
                "isolated `{}` from clients and hadome (port {} closed); its replication links stay",
                node.name, node.client_port
            )
        } else {
            format!(
                "`{}` rejoined: port {} accepts clients again",
                node.name, node.client_port
            )
        })
    }

    async fn promote(&self, node: &NodeState) -> Result<String, LabError> {
        self.require_process_state(node, "promote", "running")?;
        let client = self.connect(&node.name).await?;
        let timeout = self.wait_timeout;
        let in_recovery: bool =
            pg::query_one(&client, &node.name, "SELECT pg_is_in_recovery()", timeout)
                .await?
                .get(0);
        if !in_recovery {
            return Err(LabError::FaultRejected {
                fault: "promote".to_owned(),
                node: node.name.clone(),
                reason: "it is not a standby (not in recovery)".to_owned(),
                fix: "promote a standby".to_owned(),
            });
        }
        let sql = format!("SELECT pg_promote(true, {})", timeout.as_secs().max(1));
        let promoted: bool =
            pg::query_one(&client, &node.name, &sql, timeout + Duration::from_secs(5))
                .await?
                .get(0);
        if !promoted {
            return Err(LabError::Timeout {
                node: node.name.clone(),
                awaited: "promotion to finish".to_owned(),
                waited: timeout,
                last_seen: "pg_promote() returned false".to_owned(),
            });
        }
        let row = pg::query_one(
            &client,
            &node.name,
            "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8), pg_current_wal_lsn()::text",
            timeout,
        )
        .await?;
        let timeline: String = row.get(0);
        let lsn: String = row.get(1);
        let timeline = i64::from_str_radix(&timeline, 16).unwrap_or_default();
        // The lab state follows: a primary has no upstream (`lab status`, and the files the lab
        // writes for it, say so from now on).
        let mut recorded = Lab {
            state: self.state.clone(),
            wait_timeout: self.wait_timeout,
        };
        recorded.record_promoted(&node.name).await?;
        Ok(format!(
            "promoted `{}`: it accepts writes on timeline {timeline} at {lsn}",
            node.name
        ))
    }

    async fn config_change(
        &self,
        node: &NodeState,
        key: &str,
        value: &str,
    ) -> Result<String, LabError> {
        // Validate the name against the server when it answers, so a typo does not go to disk.
        let client = if process_state(&self.state, node) == "running" {
            self.connect(&node.name).await.ok()
        } else {
            None
        };
        let live = match &client {
            Some(client) => {
                let row = pg::query_one(
                    client,
                    &node.name,
                    &format!("SELECT current_setting('{key}', true)"),
                    Duration::from_secs(5),
                )
                .await?;
                let live: Option<String> = row.get(0);
                if live.is_none() {
                    return Err(LabError::FaultRejected {
                        fault: "config-change".to_owned(),
                        node: node.name.clone(),
                        reason: format!("`{key}` is not a setting this server knows"),
                        fix: "check the name in `SELECT name FROM pg_settings`".to_owned(),
                    });
                }
                live
            }
            None => None,
        };
        let conf = crate::pg_host::config_file(&self.state, node);
        append(
            &conf,
            &format!(
                "{key} = {}  # hadome lab fault config-change: on disk, not applied\n",
                quote_setting(value)
            ),
        )?;
        Ok(match live {
            Some(live) => format!(
                "wrote `{key} = {value}` to `{}` without reloading; the server still runs with `{live}`",
                conf.display()
            ),
            None => format!(
                "wrote `{key} = {value}` to `{}`; the server is not running, so the value is not checked",
                conf.display()
            ),
        })
    }

    async fn stall(&self, node: &NodeState) -> Result<String, LabError> {
        self.require_process_state(node, "stall", "running")?;
        let Some(upstream_name) = node.upstream.clone() else {
            return Err(LabError::FaultRejected {
                fault: "stall".to_owned(),
                node: node.name.clone(),
                reason: "it is the primary: it replicates from nobody".to_owned(),
                fix: "stall a standby".to_owned(),
            });
        };
        if node.slot {
            return Err(LabError::FaultRejected {
                fault: "stall".to_owned(),
                node: node.name.clone(),
                reason: format!("`{upstream_name}` keeps a replication slot for it, so it keeps the WAL it needs"),
                fix: "stall a standby declared with `slot = false`".to_owned(),
            });
        }
        let upstream = self.state.node(&upstream_name)?;
        self.require_process_state(upstream, "stall", "running")?;
        let timeout = Duration::from_secs(10);
        let standby_client = self.connect(&node.name).await?;
        let upstream_client = self.connect(&upstream.name).await?;
        let writer = self.writer_for(upstream).await?;
        let writer_client = self.connect(&writer.name).await?;

        let row = pg::query_one(
            &standby_client,
            &node.name,
            "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text",
            timeout,
        )
        .await?;
        let in_recovery: bool = row.get(0);
        if !in_recovery {
            return Err(LabError::FaultRejected {
                fault: "stall".to_owned(),
                node: node.name.clone(),
                reason: "it is not in recovery: it was promoted".to_owned(),
                fix: "stall a standby".to_owned(),
            });
        }
        let received: String = row.get(1);
        let received = parse_lsn(&received).ok_or_else(|| {
            LabError::Bug(format!("unreadable LSN `{received}` from `{}`", node.name))
        })?;
        let row = pg::query_one(
            &upstream_client,
            &upstream.name,
            "SELECT pg_size_bytes(current_setting('wal_segment_size')), pg_size_bytes(current_setting('wal_keep_size'))",
            timeout,
        )
        .await?;
        let segment_size: i64 = row.get(0);
        let keep_bytes: i64 = row.get(1);
        if keep_bytes > 1 << 30 {
            return Err(LabError::FaultRejected {
                fault: "stall".to_owned(),
                node: node.name.clone(),
                reason: format!(
                    "`{}` keeps {} MB of WAL; stall would have to write past it",
                    upstream.name,
                    keep_bytes >> 20
                ),
                fix: "give the upstream a `wal_keep_size` of 1GB or less in the topology"
                    .to_owned(),
            });
        }
        let segment_size = segment_size.max(1) as u64;
        let needed_segment = received / segment_size;

        self.link(
            &Fault::Cut {
                upstream: upstream.name.clone(),
                standby: node.name.clone(),
            },
            &upstream.name,
            &node.name,
            true,
        )
        .await?;
        let switches = keep_bytes as u64 / segment_size + 3;
        let oldest = poll_until(&upstream.name, "the WAL the standby needs to be removed", self.wait_timeout, || async {
            let setup = "CREATE TABLE IF NOT EXISTS hadome_lab_stall (at timestamptz NOT NULL DEFAULT now())";
            pg::execute(&writer_client, &writer.name, setup, timeout).await?;
            for _ in 0..switches {
                pg::execute(
                    &writer_client,
                    &writer.name,
                    "INSERT INTO hadome_lab_stall DEFAULT VALUES; SELECT pg_switch_wal()",
                    timeout,
                )
                .await?;
            }
            pg::execute(&writer_client, &writer.name, "CHECKPOINT", self.wait_timeout).await?;
            if upstream.name != writer.name {
                // A standby removes WAL at a restartpoint, which needs a checkpoint record it has
                // replayed: wait for it to replay the writer's checkpoint, then ask for one.
                let target: String = pg::query_one(&writer_client, &writer.name, "SELECT pg_current_wal_lsn()::text", timeout)
                    .await?
                    .get(0);
                let target = parse_lsn(&target).unwrap_or(u64::MAX);
                poll_until(&upstream.name, "it to replay the writer's checkpoint", self.wait_timeout, || async {
                    let replayed: String = pg::query_one(
                        &upstream_client,
                        &upstream.name,
                        "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text",
                        timeout,
                    )
                    .await?
                    .get(0);
                    let replayed = parse_lsn(&replayed).unwrap_or(0);
                    Ok(if replayed >= target { Poll::Done(()) } else { Poll::NotYet(format!("replayed {}", format_lsn(replayed))) })
                })
                .await?;
                pg::execute(&upstream_client, &upstream.name, "CHECKPOINT", self.wait_timeout).await?;
            }
            let rows = tokio::time::timeout(
                timeout,
                upstream_client.query("SELECT name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'", &[]),
            )
            .await
            .map_err(|_| LabError::Timeout {
                node: upstream.name.clone(),
                awaited: "pg_ls_waldir() to answer".to_owned(),
                waited: timeout,
                last_seen: "no answer".to_owned(),
            })?
            .map_err(|source| LabError::Sql { node: upstream.name.clone(), what: "list pg_wal".to_owned(), source })?;
            let oldest = rows
                .iter()
                .filter_map(|row| segment_number(row.get::<_, &str>(0), segment_size))
                .min()
                .unwrap_or(0);
            Ok(if oldest > needed_segment {
                Poll::Done(oldest)
            } else {
                Poll::NotYet(format!("oldest segment kept is {oldest:#X}, the standby needs {needed_segment:#X}"))
            })
        })
        .await?;

        let log_offset = std::fs::metadata(&node.log_file).map_or(0, |metadata| metadata.len());
        self.link(
            &Fault::Heal {
                upstream: upstream.name.clone(),
                standby: node.name.clone(),
            },
            &upstream.name,
            &node.name,
            false,
        )
        .await?;
        let line = poll_until(
            &node.name,
            "its log to say the WAL it needs was removed",
            self.wait_timeout,
            || async {
                let log = std::fs::read(&node.log_file).map_err(|source| LabError::Io {
                    action: "read",
                    path: node.log_file.clone(),
                    source,
                })?;
                let fresh = String::from_utf8_lossy(&log[(log_offset as usize).min(log.len())..])
                    .into_owned();
                Ok(
                    match fresh
                        .lines()
                        .find(|line| line.contains("has already been removed"))
                    {
                        Some(line) => Poll::Done(line.to_owned()),
                        None => Poll::NotYet("no such line yet".to_owned()),
                    },
                )
            },
        )
        .await?;
        Ok(format!(
            "`{}` can never catch up: it needs WAL segment {needed_segment:#X} (from {}), `{}` now keeps {oldest:#X} onwards; its log: {}",
            node.name,
            format_lsn(received),
            upstream.name,
            line.trim()
        ))
    }

    /// The node that accepts writes for `upstream`'s chain: `upstream` itself when it is a
    /// primary, else the first node up its chain that is not in recovery.
    async fn writer_for<'a>(&'a self, upstream: &'a NodeState) -> Result<&'a NodeState, LabError> {
        let mut candidate = upstream;
        loop {
            let client = self.connect(&candidate.name).await?;
            let in_recovery: bool = pg::query_one(
                &client,
                &candidate.name,
                "SELECT pg_is_in_recovery()",
                Duration::from_secs(5),
            )
            .await?
            .get(0);
            if !in_recovery {
                return Ok(candidate);
            }
            let Some(next) = &candidate.upstream else {
                return Err(LabError::FaultRejected {
                    fault: "stall".to_owned(),
                    node: upstream.name.clone(),
                    reason: format!("no node up the chain of `{}` accepts writes", upstream.name),
                    fix: "promote the chain's primary first".to_owned(),
                });
            };
            candidate = self.state.node(next)?;
        }
    }
}

/// Removes the lock files (`postmaster.pid`, and the socket's `.s.PGSQL.5432.lock`) whose
/// process is dead or a zombie.
///
/// PostgreSQL refuses to start while the PID in a lock file exists, and a zombie exists: where
/// PID 1 does not reap orphans (some sandboxes and containers), a crashed postmaster stays a
/// zombie for good. A lock file of a dead process protects nothing; PostgreSQL removes such a
/// file itself when the PID is gone.
/// `fault` names the command that refuses when a lock's process is alive.
pub(crate) fn clear_stale_lock(node: &NodeState, fault: &str) -> Result<(), LabError> {
    for lock in [
        node.data_dir.join("postmaster.pid"),
        node.socket_dir.join(".s.PGSQL.5432.lock"),
    ] {
        let Ok(text) = std::fs::read_to_string(&lock) else {
            continue;
        };
        let pid: Option<i32> = text
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok());
        if let Some(pid) = pid.filter(|pid| process::is_alive(*pid)) {
            return Err(LabError::FaultRejected {
                fault: fault.to_owned(),
                node: node.name.clone(),
                reason: format!("`{}` names PID {pid}, which is alive", lock.display()),
                fix: "make sure no other server uses this data directory or socket".to_owned(),
            });
        }
        std::fs::remove_file(&lock).map_err(|source| LabError::Io {
            action: "remove the stale lock file",
            path: lock,
            source,
        })?;
    }
    Ok(())
}

/// The segment number of a WAL file name (`TTTTTTTTXXXXXXXXYYYYYYYY`), whatever its timeline.
fn segment_number(name: &str, segment_size: u64) -> Option<u64> {
    if name.len() != 24 {
        return None;
    }
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let segment = u64::from_str_radix(&name[16..24], 16).ok()?;
    Some(log * (0x1_0000_0000 / segment_size) + segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_faults_and_bad_arity_is_explained() {
        assert_eq!(
            Fault::from_words("hang", &["db-1".into()]),
            Ok(Fault::Hang("db-1".into()))
        );
        assert_eq!(
            Fault::from_words("cut", &["db-1".into(), "db-2".into()]),
            Ok(Fault::Cut {
                upstream: "db-1".into(),
                standby: "db-2".into()
            })
        );
        assert_eq!(
            Fault::from_words("config-change", &["db-4".into(), "work_mem = 64MB".into()]),
            Ok(Fault::ConfigChange {
                node: "db-4".into(),
                key: "work_mem".into(),
                value: "64MB".into()
            })
        );
        assert!(Fault::from_words("cut", &["db-1".into()])
            .unwrap_err()
            .to_string()
            .contains("two nodes"));
        assert!(Fault::from_words("hang", &[])
            .unwrap_err()
            .to_string()
            .contains("one node"));
        assert!(Fault::from_words("config-change", &["db-4".into(), "nokey".into()]).is_err());
        assert_eq!(
            Fault::from_words("config-change", &["db-4".into(), "Bad Key=1".into()]),
            Err(FaultWordsError::NotASetting {
                key: "Bad Key".into()
            })
        );
        assert!(Fault::from_words("explode", &[])
            .unwrap_err()
            .to_string()
            .contains("faults: hang"));
        for name in FAULT_NAMES {
            let arguments: Vec<String> = match *name {
                "cut" | "heal" | "follow" => vec!["a".into(), "b".into()],
                "config-change" => vec!["a".into(), "k=v".into()],
                _ => vec!["a".into()],
            };
            assert_eq!(Fault::from_words(name, &arguments).unwrap().name(), *name);
        }
    }

    #[test]
    fn fence_takes_one_node_and_follow_the_standby_then_its_new_upstream() {
        assert_eq!(
            Fault::from_words("fence", &["db-1".into()]),
            Ok(Fault::Fence("db-1".into()))
        );
        assert_eq!(
            Fault::from_words("follow", &["db-3".into(), "db-2".into()]),
            Ok(Fault::Follow {
                standby: "db-3".into(),
                upstream: "db-2".into()
            })
        );
        assert!(Fault::from_words("fence", &[])
            .unwrap_err()
            .to_string()
            .contains("`fence` takes one node"));
        assert!(Fault::from_words("fence", &["db-1".into(), "db-2".into()])
            .unwrap_err()
            .to_string()
            .contains("one node"));
        for arguments in [
            vec![],
            vec!["db-3".to_owned()],
            vec!["a".into(), "b".into(), "c".into()],
        ] {
            let error = Fault::from_words("follow", &arguments)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("the standby then its new upstream: `follow db-3 db-2`"),
                "{error}"
            );
        }
        let unknown = Fault::from_words("stonith", &["db-1".into()])
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("fence, follow"), "{unknown}");
    }

    #[test]
    fn segment_numbers_ignore_the_timeline() {
        let one_megabyte = 1 << 20;
        assert_eq!(
            segment_number("000000010000000000000003", one_megabyte),
            Some(3)
        );
        assert_eq!(
            segment_number("000000020000000100000002", one_megabyte),
            Some(4096 + 2)
        );
        assert_eq!(
            segment_number("00000001000000000000000", one_megabyte),
            None
        );
    }
}
