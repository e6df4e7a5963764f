//! What only a running systemd knows: the units in the `failed` state and how many times each
//! service was restarted this boot (`NRestarts`). Asked of `systemctl` only when systemd runs on
//! this root: the root is `/` and `/run/systemd/system` exists (systemd's own `sd_booted()` test).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::command;

/// Why systemctl is not asked, or `None` when it is.
pub(crate) fn not_running(root: &Path) -> Option<String> {
    if root != Path::new("/") {
        return Some(format!(
            "read from outside (root `{}`): only the host's own systemd knows its failed units and restarts",
            root.display()
        ));
    }
    if !Path::new("/run/systemd/system").is_dir() {
        return Some("systemd does not run here (no /run/systemd/system)".to_owned());
    }
    None
}

/// `systemctl list-units --state=failed`'s unit names.
pub(crate) fn failed_units(systemctl: &Path, timeout: Duration) -> Result<Vec<String>, String> {
    let argv = argv(
        systemctl,
        &[
            "list-units",
            "--state=failed",
            "--plain",
            "--no-legend",
            "--no-pager",
            "--all",
        ],
    );
    Ok(parse_failed(&command::run(&argv, timeout)?.stdout))
}

/// The first word of each line (systemd 252's `list-units` has no JSON output).
pub(crate) fn parse_failed(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        // Without `--plain` a failed unit is marked `●`; never take the marker for a name.
        .filter(|word| word.contains('.'))
        .map(str::to_owned)
        .collect()
}

/// `NRestarts` of each unit named, in one `systemctl show`.
pub(crate) fn restarts(
    systemctl: &Path,
    units: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, u32>, String> {
    if units.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut argv = argv(
        systemctl,
        &["show", "--no-pager", "-p", "Id", "-p", "NRestarts", "--"],
    );
    argv.extend(units.iter().cloned());
    Ok(parse_restarts(&command::run(&argv, timeout)?.stdout))
}

/// `systemctl show -p Id -p NRestarts`'s blocks (`Id=x.service\nNRestarts=2\n\n…`).
pub(crate) fn parse_restarts(text: &str) -> BTreeMap<String, u32> {
    let mut restarts = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut count = None;
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("Id=") {
                id = Some(value.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("NRestarts=") {
                count = value.trim().parse::<u32>().ok();
            }
        }
        if let (Some(id), Some(count)) = (id, count) {
            restarts.insert(id, count);
        }
    }
    restarts
}

fn argv(program: &Path, arguments: &[&str]) -> Vec<String> {
    std::iter::once(program.to_string_lossy().into_owned())
        .chain(arguments.iter().map(|argument| (*argument).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_units_and_restart_counts_as_systemctl_252_prints_them() {
        let failed = "reboot-daily.service loaded failed failed Daily reboot\n\u{25cf} other.service loaded failed failed x\n\n";
        assert_eq!(
            parse_failed(failed),
            vec!["reboot-daily.service".to_owned()]
        );
        let shown = "Id=a.service\nNRestarts=3\n\nNRestarts=1\nId=b.service\n\nId=c.service\nNRestarts=[not set]\n";
        let restarts = parse_restarts(shown);
        assert_eq!(restarts.get("a.service"), Some(&3));
        assert_eq!(restarts.get("b.service"), Some(&1));
        assert_eq!(restarts.get("c.service"), None);
    }

    #[test]
    fn another_root_is_never_asked_of_this_machines_systemd() {
        let reason = not_running(Path::new("/srv/container")).expect("not this root");
        assert!(reason.contains("from outside"), "{reason}");
    }
}
