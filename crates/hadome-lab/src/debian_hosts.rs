//! The hosts of `debian3`: lab hosts (`host.rs`) that run Debian's own `postgresql-15` under their
//! own systemd, reached over a real `sshd`. This file sets them up before they boot; `pg_host.rs`
//! does what happens once they run.
//!
//! ```text
//!   machine's network namespace              host-2's network namespace (the proxy's thread)
//!   ─────────────────────────────            ────────────────────────────────────────────────
//!   127.0.0.1:P1  client:db-1  ─┐            127.0.0.1:P1  link:db-1:db-2 ─┐  (db-2's WAL receiver,
//!   127.0.0.1:P2  client:db-2   │            127.0.0.1:P3  link:db-3:db-2  │   primary_conninfo
//!   127.0.0.1:S1  ssh:host-1 ─┐ │                                          │   host=127.0.0.1 port=P1)
//!                             │ └──────────── DIR/hosts/host-1/run/.s.PGSQL.5432 ◀┘
//!                             └────────────── DIR/hosts/host-1/run/ssh.sock  (systemd: sshd -i)
//! ```
//!
//! - **Root filesystem**: the [`rootfs::POSTGRESQL`] recipe (Debian's postinst made cluster
//!   `15/main`), copied per host like any lab host's. Before boot the lab writes into the copy:
//!   `/etc/postgresql/15/main/conf.d/hadome-lab.conf` (the node's `cluster_name`, unique on the
//!   machine because `instance_pids` finds processes by it; no TCP listener; its sockets in
//!   `/var/run/postgresql` and in `/hadome-lab/run`; the lab's replication settings), a
//!   `pg_hba.conf` of `local … trust` lines (a lab, never production), fresh SSH host keys of its
//!   own, the lab's client key in `/root/.ssh/authorized_keys`, and sshd behind a systemd socket
//!   unit on `/hadome-lab/run/ssh.sock` (Debian's `ssh.service` and `ssh.socket` masked, so sshd
//!   listens on no TCP port either).
//! - **Sockets out of the container**: `DIR/hosts/HOST/run` (owned by the container's `postgres`,
//!   read from the copy's `/etc/passwd`) is bind-mounted at `/hadome-lab/run`. The proxy's
//!   `client:NODE` route forwards to PostgreSQL's socket there, `ssh:HOST` to sshd's.
//! - **Network**: each host boots in a network namespace its proxy makes (`netns.rs`) with
//!   `--network-namespace-path=` instead of `--private-network`. In host H's namespace the proxy
//!   listens, for every other node X, on X's client port: the route `link:X:N` (N the node on H),
//!   forwarding to X's socket. So `host=127.0.0.1 port=P_X` reaches X from inside any host and from
//!   the machine alike, and `cut X N` blocks exactly what N dials to reach X.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::estate_file::{argv_text, quote};
use crate::netns::{NamespaceConfig, NamespaceRoute};
use crate::pg::run;
use crate::proxy::{self, ProxyReady, ProxyRoute};
use crate::rootfs::{self, Recipe};
use crate::state::{HostState, LabState, NodeState, RunAs};
use crate::topology::NodeSpec;
use crate::LabError;

/// Debian's unit for cluster `15/main`.
pub(crate) const UNIT: &str = "postgresql@15-main";
/// Debian's cluster name, as `pg_ctlcluster` and hadome's Debian actions spell it.
pub(crate) const CLUSTER: &str = "15/main";
/// The data directory inside a host (Debian's layout).
pub(crate) const DATA_DIR_IN_HOST: &str = "/var/lib/postgresql/15/main";
/// The configuration directory inside a host (Debian's layout).
const CONF_DIR_IN_HOST: &str = "/etc/postgresql/15/main";
/// The server log `pg_ctlcluster` writes, inside a host.
const LOG_IN_HOST: &str = "/var/log/postgresql/postgresql-15-main.log";
/// Where `DIR/hosts/HOST/run` appears inside the host.
const RUN_IN_HOST: &str = "/hadome-lab/run";
/// sshd's socket, in the run directory.
const SSH_SOCKET: &str = "ssh.sock";
/// The lab's SSH client key, its public half and the known hosts, under `DIR/ssh`.
pub(crate) const SSH_DIR: &str = "ssh";
const CLIENT_KEY: &str = "id_ed25519";
const KNOWN_HOSTS: &str = "known_hosts";
/// Programs the machine needs for these hosts, with their Debian packages.
const TOOLS: &[(&str, &str)] = &[("ssh-keygen", "openssh-client"), ("ip", "iproute2")];

/// The name of the proxy route that reaches `host`'s sshd.
pub(crate) fn ssh_route(host: &str) -> String {
    format!("ssh:{host}")
}

/// `DIR/hosts/HOST/run`: bind-mounted at `/hadome-lab/run` inside the host.
pub(crate) fn run_dir(host: &HostState) -> PathBuf {
    host.home.join("run")
}

/// `DIR/ssh/id_ed25519`: the lab's SSH client key.
pub(crate) fn client_key(dir: &Path) -> PathBuf {
    dir.join(SSH_DIR).join(CLIENT_KEY)
}

/// `DIR/ssh/known_hosts`: each host's key at its SSH route, `[127.0.0.1]:PORT ssh-ed25519 …`.
pub(crate) fn known_hosts(dir: &Path) -> PathBuf {
    dir.join(SSH_DIR).join(KNOWN_HOSTS)
}

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LabError + 'a {
    move |source| LabError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The lab's record of a node placed on `host`: its data directory and log inside the host's root,
/// its socket in the host's run directory.
pub(crate) fn node_state(dir: &Path, spec: &NodeSpec, host: &str) -> NodeState {
    let home = dir.join("hosts").join(host);
    let root = home.join("root");
    NodeState {
        name: spec.name.clone(),
        upstream: spec.upstream.clone(),
        synchronous: spec.synchronous,
        slot: false,
        settings: spec.settings.clone(),
        data_dir: inside(&root, DATA_DIR_IN_HOST),
        socket_dir: home.join("run"),
        log_file: inside(&root, LOG_IN_HOST),
        client_port: 0,
        host: Some(host.to_owned()),
    }
}

/// The recipe of `host`'s root filesystem: PostgreSQL's when a node runs on it.
pub(crate) fn recipe(state: &LabState, host: &HostState) -> &'static Recipe {
    if state.node_on_host(&host.name).is_some() {
        &rootfs::POSTGRESQL
    } else {
        &rootfs::SYSTEMD
    }
}

/// What these hosts need beyond any host's: checked before `lab up` creates anything.
pub(crate) fn check_can_run(dir: &Path) -> Result<(), LabError> {
    for (program, package) in TOOLS {
        let found = std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|path| path.join(program).is_file())
        });
        if !found {
            return Err(LabError::HostToolMissing { program, package });
        }
    }
    if dir.to_string_lossy().contains([':', ',']) {
        return Err(LabError::Host {
            host: "-".to_owned(),
            problem: format!(
                "the lab directory `{}` holds `:` or `,`, which `systemd-nspawn --bind=` cannot take",
                dir.display()
            ),
            fix: "choose a directory without `:` or `,`".to_owned(),
        });
    }
    Ok(())
}

/// The proxy's `ssh:HOST` route of every host that runs a node.
pub(crate) fn routes(state: &LabState) -> Vec<ProxyRoute> {
    state
        .hosts
        .iter()
        .filter(|host| state.node_on_host(&host.name).is_some())
        .map(|host| ProxyRoute {
            name: ssh_route(&host.name),
            target: run_dir(host).join(SSH_SOCKET),
        })
        .collect()
}

/// A namespace per host that runs a node N, with `link:X:N` on X's client port for every other
/// placed node X.
pub(crate) fn namespaces(state: &LabState) -> Vec<NamespaceConfig> {
    let placed: Vec<(&NodeState, &str)> = state
        .nodes
        .iter()
        .filter_map(|node| Some((node, node.host.as_deref()?)))
        .collect();
    placed
        .iter()
        .map(|(node, host)| NamespaceConfig {
            member: (*host).to_owned(),
            routes: placed
                .iter()
                .filter(|(other, _)| other.name != node.name)
                .map(|(other, _)| NamespaceRoute {
                    route: ProxyRoute {
                        name: proxy::link_route(&other.name, &node.name),
                        target: other.socket_file(),
                    },
                    port_of: proxy::client_route(&other.name),
                })
                .collect(),
        })
        .collect()
}

/// Records the SSH ports the proxy bound. A placed node's link from X is X's client port, bound
/// again inside its host's namespace: that is the port its `primary_conninfo` names.
pub(crate) fn record_ports(state: &mut LabState, ready: &ProxyReady) -> Result<(), LabError> {
    for host in &mut state.hosts {
        if let Some(port) = ready.ports.get(&ssh_route(&host.name)) {
            host.ssh_port = Some(*port);
        }
    }
    let placed: Vec<(String, u16)> = state
        .nodes
        .iter()
        .filter(|node| node.host.is_some())
        .map(|node| (node.name.clone(), node.client_port))
        .collect();
    for (upstream, port) in &placed {
        for (standby, _) in &placed {
            if upstream != standby {
                state.links.push(crate::state::LinkState {
                    upstream: upstream.clone(),
                    standby: standby.clone(),
                    port: *port,
                });
            }
        }
    }
    Ok(())
}

/// nspawn's network arguments for `host`: in the namespace the proxy keeps for it, with its run
/// directory bound in, when a node runs on it; `--private-network` otherwise.
pub(crate) fn nspawn_network(state: &LabState, host: &HostState) -> Result<Vec<String>, LabError> {
    if state.node_on_host(&host.name).is_none() {
        return Ok(vec!["--private-network".to_owned()]);
    }
    let namespace = crate::netns::namespace_path(state, &host.name)?;
    Ok(vec![
        format!("--network-namespace-path={}", namespace.display()),
        format!("--bind={}:{RUN_IN_HOST}", run_dir(host).display()),
    ])
}

/// Makes the lab's SSH client key, `DIR/ssh/id_ed25519` (no passphrase: a lab's key).
pub(crate) async fn make_client_key(dir: &Path) -> Result<(), LabError> {
    let ssh = dir.join(SSH_DIR);
    std::fs::create_dir_all(&ssh).map_err(io("create directory", &ssh))?;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))
        .map_err(io("set the mode of", &ssh))?;
    keygen(&client_key(dir), "hadome-lab").await
}

async fn keygen(path: &Path, comment: &str) -> Result<(), LabError> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    run(
        &RunAs::CurrentUser,
        parent,
        Path::new("ssh-keygen"),
        [
            "-q".as_ref(),
            "-t".as_ref(),
            "ed25519".as_ref(),
            "-N".as_ref(),
            "".as_ref(),
            "-C".as_ref(),
            comment.as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ],
        &format!("making the SSH key `{}`", path.display()),
    )
    .await
    .map(drop)
}

/// The uid and gid of `user` in the copy's `/etc/passwd` (the container's, not the machine's).
fn user_in_root(root: &Path, user: &str) -> Result<(u32, u32), LabError> {
    let path = root.join("etc/passwd");
    let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
    text.lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == user)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| LabError::Rootfs {
            path: root.to_owned(),
            problem: format!("`/etc/passwd` has no `{user}` user (is `postgresql-15` installed?)"),
        })
}

fn write_file(
    path: &Path,
    text: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    }
    std::fs::write(path, text).map_err(io("write", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io("set the mode of", path))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(io("change the owner of", path))?;
    }
    Ok(())
}

fn symlink(target: &str, link: &Path) -> Result<(), LabError> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    }
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).map_err(io("create symlink", link))
}

/// Writes the node's PostgreSQL files, the host's own SSH host key, the lab's client key and the
/// sshd socket unit into the fresh copy of `host`'s root, and makes its run directory.
pub(crate) async fn prepare_root(
    state: &LabState,
    host: &HostState,
    node: &NodeState,
) -> Result<(), LabError> {
    let root = &host.root;
    let postgres = user_in_root(root, "postgres")?;
    let run_dir = run_dir(host);
    std::fs::create_dir_all(&run_dir).map_err(io("create directory", &run_dir))?;
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(io("set the mode of", &run_dir))?;
    std::os::unix::fs::chown(&run_dir, Some(postgres.0), Some(postgres.1))
        .map_err(io("change the owner of", &run_dir))?;

    let conf = inside(root, CONF_DIR_IN_HOST);
    write_file(
        &conf.join("conf.d/hadome-lab.conf"),
        &conf_d(state, node)?,
        0o644,
        Some(postgres),
    )?;
    write_file(
        &conf.join("pg_hba.conf"),
        "# hadome lab: trust over the Unix sockets only. The server listens on no TCP port; the lab\n\
         # proxy forwards 127.0.0.1 ports to /hadome-lab/run/.s.PGSQL.5432. A lab, never production.\n\
         local   all          all   trust\n\
         local   replication  all   trust\n",
        0o640,
        Some(postgres),
    )?;

    // Its own host keys: the cached tree's (made by openssh-server's postinst) would be shared by
    // every host of every lab.
    let ssh = root.join("etc/ssh");
    for item in std::fs::read_dir(&ssh).map_err(io("read directory", &ssh))? {
        let path = item.map_err(io("read directory", &ssh))?.path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        if name.is_some_and(|name| name.starts_with("ssh_host_")) {
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    keygen(
        &ssh.join("ssh_host_ed25519_key"),
        &format!("root@{}", host.name),
    )
    .await?;
    write_file(
        &ssh.join("sshd_config.d/hadome-lab.conf"),
        "# hadome lab: keys only, root with a key, no DNS; the one host key the lab made.\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         PasswordAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         UseDNS no\n",
        0o644,
        None,
    )?;
    let public = std::fs::read_to_string(client_key(&state.dir).with_extension("pub"))
        .map_err(io("read", &client_key(&state.dir).with_extension("pub")))?;
    let dot_ssh = root.join("root/.ssh");
    std::fs::create_dir_all(&dot_ssh).map_err(io("create directory", &dot_ssh))?;
    std::fs::set_permissions(&dot_ssh, std::fs::Permissions::from_mode(0o700))
        .map_err(io("set the mode of", &dot_ssh))?;
    write_file(
        &dot_ssh.join("authorized_keys"),
        &public,
        0o600,
        Some((0, 0)),
    )?;

    // sshd on a Unix socket only: systemd accepts each connection and runs `sshd -i` on it.
    let units = root.join("etc/systemd/system");
    for masked in ["ssh.service", "ssh.socket"] {
        symlink("/dev/null", &units.join(masked))?;
    }
    write_file(
        &units.join("hadome-lab-ssh.socket"),
        &format!(
            "# hadome lab: sshd on a Unix socket the lab proxy forwards to (route ssh:{}); no TCP port.\n\
             [Unit]\nDescription=OpenSSH server on the hadome lab's socket\n\n\
             [Socket]\nListenStream={RUN_IN_HOST}/{SSH_SOCKET}\nAccept=yes\n\n\
             [Install]\nWantedBy=sockets.target\n",
            host.name
        ),
        0o644,
        None,
    )?;
    write_file(
        &units.join("hadome-lab-ssh@.service"),
        "[Unit]\nDescription=OpenSSH per-connection server (hadome lab)\n\n\
         [Service]\nExecStart=-/usr/sbin/sshd -i\nStandardInput=socket\nStandardError=journal\n\
         RuntimeDirectory=sshd\nRuntimeDirectoryMode=0755\nRuntimeDirectoryPreserve=yes\n",
        0o644,
        None,
    )?;
    symlink(
        "/etc/systemd/system/hadome-lab-ssh.socket",
        &units.join("sockets.target.wants/hadome-lab-ssh.socket"),
    )
}

/// `conf.d/hadome-lab.conf` of a placed node: its `cluster_name`, its sockets, no TCP, and the
/// replication settings every lab node gets. No `primary_conninfo`: a standby has it from
/// `pg_basebackup -R` in `postgresql.auto.conf`, as a Debian user's would, where `ALTER SYSTEM`
/// can change it.
fn conf_d(state: &LabState, node: &NodeState) -> Result<String, LabError> {
    let mut settings: Vec<(String, String)> = vec![
        ("cluster_name".into(), state.cluster_name(&node.name)),
        ("listen_addresses".into(), String::new()),
        (
            "unix_socket_directories".into(),
            format!("/var/run/postgresql,{RUN_IN_HOST}"),
        ),
    ];
    settings.extend(crate::lab::replication_settings());
    settings.push((
        "synchronous_standby_names".into(),
        crate::lab::synchronous_standby_names(state, node),
    ));
    settings.extend(
        node.settings
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    let mut text = format!(
        "# Written by hadome's lab for node `{}` of topology `{}` on host `{}`.\n\
         # Debian's postgresql.conf includes conf.d last: these settings win over its own.\n",
        node.name,
        state.topology,
        node.host.as_deref().unwrap_or("-")
    );
    for (key, value) in settings {
        text.push_str(&format!("{key} = {}\n", crate::lab::quote_setting(&value)));
    }
    Ok(text)
}

/// Writes `DIR/ssh/known_hosts`: `[127.0.0.1]:PORT ssh-ed25519 KEY` for each host's SSH route.
pub(crate) fn write_known_hosts(state: &LabState) -> Result<(), LabError> {
    let mut text = String::new();
    for host in &state.hosts {
        let Some(port) = host.ssh_port else { continue };
        let path = host.root.join("etc/ssh/ssh_host_ed25519_key.pub");
        let public = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        if key.len() != 2 {
            return Err(LabError::Bug(format!(
                "`{}` is not a public key",
                path.display()
            )));
        }
        text.push_str(&format!("[127.0.0.1]:{port} {} {}\n", key[0], key[1]));
    }
    write_file(&known_hosts(&state.dir), &text, 0o644, None)
}

/// The estate file's `[[instance]]` of a placed node: hadome's built-in Debian actions, no argv
/// commands.
pub(crate) fn render_instance(node: &NodeState) -> String {
    format!(
        "\n[[instance]]\n\
         name = {}\n\
         host = {}\n\
         conninfo = {}\n\
         actions = \"debian\"\n\
         cluster = {}\n",
        quote(&node.name),
        quote(node.host.as_deref().unwrap_or_default()),
        quote(&format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            node.client_port
        )),
        quote(CLUSTER),
    )
}

/// The estate file's `[[host]]` of each host that runs a node: reached over SSH with the lab's key
/// and known hosts; its facts from the `hadome` binary bind-mounted inside it.
pub(crate) fn render_hosts(state: &LabState) -> String {
    let mut text = String::new();
    for host in &state.hosts {
        let Some(port) = host.ssh_port else { continue };
        if text.is_empty() {
            text.push_str(
                "\n# Hosts running Debian's postgresql-15 under their own systemd, reached over SSH through\n\
                 # the lab proxy (route ssh:HOST). facts_command runs on the host over SSH: the hadome\n\
                 # binary that brought the lab up is bind-mounted there.\n",
            );
        }
        text.push_str(&format!(
            "\n[[host]]\n\
             name = {}\n\
             ssh = {{ address = \"127.0.0.1\", port = {port}, user = \"root\", identity_file = {}, known_hosts = {} }}\n\
             facts_command = {}\n",
            quote(&host.name),
            quote(&client_key(&state.dir).display().to_string()),
            quote(&known_hosts(&state.dir).display().to_string()),
            argv_text(&[crate::host::HADOME_IN_HOST, "host-facts"]),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab state `lab up debian3` records, in `/tmp/lab`, with made-up ports.
    fn debian3_state() -> LabState {
        let dir = PathBuf::from("/tmp/lab");
        let topology = crate::Topology::resolve("debian3").unwrap();
        let mut state = LabState {
            version: LabState::new_version(),
            topology: topology.name.clone(),
            dir: dir.clone(),
            token: "t0k3n".to_owned(),
            bindir: PathBuf::from("/usr/lib/postgresql/15/bin"),
            run_as: RunAs::CurrentUser,
            proxy_pid: 4242,
            nodes: topology
                .nodes
                .iter()
                .map(|spec| node_state(&dir, spec, spec.host.as_deref().unwrap()))
                .collect(),
            links: Vec::new(),
            hadome_binary: Some(PathBuf::from("/usr/local/bin/hadome")),
            hosts: topology
                .hosts
                .iter()
                .map(|spec| crate::host::host_state(&dir, "t0k3n", spec))
                .collect(),
            etcd: Vec::new(),
            etcd_clients: Vec::new(),
            web: None,
        };
        let mut ready = ProxyReady {
            pid: 4242,
            ports: Default::default(),
            namespaces: Default::default(),
        };
        for (index, node) in state.nodes.iter_mut().enumerate() {
            node.client_port = 5001 + u16::try_from(index).unwrap();
            ready.ports.insert(
                ssh_route(node.host.as_deref().unwrap()),
                2201 + u16::try_from(index).unwrap(),
            );
        }
        record_ports(&mut state, &ready).unwrap();
        state
    }

    #[test]
    fn a_placed_node_lives_in_its_hosts_root_and_streams_on_its_upstreams_client_port() {
        let state = debian3_state();
        let db2 = state.node("db-2").unwrap();
        assert_eq!(
            db2.data_dir,
            PathBuf::from("/tmp/lab/hosts/host-2/root/var/lib/postgresql/15/main")
        );
        assert_eq!(
            db2.socket_file(),
            PathBuf::from("/tmp/lab/hosts/host-2/run/.s.PGSQL.5432")
        );
        assert_eq!(state.link_port("db-1", "db-2").unwrap(), 5001);
        assert_eq!(state.link_port("db-1", "db-3").unwrap(), 5001);
        assert_eq!(state.hosts[2].ssh_port, Some(2203));
        // In host-2's namespace: db-1 and db-3 on their client ports, as `link:X:db-2`.
        let namespaces = namespaces(&state);
        let host2 = namespaces.iter().find(|ns| ns.member == "host-2").unwrap();
        let routes: Vec<(&str, &str)> = host2
            .routes
            .iter()
            .map(|route| (route.route.name.as_str(), route.port_of.as_str()))
            .collect();
        assert_eq!(
            routes,
            [
                ("link:db-1:db-2", "client:db-1"),
                ("link:db-3:db-2", "client:db-3")
            ]
        );
        assert_eq!(
            routes_of(&state),
            ["ssh:host-1", "ssh:host-2", "ssh:host-3"]
        );
    }

    fn routes_of(state: &LabState) -> Vec<String> {
        routes(state).into_iter().map(|route| route.name).collect()
    }

    #[test]
    fn conf_d_names_the_lab_and_only_the_primary_waits_for_db_2() {
        let state = debian3_state();
        let primary = conf_d(&state, state.node("db-1").unwrap()).unwrap();
        for line in [
            "cluster_name = 'hadome-lab-t0k3n-db-1'",
            "listen_addresses = ''",
            "unix_socket_directories = '/var/run/postgresql,/hadome-lab/run'",
            "wal_sender_timeout = '750ms'",
            "synchronous_standby_names = '\"db-2\"'",
        ] {
            assert!(
                primary.lines().any(|found| found == line),
                "{line}\n{primary}"
            );
        }
        let standby = conf_d(&state, state.node("db-3").unwrap()).unwrap();
        assert!(
            standby.contains("synchronous_standby_names = ''"),
            "{standby}"
        );
        assert!(!standby.contains("primary_conninfo"), "{standby}");
    }

    #[test]
    fn the_estate_declares_debian_instances_and_hosts_reached_over_ssh() {
        let text = crate::estate_file::render(&debian3_state());
        assert!(
            text.contains(
                "\n[[instance]]\nname = \"db-2\"\nhost = \"host-2\"\n\
                 conninfo = \"host=127.0.0.1 port=5002 user=postgres dbname=postgres\"\n\
                 actions = \"debian\"\ncluster = \"15/main\"\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n[[host]]\nname = \"host-1\"\n\
                 ssh = { address = \"127.0.0.1\", port = 2201, user = \"root\", \
                 identity_file = \"/tmp/lab/ssh/id_ed25519\", known_hosts = \"/tmp/lab/ssh/known_hosts\" }\n\
                 facts_command = [\"/usr/local/bin/hadome\", \"host-facts\"]\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("_command = [\"/usr/local/bin/hadome\", \"lab\""),
            "{text}"
        );
        assert!(text.contains("[[cluster]]\nname = \"debian3\""), "{text}");
    }

    #[test]
    fn the_container_users_come_from_the_copys_passwd() {
        let scratch = tempfile::tempdir().unwrap();
        write_file(
            &scratch.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\npostgres:x:100:103:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n",
            0o644,
            None,
        )
        .unwrap();
        assert_eq!(
            user_in_root(scratch.path(), "postgres").unwrap(),
            (100, 103)
        );
        let error = user_in_root(scratch.path(), "sshd").unwrap_err();
        assert!(error.to_string().contains("no `sshd` user"), "{error}");
    }
}
