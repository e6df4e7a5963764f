//! What `init` found and checked, for people (a report naming each missing grant with its
//! statement) and for scripts (versioned JSON).

use std::path::Path;

use serde_json::{json, Value};

use super::clusters::Unusable;
use super::privileges::{Holding, Privileges, Reach};
use super::Discovered;

/// One cluster's state in a sentence (the file's comment and the report's line).
pub(super) fn state(found: &Discovered, role: &str) -> String {
    let cluster = &found.cluster;
    match &found.reach {
        Reach::NotRunning => {
            let mut notes = Vec::new();
            if let Some(start) = &cluster.start {
                notes.push(format!("start.conf: {start}"));
            }
            if cluster.recovery {
                notes.push("a standby by its data directory".to_owned());
            }
            if cluster.binaries_missing {
                notes.push("its server binaries are not installed".to_owned());
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            format!("not running{notes}, so the privileges of `{role}` were not checked")
        }
        Reach::Refused { reason, .. } => {
            format!("running, but `{role}` could not connect and ask: {reason}")
        }
        Reach::Checked(privileges) => {
            let server = format!(
                "running, {} (PostgreSQL {})",
                if privileges.in_recovery {
                    "standby"
                } else {
                    "primary"
                },
                // `15.18 (Debian 15.18-0+deb12u1)`: the number says it.
                privileges
                    .server_version
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
            );
            let missing = privileges.missing_required().len();
            let verdict = if privileges.superuser {
                format!("`{role}` is a superuser, so it holds every privilege hadome needs")
            } else if missing == 0 {
                format!("`{role}` holds every grant hadome needs")
            } else {
                format!(
                    "`{role}` lacks {missing} grant{} hadome needs",
                    if missing == 1 { "" } else { "s" }
                )
            };
            format!("{server}; {verdict}")
        }
    }
}

/// Where the file went, as the report says it.
pub(super) enum Written<'a> {
    /// Printed on stdout.
    Printed,
    /// Written to `path`; the file that was there moved to `aside`.
    File {
        path: &'a Path,
        aside: Option<&'a Path>,
    },
}

/// The report for people.
pub(super) fn text(
    discovered: &[Discovered],
    unusable: &[Unusable],
    role: &str,
    written: &Written,
) -> String {
    let mut text = format!(
        "hadome init: {} PostgreSQL cluster{} found by pg_lsclusters\n",
        discovered.len(),
        if discovered.len() == 1 { "" } else { "s" }
    );
    for found in discovered {
        let cluster = &found.cluster;
        text.push_str(&format!(
            "\n{} → [[instance]] {}: port {}, socket {}, data {}\n  {}\n",
            cluster.debian_name(),
            found.instance,
            cluster.port,
            cluster.socket_dir.as_deref().unwrap_or("none (localhost)"),
            cluster.data_dir,
            state(found, role)
        ));
        match &found.reach {
            Reach::Checked(privileges) => text.push_str(&holdings_text(privileges)),
            Reach::Refused {
                hint: Some(hint), ..
            } => text.push_str(&format!("  hint: {hint}\n")),
            Reach::Refused { hint: None, .. } | Reach::NotRunning => {}
        }
    }
    for skipped in unusable {
        text.push_str(&format!(
            "\n{}: not written: {}\n",
            skipped.name, skipped.why
        ));
    }
    // Each statement once, in the order the clusters need them.
    let mut missing: Vec<&str> = Vec::new();
    for found in discovered {
        if let Reach::Checked(privileges) = &found.reach {
            for statement in privileges.missing_required() {
                if !missing.contains(&statement) {
                    missing.push(statement);
                }
            }
        }
    }
    if !missing.is_empty() {
        text.push_str(
            "\nGrant what is missing: on each primary, as a superuser (roles and grants \
             replicate to the standbys; docs/privileges.md says what each is for):\n",
        );
        for statement in &missing {
            text.push_str(&format!("  {statement}\n"));
        }
    }
    text.push('\n');
    match written {
        Written::Printed => text.push_str(
            "The estate file is on stdout: save it (e.g. as /etc/hadome/estate.toml) and check \
             it with `hadome check --config FILE`.\n",
        ),
        Written::File { path, aside } => {
            if let Some(aside) = aside {
                text.push_str(&format!(
                    "Moved the file that was there to {}.\n",
                    aside.display()
                ));
            }
            text.push_str(&format!(
                "Wrote {0}: review it, then `hadome check --config {0}`.\n",
                path.display()
            ));
        }
    }
    if !super::complete(discovered, unusable) {
        text.push_str(
            "Not complete: a cluster was not checked, or the role lacks a grant it needs (exit 1).\n",
        );
    }
    text
}

fn holdings_text(privileges: &Privileges) -> String {
    let mut text = String::new();
    if privileges.superuser {
        return text;
    }
    for (grant, holding) in &privileges.holdings {
        let what = format!(
            "{} ({}{})",
            grant.privilege,
            grant.purpose.as_str(),
            if grant.optional { ", optional" } else { "" }
        );
        text.push_str(&match holding {
            Holding::Granted => format!("  ✓ {what}\n"),
            Holding::Missing { statement } if grant.optional => format!(
                "  ! {what}: without it timeline histories are unknown; to grant it: {statement}\n"
            ),
            Holding::Missing { statement } => format!("  ✗ {what}: {statement}\n"),
            Holding::SuperuserOnly => {
                format!("  ! {what}: this PostgreSQL version lets only a superuser have it\n")
            }
        });
    }
    text
}

/// The versioned JSON report.
pub(super) fn json(
    discovered: &[Discovered],
    unusable: &[Unusable],
    role: &str,
    written: &Written,
    estate_file: &str,
) -> Value {
    let clusters: Vec<Value> = discovered
        .iter()
        .map(|found| cluster_json(found, role))
        .collect();
    let complete = super::complete(discovered, unusable);
    let unusable: Vec<Value> = unusable
        .iter()
        .map(|skipped| json!({"cluster": skipped.name, "why": skipped.why}))
        .collect();
    let (output, aside, text) = match written {
        Written::Printed => (None, None, Some(estate_file)),
        Written::File { path, aside } => (
            Some(path.display().to_string()),
            aside.map(|aside| aside.display().to_string()),
            None,
        ),
    };
    json!({
        "version": 1,
        "role": role,
        "complete": complete,
        "output": output,
        "moved_aside": aside,
        "clusters": clusters,
        "not_written": unusable,
        "estate_file": text,
    })
}

fn cluster_json(found: &Discovered, role: &str) -> Value {
    let cluster = &found.cluster;
    let (connection, error, hint) = match &found.reach {
        Reach::NotRunning => ("not-running", None, None),
        Reach::Refused { reason, hint } => ("refused", Some(reason), hint.as_ref()),
        Reach::Checked(_) => ("checked", None, None),
    };
    let checked = match &found.reach {
        Reach::Checked(privileges) => Some(privileges),
        Reach::NotRunning | Reach::Refused { .. } => None,
    };
    let privileges: Vec<Value> = checked
        .map(|privileges| {
            privileges
                .holdings
                .iter()
                .map(|(grant, holding)| {
                    let (held, statement) = match holding {
                        Holding::Granted => ("granted", None),
                        Holding::Missing { statement } => ("missing", Some(statement)),
                        Holding::SuperuserOnly => ("superuser-only", None),
                    };
                    json!({
                        "privilege": grant.privilege,
                        "for": grant.purpose.as_str(),
                        "optional": grant.optional,
                        "held": held,
                        "grant": statement,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "cluster": cluster.debian_name(),
        "instance": found.instance,
        "port": cluster.port,
        "socket_dir": cluster.socket_dir,
        "data_dir": cluster.data_dir,
        "conninfo": found.conninfo,
        "running": cluster.running,
        "start": cluster.start,
        "connection": connection,
        "error": error,
        "hint": hint,
        "server_version": checked.map(|privileges| &privileges.server_version),
        "in_recovery": checked.map(|privileges| privileges.in_recovery),
        "superuser": checked.map(|privileges| privileges.superuser),
        "complete": found.reach.complete(),
        "privileges": privileges,
        "missing": checked.map(|privileges| privileges.missing_required()).unwrap_or_default(),
        "summary": state(found, role),
    })
}
