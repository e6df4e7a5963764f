//! What a supervision daemon needs from PostgreSQL beyond the probe: a persistent [`Session`]
//! (heartbeat, ping), [`promote`], [`set_synchronous_standby_names`] and [`accepts_writes`].
//!
//! Every call is bounded by the timeout it is given, connect included, and fails with a
//! [`SessionError`] that says what was asked and what went wrong: PostgreSQL's message with its
//! SQLSTATE, or `no answer to … within N s`. [`SessionError::kind`] tells a [`FailureKind`], as a
//! probe's failure does: `no answer` is a timeout, a refused or closed connection is down,
//! `too many clients` is overloaded (its text reads the same through [`FailureKind::of_error`]).
//!
//! Connections are made as the probe's are (the conninfo, [`crate::APPLICATION_NAME`] unless it
//! names one, no TLS). Unlike the probe, [`promote`] and [`set_synchronous_standby_names`] change
//! servers, and [`Session::heartbeat`] writes WAL; the privileges they need are in
//! `docs/privileges.md`.
//!
//! [`FailureKind`]: hadome_core::fact::FailureKind
//! [`FailureKind::of_error`]: hadome_core::fact::FailureKind::of_error
//! [`SessionError`]: crate::SessionError
//! [`SessionError::kind`]: crate::SessionError::kind

use crate::poll::{remaining, Poll, Polled};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hadome_core::estate::Instance;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::error::SessionError;
use crate::{connect_config, describe, now};

/// The prefix of hadome's heartbeat messages in the WAL (`pg_logical_emit_message`): a logical
/// decoding plugin that sees them can filter on it.
pub const HEARTBEAT_PREFIX: &str = "hadome-heartbeat";

/// How long a dropped [`Session`]'s connection may take to end cleanly (a Terminate message)
/// before its socket is closed: a hung server never answers, and the task must not outlive it.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The interval between two polls of a condition; every poll loop is bounded by a deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A persistent connection to one instance, for what must be asked often or when new
/// connections fail: [`heartbeat`](Session::heartbeat) and [`ping`](Session::ping).
///
/// The connection runs in a task of its own (spawned on the current tokio runtime). Dropping the
/// session ends it: cleanly when the server answers, and within a couple of seconds when it does
/// not. A session whose connection ended stays closed ([`is_closed`](Session::is_closed)):
/// connect a new one.
pub struct Session {
    // Field order matters: the client goes first, so that when the task hears the session is
    // dropped, the connection is already free to send its Terminate message.
    client: Client,
    /// Why the connection ended, once it has.
    ended: Arc<Mutex<Option<String>>>,
    /// Dropped with the session: tells the connection task to finish.
    _dropped: oneshot::Sender<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Session")
            .field("closed", &self.is_closed())
            .field("ended", &self.end_reason())
            .finish()
    }
}

impl Session {
    /// Opens a session to `instance`, within `timeout` (connect and authentication).
    ///
    /// Must run inside a tokio runtime: the connection's task is spawned on it.
    pub async fn connect(instance: &Instance, timeout: Duration) -> Result<Session, SessionError> {
        Session::open(instance, timeout, None).await
    }

    /// [`connect`](Session::connect), and `ended.notify_one()` when the connection ends on its
    /// own (the server closed it, or it failed; not when the session is dropped): a supervisor
    /// can wake at once when an instance goes away instead of at its next pass.
    pub async fn connect_notifying(
        instance: &Instance,
        timeout: Duration,
        ended: Arc<Notify>,
    ) -> Result<Session, SessionError> {
        Session::open(instance, timeout, Some(ended)).await
    }

    async fn open(
        instance: &Instance,
        timeout: Duration,
        notice: Option<Arc<Notify>>,
    ) -> Result<Session, SessionError> {
        let deadline = Instant::now() + timeout;
        let config = connect_config(&instance.conninfo, timeout, crate::APPLICATION_NAME)
            .map_err(|error| SessionError::Conninfo { error })?;
        let (client, connection) = match tokio::time::timeout_at(deadline, config.connect()).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => return Err(SessionError::Connect { error }),
            Err(_) => return Err(SessionError::ConnectTimedOut { timeout }),
        };
        let ended = Arc::new(Mutex::new(None));
        let (dropped, session_dropped) = oneshot::channel();
        tokio::spawn(drive(connection, ended.clone(), session_dropped, notice));
        Ok(Session {
            client,
            ended,
            _dropped: dropped,
        })
    }

    /// Whether the connection has ended (the server closed it, or it failed): every call on the
    /// session will fail. A session that merely waits for a hung server is not closed.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Writes a heartbeat into the WAL, on a primary, within `timeout`; no table needed.
    ///
    /// `SELECT pg_logical_emit_message(false, 'hadome-heartbeat', <the wall clock in ms>)`. It
    /// works at `wal_level = replica`: PostgreSQL 15 checks no WAL level for it (the record is
    /// only *decoded* at `logical`; streaming replication carries it like any other record). By
    /// default every role may execute it (`docs/privileges.md`).
    ///
    /// The message is non-transactional and the statement takes no transaction ID, so the
    /// commit waits neither for a flush nor for a synchronous standby: a heartbeat never blocks
    /// on a missing standby and consumes no XID. PostgreSQL hands such a commit's WAL to the WAL
    /// writer (as for `synchronous_commit = off`), which flushes it within `wal_writer_delay`;
    /// the WAL senders then stream it, so each standby's `pg_stat_wal_receiver`
    /// `last_msg_receipt_time` (and its receive LSN) advance: the primary is alive and its WAL
    /// flows. Without writes, a WAL sender sends nothing but a keepalive when its standby asks,
    /// every `wal_receiver_timeout / 2`.
    ///
    /// Fails on a standby (`cannot make new WAL entries during recovery`).
    pub async fn heartbeat(&self, timeout: Duration) -> Result<(), SessionError> {
        // The payload is digits only: nothing to escape.
        let sql = format!(
            "SELECT pg_logical_emit_message(false, '{HEARTBEAT_PREFIX}', '{}')::text",
            now().0
        );
        let what = "the heartbeat (pg_logical_emit_message)";
        let answer = self
            .one_value(&sql, what, timeout)
            .await
            .map_err(|error| match error {
                // `cannot make new WAL entries during recovery`.
                SessionError::Query { error, .. }
                    if error
                        .as_db_error()
                        .is_some_and(|db| db.message().contains("during recovery")) =>
                {
                    SessionError::HeartbeatOnStandby { error }
                }
                error => error,
            })?;
        match answer {
            Some(_) => Ok(()),
            None => Err(SessionError::Unexpected { what, answer }),
        }
    }

    /// `SELECT 1` on the open session, within `timeout`: the instance still executes queries,
    /// even when its postmaster accepts no new connection.
    pub async fn ping(&self, timeout: Duration) -> Result<(), SessionError> {
        let what = "`SELECT 1`";
        match self.one_value("SELECT 1", what, timeout).await? {
            Some(one) if one == "1" => Ok(()),
            answer => Err(SessionError::Unexpected { what, answer }),
        }
    }

    /// Why the connection ended, if it has.
    fn end_reason(&self) -> Option<String> {
        self.ended
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Runs `sql` (one statement) within `timeout`; returns the first column of its first row
    /// (`None`: no row, or NULL). `what` names the statement in errors.
    async fn one_value(
        &self,
        sql: &str,
        what: &'static str,
        timeout: Duration,
    ) -> Result<Option<String>, SessionError> {
        let messages = self
            .bounded(what, timeout, self.client.simple_query(sql))
            .await?;
        first_value(&messages, what)
    }

    /// Awaits `query` within `timeout`; its error with the session's end when that is the cause.
    async fn bounded<T>(
        &self,
        what: &'static str,
        timeout: Duration,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(timeout, query).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(self.failed(what, error)),
            Err(_) => Err(SessionError::QueryTimedOut { what, timeout }),
        }
    }

    fn failed(&self, what: &'static str, error: tokio_postgres::Error) -> SessionError {
        if self.is_closed() && error.as_db_error().is_none() {
            // "connection closed" says nothing: the task recorded why.
            let reason = self
                .end_reason()
                .unwrap_or_else(|| "the server ended it".to_owned());
            return SessionError::Closed { what, reason };
        }
        SessionError::Query { what, error }
    }
}

/// Drives a session's connection until it ends (recording why) or until the session is dropped;
/// then lets it end cleanly, for at most [`CLOSE_GRACE`].
async fn drive(
    connection: impl Future<Output = Result<(), tokio_postgres::Error>>,
    ended: Arc<Mutex<Option<String>>>,
    session_dropped: oneshot::Receiver<()>,
    notice: Option<Arc<Notify>>,
) {
    // Leaving this block drops the connection, so the session reads as closed before anyone is
    // told it ended.
    let reason = {
        let mut connection = std::pin::pin!(connection);
        let outcome = tokio::select! {
            outcome = &mut connection => Some(outcome),
            _ = session_dropped => None,
        };
        match outcome {
            Some(Ok(())) => "the server ended it".to_owned(),
            Some(Err(error)) => describe(&error),
            None => {
                // The client is gone: the connection sends Terminate once no answer is pending,
                // and ends. A hung server keeps an answer pending for ever: give up after the
                // grace.
                let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
                return;
            }
        }
    };
    *ended
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
    if let Some(notice) = notice {
        notice.notify_one();
    }
}

/// The first column of the first row of a simple query's answer (`None`: no row, or NULL).
fn first_value(
    messages: &[SimpleQueryMessage],
    what: &'static str,
) -> Result<Option<String>, SessionError> {
    let Some(row) = messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    }) else {
        return Ok(None);
    };
    row.try_get(0)
        .map(|value| value.map(str::to_owned))
        .map_err(|error| SessionError::Unreadable { what, error })
}

/// [`crate::poll::poll_until`] over a session, every [`POLL_INTERVAL`]: at the deadline,
/// [`SessionError::NotYet`] naming `awaited`, the caller's `timeout` and what the last look saw.
async fn poll_until<T, F, Fut>(
    deadline: Instant,
    timeout: Duration,
    awaited: &'static str,
    check: F,
) -> Result<T, SessionError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Poll<T>, SessionError>>,
{
    match crate::poll::poll_until(deadline, POLL_INTERVAL, check).await? {
        Polled::Done(value) => Ok(value),
        Polled::TimedOut { last_seen } => Err(SessionError::NotYet {
            awaited,
            timeout,
            last_seen,
        }),
    }
}

/// A fresh session for a one-off call, within what is left of `deadline`.
async fn session_for(
    instance: &Instance,
    deadline: Instant,
    timeout: Duration,
) -> Result<Session, SessionError> {
    Session::connect(instance, remaining(deadline))
        .await
        .map_err(|error| match error {
            // The connect's own bound is what was left; the caller's is what it asked for.
            SessionError::ConnectTimedOut { .. } => SessionError::ConnectTimedOut { timeout },
            error => error,
        })
}

/// Whether `session`'s instance is in recovery (a standby).
async fn in_recovery(session: &Session, left: Duration) -> Result<bool, SessionError> {
    let what = "`SELECT pg_is_in_recovery()`";
    match session
        .one_value("SELECT pg_is_in_recovery()::text", what, left)
        .await?
        .as_deref()
    {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        answer => Err(SessionError::Unexpected {
            what,
            answer: answer.map(str::to_owned),
        }),
    }
}

/// Promotes the standby `instance` (`SELECT pg_promote(true, N)` on a new connection) and returns
/// once it answers `pg_is_in_recovery() = false`, all within `timeout`.
///
/// Fails without asking when the instance is not a standby. When the time runs out after
/// PostgreSQL was asked, the error says so ([`SessionError::MayStillPromote`]): the promotion may
/// still complete, and only `pg_is_in_recovery()` tells. Needs `EXECUTE` on `pg_promote`
/// (`docs/privileges.md`).
pub async fn promote(instance: &Instance, timeout: Duration) -> Result<(), SessionError> {
    let deadline = Instant::now() + timeout;
    let session = session_for(instance, deadline, timeout).await?;
    if !in_recovery(&session, remaining(deadline)).await? {
        return Err(SessionError::NotAStandby {
            consequence: "there is nothing to promote",
        });
    }
    let asked = |error: SessionError| SessionError::MayStillPromote {
        error: Box::new(error),
    };
    // pg_promote waits whole seconds (at least one); the deadline bounds the call in any case.
    let wait_seconds = remaining(deadline).as_secs().clamp(1, i32::MAX as u64);
    let what = "`SELECT pg_promote(true, …)`";
    let promoted = session
        .one_value(
            &format!("SELECT pg_promote(true, {wait_seconds})::text"),
            what,
            remaining(deadline),
        )
        .await
        .map_err(|error| match error {
            SessionError::QueryTimedOut { what, .. } => {
                asked(SessionError::QueryTimedOut { what, timeout })
            }
            error => error,
        })?;
    // `false`: not promoted within wait_seconds (PostgreSQL warns and goes on). Either way, the
    // instance's own answer decides.
    if !matches!(promoted.as_deref(), Some("true" | "false")) {
        return Err(asked(SessionError::Unexpected {
            what,
            answer: promoted,
        }));
    }
    poll_until(
        deadline,
        timeout,
        "to the promotion (pg_is_in_recovery() = false)",
        |left| {
            let session = &session;
            async move {
                match in_recovery(session, left).await {
                    Ok(false) => Ok(Poll::Done(())),
                    Ok(true) => Ok(Poll::NotYet("it is still in recovery".to_owned())),
                    Err(error) => Err(asked(error)),
                }
            }
        },
    )
    .await
    .map_err(|error| match error {
        error @ SessionError::NotYet { .. } => asked(error),
        error => error,
    })
}

/// Sets `synchronous_standby_names` on `instance` to `value` (`ALTER SYSTEM SET …`, then
/// `SELECT pg_reload_conf()`), and returns once the server runs with it (`SHOW
/// synchronous_standby_names` equals `value`), all within `timeout`.
///
/// `value` may be empty (no synchronous standby). ALTER SYSTEM writes `postgresql.auto.conf`,
/// which overrides `postgresql.conf` and its includes; a value PostgreSQL does not accept fails
/// with its message, and nothing is written. Needs `ALTER SYSTEM` on the parameter and `EXECUTE`
/// on `pg_reload_conf` (`docs/privileges.md`).
pub async fn set_synchronous_standby_names(
    instance: &Instance,
    value: &str,
    timeout: Duration,
) -> Result<(), SessionError> {
    set_and_reload(instance, &SYNCHRONOUS_STANDBY_NAMES, value, timeout).await
}

/// Sets the standby `instance`'s `primary_conninfo` with `ALTER SYSTEM` and reloads it (a new
/// connection, within `timeout`): its WAL receiver ends and starts again towards the new
/// upstream (PostgreSQL 13 and later read `primary_conninfo` at a reload). Returns once its
/// backend runs with the new value; whether it streams is the caller's to wait for. Needs a
/// superuser or `GRANT ALTER SYSTEM ON PARAMETER primary_conninfo` (`docs/privileges.md`).
pub async fn set_primary_conninfo(
    instance: &Instance,
    value: &str,
    timeout: Duration,
) -> Result<(), SessionError> {
    set_and_reload(instance, &PRIMARY_CONNINFO, value, timeout).await
}

/// A setting `set_and_reload` changes, with the words its errors use.
struct Reloaded {
    name: &'static str,
    alter: &'static str,
    show: &'static str,
    reload: &'static str,
}

const SYNCHRONOUS_STANDBY_NAMES: Reloaded = Reloaded {
    name: "synchronous_standby_names",
    alter: "`ALTER SYSTEM SET synchronous_standby_names`",
    show: "`SHOW synchronous_standby_names`",
    reload: "to the reload (SHOW synchronous_standby_names)",
};

const PRIMARY_CONNINFO: Reloaded = Reloaded {
    name: "primary_conninfo",
    alter: "`ALTER SYSTEM SET primary_conninfo`",
    show: "`SHOW primary_conninfo`",
    reload: "to the reload (SHOW primary_conninfo)",
};

async fn set_and_reload(
    instance: &Instance,
    setting: &Reloaded,
    value: &str,
    timeout: Duration,
) -> Result<(), SessionError> {
    if value.contains('\0') {
        return Err(SessionError::NulInValue);
    }
    let deadline = Instant::now() + timeout;
    let session = session_for(instance, deadline, timeout).await?;
    let alter = format!(
        "ALTER SYSTEM SET {} = {}",
        setting.name,
        quote_literal(value)
    );
    session
        .bounded(
            setting.alter,
            remaining(deadline),
            session.client.simple_query(&alter),
        )
        .await?;
    let reloaded = session
        .one_value(
            "SELECT pg_reload_conf()::text",
            "`SELECT pg_reload_conf()`",
            remaining(deadline),
        )
        .await?;
    if reloaded.as_deref() != Some("true") {
        return Err(SessionError::NotSignalled {
            answer: reloaded,
            written: true,
        });
    }
    // The backend applies the reload before its next command: poll on the same session.
    poll_until(deadline, timeout, setting.reload, |left| {
        let session = &session;
        async move {
            let shown = session
                .one_value(&format!("SHOW {}", setting.name), setting.show, left)
                .await?
                .unwrap_or_default();
            Ok(if shown == value {
                Poll::Done(())
            } else {
                Poll::NotYet(format!(
                    "it still runs with `{}` (postgresql.auto.conf holds `{}`)",
                    crate::strip_password(&shown),
                    crate::strip_password(value)
                ))
            })
        }
    })
    .await
}

/// Asks the standby `instance` to retry its stream now (`SELECT pg_reload_conf()` on a new
/// connection, within `timeout`), and says whether its WAL receiver streams at that moment.
///
/// A standby whose upstream went away retries streaming every `wal_retrieve_retry_interval`
/// (5 s by default), and a synchronous primary's commits wait until it is back. The reload's
/// SIGHUP wakes the standby's startup process out of that wait, so it retries at once: after an
/// in-place restart of its primary, it streams again within milliseconds. The reload also applies
/// any configuration change made on the standby and not reloaded yet, as `pg_ctl reload` would.
///
/// Fails without asking when the instance is not a standby. Needs `EXECUTE` on `pg_reload_conf`
/// (`docs/privileges.md`).
pub async fn retry_stream(instance: &Instance, timeout: Duration) -> Result<String, SessionError> {
    let deadline = Instant::now() + timeout;
    let session = session_for(instance, deadline, timeout).await?;
    if !in_recovery(&session, remaining(deadline)).await? {
        return Err(SessionError::NotAStandby {
            consequence: "it streams from no one",
        });
    }
    let reloaded = session
        .one_value(
            "SELECT pg_reload_conf()::text",
            "`SELECT pg_reload_conf()`",
            remaining(deadline),
        )
        .await?;
    if reloaded.as_deref() != Some("true") {
        return Err(SessionError::NotSignalled {
            answer: reloaded,
            written: false,
        });
    }
    let status = session
        .one_value(
            "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'no WAL receiver')",
            "`SELECT status FROM pg_stat_wal_receiver`",
            remaining(deadline),
        )
        .await?
        .unwrap_or_else(|| "no WAL receiver".to_owned());
    Ok(format!("asked to retry its stream (receiver: {status})"))
}

/// Whether `instance` accepts writes, asked on a new connection within `timeout`: not in
/// recovery, and `transaction_read_only` off (`default_transaction_read_only` makes a primary
/// refuse writes too).
pub async fn accepts_writes(instance: &Instance, timeout: Duration) -> Result<bool, SessionError> {
    let deadline = Instant::now() + timeout;
    let session = session_for(instance, deadline, timeout).await?;
    let what = "`SELECT pg_is_in_recovery(), current_setting('transaction_read_only')`";
    let answer = session
        .one_value(
            "SELECT (NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off')::text",
            what,
            remaining(deadline),
        )
        .await?;
    match answer.as_deref() {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(SessionError::Unexpected { what, answer }),
    }
}

/// `value` as an SQL string literal, as libpq's `PQescapeLiteral` writes it: quotes doubled, and
/// with backslashes the `E''` form (backslashes doubled), so the literal means `value` whatever
/// `standard_conforming_strings` says.
fn quote_literal(value: &str) -> String {
    let escaped = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", escaped.replace('\\', "\\\\"))
    } else {
        format!("'{escaped}'")
    }
}

/// Whether a PostgreSQL server answers at the address `conninfo` names (a standby's
/// `primary_conninfo`: where it reaches its upstream), within `timeout`: a pre-flight check,
/// before a plan destroys what it means to rebuild from there (issue 18). A server that answers
/// at all — even to refuse the credentials, which hadome may not have (a `primary_conninfo` is
/// read without its password) — is reachable; a connection refused, reset or unanswered is not.
/// It reads nothing and changes nothing.
pub async fn answers_at(conninfo: &str, timeout: Duration) -> Result<String, SessionError> {
    let config = connect_config(conninfo, timeout, crate::APPLICATION_NAME)
        .map_err(|error| SessionError::Conninfo { error })?;
    match tokio::time::timeout(timeout, config.connect()).await {
        Ok(Ok(_connected)) => Ok("it accepts connections".to_owned()),
        Ok(Err(error)) if error.as_db_error().is_some() => Ok(format!(
            "it answers (and refuses hadome's own connection: {})",
            error
                .as_db_error()
                .map_or_else(String::new, |db| db.message().to_owned())
        )),
        Ok(Err(error)) => Err(SessionError::Connect { error }),
        Err(_) => Err(SessionError::ConnectTimedOut { timeout }),
    }
}

/// How many bytes the instance's databases hold (the sum of `pg_database_size`), within
/// `timeout`: the least a copy of it needs (a rebuild's pre-flight, issue 18). It reads only;
/// `pg_monitor`'s `pg_read_all_stats` allows it on every database.
pub async fn data_bytes(instance: &Instance, timeout: Duration) -> Result<u64, SessionError> {
    let deadline = Instant::now() + timeout;
    let session = session_for(instance, deadline, timeout).await?;
    let what = "the size of its databases (sum of pg_database_size)";
    let answer = session
        .one_value(
            "SELECT sum(pg_database_size(oid))::bigint::text FROM pg_database",
            what,
            remaining(deadline),
        )
        .await?;
    answer
        .as_deref()
        .and_then(|bytes| bytes.parse().ok())
        .ok_or(SessionError::Unexpected { what, answer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hadome_core::fact::FailureKind;
    use std::path::PathBuf;

    fn instance(conninfo: &str) -> Instance {
        Instance {
            name: "db-1".to_owned(),
            conninfo: conninfo.to_owned(),
            data_dir: PathBuf::from("/nowhere"),
            host: "localhost".to_owned(),
            application_name: "db-1".to_owned(),
            commands: Default::default(),
        }
    }

    #[test]
    fn literals_are_quoted_as_libpq_does() {
        assert_eq!(quote_literal(""), "''");
        assert_eq!(quote_literal(r#""db-2""#), r#"'"db-2"'"#);
        assert_eq!(
            quote_literal(r#"ANY 1 ("it's", b)"#),
            r#"'ANY 1 ("it''s", b)'"#
        );
        assert_eq!(quote_literal(r"a\b'"), r"E'a\\b'''");
    }

    #[tokio::test]
    async fn a_bad_conninfo_or_value_fails_before_connecting() {
        let bad = instance("host='unterminated");
        for error in [
            Session::connect(&bad, Duration::from_secs(1))
                .await
                .unwrap_err(),
            promote(&bad, Duration::from_secs(1)).await.unwrap_err(),
            accepts_writes(&bad, Duration::from_secs(1))
                .await
                .unwrap_err(),
        ] {
            assert!(matches!(error, SessionError::Conninfo { .. }), "{error:?}");
            assert!(
                error.to_string().contains("conninfo does not parse"),
                "{error}"
            );
            assert_eq!(error.kind(), FailureKind::Other, "{error}");
        }
        let error = set_synchronous_standby_names(&bad, "a\0b", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("NUL"), "{error}");
    }

    #[tokio::test]
    async fn a_refused_connection_reads_as_down() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = instance(&format!("host=127.0.0.1 port={port} user=hadome"));
        let error = accepts_writes(&refused, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.to_string().starts_with("cannot connect"), "{error}");
        assert_eq!(error.kind(), FailureKind::Down, "{error}");
        assert_eq!(
            FailureKind::of_error(&error.to_string()),
            FailureKind::Down,
            "the text reads the same: {error}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_within_the_bound() {
        // Accepts TCP in the kernel's backlog, never reads: a SIGSTOPped postmaster.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hung = instance(&format!("host=127.0.0.1 port={port} user=hadome"));
        let started = std::time::Instant::now();
        let errors = [
            Session::connect(&hung, Duration::from_millis(300))
                .await
                .unwrap_err(),
            promote(&hung, Duration::from_millis(300))
                .await
                .unwrap_err(),
            set_synchronous_standby_names(&hung, "", Duration::from_millis(300))
                .await
                .unwrap_err(),
        ];
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bounded: {:?}",
            started.elapsed()
        );
        for error in errors {
            assert_eq!(
                error.to_string(),
                "no answer to accept the connection within 0.3 s",
                "{error}"
            );
            assert_eq!(error.kind(), FailureKind::Timeout);
            assert_eq!(
                FailureKind::of_error(&error.to_string()),
                FailureKind::Timeout
            );
        }
        drop(listener);
    }
}
