//! The showcase's DNS: Debian's dnsmasq inside the namespace on 127.0.0.1:53.
//!
//! `--address=/apps.lab/127.0.0.10` is the incident's wildcard: every name under `apps.lab` (and
//! `apps.lab` itself) answers the console's address, unless a hosts entry names it exactly —
//! dnsmasq lets hosts files override `--address` for individual names. Each running app's record
//! is such an entry, in `DIR/web/dns/apps.hosts`, which the lab rewrites from the live PIDs and
//! then signals dnsmasq (SIGHUP re-reads it and clears the cache). Every change is verified by
//! resolving the name inside the namespace (`getent ahostsv4`, through the namespace's
//! resolv.conf, as nginx resolves it).

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{ns, services, WebState, APPS_ZONE, CONSOLE_HOST, CONSOLE_IP, SSO_HOST, SSO_IP};
use crate::wait::{poll_until, Poll};
use crate::LabError;

pub(crate) const DNSMASQ: &str = "/usr/sbin/dnsmasq";

pub(crate) fn hosts_file(web: &WebState) -> PathBuf {
    web.home.join("dns").join("apps.hosts")
}

fn pid_file(web: &WebState) -> PathBuf {
    web.run_dir().join("dnsmasq.pid")
}

/// dnsmasq's PID, when alive.
pub(crate) fn pid(web: &WebState) -> Option<i32> {
    ns::pid_from_file(&pid_file(web), &web.home.display().to_string())
}

/// Starts dnsmasq in the namespace and waits until it answers for `sso.lab`.
pub(crate) async fn start(web: &WebState, holder: i32, timeout: Duration) -> Result<(), LabError> {
    write_hosts(web, &[])?;
    let mut command = ns::command(holder, DNSMASQ);
    command
        .arg("--keep-in-foreground")
        .arg("--conf-file=/dev/null")
        .arg("--no-resolv")
        .arg("--no-hosts")
        .arg("--listen-address=127.0.0.1")
        .arg("--bind-interfaces")
        .arg("--port=53")
        .arg("--user=root")
        .arg("--local-ttl=0")
        // Authoritative for `lab`: a name or type without a record (an AAAA) is answered NODATA
        // or NXDOMAIN here, never forwarded (there is no upstream) and refused.
        .arg("--local=/lab/")
        .arg(format!("--address=/{APPS_ZONE}/{CONSOLE_IP}"))
        .arg(format!("--host-record={SSO_HOST},{SSO_IP}"))
        .arg(format!("--addn-hosts={}", hosts_file(web).display()))
        .arg(format!(
            "--log-facility={}",
            web.home.join("logs/dnsmasq-queries.log").display()
        ))
        .arg("--log-queries");
    let pid = ns::spawn(command, "dnsmasq", &web.home.join("logs/dnsmasq.log"))?;
    ns::write_pid(&pid_file(web), pid)?;
    wait_resolves(web, pid, holder, SSO_HOST, SSO_IP, timeout).await?;
    wait_resolves(web, pid, holder, CONSOLE_HOST, CONSOLE_IP, timeout).await?;
    Ok(())
}

/// Polls `getent ahostsv4 NAME` inside the namespace until its first address is `address`;
/// ended at once, with the end of its log, if dnsmasq (`dnsmasq`, its PID: alive until it
/// exits, as a zombie is not) exits meanwhile.
pub(crate) async fn wait_resolves(
    web: &WebState,
    dnsmasq: i32,
    holder: i32,
    name: &str,
    address: &str,
    timeout: Duration,
) -> Result<(), LabError> {
    poll_until(
        name,
        &format!("`{name}` to resolve to {address} inside the showcase's namespace"),
        timeout,
        || async {
            if !crate::process::is_alive(dnsmasq) {
                let log = web.home.join("logs/dnsmasq.log");
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = said.lines().rev().take(5).collect();
                return Err(LabError::Web {
                    piece: "dnsmasq".to_owned(),
                    problem: format!(
                        "exited while the lab waited for `{name}` to resolve; its log ({}) ends: {}",
                        log.display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                    ),
                    fix: "tear the lab down and bring it up again".to_owned(),
                });
            }
            Ok(looked_up(holder, name, address).await)
        },
    )
    .await
}

fn write_hosts(web: &WebState, running: &[&super::AppState]) -> Result<(), LabError> {
    let mut text = String::from(
        "# The showcase's app records: one per running app, rewritten by the lab (then SIGHUP to dnsmasq).\n",
    );
    for app in running {
        text.push_str(&format!("{} {}\n", app.ip, app.host()));
    }
    let path = hosts_file(web);
    let temporary = path.with_extension("hosts.tmp");
    std::fs::write(&temporary, text).map_err(|source| LabError::Io {
        action: "write",
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, &path).map_err(|source| LabError::Io {
        action: "rename into place",
        path,
        source,
    })
}

/// Rewrites the app records from the live PIDs, signals dnsmasq, and verifies each app's name
/// resolves to its own address while it runs and to the console's (the wildcard) otherwise.
/// Returns a phrase for a fault's report.
pub(crate) async fn publish(
    web: &WebState,
    holder: i32,
    timeout: Duration,
) -> Result<String, LabError> {
    let running: Vec<&super::AppState> = web
        .apps
        .iter()
        .filter(|app| services::pid(web, &app.name).is_some())
        .collect();
    write_hosts(web, &running)?;
    let dnsmasq = pid(web).ok_or_else(|| LabError::Web {
        piece: "dnsmasq".to_owned(),
        problem: "is not running".to_owned(),
        fix: "tear the lab down and bring it up again; read DIR/web/logs/dnsmasq.log".to_owned(),
    })?;
    crate::process::send(dnsmasq, Signal::SIGHUP)?;
    let mut said = Vec::new();
    for app in &web.apps {
        // The single-label name, as a container name is written in a proxy_pass: the search
        // domain makes it `NAME.apps.lab`.
        if running.iter().any(|up| up.name == app.name) {
            wait_resolves(web, dnsmasq, holder, &app.name, &app.ip, timeout).await?;
            said.push(format!(
                "`{}` resolves to {} (its record)",
                app.name, app.ip
            ));
        } else {
            wait_resolves(web, dnsmasq, holder, &app.name, CONSOLE_IP, timeout).await?;
            said.push(format!(
                "`{}` resolves to {CONSOLE_IP}, the console (the wildcard: no record)",
                app.name
            ));
        }
    }
    Ok(format!("; DNS: {}", said.join(", ")))
}

/// One lookup of `name`: done when its first address is `address`, else what was seen (another
/// address, or why the lookup failed: getent's exit 2 is "no such name").
async fn looked_up(holder: i32, name: &str, address: &str) -> Poll<()> {
    match resolve(holder, name).await {
        Ok(Some(found)) if found == address => Poll::Done(()),
        Ok(Some(found)) => Poll::NotYet(format!("resolves to {found}")),
        Ok(None) => Poll::NotYet("getent printed no address".to_owned()),
        Err(error) => Poll::NotYet(format!("the lookup failed: {error}")),
    }
}

/// The first IPv4 address `name` resolves to inside the namespace, if any.
pub(crate) async fn resolve(holder: i32, name: &str) -> Result<Option<String>, LabError> {
    let out = ns::run(holder, "a lookup", "/usr/bin/getent", &["ahostsv4", name]).await?;
    Ok(out.split_whitespace().next().map(str::to_owned))
}
