//! The daemon's HTTP API (issue 16) on a lab estate, through the real binary: status, check and
//! ask answer with the CLI's own documents; what changes the estate needs a token whose role
//! allows it, and each refusal is journaled; every bad request gets a 4xx naming its field.

use std::path::Path;
use std::time::Duration;

use hadome_journal::{Journal, KIND_API_REFUSED};
use serde_json::{json, Value};

use crate::api_support::{ApiDaemon, TestToken};
use crate::support::{eventually, hadome_json, lab, run_hadome, show};

const OPERATOR: &str = "operator-secret-0123456789";
const ACKER: &str = "acker-secret-0123456789ab";
const VIEWER: &str = "viewer-secret-0123456789a";

/// `document` without what moves between two passes (positions, ages, lease times) and without
/// the API's own `facts` (where its facts came from): the content two passes agree on.
fn content(document: &Value) -> Value {
    match document {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| {
                    ![
                        "facts",
                        "lsn",
                        "lag_bytes",
                        "lag_seconds",
                        "last_seen_seconds_ago",
                        "renewed_at_ms",
                        "expires_at_ms",
                        "acquired_at_ms",
                    ]
                    .contains(&key.as_str())
                })
                .map(|(key, value)| (key.clone(), content(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(content).collect()),
        other => other.clone(),
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON from the API"))
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON from the API"))
}

fn refusals(dir: &Path) -> Vec<Value> {
    let journal = Journal::open(&dir.join("hadome.sqlite")).expect("the journal");
    journal
        .events_after(0, 100_000)
        .expect("the journal's events")
        .into_iter()
        .filter(|event| event.kind == KIND_API_REFUSED)
        .map(|event| event.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_the_cli_refuses_without_a_token_and_names_each_bad_field() {
    let lab = lab("trio").await;
    let tokens = [
        TestToken {
            name: "chatops",
            role: "operator",
            secret: OPERATOR,
        },
        TestToken {
            name: "pager",
            role: "acker",
            secret: ACKER,
        },
        TestToken {
            name: "reader",
            role: "viewer",
            secret: VIEWER,
        },
    ];
    let api = ApiDaemon::start(&lab, "api", &tokens).await;
    api.daemon
        .wait_for_log(
            "the daemon to find `trio` healthy",
            "cluster `trio`: healthy",
            1,
        )
        .await;
    let client = reqwest::Client::new();
    let config = lab.dir().join("estate.toml");

    // Reads: the CLI's documents, content for content.
    let (code, cli_status) = hadome_json(&config, &["status"]);
    assert_eq!(code, 0);
    let (status, api_status) = get(&client, &api.url("/v1/status")).await;
    assert_eq!(status, 200, "{api_status:#}");
    assert_eq!(content(&api_status), content(&cli_status));
    assert!(api_status["facts"]["source"].is_string(), "{api_status:#}");

    let (_, cli_check) = hadome_json(&config, &["check"]);
    let (status, api_check) = get(&client, &api.url("/v1/check")).await;
    assert_eq!(status, 200);
    assert_eq!(content(&api_check), content(&cli_check));

    for words in [
        json!({"action": "rebuild", "target": "db-3", "from": "db-1"}),
        json!({"action": "restart", "target": "db-3"}),
        json!({"action": "promote", "target": "db-1"}),
    ] {
        let mut args = vec![
            "ask",
            words["action"].as_str().unwrap(),
            words["target"].as_str().unwrap(),
        ];
        if let Some(from) = words["from"].as_str() {
            args.extend(["--from", from]);
        }
        let (_, cli_ask) = hadome_json(&config, &args);
        // The daemon's facts are at most one probe interval old: ask until it answers from them.
        let api_ask = eventually(
            "an answer from the daemon's facts",
            Duration::from_secs(30),
            || {
                let (client, url, words) = (client.clone(), api.url("/v1/ask"), words.to_string());
                async move {
                    let (status, answer) = post(&client, &url, None, &words).await;
                    assert_eq!(status, 200, "{answer:#}");
                    (answer["facts"]["source"] == "daemon").then_some(answer)
                }
            },
        )
        .await;
        assert!(
            api_ask["facts"]["age_seconds"].as_f64().unwrap() <= 0.5,
            "{api_ask:#}"
        );
        assert_eq!(content(&api_ask), content(&cli_ask), "{words}");

        // The thin client prints the daemon's document and exits with the verdict's code.
        args.extend(["--api", &api.base, "--json"]);
        let output = run_hadome(&args, &[]);
        let thin: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", show(&output)));
        assert_eq!(content(&thin), content(&cli_ask), "{}", show(&output));
        let expected = match cli_ask["verdict"].as_str().unwrap() {
            "allow" | "allow-after" => 0,
            "deny" => 1,
            _ => 3,
        };
        assert_eq!(output.status.code(), Some(expected), "{}", show(&output));
    }

    // Changing the estate: no token, an unknown one, a role that does not allow it.
    let run = api.url("/v1/run");
    let dry = r#"{"action": "rebuild", "target": "db-3", "from": "db-1", "dry_run": true}"#;
    let (status, refused) = post(&client, &run, None, dry).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (401, Some("authorization"))
    );
    let (status, _) = post(&client, &run, Some("not-a-token-at-all-0000"), dry).await;
    assert_eq!(status, 401);
    let (status, refused) = post(&client, &run, Some(VIEWER), dry).await;
    assert_eq!(status, 403, "{refused:#}");
    let (status, _) = post(
        &client,
        &api.url("/v1/ack"),
        Some(VIEWER),
        r#"{"target": "trio"}"#,
    )
    .await;
    assert_eq!(status, 403);
    let journaled = refusals(lab.dir());
    assert_eq!(
        journaled.len(),
        4,
        "every refusal journaled: {journaled:#?}"
    );
    assert_eq!(journaled[2]["token"], "reader");
    assert_eq!(journaled[2]["status"], 403);
    assert!(
        journaled
            .iter()
            .all(|refusal| !refusal.to_string().contains(VIEWER)),
        "never the secret"
    );

    // Allowed: the operator's dry run is `hadome run --dry-run`'s document; the acker's ack is
    // journaled by its token's name.
    let (status, dry_run) = post(&client, &run, Some(OPERATOR), dry).await;
    assert_eq!(
        (status, dry_run["exit"].as_u64()),
        (200, Some(0)),
        "{dry_run:#}"
    );
    assert_eq!(
        dry_run["assessment"]["verdict"], "allow-after",
        "{dry_run:#}"
    );
    let (status, acked) = post(
        &client,
        &api.url("/v1/ack"),
        Some(ACKER),
        r#"{"target": "trio", "note": "paged"}"#,
    )
    .await;
    assert_eq!(
        (status, acked["by"].as_str()),
        (200, Some("api:pager")),
        "{acked:#}"
    );
    let (status, _) = post(&client, &run, Some(ACKER), dry).await;
    assert_eq!(status, 403, "an acker may not run");

    // Bad requests: a 4xx naming the field, never a panic or a hang.
    let ask = api.url("/v1/ask");
    for (body, expected, field) in [
        ("{not json", 400, "body"),
        ("[1, 2]", 400, "body"),
        (r#"{"action": "rebuld", "target": "db-3"}"#, 400, "action"),
        (r#"{"target": "db-3"}"#, 400, "action"),
        (r#"{"action": "restart"}"#, 400, "target"),
        (r#"{"action": "restart", "target": 3}"#, 400, "target"),
        (r#"{"action": "restart", "target": "db-9"}"#, 422, "target"),
        (
            r#"{"action": "rebuild", "target": "db-3", "from": "db-7"}"#,
            422,
            "from",
        ),
        (r#"{"action": "rebuild", "target": "db-3"}"#, 400, "from"),
        (
            r#"{"action": "restart", "target": "db-3", "targte": "x"}"#,
            400,
            "targte",
        ),
    ] {
        let (status, refused) = post(&client, &ask, None, body).await;
        assert_eq!(
            (status, refused["error"]["field"].as_str()),
            (expected, Some(field)),
            "{body}: {refused:#}"
        );
        assert!(refused["error"]["message"].is_string());
    }
    let (status, refused) = get(&client, &api.url("/v1/events?limit=0")).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let (status, page) = get(&client, &api.url("/v1/events?limit=2")).await;
    assert_eq!(status, 200);
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let next = page["next"].as_i64().expect("a next page");
    let (_, second) = get(
        &client,
        &api.url(&format!("/v1/events?after={next}&limit=2")),
    )
    .await;
    assert!(second["events"][0]["id"].as_i64().unwrap() > next);
    // The timeline tells what the API did: the refusals, the ack.
    let (status, timeline) = get(&client, &api.url("/v1/timeline")).await;
    assert_eq!(status, 200, "{timeline:#}");
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&KIND_API_REFUSED) && kinds.contains(&"ack"),
        "{kinds:?}"
    );
    let (status, refused) = get(&client, &api.url("/v1/timeline?format=pdf")).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("format"))
    );
    let (status, _) = get(&client, &api.url("/v1/nothing")).await;
    assert_eq!(status, 404);
    let huge = format!(
        r#"{{"action": "restart", "target": "{}"}}"#,
        "x".repeat(100_000)
    );
    let response = client
        .post(&ask)
        .body(huge)
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status().as_u16(),
        413,
        "an oversized body is refused"
    );
}
