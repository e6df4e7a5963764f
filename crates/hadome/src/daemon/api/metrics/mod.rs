//! `GET /metrics`: the estate and the daemon as Prometheus metrics (issue 16; `docs/metrics.md`
//! lists them, `examples/alerts.yml` alerts on them).
//!
//! Two kinds of metric, both through `prometheus-client`:
//!
//! - the daemon's own measurements, kept in memory and fed after every pass ([`Metrics`]): the
//!   pass's duration and each probe's, as histograms;
//! - everything else, computed at scrape time ([`Families`], a `Collector`): from the latest pass
//!   ([`Snapshot`]) the estate as `hadome status` and `hadome check` see it, the supervisor's
//!   state of each cluster, budgets, pauses and backups (`gather.rs`, `backups.rs`, `facts.rs`);
//!   from the journal the counters of verdicts, actions, outcomes, escalations and failovers
//!   (`counters.rs`), so that they survive a restart.
//!
//! A scraper that asks for OpenMetrics (Prometheus does) gets it
//! (`application/openmetrics-text; version=1.0.0`); any other gets the Prometheus text format
//! 0.0.4, the one `promtool check metrics` reads (`curl /metrics | promtool check metrics`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use hadome_journal::{EventTally, Journal};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::error::ApiError;
use super::{Shared, Snapshot};
use crate::error::CliError;

mod backups;
mod counters;
mod facts;
mod families;
mod gather;
#[cfg(test)]
mod tests;

use families::{Families, Kind};

/// The content type of OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A pass's duration, in seconds: a pass probes every instance concurrently (each bounded by the
/// probe timeout) and journals what changed, so a healthy one takes milliseconds to a few
/// hundred, and one that waits out a probe timeout takes seconds.
const PASS_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// One probe's duration, in seconds: a query on a new connection takes a millisecond or a few on
/// a LAN; a hung server takes the whole probe timeout (2 s by default).
const PROBE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// A probe histogram's labels: the instance, as `pg_instance` (`families::Labels` says why).
type ProbeLabels = Vec<(String, String)>;

fn probe_histogram() -> Histogram {
    Histogram::new(PROBE_BUCKETS)
}

/// The daemon's own measurements, fed after every pass, and where the journal's counts stand.
pub(crate) struct Metrics {
    pass: Histogram,
    probes: Family<ProbeLabels, Histogram, fn() -> Histogram>,
    /// The journal's counts through the last event counted (`hadome_journal::EventTally`).
    tally: Arc<Mutex<EventTally>>,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        Metrics {
            pass: Histogram::new(PASS_BUCKETS),
            probes: Family::new_with_constructor(probe_histogram),
            tally: Arc::new(Mutex::new(EventTally::default())),
        }
    }

    /// One pass: how long it took, and each instance's probe.
    pub(super) fn observe_pass(&self, pass_seconds: f64, probes: &BTreeMap<String, Duration>) {
        self.pass.observe(pass_seconds);
        for (instance, took) in probes {
            self.probes
                .get_or_create(&vec![("pg_instance".to_owned(), instance.clone())])
                .observe(took.as_secs_f64());
        }
    }

    /// The registry of one scrape: the histograms, build information, and `families`.
    fn registry(&self, families: Families) -> Registry {
        let mut registry = Registry::with_prefix("hadome");
        registry.register_with_unit(
            "pass_duration",
            "How long each supervision pass took, from its probes to the supervisor's decision",
            Unit::Seconds,
            self.pass.clone(),
        );
        registry.register_with_unit(
            "probe_duration",
            "How long each instance's probe took in the daemon's passes (a hung server: the probe timeout)",
            Unit::Seconds,
            self.probes.clone(),
        );
        registry.register(
            "build",
            "The running hadome's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(families));
        registry
    }
}

/// Everything computed at scrape time, from the latest snapshot (if any) and the journal. The
/// counts go on from `tally`, which is updated in place.
fn gather(
    snapshot: Option<&Snapshot>,
    journal: &Journal,
    tally: &Mutex<EventTally>,
) -> Result<Families, CliError> {
    let mut families = Families::default();
    families.family(
        "snapshot_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since the daemon's last pass published what it saw (no sample: no pass has finished yet); the metrics below are that pass's.",
    );
    if let Some(snapshot) = snapshot {
        families.sample(Vec::new(), snapshot.taken.elapsed().as_secs_f64());
        families.family(
            "probe_interval",
            Kind::Gauge,
            Some(Unit::Seconds),
            "How often the daemon probes (`[probe] interval_seconds`).",
        );
        families.sample(Vec::new(), snapshot.estate.probe_interval_seconds);
        gather::estate_families(snapshot, journal, &mut families)?;
    }
    // The lock is held while the journal is read: two scrapes count the same events once.
    let mut tally = tally
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let later = journal.tally_events_after(tally.through)?;
    tally.add(later);
    let failovers = journal.failover_counts()?;
    let clusters: Vec<String> = match snapshot {
        Some(snapshot) => snapshot
            .estate
            .clusters
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect(),
        None => failovers.keys().cloned().collect(),
    };
    counters::counter_families(&tally, &failovers, &clusters, &mut families);
    Ok(families)
}

/// Whether the scraper asked for OpenMetrics (`Accept: application/openmetrics-text…`).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"))
}

/// `registry` in the format asked for, and its content type.
fn encode(registry: &Registry, openmetrics: bool) -> Result<(String, &'static str), ApiError> {
    let mut text = String::new();
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut text, registry).map(|()| OPENMETRICS)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
            .map(|()| prometheus_client::encoding::prometheus_text::CONTENT_TYPE)
    };
    let content_type = encoded.map_err(|_| {
        ApiError::from(CliError::Internal {
            message: "the metrics could not be encoded (a bug in hadome: please report it)"
                .to_owned(),
            hint: None,
        })
    })?;
    Ok((text, content_type))
}

/// `GET /metrics`.
pub(super) async fn scrape(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = shared.latest();
    let tally = Arc::clone(&shared.metrics.tally);
    let families = shared
        .with_journal(move |journal| gather(snapshot.as_deref(), journal, &tally))
        .await?;
    let registry = shared.metrics.registry(families);
    let (text, content_type) = encode(&registry, wants_openmetrics(&headers))?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
