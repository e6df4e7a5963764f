//! `DIR/estate.toml`: the lab described as a hadome estate file.
//!
//! `lab up` writes it once every standby streams, so hadome's own commands can be pointed at a lab
//! exactly as at a real estate: one `[[instance]]` per node (connecting through the node's client
//! port on the lab proxy), one `[[cluster]]` named after the topology, and a journal inside DIR.
//! Each instance's `start_command`, `stop_command`, `rebuild_command`, `fence_command` and
//! `follow_command` run the `hadome` binary the lab was brought up with: `lab fault
//! start|stop|fence|follow` and `lab rebuild`, so `hadome run` and `hadome daemon` act on a lab as
//! on a real estate. They are left out when that binary is unknown (a lab.json from before it was
//! recorded) or a path would not survive as an argument (not UTF-8, or holding a brace, which the
//! estate file reserves for placeholders).
//!
//! The cluster fails over on its own (`failover = "auto"`), and the probe and detection settings
//! are short, so a drill's failover takes seconds: a probe every 0.5 s bounded by 0.5 s, a primary
//! failed once hadome has not reached it for 0.75 s and its standbys have heard nothing from it
//! for 0.75 s (the lab's `wal_sender_timeout = '750ms'` makes them hear an idle primary about
//! every 0.375 s, see `docs/lab.md`), a crashed primary restarted in place first, and a
//! standby rebuilt once it has not streamed for 5 s (the lab's `wal_retrieve_retry_interval` is
//! 1 s, so a standby that can reconnect has by then).
//! The showcase's `[[service]]`, `[[route]]` and `[[nginx]]` tables are `web/estate.rs`'s.
//! It is a text rendering on purpose: the lab does not depend on `hadome-config` (only its unit
//! tests do); hadome's integration tests `estate` and `showcase_estate` load this file with the
//! real parser to prove the two agree.

use std::fmt::Write as _;

use crate::state::{LabState, NodeState};

/// The estate file's name inside the lab directory.
pub(crate) const ESTATE_FILE: &str = "estate.toml";

/// Writes `DIR/estate.toml` for `state` (at `lab up`, and again when a fault changes what the
/// estate declares, e.g. a showcase app moved to a port of its own): a new file renamed over
/// the old, so a reader never sees half of one.
pub(crate) fn write(state: &LabState) -> Result<(), crate::LabError> {
    let path = state.dir.join(ESTATE_FILE);
    let new = state.dir.join(format!("{ESTATE_FILE}.new"));
    let io = |action: &'static str, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| crate::LabError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::write(&new, render(state)).map_err(io("write", &new))?;
    std::fs::rename(&new, &path).map_err(io("rename", &path))
}

/// The estate file for `state`, as TOML text.
///
/// Paths that are not UTF-8 are rendered lossily (TOML strings are UTF-8).
pub(crate) fn render(state: &LabState) -> String {
    let mut text = String::new();
    // `writeln!` into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        text,
        "# Written by `hadome lab up` for the lab topology `{}` in {}.",
        state.topology.escape_debug(),
        state.dir.display().to_string().escape_debug()
    );
    let _ = writeln!(
        text,
        "# hadome's estate file for this lab: every node is an instance (reached through the lab\n\
         # proxy's client port), all of them one cluster. `hadome lab down` removes it with the lab."
    );
    text.push_str(&crate::web::estate_section(state));
    let commands_binary = command_binary(state);
    if let Err(reason) = &commands_binary {
        let _ = writeln!(
            text,
            "# No start/stop/rebuild/fence/follow commands: {}.",
            reason.escape_debug()
        );
    }
    text.push_str(
        "\n[journal]\n\
         path = \"hadome.sqlite\"\n\
         \n[probe]\n\
         timeout_seconds = 0.5\n\
         interval_seconds = 0.5\n",
    );
    for node in &state.nodes {
        if node.host.is_some() {
            // On a Debian host: hadome's built-in Debian actions over SSH, no argv commands.
            text.push_str(&crate::debian_hosts::render_instance(node));
            continue;
        }
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            node.client_port
        );
        let _ = write!(
            text,
            "\n[[instance]]\n\
             name = {}\n\
             conninfo = {}\n\
             data_dir = {}\n\
             host = \"localhost\"\n\
             application_name = {}\n",
            quote(&node.name),
            quote(&conninfo),
            quote(&node.data_dir.to_string_lossy()),
            quote(&node.name),
        );
        if let Ok((hadome, dir)) = &commands_binary {
            for (key, argv) in commands(hadome, dir, node) {
                let quoted: Vec<String> = argv.iter().map(|word| quote(word)).collect();
                let _ = writeln!(text, "{key} = [{}]", quoted.join(", "));
            }
        }
    }
    if let Ok((hadome, dir)) = &commands_binary {
        render_hosts(&mut text, state, hadome, dir);
    }
    text.push_str(&crate::debian_hosts::render_hosts(state));
    render_etcd(&mut text, state, commands_binary.ok());
    if let Some(web) = &state.web {
        text.push_str(&crate::web::estate::tables(web, commands_binary.ok()));
    }
    if state.nodes.is_empty() {
        return text;
    }
    let members: Vec<String> = state.nodes.iter().map(|node| quote(&node.name)).collect();
    let _ = write!(
        text,
        "\n[[cluster]]\n\
         name = {}\n\
         members = [{}]\n\
         failover = \"auto\"\n\
         detection_seconds = 0.75\n\
         on_primary_crash = \"restart\"\n\
         stall_seconds = 5.0\n",
        quote(&state.topology),
        members.join(", "),
    );
    text
}

/// One `[[etcd]]` per member (its client URL through the lab proxy, its lab host, its data
/// directory, the lab's `fault start` and `member stop|remove|add|promote` as its commands, see
/// `etcd_member.rs`), and one `[[quorum]]` of them all, named `etcd`.
fn render_etcd(text: &mut String, state: &LabState, commands: Option<(&str, &str)>) {
    if state.etcd.is_empty() {
        return;
    }
    if let Some((hadome, dir)) = commands {
        render_placed_hosts(text, state, hadome, dir);
    }
    for member in &state.etcd {
        let _ = write!(
            text,
            "\n[[etcd]]\n\
             name = {}\n\
             endpoints = [{}]\n\
             host = {}\n\
             data_dir = {}\n",
            quote(&member.name),
            quote(&member.endpoint()),
            quote(&member.host),
            quote(&member.data_dir.display().to_string()),
        );
        if let Some((hadome, dir)) = commands {
            crate::etcd_member::render_commands(text, hadome, dir, &member.name, argv_text);
        }
    }
    let members: Vec<String> = state
        .etcd
        .iter()
        .map(|member| quote(&member.name))
        .collect();
    let _ = write!(
        text,
        "\n[[quorum]]\n\
         name = \"etcd\"\n\
         members = [{}]\n",
        members.join(", ")
    );
    if let Some(tls) = crate::tls::files_of(state) {
        for (key, path) in [
            ("ca_file", &tls.ca_file),
            ("cert_file", &tls.client_cert),
            ("key_file", &tls.client_key),
        ] {
            let _ = writeln!(text, "{key} = {}", quote(&path.display().to_string()));
        }
    }
}

/// One `[[host]]` per placed host (a name etcd members are placed on, see `placed.rs`), so an
/// action on it is judged by the members it carries and `hadome run` can reboot and image it.
fn render_placed_hosts(text: &mut String, state: &LabState, hadome: &str, dir: &str) {
    let placed = crate::placed::placed_hosts(state);
    if placed.is_empty() {
        return;
    }
    text.push_str(
        "\n# Placed hosts: names the etcd members are placed on, with no machine of their own.\n\
         # Their facts are the lab's record of their boots (`hadome lab host-facts`). Their\n\
         # reboot_command is `lab fault reboot-host`, which is not a real reboot: it stops the\n\
         # members placed there by PID, keeps them down 5 s, records a new boot and starts them\n\
         # again. Their image_command archives the members' data directories and never reboots\n\
         # (hadome passes it no reboot flag), yet `ask image` without `--no-reboot` is judged as a\n\
         # reboot, as the clouds' consoles reboot by default.\n\
         # min_uptime_seconds = 1 and max_boots = 20 (in 10 min): quorum drills reboot these hosts\n\
         # minutes apart, and a real host's guard (10 min up, 3 boots an hour) would refuse them\n\
         # for `reboot-uptime` before `quorum` is reached.\n",
    );
    for name in &placed {
        let _ = write!(
            text,
            "\n[[host]]\n\
             name = {}\n\
             facts_command = {}\n\
             min_uptime_seconds = 1\n\
             max_boots = 20\n\
             boot_window_seconds = 600\n\
             reboot_command = {}\n\
             image_command = {}\n\
             verify_image_command = {}\n",
            quote(name),
            argv_text(&[hadome, "lab", "host-facts", "--dir", dir, name]),
            argv_text(&[
                hadome,
                "lab",
                "fault",
                "--dir",
                dir,
                "reboot-host",
                "{host}"
            ]),
            argv_text(&[hadome, "lab", "image", "--dir", dir, "{host}", "{image}"]),
            argv_text(&[hadome, "lab", "verify-image", "--dir", dir, "{image}"]),
        );
    }
}

/// An argv array as TOML text, each word quoted by [`quote`].
pub(crate) fn argv_text(argv: &[&str]) -> String {
    let quoted: Vec<String> = argv.iter().map(|word| quote(word)).collect();
    format!("[{}]", quoted.join(", "))
}

/// One `[[host]]` per host (reached with `hadome lab exec`, the lab's `ssh HOST`), and one
/// `[[backup]]` per lab backup of a covered data path (copies in `DIR/backups`, outside the host).
fn render_hosts(text: &mut String, state: &LabState, hadome: &str, dir: &str) {
    // A host that runs a node is reached over SSH instead (`debian_hosts::render_hosts`).
    for host in state
        .hosts
        .iter()
        .filter(|host| state.node_on_host(&host.name).is_none())
    {
        let name = host.name.as_str();
        let mut facts = vec![
            hadome,
            "lab",
            "exec",
            "--dir",
            dir,
            name,
            "--",
            crate::host::HADOME_IN_HOST,
            "host-facts",
        ];
        for path in &host.data_paths {
            facts.push("--data-path");
            facts.push(path);
        }
        let data_paths: Vec<String> = host.data_paths.iter().map(|path| quote(path)).collect();
        let _ = write!(
            text,
            "\n[[host]]\n\
             name = {}\n\
             facts_command = {}\n\
             data_paths = [{}]\n\
             min_uptime_seconds = 30\n\
             max_boots = 3\n\
             boot_window_seconds = 600\n\
             reboot_command = {}\n\
             image_command = {}\n\
             verify_image_command = {}\n\
             delete_command = {}\n",
            quote(name),
            argv_text(&facts),
            data_paths.join(", "),
            argv_text(&[
                hadome,
                "lab",
                "fault",
                "--dir",
                dir,
                "reboot-host",
                "{host}"
            ]),
            argv_text(&[hadome, "lab", "image", "--dir", dir, "{host}", "{image}"]),
            argv_text(&[hadome, "lab", "verify-image", "--dir", dir, "{image}"]),
            argv_text(&[hadome, "lab", "delete-host", "--dir", dir, "{host}"]),
        );
        for path in &host.backed_up {
            let slug = path.rsplit('/').next().unwrap_or("data");
            let _ = write!(
                text,
                "\n[[backup]]\n\
                 name = {}\n\
                 type = \"files\"\n\
                 path = {}\n\
                 covers = [{}]\n",
                quote(&format!("{name}-{slug}")),
                quote(&format!("{dir}/backups/{name}-{slug}-*.tar")),
                quote(&format!("{name}:{path}")),
            );
        }
    }
}

/// The hadome binary and the lab directory, as the commands' arguments; or why there are no
/// commands.
fn command_binary(state: &LabState) -> Result<(&str, &str), &'static str> {
    let hadome = state
        .hadome_binary
        .as_deref()
        .ok_or("the lab state does not record the hadome binary (a lab from an older hadome)")?;
    let hadome = hadome
        .to_str()
        .ok_or("the hadome binary's path is not UTF-8")?;
    let dir = state
        .dir
        .to_str()
        .ok_or("the lab directory's path is not UTF-8")?;
    let braced = |text: &str| text.contains(['{', '}']);
    if braced(hadome) || braced(dir) || state.nodes.iter().any(|node| braced(&node.name)) {
        return Err("a path or name holds a brace, which an estate file's command reserves for placeholders");
    }
    Ok((hadome, dir))
}

/// A node's `start_command`, `stop_command`, `rebuild_command`, `fence_command` and
/// `follow_command`: this lab's own `hadome lab fault start|stop|fence|follow` and
/// `hadome lab rebuild`.
fn commands<'a>(
    hadome: &'a str,
    dir: &'a str,
    node: &'a NodeState,
) -> [(&'static str, Vec<&'a str>); 5] {
    let name = node.name.as_str();
    [
        (
            "start_command",
            vec![hadome, "lab", "fault", "--dir", dir, "start", name],
        ),
        (
            "stop_command",
            vec![hadome, "lab", "fault", "--dir", dir, "stop", name],
        ),
        (
            "rebuild_command",
            vec![
                hadome, "lab", "rebuild", "--dir", dir, name, "--from", "{source}",
            ],
        ),
        (
            "fence_command",
            vec![hadome, "lab", "fault", "--dir", dir, "fence", name],
        ),
        (
            "follow_command",
            vec![
                hadome, "lab", "fault", "--dir", dir, "follow", name, "{source}",
            ],
        ),
    ]
}

/// A TOML string literal for `text`, escaped by the `toml` crate.
pub(crate) fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::state::{NodeState, RunAs};
    use crate::Topology;

    fn lab_state(topology: &str, dir: &str, names: &[&str]) -> LabState {
        let dir = PathBuf::from(dir);
        LabState {
            version: LabState::new_version(),
            topology: topology.to_owned(),
            dir: dir.clone(),
            token: "t0k3n".to_owned(),
            bindir: PathBuf::from("/usr/lib/postgresql/15/bin"),
            run_as: RunAs::CurrentUser,
            proxy_pid: 4242,
            hadome_binary: Some(PathBuf::from("/usr/local/bin/hadome")),
            hosts: Vec::new(),
            etcd: Vec::new(),
            etcd_clients: Vec::new(),
            web: None,
            nodes: names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let home = dir.join("nodes").join(name);
                    NodeState {
                        name: (*name).to_owned(),
                        upstream: (index > 0).then(|| names[0].to_owned()),
                        synchronous: false,
                        slot: false,
                        settings: Default::default(),
                        data_dir: home.join("data"),
                        socket_dir: home.join("run"),
                        log_file: home.join("postgresql.log"),
                        client_port: 40_000 + u16::try_from(index).unwrap(),
                        host: None,
                    }
                })
                .collect(),
            links: Vec::new(),
        }
    }

    #[test]
    fn renders_every_node_as_an_instance_of_one_cluster() {
        let text = render(&lab_state("pair", "/tmp/lab", &["db-1", "db-2"]));
        assert!(
            text.starts_with(
                "# Written by `hadome lab up` for the lab topology `pair` in /tmp/lab.\n"
            ),
            "{text}"
        );
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["journal"]["path"].as_str(), Some("hadome.sqlite"));
        assert_eq!(table["probe"]["timeout_seconds"].as_float(), Some(0.5));
        assert_eq!(table["probe"]["interval_seconds"].as_float(), Some(0.5));
        let instances = table["instance"].as_array().unwrap();
        assert_eq!(instances.len(), 2);
        let second = instances[1].as_table().unwrap();
        assert_eq!(second["name"].as_str(), Some("db-2"));
        assert_eq!(
            second["conninfo"].as_str(),
            Some("host=127.0.0.1 port=40001 user=postgres dbname=postgres")
        );
        assert_eq!(
            second["data_dir"].as_str(),
            Some("/tmp/lab/nodes/db-2/data")
        );
        assert_eq!(second["host"].as_str(), Some("localhost"));
        assert_eq!(second["application_name"].as_str(), Some("db-2"));
        let clusters = table["cluster"].as_array().unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0]["name"].as_str(), Some("pair"));
        assert_eq!(
            clusters[0]["members"],
            toml::Value::Array(vec!["db-1".into(), "db-2".into()])
        );
        assert_eq!(clusters[0]["failover"].as_str(), Some("auto"));
        assert_eq!(clusters[0]["detection_seconds"].as_float(), Some(0.75));
        assert_eq!(clusters[0]["on_primary_crash"].as_str(), Some("restart"));
    }

    fn argv(value: &toml::Value) -> Vec<&str> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|word| word.as_str().unwrap())
            .collect()
    }

    #[test]
    fn every_instance_is_started_stopped_rebuilt_fenced_and_repointed_by_the_labs_own_commands() {
        let text = render(&lab_state("pair", "/tmp/lab", &["db-1", "db-2"]));
        let table: toml::Table = toml::from_str(&text).unwrap();
        for (index, name) in ["db-1", "db-2"].iter().enumerate() {
            let instance = &table["instance"][index];
            assert_eq!(
                argv(&instance["start_command"]),
                [
                    "/usr/local/bin/hadome",
                    "lab",
                    "fault",
                    "--dir",
                    "/tmp/lab",
                    "start",
                    name
                ]
            );
            assert_eq!(
                argv(&instance["stop_command"]),
                [
                    "/usr/local/bin/hadome",
                    "lab",
                    "fault",
                    "--dir",
                    "/tmp/lab",
                    "stop",
                    name
                ]
            );
            assert_eq!(
                argv(&instance["rebuild_command"]),
                [
                    "/usr/local/bin/hadome",
                    "lab",
                    "rebuild",
                    "--dir",
                    "/tmp/lab",
                    name,
                    "--from",
                    "{source}"
                ]
            );
            assert_eq!(
                argv(&instance["fence_command"]),
                [
                    "/usr/local/bin/hadome",
                    "lab",
                    "fault",
                    "--dir",
                    "/tmp/lab",
                    "fence",
                    name
                ]
            );
            assert_eq!(
                argv(&instance["follow_command"]),
                [
                    "/usr/local/bin/hadome",
                    "lab",
                    "fault",
                    "--dir",
                    "/tmp/lab",
                    "follow",
                    name,
                    "{source}"
                ]
            );
        }
        assert!(!text.contains("No start/stop/rebuild"), "{text}");
    }

    #[test]
    fn commands_are_left_out_when_the_binary_is_unknown_or_a_path_holds_a_brace() {
        let mut old = lab_state("pair", "/tmp/lab", &["db-1", "db-2"]);
        old.hadome_binary = None;
        let braced = lab_state("pair", "/tmp/{lab}", &["db-1"]);
        for (state, reason) in [
            (old, "does not record the hadome binary"),
            (braced, "holds a brace"),
        ] {
            let text = render(&state);
            let table: toml::Table = toml::from_str(&text).unwrap();
            for instance in table["instance"].as_array().unwrap() {
                let instance = instance.as_table().unwrap();
                for key in [
                    "start_command",
                    "stop_command",
                    "rebuild_command",
                    "fence_command",
                    "follow_command",
                ] {
                    assert!(!instance.contains_key(key), "{key} in {text}");
                }
            }
            let comment = text
                .lines()
                .find(|line| line.starts_with("# No start/stop/rebuild/fence/follow commands: "))
                .unwrap_or_else(|| panic!("no reason given in {text}"));
            assert!(comment.contains(reason), "{comment}");
        }
    }

    #[test]
    fn a_host_is_reached_through_lab_exec_and_its_backup_covers_one_data_path() {
        let mut state = lab_state("s512", "/tmp/lab", &[]);
        state.hosts = vec![crate::host::host_state(
            std::path::Path::new("/tmp/lab"),
            "t0k3n",
            &Topology::resolve("s512").unwrap().hosts[0],
        )];
        let text = render(&state);
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert!(!table.contains_key("cluster"), "{text}");
        assert!(!table.contains_key("instance"), "{text}");
        let host = &table["host"][0];
        assert_eq!(host["name"].as_str(), Some("s512"));
        assert_eq!(
            argv(&host["facts_command"]),
            [
                "/usr/local/bin/hadome",
                "lab",
                "exec",
                "--dir",
                "/tmp/lab",
                "s512",
                "--",
                "/usr/local/bin/hadome",
                "host-facts",
                "--data-path",
                "/srv/uploads",
                "--data-path",
                "/srv/config"
            ]
        );
        assert_eq!(
            host["data_paths"],
            toml::Value::Array(vec!["/srv/uploads".into(), "/srv/config".into()])
        );
        assert_eq!(host["min_uptime_seconds"].as_integer(), Some(30));
        assert_eq!(host["max_boots"].as_integer(), Some(3));
        assert_eq!(host["boot_window_seconds"].as_integer(), Some(600));
        assert_eq!(
            argv(&host["reboot_command"]),
            [
                "/usr/local/bin/hadome",
                "lab",
                "fault",
                "--dir",
                "/tmp/lab",
                "reboot-host",
                "{host}"
            ]
        );
        assert_eq!(
            argv(&host["image_command"]),
            [
                "/usr/local/bin/hadome",
                "lab",
                "image",
                "--dir",
                "/tmp/lab",
                "{host}",
                "{image}"
            ]
        );
        assert_eq!(
            argv(&host["verify_image_command"]),
            [
                "/usr/local/bin/hadome",
                "lab",
                "verify-image",
                "--dir",
                "/tmp/lab",
                "{image}"
            ]
        );
        assert_eq!(
            argv(&host["delete_command"]),
            [
                "/usr/local/bin/hadome",
                "lab",
                "delete-host",
                "--dir",
                "/tmp/lab",
                "{host}"
            ]
        );
        let backups = table["backup"].as_array().unwrap();
        assert_eq!(backups.len(), 1);
        assert_eq!(backups[0]["name"].as_str(), Some("s512-config"));
        assert_eq!(backups[0]["type"].as_str(), Some("files"));
        assert_eq!(
            backups[0]["path"].as_str(),
            Some("/tmp/lab/backups/s512-config-*.tar")
        );
        assert_eq!(
            backups[0]["covers"],
            toml::Value::Array(vec!["s512:/srv/config".into()])
        );
        // Stored where hadome runs (the lab's directory), not on the host it covers.
        assert!(backups[0].get("stored_on").is_none(), "{backups:?}");
    }

    #[test]
    fn quotes_and_control_characters_survive_the_round_trip() {
        let topology = "we\"ird\\name\nwith 'quotes'";
        let dir = "/tmp/a \"b\" 'c'\\d";
        let text = render(&lab_state(topology, dir, &["db-1"]));
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["cluster"][0]["name"].as_str(), Some(topology));
        assert_eq!(
            table["instance"][0]["data_dir"].as_str(),
            Some("/tmp/a \"b\" 'c'\\d/nodes/db-1/data")
        );
        // The header comment stays one line per `#`.
        assert!(text
            .lines()
            .take_while(|line| !line.is_empty())
            .all(|line| line.starts_with('#')));
    }
}
