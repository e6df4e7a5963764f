//! A small real HTTP/1.1 server (hyper) for route probes, on `127.0.0.1:0` inside the test
//! process: it answers per a table of host (the `Host` header without its port) → behaviour and
//! records every request it was sent. Shared with `benches/route_probe.rs`.
//!
//! Every connection task lives in the server's own task set: dropping the [`Server`] aborts the
//! accept loop and with it every connection, a hung one included.

// The bench uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// What the server does for a host.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    /// A `302` to `location`, setting each `Set-Cookie` value given.
    Redirect {
        /// The `Location` (`{port}` is replaced by the server's port).
        location: String,
        /// `Set-Cookie` values.
        set_cookies: Vec<String>,
    },
    /// A final answer.
    Respond {
        /// Its status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Its body.
        body: String,
    },
    /// A `302` to the same path with `n` incremented in the query, `count` times, then `200` with
    /// `X-Service: app-1` (a chain of redirects on one host: `/?n=0` → `/?n=1` → …).
    Chain {
        /// Redirects before the final answer.
        count: usize,
    },
    /// Accepts the request and never answers.
    Hang,
}

/// One request the server got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The `Host` header, without its port.
    pub(crate) host: String,
    /// Path and query.
    pub(crate) target: String,
    /// The `Cookie` header.
    pub(crate) cookie: Option<String>,
    /// The `User-Agent` header.
    pub(crate) user_agent: Option<String>,
}

#[derive(Default)]
struct State {
    table: HashMap<String, Behaviour>,
    requests: Vec<Recorded>,
}

/// A running server; dropped, it stops.
pub(crate) struct Server {
    /// Where it listens.
    pub(crate) address: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Starts a server on a free loopback port.
    pub(crate) async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let port = address.port();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { answer(&state, port, request).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        Server {
            address,
            state,
            accept,
        }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.address.port()
    }

    /// Sets what it does for `host`.
    pub(crate) fn on(&self, host: &str, behaviour: Behaviour) {
        self.state
            .lock()
            .expect("the server's state")
            .table
            .insert(host.to_owned(), behaviour);
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state
            .lock()
            .expect("the server's state")
            .requests
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A redirect behaviour.
pub(crate) fn redirect(location: &str) -> Behaviour {
    Behaviour::Redirect {
        location: location.to_owned(),
        set_cookies: Vec::new(),
    }
}

/// A `200` with a body.
pub(crate) fn ok(body: &str) -> Behaviour {
    Behaviour::Respond {
        status: 200,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

async fn answer(
    state: &Mutex<State>,
    port: u16,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let host_header = header(hyper::header::HOST).unwrap_or_default();
    let host = match host_header.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host.to_owned(),
        _ => host_header.clone(),
    };
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let behaviour = {
        let mut state = state.lock().expect("the server's state");
        state.requests.push(Recorded {
            host: host.clone(),
            target: target.clone(),
            cookie: header(hyper::header::COOKIE),
            user_agent: header(hyper::header::USER_AGENT),
        });
        state.table.get(&host).cloned()
    };
    let mut response = Response::builder();
    let body = match behaviour {
        None => {
            response = response.status(404);
            format!("no behaviour for host `{host}`")
        }
        Some(Behaviour::Redirect {
            location,
            set_cookies,
        }) => {
            response = response
                .status(302)
                .header("location", location.replace("{port}", &port.to_string()));
            for cookie in set_cookies {
                response = response.header("set-cookie", cookie);
            }
            String::new()
        }
        Some(Behaviour::Respond {
            status,
            headers,
            body,
        }) => {
            response = response.status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            body
        }
        Some(Behaviour::Chain { count }) => {
            let n: usize = target
                .split_once("?n=")
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(0);
            if n < count {
                response = response
                    .status(302)
                    .header("location", format!("/?n={}", n + 1));
                String::new()
            } else {
                response = response.status(200).header("x-service", "app-1");
                "end of the chain".to_owned()
            }
        }
        Some(Behaviour::Hang) => std::future::pending().await,
    };
    Ok(response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}
