//! `hadome host-facts`: this host's facts (`hadome-host`), as the versioned JSON a `[[host]]`'s
//! facts_command prints, or as a summary for people (`--text`).

use std::path::{Path, PathBuf};

use hadome_core::host::{DataPathFact, HostFacts};
use hadome_host::{ReadOptions, Reading};

use crate::cli_host::HostFactsArgs;
use crate::error::CliError;
use crate::exit_code;
use crate::output;

pub(crate) async fn run(arguments: HostFactsArgs) -> Result<u8, CliError> {
    let options = options(arguments.root, arguments.proc_dir, arguments.data_paths)?;
    // Reading walks directories and runs journalctl: blocking work, off the async workers.
    let reading = tokio::task::spawn_blocking(move || hadome_host::observe(&options))
        .await
        .map_err(|error| CliError::Internal {
            message: format!(
                "reading the host's facts panicked (a bug: please report it): {error}"
            ),
            hint: None,
        })?
        .map_err(|error| CliError::CannotProceed {
            message: error.to_string(),
            hint: error.hint(),
        })?;
    if arguments.text {
        output::print_text(&summary(&reading));
    } else {
        output::print_json(&hadome_host::reading_to_json(&reading));
    }
    Ok(exit_code::OK)
}

/// What to read; another root must name its proc directory, since this machine's boot is not
/// the container's.
fn options(
    root: PathBuf,
    proc_dir: Option<PathBuf>,
    data_paths: Vec<PathBuf>,
) -> Result<ReadOptions, CliError> {
    if let Some(path) = data_paths.iter().find(|path| !path.is_absolute()) {
        return Err(CliError::Usage {
            message: format!("--data-path `{}` is not absolute", path.display()),
            hint: Some("name data paths as the host names them, from /".to_owned()),
        });
    }
    let local = root == Path::new("/");
    let proc_dir =
        match proc_dir {
            Some(proc_dir) => proc_dir,
            None if local => PathBuf::from("/proc"),
            None => return Err(CliError::Usage {
                message: format!(
                    "--root `{}` needs --proc: the boot id and boot time are not under the root",
                    root.display()
                ),
                hint: Some(
                    "for a running container, --proc /proc/PID/root/proc (PID: its init, as this \
                     machine numbers it); --proc /proc reports this machine's boot instead"
                        .to_owned(),
                ),
            }),
        };
    Ok(ReadOptions {
        root,
        proc_dir,
        ..ReadOptions::local(data_paths)
    })
}

/// The reading for people: one line per fact, gaps last.
fn summary(reading: &Reading) -> String {
    let facts: &HostFacts = &reading.facts;
    let gaps = &reading.gaps;
    let mut lines = vec![format!(
        "boot {} started {} (up {:.0} s)",
        facts.boot_id,
        facts.booted_at.utc_text(),
        reading.observed_at.seconds_since(facts.booted_at)
    )];
    match &facts.boots {
        Some(boots) => {
            lines.push(format!("journal lists {} boots:", boots.len()));
            for boot in boots {
                lines.push(format!(
                    "  {}  {} … {}",
                    boot.boot_id,
                    boot.first_entry.utc_text(),
                    boot.last_entry.utc_text()
                ));
            }
        }
        None => lines.push(format!(
            "boot history unknown: {}",
            gaps.boots.as_deref().unwrap_or("no reason given")
        )),
    }
    lines.push(format!("timers: {}", facts.timers.len()));
    for timer in &facts.timers {
        let mut triggers = timer
            .on_calendar
            .iter()
            .map(|calendar| format!("OnCalendar={calendar}"))
            .chain(timer.monotonic.iter().cloned())
            .collect::<Vec<_>>();
        if timer.persistent {
            triggers.push("Persistent=true".to_owned());
        }
        lines.push(format!(
            "  {} → {}  {}  {}",
            timer.name,
            timer.unit,
            triggers.join(" "),
            if timer.wanted_by.is_empty() {
                "not enabled".to_owned()
            } else {
                format!("wanted by {}", timer.wanted_by.join(", "))
            }
        ));
    }
    lines.push(format!("services: {}", facts.services.len()));
    for service in &facts.services {
        let mut notes = vec![format!("Restart={}", service.restart)];
        for (key, value) in [
            ("FailureAction", &service.failure_action),
            ("SuccessAction", &service.success_action),
            ("StartLimitAction", &service.start_limit_action),
        ] {
            if value != "none" {
                notes.push(format!("{key}={value}"));
            }
        }
        if let Some(restarts) = service.restarts {
            notes.push(format!("restarted {restarts} times"));
        }
        lines.push(format!("  {}  {}", service.name, notes.join(" ")));
        for condition in &service.exec_condition {
            lines.push(format!("    ExecCondition={condition}"));
        }
        for command in &service.exec_start {
            lines.push(format!("    ExecStart={command}"));
        }
    }
    match &gaps.failed_units {
        Some(reason) => lines.push(format!("failed units not read: {reason}")),
        None if facts.failed_units.is_empty() => lines.push("failed units: none".to_owned()),
        None => lines.push(format!("failed units: {}", facts.failed_units.join(", "))),
    }
    for data_path in &facts.data_paths {
        lines.push(data_path_line(data_path));
    }
    for gap in &gaps.units {
        lines.push(format!("note: {gap}"));
    }
    lines.join("\n") + "\n"
}

fn data_path_line(data_path: &DataPathFact) -> String {
    match &data_path.outcome {
        Err(error) => format!("data path {}: {error}", data_path.path.display()),
        Ok(state) => format!(
            "data path {}: {} bytes in {} files, newest change {}, on device {} (`{}`)",
            data_path.path.display(),
            state.size_bytes,
            state.files,
            state
                .newest_change
                .map_or_else(|| "unknown".to_owned(), |at| at.utc_text()),
            state.storage.device,
            state.storage.canonical.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_root_needs_its_proc_and_data_paths_are_absolute() {
        let error = options("/srv/root".into(), None, Vec::new()).expect_err("no --proc");
        assert!(error.to_string().contains("needs --proc"), "{error}");
        let options_read = options("/".into(), None, vec!["/srv/uploads".into()]).expect("local");
        assert_eq!(options_read.proc_dir, PathBuf::from("/proc"));
        let error = options("/".into(), None, vec!["uploads".into()]).expect_err("relative");
        assert!(error.to_string().contains("not absolute"), "{error}");
    }
}
