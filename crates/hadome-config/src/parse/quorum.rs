//! `[[etcd]]` and `[[quorum]]` (issue 13, incident D): etcd members placed on hosts, and the
//! quorum clusters they vote in.
//!
//! A member names its client endpoints (`http://` or `https://` URLs), the host it is placed on
//! (an action on that host takes it down) and the argv commands that start and stop it. A quorum
//! lists its members by name; a member votes in at most one quorum, and member names are unique
//! across instances and members (`stop etcd-3` must name one target). Its own module: `parse.rs`
//! holds the walk and the other tables.

use std::collections::BTreeMap;

use std::path::PathBuf;

use hadome_core::quorum::{
    EtcdCredentials, EtcdMember, EtcdSecurity, MemberCommands, QuorumCluster, DEFAULT_MAX_RAFT_LAG,
};
use hadome_core::suggest::closest;
use toml::de::DeValue;

use super::host::valid_host_name;
use super::{Context, Placeholders, Table, Value, NO_PLACEHOLDERS};
use crate::error::ConfigError;

/// The keys of an `[[etcd]]`.
pub(super) const ETCD_KEYS: &[&str] = &[
    "name",
    "endpoints",
    "host",
    "data_dir",
    "start_command",
    "stop_command",
    "remove_command",
    "add_command",
    "promote_command",
];
/// `remove_command`'s, `add_command`'s and `promote_command`'s placeholders.
const MEMBER_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["target", "data_dir"],
    explained: "the placeholders are `{target}` (this member's name) and `{data_dir}` (its data \
                directory, `data_dir`: for `add_command` a fresh, empty one, the old one moved aside)",
};
/// The keys of a `[[quorum]]`.
pub(super) const QUORUM_KEYS: &[&str] = &[
    "name",
    "members",
    "max_raft_lag",
    "freshness_seconds",
    "ca_file",
    "cert_file",
    "key_file",
    "user",
    "password_file",
];

impl Context<'_> {
    /// One `[[etcd]]`. `instances` maps the instances' names to their lines and `seen` the
    /// members before it: a name is unique across both.
    pub(super) fn etcd_member(
        &self,
        index: usize,
        element: &Value<'_>,
        instances: &BTreeMap<String, usize>,
        seen: &BTreeMap<String, usize>,
    ) -> Result<EtcdMember, ConfigError> {
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("etcd[{index}]"),
                "a table",
                "start each etcd member with its own `[[etcd]]` header",
            ));
        };
        let mut table = self.table(
            raw,
            format!("etcd[{index}]"),
            "this `[[etcd]]`",
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"etcd-1\"")?;
        for (what, names) in [("instance", instances), ("etcd member", seen)] {
            if let Some(first_line) = names.get(name) {
                return Err(ConfigError::DuplicateName {
                    at: self.at(name_offset),
                    key: table.path("name"),
                    what,
                    name: name.to_owned(),
                    first_line: *first_line,
                });
            }
        }
        table.prefix = format!("etcd \"{name}\"");
        self.check_known(&table, ETCD_KEYS)?;

        let example = "endpoints = [\"https://10.0.0.1:2379\"]";
        let endpoints = self.names(&table, "endpoints", example, "URLs")?;
        for (position, (endpoint, offset)) in endpoints.iter().enumerate() {
            let rest = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"));
            if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                return Err(self.invalid(
                    *offset,
                    format!("{}[{position}]", table.path("endpoints")),
                    format!("is `{endpoint}`, which is not an `http://` or `https://` URL"),
                    format!(
                        "write the member's client URL as etcd advertises it \
                         (`--advertise-client-urls`), such as `{example}`"
                    ),
                ));
            }
        }
        let (host, host_offset) = self.required_string(&table, "host", "host = \"h1\"")?;
        if !valid_host_name(host) {
            return Err(self.invalid(
                host_offset,
                table.path("host"),
                format!("is `{host}`, which is not a valid host name"),
                "name the host the member runs on: 1 to 253 characters of a-z, 0-9, `-`, `_` \
                 and `.`, starting with a letter or digit",
            ));
        }
        let data_dir = match table.get("data_dir") {
            None => None,
            Some(_) => {
                let data_dir = self.absolute_path(
                    &table,
                    "data_dir",
                    "/var/lib/etcd/default",
                    "the member's data directory (etcd's `--data-dir`) on its host",
                )?;
                let text = data_dir.to_string_lossy();
                if let Some(problem) = super::data_dir::unsafe_data_dir(&text) {
                    let offset = table
                        .get("data_dir")
                        .map_or(table.offset, |entry| entry.value.span().start);
                    return Err(self.invalid(
                        offset,
                        table.path("data_dir"),
                        format!("is `{text}`, {problem}"),
                        "give the member's own data directory (etcd's `--data-dir`), such as \
                         `/var/lib/etcd/default`: hadome moves it aside when it replaces the member",
                    ));
                }
                Some(data_dir)
            }
        };
        let argv =
            |key: &str, example: &[&str]| self.command(&table, key, example, &NO_PLACEHOLDERS);
        let member_argv =
            |key: &str, example: &[&str]| self.command(&table, key, example, &MEMBER_PLACEHOLDERS);
        Ok(EtcdMember {
            name: name.to_owned(),
            endpoints: endpoints
                .into_iter()
                .map(|(endpoint, _)| endpoint)
                .collect(),
            host: host.to_owned(),
            data_dir,
            commands: MemberCommands {
                start: argv("start_command", &["systemctl", "start", "etcd"])?,
                stop: argv("stop_command", &["systemctl", "stop", "etcd"])?,
                remove: member_argv(
                    "remove_command",
                    &["/usr/local/bin/etcd-member-remove", "{target}"],
                )?,
                add: member_argv(
                    "add_command",
                    &[
                        "/usr/local/bin/etcd-member-add-learner",
                        "{target}",
                        "{data_dir}",
                    ],
                )?,
                promote: member_argv(
                    "promote_command",
                    &["/usr/local/bin/etcd-member-promote", "{target}"],
                )?,
            },
        })
    }

    /// One `[[quorum]]`: `seen` maps the quorums before it to their lines, `etcd` the
    /// `[[etcd]]` members, `membership` each member already listed to its quorum and line.
    pub(super) fn quorum(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        etcd: &[EtcdMember],
        membership: &mut BTreeMap<String, (String, usize)>,
    ) -> Result<QuorumCluster, ConfigError> {
        let members: Vec<String> = etcd.iter().map(|member| member.name.clone()).collect();
        let members = members.as_slice();
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("quorum[{index}]"),
                "a table",
                "start each quorum cluster with its own `[[quorum]]` header",
            ));
        };
        let mut table = self.table(
            raw,
            format!("quorum[{index}]"),
            "this `[[quorum]]`",
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"etcd\"")?;
        if let Some(first_line) = seen.get(name) {
            return Err(ConfigError::DuplicateName {
                at: self.at(name_offset),
                key: table.path("name"),
                what: "quorum",
                name: name.to_owned(),
                first_line: *first_line,
            });
        }
        table.prefix = format!("quorum \"{name}\"");
        self.check_known(&table, QUORUM_KEYS)?;

        let example = "members = [\"etcd-1\", \"etcd-2\", \"etcd-3\"]";
        let listed = self.names(&table, "members", example, "member names")?;
        let mut names: Vec<String> = Vec::with_capacity(listed.len());
        let mut lines: Vec<usize> = Vec::with_capacity(listed.len());
        for (position, (member, offset)) in listed.into_iter().enumerate() {
            let key = format!("{}[{position}]", table.path("members"));
            if !members.contains(&member) {
                let fix = match closest(&member, members) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "declare it first: `[[etcd]]` with `name = \"{member}\"`, its \
                         `endpoints` and `host` (examples/estate.toml)"
                    ),
                };
                return Err(self.invalid(
                    offset,
                    key,
                    format!("names `{member}`, which is not an `[[etcd]]` member"),
                    fix,
                ));
            }
            if let Some(first) = names.iter().position(|name| *name == member) {
                return Err(self.invalid(
                    offset,
                    key,
                    format!("lists `{member}` again (it is already `members[{first}]`)"),
                    "list each member once",
                ));
            }
            if let Some((quorum, line)) = membership.get(&member) {
                return Err(self.invalid(
                    offset,
                    key,
                    format!(
                        "lists `{member}`, already a member of quorum `{quorum}` (line {line})"
                    ),
                    format!(
                        "a member votes in one quorum: remove `{member}` from this quorum or \
                         from `{quorum}`"
                    ),
                ));
            }
            lines.push(self.line(offset));
            names.push(member);
        }
        for (member, line) in names.iter().zip(lines) {
            membership.insert(member.clone(), (name.to_owned(), line));
        }
        let listed: Vec<&EtcdMember> = etcd
            .iter()
            .filter(|member| names.contains(&member.name))
            .collect();
        let reached: Vec<(String, &str)> = listed
            .iter()
            .flat_map(|member| {
                member
                    .endpoints
                    .iter()
                    .map(|endpoint| (format!("`{}`", member.name), endpoint.as_str()))
            })
            .collect();
        let security = self.security(&table, &reached)?;
        Ok(QuorumCluster {
            name: name.to_owned(),
            members: names,
            max_raft_lag: self.raft_lag(&table)?,
            freshness_seconds: self.seconds(
                &table,
                "freshness_seconds",
                crate::DEFAULT_FRESHNESS_SECONDS,
            )?,
            security,
        })
    }

    /// A quorum's TLS and credentials: `ca_file` (then every member's endpoints are `https://`,
    /// and `https://` needs it), `cert_file` with `key_file`, `user` with `password_file`. Only
    /// paths are read here: files are opened by the probe, so a password never enters the estate.
    /// `reached` is each endpoint with what it reaches (`` `etcd-3` ``), as errors name it; the
    /// same keys and rules serve `[coordination]`.
    pub(super) fn security(
        &self,
        table: &Table<'_, '_>,
        reached: &[(String, &str)],
    ) -> Result<EtcdSecurity, ConfigError> {
        let path = |key: &str, example: &str, what: &str| -> Result<Option<PathBuf>, ConfigError> {
            match table.get(key) {
                None => Ok(None),
                Some(_) => self.absolute_path(table, key, example, what).map(Some),
            }
        };
        let ca_file = path("ca_file", "/etc/etcd/ca.crt", "the CA's certificate (PEM)")?;
        let cert_file = path(
            "cert_file",
            "/etc/hadome/etcd-client.crt",
            "the client certificate (PEM)",
        )?;
        let key_file = path(
            "key_file",
            "/etc/hadome/etcd-client.key",
            "the client certificate's key (PEM)",
        )?;
        let password_file = path(
            "password_file",
            "/etc/hadome/etcd-password",
            "the file holding the password",
        )?;
        let user = self.string(table, "user", "user = \"hadome\"")?;
        let offset = |key: &str| {
            table
                .get(key)
                .map_or(table.offset, |entry| entry.value.span().start)
        };
        let client_cert = match (cert_file, key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    offset("cert_file"),
                    table.path("cert_file"),
                    "is set without `key_file`",
                    "give the client certificate's key too: `key_file = \"/etc/hadome/etcd-client.key\"`",
                ))
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    offset("key_file"),
                    table.path("key_file"),
                    "is set without `cert_file`",
                    "give the client certificate too: `cert_file = \"/etc/hadome/etcd-client.crt\"`",
                ))
            }
        };
        let credentials =
            match (user, password_file) {
                (Some(("", offset)), _) => {
                    return Err(self.invalid(
                        offset,
                        table.path("user"),
                        "is empty",
                        "name the etcd user hadome reads as: `user = \"hadome\"`",
                    ))
                }
                (Some((user, _)), Some(password_file)) => Some(EtcdCredentials {
                    user: user.to_owned(),
                    password_file,
                }),
                (None, None) => None,
                (Some((_, offset)), None) => return Err(self.invalid(
                    offset,
                    table.path("user"),
                    "is set without `password_file`",
                    "give the file that holds the user's password (never the password itself): \
                     `password_file = \"/etc/hadome/etcd-password\"`",
                )),
                (None, Some(_)) => {
                    return Err(self.invalid(
                        offset("password_file"),
                        table.path("password_file"),
                        "is set without `user`",
                        "name the etcd user the password belongs to: `user = \"hadome\"`",
                    ))
                }
            };
        for (what, endpoint) in reached {
            let tls = endpoint.starts_with("https://");
            if tls && ca_file.is_none() {
                return Err(self.invalid(
                    table.offset,
                    table.path("ca_file"),
                    format!("is missing, and {what} is reached at `{endpoint}` (TLS)"),
                    "give the CA that signed the members' certificates: \
                     `ca_file = \"/etc/etcd/ca.crt\"`",
                ));
            }
            if !tls && ca_file.is_some() {
                return Err(self.invalid(
                    offset("ca_file"),
                    table.path("ca_file"),
                    format!("is set, but {what} is reached at `{endpoint}`, without TLS"),
                    "write the member's endpoint as `https://…`, or remove `ca_file`",
                ));
            }
        }
        if client_cert.is_some() && ca_file.is_none() {
            return Err(self.invalid(
                offset("cert_file"),
                table.path("cert_file"),
                "is set, but the quorum is not reached over TLS (no `ca_file`)",
                "give `ca_file` and `https://` endpoints, or remove the client certificate",
            ));
        }
        Ok(EtcdSecurity {
            ca_file,
            client_cert,
            credentials,
        })
    }

    /// A required, non-empty array of non-empty strings, each with its offset.
    pub(super) fn names(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        example: &str,
        what: &'static str,
    ) -> Result<Vec<(String, usize)>, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Err(self.missing(table, key, example));
        };
        let DeValue::Array(array) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path(key),
                "an array of strings",
                format!("list the {what} in quotes: `{example}`"),
            ));
        };
        if array.is_empty() {
            return Err(self.invalid(
                entry.value.span().start,
                table.path(key),
                "is empty",
                format!("list at least one, such as `{example}`"),
            ));
        }
        let mut names = Vec::with_capacity(array.len());
        for (position, item) in array.iter().enumerate() {
            let item_key = format!("{}[{position}]", table.path(key));
            let DeValue::String(text) = item.get_ref() else {
                return Err(self.wrong_type(
                    item,
                    item_key,
                    "a string",
                    format!("write each in quotes: `{example}`"),
                ));
            };
            let text: &str = text.as_ref();
            if text.is_empty() {
                return Err(self.invalid(
                    item.span().start,
                    item_key,
                    "is empty",
                    format!("give a value, such as `{example}`"),
                ));
            }
            names.push((text.to_owned(), item.span().start));
        }
        Ok(names)
    }

    /// `max_raft_lag`: a whole number of raft entries, 0 or more.
    fn raft_lag(&self, table: &Table<'_, '_>) -> Result<u64, ConfigError> {
        let Some(entry) = table.get("max_raft_lag") else {
            return Ok(DEFAULT_MAX_RAFT_LAG);
        };
        let example = format!("max_raft_lag = {DEFAULT_MAX_RAFT_LAG}");
        let DeValue::Integer(integer) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path("max_raft_lag"),
                "a whole number of raft entries",
                format!("write it as an integer, without quotes: `{example}`"),
            ));
        };
        i128::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .and_then(|value| u64::try_from(value).ok())
            .ok_or_else(|| {
                self.invalid(
                    entry.value.span().start,
                    table.path("max_raft_lag"),
                    format!(
                        "must be a whole number of raft entries, 0 or more, not `{}`",
                        self.text(entry.value)
                    ),
                    format!(
                        "write how far behind the leader's raft index a member may be and still \
                         count as healthy, such as `{example}`"
                    ),
                )
            })
    }
}
