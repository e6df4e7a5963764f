//! The boot list from journald: `journalctl --list-boots -o json`, every boot the journal holds
//! with its first and last entry (microseconds since the epoch: no time zone to parse).
//!
//! systemd 252 (Debian bookworm) prints `--list-boots` as JSON
//! (`[{"index":-2,"boot_id":"7349…","first_entry":1796302458651037,"last_entry":…},…]`,
//! `src/fixtures/list-boots-252.json` is its real output), so the text columns and their
//! time-zone words are never read. On `/` the journal is read as journald keeps it (runtime and
//! persistent); under another root from `ROOT/var/log/journal` with `-D`.
//!
//! There is no boot list (the caller keeps why) when the journal is not persistent (no
//! `/var/log/journal`: journald then forgets every boot at the next), when journalctl is missing
//! or fails, or when it lists no boot at all: a reboot count must not rest on an empty list.

use std::path::Path;
use std::time::Duration;

use hadome_core::fact::Timestamp;
use hadome_core::host::BootRecord;

use crate::command;

/// The boots the journal under `root` lists, oldest first; `Err` says why there is no list.
pub(crate) fn boots(
    root: &Path,
    journalctl: &Path,
    timeout: Duration,
) -> Result<Vec<BootRecord>, String> {
    let persistent = root.join("var/log/journal");
    if !persistent.is_dir() {
        return Err(format!(
            "the journal is not persistent: `{}` does not exist, so journald forgets every boot \
             at the next (create it, or set Storage=persistent in journald.conf)",
            persistent.display()
        ));
    }
    let mut argv = vec![journalctl.to_string_lossy().into_owned()];
    if root != Path::new("/") {
        argv.push("-D".to_owned());
        argv.push(persistent.to_string_lossy().into_owned());
    }
    argv.extend(["--list-boots", "-o", "json", "--no-pager"].map(str::to_owned));
    let output = command::run(&argv, timeout)?;
    let boots = parse_boots(&output.stdout)?;
    if boots.is_empty() {
        return Err(format!(
            "`{}` listed no boots (no journal files in `{}`?)",
            argv.join(" "),
            persistent.display()
        ));
    }
    Ok(boots)
}

/// `journalctl --list-boots -o json`'s output, oldest first. An empty output is an empty list
/// (journalctl prints nothing when it finds no journal files).
pub(crate) fn parse_boots(text: &str) -> Result<Vec<BootRecord>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        format!(
            "journalctl's boot list is not JSON ({error}); systemd older than 251 prints only text"
        )
    })?;
    let entries = value
        .as_array()
        .ok_or("journalctl's boot list is not a JSON array")?;
    let mut boots = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let field = |name: &str| entry.get(name);
        let boot_id = field("boot_id")
            .and_then(serde_json::Value::as_str)
            .and_then(crate::boot::normalize_boot_id)
            .ok_or_else(|| format!("journalctl's boot {index} has no boot_id"))?;
        let micros = |name: &str| {
            field(name)
                .and_then(serde_json::Value::as_i64)
                .map(|micros| Timestamp(micros.div_euclid(1000)))
                .ok_or_else(|| format!("journalctl's boot {index} has no {name} (microseconds)"))
        };
        boots.push(BootRecord {
            boot_id,
            first_entry: micros("first_entry")?,
            last_entry: micros("last_entry")?,
        });
    }
    boots.sort_by_key(|boot| boot.first_entry);
    Ok(boots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_journalctl_252_output_parses_oldest_first() {
        // Captured from journalctl 252.38 (Debian bookworm) on a journal written by a real
        // systemd-journald with three boot ids (see the fixture's module docs).
        let boots = parse_boots(include_str!("fixtures/list-boots-252.json")).expect("parses");
        let ids: Vec<&str> = boots.iter().map(|boot| boot.boot_id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "7349a1f5e8404b8788794259d352159e",
                "4c7bd7beb2f340b6b44379406a40a8a3",
                "15022bde876a4651a911b1bd9d43e1c0"
            ]
        );
        assert_eq!(boots[0].first_entry, Timestamp(1_796_302_458_651));
        assert_eq!(boots[2].last_entry, Timestamp(1_796_302_463_902));
    }

    #[test]
    fn garbage_and_missing_fields_are_reasons_not_panics() {
        assert_eq!(parse_boots("  \n"), Ok(Vec::new()));
        for (text, expected) in [
            ("IDX BOOT ID", "not JSON"),
            ("{}", "not a JSON array"),
            ("[{\"boot_id\":\"xyz\"}]", "boot 0 has no boot_id"),
            (
                "[{\"boot_id\":\"7349a1f5e8404b8788794259d352159e\",\"first_entry\":1}]",
                "boot 0 has no last_entry",
            ),
        ] {
            let error = parse_boots(text).expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn no_persistent_journal_is_a_reason() {
        let root = tempfile::tempdir().expect("a temp dir");
        let error = boots(
            root.path(),
            Path::new("journalctl"),
            Duration::from_secs(10),
        )
        .expect_err("no var/log/journal");
        assert!(error.contains("not persistent"), "{error}");
    }

    #[test]
    fn real_journalctl_on_an_empty_journal_lists_no_boots() {
        let root = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(root.path().join("var/log/journal")).expect("mkdir");
        let error = boots(
            root.path(),
            Path::new("journalctl"),
            Duration::from_secs(20),
        )
        .expect_err("an empty journal has no boots");
        assert!(error.contains("listed no boots"), "{error}");
        let error = boots(
            root.path(),
            Path::new("hadome-no-journalctl"),
            Duration::from_secs(20),
        )
        .expect_err("no such program");
        assert!(error.contains("could not start"), "{error}");
    }
}
