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

/// The kind of an event recording a change of a cluster's lease holder, or its release.
pub(crate) const LEASE: &str = "lease";

/// The kind of an event recording that automation paused on a target.
pub(crate) const PAUSE: &str = "pause";

/// The kind of an event recording a person's acknowledgement of a target.
pub(crate) const ACK: &str = "ack";

/// The kind of an event recording an escalation: something needs a person.
pub(crate) const ESCALATION: &str = "escalation";

/// The kind of an event recording one attempt to notify a person of an escalation.
pub(crate) const NOTIFIED: &str = "notified";

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

/// The body of a `lease` event: a lease taken (none before), taken over (from an expired lease,
/// possibly the same holder's), or released. Renewals append nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseEventRecord {
    pub(crate) version: u32,
    pub(crate) cluster: String,
    /// `taken`, `taken-over` or `released`.
    pub(crate) change: String,
    /// Who holds it now (`taken`, `taken-over`) or held it until now (`released`).
    pub(crate) holder: String,
    /// Until when it is held; `None` when released.
    pub(crate) expires_at_ms: Option<i64>,
    /// For `taken-over`: whose lease expired, and when.
    pub(crate) previous_holder: Option<String>,
    pub(crate) previous_expired_at_ms: Option<i64>,
}

/// The body of a `pause` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PauseEventRecord {
    pub(crate) version: u32,
    /// The pause's id.
    pub(crate) pause: i64,
    pub(crate) target: String,
    pub(crate) reason: String,
}

/// The body of an `ack` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AckEventRecord {
    pub(crate) version: u32,
    /// The ack's id.
    pub(crate) ack: i64,
    pub(crate) target: String,
    pub(crate) who: String,
    pub(crate) note: String,
    /// The pauses it cleared (possibly none).
    pub(crate) cleared: Vec<ClearedPauseRecord>,
}

/// A pause an ack cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClearedPauseRecord {
    pub(crate) pause: i64,
    pub(crate) paused_at_ms: i64,
    pub(crate) reason: String,
}

/// The body of an `escalation` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EscalationEventRecord {
    pub(crate) version: u32,
    /// The escalation's id.
    pub(crate) escalation: i64,
    pub(crate) cluster: String,
    pub(crate) subject: String,
    pub(crate) rule: String,
    pub(crate) message: String,
}

/// The body of a `notified` event: one attempt to notify a person of an escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotifiedEventRecord {
    pub(crate) version: u32,
    pub(crate) escalation: i64,
    /// The notification got through (`true`) or not.
    pub(crate) ok: bool,
    /// Why it did not.
    pub(crate) error: Option<String>,
}
