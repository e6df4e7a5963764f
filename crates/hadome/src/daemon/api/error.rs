//! Every refusal of the API as one JSON shape, `{"version": 1, "error": {"status", "field",
//! "message", "hint"}}`: the field named when one is at fault, so a bot's author sees what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::CliError;
use crate::exit_code;

/// A refused or failed request.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    /// The request's field at fault (`action`, `target`, `authorization` …), if one is.
    pub(super) field: Option<String>,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: None,
            message: message.into(),
            hint: None,
        }
    }

    /// A 400 about `field`.
    pub(super) fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub(super) fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub(super) fn status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }
}

impl From<hadome_api_body::BodyError> for ApiError {
    /// A refused request body: a 400 naming its field.
    fn from(error: hadome_api_body::BodyError) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: Some(error.field),
            message: error.message,
            hint: error.hint,
        }
    }
}

impl From<CliError> for ApiError {
    /// A command's error as the CLI would exit with it: a usage error is the request's fault
    /// (400), a busy target a conflict (409), the rest the daemon's (503 when it cannot proceed
    /// now, else 500).
    fn from(error: CliError) -> ApiError {
        let status = match error.exit_code() {
            exit_code::USAGE => StatusCode::BAD_REQUEST,
            exit_code::BUSY => StatusCode::CONFLICT,
            exit_code::CANNOT_PROCEED => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut message = error.to_string();
        for cause in error.causes() {
            message.push_str(&format!(": {cause}"));
        }
        ApiError {
            status,
            field: None,
            message,
            hint: error.hint(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "version": 1,
            "error": {
                "status": self.status.as_u16(),
                "field": self.field,
                "message": self.message,
                "hint": self.hint,
            },
        });
        (self.status, Json(body)).into_response()
    }
}

/// A path the API does not serve: 404 with the paths it does.
pub(super) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("hadome's API has no `{}`", uri.path()),
    )
    .hint("it serves GET /, /metrics, /v1/status, /v1/check, /v1/events, /v1/timeline; POST /v1/ask, /v1/run, /v1/ack (docs/api.md)")
}
