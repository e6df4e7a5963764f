//! `hadome drill`: each incident's rehearsal passes end to end on the lab, through the real
//! binary, every step behaving as the drill expects (issue 12).

use crate::support::{run_hadome, scratch, show};

fn drill_passes(name: &str) {
    let scratch = scratch();
    let dir = scratch.path().join(name);
    let output = run_hadome(
        &["drill", name, "--dir", dir.to_str().unwrap(), "--json"],
        &[],
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("drill {name}: {error}: {}", show(&output)));
    let failed: Vec<&serde_json::Value> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["ok"] != true)
        .collect();
    assert!(failed.is_empty(), "drill {name}: {failed:#?}");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(
        !dir.join("lab.json").exists(),
        "the drill tore its lab down"
    );
}

#[test]
fn the_misskey_drill_passes() {
    drill_passes("misskey");
}

#[test]
fn the_mackerel_drill_passes() {
    drill_passes("mackerel");
}

#[test]
fn the_s512_drill_passes() {
    drill_passes("s512");
}

#[test]
fn the_quorum_drill_passes() {
    drill_passes("quorum");
}

#[test]
fn the_showcase_drill_passes() {
    drill_passes("showcase");
}

#[test]
fn drills_are_listed_and_a_mistyped_one_is_refused_with_the_closest() {
    let listed = run_hadome(&["drill", "list", "--json"], &[]);
    assert!(listed.status.success(), "{}", show(&listed));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = list["drills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|drill| drill["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["misskey", "mackerel", "s512", "quorum", "showcase"]);
    let refused = run_hadome(&["drill", "s521", "--dir", "/nonexistent/drill"], &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert!(
        show(&refused).contains("did you mean `s512`?"),
        "{}",
        show(&refused)
    );
}
