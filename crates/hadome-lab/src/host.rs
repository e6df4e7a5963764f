//! Lab hosts: a real systemd 252 booted by `systemd-nspawn` on a copy of the cached root
//! filesystem (`rootfs.rs`), one supervisor process per host, and what the lab does to them.
//!
//! ```text
//!  lab up / start-host          reboot (nspawn exits 133)         stop-host (exits 0)
//!  ──────────────▶ booting ──▶ running ──▶ rebooting ──▶ booting …   running ──▶ stopped
//!                                 │ hang-host  ▲ resume
//!                                 ▼            │
//!                                hung ─────────┘        delete-host: stopped, root moved aside
//! ```
//!
//! - **Supervisor** (`hadome lab host-supervisor --dir D HOST`, started in its own process group,
//!   like the proxy): joins its own cgroup (`hadome-lab-TOKEN-HOST`, in the `name=systemd` and
//!   unified hierarchies, so nspawn's `payload/` and `supervisor/` cgroups are this lab's and no
//!   other's), runs `systemd-nspawn -D ROOT --boot --register=no --keep-unit
//!   --console=read-only --private-network` (a host that runs a PostgreSQL node boots in the
//!   namespace the lab proxy keeps for it instead, `debian_hosts.rs`), and starts it again
//!   whenever it exits 133 (a reboot inside), not when it exits 0 (a poweroff) or fails. It records its PID, nspawn's, the
//!   container's PID 1 (nspawn's child, PID 1 of its own PID namespace) and that namespace, and a
//!   boot counter in `DIR/hosts/HOST/supervisor.json` (atomically). On SIGTERM it sends nspawn
//!   SIGTERM (an orderly poweroff of the container), and SIGKILL after 20 s.
//! - **Identity**: every PID is checked before it is signalled: the supervisor's and nspawn's
//!   `/proc/PID/cmdline` must name this lab's directory, the container's PID 1 must still be PID 1
//!   of the recorded PID namespace; a container's processes are the processes of that namespace.
//! - **Entering**: `nsenter -t PID1 -a`, once `systemctl is-system-running` says `running` or
//!   `degraded` (polled with a deadline).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::image::{self, ImageManifest, ImageVerdict};
use crate::lab::Lab;
use crate::process;
use crate::state::{write_json_atomically, HostState, LabState};
use crate::topology::HostSpec;
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// The supervisor's record, inside the host's directory.
pub(crate) const SUPERVISOR_FILE: &str = "supervisor.json";
/// systemd-nspawn's exit status when the container rebooted.
const NSPAWN_REBOOTED: i32 = 133;
/// Where the `hadome` binary appears inside a host (read-only).
pub(crate) const HADOME_IN_HOST: &str = "/usr/local/bin/hadome";
/// The incident's timer stamp, inside the host.
const STAMP: &str = "/var/lib/systemd/timers/stamp-reboot-daily.timer";
/// The drop-in `stamp-lost` installs, inside the host.
const STAMP_LOST_DROP_IN: &str =
    "/etc/systemd/system/reboot-daily.service.d/hadome-lab-stamp-lost.conf";
/// The early boot service `stamp-lost` installs, inside the host: the stamp is set back at every
/// boot, however the previous one ended (a forced poweroff included).
const STAMP_LOST_SERVICE: &str = "hadome-lab-stamp-lost.service";
/// The programs a host needs, with their Debian packages.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("mmdebstrap", "mmdebstrap"),
    ("nsenter", "util-linux"),
    ("journalctl", "systemd"),
    ("systemd-machine-id-setup", "systemd"),
    ("cp", "coreutils"),
];

/// What the supervisor records of its host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SupervisorRecord {
    pub(crate) supervisor_pid: i32,
    pub(crate) nspawn_pid: Option<i32>,
    pub(crate) container_pid: Option<i32>,
    /// `pid:[INODE]`: the container's PID namespace.
    pub(crate) pid_namespace: Option<String>,
    /// How many times nspawn was started for this host (boots, reboots included).
    pub(crate) boots: u32,
    /// `booting`, `running`, `rebooting`, `powered-off`, `failed` or `stopped`.
    pub(crate) phase: String,
    /// nspawn's last exit, as text.
    pub(crate) last_exit: Option<String>,
}

/// One host in [`crate::LabStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// The host's name.
    pub name: String,
    /// `running`, `hung`, `booting` (nspawn started, no PID 1 yet), `stopped` or `deleted`.
    pub process: &'static str,
    /// The supervisor's phase (`running`, `rebooting`, `powered-off` …), when it recorded one.
    pub phase: Option<String>,
    /// The supervisor's PID, when it is alive.
    pub supervisor_pid: Option<i32>,
    /// systemd-nspawn's PID, when it runs.
    pub nspawn_pid: Option<i32>,
    /// The container's PID 1 (systemd), when it runs.
    pub container_pid: Option<i32>,
    /// The running boot's id (`/proc/sys/kernel/random/boot_id` inside).
    pub boot_id: Option<String>,
    /// The boots the host's journal lists (`journalctl -D ROOT/var/log/journal --list-boots`).
    pub boots: Option<usize>,
    /// How many times the lab started nspawn for it.
    pub nspawn_starts: u32,
    /// Seconds since the container's PID 1 started.
    pub uptime_seconds: Option<f64>,
    /// Its root filesystem.
    pub root: PathBuf,
    /// The proxy port its sshd is reached on (`ssh -p PORT root@127.0.0.1`, with the lab's key
    /// `DIR/ssh/id_ed25519` and `DIR/ssh/known_hosts`), for a host that runs a PostgreSQL node.
    pub ssh_port: Option<u16>,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LabError + 'a {
    move |source| LabError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Everything a host needs, checked before `lab up` creates anything.
pub(crate) fn check_can_run_hosts(hadome: Option<&Path>) -> Result<PathBuf, LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(LabError::NotRoot {
            what: "systemd-nspawn needs root to boot a container".to_owned(),
        });
    }
    for (program, package) in HOST_TOOLS {
        if !on_path(program) {
            return Err(LabError::HostToolMissing { program, package });
        }
    }
    let hadome = hadome.ok_or_else(|| LabError::Host {
        host: "-".to_owned(),
        problem: "the lab does not know the absolute path of the `hadome` binary".to_owned(),
        fix: "bring the lab up with `LabOptions::with_hadome_binary` and an absolute path"
            .to_owned(),
    })?;
    if hadome.to_string_lossy().contains([':', ',']) {
        return Err(LabError::Host {
            host: "-".to_owned(),
            problem: format!(
                "the hadome binary's path `{}` holds `:` or `,`, which `--bind-ro=` cannot take",
                hadome.display()
            ),
            fix: "run hadome from a path without `:` or `,`".to_owned(),
        });
    }
    Ok(hadome.to_owned())
}

/// The lab's record of a host, for `lab up`.
pub(crate) fn host_state(dir: &Path, token: &str, spec: &HostSpec) -> HostState {
    let home = dir.join("hosts").join(&spec.name);
    HostState {
        name: spec.name.clone(),
        root: home.join("root"),
        home,
        machine: format!("hadome-lab-{token}-{}", spec.name),
        reboot_daily_timer: spec.reboot_daily_timer,
        data_paths: spec.data_paths.clone(),
        backed_up: spec.backed_up.clone(),
        ssh_port: None,
    }
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    }
    std::fs::write(path, text).map_err(io("write", path))
}

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Writes the incident into a fresh copy of the root: hostname, the timer and its service with a
/// fresh stamp (the lab starts stable), and the data paths with a few files each.
pub(crate) fn prepare_root(host: &HostState) -> Result<(), LabError> {
    let root = &host.root;
    write(&root.join("etc/hostname"), &format!("{}\n", host.name))?;
    if host.reboot_daily_timer {
        // The incident's daily elapse, put half a day away from now (UTC), so that a lab (which
        // lives minutes) never meets it by chance: only `stamp-lost` makes the timer fire.
        let hour = (unix_millis().div_euclid(3_600_000) + 12).rem_euclid(24);
        write(
            &root.join("etc/systemd/system/reboot-daily.timer"),
            &format!(
                "# Incident C: a daily reboot to work around a memory leak. `Persistent=true` catches\n\
                 # a missed elapse up at boot; when the stamp below does not survive a reboot, every\n\
                 # boot fires it again (`hadome lab fault stamp-lost`).\n\
                 [Unit]\nDescription=Reboot daily (memory leak workaround)\n\n\
                 [Timer]\nOnCalendar=*-*-* {hour:02}:30:00 UTC\nPersistent=true\n\n\
                 [Install]\nWantedBy=timers.target\n"
            ),
        )?;
        write(
            &root.join("etc/systemd/system/reboot-daily.service"),
            "[Unit]\nDescription=Reboot (memory leak workaround)\n\n\
             [Service]\nType=oneshot\nExecStart=/usr/bin/systemctl reboot\n",
        )?;
        let wants = root.join("etc/systemd/system/timers.target.wants");
        std::fs::create_dir_all(&wants).map_err(io("create directory", &wants))?;
        let link = wants.join("reboot-daily.timer");
        std::os::unix::fs::symlink("/etc/systemd/system/reboot-daily.timer", &link)
            .map_err(io("create symlink", &link))?;
        // Fresh: the timer's last trigger is now, so its next elapse is half a day away.
        write(&inside(root, STAMP), "")?;
    }
    // The host's own estate, for its reboot guard: `hadome ask reboot NAME --config
    // /etc/hadome/estate.toml` inside reads this host's facts and keeps its own journal, with
    // the bounds the lab's estate gives it from outside.
    let data_paths: Vec<String> = host
        .data_paths
        .iter()
        .map(|path| format!("{path:?}"))
        .collect();
    write(
        &root.join("etc/hadome/estate.toml"),
        &format!(
            "# This host's own estate, for its reboot guard (`hadome systemd drop-in reboot-guard`):\n\
             # `hadome ask reboot {name} --config /etc/hadome/estate.toml` reads its facts here.\n\
             [journal]\npath = \"/var/lib/hadome/journal.sqlite\"\n\n\
             [[host]]\nname = {name:?}\ndata_paths = [{}]\n\
             min_uptime_seconds = 30\nmax_boots = 3\nboot_window_seconds = 600\n",
            data_paths.join(", "),
            name = host.name,
        ),
    )?;
    std::fs::create_dir_all(root.join("var/lib/hadome"))
        .map_err(io("create directory", &root.join("var/lib/hadome")))?;
    for (index, path) in host.data_paths.iter().enumerate() {
        let covered = host.backed_up.contains(path);
        let slug = path.rsplit('/').next().unwrap_or("data");
        for number in 1..=3 {
            let text = format!(
                "{slug} file {number} of host `{}` (data path {path}, {}).\n{}",
                host.name,
                if covered {
                    "covered by the lab's backup"
                } else {
                    "the only copy: no backup covers it"
                },
                "x".repeat(4096 * number * (index + 1))
            );
            write(&inside(root, &format!("{path}/{slug}-{number}.dat")), &text)?;
        }
    }
    Ok(())
}

/// The lab backup of each covered data path: `DIR/backups/HOST-SLUG-STAMP.tar` (and its
/// manifest), outside the host.
pub(crate) fn back_up(dir: &Path, host: &HostState) -> Result<Vec<PathBuf>, LabError> {
    let backups = dir.join("backups");
    std::fs::create_dir_all(&backups).map_err(io("create directory", &backups))?;
    let stamp = hadome_core::fact::Timestamp(unix_millis()).utc_stamp();
    let mut made = Vec::new();
    for path in &host.backed_up {
        let slug = path.trim_start_matches('/').replace('/', "-");
        let slug = slug.rsplit('-').next().unwrap_or("data").to_owned();
        let tar = backups.join(format!("{}-{slug}-{stamp}.tar", host.name));
        let manifest = image::write_tar(&host.name, &host.root, std::slice::from_ref(path), &tar)?;
        write_json_atomically(&tar.with_extension("manifest.json"), &manifest)?;
        made.push(tar);
    }
    Ok(made)
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Reads the supervisor's record, when there is one.
pub(crate) fn read_record(host: &HostState) -> Option<SupervisorRecord> {
    let text = std::fs::read_to_string(host.home.join(SUPERVISOR_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn lab_dir_of(host: &HostState) -> String {
    host.home
        .parent()
        .and_then(Path::parent)
        .map_or_else(String::new, |dir| dir.display().to_string())
}

/// The supervisor's PID, when that process is alive and is this host's supervisor.
pub(crate) fn live_supervisor(host: &HostState, record: &SupervisorRecord) -> Option<i32> {
    let pid = record.supervisor_pid;
    let line = process::cmdline(pid)?;
    let ours = line.contains("host-supervisor")
        && line.contains(&lab_dir_of(host))
        && line.ends_with(&format!(" {}", host.name));
    (ours && process::is_alive(pid)).then_some(pid)
}

fn live_nspawn(host: &HostState, record: &SupervisorRecord) -> Option<i32> {
    let pid = record.nspawn_pid?;
    let line = process::cmdline(pid)?;
    let ours = line.contains("systemd-nspawn") && line.contains(&host.root.display().to_string());
    (ours && process::is_alive(pid)).then_some(pid)
}

fn pid_namespace(pid: i32) -> Option<String> {
    Some(
        std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()?
            .to_string_lossy()
            .into_owned(),
    )
}

/// Whether `pid` is PID 1 of its own PID namespace (`NSpid: N 1`).
fn is_namespace_init(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|text| {
        text.lines()
            .find(|line| line.starts_with("NSpid:"))
            .is_some_and(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() >= 3 && fields.last() == Some(&"1")
            })
    })
}

/// The container's PID 1, when it is alive and still PID 1 of the recorded namespace.
pub(crate) fn live_container(record: &SupervisorRecord) -> Option<i32> {
    let pid = record.container_pid?;
    let namespace = record.pid_namespace.as_deref()?;
    (process::is_alive(pid)
        && is_namespace_init(pid)
        && pid_namespace(pid).as_deref() == Some(namespace))
    .then_some(pid)
}

/// Every live process of the container: the processes of its PID namespace.
pub(crate) fn container_pids(record: &SupervisorRecord) -> Vec<i32> {
    let Some(init) = live_container(record) else {
        return Vec::new();
    };
    let Some(namespace) = pid_namespace(init) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = process::all_pids()
        .into_iter()
        .filter(|pid| {
            *pid != init
                && process::is_alive(*pid)
                && pid_namespace(*pid).as_deref() == Some(&namespace)
        })
        .collect();
    pids.insert(0, init);
    pids
}

fn boot_id(container: i32) -> Option<String> {
    std::fs::read_to_string(format!(
        "/proc/{container}/root/proc/sys/kernel/random/boot_id"
    ))
    .ok()
    .map(|text| text.trim().to_owned())
}

fn uptime_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()? as f64;
    let machine: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((machine - start_ticks / ticks).max(0.0))
}

/// The boot ids the host's persistent journal lists, oldest first.
pub(crate) fn journal_boots(host: &HostState) -> Result<Vec<String>, LabError> {
    let journal = host.root.join("var/log/journal");
    let output = std::process::Command::new("journalctl")
        .arg("-D")
        .arg(&journal)
        .args(["--list-boots", "--no-pager", "-q"])
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            what: format!("reading the boots of `{}`", host.name),
            program: "journalctl".to_owned(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let boots: Vec<String> = stdout
        .lines()
        .filter_map(|line| {
            let id = line.split_whitespace().nth(1)?;
            (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_owned())
        })
        .collect();
    if !output.status.success() && boots.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No journal files") || stdout.contains("No journal files") {
            return Ok(Vec::new());
        }
        return Err(LabError::Command {
            what: format!("reading the boots of `{}`", host.name),
            program: "journalctl".to_owned(),
            status: output.status.to_string(),
            stderr: stderr.into_owned(),
        });
    }
    Ok(boots)
}

/// A host's state and facts, read from `/proc`, its supervisor's record and its journal.
pub(crate) fn status(host: &HostState) -> HostStatus {
    let record = read_record(host);
    let supervisor = record
        .as_ref()
        .and_then(|record| live_supervisor(host, record));
    let container = record.as_ref().and_then(live_container);
    let nspawn = record.as_ref().and_then(|record| live_nspawn(host, record));
    let process = if !host.root.exists() {
        "deleted"
    } else if supervisor.is_none() && container.is_none() {
        "stopped"
    } else if container.is_none() {
        "booting"
    } else if record
        .as_ref()
        .is_some_and(|record| is_hung(&container_pids(record)))
    {
        "hung"
    } else {
        "running"
    };
    HostStatus {
        name: host.name.clone(),
        process,
        phase: record.as_ref().map(|record| record.phase.clone()),
        supervisor_pid: supervisor,
        nspawn_pid: nspawn,
        container_pid: container,
        boot_id: container.and_then(boot_id),
        boots: host
            .root
            .exists()
            .then(|| journal_boots(host).ok().map(|boots| boots.len()))
            .flatten(),
        nspawn_starts: record.as_ref().map_or(0, |record| record.boots),
        uptime_seconds: container.and_then(uptime_seconds),
        root: host.root.clone(),
        ssh_port: host.ssh_port,
    }
}

fn is_hung(pids: &[i32]) -> bool {
    !pids.is_empty() && pids.iter().all(|pid| process::is_stopped(*pid))
}

/// Starts the host's supervisor (`HADOME lab host-supervisor --dir DIR HOST`) in its own process
/// group; a thread reaps it when it ends.
pub(crate) fn spawn_supervisor(state: &LabState, host: &HostState) -> Result<i32, LabError> {
    let hadome = state
        .hadome_binary
        .as_deref()
        .ok_or_else(|| LabError::Host {
            host: host.name.clone(),
            problem: "the lab state does not record the hadome binary".to_owned(),
            fix: "bring the lab up again with this hadome".to_owned(),
        })?;
    let log_path = host.home.join("supervisor.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io("open", &log_path))?;
    let log_err = log.try_clone().map_err(io("open", &log_path))?;
    let mut command = std::process::Command::new(hadome);
    command
        .args(["lab", "host-supervisor", "--dir"])
        .arg(&state.dir)
        .arg(&host.name)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|source| LabError::Spawn {
        what: format!("the supervisor of host `{}`", host.name),
        program: hadome.display().to_string(),
        source,
    })?;
    let pid = child.id() as i32;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(pid)
}

/// The directories under which the supervisor makes its cgroup: the `name=systemd` and unified
/// hierarchies of a hybrid layout, or the one cgroup2 tree.
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_owned()];
    }
    ["systemd", "unified"]
        .iter()
        .map(|name| base.join(name))
        .filter(|path| path.join("cgroup.procs").exists())
        .collect()
}

fn join_cgroups(machine: &str) -> Result<(), LabError> {
    for root in cgroup_roots() {
        let group = root.join(machine);
        match std::fs::create_dir(&group) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(io("create cgroup", &group)(source)),
        }
        let procs = group.join("cgroup.procs");
        std::fs::write(&procs, std::process::id().to_string())
            .map_err(io("join cgroup", &procs))?;
    }
    Ok(())
}

/// Removes the host's cgroups (`rmdir`, deepest first: only empty ones go); returns those left.
fn remove_cgroups(machine: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for root in cgroup_roots() {
        let group = root.join(machine);
        if !group.exists() {
            continue;
        }
        let mut dirs = Vec::new();
        let mut pending = vec![group.clone()];
        while let Some(dir) = pending.pop() {
            if let Ok(listing) = std::fs::read_dir(&dir) {
                for item in listing.flatten() {
                    if item.file_type().is_ok_and(|kind| kind.is_dir()) {
                        pending.push(item.path());
                    }
                }
            }
            dirs.push(dir);
        }
        // Children come after their parents in `dirs`: remove in reverse.
        for dir in dirs.iter().rev() {
            if std::fs::remove_dir(dir).is_err() && dir.exists() {
                left.push(dir.clone());
            }
        }
    }
    left
}

/// `rmdir` what nspawn leaves in `/run/systemd/nspawn`, only when empty: other labs (or other
/// users of nspawn) may be running.
fn remove_nspawn_run_dirs(machine: &str) {
    let run = Path::new("/run/systemd/nspawn");
    let _ = std::fs::remove_dir(run.join("propagate").join(machine));
    for dir in [run.join("propagate"), run.join("locks"), run.to_owned()] {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The supervisor's main loop: `hadome lab host-supervisor --dir DIR HOST`.
pub async fn serve(dir: &Path, name: &str) -> Result<(), LabError> {
    let state = LabState::read(dir)?;
    let host = state.host(name)?.clone();
    let hadome = state
        .hadome_binary
        .clone()
        .ok_or_else(|| LabError::Bug("a host lab without a hadome binary".to_owned()))?;
    join_cgroups(&host.machine)?;
    // `--private-network`, or the namespace the lab proxy keeps for a host that runs a node.
    let network = crate::debian_hosts::nspawn_network(&state, &host)?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| LabError::Io {
        action: "handle SIGTERM in",
        path: "/proc/self".into(),
        source,
    })?;
    let mut record = SupervisorRecord {
        supervisor_pid: std::process::id() as i32,
        nspawn_pid: None,
        container_pid: None,
        pid_namespace: None,
        boots: read_record(&host).map_or(0, |old| old.boots),
        phase: "booting".to_owned(),
        last_exit: None,
    };
    let record_path = host.home.join(SUPERVISOR_FILE);
    let log_path = host.home.join("nspawn.log");
    loop {
        record.boots += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("open", &log_path))?;
        let log_err = log.try_clone().map_err(io("open", &log_path))?;
        let mut child = tokio::process::Command::new("systemd-nspawn")
            .arg("-D")
            .arg(&host.root)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--console=read-only",
            ])
            .args(&network)
            .arg(format!("--machine={}", host.machine))
            .arg(format!("--hostname={}", host.name))
            .arg(format!("--bind-ro={}:{HADOME_IN_HOST}", hadome.display()))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| LabError::Spawn {
                what: format!("the container of host `{name}`"),
                program: "systemd-nspawn".to_owned(),
                source,
            })?;
        let nspawn = child.id().map(|pid| pid as i32);
        record.nspawn_pid = nspawn;
        record.container_pid = None;
        record.pid_namespace = None;
        record.phase = "booting".to_owned();
        write_json_atomically(&record_path, &record)?;

        let status = tokio::select! {
            status = child.wait() => status,
            _ = terminate.recv() => {
                stop_nspawn(&mut child, &record).await;
                record.phase = "stopped".to_owned();
                record.nspawn_pid = None;
                record.container_pid = None;
                write_json_atomically(&record_path, &record)?;
                return Ok(());
            }
            found = find_container(nspawn) => {
                if let Some(init) = found {
                    record.container_pid = Some(init);
                    record.pid_namespace = pid_namespace(init);
                    record.phase = "running".to_owned();
                    write_json_atomically(&record_path, &record)?;
                }
                tokio::select! {
                    status = child.wait() => status,
                    _ = terminate.recv() => {
                        stop_nspawn(&mut child, &record).await;
                        record.phase = "stopped".to_owned();
                        record.nspawn_pid = None;
                        record.container_pid = None;
                        write_json_atomically(&record_path, &record)?;
                        return Ok(());
                    }
                }
            }
        }
        .map_err(io("wait for", Path::new("systemd-nspawn")))?;
        record.last_exit = Some(status.to_string());
        record.nspawn_pid = None;
        record.container_pid = None;
        record.pid_namespace = None;
        match status.code() {
            Some(NSPAWN_REBOOTED) => {
                record.phase = "rebooting".to_owned();
                write_json_atomically(&record_path, &record)?;
            }
            Some(0) => {
                record.phase = "powered-off".to_owned();
                write_json_atomically(&record_path, &record)?;
                return Ok(());
            }
            _ => {
                record.phase = "failed".to_owned();
                write_json_atomically(&record_path, &record)?;
                return Ok(());
            }
        }
    }
}

/// nspawn's child that is PID 1 of its own namespace: the container's systemd. Waits up to 30 s
/// (then never completes: the caller's other branches decide).
async fn find_container(nspawn: Option<i32>) -> Option<i32> {
    let nspawn = nspawn?;
    let found = poll_until(
        "container",
        "nspawn's child, PID 1 of the container",
        Duration::from_secs(30),
        || async {
            Ok(
                match process::children_of(nspawn)
                    .into_iter()
                    .find(|pid| is_namespace_init(*pid))
                {
                    Some(pid) => Poll::Done(pid),
                    None => Poll::NotYet("no child of nspawn is PID 1 of a namespace".to_owned()),
                },
            )
        },
    )
    .await;
    match found {
        Ok(pid) => Some(pid),
        Err(_) => std::future::pending().await,
    }
}

/// SIGTERM to nspawn (an orderly poweroff of the container); SIGKILL of nspawn and the
/// container's PID 1 after 20 s.
async fn stop_nspawn(child: &mut tokio::process::Child, record: &SupervisorRecord) {
    // A hung container acts on nothing: continue it first.
    for pid in container_pids(record) {
        let _ = process::send(pid, Signal::SIGCONT);
    }
    if let Some(pid) = child.id() {
        let _ = process::send(pid as i32, Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        if let Some(init) = live_container(record) {
            let _ = process::send(init, Signal::SIGKILL);
        }
        let _ = child.kill().await;
    }
}

/// Stops a host by PID, whatever its state: the supervisor is asked (SIGTERM: an orderly
/// poweroff), then anything left is killed; its cgroups and nspawn's run directories are removed
/// when empty. Returns the PIDs still alive.
pub(crate) fn stop_blocking(host: &HostState) -> (Vec<i32>, Vec<PathBuf>) {
    let mut survivors = Vec::new();
    if let Some(record) = read_record(host) {
        if let Some(supervisor) = live_supervisor(host, &record) {
            let _ = process::send(supervisor, Signal::SIGTERM);
            let _ = process::wait_gone(&[supervisor], Duration::from_secs(30));
        }
        // Whatever is left, by PID: the supervisor, nspawn, the container (killing its PID 1
        // ends every process of its namespace).
        let record = read_record(host).unwrap_or(record);
        let mut left: Vec<i32> = Vec::new();
        left.extend(live_supervisor(host, &record));
        left.extend(live_nspawn(host, &record));
        left.extend(container_pids(&record));
        if !left.is_empty() {
            survivors = process::end(&left, Signal::SIGKILL, Duration::from_secs(10));
        }
    }
    let cgroups = remove_cgroups(&host.machine);
    remove_nspawn_run_dirs(&host.machine);
    (survivors, cgroups)
}

/// Mount points under `dir` in this process's mount namespace.
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(|point| point.replace("\\040", " "))
        .filter(|point| point == &prefix || point.starts_with(&format!("{prefix}/")))
        .collect()
}

impl Lab {
    fn host_state(&self, name: &str) -> Result<&HostState, LabError> {
        self.state.host(name)
    }

    fn require_root(&self, host: &HostState) -> Result<(), LabError> {
        if host.root.exists() {
            Ok(())
        } else {
            Err(LabError::Host {
                host: host.name.clone(),
                problem: "its root filesystem was moved aside (`delete-host`)".to_owned(),
                fix: format!(
                    "look in `{}`; bring a new lab up for a new host",
                    self.state.dir.join("deleted").display()
                ),
            })
        }
    }

    /// Waits until systemd in `name` says `running` or `degraded`; returns the container's PID 1.
    pub(crate) async fn wait_host_running(&self, name: &str) -> Result<i32, LabError> {
        let host = self.host_state(name)?.clone();
        self.require_root(&host)?;
        poll_until(
            name,
            "systemd in the container to say `running` or `degraded`",
            self.wait_timeout,
            || async {
                let Some(record) = read_record(&host) else {
                    return Ok(Poll::NotYet("no supervisor record yet".to_owned()));
                };
                let supervisor = live_supervisor(&host, &record);
                let Some(init) = live_container(&record) else {
                    if supervisor.is_none() {
                        return Err(LabError::Host {
                            host: host.name.clone(),
                            problem: format!(
                                "it is stopped (its supervisor says `{}`)",
                                record.phase
                            ),
                            fix: format!(
                                "start it: `hadome lab fault --dir DIR start-host {}`",
                                host.name
                            ),
                        });
                    }
                    return Ok(Poll::NotYet(format!("the container is {}", record.phase)));
                };
                if is_hung(&container_pids(&record)) {
                    return Err(LabError::Host {
                        host: host.name.clone(),
                        problem: "it is hung (every process stopped)".to_owned(),
                        fix: format!(
                            "resume it: `hadome lab fault --dir DIR resume {}`",
                            host.name
                        ),
                    });
                }
                let state = nsenter_output(init, &["systemctl", "is-system-running"]).await;
                Ok(match state.as_deref() {
                    Some("running") | Some("degraded") => Poll::Done(init),
                    Some(other) => Poll::NotYet(format!("systemd says `{other}`")),
                    None => Poll::NotYet("systemctl did not answer".to_owned()),
                })
            },
        )
        .await
    }

    /// Runs `argv` inside the running host `name` (`nsenter -t PID1 -a`), with this process's
    /// standard streams; returns its exit code (128 + the signal when it was killed).
    pub async fn exec_host(&self, name: &str, argv: &[String]) -> Result<i32, LabError> {
        let lab = self.reread()?;
        let init = lab.wait_host_running(name).await?;
        let status = nsenter_command(init, argv)
            .status()
            .await
            .map_err(|source| LabError::Spawn {
                what: format!("a command in host `{name}`"),
                program: "nsenter".to_owned(),
                source,
            })?;
        use std::os::unix::process::ExitStatusExt as _;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
            .unwrap_or(1))
    }

    /// Runs `argv` inside the running host `name` (container PID 1 `init`), bounded by 30 s;
    /// returns its standard output, or its failure with its standard error.
    pub(crate) async fn run_in_host(
        &self,
        name: &str,
        init: i32,
        argv: &[&str],
    ) -> Result<String, LabError> {
        let argv: Vec<String> = argv.iter().map(|word| (*word).to_owned()).collect();
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            nsenter_command(init, &argv)
                .stdin(std::process::Stdio::null())
                .output(),
        )
        .await
        .map_err(|_| LabError::Host {
            host: name.to_owned(),
            problem: format!("`{}` did not finish within 30 s", argv.join(" ")),
            fix: "look at the host with `hadome lab status --dir DIR`".to_owned(),
        })?
        .map_err(|source| LabError::Spawn {
            what: format!("`{}` in host `{name}`", argv.join(" ")),
            program: "nsenter".to_owned(),
            source,
        })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(LabError::Command {
                what: format!("`{}` in host `{name}`", argv.join(" ")),
                program: "nsenter".to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// `reboot-host`: a real `systemctl reboot` inside; returns once a new boot is running.
    pub(crate) async fn reboot_host(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        let init = self.wait_host_running(name).await?;
        let before = boot_id(init).unwrap_or_default();
        let started = Instant::now();
        // The command may lose its connection as systemd goes down: its exit status says nothing.
        let _ = self.run_in_host(name, init, &["systemctl", "reboot"]).await;
        let after = poll_until(name, "a new boot id", self.wait_timeout, || async {
            let Some(record) = read_record(&host) else {
                return Ok(Poll::NotYet("no record".to_owned()));
            };
            Ok(match live_container(&record).and_then(boot_id) {
                Some(id) if id != before => Poll::Done(id),
                _ => Poll::NotYet(record.phase),
            })
        })
        .await?;
        // Not waiting for `running`: a host in a reboot loop never gets there, and that is what
        // the caller may want to watch.
        Ok(format!(
            "rebooted `{name}` with `systemctl reboot`: boot id {before} → {after} after {:.2} s",
            started.elapsed().as_secs_f64()
        ))
    }

    /// `stamp-lost`: the timer's stamp does not survive a reboot (see `docs/lab.md`).
    pub(crate) async fn stamp_lost(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        if !host.reboot_daily_timer {
            return Err(LabError::FaultRejected {
                fault: "stamp-lost".to_owned(),
                node: name.to_owned(),
                reason: "the host has no `reboot-daily.timer`".to_owned(),
                fix: "use a host with `reboot_daily_timer = true` (the built-in `s512`)".to_owned(),
            });
        }
        let init = self.wait_host_running(name).await?;
        write(
            &inside(&host.root, STAMP_LOST_DROP_IN),
            &format!(
                "# Written by `hadome lab fault stamp-lost`: the stamp of reboot-daily.timer does not\n\
                 # survive the reboot this service makes (as if its write were lost), so every boot\n\
                 # finds the timer's last trigger two days old and `Persistent=true` fires it at once.\n\
                 [Service]\nExecStartPre=/usr/bin/touch -d \"2 days ago\" {STAMP}\n"
            ),
        )?;
        // However a boot ends (the service's own reboot, a forced poweroff between systemd's
        // write of the stamp and the service's start), the next one starts with the stamp two
        // days old, before the timers are started.
        write(
            &host.root.join(format!("etc/systemd/system/{STAMP_LOST_SERVICE}")),
            &format!(
                "# Written by `hadome lab fault stamp-lost`: the stamp of reboot-daily.timer does not\n\
                 # survive a reboot, however the boot ended: every boot starts with it two days old.\n\
                 [Unit]\nDescription=hadome lab: the reboot timer's stamp does not survive the reboot\n\
                 DefaultDependencies=no\nAfter=local-fs.target\nBefore=timers.target reboot-daily.timer\n\n\
                 [Service]\nType=oneshot\nExecStart=/usr/bin/touch -d \"2 days ago\" {STAMP}\n\n\
                 [Install]\nWantedBy=sysinit.target\n"
            ),
        )?;
        let wants = host.root.join("etc/systemd/system/sysinit.target.wants");
        std::fs::create_dir_all(&wants).map_err(io("create directory", &wants))?;
        let link = wants.join(STAMP_LOST_SERVICE);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("/etc/systemd/system/{STAMP_LOST_SERVICE}"), &link)
                .map_err(io("create symlink", &link))?;
        }
        self.run_in_host(name, init, &["touch", "-d", "2 days ago", STAMP])
            .await?;
        self.run_in_host(name, init, &["systemctl", "daemon-reload"])
            .await?;
        let enabled = self
            .run_in_host(name, init, &["systemctl", "is-enabled", STAMP_LOST_SERVICE])
            .await?;
        if enabled.trim() != "enabled" {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!(
                    "systemd does not see {STAMP_LOST_SERVICE} enabled: {}",
                    enabled.trim()
                ),
                fix: format!("look at `systemctl status {STAMP_LOST_SERVICE}` in the host"),
            });
        }
        let drop_ins = self
            .run_in_host(
                name,
                init,
                &[
                    "systemctl",
                    "show",
                    "-p",
                    "DropInPaths",
                    "reboot-daily.service",
                ],
            )
            .await?;
        if !drop_ins.contains(STAMP_LOST_DROP_IN) {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!("systemd did not load the drop-in: {}", drop_ins.trim()),
                fix: "look at `systemctl status reboot-daily.service` in the host".to_owned(),
            });
        }
        let stamp = inside(&host.root, STAMP);
        let age = std::fs::metadata(&stamp)
            .and_then(|metadata| metadata.modified())
            .map_err(io("inspect", &stamp))?
            .elapsed()
            .unwrap_or_default();
        if age < Duration::from_secs(86_400) {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!("the stamp `{STAMP}` is only {} s old", age.as_secs()),
                fix: "a bug in the lab: please report it".to_owned(),
            });
        }
        Ok(format!(
            "`{name}`: the stamp of reboot-daily.timer is {:.1} days old, and it is put back at every boot ({STAMP_LOST_SERVICE}) and every start of reboot-daily.service (the drop-in {STAMP_LOST_DROP_IN}); the next boot fires the timer at once, and so does every boot after it",
            age.as_secs_f64() / 86_400.0
        ))
    }

    /// `hang-host`: SIGSTOP of every process of the container.
    pub(crate) async fn hang_host(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        self.wait_host_running(name).await?;
        let stopped = poll_until(
            name,
            "every process of the container to stop",
            self.wait_timeout,
            || async {
                let record =
                    read_record(&host).ok_or_else(|| LabError::Bug("no record".to_owned()))?;
                let pids = container_pids(&record);
                for pid in &pids {
                    if !process::is_stopped(*pid) {
                        process::send(*pid, Signal::SIGSTOP)?;
                    }
                }
                let running: Vec<i32> = container_pids(&record)
                    .into_iter()
                    .filter(|pid| !process::is_stopped(*pid))
                    .collect();
                Ok(if running.is_empty() && !pids.is_empty() {
                    Poll::Done(pids.len())
                } else {
                    Poll::NotYet(format!("still running: {running:?}"))
                })
            },
        )
        .await?;
        Ok(format!(
            "stopped all {stopped} processes of host `{name}` with SIGSTOP"
        ))
    }

    /// `resume` of a host: SIGCONT of every process of the container.
    pub(crate) async fn resume_host(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        let record = read_record(&host).ok_or_else(|| LabError::FaultRejected {
            fault: "resume".to_owned(),
            node: name.to_owned(),
            reason: "the host is not running".to_owned(),
            fix: format!("start it: `hadome lab fault --dir DIR start-host {name}`"),
        })?;
        let pids = container_pids(&record);
        for pid in &pids {
            process::send(*pid, Signal::SIGCONT)?;
        }
        poll_until(
            name,
            "every process of the container to run",
            self.wait_timeout,
            || async {
                let stopped: Vec<i32> = pids
                    .iter()
                    .copied()
                    .filter(|pid| process::is_stopped(*pid))
                    .collect();
                Ok(if stopped.is_empty() {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("still stopped: {stopped:?}"))
                })
            },
        )
        .await?;
        Ok(format!(
            "continued {} processes of host `{name}` with SIGCONT",
            pids.len()
        ))
    }

    /// `stop-host`: the power button: its supervisor asks nspawn for an orderly poweroff (a
    /// looping host never settles for a `systemctl poweroff`) and does not start it again;
    /// anything left after the deadline is killed by PID. A stopped host: nothing to do.
    pub(crate) async fn stop_host(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        self.require_root(&host)?;
        let alive = read_record(&host).and_then(|record| live_supervisor(&host, &record));
        if alive.is_none() {
            return Ok(format!("`{name}` is already stopped"));
        }
        // The power button, whatever the host is doing (a host in a reboot loop never reaches
        // `running` for a `systemctl poweroff`): its supervisor asks nspawn for an orderly
        // poweroff, and whatever is left after the deadline is killed, by PID.
        let stopping = host.clone();
        let (survivors, _) = tokio::task::spawn_blocking(move || stop_blocking(&stopping))
            .await
            .map_err(|error| LabError::Bug(format!("stopping `{name}` panicked: {error}")))?;
        if !survivors.is_empty() {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!("PIDs {survivors:?} outlived SIGKILL"),
                fix: "look at them with `ps`; they may be stuck in the kernel (D state)".to_owned(),
            });
        }
        let record = read_record(&host);
        let phase =
            record.map_or_else(|| "no record".to_owned(), |record| record.phase.to_string());
        Ok(format!(
            "powered `{name}` off: its supervisor asked nspawn for an orderly poweroff (supervisor: {phase})"
        ))
    }

    /// `start-host`: a new supervisor; returns once systemd is running.
    pub(crate) async fn start_host(&self, name: &str) -> Result<String, LabError> {
        let host = self.host_state(name)?.clone();
        self.require_root(&host)?;
        if let Some(pid) = read_record(&host).and_then(|record| live_supervisor(&host, &record)) {
            return Err(LabError::FaultRejected {
                fault: "start-host".to_owned(),
                node: name.to_owned(),
                reason: format!("its supervisor (PID {pid}) is running"),
                fix: format!("stop it first: `hadome lab fault --dir DIR stop-host {name}`"),
            });
        }
        // A new supervisor appears in the record once it writes it: clear the old PID's claim.
        let supervisor = spawn_supervisor(&self.state, &host)?;
        poll_until(
            name,
            "its supervisor to record itself",
            self.wait_timeout,
            || async {
                Ok(match read_record(&host) {
                    Some(record) if record.supervisor_pid == supervisor => Poll::Done(()),
                    _ => Poll::NotYet("no record of the new supervisor yet".to_owned()),
                })
            },
        )
        .await?;
        let init = self.wait_host_running(name).await?;
        Ok(format!(
            "started `{name}` (supervisor PID {supervisor}, container PID 1 {init}, boot id {})",
            boot_id(init).unwrap_or_default()
        ))
    }

    /// `hadome lab image`: an archive of the host's data paths in `DIR/images/IMAGE.tar`, with
    /// its manifest; the host keeps running.
    pub async fn image_host(&self, name: &str, image: &str) -> Result<ImageManifest, LabError> {
        let lab = self.reread()?;
        let placed = lab.placed_host_names().iter().any(|placed| placed == name);
        let host = if placed {
            None
        } else {
            let host = lab.host_state(name)?.clone();
            lab.require_root(&host)?;
            Some(host)
        };
        check_image_name(image)?;
        let images = lab.state.dir.join("images");
        std::fs::create_dir_all(&images).map_err(io("create directory", &images))?;
        let tar = images.join(format!("{image}.tar"));
        let manifest_path = images.join(format!("{image}.manifest.json"));
        if tar.exists() || manifest_path.exists() {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!("the image `{}` exists already", tar.display()),
                fix: "choose another image name: an image is never overwritten".to_owned(),
            });
        }
        let manifest = match host {
            None => lab.image_placed_host(name, tar).await?,
            Some(host) => tokio::task::spawn_blocking(move || {
                image::write_tar(&host.name, &host.root, &host.data_paths, &tar)
            })
            .await
            .map_err(|error| LabError::Bug(format!("the image task failed: {error}")))??,
        };
        write_json_atomically(&manifest_path, &manifest)?;
        Ok(manifest)
    }

    /// `hadome lab verify-image`: `DIR/images/IMAGE.tar` read whole against its manifest.
    pub async fn verify_image(&self, image: &str) -> Result<ImageVerdict, LabError> {
        check_image_name(image)?;
        let images = self.state.dir.join("images");
        let tar = images.join(format!("{image}.tar"));
        let manifest_path = images.join(format!("{image}.manifest.json"));
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => text,
            Err(error) => {
                return Ok(ImageVerdict {
                    tar,
                    ok: false,
                    files: 0,
                    bytes: 0,
                    problem: Some(format!(
                        "no manifest `{}`: {error}",
                        manifest_path.display()
                    )),
                })
            }
        };
        let Ok(manifest) = serde_json::from_str::<ImageManifest>(&text) else {
            return Ok(ImageVerdict {
                tar,
                ok: false,
                files: 0,
                bytes: 0,
                problem: Some(format!("`{}` is not a manifest", manifest_path.display())),
            });
        };
        if !tar.exists() {
            return Ok(ImageVerdict {
                tar,
                ok: false,
                files: 0,
                bytes: 0,
                problem: Some("the archive is missing".to_owned()),
            });
        }
        tokio::task::spawn_blocking(move || image::verify_tar(&tar, &manifest))
            .await
            .map_err(|error| LabError::Bug(format!("the verification task failed: {error}")))?
    }

    /// `hadome lab delete-host`: stops the host and moves its root to `DIR/deleted/HOST-STAMP`.
    /// Nothing is removed: a lab delete never loses data.
    pub async fn delete_host(&self, name: &str) -> Result<String, LabError> {
        let lab = self.reread()?;
        let host = lab.host_state(name)?.clone();
        lab.require_root(&host)?;
        let stopping = host.clone();
        let (survivors, _) = tokio::task::spawn_blocking(move || stop_blocking(&stopping))
            .await
            .map_err(|error| LabError::Bug(format!("the stop task failed: {error}")))?;
        if !survivors.is_empty() {
            return Err(LabError::Survivors { pids: survivors });
        }
        let mounts = mounts_under(&host.root);
        if !mounts.is_empty() {
            return Err(LabError::Host {
                host: name.to_owned(),
                problem: format!("mounts remain under its root: {mounts:?}"),
                fix: "unmount them, then delete again".to_owned(),
            });
        }
        let deleted = lab.state.dir.join("deleted");
        std::fs::create_dir_all(&deleted).map_err(io("create directory", &deleted))?;
        let aside = deleted.join(format!(
            "{name}-{}",
            hadome_core::fact::Timestamp(unix_millis()).utc_stamp()
        ));
        std::fs::rename(&host.root, &aside).map_err(io("move aside", &host.root))?;
        Ok(format!(
            "stopped `{name}` and moved its root filesystem to {} (nothing was removed)",
            aside.display()
        ))
    }
}

fn check_image_name(image: &str) -> Result<(), LabError> {
    let valid = !image.is_empty()
        && image.len() <= 100
        && !image.starts_with('.')
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(LabError::FaultRejected {
            fault: "image".to_owned(),
            node: "-".to_owned(),
            reason: format!("`{image}` is not an image name"),
            fix: "use 1 to 100 letters, digits, `-`, `_` and `.`, not starting with `.`".to_owned(),
        })
    }
}

fn nsenter_command(init: i32, argv: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("nsenter");
    command
        .arg("-t")
        .arg(init.to_string())
        .arg("-a")
        .arg("--")
        .args(argv)
        // As a login would: the host's own PATH, not the caller's environment.
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .kill_on_drop(true);
    command
}

/// `argv`'s standard output inside the container, trimmed; `None` when it does not answer in 5 s.
async fn nsenter_output(init: i32, argv: &[&str]) -> Option<String> {
    let argv: Vec<String> = argv.iter().map(|word| (*word).to_owned()).collect();
    let output = tokio::time::timeout(
        Duration::from_secs(5),
        nsenter_command(init, &argv)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
