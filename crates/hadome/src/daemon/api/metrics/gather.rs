//! The estate's metrics, gathered at scrape time from the daemon's latest pass ([`Snapshot`]) and
//! the journal: each instance's role, lag and last answer and each cluster's state, leases and
//! pauses as `hadome status` computes them (`views::status`, read from its JSON document, so the
//! two never disagree); the open findings (the core's `check`); the budgets left (the daemon's own
//! `budget_state`); the backups; and the facts of etcd members, hosts, routes and services where
//! the pass has them (`facts.rs`).

use std::collections::BTreeMap;

use hadome_core::estate::Estate;
use hadome_core::interlock;
use hadome_core::supervise::ClusterState;
use hadome_journal::Journal;
use prometheus_client::registry::Unit;
use serde_json::Value;

use super::families::{Families, Kind, Labels};
use super::Snapshot;
use crate::daemon::journaled::budget_state;
use crate::error::CliError;

/// `hadome status`'s roles, in the order their samples are written.
const ROLES: [&str; 4] = ["primary", "standby", "unreachable", "unknown"];

/// Every state the supervisor reports a cluster in, each written as one sample (1 for the
/// cluster's state, 0 for the others) so that an alert on a state sees it end.
fn cluster_states() -> [ClusterState; 11] {
    // The match has no wildcard: a new state fails to compile here until it is listed.
    let listed = |state: ClusterState| match state {
        ClusterState::Healthy
        | ClusterState::Overloaded
        | ClusterState::Suspect
        | ClusterState::Restarting
        | ClusterState::FailingOver
        | ClusterState::NoCandidate
        | ClusterState::Paused
        | ClusterState::NotActor
        | ClusterState::Held
        | ClusterState::Manual
        | ClusterState::NoPrimary => state,
    };
    [
        ClusterState::Healthy,
        ClusterState::Overloaded,
        ClusterState::Suspect,
        ClusterState::Restarting,
        ClusterState::FailingOver,
        ClusterState::NoCandidate,
        ClusterState::Paused,
        ClusterState::NotActor,
        ClusterState::Held,
        ClusterState::Manual,
        ClusterState::NoPrimary,
    ]
    .map(listed)
}

pub(super) fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs
        .into_iter()
        .map(|(key, value)| (key, value.to_owned()))
        .collect()
}

pub(super) fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

/// The estate's families, from `snapshot` and `journal`.
pub(super) fn estate_families(
    snapshot: &Snapshot,
    journal: &Journal,
    families: &mut Families,
) -> Result<(), CliError> {
    let status = crate::views::status(&snapshot.seen(journal))?.json;
    let clusters = status["clusters"].as_array().cloned().unwrap_or_default();
    instances(&clusters, families);
    self::clusters(snapshot, &clusters, families);
    findings(snapshot, families);
    budgets(snapshot, journal, families)?;
    super::backups::backup_families(snapshot, &status["backups"], families);
    super::facts::fact_families(snapshot, families);
    Ok(())
}

/// Each member of each cluster, as `status` reports it.
fn instances(clusters: &[Value], families: &mut Families) {
    // (cluster, member) pairs with their status document, in the estate's order.
    let members: Vec<(&str, &Value)> = clusters
        .iter()
        .flat_map(|cluster| {
            let name = cluster["name"].as_str().unwrap_or_default();
            cluster["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |member| (name, member))
        })
        .collect();
    let keyed = |cluster: &str, member: &Value| {
        labels([
            ("cluster", cluster),
            ("pg_instance", member["name"].as_str().unwrap_or_default()),
        ])
    };
    families.family(
        "instance_role",
        Kind::Gauge,
        None,
        "1 for the instance's role as the last pass saw it (primary, standby; unreachable: it did not answer but hadome knows its last position; unknown: never seen), 0 for the others.",
    );
    for (cluster, member) in &members {
        let role = member["role"].as_str().unwrap_or("unknown");
        for candidate in ROLES {
            let mut sample = keyed(cluster, member);
            sample.push(("role", candidate.to_owned()));
            families.sample(sample, flag(candidate == role));
        }
    }
    let numbers: [(&'static str, &str, Option<Unit>, &'static str); 4] = [
        (
            "instance_timeline",
            "timeline",
            None,
            "The timeline the instance writes (a primary) or has reached (a standby), as last known.",
        ),
        (
            "instance_last_answer_age",
            "last_seen_seconds_ago",
            Some(Unit::Seconds),
            "Seconds since the instance last answered a probe (0 when it answered the last pass).",
        ),
        (
            "replication_lag",
            "lag_bytes",
            Some(Unit::Bytes),
            "How many bytes of WAL a standby is behind its cluster's primary (standbys that answer, while the primary answers).",
        ),
        (
            "replication_lag",
            "lag_seconds",
            Some(Unit::Seconds),
            "How many seconds a standby's replay is behind its cluster's primary: 0 when caught up, else the age of its last replayed transaction.",
        ),
    ];
    for (name, key, unit, help) in numbers {
        families.family(name, Kind::Gauge, unit, help);
        for (cluster, member) in &members {
            if let Some(value) = member[key].as_f64() {
                families.sample(keyed(cluster, member), value);
            }
        }
    }
    families.family(
        "instance_streaming",
        Kind::Gauge,
        None,
        "1 when a standby's WAL receiver streams from its upstream, 0 when it does not (standbys that answer only).",
    );
    for (cluster, member) in &members {
        if let Some(streaming) = member["streaming"].as_bool() {
            families.sample(keyed(cluster, member), flag(streaming));
        }
    }
}

/// Each cluster: the supervisor's state and primary, who automates it, what is paused, and how
/// many failovers it had.
fn clusters(snapshot: &Snapshot, clusters: &[Value], families: &mut Families) {
    families.family(
        "cluster_state",
        Kind::Gauge,
        None,
        "1 for the state the daemon's supervisor reports the cluster in after the last pass, 0 for the others (docs/daemon.md).",
    );
    for report in &snapshot.reports {
        for state in cluster_states() {
            families.sample(
                labels([("cluster", &report.cluster), ("state", state.as_str())]),
                flag(state == report.state),
            );
        }
    }
    families.family(
        "cluster_primary",
        Kind::Gauge,
        None,
        "1 for the member the supervisor holds to be the cluster's primary (no sample: it knows none).",
    );
    for report in &snapshot.reports {
        if let Some(primary) = &report.primary {
            families.sample(
                labels([("cluster", &report.cluster), ("pg_instance", primary)]),
                1.0,
            );
        }
    }
    families.family(
        "cluster_lease_held",
        Kind::Gauge,
        None,
        "1 while a daemon holds the cluster's lease (it may act there), 0 when none does.",
    );
    for cluster in clusters {
        let name = cluster["name"].as_str().unwrap_or_default();
        let lease = &cluster["daemon"]["lease"];
        let held = lease.is_object() && lease["expired"] == Value::Bool(false);
        families.sample(labels([("cluster", name)]), flag(held));
    }
    families.family(
        "cluster_held_by_person",
        Kind::Gauge,
        None,
        "1 while a person's `hadome run` holds the cluster (the daemon takes no action there until it is done).",
    );
    for cluster in clusters {
        let name = cluster["name"].as_str().unwrap_or_default();
        let held = cluster["daemon"]["held_by"].is_object();
        families.sample(labels([("cluster", name)]), flag(held));
    }
    families.family(
        "automation_pauses",
        Kind::Gauge,
        None,
        "How many automation pauses are open on the cluster or its members (each lasts until `hadome ack TARGET`).",
    );
    for cluster in clusters {
        let name = cluster["name"].as_str().unwrap_or_default();
        let open = cluster["daemon"]["paused"].as_array().map_or(0, Vec::len);
        families.sample(labels([("cluster", name)]), open as f64);
    }
    families.family(
        "automation_pause_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since automation paused on the target (one sample per open pause; `hadome status` says why).",
    );
    for cluster in clusters {
        let name = cluster["name"].as_str().unwrap_or_default();
        for pause in cluster["daemon"]["paused"].as_array().into_iter().flatten() {
            let (Some(target), Some(at_ms)) = (pause["target"].as_str(), pause["at_ms"].as_i64())
            else {
                continue;
            };
            let age = ((snapshot.now.0 - at_ms) as f64 / 1000.0).max(0.0);
            families.sample(labels([("cluster", name), ("target", target)]), age);
        }
    }
}

/// The estate as far as the snapshot has facts for it: a part whose facts the pass did not read
/// is left out, so that `check` does not report it as unobserved (the daemon's passes probe
/// the instances only; `hadome check` and `GET /v1/check` read everything).
fn judged_estate(snapshot: &Snapshot) -> Estate {
    let facts = &snapshot.facts;
    let mut estate = snapshot.estate.clone();
    if facts.backups.is_empty() {
        estate.backups.clear();
    }
    if facts.storage.is_empty() {
        estate.snapshots.clear();
    }
    if facts.hosts.is_empty() {
        estate.hosts.clear();
    }
    if facts.members.is_empty() {
        estate.etcd_members.clear();
        estate.quorums.clear();
    }
    if facts.routes.is_empty() && facts.services.is_empty() && facts.nginx.is_empty() {
        estate.web = Default::default();
    }
    estate
}

/// The open findings of `check`, counted by rule, severity and subject.
fn findings(snapshot: &Snapshot, families: &mut Families) {
    let estate = judged_estate(snapshot);
    let findings = interlock::check(&estate, &snapshot.facts, &snapshot.history, snapshot.now);
    let mut counted: BTreeMap<(&str, &str, &str), u32> = BTreeMap::new();
    for finding in &findings {
        *counted
            .entry((finding.rule, finding.severity.as_str(), &finding.subject))
            .or_default() += 1;
    }
    families.family(
        "findings_open",
        Kind::Gauge,
        None,
        "Open findings of `hadome check` on the last pass's facts, by rule, severity (info, warn, needs-human, deny) and subject (docs/rules.md).",
    );
    for ((rule, severity, subject), count) in counted {
        families.sample(
            labels([("rule", rule), ("severity", severity), ("subject", subject)]),
            f64::from(count),
        );
    }
}

/// What is left of each budget of the daemon's automation (rule `budget`), and its limits.
fn budgets(
    snapshot: &Snapshot,
    journal: &Journal,
    families: &mut Families,
) -> Result<(), CliError> {
    let (_, spent) = budget_state(journal, &snapshot.estate, snapshot.now)?;
    // (cluster, target, action, limit, spent)
    let mut rows: Vec<(&str, &str, &'static str, u32, u32)> = Vec::new();
    for cluster in &snapshot.estate.clusters {
        let budget = &cluster.automation.budget;
        for member in &cluster.members {
            let used = |map: &BTreeMap<String, u32>| map.get(member).copied().unwrap_or(0);
            rows.push((
                &cluster.name,
                member,
                "restart",
                budget.restarts_per_target,
                used(&spent.restarts),
            ));
            rows.push((
                &cluster.name,
                member,
                "rebuild",
                budget.rebuilds_per_target,
                used(&spent.rebuilds),
            ));
        }
        rows.push((
            &cluster.name,
            &cluster.name,
            "failover",
            budget.failovers,
            spent.failovers.get(&cluster.name).copied().unwrap_or(0),
        ));
    }
    let keyed = |cluster: &str, target: &str, action: &str| {
        labels([("cluster", cluster), ("target", target), ("action", action)])
    };
    families.family(
        "automation_budget_remaining",
        Kind::Gauge,
        None,
        "How many more automated restarts, rebuilds (per instance) or failovers (per cluster) the daemon may do within the budget's window; at 0 it pauses and escalates instead (`hadome ack TARGET` starts the count again).",
    );
    for (cluster, target, action, limit, used) in &rows {
        families.sample(
            keyed(cluster, target, action),
            f64::from(limit.saturating_sub(*used)),
        );
    }
    families.family(
        "automation_budget_limit",
        Kind::Gauge,
        None,
        "The budget: how many automated restarts, rebuilds or failovers the estate file allows within the window.",
    );
    for (cluster, target, action, limit, _) in &rows {
        families.sample(keyed(cluster, target, action), f64::from(*limit));
    }
    families.family(
        "automation_budget_window",
        Kind::Gauge,
        Some(Unit::Seconds),
        "The sliding window the cluster's budgets count over.",
    );
    for cluster in &snapshot.estate.clusters {
        families.sample(
            labels([("cluster", &cluster.name)]),
            cluster.automation.budget.window_seconds,
        );
    }
    Ok(())
}
