//! The wall clock, read at the edges only: the CLI and the daemon pass `now` to the core, which
//! never reads a clock itself.

use std::time::{SystemTime, UNIX_EPOCH};

use hadome_core::fact::Timestamp;

/// Now, in milliseconds since the Unix epoch (0 before it, `i64::MAX` past its range).
pub(crate) fn wall_clock() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}
