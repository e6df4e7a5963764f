//! The one runner of configured argv commands: placeholders filled in [`fill`], the command run
//! (never through a shell) and bounded by [`COMMAND_TIMEOUT`] in [`run_argv`], and shown without
//! passwords in [`shown_argv`].
//!
//! A command's result names its whole command line, as journaled and logged: `{source_conninfo}`
//! may carry a password, which [`shown_argv`] strips.

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// How long a configured command (start, stop, fence, rebuild, restore, follow) may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// The values a configured command's placeholders stand for; a placeholder whose value is
/// `None` is left as written.
///
/// Which command gets which: `fence_command` gets `{target}` and `{data_dir}`;
/// `rebuild_command` and `follow_command` also `{source}` and `{source_conninfo}`; a backup's
/// `restore_command` `{copy}`, `{target}` and `{data_dir}`; a backup's `command` `{output}` and
/// `{snapshot}`; a host's `reboot_command`, `image_command`, `verify_image_command` and
/// `delete_command` `{host}`, and the image commands `{image}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placeholders<'a> {
    /// `{target}`: the instance acted on.
    pub target: Option<&'a str>,
    /// `{source}`: the instance it copies or follows.
    pub source: Option<&'a str>,
    /// `{source_conninfo}`: the source's conninfo (it may hold a password).
    pub source_conninfo: Option<&'a str>,
    /// `{data_dir}`: the target's data directory.
    pub data_dir: Option<&'a Path>,
    /// `{copy}`: the backup copy restored.
    pub copy: Option<&'a Path>,
    /// `{output}`: where a backup command writes its copy.
    pub output: Option<&'a Path>,
    /// `{snapshot}`: the exported snapshot a dump reads.
    pub snapshot: Option<&'a str>,
    /// `{host}`: the host acted on.
    pub host: Option<&'a str>,
    /// `{image}`: the image of the host taken or verified.
    pub image: Option<&'a str>,
}

/// `argv` with every placeholder that has a value replaced, in every argument (an argument may
/// hold several, or text around one).
///
/// One argument in gives one argument out: a value is put inside the argument that names it, so
/// a value holding spaces, `;`, a newline or a leading `-` never becomes a second argument or an
/// option of its own (no shell is involved). Each argument is read once, left to right, and the
/// values put in are never read again: a value that itself holds `{data_dir}` (a backup copy's
/// file name, a conninfo) stays as it is (issue 17).
pub fn fill(argv: &[String], values: &Placeholders<'_>) -> Vec<String> {
    let path = |path: Option<&Path>| path.map(|path| path.display().to_string());
    let replacements = [
        ("copy", path(values.copy)),
        ("output", path(values.output)),
        ("snapshot", values.snapshot.map(str::to_owned)),
        ("source_conninfo", values.source_conninfo.map(str::to_owned)),
        ("source", values.source.map(str::to_owned)),
        ("target", values.target.map(str::to_owned)),
        ("data_dir", path(values.data_dir)),
        ("host", values.host.map(str::to_owned)),
        ("image", values.image.map(str::to_owned)),
    ];
    let value = |name: &str| {
        replacements
            .iter()
            .find(|(placeholder, _)| *placeholder == name)
            .and_then(|(_, value)| value.as_deref())
    };
    argv.iter()
        .map(|argument| {
            let mut filled = String::with_capacity(argument.len());
            let mut rest = argument.as_str();
            while let Some(open) = rest.find('{') {
                filled.push_str(&rest[..open]);
                let after = &rest[open + 1..];
                match after
                    .find(['{', '}'])
                    .filter(|end| after[*end..].starts_with('}'))
                    .and_then(|end| Some((end, value(&after[..end])?)))
                {
                    Some((end, value)) => {
                        filled.push_str(value);
                        rest = &after[end + 1..];
                    }
                    None => {
                        filled.push('{');
                        rest = after;
                    }
                }
            }
            filled.push_str(rest);
            filled
        })
        .collect()
}

/// A command that exited 0: its command line (without passwords) and the last line it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The command line, as [`shown_argv`] shows it.
    pub shown: String,
    /// The last line of its standard output.
    pub said: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.said.is_empty() {
            write!(formatter, "`{}` exited 0 (printing nothing)", self.shown)
        } else {
            write!(formatter, "`{}` exited 0: {}", self.shown, self.said)
        }
    }
}

/// Why a command did not run to a successful end.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configured argv is empty.
    #[error("the command is empty")]
    Empty,
    /// The program could not be started (not found, not executable).
    #[error("could not start `{program}`: {error}")]
    Start {
        /// The program, as configured.
        program: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// It ran past its bound and was killed.
    #[error("`{program}` did not finish within {} s", .timeout.as_secs())]
    TimedOut {
        /// The program, as configured.
        program: String,
        /// The bound it ran past.
        timeout: Duration,
    },
    /// It exited with a failure.
    #[error("`{shown}` exited with {status}: {said}")]
    Failed {
        /// The command line, as [`shown_argv`] shows it.
        shown: String,
        /// How it exited.
        status: ExitStatus,
        /// The last line of its standard error (of its standard output when it wrote no error).
        said: String,
    },
}

/// Runs an argv command (never through a shell), bounded by [`COMMAND_TIMEOUT`]: killed when it
/// runs longer. Its standard input is empty.
pub async fn run_argv(argv: &[String]) -> Result<Ran, CommandError> {
    run_within(argv, COMMAND_TIMEOUT).await
}

async fn run_within(argv: &[String], timeout: Duration) -> Result<Ran, CommandError> {
    run_shown(argv, shown_argv(argv), timeout).await
}

/// Runs `argv` where instance `name` lives (over SSH when its host says so, `estate.on_host_of`),
/// bounded by [`COMMAND_TIMEOUT`]; journaled as `on HOST: ARGV` when remote.
pub async fn run_on_host_of(
    estate: &hadome_core::estate::Estate,
    name: &str,
    argv: &[String],
) -> Result<Ran, CommandError> {
    run_where(estate, name, argv, shown_argv(argv), COMMAND_TIMEOUT).await
}

/// Runs `argv` where instance `name` lives, shown as `shown` (prefixed with `on HOST: ` when
/// remote), bounded by `timeout`.
pub(crate) async fn run_where(
    estate: &hadome_core::estate::Estate,
    name: &str,
    argv: &[String],
    shown: String,
    timeout: Duration,
) -> Result<Ran, CommandError> {
    let wrapped = estate.on_host_of(name, argv);
    if wrapped.as_slice() == argv {
        return run_shown(argv, shown, timeout).await;
    }
    let host = estate
        .instance(name)
        .map_or_else(String::new, |instance| instance.host.clone());
    run_shown(&wrapped, format!("on {host}: {shown}"), timeout).await
}

/// Runs `argv`, naming it `shown` in what it returns (never a password), bounded by `timeout`.
pub(crate) async fn run_shown(
    argv: &[String],
    shown: String,
    timeout: Duration,
) -> Result<Ran, CommandError> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err(CommandError::Empty);
    };
    let mut process = tokio::process::Command::new(program);
    process
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, process.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            return Err(CommandError::Start {
                program: program.clone(),
                error,
            })
        }
        Err(_) => {
            return Err(CommandError::TimedOut {
                program: program.clone(),
                timeout,
            })
        }
    };
    let said = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    };
    if output.status.success() {
        Ok(Ran {
            shown,
            said: said(&output.stdout),
        })
    } else {
        // A failure's last lines, not only its last: hadome's own commands end with a `hint:`
        // line after the `error:` that says what went wrong.
        let lines: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        let mut detail = lines[lines.len().saturating_sub(4)..].join(" | ");
        if detail.is_empty() {
            detail = said(&output.stdout);
        }
        Err(CommandError::Failed {
            shown,
            status: output.status,
            said: detail,
        })
    }
}

/// A command line as it is logged and journaled: an argument that is (or holds) a connection
/// string with a password — `password=…`, or a `postgres://user:secret@…` URI, as
/// `{source_conninfo}` becomes when the instance's conninfo has one — is shown without it.
pub fn shown_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|argument| {
            let lower = argument.to_ascii_lowercase();
            if lower.contains("password=")
                || lower.starts_with("postgres://")
                || lower.starts_with("postgresql://")
            {
                hadome_observer::strip_password(argument)
            } else {
                argument.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn command_lines_are_shown_without_passwords() {
        let shown = shown_argv(&argv(&[
            "pg_basebackup",
            "-d",
            "host=db-1 user=replicator password=hunter2 dbname=postgres",
            "--dbname=host=db-1 password='two words'",
            "postgres://replicator:s3cret@db-1:5432/postgres",
            "--no-password",
            "-D",
            "/srv/db-3",
        ]));
        for secret in ["hunter2", "two words", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("host=db-1 user=replicator dbname=postgres"),
            "{shown}"
        );
        assert!(shown.contains("--no-password -D /srv/db-3"), "{shown}");
        assert!(shown.starts_with("pg_basebackup -d "), "{shown}");
    }

    #[test]
    fn placeholders_with_a_value_are_filled_and_the_others_left() {
        let data_dir = PathBuf::from("/srv/db-3");
        let values = Placeholders {
            target: Some("db-3"),
            source: Some("db-1"),
            source_conninfo: Some("host=db-1 port=5432"),
            data_dir: Some(&data_dir),
            ..Placeholders::default()
        };
        let filled = fill(
            &argv(&[
                "rebuild",
                "--from={source}",
                "{source_conninfo}",
                "{target}:{data_dir}",
                "{copy}",
            ]),
            &values,
        );
        assert_eq!(
            filled,
            argv(&[
                "rebuild",
                "--from=db-1",
                "host=db-1 port=5432",
                "db-3:/srv/db-3",
                "{copy}"
            ])
        );
    }

    #[test]
    fn a_host_command_gets_its_host_and_image() {
        let values = Placeholders {
            host: Some("s512"),
            image: Some("s512-final-20270115T080000Z"),
            ..Placeholders::default()
        };
        assert_eq!(
            fill(
                &argv(&[
                    "cloud",
                    "image",
                    "create",
                    "--server={host}",
                    "{image}",
                    "{target}"
                ]),
                &values
            ),
            argv(&[
                "cloud",
                "image",
                "create",
                "--server=s512",
                "s512-final-20270115T080000Z",
                "{target}"
            ])
        );
    }

    /// Issue 17: a placeholder is one argument, whatever its value holds, and a value is never
    /// read for placeholders again.
    #[test]
    fn a_value_never_splits_adds_or_expands_arguments() {
        let data_dir = PathBuf::from("/srv/db 3; rm -rf /\n--force");
        let copy = PathBuf::from("/srv/backups/nightly-{data_dir}-{target}.dump");
        let values = Placeholders {
            target: Some("--help"),
            source_conninfo: Some("host=db-1 {data_dir} options='-c x=1'"),
            data_dir: Some(&data_dir),
            copy: Some(&copy),
            ..Placeholders::default()
        };
        let filled = fill(
            &argv(&[
                "restore",
                "{copy}",
                "{source_conninfo}",
                "{target}",
                "--into={data_dir}",
                "{{target}}",
                "{unknown}{target",
            ]),
            &values,
        );
        assert_eq!(
            filled,
            argv(&[
                "restore",
                "/srv/backups/nightly-{data_dir}-{target}.dump",
                "host=db-1 {data_dir} options='-c x=1'",
                "--help",
                "--into=/srv/db 3; rm -rf /\n--force",
                "{--help}",
                "{unknown}{target",
            ])
        );
    }

    /// Issue 17: a real program, run with the filled argv, receives exactly one argument per
    /// placeholder, byte for byte, however hostile the value: no shell, no splitting.
    #[tokio::test]
    async fn a_real_command_receives_each_hostile_value_as_one_argument() {
        let scratch = tempfile::tempdir().unwrap();
        let record = scratch.path().join("argv");
        let data_dir = PathBuf::from("/srv/db 3;reboot\n--force");
        let values = Placeholders {
            target: Some("-rf"),
            source_conninfo: Some("host=db-1 application_name='$(reboot) `id` \"x\"'"),
            data_dir: Some(&data_dir),
            ..Placeholders::default()
        };
        let filled = fill(
            &argv(&[
                "sh",
                "-c",
                "printf '%s\\0' \"$@\" > \"$0\"",
                record.to_str().unwrap(),
                "{target}",
                "{source_conninfo}",
                "--into={data_dir}",
            ]),
            &values,
        );
        run_argv(&filled).await.unwrap();
        let recorded = std::fs::read(&record).unwrap();
        let received: Vec<&[u8]> = recorded
            .strip_suffix(b"\0")
            .unwrap()
            .split(|byte| *byte == 0)
            .collect();
        assert_eq!(
            received,
            [
                b"-rf".as_slice(),
                b"host=db-1 application_name='$(reboot) `id` \"x\"'",
                b"--into=/srv/db 3;reboot\n--force",
            ]
        );
    }

    #[tokio::test]
    async fn a_command_says_how_it_ended() {
        let ran = run_argv(&argv(&["sh", "-c", "echo first; echo last"]))
            .await
            .unwrap();
        assert_eq!(
            ran.to_string(),
            "`sh -c echo first; echo last` exited 0: last"
        );
        let failed = run_argv(&argv(&["sh", "-c", "echo out; echo why >&2; exit 3"]))
            .await
            .unwrap_err();
        assert_eq!(
            failed.to_string(),
            "`sh -c echo out; echo why >&2; exit 3` exited with exit status: 3: why"
        );
        let missing = run_argv(&argv(&["/nonexistent/hadome-test"]))
            .await
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("could not start `/nonexistent/hadome-test`: "),
            "{missing}"
        );
        assert_eq!(
            run_argv(&[]).await.unwrap_err().to_string(),
            "the command is empty"
        );
        let hung = run_within(&argv(&["sleep", "30"]), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(
            hung.to_string()
                .starts_with("`sleep` did not finish within "),
            "{hung}"
        );
    }
}
