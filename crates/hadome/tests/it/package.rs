//! The Debian package (issue 15 point 5) on a clean lab host: real dpkg, real systemd 252.
//!
//! `scripts/package.sh --debug-build` packages the binary these tests were built with (cargo-deb,
//! no build: seconds); the `s512` host installs it with `dpkg -i`, the daemon starts from the
//! shipped unit and estate, its log reaches journald with priorities, installing it again restarts
//! it, `dpkg -r` stops it and leaves the operator's estate file and the journal, and `dpkg --purge`
//! removes the estate file and still leaves the journal. A missing cargo-deb fails the test with the
//! fix (`scripts/setup.sh` installs it); it never skips. The lab is torn down by PID on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::host_lab::{stdout, HostLab};
use crate::support::{eventually, hadome_binary, scratch, show};

/// The workspace's root: where `scripts/package.sh` runs.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The .deb of the binary these tests run, made in `dir`.
fn build_package(dir: &Path) -> PathBuf {
    let cargo_deb = Command::new("cargo").args(["deb", "--version"]).output();
    match cargo_deb {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "cargo-deb is missing (`cargo deb --version`: {}): run scripts/setup.sh, which installs it (cargo install --locked cargo-deb)",
            show(&output)
        ),
        Err(error) => panic!("cannot run `cargo deb --version` ({error}): is cargo on PATH?"),
    }
    // The target directory these tests' `hadome` was built in (TARGET/debug/hadome).
    let binary = hadome_binary();
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in TARGET/debug");
    let output = Command::new(workspace().join("scripts/package.sh"))
        .args(["--debug-build", "--output"])
        .arg(dir)
        .env("CARGO_TARGET_DIR", target)
        .current_dir(workspace())
        .output()
        .expect("scripts/package.sh runs");
    assert!(
        output.status.success(),
        "scripts/package.sh --debug-build: {}",
        show(&output)
    );
    let deb = PathBuf::from(stdout(&output).lines().last().unwrap_or_default());
    assert!(
        deb.starts_with(dir) && deb.extension().is_some_and(|extension| extension == "deb"),
        "the .deb's path is the last line: {}",
        show(&output)
    );
    deb
}

/// The shipped estate file declares this machine alone; its commented first cluster, uncommented,
/// is a valid estate too (so it does not rot as keys change).
#[test]
fn the_shipped_estate_loads_and_so_does_its_commented_first_cluster() {
    let shipped = include_str!("../../../../packaging/estate.toml");
    let path = Path::new("/etc/hadome/estate.toml");
    let estate = hadome_config::parse(shipped, path).expect("the shipped estate loads");
    assert!(estate.instances.is_empty() && estate.clusters.is_empty());
    assert_eq!(
        estate.journal_path,
        Path::new("/var/lib/hadome/journal.sqlite")
    );
    let example = shipped
        .split_once("# [[instance]]")
        .expect("a commented first cluster")
        .1;
    let uncommented: String = format!("# [[instance]]{example}")
        .lines()
        .map(|line| line.strip_prefix("# ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect();
    let estate = hadome_config::parse(&format!("{shipped}{uncommented}"), path)
        .unwrap_or_else(|error| panic!("the commented cluster, uncommented: {error}"));
    assert_eq!(estate.instances.len(), 2);
    assert_eq!(estate.clusters.len(), 1);
}

/// The journal's entries of the `hadome` unit, as JSON objects.
fn journal_entries(lab: &HostLab) -> Vec<serde_json::Value> {
    let output = lab.exec(&["journalctl", "-u", "hadome", "-o", "json", "--no-pager"]);
    assert!(output.status.success(), "journalctl: {}", show(&output));
    stdout(&output)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits until the journal holds a line of the daemon's that starts with `start`, with syslog
/// priority `priority`; returns its MESSAGE.
async fn wait_for_journal_line(lab: &HostLab, start: &str, priority: &str) -> String {
    eventually(
        &format!("the journal to hold `{start}…` with priority {priority}"),
        Duration::from_secs(30),
        || async {
            journal_entries(lab).into_iter().find_map(|entry| {
                let message = entry["MESSAGE"].as_str()?;
                (message.starts_with(start) && entry["PRIORITY"] == priority)
                    .then(|| message.to_owned())
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debian_package_installs_a_user_and_an_idle_unit_that_starts_and_dpkg_r_keeps_the_estate(
) {
    let scratch = scratch();
    let deb = build_package(scratch.path());
    let lab = HostLab::up();
    let sh = |script: &str| {
        let output = lab.exec(&["sh", "-c", script]);
        assert!(output.status.success(), "{script}: {}", show(&output));
        stdout(&output)
    };
    // A clean host: the lab writes an estate and a state directory for its reboot guard; they
    // are moved aside, so dpkg finds neither.
    sh("mv /etc/hadome /root/lab-etc-hadome && mv /var/lib/hadome /root/lab-var-lib-hadome");
    std::fs::copy(&deb, lab.dir.join("hosts/s512/root/var/tmp/hadome.deb"))
        .expect("copy the .deb into the host's root filesystem");

    let install = lab.exec(&["dpkg", "-i", "/var/tmp/hadome.deb"]);
    assert!(install.status.success(), "dpkg -i: {}", show(&install));
    // The user (systemd-sysusers), its state directory (systemd-tmpfiles), the conffile.
    let passwd = sh("getent passwd hadome");
    assert!(passwd.contains(":/var/lib/hadome:"), "{passwd}");
    assert_eq!(sh("id -gn hadome"), "hadome");
    assert_eq!(sh("stat -c %U:%G:%a /var/lib/hadome"), "hadome:hadome:750");
    assert_eq!(
        sh("dpkg-query -W -f='${Conffiles}' hadome")
            .split_whitespace()
            .next(),
        Some("/etc/hadome/estate.toml")
    );
    let shipped = include_str!("../../../../packaging/estate.toml");
    let estate = lab.dir.join("hosts/s512/root/etc/hadome/estate.toml");
    assert_eq!(std::fs::read_to_string(&estate).unwrap(), shipped);
    // Installed, neither enabled nor started: the operator declares the estate first.
    let enabled = lab.exec(&["systemctl", "is-enabled", "hadome"]);
    assert_eq!(stdout(&enabled), "disabled", "{}", show(&enabled));
    let active = lab.exec(&["systemctl", "is-active", "hadome"]);
    assert_eq!(stdout(&active), "inactive", "{}", show(&active));

    // The shipped estate is checked as it is (this machine, read-only), before the service ran:
    // the host's daily reboot timer is found.
    let check = lab.exec(&[
        "/usr/bin/hadome",
        "check",
        "--config",
        "/etc/hadome/estate.toml",
        "--json",
    ]);
    assert!(
        matches!(check.status.code(), Some(0 | 1)),
        "check: {}",
        show(&check)
    );
    let findings: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(
        findings["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|finding| finding["rule"] == "systemd-reboot-loop"),
        "{findings}"
    );

    // Started from the shipped unit: READY=1 (Type=notify), as `hadome`, from /usr/bin/hadome.
    sh("systemctl start hadome");
    let property = |name: &str| sh(&format!("systemctl show -P {name} hadome"));
    assert_eq!(property("ActiveState"), "active");
    assert_eq!(property("User"), "hadome");
    // The package's /usr/lib/systemd/system/hadome.service, which systemd 252 names through
    // bookworm's /lib → /usr/lib.
    assert!(
        property("FragmentPath").ends_with("/lib/systemd/system/hadome.service"),
        "{}",
        property("FragmentPath")
    );
    assert!(
        property("ExecStart").contains("path=/usr/bin/hadome "),
        "{}",
        property("ExecStart")
    );
    assert!(
        property("StatusText").starts_with("supervising"),
        "{}",
        property("StatusText")
    );
    // The journal file `check` made as root is the daemon's now (StateDirectory=).
    assert_eq!(sh("stat -c %U /var/lib/hadome/journal.sqlite"), "hadome");
    // The log on journald: no stamp of its own, and its priority from the `<N>` prefix.
    let started =
        wait_for_journal_line(&lab, "hadome daemon: supervising 0 instance(s)", "6").await;
    assert!(!started.contains("<6>"), "{started}");
    // A bad estate file on reload: refused (an error, priority 3), the daemon goes on.
    sh("cp /etc/hadome/estate.toml /root/estate.good && echo 'bogus = 1' >> /etc/hadome/estate.toml && systemctl reload hadome");
    wait_for_journal_line(&lab, "hadome daemon: reload refused", "3").await;
    assert_eq!(property("ActiveState"), "active");
    sh("cp /root/estate.good /etc/hadome/estate.toml && echo '# edited by the operator' >> /etc/hadome/estate.toml");

    // Installed again over itself (an upgrade's path): the running daemon is restarted, and the
    // edited conffile is kept without a question (dpkg asks only when the package's changed).
    let before = property("MainPID");
    let upgrade = lab.exec(&["dpkg", "-i", "/var/tmp/hadome.deb"]);
    assert!(
        upgrade.status.success(),
        "dpkg -i again: {}",
        show(&upgrade)
    );
    assert_eq!(property("ActiveState"), "active");
    assert_ne!(property("MainPID"), before, "the daemon was restarted");

    // Removed: the daemon is stopped and the binary gone; the operator's estate and the journal
    // stay (dpkg's conffile state, `config-files`), and so does the user.
    let remove = lab.exec(&["dpkg", "-r", "hadome"]);
    assert!(remove.status.success(), "dpkg -r: {}", show(&remove));
    let active = lab.exec(&["systemctl", "is-active", "hadome"]);
    assert_eq!(stdout(&active), "inactive", "{}", show(&active));
    assert_eq!(
        lab.exec(&["test", "-e", "/usr/bin/hadome"]).status.code(),
        Some(1)
    );
    assert_eq!(
        std::fs::read_to_string(&estate).unwrap(),
        format!("{shipped}# edited by the operator\n")
    );
    assert_eq!(
        sh("dpkg-query -W -f='${db:Status-Status}' hadome"),
        "config-files"
    );
    sh("test -s /var/lib/hadome/journal.sqlite && id hadome");
    // Purged: the conffile goes too; the journal, which dpkg never owned, stays.
    let purge = lab.exec(&["dpkg", "--purge", "hadome"]);
    assert!(purge.status.success(), "dpkg --purge: {}", show(&purge));
    assert!(!estate.exists(), "dpkg --purge removes the conffile");
    sh("test -s /var/lib/hadome/journal.sqlite");
}
