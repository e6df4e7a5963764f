//! Failover records (schema version 5): the daemon's failover as it reached each phase, read back
//! whole — what a daemon started after a `kill -9` carries on from.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use hadome_core::supervise::{Failover, FailoverPhase, FollowState, Follower};

use crate::support::new_journal;

fn failover(cluster: &str, phase: FailoverPhase) -> Failover {
    Failover {
        cluster: cluster.to_owned(),
        old_primary: "db-1".to_owned(),
        evidence: "`db-1` has not answered for 1.6 s".to_owned(),
        synchronous: vec!["db_2".to_owned()],
        phase,
        fenced: phase > FailoverPhase::Fencing,
        new_primary: (phase > FailoverPhase::Reobserving).then(|| "db-2".to_owned()),
        followers: vec![Follower {
            name: "db-3".to_owned(),
            application_name: "db_3".to_owned(),
            state: if phase == FailoverPhase::Done {
                FollowState::Followed
            } else {
                FollowState::Pending
            },
        }],
        synchronous_restored: phase == FailoverPhase::Done,
        stopped_because: String::new(),
    }
}

fn promote_intent(journal: &mut hadome_journal::Journal, at: i64) -> i64 {
    journal
        .record_intent(
            Timestamp(at),
            &Action::Promote {
                target: "db-2".to_owned(),
            },
            Verdict::Allow,
            &["fence `db-1`".to_owned()],
            &[],
            "daemon",
        )
        .unwrap()
}

#[test]
fn each_phase_a_failover_reaches_is_read_back_whole_and_the_newest_wins() {
    let (_dir, _path, mut journal) = new_journal();
    let intent = promote_intent(&mut journal, 1_000);
    assert_eq!(journal.failover(intent).unwrap(), None);
    for (at, phase) in [
        (1_000, FailoverPhase::Fencing),
        (2_000, FailoverPhase::Reobserving),
        (3_000, FailoverPhase::Promoting),
    ] {
        journal
            .record_failover(intent, Timestamp(at), &failover("main", phase))
            .unwrap();
    }
    assert_eq!(
        journal.failover(intent).unwrap(),
        Some(failover("main", FailoverPhase::Promoting))
    );
    let events = journal.events_since(Timestamp(0)).unwrap();
    let recorded: Vec<&str> = events
        .iter()
        .filter(|event| event.kind == hadome_journal::KIND_FAILOVER)
        .map(|event| event.body["phase"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ["fencing", "reobserving", "promoting"]);
}

#[test]
fn the_last_failover_of_each_cluster_is_known_finished_or_not() {
    let (_dir, path, mut journal) = new_journal();
    let first = promote_intent(&mut journal, 1_000);
    journal
        .record_failover(
            first,
            Timestamp(1_000),
            &failover("main", FailoverPhase::Done),
        )
        .unwrap();
    journal
        .record_outcome(first, Timestamp(1_500), true, "done")
        .unwrap();
    let second = promote_intent(&mut journal, 2_000);
    journal
        .record_failover(
            second,
            Timestamp(2_000),
            &failover("main", FailoverPhase::Reobserving),
        )
        .unwrap();
    let other = promote_intent(&mut journal, 3_000);
    journal
        .record_failover(
            other,
            Timestamp(3_000),
            &failover("other", FailoverPhase::Fencing),
        )
        .unwrap();
    drop(journal);

    // Read back by a new process, as a daemon started after a kill -9 reads it.
    let journal = hadome_journal::Journal::open(&path).unwrap();
    let last = journal.last_failovers().unwrap();
    assert_eq!(
        last,
        vec![
            (second, failover("main", FailoverPhase::Reobserving)),
            (other, failover("other", FailoverPhase::Fencing)),
        ]
    );
    assert!(last[0].1.fenced, "the old primary is known fenced");
}

#[test]
fn a_failover_record_with_an_unknown_phase_is_reported_corrupt() {
    let (_dir, path, mut journal) = new_journal();
    let intent = promote_intent(&mut journal, 1_000);
    journal
        .record_failover(
            intent,
            Timestamp(1_000),
            &failover("main", FailoverPhase::Fencing),
        )
        .unwrap();
    drop(journal);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE failover_records SET body = replace(body, '\"fencing\"', '\"fenced-ish\"')",
        [],
    )
    .unwrap();
    drop(raw);
    let journal = hadome_journal::Journal::open(&path).unwrap();
    let error = journal.failover(intent).unwrap_err().to_string();
    assert!(
        error.contains("failover_records.body")
            && error.contains("`fenced-ish` is not a failover phase"),
        "{error}"
    );
}
