//! Unapplied settings: a configuration file's value against the value the server runs with.
//!
//! `pg_file_settings` re-reads the configuration files when it is queried; `pg_settings` shows
//! what the server loaded. They are written differently (`64MB` in the file, `65536` with unit
//! `kB` live; `on` and `true`; `iso, mdy` and `ISO, MDY`), so the values are normalised before
//! they are compared. Where the normaliser is unsure it compares the text: a false "unapplied"
//! is a warning a person can dismiss, a missed one is Misskey's DB-4.
//!
//! Where the setting lives (file and line) is *not* compared on its own: inserting a comment line
//! near the top of `postgresql.conf` shifts every later line, and a reload would change nothing.
//! What matters is whether a reload (or a restart) would change the value.
//!
//! The last line that sets a name counts even when `pg_file_settings.error` is set: PostgreSQL
//! reports a changed restart-only setting (before any reload) and an invalid value alike as
//! `setting could not be applied`, and both are exactly what this check is for. A line the server
//! cannot read at all (an unknown name, a syntax error) is reported too: while it is there, a
//! reload applies nothing from that file.

use hadome_core::fact::UnappliedSetting;

/// One setting as the probe query returns it: the last valid line of the files that sets it,
/// joined with `pg_settings`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FileSetting {
    /// The name as the file writes it.
    pub(crate) name: String,
    /// The file's value (`pg_file_settings.setting`), as written, quotes removed.
    pub(crate) file_value: String,
    /// The file and line of that value.
    pub(crate) file: String,
    /// The line in `file`.
    pub(crate) line: i64,
    /// Whether `pg_settings` knows the setting (false: a custom setting never loaded).
    pub(crate) known: bool,
    /// `current_setting(name)`: the live value with its unit, as people read it.
    pub(crate) live_value: Option<String>,
    /// `pg_settings.setting`: the live value in the setting's unit.
    pub(crate) setting: Option<String>,
    /// `pg_settings.unit` (`kB`, `8kB`, `ms`, `s`, `min` …).
    pub(crate) unit: Option<String>,
    /// `pg_settings.vartype` (`bool`, `integer`, `real`, `enum`, `string`).
    pub(crate) vartype: Option<String>,
    /// `pg_settings.source` (`default`, `configuration file`, `client`, …).
    pub(crate) source: Option<String>,
    /// `pg_settings.pending_restart`.
    pub(crate) pending_restart: bool,
    /// `pg_file_settings.error`: `setting could not be applied` for a value that needs a restart
    /// or is invalid, `unrecognized configuration parameter`, a syntax error …
    pub(crate) error: Option<String>,
}

/// A setting the server loaded from a file line that is no longer in any file: a reload resets it
/// to its default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RemovedSetting {
    /// The setting.
    pub(crate) name: String,
    /// Where the live value came from.
    pub(crate) file: String,
    /// The line in `file`.
    pub(crate) line: i64,
    /// `current_setting(name)`.
    pub(crate) live_value: String,
    /// `pg_settings.boot_val`: what a reload resets it to.
    pub(crate) boot_val: Option<String>,
    /// `pg_settings.unit` of `boot_val`.
    pub(crate) unit: Option<String>,
    /// `pg_settings.pending_restart`.
    pub(crate) pending_restart: bool,
}

/// Sources a configuration file overrides: for these, the file's value is what a reload applies.
/// Every other source (`command line`, `override`, and the session's own: `client`, `user`,
/// `database`, `session` …) masks the file, so its value cannot be compared from this session.
const FILE_GOVERNED_SOURCES: &[&str] = &["default", "environment variable", "configuration file"];

/// The settings of `files` and `removed` that are not applied, in name order.
pub(crate) fn unapplied(
    files: &[FileSetting],
    removed: &[RemovedSetting],
) -> Vec<UnappliedSetting> {
    let mut found = Vec::new();
    for setting in files {
        let source = format!("{}:{}", setting.file, setting.line);
        if !setting.known {
            // A custom setting not loaded yet, an unknown name, or a line that does not parse: a
            // reload would apply it or (with an error) refuse the whole file.
            let live_value = match &setting.error {
                Some(error) => format!("(not applied: {error})"),
                None => "(not set: the server has not loaded this setting)".to_owned(),
            };
            found.push(UnappliedSetting {
                name: setting.name.clone(),
                file_value: setting.file_value.clone(),
                live_value,
                source,
                pending_restart: false,
            });
            continue;
        }
        let live_value = setting
            .live_value
            .clone()
            .or_else(|| setting.setting.clone())
            .unwrap_or_default();
        let governed = setting
            .source
            .as_deref()
            .is_some_and(|source| FILE_GOVERNED_SOURCES.contains(&source));
        let differs = governed
            && !same_value(
                &setting.file_value,
                setting.setting.as_deref().unwrap_or_default(),
                setting.unit.as_deref(),
                setting.vartype.as_deref().unwrap_or("string"),
            );
        if setting.pending_restart || differs {
            found.push(UnappliedSetting {
                name: setting.name.clone(),
                file_value: setting.file_value.clone(),
                live_value,
                source,
                pending_restart: setting.pending_restart,
            });
        }
    }
    for setting in removed {
        let default = match (&setting.boot_val, &setting.unit) {
            (Some(value), Some(unit)) if !value.is_empty() && value != "-1" => {
                format!("{value}{}", unit_suffix(unit))
            }
            (Some(value), _) => value.clone(),
            (None, _) => "its default".to_owned(),
        };
        found.push(UnappliedSetting {
            name: setting.name.clone(),
            file_value: format!("(removed from the files; a reload resets it to {default})"),
            live_value: setting.live_value.clone(),
            source: format!("{}:{}", setting.file, setting.line),
            pending_restart: setting.pending_restart,
        });
    }
    for setting in &mut found {
        setting.file_value = redact(&setting.name, &setting.file_value);
        setting.live_value = redact(&setting.name, &setting.live_value);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// A setting's value as it may be stored and shown: `primary_conninfo` without its password, and
/// `ssl_passphrase_command` (which may spell out the passphrase) not at all.
fn redact(name: &str, value: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "primary_conninfo" if !value.starts_with('(') => crate::conninfo::strip_password(value),
        "ssl_passphrase_command" if !value.is_empty() => "(withheld)".to_owned(),
        _ => value.to_owned(),
    }
}

/// `8kB` → `×8kB`, `kB` → `kB`: how a value in `unit` reads.
fn unit_suffix(unit: &str) -> String {
    if unit.starts_with(|c: char| c.is_ascii_digit()) {
        format!(" × {unit}")
    } else {
        unit.to_owned()
    }
}

/// Whether a file's value and a live `pg_settings.setting` (in `unit`, of `vartype`) are the same
/// value. Unsure cases compare the text.
pub(crate) fn same_value(
    file_value: &str,
    setting: &str,
    unit: Option<&str>,
    vartype: &str,
) -> bool {
    let file_value = file_value.trim();
    let setting = setting.trim();
    if file_value == setting {
        return true;
    }
    match vartype {
        "bool" => match (parse_bool(file_value), parse_bool(setting)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        "integer" | "real" => {
            let integer = vartype == "integer";
            let (Some(file_number), Some(live)) = (
                in_unit(file_value, unit.filter(|unit| !unit.is_empty()), integer),
                parse_number(setting, integer),
            ) else {
                return false;
            };
            if integer {
                file_number.round_ties_even() == live
            } else {
                let scale = file_number.abs().max(live.abs()).max(1e-300);
                (file_number - live).abs() / scale < 1e-9
            }
        }
        // Enums are case-insensitive; strings are compared ignoring case and spaces, which
        // PostgreSQL canonicalises for some (`DateStyle`: `iso, mdy` runs as `ISO, MDY`).
        _ => squash(file_value) == squash(setting),
    }
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// PostgreSQL's boolean spellings (`parse_bool`): unique prefixes of true/false/yes/no, on, off,
/// 1, 0, any case.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let lower = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !lower.is_empty() && word.starts_with(lower.as_str());
    match lower.as_str() {
        "1" | "on" => Some(true),
        "0" | "off" | "of" => Some(false),
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// A plain number: an integer setting may be written in hex (`0x1F`) or octal (`0600`), as
/// PostgreSQL's `strtol(…, 0)` reads it; otherwise decimal, with a fraction or an exponent.
fn parse_number(text: &str, integer: bool) -> Option<f64> {
    let text = text.trim();
    if integer {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let parsed = if let Some(hex) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            i64::from_str_radix(hex, 16).ok()
        } else if digits.len() > 1
            && digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            i64::from_str_radix(&digits[1..], 8).ok()
        } else if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
            digits.parse::<i64>().ok()
        } else {
            None
        };
        if let Some(value) = parsed {
            return Some(if negative {
                -(value as f64)
            } else {
                value as f64
            });
        }
    }
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

/// Memory units, in bytes (PostgreSQL's are powers of 1024, case-sensitive).
const MEMORY_UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("kB", 1024.0),
    ("MB", 1024.0 * 1024.0),
    ("GB", 1024.0 * 1024.0 * 1024.0),
    ("TB", 1024.0 * 1024.0 * 1024.0 * 1024.0),
];

/// Time units, in microseconds.
const TIME_UNITS: &[(&str, f64)] = &[
    ("us", 1.0),
    ("ms", 1_000.0),
    ("s", 1_000_000.0),
    ("min", 60_000_000.0),
    ("h", 3_600_000_000.0),
    ("d", 86_400_000_000.0),
];

/// A unit as `pg_settings.unit` spells it (`8kB`, `16MB`, `ms`): its family and size in that
/// family's base (bytes or microseconds).
fn unit_size(unit: &str) -> Option<(&'static [(&'static str, f64)], f64)> {
    let digits: String = unit.chars().take_while(char::is_ascii_digit).collect();
    let multiplier = if digits.is_empty() {
        1.0
    } else {
        digits.parse::<f64>().ok()?
    };
    let name = &unit[digits.len()..];
    for family in [MEMORY_UNITS, TIME_UNITS] {
        if let Some((_, size)) = family.iter().find(|(candidate, _)| *candidate == name) {
            return Some((family, multiplier * size));
        }
    }
    None
}

/// A file's value (`64MB`, `1.5 GB`, `30s`, `-1`, `4096`) in `unit` (the live setting's unit),
/// or `None` when it cannot be read with certainty.
pub(crate) fn in_unit(text: &str, unit: Option<&str>, integer: bool) -> Option<f64> {
    let text = text.trim();
    let unsigned = text.trim_start_matches(['-', '+']);
    if unsigned.starts_with("0x") || unsigned.starts_with("0X") {
        return parse_number(text, integer); // hex takes no unit
    }
    let split = text
        .char_indices()
        .find(|(index, c)| c.is_ascii_alphabetic() && !is_exponent(text, *index))
        .map_or(text.len(), |(index, _)| index);
    let (number, written_unit) = (text[..split].trim(), text[split..].trim());
    let value = parse_number(number, integer)?;
    if written_unit.is_empty() {
        return Some(value);
    }
    let (family, target) = unit_size(unit?)?;
    let (_, written) = family.iter().find(|(name, _)| *name == written_unit)?;
    Some(value * written / target)
}

/// Whether the `e` at `index` is a decimal exponent (`1e3`), not a unit letter.
fn is_exponent(text: &str, index: usize) -> bool {
    let bytes = text.as_bytes();
    if !matches!(bytes.get(index), Some(b'e' | b'E'))
        || index == 0
        || !bytes[index - 1].is_ascii_digit()
    {
        return false;
    }
    match bytes.get(index + 1) {
        Some(b'+' | b'-') => bytes.get(index + 2).is_some_and(u8::is_ascii_digit),
        Some(next) => next.is_ascii_digit(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_compare_across_units() {
        assert!(same_value("64MB", "65536", Some("kB"), "integer"));
        assert!(!same_value("64MB", "4096", Some("kB"), "integer"));
        assert!(same_value("128MB", "16384", Some("8kB"), "integer"));
        assert!(same_value("1GB", "1024", Some("MB"), "integer"));
        assert!(same_value("1.5GB", "1536", Some("MB"), "integer"));
        assert!(same_value("1 MB", "1048576", Some("B"), "integer"));
        assert!(same_value("2TB", "2147483648", Some("kB"), "integer"));
        // PostgreSQL rounds to the setting's unit (half to even): 100kB is 12.5 pages of 8kB.
        assert!(same_value("100kB", "12", Some("8kB"), "integer"));
        assert!(same_value("4096", "4096", Some("kB"), "integer"));
        assert!(!same_value("4097", "4096", Some("kB"), "integer"));
        assert!(same_value("-1", "-1", Some("kB"), "integer"));
    }

    #[test]
    fn time_values_compare_across_units() {
        assert!(same_value("1s", "1000", Some("ms"), "integer"));
        assert!(same_value("5min", "300", Some("s"), "integer"));
        assert!(same_value("1h", "60", Some("min"), "integer"));
        assert!(same_value("1d", "86400000", Some("ms"), "integer"));
        assert!(same_value("500us", "0.5", Some("ms"), "real"));
        assert!(same_value("2ms", "2", Some("ms"), "real"));
        assert!(!same_value("30s", "60", Some("s"), "integer"));
        assert!(same_value("30 s", "30", Some("s"), "integer"));
    }

    #[test]
    fn units_of_the_wrong_family_or_unknown_are_unsure_and_compare_as_text() {
        assert!(!same_value("64MB", "64", Some("s"), "integer"));
        assert_eq!(in_unit("64XB", Some("kB"), true), None);
        assert_eq!(in_unit("64MB", None, true), None);
        // PostgreSQL's units are case-sensitive: `64mb` is not a value it would accept.
        assert_eq!(in_unit("64mb", Some("kB"), true), None);
    }

    #[test]
    fn plain_numbers_hex_octal_and_exponents() {
        assert!(same_value("0600", "0600", None, "integer"));
        assert!(
            same_value("384", "0600", None, "integer"),
            "0600 is octal, as PostgreSQL shows it"
        );
        assert!(same_value("0x10", "16", None, "integer"));
        assert!(same_value("1e3", "1000", None, "integer"));
        assert!(same_value("0.90", "0.9", None, "real"));
        assert!(!same_value("0.5", "0.9", None, "real"));
        assert_eq!(in_unit("1e3kB", Some("kB"), true), Some(1000.0));
    }

    #[test]
    fn booleans_enums_and_strings() {
        for spelling in ["on", "ON", "true", "t", "yes", "y", "1"] {
            assert!(same_value(spelling, "on", None, "bool"), "{spelling}");
        }
        for spelling in ["off", "of", "false", "f", "no", "n", "0"] {
            assert!(same_value(spelling, "off", None, "bool"), "{spelling}");
        }
        assert!(!same_value("o", "off", None, "bool"), "ambiguous");
        assert!(same_value("replica", "replica", None, "enum"));
        assert!(same_value("REPLICA", "replica", None, "enum"));
        assert!(!same_value("logical", "replica", None, "enum"));
        assert!(same_value("iso, mdy", "ISO, MDY", None, "string"));
        assert!(!same_value("'$libdir'", "$libdir/x", None, "string"));
    }

    fn file_setting(
        name: &str,
        file_value: &str,
        setting: &str,
        unit: Option<&str>,
        vartype: &str,
    ) -> FileSetting {
        FileSetting {
            name: name.to_owned(),
            file_value: file_value.to_owned(),
            file: "/data/postgresql.conf".to_owned(),
            line: 812,
            known: true,
            live_value: Some(setting.to_owned()),
            setting: Some(setting.to_owned()),
            unit: unit.map(str::to_owned),
            vartype: Some(vartype.to_owned()),
            source: Some("configuration file".to_owned()),
            pending_restart: false,
            error: None,
        }
    }

    #[test]
    fn only_values_a_reload_or_restart_would_change_are_unapplied() {
        let mut work_mem = file_setting("work_mem", "64MB", "4096", Some("kB"), "integer");
        work_mem.live_value = Some("4MB".to_owned());
        work_mem.source = Some("default".to_owned());
        let same = file_setting("shared_buffers", "128MB", "16384", Some("8kB"), "integer");
        let mut restart = file_setting("max_connections", "200", "200", None, "integer");
        restart.pending_restart = true;
        let mut masked = file_setting("application_name", "batch", "psql", None, "string");
        masked.source = Some("client".to_owned());
        let mut custom = file_setting("myext.knob", "3", "", None, "string");
        custom.known = false;
        let mut typo = file_setting("nosuch_param", "1", "", None, "string");
        typo.known = false;
        typo.error = Some("unrecognized configuration parameter".to_owned());
        // Before a reload, a changed restart-only setting is not pending_restart yet: the file
        // says 200, the server runs with 100, and pg_file_settings says it "could not be applied".
        let mut unreloaded = file_setting("max_wal_senders", "20", "16", None, "integer");
        unreloaded.error = Some("setting could not be applied".to_owned());
        let found = unapplied(
            &[work_mem, same, restart, masked, custom, typo, unreloaded],
            &[],
        );
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "max_connections",
                "max_wal_senders",
                "myext.knob",
                "nosuch_param",
                "work_mem"
            ]
        );
        assert_eq!(
            found[3].live_value,
            "(not applied: unrecognized configuration parameter)"
        );
        let work_mem = &found[4];
        assert_eq!(
            (work_mem.file_value.as_str(), work_mem.live_value.as_str()),
            ("64MB", "4MB")
        );
        assert_eq!(work_mem.source, "/data/postgresql.conf:812");
        assert!(!work_mem.pending_restart);
        assert!(found[0].pending_restart);
    }

    #[test]
    fn secrets_in_settings_are_not_stored() {
        let mut conninfo = file_setting(
            "primary_conninfo",
            "host=a password=s3cret",
            "host=b password=old",
            None,
            "string",
        );
        conninfo.live_value = Some("host=b password=old".to_owned());
        let passphrase = file_setting(
            "ssl_passphrase_command",
            "echo s3cret",
            "echo old",
            None,
            "string",
        );
        let found = unapplied(&[conninfo, passphrase], &[]);
        assert_eq!(
            (found[0].file_value.as_str(), found[0].live_value.as_str()),
            ("host=a", "host=b")
        );
        assert_eq!(
            (found[1].file_value.as_str(), found[1].live_value.as_str()),
            ("(withheld)", "(withheld)")
        );
    }

    #[test]
    fn a_line_removed_from_the_files_is_unapplied() {
        let removed = RemovedSetting {
            name: "wal_keep_size".to_owned(),
            file: "/data/postgresql.conf".to_owned(),
            line: 12,
            live_value: "64MB".to_owned(),
            boot_val: Some("0".to_owned()),
            unit: Some("MB".to_owned()),
            pending_restart: false,
        };
        let found = unapplied(&[], &[removed]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].file_value,
            "(removed from the files; a reload resets it to 0MB)"
        );
        assert_eq!(found[0].live_value, "64MB");
    }
}
