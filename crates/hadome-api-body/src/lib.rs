//! The request bodies of hadome's HTTP API (`POST /v1/ask`, `/v1/run`, `/v1/ack`): untrusted JSON
//! in, the request's words out, or a [`BodyError`] naming the field at fault.
//!
//! This is the pure half of the API's request handling, apart from the daemon (a binary, with
//! axum, the estate and the journal) so that it can be fuzzed (`hadome-fuzz`'s `api` target) and
//! read on its own. The daemon checks the words against its estate and answers a [`BodyError`]
//! as a 400 `{"error": {"field", "message", "hint"}}`; nothing here knows HTTP.
//!
//! Each field is checked on its own, in a fixed order, so that a refusal names one field and says
//! what it holds (`` `target` is a number, not a string ``):
//!
//! ```
//! let actions = ["rebuild", "restart"];
//! let request = hadome_api_body::action_request(
//!     br#"{"action": "rebuild", "target": "db-3", "from": "db-1"}"#,
//!     &actions,
//!     &[],
//! )
//! .unwrap();
//! assert_eq!((request.action.as_str(), request.target.as_str()), ("rebuild", "db-3"));
//!
//! let refused = hadome_api_body::action_request(br#"{"action": "rebuld"}"#, &actions, &[])
//!     .unwrap_err();
//! assert_eq!(refused.field, "action");
//! assert_eq!(refused.hint.as_deref(), Some("did you mean `rebuild`? the actions are rebuild, restart"));
//! ```

#![warn(missing_docs)]

use serde_json::{Map, Value};

/// A refused body: the field at fault (`body` when it is the whole body), what is wrong with it,
/// and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// The request's field at fault, or `body`.
    pub field: String,
    /// What is wrong, naming the field.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl BodyError {
    fn new(field: &str, message: impl Into<String>) -> BodyError {
        BodyError {
            field: field.to_owned(),
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> BodyError {
        self.hint = Some(hint.into());
        self
    }
}

/// The words of `POST /v1/ask` and `POST /v1/run`, as `hadome ask` and `hadome run` take them.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// The action's word, one of those the caller allowed.
    pub action: String,
    /// The instance, host, member or nginx it is on.
    pub target: String,
    /// `--from`.
    pub from: Option<String>,
    /// `--no-reboot`.
    pub no_reboot: bool,
    /// The body's other fields, each one the caller allowed (`extra`), for it to read.
    pub rest: Map<String, Value>,
}

/// The example a refusal of the whole body shows.
const ACTION_EXAMPLE: &str =
    r#"send a JSON object such as {"action": "rebuild", "target": "db-3", "from": "db-1"}"#;

/// Reads `{"action", "target", "from", "no_reboot"}`, leaving the `extra` fields in
/// [`ActionRequest::rest`]: malformed JSON, a missing or mistyped field, an unknown field or an
/// action not in `actions` is refused, naming it.
pub fn action_request(
    body: &[u8],
    actions: &[&str],
    extra: &[&str],
) -> Result<ActionRequest, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        BodyError::new("body", format!("the body is not JSON: {error}")).hint(ACTION_EXAMPLE)
    })?;
    let Value::Object(mut map) = value else {
        return Err(BodyError::new("body", "the body is not a JSON object").hint(ACTION_EXAMPLE));
    };
    let known = ["action", "target", "from", "no_reboot"];
    if let Some(unknown) = map
        .keys()
        .find(|key| !known.contains(&key.as_str()) && !extra.contains(&key.as_str()))
    {
        let mut all: Vec<&str> = known.to_vec();
        all.extend_from_slice(extra);
        let hint = match hadome_core::suggest::closest(unknown, &all) {
            Some(close) => format!("did you mean `{close}`? the fields are {}", all.join(", ")),
            None => format!("the fields are {}", all.join(", ")),
        };
        return Err(BodyError::new(unknown, format!("unknown field `{unknown}`")).hint(hint));
    }
    let Some(action) = string(&mut map, "action")? else {
        return Err(BodyError::new("action", "`action` is missing")
            .hint(format!("one of {}", actions.join(", "))));
    };
    if !actions.contains(&action.as_str()) {
        let hint = match hadome_core::suggest::closest(&action, actions) {
            Some(close) => format!(
                "did you mean `{close}`? the actions are {}",
                actions.join(", ")
            ),
            None => format!("the actions are {}", actions.join(", ")),
        };
        return Err(BodyError::new("action", format!("unknown action `{action}`")).hint(hint));
    }
    let Some(target) = string(&mut map, "target")? else {
        return Err(BodyError::new("target", "`target` is missing")
            .hint("the instance, host, member or nginx the action is on, as the estate names it"));
    };
    let from = string(&mut map, "from")?;
    let no_reboot = boolean(&mut map, "no_reboot")?;
    Ok(ActionRequest {
        action,
        target,
        from,
        no_reboot,
        rest: map,
    })
}

/// What `POST /v1/run` takes beyond the action's words: `hadome run`'s flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--override RULE`, in order.
    pub overrides: Vec<String>,
    /// `--reason`.
    pub reason: Option<String>,
}

/// Reads `run`'s `dry_run`, `override` and `reason` from the fields [`action_request`] left
/// (taking them out of `rest`).
pub fn run_options(rest: &mut Map<String, Value>) -> Result<RunOptions, BodyError> {
    let dry_run = boolean(rest, "dry_run")?;
    let mut overrides = Vec::new();
    match rest.remove("override") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rules)) => {
            for rule in rules {
                let Value::String(rule) = rule else {
                    return Err(BodyError::new(
                        "override",
                        "`override` holds something other than rule ids",
                    )
                    .hint(r#"a list of rule ids, such as ["overwrite-older"], with a `reason`"#));
                };
                overrides.push(rule);
            }
        }
        Some(other) => {
            return Err(BodyError::new(
                "override",
                format!("`override` is {}, not a list of rule ids", kind_of(&other)),
            ))
        }
    }
    let reason = string(rest, "reason")?;
    Ok(RunOptions {
        dry_run,
        overrides,
        reason,
    })
}

/// The body of `POST /v1/ack`, as `hadome ack TARGET --note NOTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    /// The paused instance or cluster.
    pub target: String,
    /// The note; empty when none was given.
    pub note: String,
}

/// Reads `{"target", "note"}`.
pub fn ack_request(body: &[u8]) -> Result<AckRequest, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        BodyError::new("body", format!("the body is not JSON: {error}"))
            .hint(r#"send a JSON object such as {"target": "main", "note": "disk replaced"}"#)
    })?;
    let Value::Object(mut map) = value else {
        return Err(BodyError::new("body", "the body is not a JSON object"));
    };
    if let Some(unknown) = map
        .keys()
        .find(|key| !["target", "note"].contains(&key.as_str()))
    {
        return Err(
            BodyError::new(unknown, format!("unknown field `{unknown}`"))
                .hint("the fields are `target` and `note`"),
        );
    }
    let Some(target) = string(&mut map, "target")? else {
        return Err(BodyError::new("target", "`target` is missing")
            .hint("the paused instance or cluster, as the estate names it"));
    };
    let note = string(&mut map, "note")?.unwrap_or_default();
    Ok(AckRequest { target, note })
}

/// A JSON value's kind, with its article, for messages: `a number`, `an array`.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Takes `field` out of `map`: a string, or absent (`null` counts as absent).
fn string(map: &mut Map<String, Value>, field: &str) -> Result<Option<String>, BodyError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(BodyError::new(
            field,
            format!("`{field}` is {}, not a string", kind_of(&other)),
        )),
    }
}

/// Takes `field` out of `map`: `true` or `false`; absent or `null` is `false`.
fn boolean(map: &mut Map<String, Value>, field: &str) -> Result<bool, BodyError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(value),
        Some(other) => Err(BodyError::new(
            field,
            format!("`{field}` is {}, not true or false", kind_of(&other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: [&str; 3] = ["rebuild", "restart", "image"];

    fn refusal(body: &str, extra: &[&str]) -> (String, String) {
        let error = action_request(body.as_bytes(), &ACTIONS, extra).unwrap_err();
        (error.field, error.message)
    }

    #[test]
    fn each_refusal_names_its_field() {
        assert_eq!(refusal("{", &[]).0, "body");
        assert_eq!(refusal("[]", &[]).0, "body");
        assert_eq!(
            refusal(r#"{"action": "restart", "targte": "db-1"}"#, &[]),
            ("targte".to_owned(), "unknown field `targte`".to_owned())
        );
        assert_eq!(refusal(r#"{"target": "db-1"}"#, &[]).0, "action");
        assert_eq!(
            refusal(r#"{"action": "restart", "target": 3}"#, &[]),
            (
                "target".to_owned(),
                "`target` is a number, not a string".to_owned()
            )
        );
        assert_eq!(
            refusal(
                r#"{"action": "image", "target": "h", "no_reboot": "yes"}"#,
                &[]
            ),
            (
                "no_reboot".to_owned(),
                "`no_reboot` is a string, not true or false".to_owned()
            )
        );
    }

    #[test]
    fn run_options_are_read_from_the_rest() {
        let mut request = action_request(
            br#"{"action": "restart", "target": "db-1", "dry_run": true, "override": ["budget"], "reason": "r"}"#,
            &ACTIONS,
            &["dry_run", "override", "reason"],
        )
        .unwrap();
        assert_eq!(
            run_options(&mut request.rest),
            Ok(RunOptions {
                dry_run: true,
                overrides: vec!["budget".to_owned()],
                reason: Some("r".to_owned()),
            })
        );
        let mut rest = Map::new();
        rest.insert("override".to_owned(), serde_json::json!([1]));
        assert_eq!(run_options(&mut rest).unwrap_err().field, "override");
    }

    #[test]
    fn ack_reads_target_and_note() {
        assert_eq!(
            ack_request(br#"{"target": "main"}"#),
            Ok(AckRequest {
                target: "main".to_owned(),
                note: String::new()
            })
        );
        assert_eq!(
            ack_request(br#"{"note": "x"}"#).unwrap_err().field,
            "target"
        );
        assert_eq!(ack_request(br#"{"by": "x"}"#).unwrap_err().field, "by");
    }
}
