//! One journal event in words: what the timeline's entry says, and what makes two entries the
//! same for condensing.
//!
//! The bodies are the journal's versioned records (`hadome-journal`'s `record.rs` and the modules
//! that append each kind); they are read here as JSON, field by field, so that an event of a kind
//! or a version this hadome does not know, or a body missing a field, is shown by its kind and
//! subject instead of failing the whole timeline.

use std::collections::BTreeMap;

use hadome_core::fact::Timestamp;
use hadome_core::finding::human_bytes;
use hadome_journal::JournalEvent;
use serde_json::Value;

use super::{clock, duration_between};

/// An event in words.
pub(super) struct Described {
    /// The entry's text (without its time and subject).
    pub(super) text: String,
    /// Two entries of one subject with the same key say the same thing (their numbers may
    /// differ: a verdict's ages, a fact's LSN).
    pub(super) key: String,
    /// Entries that may flap between two keys share a group (a fact's summaries, one rule's
    /// finding raised and cleared, a member down and back), with the words that say so.
    pub(super) flap: Option<Flap>,
    /// An escalation's id, so that its notifications fold into it.
    pub(super) escalation: Option<i64>,
}

/// What a run of entries alternating between two keys becomes.
pub(super) struct Flap {
    /// The group: only entries of one group flap together.
    pub(super) group: String,
    /// The text of the condensed entry.
    pub(super) text: String,
}

/// A notification attempt, folded into its escalation's entry.
pub(super) struct Notified {
    pub(super) escalation: i64,
    pub(super) ok: bool,
    pub(super) error: Option<String>,
}

/// What earlier events of the window tell about later ones: each intent's action, so that an
/// outcome says what ended.
#[derive(Default)]
pub(super) struct Context {
    actions: BTreeMap<i64, String>,
}

fn text<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)?.as_str()
}

fn integer(body: &Value, field: &str) -> Option<i64> {
    body.get(field)?.as_i64()
}

fn flag(body: &Value, field: &str) -> Option<bool> {
    body.get(field)?.as_bool()
}

/// A `notified` event of the version this hadome reads; `None` for any other event.
pub(super) fn notified(event: &JournalEvent) -> Option<Notified> {
    if event.kind != hadome_journal::KIND_NOTIFIED || integer(&event.body, "version") != Some(1) {
        return None;
    }
    Some(Notified {
        escalation: integer(&event.body, "escalation")?,
        ok: flag(&event.body, "ok")?,
        error: text(&event.body, "error").map(str::to_owned),
    })
}

/// `event` in words. An unknown kind or version, or a body without a field its kind has, is
/// shown by its kind alone.
pub(super) fn describe(event: &JournalEvent, context: &mut Context) -> Described {
    let version = integer(&event.body, "version");
    let known = if version == Some(1) {
        known(event, context)
    } else {
        None
    };
    known.unwrap_or_else(|| {
        let why = if !is_known_kind(&event.kind) {
            "a kind of event this hadome does not know".to_owned()
        } else {
            match version {
                Some(1) => "a record this hadome cannot read".to_owned(),
                Some(version) => {
                    format!("record version {version}, which this hadome does not read")
                }
                None => "a record without a version".to_owned(),
            }
        };
        plain(format!("{} ({why})", event.kind), format!("#{}", event.id))
    })
}

fn is_known_kind(kind: &str) -> bool {
    use hadome_journal::*;
    [
        KIND_FACT_CHANGED,
        KIND_FINDING_RAISED,
        KIND_FINDING_CLEARED,
        KIND_VERDICT,
        KIND_INTENT,
        KIND_OVERRIDE,
        KIND_STEP,
        KIND_OUTCOME,
        KIND_LEASE,
        KIND_PAUSE,
        KIND_ACK,
        KIND_ESCALATION,
        KIND_NOTIFIED,
        KIND_BACKUP_MADE,
        KIND_BACKUP_FAILED,
        KIND_RESTORE_TEST,
        KIND_FAILOVER,
        KIND_HOST_BOOT,
        KIND_IMAGE,
        KIND_MEMBER_DOWN,
        KIND_MEMBER_BACK,
        KIND_API_REFUSED,
    ]
    .contains(&kind)
}

/// An entry that flaps with nothing and folds nothing.
fn plain(text: String, key: String) -> Described {
    Described {
        text,
        key,
        flap: None,
        escalation: None,
    }
}

/// `ok` or `FAILED`, as the entries say it.
fn ok_word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}

/// A version-1 record of a kind this hadome reads; `None` when a field is missing.
fn known(event: &JournalEvent, context: &mut Context) -> Option<Described> {
    use hadome_journal::*;
    let body = &event.body;
    let kind = event.kind.as_str();
    Some(if kind == KIND_FACT_CHANGED {
        let after = text(body, "after")?;
        let before = text(body, "before");
        let mut words = match before {
            Some(before) => format!("{before} → {after}"),
            None => format!("first seen: {after}"),
        };
        if let Some(lsn) = body
            .get("position")
            .and_then(|position| text(position, "lsn"))
        {
            words.push_str(&format!(" · at {lsn}"));
        }
        Described {
            text: words,
            key: format!("{}|{after}", before.unwrap_or("")),
            flap: before.map(|before| Flap {
                group: "fact".to_owned(),
                text: format!("flapping: `{before}` ⇄ `{after}`"),
            }),
            escalation: None,
        }
    } else if kind == KIND_FINDING_RAISED {
        let rule = text(body, "rule")?;
        let mut words = format!(
            "finding raised · {rule} ({}): {}",
            text(body, "severity")?,
            text(body, "message")?
        );
        if let Some(alternative) = text(body, "alternative") {
            words.push_str(&format!(" → {alternative}"));
        }
        Described {
            text: words,
            key: format!("raised|{rule}"),
            flap: Some(Flap {
                group: format!("finding|{rule}"),
                text: format!(
                    "flapping: finding {rule} raised and cleared again and again; first: {}",
                    text(body, "message")?
                ),
            }),
            escalation: None,
        }
    } else if kind == KIND_FINDING_CLEARED {
        let rule = text(body, "rule")?;
        let raised = Timestamp(integer(body, "raised_at_ms")?);
        Described {
            text: format!(
                "finding cleared · {rule} (raised {}, open {})",
                clock(raised),
                duration_between(raised, event.at)
            ),
            key: format!("cleared|{rule}"),
            flap: Some(Flap {
                group: format!("finding|{rule}"),
                text: format!("flapping: finding {rule} cleared and raised again and again"),
            }),
            escalation: None,
        }
    } else if kind == KIND_VERDICT {
        let action = text(body.get("action")?, "text")?;
        let verdict = text(body, "verdict")?;
        let mut words = format!("verdict · {action}: {verdict}");
        let mut rules = Vec::new();
        for (index, finding) in body.get("findings")?.as_array()?.iter().enumerate() {
            let rule = text(finding, "rule")?;
            words.push_str(if index == 0 { " — " } else { "; " });
            words.push_str(&format!("{rule}: {}", text(finding, "message")?));
            rules.push(rule);
        }
        plain(
            words,
            format!("verdict|{action}|{verdict}|{}", rules.join(",")),
        )
    } else if kind == KIND_INTENT {
        let intent = integer(body, "intent")?;
        let action = text(body.get("action")?, "text")?;
        context.actions.insert(intent, action.to_owned());
        let mut words = format!(
            "intent #{intent} · {action}, by {} (verdict {})",
            text(body, "actor")?,
            text(body, "verdict")?
        );
        for item in body.get("overrides")?.as_array()? {
            words.push_str(&format!(", overriding {}", text(item, "rule")?));
        }
        let plan = body.get("plan")?.as_array()?;
        for (index, step) in plan.iter().enumerate() {
            words.push_str(if index == 0 { "; plan: " } else { "; " });
            words.push_str(&format!("{}. {}", index + 1, step.as_str()?));
        }
        plain(words, format!("intent|{intent}"))
    } else if kind == KIND_OVERRIDE {
        let rule = text(body, "rule")?;
        plain(
            format!(
                "override · {rule} by {}: {}",
                text(body, "actor")?,
                text(body, "reason")?
            ),
            format!("override|{}|{rule}", integer(body, "intent")?),
        )
    } else if kind == KIND_STEP {
        let step = text(body, "step")?;
        let ok = flag(body, "ok")?;
        let intent = integer(body, "intent")?;
        plain(
            format!("step {} · {step}: {}", ok_word(ok), text(body, "detail")?),
            format!("step|{intent}|{step}|{ok}"),
        )
    } else if kind == KIND_OUTCOME {
        let intent = integer(body, "intent")?;
        let ok = flag(body, "ok")?;
        let action = context.actions.get(&intent).map_or_else(
            || format!("intent #{intent}"),
            |action| format!("{action} (#{intent})"),
        );
        plain(
            format!(
                "outcome {} · {action}: {}",
                ok_word(ok),
                text(body, "detail")?
            ),
            format!("outcome|{intent}"),
        )
    } else if kind == KIND_LEASE {
        let change = text(body, "change")?;
        let holder = text(body, "holder")?;
        let words = match change {
            "taken" => format!("lease taken by {holder}"),
            "released" => format!("lease released by {holder}"),
            "taken-over" => {
                let previous = text(body, "previous_holder").unwrap_or("?");
                match integer(body, "previous_expired_at_ms") {
                    Some(expired) => format!(
                        "lease taken over by {holder} from {previous}, whose lease expired at {}",
                        clock(Timestamp(expired))
                    ),
                    None => format!("lease taken over by {holder} from {previous}"),
                }
            }
            other => format!("lease {other} by {holder}"),
        };
        plain(words, format!("lease|{change}|{holder}"))
    } else if kind == KIND_PAUSE {
        let reason = text(body, "reason")?;
        plain(
            format!("automation paused · {reason}"),
            format!("pause|{reason}"),
        )
    } else if kind == KIND_ACK {
        let mut words = format!("ack by {}", text(body, "who")?);
        let note = text(body, "note")?;
        if !note.is_empty() {
            words.push_str(&format!(": {note}"));
        }
        match body.get("cleared")?.as_array()?.len() {
            0 => {}
            1 => words.push_str(" (clears 1 pause)"),
            count => words.push_str(&format!(" (clears {count} pauses)")),
        }
        plain(words, format!("ack|{}", integer(body, "ack")?))
    } else if kind == KIND_ESCALATION {
        let rule = text(body, "rule")?;
        let message = text(body, "message")?;
        Described {
            text: format!("escalation · {rule}: {message}"),
            key: format!("escalation|{rule}|{message}"),
            flap: None,
            escalation: Some(integer(body, "escalation")?),
        }
    } else if kind == KIND_NOTIFIED {
        // A notification whose escalation is not in the window (those that are fold into it).
        let escalation = integer(body, "escalation")?;
        let ok = flag(body, "ok")?;
        let words = match text(body, "error") {
            Some(error) if !ok => {
                format!("notification of escalation #{escalation} failed: {error}")
            }
            _ => format!("notification of escalation #{escalation} delivered"),
        };
        plain(words, format!("notified|{escalation}|{ok}"))
    } else if kind == KIND_BACKUP_MADE {
        let path = text(body, "path")?;
        let size = body.get("size_bytes")?.as_u64()?;
        plain(
            format!(
                "backup made · {path}, {}, {}",
                human_bytes(size),
                text(body, "structure")?
            ),
            format!("backup-made|{path}"),
        )
    } else if kind == KIND_BACKUP_FAILED {
        let stage = text(body, "stage")?;
        let detail = text(body, "detail")?;
        plain(
            format!("backup FAILED · at {stage}: {detail}"),
            format!("backup-failed|{stage}|{detail}"),
        )
    } else if kind == KIND_RESTORE_TEST {
        let ok = flag(body, "ok")?;
        let detail = text(body, "detail")?;
        plain(
            format!(
                "restore test {} · {}: {detail}",
                if ok { "passed" } else { "FAILED" },
                text(body, "path")?
            ),
            format!("restore-test|{ok}|{detail}"),
        )
    } else if kind == KIND_FAILOVER {
        let phase = text(body, "phase")?;
        let mut words = format!(
            "failover #{} · {phase}: old primary {}",
            integer(body, "intent")?,
            text(body, "old_primary")?
        );
        if flag(body, "fenced")? {
            words.push_str(" (fenced)");
        }
        if let Some(new) = text(body, "new_primary") {
            words.push_str(&format!(", new primary {new}"));
        }
        let stopped = text(body, "stopped_because")?;
        if !stopped.is_empty() {
            words.push_str(&format!("; stopped: {stopped}"));
        }
        plain(
            words,
            format!("failover|{}|{phase}", integer(body, "intent")?),
        )
    } else if kind == KIND_HOST_BOOT {
        let boot = text(body, "boot_id")?;
        plain(
            format!(
                "host booted · boot {boot} (seen by {})",
                text(body, "seen_by")?
            ),
            format!("host-boot|{boot}"),
        )
    } else if kind == KIND_IMAGE {
        let name = text(body, "name")?;
        plain(
            format!(
                "final image taken · {name}, {}",
                if flag(body, "verified")? {
                    "verified"
                } else {
                    "NOT verified"
                }
            ),
            format!("image|{name}"),
        )
    } else if kind == KIND_MEMBER_DOWN || kind == KIND_MEMBER_BACK {
        let down = kind == KIND_MEMBER_DOWN;
        let last_healthy = match integer(body, "last_healthy_at_ms") {
            Some(at) => format!("last healthy {}", clock(Timestamp(at))),
            None => "never seen healthy".to_owned(),
        };
        Described {
            text: if down {
                format!("quorum member down · {last_healthy}")
            } else {
                "quorum member healthy again".to_owned()
            },
            key: kind.to_owned(),
            flap: Some(Flap {
                group: "member".to_owned(),
                text: "flapping: quorum member down and back again and again".to_owned(),
            }),
            escalation: None,
        }
    } else if kind == KIND_API_REFUSED {
        let (method, path, verb) = (
            text(body, "method")?,
            text(body, "path")?,
            text(body, "verb")?,
        );
        let who = match text(body, "token") {
            Some(token) => format!("token `{token}`"),
            None => "no known token".to_owned(),
        };
        plain(
            format!(
                "API refused · {method} {path} ({verb}) from {}, {who}: {} (HTTP {})",
                text(body, "peer")?,
                text(body, "reason")?,
                integer(body, "status")?
            ),
            format!("api-refused|{method}|{path}|{}", text(body, "reason")?),
        )
    } else {
        return None;
    })
}
