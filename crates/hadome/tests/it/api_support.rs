//! The daemon with its HTTP API on a lab estate (issue 16): `[api]` added to the lab's estate file
//! (any free loopback port, the tokens in files of the lab's directory), the daemon started, and
//! its address read from its log.

use std::path::Path;

use hadome_lab::Lab;

use crate::daemon::Daemon;

/// A daemon serving its API, and where.
pub(crate) struct ApiDaemon {
    pub(crate) daemon: Daemon,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) base: String,
}

/// A token to declare: its name, role and secret.
pub(crate) struct TestToken {
    pub(crate) name: &'static str,
    pub(crate) role: &'static str,
    pub(crate) secret: &'static str,
}

/// Adds `[api]` (loopback, any free port) and `tokens` to the estate file in `dir`, each token's
/// secret in `DIR/NAME.token`.
pub(crate) fn declare_api(dir: &Path, tokens: &[TestToken]) {
    let estate = dir.join("estate.toml");
    let mut text = std::fs::read_to_string(&estate).expect("the lab's estate file");
    text.push_str("\n[api]\nlisten = \"127.0.0.1:0\"\n");
    for token in tokens {
        let file = dir.join(format!("{}.token", token.name));
        std::fs::write(&file, format!("{}\n", token.secret)).expect("a token file");
        text.push_str(&format!(
            "\n[[api.token]]\nname = \"{}\"\nrole = \"{}\"\nfile = \"{}\"\n",
            token.name,
            token.role,
            file.display()
        ));
    }
    std::fs::write(&estate, text).expect("the estate file, with [api]");
}

impl ApiDaemon {
    /// Declares the API with `tokens` on `lab`'s estate, starts the daemon and waits until it
    /// says where it listens.
    pub(crate) async fn start(lab: &Lab, name: &str, tokens: &[TestToken]) -> ApiDaemon {
        declare_api(lab.dir(), tokens);
        let daemon = Daemon::start_in(lab.dir(), name, &[]);
        let marker = "API, metrics and dashboard on http://";
        daemon
            .wait_for_log("the daemon to serve its API", marker, 1)
            .await;
        let log = daemon.log();
        let address = log
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("the API's address in the daemon's log")
            .to_owned();
        ApiDaemon {
            daemon,
            base: format!("http://{address}"),
        }
    }

    /// `base` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
