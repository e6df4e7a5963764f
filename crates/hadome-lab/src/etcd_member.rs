//! Membership of the lab's etcd members (`hadome lab member …`): the lab estate's
//! `remove_command`, `add_command`, `promote_command` and `stop_command` for each `[[etcd]]`, so
//! `hadome run replace-member` and `run remove-member` run on real etcd.
//!
//! Each change goes through etcd's own cluster API (the `etcd-client` crate, over a member's
//! client URL through the lab proxy), sent to another member that answers, and is verified in the
//! member list before the command returns:
//! - `remove NAME`: MemberRemove of the id whose peer URL is `NAME`'s; the list no longer has it.
//! - `add NAME`: MemberAdd of `NAME`'s peer URL as a **learner**; the list has it as a learner.
//!   Its data directory must be absent or empty (hadome moved the old one aside). The lab records
//!   in `DIR/etcd/NAME/join.json` that `NAME` must start into an existing cluster, with the
//!   initial cluster taken from the member list MemberAdd answered: the next start
//!   ([`cluster_args`]) uses `--initial-cluster-state=existing` and that list instead of the lab's
//!   first one.
//! - `promote NAME`: MemberPromote, retried until etcd accepts it (etcd 3.4 refuses to promote a
//!   learner that has not caught up) or the lab's wait passes; the list shows it a voter. The
//!   join record is then removed: the member has its own data from now on.
//! - `stop NAME`: ends its process by PID (SIGCONT, SIGTERM, SIGKILL after the wait) when there is
//!   one, hung or not; a member already stopped is not an error (as `systemctl stop`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, MemberAddOptions, TlsOptions};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::etcd::{end, member_pid, process_state};
use crate::state::EtcdState;
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// The file in a member's directory that says it joins an existing cluster at its next start.
const JOIN_FILE: &str = "join.json";

/// How long one request to a member may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// `DIR/etcd/NAME/join.json`: written by `add`, read by the next start, removed by `promote`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Join {
    /// The member id etcd gave the learner (hexadecimal, as etcdctl shows it).
    member_id: String,
    /// `--initial-cluster`: every member of the list MemberAdd answered, by name and peer URL.
    initial_cluster: String,
}

/// etcd's cluster-state arguments for `member`'s start: `existing` with the recorded initial
/// cluster when `add` recorded that it joins and its data directory is absent or empty; `new`
/// with the lab's initial cluster otherwise (etcd ignores both once it has data).
pub(crate) fn cluster_args(member: &EtcdState, initial_cluster: &str) -> [String; 2] {
    let join = std::fs::read_to_string(member.home.join(JOIN_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<Join>(&text).ok());
    match join {
        Some(join) if is_empty_or_absent(&member.data_dir) => [
            format!("--initial-cluster={}", join.initial_cluster),
            "--initial-cluster-state=existing".to_owned(),
        ],
        _ => [
            format!("--initial-cluster={initial_cluster}"),
            "--initial-cluster-state=new".to_owned(),
        ],
    }
}

fn is_empty_or_absent(path: &Path) -> bool {
    match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
    }
}

/// One member of the list, as a person reads it.
#[derive(Debug, Clone)]
struct Listed {
    id: u64,
    name: String,
    peer_urls: Vec<String>,
    learner: bool,
}

impl Listed {
    fn shown(&self) -> String {
        let name = if self.name.is_empty() {
            "(not started)"
        } else {
            &self.name
        };
        format!(
            "{name} {:x}{}",
            self.id,
            if self.learner { " learner" } else { " voter" }
        )
    }
}

fn listed(members: &[etcd_client::Member]) -> Vec<Listed> {
    members
        .iter()
        .map(|member| Listed {
            id: member.id(),
            name: member.name().to_owned(),
            peer_urls: member.peer_urls().to_vec(),
            learner: member.is_learner(),
        })
        .collect()
}

fn shown_list(members: &[Listed]) -> String {
    members
        .iter()
        .map(Listed::shown)
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::Lab {
    fn etcd_state(&self, name: &str) -> Result<&EtcdState, LabError> {
        self.state
            .etcd_member(name)
            .ok_or_else(|| LabError::UnknownNode {
                name: name.to_owned(),
                known: self.etcd_member_names(),
            })
    }

    /// With `lab up --tls`, the lab's CA and client certificate (`tls.rs`): a membership change
    /// goes through the proxy's client route, which carries TLS only.
    fn client_tls(&self) -> Result<Option<TlsOptions>, LabError> {
        let Some(files) = crate::tls::files_of(&self.state) else {
            return Ok(None);
        };
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| LabError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(Some(
            TlsOptions::new()
                .ca_certificate(Certificate::from_pem(read(&files.ca_file)?))
                .identity(Identity::from_pem(
                    read(&files.client_cert)?,
                    read(&files.client_key)?,
                )),
        ))
    }

    /// A client on another member than `name` that answers its member list, and that member's
    /// name; the others are tried in the lab's order.
    async fn other_member(&self, name: &str) -> Result<(Client, String, Vec<Listed>), LabError> {
        let mut tried = Vec::new();
        let tls = self.client_tls()?;
        for other in self.state.etcd.iter().filter(|other| other.name != name) {
            let mut options = ConnectOptions::new()
                .with_connect_timeout(REQUEST_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT);
            if let Some(tls) = &tls {
                options = options.with_tls(tls.clone());
            }
            let attempt = async {
                let mut client = Client::connect([other.endpoint()], Some(options)).await?;
                let list = client.member_list().await?;
                Ok::<_, etcd_client::Error>((client, listed(list.members())))
            };
            match tokio::time::timeout(REQUEST_TIMEOUT * 2, attempt).await {
                Ok(Ok((client, list))) => return Ok((client, other.name.clone(), list)),
                Ok(Err(error)) => tried.push(format!("`{}`: {error}", other.name)),
                Err(_) => tried.push(format!("`{}`: no answer", other.name)),
            }
        }
        Err(membership(
            name,
            format!(
                "no other member answers its member list ({})",
                tried.join("; ")
            ),
            "bring another member back first: a membership change goes through a member that answers",
        ))
    }

    /// `hadome lab member remove NAME`: MemberRemove of `NAME`'s id, verified in the list.
    pub async fn member_remove(&self, name: &str) -> Result<String, LabError> {
        let member = self.etcd_state(name)?;
        let peer_url = member.peer_url();
        let (mut client, through, list) = self.other_member(name).await?;
        let Some(removed) = list
            .iter()
            .find(|listed| listed.peer_urls.contains(&peer_url))
            .cloned()
        else {
            return Err(membership(
                name,
                format!(
                    "no member with its peer URL {peer_url} is in the list ({})",
                    shown_list(&list)
                ),
                "it was removed already: `hadome lab member add` adds a fresh one",
            ));
        };
        client
            .member_remove(removed.id)
            .await
            .map_err(|error| etcd_failed(name, "MemberRemove", &error))?;
        let after = self
            .wait_list(name, &client, "the member list to lose it", |list| {
                !list.iter().any(|listed| listed.id == removed.id)
            })
            .await?;
        Ok(format!(
            "`{name}` (member id {:x}) removed through `{through}`; the member list is now: {}",
            removed.id,
            shown_list(&after)
        ))
    }

    /// `hadome lab member add NAME`: MemberAdd of `NAME`'s peer URL as a learner, verified in
    /// the list; its next start joins the existing cluster.
    pub async fn member_add(&self, name: &str) -> Result<String, LabError> {
        let member = self.etcd_state(name)?;
        if process_state(member) != "stopped" {
            return Err(membership(
                name,
                format!("its process is {}", process_state(member)),
                &format!("stop it first: `hadome lab member stop --dir DIR {name}`"),
            ));
        }
        if !is_empty_or_absent(&member.data_dir) {
            return Err(membership(
                name,
                format!(
                    "its data directory `{}` holds data: a fresh member starts empty",
                    member.data_dir.display()
                ),
                "move it aside first (`hadome run replace-member` does); the lab never deletes data",
            ));
        }
        let peer_url = member.peer_url();
        let (client, through, list) = self.other_member(name).await?;
        if let Some(present) = list
            .iter()
            .find(|listed| listed.peer_urls.contains(&peer_url))
        {
            return Err(membership(
                name,
                format!(
                    "its peer URL {peer_url} is in the member list already ({})",
                    present.shown()
                ),
                &format!("remove it first: `hadome lab member remove --dir DIR {name}`"),
            ));
        }
        // etcd 3.4 refuses a membership change ("unhealthy cluster") until the member asked has
        // been connected to every voter for five seconds, which a removal just before breaks:
        // retried within the lab's wait. A retry first looks for an add that did land.
        let refusals = std::cell::Cell::new(0u32);
        let id = poll_until(
            name,
            "etcd to accept the learner (it refuses until its voters have been connected for 5 s)",
            self.wait_timeout,
            || {
                let mut client = client.clone();
                let (peer_url, refusals) = (&peer_url, &refusals);
                async move {
                    if refusals.get() > 0 {
                        if let Ok(list) = client.member_list().await {
                            if let Some(landed) = listed(list.members())
                                .into_iter()
                                .find(|listed| listed.peer_urls.contains(peer_url))
                            {
                                return Ok(Poll::Done(landed.id));
                            }
                        }
                    }
                    let options = MemberAddOptions::new().with_is_learner();
                    Ok(
                        match client.member_add([peer_url.as_str()], Some(options)).await {
                            Ok(added) => match added.member() {
                                Some(member) => Poll::Done(member.id()),
                                None => {
                                    return Err(LabError::Bug(format!(
                                        "MemberAdd of `{name}` named no member"
                                    )))
                                }
                            },
                            Err(error) => {
                                refusals.set(refusals.get() + 1);
                                Poll::NotYet(error.to_string())
                            }
                        },
                    )
                }
            },
        )
        .await?;
        let refusals = refusals.get();
        let after = self
            .wait_list(
                name,
                &client,
                "the member list to show it a learner",
                |list| list.iter().any(|listed| listed.id == id && listed.learner),
            )
            .await?;
        let initial_cluster = self.initial_cluster(name, &after)?;
        let join = Join {
            member_id: format!("{id:x}"),
            initial_cluster: initial_cluster.clone(),
        };
        let path = member.home.join(JOIN_FILE);
        write_json(&path, &join)?;
        Ok(format!(
            "`{name}` added as a learner (member id {id:x}) through `{through}`{}; the member list is now: {}; its next start joins the existing cluster with --initial-cluster={initial_cluster} (recorded in `{}`)",
            match refusals {
                0 => String::new(),
                1 => " after 1 refusal".to_owned(),
                more => format!(" after {more} refusals"),
            },
            shown_list(&after),
            path.display()
        ))
    }

    /// `--initial-cluster` from a member list: each member by the lab name its peer URL belongs
    /// to (a learner not started yet has no name of its own in the list).
    fn initial_cluster(&self, name: &str, list: &[Listed]) -> Result<String, LabError> {
        list.iter()
            .map(|listed| {
                let known = self
                    .state
                    .etcd
                    .iter()
                    .find(|member| listed.peer_urls.contains(&member.peer_url()));
                match known {
                    Some(member) => Ok(format!("{}={}", member.name, member.peer_url())),
                    None => Err(membership(
                        name,
                        format!(
                            "member {:x} ({}) is not one of the lab's",
                            listed.id,
                            listed.peer_urls.join(", ")
                        ),
                        "remove it from the cluster first; the lab knows only its own members",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|members| members.join(","))
    }

    /// `hadome lab member promote NAME`: MemberPromote, retried until etcd accepts it (a learner
    /// is promoted only once caught up) or the wait passes; verified in the list.
    pub async fn member_promote(&self, name: &str) -> Result<String, LabError> {
        let member = self.etcd_state(name)?;
        let peer_url = member.peer_url();
        let (client, through, list) = self.other_member(name).await?;
        let Some(learner) = list
            .iter()
            .find(|listed| listed.peer_urls.contains(&peer_url))
            .cloned()
        else {
            return Err(membership(
                name,
                format!("it is not in the member list ({})", shown_list(&list)),
                &format!("add it first: `hadome lab member add --dir DIR {name}`"),
            ));
        };
        let join = member.home.join(JOIN_FILE);
        if !learner.learner {
            remove_join(&join)?;
            return Ok(format!(
                "`{name}` (member id {:x}) is a voter already; the member list: {}",
                learner.id,
                shown_list(&list)
            ));
        }
        let started = std::time::Instant::now();
        let refusals = std::cell::Cell::new(0u32);
        poll_until(
            name,
            "etcd to accept its promotion (a learner is promoted once caught up)",
            self.wait_timeout,
            || {
                let mut client = client.clone();
                let refusals = &refusals;
                async move {
                    Ok(match client.member_promote(learner.id).await {
                        Ok(_) => Poll::Done(()),
                        Err(error) => {
                            refusals.set(refusals.get() + 1);
                            Poll::NotYet(error.to_string())
                        }
                    })
                }
            },
        )
        .await?;
        let refusals = refusals.get();
        let after = self
            .wait_list(
                name,
                &client,
                "the member list to show it a voter",
                |list| {
                    list.iter()
                        .any(|listed| listed.id == learner.id && !listed.learner)
                },
            )
            .await?;
        remove_join(&join)?;
        Ok(format!(
            "`{name}` (member id {:x}) promoted to a voter through `{through}` after {} refusal{} while it caught up ({:.1} s); the member list is now: {}",
            learner.id,
            refusals,
            if refusals == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64(),
            shown_list(&after)
        ))
    }

    /// `hadome lab member stop NAME`: ends its process if there is one, hung or not.
    pub async fn member_stop(&self, name: &str) -> Result<String, LabError> {
        let member = self.etcd_state(name)?;
        let Some(pid) = member_pid(member) else {
            return Ok(format!(
                "`{name}` is stopped already: no process of it runs"
            ));
        };
        let was = process_state(member);
        let survivors = end(member, Signal::SIGTERM, self.wait_timeout);
        if !survivors.is_empty() {
            return Err(LabError::Survivors { pids: survivors });
        }
        Ok(format!(
            "`{name}` (PID {pid}, {was}) ended by PID (SIGCONT, SIGTERM), its process is gone"
        ))
    }

    /// Reads the member list through `client` until `holds`, bounded by the lab's wait.
    async fn wait_list(
        &self,
        name: &str,
        client: &Client,
        awaited: &str,
        holds: impl Fn(&[Listed]) -> bool,
    ) -> Result<Vec<Listed>, LabError> {
        poll_until(name, awaited, self.wait_timeout, || {
            let mut client = client.clone();
            let holds = &holds;
            async move {
                Ok(match client.member_list().await {
                    Ok(list) => {
                        let list = listed(list.members());
                        if holds(&list) {
                            Poll::Done(list)
                        } else {
                            Poll::NotYet(shown_list(&list))
                        }
                    }
                    Err(error) => Poll::NotYet(error.to_string()),
                })
            }
        })
        .await
    }
}

/// The `[[etcd]]` commands of `member` in the lab's estate file: `fault start`, and `member
/// stop|remove|add|promote` (the stop succeeds on a member already stopped, as a replacement's
/// first step needs).
pub(crate) fn render_commands(
    text: &mut String,
    hadome: &str,
    dir: &str,
    member: &str,
    quoted: fn(&[&str]) -> String,
) {
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "start_command = {}",
        quoted(&[hadome, "lab", "fault", "--dir", dir, "start", member])
    );
    for verb in ["stop", "remove", "add", "promote"] {
        let _ = writeln!(
            text,
            "{verb}_command = {}",
            quoted(&[hadome, "lab", "member", "--dir", dir, verb, member])
        );
    }
}

fn membership(name: &str, reason: String, fix: &str) -> LabError {
    LabError::FaultRejected {
        fault: "a membership change".to_owned(),
        node: name.to_owned(),
        reason,
        fix: fix.to_owned(),
    }
}

fn etcd_failed(name: &str, call: &str, error: &etcd_client::Error) -> LabError {
    LabError::FaultRejected {
        fault: call.to_owned(),
        node: name.to_owned(),
        reason: format!("etcd refused it: {error}"),
        fix: "`hadome lab status --dir DIR` shows which members answer".to_owned(),
    }
}

fn write_json(path: &PathBuf, join: &Join) -> Result<(), LabError> {
    let text = serde_json::to_string_pretty(join)
        .map_err(|error| LabError::Bug(format!("join record: {error}")))?;
    std::fs::write(path, text + "\n").map_err(|source| LabError::Io {
        action: "write",
        path: path.clone(),
        source,
    })
}

fn remove_join(path: &PathBuf) -> Result<(), LabError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LabError::Io {
            action: "remove",
            path: path.clone(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_recorded_to_join_starts_into_the_existing_cluster_only_while_its_data_is_empty() {
        let scratch = tempfile::tempdir().unwrap();
        let mut member = crate::etcd::member_state(scratch.path(), "etcd-3", "h3");
        std::fs::create_dir_all(&member.home).unwrap();
        member.peer_port = 1;
        let lab_cluster = "etcd-1=http://127.0.0.1:1,etcd-3=http://127.0.0.1:3";
        assert_eq!(
            cluster_args(&member, lab_cluster)[1],
            "--initial-cluster-state=new"
        );
        write_json(
            &member.home.join(JOIN_FILE),
            &Join {
                member_id: "abc".to_owned(),
                initial_cluster: "etcd-1=http://127.0.0.1:1,etcd-3=http://127.0.0.1:9".to_owned(),
            },
        )
        .unwrap();
        assert_eq!(
            cluster_args(&member, lab_cluster),
            [
                "--initial-cluster=etcd-1=http://127.0.0.1:1,etcd-3=http://127.0.0.1:9".to_owned(),
                "--initial-cluster-state=existing".to_owned()
            ]
        );
        std::fs::create_dir_all(member.data_dir.join("member")).unwrap();
        assert_eq!(
            cluster_args(&member, lab_cluster)[1],
            "--initial-cluster-state=new",
            "with data of its own, etcd ignores both"
        );
    }
}
