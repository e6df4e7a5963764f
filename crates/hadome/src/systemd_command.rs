//! `hadome systemd drop-in reboot-guard`: the drop-in that puts `hadome ask reboot` in front of
//! a reboot service as its `ExecCondition=` (issue 12, incident C), printed, or written into a
//! root filesystem with `--root` (a host's disk mounted for rescue, a lab host's root).
//!
//! systemd runs a unit only when each `ExecCondition=` exits 0, skips it (not failed) on 1–254,
//! and fails it on 255 or a signal. hadome's exit codes (0 allow, 1 deny, 2 usage, 3
//! needs-human, 5, 70, 130) are all below 255, so anything but an allow skips the reboot: the
//! guard fails closed.

use std::path::Path;

use crate::cli_host::{DropInCommand, SystemdCommand};
use crate::error::CliError;
use crate::exit_code;
use crate::output;

/// The drop-in's file name in `UNIT.d/`.
const DROP_IN_NAME: &str = "hadome-reboot-guard.conf";

pub(crate) fn run(command: SystemdCommand) -> Result<u8, CliError> {
    match command {
        SystemdCommand::DropIn(DropInCommand::RebootGuard {
            unit,
            host,
            config,
            hadome,
            root,
        }) => {
            let host = match host {
                Some(host) => host,
                None => this_hostname()?,
            };
            let text = reboot_guard(&unit, &host, &config, &hadome)?;
            match root {
                None => output::print_text(&text),
                Some(root) => output::print_text(&install(&root, &unit, &text)?),
            }
            Ok(exit_code::OK)
        }
    }
}

/// Writes the drop-in under `root` (a temporary file renamed into place); an older, different
/// one is moved aside first. Returns what was done, for people.
fn install(root: &Path, unit: &str, text: &str) -> Result<String, CliError> {
    let failed = |what: String, error: std::io::Error| CliError::CannotProceed {
        message: format!("{what}: {error}"),
        hint: Some(format!(
            "check that `{}` is the root filesystem of the host and that hadome may write there",
            root.display()
        )),
    };
    if !root.join("etc").is_dir() {
        return Err(CliError::Usage {
            message: format!(
                "`{}` has no `etc/`: it is not a root filesystem",
                root.display()
            ),
            hint: Some("give the directory the host's `/` is mounted at".to_owned()),
        });
    }
    let dir = root.join(format!("etc/systemd/system/{unit}.d"));
    let path = dir.join(DROP_IN_NAME);
    std::fs::create_dir_all(&dir)
        .map_err(|error| failed(format!("cannot create `{}`", dir.display()), error))?;
    let mut done = String::new();
    match std::fs::read_to_string(&path) {
        Ok(old) if old == text => {
            return Ok(format!("`{}` already holds this drop-in\n", path.display()));
        }
        Ok(_) => {
            let aside = dir.join(format!(
                ".{DROP_IN_NAME}.hadome-aside-{}",
                crate::clock::wall_clock().utc_stamp()
            ));
            std::fs::rename(&path, &aside).map_err(|error| {
                failed(
                    format!("cannot move the older `{}` aside", path.display()),
                    error,
                )
            })?;
            done.push_str(&format!(
                "moved the older drop-in aside to `{}`\n",
                aside.display()
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(failed(format!("cannot read `{}`", path.display()), error)),
    }
    let temporary = dir.join(format!(".{DROP_IN_NAME}.hadome-tmp-{}", std::process::id()));
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|error| failed(format!("cannot write `{}`", path.display()), error))?;
    done.push_str(&format!(
        "wrote `{}`: systemd reads it at the host's next boot (or `systemctl daemon-reload` on it)\n",
        path.display()
    ));
    Ok(done)
}

/// This machine's hostname (`/proc/sys/kernel/hostname`).
fn this_hostname() -> Result<String, CliError> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| CliError::Usage {
            message: "cannot read this machine's hostname from /proc/sys/kernel/hostname"
                .to_owned(),
            hint: Some("name the host as the estate does with --host NAME".to_owned()),
        })
}

/// The drop-in's text, or why these names cannot go in a unit file.
fn reboot_guard(unit: &str, host: &str, config: &Path, hadome: &Path) -> Result<String, CliError> {
    check_unit(unit)?;
    let host = word("--host", host)?;
    let config = path_word("--config", config)?;
    let hadome = path_word("--hadome", hadome)?;
    let place = format!("/etc/systemd/system/{unit}.d/{DROP_IN_NAME}");
    Ok(format!(
        "# {place} (apply: systemctl daemon-reload)
# Written by `hadome systemd drop-in reboot-guard` for {unit}:
# hadome's reboot guard (rule reboot-uptime, incident C). Before systemd starts the unit it runs
# the condition below; systemd runs the unit only when it exits 0 (hadome allows the reboot) and
# skips it on exit 1-254 (deny 1, needs-human 3, a configuration error 2): the reboot does not
# happen, the unit is not failed, and `journalctl -u UNIT` shows hadome's reason. Exit 255
# would fail the unit instead; hadome never exits 255. The estate file and its journal are read
# on this host: no daemon is needed. Check with `systemctl cat UNIT`.
[Service]
ExecCondition={hadome} ask reboot {host} --config {config}
",
    ))
}

/// A service name systemd would load: `NAME.service`, no directory, nothing that would break
/// the line it is written on.
fn check_unit(unit: &str) -> Result<(), CliError> {
    let usage = |message: String, hint: &str| CliError::Usage {
        message,
        hint: Some(hint.to_owned()),
    };
    if let Some(stem) = unit.strip_suffix(".timer") {
        return Err(usage(
            format!("--unit `{unit}` is a timer: the guard goes on the service it starts"),
            &format!(
                "name its service (its Unit=, by default `{stem}.service`): --unit {stem}.service"
            ),
        ));
    }
    let valid = unit.len() > ".service".len()
        && unit.ends_with(".service")
        && unit.len() <= 255
        && unit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@'));
    if !valid {
        return Err(usage(
            format!("--unit `{unit}` is not a systemd service name (NAME.service)"),
            "name the service that reboots, as `systemctl list-units --type=service` shows it \
             (`daily_reboot.service`)",
        ));
    }
    Ok(())
}

/// A word in the command line: no whitespace, quote, backslash or control character (it would
/// change what systemd runs), `%` doubled (systemd's specifiers).
fn word(flag: &str, value: &str) -> Result<String, CliError> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        return Err(CliError::Usage {
            message: format!("{flag} {value:?} cannot go in a systemd command line as one word"),
            hint: Some(
                "use a name or path without spaces, quotes, backslashes, semicolons or control characters"
                    .to_owned(),
            ),
        });
    }
    Ok(value.replace('%', "%%"))
}

/// An absolute path as one word.
fn path_word(flag: &str, path: &Path) -> Result<String, CliError> {
    let Some(text) = path.to_str().filter(|_| path.is_absolute()) else {
        return Err(CliError::Usage {
            message: format!("{flag} `{}` is not an absolute UTF-8 path", path.display()),
            hint: Some(
                "systemd runs the condition without a working directory: give the full path"
                    .to_owned(),
            ),
        });
    };
    word(flag, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incidents_service_gets_its_condition_and_where_it_goes() {
        let text = reboot_guard(
            "daily_reboot.service",
            "s512",
            Path::new("/etc/hadome/estate.toml"),
            Path::new("/usr/local/bin/hadome"),
        )
        .expect("a drop-in");
        let first = text.lines().next().expect("a first line");
        assert_eq!(
            first,
            "# /etc/systemd/system/daily_reboot.service.d/hadome-reboot-guard.conf (apply: systemctl daemon-reload)"
        );
        // What systemd reads of it: every other line is a comment.
        let read: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            read,
            vec![
                "[Service]",
                "ExecCondition=/usr/local/bin/hadome ask reboot s512 --config /etc/hadome/estate.toml"
            ]
        );
        assert!(text.contains("skips it on exit 1-254"), "{text}");
    }

    #[test]
    fn a_timer_or_a_non_service_is_refused_with_the_fix() {
        let hadome = Path::new("/usr/local/bin/hadome");
        let config = Path::new("/etc/hadome/estate.toml");
        let error =
            reboot_guard("daily_reboot.timer", "s512", config, hadome).expect_err("a timer");
        assert!(error.to_string().contains("is a timer"), "{error}");
        assert!(
            format!("{error:?}").contains("--unit daily_reboot.service"),
            "{error:?}"
        );
        for unit in [
            "",
            ".service",
            "a.socket",
            "../x.service",
            "a b.service",
            "x.service\n[Service]",
        ] {
            let error = reboot_guard(unit, "s512", config, hadome).expect_err(unit);
            assert!(
                error.to_string().contains("not a systemd service name"),
                "{unit:?}: {error}"
            );
        }
    }

    #[test]
    fn names_that_would_change_the_command_line_are_refused_and_percent_is_escaped() {
        let hadome = Path::new("/usr/local/bin/hadome");
        for host in ["s 512", "s512\nExecStart=/bin/false", "a;b", ""] {
            assert!(
                reboot_guard("x.service", host, Path::new("/e.toml"), hadome).is_err(),
                "{host:?}"
            );
        }
        assert!(reboot_guard("x.service", "s512", Path::new("estate.toml"), hadome).is_err());
        let text = reboot_guard("x.service", "s%512", Path::new("/etc/h%/e.toml"), hadome)
            .expect("percent is escaped");
        assert!(
            text.contains("ask reboot s%%512 --config /etc/h%%/e.toml"),
            "{text}"
        );
    }
}
