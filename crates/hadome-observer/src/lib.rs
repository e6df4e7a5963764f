//! hadome's PostgreSQL observer: what every instance of an estate says of itself, as
//! [`Facts`].
//!
//! [`observe`] probes every instance **concurrently**, one task each, and each probe is bounded
//! as a whole (connect and query) by the estate's `probe_timeout_seconds`: a hung server
//! (SIGSTOPped, it accepts TCP in the kernel and never answers) is reported
//! [`ProbeOutcome::Unreachable`] within the bound and never stalls the pass. A probe that fails
//! in any way, a panic included, is that instance's `Unreachable`: the observer fails closed.
//!
//! A probe is one connection and one round trip (`query.rs`): a single `SELECT` that returns a
//! JSON document, mapped into [`hadome_core::fact::InstanceState`]. The observer is an edge of
//! hadome: unlike the core it reads the wall clock, once per probe, for `observed_at`.
//!
//! A probe that fails carries a [`FailureKind`]: set here where the observer knows it (its own
//! timeout, a bad conninfo or timeout setting), read from the error text otherwise
//! ([`FailureKind::of_error`]: refused or closed at once is down, too many clients is overloaded).
//!
//! Beyond the probe, [`session`] gives a supervision daemon what it needs from PostgreSQL: a
//! persistent [`Session`] (heartbeat, ping), [`promote`], [`set_synchronous_standby_names`] and
//! [`accepts_writes`], each bounded by a timeout and failing with a [`SessionError`] that says
//! what was asked, what went wrong and its [`FailureKind`]. Unlike the probe, these change servers.
//!
//! [`etcd::observe_members`] does the same for the estate's etcd members (issue 13): status,
//! member list and alarms per member, concurrently, each bounded by the probe timeout.
//!
//! [`route::observe_routes`] probes every route of the estate (issue 14, incident E): its
//! redirect chain followed by hadome, one request per hop, within the hop limit and the probe
//! timeout; [`web::observe_services`] and [`web::observe_nginx`] say whether the services behind
//! routes run and what the nginx lint finds in each nginx's whole configuration.
//!
//! The privileges hadome's role needs for the query and for supervision are in
//! `docs/privileges.md`.
//!
//! [`FailureKind`]: hadome_core::fact::FailureKind
//! [`FailureKind::of_error`]: hadome_core::fact::FailureKind::of_error

#![warn(missing_docs)]

mod conninfo;
mod cookie;
mod error;
pub mod etcd;
pub mod host;
pub mod poll;
mod query;
pub mod route;
pub mod session;
mod settings;
pub mod tls;
pub mod web;

pub use conninfo::{for_standby, strip_password};
pub use error::{ConninfoError, SessionError};
pub use session::{
    accepts_writes, answers_at, data_bytes, promote, retry_stream, set_primary_conninfo,
    set_synchronous_standby_names, Session, HEARTBEAT_PREFIX,
};

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hadome_core::estate::{Estate, Instance};
use hadome_core::fact::{Facts, InstanceState, Probe, ProbeOutcome, Timestamp};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_postgres::SimpleQueryMessage;

use crate::error::{ObserveError, Phase};

/// The application name the observer's sessions (probes and [`Session`]s) carry, unless the
/// conninfo sets one.
pub const APPLICATION_NAME: &str = "hadome-observer";

/// How long past the probe timeout [`observe`] waits for a probe task that ignores its own bound
/// (it cannot, short of a bug) before it abandons it as unreachable.
const STRAGGLER_GRACE: Duration = Duration::from_secs(1);

/// Probes every instance of `estate` concurrently, each bounded by `probe_timeout_seconds`.
///
/// Every instance of the estate gets a [`Probe`]: answered, or unreachable with the reason. The
/// call returns within about the probe timeout whatever the servers do. It must run inside a
/// tokio runtime (either flavour).
pub async fn observe(estate: &Estate) -> Facts {
    observe_timed(estate).await.0
}

/// [`observe`], with how long each instance's probe took to settle (answered, or found
/// unreachable): the daemon's probe latency metrics.
pub async fn observe_timed(estate: &Estate) -> (Facts, BTreeMap<String, Duration>) {
    match probe_timeout(estate.probe_timeout_seconds) {
        Ok(timeout) => {
            observe_with(&estate.instances, timeout, |instance, timeout| async move {
                probe_outcome(&instance, timeout).await
            })
            .await
        }
        Err(error) => (all_unreachable(&estate.instances, &error), BTreeMap::new()),
    }
}

/// [`observe`]'s machinery, with the probe as an argument: one task per instance, each result
/// keyed back to its instance, a panic or a straggler turned into `Unreachable`.
async fn observe_with<F, Fut>(
    instances: &[Instance],
    timeout: Duration,
    probe: F,
) -> (Facts, BTreeMap<String, Duration>)
where
    F: Fn(Instance, Duration) -> Fut,
    Fut: Future<Output = ProbeOutcome> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (String, Timestamp)> = HashMap::new();
    for instance in instances {
        let observed_at = now();
        let handle = tasks.spawn(probe(instance.clone(), timeout));
        running.insert(handle.id(), (instance.name.clone(), observed_at));
    }

    let mut facts = Facts::default();
    let mut took = BTreeMap::new();
    let started = Instant::now();
    let deadline = started + timeout + STRAGGLER_GRACE;
    loop {
        let joined = match tokio::time::timeout_at(deadline, tasks.join_next_with_id()).await {
            Ok(Some(joined)) => joined,
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        };
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(error) => {
                let id = error.id();
                let error = if error.is_panic() {
                    ObserveError::Panicked {
                        message: panic_text(&*error.into_panic()),
                    }
                } else {
                    ObserveError::Cancelled
                };
                (id, unreachable(&error))
            }
        };
        if let Some((name, observed_at)) = running.remove(&id) {
            took.insert(name.clone(), started.elapsed());
            facts.instances.insert(
                name,
                Probe {
                    observed_at,
                    outcome,
                },
            );
        }
    }
    // Whatever did not finish by the deadline is abandoned (aborted above): unreachable.
    for (_, (name, observed_at)) in running {
        let error = ObserveError::Abandoned {
            waited: timeout + STRAGGLER_GRACE,
        };
        took.insert(name.clone(), started.elapsed());
        facts.instances.insert(
            name,
            Probe {
                observed_at,
                outcome: unreachable(&error),
            },
        );
    }
    (facts, took)
}

/// Probes one instance, bounded by `timeout` as a whole (connect and query).
///
/// Unlike [`observe`], it runs the probe in the caller's task: a panic (a bug) is the caller's.
pub async fn observe_instance(instance: &Instance, timeout: Duration) -> Probe {
    let observed_at = now();
    let outcome = probe_outcome(instance, timeout).await;
    Probe {
        observed_at,
        outcome,
    }
}

/// The estate's probe timeout, or why it is not one.
fn probe_timeout(seconds: f64) -> Result<Duration, ObserveError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or(ObserveError::BadTimeout { seconds })
}

fn all_unreachable(instances: &[Instance], error: &ObserveError) -> Facts {
    let observed_at = now();
    let mut facts = Facts::default();
    for instance in instances {
        let outcome = unreachable(error);
        facts.instances.insert(
            instance.name.clone(),
            Probe {
                observed_at,
                outcome,
            },
        );
    }
    facts
}

/// The `Unreachable` outcome of a failed probe: its text, and the kind the error knows.
fn unreachable(error: &ObserveError) -> ProbeOutcome {
    ProbeOutcome::Unreachable {
        error: error.to_string(),
        kind: error.kind(),
    }
}

/// The wall clock, in milliseconds since the Unix epoch.
pub(crate) fn now() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)),
        Err(before) => Timestamp(-i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX)),
    }
}

pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "no message".to_owned()
    }
}

/// One probe: connect, run the probe query, map the answer. Never panics on what the server says;
/// every failure is `Unreachable` with the reason.
async fn probe_outcome(instance: &Instance, timeout: Duration) -> ProbeOutcome {
    match probe_state(instance, timeout).await {
        Ok(state) => ProbeOutcome::Answered(Box::new(state)),
        Err(error) => unreachable(&error),
    }
}

/// Joins every task of `tasks` (each gives its target's name and probe). A task that panicked or
/// was cancelled gives its target `failed(why)`: a probe that did not run is never an answer.
pub(crate) async fn join_probes<P: Send + 'static>(
    mut tasks: JoinSet<(String, P)>,
    names: &BTreeMap<tokio::task::Id, String>,
    failed: impl Fn(String) -> P,
) -> BTreeMap<String, P> {
    let mut probes = BTreeMap::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (name, probe))) => {
                probes.insert(name, probe);
            }
            Err(error) => {
                if let Some(name) = names.get(&error.id()) {
                    probes.insert(
                        name.clone(),
                        failed(format!(
                            "the probe failed: {error} (a bug in hadome: please report it)"
                        )),
                    );
                }
            }
        }
    }
    probes
}

/// [`probe_outcome`]'s work: the instance's state, or why there is none.
async fn probe_state(
    instance: &Instance,
    timeout: Duration,
) -> Result<InstanceState, ObserveError> {
    let config = connect_config(&instance.conninfo, timeout, APPLICATION_NAME)
        .map_err(|error| ObserveError::Conninfo { error })?;

    let deadline = Instant::now() + timeout;
    let mut phase = Phase::Connecting;
    let answer =
        tokio::time::timeout_at(deadline, connect_and_query(&config, deadline, &mut phase)).await;
    let json = answer.map_err(|_| ObserveError::TimedOut { phase, timeout })??;
    // It may answer with something hadome cannot vouch for: neither dead nor hung.
    Ok(query::parse(&json)?)
}

/// The connection settings for `conninfo`: its connect timeout bounded by `timeout`, and
/// `application_name` unless it names one (the observer's own sessions pass [`APPLICATION_NAME`]).
/// The error is why the conninfo does not parse; it never repeats the conninfo, which may hold a
/// password.
pub fn connect_config(
    conninfo: &str,
    timeout: Duration,
    application_name: &str,
) -> Result<Connect, ConninfoError> {
    let (rest, wanted) = tls::split(conninfo).map_err(ConninfoError::Tls)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(ConninfoError::Parse)?;
    config.ssl_mode(tls::driver_mode(&wanted));
    if unix_sockets_only(&config) {
        // libpq ignores sslmode on a Unix socket: no TLS there. The driver would ask a server
        // with `ssl = on` (Debian's default) for TLS, and fail for want of a host name.
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    }
    let connect_timeout = config
        .get_connect_timeout()
        .map_or(timeout, |set| (*set).min(timeout));
    config.connect_timeout(connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name(application_name);
    }
    let tls = tls::connector(&wanted).map_err(ConninfoError::Tls)?;
    Ok(Connect { config, tls })
}

/// Whether every host `config` names is a Unix socket's directory (`host=/var/run/postgresql`).
fn unix_sockets_only(config: &tokio_postgres::Config) -> bool {
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts
            .iter()
            .all(|host| matches!(host, tokio_postgres::config::Host::Unix(_)))
}

/// How to reach one server: the driver's settings and the TLS its `sslmode` asks for.
pub struct Connect {
    /// The driver's settings (`sslmode` already mapped to what the driver knows).
    pub config: tokio_postgres::Config,
    /// The TLS connector (used only when the mode and the server agree on TLS).
    pub tls: tls::MakeRustls,
}

/// A connection as [`Connect::connect`] makes it.
pub type Connection =
    tokio_postgres::Connection<tokio_postgres::Socket, tls::RustlsStream<tokio_postgres::Socket>>;

impl Connect {
    /// Connects (TLS as asked), unbounded: the caller bounds it.
    pub async fn connect(
        &self,
    ) -> Result<(tokio_postgres::Client, Connection), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }
}

/// Connects and runs the probe query; returns its JSON text. The connection is driven here, not
/// in a task of its own, so nothing outlives the probe: when the caller's timeout drops this
/// future, the socket closes.
async fn connect_and_query(
    config: &Connect,
    deadline: Instant,
    phase: &mut Phase,
) -> Result<String, ObserveError> {
    let (client, connection) = config
        .connect()
        .await
        .map_err(|error| ObserveError::Connect { error })?;
    *phase = Phase::Querying;
    let mut connection = std::pin::pin!(connection);
    let answer = tokio::select! {
        answer = ask(&client) => answer,
        ended = &mut connection => Err(ObserveError::ConnectionEnded { error: ended.err() }),
    };
    // End the session cleanly (a Terminate message, not a dropped socket), within the bound.
    drop(client);
    let _ = tokio::time::timeout_at(deadline, connection).await;
    let messages = answer?;
    messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => {
                Some(row.try_get(0).map(|text| text.map(str::to_owned)))
            }
            _ => None,
        })
        .ok_or(ObserveError::NoRow)?
        .map_err(|error| ObserveError::Unreadable { error })?
        .ok_or(ObserveError::Null)
}

/// Runs the probe query; without the timeline history when the role may not read it.
async fn ask(client: &tokio_postgres::Client) -> Result<Vec<SimpleQueryMessage>, ObserveError> {
    match client.simple_query(&query::probe_sql(true)).await {
        Err(error) if lacks_read_file(&error) => {
            client.simple_query(&query::probe_sql(false)).await
        }
        answer => answer,
    }
    .map_err(|error| ObserveError::Query { error })
}

/// Whether `error` is `permission denied for function pg_read_file`.
fn lacks_read_file(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE
            && db.message().contains("pg_read_file")
    })
}

/// An error with its causes, and for a server error its SQLSTATE, detail and hint:
/// tokio-postgres's own `Display` says only "db error".
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(db) = error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::as_db_error)
    {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        if db.code() == &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE {
            text.push_str("; hadome's role lacks a grant: see docs/privileges.md");
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hadome_core::fact::FailureKind;
    use std::path::PathBuf;
    use tokio_postgres::config::SslMode;

    #[test]
    fn a_unix_socket_is_reached_without_tls_whatever_the_sslmode_as_libpq_does() {
        let mode = |conninfo: &str| {
            connect_config(conninfo, Duration::from_secs(1), APPLICATION_NAME)
                .expect("a usable conninfo")
                .config
                .get_ssl_mode()
        };
        assert_eq!(
            mode("host=/var/run/postgresql port=5432 user=hadome"),
            SslMode::Disable
        );
        assert_eq!(
            mode("host=/var/run/postgresql sslmode=require"),
            SslMode::Disable
        );
        assert_eq!(mode("host=10.0.0.1 port=5432"), SslMode::Prefer);
        assert_eq!(
            mode("host=/run/pg,10.0.0.1 sslmode=require"),
            SslMode::Require
        );
    }

    fn instance(name: &str, conninfo: &str) -> Instance {
        Instance {
            name: name.to_owned(),
            conninfo: conninfo.to_owned(),
            data_dir: PathBuf::from("/nowhere"),
            host: "localhost".to_owned(),
            application_name: name.to_owned(),
            commands: Default::default(),
        }
    }

    fn error_of(probe: &Probe) -> &str {
        match &probe.outcome {
            ProbeOutcome::Unreachable { error, .. } => error,
            ProbeOutcome::Answered(state) => panic!("expected unreachable, got {state:?}"),
        }
    }

    fn kind_of(probe: &Probe) -> FailureKind {
        match &probe.outcome {
            ProbeOutcome::Unreachable { kind, .. } => *kind,
            ProbeOutcome::Answered(state) => panic!("expected unreachable, got {state:?}"),
        }
    }

    #[tokio::test]
    async fn a_panicking_probe_is_that_instance_unreachable_and_the_others_go_on() {
        let instances = [instance("calm", ""), instance("boom", "")];
        let facts = observe_with(
            &instances,
            Duration::from_secs(5),
            |instance, _| async move {
                assert_ne!(instance.name, "boom", "a bug in the probe");
                ProbeOutcome::unreachable("refused".to_owned())
            },
        )
        .await
        .0;
        assert_eq!(error_of(&facts.instances["calm"]), "refused");
        let boom = error_of(&facts.instances["boom"]);
        assert!(
            boom.contains("panicked") && boom.contains("a bug in the probe"),
            "{boom}"
        );
        assert_eq!(kind_of(&facts.instances["boom"]), FailureKind::Other);
    }

    #[tokio::test]
    async fn a_probe_that_ignores_its_bound_is_abandoned_as_unreachable() {
        let instances = [instance("stuck", ""), instance("quick", "")];
        let started = std::time::Instant::now();
        let facts = observe_with(
            &instances,
            Duration::from_millis(100),
            |instance, _| async move {
                if instance.name == "stuck" {
                    std::future::pending::<()>().await;
                }
                ProbeOutcome::unreachable("refused".to_owned())
            },
        )
        .await;
        let (facts, took) = facts;
        assert!(
            took["stuck"] >= Duration::from_millis(1_100) && took["quick"] < took["stuck"],
            "each instance's time is its own: {took:?}"
        );
        assert!(error_of(&facts.instances["stuck"]).contains("did not finish within 1.1 s"));
        assert_eq!(kind_of(&facts.instances["stuck"]), FailureKind::Timeout);
        assert_eq!(error_of(&facts.instances["quick"]), "refused");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bounded: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn an_invalid_timeout_or_conninfo_fails_closed() {
        for seconds in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let estate = Estate {
                instances: vec![instance("db-1", "host=127.0.0.1")],
                clusters: Vec::new(),
                journal_path: PathBuf::from("/nowhere"),
                probe_timeout_seconds: seconds,
                probe_interval_seconds: 5.0,
                notify: Default::default(),
                backups: Vec::new(),
                snapshots: Vec::new(),
                hosts: Vec::new(),
                etcd_members: Vec::new(),
                quorums: Vec::new(),
                coordination: None,
                api: None,
                web: Default::default(),
            };
            let facts = observe(&estate).await;
            assert!(
                error_of(&facts.instances["db-1"]).contains("probe_timeout_seconds"),
                "{seconds}"
            );
            assert_eq!(
                kind_of(&facts.instances["db-1"]),
                FailureKind::Other,
                "a bad setting, not a timeout"
            );
        }
        let probe = observe_instance(
            &instance("db-1", "host='unterminated"),
            Duration::from_secs(1),
        )
        .await;
        assert!(
            error_of(&probe).contains("conninfo does not parse"),
            "{probe:?}"
        );
        assert_eq!(kind_of(&probe), FailureKind::Other);
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_with_the_reason() {
        // A port nobody listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conninfo = format!("host=127.0.0.1 port={port} user=hadome dbname=postgres");
        let probe = observe_instance(&instance("db-1", &conninfo), Duration::from_secs(5)).await;
        assert!(error_of(&probe).starts_with("cannot connect"), "{probe:?}");
        assert_eq!(kind_of(&probe), FailureKind::Down, "{probe:?}");
    }

    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_times_out_within_the_bound() {
        // What a SIGSTOPped postmaster looks like from outside: the kernel completes the TCP
        // handshake into the listen backlog, and nothing ever reads the startup packet.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conninfo = format!("host=127.0.0.1 port={port} user=hadome dbname=postgres");
        let started = std::time::Instant::now();
        let probe =
            observe_instance(&instance("db-1", &conninfo), Duration::from_millis(300)).await;
        let elapsed = started.elapsed();
        assert!(
            error_of(&probe).contains("no answer to accept the connection within 0.3 s"),
            "{probe:?}"
        );
        assert_eq!(kind_of(&probe), FailureKind::Timeout);
        assert!(elapsed < Duration::from_secs(5), "bounded: {elapsed:?}");
        drop(listener);
    }

    #[test]
    fn the_clock_reads_milliseconds_since_the_epoch() {
        // 2020-01-01 in ms: any machine running this is past it.
        assert!(now().0 > 1_577_836_800_000);
    }
}
