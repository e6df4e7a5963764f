//! The command line, defined once: clap derives the parser and every `--help` from these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// hadome (歯止め, "a brake"): a safety interlock and guarded auto-remediation supervisor for
/// self-hosted PostgreSQL estates.
///
/// Exit codes: 0 ok (`ask`: allow or allow-after; `run`: done); 1 failure (`check`: something
/// critical; `ask`, `run`: deny; `run`: a step failed; `lab verify`: acknowledged commits
/// missing; `init`: a grant missing or a cluster unchecked); 2 usage or configuration error, nothing changed; 3 `ask`, `run`: needs a human;
/// 4 busy: another actor holds the target, nothing changed; 5 cannot proceed: a pre-flight or
/// prerequisite failed, nothing changed; 70 internal failure; 130 interrupted by a signal
/// (docs/exit-codes.md).
#[derive(Debug, Parser)]
#[command(name = "hadome", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Observe the estate once and report what is wrong, worst first.
    ///
    /// Exit 0 when nothing is critical, 1 when something is (a stalled standby, an unreachable
    /// instance, diverged timelines), 2 on a usage or configuration error.
    #[command(after_help = "Example:\n  hadome check --config /tmp/lab/estate.toml")]
    Check {
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// A deploy's gate: probe ROUTEs until each reaches its service, or fail.
    ///
    /// Each probe follows the route's redirects itself, one request per hop, at most the route's
    /// hop_limit requests (hadome never becomes a loop's hammer), bounded by the probe timeout. A
    /// route that redirects in a cycle or lands on another declared service fails the gate at
    /// once, with the chain and the cycle named (rule redirect-loop); one that is not there yet (a
    /// 502 while the app starts, a refused connection) is probed again every 0.5 s until
    /// --within runs out. Run it right after a deploy's reload, before users meet the route.
    ///
    /// Exit 0 when every route arrived, 1 when one did not (a loop, another service, the time
    /// out), 2 on a usage or configuration error (an unknown route names the closest one).
    #[command(
        after_help = "Examples:\n  hadome gate app-1 --config /etc/hadome/estate.toml\n  hadome gate app-1 console --within 60 --json --config estate.toml\n\nIn a deploy script:\n  hadome ask reload web --config estate.toml   # nginx -t and the lint, nothing loaded
  hadome run reload web --config estate.toml && hadome gate app-1 --within 30 --config estate.toml || rollback"
    )]
    Gate {
        /// The routes (`[[route]]` names) that must arrive.
        #[arg(value_name = "ROUTE", required = true)]
        routes: Vec<String>,
        /// How long to wait for every route to arrive, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
        within: f64,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Observe the estate once and show each cluster member: role, timeline, position, lag, streaming.
    Status {
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Ask the interlocks whether an action is safe, before a bot or a person does it.
    ///
    /// Prints the verdict, every finding with its rule id and numbers, what hadome would do first,
    /// and a safe alternative where there is one. Exit 0 allow or allow-after, 1 deny,
    /// 3 needs-human, 2 usage or configuration error, 5 the daemon's API cannot be reached
    /// (`--api`). Nothing is executed.
    ///
    /// With `--api URL` (or `HADOME_API`) the running daemon answers (`POST /v1/ask`), from its
    /// latest facts when they are younger than one probe interval: no probe, no journal opened
    /// here, a few milliseconds for a bot's shell step.
    #[command(
        after_help = "Examples:\n  hadome ask rebuild db-1 --from db-3 --config estate.toml\n  hadome ask promote db-2 --config estate.toml --json\n  hadome ask reboot s512 --config estate.toml\n  hadome ask delete-data s512:/srv/uploads --config estate.toml\n  hadome ask rebuild db-3 --from db-1 --api http://127.0.0.1:8421 --json"
    )]
    Ask {
        /// The action.
        #[arg(value_enum)]
        action: ActionName,
        /// The instance acted on; the host for `reboot`, `image` and `delete-host`; HOST:/PATH
        /// for `delete-data` of a path on a host.
        #[arg(value_name = "TARGET")]
        target: String,
        /// For `rebuild`: the instance whose data replaces the target's; for `restore-backup`:
        /// the backup.
        #[arg(long, value_name = "SOURCE")]
        from: Option<String>,
        /// For `image`: taking the image does not reboot the host (by default an image is judged
        /// as a reboot, as cloud consoles take one).
        #[arg(long, env = "HADOME_NO_REBOOT")]
        no_reboot: bool,
        /// Ask the daemon serving its API here (`[api] listen`), instead of probing from this
        /// process; `--config` is then not needed.
        #[arg(long, env = "HADOME_API", value_name = "URL")]
        api: Option<String>,
        /// The estate file (TOML); not needed with `--api`.
        #[arg(
            long,
            env = "HADOME_CONFIG",
            value_name = "FILE",
            required_unless_present = "api"
        )]
        config: Option<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Wait or replace? The runbook's decision point for a quorum member that is down.
    ///
    /// A member that is down often comes back by itself (incident D: the broken member would
    /// have; the hurry to replace it, with an image that rebooted a healthy member, lost the
    /// quorum). `advise` weighs the facts: how long it has been down (the journal's last healthy
    /// time, which survives a restart of hadome), whether its host answers (its `[[host]]`),
    /// whether its data directory is intact (its `data_dir`, listed in the host's `data_paths`),
    /// how long it took to come back before (the journal), and whether replacing it would itself
    /// cross the quorum line while the fresh member catches up as a learner.
    ///
    /// The decision: `wait` (recently down: it likely comes back; ask again later), `replace`
    /// (down longer than twice its longest comeback, at least 30 min, or its data is gone, and
    /// replacing keeps a healthy majority: `hadome ask replace-member MEMBER`, then `run`),
    /// `needs-human` (never seen healthy, or replacing would lose the quorum), or `healthy`.
    /// Exit 0 wait or healthy, 1 replace, 3 needs-human, 2 usage or configuration error.
    /// Nothing is executed.
    #[command(
        after_help = "Examples:\n  hadome advise etcd-3 --config estate.toml\n  hadome advise etcd-3 --config estate.toml --json\n  hadome ask replace-member etcd-3 --config estate.toml"
    )]
    Advise {
        /// The etcd member (`[[etcd]]` name).
        #[arg(value_name = "MEMBER")]
        member: String,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Do an action, guarded: the same assessment as `ask`, then, only if it allows, the plan.
    ///
    /// The intent is journaled before anything is done, each step as it is done, the outcome
    /// after. Destroying steps never destroy: a data directory is moved aside, not deleted. Uses
    /// the instances' start_command, stop_command and rebuild_command, and a backup's
    /// restore_command, from the estate file. While it acts it holds the target's cluster: a
    /// running daemon takes no action there until the outcome is journaled, and a second `run`,
    /// or one that would start in the middle of the daemon's own action, is refused. Exit
    /// 0 done, 1 refused (deny) or a step failed, 3 needs a human, 2 usage or configuration error
    /// (a held cluster included).
    #[command(
        after_help = "Examples:\n  hadome run rebuild db-3 --from db-1 --config estate.toml --dry-run\n  hadome run stop db-2 --config estate.toml --override quorum --reason \"disk replacement, ticket 812\""
    )]
    Run {
        /// The action.
        #[arg(value_enum)]
        action: ActionName,
        /// The instance acted on; the host for `reboot`, `image` and `delete-host`.
        #[arg(value_name = "TARGET")]
        target: String,
        /// For `rebuild`: the instance whose data replaces the target's.
        #[arg(long, value_name = "SOURCE")]
        from: Option<String>,
        /// For `image`: taking the image does not reboot the host.
        #[arg(long, env = "HADOME_NO_REBOOT")]
        no_reboot: bool,
        #[command(flatten)]
        flags: RunFlags,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Acknowledge a paused instance or cluster, so that automation resumes on it.
    ///
    /// Automation has budgets (rule `budget`): when its actions on a target did not restore
    /// health, or it spent its budget (so many restarts, rebuilds or failovers in a window), it
    /// pauses on that target, escalates, and does nothing more there until a person has looked.
    /// `ack` is that person saying so: it journals who and why, clears the target's pauses, and
    /// restarts the target's budget count from now. An ack with nothing paused is journaled too,
    /// and restarts the count. No server is contacted. Exit 0 acknowledged, 2 usage or
    /// configuration error (a target the estate does not name).
    #[command(
        after_help = "Examples:\n  hadome ack db-3 --config estate.toml --note \"disk replaced, ticket 812\"\n  hadome ack misskey --config estate.toml --by alice --json"
    )]
    Ack {
        /// The instance or cluster, as the estate file names it.
        #[arg(value_name = "TARGET")]
        target: String,
        /// Who acknowledges (journaled). Default: $SUDO_USER, else $USER.
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
        /// What was done, or why automation may resume (journaled).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Supervise the estate: detect a failed primary, fail over safely, repair, escalate.
    ///
    /// Every `[probe] interval_seconds` the daemon probes each instance (a new connection, and an
    /// open session it keeps), writes a heartbeat into the primary's WAL, journals what changed,
    /// and acts on clusters with `failover = "auto"` whose lease it holds (one daemon acts per
    /// cluster: rule `single-actor`). A primary counts as failed only when hadome has not reached
    /// it for `detection_seconds` and its standbys have heard nothing from it either, or when its
    /// postmaster hangs while hadome's open session still answers (`primary-agreement`); an
    /// overloaded primary is never failed over. A failover fences the old primary
    /// (`fence_command`), promotes the most advanced standby the interlocks allow, and repoints
    /// the others (`follow_command`); with no eligible standby it escalates and waits. Restarts,
    /// rebuilds and failovers have budgets; past them, or when an action did not help, automation
    /// of the target pauses until `hadome ack`. Every action is an intent in the journal before
    /// it starts and an outcome after; a daemon killed mid-failover finishes it when it starts
    /// again. Escalations go to the journal and to `[notify] webhook_url` (Slack/Discord JSON).
    /// Backups with `every_seconds` or `restore_test_every_seconds` are made and restore-tested
    /// on that schedule, each as a child `hadome backup run|restore-test` the passes never wait
    /// on (`--once` starts none). It runs in the foreground and stops on SIGTERM or SIGINT,
    /// ending its backup jobs (SIGTERM, 30 s) and releasing its leases. It logs one line per
    /// event on stderr, filtered by `HADOME_LOG` (`RUST_LOG`'s syntax, default `info`); under
    /// systemd, journald reads each line's priority from its `<N>` prefix.
    #[command(
        after_help = "Examples:\n  hadome daemon --config /etc/hadome/estate.toml\n  HADOME_LOG=debug hadome daemon --config /etc/hadome/estate.toml\n  hadome lab up --dir /tmp/lab --topology trio && hadome daemon --config /tmp/lab/estate.toml"
    )]
    Daemon {
        #[command(flatten)]
        config: ConfigFile,
        /// Run one pass and exit (for scripts and tests); it starts no backup job.
        #[arg(long)]
        once: bool,
    },
    /// Backups that are real: make, verify and restore-test them, each judged by its history.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Real PostgreSQL estates on this machine, with the incidents' faults: for tests, drills,
    /// demos and benchmarks.
    #[command(subcommand)]
    Lab(crate::cli_lab::LabCommand),
    /// Rehearse an incident on a lab of real servers, narrated step by step, each step checked.
    #[command(long_about = crate::cli_drill::DRILL_ABOUT, after_help = crate::cli_drill::DRILL_EXAMPLES)]
    Drill(crate::cli_drill::DrillArgs),
    /// Turn the journal into an incident timeline: what hadome saw and did, in time order,
    /// condensed, as markdown for a postmortem or as JSON.
    #[command(long_about = crate::cli_timeline::TIMELINE_ABOUT, after_help = crate::cli_timeline::TIMELINE_EXAMPLES)]
    Timeline(crate::cli_timeline::TimelineArgs),
    /// Write a starting estate file from this machine's PostgreSQL clusters (pg_lsclusters), and
    /// check hadome's role's privileges on each.
    #[command(long_about = crate::cli_init::INIT_ABOUT, after_help = crate::cli_init::INIT_EXAMPLES)]
    Init(crate::cli_init::InitArgs),
    /// Print this host's facts as versioned JSON: boots, systemd timers and services, data paths.
    ///
    /// What a `[[host]]`'s facts_command runs on the host (`ssh HOST hadome host-facts`).
    #[command(long_about = crate::cli_host::HOST_FACTS_ABOUT, after_help = crate::cli_host::HOST_FACTS_EXAMPLES)]
    HostFacts(crate::cli_host::HostFactsArgs),
    /// Make systemd obey hadome: print drop-ins for units (`hadome systemd drop-in reboot-guard`).
    #[command(subcommand)]
    Systemd(crate::cli_host::SystemdCommand),
}

/// `hadome run`'s flags beyond `ask`'s.
#[derive(Debug, Args)]
pub(crate) struct RunFlags {
    /// Print the assessment and the plan; do nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Override a refusing rule (a deny or needs-human finding's rule id); repeat for several.
    /// Needs --reason; the override, who and why, is journaled.
    #[arg(long = "override", value_name = "RULE")]
    pub(crate) overrides: Vec<String>,
    /// Why the interlock is overridden (journaled with the override).
    #[arg(long, value_name = "TEXT")]
    pub(crate) reason: Option<String>,
}

/// The estate's configuration.
#[derive(Debug, Args)]
pub(crate) struct ConfigFile {
    /// The estate file (TOML): instances, clusters, journal. `hadome lab up` writes one as
    /// DIR/estate.toml; `examples/estate.toml` explains every key.
    #[arg(long, env = "HADOME_CONFIG", value_name = "FILE")]
    pub(crate) config: PathBuf,
}

/// The actions `ask` knows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ActionName {
    /// Promote a standby to primary.
    Promote,
    /// Overwrite TARGET's data with a copy of --from SOURCE.
    Rebuild,
    /// Restart an instance.
    Restart,
    /// Stop an instance.
    Stop,
    /// Retire an instance's data directory: stop it, then move the directory aside (hadome never
    /// deletes; removing it is a person's decision). With HOST:/PATH, delete a path on a host
    /// (`ask` judges it; `run` does not carry it out yet).
    DeleteData,
    /// Replace TARGET's data with the newest copy of --from BACKUP: stop it, move its data
    /// directory aside, the backup's restore_command, start it, compare its row counts.
    RestoreBackup,
    /// Reboot a host (its reboot_command).
    Reboot,
    /// Take an image of a host and verify it (its image_command, verify_image_command); judged
    /// as a reboot unless --no-reboot.
    Image,
    /// Delete a host: take a final image, verify it, then its delete_command.
    DeleteHost,
    /// Replace a quorum member that is down (`[[etcd]]`): stop it if it runs, remove it from its
    /// cluster, move its data directory aside, add a fresh member as a learner, start it, promote
    /// it once caught up. Judged by `quorum`; denied for a healthy member. `hadome advise MEMBER`
    /// says whether to wait instead.
    ReplaceMember,
    /// Remove a quorum member for good (`[[etcd]]`): stop it if it runs, remove it from its
    /// cluster, move its data directory aside. Judged by `quorum` on the voters left (3 voters
    /// less one: 2, quorum 2, both must be healthy).
    RemoveMember,
    /// Reload an nginx instance (`[[nginx]]`) with the configuration on its disk: judged before it
    /// is loaded by its test_command (`nginx -t`) and the lint of its whole configuration as
    /// `nginx -T` dumps it (nginx-static-resolve, port-collision, server-name-fallthrough,
    /// upstream-not-running); `run` tests, then reloads. For a deploy script: `ask` exits 1 on a
    /// configuration that would break a route; after the reload, `hadome gate` probes the routes.
    Reload,
}

/// `hadome backup …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Make a copy: run the backup's command, verify its output, rename it into place.
    ///
    /// The command writes `{output}`, a temporary path in the backup's directory. hadome checks
    /// its exit status, then reads the output whole: it must not be empty, must reach
    /// `min_size_bytes`, and must have a sound structure (a pg_dump archive's header, table of
    /// contents and every data block; a base backup through pg_verifybackup). Only then is it
    /// renamed into place, with a UTC stamp where the path's `*` is, and the journal records its
    /// size, SHA-256, how long it took, the source's position and, when the command uses
    /// `{snapshot}`, every table's row count in the dump's own snapshot. A failed or empty output
    /// is never renamed into place: it is moved aside (`.hadome-failed-…`) and escalated. One copy
    /// of a backup is made at a time: a second `backup run` of it is refused. Exit 0 made, 1
    /// failed, 2 usage or configuration error, or a copy of it already being made.
    #[command(after_help = "Example:
  hadome backup run nightly --config estate.toml")]
    Run {
        /// The backup, as the estate's `[[backup]]` names it.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Read the newest copy whole and judge it (rules backup-trust, snapshot-independence).
    ///
    /// Exists, age, size floor, shrink against the copy before it, SHA-256 against what hadome
    /// recorded when it made it, structure, and the last restore test. Exit 0 trusted, 1 not.
    #[command(after_help = "Example:
  hadome backup verify nightly --config estate.toml --json")]
    Verify {
        /// The backup, as the estate's `[[backup]]` names it.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
    /// Restore the newest copy into a scratch PostgreSQL and compare it with the record.
    ///
    /// The scratch server is started like the lab's (as `postgres`, on a Unix socket and a
    /// loopback port) in a temporary directory and removed afterwards. Its tables and their row
    /// counts are compared with what hadome recorded when it made the copy; pass or fail is
    /// journaled with the numbers (`backup-trust` flags a backup whose last pass is older than
    /// `restore_test_max_age_seconds`). A progress bar shows on a terminal. Exit 0 passed,
    /// 1 failed.
    #[command(after_help = "Example:
  hadome backup restore-test nightly --config estate.toml")]
    RestoreTest {
        /// The backup, as the estate's `[[backup]]` names it.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        config: ConfigFile,
        #[command(flatten)]
        json: Json,
    },
}

/// Output format.
#[derive(Debug, Args)]
pub(crate) struct Json {
    /// Print JSON (with a `version` field) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
