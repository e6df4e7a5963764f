//! Rule ids: the stable names of hadome's interlocks (`../shared/design.md` §3).
//!
//! An id is never renamed: scripts match on it, journals store it, `docs/rules.md` documents it.
//! Each traces to the incident it comes from (A Misskey, B Mackerel, C traP S512, D quorum
//! reboot, E redirect loop; `../shared/incidents/README.md`).

/// `overwrite-older`.
pub const OVERWRITE_OLDER: &str = "overwrite-older";
/// `last-copy`.
pub const LAST_COPY: &str = "last-copy";
/// `replication-stalled`.
pub const REPLICATION_STALLED: &str = "replication-stalled";
/// `promote-eligibility`.
pub const PROMOTE_ELIGIBILITY: &str = "promote-eligibility";
/// `primary-agreement`.
pub const PRIMARY_AGREEMENT: &str = "primary-agreement";
/// `timeline-follow`.
pub const TIMELINE_FOLLOW: &str = "timeline-follow";
/// `config-applied`.
pub const CONFIG_APPLIED: &str = "config-applied";
/// `budget`.
pub const BUDGET: &str = "budget";
/// `reboot-uptime`.
pub const REBOOT_UPTIME: &str = "reboot-uptime";
/// `systemd-reboot-loop`.
pub const SYSTEMD_REBOOT_LOOP: &str = "systemd-reboot-loop";
/// `destroy-coverage`.
pub const DESTROY_COVERAGE: &str = "destroy-coverage";
/// `quorum`.
pub const QUORUM: &str = "quorum";
/// `backup-trust`.
pub const BACKUP_TRUST: &str = "backup-trust";
/// `snapshot-independence`.
pub const SNAPSHOT_INDEPENDENCE: &str = "snapshot-independence";
/// `redirect-loop`.
pub const REDIRECT_LOOP: &str = "redirect-loop";
/// `nginx-static-resolve`.
pub const NGINX_STATIC_RESOLVE: &str = "nginx-static-resolve";
/// `port-collision`.
pub const PORT_COLLISION: &str = "port-collision";
/// `single-actor`.
pub const SINGLE_ACTOR: &str = "single-actor";
/// `stale-facts`.
pub const STALE_FACTS: &str = "stale-facts";

/// A rule id and the incidents it traces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The stable kebab-case id.
    pub id: &'static str,
    /// The incidents (letters of the incidents page) it comes from.
    pub incidents: &'static str,
}

/// Every rule id in the catalogue, in its order.
pub const CATALOGUE: &[Rule] = &[
    Rule {
        id: "overwrite-older",
        incidents: "A",
    },
    Rule {
        id: "last-copy",
        incidents: "A",
    },
    Rule {
        id: "replication-stalled",
        incidents: "A, B",
    },
    Rule {
        id: "promote-eligibility",
        incidents: "B",
    },
    Rule {
        id: "primary-agreement",
        incidents: "A, B",
    },
    Rule {
        id: "timeline-follow",
        incidents: "B",
    },
    Rule {
        id: "config-applied",
        incidents: "A",
    },
    Rule {
        id: "budget",
        incidents: "A, C",
    },
    Rule {
        id: "reboot-uptime",
        incidents: "C",
    },
    Rule {
        id: "systemd-reboot-loop",
        incidents: "C",
    },
    Rule {
        id: "destroy-coverage",
        incidents: "C",
    },
    Rule {
        id: "quorum",
        incidents: "D",
    },
    Rule {
        id: "backup-trust",
        incidents: "A",
    },
    Rule {
        id: "snapshot-independence",
        incidents: "A",
    },
    Rule {
        id: "redirect-loop",
        incidents: "E",
    },
    Rule {
        id: "nginx-static-resolve",
        incidents: "E",
    },
    Rule {
        id: "port-collision",
        incidents: "E",
    },
    Rule {
        id: "single-actor",
        incidents: "A",
    },
    Rule {
        id: "stale-facts",
        incidents: "A, B, C, D, E",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_trace_to_incidents() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in CATALOGUE {
            assert!(seen.insert(rule.id), "`{}` is listed twice", rule.id);
            assert!(
                rule.id
                    .split('-')
                    .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase())),
                "`{}` is not kebab-case",
                rule.id
            );
            assert!(
                rule.incidents
                    .split(", ")
                    .all(|letter| ["A", "B", "C", "D", "E"].contains(&letter)),
                "`{}` traces to an unknown incident: {}",
                rule.id,
                rule.incidents
            );
        }
        assert_eq!(CATALOGUE.len(), 19);
    }
}
