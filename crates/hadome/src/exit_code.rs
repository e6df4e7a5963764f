//! hadome's exit codes: part of its stable interface, listed in `docs/exit-codes.md` (a test
//! checks that the page and [`ALL`] agree) and in `hadome --help`.
//!
//! New codes are added here, never elsewhere, and a code's meaning never changes.

/// The command did what was asked. `check`: nothing critical; `ask`: allow or allow-after;
/// `run`: every step done; `lab verify`: no acknowledged commit is missing; `init`: the file is
/// out and the role holds every grant it needs.
pub(crate) const OK: u8 = 0;
/// The command ran and the answer is no. `check`: something is critical; `ask`, `run`: deny;
/// `run`: a step failed (its outcome is journaled); `backup run`: the copy was not kept;
/// `backup restore-test`: the test failed; `lab verify`: acknowledged commits are missing;
/// `init`: the file is out, but a grant is missing or a cluster could not be checked.
pub(crate) const FAILURE: u8 = 1;
/// The command line, the estate file or another input is wrong; nothing was changed.
pub(crate) const USAGE: u8 = 2;
/// `ask`, `run`: hadome cannot tell that the action is safe; a person must decide.
pub(crate) const NEEDS_HUMAN: u8 = 3;
/// Another actor holds the target (a `hadome run`, a daemon acting there, a backup being made):
/// one actor at a time; nothing was changed. Run again once it is done.
pub(crate) const BUSY: u8 = 4;
/// The input is right but the world does not let hadome do it now (a pre-flight check failed, a
/// copy or a program it needs is missing, a scratch server would not start); nothing was
/// changed. Fix what the error names and run again.
pub(crate) const CANNOT_PROCEED: u8 = 5;
/// hadome itself failed: its journal could not be written, its runtime would not start, or a bug.
/// What was done before is journaled.
pub(crate) const INTERNAL: u8 = 70;
/// A signal (SIGINT, SIGTERM) stopped the command; what it had started was undone or journaled.
pub(crate) const INTERRUPTED: u8 = 130;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every exit code, with its name (as `docs/exit-codes.md` lists it) and meaning in one line.
    const ALL: [(u8, &str, &str); 8] = [
        (
            OK,
            "ok",
            "done; `ask`: allow or allow-after; `check`: nothing critical",
        ),
        (
            FAILURE,
            "failure",
            "the answer is no: deny, something critical, a step or a test failed",
        ),
        (
            USAGE,
            "usage",
            "the command line or the estate file is wrong; nothing changed",
        ),
        (
            NEEDS_HUMAN,
            "needs-human",
            "hadome cannot tell that it is safe; a person decides",
        ),
        (
            BUSY,
            "busy",
            "another actor holds the target; nothing changed",
        ),
        (
            CANNOT_PROCEED,
            "cannot-proceed",
            "a pre-flight or prerequisite failed; nothing changed",
        ),
        (
            INTERNAL,
            "internal",
            "hadome itself failed (journal, runtime, a bug)",
        ),
        (
            INTERRUPTED,
            "interrupted",
            "a signal stopped it; what it started was undone or journaled",
        ),
    ];

    #[test]
    fn every_exit_code_is_distinct_and_documented_for_scripts() {
        let page = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/exit-codes.md"
        ))
        .expect("docs/exit-codes.md");
        let mut codes: Vec<u8> = ALL.iter().map(|(code, _, _)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len(), "a code is listed twice");
        for (code, name, _) in ALL {
            let row = format!("| {code} | `{name}` |");
            assert!(page.contains(&row), "docs/exit-codes.md has no row `{row}`");
        }
    }
}
