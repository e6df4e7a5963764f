//! PostgreSQL's programs and connections, as the lab uses them.
//!
//! Binaries come from `HADOME_PG_BINDIR` or Debian's layout (`/usr/lib/postgresql/15/bin`). When
//! this process is root, every PostgreSQL program runs as the `postgres` OS user (PostgreSQL refuses
//! root); otherwise as the current user. Connections are plain tokio-postgres clients with a connect
//! timeout, over an instance's Unix socket (the lab's own view) or a proxy port (a client's view).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::state::RunAs;
use crate::LabError;

/// The environment variable that overrides where PostgreSQL's binaries are.
pub const BINDIR_ENV: &str = "HADOME_PG_BINDIR";

/// Debian's directory for PostgreSQL 15's server binaries.
pub const DEBIAN_BINDIR: &str = "/usr/lib/postgresql/15/bin";

const REQUIRED: &[&str] = &["initdb", "pg_ctl", "postgres", "pg_basebackup"];

/// Finds PostgreSQL's server binaries, or says how to install them.
pub fn locate_bindir() -> Result<PathBuf, LabError> {
    let bindir = std::env::var_os(BINDIR_ENV)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_BINDIR));
    for binary in REQUIRED {
        if !bindir.join(binary).is_file() {
            return Err(LabError::PgBinariesMissing { bindir, binary });
        }
    }
    Ok(bindir)
}

/// Whom PostgreSQL runs as when this process starts it.
pub(crate) fn run_as_for_this_process() -> Result<RunAs, LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(RunAs::CurrentUser);
    }
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .ok_or(LabError::NoPostgresUser)?;
    Ok(RunAs::User {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    })
}

/// Checks that the user PostgreSQL runs as can reach `dir`: every existing ancestor must be
/// searchable (`x`) for it. Nothing is changed: a user's directory permissions are the user's.
pub(crate) fn check_reachable(run_as: &RunAs, dir: &Path) -> Result<(), LabError> {
    use std::os::unix::fs::MetadataExt;
    let RunAs::User { name, uid, gid } = run_as else {
        return Ok(());
    };
    for ancestor in dir.ancestors().skip(1) {
        let Ok(metadata) = std::fs::metadata(ancestor) else {
            continue;
        };
        let mode = metadata.mode();
        let searchable = if metadata.uid() == *uid {
            mode & 0o100 != 0
        } else if metadata.gid() == *gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            return Err(LabError::Unreachable {
                dir: dir.to_owned(),
                blocker: ancestor.to_owned(),
                user: name.clone(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// Gives `path` to the user PostgreSQL runs as (nothing to do when that is us).
pub(crate) fn hand_over(run_as: &RunAs, path: &Path) -> Result<(), LabError> {
    if let RunAs::User { uid, gid, .. } = run_as {
        std::os::unix::fs::chown(path, Some(*uid), Some(*gid)).map_err(|source| LabError::Io {
            action: "give to the postgres user",
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// Runs a PostgreSQL program to completion as `run_as`, in `cwd`; returns its stdout.
///
/// `what` names the step for the error ("initdb for `db-1`").
pub(crate) async fn run<I, S>(
    run_as: &RunAs,
    cwd: &Path,
    program: &Path,
    args: I,
    what: &str,
) -> Result<String, LabError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .env("LC_ALL", "C")
        .kill_on_drop(true);
    if let RunAs::User { uid, gid, .. } = run_as {
        command.uid(*uid).gid(*gid);
    }
    let output = command.output().await.map_err(|source| LabError::Spawn {
        what: what.to_owned(),
        program: program.display().to_string(),
        source,
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if stderr.trim().is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    Err(LabError::Command {
        what: what.to_owned(),
        program: program.display().to_string(),
        status: output.status.to_string(),
        stderr,
    })
}

/// Connects as `postgres` to the instance listening in `socket_dir`.
pub(crate) async fn connect_socket(
    node: &str,
    socket_dir: &Path,
    timeout: Duration,
) -> Result<Client, LabError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(5432)
        .user("postgres")
        .dbname("postgres")
        .application_name("hadome-lab")
        .connect_timeout(timeout);
    connect(node, config, timeout).await
}

/// Connects as `postgres` to `127.0.0.1:port`, as a client of the estate does.
pub async fn connect_tcp(node: &str, port: u16, timeout: Duration) -> Result<Client, LabError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .application_name("hadome-lab")
        .connect_timeout(timeout);
    connect(node, config, timeout).await
}

async fn connect(
    node: &str,
    config: tokio_postgres::Config,
    timeout: Duration,
) -> Result<Client, LabError> {
    // The connect timeout bounds the TCP or socket connect; a hung postmaster accepts the
    // connection in the kernel and never answers the startup packet, so the whole handshake needs
    // its own bound.
    let connecting = tokio::time::timeout(timeout, config.connect(NoTls)).await;
    let (client, connection) = match connecting {
        Ok(Ok(pair)) => pair,
        Ok(Err(source)) => {
            return Err(LabError::Sql {
                node: node.to_owned(),
                what: "connect".to_owned(),
                source,
            })
        }
        Err(_) => {
            return Err(LabError::Timeout {
                node: node.to_owned(),
                awaited: "a connection to be accepted".to_owned(),
                waited: timeout,
                last_seen: "no answer to the startup packet".to_owned(),
            })
        }
    };
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes; either is normal.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `sql` (simple protocol, several statements allowed), bounded by `timeout`.
pub(crate) async fn execute(
    client: &Client,
    node: &str,
    sql: &str,
    timeout: Duration,
) -> Result<(), LabError> {
    match tokio::time::timeout(timeout, client.batch_execute(sql)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(LabError::Sql {
            node: node.to_owned(),
            what: format!("run `{sql}`"),
            source,
        }),
        Err(_) => Err(LabError::Timeout {
            node: node.to_owned(),
            awaited: format!("`{sql}` to finish"),
            waited: timeout,
            last_seen: "no answer".to_owned(),
        }),
    }
}

/// Runs a query that returns one row, bounded by `timeout`.
pub(crate) async fn query_one(
    client: &Client,
    node: &str,
    sql: &str,
    timeout: Duration,
) -> Result<tokio_postgres::Row, LabError> {
    match tokio::time::timeout(timeout, client.query_one(sql, &[])).await {
        Ok(Ok(row)) => Ok(row),
        Ok(Err(source)) => Err(LabError::Sql {
            node: node.to_owned(),
            what: format!("run `{sql}`"),
            source,
        }),
        Err(_) => Err(LabError::Timeout {
            node: node.to_owned(),
            awaited: format!("`{sql}` to answer"),
            waited: timeout,
            last_seen: "no answer".to_owned(),
        }),
    }
}

/// Parses PostgreSQL's `X/Y` LSN text into a byte position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    (high <= u32::MAX as u64 && low <= u32::MAX as u64).then_some((high << 32) | low)
}

/// Formats a byte position as PostgreSQL's `X/Y` LSN text.
pub fn format_lsn(position: u64) -> String {
    format!("{:X}/{:X}", position >> 32, position & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_round_trips() {
        for text in ["0/0", "0/3000148", "2/9F00A120", "FFFFFFFF/FFFFFFFF"] {
            assert_eq!(format_lsn(parse_lsn(text).unwrap()), text);
        }
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("nonsense"), None);
        assert_eq!(parse_lsn("1FFFFFFFF/0"), None);
    }

    #[test]
    fn a_missing_bindir_names_the_install_command() {
        let error = LabError::PgBinariesMissing {
            bindir: PathBuf::from("/nowhere"),
            binary: "initdb",
        };
        assert!(error.to_string().contains("`initdb`"));
        assert!(error
            .hint()
            .unwrap()
            .contains("apt-get install postgresql-15"));
    }
}
