//! The estate: the validated configuration, as plain data.
//!
//! `hadome-config` parses and validates the TOML into these types; the core only reads them.
//! Every name is unique and every reference resolves (the parser guarantees it).

use std::path::PathBuf;

/// What hadome watches and may act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Estate {
    /// PostgreSQL instances, in the order of the file.
    pub instances: Vec<Instance>,
    /// Clusters of instances, in the order of the file.
    pub clusters: Vec<Cluster>,
    /// The journal's SQLite file.
    pub journal_path: PathBuf,
    /// How long one probe of one instance may take before it is reported unreachable.
    pub probe_timeout_seconds: f64,
    /// How often the daemon probes (and the window `check` findings are promised within).
    pub probe_interval_seconds: f64,
    /// Where the daemon sends escalations.
    pub notify: Notify,
    /// Backups, in the order of the file.
    pub backups: Vec<Backup>,
    /// Snapshots, in the order of the file.
    pub snapshots: Vec<Snapshot>,
    /// Hosts declared with `[[host]]`, in the order of the file (an instance's `host` need not be
    /// declared: then hadome knows only its name).
    pub hosts: Vec<crate::host::Host>,
    /// etcd members declared with `[[etcd]]`, in the order of the file.
    pub etcd_members: Vec<crate::quorum::EtcdMember>,
    /// Quorum clusters declared with `[[quorum]]`, in the order of the file.
    pub quorums: Vec<crate::quorum::QuorumCluster>,
    /// `[coordination]`: where the daemons' leases and people's holds live when several daemons
    /// watch this estate (etcd); `None`: in the journal, as with one daemon.
    pub coordination: Option<Coordination>,
    /// Routes, the services behind them and the nginx instances in front of them (`[[route]]`,
    /// `[[service]]`, `[[nginx]]`; issue 14).
    pub web: crate::web::Web,
    /// `[api]` (issue 16): the daemon's HTTP API, metrics and dashboard; `None`: not served.
    pub api: Option<Api>,
}

/// `[api]`: where `hadome daemon` serves its HTTP API, `/metrics` and its dashboard, and who may
/// change the estate through it.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// `IP:PORT` to listen on; loopback unless `expose` (port 0: any free port, logged).
    pub listen: String,
    /// Whether `listen` may be an address other hosts reach (the API has no TLS of its own).
    pub expose: bool,
    /// The bearer tokens that may change the estate (`POST /v1/run`, `POST /v1/ack`).
    pub tokens: Vec<ApiToken>,
}

/// One `[[api.token]]`: a named secret, read from its file, and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// Who uses it: journaled as the actor of what it does (`api:NAME`).
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// The file holding the secret (its first line); read when the daemon starts and reloads.
    pub file: std::path::PathBuf,
}

/// What a token may do through the API. Reading (`GET`, `POST /v1/ask`) needs no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiRole {
    /// Reads only: a token that identifies a reader and may change nothing.
    Viewer,
    /// May acknowledge a pause (`POST /v1/ack`).
    Acker,
    /// May acknowledge and run actions (`POST /v1/ack`, `POST /v1/run`).
    Operator,
}

impl ApiRole {
    /// Every role, as written in the estate file.
    pub const ALL: [ApiRole; 3] = [ApiRole::Viewer, ApiRole::Acker, ApiRole::Operator];

    /// The role's word in the estate file.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Viewer => "viewer",
            ApiRole::Acker => "acker",
            ApiRole::Operator => "operator",
        }
    }

    /// The role a word names, if any.
    pub fn parse(word: &str) -> Option<ApiRole> {
        ApiRole::ALL.into_iter().find(|role| role.as_str() == word)
    }

    /// Whether the role allows `verb` (`run` or `ack`).
    pub fn allows(self, verb: &str) -> bool {
        match verb {
            "ack" => self >= ApiRole::Acker,
            "run" => self >= ApiRole::Operator,
            _ => false,
        }
    }
}

/// `[coordination]` (feature F28): the etcd cluster through which several daemons of one estate
/// agree on one actor per cluster, and through which `hadome run` holds a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordination {
    /// etcd client URLs (`http://HOST:PORT`, or `https://` with `security.ca_file`), tried in
    /// turn.
    pub endpoints: Vec<String>,
    /// The key prefix every key hadome writes starts with; ends with `/`.
    pub prefix: String,
    /// The time to live of each daemon's etcd lease, in whole seconds (etcd's unit).
    pub lease_ttl_seconds: i64,
    /// TLS and credentials, as a quorum's (`ca_file`, `cert_file`, `key_file`, `user`,
    /// `password_file`).
    pub security: crate::quorum::EtcdSecurity,
}

/// What a backup is made of, and so how hadome checks its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    /// A `pg_dump -Fc` archive: header and table of contents, every data block complete.
    PgDump,
    /// A `pg_basebackup` directory with its `backup_manifest` (`pg_verifybackup`).
    BaseBackup,
    /// Any file: size and checksum only.
    Files,
}

impl BackupKind {
    /// The `type` of the estate file.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::PgDump => "pg_dump",
            BackupKind::BaseBackup => "basebackup",
            BackupKind::Files => "files",
        }
    }
}

/// One backup: a series of copies on disk, made by hadome (`command`) or by something else, each
/// judged against its bounds and against the copies before it (`backup-trust`).
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// Its name in the estate.
    pub name: String,
    /// What its copies are.
    pub kind: BackupKind,
    /// The instance it is taken from (and can restore), when it is a database's.
    pub instance: Option<String>,
    /// Where its copies are: a path whose file name holds one `*` (`/srv/backups/nightly-*.dump`);
    /// hadome names a new copy by putting a UTC stamp there.
    pub path: PathBuf,
    /// How hadome makes a copy (argv; `{output}` is the temporary path it verifies, then renames
    /// into place; `{snapshot}` an exported snapshot of the instance, for `pg_dump --snapshot`).
    pub command: Option<Vec<String>>,
    /// How hadome restores a copy onto an instance (`hadome run restore-backup`, argv; `{copy}`
    /// is the newest verified copy, `{target}` the instance, `{data_dir}` its data directory,
    /// which hadome has moved aside: the command creates it and leaves the instance stopped).
    pub restore_command: Option<Vec<String>>,
    /// The daemon makes a copy when the newest is this old (needs `command`).
    pub every_seconds: Option<f64>,
    /// The daemon restore-tests the newest copy when the last restore test is this old.
    pub restore_test_every_seconds: Option<f64>,
    /// The newest copy must be younger than this.
    pub max_age_seconds: Option<f64>,
    /// The newest copy must be at least this big.
    pub min_size_bytes: Option<u64>,
    /// The newest copy must be at least this fraction of the size of the one before it.
    pub max_shrink_ratio: Option<f64>,
    /// A restore test must have passed within this long.
    pub restore_test_max_age_seconds: Option<f64>,
    /// Paths on hosts whose data its copies hold (`destroy-coverage`): a covered path covers
    /// everything under it.
    pub covers: Vec<CoveredPath>,
    /// The host its copies live on (`[[host]]`); `None`: the machine hadome runs on, which reads
    /// `path`. A backup whose copies live on a host covers nothing of that host when the host is
    /// deleted (incident C: a backup on the machine it protects goes with it).
    pub stored_on: Option<String>,
}

/// A path on a host that a backup holds (`covers = ["s512:/srv/uploads"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveredPath {
    /// The host (`[[host]]`).
    pub host: String,
    /// The absolute path on it.
    pub path: PathBuf,
}

impl CoveredPath {
    /// Whether this covers `path` on `host`: the same host, and `path` is this path or under it.
    pub fn covers(&self, host: &str, path: &std::path::Path) -> bool {
        self.host == host && path.starts_with(&self.path)
    }
}

impl std::fmt::Display for CoveredPath {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}", self.host, self.path.display())
    }
}

/// Where snapshots of a path are kept (`snapshot-independence`: never inside what they protect,
/// nor on its filesystem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its name in the estate.
    pub name: String,
    /// What the snapshots are of.
    pub protects: PathBuf,
    /// Where they are stored.
    pub location: PathBuf,
}

/// Where escalations go (besides the journal, which always has them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notify {
    /// A webhook that takes a Slack- or Discord-compatible JSON body (`text` and `content`).
    pub webhook_url: Option<String>,
}

/// One PostgreSQL instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its name in the estate (also the `application_name` its upstream sees, unless set).
    pub name: String,
    /// A libpq connection string for hadome's role.
    pub conninfo: String,
    /// Its data directory on its host.
    pub data_dir: PathBuf,
    /// The host it runs on, as the estate names it.
    pub host: String,
    /// The `application_name` in its `primary_conninfo` (defaults to `name`): how its upstream's
    /// `pg_stat_replication` names it.
    pub application_name: String,
    /// How hadome starts, stops and rebuilds it (`hadome run`, the daemon).
    pub commands: InstanceCommands,
}

/// Argv commands (never shell strings) hadome runs to act on an instance; `None` when not
/// configured, and then the action is refused with the key to set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceCommands {
    /// Starts the instance (`systemctl start postgresql@15-main`, `pg_ctlcluster 15 main start` …).
    pub start: Option<Vec<String>>,
    /// Stops it cleanly.
    pub stop: Option<Vec<String>>,
    /// Makes it a fresh standby of a source, into a data directory hadome has already moved
    /// aside. `{source}`, `{source_conninfo}`, `{target}` and `{data_dir}` are replaced.
    pub rebuild: Option<Vec<String>>,
    /// Makes sure the instance accepts no more writes, even when it is hung or its host does not
    /// answer: kill its processes, power its machine off, and keep it from starting again as a
    /// primary (a `standby.signal` in its data directory). `{target}` and `{data_dir}` are
    /// replaced. The daemon runs it before promoting another member.
    pub fence: Option<Vec<String>>,
    /// Makes a running standby stream from another upstream (after a failover): `{source}`,
    /// `{source_conninfo}`, `{target}` and `{data_dir}` are replaced.
    pub follow: Option<Vec<String>>,
    /// `actions = "debian"`: hadome carries out start, stop, fence, promote, rebuild and follow
    /// itself on this cluster of Debian's layout, and the argv commands above are all `None`.
    pub debian: Option<crate::remote::DebianCluster>,
    /// How a standby reaches this instance to stream from it (`primary_conninfo`, `pg_basebackup
    /// -d`), for the built-in actions; `None`: its `conninfo` without the password.
    pub replication_conninfo: Option<String>,
}

/// How a cluster fails over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverPolicy {
    /// hadome never promotes on its own; `ask` and `run` still guard people.
    Manual,
    /// The daemon promotes an eligible standby when the primary has failed.
    Auto,
}

/// A set of instances that replicate one database cluster (one system identifier).
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Its instances' names.
    pub members: Vec<String>,
    /// Whether the daemon fails over on its own.
    pub failover: FailoverPolicy,
    /// How far behind the last known primary position a candidate may be and still be promoted.
    /// 0 (the default): not a byte of acknowledged data may be lost.
    pub max_lag_on_failover_bytes: u64,
    /// A fact older than this is stale: rules that need it treat it as unknown.
    pub freshness_seconds: f64,
    /// A streaming standby further than this behind its primary is lagging (a warning).
    pub max_replication_lag_bytes: u64,
    /// What the daemon does on its own, and how much of it.
    pub automation: Automation,
}

/// What the daemon does when a failed primary's commits are not proven to be on the standby it
/// would promote: the old primary's `synchronous_standby_names` named no standby (an
/// asynchronous cluster), or a standby it names does not answer or is not a member, or the
/// candidate is behind one of them ([`crate::sync_rep`]). A commit the
/// old primary acknowledged then waited for no standby that answers, and may exist on its disk
/// alone (issue 17's trials: a hung asynchronous primary's last acknowledged commits were lost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AsyncFailoverPolicy {
    /// Do not promote: escalate, and wait for the primary or a person (durability first).
    #[default]
    Escalate,
    /// Promote the most advanced eligible standby all the same: what the old primary
    /// acknowledged and had not sent to it is lost (the operator's stated RPO).
    Promote,
}

/// What the daemon does when a primary's postmaster is gone (refused connections, its standbys
/// disconnected).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Start it again in place (within the restart budget); fail over when that is over budget
    /// or does not bring it back within `restart_window_seconds`.
    #[default]
    Restart,
    /// Fail over at once (after the detection window), as for a hang.
    Failover,
}

/// What becomes of a failed primary once another member was promoted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OldPrimaryPolicy {
    /// It stays fenced and stopped until a person decides (its data is untouched).
    #[default]
    Stop,
    /// It is rebuilt as a standby of the new primary, its diverged data directory moved aside.
    Rebuild,
}

/// How the daemon automates one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Automation {
    /// What to do when the primary crashed.
    pub on_primary_crash: CrashPolicy,
    /// What becomes of the old primary after a failover.
    pub on_old_primary: OldPrimaryPolicy,
    /// Whether the daemon fails over when nothing proves the standby holds every commit the old
    /// primary acknowledged (no synchronous standby covers it).
    pub async_failover: AsyncFailoverPolicy,
    /// How long the primary must be unreachable, and its standbys must have heard nothing from
    /// it, before it counts as failed (`primary-agreement`).
    pub detection_seconds: f64,
    /// How long a restart may take to bring an instance back before it counts as failed.
    pub restart_window_seconds: f64,
    /// How long a standby that answers may go without streaming, while its primary answers,
    /// before the daemon escalates it (`replication-stalled`). Not streaming is never a reason to
    /// rebuild on its own: a network cut stops the stream too, and the standby catches up once it
    /// heals; only a proven cause (the WAL it needs removed upstream, its slot lost) makes the
    /// daemon rebuild it, at once.
    pub stall_seconds: f64,
    /// How much the daemon may do within a window.
    pub budget: Budget,
}

impl Default for Automation {
    fn default() -> Automation {
        Automation {
            on_primary_crash: CrashPolicy::Restart,
            on_old_primary: OldPrimaryPolicy::Stop,
            async_failover: AsyncFailoverPolicy::Escalate,
            detection_seconds: 3.0,
            restart_window_seconds: 15.0,
            stall_seconds: 30.0,
            budget: Budget::default(),
        }
    }
}

/// The `budget` rule's limits: automated actions within a sliding window. A person's
/// `hadome ack <target>` starts the count again.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The window the counts cover.
    pub window_seconds: f64,
    /// Restarts of one instance.
    pub restarts_per_target: u32,
    /// Rebuilds of one instance.
    pub rebuilds_per_target: u32,
    /// Failovers of the cluster.
    pub failovers: u32,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            window_seconds: 3600.0,
            restarts_per_target: 3,
            rebuilds_per_target: 2,
            failovers: 1,
        }
    }
}

impl Estate {
    /// An instance by name.
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|instance| instance.name == name)
    }

    /// A backup by name.
    pub fn backup(&self, name: &str) -> Option<&Backup> {
        self.backups.iter().find(|backup| backup.name == name)
    }

    /// A declared host by name.
    pub fn host(&self, name: &str) -> Option<&crate::host::Host> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// How hadome reaches host `name` over SSH, when its `[[host]]` says so.
    pub fn ssh_of(&self, host: &str) -> Option<&crate::remote::SshAccess> {
        self.host(host)?.ssh.as_ref()
    }

    /// The argv that runs `argv` where instance `name` lives: over SSH when its host is reached
    /// so, else `argv` itself, on this machine.
    pub fn on_host_of(&self, name: &str, argv: &[String]) -> Vec<String> {
        match self
            .instance(name)
            .and_then(|instance| self.ssh_of(&instance.host))
        {
            Some(ssh) => ssh.command(argv),
            None => argv.to_vec(),
        }
    }

    /// An etcd member by name.
    pub fn etcd_member(&self, name: &str) -> Option<&crate::quorum::EtcdMember> {
        self.etcd_members.iter().find(|member| member.name == name)
    }

    /// The quorum cluster `member` belongs to.
    pub fn quorum_of(&self, member: &str) -> Option<&crate::quorum::QuorumCluster> {
        self.quorums
            .iter()
            .find(|quorum| quorum.members.iter().any(|listed| listed == member))
    }

    /// The cluster `instance` belongs to.
    pub fn cluster_of(&self, instance: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|cluster| cluster.members.iter().any(|member| member == instance))
    }
}
