//! Routes: judging the redirect chain a probe followed (incident E).
//!
//! The edge sends one request per hop and follows `Location` itself, resolving it with
//! [`Url::join`] (URL parsing lives here, in core, so the edge and the judgement agree on what a
//! hop's URL is). [`judge`] then decides, from the hops alone:
//! - [`Judgement::RedirectLoop`] (rule `redirect-loop`): the chain MUST be reported as a loop when
//!   a hop that is itself redirected requests a scheme, host, port and path an earlier hop
//!   requested and is redirected to the same scheme, host, port and path as that hop was (the
//!   query may differ: a fresh `state=` or token each round), or when a redirect from one host to
//!   another into such a hop repeats one seen earlier (a cycle between hosts whose paths change).
//!   A login that comes back to `/` and lands there, or is sent on elsewhere, is no loop. The
//!   cycle is named by its hosts and the hop where it started; loops are looked for first;
//! - [`Judgement::HopLimit`]: the chain reached the hop limit still redirecting, with no cycle;
//! - [`Judgement::WrongLanding`]: the chain ended (a response that is not a followed redirect) but
//!   not where the route must arrive: another host than its own, another status, a missing header
//!   or body marker;
//! - [`Judgement::Arrived`];
//! - [`Judgement::Inconclusive`]: nothing to judge (no hop, a `Location` that is not a URL, a
//!   chain that stops redirecting before the limit). Never read as arrived.

use std::fmt;

/// The statuses whose `Location` a probe follows.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// An `http` or `https` URL, normalised: scheme and host lowercased, the scheme's default port
/// dropped, an empty path made `/`, the fragment dropped, dot segments removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

/// Why a text is not a URL hadome follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "`{}` is not a URL hadome follows: {}",
            self.text, self.why
        )
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses an absolute `http://` or `https://` URL.
    pub fn parse(text: &str) -> Result<Url, UrlError> {
        let error = |why| UrlError {
            text: text.to_string(),
            why,
        };
        let trimmed = text.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| error("it has no `scheme://`"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(error("its scheme is not `http` or `https`"));
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let (host, port_text) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| error("its IPv6 address has no closing `]`"))?;
            (format!("[{host}]"), after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (host_port.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(error("it has no host"));
        }
        let port = match port_text {
            None | Some("") => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .map_err(|_| error("its port is not a number from 0 to 65535"))?,
            ),
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let tail = tail.split('#').next().unwrap_or_default();
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (tail, None),
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port: port.filter(|&port| port != default_port),
            path: remove_dot_segments(if path.is_empty() { "/" } else { path }),
            query,
            scheme,
        })
    }

    /// Resolves a `Location` against this URL (RFC 3986 §5.2: absolute, `//host…`, `/path`,
    /// `?query`, or a relative path).
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let location = location.trim();
        let has_scheme = location.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if has_scheme {
            return Url::parse(location);
        }
        if location.starts_with("//") {
            return Url::parse(&format!("{}:{location}", self.scheme));
        }
        let location = location.split('#').next().unwrap_or_default();
        let (path, query) = match location.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (location, None),
        };
        let mut joined = self.clone();
        if path.is_empty() {
            // `?query` keeps the path; an empty reference is the URL itself.
            if query.is_some() {
                joined.query = query;
            }
            return Ok(joined);
        }
        joined.path = if path.starts_with('/') {
            remove_dot_segments(path)
        } else {
            let directory = match self.path.rfind('/') {
                Some(slash) => &self.path[..=slash],
                None => "/",
            };
            remove_dot_segments(&format!("{directory}{path}"))
        };
        joined.query = query;
        Ok(joined)
    }

    /// The scheme, lowercased: `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lowercased (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path (`/` at least).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The port, the scheme's when not written.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    /// What a revisit is judged on: scheme, host, port and path, not the query.
    fn place_key(&self) -> (&str, &str, u16, &str) {
        (&self.scheme, &self.host, self.port(), &self.path)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(formatter, ":{port}")?;
        }
        formatter.write_str(&self.path)?;
        if let Some(query) = &self.query {
            write!(formatter, "?{query}")?;
        }
        Ok(())
    }
}

fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let trailing = path.ends_with("/.") || path.ends_with("/..") || path.ends_with('/');
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    if trailing && segments.last().is_some_and(|last| !last.is_empty()) {
        segments.push("");
    }
    format!("/{}", segments.join("/"))
}

/// A cookie a hop set, and for which domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// Its name.
    pub name: String,
    /// Its `Domain` attribute, lowercased without a leading dot; `None`: only the host that set it.
    pub domain: Option<String>,
}

/// One request of a probe and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The URL requested.
    pub url: Url,
    /// The response's status.
    pub status: u16,
    /// Its `Location`, if any.
    pub location: Option<String>,
    /// The cookies it set.
    pub cookies: Vec<SetCookie>,
    /// Its headers (name, value); the edge may keep only those the route's arrival names.
    pub headers: Vec<(String, String)>,
    /// The start of its body, as far as the edge read it.
    pub body_sample: String,
    /// How long the request took.
    pub elapsed_millis: u64,
}

impl Hop {
    /// Whether a probe follows this hop: a redirect status with a `Location`.
    pub fn is_redirect(&self) -> bool {
        REDIRECT_STATUSES.contains(&self.status) && self.location.is_some()
    }
}

/// How a route tells it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Arrival {
    /// The status it must end with (`None`: any 2xx).
    pub status: Option<u16>,
    /// The host it must end on (`None`: the host of its first hop).
    pub final_host: Option<String>,
    /// A header it must end with: its name, and text its value contains.
    pub header: Option<(String, String)>,
    /// Text the final body contains.
    pub body_marker: Option<String>,
}

/// How a cycle was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleKind {
    /// A hop requested exactly the URL of an earlier hop.
    SameUrl,
    /// A hop requested an earlier hop's scheme, host, port and path with another query.
    SamePathOtherQuery,
    /// A redirect from one host to another repeated an earlier one (the paths differ).
    HostToHost,
}

/// A cookie set inside a cycle that hosts of the chain never get back: why the cycle goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieNote {
    /// The hop that set it.
    pub hop: usize,
    /// The cookie's name.
    pub name: String,
    /// The domain it is for.
    pub domain: String,
    /// The hosts of the chain it is not sent to.
    pub not_sent_to: Vec<String>,
}

/// A redirect cycle, named by its hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The host of every hop, from the first to the one that closed the cycle.
    pub hosts: Vec<String>,
    /// The hop where the cycle starts (its host is the one the cycle comes back to).
    pub start: usize,
    /// The hop that comes back to it.
    pub end: usize,
    /// How it was seen.
    pub kind: CycleKind,
    /// Cookies set in the cycle that hosts of the chain do not get.
    pub cookie_notes: Vec<CookieNote>,
}

impl Cycle {
    /// The hosts of the cycle itself, from its start to its return (`console → sso → console`).
    pub fn cycle_hosts(&self) -> &[String] {
        &self.hosts[self.start..=self.end]
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == 0 && self.end + 1 == self.hosts.len() {
            // The whole chain is the cycle: naming it twice says nothing more.
            write!(
                formatter,
                "{} (the cycle starts at the route's own URL, hop 0)",
                self.hosts.join(" → ")
            )?;
        } else {
            write!(
                formatter,
                "{} (the cycle starts at hop {}: {})",
                self.hosts.join(" → "),
                self.start,
                self.cycle_hosts().join(" → ")
            )?;
        }
        for note in &self.cookie_notes {
            write!(
                formatter,
                "; the cookie `{}` set at hop {} is for `{}`, never sent to {}",
                note.name,
                note.hop,
                note.domain,
                note.not_sent_to
                    .iter()
                    .map(|host| format!("`{host}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    }
}

/// What [`judge`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The route arrived, after this many hops.
    Arrived {
        /// The hops of the chain.
        hops: usize,
    },
    /// `redirect-loop`: the chain cycles.
    RedirectLoop(Cycle),
    /// The chain reached the hop limit still redirecting, with no cycle seen.
    HopLimit {
        /// The limit.
        limit: usize,
        /// The host of every hop.
        hosts: Vec<String>,
    },
    /// The chain ended elsewhere than the route must arrive.
    WrongLanding {
        /// The last URL requested.
        final_url: Url,
        /// Its status.
        status: u16,
        /// What did not match, in words.
        mismatches: Vec<String>,
    },
    /// Nothing can be judged.
    Inconclusive {
        /// Why.
        why: String,
    },
}

impl fmt::Display for Judgement {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judgement::Arrived { hops } => write!(formatter, "arrived after {hops} hop(s)"),
            Judgement::RedirectLoop(cycle) => write!(formatter, "redirects in a cycle: {cycle}"),
            Judgement::HopLimit { limit, hosts } => write!(
                formatter,
                "still redirecting after the hop limit ({limit}), with no cycle seen: {}",
                hosts.join(" → ")
            ),
            Judgement::WrongLanding {
                final_url,
                status,
                mismatches,
            } => write!(
                formatter,
                "landed on {final_url} ({status}), not where the route must arrive: {}",
                mismatches.join("; ")
            ),
            Judgement::Inconclusive { why } => write!(formatter, "inconclusive: {why}"),
        }
    }
}

/// Judges a probe's chain: loops first, then the hop limit, then where it landed. Hops after
/// the first `hop_limit` are not read.
pub fn judge(hops: &[Hop], hop_limit: usize, arrival: &Arrival) -> Judgement {
    let hops = &hops[..hops.len().min(hop_limit)];
    let Some(first) = hops.first() else {
        return Judgement::Inconclusive {
            why: "the probe saw no hop".to_string(),
        };
    };
    // The chain ends at the first hop that is not followed.
    let end = hops
        .iter()
        .position(|hop| !hop.is_redirect())
        .unwrap_or(hops.len() - 1);
    let chain = &hops[..=end];
    if let Some(cycle) = find_cycle(chain) {
        return Judgement::RedirectLoop(cycle);
    }
    let last = &chain[chain.len() - 1];
    if last.is_redirect() {
        if hops.len() >= hop_limit {
            return Judgement::HopLimit {
                limit: hop_limit,
                hosts: hosts_of(chain),
            };
        }
        return Judgement::Inconclusive {
            why: format!(
                "the chain stops at hop {} with a redirect, before the hop limit ({hop_limit}): the probe did not follow it",
                chain.len() - 1
            ),
        };
    }
    // Each hop's URL is the previous Location resolved; a Location that is not a URL ends it.
    let mut mismatches = Vec::new();
    match arrival.status {
        Some(status) if status != last.status => {
            mismatches.push(format!("status {} (the route wants {status})", last.status))
        }
        None if !(200..300).contains(&last.status) => {
            mismatches.push(format!("status {} (the route wants a 2xx)", last.status))
        }
        _ => {}
    }
    let want_host = arrival
        .final_host
        .clone()
        .unwrap_or_else(|| first.url.host().to_string());
    if !last.url.host().eq_ignore_ascii_case(&want_host) {
        mismatches.push(format!(
            "host `{}`, another service than the route's `{want_host}`",
            last.url.host()
        ));
    }
    if let Some((name, value)) = &arrival.header {
        let seen = last.headers.iter().any(|(header, text)| {
            header.eq_ignore_ascii_case(name) && text.contains(value.as_str())
        });
        if !seen {
            mismatches.push(format!("no header `{name}` containing `{value}`"));
        }
    }
    if let Some(marker) = &arrival.body_marker {
        if !last.body_sample.contains(marker.as_str()) {
            mismatches.push(format!("the body does not contain `{marker}`"));
        }
    }
    if mismatches.is_empty() {
        Judgement::Arrived { hops: chain.len() }
    } else {
        Judgement::WrongLanding {
            final_url: last.url.clone(),
            status: last.status,
            mismatches,
        }
    }
}

/// The total time of the chain's requests.
pub fn elapsed_millis(hops: &[Hop]) -> u64 {
    hops.iter().map(|hop| hop.elapsed_millis).sum()
}

fn hosts_of(hops: &[Hop]) -> Vec<String> {
    hops.iter().map(|hop| hop.url.host().to_string()).collect()
}

/// The earliest cycle of the chain. At each hop that is itself redirected (a final landing
/// closes no cycle): the hop requests the scheme, host, port and path of an earlier hop and is
/// redirected to the same scheme, host, port and path as that hop was (the same request, the
/// same answer: nothing progressed, whatever the query or cookies); else the redirect into it,
/// from one host to another, repeats an earlier one.
fn find_cycle(chain: &[Hop]) -> Option<Cycle> {
    let targets: Vec<Option<Url>> = chain
        .iter()
        .map(|hop| {
            hop.location
                .as_deref()
                .and_then(|location| hop.url.join(location).ok())
        })
        .collect();
    let same_target = |a: usize, b: usize| match (&targets[a], &targets[b]) {
        (Some(first), Some(second)) => first.place_key() == second.place_key(),
        _ => false,
    };
    for revisit in 1..chain.len() {
        if !chain[revisit].is_redirect() {
            continue;
        }
        let url = &chain[revisit].url;
        let earlier = (0..revisit).find(|&index| {
            chain[index].url.place_key() == url.place_key() && same_target(index, revisit)
        });
        let found = match earlier {
            Some(start) if chain[start].url == *url => Some((start, revisit, CycleKind::SameUrl)),
            Some(start) => Some((start, revisit, CycleKind::SamePathOtherQuery)),
            None => {
                let from = chain[revisit - 1].url.host();
                let to = url.host();
                (from != to)
                    .then(|| {
                        (1..revisit).find(|&index| {
                            chain[index - 1].url.host() == from && chain[index].url.host() == to
                        })
                    })
                    .flatten()
                    .map(|index| (index - 1, revisit - 1, CycleKind::HostToHost))
            }
        };
        if let Some((start, end, kind)) = found {
            let hosts = hosts_of(&chain[..=revisit]);
            let cookie_notes = cookie_notes(&chain[start..=revisit], start, &hosts);
            return Some(Cycle {
                hosts,
                start,
                end,
                kind,
                cookie_notes,
            });
        }
    }
    None
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn cookie_notes(cycle: &[Hop], offset: usize, hosts: &[String]) -> Vec<CookieNote> {
    let mut notes = Vec::new();
    for (index, hop) in cycle.iter().enumerate() {
        for cookie in &hop.cookies {
            let domain = cookie
                .domain
                .clone()
                .unwrap_or_else(|| hop.url.host().to_string());
            let mut not_sent_to: Vec<String> = hosts
                .iter()
                .filter(|host| !domain_matches(host, &domain))
                .cloned()
                .collect();
            not_sent_to.dedup();
            not_sent_to.sort();
            not_sent_to.dedup();
            if !not_sent_to.is_empty() {
                notes.push(CookieNote {
                    hop: offset + index,
                    name: cookie.name.clone(),
                    domain,
                    not_sent_to,
                });
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    /// A chain from `(url, status, location)` triples.
    fn chain(steps: &[(&str, u16, Option<&str>)]) -> Vec<Hop> {
        steps
            .iter()
            .map(|(text, status, location)| Hop {
                url: url(text),
                status: *status,
                location: location.map(str::to_string),
                cookies: Vec::new(),
                headers: Vec::new(),
                body_sample: String::new(),
                elapsed_millis: 3,
            })
            .collect()
    }

    #[test]
    fn locations_resolve_against_the_hop() {
        let base = url("http://Console.Apps.Lab:80/a/b/c?x=1#f");
        assert_eq!(base.to_string(), "http://console.apps.lab/a/b/c?x=1");
        let cases = [
            (
                "https://sso.lab/login?state=1",
                "https://sso.lab/login?state=1",
            ),
            ("//sso.lab:8443/x", "http://sso.lab:8443/x"),
            (
                "/callback?token=2",
                "http://console.apps.lab/callback?token=2",
            ),
            ("d", "http://console.apps.lab/a/b/d"),
            ("../d/./e", "http://console.apps.lab/a/d/e"),
            ("?y=2", "http://console.apps.lab/a/b/c?y=2"),
            ("", "http://console.apps.lab/a/b/c?x=1"),
            ("http://[::1]:8080", "http://[::1]:8080/"),
        ];
        for (location, expected) in cases {
            let joined = base.join(location).map(|joined| joined.to_string());
            assert_eq!(joined.as_deref(), Ok(expected), "{location}");
        }
        for bad in ["mailto:a@b", "http://", "http://h:99999/", "http://[::1/"] {
            assert!(base.join(bad).is_err(), "{bad}");
        }
    }

    /// A cycle that starts at the route's own URL is named once, not twice.
    #[test]
    fn a_cycle_from_the_first_hop_is_named_once() {
        let hops = chain(&[
            (
                "http://console.apps.lab/",
                302,
                Some("http://sso.lab/login"),
            ),
            (
                "http://sso.lab/login",
                302,
                Some("http://console.apps.lab/"),
            ),
            (
                "http://console.apps.lab/",
                302,
                Some("http://sso.lab/login"),
            ),
        ]);
        let judgement = judge(&hops, 10, &Arrival::default());
        assert_eq!(
            judgement.to_string(),
            "redirects in a cycle: console.apps.lab → sso.lab → console.apps.lab (the cycle starts \
             at the route's own URL, hop 0)"
        );
    }

    /// Incident E: app-1's name fell through to the console, which sends to SSO, which sends
    /// back to the console with a fresh token each time.
    #[test]
    fn redirect_loop_names_incident_e_cycle() {
        let mut hops = chain(&[
            (
                "http://app-1.apps.lab/",
                302,
                Some("http://sso.lab/authorize?state=a"),
            ),
            (
                "http://sso.lab/authorize?state=a",
                302,
                Some("http://app-1.apps.lab/callback?token=1"),
            ),
            (
                "http://app-1.apps.lab/callback?token=1",
                302,
                Some("http://sso.lab/authorize?state=b"),
            ),
            (
                "http://sso.lab/authorize?state=b",
                302,
                Some("http://app-1.apps.lab/callback?token=2"),
            ),
        ]);
        hops[2].cookies.push(SetCookie {
            name: "session".into(),
            domain: Some("console.apps.lab".into()),
        });
        let judgement = judge(&hops, 10, &Arrival::default());
        let Judgement::RedirectLoop(cycle) = &judgement else {
            panic!("expected a loop, got {judgement}");
        };
        assert_eq!(cycle.start, 1);
        assert_eq!(cycle.kind, CycleKind::SamePathOtherQuery);
        assert_eq!(
            cycle.cycle_hosts(),
            ["sso.lab", "app-1.apps.lab", "sso.lab"]
        );
        assert_eq!(
            judgement.to_string(),
            "redirects in a cycle: app-1.apps.lab → sso.lab → app-1.apps.lab → sso.lab (the cycle starts at hop 1: sso.lab → app-1.apps.lab → sso.lab); the cookie `session` set at hop 2 is for `console.apps.lab`, never sent to `app-1.apps.lab`, `sso.lab`"
        );
    }

    /// A login round trip that comes back to `/` is no loop: it lands there, or `/` now sends
    /// it elsewhere than the first time.
    #[test]
    fn a_login_round_trip_back_to_the_start_is_no_loop() {
        let landed = chain(&[
            (
                "http://app-1.apps.lab/",
                302,
                Some("http://sso.lab/authorize?state=a"),
            ),
            (
                "http://sso.lab/authorize?state=a",
                302,
                Some("http://app-1.apps.lab/callback?code=1"),
            ),
            ("http://app-1.apps.lab/callback?code=1", 302, Some("/")),
            ("http://app-1.apps.lab/", 200, None),
        ]);
        assert_eq!(
            judge(&landed, 10, &Arrival::default()),
            Judgement::Arrived { hops: 4 }
        );
        let mut sent_on = landed.clone();
        sent_on[3].status = 302;
        sent_on[3].location = Some("/home".into());
        sent_on.extend(chain(&[("http://app-1.apps.lab/home", 200, None)]));
        assert_eq!(
            judge(&sent_on, 10, &Arrival::default()),
            Judgement::Arrived { hops: 5 }
        );
    }

    #[test]
    fn a_cycle_between_hosts_with_changing_paths_is_named() {
        let hops = chain(&[
            (
                "http://app-1.apps.lab/",
                302,
                Some("http://console.apps.lab/login/1"),
            ),
            (
                "http://console.apps.lab/login/1",
                302,
                Some("http://sso.lab/auth/1"),
            ),
            (
                "http://sso.lab/auth/1",
                302,
                Some("http://console.apps.lab/login/2"),
            ),
            (
                "http://console.apps.lab/login/2",
                302,
                Some("http://sso.lab/auth/2"),
            ),
            (
                "http://sso.lab/auth/2",
                302,
                Some("http://console.apps.lab/login/3"),
            ),
        ]);
        match judge(&hops, 10, &Arrival::default()) {
            Judgement::RedirectLoop(cycle) => {
                assert_eq!(cycle.kind, CycleKind::HostToHost);
                assert_eq!(cycle.start, 1);
                assert_eq!(
                    cycle.cycle_hosts(),
                    ["console.apps.lab", "sso.lab", "console.apps.lab"]
                );
            }
            other => panic!("expected a loop, got {other}"),
        }
    }

    #[test]
    fn hop_limit_wrong_landing_arrival_and_inconclusive() {
        let long = chain(&[
            ("http://a.lab/1", 301, Some("/2")),
            ("http://a.lab/2", 301, Some("/3")),
            ("http://a.lab/3", 301, Some("/4")),
        ]);
        assert!(matches!(
            judge(&long, 3, &Arrival::default()),
            Judgement::HopLimit { limit: 3, .. }
        ));
        assert!(matches!(
            judge(&long, 5, &Arrival::default()),
            Judgement::Inconclusive { .. }
        ));
        assert!(matches!(
            judge(&[], 5, &Arrival::default()),
            Judgement::Inconclusive { .. }
        ));

        let landed = chain(&[
            (
                "http://app-1.apps.lab/",
                302,
                Some("http://console.apps.lab/"),
            ),
            ("http://console.apps.lab/", 200, None),
        ]);
        match judge(&landed, 10, &Arrival::default()) {
            Judgement::WrongLanding { mismatches, .. } => {
                assert_eq!(mismatches, ["host `console.apps.lab`, another service than the route's `app-1.apps.lab`"]);
            }
            other => panic!("expected a wrong landing, got {other}"),
        }
        let mut arrived = chain(&[("http://app-1.apps.lab/", 200, None)]);
        arrived[0]
            .headers
            .push(("X-Service".into(), "app-1".into()));
        arrived[0].body_sample = "hello from app-1".into();
        let arrival = Arrival {
            status: Some(200),
            final_host: None,
            header: Some(("x-service".into(), "app-1".into())),
            body_marker: Some("app-1".into()),
        };
        assert_eq!(
            judge(&arrived, 10, &arrival),
            Judgement::Arrived { hops: 1 }
        );
        let wrong_marker = Arrival {
            body_marker: Some("console".into()),
            ..arrival
        };
        assert!(matches!(
            judge(&arrived, 10, &wrong_marker),
            Judgement::WrongLanding { .. }
        ));
    }

    fn host_name() -> impl Strategy<Value = String> {
        "[a-z]{1,6}(\\.[a-z]{1,4})?"
    }

    proptest! {
        /// Any chain that revisits a host-path pair and is redirected from it as the first time is
        /// a loop naming exactly the hosts from the first visit to the revisit (distinct hosts
        /// before it, so no earlier host-to-host repeat).
        #[test]
        fn a_revisited_host_path_is_a_loop_naming_exactly_its_hosts(
            hosts in proptest::collection::btree_set(host_name(), 1..9),
            start_seed in any::<usize>(),
            query in "[a-z0-9]{0,5}",
        ) {
            let hosts: Vec<String> = hosts.into_iter().collect();
            let start = start_seed % hosts.len();
            let mut urls: Vec<String> = hosts.iter().map(|host| format!("http://{host}/p")).collect();
            urls.push(format!("http://{}/p?q={query}", hosts[start]));
            let hops: Vec<Hop> = urls
                .iter()
                .enumerate()
                .map(|(index, text)| Hop {
                    url: url(text),
                    status: 302,
                    // The revisit is sent where the first visit was, with a fresh query.
                    location: Some(match urls.get(index + 1) {
                        Some(next) => next.clone(),
                        None => format!("{}?again=1", urls[start + 1]),
                    }),
                    cookies: Vec::new(),
                    headers: Vec::new(),
                    body_sample: String::new(),
                    elapsed_millis: 1,
                })
                .collect();
            let judgement = judge(&hops, hops.len(), &Arrival::default());
            let Judgement::RedirectLoop(cycle) = judgement else {
                return Err(TestCaseError::fail(format!("not a loop: {judgement}")));
            };
            prop_assert_eq!(cycle.start, start);
            prop_assert_eq!(cycle.end, hosts.len());
            let mut expected: Vec<String> = hosts[start..].to_vec();
            expected.push(hosts[start].clone());
            prop_assert_eq!(cycle.cycle_hosts(), expected.as_slice());
        }

        /// Every chain no longer than the hop limit is judged without a panic, and the hop-limit
        /// verdict comes only when the limit was reached.
        #[test]
        fn any_chain_is_judged(
            steps in proptest::collection::vec((host_name(), "[a-z/]{0,4}", prop_oneof![Just(200u16), Just(302), Just(404), Just(301)], any::<bool>()), 0..12),
            limit in 1usize..12,
        ) {
            let hops: Vec<Hop> = steps
                .iter()
                .map(|(host, path, status, has_location)| Hop {
                    url: url(&format!("http://{host}/{path}")),
                    status: *status,
                    location: has_location.then(|| "/next".to_string()),
                    cookies: vec![SetCookie { name: "c".into(), domain: Some(host.clone()) }],
                    headers: Vec::new(),
                    body_sample: String::new(),
                    elapsed_millis: 1,
                })
                .collect();
            let judgement = judge(&hops, limit, &Arrival::default());
            if let Judgement::HopLimit { hosts, .. } = &judgement {
                prop_assert_eq!(hosts.len(), limit);
            }
            if let Judgement::RedirectLoop(cycle) = &judgement {
                prop_assert!(cycle.end < limit.min(hops.len()));
                prop_assert_eq!(&cycle.hosts[cycle.start], &cycle.hosts[cycle.end]);
            }
        }

        /// Any text as a URL or a `Location` is parsed or refused, never a panic.
        #[test]
        fn any_location_is_joined_or_refused(text in "\\PC{0,40}", base in "http://[a-z]{1,5}/[a-z/]{0,6}") {
            let _ = Url::parse(&text);
            let _ = url(&base).join(&text);
        }

        /// A joined URL prints as a URL that parses back to itself.
        #[test]
        fn joined_urls_round_trip(
            base in "http://[a-z]{1,5}(:[0-9]{1,4})?(/[a-z.]{0,3}){0,3}",
            location in "(/|\\.\\./|\\./|\\?|//[a-z]{1,3}/)?[a-z.]{0,4}(/[a-z.]{0,3}){0,2}",
        ) {
            let base = url(&base);
            if let Ok(joined) = base.join(&location) {
                prop_assert_eq!(Url::parse(&joined.to_string()), Ok(joined));
            }
        }
    }
}
