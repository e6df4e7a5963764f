//! `hadome lab up etcd3 --tls`: real etcd members serving TLS with client certificates required
//! (issue 13 point 1), through the real binary. hadome reaches them over `https://` with the
//! lab's CA and client certificate; a wrong CA, a client certificate the members do not trust,
//! or plain `http://` make every member unreachable, so every action they carry is denied (fail
//! closed); a daemon takes its lease in etcd over `https://` (`[coordination]`). Every hadome
//! call is bounded (`timeout`), so a probe that hung would fail the test instead of stalling it;
//! etcd is read with Debian's `etcdctl` over TLS, bounded too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::etcd_lab::{denied_for_quorum, poll, EtcdLab};
use crate::support::{hadome_binary, show};

/// The members' names in the lab's estate file.
const MEMBERS: [&str; 3] = ["etcd-1", "etcd-2", "etcd-3"];

/// `hadome ARGS…`, ended by `timeout` after 60 s: a hung probe fails the test (exit 124).
fn bounded_hadome(args: &[&str]) -> Output {
    let output = Command::new("timeout")
        .arg("60")
        .arg(hadome_binary())
        .args(args)
        .env_remove("HADOME_FAILPOINT")
        .output()
        .expect("timeout runs hadome");
    assert_ne!(
        output.status.code(),
        Some(124),
        "hadome {args:?} did not return within 60 s: {}",
        show(&output)
    );
    output
}

/// The lab's TLS files, from `lab status --json`: (ca_file, cert_file, key_file).
fn tls_files(lab: &EtcdLab) -> (String, String, String) {
    let status = lab.status();
    let tls = &status["etcd_tls"];
    let text = |key: &str| {
        tls[key]
            .as_str()
            .unwrap_or_else(|| panic!("no etcd_tls.{key} in {status}"))
            .to_owned()
    };
    (text("ca_file"), text("client_cert"), text("client_key"))
}

/// Writes `DIR/NAME` with the lab's estate file changed by `change`; returns its path.
fn estate_variant(lab: &EtcdLab, name: &str, change: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(lab.path().join("estate.toml")).expect("the estate file");
    let changed = change(text.clone());
    assert_ne!(changed, text, "the variant {name} changes the estate file");
    let path = lab.path().join(name);
    std::fs::write(&path, changed).expect("the estate variant");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// `check` and `ask reboot h2` with `config`: every member down, the reboot denied for `quorum`.
/// Returns `check`'s output.
fn fails_closed(config: &str) -> String {
    let check = bounded_hadome(&["check", "--config", config]);
    let said = show(&check);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.contains("`etcd` has no healthy majority: 3 voters, quorum 2, 0 healthy"),
        "{said}"
    );
    let ask = bounded_hadome(&["ask", "reboot", "h2", "--config", config]);
    assert_eq!(ask.status.code(), Some(1), "{}", show(&ask));
    assert!(denied_for_quorum(&ask), "{}", show(&ask));
    said
}

/// On a `--tls` lab, the estate file reaches the members over `https://` with the lab's CA and
/// client certificate; `check` sees all three healthy, and with `etcd-3` stopped a reboot of
/// `h2` is denied for `quorum`. `etcd-3` started again serves TLS again (the lab state records
/// the option).
#[test]
fn a_tls_quorum_is_observed_over_https_and_judged_by_its_majority() {
    let lab = EtcdLab::up_with("etcd3", &["--tls"]);
    let (ca_file, cert_file, key_file) = tls_files(&lab);
    let estate = std::fs::read_to_string(lab.config()).unwrap();
    assert!(
        estate.contains(&format!("ca_file = \"{ca_file}\""))
            && estate.contains(&format!("cert_file = \"{cert_file}\""))
            && estate.contains(&format!("key_file = \"{key_file}\"")),
        "{estate}"
    );
    assert_eq!(
        estate.matches("endpoints = [\"https://127.0.0.1:").count(),
        3
    );
    assert!(!estate.contains("http://"), "{estate}");
    for key in [
        &key_file,
        &lab.path().join("tls/server.key").display().to_string(),
    ] {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let status = bounded_hadome(&["lab", "status", "--dir", lab.dir()]);
    assert!(
        show(&status).contains("etcd TLS: on (client certificates required)"),
        "{}",
        show(&status)
    );

    let config = lab.config();
    let check = bounded_hadome(&["check", "--json", "--config", &config]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(json["critical"], 0, "{json}");
    let ask = bounded_hadome(&["ask", "stop", "etcd-2", "--config", &config]);
    assert!(
        show(&ask)
            .contains("3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` healthy"),
        "{}",
        show(&ask)
    );

    lab.fault("stop", "etcd-3");
    let denied = bounded_hadome(&["ask", "reboot", "h2", "--config", &config]);
    let said = show(&denied);
    assert_eq!(denied.status.code(), Some(1), "{said}");
    assert!(
        denied_for_quorum(&denied)
            && said.contains("`etcd-3` does not answer")
            && said.contains("takes `etcd-2` down: 1 healthy left, under the quorum of 2"),
        "{said}"
    );

    lab.fault("start", "etcd-3");
    let endpoint = lab.status()["etcd"][2]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    poll(
        "etcd-3 to be healthy over TLS again",
        Duration::from_secs(30),
        || {
            let ask = bounded_hadome(&["ask", "stop", "etcd-2", "--config", &config]);
            show(&ask).contains("`etcd-3` healthy").then_some(())
        },
    );
}

/// A wrong trust fails closed, each said: a `ca_file` of another CA (the members' certificate
/// is not trusted), a client certificate of another CA (the members refuse it), and plain
/// `http://` endpoints against members that serve TLS.
#[test]
fn a_tls_quorum_reached_with_the_wrong_trust_is_down_and_denies() {
    let lab = EtcdLab::up_with("etcd3", &["--tls"]);
    let (ca_file, cert_file, key_file) = tls_files(&lab);
    let other = hadome_lab::make_certificates(&lab.path().join("other-ca")).expect("another CA");

    let config = estate_variant(&lab, "estate-other-ca.toml", |text| {
        text.replace(&ca_file, &other.ca_file.display().to_string())
    });
    let said = fails_closed(&config);
    for member in MEMBERS {
        assert!(
            said.contains(&format!(
                "`{member}` does not answer (the member's certificate was not trusted: it is not \
                 signed by the CA of `ca_file`"
            )),
            "{member}: {said}"
        );
    }

    let config = estate_variant(&lab, "estate-other-client.toml", |text| {
        text.replace(&cert_file, &other.client_cert.display().to_string())
            .replace(&key_file, &other.client_key.display().to_string())
    });
    let said = fails_closed(&config);
    // TLS 1.3 checks the client's certificate after the client's side of the handshake is
    // done: the member's refusal reaches the client as its alert (said in words) or, when the
    // member closed first, as a connection closed or broken (the OS's "Broken pipe" or hyper's
    // "stream closed because of a broken pipe"). Either way every member is down (`fails_closed`
    // asserts it).
    let lower = said.to_lowercase();
    assert!(
        said.contains("the member did not accept the client certificate")
            || said.contains("the member closed the TLS connection without a word")
            || lower.contains("broken pipe")
            || lower.contains("connection reset"),
        "{said}"
    );

    let config = estate_variant(&lab, "estate-plain.toml", |text| {
        text.replace("https://", "http://")
            .lines()
            .filter(|line| {
                !["ca_file", "cert_file", "key_file"]
                    .iter()
                    .any(|key| line.starts_with(key))
            })
            .map(|line| format!("{line}\n"))
            .collect()
    });
    fails_closed(&config);

    // The lab's own estate file still reaches every member: nothing above changed them.
    let check = bounded_hadome(&["check", "--config", &lab.config()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}\n{}",
        show(&check),
        member_logs(&lab)
    );
}

/// The last lines of each member's log and the lab's status, for a failure's message.
fn member_logs(lab: &EtcdLab) -> String {
    MEMBERS
        .iter()
        .map(|member| {
            let log = lab.path().join("etcd").join(member).join("etcd.log");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "--- {member}:\n{}",
                lines[lines.len().saturating_sub(12)..].join("\n")
            )
        })
        .chain([format!("--- lab status: {}", lab.status())])
        .collect::<Vec<_>>()
        .join("\n")
}

/// `hadome daemon`, ended by PID (its `Child`) when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &str, log: &Path) -> Daemon {
        let file = std::fs::File::create(log).expect("the daemon's log");
        let child = Command::new(hadome_binary())
            .args(["daemon", "--config", config])
            .env_remove("HADOME_FAILPOINT")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log, again"))
            .stderr(file)
            .spawn()
            .expect("hadome daemon starts");
        Daemon {
            child,
            log: log.to_owned(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Not reaped yet, so its PID is still this child's.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// `[coordination]` over `https://` to the TLS lab: the daemon takes the cluster's lease, an
/// etcd key that `etcdctl` reads over TLS with the lab's client certificate.
#[test]
fn a_daemon_coordinates_over_https_and_takes_its_lease() {
    let lab = EtcdLab::up_with("pair-etcd", &["--tls"]);
    let (ca_file, cert_file, key_file) = tls_files(&lab);
    let endpoints: Vec<String> = lab.status()["etcd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["endpoint"].as_str().unwrap().to_owned())
        .collect();
    let quoted: Vec<String> = endpoints.iter().map(|url| format!("{url:?}")).collect();
    let config = estate_variant(&lab, "estate-coordination.toml", |text| {
        format!(
            "{text}\n[coordination]\nendpoints = [{}]\nca_file = {ca_file:?}\n\
             cert_file = {cert_file:?}\nkey_file = {key_file:?}\n",
            quoted.join(", ")
        )
    });
    let daemon = Daemon::start(&config, &lab.path().join("daemon.log"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let holder = format!("{}:{}", host.trim(), daemon.child.id());
    poll(
        "the daemon to hold the lease in etcd",
        Duration::from_secs(60),
        || {
            let output = Command::new("timeout")
                .args(["10", "etcdctl", "--endpoints", &endpoints.join(",")])
                .args([
                    "--cacert", &ca_file, "--cert", &cert_file, "--key", &key_file,
                ])
                .args(["--dial-timeout=2s", "--command-timeout=2s"])
                .args(["get", "/hadome/lease/pair-etcd", "--print-value-only"])
                .env("ETCDCTL_API", "3")
                .output()
                .expect("etcdctl runs");
            (String::from_utf8_lossy(&output.stdout).trim() == holder).then_some(())
        },
    );
    let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
    assert!(log.contains("leases in etcd (https://127.0.0.1:"), "{log}");
}

/// `run replace-member` on a TLS quorum: every step's probe keeps the quorum's TLS (the wait
/// for the fresh member to answer, then to be a voter, probes it alone, with the quorum's
/// `ca_file` and client certificate; without them it timed out on "not trusted").
#[test]
fn a_member_of_a_tls_quorum_is_replaced_and_answers_over_tls() {
    let lab = EtcdLab::up_with("etcd3", &["--tls"]);
    let config = lab.config();
    lab.fault("crash", "etcd-3");
    poll(
        "`ask replace-member etcd-3` to allow",
        Duration::from_secs(60),
        || {
            let ask = bounded_hadome(&["ask", "replace-member", "etcd-3", "--config", &config]);
            (ask.status.code() == Some(0)).then_some(())
        },
    );
    let run = lab.hadome(&["run", "replace-member", "etcd-3", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    let done: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(done["outcome"]["ok"], true, "{done:#}");
    assert_eq!(done["steps"].as_array().map(Vec::len), Some(6), "{done:#}");
    poll(
        "etcd-3 to be a healthy voter over TLS",
        Duration::from_secs(30),
        || {
            let ask = bounded_hadome(&["ask", "stop", "etcd-2", "--config", &config]);
            show(&ask)
                .contains(
                    "3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` healthy",
                )
                .then_some(())
        },
    );
}
