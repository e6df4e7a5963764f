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
/// `server-name-fallthrough`: a route's host answered only by a wildcard or default server.
pub const SERVER_NAME_FALLTHROUGH: &str = "server-name-fallthrough";
/// `upstream-not-running`: an upstream whose service is not running when nginx loads it.
pub const UPSTREAM_NOT_RUNNING: &str = "upstream-not-running";
/// `nginx-test`: a configuration `nginx -t` refuses, or that cannot be read, judged before a reload.
pub const NGINX_TEST: &str = "nginx-test";
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
    /// Whether an interlock of `crate::interlock` reports it today.
    pub implemented: bool,
}

/// Every rule id in the catalogue, in its order.
pub const CATALOGUE: &[Rule] = &[
    Rule {
        id: OVERWRITE_OLDER,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: LAST_COPY,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: REPLICATION_STALLED,
        incidents: "A, B",
        implemented: true,
    },
    Rule {
        id: PROMOTE_ELIGIBILITY,
        incidents: "B",
        implemented: true,
    },
    Rule {
        id: PRIMARY_AGREEMENT,
        incidents: "A, B",
        implemented: true,
    },
    Rule {
        id: TIMELINE_FOLLOW,
        incidents: "B",
        implemented: true,
    },
    Rule {
        id: CONFIG_APPLIED,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: BUDGET,
        incidents: "A, C",
        implemented: true,
    },
    Rule {
        id: REBOOT_UPTIME,
        incidents: "C",
        implemented: true,
    },
    Rule {
        id: SYSTEMD_REBOOT_LOOP,
        incidents: "C",
        implemented: true,
    },
    Rule {
        id: DESTROY_COVERAGE,
        incidents: "C",
        implemented: true,
    },
    Rule {
        id: QUORUM,
        incidents: "D",
        implemented: true,
    },
    Rule {
        id: BACKUP_TRUST,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: SNAPSHOT_INDEPENDENCE,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: REDIRECT_LOOP,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: NGINX_STATIC_RESOLVE,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: PORT_COLLISION,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: SERVER_NAME_FALLTHROUGH,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: UPSTREAM_NOT_RUNNING,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: NGINX_TEST,
        incidents: "E",
        implemented: true,
    },
    Rule {
        id: SINGLE_ACTOR,
        incidents: "A",
        implemented: true,
    },
    Rule {
        id: STALE_FACTS,
        incidents: "A, B, C, D, E",
        implemented: true,
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
        assert_eq!(CATALOGUE.len(), 22);
    }

    #[test]
    fn every_implemented_rule_has_its_section_in_docs_rules_md() {
        let docs = include_str!("../../../docs/rules.md");
        for rule in CATALOGUE {
            let section = format!("\n## `{}`\n", rule.id);
            let listed = format!("| `{}` |", rule.id);
            if rule.implemented {
                assert!(
                    docs.contains(&section),
                    "docs/rules.md has no section `## `{}``",
                    rule.id
                );
            } else {
                assert!(
                    docs.contains(&listed),
                    "docs/rules.md does not list `{}` as not implemented",
                    rule.id
                );
                assert!(
                    !docs.contains(&section),
                    "`{}` has a section but is not implemented",
                    rule.id
                );
            }
        }
    }
}
