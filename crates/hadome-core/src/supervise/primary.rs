//! The primary's side of a pass: a primary that answers (and any second one, fenced at once), or
//! none: how long it has been missing, whether its standbys agree it failed
//! (`primary-agreement`), a proven crash restarted in place, and the failover ordered within
//! budget on an eligible candidate (`promote-eligibility`).

use crate::estate::{AsyncFailoverPolicy, Cluster, CrashPolicy, FailoverPolicy};
use crate::fact::{FailureKind, KeepaliveSettings};
use crate::finding::human_duration;
use crate::interlock::View;
use crate::rule;
use crate::sync_rep::commit_wait;

use super::agreement::{standby_view, StandbyView};
use super::candidate::{choose_candidate, unproven_loss};
use super::standbys::care_for_standbys;
use super::watch::{
    error_of, escalate_once, failure_kind, pause, report, view, EscalationKey, Watch,
};
use super::{ClusterReport, ClusterState, Command, Escalation, FailoverPlan, Tick};

/// One cluster's pass.
pub(super) fn supervise(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    commands: &mut Vec<Command>,
) -> ClusterReport {
    if let Some(holder) = tick.held.get(&cluster.name) {
        // The person acts; what this daemon saw meanwhile must not be acted on later as if it
        // were a failure (the person stops and starts members on purpose).
        watch.missing_since = None;
        watch.restart_failed = false;
        watch.not_streaming_since.clear();
        watch.unseen_since.clear();
        return report(
            cluster,
            watch.leader.as_deref(),
            ClusterState::Held,
            format!(
                "`{holder}` holds `{}` for `hadome run`: this daemon observes only until that is done",
                cluster.name
            ),
        );
    }
    let view = view(tick);
    let live = view.live_primaries(cluster);
    let acting = cluster.failover == FailoverPolicy::Auto && tick.leases.contains(&cluster.name);
    if live.is_empty() {
        without_primary(watch, tick, cluster, acting, commands)
    } else {
        with_primary(watch, tick, cluster, &live, acting, commands)
    }
}

/// A primary answers: choose the one that leads (newest timeline, then the one hadome already
/// follows); any other is a second primary and is fenced at once.
fn with_primary(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    live: &[&str],
    acting: bool,
    commands: &mut Vec<Command>,
) -> ClusterReport {
    let view = view(tick);
    let leader = leading_primary(&view, live, watch.leader.as_deref());
    let Some(leader) = leader else {
        let message = format!(
            "`{}` all accept writes on the same timeline: hadome cannot tell which is the primary",
            live.join("`, `")
        );
        escalate_once(
            watch,
            commands,
            EscalationKey::TwoPrimaries(live.iter().map(|name| (*name).to_owned()).collect()),
            Escalation {
                cluster: cluster.name.clone(),
                subject: cluster.name.clone(),
                rule: rule::PROMOTE_ELIGIBILITY,
                message: message.clone(),
            },
        );
        return report(cluster, None, ClusterState::NoCandidate, message);
    };
    if watch.leader.as_deref() != Some(leader) {
        if let Some(old) = watch.leader.take() {
            if old != leader {
                watch.old_primaries.insert(old);
            }
        }
    }
    watch.leader = Some(leader.to_owned());
    watch.old_primaries.remove(leader);
    watch.missing_since = None;
    watch.restarted_at = None;
    watch.restart_failed = false;
    watch.escalated.retain(|key| !key.about_the_primary());
    if let Some(state) = view.fresh(leader) {
        let listed: Vec<String> = state
            .replication
            .iter()
            .filter(|peer| peer.sync_state.is_synchronous())
            .map(|peer| peer.application_name.clone())
            .collect();
        watch.commit_wait = Some(commit_wait(&state.synchronous).with_listed(&listed));
        watch.direct = state
            .replication
            .iter()
            .map(|peer| peer.application_name.clone())
            .collect();
        for name in &watch.direct {
            watch.cascaded.remove(name);
        }
        watch.keepalive = Some(state.keepalive);
    }
    commands.push(Command::Heartbeat {
        instance: leader.to_owned(),
    });
    let mut detail = format!("`{leader}` is the primary and answers");
    for other in live.iter().filter(|name| **name != leader) {
        let reason = format!(
            "`{other}` accepts writes beside the primary `{leader}`{}: a second primary",
            timeline_note(&view, other, leader)
        );
        if acting {
            commands.push(Command::Fence {
                cluster: cluster.name.clone(),
                target: (*other).to_owned(),
                reason: reason.clone(),
            });
        } else {
            escalate_once(
                watch,
                commands,
                EscalationKey::SecondPrimary((*other).to_owned()),
                Escalation {
                    cluster: cluster.name.clone(),
                    subject: (*other).to_owned(),
                    rule: rule::PROMOTE_ELIGIBILITY,
                    message: reason.clone(),
                },
            );
        }
        detail = format!("{detail}; {reason}");
    }
    if acting && !tick.paused.contains(&cluster.name) {
        care_for_standbys(watch, tick, cluster, leader, commands);
    }
    let state = if acting {
        ClusterState::Healthy
    } else if cluster.failover == FailoverPolicy::Manual {
        ClusterState::Manual
    } else {
        ClusterState::NotActor
    };
    report(cluster, Some(leader), state, detail)
}

/// No primary answers: suspect, restart in place, fail over or escalate.
fn without_primary(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    acting: bool,
    commands: &mut Vec<Command>,
) -> ClusterReport {
    let view = view(tick);
    let automation = &cluster.automation;
    // No primary answers. Standbys that lost their stream now lost it to this failure: how long
    // they have not streamed counts again once a primary answers.
    watch.not_streaming_since.clear();
    watch.unseen_since.clear();
    let Some(primary) = watch.leader.clone().or_else(|| {
        view.last_known_primary(cluster)
            .map(|(name, _)| name.to_owned())
    }) else {
        return report(
            cluster,
            None,
            ClusterState::NoPrimary,
            format!(
                "no member of `{}` answers as a primary, and hadome never saw one",
                cluster.name
            ),
        );
    };
    watch.leader = Some(primary.clone());
    if watch.commit_wait.is_none() {
        // Never seen answering by this daemon: what the journal remembers it waited for.
        watch.commit_wait = view
            .last_known(&primary)
            .filter(|known| known.was_primary)
            .map(|known| commit_wait(&known.synchronous));
    }
    if watch.keepalive.is_none() {
        // Likewise its keepalive pace, so its standbys' silence counts as soon as it proves
        // something (else only after their own `wal_receiver_timeout`: safe, but slow).
        watch.keepalive = view
            .last_known(&primary)
            .filter(|known| known.was_primary)
            .map(|known| known.keepalive);
    }
    // Missing since it last answered (the journal remembers), else since this pass.
    let since = *watch.missing_since.get_or_insert_with(|| {
        view.last_known(&primary).map_or_else(
            || {
                tick.facts
                    .instances
                    .get(&primary)
                    .map_or(tick.now, |probe| probe.observed_at)
            },
            |known| known.observed_at,
        )
    });
    let missing_for = tick.now.seconds_since(since);
    let kind = failure_kind(tick, &primary);
    let error = error_of(tick, &primary);

    if matches!(kind, Some(FailureKind::Overloaded)) {
        return report(
            cluster,
            Some(&primary),
            ClusterState::Overloaded,
            format!("`{primary}` is reachable but saturated ({error}): overload follows the load, so it is never failed over"),
        );
    }
    let session_answers = tick.sessions.get(&primary).copied().unwrap_or(false);
    learn_cascades(&view, cluster, &primary, watch);
    let standbys = standby_view(
        &view,
        cluster,
        &primary,
        &watch.direct,
        &watch.cascaded,
        automation.detection_seconds,
        &watch.keepalive.unwrap_or(KeepaliveSettings::UNKNOWN),
    );
    let answering: Vec<&StandbyView> = standbys.iter().filter(|standby| standby.answers).collect();
    // A primary that a failover fenced (its record says so, even when that failover was
    // interrupted) is never restarted in place: its fence made it read-only on purpose, and the
    // failover it belongs to is what must be finished.
    let fenced = watch.old_primaries.contains(&primary);
    // A proven crash needs no detection window before an in-place restart: nothing listens, and
    // every witness lost its stream. Only the restart skips the window; a failover waits it out.
    let restart_at_once = automation.on_primary_crash == CrashPolicy::Restart
        && !fenced
        && acting
        && watch.restarted_at.is_none()
        && !tick.paused.contains(&cluster.name)
        && !tick.paused.contains(&primary)
        && tick.spent.restarts.get(&primary).copied().unwrap_or(0)
            < automation.budget.restarts_per_target
        && proven_crash(kind, session_answers, &answering);
    if view.fresh(&primary).is_some() {
        // It answers, in recovery: the cluster has no primary at all (demoted, fenced and
        // restarted read-only). That is a proven failure of the primary role.
    } else if missing_for < automation.detection_seconds
        && !restart_at_once
        && !watch.restart_failed
    {
        let message = format!(
            "`{primary}` has not answered for {} ({error}); the detection window is {}",
            human_duration(missing_for),
            human_duration(automation.detection_seconds)
        );
        return suspect(watch, commands, cluster, &primary, missing_for, message);
    }

    // The window has passed (or the crash is proven): do its standbys agree?
    let still_hear: Vec<&StandbyView> = answering
        .iter()
        .copied()
        .filter(|standby| standby.hears_primary)
        .collect();
    let evidence = if view.fresh(&primary).is_some() {
        format!("`{primary}` answers, but as a standby: no member accepts writes")
    } else if session_answers && kind == Some(FailureKind::Timeout) {
        format!(
            "`{primary}`'s postmaster accepts no new connection for {} ({error}), while hadome's open session to it still answers: its postmaster hangs",
            human_duration(missing_for)
        )
    } else if answering.is_empty() {
        let message = format!(
            "`{primary}` has not answered for {} ({error}), and no standby answers to confirm it failed",
            human_duration(missing_for)
        );
        escalate_once(
            watch,
            commands,
            EscalationKey::NoWitness,
            Escalation {
                cluster: cluster.name.clone(),
                subject: primary.clone(),
                rule: rule::PRIMARY_AGREEMENT,
                message: message.clone(),
            },
        );
        return report(cluster, Some(&primary), ClusterState::Suspect, message);
    } else if !still_hear.is_empty() {
        let names: Vec<String> = still_hear
            .iter()
            .map(|standby| standby.describe())
            .collect();
        let message = format!(
            "hadome has not reached `{primary}` for {} ({error}), but its standbys still hear it ({}): one observer's blip is not a failure",
            human_duration(missing_for),
            names.join("; ")
        );
        return suspect(watch, commands, cluster, &primary, missing_for, message);
    } else {
        let names: Vec<String> = answering.iter().map(|standby| standby.describe()).collect();
        let proven = if restart_at_once && missing_for < automation.detection_seconds {
            ": a proven crash (refused at once, hadome's open session closed, no witness's WAL receiver streams), so the detection window is not waited out"
        } else {
            ""
        };
        format!(
            "`{primary}` has not answered for {} ({error}) and its standbys lost it too ({}){proven}",
            human_duration(missing_for),
            names.join("; ")
        )
    };

    if !acting {
        let state = if cluster.failover == FailoverPolicy::Manual {
            ClusterState::Manual
        } else {
            ClusterState::NotActor
        };
        escalate_once(
            watch,
            commands,
            EscalationKey::Failed,
            Escalation {
                cluster: cluster.name.clone(),
                subject: primary.clone(),
                rule: rule::PRIMARY_AGREEMENT,
                message: format!(
                    "{evidence}; hadome does not fail over here ({})",
                    state.as_str()
                ),
            },
        );
        return report(cluster, Some(&primary), state, evidence);
    }
    if tick.paused.contains(&cluster.name) || tick.paused.contains(&primary) {
        return report(
            cluster,
            Some(&primary),
            ClusterState::Paused,
            format!("{evidence}; automation is paused until `hadome ack`"),
        );
    }

    // A crash: restart in place first when the policy says so, within budget and window, but
    // only a proven crash (issue 18): refused at once, hadome's open session closed, no witness
    // streaming. A primary whose state is unknown (hung behind a firewall that rejects, or
    // behind a crashed pooler, looks refused too) is fenced and failed over: the fence works on
    // both a hung and a crashed server, the restart only on a crashed one. A restart that
    // failed (it could not be stopped, did not start, does not answer) is not waited out.
    let crashed = proven_crash(kind, session_answers, &answering);
    if crashed
        && !fenced
        && !watch.restart_failed
        && automation.on_primary_crash == CrashPolicy::Restart
    {
        match watch.restarted_at {
            None => {
                let spent = tick.spent.restarts.get(&primary).copied().unwrap_or(0);
                if spent < automation.budget.restarts_per_target {
                    watch.restarted_at = Some(tick.now);
                    commands.push(Command::Restart {
                        cluster: cluster.name.clone(),
                        target: primary.clone(),
                        reason: format!("{evidence}: on_primary_crash = \"restart\""),
                        wake: answering
                            .iter()
                            .map(|standby| standby.name.clone())
                            .collect(),
                    });
                    return report(
                        cluster,
                        Some(&primary),
                        ClusterState::Restarting,
                        format!("{evidence}; restarting it in place"),
                    );
                }
            }
            Some(at) if tick.now.seconds_since(at) < automation.restart_window_seconds => {
                return report(
                    cluster,
                    Some(&primary),
                    ClusterState::Restarting,
                    format!(
                        "restarted `{primary}` {} ago; waiting up to {} for it",
                        human_duration(tick.now.seconds_since(at)),
                        human_duration(automation.restart_window_seconds)
                    ),
                );
            }
            Some(_) => {}
        }
    }

    let failovers = tick
        .spent
        .failovers
        .get(&cluster.name)
        .copied()
        .unwrap_or(0);
    if failovers >= automation.budget.failovers {
        let message = format!(
            "{evidence}; but `{}` already failed over {failovers} time(s) within {} (max_failovers = {}): automation pauses until `hadome ack {}`",
            cluster.name,
            human_duration(automation.budget.window_seconds),
            automation.budget.failovers,
            cluster.name
        );
        pause(
            watch,
            tick,
            commands,
            cluster,
            &cluster.name,
            message.clone(),
        );
        return report(cluster, Some(&primary), ClusterState::Paused, message);
    }

    match choose_candidate(
        tick.estate,
        tick.facts,
        tick.history,
        tick.now,
        cluster,
        &primary,
        watch.synchronous(),
    ) {
        Ok(candidate) => {
            let unproven = unproven_loss(
                &view,
                cluster,
                &primary,
                &candidate.name,
                watch.commit_wait.as_ref(),
            );
            if let (Some(why), AsyncFailoverPolicy::Escalate) =
                (unproven, automation.async_failover)
            {
                let message = format!(
                    "{evidence}; not failing over to `{}`: {why} (async_failover = \"escalate\": waiting for `{primary}` or a person; \"promote\" accepts losing them)",
                    candidate.name
                );
                escalate_once(
                    watch,
                    commands,
                    EscalationKey::Unproven,
                    Escalation {
                        cluster: cluster.name.clone(),
                        subject: primary.clone(),
                        rule: rule::PROMOTE_ELIGIBILITY,
                        message: message.clone(),
                    },
                );
                return report(cluster, Some(&primary), ClusterState::NoCandidate, message);
            }
            commands.push(Command::Failover(FailoverPlan {
                cluster: cluster.name.clone(),
                old_primary: primary.clone(),
                candidate: candidate.name.clone(),
                evidence: evidence.clone(),
            }));
            watch.old_primaries.insert(primary.clone());
            report(
                cluster,
                Some(&primary),
                ClusterState::FailingOver,
                format!("{evidence}; failing over to `{}`", candidate.name),
            )
        }
        Err(refusals) => {
            let message = format!(
                "{evidence}; no standby may be promoted: {}",
                refusals.join("; ")
            );
            escalate_once(
                watch,
                commands,
                EscalationKey::NoCandidate,
                Escalation {
                    cluster: cluster.name.clone(),
                    subject: primary.clone(),
                    rule: rule::PROMOTE_ELIGIBILITY,
                    message: message.clone(),
                },
            );
            report(cluster, Some(&primary), ClusterState::NoCandidate, message)
        }
    }
}

/// Remembers every standby another standby lists as streaming from it (a cascade), so it never
/// counts as a witness of `primary`.
fn learn_cascades(view: &View, cluster: &Cluster, primary: &str, watch: &mut Watch) {
    for member in cluster
        .members
        .iter()
        .filter(|member| member.as_str() != primary)
    {
        if let Some(state) = view.fresh(member) {
            watch.cascaded.extend(
                state
                    .replication
                    .iter()
                    .map(|peer| peer.application_name.clone()),
            );
        }
    }
}

/// How long the primary may stay unreachable with the daemon holding back (a blip it does not act
/// on, or a window never proven over) before a person is told: whatever the reason, a primary
/// hadome cannot reach for this long is never a silent state (issue 17's trials).
pub const LONG_SUSPICION_SECONDS: f64 = 30.0;

/// The cluster is suspect: reported as such, and escalated once it has lasted
/// [`LONG_SUSPICION_SECONDS`].
fn suspect(
    watch: &mut Watch,
    commands: &mut Vec<Command>,
    cluster: &Cluster,
    primary: &str,
    missing_for: f64,
    message: String,
) -> ClusterReport {
    if missing_for >= LONG_SUSPICION_SECONDS {
        escalate_once(
            watch,
            commands,
            EscalationKey::LongSuspicion,
            Escalation {
                cluster: cluster.name.clone(),
                subject: primary.to_owned(),
                rule: rule::PRIMARY_AGREEMENT,
                message: format!(
                    "{message}; hadome has held back for {} without the proof it needs to act: look at `{primary}` and its standbys",
                    human_duration(missing_for)
                ),
            },
        );
    }
    report(cluster, Some(primary), ClusterState::Suspect, message)
}

/// Whether the primary's crash is proven, not merely suspected: its new connections are refused
/// or closed at once (nothing listens: a hang or a cut network answers nothing instead),
/// hadome's open session to it closed (a live postmaster's sessions stay open), and at least one
/// standby answers while no answering witness's WAL receiver streams (a primary that is only cut
/// off from hadome still streams to them: the `isolate` blip).
fn proven_crash(
    kind: Option<FailureKind>,
    session_answers: bool,
    answering: &[&StandbyView],
) -> bool {
    kind == Some(FailureKind::Down)
        && !session_answers
        && !answering.is_empty()
        && answering.iter().all(|standby| !standby.streams())
}

fn timeline_note(view: &View, other: &str, leader: &str) -> String {
    match (view.fresh(other), view.fresh(leader)) {
        (Some(mine), Some(theirs)) if mine.position.timeline != theirs.position.timeline => {
            format!(
                " on timeline {} (the primary is on {})",
                mine.position.timeline, theirs.position.timeline
            )
        }
        _ => String::new(),
    }
}

/// Among members that accept writes, the one that leads: the newest timeline; on a tie, the one
/// hadome already holds to be the primary; `None` when that does not decide.
fn leading_primary<'a>(view: &View, live: &[&'a str], known: Option<&str>) -> Option<&'a str> {
    let timeline = |name: &str| view.fresh(name).map_or(0, |state| state.position.timeline);
    let newest = live.iter().map(|name| timeline(name)).max()?;
    let leaders: Vec<&'a str> = live
        .iter()
        .copied()
        .filter(|name| timeline(name) == newest)
        .collect();
    match leaders.as_slice() {
        [one] => Some(one),
        several => several.iter().copied().find(|name| Some(*name) == known),
    }
}
