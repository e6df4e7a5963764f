//! Issue 17: seeds of the randomized fault trials (`bench/trials.sh`, `docs/trials.md`) that once
//! failed, kept as tests. Each runs its seed's plan exactly as the harness does, on a fresh lab with
//! this build's daemon, and asserts every check held.

use std::time::Duration;

use hadome_trials::trial::{self, Settings};
use hadome_trials::verdict::End;

use crate::support::{hadome_binary, scratch};

async fn trial_passes(seed: u64) -> trial::Outcome {
    let plan = trial::plan(seed).expect("the seed's plan");
    let scratch = scratch();
    let settings = Settings {
        hadome: hadome_binary(),
        scratch: scratch.path().to_path_buf(),
        hold: Duration::from_secs(4),
        settle: Duration::from_secs(60),
        stable: Duration::from_secs(3),
    };
    let outcome = trial::run(&plan, &settings)
        .await
        .unwrap_or_else(|error| panic!("{}: the harness failed: {error}", plan.describe()));
    let failures = outcome.failures();
    assert!(
        failures.is_empty(),
        "{}:\n{failures:#?}\n{:#?}\n{}",
        plan.describe(),
        outcome.applied,
        trial::daemon_tails(&outcome.logs)
    );
    outcome
}

/// Seed 1: mackerel (db002 cascaded from db001), its primary crashed under a write load. Once, the
/// daemon held back in `suspect` for the whole settle with nothing journaled: a silent stall, with
/// the last acknowledged commit on the crashed primary's disk only. The primary's last list of
/// standbys was empty (its WAL senders died a moment before its postmaster answered for the last
/// time), so every standby counted as a witness, and db002, streaming from db001, "still heard"
/// the dead primary. A standby seen cascaded is no witness now; and a primary hadome cannot reach
/// for 30 s while it holds back is escalated (`LONG_SUSPICION_SECONDS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_1_a_crashed_mackerel_primary_is_restarted_or_escalated_never_left_silent() {
    let outcome = trial_passes(1).await;
    assert!(
        matches!(&outcome.end, End::Primary(node) if node == "db000")
            || matches!(outcome.end, End::Escalated(_)),
        "{:?}",
        outcome.end
    );
}

/// Seed 35: mackerel, the link db000 → db001 cut, db001 hung, then db000 crashed. db000 listed no
/// standby, db002's receiver streamed from db001 once it resumed: the same cascade taken for a
/// witness, `suspect` for the whole settle, and 5776 acknowledged commits unavailable on the
/// crashed primary. Now the crash is proven (db001 lost it, db002 is no witness) and db000 is
/// restarted in place with every commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_35_a_cascade_is_no_witness_when_the_crashed_primary_listed_nobody() {
    let outcome = trial_passes(35).await;
    assert_eq!(outcome.end, End::Primary("db000".to_owned()));
    assert_eq!(
        outcome.actions.get("restart"),
        Some(&1),
        "{:?}",
        outcome.actions
    );
}

/// Seed 21: mackerel (asynchronous only), its primary's postmaster hung under a write load. The
/// daemon fenced db000 and promoted db001, the most advanced standby, and 1 acknowledged commit
/// was lost: db000 had acknowledged it without waiting for any standby. Now a failover needs a
/// standby proven to hold every acknowledged commit, which an asynchronous cluster never has:
/// the daemon escalates instead (`async_failover = "escalate"`, the default) and db000 comes
/// back with every commit once it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_21_an_asynchronous_primary_that_hung_is_escalated_not_failed_over() {
    let outcome = trial_passes(21).await;
    assert_eq!(
        outcome.actions.get("promote"),
        None,
        "{:?}",
        outcome.actions
    );
    assert!(
        matches!(&outcome.end, End::Primary(node) if node == "db000")
            || matches!(outcome.end, End::Escalated(_)),
        "{:?}",
        outcome.end
    );
}

/// Seed 62: mackerel, its primary hung, then cut off from hadome (`isolate`), a standby stopped
/// during the failover. 6 acknowledged commits were lost the same way as in seed 21; now nothing
/// is promoted and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_62_an_asynchronous_cluster_loses_nothing_to_a_failover() {
    let outcome = trial_passes(62).await;
    assert_eq!(
        outcome.actions.get("promote"),
        None,
        "{:?}",
        outcome.actions
    );
    assert!(outcome.lost.is_empty(), "{:?}", outcome.lost);
}
