//! `cut`/`heal` between two etcd members (issue 13, point 5): each member runs in a network
//! namespace of its own, so the lab can cut exactly the link between two of them, both ways, while
//! their client URLs still answer. Through the real binary on the `etcd3` lab (`etcd_lab.rs`'s
//! helper); waits poll with deadlines.

use std::process::Output;
use std::time::Duration;

use crate::etcd_lab::{denied_for_quorum, etcdctl, get, poll, put, EtcdLab};
use crate::support::{run_hadome, show};

/// `hadome lab fault --dir DIR VERB ONE OTHER`, which must succeed.
fn link(lab: &EtcdLab, verb: &str, one: &str, other: &str) -> Output {
    let output = run_hadome(&["lab", "fault", "--dir", lab.dir(), verb, one, other], &[]);
    assert!(
        output.status.success(),
        "{verb} {one} {other}: {}",
        show(&output)
    );
    output
}

/// The members whose link to `member` `lab status --json` says is cut.
fn cut_from(lab: &EtcdLab, member: &str) -> Vec<String> {
    lab.member(member)["cut_from"]
        .as_array()
        .unwrap_or_else(|| panic!("no cut_from for {member}"))
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect()
}

/// The quorum line of `hadome check` (its finding, whatever its severity).
fn quorum_finding(check: &Output) -> Option<String> {
    String::from_utf8_lossy(&check.stdout)
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some("quorum"))
        .map(str::to_owned)
}

/// etcd-3 cut off from both its peers, its client URL still answering: hadome's `check` does not
/// count it healthy and `ask reboot h1` is denied for `quorum`, naming it; once both links are
/// healed, `ask reboot h1` is allowed again.
#[test]
fn a_member_cut_from_both_peers_is_not_healthy_and_blocks_a_reboot_until_healed() {
    let lab = EtcdLab::up();
    // Allowed once `h1` has been up its `min_uptime_seconds`: the denial below is the cut's.
    poll("`ask reboot h1` to allow", Duration::from_secs(30), || {
        (lab.hadome(&["ask", "reboot", "h1"]).status.code() == Some(0)).then_some(())
    });

    let said = show(&link(&lab, "cut", "etcd-1", "etcd-3"));
    assert!(
        said.contains("peer:etcd-3@etcd-1") && said.contains("peer:etcd-1@etcd-3"),
        "the fault names both routes it blocked: {said}"
    );
    link(&lab, "cut", "etcd-2", "etcd-3");
    assert_eq!(cut_from(&lab, "etcd-3"), ["etcd-1", "etcd-2"]);
    assert_eq!(cut_from(&lab, "etcd-1"), ["etcd-3"]);
    assert_eq!(cut_from(&lab, "etcd-2"), ["etcd-3"]);
    // Its client URL is not cut: it answers a status of its own (a serializable request).
    let endpoint = lab.endpoint("etcd-3");
    let status = etcdctl(&endpoint, &["endpoint", "status", "-w", "json"]);
    assert!(
        status.status.success(),
        "etcd-3's client URL answers: {}",
        show(&status)
    );

    // A loaded machine can also time out a healthy member's probe: poll (bounded) until a pass
    // sees exactly etcd-3 not healthy.
    let denied = poll(
        "`ask reboot h1` to deny with etcd-3 partitioned",
        Duration::from_secs(30),
        || {
            let output = lab.hadome(&["ask", "reboot", "h1"]);
            let text = show(&output);
            (output.status.code() == Some(1)
                && text.contains("`etcd-1` healthy")
                && text.contains("`etcd-2` healthy")
                && text.contains("1 healthy left"))
            .then_some(output)
        },
    );
    let text = show(&denied);
    assert!(denied_for_quorum(&denied), "{text}");
    let quorum_line = text
        .lines()
        .find(|line| line.trim_start().starts_with("✗ quorum"))
        .unwrap();
    assert!(
        quorum_line.contains("`etcd-3`") && !quorum_line.contains("`etcd-3` healthy"),
        "the refusal names etcd-3 as not healthy: {quorum_line}"
    );
    let check = poll(
        "`check` to find etcd-3 not healthy",
        Duration::from_secs(30),
        || {
            let check = lab.hadome(&["check"]);
            quorum_finding(&check)
                .filter(|line| line.contains("2 healthy") && line.contains("`etcd-3`"))
                .map(|line| (check, line))
        },
    );
    assert!(
        !check.1.contains("`etcd-3` healthy"),
        "check judges etcd-3 not healthy: {}",
        show(&check.0)
    );

    link(&lab, "heal", "etcd-1", "etcd-3");
    link(&lab, "heal", "etcd-2", "etcd-3");
    assert!(cut_from(&lab, "etcd-3").is_empty());
    poll(
        "`ask reboot h1` to allow once etcd-3 is healed",
        Duration::from_secs(60),
        || (lab.hadome(&["ask", "reboot", "h1"]).status.code() == Some(0)).then_some(()),
    );
}

/// One cut between etcd-1 and etcd-2 keeps the quorum (each still reaches etcd-3): a put through
/// etcd-3 is acknowledged and read back linearizably; `lab status` shows the cut link, and only
/// that one; once healed, both read the put. A cut of a member with itself or with a stranger is refused and changes nothing.
#[test]
fn one_cut_link_keeps_the_quorum_and_status_shows_it() {
    let lab = EtcdLab::up();
    for (one, other, says) in [
        ("etcd-3", "etcd-3", "two different members"),
        (
            "etcd-3",
            "db-1",
            "name two etcd members of this lab: etcd-1, etcd-2, etcd-3",
        ),
    ] {
        let output = run_hadome(
            &["lab", "fault", "--dir", lab.dir(), "cut", one, other],
            &[],
        );
        assert!(
            !output.status.success() && show(&output).contains(says),
            "{}",
            show(&output)
        );
    }
    for member in ["etcd-1", "etcd-2", "etcd-3"] {
        assert!(cut_from(&lab, member).is_empty());
    }
    link(&lab, "cut", "etcd-1", "etcd-2");
    assert_eq!(cut_from(&lab, "etcd-1"), ["etcd-2"]);
    assert_eq!(cut_from(&lab, "etcd-2"), ["etcd-1"]);
    assert!(cut_from(&lab, "etcd-3").is_empty());
    let text = run_hadome(&["lab", "status", "--dir", lab.dir()], &[]);
    assert!(
        show(&text).contains("cut from etcd-2") && show(&text).contains("cut from etcd-1"),
        "{}",
        show(&text)
    );

    // The quorum holds: a put through etcd-3, which reaches both, is acknowledged and read back
    // linearizably (through the leader's quorum). Of etcd-1 and etcd-2, the one cut from the
    // leader may have no leader to ask; the leader's side reads it.
    let key = "/cut-test/one-link";
    let value = "written while etcd-1 and etcd-2 are cut";
    let endpoint = |name: &str| lab.endpoint(name);
    let (one, two, three) = (endpoint("etcd-1"), endpoint("etcd-2"), endpoint("etcd-3"));
    poll(
        "a put through etcd-3 to be acknowledged",
        Duration::from_secs(30),
        || put(&three, key, value).status.success().then_some(()),
    );
    poll(
        "a linearizable get through etcd-3 to read it",
        Duration::from_secs(30),
        || (get(&three, key).as_deref() == Some(value)).then_some(()),
    );
    poll(
        "a linearizable get through etcd-1 or etcd-2 to read it",
        Duration::from_secs(30),
        || {
            [&one, &two]
                .into_iter()
                .any(|endpoint| get(endpoint, key).as_deref() == Some(value))
                .then_some(())
        },
    );

    link(&lab, "heal", "etcd-1", "etcd-2");
    assert!(cut_from(&lab, "etcd-1").is_empty() && cut_from(&lab, "etcd-2").is_empty());
    for endpoint in [&one, &two] {
        poll(
            "both to read the put once healed",
            Duration::from_secs(30),
            || (get(endpoint, key).as_deref() == Some(value)).then_some(()),
        );
    }
}
