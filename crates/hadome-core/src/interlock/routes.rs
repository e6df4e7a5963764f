//! `redirect-loop`, the nginx lint's rules and `nginx-test` (incident E): routes judged from
//! their probes, nginx configurations from what the lint found in them, a reload from both.
//!
//! - A route whose probe cycles, or is still redirecting at its hop limit, MUST be reported as
//!   `redirect-loop` (deny): it is the incident's loop, and every user request feeds it.
//! - A route whose chain ends on another declared service (that service's `marker_header`, or its
//!   address as the final host) MUST be reported as `redirect-loop` (deny), naming the service:
//!   the incident's first wrong turn (the app's name fell through to the console).
//! - A route that ends elsewhere than its arrival (another status, no marker), or whose probe got
//!   no answer, SHOULD be reported (needs-human): it does not arrive, and hadome cannot say why.
//! - Each lint hit of an nginx configuration MUST be reported under its own rule id (an error
//!   denies, a warning warns), with the file and line of the directive and the fix.
//! - A configuration that cannot be read MUST be reported as `nginx-test` (needs-human in
//!   `check`); a reload MUST be denied when `nginx -t` refused the configuration or it cannot be
//!   read, and MUST NOT be allowed when `nginx -t` was not run or the configuration was not read
//!   (fail closed).

use crate::action::Action;
use crate::finding::{Finding, Severity};
use crate::route::{judge, Judgement};
use crate::web::{NginxProbe, Route, RouteProbe};

use super::view::View;

/// What a route's probe says, with the service it landed on when that is another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVerdict {
    /// It arrived at its service.
    Arrived {
        /// The hops of the chain.
        hops: usize,
    },
    /// It redirects in a cycle, or beyond its hop limit: a deploy gate fails at once.
    Loops(Judgement),
    /// It ended on another declared service: a deploy gate fails at once.
    OtherService {
        /// The service it landed on.
        service: String,
        /// The judgement of the chain (a wrong landing).
        judgement: Judgement,
    },
    /// It does not arrive yet (another status, no answer, nothing to judge): a deploy gate waits
    /// and probes again until its time is out.
    NotYet {
        /// Why, in words.
        why: String,
    },
}

impl RouteVerdict {
    /// Whether a deploy gate stops at once (a loop or a landing on another service).
    pub fn is_final_failure(&self) -> bool {
        matches!(
            self,
            RouteVerdict::Loops(_) | RouteVerdict::OtherService { .. }
        )
    }
}

impl std::fmt::Display for RouteVerdict {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteVerdict::Arrived { hops } => write!(formatter, "arrived after {hops} hop(s)"),
            RouteVerdict::Loops(judgement) => write!(formatter, "{judgement}"),
            RouteVerdict::OtherService { service, judgement } => {
                write!(formatter, "lands on service `{service}`: {judgement}")
            }
            RouteVerdict::NotYet { why } => write!(formatter, "does not arrive: {why}"),
        }
    }
}

/// Judges one route's probe ([`judge`], then which service a wrong landing is).
pub fn judge_route(
    estate: &crate::estate::Estate,
    route: &Route,
    probe: &RouteProbe,
) -> RouteVerdict {
    let judgement = judge(&probe.hops, route.hop_limit, &route.arrival);
    match judgement {
        Judgement::Arrived { hops } => RouteVerdict::Arrived { hops },
        Judgement::RedirectLoop(_) | Judgement::HopLimit { .. } => RouteVerdict::Loops(judgement),
        Judgement::WrongLanding { .. } => match landed_on(estate, route, probe) {
            Some(service) => RouteVerdict::OtherService { service, judgement },
            None => RouteVerdict::NotYet {
                why: judgement.to_string(),
            },
        },
        Judgement::Inconclusive { why } => RouteVerdict::NotYet {
            why: match &probe.failed {
                Some(failed) => format!("{failed} (after {} hop(s))", probe.hops.len()),
                None => why,
            },
        },
    }
}

/// The declared service, other than the route's own, whose marker header the last hop carries.
fn landed_on(estate: &crate::estate::Estate, route: &Route, probe: &RouteProbe) -> Option<String> {
    let last = probe.hops.last()?;
    estate
        .web
        .services
        .iter()
        .filter(|service| service.name != route.service)
        .find(|service| {
            service.marker_header.as_ref().is_some_and(|(name, text)| {
                last.headers.iter().any(|(header, value)| {
                    header.eq_ignore_ascii_case(name) && value.contains(text.as_str())
                })
            })
        })
        .map(|service| service.name.clone())
}

/// The routes' and nginx instances' findings with no action in view.
pub(super) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for route in &view.estate.web.routes {
        let Some(probe) = view.facts.routes.get(&route.name) else {
            continue;
        };
        findings.extend(route_finding(view.estate, route, probe));
    }
    for nginx in &view.estate.web.nginx {
        let Some(probe) = view.facts.nginx.get(&nginx.name) else {
            continue;
        };
        findings.extend(lint_findings(&nginx.name, probe, Severity::NeedsHuman));
    }
    findings
}

/// A route's finding, `None` when it arrived.
pub fn route_finding(
    estate: &crate::estate::Estate,
    route: &Route,
    probe: &RouteProbe,
) -> Option<Finding> {
    let verdict = judge_route(estate, route, probe);
    let (severity, alternative) = match &verdict {
        RouteVerdict::Arrived { .. } => return None,
        RouteVerdict::Loops(_) => (
            Severity::Deny,
            Some(
                "find the hop where the chain left the route's service: an upstream nginx resolved once at load (`nginx-static-resolve`) or a name a wildcard DNS record answers; stop the deploy (`hadome gate` fails it), fix the upstream, reload"
                    .to_owned(),
            ),
        ),
        RouteVerdict::OtherService { service, .. } => (
            Severity::Deny,
            Some(format!(
                "the route's upstream reaches `{service}` instead of `{}`: is `{}` running, and does nginx resolve its name at request time (a `resolver` and a variable upstream)?",
                route.service, route.service
            )),
        ),
        RouteVerdict::NotYet { .. } => (
            Severity::NeedsHuman,
            Some(format!(
                "check that `{}` runs and that nginx's upstream for it is right",
                route.service
            )),
        ),
    };
    Some(Finding {
        rule: crate::rule::REDIRECT_LOOP,
        severity,
        subject: route.name.clone(),
        message: format!("route `{}` ({}) {verdict}", route.name, route.url),
        alternative,
    })
}

/// An nginx configuration's lint hits as findings (an error denies, a warning warns); a
/// configuration that could not be read is `nginx-test` at `unreadable`.
fn lint_findings(name: &str, probe: &NginxProbe, unreadable: Severity) -> Vec<Finding> {
    match &probe.lint {
        Ok(hits) => hits
            .iter()
            .map(|hit| Finding {
                rule: hit.rule,
                severity: if hit.error {
                    Severity::Deny
                } else {
                    Severity::Warn
                },
                subject: name.to_owned(),
                message: format!("{}: {}", hit.place, hit.message),
                alternative: Some(hit.fix.clone()),
            })
            .collect(),
        Err(why) => vec![Finding {
            rule: crate::rule::NGINX_TEST,
            severity: unreadable,
            subject: name.to_owned(),
            message: format!("nginx `{name}`'s configuration could not be read: {why}"),
            alternative: Some(
                "run its `dump_command` by hand (`nginx -T`) and read what it says".to_owned(),
            ),
        }],
    }
}

/// A reload of an nginx instance, judged by `nginx -t` and the lint of the configuration it
/// would load.
pub(super) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let Action::Reload { nginx } = action else {
        return Vec::new();
    };
    let Some(probe) = view.facts.nginx.get(nginx) else {
        return vec![Finding {
            rule: crate::rule::NGINX_TEST,
            severity: Severity::NeedsHuman,
            subject: nginx.clone(),
            message: format!(
                "nginx `{nginx}`'s configuration was not read: the reload cannot be judged"
            ),
            alternative: None,
        }];
    };
    let mut findings = Vec::new();
    match &probe.test {
        Some(Ok(())) => {}
        Some(Err(message)) => findings.push(Finding {
            rule: crate::rule::NGINX_TEST,
            severity: Severity::Deny,
            subject: nginx.clone(),
            message: format!("`nginx -t` refuses the configuration: {message}"),
            alternative: Some("fix what nginx names, then ask again; a reload now would keep the old configuration or fail".to_owned()),
        }),
        None => findings.push(Finding {
            rule: crate::rule::NGINX_TEST,
            severity: Severity::NeedsHuman,
            subject: nginx.clone(),
            message: format!("nginx `{nginx}`'s `test_command` was not run: the reload cannot be judged"),
            alternative: None,
        }),
    }
    findings.extend(lint_findings(nginx, probe, Severity::Deny));
    findings
}
