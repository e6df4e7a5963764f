//! hadome's host facts (issue 12, incident C): what a host says of itself, for `reboot-uptime`,
//! `systemd-reboot-loop` and `destroy-coverage`.
//!
//! [`read`] reads them on the host (or under another root, from outside) into the core's
//! [`HostFacts`]: this boot's id and start, the boot list from journald, systemd's timers and the
//! services that matter read as systemd reads them (search path precedence, masking, drop-ins,
//! resets), failed units and restart counters when systemd runs there, and each data path's
//! size, file count, newest change and filesystem. [`observe`] gives the same with the [`Gaps`]:
//! why anything is absent. [`to_json`] and [`from_json`] are the versioned JSON that
//! `hadome host-facts` prints and a host's `facts_command` is read back from.
//!
//! Reading is blocking file I/O and two bounded child processes (journalctl, systemctl), never a
//! shell; run it on a blocking pool from async code.
//!
//! ```no_run
//! let options = hadome_host::ReadOptions::local(vec!["/srv/uploads".into()]);
//! let reading = hadome_host::observe(&options)?;
//! let json = hadome_host::reading_to_json(&reading);
//! let (facts, observed_at) = hadome_host::from_json(&json.to_string())?;
//! assert_eq!(facts, reading.facts);
//! # let _ = observed_at;
//! # Ok::<(), hadome_host::HostFactsError>(())
//! ```

#![warn(missing_docs)]

mod boot;
mod command;
mod data_path;
mod error;
mod journal;
mod json;
mod systemctl;
mod unit_file;
mod unit_path;
mod units;

#[cfg(test)]
mod units_tests;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hadome_core::fact::Timestamp;
use hadome_core::host::HostFacts;

pub use error::HostFactsError;
pub use json::{rfc3339, VERSION};

/// Where and how to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// The root whose units, journal and data paths are read (`/` on the host itself; a
    /// container's root filesystem to inspect it from outside).
    pub root: PathBuf,
    /// The proc directory the boot id and boot time come from. It is not under `root`: on the
    /// host it is `/proc`; for a running container read from outside it is its init's view,
    /// `/proc/PID/root/proc` (PID: the container's init as this machine numbers it).
    pub proc_dir: PathBuf,
    /// The data paths to read, as the host names them (read under `root`).
    pub data_paths: Vec<PathBuf>,
    /// The bound on each of journalctl and systemctl.
    pub command_timeout: Duration,
    /// The journalctl program (`journalctl`, found on `PATH`).
    pub journalctl: PathBuf,
    /// The systemctl program (`systemctl`, found on `PATH`).
    pub systemctl: PathBuf,
}

impl ReadOptions {
    /// This host: root `/`, `/proc`, a 10-second bound on each command.
    pub fn local(data_paths: Vec<PathBuf>) -> ReadOptions {
        ReadOptions {
            root: PathBuf::from("/"),
            proc_dir: PathBuf::from("/proc"),
            data_paths,
            command_timeout: Duration::from_secs(10),
            journalctl: PathBuf::from("journalctl"),
            systemctl: PathBuf::from("systemctl"),
        }
    }
}

/// Why parts of a reading are absent, each a sentence; `None` or empty when nothing is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Why `boots` is `None` (a volatile journal, no journalctl, nothing listed).
    pub boots: Option<String>,
    /// Why `failed_units` was not read (systemd does not run on this root, systemctl failed).
    pub failed_units: Option<String>,
    /// Why services' `restarts` were not read.
    pub restarts: Option<String>,
    /// Unit files that could not be read, and lines or values systemd ignores.
    pub units: Vec<String>,
}

/// One reading: when, what, and what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the reading started (the wall clock).
    pub observed_at: Timestamp,
    /// What it found.
    pub facts: HostFacts,
    /// Why anything is absent.
    pub gaps: Gaps,
}

/// Reads the host's facts; `Err` only when the boot id or boot time cannot be read (the rest
/// is then meaningless), everything else missing is a gap ([`observe`]).
pub fn read(options: &ReadOptions) -> Result<HostFacts, HostFactsError> {
    observe(options).map(|reading| reading.facts)
}

/// Reads the host's facts, with when and the gaps.
pub fn observe(options: &ReadOptions) -> Result<Reading, HostFactsError> {
    let observed_at = wall_clock();
    let boot_id = boot::boot_id(&options.proc_dir)?;
    let booted_at = boot::booted_at(&options.proc_dir)?;
    let mut gaps = Gaps::default();
    let boots = journal::boots(&options.root, &options.journalctl, options.command_timeout)
        .map_err(|reason| gaps.boots = Some(reason))
        .ok();
    let units = units::read_units(&options.root);
    gaps.units = units.gaps;
    let mut services = units.services;
    let mut failed_units = Vec::new();
    match systemctl::not_running(&options.root) {
        Some(reason) => {
            gaps.failed_units = Some(reason.clone());
            gaps.restarts = Some(reason);
        }
        None => {
            match systemctl::failed_units(&options.systemctl, options.command_timeout) {
                Ok(failed) => failed_units = failed,
                Err(reason) => gaps.failed_units = Some(reason),
            }
            let names: Vec<String> = services
                .iter()
                .map(|service| service.name.clone())
                .collect();
            match systemctl::restarts(&options.systemctl, &names, options.command_timeout) {
                Ok(restarts) => {
                    for service in &mut services {
                        service.restarts = restarts.get(&service.name).copied();
                    }
                }
                Err(reason) => gaps.restarts = Some(reason),
            }
        }
    }
    let data_paths = options
        .data_paths
        .iter()
        .map(|path| data_path::read_data_path(&options.root, path))
        .collect();
    Ok(Reading {
        observed_at,
        facts: HostFacts {
            boot_id,
            booted_at,
            boots,
            timers: units.timers,
            services,
            failed_units,
            data_paths,
        },
        gaps,
    })
}

/// `{"version": 1, "host_facts": {…}}` of facts read at `observed_at`, without gaps.
pub fn to_json(facts: &HostFacts, observed_at: Timestamp) -> serde_json::Value {
    json::to_json_with_gaps(facts, observed_at, &Gaps::default())
}

/// The JSON of a reading, its gaps included: what `hadome host-facts` prints.
pub fn reading_to_json(reading: &Reading) -> serde_json::Value {
    json::to_json_with_gaps(&reading.facts, reading.observed_at, &reading.gaps)
}

/// The facts and when they were read, from what a `facts_command` printed. An unknown
/// `version`, a missing field or one of the wrong type is an error naming it.
pub fn from_json(text: &str) -> Result<(HostFacts, Timestamp), HostFactsError> {
    json::from_json_with_gaps(text).map(|(facts, observed_at, _)| (facts, observed_at))
}

/// The whole reading from what a `facts_command` printed, its gaps included.
pub fn reading_from_json(text: &str) -> Result<Reading, HostFactsError> {
    json::from_json_with_gaps(text).map(|(facts, observed_at, gaps)| Reading {
        observed_at,
        facts,
        gaps,
    })
}

fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_read_from_outside_has_its_units_data_and_gaps_and_round_trips() {
        let root = tempfile::tempdir().expect("temp dir");
        let units = root.path().join("etc/systemd/system");
        std::fs::create_dir_all(&units).expect("mkdir");
        std::fs::write(
            units.join("daily_reboot.timer"),
            "[Timer]\nOnCalendar=*-*-* 3:30:00\nPersistent=true\n",
        )
        .expect("write");
        std::fs::write(
            units.join("daily_reboot.service"),
            "[Service]\nType=oneshot\nExecStart=/sbin/systemctl reboot\n",
        )
        .expect("write");
        std::fs::create_dir_all(root.path().join("srv/uploads")).expect("mkdir");
        std::fs::write(root.path().join("srv/uploads/cat.jpg"), [0u8; 10]).expect("write");
        let options = ReadOptions {
            root: root.path().to_path_buf(),
            data_paths: vec!["/srv/uploads".into(), "/srv/gone".into()],
            ..ReadOptions::local(Vec::new())
        };
        let reading = observe(&options).expect("a reading");
        assert_eq!(reading.facts.boots, None);
        assert!(reading
            .gaps
            .boots
            .as_deref()
            .is_some_and(|gap| gap.contains("not persistent")));
        assert!(reading
            .gaps
            .failed_units
            .as_deref()
            .is_some_and(|gap| gap.contains("from outside")));
        assert_eq!(reading.facts.timers.len(), 1);
        assert_eq!(reading.facts.services[0].name, "daily_reboot.service");
        assert_eq!(
            reading.facts.data_paths[0]
                .outcome
                .as_ref()
                .map(|state| state.size_bytes),
            Ok(10)
        );
        assert!(reading.facts.data_paths[1].outcome.is_err());
        assert!(reading.facts.booted_at <= reading.observed_at);
        let text = reading_to_json(&reading).to_string();
        assert_eq!(reading_from_json(&text).expect("reads back"), reading);
        let (facts, observed_at) = from_json(&text).expect("reads back");
        assert_eq!((facts, observed_at), (reading.facts, reading.observed_at));
    }

    #[test]
    fn no_proc_is_an_error_with_a_hint() {
        let options = ReadOptions {
            proc_dir: "/nonexistent-proc".into(),
            ..ReadOptions::local(Vec::new())
        };
        let error = observe(&options).expect_err("no boot id");
        assert!(
            error.hint().is_some_and(|hint| hint.contains("--proc")),
            "{error}"
        );
    }
}
