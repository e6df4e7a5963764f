//! Route probes (issue 14, incident E): one route's redirect chain, followed by hadome itself,
//! as a [`RouteProbe`] that [`hadome_core::route::judge`] reads.
//!
//! In incident E a route's requests looped between the PaaS console and the SSO service until
//! the SSO service fell over. A probe of such a route must see the loop without becoming its
//! hammer. The rules, in MUST language:
//! - A probe MUST send one HTTP/1.1 `GET` per hop, on a connection of its own (`Connection:
//!   close`, `User-Agent: hadome-probe`), and MUST NOT retry a hop.
//! - A probe MUST send at most `route.hop_limit` requests. It MUST stop at the first response
//!   that is not a redirect ([`Hop::is_redirect`]: a 301, 302, 303, 307 or 308 with a
//!   `Location`), at the hop limit, or when the probe `timeout` runs out as a whole; then
//!   [`RouteProbe::failed`] says it timed out and the hops answered before are kept.
//! - The next hop's URL MUST be the `Location` resolved against the hop's URL
//!   ([`Url::join`]); a `Location` that is not such a URL MUST end the probe with `failed`
//!   naming it.
//! - With `route.connect_to` (`"127.0.0.1:8080"`), every hop MUST connect there, the `Host`
//!   header staying the hop URL's; without it, each hop MUST resolve its URL's host (the system
//!   resolver, through tokio) and connect to the URL's port.
//! - Each hop MUST record its URL, status, raw `Location`, the cookies it set
//!   ([`SetCookie`]: the `Domain` attribute lowercased without its leading dot, `None` when
//!   absent), every response header, at most [`BODY_SAMPLE_BYTES`] of its body read (lossy
//!   UTF-8) and how long it took.
//! - A probe MUST keep a cookie jar of its own (`cookie.rs`, RFC 6265 domain matching) and send
//!   each hop the cookies earlier hops set for its host; nothing is kept between probes.
//! - `observed_at` MUST be the wall-clock time the probe started.
//! - An `https` hop MUST fail with "https probes are not supported yet": hadome has no TLS
//!   client for routes yet, and a hop it cannot make must not read as an answer.
//!
//! A request that gets no response (refused, reset, timed out, https) ends the probe with
//! `failed` naming the URL and why; a probe never errs and never panics on what a server says.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hadome_core::estate::Estate;
use hadome_core::route::{Hop, SetCookie, Url};
use hadome_core::web::{Route, RouteProbe};
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderValue, COOKIE, HOST, LOCATION, SET_COOKIE};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cookie::{parse_set_cookie, Jar};

/// The most of a hop's body a probe reads (4 KiB).
pub const BODY_SAMPLE_BYTES: usize = 4096;

/// The `User-Agent` every probe request carries.
pub const USER_AGENT: &str = "hadome-probe";

/// Probes every route of `estate` concurrently, each bounded by `probe_timeout_seconds`.
///
/// Every route gets a [`RouteProbe`]; a probe that could not run (a bad timeout setting, a bug
/// that panicked) has no hops and says why in `failed`. It must run inside a tokio runtime.
pub async fn observe_routes(estate: &Estate) -> BTreeMap<String, RouteProbe> {
    let mut probes = BTreeMap::new();
    let timeout = match crate::web::probe_bound(estate) {
        Ok(timeout) => timeout,
        Err(why) => {
            for route in &estate.web.routes {
                probes.insert(route.name.clone(), not_probed(why.clone()));
            }
            return probes;
        }
    };
    let mut tasks = JoinSet::new();
    let mut names = BTreeMap::new();
    for route in &estate.web.routes {
        let owned = route.clone();
        let handle = tasks.spawn(async move {
            let probe = probe_route(&owned, timeout).await;
            (owned.name, probe)
        });
        names.insert(handle.id(), route.name.clone());
    }
    crate::join_probes(tasks, &names, not_probed).await
}

fn not_probed(why: String) -> RouteProbe {
    RouteProbe {
        observed_at: crate::now(),
        hops: Vec::new(),
        failed: Some(why),
    }
}

/// Probes one route: follows its redirect chain, one request per hop, within `timeout` as a
/// whole and at most `route.hop_limit` requests (see the module's rules).
pub async fn probe_route(route: &Route, timeout: Duration) -> RouteProbe {
    let observed_at = crate::now();
    let deadline = Instant::now() + timeout;
    let mut hops: Vec<Hop> = Vec::new();
    let mut jar = Jar::default();
    let mut url = route.url.clone();
    let failed = loop {
        if hops.len() >= route.hop_limit {
            break (route.hop_limit == 0)
                .then(|| format!("no request sent to {url}: the route's hop_limit is 0"));
        }
        let cookie = jar.header_for(url.host());
        let sent =
            tokio::time::timeout_at(deadline, request(&url, route.connect_to.as_deref(), cookie))
                .await;
        let answer = match sent {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => break Some(format!("GET {url}: {why}")),
            Err(_) => {
                break Some(format!(
                    "GET {url}: no answer within the probe timeout ({}; {} hop(s) answered before)",
                    crate::seconds(timeout),
                    hops.len()
                ))
            }
        };
        for cookie in &answer.cookies {
            jar.store(url.host(), cookie);
        }
        let hop = Hop {
            url: url.clone(),
            status: answer.status,
            location: answer.location,
            cookies: answer
                .cookies
                .iter()
                .map(|cookie| cookie.reported())
                .collect::<Vec<SetCookie>>(),
            headers: answer.headers,
            body_sample: answer.body_sample,
            elapsed_millis: answer.elapsed_millis,
        };
        let next = match (&hop.location, hop.is_redirect()) {
            (Some(location), true) => Some(url.join(location)),
            _ => None,
        };
        hops.push(hop);
        match next {
            None => break None,
            Some(Ok(joined)) => url = joined,
            Some(Err(error)) => {
                break Some(format!(
                    "hop {}: its `Location` cannot be followed: {error}",
                    hops.len() - 1
                ))
            }
        }
    };
    RouteProbe {
        observed_at,
        hops,
        failed,
    }
}

/// What one hop's response said.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    cookies: Vec<crate::cookie::ParsedCookie>,
    headers: Vec<(String, String)>,
    body_sample: String,
    elapsed_millis: u64,
}

/// One request, on a connection of its own: connect, send, read the head and at most
/// [`BODY_SAMPLE_BYTES`] of the body. The caller bounds it in time.
async fn request(
    url: &Url,
    connect_to: Option<&str>,
    cookie: Option<String>,
) -> Result<Answer, String> {
    if url.scheme() != "http" {
        return Err("https probes are not supported yet: probe the route over `http://` (or through `connect_to` an nginx that answers it on http)".to_owned());
    }
    let started = Instant::now();
    let target = match connect_to {
        Some(address) => address.to_owned(),
        None => format!("{}:{}", url.host(), url.port()),
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(target.as_str())
        .await
        .map_err(|error| format!("cannot resolve `{target}`: {error}"))?
        .collect();
    let stream = TcpStream::connect(addresses.as_slice())
        .await
        .map_err(|error| format!("cannot connect to `{target}`: {error}"))?;
    let request = build_request(url, cookie)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("the HTTP handshake with `{target}` failed: {error}"))?;
    // The connection is driven here, not in a task of its own: when the probe's bound drops this
    // future, the socket closes and nothing outlives the probe.
    let mut connection = std::pin::pin!(connection);
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| describe(&error))?;
        let (parts, mut body) = response.into_parts();
        let mut sample: Vec<u8> = Vec::new();
        while sample.len() < BODY_SAMPLE_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        sample.extend_from_slice(data);
                    }
                }
                // A body cut short still leaves what came: the head answered the hop.
                Some(Err(_)) | None => break,
            }
        }
        sample.truncate(BODY_SAMPLE_BYTES);
        Ok::<_, String>((parts, sample))
    };
    let mut exchange = std::pin::pin!(exchange);
    let (parts, sample) = tokio::select! {
        biased;
        answered = &mut exchange => answered?,
        ended = &mut connection => {
            // The connection may end (`Connection: close`) with the response already read.
            match (exchange.await, ended) {
                (Ok(answered), _) => answered,
                (Err(_), Err(error)) => return Err(describe(&error)),
                (Err(why), Ok(())) => return Err(why),
            }
        }
    };
    Ok(Answer {
        status: parts.status.as_u16(),
        location: parts.headers.get(LOCATION).map(header_text),
        cookies: parts
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| parse_set_cookie(&header_text(value)))
            .collect(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), header_text(value)))
            .collect(),
        body_sample: String::from_utf8_lossy(&sample).into_owned(),
        elapsed_millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The `GET` for `url`: origin-form target, `Host` with the port when not the scheme's.
fn build_request(
    url: &Url,
    cookie: Option<String>,
) -> Result<hyper::Request<Empty<Bytes>>, String> {
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let default_port = if url.scheme() == "https" { 443 } else { 80 };
    let host = if url.port() == default_port {
        url.host().to_owned()
    } else {
        format!("{}:{}", url.host(), url.port())
    };
    let mut builder = hyper::Request::get(target.as_str())
        .header(HOST, host)
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(hyper::header::CONNECTION, "close")
        .header(hyper::header::ACCEPT, "*/*");
    if let Some(cookie) = cookie {
        builder = builder.header(COOKIE, cookie);
    }
    builder
        .body(Empty::new())
        .map_err(|error| format!("cannot build a request for `{url}`: {error}"))
}

/// A header value as text (bytes that are not UTF-8 replaced).
fn header_text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// An error with its causes (hyper's own text is often only "connection error").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn requests_carry_host_agent_close_and_cookies() {
        let request = build_request(
            &url("http://App-1.apps.lab:8080/a/b?x=1#frag"),
            Some("s=1".into()),
        )
        .expect("a request");
        assert_eq!(request.uri(), "/a/b?x=1");
        let headers = request.headers();
        assert_eq!(headers[HOST], "app-1.apps.lab:8080");
        assert_eq!(headers[hyper::header::USER_AGENT], "hadome-probe");
        assert_eq!(headers[hyper::header::CONNECTION], "close");
        assert_eq!(headers[COOKIE], "s=1");
        let plain = build_request(&url("http://console.apps.lab"), None).expect("a request");
        assert_eq!(plain.uri(), "/");
        assert_eq!(plain.headers()[HOST], "console.apps.lab");
        assert!(plain.headers().get(COOKIE).is_none());
        let v6 = build_request(&url("http://[::1]:81/"), None).expect("a request");
        assert_eq!(v6.headers()[HOST], "[::1]:81");
    }

    #[test]
    fn header_values_are_read_lossily() {
        let value = HeaderValue::from_bytes(b"caf\xe9").expect("a header value");
        assert_eq!(header_text(&value), "caf\u{fffd}");
    }

    #[tokio::test]
    async fn https_hops_fail_saying_so() {
        let route = Route {
            name: "secure".into(),
            url: url("https://127.0.0.1:1/"),
            service: "app".into(),
            arrival: Default::default(),
            hop_limit: 3,
            connect_to: None,
        };
        let probe = probe_route(&route, Duration::from_secs(1)).await;
        assert!(probe.hops.is_empty());
        let failed = probe.failed.expect("failed");
        assert!(
            failed.contains("https probes are not supported yet"),
            "{failed}"
        );
    }
}
