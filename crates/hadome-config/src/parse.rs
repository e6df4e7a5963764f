//! The walk from TOML text to an [`Estate`], checking every key against the format.
//!
//! The TOML parser (`toml::de::DeTable`) gives the document with the byte span of every key and
//! value; this module walks it table by table instead of deriving `Deserialize`, so that it owns
//! every message: an unknown key gets "did you mean", a missing key names the table's header
//! line, and each error names its key by its path in the file (`instance "db-3".conninfo`).
//! The first error found stops the walk.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use hadome_core::estate::{
    AsyncFailoverPolicy, Automation, Backup, BackupKind, Budget, Cluster, CrashPolicy, Estate,
    FailoverPolicy, Instance, InstanceCommands, Notify, OldPrimaryPolicy, Snapshot,
};
use hadome_core::suggest::closest;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{ConfigError, Location};

mod api;
mod coordination;
mod data_dir;
mod host;
mod quorum;
mod remote;
mod web;
use crate::{
    conninfo, DEFAULT_FRESHNESS_SECONDS, DEFAULT_HOST, DEFAULT_JOURNAL_PATH,
    DEFAULT_MAX_LAG_ON_FAILOVER_BYTES, DEFAULT_MAX_REPLICATION_LAG_BYTES,
    DEFAULT_PROBE_INTERVAL_SECONDS, DEFAULT_PROBE_TIMEOUT_SECONDS,
};

const TOP_KEYS: &[&str] = &[
    "journal",
    "probe",
    "notify",
    "instance",
    "cluster",
    "backup",
    "snapshot",
    "host",
    "etcd",
    "quorum",
    "coordination",
    "service",
    "route",
    "nginx",
    "api",
];
const BACKUP_KEYS: &[&str] = &[
    "name",
    "type",
    "instance",
    "path",
    "command",
    "max_age_seconds",
    "min_size_bytes",
    "max_shrink_ratio",
    "restore_test_max_age_seconds",
    "every_seconds",
    "restore_test_every_seconds",
    "restore_command",
    "covers",
    "stored_on",
];
const SNAPSHOT_KEYS: &[&str] = &["name", "protects", "location"];
const JOURNAL_KEYS: &[&str] = &["path"];
const PROBE_KEYS: &[&str] = &["timeout_seconds", "interval_seconds"];
const NOTIFY_KEYS: &[&str] = &["webhook_url"];
const INSTANCE_KEYS: &[&str] = &[
    "name",
    "conninfo",
    "data_dir",
    "host",
    "application_name",
    "start_command",
    "stop_command",
    "rebuild_command",
    "fence_command",
    "follow_command",
    "actions",
    "cluster",
    "replication_conninfo",
];
/// The argv keys of an `[[instance]]`, which `actions = "debian"` replaces.
const INSTANCE_COMMAND_KEYS: &[&str] = &[
    "start_command",
    "stop_command",
    "rebuild_command",
    "fence_command",
    "follow_command",
];
const CLUSTER_KEYS: &[&str] = &[
    "name",
    "members",
    "failover",
    "max_lag_on_failover_bytes",
    "freshness_seconds",
    "max_replication_lag_bytes",
    "on_primary_crash",
    "on_old_primary",
    "async_failover",
    "detection_seconds",
    "restart_window_seconds",
    "stall_seconds",
    "budget_window_seconds",
    "max_restarts_per_target",
    "max_rebuilds_per_target",
    "max_failovers",
];

/// The `{name}`s an argv command may hold, and what each stands for there (for hints).
struct Placeholders {
    /// The names, as written between braces.
    names: &'static [&'static str],
    /// What each stands for, as a phrase for hints ("the placeholders are …").
    explained: &'static str,
}

/// Every placeholder some command takes.
const ALL_PLACEHOLDERS: &[&str] = &[
    "source",
    "source_conninfo",
    "target",
    "data_dir",
    "output",
    "snapshot",
    "copy",
    "host",
    "image",
];
/// `start_command` and `stop_command`: a brace is an error.
const NO_PLACEHOLDERS: Placeholders = Placeholders {
    names: &[],
    explained: "",
};
/// `rebuild_command`'s placeholders.
const REBUILD_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["source", "source_conninfo", "target", "data_dir"],
    explained: "the placeholders are `{source}` (the source instance's name), \
                `{source_conninfo}` (its `conninfo`), `{target}` (this instance's name) and \
                `{data_dir}` (this instance's data directory, which hadome has moved aside: the \
                command must create it)",
};
/// `fence_command`'s placeholders: a fence has no source.
const FENCE_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["target", "data_dir"],
    explained: "the placeholders are `{target}` (this instance's name) and `{data_dir}` (its data \
                directory)",
};
/// `follow_command`'s placeholders: the same names as `rebuild_command`'s, but the data directory
/// is the running standby's own.
const FOLLOW_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["source", "source_conninfo", "target", "data_dir"],
    explained: "the placeholders are `{source}` (the new upstream instance's name), \
                `{source_conninfo}` (its `conninfo`), `{target}` (this instance's name) and \
                `{data_dir}` (this instance's data directory)",
};

/// The values of `failover`, each with what it means (for hints) and what it stands for; the
/// default first.
const FAILOVER_POLICIES: &[(&str, &str, FailoverPolicy)] = &[
    (
        "manual",
        "hadome never promotes on its own",
        FailoverPolicy::Manual,
    ),
    (
        "auto",
        "the daemon promotes an eligible standby",
        FailoverPolicy::Auto,
    ),
];
/// The values of `on_primary_crash`, the default first.
const CRASH_POLICIES: &[(&str, &str, CrashPolicy)] = &[
    (
        "restart",
        "start it again in place, within `max_restarts_per_target`, and fail over when that does \
         not bring it back within `restart_window_seconds`",
        CrashPolicy::Restart,
    ),
    (
        "failover",
        "promote a standby at once, as for a hang",
        CrashPolicy::Failover,
    ),
];
/// The values of `on_old_primary`, the default first.
const OLD_PRIMARY_POLICIES: &[(&str, &str, OldPrimaryPolicy)] = &[
    (
        "stop",
        "it stays fenced and stopped, its data untouched, until a person decides",
        OldPrimaryPolicy::Stop,
    ),
    (
        "rebuild",
        "it is rebuilt as a standby of the new primary, its data directory moved aside",
        OldPrimaryPolicy::Rebuild,
    ),
];

/// The values of `async_failover`, the default first.
const ASYNC_FAILOVER_POLICIES: &[(&str, &str, AsyncFailoverPolicy)] = &[
    (
        "escalate",
        "do not promote a standby nothing proves holds every acknowledged commit: escalate and \
         wait for the primary or a person",
        AsyncFailoverPolicy::Escalate,
    ),
    (
        "promote",
        "promote the most advanced eligible standby all the same, losing what the old primary \
         acknowledged and had not sent to it",
        AsyncFailoverPolicy::Promote,
    ),
];

/// The values of a backup's `type`, the most common first.
const BACKUP_KINDS: &[(&str, &str, BackupKind)] = &[
    (
        "pg_dump",
        "a `pg_dump -Fc` archive: its header, table of contents and data blocks are checked",
        BackupKind::PgDump,
    ),
    (
        "basebackup",
        "a `pg_basebackup` directory with its `backup_manifest`, checked by `pg_verifybackup`",
        BackupKind::BaseBackup,
    ),
    (
        "files",
        "any file: its size and checksum are checked",
        BackupKind::Files,
    ),
];
/// `command`'s placeholders in a `[[backup]]`.
const BACKUP_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["output", "snapshot"],
    explained: "the placeholders are `{output}` (the temporary path the command writes, which \
                hadome verifies, then renames into place) and `{snapshot}` (a snapshot of the \
                instance exported by hadome, for `pg_dump --snapshot={snapshot}`, so the row \
                counts hadome records are the dump's own)",
};
/// `restore_command`'s placeholders in a `[[backup]]`.
const RESTORE_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["copy", "target", "data_dir"],
    explained: "the placeholders are `{copy}` (the newest copy, which hadome has verified), \
                `{target}` (the instance restored) and `{data_dir}` (its data directory, which \
                hadome has moved aside: the command must create it, and leave it stopped)",
};

/// The longest `application_name` PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_APPLICATION_NAME: usize = 63;

type Value<'i> = Spanned<DeValue<'i>>;

/// Parses and validates an estate file's text; `path` names it in errors and anchors a relative
/// journal path.
pub(crate) fn parse(source: &str, path: &Path) -> Result<Estate, ConfigError> {
    let cx = Context { path, source };
    let document = DeTable::parse(source).map_err(|error| ConfigError::Syntax {
        at: cx.at(error.span().map_or(0, |span| span.start)),
        message: error
            .message()
            .trim()
            .lines()
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    let top = cx.table(document.get_ref(), String::new(), "the file", 0);
    cx.check_known(&top, TOP_KEYS)?;

    let journal_path = match top.get("journal") {
        None => PathBuf::from(DEFAULT_JOURNAL_PATH),
        Some(entry) => {
            let journal = cx.subtable(entry, "journal", "`[journal]`")?;
            cx.check_known(&journal, JOURNAL_KEYS)?;
            let example = format!("path = \"{DEFAULT_JOURNAL_PATH}\"");
            match cx.string(&journal, "path", &example)? {
                None => PathBuf::from(DEFAULT_JOURNAL_PATH),
                Some(("", offset)) => {
                    return Err(cx.invalid(
                        offset,
                        journal.path("path"),
                        "is empty",
                        format!(
                            "name the journal's SQLite file, such as `{example}` (relative to this \
                             file's directory), or leave the key out"
                        ),
                    ))
                }
                Some((text, _)) => PathBuf::from(text),
            }
        }
    };
    let journal_path = if journal_path.is_relative() {
        path.parent().unwrap_or(Path::new("")).join(journal_path)
    } else {
        journal_path
    };

    let (probe_timeout_seconds, probe_interval_seconds) = match top.get("probe") {
        None => (
            DEFAULT_PROBE_TIMEOUT_SECONDS,
            DEFAULT_PROBE_INTERVAL_SECONDS,
        ),
        Some(entry) => {
            let probe = cx.subtable(entry, "probe", "`[probe]`")?;
            cx.check_known(&probe, PROBE_KEYS)?;
            (
                cx.seconds(&probe, "timeout_seconds", DEFAULT_PROBE_TIMEOUT_SECONDS)?,
                cx.seconds(&probe, "interval_seconds", DEFAULT_PROBE_INTERVAL_SECONDS)?,
            )
        }
    };

    let coordination = match top.get("coordination") {
        None => None,
        Some(entry) => Some(cx.coordination(entry, probe_interval_seconds)?),
    };

    let api = match top.get("api") {
        None => None,
        Some(entry) => Some(cx.api(entry)?),
    };

    let notify = match top.get("notify") {
        None => Notify::default(),
        Some(entry) => {
            let notify = cx.subtable(entry, "notify", "`[notify]`")?;
            cx.check_known(&notify, NOTIFY_KEYS)?;
            Notify {
                webhook_url: cx.webhook_url(&notify)?,
            }
        }
    };

    let instance_entries = match top.get("instance") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "instance")?,
    };
    // A host alone is an estate too: `hadome ask reboot` on the host itself (its reboot guard);
    // so are etcd members alone (a quorum cluster and no PostgreSQL), and web tables alone (routes
    // and the services and nginx behind them).
    if instance_entries.is_empty()
        && ["host", "etcd", "service", "route", "nginx"]
            .iter()
            .all(|key| top.get(key).is_none())
    {
        return Err(ConfigError::NoInstances {
            at: cx.at_line(
                top.get("instance")
                    .map_or(0, |entry| cx.line(entry.key_offset)),
            ),
        });
    }
    let mut instances = Vec::with_capacity(instance_entries.len());
    let mut instance_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (index, element) in instance_entries.iter().enumerate() {
        let instance = cx.instance(index, element, &instance_lines)?;
        instance_lines.insert(instance.name.clone(), cx.line(element.span().start));
        instances.push(instance);
    }
    let instance_names: Vec<String> = instances
        .iter()
        .map(|instance| instance.name.clone())
        .collect();

    let cluster_entries = match top.get("cluster") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "cluster")?,
    };
    let mut clusters = Vec::with_capacity(cluster_entries.len());
    let mut cluster_lines: BTreeMap<String, usize> = BTreeMap::new();
    // Instance name → (its cluster, the line that lists it there).
    let mut membership: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (index, element) in cluster_entries.iter().enumerate() {
        let cluster = cx.cluster(
            index,
            element,
            &cluster_lines,
            &instance_names,
            &mut membership,
            probe_interval_seconds,
        )?;
        cluster_lines.insert(cluster.name.clone(), cx.line(element.span().start));
        clusters.push(cluster);
    }

    // Hosts before backups: a backup's `covers` and `stored_on` name them.
    let host_entries = match top.get("host") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "host")?,
    };
    let mut hosts = Vec::with_capacity(host_entries.len());
    let mut host_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (index, element) in host_entries.iter().enumerate() {
        let host = cx.host(index, element, &host_lines)?;
        host_lines.insert(host.name.clone(), cx.line(element.span().start));
        hosts.push(host);
    }
    let host_names: Vec<String> = hosts.iter().map(|host| host.name.clone()).collect();

    let etcd_entries = match top.get("etcd") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "etcd")?,
    };
    let mut etcd_members = Vec::with_capacity(etcd_entries.len());
    let mut member_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (index, element) in etcd_entries.iter().enumerate() {
        let member = cx.etcd_member(index, element, &instance_lines, &member_lines)?;
        member_lines.insert(member.name.clone(), cx.line(element.span().start));
        etcd_members.push(member);
    }
    cx.data_dirs_apart(&instance_entries, &instances, &etcd_entries, &etcd_members)?;
    let quorum_entries = match top.get("quorum") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "quorum")?,
    };
    let mut quorums = Vec::with_capacity(quorum_entries.len());
    let mut quorum_lines: BTreeMap<String, usize> = BTreeMap::new();
    let mut quorum_membership: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (index, element) in quorum_entries.iter().enumerate() {
        let quorum = cx.quorum(
            index,
            element,
            &quorum_lines,
            &etcd_members,
            &mut quorum_membership,
        )?;
        quorum_lines.insert(quorum.name.clone(), cx.line(element.span().start));
        quorums.push(quorum);
    }

    let backup_entries = match top.get("backup") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "backup")?,
    };
    let mut backups = Vec::with_capacity(backup_entries.len());
    let mut backup_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (index, element) in backup_entries.iter().enumerate() {
        let backup = cx.backup(index, element, &backup_lines, &instance_names, &host_names)?;
        backup_lines.insert(backup.name.clone(), cx.line(element.span().start));
        backups.push(backup);
    }

    let snapshot_entries = match top.get("snapshot") {
        None => Vec::new(),
        Some(entry) => cx.array_of_tables(entry, "snapshot")?,
    };
    let mut snapshots = Vec::with_capacity(snapshot_entries.len());
    let mut snapshot_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (index, element) in snapshot_entries.iter().enumerate() {
        let snapshot = cx.snapshot(index, element, &snapshot_lines)?;
        snapshot_lines.insert(snapshot.name.clone(), cx.line(element.span().start));
        snapshots.push(snapshot);
    }

    let entries = |key: &str| match top.get(key) {
        None => Ok(Vec::new()),
        Some(entry) => cx.array_of_tables(entry, key),
    };
    let web = cx.web(
        &entries("service")?,
        &entries("route")?,
        &entries("nginx")?,
        &host_names,
    )?;

    Ok(Estate {
        instances,
        clusters,
        journal_path,
        probe_timeout_seconds,
        probe_interval_seconds,
        notify,
        backups,
        snapshots,
        hosts,
        etcd_members,
        quorums,
        coordination,
        web,
        api,
    })
}

/// One key of a table, with where it is.
struct Entry<'d, 'i> {
    key: &'d str,
    key_offset: usize,
    value: &'d Value<'i>,
}

/// A TOML table, its entries in file order, and how errors name its keys.
struct Table<'d, 'i> {
    /// The path naming the table's keys: empty at the top level, `probe`, `instance "db-1"`.
    prefix: String,
    /// The table as a reader would find it: "this `[[instance]]`", "`[probe]`".
    header: &'static str,
    /// Where the table starts (its header), for keys it lacks.
    offset: usize,
    entries: Vec<Entry<'d, 'i>>,
}

impl<'d, 'i> Table<'d, 'i> {
    fn get(&self, key: &str) -> Option<&Entry<'d, 'i>> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    /// The full path of one of its keys.
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }
}

struct Context<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Context<'_> {
    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        self.source.as_bytes()[..end]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1
    }

    fn at(&self, offset: usize) -> Location {
        self.at_line(self.line(offset))
    }

    fn at_line(&self, line: usize) -> Location {
        Location {
            path: self.path.to_owned(),
            line,
        }
    }

    fn invalid(
        &self,
        offset: usize,
        key: String,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.at(offset),
            key,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn wrong_type(
        &self,
        value: &Value<'_>,
        key: String,
        expected: &'static str,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::WrongType {
            at: self.at(value.span().start),
            key,
            expected,
            found: article(value.get_ref()),
            fix: fix.into(),
        }
    }

    fn missing(&self, table: &Table<'_, '_>, key: &str, example: &str) -> ConfigError {
        ConfigError::MissingKey {
            at: self.at(table.offset),
            key: table.path(key),
            fix: format!("add `{example}` to {}", table.header),
        }
    }

    /// The entries of `table`, in file order.
    fn table<'d, 'i>(
        &self,
        table: &'d DeTable<'i>,
        prefix: String,
        header: &'static str,
        offset: usize,
    ) -> Table<'d, 'i> {
        let mut entries: Vec<Entry<'d, 'i>> = table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref().as_ref(),
                key_offset: key.span().start,
                value,
            })
            .collect();
        entries.sort_by_key(|entry| entry.key_offset);
        Table {
            prefix,
            header,
            offset,
            entries,
        }
    }

    /// The first key of `table` (in file order) that is not in `known` is an error.
    fn check_known(
        &self,
        table: &Table<'_, '_>,
        known: &'static [&'static str],
    ) -> Result<(), ConfigError> {
        match table
            .entries
            .iter()
            .find(|entry| !known.contains(&entry.key))
        {
            None => Ok(()),
            Some(entry) => Err(ConfigError::UnknownKey {
                at: self.at(entry.key_offset),
                key: table.path(entry.key),
                known,
                suggestion: closest(entry.key, known),
            }),
        }
    }

    /// A top-level table such as `[probe]`.
    fn subtable<'d, 'i>(
        &self,
        entry: &Entry<'d, 'i>,
        name: &str,
        header: &'static str,
    ) -> Result<Table<'d, 'i>, ConfigError> {
        match entry.value.get_ref() {
            DeValue::Table(table) => {
                Ok(self.table(table, name.to_owned(), header, entry.value.span().start))
            }
            _ => Err(self.wrong_type(
                entry.value,
                name.to_owned(),
                "a table",
                format!(
                    "write it as a table: a `[{name}]` header with its keys on the lines below"
                ),
            )),
        }
    }

    /// The entries of `[[name]]`, each checked to be a table.
    fn array_of_tables<'d, 'i>(
        &self,
        entry: &Entry<'d, 'i>,
        name: &str,
    ) -> Result<Vec<&'d Value<'i>>, ConfigError> {
        let fix = format!("start each {name} with its own `[[{name}]]` header (two brackets)");
        let DeValue::Array(array) = entry.value.get_ref() else {
            return Err(self.wrong_type(entry.value, name.to_owned(), "an array of tables", fix));
        };
        let mut elements = Vec::new();
        for (index, element) in array.iter().enumerate() {
            if !element.get_ref().is_table() {
                return Err(self.wrong_type(element, format!("{name}[{index}]"), "a table", fix));
            }
            elements.push(element);
        }
        Ok(elements)
    }

    /// An optional string and its offset; `example` shows the key written correctly.
    fn string<'d>(
        &self,
        table: &Table<'d, '_>,
        key: &str,
        example: &str,
    ) -> Result<Option<(&'d str, usize)>, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Ok(None);
        };
        match entry.value.get_ref() {
            DeValue::String(text) => Ok(Some((text.as_ref(), entry.value.span().start))),
            _ => Err(self.wrong_type(
                entry.value,
                table.path(key),
                "a string",
                format!("write it as a quoted string: `{example}`"),
            )),
        }
    }

    /// A required, non-empty string and its offset.
    fn required_string<'d>(
        &self,
        table: &Table<'d, '_>,
        key: &str,
        example: &str,
    ) -> Result<(&'d str, usize), ConfigError> {
        match self.string(table, key, example)? {
            None => Err(self.missing(table, key, example)),
            Some(("", offset)) => Err(self.invalid(
                offset,
                table.path(key),
                "is empty",
                format!("give a value, such as `{example}`"),
            )),
            Some(found) => Ok(found),
        }
    }

    /// A positive, finite number of seconds, integer or float.
    fn seconds(&self, table: &Table<'_, '_>, key: &str, default: f64) -> Result<f64, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Ok(default);
        };
        let example = format!("{key} = {default:?}");
        let seconds = match entry.value.get_ref() {
            DeValue::Integer(integer) => {
                i128::from_str_radix(integer.as_str(), integer.radix())
                    .map(|value| value as f64)
                    // Out of i128's range: TOML's own range is i64, so this is unreachable in
                    // practice; NaN fails the check below.
                    .unwrap_or(f64::NAN)
            }
            DeValue::Float(float) => float.as_str().parse::<f64>().unwrap_or(f64::NAN),
            _ => {
                return Err(self.wrong_type(
                    entry.value,
                    table.path(key),
                    "a number of seconds",
                    format!("write it as a number, without quotes or unit: `{example}`"),
                ))
            }
        };
        if seconds.is_finite() && seconds > 0.0 {
            Ok(seconds)
        } else {
            Err(self.invalid(
                entry.value.span().start,
                table.path(key),
                format!(
                    "must be a number of seconds above 0, not `{}`",
                    self.text(entry.value)
                ),
                format!("write a positive number of seconds, such as `{example}`"),
            ))
        }
    }

    /// A whole number of bytes, at least `minimum`.
    fn bytes(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        default: u64,
        minimum: u64,
    ) -> Result<u64, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Ok(default);
        };
        let example = format!("{key} = {}", default.max(minimum));
        let DeValue::Integer(integer) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path(key),
                "a whole number of bytes",
                format!("write it as an integer, without quotes or unit: `{example}`"),
            ));
        };
        let value = i128::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .and_then(|value| u64::try_from(value).ok())
            .filter(|value| *value >= minimum);
        value.ok_or_else(|| {
            let bound = match minimum {
                0 => "0 bytes or more".to_owned(),
                _ => format!("more than {} bytes", minimum - 1),
            };
            self.invalid(
                entry.value.span().start,
                table.path(key),
                format!("must be {bound}, not `{}`", self.text(entry.value)),
                format!("write a whole number of bytes, {bound}, such as `{example}`"),
            )
        })
    }

    /// A whole number of times (a budget's limit): 0 or more, up to `u32::MAX`.
    fn count(&self, table: &Table<'_, '_>, key: &str, default: u32) -> Result<u32, ConfigError> {
        let times = self.integer_in(
            table,
            key,
            0..=i128::from(u32::MAX),
            i128::from(default),
            "how many times the daemon may do it within `budget_window_seconds`, 0 (never on its own) or more",
        )?;
        // Within 0..=u32::MAX, so it fits.
        Ok(times.map_or(default, |times| u32::try_from(times).unwrap_or(default)))
    }

    /// An optional whole number within `range`; `what` says what it counts, for the fix.
    pub(super) fn integer_in(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        range: RangeInclusive<i128>,
        example: i128,
        what: &str,
    ) -> Result<Option<i128>, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Ok(None);
        };
        let example = format!("{key} = {example}");
        let DeValue::Integer(integer) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path(key),
                "a whole number",
                format!("write it as an integer, without quotes: `{example}`"),
            ));
        };
        i128::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .filter(|value| range.contains(value))
            .map(Some)
            .ok_or_else(|| {
                self.invalid(
                    entry.value.span().start,
                    table.path(key),
                    format!(
                        "must be a whole number from {} to {}, not `{}`",
                        range.start(),
                        range.end(),
                        self.text(entry.value)
                    ),
                    format!("write {what}, such as `{example}`"),
                )
            })
    }

    /// An optional word from a closed set: `values` pairs each word with what it means (for hints)
    /// and what it stands for, the default first. `what` names the set ("a failover policy").
    fn choice<T: Copy>(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        what: &str,
        values: &[(&'static str, &'static str, T)],
    ) -> Result<Option<T>, ConfigError> {
        let example = format!("{key} = \"{}\"", values.first().map_or("", |value| value.0));
        let Some((word, offset)) = self.string(table, key, &example)? else {
            return Ok(None);
        };
        if let Some((_, _, value)) = values.iter().find(|value| value.0 == word) {
            return Ok(Some(*value));
        }
        let words: Vec<&str> = values.iter().map(|value| value.0).collect();
        let explained: Vec<String> = values
            .iter()
            .map(|(word, meaning, _)| format!("`{word}` ({meaning})"))
            .collect();
        let fix = match closest(word, &words) {
            Some(close) => format!(
                "did you mean `{close}`? the values are {}",
                enumerate(&explained, "and")
            ),
            None => format!("use {}", enumerate(&explained, "or")),
        };
        Err(self.invalid(
            offset,
            table.path(key),
            format!("is `{word}`, which is not {what}"),
            fix,
        ))
    }

    /// `[notify]`'s `webhook_url`: an `http://` or `https://` URL. The value is never repeated in
    /// an error: a webhook's URL is its secret (Slack's and Discord's carry their token).
    fn webhook_url(&self, notify: &Table<'_, '_>) -> Result<Option<String>, ConfigError> {
        let example = "webhook_url = \"https://hooks.slack.com/services/T000/B000/XXXX\"";
        let fix = format!(
            "write the webhook's whole URL, scheme included, such as `{example}`, or leave the \
             key out"
        );
        match self.string(notify, "webhook_url", example)? {
            None => Ok(None),
            Some(("", offset)) => {
                Err(self.invalid(offset, notify.path("webhook_url"), "is empty", fix))
            }
            Some((url, offset)) => {
                let after_scheme = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                match after_scheme {
                    None => Err(self.invalid(
                        offset,
                        notify.path("webhook_url"),
                        "does not start with `http://` or `https://`",
                        fix,
                    )),
                    Some("") => Err(self.invalid(
                        offset,
                        notify.path("webhook_url"),
                        "has nothing after its scheme",
                        fix,
                    )),
                    Some(_) => Ok(Some(url.to_owned())),
                }
            }
        }
    }

    /// A value as the file writes it.
    fn text<'s>(&'s self, value: &Value<'_>) -> &'s str {
        self.source.get(value.span()).unwrap_or_default().trim()
    }

    /// An optional argv command (`start_command` …): a non-empty array of non-empty strings, run
    /// without a shell. `placeholders` are the `{name}`s its elements may hold; with none, a brace
    /// is an error. `example` is a valid value, for hints.
    fn command(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        example: &[&str],
        placeholders: &Placeholders,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(entry) = table.get(key) else {
            return Ok(None);
        };
        let written = |words: &[&str]| {
            let quoted: Vec<String> = words.iter().map(|word| toml_string(word)).collect();
            format!("{key} = [{}]", quoted.join(", "))
        };
        let array = match entry.value.get_ref() {
            DeValue::Array(array) => array,
            DeValue::String(text) => {
                // A shell-style string: show it split into words (hadome runs no shell).
                let words: Vec<&str> = text.split_whitespace().collect();
                let shown = if words.is_empty() {
                    written(example)
                } else {
                    written(&words)
                };
                return Err(self.wrong_type(
                    entry.value,
                    table.path(key),
                    "an argv array of strings",
                    format!(
                        "write it as an argv array, one string per argument (hadome runs no \
                         shell): `{shown}`"
                    ),
                ));
            }
            _ => {
                return Err(self.wrong_type(
                    entry.value,
                    table.path(key),
                    "an argv array of strings",
                    format!(
                        "write it as an argv array, one string per argument (hadome runs no \
                         shell): `{}`",
                        written(example)
                    ),
                ))
            }
        };
        if array.is_empty() {
            return Err(self.invalid(
                entry.value.span().start,
                table.path(key),
                "is empty",
                format!(
                    "give the program and its arguments, such as `{}`, or leave the key out",
                    written(example)
                ),
            ));
        }
        let mut argv = Vec::with_capacity(array.len());
        for (position, element) in array.iter().enumerate() {
            let element_key = format!("{}[{position}]", table.path(key));
            let offset = element.span().start;
            let DeValue::String(argument) = element.get_ref() else {
                return Err(self.wrong_type(
                    element,
                    element_key,
                    "a string",
                    format!("quote every argument, numbers too: `{}`", written(example)),
                ));
            };
            let argument: &str = argument.as_ref();
            if argument.is_empty() {
                let fix = if position == 0 {
                    "name the program to run first, as an absolute path or a name found on \
                     hadome's PATH"
                        .to_owned()
                } else {
                    "remove the empty string: each element is passed as one argument, so `\"\"` \
                     would be an empty argument"
                        .to_owned()
                };
                return Err(self.invalid(offset, element_key, "is empty", fix));
            }
            if let Err(problem) = check_placeholders(argument, placeholders.names) {
                let explained = placeholders.explained;
                let fix = if placeholders.names.is_empty() {
                    format!(
                        "write the instance's names and paths literally: `{key}` takes no \
                         placeholders (only `rebuild_command`, `fence_command` and \
                         `follow_command` do)"
                    )
                } else {
                    match &problem {
                        Placeholder::Unknown(name) => match closest(name, placeholders.names) {
                            Some(close) => format!("did you mean `{{{close}}}`? {explained}"),
                            None => format!("use one of them: {explained}"),
                        },
                        Placeholder::Unclosed | Placeholder::Unopened => {
                            format!("write each placeholder whole, as `{{name}}`; {explained}")
                        }
                    }
                };
                let what = match problem {
                    Placeholder::Unknown(name) if placeholders.names.is_empty() => {
                        format!("holds `{{{name}}}`, but `{key}` takes no placeholders")
                    }
                    Placeholder::Unclosed | Placeholder::Unopened
                        if placeholders.names.is_empty() =>
                    {
                        format!("holds a brace, but `{key}` takes no placeholders")
                    }
                    // A placeholder of another command (`{source}` in `fence_command`): hadome
                    // knows it, but has nothing to put in its place here.
                    Placeholder::Unknown(name) if ALL_PLACEHOLDERS.contains(&name.as_str()) => {
                        format!("has the placeholder `{{{name}}}`, which `{key}` does not take")
                    }
                    Placeholder::Unknown(name) => {
                        format!("has the placeholder `{{{name}}}`, which hadome does not know")
                    }
                    Placeholder::Unclosed => "has a `{` that no `}` closes".to_owned(),
                    Placeholder::Unopened => "has a `}` that closes no `{`".to_owned(),
                };
                return Err(self.invalid(offset, element_key, what, fix));
            }
            argv.push(argument.to_owned());
        }
        Ok(Some(argv))
    }

    /// One `[[instance]]`; `seen` maps the names before it to their lines.
    fn instance(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
    ) -> Result<Instance, ConfigError> {
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("instance[{index}]"),
                "a table",
                "start each instance with its own `[[instance]]` header",
            ));
        };
        let mut table = self.table(
            raw,
            format!("instance[{index}]"),
            "this `[[instance]]`",
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"db-1\"")?;
        if !valid_instance_name(name) {
            return Err(self.invalid(
                name_offset,
                table.path("name"),
                format!("is `{name}`, which is not a valid instance name"),
                "use 1 to 63 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit",
            ));
        }
        if let Some(first_line) = seen.get(name) {
            return Err(ConfigError::DuplicateName {
                at: self.at(name_offset),
                key: table.path("name"),
                what: "instance",
                name: name.to_owned(),
                first_line: *first_line,
            });
        }
        table.prefix = format!("instance \"{name}\"");
        self.check_known(&table, INSTANCE_KEYS)?;

        let example = "conninfo = \"host=10.0.0.1 port=5432 user=hadome dbname=postgres\"";
        let (conninfo, offset) = self.required_string(&table, "conninfo", example)?;
        match conninfo::parse(conninfo) {
            Err(problem) => {
                return Err(self.invalid(
                    offset,
                    table.path("conninfo"),
                    problem.to_string(),
                    "write libpq `key=value` pairs separated by spaces, such as \
                     `host=10.0.0.1 port=5432 user=hadome dbname=postgres` (quote a value that \
                     holds spaces as `'…'`)",
                ));
            }
            Ok(pairs) => {
                if let Some((problem, fix)) = conninfo::tls_problem(&pairs) {
                    return Err(self.invalid(offset, table.path("conninfo"), problem, fix));
                }
            }
        }

        let commands_set: Vec<&str> = INSTANCE_COMMAND_KEYS
            .iter()
            .copied()
            .filter(|key| table.get(key).is_some())
            .collect();
        let built_in = self.built_in(&table, &commands_set)?;
        let example = "data_dir = \"/var/lib/postgresql/15/main\"";
        let data_dir = match (
            self.string(&table, "data_dir", example)?,
            &built_in.default_data_dir,
        ) {
            (None, Some(default)) => default.clone(),
            (None, None) => return Err(self.missing(&table, "data_dir", example)),
            (Some((data_dir, offset)), _) => {
                if data_dir.is_empty() {
                    return Err(self.invalid(
                        offset,
                        table.path("data_dir"),
                        "is empty",
                        format!("give a value, such as `{example}`"),
                    ));
                }
                if let Some(problem) = data_dir::unsafe_data_dir(data_dir) {
                    return Err(self.invalid(
                        offset,
                        table.path("data_dir"),
                        format!("is `{data_dir}`, {problem}"),
                        data_dir::DATA_DIR_FIX,
                    ));
                }
                PathBuf::from(data_dir)
            }
        };

        let host = match self.string(&table, "host", "host = \"db-1.example.org\"")? {
            None => DEFAULT_HOST,
            Some(("", offset)) => {
                let fix = format!(
                    "name the host the instance runs on, such as `host = \"db-1.example.org\"`, \
                     or leave the key out for `{DEFAULT_HOST}`"
                );
                return Err(self.invalid(offset, table.path("host"), "is empty", fix));
            }
            Some((host, _)) => host,
        };

        let application_name = match self.string(
            &table,
            "application_name",
            "application_name = \"db-1\"",
        )? {
            None => name,
            Some((application_name, offset)) => {
                let fix = "use the `application_name` of the instance's `primary_conninfo` \
                           (what its upstream's `pg_stat_replication` shows), or leave the key \
                           out to use `name`";
                if application_name.is_empty() {
                    return Err(self.invalid(
                        offset,
                        table.path("application_name"),
                        "is empty",
                        fix,
                    ));
                }
                if application_name.len() > MAX_APPLICATION_NAME {
                    return Err(self.invalid(
                        offset,
                        table.path("application_name"),
                        format!(
                            "is {} bytes long, but PostgreSQL keeps only {MAX_APPLICATION_NAME}",
                            application_name.len()
                        ),
                        fix,
                    ));
                }
                if !application_name
                    .chars()
                    .all(|c| c == ' ' || c.is_ascii_graphic())
                {
                    return Err(self.invalid(
                        offset,
                        table.path("application_name"),
                        "holds characters other than printable ASCII, which PostgreSQL shows as `?`",
                        fix,
                    ));
                }
                application_name
            }
        };

        Ok(Instance {
            name: name.to_owned(),
            conninfo: conninfo.to_owned(),
            data_dir,
            host: host.to_owned(),
            application_name: application_name.to_owned(),
            commands: InstanceCommands {
                start: self.command(
                    &table,
                    "start_command",
                    &["systemctl", "start", "postgresql@15-main"],
                    &NO_PLACEHOLDERS,
                )?,
                stop: self.command(
                    &table,
                    "stop_command",
                    &["systemctl", "stop", "postgresql@15-main"],
                    &NO_PLACEHOLDERS,
                )?,
                rebuild: self.command(
                    &table,
                    "rebuild_command",
                    &[
                        "/usr/local/bin/make-standby",
                        "--from",
                        "{source_conninfo}",
                        "--into",
                        "{data_dir}",
                    ],
                    &REBUILD_PLACEHOLDERS,
                )?,
                fence: self.command(
                    &table,
                    "fence_command",
                    &["/usr/local/bin/fence-postgres", "{target}", "{data_dir}"],
                    &FENCE_PLACEHOLDERS,
                )?,
                follow: self.command(
                    &table,
                    "follow_command",
                    &[
                        "/usr/local/bin/follow",
                        "{target}",
                        "--upstream",
                        "{source_conninfo}",
                    ],
                    &FOLLOW_PLACEHOLDERS,
                )?,
                debian: built_in.debian,
                replication_conninfo: built_in.replication_conninfo,
            },
        })
    }

    /// One `[[cluster]]`. `seen` maps the cluster names before it to their lines; `membership`
    /// records which cluster lists each instance; `probe_interval_seconds` bounds its detection
    /// window from below.
    fn cluster(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        instances: &[String],
        membership: &mut BTreeMap<String, (String, usize)>,
        probe_interval_seconds: f64,
    ) -> Result<Cluster, ConfigError> {
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("cluster[{index}]"),
                "a table",
                "start each cluster with its own `[[cluster]]` header",
            ));
        };
        let mut table = self.table(
            raw,
            format!("cluster[{index}]"),
            "this `[[cluster]]`",
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"main\"")?;
        if let Some(first_line) = seen.get(name) {
            return Err(ConfigError::DuplicateName {
                at: self.at(name_offset),
                key: table.path("name"),
                what: "cluster",
                name: name.to_owned(),
                first_line: *first_line,
            });
        }
        table.prefix = format!("cluster \"{name}\"");
        self.check_known(&table, CLUSTER_KEYS)?;

        let example = "members = [\"db-1\", \"db-2\"]";
        let Some(entry) = table.get("members") else {
            return Err(self.missing(&table, "members", example));
        };
        let DeValue::Array(array) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path("members"),
                "an array of instance names",
                format!("list the instances' names: `{example}`"),
            ));
        };
        if array.is_empty() {
            return Err(self.invalid(
                entry.value.span().start,
                table.path("members"),
                "is empty",
                format!("list the instances that replicate this cluster, such as `{example}`"),
            ));
        }
        let mut members: Vec<String> = Vec::with_capacity(array.len());
        let mut listed_lines: Vec<usize> = Vec::with_capacity(array.len());
        for (position, member) in array.iter().enumerate() {
            let key = format!("{}[{position}]", table.path("members"));
            let DeValue::String(member_name) = member.get_ref() else {
                return Err(self.wrong_type(
                    member,
                    key,
                    "a string",
                    format!("write the instance's name in quotes: `{example}`"),
                ));
            };
            let member_name: &str = member_name.as_ref();
            let offset = member.span().start;
            if !instances.iter().any(|instance| instance == member_name) {
                return Err(ConfigError::UnknownInstance {
                    at: self.at(offset),
                    key,
                    name: member_name.to_owned(),
                    known: instances.to_vec(),
                });
            }
            if let Some(first) = members.iter().position(|listed| listed == member_name) {
                return Err(self.invalid(
                    offset,
                    key,
                    format!("lists `{member_name}` again (it is already `members[{first}]`)"),
                    "list each instance once",
                ));
            }
            if let Some((cluster, line)) = membership.get(member_name) {
                return Err(ConfigError::SharedMember {
                    at: self.at(offset),
                    key,
                    instance: member_name.to_owned(),
                    cluster: cluster.clone(),
                    first_line: *line,
                });
            }
            members.push(member_name.to_owned());
            listed_lines.push(self.line(offset));
        }
        for (member, line) in members.iter().zip(listed_lines) {
            membership.insert(member.clone(), (name.to_owned(), line));
        }

        let failover = self
            .choice(&table, "failover", "a failover policy", FAILOVER_POLICIES)?
            .unwrap_or(FailoverPolicy::Manual);

        Ok(Cluster {
            name: name.to_owned(),
            members,
            failover,
            max_lag_on_failover_bytes: self.bytes(
                &table,
                "max_lag_on_failover_bytes",
                DEFAULT_MAX_LAG_ON_FAILOVER_BYTES,
                0,
            )?,
            freshness_seconds: self.seconds(
                &table,
                "freshness_seconds",
                DEFAULT_FRESHNESS_SECONDS,
            )?,
            max_replication_lag_bytes: self.bytes(
                &table,
                "max_replication_lag_bytes",
                DEFAULT_MAX_REPLICATION_LAG_BYTES,
                1,
            )?,
            automation: self.automation(&table, probe_interval_seconds)?,
        })
    }

    /// The `[[backup]]` or `[[snapshot]]` table at `index`, named: its table (keys checked) and
    /// name. `seen` maps the names before it to their lines.
    fn named_table<'d, 'i>(
        &self,
        index: usize,
        element: &'d Value<'i>,
        seen: &BTreeMap<String, usize>,
        what: &'static str,
        keys: &'static [&'static str],
    ) -> Result<(Table<'d, 'i>, &'d str), ConfigError> {
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("{what}[{index}]"),
                "a table",
                format!("start each {what} with its own `[[{what}]]` header"),
            ));
        };
        let header = match what {
            "backup" => "this `[[backup]]`",
            "snapshot" => "this `[[snapshot]]`",
            "service" => "this `[[service]]`",
            "route" => "this `[[route]]`",
            _ => "this `[[nginx]]`",
        };
        let mut table = self.table(
            raw,
            format!("{what}[{index}]"),
            header,
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"nightly\"")?;
        if !valid_instance_name(name) {
            return Err(self.invalid(
                name_offset,
                table.path("name"),
                format!("is `{name}`, which is not a valid {what} name"),
                "use 1 to 63 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit",
            ));
        }
        if let Some(first_line) = seen.get(name) {
            return Err(ConfigError::DuplicateName {
                at: self.at(name_offset),
                key: table.path("name"),
                what,
                name: name.to_owned(),
                first_line: *first_line,
            });
        }
        table.prefix = format!("{what} \"{name}\"");
        self.check_known(&table, keys)?;
        Ok((table, name))
    }

    /// A required absolute path.
    fn absolute_path(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        example: &str,
        what: &str,
    ) -> Result<PathBuf, ConfigError> {
        let written = format!("{key} = \"{example}\"");
        let (text, offset) = self.required_string(table, key, &written)?;
        if !Path::new(text).is_absolute() {
            return Err(self.invalid(
                offset,
                table.path(key),
                format!("is `{text}`, a relative path"),
                format!("give {what} as an absolute path, such as `{example}`"),
            ));
        }
        Ok(PathBuf::from(text))
    }

    /// An optional positive number of seconds.
    fn optional_seconds(
        &self,
        table: &Table<'_, '_>,
        key: &str,
        example: f64,
    ) -> Result<Option<f64>, ConfigError> {
        match table.get(key) {
            None => Ok(None),
            Some(_) => self.seconds(table, key, example).map(Some),
        }
    }

    /// One `[[backup]]`; `seen` maps the names before it to their lines.
    fn backup(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        instances: &[String],
        hosts: &[String],
    ) -> Result<Backup, ConfigError> {
        let (table, name) = self.named_table(index, element, seen, "backup", BACKUP_KEYS)?;
        let Some(kind) = self.choice(&table, "type", "a backup type", BACKUP_KINDS)? else {
            return Err(self.missing(&table, "type", "type = \"pg_dump\""));
        };
        let instance = match self.string(&table, "instance", "instance = \"db-2\"")? {
            None => None,
            Some((instance, offset)) => {
                if !instances.iter().any(|known| known == instance) {
                    return Err(ConfigError::UnknownInstance {
                        at: self.at(offset),
                        key: table.path("instance"),
                        name: instance.to_owned(),
                        known: instances.to_vec(),
                    });
                }
                Some(instance.to_owned())
            }
        };
        let example = "/srv/backups/nightly-*.dump";
        let path = self.absolute_path(&table, "path", example, "where the copies are")?;
        let offset = table
            .get("path")
            .map_or(table.offset, |entry| entry.value.span().start);
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        let in_directory = path
            .parent()
            .and_then(|parent| parent.to_str())
            .unwrap_or("");
        if file_name.matches('*').count() != 1 || in_directory.contains('*') {
            return Err(self.invalid(
                offset,
                table.path("path"),
                format!(
                    "is `{}`, but its file name must hold exactly one `*`, where each copy's stamp goes",
                    path.display()
                ),
                format!("name the copies with one `*` in the file name, such as `path = \"{example}\"`"),
            ));
        }
        let command = self.command(
            &table,
            "command",
            &[
                "pg_dump",
                "-Fc",
                "--snapshot={snapshot}",
                "-f",
                "{output}",
                "host=/run/postgresql dbname=app",
            ],
            &BACKUP_PLACEHOLDERS,
        )?;
        if let Some(argv) = &command {
            if !argv.iter().any(|argument| argument.contains("{output}")) {
                let entry = table
                    .get("command")
                    .map_or(table.offset, |entry| entry.value.span().start);
                return Err(self.invalid(
                    entry,
                    table.path("command"),
                    "never writes `{output}`",
                    "pass `{output}` where the command writes its file (`-f {output}` for pg_dump, `-D {output}` for pg_basebackup): hadome verifies it there before renaming it into place",
                ));
            }
            if argv.iter().any(|argument| argument.contains("{snapshot}")) && instance.is_none() {
                let entry = table
                    .get("command")
                    .map_or(table.offset, |entry| entry.value.span().start);
                return Err(self.invalid(
                    entry,
                    table.path("command"),
                    "uses `{snapshot}`, but the backup names no `instance` to export it from",
                    "add `instance = \"db-2\"` (the instance the dump reads), or drop `{snapshot}`",
                ));
            }
        }
        let min_size_bytes = match table.get("min_size_bytes") {
            None => None,
            Some(_) => Some(self.bytes(&table, "min_size_bytes", 1_048_576, 1)?),
        };
        let max_shrink_ratio = match table.get("max_shrink_ratio") {
            None => None,
            Some(entry) => {
                let ratio = match entry.value.get_ref() {
                    DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
                    DeValue::Integer(integer) => {
                        i128::from_str_radix(integer.as_str(), integer.radix())
                            .ok()
                            .map(|value| value as f64)
                    }
                    _ => {
                        return Err(self.wrong_type(
                            entry.value,
                            table.path("max_shrink_ratio"),
                            "a number",
                            "write it as a fraction, without quotes: `max_shrink_ratio = 0.5`",
                        ))
                    }
                };
                match ratio.filter(|ratio| ratio.is_finite() && *ratio > 0.0 && *ratio <= 1.0) {
                    Some(ratio) => Some(ratio),
                    None => {
                        return Err(self.invalid(
                            entry.value.span().start,
                            table.path("max_shrink_ratio"),
                            format!("must be a fraction above 0 and at most 1, not `{}`", self.text(entry.value)),
                            "write the smallest share of the copy before it that a new copy may have, such as `max_shrink_ratio = 0.5` (half)",
                        ))
                    }
                }
            }
        };
        let restore_command = self.command(
            &table,
            "restore_command",
            &["/usr/local/bin/restore-dump", "{copy}", "{data_dir}"],
            &RESTORE_PLACEHOLDERS,
        )?;
        if let Some(argv) = &restore_command {
            if !argv.iter().any(|argument| argument.contains("{copy}")) {
                let entry = table
                    .get("restore_command")
                    .map_or(table.offset, |entry| entry.value.span().start);
                return Err(self.invalid(
                    entry,
                    table.path("restore_command"),
                    "never reads `{copy}`",
                    "pass `{copy}` where the command reads the copy to restore: hadome puts the newest verified copy there",
                ));
            }
        }
        let every_seconds = self.optional_seconds(&table, "every_seconds", 86_400.0)?;
        if every_seconds.is_some() && command.is_none() {
            let entry = table
                .get("every_seconds")
                .map_or(table.offset, |entry| entry.value.span().start);
            return Err(self.invalid(
                entry,
                table.path("every_seconds"),
                "schedules copies, but the backup has no `command` to make one",
                "add `command = [\"pg_dump\", \"-Fc\", \"--snapshot={snapshot}\", \"-f\", \"{output}\", \"…\"]`, or drop `every_seconds`",
            ));
        }
        let restore_test_every_seconds =
            self.optional_seconds(&table, "restore_test_every_seconds", 604_800.0)?;
        if restore_test_every_seconds.is_some() && kind != BackupKind::PgDump {
            let entry = table
                .get("restore_test_every_seconds")
                .map_or(table.offset, |entry| entry.value.span().start);
            return Err(self.invalid(
                entry,
                table.path("restore_test_every_seconds"),
                "schedules restore tests, but hadome restore-tests `pg_dump` backups only",
                "drop `restore_test_every_seconds` (a base backup is checked by `pg_verifybackup` on every `hadome check`)",
            ));
        }
        Ok(Backup {
            name: name.to_owned(),
            kind,
            instance,
            path,
            command,
            restore_command,
            every_seconds,
            restore_test_every_seconds,
            max_age_seconds: self.optional_seconds(&table, "max_age_seconds", 93_600.0)?,
            min_size_bytes,
            max_shrink_ratio,
            restore_test_max_age_seconds: self.optional_seconds(
                &table,
                "restore_test_max_age_seconds",
                2_678_400.0,
            )?,
            covers: self.covers(&table, hosts)?,
            stored_on: self.stored_on(&table, hosts)?,
        })
    }

    /// One `[[snapshot]]`; `seen` maps the names before it to their lines.
    fn snapshot(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
    ) -> Result<Snapshot, ConfigError> {
        let (table, name) = self.named_table(index, element, seen, "snapshot", SNAPSHOT_KEYS)?;
        Ok(Snapshot {
            name: name.to_owned(),
            protects: self.absolute_path(
                &table,
                "protects",
                "/srv/pg",
                "what the snapshots are of",
            )?,
            location: self.absolute_path(
                &table,
                "location",
                "/mnt/snapshots/pg",
                "where the snapshots are kept",
            )?,
        })
    }

    /// A cluster's automation keys, flat on its table; what it leaves out is
    /// [`Automation::default`].
    fn automation(
        &self,
        table: &Table<'_, '_>,
        probe_interval_seconds: f64,
    ) -> Result<Automation, ConfigError> {
        let defaults = Automation::default();
        let budget = Budget::default();
        let automation = Automation {
            on_primary_crash: self
                .choice(
                    table,
                    "on_primary_crash",
                    "a policy for a crashed primary",
                    CRASH_POLICIES,
                )?
                .unwrap_or(defaults.on_primary_crash),
            on_old_primary: self
                .choice(
                    table,
                    "on_old_primary",
                    "a policy for the old primary",
                    OLD_PRIMARY_POLICIES,
                )?
                .unwrap_or(defaults.on_old_primary),
            async_failover: self
                .choice(
                    table,
                    "async_failover",
                    "a policy for a failover no synchronous standby covers",
                    ASYNC_FAILOVER_POLICIES,
                )?
                .unwrap_or(defaults.async_failover),
            detection_seconds: self.seconds(
                table,
                "detection_seconds",
                defaults.detection_seconds,
            )?,
            restart_window_seconds: self.seconds(
                table,
                "restart_window_seconds",
                defaults.restart_window_seconds,
            )?,
            stall_seconds: self.seconds(table, "stall_seconds", defaults.stall_seconds)?,
            budget: Budget {
                window_seconds: self.seconds(
                    table,
                    "budget_window_seconds",
                    budget.window_seconds,
                )?,
                restarts_per_target: self.count(
                    table,
                    "max_restarts_per_target",
                    budget.restarts_per_target,
                )?,
                rebuilds_per_target: self.count(
                    table,
                    "max_rebuilds_per_target",
                    budget.rebuilds_per_target,
                )?,
                failovers: self.count(table, "max_failovers", budget.failovers)?,
            },
        };

        // A probe is lost now and then (a dropped packet, a stall): a window shorter than the probe
        // interval would call the primary failed on that one miss and fail over a healthy
        // primary. At least one interval means at least two probes missed it.
        if automation.detection_seconds < probe_interval_seconds {
            let suggested = (3.0 * probe_interval_seconds * 1000.0).round() / 1000.0;
            let example = format!("detection_seconds = {suggested:?}");
            let (offset, written, set) = match table.get("detection_seconds") {
                Some(entry) => (
                    entry.value.span().start,
                    format!("`{}` seconds", self.text(entry.value)),
                    format!("make it at least the probe interval, such as `{example}`"),
                ),
                // The default is too short for this estate's probe interval: the cluster's
                // header is where the key belongs.
                None => (
                    table.offset,
                    format!("{:?} seconds (the default)", automation.detection_seconds),
                    format!("add `{example}` to {}", table.header),
                ),
            };
            return Err(self.invalid(
                offset,
                table.path("detection_seconds"),
                format!(
                    "is {written}, less than `probe.interval_seconds` \
                     ({probe_interval_seconds:?})"
                ),
                format!(
                    "{set}, or probe more often: the primary must be missed on more than one \
                     probe before it counts as failed, so that one lost probe never causes a \
                     failover"
                ),
            ));
        }
        Ok(automation)
    }
}

/// What is wrong with the braces of a command's argument.
enum Placeholder {
    /// `{name}` with a name not allowed there.
    Unknown(String),
    /// A `{` with no `}` after it.
    Unclosed,
    /// A `}` with no `{` before it.
    Unopened,
}

/// Checks that every `{…}` in `argument` is one of `allowed`, and that braces pair up.
fn check_placeholders(argument: &str, allowed: &[&str]) -> Result<(), Placeholder> {
    let mut rest = argument;
    loop {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => return Ok(()),
            (None, Some(_)) => return Err(Placeholder::Unopened),
            (Some(open), Some(close)) if close < open => return Err(Placeholder::Unopened),
            (Some(_), None) => return Err(Placeholder::Unclosed),
            (Some(open), Some(close)) => {
                let name = &rest[open + 1..close];
                if name.contains('{') {
                    return Err(Placeholder::Unclosed);
                }
                if !allowed.contains(&name) {
                    return Err(Placeholder::Unknown(name.to_owned()));
                }
                rest = &rest[close + 1..];
            }
        }
    }
}

/// `a`, `b` and `c` (or `a`, `b` or `c`): a list in a sentence.
fn enumerate(items: &[String], conjunction: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conjunction} {last}", rest.join(", ")),
    }
}

/// A TOML basic string for `text`, for hints that show a value written correctly.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `[a-z0-9][a-z0-9_-]{0,62}`.
fn valid_instance_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|first: char| first.is_ascii_lowercase() || first.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A TOML value's type, with its article, for "is a string, but must be …".
fn article(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}
