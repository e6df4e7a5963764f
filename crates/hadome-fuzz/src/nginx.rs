//! The nginx configuration reader (`hadome_nginx::read`, `nginx -T` output) and the lint over
//! what it read.

use hadome_nginx::error::ReadError;
use hadome_nginx::lint::{lint, LintContext};

/// Feeds `data` (lossily as UTF-8) to the reader, then lints what it accepted.
///
/// Invariants: no panic; a syntax error names a file the dump holds and a line of it, with a
/// message and a hint; every lint finding names a line.
pub fn nginx(data: &[u8]) {
    let dump = String::from_utf8_lossy(data);
    match hadome_nginx::read(&dump) {
        Ok(nginx) => {
            for finding in lint(&nginx, &LintContext::default()) {
                assert!(finding.place.line >= 1, "a finding names a line: {finding}");
                assert!(!finding.message.is_empty() && !finding.fix.is_empty());
            }
        }
        Err(ReadError::NotADump) => {
            let first = dump.lines().find(|line| !line.trim().is_empty());
            assert!(
                !first.is_some_and(is_marker),
                "refused as not a dump, but its first line is a marker"
            );
        }
        Err(ReadError::TooLarge { size_bytes, .. }) => {
            assert_eq!(size_bytes, dump.len());
        }
        Err(ReadError::Syntax {
            place,
            message,
            hint,
        }) => {
            let marker = format!("# configuration file {}:", place.file);
            let Some(lines) = most_lines(&dump, &marker) else {
                panic!("{place}: the error names a file the dump does not hold: {message}");
            };
            assert!(
                place.line >= 1 && place.line as usize <= lines,
                "{place}: past the end of its {lines}-line file: {message}"
            );
            assert!(
                !message.is_empty() && !hint.is_empty(),
                "{place}: {message}"
            );
        }
    }
}

/// The most lines of any file the dump holds under `marker` (the same path can be dumped twice,
/// and each copy is parsed: an error can be in either); `None` when it holds none.
fn most_lines(dump: &str, marker: &str) -> Option<usize> {
    let mut most: Option<usize> = None;
    let mut rest = dump;
    while let Some(start) = find_line(rest, |line| line.trim_end_matches(['\n', '\r']) == marker) {
        let after = &rest[start..];
        let body_start = after.find('\n').map_or(after.len(), |end| end + 1);
        let body = &after[body_start..];
        let body_end = find_marker(body).unwrap_or(body.len());
        let lines = crate::line_count(&body[..body_end]);
        most = Some(most.map_or(lines, |most| most.max(lines)));
        rest = body;
    }
    most
}

/// Whether `line` is a file marker, `# configuration file PATH:`, as `hadome_nginx` reads it.
fn is_marker(line: &str) -> bool {
    line.trim_end_matches(['\n', '\r'])
        .strip_prefix("# configuration file ")
        .is_some_and(|rest| rest.ends_with(':'))
}

/// The offset of the first marker line of `text`.
fn find_marker(text: &str) -> Option<usize> {
    find_line(text, is_marker)
}

/// The offset of the first line of `text` that `wanted` accepts.
fn find_line(text: &str, wanted: impl Fn(&str) -> bool) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if wanted(line) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}
