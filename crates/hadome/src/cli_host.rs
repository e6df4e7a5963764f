//! The command line of hosts (issue 12): `hadome host-facts` and `hadome systemd …`, defined
//! here so that `cli.rs` stays within the binary's file size; `cli.rs` names them.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `hadome host-facts --help`.
pub(crate) const HOST_FACTS_ABOUT: &str = "\
Print this host's facts as versioned JSON (`{\"version\": 1, \"host_facts\": {…}}`): what a \
`[[host]]`'s facts_command runs on the host (`ssh HOST hadome host-facts`), and what \
`reboot-uptime`, `systemd-reboot-loop` and `destroy-coverage` judge.

It reads, and changes nothing:
  - this boot's id (/proc/sys/kernel/random/boot_id) and start (when PID 1 started: in a container, \
the container's boot), and the uptime;
  - every boot journald lists (`journalctl --list-boots`), or null with the reason under \
`gaps.boots` when the journal is not persistent (no /var/log/journal) or journalctl is missing;
  - systemd's timers and the services that matter (those a timer starts, those that reboot, those \
with Restart=), read as systemd reads them: search path precedence, masks, drop-ins, resets;
  - failed units and restart counts, when systemd runs here;
  - each --data-path: bytes and files under it, its newest change, its filesystem.

Anything it could not read is said under `gaps`, never silently empty. Times are RFC 3339 UTC and \
milliseconds since the epoch. Exit 0 with the facts, 2 on a usage error, 5 when the boot itself \
cannot be read (the proc directory).";

/// `hadome host-facts --help`'s examples.
pub(crate) const HOST_FACTS_EXAMPLES: &str = "\
Examples:
  hadome host-facts --data-path /srv/uploads
  hadome host-facts --data-path /srv/uploads --text
  # a container's root from outside (PID: its init, as this machine numbers it):
  hadome host-facts --root /var/lib/lab/s512/root --proc /proc/PID/root/proc --text";

/// `hadome host-facts`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct HostFactsArgs {
    /// A path whose data lives only on this host (uploaded files, a mail spool); repeat for
    /// several. Its size, file count, newest change and filesystem are read (links under it are
    /// not followed).
    #[arg(
        long = "data-path",
        value_name = "PATH",
        env = "HADOME_DATA_PATHS",
        value_delimiter = ','
    )]
    pub(crate) data_paths: Vec<PathBuf>,
    /// Read the units, journal and data paths of another root filesystem (a container's, or a
    /// mounted disk) instead of this machine's. Needs --proc.
    #[arg(
        long,
        value_name = "DIR",
        env = "HADOME_HOST_ROOT",
        default_value = "/"
    )]
    pub(crate) root: PathBuf,
    /// The proc directory of the boot to report: /proc on the host itself; for a running
    /// container read from outside, its init's /proc/PID/root/proc. Default: /proc when --root
    /// is /, and required otherwise (this machine's boot is not the container's).
    #[arg(long = "proc", value_name = "DIR", env = "HADOME_HOST_PROC")]
    pub(crate) proc_dir: Option<PathBuf>,
    /// Print a summary for people instead of JSON.
    #[arg(long)]
    pub(crate) text: bool,
}

/// `hadome systemd …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SystemdCommand {
    /// Print a systemd drop-in that puts hadome in front of a unit.
    #[command(subcommand)]
    DropIn(DropInCommand),
}

/// `hadome systemd drop-in …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DropInCommand {
    /// Print the drop-in that makes systemd ask hadome before a reboot service runs.
    ///
    /// The drop-in adds `ExecCondition=HADOME ask reboot HOST --config FILE` to the unit.
    /// systemd runs the unit only when that condition exits 0 (hadome allows the reboot); on exit
    /// 1 to 254 it skips the unit without failing it: a deny (1), needs-human (3) or a
    /// configuration error (2) skips the reboot, and the unit's journal holds hadome's reason
    /// (`journalctl -u UNIT`). Exit 255 would fail the unit; hadome never exits 255. The guard
    /// works on the host alone: `ask` reads the estate file and its journal there, no daemon
    /// needed. Install it where its first line says, then `systemctl daemon-reload`. Nothing is
    /// written by this command. Exit 0 printed, 2 a unit that is not a service, or a name or
    /// path that cannot go in a unit file.
    #[command(
        after_help = "Examples:\n  hadome systemd drop-in reboot-guard --unit daily_reboot.service > /etc/systemd/system/daily_reboot.service.d/hadome-reboot-guard.conf\n  systemctl daemon-reload\n  systemctl cat daily_reboot.service"
    )]
    RebootGuard {
        /// The service that reboots (`daily_reboot.service`); for a timer, name the service it
        /// starts (its Unit=, by default the timer's name with .service).
        #[arg(long, value_name = "UNIT", env = "HADOME_GUARD_UNIT")]
        unit: String,
        /// The host's name in the estate (`[[host]] name`). Default: this machine's hostname.
        #[arg(long, value_name = "NAME", env = "HADOME_GUARD_HOST")]
        host: Option<String>,
        /// The estate file on the host, as the condition will name it.
        #[arg(
            long,
            value_name = "FILE",
            env = "HADOME_GUARD_CONFIG",
            default_value = "/etc/hadome/estate.toml"
        )]
        config: PathBuf,
        /// The hadome binary on the host, as the condition will run it.
        #[arg(
            long,
            value_name = "PATH",
            env = "HADOME_GUARD_HADOME",
            default_value = "/usr/local/bin/hadome"
        )]
        hadome: PathBuf,
        /// Write the drop-in into this root filesystem (a host's disk mounted for rescue, a lab
        /// host's root) instead of printing it: ROOT/etc/systemd/system/UNIT.d/; systemd reads it
        /// at the next boot. An older, different drop-in there is moved aside, never lost.
        #[arg(long, value_name = "ROOT")]
        root: Option<PathBuf>,
    },
}
