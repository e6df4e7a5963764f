//! Runs the trials one after another, says how each went, and sums them up per fault mix.

use std::collections::BTreeMap;

use crate::schedule::Plan;
use crate::trial::{self, Outcome, Settings};
use crate::verdict::End;

/// One trial's result: its outcome, or why the harness could not run it.
#[derive(Debug)]
pub struct TrialResult {
    /// The plan.
    pub plan: Plan,
    /// What it found, or the harness's error.
    pub outcome: Result<Outcome, String>,
}

impl TrialResult {
    /// Whether every check held (a harness error is no pass).
    pub fn passed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_ok_and(|outcome| outcome.failures().is_empty())
    }
}

/// Runs every plan in turn, printing a line per trial (and the details of a failed one) on stderr.
pub async fn run_all(plans: &[Plan], settings: &Settings) -> Vec<TrialResult> {
    let mut results = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        eprintln!("[{}/{}] {}", index + 1, plans.len(), plan.describe());
        let outcome = trial::run(plan, settings).await;
        match &outcome {
            Ok(outcome) => {
                let failures = outcome.failures();
                eprintln!(
                    "    {} in {:.0} s: {}, {} acked ({} unknown), {} sampled commits, lost {} on {}, daemon {:?}",
                    if failures.is_empty() { "pass" } else { "FAIL" },
                    outcome.seconds,
                    outcome.end.word(),
                    outcome.acknowledged,
                    outcome.unknown,
                    outcome.sampled,
                    outcome.lost.len(),
                    outcome.counted_on,
                    outcome.actions
                );
                for line in &outcome.applied {
                    eprintln!("      {line}");
                }
                if let End::Escalated(why) = &outcome.end {
                    for line in why {
                        eprintln!("      escalated: {line}");
                    }
                }
                if !failures.is_empty() {
                    eprintln!("    seed {} FAILED:", plan.seed);
                    for failure in &failures {
                        eprintln!("      - {failure}");
                    }
                    eprintln!(
                        "    logs: {}\n{}    reproduce: SEEDS={} bench/trials.sh",
                        outcome.logs.display(),
                        trial::daemon_tails(&outcome.logs),
                        plan.seed
                    );
                } else {
                    // A passed trial's lab is gone; its logs are not needed.
                    if let Some(dir) = outcome.logs.parent() {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                }
            }
            Err(error) => eprintln!(
                "    HARNESS ERROR (seed {}): {error}\n    reproduce: SEEDS={} bench/trials.sh",
                plan.seed, plan.seed
            ),
        }
        results.push(TrialResult {
            plan: plan.clone(),
            outcome,
        });
    }
    results
}

#[derive(Default)]
struct Mix {
    trials: usize,
    topologies: BTreeMap<&'static str, usize>,
    acked: usize,
    lost: usize,
    two_writers: usize,
    overwritten: usize,
    primary: usize,
    escalated: usize,
    stalled: usize,
    over_budget: usize,
    failovers: usize,
    failed: Vec<String>,
}

/// The results in markdown: one row per fault mix, then the failed seeds with what failed.
pub fn markdown(results: &[TrialResult]) -> String {
    let mut mixes: BTreeMap<String, Mix> = BTreeMap::new();
    let mut failures = Vec::new();
    for result in results {
        let mix = mixes.entry(result.plan.mix()).or_default();
        mix.trials += 1;
        *mix.topologies.entry(result.plan.topology).or_default() += 1;
        match &result.outcome {
            Ok(outcome) => {
                mix.acked += outcome.acknowledged;
                mix.lost += outcome.lost.len();
                mix.two_writers += outcome.two_writers.len();
                mix.overwritten += outcome.overwritten.len();
                mix.over_budget += outcome.over_budget.len();
                mix.failovers += outcome.actions.get("promote").copied().unwrap_or(0);
                match outcome.end {
                    End::Primary(_) => mix.primary += 1,
                    End::Escalated(_) => mix.escalated += 1,
                    End::SilentStall { .. } => mix.stalled += 1,
                }
                let failed = outcome.failures();
                if !failed.is_empty() {
                    mix.failed.push(result.plan.seed.to_string());
                    failures.push(format!(
                        "- seed {} ({}): {}",
                        result.plan.seed,
                        result.plan.describe(),
                        failed.join("; ")
                    ));
                }
            }
            Err(error) => {
                mix.failed.push(format!("{} (harness)", result.plan.seed));
                failures.push(format!(
                    "- seed {} ({}): harness error: {error}",
                    result.plan.seed,
                    result.plan.describe()
                ));
            }
        }
    }
    let passed = results.iter().filter(|result| result.passed()).count();
    let mut out = format!(
        "{passed} of {} trials passed every check.\n\n\
         | fault mix | trials | topologies | acked | lost | two-writer instants | replaced without intent | ended: primary / escalated / silent stall | over budget | daemon failovers | failed seeds |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        results.len()
    );
    for (name, mix) in &mixes {
        let topologies: Vec<String> = mix
            .topologies
            .iter()
            .map(|(topology, count)| format!("{topology} {count}"))
            .collect();
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} |\n",
            mix.trials,
            topologies.join(", "),
            mix.acked,
            mix.lost,
            mix.two_writers,
            mix.overwritten,
            mix.primary,
            mix.escalated,
            mix.stalled,
            mix.over_budget,
            mix.failovers,
            if mix.failed.is_empty() {
                "–".to_owned()
            } else {
                mix.failed.join(", ")
            }
        ));
    }
    if !failures.is_empty() {
        out.push_str("\nFailed:\n");
        out.push_str(&failures.join("\n"));
        out.push('\n');
    }
    out
}
