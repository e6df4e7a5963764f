//! `lab status` of the showcase lab: its services, nginx, DNS and namespace.

use std::path::Path;

use hadome_core::suggest::closest;
use hadome_lab::{Lab, LabError, WebSpec, WebStatus};

use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_text, Table};

/// `lab topologies`' line for a showcase.
pub(super) fn describe(web: &WebSpec) -> String {
    format!(
        "nginx, dnsmasq, console, sso, apps {} (incident E)",
        web.apps.join(", ")
    )
}

/// `--fixed` and `--no-reload` are `deploy`'s alone; they become the fault's further words.
pub(super) fn deploy_flags(
    fixed: bool,
    no_reload: bool,
    name: &str,
    arguments: &mut Vec<String>,
) -> Result<(), CliError> {
    for (given, flag) in [(fixed, "--fixed"), (no_reload, "--no-reload")] {
        if !given {
            continue;
        }
        if name != "deploy" {
            return Err(CliError::Usage {
                message: format!("`{flag}` applies to `deploy`, not to `{name}`"),
                hint: Some(format!("`hadome lab fault --dir DIR deploy app-1 {flag}`")),
            });
        }
        arguments.push(flag.to_owned());
    }
    Ok(())
}

/// `hadome lab nginx-dump`.
pub(super) async fn nginx_dump(dir: &Path) -> Result<u8, CliError> {
    print_text(&Lab::open(dir)?.nginx_dump().await?);
    Ok(exit_code::OK)
}

/// `hadome lab nginx-test`: 0 when nginx accepts the configuration, 1 with its message on
/// stderr when it does not.
pub(super) async fn nginx_test(dir: &Path) -> Result<u8, CliError> {
    match Lab::open(dir)?.nginx_test().await? {
        Ok(message) => {
            print_text(&format!("{}\n", message.trim_end()));
            Ok(exit_code::OK)
        }
        Err(message) => {
            eprint!("{message}");
            if !message.ends_with('\n') {
                eprintln!();
            }
            Ok(exit_code::FAILURE)
        }
    }
}

/// `hadome lab service-running`: 0 while the service runs, 1 while it does not, 2 (usage) for a
/// name that is not one of the showcase's services.
pub(super) fn service_running(dir: &Path, service: &str) -> Result<u8, CliError> {
    match Lab::open(dir)?.web_service_running(service) {
        Ok(true) => Ok(exit_code::OK),
        Ok(false) => Ok(exit_code::FAILURE),
        Err(LabError::UnknownNode { name, known }) => Err(CliError::Usage {
            message: format!("the showcase has no service `{name}`"),
            hint: Some(match closest(&name, &known) {
                Some(close) => format!("did you mean `{close}`? services: {}", known.join(", ")),
                None => format!("services: {}", known.join(", ")),
            }),
        }),
        Err(other) => Err(other.into()),
    }
}

/// `hadome lab web-service` (hidden).
pub(super) async fn service(role: &str, name: &str, listen: &str) -> Result<u8, CliError> {
    let role = hadome_lab::web::ServiceRole::parse(role).ok_or_else(|| CliError::Usage {
        message: format!("`--role {role}`: not a showcase role"),
        hint: Some("console, sso or app".to_owned()),
    })?;
    hadome_lab::web::serve_service(role, name, listen).await?;
    Ok(exit_code::OK)
}

/// `hadome lab web-holder` (hidden).
pub(super) async fn holder(dir: &Path) -> Result<u8, CliError> {
    hadome_lab::web::hold(dir).await?;
    Ok(exit_code::OK)
}

pub(super) fn web_table(web: &WebStatus) -> Table {
    let dash = || "-".to_owned();
    let mut table = Table::new([
        "SERVICE",
        "ROLE",
        "HOST",
        "LISTEN (NAMESPACE)",
        "PID",
        "PROCESS",
    ]);
    for service in &web.services {
        table.row([
            service.name.clone(),
            service.role.to_owned(),
            service.host.clone(),
            service.listen.clone(),
            service.pid.map_or_else(dash, |pid| pid.to_string()),
            if service.pid.is_some() {
                "running"
            } else {
                "stopped"
            }
            .to_owned(),
        ]);
    }
    table.footer(format!(
        "nginx: master PID {}, socket {}; through the lab proxy at 127.0.0.1:{} (curl --connect-to ::127.0.0.1:{} http://app-1.apps.lab/)",
        web.nginx_pid.map_or_else(dash, |pid| pid.to_string()),
        web.nginx_socket.display(),
        web.proxy_port,
        web.proxy_port
    ));
    table.footer(format!(
        "dnsmasq: PID {} on 127.0.0.1:53 (*.apps.lab -> the console; APP.apps.lab while APP runs)",
        web.dnsmasq_pid.map_or_else(dash, |pid| pid.to_string())
    ));
    table.footer(format!(
        "namespace: holder PID {}, {}",
        web.holder_pid.map_or_else(dash, |pid| pid.to_string()),
        web.netns.clone().unwrap_or_else(dash)
    ));
    table.footer(format!(
        "deployed: {}",
        if web.deployed.is_empty() {
            "none (hadome lab fault --dir DIR deploy app-1)".to_owned()
        } else {
            web.deployed.join(", ")
        }
    ));
    table
}
