//! Steps on a quorum member (`[[etcd]]`, issue 13): its argv commands (`start_command`,
//! `stop_command`, `remove_command`, `add_command`, `promote_command`), never an instance's, each
//! verified by probing the member (a bounded poll with a deadline, as the instance steps wait).
//!
//! **Promotion is an argv command** (`promote_command`), not a call hadome makes through etcd's
//! API itself, although hadome knows the endpoints: every change of membership then goes through
//! the site's own commands (the same credentials, TLS and audit as its `remove_command` and
//! `add_command`), a person can run each step by hand with the words the journal shows, and a site
//! whose etcd is wrapped (a managed service, an operator) plugs its own tool in. hadome verifies
//! the effect itself: it probes the member until its own status says it is a voter. etcd refuses
//! to promote a learner that has not caught up, so the command retries within its own deadline
//! (the lab's `hadome lab member promote` does).

use std::convert::Infallible;
use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::quorum::{EtcdMember, MemberOutcome};
use hadome_observer::poll::{poll_until, Poll, Polled};

use crate::command::{fill, run_argv, CommandError, Placeholders};
use crate::wait::EFFECT_TIMEOUT;

/// What is done to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOp {
    /// `stop_command`, then wait until it no longer answers.
    Stop,
    /// `start_command`, then wait until it answers.
    Start,
    /// `remove_command`: remove it from its cluster's member list.
    Remove,
    /// `add_command`: add a fresh member of that name as a learner, its data directory empty.
    Add,
    /// `stop_command` whether or not the member answers (a hung member answers nothing and can
    /// still write into the data directory about to be moved aside), then wait until it no
    /// longer answers. The command must succeed on a member already stopped, as `systemctl stop`
    /// does.
    StopIfRunning,
    /// `promote_command`: make the learner a voter once caught up, then wait until its own status
    /// says it is a voter.
    Promote,
}

impl MemberOp {
    /// The `[[etcd]]` key of its command.
    pub fn key(self) -> &'static str {
        match self {
            MemberOp::Stop | MemberOp::StopIfRunning => "stop_command",
            MemberOp::Start => "start_command",
            MemberOp::Remove => "remove_command",
            MemberOp::Add => "add_command",
            MemberOp::Promote => "promote_command",
        }
    }

    /// The command, when configured.
    pub fn command(self, member: &EtcdMember) -> Option<&Vec<String>> {
        match self {
            MemberOp::Stop | MemberOp::StopIfRunning => member.commands.stop.as_ref(),
            MemberOp::Start => member.commands.start.as_ref(),
            MemberOp::Remove => member.commands.remove.as_ref(),
            MemberOp::Add => member.commands.add.as_ref(),
            MemberOp::Promote => member.commands.promote.as_ref(),
        }
    }

    /// The step as a sentence (journaled, printed, grepped).
    pub(crate) fn describe(self, member: &str) -> String {
        match self {
            MemberOp::Stop => {
                format!("stop member `{member}` (its stop_command), then wait until it no longer answers")
            }
            MemberOp::Start => {
                format!("start member `{member}` (its start_command), then wait until it answers")
            }
            MemberOp::Remove => {
                format!("remove member `{member}` from its cluster (its remove_command)")
            }
            MemberOp::Add => {
                format!("add a fresh `{member}` to its cluster as a learner (its add_command)")
            }
            MemberOp::StopIfRunning => format!(
                "stop member `{member}` if it still runs (its stop_command: a hung member answers nothing and can still write into its data directory), then wait until it no longer answers"
            ),
            MemberOp::Promote => format!(
                "promote `{member}` from learner to voter once it has caught up (its promote_command), then wait until it says it is a voter"
            ),
        }
    }
}

/// A member step that failed.
#[derive(Debug, thiserror::Error)]
pub enum MemberStepError {
    /// The estate has no such `[[etcd]]`.
    #[error("no etcd member `{0}`")]
    NoMember(String),
    /// Its command is not configured (`check_configured` refuses it first).
    #[error("etcd member `{member}` has no `{key}`")]
    NoCommand {
        /// The member.
        member: String,
        /// The key its `[[etcd]]` lacks.
        key: &'static str,
    },
    /// Its command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The command exited 0 but the member did not show the effect in time.
    #[error("`{member}`: timed out after {} s waiting until it {awaited} (last seen: {last_seen})", EFFECT_TIMEOUT.as_secs())]
    Wait {
        /// The member.
        member: String,
        /// "answers", "no longer answers".
        awaited: &'static str,
        /// What the last probe saw.
        last_seen: String,
    },
}

/// Runs `op`'s command for `name` and, for a stop or a start, probes the member until the effect
/// shows or [`EFFECT_TIMEOUT`] passes.
pub(crate) async fn execute_member(
    estate: &Estate,
    name: &str,
    op: MemberOp,
) -> Result<String, MemberStepError> {
    let member = estate
        .etcd_member(name)
        .ok_or_else(|| MemberStepError::NoMember(name.to_owned()))?;
    let argv = op
        .command(member)
        .ok_or_else(|| MemberStepError::NoCommand {
            member: name.to_owned(),
            key: op.key(),
        })?;
    let argv = fill(
        argv,
        &Placeholders {
            target: Some(name),
            data_dir: member.data_dir.as_deref(),
            ..Placeholders::default()
        },
    );
    let ran = run_argv(&argv).await?;
    let (wanted, awaited) = match op {
        MemberOp::Stop | MemberOp::StopIfRunning => (Wanted::Silent, "no longer answers"),
        MemberOp::Start => (Wanted::Answers, "answers"),
        MemberOp::Promote => (Wanted::Voter, "answers as a voter"),
        MemberOp::Remove | MemberOp::Add => return Ok(ran.to_string()),
    };
    wait_member(estate, member, wanted)
        .await
        .map_err(|last_seen| MemberStepError::Wait {
            member: name.to_owned(),
            awaited,
            last_seen,
        })?;
    Ok(format!("{ran}; it {awaited}"))
}

/// What a member step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// It answers (a learner or a voter).
    Answers,
    /// It does not answer.
    Silent,
    /// It answers and its own status says it is no learner.
    Voter,
}

/// Probes `member` alone (each probe bounded by the probe timeout) until it shows `wanted`;
/// `Err` with what the last probe saw when [`EFFECT_TIMEOUT`] passes first.
async fn wait_member(estate: &Estate, member: &EtcdMember, wanted: Wanted) -> Result<(), String> {
    // Its quorum narrowed to it alone: the probe keeps the quorum's TLS and credentials.
    let mut alone = estate.clone();
    alone.etcd_members = vec![member.clone()];
    alone.quorums = estate
        .quorum_of(&member.name)
        .map(|quorum| {
            let mut quorum = quorum.clone();
            quorum.members = vec![member.name.clone()];
            quorum
        })
        .into_iter()
        .collect();
    let deadline = tokio::time::Instant::now() + EFFECT_TIMEOUT;
    let polled = poll_until(deadline, Duration::from_millis(100), |_| async {
        let probes = hadome_observer::etcd::observe_members(&alone).await;
        let (shown, learner) = match probes.get(&member.name).map(|probe| &probe.outcome) {
            Some(MemberOutcome::Answered(state)) => (
                format!(
                    "answers, raft index {}{}",
                    state.raft_index,
                    if state.is_learner { ", a learner" } else { "" }
                ),
                Some(state.is_learner),
            ),
            Some(MemberOutcome::Unreachable { error, .. }) => (error.clone(), None),
            None => ("not probed".to_owned(), None),
        };
        let done = match wanted {
            Wanted::Answers => learner.is_some(),
            Wanted::Silent => learner.is_none(),
            Wanted::Voter => learner == Some(false),
        };
        Ok::<_, Infallible>(if done {
            Poll::Done(())
        } else {
            Poll::NotYet(shown)
        })
    })
    .await;
    match polled {
        Ok(Polled::Done(())) => Ok(()),
        Ok(Polled::TimedOut { last_seen }) => Err(last_seen),
        Err(never) => match never {},
    }
}

/// What a person reads when a step after `member`'s removal failed: where the cluster stands,
/// where the old data is, and what is left to do, step by step (`left`, the plan's steps not
/// done, the failed one first).
pub(crate) fn after_removal(
    member: &str,
    aside: Option<&std::path::Path>,
    left: &[String],
) -> String {
    let data = match aside {
        Some(aside) => format!("its old data is kept aside at `{}`", aside.display()),
        None => "its old data directory was not moved aside by this plan".to_owned(),
    };
    let mut text = format!(
        "`{member}` is no longer a member of its cluster (it was removed; etcd never takes a removed \
         member id back, so the old member cannot be re-added: only a fresh one can be added), and \
         the cluster runs on the voters left; {data}"
    );
    if !left.is_empty() {
        text.push_str("; to finish by hand: ");
        text.push_str(&left.join("; then "));
    }
    text
}

/// Before a plan removes a member, checks what can be checked of what comes after the removal:
/// each later member command runs a program that exists and is executable, and the data
/// directory's parent is writable (the move aside is a rename there; the aside name gets a
/// counter when taken, so it is always free). One line per check that passed.
pub(crate) fn member_preflight(
    estate: &Estate,
    steps: &[crate::step::Step],
) -> Result<Vec<String>, MemberPreflightError> {
    use crate::step::Step;
    let Some(position) = steps.iter().position(|step| {
        matches!(
            step,
            Step::Member {
                op: MemberOp::Remove,
                ..
            }
        )
    }) else {
        return Ok(Vec::new());
    };
    let mut passed = Vec::new();
    for step in &steps[position..] {
        match step {
            Step::Member { member, op } => {
                let Some(declared) = estate.etcd_member(member) else {
                    return Err(MemberPreflightError::NoMember(member.clone()));
                };
                let Some(argv) = op.command(declared) else {
                    return Err(MemberPreflightError::NotExecutable {
                        member: member.clone(),
                        key: op.key(),
                        program: String::new(),
                        why: "not configured".to_owned(),
                    });
                };
                let program = argv.first().cloned().unwrap_or_default();
                match executable(&program) {
                    Ok(path) => passed.push(format!(
                        "`{member}`'s {} runs `{}`, which exists and is executable",
                        op.key(),
                        path.display()
                    )),
                    Err(why) => {
                        return Err(MemberPreflightError::NotExecutable {
                            member: member.clone(),
                            key: op.key(),
                            program,
                            why,
                        })
                    }
                }
            }
            Step::Preserve { instance, data_dir } => {
                let parent = data_dir
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(data_dir.as_path());
                match nix::unistd::access(parent, nix::unistd::AccessFlags::W_OK) {
                    Ok(()) => passed.push(format!(
                        "`{}` (where `{instance}`'s data directory is moved aside) is writable",
                        parent.display()
                    )),
                    Err(error) => {
                        return Err(MemberPreflightError::NotWritable {
                            member: instance.clone(),
                            path: parent.to_owned(),
                            error,
                        })
                    }
                }
            }
            _ => {}
        }
    }
    Ok(passed)
}

/// `program` as the runner would find it: a path with a `/` as given, a bare name on `PATH`;
/// `Err` says why it would not run.
fn executable(program: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    if program.is_empty() {
        return Err("its program is empty".to_owned());
    }
    let runs = |path: &std::path::Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return if runs(&path) {
            Ok(path)
        } else {
            Err("no executable file there".to_owned())
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| runs(path))
        .ok_or_else(|| "not found on `PATH`".to_owned())
}

/// Why a plan that removes a member is refused before the removal; nothing was done.
#[derive(Debug, thiserror::Error)]
pub enum MemberPreflightError {
    /// A step names a member the estate does not declare.
    #[error("no etcd member `{0}`")]
    NoMember(String),
    /// A command after the removal would not run.
    #[error("`{member}`'s {key} would not run (`{program}`: {why}): removing `{member}` first would leave its cluster a member short with no way to add it back")]
    NotExecutable {
        /// The member.
        member: String,
        /// Its `[[etcd]]` key.
        key: &'static str,
        /// The program named by the command.
        program: String,
        /// Why it would not run.
        why: String,
    },
    /// The data directory's parent is not writable: the move aside would fail after the removal.
    #[error("`{}` is not writable ({error}): `{member}`'s data directory could not be moved aside after its removal", path.display())]
    NotWritable {
        /// The member.
        member: String,
        /// The data directory's parent.
        path: std::path::PathBuf,
        /// What access(2) said.
        error: nix::errno::Errno,
    },
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use hadome_core::action::Action;
    use hadome_core::quorum::MemberCommands;

    use super::*;
    use crate::step::Step;
    use crate::{carry_out, check_configured, plan, Outcome, Recorder};

    fn estate(commands: MemberCommands, data_dir: Option<PathBuf>) -> Estate {
        Estate {
            instances: Vec::new(),
            clusters: Vec::new(),
            journal_path: PathBuf::from("/tmp/j"),
            probe_timeout_seconds: 0.5,
            probe_interval_seconds: 1.0,
            notify: Default::default(),
            backups: Vec::new(),
            snapshots: Vec::new(),
            hosts: Vec::new(),
            // Port 1 on loopback: nothing answers there, so the member "no longer answers".
            etcd_members: vec![EtcdMember {
                name: "etcd-3".to_owned(),
                endpoints: vec!["http://127.0.0.1:1".to_owned()],
                host: "h3".to_owned(),
                data_dir,
                commands,
            }],
            quorums: Vec::new(),
            coordination: None,
            api: None,
            web: Default::default(),
        }
    }

    fn described(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::describe).collect()
    }

    fn replace() -> Action {
        Action::ReplaceMember {
            member: "etcd-3".to_owned(),
        }
    }

    #[test]
    fn replace_member_stops_removes_moves_aside_adds_starts_and_promotes_in_that_order() {
        let estate = estate(
            MemberCommands::default(),
            Some(PathBuf::from("/srv/etcd-3")),
        );
        let steps = plan(&estate, &replace());
        assert_eq!(
            described(&steps),
            [
                "stop member `etcd-3` if it still runs (its stop_command: a hung member answers nothing and can still write into its data directory), then wait until it no longer answers",
                "remove member `etcd-3` from its cluster (its remove_command)",
                "preserve `etcd-3`'s data directory: move `/srv/etcd-3` aside",
                "add a fresh `etcd-3` to its cluster as a learner (its add_command)",
                "start member `etcd-3` (its start_command), then wait until it answers",
                "promote `etcd-3` from learner to voter once it has caught up (its promote_command), then wait until it says it is a voter",
            ]
        );
        let remove = plan(
            &estate,
            &Action::RemoveMember {
                member: "etcd-3".to_owned(),
            },
        );
        assert_eq!(
            remove.as_slice(),
            &steps[..3],
            "a removal is the replacement's first half"
        );
    }

    #[test]
    fn a_replacement_missing_any_later_command_is_refused_before_anything_is_done() {
        let argv = |word: &str| Some(vec![word.to_owned()]);
        let everything = MemberCommands {
            start: argv("start"),
            stop: argv("stop"),
            remove: argv("remove"),
            add: argv("add"),
            promote: argv("promote"),
        };
        let data_dir = Some(PathBuf::from("/srv/etcd-3"));
        let configured = estate(everything.clone(), data_dir.clone());
        assert_eq!(
            check_configured(&configured, &plan(&configured, &replace())),
            Ok(())
        );
        let no_promote = estate(
            MemberCommands {
                promote: None,
                ..everything.clone()
            },
            data_dir,
        );
        let error = check_configured(&no_promote, &plan(&no_promote, &replace())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "etcd member `etcd-3` has no `promote_command`: hadome does not know how to promote"
        );
        let no_data_dir = estate(everything, None);
        assert_eq!(
            check_configured(&no_data_dir, &plan(&no_data_dir, &replace()))
                .unwrap_err()
                .to_string(),
            "etcd member `etcd-3` has no `data_dir`: hadome does not know how to move its data directory aside"
        );
    }

    #[test]
    fn preflight_refuses_a_removal_whose_later_command_would_not_run() {
        let scratch = tempfile::tempdir().unwrap();
        let argv = |program: &str| Some(vec![program.to_owned(), "{target}".to_owned()]);
        let data_dir = Some(scratch.path().join("data"));
        let commands = MemberCommands {
            start: argv("true"),
            stop: argv("true"),
            remove: argv("true"),
            add: argv("/nonexistent/etcd-member-add"),
            promote: argv("true"),
        };
        let estate = estate(commands.clone(), data_dir.clone());
        let error = member_preflight(&estate, &plan(&estate, &replace())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`etcd-3`'s add_command would not run (`/nonexistent/etcd-member-add`: no executable file there): removing `etcd-3` first would leave its cluster a member short with no way to add it back"
        );
        let estate = self::estate(
            MemberCommands {
                add: argv("true"),
                ..commands
            },
            data_dir,
        );
        let passed = member_preflight(&estate, &plan(&estate, &replace())).unwrap();
        assert_eq!(passed.len(), 5, "{passed:#?}");
        assert!(passed[1].ends_with("is writable"), "{passed:#?}");
    }

    struct Log(Vec<String>);

    impl Recorder for Log {
        type Intent = ();
        type Error = std::convert::Infallible;

        async fn intent(&mut self, _: &[Step]) -> Result<Option<()>, Self::Error> {
            Ok(Some(()))
        }

        async fn step(&mut self, _: &(), step: &Step, done: &Outcome) -> Result<(), Self::Error> {
            self.0.push(format!("{} {}", done.ok, step.describe()));
            Ok(())
        }

        async fn outcome(&mut self, _: &(), _: &Outcome) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    struct NoRows;

    impl crate::CountRows for NoRows {
        async fn current_counts(
            &self,
            _: &str,
            _: Duration,
        ) -> Result<std::collections::BTreeMap<String, u64>, crate::CountError> {
            Err(crate::CountError("not counted".to_owned()))
        }
    }

    /// A failed add after the removal: the outcome says the member is out of its cluster, that
    /// the old one cannot be re-added, where the old data is, and the steps left, by hand.
    #[tokio::test]
    async fn a_failure_after_the_removal_says_where_the_cluster_stands_and_what_is_left() {
        let scratch = tempfile::tempdir().unwrap();
        let data_dir = scratch.path().join("data");
        std::fs::create_dir(&data_dir).unwrap();
        std::fs::write(data_dir.join("member"), "old\n").unwrap();
        let shell = |script: &str| Some(vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]);
        let estate = estate(
            MemberCommands {
                start: shell("true"),
                stop: shell("true"),
                remove: shell("true"),
                add: shell("echo the cluster refused the learner >&2; exit 1"),
                promote: shell("true"),
            },
            Some(data_dir.clone()),
        );
        let action = replace();
        let steps = plan(&estate, &action);
        let mut log = Log(Vec::new());
        let outcome = carry_out(&estate, &action, &steps, &NoRows, &mut log)
            .await
            .unwrap()
            .expect("recorded");
        assert!(!outcome.ok);
        let aside: Vec<PathBuf> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        let aside: &Path = &aside[0];
        assert_eq!(
            std::fs::read_to_string(aside.join("member")).unwrap(),
            "old\n"
        );
        assert!(
            !data_dir.exists(),
            "nothing was put back into a removed member"
        );
        let detail = &outcome.detail;
        assert!(
            detail.starts_with(
                "add a fresh `etcd-3` to its cluster as a learner (its add_command) failed:"
            ),
            "{detail}"
        );
        assert!(
            detail.contains(&format!(
                "`etcd-3` is no longer a member of its cluster (it was removed; etcd never takes a removed member id back, so the old member cannot be re-added: only a fresh one can be added), and the cluster runs on the voters left; its old data is kept aside at `{}`; to finish by hand: add a fresh `etcd-3`",
                aside.display()
            )),
            "{detail}"
        );
        assert!(
            detail.ends_with("then wait until it says it is a voter"),
            "{detail}"
        );
        assert_eq!(log.0.len(), 4, "{:#?}", log.0);
    }
}
