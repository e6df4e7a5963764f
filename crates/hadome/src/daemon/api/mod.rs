//! The daemon's HTTP face (issue 16): the API bots and scripts ask (`/v1/…`), the Prometheus
//! metrics (`/metrics`) and the dashboard people look at (`/`), served while `[api]` is in the
//! estate file.
//!
//! It runs on a thread and a tokio runtime of its own, so that no request, however many, delays
//! a supervision pass. After every pass the daemon publishes what it saw ([`Snapshot`]); reads
//! answer from it while it is younger than one probe interval and cover what they need
//! (`facts.rs`), and probe anew otherwise, saying which in the answer. Whatever changes the estate
//! (`POST /v1/run`, `POST /v1/ack`) needs a bearer token whose role allows the verb (`auth.rs`),
//! and runs the same `hadome run` or `hadome ack` a person would, as a child process, with the
//! token's name as the journal's actor (`write.rs`); a refusal is journaled.
//!
//! Files: `read.rs` (status, check, ask, events, timeline), `write.rs` (run, ack), `auth.rs`
//! (tokens), `facts.rs` (the snapshot or a fresh pass), `error.rs` (every refusal as JSON naming
//! its field), `metrics/`, `dashboard/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use hadome_core::estate::Estate;
use hadome_core::fact::{Facts, History, Timestamp};
use hadome_core::supervise::ClusterReport;
use hadome_journal::Journal;

use crate::error::CliError;
use crate::journal_pool::Journaled;

mod auth;
mod dashboard;
mod error;
mod facts;
mod metrics;
mod read;
mod write;

/// The largest request body the API reads: every request it takes is a few words of JSON.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// What one supervision pass saw and decided, as the daemon publishes it after the pass.
pub(crate) struct Snapshot {
    pub(crate) estate: Estate,
    pub(crate) facts: Facts,
    pub(crate) history: History,
    /// When the pass judged (the core's `now`).
    pub(crate) now: Timestamp,
    /// When it was published, for its age.
    pub(crate) taken: Instant,
    /// The supervisor's report of each cluster (its state and why).
    pub(crate) reports: Vec<ClusterReport>,
    /// How long the pass took, observation to decision.
    pub(crate) pass_seconds: f64,
    /// How long each instance's probe took.
    pub(crate) probes: BTreeMap<String, Duration>,
}

impl Snapshot {
    /// The pass as `views` reads it, with `journal` for what only the journal knows.
    pub(crate) fn seen<'a>(&'a self, journal: &'a Journal) -> crate::views::Seen<'a> {
        crate::views::Seen {
            estate: &self.estate,
            facts: &self.facts,
            history: &self.history,
            now: self.now,
            journal,
        }
    }
}

/// What the API's handlers share.
pub(crate) struct Shared {
    /// The latest pass; `None` until the first one.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// The API's own connection to the journal (the daemon's passes keep theirs).
    journal: Journaled,
    /// The estate file, for the `hadome run` and `hadome ack` the API runs.
    config: PathBuf,
    /// The tokens, as last read from their files.
    tokens: RwLock<Vec<auth::Token>>,
    metrics: metrics::Metrics,
}

impl Shared {
    /// The latest snapshot, if any.
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Runs `work` on the blocking pool with the API's journal.
    async fn with_journal<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Journal) -> Result<T, CliError> + Send + 'static,
    ) -> Result<T, CliError> {
        self.journal.run(work).await
    }
}

/// The running API: where it listens, and how to stop it.
pub(crate) struct Api {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    /// Starts serving `estate`'s `[api]`, if it has one: the address is bound and the tokens
    /// are read before this returns, so a taken port or an unreadable token file stops the
    /// daemon at start with the reason.
    pub(crate) fn start(estate: &Estate, config: &Path) -> Result<Option<Api>, CliError> {
        let Some(api) = &estate.api else {
            return Ok(None);
        };
        let tokens = auth::read_tokens(&api.tokens)?;
        let listener = std::net::TcpListener::bind(&api.listen)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|error| CliError::Usage {
                message: format!("`[api] listen = \"{}\"`: cannot listen there: {error}", api.listen),
                hint: Some("choose a free port (`ss -ltnp` lists the taken ones), or `127.0.0.1:0` for any free port".to_owned()),
            })?;
        let address = listener.local_addr().map_err(|error| CliError::Internal {
            message: format!("the API's socket has no address: {error}"),
            hint: None,
        })?;
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(None),
            journal: Journaled(Arc::new(Mutex::new(Journal::open(&estate.journal_path)?))),
            config: config.to_owned(),
            tokens: RwLock::new(tokens),
            metrics: metrics::Metrics::new(),
        });
        let router = router(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("hadome-api".to_owned())
            .spawn(move || serve(listener, router, stopped))
            .map_err(|error| CliError::Internal {
                message: format!("could not start the API's thread: {error}"),
                hint: None,
            })?;
        tracing::info!(address = %address, "API, metrics and dashboard on http://{address}/");
        Ok(Some(Api {
            shared,
            address,
            stop: Some(stop),
            thread: Some(thread),
        }))
    }

    /// Publishes what a pass saw; the pass's timings feed the metrics' histograms.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        self.shared
            .metrics
            .observe_pass(snapshot.pass_seconds, &snapshot.probes);
        *self
            .shared
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(snapshot));
    }

    /// After a reload: the tokens read again from their files (kept as they were, with the
    /// reason logged, when one cannot be read); a new `listen` needs a restart.
    pub(crate) fn reload(&self, estate: &Estate) {
        let Some(api) = &estate.api else {
            tracing::warn!("`[api]` was removed: the API keeps serving until the daemon restarts");
            return;
        };
        if api.listen != self.address.to_string() && !api.listen.ends_with(":0") {
            tracing::warn!(
                "`[api] listen` changed to {}: the API keeps listening on {} until the daemon restarts",
                api.listen,
                self.address
            );
        }
        match auth::read_tokens(&api.tokens) {
            Ok(tokens) => {
                *self
                    .shared
                    .tokens
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = tokens;
            }
            Err(error) => tracing::error!("API tokens not reloaded, the old ones stay: {error}"),
        }
    }

    /// Stops serving: requests in flight finish, new ones are refused.
    pub(crate) fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/status", get(read::status))
        .route("/v1/check", get(read::check))
        .route("/v1/ask", post(read::ask))
        .route("/v1/events", get(read::events))
        .route("/v1/timeline", get(read::timeline))
        .route("/v1/run", post(write::run))
        .route("/v1/ack", post(write::ack))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(shared)
}

/// How long requests in flight may go on once the daemon stops (a `POST /v1/run` waits for its
/// `hadome run`, which goes on and journals its outcome on its own if the API stops waiting).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The API's thread: its own runtime, serving until `stopped`, then letting requests in flight
/// finish for at most [`STOP_GRACE`].
fn serve(
    listener: std::net::TcpListener,
    router: Router,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("the API could not start its runtime: {error}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!("the API could not use its socket: {error}");
                return;
            }
        };
        let mut graceful = stopped.clone();
        let mut deadline = stopped;
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = graceful.wait_for(|stop| *stop).await;
        });
        tokio::select! {
            served = served => {
                if let Err(error) = served {
                    tracing::error!("the API stopped: {error}");
                }
            }
            _ = async {
                let _ = deadline.wait_for(|stop| *stop).await;
                tokio::time::sleep(STOP_GRACE).await;
            } => tracing::warn!("the API stopped with requests still in flight"),
        }
    });
}
