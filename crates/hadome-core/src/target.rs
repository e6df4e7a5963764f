//! Kinds of targets, and their placement on hosts.
//!
//! hadome acts on targets of several kinds: PostgreSQL instances today; hosts, quorum members
//! and HTTP routes as their issues land. Every target may be *placed* on a host (an instance's
//! `host`), and a host knows what it carries ([`Estate::placed_on`]): an action on a host
//! (reboot, stop, image, delete) is judged by the interlocks of everything placed on it, so a
//! reboot of a machine is refused for what its PostgreSQL primary or its etcd member would lose.
//!
//! A new kind plugs in as: a [`TargetKind`] variant, its estate type with a `host`, its facts,
//! an observer module, rule files, action variants (with [`Action::affected`]) and an executor
//! step (`ARCHITECTURE.md`, "Adding a kind of target").

use crate::action::Action;
use crate::estate::Estate;

/// The kinds of targets hadome knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    /// A PostgreSQL instance (`[[instance]]`).
    Instance,
    /// A machine that targets are placed on (named by their `host`).
    Host,
    /// A member of a quorum cluster (`[[etcd]]`).
    QuorumMember,
    /// An HTTP route (`[[route]]`): placed on no host (it crosses several).
    Route,
    /// A service behind routes (`[[service]]`).
    Service,
    /// A web server in front of services (`[[nginx]]`).
    Nginx,
}

impl TargetKind {
    /// The kind as one word (JSON, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Instance => "instance",
            TargetKind::Host => "host",
            TargetKind::QuorumMember => "quorum member",
            TargetKind::Route => "route",
            TargetKind::Service => "service",
            TargetKind::Nginx => "nginx",
        }
    }
}

/// One target of the estate: its kind and its name (names are unique within a kind; a host and
/// the instance it carries often share one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetRef {
    /// Its kind.
    pub kind: TargetKind,
    /// Its name in the estate.
    pub name: String,
}

impl TargetRef {
    /// An instance.
    pub fn instance(name: &str) -> TargetRef {
        TargetRef {
            kind: TargetKind::Instance,
            name: name.to_owned(),
        }
    }

    /// A quorum member (`[[etcd]]`).
    pub fn quorum_member(name: &str) -> TargetRef {
        TargetRef {
            kind: TargetKind::QuorumMember,
            name: name.to_owned(),
        }
    }

    /// A target of another kind.
    pub fn of(kind: TargetKind, name: &str) -> TargetRef {
        TargetRef {
            kind,
            name: name.to_owned(),
        }
    }

    /// A host.
    pub fn host(name: &str) -> TargetRef {
        TargetRef {
            kind: TargetKind::Host,
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} `{}`", self.kind.as_str(), self.name)
    }
}

impl Estate {
    /// The host `target` is placed on; `None` for a host, and for a target the estate lacks.
    pub fn host_of(&self, target: &TargetRef) -> Option<&str> {
        match target.kind {
            TargetKind::Instance => self
                .instance(&target.name)
                .map(|instance| instance.host.as_str()),
            TargetKind::QuorumMember => self
                .etcd_member(&target.name)
                .map(|member| member.host.as_str()),
            TargetKind::Service => self
                .web
                .service(&target.name)
                .and_then(|service| service.host.as_deref()),
            TargetKind::Nginx => self
                .web
                .nginx(&target.name)
                .and_then(|nginx| nginx.host.as_deref()),
            TargetKind::Host | TargetKind::Route => None,
        }
    }

    /// Every host the estate names, declared (`[[host]]`) or as the placement of its targets:
    /// sorted, each once.
    pub fn host_names(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .instances
            .iter()
            .map(|instance| instance.host.as_str())
            .chain(self.etcd_members.iter().map(|member| member.host.as_str()))
            .chain(self.hosts.iter().map(|host| host.name.as_str()))
            .chain(
                self.web
                    .services
                    .iter()
                    .filter_map(|service| service.host.as_deref()),
            )
            .chain(
                self.web
                    .nginx
                    .iter()
                    .filter_map(|nginx| nginx.host.as_deref()),
            )
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    /// Every target of the estate, kind by kind (instances, quorum members, routes, services,
    /// nginx instances, hosts), each kind in the order of the file (hosts sorted).
    pub fn targets(&self) -> Vec<TargetRef> {
        let instances = self
            .instances
            .iter()
            .map(|instance| TargetRef::instance(&instance.name));
        let members = self
            .etcd_members
            .iter()
            .map(|member| TargetRef::quorum_member(&member.name));
        let web = self
            .web
            .routes
            .iter()
            .map(|route| TargetRef::of(TargetKind::Route, &route.name))
            .chain(
                self.web
                    .services
                    .iter()
                    .map(|service| TargetRef::of(TargetKind::Service, &service.name)),
            )
            .chain(
                self.web
                    .nginx
                    .iter()
                    .map(|nginx| TargetRef::of(TargetKind::Nginx, &nginx.name)),
            );
        let hosts = self.host_names().into_iter().map(TargetRef::host);
        instances.chain(members).chain(web).chain(hosts).collect()
    }

    /// The targets placed on `host`, in the order of [`targets`](Estate::targets): what an
    /// action on the host affects, and so what its interlocks judge.
    pub fn placed_on(&self, host: &str) -> Vec<TargetRef> {
        self.targets()
            .into_iter()
            .filter(|target| self.host_of(target) == Some(host))
            .collect()
    }
}

impl Action {
    /// The target the action names, as the action alone says it: a host, else an instance.
    /// `stop` and `restart` also name quorum members: [`Action::subject_in`] tells them apart.
    pub fn subject(&self) -> TargetRef {
        match self.host() {
            Some(host) => TargetRef::host(host),
            None => TargetRef::instance(self.target()),
        }
    }

    /// The target the action names, looked up in `estate`: a `stop etcd-3` names a quorum
    /// member when the estate declares `etcd-3` with `[[etcd]]` (names are unique across
    /// instances and members).
    pub fn subject_in(&self, estate: &Estate) -> TargetRef {
        match self.host() {
            Some(host) => TargetRef::host(host),
            None if estate.etcd_member(self.target()).is_some() => {
                TargetRef::quorum_member(self.target())
            }
            None if matches!(self, Action::Reload { .. }) => {
                TargetRef::of(TargetKind::Nginx, self.target())
            }
            None => TargetRef::instance(self.target()),
        }
    }

    /// Every target the action affects: the one it names and, for an action on a host,
    /// everything placed on that host. The interlocks judge the action by each of them.
    pub fn affected(&self, estate: &Estate) -> Vec<TargetRef> {
        let subject = self.subject_in(estate);
        let mut affected = vec![subject.clone()];
        if subject.kind == TargetKind::Host {
            affected.extend(estate.placed_on(&subject.name));
        }
        affected
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::estate::Instance;

    fn estate() -> Estate {
        let instance = |name: &str, host: &str| Instance {
            name: name.to_owned(),
            conninfo: String::new(),
            data_dir: PathBuf::from(format!("/srv/{name}")),
            host: host.to_owned(),
            application_name: name.to_owned(),
            commands: Default::default(),
        };
        Estate {
            instances: vec![
                instance("db-1", "pg-a"),
                instance("db-2", "pg-b"),
                instance("db-3", "pg-a"),
            ],
            clusters: Vec::new(),
            journal_path: PathBuf::from("/tmp/j"),
            probe_timeout_seconds: 1.0,
            probe_interval_seconds: 1.0,
            notify: Default::default(),
            backups: Vec::new(),
            snapshots: Vec::new(),
            hosts: Vec::new(),
            etcd_members: vec![crate::quorum::EtcdMember {
                name: "etcd-1".to_owned(),
                endpoints: vec!["http://127.0.0.1:2379".to_owned()],
                host: "pg-a".to_owned(),
                data_dir: None,
                commands: Default::default(),
            }],
            quorums: Vec::new(),
            coordination: None,
            web: Default::default(),
        }
    }

    #[test]
    fn a_host_knows_what_it_carries() {
        let estate = estate();
        assert_eq!(estate.host_names(), ["pg-a", "pg-b"]);
        assert_eq!(
            estate.placed_on("pg-a"),
            [
                TargetRef::instance("db-1"),
                TargetRef::instance("db-3"),
                TargetRef::quorum_member("etcd-1")
            ]
        );
        assert_eq!(
            estate.host_of(&TargetRef::quorum_member("etcd-1")),
            Some("pg-a")
        );
        assert_eq!(estate.placed_on("pg-c"), []);
        assert_eq!(estate.host_of(&TargetRef::instance("db-2")), Some("pg-b"));
        assert_eq!(estate.host_of(&TargetRef::host("pg-a")), None);
        assert_eq!(
            estate.targets().last(),
            Some(&TargetRef::host("pg-b")),
            "{:?}",
            estate.targets()
        );
    }

    #[test]
    fn an_action_on_an_instance_affects_that_instance() {
        let action = Action::Restart {
            target: "db-3".to_owned(),
        };
        assert_eq!(action.affected(&estate()), [TargetRef::instance("db-3")]);
        assert_eq!(action.subject().to_string(), "instance `db-3`");
    }

    #[test]
    fn a_stop_of_a_member_affects_that_member() {
        let action = Action::Stop {
            target: "etcd-1".to_owned(),
        };
        assert_eq!(
            action.affected(&estate()),
            [TargetRef::quorum_member("etcd-1")]
        );
        let reboot = Action::Reboot {
            host: "pg-a".to_owned(),
        };
        assert!(reboot
            .affected(&estate())
            .contains(&TargetRef::quorum_member("etcd-1")));
    }
}
