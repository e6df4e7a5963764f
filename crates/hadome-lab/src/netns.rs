//! A network namespace per etcd member, so that the lab can cut exactly one member-to-member link.
//!
//! A member's advertised peer URL, `http://127.0.0.1:PEER_PORT`, is the same for every other
//! member. Were every member in the machine's network namespace, all of them would dial the one
//! proxy route `peer:X` to reach X, and blocking it would cut X off from everyone (and only for the
//! connections the others dial). So each member runs in a network namespace of its own, which the
//! lab proxy creates and owns:
//!
//! - for each member M, the proxy starts a thread that `unshare(CLONE_NEWNET)`s (a thread's
//!   namespaces are its own), brings its loopback up (`ip link set lo up`, run from that thread,
//!   so inside the namespace), and binds there, for every other member X, `127.0.0.1:PEER_PORT(X)`
//!   (the same port number as X's advertised peer URL, free in a fresh namespace): the route
//!   `peer:X@M`, forwarding to X's peer socket. The thread then parks, so
//!   `/proc/PROXY_PID/task/TID/ns/net` names the namespace for as long as the proxy lives;
//! - `spawn` starts etcd with `nsenter --net=/proc/PROXY_PID/task/TID/ns/net`, so M dials X's
//!   peer URL through `peer:X@M` and nothing else;
//! - `cut etcd-1 etcd-2` blocks `peer:etcd-2@etcd-1` and `peer:etcd-1@etcd-2`: the connections each
//!   dialed to the other are closed and new ones refused; every other link goes on. `heal` unblocks
//!   them.
//!
//! Members still listen on their Unix sockets (filesystem sockets are not namespaced), so the
//! proxy's forwarding and the lab's own probe reach them from the machine's namespace; clients
//! (hadome, the named clients of `etcd_clients.rs`) stay in the machine's namespace and use
//! `client:NAME` as before. Nothing is mounted and no interface but each namespace's own loopback
//! is touched: a namespace lives while the proxy's thread or a member's process is in it, and goes
//! away with the last of them (the lab ends both by PID at teardown).
//!
//! The hosts of `debian3` get a namespace each the same way (`debian_hosts::namespaces`): their
//! containers boot in it (`systemd-nspawn --network-namespace-path=`), and the routes in it are
//! `link:X:N` on X's client port, so that from inside any host `host=127.0.0.1 port=P_X` reaches X.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use crate::proxy::{self, ProxyReady, ProxyRoute};
use crate::state::{EtcdState, LabState};
use crate::LabError;

/// One member's (or PostgreSQL host's) namespace, as `lab up` writes it to the proxy's
/// configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamespaceConfig {
    /// The member (or host) that runs in it.
    pub(crate) member: String,
    /// Its routes: `peer:X@MEMBER` to X's peer socket, on the port of `port_of` (`peer:X`).
    pub(crate) routes: Vec<NamespaceRoute>,
}

/// A route that listens inside a namespace, on the port the proxy bound for another route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamespaceRoute {
    pub(crate) route: ProxyRoute,
    /// The route (in the machine's namespace) whose port this one binds too.
    pub(crate) port_of: String,
}

/// The route by which `from`, in its namespace, dials `to`'s peer URL.
pub(crate) fn peer_route_from(to: &str, from: &str) -> String {
    format!("{}@{from}", crate::etcd::peer_route(to))
}

/// A namespace per member, with a route to each other member's peer socket; and one per host
/// that runs a PostgreSQL node (`debian_hosts.rs`).
pub(crate) fn namespaces(state: &LabState) -> Vec<NamespaceConfig> {
    let mut namespaces = member_namespaces(state);
    namespaces.extend(crate::debian_hosts::namespaces(state));
    namespaces
}

fn member_namespaces(state: &LabState) -> Vec<NamespaceConfig> {
    state
        .etcd
        .iter()
        .map(|member| NamespaceConfig {
            member: member.name.clone(),
            routes: state
                .etcd
                .iter()
                .filter(|other| other.name != member.name)
                .map(|other| NamespaceRoute {
                    route: ProxyRoute {
                        name: peer_route_from(&other.name, &member.name),
                        target: other.peer_socket(),
                    },
                    port_of: crate::etcd::peer_route(&other.name),
                })
                .collect(),
        })
        .collect()
}

/// A namespace the proxy made: the thread that keeps it, and its listeners by route.
pub(crate) struct Made {
    pub(crate) tid: i32,
    pub(crate) listeners: Vec<(String, TcpListener)>,
}

/// Creates `config`'s namespace in a new thread of this process, loopback up, and binds each of
/// its routes on 127.0.0.1 at the port `ports` gives for its `port_of`. The thread parks for the
/// life of the process, keeping `/proc/PID/task/TID/ns/net`.
pub(crate) fn make(
    config: &NamespaceConfig,
    ports: &BTreeMap<String, u16>,
) -> Result<Made, LabError> {
    let member = config.member.clone();
    let mut wanted = Vec::new();
    for route in &config.routes {
        let port = *ports.get(&route.port_of).ok_or_else(|| {
            LabError::Bug(format!(
                "namespace route `{}` names `{}`, which the proxy did not bind",
                route.route.name, route.port_of
            ))
        })?;
        wanted.push((route.route.name.clone(), port));
    }
    let (sender, receiver) = mpsc::channel();
    let thread_member = member.clone();
    std::thread::Builder::new()
        .name(format!("netns-{member}"))
        .spawn(move || {
            let made = enter_new(&thread_member, &wanted);
            let keep = made.is_ok();
            let _ = sender.send(made);
            if keep {
                // The namespace is this thread's: it stays nameable while the thread lives.
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|source| LabError::Io {
            action: "start the thread of the network namespace of etcd member",
            path: PathBuf::from(&member),
            source,
        })?;
    receiver.recv().map_err(|_| {
        LabError::Bug(format!(
            "the namespace thread of `{member}` ended without an answer"
        ))
    })?
}

/// In the calling thread: a new network namespace, loopback up, `wanted` bound.
fn enter_new(member: &str, wanted: &[(String, u16)]) -> Result<Made, LabError> {
    let failed = |problem: String| LabError::Namespace {
        member: member.to_owned(),
        problem,
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|error| failed(format!("unshare(CLONE_NEWNET) failed: {error}")))?;
    // A child inherits the namespaces of the thread that starts it: `ip` runs in the new one.
    let output = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| failed(format!("could not run `ip link set lo up`: {error}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "`ip link set lo up` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let tid = nix::unistd::gettid().as_raw();
    let mut listeners = Vec::new();
    for (route, port) in wanted {
        let listener = TcpListener::bind(("127.0.0.1", *port))
            .map_err(|error| failed(format!("bind 127.0.0.1:{port} for `{route}`: {error}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|error| failed(format!("make `{route}`'s listener non-blocking: {error}")))?;
        listeners.push((route.clone(), listener));
    }
    Ok(Made { tid, listeners })
}

/// The path of `member`'s namespace: `/proc/PROXY_PID/task/TID/ns/net`, from the proxy's ready
/// file, checked to exist.
pub(crate) fn member_namespace(state: &LabState, member: &EtcdState) -> Result<PathBuf, LabError> {
    namespace_path(state, &member.name)
}

/// The path of the namespace the proxy keeps for `name` (an etcd member or a PostgreSQL host):
/// `/proc/PROXY_PID/task/TID/ns/net`, checked to exist.
pub(crate) fn namespace_path(state: &LabState, name: &str) -> Result<PathBuf, LabError> {
    let ready_path = state.dir.join(proxy::READY_FILE);
    let missing = |problem: String| LabError::Namespace {
        member: name.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(&ready_path).map_err(|error| {
        missing(format!(
            "cannot read the proxy's `{}`: {error}",
            ready_path.display()
        ))
    })?;
    let ready: ProxyReady = serde_json::from_str(&text).map_err(|error| LabError::State {
        path: ready_path.clone(),
        message: error.to_string(),
    })?;
    let tid = ready.namespaces.get(name).ok_or_else(|| {
        missing(
            "the lab proxy keeps no network namespace for it (a lab from an older hadome?)"
                .to_owned(),
        )
    })?;
    let path = PathBuf::from(format!("/proc/{}/task/{tid}/ns/net", ready.pid));
    if ready.pid != state.proxy_pid || !path.exists() {
        return Err(missing(format!(
            "`{}` does not exist: the lab proxy (PID {}) is gone",
            path.display(),
            state.proxy_pid
        )));
    }
    Ok(path)
}

/// The members whose link to `member` is cut (both routes blocked), by name.
pub(crate) fn cut_from(state: &LabState, member: &str, blocked: &[String]) -> Vec<String> {
    state
        .etcd
        .iter()
        .filter(|other| other.name != member)
        .filter(|other| {
            blocked.contains(&peer_route_from(&other.name, member))
                && blocked.contains(&peer_route_from(member, &other.name))
        })
        .map(|other| other.name.clone())
        .collect()
}

impl crate::Lab {
    /// `cut A B` / `heal A B` of two etcd members: both routes between them blocked (unblocked),
    /// verified in the proxy's list.
    pub(crate) async fn etcd_link(
        &self,
        one: &str,
        other: &str,
        cut: bool,
    ) -> Result<String, LabError> {
        let verb_name = if cut { "cut" } else { "heal" };
        for name in [one, other] {
            if self.state.etcd_member(name).is_none() {
                let members: Vec<&str> = self.state.etcd.iter().map(|m| m.name.as_str()).collect();
                return Err(LabError::FaultRejected {
                    fault: verb_name.to_owned(),
                    node: name.to_owned(),
                    reason: "a link between etcd members joins two members".to_owned(),
                    fix: format!("name two etcd members of this lab: {}", members.join(", ")),
                });
            }
        }
        if one == other {
            return Err(LabError::FaultRejected {
                fault: verb_name.to_owned(),
                node: one.to_owned(),
                reason: "a link joins two different members".to_owned(),
                fix: format!("name two members: `{verb_name} etcd-1 etcd-2`"),
            });
        }
        let routes = [peer_route_from(other, one), peer_route_from(one, other)];
        let verb = if cut { "block" } else { "unblock" };
        for route in &routes {
            proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
        }
        let blocked = self.blocked_routes().await?;
        for route in &routes {
            if blocked.contains(route) != cut {
                return Err(LabError::Proxy {
                    message: format!("`{route}` is not {verb}ed after `{verb}`"),
                });
            }
        }
        Ok(if cut {
            format!(
                "cut the peer link between `{one}` and `{other}` both ways (proxy routes `{}` and `{}` blocked): \
                 their connections to each other are closed and new ones refused; each still reaches the other members, \
                 and clients still reach both",
                routes[0], routes[1]
            )
        } else {
            format!(
                "healed the peer link between `{one}` and `{other}`: they may connect to each other again"
            )
        })
    }
}
