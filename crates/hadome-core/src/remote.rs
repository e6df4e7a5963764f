//! Where hadome's actions run (issue 15): on this machine, or on a host reached over SSH; and
//! the built-in actions for Debian's PostgreSQL layout.
//!
//! A `[[host]]` with `ssh` is reached with OpenSSH's client, the host key checked against the
//! `known_hosts` file it names (never disabled, never learnt on first use), with its own key and
//! user, the connection bounded. Pure: this module builds the argv that runs a command there;
//! the runners (the executor, the observer's host facts) run it, bounded.
//!
//! An instance with `actions = "debian"` is a cluster of `postgresql-common`'s layout
//! (`pg_ctlcluster`, `postgresql@VERSION-NAME.service`, `/etc/postgresql/VERSION/NAME`): hadome
//! starts, stops, fences, promotes, rebuilds and repoints it itself, and needs no argv command.

use std::path::PathBuf;

/// `connect_timeout_seconds` when unset.
pub const DEFAULT_SSH_CONNECT_TIMEOUT_SECONDS: f64 = 5.0;

/// How hadome reaches a host over SSH (`ssh = { … }` in its `[[host]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SshAccess {
    /// The address or DNS name sshd listens on.
    pub address: String,
    /// sshd's port (22 by default).
    pub port: u16,
    /// The remote user.
    pub user: String,
    /// The private key hadome authenticates with (`IdentitiesOnly`: no agent, no other key).
    pub identity_file: PathBuf,
    /// The known_hosts file holding the host's key: an unknown or changed key refuses the
    /// connection (`StrictHostKeyChecking=yes`).
    pub known_hosts: PathBuf,
    /// How long connecting may take, TCP and SSH handshake (`ConnectTimeout`); a connection that
    /// goes silent afterwards is dropped after about as long (`ServerAliveInterval`).
    pub connect_timeout_seconds: f64,
}

impl SshAccess {
    /// The argv that runs `remote` (an argv, never a shell string of the estate's) on the host:
    /// `ssh` with the checks that make it fail closed, then the command, each word quoted for
    /// the remote shell, so an argument is one argument there too.
    pub fn command(&self, remote: &[String]) -> Vec<String> {
        let timeout = self.connect_timeout_seconds.ceil().max(1.0) as u64;
        let alive = timeout.div_ceil(2).max(1);
        let mut argv: Vec<String> = vec!["ssh".into()];
        for option in [
            "BatchMode=yes".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "PasswordAuthentication=no".to_owned(),
            "KbdInteractiveAuthentication=no".to_owned(),
            format!("ConnectTimeout={timeout}"),
            format!("ServerAliveInterval={alive}"),
            "ServerAliveCountMax=2".to_owned(),
            "ControlMaster=no".to_owned(),
            "ControlPath=none".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            argv.push("-o".into());
            argv.push(option);
        }
        argv.extend([
            "-T".into(),
            "-i".into(),
            self.identity_file.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-l".into(),
            self.user.clone(),
            "--".into(),
            self.address.clone(),
        ]);
        argv.push(
            remote
                .iter()
                .map(|word| shell_quote(word))
                .collect::<Vec<_>>()
                .join(" "),
        );
        argv
    }

    /// `user@address:port`, for messages.
    pub fn destination(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }
}

/// `word` quoted for a POSIX shell: unchanged when it is made of safe characters only, else in
/// single quotes (a `'` inside written `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+' | '%')
        });
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A cluster of Debian's layout: `VERSION/NAME`, as `pg_lsclusters` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianCluster {
    /// The major version (`15`).
    pub version: String,
    /// The cluster's name (`main`).
    pub name: String,
}

impl DebianCluster {
    /// `15/main` into a cluster; `None` unless it is a major version (digits) and a name of
    /// a-z, A-Z, 0-9, `-`, `_` and `.` (what `pg_createcluster` accepts, without `/`).
    pub fn parse(text: &str) -> Option<DebianCluster> {
        let (version, name) = text.split_once('/')?;
        let version_ok = !version.is_empty()
            && version.len() <= 3
            && version.chars().all(|c| c.is_ascii_digit());
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        (version_ok && name_ok).then(|| DebianCluster {
            version: version.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Its systemd unit, `postgresql@15-main.service`.
    pub fn unit(&self) -> String {
        format!("postgresql@{}-{}.service", self.version, self.name)
    }

    /// Its data directory when `data_dir` is not set: `/var/lib/postgresql/15/main`.
    pub fn default_data_dir(&self) -> PathBuf {
        PathBuf::from(format!(
            "/var/lib/postgresql/{}/{}",
            self.version, self.name
        ))
    }
}

impl std::fmt::Display for DebianCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.version, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> SshAccess {
        SshAccess {
            address: "10.0.0.1".into(),
            port: 2222,
            user: "root".into(),
            identity_file: "/etc/hadome/id_ed25519".into(),
            known_hosts: "/etc/hadome/known_hosts".into(),
            connect_timeout_seconds: 5.0,
        }
    }

    #[test]
    fn the_command_checks_the_host_key_and_quotes_every_word() {
        let argv = access().command(&[
            "touch".into(),
            "/data/it's here".into(),
            "$(reboot)".into(),
            "".into(),
        ]);
        assert_eq!(argv[0], "ssh");
        assert!(argv.contains(&"StrictHostKeyChecking=yes".to_owned()));
        assert!(argv.contains(&"UserKnownHostsFile=/etc/hadome/known_hosts".to_owned()));
        assert!(argv.contains(&"BatchMode=yes".to_owned()));
        assert!(argv.contains(&"ConnectTimeout=5".to_owned()));
        assert!(!argv
            .iter()
            .any(|word| word.contains("StrictHostKeyChecking=no")));
        let dash = argv.iter().position(|word| word == "--").unwrap();
        assert_eq!(argv[dash + 1], "10.0.0.1");
        assert_eq!(argv[dash + 2], r"touch '/data/it'\''s here' '$(reboot)' ''");
        assert_eq!(argv.len(), dash + 3);
    }

    #[test]
    fn a_destination_that_looks_like_an_option_stays_a_destination() {
        let mut access = access();
        access.address = "-oProxyCommand=reboot".into();
        let argv = access.command(&["true".into()]);
        let dash = argv.iter().position(|word| word == "--").unwrap();
        assert_eq!(argv[dash + 1], "-oProxyCommand=reboot");
    }

    #[test]
    fn debian_clusters_parse_as_pg_lsclusters_names_them() {
        let cluster = DebianCluster::parse("15/main").unwrap();
        assert_eq!(cluster.unit(), "postgresql@15-main.service");
        assert_eq!(
            cluster.default_data_dir(),
            PathBuf::from("/var/lib/postgresql/15/main")
        );
        assert_eq!(cluster.to_string(), "15/main");
        for bad in [
            "15", "main", "15/", "/main", "x/main", "15/ma in", "15/../x", "15/a/b",
        ] {
            assert_eq!(DebianCluster::parse(bad), None, "{bad}");
        }
    }
}
