//! `[[host]]`, and backups' `covers` and `stored_on` (issue 12): valid files, defaults, and each
//! error with its line, key and fix.

use std::path::{Path, PathBuf};

use super::{argv, report, TWO_INSTANCES};
use crate::parse;

/// `TWO_INSTANCES` (lines 1–9), then `more` from line 10 on.
fn with(more: &str) -> String {
    format!("{TWO_INSTANCES}{more}")
}

const S512: &str = "
[[host]]
name = \"s512\"
data_paths = [\"/srv/uploads\", \"/var/mail\"]
";

#[test]
fn a_host_with_every_key_becomes_the_estate() {
    let source = with(
        r#"
[[host]]
name = "s512"
facts_command = ["ssh", "s512", "hadome", "host-facts"]
data_paths = ["/srv/uploads"]
min_uptime_seconds = 900
max_boots = 5
boot_window_seconds = 7200.5
freshness_seconds = 10
reboot_command = ["ssh", "{host}", "systemctl", "reboot"]
image_command = ["cloud", "image", "create", "{host}", "{image}"]
verify_image_command = ["cloud", "image", "verify", "{image}"]
delete_command = ["cloud", "server", "delete", "{host}"]

[[host]]
name = "backup-1.example.org"

[[backup]]
name = "uploads"
type = "files"
path = "/srv/backups/uploads-*.tar"
covers = ["s512:/srv/uploads", "s512:/etc"]
stored_on = "backup-1.example.org"
"#,
    );
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    let host = estate.host("s512").unwrap();
    assert_eq!(
        host.facts_command,
        argv(&["ssh", "s512", "hadome", "host-facts"])
    );
    assert_eq!(host.data_paths, [PathBuf::from("/srv/uploads")]);
    assert_eq!(
        (
            host.min_uptime_seconds,
            host.max_boots,
            host.boot_window_seconds,
            host.freshness_seconds
        ),
        (900.0, 5, 7200.5, 10.0)
    );
    assert_eq!(
        host.commands.image,
        argv(&["cloud", "image", "create", "{host}", "{image}"])
    );
    assert_eq!(
        host.commands.delete,
        argv(&["cloud", "server", "delete", "{host}"])
    );
    let backup = estate.backup("uploads").unwrap();
    let covers: Vec<String> = backup.covers.iter().map(ToString::to_string).collect();
    assert_eq!(covers, ["s512:/srv/uploads", "s512:/etc"]);
    assert_eq!(backup.stored_on.as_deref(), Some("backup-1.example.org"));
}

#[test]
fn a_host_with_a_name_only_has_the_defaults_and_instances_need_not_declare_theirs() {
    let estate = parse(
        &with("\n[[host]]\nname = \"s512\"\n"),
        Path::new("estate.toml"),
    )
    .unwrap();
    let host = &estate.hosts[0];
    assert_eq!(host.facts_command, None, "hadome runs on it");
    assert!(host.data_paths.is_empty());
    assert_eq!(
        (
            host.min_uptime_seconds,
            host.max_boots,
            host.boot_window_seconds,
            host.freshness_seconds
        ),
        (600.0, 3, 3600.0, 30.0)
    );
    assert_eq!(host.commands, Default::default());
    // The instances' host, `localhost`, is not declared, and need not be.
    assert_eq!(estate.instances[0].host, "localhost");
    assert_eq!(estate.host_names(), ["localhost", "s512"]);
}

#[test]
fn a_host_key_error_names_file_line_key_and_fix() {
    assert_eq!(
        report(&with("\n[[host]]\nname = \"s512\"\nmax_boot = 3\n")),
        "estate.toml:13: unknown key `host \"s512\".max_boot` | hint: did you mean `max_boots`?"
    );
    assert_eq!(
        report(&with("\n[[host]]\nname = \"S512\"\n")),
        "estate.toml:12: `host[0].name` is `S512`, which is not a valid host name | hint: use 1 to 253 characters of a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit, as instances' `host` names it"
    );
    assert_eq!(
        report(&with(&format!("{S512}{S512}"))),
        "estate.toml:16: `host[1].name`: host `s512` is already declared on line 11 | hint: give every host a distinct `name`"
    );
    assert_eq!(
        report(&with("\n[[host]]\nname = \"s512\"\ndata_paths = [\"srv/uploads\"]\n")),
        "estate.toml:13: `host \"s512\".data_paths[0]` is `srv/uploads`, not an absolute path | hint: give each data path as an absolute path on the host, such as `/srv/uploads`"
    );
    assert_eq!(
        report(&with("\n[[host]]\nname = \"s512\"\nmax_boots = 0\n")),
        "estate.toml:13: `host \"s512\".max_boots` must be a whole number of boots from 1 to 4294967295, not `0` | hint: write how many boots within `boot_window_seconds` refuse a further reboot, such as `max_boots = 3`"
    );
    assert_eq!(
        report(&with("\n[[host]]\nname = \"s512\"\nreboot_command = [\"reboot-vm\", \"{image}\"]\n")),
        "estate.toml:13: `host \"s512\".reboot_command[1]` has the placeholder `{image}`, which `reboot_command` does not take | hint: use one of them: the placeholder is `{host}` (this host's name)"
    );
    assert_eq!(
        report(&with("\n[[host]]\nname = \"s512\"\ndelete_command = \"cloud server delete s512\"\n")),
        "estate.toml:13: `host \"s512\".delete_command` is a string, but must be an argv array of strings | hint: write it as an argv array, one string per argument (hadome runs no shell): `delete_command = [\"cloud\", \"server\", \"delete\", \"s512\"]`"
    );
}

fn with_backup(keys: &str) -> String {
    with(&format!(
        "{S512}\n[[backup]]\nname = \"uploads\"\ntype = \"files\"\npath = \"/b/u-*.tar\"\n{keys}\n"
    ))
}

#[test]
fn a_backup_covers_paths_on_declared_hosts_and_is_stored_on_one() {
    assert_eq!(
        report(&with_backup("covers = [\"s521:/srv/uploads\"]")),
        "estate.toml:19: `backup \"uploads\".covers[0]` names `s521`, which is not a declared host | hint: did you mean `s512`?"
    );
    assert_eq!(
        report(&with_backup("covers = [\"/srv/uploads\"]")),
        "estate.toml:19: `backup \"uploads\".covers[0]` is `/srv/uploads`, which names no host | hint: write the host and the path on it, as `HOST:/PATH`, such as `covers = [\"s512:/srv/uploads\"]`"
    );
    assert_eq!(
        report(&with_backup("covers = [\"s512:srv/uploads\"]")),
        "estate.toml:19: `backup \"uploads\".covers[0]` is `s512:srv/uploads`, whose path `srv/uploads` is not absolute | hint: give the path on `s512` as an absolute path, such as `s512:/srv/uploads`"
    );
    assert_eq!(
        report(&with_backup("covers = \"s512:/srv/uploads\"")),
        "estate.toml:19: `backup \"uploads\".covers` is a string, but must be an array of `HOST:/PATH` strings | hint: write it as an array of quoted `HOST:/PATH`: `covers = [\"s512:/srv/uploads\"]`"
    );
    assert_eq!(
        report(&with_backup("stored_on = \"elsewhere\"")),
        "estate.toml:19: `backup \"uploads\".stored_on` names `elsewhere`, which is not a declared host | hint: name a `[[host]]` (the hosts are `s512`), or declare `elsewhere` with its own `[[host]]`"
    );
    assert_eq!(
        report(&with("\n[[backup]]\nname = \"u\"\ntype = \"files\"\npath = \"/b/u-*.tar\"\nstored_on = \"s512\"\n")),
        "estate.toml:15: `backup \"u\".stored_on` names `s512`, which is not a declared host | hint: declare the host first: `[[host]]` with `name = \"s512\"` (examples/estate.toml)"
    );
    assert_eq!(
        report(&with_backup("cover = [\"s512:/srv\"]")),
        "estate.toml:19: unknown key `backup \"uploads\".cover` | hint: did you mean `covers`?"
    );
}
