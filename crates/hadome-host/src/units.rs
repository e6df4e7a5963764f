//! systemd's timers and the services that matter to a reboot, read as systemd reads them: the
//! fragment found along the search path ([`crate::unit_path`]), then each drop-in in order, an
//! empty assignment resetting a list (or a setting to its default), a value systemd would reject
//! ignored as systemd ignores it (and said in the reading's gaps).
//!
//! Which services are reported: those a timer starts, those whose command lines or actions
//! reboot the host, and those with a `Restart=` other than `no` (`systemd-reboot-loop` judges
//! them; a service that is none of these cannot loop a reboot).

use std::path::{Path, PathBuf};

use hadome_core::host::{action_reboots, command_reboots, ServiceUnit, TimerUnit};

use crate::unit_file::{self, Assignment};
use crate::unit_path::{Located, UnitDirs};

/// The timers and services read, and what could not be read.
#[derive(Debug, Default)]
pub(crate) struct Units {
    pub(crate) timers: Vec<TimerUnit>,
    pub(crate) services: Vec<ServiceUnit>,
    /// One sentence per file that could not be read or line that systemd would ignore.
    pub(crate) gaps: Vec<String>,
}

/// Reads every timer under `root` and the services that matter.
pub(crate) fn read_units(root: &Path) -> Units {
    let dirs = UnitDirs::under(root);
    let mut units = Units::default();
    let timer_names = dirs.names_of_type("timer");
    for name in &timer_names {
        // An alias is the same unit as the one it links to, reported under that name.
        if dirs
            .alias_of(name)
            .is_some_and(|real| timer_names.contains(&real))
        {
            continue;
        }
        let name = name.clone();
        if let Some(assignments) = load(&dirs, &name, &mut units.gaps) {
            let mut timer = timer_from(&name, &assignments.0, &mut units.gaps);
            timer.sources = assignments.1;
            timer.wanted_by = dirs.wanted_by(&name);
            units.timers.push(timer);
        }
    }
    let mut names = dirs.names_of_type("service");
    for timer in &units.timers {
        if !names.contains(&timer.unit) {
            names.push(timer.unit.clone());
        }
    }
    let listed = names.clone();
    for name in names {
        let started_by_timer = units.timers.iter().any(|timer| timer.unit == name);
        if !started_by_timer
            && dirs
                .alias_of(&name)
                .is_some_and(|real| listed.contains(&real))
        {
            continue;
        }
        let Some((assignments, sources)) = load(&dirs, &name, &mut units.gaps) else {
            continue;
        };
        let mut service = service_from(&name, &assignments, &mut units.gaps);
        service.sources = sources;
        if started_by_timer || reboots(&service) || service.restart != "no" {
            units.services.push(service);
        }
    }
    units.services.sort_by(|a, b| a.name.cmp(&b.name));
    units
}

/// Every assignment of a unit in the order systemd applies them, and the files they came from;
/// `None` when it is not found, masked, or its fragment cannot be read.
fn load(
    dirs: &UnitDirs,
    name: &str,
    gaps: &mut Vec<String>,
) -> Option<(Vec<Assignment>, Vec<PathBuf>)> {
    let (fragment, drop_ins) = match dirs.locate(name) {
        Located::NotFound | Located::Masked { .. } => return None,
        Located::Found { fragment, drop_ins } => (fragment, drop_ins),
    };
    let mut assignments = Vec::new();
    let mut sources = Vec::new();
    for (index, (named, here)) in std::iter::once(fragment).chain(drop_ins).enumerate() {
        let text = match std::fs::read_to_string(dirs.resolve(&here)) {
            Ok(text) => text,
            Err(error) => {
                gaps.push(format!(
                    "{name}: cannot read `{}`: {error}",
                    named.display()
                ));
                if index == 0 {
                    // Without its fragment the unit is not what systemd loads: leave it out,
                    // with the gap saying so, rather than report half of it.
                    return None;
                }
                continue;
            }
        };
        let (mut read, skipped) = unit_file::parse(&text);
        for skipped in skipped {
            gaps.push(format!(
                "{name}: `{}` line {}: {}, ignored as systemd ignores it",
                named.display(),
                skipped.line,
                skipped.why
            ));
        }
        assignments.append(&mut read);
        sources.push(named);
    }
    Some((assignments, sources))
}

/// A timer's settings from its assignments, in order.
fn timer_from(name: &str, assignments: &[Assignment], gaps: &mut Vec<String>) -> TimerUnit {
    let mut timer = TimerUnit {
        name: name.to_owned(),
        unit: default_unit(name),
        persistent: false,
        on_calendar: Vec::new(),
        monotonic: Vec::new(),
        wanted_by: Vec::new(),
        sources: Vec::new(),
    };
    for assignment in assignments.iter().filter(|a| a.section == "Timer") {
        let value = assignment.value.as_str();
        match assignment.key.as_str() {
            "Unit" if value.is_empty() => timer.unit = default_unit(name),
            "Unit" => timer.unit = value.to_owned(),
            "Persistent" if value.is_empty() => timer.persistent = false,
            "Persistent" => match unit_file::boolean(value) {
                Some(persistent) => timer.persistent = persistent,
                None => ignored(gaps, name, assignment, "not a boolean"),
            },
            // systemd's `config_parse_timer`: an empty assignment to any trigger empties them all.
            "OnCalendar" | "OnActiveSec" | "OnBootSec" | "OnStartupSec" | "OnUnitActiveSec"
            | "OnUnitInactiveSec"
                if value.is_empty() =>
            {
                timer.on_calendar.clear();
                timer.monotonic.clear();
            }
            "OnCalendar" => timer.on_calendar.push(value.to_owned()),
            "OnActiveSec" | "OnBootSec" | "OnStartupSec" | "OnUnitActiveSec"
            | "OnUnitInactiveSec" => timer.monotonic.push(format!("{}={value}", assignment.key)),
            _ => {}
        }
    }
    timer
}

/// A service's settings from its assignments, in order.
fn service_from(name: &str, assignments: &[Assignment], gaps: &mut Vec<String>) -> ServiceUnit {
    let mut service = ServiceUnit {
        name: name.to_owned(),
        exec_start: Vec::new(),
        exec_start_pre: Vec::new(),
        exec_condition: Vec::new(),
        restart: "no".to_owned(),
        start_limit_interval_seconds: None,
        start_limit_burst: None,
        failure_action: "none".to_owned(),
        success_action: "none".to_owned(),
        start_limit_action: "none".to_owned(),
        restarts: None,
        sources: Vec::new(),
    };
    for assignment in assignments {
        let value = assignment.value.as_str();
        // Start limits and actions belong in `[Unit]`; systemd still reads the old spellings in
        // `[Service]` (`StartLimitInterval=`, and these in `[Service]`), so both are read.
        let in_unit_or_service = assignment.section == "Unit" || assignment.section == "Service";
        match (assignment.section.as_str(), assignment.key.as_str()) {
            ("Service", "ExecStart") => list(&mut service.exec_start, value),
            ("Service", "ExecStartPre") => list(&mut service.exec_start_pre, value),
            ("Service", "ExecCondition") => list(&mut service.exec_condition, value),
            ("Service", "Restart") if value.is_empty() => service.restart = "no".to_owned(),
            ("Service", "Restart") => service.restart = value.to_owned(),
            (_, "StartLimitIntervalSec" | "StartLimitInterval") if in_unit_or_service => {
                if value.is_empty() {
                    service.start_limit_interval_seconds = None;
                } else {
                    match unit_file::time_span_seconds(value) {
                        Some(seconds) => service.start_limit_interval_seconds = Some(seconds),
                        None => ignored(gaps, name, assignment, "not a time span"),
                    }
                }
            }
            (_, "StartLimitBurst") if in_unit_or_service => {
                if value.is_empty() {
                    service.start_limit_burst = None;
                } else {
                    match value.parse::<u32>() {
                        Ok(burst) => service.start_limit_burst = Some(burst),
                        Err(_) => ignored(gaps, name, assignment, "not a count"),
                    }
                }
            }
            (_, "FailureAction") if in_unit_or_service => {
                service.failure_action = action(value);
            }
            ("Unit", "SuccessAction") => service.success_action = action(value),
            (_, "StartLimitAction") if in_unit_or_service => {
                service.start_limit_action = action(value);
            }
            _ => {}
        }
    }
    service
}

fn list(values: &mut Vec<String>, value: &str) {
    if value.is_empty() {
        values.clear();
    } else {
        values.push(value.to_owned());
    }
}

fn action(value: &str) -> String {
    if value.is_empty() {
        "none".to_owned()
    } else {
        value.to_owned()
    }
}

fn ignored(gaps: &mut Vec<String>, name: &str, assignment: &Assignment, why: &str) {
    gaps.push(format!(
        "{name}: {}={} is {why}, ignored as systemd ignores it",
        assignment.key, assignment.value
    ));
}

/// `Unit=`'s default: the service of the timer's name.
fn default_unit(timer: &str) -> String {
    let stem = timer.strip_suffix(".timer").unwrap_or(timer);
    format!("{stem}.service")
}

/// Whether a service reboots the host: an action that does, or a command line that does.
pub(crate) fn reboots(service: &ServiceUnit) -> bool {
    [
        &service.failure_action,
        &service.success_action,
        &service.start_limit_action,
    ]
    .iter()
    .any(|value| action_reboots(value))
        || service
            .exec_start
            .iter()
            .chain(&service.exec_start_pre)
            .any(|line| command_reboots(line))
}
