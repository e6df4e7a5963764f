//! The libpq connection-string check, as an estate file reaches it: the value of an instance's
//! `conninfo`.
//!
//! The checker is private to `hadome-config` on purpose (its only caller is the estate parser),
//! so the target writes the fuzzed string into an otherwise valid estate file, escaped as a TOML
//! basic string: every string the checker can be given, and nothing else can go wrong.

use std::fmt::Write as _;
use std::path::Path;

use crate::estate::{check_refusal, ESTATE_PATH};

/// The conninfo's line in the estate file below.
const CONNINFO_LINE: usize = 3;

/// Feeds `data` (lossily as UTF-8) to the conninfo check as `instance "db-1".conninfo`.
///
/// Invariants: no panic; a refusal is about exactly `instance "db-1".conninfo` on its line; an
/// accepted estate holds the conninfo unchanged.
pub fn conninfo(data: &[u8]) {
    let conninfo = String::from_utf8_lossy(data);
    let source = format!(
        "[[instance]]\nname = \"db-1\"\nconninfo = \"{}\"\ndata_dir = \"/srv/pg\"\n",
        toml_basic_string(&conninfo)
    );
    match hadome_config::parse(&source, Path::new(ESTATE_PATH)) {
        Ok(estate) => assert_eq!(
            estate.instances[0].conninfo, conninfo,
            "the estate holds the conninfo it was given"
        ),
        Err(error) => {
            check_refusal(&error, &source);
            assert_eq!(
                error.key(),
                Some("instance \"db-1\".conninfo"),
                "only the conninfo can be wrong: {error}"
            );
            assert_eq!(
                error.location().map(|at| at.line),
                Some(CONNINFO_LINE),
                "{error}"
            );
        }
    }
}

/// `text` escaped for the inside of a TOML basic string (`"…"`).
fn toml_basic_string(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\u{0}'..='\u{1f}' | '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(escaped, "\\u{:04x}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}
