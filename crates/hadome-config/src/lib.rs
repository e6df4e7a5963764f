//! hadome's estate configuration: one TOML file, parsed and validated into an [`Estate`].
//!
//! This crate exists because the decision core (`hadome-core`) does no I/O and depends on std
//! alone, while every front end (the CLI, the daemon) must read the same file the same way and
//! explain a mistake in it the same way. It reads the file, checks every key, and either returns
//! `hadome_core::estate::Estate` — every name unique, every reference resolved — or one
//! [`ConfigError`] naming the file, line and key, what is wrong, and how to fix it
//! ([`ConfigError::hint`]).
//!
//! The format (`examples/estate.toml` is the annotated example):
//!
//! ```toml
//! [journal]
//! path = "hadome.sqlite"        # relative to this file's directory
//!
//! [probe]
//! timeout_seconds = 2.0
//! interval_seconds = 1.0
//!
//! [notify]
//! webhook_url = "https://hooks.slack.com/services/T000/B000/XXXX"   # escalations
//!
//! [[instance]]
//! name = "db-1"
//! conninfo = "host=10.0.0.1 port=5432 user=hadome dbname=postgres"
//! data_dir = "/var/lib/postgresql/15/main"
//! # Optional argv arrays (never shell strings) hadome runs to act on the instance.
//! start_command = ["systemctl", "start", "postgresql@15-main"]
//! stop_command = ["systemctl", "stop", "postgresql@15-main"]
//! rebuild_command = ["/usr/local/bin/make-standby", "--from", "{source_conninfo}", "--into", "{data_dir}"]
//! fence_command = ["/usr/local/bin/fence-postgres", "{target}", "{data_dir}"]
//! follow_command = ["/usr/local/bin/follow", "{target}", "--upstream", "{source_conninfo}"]
//!
//! [[cluster]]
//! name = "main"
//! members = ["db-1"]
//! failover = "manual"
//! # What the daemon does on its own (defaults: `hadome_core::estate::Automation::default()`).
//! on_primary_crash = "restart"  # or "failover"
//! on_old_primary = "stop"       # or "rebuild"
//! async_failover = "escalate"   # or "promote": fail over with no synchronous standby, losing
//!                               # what the old primary acknowledged and had not sent
//! detection_seconds = 3.0       # at least `[probe] interval_seconds`
//! restart_window_seconds = 15.0
//! stall_seconds = 30.0          # a standby not streaming this long is rebuilt from the primary
//! budget_window_seconds = 3600.0
//! max_restarts_per_target = 3
//! max_rebuilds_per_target = 2
//! max_failovers = 1
//!
//! # Web routes (issue 14): the services behind them, the routes, the nginx in front. An estate
//! # may hold only these tables.
//! [[service]]
//! name = "app-1"
//! address = "app-1:3000"                 # what `proxy_pass` names it by; "[::1]:3000" for IPv6
//! host = "web-1"                         # a declared `[[host]]` when the estate has any
//! marker_header = "X-Service: app-1"     # told apart from another service's responses by this
//! running_command = ["systemctl", "is-active", "--quiet", "app-1"]
//!
//! [[route]]
//! name = "app-1"
//! url = "http://app-1.apps.example.org/"
//! service = "app-1"                      # a `[[service]]`
//! hop_limit = 10                         # 1 to 50, the default 10
//! connect_to = "127.0.0.1:8080"          # every hop connects here (curl's --connect-to)
//! expect_status = 200                    # default: any 2xx
//! expect_host = "app-1.apps.example.org" # default: the URL's host
//! expect_header = "X-Service: app-1"     # default: the service's `marker_header`
//! expect_body = "Welcome"
//!
//! [[nginx]]
//! name = "web"
//! dump_command = ["nginx", "-T"]         # the defaults
//! test_command = ["nginx", "-t"]
//! reload_command = ["nginx", "-s", "reload"]
//! ```
//!
//! ```
//! let estate = hadome_config::parse(
//!     "[[instance]]\nname = \"db-1\"\nconninfo = \"port=5432\"\ndata_dir = \"/srv/pg\"\n",
//!     "/etc/hadome/estate.toml".as_ref(),
//! )?;
//! assert_eq!(estate.journal_path, std::path::Path::new("/etc/hadome/hadome.sqlite"));
//! # Ok::<(), hadome_config::ConfigError>(())
//! ```

#![warn(missing_docs)]

mod conninfo;
mod error;
mod parse;
#[cfg(test)]
mod tests;

use std::path::Path;

use hadome_core::estate::Estate;

pub use error::{ConfigError, Location};

/// The journal file when `[journal]` names none (relative to the estate file's directory).
pub const DEFAULT_JOURNAL_PATH: &str = "hadome.sqlite";
/// `probe.timeout_seconds` when unset.
pub const DEFAULT_PROBE_TIMEOUT_SECONDS: f64 = 2.0;
/// `probe.interval_seconds` when unset.
pub const DEFAULT_PROBE_INTERVAL_SECONDS: f64 = 1.0;
/// An instance's `host` when unset.
pub const DEFAULT_HOST: &str = "localhost";
/// A cluster's `max_lag_on_failover_bytes` when unset: not a byte of acknowledged data may be lost.
pub const DEFAULT_MAX_LAG_ON_FAILOVER_BYTES: u64 = 0;
/// A cluster's `freshness_seconds` when unset.
pub const DEFAULT_FRESHNESS_SECONDS: f64 = 30.0;
/// A cluster's `max_replication_lag_bytes` when unset: 64 MiB.
pub const DEFAULT_MAX_REPLICATION_LAG_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and validates the estate file at `path`.
///
/// A missing or unreadable file is [`ConfigError::Read`], naming the path.
pub fn load(path: &Path) -> Result<Estate, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&source, path)
}

/// Validates the text of an estate file. `path` names the file in errors, and a relative journal
/// path is resolved against its parent directory. Nothing is read from disk.
pub fn parse(source: &str, path: &Path) -> Result<Estate, ConfigError> {
    parse::parse(source, path)
}
