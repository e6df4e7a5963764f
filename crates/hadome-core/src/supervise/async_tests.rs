//! `async_failover`: a failover happens on its own only when the standby it promotes provably
//! holds every commit the old primary acknowledged (issue 17's trials: seeds 21 and 62 of
//! `mackerel`, an asynchronous cluster, lost acknowledged commits when its hung primary was
//! failed over).

use super::test_world::*;
use super::*;
use crate::estate::AsyncFailoverPolicy;
use crate::fact::{SyncSettings, SyncState};
use crate::rule;

/// A healthy trio whose primary is set up by `change`, then seen once.
fn trio_with(change: impl FnOnce(&mut crate::fact::InstanceState)) -> World {
    let mut world = World::healthy();
    let mut db1 = primary(100 * MB);
    change(&mut db1);
    world.answer("db-1", db1);
    world
}

/// A healthy trio seen once, its primary waiting for no standby.
fn asynchronous_trio() -> World {
    trio_with(|db1| {
        db1.synchronous.standby_names = Some(String::new());
        for peer in &mut db1.replication {
            peer.sync_state = SyncState::Async;
        }
    })
}

/// The one escalation of `decision`, and no failover.
fn escalated_alone(decision: &Decision) -> String {
    assert_eq!(failover_to(decision), None, "{decision:?}");
    let escalated = escalations(decision);
    assert_eq!(escalated.len(), 1, "{decision:?}");
    assert_eq!(escalated[0].rule, rule::PROMOTE_ELIGIBILITY);
    escalated[0].message.clone()
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
            .contains("without waiting for any standby when hadome last saw it (synchronous_standby_names is empty)")
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
            .contains("`db-2`, which `db-1` waited for as a synchronous standby, does not answer"),
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
            && failover
                .stopped_because
                .contains("waited for as a synchronous standby"),
        "{}",
        failover.stopped_because
    );
}

#[test]
fn a_standby_the_setting_names_must_answer_even_when_it_was_only_potential() {
    // FIRST 1 (db-2, db-3): db-2 acknowledges, db-3 stands by; were db-2 to drop, db-3 would
    // acknowledge in its place, between two passes, without the list saying so yet.
    let mut world = trio_with(|db1| {
        db1.synchronous.standby_names = Some("FIRST 1 (\"db-2\", \"db-3\")".to_owned());
        db1.replication[1].sync_state = SyncState::Potential;
    });
    world.step();
    hang_primary(&mut world, 2.0);
    world.fail("db-3", CRASHED);
    let message = escalated_alone(&world.step());
    assert!(
        message
            .contains("`db-3`, which `db-1` waited for as a synchronous standby, does not answer"),
        "{message}"
    );
}

#[test]
fn a_primary_whose_synchronous_standby_had_dropped_is_failed_over_once_that_standby_answers() {
    // db-2 stopped streaming before db-1 hung: db-1 lists nobody as synchronous, but its setting
    // still names db-2, so every commit it acknowledged is on db-2, which answers.
    let mut world = trio_with(|db1| {
        db1.replication.remove(0);
    });
    world.step();
    hang_primary(&mut world, 2.0);
    world.answer("db-2", standby(100 * MB, "waiting", 2_000));
    let decision = world.step();
    assert_eq!(
        state_of(&decision),
        ClusterState::FailingOver,
        "{decision:?}"
    );
}

#[test]
fn a_name_outside_the_estate_or_a_local_commit_escapes_the_proof() {
    let mut world = trio_with(|db1| {
        db1.synchronous.standby_names = Some("ANY 1 (\"db-2\", archiver)".to_owned());
    });
    world.step();
    hang_primary(&mut world, 2.0);
    let message = escalated_alone(&world.step());
    assert!(
        message.contains("names `archiver`, and no member of `main` has that application_name"),
        "{message}"
    );

    let mut world = trio_with(|db1| db1.synchronous.commit = Some("local".to_owned()));
    world.step();
    hang_primary(&mut world, 2.0);
    let message = escalated_alone(&world.step());
    assert!(
        message.contains("(synchronous_commit = local)"),
        "{message}"
    );
}

/// db-1 hangs before this daemon ever saw it answer, and its standbys lost their streams (this
/// daemon does not know db-1's keepalive to count their silence by).
fn hang_unseen(world: &mut World) {
    world.later(2.0);
    world.fail("db-1", HUNG);
    world.answer("db-2", standby(100 * MB, "waiting", 2_000));
    world.answer("db-3", standby(100 * MB, "waiting", 2_000));
}

#[test]
fn a_restarted_daemon_reads_what_the_primary_waited_for_from_the_journal() {
    // The daemon starts while db-1 hangs: it never saw db-1 answer, the journal did.
    let mut world = World::healthy();
    hang_unseen(&mut world);
    let decision = world.step();
    assert_eq!(
        failover_to(&decision).as_deref(),
        Some("db-2"),
        "the journal's row of db-1 names db-2: {decision:?}"
    );

    // A journal row written before hadome recorded the settings proves nothing.
    let mut world = World::healthy();
    world
        .history
        .last_known
        .get_mut("db-1")
        .expect("db-1 answered")
        .synchronous = SyncSettings::default();
    hang_unseen(&mut world);
    let message = escalated_alone(&world.step());
    assert!(
        message.contains(
            "is not known (its synchronous_standby_names and synchronous_commit were not read)"
        ),
        "{message}"
    );
}
