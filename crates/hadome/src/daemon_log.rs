//! The daemon's log: `tracing` events with named fields (`cluster`, `instance`, `intent`, `step`,
//! `rule`, `outcome`, `backup`, `job`), one line each on stderr, for operators and for the tests
//! that read it (the journal is the record; this is what a person watches).
//!
//! A line is `hadome daemon: MESSAGE key=value …`, in one of two shapes chosen at start:
//! - stderr is a stream to the journal (systemd sets `JOURNAL_STREAM` to its device and inode,
//!   and they are stderr's): no timestamp, since the journal stamps each line, and a syslog prefix
//!   `<3>` error, `<4>` warning, `<6>` info, `<7>` debug, which journald takes as the line's
//!   priority and strips (sd-daemon(3)): `<6>hadome daemon: stopped`;
//! - anywhere else (a terminal, a file), stamped to the millisecond in UTC (to line up with
//!   PostgreSQL's own log), with the level: `2026-03-01 14:02:03.123 UTC  INFO hadome daemon: stopped`.
//!
//! Which events show is `HADOME_LOG`, in `RUST_LOG`'s syntax (`info`, `hadome=debug,info`);
//! `info` when it is unset or empty. The messages keep the words they had before they were
//! `tracing` events: tests, drills and people grep them.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::clock::wall_clock;
use crate::error::CliError;

/// The environment variable that filters the daemon's log.
pub(crate) const FILTER_VARIABLE: &str = "HADOME_LOG";

/// The shape of each line: for the journal, or for a terminal or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFormat {
    /// `<6>hadome daemon: …`: the journal stamps the line and reads its priority from the prefix.
    Journal,
    /// `2026-03-01 14:02:03.123 UTC  INFO hadome daemon: …`.
    Stamped,
}

impl LineFormat {
    /// The journal's shape when stderr is the stream `JOURNAL_STREAM` names, else stamped lines.
    fn of_stderr() -> LineFormat {
        let Some(journal_stream) = std::env::var_os("JOURNAL_STREAM") else {
            return LineFormat::Stamped;
        };
        // A duplicate of stderr's descriptor, closed when dropped, to read its device and inode.
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata());
        match (journal_stream.to_str(), stderr) {
            (Some(journal_stream), Ok(metadata))
                if names_stream(journal_stream, metadata.dev(), metadata.ino()) =>
            {
                LineFormat::Journal
            }
            _ => LineFormat::Stamped,
        }
    }
}

/// Whether `JOURNAL_STREAM`'s `DEVICE:INODE` names the file with `device` and `inode` (sd-daemon's
/// check: a variable inherited by a process whose stderr went elsewhere names another file).
fn names_stream(journal_stream: &str, device: u64, inode: u64) -> bool {
    journal_stream
        .split_once(':')
        .is_some_and(|(stream_device, stream_inode)| {
            stream_device.parse() == Ok(device) && stream_inode.parse() == Ok(inode)
        })
}

/// The syslog priority journald gives a line that starts with `<N>` (sd-daemon(3)'s `SD_ERR`…).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Installs the daemon's log for this process: `HADOME_LOG`'s filter, lines on stderr in the shape
/// stderr calls for. A filter that does not parse is a usage error: the daemon does not start
/// with a log other than the one asked for.
pub(crate) fn init() -> Result<(), CliError> {
    let filter = filter(std::env::var(FILTER_VARIABLE).ok().as_deref())?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Line(LineFormat::of_stderr()))
        .finish();
    // Only `hadome daemon` installs it, once; a second install (none today) keeps the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// The filter `HADOME_LOG`'s text asks for: `info` when unset or empty.
fn filter(directives: Option<&str>) -> Result<EnvFilter, CliError> {
    let directives = directives
        .map(str::trim)
        .filter(|directives| !directives.is_empty())
        .unwrap_or("info");
    EnvFilter::try_new(directives).map_err(|error| CliError::Usage {
        message: format!("`{FILTER_VARIABLE}={directives}` is not a log filter: {error}"),
        hint: Some(format!(
            "{FILTER_VARIABLE}=info (the default), {FILTER_VARIABLE}=debug, or per module: {FILTER_VARIABLE}=hadome=debug,info"
        )),
    })
}

/// The line of one event, in its shape.
struct Line(LineFormat);

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let text = format!("hadome daemon: {}{}", fields.message, fields.rest);
        match self.0 {
            LineFormat::Journal => {
                // Each line of a message that holds several gets its own prefix: journald makes
                // an entry of each line.
                let prefix = format!("<{}>", priority(level));
                for line in text.lines() {
                    writeln!(writer, "{prefix}{line}")?;
                }
                Ok(())
            }
            LineFormat::Stamped => {
                let now = wall_clock();
                let utc = now.utc_text();
                writeln!(
                    writer,
                    "{}.{:03} UTC {level:>5} {text}",
                    utc.trim_end_matches(" UTC"),
                    now.0.rem_euclid(1000)
                )
            }
        }
    }
}

/// An event's message, and its other fields as ` key=value`, in the order they were given.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;

    /// Events logged under a subscriber of `format` that writes into a real file; its text.
    fn logged(format: LineFormat, log: impl FnOnce()) -> String {
        let file = tempfile::tempfile().expect("a temporary file");
        let writer = file.try_clone().expect("a second descriptor of it");
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(None).expect("the default filter"))
            .with_writer(std::sync::Mutex::new(writer))
            .event_format(Line(format))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let mut file = file;
        file.rewind().expect("rewind");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read the log");
        text
    }

    fn events() {
        tracing::info!(cluster = %"trio", outcome = "healthy", "cluster `trio`: healthy: `db-1` is the primary");
        tracing::warn!(instance = %"db-1", "heartbeat on `db-1` failed: timed out\nsecond line");
        tracing::error!(intent = 7, "intent #7: failed");
        tracing::debug!("not shown at the default level");
    }

    #[test]
    fn journal_lines_carry_a_priority_prefix_and_no_stamp() {
        let text = logged(LineFormat::Journal, events);
        assert_eq!(
            text,
            "<6>hadome daemon: cluster `trio`: healthy: `db-1` is the primary cluster=trio outcome=healthy\n\
             <4>hadome daemon: heartbeat on `db-1` failed: timed out\n\
             <4>second line instance=db-1\n\
             <3>hadome daemon: intent #7: failed intent=7\n"
        );
    }

    #[test]
    fn terminal_lines_are_stamped_with_their_level() {
        let text = logged(LineFormat::Stamped, events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        // `2026-03-01 14:02:03.123 UTC  INFO hadome daemon: …`; a message's second line as it is.
        let stamped = [(0, " INFO"), (1, " WARN"), (3, "ERROR")];
        for (index, level) in stamped {
            let (stamp, rest) = lines[index].split_at(27);
            let bytes = stamp.as_bytes();
            assert!(
                stamp.ends_with(" UTC")
                    && bytes[4] == b'-'
                    && bytes[10] == b' '
                    && bytes[13] == b':'
                    && bytes[19] == b'.',
                "{text}"
            );
            assert!(
                rest.starts_with(&format!(" {level} hadome daemon: ")),
                "{text}"
            );
        }
        assert!(lines[0].ends_with(
            "hadome daemon: cluster `trio`: healthy: `db-1` is the primary cluster=trio outcome=healthy"
        ));
        assert_eq!(lines[2], "second line instance=db-1");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn journal_stream_is_matched_on_device_and_inode() {
        assert!(names_stream("64769:123456", 64769, 123456));
        assert!(!names_stream("64769:123456", 64769, 123457));
        assert!(!names_stream("64769", 64769, 123456));
        assert!(!names_stream("", 0, 0));
    }

    #[test]
    fn a_bad_filter_is_a_usage_error_naming_the_variable() {
        assert!(filter(Some("  ")).is_ok());
        assert!(filter(Some("hadome=debug,info")).is_ok());
        let Err(error) = filter(Some("hadome=loud")) else {
            panic!("`hadome=loud` is no filter");
        };
        assert!(
            error.to_string().contains("`HADOME_LOG=hadome=loud`"),
            "{error}"
        );
    }
}
