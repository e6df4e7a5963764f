//! `overwrite-older` (incident A): never overwrite a copy with one that is behind it.
//!
//! A rebuild of `target` from `source` MUST be denied when the source's live position is behind
//! the target's position — the live one, or the journal's last known one when the target does not
//! answer (Misskey's DB-1 and DB-2 hung; the bot overwrote them with DB-3's months-old data). It is
//! `needs-human` when the copies diverged or cannot be compared. A stalled source is refused too:
//! such a copy is never a source. The finding gives both positions, how much WAL would be
//! discarded, and roughly how much time of writes that is; it offers the safe direction.

use crate::action::Action;
use crate::finding::{human_bytes, human_duration, Finding, Severity};
use crate::interlock::replication_stalled;
use crate::interlock::view::View;
use crate::position::PositionOrder;
use crate::rule::{OVERWRITE_OLDER, REPLICATION_STALLED};

/// `ask`: the rebuild's direction.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let Action::Rebuild { target, source } = action else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    if let Some((_, reason)) = replication_stalled::stall(view, source)
        .filter(|_| replication_stalled::is_stalled(view, source))
    {
        findings.push(Finding {
            rule: REPLICATION_STALLED,
            severity: Severity::Deny,
            subject: source.clone(),
            message: format!("`{source}` is no source: {reason}"),
            alternative: None,
        });
    }
    let (Some(source_state), Some(target_known)) = (view.fresh(source), view.position(target))
    else {
        // stale-facts says what is missing.
        return findings;
    };
    let source_position = &source_state.position;
    let target_position = target_known.position;
    let seen = if target_known.live {
        "is".to_owned()
    } else {
        format!("was last seen, {},", view.ago(target_known.seen_at))
    };
    let source_text = match source_state.last_replay_at {
        Some(at) => format!(
            "`{source}` is at {source_position} (replayed up to a commit from {})",
            view.ago(at)
        ),
        None => format!("`{source}` is at {source_position}"),
    };
    match source_position.compare(target_position) {
        PositionOrder::Ahead | PositionOrder::Equal => {}
        PositionOrder::Behind => {
            let bytes = target_position.lsn.bytes_after(source_position.lsn);
            let writes = match source_state.last_replay_at {
                Some(at) => format!(
                    ", about {} of writes",
                    human_duration(target_known.seen_at.seconds_since(at))
                ),
                None => String::new(),
            };
            findings.push(Finding {
                rule: OVERWRITE_OLDER,
                severity: Severity::Deny,
                subject: target.clone(),
                message: format!(
                    "{source_text}; `{target}` {seen} at {target_position}. Overwriting `{target}` discards {} of WAL{writes}",
                    human_bytes(bytes)
                ),
                alternative: Some(format!(
                    "rebuild `{source}` from `{target}`{}; hadome preserves `{source}`'s data dir first",
                    if target_known.live { "" } else { " once it answers" }
                )),
            });
        }
        PositionOrder::Divergent => {
            let fork = source_position
                .fork_point(target_position)
                .map_or(String::new(), |(timeline, lsn)| {
                    format!(" after {lsn} on timeline {timeline}")
                });
            findings.push(Finding {
                rule: OVERWRITE_OLDER,
                severity: Severity::NeedsHuman,
                subject: target.clone(),
                message: format!(
                    "{source_text}; `{target}` {seen} at {target_position}: the two diverged{fork}, each holds writes the other lacks"
                ),
                alternative: Some("a person decides which history to keep; hadome preserves the other's data dir".to_owned()),
            });
        }
        PositionOrder::Incomparable => {
            let reason = if source_position.system_identifier != target_position.system_identifier {
                format!(
                    "they belong to different clusters (system identifiers {} and {})",
                    source_position.system_identifier, target_position.system_identifier
                )
            } else {
                "a timeline history could not be read".to_owned()
            };
            findings.push(Finding {
                rule: OVERWRITE_OLDER,
                severity: Severity::NeedsHuman,
                subject: target.clone(),
                message: format!("hadome cannot compare `{source}` with `{target}`: {reason}"),
                alternative: None,
            });
        }
    }
    findings
}
