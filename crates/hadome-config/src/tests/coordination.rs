//! `[coordination]` (issue 13 point 7): the defaults, and each error with its line, key and fix.

use std::path::Path;

use super::{report, TWO_INSTANCES};
use crate::parse;

fn with(table: &str) -> String {
    format!("{TWO_INSTANCES}\n{table}")
}

#[test]
fn without_coordination_leases_stay_in_the_journal() {
    let estate = parse(TWO_INSTANCES, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.coordination, None);
}

#[test]
fn coordination_defaults_to_the_hadome_prefix_and_the_daemons_lease_ttl() {
    let source = with(
        "[coordination]\nendpoints = [\"http://127.0.0.1:2379\", \"http://127.0.0.1:2380\"]\n",
    );
    let coordination = parse(&source, Path::new("estate.toml"))
        .unwrap()
        .coordination
        .unwrap();
    assert_eq!(
        coordination.endpoints,
        ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]
    );
    assert_eq!(coordination.prefix, "/hadome/");
    // Six of the default probe intervals (1 s).
    assert_eq!(coordination.lease_ttl_seconds, 6);

    let fast = format!("[probe]\ninterval_seconds = 0.5\n{source}");
    let coordination = parse(&fast, Path::new("estate.toml"))
        .unwrap()
        .coordination
        .unwrap();
    assert_eq!(coordination.lease_ttl_seconds, 5, "at least 5 s");
    let slow = format!("[probe]\ninterval_seconds = 2.5\n{source}");
    let coordination = parse(&slow, Path::new("estate.toml"))
        .unwrap()
        .coordination
        .unwrap();
    assert_eq!(coordination.lease_ttl_seconds, 15, "six intervals");

    let set = with(
        "[coordination]\nendpoints = [\"http://e:2379\"]\nprefix = \"/team-a/\"\nlease_ttl_seconds = 9\n",
    );
    let coordination = parse(&set, Path::new("estate.toml"))
        .unwrap()
        .coordination
        .unwrap();
    assert_eq!(
        (coordination.prefix.as_str(), coordination.lease_ttl_seconds),
        ("/team-a/", 9)
    );
}

#[test]
fn coordination_errors_name_the_line_the_key_and_the_fix() {
    // TWO_INSTANCES is 9 lines, then a blank line: `[coordination]` is line 11.
    assert_eq!(
        report(&with("[coordination]\nendpoint = [\"http://e:2379\"]\n")),
        "estate.toml:12: unknown key `coordination.endpoint` | hint: did you mean `endpoints`?"
    );
    assert_eq!(
        report(&with("[coordination]\nprefix = \"/hadome/\"\n")),
        "estate.toml:11: `coordination.endpoints` is missing | hint: add `endpoints = \
         [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]` to `[coordination]`"
    );
    assert_eq!(
        report(&with("[coordination]\nendpoints = []\n")),
        "estate.toml:12: `coordination.endpoints` is empty | hint: list at least one, such as \
         `endpoints = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]`"
    );
    assert_eq!(
        report(&with("[coordination]\nendpoints = [\"10.0.0.1:2379\"]\n")),
        "estate.toml:12: `coordination.endpoints[0]` is `10.0.0.1:2379`, which is not an \
         `http://` or `https://` URL | hint: write each etcd client URL as etcd advertises it, \
         such as `endpoints = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]`"
    );
    assert_eq!(
        report(&with(
            "[coordination]\nendpoints = [\"http://e:2379\"]\nprefix = \"hadome\"\n"
        )),
        "estate.toml:13: `coordination.prefix` is `hadome`, which does not start and end with \
         `/` | hint: give a key prefix such as `prefix = \"/hadome/\"` (hadome writes \
         `PREFIX/lease/CLUSTER`, `PREFIX/hold/CLUSTER` and `PREFIX/intent/CLUSTER`)"
    );
    assert_eq!(
        report(&with(
            "[coordination]\nendpoints = [\"http://e:2379\"]\nlease_ttl_seconds = 1.5\n"
        )),
        "estate.toml:13: `coordination.lease_ttl_seconds` is 1.5 s: an etcd lease lives a whole \
         number of seconds, from 2 to 3600 | hint: write a whole number of seconds, such as \
         `lease_ttl_seconds = 6` (six probe intervals, the default): a daemon cut off from etcd \
         stops acting within it"
    );
    assert_eq!(
        report(&format!("coordination = \"etcd\"\n{TWO_INSTANCES}")),
        "estate.toml:1: `coordination` is a string, but must be a table | hint: write it as a table: a \
         `[coordination]` header with its keys on the lines below"
    );
}

/// `[coordination]` over TLS, with a client certificate and a user, as `[[quorum]]`.
const TLS: &str = "[coordination]\n\
                   endpoints = [\"https://10.0.0.1:2379\", \"https://10.0.0.2:2379\"]\n\
                   ca_file = \"/etc/etcd/ca.crt\"\n\
                   cert_file = \"/etc/hadome/etcd.crt\"\n\
                   key_file = \"/etc/hadome/etcd.key\"\n\
                   user = \"hadome\"\n\
                   password_file = \"/etc/hadome/etcd-password\"\n";

#[test]
fn coordination_over_tls_keeps_paths_only() {
    let coordination = parse(&with(TLS), Path::new("estate.toml"))
        .unwrap()
        .coordination
        .unwrap();
    let security = coordination.security;
    assert_eq!(
        security.ca_file.as_deref(),
        Some(Path::new("/etc/etcd/ca.crt"))
    );
    assert_eq!(
        security.client_cert,
        Some(("/etc/hadome/etcd.crt".into(), "/etc/hadome/etcd.key".into()))
    );
    let credentials = security.credentials.unwrap();
    assert_eq!(credentials.user, "hadome");
    assert_eq!(
        credentials.password_file,
        Path::new("/etc/hadome/etcd-password")
    );
    // Without the table's TLS keys, nothing is set.
    let plain = parse(
        &with("[coordination]\nendpoints = [\"http://e:2379\"]\n"),
        Path::new("estate.toml"),
    )
    .unwrap()
    .coordination
    .unwrap();
    assert_eq!(plain.security, Default::default());
}

#[test]
fn coordination_tls_errors_are_the_quorum_s() {
    // `[coordination]` is line 11: endpoints 12, ca_file 13, cert_file 14, key_file 15, user 16,
    // password_file 17.
    assert_eq!(
        report(&with(&TLS.replace("ca_file = \"/etc/etcd/ca.crt\"\n", ""))),
        "estate.toml:11: `coordination.ca_file` is missing, and the coordination etcd is reached \
         at `https://10.0.0.1:2379` (TLS) | hint: give the CA that signed the members' \
         certificates: `ca_file = \"/etc/etcd/ca.crt\"`"
    );
    assert_eq!(
        report(&with(&TLS.replace("https://10.0.0.2", "http://10.0.0.2"))),
        "estate.toml:13: `coordination.ca_file` is set, but the coordination etcd is reached at \
         `http://10.0.0.2:2379`, without TLS | hint: write the member's endpoint as \
         `https://…`, or remove `ca_file`"
    );
    assert_eq!(
        report(&with(
            &TLS.replace("key_file = \"/etc/hadome/etcd.key\"\n", "")
        )),
        "estate.toml:14: `coordination.cert_file` is set without `key_file` | hint: give the \
         client certificate's key too: `key_file = \"/etc/hadome/etcd-client.key\"`"
    );
    assert_eq!(
        report(&with(
            &TLS.replace("cert_file = \"/etc/hadome/etcd.crt\"\n", "")
        )),
        "estate.toml:14: `coordination.key_file` is set without `cert_file` | hint: give the \
         client certificate too: `cert_file = \"/etc/hadome/etcd-client.crt\"`"
    );
    assert_eq!(
        report(&with(&TLS.replace("user = \"hadome\"\n", ""))),
        "estate.toml:16: `coordination.password_file` is set without `user` | hint: name the \
         etcd user the password belongs to: `user = \"hadome\"`"
    );
    assert_eq!(
        report(&with(&TLS.replace(
            "password_file = \"/etc/hadome/etcd-password\"\n",
            ""
        ))),
        "estate.toml:16: `coordination.user` is set without `password_file` | hint: give the \
         file that holds the user's password (never the password itself): \
         `password_file = \"/etc/hadome/etcd-password\"`"
    );
    assert!(
        report(&with(&TLS.replace("\"/etc/etcd/ca.crt\"", "\"ca.crt\"")))
            .starts_with("estate.toml:13: `coordination.ca_file` is `ca.crt`, a relative path"),
    );
    assert_eq!(
        report(&with(&TLS.replace("ca_file", "ca_fil"))),
        "estate.toml:13: unknown key `coordination.ca_fil` | hint: did you mean `ca_file`?"
    );
}
