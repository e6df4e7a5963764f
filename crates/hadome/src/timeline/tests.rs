//! The timeline over hand-built events, with the bodies the journal writes: one `check` renders
//! the entries as markdown lines and compares them with what a postmortem should read.

use hadome_core::fact::Timestamp;
use hadome_journal::JournalEvent;
use serde_json::{json, Value};

use super::condense;

/// 2026-12-05 14:02:03 UTC.
const T0: i64 = 1_796_479_323_000;

/// Events built in order: ids increase, times are seconds after `T0`.
#[derive(Default)]
struct Events(Vec<JournalEvent>);

impl Events {
    fn at(mut self, seconds: i64, kind: &str, subject: &str, body: Value) -> Events {
        let id = i64::try_from(self.0.len()).unwrap() + 1;
        self.0.push(JournalEvent {
            id,
            at: Timestamp(T0 + seconds * 1000),
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            body,
        });
        self
    }
}

/// The markdown entry lines (no heading) of the timeline of `events`.
fn check(events: Events, expect: &str) {
    let markdown = condense(None, None, &events.0).to_markdown();
    let lines: Vec<&str> = markdown
        .lines()
        .filter(|line| line.starts_with("- ") || line.starts_with("**"))
        .collect();
    let expect: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(lines, expect, "\n{markdown}");
}

fn fact(before: Option<&str>, after: &str, lsn: &str) -> Value {
    json!({
        "version": 1, "instance": "db-3", "before": before, "after": after,
        "position": {"system_identifier": "7", "timeline": 1, "lsn": lsn, "history": null},
    })
}

fn verdict(age: &str) -> Value {
    json!({
        "version": 1,
        "action": {"text": "rebuild db-1 from db-3", "name": "rebuild", "target": "db-1", "source": "db-3"},
        "verdict": "deny",
        "findings": [{
            "rule": "overwrite-older", "severity": "deny", "subject": "db-1",
            "message": format!("`db-3` is at 0/900000; `db-1` was last seen, {age} ago, at 0/4C001B0"),
            "alternative": "rebuild `db-3` from `db-1`",
        }],
    })
}

#[test]
fn repeated_identical_verdicts_condense_with_their_count_and_span_keeping_the_first_numbers() {
    let mut events = Events::default();
    for second in 0..12 {
        events = events.at(second, "verdict", "db-1", verdict(&format!("{second} s")));
    }
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-1` verdict · rebuild db-1 from db-3: deny — overwrite-older: `db-3` is at 0/900000; `db-1` was last seen, 0 s ago, at 0/4C001B0 (×12, 14:02:03–14:02:14)",
    );
}

#[test]
fn another_subject_between_does_not_part_a_run_but_the_same_subject_does_and_one_second_shows_no_span(
) {
    let events = Events::default()
        .at(0, "verdict", "db-1", verdict("1 s"))
        .at(1, "fact-changed", "db-2", json!({"version": 1, "instance": "db-2", "before": null, "after": "primary, timeline 1", "position": null}))
        .at(2, "verdict", "db-1", verdict("2 s"))
        .at(3, "fact-changed", "db-1", json!({"version": 1, "instance": "db-1", "before": "primary, timeline 1", "after": "unreachable: timed out", "position": null}))
        .at(4, "verdict", "db-1", verdict("4 s"))
        .at(4, "verdict", "db-1", verdict("4 s"));
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-1` verdict · rebuild db-1 from db-3: deny — overwrite-older: `db-3` is at 0/900000; `db-1` was last seen, 1 s ago, at 0/4C001B0 (×2, 14:02:03–14:02:05)
         - **14:02:04** `db-2` first seen: primary, timeline 1
         - **14:02:06** `db-1` primary, timeline 1 → unreachable: timed out
         - **14:02:07** `db-1` verdict · rebuild db-1 from db-3: deny — overwrite-older: `db-3` is at 0/900000; `db-1` was last seen, 4 s ago, at 0/4C001B0 (×2)",
    );
}

#[test]
fn a_flapping_fact_becomes_one_entry() {
    let streaming = "standby, timeline 1, streaming";
    let stalled = "standby, timeline 1, not streaming";
    let mut events =
        Events::default().at(0, "fact-changed", "db-3", fact(None, streaming, "0/900000"));
    for second in 1..=6 {
        let (before, after) = if second % 2 == 1 {
            (streaming, stalled)
        } else {
            (stalled, streaming)
        };
        events = events.at(
            second,
            "fact-changed",
            "db-3",
            fact(Some(before), after, "0/900000"),
        );
    }
    events = events.at(
        9,
        "fact-changed",
        "db-3",
        fact(
            Some(streaming),
            "standby, timeline 2, streaming",
            "0/A00000",
        ),
    );
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-3` first seen: standby, timeline 1, streaming · at 0/900000
         - **14:02:04** `db-3` flapping: `standby, timeline 1, streaming` ⇄ `standby, timeline 1, not streaming` (×6, 14:02:04–14:02:09)
         - **14:02:12** `db-3` standby, timeline 1, streaming → standby, timeline 2, streaming · at 0/A00000",
    );
}

#[test]
fn findings_raised_and_cleared_show_rule_severity_message_and_how_long_they_were_open() {
    let events = Events::default()
        .at(0, "finding-raised", "db-3", json!({
            "version": 1, "finding": 1, "rule": "replication-stalled", "severity": "deny", "subject": "db-3",
            "message": "`db-3` received nothing for 40 s; the WAL it needs is gone from `db-1`",
            "alternative": "rebuild `db-3` from `db-1`",
        }))
        .at(300, "finding-cleared", "db-3", json!({
            "version": 1, "finding": 1, "rule": "replication-stalled", "severity": "deny", "subject": "db-3",
            "message": "…", "raised_at_ms": T0,
        }));
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-3` finding raised · replication-stalled (deny): `db-3` received nothing for 40 s; the WAL it needs is gone from `db-1` → rebuild `db-3` from `db-1`
         - **14:07:03** `db-3` finding cleared · replication-stalled (raised 14:02:03, open 5 min)",
    );
}

#[test]
fn an_intent_tells_its_plan_steps_their_detail_and_the_outcome_its_action() {
    let events = Events::default()
        .at(0, "intent", "db-3", json!({
            "version": 1, "intent": 4,
            "action": {"text": "rebuild db-3 from db-1", "name": "rebuild", "target": "db-3", "source": "db-1"},
            "verdict": "allow-after", "plan": ["stop `db-3`", "preserve `db-3`'s data directory: move it aside"],
            "overrides": [], "actor": "alice",
        }))
        .at(1, "step", "db-3", json!({"version": 1, "intent": 4, "step": "stop `db-3`", "ok": true, "detail": "stopped"}))
        .at(2, "step", "db-3", json!({"version": 1, "intent": 4, "step": "preserve `db-3`'s data directory: move it aside", "ok": false, "detail": "rename failed:\n  permission denied"}))
        .at(3, "outcome", "db-3", json!({"version": 1, "intent": 4, "ok": false, "detail": "stopped at step 2"}))
        .at(4, "outcome", "db-9", json!({"version": 1, "intent": 2, "ok": true, "detail": "done"}));
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-3` intent #4 · rebuild db-3 from db-1, by alice (verdict allow-after); plan: 1. stop `db-3`; 2. preserve `db-3`'s data directory: move it aside
         - **14:02:04** `db-3` step ok · stop `db-3`: stopped
         - **14:02:05** `db-3` step FAILED · preserve `db-3`'s data directory: move it aside: rename failed: ⏎ permission denied
         - **14:02:06** `db-3` outcome FAILED · rebuild db-3 from db-1 (#4): stopped at step 2
         - **14:02:07** `db-9` outcome ok · intent #2: done",
    );
}

#[test]
fn a_notification_folds_into_its_escalation_and_one_without_it_stands_alone() {
    let events = Events::default()
        .at(0, "escalation", "db-3", json!({
            "version": 1, "escalation": 7, "cluster": "misskey", "subject": "db-3",
            "rule": "budget", "message": "`db-3` restarted 3 times in 1 h; paused",
        }))
        .at(1, "notified", "db-3", json!({"version": 1, "escalation": 7, "ok": false, "error": "HTTP 503"}))
        .at(2, "pause", "db-3", json!({"version": 1, "pause": 1, "target": "db-3", "reason": "still down after 3 restarts"}))
        .at(3, "notified", "db-3", json!({"version": 1, "escalation": 7, "ok": true, "error": null}))
        .at(4, "notified", "db-2", json!({"version": 1, "escalation": 5, "ok": false, "error": "HTTP 500"}))
        .at(60, "ack", "db-3", json!({"version": 1, "ack": 1, "target": "db-3", "who": "alice", "note": "disk replaced", "cleared": [{"pause": 1, "paused_at_ms": T0, "reason": "…"}]}));
    let timeline = condense(None, None, &events.0);
    assert_eq!(
        timeline.entries()[0].event_ids,
        [1, 2, 4],
        "the notifications fold in"
    );
    assert_eq!(timeline.entries()[0].count, 1);
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `db-3` escalation · budget: `db-3` restarted 3 times in 1 h; paused — notified (2 attempts)
         - **14:02:05** `db-3` automation paused · still down after 3 restarts
         - **14:02:07** `db-2` notification of escalation #5 failed: HTTP 500
         - **14:03:03** `db-3` ack by alice: disk replaced (clears 1 pause)",
    );
}

#[test]
fn an_unknown_kind_or_version_shows_its_kind_and_subject() {
    let events = Events::default()
        .at(
            0,
            "quorum-vote",
            "etcd-1",
            json!({"version": 1, "vote": "yes"}),
        )
        .at(
            1,
            "verdict",
            "db-1",
            json!({"version": 2, "anything": true}),
        )
        .at(
            2,
            "verdict",
            "db-1",
            json!({"version": 1, "verdict": "deny"}),
        )
        .at(3, "lease", "misskey", json!({"no": "version"}));
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `etcd-1` quorum-vote (a kind of event this hadome does not know)
         - **14:02:04** `db-1` verdict (record version 2, which this hadome does not read)
         - **14:02:05** `db-1` verdict (a record this hadome cannot read)
         - **14:02:06** `misskey` lease (a record without a version)",
    );
}

#[test]
fn the_date_shows_once_and_again_when_it_changes_and_the_heading_names_the_window() {
    let lease = |change: &str| {
        json!({"version": 1, "cluster": "misskey", "change": change, "holder": "daemon@a",
               "expires_at_ms": null, "previous_holder": null, "previous_expired_at_ms": null})
    };
    let events = Events::default()
        .at(0, "lease", "misskey", lease("taken"))
        .at(5, "lease", "misskey", lease("released"))
        .at(86_400, "lease", "misskey", lease("taken"));
    let timeline = condense(None, None, &events.0);
    let markdown = timeline.to_markdown();
    assert!(
        markdown.starts_with("## Timeline 2026-12-05 14:02:03 UTC – 2026-12-06 14:02:03 UTC\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("3 events in 3 entries; times in UTC."),
        "{markdown}"
    );
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `misskey` lease taken by daemon@a
         - **14:02:08** `misskey` lease released by daemon@a
         **2026-12-06**
         - **14:02:03** `misskey` lease taken by daemon@a",
    );
    let asked = condense(
        Some(Timestamp(T0 - 60_000)),
        Some(Timestamp(T0 + 60_000)),
        &[],
    );
    assert_eq!(
        asked.to_markdown(),
        "## Timeline 2026-12-05 14:01:03 – 14:03:03 UTC\n\n_From hadome's journal: 0 events in 0 entries; times in UTC._\n\nNothing was journaled in this window.\n"
    );
}

#[test]
fn the_json_has_its_version_window_and_each_entry_with_its_events() {
    let events = Events::default()
        .at(0, "verdict", "db-1", verdict("1 s"))
        .at(2, "verdict", "db-1", verdict("3 s"));
    let json = condense(None, Some(Timestamp(T0 + 10_000)), &events.0).to_json();
    assert_eq!(
        json,
        json!({
            "version": 1,
            "since_ms": T0,
            "until_ms": T0 + 10_000,
            "entries": [{
                "at_ms": T0,
                "until_ms": T0 + 2_000,
                "count": 2,
                "kind": "verdict",
                "subject": "db-1",
                "text": "verdict · rebuild db-1 from db-3: deny — overwrite-older: `db-3` is at 0/900000; `db-1` was last seen, 1 s ago, at 0/4C001B0",
                "event_ids": [1, 2],
            }],
        })
    );
    assert_eq!(
        condense(None, None, &[]).to_json(),
        json!({"version": 1, "since_ms": null, "until_ms": null, "entries": []})
    );
}

#[test]
fn a_bot_refused_by_the_api_again_and_again_reads_once() {
    let refused = json!({
        "version": 1, "method": "POST", "path": "/v1/run", "verb": "run", "token": null,
        "peer": "127.0.0.1:52114", "reason": "no bearer token", "status": 401,
    });
    let events = Events::default()
        .at(0, "api-refused", "/v1/run", refused.clone())
        .at(30, "api-refused", "/v1/run", refused);
    check(
        events,
        "**2026-12-05**
         - **14:02:03** `/v1/run` API refused · POST /v1/run (run) from 127.0.0.1:52114, no known token: no bearer token (HTTP 401) (×2, 14:02:03–14:02:33)",
    );
}
