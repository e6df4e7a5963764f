//! etcd members: real `etcd` processes (Debian's `etcd-server` 3.4) started, probed, faulted and
//! stopped by the lab.
//!
//! Each member runs in its own directory `DIR/etcd/NAME` (its working directory), with its data in
//! `data/` and its log in `etcd.log`. It listens on two Unix sockets only, `client:2379` and
//! `peer:2380` in that directory (etcd's `unix://` listen URLs name a file relative to the working
//! directory). The lab proxy owns the TCP side on 127.0.0.1: the route `client:NAME` is the
//! member's advertised client URL, the route `peer:NAME` its advertised peer URL, so every byte
//! between members and from clients crosses the proxy.
//!
//! The lab knows a member by the PID it wrote to `DIR/etcd/NAME/etcd.pid` when it spawned it, and
//! signals it only after `/proc/PID/cmdline` shows `etcd` with that member's `--data-dir=`.
//! The lab's own probe talks to the member's client socket directly (unaffected by `isolate`),
//! with one HTTP/1.1 request to etcd's v3 gateway: `POST /v3/maintenance/status`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::process;
use crate::proxy;
use crate::state::{EtcdState, LabState};
use crate::wait::{poll_until, poll_until_blocking, Poll};
use crate::LabError;

/// Debian's etcd server.
pub(crate) const ETCD_BINARY: &str = "/usr/bin/etcd";

/// The environment variable that points the lab at another etcd binary.
pub const ETCD_BINARY_ENV: &str = "HADOME_ETCD_BINARY";

/// The client socket's file name in the member's directory (etcd wants `host:port` in the URL).
const CLIENT_SOCKET: &str = "client:2379";
/// The peer socket's file name in the member's directory.
const PEER_SOCKET: &str = "peer:2380";
const PID_FILE: &str = "etcd.pid";

/// One etcd member in [`crate::LabStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct EtcdMemberStatus {
    /// The member's name.
    pub name: String,
    /// The lab host it is placed on.
    pub host: String,
    /// Its client URL through the lab proxy, as the estate file names it.
    pub endpoint: String,
    /// The proxy port of its client URL.
    pub client_port: u16,
    /// The proxy port of its peer URL.
    pub peer_port: u16,
    /// Its PID, when it runs.
    pub pid: Option<i32>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The member's log.
    pub log_file: PathBuf,
    /// `running`, `hung` or `stopped`.
    pub process: &'static str,
    /// Whether its client route is blocked (`isolate`).
    pub isolated: bool,
    /// The members whose peer link to it is cut (`cut`), both ways.
    pub cut_from: Vec<String>,
    /// Its member id (decimal, as etcd's gateway writes it), when it answered.
    pub member_id: Option<String>,
    /// Whether it is the leader, when it answered.
    pub leader: Option<bool>,
    /// The leader's member id it knows (`0`: none), when it answered.
    pub leader_id: Option<String>,
    /// Its raft term, when it answered.
    pub raft_term: Option<u64>,
    /// Why there are no live facts.
    pub probe_error: Option<String>,
}

/// What a member's `maintenance/status` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberAnswer {
    pub(crate) member_id: String,
    pub(crate) leader_id: String,
    pub(crate) raft_term: u64,
}

impl EtcdState {
    pub(crate) fn client_socket(&self) -> PathBuf {
        self.home.join(CLIENT_SOCKET)
    }

    pub(crate) fn peer_socket(&self) -> PathBuf {
        self.home.join(PEER_SOCKET)
    }

    /// The plain client socket the lab's own probe and load use: with TLS (`tls.rs`), the
    /// member's second, plain listener.
    pub(crate) fn lab_socket(&self) -> PathBuf {
        if self.tls {
            self.home.join(crate::tls::LAB_SOCKET)
        } else {
            self.client_socket()
        }
    }

    /// The client URL through the proxy (`https://` when the member serves TLS).
    pub(crate) fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    pub(crate) fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

/// The etcd binary: `HADOME_ETCD_BINARY`, or Debian's.
pub(crate) fn locate_binary() -> Result<PathBuf, LabError> {
    let path = std::env::var_os(ETCD_BINARY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ETCD_BINARY));
    if path.is_file() {
        Ok(path)
    } else {
        Err(LabError::EtcdMissing { path })
    }
}

/// The state of `member` in the lab directory `dir`.
pub(crate) fn member_state(dir: &Path, name: &str, host: &str) -> EtcdState {
    let home = dir.join("etcd").join(name);
    EtcdState {
        name: name.to_owned(),
        host: host.to_owned(),
        data_dir: home.join("data"),
        log_file: home.join("etcd.log"),
        home,
        client_port: 0,
        peer_port: 0,
        tls: false,
    }
}

/// The member's PID, when the process recorded in its PID file is alive and is etcd on this
/// member's data directory.
pub(crate) fn member_pid(member: &EtcdState) -> Option<i32> {
    let text = std::fs::read_to_string(member.home.join(PID_FILE)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let owned = process::cmdline(pid).is_some_and(|line| is_member_line(member, &line));
    (owned && process::is_alive(pid)).then_some(pid)
}

/// Whether a `/proc/PID/cmdline` is etcd's on `member`'s data directory (not yet `nsenter`'s,
/// whose line names etcd's arguments too, before it execs etcd).
fn is_member_line(member: &EtcdState, line: &str) -> bool {
    let marker = format!("--data-dir={}", member.data_dir.display());
    line.split(' ')
        .next()
        .is_some_and(|program| program.ends_with("etcd"))
        && line.split(' ').any(|word| word == marker)
}

/// `running`, `hung` or `stopped`.
pub(crate) fn process_state(member: &EtcdState) -> &'static str {
    match member_pid(member) {
        None => "stopped",
        Some(pid) if process::is_stopped(pid) => "hung",
        Some(_) => "running",
    }
}

/// Starts `member` (a new cluster at `lab up`, its existing data afterwards); returns its PID.
pub(crate) fn spawn(state: &LabState, member: &EtcdState) -> Result<i32, LabError> {
    let binary = locate_binary()?;
    let initial_cluster: Vec<String> = state
        .etcd
        .iter()
        .map(|other| format!("{}={}", other.name, other.peer_url()))
        .collect();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&member.log_file)
        .map_err(|source| LabError::Io {
            action: "open",
            path: member.log_file.clone(),
            source,
        })?;
    let log_err = log.try_clone().map_err(|source| LabError::Io {
        action: "open",
        path: member.log_file.clone(),
        source,
    })?;
    // A killed member leaves its socket files behind, and etcd does not bind over them. The
    // caller checked that no process of this member runs; the files are inside the lab directory.
    for socket in [
        member.client_socket(),
        member.lab_socket(),
        member.peer_socket(),
    ] {
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LabError::Io {
                    action: "remove the stale socket",
                    path: socket,
                    source,
                })
            }
        }
    }
    // In the member's own network namespace (`netns.rs`): `nsenter` joins it and execs etcd, so
    // the PID is etcd's.
    let namespace = crate::netns::member_namespace(state, member)?;
    let mut command = std::process::Command::new("nsenter");
    command
        .arg(format!("--net={}", namespace.display()))
        .arg("--")
        .arg(&binary)
        .current_dir(&member.home)
        // First, so `/proc/PID/cmdline` names the member early and unambiguously.
        .arg(format!("--data-dir={}", member.data_dir.display()))
        .arg(format!("--name={}", member.name))
        .args(crate::tls::client_args(state, member, CLIENT_SOCKET))
        .arg(format!("--advertise-client-urls={}", member.endpoint()))
        .arg(format!("--listen-peer-urls=unix://{PEER_SOCKET}"))
        .arg(format!(
            "--initial-advertise-peer-urls={}",
            member.peer_url()
        ))
        .args(crate::etcd_member::cluster_args(
            member,
            &initial_cluster.join(","),
        ))
        .arg(format!(
            "--initial-cluster-token=hadome-lab-{}",
            state.token
        ))
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // Its own process group: a Ctrl-C at the terminal does not reach it; the lab ends it by PID.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().map_err(|source| LabError::Spawn {
        what: format!("etcd member `{}`", member.name),
        program: format!("nsenter {}", binary.display()),
        source,
    })?;
    let pid = child.id() as i32;
    // The child is not waited for: it outlives a CLI `lab up`. `reap` collects it when this
    // process is still its parent at the end.
    drop(child);
    let pid_file = member.home.join(PID_FILE);
    std::fs::write(&pid_file, format!("{pid}\n")).map_err(|source| LabError::Io {
        action: "write",
        path: pid_file,
        source,
    })?;
    // Right after the spawn, `/proc/PID/cmdline` can still be empty, the parent's or `nsenter`'s
    // (the exec of etcd is not visible yet), and `member_pid`, which checks it, would call the
    // member exited. Wait (milliseconds) until it is etcd's on this member's data directory, or
    // the process is gone (its exit is then the caller's wait to report, with the log).
    poll_until_blocking(
        &member.name,
        "its etcd process to show its command line",
        Duration::from_secs(5),
        || match process::cmdline(pid) {
            Some(line) if is_member_line(member, &line) => Poll::Done(()),
            _ if !process::is_alive(pid) => Poll::Done(()),
            line => Poll::NotYet(format!("command line {line:?}")),
        },
    )?;
    Ok(pid)
}

/// Collects `pid` if it is a child of this process that has exited (no zombie left behind).
fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
}

/// Ends `member` by PID (SIGCONT, SIGTERM, SIGKILL after `grace`); returns the survivors.
pub(crate) fn end(member: &EtcdState, polite: Signal, grace: Duration) -> Vec<i32> {
    let Some(pid) = member_pid(member) else {
        return Vec::new();
    };
    let survivors = if polite == Signal::SIGKILL {
        let _ = process::send(pid, Signal::SIGKILL);
        process::wait_gone(&[pid], grace)
    } else {
        process::end(&[pid], polite, grace)
    };
    reap(pid);
    survivors
}

/// Asks the member's client socket for `maintenance/status`, bounded by `timeout`.
pub(crate) async fn probe(member: &EtcdState, timeout: Duration) -> Result<MemberAnswer, LabError> {
    let socket = member.lab_socket();
    let exchange = async {
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(|source| LabError::Io {
                action: "connect to the etcd member's client socket",
                path: socket.clone(),
                source,
            })?;
        status_over(stream, &socket).await
    };
    let body = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| LabError::Timeout {
            node: member.name.clone(),
            awaited: "an answer to `POST /v3/maintenance/status`".to_owned(),
            waited: timeout,
            last_seen: "no answer".to_owned(),
        })??;
    parse_status(&member.name, &body)
}

/// One `POST /v3/maintenance/status` over `stream`; returns the response's body.
async fn status_over<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &Path,
) -> Result<String, LabError> {
    let io = |action: &'static str| {
        let path = path.to_owned();
        move |source| LabError::Io {
            action,
            path,
            source,
        }
    };
    stream
        .write_all(
            b"POST /v3/maintenance/status HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        .await
        .map_err(io("send a request to the etcd member"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(io("read the etcd member's answer"))?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(LabError::Proxy {
            message: format!(
                "etcd answered `{}`",
                head.lines().next().unwrap_or("nothing")
            ),
        });
    }
    Ok(body.to_owned())
}

/// Reads the gateway's JSON (uint64 fields are strings in it).
fn parse_status(name: &str, body: &str) -> Result<MemberAnswer, LabError> {
    // A chunked body has its sizes around the JSON: the object is from the first `{` to the last `}`.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(start), Some(end)) if start < end => &body[start..=end],
        _ => body,
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|error| LabError::Proxy {
        message: format!("`{name}`: unreadable status `{body}`: {error}"),
    })?;
    let text = |field: &serde_json::Value| field.as_str().map(str::to_owned);
    let member_id = text(&value["header"]["member_id"]);
    let leader_id = text(&value["leader"]).unwrap_or_else(|| "0".to_owned());
    let raft_term = text(&value["raftTerm"])
        .and_then(|term| term.parse().ok())
        .unwrap_or(0);
    match member_id {
        Some(member_id) => Ok(MemberAnswer {
            member_id,
            leader_id,
            raft_term,
        }),
        None => Err(LabError::Proxy {
            message: format!("`{name}`: status without a member id: `{body}`"),
        }),
    }
}

/// Waits until `member` answers and knows a leader.
pub(crate) async fn wait_answers_with_leader(
    member: &EtcdState,
    timeout: Duration,
) -> Result<MemberAnswer, LabError> {
    poll_until(
        &member.name,
        "the etcd member to answer with a leader",
        timeout,
        || async {
            if member_pid(member).is_none() {
                return Err(LabError::Command {
                    what: format!("etcd member `{}`", member.name),
                    program: ETCD_BINARY.to_owned(),
                    status: "an exit".to_owned(),
                    stderr: log_tail(&member.log_file),
                });
            }
            Ok(match probe(member, Duration::from_secs(1)).await {
                Ok(answer) if answer.leader_id != "0" => Poll::Done(answer),
                Ok(answer) => Poll::NotYet(format!("term {}, no leader", answer.raft_term)),
                Err(error) => Poll::NotYet(error.to_string()),
            })
        },
    )
    .await
}

/// The last lines of a member's log.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The status of every member, probed concurrently, 2 s each.
pub(crate) async fn statuses(
    state: &LabState,
    blocked: Option<&Vec<String>>,
) -> Vec<EtcdMemberStatus> {
    let mut probes = tokio::task::JoinSet::new();
    for (index, member) in state.etcd.iter().enumerate() {
        if process_state(member) != "running" {
            continue;
        }
        let member = member.clone();
        probes.spawn(async move { (index, probe(&member, Duration::from_secs(2)).await) });
    }
    let mut answers = std::collections::BTreeMap::new();
    while let Some(Ok((index, answer))) = probes.join_next().await {
        answers.insert(index, answer);
    }
    state
        .etcd
        .iter()
        .enumerate()
        .map(|(index, member)| {
            let process = process_state(member);
            let (answer, probe_error) = match answers.remove(&index) {
                Some(Ok(answer)) => (Some(answer), None),
                Some(Err(error)) => (None, Some(error.to_string())),
                None => (None, Some(format!("not probed: the member is {process}"))),
            };
            EtcdMemberStatus {
                name: member.name.clone(),
                host: member.host.clone(),
                endpoint: member.endpoint(),
                client_port: member.client_port,
                peer_port: member.peer_port,
                pid: member_pid(member),
                data_dir: member.data_dir.clone(),
                log_file: member.log_file.clone(),
                process,
                isolated: blocked
                    .is_some_and(|routes| routes.contains(&proxy::client_route(&member.name))),
                cut_from: blocked.map_or_else(Vec::new, |routes| {
                    crate::netns::cut_from(state, &member.name, routes)
                }),
                leader: answer
                    .as_ref()
                    .map(|answer| answer.member_id == answer.leader_id),
                member_id: answer.as_ref().map(|answer| answer.member_id.clone()),
                leader_id: answer.as_ref().map(|answer| answer.leader_id.clone()),
                raft_term: answer.as_ref().map(|answer| answer.raft_term),
                probe_error,
            }
        })
        .collect()
}

/// The proxy routes of the members: `client:NAME` and `peer:NAME` to its Unix sockets.
pub(crate) fn routes(state: &LabState) -> Vec<proxy::ProxyRoute> {
    state
        .etcd
        .iter()
        .flat_map(|member| {
            [
                proxy::ProxyRoute {
                    name: proxy::client_route(&member.name),
                    target: member.client_socket(),
                },
                proxy::ProxyRoute {
                    name: peer_route(&member.name),
                    target: member.peer_socket(),
                },
            ]
        })
        .collect()
}

/// The name of the route to a member's peer socket.
pub(crate) fn peer_route(member: &str) -> String {
    format!("peer:{member}")
}

impl crate::Lab {
    /// A fault on an etcd member, verified before it returns.
    pub(crate) async fn etcd_fault(
        &self,
        fault: &crate::Fault,
        name: &str,
    ) -> Result<String, LabError> {
        use crate::Fault;
        let member = self
            .state
            .etcd_member(name)
            .ok_or_else(|| LabError::Bug(format!("`{name}` is not an etcd member")))?;
        let timeout = self.wait_timeout;
        let current = process_state(member);
        let rejected = |fault: &str, wanted: &str| {
            let fix = match current {
                "hung" => format!("resume it first: `hadome lab fault --dir DIR resume {name}`"),
                "stopped" => format!("start it first: `hadome lab fault --dir DIR start {name}`"),
                _ => format!("`{name}` is {current}: nothing to do"),
            };
            LabError::FaultRejected {
                fault: fault.to_owned(),
                node: name.to_owned(),
                reason: format!("the etcd member is {current}, not {wanted}"),
                fix,
            }
        };
        match fault {
            Fault::Stop(_) | Fault::Crash(_) => {
                let (verb, signal) = match fault {
                    Fault::Stop(_) => ("stop", Signal::SIGTERM),
                    _ => ("crash", Signal::SIGKILL),
                };
                if current == "stopped" {
                    return Err(rejected(verb, "running"));
                }
                let pid = member_pid(member).unwrap_or_default();
                let survivors = end(member, signal, timeout);
                if !survivors.is_empty() {
                    return Err(LabError::Survivors { pids: survivors });
                }
                Ok(match fault {
                    Fault::Stop(_) => {
                        format!("`{name}` (PID {pid}) stopped with SIGTERM, its process is gone")
                    }
                    _ => format!("`{name}` (PID {pid}) killed with SIGKILL, its process is gone"),
                })
            }
            Fault::Start(_) => {
                if current != "stopped" {
                    return Err(rejected("start", "stopped"));
                }
                let pid = spawn(&self.state, member)?;
                let answer = wait_answers(member, timeout).await?;
                Ok(format!(
                    "`{name}` started (PID {pid}) and answers (raft term {}, {})",
                    answer.raft_term,
                    leader_phrase(&answer)
                ))
            }
            Fault::Hang(_) => {
                if current != "running" {
                    return Err(rejected("hang", "running"));
                }
                let pid = member_pid(member).unwrap_or_default();
                process::send(pid, Signal::SIGSTOP)?;
                poll_until(name, "its process to stop (SIGSTOP)", timeout, || async {
                    Ok(if process::is_stopped(pid) {
                        Poll::Done(())
                    } else {
                        Poll::NotYet(format!("{:?}", process::stat(pid)))
                    })
                })
                .await?;
                let bound = Duration::from_millis(500);
                match probe(member, bound).await {
                    Err(_) => Ok(format!(
                        "`{name}` (PID {pid}) hung with SIGSTOP: its process is stopped and it does not answer within {} ms",
                        bound.as_millis()
                    )),
                    Ok(_) => Err(LabError::Bug(format!(
                        "`{name}` answered while its process is stopped"
                    ))),
                }
            }
            Fault::Resume(_) => {
                if current != "hung" {
                    return Err(rejected("resume", "hung"));
                }
                let pid = member_pid(member).unwrap_or_default();
                process::send(pid, Signal::SIGCONT)?;
                let answer = wait_answers(member, timeout).await?;
                Ok(format!(
                    "`{name}` (PID {pid}) resumed with SIGCONT and answers (raft term {}, {})",
                    answer.raft_term,
                    leader_phrase(&answer)
                ))
            }
            Fault::Isolate(_) | Fault::Rejoin(_) => {
                let isolate = matches!(fault, Fault::Isolate(_));
                let route = proxy::client_route(name);
                let verb = if isolate { "block" } else { "unblock" };
                proxy::request(&self.state.dir, &format!("{verb} {route}")).await?;
                let blocked = self.blocked_routes().await?;
                if blocked.contains(&route) != isolate {
                    return Err(LabError::Proxy {
                        message: format!("`{route}` is not {verb}ed after `{verb}`"),
                    });
                }
                Ok(if isolate {
                    format!(
                        "`{name}`'s client URL {} is cut off (proxy route `{route}` blocked); its peer traffic still flows",
                        member.endpoint()
                    )
                } else {
                    format!(
                        "`{name}`'s client URL {} is reachable again",
                        member.endpoint()
                    )
                })
            }
            other => Err(LabError::FaultRejected {
                fault: format!("{other:?}"),
                node: name.to_owned(),
                reason: "this fault does not apply to an etcd member".to_owned(),
                fix: "an etcd member takes stop, start, crash, hang, resume, isolate and rejoin"
                    .to_owned(),
            }),
        }
    }
}

/// Waits until `member` answers `maintenance/status` (with or without a leader).
pub(crate) async fn wait_answers(
    member: &EtcdState,
    timeout: Duration,
) -> Result<MemberAnswer, LabError> {
    poll_until(
        &member.name,
        "the etcd member to answer",
        timeout,
        || async {
            if member_pid(member).is_none() {
                return Err(LabError::Command {
                    what: format!("etcd member `{}`", member.name),
                    program: ETCD_BINARY.to_owned(),
                    status: "an exit".to_owned(),
                    stderr: log_tail(&member.log_file),
                });
            }
            Ok(match probe(member, Duration::from_secs(1)).await {
                Ok(answer) => Poll::Done(answer),
                Err(error) => Poll::NotYet(error.to_string()),
            })
        },
    )
    .await
}

fn leader_phrase(answer: &MemberAnswer) -> &'static str {
    if answer.leader_id == "0" {
        "no leader yet"
    } else if answer.leader_id == answer.member_id {
        "the leader"
    } else {
        "a follower"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_gives_the_member_and_its_leader() {
        let body = r#"{"header":{"cluster_id":"1","member_id":"488","revision":"1","raft_term":"2"},"version":"3.4.23","leader":"488","raftTerm":"2"}"#;
        let answer = parse_status("e", body).unwrap();
        assert_eq!(answer.member_id, "488");
        assert_eq!(answer.leader_id, "488");
        assert_eq!(answer.raft_term, 2);
        let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        assert_eq!(parse_status("e", &chunked).unwrap(), answer);
        assert!(parse_status("e", "{}").is_err());
    }
}
