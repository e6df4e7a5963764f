//! `hadome timeline`: the journal as an incident timeline (the base module `timeline` builds it;
//! the daemon's API serves the same), in a window given as times in UTC or as a time ago.

use std::path::PathBuf;

use hadome_core::fact::Timestamp;

use crate::cli_timeline::{TimelineArgs, TimelineFormat};
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};

/// The forms `--since` and `--until` accept, for an error's hint.
const ACCEPTED: &str = "give a time in UTC as 2026-12-05T14:02:03Z (RFC 3339) or \
\"2026-12-05 14:02:03\", or a time ago as 90s, 15m, 2h or 1d";

/// `hadome timeline`.
pub(crate) fn run(arguments: TimelineArgs) -> Result<u8, CliError> {
    let now = wall_clock();
    let since = arguments
        .since
        .as_deref()
        .map(|text| parse_time("--since", text, now))
        .transpose()?;
    let until = arguments
        .until
        .as_deref()
        .map(|text| parse_time("--until", text, now))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until) {
        if until < since {
            return Err(CliError::Usage {
                message: format!(
                    "`--until` ({}) is before `--since` ({})",
                    until.utc_text(),
                    since.utc_text()
                ),
                hint: Some("swap them, or leave `--until` out to read to the end".to_owned()),
            });
        }
    }
    // As `--config` of every other command, HADOME_CONFIG names the estate file; here only when
    // neither flag is given, so that `--journal` is not refused in a shell that exports it.
    let config = match (&arguments.config, &arguments.journal) {
        (None, None) => std::env::var_os("HADOME_CONFIG").map(PathBuf::from),
        _ => arguments.config,
    };
    let path = journal_path(config, arguments.journal)?;
    let journal = hadome_journal::Journal::open(&path)?;
    let timeline = crate::timeline::timeline(&journal, since, until)?;
    if arguments.json.json || arguments.format == TimelineFormat::Json {
        print_json(&timeline.to_json());
    } else {
        print_text(&timeline.to_markdown());
    }
    Ok(exit_code::OK)
}

/// The journal to read: the estate's, or the file given; exactly one of them, and it must exist
/// (opening a missing journal would create an empty one).
fn journal_path(config: Option<PathBuf>, journal: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let (path, hint) = match (config, journal) {
        (Some(config), Some(journal)) => {
            return Err(CliError::Usage {
                message: format!(
                    "give `--config` or `--journal`, not both (`--config {}`, `--journal {}`)",
                    config.display(),
                    journal.display()
                ),
                hint: Some(
                    "--config reads the estate's journal; --journal a journal file of its own"
                        .to_owned(),
                ),
            })
        }
        (None, None) => {
            return Err(CliError::Usage {
                message: "`hadome timeline` needs `--config FILE` (the estate's journal; or \
                          HADOME_CONFIG in the environment) or `--journal FILE`"
                    .to_owned(),
                hint: Some(
                    "hadome timeline --config /etc/hadome/estate.toml --since 2h".to_owned(),
                ),
            })
        }
        (Some(config), None) => {
            let estate = hadome_config::load(&config)?;
            (
                estate.journal_path,
                format!(
                    "hadome writes it at its first pass (`hadome check --config {}`)",
                    config.display()
                ),
            )
        }
        (None, Some(journal)) => (
            journal,
            "check the path; a drill keeps its journal beside its lab directory, as \
             DIR.drill-journal.sqlite"
                .to_owned(),
        ),
    };
    if !path.is_file() {
        return Err(CliError::Usage {
            message: format!("there is no journal at `{}`", path.display()),
            hint: Some(hint),
        });
    }
    Ok(path)
}

/// A time as `--since`/`--until` take it: RFC 3339 (`2026-12-05T14:02:03Z`, an offset or a
/// fraction of a second allowed), `2026-12-05 14:02:03` in UTC (a trailing ` UTC` allowed, as
/// hadome prints times), or a time ago (`90s`, `15m`, `2h`, `1d`) before `now`.
fn parse_time(flag: &str, text: &str, now: Timestamp) -> Result<Timestamp, CliError> {
    let trimmed = text.trim();
    let parsed = match ago(trimmed) {
        Some(milliseconds) => Some(Timestamp(now.0.saturating_sub(milliseconds))),
        None => absolute(trimmed),
    };
    parsed.ok_or_else(|| CliError::Usage {
        message: format!("`{flag} {text}` is not a time hadome reads"),
        hint: Some(ACCEPTED.to_owned()),
    })
}

/// `90s`, `15m`, `2h`, `1d` (an ` ago` after it allowed), in milliseconds.
fn ago(text: &str) -> Option<i64> {
    let text = text.strip_suffix(" ago").unwrap_or(text).trim();
    let unit = text.chars().last()?;
    let number = i64::try_from(
        text[..text.len() - unit.len_utf8()]
            .trim()
            .parse::<u64>()
            .ok()?,
    )
    .ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds)?.checked_mul(1_000)
}

/// `2026-12-05T14:02:03Z`, `2026-12-05T14:02:03.250+01:00`, `2026-12-05 14:02:03` (UTC, ` UTC`
/// after it allowed).
fn absolute(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !text.is_char_boundary(19) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let rfc3339 = matches!(bytes[10], b'T' | b't');
    if !(rfc3339 || bytes[10] == b' ')
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millisecond = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millisecond = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = if rfc3339 {
        match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let offset = rest.get(1..)?;
                let (hours, minutes) = offset.split_once(':')?;
                if hours.len() != 2 || minutes.len() != 2 {
                    return None;
                }
                let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                sign * (hours * 60 + minutes)
            }
        }
    } else {
        match rest {
            "" | " UTC" | " utc" | " Z" => 0,
            _ => return None,
        }
    };
    // A leap second (:60) is the last millisecond of its minute here: a window stays a window.
    let (second, millisecond) = if second == 60 {
        (59, 999)
    } else {
        (second, millisecond)
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_minutes * 60;
    Some(Timestamp(seconds * 1_000 + millisecond))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`, the inverse of the core's `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_796_479_323_000); // 2026-12-05 14:02:03 UTC

    fn parsed(text: &str) -> Option<i64> {
        parse_time("--since", text, NOW).ok().map(|at| at.0)
    }

    #[test]
    fn every_accepted_form_reads_as_the_same_instant() {
        for text in [
            "2026-12-05T14:02:03Z",
            "2026-12-05t14:02:03z",
            "2026-12-05T15:02:03+01:00",
            "2026-12-05T09:32:03-04:30",
            "2026-12-05 14:02:03",
            "2026-12-05 14:02:03 UTC",
            " 2026-12-05 14:02:03 ",
        ] {
            assert_eq!(parsed(text), Some(NOW.0), "{text}");
        }
        assert_eq!(parsed("2026-12-05T14:02:03.25Z"), Some(NOW.0 + 250));
        assert_eq!(parsed("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parsed("2000-02-29 00:00:00"), Some(951_782_400_000));
        assert_eq!(parsed("1969-12-31 23:59:59"), Some(-1_000));
        for at in [0, 951_782_400_000, NOW.0, 4_102_444_800_000] {
            let printed = Timestamp(at).utc_text();
            assert_eq!(
                parsed(&printed),
                Some(at),
                "what hadome prints reads back: {printed}"
            );
        }
    }

    #[test]
    fn a_time_ago_counts_back_from_now() {
        assert_eq!(parsed("90s"), Some(NOW.0 - 90_000));
        assert_eq!(parsed("15m"), Some(NOW.0 - 900_000));
        assert_eq!(parsed("2h"), Some(NOW.0 - 7_200_000));
        assert_eq!(parsed("1d ago"), Some(NOW.0 - 86_400_000));
        assert_eq!(parsed("0m"), Some(NOW.0));
    }

    #[test]
    fn anything_else_is_a_usage_error_that_names_the_flag_and_the_forms() {
        for text in [
            "",
            "yesterday",
            "15",
            "15w",
            "-5m",
            "m",
            "2026-12-05",
            "2026-13-05T14:02:03Z",
            "2026-02-30 10:00:00",
            "2026-12-05T24:00:00Z",
            "2026-12-05T14:02:03",
            "2026-12-05T14:02:03+1:00",
            "2026-12-05 14:02:03+01:00",
            "2026-12-05T14:02:03.Z",
            "2026/12/05 14:02:03",
            "2026-12-05 14:02:03 CET",
            "２０２６-12-05 14:02:03",
        ] {
            let error = parse_time("--until", text, NOW).unwrap_err();
            assert_eq!(error.exit_code(), exit_code::USAGE, "{text}");
            let CliError::Usage { message, hint } = &error else {
                panic!("{error:?}");
            };
            assert!(message.contains("`--until "), "{message}");
            assert!(
                hint.as_deref()
                    .is_some_and(|hint| hint.contains("RFC 3339") && hint.contains("15m")),
                "{hint:?}"
            );
        }
    }

    #[test]
    fn exactly_one_journal_is_read_and_it_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("drill-a.drill-journal.sqlite");
        let missing = journal_path(None, Some(kept.clone())).unwrap_err();
        assert!(
            missing.to_string().contains("there is no journal at"),
            "{missing}"
        );
        assert!(!kept.exists(), "a missing journal is not created");
        std::fs::write(&kept, b"").unwrap();
        assert_eq!(journal_path(None, Some(kept.clone())).unwrap(), kept);
        for (config, journal) in [(Some(kept.clone()), Some(kept.clone())), (None, None)] {
            let error = journal_path(config, journal).unwrap_err();
            assert_eq!(error.exit_code(), exit_code::USAGE, "{error}");
        }
    }
}
