//! Unit files read as systemd reads them, on fixture roots in temp directories: precedence,
//! masking, drop-ins overriding by name, resets, continuation lines, and incident C's own timer.

use std::path::{Path, PathBuf};

use hadome_core::host::command_reboots;

use crate::units::{read_units, Units};

/// A root filesystem in a temp directory.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn here(&self, path: &str) -> PathBuf {
        self.path().join(path.trim_start_matches('/'))
    }

    fn file(&self, path: &str, text: &str) -> &Root {
        let here = self.here(path);
        std::fs::create_dir_all(here.parent().expect("a parent")).expect("mkdir");
        std::fs::write(here, text).expect("write");
        self
    }

    fn link(&self, path: &str, target: &str) -> &Root {
        let here = self.here(path);
        std::fs::create_dir_all(here.parent().expect("a parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, here).expect("symlink");
        self
    }

    fn units(&self) -> Units {
        read_units(self.path())
    }
}

fn sources(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect()
}

/// Incident C's units as the post shows them (`../shared/incidents/002_…`; the post spells the
/// service file `daily_reboot.sevice`, a typo of the post: a timer whose service is missing
/// never fires, and this one rebooted the VM).
const INCIDENT_SERVICE: &str = "[Unit]\nDescription=Daily Reboot\n[Service]\nType=oneshot\nExecStart=/sbin/systemctl reboot\n[Install]\nWantedBy=multi-user.target\n";
const INCIDENT_TIMER: &str = "[Unit]\nDescription=Reboot daily\n[Timer]\nOnCalendar=*-*-* 3:30:00\nPersistent=true\n[Install]\nWantedBy=timers.target\n";

#[test]
fn incident_c_timer_and_its_rebooting_service() {
    let root = Root::new();
    root.file("/etc/systemd/system/daily_reboot.service", INCIDENT_SERVICE)
        .file("/etc/systemd/system/daily_reboot.timer", INCIDENT_TIMER)
        .link(
            "/etc/systemd/system/timers.target.wants/daily_reboot.timer",
            "/etc/systemd/system/daily_reboot.timer",
        );
    let units = root.units();
    assert_eq!(units.gaps, Vec::<String>::new());
    assert_eq!(units.timers.len(), 1, "{:?}", units.timers);
    let timer = &units.timers[0];
    assert_eq!(timer.name, "daily_reboot.timer");
    assert_eq!(timer.unit, "daily_reboot.service");
    assert!(timer.persistent);
    assert_eq!(timer.on_calendar, vec!["*-*-* 3:30:00"]);
    assert!(timer.monotonic.is_empty());
    assert_eq!(timer.wanted_by, vec!["timers.target"]);
    assert_eq!(
        sources(&timer.sources),
        vec!["/etc/systemd/system/daily_reboot.timer"]
    );
    assert_eq!(units.services.len(), 1, "{:?}", units.services);
    let service = &units.services[0];
    assert_eq!(service.name, "daily_reboot.service");
    assert_eq!(service.exec_start, vec!["/sbin/systemctl reboot"]);
    assert_eq!(service.restart, "no");
    assert_eq!(service.failure_action, "none");
    assert!(crate::units::reboots(service));
}

#[test]
fn a_persistent_timer_that_does_not_reboot_is_reported_with_its_service_which_does_not_reboot() {
    let root = Root::new();
    root.file(
        "/lib/systemd/system/logrotate.timer",
        "[Timer]\nOnCalendar=daily\nAccuracySec=1h\nPersistent=true\n",
    )
    .file(
        "/lib/systemd/system/logrotate.service",
        "[Service]\nType=oneshot\nExecStart=/usr/sbin/logrotate /etc/logrotate.conf\n",
    )
    // An unrelated service that neither reboots, restarts nor is started by a timer: left out.
    .file(
        "/lib/systemd/system/plain.service",
        "[Service]\nExecStart=/bin/true\n",
    );
    let units = root.units();
    assert_eq!(units.timers.len(), 1);
    assert!(units.timers[0].persistent);
    assert!(units.timers[0].wanted_by.is_empty());
    let names: Vec<&str> = units.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["logrotate.service"]);
    assert!(!crate::units::reboots(&units.services[0]));
}

#[test]
fn restart_always_without_a_start_limit_and_a_rebooting_failure() {
    let root = Root::new();
    root.file(
        "/etc/systemd/system/watchdog-app.service",
        "[Unit]\nStartLimitIntervalSec=0\nFailureAction=reboot\n[Service]\nExecStart=/opt/app/run\nRestart=always\n",
    )
    .file(
        "/etc/systemd/system/old-style.service",
        "[Service]\nExecStart=/opt/old\nRestart=on-failure\nStartLimitInterval=5min\nStartLimitBurst=3\nStartLimitAction=reboot-force\n",
    )
    .file(
        "/etc/systemd/system/infinite.service",
        "[Unit]\nStartLimitIntervalSec=infinity\nStartLimitBurst=many\n[Service]\nExecStart=/opt/x\nRestart=always\n",
    );
    let units = root.units();
    let by_name = |name: &str| {
        units
            .services
            .iter()
            .find(|service| service.name == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", units.services))
    };
    let watchdog = by_name("watchdog-app.service");
    assert_eq!(watchdog.restart, "always");
    assert_eq!(watchdog.start_limit_interval_seconds, Some(0.0));
    assert_eq!(watchdog.start_limit_burst, None);
    assert_eq!(watchdog.failure_action, "reboot");
    let old = by_name("old-style.service");
    assert_eq!(old.start_limit_interval_seconds, Some(300.0));
    assert_eq!(old.start_limit_burst, Some(3));
    assert_eq!(old.start_limit_action, "reboot-force");
    let infinite = by_name("infinite.service");
    assert_eq!(infinite.start_limit_interval_seconds, Some(f64::INFINITY));
    // systemd ignores a value it cannot parse, and the reading says so.
    assert_eq!(infinite.start_limit_burst, None);
    assert!(
        units
            .gaps
            .iter()
            .any(|gap| gap.contains("infinite.service: StartLimitBurst=many is not a count")),
        "{:?}",
        units.gaps
    );
}

#[test]
fn the_first_directory_in_precedence_wins_and_a_dev_null_link_masks() {
    let root = Root::new();
    root.file(
        "/lib/systemd/system/a.timer",
        "[Timer]\nOnCalendar=hourly\n",
    )
    .file("/etc/systemd/system/a.timer", "[Timer]\nOnCalendar=daily\n")
    .file(
        "/usr/local/lib/systemd/system/b.timer",
        "[Timer]\nOnBootSec=5min\n",
    )
    .file("/lib/systemd/system/b.timer", "[Timer]\nOnBootSec=1h\n")
    .file(
        "/lib/systemd/system/masked.timer",
        "[Timer]\nOnCalendar=daily\nPersistent=yes\n",
    )
    .link("/etc/systemd/system/masked.timer", "/dev/null")
    .file(
        "/lib/systemd/system/emptied.timer",
        "[Timer]\nOnCalendar=daily\n",
    )
    .file("/run/systemd/system/emptied.timer", "");
    let units = root.units();
    let names: Vec<&str> = units.timers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["a.timer", "b.timer"]);
    assert_eq!(units.timers[0].on_calendar, vec!["daily"]);
    assert_eq!(
        sources(&units.timers[0].sources),
        vec!["/etc/systemd/system/a.timer"]
    );
    assert_eq!(units.timers[1].monotonic, vec!["OnBootSec=5min"]);
    assert_eq!(
        sources(&units.timers[1].sources),
        vec!["/usr/local/lib/systemd/system/b.timer"]
    );
}

#[test]
fn drop_ins_override_by_name_apply_in_name_order_and_reset_lists() {
    let root = Root::new();
    root.file(
        "/lib/systemd/system/app.service",
        "[Service]\nExecStart=/opt/app --old\nExecStartPre=/opt/check\nRestart=on-failure\n",
    )
    // Hidden by /etc's file of the same name: never applied.
    .file(
        "/lib/systemd/system/app.service.d/10-restart.conf",
        "[Service]\nRestart=no\n",
    )
    .file(
        "/etc/systemd/system/app.service.d/10-restart.conf",
        "[Service]\nRestart=always\n",
    )
    // Applied after 10-… whatever its directory: name order.
    .file(
        "/run/systemd/system/app.service.d/20-command.conf",
        "[Service]\nExecStart=\nExecStart=/opt/app --new\nExecStartPre=\n",
    )
    // A type-level drop-in, and one masked by a /dev/null link of the same name.
    .file(
        "/lib/systemd/system/service.d/05-all.conf",
        "[Unit]\nStartLimitBurst=7\n",
    )
    .file(
        "/lib/systemd/system/app.service.d/30-masked.conf",
        "[Service]\nRestart=no\n",
    )
    .link(
        "/etc/systemd/system/app.service.d/30-masked.conf",
        "/dev/null",
    )
    .file(
        "/etc/systemd/system/app.service.d/notes.txt",
        "[Service]\nRestart=no\n",
    );
    let units = root.units();
    assert_eq!(units.services.len(), 1, "{:?}", units.services);
    let app = &units.services[0];
    assert_eq!(app.exec_start, vec!["/opt/app --new"]);
    assert!(app.exec_start_pre.is_empty());
    assert_eq!(app.restart, "always");
    assert_eq!(app.start_limit_burst, Some(7));
    assert_eq!(
        sources(&app.sources),
        vec![
            "/lib/systemd/system/app.service",
            "/lib/systemd/system/service.d/05-all.conf",
            "/etc/systemd/system/app.service.d/10-restart.conf",
            "/run/systemd/system/app.service.d/20-command.conf",
        ]
    );
}

#[test]
fn an_empty_trigger_resets_every_trigger_and_unit_defaults_back() {
    let root = Root::new();
    root.file(
        "/lib/systemd/system/x.timer",
        "[Timer]\nOnCalendar=daily\nOnBootSec=1min\nUnit=other.service\nPersistent=true\n",
    )
    .file(
        "/etc/systemd/system/x.timer.d/override.conf",
        "[Timer]\nOnCalendar=\nOnCalendar=weekly\nUnit=\nPersistent=\n",
    );
    let units = root.units();
    let timer = &units.timers[0];
    assert_eq!(timer.on_calendar, vec!["weekly"]);
    assert!(timer.monotonic.is_empty(), "{:?}", timer.monotonic);
    assert_eq!(timer.unit, "x.service");
    assert!(!timer.persistent);
}

#[test]
fn continuation_lines_in_a_unit_reach_the_command() {
    let root = Root::new();
    root.file(
        "/etc/systemd/system/nightly.timer",
        "[Timer]\nOnCalendar=*-*-* 04:00:00\nPersistent=on\nUnit=nightly-maint.service\n",
    )
    .file(
        "/etc/systemd/system/nightly-maint.service",
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'apt-get -y upgrade && \\\n    test -f /run/reboot-required && \\\n    /sbin/shutdown -r now'\n",
    );
    let units = root.units();
    assert_eq!(units.timers[0].unit, "nightly-maint.service");
    assert!(units.timers[0].persistent);
    let service = &units.services[0];
    assert_eq!(
        service.exec_start,
        vec!["/bin/sh -c 'apt-get -y upgrade &&  test -f /run/reboot-required &&  /sbin/shutdown -r now'"]
    );
    assert!(crate::units::reboots(service));
}

#[test]
fn template_instances_and_links_resolve_under_the_root() {
    let root = Root::new();
    // An instance enabled through a link, read from its template; the template alone is not a
    // timer that runs.
    root.file(
        "/lib/systemd/system/backup@.timer",
        "[Timer]\nOnCalendar=daily\n",
    )
    .file(
        "/lib/systemd/system/backup@.service",
        "[Service]\nExecStart=/opt/backup %i\n",
    )
    .link(
        "/etc/systemd/system/timers.target.wants/backup@home.timer",
        "/lib/systemd/system/backup@.timer",
    )
    // An absolute link is resolved under the root, never on this machine.
    .file("/opt/units/linked.timer", "[Timer]\nOnCalendar=monthly\n")
    .link(
        "/etc/systemd/system/linked.timer",
        "/opt/units/linked.timer",
    )
    // An alias is the unit it links to: reported once, under its own name.
    .file(
        "/lib/systemd/system/logind.service",
        "[Service]\nExecStart=/x\nRestart=always\n",
    )
    .link(
        "/etc/systemd/system/dbus-org.login1.service",
        "/lib/systemd/system/logind.service",
    );
    let units = root.units();
    let names: Vec<&str> = units.timers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["backup@home.timer", "linked.timer"]);
    assert_eq!(units.timers[0].unit, "backup@home.service");
    assert_eq!(units.timers[0].wanted_by, vec!["timers.target"]);
    assert_eq!(units.timers[1].on_calendar, vec!["monthly"]);
    let services: Vec<&str> = units.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(services, vec!["backup@home.service", "logind.service"]);
    assert_eq!(units.services[0].exec_start, vec!["/opt/backup %i"]);
}

#[test]
fn hostile_unit_files_never_panic() {
    let root = Root::new();
    let garbage: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let here = root.here("/etc/systemd/system/garbage.timer");
    std::fs::create_dir_all(here.parent().expect("parent")).expect("mkdir");
    std::fs::write(&here, garbage).expect("write");
    root.file(
        "/etc/systemd/system/odd.timer",
        "[Timer\nPersistent=maybe\n[Timer]\nPersistent=maybe\nOnCalendar=daily\\",
    )
    .link(
        "/etc/systemd/system/loop.timer",
        "/etc/systemd/system/loop.timer",
    );
    let units = root.units();
    // Not UTF-8: a gap, not a timer; a link loop: a gap; `maybe` is ignored as systemd does.
    assert!(
        units
            .gaps
            .iter()
            .any(|gap| gap.starts_with("garbage.timer: cannot read")),
        "{:?}",
        units.gaps
    );
    assert!(
        units
            .gaps
            .iter()
            .any(|gap| gap.starts_with("loop.timer: cannot read")),
        "{:?}",
        units.gaps
    );
    let odd = units
        .timers
        .iter()
        .find(|t| t.name == "odd.timer")
        .expect("odd.timer");
    assert!(!odd.persistent);
    assert_eq!(odd.on_calendar, vec!["daily"]);
    assert!(units
        .gaps
        .iter()
        .any(|gap| gap.contains("Persistent=maybe is not a boolean")));
}

#[test]
fn reboot_commands_are_recognised_and_look_alikes_are_not() {
    for line in [
        "/sbin/systemctl reboot",
        "systemctl --force reboot",
        "-/usr/bin/systemctl reboot --no-wall",
        "+/sbin/reboot",
        "/sbin/shutdown -r now",
        "shutdown --reboot +1",
        "/bin/sh -c 'sleep 5; reboot'",
        "telinit 6",
        "systemctl kexec",
        "systemctl soft-reboot",
        "systemctl isolate reboot.target",
    ] {
        assert!(command_reboots(line), "{line}");
    }
    for line in [
        "/usr/sbin/logrotate /etc/logrotate.conf",
        "systemctl restart nginx",
        "/sbin/shutdown -h now",
        "/opt/reboot-notifier --check",
        "echo rebooted",
        "init 3",
        "systemctl status reboot.target",
    ] {
        assert!(!command_reboots(line), "{line}");
    }
}
