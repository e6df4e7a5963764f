//! The scratch server a restore test restores into: a one-node lab (`hadome-lab`) in a fresh
//! directory of its own, torn down by PID by the lab's guard on every path.
//!
//! The restore test writes nothing outside this directory: the lab builds the server inside it,
//! `pg_restore` works inside the server, and the lab removes the directory when it tears the server
//! down. A refusal before the lab built anything removes the empty directory here.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hadome_lab::{Lab, LabGuard, LabOptions, Topology};

use crate::error::RestoreError;

/// The scratch server's one node.
pub(crate) const SCRATCH_NODE: &str = "scratch";

/// The scratch server: one primary. It is thrown away after the test, so it skips durability:
/// a crash of the scratch server loses nothing anyone keeps, and the restore runs faster.
const SCRATCH_TOPOLOGY: &str = "\
# hadome's restore test: one primary, removed after the test.
[settings]
fsync = false
synchronous_commit = false
full_page_writes = false

[[node]]
name = \"scratch\"
";

/// The database the dump is restored into, created from `template0` so that nothing of the
/// scratch server's own (the lab's load table) is mixed with what the dump brings.
pub(crate) const RESTORE_DATABASE: &str = "hadome_restore_test";

/// How long connecting to the scratch server, or creating its database, may take.
pub(crate) const SCRATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The scratch server's topology: one node, [`SCRATCH_NODE`], without durability.
pub(crate) fn topology() -> Result<Topology, RestoreError> {
    Topology::parse(SCRATCH_NODE, "hadome's restore test", SCRATCH_TOPOLOGY).map_err(|source| {
        RestoreError::TopologyBug {
            source: Box::new(source),
        }
    })
}

/// A running scratch server, owned by its guard: dropping it (on a `?`, a panic or a dropped
/// future) tears the server down by PID.
pub(crate) struct ScratchServer {
    /// The lab's guard.
    pub(crate) guard: LabGuard,
    /// The server's directory, which the lab removes when it tears the server down.
    pub(crate) dir: PathBuf,
    /// The user hadome runs as (the owner of the directories it makes).
    pub(crate) hadome_uid: u32,
}

/// Starts the scratch server in a fresh directory inside `parent`, its lab proxy served by
/// `hadome_binary`. On error nothing is left running, and the directory is removed.
pub(crate) async fn start(
    topology: &Topology,
    parent: &Path,
    hadome_binary: &Path,
) -> Result<ScratchServer, RestoreError> {
    let dir = make_scratch_dir(parent)?;
    // A directory this process made belongs to its effective user: who hadome runs as.
    let hadome_uid = match metadata(&dir) {
        Ok(made) => made.uid(),
        Err(error) => {
            let _ = std::fs::remove_dir(&dir);
            return Err(error);
        }
    };
    let lab_options = LabOptions::with_hadome_binary(hadome_binary);
    match Lab::up(topology, &dir, &lab_options).await {
        Ok(guard) => Ok(ScratchServer {
            guard,
            dir,
            hadome_uid,
        }),
        Err(source) => {
            // The lab removes what it built; a refusal before it built anything leaves the empty
            // directory made above.
            let _ = std::fs::remove_dir_all(&dir);
            Err(RestoreError::ScratchStart {
                dir,
                source: Box::new(source),
            })
        }
    }
}

/// Tears the scratch server down (by PID, on the blocking pool) and removes its directory.
pub(crate) async fn tear_down(server: ScratchServer) -> Result<(), RestoreError> {
    let ScratchServer { guard, dir, .. } = server;
    match tokio::task::spawn_blocking(move || guard.down()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(RestoreError::ScratchTeardown {
            dir,
            source: Box::new(source),
        }),
        Err(source) => Err(RestoreError::TeardownBug { dir, source }),
    }
}

/// The metadata of `path`, following links.
pub(crate) fn metadata(path: &Path) -> Result<std::fs::Metadata, RestoreError> {
    std::fs::metadata(path).map_err(|source| RestoreError::Metadata {
        path: path.to_owned(),
        source,
    })
}

/// Makes a fresh, empty directory `hadome-rt-PID-N` inside `parent`. The name is short because
/// PostgreSQL's socket path lies inside it and must fit in 107 bytes; the PID and a counter make
/// it unique, and a leftover of an earlier process that had this PID is stepped over.
fn make_scratch_dir(parent: &Path) -> Result<PathBuf, RestoreError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    for _ in 0..100 {
        let number = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("hadome-rt-{}-{number}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(RestoreError::ScratchDir {
                    parent: parent.to_owned(),
                    source,
                })
            }
        }
    }
    Err(RestoreError::ScratchDirsTaken {
        parent: parent.to_owned(),
    })
}
