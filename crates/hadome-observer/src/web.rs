//! The services behind routes and the nginx instances in front of them (issue 14, incident E),
//! as [`ServiceProbe`]s and [`NginxProbe`]s.
//!
//! In incident E nginx was reloaded with a literal `proxy_pass http://app-1:3000` while app-1's
//! container had exited; the name fell through to the console on the same port. The rules, in
//! MUST language:
//! - [`observe_services`] MUST run every service's `running_command` concurrently, each bounded
//!   by the estate's probe timeout: exit 0 is `Ok(true)`, another exit status `Ok(false)`, a
//!   command that cannot start or does not end in time `Err` (unknown, never "running"). A
//!   service without a `running_command` MUST be absent from the map.
//! - [`observe_nginx`] MUST run each nginx's `dump_command` (`nginx -T`) concurrently, read it
//!   with `hadome_nginx::read` and lint it with `hadome_nginx::lint::lint`, the context being
//!   the estate's services (`address_host`, `port`, running unless its probe said `Ok(false)`:
//!   a service whose state is unknown or unwatched counts as running, so the lint never invents
//!   a stopped upstream) and every route's URL host and port. Each finding MUST become a
//!   [`LintHit`] (rule, `error` for the lint's `Error` severity, place as `file:line`, message,
//!   fix). A dump command that fails, or prints what is not an `nginx -T` dump, MUST give
//!   `lint: Err(why)`, never an empty list of findings.
//! - With `with_test`, [`observe_nginx`] MUST also run `test_command` (`nginx -t`): `Ok(())` on
//!   exit 0, `Err` with its stderr (or stdout) trimmed otherwise; without it `test` is `None`.
//! - A command MUST be run as an argv (no shell), with no standard input, and killed by its PID
//!   when its bound runs out. The dump and test commands are bounded by the larger of the probe
//!   timeout and [`crate::host::LEAST_BOUND`]: they may cross a network (`ssh web1 nginx -T`).

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::web::{LintHit, Nginx, NginxProbe, ServiceProbe};
use hadome_nginx::lint::{lint, LintContext, RouteHost, Service, Severity};

/// The estate's probe timeout, or why it is not one.
pub(crate) fn probe_bound(estate: &Estate) -> Result<Duration, String> {
    let seconds = estate.probe_timeout_seconds;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            format!(
                "not probed: probe_timeout_seconds = {seconds} is not a positive number of seconds"
            )
        })
}

/// Whether each service with a `running_command` runs, every command concurrently.
pub async fn observe_services(estate: &Estate) -> BTreeMap<String, ServiceProbe> {
    let bound = probe_bound(estate);
    let readings = estate.web.services.iter().filter_map(|service| {
        let argv = service.running_command.as_ref()?;
        let bound = bound.clone();
        Some(async move {
            let observed_at = crate::now();
            let running = match bound {
                Ok(bound) => run(argv, bound)
                    .await
                    .map(|output| output.status.success())
                    .map_err(|why| format!("its running_command {why}")),
                Err(why) => Err(why),
            };
            (
                service.name.clone(),
                ServiceProbe {
                    observed_at,
                    running,
                },
            )
        })
    });
    futures_util::future::join_all(readings)
        .await
        .into_iter()
        .collect()
}

/// Every nginx's configuration read and linted, and tested when `with_test`, concurrently.
pub async fn observe_nginx(
    estate: &Estate,
    services: &BTreeMap<String, ServiceProbe>,
    with_test: bool,
) -> BTreeMap<String, NginxProbe> {
    let context = lint_context(estate, services);
    let bound = probe_bound(estate).map(|bound| bound.max(crate::host::LEAST_BOUND));
    let readings = estate.web.nginx.iter().map(|nginx| {
        let context = &context;
        let bound = bound.clone();
        async move {
            let observed_at = crate::now();
            let probe = match bound {
                Ok(bound) => {
                    let (lint, test) = tokio::join!(read_and_lint(nginx, context, bound), async {
                        if with_test {
                            Some(test(nginx, bound).await)
                        } else {
                            None
                        }
                    });
                    NginxProbe {
                        observed_at,
                        lint,
                        test,
                    }
                }
                Err(why) => NginxProbe {
                    observed_at,
                    lint: Err(why.clone()),
                    test: with_test.then_some(Err(why)),
                },
            };
            (nginx.name.clone(), probe)
        }
    });
    futures_util::future::join_all(readings)
        .await
        .into_iter()
        .collect()
}

/// The lint's context: the estate's services with what their probes said, and the routes.
fn lint_context(estate: &Estate, services: &BTreeMap<String, ServiceProbe>) -> LintContext {
    LintContext {
        services: estate
            .web
            .services
            .iter()
            .map(|service| Service {
                name: service.name.clone(),
                host: service.address_host.clone(),
                port: service.port,
                running: services
                    .get(&service.name)
                    .is_none_or(|probe| probe.running != Ok(false)),
            })
            .collect(),
        routes: estate
            .web
            .routes
            .iter()
            .map(|route| RouteHost {
                host: route.url.host().to_owned(),
                port: route.url.port(),
            })
            .collect(),
    }
}

async fn read_and_lint(
    nginx: &Nginx,
    context: &LintContext,
    bound: Duration,
) -> Result<Vec<LintHit>, String> {
    let output = run(&nginx.dump_command, bound)
        .await
        .map_err(|why| format!("its dump_command {why}"))?;
    if !output.status.success() {
        return Err(format!(
            "its dump_command `{}` {}: {}",
            nginx.dump_command.join(" "),
            output.status,
            said(&output)
        ));
    }
    let dump = String::from_utf8_lossy(&output.stdout);
    let model = hadome_nginx::read(&dump).map_err(|error| {
        format!(
            "the output of its dump_command `{}` is not a configuration nginx dumped: {error}",
            nginx.dump_command.join(" ")
        )
    })?;
    Ok(lint(&model, context)
        .into_iter()
        .map(|finding| LintHit {
            rule: finding.rule,
            error: finding.severity == Severity::Error,
            place: finding.place.to_string(),
            message: finding.message,
            fix: finding.fix,
        })
        .collect())
}

async fn test(nginx: &Nginx, bound: Duration) -> Result<(), String> {
    let output = run(&nginx.test_command, bound)
        .await
        .map_err(|why| format!("its test_command {why}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(said(&output))
    }
}

/// What a command said: its stderr trimmed, else its stdout, else its exit status.
fn said(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = [stderr.trim(), stdout.trim()]
        .into_iter()
        .find(|text| !text.is_empty())
        .map_or_else(
            || format!("{} with no output", output.status),
            str::to_owned,
        );
    text
}

/// Runs `argv` within `bound`; the error completes "its … command …".
async fn run(argv: &[String], bound: Duration) -> Result<Output, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("is empty: give an argv, e.g. `[\"nginx\", \"-T\"]`".to_owned());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("`{program}` did not start: {error}"))?;
    match tokio::time::timeout(bound, child.wait_with_output()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(format!("`{program}` failed: {error}")),
        // Dropped: the child is killed by its PID (kill_on_drop).
        Err(_) => Err(format!(
            "`{program}` did not end within {} (probe_timeout_seconds)",
            crate::seconds(bound)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_command_says_its_stderr_then_its_stdout_then_its_status() {
        assert_eq!(said(&output(1, "out\n", "  err line\n")), "err line");
        assert_eq!(said(&output(1, " out \n", "\n")), "out");
        assert_eq!(said(&output(1, "", "")), "exit status: 1 with no output");
    }

    #[tokio::test]
    async fn an_empty_argv_or_a_slow_command_is_an_error() {
        let empty = run(&[], Duration::from_secs(1)).await.unwrap_err();
        assert!(empty.contains("is empty"), "{empty}");
        let slow = run(&["sleep".into(), "5".into()], Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(slow.contains("did not end within 0.1 s"), "{slow}");
    }
}
