//! The lab topology parser (`hadome_lab::topology::Topology::parse`).

use hadome_lab::topology::Topology;
use hadome_lab::LabError;

/// The origin the fuzzed topology is given: errors must name it.
const ORIGIN: &str = "/fuzz/topology.toml";

/// Feeds `data` (lossily as UTF-8) to the topology parser.
///
/// Invariants: no panic; a refusal is a topology error naming the file and a line within it, with
/// a message and a fix; an accepted topology has unique node names, every upstream a node of it,
/// and the primary first.
pub fn topology(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    match Topology::parse("fuzz", ORIGIN, &source) {
        Ok(topology) => {
            let mut names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
            let declared = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), declared, "node names are unique");
            for node in &topology.nodes {
                if let Some(upstream) = &node.upstream {
                    assert!(
                        topology.node(upstream).is_some(),
                        "node `{}` streams from `{upstream}`, which is no node",
                        node.name
                    );
                }
            }
            if let Some(first) = topology.nodes.first() {
                assert!(first.upstream.is_none(), "the primary comes first");
            }
        }
        Err(LabError::Topology {
            origin,
            line,
            message,
            fix,
        }) => {
            assert_eq!(origin, ORIGIN);
            assert!(
                line <= crate::line_count(&source),
                "line {line} is past the end of the file: {message}"
            );
            assert!(!message.trim().is_empty(), "a refusal says what is wrong");
            assert!(
                !fix.trim().is_empty(),
                "a refusal says how to fix it: {message}"
            );
        }
        Err(other) => panic!("parsing a topology's text fails only as a topology error: {other}"),
    }
}
