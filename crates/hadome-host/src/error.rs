//! What can stop a reading of host facts, or the reading of their JSON, with what went wrong,
//! where, and how to fix it ([`HostFactsError::hint`]).
//!
//! Only what leaves no `HostFacts` to give is an error: the boot id and the boot time. Everything
//! else a reading can miss (the journal's boot list, failed units, a unit file, a data path) is
//! recorded as a gap in the [`crate::Reading`] and in the JSON, so the interlocks fail closed on
//! it instead of the whole reading failing.

use std::path::PathBuf;

/// Why host facts could not be read, or their JSON not understood.
#[derive(Debug, thiserror::Error)]
pub enum HostFactsError {
    /// The boot id file could not be read.
    #[error("cannot read the boot id from `{}`: {error}", path.display())]
    BootId {
        /// The file (`PROC/sys/kernel/random/boot_id`).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        error: std::io::Error,
    },
    /// The boot id file holds something that is not a boot id.
    #[error("`{}` holds {found:?}, not a boot id (32 hexadecimal digits, dashes allowed)", path.display())]
    BadBootId {
        /// The file.
        path: PathBuf,
        /// What it held (at most 64 characters).
        found: String,
    },
    /// When the boot started could not be worked out from `/proc`.
    #[error("cannot tell when this boot started from `{}`: {reason}", path.display())]
    BootTime {
        /// The file that could not be read or understood (`PROC/1/stat`, `PROC/stat`).
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The text is not JSON at all.
    #[error("host facts are not JSON: {error}")]
    NotJson {
        /// serde_json's account, with line and column.
        #[source]
        error: serde_json::Error,
    },
    /// The JSON is of a version this hadome does not read.
    #[error("host facts JSON has version {found}, and this hadome reads version {supported}")]
    UnsupportedVersion {
        /// The `version` found (as JSON text; `null` when missing).
        found: String,
        /// The one version this hadome reads.
        supported: u64,
    },
    /// A field is missing or of the wrong type.
    #[error("host facts JSON: `{field}` {problem}")]
    Field {
        /// Where, as a path (`host_facts.timers[2].persistent`).
        field: String,
        /// What is wrong (`is missing`, `is not a string`).
        problem: String,
    },
}

impl HostFactsError {
    /// How to fix it, for people.
    pub fn hint(&self) -> Option<String> {
        match self {
            HostFactsError::BootId { .. } | HostFactsError::BadBootId { .. } | HostFactsError::BootTime { .. } => Some(
                "the proc directory must be the host's (or the container's) own /proc: reading another \
                 root from outside, name its init's with `--proc /proc/PID/root/proc`"
                    .to_owned(),
            ),
            HostFactsError::NotJson { .. } | HostFactsError::Field { .. } => Some(
                "the host's facts_command must print what `hadome host-facts` prints, and nothing \
                 else on stdout; run it by hand to see what it prints"
                    .to_owned(),
            ),
            HostFactsError::UnsupportedVersion { .. } => Some(
                "run the same hadome version on the host as here (the host's `hadome host-facts` \
                 prints the JSON this one reads)"
                    .to_owned(),
            ),
        }
    }
}
