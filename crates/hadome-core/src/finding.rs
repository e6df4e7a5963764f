//! Findings and verdicts.
//!
//! An interlock reports findings; the verdict on an action is the worst finding, and an action
//! with prerequisites (things hadome does first, such as moving a data directory aside) is at
//! best `allow-after`. A finding is data, never an error.

use std::fmt;

/// How bad a finding is. Ordered: a later variant is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; changes no verdict.
    Info,
    /// Something is wrong or risky; the action may still go ahead.
    Warn,
    /// hadome cannot tell that the action is safe: a person must decide.
    NeedsHuman,
    /// The action would lose data or availability: refused. In `check`, a critical finding.
    Deny,
}

impl Severity {
    /// The name in JSON and in the tables of `ask`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::NeedsHuman => "needs-human",
            Severity::Deny => "deny",
        }
    }
}

/// One problem an interlock found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's stable id (`crate::rule`).
    pub rule: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What it is about: an instance, cluster or action target.
    pub subject: String,
    /// One line, with numbers (bytes, durations, timelines).
    pub message: String,
    /// What to do instead, where there is something.
    pub alternative: Option<String>,
}

/// The answer to "may this action go ahead?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Go ahead once the prerequisites are done (hadome does them first).
    AllowAfter,
    /// A person must decide.
    NeedsHuman,
    /// Refused.
    Deny,
}

impl Verdict {
    /// The verdict of a set of findings and prerequisites: the worst finding, and at best
    /// `AllowAfter` when there is anything to do first.
    pub fn of(findings: &[Finding], prerequisites: &[String]) -> Verdict {
        let worst = findings.iter().map(|finding| finding.severity).max();
        match worst {
            Some(Severity::Deny) => Verdict::Deny,
            Some(Severity::NeedsHuman) => Verdict::NeedsHuman,
            _ if !prerequisites.is_empty() => Verdict::AllowAfter,
            _ => Verdict::Allow,
        }
    }

    /// The name in JSON and on screen (`allow`, `allow-after`, `needs-human`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::AllowAfter => "allow-after",
            Verdict::NeedsHuman => "needs-human",
            Verdict::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Bytes in the largest binary unit that keeps the number readable: `9.6 GiB`, `512 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in seconds as people say it: `45 s`, `12 min`, `3.5 h`, `187 days`.
pub fn human_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    // Under 10 s, tenths matter: a 1.5 s detection window is not "2 s".
    if seconds < 9.95 {
        format!("{seconds:.1} s")
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 172_800.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.0} days", seconds / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            rule: "stale-facts",
            severity,
            subject: "db-1".into(),
            message: String::new(),
            alternative: None,
        }
    }

    fn severity() -> impl Strategy<Value = Severity> {
        prop_oneof![
            Just(Severity::Info),
            Just(Severity::Warn),
            Just(Severity::NeedsHuman),
            Just(Severity::Deny)
        ]
    }

    proptest! {
        #[test]
        fn adding_a_finding_never_improves_a_verdict(
            before in proptest::collection::vec(severity(), 0..6),
            added in severity(),
            prerequisites in proptest::collection::vec("[a-z]{1,5}", 0..2),
        ) {
            let mut findings: Vec<Finding> = before.into_iter().map(finding).collect();
            let verdict_before = Verdict::of(&findings, &prerequisites);
            findings.push(finding(added));
            prop_assert!(Verdict::of(&findings, &prerequisites) >= verdict_before);
        }
    }

    #[test]
    fn verdict_is_the_worst_finding_and_prerequisites_make_allow_after() {
        assert_eq!(Verdict::of(&[], &[]), Verdict::Allow);
        assert_eq!(Verdict::of(&[finding(Severity::Warn)], &[]), Verdict::Allow);
        assert_eq!(Verdict::of(&[], &["preserve".into()]), Verdict::AllowAfter);
        assert_eq!(
            Verdict::of(
                &[finding(Severity::NeedsHuman), finding(Severity::Warn)],
                &["x".into()]
            ),
            Verdict::NeedsHuman
        );
        assert_eq!(
            Verdict::of(
                &[finding(Severity::NeedsHuman), finding(Severity::Deny)],
                &[]
            ),
            Verdict::Deny
        );
    }

    #[test]
    fn numbers_read_like_a_person_wrote_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(10_307_921_510), "9.6 GiB");
        assert_eq!(human_duration(1.5), "1.5 s");
        assert_eq!(human_duration(9.96), "10 s");
        assert_eq!(human_duration(45.0), "45 s");
        assert_eq!(human_duration(240.0), "4 min");
        assert_eq!(human_duration(187.0 * 86_400.0), "187 days");
    }
}
