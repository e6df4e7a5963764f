//! The JSON bodies of journal events: hadome's own versioned records, converted from core types.
//!
//! The core has no serde by design; these records are the journal's format, and each carries
//! `"version": 1`. A reader matches on `version` before anything else, so a later hadome can change
//! a record without misreading an old one. Numbers a JavaScript reader would round (system
//! identifiers, LSNs) are text: a system identifier in decimal, an LSN as PostgreSQL writes it.

use hadome_core::action::Action;
use hadome_core::fact::InstanceState;
use hadome_core::finding::{Finding, Verdict};
use hadome_core::position::DataPosition;
use serde::{Deserialize, Serialize};

/// The version of every record below.
pub(crate) const RECORD_VERSION: u32 = 1;

/// The kind of an event recording a change of an instance's summary.
pub(crate) const FACT_CHANGED: &str = "fact-changed";

/// The kind of an event recording a verdict.
pub(crate) const VERDICT: &str = "verdict";

/// The kind of an event recording the intent to carry out an action, before anything is done.
pub(crate) const INTENT: &str = "intent";

/// The kind of an event recording one overridden rule of an intent.
pub(crate) const OVERRIDE: &str = "override";

/// The kind of an event recording one step of an intent.
pub(crate) const STEP: &str = "step";

/// The kind of an event recording how an intent ended.
pub(crate) const OUTCOME: &str = "outcome";

/// The body of a `fact-changed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FactChangedRecord {
    pub(crate) version: u32,
    pub(crate) instance: String,
    /// The summary of the previous pass, `None` the first time the instance is seen.
    pub(crate) before: Option<String>,
    pub(crate) after: String,
    /// Where its data stood, when it answered.
    pub(crate) position: Option<PositionRecord>,
}

/// A data position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PositionRecord {
    /// In decimal.
    pub(crate) system_identifier: String,
    pub(crate) timeline: u32,
    /// `X/Y`.
    pub(crate) lsn: String,
    /// The timeline switches that led to `timeline`; `None` when unknown.
    pub(crate) history: Option<Vec<SwitchRecord>>,
}

/// One timeline switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SwitchRecord {
    pub(crate) timeline: u32,
    /// `X/Y`.
    pub(crate) switch_lsn: String,
}

/// The body of a `verdict` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VerdictRecord {
    pub(crate) version: u32,
    pub(crate) action: ActionRecord,
    /// `allow`, `allow-after`, `needs-human`, `deny`.
    pub(crate) verdict: String,
    pub(crate) findings: Vec<FindingRecord>,
}

/// An action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActionRecord {
    /// As people read it: `rebuild db-1 from db-3`.
    pub(crate) text: String,
    /// As the command line names it: `rebuild`.
    pub(crate) name: String,
    pub(crate) target: String,
    /// Where a rebuild copies from.
    pub(crate) source: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FindingRecord {
    pub(crate) rule: String,
    /// `info`, `warn`, `needs-human`, `deny`.
    pub(crate) severity: String,
    pub(crate) subject: String,
    pub(crate) message: String,
    pub(crate) alternative: Option<String>,
}

/// The body of an `intent` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IntentEventRecord {
    pub(crate) version: u32,
    /// The intent's id, which its `step`, `override` and `outcome` events name.
    pub(crate) intent: i64,
    pub(crate) action: ActionRecord,
    /// The verdict as assessed: `allow`, `allow-after`, `needs-human`, `deny`.
    pub(crate) verdict: String,
    /// The plan's steps, in order.
    pub(crate) plan: Vec<String>,
    pub(crate) overrides: Vec<OverrideRecord>,
    /// Who asked.
    pub(crate) actor: String,
}

/// An overridden rule, and why. Also the element of the `intents.overrides` JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OverrideRecord {
    pub(crate) rule: String,
    pub(crate) reason: String,
}

/// The body of an `override` event: one per overridden rule, notified and audited on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OverrideEventRecord {
    pub(crate) version: u32,
    pub(crate) intent: i64,
    pub(crate) rule: String,
    pub(crate) reason: String,
    /// Who overrode it.
    pub(crate) actor: String,
    pub(crate) action: ActionRecord,
}

/// The body of a `step` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepEventRecord {
    pub(crate) version: u32,
    pub(crate) intent: i64,
    pub(crate) step: String,
    /// Done (`true`) or failed.
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

/// The body of an `outcome` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutcomeEventRecord {
    pub(crate) version: u32,
    pub(crate) intent: i64,
    /// Succeeded (`true`) or failed.
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

impl ActionRecord {
    /// The record of `action`.
    pub(crate) fn of(action: &Action) -> Self {
        ActionRecord {
            text: action.to_string(),
            name: action.name().to_owned(),
            target: action.target().to_owned(),
            source: match action {
                Action::Rebuild { source, .. } => Some(source.clone()),
                _ => None,
            },
        }
    }
}

impl FactChangedRecord {
    /// The record of `instance` going from `before` to `after`, with its position when it answered.
    pub(crate) fn new(
        instance: &str,
        before: Option<String>,
        after: String,
        state: Option<&InstanceState>,
    ) -> Self {
        FactChangedRecord {
            version: RECORD_VERSION,
            instance: instance.to_owned(),
            before,
            after,
            position: state.map(|state| PositionRecord::from(&state.position)),
        }
    }
}

impl From<&DataPosition> for PositionRecord {
    fn from(position: &DataPosition) -> Self {
        PositionRecord {
            system_identifier: position.system_identifier.to_string(),
            timeline: position.timeline,
            lsn: position.lsn.to_string(),
            history: position.history.as_ref().map(|history| {
                history
                    .iter()
                    .map(|switch| SwitchRecord {
                        timeline: switch.timeline,
                        switch_lsn: switch.switch_lsn.to_string(),
                    })
                    .collect()
            }),
        }
    }
}

impl VerdictRecord {
    /// The record of `verdict` on `action`, for `findings`.
    pub(crate) fn new(action: &Action, verdict: Verdict, findings: &[Finding]) -> Self {
        VerdictRecord {
            version: RECORD_VERSION,
            action: ActionRecord::of(action),
            verdict: verdict.as_str().to_owned(),
            findings: findings
                .iter()
                .map(|finding| FindingRecord {
                    rule: finding.rule.to_owned(),
                    severity: finding.severity.as_str().to_owned(),
                    subject: finding.subject.clone(),
                    message: finding.message.clone(),
                    alternative: finding.alternative.clone(),
                })
                .collect(),
        }
    }
}
