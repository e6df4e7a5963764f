//! The state of etcd members, hosts, routes and services, where the pass has their facts.
//!
//! The daemon's passes probe the PostgreSQL instances only (reading a host over SSH or every
//! route costs more than a pass may spend: `api/facts.rs`), so today these families are written
//! with no sample; they fill in, with no change here, once a pass reads those facts. A family with
//! no sample says "not observed", never "down": nothing is made up for what was not looked at.

use hadome_core::host::HostOutcome;
use hadome_core::interlock::{judge_route, member_health, RouteVerdict};
use hadome_core::quorum::MemberOutcome;
use prometheus_client::registry::Unit;

use super::families::{Families, Kind};
use super::gather::{flag, labels};
use super::Snapshot;

/// The families of the facts other than the instances'.
pub(super) fn fact_families(snapshot: &Snapshot, families: &mut Families) {
    etcd_members(snapshot, families);
    let facts = &snapshot.facts;
    families.family(
        "host_up",
        Kind::Gauge,
        None,
        "1 when the host's facts were read on the last pass, 0 when reading them failed (no sample: the pass did not read them).",
    );
    for (host, probe) in &facts.hosts {
        let up = matches!(probe.outcome, HostOutcome::Answered(_));
        families.sample(labels([("host", host)]), flag(up));
    }
    families.family(
        "route_arrived",
        Kind::Gauge,
        None,
        "1 when the route's redirect chain arrived at its service on the last probe, 0 when it loops, lands elsewhere or does not arrive yet (no sample: not probed).",
    );
    for route in &snapshot.estate.web.routes {
        if let Some(probe) = facts.routes.get(&route.name) {
            let arrived = matches!(
                judge_route(&snapshot.estate, route, probe),
                RouteVerdict::Arrived { .. }
            );
            families.sample(labels([("route", &route.name)]), flag(arrived));
        }
    }
    families.family(
        "service_running",
        Kind::Gauge,
        None,
        "1 when the service's running_command said it runs, 0 when it said it does not (no sample: not asked, or the command failed).",
    );
    for (service, probe) in &facts.services {
        if let Ok(running) = probe.running {
            families.sample(labels([("service", service)]), flag(running));
        }
    }
}

/// Each etcd member the pass probed: whether it answered, whether the `quorum` rule judges it
/// healthy, whether it leads, and its database's size.
fn etcd_members(snapshot: &Snapshot, families: &mut Families) {
    let facts = &snapshot.facts;
    let health = if facts.members.is_empty() {
        Default::default()
    } else {
        member_health(&snapshot.estate, facts, snapshot.now)
    };
    families.family(
        "etcd_member_up",
        Kind::Gauge,
        None,
        "1 when the etcd member answered the last probe, 0 when it did not (no sample: not probed).",
    );
    for (member, probe) in &facts.members {
        let up = matches!(probe.outcome, MemberOutcome::Answered(_));
        families.sample(labels([("member", member)]), flag(up));
    }
    families.family(
        "etcd_member_healthy",
        Kind::Gauge,
        None,
        "1 when the `quorum` rule judges the member healthy (answered in time, no errors, follows a leader, caught up), 0 otherwise.",
    );
    for (member, judged) in &health {
        families.sample(
            labels([("quorum", &judged.quorum), ("member", member)]),
            flag(judged.healthy),
        );
    }
    families.family(
        "etcd_member_leader",
        Kind::Gauge,
        None,
        "1 when the member says it is its cluster's raft leader, 0 when it follows or knows none.",
    );
    for (member, probe) in &facts.members {
        if let MemberOutcome::Answered(state) = &probe.outcome {
            let leads = state.leader_id != 0 && state.leader_id == state.member_id;
            families.sample(labels([("member", member)]), flag(leads));
        }
    }
    families.family(
        "etcd_member_db_size",
        Kind::Gauge,
        Some(Unit::Bytes),
        "The size of the member's database, as it reported it.",
    );
    for (member, probe) in &facts.members {
        if let MemberOutcome::Answered(state) = &probe.outcome {
            families.sample(labels([("member", member)]), state.db_size_bytes as f64);
        }
    }
}
