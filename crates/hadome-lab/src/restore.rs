//! `lab restore`: a stopped primary node given a fresh data directory restored from a
//! `pg_dump -Fc` archive.
//!
//! This is the lab's `restore_command` for a `[[backup]]` (hadome's `run restore-backup` runs it
//! after it has stopped the target and moved its data directory aside). Like `lab rebuild`, it
//! never overwrites or deletes data: it refuses, and changes nothing, unless the target is a
//! primary node (a standby is rebuilt from its upstream, not restored), it is stopped, no process
//! of its instance is left, its data directory does not exist, and the archive can be opened.
//! Then it runs initdb with the lab's settings, starts the server, feeds the archive to
//! `pg_restore` on its standard input (so the archive needs to be readable by hadome's user only,
//! not by the server's), stops the server cleanly and returns: the node is left stopped, with the
//! restored data, for its `start_command`.
//!
//! The restore commits with `synchronous_commit = local`: the node's standbys, if any, were
//! copies of the data it had before and cannot follow a new data directory (its system identifier
//! is new); they must be rebuilt from it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;

use crate::fault::clear_stale_lock;
use crate::lab::Lab;
use crate::rebuild::{require_empty_place, Replacing};
use crate::LabError;

/// What [`Lab::restore`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The node restored.
    pub target: String,
    /// The archive restored.
    pub archive: PathBuf,
    /// The node's new data directory.
    pub data_dir: PathBuf,
    /// What was done and verified, in one sentence.
    pub summary: String,
}

impl Lab {
    /// Restores the `pg_dump -Fc` archive `archive` into a fresh data directory of the stopped
    /// primary node `target`, and leaves it stopped.
    ///
    /// Refused with [`LabError::FaultRejected`], changing nothing, unless: `target` is a primary
    /// node; it is stopped, and no process of its instance is left; its data directory does not
    /// exist (move it aside first: the lab never overwrites or deletes data); and `archive` can be
    /// opened. An unknown name is [`LabError::UnknownNode`]. When `pg_restore` fails, the new data
    /// directory stays, stopped, for a person to look at (its server's log is the node's).
    pub async fn restore(&self, target: &str, archive: &Path) -> Result<RestoreReport, LabError> {
        let current = self.reread()?;
        let state = &current.state;
        let node = state.node(target)?;
        crate::pg_host::refuse(node, "restore")?;
        let refuse = |reason: String, fix: String| LabError::FaultRejected {
            fault: "restore".to_owned(),
            node: target.to_owned(),
            reason,
            fix,
        };
        let data_dir = node.data_dir.clone();
        if let Some(upstream) = &node.upstream {
            return Err(refuse(
                format!("it is a standby of `{upstream}`: only a primary node is restored from a backup"),
                format!("rebuild it from its upstream instead: `hadome lab rebuild --dir DIR {target} --from {upstream}`"),
            ));
        }
        require_empty_place(state, node, &Replacing::RESTORE)?;
        let input = std::fs::File::open(archive).map_err(|source| LabError::Io {
            action: "open the archive to restore",
            path: archive.to_owned(),
            source,
        })?;
        clear_stale_lock(node, "restore")?;

        current.initdb(node).await?;
        current.configure(node)?;
        current.pg_ctl_start(node).await?;
        let restored = pg_restore(&current, node, input).await;
        let stopped = current.pg_ctl_stop(node).await;
        restored?;
        stopped?;
        Ok(RestoreReport {
            target: target.to_owned(),
            archive: archive.to_owned(),
            data_dir: data_dir.clone(),
            summary: format!(
                "restored `{}` into a fresh data directory of `{target}` (`{}`) with pg_restore; \
                 `{target}` is stopped, ready to start",
                archive.display(),
                data_dir.display()
            ),
        })
    }
}

/// `pg_restore` of `input` into `node`'s `postgres` database over its socket, as hadome's own
/// user (the socket is the only way in; the archive is read by this process).
async fn pg_restore(
    lab: &Lab,
    node: &crate::state::NodeState,
    input: std::fs::File,
) -> Result<(), LabError> {
    let program = lab.state.bindir.join("pg_restore");
    let args: Vec<OsString> = vec![
        "--exit-on-error".into(),
        "--no-owner".into(),
        "--host".into(),
        node.socket_dir.clone().into(),
        "--port".into(),
        "5432".into(),
        "--username".into(),
        "postgres".into(),
        "--dbname".into(),
        "postgres".into(),
    ];
    let what = format!("pg_restore into `{}`", node.name);
    let output = tokio::process::Command::new(&program)
        .args(&args)
        .current_dir(&lab.state.dir)
        .stdin(Stdio::from(input))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .env("PGOPTIONS", "-c synchronous_commit=local")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| LabError::Spawn {
            what: what.clone(),
            program: program.display().to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        what,
        program: program.display().to_string(),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
