//! `GET /metrics` on a real estate (issue 16): the daemon supervising the `trio` lab, scraped as
//! `curl` and Prometheus scrape it, checked by Debian's `promtool`; a `hang` of the primary, and
//! the failover seen in the scrape's gauges and counters. And `examples/alerts.yml`, which alerts
//! on these metrics, checked by `promtool check rules` and its unit tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, KIND_INTENT};
use hadome_lab::Fault;

use crate::api_support::ApiDaemon;
use crate::support::{eventually, lab};

/// How long the daemon may take to see, decide and finish a failover.
const WAIT: Duration = Duration::from_secs(90);

/// `GET /metrics` with `accept` (none: as `curl` sends it): the status, content type and text.
async fn scrape(api: &ApiDaemon, accept: Option<&str>) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(api.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("GET /metrics answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("the scrape's body");
    (status, content_type, text)
}

/// The value of the sample `series` (`name{labels}` exactly as written), if the scrape has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    })
}

fn role(instance: &str, role: &str) -> String {
    format!(r#"hadome_instance_role{{cluster="trio",pg_instance="{instance}",role="{role}"}}"#)
}

/// `promtool ARGS` with `stdin`: whether it passed, and what it said.
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(repository())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's `prometheus` package: scripts/setup.sh installs it)");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(stdin.as_bytes())
        .expect("promtool reads its stdin");
    // promtool ends on its own once its stdin is closed; waiting reaps it.
    let output = child.wait_with_output().expect("promtool's answer");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The target of the daemon's promote intent: the standby it made the primary.
fn promoted(journal: &Journal) -> Option<String> {
    journal
        .events_since(Timestamp(i64::MIN))
        .expect("the journal's events")
        .into_iter()
        .find(|event| event.kind == KIND_INTENT && event.body["action"]["name"] == "promote")
        .and_then(|event| event.body["action"]["target"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_show_a_hung_primary_failed_over() {
    let lab = lab("trio").await;
    let mut api = ApiDaemon::start(&lab, "metrics", &[]).await;

    let healthy = eventually("a scrape of `trio` healthy, db-1 primary", WAIT, || async {
        let (status, content_type, text) = scrape(&api, None).await;
        let seen = status == 200
            && sample(
                &text,
                r#"hadome_cluster_state{cluster="trio",state="healthy"}"#,
            ) == Some(1.0)
            && sample(&text, &role("db-1", "primary")) == Some(1.0);
        seen.then_some((content_type, text))
    })
    .await;
    let (content_type, before) = healthy;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let (passed, said) = promtool(&["check", "metrics"], &before);
    assert!(passed, "promtool check metrics:\n{said}\n{before}");
    assert_eq!(
        sample(&before, r#"hadome_failovers_total{cluster="trio"}"#),
        Some(0.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, r#"hadome_cluster_lease_held{cluster="trio"}"#),
        Some(1.0),
        "the daemon holds trio's lease: {before}"
    );
    for standby in ["db-2", "db-3"] {
        assert_eq!(
            sample(&before, &role(standby, "standby")),
            Some(1.0),
            "{before}"
        );
        assert!(
            sample(
                &before,
                &format!(
                    r#"hadome_replication_lag_bytes{{cluster="trio",pg_instance="{standby}"}}"#
                )
            )
            .is_some(),
            "{standby}'s lag: {before}"
        );
    }
    assert!(
        !before.contains(r#"hadome_actions_total{action="promote""#),
        "nothing promoted yet: {before}"
    );
    assert!(
        sample(&before, "hadome_pass_duration_seconds_count").is_some_and(|passes| passes >= 1.0),
        "{before}"
    );

    // Prometheus asks for OpenMetrics, and gets it.
    let (status, content_type, openmetrics) = scrape(
        &api,
        Some("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(
        openmetrics.contains("# TYPE hadome_failovers counter\n"),
        "{openmetrics}"
    );

    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();
    let journal = Journal::open(&lab.dir().join("hadome.sqlite")).expect("the lab's journal");
    let (new, after) = eventually("a scrape after the failover", WAIT, || async {
        let new = promoted(&journal)?;
        let other = if new == "db-2" { "db-3" } else { "db-2" };
        let (_, _, text) = scrape(&api, None).await;
        let done = sample(&text, r#"hadome_failovers_total{cluster="trio"}"#) == Some(1.0)
            && sample(
                &text,
                r#"hadome_action_outcomes_total{action="promote",actor="daemon",outcome="succeeded"}"#,
            ) == Some(1.0)
            && sample(&text, &role(&new, "primary")) == Some(1.0)
            && sample(&text, &role(other, "standby")) == Some(1.0)
            && sample(
                &text,
                &format!(r#"hadome_replication_lag_bytes{{cluster="trio",pg_instance="{other}"}}"#),
            )
            .is_some();
        done.then_some((new, text))
    })
    .await;
    eprintln!("--- the scrape after the failover:\n{after}");
    // The synchronous standby, unless the hang left db-3 strictly ahead (tests/it/daemon.rs).
    assert!(new == "db-2" || new == "db-3", "promoted `{new}`");
    assert_eq!(
        sample(&after, &role("db-1", "unreachable")),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, &role("db-1", "primary")),
        Some(0.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            &format!(r#"hadome_cluster_primary{{cluster="trio",pg_instance="{new}"}}"#)
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"hadome_actions_total{action="promote",actor="daemon"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert!(
        sample(
            &after,
            r#"hadome_instance_last_answer_age_seconds{cluster="trio",pg_instance="db-1"}"#
        )
        .is_some_and(|age| age > 0.0),
        "db-1 has not answered since the hang: {after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"hadome_automation_budget_remaining{cluster="trio",target="trio",action="failover"}"#
        ),
        Some(0.0),
        "trio's one failover within the hour is spent: {after}"
    );
    assert!(
        after.lines().any(|line| line.starts_with(
            r#"hadome_findings_open{rule="stale-facts",severity="deny",subject="db-1"}"#
        )),
        "db-1's facts are stale: {after}"
    );
    let (passed, said) = promtool(&["check", "metrics"], &after);
    assert!(passed, "promtool check metrics:\n{said}\n{after}");

    let exit = api.daemon.stop().await;
    assert!(exit.success(), "the daemon exits 0 on SIGTERM: {exit:?}");
}

#[test]
fn the_example_alert_rules_pass_promtool_and_their_unit_tests() {
    let (passed, said) = promtool(&["check", "rules", "examples/alerts.yml"], "");
    assert!(passed, "promtool check rules examples/alerts.yml:\n{said}");
    assert!(said.contains("SUCCESS"), "{said}");
    let (passed, said) = promtool(&["test", "rules", "examples/alerts_test.yml"], "");
    assert!(
        passed,
        "promtool test rules examples/alerts_test.yml:\n{said}"
    );
}
