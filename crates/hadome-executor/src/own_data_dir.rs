//! A data directory about to be moved aside or written must be the target's own (issue 17, "bad
//! input, every door"): resolved on this machine, it is neither another instance's or etcd
//! member's data directory, nor inside one, nor their parent.
//!
//! The estate file is checked when it is loaded (`hadome-config` refuses one path twice on a
//! host, or nested paths); what the file cannot show is the machine: a `data_dir` that is a
//! symlink into another instance's, or whose parent is one. A rebuild or a restore would then
//! move the other's data aside and write a copy over it. So before any step that moves or writes
//! a data directory here, the paths are resolved (`canonicalize`, through every symlink) and
//! compared; a clash refuses the whole plan with both names and the resolved paths, before its
//! intent, with nothing done.
//!
//! Only data directories read where hadome runs are compared: one on a host reached over SSH, or
//! a Debian cluster's, is moved aside on its host by the built-in actions, and a path of the same
//! name here is another directory.

use std::path::{Path, PathBuf};

use hadome_core::estate::Estate;

use crate::step::Step;

/// A data directory that is, holds or lies inside another's, resolved on this machine.
#[derive(Debug, thiserror::Error)]
pub enum SharedDataDirError {
    /// The target's data directory resolves onto another's.
    #[error(
        "`{target}`'s data directory `{}` resolves to `{}`, {relation} {other}'s data directory (`{}`): moving it aside would take {other}'s data with it",
        .written.display(), .resolved.display(), .other_resolved.display()
    )]
    Shared {
        /// The instance acted on.
        target: String,
        /// Its `data_dir`, as the estate names it.
        written: PathBuf,
        /// Where that leads on this machine.
        resolved: PathBuf,
        /// `the same directory as`, `inside` or `the parent of`.
        relation: &'static str,
        /// The other, named for a sentence: `` `db-2` `` or `` etcd member `etcd-1` ``.
        other: String,
        /// Where the other's data directory leads on this machine.
        other_resolved: PathBuf,
    },
    /// The target's data directory, or an existing ancestor of it, could not be resolved.
    #[error(
        "`{target}`'s data directory `{}` could not be resolved on this machine ({error}): hadome cannot show it is `{target}`'s own",
        .written.display()
    )]
    Unresolved {
        /// The instance acted on.
        target: String,
        /// Its `data_dir`, as the estate names it.
        written: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

impl SharedDataDirError {
    /// How to go on.
    pub fn hint(&self) -> String {
        match self {
            SharedDataDirError::Shared { target, .. } => format!(
                "give `{target}` a data directory of its own (a symlink there must not lead into another instance's), then run again"
            ),
            SharedDataDirError::Unresolved { written, .. } => format!(
                "check that hadome's user may look up every directory on the path to `{}` (a dangling symlink there counts too)",
                written.display()
            ),
        }
    }
}

/// Checks every data directory `steps` move aside or write here; returns one line per target
/// found to be its own.
pub(crate) fn own_data_dirs(
    estate: &Estate,
    steps: &[Step],
) -> Result<Vec<String>, Box<SharedDataDirError>> {
    let mut checked = Vec::new();
    for step in steps {
        let target = match step {
            Step::Preserve { instance, .. } => instance,
            Step::Restore { target, .. } | Step::Rebuild { target, .. } => target,
            _ => continue,
        };
        let Some(instance) = estate.instance(target) else {
            continue;
        };
        if crate::debian::remote_or_debian(estate, instance) || checked.contains(target) {
            continue;
        }
        let resolved = resolve(&instance.data_dir).map_err(|error| {
            Box::new(SharedDataDirError::Unresolved {
                target: target.clone(),
                written: instance.data_dir.clone(),
                error,
            })
        })?;
        for (name, other, other_dir) in local_data_dirs(estate) {
            if name == target.as_str() {
                continue;
            }
            // Another's directory that cannot be resolved is compared as written: the target's,
            // resolved, is what matters, and it may still be seen inside it.
            let other_resolved = resolve(other_dir).unwrap_or_else(|_| other_dir.to_owned());
            let relation = if resolved == other_resolved {
                "the same directory as"
            } else if resolved.starts_with(&other_resolved) {
                "inside"
            } else if other_resolved.starts_with(&resolved) {
                "the parent of"
            } else {
                continue;
            };
            return Err(Box::new(SharedDataDirError::Shared {
                target: target.clone(),
                written: instance.data_dir.clone(),
                resolved,
                relation,
                other,
                other_resolved,
            }));
        }
        checked.push(target.clone());
    }
    Ok(checked
        .iter()
        .map(|target| format!("`{target}`'s data directory is its own: no other instance's or member's data directory is it, holds it or lies inside it"))
        .collect())
}

/// Every data directory read where hadome runs: its owner's name, the owner named for a sentence,
/// and the directory.
fn local_data_dirs(estate: &Estate) -> Vec<(&str, String, &Path)> {
    let instances = estate
        .instances
        .iter()
        .filter(|instance| !crate::debian::remote_or_debian(estate, instance))
        .map(|instance| {
            (
                instance.name.as_str(),
                format!("`{}`", instance.name),
                instance.data_dir.as_path(),
            )
        });
    let members = estate
        .etcd_members
        .iter()
        .filter(|member| estate.ssh_of(&member.host).is_none())
        .filter_map(|member| {
            let data_dir = member.data_dir.as_deref()?;
            Some((
                member.name.as_str(),
                format!("etcd member `{}`", member.name),
                data_dir,
            ))
        });
    instances.chain(members).collect()
}

/// `path` with every symlink followed: its nearest existing ancestor canonicalized, and the rest
/// (what does not exist yet) joined as written.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(error);
                };
                missing.push(name.to_owned());
                existing = parent;
            }
            Err(error) => return Err(error),
        }
    }
    let mut resolved = std::fs::canonicalize(existing)?;
    resolved.extend(missing.iter().rev());
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_resolves_through_symlinks_and_keeps_what_does_not_exist_yet() {
        let scratch = tempfile::tempdir().unwrap();
        let real = scratch.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(resolve(&link).unwrap(), real);
        assert_eq!(
            resolve(&link.join("not-yet/deeper")).unwrap(),
            real.join("not-yet/deeper")
        );
        let dangling = scratch.path().join("dangling");
        std::os::unix::fs::symlink(scratch.path().join("gone"), &dangling).unwrap();
        assert_eq!(
            resolve(&dangling).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
