//! The `showcase` lab (incident E): real nginx, real DNS with the incident's wildcard record, a
//! console, an SSO and apps, in a network and mount namespace the lab owns.
//!
//! The pieces, all under `DIR/web` and all started by PID (`docs/lab.md`, "The showcase"):
//! - [`ns`]: a holder process in its own network namespace and private mount namespace, where
//!   `lo` is up and `DIR/web/resolv.conf` is bind-mounted over `/etc/resolv.conf` — inside that
//!   mount namespace only: the machine's resolver settings are never touched. Every other piece
//!   is started inside it with `nsenter --target HOLDER --net --mount`.
//! - [`dns`]: Debian's `dnsmasq` on 127.0.0.1:53 with the wildcard `*.apps.lab` → the console,
//!   `sso.lab` → the SSO, and each app's own record only while the app runs (an `addn-hosts` file
//!   the lab rewrites, then SIGHUP).
//! - [`services`]: the console, the SSO and the apps, each a `hadome lab web-service` process on
//!   a loopback address of the namespace — the console and every app on the same port (3000).
//! - [`nginx`]: Debian's nginx, master and workers, listening on a Unix socket in the lab
//!   directory, which the lab proxy's `web` route forwards from 127.0.0.1:PORT.

mod dns;
pub(crate) mod estate;
mod faults;
mod nginx;
mod ns;
mod services;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::proxy::{ProxyReady, ProxyRoute};
use crate::state::LabState;
use crate::LabError;

pub use faults::WebFault;
pub use ns::hold;
pub use services::{serve_service, ServiceRole};

/// The lab proxy's route to nginx's Unix socket.
pub(crate) const WEB_ROUTE: &str = "web";
/// The console's address inside the namespace (also the wildcard's answer).
pub const CONSOLE_IP: &str = "127.0.0.10";
/// The SSO's address inside the namespace.
pub const SSO_IP: &str = "127.0.0.20";
/// The port the console and every app listen on at first: the incident's collision.
pub const SHARED_PORT: u16 = 3000;
/// An app's own port after `deploy APP --fixed`.
pub const FIXED_PORT: u16 = 3001;
/// The console's host name.
pub const CONSOLE_HOST: &str = "console.apps.lab";
/// The SSO's host name.
pub const SSO_HOST: &str = "sso.lab";
/// The apps' DNS zone: the wildcard and the resolver's search domain.
pub const APPS_ZONE: &str = "apps.lab";

/// The `[web]` table of a topology: the showcase's apps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSpec {
    /// The app names (`app-1`), each `NAME.apps.lab`, on `127.0.0.(10 + N)`.
    pub apps: Vec<String>,
}

/// The `[web]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    apps: Vec<String>,
}

/// Validates a topology's `[web]` table.
pub(crate) fn spec(origin: &str, raw: RawWeb) -> Result<WebSpec, LabError> {
    let error = |message: String, fix: &str| LabError::Topology {
        origin: origin.to_owned(),
        line: 0,
        message,
        fix: fix.to_owned(),
    };
    if raw.apps.is_empty() || raw.apps.len() > 9 {
        return Err(error(
            format!("`[web]` has {} apps", raw.apps.len()),
            "list 1 to 9 apps: `apps = [\"app-1\"]` (each gets 127.0.0.11 … 127.0.0.19)",
        ));
    }
    for (index, app) in raw.apps.iter().enumerate() {
        let valid = app.len() <= 32
            && app.starts_with(|c: char| c.is_ascii_lowercase())
            && app
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid || ["console", "sso", "nginx"].contains(&app.as_str()) {
            return Err(error(
                format!("`[web]` app `{app}` is not a usable name"),
                "an app name is a DNS label of lowercase letters, digits and `-`, starting with a letter, and not `console`, `sso` or `nginx`",
            ));
        }
        if raw.apps[..index].contains(app) {
            return Err(error(
                format!("`[web]` app `{app}` is named twice"),
                "give every app a distinct name",
            ));
        }
    }
    Ok(WebSpec { apps: raw.apps })
}

/// The showcase as the lab set it up, in `lab.json`. Live state (PIDs) is in `DIR/web/run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WebState {
    /// `DIR/web`.
    pub(crate) home: PathBuf,
    /// The lab proxy's port of the `web` route (nginx's Unix socket).
    pub(crate) proxy_port: u16,
    /// The apps, with the address each listens on (its port changes on `deploy --fixed`).
    pub(crate) apps: Vec<AppState>,
}

/// One app of the showcase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AppState {
    pub(crate) name: String,
    pub(crate) ip: String,
    pub(crate) port: u16,
}

impl AppState {
    pub(crate) fn host(&self) -> String {
        format!("{}.{APPS_ZONE}", self.name)
    }
}

/// The showcase's state for `lab.json`, before anything starts.
pub(crate) fn state(dir: &Path, spec: &WebSpec) -> WebState {
    WebState {
        home: dir.join("web"),
        proxy_port: 0,
        apps: spec
            .apps
            .iter()
            .enumerate()
            .map(|(index, name)| AppState {
                name: name.clone(),
                ip: format!("127.0.0.{}", 11 + index),
                port: SHARED_PORT,
            })
            .collect(),
    }
}

impl WebState {
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.home.join("run")
    }
    pub(crate) fn nginx_prefix(&self) -> PathBuf {
        self.home.join("nginx")
    }
    /// nginx's Unix socket, which the proxy's `web` route forwards to.
    pub(crate) fn socket(&self) -> PathBuf {
        self.home.join("nginx").join("http.sock")
    }
    pub(crate) fn app(&self, name: &str) -> Option<&AppState> {
        self.apps.iter().find(|app| app.name == name)
    }
    /// Every service name: console, sso, then the apps.
    pub(crate) fn service_names(&self) -> Vec<String> {
        let mut names = vec!["console".to_owned(), "sso".to_owned()];
        names.extend(self.apps.iter().map(|app| app.name.clone()));
        names
    }
    /// A service's role and listen address.
    pub(crate) fn service(&self, name: &str) -> Option<(ServiceRole, String)> {
        match name {
            "console" => Some((ServiceRole::Console, format!("{CONSOLE_IP}:{SHARED_PORT}"))),
            "sso" => Some((ServiceRole::Sso, format!("{SSO_IP}:{SHARED_PORT}"))),
            _ => self
                .app(name)
                .map(|app| (ServiceRole::App, format!("{}:{}", app.ip, app.port))),
        }
    }
}

pub(crate) fn web(state: &LabState) -> Result<&WebState, LabError> {
    state.web.as_ref().ok_or_else(|| LabError::Web {
        piece: "showcase".to_owned(),
        problem: format!(
            "the lab in {} is `{}`, not a showcase",
            state.dir.display(),
            state.topology
        ),
        fix: "bring one up with `hadome lab up showcase --dir DIR`".to_owned(),
    })
}

/// Refuses before anything is created when the showcase cannot run here.
pub(crate) fn check_can_run(hadome: Option<&Path>) -> Result<(), LabError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(LabError::NotRoot {
            what: "the showcase creates a network and a mount namespace (`unshare --net --mount`)"
                .to_owned(),
        });
    }
    if hadome.is_none() {
        return Err(LabError::Web {
            piece: "services".to_owned(),
            problem: "the hadome binary's path is unknown: the services are `hadome lab web-service` processes".to_owned(),
            fix: "run the lab through the hadome binary by its path (`hadome lab up showcase`)".to_owned(),
        });
    }
    for (program, package) in [
        (nginx::NGINX, "nginx"),
        (dns::DNSMASQ, "dnsmasq-base"),
        (ns::UNSHARE, "util-linux"),
        (ns::NSENTER, "util-linux"),
        (ns::IP, "iproute2"),
        ("/usr/bin/getent", "libc-bin"),
    ] {
        if !Path::new(program).exists() {
            return Err(LabError::Web {
                piece: program.to_owned(),
                problem: "is not installed: the showcase runs it".to_owned(),
                fix: format!("apt-get install {package} (scripts/setup.sh installs it)"),
            });
        }
    }
    Ok(())
}

/// The proxy's `web` route, when the lab is a showcase.
pub(crate) fn routes(state: &LabState) -> Vec<ProxyRoute> {
    state
        .web
        .iter()
        .map(|web| ProxyRoute {
            name: WEB_ROUTE.to_owned(),
            target: web.socket(),
        })
        .collect()
}

/// Records the port the proxy bound for the `web` route.
pub(crate) fn record_port(state: &mut LabState, ready: &ProxyReady) -> Result<(), LabError> {
    if let Some(web) = &mut state.web {
        web.proxy_port = ready
            .ports
            .get(WEB_ROUTE)
            .copied()
            .ok_or_else(|| LabError::Bug("the proxy did not bind route `web`".to_owned()))?;
    }
    Ok(())
}

/// Brings the showcase up: the namespace, DNS, the services, nginx; each verified.
pub(crate) async fn up(state: &LabState, timeout: Duration) -> Result<(), LabError> {
    let web = web(state)?;
    let hadome = state
        .hadome_binary
        .clone()
        .ok_or_else(|| LabError::Bug("a showcase without the hadome binary".to_owned()))?;
    for path in [
        web.home.clone(),
        web.run_dir(),
        web.home.join("logs"),
        web.home.join("dns"),
        web.nginx_prefix(),
        web.nginx_prefix().join("sites"),
        web.nginx_prefix().join("aside"),
    ] {
        std::fs::create_dir_all(&path).map_err(|source| LabError::Io {
            action: "create",
            path: path.clone(),
            source,
        })?;
    }
    let holder = ns::start(state, web, &hadome, timeout).await?;
    dns::start(web, holder, timeout).await?;
    for name in web.service_names() {
        services::start(web, holder, &hadome, &name, timeout).await?;
    }
    dns::publish(web, holder, timeout).await?;
    nginx::write_conf(web)?;
    nginx::start(web, holder, timeout).await?;
    std::fs::write(web.home.join("README"), readme(state, web)).map_err(|source| LabError::Io {
        action: "write",
        path: web.home.join("README"),
        source,
    })
}

/// Every live process of the showcase: services, nginx (master and workers), dnsmasq, holder.
pub(crate) fn pids(state: &LabState) -> Vec<i32> {
    let Some(web) = &state.web else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = web
        .service_names()
        .iter()
        .filter_map(|name| services::pid(web, name))
        .collect();
    pids.extend(nginx::pids(web));
    pids.extend(dns::pid(web));
    pids.extend(ns::holder_pid(web));
    pids
}

/// Ends every showcase process by PID, the holder last; returns the survivors.
pub(crate) fn end(state: &LabState) -> Vec<i32> {
    let Some(web) = &state.web else {
        return Vec::new();
    };
    let grace = Duration::from_secs(5);
    let mut survivors = Vec::new();
    let services: Vec<i32> = web
        .service_names()
        .iter()
        .filter_map(|name| services::pid(web, name))
        .collect();
    survivors.extend(crate::process::end(&services, Signal::SIGTERM, grace));
    // SIGTERM is nginx's fast shutdown: the master ends its workers and exits.
    let nginx = nginx::pids(web);
    survivors.extend(crate::process::end(&nginx, Signal::SIGTERM, grace));
    survivors.extend(crate::process::end(
        &dns::pid(web).into_iter().collect::<Vec<_>>(),
        Signal::SIGTERM,
        grace,
    ));
    // The holder last: with it gone, the namespaces (and the resolv.conf bind mount) are gone.
    survivors.extend(crate::process::end(
        &ns::holder_pid(web).into_iter().collect::<Vec<_>>(),
        Signal::SIGTERM,
        grace,
    ));
    survivors
}

/// What `lab status` shows of the showcase.
#[derive(Debug, Clone, Serialize)]
pub struct WebStatus {
    /// The namespace holder's PID, when alive.
    pub holder_pid: Option<i32>,
    /// The holder's network namespace (`net:[INODE]`).
    pub netns: Option<String>,
    /// dnsmasq's PID, when alive.
    pub dnsmasq_pid: Option<i32>,
    /// nginx's master PID, when alive.
    pub nginx_pid: Option<i32>,
    /// nginx's Unix socket.
    pub nginx_socket: PathBuf,
    /// The lab proxy's port: connect every `*.lab` host here (`curl --connect-to ::127.0.0.1:PORT`).
    pub proxy_port: u16,
    /// The services: console, sso, then each app.
    pub services: Vec<WebServiceStatus>,
    /// The apps with a server block in nginx (`deploy`), and whether it is the fixed one.
    pub deployed: Vec<String>,
}

/// One service of the showcase.
#[derive(Debug, Clone, Serialize)]
pub struct WebServiceStatus {
    /// `console`, `sso` or the app's name.
    pub name: String,
    /// `console`, `sso` or `app`.
    pub role: &'static str,
    /// Its host name.
    pub host: String,
    /// The address it listens on inside the namespace.
    pub listen: String,
    /// Its PID, when running.
    pub pid: Option<i32>,
}

pub(crate) fn status(state: &LabState) -> Option<WebStatus> {
    let web = state.web.as_ref()?;
    let holder_pid = ns::holder_pid(web);
    Some(WebStatus {
        holder_pid,
        netns: holder_pid
            .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok())
            .map(|link| link.display().to_string()),
        dnsmasq_pid: dns::pid(web),
        nginx_pid: nginx::master_pid(web),
        nginx_socket: web.socket(),
        proxy_port: web.proxy_port,
        services: web
            .service_names()
            .into_iter()
            .filter_map(|name| {
                let (role, listen) = web.service(&name)?;
                Some(WebServiceStatus {
                    host: match role {
                        ServiceRole::Console => CONSOLE_HOST.to_owned(),
                        ServiceRole::Sso => SSO_HOST.to_owned(),
                        ServiceRole::App => format!("{name}.{APPS_ZONE}"),
                    },
                    role: role.as_str(),
                    listen,
                    pid: services::pid(web, &name),
                    name,
                })
            })
            .collect(),
        deployed: nginx::deployed(web),
    })
}

/// The showcase's README as a comment block of `DIR/estate.toml` (empty for another lab); the
/// tables themselves are [`estate::tables`]'.
pub(crate) fn estate_section(state: &LabState) -> String {
    state
        .web
        .as_ref()
        .map_or_else(String::new, |web| format!("#\n{}", readme(state, web)))
}

/// `DIR/web/README`: the routes, for the next engineer (and hadome's `[[route]]` tables).
fn readme(state: &LabState, web: &WebState) -> String {
    let dir = state.dir.display();
    let port = web.proxy_port;
    let mut text = format!(
        "# The showcase lab (incident E), brought up by `hadome lab up showcase --dir {dir}`.\n\
         #\n\
         # Every *.lab host is served by nginx on the Unix socket {sock},\n\
         # forwarded by the lab proxy from 127.0.0.1:{port}. Connect every *.lab host there:\n\
         #   curl --connect-to ::127.0.0.1:{port} http://app-1.apps.lab/\n\
         #\n\
         # Routes (URL -> the service it must reach, how to tell it arrived):\n\
         #   http://{CONSOLE_HOST}/  -> console ({CONSOLE_IP}:{SHARED_PORT}): 302 to SSO without its cookie, 200 with it\n\
         #   http://{SSO_HOST}/login -> sso ({SSO_IP}:{SHARED_PORT}): 302 back to the console's /callback\n",
        sock = web.socket().display(),
    );
    for app in &web.apps {
        text.push_str(&format!(
            "#   http://{host}/    -> {name} ({ip}:{port}): 200, header `X-Hadome-Service: {name}` (after `deploy {name}`)\n",
            host = app.host(),
            name = app.name,
            ip = app.ip,
            port = app.port,
        ));
    }
    text.push_str(&format!(
        "#\n\
         # Every service answers with `X-Hadome-Service: NAME`. The SSO counts its logins: GET http://{SSO_HOST}/stats\n\
         #\n\
         # nginx (inside the lab's namespace; `hadome lab status --dir {dir}` has the PIDs):\n\
         #   dump:   hadome lab nginx-dump --dir {dir}\n\
         #   test and reload: hadome lab fault --dir {dir} reload nginx\n\
         #   deploy: hadome lab fault --dir {dir} deploy app-1 [--fixed]\n\
         #   by hand: nsenter --target $(cat {holder}) --net --mount -- nginx -p {prefix}/ -c nginx.conf -e error.log -t\n\
         # DNS: dnsmasq on 127.0.0.1:53 inside the namespace: *.{APPS_ZONE} -> {CONSOLE_IP} (the wildcard),\n\
         #   {SSO_HOST} -> {SSO_IP}, APP.{APPS_ZONE} -> its own address only while it runs ({hosts}).\n",
        holder = ns::holder_pid_file(web).display(),
        prefix = web.nginx_prefix().display(),
        hosts = dns::hosts_file(web).display(),
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fault, Topology};

    #[test]
    fn showcase_is_a_web_topology_with_app_1_on_the_consoles_port() {
        let showcase = Topology::resolve("showcase").unwrap();
        assert!(showcase.nodes.is_empty() && showcase.etcd.is_empty());
        let spec = showcase.web.expect("a [web] table");
        let web = state(Path::new("/tmp/lab"), &spec);
        assert_eq!(
            web.service("app-1").map(|(_, listen)| listen),
            Some(format!("127.0.0.11:{SHARED_PORT}"))
        );
        assert_eq!(
            web.service("console").map(|(_, listen)| listen),
            Some(format!("{CONSOLE_IP}:{SHARED_PORT}"))
        );
        assert_eq!(web.socket(), Path::new("/tmp/lab/web/nginx/http.sock"));
    }

    #[test]
    fn bad_web_tables_are_refused_with_a_fix() {
        for (source, says) in [
            ("[web]\napps = []\n", "0 apps"),
            ("[web]\napps = [\"App 1\"]\n", "not a usable name"),
            ("[web]\napps = [\"console\"]\n", "not a usable name"),
            ("[web]\napps = [\"a\", \"a\"]\n", "named twice"),
        ] {
            let error = Topology::parse("t", "t.toml", source)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{source}: {error}");
        }
    }

    #[test]
    fn deploy_and_reload_words() {
        let words = |list: &[&str]| {
            list.iter()
                .map(|word| (*word).to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            Fault::from_words("deploy", &words(&["app-1", "--fixed"])).unwrap(),
            Fault::Web(WebFault::Deploy {
                app: "app-1".into(),
                fixed: true,
                reload: true,
            })
        );
        assert_eq!(
            Fault::from_words("deploy", &words(&["app-1", "--no-reload", "--fixed"])).unwrap(),
            Fault::Web(WebFault::Deploy {
                app: "app-1".into(),
                fixed: true,
                reload: false,
            })
        );
        assert_eq!(
            Fault::from_words("deploy", &words(&["app-1"])).unwrap(),
            Fault::Web(WebFault::Deploy {
                app: "app-1".into(),
                fixed: false,
                reload: true,
            })
        );
        assert!(Fault::from_words("deploy", &words(&["app-1", "fast"])).is_err());
        assert_eq!(
            Fault::from_words("reload", &words(&["nginx"])).unwrap(),
            Fault::Web(WebFault::Reload("nginx".into()))
        );
    }

    #[test]
    fn site_blocks_are_the_incidents_and_the_fix_and_resolv_conf_is_the_labs() {
        let spec = Topology::resolve("showcase").unwrap().web.unwrap();
        let mut web = state(Path::new("/tmp/lab"), &spec);
        web.proxy_port = 4242;
        let text = nginx::site_block(&web, &web.apps[0], false);
        assert!(text.contains("proxy_pass http://app-1:3000;"), "{text}");
        let fixed = nginx::site_block(&web, &web.apps[0], true);
        assert!(fixed.contains("resolver 127.0.0.1 valid=1s;"), "{fixed}");
        for line in ns::resolv_conf().lines() {
            assert!(
                line.starts_with('#')
                    || ["nameserver 127.0.0.1", "search apps.lab"].contains(&line)
                    || line.starts_with("options")
            );
        }
    }
}
