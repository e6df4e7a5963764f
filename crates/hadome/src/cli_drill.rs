//! `hadome drill`'s arguments and help (kept apart so `cli.rs` stays one screenful of commands).

use std::path::PathBuf;

use clap::Args;

use crate::cli::Json;

/// `hadome drill --help`.
pub(crate) const DRILL_ABOUT: &str = "Rehearse an incident on a lab of real servers, narrated step by step, each step checked.

`hadome drill list` names the drills; `hadome drill NAME --dir D` brings up the drill's lab in D (a new or empty directory), replays the incident through hadome's own commands as a person would type them, checks what each must show, and tears everything down by PID, also on failure and Ctrl-C. The lab's journal is kept beside D, as D.drill-journal.sqlite: `hadome timeline --journal D.drill-journal.sqlite` tells the incident as hadome saw it.

Exit 0 only when every step behaved as expected, 1 when one did not (the drill stops there), 2 on a usage error, 130 when interrupted.";

/// Examples after `hadome drill --help`.
pub(crate) const DRILL_EXAMPLES: &str = "Examples:
  hadome drill list
  hadome drill misskey --dir /tmp/drill-a
  hadome drill s512 --dir /tmp/drill-c --json";

/// `hadome drill NAME --dir D`.
#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// `list`, or the drill to run.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// The lab directory for the drill (new or empty); not needed for `list`.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) json: Json,
}
