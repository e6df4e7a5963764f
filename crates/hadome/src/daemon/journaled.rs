//! The daemon's journal on tokio's blocking pool ([`Journaled`]: SQLite calls are short, but they
//! are blocking I/O), and what each pass reads from it for the supervisor: the clusters a person's
//! `hadome run` holds, the paused targets, and the budgets spent; and each step and outcome of an
//! automated intent, logged and journaled.

use std::collections::{BTreeMap, BTreeSet};

use hadome_core::estate::Estate;
use hadome_core::fact::Timestamp;
use hadome_core::supervise::Spent;
use hadome_journal::{Journal, JournalError};

use super::{Daemon, ACTOR};
use crate::clock::wall_clock;
use crate::error::CliError;

pub(crate) use crate::journal_pool::Journaled;

impl Daemon {
    /// The clusters a person's `hadome run` holds at `now`, with its holder (the journal's hold
    /// leases, or etcd's hold keys: [`crate::coordination`]).
    pub(super) async fn held(&self, now: Timestamp) -> Result<BTreeMap<String, String>, CliError> {
        let clusters: Vec<String> = self
            .estate
            .clusters
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect();
        self.coordinator.held(&self.journal, clusters, now).await
    }

    pub(super) async fn budget_state(
        &self,
        now: Timestamp,
    ) -> Result<(BTreeSet<String>, Spent), CliError> {
        let estate = self.estate.clone();
        self.journal
            .call(move |journal| budget_state(journal, &estate, now))
            .await
    }
}

/// The paused targets, and what the daemon's automation spent of each budget at `now`: its own
/// intents within each cluster's window, counted since the target's last ack. The supervisor
/// reads it each pass; `/metrics` shows what is left (`budget` rule).
pub(crate) fn budget_state(
    journal: &Journal,
    estate: &Estate,
    now: Timestamp,
) -> Result<(BTreeSet<String>, Spent), JournalError> {
    let paused: BTreeSet<String> = journal
        .paused()?
        .into_iter()
        .map(|pause| pause.target)
        .collect();
    let mut spent = Spent::default();
    for cluster in &estate.clusters {
        let window = Timestamp(now.0 - (cluster.automation.budget.window_seconds * 1000.0) as i64);
        let since = |target: &str| -> Result<Timestamp, JournalError> {
            Ok(journal
                .last_ack(target)?
                .map_or(window, |ack| ack.max(window)))
        };
        for member in &cluster.members {
            let from = since(member)?;
            spent.restarts.insert(
                member.clone(),
                journal.count_intents(ACTOR, "restart", &[member], from)?,
            );
            spent.rebuilds.insert(
                member.clone(),
                journal.count_intents(ACTOR, "rebuild", &[member], from)?,
            );
        }
        let members: Vec<&str> = cluster.members.iter().map(String::as_str).collect();
        let from = since(&cluster.name)?;
        spent.failovers.insert(
            cluster.name.clone(),
            journal.count_intents(ACTOR, "promote", &members, from)?,
        );
    }
    Ok((paused, spent))
}

impl Daemon {
    /// Logs one step of an intent and journals it.
    pub(super) async fn step(
        &self,
        intent: i64,
        step: &str,
        ok: bool,
        detail: &str,
    ) -> Result<(), CliError> {
        // The step's sentence is the message's (tests grep it); the fields say which intent.
        if ok {
            tracing::info!(intent, outcome = "done", "  done {step}: {detail}");
        } else {
            tracing::error!(intent, outcome = "failed", "  FAILED {step}: {detail}");
        }
        let (step, detail) = (step.to_owned(), detail.to_owned());
        self.journal
            .call(move |journal| journal.record_step(intent, wall_clock(), &step, ok, &detail))
            .await
    }

    /// Logs the outcome of an intent and journals it.
    pub(super) async fn close(&self, intent: i64, ok: bool, detail: &str) -> Result<(), CliError> {
        if ok {
            tracing::info!(intent, outcome = "done", "intent #{intent}: {detail}");
        } else {
            tracing::error!(intent, outcome = "failed", "intent #{intent}: {detail}");
        }
        let detail = detail.to_owned();
        self.journal
            .call(move |journal| journal.record_outcome(intent, wall_clock(), ok, &detail))
            .await
    }
}
