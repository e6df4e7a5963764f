//! This boot: its id and when it started, from a proc directory.
//!
//! The boot id is `PROC/sys/kernel/random/boot_id`, as journald names boots (systemd-nspawn gives
//! each container boot its own). The boot started when PID 1 of the PID namespace did:
//! `PROC/stat`'s `btime` (the kernel's boot, in seconds since the epoch) plus `PROC/1/stat`'s
//! `starttime` (clock ticks after it). In a container that is the container's boot, which
//! `PROC/uptime` (the kernel's) is not.

use std::path::Path;

use hadome_core::fact::Timestamp;

use crate::error::HostFactsError;

/// The boot id, lower-case hex without dashes (journald's spelling).
pub(crate) fn boot_id(proc_dir: &Path) -> Result<String, HostFactsError> {
    let path = proc_dir.join("sys/kernel/random/boot_id");
    let text = std::fs::read_to_string(&path).map_err(|error| HostFactsError::BootId {
        path: path.clone(),
        error,
    })?;
    normalize_boot_id(&text).ok_or_else(|| HostFactsError::BadBootId {
        path,
        found: text.trim().chars().take(64).collect(),
    })
}

/// `3d12…-…` or `3d12…` → 32 lower-case hex digits; `None` for anything else.
pub(crate) fn normalize_boot_id(text: &str) -> Option<String> {
    let id: String = text.trim().chars().filter(|c| *c != '-').collect();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// When PID 1 of the namespace started.
pub(crate) fn booted_at(proc_dir: &Path) -> Result<Timestamp, HostFactsError> {
    let stat_path = proc_dir.join("stat");
    let stat = std::fs::read_to_string(&stat_path).map_err(|error| HostFactsError::BootTime {
        path: stat_path.clone(),
        reason: error.to_string(),
    })?;
    let btime = kernel_boot_seconds(&stat).ok_or_else(|| HostFactsError::BootTime {
        path: stat_path,
        reason: "no `btime SECONDS` line".to_owned(),
    })?;
    let init_path = proc_dir.join("1/stat");
    let init = std::fs::read_to_string(&init_path).map_err(|error| HostFactsError::BootTime {
        path: init_path.clone(),
        reason: error.to_string(),
    })?;
    let ticks = start_ticks(&init).ok_or_else(|| HostFactsError::BootTime {
        path: init_path.clone(),
        reason: "no start time (field 22) after the command name".to_owned(),
    })?;
    let ticks_per_second = clock_ticks_per_second().ok_or_else(|| HostFactsError::BootTime {
        path: init_path,
        reason: "sysconf(_SC_CLK_TCK) gave no clock tick rate".to_owned(),
    })?;
    Ok(boot_time(btime, ticks, ticks_per_second))
}

/// `btime` seconds plus `ticks` at `ticks_per_second`, in milliseconds (saturating: input).
pub(crate) fn boot_time(btime: i64, ticks: u64, ticks_per_second: u64) -> Timestamp {
    let after_ms = i64::try_from(u128::from(ticks) * 1000 / u128::from(ticks_per_second.max(1)))
        .unwrap_or(i64::MAX);
    Timestamp(btime.saturating_mul(1000).saturating_add(after_ms))
}

/// `btime` of `/proc/stat`.
pub(crate) fn kernel_boot_seconds(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Field 22 (`starttime`) of `/proc/PID/stat`. The command name (field 2) is in parentheses and
/// may hold spaces and parentheses itself, so the fields are counted after its last `)`.
pub(crate) fn start_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) is index 0, so field 22 is index 19.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn clock_ticks_per_second() -> Option<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    u64::try_from(ticks).ok().filter(|ticks| *ticks > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_counted_after_the_last_parenthesis_of_the_name() {
        // A real /proc/1/stat (systemd in a container), then a name with spaces and parentheses.
        let real = "1 (systemd) S 0 1 1 0 -1 4194560 1432 20110 84 118 3 5 13 21 20 0 1 0 123456 23007232 2997 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";
        assert_eq!(start_ticks(real), Some(123_456));
        let hostile =
            "1 (a) b (c) S 0 1 1 0 -1 4194560 1432 20110 84 118 3 5 13 21 20 0 1 0 777 23007232";
        assert_eq!(start_ticks(hostile), Some(777));
        assert_eq!(start_ticks("1 (short) S 0"), None);
        assert_eq!(start_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn boot_time_is_btime_plus_init_start() {
        let stat = "cpu  1 2 3\nintr 5\nbtime 1796302400\nprocesses 10\n";
        assert_eq!(kernel_boot_seconds(stat), Some(1_796_302_400));
        assert_eq!(kernel_boot_seconds("cpu 1\n"), None);
        assert_eq!(
            boot_time(1_796_302_400, 12_345, 100),
            Timestamp(1_796_302_523_450)
        );
        assert_eq!(boot_time(i64::MAX, u64::MAX, 1), Timestamp(i64::MAX));
    }

    #[test]
    fn boot_ids_are_journald_spelled() {
        assert_eq!(
            normalize_boot_id("7349A1F5-E840-4b87-8879-4259d352159e\n").as_deref(),
            Some("7349a1f5e8404b8788794259d352159e")
        );
        assert_eq!(normalize_boot_id("not-a-boot-id"), None);
        assert_eq!(normalize_boot_id(""), None);
    }

    #[test]
    fn this_machines_proc_gives_a_boot_before_now() {
        let proc_dir = Path::new("/proc");
        let id = boot_id(proc_dir).expect("this machine's boot id");
        assert_eq!(id.len(), 32);
        let booted = booted_at(proc_dir).expect("this machine's boot time");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        assert!(
            booted.0 > 0 && i128::from(booted.0) <= now as i128,
            "{booted:?}"
        );
    }

    #[test]
    fn a_missing_proc_is_an_error_naming_the_file() {
        let error = boot_id(Path::new("/nonexistent-proc")).expect_err("no boot id there");
        assert!(
            error
                .to_string()
                .contains("/nonexistent-proc/sys/kernel/random/boot_id"),
            "{error}"
        );
        let error = booted_at(Path::new("/nonexistent-proc")).expect_err("no stat there");
        assert!(
            error.to_string().contains("/nonexistent-proc/stat"),
            "{error}"
        );
    }
}
