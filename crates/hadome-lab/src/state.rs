//! `DIR/lab.json`: what a lab started, where, and as whom.
//!
//! Written by `lab up` (atomically: a temporary file renamed into place), rewritten by `lab
//! rebuild` (a node's new upstream), and read by every later command (`status`, `fault`, `load`,
//! `verify`, `down`). It records the facts the lab chose —
//! directories, ports, the proxy's PID, the OS user — never live state: a postmaster's PID is read
//! from its `postmaster.pid`, hangs from `/proc`, cuts from the proxy, each time they are needed.
//! This format is internal to the lab; `lab status --json` is the stable view.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LabError;

/// The state file's name inside the lab directory.
pub(crate) const STATE_FILE: &str = "lab.json";

/// The version of this file's format.
const STATE_VERSION: u32 = 1;

/// Everything a lab command needs to find the estate's parts again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LabState {
    pub(crate) version: u32,
    /// The topology's name.
    pub(crate) topology: String,
    /// The lab directory (absolute).
    pub(crate) dir: PathBuf,
    /// A token unique to this lab, part of every instance's `cluster_name`.
    pub(crate) token: String,
    /// PostgreSQL's binaries.
    pub(crate) bindir: PathBuf,
    /// The OS user the servers run as.
    pub(crate) run_as: RunAs,
    /// The proxy's PID.
    pub(crate) proxy_pid: i32,
    /// The nodes, primary first.
    pub(crate) nodes: Vec<NodeState>,
    /// Every link route: one per ordered pair of nodes.
    pub(crate) links: Vec<LinkState>,
    /// The `hadome` binary the lab was brought up with (absolute), which the estate file's
    /// commands run; `None` in a lab.json written before it was recorded.
    #[serde(default)]
    pub(crate) hadome_binary: Option<PathBuf>,
    /// The hosts (real systemd in containers); empty in a lab.json written before hosts existed.
    #[serde(default)]
    pub(crate) hosts: Vec<HostState>,
    /// The etcd members; empty in a lab.json written before they existed.
    #[serde(default)]
    pub(crate) etcd: Vec<EtcdState>,
    /// The named etcd clients (`etcd_clients.rs`); empty in a lab.json written before them.
    #[serde(default)]
    pub(crate) etcd_clients: Vec<crate::etcd_clients::EtcdClientState>,
    /// The showcase's web pieces (`web/`); absent in every other lab.
    #[serde(default)]
    pub(crate) web: Option<crate::web::WebState>,
}

/// One etcd member, as the lab set it up. Its PID is in `HOME/etcd.pid`, checked against
/// `/proc/PID/cmdline` each time it is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EtcdState {
    pub(crate) name: String,
    /// The lab host it is placed on (a name only).
    pub(crate) host: String,
    /// `DIR/etcd/NAME`: the member's working directory, where its Unix sockets are.
    pub(crate) home: PathBuf,
    /// `DIR/etcd/NAME/data`: etcd's `--data-dir`.
    pub(crate) data_dir: PathBuf,
    /// `DIR/etcd/NAME/etcd.log`.
    pub(crate) log_file: PathBuf,
    /// The proxy port of its client URL (`client:NAME`).
    pub(crate) client_port: u16,
    /// The proxy port of its peer URL (`peer:NAME`).
    pub(crate) peer_port: u16,
    /// Whether it serves TLS to clients (`lab up --tls`, `tls.rs`); false in a lab.json written
    /// before TLS existed.
    #[serde(default)]
    pub(crate) tls: bool,
}

/// One host, as the lab set it up. Its live state (supervisor, nspawn and container PIDs, boots)
/// is in `DIR/hosts/NAME/supervisor.json`, which its supervisor process writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HostState {
    pub(crate) name: String,
    /// `DIR/hosts/NAME`.
    pub(crate) home: PathBuf,
    /// `DIR/hosts/NAME/root`: the container's root filesystem, a copy of the cached one.
    pub(crate) root: PathBuf,
    /// `hadome-lab-TOKEN-NAME`: nspawn's `--machine` and the name of its cgroups.
    pub(crate) machine: String,
    pub(crate) reboot_daily_timer: bool,
    pub(crate) data_paths: Vec<String>,
    pub(crate) backed_up: Vec<String>,
    /// The proxy port of its `ssh:NAME` route, for a host that runs a node (`debian_hosts.rs`);
    /// `None` for other hosts and in a lab.json written before such hosts existed.
    #[serde(default)]
    pub(crate) ssh_port: Option<u16>,
}

/// One node, as the lab set it up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    /// The node it streams from: the topology's, or the source of its last `lab rebuild`.
    pub(crate) upstream: Option<String>,
    /// Whether the primary's `synchronous_standby_names` lists it (a rebuild does not change it).
    pub(crate) synchronous: bool,
    /// Whether its upstream keeps a replication slot for it (a rebuild uses none).
    pub(crate) slot: bool,
    /// Its postgresql.conf settings from the topology (`[settings]`, then the node's own); empty
    /// in a lab.json written before they were recorded.
    #[serde(default)]
    pub(crate) settings: BTreeMap<String, String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) socket_dir: PathBuf,
    pub(crate) log_file: PathBuf,
    /// The proxy port clients connect to.
    pub(crate) client_port: u16,
    /// The `[[host]]` it runs on as Debian's `postgresql@15-main` (`debian_hosts.rs`): its data
    /// directory is then inside that host's root; `None` for a node the lab runs itself, and in a
    /// lab.json written before hosted nodes existed.
    #[serde(default)]
    pub(crate) host: Option<String>,
}

/// The proxy port standby `standby` uses to stream from `upstream`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LinkState {
    pub(crate) upstream: String,
    pub(crate) standby: String,
    pub(crate) port: u16,
}

/// Whom the servers run as: this process's user, or (when it is root) `postgres`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RunAs {
    CurrentUser,
    User { name: String, uid: u32, gid: u32 },
}

impl NodeState {
    /// The Unix socket file PostgreSQL listens on (port 5432 inside the node's socket dir).
    pub(crate) fn socket_file(&self) -> PathBuf {
        self.socket_dir.join(".s.PGSQL.5432")
    }

    /// The name of the replication slot its upstream keeps for it (`[a-z0-9_]` only), as
    /// [`crate::NodeSpec::slot_name`].
    pub(crate) fn slot_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

impl LabState {
    pub(crate) fn new_version() -> u32 {
        STATE_VERSION
    }

    /// Reads `dir/lab.json`.
    pub(crate) fn read(dir: &Path) -> Result<LabState, LabError> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(LabError::NotALab {
                    dir: dir.to_owned(),
                })
            }
            Err(source) => {
                return Err(LabError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let state: LabState = serde_json::from_str(&text).map_err(|error| LabError::State {
            path: path.clone(),
            message: error.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(LabError::State {
                path,
                message: format!(
                    "format version {} (this hadome reads version {STATE_VERSION})",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    /// Writes it to `DIR/lab.json`, atomically.
    pub(crate) fn write(&self) -> Result<(), LabError> {
        write_json_atomically(&self.dir.join(STATE_FILE), self)
    }

    /// A node by name, or an error that lists the known ones.
    pub(crate) fn node(&self, name: &str) -> Result<&NodeState, LabError> {
        self.nodes
            .iter()
            .find(|node| node.name == name)
            .ok_or_else(|| LabError::UnknownNode {
                name: name.to_owned(),
                known: self.nodes.iter().map(|node| node.name.clone()).collect(),
            })
    }

    /// A host by name, or an error that lists the known ones.
    pub(crate) fn host(&self, name: &str) -> Result<&HostState, LabError> {
        self.hosts
            .iter()
            .find(|host| host.name == name)
            .ok_or_else(|| LabError::UnknownNode {
                name: name.to_owned(),
                known: self.hosts.iter().map(|host| host.name.clone()).collect(),
            })
    }

    /// The node that runs on host `name`, when one does.
    pub(crate) fn node_on_host(&self, name: &str) -> Option<&NodeState> {
        self.nodes
            .iter()
            .find(|node| node.host.as_deref() == Some(name))
    }

    /// An etcd member by name.
    pub(crate) fn etcd_member(&self, name: &str) -> Option<&EtcdState> {
        self.etcd.iter().find(|member| member.name == name)
    }

    /// The port of the link route from `upstream` to `standby`.
    pub(crate) fn link_port(&self, upstream: &str, standby: &str) -> Result<u16, LabError> {
        self.links
            .iter()
            .find(|link| link.upstream == upstream && link.standby == standby)
            .map(|link| link.port)
            .ok_or_else(|| LabError::Bug(format!("no link route from `{upstream}` to `{standby}`")))
    }

    /// The `cluster_name` of a node: it appears in every process title of the instance.
    pub(crate) fn cluster_name(&self, node: &str) -> String {
        format!("hadome-lab-{}-{node}", self.token)
    }
}

/// Writes `value` as pretty JSON to `path` through a temporary file and a rename, so a reader
/// never sees half a file.
pub(crate) fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), LabError> {
    let temporary = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| LabError::Bug(format!("lab state does not serialize: {error}")))?;
    std::fs::write(&temporary, text + "\n").map_err(|source| LabError::Io {
        action: "write",
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, path).map_err(|source| LabError::Io {
        action: "rename into place",
        path: path.to_owned(),
        source,
    })
}
