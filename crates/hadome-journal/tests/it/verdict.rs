//! Verdicts: appended with the action and every finding, read back in time order.

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::{Finding, Severity, Verdict};
use serde_json::json;

use crate::support::{answered, facts, new_journal, position, state};

#[test]
fn a_verdict_is_read_back_with_its_findings() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .record_facts(&facts([(
            "db-1",
            answered(1_000, state(true, position(7, 1, 0x500, None), false, 0)),
        )]))
        .unwrap();
    let action = Action::Rebuild {
        target: "db-1".into(),
        source: "db-3".into(),
    };
    let findings = [
        Finding {
            rule: "overwrite-older",
            severity: Severity::Deny,
            subject: "db-1".into(),
            message: "`db-1` holds 1.2 GiB that `db-3` lacks".into(),
            alternative: Some("rebuild `db-3` from `db-1`".into()),
        },
        Finding {
            rule: "stale-facts",
            severity: Severity::Warn,
            subject: "db-1".into(),
            message: "`db-1` does not answer".into(),
            alternative: None,
        },
    ];
    journal
        .record_verdict(Timestamp(2_000), &action, Verdict::Deny, &findings)
        .unwrap();
    journal
        .record_verdict(
            Timestamp(3_000),
            &Action::Promote {
                target: "db-3".into(),
            },
            Verdict::NeedsHuman,
            &[],
        )
        .unwrap();

    let events = journal.events_since(Timestamp(2_000)).unwrap();
    assert_eq!(events.len(), 2, "the fact change at 1000 is before `since`");
    let verdict = &events[0];
    assert_eq!(
        (verdict.at, verdict.kind.as_str(), verdict.subject.as_str()),
        (Timestamp(2_000), "verdict", "db-1")
    );
    assert_eq!(
        verdict.body,
        json!({
            "version": 1,
            "action": { "text": "rebuild db-1 from db-3", "name": "rebuild", "target": "db-1", "source": "db-3" },
            "verdict": "deny",
            "findings": [
                {
                    "rule": "overwrite-older",
                    "severity": "deny",
                    "subject": "db-1",
                    "message": "`db-1` holds 1.2 GiB that `db-3` lacks",
                    "alternative": "rebuild `db-3` from `db-1`",
                },
                {
                    "rule": "stale-facts",
                    "severity": "warn",
                    "subject": "db-1",
                    "message": "`db-1` does not answer",
                    "alternative": null,
                },
            ],
        })
    );
    assert_eq!(events[1].subject, "db-3");
    assert_eq!(events[1].body["action"]["source"], serde_json::Value::Null);
    assert_eq!(events[1].body["verdict"], "needs-human");
    assert!(events[0].id < events[1].id);

    let all = journal.events_since(Timestamp(i64::MIN)).unwrap();
    assert_eq!(
        all.iter()
            .map(|event| event.kind.as_str())
            .collect::<Vec<_>>(),
        ["fact-changed", "verdict", "verdict"]
    );
    assert_eq!(journal.events_since(Timestamp(3_001)).unwrap(), []);
}

#[test]
fn events_are_oldest_first_whatever_order_they_were_appended_in() {
    let (_dir, _path, mut journal) = new_journal();
    journal
        .record_verdict(
            Timestamp(5_000),
            &Action::Stop { target: "b".into() },
            Verdict::Allow,
            &[],
        )
        .unwrap();
    journal
        .record_verdict(
            Timestamp(1_000),
            &Action::Stop { target: "a".into() },
            Verdict::Allow,
            &[],
        )
        .unwrap();
    journal
        .record_verdict(
            Timestamp(5_000),
            &Action::Stop { target: "c".into() },
            Verdict::Allow,
            &[],
        )
        .unwrap();
    let subjects: Vec<String> = journal
        .events_since(Timestamp(0))
        .unwrap()
        .into_iter()
        .map(|event| event.subject)
        .collect();
    assert_eq!(subjects, ["a", "b", "c"]);
}
