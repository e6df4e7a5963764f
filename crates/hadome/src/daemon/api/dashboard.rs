//! `GET /`: the dashboard, one server-rendered page that refreshes itself.
//! (A first cut: the full page follows.)

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::Shared;

/// `GET /`.
pub(super) async fn page(State(shared): State<Arc<Shared>>) -> Html<String> {
    let instances = shared
        .latest()
        .map_or(0, |snapshot| snapshot.estate.instances.len());
    Html(format!(
        "<!doctype html><title>hadome</title><p>{instances} instance(s)</p>"
    ))
}
