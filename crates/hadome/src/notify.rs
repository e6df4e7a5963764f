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

/// Why the webhook did not take an escalation; the text never repeats the URL, which may hold a
/// token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotifyError {
    /// No HTTP client could be built (TLS set-up).
    #[error("cannot build an HTTP client: {0}")]
    Client(reqwest::Error),
    /// The request failed or timed out.
    #[error("the webhook did not answer: {0}")]
    NoAnswer(reqwest::Error),
    /// It answered, but not with a success.
    #[error("the webhook answered HTTP {0}")]
    Status(reqwest::StatusCode),
}

/// POSTs `escalation` to `url`; `Err` says why it was not taken.
pub(crate) async fn send(url: &str, escalation: &Escalation) -> Result<(), NotifyError> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(NotifyError::Client)?;
    let response = client
        .post(url)
        .json(&body(escalation))
        .send()
        .await
        .map_err(|error| NotifyError::NoAnswer(error.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(NotifyError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_speaks_slack_discord_and_json() {
        let escalation = Escalation {
            cluster: "trio".to_owned(),
            subject: "db-1".to_owned(),
            rule: "promote-eligibility",
            message: "no standby may be promoted: `db-2` is 40 MiB behind".to_owned(),
        };
        let body = body(&escalation);
        let text = "hadome [promote-eligibility] trio — db-1: no standby may be promoted: `db-2` is 40 MiB behind";
        assert_eq!(body["text"], text);
        assert_eq!(body["content"], text);
        assert_eq!(body["hadome"]["rule"], "promote-eligibility");
        assert_eq!(body["hadome"]["subject"], "db-1");
    }

    #[test]
    fn discord_content_is_cut_at_its_limit() {
        let escalation = Escalation {
            cluster: "c".to_owned(),
            subject: "s".to_owned(),
            rule: "budget",
            message: "x".repeat(5000),
        };
        let body = body(&escalation);
        assert_eq!(body["content"].as_str().unwrap().chars().count(), 2000);
        assert!(body["text"].as_str().unwrap().len() > 5000);
    }
}
