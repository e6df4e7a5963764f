//! What reads the estate: `GET /v1/status`, `GET /v1/check`, `POST /v1/ask`, `GET /v1/events`.
//! Each answers with the CLI's own JSON document (`views`, `assessment_json`), plus `facts`: where
//! its facts came from and how old they are (`facts.rs`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use clap::ValueEnum;
use hadome_core::interlock;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::facts::{Basis, Needs};
use super::Shared;
use crate::assessment::{action_from, assessment_json, render_assessment, ActionWords};
use crate::backup_facts::{reading_for, BackupReading};
use crate::cli::ActionName;
use crate::error::CliError;
use crate::output::Paint;

/// The most events one page of `GET /v1/events` holds.
const MAX_EVENTS_PAGE: u32 = 1000;

/// `document` with `facts` added.
fn with_facts(mut document: Value, basis: &Basis) -> Value {
    if let Value::Object(map) = &mut document {
        map.insert("facts".to_owned(), basis.source.clone());
    }
    document
}

/// `GET /v1/status`: `hadome status --json`'s document.
pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let basis = shared
        .basis(Needs {
            reading: BackupReading::ListOnly,
            test_nginx: false,
        })
        .await?;
    let snapshot = Arc::clone(&basis.snapshot);
    let document = shared
        .with_journal(move |journal| Ok(crate::views::status(&snapshot.seen(journal))?.json))
        .await?;
    Ok(Json(with_facts(document, &basis)))
}

/// `GET /v1/check`: `hadome check --json`'s document.
pub(super) async fn check(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let basis = shared
        .basis(Needs {
            reading: BackupReading::VerifyNewest,
            test_nginx: false,
        })
        .await?;
    let snapshot = &basis.snapshot;
    let findings = interlock::check(
        &snapshot.estate,
        &snapshot.facts,
        &snapshot.history,
        snapshot.now,
    );
    let document = crate::views::check_json(&snapshot.estate, &findings);
    Ok(Json(with_facts(document, &basis)))
}

/// The fields `POST /v1/ask` and `POST /v1/run` read, checked one by one so that each refusal
/// names its field.
pub(super) struct ActionBody {
    pub(super) words: ActionWords,
    /// The rest of the body's fields, for the caller to read (`run`'s `dry_run`, `override`,
    /// `reason`); each is checked there.
    pub(super) rest: Map<String, Value>,
}

/// Reads `{"action", "target", "from", "no_reboot"}` (and leaves `extra` fields for the caller):
/// malformed JSON, a missing or mistyped field, an unknown field or action is a 400 naming it
/// (`hadome_api_body::action_request`, the words being `ActionName`'s).
pub(super) fn action_body(body: &[u8], extra: &[&str]) -> Result<ActionBody, ApiError> {
    let names: Vec<String> = ActionName::value_variants()
        .iter()
        .filter_map(|name| name.to_possible_value())
        .map(|value| value.get_name().to_owned())
        .collect();
    let words: Vec<&str> = names.iter().map(String::as_str).collect();
    let request = hadome_api_body::action_request(body, &words, extra)?;
    let action = ActionName::from_str(&request.action, false).map_err(|_| CliError::Internal {
        message: format!(
            "the action `{}` was accepted as one of clap's words but clap does not read it back; \
             this is a bug in hadome, please report it",
            request.action
        ),
        hint: None,
    })?;
    Ok(ActionBody {
        words: ActionWords {
            action,
            target: request.target,
            from: request.from,
            no_reboot: request.no_reboot,
        },
        rest: request.rest,
    })
}

/// The typed action of `words`, every name it uses known to `estate`; else a 400 (the words do
/// not make an action) or a 422 (a name the estate lacks), naming the field.
pub(super) fn action_of(
    words: ActionWords,
    estate: &hadome_core::estate::Estate,
) -> Result<hadome_core::action::Action, ApiError> {
    let (target, from) = (words.target.clone(), words.from.clone());
    let action = action_from(words).map_err(|error| {
        let field = match error.to_string() {
            text if text.contains("--no-reboot") => "no_reboot",
            text if text.contains("--from") => "from",
            _ => "target",
        };
        let mut refused = ApiError::from(error);
        refused.field = Some(field.to_owned());
        refused
    })?;
    if let Some(unknown) = action.unknown_names(estate).into_iter().next() {
        let field = if unknown.name == target || from.as_deref() != Some(unknown.name.as_str()) {
            "target"
        } else {
            "from"
        };
        return Err(ApiError::field(field, unknown.message())
            .hint(unknown.hint())
            .status(StatusCode::UNPROCESSABLE_ENTITY));
    }
    Ok(action)
}

/// `POST /v1/ask`: `hadome ask --json`'s document (or, with `Accept: text/plain`, its text, and
/// the verdict in the `Hadome-Verdict` header), the verdict journaled as `ask` journals it.
pub(super) async fn ask(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let ActionBody { words, .. } = action_body(&body, &[])?;
    // The names are checked against the daemon's estate before anything is probed.
    let estate = match shared.latest() {
        Some(snapshot) => snapshot.estate.clone(),
        None => hadome_config::load(&shared.config).map_err(CliError::from)?,
    };
    let action = action_of(words, &estate)?;
    let basis = shared
        .basis(Needs {
            reading: reading_for(&action),
            test_nginx: matches!(action, hadome_core::action::Action::Reload { .. }),
        })
        .await?;
    let snapshot = &basis.snapshot;
    let assessment = interlock::assess(
        &snapshot.estate,
        &snapshot.facts,
        &snapshot.history,
        &action,
        snapshot.now,
    );
    let (now, recorded) = (snapshot.now, assessment.clone());
    shared
        .with_journal(move |journal| {
            journal
                .record_verdict(now, &recorded.action, recorded.verdict, &recorded.findings)
                .map_err(CliError::from)
        })
        .await?;
    let wants_text = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/plain"));
    if wants_text {
        let text = render_assessment(&assessment, &shared.config, Paint::plain());
        let mut response = text.into_response();
        if let Ok(verdict) = HeaderValue::from_str(assessment.verdict.as_str()) {
            response.headers_mut().insert("hadome-verdict", verdict);
        }
        return Ok(response);
    }
    let document = assessment_json(&assessment, &shared.config);
    Ok(Json(with_facts(document, &basis)).into_response())
}

/// `GET /v1/events?after=ID&limit=N`: the journal's events appended after event `ID` (0, the
/// default: from the first), at most `N` (default 100, at most 1000), oldest first; `next` is the
/// `after` of the following page (`null` at the end).
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|key| !["after", "limit"].contains(&key.as_str()))
    {
        return Err(
            ApiError::field(unknown, format!("unknown parameter `{unknown}`"))
                .hint("the parameters are `after` (an event id) and `limit` (1 to 1000)"),
        );
    }
    let after = match query.get("after") {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                ApiError::field("after", format!("`after` is `{text}`, not an event id"))
                    .hint("give the `next` of the previous page, or 0 for the first")
            })?,
    };
    let limit = match query.get("limit") {
        None => 100,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_EVENTS_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("`limit` is `{text}`, not a number from 1 to {MAX_EVENTS_PAGE}"),
                )
            })?,
    };
    let events = shared
        .with_journal(move |journal| journal.events_after(after, limit).map_err(CliError::from))
        .await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|event| event.id))
        .flatten();
    Ok(Json(json!({
        "version": 1,
        "events": events.iter().map(|event| json!({
            "id": event.id,
            "at_ms": event.at.0,
            "kind": event.kind,
            "subject": event.subject,
            "body": event.body,
        })).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// `GET /v1/timeline?since_ms=T&until_ms=T&format=json|md`: `hadome timeline`'s incident
/// timeline of the journal (times in milliseconds since the epoch; default: all of it), as JSON
/// or as markdown to paste into a postmortem.
pub(super) async fn timeline(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|key| !["since_ms", "until_ms", "format"].contains(&key.as_str()))
    {
        return Err(
            ApiError::field(unknown, format!("unknown parameter `{unknown}`"))
                .hint("the parameters are `since_ms`, `until_ms` (ms since the epoch) and `format` (json or md)"),
        );
    }
    let time = |name: &str| -> Result<Option<hadome_core::fact::Timestamp>, ApiError> {
        query
            .get(name)
            .map(|text| {
                text.parse::<i64>()
                    .map(hadome_core::fact::Timestamp)
                    .map_err(|_| {
                        ApiError::field(
                            name,
                            format!("`{name}` is `{text}`, not milliseconds since the epoch"),
                        )
                    })
            })
            .transpose()
    };
    let (since, until) = (time("since_ms")?, time("until_ms")?);
    let markdown = match query.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("md") => true,
        Some(other) => {
            return Err(ApiError::field(
                "format",
                format!("`format` is `{other}`, not `json` or `md`"),
            ))
        }
    };
    let timeline = shared
        .with_journal(move |journal| crate::timeline::timeline(journal, since, until))
        .await?;
    Ok(if markdown {
        timeline.to_markdown().into_response()
    } else {
        Json(timeline.to_json()).into_response()
    })
}
