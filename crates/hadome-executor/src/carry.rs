//! [`carry_out`]: the one intent → steps → outcome loop, for `hadome run` and the daemon alike.
//!
//! The caller's [`Recorder`] journals and shows; the loop decides the order: the intent is
//! recorded before the first step, each step after it is done, the outcome after the last, and a
//! failed step stops the plan. A process killed in between leaves the intent open in the
//! journal, for a person (or the next daemon) to find.

use std::future::Future;
use std::path::{Path, PathBuf};

use hadome_core::action::Action;
use hadome_core::estate::Estate;

use crate::execute::{execute, CountRows};
use crate::preserve::{move_aside, preserved as preserved_detail};
use crate::step::Step;

/// How a step, or a whole plan, ended: the text journaled with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it succeeded.
    pub ok: bool,
    /// What was done, or why it failed.
    pub detail: String,
}

/// What the caller does with each stage of [`carry_out`]: journal it, print or log it.
///
/// `hadome run` journals directly and prints ✓/✗ lines; the daemon logs, and journals on
/// tokio's blocking pool. An error (the journal failed) stops the loop where it is: what was
/// not recorded is not done.
pub trait Recorder {
    /// What names a recorded intent (the journal's id).
    type Intent;
    /// Why recording failed.
    type Error;

    /// Records the intent to carry out `steps`, before anything is done. `Ok(None)`: it was not
    /// recorded (another actor holds the target), and nothing is done.
    fn intent(
        &mut self,
        steps: &[Step],
    ) -> impl Future<Output = Result<Option<Self::Intent>, Self::Error>>;

    /// Records one step of `intent`, once it is done (or failed).
    fn step(
        &mut self,
        intent: &Self::Intent,
        step: &Step,
        done: &Outcome,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Records the outcome of `intent`, after the last step.
    fn outcome(
        &mut self,
        intent: &Self::Intent,
        outcome: &Outcome,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Carries out `action`'s `steps` between a recorded intent and a recorded outcome; a failed
/// step stops the plan. `None` when the recorder did not record the intent (nothing was done).
///
/// The outcome's detail is `ACTION done`, or `STEP failed: DETAIL` for the step that failed.
///
/// **Never worse** (issue 18): when the step that was to put something new in place of a data
/// directory moved aside (a rebuild, a restore, or the start after it) fails, the executor puts
/// the old directory back ([`Step::PutBack`]) and, when the plan had stopped the instance, starts
/// it again as it was, each recorded as a step. If that fails too, the outcome says where the
/// data is and what to run: a member is never left without its data and no word.
pub async fn carry_out<R: Recorder>(
    estate: &Estate,
    action: &Action,
    steps: &[Step],
    rows: &impl CountRows,
    recorder: &mut R,
) -> Result<Option<Outcome>, R::Error> {
    let Some(intent) = recorder.intent(steps).await? else {
        return Ok(None);
    };
    // Per data directory moved aside by this plan: the instance, and where it went.
    let mut preserved: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    let mut stopped: Vec<String> = Vec::new();
    // Members this plan removed from their cluster: a later failure says where things stand.
    let mut removed: Vec<String> = Vec::new();
    let mut failure = None;
    for (index, step) in steps.iter().enumerate() {
        let done = match step {
            // Moved aside here rather than through `execute`, to know where it went.
            Step::Preserve { instance, data_dir } => {
                let moved = match estate.instance(instance) {
                    // On its own host, over SSH, or as the Debian cluster's owner would.
                    Some(target) if crate::debian::remote_or_debian(estate, target) => {
                        crate::debian::preserve(estate, target)
                            .await
                            .map_err(crate::execute::StepError::from)
                    }
                    _ => move_aside(data_dir, "aside").map_err(crate::execute::StepError::from),
                };
                let moved = moved.map(|aside| {
                    let detail = preserved_detail(data_dir, aside.as_deref());
                    if let Some(aside) = aside {
                        preserved.push((instance.clone(), data_dir.clone(), aside));
                    }
                    detail
                });
                outcome_of(moved)
            }
            _ => outcome_of(execute(estate, step, rows).await),
        };
        recorder.step(&intent, step, &done).await?;
        if done.ok {
            match step {
                Step::Stop(instance) => stopped.push(instance.clone()),
                Step::Member {
                    member,
                    op: crate::member::MemberOp::Remove,
                } => removed.push(member.clone()),
                _ => {}
            }
            continue;
        }
        let mut detail = format!("{} failed: {}", step.describe_in(estate), done.detail);
        for member in &removed {
            let aside = preserved
                .iter()
                .find(|(instance, _, _)| instance == member)
                .map(|(_, _, aside)| aside.as_path());
            let left: Vec<String> = steps[index..].iter().map(Step::describe).collect();
            detail = format!(
                "{detail}; {}",
                crate::member::after_removal(member, aside, &left)
            );
        }
        if let Some(replaced) = replacing(step) {
            if let Some(position) = preserved
                .iter()
                .position(|(instance, _, _)| instance == replaced)
            {
                let (instance, data_dir, aside) = preserved.remove(position);
                let start = stopped.contains(&instance);
                let undone = put_back(
                    estate, rows, recorder, &intent, &instance, &data_dir, &aside, start,
                )
                .await?;
                detail = format!("{detail}; {undone}");
            }
        }
        failure = Some(detail);
        break;
    }
    let outcome = match failure {
        None => Outcome {
            ok: true,
            detail: format!("{action} done"),
        },
        Some(detail) => Outcome { ok: false, detail },
    };
    recorder.outcome(&intent, &outcome).await?;
    Ok(Some(outcome))
}

/// The instance whose moved-aside data directory `step` was to replace, or to bring up again:
/// the steps whose failure leaves nothing new worth keeping in its place.
fn replacing(step: &Step) -> Option<&str> {
    match step {
        Step::Rebuild { target, .. } | Step::Restore { target, .. } => Some(target),
        Step::Start(instance) => Some(instance),
        Step::Stop(_)
        | Step::Preserve { .. }
        | Step::PutBack { .. }
        | Step::Promote(_)
        | Step::Fence(_)
        | Step::Compare { .. }
        | Step::RetryStreams(_)
        | Step::Follow { .. }
        | Step::SetSynchronousStandbyNames { .. }
        | Step::RebootHost(_)
        | Step::ReloadNginx(_)
        | Step::TakeImage { .. }
        | Step::VerifyImage { .. }
        | Step::DeleteHost(_)
        | Step::DeletePath { .. }
        // A member removed from its cluster gets no old data back: its old data directory stays
        // aside, named in the outcome, for a person.
        | Step::Member { .. } => None,
    }
}

/// Puts `instance`'s data directory back from `aside` and, when the plan had stopped it, starts
/// it; each recorded as a step. Returns what became of it, for the outcome.
#[allow(clippy::too_many_arguments)] // The loop's own state, passed once from one place.
async fn put_back<R: Recorder>(
    estate: &Estate,
    rows: &impl CountRows,
    recorder: &mut R,
    intent: &R::Intent,
    instance: &str,
    data_dir: &Path,
    aside: &Path,
    start: bool,
) -> Result<String, R::Error> {
    let step = Step::PutBack {
        instance: instance.to_owned(),
        data_dir: data_dir.to_owned(),
        aside: aside.to_owned(),
    };
    let done = outcome_of(execute(estate, &step, rows).await);
    recorder.step(intent, &step, &done).await?;
    if !done.ok {
        return Ok(format!(
            "putting `{instance}`'s data directory back failed ({}): its data is at `{}`; to put it back, move `{}` to `{}` and start `{instance}`",
            done.detail,
            aside.display(),
            aside.display(),
            data_dir.display()
        ));
    }
    if !start {
        return Ok(format!(
            "`{instance}`'s data directory was put back in place (`{}`)",
            data_dir.display()
        ));
    }
    let start_step = Step::Start(instance.to_owned());
    let done = outcome_of(execute(estate, &start_step, rows).await);
    recorder.step(intent, &start_step, &done).await?;
    Ok(if done.ok {
        format!("`{instance}`'s data directory was put back in place and `{instance}` started as it was")
    } else {
        format!(
            "`{instance}`'s data directory was put back in place (`{}`), but starting it failed ({}): start `{instance}`",
            data_dir.display(),
            done.detail
        )
    })
}

/// A step's result as its journaled outcome.
fn outcome_of<E: std::fmt::Display>(result: Result<String, E>) -> Outcome {
    match result {
        Ok(detail) => Outcome { ok: true, detail },
        Err(error) => Outcome {
            ok: false,
            detail: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::execute::CountError;

    /// Counts nothing: no step of these plans compares.
    struct NoRows;

    impl CountRows for NoRows {
        async fn current_counts(
            &self,
            _conninfo: &str,
            _timeout: Duration,
        ) -> Result<BTreeMap<String, u64>, CountError> {
            Err(CountError("not counted".to_owned()))
        }
    }

    /// Remembers what it was told, in order.
    struct Log {
        records: Vec<String>,
        recorded: bool,
    }

    impl Recorder for Log {
        type Intent = ();
        type Error = std::convert::Infallible;

        async fn intent(&mut self, steps: &[Step]) -> Result<Option<()>, Self::Error> {
            self.records
                .push(format!("intent of {} steps", steps.len()));
            Ok(self.recorded.then_some(()))
        }

        async fn step(&mut self, _: &(), step: &Step, done: &Outcome) -> Result<(), Self::Error> {
            self.records
                .push(format!("{} {}: {}", done.ok, step.describe(), done.detail));
            Ok(())
        }

        async fn outcome(&mut self, _: &(), outcome: &Outcome) -> Result<(), Self::Error> {
            self.records
                .push(format!("outcome {}: {}", outcome.ok, outcome.detail));
            Ok(())
        }
    }

    fn estate() -> Estate {
        Estate {
            instances: Vec::new(),
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

    /// `steps` carried out on an empty estate, with a recorder that records everything.
    async fn carried_out(action: &Action, steps: &[Step]) -> (Outcome, Log) {
        let mut log = Log {
            records: Vec::new(),
            recorded: true,
        };
        let outcome = carry_out(&estate(), action, steps, &NoRows, &mut log)
            .await
            .unwrap()
            .expect("the intent is recorded");
        (outcome, log)
    }

    #[tokio::test]
    async fn the_intent_comes_first_the_outcome_last_and_a_failed_step_stops_the_plan() {
        let scratch = tempfile::tempdir().unwrap();
        let (first, last) = (scratch.path().join("first"), scratch.path().join("last"));
        std::fs::create_dir(&first).unwrap();
        std::fs::create_dir(&last).unwrap();
        let preserve = |data_dir: &PathBuf| Step::Preserve {
            instance: "db-1".to_owned(),
            data_dir: data_dir.clone(),
        };
        let steps = [
            preserve(&first),
            Step::Stop("db-9".to_owned()),
            preserve(&last),
        ];
        let action = Action::Stop {
            target: "db-9".to_owned(),
        };
        let (outcome, log) = carried_out(&action, &steps).await;
        assert!(!outcome.ok);
        assert_eq!(
            outcome.detail,
            "stop `db-9` (its stop_command) failed: no instance `db-9`"
        );
        assert_eq!(log.records.len(), 4, "{:#?}", log.records);
        assert_eq!(log.records[0], "intent of 3 steps");
        assert!(
            log.records[1].starts_with("true preserve"),
            "{:?}",
            log.records
        );
        assert_eq!(
            log.records[2],
            "false stop `db-9` (its stop_command): no instance `db-9`"
        );
        assert!(log.records[3].starts_with("outcome false"));
        assert!(!first.exists(), "moved aside");
        assert!(last.exists(), "the plan stopped before it");
    }

    #[tokio::test]
    async fn nothing_is_done_without_a_recorded_intent() {
        let scratch = tempfile::tempdir().unwrap();
        let data_dir = scratch.path().join("data");
        std::fs::create_dir(&data_dir).unwrap();
        let steps = [Step::Preserve {
            instance: "db-1".to_owned(),
            data_dir: data_dir.clone(),
        }];
        let action = Action::DeleteData {
            target: "db-1".to_owned(),
        };
        let mut log = Log {
            records: Vec::new(),
            recorded: false,
        };
        let outcome = carry_out(&estate(), &action, &steps, &NoRows, &mut log)
            .await
            .unwrap();
        assert_eq!(outcome, None);
        assert_eq!(log.records, ["intent of 1 steps"]);
        assert!(data_dir.exists());
    }

    #[tokio::test]
    async fn a_failed_rebuild_puts_the_moved_aside_data_directory_back() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("db-3");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let steps = [
            Step::Preserve {
                instance: "db-3".to_owned(),
                data_dir: data.clone(),
            },
            // The estate has no `db-3`: the rebuild fails before it writes anything.
            Step::Rebuild {
                target: "db-3".to_owned(),
                source: "db-1".to_owned(),
            },
        ];
        let action = Action::Rebuild {
            target: "db-3".to_owned(),
            source: "db-1".to_owned(),
        };
        let (outcome, log) = carried_out(&action, &steps).await;
        assert!(!outcome.ok);
        assert!(
            outcome.detail.ends_with(&format!(
                "`db-3`'s data directory was put back in place (`{}`)",
                data.display()
            )),
            "{}",
            outcome.detail
        );
        assert_eq!(
            std::fs::read_to_string(data.join("PG_VERSION")).unwrap(),
            "15\n",
            "the data is back where it was"
        );
        let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing left aside: {left:?}");
        assert!(
            log.records[3].starts_with("true put `db-3`'s data directory back: move `"),
            "{:#?}",
            log.records
        );
        assert_eq!(log.records.len(), 5, "{:#?}", log.records);
    }

    /// Issue 12: `run delete-host` never deletes before the final image is verified.
    #[tokio::test]
    async fn a_failed_verify_stops_a_host_deletion_before_the_delete() {
        let scratch = tempfile::tempdir().unwrap();
        let deleted = scratch.path().join("deleted");
        let imaged = scratch.path().join("imaged");
        let shell = |script: String| Some(vec!["sh".to_owned(), "-c".to_owned(), script]);
        let mut estate = estate();
        estate.hosts.push(hadome_core::host::Host {
            name: "s512".to_owned(),
            facts_command: None,
            data_paths: Vec::new(),
            min_uptime_seconds: 600.0,
            max_boots: 3,
            boot_window_seconds: 3600.0,
            freshness_seconds: 30.0,
            ssh: None,
            commands: hadome_core::host::HostCommands {
                reboot: None,
                image: shell(format!("echo {{host}} {{image}} > {}", imaged.display())),
                verify_image: shell("echo {image} is truncated >&2; exit 1".to_owned()),
                delete: shell(format!("touch {}", deleted.display())),
            },
        });
        let action = Action::DeleteHost {
            host: "s512".to_owned(),
        };
        let mut steps = crate::plan(&estate, &action);
        crate::name_image(&mut steps, "s512-final-x");
        let mut log = Log {
            records: Vec::new(),
            recorded: true,
        };
        let outcome = carry_out(&estate, &action, &steps, &NoRows, &mut log)
            .await
            .unwrap()
            .expect("the intent is recorded");
        assert!(!outcome.ok);
        assert!(
            outcome
                .detail
                .ends_with("exit status: 1: s512-final-x is truncated"),
            "{}",
            outcome.detail
        );
        assert_eq!(
            std::fs::read_to_string(&imaged).unwrap(),
            "s512 s512-final-x\n"
        );
        assert!(!deleted.exists(), "deleted before the image was verified");
        assert_eq!(log.records.len(), 4, "{:#?}", log.records);
    }
}
