//! `[api]` (issue 16): the defaults, and each error with its line, key and fix.

use std::path::Path;

use hadome_core::estate::ApiRole;

use super::{report, TWO_INSTANCES};
use crate::parse;

fn with(table: &str) -> String {
    format!("{TWO_INSTANCES}\n{table}")
}

#[test]
fn without_api_nothing_is_served_and_with_it_loopback_is_the_default() {
    let estate = parse(TWO_INSTANCES, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.api, None);
    let api = parse(&with("[api]\n"), Path::new("estate.toml"))
        .unwrap()
        .api
        .unwrap();
    assert_eq!(api.listen, "127.0.0.1:8421");
    assert!(!api.expose);
    assert!(api.tokens.is_empty());
}

#[test]
fn tokens_are_read_with_their_roles() {
    let source = with(
        "[api]\nlisten = \"127.0.0.1:0\"\n\n[[api.token]]\nname = \"chatops\"\nrole = \"operator\"\nfile = \"/etc/hadome/api/chatops.token\"\n\n[[api.token]]\nname = \"pager\"\nrole = \"acker\"\nfile = \"/etc/hadome/api/pager.token\"\n",
    );
    let api = parse(&source, Path::new("estate.toml"))
        .unwrap()
        .api
        .unwrap();
    assert_eq!(api.listen, "127.0.0.1:0");
    let roles: Vec<(&str, ApiRole)> = api
        .tokens
        .iter()
        .map(|token| (token.name.as_str(), token.role))
        .collect();
    assert_eq!(
        roles,
        [("chatops", ApiRole::Operator), ("pager", ApiRole::Acker)]
    );
    assert!(ApiRole::Operator.allows("run") && ApiRole::Operator.allows("ack"));
    assert!(ApiRole::Acker.allows("ack") && !ApiRole::Acker.allows("run"));
    assert!(!ApiRole::Viewer.allows("ack") && !ApiRole::Viewer.allows("anything"));
}

#[test]
fn an_address_other_hosts_reach_needs_expose() {
    let error = report(&with("[api]\nlisten = \"0.0.0.0:8421\"\n"));
    assert!(
        error.contains("estate.toml:12")
            && error.contains("api.listen")
            && error.contains("expose = true"),
        "{error}"
    );
    let api = parse(
        &with("[api]\nlisten = \"0.0.0.0:8421\"\nexpose = true\n"),
        Path::new("estate.toml"),
    )
    .unwrap()
    .api
    .unwrap();
    assert!(api.expose);
}

#[test]
fn each_bad_key_is_named_with_its_fix() {
    for (table, words) in [
        ("[api]\nlisten = \"localhost\"\n", &["api.listen", "IP:PORT"][..]),
        ("[api]\nexpose = \"yes\"\n", &["api.expose", "a boolean"]),
        ("[api]\nlistn = \"127.0.0.1:1\"\n", &["listn", "listen"]),
        (
            "[api]\n[[api.token]]\nname = \"a\"\nrole = \"operater\"\nfile = \"/t\"\n",
            &["api.token[0].role", "did you mean `operator`"],
        ),
        (
            "[api]\n[[api.token]]\nname = \"a\"\nrole = \"acker\"\nfile = \"t\"\n",
            &["api.token[0].file", "absolute path"],
        ),
        (
            "[api]\n[[api.token]]\nrole = \"acker\"\nfile = \"/t\"\n",
            &["api.token[0].name", "name = "],
        ),
        (
            "[api]\n[[api.token]]\nname = \"a\"\nrole = \"acker\"\nfile = \"/t\"\n[[api.token]]\nname = \"a\"\nrole = \"viewer\"\nfile = \"/u\"\n",
            &["api.token[1].name", "already the name"],
        ),
    ] {
        let error = report(&with(table));
        for word in words {
            assert!(error.contains(word), "{table}: `{word}` not in: {error}");
        }
    }
}
