//! The plan of an action ([`plan`]) and whether the estate configures what it needs
//! ([`check_configured`]): pure, so both are tested without servers.
//!
//! Destroying plans preserve first: a plan that replaces a data directory stops the instance and
//! moves the directory aside before anything writes a new one.

use hadome_core::action::Action;
use hadome_core::estate::{Estate, Instance};

use crate::step::Step;

/// What a plan needs that the estate does not configure: the command is refused before anything
/// is done, with the key to set ([`hint`](NotConfigured::hint)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConfigured {
    /// A step names an instance the estate does not have.
    #[error("the estate has no instance `{0}`")]
    NoInstance(String),
    /// The instance has no command for the step (`stop_command`, `start_command`, …).
    #[error("instance `{instance}` has no `{key}`: hadome does not know how to {}", verb_of(.key))]
    NoCommand {
        /// The instance.
        instance: String,
        /// The key its `[[instance]]` lacks.
        key: &'static str,
    },
    /// The backup has no `restore_command`.
    #[error("backup `{0}` has no `restore_command`: hadome does not know how to restore it")]
    NoRestoreCommand(String),
}

impl NotConfigured {
    /// How to fix it: the key to add, and where.
    pub fn hint(&self) -> Option<String> {
        match self {
            NotConfigured::NoInstance(_) => None,
            NotConfigured::NoCommand { instance, key } => Some(format!(
                "add `{key} = [\"program\", \"arg\", …]` to the `[[instance]]` named `{instance}` (examples/estate.toml shows each)"
            )),
            NotConfigured::NoRestoreCommand(backup) => Some(format!(
                "add `restore_command = [\"program\", \"{{copy}}\", \"{{data_dir}}\", …]` to the `[[backup]]` named `{backup}`: it must create the data directory from the copy and leave the instance stopped (examples/estate.toml)"
            )),
        }
    }
}

/// `stop_command` → `stop`, `fence_command` → `fence`: what hadome does not know how to do.
fn verb_of(key: &str) -> String {
    key.trim_end_matches("_command").replace('_', " ")
}

/// The steps that carry out `action`: pure, so it is tested without servers.
pub fn plan(estate: &Estate, action: &Action) -> Vec<Step> {
    let data_dir = |name: &str| {
        estate
            .instance(name)
            .map(|instance| instance.data_dir.clone())
            .unwrap_or_default()
    };
    match action {
        Action::Promote { target } => vec![Step::Promote(target.clone())],
        Action::Restart { target } => vec![Step::Stop(target.clone()), Step::Start(target.clone())],
        Action::Stop { target } => vec![Step::Stop(target.clone())],
        Action::DeleteData { target } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
        ],
        // `hadome run` puts the copy the assessment verified into `Restore`, and adds `Compare`
        // when the journal recorded the copy's row counts.
        Action::RestoreBackup { target, backup } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
            Step::Restore {
                backup: backup.clone(),
                target: target.clone(),
                copy: None,
            },
            Step::Start(target.clone()),
        ],
        Action::Rebuild { target, source } => vec![
            Step::Stop(target.clone()),
            Step::Preserve {
                instance: target.clone(),
                data_dir: data_dir(target),
            },
            Step::Rebuild {
                target: target.clone(),
                source: source.clone(),
            },
        ],
    }
}

/// Every configured command the plan needs, or the first one missing, with the key to set.
pub fn check_configured(estate: &Estate, plan: &[Step]) -> Result<(), NotConfigured> {
    for step in plan {
        let (instance, key, present) = match step {
            Step::Stop(name) => (
                name,
                "stop_command",
                instance_of(estate, name)?.commands.stop.is_some(),
            ),
            Step::Start(name) => (
                name,
                "start_command",
                instance_of(estate, name)?.commands.start.is_some(),
            ),
            Step::Rebuild { target, .. } => (
                target,
                "rebuild_command",
                instance_of(estate, target)?.commands.rebuild.is_some(),
            ),
            Step::Fence(name) => (
                name,
                "fence_command",
                instance_of(estate, name)?.commands.fence.is_some()
                    || instance_of(estate, name)?.commands.stop.is_some(),
            ),
            Step::Follow { target, .. } => (
                target,
                "follow_command",
                instance_of(estate, target)?.commands.follow.is_some(),
            ),
            Step::Restore { backup, .. } => {
                let present = estate
                    .backup(backup)
                    .is_some_and(|backup| backup.restore_command.is_some());
                if !present {
                    return Err(NotConfigured::NoRestoreCommand(backup.clone()));
                }
                continue;
            }
            Step::Preserve { .. }
            | Step::PutBack { .. }
            | Step::Promote(_)
            | Step::Compare { .. }
            | Step::RetryStreams(_)
            | Step::SetSynchronousStandbyNames { .. } => continue,
        };
        if !present {
            return Err(NotConfigured::NoCommand {
                instance: instance.clone(),
                key,
            });
        }
    }
    Ok(())
}

fn instance_of<'a>(estate: &'a Estate, name: &str) -> Result<&'a Instance, NotConfigured> {
    estate
        .instance(name)
        .ok_or_else(|| NotConfigured::NoInstance(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use hadome_core::estate::InstanceCommands;

    use super::*;

    fn estate(instances: Vec<Instance>) -> Estate {
        Estate {
            instances,
            clusters: Vec::new(),
            journal_path: PathBuf::from("/tmp/j"),
            probe_timeout_seconds: 2.0,
            probe_interval_seconds: 1.0,
            notify: Default::default(),
            backups: Vec::new(),
            snapshots: Vec::new(),
            hosts: Vec::new(),
        }
    }

    #[test]
    fn destroying_plans_preserve_first_and_never_delete() {
        let estate = estate(Vec::new());
        let rebuild = plan(
            &estate,
            &Action::Rebuild {
                target: "db-3".into(),
                source: "db-1".into(),
            },
        );
        assert!(
            matches!(
                rebuild.as_slice(),
                [Step::Stop(_), Step::Preserve { .. }, Step::Rebuild { .. }]
            ),
            "{rebuild:?}"
        );
        let delete = plan(
            &estate,
            &Action::DeleteData {
                target: "db-3".into(),
            },
        );
        assert!(
            matches!(delete.as_slice(), [Step::Stop(_), Step::Preserve { .. }]),
            "{delete:?}"
        );
        assert_eq!(
            plan(
                &estate,
                &Action::Promote {
                    target: "db-2".into()
                }
            ),
            [Step::Promote("db-2".into())]
        );
    }

    #[test]
    fn a_missing_command_is_refused_with_the_key_to_set() {
        let estate = estate(vec![Instance {
            name: "db-1".to_owned(),
            conninfo: "host=/tmp".to_owned(),
            data_dir: PathBuf::from("/srv/db-1"),
            host: "localhost".to_owned(),
            application_name: "db-1".to_owned(),
            commands: InstanceCommands {
                stop: Some(vec!["true".to_owned()]),
                ..Default::default()
            },
        }]);
        let restart = plan(
            &estate,
            &Action::Restart {
                target: "db-1".into(),
            },
        );
        let error = check_configured(&estate, &restart).unwrap_err();
        assert_eq!(
            error.to_string(),
            "instance `db-1` has no `start_command`: hadome does not know how to start"
        );
        assert!(error.hint().unwrap().contains("`start_command = ["));
        let fence = [Step::Fence("db-1".into())];
        assert_eq!(check_configured(&estate, &fence), Ok(()), "the stop fences");
        let elsewhere = [Step::Stop("db-9".into())];
        assert_eq!(
            check_configured(&estate, &elsewhere)
                .unwrap_err()
                .to_string(),
            "the estate has no instance `db-9`"
        );
    }
}
