//! The one error type of the estate configuration.
//!
//! A configuration error is read by a person at a terminal, usually after an edit: every variant
//! says which file, which line and which key, what is wrong, and — through [`ConfigError::hint`] —
//! how to fix it, so the CLI can print `error: …` then `hint: …` without knowing the format.

use std::fmt;
use std::path::PathBuf;

use hadome_core::suggest::closest;

/// Where in the estate file an error is: the file and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The estate file, as given to [`crate::load`] or [`crate::parse`].
    pub path: PathBuf,
    /// The 1-based line; 0 when the whole file is concerned (it then is not printed).
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(formatter, "{}", self.path.display())
        } else {
            write!(formatter, "{}:{}", self.path.display(), self.line)
        }
    }
}

/// Everything that can be wrong with an estate file.
///
/// Keys are named by their path in the file: `probe.timeout_seconds`, `instance "db-3".conninfo`,
/// `cluster "main".members[2]`; an entry of `[[instance]]` or `[[cluster]]` whose name is not
/// usable yet is named by its position, `instance[0]`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, a directory, not readable, not UTF-8).
    #[error("could not read the estate file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid TOML.
    #[error("{at}: not valid TOML: {message}")]
    Syntax {
        /// Where the TOML parser stopped.
        at: Location,
        /// The TOML parser's message.
        message: String,
    },

    /// A key the format does not have (often a typo).
    #[error("{at}: unknown key `{key}`")]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The key, with its path.
        key: String,
        /// The keys allowed where it is.
        known: &'static [&'static str],
        /// The allowed key closest to it, when it is close enough to be a typo.
        suggestion: Option<&'static str>,
    },

    /// A required key is absent.
    #[error("{at}: `{key}` is missing")]
    MissingKey {
        /// The table that lacks it (its header's line).
        at: Location,
        /// The key, with its path.
        key: String,
        /// How to fix it: the line to add.
        fix: String,
    },

    /// A value of the wrong TOML type.
    #[error("{at}: `{key}` is {found}, but must be {expected}")]
    WrongType {
        /// Where the value is.
        at: Location,
        /// The key, with its path.
        key: String,
        /// The TOML type required, with its article ("a string").
        expected: &'static str,
        /// The TOML type found, with its article ("an integer").
        found: &'static str,
        /// How to fix it: the key written correctly.
        fix: String,
    },

    /// A value of the right type that is not allowed (out of range, malformed, unknown word …).
    #[error("{at}: `{key}` {problem}")]
    InvalidValue {
        /// Where the value is.
        at: Location,
        /// The key, with its path.
        key: String,
        /// What is wrong, as a phrase that follows the key ("must be more than 0 …").
        problem: String,
        /// How to fix it.
        fix: String,
    },

    /// A cluster member that names no `[[instance]]`.
    #[error("{at}: `{key}` names `{name}`, which is not an instance")]
    UnknownInstance {
        /// Where the member is.
        at: Location,
        /// The member's key (`cluster "main".members[2]`).
        key: String,
        /// The name given.
        name: String,
        /// The estate's instance names, in file order.
        known: Vec<String>,
    },

    /// A backup's `covers` or `stored_on` that names no `[[host]]`.
    #[error("{at}: `{key}` names `{name}`, which is not a declared host")]
    UnknownHost {
        /// Where the name is.
        at: Location,
        /// The key (`backup "uploads".covers[0]`).
        key: String,
        /// The host name given.
        name: String,
        /// The estate's `[[host]]` names, in file order.
        known: Vec<String>,
    },

    /// Two instances, clusters, backups, snapshots or hosts with one name.
    #[error("{at}: `{key}`: {what} `{name}` is already declared on line {first_line}")]
    DuplicateName {
        /// Where the second declaration is.
        at: Location,
        /// The second declaration's key (`instance[3].name`).
        key: String,
        /// `instance` or `cluster`.
        what: &'static str,
        /// The name.
        name: String,
        /// The line of the first declaration.
        first_line: usize,
    },

    /// An instance listed as a member of two clusters.
    #[error(
        "{at}: `{key}`: instance `{instance}` is already a member of cluster `{cluster}` (line {first_line})"
    )]
    SharedMember {
        /// Where the second listing is.
        at: Location,
        /// The second listing's key.
        key: String,
        /// The instance.
        instance: String,
        /// The cluster that listed it first.
        cluster: String,
        /// The line where that cluster lists it.
        first_line: usize,
    },

    /// The estate has no instance, no host, no etcd member and no web table at all.
    #[error(
        "{at}: the estate declares no `[[instance]]`, no `[[host]]`, no `[[etcd]]` and no web table (`[[service]]`, `[[route]]`, `[[nginx]]`)"
    )]
    NoInstances {
        /// The file (line 0), or the line of an empty `instance = []`.
        at: Location,
    },
}

impl ConfigError {
    /// How to fix the error, as one line for the CLI's `hint:`.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::Read { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => {
                    "create it (hadome's `examples/estate.toml` is an annotated example), \
                     or give the path of an existing estate file"
                        .to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "make the file readable by the user hadome runs as".to_owned()
                }
                std::io::ErrorKind::InvalidData => "save the file as UTF-8 text".to_owned(),
                _ => "give the path of a readable estate file (TOML text)".to_owned(),
            },
            ConfigError::Syntax { .. } => "correct the TOML at that line: strings are quoted, \
                 a key appears once per table, `[[instance]]` and `[[cluster]]` start entries; \
                 `examples/estate.toml` shows the format"
                .to_owned(),
            ConfigError::UnknownKey {
                known, suggestion, ..
            } => match suggestion {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the keys allowed here are {}", backticked(known)),
            },
            ConfigError::MissingKey { fix, .. }
            | ConfigError::WrongType { fix, .. }
            | ConfigError::InvalidValue { fix, .. } => fix.clone(),
            ConfigError::UnknownInstance { name, known, .. } => match closest(name, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => {
                    "declare the instance in an `[[instance]]` table first".to_owned()
                }
                None => format!(
                    "members name `[[instance]]` entries; the instances are {}",
                    backticked(known)
                ),
            },
            ConfigError::UnknownHost { name, known, .. } => match closest(name, known) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => format!(
                    "declare the host first: `[[host]]` with `name = \"{name}\"` (examples/estate.toml)"
                ),
                None => format!(
                    "name a `[[host]]` (the hosts are {}), or declare `{name}` with its own `[[host]]`",
                    backticked(known)
                ),
            },
            ConfigError::DuplicateName { what, .. } => {
                format!("give every {what} a distinct `name`")
            }
            ConfigError::SharedMember {
                instance, cluster, ..
            } => format!(
                "an instance belongs to one cluster: remove `{instance}` from this cluster \
                 or from `{cluster}`"
            ),
            ConfigError::NoInstances { .. } => "add an instance: `[[instance]]` with `name`, \
                 `conninfo` and `data_dir`, a host: `[[host]]` with `name`, an etcd member: \
                 `[[etcd]]` with `name`, `endpoints` and `host`, or a web service: `[[service]]` \
                 with `name` and `address` (see `examples/estate.toml`)"
                .to_owned(),
        })
    }

    /// Where the error is; `None` when the file could not be read at all.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { at, .. }
            | ConfigError::UnknownKey { at, .. }
            | ConfigError::MissingKey { at, .. }
            | ConfigError::WrongType { at, .. }
            | ConfigError::InvalidValue { at, .. }
            | ConfigError::UnknownInstance { at, .. }
            | ConfigError::UnknownHost { at, .. }
            | ConfigError::DuplicateName { at, .. }
            | ConfigError::SharedMember { at, .. }
            | ConfigError::NoInstances { at } => Some(at),
        }
    }

    /// The key concerned, with its path (`instance "db-3".conninfo`), when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::MissingKey { key, .. }
            | ConfigError::WrongType { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::UnknownInstance { key, .. }
            | ConfigError::UnknownHost { key, .. }
            | ConfigError::DuplicateName { key, .. }
            | ConfigError::SharedMember { key, .. } => Some(key),
            ConfigError::Read { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::NoInstances { .. } => None,
        }
    }
}

/// `a`, `b`, `c`: names for a hint.
fn backticked<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_file_location_prints_no_line() {
        let at = Location {
            path: "e.toml".into(),
            line: 0,
        };
        assert_eq!(at.to_string(), "e.toml");
        let at = Location {
            path: "e.toml".into(),
            line: 7,
        };
        assert_eq!(at.to_string(), "e.toml:7");
    }
}
