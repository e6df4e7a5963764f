//! `hadome ask --api URL`: the CLI as a thin client of a running daemon's `POST /v1/ask`. The
//! daemon answers from its latest facts (or probes, and says so); this process probes nothing
//! and opens no journal. The answer is printed as the daemon gives it — the same document as
//! `hadome ask --json`, with `facts` saying where its facts came from — and the exit code is the
//! verdict's, as `hadome ask`'s.

use std::time::Duration;

use hadome_core::finding::Verdict;
use serde_json::{json, Value};

use crate::assessment::{action_word, ActionWords};
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};

/// How long the daemon may take to answer: a fresh pass is bounded by the probe timeout, so this
/// is generous.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// `hadome ask … --api URL`.
pub(crate) async fn ask_api(words: ActionWords, api: &str, as_json: bool) -> Result<u8, CliError> {
    let base = api.trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return Err(CliError::Usage {
            message: format!("`--api {api}` is not an http:// or https:// URL"),
            hint: Some(
                "give the daemon's `[api] listen` address, such as `--api http://127.0.0.1:8421`"
                    .to_owned(),
            ),
        });
    }
    let url = format!("{base}/v1/ask");
    let body = json!({
        "action": action_word(words.action),
        "target": words.target,
        "from": words.from,
        "no_reboot": words.no_reboot,
    });
    let client = reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|error| CliError::Internal {
            message: format!("could not make an HTTP client: {error}"),
            hint: None,
        })?;
    let accept = if as_json {
        "application/json"
    } else {
        "text/plain"
    };
    let response = client
        .post(&url)
        .header(reqwest::header::ACCEPT, accept)
        .json(&body)
        .send()
        .await
        .map_err(|error| CliError::CannotProceed {
            message: format!("could not ask the daemon at {url}: {error}"),
            hint: Some(
                "is `hadome daemon` running with `[api]` in its estate file, and is this its `listen` address? (`systemctl status hadome`; without --api, `hadome ask` probes by itself with --config)"
                    .to_owned(),
            ),
        })?;
    let status = response.status();
    let header_verdict = response
        .headers()
        .get("hadome-verdict")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response
        .text()
        .await
        .map_err(|error| CliError::CannotProceed {
            message: format!("the daemon at {url} broke off its answer: {error}"),
            hint: None,
        })?;
    if !status.is_success() {
        return Err(refusal(status, &url, &text));
    }
    let verdict = if as_json {
        let document: Value = serde_json::from_str(&text).map_err(|error| CliError::Internal {
            message: format!("the daemon at {url} answered what is not JSON: {error}"),
            hint: None,
        })?;
        print_json(&document);
        document["verdict"].as_str().map(str::to_owned)
    } else {
        print_text(&text);
        header_verdict
    };
    let verdict = verdict.as_deref().and_then(|word| {
        [
            Verdict::Allow,
            Verdict::AllowAfter,
            Verdict::NeedsHuman,
            Verdict::Deny,
        ]
        .into_iter()
        .find(|verdict| verdict.as_str() == word)
    });
    Ok(match verdict {
        Some(Verdict::Allow | Verdict::AllowAfter) => exit_code::OK,
        Some(Verdict::Deny) => exit_code::FAILURE,
        Some(Verdict::NeedsHuman) => exit_code::NEEDS_HUMAN,
        None => {
            return Err(CliError::Internal {
                message: format!("the daemon at {url} answered without a verdict"),
                hint: None,
            })
        }
    })
}

/// The daemon's refusal (`{"error": {"field", "message", "hint"}}`) as the CLI's error: the
/// request's fault is a usage error, the daemon's a failure to proceed.
fn refusal(status: reqwest::StatusCode, url: &str, text: &str) -> CliError {
    let document: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let error = &document["error"];
    let message = match (error["field"].as_str(), error["message"].as_str()) {
        (Some(field), Some(message)) => format!("{message} (field `{field}`)"),
        (None, Some(message)) => message.to_owned(),
        _ => format!("the daemon at {url} answered {status}: {}", text.trim()),
    };
    let hint = error["hint"].as_str().map(str::to_owned);
    if status.is_client_error() {
        CliError::Usage { message, hint }
    } else {
        CliError::CannotProceed { message, hint }
    }
}
