//! Intents: recorded before anything is done, each step after it, the outcome last; open intents
//! found by a later process; an intent closed once.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use hadome_journal::{
    IntentRecord, Journal, JournalError, OpenIntent, OutcomeRecord, Override, StepRecord,
};
use serde_json::json;

use crate::support::{new_journal, raw};

fn rebuild() -> Action {
    Action::Rebuild {
        target: "db-1".into(),
        source: "db-3".into(),
    }
}

fn plan() -> Vec<String> {
    vec![
        "stop db-1".into(),
        "move db-1's data directory aside".into(),
        "pg_basebackup db-1 from db-3".into(),
        "start db-1".into(),
    ]
}

fn overrides() -> Vec<Override> {
    vec![
        Override {
            rule: "stale-facts".into(),
            reason: "db-1's disk failed; it will not answer again".into(),
        },
        Override {
            rule: "overwrite-older".into(),
            reason: "its data is preserved aside first".into(),
        },
    ]
}

/// Every event's kind, in order.
fn kinds(journal: &Journal) -> Vec<String> {
    journal
        .events_since(Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect()
}

#[test]
fn an_intent_its_steps_and_its_outcome_round_trip_and_tell_the_story_in_events() {
    let (_dir, _path, mut journal) = new_journal();
    let plan = plan();
    let id = journal
        .record_intent(
            Timestamp(1_000),
            &rebuild(),
            Verdict::NeedsHuman,
            &plan,
            &overrides(),
            "alice",
        )
        .unwrap();
    journal
        .record_step(id, Timestamp(2_000), &plan[0], true, "db-1 stopped")
        .unwrap();
    journal
        .record_step(
            id,
            Timestamp(3_000),
            &plan[1],
            true,
            "moved to /var/lib/postgresql/15/main.hadome-1",
        )
        .unwrap();
    journal
        .record_step(
            id,
            Timestamp(4_000),
            &plan[2],
            false,
            "pg_basebackup exited with status 1: could not connect to db-3",
        )
        .unwrap();
    journal
        .record_outcome(
            id,
            Timestamp(5_000),
            false,
            "pg_basebackup failed; db-1's data is aside",
        )
        .unwrap();

    let expected = IntentRecord {
        id,
        at: Timestamp(1_000),
        action_text: "rebuild db-1 from db-3".into(),
        verdict: "needs-human".into(),
        plan: plan.clone(),
        overrides: overrides(),
        actor: "alice".into(),
        steps: vec![
            StepRecord {
                at: Timestamp(2_000),
                step: plan[0].clone(),
                ok: true,
                detail: "db-1 stopped".into(),
            },
            StepRecord {
                at: Timestamp(3_000),
                step: plan[1].clone(),
                ok: true,
                detail: "moved to /var/lib/postgresql/15/main.hadome-1".into(),
            },
            StepRecord {
                at: Timestamp(4_000),
                step: plan[2].clone(),
                ok: false,
                detail: "pg_basebackup exited with status 1: could not connect to db-3".into(),
            },
        ],
        outcome: Some(OutcomeRecord {
            at: Timestamp(5_000),
            ok: false,
            detail: "pg_basebackup failed; db-1's data is aside".into(),
        }),
    };
    assert_eq!(journal.intent(id).unwrap(), Some(expected));
    assert_eq!(journal.intent(id + 1).unwrap(), None);
    assert_eq!(journal.open_intents().unwrap(), []);

    let events = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|event| (event.kind.as_str(), event.subject.as_str(), event.at.0))
            .collect::<Vec<_>>(),
        [
            ("intent", "db-1", 1_000),
            ("override", "db-1", 1_000),
            ("override", "db-1", 1_000),
            ("step", "db-1", 2_000),
            ("step", "db-1", 3_000),
            ("step", "db-1", 4_000),
            ("outcome", "db-1", 5_000),
        ]
    );
    let action = json!({
        "text": "rebuild db-1 from db-3",
        "name": "rebuild",
        "target": "db-1",
        "source": "db-3",
    });
    assert_eq!(
        events[0].body,
        json!({
            "version": 1,
            "intent": id,
            "action": action,
            "verdict": "needs-human",
            "plan": plan,
            "overrides": [
                { "rule": "stale-facts", "reason": "db-1's disk failed; it will not answer again" },
                { "rule": "overwrite-older", "reason": "its data is preserved aside first" },
            ],
            "actor": "alice",
        })
    );
    assert_eq!(
        events[1].body,
        json!({
            "version": 1,
            "intent": id,
            "rule": "stale-facts",
            "reason": "db-1's disk failed; it will not answer again",
            "actor": "alice",
            "action": action,
        })
    );
    assert_eq!(events[2].body["rule"], "overwrite-older");
    assert_eq!(
        events[5].body,
        json!({
            "version": 1,
            "intent": id,
            "step": "pg_basebackup db-1 from db-3",
            "ok": false,
            "detail": "pg_basebackup exited with status 1: could not connect to db-3",
        })
    );
    assert_eq!(
        events[6].body,
        json!({
            "version": 1,
            "intent": id,
            "ok": false,
            "detail": "pg_basebackup failed; db-1's data is aside",
        })
    );
    assert_eq!(
        (
            hadome_journal::KIND_INTENT,
            hadome_journal::KIND_OVERRIDE,
            hadome_journal::KIND_STEP,
            hadome_journal::KIND_OUTCOME
        ),
        ("intent", "override", "step", "outcome")
    );
}

#[test]
fn an_intent_without_overrides_or_source_has_no_override_event() {
    let (_dir, _path, mut journal) = new_journal();
    let id = journal
        .record_intent(
            Timestamp(1_000),
            &Action::Restart {
                target: "db-2".into(),
            },
            Verdict::Allow,
            &["restart db-2".into()],
            &[],
            "bot",
        )
        .unwrap();
    journal
        .record_outcome(id, Timestamp(2_000), true, "restarted")
        .unwrap();
    assert_eq!(kinds(&journal), ["intent", "outcome"]);
    let events = journal.events_since(Timestamp(0)).unwrap();
    assert_eq!(events[0].body["action"]["source"], serde_json::Value::Null);
    assert_eq!(events[0].body["overrides"], json!([]));
    let record = journal.intent(id).unwrap().unwrap();
    assert_eq!(
        (record.verdict.as_str(), record.overrides, record.steps),
        ("allow", vec![], vec![])
    );
    assert!(record.outcome.unwrap().ok);
}

#[test]
fn an_open_intent_outlives_its_journal_and_closing_it_removes_it_from_the_list() {
    let (_dir, path, mut journal) = new_journal();
    let plan = plan();
    let rebuild_id = journal
        .record_intent(
            Timestamp(2_000),
            &rebuild(),
            Verdict::AllowAfter,
            &plan,
            &[],
            "alice",
        )
        .unwrap();
    journal
        .record_step(rebuild_id, Timestamp(2_100), &plan[0], true, "stopped")
        .unwrap();
    journal
        .record_step(
            rebuild_id,
            Timestamp(2_200),
            &plan[1],
            false,
            "permission denied",
        )
        .unwrap();
    journal
        .record_step(
            rebuild_id,
            Timestamp(2_300),
            &plan[1],
            true,
            "moved, at the second try",
        )
        .unwrap();
    // Recorded later, but older: listed first.
    let stop_id = journal
        .record_intent(
            Timestamp(1_000),
            &Action::Stop {
                target: "db-2".into(),
            },
            Verdict::Allow,
            &["stop db-2".into()],
            &[],
            "bot",
        )
        .unwrap();
    // A closed one, never listed.
    let closed_id = journal
        .record_intent(
            Timestamp(500),
            &Action::Promote {
                target: "db-3".into(),
            },
            Verdict::Allow,
            &["promote db-3".into()],
            &[],
            "bot",
        )
        .unwrap();
    journal
        .record_outcome(closed_id, Timestamp(600), true, "promoted")
        .unwrap();
    // The process dies: no outcome for the first two.
    drop(journal);

    let mut journal = Journal::open(&path).unwrap();
    let open = journal.open_intents().unwrap();
    assert_eq!(
        open,
        [
            OpenIntent {
                id: stop_id,
                at: Timestamp(1_000),
                action_text: "stop db-2".into(),
                action_name: "stop".into(),
                target: "db-2".into(),
                source: None,
                plan: vec!["stop db-2".into()],
                actor: "bot".into(),
                steps_done: vec![],
            },
            OpenIntent {
                id: rebuild_id,
                at: Timestamp(2_000),
                action_text: "rebuild db-1 from db-3".into(),
                action_name: "rebuild".into(),
                target: "db-1".into(),
                source: Some("db-3".into()),
                plan: plan.clone(),
                actor: "alice".into(),
                steps_done: vec![plan[0].clone(), plan[1].clone()],
            },
        ]
    );
    let record = journal.intent(rebuild_id).unwrap().unwrap();
    assert_eq!(record.steps.len(), 3, "the failed step is in the record");
    assert_eq!(record.outcome, None);

    journal
        .record_outcome(
            rebuild_id,
            Timestamp(9_000),
            false,
            "abandoned: its process died",
        )
        .unwrap();
    assert_eq!(
        journal
            .open_intents()
            .unwrap()
            .into_iter()
            .map(|open| open.id)
            .collect::<Vec<_>>(),
        [stop_id]
    );
    journal
        .record_outcome(stop_id, Timestamp(9_100), true, "stopped")
        .unwrap();
    assert_eq!(journal.open_intents().unwrap(), []);
    drop(journal);
    assert_eq!(Journal::open(&path).unwrap().open_intents().unwrap(), []);
}

/// Everything in the file, to show that a refused call changed nothing.
fn everything(path: &std::path::Path) -> Vec<String> {
    let connection = raw(path);
    let mut rows = Vec::new();
    for table in ["intents", "intent_steps", "events"] {
        let mut statement = connection
            .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
            .unwrap();
        let columns = statement.column_count();
        let mut query = statement.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|index| format!("{:?}", row.get_ref(index).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(", ")));
        }
    }
    rows
}

#[test]
fn closing_twice_or_an_unknown_intent_is_an_error_and_changes_nothing() {
    let (_dir, path, mut journal) = new_journal();
    let id = journal
        .record_intent(
            Timestamp(1_000),
            &rebuild(),
            Verdict::Allow,
            &plan(),
            &overrides(),
            "alice",
        )
        .unwrap();
    journal
        .record_step(id, Timestamp(2_000), "stop db-1", true, "stopped")
        .unwrap();
    journal
        .record_outcome(id, Timestamp(3_000), true, "rebuilt")
        .unwrap();
    let before = everything(&path);
    let record = journal.intent(id).unwrap();

    let error = journal
        .record_outcome(id, Timestamp(4_000), false, "again")
        .unwrap_err();
    let JournalError::Intent {
        id: named, reason, ..
    } = &error
    else {
        panic!("expected an intent error, got {error:?}");
    };
    assert_eq!(*named, id);
    assert!(
        reason.contains("closed already") && reason.contains("succeeded at 3000"),
        "{reason}"
    );
    let message = error.to_string();
    assert!(
        message.contains("journal.sqlite") && message.contains(&format!("intent {id}")),
        "{message}"
    );
    assert!(error.hint().is_some());

    let error = journal
        .record_outcome(id + 100, Timestamp(4_000), true, "never")
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::Intent { id: named, reason, .. }
            if *named == id + 100 && reason == "there is no such intent"),
        "{error:?}"
    );

    // A step after the outcome, or of no intent, is refused the same way.
    for intent in [id, id + 100] {
        let error = journal
            .record_step(intent, Timestamp(4_000), "start db-1", true, "late")
            .unwrap_err();
        assert!(
            matches!(&error, JournalError::Intent { id: named, .. } if *named == intent),
            "{error:?}"
        );
    }

    assert_eq!(everything(&path), before, "nothing changed in the file");
    assert_eq!(journal.intent(id).unwrap(), record);
    drop(journal);
    let reopened = Journal::open(&path).unwrap();
    assert_eq!(reopened.intent(id).unwrap(), record);
    assert_eq!(everything(&path), before);
}

#[test]
fn two_processes_closing_one_intent_close_it_once() {
    let (_dir, path, mut journal) = new_journal();
    let id = journal
        .record_intent(
            Timestamp(1_000),
            &rebuild(),
            Verdict::Allow,
            &plan(),
            &[],
            "alice",
        )
        .unwrap();
    drop(journal);
    let closers: Vec<_> = (0..4)
        .map(|closer| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut journal = Journal::open(&path).unwrap();
                journal.record_outcome(
                    id,
                    Timestamp(2_000 + closer),
                    true,
                    &format!("closer {closer}"),
                )
            })
        })
        .collect();
    let results: Vec<_> = closers
        .into_iter()
        .map(|closer| closer.join().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|result| result.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .all(|error| matches!(error, JournalError::Intent { .. })));
    let journal = Journal::open(&path).unwrap();
    assert_eq!(kinds(&journal), ["intent", "outcome"]);
    assert!(journal.intent(id).unwrap().unwrap().outcome.is_some());
}

#[test]
fn intents_live_beside_facts_and_verdicts_without_changing_them() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .record_verdict(Timestamp(1_000), &rebuild(), Verdict::Deny, &[])
        .unwrap();
    let id = journal
        .record_intent(
            Timestamp(1_000),
            &rebuild(),
            Verdict::Deny,
            &plan(),
            &overrides()[..1],
            "alice",
        )
        .unwrap();
    journal
        .record_outcome(id, Timestamp(1_000), true, "done")
        .unwrap();
    assert_eq!(
        kinds(&journal),
        ["verdict", "intent", "override", "outcome"]
    );
    assert!(journal.history().unwrap().last_known.is_empty());
}
