//! The plan of an action ([`plan`]) and whether the estate configures what it needs
//! ([`check_configured`]): pure, so both are tested without servers.
//!
//! Destroying plans preserve first: a plan that replaces a data directory stops the instance and
//! moves the directory aside before anything writes a new one; a plan that deletes a host takes a
//! final image of it and verifies the image before the deletion (a failed verify stops the plan).

use hadome_core::action::Action;
use hadome_core::estate::{Estate, Instance};
use hadome_core::host::Host;

use crate::member::MemberOp;
use crate::step::Step;
use hadome_core::quorum::EtcdMember;

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
    /// A step names a host the estate does not declare (`[[host]]`).
    #[error("the estate declares no host `{0}`")]
    NoHost(String),
    /// The host has no command for the step (`reboot_command`, `image_command`, …).
    #[error("host `{host}` has no `{key}`: hadome does not know how to {}", verb_of(.key))]
    NoHostCommand {
        /// The host.
        host: String,
        /// The key its `[[host]]` lacks.
        key: &'static str,
    },
    /// A step names an etcd member the estate does not declare.
    #[error("the estate declares no etcd member `{0}`")]
    NoMember(String),
    /// The member has no command for the step, or no `data_dir` to move aside.
    #[error("etcd member `{member}` has no `{key}`: hadome does not know how to {}", verb_of(.key))]
    NoMemberKey {
        /// The member.
        member: String,
        /// The key its `[[etcd]]` lacks.
        key: &'static str,
    },
    /// The step is not supported by `hadome run` yet.
    #[error("`{what}` is not supported by `run` yet: {instead}")]
    Unsupported {
        /// What was asked, as the step names it.
        what: String,
        /// What a person does instead.
        instead: &'static str,
    },
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
            NotConfigured::NoHost(host) => Some(format!(
                "declare it: `[[host]]` with `name = \"{host}\"` (examples/estate.toml)"
            )),
            NotConfigured::NoHostCommand { host, key } => Some(format!(
                "add `{key} = [\"program\", \"{{host}}\", …]` to the `[[host]]` named `{host}` (examples/estate.toml shows each)"
            )),
            NotConfigured::NoMember(member) => Some(format!(
                "declare it: `[[etcd]]` with `name = \"{member}\"` (examples/estate.toml)"
            )),
            NotConfigured::NoMemberKey { member, key } => Some(if *key == "data_dir" {
                format!("add `data_dir = \"/var/lib/etcd/{member}\"` (its etcd `--data-dir`) to the `[[etcd]]` named `{member}`: hadome moves it aside, never deletes it")
            } else {
                format!("add `{key} = [\"program\", \"{{target}}\", …]` to the `[[etcd]]` named `{member}` (examples/estate.toml shows each)")
            }),
            NotConfigured::Unsupported { .. } => Some(
                "`hadome ask` still judges it (destroy-coverage); a person carries it out".to_owned(),
            ),
        }
    }
}

/// `stop_command` → `stop`, `fence_command` → `fence`: what hadome does not know how to do.
fn verb_of(key: &str) -> String {
    if key == "data_dir" {
        return "move its data directory aside".to_owned();
    }
    key.trim_end_matches("_command").replace('_', " ")
}

/// The steps that carry out `action`: pure, so it is tested without servers.
///
/// A host's image steps are not named here (the name holds the time, and a plan reads no
/// clock): the caller names them with [`name_image`] before carrying the plan out. The deletion
/// of a path on a host plans one [`Step::DeletePath`], which [`check_configured`] refuses.
pub fn plan(estate: &Estate, action: &Action) -> Vec<Step> {
    let member_step = |member: &str, op: MemberOp| Step::Member {
        member: member.to_owned(),
        op,
    };
    if let Some(member) = estate.etcd_member(action.target()) {
        let name = member.name.as_str();
        match action {
            Action::Stop { .. } => return vec![member_step(name, MemberOp::Stop)],
            Action::Restart { .. } => {
                return vec![
                    member_step(name, MemberOp::Stop),
                    member_step(name, MemberOp::Start),
                ]
            }
            // Never worse: stop it if it still runs (a hung member must not write into the
            // directory moved aside), remove it, move the old data aside (never delete), add a
            // fresh learner, start it, promote it once caught up. `check_configured` refuses the
            // plan before anything is done when a command or the data directory is missing, and
            // `preflight` checks the later commands run: the constructive half is checked first.
            Action::ReplaceMember { .. } => {
                let mut steps = removal(member);
                steps.extend([
                    member_step(name, MemberOp::Add),
                    member_step(name, MemberOp::Start),
                    member_step(name, MemberOp::Promote),
                ]);
                return steps;
            }
            Action::RemoveMember { .. } => return removal(member),
            _ => {}
        }
    }
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
        Action::Reboot { host } => vec![Step::RebootHost(host.clone())],
        Action::Reload { nginx } => vec![Step::ReloadNginx(nginx.clone())],
        Action::Image { host, .. } => image_steps(host),
        // Preserve before destroy: the final image is taken and verified before the deletion,
        // and a failed verify stops the plan there.
        Action::DeleteHost { host } => {
            let mut steps = image_steps(host);
            steps.push(Step::DeleteHost(host.clone()));
            steps
        }
        Action::DeletePath { host, path } => vec![Step::DeletePath {
            host: host.clone(),
            path: path.clone(),
        }],
        // A replace-member or remove-member of a name the estate does not declare as `[[etcd]]`
        // (`check_configured` refuses it).
        Action::ReplaceMember { member } | Action::RemoveMember { member } => {
            vec![member_step(member, MemberOp::Remove)]
        }
    }
}

/// A member's removal: stop it if it still runs, remove it from its cluster, move its data
/// directory aside (`remove-member`, and the first half of `replace-member`).
fn removal(member: &EtcdMember) -> Vec<Step> {
    let step = |op: MemberOp| Step::Member {
        member: member.name.clone(),
        op,
    };
    vec![
        step(MemberOp::StopIfRunning),
        step(MemberOp::Remove),
        Step::Preserve {
            instance: member.name.clone(),
            data_dir: member.data_dir.clone().unwrap_or_default(),
        },
    ]
}

fn image_steps(host: &str) -> Vec<Step> {
    vec![
        Step::TakeImage {
            host: host.to_owned(),
            image: None,
        },
        Step::VerifyImage {
            host: host.to_owned(),
            image: None,
        },
    ]
}

/// Names every image step of `steps` `image` (`hadome_core::host::final_image_name` at the
/// pass's `now`, as the assessment's prerequisites name it).
pub fn name_image(steps: &mut [Step], image: &str) {
    for step in steps {
        if let Step::TakeImage { image: named, .. } | Step::VerifyImage { image: named, .. } = step
        {
            *named = Some(image.to_owned());
        }
    }
}

/// Every configured command the plan needs, or the first one missing, with the key to set.
pub fn check_configured(estate: &Estate, plan: &[Step]) -> Result<(), NotConfigured> {
    for step in plan {
        if let Some(member) = member_of_step(estate, step) {
            let member = member?;
            match step {
                Step::Member { op, .. } if op.command(member).is_none() => {
                    return Err(NotConfigured::NoMemberKey {
                        member: member.name.clone(),
                        key: op.key(),
                    })
                }
                Step::Preserve { .. } if member.data_dir.is_none() => {
                    return Err(NotConfigured::NoMemberKey {
                        member: member.name.clone(),
                        key: "data_dir",
                    })
                }
                _ => continue,
            }
        }
        let debian = |name: &str| {
            estate
                .instance(name)
                .is_some_and(|instance| instance.commands.debian.is_some())
        };
        match step {
            // `actions = "debian"`: hadome carries these out itself.
            Step::Stop(name) | Step::Start(name) | Step::Fence(name) if debian(name) => continue,
            Step::Rebuild { target, .. } | Step::Follow { target, .. } if debian(target) => {
                continue
            }
            _ => {}
        }
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
            Step::RebootHost(host) => {
                host_command(estate, host, "reboot_command", |host| &host.commands.reboot)?;
                continue;
            }
            // Its commands have defaults (`nginx -t`, `nginx -s reload`); an unknown nginx is
            // denied by the assessment first.
            Step::ReloadNginx(_) => continue,
            Step::TakeImage { host, .. } => {
                host_command(estate, host, "image_command", |host| &host.commands.image)?;
                continue;
            }
            Step::VerifyImage { host, .. } => {
                host_command(estate, host, "verify_image_command", |host| {
                    &host.commands.verify_image
                })?;
                continue;
            }
            Step::DeleteHost(host) => {
                host_command(estate, host, "delete_command", |host| &host.commands.delete)?;
                continue;
            }
            Step::DeletePath { host, path } => {
                return Err(NotConfigured::Unsupported {
                    what: format!("delete-data {host}:{}", path.display()),
                    instead: "move the path aside by hand (never delete it before a backup or image covers it)",
                })
            }
            Step::Member { .. }
            | Step::Preserve { .. }
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

/// The member a step acts on: `Some(Err)` for a member step naming no `[[etcd]]`, `None` for a
/// step on anything else (a `Preserve` of an etcd member's data directory is the member's).
fn member_of_step<'a>(
    estate: &'a Estate,
    step: &Step,
) -> Option<Result<&'a EtcdMember, NotConfigured>> {
    match step {
        Step::Member { member, .. } => Some(
            estate
                .etcd_member(member)
                .ok_or_else(|| NotConfigured::NoMember(member.clone())),
        ),
        Step::Preserve { instance, .. } => estate.etcd_member(instance).map(Ok),
        _ => None,
    }
}

/// `Ok` when the declared `host` configures the command `key` (`command` reads it).
fn host_command(
    estate: &Estate,
    host: &str,
    key: &'static str,
    command: impl Fn(&Host) -> &Option<Vec<String>>,
) -> Result<(), NotConfigured> {
    let declared = estate
        .host(host)
        .ok_or_else(|| NotConfigured::NoHost(host.to_owned()))?;
    if command(declared).is_some() {
        Ok(())
    } else {
        Err(NotConfigured::NoHostCommand {
            host: host.to_owned(),
            key,
        })
    }
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
            etcd_members: Vec::new(),
            quorums: Vec::new(),
            coordination: None,
            api: None,
            web: Default::default(),
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

    fn s512(commands: hadome_core::host::HostCommands) -> Estate {
        let mut estate = estate(Vec::new());
        estate.hosts.push(Host {
            name: "s512".to_owned(),
            facts_command: None,
            data_paths: vec![PathBuf::from("/srv/uploads")],
            min_uptime_seconds: 600.0,
            max_boots: 3,
            boot_window_seconds: 3600.0,
            freshness_seconds: 30.0,
            commands,
            ssh: None,
        });
        estate
    }

    #[test]
    fn deleting_a_host_takes_and_verifies_a_final_image_first() {
        let estate = s512(Default::default());
        let mut steps = plan(
            &estate,
            &Action::DeleteHost {
                host: "s512".into(),
            },
        );
        name_image(&mut steps, "s512-final-20270115T080000Z");
        let described: Vec<String> = steps.iter().map(Step::describe).collect();
        assert_eq!(
            described,
            [
                "take an image of `s512`, `s512-final-20270115T080000Z` (its image_command)",
                "verify `s512-final-20270115T080000Z` of `s512` (its verify_image_command); nothing after it is done unless it passes",
                "delete `s512` (its delete_command)",
            ]
        );
        let image = plan(
            &estate,
            &Action::Image {
                host: "s512".into(),
                reboots: false,
            },
        );
        assert!(
            matches!(
                image.as_slice(),
                [
                    Step::TakeImage { image: None, .. },
                    Step::VerifyImage { image: None, .. }
                ]
            ),
            "{image:?}"
        );
        assert_eq!(
            plan(
                &estate,
                &Action::Reboot {
                    host: "s512".into()
                }
            ),
            [Step::RebootHost("s512".into())]
        );
    }

    #[test]
    fn a_host_command_missing_is_refused_with_the_key_to_set_and_a_path_deletion_is_not_run() {
        let argv = |word: &str| Some(vec![word.to_owned(), "{host}".to_owned()]);
        let estate = s512(hadome_core::host::HostCommands {
            image: argv("image"),
            verify_image: argv("verify"),
            ..Default::default()
        });
        let delete = plan(
            &estate,
            &Action::DeleteHost {
                host: "s512".into(),
            },
        );
        let error = check_configured(&estate, &delete).unwrap_err();
        assert_eq!(
            error.to_string(),
            "host `s512` has no `delete_command`: hadome does not know how to delete"
        );
        assert!(error.hint().unwrap().starts_with(
            "add `delete_command = [\"program\", \"{host}\", …]` to the `[[host]]` named `s512`"
        ));
        let reboot = plan(
            &estate,
            &Action::Reboot {
                host: "s512".into(),
            },
        );
        assert_eq!(
            check_configured(&estate, &reboot).unwrap_err().to_string(),
            "host `s512` has no `reboot_command`: hadome does not know how to reboot"
        );
        let elsewhere = plan(
            &estate,
            &Action::Reboot {
                host: "s521".into(),
            },
        );
        assert_eq!(
            check_configured(&estate, &elsewhere).unwrap_err(),
            NotConfigured::NoHost("s521".into())
        );
        let path = plan(
            &estate,
            &Action::DeletePath {
                host: "s512".into(),
                path: PathBuf::from("/srv/uploads"),
            },
        );
        assert_eq!(
            check_configured(&estate, &path).unwrap_err().to_string(),
            "`delete-data s512:/srv/uploads` is not supported by `run` yet: move the path aside by hand (never delete it before a backup or image covers it)"
        );
    }
}
