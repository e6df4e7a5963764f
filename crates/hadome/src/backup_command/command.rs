//! How `hadome backup run` runs the backup's command: to its end, bounded in time, ended by
//! SIGTERM or SIGINT, and described by its program's name only (never its arguments, which may
//! hold a password).

use std::time::Duration;

use hadome_core::finding::human_duration;
use tokio::signal::unix::{signal, SignalKind};

/// How long a backup's command may run before hadome gives up on it (and keeps nothing).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// Runs `argv` to its end (bounded by [`COMMAND_TIMEOUT`]); `Err` says how it failed.
///
/// Not `hadome_executor::run_argv`: that one names the whole command line in its result, and a
/// backup's command usually carries a conninfo, which may hold a password; this result is
/// journaled and sent to the webhook, so it names the program only.
pub(super) async fn run_to_end(argv: &[String]) -> Result<(), CommandFailed> {
    let Some((program, arguments)) = argv.split_first() else {
        return Err(CommandFailed::Empty);
    };
    let program = program.clone();
    let mut process = tokio::process::Command::new(&program);
    process
        .args(arguments)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SIGTERM or SIGINT (a stopping daemon, a person's Ctrl-C) ends the command — the dropped
    // future kills it — and the run fails like any other: its output is moved aside, journaled.
    let watch = |signal: &'static str| move |error| CommandFailed::Watch { signal, error };
    let mut terminate = signal(SignalKind::terminate()).map_err(watch("SIGTERM"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(watch("SIGINT"))?;
    let output = tokio::select! {
        ran = tokio::time::timeout(COMMAND_TIMEOUT, process.output()) => ran,
        _ = terminate.recv() => return Err(CommandFailed::Interrupted { signal: "SIGTERM", program }),
        _ = interrupt.recv() => return Err(CommandFailed::Interrupted { signal: "SIGINT", program }),
    };
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(CommandFailed::Start { program, error }),
        Err(_) => return Err(CommandFailed::Timeout { program }),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.trim().lines().last().unwrap_or("").to_owned();
    Err(match output.status.code() {
        Some(code) => CommandFailed::Exited {
            program,
            code,
            last,
        },
        None => CommandFailed::Killed { program, last },
    })
}

/// How a backup's command failed; the text names the program only, never its arguments.
#[derive(Debug, thiserror::Error)]
pub(super) enum CommandFailed {
    #[error("the command is empty")]
    Empty,
    #[error("cannot watch for {signal}: {error}")]
    Watch {
        signal: &'static str,
        error: std::io::Error,
    },
    #[error("interrupted by {signal}: `{program}` was killed")]
    Interrupted {
        signal: &'static str,
        program: String,
    },
    #[error("could not start `{program}`: {error}")]
    Start {
        program: String,
        error: std::io::Error,
    },
    #[error("`{program}` did not finish within {}", human_duration(COMMAND_TIMEOUT.as_secs_f64()))]
    Timeout { program: String },
    #[error("`{program}` exited with {code}: {last}")]
    Exited {
        program: String,
        code: i32,
        last: String,
    },
    #[error("`{program}` was killed by a signal: {last}")]
    Killed { program: String, last: String },
}
