//! Issue 13, point 4 end to end on real etcd (`hadome lab up etcd3`, Debian's etcd 3.4), through
//! the real binary: `hadome run replace-member` after a member crashed — stop if it runs, remove,
//! move the old data aside, add a learner, start, promote — through the lab estate's argv
//! commands (`hadome lab member …`), and `run remove-member` refused by `quorum` while another
//! member is down. The member list and the data are read with Debian's `etcdctl`, bounded; waits
//! poll with deadlines; a guard tears each lab down by PID.

use std::path::PathBuf;
use std::time::Duration;

use crate::etcd_lab::{etcdctl, get, leader_seen_by, poll, put, EtcdLab};
use crate::support::show;

/// `etcdctl member list -w json` through `endpoint`: (id, name, learner) of each member.
fn member_list(endpoint: &str) -> Vec<(u64, String, bool)> {
    let output = etcdctl(endpoint, &["member", "list", "-w", "json"]);
    assert!(output.status.success(), "member list: {}", show(&output));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut members: Vec<(u64, String, bool)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| {
            (
                member["ID"].as_u64().unwrap(),
                member["name"].as_str().unwrap_or_default().to_owned(),
                member["isLearner"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    members.sort_by(|a, b| a.1.cmp(&b.1));
    members
}

#[test]
fn run_replace_member_replaces_a_crashed_member_with_a_fresh_voter_and_keeps_the_old_data_aside() {
    let lab = EtcdLab::up();
    let first = lab.endpoint("etcd-1");
    let put_before = put(&first, "before-the-fault", "kept");
    assert!(put_before.status.success(), "{}", show(&put_before));
    let before = member_list(&first);
    let old_id = before
        .iter()
        .find(|(_, name, _)| name == "etcd-3")
        .map(|(id, _, _)| *id)
        .expect("etcd-3 is a member");
    let data_dir = PathBuf::from(lab.member("etcd-3")["data_dir"].as_str().unwrap());

    lab.fault("crash", "etcd-3");
    // Until a pass sees `etcd-3` down, replacing it is replacing a healthy member: denied.
    let asked = poll(
        "`ask replace-member etcd-3` to allow",
        Duration::from_secs(60),
        || {
            let ask = lab.hadome(&["ask", "replace-member", "etcd-3"]);
            (ask.status.code() == Some(0)).then_some(ask)
        },
    );
    let said = show(&asked);
    assert!(
        said.contains(
            "removing `etcd-3` leaves 2 voters, quorum 2: 2 healthy (`etcd-1`, `etcd-2`)"
        ),
        "{said}"
    );

    let run = lab.hadome(&["run", "replace-member", "etcd-3", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    let done: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(done["outcome"]["ok"], true, "{done:#}");
    let steps = done["steps"].as_array().unwrap();
    let step_names: Vec<&str> = steps
        .iter()
        .map(|step| step["step"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(steps.len(), 6, "{done:#}");
    for (step, starts) in step_names.iter().zip([
        "stop member `etcd-3` if it still runs",
        "remove member `etcd-3`",
        "preserve `etcd-3`'s data directory",
        "add a fresh `etcd-3` to its cluster as a learner",
        "start member `etcd-3`",
        "promote `etcd-3` from learner to voter",
    ]) {
        assert!(step.starts_with(starts), "{step} / {starts}: {done:#}");
    }

    // The old data directory is kept aside, named in the output, with etcd's data in it.
    let preserved = steps[2]["detail"].as_str().unwrap();
    let aside = preserved
        .strip_prefix("moved to `")
        .and_then(|rest| rest.strip_suffix('`'))
        .unwrap_or_else(|| panic!("the aside is named: {preserved}"));
    let aside = PathBuf::from(aside);
    assert!(aside.join("member").is_dir(), "{}", aside.display());
    assert_ne!(aside, data_dir);
    assert!(
        data_dir.join("member").is_dir(),
        "the fresh member has its own data"
    );

    // Three voters, `etcd-3` under a new id; all three answer and agree on the leader.
    let after = member_list(&first);
    let names: Vec<&str> = after.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, ["etcd-1", "etcd-2", "etcd-3"], "{after:?}");
    assert!(after.iter().all(|(_, _, learner)| !learner), "{after:?}");
    let new_id = after[2].0;
    assert_ne!(new_id, old_id, "a fresh member, not the old one: {after:?}");
    let endpoints: Vec<String> = ["etcd-1", "etcd-2", "etcd-3"]
        .iter()
        .map(|name| lab.endpoint(name))
        .collect();
    poll(
        "the three members to agree on a leader",
        Duration::from_secs(30),
        || {
            let leaders: Vec<Option<u64>> = endpoints.iter().map(|e| leader_seen_by(e)).collect();
            (leaders[0].is_some() && leaders.iter().all(|leader| *leader == leaders[0]))
                .then_some(())
        },
    );
    assert_eq!(member_list(&lab.endpoint("etcd-3")), after, "etcd-3 agrees");

    // A key written before the fault is read through the fresh member (a linearizable read).
    let value = poll("etcd-3 to serve the key", Duration::from_secs(30), || {
        get(&lab.endpoint("etcd-3"), "before-the-fault").filter(|value| !value.is_empty())
    });
    assert_eq!(value, "kept");

    // The journal holds the intent, each step done, and the outcome.
    let journal =
        hadome_journal::Journal::open(&PathBuf::from(lab.dir()).join("hadome.sqlite")).unwrap();
    let intent = journal
        .intent(done["intent"].as_i64().unwrap())
        .unwrap()
        .expect("the intent is journaled");
    assert_eq!(intent.plan.len(), 6, "{intent:?}");
    assert_eq!(
        intent
            .steps
            .iter()
            .map(|step| step.step.as_str())
            .collect::<Vec<_>>(),
        step_names,
        "{intent:?}"
    );
    assert!(intent.steps.iter().all(|step| step.ok), "{intent:?}");
    assert!(intent.outcome.as_ref().is_some_and(|outcome| outcome.ok));
    assert!(journal.open_intents().unwrap().is_empty());

    // And `hadome` sees the cluster whole again.
    poll(
        "`advise etcd-3` to say healthy",
        Duration::from_secs(60),
        || {
            let check = lab.hadome(&["check"]);
            assert!(check.status.code().is_some(), "{}", show(&check));
            let advise = lab.hadome(&["advise", "etcd-3", "--json"]);
            let advice: serde_json::Value = serde_json::from_slice(&advise.stdout).ok()?;
            (advice["decision"] == "healthy").then_some(())
        },
    );
}

#[test]
fn run_remove_member_is_refused_while_another_member_is_down_and_nothing_is_done() {
    let lab = EtcdLab::up();
    let first = lab.endpoint("etcd-1");
    let before = member_list(&first);
    lab.fault("stop", "etcd-3");
    let refused = poll(
        "`run remove-member etcd-2` to be refused by quorum",
        Duration::from_secs(60),
        || {
            let run = lab.hadome(&["run", "remove-member", "etcd-2"]);
            (run.status.code() == Some(1) && show(&run).contains("quorum")).then_some(run)
        },
    );
    let said = show(&refused);
    assert!(
        said.contains("removing `etcd-2` leaves 2 voters, quorum 2: 1 healthy (`etcd-1`)"),
        "{said}"
    );
    assert!(
        !said.contains("intent #"),
        "nothing was journaled as begun: {said}"
    );
    assert_eq!(member_list(&first), before, "nothing was removed");
    assert_eq!(lab.member("etcd-2")["process"], "running");
}
