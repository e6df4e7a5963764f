//! Reading a libpq connection string: removing its passwords before it is stored as a fact, and
//! taking out the parameters hadome handles itself (`sslmode`, `sslrootcert`: `tls.rs`).
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
        return filter_uri(trimmed, true, |key, _| key != "password")
            .unwrap_or_else(|| WITHHELD.to_owned());
    }
    filter_pairs(conninfo, |key, _| key != "password").unwrap_or_else(|| WITHHELD.to_owned())
}

/// The `primary_conninfo` a standby named `application_name` streams with from the instance
/// `conninfo` reaches (either form): its parameters without any password (a standby reads its
/// password from the `.pgpass` of its server's user) and with `application_name` set to the
/// standby's, which its upstream's `synchronous_standby_names` and `pg_stat_replication` name.
/// `None` when it cannot be read.
pub fn for_standby(conninfo: &str, application_name: &str) -> Option<String> {
    let trimmed = conninfo.trim_start();
    let keep = |key: &str, _: &str| !matches!(key, "password" | "application_name");
    if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
        let kept = filter_uri(trimmed, true, keep)?;
        let encoded: String = application_name
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (byte as char).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect();
        let joiner = if kept.contains('?') { '&' } else { '?' };
        return Some(format!("{kept}{joiner}application_name={encoded}"));
    }
    let kept = filter_pairs(conninfo, keep)?;
    let quoted = application_name.replace('\\', "\\\\").replace('\'', "\\'");
    Some(
        format!("{kept} application_name='{quoted}'")
            .trim_start()
            .to_owned(),
    )
}

/// `conninfo` (either form) with only the parameters `keep(key, value)` keeps, each as written;
/// the value given to `keep` is unquoted (`key=value` form) or percent-decoded (URI form).
/// `None` when it cannot be read.
pub(crate) fn filter_parameters(
    conninfo: &str,
    keep: impl FnMut(&str, &str) -> bool,
) -> Option<String> {
    let trimmed = conninfo.trim_start();
    if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
        return filter_uri(trimmed, false, keep);
    }
    filter_pairs(conninfo, keep)
}

/// `key = value` pairs: every pair `keep` keeps, as written.
fn filter_pairs(conninfo: &str, mut keep: impl FnMut(&str, &str) -> bool) -> Option<String> {
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
        let value_start = index;
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
        let value = unquote(&conninfo[value_start..end]);
        if keep(key, &value) {
            kept.push(&conninfo[start..end]);
        }
        index = end;
    }
    Some(kept.join(" "))
}

/// A `key=value` value as libpq reads it: single quotes removed, backslash escapes resolved.
fn unquote(raw: &str) -> String {
    let inner = raw
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or(raw);
    let mut value = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        if character == '\\' {
            value.extend(characters.next());
        } else {
            value.push(character);
        }
    }
    value
}

/// A URI parameter's value, percent-decoded (an invalid escape is kept as written).
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| raw.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
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

/// A URI: `postgres://user:password@host/db?password=x&…`, with only the query parameters
/// `keep` keeps, and without the user information's password when `strip_user_password`.
fn filter_uri(
    uri: &str,
    strip_user_password: bool,
    mut keep: impl FnMut(&str, &str) -> bool,
) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, hosts)) if strip_user_password => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        _ => authority.to_owned(),
    };
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut text = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|parameter| {
                let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                keep(key, &percent_decode(value))
            })
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
    fn a_standby_streams_without_the_password_under_its_own_name() {
        assert_eq!(
            for_standby(
                "host=10.0.0.1 port=5432 user=rep password=secret application_name=x",
                "db-2"
            )
            .unwrap(),
            "host=10.0.0.1 port=5432 user=rep application_name='db-2'"
        );
        assert_eq!(
            for_standby("host=h application_name='old'", "it's").unwrap(),
            r"host=h application_name='it\'s'"
        );
        assert_eq!(
            for_standby(
                "postgresql://rep:secret@10.0.0.1:5432/postgres?sslmode=require&password=x",
                "db 2"
            )
            .unwrap(),
            "postgresql://rep@10.0.0.1:5432/postgres?sslmode=require&application_name=db%202"
        );
        assert_eq!(
            for_standby("postgres://10.0.0.1", "db-2").unwrap(),
            "postgres://10.0.0.1?application_name=db-2"
        );
        assert_eq!(for_standby("host='unterminated", "db-2"), None);
    }

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
