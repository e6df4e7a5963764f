//! `[coordination]` (issue 13 point 7, feature F28): the etcd cluster through which several
//! hadome daemons of one estate agree on one actor per cluster.
//!
//! Without the table, leases and holds live in the journal, as with one daemon. With it, the
//! daemons' leases and people's `hadome run` holds are etcd keys under `prefix`, attached to etcd
//! leases whose time to live is `lease_ttl_seconds` (default: the daemon's journal lease, six
//! probe intervals and at least 5 s). TLS and credentials are `[[quorum]]`'s keys with its rules
//! (`ca_file` ⇔ `https://`, `cert_file` with `key_file`, `user` with `password_file`). Its own
//! module: `parse.rs` holds the walk and the other tables.

use hadome_core::estate::Coordination;

use super::{Context, Entry};
use crate::error::ConfigError;

/// The keys of `[coordination]`.
pub(super) const COORDINATION_KEYS: &[&str] = &[
    "endpoints",
    "prefix",
    "lease_ttl_seconds",
    "ca_file",
    "cert_file",
    "key_file",
    "user",
    "password_file",
];

/// The key prefix when `prefix` is left out.
pub(crate) const DEFAULT_PREFIX: &str = "/hadome/";

/// The shortest etcd lease hadome asks for: etcd itself extends a shorter one to about its
/// election timeout, and a daemon must renew it several times within it.
const MIN_LEASE_TTL_SECONDS: f64 = 2.0;

/// The daemon's lease time to live when `lease_ttl_seconds` is left out: six probe intervals, at
/// least 5 s (the journal lease's, `daemon/mod.rs`), in whole seconds.
pub(crate) fn default_lease_ttl_seconds(probe_interval_seconds: f64) -> i64 {
    (probe_interval_seconds * 6.0).max(5.0).ceil() as i64
}

impl Context<'_> {
    /// `[coordination]`: its endpoints, prefix and lease time to live.
    pub(super) fn coordination(
        &self,
        entry: &Entry<'_, '_>,
        probe_interval_seconds: f64,
    ) -> Result<Coordination, ConfigError> {
        let table = self.subtable(entry, "coordination", "`[coordination]`")?;
        self.check_known(&table, COORDINATION_KEYS)?;

        let example = "endpoints = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]";
        let endpoints = self.names(&table, "endpoints", example, "etcd client URLs")?;
        for (position, (endpoint, offset)) in endpoints.iter().enumerate() {
            let key = format!("{}[{position}]", table.path("endpoints"));
            let rest = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"));
            if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                return Err(self.invalid(
                    *offset,
                    key,
                    format!("is `{endpoint}`, which is not an `http://` or `https://` URL"),
                    format!(
                        "write each etcd client URL as etcd advertises it, such as `{example}`"
                    ),
                ));
            }
        }
        let reached: Vec<(String, &str)> = endpoints
            .iter()
            .map(|(endpoint, _)| ("the coordination etcd".to_owned(), endpoint.as_str()))
            .collect();
        let security = self.security(&table, &reached)?;

        let prefix = match self.string(&table, "prefix", "prefix = \"/hadome/\"")? {
            None => DEFAULT_PREFIX.to_owned(),
            Some((prefix, offset)) => {
                if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.len() < 2 {
                    return Err(self.invalid(
                        offset,
                        table.path("prefix"),
                        format!("is `{prefix}`, which does not start and end with `/`"),
                        "give a key prefix such as `prefix = \"/hadome/\"` (hadome writes \
                         `PREFIX/lease/CLUSTER`, `PREFIX/hold/CLUSTER` and `PREFIX/intent/CLUSTER`)",
                    ));
                }
                prefix.to_owned()
            }
        };

        let default_ttl = default_lease_ttl_seconds(probe_interval_seconds);
        let lease_ttl_seconds =
            match self.seconds(&table, "lease_ttl_seconds", default_ttl as f64)? {
                ttl if ttl < MIN_LEASE_TTL_SECONDS || ttl.fract() != 0.0 || ttl > 3600.0 => {
                    let offset = table
                        .get("lease_ttl_seconds")
                        .map_or(table.offset, |entry| entry.value.span().start);
                    return Err(self.invalid(
                        offset,
                        table.path("lease_ttl_seconds"),
                        format!(
                            "is {ttl} s: an etcd lease lives a whole number of seconds, from \
                             {MIN_LEASE_TTL_SECONDS} to 3600"
                        ),
                        format!(
                            "write a whole number of seconds, such as `lease_ttl_seconds = \
                             {default_ttl}` (six probe intervals, the default): a daemon cut off \
                             from etcd stops acting within it"
                        ),
                    ));
                }
                ttl => ttl as i64,
            };
        Ok(Coordination {
            endpoints: endpoints
                .into_iter()
                .map(|(endpoint, _)| endpoint)
                .collect(),
            prefix,
            lease_ttl_seconds,
            security,
        })
    }
}
