//! Issue 13, points 2 and 4, on real etcd (`hadome lab up etcd3`, Debian's etcd 3.4), through the
//! real binary: the journal's memory of each member ("down for …" across separate hadome
//! processes), `hadome advise` (wait or replace) and `ask replace-member` with the quorum's
//! arithmetic, and a member's `run` through its own commands. Each test has its own lab; a guard
//! tears it down by PID even when the test fails; waits poll with deadlines.

use std::time::Duration;

use crate::etcd_lab::{poll, EtcdLab};
use crate::support::show;

/// What these tests ask of an etcd3 lab beyond `etcd_lab`'s helper.
impl EtcdLab {
    /// `hadome advise MEMBER --json`, parsed.
    fn advise(&self, member: &str) -> (Option<i32>, serde_json::Value) {
        let output = self.hadome(&["advise", member, "--json"]);
        let advice = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("advise --json: {error}: {}", show(&output)));
        (output.status.code(), advice)
    }

    /// Runs `hadome check` (each a pass that journals the members' health) until `advise
    /// MEMBER` says `decision`.
    fn passes_until(&self, member: &str, decision: &str) -> serde_json::Value {
        poll(
            &format!("`advise {member}` to say {decision}"),
            Duration::from_secs(60),
            || {
                let check = self.hadome(&["check"]);
                assert!(check.status.code().is_some(), "{}", show(&check));
                let (_, advice) = self.advise(member);
                (advice["decision"] == decision).then_some(advice)
            },
        )
    }
}

fn reasons(advice: &serde_json::Value) -> String {
    advice["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The runbook's decision point on real etcd: etcd-3 stopped (after it came back once before),
/// `advise` says wait with its reasons, read from a journal that separate hadome processes
/// wrote; the refusal of `ask stop etcd-2` says how long etcd-3 has been down; `ask
/// replace-member etcd-3` warns with the arithmetic, and replacing the healthy etcd-2 is denied.
#[test]
fn advise_says_wait_for_a_member_recently_down_that_came_back_before() {
    let lab = EtcdLab::up();
    let (code, healthy) = lab.advise("etcd-3");
    assert_eq!(
        (code, &healthy["decision"]),
        (Some(0), &"healthy".into()),
        "{healthy}"
    );

    // Down once, and back: the journal closes an episode.
    lab.fault("stop", "etcd-3");
    lab.passes_until("etcd-3", "wait");
    lab.fault("start", "etcd-3");
    lab.passes_until("etcd-3", "healthy");

    // Down again: a fresh process reads how long, and that it came back before.
    lab.fault("stop", "etcd-3");
    let advice = lab.passes_until("etcd-3", "wait");
    let said = reasons(&advice);
    assert!(said.contains("`etcd-3` does not answer"), "{said}");
    assert!(said.contains("since it was last healthy"), "{said}");
    assert!(said.contains("came back by itself 1 time before"), "{said}");
    assert!(
        said.contains("replacing it leaves 2 voters, quorum 2, 2 healthy"),
        "{said}"
    );
    assert!(advice["down_seconds"].as_f64().is_some(), "{advice}");
    assert_eq!(advice["replace_keeps_quorum"], true, "{advice}");
    let text = lab.hadome(&["advise", "etcd-3"]);
    assert_eq!(text.status.code(), Some(0), "{}", show(&text));
    assert!(
        show(&text).contains("advise etcd-3: WAIT"),
        "{}",
        show(&text)
    );

    // The quorum rule's refusal says how long, from the journal.
    let denied = lab.hadome(&["ask", "stop", "etcd-2"]);
    assert_eq!(denied.status.code(), Some(1), "{}", show(&denied));
    assert!(
        show(&denied).contains("since it was last healthy"),
        "{}",
        show(&denied)
    );

    // Replacing the member that is down: exactly the quorum left, a warning with the arithmetic.
    let replace = lab.hadome(&["ask", "replace-member", "etcd-3"]);
    assert_eq!(replace.status.code(), Some(0), "{}", show(&replace));
    assert!(
        show(&replace).contains(
            "removing `etcd-3` leaves 2 voters, quorum 2: 2 healthy (`etcd-1`, `etcd-2`)"
        ),
        "{}",
        show(&replace)
    );
    // Replacing a healthy member is a disruption.
    let healthy = lab.hadome(&["ask", "replace-member", "etcd-2"]);
    assert_eq!(healthy.status.code(), Some(1), "{}", show(&healthy));
    assert!(
        show(&healthy).contains("`etcd-2` is healthy"),
        "{}",
        show(&healthy)
    );
}

/// A member is executable through its own commands: `run restart etcd-3` runs its stop_command,
/// waits until it no longer answers, runs its start_command and waits until it answers (never an
/// instance's path); `run replace-member` of a healthy member while another is down is denied
/// before anything is done (`etcd_replace.rs` replaces a crashed one).
#[test]
fn a_member_is_restarted_through_its_commands_and_a_healthy_one_is_not_replaced() {
    let lab = EtcdLab::up();
    let restart = lab.hadome(&["run", "restart", "etcd-3"]);
    let said = show(&restart);
    assert_eq!(restart.status.code(), Some(0), "{said}");
    assert!(
        said.contains("stop member `etcd-3`") && said.contains("it no longer answers"),
        "{said}"
    );
    assert!(
        said.contains("start member `etcd-3`") && said.contains("it answers"),
        "{said}"
    );
    lab.passes_until("etcd-3", "healthy");

    lab.fault("stop", "etcd-3");
    lab.passes_until("etcd-3", "wait");
    let refused = lab.hadome(&["run", "replace-member", "etcd-2"]);
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    assert!(
        show(&refused).contains("`etcd-2` is healthy: replacing it takes a working voter out"),
        "{}",
        show(&refused)
    );
    assert!(!show(&refused).contains("intent #"), "{}", show(&refused));
    let (_, advice) = lab.advise("etcd-3");
    assert_eq!(advice["decision"], "wait", "nothing was done: {advice}");
}
