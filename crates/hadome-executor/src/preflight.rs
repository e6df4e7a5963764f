//! [`preflight`]: before a plan destroys anything, check that its constructive half can work
//! (issue 18, "never worse"). A rebuild moves the target's data directory aside and then copies
//! from the source; when the source cannot be reached from the target — the very network cut
//! that stopped its stream — the copy fails and the target is left worse off than the cut left
//! it. The checks here run before the intent is recorded: a failed one refuses the plan with the
//! reason and changes nothing.
//!
//! What is checked, for each rebuild:
//! - the source answers hadome now, as the one the data will come from;
//! - the target's upstream answers at the address the target itself uses (its
//!   `primary_conninfo`, when the target answers): the closest hadome gets, from where it runs,
//!   to "the source answers a replication connection from the target's side". Run over SSH from
//!   the target's host, the check will be exact (issue 15);
//! - there is room for the copy beside the old data: the filesystem that holds the target's data
//!   directory (where the old one stays, moved aside) has at least the source's databases' size
//!   (`pg_database_size`) plus a tenth free. The data directory is read where hadome runs, as
//!   the executor's move aside does; over SSH it will be read on the target's host (issue 15).
//!
//! Before all of them, for every data directory a step moves aside or writes here: it is the
//! target's own, resolved through symlinks (`crate::own_data_dir`, issue 17).
//!
//! And for a plan that removes a quorum member (`replace-member`, `remove-member`): every member
//! command after the removal runs a program that exists and is executable, and the data
//! directory's parent is writable (`crate::member::member_preflight`).

use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::fact::ProbeOutcome;

use crate::step::Step;

/// Why a plan is refused before it starts; nothing was done.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The step names an instance the estate does not have.
    #[error("no instance `{0}`")]
    NoInstance(String),
    /// The source of a rebuild does not answer.
    #[error("the source `{from}` does not answer ({error}): a rebuild from it would move `{target}`'s data aside and then fail")]
    SourceDown {
        /// The source.
        from: String,
        /// The target.
        target: String,
        /// Why, as the probe said.
        error: String,
    },
    /// The target cannot reach its upstream at the address it uses.
    #[error("`{target}` cannot reach its upstream at the address its primary_conninfo names ({error}): a rebuild from `{from}` would move its data aside and then fail to copy; it will catch up on its own once the link is back")]
    UpstreamUnreachable {
        /// The target.
        target: String,
        /// The source.
        from: String,
        /// What the connection attempt said.
        error: hadome_observer::SessionError,
    },
    /// The source's size could not be read, so the room for the copy cannot be shown.
    #[error("the size of `{from}`'s data could not be read ({error}): hadome cannot show there is room for the copy beside `{target}`'s old data")]
    SizeUnknown {
        /// The source.
        from: String,
        /// The target.
        target: String,
        /// What the query said.
        error: hadome_observer::SessionError,
    },
    /// The target's filesystem could not be read.
    #[error("the filesystem of `{path}` could not be read ({error}): hadome cannot show there is room for `{target}`'s copy")]
    FilesystemUnknown {
        /// The target.
        target: String,
        /// The path asked about.
        path: std::path::PathBuf,
        /// What statvfs said.
        error: nix::errno::Errno,
    },
    /// No room for the copy beside the old data.
    #[error("no room for the copy: `{from}`'s databases hold {needed} bytes, and the filesystem of `{path}` (where `{target}`'s old data stays, moved aside) has {free} bytes free; a rebuild would move its data aside and then fail to copy")]
    NoRoom {
        /// The target.
        target: String,
        /// The source.
        from: String,
        /// The target's data directory.
        path: std::path::PathBuf,
        /// Bytes free there for an unprivileged writer.
        free: u64,
        /// The source's size plus a tenth.
        needed: u64,
    },
    /// A check on the target's host failed (no room, no path to the source, or the host does
    /// not answer over SSH).
    #[error("on `{target}`'s host: {error}; a rebuild from `{from}` would move its data aside and then fail")]
    OnTargetHost {
        /// The target.
        target: String,
        /// The source.
        from: String,
        /// What the check said.
        error: crate::CommandError,
    },
    /// A step after a member's removal could not work.
    #[error(transparent)]
    Member(#[from] crate::member::MemberPreflightError),
    /// A data directory to be moved aside or written is not the target's own (issue 17).
    #[error(transparent)]
    SharedDataDir(#[from] Box<crate::own_data_dir::SharedDataDirError>),
}

impl PreflightError {
    /// How to go on.
    pub fn hint(&self) -> Option<String> {
        match self {
            PreflightError::NoInstance(_) => None,
            PreflightError::SourceDown { from, .. } => Some(format!(
                "bring `{from}` back, or rebuild from another member that answers"
            )),
            PreflightError::UpstreamUnreachable { target, .. } => Some(format!(
                "repair the network path from `{target}` to its upstream; `hadome check` shows when it streams again"
            )),
            PreflightError::SizeUnknown { .. } => Some(
                "grant hadome's role `pg_monitor` (docs/privileges.md), or rebuild by hand".to_owned(),
            ),
            PreflightError::FilesystemUnknown { path, .. } => Some(format!(
                "check that `{}` exists and that hadome may read it",
                path.display()
            )),
            PreflightError::NoRoom { path, .. } => Some(format!(
                "free space on the filesystem of `{}`, or move the old data directory elsewhere by hand first",
                path.display()
            )),
            PreflightError::OnTargetHost { target, .. } => Some(format!(
                "make `{target}`'s host reachable (`ssh` in its `[[host]]`), free space beside its data directory, or repair its path to the source; nothing was done"
            )),
            PreflightError::SharedDataDir(error) => Some(error.hint()),
            PreflightError::Member(error) => Some(match error {
                crate::member::MemberPreflightError::NoMember(_) => {
                    "declare it: `[[etcd]]` with its name (examples/estate.toml)".to_owned()
                }
                crate::member::MemberPreflightError::NotExecutable { member, key, .. } => format!(
                    "fix `{key}` in the `[[etcd]]` named `{member}` (an argv array; its program must exist where hadome runs), then run again"
                ),
                crate::member::MemberPreflightError::NotWritable { path, .. } => format!(
                    "let hadome's user write `{}`, or move the data directory aside by hand",
                    path.display()
                ),
            }),
        }
    }
}

/// Checks, before anything is done, that the constructive steps of `steps` can work; returns
/// one line per check that passed. Each probe is bounded by the estate's probe timeout.
pub async fn preflight(estate: &Estate, steps: &[Step]) -> Result<Vec<String>, PreflightError> {
    let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
    let mut passed = crate::own_data_dir::own_data_dirs(estate, steps)?;
    passed.extend(crate::member::member_preflight(estate, steps)?);
    for step in steps {
        let Step::Rebuild { target, source } = step else {
            continue;
        };
        let instance = |name: &str| {
            estate
                .instance(name)
                .ok_or_else(|| PreflightError::NoInstance(name.to_owned()))
        };
        let (source_instance, target_instance) = (instance(source)?, instance(target)?);
        let (from, to) = tokio::join!(
            hadome_observer::observe_instance(source_instance, timeout),
            hadome_observer::observe_instance(target_instance, timeout)
        );
        if let ProbeOutcome::Unreachable { error, .. } = &from.outcome {
            return Err(PreflightError::SourceDown {
                from: source.clone(),
                target: target.clone(),
                error: error.clone(),
            });
        }
        passed.push(format!("`{source}` answers"));
        if target_instance.commands.debian.is_some()
            || estate.ssh_of(&target_instance.host).is_some()
        {
            // Exact, from the target's host itself: room beside its data, and the source's
            // answer to the very connection pg_basebackup will make from there.
            passed.extend(on_target_host(estate, target_instance, source_instance, timeout).await?);
            continue;
        }
        passed.push(room_for_copy(target_instance, source_instance, timeout).await?);
        let upstream = match &to.outcome {
            ProbeOutcome::Answered(state) if !state.primary_conninfo.is_empty() => {
                state.primary_conninfo.clone()
            }
            _ => {
                passed.push(format!(
                    "`{target}`'s own path to its upstream is not checked: it does not answer as a standby"
                ));
                continue;
            }
        };
        match hadome_observer::answers_at(&upstream, timeout).await {
            Ok(how) => passed.push(format!(
                "`{target}`'s upstream answers at the address `{target}` uses: {how}"
            )),
            Err(error) => {
                return Err(PreflightError::UpstreamUnreachable {
                    target: target.clone(),
                    from: source.clone(),
                    error,
                })
            }
        }
    }
    Ok(passed)
}

/// The bytes a copy of `source` needs beside `target`'s old data: its databases plus a tenth.
async fn needed_for_copy(
    target: &hadome_core::estate::Instance,
    source: &hadome_core::estate::Instance,
    timeout: Duration,
) -> Result<u64, PreflightError> {
    let bytes = hadome_observer::data_bytes(source, timeout)
        .await
        .map_err(|error| PreflightError::SizeUnknown {
            from: source.name.clone(),
            target: target.name.clone(),
            error,
        })?;
    Ok(bytes.saturating_add(bytes / 10))
}

/// The rebuild's checks run on the target's host (over SSH when it is reached so): room for the
/// copy beside the old data, and a replication connection to the source from there.
async fn on_target_host(
    estate: &Estate,
    target: &hadome_core::estate::Instance,
    source: &hadome_core::estate::Instance,
    timeout: Duration,
) -> Result<Vec<String>, PreflightError> {
    let needed = needed_for_copy(target, source, timeout).await?;
    let on_host = |error: crate::CommandError| PreflightError::OnTargetHost {
        target: target.name.clone(),
        from: source.name.clone(),
        error,
    };
    let room = crate::debian::run(estate, target, &crate::debian::Action::Room(needed))
        .await
        .map_err(on_host)?;
    let conninfo = crate::execute::standby_conninfo(source, target)
        .map_err(|_| PreflightError::NoInstance(source.name.clone()))?;
    let replication = if conninfo.starts_with("postgres") {
        let joiner = if conninfo.contains('?') { '&' } else { '?' };
        format!("{conninfo}{joiner}replication=true")
    } else {
        format!("{conninfo} replication=true")
    };
    let reaches = crate::debian::run(estate, target, &crate::debian::Action::Reaches(replication))
        .await
        .map_err(on_host)?;
    Ok(vec![
        format!(
            "room for the copy on `{}`'s host: `{}` needs {needed} bytes with a tenth to spare; {}",
            target.name, source.name, room.said
        ),
        format!("from `{}`'s host, {}", target.name, reaches.said),
    ])
}

/// Whether the filesystem of `target`'s data directory has room for a copy of `source` beside
/// the old data (which stays there, moved aside): the source's databases plus a tenth.
async fn room_for_copy(
    target: &hadome_core::estate::Instance,
    source: &hadome_core::estate::Instance,
    timeout: Duration,
) -> Result<String, PreflightError> {
    let needed = needed_for_copy(target, source, timeout).await?;
    let path = target.data_dir.clone();
    let free = free_bytes(&path).map_err(|error| PreflightError::FilesystemUnknown {
        target: target.name.clone(),
        path: path.clone(),
        error,
    })?;
    if free < needed {
        return Err(PreflightError::NoRoom {
            target: target.name.clone(),
            from: source.name.clone(),
            path,
            free,
            needed,
        });
    }
    Ok(format!(
        "room for the copy: `{}` needs {needed} bytes with a tenth to spare, {free} bytes are free beside `{}`'s data",
        source.name, target.name
    ))
}

/// Bytes free for an unprivileged writer on the filesystem holding `path` (or, when it does not
/// exist, its nearest existing ancestor's).
fn free_bytes(path: &std::path::Path) -> Result<u64, nix::errno::Errno> {
    let existing = path
        .ancestors()
        .find(|ancestor| ancestor.exists())
        .unwrap_or(path);
    let stat = nix::sys::statvfs::statvfs(existing)?;
    Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_are_read_from_the_nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let here = free_bytes(dir.path()).unwrap();
        assert!(here > 0);
        let missing = free_bytes(&dir.path().join("not/yet/there")).unwrap();
        // The same filesystem; other writers may change it a little in between.
        assert!(
            missing.abs_diff(here) < here / 10 + (64 << 20),
            "{here} {missing}"
        );
    }
}
