//! Issue 15's Done-when on the production-like lab (`debian3`: three systemd hosts, each running
//! Debian's `postgresql@15-main` under its own systemd, reached over real SSH), with no argv
//! command in the estate: hadome acts through its built-in Debian actions.
//!
//! One lab for the whole story (a lab is three containers): `hadome daemon` fails over a hung
//! primary (the fence through systemd, over SSH; the promotion with `pg_ctlcluster`; the third
//! host follows with `ALTER SYSTEM`), `hadome run rebuild` makes the old primary a standby of
//! the new one over SSH (its data directory moved aside on its own host, never on this machine),
//! and then, with hadome's SSH path to the new primary's host cut, a hang of that primary makes
//! the failover stop at the fence and escalate: nobody is promoted. Through the real binary;
//! waits poll with deadlines; the guards tear the daemon and the lab down by PID.

use std::path::Path;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::debian3_lab::Debian3;
use crate::support::{eventually, hadome_json, run_hadome, show};

const WAIT: Duration = Duration::from_secs(90);

/// The member `name` of `hadome status --json`'s one cluster.
fn member(config: &Path, name: &str) -> serde_json::Value {
    let (_, status) = hadome_json(config, &["status"]);
    status["clusters"][0]["members"]
        .as_array()
        .and_then(|members| members.iter().find(|member| member["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("member {name} in {status}"))
}

fn role(config: &Path, name: &str) -> String {
    member(config, name)["role"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Directories moved aside beside Debian's data directory of 15/main under `root`.
fn asides_under(root: &Path) -> Vec<String> {
    let dir = root.join("var/lib/postgresql/15");
    std::fs::read_dir(&dir)
        .map(|listing| {
            listing
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("main.hadome-aside-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_systemd_hosts_over_ssh_the_daemon_fails_over_run_rebuilds_and_a_cut_ssh_path_stops_the_failover_before_promoting(
) {
    let machine_asides_before = asides_under(Path::new("/"));
    let lab = Debian3::up();
    let config = lab.dir.join("estate.toml");
    let estate = std::fs::read_to_string(&config).unwrap();
    for key in [
        "start_command",
        "stop_command",
        "rebuild_command",
        "fence_command",
        "follow_command",
    ] {
        assert!(!estate.contains(key), "{key} in the estate:\n{estate}");
    }
    assert_eq!(
        estate.matches("actions = \"debian\"").count(),
        3,
        "{estate}"
    );
    // Two failovers within the hour (the lab's budget is one): the second is the cut SSH path's.
    assert!(
        estate.trim_end().ends_with("stall_seconds = 5.0"),
        "{estate}"
    );
    std::fs::write(
        &config,
        format!("{}\nmax_failovers = 2\n", estate.trim_end()),
    )
    .unwrap();
    let check = run_hadome(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));

    // A hung primary: fenced through its unit over SSH, db-2 promoted, db-3 follows it.
    let mut daemon = Daemon::start_in(&lab.dir, "debian3", &[]);
    daemon
        .wait_for_log(
            "the daemon to find `debian3` healthy",
            "cluster `debian3`: healthy",
            1,
        )
        .await;
    lab.fault_ok(&["hang", "db-1"]);
    daemon
        .wait_for_log(
            "the failover to db-2",
            "failover of `debian3` from `db-1` to `db-2` done",
            1,
        )
        .await;
    let log = daemon.log();
    for said in [
        "on host-1: built-in fence of postgresql@15-main.service",
        "masked until the next boot; standby.signal written",
        "on host-2: built-in promote of postgresql@15-main.service",
        "`db-3` follows `db-2`: primary_conninfo",
    ] {
        assert!(
            log.contains(said),
            "`{said}` not in the daemon's log:\n{log}"
        );
    }
    // The fence holds on the host itself: the unit masked, nothing of it running, and a start
    // (a reboot, a person) would come up read-only.
    assert_eq!(
        lab.ssh_ok("host-1", "systemctl is-enabled postgresql@15-main || true"),
        "masked-runtime"
    );
    assert_eq!(
        lab.ssh_ok(
            "host-1",
            "test -f /var/lib/postgresql/15/main/standby.signal && echo yes"
        ),
        "yes"
    );
    let cgroup = lab.ssh_ok(
        "host-1",
        "systemctl show -p ControlGroup --value postgresql@15-main",
    );
    assert!(
        cgroup.is_empty()
            || lab
                .ssh_ok(
                    "host-1",
                    &format!("cat /sys/fs/cgroup{cgroup}/cgroup.procs 2>/dev/null || true")
                )
                .is_empty(),
        "processes left in {cgroup}"
    );
    eventually("db-3 streaming from the new primary", WAIT, || async {
        let db3 = member(&config, "db-3");
        (role(&config, "db-2") == "primary" && db3["streaming"] == true).then_some(())
    })
    .await;

    // The old primary rebuilt from the new one, over SSH: moved aside on host-1, never here.
    let rebuild = run_hadome(
        &[
            "run",
            "rebuild",
            "db-1",
            "--from",
            "db-2",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(rebuild.status.code(), Some(0), "{}", show(&rebuild));
    let said = String::from_utf8_lossy(&rebuild.stdout);
    assert!(
        said.contains("from `db-1`'s host, the source answers a replication connection"),
        "{said}"
    );
    assert!(
        said.contains("copied with pg_basebackup -R -X stream"),
        "{said}"
    );
    let host_root = lab.dir.join("hosts/host-1/root");
    assert_eq!(asides_under(&host_root).len(), 1, "{said}");
    assert_eq!(asides_under(Path::new("/")), machine_asides_before);
    eventually("db-1 streaming from db-2", WAIT, || async {
        let db1 = member(&config, "db-1");
        (db1["role"] == "standby" && db1["streaming"] == true).then_some(())
    })
    .await;

    // hadome's SSH path to the new primary's host is cut, then the primary hangs: the fence
    // cannot run, so the failover stops there and escalates; no standby is promoted.
    lab.fault_ok(&["cut-ssh", "host-2"]);
    lab.fault_ok(&["hang", "db-2"]);
    daemon
        .wait_for_log("the failover's escalation", "ESCALATION", 1)
        .await;
    daemon
        .wait_for_log(
            "the failed failover's outcome",
            "failover of `debian3` stopped: fencing `db-2` failed",
            1,
        )
        .await;
    let log = daemon.log();
    let after_cut = &log[log.rfind("FAILOVER of `debian3`").unwrap()..];
    assert!(
        after_cut.contains("FAILED fence `db-2`")
            && after_cut.contains("on host-2: built-in fence"),
        "{after_cut}"
    );
    assert!(
        after_cut.contains("ESCALATION [promote-eligibility] db-2"),
        "{after_cut}"
    );
    assert!(
        !after_cut.contains("done promote"),
        "promoted with the old primary unfenced:\n{after_cut}"
    );
    for standby in ["db-1", "db-3"] {
        assert_eq!(role(&config, standby), "standby", "{after_cut}");
    }
    daemon.stop().await;
}
