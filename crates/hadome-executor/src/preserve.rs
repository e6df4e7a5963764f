//! Preserve before destroy: [`preserve`] moves a data directory aside, to
//! `DATA.hadome-aside-STAMP`, and never deletes anything.
//!
//! A rebuild or a restore writes a new data directory where the old one was; the old one may
//! hold the only copy of commits nobody else has (incident B), so it is renamed, on the same
//! filesystem, and left for a person to remove.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hadome_core::fact::Timestamp;

/// Why a data directory could not be moved aside; nothing was deleted.
#[derive(Debug, thiserror::Error)]
pub enum PreserveError {
    /// The estate names no data directory for the instance.
    #[error("the instance has no data_dir in the estate")]
    NoDataDir,
    /// The directory could not be looked at.
    #[error("cannot read `{}`: {error}", .path.display())]
    Read {
        /// The data directory.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// Putting a directory back failed; it is still aside.
    #[error("could not move `{}` back to `{}`: {error}", .aside.display(), .path.display())]
    PutBack {
        /// Where the data directory is.
        aside: PathBuf,
        /// Where it belongs.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The rename failed.
    #[error("could not move `{}` aside to `{}`: {error}", .path.display(), .aside.display())]
    Move {
        /// The data directory.
        path: PathBuf,
        /// Where it was to go.
        aside: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

/// Moves `data_dir` aside to `DATA.hadome-aside-YYYYMMDDTHHMMSSZ` (with `-2`, `-3` … when that
/// exists); nothing is deleted. Returns what was done: where it went, or that there was nothing.
pub fn preserve(data_dir: &Path) -> Result<String, PreserveError> {
    let aside = move_aside(data_dir, "aside")?;
    Ok(preserved(data_dir, aside.as_deref()))
}

/// What a preserve did, as its step's detail: where the data directory went, or that there was
/// nothing to move.
pub(crate) fn preserved(data_dir: &Path, aside: Option<&Path>) -> String {
    match aside {
        Some(aside) => format!("moved to `{}`", aside.display()),
        None => format!(
            "nothing to preserve: `{}` does not exist",
            data_dir.display()
        ),
    }
}

/// Moves `data_dir` to `DATA.hadome-WHY-STAMP`; `None` when it does not exist.
pub(crate) fn move_aside(data_dir: &Path, why: &str) -> Result<Option<PathBuf>, PreserveError> {
    if data_dir.as_os_str().is_empty() {
        return Err(PreserveError::NoDataDir);
    }
    match std::fs::symlink_metadata(data_dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(PreserveError::Read {
                path: data_dir.to_owned(),
                error,
            })
        }
        Ok(_) => {}
    }
    let stamp = wall_clock().utc_stamp();
    let mut aside = PathBuf::from(format!("{}.hadome-{why}-{stamp}", data_dir.display()));
    let mut counter = 1;
    while aside.exists() {
        counter += 1;
        aside = PathBuf::from(format!(
            "{}.hadome-{why}-{stamp}-{counter}",
            data_dir.display()
        ));
    }
    std::fs::rename(data_dir, &aside).map_err(|error| PreserveError::Move {
        path: data_dir.to_owned(),
        aside: aside.clone(),
        error,
    })?;
    Ok(Some(aside))
}

/// Puts a data directory that was moved aside back in place (a repair failed before anything
/// new was kept): whatever the failed step left at `data_dir` (a partial copy) is moved aside
/// first, to `DATA.hadome-partial-STAMP`, never deleted.
pub fn put_back(data_dir: &Path, aside: &Path) -> Result<String, PreserveError> {
    let partial = match std::fs::read_dir(data_dir).map(|mut entries| entries.next().is_none()) {
        // An empty directory holds nothing to keep: the rename replaces it.
        Ok(true) => None,
        Ok(false) => move_aside(data_dir, "partial")?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        // Not a directory, or unreadable: keep it aside, whatever it is.
        Err(_) => move_aside(data_dir, "partial")?,
    };
    std::fs::rename(aside, data_dir).map_err(|error| PreserveError::PutBack {
        aside: aside.to_owned(),
        path: data_dir.to_owned(),
        error,
    })?;
    Ok(match partial {
        Some(partial) => format!(
            "moved `{}` back to `{}` (what the failed step left there is at `{}`)",
            aside.display(),
            data_dir.display(),
            partial.display()
        ),
        None => format!(
            "moved `{}` back to `{}`",
            aside.display(),
            data_dir.display()
        ),
    })
}

/// The wall clock, to the millisecond: the executor is an edge, and stamps what it moves aside.
fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserve_moves_aside_and_never_deletes() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let detail = preserve(&data).unwrap();
        assert!(!data.exists());
        let aside: Vec<PathBuf> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(
            std::fs::read_to_string(aside[0].join("PG_VERSION")).unwrap(),
            "15\n"
        );
        assert!(detail.contains(".hadome-aside-"), "{detail}");
        assert!(preserve(&data).unwrap().contains("nothing to preserve"));
    }

    #[test]
    fn put_back_keeps_what_a_failed_step_left_aside_and_restores_the_old_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "old\n").unwrap();
        let aside = move_aside(&data, "aside").unwrap().unwrap();
        // A half-made copy where the data directory was.
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("base.tar.partial"), "half").unwrap();
        let detail = put_back(&data, &aside).unwrap();
        assert_eq!(
            std::fs::read_to_string(data.join("PG_VERSION")).unwrap(),
            "old\n"
        );
        assert!(!aside.exists());
        let partial: Vec<PathBuf> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains(".hadome-partial-"))
            .collect();
        assert_eq!(partial.len(), 1, "{detail}");
        assert_eq!(
            std::fs::read_to_string(partial[0].join("base.tar.partial")).unwrap(),
            "half",
            "nothing is deleted, not even a partial copy"
        );
        // An empty directory left behind is simply replaced.
        let aside = move_aside(&data, "aside").unwrap().unwrap();
        std::fs::create_dir(&data).unwrap();
        assert!(put_back(&data, &aside)
            .unwrap()
            .ends_with(&format!("`{}`", data.display())));
    }
}
