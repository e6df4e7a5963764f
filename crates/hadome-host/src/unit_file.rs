//! One unit file's text as systemd's parser reads it (systemd.syntax(7)): `[Section]` headers,
//! `Key=Value` assignments in order, comments, and continuation lines.
//!
//! The text is input from the host: nothing here panics on it. A line systemd would reject (no
//! `=`, an assignment before any section) is skipped, as systemd skips it with a warning, and kept
//! as a [`Skipped`] so the reading can say so.

/// One `Key=Value` line, with the section it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// The section (`Timer`, `Service`, `Unit`), without brackets.
    pub(crate) section: String,
    /// The key, whitespace trimmed.
    pub(crate) key: String,
    /// The value, whitespace trimmed, continuation lines joined with a space; empty for a reset.
    pub(crate) value: String,
}

/// A line systemd would skip, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub(crate) line: usize,
    pub(crate) why: &'static str,
}

/// Every assignment of a unit file, in order, and the lines skipped.
pub(crate) fn parse(text: &str) -> (Vec<Assignment>, Vec<Skipped>) {
    let mut assignments = Vec::new();
    let mut skipped = Vec::new();
    let mut section: Option<String> = None;
    // A logical line being continued (`\` at the end), and the number of its first line.
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if let Some((first, mut joined)) = pending.take() {
            // systemd drops comment lines inside a continued line.
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some((first, joined));
                continue;
            }
            match line.strip_suffix('\\') {
                Some(head) => {
                    joined.push_str(head);
                    joined.push(' ');
                    pending = Some((first, joined));
                }
                None => {
                    joined.push_str(line);
                    take_line(&joined, first, &mut section, &mut assignments, &mut skipped);
                }
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending = Some((number, format!("{head} ")));
            continue;
        }
        take_line(line, number, &mut section, &mut assignments, &mut skipped);
    }
    // A continuation at the end of the file ends the line there.
    if let Some((first, joined)) = pending {
        take_line(
            joined.trim_end(),
            first,
            &mut section,
            &mut assignments,
            &mut skipped,
        );
    }
    (assignments, skipped)
}

fn take_line(
    line: &str,
    number: usize,
    section: &mut Option<String>,
    assignments: &mut Vec<Assignment>,
    skipped: &mut Vec<Skipped>,
) {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix('[') {
        match rest.strip_suffix(']') {
            Some(name) if !name.is_empty() => *section = Some(name.to_owned()),
            _ => {
                *section = None;
                skipped.push(Skipped {
                    line: number,
                    why: "a section header without its closing `]`",
                });
            }
        }
        return;
    }
    let Some((key, value)) = line.split_once('=') else {
        skipped.push(Skipped {
            line: number,
            why: "neither a section header nor a `Key=Value` assignment",
        });
        return;
    };
    let Some(section) = section.as_ref() else {
        skipped.push(Skipped {
            line: number,
            why: "an assignment before any section header",
        });
        return;
    };
    let key = key.trim();
    if key.is_empty() {
        skipped.push(Skipped {
            line: number,
            why: "an assignment without a key",
        });
        return;
    }
    assignments.push(Assignment {
        section: section.clone(),
        key: key.to_owned(),
        value: value.trim().to_owned(),
    });
}

/// systemd's booleans (`parse_boolean`): `None` for anything else, which systemd ignores.
pub(crate) fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// A systemd time span (systemd.time(7)) in seconds: `10s`, `5min 30s`, `1.5h`, a bare number
/// (seconds), `infinity`; `None` when systemd would reject it.
pub(crate) fn time_span_seconds(value: &str) -> Option<f64> {
    let value = value.trim();
    if value == "infinity" {
        return Some(f64::INFINITY);
    }
    let mut total = 0.0;
    let mut rest = value;
    let mut parts = 0;
    while !rest.is_empty() {
        let number_length = rest
            .find(|character: char| !(character.is_ascii_digit() || character == '.'))
            .unwrap_or(rest.len());
        if number_length == 0 {
            return None;
        }
        let number: f64 = rest[..number_length].parse().ok()?;
        rest = rest[number_length..].trim_start();
        let unit_length = rest
            .find(|character: char| !character.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_length] {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "us" | "usec" | "µs" => 1e-6,
            "ms" | "msec" => 1e-3,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            "M" | "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return None,
        };
        // A bare number is seconds only alone: `5 min` is five minutes, `5 3` is not a span.
        if unit_length == 0 && !rest.is_empty() {
            return None;
        }
        total += number * factor;
        parts += 1;
        rest = rest[unit_length..].trim_start();
    }
    (parts > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<(String, String, String)> {
        parse(text)
            .0
            .into_iter()
            .map(|assignment| (assignment.section, assignment.key, assignment.value))
            .collect()
    }

    fn triple(section: &str, key: &str, value: &str) -> (String, String, String) {
        (section.to_owned(), key.to_owned(), value.to_owned())
    }

    #[test]
    fn continuation_lines_join_with_a_space_and_skip_comments_inside() {
        let text = "[Service]\nExecStart=/bin/sh -c \\\n  'sleep 1; \\\n# a comment inside\n  systemctl reboot'\nRestart=no\n";
        assert_eq!(
            keys(text),
            vec![
                triple(
                    "Service",
                    "ExecStart",
                    "/bin/sh -c  'sleep 1;  systemctl reboot'"
                ),
                triple("Service", "Restart", "no"),
            ]
        );
    }

    #[test]
    fn comments_sections_and_empty_assignments() {
        let text = "# head\n; also a comment\n[Unit]\nDescription = daily reboot \n[Timer]\nOnCalendar=\n  Persistent=yes\n";
        assert_eq!(
            keys(text),
            vec![
                triple("Unit", "Description", "daily reboot"),
                triple("Timer", "OnCalendar", ""),
                triple("Timer", "Persistent", "yes"),
            ]
        );
    }

    #[test]
    fn hostile_lines_are_skipped_with_their_number_never_a_panic() {
        let text = "Orphan=1\n[Broken\nKey=1\n[Service]\n=value\nno equals sign\n[]\nx=1\n\\";
        let (assignments, skipped) = parse(text);
        assert!(assignments.is_empty(), "{assignments:?}");
        let lines: Vec<usize> = skipped.iter().map(|skipped| skipped.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn booleans_as_systemd_spells_them() {
        for yes in ["yes", "TRUE", "on", "1", "y", "t"] {
            assert_eq!(boolean(yes), Some(true), "{yes}");
        }
        for no in ["no", "false", "OFF", "0", "n", "f"] {
            assert_eq!(boolean(no), Some(false), "{no}");
        }
        assert_eq!(boolean("maybe"), None);
        assert_eq!(boolean(""), None);
    }

    #[test]
    fn time_spans_as_systemd_spells_them() {
        assert_eq!(time_span_seconds("10s"), Some(10.0));
        assert_eq!(time_span_seconds("10"), Some(10.0));
        assert_eq!(time_span_seconds("0"), Some(0.0));
        assert_eq!(time_span_seconds("5min"), Some(300.0));
        assert_eq!(time_span_seconds("1h 30min"), Some(5400.0));
        assert_eq!(time_span_seconds("2min30s"), Some(150.0));
        assert_eq!(time_span_seconds("1.5h"), Some(5400.0));
        assert_eq!(time_span_seconds("500ms"), Some(0.5));
        assert_eq!(time_span_seconds("1d"), Some(86_400.0));
        assert_eq!(time_span_seconds("infinity"), Some(f64::INFINITY));
        for bad in ["", "abc", "10 parsecs", "5 3", "-1s", "1..5s"] {
            assert_eq!(time_span_seconds(bad), None, "{bad:?}");
        }
    }
}
