//! `replication-stalled` (incidents A and B): a standby that is up but not replicating.
//!
//! A standby MUST be reported when, while its cluster has a primary that answers, its WAL receiver
//! is not streaming; when it streams from a standby that is itself stalled (a cascade is as stale
//! as its feeder); or when a replication slot it relies on is `lost`, or reports a `wal_status`
//! hadome does not know (it may be lost; it is reported, but proves nothing). The finding SHOULD name the
//! cause it can prove: the WAL segment it needs is gone from every copy ahead of it, or its
//! history diverged from the primary's (it holds writes the primary lacks), so it can never catch
//! up. A streaming standby further behind than `max_replication_lag_bytes` is a warning.
//! Such a copy is never a source for a rebuild, nor a candidate for promotion.

use crate::fact::{InstanceState, ReplicationSlot, WalStatus};
use crate::finding::{human_bytes, Finding, Severity};
use crate::interlock::view::View;
use crate::position::PositionOrder;
use crate::rule::REPLICATION_STALLED;

/// Why `instance` is stalled, when it is (a critical reason), or lagging (a warning).
pub(crate) fn stall(view: &View, instance: &str) -> Option<(Severity, String)> {
    stall_depth(view, instance, 0)
}

/// Whether `instance` is stalled (critically).
pub(crate) fn is_stalled(view: &View, instance: &str) -> bool {
    matches!(stall(view, instance), Some((Severity::Deny, _)))
}

fn stall_depth(view: &View, instance: &str, depth: usize) -> Option<(Severity, String)> {
    let state = view.fresh(instance)?;
    if !state.in_recovery || depth > 8 {
        return None;
    }
    let cluster = view.cluster_of(instance)?;
    let primaries = view.live_primaries(cluster);
    let streaming = view.streams(instance);

    if !streaming {
        // With no primary answering, a standby that lost its stream is the failure's effect, not a stall.
        let cause = wal_gone(view, instance, state).or_else(|| diverged(view, instance, state));
        if primaries.is_empty() && cause.is_none() {
            return None;
        }
        let receiver = match &state.wal_receiver {
            Some(receiver) => format!("its WAL receiver is `{}`", receiver.status.as_str()),
            None => "no WAL receiver runs".to_owned(),
        };
        let mut message = format!("`{instance}` is up but not streaming: {receiver}");
        if let Some(at) = state.last_replay_at {
            message.push_str(&format!(
                "; its last replayed commit is from {}",
                view.ago(at)
            ));
        }
        message.push_str(&format!("; it stands at {}", state.position));
        if let Some(cause) = cause {
            message.push_str(&format!("; {cause}"));
        }
        return Some((Severity::Deny, message));
    }

    if let Some(feeder) = view.feeder_of(instance) {
        if let Some((Severity::Deny, _)) = stall_depth(view, feeder, depth + 1) {
            return Some((
                Severity::Deny,
                format!(
                    "`{instance}` streams from `{feeder}`, which is stalled: it is as stale as its feeder, at {}",
                    state.position
                ),
            ));
        }
    }

    if let Some(lost) = lost_slot(view, instance, state) {
        return Some((Severity::Deny, lost));
    }
    if let Some(unknown) = unknown_slot(view, instance, state) {
        return Some((Severity::Deny, unknown));
    }

    if let Some(primary) = primaries.first().and_then(|name| view.fresh(name)) {
        if primary.position.timeline == state.position.timeline {
            let lag = primary.position.lsn.bytes_after(state.position.lsn);
            if lag > cluster.max_replication_lag_bytes {
                return Some((
                    Severity::Warn,
                    format!(
                        "`{instance}` streams but is {} behind `{}` (bound: {})",
                        human_bytes(lag),
                        primaries[0],
                        human_bytes(cluster.max_replication_lag_bytes)
                    ),
                ));
            }
        }
    }
    None
}

/// Whether standby `instance` can never catch up as it is, for a cause the facts prove: the WAL
/// it needs next was removed from the primary, its history diverged from the primary's, or a
/// replication slot it relies on is lost. A
/// standby that merely has no WAL receiver now (reconnecting after its primary restarted, or
/// after a blip) is stalled for `check`, but not proven lost: the daemon waits before it
/// rebuilds such a copy (`stall_seconds`).
pub(crate) fn cannot_catch_up(view: &View, instance: &str) -> bool {
    let Some(state) = view.fresh(instance).filter(|state| state.in_recovery) else {
        return false;
    };
    (!view.streams(instance)
        && (wal_gone(view, instance, state).is_some() || diverged(view, instance, state).is_some()))
        || lost_slot(view, instance, state).is_some()
}

/// The cause of a stall, when the standby's history forked from the live primary's: each holds
/// writes the other lacks, so it can never stream from that primary again (a rebuild would
/// discard its own writes: `overwrite-older` asks a person first).
fn diverged(view: &View, instance: &str, state: &InstanceState) -> Option<String> {
    let cluster = view.cluster_of(instance)?;
    view.live_primaries(cluster).into_iter().find_map(|primary| {
        let theirs = &view.fresh(primary)?.position;
        (state.position.compare(theirs) == PositionOrder::Divergent).then(|| {
            let fork = state
                .position
                .fork_point(theirs)
                .map_or(String::new(), |(timeline, lsn)| {
                    format!(" after {lsn} on timeline {timeline}")
                });
            format!(
                "its history diverged from the primary `{primary}`'s{fork}: it holds writes `{primary}` lacks, so it can never stream from it again"
            )
        })
    })
}

/// The replication slot `instance` relies on, on any member, when its `wal_status` is `lost`.
fn lost_slot(view: &View, instance: &str, state: &InstanceState) -> Option<String> {
    let (member, slot) = slot_where(view, instance, state, WalStatus::is_lost)?;
    Some(format!(
        "`{instance}`'s replication slot `{}` on `{member}` is lost: the WAL it needs was removed",
        slot.name
    ))
}

/// The replication slot `instance` relies on, on any member, when its `wal_status` is a word
/// this version of hadome does not know. Its WAL may be gone, so `check` reports it and the
/// copy is no source for a rebuild nor a candidate for promotion; but nothing is proven, so it
/// is no cause to rebuild the copy at once ([`cannot_catch_up`]).
fn unknown_slot(view: &View, instance: &str, state: &InstanceState) -> Option<String> {
    let (member, slot) = slot_where(view, instance, state, WalStatus::is_unknown)?;
    let status = slot.wal_status.as_ref().map_or("", WalStatus::as_str);
    Some(format!(
        "`{instance}`'s replication slot `{}` on `{member}` reports `wal_status` `{status}`, which this version of hadome does not know: the WAL it needs may be gone",
        slot.name
    ))
}

/// The first replication slot `instance` relies on, on any member of its cluster, whose
/// `wal_status` satisfies `status`, with that member: the slot its WAL receiver names, or the
/// one named after its `application_name`.
fn slot_where<'a>(
    view: &View<'a>,
    instance: &str,
    state: &InstanceState,
    status: fn(&WalStatus) -> bool,
) -> Option<(&'a str, &'a ReplicationSlot)> {
    let cluster = view.cluster_of(instance)?;
    let slot_name = view
        .estate
        .instance(instance)
        .map(|i| i.application_name.replace('-', "_"));
    let receiver_slot = state
        .wal_receiver
        .as_ref()
        .and_then(|receiver| receiver.slot_name.clone());
    cluster.members.iter().find_map(|member| {
        let upstream = view.fresh(member)?;
        upstream.slots.iter().find_map(|slot| {
            let mine = Some(&slot.name) == receiver_slot.as_ref()
                || Some(&slot.name) == slot_name.as_ref();
            (mine && slot.wal_status.as_ref().is_some_and(status))
                .then_some((member.as_str(), slot))
        })
    })
}

/// The cause of a stall, when it can be proven: the primary has recycled the WAL segment the
/// standby needs next. When no other copy ahead of the standby still holds that segment either,
/// it can never catch up; copies that still hold it (a standby recycles at its next restartpoint)
/// are named instead of claiming "never".
fn wal_gone(view: &View, instance: &str, state: &InstanceState) -> Option<String> {
    let cluster = view.cluster_of(instance)?;
    let segment_size = state.wal_segment_size_bytes.max(1);
    let needed = state.position.lsn.0 / segment_size;
    let primary = *view.live_primaries(cluster).first()?;
    let primary_oldest = view.fresh(primary)?.oldest_wal_segment?;
    if primary_oldest <= needed {
        return None;
    }
    let holders: Vec<String> = cluster
        .members
        .iter()
        .filter(|member| member.as_str() != instance && member.as_str() != primary)
        .filter_map(|member| {
            let other = view.fresh(member)?;
            let ahead = View::at_or_ahead(&other.position, &state.position)
                && other.position != state.position;
            (ahead
                && other
                    .oldest_wal_segment
                    .is_some_and(|oldest| oldest <= needed))
            .then(|| format!("`{member}`"))
        })
        .collect();
    let cause = format!(
        "the WAL it needs next (segment {needed:#X}) was removed from the primary `{primary}` (it keeps segments from {primary_oldest:#X})"
    );
    Some(if holders.is_empty() {
        format!("{cause}; no copy ahead of it holds it any more: it can never catch up")
    } else {
        format!(
            "{cause}; only {} still holds it, until its next restartpoint",
            holders.join(", ")
        )
    })
}

/// `check`: every stalled or lagging standby.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for instance in &view.estate.instances {
        if let Some((severity, message)) = stall(view, &instance.name) {
            let alternative = (severity == Severity::Deny).then(|| {
                let source = view.cluster_of(&instance.name).and_then(|cluster| {
                    view.live_primaries(cluster)
                        .first()
                        .map(|name| (*name).to_owned())
                });
                match source {
                    Some(primary) => format!(
                        "rebuild `{}` from `{primary}` (hadome preserves its data dir first)",
                        instance.name
                    ),
                    None => format!(
                        "rebuild `{}` from its cluster's primary once one answers",
                        instance.name
                    ),
                }
            });
            findings.push(Finding {
                rule: REPLICATION_STALLED,
                severity,
                subject: instance.name.clone(),
                message,
                alternative,
            });
        }
    }
    findings
}
