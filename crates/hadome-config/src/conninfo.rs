//! A syntax check of libpq `key=value` connection strings.
//!
//! hadome connects to every instance with the `conninfo` of its `[[instance]]`. A malformed one
//! would otherwise surface only when the first probe runs, as a driver error without a line
//! number; checking the syntax here (libpq's rules: pairs separated by whitespace, a value quoted
//! with `'…'` when it holds spaces, `\` escaping the next character) points at the file instead.
//! Keywords are not checked against libpq's list, which grows with each PostgreSQL release.

/// The pairs of a `key=value` connection string, or what is wrong with it.
pub(crate) fn parse(conninfo: &str) -> Result<Vec<(String, String)>, String> {
    if conninfo.starts_with("postgresql://") || conninfo.starts_with("postgres://") {
        return Err("is a URI, but hadome reads libpq `key=value` strings".to_owned());
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
            return Err(format!("has `{key}` without `=` and a value"));
        }
        if key.is_empty() {
            return Err("has `=` without a keyword before it".to_owned());
        }
        if !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(format!(
                "has the keyword `{key}`, but libpq keywords are lowercase letters and `_`"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("has an unterminated quoted value for `{key}`")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped) => value.push(escaped),
                        None => {
                            return Err(format!("has an unterminated quoted value for `{key}`"))
                        }
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
        return Err("is empty".to_owned());
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
        assert!(parse("host").unwrap_err().contains("`host` without `=`"));
        assert!(parse("host=a port").unwrap_err().contains("`port`"));
        assert!(parse("=5432").unwrap_err().contains("without a keyword"));
        assert!(parse("password='abc").unwrap_err().contains("unterminated"));
        assert!(parse("Port=1").unwrap_err().contains("lowercase"));
        assert!(parse("postgresql://h/db").unwrap_err().contains("URI"));
        assert_eq!(parse("   ").unwrap_err(), "is empty");
    }
}
