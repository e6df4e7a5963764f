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

/// `ask restore-backup`: the backup's newest copy must not be behind the target.
///
/// A restore of `target` from a backup MUST be denied when the position hadome recorded when it
/// made the backup's newest copy is behind the target's position (live, or last known), and is
/// `needs-human` when hadome did not make that copy (no recorded position), or the two cannot be
/// compared. A dump's position is where its snapshot was taken.
pub(crate) fn assess_restore(view: &View, action: &Action) -> Vec<Finding> {
    let Action::RestoreBackup { target, backup } = action else {
        return Vec::new();
    };
    let newest = view
        .facts
        .backups
        .get(backup)
        .and_then(|observation| observation.copies.as_ref().ok())
        .and_then(|copies| copies.first());
    let Some(newest) = newest else {
        // backup-trust says it has no copy.
        return Vec::new();
    };
    let made = view
        .history
        .backups
        .get(backup)
        .and_then(|history| history.made.get(&newest.path));
    let Some(backup_position) = made.and_then(|made| made.position.as_ref()) else {
        return vec![Finding {
            rule: OVERWRITE_OLDER,
            severity: Severity::NeedsHuman,
            subject: target.clone(),
            message: format!(
                "hadome does not know how far `{}` (the newest copy of `{backup}`) goes: it did not make it, so it recorded no position",
                newest.path.display()
            ),
            alternative: Some(format!(
                "make copies with `hadome backup run {backup}`, which records the source's position"
            )),
        }];
    };
    let Some(target_known) = view.position(target) else {
        // stale-facts says what is missing.
        return Vec::new();
    };
    let target_position = target_known.position;
    let seen = if target_known.live {
        "is".to_owned()
    } else {
        format!("was last seen, {},", view.ago(target_known.seen_at))
    };
    let made_at = made.map_or_else(String::new, |made| {
        format!(", made {}", view.ago(made.made_at))
    });
    let backup_text = format!(
        "backup `{backup}` (`{}`{made_at}) is at {backup_position}",
        newest.path.display()
    );
    match backup_position.compare(target_position) {
        PositionOrder::Ahead | PositionOrder::Equal => Vec::new(),
        PositionOrder::Behind => vec![Finding {
            rule: OVERWRITE_OLDER,
            severity: Severity::Deny,
            subject: target.clone(),
            message: format!(
                "{backup_text}; `{target}` {seen} at {target_position}. Restoring it over `{target}` discards {} of WAL written since",
                human_bytes(target_position.lsn.bytes_after(backup_position.lsn))
            ),
            alternative: Some(format!(
                "keep `{target}`; to test the backup, `hadome backup restore-test {backup}` restores it into a scratch server"
            )),
        }],
        PositionOrder::Divergent | PositionOrder::Incomparable => vec![Finding {
            rule: OVERWRITE_OLDER,
            severity: Severity::NeedsHuman,
            subject: target.clone(),
            message: format!(
                "{backup_text}; `{target}` {seen} at {target_position}: hadome cannot tell that the backup holds everything `{target}` does"
            ),
            alternative: None,
        }],
    }
}
