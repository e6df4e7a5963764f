//! Processes by PID: finding an instance's processes, signalling them, and waiting for them to go.
//!
//! The lab never signals a process by name. It knows a postmaster by the PID in its
//! `postmaster.pid`, and checks `/proc/PID/cmdline` before signalling, so a PID reused by an
//! unrelated process after a crash is never hit. An instance's other processes are found two ways:
//! as children of the postmaster, and by the `cluster_name` the lab gives every instance (PostgreSQL
//! puts it in each process title), which also finds backends orphaned by a crashed postmaster.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::{poll_until_blocking, Poll};
use crate::LabError;

/// What `/proc/PID/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// The state letter: `R`, `S`, `D`, `T` (stopped), `t`, `Z` (zombie) …
    pub(crate) state: char,
    /// The parent PID.
    pub(crate) parent: i32,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub(crate) fn stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses: the fields
    // we want come after the last `)`.
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some(ProcStat { state, parent })
}

/// A process is alive when it exists and is neither a zombie nor dead.
pub(crate) fn is_alive(pid: i32) -> bool {
    matches!(stat(pid), Some(s) if s.state != 'Z' && s.state != 'X')
}

/// A process is stopped (SIGSTOP) when its state is `T`.
pub(crate) fn is_stopped(pid: i32) -> bool {
    matches!(stat(pid), Some(s) if s.state == 'T')
}

/// The process's command line, arguments joined by spaces.
pub(crate) fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text: Vec<String> = raw
        .split(|byte| *byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    Some(text.join(" "))
}

/// Every PID on the machine.
pub(crate) fn all_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The live children of `parent`.
pub(crate) fn children_of(parent: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| matches!(stat(*pid), Some(s) if s.parent == parent && s.state != 'Z'))
        .collect()
}

/// The live processes whose title starts with `postgres: {cluster_name}:`, as PostgreSQL sets it.
pub(crate) fn titled(cluster_name: &str) -> Vec<i32> {
    let prefix = format!("postgres: {cluster_name}: ");
    all_pids()
        .into_iter()
        .filter(|pid| is_alive(*pid) && cmdline(*pid).is_some_and(|line| line.starts_with(&prefix)))
        .collect()
}

/// The postmaster's PID as its data directory records it, when that process is alive and is the
/// postmaster of that directory.
pub(crate) fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let data_dir_text = data_dir.to_string_lossy();
    let owned = cmdline(pid).is_some_and(|line| line.contains(data_dir_text.as_ref()));
    (owned && is_alive(pid)).then_some(pid)
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub(crate) fn send(pid: i32, signal: Signal) -> Result<(), LabError> {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(errno) => Err(LabError::Io {
            action: "signal process",
            path: format!("/proc/{pid}").into(),
            source: std::io::Error::from(errno),
        }),
    }
}

/// Waits until none of `pids` is alive; returns the survivors after `timeout` (empty on success).
pub(crate) fn wait_gone(pids: &[i32], timeout: Duration) -> Vec<i32> {
    let alive = || {
        pids.iter()
            .copied()
            .filter(|pid| is_alive(*pid))
            .collect::<Vec<_>>()
    };
    let result = poll_until_blocking("processes", "processes to exit", timeout, || {
        let survivors = alive();
        if survivors.is_empty() {
            Poll::Done(())
        } else {
            Poll::NotYet(format!("{survivors:?}"))
        }
    });
    match result {
        Ok(()) => Vec::new(),
        Err(_) => alive(),
    }
}

/// Ends `pids`: SIGCONT (a stopped process cannot act on anything else), then `polite`, then
/// SIGKILL for whatever is still alive after `grace`. Returns the PIDs still alive at the end.
pub(crate) fn end(pids: &[i32], polite: Signal, grace: Duration) -> Vec<i32> {
    for pid in pids {
        let _ = send(*pid, Signal::SIGCONT);
    }
    for pid in pids {
        let _ = send(*pid, polite);
    }
    let survivors = wait_gone(pids, grace);
    if survivors.is_empty() {
        return survivors;
    }
    for pid in &survivors {
        let _ = send(*pid, Signal::SIGKILL);
    }
    wait_gone(&survivors, Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_reads_this_process() {
        let me = std::process::id() as i32;
        let stat = stat(me).expect("this process exists");
        assert!(is_alive(me));
        assert_eq!(stat.parent, std::os::unix::process::parent_id() as i32);
        assert!(!is_alive(i32::MAX), "no such PID can exist");
    }

    #[test]
    fn end_stops_a_stopped_child_by_pid() {
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("sleep starts");
        let pid = child.id() as i32;
        send(pid, Signal::SIGSTOP).unwrap();
        poll_until_blocking("sleep", "the child to stop", Duration::from_secs(5), || {
            if is_stopped(pid) {
                Poll::Done(())
            } else {
                Poll::NotYet(format!("{:?}", stat(pid)))
            }
        })
        .unwrap();
        // A zombie counts as gone: `end` must not wait for us to reap it.
        let survivors = end(&[pid], Signal::SIGTERM, Duration::from_secs(5));
        assert!(survivors.is_empty(), "survivors: {survivors:?}");
        child.wait().unwrap();
    }
}
