//! `systemd-reboot-loop` (incident C, `check`): systemd units that can reboot a host forever.
//!
//! traP's S512 had a daily reboot timer with `Persistent=true`: a missed elapse is caught up at
//! the next boot, and when the timer's stamp does not survive the reboot (a forced reboot, a lost
//! write) the catch-up reboots the host again, at every boot. `systemd-analyze verify` is silent
//! on it. On every host whose facts were read (fresh or not: unit files change rarely, and a
//! stale reading is still what the host last said), `check` MUST report (critical):
//! - (a) a timer with `Persistent=true` whose unit is a service that reboots the host: an
//!   `ExecStart=` or `ExecStartPre=` command line that is `systemctl reboot` (or `kexec`, or
//!   `start`/`isolate` of `reboot.target`, with any flags such as `--force`, `-f`, `-i`, at any
//!   path), `shutdown -r …`/`--reboot`, or `reboot` (at any path, `/sbin/reboot` …), also inside
//!   `sh -c '…'`; or `SuccessAction=`/`FailureAction=` in `reboot`, `reboot-force`,
//!   `reboot-immediate`;
//! - (b) a service with `Restart=` other than `no`/`on-success` and no effective start limit
//!   (`StartLimitIntervalSec=0`, or `StartLimitBurst=0`) whose `FailureAction=` or
//!   `StartLimitAction=` reboots.
//!
//! A unit that carries the reboot guard (an `ExecCondition=` running `hadome ask reboot`) is not
//! a loop: systemd skips the reboot when hadome refuses it (`reboot-uptime`). It SHOULD get an
//! `info` note only, so `check` still shows which reboots are guarded. A persistent timer whose
//! service was not read SHOULD get a `warn`: hadome cannot tell what it does.
//! Each finding names the unit, the files it was read from, and the fix. A persistent timer whose
//! service does not reboot, and a timer without `Persistent=true`, get nothing.

use crate::finding::{Finding, Severity};
use crate::host::{
    action_reboots, command_reboots, command_words, program, HostFacts, ServiceUnit,
};
use crate::interlock::view::{HostKnowledge, View};
use crate::rule::SYSTEMD_REBOOT_LOOP;

/// `check`: every host whose facts were read.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for host in &view.estate.hosts {
        let facts = match view.host_knowledge(&host.name) {
            HostKnowledge::Fresh(facts) | HostKnowledge::Stale { facts, .. } => facts,
            HostKnowledge::Unreachable { .. } | HostKnowledge::Unknown => continue,
        };
        findings.extend(lint(&host.name, facts));
    }
    findings
}

fn lint(host: &str, facts: &HostFacts) -> Vec<Finding> {
    let finding = |severity: Severity, message: String, alternative: Option<String>| Finding {
        rule: SYSTEMD_REBOOT_LOOP,
        severity,
        subject: host.to_owned(),
        message,
        alternative,
    };
    let mut findings = Vec::new();
    for timer in facts.timers.iter().filter(|timer| timer.persistent) {
        let Some(service) = facts
            .services
            .iter()
            .find(|service| service.name == timer.unit)
        else {
            findings.push(finding(
                Severity::Warn,
                format!(
                    "`{}` on `{host}` has Persistent=true and starts `{}`, which hadome did not read: it cannot tell whether it reboots the host (read from {})",
                    timer.name,
                    timer.unit,
                    sources(&timer.sources)
                ),
                None,
            ));
            continue;
        };
        let Some(how) = reboots(service) else {
            continue;
        };
        let read_from = sources(timer.sources.iter().chain(&service.sources));
        if guarded(service) {
            findings.push(finding(
                Severity::Info,
                format!(
                    "`{}` on `{host}` has Persistent=true and starts `{}`, which reboots the host ({how}), guarded by `hadome ask reboot` (ExecCondition=): systemd skips the reboot when hadome refuses it (read from {read_from})",
                    timer.name, service.name
                ),
                None,
            ));
            continue;
        }
        // A timer no target wants does not start at boot: the loop needs someone to start it,
        // so it is a warning; enabled (`timers.target` wants it), it is critical.
        let (severity, enabled) = if timer.wanted_by.is_empty() {
            (
                Severity::Warn,
                "; it is not enabled (no target wants it), so this happens once something starts it",
            )
        } else {
            (Severity::Deny, "")
        };
        findings.push(finding(
            severity,
            format!(
                "`{}` on `{host}` has Persistent=true and starts `{}`, which reboots the host ({how}): a missed elapse is caught up at boot, so a stamp that does not survive the reboot reboots it again at every boot{enabled} (read from {read_from})",
                timer.name, service.name
            ),
            Some(fix(&service.name)),
        ));
    }
    for service in &facts.services {
        if matches!(service.restart.as_str(), "no" | "on-success" | "") {
            continue;
        }
        let unlimited = service.start_limit_interval_seconds == Some(0.0)
            || service.start_limit_burst == Some(0);
        if !unlimited {
            continue;
        }
        let action = [
            ("FailureAction", &service.failure_action),
            ("StartLimitAction", &service.start_limit_action),
        ]
        .into_iter()
        .find(|(_, value)| action_reboots(value));
        let Some((key, value)) = action else {
            continue;
        };
        if guarded(service) {
            continue;
        }
        findings.push(finding(
            Severity::Deny,
            format!(
                "`{}` on `{host}` has Restart={} and no start limit ({}), and {key}={value}: each failure reboots the host, and nothing stops it failing again at every boot (read from {})",
                service.name,
                service.restart,
                limit(service),
                sources(&service.sources)
            ),
            Some(format!(
                "set a start limit (`StartLimitIntervalSec=` and `StartLimitBurst=`, not 0) and a {key}= that does not reboot, or install the guard: `hadome systemd drop-in reboot-guard --unit {}`",
                service.name
            )),
        ));
    }
    findings
}

fn fix(service: &str) -> String {
    format!("remove Persistent=true, or install the guard: `hadome systemd drop-in reboot-guard --unit {service}`")
}

fn limit(service: &ServiceUnit) -> String {
    if service.start_limit_interval_seconds == Some(0.0) {
        "StartLimitIntervalSec=0".to_owned()
    } else {
        "StartLimitBurst=0".to_owned()
    }
}

fn sources<'a>(paths: impl IntoIterator<Item = &'a std::path::PathBuf>) -> String {
    let shown: Vec<String> = paths
        .into_iter()
        .map(|path| format!("`{}`", path.display()))
        .collect();
    if shown.is_empty() {
        "no file named".to_owned()
    } else {
        shown.join(", ")
    }
}

/// How `service` reboots the host, as `ExecStart=systemctl reboot`, or `None`.
fn reboots(service: &ServiceUnit) -> Option<String> {
    let lines = [
        ("ExecStartPre", &service.exec_start_pre),
        ("ExecStart", &service.exec_start),
    ];
    for (key, commands) in lines {
        if let Some(line) = commands.iter().find(|line| command_reboots(line)) {
            return Some(format!("{key}={line}"));
        }
    }
    for (key, value) in [
        ("SuccessAction", &service.success_action),
        ("FailureAction", &service.failure_action),
    ] {
        if action_reboots(value) {
            return Some(format!("{key}={value}"));
        }
    }
    None
}

/// Whether `service` runs the reboot guard: an `ExecCondition=` that is `hadome ask reboot …`.
fn guarded(service: &ServiceUnit) -> bool {
    service.exec_condition.iter().any(|line| {
        let words = command_words(line);
        matches!(
            words.as_slice(),
            [hadome, ask, reboot, ..]
                if program(hadome) == "hadome" && ask == "ask" && reboot == "reboot"
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::host::command_reboots as line_reboots;

    #[test]
    fn command_lines_that_reboot_are_told_from_those_that_do_not() {
        for line in [
            "systemctl reboot",
            "/usr/bin/systemctl reboot",
            "/bin/systemctl --force reboot",
            "-/usr/bin/systemctl -f -i reboot",
            "systemctl kexec",
            "systemctl start reboot.target",
            "shutdown -r now",
            "/sbin/shutdown --reboot +1",
            "reboot",
            "/sbin/reboot -f",
            "/bin/sh -c 'sync; systemctl reboot'",
        ] {
            assert!(line_reboots(line), "{line}");
        }
        for line in [
            "systemctl restart nginx",
            "systemctl status reboot.target",
            "shutdown -h now",
            "shutdown --poweroff",
            "/usr/local/bin/rebooter-report",
            "echo reboot",
            "sh -c 'echo reboot'",
            "",
        ] {
            assert!(!line_reboots(line), "{line}");
        }
    }
}
