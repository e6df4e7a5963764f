//! Incident D (a quorum lost to an image of a healthy member) replayed on hand-built facts:
//! `quorum` for quorum clusters. Each case renders the verdict and the findings as
//! `rule@subject(severity)`, and checks the words a person reads.
//!
//! The same story runs on real etcd in the lab's `quorum` drill (issue 13, the lab's half).

use std::path::PathBuf;

use crate::action::Action;
use crate::estate::Estate;
use crate::fact::{Facts, FailureKind, History, Timestamp};
use crate::finding::Finding;
use crate::host::{BootRecord, Host, HostCommands, HostFacts, HostOutcome, HostProbe};
use crate::interlock::{assess, check, Assessment};
use crate::quorum::{
    EtcdMember, MemberLastKnown, MemberOutcome, MemberProbe, MemberState, QuorumCluster,
};

/// 2027-01-15 08:00:00 UTC.
const NOW: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn ago(milliseconds: i64) -> Timestamp {
    Timestamp(NOW.0 - milliseconds)
}

/// `etcd-N` has member id `N`; `etcd-1` leads in term 7 at raft index 5000.
fn state(number: u64) -> MemberState {
    MemberState {
        member_id: number,
        leader_id: 1,
        raft_term: 7,
        raft_index: 5000,
        db_size_bytes: 20 << 20,
        is_learner: false,
        errors: Vec::new(),
        alarms: Vec::new(),
        members: (1..=3).map(|id| (id, format!("etcd-{id}"))).collect(),
    }
}

fn host(name: &str) -> Host {
    Host {
        name: name.to_owned(),
        facts_command: None,
        data_paths: Vec::new(),
        min_uptime_seconds: 600.0,
        max_boots: 3,
        boot_window_seconds: 3600.0,
        freshness_seconds: 30.0,
        commands: HostCommands::default(),
        ssh: None,
    }
}

/// A host up for two days, read now: `reboot-uptime` has nothing to say.
fn settled_host() -> HostProbe {
    HostProbe {
        observed_at: NOW,
        outcome: HostOutcome::Answered(Box::new(HostFacts {
            boot_id: "b".repeat(32),
            booted_at: ago(48 * HOUR),
            boots: Some(vec![BootRecord {
                boot_id: "b".repeat(32),
                first_entry: ago(48 * HOUR),
                last_entry: NOW,
            }]),
            timers: Vec::new(),
            services: Vec::new(),
            failed_units: Vec::new(),
            data_paths: Vec::new(),
        })),
    }
}

struct World {
    estate: Estate,
    facts: Facts,
    history: History,
}

impl World {
    /// Incident D's estate: `etcd-1`..`etcd-3` on `h1`..`h3`, in quorum `etcd`, every member
    /// and host healthy and read now, every member last healthy now.
    fn healthy() -> World {
        let mut world = World {
            estate: Estate {
                instances: Vec::new(),
                clusters: Vec::new(),
                journal_path: PathBuf::from("/tmp/j.sqlite"),
                probe_timeout_seconds: 1.0,
                probe_interval_seconds: 1.0,
                notify: Default::default(),
                backups: Vec::new(),
                snapshots: Vec::new(),
                hosts: (1..=3).map(|n| host(&format!("h{n}"))).collect(),
                etcd_members: (1..=3)
                    .map(|n| EtcdMember {
                        name: format!("etcd-{n}"),
                        endpoints: vec![format!("http://127.0.0.1:2379{n}")],
                        host: format!("h{n}"),
                        data_dir: None,
                        commands: Default::default(),
                    })
                    .collect(),
                quorums: vec![QuorumCluster {
                    name: "etcd".to_owned(),
                    members: (1..=3).map(|n| format!("etcd-{n}")).collect(),
                    max_raft_lag: 1000,
                    freshness_seconds: 30.0,
                    security: Default::default(),
                }],
                coordination: None,
                api: None,
                web: Default::default(),
            },
            facts: Facts::default(),
            history: History::default(),
        };
        for n in 1..=3u64 {
            world.answer(n, state(n));
            world.facts.hosts.insert(format!("h{n}"), settled_host());
            world.history.members.insert(
                format!("etcd-{n}"),
                MemberLastKnown {
                    last_healthy: Some(NOW),
                    last_state: None,
                    episodes: Vec::new(),
                },
            );
        }
        world
    }

    fn answer(&mut self, number: u64, state: MemberState) {
        self.facts.members.insert(
            format!("etcd-{number}"),
            MemberProbe {
                observed_at: NOW,
                outcome: MemberOutcome::Answered(state),
            },
        );
    }

    /// `etcd-3` refuses connections, last healthy 14 minutes ago: the incident's broken member.
    fn etcd_3_down() -> World {
        let mut world = World::healthy();
        world.facts.members.insert(
            "etcd-3".to_owned(),
            MemberProbe {
                observed_at: NOW,
                outcome: MemberOutcome::Unreachable {
                    error: "connection refused".to_owned(),
                    kind: FailureKind::Down,
                },
            },
        );
        world.history.members.insert(
            "etcd-3".to_owned(),
            MemberLastKnown {
                last_healthy: Some(ago(14 * MINUTE)),
                last_state: None,
                episodes: Vec::new(),
            },
        );
        world
    }

    fn ask(&self, action: &Action) -> Assessment {
        assess(&self.estate, &self.facts, &self.history, action, NOW)
    }

    fn check(&self) -> Vec<Finding> {
        check(&self.estate, &self.facts, &self.history, NOW)
    }
}

fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|finding| {
            format!(
                "{}@{}({})",
                finding.rule,
                finding.subject,
                finding.severity.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn verdict(assessment: &Assessment) -> String {
    format!(
        "{} {}",
        assessment.verdict.as_str(),
        render(&assessment.findings)
    )
}

fn reboot(host: &str) -> Action {
    Action::Reboot {
        host: host.to_owned(),
    }
}

fn image(host: &str, reboots: bool) -> Action {
    Action::Image {
        host: host.to_owned(),
        reboots,
    }
}

fn stop(member: &str) -> Action {
    Action::Stop {
        target: member.to_owned(),
    }
}

#[test]
fn quorum_incident_d_an_image_of_a_healthy_member_is_denied_while_another_is_down() {
    let world = World::etcd_3_down();
    let answer = world.ask(&image("h2", true));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert_eq!(
        answer.findings[0].message,
        "3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` does not answer \
         (connection refused; down), down for 14 min since it was last healthy; imaging `h2` (which reboots it) \
         takes `etcd-2` down: 1 healthy left, under the quorum of 2: `etcd` would stop \
         accepting writes"
    );
    assert_eq!(
        answer.findings[0].alternative.as_deref(),
        Some(
            "bring `etcd-3` back and caught up first (a member that is down often comes back \
             by itself: wait, then ask again); or take the image without rebooting \
             (`--no-reboot`)"
        )
    );
    assert_eq!(verdict(&world.ask(&reboot("h2"))), "deny quorum@etcd(deny)");
    let delete = Action::DeleteHost {
        host: "h2".to_owned(),
    };
    assert!(
        verdict(&world.ask(&delete)).contains("quorum@etcd(deny)"),
        "{}",
        verdict(&world.ask(&delete))
    );
    assert_eq!(
        verdict(&world.ask(&stop("etcd-1"))),
        "deny quorum@etcd(deny)"
    );
    let restart = Action::Restart {
        target: "etcd-2".to_owned(),
    };
    let answer = world.ask(&restart);
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0]
            .message
            .contains("restarting `etcd-2` takes `etcd-2` down: 1 healthy left"),
        "{}",
        answer.findings[0].message
    );
}

#[test]
fn quorum_an_image_without_reboot_takes_no_member_down() {
    let world = World::etcd_3_down();
    assert_eq!(verdict(&world.ask(&image("h2", false))), "allow ");
}

#[test]
fn quorum_all_three_healthy_a_reboot_of_h2_is_allowed_with_a_warning() {
    let world = World::healthy();
    let answer = world.ask(&reboot("h2"));
    assert_eq!(verdict(&answer), "allow quorum@etcd(warn)");
    assert_eq!(
        answer.findings[0].message,
        "3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` healthy; rebooting \
         `h2` takes `etcd-2` down: 2 healthy left, exactly the quorum: one more failure while it \
         lasts stops writes"
    );
    assert_eq!(
        verdict(&world.ask(&stop("etcd-3"))),
        "allow quorum@etcd(warn)"
    );
    assert_eq!(world.check(), []);
}

#[test]
fn quorum_stopping_the_member_already_down_is_allowed() {
    let world = World::etcd_3_down();
    // etcd-3 is down already: stopping it leaves the two healthy members, the quorum.
    assert_eq!(
        verdict(&world.ask(&stop("etcd-3"))),
        "allow quorum@etcd(warn)"
    );
}

#[test]
fn quorum_unknown_stale_lagging_and_erroring_members_count_as_down() {
    let mut world = World::healthy();
    world.facts.members.remove("etcd-3");
    world.history.members.remove("etcd-3");
    let answer = world.ask(&reboot("h2"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0]
            .message
            .contains("`etcd-3` was not probed, never seen healthy"),
        "{}",
        answer.findings[0].message
    );

    let mut world = World::healthy();
    world.facts.members.get_mut("etcd-3").unwrap().observed_at = ago(2 * MINUTE);
    let answer = world.ask(&reboot("h2"));
    assert!(
        answer.findings[0]
            .message
            .contains("`etcd-3` answered 2 min ago, past its freshness"),
        "{}",
        answer.findings[0].message
    );
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");

    let mut world = World::healthy();
    world.answer(
        3,
        MemberState {
            raft_index: 3500,
            ..state(3)
        },
    );
    let answer = world.ask(&reboot("h2"));
    assert!(
        answer.findings[0].message.contains(
            "`etcd-3` is catching up: 1500 raft entries behind the leader (max_raft_lag 1000)"
        ),
        "{}",
        answer.findings[0].message
    );
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");

    let mut world = World::healthy();
    world.answer(
        3,
        MemberState {
            errors: vec!["slow fdatasync".to_owned()],
            ..state(3)
        },
    );
    assert_eq!(verdict(&world.ask(&reboot("h2"))), "deny quorum@etcd(deny)");

    // Within the bound, a member a little behind is healthy.
    let mut world = World::healthy();
    world.answer(
        3,
        MemberState {
            raft_index: 4200,
            ..state(3)
        },
    );
    assert_eq!(
        verdict(&world.ask(&reboot("h2"))),
        "allow quorum@etcd(warn)"
    );
}

#[test]
fn quorum_learners_do_not_vote() {
    let mut world = World::healthy();
    // Four members, one a learner: three voters, as in the incident.
    world.estate.etcd_members.push(EtcdMember {
        name: "etcd-4".to_owned(),
        endpoints: vec!["http://127.0.0.1:23794".to_owned()],
        host: "h4".to_owned(),
        data_dir: None,
        commands: Default::default(),
    });
    world.estate.quorums[0].members.push("etcd-4".to_owned());
    world.answer(
        4,
        MemberState {
            is_learner: true,
            ..state(4)
        },
    );
    world.facts.members.insert(
        "etcd-3".to_owned(),
        MemberProbe {
            observed_at: NOW,
            outcome: MemberOutcome::Unreachable {
                error: "no answer within 1 s".to_owned(),
                kind: FailureKind::Timeout,
            },
        },
    );
    let answer = world.ask(&reboot("h2"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0]
            .message
            .starts_with("3 voters, quorum 2:"),
        "{}",
        answer.findings[0].message
    );
    // Taking the learner down costs no vote.
    assert_eq!(verdict(&world.ask(&stop("etcd-4"))), "allow ");
}

#[test]
fn quorum_check_names_a_lost_majority_alarms_leaders_and_member_lists() {
    let world = World::etcd_3_down();
    let findings = world.check();
    assert_eq!(render(&findings), "quorum@etcd(warn)");
    assert_eq!(
        findings[0].message,
        "`etcd` tolerates no further failure: 3 voters, quorum 2, 2 healthy: `etcd-3` does not \
         answer (connection refused; down), down for 14 min since it was last healthy"
    );

    let mut world = World::etcd_3_down();
    world.facts.members.remove("etcd-2");
    assert_eq!(render(&world.check()), "quorum@etcd(deny)");

    let mut world = World::healthy();
    for n in 1..=3 {
        world.answer(
            n,
            MemberState {
                alarms: vec!["NOSPACE".to_owned()],
                ..state(n)
            },
        );
    }
    let findings = world.check();
    assert_eq!(render(&findings), "quorum@etcd(deny)");
    assert!(
        findings[0].message.starts_with(
            "`etcd` has alarm NOSPACE (reported by `etcd-1`, `etcd-2`, `etcd-3`): its database \
             reached its quota"
        ),
        "{}",
        findings[0].message
    );

    let mut world = World::healthy();
    for n in 1..=3 {
        world.answer(
            n,
            MemberState {
                leader_id: 0,
                ..state(n)
            },
        );
    }
    let text: Vec<String> = world.check().iter().map(|f| f.message.clone()).collect();
    assert!(
        text.iter().any(|message| message
            == "`etcd` has no leader: `etcd-1`, `etcd-2`, `etcd-3` answered and none follows a leader"),
        "{text:?}"
    );

    let mut world = World::healthy();
    world.answer(
        3,
        MemberState {
            leader_id: 3,
            ..state(3)
        },
    );
    let text: Vec<String> = world.check().iter().map(|f| f.message.clone()).collect();
    assert!(
        text.iter().any(|message| message
            == "`etcd` has two leaders in term 7: members follow `etcd-1` and `etcd-3`"),
        "{text:?}"
    );

    let mut world = World::healthy();
    world.answer(
        3,
        MemberState {
            members: vec![(1, "etcd-1".to_owned()), (3, "etcd-3".to_owned())],
            ..state(3)
        },
    );
    let findings = world.check();
    assert_eq!(render(&findings), "quorum@etcd(warn)");
    assert_eq!(
        findings[0].message,
        "`etcd`'s members disagree on its member list: `etcd-1`, `etcd-2` list [etcd-1, etcd-2, \
         etcd-3]; `etcd-3` list [etcd-1, etcd-3]"
    );
}

#[test]
fn quorum_one_disruption_at_a_time_even_with_a_majority_left() {
    // Five voters tolerate two down; with `etcd-3` down, rebooting `h2` would leave three, a
    // majority, but it is a second disruption while the first member is still away.
    let mut world = World::etcd_3_down();
    for n in 4..=5u64 {
        world.estate.hosts.push(host(&format!("h{n}")));
        world.facts.hosts.insert(format!("h{n}"), settled_host());
        world.estate.etcd_members.push(EtcdMember {
            name: format!("etcd-{n}"),
            endpoints: vec![format!("http://127.0.0.1:2379{n}")],
            host: format!("h{n}"),
            data_dir: None,
            commands: Default::default(),
        });
        world.estate.quorums[0].members.push(format!("etcd-{n}"));
        world.answer(n, state(n));
    }
    let answer = world.ask(&reboot("h2"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    let message = &answer.findings[0].message;
    assert!(
        message.starts_with("5 voters, quorum 3:") && message.contains("3 healthy left"),
        "{message}"
    );
    assert!(
        message.contains(
            "one disruption per quorum cluster at a time, and `etcd-3` is not healthy yet"
        ),
        "{message}"
    );
    // With every member back, the same reboot leaves four of five: allowed, no finding.
    world.answer(3, state(3));
    assert_eq!(verdict(&world.ask(&reboot("h2"))), "allow ");
}

fn replace(member: &str) -> Action {
    Action::ReplaceMember {
        member: member.to_owned(),
    }
}

fn remove(member: &str) -> Action {
    Action::RemoveMember {
        member: member.to_owned(),
    }
}

/// `etcd-N` refuses connections, last healthy 14 minutes ago.
fn down(world: &mut World, number: u64) {
    world.facts.members.insert(
        format!("etcd-{number}"),
        MemberProbe {
            observed_at: NOW,
            outcome: MemberOutcome::Unreachable {
                error: "connection refused".to_owned(),
                kind: FailureKind::Down,
            },
        },
    );
}

#[test]
fn quorum_replacing_the_member_that_is_down_leaves_exactly_the_quorum_and_a_healthy_one_is_denied()
{
    let world = World::etcd_3_down();
    let answer = world.ask(&replace("etcd-3"));
    assert_eq!(verdict(&answer), "allow quorum@etcd(warn)");
    assert_eq!(
        answer.findings[0].message,
        "3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` does not answer \
         (connection refused; down), down for 14 min since it was last healthy; removing \
         `etcd-3` leaves 2 voters, quorum 2: 2 healthy (`etcd-1`, `etcd-2`); the fresh member \
         joins as a learner and does not vote while it catches up: exactly the quorum after \
         replacing `etcd-3`, every one of `etcd-1`, `etcd-2` must stay healthy until the new \
         member is promoted to a voter"
    );
    let healthy = world.ask(&replace("etcd-1"));
    assert_eq!(verdict(&healthy), "deny quorum@etcd(deny)");
    assert!(
        healthy.findings[0]
            .message
            .starts_with("`etcd-1` is healthy: replacing it takes a working voter out"),
        "{}",
        healthy.findings[0].message
    );
    let mut two_down = World::etcd_3_down();
    down(&mut two_down, 2);
    let answer = two_down.ask(&replace("etcd-3"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0].message.ends_with(
            "1 healthy (`etcd-1`); the fresh member joins as a learner and does not vote while \
             it catches up: under the quorum of 2, `etcd` would stop accepting writes"
        ),
        "{}",
        answer.findings[0].message
    );
}

#[test]
fn quorum_removing_a_healthy_voter_of_three_leaves_two_voters_and_needs_both_healthy() {
    let world = World::healthy();
    let answer = world.ask(&remove("etcd-3"));
    assert_eq!(verdict(&answer), "allow quorum@etcd(warn)");
    assert_eq!(
        answer.findings[0].message,
        "3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` healthy; removing \
         `etcd-3` leaves 2 voters, quorum 2: 2 healthy (`etcd-1`, `etcd-2`): exactly the quorum \
         after removing `etcd-3`, every one of `etcd-1`, `etcd-2` must stay healthy until a \
         member is added back"
    );
    // Another member down: removing a healthy one is a second disruption, and leaves 1 of 2.
    let world = World::etcd_3_down();
    let answer = world.ask(&remove("etcd-1"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0].message.ends_with(
            "removing `etcd-1` leaves 2 voters, quorum 2: 1 healthy (`etcd-2`): under the quorum \
             of 2, `etcd` would stop accepting writes"
        ),
        "{}",
        answer.findings[0].message
    );
}

#[test]
fn quorum_removing_a_down_member_of_three_leaves_two_voters_that_must_both_be_healthy() {
    let world = World::etcd_3_down();
    assert_eq!(
        verdict(&world.ask(&remove("etcd-3"))),
        "allow quorum@etcd(warn)"
    );
    let mut two_down = World::etcd_3_down();
    down(&mut two_down, 2);
    let answer = two_down.ask(&remove("etcd-3"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0]
            .message
            .contains("removing `etcd-3` leaves 2 voters, quorum 2: 1 healthy (`etcd-1`)"),
        "{}",
        answer.findings[0].message
    );
    let unknown = world.ask(&remove("etcd-9"));
    assert_eq!(verdict(&unknown), "deny quorum@etcd-9(deny)");
    assert_eq!(
        unknown.findings[0].message,
        "the estate has no etcd member `etcd-9`: `remove-member` takes an `[[etcd]]` name"
    );
}

#[test]
fn quorum_removing_a_healthy_voter_of_five_while_another_is_down_is_one_disruption_too_many() {
    // Five voters, `etcd-3` down: removing healthy `etcd-1` leaves 4 voters, quorum 3, and 3
    // healthy, a quorum, but it is a second disruption while `etcd-3` is away.
    let mut world = World::etcd_3_down();
    for n in 4..=5u64 {
        world.estate.hosts.push(host(&format!("h{n}")));
        world.facts.hosts.insert(format!("h{n}"), settled_host());
        world.estate.etcd_members.push(EtcdMember {
            name: format!("etcd-{n}"),
            endpoints: vec![format!("http://127.0.0.1:2379{n}")],
            host: format!("h{n}"),
            data_dir: None,
            commands: Default::default(),
        });
        world.estate.quorums[0].members.push(format!("etcd-{n}"));
        world.answer(n, state(n));
    }
    let answer = world.ask(&remove("etcd-1"));
    assert_eq!(verdict(&answer), "deny quorum@etcd(deny)");
    assert!(
        answer.findings[0].message.contains(
            "leaves 4 voters, quorum 3: 3 healthy (`etcd-2`, `etcd-4`, `etcd-5`): one disruption \
             per quorum cluster at a time, and `etcd-3` is not healthy yet"
        ),
        "{}",
        answer.findings[0].message
    );
    // Removing the member that is down instead leaves 4 voters, 4 healthy: allowed, no finding.
    assert_eq!(verdict(&world.ask(&remove("etcd-3"))), "allow ");
}
