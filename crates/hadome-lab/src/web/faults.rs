//! The showcase's faults: `stop`/`start SERVICE` (the process and its DNS record), `deploy APP
//! [--fixed]` (its nginx server block and a verified reload) and `reload nginx`, each verified
//! before it returns, with a sentence saying what it did.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{dns, nginx, ns, services, web, WebState, FIXED_PORT};
use crate::{Lab, LabError};

/// The showcase's faults beyond `stop`/`start` (which take a service name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebFault {
    /// Write the app's server block and reload nginx: the incident's literal `proxy_pass
    /// http://APP:PORT` or, `fixed`, a `resolver` and a variable upstream on a port of its own.
    Deploy {
        /// The app.
        app: String,
        /// The fix (both halves) instead of the incident's block.
        fixed: bool,
        /// Reload nginx after writing (`--no-reload` leaves the new block on disk, unloaded, for
        /// `hadome ask reload` to judge and `hadome run reload` to load).
        reload: bool,
    },
    /// `nginx -t`, then SIGHUP to the master; returns once the workers are replaced.
    Reload(String),
}

impl WebFault {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            WebFault::Deploy { .. } => "deploy",
            WebFault::Reload(_) => "reload",
        }
    }
}

impl Lab {
    /// Whether `name` is a service of this showcase lab (console, sso or an app).
    pub(crate) fn is_web_service(&self, name: &str) -> bool {
        self.state
            .web
            .as_ref()
            .is_some_and(|web| web.service(name).is_some())
    }

    /// `stop SERVICE` / `start SERVICE` of the showcase, verified (process and DNS record).
    pub(crate) async fn web_stop_start(&self, name: &str, start: bool) -> Result<String, LabError> {
        let web = web(&self.state)?;
        let holder = ns::running_holder(web)?;
        if start {
            let hadome =
                self.state.hadome_binary.clone().ok_or_else(|| {
                    LabError::Bug("a showcase without the hadome binary".to_owned())
                })?;
            if let Some(pid) = services::pid(web, name) {
                return Err(rejected(
                    "start",
                    name,
                    format!("it runs already (PID {pid})"),
                    "nothing to do",
                ));
            }
            let listen = services::start(web, holder, &hadome, name, self.wait_timeout).await?;
            let record = dns::publish(web, holder, self.wait_timeout).await?;
            Ok(format!("started `{name}` on {listen} (PID {}){record}", {
                services::pid(web, name).unwrap_or(0)
            }))
        } else {
            let Some(pid) = services::pid(web, name) else {
                return Err(rejected(
                    "stop",
                    name,
                    "it is not running".to_owned(),
                    "nothing to do",
                ));
            };
            let survivors = crate::process::end(&[pid], Signal::SIGTERM, Duration::from_secs(5));
            if !survivors.is_empty() {
                return Err(LabError::Survivors { pids: survivors });
            }
            let record = dns::publish(web, holder, self.wait_timeout).await?;
            Ok(format!("stopped `{name}` (PID {pid} gone){record}"))
        }
    }

    /// `deploy APP [--fixed]` and `reload nginx`, verified.
    pub(crate) async fn web_fault(&self, fault: &WebFault) -> Result<String, LabError> {
        let web = web(&self.state)?;
        let holder = ns::running_holder(web)?;
        match fault {
            WebFault::Reload(target) if target == "nginx" => {
                nginx::test_and_reload(web, holder, self.wait_timeout).await
            }
            WebFault::Reload(other) => Err(rejected(
                "reload",
                other,
                "only nginx reloads".to_owned(),
                "`hadome lab fault --dir DIR reload nginx`",
            )),
            WebFault::Deploy { app, fixed, reload } => {
                if web.app(app).is_none() {
                    return Err(LabError::UnknownNode {
                        name: app.clone(),
                        known: web.apps.iter().map(|app| app.name.clone()).collect(),
                    });
                }
                let mut moved = String::new();
                if *fixed {
                    moved = self.move_to_own_port(app, holder).await?;
                }
                let web = web_reread(self)?;
                let app_state = web
                    .app(app)
                    .ok_or_else(|| LabError::Bug(format!("app `{app}` vanished from lab.json")))?;
                let reload =
                    nginx::deploy(&web, holder, app_state, *fixed, *reload, self.wait_timeout)
                        .await?;
                Ok(format!("{moved}{reload}"))
            }
        }
    }

    /// The first half of the fix: the app on a port of its own ([`FIXED_PORT`]), restarted there
    /// if it runs on the console's port.
    async fn move_to_own_port(&self, app: &str, holder: i32) -> Result<String, LabError> {
        let mut state = crate::state::LabState::read(&self.state.dir)?;
        let web = state
            .web
            .as_mut()
            .ok_or_else(|| LabError::Bug("the showcase vanished from lab.json".to_owned()))?;
        let entry = web
            .apps
            .iter_mut()
            .find(|entry| entry.name == app)
            .ok_or_else(|| LabError::Bug(format!("app `{app}` vanished from lab.json")))?;
        if entry.port == FIXED_PORT {
            return Ok(String::new());
        }
        entry.port = FIXED_PORT;
        let web = web.clone();
        let running = services::pid(&web, app);
        if let Some(pid) = running {
            let survivors = crate::process::end(&[pid], Signal::SIGTERM, Duration::from_secs(5));
            if !survivors.is_empty() {
                return Err(LabError::Survivors { pids: survivors });
            }
        }
        state.write()?;
        // The estate declares the app where it now listens.
        crate::estate_file::write(&state)?;
        if running.is_some() {
            let hadome = state
                .hadome_binary
                .clone()
                .ok_or_else(|| LabError::Bug("a showcase without the hadome binary".to_owned()))?;
            let listen = services::start(&web, holder, &hadome, app, self.wait_timeout).await?;
            dns::publish(&web, holder, self.wait_timeout).await?;
            Ok(format!(
                "restarted `{app}` on {listen}, a port of its own; "
            ))
        } else {
            Ok(format!(
                "`{app}` (stopped) will start on port {FIXED_PORT}, a port of its own; "
            ))
        }
    }

    /// `nginx -t` inside the showcase's namespace (the lab estate's `test_command`):
    /// `Ok(Ok(message))` when the configuration on disk passes, `Ok(Err(message))` with nginx's
    /// own words when it does not.
    pub async fn nginx_test(&self) -> Result<Result<String, String>, LabError> {
        let web = web(&self.state)?;
        let holder = ns::running_holder(web)?;
        nginx::check(web, holder).await
    }

    /// Whether the showcase's service `name` (console, sso or an app) runs now: its PID file
    /// names a live process of this lab (the lab estate's `running_command`). An unknown name is
    /// [`LabError::UnknownNode`] with the service names as `known`.
    pub fn web_service_running(&self, name: &str) -> Result<bool, LabError> {
        let web = web(&self.state)?;
        if web.service(name).is_none() {
            return Err(LabError::UnknownNode {
                name: name.to_owned(),
                known: web.service_names(),
            });
        }
        Ok(services::pid(web, name).is_some())
    }

    /// `nginx -T` inside the showcase's namespace: the whole configuration as nginx reads it.
    pub async fn nginx_dump(&self) -> Result<String, LabError> {
        let web = web(&self.state)?;
        let holder = ns::running_holder(web)?;
        nginx::dump(web, holder).await
    }
}

fn web_reread(lab: &Lab) -> Result<WebState, LabError> {
    let state = crate::state::LabState::read(&lab.state.dir)?;
    web(&state).cloned()
}

pub(crate) fn rejected(fault: &str, what: &str, reason: String, fix: &str) -> LabError {
    LabError::FaultRejected {
        fault: fault.to_owned(),
        node: what.to_owned(),
        reason,
        fix: fix.to_owned(),
    }
}
