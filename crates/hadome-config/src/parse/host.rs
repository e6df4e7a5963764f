//! `[[host]]` (issue 12, incident C) and what backups say of hosts (`covers`, `stored_on`).
//!
//! A host declares how hadome reads its facts, the data that lives only there, the bounds of its
//! reboot guard (`reboot-uptime`) and the argv commands that reboot, image and delete it. A
//! backup names the host paths its copies hold (`covers = ["s512:/srv/uploads"]`) and the host
//! its copies live on (`stored_on`), for `destroy-coverage`. Its own module: `parse.rs` holds the
//! walk and the other tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hadome_core::estate::CoveredPath;
use hadome_core::host::{Host, HostCommands};
use toml::de::DeValue;

use super::{Context, Placeholders, Table, Value, NO_PLACEHOLDERS};
use crate::error::ConfigError;

/// The keys of a `[[host]]`.
pub(super) const HOST_KEYS: &[&str] = &[
    "name",
    "facts_command",
    "data_paths",
    "min_uptime_seconds",
    "max_boots",
    "boot_window_seconds",
    "freshness_seconds",
    "reboot_command",
    "image_command",
    "verify_image_command",
    "delete_command",
    "ssh",
];

/// `min_uptime_seconds` when unset: ten minutes.
pub(super) const DEFAULT_MIN_UPTIME_SECONDS: f64 = 600.0;
/// `max_boots` when unset.
pub(super) const DEFAULT_MAX_BOOTS: u32 = 3;
/// `boot_window_seconds` when unset: an hour.
pub(super) const DEFAULT_BOOT_WINDOW_SECONDS: f64 = 3600.0;

/// `reboot_command`'s and `delete_command`'s placeholders.
const HOST_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["host"],
    explained: "the placeholder is `{host}` (this host's name)",
};
/// `image_command`'s and `verify_image_command`'s placeholders.
const IMAGE_PLACEHOLDERS: Placeholders = Placeholders {
    names: &["host", "image"],
    explained: "the placeholders are `{host}` (this host's name) and `{image}` (the name hadome \
                gives the image: `HOST-final-STAMP`)",
};

/// A host's name: what instances' `host` and backups' `covers` name. Like a DNS name: 1 to 253
/// characters of a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit; never a `:`
/// (`covers` writes `HOST:/PATH`).
pub(super) fn valid_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.starts_with(|first: char| first.is_ascii_lowercase() || first.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

impl Context<'_> {
    /// One `[[host]]`; `seen` maps the names before it to their lines.
    pub(super) fn host(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
    ) -> Result<Host, ConfigError> {
        let DeValue::Table(raw) = element.get_ref() else {
            return Err(self.wrong_type(
                element,
                format!("host[{index}]"),
                "a table",
                "start each host with its own `[[host]]` header",
            ));
        };
        let mut table = self.table(
            raw,
            format!("host[{index}]"),
            "this `[[host]]`",
            element.span().start,
        );
        let (name, name_offset) = self.required_string(&table, "name", "name = \"s512\"")?;
        if !valid_host_name(name) {
            return Err(self.invalid(
                name_offset,
                table.path("name"),
                format!("is `{name}`, which is not a valid host name"),
                "use 1 to 253 characters of a-z, 0-9, `-`, `_` and `.`, starting with a letter \
                 or digit, as instances' `host` names it",
            ));
        }
        if let Some(first_line) = seen.get(name) {
            return Err(ConfigError::DuplicateName {
                at: self.at(name_offset),
                key: table.path("name"),
                what: "host",
                name: name.to_owned(),
                first_line: *first_line,
            });
        }
        table.prefix = format!("host \"{name}\"");
        self.check_known(&table, HOST_KEYS)?;
        let argv = |key: &str, example: &[&str], placeholders: &Placeholders| {
            self.command(&table, key, example, placeholders)
        };
        let ssh = self.ssh(&table)?;
        Ok(Host {
            ssh,
            name: name.to_owned(),
            facts_command: argv(
                "facts_command",
                &["ssh", name, "hadome", "host-facts"],
                &NO_PLACEHOLDERS,
            )?,
            data_paths: self.data_paths(&table)?,
            min_uptime_seconds: self.seconds(
                &table,
                "min_uptime_seconds",
                DEFAULT_MIN_UPTIME_SECONDS,
            )?,
            max_boots: self.max_boots(&table)?,
            boot_window_seconds: self.seconds(
                &table,
                "boot_window_seconds",
                DEFAULT_BOOT_WINDOW_SECONDS,
            )?,
            freshness_seconds: self.seconds(
                &table,
                "freshness_seconds",
                crate::DEFAULT_FRESHNESS_SECONDS,
            )?,
            commands: HostCommands {
                reboot: argv(
                    "reboot_command",
                    &["ssh", "{host}", "systemctl", "reboot"],
                    &HOST_PLACEHOLDERS,
                )?,
                image: argv(
                    "image_command",
                    &[
                        "cloud", "image", "create", "--server", "{host}", "--name", "{image}",
                    ],
                    &IMAGE_PLACEHOLDERS,
                )?,
                verify_image: argv(
                    "verify_image_command",
                    &["cloud", "image", "verify", "{image}"],
                    &IMAGE_PLACEHOLDERS,
                )?,
                delete: argv(
                    "delete_command",
                    &["cloud", "server", "delete", "{host}"],
                    &HOST_PLACEHOLDERS,
                )?,
            },
        })
    }

    /// `data_paths`: absolute paths, each once.
    fn data_paths(&self, table: &Table<'_, '_>) -> Result<Vec<PathBuf>, ConfigError> {
        let Some(entry) = table.get("data_paths") else {
            return Ok(Vec::new());
        };
        let example = "data_paths = [\"/srv/uploads\"]";
        let DeValue::Array(array) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path("data_paths"),
                "an array of absolute paths",
                format!("write it as an array of quoted paths: `{example}`"),
            ));
        };
        let mut paths: Vec<PathBuf> = Vec::with_capacity(array.len());
        for (position, element) in array.iter().enumerate() {
            let key = format!("{}[{position}]", table.path("data_paths"));
            let DeValue::String(text) = element.get_ref() else {
                return Err(self.wrong_type(
                    element,
                    key,
                    "a string",
                    format!("quote every path: `{example}`"),
                ));
            };
            let text: &str = text.as_ref();
            if !Path::new(text).is_absolute() {
                return Err(self.invalid(
                    element.span().start,
                    key,
                    format!("is `{text}`, not an absolute path"),
                    "give each data path as an absolute path on the host, such as `/srv/uploads`",
                ));
            }
            let path = PathBuf::from(text);
            if paths.contains(&path) {
                return Err(self.invalid(
                    element.span().start,
                    key,
                    format!("lists `{text}` a second time"),
                    "list each data path once",
                ));
            }
            paths.push(path);
        }
        Ok(paths)
    }

    /// `max_boots`: a whole number of boots, at least 1.
    fn max_boots(&self, table: &Table<'_, '_>) -> Result<u32, ConfigError> {
        let Some(entry) = table.get("max_boots") else {
            return Ok(DEFAULT_MAX_BOOTS);
        };
        let example = format!("max_boots = {DEFAULT_MAX_BOOTS}");
        let DeValue::Integer(integer) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path("max_boots"),
                "a whole number",
                format!("write it as an integer, without quotes: `{example}`"),
            ));
        };
        i128::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .and_then(|value| u32::try_from(value).ok())
            .filter(|value| *value >= 1)
            .ok_or_else(|| {
                self.invalid(
                    entry.value.span().start,
                    table.path("max_boots"),
                    format!(
                        "must be a whole number of boots from 1 to {}, not `{}`",
                        u32::MAX,
                        self.text(entry.value)
                    ),
                    format!(
                        "write how many boots within `boot_window_seconds` refuse a further \
                         reboot, such as `{example}`"
                    ),
                )
            })
    }

    /// A backup's `covers`: `HOST:/PATH` strings, each host a declared `[[host]]`.
    pub(super) fn covers(
        &self,
        table: &Table<'_, '_>,
        hosts: &[String],
    ) -> Result<Vec<CoveredPath>, ConfigError> {
        let Some(entry) = table.get("covers") else {
            return Ok(Vec::new());
        };
        let example = "covers = [\"s512:/srv/uploads\"]";
        let DeValue::Array(array) = entry.value.get_ref() else {
            return Err(self.wrong_type(
                entry.value,
                table.path("covers"),
                "an array of `HOST:/PATH` strings",
                format!("write it as an array of quoted `HOST:/PATH`: `{example}`"),
            ));
        };
        let mut covers = Vec::with_capacity(array.len());
        for (position, element) in array.iter().enumerate() {
            let key = format!("{}[{position}]", table.path("covers"));
            let offset = element.span().start;
            let DeValue::String(text) = element.get_ref() else {
                return Err(self.wrong_type(
                    element,
                    key,
                    "a string",
                    format!("quote every `HOST:/PATH`: `{example}`"),
                ));
            };
            let text: &str = text.as_ref();
            let Some((host, path)) = text.split_once(':') else {
                return Err(self.invalid(
                    offset,
                    key,
                    format!("is `{text}`, which names no host"),
                    format!(
                        "write the host and the path on it, as `HOST:/PATH`, such as `{example}`"
                    ),
                ));
            };
            if !hosts.iter().any(|known| known == host) {
                return Err(ConfigError::UnknownHost {
                    at: self.at(offset),
                    key,
                    name: host.to_owned(),
                    known: hosts.to_vec(),
                });
            }
            if !Path::new(path).is_absolute() {
                return Err(self.invalid(
                    offset,
                    key,
                    format!("is `{text}`, whose path `{path}` is not absolute"),
                    format!("give the path on `{host}` as an absolute path, such as `{host}:/srv/uploads`"),
                ));
            }
            covers.push(CoveredPath {
                host: host.to_owned(),
                path: PathBuf::from(path),
            });
        }
        Ok(covers)
    }

    /// A backup's `stored_on`: a declared `[[host]]`.
    pub(super) fn stored_on(
        &self,
        table: &Table<'_, '_>,
        hosts: &[String],
    ) -> Result<Option<String>, ConfigError> {
        let Some((host, offset)) = self.string(table, "stored_on", "stored_on = \"backup-1\"")?
        else {
            return Ok(None);
        };
        if !hosts.iter().any(|known| known == host) {
            return Err(ConfigError::UnknownHost {
                at: self.at(offset),
                key: table.path("stored_on"),
                name: host.to_owned(),
                known: hosts.to_vec(),
            });
        }
        Ok(Some(host.to_owned()))
    }
}
