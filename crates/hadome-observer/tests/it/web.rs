//! Web facts from real commands and the real nginx (Debian's `nginx`, installed by
//! `scripts/setup.sh`): the rules of `hadome_observer::web`, one test each.
//!
//! nginx is run as `nginx -T|-t -c FILE -p PREFIX -e /dev/null`: it reads, tests and prints the
//! configuration and starts no server. The configurations name only addresses (no host names),
//! so nginx resolves nothing and the machine's resolver is not involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hadome_core::estate::Estate;
use hadome_core::route::{Arrival, Url};
use hadome_core::web::{Nginx, Route, ServiceProbe, Web, WebService};
use hadome_observer::web::{observe_nginx, observe_services};

/// A configuration in the shape of incident E, on addresses only: the console and app-1 share
/// 127.0.0.1:3000, and app-1's block names that address literally.
const INCIDENT: &str = "events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:18080;
        server_name console.apps.lab;
        location / { proxy_pass http://127.0.0.1:3000; }
    }
    server {
        listen 127.0.0.1:18080;
        server_name app-1.apps.lab;
        location / { proxy_pass http://127.0.0.1:3000; }
    }
}
";

/// A prefix with `conf/nginx.conf` holding `text`; removed when dropped.
struct Prefix {
    dir: tempfile::TempDir,
}

impl Prefix {
    fn new(text: &str) -> Prefix {
        let dir = tempfile::tempdir().expect("a temporary prefix");
        std::fs::create_dir_all(dir.path().join("conf")).expect("create conf/");
        std::fs::write(dir.path().join("conf/nginx.conf"), text).expect("write nginx.conf");
        Prefix { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf/nginx.conf")
    }

    /// `nginx FLAG -c conf/nginx.conf -p PREFIX/ -e /dev/null`.
    fn nginx(&self, flag: &str) -> Vec<String> {
        vec![
            "nginx".into(),
            flag.into(),
            "-c".into(),
            path(&self.conf()),
            "-p".into(),
            format!("{}/", path(self.dir.path())),
            "-e".into(),
            "/dev/null".into(),
        ]
    }
}

fn path(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}

fn service(name: &str, port: u16, running_command: Option<Vec<String>>) -> WebService {
    WebService {
        name: name.into(),
        address_host: "127.0.0.1".into(),
        port,
        host: None,
        marker_header: None,
        running_command,
    }
}

fn estate(services: Vec<WebService>, nginx: Vec<Nginx>) -> Estate {
    Estate {
        instances: Vec::new(),
        clusters: Vec::new(),
        journal_path: "/tmp/unused-journal.sqlite".into(),
        probe_timeout_seconds: 5.0,
        probe_interval_seconds: 1.0,
        notify: Default::default(),
        backups: Vec::new(),
        snapshots: Vec::new(),
        hosts: Vec::new(),
        etcd_members: Vec::new(),
        quorums: Vec::new(),
        coordination: None,
        api: None,
        web: Web {
            routes: vec![Route {
                name: "app-1".into(),
                url: Url::parse("http://app-1.apps.lab:18080/").expect("a route URL"),
                service: "app-1".into(),
                arrival: Arrival::default(),
                hop_limit: 10,
                connect_to: None,
            }],
            services,
            nginx,
        },
    }
}

fn nginx_of(prefix: &Prefix) -> Nginx {
    Nginx {
        name: "web".into(),
        host: None,
        dump_command: prefix.nginx("-T"),
        test_command: prefix.nginx("-t"),
        reload_command: argv(&["true"]),
    }
}

/// Exit 0 is running, another exit is stopped, a command that cannot start is unknown, and a
/// service without a command is not in the map.
#[tokio::test]
async fn a_services_command_says_running_stopped_or_unknown() {
    let estate = estate(
        vec![
            service("console", 3000, Some(argv(&["true"]))),
            service("app-1", 3001, Some(argv(&["sh", "-c", "exit 3"]))),
            service("sso", 3002, Some(argv(&["/nonexistent/hadome-probe"]))),
            service("static", 3003, None),
        ],
        Vec::new(),
    );
    let services = observe_services(&estate).await;
    assert_eq!(services["console"].running, Ok(true));
    assert_eq!(services["app-1"].running, Ok(false));
    let unknown = services["sso"].running.clone().unwrap_err();
    assert!(
        unknown.contains("did not start") && unknown.contains("/nonexistent/hadome-probe"),
        "{unknown}"
    );
    assert!(!services.contains_key("static"), "{services:?}");
}

/// The incident's configuration, dumped by the real nginx: the literal upstream is flagged as
/// shared with the console, and as not running once app-1's probe says it stopped; with the
/// test asked for, `nginx -t` passes.
#[tokio::test]
async fn the_incidents_configuration_is_linted_from_the_real_dump() {
    let prefix = Prefix::new(INCIDENT);
    let estate = estate(
        vec![service("console", 3000, None), service("app-1", 3000, None)],
        vec![nginx_of(&prefix)],
    );
    let stopped = BTreeMap::from([(
        "app-1".to_owned(),
        ServiceProbe {
            observed_at: hadome_core::fact::Timestamp(0),
            running: Ok(false),
        },
    )]);
    let probes = observe_nginx(&estate, &stopped, true).await;
    let probe = &probes["web"];
    assert_eq!(probe.test, Some(Ok(())), "{probe:?}");
    let hits = probe.lint.as_ref().expect("the dump is read");
    let rules: Vec<&str> = hits.iter().map(|hit| hit.rule).collect();
    assert!(rules.contains(&"port-collision"), "{hits:?}");
    assert!(rules.contains(&"upstream-not-running"), "{hits:?}");
    let conf = path(&prefix.conf());
    assert!(
        hits.iter()
            .all(|hit| hit.place.starts_with(&format!("{conf}:"))),
        "every place is the file nginx read, with its line: {hits:?}"
    );

    // Unknown or unwatched is not "stopped": the lint never invents a stopped upstream.
    let unwatched = observe_nginx(&estate, &BTreeMap::new(), false).await;
    let hits = unwatched["web"].lint.as_ref().expect("the dump is read");
    assert!(
        hits.iter().all(|hit| hit.rule != "upstream-not-running"),
        "{hits:?}"
    );
    assert_eq!(unwatched["web"].test, None);
}

/// A configuration nginx rejects: the dump command fails, so the lint is an error (never an
/// empty list), and the test's error is what nginx said.
#[tokio::test]
async fn a_configuration_nginx_rejects_is_an_error_not_a_clean_lint() {
    let prefix =
        Prefix::new("events {}\nhttp { server { listen 127.0.0.1:18080; proxy_pas x; } }\n");
    let estate = estate(Vec::new(), vec![nginx_of(&prefix)]);
    let probes = observe_nginx(&estate, &BTreeMap::new(), true).await;
    let probe = &probes["web"];
    let lint = probe.lint.clone().unwrap_err();
    assert!(lint.starts_with("its dump_command `nginx -T"), "{lint}");
    assert!(lint.contains("proxy_pas"), "{lint}");
    let test = probe.test.clone().expect("asked for").unwrap_err();
    assert!(test.contains("unknown directive \"proxy_pas\""), "{test}");
}

/// A dump command that succeeds but prints what is not an `nginx -T` dump is an error too.
#[tokio::test]
async fn output_that_is_not_a_dump_is_an_error() {
    let estate = estate(
        Vec::new(),
        vec![Nginx {
            name: "web".into(),
            host: None,
            dump_command: argv(&["echo", "hello"]),
            test_command: argv(&["true"]),
            reload_command: argv(&["true"]),
        }],
    );
    let probes = observe_nginx(&estate, &BTreeMap::new(), false).await;
    let lint = probes["web"].lint.clone().unwrap_err();
    assert!(
        lint.contains("is not a configuration nginx dumped"),
        "{lint}"
    );
}

/// A probe timeout that is not a positive number refuses to run anything.
#[tokio::test]
async fn a_bad_probe_timeout_runs_nothing() {
    let mut estate = estate(
        vec![service("console", 3000, Some(argv(&["true"])))],
        vec![Nginx {
            name: "web".into(),
            host: None,
            dump_command: argv(&["true"]),
            test_command: argv(&["true"]),
            reload_command: argv(&["true"]),
        }],
    );
    estate.probe_timeout_seconds = 0.0;
    let services = observe_services(&estate).await;
    let why = services["console"].running.clone().unwrap_err();
    assert!(why.contains("probe_timeout_seconds = 0"), "{why}");
    let probes = observe_nginx(&estate, &services, true).await;
    assert!(probes["web"].lint.is_err());
    assert!(matches!(probes["web"].test, Some(Err(_))));
}
