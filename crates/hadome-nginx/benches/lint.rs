//! How long reading and linting a large configuration takes: a generated `nginx -T` dump of
//! 1,000 `server` blocks over 11 files (the main file and ten included ones), each with two
//! locations and a `proxy_pass` (half literal names, a quarter variables with a resolver, a
//! quarter addresses), 20 upstreams, and a context of 1,000 services and 1,000 routes.
//! Target (issue 14): lint of a 1,000-server-block configuration ≤ 100 ms.
//!
//! `cargo bench -p hadome-nginx --bench lint` runs criterion, then times 20 whole reads+lints one
//! by one and prints the median, the min and the max, which criterion does not report.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use hadome_nginx::lint::{lint, LintContext, RouteHost, Service};

const SERVERS: usize = 1_000;

fn server_block(index: usize) -> String {
    let target = match index % 4 {
        0 | 1 => format!("proxy_pass http://app-{index}:3000;"),
        2 => format!("set $app http://app-{index}:3000;\n            proxy_pass $app;"),
        _ => format!(
            "proxy_pass http://127.0.{}.{}:3000;",
            index / 250,
            index % 250
        ),
    };
    format!(
        "server {{\n    listen 127.0.0.1:8080;\n    server_name app-{index}.apps.lab;\n    resolver 127.0.0.53 valid=10s;\n    \
         location / {{\n        location /api/ {{\n            {target}\n        }}\n        proxy_pass http://upstream-{}/;\n    }}\n}}\n",
        index % 20
    )
}

fn dump() -> String {
    let mut main = String::from("# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp {\n    default_type text/plain;\n");
    for upstream in 0..20 {
        main.push_str(&format!(
            "    upstream upstream-{upstream} {{ server 127.0.0.1:{}; server backend-{upstream}:80 backup; }}\n",
            4000 + upstream
        ));
    }
    main.push_str("    include conf.d/*.conf;\n}\n\n");
    for file in 0..10 {
        main.push_str(&format!(
            "# configuration file /etc/nginx/conf.d/{file:02}.conf:\n"
        ));
        for index in (file * SERVERS / 10)..((file + 1) * SERVERS / 10) {
            main.push_str(&server_block(index));
        }
        main.push('\n');
    }
    main
}

fn context() -> LintContext {
    LintContext {
        services: (0..SERVERS)
            .map(|index| Service {
                name: format!("app-{index}"),
                host: format!("app-{index}"),
                port: 3000,
                running: index % 10 != 0,
            })
            .collect(),
        routes: (0..SERVERS)
            .map(|index| RouteHost {
                host: format!("app-{index}.apps.lab"),
                port: 8080,
            })
            .collect(),
    }
}

fn read_and_lint(dump: &str, context: &LintContext) -> usize {
    let nginx = hadome_nginx::read(dump).expect("the generated dump reads");
    lint(&nginx, context).len()
}

fn main() {
    let dump = dump();
    let context = context();
    let findings = read_and_lint(&dump, &context);
    println!(
        "dump: {} bytes, {SERVERS} servers; {findings} findings",
        dump.len()
    );
    let mut criterion = Criterion::default().sample_size(20).configure_from_args();
    criterion.bench_function("read+lint 1000 servers", |bencher| {
        bencher.iter(|| read_and_lint(black_box(&dump), black_box(&context)))
    });
    let nginx = hadome_nginx::read(&dump).expect("the generated dump reads");
    criterion.bench_function("lint 1000 servers (model read)", |bencher| {
        bencher.iter(|| lint(black_box(&nginx), black_box(&context)).len())
    });
    criterion.final_summary();

    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let started = Instant::now();
            black_box(read_and_lint(&dump, &context));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "read+lint of {SERVERS} servers, 20 runs: median {:.1} ms, min {:.1} ms, max {:.1} ms (target ≤ 100 ms)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
