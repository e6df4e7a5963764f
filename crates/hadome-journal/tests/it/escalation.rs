//! Escalations: recorded before any notification, each notification attempt recorded on them.

use hadome_core::fact::Timestamp;
use hadome_journal::{Escalation, Journal, JournalError, KIND_ESCALATION, KIND_NOTIFIED};
use serde_json::json;

use crate::support::new_journal;

#[test]
fn an_escalation_and_its_notification_attempts_round_trip_with_events() {
    let (_dir, path, mut journal) = new_journal();
    let id = journal
        .record_escalation(
            Timestamp(1_000),
            "misskey",
            "db-3",
            "budget",
            "db-3 is still down after 3 restarts; automation paused: `hadome ack db-3`",
        )
        .unwrap();
    let fresh = Escalation {
        id,
        at: Timestamp(1_000),
        cluster: "misskey".into(),
        subject: "db-3".into(),
        rule: "budget".into(),
        message: "db-3 is still down after 3 restarts; automation paused: `hadome ack db-3`".into(),
        notified_at: None,
        notify_error: None,
    };
    assert_eq!(
        journal.escalations_since(Timestamp(0)).unwrap(),
        std::slice::from_ref(&fresh)
    );
    assert!(!fresh.delivered());

    journal
        .record_notified(id, Timestamp(1_100), Err("webhook: HTTP 503"))
        .unwrap();
    let failed = journal.escalations_since(Timestamp(0)).unwrap().remove(0);
    assert_eq!(
        (failed.notified_at, failed.notify_error.as_deref()),
        (Some(Timestamp(1_100)), Some("webhook: HTTP 503"))
    );
    assert!(!failed.delivered());

    journal
        .record_notified(id, Timestamp(1_200), Ok::<(), String>(()))
        .unwrap();
    drop(journal);
    let journal = Journal::open(&path).unwrap();
    let delivered = journal.escalations_since(Timestamp(0)).unwrap().remove(0);
    assert_eq!(
        delivered,
        Escalation {
            notified_at: Some(Timestamp(1_200)),
            notify_error: None,
            ..fresh
        }
    );
    assert!(delivered.delivered());

    let events: Vec<_> = journal
        .events_since(Timestamp(i64::MIN))
        .unwrap()
        .into_iter()
        .map(|event| (event.kind, event.subject, event.at, event.body))
        .collect();
    assert_eq!(
        events,
        [
            (
                KIND_ESCALATION.to_owned(),
                "db-3".to_owned(),
                Timestamp(1_000),
                json!({
                    "version": 1,
                    "escalation": id,
                    "cluster": "misskey",
                    "subject": "db-3",
                    "rule": "budget",
                    "message": "db-3 is still down after 3 restarts; automation paused: `hadome ack db-3`",
                })
            ),
            (
                KIND_NOTIFIED.to_owned(),
                "db-3".to_owned(),
                Timestamp(1_100),
                json!({"version": 1, "escalation": id, "ok": false, "error": "webhook: HTTP 503"})
            ),
            (
                KIND_NOTIFIED.to_owned(),
                "db-3".to_owned(),
                Timestamp(1_200),
                json!({"version": 1, "escalation": id, "ok": true, "error": null})
            ),
        ]
    );
}

#[test]
fn escalations_since_is_newest_first_from_since_inclusive() {
    let (_dir, _path, mut journal) = new_journal();
    let mut ids = Vec::new();
    for (at, subject) in [
        (1_000, "db-1"),
        (3_000, "db-3"),
        (2_000, "db-2"),
        (3_000, "misskey"),
    ] {
        ids.push(
            journal
                .record_escalation(Timestamp(at), "misskey", subject, "budget", "help")
                .unwrap(),
        );
    }
    let subjects = |since: i64| -> Vec<String> {
        journal
            .escalations_since(Timestamp(since))
            .unwrap()
            .into_iter()
            .map(|escalation| escalation.subject)
            .collect()
    };
    assert_eq!(subjects(0), ["misskey", "db-3", "db-2", "db-1"]);
    assert_eq!(subjects(2_000), ["misskey", "db-3", "db-2"]);
    assert_eq!(subjects(3_001), Vec::<String>::new());
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn a_notification_of_an_unknown_escalation_is_refused_and_changes_nothing() {
    let (_dir, path, mut journal) = new_journal();
    let error = journal
        .record_notified(42, Timestamp(1_000), Ok::<(), String>(()))
        .unwrap_err();
    assert!(
        matches!(error, JournalError::Escalation { id: 42, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("escalation 42"), "{error}");
    assert!(error.to_string().contains(&path.display().to_string()));
    assert!(error.hint().is_some());
    assert_eq!(journal.events_since(Timestamp(i64::MIN)).unwrap(), []);
}
