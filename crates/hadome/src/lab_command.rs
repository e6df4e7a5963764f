//! `hadome lab …`: the lab library behind the command line, and how its answers are printed.

use std::future::Future;
use std::time::Duration;

use hadome_lab::{Fault, Lab, LabOptions, LoadOptions, Topology};

use crate::cli_lab::LabCommand;
use crate::error::CliError;
use crate::exit_code;
use crate::output::{self, print_json, print_text, Table};

mod placed;
mod status_table;
mod web;

use placed::{placed_reading, target};
use status_table::status_table;

/// Runs one `hadome lab` command; returns the exit code.
pub(crate) async fn run(command: LabCommand) -> Result<u8, CliError> {
    match command {
        LabCommand::Up {
            topology,
            tls,
            dir,
            json,
        } => {
            let topology = Topology::resolve(&topology)?;
            let hadome = std::env::current_exe().map_err(|source| {
                CliError::Lab(hadome_lab::LabError::Io {
                    action: "find the hadome executable",
                    path: "/proc/self/exe".into(),
                    source,
                })
            })?;
            let options = LabOptions {
                etcd_tls: tls,
                ..LabOptions::with_hadome_binary(hadome)
            };
            // Ctrl-C while the estate comes up drops the guard, which stops what started.
            let guard = until_interrupted(Lab::up(&topology, &dir.dir, &options)).await??;
            let lab = guard.keep();
            let status = lab.status().await?;
            if json.json {
                print_json(&status);
            } else {
                print_text(&format!(
                    "lab `{}` is up in {}\n\n{}\nTear it down with: hadome lab down --dir {}\n",
                    status.topology,
                    status.dir.display(),
                    status_table(&status),
                    status.dir.display()
                ));
            }
            Ok(exit_code::OK)
        }
        LabCommand::Status { dir, json } => {
            let status = Lab::open(&dir.dir)?.status().await?;
            if json.json {
                print_json(&status);
            } else {
                print_text(&format!(
                    "lab `{}` in {}\n\n{}",
                    status.topology,
                    status.dir.display(),
                    status_table(&status)
                ));
            }
            Ok(exit_code::OK)
        }
        LabCommand::Fault {
            dir,
            down_seconds,
            fixed,
            no_reload,
            fault,
            mut arguments,
            json,
        } => {
            let name = fault.as_str();
            web::deploy_flags(fixed, no_reload, name, &mut arguments)?;
            let fault = Fault::from_words(name, &arguments).map_err(|message| CliError::Usage {
                message: message.to_string(),
                hint: Some("see `hadome lab fault --help`".to_owned()),
            })?;
            let lab = Lab::open(&dir.dir)?;
            let report = match (&fault, down_seconds) {
                (_, None) => lab.fault(&fault).await?,
                (Fault::RebootHost(host), Some(down))
                    if lab.placed_host_names().contains(host) =>
                {
                    let down = seconds("--down-seconds", down)?;
                    hadome_lab::FaultReport {
                        fault: "reboot-host",
                        summary: lab.reboot_placed_host(host, down).await?,
                    }
                }
                (_, Some(_)) => {
                    return Err(CliError::Usage {
                        message: format!(
                            "`--down-seconds` applies to `reboot-host` of a placed host ({}), not to `{name} {}`",
                            lab.placed_host_names().join(", "),
                            arguments.join(" ")
                        ),
                        hint: Some(
                            "a container host reboots for real, at its own pace: leave `--down-seconds` out"
                                .to_owned(),
                        ),
                    })
                }
            };
            if json.json {
                print_json(
                    &serde_json::json!({"version": 1, "fault": report.fault, "summary": report.summary}),
                );
            } else {
                print_text(&format!("{}\n", report.summary));
            }
            Ok(exit_code::OK)
        }
        LabCommand::Rebuild {
            dir,
            target,
            from,
            json,
        } => {
            let report = Lab::open(&dir.dir)?.rebuild(&target, &from).await?;
            if json.json {
                print_json(&serde_json::json!({"version": 1, "rebuild": report}));
            } else {
                print_text(&format!("{}\n", report.summary));
            }
            Ok(exit_code::OK)
        }
        LabCommand::Restore {
            dir,
            target,
            from,
            json,
        } => {
            let report = Lab::open(&dir.dir)?.restore(&target, &from).await?;
            if json.json {
                print_json(&serde_json::json!({"version": 1, "restore": report}));
            } else {
                print_text(&format!("{}\n", report.summary));
            }
            Ok(exit_code::OK)
        }
        LabCommand::Load {
            dir,
            node,
            etcd,
            rate,
            duration,
            ack_log,
            commit_timeout,
            json,
        } => {
            let lab = Lab::open(&dir.dir)?;
            let commit_timeout = seconds("--commit-timeout", commit_timeout)?;
            let duration = duration
                .map(|value| seconds("--duration", value))
                .transpose()?;
            let target = target(&lab, node, etcd)?;
            let options = LoadOptions {
                node: target.clone().unwrap_or_else(|| "etcd".to_owned()),
                rate_per_second: rate,
                ack_log: ack_log.clone(),
                commit_timeout,
            };
            let stop = async move {
                match duration {
                    Some(duration) => tokio::select! {
                        _ = tokio::time::sleep(duration) => {}
                        _ = interrupted() => {}
                    },
                    None => interrupted().await,
                }
            };
            let (report, writes) = match target {
                Some(_) => (lab.load(&options, stop).await?, "commits"),
                None => (lab.load_etcd(&options, stop).await?, "puts"),
            };
            if json.json {
                print_json(&serde_json::json!({"version": 1, "load": report}));
            } else {
                let mut text = format!(
                    "{}: {} {writes} attempted, {} acknowledged, {} failed, {} unanswered when the load stopped, in {:.1} s (ack log: {})\n",
                    report.node,
                    report.attempted,
                    report.acknowledged,
                    report.failed,
                    report.attempted - report.acknowledged - report.failed,
                    report.seconds,
                    ack_log.display()
                );
                if let Some(error) = &report.last_error {
                    text.push_str(&format!("last failure: {error}\n"));
                }
                print_text(&text);
            }
            Ok(exit_code::OK)
        }
        LabCommand::Verify {
            dir,
            node,
            etcd,
            ack_log,
            json,
        } => {
            let lab = Lab::open(&dir.dir)?;
            let (report, writes) = match target(&lab, node, etcd)? {
                Some(node) => (lab.verify(&node, &ack_log).await?, "commits"),
                None => (lab.verify_etcd(&ack_log).await?, "puts"),
            };
            if json.json {
                print_json(&serde_json::json!({"version": 1, "verify": report}));
            } else if report.missing == 0 {
                print_text(&format!(
                    "{} has all {} acknowledged {writes}\n",
                    report.node, report.acknowledged
                ));
            } else {
                let sample: Vec<String> =
                    report.missing_sample.iter().map(i64::to_string).collect();
                print_text(&format!(
                    "{} is missing {} of {} acknowledged {writes} (first missing ids: {})\n",
                    report.node,
                    report.missing,
                    report.acknowledged,
                    sample.join(", ")
                ));
            }
            Ok(if report.missing == 0 {
                exit_code::OK
            } else {
                exit_code::FAILURE
            })
        }
        LabCommand::HostFacts { dir, host } => {
            let boots = Lab::open(&dir.dir)?.placed_host_boots(&host)?;
            output::print_json(&hadome_host::reading_to_json(&placed_reading(
                &host, &boots,
            )?));
            Ok(exit_code::OK)
        }
        LabCommand::Down { dir } => {
            let lab = Lab::open(&dir.dir)?;
            let processes = lab.pids().len();
            let shown = lab.dir().display().to_string();
            lab.down()?;
            print_text(&format!(
                "stopped {processes} processes by PID and removed {shown}\n"
            ));
            Ok(exit_code::OK)
        }
        LabCommand::Topologies => {
            let mut table = Table::new(["TOPOLOGY", "NODES"]);
            for name in hadome_lab::topology::BUILT_IN_NAMES {
                let topology = Topology::resolve(name)?;
                let nodes: Vec<String> = topology
                    .nodes
                    .iter()
                    .map(|node| {
                        let on = node
                            .host
                            .as_ref()
                            .map_or_else(String::new, |host| format!(" on {host}"));
                        match &node.upstream {
                            None => format!("{}{on} (primary)", node.name),
                            Some(upstream) => format!(
                                "{}{on} <- {upstream}{}",
                                node.name,
                                if node.synchronous { " (sync)" } else { "" }
                            ),
                        }
                    })
                    .collect();
                let hosts = topology
                    .hosts
                    .iter()
                    .map(|host| format!("host {}", host.name));
                let members = topology
                    .etcd
                    .iter()
                    .map(|member| format!("etcd {} on {}", member.name, member.host));
                let web = topology.web.iter().map(web::describe);
                let parts: Vec<String> = nodes
                    .into_iter()
                    .chain(hosts)
                    .chain(members)
                    .chain(web)
                    .collect();
                table.row([name.to_string(), parts.join(", ")]);
            }
            print_text(&format!(
                "{table}\nA topology file may be given instead: see docs/lab.md.\n"
            ));
            Ok(exit_code::OK)
        }
        LabCommand::NginxDump { dir } => web::nginx_dump(&dir.dir).await,
        LabCommand::NginxTest { dir } => web::nginx_test(&dir.dir).await,
        LabCommand::ServiceRunning { dir, service } => web::service_running(&dir.dir, &service),
        LabCommand::WebService {
            role, name, listen, ..
        } => web::service(&role, &name, &listen).await,
        LabCommand::WebHolder { dir } => web::holder(&dir.dir).await,
        LabCommand::Proxy { dir } => {
            hadome_lab::proxy::serve(&dir.dir).await?;
            Ok(exit_code::OK)
        }
        LabCommand::Exec { dir, host, argv } => {
            let code = Lab::open(&dir.dir)?.exec_host(&host, &argv).await?;
            // The command's own exit code, as ssh passes it through (255 at most).
            Ok(u8::try_from(code.clamp(0, 255)).unwrap_or(exit_code::FAILURE))
        }
        LabCommand::Image {
            dir,
            host,
            image,
            json,
        } => {
            let manifest = Lab::open(&dir.dir)?.image_host(&host, &image).await?;
            if json.json {
                print_json(&serde_json::json!({"version": 1, "image": manifest}));
            } else {
                print_text(&format!(
                    "image `{image}` of `{host}`: {} files of {}, {} bytes (SHA-256 {}) in {}\n",
                    manifest.files.len(),
                    manifest.data_paths.join(", "),
                    manifest.tar_size,
                    manifest.tar_sha256,
                    dir.dir
                        .join("images")
                        .join(format!("{image}.tar"))
                        .display()
                ));
            }
            Ok(exit_code::OK)
        }
        LabCommand::VerifyImage { dir, image, json } => {
            let verdict = Lab::open(&dir.dir)?.verify_image(&image).await?;
            if json.json {
                print_json(&serde_json::json!({"version": 1, "verify_image": verdict}));
            } else if verdict.ok {
                print_text(&format!(
                    "image `{image}` is complete: {} files, {} bytes read whole, as its manifest says\n",
                    verdict.files, verdict.bytes
                ));
            } else {
                print_text(&format!(
                    "image `{image}` fails verification: {}\n",
                    verdict.problem.as_deref().unwrap_or("unknown")
                ));
            }
            Ok(if verdict.ok {
                exit_code::OK
            } else {
                exit_code::FAILURE
            })
        }
        LabCommand::DeleteHost { dir, host } => {
            let summary = Lab::open(&dir.dir)?.delete_host(&host).await?;
            print_text(&format!("{summary}\n"));
            Ok(exit_code::OK)
        }
        LabCommand::Member {
            dir,
            verb,
            member,
            json,
        } => placed::member(&Lab::open(&dir.dir)?, verb, &member, json.json).await,
        LabCommand::HostSupervisor { dir, host } => {
            hadome_lab::serve_host(&dir.dir, &host).await?;
            Ok(exit_code::OK)
        }
    }
}

fn seconds(flag: &str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|_| CliError::Usage {
        message: format!("`{flag}` must be a non-negative number of seconds, not {value}"),
        hint: None,
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Runs `work` unless Ctrl-C or SIGTERM comes first; then `work` is dropped (and with it any guard).
async fn until_interrupted<T>(work: impl Future<Output = T>) -> Result<T, CliError> {
    tokio::select! {
        result = work => Ok(result),
        _ = interrupted() => Err(CliError::Interrupted {
            message: "interrupted: what had started was stopped and its directory removed".to_owned(),
        }),
    }
}
