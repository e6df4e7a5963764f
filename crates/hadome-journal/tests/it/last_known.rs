//! Last known states: exact round trips, and what an unreachable instance keeps.

use hadome_core::fact::{KeepaliveSettings, LastKnown, SyncSettings, Timestamp};
use hadome_journal::{FactChange, Journal};
use proptest::prelude::*;

use crate::support::{answered, facts, new_journal, position, state, unreachable};

fn u64_with_high_values() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (1u64 << 63)..=u64::MAX,
        0u64..0x1_0000_0000,
        Just(u64::MAX),
        Just(0)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn last_known_state_round_trips_exactly(
        system_identifier in u64_with_high_values(),
        timeline in prop_oneof![any::<u32>(), 1u32..5],
        lsn in u64_with_high_values(),
        history in proptest::option::of(proptest::collection::vec((any::<u32>(), u64_with_high_values()), 0..5)),
        observed_at in any::<i64>(),
        last_replay_at in proptest::option::of(any::<i64>()),
        in_recovery in any::<bool>(),
        streaming in any::<bool>(),
        standby_names in proptest::option::of(prop_oneof![Just(String::new()), Just("ANY 1 (\"db-2\", \"db 3\")".to_owned()), any::<String>()]),
        commit in proptest::option::of(prop_oneof![Just("on".to_owned()), Just("local".to_owned()), any::<String>()]),
        keepalive in proptest::array::uniform3(proptest::option::of(prop_oneof![Just(0u64), 1u64..120_000, 0..=i64::MAX as u64])),
    ) {
        let (_dir, path, mut journal) = new_journal();
        let mut answer = state(in_recovery, position(system_identifier, timeline, lsn, history.as_deref()), streaming, 0);
        answer.last_replay_at = last_replay_at.map(Timestamp);
        answer.synchronous = SyncSettings { standby_names, commit };
        answer.keepalive = KeepaliveSettings {
            sender_timeout_ms: keepalive[0],
            receiver_status_interval_ms: keepalive[1],
            receiver_timeout_ms: keepalive[2],
        };
        let expected = LastKnown {
            position: answer.position.clone(),
            was_primary: !in_recovery,
            was_streaming: in_recovery && streaming,
            observed_at: Timestamp(observed_at),
            last_replay_at: last_replay_at.map(Timestamp),
            synchronous: answer.synchronous.clone(),
            keepalive: answer.keepalive,
        };
        journal.record_facts(&facts([("db-1", answered(observed_at, answer))])).unwrap();
        let history = journal.history().unwrap();
        prop_assert_eq!(history.last_known.get("db-1"), Some(&expected));
        prop_assert_eq!(history.last_known.len(), 1);
        drop(journal);
        let reopened = Journal::open(&path).unwrap();
        let reread = reopened.history().unwrap();
        prop_assert_eq!(reread.last_known.get("db-1"), Some(&expected));
    }
}

#[test]
fn an_unreachable_instance_keeps_its_last_known_position() {
    let (_dir, _path, mut journal) = new_journal();
    let db1 = position(7, 1, 0x500_0000, Some(&[]));
    let db3 = position(7, 1, 0x400_0000, Some(&[]));
    journal
        .record_facts(&facts([
            ("db-1", answered(1_000, state(true, db1.clone(), true, 0))),
            ("db-3", answered(1_000, state(true, db3.clone(), true, 0))),
        ]))
        .unwrap();
    let remembered = journal.history().unwrap().last_known["db-1"].clone();
    assert_eq!(remembered.observed_at, Timestamp(1_000));

    // db-1 hangs; db-3 goes on answering.
    let changes = journal
        .record_facts(&facts([
            ("db-1", unreachable(5_000, "timed out after 2.0 s")),
            (
                "db-3",
                answered(
                    5_000,
                    state(true, position(7, 1, 0x450_0000, Some(&[])), true, 0),
                ),
            ),
        ]))
        .unwrap();
    assert_eq!(
        changes,
        [FactChange {
            instance: "db-1".into(),
            at: Timestamp(5_000),
            before: Some("standby, timeline 1, streaming".into()),
            after: "unreachable: timed out after 2.0 s".into(),
        }]
    );
    let history = journal.history().unwrap();
    assert_eq!(
        history.last_known["db-1"], remembered,
        "position and observed_at are kept"
    );
    assert_eq!(history.last_known["db-3"].observed_at, Timestamp(5_000));
    assert_eq!(
        history.last_known["db-1"]
            .position
            .compare(&history.last_known["db-3"].position),
        hadome_core::position::PositionOrder::Ahead
    );

    let events = journal.events_since(Timestamp(5_000)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind.as_str(), events[0].subject.as_str()),
        ("fact-changed", "db-1")
    );
    assert_eq!(events[0].body["version"], 1);
    assert_eq!(
        events[0].body["after"],
        "unreachable: timed out after 2.0 s"
    );
    assert_eq!(events[0].body["position"], serde_json::Value::Null);

    // Still hanging: no new event, still the same memory.
    assert_eq!(
        journal
            .record_facts(&facts([(
                "db-1",
                unreachable(9_000, "timed out after 2.0 s")
            )]))
            .unwrap(),
        []
    );
    assert_eq!(journal.history().unwrap().last_known["db-1"], remembered);
}

#[test]
fn an_instance_that_never_answered_has_no_last_known_state_but_a_summary() {
    let (_dir, _path, mut journal) = new_journal();
    let changes = journal
        .record_facts(&facts([("db-9", unreachable(1_000, "connection refused"))]))
        .unwrap();
    assert_eq!(changes[0].before, None);
    assert_eq!(changes[0].after, "unreachable: connection refused");
    assert!(journal.history().unwrap().last_known.is_empty());
}

#[test]
fn a_writing_primary_updates_its_position_without_an_event() {
    let (_dir, _path, mut journal) = new_journal();
    let first = journal
        .record_facts(&facts([(
            "db-1",
            answered(
                1_000,
                state(false, position(7, 2, 0x500_0000, None), false, 0),
            ),
        )]))
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].after, "primary, timeline 2");
    let events = journal.events_since(Timestamp(0)).unwrap();
    assert_eq!(events[0].body["position"]["lsn"], "0/5000000");
    assert_eq!(events[0].body["position"]["system_identifier"], "7");

    let second = journal
        .record_facts(&facts([(
            "db-1",
            answered(
                2_000,
                state(false, position(7, 2, 0x600_0000, None), false, 0),
            ),
        )]))
        .unwrap();
    assert_eq!(second, [], "the LSN is not part of the summary");
    let known = &journal.history().unwrap().last_known["db-1"];
    assert_eq!(
        (known.position.lsn.0, known.observed_at),
        (0x600_0000, Timestamp(2_000))
    );
}

#[test]
fn summaries_change_with_role_timeline_streaming_and_unapplied_settings() {
    let (_dir, _path, mut journal) = new_journal();
    let mut at = 0;
    let mut pass = |journal: &mut Journal,
                    in_recovery: bool,
                    timeline: u32,
                    streaming: bool,
                    unapplied: usize| {
        at += 1_000;
        let changes = journal
            .record_facts(&facts([(
                "db-2",
                answered(
                    at,
                    state(
                        in_recovery,
                        position(7, timeline, 0x100, None),
                        streaming,
                        unapplied,
                    ),
                ),
            )]))
            .unwrap();
        changes
            .into_iter()
            .map(|change| change.after)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pass(&mut journal, true, 1, true, 0),
        ["standby, timeline 1, streaming"]
    );
    assert_eq!(
        pass(&mut journal, true, 1, false, 0),
        ["standby, timeline 1, not streaming"]
    );
    assert_eq!(
        pass(&mut journal, true, 1, false, 1),
        ["standby, timeline 1, not streaming, 1 unapplied setting"]
    );
    assert_eq!(
        pass(&mut journal, true, 2, false, 2),
        ["standby, timeline 2, not streaming, 2 unapplied settings"]
    );
    assert_eq!(
        pass(&mut journal, false, 3, false, 0),
        ["primary, timeline 3"]
    );
    assert_eq!(
        pass(&mut journal, false, 3, true, 0),
        Vec::<String>::new(),
        "a primary's receiver is not summarised"
    );
}

#[test]
fn an_older_observation_does_not_replace_a_newer_one() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .record_facts(&facts([(
            "db-1",
            answered(5_000, state(false, position(7, 2, 0x900, None), false, 0)),
        )]))
        .unwrap();
    // Another process recorded a pass it started earlier, after this one.
    journal
        .record_facts(&facts([(
            "db-1",
            answered(4_000, state(true, position(7, 1, 0x100, None), true, 0)),
        )]))
        .unwrap();
    let known = &journal.history().unwrap().last_known["db-1"];
    assert_eq!(
        (known.observed_at, known.position.lsn.0, known.was_primary),
        (Timestamp(5_000), 0x900, true)
    );
}

/// An isolated instance fails one pass with a reset and the next with an early EOF (the lab's
/// `isolate`, on real servers): the same state in other words, so no event. Another kind of
/// failure, or another reason of a kind compared word for word, is a change.
#[test]
fn an_unreachable_instance_whose_error_changes_wording_but_not_kind_has_not_changed() {
    let (_dir, _path, mut journal) = new_journal();
    let reset = "cannot connect: error communicating with the server: Connection reset by peer (os error 104)";
    let eof = "cannot connect: error communicating with the server: early eof";
    let record = |journal: &mut Journal, at: i64, error: &str| {
        journal
            .record_facts(&facts([("db-1", unreachable(at, error))]))
            .unwrap()
            .into_iter()
            .map(|change| (change.before, change.after))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        record(&mut journal, 1_000, reset),
        [(None, format!("unreachable: {reset}"))]
    );
    assert_eq!(record(&mut journal, 2_000, eof), []);
    assert_eq!(record(&mut journal, 3_000, reset), []);
    assert_eq!(record(&mut journal, 4_000, "connection refused"), []);
    // Down, then timed out: a change, told from the first wording.
    assert_eq!(
        record(&mut journal, 5_000, "timed out after 2.0 s"),
        [(
            Some(format!("unreachable: {reset}")),
            "unreachable: timed out after 2.0 s".to_owned()
        )]
    );
    assert_eq!(
        record(
            &mut journal,
            6_000,
            "no answer to accept the connection within 2.0 s (probe_timeout_seconds)"
        ),
        []
    );
    // Failures compared word for word: their text is the reason.
    assert_eq!(
        record(
            &mut journal,
            7_000,
            "password authentication failed for user \"hadome\""
        )
        .len(),
        1
    );
    assert_eq!(
        record(&mut journal, 8_000, "database \"postgres\" does not exist").len(),
        1
    );
    assert_eq!(journal.events_since(Timestamp(i64::MIN)).unwrap().len(), 4);
}
