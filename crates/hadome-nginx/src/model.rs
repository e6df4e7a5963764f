//! What the lint reads from the directive tree: the `http` block's servers (their `listen`s,
//! `server_name`s, nested `location`s), every `*_pass` with its target parsed, the `resolver` in
//! scope at it, the `upstream` blocks with their `server` lines, and the `map`s and `set`s that
//! give variables their values. The `stream` block's servers and upstreams are read too (its
//! `proxy_pass host:port` is resolved at load like `http`'s), marked [`Server::stream`].

use std::sync::Arc;

use crate::syntax::{has_variable, Directive};
use crate::Place;

/// The directives that send a request on to another server.
pub const PASS_DIRECTIVES: [&str; 5] = [
    "proxy_pass",
    "grpc_pass",
    "fastcgi_pass",
    "uwsgi_pass",
    "scgi_pass",
];

/// The configuration's `http` part, as the lint sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nginx {
    /// The main file (the first of the dump).
    pub main_file: Arc<str>,
    /// Where the `http` block is, if there is one.
    pub http_place: Option<Place>,
    /// The `resolver` at `http` level.
    pub resolver: Option<Resolver>,
    /// Every `server` of the `http` block, in order.
    pub servers: Vec<Server>,
    /// Every `upstream` block.
    pub upstreams: Vec<Upstream>,
    /// Every `map` block.
    pub maps: Vec<Map>,
}

/// A `resolver` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    /// Where it is.
    pub place: Place,
    /// The name servers it names.
    pub addresses: Vec<String>,
    /// Its `valid=` time, if given.
    pub valid: Option<String>,
}

/// One `server` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Where it is.
    pub place: Place,
    /// Whether it is a `stream` server (TCP/UDP), not an `http` one: it answers no route.
    pub stream: bool,
    /// Its `listen`s (none: nginx listens on `*:80`, or `*:8000` when not root).
    pub listens: Vec<Listen>,
    /// Its `server_name`s.
    pub names: Vec<ServerName>,
    /// Its own `resolver`.
    pub resolver: Option<Resolver>,
    /// Its `location`s, nested as written.
    pub locations: Vec<Location>,
    /// The `*_pass` directives directly in the server (in an `if`, or a `stream` server's).
    pub passes: Vec<Pass>,
    /// Every `set` in the server, its locations and their `if`s.
    pub sets: Vec<Set>,
}

impl Server {
    /// Every pass of the server, its locations and nested locations.
    pub fn all_passes(&self) -> Vec<&Pass> {
        let mut passes: Vec<&Pass> = self.passes.iter().collect();
        let mut pending: Vec<&Location> = self.locations.iter().collect();
        while let Some(location) = pending.pop() {
            passes.extend(location.passes.iter());
            pending.extend(location.locations.iter());
        }
        passes.sort_by(|a, b| a.place.cmp(&b.place));
        passes
    }

    /// Whether the server listens on `port` (a TCP listen on any address, or no `listen`
    /// at all and `port` is 80).
    pub fn listens_on(&self, port: u16) -> bool {
        if self.listens.is_empty() {
            return port == 80;
        }
        self.listens
            .iter()
            .any(|listen| listen.address.port() == Some(port))
    }
}

/// One `listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Where it is.
    pub place: Place,
    /// What it listens on.
    pub address: ListenAddress,
    /// Whether it says `default_server` (or the old `default`).
    pub default_server: bool,
}

/// What a `listen` listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// A port on every address (`listen 80;`, `listen *:80;`).
    AnyAddress {
        /// The port.
        port: u16,
    },
    /// A port on one address (`127.0.0.1:80`, `[::1]:80`, `localhost:80`).
    Address {
        /// The address as written, without brackets.
        host: String,
        /// The port (80 when not written).
        port: u16,
    },
    /// A Unix socket (`unix:/run/app.sock`).
    Unix {
        /// The socket's path.
        path: String,
    },
}

impl ListenAddress {
    /// The TCP port, if it is one.
    pub fn port(&self) -> Option<u16> {
        match self {
            ListenAddress::AnyAddress { port } | ListenAddress::Address { port, .. } => Some(*port),
            ListenAddress::Unix { .. } => None,
        }
    }
}

/// One name of a `server_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerName {
    /// An exact name (`app-1.apps.lab`, `_`, or `""`), lowercased.
    Exact(String),
    /// `*.apps.lab`: any name ending in `.apps.lab` (the suffix kept with its dot).
    LeadingWildcard(String),
    /// `www.*`: any name starting with `www.` (the prefix kept with its dot).
    TrailingWildcard(String),
    /// `.apps.lab`: `apps.lab` itself and any name under it (the base kept without its dot).
    Dotted(String),
    /// `~regex`: hadome does not evaluate it.
    Regex(String),
}

impl ServerName {
    fn parse(text: &str) -> ServerName {
        let lower = text.to_ascii_lowercase();
        if let Some(regex) = text.strip_prefix('~') {
            ServerName::Regex(regex.to_string())
        } else if let Some(suffix) = lower.strip_prefix('*') {
            ServerName::LeadingWildcard(suffix.to_string())
        } else if let Some(prefix) = lower.strip_suffix('*') {
            ServerName::TrailingWildcard(prefix.to_string())
        } else if let Some(base) = lower.strip_prefix('.') {
            ServerName::Dotted(base.to_string())
        } else {
            ServerName::Exact(lower)
        }
    }

    /// Whether the name answers `host` exactly (not by a wildcard or a regex).
    pub fn answers_exactly(&self, host: &str) -> bool {
        match self {
            ServerName::Exact(name) | ServerName::Dotted(name) => name.eq_ignore_ascii_case(host),
            _ => false,
        }
    }

    /// Whether a wildcard of this name answers `host`.
    pub fn answers_by_wildcard(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            ServerName::LeadingWildcard(suffix) => host.ends_with(suffix.as_str()),
            ServerName::TrailingWildcard(prefix) => host.starts_with(prefix.as_str()),
            ServerName::Dotted(base) => host.ends_with(&format!(".{base}")),
            _ => false,
        }
    }

    /// The name as written in the configuration.
    pub fn display(&self) -> String {
        match self {
            ServerName::Exact(name) if name.is_empty() => "\"\"".to_string(),
            ServerName::Exact(name) => name.clone(),
            ServerName::LeadingWildcard(suffix) => format!("*{suffix}"),
            ServerName::TrailingWildcard(prefix) => format!("{prefix}*"),
            ServerName::Dotted(base) => format!(".{base}"),
            ServerName::Regex(regex) => format!("~{regex}"),
        }
    }
}

/// One `location` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Where it is.
    pub place: Place,
    /// Its modifier (`=`, `~`, `~*`, `^~`), if any, or `@` for a named location.
    pub modifier: Option<String>,
    /// Its path, prefix or regex.
    pub pattern: String,
    /// Its own `resolver`.
    pub resolver: Option<Resolver>,
    /// Its nested locations.
    pub locations: Vec<Location>,
    /// Its `*_pass` directives (in `if` and `limit_except` blocks too).
    pub passes: Vec<Pass>,
}

/// One `*_pass` directive with its target and the `resolver` in scope at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Where it is.
    pub place: Place,
    /// The directive (`proxy_pass`, `grpc_pass`, …).
    pub directive: String,
    /// Its argument as written.
    pub raw: String,
    /// The target parsed from it.
    pub target: Target,
    /// The nearest `resolver`: the location's, else the server's, else `http`'s.
    pub resolver: Option<Resolver>,
}

/// Where a pass, or an `upstream`'s `server`, sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http`, `https`, `grpc`, … (empty when not written, as for `fastcgi_pass`).
    pub scheme: String,
    /// The host part.
    pub host: TargetHost,
    /// The port, if written.
    pub port: Option<u16>,
    /// The path (and query) after the host, if any.
    pub path: String,
    /// Whether the target uses variables: nginx evaluates it per request, resolving a name
    /// through the `resolver` in scope.
    pub has_variable: bool,
    /// Whether the host names an `upstream` block.
    pub upstream: bool,
}

impl Target {
    /// The port requests go to: the written one, else the scheme's (80; 443 for `https` and
    /// `grpcs`).
    pub fn effective_port(&self) -> Option<u16> {
        if let TargetHost::Unix(_) | TargetHost::Variable(_) = self.host {
            return None;
        }
        self.port.or(match self.scheme.as_str() {
            "https" | "grpcs" => Some(443),
            _ => Some(80),
        })
    }
}

/// The host of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// A name resolved through DNS (`app-1`, `app.apps.lab`), lowercased.
    Name(String),
    /// An IPv4 or IPv6 address (without brackets).
    Ip(String),
    /// A Unix socket path.
    Unix(String),
    /// A host that is, or contains, a variable.
    Variable(String),
}

impl TargetHost {
    /// The host as text (a name, an address, a socket path, or the variable).
    pub fn text(&self) -> &str {
        match self {
            TargetHost::Name(text)
            | TargetHost::Ip(text)
            | TargetHost::Unix(text)
            | TargetHost::Variable(text) => text,
        }
    }

    fn classify(host: &str) -> TargetHost {
        if has_variable(host) {
            TargetHost::Variable(host.to_string())
        } else if host.parse::<std::net::IpAddr>().is_ok() {
            TargetHost::Ip(host.to_string())
        } else {
            TargetHost::Name(host.to_ascii_lowercase())
        }
    }
}

/// Parses a pass argument or an upstream `server` address: `[scheme://]host[:port][/path]`,
/// `[scheme://]unix:/path[:/uri]`, `[::1]:80`, or one with variables.
pub fn parse_target(raw: &str) -> Target {
    let has_variable = has_variable(raw);
    let (scheme, rest) = match raw.find("://") {
        Some(index) if !raw[..index].contains(['/', '$']) => {
            (raw[..index].to_ascii_lowercase(), &raw[index + 3..])
        }
        _ => (String::new(), raw),
    };
    if let Some(socket) = rest.strip_prefix("unix:") {
        // `unix:/path/to.sock:/uri`: the socket ends at the first `:` after it.
        let (path, uri) = match socket.find(':') {
            Some(index) => (&socket[..index], &socket[index + 1..]),
            None => (socket, ""),
        };
        return Target {
            scheme,
            host: TargetHost::Unix(path.to_string()),
            port: None,
            path: uri.to_string(),
            has_variable,
            upstream: false,
        };
    }
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    };
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.find(']') {
            Some(end) => (&bracketed[..end], bracketed[end + 1..].strip_prefix(':')),
            None => (authority, None),
        }
    } else {
        match authority.rfind(':') {
            Some(index) => (&authority[..index], Some(&authority[index + 1..])),
            None => (authority, None),
        }
    };
    // `http://app-1:3000$request_uri`: what follows the port's digits is path, not port.
    let mut path = path.to_string();
    let port = port_text.and_then(|text| {
        let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        path.insert_str(0, &text[digits..]);
        text[..digits].parse::<u16>().ok()
    });
    let host = TargetHost::classify(host);
    Target {
        scheme,
        host,
        port,
        path,
        has_variable,
        upstream: false,
    }
}

/// An `upstream` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Where it is.
    pub place: Place,
    /// Its name.
    pub name: String,
    /// Whether it is a `stream` upstream.
    pub stream: bool,
    /// Its `resolver` (nginx ≥ 1.27.3 and nginx Plus).
    pub resolver: Option<Resolver>,
    /// Its `server` lines.
    pub servers: Vec<UpstreamServer>,
}

/// One `server` line of an `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamServer {
    /// Where it is.
    pub place: Place,
    /// The address as written.
    pub raw: String,
    /// The address parsed.
    pub target: Target,
    /// Whether it has the `resolve` parameter (re-resolved at run time, given a resolver).
    pub resolve: bool,
}

/// A `map` block: the variable it defines and the values it can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// Where it is.
    pub place: Place,
    /// The source (`$host`).
    pub source: String,
    /// The variable it defines (`$backend`).
    pub variable: String,
    /// The values of its entries (the second column), `default` included.
    pub values: Vec<String>,
}

/// A `set $variable value;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// Where it is.
    pub place: Place,
    /// The variable (`$app`).
    pub variable: String,
    /// The value as written.
    pub value: String,
}

/// Reads the model from the expanded directive tree ([`crate::dump::read_dump`]).
pub fn model(main_file: Arc<str>, directives: &[Directive]) -> Nginx {
    let mut nginx = Nginx {
        main_file,
        http_place: None,
        resolver: None,
        servers: Vec::new(),
        upstreams: Vec::new(),
        maps: Vec::new(),
    };
    for block in directives
        .iter()
        .filter(|directive| directive.name == "http" || directive.name == "stream")
    {
        let stream = block.name == "stream";
        if !stream {
            nginx.http_place.get_or_insert_with(|| block.place.clone());
        }
        let resolver = find_resolver(block.children());
        if !stream {
            nginx.resolver = resolver.clone();
        }
        for directive in block.children() {
            match directive.name.as_str() {
                "server" if directive.block.is_some() => {
                    let mut server = read_server(directive, resolver.as_ref());
                    server.stream = stream;
                    nginx.servers.push(server)
                }
                "upstream" => {
                    let mut upstream = read_upstream(directive);
                    upstream.stream = stream;
                    nginx.upstreams.push(upstream)
                }
                "map" => nginx.maps.push(read_map(directive)),
                _ => {}
            }
        }
    }
    // `http` and `stream` upstreams are two namespaces.
    let upstream_names: Vec<(bool, String)> = nginx
        .upstreams
        .iter()
        .map(|upstream| (upstream.stream, upstream.name.to_ascii_lowercase()))
        .collect();
    for server in &mut nginx.servers {
        let stream = server.stream;
        let mark = |target: &mut Target| {
            if let TargetHost::Name(name) = &target.host {
                target.upstream = upstream_names.iter().any(|(upstream_stream, upstream)| {
                    *upstream_stream == stream && upstream == name
                });
            }
        };
        server
            .passes
            .iter_mut()
            .for_each(|pass| mark(&mut pass.target));
        let mut pending: Vec<&mut Location> = server.locations.iter_mut().collect();
        while let Some(location) = pending.pop() {
            location
                .passes
                .iter_mut()
                .for_each(|pass| mark(&mut pass.target));
            pending.extend(location.locations.iter_mut());
        }
    }
    nginx
}

fn find_resolver(directives: &[Directive]) -> Option<Resolver> {
    directives
        .iter()
        .rfind(|directive| directive.name == "resolver")
        .map(|directive| Resolver {
            place: directive.place.clone(),
            addresses: directive
                .args
                .iter()
                .filter(|arg| !arg.text.contains('='))
                .map(|arg| arg.text.clone())
                .collect(),
            valid: directive
                .args
                .iter()
                .find_map(|arg| arg.text.strip_prefix("valid=").map(str::to_string)),
        })
}

fn read_server(directive: &Directive, http_resolver: Option<&Resolver>) -> Server {
    let resolver = find_resolver(directive.children());
    let in_scope = resolver.clone().or_else(|| http_resolver.cloned());
    let mut server = Server {
        place: directive.place.clone(),
        stream: false,
        listens: Vec::new(),
        names: Vec::new(),
        resolver,
        locations: Vec::new(),
        passes: Vec::new(),
        sets: Vec::new(),
    };
    for child in directive.children() {
        match child.name.as_str() {
            "listen" => {
                if let Some(listen) = read_listen(child) {
                    server.listens.push(listen);
                }
            }
            "server_name" => server
                .names
                .extend(child.args.iter().map(|arg| ServerName::parse(&arg.text))),
            "location" => {
                server
                    .locations
                    .push(read_location(child, in_scope.as_ref(), &mut server.sets))
            }
            "if" => collect_passes(
                child.children(),
                in_scope.as_ref(),
                &mut server.passes,
                &mut server.sets,
            ),
            "set" => push_set(child, &mut server.sets),
            name if PASS_DIRECTIVES.contains(&name) => collect_passes(
                std::slice::from_ref(child),
                in_scope.as_ref(),
                &mut server.passes,
                &mut server.sets,
            ),
            _ => {}
        }
    }
    server
}

fn read_listen(directive: &Directive) -> Option<Listen> {
    let first = directive.arg(0)?;
    let address = if let Some(path) = first.strip_prefix("unix:") {
        ListenAddress::Unix {
            path: path.to_string(),
        }
    } else if let Ok(port) = first.parse::<u16>() {
        ListenAddress::AnyAddress { port }
    } else {
        let target = parse_target(first);
        let port = target.port.unwrap_or(80);
        match target.host.text() {
            "*" => ListenAddress::AnyAddress { port },
            host => ListenAddress::Address {
                host: host.to_string(),
                port,
            },
        }
    };
    Some(Listen {
        place: directive.place.clone(),
        address,
        default_server: directive
            .args
            .iter()
            .skip(1)
            .any(|arg| arg.text == "default_server" || arg.text == "default"),
    })
}

fn read_location(directive: &Directive, outer: Option<&Resolver>, sets: &mut Vec<Set>) -> Location {
    let (modifier, pattern) = match (directive.arg(0), directive.arg(1)) {
        (Some(modifier @ ("=" | "~" | "~*" | "^~")), Some(pattern)) => {
            (Some(modifier.to_string()), pattern.to_string())
        }
        (Some(named), _) if named.starts_with('@') => (Some("@".to_string()), named.to_string()),
        (Some(pattern), _) => (None, pattern.to_string()),
        (None, _) => (None, String::new()),
    };
    let resolver = find_resolver(directive.children());
    let in_scope = resolver.clone().or_else(|| outer.cloned());
    let mut location = Location {
        place: directive.place.clone(),
        modifier,
        pattern,
        resolver,
        locations: Vec::new(),
        passes: Vec::new(),
    };
    for child in directive.children() {
        if child.name == "location" {
            location
                .locations
                .push(read_location(child, in_scope.as_ref(), sets));
        }
    }
    collect_passes(
        directive.children(),
        in_scope.as_ref(),
        &mut location.passes,
        sets,
    );
    location
}

/// The passes and sets of a location's own directives and of its `if` and `limit_except`
/// blocks (nested locations are read on their own).
fn collect_passes(
    directives: &[Directive],
    resolver: Option<&Resolver>,
    passes: &mut Vec<Pass>,
    sets: &mut Vec<Set>,
) {
    let mut pending: Vec<&Directive> = directives.iter().collect();
    while let Some(directive) = pending.pop() {
        match directive.name.as_str() {
            "if" | "limit_except" => pending.extend(directive.children()),
            "set" => push_set(directive, sets),
            name if PASS_DIRECTIVES.contains(&name) => {
                if let Some(raw) = directive.arg(0) {
                    passes.push(Pass {
                        place: directive.place.clone(),
                        directive: directive.name.clone(),
                        raw: raw.to_string(),
                        target: parse_target(raw),
                        resolver: resolver.cloned(),
                    });
                }
            }
            _ => {}
        }
    }
    passes.sort_by(|a, b| a.place.cmp(&b.place));
}

fn push_set(directive: &Directive, sets: &mut Vec<Set>) {
    if let (Some(variable), Some(value)) = (directive.arg(0), directive.arg(1)) {
        sets.push(Set {
            place: directive.place.clone(),
            variable: variable.to_string(),
            value: value.to_string(),
        });
    }
}

fn read_upstream(directive: &Directive) -> Upstream {
    Upstream {
        place: directive.place.clone(),
        name: directive.arg(0).unwrap_or_default().to_string(),
        stream: false,
        resolver: find_resolver(directive.children()),
        servers: directive
            .children()
            .iter()
            .filter(|child| child.name == "server")
            .filter_map(|child| {
                let raw = child.arg(0)?;
                Some(UpstreamServer {
                    place: child.place.clone(),
                    raw: raw.to_string(),
                    target: parse_target(raw),
                    resolve: child.args.iter().skip(1).any(|arg| arg.text == "resolve"),
                })
            })
            .collect(),
    }
}

fn read_map(directive: &Directive) -> Map {
    const KEYWORDS: [&str; 3] = ["hostnames", "volatile", "include"];
    Map {
        place: directive.place.clone(),
        source: directive.arg(0).unwrap_or_default().to_string(),
        variable: directive.arg(1).unwrap_or_default().to_string(),
        values: directive
            .children()
            .iter()
            .filter(|entry| !KEYWORDS.contains(&entry.name.as_str()))
            .filter_map(|entry| entry.arg(0).map(str::to_string))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let cases = [
            (
                "http://app-1:3000",
                "http",
                TargetHost::Name("app-1".into()),
                Some(3000),
                "",
                false,
            ),
            (
                "https://App.Lab/x?y",
                "https",
                TargetHost::Name("app.lab".into()),
                None,
                "/x?y",
                false,
            ),
            (
                "http://127.0.0.1:8080/",
                "http",
                TargetHost::Ip("127.0.0.1".into()),
                Some(8080),
                "/",
                false,
            ),
            (
                "http://[::1]:81",
                "http",
                TargetHost::Ip("::1".into()),
                Some(81),
                "",
                false,
            ),
            (
                "http://unix:/run/a.sock:/api",
                "http",
                TargetHost::Unix("/run/a.sock".into()),
                None,
                "/api",
                false,
            ),
            (
                "unix:/run/php.sock",
                "",
                TargetHost::Unix("/run/php.sock".into()),
                None,
                "",
                false,
            ),
            (
                "$app",
                "",
                TargetHost::Variable("$app".into()),
                None,
                "",
                true,
            ),
            (
                "http://$host:3000",
                "http",
                TargetHost::Variable("$host".into()),
                Some(3000),
                "",
                true,
            ),
            (
                "http://app-1:3000$request_uri",
                "http",
                TargetHost::Name("app-1".into()),
                Some(3000),
                "$request_uri",
                true,
            ),
            (
                "localhost:9000",
                "",
                TargetHost::Name("localhost".into()),
                Some(9000),
                "",
                false,
            ),
        ];
        for (raw, scheme, host, port, path, variable) in cases {
            let target = parse_target(raw);
            assert_eq!(
                (
                    target.scheme.as_str(),
                    &target.host,
                    target.port,
                    target.path.as_str(),
                    target.has_variable
                ),
                (scheme, &host, port, path, variable),
                "{raw}"
            );
        }
    }
}
