//! A `hadome backup run` in the journal: an intent (`backup-run`, target the backup's name)
//! before anything is made, each step once done, an outcome at the end, as `hadome run` journals
//! an action. A run killed in between leaves an open intent; the next run of the same backup (it
//! holds the backup's making lease, so no other run is at work) closes it as interrupted and moves
//! the temporary output it left aside, where it never counts as a copy.

use std::path::Path;

use hadome_journal::Journal;

use crate::backup_facts::{FAILED_PREFIX, TEMPORARY_PREFIX};
use crate::clock::wall_clock;
use crate::error::CliError;
use crate::failpoint::{self, Reached};

/// The intents' action name.
pub(super) const ACTION_NAME: &str = "backup-run";

/// One journaled run: its intent, and how many of its steps the journal holds.
pub(super) struct Job {
    intent: i64,
    steps_recorded: usize,
}

impl Job {
    /// Records the intent to make a copy of `backup` by `plan`, before anything is made.
    pub(super) fn start(
        journal: &mut Journal,
        backup: &str,
        plan: &[String],
    ) -> Result<Job, CliError> {
        let intent = journal.record_job_intent(
            wall_clock(),
            ACTION_NAME,
            &format!("backup run `{backup}`"),
            backup,
            plan,
            &crate::actor::person_running("hadome backup run"),
        )?;
        failpoint::kill_if_reached(Reached::Intent);
        Ok(Job {
            intent,
            steps_recorded: 0,
        })
    }

    /// The intent's id.
    pub(super) fn intent(&self) -> i64 {
        self.intent
    }

    /// Records one step, done or failed.
    pub(super) fn step(
        &mut self,
        journal: &mut Journal,
        step: &str,
        ok: bool,
        detail: &str,
    ) -> Result<(), CliError> {
        journal.record_step(self.intent, wall_clock(), step, ok, detail)?;
        self.steps_recorded += 1;
        failpoint::kill_if_reached(Reached::Step(self.steps_recorded));
        Ok(())
    }

    /// Records the outcome; the job is over.
    pub(super) fn finish(
        self,
        journal: &mut Journal,
        ok: bool,
        detail: &str,
    ) -> Result<(), CliError> {
        journal.record_outcome(self.intent, wall_clock(), ok, detail)?;
        Ok(())
    }
}

/// Closes the intents earlier runs of `backup` left open (killed mid-run: the caller holds the
/// backup's making lease, so none of them is still at work), and moves aside every temporary
/// output in `dir` whose name starts with `prefix` (the copies' pattern), to the failed prefix:
/// never deleted, never a copy. Returns what it says of them, one line each.
pub(super) fn close_interrupted(
    journal: &mut Journal,
    backup: &str,
    dir: &Path,
    prefix: &str,
) -> Result<String, CliError> {
    let mut said = String::new();
    let mut moved = Vec::new();
    let temporary = format!("{TEMPORARY_PREFIX}{prefix}");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&temporary) {
                continue;
            }
            // Never over an earlier failed output of the same name (two runs killed within one
            // second of each other name their temporary output alike): a rename would delete it.
            let failed = name.replacen(TEMPORARY_PREFIX, FAILED_PREFIX, 1);
            let mut aside = dir.join(&failed);
            for again in 2.. {
                if !aside.exists() {
                    break;
                }
                aside = dir.join(format!("{failed}.{again}"));
            }
            match std::fs::rename(entry.path(), &aside) {
                Ok(()) => moved.push(format!(
                    "`{}` moved aside to `{}`",
                    entry.path().display(),
                    aside.display()
                )),
                Err(error) => moved.push(format!(
                    "`{}` stays where it is (could not move it aside: {error})",
                    entry.path().display()
                )),
            }
        }
    }
    let left = if moved.is_empty() {
        "it left no temporary output".to_owned()
    } else {
        format!(
            "the temporary output left (never a copy): {}",
            moved.join(", ")
        )
    };
    for open in journal.open_intents()? {
        if open.action_name != ACTION_NAME || open.target != backup {
            continue;
        }
        let detail = format!(
            "interrupted: its process stopped after {} of its {} steps without an outcome, and made no copy; {left}",
            open.steps_done.len(),
            open.plan.len()
        );
        journal.record_outcome(open.id, wall_clock(), false, &detail)?;
        said.push_str(&format!(
            "  intent #{} ({}, by {}) closed: {detail}\n",
            open.id, open.action_text, open.actor
        ));
    }
    if said.is_empty() && !moved.is_empty() {
        said.push_str(&format!(
            "  an earlier run of `{backup}` stopped midway: {left}\n"
        ));
    }
    Ok(said)
}
