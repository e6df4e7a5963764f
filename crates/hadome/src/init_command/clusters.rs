//! This machine's PostgreSQL clusters as Debian's postgresql-common lists them: `pg_lsclusters
//! --json`, run as an argv (never a shell) and bounded, and its JSON read into [`LocalCluster`]s.
//!
//! postgresql-common reads its clusters under `/etc/postgresql`, or under
//! `$PG_CLUSTER_CONF_ROOT` when that is set (the child inherits hadome's environment): the tests
//! list clusters of their own that way, and never the machine's.

use std::time::Duration;

use serde_json::Value;

use crate::error::CliError;

/// The program that lists the clusters.
const PG_LSCLUSTERS: &str = "pg_lsclusters";

/// How long `pg_lsclusters` may take: it reads a few files per cluster and connects to none
/// (its "running" is the PID file, or a connect to the socket).
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// One cluster as `pg_lsclusters` describes it, with what an `[[instance]]` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalCluster {
    /// The PostgreSQL major version, as postgresql-common names it (`15`, `9.6`).
    pub(super) version: String,
    /// The cluster's name within its version (`main`).
    pub(super) cluster: String,
    pub(super) port: u16,
    /// Where its Unix socket is; `None` when postgresql-common names none (TCP on localhost).
    pub(super) socket_dir: Option<String>,
    pub(super) data_dir: String,
    /// Whether it ran when listed (its PID file, or its socket answering).
    pub(super) running: bool,
    /// Whether its data directory has `standby.signal`, `recovery.signal` or `recovery.conf`.
    pub(super) recovery: bool,
    /// `start.conf`: `auto`, `manual` or `disabled`.
    pub(super) start: Option<String>,
    /// Whether this version's server binaries are not installed.
    pub(super) binaries_missing: bool,
}

impl LocalCluster {
    /// postgresql-common's name of it, `VERSION/CLUSTER` (also its `cluster_name` setting).
    pub(super) fn debian_name(&self) -> String {
        format!("{}/{}", self.version, self.cluster)
    }
}

/// A listed cluster hadome cannot write an `[[instance]]` for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unusable {
    /// `VERSION/CLUSTER`, or the entry's position when it names neither.
    pub(super) name: String,
    pub(super) why: String,
}

/// What `pg_lsclusters --json` listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listing {
    pub(super) clusters: Vec<LocalCluster>,
    pub(super) unusable: Vec<Unusable>,
}

/// Runs `pg_lsclusters --json` and reads its answer.
///
/// It is `CannotProceed` (exit 5) when the program is missing, fails, or prints what is not its
/// JSON: `init` has nothing to write from.
pub(super) async fn list() -> Result<Listing, CliError> {
    let mut command = tokio::process::Command::new(PG_LSCLUSTERS);
    command
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(LIST_TIMEOUT, command.output()).await {
        Err(_) => {
            return Err(CliError::CannotProceed {
                message: format!(
                    "`{PG_LSCLUSTERS} --json` did not finish within {} s",
                    LIST_TIMEOUT.as_secs()
                ),
                hint: Some(format!("run `{PG_LSCLUSTERS}` to see where it hangs")),
            })
        }
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::CannotProceed {
                message: format!(
                    "`{PG_LSCLUSTERS}` is not on PATH: `hadome init` finds the clusters of \
                     Debian's PostgreSQL layout through postgresql-common"
                ),
                hint: Some(
                    "install postgresql-common, or write the estate file by hand from \
                     examples/estate.toml"
                        .to_owned(),
                ),
            })
        }
        Ok(Err(error)) => {
            return Err(CliError::CannotProceed {
                message: format!("could not run `{PG_LSCLUSTERS} --json`: {error}"),
                hint: None,
            })
        }
        Ok(Ok(output)) => output,
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let said = stderr.trim();
        return Err(CliError::CannotProceed {
            message: format!(
                "`{PG_LSCLUSTERS} --json` failed ({}){}",
                output.status,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            ),
            hint: Some(if said.contains("JSON.pm") {
                "install libjson-perl, which `pg_lsclusters --json` needs".to_owned()
            } else {
                format!("run `{PG_LSCLUSTERS}` to see what it says")
            }),
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout)).map_err(|why| CliError::CannotProceed {
        message: format!("`{PG_LSCLUSTERS} --json` printed what hadome cannot read: {why}"),
        hint: Some(format!(
            "run `{PG_LSCLUSTERS} --json` to see it; hadome reads postgresql-common's JSON list"
        )),
    })
}

/// Reads `pg_lsclusters --json`'s output: an array with one object per cluster. A cluster that
/// lacks what an `[[instance]]` needs (its port, its data directory) is [`Unusable`], with why;
/// the error is an output that is not such an array.
pub(super) fn parse(text: &str) -> Result<Listing, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let Value::Array(entries) = value else {
        return Err("it is not a JSON array".to_owned());
    };
    let mut listing = Listing {
        clusters: Vec::new(),
        unusable: Vec::new(),
    };
    for (index, entry) in entries.iter().enumerate() {
        match cluster(entry) {
            Ok(cluster) => listing.clusters.push(cluster),
            Err(why) => listing.unusable.push(Unusable {
                name: match (text_of(entry.get("version")), text_of(entry.get("cluster"))) {
                    (Some(version), Some(cluster)) => format!("{version}/{cluster}"),
                    _ => format!("entry {index}"),
                },
                why,
            }),
        }
    }
    Ok(listing)
}

fn cluster(entry: &Value) -> Result<LocalCluster, String> {
    if !entry.is_object() {
        return Err("it is not a JSON object".to_owned());
    }
    let version = text_of(entry.get("version")).ok_or("it names no version")?;
    let cluster = text_of(entry.get("cluster")).ok_or("it names no cluster")?;
    let port = match text_of(entry.get("port")) {
        None => return Err("its port is unknown".to_owned()),
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or(format!("its port `{port}` is not a TCP port"))?,
    };
    let data_dir = text_of(entry.get("pgdata"))
        .filter(|path| path.starts_with('/'))
        .ok_or("its data directory is unknown (is its configuration readable?)")?;
    Ok(LocalCluster {
        version,
        cluster,
        port,
        socket_dir: text_of(entry.get("socketdir")).filter(|dir| !dir.is_empty()),
        data_dir,
        running: flag(entry.get("running")),
        recovery: flag(entry.get("recovery")),
        start: text_of(entry.get("start")),
        binaries_missing: flag(entry.get("binaries_missing")),
    })
}

/// A string, or a number written as text (Perl's JSON writes `15` and `"5432"` alike).
fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Perl's truth as pg_lsclusters writes it: `1`/`0`, or a JSON boolean; absent is false.
fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(set)) => *set,
        Some(Value::Number(number)) => number.as_f64().is_some_and(|number| number != 0.0),
        Some(Value::String(text)) => !text.is_empty() && text != "0",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pg_lsclusters --json` on a Debian 12 machine (postgresql-common 248) with PostgreSQL 15's
    /// default cluster, stopped.
    const DEFAULT_CLUSTER: &str = include_str!("fixtures/pg-lsclusters-15-main.json");
    /// The same, with `PG_CLUSTER_CONF_ROOT` set: two clusters made by `pg_createcluster` with
    /// their own data and socket directories, one running.
    const RUNNING_AND_DOWN: &str = include_str!("fixtures/pg-lsclusters-running-and-down.json");

    #[test]
    fn debian_default_cluster_is_read_from_real_output() {
        let listing = parse(DEFAULT_CLUSTER).expect("parses");
        assert_eq!(listing.unusable, []);
        assert_eq!(
            listing.clusters,
            [LocalCluster {
                version: "15".to_owned(),
                cluster: "main".to_owned(),
                port: 5432,
                socket_dir: Some("/var/run/postgresql".to_owned()),
                data_dir: "/var/lib/postgresql/15/main".to_owned(),
                running: false,
                recovery: false,
                start: Some("auto".to_owned()),
                binaries_missing: false,
            }]
        );
        assert_eq!(listing.clusters[0].debian_name(), "15/main");
    }

    #[test]
    fn running_and_down_clusters_with_their_own_directories() {
        let listing = parse(RUNNING_AND_DOWN).expect("parses");
        assert_eq!(listing.unusable, []);
        let described: Vec<(String, u16, bool, Option<String>, String)> = listing
            .clusters
            .iter()
            .map(|cluster| {
                (
                    cluster.debian_name(),
                    cluster.port,
                    cluster.running,
                    cluster.socket_dir.clone(),
                    cluster.data_dir.clone(),
                )
            })
            .collect();
        let socket = Some("/tmp/hadome-explore-PRyu/sock".to_owned());
        assert_eq!(
            described,
            [
                (
                    "15/itest_a".to_owned(),
                    54991,
                    false,
                    socket.clone(),
                    "/tmp/hadome-explore-PRyu/data/a".to_owned()
                ),
                (
                    "15/itest_b".to_owned(),
                    54992,
                    true,
                    socket,
                    "/tmp/hadome-explore-PRyu/data/b".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn no_clusters_is_an_empty_listing() {
        assert_eq!(
            parse("[]\n"),
            Ok(Listing {
                clusters: Vec::new(),
                unusable: Vec::new()
            })
        );
    }

    #[test]
    fn a_cluster_without_port_or_data_directory_is_unusable_with_why() {
        let listing = parse(
            r#"[{"version":"9.6","cluster":"old","port":"<unknown>","pgdata":"/srv/pg"},
                {"version":15,"cluster":"lost","port":5433},
                {"version":15,"cluster":"standby","port":5434,"pgdata":"/srv/s","running":1,
                 "recovery":1,"socketdir":""},
                "junk"]"#,
        )
        .expect("parses");
        let unusable: Vec<(&str, &str)> = listing
            .unusable
            .iter()
            .map(|unusable| (unusable.name.as_str(), unusable.why.as_str()))
            .collect();
        assert_eq!(
            unusable,
            [
                ("9.6/old", "its port `<unknown>` is not a TCP port"),
                (
                    "15/lost",
                    "its data directory is unknown (is its configuration readable?)"
                ),
                ("entry 3", "it is not a JSON object"),
            ]
        );
        let [standby] = listing.clusters.as_slice() else {
            panic!("one usable cluster: {listing:?}");
        };
        assert!(standby.running && standby.recovery);
        assert_eq!(standby.socket_dir, None);
    }

    #[test]
    fn output_that_is_not_a_json_array_is_refused() {
        assert!(parse("Ver Cluster Port Status").is_err());
        assert_eq!(
            parse(r#"{"version":15}"#),
            Err("it is not a JSON array".to_owned())
        );
    }
}
