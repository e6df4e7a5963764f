//! `last-copy` (incident A): never destroy what may be the most advanced copy.
//!
//! Destroying a copy (rebuild, delete-data) MUST be denied unless another copy that answers now is
//! at or ahead of the destroyed copy's position (live, or last known when it does not answer). With
//! Misskey's DB-1 and DB-2 hung, no answering copy held their data: each was, as far as anyone
//! could prove, a last copy.

use crate::action::Action;
use crate::finding::{Finding, Severity};
use crate::interlock::view::View;
use crate::rule::LAST_COPY;

/// `ask`: every copy the action destroys.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let mut findings = Vec::new();
    for destroyed in action.impact().destroyed {
        let Some(known) = view.position(&destroyed) else {
            continue; // never observed: stale-facts asks for a person
        };
        let Some(cluster) = view.cluster_of(&destroyed) else {
            continue;
        };
        let mut others = Vec::new();
        let mut covered_by = None;
        for member in cluster
            .members
            .iter()
            .filter(|member| **member != destroyed)
        {
            let Some(state) = view.fresh(member) else {
                continue;
            };
            if View::at_or_ahead(&state.position, known.position) {
                covered_by = Some(member.clone());
                break;
            }
            others.push(format!("`{member}` at {}", state.position));
        }
        if covered_by.is_some() {
            continue;
        }
        let seen = if known.live {
            "is".to_owned()
        } else {
            format!("was last seen, {},", view.ago(known.seen_at))
        };
        let others = if others.is_empty() {
            "no other copy answers".to_owned()
        } else {
            format!("the copies that answer hold less: {}", others.join(", "))
        };
        findings.push(Finding {
            rule: LAST_COPY,
            severity: Severity::Deny,
            subject: destroyed.clone(),
            message: format!(
                "`{destroyed}` is, or may be, the most advanced copy of `{}`: it {seen} at {}; {others}",
                cluster.name, known.position
            ),
            alternative: Some(format!("keep `{destroyed}`; once it answers, copy from it, never over it")),
        });
    }
    findings
}
