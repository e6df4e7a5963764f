//! Bearer tokens: read from the files `[[api.token]]` names, compared in constant time, and
//! checked against the verb their role allows. Every refusal is journaled (`api-refused`) with
//! the token's name when it was a known one, never the secret.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use hadome_core::estate::{ApiRole, ApiToken};
use hadome_journal::ApiRefusal;

use super::error::ApiError;
use super::Shared;
use crate::clock::wall_clock;
use crate::error::CliError;

/// A token as read from its file.
pub(super) struct Token {
    pub(super) name: String,
    pub(super) role: ApiRole,
    secret: Vec<u8>,
}

/// The shortest secret accepted: a guessable token is no lock.
const MIN_SECRET_BYTES: usize = 16;

/// The most of a token file read: a secret is one short line, and a file that is not one (a
/// device such as `/dev/zero`, a log) must not be read without end (issue 17).
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Reads each token's secret: its file's first line, trimmed, printable ASCII, read from at most
/// the file's first [`MAX_TOKEN_FILE_BYTES`] bytes.
pub(super) fn read_tokens(tokens: &[ApiToken]) -> Result<Vec<Token>, CliError> {
    tokens
        .iter()
        .map(|token| {
            let how = format!(
                "write the token on the file's first line, readable by the daemon's user only: head -c 32 /dev/urandom | base64 > {0} && chmod 600 {0}",
                token.file.display()
            );
            let refused = |problem: String| CliError::Usage {
                message: format!("API token `{}`: {problem}", token.name),
                hint: Some(how.clone()),
            };
            let mut text = Vec::new();
            std::fs::File::open(&token.file)
                .and_then(|file| {
                    std::io::Read::read_to_end(
                        &mut std::io::Read::take(file, MAX_TOKEN_FILE_BYTES + 1),
                        &mut text,
                    )
                })
                .map_err(|error| {
                    refused(format!("cannot read {}: {error}", token.file.display()))
                })?;
            let first_line = text.split(|byte| *byte == b'\n').next().unwrap_or(&[]);
            if first_line.len() as u64 > MAX_TOKEN_FILE_BYTES {
                return Err(refused(format!(
                    "{} has no line end in its first {MAX_TOKEN_FILE_BYTES} bytes: it is not a token file",
                    token.file.display()
                )));
            }
            let secret = first_line.trim_ascii();
            if !secret.iter().all(u8::is_ascii_graphic) {
                return Err(refused(format!(
                    "{} holds bytes other than printable ASCII on its first line: it is not a token file",
                    token.file.display()
                )));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(CliError::Usage {
                    message: format!(
                        "API token `{}`: {} holds {} byte(s) on its first line; a token needs at least {MIN_SECRET_BYTES}",
                        token.name,
                        token.file.display(),
                        secret.len()
                    ),
                    hint: Some(format!(
                        "head -c 32 /dev/urandom | base64 > {}",
                        token.file.display()
                    )),
                });
            }
            Ok(Token {
                name: token.name.clone(),
                role: token.role,
                secret: secret.to_vec(),
            })
        })
        .collect()
}

/// Equal, in a time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Who a request is, when it may do `verb`: the token's name. Otherwise the refusal (401 without
/// a token or with an unknown one, 403 for a role that does not allow the verb), journaled.
pub(super) async fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    peer: SocketAddr,
    path: &str,
    verb: &str,
) -> Result<String, ApiError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let outcome = match presented {
        None => Err((
            StatusCode::UNAUTHORIZED,
            None,
            format!("`{verb}` changes the estate and needs a bearer token"),
        )),
        Some(presented) => {
            let tokens = shared
                .tokens
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match tokens
                .iter()
                .find(|token| same(&token.secret, presented.as_bytes()))
            {
                None => Err((
                    StatusCode::UNAUTHORIZED,
                    None,
                    "the bearer token is not one of `[[api.token]]`'s".to_owned(),
                )),
                Some(token) if !token.role.allows(verb) => Err((
                    StatusCode::FORBIDDEN,
                    Some(token.name.clone()),
                    format!(
                        "token `{}` has the role `{}`, which does not allow `{verb}`",
                        token.name,
                        token.role.as_str()
                    ),
                )),
                Some(token) => Ok(token.name.clone()),
            }
        }
    };
    let (status, token, reason) = match outcome {
        Ok(name) => return Ok(name),
        Err(refusal) => refusal,
    };
    let refusal = ApiRefusal {
        method: "POST".to_owned(),
        path: path.to_owned(),
        verb: verb.to_owned(),
        token,
        peer: peer.to_string(),
        reason: reason.clone(),
        status: status.as_u16(),
    };
    tracing::warn!(path, verb, %peer, "API refused: {reason}");
    let journaled = shared
        .with_journal(move |journal| {
            journal
                .record_api_refusal(wall_clock(), &refusal)
                .map_err(CliError::from)
        })
        .await;
    if let Err(error) = journaled {
        tracing::error!("could not journal an API refusal: {error}");
    }
    let hint = if status == StatusCode::FORBIDDEN {
        format!("a token whose role allows `{verb}` (`operator` runs and acks, `acker` acks) is needed: see `[[api.token]]` in examples/estate.toml")
    } else {
        "send `Authorization: Bearer TOKEN` with a token from a file `[[api.token]]` names (examples/estate.toml)".to_owned()
    };
    Err(ApiError {
        status,
        field: Some("authorization".to_owned()),
        message: reason,
        hint: Some(hint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same(b"", b"x"));
    }

    #[test]
    fn a_short_or_missing_token_file_is_refused_with_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.token");
        std::fs::write(&short, "abc\n").unwrap();
        let token = |file: std::path::PathBuf| ApiToken {
            name: "bot".to_owned(),
            role: ApiRole::Operator,
            file,
        };
        let error = read_tokens(&[token(short)]).err().unwrap();
        assert!(error.to_string().contains("at least 16"), "{error}");
        let error = read_tokens(&[token(dir.path().join("absent"))])
            .err()
            .unwrap();
        assert!(error.to_string().contains("cannot read"), "{error}");
        assert!(error.hint().unwrap().contains("/dev/urandom"));
        // Issue 17: a device or a file that is not a token is refused after a bounded read.
        for (file, said) in [
            (std::path::PathBuf::from("/dev/zero"), "not a token file"),
            (std::path::PathBuf::from("/"), "cannot read"),
        ] {
            let error = read_tokens(&[token(file.clone())]).err().unwrap();
            assert!(error.to_string().contains(said), "{file:?}: {error}");
        }
        let binary = dir.path().join("binary.token");
        std::fs::write(&binary, b"0123456789abcdef\xff\x00\n").unwrap();
        let error = read_tokens(&[token(binary)]).err().unwrap();
        assert!(
            error.to_string().contains("other than printable ASCII"),
            "{error}"
        );
        let good = dir.path().join("good.token");
        std::fs::write(&good, "0123456789abcdef0123\nignored\n").unwrap();
        let tokens = read_tokens(&[token(good)]).unwrap();
        assert_eq!(tokens[0].secret, b"0123456789abcdef0123");
    }
}
