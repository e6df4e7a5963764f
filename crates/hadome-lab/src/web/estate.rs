//! The showcase's tables in `DIR/estate.toml`: a `[[service]]` per service, a `[[route]]` per app
//! and one to the SSO, and the lab's nginx as `[[nginx]]` — so `hadome check`, `gate` and `ask
//! reload nginx` point at the showcase as at a real estate.
//!
//! Every route connects through the lab proxy's `web` port (`connect_to`), which forwards to
//! nginx's Unix socket; each service is told apart by its `X-Hadome-Service` header and is
//! watched by `hadome lab service-running`; nginx is dumped, tested and reloaded by the lab's own
//! commands inside its namespace (`lab nginx-dump`, `lab nginx-test`, `lab fault reload nginx`).
//! An app's `address` is the name its block's `proxy_pass` uses, so the lint's `port-collision`
//! sees what nginx sees: the incident's `app-1:3000` (the container's name, on the console's
//! port), or, once `deploy --fixed` moved it to a port of its own, `app-1.apps.lab:3001` (the
//! name the fixed block's resolver asks the DNS server for).

use std::fmt::Write as _;

use super::{WebState, CONSOLE_IP, FIXED_PORT, SHARED_PORT, SSO_HOST, SSO_IP};
use crate::estate_file::{argv_text, quote};

/// The header every showcase service answers with (`X-Hadome-Service: NAME`).
const MARKER_HEADER: &str = "X-Hadome-Service";

/// The showcase's `[[service]]`, `[[route]]` and `[[nginx]]` tables. `commands` is the hadome
/// binary and the lab directory as arguments; without them there is no `running_command` and no
/// `[[nginx]]` (its default commands would read the machine's own nginx, not the lab's).
pub(crate) fn tables(web: &WebState, commands: Option<(&str, &str)>) -> String {
    let mut text = String::from(
        "\n# The showcase's web estate (issue 14): every service, a route to each app and to the\n\
         # SSO's /stats through the lab proxy's web port, and the lab's nginx.\n",
    );
    let mut services = vec![
        ("console".to_owned(), format!("{CONSOLE_IP}:{SHARED_PORT}")),
        ("sso".to_owned(), format!("{SSO_IP}:{SHARED_PORT}")),
    ];
    services.extend(web.apps.iter().map(|app| {
        let host = if app.port == FIXED_PORT {
            app.host()
        } else {
            app.name.clone()
        };
        (app.name.clone(), format!("{host}:{}", app.port))
    }));
    for (name, address) in &services {
        // `writeln!` into a String cannot fail; the results are ignored for that reason.
        let _ = write!(
            text,
            "\n[[service]]\n\
             name = {}\n\
             address = {}\n\
             marker_header = {}\n",
            quote(name),
            quote(address),
            quote(&format!("{MARKER_HEADER}: {name}")),
        );
        if let Some((hadome, dir)) = commands {
            let _ = writeln!(
                text,
                "running_command = {}",
                argv_text(&[hadome, "lab", "service-running", "--dir", dir, name])
            );
        }
    }
    let connect_to = format!("127.0.0.1:{}", web.proxy_port);
    let mut routes: Vec<(String, String)> = web
        .apps
        .iter()
        .map(|app| (app.name.clone(), format!("http://{}/", app.host())))
        .collect();
    routes.push(("sso".to_owned(), format!("http://{SSO_HOST}/stats")));
    for (name, url) in &routes {
        let _ = write!(
            text,
            "\n[[route]]\n\
             name = {}\n\
             url = {}\n\
             service = {}\n\
             expect_status = 200\n\
             connect_to = {}\n",
            quote(name),
            quote(url),
            quote(name),
            quote(&connect_to),
        );
    }
    if let Some((hadome, dir)) = commands {
        let _ = write!(
            text,
            "\n[[nginx]]\n\
             name = \"web\"\n\
             dump_command = {}\n\
             test_command = {}\n\
             reload_command = {}\n",
            argv_text(&[hadome, "lab", "nginx-dump", "--dir", dir]),
            argv_text(&[hadome, "lab", "nginx-test", "--dir", dir]),
            argv_text(&[hadome, "lab", "fault", "--dir", dir, "reload", "nginx"]),
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::state;
    use super::FIXED_PORT;
    use crate::state::{LabState, RunAs};
    use crate::Topology;

    fn showcase(dir: &Path, hadome: Option<&str>) -> LabState {
        let spec = Topology::resolve("showcase").unwrap().web.unwrap();
        let mut web = state(dir, &spec);
        web.proxy_port = 41_234;
        LabState {
            version: LabState::new_version(),
            topology: "showcase".to_owned(),
            dir: dir.to_owned(),
            token: "t0k3n".to_owned(),
            bindir: PathBuf::from("/usr/lib/postgresql/15/bin"),
            run_as: RunAs::CurrentUser,
            proxy_pid: 4242,
            hadome_binary: hadome.map(PathBuf::from),
            hosts: Vec::new(),
            etcd: Vec::new(),
            etcd_clients: Vec::new(),
            web: Some(web),
            nodes: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The rendered estate file, loaded by hadome's own parser from a file on disk.
    fn load(state: &LabState) -> hadome_core::estate::Estate {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("estate.toml");
        std::fs::write(&path, crate::estate_file::render(state)).unwrap();
        hadome_config::load(&path).unwrap_or_else(|error| {
            panic!(
                "{error} | hint: {:?}\n{}",
                error.hint(),
                crate::estate_file::render(state)
            )
        })
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn the_showcase_estate_loads_with_its_services_routes_and_nginx() {
        let dir = Path::new("/tmp/web lab \"x\"");
        let hadome = "/usr/local/bin/hadome";
        let estate = load(&showcase(dir, Some(hadome)));
        let lab = dir.to_str().unwrap();
        assert!(estate.instances.is_empty() && estate.clusters.is_empty());
        let web = &estate.web;
        let names: Vec<&str> = web.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["console", "sso", "app-1"]);
        let console = web.service("console").unwrap();
        assert_eq!(
            (console.address_host.as_str(), console.port),
            ("127.0.0.10", 3000)
        );
        let sso = web.service("sso").unwrap();
        assert_eq!((sso.address_host.as_str(), sso.port), ("127.0.0.20", 3000));
        let app = web.service("app-1").unwrap();
        // The incident's upstream: the container's name, on the console's port.
        assert_eq!((app.address_host.as_str(), app.port), ("app-1", 3000));
        assert_eq!(
            app.marker_header,
            Some(("X-Hadome-Service".to_owned(), "app-1".to_owned()))
        );
        assert_eq!(
            app.running_command,
            Some(words(&[
                hadome,
                "lab",
                "service-running",
                "--dir",
                lab,
                "app-1"
            ]))
        );
        let route = web.route("app-1").unwrap();
        assert_eq!(route.url.to_string(), "http://app-1.apps.lab/");
        assert_eq!(route.service, "app-1");
        assert_eq!(route.arrival.status, Some(200));
        // No `expect_header`: the service's marker tells the arrival.
        assert_eq!(route.arrival.header, app.marker_header);
        assert_eq!(route.connect_to.as_deref(), Some("127.0.0.1:41234"));
        let sso_route = web.route("sso").unwrap();
        assert_eq!(sso_route.url.to_string(), "http://sso.lab/stats");
        assert_eq!(sso_route.service, "sso");
        assert_eq!(sso_route.connect_to.as_deref(), Some("127.0.0.1:41234"));
        assert_eq!(web.routes.len(), 2);
        let nginx = web.nginx("web").unwrap();
        assert_eq!(
            nginx.dump_command,
            words(&[hadome, "lab", "nginx-dump", "--dir", lab])
        );
        assert_eq!(
            nginx.test_command,
            words(&[hadome, "lab", "nginx-test", "--dir", lab])
        );
        assert_eq!(
            nginx.reload_command,
            words(&[hadome, "lab", "fault", "--dir", lab, "reload", "nginx"])
        );
    }

    #[test]
    fn an_app_moved_to_its_own_port_is_rendered_there() {
        let mut lab = showcase(Path::new("/tmp/web"), Some("/usr/bin/hadome"));
        lab.web.as_mut().unwrap().apps[0].port = FIXED_PORT;
        let estate = load(&lab);
        let app = estate.web.service("app-1").unwrap();
        assert_eq!(
            (app.address_host.as_str(), app.port),
            ("app-1.apps.lab", FIXED_PORT)
        );
    }

    #[test]
    fn without_the_hadome_binary_there_are_no_commands_and_no_nginx() {
        let estate = load(&showcase(Path::new("/tmp/web"), None));
        assert!(estate.web.nginx.is_empty());
        assert!(estate
            .web
            .services
            .iter()
            .all(|service| service.running_command.is_none()));
        assert_eq!(estate.web.routes.len(), 2);
    }
}
