//! `lab up` leaves `DIR/estate.toml`; hadome's own estate parser reads it as the lab it describes.
//!
//! The lab renders the file as text without depending on `hadome-config`; this test is what keeps
//! the two in agreement, and proves each `conninfo` reaches the instance it names.

use std::time::Duration;

use hadome_core::estate::{Automation, CrashPolicy, FailoverPolicy, InstanceCommands};
use tokio_postgres::NoTls;

use crate::support::{describe, hadome_binary, lab, show, value};

/// The `port` of a `key=value` conninfo the lab wrote (no quoting there).
fn port_of(conninfo: &str) -> Option<u16> {
    conninfo
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("port="))
        .and_then(|port| port.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_estate_file_loads_as_the_lab() {
    let lab = lab("misskey").await;
    let path = lab.dir().join("estate.toml");
    let estate = hadome_config::load(&path).unwrap_or_else(|error| {
        panic!(
            "{error}\nhint: {}\n--- {}\n{}",
            error.hint().unwrap_or_default(),
            path.display(),
            std::fs::read_to_string(&path).unwrap_or_default()
        )
    });

    let names = lab.node_names();
    assert_eq!(estate.instances.len(), 4, "{estate:?}");
    let instance_names: Vec<String> = estate
        .instances
        .iter()
        .map(|instance| instance.name.clone())
        .collect();
    assert_eq!(instance_names, names);
    for instance in &estate.instances {
        let name = &instance.name;
        assert_eq!(
            port_of(&instance.conninfo),
            Some(lab.client_port(name).unwrap()),
            "{name}: {}",
            instance.conninfo
        );
        assert_eq!(instance.data_dir, lab.data_dir(name).unwrap(), "{name}");
        assert_eq!(instance.host, "localhost", "{name}");
        assert_eq!(&instance.application_name, name);

        // The conninfo reaches the instance it names: its data directory is the one declared.
        let (client, connection) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_postgres::connect(&instance.conninfo, NoTls),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: `{}` did not connect in 10 s", instance.conninfo))
        .unwrap_or_else(|error| panic!("{name}: `{}`: {}", instance.conninfo, describe(&error)));
        let connection = tokio::spawn(connection);
        let data_directory = value(&client, name, "SELECT current_setting('data_directory')").await;
        assert_eq!(
            data_directory.as_deref().map(std::path::Path::new),
            Some(instance.data_dir.as_path()),
            "{name}"
        );
        drop(client);
        let _ = connection.await;
    }

    // Each instance is started, stopped, rebuilt, fenced and repointed by the lab's own commands,
    // run by the hadome binary the lab was brought up with.
    let hadome = hadome_binary().to_str().unwrap().to_owned();
    let dir = lab.dir().to_str().unwrap().to_owned();
    for instance in &estate.instances {
        let name = instance.name.as_str();
        let argv = |words: &[&str]| Some(words.iter().map(|word| (*word).to_owned()).collect());
        assert_eq!(
            instance.commands,
            InstanceCommands {
                start: argv(&[&hadome, "lab", "fault", "--dir", &dir, "start", name]),
                stop: argv(&[&hadome, "lab", "fault", "--dir", &dir, "stop", name]),
                rebuild: argv(&[
                    &hadome, "lab", "rebuild", "--dir", &dir, name, "--from", "{source}"
                ]),
                fence: argv(&[&hadome, "lab", "fault", "--dir", &dir, "fence", name]),
                follow: argv(&[&hadome, "lab", "fault", "--dir", &dir, "follow", name, "{source}"]),
                debian: None,
                replication_conninfo: None,
            },
            "{name}"
        );
    }
    // The argv runs as it is: no shell.
    let db4 = estate.instance("db-4").unwrap();
    for (command, process) in [
        (&db4.commands.stop, "stopped"),
        (&db4.commands.start, "running"),
    ] {
        let argv = command.as_ref().unwrap();
        let output = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert!(output.status.success(), "{argv:?}: {}", show(&output));
        let status = lab.status().await.unwrap();
        assert_eq!(status.nodes[3].process, process, "after {argv:?}");
    }

    assert_eq!(estate.clusters.len(), 1, "{estate:?}");
    let cluster = &estate.clusters[0];
    assert_eq!(cluster.name, "misskey");
    assert_eq!(cluster.members, names);
    // A lab fails over on its own, quickly: a drill's failover takes seconds.
    assert_eq!(cluster.failover, FailoverPolicy::Auto);
    assert_eq!(
        cluster.automation,
        Automation {
            on_primary_crash: CrashPolicy::Restart,
            detection_seconds: 0.75,
            // The lab's standbys reconnect within a second (`wal_retrieve_retry_interval`).
            stall_seconds: 5.0,
            ..Automation::default()
        }
    );
    assert_eq!(estate.journal_path, lab.dir().join("hadome.sqlite"));
    assert_eq!(estate.probe_timeout_seconds, 0.5);
    assert_eq!(estate.probe_interval_seconds, 0.5);
}
