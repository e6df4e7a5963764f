//! `[[etcd]]` and `[[quorum]]` (issue 13): the lab's file, defaults, and each error with its
//! line, key and fix.

use std::path::Path;

use super::{argv, report, TWO_INSTANCES};
use crate::parse;

/// Three members on `h1`..`h3` and their quorum, as the lab writes them (lines 1–21).
const ETCD3: &str = r#"[[etcd]]
name = "etcd-1"
endpoints = ["http://127.0.0.1:23791"]
host = "h1"
start_command = ["lab", "start", "etcd-1"]
stop_command = ["lab", "stop", "etcd-1"]

[[etcd]]
name = "etcd-2"
endpoints = ["http://127.0.0.1:23792", "http://10.0.0.2:2379"]
host = "h2"

[[etcd]]
name = "etcd-3"
endpoints = ["http://127.0.0.1:23793"]
host = "h3"

[[quorum]]
name = "etcd"
members = ["etcd-1", "etcd-2", "etcd-3"]
max_raft_lag = 500
"#;

#[test]
fn etcd_members_alone_are_an_estate() {
    let estate = parse(ETCD3, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.etcd_members.len(), 3);
    let first = estate.etcd_member("etcd-1").unwrap();
    assert_eq!(first.host, "h1");
    assert_eq!(first.endpoints, ["http://127.0.0.1:23791"]);
    assert_eq!(first.commands.start, argv(&["lab", "start", "etcd-1"]));
    assert_eq!(first.commands.stop, argv(&["lab", "stop", "etcd-1"]));
    assert_eq!(estate.etcd_member("etcd-3").unwrap().commands.stop, None);
    let quorum = estate.quorum_of("etcd-2").unwrap();
    assert_eq!(quorum.name, "etcd");
    assert_eq!(quorum.members, ["etcd-1", "etcd-2", "etcd-3"]);
    assert_eq!(quorum.max_raft_lag, 500);
    assert_eq!(quorum.freshness_seconds, 30.0);
    assert_eq!(estate.host_names(), ["h1", "h2", "h3"]);
}

#[test]
fn max_raft_lag_defaults_to_a_thousand_entries() {
    let estate = parse(
        &ETCD3.replace("max_raft_lag = 500\n", ""),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(estate.quorums[0].max_raft_lag, 1000);
}

#[test]
fn a_member_name_is_unique_across_instances_and_members() {
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}{}",
            ETCD3.replace("name = \"etcd-2\"", "name = \"db-1\"")
        )),
        "estate.toml:18: `etcd[1].name`: instance `db-1` is already declared on line 1 \
         | hint: give every instance a distinct `name`"
    );
    assert_eq!(
        report(&ETCD3.replace("name = \"etcd-2\"", "name = \"etcd-1\"")),
        "estate.toml:9: `etcd[1].name`: etcd member `etcd-1` is already declared on line 1 \
         | hint: give every etcd member a distinct `name`"
    );
}

#[test]
fn a_quorum_member_must_be_an_etcd_member_once() {
    assert_eq!(
        report(&ETCD3.replace("\"etcd-3\"]", "\"etcd-4\"]")),
        "estate.toml:20: `quorum \"etcd\".members[2]` names `etcd-4`, which is not an \
         `[[etcd]]` member | hint: did you mean `etcd-1`?"
    );
    assert_eq!(
        report(&ETCD3.replace("\"etcd-3\"]", "\"db-1\"]")),
        "estate.toml:20: `quorum \"etcd\".members[2]` names `db-1`, which is not an `[[etcd]]` \
         member | hint: declare it first: `[[etcd]]` with `name = \"db-1\"`, its `endpoints` \
         and `host` (examples/estate.toml)"
    );
    assert_eq!(
        report(&ETCD3.replace("\"etcd-3\"]", "\"etcd-1\"]")),
        "estate.toml:20: `quorum \"etcd\".members[2]` lists `etcd-1` again (it is already \
         `members[0]`) | hint: list each member once"
    );
    let two = format!("{ETCD3}\n[[quorum]]\nname = \"other\"\nmembers = [\"etcd-2\"]\n");
    assert_eq!(
        report(&two),
        "estate.toml:25: `quorum \"other\".members[0]` lists `etcd-2`, already a member of \
         quorum `etcd` (line 20) | hint: a member votes in one quorum: remove `etcd-2` from this \
         quorum or from `etcd`"
    );
}

#[test]
fn endpoints_are_urls_and_a_member_names_its_host() {
    assert_eq!(
        report(&ETCD3.replace("\"http://127.0.0.1:23791\"", "\"127.0.0.1:23791\"")),
        "estate.toml:3: `etcd \"etcd-1\".endpoints[0]` is `127.0.0.1:23791`, which is not an \
         `http://` or `https://` URL | hint: write the member's client URL as etcd advertises \
         it (`--advertise-client-urls`), such as `endpoints = [\"https://10.0.0.1:2379\"]`"
    );
    assert_eq!(
        report(&ETCD3.replace("endpoints = [\"http://127.0.0.1:23791\"]", "endpoints = []")),
        "estate.toml:3: `etcd \"etcd-1\".endpoints` is empty | hint: list at least one, such as \
         `endpoints = [\"https://10.0.0.1:2379\"]`"
    );
    assert_eq!(
        report(&ETCD3.replace("host = \"h1\"\n", "")),
        "estate.toml:1: `etcd \"etcd-1\".host` is missing | hint: add `host = \"h1\"` to this \
         `[[etcd]]`"
    );
    assert_eq!(
        report(&ETCD3.replace("max_raft_lag = 500", "max_raft_lag = -1")),
        "estate.toml:21: `quorum \"etcd\".max_raft_lag` must be a whole number of raft entries, \
         0 or more, not `-1` | hint: write how far behind the leader's raft index a member may \
         be and still count as healthy, such as `max_raft_lag = 1000`"
    );
    assert_eq!(
        report(&ETCD3.replace("host = \"h1\"\n", "host = \"h1\"\nport = 2379\n")),
        "estate.toml:5: unknown key `etcd \"etcd-1\".port` | hint: did you mean `host`?"
    );
}

/// `ETCD3` over TLS, with a client certificate and a user.
fn etcd3_tls() -> String {
    ETCD3.replace("http://", "https://").replace(
        "max_raft_lag = 500\n",
        "max_raft_lag = 500\n\
         ca_file = \"/etc/etcd/ca.crt\"\n\
         cert_file = \"/etc/hadome/etcd.crt\"\n\
         key_file = \"/etc/hadome/etcd.key\"\n\
         user = \"hadome\"\n\
         password_file = \"/etc/hadome/etcd-password\"\n",
    )
}

#[test]
fn a_quorum_reached_over_tls_with_a_user_keeps_paths_only() {
    let estate = parse(&etcd3_tls(), Path::new("estate.toml")).unwrap();
    let security = &estate.quorums[0].security;
    assert_eq!(
        security.ca_file.as_deref(),
        Some(Path::new("/etc/etcd/ca.crt"))
    );
    assert_eq!(
        security.client_cert,
        Some(("/etc/hadome/etcd.crt".into(), "/etc/hadome/etcd.key".into()))
    );
    let credentials = security.credentials.as_ref().unwrap();
    assert_eq!(credentials.user, "hadome");
    assert_eq!(
        credentials.password_file,
        Path::new("/etc/hadome/etcd-password")
    );
    // Without the keys, nothing: plain http, no user.
    let plain = parse(ETCD3, Path::new("estate.toml")).unwrap();
    assert_eq!(plain.quorums[0].security, Default::default());
}

#[test]
fn tls_and_credentials_are_complete_and_agree_with_the_endpoints() {
    let tls = etcd3_tls();
    assert_eq!(
        report(&tls.replace("key_file = \"/etc/hadome/etcd.key\"\n", "")),
        "estate.toml:23: `quorum \"etcd\".cert_file` is set without `key_file` | hint: give the \
         client certificate's key too: `key_file = \"/etc/hadome/etcd-client.key\"`"
    );
    assert_eq!(
        report(&tls.replace("user = \"hadome\"\n", "")),
        "estate.toml:25: `quorum \"etcd\".password_file` is set without `user` | hint: name the \
         etcd user the password belongs to: `user = \"hadome\"`"
    );
    assert_eq!(
        report(&tls.replace("password_file = \"/etc/hadome/etcd-password\"\n", "")),
        "estate.toml:25: `quorum \"etcd\".user` is set without `password_file` | hint: give the \
         file that holds the user's password (never the password itself): \
         `password_file = \"/etc/hadome/etcd-password\"`"
    );
    assert_eq!(
        report(&tls.replace("https://127.0.0.1:23793", "http://127.0.0.1:23793")),
        "estate.toml:22: `quorum \"etcd\".ca_file` is set, but `etcd-3` is reached at \
         `http://127.0.0.1:23793`, without TLS | hint: write the member's endpoint as \
         `https://…`, or remove `ca_file`"
    );
    assert_eq!(
        report(&ETCD3.replace("http://127.0.0.1:23793", "https://127.0.0.1:23793")),
        "estate.toml:18: `quorum \"etcd\".ca_file` is missing, and `etcd-3` is reached at \
         `https://127.0.0.1:23793` (TLS) | hint: give the CA that signed the members' \
         certificates: `ca_file = \"/etc/etcd/ca.crt\"`"
    );
    assert_eq!(
        report(&tls.replace("ca_file = \"/etc/etcd/ca.crt\"", "ca_file = \"ca.crt\"")),
        "estate.toml:22: `quorum \"etcd\".ca_file` is `ca.crt`, a relative path | hint: give \
         the CA's certificate (PEM) as an absolute path, such as `/etc/etcd/ca.crt`"
    );
}
