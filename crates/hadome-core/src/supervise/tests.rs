//! The supervisor on hand-built passes, the primary's side: each failure the daemon must tell
//! apart, pass by pass. The same paths run on real servers in `crates/hadome/tests/it/daemon.rs`.

use super::test_world::*;
use super::*;
use crate::estate::CrashPolicy;
use crate::fact::{KeepaliveSettings, Probe, ProbeOutcome};
use crate::rule;

#[test]
fn a_healthy_primary_gets_a_heartbeat_and_nothing_else() {
    let mut world = World::healthy();
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Healthy);
    assert_eq!(
        decision.commands,
        vec![Command::Heartbeat {
            instance: "db-1".to_owned()
        }]
    );
    assert_eq!(world.supervisor.primary_of("main"), Some("db-1"));
}

#[test]
fn a_hung_primary_is_failed_over_once_the_window_passed_and_its_standbys_lost_it() {
    let mut world = World::healthy();
    world.step();
    hang_primary(&mut world, 0.5);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
    assert!(decision.commands.is_empty());
    hang_primary(&mut world, 1.6);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::FailingOver,
        "{decision:?}"
    );
    // Equal positions: the synchronous standby.
    assert_eq!(failover_to(&decision).as_deref(), Some("db-2"));
    assert!(decision.reports[0]
        .detail
        .contains("its standbys lost it too"));
}

#[test]
fn the_most_advanced_standby_is_chosen_over_the_synchronous_one() {
    // db-3 (asynchronous) is past db-2 (synchronous), so it holds every acknowledged commit too:
    // its promotion is proven (`async_failover`, `async_tests.rs`).
    let mut world = World::healthy();
    world.step();
    hang_primary(&mut world, 2.0);
    world.answer("db-3", standby(100 * MB + 4096, "streaming", 2000));
    assert_eq!(failover_to(&world.step()).as_deref(), Some("db-3"));
}

#[test]
fn standbys_that_still_hear_the_primary_veto_the_failover() {
    // hadome is cut off from db-1 (isolated), the standbys still receive its keepalives.
    let mut world = World::healthy();
    world.step();
    world.later(5.0);
    world.fail("db-1", CRASHED);
    world.answer("db-2", standby(100 * MB, "streaming", 300));
    world.answer("db-3", standby(100 * MB, "streaming", 900));
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Suspect);
    assert!(decision.commands.is_empty(), "{decision:?}");
    assert!(
        decision.reports[0]
            .detail
            .contains("its standbys still hear it"),
        "{}",
        decision.reports[0].detail
    );
}

#[test]
fn a_primary_unreachable_for_long_with_no_proof_to_act_is_escalated_once() {
    // Issue 17's trials: whatever holds the daemon back, a primary it cannot reach for
    // LONG_SUSPICION_SECONDS is told to a person, once; never a silent stall.
    let mut world = World::healthy();
    world.step();
    let mut escalations = Vec::new();
    for _ in 0..8 {
        world.later(5.0);
        world.fail("db-1", CRASHED);
        world.answer("db-2", standby(100 * MB, "streaming", 300));
        world.answer("db-3", standby(100 * MB, "streaming", 900));
        let decision = world.step();
        assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
        escalations.extend(
            decision
                .commands
                .into_iter()
                .filter_map(|command| match command {
                    Command::Escalate(escalation) => Some(escalation),
                    _ => None,
                }),
        );
    }
    assert_eq!(escalations.len(), 1, "{escalations:#?}");
    assert_eq!(escalations[0].subject, "db-1");
    assert_eq!(escalations[0].rule, rule::PRIMARY_AGREEMENT);
    assert!(
        escalations[0]
            .message
            .contains("its standbys still hear it")
            && escalations[0]
                .message
                .contains("without the proof it needs to act"),
        "{}",
        escalations[0].message
    );
}

#[test]
fn a_cascaded_standby_is_no_witness_even_when_the_primary_lists_nobody() {
    // Issue 17, trial seeds 1 and 35 (mackerel): db-3 streams from db-2, not from db-1; db-2's
    // link from db-1 was cut, so db-1's last list was empty. Then db-1 crashed. db-3's receiver
    // still streams (from db-2): before, with the primary's list empty, every standby counted,
    // db-3 "still heard" the dead primary, and the daemon stayed `suspect` for good.
    let mut world = World::healthy();
    world.step();
    let mut lonely = primary(100 * MB);
    let cascade = lonely
        .replication
        .iter()
        .filter(|peer| peer.application_name == "db-3")
        .cloned()
        .collect();
    lonely.replication.clear();
    world.later(0.5);
    world.answer("db-1", lonely);
    let mut upstream = standby(100 * MB, "waiting", 400);
    upstream.replication = cascade;
    world.answer("db-2", upstream.clone());
    world.answer("db-3", standby(100 * MB, "streaming", 200));
    assert_eq!(state_of(&world.step()), ClusterState::Healthy);

    world.later(1.6);
    world.fail("db-1", CRASHED);
    upstream
        .wal_receiver
        .as_mut()
        .expect("a receiver")
        .last_message_age_ms = Some(2000);
    world.answer("db-2", upstream);
    world.answer("db-3", standby(100 * MB, "streaming", 200));
    let decision = world.step();
    assert!(
        matches!(&decision.commands[..], [Command::Restart { target, .. }] if target == "db-1"),
        "db-3 hears db-2, not db-1: {decision:?}"
    );
}

#[test]
fn a_hung_postmaster_is_failed_over_though_the_standbys_still_hear_it() {
    let mut world = World::healthy();
    world.step();
    world.later(2.0);
    world.fail("db-1", HUNG);
    world.sessions.insert("db-1".to_owned(), true);
    let decision = world.step();
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "{decision:?}"
    );
    assert!(decision.reports[0].detail.contains("its postmaster hangs"));
}

#[test]
fn an_overloaded_primary_is_never_failed_over() {
    let mut world = World::healthy();
    world.step();
    for _ in 0..10 {
        world.later(1.0);
        world.fail("db-1", "db error: FATAL: sorry, too many clients already");
        world.answer("db-2", standby(100 * MB, "streaming", 5000));
        let decision = world.step();
        assert_eq!(state_of(&decision), ClusterState::Overloaded);
        assert!(decision.commands.is_empty());
    }
}

#[test]
fn a_crashed_primary_is_restarted_in_place_then_failed_over_when_that_does_not_help() {
    let mut world = World::healthy();
    world.step();
    world.later(1.6);
    world.fail("db-1", CRASHED);
    world.answer("db-2", standby(100 * MB, "waiting", 1600));
    world.answer("db-3", standby(100 * MB, "waiting", 1600));
    let decision = world.step();
    assert!(
        matches!(&decision.commands[..], [Command::Restart { target, .. }] if target == "db-1"),
        "{decision:?}"
    );
    world.spent.restarts.insert("db-1".to_owned(), 1);
    world.later(5.0);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Restarting);
    assert!(decision.commands.is_empty());
    world.later(6.0);
    let decision = world.step();
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "{decision:?}"
    );
}

#[test]
fn a_crashed_primary_fails_over_at_once_under_the_failover_policy() {
    let mut world = World::healthy();
    world.estate.clusters[0].automation.on_primary_crash = CrashPolicy::Failover;
    world.step();
    world.later(1.6);
    world.fail("db-1", CRASHED);
    world.answer("db-2", standby(100 * MB, "waiting", 1600));
    world.answer("db-3", standby(100 * MB, "waiting", 1600));
    assert_eq!(failover_to(&world.step()).as_deref(), Some("db-2"));
}

#[test]
fn with_no_eligible_candidate_it_escalates_once_and_never_fails_over() {
    let mut world = World::healthy();
    world.step();
    // db-2 stalled long ago; db-3 does not answer.
    world.later(2.0);
    world.fail("db-1", HUNG);
    world.answer("db-2", standby(60 * MB, "waiting", 600_000));
    world.fail("db-3", CRASHED);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::NoCandidate,
        "{decision:?}"
    );
    assert_eq!(failover_to(&decision), None);
    let escalated = escalations(&decision);
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].rule, rule::PROMOTE_ELIGIBILITY);
    assert!(
        escalated[0].message.contains("40.0 MiB behind"),
        "{}",
        escalated[0].message
    );
    // The next pass says the same, without a second escalation.
    world.later(0.5);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::NoCandidate);
    assert!(decision.commands.is_empty());
}

#[test]
fn a_spent_failover_budget_pauses_the_cluster() {
    let mut world = World::healthy();
    world.spent.failovers.insert("main".to_owned(), 1);
    world.step();
    hang_primary(&mut world, 2.0);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Paused);
    assert!(
        matches!(&decision.commands[..], [Command::Pause { escalation }] if escalation.subject == "main" && escalation.rule == rule::BUDGET)
    );
    world.paused.insert("main".to_owned());
    world.later(0.5);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Paused);
    assert!(decision.commands.is_empty());
}

#[test]
fn an_old_primary_that_comes_back_writable_is_fenced_at_once() {
    let mut world = World::healthy();
    world.step();
    // db-2 was promoted (timeline 2); db-1 restarted as a primary on timeline 1.
    world.later(10.0);
    let mut new = primary(101 * MB);
    new.position.timeline = 2;
    world.answer("db-2", new);
    world.answer("db-1", primary(100 * MB));
    world.answer("db-3", standby(101 * MB, "streaming", 100));
    let decision = world.step();
    assert_eq!(decision.reports[0].primary.as_deref(), Some("db-2"));
    assert!(
        decision
            .commands
            .iter()
            .any(|command| matches!(command, Command::Fence { target, .. } if target == "db-1")),
        "{decision:?}"
    );
}

#[test]
fn without_the_lease_it_observes_and_never_acts() {
    let mut world = World::healthy();
    world.leases.clear();
    world.step();
    hang_primary(&mut world, 2.0);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::NotActor);
    assert_eq!(failover_to(&decision), None);
    assert!(decision
        .commands
        .iter()
        .all(|command| matches!(command, Command::Escalate(_))));
}

#[test]
fn the_candidate_is_rechosen_on_facts_after_the_fence() {
    let world = World::healthy();
    let cluster = &world.estate.clusters[0];
    let mut facts = world.facts.clone();
    facts.instances.insert(
        "db-1".to_owned(),
        Probe {
            observed_at: world.now,
            outcome: ProbeOutcome::unreachable(CRASHED),
        },
    );
    let chosen = choose_candidate(
        &world.estate,
        &facts,
        &world.history,
        world.now,
        cluster,
        "db-1",
        &["db-2".to_owned()],
    )
    .unwrap();
    assert_eq!(chosen.name, "db-2");
}

fn keepalive(sender_ms: u64, status_ms: u64, receiver_ms: u64) -> KeepaliveSettings {
    KeepaliveSettings {
        sender_timeout_ms: Some(sender_ms),
        receiver_status_interval_ms: Some(status_ms),
        receiver_timeout_ms: Some(receiver_ms),
    }
}

#[test]
fn an_idle_primarys_longest_gap_follows_its_replication_timeouts() {
    // The lab: the sender pings after 1 s without a reply; standbys report every 10 s.
    let lab = keepalive(2_000, 10_000, 60_000);
    assert_eq!(lab.idle_gap_ms(&lab), Some(1_000));
    // Standbys reporting every second reset the sender's clock before it pings: only the
    // receiver's own request (after 30 s of silence) bounds the gap. Seen in bench/failover.
    let chatty = keepalive(2_000, 1_000, 60_000);
    assert_eq!(lab.idle_gap_ms(&chatty), Some(30_000));
    // PostgreSQL's defaults: the same, at 30 s.
    let defaults = keepalive(60_000, 10_000, 60_000);
    assert_eq!(defaults.idle_gap_ms(&defaults), Some(30_000));
    // Nobody pings: nothing bounds it.
    let silent = keepalive(0, 10_000, 0);
    assert_eq!(silent.idle_gap_ms(&silent), None);
    // The primary never seen: the standby's own timeout still bounds it.
    assert_eq!(KeepaliveSettings::UNKNOWN.idle_gap_ms(&lab), Some(30_000));
}

/// The healthy trio, every member with `settings`.
fn world_with_keepalive(settings: KeepaliveSettings) -> World {
    let mut world = World::healthy();
    for probe in world.facts.instances.values_mut() {
        if let ProbeOutcome::Answered(state) = &mut probe.outcome {
            state.keepalive = settings;
        }
    }
    world
}

/// `later` seconds pass; the primary hangs, and its standbys have heard nothing for `silent`
/// seconds (their settings: `settings`).
fn silence_for(world: &mut World, later: f64, silent: f64, settings: KeepaliveSettings) {
    world.later(later);
    world.fail("db-1", HUNG);
    let age = (silent * 1000.0) as i64;
    for name in ["db-2", "db-3"] {
        let mut state = standby(100 * MB, "streaming", age);
        state.keepalive = settings;
        world.answer(name, state);
    }
}

#[test]
fn standbys_silent_for_less_than_twice_the_keepalive_gap_still_hear_the_primary() {
    let lab = keepalive(2_000, 10_000, 60_000);
    let mut world = world_with_keepalive(lab);
    world.step();
    // 1.6 s: past the 1.5 s window, but an idle primary may leave them 1 s apart: not yet.
    silence_for(&mut world, 1.6, 1.6, lab);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
    assert!(
        decision.reports[0].detail.contains("counts after 2.0 s"),
        "{decision:?}"
    );
    silence_for(&mut world, 0.5, 2.1, lab);
    let decision = world.step();
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "{decision:?}"
    );
}

#[test]
fn with_nothing_bounding_the_keepalive_gap_the_standbys_silence_proves_nothing() {
    let silent = keepalive(0, 10_000, 0);
    let mut world = world_with_keepalive(silent);
    world.step();
    silence_for(&mut world, 120.0, 120.0, silent);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
    assert_eq!(failover_to(&decision), None);
    assert!(
        decision.reports[0].detail.contains("proves nothing"),
        "{decision:?}"
    );
}

#[test]
fn a_daemon_started_while_the_primary_hangs_counts_the_silence_at_the_pace_the_journal_remembers() {
    let lab = keepalive(2_000, 10_000, 60_000);
    // An earlier daemon saw db-1 answer with `remembered` (the journal kept it); this one starts
    // after db-1 hung, its standbys still `streaming` but silent for 2.1 s.
    let started_late = |remembered: KeepaliveSettings| {
        let mut world = world_with_keepalive(lab);
        for known in world.history.last_known.values_mut() {
            known.keepalive = remembered;
        }
        silence_for(&mut world, 2.1, 2.1, lab);
        world.step()
    };
    // Past twice db-1's 1 s idle gap: proven deaf, as for a daemon that saw db-1 itself.
    let decision = started_late(lab);
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "{decision:?}"
    );
    // A journal row written before hadome kept the timeouts: only the standbys' own 60 s
    // `wal_receiver_timeout` bounds the gap, so 2.1 s proves nothing yet (safe, slow).
    let decision = started_late(KeepaliveSettings::UNKNOWN);
    assert_eq!(failover_to(&decision), None, "{decision:?}");
    assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
    assert!(
        decision.reports[0].detail.contains("counts after 1 min")
            || decision.reports[0].detail.contains("counts after 60"),
        "{decision:?}"
    );
}

/// db-1's postmaster was killed `seconds` ago: connections are refused, hadome's open session
/// closed with it, and the standbys' WAL receivers exited (no `pg_stat_wal_receiver` row).
fn crash_primary(world: &mut World, seconds: f64) {
    world.later(seconds);
    world.fail("db-1", CRASHED);
    world.sessions.insert("db-1".to_owned(), false);
    world.answer("db-2", state(true, 100 * MB));
    world.answer("db-3", state(true, 100 * MB));
}

#[test]
fn a_proven_crash_is_restarted_in_place_without_waiting_out_the_detection_window() {
    let mut world = World::healthy();
    world.step();
    crash_primary(&mut world, 0.3);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::Restarting,
        "{decision:?}"
    );
    match &decision.commands[..] {
        [Command::Restart {
            target,
            reason,
            wake,
            ..
        }] => {
            assert_eq!(target, "db-1");
            assert!(reason.contains("a proven crash"), "{reason}");
            assert!(reason.contains("not waited out"), "{reason}");
            // Once it answers, both standbys are asked to retry their stream at once.
            assert_eq!(wake, &["db-2".to_owned(), "db-3".to_owned()]);
        }
        other => panic!("expected one restart of db-1, got {other:?}"),
    }
}

#[test]
fn without_every_piece_of_proof_a_refused_primary_waits_out_the_detection_window() {
    type Change = fn(&mut World);
    let cases: [(&str, Change); 6] = [
        (
            "a standby still streams from it (the isolate blip)",
            |world| {
                world.answer("db-2", standby(100 * MB, "streaming", 300));
            },
        ),
        ("hadome's open session to it still answers", |world| {
            world.sessions.insert("db-1".to_owned(), true);
        }),
        ("no standby answers to witness it", |world| {
            world.fail("db-2", CRASHED);
            world.fail("db-3", HUNG);
        }),
        (
            "its connections time out instead of being refused",
            |world| {
                world.fail("db-1", HUNG);
            },
        ),
        ("the policy fails over on a crash", |world| {
            world.estate.clusters[0].automation.on_primary_crash = CrashPolicy::Failover;
        }),
        ("its restart budget is spent", |world| {
            let budget = world.estate.clusters[0]
                .automation
                .budget
                .restarts_per_target;
            world.spent.restarts.insert("db-1".to_owned(), budget);
        }),
    ];
    for (case, change) in cases {
        let mut world = World::healthy();
        world.step();
        crash_primary(&mut world, 0.3);
        change(&mut world);
        let decision = world.step();
        assert_eq!(
            state_of(&decision),
            ClusterState::Suspect,
            "{case}: {decision:?}"
        );
        assert!(decision.commands.is_empty(), "{case}: {decision:?}");
        assert!(
            decision.reports[0]
                .detail
                .contains("the detection window is 1.5 s"),
            "{case}: {}",
            decision.reports[0].detail
        );
    }
}

#[test]
fn a_proven_crash_of_a_paused_or_unleased_cluster_waits_out_the_window_too() {
    for pause in [true, false] {
        let mut world = World::healthy();
        world.step();
        if pause {
            world.paused.insert("main".to_owned());
        } else {
            world.leases.clear();
        }
        crash_primary(&mut world, 0.3);
        let decision = world.step();
        assert_eq!(state_of(&decision), ClusterState::Suspect, "{decision:?}");
        assert!(decision.commands.is_empty(), "{decision:?}");
    }
}

#[test]
fn a_cluster_a_person_holds_is_only_observed_and_its_failure_counts_from_the_release() {
    let mut world = World::healthy();
    world.step();
    world
        .held
        .insert("main".to_owned(), "run:vm:4242".to_owned());
    // The person stops the primary (a restore, say): a proven crash, were it not held.
    crash_primary(&mut world, 0.3);
    for _ in 0..6 {
        let decision = world.step();
        assert_eq!(state_of(&decision), ClusterState::Held, "{decision:?}");
        assert!(decision.commands.is_empty(), "{decision:?}");
        assert!(decision.reports[0].detail.contains("run:vm:4242"));
        world.later(0.5);
    }
    // Released, with db-1 still down: the daemon judges it afresh (here a proven crash).
    world.held.clear();
    let decision = world.step();
    assert!(
        matches!(&decision.commands[..], [Command::Restart { target, .. }] if target == "db-1"),
        "{decision:?}"
    );
}

/// Issue 18: `isolate db-1` then `hang db-1` looks like a proven crash (refused at once, the
/// session closed, no witness streaming), but the restart's first step fails at once: the next
/// pass fails over, within the detection window, instead of waiting out the restart window.
#[test]
fn a_failed_restart_of_the_primary_falls_back_to_a_failover_at_once() {
    let mut world = World::healthy();
    world.step();
    crash_primary(&mut world, 0.3);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::Restarting,
        "{decision:?}"
    );
    world.supervisor.handle_restart_failed("main", "db-1");
    world.later(0.1);
    let decision = world.step();
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "a failover on the next pass, 0.4 s after the fault: {decision:?}"
    );
    // A failed restart of a standby, or of a member that is not the primary, changes nothing.
    let mut world = World::healthy();
    world.step();
    world.supervisor.handle_restart_failed("main", "db-2");
    crash_primary(&mut world, 0.3);
    assert_eq!(state_of(&world.step()), ClusterState::Restarting);
}

/// Issue 18: a primary that refuses connections while hadome's open session to it still
/// answers has not proven a crash: it is fenced and failed over, never restarted in place.
#[test]
fn a_refused_primary_whose_crash_is_not_proven_is_failed_over_not_restarted() {
    let mut world = World::healthy();
    world.step();
    crash_primary(&mut world, 2.0);
    world.sessions.insert("db-1".to_owned(), true);
    let decision = world.step();
    assert!(
        !decision
            .commands
            .iter()
            .any(|command| matches!(command, Command::Restart { .. })),
        "{decision:?}"
    );
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "{decision:?}"
    );
}
