//! The observer's errors: why a probe found no facts ([`ObserveError`]) and why a call of
//! [`session`](crate::session) failed ([`SessionError`]).
//!
//! Each says what was asked and what went wrong: PostgreSQL's message with its SQLSTATE, detail
//! and hint (`describe`: tokio-postgres's own `Display` says only "db error"), or `no answer to …
//! within N s`. That description is part of the message, so the driver's error is kept as a
//! field (its SQLSTATE can be read) but not returned again as `source()`.
//!
//! Each error knows its [`FailureKind`]: the observer's own timeouts are timeouts and its own
//! refusals are `Other`, whatever their text says; what the server or the socket said is read
//! from the text ([`FailureKind::of_error`]).
//!
//! A probe's error is a fact, not an `Err`: [`ObserveError`] is rendered into
//! [`ProbeOutcome::Unreachable`](hadome_core::fact::ProbeOutcome::Unreachable) with its kind.

use std::time::Duration;

use hadome_core::fact::FailureKind;

use crate::query::Malformed;
use crate::{describe, seconds};

/// Why a conninfo gives no connection settings: it does not parse, or the TLS it asks for
/// cannot be set up (`tls.rs`). Never repeats the conninfo, which may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum ConninfoError {
    /// The driver cannot parse it.
    #[error("the conninfo does not parse: {}", describe(.0))]
    Parse(tokio_postgres::Error),
    /// Its `sslmode`/`sslrootcert` cannot be used.
    #[error("the conninfo's TLS settings cannot be used: {0}")]
    Tls(crate::tls::TlsError),
}

/// Why one probe of an instance found no facts: rendered into its `Unreachable` outcome.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ObserveError {
    /// The estate's probe timeout is not a positive number of seconds: nothing was probed.
    #[error("not probed: probe_timeout_seconds = {seconds} is not a positive number of seconds")]
    BadTimeout {
        /// The setting's value.
        seconds: f64,
    },

    /// The instance's conninfo does not parse, or its TLS settings cannot be used.
    #[error("{error}")]
    Conninfo {
        /// Why.
        error: ConninfoError,
    },

    /// The connection failed (refused, reset, authentication, too many clients …).
    #[error("cannot connect: {}", describe(error))]
    Connect {
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// The probe's time ran out.
    #[error("no answer {} within {} (probe_timeout_seconds)", phase.awaited(), seconds(*timeout))]
    TimedOut {
        /// Where the probe was.
        phase: Phase,
        /// The probe timeout.
        timeout: Duration,
    },

    /// The probe query failed: PostgreSQL's error, or the socket's.
    #[error("the probe query failed: {}", describe(error))]
    Query {
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// The connection ended while the probe query ran.
    #[error("{}", match error {
        // Worded so that FailureKind::of_error reads it as down.
        None => "the connection closed during the probe query: the server ended it".to_owned(),
        Some(error) => format!("the connection failed during the probe query: {}", describe(error)),
    })]
    ConnectionEnded {
        /// The connection's error; `None` when the server ended it cleanly.
        error: Option<tokio_postgres::Error>,
    },

    /// The probe query returned no row.
    #[error("the probe query returned no row")]
    NoRow,

    /// The probe query returned NULL.
    #[error("the probe query returned NULL")]
    Null,

    /// The probe query's answer could not be read as text.
    #[error("the probe query's answer is unreadable: {}", describe(error))]
    Unreadable {
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// It answered, with something hadome cannot vouch for.
    #[error(transparent)]
    Malformed(#[from] Malformed),

    /// The probe panicked (a bug in hadome).
    #[error("the probe failed: it panicked ({message})")]
    Panicked {
        /// The panic's message.
        message: String,
    },

    /// The probe's task was cancelled.
    #[error("the probe was cancelled")]
    Cancelled,

    /// The probe ignored its own bound (a bug in hadome) and was abandoned.
    #[error("the probe did not finish within {}", seconds(*waited))]
    Abandoned {
        /// How long [`observe`](crate::observe) waited for it.
        waited: Duration,
    },
}

/// Where a probe was when its time ran out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    Connecting,
    Querying,
}

impl Phase {
    fn awaited(self) -> &'static str {
        match self {
            Phase::Connecting => "to accept the connection",
            Phase::Querying => "to the probe query",
        }
    }
}

impl ObserveError {
    /// The kind of failure, for [`ProbeOutcome::Unreachable`](hadome_core::fact::ProbeOutcome).
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            ObserveError::TimedOut { .. } | ObserveError::Abandoned { .. } => FailureKind::Timeout,
            // What the server or the socket said.
            ObserveError::Connect { .. }
            | ObserveError::Query { .. }
            | ObserveError::ConnectionEnded { .. }
            | ObserveError::Unreadable { .. } => FailureKind::of_error(&self.to_string()),
            // A bad setting, or an answer hadome cannot vouch for: neither dead nor hung (the
            // text may name probe_timeout_seconds, which the text classification would take for
            // a timeout).
            ObserveError::BadTimeout { .. }
            | ObserveError::Conninfo { .. }
            | ObserveError::NoRow
            | ObserveError::Null
            | ObserveError::Malformed(_)
            | ObserveError::Panicked { .. }
            | ObserveError::Cancelled => FailureKind::Other,
        }
    }
}

/// Why a call of [`session`](crate::session) failed: what was asked, and what went wrong.
///
/// [`kind`](SessionError::kind) says whether the instance is down, hung or overloaded, as a
/// probe's failure does.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The instance's conninfo does not parse, or its TLS settings cannot be used: nothing was
    /// asked.
    #[error("{error}")]
    Conninfo {
        /// Why.
        error: ConninfoError,
    },

    /// The connection failed (refused, reset, authentication, too many clients …).
    #[error("cannot connect: {}", describe(error))]
    Connect {
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// Nothing accepted the connection within the bound: the server is hung or cut off.
    #[error("no answer to accept the connection within {}", seconds(*timeout))]
    ConnectTimedOut {
        /// The bound the caller gave.
        timeout: Duration,
    },

    /// A statement failed: PostgreSQL's error (with its SQLSTATE; a missing grant names
    /// `docs/privileges.md`), or the socket's.
    #[error("{what} failed: {}", describe(error))]
    Query {
        /// The statement, as the message names it.
        what: &'static str,
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// The session's connection had ended: every call on it fails; connect a new one.
    #[error("{what} failed: the session's connection closed: {reason}")]
    Closed {
        /// The statement, as the message names it.
        what: &'static str,
        /// Why the connection ended.
        reason: String,
    },

    /// The statement got no answer within the bound: the server is hung or cut off.
    #[error("no answer to {what} within {}", seconds(*timeout))]
    QueryTimedOut {
        /// The statement, as the message names it.
        what: &'static str,
        /// The bound the caller gave.
        timeout: Duration,
    },

    /// The answer could not be read as text.
    #[error("{what} answered unreadably: {}", describe(error))]
    Unreadable {
        /// The statement, as the message names it.
        what: &'static str,
        /// The driver's error.
        error: tokio_postgres::Error,
    },

    /// The server answered something the statement cannot return.
    #[error("{what} returned {}", shown(answer.as_deref()))]
    Unexpected {
        /// The statement, as the message names it.
        what: &'static str,
        /// Its answer (`None`: no row, or NULL).
        answer: Option<String>,
    },

    /// `pg_reload_conf()` did not signal the server.
    #[error(
        "`SELECT pg_reload_conf()` returned {}: the server was not signalled{}",
        shown(answer.as_deref()),
        if *written { " (postgresql.auto.conf holds the new value)" } else { "" }
    )]
    NotSignalled {
        /// Its answer (`None`: no row, or NULL).
        answer: Option<String>,
        /// Whether a new value was written to `postgresql.auto.conf` before: it applies at the
        /// next reload.
        written: bool,
    },

    /// The call needs a standby, and the instance is not in recovery: nothing was changed.
    #[error("it is not a standby (pg_is_in_recovery() is false): {consequence}")]
    NotAStandby {
        /// What that means for the call ("there is nothing to promote").
        consequence: &'static str,
    },

    /// A heartbeat was asked of a standby, which cannot write WAL.
    #[error(
        "the heartbeat (pg_logical_emit_message) failed: {}; it is a standby: heartbeats are \
         written on the primary",
        describe(error)
    )]
    HeartbeatOnStandby {
        /// The driver's error (`cannot make new WAL entries during recovery`).
        error: tokio_postgres::Error,
    },

    /// A value holds a NUL character, which PostgreSQL cannot store: nothing was asked.
    #[error("the value contains a NUL character, which PostgreSQL cannot store")]
    NulInValue,

    /// The server did not get where it was asked to go within the bound.
    #[error("no answer {awaited} within {}: {last_seen}", seconds(*timeout))]
    NotYet {
        /// What was awaited, as a phrase (`to the reload (SHOW synchronous_standby_names)`).
        awaited: &'static str,
        /// The bound the caller gave.
        timeout: Duration,
        /// What the last poll saw.
        last_seen: String,
    },

    /// A promotion failed or timed out after PostgreSQL was asked to promote: it may still
    /// complete, and only `pg_is_in_recovery()` tells.
    #[error(
        "{error}; PostgreSQL was asked to promote and may still do so: check pg_is_in_recovery()"
    )]
    MayStillPromote {
        /// What failed after the request.
        error: Box<SessionError>,
    },
}

impl SessionError {
    /// The kind of failure: whether the instance is down, hung or overloaded, as a probe's
    /// failure says it.
    pub fn kind(&self) -> FailureKind {
        match self {
            SessionError::ConnectTimedOut { .. }
            | SessionError::QueryTimedOut { .. }
            | SessionError::NotYet { .. } => FailureKind::Timeout,
            // What the server or the socket said.
            SessionError::Connect { .. }
            | SessionError::Query { .. }
            | SessionError::Closed { .. }
            | SessionError::Unreadable { .. } => FailureKind::of_error(&self.to_string()),
            SessionError::MayStillPromote { error } => error.kind(),
            // The instance answered, or nothing was asked.
            SessionError::Conninfo { .. }
            | SessionError::Unexpected { .. }
            | SessionError::NotSignalled { .. }
            | SessionError::NotAStandby { .. }
            | SessionError::HeartbeatOnStandby { .. }
            | SessionError::NulInValue => FailureKind::Other,
        }
    }
}

/// A value from the server as a message shows it: `NULL`, or the text in backticks.
fn shown(answer: Option<&str>) -> String {
    match answer {
        None => "NULL".to_owned(),
        Some(text) => format!("`{text}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_timeouts_whatever_their_text_and_refusals_are_other() {
        let timed_out = SessionError::ConnectTimedOut {
            timeout: Duration::from_millis(300),
        };
        assert_eq!(
            timed_out.to_string(),
            "no answer to accept the connection within 0.3 s"
        );
        assert_eq!(timed_out.kind(), FailureKind::Timeout);
        let unconfirmed = SessionError::MayStillPromote {
            error: Box::new(SessionError::QueryTimedOut {
                what: "`SELECT pg_promote(true, …)`",
                timeout: Duration::from_secs(5),
            }),
        };
        assert_eq!(
            unconfirmed.to_string(),
            "no answer to `SELECT pg_promote(true, …)` within 5.0 s; PostgreSQL was asked to \
             promote and may still do so: check pg_is_in_recovery()"
        );
        assert_eq!(unconfirmed.kind(), FailureKind::Timeout);
        let not_a_standby = SessionError::NotAStandby {
            consequence: "there is nothing to promote",
        };
        assert_eq!(not_a_standby.kind(), FailureKind::Other);
        let unexpected = SessionError::Unexpected {
            what: "`SELECT 1`",
            answer: None,
        };
        assert_eq!(unexpected.to_string(), "`SELECT 1` returned NULL");
        let not_signalled = SessionError::NotSignalled {
            answer: Some("false".to_owned()),
            written: true,
        };
        assert_eq!(
            not_signalled.to_string(),
            "`SELECT pg_reload_conf()` returned `false`: the server was not signalled \
             (postgresql.auto.conf holds the new value)"
        );

        let bad = ObserveError::BadTimeout { seconds: 0.0 };
        assert!(bad.to_string().contains("probe_timeout_seconds"), "{bad}");
        assert_eq!(
            bad.kind(),
            FailureKind::Other,
            "a bad setting, not a timeout"
        );
        let ended = ObserveError::ConnectionEnded { error: None };
        assert_eq!(ended.kind(), FailureKind::Down, "{ended}");
    }
}
