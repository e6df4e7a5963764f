//! `lab status` of the showcase lab: its services, nginx, DNS and namespace.

use hadome_lab::WebStatus;

use crate::output::Table;

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
