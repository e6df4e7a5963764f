//! A journal lease held while a command works: taken before it acts, renewed by a thread of its
//! own while it runs, released when dropped. A command killed with -9 stops renewing it, so the
//! lease lapses on its own after its time to live.
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
            return Err(refusal(&lease));
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

/// This machine's name, as leases name their holders.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}
