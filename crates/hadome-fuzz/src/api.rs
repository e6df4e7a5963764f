//! The HTTP API's request bodies (`hadome_api_body`): `POST /v1/ask` and `/v1/run`'s action
//! request with `run`'s options, and `POST /v1/ack`'s.

use hadome_api_body::{ack_request, action_request, run_options, BodyError};
use serde_json::Value;

/// The largest body the API reads (`BODY_LIMIT_BYTES` in the daemon): axum refuses a larger one
/// before it is parsed.
const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// `hadome ask`'s and `hadome run`'s action words, as the daemon passes them (`ActionName`).
const ACTIONS: &[&str] = &[
    "promote",
    "rebuild",
    "restart",
    "stop",
    "delete-data",
    "restore-backup",
    "reboot",
    "image",
    "delete-host",
    "replace-member",
    "remove-member",
    "reload",
];

/// `run`'s fields beyond the action's words.
const RUN_FIELDS: &[&str] = &["dry_run", "override", "reason"];

/// Feeds `data` (at most 64 KiB, as the daemon does) to the three body readers.
///
/// Invariants: no panic; a refusal names a field — `body`, or a top-level key the body has or one
/// the request is missing — and says what is wrong with it in a message that names it; an
/// accepted request's action is an allowed word, and writing its words back as JSON reads the
/// same request.
pub fn api(data: &[u8]) {
    if data.len() > BODY_LIMIT_BYTES {
        return;
    }
    let keys = top_level_keys(data);
    match action_request(data, ACTIONS, RUN_FIELDS) {
        Ok(mut request) => {
            assert!(ACTIONS.contains(&request.action.as_str()));
            let again = serde_json::json!({
                "action": request.action,
                "target": request.target,
                "from": request.from,
                "no_reboot": request.no_reboot,
            });
            let text = again.to_string();
            let reread = action_request(text.as_bytes(), ACTIONS, &[])
                .unwrap_or_else(|error| panic!("an accepted request read back: {error:?}"));
            assert_eq!(
                (
                    &reread.action,
                    &reread.target,
                    &reread.from,
                    reread.no_reboot
                ),
                (
                    &request.action,
                    &request.target,
                    &request.from,
                    request.no_reboot
                )
            );
            if let Err(error) = run_options(&mut request.rest) {
                check_refusal(&error, keys.as_deref());
                assert!(RUN_FIELDS.contains(&error.field.as_str()), "{error:?}");
            }
        }
        Err(error) => check_refusal(&error, keys.as_deref()),
    }
    match ack_request(data) {
        Ok(_) => assert!(
            keys.is_some_and(|keys| keys.iter().any(|key| key == "target")),
            "an accepted acknowledgement has a target"
        ),
        Err(error) => check_refusal(&error, keys.as_deref()),
    }
}

/// What every refusal must say: a field, and a message that names it.
fn check_refusal(error: &BodyError, keys: Option<&[String]>) {
    assert!(!error.message.is_empty(), "{error:?}");
    // `body` names the whole body (not a JSON object), or a field of that name (an unknown
    // one): a client tells the two apart by the message only.
    if error.field == "body" && keys.is_none_or(|keys| keys.iter().any(|key| key == "body")) {
        return;
    }
    let Some(keys) = keys else {
        panic!("a body that is not a JSON object is refused naming a field: {error:?}");
    };
    let missing = error.message.ends_with("is missing");
    assert!(
        missing || keys.contains(&error.field),
        "the field `{}` is not in the body: {error:?}",
        error.field
    );
    assert!(
        error.message.contains(&error.field),
        "the message names the field: {error:?}"
    );
}

/// The keys of `data` when it is a JSON object; `None` when it is not.
fn top_level_keys(data: &[u8]) -> Option<Vec<String>> {
    match serde_json::from_slice(data) {
        Ok(Value::Object(map)) => Some(map.keys().cloned().collect()),
        _ => None,
    }
}
