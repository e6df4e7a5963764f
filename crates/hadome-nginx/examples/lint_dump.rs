//! Lints an `nginx -T` dump read from standard input, with an optional context file
//! (`service NAME HOST PORT running|stopped`, `route HOST PORT`, one a line):
//!
//! ```text
//! nginx -T | cargo run -p hadome-nginx --example lint_dump -- context.txt
//! ```
//!
//! Until `hadome check` and `hadome ask reload nginx` read nginx (issue 14), this is how to see
//! the lint on a real configuration. Exit code: 0 no finding, 1 findings, 2 unreadable input.

use std::io::Read;

use hadome_nginx::lint::{lint, LintContext, RouteHost, Service};

fn main() {
    let mut dump = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut dump) {
        eprintln!("error: cannot read standard input: {error}");
        std::process::exit(2);
    }
    let mut context = LintContext::default();
    if let Some(path) = std::env::args().nth(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: cannot read `{path}`: {error}");
                std::process::exit(2);
            }
        };
        for (number, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["service", name, host, port, state] if port.parse::<u16>().is_ok() => {
                    context.services.push(Service {
                        name: name.to_string(),
                        host: host.to_string(),
                        port: port.parse().unwrap_or_default(),
                        running: *state == "running",
                    })
                }
                ["route", host, port] if port.parse::<u16>().is_ok() => {
                    context.routes.push(RouteHost {
                        host: host.to_string(),
                        port: port.parse().unwrap_or_default(),
                    })
                }
                _ => {
                    eprintln!(
                        "error: {path}:{}: cannot read `{line}`\nhint: write `service NAME HOST PORT running|stopped` or `route HOST PORT`",
                        number + 1
                    );
                    std::process::exit(2);
                }
            }
        }
    }
    match hadome_nginx::read(&dump) {
        Ok(nginx) => {
            let findings = lint(&nginx, &context);
            for finding in &findings {
                println!("{finding}");
            }
            std::process::exit(i32::from(!findings.is_empty()));
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    }
}
