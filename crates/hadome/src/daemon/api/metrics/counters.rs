//! The counters: what hadome decided and did, counted from the journal (`hadome-journal`'s
//! `tally.rs`), so they survive a restart of the daemon and include what a person's `hadome run`
//! and the API did. The events are counted once: each scrape reads those appended since the last.

use std::collections::BTreeMap;

use hadome_journal::EventTally;

use super::families::{Families, Kind};
use super::gather::labels;
use crate::actor::DAEMON;

/// Who did it, in one bounded word: `daemon` (automation), `api` (a bot through the API's token,
/// journaled as `api:NAME (hadome run)`) or `person` (anyone else's `hadome run`). The journal
/// keeps the full name; a label would grow with every new user.
pub(super) fn actor_kind(actor: &str) -> &'static str {
    if actor == DAEMON {
        "daemon"
    } else if actor.starts_with("api:") {
        "api"
    } else {
        "person"
    }
}

/// Sums `counts` after mapping each key with `key`, so that keys that map alike add up.
fn regroup<K, L: Ord>(counts: &BTreeMap<K, u64>, key: impl Fn(&K) -> L) -> BTreeMap<L, u64> {
    let mut grouped = BTreeMap::new();
    for (k, count) in counts {
        *grouped.entry(key(k)).or_default() += count;
    }
    grouped
}

/// The counter families, from `tally` (all events so far) and each cluster's failovers.
pub(super) fn counter_families(
    tally: &EventTally,
    failovers: &BTreeMap<String, u64>,
    clusters: &[String],
    families: &mut Families,
) {
    families.family(
        "verdicts",
        Kind::Counter,
        None,
        "Verdicts hadome gave on actions (`hadome ask`, `hadome run`, POST /v1/ask), by action and verdict (allow, allow-after, needs-human, deny).",
    );
    for ((action, verdict), count) in &tally.verdicts {
        families.sample(
            labels([("action", action), ("verdict", verdict)]),
            *count as f64,
        );
    }
    families.family(
        "actions",
        Kind::Counter,
        None,
        "Actions hadome set out to carry out (a journaled intent), by action and actor (daemon, person, api).",
    );
    let intents = regroup(&tally.intents, |(action, actor)| {
        (action.clone(), actor_kind(actor))
    });
    for ((action, actor), count) in &intents {
        families.sample(
            labels([("action", action), ("actor", actor)]),
            *count as f64,
        );
    }
    families.family(
        "action_outcomes",
        Kind::Counter,
        None,
        "Actions that ended, by action, actor and outcome (succeeded, failed); actions minus outcomes are under way or were interrupted.",
    );
    let outcomes = regroup(&tally.outcomes, |(action, actor, ok)| {
        (action.clone(), actor_kind(actor), *ok)
    });
    for ((action, actor, ok), count) in &outcomes {
        let outcome = if *ok { "succeeded" } else { "failed" };
        families.sample(
            labels([("action", action), ("actor", actor), ("outcome", outcome)]),
            *count as f64,
        );
    }
    families.family(
        "escalations",
        Kind::Counter,
        None,
        "Escalations to a person (each notified once), by cluster and the rule that raised it.",
    );
    for ((cluster, rule), count) in &tally.escalations {
        families.sample(
            labels([("cluster", cluster), ("rule", rule)]),
            *count as f64,
        );
    }
    families.family(
        "failovers",
        Kind::Counter,
        None,
        "Failovers the daemon started on the cluster (one per failover, whatever its end; its outcome is in action_outcomes_total{action=\"promote\"}).",
    );
    for cluster in clusters {
        let count = failovers.get(cluster).copied().unwrap_or(0);
        families.sample(labels([("cluster", cluster)]), count as f64);
    }
}
