//! Named etcd clients (issue 13 point 7): stand-ins for several hosts that reach one etcd cluster
//! over networks of their own, so that one can be cut off from etcd while another still reaches it.
//!
//! A topology names them (`etcd_clients = ["d1", "d2"]`, the built-in `pair-etcd`). Each client
//! gets its own proxy route to every member, `client:MEMBER@CLIENT`, beside the members' shared
//! `client:MEMBER`: a hadome daemon configured with `d1`'s endpoints (`lab status --json`,
//! `etcd_clients[].endpoints`) talks to etcd only through `d1`'s routes. The faults
//! `isolate-client d1` and `rejoin-client d1` block and unblock every route of `d1` and nothing
//! else: `d1`'s connections are closed and new ones refused, while `d2` and the members' own
//! traffic go on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::proxy::{self, ProxyReady, ProxyRoute};
use crate::state::LabState;
use crate::LabError;

/// One named client as `lab up` set it up: its proxy port to each member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EtcdClientState {
    pub(crate) name: String,
    /// Member name → the port of route `client:MEMBER@NAME`.
    pub(crate) ports: BTreeMap<String, u16>,
}

/// One named client in `lab status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdClientStatus {
    /// The client's name (`d1`).
    pub name: String,
    /// Its endpoints, one per member, in the members' order: `http://127.0.0.1:PORT`.
    pub endpoints: Vec<String>,
    /// Whether `isolate-client` cut it off (every one of its routes blocked).
    pub isolated: bool,
}

/// The route of `client` to `member`'s client socket.
pub(crate) fn route(member: &str, client: &str) -> String {
    format!("{}@{client}", proxy::client_route(member))
}

/// The states of `names`, ports to be filled once the proxy listens.
pub(crate) fn states(names: &[String]) -> Vec<EtcdClientState> {
    names
        .iter()
        .map(|name| EtcdClientState {
            name: name.clone(),
            ports: BTreeMap::new(),
        })
        .collect()
}

/// Every client's route to every member.
pub(crate) fn routes(state: &LabState) -> Vec<ProxyRoute> {
    state
        .etcd_clients
        .iter()
        .flat_map(|client| {
            state.etcd.iter().map(move |member| ProxyRoute {
                name: route(&member.name, &client.name),
                target: member.client_socket(),
            })
        })
        .collect()
}

/// Records each client's ports from the proxy's ready file.
pub(crate) fn record_ports(state: &mut LabState, ready: &ProxyReady) -> Result<(), LabError> {
    let members: Vec<String> = state
        .etcd
        .iter()
        .map(|member| member.name.clone())
        .collect();
    for client in &mut state.etcd_clients {
        for member in &members {
            let name = route(member, &client.name);
            let port = ready
                .ports
                .get(&name)
                .copied()
                .ok_or_else(|| LabError::Proxy {
                    message: format!("the proxy did not bind route `{name}`"),
                })?;
            client.ports.insert(member.clone(), port);
        }
    }
    Ok(())
}

/// Every client's status; `blocked` is the proxy's blocked routes, when it answered.
pub(crate) fn statuses(state: &LabState, blocked: Option<&Vec<String>>) -> Vec<EtcdClientStatus> {
    state
        .etcd_clients
        .iter()
        .map(|client| EtcdClientStatus {
            name: client.name.clone(),
            endpoints: state
                .etcd
                .iter()
                .filter_map(|member| client.ports.get(&member.name))
                .map(|port| format!("http://127.0.0.1:{port}"))
                .collect(),
            isolated: !state.etcd.is_empty()
                && state.etcd.iter().all(|member| {
                    blocked
                        .is_some_and(|routes| routes.contains(&route(&member.name, &client.name)))
                }),
        })
        .collect()
}

impl crate::Lab {
    /// `isolate-client NAME` (`cut` true) or `rejoin-client NAME`: blocks or unblocks every route
    /// of the client, verified by the proxy's list of blocked routes.
    pub(crate) async fn client_fault(&self, name: &str, cut: bool) -> Result<String, LabError> {
        let fault = if cut {
            "isolate-client"
        } else {
            "rejoin-client"
        };
        let Some(client) = self
            .state
            .etcd_clients
            .iter()
            .find(|client| client.name == name)
        else {
            let known: Vec<String> = self
                .state
                .etcd_clients
                .iter()
                .map(|client| client.name.clone())
                .collect();
            return Err(LabError::FaultRejected {
                fault: fault.to_owned(),
                node: name.to_owned(),
                reason: if known.is_empty() {
                    "this lab has no etcd clients".to_owned()
                } else {
                    format!("it is not one of this lab's etcd clients ({})", known.join(", "))
                },
                fix: "name a client of the topology's `etcd_clients` (`hadome lab up pair-etcd` has `d1` and `d2`)"
                    .to_owned(),
            });
        };
        let verb = if cut { "block" } else { "unblock" };
        let routes: Vec<String> = self
            .state
            .etcd
            .iter()
            .map(|member| route(&member.name, &client.name))
            .collect();
        for route in &routes {
            proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
        }
        let blocked = self.blocked_routes().await?;
        let done = routes.iter().all(|route| blocked.contains(route) == cut);
        if !done {
            return Err(LabError::Proxy {
                message: format!(
                    "after `{fault} {name}`, the proxy's blocked routes are {blocked:?}"
                ),
            });
        }
        Ok(if cut {
            format!(
                "isolated client `{name}` from etcd: its {} route(s) closed, new connections refused; other clients and the members' peers go on",
                routes.len()
            )
        } else {
            format!(
                "client `{name}` rejoined: its {} route(s) accept connections again",
                routes.len()
            )
        })
    }
}
