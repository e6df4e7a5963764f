//! The showcase's nginx: Debian's, master and workers, inside the namespace, run by PID
//! (`nginx -p DIR/web/nginx/ -c nginx.conf -e error.log -g 'daemon off;'`), listening on a Unix
//! socket in the lab directory (the lab proxy's `web` route) and on 127.0.0.1:80 of the namespace.
//!
//! `deploy APP` writes the incident's server block into `sites/APP.conf` (a literal `proxy_pass
//! http://APP:PORT`, resolved once, at load), `deploy APP --fixed` the fix (a `resolver` and a
//! variable upstream on the app's own port); each then tests the configuration (`nginx -t`) and
//! reloads it (SIGHUP to the master), verified: the workers that served before are gone and new
//! ones serve. A block replaced is moved aside into `aside/`, never deleted.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{ns, AppState, WebState, CONSOLE_HOST, CONSOLE_IP, SHARED_PORT, SSO_HOST, SSO_IP};
use crate::wait::{poll_until, Poll};
use crate::LabError;

pub(crate) const NGINX: &str = "/usr/sbin/nginx";

fn conf_file(web: &WebState) -> PathBuf {
    web.nginx_prefix().join("nginx.conf")
}

fn pid_file(web: &WebState) -> PathBuf {
    web.nginx_prefix().join("nginx.pid")
}

fn site_file(web: &WebState, app: &str) -> PathBuf {
    web.nginx_prefix().join("sites").join(format!("{app}.conf"))
}

/// nginx's arguments after the program: its prefix, configuration and early error log.
fn base_args(web: &WebState) -> Vec<String> {
    vec![
        "-p".to_owned(),
        format!("{}/", web.nginx_prefix().display()),
        "-c".to_owned(),
        "nginx.conf".to_owned(),
        "-e".to_owned(),
        "error.log".to_owned(),
    ]
}

/// The master's PID, when alive (its `nginx.pid`, checked against its command line).
pub(crate) fn master_pid(web: &WebState) -> Option<i32> {
    ns::pid_from_file(&pid_file(web), &web.nginx_prefix().display().to_string()).or_else(|| {
        ns::pid_from_file(
            &web.run_dir().join("nginx.pid"),
            &web.nginx_prefix().display().to_string(),
        )
    })
}

/// The master and its workers.
pub(crate) fn pids(web: &WebState) -> Vec<i32> {
    let Some(master) = master_pid(web) else {
        return Vec::new();
    };
    let mut pids = vec![master];
    pids.extend(crate::process::children_of(master));
    pids
}

/// Writes `nginx.conf`: the console's and the SSO's server blocks, and `include sites/*.conf`.
pub(crate) fn write_conf(web: &WebState) -> Result<(), LabError> {
    let socket = web.socket();
    let socket = socket.display();
    let prefix = web.nginx_prefix();
    let prefix = prefix.display();
    let text = format!(
        "# The showcase lab's nginx (incident E), written by `hadome lab up showcase`.\n\
         # Dump it with `hadome lab nginx-dump --dir DIR`; deploys write sites/APP.conf.\n\
         user root;\n\
         worker_processes 1;\n\
         pid {prefix}/nginx.pid;\n\
         error_log {prefix}/error.log info;\n\
         \n\
         events {{\n    worker_connections 256;\n}}\n\
         \n\
         http {{\n\
         \x20   access_log {prefix}/access.log;\n\
         \x20   # Every site passes on the host the client asked for, as a PaaS front does.\n\
         \x20   proxy_set_header Host $host;\n\
         \n\
         \x20   server {{\n\
         \x20       listen unix:{socket} default_server;\n\
         \x20       listen 127.0.0.1:80 default_server;\n\
         \x20       server_name _;\n\
         \x20       return 404 \"no site for this host\\n\";\n\
         \x20   }}\n\
         \n\
         \x20   server {{\n\
         \x20       listen unix:{socket};\n\
         \x20       listen 127.0.0.1:80;\n\
         \x20       server_name {CONSOLE_HOST};\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://{CONSOLE_IP}:{SHARED_PORT};\n\
         \x20       }}\n\
         \x20   }}\n\
         \n\
         \x20   server {{\n\
         \x20       listen unix:{socket};\n\
         \x20       listen 127.0.0.1:80;\n\
         \x20       server_name {SSO_HOST};\n\
         \x20       location / {{\n\
         \x20           proxy_pass http://{SSO_IP}:{SHARED_PORT};\n\
         \x20       }}\n\
         \x20   }}\n\
         \n\
         \x20   include {prefix}/sites/*.conf;\n\
         }}\n"
    );
    let path = conf_file(web);
    std::fs::write(&path, text).map_err(|source| LabError::Io {
        action: "write",
        path,
        source,
    })
}

/// The incident's server block (literal `proxy_pass`, resolved once at load) or the fix.
pub(crate) fn site_block(web: &WebState, app: &AppState, fixed: bool) -> String {
    let socket = web.socket();
    let socket = socket.display();
    let name = &app.name;
    let host = app.host();
    if fixed {
        format!(
            "# {name}, deployed by `hadome lab fault deploy {name} --fixed`: a resolver and a variable\n\
             # upstream (re-resolved every second), on the app's own port.\n\
             server {{\n\
             \x20   listen unix:{socket};\n\
             \x20   listen 127.0.0.1:80;\n\
             \x20   server_name {host};\n\
             \x20   resolver 127.0.0.1 valid=1s;\n\
             \x20   location / {{\n\
             \x20       set $app http://{host}:{port};\n\
             \x20       proxy_pass $app;\n\
             \x20   }}\n\
             }}\n",
            port = app.port,
        )
    } else {
        format!(
            "# {name}, deployed by `hadome lab fault deploy {name}`: the incident's block, a literal\n\
             # container name resolved once, at load.\n\
             server {{\n\
             \x20   listen unix:{socket};\n\
             \x20   listen 127.0.0.1:80;\n\
             \x20   server_name {host};\n\
             \x20   location / {{\n\
             \x20       proxy_pass http://{name}:{port};\n\
             \x20   }}\n\
             }}\n",
            port = app.port,
        )
    }
}

/// The apps with a server block, `NAME` or `NAME (fixed)`.
pub(crate) fn deployed(web: &WebState) -> Vec<String> {
    web.apps
        .iter()
        .filter_map(|app| {
            let text = std::fs::read_to_string(site_file(web, &app.name)).ok()?;
            Some(if text.contains("resolver ") {
                format!("{} (fixed)", app.name)
            } else {
                app.name.clone()
            })
        })
        .collect()
}

/// Starts nginx inside the namespace; returns once the console answers through its socket.
pub(crate) async fn start(web: &WebState, holder: i32, timeout: Duration) -> Result<(), LabError> {
    test(web, holder).await?;
    let mut command = ns::command(holder, NGINX);
    command.args(base_args(web)).args(["-g", "daemon off;"]);
    let pid = ns::spawn(command, "nginx", &web.home.join("logs/nginx.log"))?;
    ns::write_pid(&web.run_dir().join("nginx.pid"), pid)?;
    let log = web.home.join("logs/nginx.log");
    poll_until(
        "nginx",
        "nginx to answer for the console on its socket",
        timeout,
        || async {
            if !crate::process::is_alive(pid) {
                return Err(LabError::Command {
                    what: "nginx".to_owned(),
                    program: NGINX.to_owned(),
                    status: "an early exit".to_owned(),
                    stderr: std::fs::read_to_string(&log).unwrap_or_default()
                        + &std::fs::read_to_string(web.nginx_prefix().join("error.log"))
                            .unwrap_or_default(),
                });
            }
            Ok(match get(web, CONSOLE_HOST).await {
                Some(head)
                    if head
                        .to_ascii_lowercase()
                        .contains("x-hadome-service: console") =>
                {
                    Poll::Done(())
                }
                other => Poll::NotYet(format!("answer {other:?}")),
            })
        },
    )
    .await
}

/// A `GET /` for `host` on nginx's socket; the response head.
async fn get(web: &WebState, host: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::UnixStream::connect(web.socket()).await.ok()?;
        stream
            .write_all(format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        Some(text.split("\r\n\r\n").next().unwrap_or("").to_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .ok()
        .flatten()
}

/// `nginx -t` inside the namespace (where the configuration's names resolve as nginx's will).
async fn test(web: &WebState, holder: i32) -> Result<(), LabError> {
    let mut args = base_args(web);
    args.push("-t".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ns::run(holder, "nginx -t", NGINX, &args).await.map(drop)
}

/// `nginx -t` inside the namespace, for `hadome lab nginx-test` (the lab estate's
/// `test_command`): `Ok(Ok(message))` when it passes, `Ok(Err(message))` when nginx refuses the
/// configuration (its own words, from its stderr); `Err` when it could not be run.
pub(crate) async fn check(web: &WebState, holder: i32) -> Result<Result<String, String>, LabError> {
    let mut command = tokio::process::Command::from(ns::command(holder, NGINX));
    command
        .args(base_args(web))
        .arg("-t")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(10), command.output())
        .await
        .map_err(|_| LabError::Command {
            what: "nginx -t".to_owned(),
            program: NGINX.to_owned(),
            status: "no exit within 10 s".to_owned(),
            stderr: String::new(),
        })?
        .map_err(|source| LabError::Spawn {
            what: "nginx -t".to_owned(),
            program: ns::NSENTER.to_owned(),
            source,
        })?;
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    Ok(if output.status.success() {
        Ok(message)
    } else {
        Err(message)
    })
}

/// `nginx -T` inside the namespace.
pub(crate) async fn dump(web: &WebState, holder: i32) -> Result<String, LabError> {
    let mut args = base_args(web);
    args.push("-T".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ns::run(holder, "nginx -T", NGINX, &args).await
}

/// `nginx -t`, then SIGHUP to the master; returns once every worker from before is gone and a
/// new one serves.
pub(crate) async fn test_and_reload(
    web: &WebState,
    holder: i32,
    timeout: Duration,
) -> Result<String, LabError> {
    test(web, holder).await?;
    let master = master_pid(web).ok_or_else(|| LabError::Web {
        piece: "nginx".to_owned(),
        problem: "its master is not running".to_owned(),
        fix: "read DIR/web/logs/nginx.log and DIR/web/nginx/error.log; tear the lab down and up again".to_owned(),
    })?;
    let before = crate::process::children_of(master);
    crate::process::send(master, Signal::SIGHUP)?;
    let after = poll_until(
        "nginx",
        "nginx's workers to be replaced after the reload",
        timeout,
        || async {
            let now = crate::process::children_of(master);
            let old_left = before.iter().any(|pid| crate::process::is_alive(*pid));
            let new = now.iter().any(|pid| !before.contains(pid));
            Ok(if !old_left && new {
                Poll::Done(now)
            } else {
                Poll::NotYet(format!("workers before {before:?}, now {now:?}"))
            })
        },
    )
    .await?;
    Ok(format!(
        "nginx -t passed; reloaded nginx (master PID {master}): workers {before:?} replaced by {after:?}"
    ))
}

/// Writes the app's block (the old one moved aside), tests and reloads; on a failed test the old
/// block is put back and nothing is reloaded. Without `reload` the block is only written: nginx
/// runs what it ran, and the new block waits on disk for `hadome ask reload` / `run reload`.
pub(crate) async fn deploy(
    web: &WebState,
    holder: i32,
    app: &AppState,
    fixed: bool,
    reload: bool,
    timeout: Duration,
) -> Result<String, LabError> {
    let site = site_file(web, &app.name);
    let aside = web.nginx_prefix().join("aside").join(format!(
        "{}.conf.{}",
        app.name,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    ));
    let had_old = site.exists();
    let io = |action: &'static str, path: &PathBuf| {
        let path = path.clone();
        move |source| LabError::Io {
            action,
            path,
            source,
        }
    };
    if had_old {
        std::fs::rename(&site, &aside).map_err(io("move aside", &site))?;
    }
    std::fs::write(&site, site_block(web, app, fixed)).map_err(io("write", &site))?;
    let loaded = if reload {
        test_and_reload(web, holder, timeout).await
    } else {
        Ok(format!(
            "not reloaded (--no-reload): nginx runs the previous configuration{}",
            if had_old {
                format!(
                    ", whose block for `{}` is kept in {}",
                    app.name,
                    aside.display()
                )
            } else {
                String::new()
            }
        ))
    };
    match loaded {
        Ok(reload) => Ok(format!(
            "deployed `{}` ({}) in {}; {reload}",
            app.name,
            if fixed {
                format!(
                    "fixed: resolver 127.0.0.1 valid=1s, proxy_pass $app = http://{}:{}",
                    app.host(),
                    app.port
                )
            } else {
                format!(
                    "the incident's literal proxy_pass http://{}:{}",
                    app.name, app.port
                )
            },
            site.display()
        )),
        Err(error) => {
            let failed = web
                .nginx_prefix()
                .join("aside")
                .join(format!("{}.conf.failed", app.name));
            let _ = std::fs::rename(&site, &failed);
            if had_old {
                let _ = std::fs::rename(&aside, &site);
            }
            Err(error)
        }
    }
}
