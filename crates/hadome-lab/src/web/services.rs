//! The showcase's services: the console, the SSO and the apps, each a `hadome lab web-service`
//! process (hyper, HTTP/1.1) on a loopback address of the namespace. Every answer carries
//! `X-Hadome-Service: NAME`, so a probe can tell where it landed.
//!
//! - console: without its cookie, 302 to `http://sso.lab/login?return=<the full original URL>`;
//!   `/callback?token=T&return=R` sets its cookie (Domain `console.apps.lab`) and 302s to `R`;
//!   with its cookie, 200 `console`.
//! - sso: `/login?return=R` issues a token and 302s to the console's `/callback`; it counts its
//!   logins (`GET /stats` → `{"logins": N}`), so a loop's hammering can be measured.
//! - app: 200 with its name in the header and the body.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};

use super::{ns, WebState, CONSOLE_HOST, SSO_HOST};
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// The console's session cookie.
const CONSOLE_COOKIE: &str = "hadome_console";

/// What a showcase service does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceRole {
    /// The PaaS console: redirects to the SSO without its cookie.
    Console,
    /// The SSO: issues a token and redirects back to the console.
    Sso,
    /// An app: answers 200 with its marker.
    App,
}

impl ServiceRole {
    /// The role as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceRole::Console => "console",
            ServiceRole::Sso => "sso",
            ServiceRole::App => "app",
        }
    }

    /// Parses `console`, `sso` or `app`.
    pub fn parse(text: &str) -> Option<ServiceRole> {
        match text {
            "console" => Some(ServiceRole::Console),
            "sso" => Some(ServiceRole::Sso),
            "app" => Some(ServiceRole::App),
            _ => None,
        }
    }
}

fn pid_file(web: &WebState, name: &str) -> PathBuf {
    web.run_dir().join(format!("{name}.pid"))
}

/// A service's PID, when it runs.
pub(crate) fn pid(web: &WebState, name: &str) -> Option<i32> {
    ns::pid_from_file(&pid_file(web, name), &format!("--name {name} ")).filter(|pid| {
        crate::process::cmdline(*pid)
            .is_some_and(|line| line.contains(&web.home.display().to_string()))
    })
}

/// Starts service `name` inside the namespace and returns its listen address once it listens
/// there (its socket in `/proc/PID/net/tcp`, the namespace's own table).
pub(crate) async fn start(
    web: &WebState,
    holder: i32,
    hadome: &Path,
    name: &str,
    timeout: Duration,
) -> Result<String, LabError> {
    let (role, listen) = web.service(name).ok_or_else(|| LabError::UnknownNode {
        name: name.to_owned(),
        known: web.service_names(),
    })?;
    let mut command = ns::command(holder, &hadome.display().to_string());
    command
        .args([
            "lab",
            "web-service",
            "--role",
            role.as_str(),
            "--name",
            name,
            "--listen",
        ])
        .arg(&listen)
        .arg("--home")
        .arg(&web.home);
    let log = web.home.join("logs").join(format!("{name}.log"));
    let pid = ns::spawn(command, &format!("service `{name}`"), &log)?;
    ns::write_pid(&pid_file(web, name), pid)?;
    let wanted = tcp_hex(&listen)?;
    poll_until(
        name,
        &format!("`{name}` to listen on {listen}"),
        timeout,
        || async {
            if !crate::process::is_alive(pid) {
                return Err(LabError::Command {
                    what: format!("service `{name}`"),
                    program: hadome.display().to_string(),
                    status: "an early exit".to_owned(),
                    stderr: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
            Ok(if listening(&table, &wanted) {
                Poll::Done(())
            } else {
                Poll::NotYet("not listening yet".to_owned())
            })
        },
    )
    .await?;
    Ok(listen)
}

/// `127.0.0.10:3000` as `/proc/net/tcp` writes it: `0A00007F:0BB8`.
fn tcp_hex(listen: &str) -> Result<String, LabError> {
    let address: std::net::SocketAddrV4 = listen
        .parse()
        .map_err(|_| LabError::Bug(format!("`{listen}` is not an IPv4 socket address")))?;
    let octets = address.ip().octets();
    Ok(format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(octets),
        address.port()
    ))
}

/// Whether `/proc/PID/net/tcp` has a listening socket (state `0A`) on `local`.
fn listening(table: &str, local: &str) -> bool {
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&local) && fields.get(3) == Some(&"0A")
    })
}

struct Service {
    role: ServiceRole,
    name: String,
    logins: AtomicU64,
}

/// Runs a showcase service (`hadome lab web-service`, started by the lab inside its namespace)
/// until it is ended by a signal.
pub async fn serve_service(role: ServiceRole, name: &str, listen: &str) -> Result<(), LabError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| LabError::Io {
            action: "listen on",
            path: PathBuf::from(listen),
            source,
        })?;
    let service = Arc::new(Service {
        role,
        name: name.to_owned(),
        logins: AtomicU64::new(0),
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                let service = Arc::clone(&service);
                async move { Ok::<_, Infallible>(answer(&service, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), handler)
                .await;
        });
    }
}

fn answer(service: &Service, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query = request.uri().query().unwrap_or("");
    let path = request.uri().path();
    match service.role {
        ServiceRole::App => reply(
            service,
            StatusCode::OK,
            format!("{}\n", service.name),
            None,
            None,
        ),
        ServiceRole::Sso if path == "/stats" => reply(
            service,
            StatusCode::OK,
            format!(
                "{{\"logins\": {}}}\n",
                service.logins.load(Ordering::SeqCst)
            ),
            None,
            None,
        ),
        ServiceRole::Sso if path == "/login" => {
            let issued = service.logins.fetch_add(1, Ordering::SeqCst) + 1;
            let back = param(query, "return").unwrap_or_default();
            let location = format!(
                "http://{CONSOLE_HOST}/callback?token=t{issued}&return={}",
                encode(&back)
            );
            reply(
                service,
                StatusCode::FOUND,
                "login\n".to_owned(),
                Some(location),
                None,
            )
        }
        ServiceRole::Sso => reply(
            service,
            StatusCode::NOT_FOUND,
            "sso: /login or /stats\n".to_owned(),
            None,
            None,
        ),
        ServiceRole::Console if path == "/callback" => {
            match (param(query, "token"), param(query, "return")) {
                (Some(token), Some(back)) => reply(
                    service,
                    StatusCode::FOUND,
                    "signed in\n".to_owned(),
                    Some(back),
                    Some(format!(
                        "{CONSOLE_COOKIE}={token}; Domain={CONSOLE_HOST}; Path=/; HttpOnly"
                    )),
                ),
                _ => reply(
                    service,
                    StatusCode::BAD_REQUEST,
                    "callback needs token and return\n".to_owned(),
                    None,
                    None,
                ),
            }
        }
        ServiceRole::Console => {
            let signed_in = request
                .headers()
                .get_all(hyper::header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| {
                    value
                        .split(';')
                        .any(|pair| pair.trim().starts_with(&format!("{CONSOLE_COOKIE}=")))
                });
            if signed_in {
                reply(service, StatusCode::OK, "console\n".to_owned(), None, None)
            } else {
                let host = request
                    .headers()
                    .get(hyper::header::HOST)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or(CONSOLE_HOST);
                let original = format!(
                    "http://{host}{}",
                    request.uri().path_and_query().map_or("/", |pq| pq.as_str())
                );
                let location = format!("http://{SSO_HOST}/login?return={}", encode(&original));
                reply(
                    service,
                    StatusCode::FOUND,
                    "sign in first\n".to_owned(),
                    Some(location),
                    None,
                )
            }
        }
    }
}

fn reply(
    service: &Service,
    status: StatusCode,
    body: String,
    location: Option<String>,
    cookie: Option<String>,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("X-Hadome-Service", service.name.as_str())
        .header(hyper::header::CONTENT_TYPE, "text/plain");
    if let Some(location) = location {
        builder = builder.header(hyper::header::LOCATION, location);
    }
    if let Some(cookie) = cookie {
        builder = builder.header(hyper::header::SET_COOKIE, cookie);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"bad header\n"))))
}

/// A query parameter, percent-decoded.
fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(value)) => {
                out.push(value);
                index += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                index += 1;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_round_trip_through_the_query() {
        let url = "http://app-1.apps.lab/a b?x=1&y=é";
        let encoded = encode(url);
        assert!(!encoded.contains(['&', '?', ' ', '/']));
        assert_eq!(
            param(&format!("token=t1&return={encoded}"), "return").unwrap(),
            url
        );
        assert_eq!(param("token=t1", "return"), None);
    }

    #[test]
    fn proc_net_tcp_addresses_are_little_endian_hex() {
        assert_eq!(tcp_hex("127.0.0.10:3000").unwrap(), "0A00007F:0BB8");
        let table =
            "  sl  local_address rem_address   st\n   0: 0A00007F:0BB8 00000000:0000 0A 00000000\n";
        assert!(listening(table, "0A00007F:0BB8"));
        assert!(!listening(table, "0B00007F:0BB8"));
    }
}
