//! The incidents replayed on real servers: every step runs the real `hadome` binary against the
//! lab's `estate.toml` and asserts the verdict and the rule ids.

use std::time::Duration;

use hadome_lab::{Fault, LoadOptions};
use serde_json::Value;

use crate::support::{hadome_json, lab};

/// The (rule, subject) pairs of the findings of one severity or worse.
fn rules(json: &Value, worst_first: &[&str]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| worst_first.contains(&finding["severity"].as_str().unwrap()))
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap().to_owned(),
                finding["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

fn pair(rule: &str, subject: &str) -> (String, String) {
    (rule.to_owned(), subject.to_owned())
}

fn message_of<'a>(json: &'a Value, rule: &str, subject: &str) -> &'a str {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["rule"] == rule && finding["subject"] == subject)
        .and_then(|finding| finding["message"].as_str())
        .unwrap_or_else(|| panic!("no {rule} finding on {subject}: {json:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misskey_replay_the_bots_overwrite_is_refused_and_the_safe_direction_allowed() {
    let lab = lab("misskey").await;
    let config = lab.dir().join("estate.toml");
    lab.fault(&Fault::ConfigChange {
        node: "db-4".into(),
        key: "work_mem".into(),
        value: "64MB".into(),
    })
    .await
    .unwrap();
    lab.fault(&Fault::Stall("db-3".into())).await.unwrap();

    // The first pass after the stall reports it: within one probe interval, not months.
    let (code, check) = hadome_json(&config, &["check"]);
    assert_eq!(code, 1, "something is critical: {check:#}");
    assert_eq!(
        rules(&check, &["deny"]),
        [
            pair("replication-stalled", "db-3"),
            pair("replication-stalled", "db-4")
        ],
        "{check:#}"
    );
    assert!(
        rules(&check, &["warn"]).contains(&pair("config-applied", "db-4")),
        "{check:#}"
    );
    assert!(
        message_of(&check, "replication-stalled", "db-3")
            .contains("was removed from the primary `db-1`"),
        "{check:#}"
    );
    assert!(
        message_of(&check, "replication-stalled", "db-4")
            .contains("streams from `db-3`, which is stalled"),
        "{check:#}"
    );
    assert!(
        message_of(&check, "config-applied", "db-4").contains("work_mem"),
        "{check:#}"
    );

    // The last pass that sees db-1 answer is what the journal keeps.
    let (_, status) = hadome_json(&config, &["status"]);
    let db1_lsn = status["clusters"][0]["members"][0]["lsn"]
        .as_str()
        .unwrap()
        .to_owned();

    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();
    lab.fault(&Fault::Hang("db-2".into())).await.unwrap();
    for target in ["db-1", "db-2"] {
        let (code, ask) = hadome_json(&config, &["ask", "rebuild", target, "--from", "db-3"]);
        assert_eq!(
            (code, ask["verdict"].as_str()),
            (1, Some("deny")),
            "{ask:#}"
        );
        let denied = rules(&ask, &["deny"]);
        assert!(denied.contains(&pair("overwrite-older", target)), "{ask:#}");
        assert!(denied.contains(&pair("last-copy", target)), "{ask:#}");
        let overwrite = message_of(&ask, "overwrite-older", target);
        assert!(
            overwrite.contains(&format!("`{target}` was last seen")),
            "{overwrite}"
        );
        assert!(
            overwrite.contains("of WAL"),
            "how far behind db-3 is: {overwrite}"
        );
    }
    let (_, ask) = hadome_json(&config, &["ask", "rebuild", "db-1", "--from", "db-3"]);
    assert!(
        message_of(&ask, "overwrite-older", "db-1").contains(&db1_lsn),
        "db-1's last known position {db1_lsn}: {ask:#}"
    );
    let (code, promote) = hadome_json(&config, &["ask", "promote", "db-3"]);
    assert_eq!(
        (code, promote["verdict"].as_str()),
        (1, Some("deny")),
        "{promote:#}"
    );
    assert!(
        rules(&promote, &["deny"]).contains(&pair("promote-eligibility", "db-3")),
        "{promote:#}"
    );

    lab.fault(&Fault::Resume("db-1".into())).await.unwrap();
    lab.fault(&Fault::Resume("db-2".into())).await.unwrap();
    let (code, safe) = hadome_json(&config, &["ask", "rebuild", "db-3", "--from", "db-1"]);
    assert_eq!(
        (code, safe["verdict"].as_str()),
        (0, Some("allow-after")),
        "{safe:#}"
    );
    let steps = safe["prerequisites"].to_string();
    assert!(
        steps.contains("preserve `db-3`'s data directory"),
        "{steps}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mackerel_replay_promoting_the_cascade_that_missed_the_switch_is_refused() {
    let lab = lab("mackerel").await;
    let config = lab.dir().join("estate.toml");
    let (code, _) = hadome_json(&config, &["status"]);
    assert_eq!(code, 0);
    // Before anything fails, check says what the daemon would do if db000 did: db000 waits for
    // no standby, so nothing would prove a failover lossless, and it would escalate (issue 17).
    // The misskey drill's "0 critical, 0 warnings" is the other side: a primary that waits for
    // a member gets no such warning.
    let (_, check) = hadome_json(&config, &["check"]);
    assert!(
        rules(&check, &["warn"]).contains(&pair("promote-eligibility", "db000")),
        "{check:#}"
    );
    let warning = message_of(&check, "promote-eligibility", "db000");
    assert!(
        warning.contains("synchronous_standby_names is empty")
            && warning.contains("the daemon escalates instead of failing over"),
        "{check:#}"
    );

    // Writes before the migration: db002 replays them, so its last replayed commit has a time.
    crate::support::write_row(&lab, "db000", "before-migration").await;
    crate::support::wait_for_row(&lab, "db002", "before-migration").await;
    // The migration: db001 promoted, clients moved to it, the old primary retired.
    lab.fault(&Fault::Promote("db001".into())).await.unwrap();
    lab.fault(&Fault::Stop("db000".into())).await.unwrap();
    let options = LoadOptions {
        node: "db001".into(),
        rate_per_second: 200.0,
        ack_log: lab.scratch.path().join("acks"),
        commit_timeout: Duration::from_secs(10),
    };
    let load = lab
        .load(&options, tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(load.acknowledged > 0, "{load:?}");

    let (code, check) = hadome_json(&config, &["check"]);
    assert_eq!(code, 1, "{check:#}");
    let critical = rules(&check, &["deny"]);
    assert!(
        critical.contains(&pair("timeline-follow", "db002")),
        "{check:#}"
    );
    assert!(
        critical.contains(&pair("replication-stalled", "db002")),
        "{check:#}"
    );
    assert!(
        message_of(&check, "timeline-follow", "db002").contains("switched to timeline 2"),
        "{check:#}"
    );

    lab.fault(&Fault::Isolate("db001".into())).await.unwrap();
    let (code, ask) = hadome_json(&config, &["ask", "promote", "db002"]);
    assert_eq!(
        (code, ask["verdict"].as_str()),
        (1, Some("deny")),
        "{ask:#}"
    );
    assert_eq!(
        rules(&ask, &["deny"]),
        [pair("promote-eligibility", "db002")],
        "{ask:#}"
    );
    let messages = ask["findings"].to_string();
    assert!(
        messages.contains("behind `db001`'s last known position"),
        "the gap in bytes: {messages}"
    );
    assert!(
        messages.contains("of writes"),
        "the gap in seconds: {messages}"
    );
    assert!(
        messages.contains("diverging from `db001`'s timeline 2"),
        "the divergence: {messages}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positive_controls_the_guard_is_not_a_blanket_no() {
    let pair_lab = lab("pair").await;
    let config = pair_lab.dir().join("estate.toml");
    let (code, _) = hadome_json(&config, &["status"]);
    assert_eq!(code, 0);
    pair_lab.fault(&Fault::Crash("db-1".into())).await.unwrap();
    let (code, promote) = hadome_json(&config, &["ask", "promote", "db-2"]);
    assert_eq!(
        (code, promote["verdict"].as_str()),
        (0, Some("allow")),
        "{promote:#}"
    );

    let trio = lab("trio").await;
    let config = trio.dir().join("estate.toml");
    let (code, check) = hadome_json(&config, &["check"]);
    assert_eq!(code, 0, "a healthy estate: {check:#}");
    let (code, restart) = hadome_json(&config, &["ask", "restart", "db-3"]);
    assert_eq!(
        (code, restart["verdict"].as_str()),
        (0, Some("allow")),
        "{restart:#}"
    );
    let (code, rebuild) = hadome_json(&config, &["ask", "rebuild", "db-3", "--from", "db-1"]);
    assert_eq!(
        (code, rebuild["verdict"].as_str()),
        (0, Some("allow-after")),
        "{rebuild:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_a_copy_never_observed_and_unreachable_needs_a_human() {
    let lab = lab("pair").await;
    // db-2 hangs before hadome ever saw it: the journal knows nothing of it.
    lab.fault(&Fault::Hang("db-2".into())).await.unwrap();
    let config = lab.dir().join("estate.toml");
    let (code, ask) = hadome_json(&config, &["ask", "rebuild", "db-2", "--from", "db-1"]);
    assert_eq!(
        (code, ask["verdict"].as_str()),
        (3, Some("needs-human")),
        "{ask:#}"
    );
    assert!(
        rules(&ask, &["needs-human"]).contains(&pair("stale-facts", "db-2")),
        "{ask:#}"
    );
    // It says what a person does next: the run that overrides the rule, with a reason.
    let next = ask["next"].as_str().unwrap_or_default();
    assert!(
        next.contains("hadome run rebuild db-2 --from db-1 --override stale-facts --reason"),
        "{ask:#}"
    );
    assert!(next.contains(&config.display().to_string()), "{ask:#}");
    lab.fault(&Fault::Resume("db-2".into())).await.unwrap();
}
