//! The checks a trial must pass, on what it recorded: pure, so each is tested on its own.
//!
//! - `lost`: acknowledged commits missing on the settled primary;
//! - `two_writers`: a member committing again after another took over (`db-1 > db-2 > db-1`);
//! - `overwritten`: a member whose data directory was replaced with no journaled rebuild or
//!   restore of it;
//! - `end`: one primary, or an escalation that says why (never a silent stall);
//! - `budget`: the daemon's automated actions within their budgets (no action loop).

use std::collections::{BTreeMap, HashSet};

/// A write a member acknowledged: `at_ms` after the trial started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// When the acknowledgement arrived.
    pub at_ms: u64,
    /// The member that acknowledged it.
    pub node: String,
}

/// The sampling period: every member is asked to commit this often.
pub const PERIOD_MS: u64 = 100;

/// Every sign that two members accepted writes at once, described; empty when there was none.
///
/// The commits, in time order, form runs of one member each. A failover is one run after another
/// (`db-1 > db-2`), however fast the handoff: the old primary's last commit came before the new
/// one's first (seed 52 handed over in 96 ms, and its first check, "two members within one
/// 100 ms sample", called that two writers though the new primary held every commit of the old).
/// Two members accepting writes together interleave: one commits again after another did.
pub fn two_writers(commits: &[Commit]) -> Vec<String> {
    let mut sorted: Vec<&Commit> = commits.iter().collect();
    sorted.sort_by_key(|commit| commit.at_ms);
    let mut found = Vec::new();
    // Runs of one member: a member that accepts writes again after another did had two primaries
    // beside it unless it was demoted and promoted back, which a trial's budget never allows.
    let mut runs: Vec<(&str, u64)> = Vec::new();
    for commit in &sorted {
        if runs.last().map(|(node, _)| *node) != Some(commit.node.as_str()) {
            runs.push((commit.node.as_str(), commit.at_ms));
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for (index, (node, at)) in runs.iter().enumerate() {
        if !seen.insert(node) {
            let order: Vec<&str> = runs.iter().map(|(node, _)| *node).collect();
            found.push(format!(
                "`{node}` accepted writes again at {at} ms after another member had (order: {}; run {index})",
                order.join(" > ")
            ));
        }
    }
    found
}

/// The acknowledged ids missing from `present`, in acknowledgement order.
pub fn lost(acknowledged: &[i64], present: &HashSet<i64>) -> Vec<i64> {
    acknowledged
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect()
}

/// One intent of the journal, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentSeen {
    /// The action's name (`promote`, `restart`, `rebuild`, …).
    pub action: String,
    /// Its target.
    pub target: String,
    /// Who asked (`daemon` for the daemon's own).
    pub actor: String,
}

/// The actions that replace a member's data directory.
const REPLACING: [&str; 2] = ["rebuild", "restore-backup"];

/// The members whose data directory changed identity (`before`/`after`: node → inode, `None` when
/// there was none) with no journaled intent that replaces it.
pub fn overwritten(
    before: &BTreeMap<String, Option<u64>>,
    after: &BTreeMap<String, Option<u64>>,
    intents: &[IntentSeen],
) -> Vec<String> {
    let mut found = Vec::new();
    for (node, was) in before {
        let now = after.get(node).copied().flatten();
        if *was == now {
            continue;
        }
        let journaled = intents
            .iter()
            .any(|intent| &intent.target == node && REPLACING.contains(&intent.action.as_str()));
        if !journaled {
            found.push(format!(
                "`{node}`'s data directory was replaced (inode {was:?} → {now:?}) with no journaled rebuild or restore of it"
            ));
        }
    }
    found
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// One member accepted writes, alone, for the settle's stable time.
    Primary(String),
    /// No single primary, and the journal holds escalations saying why.
    Escalated(Vec<String>),
    /// No single primary and no escalation: the failure this check exists for.
    SilentStall {
        /// The members accepting writes at the end of the settle.
        writable: Vec<String>,
    },
}

impl End {
    /// How it ended, from the settle's result and the escalations journaled during the trial.
    pub fn of(settled: Option<String>, writable: Vec<String>, escalations: Vec<String>) -> End {
        match settled {
            Some(primary) => End::Primary(primary),
            None if !escalations.is_empty() => End::Escalated(escalations),
            None => End::SilentStall { writable },
        }
    }

    /// One word for the results table.
    pub fn word(&self) -> String {
        match self {
            End::Primary(node) => format!("primary {node}"),
            End::Escalated(_) => "escalated".to_owned(),
            End::SilentStall { .. } => "SILENT STALL".to_owned(),
        }
    }
}

/// The daemon's budgets (`hadome_core::estate::Budget`'s defaults, the lab's settings).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Restarts of one instance.
    pub restarts_per_target: usize,
    /// Rebuilds of one instance.
    pub rebuilds_per_target: usize,
    /// Failovers of the cluster.
    pub failovers: usize,
}

/// The daemon's actions beyond their budget, described.
pub fn over_budget(intents: &[IntentSeen], budget: Budget) -> Vec<String> {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut failovers = 0;
    for intent in intents.iter().filter(|intent| intent.actor == "daemon") {
        if intent.action == "promote" {
            failovers += 1;
        }
        *counts
            .entry((intent.action.as_str(), intent.target.as_str()))
            .or_default() += 1;
    }
    let mut found = Vec::new();
    if failovers > budget.failovers {
        found.push(format!(
            "{failovers} failovers, over the budget of {}",
            budget.failovers
        ));
    }
    for ((action, target), count) in counts {
        let limit = match action {
            "restart" => budget.restarts_per_target,
            "rebuild" => budget.rebuilds_per_target,
            _ => continue,
        };
        if count > limit {
            found.push(format!(
                "{count} {action}s of `{target}`, over the budget of {limit}"
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(at_ms: u64, node: &str) -> Commit {
        Commit {
            at_ms,
            node: node.to_owned(),
        }
    }

    #[test]
    fn a_failover_is_one_writer_after_another_and_a_split_brain_is_two_at_once() {
        let failover = [
            commit(0, "db-1"),
            commit(100, "db-1"),
            commit(1_900, "db-2"),
            commit(2_000, "db-2"),
        ];
        assert!(two_writers(&failover).is_empty());
        let fast_handoff = [
            commit(4_522, "db-1"),
            commit(4_618, "db-2"),
            commit(4_700, "db-2"),
        ];
        assert!(two_writers(&fast_handoff).is_empty());
        let together = [commit(0, "db-1"), commit(40, "db-2"), commit(150, "db-1")];
        let found = two_writers(&together);
        assert_eq!(found.len(), 1, "{found:#?}");
        let back = [
            commit(0, "db-1"),
            commit(2_000, "db-2"),
            commit(5_000, "db-1"),
        ];
        let found = two_writers(&back);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("db-1 > db-2 > db-1"), "{found:#?}");
    }

    #[test]
    fn lost_counts_what_the_primary_lacks() {
        let present: HashSet<i64> = [1, 2, 4].into_iter().collect();
        assert_eq!(lost(&[1, 2, 3, 4, 5], &present), vec![3, 5]);
        assert!(lost(&[1, 2], &present).is_empty());
    }

    fn intent(action: &str, target: &str, actor: &str) -> IntentSeen {
        IntentSeen {
            action: action.to_owned(),
            target: target.to_owned(),
            actor: actor.to_owned(),
        }
    }

    #[test]
    fn a_replaced_data_directory_needs_a_journaled_rebuild_of_that_member() {
        let before: BTreeMap<String, Option<u64>> =
            [("db-1".to_owned(), Some(10)), ("db-2".to_owned(), Some(20))].into();
        let after: BTreeMap<String, Option<u64>> =
            [("db-1".to_owned(), Some(10)), ("db-2".to_owned(), Some(21))].into();
        let found = overwritten(&before, &after, &[intent("rebuild", "db-3", "daemon")]);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("`db-2`"), "{found:?}");
        assert!(overwritten(&before, &after, &[intent("rebuild", "db-2", "daemon")]).is_empty());
        assert!(overwritten(&before, &before, &[]).is_empty());
    }

    #[test]
    fn an_end_without_a_primary_must_say_why() {
        assert_eq!(
            End::of(Some("db-2".into()), vec!["db-2".into()], vec![]),
            End::Primary("db-2".into())
        );
        assert!(matches!(
            End::of(None, vec![], vec!["no standby may be promoted".into()]),
            End::Escalated(_)
        ));
        assert!(matches!(
            End::of(None, vec![], vec![]),
            End::SilentStall { .. }
        ));
    }

    #[test]
    fn only_the_daemons_own_actions_count_against_its_budget() {
        let budget = Budget {
            restarts_per_target: 3,
            rebuilds_per_target: 2,
            failovers: 1,
        };
        let mut intents = vec![intent("promote", "db-2", "daemon")];
        intents.extend((0..3).map(|_| intent("restart", "db-1", "daemon")));
        intents.push(intent("rebuild", "db-3", "root (hadome run)"));
        assert!(over_budget(&intents, budget).is_empty());
        intents.push(intent("restart", "db-1", "daemon"));
        intents.push(intent("promote", "db-3", "daemon"));
        let found = over_budget(&intents, budget);
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
