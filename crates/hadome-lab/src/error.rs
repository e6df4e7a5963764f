//! The lab's error types: [`LabError`] for everything the lab does, and [`FaultWordsError`] for
//! a fault written on a command line that does not read as one (a usage error: nothing was done).
//!
//! Every variant carries what went wrong, where (node, file, line, key), and — through
//! [`LabError::hint`] — how to fix it, so the CLI can print a headline, the cause chain and a
//! `hint:` line without knowing the lab's internals.

use std::path::PathBuf;
use std::time::Duration;

use hadome_core::suggest::closest;

/// Everything that can go wrong while building, faulting or tearing down a lab estate.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file or directory operation failed.
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What was being done, as a verb phrase ("create directory").
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// PostgreSQL's server binaries were not found.
    #[error("PostgreSQL's `{binary}` was not found in `{}`", bindir.display())]
    PgBinariesMissing {
        /// The directory that was searched.
        bindir: PathBuf,
        /// The first missing program.
        binary: &'static str,
    },

    /// The `postgres` OS user does not exist, and hadome runs as root.
    #[error("running as root, but there is no `postgres` user to run PostgreSQL as")]
    NoPostgresUser,

    /// The user PostgreSQL runs as cannot reach the lab directory.
    #[error("the `{user}` user cannot reach `{}`: `{}` has mode {mode:o}", dir.display(), blocker.display())]
    Unreachable {
        /// The lab directory.
        dir: PathBuf,
        /// The ancestor that is not searchable.
        blocker: PathBuf,
        /// The user.
        user: String,
        /// The ancestor's permission bits.
        mode: u32,
    },

    /// A topology (built-in or file) is invalid.
    #[error("{origin}:{line}: {message}")]
    Topology {
        /// The file name, or `built-in NAME`.
        origin: String,
        /// 1-based line of the offending key (0 when the whole file is concerned).
        line: usize,
        /// What is wrong, naming the key.
        message: String,
        /// How to fix it.
        fix: String,
    },

    /// A topology name is neither a built-in nor a readable file.
    #[error("`{name}` is neither a built-in topology nor a topology file")]
    UnknownTopology {
        /// What the user gave.
        name: String,
        /// The closest built-in name, if any is close.
        suggestion: Option<String>,
    },

    /// `lab up` was pointed at a directory that already holds something.
    #[error("`{}` already exists and is not empty", dir.display())]
    DirNotEmpty {
        /// The directory.
        dir: PathBuf,
    },

    /// A command was pointed at a directory that holds no lab.
    #[error("`{}` holds no lab estate (no `lab.json`)", dir.display())]
    NotALab {
        /// The directory.
        dir: PathBuf,
    },

    /// The lab's state file could not be understood.
    #[error("the lab state `{}` is unreadable: {message}", path.display())]
    State {
        /// `DIR/lab.json`.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A node name that the estate does not have.
    #[error("this lab has no node `{name}`")]
    UnknownNode {
        /// The name given.
        name: String,
        /// The estate's node names.
        known: Vec<String>,
    },

    /// A program the lab runs (initdb, pg_ctl, pg_basebackup, the proxy) failed.
    #[error("{what} failed: `{program}` exited with {status}{}", tail(stderr))]
    Command {
        /// What the lab was doing ("initdb for `db-1`").
        what: String,
        /// The program.
        program: String,
        /// Its exit status, as text.
        status: String,
        /// The last lines it printed on stderr (or the log file it wrote).
        stderr: String,
    },

    /// A program the lab runs could not be started at all.
    #[error("could not start `{program}` for {what}")]
    Spawn {
        /// What the lab was doing.
        what: String,
        /// The program.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A poll ran out of time.
    #[error("timed out after {} waiting for `{node}`: {awaited} (last seen: {last_seen})", seconds(*waited))]
    Timeout {
        /// The node (or `proxy`).
        node: String,
        /// What was awaited, as a phrase.
        awaited: String,
        /// How long the poll waited.
        waited: Duration,
        /// The last observation, so the reader sees how far it got.
        last_seen: String,
    },

    /// A SQL statement the lab sent failed.
    #[error("`{node}`: {what}")]
    Sql {
        /// The node.
        node: String,
        /// What the lab was doing.
        what: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A fault cannot be applied in the estate's current state.
    #[error("cannot apply `{fault}` to `{node}`: {reason}")]
    FaultRejected {
        /// The fault's name.
        fault: String,
        /// The node.
        node: String,
        /// Why not.
        reason: String,
        /// What to do instead.
        fix: String,
    },

    /// The network namespace of an etcd member (or of a host running PostgreSQL) could not be made
    /// or found (`netns.rs`).
    #[error("the network namespace of `{member}`: {problem}")]
    Namespace {
        /// The member (or host).
        member: String,
        /// What went wrong.
        problem: String,
    },

    /// The lab's proxy did not do what it was asked.
    #[error("the lab proxy: {message}")]
    Proxy {
        /// What went wrong.
        message: String,
    },

    /// The lab could not stop every process it started.
    #[error("processes still alive after teardown: {pids:?}")]
    Survivors {
        /// Their PIDs.
        pids: Vec<i32>,
    },

    /// The lab's root filesystem (for a host) could not be built or used.
    #[error("the lab's root filesystem `{}`: {problem}", path.display())]
    Rootfs {
        /// The cache directory or tree concerned.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// No Debian bookworm mirror is configured on this machine.
    #[error("no `deb` source for Debian `bookworm` in /etc/apt/sources.list or /etc/apt/sources.list.d/")]
    NoMirror,

    /// A program a lab host needs is not installed.
    #[error("`{program}` is not installed: a lab host needs it")]
    HostToolMissing {
        /// The program.
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },

    /// The etcd server binary is not installed.
    #[error("`{}` is not installed: the lab's etcd members run it", path.display())]
    EtcdMissing {
        /// The path looked at.
        path: std::path::PathBuf,
    },

    /// The lab's TLS certificates (`lab up --tls`) could not be made.
    #[error("could not make the lab's {what}: {message}")]
    Certificate {
        /// Which certificate or key.
        what: &'static str,
        /// rcgen's error.
        message: String,
    },

    /// A lab host needs root (containers, namespaces, cgroups).
    #[error("a lab host needs root: {what}")]
    NotRoot {
        /// What could not be done.
        what: String,
    },

    /// A lab host is not in the state an operation needs.
    #[error("host `{host}`: {problem}")]
    Host {
        /// The host.
        host: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },

    /// The showcase lab's web pieces (namespace, DNS, nginx, services) did not do what was asked.
    #[error("showcase `{piece}`: {problem} (fix: {fix})")]
    Web {
        /// The piece: `namespace`, `dnsmasq`, `nginx`, a service's name.
        piece: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },

    /// An operation the lab does to the nodes it runs itself, asked of a node that runs as
    /// Debian's `postgresql@15-main` on a lab host (`debian3`).
    #[error("`{operation}` does not apply to `{node}`: it runs Debian's postgresql@15-main under the systemd of host `{host}`")]
    HostedNode {
        /// The operation (`fence`, `follow`, `rebuild`, `restore` …).
        operation: String,
        /// The node.
        node: String,
        /// The host it runs on.
        host: String,
    },

    /// An invariant of the lab itself was broken.
    #[error("internal error in hadome's lab (a bug: please report it): {0}")]
    Bug(String),
}

/// Why a fault's CLI name and arguments ([`Fault::from_words`](crate::Fault::from_words)) do not
/// make a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultWordsError {
    /// The fault takes other arguments.
    #[error("`{fault}` takes {takes}")]
    Arguments {
        /// The fault's name.
        fault: String,
        /// What it takes, with an example.
        takes: String,
    },

    /// `config-change`'s key is not a PostgreSQL setting name.
    #[error("`{key}` is not a PostgreSQL setting name (lowercase, like `work_mem`)")]
    NotASetting {
        /// The key given.
        key: String,
    },

    /// No fault has that name.
    #[error("no fault `{name}`; faults: {}", crate::FAULT_NAMES.join(", "))]
    Unknown {
        /// The name given.
        name: String,
    },
}

impl LabError {
    /// How to fix the error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            LabError::PgBinariesMissing { .. } => Some(
                "install PostgreSQL 15 with `apt-get install postgresql-15` (or run `scripts/setup.sh`), \
                 or point `HADOME_PG_BINDIR` at a directory holding initdb, pg_ctl, postgres and pg_basebackup"
                    .to_owned(),
            ),
            LabError::NoPostgresUser => Some(
                "install Debian's `postgresql-15` (it creates the user), or run hadome as an ordinary user"
                    .to_owned(),
            ),
            LabError::Unreachable { blocker, user, .. } => Some(format!(
                "PostgreSQL runs as `{user}` and must reach its data: `chmod o+x {}`, or choose a directory it can reach",
                blocker.display()
            )),
            LabError::Topology { fix, .. } => Some(fix.clone()),
            LabError::UnknownTopology { suggestion, .. } => Some(match suggestion {
                Some(name) => format!(
                    "did you mean `{name}`? built-ins: {}",
                    crate::topology::BUILT_IN_NAMES.join(", ")
                ),
                None => format!(
                    "use a built-in ({}) or the path of a topology TOML file",
                    crate::topology::BUILT_IN_NAMES.join(", ")
                ),
            }),
            LabError::DirNotEmpty { .. } => Some(
                "choose a new directory, or tear the old lab down with `hadome lab down --dir DIR`"
                    .to_owned(),
            ),
            LabError::NotALab { .. } => {
                Some("bring a lab up there first with `hadome lab up <topology> --dir DIR`".to_owned())
            }
            LabError::UnknownNode { name, known } => Some(match closest(name, known) {
                Some(close) => format!("did you mean `{close}`? nodes: {}", known.join(", ")),
                None => format!("nodes: {}", known.join(", ")),
            }),
            LabError::FaultRejected { fix, .. } => Some(fix.clone()),
            LabError::Namespace { .. } => Some(
                "the lab runs each etcd member (and each host running PostgreSQL) in a network namespace its proxy makes: it needs root and `ip` \
                 (Debian's iproute2); if the proxy is gone, tear the lab down and bring it up again"
                    .to_owned(),
            ),
            LabError::Timeout { node, .. } => Some(format!(
                "look at the node's log (`hadome lab status --dir DIR` names it) for why `{node}` did not get there"
            )),
            LabError::Rootfs { .. } => Some(format!(
                "it is a cache: point `{}` at another directory, or run `hadome lab up` again to rebuild it \
                 (a cache that fails verification is rebuilt)",
                crate::rootfs::ROOTFS_CACHE_ENV
            )),
            LabError::NoMirror => Some(
                "add a source such as `deb http://MIRROR/debian bookworm main` to /etc/apt/sources.list.d/ \
                 (the lab builds its root filesystem from the machine's own mirror)"
                    .to_owned(),
            ),
            LabError::HostToolMissing { package, .. } => Some(format!(
                "run `scripts/setup.sh`, or `apt-get install {package}`"
            )),
            LabError::EtcdMissing { .. } => Some(format!(
                "run `scripts/setup.sh`, or `apt-get install etcd-server etcd-client`, or point `{}` at an etcd 3.4 binary",
                crate::etcd::ETCD_BINARY_ENV
            )),
            LabError::Certificate { .. } => Some(
                "this is a bug in the lab or rcgen; bring the lab up without `--tls` meanwhile"
                    .to_owned(),
            ),
            LabError::NotRoot { .. } => {
                Some("run `hadome lab` as root for a topology with `[[host]]`".to_owned())
            }
            LabError::Host { fix, .. } => Some(fix.clone()),
            LabError::HostedNode { host, .. } => Some(format!(
                "act on it as on a Debian host: hadome's built-in Debian actions over SSH (`actions = \"debian\"` in DIR/estate.toml), \
                 or by hand: `ssh -i DIR/ssh/id_ed25519 -o UserKnownHostsFile=DIR/ssh/known_hosts -p PORT root@127.0.0.1` \
                 (PORT: host `{host}`'s SSH port in `hadome lab status --dir DIR`)"
            )),
            LabError::Survivors { .. } => {
                Some("they were signalled by PID; check them with `ps -o pid,stat,args -p PID`".to_owned())
            }
            _ => None,
        }
    }
}

fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = trimmed.lines().collect();
        let start = lines.len().saturating_sub(8);
        format!(":\n  {}", lines[start..].join("\n  "))
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
