//! The scrape rendered from a hand-built pass and journal: a primary, a standby 16 MiB and 2 s
//! behind, a third member that stopped answering; a failover, an action, a verdict, a pause and a
//! backup in the journal. Each test reads the text a scraper would get.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hadome_core::action::Action;
use hadome_core::fact::{
    Facts, InstanceState, KeepaliveSettings, Probe, ProbeOutcome, ReceiverStatus, Timestamp,
    WalReceiver,
};
use hadome_core::finding::Verdict;
use hadome_core::position::{DataPosition, Lsn};
use hadome_core::supervise::{ClusterReport, ClusterState, Failover, FailoverPhase};
use hadome_journal::{BackupMade, EventTally, Journal};

use super::{encode, gather, Metrics, Snapshot};

const NOW: Timestamp = Timestamp(1_700_000_100_000);

fn estate_text(dir: &Path) -> String {
    format!(
        r#"
[journal]
path = "{dir}/journal.sqlite"

[probe]
interval_seconds = 1.0

[[instance]]
name = "db-1"
conninfo = "host=/nonexistent port=1"
data_dir = "{dir}/db-1"

[[instance]]
name = "db-2"
conninfo = "host=/nonexistent port=2"
data_dir = "{dir}/db-2"

[[instance]]
name = "db-3"
conninfo = "host=/nonexistent port=3"
data_dir = "{dir}/db-3"

[[cluster]]
name = "trio"
members = ["db-1", "db-2", "db-3"]
failover = "auto"

[[backup]]
name = "nightly"
type = "pg_dump"
instance = "db-1"
path = "{dir}/nightly-*.dump"
command = ["pg_dump", "-Fc", "--snapshot={{snapshot}}", "-f", "{{output}}", "host=/nonexistent"]
every_seconds = 86400
"#,
        dir = dir.display()
    )
}

fn state(in_recovery: bool, lsn: u64, last_replay_at: Option<Timestamp>) -> InstanceState {
    InstanceState {
        in_recovery,
        position: DataPosition {
            system_identifier: 7,
            timeline: 1,
            lsn: Lsn(lsn),
            history: Some(Vec::new()),
        },
        receive_lsn: in_recovery.then_some(Lsn(lsn)),
        replay_lsn: in_recovery.then_some(Lsn(lsn)),
        last_replay_at,
        postmaster_started_at: Timestamp(1_600_000_000_000),
        wal_segment_size_bytes: 16 * 1024 * 1024,
        oldest_wal_segment: Some(1),
        recovery_target_timeline: "latest".to_owned(),
        primary_conninfo: String::new(),
        wal_receiver: in_recovery.then(|| WalReceiver {
            status: ReceiverStatus::Streaming,
            received_timeline: 1,
            flushed_lsn: Some(Lsn(lsn)),
            last_message_at: Some(NOW),
            last_message_age_ms: Some(0),
            sender: Some("db-1".to_owned()),
            slot_name: None,
        }),
        replication: Vec::new(),
        slots: Vec::new(),
        unapplied_settings: Vec::new(),
        keepalive: KeepaliveSettings::UNKNOWN,
        synchronous: Default::default(),
    }
}

fn answered(at: Timestamp, state: InstanceState) -> Probe {
    Probe {
        observed_at: at,
        outcome: ProbeOutcome::Answered(Box::new(state)),
    }
}

/// The journal and the pass: db-3 answered 30 s ago, then stopped answering.
fn world(dir: &Path) -> (Journal, Snapshot) {
    let estate = hadome_config::parse(&estate_text(dir), &dir.join("estate.toml")).unwrap();
    let mut journal = Journal::open(&estate.journal_path).unwrap();
    let earlier = Timestamp(NOW.0 - 30_000);
    let mut before = Facts::default();
    before.instances.insert(
        "db-3".to_owned(),
        answered(earlier, state(true, 0x300_0000, None)),
    );
    journal.record_facts(&before).unwrap();
    let mut facts = Facts::default();
    facts.instances.insert(
        "db-1".to_owned(),
        answered(NOW, state(false, 0x500_0000, None)),
    );
    facts.instances.insert(
        "db-2".to_owned(),
        answered(NOW, state(true, 0x400_0000, Some(Timestamp(NOW.0 - 2_000)))),
    );
    facts.instances.insert(
        "db-3".to_owned(),
        Probe {
            observed_at: NOW,
            outcome: ProbeOutcome::unreachable("timeout: no answer within 2 s".to_owned()),
        },
    );
    facts.hosts.insert(
        "s512".to_owned(),
        hadome_core::host::HostProbe {
            observed_at: NOW,
            outcome: hadome_core::host::HostOutcome::Unreachable {
                error: "ssh: connection refused".to_owned(),
            },
        },
    );
    journal.record_facts(&facts).unwrap();

    let promote = Action::Promote {
        target: "db-1".to_owned(),
    };
    let failover = journal
        .record_intent(
            Timestamp(NOW.0 - 60_000),
            &promote,
            Verdict::Allow,
            &[],
            &[],
            "daemon",
        )
        .unwrap();
    journal
        .record_failover(
            failover,
            Timestamp(NOW.0 - 59_000),
            &Failover {
                cluster: "trio".to_owned(),
                old_primary: "db-3".to_owned(),
                evidence: "`db-3` has not answered for 1.6 s".to_owned(),
                synchronous: Vec::new(),
                phase: FailoverPhase::Done,
                fenced: true,
                new_primary: Some("db-1".to_owned()),
                followers: Vec::new(),
                synchronous_restored: true,
                stopped_because: String::new(),
            },
        )
        .unwrap();
    journal
        .record_outcome(
            failover,
            Timestamp(NOW.0 - 58_000),
            true,
            "db-1 is the primary",
        )
        .unwrap();
    let restart = Action::Restart {
        target: "db-2".to_owned(),
    };
    journal
        .record_intent(
            Timestamp(NOW.0 - 10_000),
            &restart,
            Verdict::Allow,
            &[],
            &[],
            "daemon",
        )
        .unwrap();
    let rebuild = Action::Rebuild {
        target: "db-3".to_owned(),
        source: "db-1".to_owned(),
    };
    journal
        .record_verdict(Timestamp(NOW.0 - 5_000), &rebuild, Verdict::Deny, &[])
        .unwrap();
    journal
        .pause(Timestamp(NOW.0 - 4_000), "db-3", "rebuild refused")
        .unwrap();
    journal
        .record_backup_made(
            Timestamp(NOW.0 - 3_600_000),
            &BackupMade {
                backup: "nightly".to_owned(),
                path: PathBuf::from(format!("{}/nightly-1.dump", dir.display())),
                size_bytes: 123_456,
                sha256_hex: "00".repeat(32),
                duration_ms: 900,
                position: None,
                row_counts: BTreeMap::new(),
                structure: "pg_dump custom archive, 3 tables".to_owned(),
            },
        )
        .unwrap();
    let history = journal.history().unwrap();
    let snapshot = Snapshot {
        estate,
        facts,
        history,
        now: NOW,
        taken: Instant::now(),
        reports: vec![ClusterReport {
            cluster: "trio".to_owned(),
            primary: Some("db-1".to_owned()),
            state: ClusterState::Healthy,
            detail: "`db-1` answers".to_owned(),
        }],
        pass_seconds: 0.012,
        probes: BTreeMap::from([("db-1".to_owned(), Duration::from_millis(3))]),
    };
    (journal, snapshot)
}

/// The scrape, as Prometheus text (`openmetrics` false) or OpenMetrics.
fn scrape(
    journal: &Journal,
    snapshot: &Snapshot,
    tally: &Mutex<EventTally>,
    openmetrics: bool,
) -> String {
    let metrics = Metrics::new();
    metrics.observe_pass(snapshot.pass_seconds, &snapshot.probes);
    let families = gather(Some(snapshot), journal, tally).unwrap();
    encode(&metrics.registry(families), openmetrics).unwrap().0
}

fn has(text: &str, line: &str) {
    assert!(
        text.lines().any(|candidate| candidate == line),
        "no line `{line}` in the scrape:\n{text}"
    );
}

fn lacks(text: &str, start: &str) {
    assert!(
        !text.lines().any(|candidate| candidate.starts_with(start)),
        "a line starting `{start}` in the scrape:\n{text}"
    );
}

#[test]
fn instances_show_their_role_lag_and_last_answer_as_status_computes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, snapshot) = world(dir.path());
    let text = scrape(&journal, &snapshot, &Mutex::default(), false);
    has(
        &text,
        r#"hadome_instance_role{cluster="trio",pg_instance="db-1",role="primary"} 1"#,
    );
    has(
        &text,
        r#"hadome_instance_role{cluster="trio",pg_instance="db-1",role="standby"} 0"#,
    );
    has(
        &text,
        r#"hadome_instance_role{cluster="trio",pg_instance="db-3",role="unreachable"} 1"#,
    );
    has(
        &text,
        r#"hadome_replication_lag_bytes{cluster="trio",pg_instance="db-2"} 16777216"#,
    );
    has(
        &text,
        r#"hadome_replication_lag_seconds{cluster="trio",pg_instance="db-2"} 2"#,
    );
    lacks(
        &text,
        r#"hadome_replication_lag_bytes{cluster="trio",pg_instance="db-1"}"#,
    );
    has(
        &text,
        r#"hadome_instance_streaming{cluster="trio",pg_instance="db-2"} 1"#,
    );
    lacks(
        &text,
        r#"hadome_instance_streaming{cluster="trio",pg_instance="db-3"}"#,
    );
    has(
        &text,
        r#"hadome_instance_last_answer_age_seconds{cluster="trio",pg_instance="db-3"} 30"#,
    );
    has(
        &text,
        r#"hadome_instance_last_answer_age_seconds{cluster="trio",pg_instance="db-1"} 0"#,
    );
    has(
        &text,
        r#"hadome_cluster_state{cluster="trio",state="healthy"} 1"#,
    );
    has(
        &text,
        r#"hadome_cluster_state{cluster="trio",state="failing-over"} 0"#,
    );
    has(
        &text,
        r#"hadome_cluster_primary{cluster="trio",pg_instance="db-1"} 1"#,
    );
    has(&text, "hadome_probe_interval_seconds 1");
    has(
        &text,
        r#"hadome_probe_duration_seconds_bucket{pg_instance="db-1",le="0.005"} 1"#,
    );
    has(&text, r#"hadome_pass_duration_seconds_bucket{le="0.01"} 0"#);
    has(
        &text,
        r#"hadome_pass_duration_seconds_bucket{le="0.025"} 1"#,
    );
    has(
        &text,
        &format!(
            r#"hadome_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    );
}

#[test]
fn counters_budgets_pauses_and_backups_come_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, snapshot) = world(dir.path());
    let tally = Mutex::default();
    let text = scrape(&journal, &snapshot, &tally, false);
    has(&text, r#"hadome_failovers_total{cluster="trio"} 1"#);
    has(
        &text,
        r#"hadome_actions_total{action="promote",actor="daemon"} 1"#,
    );
    has(
        &text,
        r#"hadome_actions_total{action="restart",actor="daemon"} 1"#,
    );
    has(
        &text,
        r#"hadome_action_outcomes_total{action="promote",actor="daemon",outcome="succeeded"} 1"#,
    );
    lacks(&text, r#"hadome_action_outcomes_total{action="restart""#);
    has(
        &text,
        r#"hadome_verdicts_total{action="rebuild",verdict="deny"} 1"#,
    );
    // One restart of db-2 within the hour, of 3; the cluster's one failover was the promote's.
    has(
        &text,
        r#"hadome_automation_budget_remaining{cluster="trio",target="db-2",action="restart"} 2"#,
    );
    has(
        &text,
        r#"hadome_automation_budget_remaining{cluster="trio",target="trio",action="failover"} 0"#,
    );
    has(
        &text,
        r#"hadome_automation_budget_limit{cluster="trio",target="db-1",action="rebuild"} 2"#,
    );
    has(&text, r#"hadome_automation_pauses{cluster="trio"} 1"#);
    has(
        &text,
        r#"hadome_automation_pause_age_seconds{cluster="trio",target="db-3"} 4"#,
    );
    has(
        &text,
        r#"hadome_backup_last_made_age_seconds{backup="nightly"} 3600"#,
    );
    has(
        &text,
        r#"hadome_backup_last_made_size_bytes{backup="nightly"} 123456"#,
    );
    has(
        &text,
        r#"hadome_backup_copies_made_total{backup="nightly"} 1"#,
    );
    has(
        &text,
        r#"hadome_backup_every_seconds{backup="nightly"} 86400"#,
    );
    lacks(&text, "hadome_backup_restore_test_age_seconds{");

    // The next scrape counts only what was appended since, on top of what it counted.
    let rebuild = Action::Rebuild {
        target: "db-3".to_owned(),
        source: "db-1".to_owned(),
    };
    journal
        .record_verdict(NOW, &rebuild, Verdict::Deny, &[])
        .unwrap();
    let again = scrape(&journal, &snapshot, &tally, false);
    has(
        &again,
        r#"hadome_verdicts_total{action="rebuild",verdict="deny"} 2"#,
    );
    has(&again, r#"hadome_failovers_total{cluster="trio"} 1"#);
}

#[test]
fn findings_are_those_of_the_facts_the_pass_has() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, snapshot) = world(dir.path());
    let text = scrape(&journal, &snapshot, &Mutex::default(), false);
    let findings: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("hadome_findings_open{"))
        .collect();
    assert!(
        findings
            .iter()
            .any(|line| line.contains(r#"subject="db-3""#)),
        "db-3 does not answer: a finding names it\n{text}"
    );
    // The pass did not list the backup's copies: `check` would say it "was not looked at", which
    // is the pass's choice, not the backup's state.
    assert!(
        findings.iter().all(|line| !line.contains("backup-trust")),
        "{findings:#?}"
    );
    // Host facts were in the pass: their family has a sample; etcd's has none, and says so.
    has(&text, r#"hadome_host_up{host="s512"} 0"#);
    has(&text, "# TYPE hadome_etcd_member_up gauge");
    lacks(&text, "hadome_etcd_member_up{");
}

#[test]
fn openmetrics_is_served_to_who_asks_and_ends_with_eof() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, snapshot) = world(dir.path());
    let text = scrape(&journal, &snapshot, &Mutex::default(), true);
    assert!(text.ends_with("# EOF\n"), "{text}");
    has(&text, "# TYPE hadome_failovers counter");
    has(&text, r#"hadome_failovers_total{cluster="trio"} 1"#);
    has(&text, "# UNIT hadome_replication_lag_bytes bytes");
    has(&text, "# TYPE hadome_build info");
    let mut openmetrics = axum::http::HeaderMap::new();
    openmetrics.insert(
        axum::http::header::ACCEPT,
        axum::http::HeaderValue::from_static(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3",
        ),
    );
    assert!(super::wants_openmetrics(&openmetrics));
    assert!(!super::wants_openmetrics(&axum::http::HeaderMap::new()));
}

#[test]
fn the_prometheus_text_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, snapshot) = world(dir.path());
    let text = scrape(&journal, &snapshot, &Mutex::default(), false);
    let checked = promtool_check_metrics(&text);
    assert!(checked.0, "promtool check metrics:\n{}\n{text}", checked.1);
}

/// `promtool check metrics` on `text`: whether it passed, and what it said.
fn promtool_check_metrics(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's `prometheus` package: scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("the scrape written to promtool");
    let output = child.wait_with_output().expect("promtool's answer");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}
