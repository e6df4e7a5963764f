//! `hadome lab …` for etcd labs: which target `lab load` and `lab verify` write to, a placed
//! host's boots as host facts (`hadome lab host-facts`), and `hadome lab member`.

use hadome_core::fact::Timestamp;
use hadome_lab::Lab;

use crate::error::CliError;

/// What `lab load` and `lab verify` write to: `Some(node)`, or `None` for the etcd members
/// (`--etcd`, or by default in a lab with etcd members and no PostgreSQL node).
pub(super) fn target(
    lab: &Lab,
    node: Option<String>,
    etcd: bool,
) -> Result<Option<String>, CliError> {
    match node {
        Some(node) => Ok(Some(node)),
        None if etcd || (lab.node_names().is_empty() && !lab.etcd_member_names().is_empty()) => {
            Ok(None)
        }
        None => Err(CliError::Usage {
            message: "say what to write to: `--node NODE` (a PostgreSQL node) or `--etcd`"
                .to_owned(),
            hint: Some(format!(
                "this lab's nodes: {}",
                lab.node_names()
                    .into_iter()
                    .chain(lab.etcd_member_names().first().map(|_| "--etcd".to_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }),
    }
}

/// A placed host's boots as a host facts reading: boot id and time of the current boot, every
/// boot with its first and last moment (the current one's last is now), nothing of systemd.
pub(super) fn placed_reading(
    host: &str,
    boots: &[hadome_lab::PlacedBoot],
) -> Result<hadome_host::Reading, CliError> {
    let now = crate::clock::wall_clock();
    let current = boots.last().ok_or_else(|| CliError::Internal {
        message: format!("the lab recorded no boot of `{host}` (a bug: please report it)"),
        hint: None,
    })?;
    let records = boots
        .iter()
        .map(|boot| hadome_core::host::BootRecord {
            boot_id: boot.boot_id.clone(),
            first_entry: Timestamp(boot.started_ms),
            last_entry: Timestamp(boot.ended_ms.unwrap_or(now.0)),
        })
        .collect();
    let no_systemd = format!(
        "`{host}` is a lab placed host, only a name etcd members are placed on: it runs no systemd"
    );
    Ok(hadome_host::Reading {
        observed_at: now,
        facts: hadome_core::host::HostFacts {
            boot_id: current.boot_id.clone(),
            booted_at: Timestamp(current.started_ms),
            boots: Some(records),
            timers: Vec::new(),
            services: Vec::new(),
            failed_units: Vec::new(),
            data_paths: Vec::new(),
        },
        gaps: hadome_host::Gaps {
            boots: None,
            failed_units: Some(no_systemd.clone()),
            restarts: Some(no_systemd.clone()),
            units: vec![no_systemd],
        },
    })
}

/// `hadome lab member --dir D VERB NAME`: one membership change, verified, printed.
pub(super) async fn member(
    lab: &Lab,
    verb: crate::cli_lab::MemberVerb,
    name: &str,
    json: bool,
) -> Result<u8, CliError> {
    use crate::cli_lab::MemberVerb;
    let (word, summary) = match verb {
        MemberVerb::Remove => ("remove", lab.member_remove(name).await?),
        MemberVerb::Add => ("add", lab.member_add(name).await?),
        MemberVerb::Promote => ("promote", lab.member_promote(name).await?),
        MemberVerb::Stop => ("stop", lab.member_stop(name).await?),
    };
    if json {
        crate::output::print_json(
            &serde_json::json!({"version": 1, "member": name, "change": word, "summary": summary}),
        );
    } else {
        crate::output::print_text(&format!("{summary}\n"));
    }
    Ok(crate::exit_code::OK)
}
