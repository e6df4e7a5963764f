//! The command line of `hadome init` (issue 15), defined here so that `cli.rs` stays within the
//! binary's file size; `cli.rs` names it.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Json;

/// `hadome init --help`.
pub(crate) const INIT_ABOUT: &str = "\
Write a starting estate file from this machine's PostgreSQL clusters, and check that hadome's \
role holds the privileges it needs on each.

The clusters are the ones Debian's postgresql-common knows (`pg_lsclusters --json`, under \
/etc/postgresql or $PG_CLUSTER_CONF_ROOT). Each becomes an [[instance]] named VERSION-CLUSTER \
(`15-main`) whose conninfo is `host=SOCKET_DIR port=PORT user=ROLE dbname=postgres`, with its \
data_dir, and a [[cluster]] of its own with failover = \"manual\"; a [journal] names --journal. \
Comments in the file say what was found (running or not; primary or standby when hadome could \
connect) and what to review. hadome reads the file back before it prints or writes it: \
`hadome check --config FILE` accepts it.

On each running cluster, hadome connects as --user (over the socket, as the daemon will) and \
asks which grants of docs/privileges.md the role holds: membership in pg_monitor, SELECT on \
pg_file_settings and EXECUTE on pg_show_all_file_settings() (the probe), EXECUTE on \
pg_read_file(text, bigint, bigint, boolean) (optional: without it timeline histories are \
unknown), and supervision's EXECUTE on pg_promote(boolean, integer), ALTER SYSTEM on \
synchronous_standby_names and EXECUTE on pg_reload_conf(). Each missing grant is reported with \
the GRANT statement to run on the primary; a superuser holds them all. A cluster that is down or \
refuses the connection is reported with the reason, and still written. Nothing is changed on any \
server.

Without --output the file goes to stdout and the report to stderr, so nothing is overwritten. \
With --output FILE the file is written there and the report goes to stdout; an existing FILE is \
refused, unless --force moves it aside to FILE.hadome-aside-STAMP (never deleted). --json prints \
a versioned report instead (`\"version\": 1`: clusters, privileges per cluster, where the file \
went, and the file's text when it was not written).

Peer authentication (Debian's default for local connections) maps the OS user to the role: run \
init as the OS user hadome will run as, e.g. `sudo -u hadome hadome init`.

Exit 0: the file is out and the role holds every grant it needs on every cluster (an optional one \
may be missing, with a warning). Exit 1: the file is out, but a cluster was down or refused the \
role, a listed cluster could not be written, or a grant is missing: a script can save the file \
and still stop for a person. Exit 2: a usage error (FILE exists without --force, its directory \
is missing), nothing written. Exit 5: the clusters cannot be listed (no pg_lsclusters: install \
postgresql-common, or write the estate file by hand from examples/estate.toml), or there are \
none.";

/// `hadome init --help`'s examples.
pub(crate) const INIT_EXAMPLES: &str = "\
Examples:
  hadome init                                  # print the file; check the role `hadome`
  sudo -u hadome hadome init > estate.toml     # as the daemon's OS user, so peer auth maps it
  hadome init --user postgres --output /etc/hadome/estate.toml
  hadome init --output /etc/hadome/estate.toml --force --json";

/// `hadome init`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Write the estate file to FILE (and the report to stdout) instead of printing it. An
    /// existing FILE is refused unless --force.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// The role hadome connects as: each conninfo's `user=`, and whose grants are checked.
    #[arg(
        long,
        value_name = "ROLE",
        env = "HADOME_INIT_USER",
        default_value = "hadome"
    )]
    pub(crate) user: String,
    /// Replace an existing --output FILE: the old one is kept as FILE.hadome-aside-STAMP.
    #[arg(long, requires = "output")]
    pub(crate) force: bool,
    /// The journal the file's `[journal]` names (the packaged unit's state directory by
    /// default). Its directory must exist and be writable by the user hadome runs as.
    #[arg(
        long,
        value_name = "FILE",
        env = "HADOME_INIT_JOURNAL",
        default_value = "/var/lib/hadome/hadome.sqlite"
    )]
    pub(crate) journal: PathBuf,
    #[command(flatten)]
    pub(crate) json: Json,
}
