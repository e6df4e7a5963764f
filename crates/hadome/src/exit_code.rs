//! hadome's exit codes: part of its stable interface, documented in `--help` and the README.
//!
//! 0 ok, 1 failure, 2 usage or configuration error (clap uses 2 for its own usage errors too),
//! 3 needs a human (`ask`, `run`). New codes are added here, never elsewhere.

/// The command did what was asked. `check`: nothing critical; `ask`: allow or allow-after;
/// `run`: every step done; `lab verify`: no acknowledged commit is missing.
pub(crate) const OK: u8 = 0;
/// The command failed. `check`: something is critical; `ask`, `run`: deny; `run`: a step failed;
/// `lab verify`: acknowledged commits are missing.
pub(crate) const FAILURE: u8 = 1;
/// The command line, a topology or another input is wrong; nothing was changed.
pub(crate) const USAGE: u8 = 2;
/// `ask`, `run`: hadome cannot tell that the action is safe; a person must decide.
pub(crate) const NEEDS_HUMAN: u8 = 3;
