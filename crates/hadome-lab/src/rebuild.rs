//! `lab rebuild`: a stopped node made a fresh standby of a running one.
//!
//! This is the lab's `rebuild_command` (`DIR/estate.toml`), which hadome's executor runs after it
//! has stopped the target and moved its data directory aside. The lab never overwrites or deletes
//! data, so a rebuild requires that the target's data directory does not exist; it refuses, and
//! changes nothing, unless the target is stopped, its data directory is gone, the source runs and
//! the link from the source to the target is not cut. Then it takes a base backup of the source
//! into the target's data directory, writes the target's own lab settings (the copy holds the
//! source's) with `primary_conninfo` on the link route from the source, records the source as the
//! target's upstream in `lab.json`, starts the target, and returns once it streams.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::fault::clear_stale_lock;
use crate::lab::{instance_pids, process_state, Lab};
use crate::pg::{self, run};
use crate::proxy;
use crate::LabError;

/// What [`Lab::rebuild`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// The node rebuilt.
    pub target: String,
    /// The node it was copied from, and now streams from.
    pub source: String,
    /// The target's new data directory.
    pub data_dir: PathBuf,
    /// The target's new postmaster PID.
    pub pid: Option<i32>,
    /// What was done and verified, in one sentence.
    pub summary: String,
}

impl Lab {
    /// Makes `target` a fresh standby of `source`: a base backup of `source` into `target`'s data
    /// directory, `target`'s own settings streaming through the link route from `source`, a start;
    /// returns once its WAL receiver streams. `lab.json` then names `source` as its upstream
    /// (without a replication slot; the primary's `synchronous_standby_names` is unchanged).
    ///
    /// Refused with [`LabError::FaultRejected`], changing nothing, unless: `target` and `source`
    /// are two different nodes; `target` is stopped; its data directory does not exist (move it
    /// aside first: the lab never overwrites or deletes data); `source` runs; and the link from
    /// `source` to `target` is not cut. An unknown name is [`LabError::UnknownNode`].
    pub async fn rebuild(&self, target: &str, source: &str) -> Result<RebuildReport, LabError> {
        let current = self.reread()?;
        let state = &current.state;
        let target_node = state.node(target)?;
        let source_node = state.node(source)?;
        crate::pg_host::refuse(target_node, "rebuild")?;
        crate::pg_host::refuse(source_node, "rebuild")?;
        let refuse = |reason: String, fix: String| LabError::FaultRejected {
            fault: "rebuild".to_owned(),
            node: target.to_owned(),
            reason,
            fix,
        };

        if target == source {
            let other = state
                .nodes
                .iter()
                .find(|node| node.name != target && process_state(state, node) == "running")
                .map_or("SOURCE", |node| node.name.as_str());
            return Err(refuse(
                "it cannot be rebuilt from itself: a rebuild replaces its data with a copy of \
                 another node's"
                    .to_owned(),
                format!(
                    "name another node, one that runs, with --from: \
                     `hadome lab rebuild --dir DIR {target} --from {other}`"
                ),
            ));
        }

        require_empty_place(state, target_node, &Replacing::REBUILD)?;

        let source_process = process_state(state, source_node);
        if source_process != "running" {
            let fix = match source_process {
                "stopped" => format!("start it first: `hadome lab fault --dir DIR start {source}`"),
                _ => format!("resume it first: `hadome lab fault --dir DIR resume {source}`"),
            };
            return Err(refuse(
                format!(
                    "the source `{source}` is {source_process}: a base backup needs it running"
                ),
                fix,
            ));
        }
        let port = state.link_port(source, target)?;
        if current
            .blocked_routes()
            .await?
            .contains(&proxy::link_route(source, target))
        {
            return Err(refuse(
                format!(
                    "the link from `{source}` to `{target}` is cut: the rebuilt standby could \
                     not stream"
                ),
                format!("heal it first: `hadome lab fault --dir DIR heal {source} {target}`"),
            ));
        }
        // Whether SOURCE is a primary, as the server says: hadome's daemon promotes with SQL, so
        // the lab state may still record a promoted SOURCE as a standby.
        let source_client = current.connect(source).await?;
        let source_in_recovery: bool = pg::query_one(
            &source_client,
            source,
            "SELECT pg_is_in_recovery()",
            Duration::from_secs(10),
        )
        .await?
        .get(0);
        drop(source_client);
        // A crashed instance may have left its socket's lock file; a live one is refused here.
        clear_stale_lock(target_node, "rebuild")?;

        // The target as it will be: a standby of `source`, with no slot.
        let mut rebuilt = current.state.clone();
        let node = rebuilt
            .nodes
            .iter_mut()
            .find(|node| node.name == target)
            .ok_or_else(|| LabError::Bug(format!("`{target}` vanished from the lab state")))?;
        node.upstream = Some(source.to_owned());
        node.slot = false;
        let mut lab = Lab {
            state: rebuilt,
            wait_timeout: self.wait_timeout,
        };
        let node = lab.state.node(target)?;
        let source_node = lab.state.node(source)?;

        let args: Vec<OsString> = vec![
            "-D".into(),
            node.data_dir.clone().into(),
            "-h".into(),
            source_node.socket_dir.clone().into(),
            "-p".into(),
            "5432".into(),
            "-U".into(),
            "postgres".into(),
            "--wal-method=stream".into(),
            "--checkpoint=fast".into(),
            "--no-sync".into(),
        ];
        run(
            &lab.state.run_as,
            &lab.state.dir,
            &lab.state.bindir.join("pg_basebackup"),
            &args,
            &format!("pg_basebackup of `{target}` from `{source}`"),
        )
        .await?;
        // The copy holds the source's lab settings (its cluster_name, socket, upstream): replace
        // them with the target's.
        lab.configure(node)?;
        // From here on the data directory is a standby of `source`, started or not.
        lab.state.write()?;
        lab.pg_ctl_start(node).await?;
        lab.wait_streaming(target).await?;
        let data_dir = node.data_dir.clone();
        let pid = crate::lab::postmaster_of(&lab.state, node);
        let promoted = !source_in_recovery && lab.record_promoted(source).await?;
        Ok(RebuildReport {
            target: target.to_owned(),
            source: source.to_owned(),
            data_dir: data_dir.clone(),
            pid,
            summary: format!(
                "rebuilt `{target}` from `{source}` (pg_basebackup into `{}`); it streams from \
                 `{source}` through link port {port}{}{}",
                data_dir.display(),
                pid.map_or_else(String::new, |pid| format!(" (postmaster PID {pid})")),
                if promoted {
                    format!("; the lab now records `{source}` as a primary: it is not in recovery")
                } else {
                    String::new()
                },
            ),
        })
    }
}

/// What replaces a node's data directory: how its refusals name the operation.
pub(crate) struct Replacing {
    /// The fault name in [`LabError::FaultRejected`] and the lab command (`rebuild`).
    pub(crate) verb: &'static str,
    /// "rebuilt".
    pub(crate) done: &'static str,
    /// The hadome command that stops, moves aside and replaces in one go.
    pub(crate) by: &'static str,
}

impl Replacing {
    pub(crate) const REBUILD: Replacing = Replacing {
        verb: "rebuild",
        done: "rebuilt",
        by: "hadome run rebuild",
    };
    pub(crate) const RESTORE: Replacing = Replacing {
        verb: "restore",
        done: "restored",
        by: "hadome run restore-backup",
    };
}

/// Refuses with [`LabError::FaultRejected`], changing nothing, unless `node` is stopped, no
/// process of its instance is left, and its data directory does not exist: the lab never
/// overwrites or deletes data, so a rebuild or a restore needs the place empty.
pub(crate) fn require_empty_place(
    state: &crate::state::LabState,
    node: &crate::state::NodeState,
    replacing: &Replacing,
) -> Result<(), LabError> {
    let Replacing { verb, done, by } = replacing;
    let target = node.name.as_str();
    let refuse = |reason: String, fix: String| LabError::FaultRejected {
        fault: (*verb).to_owned(),
        node: target.to_owned(),
        reason,
        fix,
    };
    let data_dir = &node.data_dir;
    let shown = data_dir.display();
    let process = process_state(state, node);
    if process != "stopped" {
        let resume = if process == "running" {
            String::new()
        } else {
            format!("resume it (`hadome lab fault --dir DIR resume {target}`), then ")
        };
        return Err(refuse(
            format!("the instance is {process}: only a stopped instance is {done}"),
            format!(
                "{resume}stop it (`hadome lab fault --dir DIR stop {target}`), move its data \
                 directory aside (`mv {shown} {shown}.aside`), then {verb}; `{by}` does all of \
                 this"
            ),
        ));
    }
    let left = instance_pids(state, node);
    if !left.is_empty() {
        return Err(refuse(
            format!(
                "processes of its instance still run (PIDs {left:?}), though `{shown}` names \
                 no postmaster"
            ),
            format!(
                "if its data directory was moved aside while it ran, stop the server there \
                 (`pg_ctl stop -D MOVED_DIR -m fast`); a crashed instance's backends exit on \
                 their own within seconds. Then {verb} again"
            ),
        ));
    }
    match std::fs::symlink_metadata(data_dir) {
        Ok(_) => Err(refuse(
            format!(
                "its data directory `{shown}` exists: the lab never overwrites or deletes data"
            ),
            format!(
                "move it aside first (`mv {shown} {shown}.aside`), as `{by}` does, then {verb} \
                 into the empty place"
            ),
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LabError::Io {
            action: "look for the data directory",
            path: data_dir.clone(),
            source,
        }),
    }
}
