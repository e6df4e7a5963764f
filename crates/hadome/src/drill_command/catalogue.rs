//! The drills: each incident of `../shared/incidents/README.md` that hadome guards, as the steps a
//! person would take on the lab, with what each must show. `{dir}` is the drill's lab directory,
//! `{config}` its estate file.

use super::{Drill, Shows, Step};

/// Every drill, in incident order.
pub(crate) const DRILLS: &[Drill] = &[
    Drill {
        name: "misskey",
        incident: "A: a bot overwrote the freshest copies with a months-old replica",
        summary: "A stalled copy and an unapplied setting are found while every process is up; the bot's overwrite of the fresh primary from the stale copy is denied; the safe direction is done, guarded, until the estate checks clean.",
        steps: misskey,
    },
    Drill {
        name: "mackerel",
        incident: "B: a failover promoted a standby that had silently stopped replicating",
        summary: "The daemon supervises a trio; the primary freezes; the daemon waits until the standbys heard nothing either, fences the old primary, promotes the synchronous standby that holds every commit, and the old primary cannot come back as a second primary.",
        steps: mackerel,
    },
];

fn misskey() -> Vec<Step> {
    vec![
        Step::Say("Incident A's estate: db-1 primary, db-2 its synchronous standby, db-3 an asynchronous copy, db-4 cascaded from db-3."),
        Step::Run {
            args: &["lab", "up", "misskey", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::All(&["db-4"]),
        },
        Step::Say("Two slips, as in 2021: a configuration change on db-4 never applied, and db-3 left behind until the WAL it needs is recycled."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "config-change", "db-4", "work_mem=64MB"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stall", "db-3"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("hadome check sees both at once, though every process is up (exit 1: something is critical)."),
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["replication-stalled", "config-applied"]),
        },
        Step::Say("Months later a DDoS freezes db-1 and db-2. The bot wants to 'restore' them from db-3: denied."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-2"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["ask", "rebuild", "db-1", "--from", "db-3", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["overwrite-older"]),
        },
        Step::Say("The freeze passes. The safe direction is allowed: rebuild the stale copy from the fresh one, its data kept aside first."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "resume", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "resume", "db-2"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["ask", "rebuild", "db-3", "--from", "db-1", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["preserve"]),
        },
        Step::Run {
            args: &["run", "rebuild", "db-3", "--from", "db-1", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["moved to"]),
        },
        Step::Say("Rebuilding db-3 strands its cascade, db-4: hadome says so, and the fix is the same safe direction."),
        Step::Run {
            args: &["run", "rebuild", "db-4", "--from", "db-3", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["moved to"]),
        },
        Step::Say("The estate checks clean."),
        Step::Await {
            args: &["check", "--config", "{config}"],
            shows: Shows::All(&["0 critical, 0 warnings"]),
            within: 30,
        },
    ]
}

fn mackerel() -> Vec<Step> {
    vec![
        Step::Say("Incident B, guarded: a trio (db-1 primary, db-2 synchronous, db-3 asynchronous) under hadome daemon."),
        Step::Run {
            args: &["lab", "up", "trio", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::All(&["db-3"]),
        },
        Step::StartDaemon,
        Step::AwaitDaemonLog {
            shows: Shows::All(&["healthy: `db-1` is the primary"]),
            within: 30,
        },
        Step::Say("db-1 freezes (every process stopped), as the Mackerel primary did. Its standbys keep a 'streaming' connection open."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("The daemon waits until db-1's standbys heard nothing from it either, fences db-1, and promotes db-2, which holds every acknowledged commit."),
        Step::Await {
            args: &["status", "--config", "{config}"],
            shows: Shows::Line(&["db-2", "primary"]),
            within: 30,
        },
        Step::AwaitDaemonLog {
            shows: Shows::All(&["fence", "db-2"]),
            within: 10,
        },
        Step::Say("The fence left db-1 unable to come back as a second primary: started again, it is read-only."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "start", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["status", "--config", "{config}"],
            shows: Shows::Line(&["db-1", "standby"]),
            within: 30,
        },
        Step::StopDaemon,
    ]
}
