//! Escalations to people: a webhook that takes a Slack- or Discord-compatible JSON body.
//!
//! The body carries the message as `text` (Slack, Mattermost, Rocket.Chat) and as `content`
//! (Discord), plus the structured fields for anything else that reads JSON. One POST, bounded
//! by a timeout; the result is journaled by the caller. The URL is never logged (it holds a token).

use std::time::Duration;

use hadome_core::supervise::Escalation;
use serde_json::{json, Value};

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The JSON body for `escalation`.
pub(crate) fn body(escalation: &Escalation) -> Value {
    let text = format!(
        "hadome [{}] {} — {}: {}",
        escalation.rule, escalation.cluster, escalation.subject, escalation.message
    );
    json!({
        "text": text,
        "content": text.chars().take(2000).collect::<String>(),
        "hadome": {
            "version": 1,
            "cluster": escalation.cluster,
            "subject": escalation.subject,
            "rule": escalation.rule,
            "message": escalation.message,
        },
    })
}

/// POSTs `escalation` to `url`; `Err` says why it was not taken (never repeating the URL).
pub(crate) async fn send(url: &str, escalation: &Escalation) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
    let response = client
        .post(url)
        .json(&body(escalation))
        .send()
        .await
        .map_err(|error| format!("the webhook did not answer: {}", error.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered HTTP {status}"))
    }
}
