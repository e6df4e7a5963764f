//! Steps on a quorum member (`[[etcd]]`, issue 13): its argv commands (`start_command`,
//! `stop_command`, `remove_command`, `add_command`), never an instance's, each verified by probing
//! the member (a bounded poll with a deadline, as the instance steps wait).

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
}

impl MemberOp {
    /// The `[[etcd]]` key of its command.
    pub fn key(self) -> &'static str {
        match self {
            MemberOp::Stop => "stop_command",
            MemberOp::Start => "start_command",
            MemberOp::Remove => "remove_command",
            MemberOp::Add => "add_command",
        }
    }

    /// The command, when configured.
    pub fn command(self, member: &EtcdMember) -> Option<&Vec<String>> {
        match self {
            MemberOp::Stop => member.commands.stop.as_ref(),
            MemberOp::Start => member.commands.start.as_ref(),
            MemberOp::Remove => member.commands.remove.as_ref(),
            MemberOp::Add => member.commands.add.as_ref(),
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
    let answers = match op {
        MemberOp::Stop => false,
        MemberOp::Start => true,
        MemberOp::Remove | MemberOp::Add => return Ok(ran.to_string()),
    };
    let awaited = if answers {
        "answers"
    } else {
        "no longer answers"
    };
    wait_member(estate, member, answers)
        .await
        .map_err(|last_seen| MemberStepError::Wait {
            member: name.to_owned(),
            awaited,
            last_seen,
        })?;
    Ok(format!("{ran}; it {awaited}"))
}

/// Probes `member` alone (each probe bounded by the probe timeout) until it answers (`answers`)
/// or does not; `Err` with what the last probe saw when [`EFFECT_TIMEOUT`] passes first.
async fn wait_member(estate: &Estate, member: &EtcdMember, answers: bool) -> Result<(), String> {
    let mut alone = estate.clone();
    alone.etcd_members = vec![member.clone()];
    alone.quorums.clear();
    let deadline = tokio::time::Instant::now() + EFFECT_TIMEOUT;
    let polled = poll_until(deadline, Duration::from_millis(100), |_| async {
        let probes = hadome_observer::etcd::observe_members(&alone).await;
        let seen = match probes.get(&member.name).map(|probe| &probe.outcome) {
            Some(MemberOutcome::Answered(state)) => Ok(format!(
                "answers, raft index {}{}",
                state.raft_index,
                if state.is_learner { ", a learner" } else { "" }
            )),
            Some(MemberOutcome::Unreachable { error, .. }) => Err(error.clone()),
            None => Err("not probed".to_owned()),
        };
        Ok::<_, Infallible>(match seen {
            Ok(_) if answers => Poll::Done(()),
            Err(_) if !answers => Poll::Done(()),
            Ok(text) | Err(text) => Poll::NotYet(text),
        })
    })
    .await;
    match polled {
        Ok(Polled::Done(())) => Ok(()),
        Ok(Polled::TimedOut { last_seen }) => Err(last_seen),
        Err(never) => match never {},
    }
}
