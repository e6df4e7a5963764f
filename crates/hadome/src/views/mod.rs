//! What `check` and `status` answer, built once for both doors: the CLI prints it (`hadome check
//! --json`, `hadome status --json`), the daemon's API serves it (`GET /v1/check`, `GET
//! /v1/status`), so the two can never drift apart.
//!
//! Each builder takes a [`Seen`]: the estate, one pass's facts, the journal's history and `now`
//! (a fresh pass of the CLI's, or the daemon's latest), and the journal for what only it knows
//! (leases, holds, pauses, escalations, restore tests).

use hadome_core::estate::Estate;
use hadome_core::fact::{Facts, History, Timestamp};
use hadome_core::finding::{Finding, Severity};
use serde_json::{json, Value};

use crate::assessment::finding_json;

mod automation_status;
mod backups_status;
mod status;

pub(crate) use status::status;

/// One pass as the builders read it.
pub(crate) struct Seen<'a> {
    pub(crate) estate: &'a Estate,
    pub(crate) facts: &'a Facts,
    pub(crate) history: &'a History,
    pub(crate) now: Timestamp,
    pub(crate) journal: &'a hadome_journal::Journal,
}

/// One section of `status` (or all of it), as text and as JSON.
pub(crate) struct StatusSection {
    pub(crate) text: String,
    pub(crate) json: Value,
}

/// How many findings are critical (needs a human, or worse) and how many are warnings.
pub(crate) fn counts(findings: &[Finding]) -> (usize, usize) {
    let critical = findings
        .iter()
        .filter(|finding| finding.severity >= Severity::NeedsHuman)
        .count();
    let warnings = findings
        .iter()
        .filter(|finding| finding.severity == Severity::Warn)
        .count();
    (critical, warnings)
}

/// `check`'s JSON document (`version` 1): the counts and every finding, worst first.
pub(crate) fn check_json(estate: &Estate, findings: &[Finding]) -> Value {
    let (critical, warnings) = counts(findings);
    json!({
        "version": 1,
        "critical": critical,
        "warnings": warnings,
        "instances": estate.instances.len(),
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}
