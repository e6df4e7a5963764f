//! How long one route probe of a 10-hop chain takes, against a real HTTP/1.1 server (hyper) on
//! loopback in the bench process (the integration tests' `server.rs`):
//! - `chain`: nine redirects on one host, then the answer with the service's marker header
//!   (10 hops, each a new connection, as every hop of a probe is);
//! - `loop`: incident E's console ⇄ SSO loop, stopped at a hop limit of 10.
//!
//! Target (issue 14): a probe costs its hops' round trips and nothing more; a 10-hop probe on
//! loopback ≤ 10 ms.
//!
//! `cargo bench -p hadome-observer --bench route_probe` runs criterion, then times 50 probes of
//! each one by one and prints the median, min and max, which criterion does not report.

#[path = "../tests/it/server.rs"]
mod server;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hadome_core::route::{Arrival, Url};
use hadome_core::web::Route;
use hadome_observer::route::probe_route;

use server::{redirect, Behaviour, Server};

const TIMEOUT: Duration = Duration::from_secs(10);

fn route(host: &str, port: u16, connect_to: String) -> Route {
    Route {
        name: "app-1".into(),
        url: Url::parse(&format!("http://{host}:{port}/")).expect("a route URL"),
        service: "app-1".into(),
        arrival: Arrival {
            header: Some(("X-Service".into(), "app-1".into())),
            ..Arrival::default()
        },
        hop_limit: 10,
        connect_to: Some(connect_to),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime.block_on(Server::start());
    server.on("app-1.apps.lab", Behaviour::Chain { count: 9 });
    server.on(
        "console.apps.lab",
        redirect("http://sso.lab:{port}/authorize"),
    );
    server.on("sso.lab", redirect("http://console.apps.lab:{port}/login"));
    let address = server.address.to_string();
    let chain = route("app-1.apps.lab", server.port(), address.clone());
    let cycle = route("console.apps.lab", server.port(), address);

    let probe = runtime.block_on(probe_route(&chain, TIMEOUT));
    assert_eq!(probe.hops.len(), 10, "the chain is 10 hops: {probe:?}");
    assert_eq!(probe.failed, None);
    let probe = runtime.block_on(probe_route(&cycle, TIMEOUT));
    assert_eq!(probe.hops.len(), 10, "the loop stops at 10 hops: {probe:?}");

    let mut criterion = Criterion::default().sample_size(50).configure_from_args();
    for (name, route) in [("chain", &chain), ("loop", &cycle)] {
        criterion.bench_function(&format!("probe of a 10-hop {name}"), |bencher| {
            bencher.iter(|| runtime.block_on(probe_route(black_box(route), TIMEOUT)))
        });
    }
    criterion.final_summary();

    for (name, route) in [("chain", &chain), ("loop", &cycle)] {
        let mut times: Vec<f64> = (0..50)
            .map(|_| {
                let started = Instant::now();
                black_box(runtime.block_on(probe_route(route, TIMEOUT)));
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "probe of a 10-hop {name}, 50 runs: median {:.2} ms, min {:.2} ms, max {:.2} ms (target ≤ 10 ms)",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}
