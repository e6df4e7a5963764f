//! The parser's tests: valid files, defaults, and every error with its exact line, key and fix.
//!
//! Error tests compare the whole `error | hint` text: the message is the product here, so a
//! change to it should be a deliberate edit of the expected text.

use std::path::{Path, PathBuf};

use hadome_core::estate::{
    AsyncFailoverPolicy, Automation, Budget, Cluster, CrashPolicy, FailoverPolicy, Instance,
    InstanceCommands, Notify, OldPrimaryPolicy,
};

use crate::{load, parse, ConfigError};

/// Two valid instances on lines 1–9; tests append from line 10 on.
pub(super) const TWO_INSTANCES: &str = "\
[[instance]]
name = \"db-1\"
conninfo = \"host=10.0.0.1 port=5432\"
data_dir = \"/srv/db-1\"

[[instance]]
name = \"db-2\"
conninfo = \"host=10.0.0.2 port=5432\"
data_dir = \"/srv/db-2\"
";

fn error_of(source: &str) -> ConfigError {
    match parse(source, Path::new("estate.toml")) {
        Ok(estate) => panic!("expected an error, got {estate:?}"),
        Err(error) => error,
    }
}

/// `error | hint: fix`, the two lines the CLI prints.
pub(super) fn report(source: &str) -> String {
    let error = error_of(source);
    format!("{error} | hint: {}", error.hint().unwrap_or_default())
}

fn with_cluster(cluster: &str) -> String {
    format!("{TWO_INSTANCES}{cluster}")
}

#[test]
fn a_full_file_becomes_the_estate() {
    let source = r#"
[journal]
path = "/var/lib/hadome/journal.sqlite"

[probe]
timeout_seconds = 0.5
interval_seconds = 3

[[instance]]
name = "db-1"
conninfo = "host=10.0.0.1 port=5432 user=hadome dbname=postgres password='s p'"
data_dir = "/var/lib/postgresql/15/main"
host = "pg-a"
application_name = "pg_a_1"

[[instance]]
name = "db-2"
conninfo = "host=10.0.0.2 port=5433"
data_dir = "/data"

[[instance]]
name = "solo"
conninfo = "port=5434"
data_dir = "/solo"

[[cluster]]
name = "main"
members = ["db-2", "db-1"]
failover = "auto"
max_lag_on_failover_bytes = 0x100
freshness_seconds = 10
max_replication_lag_bytes = 1_048_576
"#;
    let estate = parse(source, Path::new("/etc/hadome/estate.toml")).unwrap();
    assert_eq!(
        estate.journal_path,
        PathBuf::from("/var/lib/hadome/journal.sqlite")
    );
    assert_eq!(estate.probe_timeout_seconds, 0.5);
    assert_eq!(estate.probe_interval_seconds, 3.0);
    assert_eq!(
        estate.instances,
        vec![
            Instance {
                name: "db-1".into(),
                conninfo: "host=10.0.0.1 port=5432 user=hadome dbname=postgres password='s p'"
                    .into(),
                data_dir: "/var/lib/postgresql/15/main".into(),
                host: "pg-a".into(),
                application_name: "pg_a_1".into(),
                commands: Default::default(),
            },
            Instance {
                name: "db-2".into(),
                conninfo: "host=10.0.0.2 port=5433".into(),
                data_dir: "/data".into(),
                host: "localhost".into(),
                application_name: "db-2".into(),
                commands: Default::default(),
            },
            Instance {
                name: "solo".into(),
                conninfo: "port=5434".into(),
                data_dir: "/solo".into(),
                host: "localhost".into(),
                application_name: "solo".into(),
                commands: Default::default(),
            },
        ]
    );
    assert_eq!(
        estate.clusters,
        vec![Cluster {
            name: "main".into(),
            members: vec!["db-2".into(), "db-1".into()],
            failover: FailoverPolicy::Auto,
            max_lag_on_failover_bytes: 256,
            freshness_seconds: 10.0,
            max_replication_lag_bytes: 1_048_576,
            automation: Default::default(),
        }]
    );
    assert_eq!(estate.cluster_of("db-1").unwrap().name, "main");
    assert!(estate.cluster_of("solo").is_none());
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let estate = parse(
        &with_cluster("[[cluster]]\nname = \"main\"\nmembers = [\"db-1\", \"db-2\"]\n"),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(estate.journal_path, PathBuf::from("hadome.sqlite"));
    assert_eq!(estate.probe_timeout_seconds, 2.0);
    assert_eq!(estate.probe_interval_seconds, 1.0);
    assert_eq!(estate.instances[1].host, "localhost");
    assert_eq!(estate.instances[1].application_name, "db-2");
    let cluster = &estate.clusters[0];
    assert_eq!(cluster.failover, FailoverPolicy::Manual);
    assert_eq!(cluster.max_lag_on_failover_bytes, 0);
    assert_eq!(cluster.freshness_seconds, 30.0);
    assert_eq!(cluster.max_replication_lag_bytes, 64 * 1024 * 1024);

    // Empty `[journal]` and `[probe]` tables, and no cluster at all, are fine too.
    let estate = parse(
        &format!("[journal]\n[probe]\n{TWO_INSTANCES}"),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(estate.journal_path, PathBuf::from("hadome.sqlite"));
    assert!(estate.clusters.is_empty());
}

#[test]
fn a_relative_journal_path_is_relative_to_the_file() {
    let journal = |journal: &str, file: &str| {
        parse(&format!("{journal}{TWO_INSTANCES}"), Path::new(file))
            .unwrap()
            .journal_path
    };
    assert_eq!(
        journal("", "/etc/hadome/estate.toml"),
        PathBuf::from("/etc/hadome/hadome.sqlite")
    );
    assert_eq!(
        journal(
            "[journal]\npath = \"state/j.sqlite\"\n",
            "/etc/hadome/estate.toml"
        ),
        PathBuf::from("/etc/hadome/state/j.sqlite")
    );
    assert_eq!(
        journal("[journal]\npath = \"j.sqlite\"\n", "conf/estate.toml"),
        PathBuf::from("conf/j.sqlite")
    );
    assert_eq!(
        journal("[journal]\npath = \"j.sqlite\"\n", "estate.toml"),
        PathBuf::from("j.sqlite")
    );
    assert_eq!(
        journal("[journal]\npath = \"/var/j.sqlite\"\n", "/etc/estate.toml"),
        PathBuf::from("/var/j.sqlite")
    );
}

#[test]
fn the_annotated_example_parses() {
    let source = include_str!("../../../examples/estate.toml");
    let estate = parse(source, Path::new("examples/estate.toml")).unwrap();
    assert_eq!(estate.instances.len(), 3);
    assert_eq!(estate.instances[0].host, "pg-a.example.org");
    assert_eq!(estate.etcd_members.len(), 3);
    assert_eq!(estate.quorums[0].members, ["etcd-1", "etcd-2", "etcd-3"]);
    assert_eq!(estate.quorums[0].max_raft_lag, 1000);
    assert_eq!(estate.journal_path, PathBuf::from("examples/hadome.sqlite"));
    assert_eq!(
        estate.clusters[0].members,
        ["db-1", "db-2", "db-3"].map(String::from)
    );
    assert_eq!(estate.clusters[0].max_replication_lag_bytes, 67_108_864);
    let commands = &estate.instances[0].commands;
    assert_eq!(
        commands.start.as_deref(),
        Some(&["systemctl", "start", "postgresql@15-main"].map(String::from)[..])
    );
    assert_eq!(
        commands.stop.as_deref(),
        Some(&["systemctl", "stop", "postgresql@15-main"].map(String::from)[..])
    );
    assert_eq!(
        commands.rebuild.as_deref().map(|argv| argv[0].as_str()),
        Some("/usr/local/bin/hadome-make-standby")
    );
    assert_eq!(
        commands.fence,
        argv(&["/usr/local/bin/fence-postgres", "{target}", "{data_dir}"])
    );
    assert_eq!(
        commands.follow,
        argv(&[
            "/usr/local/bin/follow",
            "{target}",
            "--upstream",
            "{source_conninfo}"
        ])
    );
    // db-2 (issue 15): the built-in actions on a Debian cluster, on a host reached over SSH.
    assert_eq!(
        estate.instances[1].commands,
        InstanceCommands {
            debian: hadome_core::remote::DebianCluster::parse("15/main"),
            replication_conninfo: Some("host=10.0.0.2 port=5432 user=replicator".to_owned()),
            ..InstanceCommands::default()
        }
    );
    let ssh = estate.ssh_of(&estate.instances[1].host).unwrap();
    assert_eq!(ssh.destination(), "root@10.0.0.2:22");
    assert_eq!(estate.instances[2].commands, InstanceCommands::default());
    // It shows every automation key with its default value.
    assert_eq!(estate.clusters[0].automation, Automation::default());
    assert_eq!(
        estate.notify.webhook_url.as_deref(),
        Some("https://hooks.slack.com/services/T000/B000/XXXX")
    );
    // Hosts (issue 12): every key of `s512`, and `backup-1` with its defaults.
    let s512 = estate.host("s512").unwrap();
    assert_eq!(s512.data_paths, [PathBuf::from("/srv/uploads")]);
    assert_eq!(
        s512.commands.verify_image,
        argv(&["cloud", "image", "verify", "{image}"])
    );
    assert_eq!(
        estate.host("backup-1").unwrap().commands,
        Default::default()
    );
    let uploads = estate.backup("uploads").unwrap();
    assert_eq!(uploads.covers[0].to_string(), "s512:/srv/uploads");
    assert_eq!(uploads.stored_on.as_deref(), Some("backup-1"));
    // Web routes (issue 14): every key of route `app-1`, service `app-1` and nginx `web`; service
    // `console` with its defaults.
    let web = &estate.web;
    let app = web.service("app-1").unwrap();
    assert_eq!((app.address_host.as_str(), app.port), ("app-1", 3000));
    assert_eq!(app.host.as_deref(), Some("s512"));
    assert_eq!(
        app.running_command,
        argv(&["systemctl", "is-active", "--quiet", "app-1"])
    );
    assert_eq!(web.service("console").unwrap().running_command, None);
    let route = web.route("app-1").unwrap();
    assert_eq!(route.url.to_string(), "https://app-1.apps.example.org/");
    assert_eq!(route.service, "app-1");
    assert_eq!(route.hop_limit, 10);
    assert_eq!(route.connect_to.as_deref(), Some("10.0.2.1:443"));
    assert_eq!(route.arrival.status, Some(200));
    assert_eq!(
        route.arrival.header,
        Some(("X-Service".to_owned(), "app-1".to_owned()))
    );
    assert_eq!(route.arrival.body_marker.as_deref(), Some("app-1"));
    let nginx = web.nginx("web").unwrap();
    assert_eq!(nginx.host.as_deref(), Some("s512"));
    assert_eq!(
        Some(nginx.reload_command.clone()),
        argv(&["ssh", "s512", "nginx", "-s", "reload"])
    );
}

pub(super) fn argv(words: &[&str]) -> Option<Vec<String>> {
    Some(words.iter().map(|word| (*word).to_owned()).collect())
}

#[test]
fn instance_commands_are_argv_arrays() {
    let source = format!(
        "{TWO_INSTANCES}\
start_command = [\"systemctl\", \"start\", \"postgresql@15-main\"]
stop_command = [
  \"/usr/bin/pg_ctlcluster\",
  \"15\", \"main\", \"stop\", \"--\", \"-m\", \"fast\",
]
rebuild_command = [\"/usr/local/bin/make-standby\", \"--from={{source}}\", \"{{source_conninfo}}\",
  \"--target\", \"{{target}}\", \"--into\", \"{{data_dir}}/{{target}}\", \"it's \\\"quoted\\\"\"]
"
    );
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.instances[0].commands, InstanceCommands::default());
    assert_eq!(
        estate.instances[1].commands,
        InstanceCommands {
            start: argv(&["systemctl", "start", "postgresql@15-main"]),
            stop: argv(&[
                "/usr/bin/pg_ctlcluster",
                "15",
                "main",
                "stop",
                "--",
                "-m",
                "fast"
            ]),
            rebuild: argv(&[
                "/usr/local/bin/make-standby",
                "--from={source}",
                "{source_conninfo}",
                "--target",
                "{target}",
                "--into",
                "{data_dir}/{target}",
                "it's \"quoted\"",
            ]),
            fence: None,
            follow: None,
            debian: None,
            replication_conninfo: None,
        }
    );

    // Each one alone; the others stay unset.
    let estate = parse(
        &format!("{TWO_INSTANCES}rebuild_command = [\"make-standby\"]\n"),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(
        estate.instances[1].commands,
        InstanceCommands {
            start: None,
            stop: None,
            rebuild: argv(&["make-standby"]),
            fence: None,
            follow: None,
            debian: None,
            replication_conninfo: None,
        }
    );
}

#[test]
fn a_command_written_as_a_string_is_shown_as_an_argv_array() {
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}start_command = \"systemctl start postgresql@15-main\"\n"
        )),
        "estate.toml:10: `instance \"db-2\".start_command` is a string, but must be an argv array \
         of strings | hint: write it as an argv array, one string per argument (hadome runs no \
         shell): `start_command = [\"systemctl\", \"start\", \"postgresql@15-main\"]`"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}stop_command = \"  \"\n")),
        "estate.toml:10: `instance \"db-2\".stop_command` is a string, but must be an argv array \
         of strings | hint: write it as an argv array, one string per argument (hadome runs no \
         shell): `stop_command = [\"systemctl\", \"stop\", \"postgresql@15-main\"]`"
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace(
            "data_dir = \"/srv/db-1\"\n",
            "data_dir = \"/srv/db-1\"\nrebuild_command = { program = \"x\" }\n"
        )),
        "estate.toml:5: `instance \"db-1\".rebuild_command` is a table, but must be an argv \
         array of strings | hint: write it as an argv array, one string per argument (hadome \
         runs no shell): `rebuild_command = [\"/usr/local/bin/make-standby\", \"--from\", \
         \"{source_conninfo}\", \"--into\", \"{data_dir}\"]`"
    );
}

#[test]
fn an_empty_command_or_argument_is_refused() {
    assert_eq!(
        report(&format!("{TWO_INSTANCES}stop_command = []\n")),
        "estate.toml:10: `instance \"db-2\".stop_command` is empty | hint: give the program and \
         its arguments, such as `stop_command = [\"systemctl\", \"stop\", \"postgresql@15-main\"]`, \
         or leave the key out"
    );
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}start_command = [\n  \"\",\n  \"start\",\n]\n"
        )),
        "estate.toml:11: `instance \"db-2\".start_command[0]` is empty | hint: name the program \
         to run first, as an absolute path or a name found on hadome's PATH"
    );
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}start_command = [\n  \"systemctl\",\n  \"\",\n]\n"
        )),
        "estate.toml:12: `instance \"db-2\".start_command[1]` is empty | hint: remove the empty \
         string: each element is passed as one argument, so `\"\"` would be an empty argument"
    );
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}rebuild_command = [\"make-standby\",\n  5432]\n"
        )),
        "estate.toml:11: `instance \"db-2\".rebuild_command[1]` is an integer, but must be a \
         string | hint: quote every argument, numbers too: `rebuild_command = \
         [\"/usr/local/bin/make-standby\", \"--from\", \"{source_conninfo}\", \"--into\", \
         \"{data_dir}\"]`"
    );
}

#[test]
fn start_and_stop_commands_take_no_placeholders() {
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}start_command = [\"systemctl\", \"start\", \"postgresql@{{target}}\"]\n"
        )),
        "estate.toml:10: `instance \"db-2\".start_command[2]` holds `{target}`, but \
         `start_command` takes no placeholders | hint: write the instance's names and paths \
         literally: `start_command` takes no placeholders (only `rebuild_command`, \
         `fence_command` and `follow_command` do)"
    );
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}stop_command = [\n  \"stop-it\",\n  \"a{{b\",\n]\n"
        )),
        "estate.toml:12: `instance \"db-2\".stop_command[1]` holds a brace, but `stop_command` \
         takes no placeholders | hint: write the instance's names and paths literally: \
         `stop_command` takes no placeholders (only `rebuild_command`, `fence_command` and \
         `follow_command` do)"
    );
}

#[test]
fn an_unknown_rebuild_placeholder_lists_the_allowed_ones() {
    let explained = "the placeholders are `{source}` (the source instance's name), \
                     `{source_conninfo}` (its `conninfo`), `{target}` (this instance's name) and \
                     `{data_dir}` (this instance's data directory, which hadome has moved aside: \
                     the command must create it)";
    let rebuild = |argument: &str| {
        format!("{TWO_INSTANCES}rebuild_command = [\n  \"make-standby\",\n  \"{argument}\",\n]\n")
    };
    assert_eq!(
        report(&rebuild("--from={sorce}")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has the placeholder \
             `{{sorce}}`, which hadome does not know | hint: did you mean `{{source}}`? {explained}"
        )
    );
    assert_eq!(
        report(&rebuild("{datadir}")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has the placeholder \
             `{{datadir}}`, which hadome does not know | hint: did you mean `{{data_dir}}`? \
             {explained}"
        )
    );
    assert_eq!(
        report(&rebuild("{primary}")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has the placeholder \
             `{{primary}}`, which hadome does not know | hint: use one of them: {explained}"
        )
    );
    assert_eq!(
        report(&rebuild("{data_dir")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has a `{{` that no `}}` closes \
             | hint: write each placeholder whole, as `{{name}}`; {explained}"
        )
    );
    assert_eq!(
        report(&rebuild("{target}}")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has a `}}` that closes no `{{` \
             | hint: write each placeholder whole, as `{{name}}`; {explained}"
        )
    );
    assert_eq!(
        report(&rebuild("{{source}}")),
        format!(
            "estate.toml:12: `instance \"db-2\".rebuild_command[1]` has a `{{` that no `}}` closes \
             | hint: write each placeholder whole, as `{{name}}`; {explained}"
        )
    );
}

#[test]
fn fence_and_follow_commands_take_their_placeholders() {
    let source = format!(
        "{TWO_INSTANCES}\
fence_command = [\"/usr/local/bin/fence-postgres\", \"{{target}}\", \"{{data_dir}}/standby.signal\"]
follow_command = [\"/usr/local/bin/follow\", \"{{target}}\", \"--upstream\", \"{{source_conninfo}}\",
  \"--name={{source}}\", \"{{data_dir}}\"]
"
    );
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.instances[0].commands, InstanceCommands::default());
    assert_eq!(
        estate.instances[1].commands,
        InstanceCommands {
            start: None,
            stop: None,
            rebuild: None,
            fence: argv(&[
                "/usr/local/bin/fence-postgres",
                "{target}",
                "{data_dir}/standby.signal",
            ]),
            follow: argv(&[
                "/usr/local/bin/follow",
                "{target}",
                "--upstream",
                "{source_conninfo}",
                "--name={source}",
                "{data_dir}",
            ]),
            debian: None,
            replication_conninfo: None,
        }
    );
}

#[test]
fn a_fence_command_takes_no_source() {
    let explained = "the placeholders are `{target}` (this instance's name) and `{data_dir}` (its \
                     data directory)";
    let fence = |argument: &str| {
        format!("{TWO_INSTANCES}fence_command = [\n  \"fence-it\",\n  \"{argument}\",\n]\n")
    };
    assert_eq!(
        report(&fence("{source}")),
        format!(
            "estate.toml:12: `instance \"db-2\".fence_command[1]` has the placeholder \
             `{{source}}`, which `fence_command` does not take | hint: use one of them: \
             {explained}"
        )
    );
    assert_eq!(
        report(&fence("--host={source_conninfo}")),
        format!(
            "estate.toml:12: `instance \"db-2\".fence_command[1]` has the placeholder \
             `{{source_conninfo}}`, which `fence_command` does not take | hint: use one of them: \
             {explained}"
        )
    );
    assert_eq!(
        report(&fence("{targt}")),
        format!(
            "estate.toml:12: `instance \"db-2\".fence_command[1]` has the placeholder \
             `{{targt}}`, which hadome does not know | hint: did you mean `{{target}}`? \
             {explained}"
        )
    );
    assert_eq!(
        report(&fence("{data_dir")),
        format!(
            "estate.toml:12: `instance \"db-2\".fence_command[1]` has a `{{` that no `}}` closes \
             | hint: write each placeholder whole, as `{{name}}`; {explained}"
        )
    );
}

#[test]
fn an_unknown_follow_placeholder_lists_the_allowed_ones() {
    let explained = "the placeholders are `{source}` (the new upstream instance's name), \
                     `{source_conninfo}` (its `conninfo`), `{target}` (this instance's name) and \
                     `{data_dir}` (this instance's data directory)";
    let follow = |argument: &str| {
        format!("{TWO_INSTANCES}follow_command = [\n  \"follow\",\n  \"{argument}\",\n]\n")
    };
    assert_eq!(
        report(&follow("{primary}")),
        format!(
            "estate.toml:12: `instance \"db-2\".follow_command[1]` has the placeholder \
             `{{primary}}`, which hadome does not know | hint: use one of them: {explained}"
        )
    );
    assert_eq!(
        report(&follow("{source_coninfo}")),
        format!(
            "estate.toml:12: `instance \"db-2\".follow_command[1]` has the placeholder \
             `{{source_coninfo}}`, which hadome does not know | hint: did you mean \
             `{{source_conninfo}}`? {explained}"
        )
    );
    assert_eq!(
        report(&follow("}")),
        format!(
            "estate.toml:12: `instance \"db-2\".follow_command[1]` has a `}}` that closes no `{{` \
             | hint: write each placeholder whole, as `{{name}}`; {explained}"
        )
    );
}

#[test]
fn fence_and_follow_commands_are_argv_arrays_too() {
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}fence_command = \"fence-postgres {{target}}\"\n"
        )),
        "estate.toml:10: `instance \"db-2\".fence_command` is a string, but must be an argv array \
         of strings | hint: write it as an argv array, one string per argument (hadome runs no \
         shell): `fence_command = [\"fence-postgres\", \"{target}\"]`"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}fence_command = []\n")),
        "estate.toml:10: `instance \"db-2\".fence_command` is empty | hint: give the program and \
         its arguments, such as `fence_command = [\"/usr/local/bin/fence-postgres\", \"{target}\", \
         \"{data_dir}\"]`, or leave the key out"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}follow_command = true\n")),
        "estate.toml:10: `instance \"db-2\".follow_command` is a boolean, but must be an argv \
         array of strings | hint: write it as an argv array, one string per argument (hadome \
         runs no shell): `follow_command = [\"/usr/local/bin/follow\", \"{target}\", \
         \"--upstream\", \"{source_conninfo}\"]`"
    );
    assert_eq!(
        report(&format!(
            "{TWO_INSTANCES}follow_command = [\"follow\", \"\"]\n"
        )),
        "estate.toml:10: `instance \"db-2\".follow_command[1]` is empty | hint: remove the empty \
         string: each element is passed as one argument, so `\"\"` would be an empty argument"
    );
}

#[test]
fn a_misspelt_command_key_suggests_the_right_one() {
    assert_eq!(
        report(&format!("{TWO_INSTANCES}start_cmd = [\"x\"]\n")),
        "estate.toml:10: unknown key `instance \"db-2\".start_cmd` \
         | hint: did you mean `start_command`?"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}rebuild_comand = [\"x\"]\n")),
        "estate.toml:10: unknown key `instance \"db-2\".rebuild_comand` \
         | hint: did you mean `rebuild_command`?"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}fence = [\"x\"]\n")),
        "estate.toml:10: unknown key `instance \"db-2\".fence` \
         | hint: the keys allowed here are `name`, `conninfo`, `data_dir`, `host`, \
         `application_name`, `start_command`, `stop_command`, `rebuild_command`, \
         `fence_command`, `follow_command`, `actions`, `cluster`, `replication_conninfo`"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}follow_cmd = [\"x\"]\n")),
        "estate.toml:10: unknown key `instance \"db-2\".follow_cmd` \
         | hint: did you mean `follow_command`?"
    );
}

#[test]
fn an_unknown_key_suggests_the_close_one() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\nfailovr = \"auto\"\n"
        )),
        "estate.toml:13: unknown key `cluster \"main\".failovr` | hint: did you mean `failover`?"
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace("data_dir = \"/srv/db-2\"", "datadir = \"/srv/db-2\"")),
        "estate.toml:9: unknown key `instance \"db-2\".datadir` | hint: did you mean `data_dir`?"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}[[instances]]\nname = \"db-3\"\n")),
        "estate.toml:10: unknown key `instances` | hint: did you mean `instance`?"
    );
    let error = error_of(&format!("[probe]\ntimeuot_seconds = 1\n{TWO_INSTANCES}"));
    assert_eq!(error.location().unwrap().line, 2);
    assert_eq!(error.key(), Some("probe.timeuot_seconds"));
}

#[test]
fn an_unknown_key_far_from_any_lists_the_known_ones() {
    assert_eq!(
        report(&format!("[probe]\nfrequency = 3\n{TWO_INSTANCES}")),
        "estate.toml:2: unknown key `probe.frequency` \
         | hint: the keys allowed here are `timeout_seconds`, `interval_seconds`"
    );
}

#[test]
fn an_unknown_member_suggests_an_instance() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\n  \"db-1\",\n  \"db2\",\n]\n"
        )),
        "estate.toml:14: `cluster \"main\".members[1]` names `db2`, which is not an instance \
         | hint: did you mean `db-2`?"
    );
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"primary\"]\n"
        )),
        "estate.toml:12: `cluster \"main\".members[0]` names `primary`, which is not an instance \
         | hint: members name `[[instance]]` entries; the instances are `db-1`, `db-2`"
    );
}

#[test]
fn a_duplicate_instance_name_points_at_the_first() {
    assert_eq!(
        report(&TWO_INSTANCES.replace("name = \"db-2\"", "name = \"db-1\"")),
        "estate.toml:7: `instance[1].name`: instance `db-1` is already declared on line 1 \
         | hint: give every instance a distinct `name`"
    );
}

#[test]
fn a_duplicate_cluster_name_points_at_the_first() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n[[cluster]]\nname = \"main\"\nmembers = [\"db-2\"]\n"
        )),
        "estate.toml:14: `cluster[1].name`: cluster `main` is already declared on line 10 \
         | hint: give every cluster a distinct `name`"
    );
}

#[test]
fn an_instance_in_two_clusters_is_refused() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"a\"\nmembers = [\"db-1\"]\n\n[[cluster]]\nname = \"b\"\nmembers = [\"db-2\", \"db-1\"]\n"
        )),
        "estate.toml:16: `cluster \"b\".members[1]`: instance `db-1` is already a member of \
         cluster `a` (line 12) \
         | hint: an instance belongs to one cluster: remove `db-1` from this cluster or from `a`"
    );
}

#[test]
fn a_member_listed_twice_is_refused() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\", \"db-2\", \"db-1\"]\n"
        )),
        "estate.toml:12: `cluster \"main\".members[2]` lists `db-1` again (it is already \
         `members[0]`) | hint: list each instance once"
    );
}

#[test]
fn empty_members_are_refused() {
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = []\n"
        )),
        "estate.toml:12: `cluster \"main\".members` is empty \
         | hint: list the instances that replicate this cluster, such as \
         `members = [\"db-1\", \"db-2\"]`"
    );
}

#[test]
fn a_bad_failover_value_is_refused() {
    let cluster = |failover: &str| {
        with_cluster(&format!(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\nfailover = {failover}\n"
        ))
    };
    assert_eq!(
        report(&cluster("\"automatic\"")),
        "estate.toml:13: `cluster \"main\".failover` is `automatic`, which is not a failover \
         policy | hint: use `manual` (hadome never promotes on its own) or `auto` (the daemon \
         promotes an eligible standby)"
    );
    assert_eq!(
        report(&cluster("\"Auto\"")),
        "estate.toml:13: `cluster \"main\".failover` is `Auto`, which is not a failover policy \
         | hint: did you mean `auto`? the values are `manual` (hadome never promotes on its own) \
         and `auto` (the daemon promotes an eligible standby)"
    );
    assert_eq!(
        report(&cluster("true")),
        "estate.toml:13: `cluster \"main\".failover` is a boolean, but must be a string \
         | hint: write it as a quoted string: `failover = \"manual\"`"
    );
}

#[test]
fn automation_keys_become_the_clusters_automation() {
    let estate = parse(
        &with_cluster(
            "[[cluster]]
name = \"main\"
members = [\"db-1\", \"db-2\"]
failover = \"auto\"
on_primary_crash = \"failover\"
on_old_primary = \"rebuild\"
async_failover = \"promote\"
detection_seconds = 5
restart_window_seconds = 30.5
stall_seconds = 12
budget_window_seconds = 86_400
max_restarts_per_target = 0
max_rebuilds_per_target = 10
max_failovers = 0x2
",
        ),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(
        estate.clusters[0].automation,
        Automation {
            on_primary_crash: CrashPolicy::Failover,
            on_old_primary: OldPrimaryPolicy::Rebuild,
            async_failover: AsyncFailoverPolicy::Promote,
            detection_seconds: 5.0,
            restart_window_seconds: 30.5,
            stall_seconds: 12.0,
            budget: Budget {
                window_seconds: 86_400.0,
                restarts_per_target: 0,
                rebuilds_per_target: 10,
                failovers: 2,
            },
        }
    );

    // Each one alone; the others keep their defaults.
    let estate = parse(
        &with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\non_primary_crash = \"restart\"\n\
             on_old_primary = \"stop\"\nmax_failovers = 4\n",
        ),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(
        estate.clusters[0].automation,
        Automation {
            budget: Budget {
                failovers: 4,
                ..Budget::default()
            },
            ..Automation::default()
        }
    );
}

#[test]
fn automation_defaults_are_the_cores() {
    let estate = parse(
        &with_cluster("[[cluster]]\nname = \"main\"\nmembers = [\"db-1\", \"db-2\"]\n"),
        Path::new("estate.toml"),
    )
    .unwrap();
    let automation = &estate.clusters[0].automation;
    assert_eq!(*automation, Automation::default());
    // The numbers `examples/estate.toml` documents as the defaults: a change to the core's
    // defaults must update its comments too.
    assert_eq!(automation.on_primary_crash, CrashPolicy::Restart);
    assert_eq!(automation.on_old_primary, OldPrimaryPolicy::Stop);
    assert_eq!(automation.async_failover, AsyncFailoverPolicy::Escalate);
    assert_eq!(automation.detection_seconds, 3.0);
    assert_eq!(automation.restart_window_seconds, 15.0);
    assert_eq!(
        automation.budget,
        Budget {
            window_seconds: 3600.0,
            restarts_per_target: 3,
            rebuilds_per_target: 2,
            failovers: 1,
        }
    );
}

#[test]
fn a_bad_automation_policy_lists_the_values() {
    let cluster = |line: &str| {
        with_cluster(&format!(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n{line}\n"
        ))
    };
    let crash_values = "`restart` (start it again in place, within `max_restarts_per_target`, and \
                        fail over when that does not bring it back within \
                        `restart_window_seconds`) {or} `failover` (promote a standby at once, as \
                        for a hang)";
    assert_eq!(
        report(&cluster("on_primary_crash = \"promote\"")),
        format!(
            "estate.toml:13: `cluster \"main\".on_primary_crash` is `promote`, which is not a \
             policy for a crashed primary | hint: use {}",
            crash_values.replace("{or}", "or")
        )
    );
    assert_eq!(
        report(&cluster("on_primary_crash = \"failvoer\"")),
        format!(
            "estate.toml:13: `cluster \"main\".on_primary_crash` is `failvoer`, which is not a \
             policy for a crashed primary | hint: did you mean `failover`? the values are {}",
            crash_values.replace("{or}", "and")
        )
    );
    assert_eq!(
        report(&cluster("on_old_primary = \"delete\"")),
        "estate.toml:13: `cluster \"main\".on_old_primary` is `delete`, which is not a policy for \
         the old primary | hint: use `stop` (it stays fenced and stopped, its data untouched, \
         until a person decides) or `rebuild` (it is rebuilt as a standby of the new primary, \
         its data directory moved aside)"
    );
    assert_eq!(
        report(&cluster("on_old_primary = \"Rebuild\"")),
        "estate.toml:13: `cluster \"main\".on_old_primary` is `Rebuild`, which is not a policy \
         for the old primary | hint: did you mean `rebuild`? the values are `stop` (it stays \
         fenced and stopped, its data untouched, until a person decides) and `rebuild` (it is \
         rebuilt as a standby of the new primary, its data directory moved aside)"
    );
    assert_eq!(
        report(&cluster("async_failover = \"yes\"")),
        "estate.toml:13: `cluster \"main\".async_failover` is `yes`, which is not a policy for \
         a failover no synchronous standby covers | hint: use `escalate` (do not promote a \
         standby nothing proves holds every acknowledged commit: escalate and wait for the \
         primary or a person) or `promote` (promote the most advanced eligible standby all the \
         same, losing what the old primary acknowledged and had not sent to it)"
    );
    assert_eq!(
        report(&cluster("on_old_primary = 1")),
        "estate.toml:13: `cluster \"main\".on_old_primary` is an integer, but must be a string \
         | hint: write it as a quoted string: `on_old_primary = \"stop\"`"
    );
}

#[test]
fn automation_seconds_must_be_positive() {
    let cluster = |line: &str| {
        with_cluster(&format!(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n{line}\n"
        ))
    };
    assert_eq!(
        report(&cluster("detection_seconds = 0")),
        "estate.toml:13: `cluster \"main\".detection_seconds` must be a number of seconds above \
         0, not `0` | hint: write a positive number of seconds, such as `detection_seconds = 3.0`"
    );
    assert_eq!(
        report(&cluster("restart_window_seconds = -15")),
        "estate.toml:13: `cluster \"main\".restart_window_seconds` must be a number of seconds \
         above 0, not `-15` | hint: write a positive number of seconds, such as \
         `restart_window_seconds = 15.0`"
    );
    assert_eq!(
        report(&cluster("budget_window_seconds = \"1h\"")),
        "estate.toml:13: `cluster \"main\".budget_window_seconds` is a string, but must be a \
         number of seconds | hint: write it as a number, without quotes or unit: \
         `budget_window_seconds = 3600.0`"
    );
}

#[test]
fn budget_counts_are_whole_numbers_from_zero() {
    let cluster = |line: &str| {
        with_cluster(&format!(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n{line}\n"
        ))
    };
    assert_eq!(
        report(&cluster("max_restarts_per_target = -1")),
        "estate.toml:13: `cluster \"main\".max_restarts_per_target` must be a whole number from \
         0 to 4294967295, not `-1` | hint: write how many times the daemon may do it within \
         `budget_window_seconds`, 0 (never on its own) or more, such as \
         `max_restarts_per_target = 3`"
    );
    assert_eq!(
        report(&cluster("max_rebuilds_per_target = 4_294_967_296")),
        "estate.toml:13: `cluster \"main\".max_rebuilds_per_target` must be a whole number from \
         0 to 4294967295, not `4_294_967_296` | hint: write how many times the daemon may do it \
         within `budget_window_seconds`, 0 (never on its own) or more, such as \
         `max_rebuilds_per_target = 2`"
    );
    assert_eq!(
        report(&cluster("max_failovers = 1.0")),
        "estate.toml:13: `cluster \"main\".max_failovers` is a float, but must be a whole number \
         | hint: write it as an integer, without quotes: `max_failovers = 1`"
    );
    assert_eq!(
        report(&cluster("max_failovers = \"1\"")),
        "estate.toml:13: `cluster \"main\".max_failovers` is a string, but must be a whole number \
         | hint: write it as an integer, without quotes: `max_failovers = 1`"
    );
    assert_eq!(
        report(&cluster("max_failover = 1")),
        "estate.toml:13: unknown key `cluster \"main\".max_failover` \
         | hint: did you mean `max_failovers`?"
    );
}

#[test]
fn detection_shorter_than_the_probe_interval_is_refused() {
    let why = "the primary must be missed on more than one probe before it counts as failed, so \
               that one lost probe never causes a failover";
    // Set on the cluster: the error is at the key.
    assert_eq!(
        report(&format!(
            "[probe]\ninterval_seconds = 2\n{TWO_INSTANCES}\
             [[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\ndetection_seconds = 1.5\n"
        )),
        format!(
            "estate.toml:15: `cluster \"main\".detection_seconds` is `1.5` seconds, less than \
             `probe.interval_seconds` (2.0) | hint: make it at least the probe interval, such as \
             `detection_seconds = 6.0`, or probe more often: {why}"
        )
    );
    // Left to its default (3 s) under a slower probe: the error is at the cluster's header.
    assert_eq!(
        report(&format!(
            "[probe]\ninterval_seconds = 5\n{TWO_INSTANCES}\n\
             [[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n"
        )),
        format!(
            "estate.toml:13: `cluster \"main\".detection_seconds` is 3.0 seconds (the default), \
             less than `probe.interval_seconds` (5.0) | hint: add `detection_seconds = 15.0` to \
             this `[[cluster]]`, or probe more often: {why}"
        )
    );
    // A suggestion stays readable for a fractional interval.
    assert_eq!(
        report(&format!(
            "[probe]\ninterval_seconds = 0.1\n{TWO_INSTANCES}\
             [[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\ndetection_seconds = 0.05\n"
        )),
        format!(
            "estate.toml:15: `cluster \"main\".detection_seconds` is `0.05` seconds, less than \
             `probe.interval_seconds` (0.1) | hint: make it at least the probe interval, such as \
             `detection_seconds = 0.3`, or probe more often: {why}"
        )
    );

    // Exactly one interval is enough: two probes missed the primary by then.
    let estate = parse(
        &format!(
            "[probe]\ninterval_seconds = 2\n{TWO_INSTANCES}\
             [[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\ndetection_seconds = 2\n"
        ),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(estate.clusters[0].automation.detection_seconds, 2.0);
}

#[test]
fn notify_takes_a_webhook_url() {
    let webhook = |notify: &str| {
        parse(
            &format!("{notify}{TWO_INSTANCES}"),
            Path::new("estate.toml"),
        )
        .unwrap()
        .notify
    };
    assert_eq!(
        webhook("[notify]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/x\"\n"),
        Notify {
            webhook_url: Some("https://hooks.slack.com/services/T0/B0/x".into()),
        }
    );
    assert_eq!(
        webhook("[notify]\nwebhook_url = \"http://10.0.0.9:8080/hadome\"\n")
            .webhook_url
            .as_deref(),
        Some("http://10.0.0.9:8080/hadome")
    );
    assert_eq!(webhook(""), Notify::default());
    assert_eq!(webhook("[notify]\n"), Notify { webhook_url: None });
}

#[test]
fn a_bad_webhook_url_is_refused_without_repeating_it() {
    let fix = "write the webhook's whole URL, scheme included, such as \
               `webhook_url = \"https://hooks.slack.com/services/T000/B000/XXXX\"`, or leave the \
               key out";
    let notify = |line: &str| format!("[notify]\n{line}\n{TWO_INSTANCES}");
    assert_eq!(
        report(&notify(
            "webhook_url = \"hooks.slack.com/services/T0/B0/secret\""
        )),
        format!(
            "estate.toml:2: `notify.webhook_url` does not start with `http://` or `https://` \
             | hint: {fix}"
        )
    );
    assert_eq!(
        report(&notify("webhook_url = \"ftp://example.org/secret\"")),
        format!(
            "estate.toml:2: `notify.webhook_url` does not start with `http://` or `https://` \
             | hint: {fix}"
        )
    );
    assert_eq!(
        report(&notify("webhook_url = \"https://\"")),
        format!("estate.toml:2: `notify.webhook_url` has nothing after its scheme | hint: {fix}")
    );
    assert_eq!(
        report(&notify("webhook_url = \"\"")),
        format!("estate.toml:2: `notify.webhook_url` is empty | hint: {fix}")
    );
    assert_eq!(
        report(&notify("webhook_url = [\"https://a.example\"]")),
        "estate.toml:2: `notify.webhook_url` is an array, but must be a string \
         | hint: write it as a quoted string: \
         `webhook_url = \"https://hooks.slack.com/services/T000/B000/XXXX\"`"
    );
}

#[test]
fn notify_is_a_table_of_known_keys() {
    assert_eq!(
        report(&format!(
            "[notify]\nwebhook_uri = \"https://a.example\"\n{TWO_INSTANCES}"
        )),
        "estate.toml:2: unknown key `notify.webhook_uri` | hint: did you mean `webhook_url`?"
    );
    assert_eq!(
        report(&format!(
            "[notify]\nemail = \"ops@example.org\"\n{TWO_INSTANCES}"
        )),
        "estate.toml:2: unknown key `notify.email` | hint: the keys allowed here are `webhook_url`"
    );
    assert_eq!(
        report(&format!("notify = \"https://a.example\"\n{TWO_INSTANCES}")),
        "estate.toml:1: `notify` is a string, but must be a table \
         | hint: write it as a table: a `[notify]` header with its keys on the lines below"
    );
    assert_eq!(
        report(&format!("[notfy]\n{TWO_INSTANCES}")),
        "estate.toml:1: unknown key `notfy` | hint: did you mean `notify`?"
    );
}

#[test]
fn zero_and_negative_numbers_are_refused() {
    assert_eq!(
        report(&format!("[probe]\ntimeout_seconds = 0\n{TWO_INSTANCES}")),
        "estate.toml:2: `probe.timeout_seconds` must be a number of seconds above 0, not `0` \
         | hint: write a positive number of seconds, such as `timeout_seconds = 2.0`"
    );
    assert_eq!(
        report(&format!(
            "[probe]\ntimeout_seconds = 1\ninterval_seconds = -0.5\n{TWO_INSTANCES}"
        )),
        "estate.toml:3: `probe.interval_seconds` must be a number of seconds above 0, not `-0.5` \
         | hint: write a positive number of seconds, such as `interval_seconds = 1.0`"
    );
    assert_eq!(
        report(&format!("[probe]\ninterval_seconds = nan\n{TWO_INSTANCES}")),
        "estate.toml:2: `probe.interval_seconds` must be a number of seconds above 0, not `nan` \
         | hint: write a positive number of seconds, such as `interval_seconds = 1.0`"
    );
    let cluster = |line: &str| {
        with_cluster(&format!(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\n{line}\n"
        ))
    };
    assert_eq!(
        report(&cluster("max_replication_lag_bytes = 0")),
        "estate.toml:13: `cluster \"main\".max_replication_lag_bytes` must be more than 0 bytes, \
         not `0` | hint: write a whole number of bytes, more than 0 bytes, such as \
         `max_replication_lag_bytes = 67108864`"
    );
    assert_eq!(
        report(&cluster("max_lag_on_failover_bytes = -1")),
        "estate.toml:13: `cluster \"main\".max_lag_on_failover_bytes` must be 0 bytes or more, \
         not `-1` | hint: write a whole number of bytes, 0 bytes or more, such as \
         `max_lag_on_failover_bytes = 0`"
    );
    assert_eq!(
        report(&cluster("freshness_seconds = -inf")),
        "estate.toml:13: `cluster \"main\".freshness_seconds` must be a number of seconds above \
         0, not `-inf` | hint: write a positive number of seconds, such as \
         `freshness_seconds = 30.0`"
    );
}

#[test]
fn wrong_types_say_what_was_found_and_what_is_needed() {
    assert_eq!(
        report(&TWO_INSTANCES.replace("conninfo = \"host=10.0.0.1 port=5432\"", "conninfo = 5432")),
        "estate.toml:3: `instance \"db-1\".conninfo` is an integer, but must be a string \
         | hint: write it as a quoted string: \
         `conninfo = \"host=10.0.0.1 port=5432 user=hadome dbname=postgres\"`"
    );
    assert_eq!(
        report(&format!(
            "[probe]\ntimeout_seconds = \"2s\"\n{TWO_INSTANCES}"
        )),
        "estate.toml:2: `probe.timeout_seconds` is a string, but must be a number of seconds \
         | hint: write it as a number, without quotes or unit: `timeout_seconds = 2.0`"
    );
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\nmax_replication_lag_bytes = 1.5\n"
        )),
        "estate.toml:13: `cluster \"main\".max_replication_lag_bytes` is a float, but must be a \
         whole number of bytes | hint: write it as an integer, without quotes or unit: \
         `max_replication_lag_bytes = 67108864`"
    );
    assert_eq!(
        report("[instance]\nname = \"db-1\"\n"),
        "estate.toml:1: `instance` is a table, but must be an array of tables \
         | hint: start each instance with its own `[[instance]]` header (two brackets)"
    );
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = \"db-1\"\n"
        )),
        "estate.toml:12: `cluster \"main\".members` is a string, but must be an array of \
         instance names | hint: list the instances' names: `members = [\"db-1\", \"db-2\"]`"
    );
    assert_eq!(
        report(&with_cluster(
            "[[cluster]]\nname = \"main\"\nmembers = [\"db-1\", 2]\n"
        )),
        "estate.toml:12: `cluster \"main\".members[1]` is an integer, but must be a string \
         | hint: write the instance's name in quotes: `members = [\"db-1\", \"db-2\"]`"
    );
    assert_eq!(
        report(&format!("journal = \"j.sqlite\"\n{TWO_INSTANCES}")),
        "estate.toml:1: `journal` is a string, but must be a table \
         | hint: write it as a table: a `[journal]` header with its keys on the lines below"
    );
}

#[test]
fn a_missing_required_key_names_the_table_and_the_line_to_add() {
    assert_eq!(
        report(&TWO_INSTANCES.replace("conninfo = \"host=10.0.0.2 port=5432\"\n", "")),
        "estate.toml:6: `instance \"db-2\".conninfo` is missing \
         | hint: add `conninfo = \"host=10.0.0.1 port=5432 user=hadome dbname=postgres\"` to \
         this `[[instance]]`"
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace("name = \"db-2\"\n", "")),
        "estate.toml:6: `instance[1].name` is missing \
         | hint: add `name = \"db-1\"` to this `[[instance]]`"
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace("data_dir = \"/srv/db-1\"\n", "")),
        "estate.toml:1: `instance \"db-1\".data_dir` is missing \
         | hint: add `data_dir = \"/var/lib/postgresql/15/main\"` to this `[[instance]]`"
    );
    assert_eq!(
        report(&with_cluster("\n[[cluster]]\nname = \"main\"\n")),
        "estate.toml:11: `cluster \"main\".members` is missing \
         | hint: add `members = [\"db-1\", \"db-2\"]` to this `[[cluster]]`"
    );
    assert_eq!(
        report(&with_cluster("[[cluster]]\nmembers = [\"db-1\"]\n")),
        "estate.toml:10: `cluster[0].name` is missing \
         | hint: add `name = \"main\"` to this `[[cluster]]`"
    );
}

#[test]
fn a_toml_syntax_error_keeps_the_parsers_line() {
    let error = error_of("[[instance]]\nname = db-1\nconninfo = \"port=1\"\n");
    let text = error.to_string();
    assert!(
        text.starts_with("estate.toml:2: not valid TOML: "),
        "{text}"
    );
    assert!(matches!(error, ConfigError::Syntax { .. }));
    assert_eq!(
        error.hint().unwrap(),
        "correct the TOML at that line: strings are quoted, a key appears once per table, \
         `[[instance]]` and `[[cluster]]` start entries; `examples/estate.toml` shows the format"
    );

    let duplicate = error_of(&format!("{TWO_INSTANCES}name = \"db-3\"\n"));
    assert_eq!(duplicate.location().unwrap().line, 10, "{duplicate}");
    assert!(
        duplicate.to_string().contains("duplicate key"),
        "{duplicate}"
    );
}

#[test]
fn an_estate_needs_an_instance() {
    assert_eq!(
        report(""),
        "estate.toml: the estate declares no `[[instance]]`, no `[[host]]`, no `[[etcd]]` \
         and no web table (`[[service]]`, `[[route]]`, `[[nginx]]`) \
         | hint: add an instance: `[[instance]]` with `name`, `conninfo` and `data_dir`, \
         a host: `[[host]]` with `name`, an etcd member: `[[etcd]]` with `name`, \
         `endpoints` and `host`, or a web service: `[[service]]` with `name` and `address` \
         (see `examples/estate.toml`)"
    );
    assert_eq!(
        report("instance = []\n"),
        "estate.toml:1: the estate declares no `[[instance]]`, no `[[host]]`, no `[[etcd]]` \
         and no web table (`[[service]]`, `[[route]]`, `[[nginx]]`) \
         | hint: add an instance: `[[instance]]` with `name`, `conninfo` and `data_dir`, \
         a host: `[[host]]` with `name`, an etcd member: `[[etcd]]` with `name`, \
         `endpoints` and `host`, or a web service: `[[service]]` with `name` and `address` \
         (see `examples/estate.toml`)"
    );
}

#[test]
fn bad_instance_values_are_refused() {
    assert_eq!(
        report(&TWO_INSTANCES.replace("name = \"db-1\"", "name = \"DB 1\"")),
        "estate.toml:2: `instance[0].name` is `DB 1`, which is not a valid instance name \
         | hint: use 1 to 63 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit"
    );
    let conninfo_fix = "write libpq `key=value` pairs separated by spaces, such as \
                        `host=10.0.0.1 port=5432 user=hadome dbname=postgres` (quote a value that \
                        holds spaces as `'…'`)";
    assert_eq!(
        report(&TWO_INSTANCES.replace("port=5432\"", "port\"")),
        format!(
            "estate.toml:3: `instance \"db-1\".conninfo` has `port` without `=` and a value \
             | hint: {conninfo_fix}"
        )
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace(
            "\"host=10.0.0.2 port=5432\"",
            "\"postgresql://10.0.0.2:5432/postgres\""
        )),
        format!(
            "estate.toml:8: `instance \"db-2\".conninfo` is a URI, but hadome reads libpq \
             `key=value` strings | hint: {conninfo_fix}"
        )
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace("\"/srv/db-2\"", "\"srv/db-2\"")),
        "estate.toml:9: `instance \"db-2\".data_dir` is `srv/db-2`, a relative path \
         | hint: give the data directory's absolute path on the instance's host, such as \
         `/var/lib/postgresql/15/main`"
    );
    assert_eq!(
        report(&TWO_INSTANCES.replace("data_dir = \"/srv/db-2\"", "data_dir = \"\"")),
        "estate.toml:9: `instance \"db-2\".data_dir` is empty \
         | hint: give a value, such as `data_dir = \"/var/lib/postgresql/15/main\"`"
    );
    let long = "x".repeat(64);
    assert_eq!(
        report(&format!("{TWO_INSTANCES}application_name = \"{long}\"\n")),
        "estate.toml:10: `instance \"db-2\".application_name` is 64 bytes long, but PostgreSQL \
         keeps only 63 | hint: use the `application_name` of the instance's `primary_conninfo` \
         (what its upstream's `pg_stat_replication` shows), or leave the key out to use `name`"
    );
    assert_eq!(
        report(&format!("{TWO_INSTANCES}host = \"\"\n")),
        "estate.toml:10: `instance \"db-2\".host` is empty \
         | hint: name the host the instance runs on, such as `host = \"db-1.example.org\"`, \
         or leave the key out for `localhost`"
    );
}

#[test]
fn an_empty_journal_path_is_refused() {
    assert_eq!(
        report(&format!("[journal]\npath = \"\"\n{TWO_INSTANCES}")),
        "estate.toml:2: `journal.path` is empty \
         | hint: name the journal's SQLite file, such as `path = \"hadome.sqlite\"` (relative to \
         this file's directory), or leave the key out"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let path = Path::new("/nonexistent/hadome/estate.toml");
    let error = load(path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "could not read the estate file `/nonexistent/hadome/estate.toml`"
    );
    assert!(error.hint().unwrap().starts_with("create it"), "{error:?}");
    assert!(error.location().is_none());

    let directory = load(Path::new("/")).unwrap_err();
    assert!(matches!(directory, ConfigError::Read { .. }), "{directory}");
}

#[test]
fn backups_and_snapshots_become_the_estates() {
    let estate = parse(
        &with_cluster(
            "[[backup]]
name = \"nightly\"
type = \"pg_dump\"
instance = \"db-2\"
path = \"/srv/backups/nightly-*.dump\"
command = [\"pg_dump\", \"-Fc\", \"--snapshot={snapshot}\", \"-f\", \"{output}\", \"dbname=app\"]
max_age_seconds = 93600
min_size_bytes = 1048576
max_shrink_ratio = 0.5
restore_test_max_age_seconds = 2678400
every_seconds = 86400
restore_test_every_seconds = 604800
restore_command = [\"/usr/local/bin/restore-dump\", \"{copy}\", \"{data_dir}\", \"{target}\"]

[[backup]]
name = \"base\"
type = \"basebackup\"
path = \"/srv/backups/base-*\"

[[snapshot]]
name = \"hourly\"
protects = \"/srv/db-1\"
location = \"/mnt/snapshots/db-1\"
",
        ),
        Path::new("estate.toml"),
    )
    .unwrap();
    let nightly = estate.backup("nightly").unwrap();
    assert_eq!(nightly.kind, hadome_core::estate::BackupKind::PgDump);
    assert_eq!(nightly.instance.as_deref(), Some("db-2"));
    assert_eq!(nightly.path, PathBuf::from("/srv/backups/nightly-*.dump"));
    assert_eq!(nightly.command.as_ref().unwrap()[4], "{output}");
    assert_eq!(nightly.max_age_seconds, Some(93_600.0));
    assert_eq!(nightly.min_size_bytes, Some(1_048_576));
    assert_eq!(nightly.max_shrink_ratio, Some(0.5));
    assert_eq!(nightly.restore_test_max_age_seconds, Some(2_678_400.0));
    assert_eq!(nightly.every_seconds, Some(86_400.0));
    assert_eq!(nightly.restore_test_every_seconds, Some(604_800.0));
    assert_eq!(nightly.restore_command.as_ref().unwrap()[1], "{copy}");
    let base = estate.backup("base").unwrap();
    assert_eq!(base.kind, hadome_core::estate::BackupKind::BaseBackup);
    assert_eq!(
        (
            base.command.as_ref(),
            base.max_age_seconds,
            base.max_shrink_ratio
        ),
        (None, None, None)
    );
    assert_eq!(
        estate.snapshots[0].location,
        PathBuf::from("/mnt/snapshots/db-1")
    );
}

#[test]
fn a_bad_backup_or_snapshot_names_its_key_and_the_fix() {
    let backup = |body: &str| {
        report(&with_cluster(&format!(
            "[[backup]]\nname = \"nightly\"\n{body}"
        )))
    };
    assert_eq!(
        backup("path = \"/srv/b/n-*.dump\"\n"),
        "estate.toml:10: `backup \"nightly\".type` is missing | hint: add `type = \"pg_dump\"` to this `[[backup]]`"
    );
    assert!(
        backup("type = \"pgdump\"\npath = \"/srv/b/n-*.dump\"\n")
            .contains("did you mean `pg_dump`"),
        "{}",
        backup("type = \"pgdump\"\npath = \"/srv/b/n-*.dump\"\n")
    );
    let no_star = backup("type = \"pg_dump\"\npath = \"/srv/b/nightly.dump\"\n");
    assert!(no_star.starts_with("estate.toml:13: `backup \"nightly\".path` is `/srv/b/nightly.dump`, but its file name must hold exactly one `*`"), "{no_star}");
    let relative = backup("type = \"pg_dump\"\npath = \"b/n-*.dump\"\n");
    assert!(
        relative.contains("is `b/n-*.dump`, a relative path"),
        "{relative}"
    );
    let no_output = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\ncommand = [\"pg_dump\", \"-f\", \"/tmp/x\"]\n");
    assert!(
        no_output.contains("`backup \"nightly\".command` never writes `{output}`"),
        "{no_output}"
    );
    let typo = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\ncommand = [\"pg_dump\", \"-f\", \"{ouput}\"]\n");
    assert!(typo.contains("did you mean `{output}`?"), "{typo}");
    let no_instance = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\ncommand = [\"pg_dump\", \"--snapshot={snapshot}\", \"-f\", \"{output}\"]\n");
    assert!(
        no_instance.contains("uses `{snapshot}`, but the backup names no `instance`"),
        "{no_instance}"
    );
    let unknown = backup("type = \"pg_dump\"\ninstance = \"db-9\"\npath = \"/srv/b/n-*.dump\"\n");
    assert!(
        unknown.contains("names `db-9`, which is not an instance"),
        "{unknown}"
    );
    let ratio = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\nmax_shrink_ratio = 1.5\n");
    assert!(
        ratio.contains("must be a fraction above 0 and at most 1, not `1.5`"),
        "{ratio}"
    );
    let unscheduled =
        backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\nevery_seconds = 3600\n");
    assert!(
        unscheduled.contains("`backup \"nightly\".every_seconds` schedules copies, but the backup has no `command` to make one"),
        "{unscheduled}"
    );
    let base_test = backup(
        "type = \"basebackup\"\npath = \"/srv/b/base-*\"\nrestore_test_every_seconds = 3600\n",
    );
    assert!(
        base_test
            .contains("schedules restore tests, but hadome restore-tests `pg_dump` backups only"),
        "{base_test}"
    );
    let no_copy = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\nrestore_command = [\"restore\", \"{data_dir}\"]\n");
    assert!(
        no_copy.contains("`backup \"nightly\".restore_command` never reads `{copy}`"),
        "{no_copy}"
    );
    let wrong_placeholder = backup("type = \"pg_dump\"\npath = \"/srv/b/n-*.dump\"\nrestore_command = [\"restore\", \"{output}\"]\n");
    assert!(
        wrong_placeholder
            .contains("has the placeholder `{output}`, which `restore_command` does not take"),
        "{wrong_placeholder}"
    );
    let snapshot = report(&with_cluster(
        "[[snapshot]]\nname = \"hourly\"\nprotects = \"/srv/db-1\"\n",
    ));
    assert_eq!(
        snapshot,
        "estate.toml:10: `snapshot \"hourly\".location` is missing | hint: add `location = \"/mnt/snapshots/pg\"` to this `[[snapshot]]`"
    );
    let twice = report(&with_cluster("[[snapshot]]\nname = \"a\"\nprotects = \"/p\"\nlocation = \"/l\"\n[[snapshot]]\nname = \"a\"\nprotects = \"/p\"\nlocation = \"/m\"\n"));
    assert!(twice.contains("snapshot"), "{twice}");
}

mod api;
mod bad_input;
mod coordination;
mod host;
mod quorum;
mod remote;
mod web;

/// A conninfo's TLS settings are checked at load (issue 15 point 2), with the line and the fix,
/// not found out at the first probe.
#[test]
fn a_conninfos_tls_settings_are_checked_at_load() {
    let instance = |conninfo: &str| {
        format!(
            "[[instance]]\nname = \"db-1\"\nconninfo = \"{conninfo}\"\ndata_dir = \"/srv/db-1\"\n"
        )
    };
    assert_eq!(
        report(&instance("host=db-1 sslmode=verify_full")),
        "estate.toml:3: `instance \"db-1\".conninfo` has sslmode `verify_full`, which libpq does \
         not know | hint: give one of disable, allow, prefer, require, verify-ca, verify-full; a \
         remote estate wants `sslmode=verify-full sslrootcert=FILE`"
    );
    assert_eq!(
        report(&instance("host=db-1 sslmode=verify-full")),
        "estate.toml:3: `instance \"db-1\".conninfo` has sslmode verify-full but no sslrootcert | \
         hint: add `sslrootcert=/etc/hadome/postgres-ca.crt`: the CA certificate (PEM) that \
         signed the server's"
    );
    let relative = report(&instance("host=db-1 sslmode=verify-ca sslrootcert=ca.crt"));
    assert!(relative.contains("a relative path"), "{relative}");
    let system = report(&instance(
        "host=db-1 sslmode=verify-full sslrootcert=system",
    ));
    assert!(system.contains("does not support"), "{system}");
    let fine = instance("host=db-1 sslmode=verify-full sslrootcert=/etc/hadome/ca.crt");
    let estate = parse(&fine, Path::new("estate.toml")).expect("a verify-full conninfo loads");
    assert!(estate.instances[0].conninfo.contains("sslmode=verify-full"));
}
