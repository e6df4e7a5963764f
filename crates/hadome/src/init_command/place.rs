//! Where `init --output FILE` puts the estate file: never over an existing file, unless
//! `--force`, and then the old one is kept as `FILE.hadome-aside-STAMP`, never deleted.
//!
//! The new text is written whole to a temporary file beside FILE first, so FILE is never half
//! written: without `--force` it is linked into place (which fails, atomically, if FILE appeared
//! meanwhile); with it, the old file is linked to its aside name and the new one renamed over
//! FILE, so FILE always exists for a daemon that rereads it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::clock::wall_clock;
use crate::error::CliError;

/// Checks, before anything is listed or asked, that `path` can be written as `--force` says.
pub(super) fn check_target(path: &Path, force: bool) -> Result<(), CliError> {
    if path.is_dir() {
        return Err(CliError::Usage {
            message: format!("--output `{}` is a directory", path.display()),
            hint: Some(format!(
                "name the file: --output {}",
                path.join("estate.toml").display()
            )),
        });
    }
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(CliError::Usage {
            message: format!(
                "`{}` exists: `hadome init` does not overwrite an estate file",
                path.display()
            ),
            hint: Some(format!(
                "write elsewhere with another --output, or add --force to move it aside to \
                 `{}.hadome-aside-STAMP` and write the new one",
                path.display()
            )),
        });
    }
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(CliError::Usage {
            message: format!(
                "the directory of --output `{}` does not exist",
                path.display()
            ),
            hint: Some(format!("create it first: mkdir -p {}", parent.display())),
        });
    }
    Ok(())
}

/// Writes `text` to `path`; with `force`, an existing file is moved aside first. Returns where
/// the old file went.
pub(super) fn write(path: &Path, text: &str, force: bool) -> Result<Option<PathBuf>, CliError> {
    let file_name = path
        .file_name()
        .ok_or_else(|| CliError::Usage {
            message: format!("--output `{}` names no file", path.display()),
            hint: Some("name the file, such as --output /etc/hadome/estate.toml".to_owned()),
        })?
        .to_string_lossy()
        .into_owned();
    let temporary = parent_of(path).join(format!(".{file_name}.hadome-new-{}", std::process::id()));
    write_new(&temporary, text).map_err(|error| {
        // What was written of it is hadome's own, incomplete: it is not kept.
        let _ = std::fs::remove_file(&temporary);
        cannot_write(path, &error)
    })?;
    let placed = place(&temporary, path, force);
    // Linked into place (or failed): the temporary name is not needed either way.
    let _ = std::fs::remove_file(&temporary);
    placed
}

fn place(temporary: &Path, path: &Path, force: bool) -> Result<Option<PathBuf>, CliError> {
    let exists = std::fs::symlink_metadata(path).is_ok();
    if force && exists {
        let aside = aside_name(path);
        std::fs::hard_link(path, &aside).map_err(|error| CliError::CannotProceed {
            message: format!(
                "could not keep `{}` as `{}`: {error}; nothing was changed",
                path.display(),
                aside.display()
            ),
            hint: None,
        })?;
        std::fs::rename(temporary, path).map_err(|error| cannot_write(path, &error))?;
        return Ok(Some(aside));
    }
    match std::fs::hard_link(temporary, path) {
        Ok(()) => Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::Usage {
            message: format!(
                "`{}` appeared while `hadome init` ran: it was not overwritten",
                path.display()
            ),
            hint: Some("run it again, with --force to move that file aside".to_owned()),
        }),
        Err(error) => Err(cannot_write(path, &error)),
    }
}

/// `PATH.hadome-aside-YYYYMMDDTHHMMSSZ`, with `-2`, `-3` … when that exists (as a data
/// directory moved aside is named).
fn aside_name(path: &Path) -> PathBuf {
    let stamp = wall_clock().utc_stamp();
    let mut aside = PathBuf::from(format!("{}.hadome-aside-{stamp}", path.display()));
    let mut counter = 1;
    while std::fs::symlink_metadata(&aside).is_ok() {
        counter += 1;
        aside = PathBuf::from(format!("{}.hadome-aside-{stamp}-{counter}", path.display()));
    }
    aside
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn cannot_write(path: &Path, error: &std::io::Error) -> CliError {
    CliError::CannotProceed {
        message: format!("could not write `{}`: {error}", path.display()),
        hint: Some(
            "run as a user who may write there, or print the file (no --output) and save it \
             yourself"
                .to_owned(),
        ),
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_kept_aside_and_never_overwritten_without_force() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("estate.toml");
        assert_eq!(write(&path, "first\n", false).expect("written"), None);
        assert!(check_target(&path, false).is_err());
        let refused = write(&path, "second\n", false).expect_err("refused");
        assert!(
            refused.to_string().contains("was not overwritten"),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");

        check_target(&path, true).expect("--force may replace it");
        let aside = write(&path, "second\n", true)
            .expect("written")
            .expect("moved aside");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "first\n");
        assert!(aside
            .to_string_lossy()
            .contains("estate.toml.hadome-aside-"));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_missing_directory_is_a_usage_error() {
        let refused =
            check_target(Path::new("/nonexistent-hadome/estate.toml"), false).expect_err("refused");
        assert!(matches!(refused, CliError::Usage { .. }), "{refused}");
    }
}
