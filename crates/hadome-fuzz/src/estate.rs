//! The estate file parser (`hadome_config::parse`).

use std::path::Path;

use hadome_config::ConfigError;

/// The path the fuzzed estate file is given: errors must name it.
pub(crate) const ESTATE_PATH: &str = "/fuzz/estate.toml";

/// Feeds `data` (lossily as UTF-8: `hadome_config::load` refuses a file that is not UTF-8 before
/// parsing, so only text reaches the parser) to the estate parser.
///
/// Invariants: no panic; a refusal names the file and a line within it, and the key it is about
/// appears in its message; an accepted estate has unique instance names.
pub fn estate(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    match hadome_config::parse(&source, Path::new(ESTATE_PATH)) {
        Ok(estate) => {
            let mut names: Vec<&str> = estate.instances.iter().map(|i| i.name.as_str()).collect();
            let declared = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                declared,
                "an accepted estate has unique instance names"
            );
        }
        Err(error) => check_refusal(&error, &source),
    }
}

/// What every refusal of an estate file must say: the file, a line that exists, the key.
pub(crate) fn check_refusal(error: &ConfigError, source: &str) {
    let message = error.to_string();
    let Some(at) = error.location() else {
        panic!("parsing text reads no file, so every refusal has a location: {message}");
    };
    assert_eq!(at.path, Path::new(ESTATE_PATH), "{message}");
    assert!(
        at.line <= crate::line_count(source),
        "line {} is past the end of a {}-line file: {message}",
        at.line,
        crate::line_count(source)
    );
    assert!(
        message.starts_with(&at.to_string()),
        "the message starts with its place `{at}`: {message}"
    );
    if let Some(key) = error.key() {
        assert!(!key.is_empty(), "an empty key path: {message}");
        assert!(
            message.contains(key),
            "the message names the key `{key}`: {message}"
        );
    }
}
