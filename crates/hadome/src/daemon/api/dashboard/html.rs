//! The small vocabulary the page is written in: escaping (every text the page shows comes from
//! the estate file, PostgreSQL, the journal or a person, and is escaped, attribute or not), the
//! three tones of state, and times for people.

use std::fmt;

use hadome_core::fact::Timestamp;
use hadome_core::finding::{human_duration, Finding, Severity};
use hadome_core::supervise::ClusterState;

/// Text escaped for HTML, in an element or a quoted attribute.
pub(super) struct Escaped<'a>(pub(super) &'a str);

/// `text`, escaped for HTML.
pub(super) fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            formatter.write_str(&rest[..at])?;
            let entity = match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            };
            formatter.write_str(entity)?;
            rest = &rest[at + 1..];
        }
        formatter.write_str(rest)
    }
}

/// The tone of a state: green when all is well, amber when something needs watching, red when
/// something is wrong or a person must act, grey when the daemon only observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tone {
    Ok,
    Warn,
    Crit,
    Quiet,
}

impl Tone {
    /// The CSS class.
    pub(super) fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Warn => "warn",
            Tone::Crit => "crit",
            Tone::Quiet => "quiet",
        }
    }

    /// A finding's tone: critical as `check` counts it (needs a human, or worse) is red.
    pub(super) fn of_finding(finding: Option<&Finding>) -> Tone {
        match finding.map(|finding| finding.severity) {
            Some(Severity::Deny | Severity::NeedsHuman) => Tone::Crit,
            Some(Severity::Warn) => Tone::Warn,
            Some(Severity::Info) | None => Tone::Ok,
        }
    }

    /// A cluster's tone, from the supervisor's state.
    pub(super) fn of_state(state: ClusterState) -> Tone {
        match state {
            ClusterState::Healthy => Tone::Ok,
            ClusterState::Overloaded
            | ClusterState::Suspect
            | ClusterState::Restarting
            | ClusterState::FailingOver => Tone::Warn,
            ClusterState::NoCandidate | ClusterState::Paused | ClusterState::NoPrimary => {
                Tone::Crit
            }
            ClusterState::NotActor | ClusterState::Held | ClusterState::Manual => Tone::Quiet,
        }
    }
}

/// A finding's severity as the page's `data-severity` says it (`none` when there is none).
pub(super) fn severity_word(finding: Option<&Finding>) -> &'static str {
    finding.map_or("none", |finding| finding.severity.as_str())
}

/// `12 min ago`.
pub(super) fn ago(seconds: f64) -> String {
    format!("{} ago", human_duration(seconds))
}

/// `2026-03-01 14:02:03 UTC (12 min ago)`, as seen from `now`.
pub(super) fn when(at: Timestamp, now: Timestamp) -> String {
    format!("{} ({})", at.utc_text(), ago(now.seconds_since(at)))
}

/// The time of a `…_ms` field of the status document.
pub(super) fn at_ms(value: &serde_json::Value) -> Option<Timestamp> {
    value.as_i64().map(Timestamp)
}
