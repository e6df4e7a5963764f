//! `hadome lab …`'s subcommands, flags and fault names (kept apart from `cli.rs`, which holds
//! the estate's commands).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::Json;

/// Where the lab lives.
#[derive(Debug, Args)]
pub(crate) struct LabDir {
    /// The lab's directory: `up` creates it (it must not exist or be empty); every other command
    /// finds the estate there.
    #[arg(long, env = "HADOME_LAB_DIR", value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LabCommand {
    /// Bring up a lab estate and leave it running.
    ///
    /// Servers run as the `postgres` user when hadome runs as root, listen only on a Unix socket in
    /// DIR, and are reached through the lab proxy's ports on 127.0.0.1. Returns once every standby
    /// streams and every synchronous standby is synchronous. Built-ins: pair, trio, misskey,
    /// mackerel, s512, etcd3, pair-etcd, showcase, debian3 (`hadome lab topologies` describes
    /// them). etcd members listen on Unix sockets in DIR too; their client and peer URLs are proxy
    /// ports. showcase (incident E, needs root): nginx, dnsmasq, a console, an SSO and app-1 in a
    /// network and mount namespace the lab owns; nginx's Unix socket is forwarded from a proxy port
    /// (`lab status` names it). debian3 (needs root): three systemd hosts running Debian's
    /// postgresql@15-main, reached over SSH (DIR/ssh/id_ed25519, DIR/ssh/known_hosts).
    #[command(
        after_help = "Example:\n  hadome lab up misskey --dir /tmp/lab\n  hadome lab up etcd3 --tls --dir /tmp/lab-tls\n  hadome lab up debian3 --dir /tmp/lab-debian\n  hadome lab status --dir /tmp/lab\n  hadome lab down --dir /tmp/lab"
    )]
    Up {
        /// A built-in topology name or the path of a topology TOML file.
        #[arg(value_name = "TOPOLOGY")]
        topology: String,
        /// The etcd members serve TLS to clients and require a client certificate: the lab makes
        /// its own CA, a server and a client certificate in DIR/tls/, and the estate file names
        /// `https://` endpoints with `ca_file`, `cert_file` and `key_file`.
        #[arg(long)]
        tls: bool,
        #[command(flatten)]
        dir: LabDir,
        #[command(flatten)]
        json: Json,
    },
    /// Show each node: role, host and port clients use, PID, data dir, upstream, and live state.
    Status {
        #[command(flatten)]
        dir: LabDir,
        #[command(flatten)]
        json: Json,
    },
    /// Inject a fault and verify its effect before returning.
    ///
    /// hang/resume: SIGSTOP/SIGCONT every process of the instance. hang-postmaster: the postmaster
    /// alone (new connections hang; open sessions and WAL senders go on). crash: SIGKILL the
    /// postmaster. stop/start: clean pg_ctl stop/start. cut/heal UPSTREAM STANDBY: break/restore
    /// a replication link. isolate/rejoin: close/reopen the node's client port (links stay).
    /// stall: leave a standby running but never able to catch up (its WAL is recycled upstream).
    /// promote: pg_promote(). config-change NODE KEY=VALUE: write to postgresql.conf, do not apply.
    /// fence: SIGKILL every process of the instance, hung or not, and write standby.signal, so a
    /// later start is read-only (the lab's fence_command). follow STANDBY UPSTREAM: repoint a running
    /// standby at UPSTREAM and wait until it streams from there (the lab's follow_command).
    ///
    /// etcd members take stop, start, crash, hang, resume, isolate and rejoin (isolate: its
    /// client URL is cut off, its peer traffic flows, so it stays in the quorum). cut/heal A B of
    /// two etcd members: close/reopen the peer link between them, both ways, and nothing else
    /// (each member runs in its own network namespace; see docs/lab.md). Cutting etcd-3 from
    /// etcd-1 and from etcd-2 partitions it: its client URL answers, it has no leader.
    /// Showcase (`lab up showcase`): stop/start SERVICE (console, sso, app-1: the process and its
    /// DNS record); deploy APP [--fixed] [--no-reload] (its nginx server block, nginx -t, a reload
    /// verified by new workers; --no-reload writes the block and stops there); reload nginx.
    /// reboot-host HOST: on a container host (s512), a real `systemctl reboot` inside it. On a
    /// placed host (h1, h2, h3 of etcd3: only a name the members are placed on) it is NOT a real
    /// reboot, the machine does not reboot: the lab stops every process placed on HOST by PID,
    /// keeps them down --down-seconds, records a new boot of HOST (a fresh boot id, which `hadome
    /// lab host-facts` then reports), starts again what was running and returns once each answers.
    /// It blocks for all of that; a member stopped before stays stopped.
    /// isolate-client/rejoin-client CLIENT: cut off/reconnect one named etcd client (`d1`, `d2` of
    /// `pair-etcd`) from every etcd member, while other clients and the members go on.
    /// cut-ssh/heal-ssh HOST (debian3): close/reopen hadome's SSH path to the host (its proxy
    /// route: open connections too); PostgreSQL and its replication go on.
    #[command(
        after_help = "Examples:\n  hadome lab fault --dir /tmp/lab hang db-1\n  hadome lab fault --dir /tmp/lab cut db-1 db-3\n  hadome lab fault --dir /tmp/lab config-change db-4 work_mem=64MB\n  hadome lab fault --dir /tmp/lab fence db-1\n  hadome lab fault --dir /tmp/lab follow db-3 db-2\n  hadome lab fault --dir /tmp/lab reboot-host h2 --down-seconds 10\n  hadome lab fault --dir /tmp/lab cut etcd-1 etcd-3\n  hadome lab fault --dir /tmp/lab cut-ssh host-1"
    )]
    Fault {
        #[command(flatten)]
        dir: LabDir,
        /// reboot-host of a placed host only: how long its processes stay down (default 5).
        #[arg(long, value_name = "SECONDS", env = "HADOME_LAB_DOWN_SECONDS")]
        down_seconds: Option<f64>,
        /// deploy of a showcase app only: the fix (a resolver, a variable upstream, the app on a
        /// port of its own) instead of the incident's literal `proxy_pass`.
        #[arg(long)]
        fixed: bool,
        /// deploy of a showcase app only: write the server block and leave nginx running the
        /// previous configuration, for `hadome ask reload` to judge and `hadome run reload` to
        /// load (a deploy script's order).
        #[arg(long)]
        no_reload: bool,
        /// The fault.
        #[arg(value_enum)]
        fault: FaultName,
        /// The node, or the upstream and the standby (cut, heal), or the node and KEY=VALUE
        /// (config-change), or the standby and its new upstream (follow).
        #[arg(required = true, num_args = 1..=2, value_name = "NODE")]
        arguments: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Make a stopped node a fresh standby of a running one: the lab's rebuild_command.
    ///
    /// Requires TARGET stopped (`lab fault stop`), its data directory absent, and SOURCE running.
    /// The data directory must be gone because the lab never overwrites or deletes data: move it
    /// aside first (`hadome run rebuild` does, then runs this command, which DIR/estate.toml names
    /// as each instance's rebuild_command). Then: pg_basebackup from SOURCE into TARGET's data
    /// directory, TARGET's own settings with primary_conninfo on the link SOURCE -> TARGET (no
    /// slot), a start; returns once TARGET streams. `lab status` shows SOURCE as its upstream; the
    /// primary's synchronous_standby_names is unchanged. A refusal changes nothing.
    #[command(
        after_help = "Example:\n  hadome lab fault --dir /tmp/lab stop db-3\n  mv /tmp/lab/nodes/db-3/data /tmp/lab/nodes/db-3/data.aside\n  hadome lab rebuild --dir /tmp/lab db-3 --from db-1"
    )]
    Rebuild {
        #[command(flatten)]
        dir: LabDir,
        /// The node to rebuild: stopped, its data directory moved aside.
        #[arg(value_name = "TARGET")]
        target: String,
        /// The running node to copy, which TARGET then streams from.
        #[arg(long, value_name = "SOURCE")]
        from: String,
        #[command(flatten)]
        json: Json,
    },
    /// Restore a pg_dump archive into a stopped primary node: a [[backup]]'s restore_command.
    ///
    /// Requires TARGET a primary node (a standby is rebuilt, not restored), stopped, and its data
    /// directory absent: the lab never overwrites or deletes data, so move it aside first (`hadome
    /// run restore-backup` does, then runs this command as the backup's restore_command). Then:
    /// initdb with the lab's settings, a start, pg_restore of ARCHIVE (read by this process and
    /// fed on pg_restore's standard input), a clean stop. TARGET is left stopped, ready for its
    /// start_command. Its standbys cannot follow the new data directory: rebuild them from it.
    /// A refusal changes nothing.
    #[command(
        after_help = "Example:\n  hadome lab fault --dir /tmp/lab stop db-1\n  mv /tmp/lab/nodes/db-1/data /tmp/lab/nodes/db-1/data.aside\n  hadome lab restore --dir /tmp/lab db-1 --from /srv/backups/nightly-20261201T031500Z.dump\n\nIn an estate file:\n  restore_command = [\"hadome\", \"lab\", \"restore\", \"--dir\", \"/tmp/lab\", \"{target}\", \"--from\", \"{copy}\"]"
    )]
    Restore {
        #[command(flatten)]
        dir: LabDir,
        /// The primary node to restore: stopped, its data directory moved aside.
        #[arg(value_name = "TARGET")]
        target: String,
        /// The pg_dump -Fc archive to restore.
        #[arg(long, value_name = "ARCHIVE")]
        from: PathBuf,
        #[command(flatten)]
        json: Json,
    },
    /// Write to a node at a steady rate, logging every acknowledged commit (ID LSN UNIX_MILLIS).
    ///
    /// Runs for --duration, or until Ctrl-C or SIGTERM. Failed commits are counted, not logged, and
    /// the load reconnects and goes on, so it can run across a failover.
    ///
    /// With --etcd (the default in a lab with etcd members and no PostgreSQL node): puts of
    /// sequential keys `hadome-lab-load/ID` through the members' client URLs on the lab proxy
    /// (etcd's v3 HTTP gateway), through one member until a put fails, then the next; each put
    /// etcd acknowledged is logged as ID REVISION UNIX_MILLIS.
    #[command(
        after_help = "Examples:\n  hadome lab load --dir /tmp/lab --node db-1 --duration 10 --ack-log /tmp/acks\n  hadome lab load --dir /tmp/lab --etcd --duration 10 --ack-log /tmp/etcd-acks"
    )]
    Load {
        #[command(flatten)]
        dir: LabDir,
        /// The node whose client port takes the writes (a PostgreSQL node).
        #[arg(long, env = "HADOME_LAB_NODE", conflicts_with = "etcd")]
        node: Option<String>,
        /// Write to the lab's etcd members instead of a PostgreSQL node.
        #[arg(long)]
        etcd: bool,
        /// Commits attempted per second.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds to run; without it, runs until Ctrl-C or SIGTERM.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// The file acknowledged commits are appended to.
        #[arg(long, value_name = "FILE")]
        ack_log: PathBuf,
        /// Seconds one commit may take before it counts as failed and the load reconnects.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        commit_timeout: f64,
        #[command(flatten)]
        json: Json,
    },
    /// Count the acknowledged commits of an ack log that a node does not have (a failover's RPO).
    ///
    /// With --etcd (the default in a lab with etcd members and no PostgreSQL node): reads every
    /// key of the etcd load back with one linearizable read through the first member that answers
    /// and counts the acknowledged puts that are not there.
    ///
    /// Exit 0 when none is missing, 1 when some are.
    Verify {
        #[command(flatten)]
        dir: LabDir,
        /// The node to check (a PostgreSQL node).
        #[arg(long, env = "HADOME_LAB_NODE", conflicts_with = "etcd")]
        node: Option<String>,
        /// Check the lab's etcd cluster instead of a PostgreSQL node.
        #[arg(long)]
        etcd: bool,
        /// The ack log `hadome lab load` wrote.
        #[arg(long, value_name = "FILE")]
        ack_log: PathBuf,
        #[command(flatten)]
        json: Json,
    },
    /// Print a placed host's facts as `hadome host-facts` prints a real host's (its facts_command).
    ///
    /// A placed host (h1, h2, h3 of etcd3) is only a name the lab's etcd members are placed on:
    /// it has no machine and no systemd. Its facts stand for what a host would say of its boots:
    /// the lab's record of them, the first at `lab up` and one more at each `lab fault
    /// reboot-host` (which is not a real reboot), with their ids and times and the current boot's
    /// uptime; no timers, services or data paths (`gaps` says why). The same versioned JSON as
    /// `hadome host-facts`, so `hadome run reboot HOST` verifies the reboot by a new boot id.
    #[command(after_help = "Example:\n  hadome lab host-facts --dir /tmp/lab h2")]
    HostFacts {
        #[command(flatten)]
        dir: LabDir,
        /// The placed host.
        #[arg(value_name = "HOST")]
        host: String,
    },
    /// Stop every process the lab started, by PID, and remove DIR.
    Down {
        #[command(flatten)]
        dir: LabDir,
    },
    /// List the built-in topologies.
    Topologies,
    /// Run the lab's proxy (started by `lab up`; not for direct use).
    #[command(hide = true)]
    Proxy {
        #[command(flatten)]
        dir: LabDir,
    },
    /// Run a command inside a running lab host: the lab's `ssh HOST`.
    ///
    /// Waits (60 s at most) until systemd in the host says `running` or `degraded`, then runs ARGV
    /// with `nsenter -t PID1 -a`, with this terminal's streams, the host's PATH and no other
    /// environment. The exit code is the command's own (128 + N when signal N ended it).
    #[command(
        after_help = "Example:\n  hadome lab exec --dir /tmp/lab s512 -- systemctl list-timers"
    )]
    Exec {
        #[command(flatten)]
        dir: LabDir,
        /// The host.
        #[arg(value_name = "HOST")]
        host: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "ARGV")]
        argv: Vec<String>,
    },
    /// Archive a host's data paths into DIR/images/IMAGE.tar with a manifest (the lab's
    /// image_command); the host keeps running.
    Image {
        #[command(flatten)]
        dir: LabDir,
        /// The host.
        #[arg(value_name = "HOST")]
        host: String,
        /// The image's name (letters, digits, `-`, `_`, `.`); an image is never overwritten.
        #[arg(value_name = "IMAGE")]
        image: String,
        #[command(flatten)]
        json: Json,
    },
    /// Read DIR/images/IMAGE.tar whole against its manifest (the lab's verify_image_command);
    /// exit 0 only when it is complete and matches, 1 otherwise.
    VerifyImage {
        #[command(flatten)]
        dir: LabDir,
        /// The image's name.
        #[arg(value_name = "IMAGE")]
        image: String,
        #[command(flatten)]
        json: Json,
    },
    /// Stop a host and move its root filesystem to DIR/deleted/HOST-STAMP (the lab's
    /// delete_command): nothing is removed.
    DeleteHost {
        #[command(flatten)]
        dir: LabDir,
        /// The host.
        #[arg(value_name = "HOST")]
        host: String,
    },
    /// Print the showcase's whole nginx configuration as nginx reads it (`nginx -T`, run inside
    /// the lab's namespace), for `hadome_nginx`'s lint or a reader.
    #[command(
        after_help = "Example:\n  hadome lab up showcase --dir /tmp/web\n  hadome lab nginx-dump --dir /tmp/web"
    )]
    NginxDump {
        #[command(flatten)]
        dir: LabDir,
    },
    /// Test the showcase's nginx configuration as it is on disk (`nginx -t`, run inside the lab's
    /// namespace, where its names resolve as nginx's will): the lab estate's `test_command`.
    ///
    /// Exit 0 when nginx accepts the configuration; 1 when it refuses it, with nginx's own message
    /// on stderr (the file and line it stopped at), or when the lab's namespace is gone. Nothing
    /// is reloaded: `hadome lab fault --dir DIR reload nginx` tests and reloads.
    #[command(
        after_help = "Example:\n  hadome lab nginx-test --dir /tmp/web && hadome lab fault --dir /tmp/web reload nginx"
    )]
    NginxTest {
        #[command(flatten)]
        dir: LabDir,
    },
    /// Say by exit code whether a showcase service's process runs: the lab estate's
    /// `running_command`.
    ///
    /// Exit 0 while the service (console, sso or an app) runs, 1 while it does not (after `hadome
    /// lab fault --dir DIR stop SERVICE`), 2 for a name that is not a service of the showcase
    /// (the closest named). A service runs when its PID file names a live process of this lab.
    #[command(
        after_help = "Example:\n  hadome lab service-running --dir /tmp/web app-1; echo $?\n  hadome lab fault --dir /tmp/web stop app-1\n  hadome lab service-running --dir /tmp/web app-1; echo $?   # 1"
    )]
    ServiceRunning {
        #[command(flatten)]
        dir: LabDir,
        /// The service: `console`, `sso` or an app's name (`hadome lab status --dir DIR` lists them).
        #[arg(value_name = "SERVICE")]
        service: String,
    },
    /// Run a showcase service inside the lab's namespace (started by `lab up`; not for direct use).
    #[command(hide = true)]
    WebService {
        /// console, sso or app.
        #[arg(long)]
        role: String,
        /// The service's name.
        #[arg(long)]
        name: String,
        /// The address to listen on (IP:PORT inside the namespace).
        #[arg(long)]
        listen: String,
        /// The showcase's directory (DIR/web), which names the process as the lab's.
        #[arg(long)]
        home: PathBuf,
    },
    /// Hold the showcase's namespaces (started by `lab up` under unshare; not for direct use).
    #[command(hide = true)]
    WebHolder {
        #[command(flatten)]
        dir: LabDir,
    },
    /// Run a lab host's supervisor (started by `lab up` and `start-host`; not for direct use).
    /// Change an etcd member's membership through etcd's cluster API, verified in the member list.
    ///
    /// Each change is sent to another member that answers (its client URL through the proxy).
    /// remove NAME: MemberRemove of NAME's member id (etcd never takes a removed id back).
    /// add NAME: MemberAdd of NAME's peer URL as a learner (it does not vote); NAME must be
    /// stopped with its data directory absent or empty (move the old one aside first: the lab
    /// never deletes data); its next `lab fault start` joins the existing cluster
    /// (--initial-cluster-state=existing, the initial cluster from the member list).
    /// promote NAME: MemberPromote, retried until etcd accepts it (a learner is promoted only once
    /// caught up) or the lab's wait passes. stop NAME: end its process by PID if there is one,
    /// hung or not; already stopped is not an error. These are the lab estate's remove_command,
    /// add_command, promote_command and stop_command, which `hadome run replace-member` and `run
    /// remove-member` run.
    #[command(
        after_help = "Example (what `hadome run replace-member etcd-3` does in the lab):\n  hadome lab member --dir /tmp/lab stop etcd-3\n  hadome lab member --dir /tmp/lab remove etcd-3\n  mv /tmp/lab/etcd/etcd-3/data /tmp/lab/etcd/etcd-3/data.aside\n  hadome lab member --dir /tmp/lab add etcd-3\n  hadome lab fault --dir /tmp/lab start etcd-3\n  hadome lab member --dir /tmp/lab promote etcd-3"
    )]
    Member {
        #[command(flatten)]
        dir: LabDir,
        /// The change.
        #[arg(value_enum)]
        verb: MemberVerb,
        /// The etcd member.
        #[arg(value_name = "NAME")]
        member: String,
        #[command(flatten)]
        json: Json,
    },
    #[command(hide = true)]
    HostSupervisor {
        #[command(flatten)]
        dir: LabDir,
        /// The host.
        #[arg(value_name = "HOST")]
        host: String,
    },
}

/// `hadome lab member`'s changes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum MemberVerb {
    /// MemberRemove of its id, through another member.
    Remove,
    /// MemberAdd of its peer URL as a learner; its next start joins the existing cluster.
    Add,
    /// MemberPromote once it has caught up (retried until etcd accepts it).
    Promote,
    /// End its process by PID if it runs (hung or not); already stopped is fine.
    Stop,
}

/// The faults, as the command line spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FaultName {
    /// SIGSTOP every process of the instance.
    Hang,
    /// SIGCONT every process of the instance.
    Resume,
    /// SIGSTOP the postmaster alone.
    HangPostmaster,
    /// SIGKILL the postmaster.
    Crash,
    /// pg_ctl stop -m fast.
    Stop,
    /// pg_ctl start.
    Start,
    /// Break the link UPSTREAM -> STANDBY (of two etcd members: their peer link, both ways).
    Cut,
    /// Restore the link UPSTREAM -> STANDBY.
    Heal,
    /// Close the node's client port.
    Isolate,
    /// Reopen the node's client port.
    Rejoin,
    /// Make a standby unable ever to catch up.
    Stall,
    /// pg_promote() a standby.
    Promote,
    /// Write KEY=VALUE to postgresql.conf without applying it.
    ConfigChange,
    /// SIGKILL every process of the instance and write standby.signal.
    Fence,
    /// Make a running STANDBY stream from UPSTREAM.
    Follow,
    /// A real `systemctl reboot` inside a host; returns once a new boot runs.
    RebootHost,
    /// The timer's stamp does not survive a reboot: incident C's reboot loop.
    StampLost,
    /// SIGSTOP every process of a host's container (`resume` undoes it).
    HangHost,
    /// `systemctl poweroff` inside a host; it is not started again.
    StopHost,
    /// Start a stopped host.
    StartHost,
    /// Cut a named etcd client (`etcd_clients`, e.g. `d1` of `pair-etcd`) off from every member.
    IsolateClient,
    /// Reconnect a named etcd client cut off with `isolate-client`.
    RejoinClient,
    /// Cut hadome's SSH path to a host of `debian3` (every connection closed at once).
    CutSsh,
    /// Heal the SSH path cut with `cut-ssh`.
    HealSsh,
    /// Showcase: write APP's server block (the incident's literal proxy_pass, or `--fixed`) and
    /// reload nginx, verified.
    Deploy,
    /// Showcase: `reload nginx` (nginx -t, SIGHUP, workers replaced).
    Reload,
}

impl FaultName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FaultName::Hang => "hang",
            FaultName::Resume => "resume",
            FaultName::RebootHost => "reboot-host",
            FaultName::StampLost => "stamp-lost",
            FaultName::HangHost => "hang-host",
            FaultName::StopHost => "stop-host",
            FaultName::StartHost => "start-host",
            FaultName::HangPostmaster => "hang-postmaster",
            FaultName::Crash => "crash",
            FaultName::Stop => "stop",
            FaultName::Start => "start",
            FaultName::Cut => "cut",
            FaultName::Heal => "heal",
            FaultName::Isolate => "isolate",
            FaultName::Rejoin => "rejoin",
            FaultName::Stall => "stall",
            FaultName::Promote => "promote",
            FaultName::ConfigChange => "config-change",
            FaultName::Fence => "fence",
            FaultName::Follow => "follow",
            FaultName::IsolateClient => "isolate-client",
            FaultName::RejoinClient => "rejoin-client",
            FaultName::CutSsh => "cut-ssh",
            FaultName::HealSsh => "heal-ssh",
            FaultName::Deploy => "deploy",
            FaultName::Reload => "reload",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lab_fault_has_a_command_line_name() {
        let names: Vec<&str> = FaultName::value_variants()
            .iter()
            .map(|fault| fault.as_str())
            .collect();
        assert_eq!(names, hadome_lab::FAULT_NAMES);
    }
}
