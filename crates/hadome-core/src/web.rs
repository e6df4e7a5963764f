//! Web routes, the services behind them and the nginx instances in front of them, as targets
//! (issue 14, incident E, `../shared/incidents/README.md`).
//!
//! Incident E: a deploy wrote an nginx `server` block with a literal `proxy_pass
//! http://<app-host>:<port>` while the app's container had exited. nginx resolved the name once,
//! at load; it fell through a wildcard DNS record to the PaaS console on the same port, which
//! redirected to SSO, which redirected back, forever. hadome watches the three pieces:
//! - a [`Route`] (`[[route]]`): a URL, the service it must reach and how to tell it arrived; its
//!   facts are one probe's hops ([`RouteProbe`]), judged by [`crate::route::judge`] (`redirect-loop`);
//! - a [`WebService`] (`[[service]]`): a name, the `host:port` an upstream names it by, and
//!   optionally a command that says whether its process or container runs ([`ServiceProbe`]);
//! - an [`Nginx`] (`[[nginx]]`): how to read its whole configuration (`nginx -T`), test it
//!   (`nginx -t`) and reload it; its facts are what the lint found in that configuration
//!   ([`NginxProbe`]: `nginx-static-resolve`, `port-collision`, `server-name-fallthrough`,
//!   `upstream-not-running`) and whether `nginx -t` passed. The lint itself is `hadome-nginx`'s
//!   (the edge runs it); the core turns its findings into the estate's.

use crate::fact::Timestamp;
use crate::route::{Arrival, Hop, Url};

/// A route's hop limit when unset: blackbox_exporter's 10.
pub const DEFAULT_HOP_LIMIT: usize = 10;

/// The web part of the estate: routes, services and nginx instances, each in the order of the
/// file. Names are unique within each list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Web {
    /// `[[route]]`s.
    pub routes: Vec<Route>,
    /// `[[service]]`s.
    pub services: Vec<WebService>,
    /// `[[nginx]]`s.
    pub nginx: Vec<Nginx>,
}

/// One HTTP route (`[[route]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Its name in the estate (`hadome gate NAME`).
    pub name: String,
    /// The URL a user requests first.
    pub url: Url,
    /// The `[[service]]` it must reach.
    pub service: String,
    /// How to tell it arrived (a status, the final host, a header, a body marker).
    pub arrival: Arrival,
    /// At most this many requests per probe (default [`DEFAULT_HOP_LIMIT`]).
    pub hop_limit: usize,
    /// Where the probe connects for every hop instead of resolving each URL's host
    /// (`"127.0.0.1:8080"`: curl's `--connect-to`, for an nginx that answers every host name of
    /// the route on one address, as behind a load balancer); `None`: each hop's host is resolved.
    pub connect_to: Option<String>,
}

/// One service behind routes (`[[service]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebService {
    /// Its name in the estate (what a route's `service` names).
    pub name: String,
    /// The host name an upstream (`proxy_pass`) names it by, as nginx would resolve it.
    pub address_host: String,
    /// The port it listens on.
    pub port: u16,
    /// The host it is placed on (an action on that host takes it down); `None`: not declared.
    pub host: Option<String>,
    /// How a final response of this service is told apart from another's: a header (name, and
    /// text its value contains), e.g. `("X-Service", "app-1")`; `None`: by the route's arrival
    /// alone.
    pub marker_header: Option<(String, String)>,
    /// An argv command that exits 0 while the service's process or container runs and non-zero
    /// while it does not (`["systemctl", "is-active", "--quiet", "app"]`, `["docker", "inspect",
    /// …]`); `None`: whether it runs is not watched.
    pub running_command: Option<Vec<String>>,
}

/// One nginx instance (`[[nginx]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nginx {
    /// Its name in the estate (`hadome ask reload NAME`).
    pub name: String,
    /// The host it is placed on; `None`: not declared.
    pub host: Option<String>,
    /// Prints the whole configuration as nginx reads it from disk (default `["nginx", "-T"]`;
    /// `["ssh", "web1", "nginx", "-T"]` for another machine).
    pub dump_command: Vec<String>,
    /// Tests the configuration on disk (default `["nginx", "-t"]`).
    pub test_command: Vec<String>,
    /// Loads it (default `["nginx", "-s", "reload"]`).
    pub reload_command: Vec<String>,
}

impl Web {
    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.name == name)
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&WebService> {
        self.services.iter().find(|service| service.name == name)
    }

    /// The nginx instance named `name`.
    pub fn nginx(&self, name: &str) -> Option<&Nginx> {
        self.nginx.iter().find(|nginx| nginx.name == name)
    }
}

/// One probe of one route: the hops followed, then why it stopped if a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteProbe {
    /// When the probe started.
    pub observed_at: Timestamp,
    /// Every request sent and what came back, in order (never more than the route's hop limit).
    pub hops: Vec<Hop>,
    /// A request that got no response (refused, timed out, a `Location` that is not a URL): the
    /// URL and why, in words; `None` when every request was answered.
    pub failed: Option<String>,
}

/// Whether a service's process runs, as its `running_command` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProbe {
    /// When the command ran.
    pub observed_at: Timestamp,
    /// `Ok(true)`: exit 0; `Ok(false)`: another exit status; `Err`: it could not be run or did
    /// not end within the probe timeout (unknown, never "running").
    pub running: Result<bool, String>,
}

/// What reading and linting one nginx instance's configuration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxProbe {
    /// When the dump was read.
    pub observed_at: Timestamp,
    /// The lint's findings (`Ok`), or why the configuration could not be read (the dump command
    /// failed or its output is not a configuration nginx dumped).
    pub lint: Result<Vec<LintHit>, String>,
    /// What `nginx -t` said when it was run (only for `ask reload`): `Ok(())` it passed, `Err`
    /// its message; `None`: not run.
    pub test: Option<Result<(), String>>,
}

/// One finding of the nginx lint, as the edge hands it to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintHit {
    /// The rule id (`crate::rule::NGINX_STATIC_RESOLVE`, `PORT_COLLISION`,
    /// `SERVER_NAME_FALLTHROUGH`, `UPSTREAM_NOT_RUNNING`).
    pub rule: &'static str,
    /// Whether the lint calls it an error (a reload that would break a route) or a warning.
    pub error: bool,
    /// The file and line of the directive (`/etc/nginx/sites-enabled/app-1:3`).
    pub place: String,
    /// What is wrong, in words.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}
