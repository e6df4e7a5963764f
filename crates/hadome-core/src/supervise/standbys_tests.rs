//! The supervisor on hand-built passes, the standbys' side: restarts within budget, one repair
//! per pass, old primaries after a failover, and rebuilds only on a proven cause (issue 18).

use super::test_world::*;
use super::*;
use crate::estate::OldPrimaryPolicy;
use crate::position::{DataPosition, Lsn, TimelineSwitch};
use crate::rule;

#[test]
fn a_crashing_standby_is_restarted_within_budget_then_paused() {
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    world.crash_standby("db-3");
    let decision = world.step();
    assert!(decision
        .commands
        .iter()
        .any(|command| matches!(command, Command::Restart { target, .. } if target == "db-3")));
    // It came back, then crashed again; the budget of 3 is spent.
    world.later(0.5);
    world.answer("db-3", standby(100 * MB, "streaming", 100));
    world.step();
    world.spent.restarts.insert("db-3".to_owned(), 3);
    world.later(0.5);
    world.crash_standby("db-3");
    let decision = world.step();
    let paused: Vec<&Escalation> = escalations(&decision);
    assert_eq!(paused.len(), 1, "{decision:?}");
    assert_eq!(paused[0].subject, "db-3");
    assert!(paused[0].message.contains("max_restarts_per_target = 3"));
    assert!(!decision
        .commands
        .iter()
        .any(|command| matches!(command, Command::Restart { .. })));
}

#[test]
fn a_restart_that_did_not_bring_a_standby_back_pauses_it() {
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    world.crash_standby("db-3");
    world.step();
    world.later(5.0);
    assert!(world
        .step()
        .commands
        .iter()
        .all(|command| matches!(command, Command::Heartbeat { .. })));
    world.later(6.0);
    let decision = world.step();
    assert!(decision.commands.iter().any(|command| matches!(command, Command::Pause { escalation } if escalation.subject == "db-3")), "{decision:?}");
}

#[test]
fn one_repair_per_pass_so_the_next_is_decided_on_fresh_facts() {
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    world.crash_standby("db-2");
    world.crash_standby("db-3");
    let repairs = |decision: &Decision| {
        decision
            .commands
            .iter()
            .filter(|command| matches!(command, Command::Restart { .. }))
            .count()
    };
    assert_eq!(repairs(&world.step()), 1);
    world.later(0.5);
    world.answer("db-2", standby(100 * MB, "streaming", 100));
    let decision = world.step();
    assert!(
        decision
            .commands
            .iter()
            .any(|command| matches!(command, Command::Restart { target, .. } if target == "db-3")),
        "{decision:?}"
    );
}

/// A failover from `old` to `new` as its journal record reads once it is done.
pub(super) fn done_failover(old: &str, new: &str) -> Failover {
    Failover {
        cluster: "main".to_owned(),
        old_primary: old.to_owned(),
        evidence: "test".to_owned(),
        synchronous: vec![new.to_owned()],
        phase: FailoverPhase::Done,
        fenced: true,
        new_primary: Some(new.to_owned()),
        followers: Vec::new(),
        synchronous_restored: true,
        stopped_because: String::new(),
    }
}

/// After a failover to db-2 (timeline 2, switched at 100 MB), the fenced old primary db-1 is
/// down: its fence killed it.
fn after_failover_with_old_primary_fenced(policy: OldPrimaryPolicy) -> World {
    let mut world = World::healthy();
    world.estate.clusters[0].automation.on_old_primary = policy;
    world.step();
    world.later(3.0);
    world
        .supervisor
        .handle_failover(&done_failover("db-1", "db-2"));
    let mut new = primary(101 * MB);
    new.position.timeline = 2;
    new.position.history = Some(vec![crate::position::TimelineSwitch {
        timeline: 1,
        switch_lsn: Lsn(100 * MB),
    }]);
    new.replication
        .retain(|peer| peer.application_name == "db-3");
    world.answer("db-2", new);
    let mut follower = standby(101 * MB, "streaming", 100);
    follower.position.timeline = 2;
    world.answer("db-3", follower);
    world.fail(
        "db-1",
        "cannot connect: error connecting to server: Connection refused",
    );
    world
}

fn rebuilds(decision: &Decision) -> Vec<(String, String)> {
    decision
        .commands
        .iter()
        .filter_map(|command| match command {
            Command::Rebuild { target, source, .. } => Some((target.clone(), source.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fenced_old_primary_is_rebuilt_from_the_new_primary_under_the_rebuild_policy() {
    let mut world = after_failover_with_old_primary_fenced(OldPrimaryPolicy::Rebuild);
    let decision = world.step();
    assert_eq!(decision.reports[0].primary.as_deref(), Some("db-2"));
    assert_eq!(
        rebuilds(&decision),
        [("db-1".to_owned(), "db-2".to_owned())],
        "{decision:?}"
    );
    // It is never restarted as it is: that would bring back a primary of timeline 1.
    assert!(!decision
        .commands
        .iter()
        .any(|command| matches!(command, Command::Restart { target, .. } if target == "db-1")));
}

#[test]
fn a_fenced_old_primary_stays_stopped_under_the_stop_policy() {
    let mut world = after_failover_with_old_primary_fenced(OldPrimaryPolicy::Stop);
    for _ in 0..3 {
        let decision = world.step();
        assert_eq!(
            decision.commands,
            vec![Command::Heartbeat {
                instance: "db-2".to_owned()
            }],
            "{decision:?}"
        );
        world.later(0.5);
    }
}

#[test]
fn a_standby_that_does_not_stream_is_escalated_after_stall_seconds_and_never_rebuilt_without_proof()
{
    // Issue 18: not streaming proves nothing (a network cut stops the stream too).
    let mut world = World::healthy();
    world.step();
    // db-1 crashed and was restarted; db-2's WAL receiver has not reconnected yet.
    world.later(2.0);
    world.fail("db-1", CRASHED);
    world.answer("db-2", state(true, 100 * MB));
    world.answer("db-3", state(true, 100 * MB));
    world.step();
    world.later(0.5);
    world.answer("db-1", primary(100 * MB));
    for _ in 0..4 {
        let decision = world.step();
        assert!(rebuilds(&decision).is_empty(), "{decision:?}");
        assert!(escalations(&decision).is_empty(), "{decision:?}");
        world.later(1.0);
    }
    // It reconnects: its clock is forgotten.
    world.answer("db-2", standby(100 * MB, "streaming", 100));
    assert!(rebuilds(&world.step()).is_empty());
    // db-3 never does: escalated once stall_seconds (30 s) passed, once, and never rebuilt.
    world.later(20.0);
    assert!(escalations(&world.step()).is_empty());
    world.later(11.0);
    let decision = world.step();
    assert!(rebuilds(&decision).is_empty(), "{decision:?}");
    let told = escalations(&decision);
    assert_eq!(told.len(), 1, "{decision:?}");
    assert_eq!(told[0].rule, rule::REPLICATION_STALLED);
    assert_eq!(told[0].subject, "db-3");
    assert!(
        told[0].message.contains("stall_seconds = 30")
            && told[0].message.contains("hadome does not rebuild it"),
        "{}",
        told[0].message
    );
    for _ in 0..3 {
        world.later(60.0);
        let decision = world.step();
        assert!(rebuilds(&decision).is_empty(), "{decision:?}");
        assert!(escalations(&decision).is_empty(), "told once: {decision:?}");
    }
    // It streams again, then stalls again: told again.
    world.answer("db-3", standby(100 * MB, "streaming", 100));
    world.step();
    world.later(1.0);
    world.answer("db-3", state(true, 100 * MB));
    world.step();
    world.later(31.0);
    assert_eq!(escalations(&world.step()).len(), 1);
}

#[test]
fn a_standby_whose_wal_was_removed_upstream_is_rebuilt_at_once() {
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    // db-3 stands in segment 10 (10 MB); the primary keeps segments from 50 on.
    let mut primary = primary(100 * MB);
    primary.oldest_wal_segment = Some(50);
    world.answer("db-1", primary);
    world.answer("db-3", state(true, 10 * MB));
    let decision = world.step();
    assert_eq!(
        rebuilds(&decision),
        [("db-3".to_owned(), "db-1".to_owned())],
        "{decision:?}"
    );
}

#[test]
fn a_standby_whose_history_diverged_is_a_proven_cause_but_its_rebuild_waits_for_a_person() {
    // Issue 18: a diverged history is proven (it can never stream from the primary again), so
    // the stall is not merely waited out; but the rebuild would discard the standby's own
    // writes, so `overwrite-older` refuses it and the daemon escalates once instead.
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    let mut primary = primary(100 * MB);
    primary.position = DataPosition {
        timeline: 2,
        history: Some(vec![TimelineSwitch {
            timeline: 1,
            switch_lsn: Lsn(50 * MB),
        }]),
        ..position(2, 100 * MB)
    };
    world.answer("db-1", primary);
    // db-3 went on writing on timeline 1 past the fork at 50 MB.
    world.answer("db-3", state(true, 60 * MB));
    let decision = world.step();
    assert!(rebuilds(&decision).is_empty(), "{decision:?}");
    let told = escalations(&decision);
    assert_eq!(told.len(), 1, "{decision:?}");
    assert_eq!(told[0].subject, "db-3");
    assert_eq!(told[0].rule, rule::OVERWRITE_OLDER, "{}", told[0].message);
    assert!(
        told[0]
            .message
            .contains("its history diverged from the primary `db-1`'s"),
        "{}",
        told[0].message
    );
    world.later(1.0);
    assert!(escalations(&world.step()).is_empty(), "told once");
}

/// Issue 17's trials, seed 2: a standby that refuses hadome's connections while its primary lists
/// it in `pg_stat_replication` runs (the path from hadome fails, here the lab's isolated client
/// route): it is never restarted, and a person hears of it once, after `stall_seconds`.
#[test]
fn a_standby_hadome_cannot_reach_but_its_primary_lists_is_not_restarted() {
    let restarts = |decision: &Decision| {
        decision
            .commands
            .iter()
            .filter(|command| matches!(command, Command::Restart { .. }))
            .count()
    };
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    world.fail("db-3", CRASHED);
    let decision = world.step();
    assert_eq!(restarts(&decision), 0, "{decision:?}");
    assert!(escalations(&decision).is_empty(), "{decision:?}");
    // Still unreachable after stall_seconds (30 s): escalated once, never restarted.
    world.later(31.0);
    let decision = world.step();
    assert_eq!(restarts(&decision), 0, "{decision:?}");
    let escalated = escalations(&decision);
    assert_eq!(escalated.len(), 1, "{decision:?}");
    assert_eq!(
        (escalated[0].rule, escalated[0].subject.as_str()),
        (rule::STALE_FACTS, "db-3")
    );
    assert!(
        escalated[0]
            .message
            .contains("`db-1` lists it in pg_stat_replication")
            && escalated[0].message.contains("does not restart it"),
        "{}",
        escalated[0].message
    );
    world.later(1.0);
    let decision = world.step();
    assert!(escalations(&decision).is_empty(), "told once: {decision:?}");
    // It answers again, then is cut off again: the next episode is told again.
    world.later(1.0);
    world.answer("db-3", standby(100 * MB, "streaming", 100));
    world.step();
    world.later(1.0);
    world.fail("db-3", CRASHED);
    assert!(escalations(&world.step()).is_empty());
    world.later(31.0);
    assert_eq!(escalations(&world.step()).len(), 1);
    // Once its primary no longer lists it, its postmaster is gone: restarted.
    world.later(1.0);
    world.crash_standby("db-3");
    assert_eq!(restarts(&world.step()), 1);
}

/// The same for a standby whose connections from hadome time out (a firewall that drops): it is
/// not hung, its primary lists it; a person hears of it once, after `stall_seconds`.
#[test]
fn a_standby_whose_probes_time_out_while_its_primary_lists_it_is_escalated_once() {
    let mut world = World::healthy();
    world.step();
    world.later(0.5);
    world.fail("db-2", HUNG);
    assert!(escalations(&world.step()).is_empty());
    world.later(31.0);
    let decision = world.step();
    let escalated = escalations(&decision);
    assert_eq!(escalated.len(), 1, "{decision:?}");
    assert!(
        escalated[0]
            .message
            .contains("hadome has not reached `db-2` for 31 s")
            && escalated[0].message.contains("no answer"),
        "{}",
        escalated[0].message
    );
    assert!(decision
        .commands
        .iter()
        .all(|command| !matches!(command, Command::Restart { .. } | Command::Rebuild { .. })));
}
