//! A host's `ssh = { … }` and an instance's built-in actions (`actions = "debian"`, `cluster`,
//! `replication_conninfo`): issue 15. Its own module: `parse.rs` holds the walk and the other
//! tables.

use std::path::PathBuf;

use hadome_core::remote::{DebianCluster, SshAccess, DEFAULT_SSH_CONNECT_TIMEOUT_SECONDS};
use toml::de::DeValue;

use super::{Context, Table};
use crate::conninfo;
use crate::error::ConfigError;

/// The keys of a host's `ssh`.
const SSH_KEYS: &[&str] = &[
    "address",
    "port",
    "user",
    "identity_file",
    "known_hosts",
    "connect_timeout_seconds",
];

const SSH_EXAMPLE: &str = "ssh = { address = \"10.0.0.1\", user = \"root\", identity_file = \
                           \"/var/lib/hadome/.ssh/id_ed25519\", known_hosts = \
                           \"/etc/hadome/known_hosts\" }";

/// How an instance is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actions {
    Commands,
    Debian,
}

/// What an instance's `actions`, `cluster`, `data_dir` and `replication_conninfo` say.
pub(super) struct BuiltIn {
    /// The Debian cluster when `actions = "debian"`.
    pub(super) debian: Option<DebianCluster>,
    /// Its data directory when `data_dir` is not set (Debian's default for the cluster).
    pub(super) default_data_dir: Option<PathBuf>,
    pub(super) replication_conninfo: Option<String>,
}

impl Context<'_> {
    /// A host's `ssh`, when set.
    pub(super) fn ssh(&self, host: &Table<'_, '_>) -> Result<Option<SshAccess>, ConfigError> {
        let Some(entry) = host.get("ssh") else {
            return Ok(None);
        };
        let DeValue::Table(raw) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                host.path("ssh"),
                "a table",
                format!("write it as an inline table: `{SSH_EXAMPLE}`"),
            ));
        };
        let table = self.table(
            raw,
            host.path("ssh"),
            "this host's `ssh = { … }`",
            entry.value.span().start,
        );
        self.check_known(&table, SSH_KEYS)?;
        let (address, offset) =
            self.required_string(&table, "address", "address = \"10.0.0.1\"")?;
        let valid_address = !address.starts_with('-')
            && address.len() <= 253
            && address
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'));
        if !valid_address {
            return Err(self.invalid(
                offset,
                table.path("address"),
                format!("is `{address}`, which is not a host name or an IP address"),
                "give the address sshd listens on, such as `10.0.0.1` or `db-1.example.org` \
                 (no user, no port: they have their own keys)",
            ));
        }
        let port = self
            .integer_in(&table, "port", 1..=65535, 22, "sshd's port")?
            .map_or(22, |port| port as u16);
        let (user, offset) = self.required_string(&table, "user", "user = \"root\"")?;
        let valid_user = !user.starts_with('-')
            && user.len() <= 32
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_user {
            return Err(self.invalid(
                offset,
                table.path("user"),
                format!("is `{user}`, which is not a user name"),
                "give the remote user, such as `root` or `hadome` (a-z, 0-9, `-`, `_`, `.`)",
            ));
        }
        let identity_file = self.absolute_path(
            &table,
            "identity_file",
            "/var/lib/hadome/.ssh/id_ed25519",
            "the private key hadome logs in with",
        )?;
        let known_hosts = self.absolute_path(
            &table,
            "known_hosts",
            "/etc/hadome/known_hosts",
            "the known_hosts file holding the host's key (hadome never connects to a host whose \
             key it does not know)",
        )?;
        let connect_timeout_seconds = self.seconds(
            &table,
            "connect_timeout_seconds",
            DEFAULT_SSH_CONNECT_TIMEOUT_SECONDS,
        )?;
        if connect_timeout_seconds > 60.0 {
            let entry = table
                .get("connect_timeout_seconds")
                .map_or(table.offset, |entry| entry.value.span().start);
            return Err(self.invalid(
                entry,
                table.path("connect_timeout_seconds"),
                format!("is {connect_timeout_seconds} s, longer than a minute"),
                "keep it short (the default is 5 s): a failover waits for it before it knows \
                 the host cannot be reached",
            ));
        }
        Ok(Some(SshAccess {
            address: address.to_owned(),
            port,
            user: user.to_owned(),
            identity_file,
            known_hosts,
            connect_timeout_seconds,
        }))
    }

    /// An instance's `actions`, `cluster` and `replication_conninfo`; `commands` lists the argv
    /// keys it sets, which the built-in actions replace.
    pub(super) fn built_in(
        &self,
        table: &Table<'_, '_>,
        commands: &[&str],
    ) -> Result<BuiltIn, ConfigError> {
        let actions = self
            .choice(
                table,
                "actions",
                "a kind of actions",
                &[
                    (
                        "commands",
                        "the argv commands `start_command`, `stop_command`, … of this instance",
                        Actions::Commands,
                    ),
                    (
                        "debian",
                        "hadome's built-in actions for Debian's postgresql-common layout: \
                         pg_ctlcluster and postgresql@VERSION-NAME.service",
                        Actions::Debian,
                    ),
                ],
            )?
            .unwrap_or(Actions::Commands);
        let cluster = self.string(table, "cluster", "cluster = \"15/main\"")?;
        let replication_conninfo = match self.string(
            table,
            "replication_conninfo",
            "replication_conninfo = \"host=10.0.0.1 port=5432 user=replicator\"",
        )? {
            None => None,
            Some((text, offset)) => {
                if let Err(problem) = conninfo::parse(text) {
                    return Err(self.invalid(
                        offset,
                        table.path("replication_conninfo"),
                        problem.to_string(),
                        "write libpq `key=value` pairs, such as `host=10.0.0.1 port=5432 \
                         user=replicator`: how a standby on another host reaches this one",
                    ));
                }
                Some(text.to_owned())
            }
        };
        if actions == Actions::Commands {
            if let Some((_, offset)) = cluster {
                return Err(self.invalid(
                    offset,
                    table.path("cluster"),
                    "is set, but the instance's actions are its argv commands",
                    "add `actions = \"debian\"` to use the built-in actions on this cluster, or \
                     remove `cluster`",
                ));
            }
            return Ok(BuiltIn {
                debian: None,
                default_data_dir: None,
                replication_conninfo,
            });
        }
        if let Some(key) = commands.first() {
            let offset = table
                .get(key)
                .map_or(table.offset, |entry| entry.key_offset);
            return Err(self.invalid(
                offset,
                table.path(key),
                "is set beside `actions = \"debian\"`, whose built-in actions replace it",
                format!(
                    "remove `{key}` (hadome starts, stops, fences, promotes, rebuilds and \
                     repoints a Debian cluster itself), or set `actions = \"commands\"` to keep \
                     your own commands"
                ),
            ));
        }
        let Some((text, offset)) = cluster else {
            return Err(self.missing(table, "cluster", "cluster = \"15/main\""));
        };
        let Some(debian) = DebianCluster::parse(text) else {
            return Err(self.invalid(
                offset,
                table.path("cluster"),
                format!("is `{text}`, not a cluster as `pg_lsclusters` names one"),
                "write the major version and the cluster's name, such as `15/main` (the \
                 VERSION and CLUSTER columns of `pg_lsclusters`)",
            ));
        };
        Ok(BuiltIn {
            default_data_dir: Some(debian.default_data_dir()),
            debian: Some(debian),
            replication_conninfo,
        })
    }
}
