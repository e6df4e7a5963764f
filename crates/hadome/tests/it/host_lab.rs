//! `hadome lab up s512`: a real systemd 252 in a container, with incident C's timer, through the
//! real binary (issue 12). Each test has its own lab directory; a guard tears the lab down by PID
//! even when the test fails. Waits poll with deadlines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hadome_lab::Lab;

use crate::support::{eventually, run_hadome, scratch, show};

/// A lab of topology s512 brought up by the real binary; dropped, it is torn down by PID.
pub(crate) struct HostLab {
    pub(crate) dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl HostLab {
    pub(crate) fn up() -> HostLab {
        let scratch = scratch();
        let dir = scratch.path().join("lab");
        let lab = HostLab {
            dir: dir.clone(),
            _scratch: scratch,
        };
        let output = run_hadome(&["lab", "up", "s512", "--dir", dir_text(&dir)], &[]);
        assert!(output.status.success(), "lab up s512: {}", show(&output));
        lab
    }

    fn dir(&self) -> &str {
        dir_text(&self.dir)
    }

    fn hadome(&self, args: &[&str]) -> std::process::Output {
        run_hadome(args, &[])
    }

    pub(crate) fn exec(&self, argv: &[&str]) -> std::process::Output {
        let mut args = vec!["lab", "exec", "--dir", self.dir(), "s512", "--"];
        args.extend_from_slice(argv);
        self.hadome(&args)
    }

    fn fault(&self, fault: &str) -> std::process::Output {
        let output = self.hadome(&["lab", "fault", "--dir", self.dir(), fault, "s512"]);
        assert!(output.status.success(), "fault {fault}: {}", show(&output));
        output
    }

    fn host_status(&self) -> serde_json::Value {
        let output = self.hadome(&["lab", "status", "--dir", self.dir(), "--json"]);
        assert!(output.status.success(), "lab status: {}", show(&output));
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        status["hosts"][0].clone()
    }

    fn boots(&self) -> u64 {
        self.host_status()["boots"].as_u64().unwrap_or(0)
    }
}

impl Drop for HostLab {
    fn drop(&mut self) {
        if self.dir.join("lab.json").exists() {
            if let Ok(lab) = Lab::open(&self.dir) {
                if let Err(error) = lab.down() {
                    eprintln!("teardown of {}: {error}", self.dir.display());
                }
            }
        }
    }
}

fn dir_text(dir: &Path) -> &str {
    dir.to_str().expect("a UTF-8 scratch path")
}

pub(crate) fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn s512_boots_a_real_systemd_with_the_incidents_timer_and_exec_passes_exit_codes() {
    let lab = HostLab::up();
    let host = lab.host_status();
    assert_eq!(host["process"], "running", "{host}");
    assert_eq!(host["boots"], 1, "{host}");

    let boot_id = lab.exec(&["cat", "/proc/sys/kernel/random/boot_id"]);
    assert!(boot_id.status.success(), "{}", show(&boot_id));
    assert_eq!(stdout(&boot_id), host["boot_id"].as_str().unwrap());

    let timers = lab.exec(&["systemctl", "list-timers", "--all", "--no-pager"]);
    assert!(timers.status.success(), "{}", show(&timers));
    assert!(
        stdout(&timers).contains("reboot-daily.timer"),
        "{}",
        show(&timers)
    );
    let persistent = lab.exec(&[
        "systemctl",
        "show",
        "-p",
        "Persistent",
        "reboot-daily.timer",
    ]);
    assert_eq!(stdout(&persistent), "Persistent=yes");

    // The network is the lab's own: the container sees only `lo`.
    let links = lab.exec(&["ls", "/sys/class/net"]);
    assert_eq!(stdout(&links), "lo");
    // hadome itself is inside, read-only.
    let version = lab.exec(&["/usr/local/bin/hadome", "--version"]);
    assert!(version.status.success(), "{}", show(&version));
    // The exit code passes through, as ssh passes it.
    assert_eq!(lab.exec(&["sh", "-c", "exit 7"]).status.code(), Some(7));

    let estate = std::fs::read_to_string(lab.dir.join("estate.toml")).unwrap();
    assert!(estate.contains("[[host]]"), "{estate}");
    assert!(
        estate.contains("covers = [\"s512:/srv/config\"]"),
        "{estate}"
    );
    let backups: Vec<String> = std::fs::read_dir(lab.dir.join("backups"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tar"))
        .collect();
    assert!(
        backups.len() == 1 && backups[0].starts_with("s512-config-"),
        "{backups:?}"
    );
}

#[tokio::test]
async fn reboot_host_gives_a_new_boot_id_and_the_journal_one_more_boot() {
    let lab = HostLab::up();
    let before = lab.host_status();
    let output = lab.fault("reboot-host");
    let after = lab.host_status();
    assert_ne!(before["boot_id"], after["boot_id"], "{}", show(&output));
    // The new boot's journald writes its first entries a moment after the boot id exists.
    eventually(
        "the journal to list 2 boots",
        Duration::from_secs(30),
        || async { (lab.boots() == 2).then_some(()) },
    )
    .await;
    // The stamp is fresh: the timer does not fire, the host stays up.
    let running = lab.exec(&["systemctl", "is-system-running"]);
    assert!(stdout(&running) == "running" || stdout(&running) == "degraded");
    assert_eq!(lab.boots(), 2);
}

#[tokio::test]
async fn stamp_lost_then_a_reboot_makes_the_host_reboot_in_a_loop() {
    let lab = HostLab::up();
    let output = lab.fault("stamp-lost");
    assert!(
        stdout(&output).contains("2.0 days old"),
        "{}",
        show(&output)
    );
    lab.fault("reboot-host");
    // No further action: the timer fires at every boot, each reboot a new boot in the journal.
    let boots = eventually(
        "the host's journal to list 4 boots",
        Duration::from_secs(90),
        || async {
            let boots = lab.boots();
            (boots >= 4).then_some(boots)
        },
    )
    .await;
    assert!(boots >= 4);
    let journal = std::fs::read_dir(lab.dir.join("hosts/s512/root/var/log/journal")).unwrap();
    assert_eq!(journal.count(), 1, "one machine id, one persistent journal");
}

#[test]
fn an_image_verifies_a_truncated_one_does_not_and_delete_host_moves_the_root_aside() {
    let lab = HostLab::up();
    let image = lab.hadome(&["lab", "image", "--dir", lab.dir(), "s512", "final"]);
    assert!(image.status.success(), "{}", show(&image));
    let boots_before = lab.boots();
    let verify = lab.hadome(&["lab", "verify-image", "--dir", lab.dir(), "final"]);
    assert!(verify.status.success(), "{}", show(&verify));
    assert_eq!(
        lab.host_status()["process"],
        "running",
        "an image does not stop the host"
    );
    assert_eq!(
        lab.boots(),
        boots_before,
        "an image does not reboot the host"
    );
    let again = lab.hadome(&["lab", "image", "--dir", lab.dir(), "s512", "final"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "never overwritten: {}",
        show(&again)
    );

    // A truncated copy of the image, with the same manifest, fails.
    let images = lab.dir.join("images");
    let bytes = std::fs::read(images.join("final.tar")).unwrap();
    std::fs::write(images.join("cut.tar"), &bytes[..bytes.len() - 2048]).unwrap();
    std::fs::copy(
        images.join("final.manifest.json"),
        images.join("cut.manifest.json"),
    )
    .unwrap();
    let cut = lab.hadome(&["lab", "verify-image", "--dir", lab.dir(), "cut"]);
    assert_eq!(cut.status.code(), Some(1), "{}", show(&cut));
    assert!(
        stdout(&cut).contains("fails verification"),
        "{}",
        show(&cut)
    );

    let delete = lab.hadome(&["lab", "delete-host", "--dir", lab.dir(), "s512"]);
    assert!(delete.status.success(), "{}", show(&delete));
    assert!(!lab.dir.join("hosts/s512/root").exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(lab.dir.join("deleted"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        aside[0].join("srv/uploads/uploads-1.dat").is_file(),
        "the uploads are kept"
    );
    assert_eq!(lab.host_status()["process"], "deleted");
    let start = lab.hadome(&["lab", "fault", "--dir", lab.dir(), "start-host", "s512"]);
    assert_eq!(start.status.code(), Some(1), "{}", show(&start));
}

#[test]
fn lab_down_of_a_hung_host_leaves_no_process_mount_or_cgroup_behind() {
    let lab = HostLab::up();
    let host = lab.host_status();
    let pids: Vec<i32> = ["supervisor_pid", "nspawn_pid", "container_pid"]
        .iter()
        .map(|key| host[*key].as_i64().unwrap() as i32)
        .collect();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.dir.join("lab.json")).unwrap()).unwrap();
    let machine = state["hosts"][0]["machine"].as_str().unwrap().to_owned();
    lab.fault("hang-host");
    assert_eq!(lab.host_status()["process"], "hung");

    let down = lab.hadome(&["lab", "down", "--dir", lab.dir()]);
    assert!(down.status.success(), "{}", show(&down));
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "PID {pid} is still alive: {stat}"
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(lab.dir()), "{mounts}");
    for hierarchy in ["systemd", "unified"] {
        let group = Path::new("/sys/fs/cgroup").join(hierarchy).join(&machine);
        assert!(!group.exists(), "{} is left", group.display());
    }
    assert!(!lab.dir.exists());
}

/// Issue 12's guard, as the issue tells it: the drop-in installed on a running host, then the
/// loop armed (stamp lost) and one reboot: at the next boot the timer fires, systemd runs `hadome
/// ask reboot` inside first, hadome denies (up for seconds), and systemd skips the reboot. The
/// loop stops after the first reboot: systemd's own journal says the condition skipped it, and
/// `hadome ask reboot` from outside explains it with the boot history.
#[tokio::test]
async fn with_the_guard_installed_the_loop_stops_after_the_first_reboot() {
    let lab = HostLab::up();
    let root = lab.dir.join("hosts/s512/root");
    let installed = lab.hadome(&[
        "systemd",
        "drop-in",
        "reboot-guard",
        "--unit",
        "reboot-daily.service",
        "--host",
        "s512",
        "--root",
        dir_text(&root),
    ]);
    assert!(installed.status.success(), "{}", show(&installed));
    let reloaded = lab.exec(&["systemctl", "daemon-reload"]);
    assert!(reloaded.status.success(), "{}", show(&reloaded));
    let condition = lab.exec(&[
        "systemctl",
        "show",
        "-p",
        "ExecCondition",
        "reboot-daily.service",
    ]);
    assert!(
        stdout(&condition).contains("/usr/local/bin/hadome ask reboot s512"),
        "{}",
        show(&condition)
    );
    lab.fault("stamp-lost");
    lab.fault("reboot-host");

    let journal = eventually(
        "systemd to skip the timer's reboot on its condition",
        Duration::from_secs(60),
        || async {
            let output = lab.exec(&[
                "journalctl",
                "-u",
                "reboot-daily.service",
                "-b",
                "--no-pager",
            ]);
            let text = stdout(&output);
            text.contains("Skipped due to 'exec-condition'")
                .then_some(text)
        },
    )
    .await;
    assert!(
        journal.contains("reboot-uptime"),
        "hadome's reason is in the journal:\n{journal}"
    );
    // The skip is the boot's one firing of the timer: no reboot follows it.
    assert_eq!(lab.boots(), 2, "{:#}", lab.host_status());
    let config = lab.dir.join("estate.toml");
    let asked = lab.hadome(&["ask", "reboot", "s512", "--config", dir_text(&config)]);
    assert_eq!(asked.status.code(), Some(1), "{}", show(&asked));
    let said = stdout(&asked);
    assert!(
        said.contains("reboot-uptime")
            && said.contains("boot history (newest first, 2 within 10 min)"),
        "{said}"
    );
}

/// `systemd-reboot-loop` on the real units of the host, with its positive controls beside the
/// incident's timer: a persistent timer whose service does not reboot, and a timer without
/// Persistent=true whose service reboots. Only the incident's timer is reported.
#[tokio::test]
async fn check_names_the_incidents_timer_and_nothing_else() {
    let lab = HostLab::up();
    let units = lab.dir.join("hosts/s512/root/etc/systemd/system");
    let write = |name: &str, text: &str| std::fs::write(units.join(name), text).unwrap();
    write(
        "logrotate-daily.timer",
        "[Timer]\nOnCalendar=daily\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
    );
    write(
        "logrotate-daily.service",
        "[Service]\nType=oneshot\nExecStart=/usr/sbin/logrotate /etc/logrotate.conf\n",
    );
    write(
        "reboot-weekly.timer",
        "[Timer]\nOnCalendar=weekly\n\n[Install]\nWantedBy=timers.target\n",
    );
    write(
        "reboot-weekly.service",
        "[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl reboot\n",
    );
    let reloaded = lab.exec(&["systemctl", "daemon-reload"]);
    assert!(reloaded.status.success(), "{}", show(&reloaded));

    // The controls are read: the host's facts list both timers and both services.
    let facts = stdout(&lab.exec(&["/usr/local/bin/hadome", "host-facts"]));
    for unit in [
        "logrotate-daily.timer",
        "logrotate-daily.service",
        "reboot-weekly.timer",
        "reboot-weekly.service",
    ] {
        assert!(facts.contains(&format!("\"{unit}\"")), "{unit} in {facts}");
    }
    let config = lab.dir.join("estate.toml");
    let output = lab.hadome(&["check", "--config", dir_text(&config), "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let check: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let loops: Vec<&str> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["rule"] == "systemd-reboot-loop")
        .map(|finding| finding["message"].as_str().unwrap())
        .collect();
    assert_eq!(loops.len(), 1, "{loops:#?}");
    assert!(loops[0].contains("`reboot-daily.timer`"), "{}", loops[0]);
}

/// `hadome run reboot` carries the reboot out through the host's `reboot_command` and verifies its
/// effect: the host's facts, read again through its `facts_command`, name a new boot.
#[tokio::test]
async fn run_reboot_waits_until_the_host_is_back_with_a_new_boot_id() {
    let lab = HostLab::up();
    let config = lab.dir.join("estate.toml");
    let estate = std::fs::read_to_string(&config).unwrap();
    let lowered = estate.replace("min_uptime_seconds = 30", "min_uptime_seconds = 0.1");
    assert_ne!(estate, lowered, "{estate}");
    std::fs::write(&config, lowered).unwrap();
    let before = lab.host_status()["boot_id"]
        .as_str()
        .unwrap()
        .replace('-', "");

    let output = lab.hadome(&[
        "run",
        "reboot",
        "s512",
        "--config",
        dir_text(&config),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let done: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let detail = done["steps"][0]["detail"].as_str().unwrap();
    let after = lab.host_status()["boot_id"]
        .as_str()
        .unwrap()
        .replace('-', "");
    assert_ne!(before, after);
    assert!(
        detail.ends_with(&format!("it came back: boot {after}")),
        "{detail}"
    );
    assert_eq!(lab.boots(), 2);
}

/// `packaging/hadome.service` on the host's real systemd (issue 15 point 5): installed with a
/// drop-in for the lab's binary path and a `hadome` user, `systemctl start hadome` returns once
/// the daemon said READY=1 (Type=notify), with its status line; `systemctl reload` with a bad
/// estate file leaves it running; with the `wedge-loop` failpoint and a 2 s watchdog, systemd
/// finds the loop starved and restarts the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_unit_runs_the_daemon_under_systemd_and_its_watchdog_restarts_a_wedged_loop() {
    let lab = HostLab::up();
    let unit = include_str!("../../../../packaging/hadome.service");
    let sh = |script: &str, argument: &str| {
        let output = lab.exec(&["sh", "-c", script, "sh", argument]);
        assert!(output.status.success(), "{script}: {}", show(&output));
        stdout(&output)
    };
    sh(
        "printf '%s' \"$1\" > /etc/systemd/system/hadome.service",
        unit,
    );
    sh(
        "mkdir -p /etc/systemd/system/hadome.service.d && printf '%s' \"$1\" > /etc/systemd/system/hadome.service.d/lab.conf",
        "[Service]\nExecStart=\nExecStart=/usr/local/bin/hadome daemon --config /etc/hadome/estate.toml\n",
    );
    sh(
        "id hadome >/dev/null 2>&1 || useradd --system --home-dir /var/lib/hadome --shell /usr/sbin/nologin hadome; systemctl daemon-reload && systemctl start hadome",
        "",
    );
    let show_unit = |property: &str| sh("systemctl show -P \"$1\" hadome", property);
    assert_eq!(show_unit("ActiveState"), "active");
    assert!(
        show_unit("StatusText").starts_with("supervising"),
        "{}",
        show_unit("StatusText")
    );
    assert_eq!(show_unit("User"), "hadome");

    // A bad estate file sent with reload: refused, the daemon goes on.
    sh("cp /etc/hadome/estate.toml /etc/hadome/estate.toml.good && echo 'bogus = 1' >> /etc/hadome/estate.toml && systemctl reload hadome", "");
    eventually(
        "the reload to be refused",
        Duration::from_secs(30),
        || async {
            let log = lab.exec(&["journalctl", "-u", "hadome", "--no-pager", "-o", "cat"]);
            stdout(&log).contains("reload refused").then_some(())
        },
    )
    .await;
    assert_eq!(show_unit("ActiveState"), "active");
    sh(
        "mv /etc/hadome/estate.toml.good /etc/hadome/estate.toml",
        "",
    );

    // The loop wedged (failpoint), the watchdog at 2 s: systemd restarts it.
    sh(
        "printf '%s' \"$1\" > /etc/systemd/system/hadome.service.d/wedge.conf && systemctl daemon-reload && systemctl restart hadome",
        "[Service]\nEnvironment=HADOME_FAILPOINT=wedge-loop\nWatchdogSec=2\nRestartSec=1\n# A wedged loop does not see SIGTERM either.\nTimeoutStopSec=5\n",
    );
    eventually(
        "systemd's watchdog to restart the wedged daemon",
        Duration::from_secs(60),
        || async {
            let restarts: u64 = show_unit("NRestarts").parse().unwrap_or(0);
            (restarts >= 1).then_some(())
        },
    )
    .await;
    let log = stdout(&lab.exec(&["journalctl", "-u", "hadome", "--no-pager"]));
    assert!(log.contains("Watchdog timeout"), "{log}");
    assert!(log.contains("failpoint wedge-loop"), "{log}");
    sh("systemctl stop hadome", "");
}
