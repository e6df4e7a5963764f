//! The daemon under systemd (issue 15 point 5): `Type=notify` and `WatchdogSec=`.
//!
//! - `READY=1` once the daemon has read the estate and its journal, before its first pass;
//!   `RELOADING=1` then `READY=1` around a `SIGHUP` reload; `STOPPING=1` on the way out; a
//!   `STATUS=` line each time, which `systemctl status hadome` shows.
//! - `WATCHDOG=1` from the supervision loop itself, at half the period systemd asks for
//!   (`WATCHDOG_USEC`): a pass that never returns stops the feeding, and systemd restarts the
//!   daemon. A failover in progress is one pass, so `WatchdogSec=` must exceed the longest one
//!   (the unit file's 60 s does).
//! - Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// What the daemon tells its service manager.
pub(super) struct Notifier {
    /// How often to feed the watchdog (half its period), when systemd asked for one.
    feed_every: Option<Duration>,
}

impl Notifier {
    pub(super) fn from_env() -> Notifier {
        Notifier {
            feed_every: sd_notify::watchdog_enabled().map(|period| period / 2),
        }
    }

    /// The watchdog's feeding interval, when there is one.
    pub(super) fn feed_every(&self) -> Option<Duration> {
        self.feed_every
    }

    pub(super) fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub(super) fn reloading(&self) {
        send(&[NotifyState::Reloading]);
    }

    pub(super) fn alive(&self) {
        if self.feed_every.is_some() {
            send(&[NotifyState::Watchdog]);
        }
    }

    pub(super) fn stopping(&self) {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!("could not notify the service manager (NOTIFY_SOCKET): {error}");
    }
}
