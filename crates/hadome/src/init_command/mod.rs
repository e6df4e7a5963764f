//! `hadome init` (issue 15): a starting estate file from this machine's PostgreSQL clusters, as
//! Debian's postgresql-common lists them, and a check of hadome's role on each running one.
//!
//! `clusters.rs` runs and reads `pg_lsclusters --json`; `privileges.rs` connects as the role
//! and asks which grants of `docs/privileges.md` it holds; `estate_file.rs` writes the file's
//! text, which `hadome-config` reads back before anyone sees it; `place.rs` puts it where
//! `--output` says, never over a file unless `--force` (and then the old one moves aside);
//! `report.rs` says what was found, as text or JSON. Nothing on the servers is changed.

mod clusters;
mod estate_file;
mod place;
mod privileges;
mod report;

use std::path::Path;

use crate::cli_init::InitArgs;
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text};

use self::clusters::LocalCluster;
use self::privileges::Reach;
use self::report::Written;

/// One listed cluster, its `[[instance]]`, and what its server said about the role.
struct Discovered {
    cluster: LocalCluster,
    instance: String,
    conninfo: String,
    reach: Reach,
}

/// Runs `hadome init`: exit 0 when the file is out and the role holds every grant it needs on
/// every cluster, 1 when the file is out but a cluster was down or refused the role, or a grant
/// is missing (the report names it and its statement); 2 on a usage error (an existing
/// `--output` without `--force`), 5 when the clusters cannot be listed.
pub(crate) async fn run(arguments: InitArgs) -> Result<u8, CliError> {
    let role = arguments.user.as_str();
    if role.is_empty() || role.chars().any(char::is_control) {
        return Err(CliError::Usage {
            message: format!("--user `{role}` is not a role name"),
            hint: Some("name the role hadome connects as, such as --user hadome".to_owned()),
        });
    }
    if let Some(output) = &arguments.output {
        place::check_target(output, arguments.force)?;
    }

    let listing = clusters::list().await?;
    if listing.clusters.is_empty() {
        let mut message = "`pg_lsclusters` lists no PostgreSQL cluster on this machine".to_owned();
        for skipped in &listing.unusable {
            message.push_str(&format!(
                "; {} cannot be used: {}",
                skipped.name, skipped.why
            ));
        }
        return Err(CliError::CannotProceed {
            message,
            hint: Some(
                "create one (`pg_createcluster`), or write the estate file by hand from \
                 examples/estate.toml"
                    .to_owned(),
            ),
        });
    }

    let names = estate_file::instance_names(&listing.clusters);
    let conninfos: Vec<String> = listing
        .clusters
        .iter()
        .map(|cluster| estate_file::conninfo(cluster, role))
        .collect();
    let reaches = futures_util::future::join_all(
        listing
            .clusters
            .iter()
            .zip(&conninfos)
            .map(|(cluster, conninfo)| privileges::check(cluster, conninfo, role)),
    )
    .await;
    let discovered: Vec<Discovered> = listing
        .clusters
        .into_iter()
        .zip(names)
        .zip(conninfos)
        .zip(reaches)
        .map(|(((cluster, instance), conninfo), reach)| Discovered {
            cluster,
            instance,
            conninfo,
            reach,
        })
        .collect();

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let written_at = wall_clock().utc_text();
    let text = estate_file::render(
        &discovered,
        &listing.unusable,
        &estate_file::Header {
            role,
            journal: &arguments.journal,
            hostname: hostname.as_deref(),
            written_at: &written_at,
        },
    );
    // The file must be one `hadome check` accepts: read it back as every command will.
    let read_as = arguments
        .output
        .as_deref()
        .unwrap_or(Path::new("estate.toml"));
    if let Err(error) = hadome_config::parse(&text, read_as) {
        return Err(CliError::Internal {
            message: format!(
                "the estate file `hadome init` made does not load (a bug in hadome: please \
                 report it): {error}"
            ),
            hint: error.hint(),
        });
    }

    let aside = match &arguments.output {
        Some(output) => place::write(output, &text, arguments.force)?,
        None => None,
    };
    let written = match &arguments.output {
        Some(path) => Written::File {
            path,
            aside: aside.as_deref(),
        },
        None => Written::Printed,
    };
    if arguments.json.json {
        print_json(&report::json(
            &discovered,
            &listing.unusable,
            role,
            &written,
            &text,
        ));
    } else {
        let report = report::text(&discovered, &listing.unusable, role, &written);
        if arguments.output.is_some() {
            print_text(&report);
        } else {
            // stdout carries the file, to be saved; the report is for the person reading.
            print_text(&text);
            eprint!("{report}");
        }
    }
    Ok(if complete(&discovered, &listing.unusable) {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}

/// Whether every listed cluster is written and its role known to hold every grant it needs.
fn complete(discovered: &[Discovered], unusable: &[clusters::Unusable]) -> bool {
    unusable.is_empty() && discovered.iter().all(|found| found.reach.complete())
}
