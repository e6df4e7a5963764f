//! A data path as it is now: bytes and count of regular files under it, the newest modification
//! time of anything under it (the path itself included), and the filesystem it lives on.
//!
//! The path asked for is followed if it is a link (the estate names it, and its [`Storage`] is
//! where it leads); nothing under it is (a link inside counts by its own time, never its
//! target's, so a link to `/` cannot make the walk read the whole machine). An entry that cannot
//! be read makes the whole path unreadable: a size that silently skipped a directory would
//! understate what a deletion destroys.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hadome_core::backup::Storage;
use hadome_core::fact::Timestamp;
use hadome_core::host::{DataPathFact, DataPathState};

use crate::unit_path::under_root;

/// Reads `path` (as the host names it) under `root`.
pub(crate) fn read_data_path(root: &Path, path: &Path) -> DataPathFact {
    DataPathFact {
        path: path.to_path_buf(),
        outcome: walk(&under_root(root, path)),
    }
}

fn walk(top: &Path) -> Result<DataPathState, String> {
    let metadata = std::fs::metadata(top).map_err(|error| unreadable(top, &error))?;
    let canonical = std::fs::canonicalize(top).map_err(|error| unreadable(top, &error))?;
    let mut state = DataPathState {
        size_bytes: 0,
        files: 0,
        storage: Storage {
            canonical,
            device: metadata.dev(),
        },
        newest_change: modified(&metadata),
    };
    if metadata.is_file() {
        state.size_bytes = metadata.len();
        state.files = 1;
        return Ok(state);
    }
    if !metadata.is_dir() {
        return Ok(state);
    }
    let mut pending: Vec<PathBuf> = vec![top.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let entries =
            std::fs::read_dir(&directory).map_err(|error| unreadable(&directory, &error))?;
        for entry in entries {
            let entry = entry.map_err(|error| unreadable(&directory, &error))?;
            let path = entry.path();
            let metadata =
                std::fs::symlink_metadata(&path).map_err(|error| unreadable(&path, &error))?;
            state.newest_change = state.newest_change.max(modified(&metadata));
            if metadata.is_dir() {
                pending.push(path);
            } else if metadata.is_file() {
                state.size_bytes = state.size_bytes.saturating_add(metadata.len());
                state.files += 1;
            }
        }
    }
    Ok(state)
}

fn modified(metadata: &std::fs::Metadata) -> Option<Timestamp> {
    let millis = metadata
        .mtime()
        .checked_mul(1000)?
        .checked_add(metadata.mtime_nsec() / 1_000_000)?;
    Some(Timestamp(millis))
}

fn unreadable(path: &Path, error: &std::io::Error) -> String {
    format!("cannot read `{}`: {error}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn set_mtime(path: &Path, seconds: i64) {
        let file = fs::File::options().write(true).open(path).expect("open");
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64);
        file.set_modified(time).expect("set mtime");
    }

    #[test]
    fn sizes_counts_and_the_newest_change_without_following_links() {
        let root = tempfile::tempdir().expect("temp dir");
        let uploads = root.path().join("srv/uploads");
        fs::create_dir_all(uploads.join("2026/12")).expect("mkdir");
        fs::write(uploads.join("a.jpg"), vec![0u8; 1000]).expect("write");
        fs::write(uploads.join("2026/12/b.jpg"), vec![0u8; 234]).expect("write");
        set_mtime(&uploads.join("a.jpg"), 1_000_000);
        set_mtime(&uploads.join("2026/12/b.jpg"), 2_000_000_000);
        // A link to a big tree outside: counted by itself, never followed.
        std::os::unix::fs::symlink("/usr", uploads.join("usr-link")).expect("symlink");
        let fact = read_data_path(root.path(), Path::new("/srv/uploads"));
        assert_eq!(fact.path, PathBuf::from("/srv/uploads"));
        let state = fact.outcome.expect("readable");
        assert_eq!((state.size_bytes, state.files), (1234, 2));
        assert_eq!(
            state.storage.canonical,
            fs::canonicalize(&uploads).expect("canonical")
        );
        // The link and the directories are newer than 2033 only if the clock is: the newest is
        // at least b.jpg's time.
        assert!(
            state.newest_change >= Some(Timestamp(2_000_000_000_000)),
            "{state:?}"
        );
    }

    #[test]
    fn a_single_file_and_an_empty_directory() {
        let root = tempfile::tempdir().expect("temp dir");
        fs::write(root.path().join("only"), b"12345").expect("write");
        let state = read_data_path(root.path(), Path::new("/only"))
            .outcome
            .expect("file");
        assert_eq!((state.size_bytes, state.files), (5, 1));
        fs::create_dir(root.path().join("empty")).expect("mkdir");
        let state = read_data_path(root.path(), Path::new("/empty"))
            .outcome
            .expect("dir");
        assert_eq!((state.size_bytes, state.files), (0, 0));
        assert!(state.newest_change.is_some());
    }

    #[test]
    fn a_missing_path_is_an_error_for_that_path() {
        let root = tempfile::tempdir().expect("temp dir");
        let error = read_data_path(root.path(), Path::new("/nope"))
            .outcome
            .expect_err("missing");
        assert!(
            error.contains("/nope") && error.contains("No such file"),
            "{error}"
        );
    }

    #[test]
    fn an_unreadable_directory_is_an_error_not_a_smaller_size() {
        let root = tempfile::tempdir().expect("temp dir");
        let locked = root.path().join("data/locked");
        fs::create_dir_all(&locked).expect("mkdir");
        fs::write(locked.join("secret"), b"x").expect("write");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
        let outcome = read_data_path(root.path(), Path::new("/data")).outcome;
        // root reads a 000 directory anyway (CAP_DAC_READ_SEARCH): then the file is counted.
        let readable_anyway = fs::read_dir(&locked).is_ok();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
        if readable_anyway {
            assert_eq!(outcome.expect("root reads it").files, 1);
        } else {
            let error = outcome.expect_err("unreadable");
            assert!(
                error.contains("locked") && error.contains("Permission denied"),
                "{error}"
            );
        }
    }
}
