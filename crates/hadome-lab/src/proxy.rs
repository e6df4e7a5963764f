//! The lab proxy: the TCP ports that clients and replication links use, and the switch that cuts them.
//!
//! Lab instances listen on a Unix socket only (`listen_addresses = ''`). Everything that crosses
//! "the network" goes through this proxy, one process per lab, started by `lab up`:
//!
//! - a **client route** `client:N` per node: the port clients and hadome connect to;
//! - a **link route** `link:A:B` per ordered pair of nodes: the port standby B's `primary_conninfo`
//!   uses to stream from A. Every pair has one, so a standby repointed later still crosses a link
//!   the lab can cut;
//! - for etcd, `client:NAME` and `peer:NAME` per member, and, inside each member M's own network
//!   namespace (`netns.rs`, made by this process), `peer:X@M` per other member X on X's peer
//!   port: the link `cut A B` blocks both ways.
//!
//! Each route listens on `127.0.0.1`, on a port the kernel picks, and forwards to the target
//! instance's Unix socket. `block` closes every open connection of the route before it answers,
//! and from then on closes each new connection as soon as it is accepted, so the peer sees
//! "server closed the connection unexpectedly" and never a half-open link; `unblock` lets new
//! connections through again. That is how `cut`/`heal` (link routes) and `isolate`/`rejoin`
//! (client routes) work.
//!
//! The proxy reads `DIR/proxy.json` (its routes and namespaces), writes `DIR/proxy-ready.json` (its
//! PID, the ports it bound and the thread keeping each namespace) once every route listens, and takes line commands on the Unix socket
//! `DIR/proxy.sock`: `block ROUTE`, `unblock ROUTE`, `blocked`, `ping`. It ends on SIGTERM or SIGINT.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::LabError;

/// The routes the proxy serves, as `lab up` writes them to `DIR/proxy.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProxyConfig {
    pub(crate) routes: Vec<ProxyRoute>,
    /// The etcd members' network namespaces (`netns.rs`), each with its own routes.
    #[serde(default)]
    pub(crate) namespaces: Vec<crate::netns::NamespaceConfig>,
}

/// One route: a name and the Unix socket it forwards to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProxyRoute {
    pub(crate) name: String,
    pub(crate) target: PathBuf,
}

/// What the proxy writes to `DIR/proxy-ready.json` once it listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProxyReady {
    pub(crate) pid: i32,
    pub(crate) ports: BTreeMap<String, u16>,
    /// Member → the thread that keeps its network namespace (`/proc/PID/task/TID/ns/net`).
    #[serde(default)]
    pub(crate) namespaces: BTreeMap<String, i32>,
}

pub(crate) const CONFIG_FILE: &str = "proxy.json";
pub(crate) const READY_FILE: &str = "proxy-ready.json";
pub(crate) const CONTROL_SOCKET: &str = "proxy.sock";

/// The name of the client route of `node`.
pub(crate) fn client_route(node: &str) -> String {
    format!("client:{node}")
}

/// The name of the link route from `upstream` to `standby`.
pub(crate) fn link_route(upstream: &str, standby: &str) -> String {
    format!("link:{upstream}:{standby}")
}

struct Route {
    target: PathBuf,
    state: Mutex<RouteState>,
}

#[derive(Default)]
struct RouteState {
    blocked: bool,
    next_id: u64,
    connections: HashMap<u64, JoinHandle<()>>,
}

type Routes = Arc<BTreeMap<String, Arc<Route>>>;

fn lock(route: &Route) -> std::sync::MutexGuard<'_, RouteState> {
    // A poisoned lock means a panic while holding it; the state (a flag and a map) is still
    // usable, and a lab proxy that keeps serving is more useful than one that dies.
    route
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the proxy for the lab in `dir` until SIGTERM or SIGINT.
pub async fn serve(dir: &Path) -> Result<(), LabError> {
    let config_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|source| LabError::Io {
        action: "read proxy configuration",
        path: config_path.clone(),
        source,
    })?;
    let config: ProxyConfig = serde_json::from_str(&text).map_err(|error| LabError::State {
        path: config_path.clone(),
        message: error.to_string(),
    })?;

    let mut routes = BTreeMap::new();
    let mut ports = BTreeMap::new();
    let mut listeners = Vec::new();
    for route in config.routes {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| LabError::Io {
                action: "listen on 127.0.0.1 for route",
                path: PathBuf::from(&route.name),
                source,
            })?;
        let port = listener.local_addr().map_err(|source| LabError::Io {
            action: "read the bound port of route",
            path: PathBuf::from(&route.name),
            source,
        })?;
        ports.insert(route.name.clone(), port.port());
        let shared = Arc::new(Route {
            target: route.target,
            state: Mutex::new(RouteState::default()),
        });
        routes.insert(route.name, shared.clone());
        listeners.push((listener, shared));
    }
    // Each member's namespace, its routes on the ports just bound for the members' peer URLs.
    let mut namespaces = BTreeMap::new();
    for namespace in &config.namespaces {
        let made = crate::netns::make(namespace, &ports)?;
        namespaces.insert(namespace.member.clone(), made.tid);
        for ((name, listener), spec) in made.listeners.into_iter().zip(&namespace.routes) {
            let listener = TcpListener::from_std(listener).map_err(|source| LabError::Io {
                action: "register the namespace listener of route",
                path: PathBuf::from(&name),
                source,
            })?;
            let shared = Arc::new(Route {
                target: spec.route.target.clone(),
                state: Mutex::new(RouteState::default()),
            });
            routes.insert(name, shared.clone());
            listeners.push((listener, shared));
        }
    }
    let routes: Routes = Arc::new(routes);

    let control_path = dir.join(CONTROL_SOCKET);
    let _ = std::fs::remove_file(&control_path);
    let control = UnixListener::bind(&control_path).map_err(|source| LabError::Io {
        action: "listen on the proxy's control socket",
        path: control_path.clone(),
        source,
    })?;

    for (listener, route) in listeners {
        tokio::spawn(accept_loop(listener, route));
    }
    tokio::spawn(control_loop(control, routes.clone()));

    let ready = ProxyReady {
        pid: std::process::id() as i32,
        ports,
        namespaces,
    };
    crate::state::write_json_atomically(&dir.join(READY_FILE), &ready)?;
    eprintln!("hadome lab proxy: listening on {} routes", routes.len());

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| LabError::Io {
        action: "install the SIGTERM handler",
        path: dir.to_owned(),
        source,
    })?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("hadome lab proxy: stopping");
    Ok(())
}

async fn accept_loop(listener: TcpListener, route: Arc<Route>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: report, let it clear, go on accepting.
                eprintln!("hadome lab proxy: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let mut state = lock(&route);
        if state.blocked {
            // Closing at once is the cut: the peer sees the connection end.
            drop(stream);
            continue;
        }
        let id = state.next_id;
        state.next_id += 1;
        let task_route = route.clone();
        let handle = tokio::spawn(async move {
            forward(stream, &task_route.target).await;
            lock(&task_route).connections.remove(&id);
        });
        state.connections.insert(id, handle);
    }
}

async fn forward(mut client: TcpStream, target: &Path) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = UnixStream::connect(target).await else {
        // The instance is down: the client sees the connection close, as with a refused port.
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

async fn control_loop(listener: UnixListener, routes: Routes) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(control_session(stream, routes.clone()));
    }
}

async fn control_session(stream: UnixStream, routes: Routes) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = control_command(line.trim(), &routes).await;
        if writer
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn control_command(line: &str, routes: &Routes) -> String {
    let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "ping" => "ok".to_owned(),
        "blocked" => {
            let blocked: Vec<&String> = routes
                .iter()
                .filter(|(_, route)| lock(route).blocked)
                .map(|(name, _)| name)
                .collect();
            format!("ok {}", serde_json::json!(blocked))
        }
        "block" | "unblock" => {
            let Some(route) = routes.get(argument) else {
                return format!("error no route `{argument}`");
            };
            if verb == "unblock" {
                lock(route).blocked = false;
                eprintln!("hadome lab proxy: unblocked {argument}");
                return "ok".to_owned();
            }
            let open: Vec<JoinHandle<()>> = {
                let mut state = lock(route);
                state.blocked = true;
                state
                    .connections
                    .drain()
                    .map(|(_, handle)| handle)
                    .collect()
            };
            let closed = open.len();
            for handle in open {
                handle.abort();
                // Awaiting the aborted task means its sockets are dropped, hence closed, before
                // the caller hears "ok".
                let _ = handle.await;
            }
            eprintln!("hadome lab proxy: blocked {argument}, closed {closed} connections");
            "ok".to_owned()
        }
        _ => format!("error unknown command `{verb}`"),
    }
}

/// Sends one command to the proxy of the lab in `dir` and returns what follows `ok`.
pub(crate) async fn request(dir: &Path, command: &str) -> Result<String, LabError> {
    let path = dir.join(CONTROL_SOCKET);
    let exchange = async {
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|source| LabError::Io {
                action: "connect to the proxy's control socket",
                path: path.clone(),
                source,
            })?;
        let (reader, mut writer) = stream.into_split();
        writer
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(|source| LabError::Io {
                action: "write to the proxy's control socket",
                path: path.clone(),
                source,
            })?;
        let mut reply = String::new();
        BufReader::new(reader)
            .read_line(&mut reply)
            .await
            .map_err(|source| LabError::Io {
                action: "read from the proxy's control socket",
                path: path.clone(),
                source,
            })?;
        Ok::<String, LabError>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| LabError::Proxy {
            message: format!("no answer to `{command}` within 10 s"),
        })??;
    let reply = reply.trim_end();
    if let Some(rest) = reply.strip_prefix("ok") {
        Ok(rest.trim().to_owned())
    } else {
        Err(LabError::Proxy {
            message: format!(
                "`{command}`: {}",
                reply.strip_prefix("error ").unwrap_or(reply)
            ),
        })
    }
}
