//! The faults a failover needs from the lab: `fence` (the lab's STONITH) and `follow` (a running
//! standby repointed at another upstream).
//!
//! They are the lab's `fence_command` and `follow_command` (`DIR/estate.toml`), which hadome's
//! daemon runs around a promotion: fence the old primary, promote a standby (the daemon does that
//! itself, with SQL), make the other standbys follow it. Because the promotion does not go through
//! the lab, `follow` asks the servers, not `lab.json`, which node is a primary.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::lab::{instance_pids, process_state, Lab};
use crate::pg;
use crate::process;
use crate::proxy;
use crate::state::NodeState;
use crate::wait::{poll_until, Poll};
use crate::LabError;

/// Lines of a standby's log that say it can never stream from its new upstream: it replayed WAL
/// past the point where the upstream's timeline forked off its own.
const DIVERGED: &[&str] = &[
    "forked off current database system timeline",
    "is not in this server's history",
];

/// The timeline a server writes (a primary) or receives (a standby; the last checkpoint's or
/// restartpoint's when no WAL receiver runs).
const PRIMARY_TIMELINE: &str =
    "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint";
const STANDBY_TIMELINE: &str = "SELECT coalesce((SELECT received_tli FROM pg_stat_wal_receiver), \
     (SELECT timeline_id FROM pg_control_checkpoint()))::bigint";

/// The fix for an instance that is not running, as `lab fault` spells it.
fn start_or_resume(name: &str, process: &str) -> String {
    match process {
        "stopped" => format!("start it first: `hadome lab fault --dir DIR start {name}`"),
        _ => format!("resume it first: `hadome lab fault --dir DIR resume {name}`"),
    }
}

impl Lab {
    /// `fence NODE`: SIGKILL every process of the instance by PID, verify they are gone, and
    /// leave a `standby.signal` in its data directory. Nothing is deleted.
    pub(crate) async fn fence(&self, node: &NodeState) -> Result<String, LabError> {
        crate::pg_host::refuse(node, "fence")?;
        let before = process_state(&self.state, node);
        let postmaster = crate::lab::postmaster_of(&self.state, node);
        if let Some(pid) = postmaster {
            // Frozen first (a no-op when it is hung), so it forks no child between the listing
            // below and its death. SIGKILL needs no SIGCONT: it ends a stopped process too.
            process::send(pid, Signal::SIGSTOP)?;
            poll_until(
                &node.name,
                "the postmaster to stop before it is killed",
                self.wait_timeout,
                || async {
                    Ok(if process::is_stopped(pid) || !process::is_alive(pid) {
                        Poll::Done(())
                    } else {
                        Poll::NotYet(format!("{:?}", process::stat(pid)))
                    })
                },
            )
            .await?;
        }
        let killed = Mutex::new(BTreeSet::<i32>::new());
        poll_until(
            &node.name,
            "every process of the instance to be gone",
            self.wait_timeout,
            || async {
                // Each round lists the instance again: the postmaster's children, and whatever
                // bears its cluster_name (backends a dead postmaster left behind).
                let pids = instance_pids(&self.state, node);
                for pid in &pids {
                    process::send(*pid, Signal::SIGKILL)?;
                }
                let mut killed = killed
                    .lock()
                    .map_err(|_| LabError::Bug("the fence's PID list is poisoned".to_owned()))?;
                killed.extend(pids.iter().copied());
                // A zombie counts as dead: it runs nothing and holds no lock.
                let alive: Vec<i32> = killed
                    .iter()
                    .copied()
                    .filter(|pid| process::is_alive(*pid))
                    .collect();
                Ok(if alive.is_empty() && pids.is_empty() {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!("alive: {alive:?}"))
                })
            },
        )
        .await?;
        let killed = killed
            .into_inner()
            .map_err(|_| LabError::Bug("the fence's PID list is poisoned".to_owned()))?;

        let signal_note = self.leave_standby_signal(node)?;
        let what = if killed.is_empty() {
            format!("`{}` was already down: no process to kill", node.name)
        } else {
            let pids: Vec<String> = killed.iter().map(i32::to_string).collect();
            format!(
                "killed {} processes of `{}` ({before}{}) with SIGKILL, and none is left (PIDs {})",
                killed.len(),
                node.name,
                postmaster.map_or_else(String::new, |pid| format!(", postmaster PID {pid}")),
                pids.join(" ")
            )
        };
        Ok(format!("fenced: {what}; {signal_note}"))
    }

    /// Writes an empty `standby.signal` into `node`'s data directory, owned by the server's user,
    /// unless one is there (an existing file is never truncated). Says what it did.
    fn leave_standby_signal(&self, node: &NodeState) -> Result<String, LabError> {
        let data_dir = &node.data_dir;
        match std::fs::symlink_metadata(data_dir) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(format!(
                    "its data directory `{}` does not exist (moved aside?), so nothing can start \
                     there: no standby.signal written",
                    data_dir.display()
                ))
            }
            Err(source) => {
                return Err(LabError::Io {
                    action: "look for the data directory",
                    path: data_dir.clone(),
                    source,
                })
            }
        }
        let signal = data_dir.join("standby.signal");
        let existed = signal.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&signal)
            .map_err(|source| LabError::Io {
                action: "write",
                path: signal.clone(),
                source,
            })?;
        // A fence must outlive a power cut of the lab's machine as well as a restart.
        file.sync_all().map_err(|source| LabError::Io {
            action: "sync",
            path: signal.clone(),
            source,
        })?;
        pg::hand_over(&self.state.run_as, &signal)?;
        Ok(format!(
            "wrote `{}`{}: a later start brings it up read-only, in recovery",
            signal.display(),
            if existed {
                " (it was already there)"
            } else {
                ""
            }
        ))
    }

    /// `follow STANDBY UPSTREAM`: repoints a running standby at UPSTREAM and waits until it
    /// streams from there.
    pub(crate) async fn follow(
        &self,
        standby_name: &str,
        upstream_name: &str,
    ) -> Result<String, LabError> {
        let standby = self.state.node(standby_name)?;
        let upstream = self.state.node(upstream_name)?;
        crate::pg_host::refuse(standby, "follow")?;
        crate::pg_host::refuse(upstream, "follow")?;
        let refuse = |reason: String, fix: String| LabError::FaultRejected {
            fault: "follow".to_owned(),
            node: standby_name.to_owned(),
            reason,
            fix,
        };
        if standby_name == upstream_name {
            return Err(refuse(
                "a standby cannot stream from itself".to_owned(),
                format!(
                    "name another node as its upstream: `hadome lab fault --dir DIR follow \
                     {standby_name} UPSTREAM`"
                ),
            ));
        }

        // Everything is checked before anything changes: a refusal leaves the estate as it was.
        let process = process_state(&self.state, standby);
        if process != "running" {
            return Err(refuse(
                format!(
                    "the instance is {process}: only a running standby can follow another node"
                ),
                start_or_resume(standby_name, process),
            ));
        }
        let timeout = Duration::from_secs(10);
        let standby_client = self.connect(standby_name).await?;
        let in_recovery: bool = pg::query_one(
            &standby_client,
            standby_name,
            "SELECT pg_is_in_recovery()",
            timeout,
        )
        .await?
        .get(0);
        if !in_recovery {
            return Err(refuse(
                "it is not a standby: it is not in recovery (a primary, or promoted)".to_owned(),
                format!(
                    "a primary cannot follow: fence it (`hadome lab fault --dir DIR fence \
                     {standby_name}`), then rebuild it from `{upstream_name}` (`hadome run \
                     rebuild {standby_name} --from {upstream_name}` moves its data aside first)"
                ),
            ));
        }
        let row = pg::query_one(
            &standby_client,
            standby_name,
            &format!("{STANDBY_TIMELINE}, current_setting('recovery_target_timeline')"),
            timeout,
        )
        .await?;
        let standby_timeline: i64 = row.get(0);
        let target_timeline: String = row.get(1);

        let upstream_process = process_state(&self.state, upstream);
        if upstream_process != "running" {
            return Err(refuse(
                format!(
                    "its new upstream `{upstream_name}` is {upstream_process}: a standby streams \
                     only from a running server"
                ),
                start_or_resume(upstream_name, upstream_process),
            ));
        }
        let upstream_client = self.connect(upstream_name).await?;
        let upstream_in_recovery: bool = pg::query_one(
            &upstream_client,
            upstream_name,
            "SELECT pg_is_in_recovery()",
            timeout,
        )
        .await?
        .get(0);
        let upstream_timeline: i64 = pg::query_one(
            &upstream_client,
            upstream_name,
            if upstream_in_recovery {
                STANDBY_TIMELINE
            } else {
                PRIMARY_TIMELINE
            },
            timeout,
        )
        .await?
        .get(0);

        // recovery_target_timeline = 'current' (or a number) keeps a standby on its timeline: it
        // would connect and never follow a promoted upstream (the Mackerel incident).
        let followed_up_to = match target_timeline.as_str() {
            "latest" => None,
            "current" => Some(standby_timeline),
            number => number.parse::<i64>().ok(),
        };
        if let Some(last) = followed_up_to.filter(|last| upstream_timeline > *last) {
            return Err(refuse(
                format!(
                    "`{upstream_name}` is on timeline {upstream_timeline}, and \
                     recovery_target_timeline = '{target_timeline}' keeps it on timeline {last}: \
                     it would never follow"
                ),
                format!(
                    "rebuild it from `{upstream_name}` instead (`hadome run rebuild \
                     {standby_name} --from {upstream_name}`), or set recovery_target_timeline = \
                     'latest' and restart it"
                ),
            ));
        }
        if self
            .blocked_routes()
            .await?
            .contains(&proxy::link_route(upstream_name, standby_name))
        {
            return Err(refuse(
                format!("the link from `{upstream_name}` to `{standby_name}` is cut: it could not stream"),
                format!("heal it first: `hadome lab fault --dir DIR heal {upstream_name} {standby_name}`"),
            ));
        }
        if upstream_in_recovery {
            // A standby upstream streams from somewhere: not, up its chain, from STANDBY itself.
            let mut seen = BTreeSet::new();
            let mut next = upstream.upstream.clone();
            while let Some(name) = next {
                if name == standby_name {
                    return Err(refuse(
                        format!(
                            "`{upstream_name}` is a standby that streams (through its chain) from \
                             `{standby_name}`: each would wait for the other"
                        ),
                        format!("make `{standby_name}` follow a node up the chain, or the primary"),
                    ));
                }
                if !seen.insert(name.clone()) {
                    break;
                }
                next = self.state.node(&name)?.upstream.clone();
            }
        }

        // The standby's slot, when it uses one, must exist on its new upstream (a primary just
        // promoted has none: slots are not replicated). One its old upstream kept stays there.
        let mut notes = Vec::new();
        if standby.slot {
            let slot = standby.slot_name();
            let missing: bool = pg::query_one(
                &upstream_client,
                upstream_name,
                &format!(
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}')"
                ),
                timeout,
            )
            .await?
            .get(0);
            if missing {
                pg::execute(
                    &upstream_client,
                    upstream_name,
                    &format!("SELECT pg_create_physical_replication_slot('{slot}', true)"),
                    timeout,
                )
                .await?;
                notes.push(format!(
                    "created the physical replication slot `{slot}` on `{upstream_name}`"
                ));
            } else {
                notes.push(format!("it uses the slot `{slot}` on `{upstream_name}`"));
            }
        }

        // Record, write, reload. The standby's new primary_conninfo names the link route from
        // UPSTREAM; PostgreSQL 15 restarts the WAL receiver when primary_conninfo changes on a
        // reload, and recovery_target_timeline ('latest' by default) lets it follow a new timeline.
        let old_upstream = standby.upstream.clone();
        let log_offset = std::fs::metadata(&standby.log_file).map_or(0, |metadata| metadata.len());
        let mut lab = Lab {
            state: self.state.clone(),
            wait_timeout: self.wait_timeout,
        };
        if let Some(node) = lab
            .state
            .nodes
            .iter_mut()
            .find(|node| node.name == standby_name)
        {
            node.upstream = Some(upstream_name.to_owned());
        }
        lab.state.write()?;
        lab.rewrite_lab_conf(standby_name).await?;
        if !upstream_in_recovery && lab.record_promoted(upstream_name).await? {
            notes.push(format!(
                "the lab now records `{upstream_name}` as a primary: it is not in recovery"
            ));
        } else if !lab.lab_conf_is_current(upstream_name)? {
            // A synchronous standby joins its new upstream's synchronous_standby_names.
            lab.rewrite_lab_conf(upstream_name).await?;
            notes.push(format!(
                "rewrote and reloaded the settings of `{upstream_name}`"
            ));
        }

        let port = lab.state.link_port(upstream_name, standby_name)?;
        let log_file = standby.log_file.clone();
        let cluster_name = self.state.cluster_name(standby_name);
        let restarted = Mutex::new(BTreeSet::<i32>::new());
        poll_until(
            standby_name,
            &format!(
                "its WAL receiver to stream from `{upstream_name}` (link port {port}, timeline \
                 {upstream_timeline})"
            ),
            self.wait_timeout,
            || async {
                if let Some(line) = diverged(&log_file, log_offset)? {
                    return Err(LabError::FaultRejected {
                        fault: "follow".to_owned(),
                        node: standby_name.to_owned(),
                        reason: format!(
                            "it has diverged from `{upstream_name}`, so it can never stream from \
                             it (its primary_conninfo now names `{upstream_name}`); its log: {}",
                            line.trim()
                        ),
                        fix: format!(
                            "rebuild it from `{upstream_name}`: `hadome run rebuild \
                             {standby_name} --from {upstream_name}` (which moves its data \
                             directory aside first)"
                        ),
                    });
                }
                let row = pg::query_one(
                    &standby_client,
                    standby_name,
                    "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'no receiver'), \
                            (SELECT sender_port FROM pg_stat_wal_receiver), \
                            (SELECT received_tli FROM pg_stat_wal_receiver)::bigint, \
                            (SELECT pid FROM pg_stat_wal_receiver)",
                    timeout,
                )
                .await?;
                let status: String = row.get(0);
                let sender_port: Option<i32> = row.get(1);
                let received_timeline: Option<i64> = row.get(2);
                let receiver_pid: Option<i32> = row.get(3);
                if let Some(pid) = receiver_pid
                    .filter(|_| status == "waiting" && sender_port != Some(i32::from(port)))
                {
                    // A receiver that reached the end of its sender's timeline waits on that
                    // connection for a new start point and never rereads primary_conninfo (seen
                    // with recovery_target_timeline = 'current'). End it, by PID, once: the startup
                    // process starts another, with the new primary_conninfo.
                    let first = restarted
                        .lock()
                        .map_err(|_| LabError::Bug("the restart list is poisoned".to_owned()))?
                        .insert(pid);
                    let title = process::cmdline(pid).unwrap_or_default();
                    if first && title.starts_with(&format!("postgres: {cluster_name}: walreceiver"))
                    {
                        process::send(pid, Signal::SIGTERM)?;
                    }
                }
                let streaming = status == "streaming"
                    && sender_port == Some(i32::from(port))
                    && received_timeline.is_some_and(|timeline| timeline >= upstream_timeline);
                Ok(if streaming {
                    Poll::Done(())
                } else {
                    Poll::NotYet(format!(
                        "WAL receiver {status}, sender port {}, timeline {}",
                        sender_port.map_or_else(|| "-".to_owned(), |port| port.to_string()),
                        received_timeline
                            .map_or_else(|| "-".to_owned(), |timeline| timeline.to_string())
                    ))
                })
            },
        )
        .await?;

        let was = match old_upstream.as_deref() {
            Some(old) if old != upstream_name => format!(" (it streamed from `{old}`)"),
            Some(_) => " (as before)".to_owned(),
            None => String::new(),
        };
        let mut summary = format!(
            "`{standby_name}` streams from `{upstream_name}`{was} on timeline \
             {upstream_timeline}, through the link port {port}"
        );
        for note in notes {
            summary.push_str("; ");
            summary.push_str(&note);
        }
        Ok(summary)
    }
}

/// The first line of `log_file` after `offset` that says the standby diverged, if any.
fn diverged(log_file: &Path, offset: u64) -> Result<Option<String>, LabError> {
    let log = std::fs::read(log_file).map_err(|source| LabError::Io {
        action: "read",
        path: log_file.to_owned(),
        source,
    })?;
    let start = usize::try_from(offset).map_or(log.len(), |offset| offset.min(log.len()));
    Ok(String::from_utf8_lossy(&log[start..])
        .lines()
        .find(|line| DIVERGED.iter().any(|needle| line.contains(needle)))
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergence_is_read_from_the_log_after_the_offset() {
        let scratch = tempfile::tempdir().unwrap();
        let log = scratch.path().join("postgresql.log");
        let old = "LOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/3000148\n";
        std::fs::write(&log, old).unwrap();
        let offset = std::fs::metadata(&log).unwrap().len();
        assert_eq!(diverged(&log, 0).unwrap().as_deref(), Some(old.trim_end()));
        assert_eq!(
            diverged(&log, offset).unwrap(),
            None,
            "old lines are not read"
        );
        let fresh = "FATAL:  could not receive data from WAL stream: ERROR:  requested starting point 0/4000000 on timeline 1 is not in this server's history";
        std::fs::write(&log, format!("{old}LOG:  started streaming\n{fresh}\n")).unwrap();
        assert_eq!(diverged(&log, offset).unwrap().as_deref(), Some(fresh));
        assert_eq!(diverged(&log, u64::MAX).unwrap(), None);
    }

    #[test]
    fn the_fix_for_a_down_node_starts_or_resumes_it() {
        assert!(start_or_resume("db-1", "stopped").contains("fault --dir DIR start db-1"));
        assert!(start_or_resume("db-1", "hung").contains("resume db-1"));
    }
}
