//! `timeline-follow` (incident B): standbys that will not, or did not, follow a timeline switch;
//! copies whose histories diverged.
//!
//! A standby with `recovery_target_timeline` other than `latest` MUST be flagged (a warning): after
//! a promotion upstream it stops replicating, silently. A standby on an older timeline than its
//! cluster's newest, not streaming, MUST be critical: it did not follow. Two copies whose positions
//! are divergent MUST be critical: neither may overwrite the other without a person.

use crate::finding::{Finding, Severity};
use crate::interlock::view::View;
use crate::position::PositionOrder;
use crate::rule::TIMELINE_FOLLOW;

/// `check`: the settings, the switches not followed, the divergences.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for cluster in &view.estate.clusters {
        let newest = view.newest_timeline(cluster);
        for member in &cluster.members {
            let Some(state) = view.fresh(member) else {
                continue;
            };
            if !state.in_recovery {
                continue;
            }
            let streaming = view.streams(member);
            match newest {
                Some((timeline, leader)) if timeline > state.position.timeline && !streaming => {
                    let switch = view
                        .position(leader)
                        .and_then(|known| known.position.history.as_ref())
                        .and_then(|history| history.iter().find(|switch| switch.timeline == state.position.timeline))
                        .map_or(String::new(), |switch| format!(" at {}", switch.switch_lsn));
                    findings.push(Finding {
                        rule: TIMELINE_FOLLOW,
                        severity: Severity::Deny,
                        subject: member.clone(),
                        message: format!(
                            "`{member}` is on timeline {} at {}; `{leader}` switched to timeline {timeline}{switch}: `{member}` did not follow and stopped replicating (recovery_target_timeline = '{}')",
                            state.position.timeline, state.position.lsn, state.recovery_target_timeline
                        ),
                        alternative: Some(format!("rebuild `{member}` from `{leader}`, with recovery_target_timeline = 'latest'")),
                    });
                }
                _ if state.recovery_target_timeline != "latest" => findings.push(Finding {
                    rule: TIMELINE_FOLLOW,
                    severity: Severity::Warn,
                    subject: member.clone(),
                    message: format!(
                        "`{member}` will not follow a timeline switch: recovery_target_timeline = '{}'",
                        state.recovery_target_timeline
                    ),
                    alternative: Some("set recovery_target_timeline = 'latest' and restart it".to_owned()),
                }),
                _ => {}
            }
        }
        // Divergence between any two known copies (fresh or last known).
        for (index, first) in cluster.members.iter().enumerate() {
            for second in &cluster.members[index + 1..] {
                let (Some(a), Some(b)) = (view.position(first), view.position(second)) else {
                    continue;
                };
                if a.position.compare(b.position) == PositionOrder::Divergent {
                    let fork = a
                        .position
                        .fork_point(b.position)
                        .map_or(String::new(), |(timeline, lsn)| {
                            format!(" after {lsn} on timeline {timeline}")
                        });
                    findings.push(Finding {
                        rule: TIMELINE_FOLLOW,
                        severity: Severity::Deny,
                        subject: format!("{first}, {second}"),
                        message: format!(
                            "`{first}` ({}) and `{second}` ({}) diverged{fork}: each holds writes the other lacks",
                            a.position, b.position
                        ),
                        alternative: Some("a person decides which history to keep; hadome preserves the other's data dir".to_owned()),
                    });
                }
            }
        }
    }
    findings
}
