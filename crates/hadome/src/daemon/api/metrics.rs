//! `GET /metrics`: the estate and the daemon as Prometheus metrics (OpenMetrics text).
//! (A first cut: the full set follows.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;

use super::Shared;

/// The daemon's own measurements, fed after every pass.
pub(crate) struct Metrics {}

impl Metrics {
    pub(super) fn new() -> Metrics {
        Metrics {}
    }

    /// One pass: how long it took, and each instance's probe.
    pub(super) fn observe_pass(&self, _pass_seconds: f64, _probes: &BTreeMap<String, Duration>) {}
}

/// `GET /metrics`.
pub(super) async fn scrape(State(_shared): State<Arc<Shared>>) -> impl IntoResponse {
    "# EOF\n"
}
