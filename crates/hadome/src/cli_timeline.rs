//! The command line of `hadome timeline` (issue 16), defined here so that `cli.rs` stays one
//! screenful of commands; `cli.rs` names it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::Json;

/// `hadome timeline --help`.
pub(crate) const TIMELINE_ABOUT: &str = "\
Turn the journal into an incident timeline: what hadome saw and did, in time order, condensed, \
ready to paste into a postmortem.

Every event of the journal in the window becomes a line: fact changes (an instance first seen, \
unreachable, no longer streaming, with an unapplied setting), findings raised and cleared (those \
of `hadome check`), verdicts with each finding's rule and message (numbers included), intents \
with their plan, overrides, steps (ok or failed, with their detail) and outcomes, leases, pauses, \
acks, escalations (with whether the notification got through), failover phases, backups made or \
failed, restore tests, host boots, images, quorum members down and back, requests the daemon's \
API refused. Repeated lines about one subject collapse into one with a count and their span \
(×12, 14:02:03–14:02:14); a fact or a finding that flaps becomes one `flapping` line.

--since and --until take a time in UTC, as RFC 3339 (2026-12-05T14:02:03Z) or as \
`2026-12-05 14:02:03`, or a time ago (90s, 15m, 2h, 1d); both ends are included, and without \
them the whole journal is read. The journal is the estate's (--config), or a journal file given \
by --journal, such as the one a drill keeps beside its lab directory after it tears the lab down \
(`hadome drill misskey --dir D` keeps D.drill-journal.sqlite). Nothing is changed and no server \
is contacted.

--format md (the default) prints a heading with the window and one line per entry, each date \
once; --format json (or --json) prints `{\"version\": 1, \"since_ms\", \"until_ms\", \"entries\": \
[{\"at_ms\", \"until_ms\", \"count\", \"kind\", \"subject\", \"text\", \"event_ids\"}]}`. \
docs/timeline.md shows a real one.

Exit 0 with the timeline (an empty window included), 2 on a usage error (a time that cannot be \
read, --config and --journal both or neither, a journal that does not exist).";

/// `hadome timeline --help`'s examples.
pub(crate) const TIMELINE_EXAMPLES: &str = "\
Examples:
  hadome timeline --config /etc/hadome/estate.toml --since 2h
  hadome timeline --config estate.toml --since '2026-12-05 14:00:00' --until 2026-12-05T15:30:00Z
  hadome drill misskey --dir /tmp/drill-a && hadome timeline --journal /tmp/drill-a.drill-journal.sqlite
  hadome timeline --config estate.toml --since 1d --format json";

/// How the timeline is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TimelineFormat {
    /// Markdown: a heading with the window, one line per entry.
    Md,
    /// Versioned JSON.
    Json,
}

/// `hadome timeline`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct TimelineArgs {
    /// From when (included): 2026-12-05T14:02:03Z, "2026-12-05 14:02:03" (UTC), or a time ago
    /// (90s, 15m, 2h, 1d). Default: the journal's first event.
    #[arg(long, value_name = "T")]
    pub(crate) since: Option<String>,
    /// Until when (included), in the same forms as --since. Default: the journal's last event.
    #[arg(long, value_name = "T")]
    pub(crate) until: Option<String>,
    /// md: markdown for a postmortem; json: versioned JSON.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "md")]
    pub(crate) format: TimelineFormat,
    /// The estate file, whose [journal] is read. Exactly one of --config and --journal; without
    /// either, $HADOME_CONFIG names the estate file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// A journal file, read without an estate file (a drill's kept journal, a copy). Exactly one
    /// of --config and --journal.
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) json: Json,
}
