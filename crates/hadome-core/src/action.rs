//! Actions a bot or a person proposes, and their impact.

use std::fmt;

/// A typed request to change the estate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Promote a standby to primary.
    Promote {
        /// The standby.
        target: String,
    },
    /// Overwrite `target`'s data with a copy of `source` (pg_basebackup, rsync …).
    Rebuild {
        /// The copy whose data is replaced.
        target: String,
        /// Where the new data comes from.
        source: String,
    },
    /// Restart an instance.
    Restart {
        /// The instance.
        target: String,
    },
    /// Stop an instance.
    Stop {
        /// The instance.
        target: String,
    },
    /// Delete an instance's data directory.
    DeleteData {
        /// The instance.
        target: String,
    },
    /// Replace an instance's data with the newest copy of a backup.
    RestoreBackup {
        /// The instance whose data is replaced.
        target: String,
        /// The backup (its name in the estate).
        backup: String,
    },
}

/// What an action does to the estate, so interlocks can judge it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impact {
    /// Instances unavailable while the action runs (or after it).
    pub unavailable: Vec<String>,
    /// Copies whose data is replaced, each with where the new data comes from.
    pub overwritten: Vec<(String, String)>,
    /// Copies whose data is destroyed (overwritten ones included).
    pub destroyed: Vec<String>,
}

impl Action {
    /// The action's name on the command line (`promote`, `rebuild`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Promote { .. } => "promote",
            Action::Rebuild { .. } => "rebuild",
            Action::Restart { .. } => "restart",
            Action::Stop { .. } => "stop",
            Action::DeleteData { .. } => "delete-data",
            Action::RestoreBackup { .. } => "restore-backup",
        }
    }

    /// The instance acted upon.
    pub fn target(&self) -> &str {
        match self {
            Action::Promote { target }
            | Action::Rebuild { target, .. }
            | Action::Restart { target }
            | Action::Stop { target }
            | Action::DeleteData { target }
            | Action::RestoreBackup { target, .. } => target,
        }
    }

    /// What the action does.
    pub fn impact(&self) -> Impact {
        let target = self.target().to_owned();
        match self {
            Action::Promote { .. } => Impact::default(),
            Action::Rebuild { source, .. } => Impact {
                unavailable: vec![target.clone()],
                overwritten: vec![(target.clone(), source.clone())],
                destroyed: vec![target],
            },
            Action::Restart { .. } | Action::Stop { .. } => Impact {
                unavailable: vec![target],
                ..Impact::default()
            },
            Action::DeleteData { .. } => Impact {
                unavailable: vec![target.clone()],
                destroyed: vec![target],
                ..Impact::default()
            },
            Action::RestoreBackup { backup, .. } => Impact {
                unavailable: vec![target.clone()],
                overwritten: vec![(target.clone(), format!("backup {backup}"))],
                destroyed: vec![target],
            },
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Rebuild { target, source } => {
                write!(formatter, "rebuild {target} from {source}")
            }
            Action::RestoreBackup { target, backup } => {
                write!(formatter, "restore-backup {target} from {backup}")
            }
            other => write!(formatter, "{} {}", other.name(), other.target()),
        }
    }
}
