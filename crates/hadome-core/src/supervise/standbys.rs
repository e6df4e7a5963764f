//! The standbys' side of a pass, while a primary answers: restart the crashed, rebuild from the
//! primary the ones that can never catch up, and deal with old primaries after a failover; at
//! most one repair per cluster and pass, so the next is decided on fresh facts.

use crate::action::Action;
use crate::estate::{Cluster, OldPrimaryPolicy};
use crate::fact::FailureKind;
use crate::finding::{human_duration, Severity, Verdict};
use crate::interlock;
use crate::rule;

use super::candidate::refusal;
use super::watch::{error_of, escalate_once, failure_kind, pause, view, EscalationKey, Watch};
use super::{Command, Escalation, Tick};

/// Standbys: restart the crashed, rebuild the stalled from the primary, deal with old primaries;
/// at most one repair per pass.
pub(super) fn care_for_standbys(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    leader: &str,
    commands: &mut Vec<Command>,
) {
    let view = view(tick);
    let automation = &cluster.automation;
    let members: Vec<&String> = cluster
        .members
        .iter()
        .filter(|member| member.as_str() != leader)
        .collect();
    // How long each standby has gone without streaming, before any repair is decided.
    for member in &members {
        let not_streaming = view
            .fresh(member)
            .is_some_and(|state| state.in_recovery && !view.streams(member));
        if not_streaming {
            watch
                .not_streaming_since
                .entry((*member).clone())
                .or_insert(tick.now);
        } else {
            watch.not_streaming_since.remove(member.as_str());
            // It streams again: a later stall is told again.
            watch
                .escalated
                .remove(&EscalationKey::StandbyStalled((*member).clone()));
        }
    }
    let acted = |commands: &[Command]| {
        commands
            .iter()
            .any(|command| matches!(command, Command::Restart { .. } | Command::Rebuild { .. }))
    };
    for member in members {
        // One repair per cluster and pass: the next pass decides on facts observed after it (a
        // rebuilt standby changes what its cascades need).
        if acted(commands) {
            break;
        }
        if tick.paused.contains(member.as_str()) {
            continue;
        }
        let old_primary = watch.old_primaries.contains(member.as_str());
        if old_primary {
            let rebuild_policy = automation.on_old_primary == OldPrimaryPolicy::Rebuild;
            // Down (refused connections: its fence killed it) is the usual state of an old
            // primary after a failover. Under the rebuild policy it is rebuilt from there; it is
            // never restarted as it is, which would bring back a primary of the old timeline. A
            // hung or unreachable one is left alone: the executor could not stop it.
            if rebuild_policy && failure_kind(tick, member) == Some(FailureKind::Down) {
                rebuild(watch, tick, cluster, member, leader, format!("`{member}` was the primary before the failover and is down (fenced): on_old_primary = \"rebuild\" makes it a standby of `{leader}`, its diverged data moved aside"), commands);
            } else if let Some(state) = view.fresh(member) {
                let streams_from_leader = view.streams(member) && view.feeder_of(member).is_some();
                if state.in_recovery && !streams_from_leader && rebuild_policy {
                    rebuild(watch, tick, cluster, member, leader, format!("`{member}` was the primary before the failover: on_old_primary = \"rebuild\" makes it a standby of `{leader}`, its diverged data moved aside"), commands);
                } else if streams_from_leader {
                    watch.old_primaries.remove(member.as_str());
                }
            }
            continue;
        }
        let kind = failure_kind(tick, member);
        let down = kind == Some(FailureKind::Down);
        // A standby hadome cannot reach while its upstream lists it in `pg_stat_replication`
        // runs: what fails is the path from hadome to it (a proxy, a firewall that rejects or
        // drops), not the server, whose WAL receiver would die with it. Refused or closed
        // connections then look like a crash, and a restart would act on that wrong belief
        // (issue 17's trials, seed 2: an isolated standby was restarted). So it is left alone,
        // and escalated once when hadome still cannot reach it after `stall_seconds`. A
        // postmaster that just died may still be listed for a moment: its restart waits for the
        // pass that no longer lists it.
        let unreachable = matches!(
            kind,
            Some(FailureKind::Down | FailureKind::Timeout | FailureKind::Other)
        );
        if let Some(feeder) = view.feeder_of(member).filter(|_| unreachable) {
            let since = *watch.unseen_since.entry(member.clone()).or_insert(tick.now);
            let unseen_for = tick.now.seconds_since(since);
            if unseen_for >= automation.stall_seconds {
                escalate_once(
                    watch,
                    commands,
                    EscalationKey::StandbyUnseen(member.clone()),
                    Escalation {
                        cluster: cluster.name.clone(),
                        subject: member.clone(),
                        rule: rule::STALE_FACTS,
                        message: format!(
                            "hadome has not reached `{member}` for {} ({}), but `{feeder}` lists it in pg_stat_replication: it runs, and the path from hadome to it fails, so hadome does not restart it and sees nothing of it: look at the network, proxy or firewall between hadome and `{member}`",
                            human_duration(unseen_for),
                            error_of(tick, member)
                        ),
                    },
                );
            }
            continue;
        }
        watch.unseen_since.remove(member.as_str());
        if view.fresh(member).is_some() {
            watch
                .escalated
                .remove(&EscalationKey::StandbyUnseen(member.clone()));
        }
        // A standby whose postmaster is gone: restart it within budget.
        if down
            && view
                .last_known(member)
                .is_some_and(|known| !known.was_primary)
        {
            let spent = tick
                .spent
                .restarts
                .get(member.as_str())
                .copied()
                .unwrap_or(0);
            if spent >= automation.budget.restarts_per_target {
                pause(watch, tick, commands, cluster, member, format!(
                    "`{member}` is down again ({}) after {spent} restart(s) within {} (max_restarts_per_target = {}): automation of `{member}` pauses until `hadome ack {member}`",
                    error_of(tick, member),
                    human_duration(automation.budget.window_seconds),
                    automation.budget.restarts_per_target
                ));
                continue;
            }
            match watch.restarts.get(member.as_str()) {
                Some(at) if tick.now.seconds_since(*at) < automation.restart_window_seconds => {}
                Some(at)
                    if tick.now.seconds_since(*at) < 2.0 * automation.restart_window_seconds =>
                {
                    // Restarted within the window before this one and still down: it did not help.
                    let at = *at;
                    pause(watch, tick, commands, cluster, member, format!(
                        "a restart of `{member}` {} ago did not bring it back ({}): automation of `{member}` pauses until `hadome ack {member}`",
                        human_duration(tick.now.seconds_since(at)),
                        error_of(tick, member)
                    ));
                }
                _ => {
                    watch.restarts.insert(member.clone(), tick.now);
                    commands.push(Command::Restart {
                        cluster: cluster.name.clone(),
                        target: member.clone(),
                        reason: format!("standby `{member}` is down ({})", error_of(tick, member)),
                        wake: Vec::new(),
                    });
                }
            }
            continue;
        }
        if view.fresh(member).is_some() {
            watch.restarts.remove(member.as_str());
        }
        // A standby that can never catch up is rebuilt from the primary (never the reverse), but
        // only on a proven cause (issue 18): the WAL it needs was removed upstream, or its slot
        // is lost. Not streaming, for however long, proves nothing: a network cut between it and
        // its upstream stops the stream too, and then a rebuild would move its data aside only
        // to find the source unreachable; after the cut heals it catches up on its own. So a
        // standby that has not streamed for `stall_seconds` is escalated, with the cause as far
        // as the facts name it, and left alone.
        let proven = interlock::cannot_catch_up(&view, member);
        let finding = interlock::check(tick.estate, tick.facts, tick.history, tick.now)
            .into_iter()
            .find(|finding| {
                finding.rule == rule::REPLICATION_STALLED
                    && finding.subject == *member
                    && finding.severity >= Severity::NeedsHuman
            });
        if proven {
            if let Some(finding) = finding {
                rebuild(
                    watch,
                    tick,
                    cluster,
                    member,
                    leader,
                    finding.message,
                    commands,
                );
            }
            continue;
        }
        let stalled_for = watch
            .not_streaming_since
            .get(member.as_str())
            .map_or(0.0, |since| tick.now.seconds_since(*since));
        if stalled_for >= automation.stall_seconds {
            let cause = finding.map_or_else(
                || format!("`{member}` answers but its WAL receiver does not stream"),
                |finding| finding.message,
            );
            escalate_once(
                watch,
                commands,
                EscalationKey::StandbyStalled((*member).clone()),
                Escalation {
                    cluster: cluster.name.clone(),
                    subject: (*member).clone(),
                    rule: rule::REPLICATION_STALLED,
                    message: format!(
                        "{cause}; it has not streamed for {} (stall_seconds = {}) while `{leader}` answers, but nothing proves it cannot catch up on its own (the WAL it needs is still upstream), so hadome does not rebuild it: look at the link from `{member}` to its upstream",
                        human_duration(stalled_for),
                        automation.stall_seconds
                    ),
                },
            );
        }
    }
}

fn rebuild(
    watch: &mut Watch,
    tick: &Tick,
    cluster: &Cluster,
    target: &str,
    source: &str,
    reason: String,
    commands: &mut Vec<Command>,
) {
    let budget = &cluster.automation.budget;
    let spent = tick.spent.rebuilds.get(target).copied().unwrap_or(0);
    if spent >= budget.rebuilds_per_target {
        pause(watch, tick, commands, cluster, target, format!(
            "{reason}; but `{target}` was rebuilt {spent} time(s) within {} (max_rebuilds_per_target = {}): automation of `{target}` pauses until `hadome ack {target}`",
            human_duration(budget.window_seconds),
            budget.rebuilds_per_target
        ));
        return;
    }
    let assessment = interlock::assess(
        tick.estate,
        tick.facts,
        tick.history,
        &Action::Rebuild {
            target: target.to_owned(),
            source: source.to_owned(),
        },
        tick.now,
    );
    if matches!(assessment.verdict, Verdict::Allow | Verdict::AllowAfter) {
        commands.push(Command::Rebuild {
            cluster: cluster.name.clone(),
            target: target.to_owned(),
            source: source.to_owned(),
            reason,
        });
    } else {
        escalate_once(
            watch,
            commands,
            EscalationKey::StandbyRebuild(target.to_owned()),
            Escalation {
                cluster: cluster.name.clone(),
                subject: target.to_owned(),
                rule: assessment
                    .findings
                    .first()
                    .map_or(rule::OVERWRITE_OLDER, |finding| finding.rule),
                message: format!(
                    "{reason}; the rebuild from `{source}` is refused: {}",
                    refusal(&assessment)
                ),
            },
        );
    }
}
