//! Hosts: the machines targets are placed on (incident C, `../shared/incidents/README.md`).
//!
//! A host is declared with `[[host]]` in the estate: how hadome learns its facts (on this machine,
//! or through an argv command such as `ssh HOST hadome host-facts`), the data that lives only
//! there, its reboot guard's bounds, and the argv commands that reboot, image and delete it.
//! Its facts are what `hadome host-facts` prints on the host itself: boots, systemd's timers
//! and the services they start, failed units, and each data path's size and newest change.
//! The journal remembers every boot id it saw and every final image it took ([`HostHistory`]),
//! so a reboot count survives a host whose journal is volatile.

use std::path::PathBuf;

use crate::backup::Storage;
use crate::fact::Timestamp;

/// One host of the estate (`[[host]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Its name in the estate: what instances' `host` and backups' `covers` name.
    pub name: String,
    /// How hadome reads its facts: an argv command that prints `hadome host-facts`'s JSON
    /// (`["ssh", "s512", "hadome", "host-facts"]`); `None`: hadome runs on this host and reads
    /// them itself.
    pub facts_command: Option<Vec<String>>,
    /// Paths whose data lives only on this host (uploaded files, a mail spool): what
    /// `destroy-coverage` asks a backup or a final image to cover before the host is deleted.
    pub data_paths: Vec<PathBuf>,
    /// `reboot-uptime`: a reboot is denied while the host has been up less than this.
    pub min_uptime_seconds: f64,
    /// `reboot-uptime`: a reboot is denied once this many boots fall within `boot_window_seconds`.
    pub max_boots: u32,
    /// `reboot-uptime`: the window the boots are counted in.
    pub boot_window_seconds: f64,
    /// Facts read longer ago than this are stale: the rules that need them treat them as unknown
    /// (default 30 s, as a cluster's).
    pub freshness_seconds: f64,
    /// How hadome acts on the host.
    pub commands: HostCommands,
    /// How hadome reaches it over SSH (`ssh = { … }`); `None`: hadome runs on this host. With
    /// it, the facts command, the commands of the instances placed on it and their built-in
    /// actions run there.
    pub ssh: Option<crate::remote::SshAccess>,
}

/// Argv commands (never shell strings) that act on a host; `None` when not configured, and then
/// the action is refused with the key to set. `{host}` is replaced by the host's name and
/// `{image}` by the name hadome gives a final image (`s512-final-20261203T120000Z`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCommands {
    /// Reboots the host (`["ssh", "{host}", "systemctl", "reboot"]`).
    pub reboot: Option<Vec<String>>,
    /// Takes an image of the host named `{image}`; it must not reboot the host.
    pub image: Option<Vec<String>>,
    /// Exits 0 only when image `{image}` is complete and readable.
    pub verify_image: Option<Vec<String>>,
    /// Deletes the host (`["cloud", "server", "delete", "{host}"]`).
    pub delete: Option<Vec<String>>,
}

/// What one reading of a host's facts returned.
#[derive(Debug, Clone, PartialEq)]
pub struct HostProbe {
    /// When the reading started.
    pub observed_at: Timestamp,
    /// What it found.
    pub outcome: HostOutcome,
}

/// A host's facts, or why they could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum HostOutcome {
    /// The facts, as `hadome host-facts` printed them.
    Answered(Box<HostFacts>),
    /// The facts command failed, timed out or printed something hadome cannot read.
    Unreachable {
        /// What went wrong.
        error: String,
    },
}

/// The name hadome gives a final image of `host` taken at `at` (`{image}`):
/// `s512-final-20261203T120000Z`, so names sort in time order; when an image of that name was
/// already taken (two within one second), `-2`, `-3` … follow, so a name is never reused.
pub fn final_image_name(host: &str, at: Timestamp, taken: &[ImageRecord]) -> String {
    let base = format!("{host}-final-{}", at.utc_stamp());
    let free = |name: &String| taken.iter().all(|image| &image.name != name);
    std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(free)
        .unwrap_or(base)
}

/// What a host said of itself (`hadome host-facts`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    /// The current boot's id (`/proc/sys/kernel/random/boot_id`, as journald names boots).
    pub boot_id: String,
    /// When the current boot started (its init's start; in a container, the container's).
    pub booted_at: Timestamp,
    /// Every boot the host's own journal lists, oldest first; `None` when it keeps none (a
    /// volatile journal, or no journald).
    pub boots: Option<Vec<BootRecord>>,
    /// systemd's timers, read as systemd reads them (drop-ins included).
    pub timers: Vec<TimerUnit>,
    /// systemd's services that a timer starts, that reboot the host, or that restart forever.
    pub services: Vec<ServiceUnit>,
    /// Units in the `failed` state.
    pub failed_units: Vec<String>,
    /// Each of the host's data paths (the estate's `data_paths`, or the ones asked for).
    pub data_paths: Vec<DataPathFact>,
}

/// One boot in a host's journal (`journalctl --list-boots`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootRecord {
    /// Its boot id.
    pub boot_id: String,
    /// Its first journal entry.
    pub first_entry: Timestamp,
    /// Its last journal entry.
    pub last_entry: Timestamp,
}

/// One systemd timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerUnit {
    /// The unit's name (`reboot-daily.timer`).
    pub name: String,
    /// The unit it starts (`Unit=`, by default the service of the same name).
    pub unit: String,
    /// `Persistent=`: a missed elapse is caught up at the next boot.
    pub persistent: bool,
    /// `OnCalendar=` expressions.
    pub on_calendar: Vec<String>,
    /// Monotonic triggers (`OnBootSec=5min`, `OnUnitActiveSec=1d` …), as `Key=value`.
    pub monotonic: Vec<String>,
    /// The units whose `.wants/` or `.requires/` directory links to it (`timers.target`: the
    /// timer is enabled and starts at boot); empty: nothing starts it at boot (it may still have
    /// been started by hand).
    pub wanted_by: Vec<String>,
    /// The files it was read from: the unit file, then its drop-ins in the order applied.
    pub sources: Vec<PathBuf>,
}

/// One systemd service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceUnit {
    /// The unit's name (`reboot-daily.service`).
    pub name: String,
    /// `ExecStart=` command lines, as written.
    pub exec_start: Vec<String>,
    /// `ExecStartPre=` command lines, as written.
    pub exec_start_pre: Vec<String>,
    /// `ExecCondition=` command lines, as written (the reboot guard is one).
    pub exec_condition: Vec<String>,
    /// `Restart=` (`no` when unset).
    pub restart: String,
    /// `StartLimitIntervalSec=` in seconds (`None`: systemd's default, 10 s); `Some(0.0)`
    /// disables the start limit.
    pub start_limit_interval_seconds: Option<f64>,
    /// `StartLimitBurst=` (`None`: systemd's default, 5).
    pub start_limit_burst: Option<u32>,
    /// `FailureAction=` (`none` when unset).
    pub failure_action: String,
    /// `SuccessAction=` (`none` when unset).
    pub success_action: String,
    /// `StartLimitAction=` (`none` when unset).
    pub start_limit_action: String,
    /// How many times systemd restarted it this boot (`NRestarts`), when systemd runs.
    pub restarts: Option<u32>,
    /// The files it was read from: the unit file, then its drop-ins in the order applied.
    pub sources: Vec<PathBuf>,
}

/// One data path of a host, as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPathFact {
    /// The path.
    pub path: PathBuf,
    /// What it holds, or why it could not be read.
    pub outcome: Result<DataPathState, String>,
}

/// What a data path holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPathState {
    /// Bytes in every file under it.
    pub size_bytes: u64,
    /// How many files.
    pub files: u64,
    /// The filesystem it lives on.
    pub storage: Storage,
    /// The newest modification time of anything under it (the path included); `None` when it
    /// is empty and its own time could not be read.
    pub newest_change: Option<Timestamp>,
}

/// What the journal remembers of a host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostHistory {
    /// Every boot hadome saw the host in, oldest first.
    pub boots_seen: Vec<SeenBoot>,
    /// The final images hadome took of it, oldest first.
    pub images: Vec<ImageRecord>,
}

/// A boot hadome saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenBoot {
    /// The boot id.
    pub boot_id: String,
    /// When that boot started, as the host said.
    pub booted_at: Timestamp,
    /// When hadome first saw it.
    pub first_seen: Timestamp,
}

/// A final image hadome took of a host (`hadome run image` or `run delete-host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image's name (`{image}`).
    pub name: String,
    /// When the image command started: everything changed before it is in the image.
    pub taken_at: Timestamp,
    /// Whether `verify_image` passed on it.
    pub verified: bool,
}

/// Whether a unit action (`FailureAction=`, `SuccessAction=`, `StartLimitAction=`) reboots:
/// `reboot`, `reboot-force`, `reboot-immediate`, `soft-reboot`, `kexec`.
pub fn action_reboots(action: &str) -> bool {
    action.starts_with("reboot") || action == "soft-reboot" || action == "kexec"
}

/// Whether a command line reboots the host: `reboot`, `systemctl [--force] reboot|kexec|soft-reboot`,
/// `systemctl start|isolate reboot.target`, `shutdown -r`/`--reboot`, `init 6`/`telinit 6`, also
/// inside `sh -c '…'`. systemd's prefixes (`-@:+!`) are stripped; a program is matched by its
/// name, in any directory. A word that merely mentions a reboot (`echo reboot`) does not count:
/// `check` must not cry wolf.
pub fn command_reboots(line: &str) -> bool {
    let words = command_words(line);
    let Some((first, arguments)) = words.split_first() else {
        return false;
    };
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    match program(first) {
        "systemctl" => {
            let verbs: Vec<&str> = arguments
                .iter()
                .copied()
                .filter(|word| !word.starts_with('-'))
                .collect();
            match verbs.as_slice() {
                ["reboot" | "kexec" | "soft-reboot", ..] => true,
                ["start" | "isolate", units @ ..] => units.iter().any(|unit| {
                    matches!(
                        *unit,
                        "reboot.target" | "kexec.target" | "soft-reboot.target"
                    )
                }),
                _ => false,
            }
        }
        "shutdown" => arguments.iter().any(|word| {
            *word == "--reboot"
                || (word.starts_with('-') && !word.starts_with("--") && word.contains('r'))
        }),
        "reboot" | "kexec" => !arguments.contains(&"--help"),
        "init" | "telinit" => arguments.first() == Some(&"6"),
        "sh" | "bash" | "dash" => match arguments.iter().position(|word| *word == "-c") {
            Some(at) => arguments.get(at + 1).is_some_and(|script| {
                script
                    .split([';', '&', '|', '\n'])
                    .any(|part| command_reboots(part.trim()))
            }),
            None => false,
        },
        _ => false,
    }
}

/// The words of a command line, without systemd's prefixes (`-`, `@`, `:`, `+`, `!`, `!!`)
/// and the quotes around a word.
pub fn command_words(line: &str) -> Vec<String> {
    let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for character in line.chars() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => quote = Some(character),
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (None, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A program's name, without its directory.
pub fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_image_name_is_never_reused() {
        let at = Timestamp(1_796_300_000_000);
        let image = |name: &str| ImageRecord {
            name: name.to_owned(),
            taken_at: at,
            verified: true,
        };
        assert_eq!(
            final_image_name("s512", at, &[]),
            "s512-final-20261203T121320Z"
        );
        let taken = [
            image("s512-final-20261203T121320Z"),
            image("s512-final-20261203T121320Z-2"),
        ];
        assert_eq!(
            final_image_name("s512", at, &taken),
            "s512-final-20261203T121320Z-3"
        );
    }
}
