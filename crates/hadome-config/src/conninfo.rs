//! A syntax check of libpq `key=value` connection strings.
//!
//! hadome connects to every instance with the `conninfo` of its `[[instance]]`. A malformed one
//! would otherwise surface only when the first probe runs, as a driver error without a line
//! number; checking the syntax here (libpq's rules: pairs separated by whitespace, a value quoted
//! with `'…'` when it holds spaces, `\` escaping the next character) points at the file instead.
//! Keywords are not checked against libpq's list, which grows with each PostgreSQL release.

/// What is wrong with a connection string, worded to follow the key it is the value of
/// (`` `instance "db-1".conninfo` has `host` without `=` and a value ``).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConninfoProblem {
    #[error("is a URI, but hadome reads libpq `key=value` strings")]
    Uri,
    #[error("has `{key}` without `=` and a value")]
    NoValue { key: String },
    #[error("has `=` without a keyword before it")]
    NoKeyword,
    #[error("has the keyword `{key}`, but libpq keywords are lowercase letters and `_`")]
    BadKeyword { key: String },
    #[error("has an unterminated quoted value for `{key}`")]
    Unterminated { key: String },
    #[error("is empty")]
    Empty,
}

/// What is wrong with a parsed connection string's TLS settings (`sslmode`, `sslrootcert`, as
/// hadome's observer reads them), and the fix; `None` when they can be used.
pub(crate) fn tls_problem(pairs: &[(String, String)]) -> Option<(String, String)> {
    let value = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(found, _)| found == key)
            .map(|(_, value)| value.as_str())
    };
    const MODES: [&str; 6] = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];
    let mode = value("sslmode");
    if let Some(mode) = mode.filter(|mode| !MODES.contains(mode)) {
        return Some((
            format!("has sslmode `{mode}`, which libpq does not know"),
            format!(
                "give one of {}; a remote estate wants `sslmode=verify-full sslrootcert=FILE`",
                MODES.join(", ")
            ),
        ));
    }
    let root = value("sslrootcert");
    match (mode, root) {
        (Some(mode @ ("verify-ca" | "verify-full")), None) => Some((
            format!("has sslmode {mode} but no sslrootcert"),
            "add `sslrootcert=/etc/hadome/postgres-ca.crt`: the CA certificate (PEM) that signed \
             the server's"
                .to_owned(),
        )),
        (_, Some("system")) => Some((
            "has sslrootcert=system, which hadome does not support (it ships no root store)"
                .to_owned(),
            "give the CA certificate's file: `sslrootcert=/etc/hadome/postgres-ca.crt`".to_owned(),
        )),
        (_, Some(file)) if !std::path::Path::new(file).is_absolute() => Some((
            format!("has sslrootcert `{file}`, a relative path"),
            "give an absolute path: the daemon does not run where you are".to_owned(),
        )),
        _ => None,
    }
}

/// The pairs of a `key=value` connection string, or what is wrong with it.
pub(crate) fn parse(conninfo: &str) -> Result<Vec<(String, String)>, ConninfoProblem> {
    if conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://") {
        return Err(ConninfoProblem::Uri);
    }
    let mut pairs = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConninfoProblem::NoValue { key });
        }
        if key.is_empty() {
            return Err(ConninfoProblem::NoKeyword);
        }
        if !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(ConninfoProblem::BadKeyword { key });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(ConninfoProblem::Unterminated { key }),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped) => value.push(escaped),
                        None => return Err(ConninfoProblem::Unterminated { key }),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
    if pairs.is_empty() {
        return Err(ConninfoProblem::Empty);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(conninfo: &str) -> Vec<(String, String)> {
        parse(conninfo).unwrap()
    }

    #[test]
    fn reads_plain_quoted_and_escaped_values() {
        assert_eq!(
            pairs("host=127.0.0.1  port = 5432 password='a b\\'c' options=x\\ y"),
            [
                ("host".to_owned(), "127.0.0.1".to_owned()),
                ("port".to_owned(), "5432".to_owned()),
                ("password".to_owned(), "a b'c".to_owned()),
                ("options".to_owned(), "x y".to_owned()),
            ]
        );
        assert_eq!(pairs("dbname=''"), [("dbname".to_owned(), String::new())]);
    }

    #[test]
    fn rejects_what_libpq_rejects() {
        let problem = |conninfo: &str| parse(conninfo).unwrap_err().to_string();
        assert!(problem("host").contains("`host` without `=`"));
        assert!(problem("host=a port").contains("`port`"));
        assert!(problem("=5432").contains("without a keyword"));
        assert!(problem("password='abc").contains("unterminated"));
        assert!(problem("Port=1").contains("lowercase"));
        assert!(problem("postgresql://h/db").contains("URI"));
        assert_eq!(parse("   "), Err(ConninfoProblem::Empty));
        assert_eq!(problem("   "), "is empty");
    }
}
