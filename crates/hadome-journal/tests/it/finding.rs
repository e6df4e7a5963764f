//! Findings (schema version 8) as events, the events of a time window, and a copy of the journal
//! that outlives its estate: what `hadome timeline` reads.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::{Finding, Severity, Verdict};
use hadome_journal::{Journal, KIND_FINDING_CLEARED, KIND_FINDING_RAISED};
use serde_json::json;

use crate::support::new_journal;

fn stalled(message: &str) -> Finding {
    Finding {
        rule: "replication-stalled",
        severity: Severity::Deny,
        subject: "db-3".into(),
        message: message.into(),
        alternative: Some("rebuild `db-3` from `db-1`".into()),
    }
}

#[test]
fn a_raised_and_a_cleared_finding_are_events_with_versioned_bodies() {
    let (_dir, _path, mut journal) = new_journal();
    let changes = journal
        .record_findings(Timestamp(1_000), &[stalled("0 bytes received in 30 s")])
        .unwrap();
    let id = changes.raised[0].id;
    journal
        .record_findings(Timestamp(2_000), &[stalled("0 bytes received in 60 s")])
        .unwrap();
    journal.record_findings(Timestamp(3_000), &[]).unwrap();

    let events = journal.events_since(Timestamp(0)).unwrap();
    let shown: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|event| (event.at.0, event.kind.as_str(), event.subject.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (1_000, KIND_FINDING_RAISED, "db-3"),
            (3_000, KIND_FINDING_CLEARED, "db-3")
        ]
    );
    assert_eq!(
        events[0].body,
        json!({
            "version": 1,
            "finding": id,
            "rule": "replication-stalled",
            "severity": "deny",
            "subject": "db-3",
            "message": "0 bytes received in 30 s",
            "alternative": "rebuild `db-3` from `db-1`",
        })
    );
    assert_eq!(
        events[1].body,
        json!({
            "version": 1,
            "finding": id,
            "rule": "replication-stalled",
            "severity": "deny",
            "subject": "db-3",
            "message": "0 bytes received in 60 s",
            "raised_at_ms": 1_000,
        })
    );
}

#[test]
fn events_between_keeps_both_ends_and_nothing_outside() {
    let (_dir, _path, mut journal) = new_journal();
    let promote = Action::Promote {
        target: "db-2".into(),
    };
    for at in [1_000, 2_000, 2_000, 3_000, 4_000] {
        journal
            .record_verdict(Timestamp(at), &promote, Verdict::Allow, &[])
            .unwrap();
    }
    let window = journal
        .events_between(Timestamp(2_000), Timestamp(3_000))
        .unwrap();
    assert_eq!(
        window
            .iter()
            .map(|event| (event.id, event.at.0))
            .collect::<Vec<_>>(),
        [(2, 2_000), (3, 2_000), (4, 3_000)]
    );
    assert!(journal
        .events_between(Timestamp(3_500), Timestamp(3_000))
        .unwrap()
        .is_empty());
    assert_eq!(
        journal
            .events_between(Timestamp(i64::MIN), Timestamp(i64::MAX))
            .unwrap(),
        journal.events_since(Timestamp(i64::MIN)).unwrap()
    );
}

#[test]
fn a_copy_holds_every_event_and_open_finding_and_opens_as_a_journal() {
    let (dir, _path, mut journal) = new_journal();
    journal
        .record_findings(Timestamp(1_000), &[stalled("behind")])
        .unwrap();
    journal
        .record_verdict(
            Timestamp(2_000),
            &Action::Promote {
                target: "db-2".into(),
            },
            Verdict::Deny,
            &[stalled("behind")],
        )
        .unwrap();
    let copy = dir.path().join("kept.sqlite");
    journal.copy_to(&copy).unwrap();
    // The original goes on; the copy is what was committed when it was taken.
    journal.record_findings(Timestamp(3_000), &[]).unwrap();

    let kept = Journal::open(&copy).unwrap();
    assert_eq!(
        kept.events_since(Timestamp(i64::MIN)).unwrap(),
        journal
            .events_between(Timestamp(0), Timestamp(2_000))
            .unwrap()
    );
    assert_eq!(kept.open_findings().unwrap().len(), 1);

    let error = journal.copy_to(&copy).unwrap_err();
    assert!(
        error.to_string().contains("could not copy the journal"),
        "an existing file is not overwritten: {error}"
    );
}
