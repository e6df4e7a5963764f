//! The daemon's log: one line on stderr per event, stamped to the millisecond, for operators and
//! for the tests that read it (the journal is the record; this is what a person watches).

use crate::clock::wall_clock;

/// One line on stderr, stamped to the millisecond (to line up with PostgreSQL's own log).
pub(crate) fn log(line: &str) {
    let now = wall_clock();
    let utc = now.utc_text();
    eprintln!(
        "{}.{:03} UTC hadome daemon: {line}",
        utc.trim_end_matches(" UTC"),
        now.0.rem_euclid(1000)
    );
}
