//! What changes the estate: `POST /v1/run` and `POST /v1/ack`. Each needs a bearer token whose
//! role allows its verb (`auth.rs`), then runs exactly what a person would — `hadome run` or
//! `hadome ack` on the daemon's estate file, as a child process — with the token's name as the
//! journal's actor (`api:NAME`): the same assessment, overrides, hold on the cluster, journaled
//! intent, steps and outcome. The answer is the command's own `--json` document with its `exit`
//! code, and an HTTP status that says how it ended.
//!
//! Every word reaches the child as one argument after its flag (`--from=…`) or after `--`, so a
//! value that starts with `-` cannot become an option.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::error::ApiError;
use super::read::{action_body, action_of};
use super::{auth, Shared};
use crate::assessment::action_word;
use crate::error::CliError;
use crate::exit_code;

/// `POST /v1/run`: `{"action", "target", "from", "no_reboot", "dry_run", "override": [RULE…],
/// "reason"}`, as `hadome run`'s words and flags.
pub(super) async fn run(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let token = auth::authorize(&shared, &headers, peer, "/v1/run", "run").await?;
    let mut parsed = action_body(&body, &["dry_run", "override", "reason"])?;
    let estate = current_estate(&shared)?;
    let words = parsed.words.clone();
    action_of(parsed.words, &estate)?;
    let mut arguments = vec![
        "run".to_owned(),
        "--json".to_owned(),
        format!("--config={}", shared.config.display()),
    ];
    if let Some(from) = &words.from {
        arguments.push(format!("--from={from}"));
    }
    if words.no_reboot {
        arguments.push("--no-reboot".to_owned());
    }
    let options = hadome_api_body::run_options(&mut parsed.rest)?;
    if options.dry_run {
        arguments.push("--dry-run".to_owned());
    }
    for rule in options.overrides {
        arguments.push(format!("--override={rule}"));
    }
    if let Some(reason) = options.reason {
        arguments.push(format!("--reason={reason}"));
    }
    arguments.push("--".to_owned());
    arguments.push(action_word(words.action).to_owned());
    arguments.push(words.target);
    run_hadome(&token, arguments).await
}

/// `POST /v1/ack`: `{"target", "note"}`, as `hadome ack TARGET --note NOTE`, by the token's name.
pub(super) async fn ack(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let token = auth::authorize(&shared, &headers, peer, "/v1/ack", "ack").await?;
    let hadome_api_body::AckRequest { target, note } = hadome_api_body::ack_request(&body)?;
    let estate = current_estate(&shared)?;
    if estate.instance(&target).is_none() && !estate.clusters.iter().any(|c| c.name == target) {
        let mut known: Vec<String> = estate.instances.iter().map(|i| i.name.clone()).collect();
        known.extend(estate.clusters.iter().map(|c| c.name.clone()));
        return Err(ApiError::field(
            "target",
            format!("the estate has no instance or cluster `{target}`"),
        )
        .hint(format!("known: {}", known.join(", ")))
        .status(StatusCode::UNPROCESSABLE_ENTITY));
    }
    let arguments = vec![
        "ack".to_owned(),
        "--json".to_owned(),
        format!("--config={}", shared.config.display()),
        format!("--by=api:{token}"),
        format!("--note={note}"),
        "--".to_owned(),
        target,
    ];
    run_hadome(&token, arguments).await
}

fn current_estate(shared: &Shared) -> Result<hadome_core::estate::Estate, ApiError> {
    match shared.latest() {
        Some(snapshot) => Ok(snapshot.estate.clone()),
        None => Ok(hadome_config::load(&shared.config).map_err(CliError::from)?),
    }
}

/// Runs this binary with `arguments` as the token `token`, and answers with its JSON document
/// (stdout, or its error on stderr), its `exit` code added, and the HTTP status its exit code
/// means.
async fn run_hadome(token: &str, arguments: Vec<String>) -> Result<Response, ApiError> {
    let binary = std::env::current_exe().map_err(|error| CliError::Internal {
        message: format!("cannot find hadome's own binary to run: {error}"),
        hint: None,
    })?;
    tracing::info!(token, "API: hadome {}", arguments.join(" "));
    let output = tokio::process::Command::new(&binary)
        .args(&arguments)
        .env("HADOME_ACTOR", format!("api:{token}"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|error| CliError::Internal {
            message: format!("could not run {}: {error}", binary.display()),
            hint: None,
        })?;
    let code = output
        .status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(exit_code::INTERNAL);
    let text = if output.stdout.is_empty() {
        &output.stderr
    } else {
        &output.stdout
    };
    let mut document: Value = serde_json::from_slice(text).map_err(|error| CliError::Internal {
        message: format!(
            "`hadome {}` answered what is not JSON ({error}): {}",
            arguments.first().map_or("", String::as_str),
            String::from_utf8_lossy(text).trim()
        ),
        hint: None,
    })?;
    if let Value::Object(map) = &mut document {
        map.insert("exit".to_owned(), Value::from(code));
    }
    let status = match code {
        exit_code::OK => StatusCode::OK,
        exit_code::USAGE => StatusCode::BAD_REQUEST,
        exit_code::FAILURE | exit_code::NEEDS_HUMAN | exit_code::BUSY => StatusCode::CONFLICT,
        exit_code::CANNOT_PROCEED | exit_code::INTERRUPTED => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Ok((status, Json(document)).into_response())
}
