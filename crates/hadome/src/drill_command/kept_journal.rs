//! The drill's journal, kept: `hadome lab down` removes the lab directory and the estate's
//! journal in it, so the drill copies the journal beside the directory first
//! (`DIR.drill-journal.sqlite`), and `hadome timeline --journal DIR.drill-journal.sqlite` tells
//! the incident as hadome saw it (issue 16).

use std::path::{Path, PathBuf};

/// Copies the journal of the lab estate in `dir` to `DIR.drill-journal.sqlite`; returns where, or
/// `None` (with a warning when the copy failed) when there was no journal to keep.
///
/// A journal an earlier drill in the same directory kept is replaced: the copy is written under a
/// fresh name (a consistent one, SQLite's `VACUUM INTO`), then renamed over it.
pub(super) fn keep(dir: &Path) -> Option<PathBuf> {
    let estate = hadome_config::load(&dir.join("estate.toml")).ok()?;
    if !estate.journal_path.is_file() {
        return None;
    }
    let kept = dir.with_extension("drill-journal.sqlite");
    let fresh = dir.with_extension(format!("drill-journal.sqlite.{}", std::process::id()));
    let _ = std::fs::remove_file(&fresh);
    let copied = hadome_journal::Journal::open(&estate.journal_path)
        .and_then(|journal| journal.copy_to(&fresh))
        .map_err(|error| error.to_string())
        .and_then(|()| std::fs::rename(&fresh, &kept).map_err(|error| error.to_string()));
    match copied {
        Ok(()) => Some(kept),
        Err(error) => {
            eprintln!(
                "warning: the drill's journal `{}` was not kept: {error}",
                estate.journal_path.display()
            );
            let _ = std::fs::remove_file(&fresh);
            None
        }
    }
}
