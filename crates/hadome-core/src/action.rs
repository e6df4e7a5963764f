//! Actions a bot or a person proposes, and their impact.
//!
//! An action names an instance (`restart db-1`) or a host (`reboot s512`, issue 12); an action on
//! a host is judged also by everything placed on it (`Action::affected`, `crate::target`).

use std::fmt;
use std::path::PathBuf;

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
    /// Reboot a host (its `reboot_command`).
    Reboot {
        /// The host (`[[host]]`).
        host: String,
    },
    /// Take an image of a host (its `image_command`), then verify it (`verify_image_command`).
    Image {
        /// The host (`[[host]]`).
        host: String,
        /// Whether taking it reboots the host. Cloud consoles reboot a machine to take a
        /// consistent image unless told not to, so an image is judged as a reboot unless a person
        /// says it is not (`--no-reboot`): an image never slips past `reboot-uptime` because
        /// nobody said how it is taken.
        reboots: bool,
    },
    /// Delete a host (its `delete_command`), once a final image of it was taken and verified.
    DeleteHost {
        /// The host (`[[host]]`).
        host: String,
    },
    /// Delete a path on a host (`delete-data HOST:/PATH`): everything under it, on that host.
    DeletePath {
        /// The host (`[[host]]`).
        host: String,
        /// The absolute path deleted.
        path: PathBuf,
    },
    /// Replace a quorum member that is down (issue 13, the runbook's decision point): remove it
    /// from the cluster, move its data directory aside, add a fresh member as a learner, start it.
    ReplaceMember {
        /// The member (`[[etcd]]`).
        member: String,
    },
    /// Remove a quorum member from its cluster for good (issue 13): stop it if it runs, remove it
    /// from the member list, move its data directory aside. The cluster has one voter fewer.
    RemoveMember {
        /// The member (`[[etcd]]`).
        member: String,
    },
    /// Reload an nginx instance (`[[nginx]]`) with the configuration on its disk (issue 14):
    /// judged by `nginx -t` and the lint of that configuration before it is loaded.
    Reload {
        /// The nginx instance (`[[nginx]]`).
        nginx: String,
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
            Action::Reboot { .. } => "reboot",
            Action::Image { .. } => "image",
            Action::DeleteHost { .. } => "delete-host",
            // The CLI word is the instance's: `delete-data HOST:/PATH` names a path on a host.
            Action::DeletePath { .. } => "delete-data",
            Action::ReplaceMember { .. } => "replace-member",
            Action::RemoveMember { .. } => "remove-member",
            Action::Reload { .. } => "reload",
        }
    }

    /// The action as `hadome ask`/`hadome run` take it: `rebuild db-1 --from db-3`,
    /// `image s512 --no-reboot`, `delete-data s512:/srv/uploads`.
    pub fn command_words(&self) -> String {
        match self {
            Action::Rebuild { target, source } => format!("rebuild {target} --from {source}"),
            Action::RestoreBackup { target, backup } => {
                format!("restore-backup {target} --from {backup}")
            }
            Action::Image {
                host,
                reboots: false,
            } => format!("image {host} --no-reboot"),
            Action::DeletePath { host, path } => format!("delete-data {host}:{}", path.display()),
            other => format!("{} {}", other.name(), other.target()),
        }
    }

    /// The host acted upon, for an action on a host.
    pub fn host(&self) -> Option<&str> {
        match self {
            Action::Reboot { host }
            | Action::Image { host, .. }
            | Action::DeleteHost { host }
            | Action::DeletePath { host, .. } => Some(host),
            Action::Promote { .. }
            | Action::Rebuild { .. }
            | Action::Restart { .. }
            | Action::Stop { .. }
            | Action::DeleteData { .. }
            | Action::RestoreBackup { .. }
            | Action::ReplaceMember { .. }
            | Action::RemoveMember { .. }
            | Action::Reload { .. } => None,
        }
    }

    /// The name of the target acted upon: the instance, or the host for an action on a host
    /// ([`Action::host`]; `crate::target`'s `Action::subject` says which kind).
    pub fn target(&self) -> &str {
        match self {
            Action::Promote { target }
            | Action::Rebuild { target, .. }
            | Action::Restart { target }
            | Action::Stop { target }
            | Action::DeleteData { target }
            | Action::RestoreBackup { target, .. }
            | Action::ReplaceMember { member: target }
            | Action::RemoveMember { member: target }
            | Action::Reload { nginx: target } => target,
            Action::Reboot { host }
            | Action::Image { host, .. }
            | Action::DeleteHost { host }
            | Action::DeletePath { host, .. } => host,
        }
    }

    /// What the action does to instances it names. An action on a host names none: what it does
    /// to the instances placed on the host is judged through them (`Action::affected`, and the
    /// instance actions `crate::interlock` derives for each).
    pub fn impact(&self) -> Impact {
        let target = self.target().to_owned();
        match self {
            Action::Reboot { .. }
            | Action::Image { .. }
            | Action::DeleteHost { .. }
            | Action::DeletePath { .. }
            | Action::Reload { .. } => Impact::default(),
            Action::Promote { .. } => Impact::default(),
            Action::Rebuild { source, .. } => Impact {
                unavailable: vec![target.clone()],
                overwritten: vec![(target.clone(), source.clone())],
                destroyed: vec![target],
            },
            Action::Restart { .. }
            | Action::Stop { .. }
            | Action::ReplaceMember { .. }
            | Action::RemoveMember { .. } => Impact {
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
            Action::Image {
                host,
                reboots: false,
            } => write!(formatter, "image {host} --no-reboot"),
            Action::DeletePath { host, path } => {
                write!(formatter, "delete-data {host}:{}", path.display())
            }
            other => write!(formatter, "{} {}", other.name(), other.target()),
        }
    }
}
