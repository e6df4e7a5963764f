//! The failover state machine driven step by step, as the daemon's shell drives it, over servers
//! simulated in the supervisor's test world — including a `kill -9` of the daemon at every phase,
//! before and after the phase's step was carried out, and a new daemon carrying on from the
//! journaled record. The same protocol runs on real servers in
//! `crates/hadome/tests/it/daemon.rs` (`a_daemon_killed_after_any_failover_phase_…`).

use std::collections::{BTreeMap, BTreeSet};

use super::test_world::{failover_plan, failover_to, hang_primary, primary, standby, World, MB};
use super::*;
use crate::position::{Lsn, TimelineSwitch};
use crate::rule;

const REFUSED: &str = "cannot connect: error connecting to server: Connection refused";

/// The servers as the failover's steps change them.
#[derive(Debug, Default)]
struct Servers {
    /// Members that accept writes.
    writable: BTreeSet<String>,
    fenced: BTreeSet<String>,
    /// Whom each repointed standby follows.
    upstream: BTreeMap<String, String>,
    /// Every promotion carried out, in order.
    promotions: Vec<String>,
    synchronous_standby_names: Option<String>,
    /// Fences fail (a host that cannot be reached to stop the old primary).
    fence_fails: bool,
}

impl Servers {
    fn trio() -> Servers {
        Servers {
            writable: BTreeSet::from(["db-1".to_owned()]),
            ..Servers::default()
        }
    }

    /// Carries out one step on the world, as the executor would, and says what became of it.
    fn carry_out(&mut self, world: &mut World, step: &FailoverStep) -> Reported {
        match step {
            FailoverStep::Fence { target } => {
                if self.fence_fails {
                    return Reported::Failed("`ssh db-1 …` exited with 255".to_owned());
                }
                self.fenced.insert(target.clone());
                self.writable.remove(target);
                world.fail(target, REFUSED);
                Reported::Done("killed".to_owned())
            }
            FailoverStep::Promote { target } => {
                assert!(
                    !self.fenced.contains(target),
                    "promoted the fenced `{target}`"
                );
                assert!(
                    self.writable.is_empty(),
                    "promoted `{target}` beside {:?}: two primaries",
                    self.writable
                );
                self.writable.insert(target.clone());
                self.promotions.push(target.clone());
                let mut new = primary(100 * MB);
                new.replication.clear();
                new.position.timeline = 2;
                new.position.history = Some(vec![TimelineSwitch {
                    timeline: 1,
                    switch_lsn: Lsn(100 * MB),
                }]);
                world.answer(target, new);
                Reported::Done("pg_promote() returned; it accepts writes".to_owned())
            }
            FailoverStep::SetSynchronous { value, .. } => {
                self.synchronous_standby_names = Some(value.clone());
                Reported::Done(String::new())
            }
            FailoverStep::Follow { target, primary } => {
                self.upstream.insert(target.clone(), primary.clone());
                let mut follower = standby(100 * MB, "streaming", 100);
                follower.position.timeline = 2;
                world.answer(target, follower);
                Reported::Done("repointed".to_owned())
            }
            FailoverStep::Observe | FailoverStep::Finish { .. } => {
                unreachable!("the driver handles {step:?} itself")
            }
        }
    }
}

/// Where the daemon is killed: right after the record of `phase` was journaled, or (with
/// `step_done`) once the step of that phase was also carried out but not yet recorded.
#[derive(Debug, Clone, Copy)]
struct Kill {
    phase: FailoverPhase,
    step_done: bool,
}

/// Drives `failover` the way the daemon does — record, step, report, record … — until it is
/// over or `kill` stops it. Returns the journal's records (the last one is what a new daemon
/// reads back) and, when it got there, the final step.
fn drive(
    world: &mut World,
    servers: &mut Servers,
    mut failover: Failover,
    kill: Option<Kill>,
) -> (Vec<Failover>, Option<FailoverStep>) {
    let mut records = vec![failover.clone()];
    loop {
        let at_kill = kill.filter(|kill| kill.phase == failover.phase);
        if at_kill.is_some_and(|kill| !kill.step_done) {
            return (records, None);
        }
        let step = failover.next_step();
        match &step {
            // The outcome is journaled last: a kill in `Done` comes before it.
            FailoverStep::Finish { .. } if at_kill.is_some() => return (records, None),
            FailoverStep::Finish { .. } => return (records, Some(step)),
            FailoverStep::Observe => {
                if at_kill.is_some() {
                    // Observing changes nothing: a kill after it is a kill before it.
                    return (records, None);
                }
                failover.handle_facts(&world.estate, &world.facts, &world.history, world.now);
            }
            _ => {
                let reported = servers.carry_out(world, &step);
                if at_kill.is_some() {
                    return (records, None);
                }
                failover.handle_step(reported);
            }
        }
        records.push(failover.clone());
    }
}

/// A trio whose primary db-1 hung, and the failover the supervisor ordered for it.
fn hung_trio() -> (World, Failover) {
    let mut world = World::healthy();
    world.step();
    hang_primary(&mut world, 3.0);
    let decision = world.step();
    let plan = failover_plan(&decision).expect("a failover is ordered");
    assert_eq!(failover_to(&decision).as_deref(), Some("db-2"));
    let synchronous = world.supervisor.synchronous_of("main").to_vec();
    (world, Failover::start(&plan, &synchronous))
}

fn steps_of(records: &[Failover]) -> Vec<FailoverPhase> {
    let mut phases: Vec<FailoverPhase> = records.iter().map(|record| record.phase).collect();
    phases.dedup();
    phases
}

#[test]
fn a_failover_fences_then_observes_then_promotes_then_resyncs_then_follows() {
    let (mut world, failover) = hung_trio();
    assert_eq!(
        failover.synchronous,
        ["db-2"],
        "as the old primary listed them"
    );
    let mut servers = Servers::trio();
    let (records, last) = drive(&mut world, &mut servers, failover, None);
    assert_eq!(
        steps_of(&records),
        [
            FailoverPhase::Fencing,
            FailoverPhase::Reobserving,
            FailoverPhase::Promoting,
            FailoverPhase::Resyncing,
            FailoverPhase::Following,
            FailoverPhase::Done,
        ]
    );
    assert_eq!(servers.promotions, ["db-2"]);
    assert_eq!(servers.fenced, BTreeSet::from(["db-1".to_owned()]));
    assert_eq!(
        servers.upstream.get("db-3").map(String::as_str),
        Some("db-2")
    );
    assert_eq!(
        servers.synchronous_standby_names.as_deref(),
        Some("ANY 1 (\"db-3\")"),
        "commits wait for the follower again, as they waited for a standby before"
    );
    let Some(FailoverStep::Finish {
        ok: true,
        detail,
        escalation: None,
    }) = last
    else {
        panic!("{last:?}");
    };
    assert_eq!(detail, "failover of `main` from `db-1` to `db-2` done");
    let done = records.last().unwrap();
    assert!(done.fenced);
    assert_eq!(done.promoted(), Some("db-2"));
}

#[test]
fn a_daemon_killed_at_any_phase_is_carried_on_by_the_next_to_one_primary_with_the_old_one_fenced() {
    for phase in [
        FailoverPhase::Fencing,
        FailoverPhase::Reobserving,
        FailoverPhase::Promoting,
        FailoverPhase::Resyncing,
        FailoverPhase::Following,
        FailoverPhase::Done,
    ] {
        for step_done in [false, true] {
            let kill = Kill { phase, step_done };
            let (mut world, failover) = hung_trio();
            let mut servers = Servers::trio();
            let (records, last) = drive(&mut world, &mut servers, failover, Some(kill));
            assert!(last.is_none(), "{kill:?}: killed before the end");
            let record = records.last().unwrap().clone();
            assert_eq!(record.phase, phase, "{kill:?}");

            // A new daemon: a supervisor that knows nothing but the journal's record.
            world.supervisor = Supervisor::new();
            let resumed = record.resumed();
            world.supervisor.handle_failover(&resumed);
            let (records, last) = drive(&mut world, &mut servers, resumed, None);
            assert!(
                matches!(last, Some(FailoverStep::Finish { ok: true, .. })),
                "{kill:?}: {last:?} after {records:#?}"
            );
            assert_eq!(servers.promotions, ["db-2"], "{kill:?}: promoted once");
            assert_eq!(
                servers.writable,
                BTreeSet::from(["db-2".to_owned()]),
                "{kill:?}: one primary"
            );
            assert!(servers.fenced.contains("db-1"), "{kill:?}");
            assert_eq!(
                servers.upstream.get("db-3").map(String::as_str),
                Some("db-2"),
                "{kill:?}"
            );
            let done = records.last().unwrap();
            assert!(done.fenced, "{kill:?}: the old primary is known fenced");
            world.supervisor.handle_failover(done);
            assert_eq!(
                world.supervisor.primary_of("main"),
                Some("db-2"),
                "{kill:?}"
            );

            // The next passes: db-2 leads, db-1 stays fenced (never restarted as it is), and
            // nothing is escalated for lack of a candidate.
            for _ in 0..3 {
                world.later(1.0);
                let decision = world.step();
                assert_eq!(decision.reports[0].state, ClusterState::Healthy, "{kill:?}");
                assert!(
                    decision.commands.iter().all(|command| matches!(
                        command,
                        Command::Heartbeat { instance } if instance == "db-2"
                    )),
                    "{kill:?}: {decision:#?}"
                );
            }
        }
    }
}

#[test]
fn a_fence_that_fails_stops_the_failover_before_anything_is_promoted() {
    let (mut world, failover) = hung_trio();
    let mut servers = Servers {
        fence_fails: true,
        ..Servers::trio()
    };
    let (records, last) = drive(&mut world, &mut servers, failover, None);
    let Some(FailoverStep::Finish {
        ok: false,
        detail,
        escalation: Some(escalation),
    }) = last
    else {
        panic!("{last:?}");
    };
    assert!(
        detail.contains("fencing `db-1` failed (`ssh db-1 …` exited with 255)"),
        "{detail}"
    );
    assert_eq!(escalation.rule, rule::PROMOTE_ELIGIBILITY);
    assert_eq!(escalation.subject, "db-1");
    assert!(servers.promotions.is_empty());
    let stopped = records.last().unwrap();
    assert!(!stopped.fenced, "the fence is not known done");
    // A new daemon reading this record back does not take db-1 for fenced: a crash of db-1 may
    // still be restarted in place.
    world.supervisor = Supervisor::new();
    world.supervisor.handle_failover(stopped);
    assert!(!world
        .supervisor
        .clusters
        .get("main")
        .is_some_and(|watch| watch.old_primaries.contains("db-1")));
}

#[test]
fn with_no_candidate_after_the_fence_it_escalates_and_the_old_primary_stays_known_fenced() {
    let (mut world, failover) = hung_trio();
    // After the fence, both standbys turn out to have lost their stream long ago.
    world.answer("db-2", standby(10 * MB, "waiting", 3_600_000));
    world.answer("db-3", standby(10 * MB, "waiting", 3_600_000));
    let mut servers = Servers::trio();
    let (records, last) = drive(&mut world, &mut servers, failover, None);
    let Some(FailoverStep::Finish {
        ok: false,
        detail,
        escalation: Some(escalation),
    }) = last
    else {
        panic!("{last:?}");
    };
    assert!(
        detail.starts_with(
            "failover of `main` stopped after fencing `db-1`: no standby may be promoted: `db-2`: "
        ),
        "{detail}"
    );
    assert_eq!(escalation.rule, rule::PROMOTE_ELIGIBILITY);
    assert!(servers.promotions.is_empty());
    let stopped = records.last().unwrap();
    assert!(stopped.fenced);
    assert_eq!(stopped.promoted(), None);
}

/// The last note's finding: a failover interrupted after its fence (its daemon killed while a
/// person's `hadome run` held the cluster, so the next daemon closed it as interrupted) must not
/// leave the next daemon believing db-1 merely crashed: it would restart the fenced db-1 in place,
/// which comes back read-only, and then find no candidate that holds every commit.
#[test]
fn a_fenced_primary_read_back_from_an_interrupted_failover_is_failed_over_not_restarted() {
    let (mut world, failover) = hung_trio();
    let mut servers = Servers::trio();
    let kill = Kill {
        phase: FailoverPhase::Reobserving,
        step_done: false,
    };
    let (records, _) = drive(&mut world, &mut servers, failover, Some(kill));
    let interrupted = records.last().unwrap().clone();
    assert!(interrupted.fenced);

    world.supervisor = Supervisor::new();
    world.supervisor.handle_failover(&interrupted);
    // db-1 is down (its fence killed it), the standbys lost it long ago.
    world.later(5.0);
    world.answer("db-2", standby(100 * MB, "waiting", 8_000));
    world.answer("db-3", standby(100 * MB, "waiting", 8_000));
    let mut decided = Vec::new();
    for _ in 0..3 {
        let decision = world.step();
        decided.extend(decision.commands);
        world.later(0.5);
    }
    assert!(
        !decided
            .iter()
            .any(|command| matches!(command, Command::Restart { target, .. } if target == "db-1")),
        "the fenced db-1 is not restarted in place: {decided:#?}"
    );
    assert!(
        decided.iter().any(|command| matches!(
            command,
            Command::Failover(plan) if plan.old_primary == "db-1" && plan.candidate == "db-2"
        )),
        "{decided:#?}"
    );
}

#[test]
fn phases_read_back_as_they_are_written() {
    for phase in FailoverPhase::ALL {
        assert_eq!(FailoverPhase::parse(phase.as_str()), Some(phase));
    }
    assert_eq!(FailoverPhase::parse("promoted"), None);
}
