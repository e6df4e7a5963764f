//! Removing passwords from a libpq connection string before it is stored as a fact.
//!
//! `primary_conninfo` may hold the replication password. Facts are journalled and printed, so the
//! password never leaves the observer: both libpq forms are handled, `key=value` pairs (values
//! optionally single-quoted, with backslash escapes) and `postgres://` URIs (the password in the
//! user information, or a `password=` parameter). A string that cannot be read is withheld whole.

/// What stands in for a connection string that could not be parsed.
pub(crate) const WITHHELD: &str = "(withheld: it could not be parsed, and may hold a password)";

/// `conninfo` without any password (both libpq forms); a string that cannot be read as one is
/// withheld whole.
pub fn strip_password(conninfo: &str) -> String {
    let trimmed = conninfo.trim_start();
    if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
        return strip_uri(trimmed).unwrap_or_else(|| WITHHELD.to_owned());
    }
    strip_pairs(conninfo).unwrap_or_else(|| WITHHELD.to_owned())
}

/// `key = value` pairs: every pair is kept as written, except `password`.
fn strip_pairs(conninfo: &str) -> Option<String> {
    let bytes = conninfo.as_bytes();
    let mut kept: Vec<&str> = Vec::new();
    let mut index = 0;
    loop {
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        if index == bytes.len() {
            break;
        }
        let start = index;
        while index < bytes.len() && bytes[index] != b'=' && !bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        let key = &conninfo[start..index];
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        if key.is_empty() || bytes.get(index) != Some(&b'=') {
            return None;
        }
        index += 1;
        while index < bytes.len() && bytes[index].is_ascii_whitespace() {
            index += 1;
        }
        if bytes.get(index) == Some(&b'\'') {
            index += 1;
            loop {
                match bytes.get(index) {
                    None => return None, // unterminated quote
                    Some(b'\\') => index = past_escape(conninfo, index),
                    Some(b'\'') => {
                        index += 1;
                        break;
                    }
                    Some(_) => index += 1,
                }
            }
        } else {
            while index < bytes.len() && !bytes[index].is_ascii_whitespace() {
                index = if bytes[index] == b'\\' {
                    past_escape(conninfo, index)
                } else {
                    index + 1
                };
            }
        }
        let end = index;
        if key != "password" {
            kept.push(&conninfo[start..end]);
        }
        index = end;
    }
    Some(kept.join(" "))
}

/// The index past the backslash at `index` and the character it escapes (a whole character, so
/// a slice never splits one).
fn past_escape(text: &str, index: usize) -> usize {
    let next = index + 1;
    next + text
        .get(next..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, char::len_utf8)
}

/// A URI: `postgres://user:password@host/db?password=x&…`.
fn strip_uri(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut text = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|parameter| parameter.split('=').next() != Some("password"))
            .collect();
        if !kept.is_empty() {
            text.push('?');
            text.push_str(&kept.join("&"));
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_from_key_value_strings() {
        assert_eq!(
            strip_password(
                "host=10.0.0.1 port=5432 user=replicator password=s3cret application_name=db-2"
            ),
            "host=10.0.0.1 port=5432 user=replicator application_name=db-2"
        );
        assert_eq!(
            strip_password("user=r password = 'it''s \\' a secret' host='a b'"),
            WITHHELD,
            "'' is not an escape in libpq: the quote ends early and the rest does not parse"
        );
        assert_eq!(
            strip_password("user=r password = 'it\\'s a secret' host='a b' sslmode=require"),
            "user=r host='a b' sslmode=require"
        );
        assert_eq!(strip_password("password=x"), "");
        assert_eq!(
            strip_password("password=a\\é host=x"),
            "host=x",
            "an escaped non-ASCII character"
        );
        assert_eq!(strip_password("password='é\\é' host=x"), "host=x");
        assert_eq!(strip_password(""), "");
        assert_eq!(
            strip_password("host=127.0.0.1 port=41593 user=postgres application_name=db-2"),
            "host=127.0.0.1 port=41593 user=postgres application_name=db-2"
        );
    }

    #[test]
    fn passwords_are_removed_from_uris() {
        assert_eq!(
            strip_password("postgresql://replicator:s3cret@db-1:5432/postgres?application_name=db-2&password=x"),
            "postgresql://replicator@db-1:5432/postgres?application_name=db-2"
        );
        assert_eq!(strip_password("postgres://u:p@h"), "postgres://u@h");
        assert_eq!(
            strip_password("postgres://h/db?password=p"),
            "postgres://h/db"
        );
    }

    #[test]
    fn what_cannot_be_parsed_is_withheld() {
        assert_eq!(strip_password("host=a password='unterminated"), WITHHELD);
        assert_eq!(strip_password("garbage"), WITHHELD);
    }
}
