//! `promote-eligibility` (incident B): promote only a standby that holds everything.
//!
//! Promoting `target` MUST be denied when: it is not a standby; another member answers as a
//! primary (two primaries); it is on an older timeline than its cluster reached; or it is behind
//! the last known primary position by more than `max_lag_on_failover_bytes` (0 by default) — the
//! finding gives the gap in bytes and in seconds, and names the divergence promoting it would
//! create. It is `needs-human` when hadome never saw the cluster's primary, or cannot compare.
//!
//! `check` warns ahead of a failure when the daemon could not fail over losslessly: a cluster with
//! `failover = "auto"` and `async_failover = "escalate"` whose primary acknowledges commits
//! without waiting for a member (`synchronous_standby_names` empty, `synchronous_commit` local or
//! off, a standby outside the estate named, a setting hadome cannot read). If that primary fails,
//! the daemon escalates instead of promoting ([`crate::sync_rep`], `docs/daemon.md`).

use crate::action::Action;
use crate::estate::{AsyncFailoverPolicy, FailoverPolicy};
use crate::finding::{human_bytes, human_duration, Finding, Severity};
use crate::interlock::replication_stalled;
use crate::interlock::view::View;
use crate::position::PositionOrder;
use crate::rule::PROMOTE_ELIGIBILITY;
use crate::sync_rep::{commit_wait, CommitWait};

/// `check`: the primaries whose failure the daemon would escalate rather than fail over, because
/// nothing would prove a standby holds every commit they acknowledged.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for cluster in &view.estate.clusters {
        if cluster.failover != FailoverPolicy::Auto
            || cluster.automation.async_failover != AsyncFailoverPolicy::Escalate
            || cluster.members.len() < 2
        {
            continue;
        }
        let escalates = "if it fails, the daemon escalates instead of failing over (async_failover = \"escalate\")";
        for primary in view.live_primaries(cluster) {
            let Some(state) = view.fresh(primary) else {
                continue;
            };
            let settings = &state.synchronous;
            let read = settings.standby_names.is_some() && settings.commit.is_some();
            let (message, alternative) = match commit_wait(settings) {
                CommitWait::Nobody(why) => {
                    // The setting that would make a failover provable: any one of the members
                    // that stream from it directly (a cascade is never synchronous), else of
                    // the others.
                    let others: Vec<&str> = cluster
                        .members
                        .iter()
                        .filter(|member| member.as_str() != primary)
                        .filter_map(|member| view.estate.instance(member))
                        .map(|instance| instance.application_name.as_str())
                        .collect();
                    let direct: Vec<&str> = others
                        .iter()
                        .copied()
                        .filter(|name| state.replication.iter().any(|peer| peer.application_name == *name))
                        .collect();
                    let others: Vec<String> = if direct.is_empty() { others } else { direct }
                        .iter()
                        .map(|name| format!("\"{}\"", name.replace('"', "\"\"")))
                        .collect();
                    (
                        format!("`{primary}` acknowledges commits without waiting for any standby ({why}): nothing would prove a standby holds the last of them, so {escalates}"),
                        format!("for a lossless failover, make `{primary}` wait for a member (synchronous_standby_names = 'ANY 1 ({})', synchronous_commit = on; commits then wait for one of them), or set async_failover = \"promote\" in [[cluster]] `{}` to accept losing its last commits", others.join(", "), cluster.name),
                    )
                }
                CommitWait::Unknown(why) if read => (
                    format!("what `{primary}` waits for before acknowledging a commit cannot be read ({why}), so {escalates}"),
                    "write synchronous_standby_names as PostgreSQL documents it (FIRST n (…), ANY n (…) or a list)".to_owned(),
                ),
                CommitWait::Unknown(_) => continue,
                CommitWait::Standbys(names) => {
                    let outside: Vec<&str> = names
                        .iter()
                        .filter(|name| name.as_str() != "*")
                        .filter(|name| {
                            !cluster.members.iter().any(|member| {
                                view.estate.instance(member).is_some_and(|instance| {
                                    instance.application_name.eq_ignore_ascii_case(name)
                                })
                            })
                        })
                        .map(String::as_str)
                        .collect();
                    if outside.is_empty() {
                        continue;
                    }
                    (
                        format!(
                            "`{primary}`'s synchronous_standby_names names `{}`, and no member of `{}` has that application_name: a standby outside the estate may hold commits the members lack, so {escalates}",
                            outside.join("`, `"),
                            cluster.name
                        ),
                        "name only the cluster's members there (by their application_name), or add that standby to the estate".to_owned(),
                    )
                }
            };
            findings.push(Finding {
                rule: PROMOTE_ELIGIBILITY,
                severity: Severity::Warn,
                subject: primary.to_owned(),
                message,
                alternative: Some(alternative),
            });
        }
    }
    findings
}

/// `ask`: may `target` become the primary?
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let Action::Promote { target } = action else {
        return Vec::new();
    };
    let deny = |message: String, alternative: Option<String>| Finding {
        rule: PROMOTE_ELIGIBILITY,
        severity: Severity::Deny,
        subject: target.clone(),
        message,
        alternative,
    };
    let Some(state) = view.fresh(target) else {
        return Vec::new(); // stale-facts
    };
    let Some(cluster) = view.cluster_of(target) else {
        return vec![deny(format!("`{target}` belongs to no cluster"), None)];
    };
    if !state.in_recovery {
        return vec![deny(
            format!("`{target}` is not a standby: it already accepts writes"),
            None,
        )];
    }
    let mut findings = Vec::new();
    let primaries: Vec<&str> = view
        .live_primaries(cluster)
        .into_iter()
        .filter(|name| name != target)
        .collect();
    if !primaries.is_empty() {
        findings.push(deny(
            format!(
                "`{}` answers and accepts writes: promoting `{target}` makes two primaries",
                primaries.join("`, `")
            ),
            Some(format!(
                "stop and fence `{}` first (a switchover)",
                primaries.join("`, `")
            )),
        ));
    }
    if replication_stalled::is_stalled(view, target) {
        if let Some((_, reason)) = replication_stalled::stall(view, target) {
            findings.push(deny(reason, None));
        }
    }
    if let Some((timeline, leader)) = view.newest_timeline(cluster) {
        if timeline > state.position.timeline {
            findings.push(deny(
                format!(
                    "`{target}` is on timeline {}, but `{leader}` reached timeline {timeline}: `{target}` never followed the switch",
                    state.position.timeline
                ),
                Some(format!("rebuild `{target}` from `{leader}` once it answers")),
            ));
        }
    }
    let Some((primary, last)) = view
        .last_known_primary(cluster)
        .filter(|(name, _)| name != target)
    else {
        findings.push(Finding {
            rule: PROMOTE_ELIGIBILITY,
            severity: Severity::NeedsHuman,
            subject: target.clone(),
            message: format!("hadome never saw a primary of `{}`: it cannot tell whether `{target}` holds every acknowledged commit", cluster.name),
            alternative: None,
        });
        return findings;
    };
    let mine = &state.position;
    let theirs = last.position;
    let when = format!("seen {}", view.ago(last.seen_at));
    match mine.compare(theirs) {
        PositionOrder::Ahead | PositionOrder::Equal => {}
        PositionOrder::Behind => {
            let gap = theirs.lsn.bytes_after(mine.lsn);
            let seconds = match state.last_replay_at {
                Some(at) => format!(", {} of writes", human_duration(last.seen_at.seconds_since(at).max(0.0))),
                None => ", how many seconds of writes is unknown: it replayed no commit since it started".to_owned(),
            };
            let divergence = format!(
                "promoting it starts a new timeline from {} on timeline {}, diverging from `{primary}`'s {}: the {} written since could never be merged",
                mine.lsn,
                mine.timeline,
                if theirs.timeline == mine.timeline { "history".to_owned() } else { format!("timeline {}", theirs.timeline) },
                human_bytes(gap)
            );
            if gap > cluster.max_lag_on_failover_bytes {
                findings.push(deny(
                    format!(
                        "`{target}` is at {mine}, {} behind `{primary}`'s last known position {theirs} ({when}{seconds}); {divergence}",
                        human_bytes(gap)
                    ),
                    Some(format!("wait for `{primary}`, or rebuild `{target}` from it once it answers")),
                ));
            } else {
                findings.push(Finding {
                    rule: PROMOTE_ELIGIBILITY,
                    severity: Severity::Warn,
                    subject: target.clone(),
                    message: format!(
                        "`{target}` is {} behind `{primary}`'s last known position {theirs}, within max_lag_on_failover_bytes ({})",
                        human_bytes(gap),
                        human_bytes(cluster.max_lag_on_failover_bytes)
                    ),
                    alternative: None,
                });
            }
        }
        PositionOrder::Divergent => {
            let fork = mine
                .fork_point(theirs)
                .map_or(String::new(), |(timeline, lsn)| {
                    format!(" after {lsn} on timeline {timeline}")
                });
            findings.push(deny(
                format!("`{target}` at {mine} has diverged from `{primary}`'s last known {theirs}{fork} ({when})"),
                None,
            ));
        }
        PositionOrder::Incomparable => findings.push(Finding {
            rule: PROMOTE_ELIGIBILITY,
            severity: Severity::NeedsHuman,
            subject: target.clone(),
            message: format!(
                "hadome cannot compare `{target}` at {mine} with `{primary}`'s last known {theirs}"
            ),
            alternative: None,
        }),
    }
    findings
}
