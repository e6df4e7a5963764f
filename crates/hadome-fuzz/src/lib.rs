//! hadome's fuzz targets: one `pub fn NAME(data: &[u8])` per parser of untrusted input, each
//! feeding the bytes to the real parser and checking what every input must satisfy.
//!
//! hadome reads text and bytes it did not write: the estate file and its connection strings, a
//! lab topology, pg_dump archives, its own journal after damage on disk, HTTP request bodies and
//! `nginx -T` dumps. For each the contract is the same (`docs/fuzzing.md`):
//! - no input panics, hangs or allocates without bound;
//! - an input that is refused gets an error naming its place: a line, a key's path, a byte
//!   offset, a table and column, a request field;
//! - an input that is accepted passes a cheap consistency check where one exists (a round trip,
//!   an answer that does not depend on how the bytes were split).
//!
//! A violated invariant panics, which is how both drivers see it:
//! - `fuzz/` (cargo-fuzz on nightly, outside the workspace) runs each target under libFuzzer;
//! - `tests/short_run.rs` (stable, part of `cargo test --workspace`) replays the committed corpus
//!   `fuzz/corpus/NAME/` and a seeded, bounded mutation loop over it.
//!
//! The targets live here, not in `fuzz/`, so that both drivers run exactly the same checks.

#![warn(missing_docs)]

mod api;
mod archive;
mod conninfo;
mod estate;
mod journal;
mod nginx;
mod topology;

pub use api::api;
pub use archive::archive;
pub use conninfo::conninfo;
pub use estate::estate;
pub use journal::journal;
pub use nginx::nginx;
pub use topology::topology;

/// A fuzz target: takes any bytes, panics only when an invariant is broken.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("estate", estate),
    ("conninfo", conninfo),
    ("topology", topology),
    ("archive", archive),
    ("journal", journal),
    ("nginx", nginx),
    ("api", api),
];

/// The number of lines of `text` as an editor counts them: a place's 1-based line is at most this
/// (one more than the last newline's line, so the empty text has line 1).
pub(crate) fn line_count(text: &str) -> usize {
    text.matches('\n').count() + 1
}
