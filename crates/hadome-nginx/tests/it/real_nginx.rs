//! Each configuration under `tests/configs/NAME/` is copied to a temporary prefix and dumped by
//! the real nginx (`nginx -T -c FILE -p PREFIX`: it tests and prints, it starts no server). nginx
//! resolves literal upstream names while testing, so it runs in a private mount namespace whose
//! `/etc/hosts` is the test's own (`unshare --mount`, a bind mount): the machine's resolver
//! settings are never touched. The dump is read and linted with the fixture's `context.txt`
//! (`service NAME HOST PORT running|stopped`, `route HOST PORT`), and the findings, rendered
//! `SEVERITY RULE FILE:LINE` with FILE relative to the fixture, must be the fixture's
//! `expected.txt`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hadome_nginx::lint::{lint, LintContext, LintFinding, RouteHost, Service};
use hadome_nginx::model::{ListenAddress, ServerName};

/// The names the fixtures' targets use, as the private `/etc/hosts` gives them.
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n\
127.0.0.2 app-1 sso-1 static-1 health-1 php-fpm api-1 canary-1\n\
127.0.0.3 console.apps.lab\n";

const DEADLINE: Duration = Duration::from_secs(30);

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the prefix's conf directory");
    for entry in std::fs::read_dir(from).expect("read a fixture directory") {
        let entry = entry.expect("read a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a fixture entry's type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// A real `nginx -T` of the fixture: (the dump, the conf directory its paths start with).
fn real_dump(fixture: &str) -> (String, String, tempfile::TempDir) {
    let prefix = tempfile::tempdir().expect("a temporary prefix");
    let conf = prefix.path().join("conf");
    copy_tree(&configs().join(fixture), &conf);
    let hosts = prefix.path().join("hosts");
    std::fs::write(&hosts, HOSTS).expect("write the private hosts file");
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/hosts && exec nginx -T -c "$2" -p "$3" -e /dev/null"#)
        .arg("sh")
        .arg(&hosts)
        .arg(conf.join("nginx.conf"))
        .arg(format!("{}/", prefix.path().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare and nginx (scripts/setup.sh installs nginx; the tests run as root)");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll nginx -T") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            // Ended by its own PID, never by name.
            let _ = child.kill();
            let _ = child.wait();
            panic!("`nginx -T` of `{fixture}` did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let dump = reader
        .join()
        .expect("the stdout reader")
        .expect("read nginx -T's stdout");
    let mut errors = String::new();
    stderr
        .read_to_string(&mut errors)
        .expect("read nginx -T's stderr");
    assert!(
        status.success() && errors.contains("test is successful"),
        "`nginx -T` of `{fixture}` failed ({status}):\n{errors}"
    );
    let conf_prefix = format!("{}/", conf.display());
    (dump, conf_prefix, prefix)
}

fn context(fixture: &str) -> LintContext {
    let text =
        std::fs::read_to_string(configs().join(fixture).join("context.txt")).unwrap_or_default();
    let mut context = LintContext::default();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["service", name, host, port, state] => context.services.push(Service {
                name: name.to_string(),
                host: host.to_string(),
                port: port.parse().expect("a service's port"),
                running: *state == "running",
            }),
            ["route", host, port] => context.routes.push(RouteHost {
                host: host.to_string(),
                port: port.parse().expect("a route's port"),
            }),
            _ => panic!("{fixture}/context.txt: cannot read `{line}`"),
        }
    }
    context
}

fn rendered(findings: &[LintFinding], conf_prefix: &str) -> Vec<String> {
    let mut lines: Vec<String> = findings
        .iter()
        .map(|finding| {
            let file = finding
                .place
                .file
                .strip_prefix(conf_prefix)
                .unwrap_or(&finding.place.file);
            format!(
                "{} {} {file}:{}",
                finding.severity, finding.rule, finding.place.line
            )
        })
        .collect();
    lines.sort();
    lines
}

/// The fixture's findings on its real dump, checked against `expected.txt`; returns them.
fn check(fixture: &str) -> (hadome_nginx::model::Nginx, Vec<LintFinding>, String) {
    let (dump, conf_prefix, _prefix) = real_dump(fixture);
    let nginx = hadome_nginx::read(&dump).unwrap_or_else(|error| panic!("{fixture}: {error}"));
    let findings = lint(&nginx, &context(fixture));
    let expected = std::fs::read_to_string(configs().join(fixture).join("expected.txt"))
        .expect("read expected.txt");
    let mut expected: Vec<String> = expected
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    expected.sort();
    assert_eq!(
        rendered(&findings, &conf_prefix),
        expected,
        "{fixture}: the findings on the real `nginx -T`:\n{}",
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    (nginx, findings, conf_prefix)
}

#[test]
fn incident_e_static_resolve_port_collision_and_not_running() {
    let (_, findings, prefix) = check("incident");
    let messages: Vec<String> = findings
        .iter()
        .map(|finding| finding.to_string().replace(&prefix, ""))
        .collect();
    assert_eq!(
        messages[0],
        "error nginx-static-resolve nginx.conf:17: `proxy_pass http://app-1:3000` names the host `app-1` and no `resolver` is in scope: nginx resolves it once, at load, and sends to that address until the next reload (if `app-1` is gone by then, to whatever its name falls through to)\n  \
         fix: add `resolver 127.0.0.53 valid=10s;` in the server and proxy to a variable, `set $upstream_app_1 http://app-1:3000; proxy_pass $upstream_app_1;`"
    );
    assert!(
        messages[1].contains("`console` (127.0.0.3:3000) uses the port too"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("the service `app-1`, which is not running"),
        "{}",
        messages[2]
    );
}

#[test]
fn incident_e_fix_has_no_static_resolve_but_keeps_the_shared_port() {
    check("incident-fixed");
}

#[test]
fn incident_e_fix_on_its_own_port_is_clean() {
    check("incident-fixed-port");
}

#[test]
fn includes_keep_each_directive_in_its_own_file() {
    let (nginx, _, prefix) = check("includes");
    let files: Vec<String> = nginx
        .servers
        .iter()
        .map(|server| server.place.file.replace(&prefix, ""))
        .collect();
    assert_eq!(
        files,
        [
            "conf.d/00-console.conf",
            "conf.d/10-sso.conf",
            "sites/app.conf"
        ]
    );
}

#[test]
fn map_and_variables_are_read_and_not_flagged() {
    let (nginx, _, _) = check("map-variables");
    assert_eq!(nginx.maps[0].variable, "$backend");
    assert!(nginx.maps[0]
        .values
        .contains(&"http://app-$n:3000".to_string()));
    assert_eq!(nginx.servers[0].sets[0].value, "http://127.0.0.1:9001");
    assert!(nginx.servers[0]
        .all_passes()
        .iter()
        .all(|pass| pass.target.has_variable));
}

#[test]
fn upstream_block_server_names_are_resolved_at_load() {
    let (nginx, _, _) = check("upstream-blocks");
    assert_eq!(nginx.upstreams.len(), 2);
    assert!(nginx.servers[0]
        .all_passes()
        .iter()
        .all(|pass| pass.target.upstream));
}

#[test]
fn unix_sockets_are_not_names() {
    let (nginx, _, _) = check("unix-sockets");
    assert_eq!(
        nginx.servers[0].listens[0].address,
        ListenAddress::Unix {
            path: "/run/hadome-test-nginx.sock".into()
        }
    );
}

#[test]
fn ipv6_listens_and_default_server() {
    let (nginx, _, _) = check("ipv6-listens");
    let listen = &nginx.servers[0].listens[0];
    assert_eq!(
        listen.address,
        ListenAddress::Address {
            host: "::1".into(),
            port: 18080
        }
    );
    assert!(listen.default_server);
    assert_eq!(
        nginx.servers[1].listens[0].address,
        ListenAddress::Address {
            host: "::".into(),
            port: 18081
        }
    );
}

#[test]
fn default_server_and_wildcards_answer_what_no_name_does() {
    let (nginx, findings, _) = check("default-and-wildcards");
    assert_eq!(
        nginx.servers[2].names,
        [
            ServerName::LeadingWildcard(".apps.lab".into()),
            ServerName::Exact("app-2.apps.lab".into())
        ]
    );
    let messages: Vec<&str> = findings
        .iter()
        .map(|finding| finding.message.as_str())
        .collect();
    assert!(
        messages[0].contains("port 18090, and no `server` listens on it"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("`other.lab`")
            && messages[1].contains("the `default_server` for port 18080"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("by its wildcard `*.apps.lab`"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("by its wildcard `www.*`"),
        "{}",
        messages[3]
    );
}

#[test]
fn nested_locations_and_if_blocks_inherit_the_resolver_scope() {
    let (_, findings, _) = check("nested-locations");
    assert!(
        findings[0].message.contains("the `resolver` in scope"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[0].fix.starts_with("proxy to a variable"),
        "{}",
        findings[0].fix
    );
    assert!(
        findings[1].message.contains("no `resolver` is in scope"),
        "{}",
        findings[1].message
    );
}

#[test]
fn regex_locations_and_regex_server_names() {
    let (nginx, findings, _) = check("regex-locations");
    let modifiers: Vec<Option<&str>> = nginx.servers[0]
        .locations
        .iter()
        .map(|location| location.modifier.as_deref())
        .collect();
    assert_eq!(modifiers, [Some("~*"), Some("~"), Some("="), Some("^~")]);
    assert!(findings
        .iter()
        .any(|finding| finding.message.contains("hadome does not evaluate regexes")));
}

#[test]
fn fastcgi_and_grpc_passes_are_targets_too() {
    check("fastcgi-grpc");
}

/// Every fixture directory has a test above.
#[test]
fn every_fixture_is_checked() {
    let source = include_str!("real_nginx.rs");
    for entry in std::fs::read_dir(configs()).expect("read tests/configs") {
        let name = entry
            .expect("a fixture")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            source.contains(&format!("check(\"{name}\")")),
            "no test checks `{name}`"
        );
    }
}
