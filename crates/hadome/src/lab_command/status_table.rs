//! `hadome lab status` as tables: PostgreSQL nodes, placed hosts, etcd members (with the TLS footer).

use std::path::Path;

use hadome_lab::LabStatus;

use crate::output::Table;

fn host_table(status: &LabStatus) -> Table {
    let mut table = Table::new([
        "HOST",
        "PROCESS",
        "PHASE",
        "SUPERVISOR",
        "NSPAWN",
        "PID 1",
        "BOOT ID",
        "BOOTS",
        "UPTIME",
        "ROOT",
    ]);
    let dash = || "-".to_owned();
    for host in &status.hosts {
        table.row([
            host.name.clone(),
            host.process.to_owned(),
            host.phase.clone().unwrap_or_else(dash),
            host.supervisor_pid.map_or_else(dash, |pid| pid.to_string()),
            host.nspawn_pid.map_or_else(dash, |pid| pid.to_string()),
            host.container_pid.map_or_else(dash, |pid| pid.to_string()),
            host.boot_id.clone().unwrap_or_else(dash),
            host.boots.map_or_else(dash, |boots| boots.to_string()),
            host.uptime_seconds
                .map_or_else(dash, |seconds| format!("{seconds:.1} s")),
            display_path(&host.root),
        ]);
    }
    table
}

/// The etcd members: one row each, the leader marked when the member answered.
fn etcd_table(status: &LabStatus) -> Table {
    let mut table = Table::new([
        "MEMBER", "HOST", "PID", "CLIENT", "PEER", "PROCESS", "LEADER", "TERM", "DATA DIR",
    ]);
    let dash = || "-".to_owned();
    for member in &status.etcd {
        let mut process = member.process.to_owned();
        if member.isolated {
            process.push_str(",isolated");
        }
        if !member.cut_from.is_empty() {
            process.push_str(&format!(",cut from {}", member.cut_from.join("+")));
        }
        table.row([
            member.name.clone(),
            member.host.clone(),
            member.pid.map_or_else(dash, |pid| pid.to_string()),
            member.endpoint.clone(),
            format!("127.0.0.1:{}", member.peer_port),
            process,
            match member.leader {
                Some(true) => "leader".to_owned(),
                Some(false) => "follower".to_owned(),
                None => "?".to_owned(),
            },
            member.raft_term.map_or_else(dash, |term| term.to_string()),
            display_path(&member.data_dir),
        ]);
    }
    for member in &status.etcd {
        if let Some(error) = &member.probe_error {
            table.footer(format!("{}: {error}", member.name));
        }
    }
    tls_footer(status, &mut table);
    table
}

/// With `lab up --tls`: that the members serve TLS, and the files a client needs.
fn tls_footer(status: &LabStatus, table: &mut Table) {
    if let Some(tls) = &status.etcd_tls {
        table.footer(format!(
            "etcd TLS: on (client certificates required); ca_file {}, cert_file {}, key_file {}",
            display_path(&tls.ca_file),
            display_path(&tls.client_cert),
            display_path(&tls.client_key)
        ));
    }
}

pub(super) fn status_table(status: &LabStatus) -> Table {
    if let Some(web) = &status.web {
        return super::web::web_table(web);
    }
    if status.nodes.is_empty() && !status.etcd.is_empty() {
        return etcd_table(status);
    }
    if status.nodes.is_empty() {
        return host_table(status);
    }
    let mut table = Table::new([
        "NODE", "ROLE", "HOST", "PORT", "PID", "UPSTREAM", "SYNC", "PROCESS", "RECOVERY", "LSN",
        "RECEIVER", "DATA DIR",
    ]);
    for node in &status.nodes {
        let dash = || "-".to_owned();
        let (recovery, lsn, receiver) = match &node.live {
            Some(live) => (
                if live.in_recovery { "yes" } else { "no" }.to_owned(),
                live.lsn.clone(),
                live.wal_receiver.clone().unwrap_or_else(dash),
            ),
            None => ("?".to_owned(), "?".to_owned(), "?".to_owned()),
        };
        let mut process = node.process.to_owned();
        if node.isolated {
            process.push_str(",isolated");
        }
        table.row([
            node.name.clone(),
            node.role.to_owned(),
            node.host.to_owned(),
            node.port.to_string(),
            node.pid.map_or_else(dash, |pid| pid.to_string()),
            node.upstream.clone().unwrap_or_else(dash),
            if node.synchronous { "yes" } else { "-" }.to_owned(),
            process,
            recovery,
            lsn,
            receiver,
            display_path(&node.data_dir),
        ]);
    }
    let cut: Vec<String> = status
        .links
        .iter()
        .filter(|link| link.cut)
        .map(|link| format!("{} -> {}", link.upstream, link.standby))
        .collect();
    if !cut.is_empty() {
        table.footer(format!("cut links: {}", cut.join(", ")));
    }
    for host in &status.hosts {
        let ssh = host.ssh_port.map_or_else(String::new, |port| {
            format!(
                ", ssh root@127.0.0.1 -p {port} -i {dir}/ssh/id_ed25519 -o UserKnownHostsFile={dir}/ssh/known_hosts",
                dir = status.dir.display()
            )
        });
        table.footer(format!(
            "host {}: {}, boot id {}, {} boots{ssh}",
            host.name,
            host.process,
            host.boot_id.as_deref().unwrap_or("-"),
            host.boots
                .map_or_else(|| "?".to_owned(), |boots| boots.to_string())
        ));
    }
    for node in &status.nodes {
        if let Some(error) = &node.probe_error {
            table.footer(format!("{}: {error}", node.name));
        }
    }
    for member in &status.etcd {
        table.footer(format!(
            "etcd member {} on {}: {} {}, {}",
            member.name,
            member.host,
            member.process,
            member.endpoint,
            match member.leader {
                Some(true) => "leader",
                Some(false) => "follower",
                None => "not answering",
            }
        ));
    }
    tls_footer(status, &mut table);
    table
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}
