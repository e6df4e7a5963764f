//! The incident-E rules over the model ([`crate::model::Nginx`]) and a small context of declared
//! services and routes: pure functions that return every finding, each with its rule id,
//! severity, place (file:line), what is wrong, and the fix.
//!
//! The rules, in MUST language (`docs/rules.md` has them with real output):
//! - [`NGINX_STATIC_RESOLVE`]: a `*_pass` whose target is a literal host name (not an address,
//!   not a variable, not an `upstream` name, not a Unix socket, not `localhost`) MUST be reported:
//!   nginx resolves it once, at load, and keeps the address until the next reload. A `resolver`
//!   in scope does not help a literal target (nginx uses it only for targets with variables), so
//!   such a pass is reported too, saying so. An `upstream`'s `server NAME` MUST be reported unless
//!   it has `resolve` and a `resolver` is in scope (the upstream's or `http`'s; nginx ≥ 1.27.3).
//!   Single-label names (`app-1`, a container's) are host names like any other.
//! - [`PORT_COLLISION`]: a target `HOST:PORT` (a literal pass, an `upstream` `server` line, or a
//!   `proxy_pass $v` whose server `set`s `$v` exactly once to a literal URL) MUST be reported, once,
//!   naming each declared service `S` on `PORT` that is not the target's own service (the first
//!   whose host or name is `HOST`, on `PORT`; a second one collides with it) when `HOST` is a name
//!   (it may resolve to `S`'s host: a wildcard record, a stale resolution), or `HOST` is `S`'s
//!   host, or the target's own service is on `S`'s host. A target that is an address no other
//!   declared service shares is not reported. A stream server's targets count like `http`'s.
//! - [`SERVER_NAME_FALLTHROUGH`]: a route's host that no `server_name` on the route's port names
//!   exactly (`name` or `.name`) MUST be reported with the server that would answer it instead:
//!   the longest matching wildcard, a regex (which hadome does not evaluate), or the port's
//!   default server. A port no server listens on is reported too.
//! - [`UPSTREAM_NOT_RUNNING`]: a target whose own declared service is not running MUST be
//!   reported: at the reload, nginx resolves and sends to whatever answers in its place.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::model::{Nginx, Pass, Server, ServerName, Set, Target, TargetHost, UpstreamServer};
use crate::Place;

/// A literal host name in a pass, resolved once at load.
pub const NGINX_STATIC_RESOLVE: &str = "nginx-static-resolve";
/// A target's port is another declared service's.
pub const PORT_COLLISION: &str = "port-collision";
/// A route's host only a wildcard, a regex or the default server answers.
pub const SERVER_NAME_FALLTHROUGH: &str = "server-name-fallthrough";
/// A target whose service is not running.
pub const UPSTREAM_NOT_RUNNING: &str = "upstream-not-running";

/// Every rule id this module reports.
pub const RULES: [&str; 4] = [
    NGINX_STATIC_RESOLVE,
    PORT_COLLISION,
    SERVER_NAME_FALLTHROUGH,
    UPSTREAM_NOT_RUNNING,
];

/// A service declared in the estate, as the lint needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name (`app-1`).
    pub name: String,
    /// Its host: a name or an address (`app-1`, `127.0.0.1`, `console.apps.lab`).
    pub host: String,
    /// The TCP port it listens on.
    pub port: u16,
    /// Whether it is running now (at reload time).
    pub running: bool,
}

/// A route's host and port, as a client asks nginx for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHost {
    /// The host of the route's URL (`app-1.apps.lab`).
    pub host: String,
    /// The port of the route's URL (80 for `http`, 443 for `https` when not written).
    pub port: u16,
}

/// What the lint knows beyond the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LintContext {
    /// The declared services.
    pub services: Vec<Service>,
    /// The routes that go through this nginx.
    pub routes: Vec<RouteHost>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth fixing; a deploy may go on.
    Warning,
    /// A deploy should not go on.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding of the lint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// The rule's id (one of [`RULES`]).
    pub rule: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The directive it is about.
    pub place: Place,
    /// What is wrong, naming the directive.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {} {}: {}\n  fix: {}",
            self.severity, self.rule, self.place, self.message, self.fix
        )
    }
}

/// Runs every rule; the findings come sorted by file, line and rule.
pub fn lint(nginx: &Nginx, context: &LintContext) -> Vec<LintFinding> {
    let mut findings = static_resolve(nginx);
    let uses = target_uses(nginx);
    let services = ServiceIndex::new(&context.services);
    findings.extend(port_collision(&uses, &services));
    findings.extend(upstream_not_running(&uses, &services));
    findings.extend(server_name_fallthrough(nginx, context));
    findings.sort_by(|a, b| {
        (&a.place.file, a.place.line, a.rule).cmp(&(&b.place.file, b.place.line, b.rule))
    });
    findings
}

fn is_loopback_name(name: &str) -> bool {
    // RFC 6761: `localhost` and names under it are loopback; their resolution does not move.
    name == "localhost" || name.ends_with(".localhost")
}

fn variable_name_for(host: &str) -> String {
    let cleaned: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("$upstream_{cleaned}")
}

/// [`NGINX_STATIC_RESOLVE`].
pub fn static_resolve(nginx: &Nginx) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    for server in &nginx.servers {
        for pass in server.all_passes() {
            let TargetHost::Name(name) = &pass.target.host else {
                continue;
            };
            if pass.target.has_variable || pass.target.upstream || is_loopback_name(name) {
                continue;
            }
            let variable = variable_name_for(name);
            let set = format!(
                "set {variable} {}; {} {variable};",
                pass.raw, pass.directive
            );
            let (message, fix) = match &pass.resolver {
                Some(resolver) => (
                    format!(
                        "`{} {}` names the host `{name}`: nginx resolves it once, at load, and sends to that address until the next reload; the `resolver` in scope ({}) is used only for targets with variables",
                        pass.directive, pass.raw, resolver.place
                    ),
                    format!("proxy to a variable so the resolver is used, `{set}`"),
                ),
                None => (
                    format!(
                        "`{} {}` names the host `{name}` and no `resolver` is in scope: nginx resolves it once, at load, and sends to that address until the next reload (if `{name}` is gone by then, to whatever its name falls through to)",
                        pass.directive, pass.raw
                    ),
                    format!(
                        "add `resolver {} valid=10s;` in the server and proxy to a variable, `{set}`",
                        suggested_resolver(nginx)
                    ),
                ),
            };
            findings.push(LintFinding {
                rule: NGINX_STATIC_RESOLVE,
                severity: Severity::Error,
                place: pass.place.clone(),
                message,
                fix,
            });
        }
    }
    for upstream in &nginx.upstreams {
        // A `stream` upstream's `resolve` needs its own resolver here (the stream block's is not kept).
        let resolver = upstream
            .resolver
            .as_ref()
            .or(nginx.resolver.as_ref().filter(|_| !upstream.stream));
        for server in &upstream.servers {
            let TargetHost::Name(name) = &server.target.host else {
                continue;
            };
            if is_loopback_name(name) || (server.resolve && resolver.is_some()) {
                continue;
            }
            let why = if server.resolve {
                "has `resolve` but no `resolver` is in scope"
            } else {
                "has no `resolve`"
            };
            findings.push(LintFinding {
                rule: NGINX_STATIC_RESOLVE,
                severity: Severity::Error,
                place: server.place.clone(),
                message: format!(
                    "`server {}` in `upstream {}` names the host `{name}` and {why}: nginx resolves it once, at load",
                    server.raw, upstream.name
                ),
                fix: format!(
                    "on nginx ≥ 1.27.3, give the upstream a `zone`, a `resolver {} valid=10s;` and `server {} resolve;`; otherwise proxy to a variable with a resolver instead of the upstream",
                    suggested_resolver(nginx),
                    server.raw
                ),
            });
        }
    }
    findings
}

fn suggested_resolver(nginx: &Nginx) -> String {
    nginx
        .resolver
        .as_ref()
        .filter(|resolver| !resolver.addresses.is_empty())
        .map(|resolver| resolver.addresses.join(" "))
        .unwrap_or_else(|| "127.0.0.53".to_string())
}

/// A target whose host and port the configuration states, and the directive that states it.
#[derive(Debug, Clone)]
struct TargetUse {
    place: Place,
    /// The directive as written (`proxy_pass http://app-1:3000`).
    written: String,
    host: String,
    host_is_name: bool,
    port: u16,
}

fn target_uses(nginx: &Nginx) -> Vec<TargetUse> {
    let mut uses = Vec::new();
    let mut push = |place: &Place, written: String, target: &Target| {
        let (host, host_is_name) = match &target.host {
            TargetHost::Name(name) => (name.clone(), true),
            TargetHost::Ip(address) => (address.clone(), false),
            TargetHost::Unix(_) | TargetHost::Variable(_) => return,
        };
        if let Some(port) = target.effective_port() {
            uses.push(TargetUse {
                place: place.clone(),
                written,
                host,
                host_is_name,
                port,
            });
        }
    };
    for server in &nginx.servers {
        for pass in server.all_passes() {
            if pass.target.upstream {
                continue; // its upstream's server lines are read below
            }
            if !pass.target.has_variable {
                push(
                    &pass.place,
                    format!("`{} {}`", pass.directive, pass.raw),
                    &pass.target,
                );
            } else if let Some((set, target)) = set_target(server, pass) {
                let written = format!(
                    "`{} {}` (`{}` is `{}`, set at {})",
                    pass.directive, pass.raw, set.variable, set.value, set.place
                );
                push(&pass.place, written, &target);
            }
        }
    }
    for upstream in &nginx.upstreams {
        for UpstreamServer {
            place, raw, target, ..
        } in &upstream.servers
        {
            push(
                place,
                format!("`server {raw}` (upstream `{}`)", upstream.name),
                target,
            );
        }
    }
    uses
}

/// For `proxy_pass $v` (or `$v` followed by a path), the literal URL the server `set`s `$v` to,
/// when it sets it exactly once.
fn set_target<'a>(server: &'a Server, pass: &Pass) -> Option<(&'a Set, Target)> {
    let variable = pass.raw.split('/').next()?;
    let mut sets = server.sets.iter().filter(|set| set.variable == variable);
    let set = sets.next()?;
    if sets.next().is_some() || crate::syntax::has_variable(&set.value) {
        return None;
    }
    Some((set, crate::model::parse_target(&set.value)))
}

/// How many colliding services a `port-collision` message names before "and N more".
const NAMED_COLLISIONS: usize = 5;

/// The declared services by port, and by host or name and port, so that each target costs a
/// lookup, not a pass over every service.
struct ServiceIndex<'a> {
    by_port: HashMap<u16, Vec<&'a Service>>,
    by_key: HashMap<(String, u16), Vec<&'a Service>>,
}

impl<'a> ServiceIndex<'a> {
    fn new(services: &'a [Service]) -> Self {
        let mut index = ServiceIndex {
            by_port: HashMap::new(),
            by_key: HashMap::new(),
        };
        for service in services {
            index.by_port.entry(service.port).or_default().push(service);
            let host = service.host.to_ascii_lowercase();
            let name = service.name.to_ascii_lowercase();
            if name != host {
                index
                    .by_key
                    .entry((name, service.port))
                    .or_default()
                    .push(service);
            }
            index
                .by_key
                .entry((host, service.port))
                .or_default()
                .push(service);
        }
        index
    }

    fn on_port(&self, port: u16) -> &[&'a Service] {
        self.by_port.get(&port).map_or(&[], Vec::as_slice)
    }

    /// The services whose host or name is `host`, on `port`: the target's own.
    fn at(&self, host: &str, port: u16) -> Vec<&'a Service> {
        let mut found: Vec<&'a Service> = Vec::new();
        if let Some(services) = self.by_key.get(&(host.to_ascii_lowercase(), port)) {
            for &service in services {
                push_unique(&mut found, service);
            }
        }
        found
    }

    /// The services whose host (not name) is `host`, on `port`.
    fn hosted_at(&self, host: &str, port: u16) -> Vec<&'a Service> {
        self.at(host, port)
            .into_iter()
            .filter(|service| service.host.eq_ignore_ascii_case(host))
            .collect()
    }
}

fn push_unique<'a>(services: &mut Vec<&'a Service>, service: &'a Service) {
    if !services.iter().any(|known| std::ptr::eq(*known, service)) {
        services.push(service);
    }
}

/// [`PORT_COLLISION`]: one finding per target, naming the services it collides with.
fn port_collision(uses: &[TargetUse], services: &ServiceIndex<'_>) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    for target in uses {
        let owners = services.at(&target.host, target.port);
        // Another service on the target's address, or on its own service's host, and a second
        // service declared on the target's host and port itself.
        let mut same_host: Vec<&Service> = owners.iter().skip(1).copied().collect();
        let mut hosts: Vec<&str> = vec![target.host.as_str()];
        hosts.extend(owners.iter().map(|owner| owner.host.as_str()));
        for host in hosts {
            for service in services.hosted_at(host, target.port) {
                if !owners.iter().any(|owner| std::ptr::eq(*owner, service)) {
                    push_unique(&mut same_host, service);
                }
            }
        }
        let is_counted = |service: &Service| {
            owners
                .iter()
                .chain(same_host.iter())
                .any(|known| std::ptr::eq(*known, service))
        };
        let on_port = services.on_port(target.port);
        let (elsewhere, elsewhere_count) = if target.host_is_name {
            let named: Vec<&Service> = on_port
                .iter()
                .copied()
                .filter(|service| !is_counted(service))
                .take(NAMED_COLLISIONS)
                .collect();
            let counted = on_port.iter().filter(|service| is_counted(service)).count();
            (named, on_port.len() - counted)
        } else {
            (Vec::new(), 0)
        };
        if same_host.is_empty() && elsewhere_count == 0 {
            continue;
        }
        let mut how = Vec::new();
        if !same_host.is_empty() {
            how.push(format!(
                "{} {} on that host and port too",
                named(&same_host, same_host.len()),
                if same_host.len() == 1 {
                    "listens"
                } else {
                    "listen"
                }
            ));
        }
        if elsewhere_count > 0 {
            how.push(format!(
                "{} {} the port too: if `{}` resolves to {} host — a wildcard DNS record, a stale resolution — requests land there, and are answered as if by the target",
                named(&elsewhere, elsewhere_count),
                if elsewhere_count == 1 { "uses" } else { "use" },
                target.host,
                if elsewhere_count == 1 { "its" } else { "their" }
            ));
        }
        findings.push(LintFinding {
            rule: PORT_COLLISION,
            severity: Severity::Warning,
            place: target.place.clone(),
            message: format!(
                "{} sends to port {}, which another declared service uses: {}",
                target.written,
                target.port,
                how.join("; ")
            ),
            fix: format!(
                "give `{}` a port no other service uses, or proxy to an address that only it answers on",
                owners.first().map_or(target.host.as_str(), |owner| owner.name.as_str())
            ),
        });
    }
    findings
}

/// "`console` (127.0.0.3:3000), `sso` (…) and 3 more", of `total` services.
fn named(services: &[&Service], total: usize) -> String {
    let mut text = services
        .iter()
        .take(NAMED_COLLISIONS)
        .map(|service| format!("`{}` ({}:{})", service.name, service.host, service.port))
        .collect::<Vec<_>>()
        .join(", ");
    let shown = services.len().min(NAMED_COLLISIONS);
    if total > shown {
        text.push_str(&format!(" and {} more", total - shown));
    }
    text
}

/// [`UPSTREAM_NOT_RUNNING`].
fn upstream_not_running(uses: &[TargetUse], services: &ServiceIndex<'_>) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    for target in uses {
        for service in services
            .at(&target.host, target.port)
            .into_iter()
            .filter(|service| !service.running)
        {
            findings.push(LintFinding {
                rule: UPSTREAM_NOT_RUNNING,
                severity: Severity::Error,
                place: target.place.clone(),
                message: format!(
                    "{} sends to the service `{}`, which is not running: after a reload nginx sends its requests to whatever answers at `{}:{}` instead, or fails them",
                    target.written, service.name, target.host, target.port
                ),
                fix: format!(
                    "start `{}` (and see it answer) before reloading nginx, or remove this route from the configuration",
                    service.name
                ),
            });
        }
    }
    findings
}

/// [`SERVER_NAME_FALLTHROUGH`].
fn server_name_fallthrough(nginx: &Nginx, context: &LintContext) -> Vec<LintFinding> {
    let mut findings = Vec::new();
    let fallback_place = nginx.http_place.clone().unwrap_or(Place {
        file: nginx.main_file.clone(),
        line: 1,
    });
    // (lowercased name, port) for every name a server answers exactly on a port it listens on.
    let mut exact: HashSet<(String, u16)> = HashSet::new();
    for server in nginx.servers.iter().filter(|server| !server.stream) {
        let ports: Vec<u16> = if server.listens.is_empty() {
            vec![80]
        } else {
            server
                .listens
                .iter()
                .filter_map(|listen| listen.address.port())
                .collect()
        };
        for name in &server.names {
            if let ServerName::Exact(name) | ServerName::Dotted(name) = name {
                for &port in &ports {
                    exact.insert((name.clone(), port));
                }
            }
        }
    }
    for route in &context.routes {
        if exact.contains(&(route.host.to_ascii_lowercase(), route.port)) {
            continue;
        }
        let candidates: Vec<&Server> = nginx
            .servers
            .iter()
            .filter(|server| !server.stream && server.listens_on(route.port))
            .collect();
        if candidates.is_empty() {
            findings.push(LintFinding {
                rule: SERVER_NAME_FALLTHROUGH,
                severity: Severity::Warning,
                place: fallback_place.clone(),
                message: format!(
                    "the route's host `{}` asks for port {}, and no `server` listens on it",
                    route.host, route.port
                ),
                fix: format!(
                    "add a `server` with `listen {};` and `server_name {};`, or correct the route's port",
                    route.port, route.host
                ),
            });
            continue;
        }
        let (server, how) = answering_server(&candidates, &route.host, route.port);
        findings.push(LintFinding {
            rule: SERVER_NAME_FALLTHROUGH,
            severity: Severity::Warning,
            place: server.place.clone(),
            message: format!(
                "no `server_name` names `{}` on port {}: nginx answers it with the server at {}, {how}",
                route.host, route.port, server.place
            ),
            fix: format!(
                "add a `server` with `server_name {};` for the route, or correct the route's host",
                route.host
            ),
        });
    }
    findings
}

/// The server nginx picks for a host no name matches exactly, and how: the longest leading
/// wildcard, else the longest trailing one, else a regex, else the port's default server.
fn answering_server<'a>(candidates: &[&'a Server], host: &str, port: u16) -> (&'a Server, String) {
    let mut best: Option<(&Server, &ServerName, usize, bool)> = None;
    for server in candidates {
        for name in &server.names {
            if !name.answers_by_wildcard(host) {
                continue;
            }
            let leading = !matches!(name, ServerName::TrailingWildcard(_));
            let length = name.display().len();
            let better = match best {
                None => true,
                Some((_, _, best_length, best_leading)) => {
                    (leading, length) > (best_leading, best_length)
                }
            };
            if better {
                best = Some((server, name, length, leading));
            }
        }
    }
    if let Some((server, name, _, _)) = best {
        return (server, format!("by its wildcard `{}`", name.display()));
    }
    for server in candidates {
        if let Some(regex) = server
            .names
            .iter()
            .find(|name| matches!(name, ServerName::Regex(_)))
        {
            return (
                server,
                format!(
                    "if its regex `{}` matches (hadome does not evaluate regexes), else the default server",
                    regex.display()
                ),
            );
        }
    }
    let default = candidates
        .iter()
        .find(|server| {
            server
                .listens
                .iter()
                .any(|listen| listen.default_server && listen.address.port() == Some(port))
        })
        .copied();
    match default {
        Some(server) => (server, format!("the `default_server` for port {port}")),
        // `candidates` is not empty: the caller returned early when it was.
        None => (
            candidates[0],
            format!("the first server for port {port}, nginx's default server when none says `default_server`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, host: &str, port: u16, running: bool) -> Service {
        Service {
            name: name.into(),
            host: host.into(),
            port,
            running,
        }
    }

    /// The findings on `http { … }`, rendered `rule line`.
    fn check(http: &str, context: &LintContext) -> Vec<String> {
        let dump = format!("# configuration file /n.conf:\nhttp {{\n{http}\n}}\n");
        let nginx = crate::read(&dump).unwrap_or_else(|error| panic!("{error}"));
        lint(&nginx, context)
            .iter()
            .map(|finding| format!("{} {}", finding.rule, finding.place.line))
            .collect()
    }

    #[test]
    fn nginx_static_resolve_upstream_servers_need_resolve_and_a_resolver() {
        let none = LintContext::default();
        let upstream = |resolver: &str, parameter: &str| {
            format!("upstream u {{ zone u 64k; {resolver}\nserver app-1:3000 {parameter};\n}}\nserver {{ location / {{ proxy_pass http://u; }} }}")
        };
        assert_eq!(check(&upstream("", ""), &none), ["nginx-static-resolve 3"]);
        assert_eq!(
            check(&upstream("", "resolve"), &none),
            ["nginx-static-resolve 3"]
        );
        assert!(check(&upstream("resolver 127.0.0.53;", "resolve"), &none).is_empty());
        assert!(check(
            &format!("resolver 10.0.0.2;\n{}", upstream("", "resolve")),
            &none
        )
        .is_empty());
    }

    #[test]
    fn nginx_static_resolve_skips_addresses_sockets_variables_upstreams_and_localhost() {
        let http = "upstream app { server 127.0.0.1:1; }\nserver {\nlocation /a { proxy_pass http://10.0.0.1:1; }\n\
                    location /b { proxy_pass http://[fd00::1]:1; }\nlocation /c { proxy_pass http://unix:/run/a.sock; }\n\
                    location /d { proxy_pass http://$host:1; }\nlocation /e { proxy_pass http://app; }\n\
                    location /f { proxy_pass http://localhost:1; }\nlocation /g { proxy_pass https://app-1; }\n}";
        assert_eq!(
            check(http, &LintContext::default()),
            ["nginx-static-resolve 10"]
        );
    }

    /// `port-collision` as defined: a name collides with any other service on its port; an
    /// address only with a service on that address, or when its own service shares a host.
    #[test]
    fn port_collision_is_reported_as_defined() {
        let context = LintContext {
            services: vec![
                service("app-1", "10.0.0.5", 3000, true),
                service("console", "10.0.0.9", 3000, true),
                service("chat", "10.0.0.5", 4000, true),
                service("chat-2", "10.0.0.5", 4000, true),
            ],
            routes: Vec::new(),
        };
        let pass =
            |target: &str| format!("server {{ location / {{ proxy_pass http://{target}; }} }}");
        // An address: only its own service is there.
        assert!(check(&pass("10.0.0.5:3000"), &context).is_empty());
        // A name: it may resolve to the console's host.
        assert_eq!(
            check(&pass("app-1:3000"), &context),
            ["nginx-static-resolve 2", "port-collision 2"]
        );
        // Two services declared on one host and port: one finding names them both.
        assert_eq!(
            check(&pass("10.0.0.5:4000"), &context),
            ["port-collision 2"]
        );
        // Another port: nobody else is there.
        assert!(check(&pass("10.0.0.5:5000"), &context).is_empty());
    }

    #[test]
    fn stream_servers_are_linted_but_answer_no_route() {
        let dump = "# configuration file /n.conf:\nstream {\nupstream db { server db-1:5432; }\n\
                    server { listen 6432; proxy_pass db; }\nserver { listen 80; proxy_pass app-1:3000; }\n}\n";
        let nginx = crate::read(dump).unwrap_or_else(|error| panic!("{error}"));
        let context = LintContext {
            services: Vec::new(),
            routes: vec![RouteHost {
                host: "app-1.apps.lab".into(),
                port: 80,
            }],
        };
        let findings: Vec<String> = lint(&nginx, &context)
            .iter()
            .map(|finding| format!("{} {}", finding.rule, finding.place.line))
            .collect();
        assert_eq!(
            findings,
            [
                "server-name-fallthrough 1",
                "nginx-static-resolve 2",
                "nginx-static-resolve 4"
            ]
        );
    }

    #[test]
    fn upstream_not_running_names_the_service() {
        let context = LintContext {
            services: vec![service("app-1", "app-1", 3000, false)],
            routes: Vec::new(),
        };
        let http = "resolver 127.0.0.53;\nserver { set $a http://app-1:3000;\nlocation / { proxy_pass $a; } }";
        assert_eq!(check(http, &context), ["upstream-not-running 4"]);
    }
}
