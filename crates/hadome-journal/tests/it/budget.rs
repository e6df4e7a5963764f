//! Budgets (rule `budget`): pauses until a person acknowledges, acks that clear them and restart
//! the count, and the counts of recent intents.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use hadome_journal::{Ack, Journal, Pause, KIND_ACK, KIND_PAUSE};
use serde_json::json;

use crate::support::new_journal;

fn events_of(journal: &Journal, kind: &str) -> Vec<hadome_journal::JournalEvent> {
    journal
        .events_since(Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == kind)
        .collect()
}

#[test]
fn pausing_a_paused_target_returns_the_open_pause_unchanged() {
    let (_dir, _path, mut journal) = new_journal();
    assert_eq!(journal.paused().unwrap(), []);

    let first = journal
        .pause(
            Timestamp(1_000),
            "db-3",
            "restarted 3 times in 1 h; still down",
        )
        .unwrap();
    assert_eq!(
        first,
        Pause {
            id: first.id,
            at: Timestamp(1_000),
            target: "db-3".into(),
            reason: "restarted 3 times in 1 h; still down".into(),
            acked_at: None,
        }
    );
    let again = journal
        .pause(Timestamp(2_000), "db-3", "another reason")
        .unwrap();
    assert_eq!(again, first, "the existing pause, unchanged");
    assert_eq!(journal.paused().unwrap(), std::slice::from_ref(&first));

    let events = events_of(&journal, KIND_PAUSE);
    assert_eq!(events.len(), 1, "the second pause is no event");
    assert_eq!(
        (events[0].at, events[0].subject.as_str()),
        (Timestamp(1_000), "db-3")
    );
    assert_eq!(
        events[0].body,
        json!({
            "version": 1,
            "pause": first.id,
            "target": "db-3",
            "reason": "restarted 3 times in 1 h; still down",
        })
    );
}

#[test]
fn paused_lists_open_pauses_of_every_target_oldest_first() {
    let (_dir, path, mut journal) = new_journal();
    let cluster = journal
        .pause(Timestamp(3_000), "misskey", "failover budget spent")
        .unwrap();
    let db2 = journal
        .pause(Timestamp(1_000), "db-2", "rebuild failed")
        .unwrap();
    let db3 = journal
        .pause(Timestamp(2_000), "db-3", "still down")
        .unwrap();
    assert_eq!(
        journal.paused().unwrap(),
        [db2.clone(), db3, cluster.clone()]
    );
    drop(journal);

    let mut reopened = Journal::open(&path).unwrap();
    assert_eq!(reopened.paused().unwrap().len(), 3, "pauses are durable");
    // Acknowledging a cluster clears the cluster's pause only, not its members'.
    reopened
        .ack(Timestamp(4_000), "misskey", "alice", "")
        .unwrap();
    let open: Vec<String> = reopened
        .paused()
        .unwrap()
        .into_iter()
        .map(|pause| pause.target)
        .collect();
    assert_eq!(open, ["db-2", "db-3"]);
    assert_eq!(db2.target, "db-2");
    assert_eq!(cluster.target, "misskey");
}

#[test]
fn an_ack_clears_every_open_pause_of_its_target_and_says_which() {
    let (_dir, _path, mut journal) = new_journal();
    let pause = journal
        .pause(Timestamp(1_000), "db-3", "still down after a restart")
        .unwrap();
    let other = journal
        .pause(Timestamp(1_500), "db-2", "rebuild failed")
        .unwrap();

    let ack = journal
        .ack(Timestamp(5_000), "db-3", "alice", "disk replaced")
        .unwrap();
    assert_eq!(
        ack,
        Ack {
            id: ack.id,
            at: Timestamp(5_000),
            target: "db-3".into(),
            who: "alice".into(),
            note: "disk replaced".into(),
            cleared: vec![Pause {
                acked_at: Some(Timestamp(5_000)),
                ..pause.clone()
            }],
        }
    );
    assert_eq!(journal.paused().unwrap(), [other], "db-2 stays paused");
    assert_eq!(journal.last_ack("db-3").unwrap(), Some(Timestamp(5_000)));
    assert_eq!(journal.last_ack("db-2").unwrap(), None);

    // Paused again later: a new pause, with its own id.
    let later = journal
        .pause(Timestamp(9_000), "db-3", "down again")
        .unwrap();
    assert_ne!(later.id, pause.id);
    assert_eq!(later.at, Timestamp(9_000));

    let events = events_of(&journal, KIND_ACK);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, "db-3");
    assert_eq!(
        events[0].body,
        json!({
            "version": 1,
            "ack": ack.id,
            "target": "db-3",
            "who": "alice",
            "note": "disk replaced",
            "cleared": [{
                "pause": pause.id,
                "paused_at_ms": 1_000,
                "reason": "still down after a restart",
            }],
        })
    );
}

#[test]
fn an_ack_with_nothing_paused_is_recorded_and_restarts_the_count() {
    let (_dir, path, mut journal) = new_journal();
    let ack = journal.ack(Timestamp(2_000), "db-1", "bob", "").unwrap();
    assert_eq!(ack.cleared, []);
    assert_eq!(journal.last_ack("db-1").unwrap(), Some(Timestamp(2_000)));
    let later = journal
        .ack(Timestamp(7_000), "db-1", "carol", "again")
        .unwrap();
    assert!(later.id > ack.id);
    assert_eq!(journal.last_ack("db-1").unwrap(), Some(Timestamp(7_000)));
    // An ack recorded with an earlier time (another host's clock) does not move it back.
    journal.ack(Timestamp(3_000), "db-1", "dave", "").unwrap();
    assert_eq!(journal.last_ack("db-1").unwrap(), Some(Timestamp(7_000)));
    drop(journal);

    let reopened = Journal::open(&path).unwrap();
    assert_eq!(reopened.last_ack("db-1").unwrap(), Some(Timestamp(7_000)));
    let events = events_of(&reopened, KIND_ACK);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].body["cleared"], json!([]));
}

/// Records an intent of `action` by `actor` at `at` ms.
fn intent(journal: &mut Journal, at: i64, action: &Action, actor: &str) -> i64 {
    journal
        .record_intent(
            Timestamp(at),
            action,
            Verdict::Allow,
            &[action.to_string()],
            &[],
            actor,
        )
        .unwrap()
}

fn restart(target: &str) -> Action {
    Action::Restart {
        target: target.into(),
    }
}

#[test]
fn count_intents_counts_one_actors_action_on_the_targets_within_the_window() {
    let (_dir, _path, mut journal) = new_journal();
    let first = intent(&mut journal, 1_000, &restart("db-1"), "daemon");
    journal
        .record_outcome(first, Timestamp(1_100), true, "restarted")
        .unwrap();
    intent(&mut journal, 2_000, &restart("db-1"), "daemon");
    intent(&mut journal, 3_000, &restart("db-2"), "daemon");
    intent(&mut journal, 4_000, &restart("db-1"), "alice (hadome run)");
    intent(
        &mut journal,
        5_000,
        &Action::Stop {
            target: "db-1".into(),
        },
        "daemon",
    );
    intent(
        &mut journal,
        6_000,
        &Action::Rebuild {
            target: "db-1".into(),
            source: "db-2".into(),
        },
        "daemon",
    );
    intent(
        &mut journal,
        7_000,
        &Action::DeleteData {
            target: "db-1".into(),
        },
        "daemon",
    );

    let count = |actor: &str, action: &str, targets: &[&str], since: i64| {
        journal
            .count_intents(actor, action, targets, Timestamp(since))
            .unwrap()
    };
    // Open and closed intents alike; `since` is inclusive.
    assert_eq!(count("daemon", "restart", &["db-1"], 0), 2);
    assert_eq!(count("daemon", "restart", &["db-1"], 1_000), 2);
    assert_eq!(count("daemon", "restart", &["db-1"], 1_001), 1);
    assert_eq!(count("daemon", "restart", &["db-1"], 2_001), 0);
    // Several targets (a cluster's members).
    assert_eq!(count("daemon", "restart", &["db-1", "db-2"], 0), 3);
    assert_eq!(
        count("daemon", "restart", &["db-1", "db-2", "db-9"], 2_500),
        1
    );
    assert_eq!(count("daemon", "restart", &[], 0), 0);
    // Another actor's intents are not the daemon's budget.
    assert_eq!(count("alice (hadome run)", "restart", &["db-1"], 0), 1);
    assert_eq!(count("someone", "restart", &["db-1"], 0), 0);
    // The action names intents store: Action::name.
    assert_eq!(count("daemon", "stop", &["db-1"], 0), 1);
    assert_eq!(count("daemon", "rebuild", &["db-1"], 0), 1);
    assert_eq!(count("daemon", "delete-data", &["db-1"], 0), 1);
    assert_eq!(count("daemon", "promote", &["db-1"], 0), 0);
    // A rebuild counts against its target, not its source.
    assert_eq!(count("daemon", "rebuild", &["db-2"], 0), 0);
}

#[test]
fn the_budget_window_restarts_at_the_last_ack() {
    let (_dir, _path, mut journal) = new_journal();
    for at in [1_000, 2_000, 3_000] {
        intent(&mut journal, at, &restart("db-3"), "daemon");
    }
    journal
        .pause(Timestamp(3_500), "db-3", "restart budget spent: 3 in 1 h")
        .unwrap();
    journal.ack(Timestamp(4_000), "db-3", "alice", "").unwrap();
    intent(&mut journal, 5_000, &restart("db-3"), "daemon");

    let window_start = Timestamp(0);
    let since = journal
        .last_ack("db-3")
        .unwrap()
        .map_or(window_start, |acked| acked.max(window_start));
    assert_eq!(
        journal
            .count_intents("daemon", "restart", &["db-3"], since)
            .unwrap(),
        1
    );
    assert_eq!(journal.paused().unwrap(), []);
}

#[test]
fn count_intents_uses_the_budget_index() {
    let (_dir, path, _journal) = new_journal();
    let plan: Vec<String> = crate::support::raw(&path)
        .prepare(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM intents WHERE actor = ?1 AND action_name = ?2 \
             AND target IN (?3, ?4) AND at_ms >= ?5",
        )
        .unwrap()
        .query_map(["daemon", "restart", "db-1", "db-2", "0"], |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|step| step.contains("intents_budget")),
        "{plan:?}"
    );
}
