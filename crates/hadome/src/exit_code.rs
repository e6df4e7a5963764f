//! hadome's exit codes: part of its stable interface, documented in `--help` and the README.
//!
//! 0 ok, 1 failure, 2 usage or configuration error (clap uses 2 for its own usage errors too).
//! Later commands add codes of their own (`ask`: 3 for needs-human) here, never elsewhere.

/// The command did what was asked; for `lab verify`, no acknowledged commit is missing.
pub(crate) const OK: u8 = 0;
/// The command failed, or (for `lab verify`) acknowledged commits are missing.
pub(crate) const FAILURE: u8 = 1;
/// The command line, a topology or another input is wrong; nothing was changed.
pub(crate) const USAGE: u8 = 2;
