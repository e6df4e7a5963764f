//! Route probes against real HTTP servers in the test process (`server.rs`): the rules of
//! `hadome_observer::route`, one test each.

use std::time::{Duration, Instant};

use hadome_core::route::{judge, Arrival, Judgement, SetCookie, Url};
use hadome_core::web::Route;
use hadome_observer::route::{probe_route, BODY_SAMPLE_BYTES};

use crate::server::{ok, redirect, Behaviour, Server};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|error| panic!("{error}"))
}

fn route(start: &str, hop_limit: usize, connect_to: Option<String>) -> Route {
    Route {
        name: "app-1".into(),
        url: url(start),
        service: "app-1".into(),
        arrival: Arrival::default(),
        hop_limit,
        connect_to,
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Incident E's loop: console → SSO → console …; the probe stops at the hop limit, sends no
/// more than it, and the judgement names the cycle.
#[tokio::test]
async fn a_two_host_cycle_stops_at_the_hop_limit_and_is_named() {
    let server = Server::start().await;
    server.on(
        "console.apps.lab",
        redirect("http://sso.lab:{port}/authorize?state=x"),
    );
    server.on("sso.lab", redirect("http://console.apps.lab:{port}/login"));
    let connect_to = Some(server.address.to_string());
    let route = route(
        &format!("http://console.apps.lab:{}/", server.port()),
        6,
        connect_to,
    );
    let probe = probe_route(&route, TIMEOUT).await;
    assert_eq!(probe.failed, None);
    assert_eq!(probe.hops.len(), 6);
    assert!(
        server.requests().len() <= route.hop_limit,
        "{:?}",
        server.requests()
    );
    assert!(probe.hops.iter().all(|hop| hop.status == 302));
    match judge(&probe.hops, route.hop_limit, &route.arrival) {
        Judgement::RedirectLoop(cycle) => {
            // console `/` → sso → console `/login` → sso again, sent where it was the first
            // time: the cycle starts at sso's first hop.
            assert_eq!(cycle.start, 1);
            assert_eq!(
                cycle.cycle_hosts(),
                ["sso.lab", "console.apps.lab", "sso.lab"]
            );
        }
        other => panic!("expected a loop, got {other}"),
    }
    assert!(server
        .requests()
        .iter()
        .all(|request| request.user_agent.as_deref() == Some("hadome-probe")));
}

/// A chain across hosts, the last redirect relative, that lands on a response with the
/// service's marker header.
#[tokio::test]
async fn a_chain_arrives_with_its_marker_header() {
    let server = Server::start().await;
    server.on(
        "app-1.apps.lab",
        redirect("http://www.app-1.apps.lab:{port}/home"),
    );
    server.on("www.app-1.apps.lab", Behaviour::Chain { count: 2 });
    server.on("end.app-1.apps.lab", ok("unused"));
    let mut route = route(
        &format!("http://app-1.apps.lab:{}/", server.port()),
        10,
        Some(server.address.to_string()),
    );
    route.arrival = Arrival {
        status: Some(200),
        final_host: Some("www.app-1.apps.lab".into()),
        header: Some(("x-service".into(), "app-1".into())),
        body_marker: Some("end of the chain".into()),
    };
    let probe = probe_route(&route, TIMEOUT).await;
    assert_eq!(probe.failed, None);
    let urls: Vec<String> = probe.hops.iter().map(|hop| hop.url.to_string()).collect();
    let port = server.port();
    assert_eq!(
        urls,
        [
            format!("http://app-1.apps.lab:{port}/"),
            format!("http://www.app-1.apps.lab:{port}/home"),
            format!("http://www.app-1.apps.lab:{port}/?n=1"),
            format!("http://www.app-1.apps.lab:{port}/?n=2"),
        ]
    );
    let last = probe.hops.last().expect("a last hop");
    assert!(last
        .headers
        .iter()
        .any(|(name, value)| name == "x-service" && value == "app-1"));
    assert_eq!(last.body_sample, "end of the chain");
    assert_eq!(
        judge(&probe.hops, route.hop_limit, &route.arrival),
        Judgement::Arrived { hops: 4 }
    );
    assert_eq!(probe.hops[2].location.as_deref(), Some("/?n=2"));
    assert!(probe.hops.iter().all(|hop| hop.elapsed_millis < 10_000));
}

/// With `connect_to`, hosts that resolve nowhere are all reached on the one address; without
/// it, each hop's host is resolved (`localhost` and `127.0.0.1`, two hosts of one server).
#[tokio::test]
async fn connect_to_is_used_for_every_host_and_without_it_hosts_are_resolved() {
    let server = Server::start().await;
    for (index, host) in ["a.invalid", "b.invalid", "c.invalid"].iter().enumerate() {
        let next = ["b.invalid", "c.invalid", "d.invalid"][index];
        server.on(host, redirect(&format!("http://{next}:{{port}}/")));
    }
    server.on("d.invalid", ok("d"));
    let probe = probe_route(
        &route(
            &format!("http://a.invalid:{}/", server.port()),
            10,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(probe.failed, None);
    assert_eq!(probe.hops.len(), 4);
    let hosts: Vec<String> = server
        .requests()
        .into_iter()
        .map(|request| request.host)
        .collect();
    assert_eq!(hosts, ["a.invalid", "b.invalid", "c.invalid", "d.invalid"]);

    server.on("localhost", redirect("http://127.0.0.1:{port}/there"));
    server.on("127.0.0.1", ok("resolved"));
    let probe = probe_route(
        &route(&format!("http://localhost:{}/", server.port()), 10, None),
        TIMEOUT,
    )
    .await;
    assert_eq!(probe.failed, None, "{probe:?}");
    assert_eq!(probe.hops.len(), 2);
    assert_eq!(probe.hops[1].body_sample, "resolved");
    // Without connect_to, a name that resolves nowhere fails that hop, naming it.
    let probe = probe_route(&route("http://a.invalid/", 10, None), TIMEOUT).await;
    let failed = probe.failed.expect("an unresolvable host fails");
    assert!(failed.contains("cannot resolve `a.invalid:80`"), "{failed}");
}

/// Cookies go back only to hosts their domain matches (RFC 6265), and are reported as set.
#[tokio::test]
async fn cookies_are_sent_back_only_to_matching_domains() {
    let server = Server::start().await;
    server.on(
        "console.apps.lab",
        Behaviour::Redirect {
            location: "http://sso.lab:{port}/authorize".into(),
            set_cookies: vec![
                "wide=1; Domain=.Apps.Lab; Path=/".into(),
                "narrow=2; HttpOnly".into(),
                "foreign=3; Domain=sso.lab".into(),
            ],
        },
    );
    server.on("sso.lab", redirect("http://app-1.apps.lab:{port}/callback"));
    server.on(
        "app-1.apps.lab",
        redirect("http://console.apps.lab:{port}/again"),
    );
    let probe = probe_route(
        &route(
            &format!("http://console.apps.lab:{}/", server.port()),
            4,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(probe.failed, None);
    assert_eq!(
        probe.hops[0].cookies,
        [
            SetCookie {
                name: "wide".into(),
                domain: Some("apps.lab".into())
            },
            SetCookie {
                name: "narrow".into(),
                domain: None
            },
            SetCookie {
                name: "foreign".into(),
                domain: Some("sso.lab".into())
            },
        ]
    );
    let cookies: Vec<(String, Option<String>)> = server
        .requests()
        .into_iter()
        .map(|request| (request.host, request.cookie))
        .collect();
    assert_eq!(
        cookies,
        [
            ("console.apps.lab".into(), None),
            // `foreign` was rejected: console may not set a cookie for sso.lab.
            ("sso.lab".into(), None),
            ("app-1.apps.lab".into(), Some("wide=1".into())),
            ("console.apps.lab".into(), Some("wide=1; narrow=2".into())),
        ]
    );
    // Nothing is kept between probes.
    let again = probe_route(
        &route(
            &format!("http://app-1.apps.lab:{}/", server.port()),
            1,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(again.hops.len(), 1);
    assert_eq!(server.requests().last().expect("a request").cookie, None);
}

/// A `Location` that is not a URL ends the probe, naming it; the hop is kept.
#[tokio::test]
async fn a_location_that_is_not_a_url_ends_the_probe() {
    let server = Server::start().await;
    server.on("app-1.apps.lab", redirect("mailto:ops@apps.lab"));
    let probe = probe_route(
        &route(
            &format!("http://app-1.apps.lab:{}/", server.port()),
            10,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(probe.hops.len(), 1);
    assert_eq!(
        probe.hops[0].location.as_deref(),
        Some("mailto:ops@apps.lab")
    );
    let failed = probe.failed.expect("failed");
    assert!(
        failed.contains("hop 0") && failed.contains("`mailto:ops@apps.lab` is not a URL"),
        "{failed}"
    );
    assert_eq!(server.requests().len(), 1);
}

/// A refused connection: no hop, `failed` names the URL and the refusal.
#[tokio::test]
async fn a_refused_connection_fails_the_probe() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let probe = probe_route(
        &route(&format!("http://127.0.0.1:{port}/"), 10, None),
        TIMEOUT,
    )
    .await;
    assert!(probe.hops.is_empty());
    let failed = probe.failed.expect("failed");
    assert!(
        failed.starts_with(&format!("GET http://127.0.0.1:{port}/: cannot connect"))
            && failed.contains("refused"),
        "{failed}"
    );
}

/// A server that never answers: the probe ends at its timeout, keeps the hops before, and says
/// it timed out.
#[tokio::test]
async fn the_probe_timeout_keeps_the_hops_answered_before() {
    let server = Server::start().await;
    server.on("app-1.apps.lab", redirect("http://stuck.apps.lab:{port}/"));
    server.on("stuck.apps.lab", Behaviour::Hang);
    let started = Instant::now();
    let probe = probe_route(
        &route(
            &format!("http://app-1.apps.lab:{}/", server.port()),
            10,
            Some(server.address.to_string()),
        ),
        Duration::from_millis(500),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "bounded: {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert_eq!(probe.hops.len(), 1);
    let failed = probe.failed.expect("failed");
    assert!(
        failed.contains("stuck.apps.lab")
            && failed
                .contains("no answer within the probe timeout (0.5 s; 1 hop(s) answered before)"),
        "{failed}"
    );
}

/// A large body: at most 4 KiB of it is read into the hop.
#[tokio::test]
async fn at_most_four_kib_of_a_body_is_kept() {
    let server = Server::start().await;
    server.on("big.apps.lab", ok(&"x".repeat(1 << 20)));
    let probe = probe_route(
        &route(
            &format!("http://big.apps.lab:{}/", server.port()),
            10,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(probe.failed, None);
    assert_eq!(probe.hops[0].status, 200);
    assert_eq!(probe.hops[0].body_sample.len(), BODY_SAMPLE_BYTES);
}

/// `observed_at` is the wall clock when the probe started; a hop limit of 0 sends nothing.
#[tokio::test]
async fn observed_at_is_the_start_and_a_zero_hop_limit_sends_nothing() {
    let server = Server::start().await;
    server.on("a.lab", Behaviour::Chain { count: 3 });
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as i64;
    let probe = probe_route(
        &route(
            &format!("http://a.lab:{}/", server.port()),
            10,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert!(probe.observed_at.0 >= before && probe.observed_at.0 - before < 5_000);
    assert_eq!(probe.hops.len(), 4);
    let none = probe_route(
        &route(
            &format!("http://a.lab:{}/", server.port()),
            0,
            Some(server.address.to_string()),
        ),
        TIMEOUT,
    )
    .await;
    assert!(none.hops.is_empty());
    assert!(none.failed.expect("failed").contains("hop_limit is 0"));
    assert_eq!(server.requests().len(), 4);
}
