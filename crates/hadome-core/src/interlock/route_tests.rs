//! Incident E (a deploy's redirect loop) on hand-built facts: `redirect-loop`, the nginx lint's
//! rules and `nginx-test`, in `check` and in `ask reload`. Each case renders the findings as
//! `rule@subject(severity)` and checks the words a person reads.
//!
//! The same story runs on real nginx and DNS in the showcase lab (`tests/it/showcase_*.rs`).

use std::path::PathBuf;

use crate::action::Action;
use crate::estate::Estate;
use crate::fact::{Facts, History, Timestamp};
use crate::finding::{Finding, Verdict};
use crate::interlock::{assess, check, judge_route, RouteVerdict};
use crate::route::{Arrival, Hop, Url};
use crate::web::{LintHit, Nginx, NginxProbe, Route, RouteProbe, Web, WebService};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn url(text: &str) -> Url {
    Url::parse(text).expect("a test URL")
}

fn service(name: &str, address_host: &str, port: u16) -> WebService {
    WebService {
        name: name.to_owned(),
        address_host: address_host.to_owned(),
        port,
        host: Some("paas".to_owned()),
        marker_header: Some(("X-Service".to_owned(), name.to_owned())),
        running_command: None,
    }
}

fn estate() -> Estate {
    Estate {
        instances: Vec::new(),
        clusters: Vec::new(),
        journal_path: PathBuf::from("/tmp/journal.sqlite"),
        probe_timeout_seconds: 2.0,
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
                name: "app-1".to_owned(),
                url: url("http://app-1.apps.lab/"),
                service: "app-1".to_owned(),
                arrival: Arrival {
                    header: Some(("X-Service".to_owned(), "app-1".to_owned())),
                    ..Arrival::default()
                },
                hop_limit: 10,
                connect_to: None,
            }],
            services: vec![
                service("console", "127.0.0.10", 3000),
                service("sso", "127.0.0.20", 3000),
                service("app-1", "app-1", 3001),
            ],
            nginx: vec![Nginx {
                name: "web".to_owned(),
                host: Some("paas".to_owned()),
                dump_command: vec!["nginx".to_owned(), "-T".to_owned()],
                test_command: vec!["nginx".to_owned(), "-t".to_owned()],
                reload_command: vec!["nginx".to_owned(), "-s".to_owned(), "reload".to_owned()],
            }],
        },
    }
}

/// A hop: its URL, status, `Location` and the service whose marker it carries.
fn hop(text: &str, status: u16, location: Option<&str>, service: &str) -> Hop {
    Hop {
        url: url(text),
        status,
        location: location.map(str::to_owned),
        cookies: Vec::new(),
        headers: vec![("x-service".to_owned(), service.to_owned())],
        body_sample: String::new(),
        elapsed_millis: 2,
    }
}

fn probe(hops: Vec<Hop>, failed: Option<&str>) -> RouteProbe {
    RouteProbe {
        observed_at: NOW,
        hops,
        failed: failed.map(str::to_owned),
    }
}

/// The incident: the app's name fell through to the console, which sends to SSO and back.
fn incident_chain() -> Vec<Hop> {
    let mut hops = vec![hop(
        "http://app-1.apps.lab/",
        302,
        Some("http://sso.lab/login?return=http://app-1.apps.lab/"),
        "console",
    )];
    for round in 0..5 {
        hops.push(hop(
            &format!("http://sso.lab/login?return=http://app-1.apps.lab/&n={round}"),
            302,
            Some("http://app-1.apps.lab/callback?token=t"),
            "sso",
        ));
        hops.push(hop(
            "http://app-1.apps.lab/callback?token=t",
            302,
            Some(&format!(
                "http://sso.lab/login?return=http://app-1.apps.lab/&n={}",
                round + 1
            )),
            "console",
        ));
    }
    hops.truncate(10);
    hops
}

fn lint_hit(rule: &'static str, error: bool) -> LintHit {
    LintHit {
        rule,
        error,
        place: "/etc/nginx/sites-enabled/app-1.conf:4".to_owned(),
        message: format!("{rule} message"),
        fix: format!("{rule} fix"),
    }
}

fn shown(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|finding| {
            format!(
                "{}@{}({})",
                finding.rule,
                finding.subject,
                finding.severity.as_str()
            )
        })
        .collect()
}

fn with_route(hops: Vec<Hop>, failed: Option<&str>) -> Facts {
    let mut facts = Facts::default();
    facts.routes.insert("app-1".to_owned(), probe(hops, failed));
    facts
}

#[test]
fn the_incidents_loop_is_a_redirect_loop_naming_its_hosts() {
    let estate = estate();
    let facts = with_route(incident_chain(), None);
    let findings = check(&estate, &facts, &History::default(), NOW);
    assert_eq!(shown(&findings), ["redirect-loop@app-1(deny)"]);
    let message = &findings[0].message;
    assert!(
        message.contains("app-1.apps.lab → sso.lab → app-1.apps.lab"),
        "{message}"
    );
    assert!(message.contains("the cycle starts at hop"), "{message}");
    let verdict = judge_route(&estate, &estate.web.routes[0], &facts.routes["app-1"]);
    assert!(verdict.is_final_failure(), "{verdict}");
}

#[test]
fn a_route_that_lands_on_the_console_names_the_console() {
    let estate = estate();
    let facts = with_route(
        vec![hop("http://app-1.apps.lab/", 200, None, "console")],
        None,
    );
    let verdict = judge_route(&estate, &estate.web.routes[0], &facts.routes["app-1"]);
    assert!(
        matches!(&verdict, RouteVerdict::OtherService { service, .. } if service == "console"),
        "{verdict}"
    );
    let findings = check(&estate, &facts, &History::default(), NOW);
    assert_eq!(shown(&findings), ["redirect-loop@app-1(deny)"]);
    assert!(findings[0].message.contains("lands on service `console`"));
}

#[test]
fn a_route_that_arrives_has_no_finding_and_one_not_answered_needs_a_person() {
    let estate = estate();
    let arrived = with_route(
        vec![hop("http://app-1.apps.lab/", 200, None, "app-1")],
        None,
    );
    assert_eq!(
        judge_route(&estate, &estate.web.routes[0], &arrived.routes["app-1"]),
        RouteVerdict::Arrived { hops: 1 }
    );
    assert!(check(&estate, &arrived, &History::default(), NOW).is_empty());

    // A 502 from nginx itself (no service's marker): not yet there, not a loop.
    let bad_gateway = with_route(vec![hop("http://app-1.apps.lab/", 502, None, "")], None);
    let verdict = judge_route(&estate, &estate.web.routes[0], &bad_gateway.routes["app-1"]);
    assert!(matches!(verdict, RouteVerdict::NotYet { .. }), "{verdict}");
    assert!(!verdict.is_final_failure());

    let refused = with_route(
        Vec::new(),
        Some("GET http://app-1.apps.lab/: connection refused"),
    );
    let findings = check(&estate, &refused, &History::default(), NOW);
    assert_eq!(shown(&findings), ["redirect-loop@app-1(needs-human)"]);
    assert!(
        findings[0].message.contains("connection refused"),
        "{}",
        findings[0].message
    );
}

#[test]
fn lint_hits_are_findings_under_their_own_rules() {
    let estate = estate();
    let mut facts = Facts::default();
    facts.nginx.insert(
        "web".to_owned(),
        NginxProbe {
            observed_at: NOW,
            lint: Ok(vec![
                lint_hit(crate::rule::NGINX_STATIC_RESOLVE, true),
                lint_hit(crate::rule::PORT_COLLISION, false),
            ]),
            test: None,
        },
    );
    let findings = check(&estate, &facts, &History::default(), NOW);
    assert_eq!(
        shown(&findings),
        ["nginx-static-resolve@web(deny)", "port-collision@web(warn)"]
    );
    assert!(findings[0]
        .message
        .starts_with("/etc/nginx/sites-enabled/app-1.conf:4: "));
    assert_eq!(
        findings[0].alternative.as_deref(),
        Some("nginx-static-resolve fix")
    );

    facts.nginx.get_mut("web").expect("web").lint = Err("nginx -T: exit status 1".to_owned());
    assert_eq!(
        shown(&check(&estate, &facts, &History::default(), NOW)),
        ["nginx-test@web(needs-human)"]
    );
}

#[test]
fn a_reload_is_judged_by_nginx_t_and_the_lint_and_fails_closed() {
    let estate = estate();
    let reload = Action::Reload {
        nginx: "web".to_owned(),
    };
    let ask = |facts: &Facts| assess(&estate, facts, &History::default(), &reload, NOW);
    let mut facts = Facts::default();

    // Not read: a person decides.
    assert_eq!(ask(&facts).verdict, Verdict::NeedsHuman);

    let mut probe = NginxProbe {
        observed_at: NOW,
        lint: Ok(Vec::new()),
        test: Some(Ok(())),
    };
    facts.nginx.insert("web".to_owned(), probe.clone());
    assert_eq!(ask(&facts).verdict, Verdict::Allow);

    probe.test = None;
    facts.nginx.insert("web".to_owned(), probe.clone());
    assert_eq!(ask(&facts).verdict, Verdict::NeedsHuman);

    probe.test = Some(Err(
        "unknown directive \"proxy_pas\" in app-1.conf:4".to_owned()
    ));
    facts.nginx.insert("web".to_owned(), probe.clone());
    let answer = ask(&facts);
    assert_eq!(answer.verdict, Verdict::Deny);
    assert_eq!(shown(&answer.findings), ["nginx-test@web(deny)"]);

    probe.test = Some(Ok(()));
    probe.lint = Ok(vec![lint_hit(crate::rule::NGINX_STATIC_RESOLVE, true)]);
    facts.nginx.insert("web".to_owned(), probe.clone());
    assert_eq!(
        shown(&ask(&facts).findings),
        ["nginx-static-resolve@web(deny)"]
    );

    probe.lint = Err("not an nginx -T dump".to_owned());
    facts.nginx.insert("web".to_owned(), probe);
    assert_eq!(ask(&facts).verdict, Verdict::Deny);

    let unknown = assess(
        &estate,
        &facts,
        &History::default(),
        &Action::Reload {
            nginx: "wbe".to_owned(),
        },
        NOW,
    );
    assert_eq!(unknown.verdict, Verdict::Deny);
    assert_eq!(
        unknown.findings[0].alternative.as_deref(),
        Some("did you mean `web`?")
    );
}

#[test]
fn services_and_nginx_are_placed_on_their_host() {
    let estate = estate();
    let placed: Vec<String> = estate
        .placed_on("paas")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        placed,
        [
            "service `console`",
            "service `sso`",
            "service `app-1`",
            "nginx `web`"
        ]
    );
}
