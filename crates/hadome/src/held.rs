//! A journal lease held while a command works: taken before it acts, renewed by a thread of its
//! own while it runs, released when dropped. A command killed with -9 stops renewing it, so the
//! lease lapses on its own after its time to live, or is taken over at once by the next command
//! on the same host, which sees that its holder's process is gone.
//!
//! `hadome run` holds its cluster this way (`hadome_journal::hold_lease`: a supervising daemon
//! leaves the cluster alone meanwhile), and `hadome backup run` its backup
//! (`hadome_journal::making_lease`: one copy of a backup is made at a time).

use std::path::Path;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use hadome_journal::{Journal, Lease, LeaseOutcome};

use crate::clock::wall_clock;
use crate::error::CliError;

/// A lease this process holds until the value is dropped.
pub(crate) struct HeldLease {
    /// Dropped to stop the renewals and release the lease.
    stop: Option<Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

impl HeldLease {
    /// Takes the lease `name` for `who` (named with this process's PID and host) for `ttl_ms`,
    /// on a journal handle of its own, and renews it every third of that until dropped. When
    /// another holder's lease is unexpired, nothing changes and the error is `refusal`'s.
    pub(crate) fn take(
        journal_path: &Path,
        name: &str,
        who: &str,
        ttl_ms: i64,
        refusal: impl FnOnce(&Lease) -> CliError,
    ) -> Result<HeldLease, CliError> {
        let holder = format!("{who} pid {} on {}", std::process::id(), hostname());
        let mut journal = Journal::open(journal_path)?;
        if let LeaseOutcome::HeldBy(lease) =
            journal.acquire_lease(name, &holder, wall_clock(), ttl_ms)?
        {
            // A holder gone from this very host (a command killed with -9) holds nothing: its
            // lease is taken over at once rather than left to lapse. Anything less certain (another
            // host, a PID alive, even reused by another program) is refused: fail closed.
            if !holder_is_gone(&lease.holder) {
                return Err(refusal(&lease));
            }
            journal.release_lease(name, &lease.holder, wall_clock())?;
            if let LeaseOutcome::HeldBy(lease) =
                journal.acquire_lease(name, &holder, wall_clock(), ttl_ms)?
            {
                return Err(refusal(&lease));
            }
            eprintln!(
                "hadome: the lease `{name}` was held by `{}`, a process no longer running on this host (killed?): taken over",
                lease.holder
            );
        }
        let name = name.to_owned();
        let (stop, stopped) = channel::<()>();
        let renewer = std::thread::spawn(move || {
            let every = Duration::from_millis((ttl_ms / 3).max(1) as u64);
            // Waits between renewals, until the lease is dropped.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                match journal.acquire_lease(&name, &holder, wall_clock(), ttl_ms) {
                    Ok(outcome) if outcome.is_held() => {}
                    Ok(outcome) => eprintln!(
                        "hadome: the lease `{name}` lapsed and `{}` took it",
                        outcome.lease().holder
                    ),
                    Err(error) => eprintln!("hadome: could not renew the lease `{name}`: {error}"),
                }
            }
            if let Err(error) = journal.release_lease(&name, &holder, wall_clock()) {
                eprintln!(
                    "hadome: could not release the lease `{name}` (it lapses on its own): {error}"
                );
            }
        });
        Ok(HeldLease {
            stop: Some(stop),
            renewer: Some(renewer),
        })
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

/// Whether `holder` (`WHO pid PID on HOST`, as [`HeldLease::take`] names it) is a process of this
/// host that no longer runs (or is a zombie, dead and not yet reaped). `false` whenever that is
/// not certain: another host, another shape of name, a PID that runs.
fn holder_is_gone(holder: &str) -> bool {
    let Some((rest, host)) = holder.rsplit_once(" on ") else {
        return false;
    };
    let Some(pid) = rest
        .rsplit_once(" pid ")
        .and_then(|(_, pid)| pid.parse::<u32>().ok())
    else {
        return false;
    };
    if host != hostname() || pid == std::process::id() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
        // The state follows the command's name, which is in parentheses and may hold any byte.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, after)| after.trim_start().starts_with('Z')),
    }
}

/// This machine's name, as leases name their holders.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_holder_certainly_gone_from_this_host_is_gone() {
        let here = hostname();
        let me = std::process::id();
        assert!(!holder_is_gone(&format!(
            "someone (hadome run) pid {me} on {here}"
        )));
        assert!(!holder_is_gone(
            "someone (hadome run) pid 1 on another-host-entirely"
        ));
        assert!(!holder_is_gone("daemon-1"));
        assert!(!holder_is_gone(&format!("someone pid x on {here}")));
        // PID 1 runs in every namespace.
        assert!(!holder_is_gone(&format!("someone pid 1 on {here}")));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(holder_is_gone(&format!(
            "someone (hadome run) pid {pid} on {here}"
        )));
    }
}
