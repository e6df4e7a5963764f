//! `hadome gate`, `check` and `ask`/`run reload` on the showcase lab's real nginx and DNS
//! (issue 14, "Done when"): the incident's deploy fails the gate with the cycle named, having sent
//! at most a hop limit of requests; `check` reports the three rules; a configuration nginx
//! rejects is denied before it is loaded; the fix passes; bad input is a usage error.

use std::path::Path;

use serde_json::Value;

use crate::showcase_lab::{sso_logins, ShowcaseLab};
use crate::support::{run_hadome, show};

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", show(output)))
}

fn hadome(args: &[&str]) -> std::process::Output {
    run_hadome(args, &[])
}

/// The rules `check --json` reports, with their messages.
fn findings(config: &str) -> Vec<(String, String)> {
    let output = hadome(&["check", "--config", config, "--json"]);
    json_of(&output)["findings"]
        .as_array()
        .expect("check --json has findings")
        .iter()
        .map(|finding| {
            (
                finding["rule"].as_str().unwrap_or_default().to_owned(),
                finding["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has(findings: &[(String, String)], rule: &str) -> bool {
    findings.iter().any(|(found, _)| found == rule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_fails_the_incidents_deploy_and_passes_its_fix() {
    let lab = ShowcaseLab::up();
    let config = Path::new(lab.dir()).join("estate.toml");
    let config = config.to_str().expect("a UTF-8 path");
    let proxy = lab.web()["proxy_port"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .expect("lab status names the proxy port");

    // The PaaS's deploy while the app runs: it arrives (the hazard is latent).
    lab.fault(&["deploy", "app-1"]);
    let passed = hadome(&[
        "gate", "app-1", "--within", "20", "--config", config, "--json",
    ]);
    assert_eq!(passed.status.code(), Some(0), "{}", show(&passed));
    let gate = json_of(&passed);
    assert_eq!(gate["passed"], true);
    assert_eq!(gate["routes"][0]["verdict"], "arrived");
    let latent = findings(config);
    assert!(has(&latent, "nginx-static-resolve"), "{latent:?}");
    assert!(has(&latent, "port-collision"), "{latent:?}");
    assert!(!has(&latent, "redirect-loop"), "{latent:?}");

    // The app exits and is redeployed: the name falls through to the console.
    lab.fault(&["stop", "app-1"]);
    lab.fault(&["deploy", "app-1"]);
    let logins_before = sso_logins(proxy).await;
    let failed = hadome(&[
        "gate", "app-1", "--within", "20", "--config", config, "--json",
    ]);
    let logins_after = sso_logins(proxy).await;
    assert_eq!(failed.status.code(), Some(1), "{}", show(&failed));
    let gate = json_of(&failed);
    let route = &gate["routes"][0];
    assert_eq!(gate["passed"], false);
    assert_eq!(route["verdict"], "redirect-loop", "{route}");
    assert_eq!(route["rule"], "redirect-loop");
    // A loop is probed once, and a probe sends at most the hop limit of requests.
    assert_eq!(route["probes"], 1, "{route}");
    let hop_limit = route["hop_limit"].as_u64().expect("a hop limit");
    let hops = route["hops"].as_array().expect("the chain");
    assert!(
        !hops.is_empty() && hops.len() as u64 <= hop_limit,
        "{route}"
    );
    assert!(
        logins_after - logins_before <= hop_limit,
        "the SSO got {} logins from one gate (hop limit {hop_limit})",
        logins_after - logins_before
    );
    let message = route["message"].as_str().expect("the cycle, named");
    assert!(
        message.contains("console.apps.lab") && message.contains("sso.lab"),
        "{message}"
    );
    assert!(
        gate["elapsed_seconds"].as_f64().expect("elapsed") < 20.0,
        "{gate}"
    );

    let incident = findings(config);
    let loop_message = &incident
        .iter()
        .find(|(rule, _)| rule == "redirect-loop")
        .unwrap_or_else(|| panic!("no redirect-loop: {incident:?}"))
        .1;
    assert!(
        loop_message.contains("console.apps.lab") && loop_message.contains("sso.lab"),
        "{loop_message}"
    );
    let static_resolve = &incident
        .iter()
        .find(|(rule, _)| rule == "nginx-static-resolve")
        .unwrap_or_else(|| panic!("no nginx-static-resolve: {incident:?}"))
        .1;
    assert!(
        static_resolve.contains("sites/app-1.conf") && static_resolve.contains("proxy_pass"),
        "{static_resolve}"
    );
    let collision = &incident
        .iter()
        .find(|(rule, _)| rule == "port-collision")
        .unwrap_or_else(|| panic!("no port-collision: {incident:?}"))
        .1;
    assert!(collision.contains("`console`"), "{collision}");

    // A site file nginx rejects is denied before it is loaded, with nginx's own words.
    let sites = Path::new(lab.dir()).join("web/nginx/sites");
    let broken = sites.join("broken.conf");
    std::fs::write(
        &broken,
        "server { listen 127.0.0.1:80; proxy_pas http://x; }\n",
    )
    .expect("write a broken site");
    let denied = hadome(&["ask", "reload", "web", "--config", config, "--json"]);
    assert_eq!(denied.status.code(), Some(1), "{}", show(&denied));
    let answer = json_of(&denied);
    assert_eq!(answer["verdict"], "deny", "{answer}");
    assert!(
        answer.to_string().contains("nginx-test") && answer.to_string().contains("proxy_pas"),
        "{answer}"
    );
    let refused = hadome(&["run", "reload", "web", "--config", config]);
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    std::fs::rename(&broken, sites.with_file_name("broken.conf.off"))
        .expect("take the broken site out");

    // The fix: the app back on a port of its own, the block written but not loaded, judged,
    // then loaded by `run reload`.
    lab.fault(&["start", "app-1"]);
    let written = lab.fault(&["deploy", "app-1", "--fixed", "--no-reload"]);
    assert!(written.contains("not reloaded"), "{written}");
    let allowed = hadome(&["ask", "reload", "web", "--config", config]);
    assert_eq!(allowed.status.code(), Some(0), "{}", show(&allowed));
    let reloaded = hadome(&["run", "reload", "web", "--config", config]);
    assert_eq!(reloaded.status.code(), Some(0), "{}", show(&reloaded));
    let fixed = hadome(&[
        "gate", "app-1", "--within", "20", "--config", config, "--json",
    ]);
    assert_eq!(fixed.status.code(), Some(0), "{}", show(&fixed));
    let clean = findings(config);
    for rule in ["redirect-loop", "nginx-static-resolve", "port-collision"] {
        assert!(!has(&clean, rule), "{rule} after the fix: {clean:?}");
    }

    // Bad input changes nothing and says what to do.
    let unknown = hadome(&["gate", "app-2", "--config", config]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        said.contains("no route `app-2`") && said.contains("did you mean `app-1`"),
        "{said}"
    );
    for within in ["0", "-5", "nan", "7200"] {
        let bad = hadome(&["gate", "app-1", "--within", within, "--config", config]);
        assert_eq!(
            bad.status.code(),
            Some(2),
            "--within {within}: {}",
            show(&bad)
        );
    }
}
