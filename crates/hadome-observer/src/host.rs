//! Hosts' facts: each declared host read concurrently — through its `facts_command` (which
//! prints `hadome host-facts`'s JSON: `ssh HOST hadome host-facts`, or the lab's `hadome lab
//! exec`; on the host itself when it is reached over SSH, `ssh = { … }`), or, with none, on
//! this machine by `hadome-host` (over SSH: `hadome host-facts` there) — each bounded, a failure becoming
//! that host's `Unreachable` fact, never an error. Reading a host changes nothing on it.

use std::collections::BTreeMap;
use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::host::{Host, HostOutcome, HostProbe};

use crate::now as wall_clock;

/// The least time a host's facts may take (the bound is the larger of this and the probe
/// timeout): a `facts_command` crosses a network or enters a
/// container, and reads unit files and the journal.
pub const LEAST_BOUND: Duration = Duration::from_secs(5);

/// Every declared host's facts, read concurrently.
pub async fn observe_hosts(estate: &Estate) -> BTreeMap<String, HostProbe> {
    let bound = LEAST_BOUND.max(Duration::from_secs_f64(
        estate.probe_timeout_seconds.max(0.0),
    ));
    let readings = estate
        .hosts
        .iter()
        .map(|host| async move { (host.name.clone(), observe_host(host, bound).await) });
    futures_util::future::join_all(readings)
        .await
        .into_iter()
        .collect()
}

/// One host's facts, within `bound`.
pub async fn observe_host(host: &Host, bound: Duration) -> HostProbe {
    let observed_at = wall_clock();
    // A host reached over SSH is read there: its facts_command (`hadome host-facts` when it
    // has none) runs on it, never here, where it would read this machine's facts as its own.
    let outcome = match (&host.facts_command, &host.ssh) {
        (Some(argv), Some(ssh)) => from_command(&ssh.command(argv), bound).await,
        (None, Some(ssh)) => {
            from_command(&ssh.command(&["hadome".into(), "host-facts".into()]), bound).await
        }
        (Some(argv), None) => from_command(argv, bound).await,
        (None, None) => here(host, bound).await,
    };
    HostProbe {
        observed_at,
        outcome,
    }
}

async fn from_command(argv: &[String], bound: Duration) -> HostOutcome {
    let unreachable = |error: String| HostOutcome::Unreachable { error };
    let Some((program, args)) = argv.split_first() else {
        return unreachable("its facts_command is empty".to_owned());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(error) => {
            return unreachable(format!(
                "its facts_command `{program}` did not start: {error}"
            ))
        }
    };
    let output = match tokio::time::timeout(bound, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return unreachable(format!("its facts_command failed: {error}")),
        // Dropped: the child is killed by its PID.
        Err(_) => {
            return unreachable(format!(
                "its facts_command printed nothing within {} s",
                bound.as_secs_f64()
            ))
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        return unreachable(format!("its facts_command {}: {last}", output.status));
    }
    match std::str::from_utf8(&output.stdout)
        .map_err(|error| format!("its facts_command printed something that is not UTF-8: {error}"))
        .and_then(|text| {
            hadome_host::from_json(text)
                .map_err(|error| format!("its facts_command's output: {error}"))
        }) {
        Ok((facts, _)) => HostOutcome::Answered(Box::new(facts)),
        Err(error) => unreachable(error),
    }
}

async fn here(host: &Host, bound: Duration) -> HostOutcome {
    let mut options = hadome_host::ReadOptions::local(host.data_paths.clone());
    options.command_timeout = bound;
    match tokio::task::spawn_blocking(move || hadome_host::read(&options)).await {
        Ok(Ok(facts)) => HostOutcome::Answered(Box::new(facts)),
        Ok(Err(error)) => HostOutcome::Unreachable {
            error: error.to_string(),
        },
        Err(error) => HostOutcome::Unreachable {
            error: format!("reading this host's facts failed: {error}"),
        },
    }
}
