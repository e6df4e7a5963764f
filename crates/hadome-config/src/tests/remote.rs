//! A host's `ssh = { … }` and an instance's built-in actions (`actions = "debian"`, `cluster`,
//! `replication_conninfo`; issue 15): valid files, defaults, and each error with its line, key
//! and fix.

use std::path::{Path, PathBuf};

use hadome_core::remote::DebianCluster;

use super::report;
use crate::parse;

const DEBIAN: &str = r#"[[instance]]
name = "db-1"
host = "host-1"
conninfo = "host=10.0.0.1 port=5432 user=hadome dbname=postgres"
actions = "debian"
cluster = "15/main"
replication_conninfo = "host=10.0.0.1 port=5432 user=replicator"

[[host]]
name = "host-1"
ssh = { address = "10.0.0.1", user = "root", identity_file = "/var/lib/hadome/.ssh/id_ed25519", known_hosts = "/etc/hadome/known_hosts" }
"#;

#[test]
fn a_debian_cluster_on_a_host_reached_over_ssh_needs_no_command() {
    let estate = parse(DEBIAN, Path::new("estate.toml")).unwrap();
    let instance = estate.instance("db-1").unwrap();
    assert_eq!(
        instance.commands.debian,
        Some(DebianCluster {
            version: "15".into(),
            name: "main".into()
        })
    );
    assert_eq!(
        instance.data_dir,
        PathBuf::from("/var/lib/postgresql/15/main")
    );
    assert_eq!(
        instance.commands.replication_conninfo.as_deref(),
        Some("host=10.0.0.1 port=5432 user=replicator")
    );
    assert_eq!(
        (&instance.commands.start, &instance.commands.fence),
        (&None, &None)
    );
    let ssh = estate.ssh_of("host-1").unwrap();
    assert_eq!(ssh.destination(), "root@10.0.0.1:22");
    assert_eq!(ssh.connect_timeout_seconds, 5.0);
    assert_eq!(ssh.known_hosts, PathBuf::from("/etc/hadome/known_hosts"));
    // Every argv of the instance runs there.
    let argv = estate.on_host_of("db-1", &["true".into()]);
    assert_eq!(argv.first().map(String::as_str), Some("ssh"));
    assert_eq!(argv.last().map(String::as_str), Some("true"));
}

#[test]
fn a_data_dir_beside_debian_actions_is_kept() {
    let source = DEBIAN.replace(
        "cluster = \"15/main\"",
        "cluster = \"15/main\"\ndata_dir = \"/srv/pg/15/main\"",
    );
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    assert_eq!(
        estate.instance("db-1").unwrap().data_dir,
        PathBuf::from("/srv/pg/15/main")
    );
}

#[test]
fn debian_actions_refuse_argv_commands_beside_them() {
    let source = DEBIAN.replace(
        "cluster = \"15/main\"",
        "cluster = \"15/main\"\nfence_command = [\"fence\"]",
    );
    assert_eq!(
        report(&source),
        "estate.toml:7: `instance \"db-1\".fence_command` is set beside `actions = \"debian\"`, \
         whose built-in actions replace it | hint: remove `fence_command` (hadome starts, stops, \
         fences, promotes, rebuilds and repoints a Debian cluster itself), or set `actions = \
         \"commands\"` to keep your own commands"
    );
}

#[test]
fn debian_actions_need_a_cluster_as_pg_lsclusters_names_it() {
    let missing = DEBIAN.replace("cluster = \"15/main\"\n", "");
    assert!(
        report(&missing).contains("`instance \"db-1\".cluster`"),
        "{}",
        report(&missing)
    );
    assert!(report(&missing).contains("add `cluster = \"15/main\"`"));
    let bad = DEBIAN.replace("\"15/main\"", "\"15-main\"");
    assert_eq!(
        report(&bad),
        "estate.toml:6: `instance \"db-1\".cluster` is `15-main`, not a cluster as \
         `pg_lsclusters` names one | hint: write the major version and the cluster's name, such \
         as `15/main` (the VERSION and CLUSTER columns of `pg_lsclusters`)"
    );
    let alone = DEBIAN.replace("actions = \"debian\"\n", "");
    assert!(
        report(&alone).contains("add `actions = \"debian\"`"),
        "{}",
        report(&alone)
    );
    let typo = DEBIAN.replace("\"debian\"", "\"debain\"");
    assert!(
        report(&typo).contains("did you mean `debian`?"),
        "{}",
        report(&typo)
    );
}

#[test]
fn ssh_is_checked_key_by_key() {
    let with_ssh = |ssh: &str| {
        DEBIAN.replace(
            "ssh = { address = \"10.0.0.1\", user = \"root\", identity_file = \"/var/lib/hadome/.ssh/id_ed25519\", known_hosts = \"/etc/hadome/known_hosts\" }",
            ssh,
        )
    };
    let base = "address = \"10.0.0.1\", user = \"root\", identity_file = \"/k\"";
    // known_hosts is required: hadome never connects to a host whose key it does not know.
    let report_of = |ssh: String| report(&with_ssh(&ssh));
    let no_known_hosts = report_of(format!("ssh = {{ {base} }}"));
    assert!(
        no_known_hosts.contains("`host \"host-1\".ssh.known_hosts`"),
        "{no_known_hosts}"
    );
    let relative = report_of(format!("ssh = {{ {base}, known_hosts = \"known_hosts\" }}"));
    assert!(relative.contains("a relative path"), "{relative}");
    let option = report_of(
        "ssh = { address = \"-oProxyCommand=x\", user = \"root\", identity_file = \"/k\", known_hosts = \"/kh\" }"
            .to_owned(),
    );
    assert!(
        option.contains("not a host name or an IP address"),
        "{option}"
    );
    let port = report_of(format!(
        "ssh = {{ {base}, known_hosts = \"/kh\", port = 0 }}"
    ));
    assert!(port.contains("from 1 to 65535"), "{port}");
    let unknown = report_of(format!(
        "ssh = {{ {base}, known_hosts = \"/kh\", hostkey_check = false }}"
    ));
    assert!(unknown.contains("hostkey_check"), "{unknown}");
    let slow = report_of(format!(
        "ssh = {{ {base}, known_hosts = \"/kh\", connect_timeout_seconds = 120 }}"
    ));
    assert!(slow.contains("longer than a minute"), "{slow}");
    let not_table = report_of("ssh = \"root@10.0.0.1\"".to_owned());
    assert!(not_table.contains("inline table"), "{not_table}");
    let user = report_of(
        "ssh = { address = \"h\", user = \"-l\", identity_file = \"/k\", known_hosts = \"/kh\" }"
            .to_owned(),
    );
    assert!(user.contains("not a user name"), "{user}");
}
