//! `async_failover`: a failover happens on its own only when the standby it promotes provably
//! holds every commit the old primary acknowledged (issue 17's trials: seeds 21 and 62 of
//! `mackerel`, an asynchronous cluster, lost acknowledged commits when its hung primary was
//! failed over).

use super::test_world::*;
use super::*;
use crate::estate::AsyncFailoverPolicy;
use crate::rule;

/// A healthy trio seen once, its primary listing both standbys as asynchronous.
fn asynchronous_trio() -> World {
    let mut world = World::healthy();
    let mut db1 = primary(100 * MB);
    for peer in &mut db1.replication {
        peer.sync_state = crate::fact::SyncState::Async;
    }
    world.answer("db-1", db1);
    world
}

#[test]
fn an_asynchronous_primary_that_hung_is_escalated_not_failed_over() {
    let mut world = asynchronous_trio();
    world.step();
    hang_primary(&mut world, 2.0);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::NoCandidate,
        "{decision:?}"
    );
    assert_eq!(failover_to(&decision), None);
    let escalated = escalations(&decision);
    assert_eq!(escalated.len(), 1, "{decision:?}");
    assert_eq!(escalated[0].rule, rule::PROMOTE_ELIGIBILITY);
    assert!(
        escalated[0]
            .message
            .contains("listed no synchronous standby")
            && escalated[0].message.contains("async_failover"),
        "{}",
        escalated[0].message
    );
    // Once, not every pass.
    world.later(0.5);
    let decision = world.step();
    assert_eq!(state_of(&decision), ClusterState::NoCandidate);
    assert!(decision.commands.is_empty(), "{decision:?}");
}

#[test]
fn an_asynchronous_primary_is_failed_over_when_the_operator_accepts_the_loss() {
    let mut world = asynchronous_trio();
    world.estate.clusters[0].automation.async_failover = AsyncFailoverPolicy::Promote;
    world.step();
    hang_primary(&mut world, 2.0);
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::FailingOver,
        "{decision:?}"
    );
    assert_eq!(failover_to(&decision).as_deref(), Some("db-2"));
}

#[test]
fn a_synchronous_standby_that_does_not_answer_leaves_the_other_unproven() {
    let mut world = World::healthy();
    world.step();
    hang_primary(&mut world, 2.0);
    // db-2, the synchronous one, is gone too: db-3 may lack what db-1 acknowledged on db-2's word.
    world.fail("db-2", CRASHED);
    let decision = world.step();
    assert_eq!(failover_to(&decision), None, "{decision:?}");
    let escalated = escalations(&decision);
    assert_eq!(escalated.len(), 1, "{decision:?}");
    assert!(
        escalated[0]
            .message
            .contains("`db-2`, which `db-1` listed as synchronous, does not answer"),
        "{}",
        escalated[0].message
    );
}

#[test]
fn a_failover_stops_after_the_fence_when_the_synchronous_standby_is_gone_by_then() {
    let mut world = World::healthy();
    world.step();
    hang_primary(&mut world, 2.0);
    let plan = failover_plan(&world.step()).expect("a failover is ordered");
    let mut failover = Failover::start(&plan, world.supervisor.synchronous_of("main"));
    assert!(matches!(failover.next_step(), FailoverStep::Fence { .. }));
    failover.handle_step(Reported::Done("killed".to_owned()));
    assert_eq!(failover.phase, FailoverPhase::Reobserving);
    // Between the decision and the fence, db-2 crashed: db-3 stands where db-1 was last seen,
    // but db-1 may have acknowledged more on db-2's word since.
    world.later(0.3);
    world.fail("db-1", CRASHED);
    world.fail("db-2", CRASHED);
    failover.handle_facts(&world.estate, &world.facts, &world.history, world.now);
    assert_eq!(failover.phase, FailoverPhase::Escalated, "{failover:?}");
    assert!(
        failover.stopped_because.contains("not promoting `db-3`")
            && failover.stopped_because.contains("listed as synchronous"),
        "{}",
        failover.stopped_because
    );
}
