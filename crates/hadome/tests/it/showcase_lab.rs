//! `hadome lab up showcase`: incident E on real nginx and real DNS, through the real binary
//! (issue 14, point 5). A guard tears the lab down by PID even when the test fails. Requests go
//! to the lab proxy's port with every `*.lab` host pinned there (curl's `--connect-to`), one
//! request per hop, redirects followed here and judged by `hadome_core::route`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use hadome_core::route::{judge, Arrival, Hop, Judgement, SetCookie, Url};
use hadome_lab::Lab;
use hadome_nginx::lint::{lint, LintContext, LintFinding, Service};

use crate::support::{run_hadome, scratch, show};

const HOP_LIMIT: usize = 10;
const HOSTS: [&str; 3] = ["app-1.apps.lab", "console.apps.lab", "sso.lab"];

/// A showcase lab brought up by the real binary; dropped, it is torn down by PID.
pub(crate) struct ShowcaseLab {
    dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl ShowcaseLab {
    pub(crate) fn up() -> ShowcaseLab {
        let scratch = scratch();
        let lab = ShowcaseLab {
            dir: scratch.path().join("lab"),
            _scratch: scratch,
        };
        let output = run_hadome(&["lab", "up", "showcase", "--dir", lab.dir()], &[]);
        assert!(
            output.status.success(),
            "lab up showcase: {}",
            show(&output)
        );
        lab
    }

    pub(crate) fn dir(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 scratch path")
    }

    pub(crate) fn fault(&self, words: &[&str]) -> String {
        let mut args = vec!["lab", "fault", "--dir", self.dir()];
        args.extend(words);
        let output = run_hadome(&args, &[]);
        assert!(
            output.status.success(),
            "fault {words:?}: {}",
            show(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(crate) fn web(&self) -> serde_json::Value {
        let output = run_hadome(&["lab", "status", "--dir", self.dir(), "--json"], &[]);
        assert!(output.status.success(), "lab status: {}", show(&output));
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        status["web"].clone()
    }

    fn lint(&self, app_port: u16, app_running: bool) -> Vec<LintFinding> {
        let output: Output = run_hadome(&["lab", "nginx-dump", "--dir", self.dir()], &[]);
        assert!(output.status.success(), "nginx-dump: {}", show(&output));
        let dump = String::from_utf8(output.stdout).expect("nginx -T prints UTF-8");
        let nginx = hadome_nginx::read(&dump).expect("nginx -T output reads");
        let service = |name: &str, host: &str, port: u16, running: bool| Service {
            name: name.to_owned(),
            host: host.to_owned(),
            port,
            running,
        };
        let context = LintContext {
            services: vec![
                service("console", "127.0.0.10", 3000, true),
                service("sso", "127.0.0.20", 3000, true),
                service("app-1", "app-1.apps.lab", app_port, app_running),
            ],
            routes: Vec::new(),
        };
        lint(&nginx, &context)
    }
}

impl Drop for ShowcaseLab {
    fn drop(&mut self) {
        if self.dir.join("lab.json").exists() {
            if let Ok(lab) = Lab::open(&self.dir) {
                if let Err(error) = lab.down() {
                    eprintln!("teardown of {}: {error}", self.dir.display());
                }
            }
        }
    }
}

/// Follows `url` by hand through the proxy: one request per hop, judged after each, stopping at
/// a verdict that is not "still redirecting" or at the hop limit.
async fn probe(port: u16, url: &str, arrival: &Arrival) -> (Vec<Hop>, Judgement) {
    let proxy: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5));
    for host in HOSTS {
        client = client.resolve(host, proxy);
    }
    let client = client.build().unwrap();
    let mut hops: Vec<Hop> = Vec::new();
    let mut next = Url::parse(url).unwrap();
    loop {
        let response = client.get(next.to_string()).send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(|text| SetCookie {
                name: text.split('=').next().unwrap_or("").to_owned(),
                domain: text.split(';').find_map(|part| {
                    part.trim()
                        .strip_prefix("Domain=")
                        .map(|domain| domain.trim_start_matches('.').to_ascii_lowercase())
                }),
            })
            .collect();
        let service = header("x-hadome-service").unwrap_or_default();
        hops.push(Hop {
            url: next.clone(),
            status: response.status().as_u16(),
            location: location.clone(),
            cookies,
            headers: vec![("X-Hadome-Service".to_owned(), service)],
            body_sample: String::new(),
            elapsed_millis: 0,
        });
        let judgement = judge(&hops, HOP_LIMIT, arrival);
        let still_redirecting = matches!(judgement, Judgement::Inconclusive { .. })
            && hops.last().is_some_and(Hop::is_redirect)
            && hops.len() < HOP_LIMIT;
        if !still_redirecting {
            return (hops, judgement);
        }
        next = next.join(&location.unwrap()).unwrap();
    }
}

pub(crate) async fn sso_logins(port: u16) -> u64 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve("sso.lab", ([127, 0, 0, 1], port).into())
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let stats: serde_json::Value = client
        .get("http://sso.lab/stats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["logins"].as_u64().expect("the SSO counts its logins")
}

fn rules(findings: &[LintFinding]) -> Vec<&'static str> {
    findings.iter().map(|finding| finding.rule).collect()
}

fn netns(pid: &str) -> PathBuf {
    std::fs::read_link(Path::new("/proc").join(pid).join("ns/net")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_loops_between_console_and_sso_and_the_fix_lands_on_the_app() {
    let resolv_before = std::fs::read("/etc/resolv.conf").unwrap();
    let lab = ShowcaseLab::up();
    let web = lab.web();
    let port = u16::try_from(web["proxy_port"].as_u64().unwrap()).unwrap();
    let holder = web["holder_pid"]
        .as_i64()
        .expect("the holder runs")
        .to_string();

    // The namespace is the lab's own: another network namespace, the lab's resolv.conf mounted
    // inside it only, the machine's untouched.
    assert_ne!(netns(&holder), netns("self"));
    let holder_mounts = std::fs::read_to_string(format!("/proc/{holder}/mounts")).unwrap();
    assert!(
        holder_mounts.contains(" /etc/resolv.conf "),
        "{holder_mounts}"
    );
    let our_mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!our_mounts.contains(lab.dir()), "{our_mounts}");
    assert_eq!(std::fs::read("/etc/resolv.conf").unwrap(), resolv_before);

    let at_app = Arrival {
        header: Some(("X-Hadome-Service".to_owned(), "app-1".to_owned())),
        ..Arrival::default()
    };
    let url = "http://app-1.apps.lab/";

    // app-1 running and deployed (the incident's literal block): it lands on app-1.
    let deployed = lab.fault(&["deploy", "app-1"]);
    assert!(deployed.contains("replaced by"), "{deployed}");
    let (hops, judgement) = probe(port, url, &at_app).await;
    assert_eq!(judgement, Judgement::Arrived { hops: 1 }, "{hops:?}");

    // The incident: the app stops (its record goes), a deploy reloads the literal proxy_pass,
    // which now resolves through the wildcard to the console: console → sso → console …
    let stopped = lab.fault(&["stop", "app-1"]);
    assert!(stopped.contains("resolves to 127.0.0.10"), "{stopped}");
    lab.fault(&["deploy", "app-1"]);
    let logins_before = sso_logins(port).await;
    let (hops, judgement) = probe(port, url, &at_app).await;
    let logins = sso_logins(port).await - logins_before;
    let Judgement::RedirectLoop(cycle) = &judgement else {
        panic!("expected a redirect loop, got {judgement} over {hops:?}");
    };
    let cycle_hosts = cycle.cycle_hosts();
    assert!(cycle_hosts.iter().any(|host| host == "sso.lab"), "{cycle}");
    assert!(
        cycle_hosts.iter().any(|host| host == "console.apps.lab"),
        "{cycle}"
    );
    assert!(hops.len() <= HOP_LIMIT, "{} hops", hops.len());
    assert!(
        (1..=hops.len() as u64).contains(&logins),
        "the SSO saw {logins} logins for {} hops",
        hops.len()
    );

    // The lint on the real `nginx -T`: the literal single-label name and the console's port.
    let findings = lab.lint(3000, false);
    let static_resolve: Vec<&LintFinding> = findings
        .iter()
        .filter(|finding| finding.rule == "nginx-static-resolve")
        .collect();
    assert!(
        static_resolve
            .iter()
            .any(|finding| finding.place.file.ends_with("sites/app-1.conf")
                && finding.message.contains("app-1")),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|finding| finding.rule == "port-collision"
                && finding.place.file.ends_with("sites/app-1.conf")
                && finding.message.contains("console")),
        "{findings:#?}"
    );

    // `reload nginx` replaces the workers; an unknown app and a misplaced `--fixed` are refused.
    let reloaded = lab.fault(&["reload", "nginx"]);
    assert!(reloaded.contains("replaced by"), "{reloaded}");
    let unknown = run_hadome(
        &["lab", "fault", "--dir", lab.dir(), "deploy", "app-9"],
        &[],
    );
    assert!(
        !unknown.status.success() && show(&unknown).contains("app-1"),
        "{}",
        show(&unknown)
    );
    let misplaced = run_hadome(
        &[
            "lab",
            "fault",
            "--dir",
            lab.dir(),
            "stop",
            "app-1",
            "--fixed",
        ],
        &[],
    );
    assert!(
        !misplaced.status.success() && show(&misplaced).contains("applies to `deploy`"),
        "{}",
        show(&misplaced)
    );

    // The fix, both halves: the app back and on a port of its own; a resolver and a variable
    // upstream. It lands on app-1 and the lint finds neither hazard.
    let started = lab.fault(&["start", "app-1"]);
    assert!(started.contains("resolves to 127.0.0.11"), "{started}");
    let fixed = lab.fault(&["deploy", "app-1", "--fixed"]);
    assert!(fixed.contains("3001"), "{fixed}");
    let (hops, judgement) = probe(port, url, &at_app).await;
    assert_eq!(judgement, Judgement::Arrived { hops: 1 }, "{hops:?}");
    let findings = lab.lint(3001, true);
    assert!(
        !rules(&findings).contains(&"nginx-static-resolve")
            && !rules(&findings).contains(&"port-collision"),
        "{findings:#?}"
    );

    // Down: every process gone by PID (the holder too), the machine's resolv.conf as it was.
    let dir = lab.dir.clone();
    drop(lab);
    assert!(!dir.exists());
    assert!(
        !Path::new("/proc").join(&holder).exists()
            || !std::fs::read_to_string(format!("/proc/{holder}/cmdline"))
                .unwrap_or_default()
                .contains("web-holder"),
        "the holder {holder} outlived the lab"
    );
    assert_eq!(std::fs::read("/etc/resolv.conf").unwrap(), resolv_before);
}
