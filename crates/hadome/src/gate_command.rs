//! `hadome gate ROUTE… --within SECONDS`: a deploy's gate (issue 14, incident E). Probes each
//! route until it reaches its service (exit 0), or stops at once when a probe shows a redirect
//! loop or a landing on another declared service (exit 1, with the chain), or when the time is
//! out with a route still not there (exit 1, with its last chain).
//!
//! Each probe sends at most the route's hop limit of requests, one per hop, never retried
//! (`hadome_observer::route`): the gate must not become the loop's hammer. Between probes of a
//! route that is not there yet (a 502 while the app starts, a refused connection) it waits a
//! poll interval; a loop is never probed twice.

use std::time::{Duration, Instant};

use hadome_core::interlock::{judge_route, RouteVerdict};
use hadome_core::route::Hop;
use hadome_core::web::{Route, RouteProbe};
use serde_json::{json, Value};

use crate::cli::ConfigFile;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text, Paint};

/// How long the gate waits between two probes of a route that is not there yet.
const POLL: Duration = Duration::from_millis(500);

/// One route's gate: its last probe, what it says, and how many probes it took.
struct Gated<'a> {
    route: &'a Route,
    probes: usize,
    last: Option<RouteProbe>,
    verdict: Option<RouteVerdict>,
}

impl Gated<'_> {
    fn passed(&self) -> bool {
        matches!(self.verdict, Some(RouteVerdict::Arrived { .. }))
    }

    fn settled(&self) -> bool {
        self.verdict.as_ref().is_some_and(|verdict| {
            matches!(verdict, RouteVerdict::Arrived { .. }) || verdict.is_final_failure()
        })
    }
}

/// `hadome gate ROUTE… --config F --within SECONDS`.
pub(crate) async fn gate(
    routes: Vec<String>,
    within_seconds: f64,
    config: ConfigFile,
    as_json: bool,
) -> Result<u8, CliError> {
    if !(within_seconds.is_finite() && within_seconds > 0.0 && within_seconds <= 3600.0) {
        return Err(CliError::Usage {
            message: format!("`--within {within_seconds}` is not a time a gate can wait: give seconds, more than 0 and at most 3600"),
            hint: Some("hadome gate app-1 --within 30 --config estate.toml".to_owned()),
        });
    }
    let estate = hadome_config::load(&config.config)?;
    let mut gated = Vec::with_capacity(routes.len());
    for name in &routes {
        let Some(route) = estate.web.route(name) else {
            let declared: Vec<&str> = estate
                .web
                .routes
                .iter()
                .map(|route| route.name.as_str())
                .collect();
            return Err(CliError::Usage {
                message: format!("the estate has no route `{name}`"),
                hint: Some(match hadome_core::suggest::closest(name, &declared) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if declared.is_empty() => "declare it: `[[route]]` with `name`, `url` and `service` (examples/estate.toml)".to_owned(),
                    None => format!("the estate's routes: {}", declared.join(", ")),
                }),
            });
        };
        gated.push(Gated {
            route,
            probes: 0,
            last: None,
            verdict: None,
        });
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(within_seconds);
    let probe_timeout = Duration::from_secs_f64(estate.probe_timeout_seconds);
    loop {
        let pending: Vec<usize> = (0..gated.len())
            .filter(|&index| !gated[index].settled())
            .collect();
        if pending.is_empty() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = probe_timeout.min(left.max(Duration::from_millis(100)));
        let probes = futures_util::future::join_all(pending.iter().map(|&index| {
            let route = gated[index].route;
            hadome_observer::route::probe_route(route, timeout)
        }))
        .await;
        for (index, probe) in pending.iter().copied().zip(probes) {
            let entry = &mut gated[index];
            entry.probes += 1;
            entry.verdict = Some(judge_route(&estate, entry.route, &probe));
            entry.last = Some(probe);
        }
        if gated.iter().any(|entry| {
            entry
                .verdict
                .as_ref()
                .is_some_and(RouteVerdict::is_final_failure)
        }) || gated.iter().all(Gated::settled)
        {
            break;
        }
        let now = Instant::now();
        if now + POLL >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let passed = gated.iter().all(Gated::passed);
    let elapsed = started.elapsed().as_secs_f64();
    if as_json {
        print_json(&json!({
            "version": 1,
            "passed": passed,
            "within_seconds": within_seconds,
            "elapsed_seconds": elapsed,
            "routes": gated.iter().map(gated_json).collect::<Vec<_>>(),
        }));
    } else {
        print_text(&render(
            &gated,
            within_seconds,
            elapsed,
            Paint::for_stdout(),
        ));
    }
    Ok(if passed {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}

fn verdict_word(entry: &Gated) -> &'static str {
    match &entry.verdict {
        Some(RouteVerdict::Arrived { .. }) => "arrived",
        Some(RouteVerdict::Loops(_)) => "redirect-loop",
        Some(RouteVerdict::OtherService { .. }) => "other-service",
        Some(RouteVerdict::NotYet { .. }) | None => "timed-out",
    }
}

fn hop_json(hop: &Hop) -> Value {
    json!({
        "url": hop.url.to_string(),
        "status": hop.status,
        "location": hop.location,
        "cookies": hop.cookies.iter().map(|cookie| json!({"name": cookie.name, "domain": cookie.domain})).collect::<Vec<_>>(),
        "elapsed_ms": hop.elapsed_millis,
    })
}

fn gated_json(entry: &Gated) -> Value {
    let probe = entry.last.as_ref();
    json!({
        "route": entry.route.name,
        "url": entry.route.url.to_string(),
        "service": entry.route.service,
        "passed": entry.passed(),
        "verdict": verdict_word(entry),
        "message": entry.verdict.as_ref().map(ToString::to_string),
        "probes": entry.probes,
        "hop_limit": entry.route.hop_limit,
        "hops": probe.map(|probe| probe.hops.iter().map(hop_json).collect::<Vec<_>>()).unwrap_or_default(),
        "failed": probe.and_then(|probe| probe.failed.clone()),
        "rule": (!entry.passed()).then_some(hadome_core::rule::REDIRECT_LOOP),
    })
}

fn render(gated: &[Gated], within_seconds: f64, elapsed: f64, paint: Paint) -> String {
    let mut text = String::new();
    for entry in gated {
        let mark = if entry.passed() {
            paint.green("✓")
        } else {
            paint.red("✗")
        };
        let said = entry
            .verdict
            .as_ref()
            .map_or_else(|| "not probed".to_owned(), ToString::to_string);
        text.push_str(&format!(
            "{mark} {} ({} → `{}`): {said} [{} probe(s)]\n",
            entry.route.name, entry.route.url, entry.route.service, entry.probes
        ));
        if entry.passed() {
            continue;
        }
        if let Some(probe) = &entry.last {
            for (index, hop) in probe.hops.iter().enumerate() {
                let location = hop
                    .location
                    .as_deref()
                    .map(|location| format!(" → {location}"))
                    .unwrap_or_default();
                let cookies: Vec<String> = hop
                    .cookies
                    .iter()
                    .map(|cookie| match &cookie.domain {
                        Some(domain) => format!("{} for {domain}", cookie.name),
                        None => format!("{} for this host", cookie.name),
                    })
                    .collect();
                let cookies = if cookies.is_empty() {
                    String::new()
                } else {
                    format!(" (sets {})", cookies.join(", "))
                };
                text.push_str(&format!(
                    "    {index:>2}. GET {} {}{location}{cookies} {} ms\n",
                    hop.url, hop.status, hop.elapsed_millis
                ));
            }
            if let Some(failed) = &probe.failed {
                text.push_str(&format!("        no answer: {failed}\n"));
            }
        }
    }
    let passed = gated.iter().all(Gated::passed);
    text.push_str(&format!(
        "{} in {elapsed:.1} s (within {within_seconds} s)\n",
        if passed {
            "gate passed"
        } else {
            "gate failed: the deploy must not go on"
        }
    ));
    text
}
