//! The showcase's namespaces: one network namespace and one private mount namespace, held by a
//! holder process the lab starts and ends by PID.
//!
//! `unshare --net --mount --propagation private -- hadome lab web-holder --dir DIR` (unshare
//! execs the holder: its PID is the holder's). The holder brings `lo` up (so 127.0.0.10,
//! 127.0.0.20 … are addresses of this namespace only), bind-mounts `DIR/web/resolv.conf` over
//! `/etc/resolv.conf` — in its private mount namespace, which propagates nothing back — writes
//! `DIR/web/run/holder.ready` and waits for SIGTERM. Every other showcase process is started with
//! `nsenter --target HOLDER --net --mount`. When the holder and those processes are gone the
//! namespaces go with them, and the bind mount with the mount namespace: nothing is left mounted
//! on the machine.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::WebState;
use crate::state::LabState;
use crate::wait::{poll_until, Poll};
use crate::LabError;

pub(crate) const UNSHARE: &str = "/usr/bin/unshare";
pub(crate) const NSENTER: &str = "/usr/bin/nsenter";
pub(crate) const IP: &str = "/usr/sbin/ip";
const MOUNT: &str = "/usr/bin/mount";
const READY: &str = "holder.ready";

pub(crate) fn holder_pid_file(web: &WebState) -> PathBuf {
    web.run_dir().join("holder.pid")
}

/// The namespace's resolv.conf: dnsmasq inside, and the apps' zone as the search domain, so a
/// single-label container name (`app-1`) resolves as `app-1.apps.lab`.
pub(crate) fn resolv_conf() -> String {
    format!(
        "# The showcase lab's resolver, bind-mounted over /etc/resolv.conf inside its mount namespace only.\nnameserver 127.0.0.1\nsearch {}\noptions timeout:1 attempts:2\n",
        super::APPS_ZONE
    )
}

/// Reads a PID file and returns the PID when that process is alive and its command line names
/// `marker` (a PID reused by another process is not ours).
pub(crate) fn pid_from_file(path: &Path, marker: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    (pid > 0
        && crate::process::is_alive(pid)
        && crate::process::cmdline(pid).is_some_and(|line| line.contains(marker)))
    .then_some(pid)
}

/// The holder's PID, when it is alive.
pub(crate) fn holder_pid(web: &WebState) -> Option<i32> {
    let dir = web.home.parent().unwrap_or(&web.home);
    pid_from_file(
        &holder_pid_file(web),
        &format!("web-holder --dir {}", dir.display()),
    )
}

/// The holder's PID, or an error saying the namespace is gone.
pub(crate) fn running_holder(web: &WebState) -> Result<i32, LabError> {
    holder_pid(web).ok_or_else(|| LabError::Web {
        piece: "namespace".to_owned(),
        problem: format!(
            "the namespace holder (PID file {}) is not running: the showcase's namespace is gone",
            holder_pid_file(web).display()
        ),
        fix: "tear the lab down (`hadome lab down --dir DIR`) and bring it up again".to_owned(),
    })
}

/// A command run inside the holder's namespaces.
pub(crate) fn command(holder: i32, program: &str) -> std::process::Command {
    let mut command = std::process::Command::new(NSENTER);
    command
        .arg("--target")
        .arg(holder.to_string())
        .arg("--net")
        .arg("--mount")
        .arg("--")
        .arg(program);
    command
}

/// Runs `program args` inside the namespace to completion (10 s at most); its stdout, or an
/// error with its stderr.
pub(crate) async fn run(
    holder: i32,
    what: &str,
    program: &str,
    args: &[&str],
) -> Result<String, LabError> {
    let mut command = tokio::process::Command::from(command(holder, program));
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(10), command.output())
        .await
        .map_err(|_| LabError::Command {
            what: what.to_owned(),
            program: program.to_owned(),
            status: "no exit within 10 s".to_owned(),
            stderr: String::new(),
        })?
        .map_err(|source| LabError::Spawn {
            what: what.to_owned(),
            program: NSENTER.to_owned(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(LabError::Command {
            what: what.to_owned(),
            program: program.to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Starts a long-running process in the background with its output in `log`, in its own
/// process group (a Ctrl-C at the terminal does not reach it); the lab ends it by PID.
pub(crate) fn spawn(
    mut command: std::process::Command,
    what: &str,
    log: &Path,
) -> Result<i32, LabError> {
    let file = std::fs::File::create(log).map_err(|source| LabError::Io {
        action: "create",
        path: log.to_owned(),
        source,
    })?;
    let file_err = file.try_clone().map_err(|source| LabError::Io {
        action: "open",
        path: log.to_owned(),
        source,
    })?;
    command.stdin(Stdio::null()).stdout(file).stderr(file_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command.spawn().map_err(|source| LabError::Spawn {
        what: what.to_owned(),
        program,
        source,
    })?;
    // Not waited for: the lab ends it by PID; an exited child of a short-lived CLI is reaped by
    // init, and `process::is_alive` counts a zombie as gone.
    Ok(child.id() as i32)
}

pub(crate) fn write_pid(path: &Path, pid: i32) -> Result<(), LabError> {
    std::fs::write(path, format!("{pid}\n")).map_err(|source| LabError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

/// Starts the holder and returns its PID once the namespace is ready and verified: another
/// network namespace than this process's, and `/etc/resolv.conf` mounted from the lab's file.
pub(crate) async fn start(
    state: &LabState,
    web: &WebState,
    hadome: &Path,
    timeout: Duration,
) -> Result<i32, LabError> {
    let resolv = web.home.join("resolv.conf");
    std::fs::write(&resolv, resolv_conf()).map_err(|source| LabError::Io {
        action: "write",
        path: resolv.clone(),
        source,
    })?;
    let mut command = std::process::Command::new(UNSHARE);
    command
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(hadome)
        .args(["lab", "web-holder", "--dir"])
        .arg(&state.dir);
    let pid = spawn(
        command,
        "the showcase's namespace holder",
        &web.home.join("logs/holder.log"),
    )?;
    write_pid(&holder_pid_file(web), pid)?;
    let ready = web.run_dir().join(READY);
    let log = web.home.join("logs/holder.log");
    poll_until(
        "namespace",
        "the holder to set up its namespace",
        timeout,
        || async {
            if !crate::process::is_alive(pid) {
                return Err(LabError::Command {
                    what: "the showcase's namespace holder".to_owned(),
                    program: UNSHARE.to_owned(),
                    status: "an early exit".to_owned(),
                    stderr: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            Ok(if ready.exists() {
                Poll::Done(())
            } else {
                Poll::NotYet("no ready file yet".to_owned())
            })
        },
    )
    .await?;
    let ours = std::fs::read_link("/proc/self/ns/net").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mounts")).unwrap_or_default();
    if theirs.is_none() || ours == theirs || !mounts.contains(" /etc/resolv.conf ") {
        return Err(LabError::Web {
            piece: "namespace".to_owned(),
            problem: format!(
                "the holder (PID {pid}) is not in a namespace of its own with the lab's resolv.conf (net {theirs:?}, ours {ours:?})"
            ),
            fix: "read DIR/web/logs/holder.log; `unshare --net --mount` needs root".to_owned(),
        });
    }
    Ok(pid)
}

/// The holder itself (`hadome lab web-holder --dir DIR`, run by the lab under `unshare`): sets
/// the namespace up, says so, and waits for SIGTERM.
pub async fn hold(dir: &Path) -> Result<(), LabError> {
    let state = LabState::read(dir)?;
    let web = super::web(&state)?;
    let resolv = web.home.join("resolv.conf");
    // The console's and the SSO's addresses on `lo` too: glibc's `AI_ADDRCONFIG` (which nginx
    // and `getent ahosts` ask for) counts no IPv4 address as configured when 127.0.0.1 is the
    // only one, and then resolves no name at all.
    let steps: [(&str, Vec<std::ffi::OsString>); 4] = [
        (
            IP,
            vec!["link".into(), "set".into(), "lo".into(), "up".into()],
        ),
        (
            IP,
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/32", super::CONSOLE_IP).into(),
                "dev".into(),
                "lo".into(),
            ],
        ),
        (
            IP,
            vec![
                "addr".into(),
                "add".into(),
                format!("{}/32", super::SSO_IP).into(),
                "dev".into(),
                "lo".into(),
            ],
        ),
        (
            MOUNT,
            vec![
                "--bind".into(),
                resolv.clone().into_os_string(),
                "/etc/resolv.conf".into(),
            ],
        ),
    ];
    // The network namespace must be new: never touch the machine's `lo` or resolv.conf.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if std::fs::read_link("/proc/self/ns/net").ok() == std::fs::read_link("/proc/1/ns/net").ok()
        || std::fs::read_link("/proc/self/ns/mnt").ok() == std::fs::read_link("/proc/1/ns/mnt").ok()
        || mounts.lines().any(|line| line.contains(" shared:"))
    {
        return Err(LabError::Web {
            piece: "namespace".to_owned(),
            problem: "the holder is not in a private network and mount namespace of its own".to_owned(),
            fix: "the lab starts it under `unshare --net --mount --propagation private`; do not run it by hand".to_owned(),
        });
    }
    for (program, args) in steps {
        let output = tokio::process::Command::new(program)
            .args(&args)
            .output()
            .await
            .map_err(|source| LabError::Spawn {
                what: "the namespace holder".to_owned(),
                program: program.to_owned(),
                source,
            })?;
        if !output.status.success() {
            return Err(LabError::Command {
                what: "the namespace holder".to_owned(),
                program: program.to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
    }
    let ready = web.run_dir().join(READY);
    std::fs::write(&ready, "ready\n").map_err(|source| LabError::Io {
        action: "write",
        path: ready.clone(),
        source,
    })?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| LabError::Io {
        action: "wait for SIGTERM",
        path: ready.clone(),
        source,
    })?;
    terminate.recv().await;
    Ok(())
}
