//! A lab estate: bringing it up, finding it again, looking at it, and tearing it down.
//!
//! See `docs/lab.md` for the design note (process life cycle, the proxy, the directory layout).
//!
//! [`Lab::up`] returns a [`LabGuard`]: dropping it stops every process the lab started, by PID,
//! and removes the directory — also when the test that holds it panics, and also when `up` itself
//! fails half-way. [`LabGuard::keep`] disarms it for the CLI, whose `lab up` leaves the estate
//! running for later commands; those reopen it with [`Lab::open`], a handle that owns nothing.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio_postgres::Client;

use crate::estate_file;
use crate::etcd::{self, EtcdMemberStatus};
use crate::host;
use crate::pg::{self, connect_socket, hand_over, run};
use crate::process;
use crate::proxy::{self, ProxyConfig, ProxyReady, ProxyRoute};
use crate::rootfs;
use crate::state::{write_json_atomically, LabState, LinkState, NodeState, STATE_FILE};
use crate::topology::{NodeSpec, Topology};
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// The table every lab estate has for `lab load` and `lab verify`.
pub(crate) const LOAD_TABLE: &str = "hadome_lab_load";

/// The file, inside each data directory, that holds the lab's settings for that node.
const LAB_CONF: &str = "hadome-lab.conf";

/// How a lab is brought up.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The program and leading arguments that run the lab proxy; the lab appends `--dir DIR`.
    /// The `hadome` binary serves it as `hadome lab proxy`.
    pub proxy_command: Vec<OsString>,
    /// How long any one wait (a start, a catch-up, a promotion) may take before it is an error.
    pub wait_timeout: Duration,
    /// Whether the etcd members serve TLS to clients, client certificates required
    /// (`lab up --tls`, `tls.rs`).
    pub etcd_tls: bool,
}

impl LabOptions {
    /// Options that run the proxy as `HADOME_BINARY lab proxy`.
    pub fn with_hadome_binary(hadome_binary: impl Into<OsString>) -> LabOptions {
        LabOptions {
            proxy_command: vec![hadome_binary.into(), "lab".into(), "proxy".into()],
            wait_timeout: Duration::from_secs(60),
            etcd_tls: false,
        }
    }
}

/// A handle on a running lab estate. It owns nothing: dropping it leaves the estate running.
#[derive(Debug)]
pub struct Lab {
    pub(crate) state: LabState,
    pub(crate) wait_timeout: Duration,
}

/// A lab estate that is torn down when this guard is dropped.
#[derive(Debug)]
pub struct LabGuard {
    lab: Lab,
    proxy_child: Option<std::process::Child>,
    armed: bool,
}

impl Deref for LabGuard {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl LabGuard {
    /// Disarms the guard: the estate keeps running after this process exits.
    pub fn keep(mut self) -> Lab {
        self.armed = false;
        let state = self.lab.state.clone();
        Lab {
            state,
            wait_timeout: self.lab.wait_timeout,
        }
    }

    /// Tears the estate down now, reporting what could not be stopped.
    pub fn down(mut self) -> Result<(), LabError> {
        self.armed = false;
        teardown(&self.lab.state, self.proxy_child.take())
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(error) = teardown(&self.lab.state, self.proxy_child.take()) {
                eprintln!(
                    "hadome lab: teardown of `{}`: {error}",
                    self.lab.state.dir.display()
                );
            }
        }
    }
}

/// What `lab status` shows: the estate as the lab set it up, and its live state.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    /// The format's version.
    pub version: u32,
    /// The topology's name.
    pub topology: String,
    /// The lab directory.
    pub dir: PathBuf,
    /// The proxy's PID, when it is alive.
    pub proxy_pid: Option<i32>,
    /// Every node, primary first.
    pub nodes: Vec<NodeStatus>,
    /// Every host (a real systemd in a container).
    pub hosts: Vec<crate::HostStatus>,
    /// The replication links in use by the topology, and any other link that is cut.
    pub links: Vec<LinkStatus>,
    /// Every etcd member, in the topology's order.
    pub etcd: Vec<EtcdMemberStatus>,
    /// The named etcd clients (`etcd_clients.rs`), in the topology's order.
    pub etcd_clients: Vec<crate::EtcdClientStatus>,
    /// With `lab up --tls`, the lab's CA and client certificate: the members serve TLS to
    /// clients and require a client certificate.
    pub etcd_tls: Option<crate::TlsFiles>,
    /// The showcase's web pieces (`web/`), in a showcase lab.
    pub web: Option<crate::web::WebStatus>,
}

/// One node in [`LabStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// The node's name.
    pub name: String,
    /// `primary` or `standby`, as the topology declared it.
    pub role: &'static str,
    /// Where clients connect: always the loopback address.
    pub host: &'static str,
    /// The port clients connect to (the lab proxy's client route).
    pub port: u16,
    /// The postmaster's PID, when it runs.
    pub pid: Option<i32>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The server log.
    pub log_file: PathBuf,
    /// The node it streams from, as declared.
    pub upstream: Option<String>,
    /// Whether the primary waits for it.
    pub synchronous: bool,
    /// `running`, `hung`, `hung-postmaster` or `stopped`.
    pub process: &'static str,
    /// Whether its client route is blocked (`isolate`).
    pub isolated: bool,
    /// Live facts, when the node answered.
    pub live: Option<LiveState>,
    /// Why there are no live facts.
    pub probe_error: Option<String>,
}

/// What a node said when asked.
#[derive(Debug, Clone, Serialize)]
pub struct LiveState {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    /// The current WAL position on a primary, the replayed one on a standby.
    pub lsn: String,
    /// The timeline it writes (primary) or receives or replays (standby).
    pub timeline: Option<i64>,
    /// `pg_stat_wal_receiver.status` on a standby (`streaming`, …); `None` when no receiver runs.
    pub wal_receiver: Option<String>,
}

/// One replication link in [`LabStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// The sending node.
    pub upstream: String,
    /// The receiving node.
    pub standby: String,
    /// The proxy port the standby's `primary_conninfo` names.
    pub port: u16,
    /// Whether the lab has cut it.
    pub cut: bool,
}

impl Lab {
    /// Brings `topology` up in `dir` (which must not exist or be empty) and waits until every
    /// standby streams and every synchronous standby is synchronous.
    pub async fn up(
        topology: &Topology,
        dir: &Path,
        options: &LabOptions,
    ) -> Result<LabGuard, LabError> {
        // Everything that can be refused is checked before anything is created.
        let has_nodes = !topology.nodes.is_empty();
        let has_etcd = !topology.etcd.is_empty();
        let hadome = hadome_binary(&options.proxy_command);
        if has_etcd {
            etcd::locate_binary()?;
        }
        if options.etcd_tls && !has_etcd {
            return Err(LabError::Topology {
                origin: topology.name.clone(),
                line: 0,
                message: "`--tls` is for etcd members, and this topology has none".to_owned(),
                fix: "bring it up without `--tls`, or choose a topology with `[[etcd]]` \
                      (etcd3, pair-etcd)"
                    .to_owned(),
            });
        }
        if !topology.hosts.is_empty() {
            host::check_can_run_hosts(hadome.as_deref())?;
        }
        let placed = topology.nodes.iter().any(|spec| spec.host.is_some());
        if topology.web.is_some() {
            crate::web::check_can_run(hadome.as_deref())?;
        }
        let bindir = if has_nodes {
            pg::locate_bindir()?
        } else {
            PathBuf::from(pg::DEBIAN_BINDIR)
        };
        let run_as = if has_nodes {
            pg::run_as_for_this_process()?
        } else {
            crate::state::RunAs::CurrentUser
        };
        let absolute = std::path::absolute(dir).map_err(|source| LabError::Io {
            action: "resolve",
            path: dir.to_owned(),
            source,
        })?;
        pg::check_reachable(&run_as, &absolute)?;
        if placed {
            crate::debian_hosts::check_can_run(&absolute)?;
        }
        let dir = prepare_dir(&absolute)?;
        hand_over(&run_as, &dir)?;

        let nodes: Vec<NodeState> = topology
            .nodes
            .iter()
            .map(|spec| {
                if let Some(host) = &spec.host {
                    return crate::debian_hosts::node_state(&dir, spec, host);
                }
                let home = dir.join("nodes").join(&spec.name);
                NodeState {
                    name: spec.name.clone(),
                    upstream: spec.upstream.clone(),
                    synchronous: spec.synchronous,
                    slot: spec.slot,
                    settings: spec.settings.clone(),
                    data_dir: home.join("data"),
                    socket_dir: home.join("run"),
                    log_file: home.join("postgresql.log"),
                    client_port: 0,
                    host: None,
                }
            })
            .collect();
        let mut guard = LabGuard {
            lab: Lab {
                state: LabState {
                    version: LabState::new_version(),
                    topology: topology.name.clone(),
                    dir: dir.clone(),
                    token: unique_token(),
                    bindir,
                    run_as,
                    proxy_pid: 0,
                    nodes,
                    links: Vec::new(),
                    hadome_binary: hadome,
                    hosts: Vec::new(),
                    etcd: topology
                        .etcd
                        .iter()
                        .map(|spec| crate::state::EtcdState {
                            tls: options.etcd_tls,
                            ..etcd::member_state(&dir, &spec.name, &spec.host)
                        })
                        .collect(),
                    etcd_clients: crate::etcd_clients::states(&topology.etcd_clients),
                    web: topology
                        .web
                        .as_ref()
                        .map(|spec| crate::web::state(&dir, spec)),
                },
                wait_timeout: options.wait_timeout,
            },
            proxy_child: None,
            armed: true,
        };
        // From here on, an error drops the guard, which stops whatever started and removes `dir`.
        // A node on a Debian host has its directories in the host's root (`debian_hosts.rs`).
        for node in guard
            .lab
            .state
            .nodes
            .iter()
            .filter(|node| node.host.is_none())
        {
            for path in [dir.join("nodes"), home_of(node), node.socket_dir.clone()] {
                create_dir(&path)?;
                hand_over(&guard.lab.state.run_as, &path)?;
            }
        }
        let token = guard.lab.state.token.clone();
        guard.lab.state.hosts = topology
            .hosts
            .iter()
            .map(|spec| host::host_state(&dir, &token, spec))
            .collect();
        for member in &guard.lab.state.etcd {
            for path in [dir.join("etcd"), member.home.clone()] {
                create_dir(&path)?;
            }
        }
        if options.etcd_tls {
            crate::tls::make_certificates(&dir.join("tls"))?;
        }
        if has_nodes || has_etcd || topology.web.is_some() {
            guard.start_proxy(options).await?;
        }
        write_json_atomically(&dir.join(STATE_FILE), &guard.lab.state)?;
        if has_etcd {
            // The placed hosts boot as the members start, as a machine boots before its services.
            crate::placed::record_first_boots(&guard.lab.state)?;
            guard.lab.etcd_up().await?;
        }

        if guard.lab.state.web.is_some() {
            crate::web::up(&guard.lab.state, guard.lab.wait_timeout).await?;
        }
        // Nodes on hosts come up with their hosts (`hosts_up`).
        let machine_nodes: Vec<&NodeSpec> = topology
            .nodes
            .iter()
            .filter(|spec| spec.host.is_none())
            .collect();
        for spec in &machine_nodes {
            guard.lab.create_node(spec).await?;
        }
        for spec in machine_nodes.iter().skip(1) {
            guard.lab.wait_streaming(&spec.name).await?;
            if spec.synchronous {
                guard.lab.wait_synchronous(&spec.name).await?;
            }
        }
        if !guard.lab.state.hosts.is_empty() {
            guard.lab.hosts_up().await?;
        }
        estate_file::write(&guard.lab.state)?;
        Ok(guard)
    }

    /// Starts every etcd member (a new cluster: all at once, as etcd's bootstrap needs), then
    /// waits until each answers and all name the same leader.
    async fn etcd_up(&self) -> Result<(), LabError> {
        for member in &self.state.etcd {
            etcd::spawn(&self.state, member)?;
        }
        poll_until(
            "etcd",
            "every etcd member to answer and name the same leader",
            self.wait_timeout,
            || async {
                let mut leaders = Vec::new();
                for member in &self.state.etcd {
                    let answer = etcd::wait_answers_with_leader(member, self.wait_timeout).await?;
                    leaders.push(answer.leader_id);
                }
                leaders.dedup();
                Ok(if leaders.len() == 1 {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("leaders {leaders:?}"))
                })
            },
        )
        .await
    }

    /// The etcd member names, in the topology's order.
    pub fn etcd_member_names(&self) -> Vec<String> {
        self.state
            .etcd
            .iter()
            .map(|member| member.name.clone())
            .collect()
    }

    /// Opens the lab in `dir` that an earlier `up` left running.
    pub fn open(dir: &Path) -> Result<Lab, LabError> {
        let state = LabState::read(dir)?;
        Ok(Lab {
            state,
            wait_timeout: Duration::from_secs(60),
        })
    }

    /// Tears the lab in `dir` down: every process it started is stopped by PID, then `dir` is
    /// removed.
    pub fn down(self) -> Result<(), LabError> {
        teardown(&self.state, None)
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// The topology's name.
    pub fn topology(&self) -> &str {
        &self.state.topology
    }

    /// The node names, primary first.
    pub fn node_names(&self) -> Vec<String> {
        self.state
            .nodes
            .iter()
            .map(|node| node.name.clone())
            .collect()
    }

    /// The port clients use to reach `node` (through the proxy).
    pub fn client_port(&self, node: &str) -> Result<u16, LabError> {
        Ok(self.state.node(node)?.client_port)
    }

    /// The data directory of `node`.
    pub fn data_dir(&self, node: &str) -> Result<PathBuf, LabError> {
        Ok(self.state.node(node)?.data_dir.clone())
    }

    /// The server log of `node`.
    pub fn log_file(&self, node: &str) -> Result<PathBuf, LabError> {
        Ok(self.state.node(node)?.log_file.clone())
    }

    /// The postmaster PID of `node`, when it runs.
    pub fn postmaster_pid(&self, node: &str) -> Result<Option<i32>, LabError> {
        Ok(postmaster_of(&self.state, self.state.node(node)?))
    }

    /// Every live process the lab started: the proxy and every process of every instance.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .state
            .nodes
            .iter()
            .flat_map(|node| instance_pids(&self.state, node))
            .collect();
        pids.extend(self.state.etcd.iter().filter_map(etcd::member_pid));
        pids.extend(crate::web::pids(&self.state));
        if proxy_alive(&self.state) {
            pids.push(self.state.proxy_pid);
        }
        for host in &self.state.hosts {
            let status = host::status(host);
            pids.extend(status.supervisor_pid);
            pids.extend(status.nspawn_pid);
            pids.extend(status.container_pid);
        }
        pids
    }

    /// Connects to `node` over its Unix socket: the lab's own view, unaffected by `isolate`.
    pub async fn connect(&self, node: &str) -> Result<Client, LabError> {
        let node = self.state.node(node)?;
        connect_socket(&node.name, &node.socket_dir, Duration::from_secs(5)).await
    }

    /// Connects to `node` as a client does: through its proxy port.
    pub async fn connect_client(&self, node: &str) -> Result<Client, LabError> {
        let node = self.state.node(node)?;
        pg::connect_tcp(&node.name, node.client_port, Duration::from_secs(5)).await
    }

    /// The lab as `DIR/lab.json` now records it: another process (`hadome lab rebuild`, run by
    /// hadome's executor) may have changed a node's upstream since this handle read it.
    pub(crate) fn reread(&self) -> Result<Lab, LabError> {
        let state = LabState::read(&self.state.dir)?;
        if state.token != self.state.token {
            return Err(LabError::State {
                path: self.state.dir.join(STATE_FILE),
                message: format!(
                    "it now describes another lab (token {}, this one is {})",
                    state.token, self.state.token
                ),
            });
        }
        Ok(Lab {
            state,
            wait_timeout: self.wait_timeout,
        })
    }

    /// The estate as set up (and as rebuilt since), with every node's live state, probed
    /// concurrently; a node that does not answer within 2 s is reported, not waited for.
    pub async fn status(&self) -> Result<LabStatus, LabError> {
        self.reread()?.status_as_recorded().await
    }

    async fn status_as_recorded(&self) -> Result<LabStatus, LabError> {
        let blocked = if self.state.nodes.is_empty() && self.state.etcd.is_empty() {
            Ok(Vec::new())
        } else {
            self.blocked_routes().await
        };
        let mut probes = tokio::task::JoinSet::new();
        // Only a running instance is asked; the others are reported with their state.
        let mut not_running = BTreeMap::new();
        for (index, node) in self.state.nodes.iter().enumerate() {
            let process = process_state(&self.state, node);
            if process != "running" {
                not_running.insert(index, process);
                continue;
            }
            let node = node.clone();
            probes.spawn(async move { (index, probe(&node).await) });
        }
        let mut live_by_index = BTreeMap::new();
        while let Some(joined) = probes.join_next().await {
            let (index, result) = joined
                .map_err(|error| LabError::Bug(format!("a status probe panicked: {error}")))?;
            live_by_index.insert(index, result);
        }
        let blocked_list = blocked.as_ref().ok();
        let nodes = self
            .state
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let (live, probe_error) = match live_by_index.remove(&index) {
                    Some(Ok(live)) => (Some(live), None),
                    Some(Err(error)) => (None, Some(error_chain(&error))),
                    None => match not_running.get(&index) {
                        Some(process) => {
                            (None, Some(format!("not probed: the instance is {process}")))
                        }
                        None => (None, Some("not probed".to_owned())),
                    },
                };
                NodeStatus {
                    name: node.name.clone(),
                    role: if node.upstream.is_none() {
                        "primary"
                    } else {
                        "standby"
                    },
                    host: "127.0.0.1",
                    port: node.client_port,
                    pid: postmaster_of(&self.state, node),
                    data_dir: node.data_dir.clone(),
                    log_file: node.log_file.clone(),
                    upstream: node.upstream.clone(),
                    synchronous: node.synchronous,
                    process: process_state(&self.state, node),
                    isolated: blocked_list
                        .is_some_and(|routes| routes.contains(&proxy::client_route(&node.name))),
                    live,
                    probe_error,
                }
            })
            .collect();
        let links = self
            .state
            .links
            .iter()
            .filter_map(|link| {
                let cut = blocked_list.is_some_and(|routes| {
                    routes.contains(&proxy::link_route(&link.upstream, &link.standby))
                });
                let declared = self.state.nodes.iter().any(|node| {
                    node.name == link.standby && node.upstream.as_ref() == Some(&link.upstream)
                });
                (declared || cut).then(|| LinkStatus {
                    upstream: link.upstream.clone(),
                    standby: link.standby.clone(),
                    port: link.port,
                    cut,
                })
            })
            .collect();
        Ok(LabStatus {
            version: 1,
            topology: self.state.topology.clone(),
            dir: self.state.dir.clone(),
            proxy_pid: proxy_alive(&self.state).then_some(self.state.proxy_pid),
            nodes,
            links,
            hosts: self.state.hosts.iter().map(host::status).collect(),
            etcd: etcd::statuses(&self.state, blocked_list).await,
            etcd_clients: crate::etcd_clients::statuses(&self.state, blocked_list),
            etcd_tls: crate::tls::files_of(&self.state),
            web: crate::web::status(&self.state),
        })
    }

    /// Brings every host up: the cached roots (built or verified), a copy per host with the
    /// incident (or a node's PostgreSQL and SSH, `debian_hosts.rs`) written in, the lab backups, a
    /// supervisor; returns once systemd runs in each, and every node placed on a host streams.
    async fn hosts_up(&self) -> Result<(), LabError> {
        let mut cached: BTreeMap<&'static str, PathBuf> = BTreeMap::new();
        for host in &self.state.hosts {
            let recipe = crate::debian_hosts::recipe(&self.state, host);
            if cached.contains_key(recipe.prefix) {
                continue;
            }
            let root = rootfs::ensure(recipe).await?;
            eprintln!(
                "hadome lab: root filesystem {} in {:.2} s ({})",
                if root.built { "built" } else { "verified" },
                root.took.as_secs_f64(),
                root.root.display()
            );
            cached.insert(recipe.prefix, root.root);
        }
        let placed = self.state.nodes.iter().any(|node| node.host.is_some());
        if placed {
            crate::debian_hosts::make_client_key(&self.state.dir).await?;
        }
        for host in &self.state.hosts {
            create_dir(&host.home)?;
            let recipe = crate::debian_hosts::recipe(&self.state, host);
            let source = cached
                .get(recipe.prefix)
                .ok_or_else(|| LabError::Bug(format!("no cached root for `{}`", host.name)))?;
            let took = rootfs::copy(source, &host.root).await?;
            eprintln!(
                "hadome lab: copied the root filesystem for `{}` in {:.1} s",
                host.name,
                took.as_secs_f64()
            );
            host::prepare_root(host)?;
            if let Some(node) = self.state.node_on_host(&host.name) {
                crate::debian_hosts::prepare_root(&self.state, host, node).await?;
            }
            host::back_up(&self.state.dir, host)?;
            host::spawn_supervisor(&self.state, host)?;
        }
        if placed {
            crate::debian_hosts::write_known_hosts(&self.state)?;
        }
        for host in &self.state.hosts {
            self.wait_host_running(&host.name).await?;
        }
        if placed {
            self.placed_nodes_up().await?;
        }
        Ok(())
    }

    /// The host names.
    pub fn host_names(&self) -> Vec<String> {
        self.state
            .hosts
            .iter()
            .map(|host| host.name.clone())
            .collect()
    }

    /// The root filesystem of host `name`.
    pub fn host_root(&self, name: &str) -> Result<PathBuf, LabError> {
        Ok(self.state.host(name)?.root.clone())
    }

    /// The proxy routes currently blocked.
    pub(crate) async fn blocked_routes(&self) -> Result<Vec<String>, LabError> {
        let reply = proxy::request(&self.state.dir, "blocked").await?;
        serde_json::from_str(&reply).map_err(|error| LabError::Proxy {
            message: format!("unreadable answer to `blocked`: {error}"),
        })
    }

    /// A fresh primary's data directory for `node`: initdb as the lab runs it, and the include
    /// of the node's `hadome-lab.conf` (written by `configure`).
    pub(crate) async fn initdb(&self, node: &NodeState) -> Result<(), LabError> {
        let state = &self.state;
        let data_dir = node.data_dir.display().to_string();
        run(
            &state.run_as,
            &state.dir,
            &state.bindir.join("initdb"),
            [
                "-D",
                &data_dir,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
                // 1 MB segments: `stall` recycles past a standby in milliseconds, not minutes.
                "--wal-segsize=1",
            ],
            &format!("initdb for `{}`", node.name),
        )
        .await?;
        let conf = node.data_dir.join("postgresql.conf");
        append(
            &conf,
            &format!("\n# hadome lab: this node's settings\ninclude_if_exists = '{LAB_CONF}'\n"),
        )
    }

    async fn create_node(&self, spec: &NodeSpec) -> Result<(), LabError> {
        let state = &self.state;
        let node = state.node(&spec.name)?;
        let data_dir = node.data_dir.display().to_string();
        match &spec.upstream {
            None => self.initdb(node).await?,
            Some(upstream) => {
                let upstream = state.node(upstream)?;
                let socket_dir = upstream.socket_dir.display().to_string();
                let mut args = vec![
                    "-D".to_owned(),
                    data_dir.clone(),
                    "-h".to_owned(),
                    socket_dir,
                    "-p".to_owned(),
                    "5432".to_owned(),
                    "-U".to_owned(),
                    "postgres".to_owned(),
                    "--wal-method=stream".to_owned(),
                    "--checkpoint=fast".to_owned(),
                    "--no-sync".to_owned(),
                ];
                if spec.slot {
                    args.push("--create-slot".to_owned());
                    args.push(format!("--slot={}", spec.slot_name()));
                }
                run(
                    &state.run_as,
                    &state.dir,
                    &state.bindir.join("pg_basebackup"),
                    &args,
                    &format!("pg_basebackup of `{}` from `{}`", spec.name, upstream.name),
                )
                .await?;
            }
        }
        self.configure(node)?;
        self.pg_ctl_start(node).await?;
        if spec.upstream.is_none() {
            let client = self.connect(&spec.name).await?;
            pg::execute(
                &client,
                &spec.name,
                // The synchronous standby does not exist yet: a normal commit would wait for it.
                &format!(
                    "SET synchronous_commit = local; \
                     CREATE TABLE {LOAD_TABLE} (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
                ),
                self.wait_timeout,
            )
            .await?;
        }
        Ok(())
    }

    /// Writes the lab's files into `node`'s data directory, as its record in the lab state says:
    /// `hadome-lab.conf` (its settings), `pg_hba.conf`, and `standby.signal` for a standby.
    /// A base backup copies its source's files: these replace them.
    pub(crate) fn configure(&self, node: &NodeState) -> Result<(), LabError> {
        let state = &self.state;
        if node.upstream.is_some() {
            let signal = node.data_dir.join("standby.signal");
            std::fs::write(&signal, "").map_err(|source| LabError::Io {
                action: "write",
                path: signal.clone(),
                source,
            })?;
            hand_over(&state.run_as, &signal)?;
        }
        self.write_lab_conf(node)?;
        let hba = node.data_dir.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "# hadome lab: trust over the Unix socket only. The server listens on no TCP port; the\n\
             # lab proxy forwards 127.0.0.1 ports to this socket. A lab, never production.\n\
             local   all          all   trust\n\
             local   replication  all   trust\n",
        )
        .map_err(|source| LabError::Io {
            action: "write",
            path: hba.clone(),
            source,
        })?;
        hand_over(&state.run_as, &hba)
    }

    /// Writes `node`'s `hadome-lab.conf` as the lab state records the node.
    pub(crate) fn write_lab_conf(&self, node: &NodeState) -> Result<(), LabError> {
        let lab_conf = node.data_dir.join(LAB_CONF);
        std::fs::write(&lab_conf, self.lab_conf(node)?).map_err(|source| LabError::Io {
            action: "write",
            path: lab_conf.clone(),
            source,
        })?;
        hand_over(&self.state.run_as, &lab_conf)
    }

    /// Rewrites `name`'s `hadome-lab.conf` from the lab state and, when the instance runs, makes
    /// it read the file again (`pg_reload_conf()`), so that state, file and server agree.
    pub(crate) async fn rewrite_lab_conf(&self, name: &str) -> Result<(), LabError> {
        let node = self.state.node(name)?;
        if node.host.is_some() {
            // A node on a Debian host keeps its configuration as its host has it: the lab wrote
            // it before the first boot and never rewrites it (hadome's Debian actions own it).
            return Ok(());
        }
        self.write_lab_conf(node)?;
        if process_state(&self.state, node) == "running" {
            let client = self.connect(name).await?;
            pg::execute(
                &client,
                name,
                "SELECT pg_reload_conf()",
                Duration::from_secs(10),
            )
            .await?;
        }
        Ok(())
    }

    /// Whether `name`'s `hadome-lab.conf` on disk is what the lab state says it should be.
    pub(crate) fn lab_conf_is_current(&self, name: &str) -> Result<bool, LabError> {
        let node = self.state.node(name)?;
        if node.host.is_some() {
            return Ok(true);
        }
        let on_disk = std::fs::read_to_string(node.data_dir.join(LAB_CONF)).unwrap_or_default();
        Ok(on_disk == self.lab_conf(node)?)
    }

    /// Records `name`, which the server says is not in recovery, as a primary (no upstream): it
    /// was promoted, by the lab or by someone else (hadome's daemon promotes with SQL), and the
    /// lab state still names its old upstream. Its `hadome-lab.conf` is rewritten (no
    /// `primary_conninfo`) and reloaded; a node on a Debian host keeps its files (only the record
    /// changes). Returns whether the record changed.
    pub(crate) async fn record_promoted(&mut self, name: &str) -> Result<bool, LabError> {
        let node = self
            .state
            .nodes
            .iter_mut()
            .find(|node| node.name == name)
            .ok_or_else(|| LabError::Bug(format!("`{name}` vanished from the lab state")))?;
        if node.upstream.is_none() {
            return Ok(false);
        }
        node.upstream = None;
        self.state.write()?;
        self.rewrite_lab_conf(name).await?;
        Ok(true)
    }

    /// The text of `node`'s `hadome-lab.conf`: the lab's settings, its replication (upstream,
    /// slot, the standbys it waits for) as the lab state records it, then its topology settings.
    fn lab_conf(&self, node: &NodeState) -> Result<String, LabError> {
        let state = &self.state;
        let mut settings: Vec<(String, String)> = vec![
            ("cluster_name".into(), state.cluster_name(&node.name)),
            ("listen_addresses".into(), String::new()),
            ("port".into(), "5432".into()),
            (
                "unix_socket_directories".into(),
                node.socket_dir.display().to_string(),
            ),
        ];
        settings.extend(replication_settings());
        settings.push(("log_line_prefix".into(), "%m [%p] ".into()));
        settings.push((
            "synchronous_standby_names".into(),
            synchronous_standby_names(state, node),
        ));
        if let Some(upstream) = &node.upstream {
            let port = state.link_port(upstream, &node.name)?;
            settings.push((
                "primary_conninfo".into(),
                format!(
                    "host=127.0.0.1 port={port} user=postgres application_name={}",
                    node.name
                ),
            ));
            if node.slot {
                settings.push(("primary_slot_name".into(), node.slot_name()));
            }
        }
        settings.extend(
            node.settings
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        let mut text = format!(
            "# Written by hadome's lab for node `{}` of topology `{}`.\n\
             # postgresql.conf includes this file; lines appended to postgresql.conf after the include\n\
             # (as `hadome lab fault config-change` does) take precedence.\n",
            node.name, state.topology
        );
        for (key, value) in settings {
            text.push_str(&format!("{key} = {}\n", quote_setting(&value)));
        }
        Ok(text)
    }

    /// Stops `node`'s server cleanly (`pg_ctl stop -m fast`), waiting for it.
    pub(crate) async fn pg_ctl_stop(&self, node: &NodeState) -> Result<(), LabError> {
        let state = &self.state;
        let timeout = self.wait_timeout.as_secs().max(1).to_string();
        run(
            &state.run_as,
            &state.dir,
            &state.bindir.join("pg_ctl"),
            [
                OsString::from("stop"),
                "-D".into(),
                node.data_dir.clone().into(),
                "-m".into(),
                "fast".into(),
                "-w".into(),
                "-t".into(),
                timeout.into(),
                "-s".into(),
            ],
            &format!("stopping `{}`", node.name),
        )
        .await
        .map(drop)
    }

    pub(crate) async fn pg_ctl_start(&self, node: &NodeState) -> Result<(), LabError> {
        let state = &self.state;
        let result = run(
            &state.run_as,
            &state.dir,
            &state.bindir.join("pg_ctl"),
            [
                OsString::from("start"),
                "-D".into(),
                node.data_dir.clone().into(),
                "-l".into(),
                node.log_file.clone().into(),
                "-w".into(),
                "-t".into(),
                self.wait_timeout.as_secs().max(1).to_string().into(),
                "-s".into(),
            ],
            &format!("starting `{}`", node.name),
        )
        .await;
        result
            .map(drop)
            .map_err(|error| with_log_tail(error, &node.log_file))
    }

    pub(crate) async fn wait_streaming(&self, name: &str) -> Result<(), LabError> {
        let client = self.connect(name).await?;
        poll_until(
            name,
            "its WAL receiver to stream from its upstream",
            self.wait_timeout,
            || async {
                let row = pg::query_one(
                    &client,
                    name,
                    "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'no receiver')",
                    Duration::from_secs(5),
                )
                .await?;
                let status: String = row.get(0);
                Ok(if status == "streaming" {
                    Poll::Done(())
                } else {
                    Poll::NotYet(status)
                })
            },
        )
        .await
    }

    pub(crate) async fn wait_synchronous(&self, name: &str) -> Result<(), LabError> {
        let node = self.state.node(name)?;
        let upstream = node
            .upstream
            .as_deref()
            .ok_or_else(|| LabError::Bug(format!("synchronous `{name}` has no upstream")))?;
        let client = self.connect(upstream).await?;
        let sql = format!(
            "SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'), 'not connected')"
        );
        poll_until(
            name,
            "the primary to count it as synchronous",
            self.wait_timeout,
            || async {
                let row = pg::query_one(&client, upstream, &sql, Duration::from_secs(5)).await?;
                let sync_state: String = row.get(0);
                Ok(if sync_state == "sync" || sync_state == "quorum" {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("sync_state {sync_state}"))
                })
            },
        )
        .await
    }
}

impl LabGuard {
    async fn start_proxy(&mut self, options: &LabOptions) -> Result<(), LabError> {
        let state = &mut self.lab.state;
        let dir = state.dir.clone();
        let mut routes = Vec::new();
        for node in &state.nodes {
            routes.push(ProxyRoute {
                name: proxy::client_route(&node.name),
                target: node.socket_file(),
            });
            // The links of nodes on hosts listen inside the hosts' namespaces (`debian_hosts.rs`).
            for standby in state.nodes.iter().filter(|node| node.host.is_none()) {
                if standby.name != node.name && node.host.is_none() {
                    routes.push(ProxyRoute {
                        name: proxy::link_route(&node.name, &standby.name),
                        target: node.socket_file(),
                    });
                }
            }
        }
        routes.extend(etcd::routes(state));
        routes.extend(crate::etcd_clients::routes(state));
        routes.extend(crate::web::routes(state));
        routes.extend(crate::debian_hosts::routes(state));
        write_json_atomically(
            &dir.join(proxy::CONFIG_FILE),
            &ProxyConfig {
                routes,
                namespaces: crate::netns::namespaces(state),
            },
        )?;

        let (program, leading) = options
            .proxy_command
            .split_first()
            .ok_or_else(|| LabError::Bug("`LabOptions::proxy_command` is empty".to_owned()))?;
        let log_path = dir.join("proxy.log");
        let log = std::fs::File::create(&log_path).map_err(|source| LabError::Io {
            action: "create",
            path: log_path.clone(),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| LabError::Io {
            action: "open",
            path: log_path.clone(),
            source,
        })?;
        let mut command = std::process::Command::new(program);
        command
            .args(leading)
            .arg("--dir")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Its own process group: a Ctrl-C meant for the terminal's foreground job (a `lab up`
        // that already returned, a test run) does not reach it. The lab ends it by PID.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|source| LabError::Spawn {
            what: "the lab proxy".to_owned(),
            program: PathBuf::from(program).display().to_string(),
            source,
        })?;
        state.proxy_pid = child.id() as i32;
        let proxy_pid = state.proxy_pid;
        self.proxy_child = Some(child);

        let ready_path = dir.join(proxy::READY_FILE);
        let ready: ProxyReady = poll_until(
            "proxy",
            "the lab proxy to listen",
            self.lab.wait_timeout,
            || async {
                if !process::is_alive(proxy_pid) {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    return Err(LabError::Command {
                        what: "the lab proxy".to_owned(),
                        program: PathBuf::from(program).display().to_string(),
                        status: "an early exit".to_owned(),
                        stderr: log,
                    });
                }
                match std::fs::read_to_string(&ready_path) {
                    Ok(text) => serde_json::from_str(&text)
                        .map(Poll::Done)
                        .map_err(|error| LabError::Proxy {
                            message: format!("unreadable `{}`: {error}", ready_path.display()),
                        }),
                    Err(_) => Ok(Poll::NotYet("no ready file yet".to_owned())),
                }
            },
        )
        .await?;
        let state = &mut self.lab.state;
        for node in &mut state.nodes {
            node.client_port = port_of(&ready, &proxy::client_route(&node.name))?;
        }
        for member in &mut state.etcd {
            member.client_port = port_of(&ready, &proxy::client_route(&member.name))?;
            member.peer_port = port_of(&ready, &etcd::peer_route(&member.name))?;
        }
        crate::etcd_clients::record_ports(state, &ready)?;
        crate::web::record_port(state, &ready)?;
        crate::debian_hosts::record_ports(state, &ready)?;
        let names: Vec<String> = state
            .nodes
            .iter()
            .filter(|node| node.host.is_none())
            .map(|node| node.name.clone())
            .collect();
        for upstream in &names {
            for standby in &names {
                if upstream != standby {
                    state.links.push(LinkState {
                        upstream: upstream.clone(),
                        standby: standby.clone(),
                        port: port_of(&ready, &proxy::link_route(upstream, standby))?,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The `hadome` binary of a proxy command (`HADOME lab proxy`), as an absolute path; `None` for a
/// bare program name (found on PATH: its absolute path is not known here).
fn hadome_binary(proxy_command: &[OsString]) -> Option<PathBuf> {
    let program = PathBuf::from(proxy_command.first()?);
    if program.is_absolute() {
        Some(program)
    } else if program.components().count() > 1 {
        std::path::absolute(&program).ok()
    } else {
        None
    }
}

/// `DIR/nodes/NAME`: the node's own directory, holding its data, socket and log.
fn home_of(node: &NodeState) -> PathBuf {
    node.log_file
        .parent()
        .map_or_else(|| node.log_file.clone(), Path::to_path_buf)
}

fn port_of(ready: &ProxyReady, route: &str) -> Result<u16, LabError> {
    ready
        .ports
        .get(route)
        .copied()
        .ok_or_else(|| LabError::Bug(format!("the proxy did not bind route `{route}`")))
}

/// The replication settings every lab node gets, in its `hadome-lab.conf` (or, on a Debian host,
/// its `conf.d/hadome-lab.conf`).
pub(crate) fn replication_settings() -> Vec<(String, String)> {
    vec![
        ("wal_level".into(), "replica".into()),
        ("max_wal_senders".into(), "16".into()),
        ("max_replication_slots".into(), "16".into()),
        ("hot_standby".into(), "on".into()),
        ("wal_keep_size".into(), "64MB".into()),
        ("wal_retrieve_retry_interval".into(), "1s".into()),
        // An idle sender pings its standbys once half of this has passed without a reply, so
        // each standby hears its upstream about every 0.375 s (`last_msg_receipt_time`), and a
        // standby silent for 0.75 s is dropped (it reconnects within
        // `wal_retrieve_retry_interval`). `wal_receiver_status_interval` stays at its 10 s
        // default: status messages more often than that half would reset the sender's clock
        // before it pings. `docs/lab.md` says why hadome needs both, and `docs/daemon.md` what
        // the short timeout trades (issue 17: a hung primary failed over in under 1.5 s).
        ("wal_sender_timeout".into(), "750ms".into()),
    ]
}

/// `synchronous_standby_names` of `node`: the synchronous standbys that stream from it.
pub(crate) fn synchronous_standby_names(state: &LabState, node: &NodeState) -> String {
    let synchronous: Vec<String> = state
        .nodes
        .iter()
        .filter(|other| other.synchronous && other.upstream.as_deref() == Some(node.name.as_str()))
        .map(|other| format!("\"{}\"", other.name))
        .collect();
    match synchronous.len() {
        0 => String::new(),
        1 => synchronous[0].clone(),
        _ => format!("ANY 1 ({})", synchronous.join(", ")),
    }
}

/// The postmaster's PID on this machine, when it runs: from its `postmaster.pid`, checked against
/// `/proc/PID/cmdline`; for a node on a Debian host, that PID is the container's, translated
/// (`pg_host.rs`).
pub(crate) fn postmaster_of(state: &LabState, node: &NodeState) -> Option<i32> {
    match node.host {
        Some(_) => crate::pg_host::postmaster_pid(state, node),
        None => process::postmaster_pid(&node.data_dir),
    }
}

/// Every live process of a node's instance: the postmaster first, then its children and any
/// process bearing its `cluster_name` (backends a crashed postmaster left behind).
pub(crate) fn instance_pids(state: &LabState, node: &NodeState) -> Vec<i32> {
    let mut pids = Vec::new();
    if let Some(postmaster) = postmaster_of(state, node) {
        pids.push(postmaster);
        pids.extend(process::children_of(postmaster));
    }
    for pid in process::titled(&state.cluster_name(&node.name)) {
        if !pids.contains(&pid) {
            pids.push(pid);
        }
    }
    pids
}

/// `running`, `hung` (every process stopped), `hung-postmaster` (the postmaster alone) or `stopped`.
pub(crate) fn process_state(state: &LabState, node: &NodeState) -> &'static str {
    let Some(postmaster) = postmaster_of(state, node) else {
        return "stopped";
    };
    if !process::is_stopped(postmaster) {
        return "running";
    }
    let pids = instance_pids(state, node);
    if pids.iter().all(|pid| process::is_stopped(*pid)) {
        "hung"
    } else {
        "hung-postmaster"
    }
}

/// What a running node says of itself, asked over its socket within 2 s.
async fn probe(node: &NodeState) -> Result<LiveState, LabError> {
    let timeout = Duration::from_secs(2);
    let client = connect_socket(&node.name, &node.socket_dir, timeout).await?;
    let row = pg::query_one(&client, &node.name, "SELECT pg_is_in_recovery()", timeout).await?;
    let in_recovery: bool = row.get(0);
    let sql = if in_recovery {
        "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text, \
                coalesce((SELECT received_tli FROM pg_stat_wal_receiver), \
                         (SELECT timeline_id FROM pg_control_checkpoint()))::bigint, \
                (SELECT status FROM pg_stat_wal_receiver)"
    } else {
        "SELECT pg_current_wal_lsn()::text, \
                ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint, \
                NULL::text"
    };
    let row = pg::query_one(&client, &node.name, sql, timeout).await?;
    Ok(LiveState {
        in_recovery,
        lsn: row.get(0),
        timeline: row.get(1),
        wal_receiver: row.get(2),
    })
}

/// An error and its causes on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn proxy_alive(state: &LabState) -> bool {
    state.proxy_pid > 0
        && process::is_alive(state.proxy_pid)
        && process::cmdline(state.proxy_pid)
            .is_some_and(|line| line.contains(state.dir.to_string_lossy().as_ref()))
}

/// Stops every process of the lab by PID, then removes its directory.
fn teardown(state: &LabState, proxy_child: Option<std::process::Child>) -> Result<(), LabError> {
    let mut survivors = Vec::new();
    let mut cgroups_left = Vec::new();
    for host in state.hosts.iter().rev() {
        let (left, cgroups) = host::stop_blocking(host);
        survivors.extend(left);
        cgroups_left.extend(cgroups);
    }
    for node in state.nodes.iter().rev() {
        let pids = instance_pids(state, node);
        if !pids.is_empty() {
            // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster ends its children and
            // exits at once. A lab keeps nothing worth a checkpoint.
            survivors.extend(process::end(
                &pids,
                Signal::SIGQUIT,
                Duration::from_secs(10),
            ));
        }
    }
    for member in state.etcd.iter().rev() {
        survivors.extend(etcd::end(member, Signal::SIGTERM, Duration::from_secs(10)));
    }
    survivors.extend(crate::web::end(state));
    if proxy_alive(state) {
        survivors.extend(process::end(
            &[state.proxy_pid],
            Signal::SIGTERM,
            Duration::from_secs(5),
        ));
    }
    if let Some(mut child) = proxy_child {
        // Reap our own child so it does not linger as a zombie of a long test run.
        let _ = child.try_wait();
    }
    // Never remove through a mount: a bind mount left in this namespace would make the removal
    // reach outside the lab.
    let mounts = host::mounts_under(&state.dir);
    if !mounts.is_empty() {
        return Err(LabError::Host {
            host: "-".to_owned(),
            problem: format!("mounts remain under the lab directory: {mounts:?}"),
            fix: format!(
                "unmount them (`umount PATH`), then run `hadome lab down --dir {}` again",
                state.dir.display()
            ),
        });
    }
    if !cgroups_left.is_empty() {
        eprintln!("hadome lab: cgroups still in use after teardown: {cgroups_left:?}");
    }
    let removed = match std::fs::remove_dir_all(&state.dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LabError::Io {
            action: "remove the lab directory",
            path: state.dir.clone(),
            source,
        }),
    };
    if !survivors.is_empty() {
        return Err(LabError::Survivors { pids: survivors });
    }
    removed
}

fn prepare_dir(dir: &Path) -> Result<PathBuf, LabError> {
    let absolute = std::path::absolute(dir).map_err(|source| LabError::Io {
        action: "resolve",
        path: dir.to_owned(),
        source,
    })?;
    // PostgreSQL's socket path must fit in `sun_path` (107 bytes).
    let longest = absolute.join("nodes/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/run/.s.PGSQL.5432");
    if longest.as_os_str().len() > 107 {
        return Err(LabError::FaultRejected {
            fault: "up".to_owned(),
            node: "-".to_owned(),
            reason: format!(
                "`{}` is too long for a Unix socket path inside it",
                absolute.display()
            ),
            fix: "use a shorter directory, such as one under /tmp".to_owned(),
        });
    }
    match std::fs::read_dir(&absolute) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(LabError::DirNotEmpty { dir: absolute });
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_dir(&absolute)?,
        Err(source) => {
            return Err(LabError::Io {
                action: "read directory",
                path: absolute,
                source,
            })
        }
    }
    std::fs::canonicalize(&absolute).map_err(|source| LabError::Io {
        action: "resolve",
        path: absolute,
        source,
    })
}

fn create_dir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|source| LabError::Io {
        action: "create directory",
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn append(path: &Path, text: &str) -> Result<(), LabError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|source| LabError::Io {
            action: "open for appending",
            path: path.to_owned(),
            source,
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| LabError::Io {
            action: "append to",
            path: path.to_owned(),
            source,
        })
}

/// A value as postgresql.conf wants it: single-quoted, quotes doubled.
pub(crate) fn quote_setting(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Adds the end of the server log to a failed start, where PostgreSQL says why.
fn with_log_tail(error: LabError, log_file: &Path) -> LabError {
    match error {
        LabError::Command {
            what,
            program,
            status,
            stderr,
        } => {
            let log = std::fs::read_to_string(log_file).unwrap_or_default();
            LabError::Command {
                what,
                program,
                status,
                stderr: format!("{stderr}\n{log}"),
            }
        }
        other => other,
    }
}

/// A token unique enough to tell this lab's processes from another lab's on the same machine.
fn unique_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 40);
    format!("{:08x}", (mixed ^ (mixed >> 29)) & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hadome_binary_is_recorded_as_an_absolute_path() {
        let command = |program: &str| vec![OsString::from(program), "lab".into(), "proxy".into()];
        assert_eq!(
            hadome_binary(&command("/usr/bin/hadome")),
            Some(PathBuf::from("/usr/bin/hadome"))
        );
        assert_eq!(
            hadome_binary(&command("target/debug/hadome")),
            Some(std::env::current_dir().unwrap().join("target/debug/hadome"))
        );
        assert_eq!(hadome_binary(&command("hadome")), None);
        assert_eq!(hadome_binary(&[]), None);
    }

    /// A lab state for `lab_conf`: db-1 primary, db-2 its synchronous standby with a slot, db-3
    /// an asynchronous standby of db-2 with its own settings; link ports 5000 + a pair's index.
    fn three_nodes() -> Lab {
        let dir = PathBuf::from("/tmp/lab");
        let node = |name: &str, upstream: Option<&str>, synchronous: bool, slot: bool| {
            let home = dir.join("nodes").join(name);
            NodeState {
                name: name.to_owned(),
                upstream: upstream.map(str::to_owned),
                synchronous,
                slot,
                settings: if name == "db-3" {
                    BTreeMap::from([("wal_keep_size".to_owned(), "8MB".to_owned())])
                } else {
                    BTreeMap::new()
                },
                data_dir: home.join("data"),
                socket_dir: home.join("run"),
                log_file: home.join("postgresql.log"),
                client_port: 0,
                host: None,
            }
        };
        let names = ["db-1", "db-2", "db-3"];
        let mut links = Vec::new();
        for upstream in names {
            for standby in names {
                if upstream != standby {
                    links.push(LinkState {
                        upstream: upstream.to_owned(),
                        standby: standby.to_owned(),
                        port: 5000 + u16::try_from(links.len()).unwrap(),
                    });
                }
            }
        }
        Lab {
            state: LabState {
                version: LabState::new_version(),
                topology: "three".to_owned(),
                dir: dir.clone(),
                token: "t0k3n".to_owned(),
                bindir: PathBuf::from("/usr/lib/postgresql/15/bin"),
                run_as: crate::state::RunAs::CurrentUser,
                proxy_pid: 0,
                nodes: vec![
                    node("db-1", None, false, false),
                    node("db-2", Some("db-1"), true, true),
                    node("db-3", Some("db-2"), false, false),
                ],
                links,
                hadome_binary: None,
                hosts: Vec::new(),
                etcd: Vec::new(),
                etcd_clients: Vec::new(),
                web: None,
            },
            wait_timeout: Duration::from_secs(1),
        }
    }

    fn conf_lines(lab: &Lab, name: &str) -> Vec<String> {
        lab.lab_conf(lab.state.node(name).unwrap())
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lab_conf_follows_the_lab_state() {
        let mut lab = three_nodes();
        let primary = conf_lines(&lab, "db-1");
        assert!(primary.contains(&"cluster_name = 'hadome-lab-t0k3n-db-1'".to_owned()));
        assert!(primary.contains(&"synchronous_standby_names = '\"db-2\"'".to_owned()));
        // Standbys hear even an idle primary about every second (`docs/lab.md`).
        assert!(primary.contains(&"wal_sender_timeout = '750ms'".to_owned()));
        assert!(conf_lines(&lab, "db-3").contains(&"wal_sender_timeout = '750ms'".to_owned()));
        assert!(!primary
            .iter()
            .any(|line| line.starts_with("primary_conninfo")));

        let standby = conf_lines(&lab, "db-2");
        assert!(standby.contains(&"primary_conninfo = 'host=127.0.0.1 port=5000 user=postgres application_name=db-2'".to_owned()), "{standby:?}");
        assert!(standby.contains(&"primary_slot_name = 'db_2'".to_owned()));
        assert!(standby.contains(&"synchronous_standby_names = ''".to_owned()));
        assert!(standby.contains(&"unix_socket_directories = '/tmp/lab/nodes/db-2/run'".to_owned()));

        let cascaded = conf_lines(&lab, "db-3");
        // db-2 -> db-3 is the fourth link.
        assert!(cascaded.contains(&"primary_conninfo = 'host=127.0.0.1 port=5003 user=postgres application_name=db-3'".to_owned()), "{cascaded:?}");
        assert_eq!(
            cascaded.last().map(String::as_str),
            Some("wal_keep_size = '8MB'"),
            "topology settings come last"
        );

        // As a rebuild records it: db-3 now streams from db-1, db-2 without its slot.
        lab.state.nodes[2].upstream = Some("db-1".to_owned());
        lab.state.nodes[1].slot = false;
        let rebuilt = conf_lines(&lab, "db-3");
        assert!(rebuilt.contains(&"cluster_name = 'hadome-lab-t0k3n-db-3'".to_owned()));
        assert!(rebuilt.contains(&"primary_conninfo = 'host=127.0.0.1 port=5001 user=postgres application_name=db-3'".to_owned()), "{rebuilt:?}");
        assert!(!conf_lines(&lab, "db-2")
            .iter()
            .any(|line| line.starts_with("primary_slot_name")));
        assert_eq!(
            conf_lines(&lab, "db-1"),
            primary,
            "the primary's list is unchanged"
        );
    }

    #[test]
    fn settings_are_quoted_for_postgresql_conf() {
        assert_eq!(quote_setting("current"), "'current'");
        assert_eq!(quote_setting("it's"), "'it''s'");
        assert_eq!(quote_setting(""), "''");
    }

    #[test]
    fn up_refuses_a_directory_that_holds_something() {
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(scratch.path().join("precious"), "data").unwrap();
        let error = prepare_dir(scratch.path()).unwrap_err();
        assert!(matches!(error, LabError::DirNotEmpty { .. }), "{error}");
        assert!(
            scratch.path().join("precious").exists(),
            "nothing was touched"
        );
    }

    #[test]
    fn open_says_when_a_directory_holds_no_lab() {
        let scratch = tempfile::tempdir().unwrap();
        let error = Lab::open(scratch.path()).unwrap_err();
        assert!(matches!(error, LabError::NotALab { .. }), "{error}");
        assert!(error.hint().unwrap().contains("hadome lab up"));
    }
}
