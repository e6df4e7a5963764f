//! `GET /`: the dashboard, one server-rendered page that refreshes itself (issue 16), for a
//! person at 3 a.m.: each cluster's members and the supervisor's state, the open findings with
//! their fixes, budgets and pauses, the last actions with their steps and outcomes, and each
//! backup's trust.
//!
//! It is built from the daemon's latest pass (never a pass of its own: the page shows what the
//! daemon saw and decided), through the same builders as `hadome status` and `hadome check`
//! (`views::status`, `interlock::check`), and from the journal (intents, budgets). The daemon's
//! passes do not read backups, hosts, etcd members or routes: the page lists the backups itself
//! (`backups.rs`), and leaves the others to `hadome check`, saying so.
//!
//! Files: `render.rs` (the page and the clusters), `sections.rs` (findings, actions, backups),
//! `html.rs` (escaping, tones, times), `backups.rs`, `tests.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hadome_core::fact::{Facts, Timestamp};
use hadome_core::finding::Finding;
use hadome_core::interlock;
use hadome_core::supervise::ClusterReport;
use hadome_journal::{IntentRecord, Journal, JournalError, KIND_INTENT};
use serde_json::Value;

use super::{Shared, Snapshot};
use crate::error::CliError;
use crate::views::Seen;

mod backups;
mod html;
mod render;
mod sections;
#[cfg(test)]
mod tests;

/// How far back the page lists actions (open ones are listed whatever their age).
const ACTIONS_SHOWN_MS: i64 = 24 * 3600 * 1000;
/// How many actions it lists at most, newest first.
const MAX_ACTIONS: usize = 12;
/// The shortest refresh: a page reloaded faster than this is work for no reader.
const MIN_REFRESH_SECONDS: u64 = 2;

/// Everything the page shows, gathered in one go from one pass and the journal.
pub(super) struct Board {
    /// The estate file the daemon reads.
    pub(super) config: PathBuf,
    /// When the pass's facts were judged, and how long ago that is.
    pub(super) observed_at: Timestamp,
    pub(super) age_seconds: f64,
    pub(super) pass_seconds: f64,
    pub(super) refresh_seconds: u64,
    /// `hadome status --json`'s document (members, lease, holds, pauses, escalations, backups).
    pub(super) status: Value,
    /// The supervisor's report of each cluster.
    pub(super) reports: Vec<ClusterReport>,
    /// `check`'s findings on what the page covers, worst first.
    pub(super) findings: Vec<Finding>,
    /// Each cluster's budgets, by cluster name.
    pub(super) budgets: BTreeMap<String, Budgets>,
    /// The last actions, newest first.
    pub(super) actions: Vec<ActionShown>,
    /// What the daemon's passes do not read, in words (`hosts`, `etcd members` …).
    pub(super) unobserved: Vec<&'static str>,
}

/// A cluster's budgets: what the daemon did within the window, against what it may do.
pub(super) struct Budgets {
    pub(super) window_seconds: f64,
    /// Failovers of the cluster.
    pub(super) failovers: Count,
    /// Per member: its restarts and its rebuilds.
    pub(super) members: BTreeMap<String, (Count, Count)>,
}

/// What the daemon did within a budget's window, and what it may do.
#[derive(Clone, Copy)]
pub(super) struct Count {
    pub(super) done: u32,
    pub(super) allowed: u32,
}

/// One intent as the page lists it.
pub(super) struct ActionShown {
    /// The action's name (`promote`, `rebuild` …) and target, from its intent event.
    pub(super) name: String,
    pub(super) target: String,
    pub(super) record: IntentRecord,
}

/// `GET /`.
pub(super) async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let Some(snapshot) = shared.latest() else {
        return Html(render::waiting(MIN_REFRESH_SECONDS)).into_response();
    };
    let mut facts = snapshot.facts.clone();
    if !snapshot.estate.backups.is_empty() || !snapshot.estate.snapshots.is_empty() {
        let (backups, storage) = backups::observe(&snapshot.estate).await;
        facts.backups = backups;
        facts.storage.extend(storage);
    }
    let config = shared.config.clone();
    let gathered = shared
        .with_journal(move |journal| gather(&snapshot, &facts, journal, &config))
        .await;
    match gathered {
        Ok(board) => Html(render::page(&board)).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(render::failed(&error.to_string(), MIN_REFRESH_SECONDS)),
        )
            .into_response(),
    }
}

/// The page's content: `snapshot` judged on `facts` (its own, with the backups listed), and what
/// the journal says.
pub(super) fn gather(
    snapshot: &Snapshot,
    facts: &Facts,
    journal: &Journal,
    config: &Path,
) -> Result<Board, CliError> {
    let estate = &snapshot.estate;
    let seen = Seen {
        estate,
        facts,
        history: &snapshot.history,
        now: snapshot.now,
        journal,
    };
    let status = crate::views::status(&seen)?.json;
    let covered = |subject: &str| {
        estate.instance(subject).is_some()
            || estate.backup(subject).is_some()
            || estate
                .clusters
                .iter()
                .any(|cluster| cluster.name == subject)
            || estate.snapshots.iter().any(|taken| taken.name == subject)
    };
    let findings = interlock::check(estate, facts, &snapshot.history, snapshot.now)
        .into_iter()
        .filter(|finding| covered(&finding.subject))
        .collect();
    let mut unobserved = Vec::new();
    if !estate.hosts.is_empty() {
        unobserved.push("hosts");
    }
    if !estate.etcd_members.is_empty() {
        unobserved.push("etcd members");
    }
    if !estate.web.routes.is_empty()
        || !estate.web.services.is_empty()
        || !estate.web.nginx.is_empty()
    {
        unobserved.push("routes, services and nginx");
    }
    Ok(Board {
        config: config.to_owned(),
        observed_at: snapshot.now,
        age_seconds: snapshot.taken.elapsed().as_secs_f64(),
        pass_seconds: snapshot.pass_seconds,
        refresh_seconds: (estate.probe_interval_seconds.ceil() as u64).max(MIN_REFRESH_SECONDS),
        status,
        reports: snapshot.reports.clone(),
        findings,
        budgets: budgets(estate, journal, snapshot.now)?,
        actions: actions(journal, snapshot.now)?,
        unobserved,
    })
}

/// Each cluster's budgets: what the daemon spent, counted as the daemon counts it
/// (`journaled::budget_state`: its own intents within the window, since the target's last
/// `hadome ack`), against what it may do.
fn budgets(
    estate: &hadome_core::estate::Estate,
    journal: &Journal,
    now: Timestamp,
) -> Result<BTreeMap<String, Budgets>, JournalError> {
    let (_, spent) = crate::daemon::journaled::budget_state(journal, estate, now)?;
    let done = |map: &BTreeMap<String, u32>, name: &str| map.get(name).copied().unwrap_or(0);
    let mut all = BTreeMap::new();
    for cluster in &estate.clusters {
        let budget = &cluster.automation.budget;
        let members = cluster
            .members
            .iter()
            .map(|member| {
                let restarts = Count {
                    done: done(&spent.restarts, member),
                    allowed: budget.restarts_per_target,
                };
                let rebuilds = Count {
                    done: done(&spent.rebuilds, member),
                    allowed: budget.rebuilds_per_target,
                };
                (member.clone(), (restarts, rebuilds))
            })
            .collect();
        all.insert(
            cluster.name.clone(),
            Budgets {
                window_seconds: budget.window_seconds,
                failovers: Count {
                    done: done(&spent.failovers, &cluster.name),
                    allowed: budget.failovers,
                },
                members,
            },
        );
    }
    Ok(all)
}

/// The intents of the last day and every open one, newest first, at most [`MAX_ACTIONS`].
fn actions(journal: &Journal, now: Timestamp) -> Result<Vec<ActionShown>, JournalError> {
    let mut named: BTreeMap<i64, (String, String)> = BTreeMap::new();
    for event in journal.events_since(Timestamp(now.0 - ACTIONS_SHOWN_MS))? {
        if event.kind != KIND_INTENT {
            continue;
        }
        let Some(id) = event.body["intent"].as_i64() else {
            continue;
        };
        let word = |key: &str| event.body["action"][key].as_str().unwrap_or("").to_owned();
        named.insert(id, (word("name"), word("target")));
    }
    for open in journal.open_intents()? {
        named
            .entry(open.id)
            .or_insert((open.action_name, open.target));
    }
    let mut shown = Vec::new();
    for (id, (name, target)) in named.into_iter().rev().take(MAX_ACTIONS) {
        if let Some(record) = journal.intent(id)? {
            shown.push(ActionShown {
                name,
                target,
                record,
            });
        }
    }
    Ok(shown)
}
