//! Topologies: which nodes a lab estate has, who replicates from whom, and their settings.
//!
//! A topology is TOML. The built-ins (`pair`, `trio`, `misskey`, `mackerel`) are TOML files shipped
//! in `topologies/` and go through the same parser and validation as a user's file:
//!
//! ```toml
//! [settings]                # optional: postgresql.conf settings for every node
//! log_min_messages = "info"
//!
//! [[node]]
//! name = "db-1"             # the one node with no upstream is the primary
//!
//! [[node]]
//! name = "db-2"
//! upstream = "db-1"         # streams from db-1 (through the lab's link proxy)
//! synchronous = true        # only a standby of the primary can be synchronous
//! slot = false              # a physical replication slot on the upstream (default false)
//! settings = { wal_keep_size = "16MB" }
//! host = "host-2"           # optional: runs as Debian's postgresql@15-main on that `[[host]]`
//!                           # (every node placed, one per host, or none; `debian3`)
//!
//! [[host]]                  # a real systemd host in a container (`docs/lab.md`, "Hosts")
//! name = "s512"
//! reboot_daily_timer = true # the incident's `reboot-daily.timer` (Persistent=true) and service
//! data_paths = ["/srv/uploads", "/srv/config"]   # seeded with a few files each
//! backed_up = ["/srv/config"]                    # covered by a lab backup made at `lab up`
//!
//!
//! [[etcd]]                  # a real etcd member (`docs/lab.md`, "etcd members")
//! name = "etcd-1"
//! host = "h1"               # the lab host it is placed on: a name only, no container
//! ```
//!
//! A topology has `[[node]]`s, `[[host]]`s, `[[etcd]]` members, or any mix; a file without
//! `[[host]]` or `[[etcd]]` reads as before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::LabError;

/// The built-in topology names, in the order `hadome lab topologies` lists them.
pub const BUILT_IN_NAMES: &[&str] = &[
    "pair",
    "trio",
    "misskey",
    "mackerel",
    "s512",
    "etcd3",
    "pair-etcd",
    "showcase",
    "debian3",
];

fn built_in_source(name: &str) -> Option<&'static str> {
    match name {
        "pair" => Some(include_str!("../topologies/pair.toml")),
        "trio" => Some(include_str!("../topologies/trio.toml")),
        "misskey" => Some(include_str!("../topologies/misskey.toml")),
        "mackerel" => Some(include_str!("../topologies/mackerel.toml")),
        "s512" => Some(include_str!("../topologies/s512.toml")),
        "etcd3" => Some(include_str!("../topologies/etcd3.toml")),
        "pair-etcd" => Some(include_str!("../topologies/pair-etcd.toml")),
        "showcase" => Some(include_str!("../topologies/showcase.toml")),
        "debian3" => Some(include_str!("../topologies/debian3.toml")),
        _ => None,
    }
}

/// Settings the lab manages itself; a topology may not set them.
const RESERVED_SETTINGS: &[&str] = &[
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "primary_conninfo",
    "primary_slot_name",
    "synchronous_standby_names",
    "cluster_name",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
];

/// A validated topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The built-in's name, or the file's stem.
    pub name: String,
    /// The nodes, primary first, then every standby after its upstream (none in a topology of
    /// hosts alone).
    pub nodes: Vec<NodeSpec>,
    /// The hosts: real systemd machines in containers.
    pub hosts: Vec<HostSpec>,
    /// The etcd members: one quorum cluster, in declaration order.
    pub etcd: Vec<EtcdSpec>,
    /// Named etcd clients (`etcd_clients = ["d1", "d2"]`), each with its own proxy routes to
    /// every member (`etcd_clients.rs`).
    pub etcd_clients: Vec<String>,
    /// The showcase's `[web]` table (incident E: nginx, DNS, console, SSO, apps).
    pub web: Option<crate::web::WebSpec>,
}

/// One etcd member of a topology: a real `etcd` process started by the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSpec {
    /// The member's name: etcd's `--name` and its directory name.
    pub name: String,
    /// The lab host it is placed on: a name for the estate file's placement, not a container.
    pub host: String,
}

/// One host of a topology: a Debian bookworm with a real systemd, booted by `systemd-nspawn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The host's name: also its hostname inside the container and its directory name.
    pub name: String,
    /// Whether its root holds incident C's `reboot-daily.timer` (a daily `OnCalendar=` half a day from the lab's start,
    /// `Persistent=true`, enabled) and `reboot-daily.service` (`systemctl reboot`).
    pub reboot_daily_timer: bool,
    /// Absolute paths inside the host holding data; each gets a few files at `lab up`.
    pub data_paths: Vec<String>,
    /// The data paths a lab backup covers (a tar made at `lab up`, kept outside the host).
    pub backed_up: Vec<String>,
}

/// One node of a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The node's name: also its `application_name` and directory name.
    pub name: String,
    /// The node it streams from; `None` for the primary.
    pub upstream: Option<String>,
    /// Whether the primary waits for this standby's flush before acknowledging a commit.
    pub synchronous: bool,
    /// Whether the upstream keeps a physical replication slot for this standby.
    pub slot: bool,
    /// postgresql.conf settings: the topology's `[settings]`, then the node's own on top.
    pub settings: BTreeMap<String, String>,
    /// The `[[host]]` it runs on, as Debian's `postgresql@15-main` under that host's systemd
    /// (`debian_hosts.rs`); `None` for a node the lab runs on the machine itself.
    pub host: Option<String>,
}

impl NodeSpec {
    /// The replication slot's name on the upstream (slot names allow `[a-z0-9_]` only).
    pub fn slot_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

impl Topology {
    /// A built-in by name, or a topology file by path.
    pub fn resolve(name_or_path: &str) -> Result<Topology, LabError> {
        if let Some(source) = built_in_source(name_or_path) {
            return Topology::parse(name_or_path, &format!("built-in `{name_or_path}`"), source);
        }
        let path = Path::new(name_or_path);
        if path.is_file() {
            let source = std::fs::read_to_string(path).map_err(|source| LabError::Io {
                action: "read topology file",
                path: path.to_owned(),
                source,
            })?;
            let name = path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_else(|| "custom".to_owned());
            return Topology::parse(&name, &path.display().to_string(), &source);
        }
        let known: Vec<String> = BUILT_IN_NAMES
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        Err(LabError::UnknownTopology {
            name: name_or_path.to_owned(),
            suggestion: hadome_core::suggest::closest(name_or_path, &known).map(str::to_owned),
        })
    }

    /// The primary: the one node with no upstream; `None` in a topology of hosts alone.
    pub fn primary(&self) -> Option<&NodeSpec> {
        // Validation guarantees exactly one node without an upstream when there are nodes, and
        // sorts it first.
        self.nodes.first()
    }

    /// The node placed on host `name`, when one is.
    pub fn node_on(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes
            .iter()
            .find(|node| node.host.as_deref() == Some(name))
    }

    /// A host by name.
    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// Parses and validates `source`; `origin` names it in errors (a path or `built-in NAME`).
    pub fn parse(name: &str, origin: &str, source: &str) -> Result<Topology, LabError> {
        let raw: RawTopology = toml::from_str(source).map_err(|error| {
            let line = error.span().map_or(0, |span| line_of(source, span.start));
            LabError::Topology {
                origin: origin.to_owned(),
                line,
                message: error.message().trim().to_owned(),
                fix: "keys are `[settings]`, `[[node]]` tables with `name`, `upstream`, \
                      `synchronous`, `slot`, `settings` and `host`, and `[[host]]` tables with `name`, \
                      `reboot_daily_timer`, `data_paths` and `backed_up`, and `[[etcd]]` tables \
                      with `name` and `host`, and `etcd_clients`"
                    .to_owned(),
            }
        })?;
        Validator { origin, source }.validate(name, raw)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    #[serde(default)]
    settings: Option<Spanned<toml::Table>>,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    etcd: Vec<RawEtcd>,
    #[serde(default)]
    etcd_clients: Vec<Spanned<String>>,
    #[serde(default)]
    web: Option<crate::web::RawWeb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEtcd {
    name: Spanned<String>,
    host: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    #[serde(default)]
    reboot_daily_timer: bool,
    #[serde(default)]
    data_paths: Vec<Spanned<String>>,
    #[serde(default)]
    backed_up: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    #[serde(default)]
    upstream: Option<Spanned<String>>,
    #[serde(default)]
    synchronous: bool,
    #[serde(default)]
    slot: bool,
    #[serde(default)]
    settings: Option<Spanned<toml::Table>>,
    #[serde(default)]
    host: Option<Spanned<String>>,
}

struct Validator<'a> {
    origin: &'a str,
    source: &'a str,
}

impl Validator<'_> {
    fn error(&self, offset: usize, message: String, fix: impl Into<String>) -> LabError {
        LabError::Topology {
            origin: self.origin.to_owned(),
            line: line_of(self.source, offset),
            message,
            fix: fix.into(),
        }
    }

    /// `etcd_clients`: distinct valid names, and only beside `[[etcd]]` members.
    fn etcd_clients(&self, raw: &RawTopology) -> Result<Vec<String>, LabError> {
        let mut names: Vec<String> = Vec::new();
        for client in &raw.etcd_clients {
            let offset = client.span().start;
            self.check_name(client.get_ref(), offset)?;
            if raw.etcd.is_empty() {
                return Err(self.error(
                    offset,
                    "`etcd_clients` without any `[[etcd]]` member".to_owned(),
                    "etcd clients reach etcd members: add `[[etcd]]` members, or remove `etcd_clients`",
                ));
            }
            if names.contains(client.get_ref()) {
                return Err(self.error(
                    offset,
                    format!("etcd client `{}` is named twice", client.get_ref()),
                    "give every etcd client a distinct name",
                ));
            }
            names.push(client.get_ref().clone());
        }
        Ok(names)
    }

    fn validate(&self, name: &str, mut raw: RawTopology) -> Result<Topology, LabError> {
        if raw.node.is_empty() && raw.host.is_empty() && raw.etcd.is_empty() && raw.web.is_none() {
            return Err(LabError::Topology {
                origin: self.origin.to_owned(),
                line: 0,
                message: "the topology has no `[[node]]`, no `[[host]]` and no `[[etcd]]`"
                    .to_owned(),
                fix: "add at least a primary: `[[node]]` with `name = \"db-1\"`".to_owned(),
            });
        }
        let hosts = self.hosts(&raw)?;
        let etcd = self.etcd(&raw)?;
        let etcd_clients = self.etcd_clients(&raw)?;
        let web = raw
            .web
            .take()
            .map(|web| crate::web::spec(self.origin, web))
            .transpose()?;
        if raw.node.is_empty() {
            if let Some(settings) = &raw.settings {
                return Err(self.error(
                    settings.span().start,
                    "`[settings]` without any `[[node]]`".to_owned(),
                    "`[settings]` are PostgreSQL settings for nodes: remove them, or add a `[[node]]`",
                ));
            }
            return Ok(Topology {
                name: name.to_owned(),
                nodes: Vec::new(),
                hosts,
                etcd,
                etcd_clients,
                web,
            });
        }
        let common = match &raw.settings {
            Some(table) => self.settings(table, "the topology's `[settings]`")?,
            None => BTreeMap::new(),
        };

        let mut seen = BTreeSet::new();
        for node in &raw.node {
            let name = node.name.get_ref();
            self.check_name(name, node.name.span().start)?;
            if !seen.insert(name.clone()) {
                return Err(self.error(
                    node.name.span().start,
                    format!("node `{name}` is declared twice"),
                    "give every node a distinct `name`",
                ));
            }
        }

        let roots: Vec<&RawNode> = raw
            .node
            .iter()
            .filter(|node| node.upstream.is_none())
            .collect();
        let primary = match roots.as_slice() {
            [primary] => primary.name.get_ref().clone(),
            [] => {
                return Err(LabError::Topology {
                    origin: self.origin.to_owned(),
                    line: 0,
                    message: "every node has an `upstream`: there is no primary".to_owned(),
                    fix: "leave `upstream` out of exactly one node, the primary".to_owned(),
                })
            }
            [_, second, ..] => {
                return Err(self.error(
                    second.name.span().start,
                    format!(
                        "`{}` has no `upstream`, but `{}` is already the primary",
                        second.name.get_ref(),
                        roots[0].name.get_ref()
                    ),
                    "a lab estate has one primary: give this node an `upstream`",
                ))
            }
        };

        let mut nodes_by_name = BTreeMap::new();
        for node in &raw.node {
            let name = node.name.get_ref().clone();
            if let Some(upstream) = &node.upstream {
                let upstream_name = upstream.get_ref();
                if !seen.contains(upstream_name) {
                    let known: Vec<String> = seen.iter().cloned().collect();
                    let fix = match hadome_core::suggest::closest(upstream_name, &known) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("nodes: {}", known.join(", ")),
                    };
                    return Err(self.error(
                        upstream.span().start,
                        format!(
                            "`upstream` of `{name}` names `{upstream_name}`, which is not a node"
                        ),
                        fix,
                    ));
                }
                if upstream_name == &name {
                    return Err(self.error(
                        upstream.span().start,
                        format!("`{name}` names itself as its `upstream`"),
                        "a standby streams from another node",
                    ));
                }
                if node.synchronous && upstream_name != &primary {
                    return Err(self.error(
                        node.name.span().start,
                        format!(
                            "`{name}` is `synchronous` but streams from `{upstream_name}`, a standby"
                        ),
                        "PostgreSQL waits only for standbys of the primary: set `synchronous = false` \
                         or make the primary its `upstream`",
                    ));
                }
            } else if node.synchronous || node.slot {
                return Err(self.error(
                    node.name.span().start,
                    format!("`{name}` is the primary, but has `synchronous` or `slot`"),
                    "those keys describe a standby's link to its upstream: remove them from the primary",
                ));
            }
            let mut settings = common.clone();
            if let Some(table) = &node.settings {
                settings.extend(self.settings(table, &format!("`settings` of `{name}`"))?);
            }
            nodes_by_name.insert(
                name.clone(),
                NodeSpec {
                    name,
                    upstream: node
                        .upstream
                        .as_ref()
                        .map(|upstream| upstream.get_ref().clone()),
                    synchronous: node.synchronous,
                    slot: node.slot,
                    settings,
                    host: node.host.as_ref().map(|host| host.get_ref().clone()),
                },
            );
        }
        self.placements(&raw, &hosts)?;

        // Order: the primary, then each standby after its upstream. A node never reached from the
        // primary sits on an upstream cycle.
        let mut ordered: Vec<NodeSpec> = Vec::with_capacity(nodes_by_name.len());
        let mut frontier = vec![primary];
        while let Some(parent) = frontier.pop() {
            let node = nodes_by_name
                .remove(&parent)
                .ok_or_else(|| LabError::Bug(format!("topology node `{parent}` visited twice")))?;
            ordered.push(node);
            let mut children: Vec<String> = nodes_by_name
                .values()
                .filter(|node| node.upstream.as_deref() == Some(parent.as_str()))
                .map(|node| node.name.clone())
                .collect();
            children.reverse();
            frontier.extend(children);
        }
        if let Some(stranded) = nodes_by_name.keys().next() {
            let offset = raw
                .node
                .iter()
                .find(|node| node.name.get_ref() == stranded)
                .map_or(0, |node| node.name.span().start);
            return Err(self.error(
                offset,
                format!("`{stranded}` is on an upstream cycle: it never reaches the primary"),
                "every chain of `upstream` must end at the primary",
            ));
        }
        Ok(Topology {
            etcd_clients,
            name: name.to_owned(),
            nodes: ordered,
            hosts,
            etcd,
            web,
        })
    }

    /// `host` of the nodes: a `[[host]]` of the topology, one node per host, every node placed or
    /// none (a placed node reaches the others only inside its host's network namespace), and no
    /// `slot` (a placed standby is made by `pg_basebackup -R`, as a Debian user makes one).
    fn placements(&self, raw: &RawTopology, hosts: &[HostSpec]) -> Result<(), LabError> {
        let placed: Vec<&RawNode> = raw.node.iter().filter(|node| node.host.is_some()).collect();
        if placed.is_empty() {
            return Ok(());
        }
        if let Some(unplaced) = raw.node.iter().find(|node| node.host.is_none()) {
            return Err(self.error(
                unplaced.name.span().start,
                format!(
                    "`{}` has no `host`, but other nodes are placed on hosts",
                    unplaced.name.get_ref()
                ),
                "place every node on a `[[host]]` of its own (`host = \"host-1\"`), or none",
            ));
        }
        let names: Vec<String> = hosts.iter().map(|host| host.name.clone()).collect();
        let mut taken: Vec<&str> = Vec::new();
        for node in placed {
            let Some(host) = &node.host else { continue };
            let name = host.get_ref();
            if !names.contains(name) {
                let fix = match hadome_core::suggest::closest(name, &names) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "declare it as a `[[host]]` (`name = \"host-1\"`)".to_owned(),
                };
                return Err(self.error(
                    host.span().start,
                    format!(
                        "`host` of `{}` names `{name}`, which is not a `[[host]]`",
                        node.name.get_ref()
                    ),
                    fix,
                ));
            }
            if taken.contains(&name.as_str()) {
                return Err(self.error(
                    host.span().start,
                    format!("two nodes are placed on host `{name}`"),
                    "a host runs one cluster (Debian's `15/main`): give each node a host of its own",
                ));
            }
            taken.push(name);
            if node.slot {
                return Err(self.error(
                    node.name.span().start,
                    format!("`{}` is placed on a host and has `slot`", node.name.get_ref()),
                    "a placed standby is made with `pg_basebackup -R`, without a slot: remove `slot`",
                ));
            }
        }
        Ok(())
    }

    fn etcd(&self, raw: &RawTopology) -> Result<Vec<EtcdSpec>, LabError> {
        let mut members: Vec<EtcdSpec> = Vec::new();
        for member in &raw.etcd {
            let name = member.name.get_ref();
            self.check_name(name, member.name.span().start)?;
            let taken = members.iter().any(|other| &other.name == name)
                || raw.node.iter().any(|node| node.name.get_ref() == name)
                || raw.host.iter().any(|host| host.name.get_ref() == name);
            if taken {
                return Err(self.error(
                    member.name.span().start,
                    format!("`{name}` is declared twice"),
                    "give every node, host and etcd member a distinct `name`",
                ));
            }
            self.check_name(member.host.get_ref(), member.host.span().start)?;
            members.push(EtcdSpec {
                name: name.clone(),
                host: member.host.get_ref().clone(),
            });
        }
        Ok(members)
    }

    fn hosts(&self, raw: &RawTopology) -> Result<Vec<HostSpec>, LabError> {
        let mut hosts: Vec<HostSpec> = Vec::new();
        for host in &raw.host {
            let name = host.name.get_ref();
            self.check_name(name, host.name.span().start)?;
            let taken = hosts.iter().any(|other| &other.name == name)
                || raw.node.iter().any(|node| node.name.get_ref() == name);
            if taken {
                return Err(self.error(
                    host.name.span().start,
                    format!("`{name}` is declared twice"),
                    "give every node and host a distinct `name`",
                ));
            }
            let mut data_paths: Vec<String> = Vec::new();
            for path in &host.data_paths {
                self.check_data_path(path)?;
                if data_paths.contains(path.get_ref()) {
                    return Err(self.error(
                        path.span().start,
                        format!("`{}` is listed twice in `data_paths`", path.get_ref()),
                        "list each data path once",
                    ));
                }
                data_paths.push(path.get_ref().clone());
            }
            let mut backed_up = Vec::new();
            for path in &host.backed_up {
                if !data_paths.contains(path.get_ref()) {
                    let fix = match hadome_core::suggest::closest(path.get_ref(), &data_paths) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!(
                            "`backed_up` lists some of `data_paths`: {}",
                            data_paths.join(", ")
                        ),
                    };
                    return Err(self.error(
                        path.span().start,
                        format!("`backed_up` of `{name}` names `{}`, which is not one of its `data_paths`", path.get_ref()),
                        fix,
                    ));
                }
                backed_up.push(path.get_ref().clone());
            }
            hosts.push(HostSpec {
                name: name.clone(),
                reboot_daily_timer: host.reboot_daily_timer,
                data_paths,
                backed_up,
            });
        }
        Ok(hosts)
    }

    /// A data path is absolute, normal (no `.`, `..` or empty component), not `/`, and plain
    /// (letters, digits, `/`, `-`, `_`, `.`), so it can go into a command line and a tar as it is.
    fn check_data_path(&self, path: &Spanned<String>) -> Result<(), LabError> {
        let text = path.get_ref();
        let components: Vec<&str> = text.split('/').skip(1).collect();
        let valid = text.starts_with('/')
            && !components.is_empty()
            && components
                .iter()
                .all(|part| !part.is_empty() && *part != "." && *part != "..")
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
        if valid {
            Ok(())
        } else {
            Err(self.error(
                path.span().start,
                format!("data path `{text}` is not allowed"),
                "use an absolute path below `/` such as `/srv/uploads`: no `.`, `..`, empty part or trailing `/`, and only letters, digits, `-`, `_`, `.`",
            ))
        }
    }

    fn check_name(&self, name: &str, offset: usize) -> Result<(), LabError> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.starts_with(|first: char| first.is_ascii_lowercase() || first.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid {
            Ok(())
        } else {
            Err(self.error(
                offset,
                format!("node name `{name}` is not allowed"),
                "use 1 to 32 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit",
            ))
        }
    }

    fn settings(
        &self,
        table: &Spanned<toml::Table>,
        whose: &str,
    ) -> Result<BTreeMap<String, String>, LabError> {
        let mut settings = BTreeMap::new();
        for (key, value) in table.get_ref() {
            // The table's span starts at its first byte; the key is the first mention after it.
            let offset = self.source[table.span().start..]
                .find(key.as_str())
                .map_or(table.span().start, |at| table.span().start + at);
            if RESERVED_SETTINGS.contains(&key.as_str()) {
                return Err(self.error(
                    offset,
                    format!("{whose} sets `{key}`, which the lab manages itself"),
                    format!(
                        "remove `{key}`: the lab sets {}",
                        RESERVED_SETTINGS.join(", ")
                    ),
                ));
            }
            if !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
            {
                return Err(self.error(
                    offset,
                    format!("{whose} has `{key}`, which is not a PostgreSQL setting name"),
                    "setting names are lowercase, like `wal_keep_size`",
                ));
            }
            let text =
                match value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Integer(number) => number.to_string(),
                    toml::Value::Float(number) => number.to_string(),
                    toml::Value::Boolean(flag) => if *flag { "on" } else { "off" }.to_owned(),
                    other => return Err(self.error(
                        offset,
                        format!("{whose}: `{key}` is a {}", other.type_str()),
                        "a setting's value is a string, number or boolean, as in postgresql.conf",
                    )),
                };
            settings.insert(key.clone(), text);
        }
        Ok(settings)
    }
}

/// The 1-based line of a byte offset.
fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(source: &str) -> String {
        let error = Topology::parse("t", "t.toml", source).unwrap_err();
        let hint = error.hint().unwrap_or_default();
        format!("{error} | {hint}")
    }

    #[test]
    fn built_ins_parse_and_match_the_incidents() {
        for name in BUILT_IN_NAMES {
            Topology::resolve(name).unwrap();
        }
        let misskey = Topology::resolve("misskey").unwrap();
        let shape: Vec<(String, Option<String>, bool)> = misskey
            .nodes
            .iter()
            .map(|node| (node.name.clone(), node.upstream.clone(), node.synchronous))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("db-1".to_owned(), None, false),
                ("db-2".to_owned(), Some("db-1".to_owned()), true),
                ("db-3".to_owned(), Some("db-1".to_owned()), false),
                ("db-4".to_owned(), Some("db-3".to_owned()), false),
            ]
        );
        assert_eq!(
            misskey.node("db-3").unwrap().settings["wal_keep_size"],
            "8MB"
        );
        assert!(!misskey.node("db-3").unwrap().slot);
        let mackerel = Topology::resolve("mackerel").unwrap();
        assert_eq!(
            mackerel.node("db002").unwrap().settings["recovery_target_timeline"],
            "current"
        );
        assert_eq!(
            mackerel.node("db002").unwrap().upstream.as_deref(),
            Some("db001")
        );
    }

    #[test]
    fn the_annotated_example_parses() {
        let source = include_str!("../../../examples/lab-topology.toml");
        let topology =
            Topology::parse("lab-topology", "examples/lab-topology.toml", source).unwrap();
        assert_eq!(topology.nodes.len(), 4);
        assert!(topology.node("db-3").unwrap().slot);
        assert_eq!(
            topology.node("db-4").unwrap().settings["hot_standby_feedback"],
            "on"
        );
        assert_eq!(
            topology.node("db-4").unwrap().settings["log_min_messages"],
            "warning"
        );
    }

    #[test]
    fn standbys_come_after_their_upstream_even_when_declared_first() {
        let topology = Topology::parse(
            "t",
            "t.toml",
            "[[node]]\nname = \"c\"\nupstream = \"b\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\n[[node]]\nname = \"a\"\n",
        )
        .unwrap();
        let order: Vec<&str> = topology
            .nodes
            .iter()
            .map(|node| node.name.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn errors_name_the_line_the_key_and_the_fix() {
        let unknown = error_of("[[node]]\nname = \"db-1\"\nupstraem = \"db-2\"\n");
        assert!(unknown.starts_with("t.toml:3:"), "{unknown}");
        assert!(unknown.contains("upstraem"), "{unknown}");

        let typo =
            error_of("[[node]]\nname = \"db-1\"\n[[node]]\nname = \"db-2\"\nupstream = \"db1\"\n");
        assert!(typo.starts_with("t.toml:5:"), "{typo}");
        assert!(typo.contains("did you mean `db-1`?"), "{typo}");

        let two_primaries = error_of("[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n");
        assert!(two_primaries.starts_with("t.toml:4:"), "{two_primaries}");

        let cascade_sync = error_of(
            "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\n[[node]]\nname = \"c\"\nupstream = \"b\"\nsynchronous = true\n",
        );
        assert!(
            cascade_sync.contains("`c` is `synchronous`"),
            "{cascade_sync}"
        );

        let reserved = error_of("[[node]]\nname = \"a\"\n\nsettings = { port = 5433 }\n");
        assert!(reserved.starts_with("t.toml:4:"), "{reserved}");
        assert!(reserved.contains("`port`"), "{reserved}");

        let cycle = error_of(
            "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\nupstream = \"c\"\n[[node]]\nname = \"c\"\nupstream = \"b\"\n",
        );
        assert!(cycle.contains("cycle"), "{cycle}");

        let duplicate = error_of("[[node]]\nname = \"a\"\n[[node]]\nname = \"a\"\n");
        assert!(duplicate.contains("declared twice"), "{duplicate}");

        let bad_name = error_of("[[node]]\nname = \"DB 1\"\n");
        assert!(bad_name.contains("not allowed"), "{bad_name}");

        assert!(error_of("").contains("no `[[node]]`"));
        let member_host = error_of("[[etcd]]\nname = \"e\"\nhost = \"H 1\"\n");
        assert!(member_host.starts_with("t.toml:3:"), "{member_host}");
        let member_clash = error_of(
            "[[etcd]]\nname = \"e\"\nhost = \"h1\"\n[[etcd]]\nname = \"e\"\nhost = \"h2\"\n",
        );
        assert!(member_clash.contains("declared twice"), "{member_clash}");
        let no_host = error_of("[[etcd]]\nname = \"e\"\n");
        assert!(no_host.contains("host"), "{no_host}");
    }

    #[test]
    fn s512_is_one_host_with_the_incidents_timer_and_an_uncovered_data_path() {
        let s512 = Topology::resolve("s512").unwrap();
        assert!(s512.nodes.is_empty());
        assert_eq!(s512.primary(), None);
        assert_eq!(
            s512.hosts,
            vec![HostSpec {
                name: "s512".to_owned(),
                reboot_daily_timer: true,
                data_paths: vec!["/srv/uploads".to_owned(), "/srv/config".to_owned()],
                backed_up: vec!["/srv/config".to_owned()],
            }]
        );
    }

    #[test]
    fn host_errors_name_the_line_the_key_and_the_fix() {
        let unknown = error_of("[[host]]\nname = \"h\"\nreboot_timer = true\n");
        assert!(unknown.starts_with("t.toml:3:"), "{unknown}");
        let relative = error_of("[[host]]\nname = \"h\"\ndata_paths = [\"srv/x\"]\n");
        assert!(
            relative.contains("data path `srv/x` is not allowed"),
            "{relative}"
        );
        for bad in ["/", "/srv/", "/srv/../etc", "/srv/a b"] {
            let error = error_of(&format!(
                "[[host]]\nname = \"h\"\ndata_paths = [\"{bad}\"]\n"
            ));
            assert!(error.contains("is not allowed"), "{bad}: {error}");
        }
        let uncovered = error_of(
            "[[host]]\nname = \"h\"\ndata_paths = [\"/srv/uploads\"]\nbacked_up = [\"/srv/upload\"]\n",
        );
        assert!(uncovered.starts_with("t.toml:4:"), "{uncovered}");
        assert!(
            uncovered.contains("did you mean `/srv/uploads`?"),
            "{uncovered}"
        );
        let clash = error_of("[[node]]\nname = \"a\"\n[[host]]\nname = \"a\"\n");
        assert!(clash.contains("declared twice"), "{clash}");
        let settings = error_of("[settings]\nfsync = false\n[[host]]\nname = \"h\"\n");
        assert!(settings.contains("without any `[[node]]`"), "{settings}");
    }

    #[test]
    fn etcd3_is_three_members_on_three_hosts() {
        let etcd3 = Topology::resolve("etcd3").unwrap();
        assert!(etcd3.nodes.is_empty() && etcd3.hosts.is_empty());
        let placed: Vec<(&str, &str)> = etcd3
            .etcd
            .iter()
            .map(|member| (member.name.as_str(), member.host.as_str()))
            .collect();
        assert_eq!(
            placed,
            [("etcd-1", "h1"), ("etcd-2", "h2"), ("etcd-3", "h3")]
        );
    }

    #[test]
    fn debian3_places_one_node_on_each_of_three_hosts() {
        let debian3 = Topology::resolve("debian3").unwrap();
        let placed: Vec<(&str, Option<&str>, Option<&str>, bool)> = debian3
            .nodes
            .iter()
            .map(|node| {
                (
                    node.name.as_str(),
                    node.host.as_deref(),
                    node.upstream.as_deref(),
                    node.synchronous,
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("db-1", Some("host-1"), None, false),
                ("db-2", Some("host-2"), Some("db-1"), true),
                ("db-3", Some("host-3"), Some("db-1"), false),
            ]
        );
        assert_eq!(debian3.hosts.len(), 3);
        assert_eq!(debian3.node_on("host-2").unwrap().name, "db-2");
        assert!(Topology::resolve("trio")
            .unwrap()
            .nodes
            .iter()
            .all(|node| node.host.is_none()));
    }

    #[test]
    fn placement_errors_name_the_line_the_key_and_the_fix() {
        let hosts = "[[host]]\nname = \"host-1\"\n[[host]]\nname = \"host-2\"\n";
        let typo = error_of(&format!(
            "{hosts}[[node]]\nname = \"a\"\nhost = \"host1\"\n"
        ));
        assert!(typo.starts_with("t.toml:7:"), "{typo}");
        assert!(typo.contains("did you mean `host-1`?"), "{typo}");
        let mixed = error_of(&format!(
            "{hosts}[[node]]\nname = \"a\"\nhost = \"host-1\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\n"
        ));
        assert!(mixed.contains("`b` has no `host`"), "{mixed}");
        let shared = error_of(&format!(
            "{hosts}[[node]]\nname = \"a\"\nhost = \"host-1\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\nhost = \"host-1\"\n"
        ));
        assert!(
            shared.contains("two nodes are placed on host `host-1`"),
            "{shared}"
        );
        let slot = error_of(&format!(
            "{hosts}[[node]]\nname = \"a\"\nhost = \"host-1\"\n[[node]]\nname = \"b\"\nupstream = \"a\"\nslot = true\nhost = \"host-2\"\n"
        ));
        assert!(slot.contains("has `slot`"), "{slot}");
    }

    #[test]
    fn unknown_topology_suggests_a_built_in() {
        let error = Topology::resolve("miskey").unwrap_err();
        assert!(error.hint().unwrap().contains("did you mean `misskey`?"));
    }

    #[test]
    fn settings_merge_common_then_node_and_render_booleans() {
        let topology = Topology::parse(
            "t",
            "t.toml",
            "[settings]\nfsync = false\nwal_keep_size = \"1MB\"\n[[node]]\nname = \"a\"\nsettings = { wal_keep_size = 2048 }\n",
        )
        .unwrap();
        let settings = &topology.primary().unwrap().settings;
        assert_eq!(settings["fsync"], "off");
        assert_eq!(settings["wal_keep_size"], "2048");
    }
}
