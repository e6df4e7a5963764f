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

/// A name an action uses that the estate does not have: a typo or a missing table, told before
/// anything is probed (`hadome ask`/`run` exit 2 with it, issue 15's papercut), never judged as
/// a `deny` on stale facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The name as given.
    pub name: String,
    /// What it had to name, in words: `instance`, `instance or etcd member`, `host`, `backup` …
    pub kind: &'static str,
    /// The names of that kind the estate has, in the order of the file.
    pub known: Vec<String>,
}

impl UnknownName {
    /// `the estate has no instance `db-9``.
    pub fn message(&self) -> String {
        format!("the estate has no {} `{}`", self.kind, self.name)
    }

    /// The closest known name, else the known names, else how to declare one.
    pub fn hint(&self) -> String {
        match crate::suggest::closest(&self.name, &self.known) {
            Some(close) => format!("did you mean `{close}`? known: {}", self.known.join(", ")),
            None if self.known.is_empty() => format!(
                "the estate declares no {} at all (examples/estate.toml shows each table)",
                self.kind
            ),
            None => format!("known: {}", self.known.join(", ")),
        }
    }
}

impl Action {
    /// Every name the action uses that `estate` lacks, in the order of the words: the target,
    /// then `--from`. A host is known when declared (`[[host]]`) or named as a placement (the
    /// interlocks then say it is undeclared); `stop` and `restart` take an instance or an etcd
    /// member.
    pub fn unknown_names(&self, estate: &Estate) -> Vec<UnknownName> {
        let names = |list: Vec<&str>| list.into_iter().map(str::to_owned).collect::<Vec<_>>();
        let instances = || names(estate.instances.iter().map(|i| i.name.as_str()).collect());
        let members = || {
            names(
                estate
                    .etcd_members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect(),
            )
        };
        let mut wanted: Vec<(&str, &'static str, Vec<String>)> = Vec::new();
        match self {
            Action::Reboot { host }
            | Action::Image { host, .. }
            | Action::DeleteHost { host }
            | Action::DeletePath { host, .. } => {
                wanted.push((host, "host", names(estate.host_names())));
            }
            Action::Stop { target } | Action::Restart { target } => {
                let mut known = instances();
                known.extend(members());
                wanted.push((target, "instance or etcd member", known));
            }
            Action::ReplaceMember { member } | Action::RemoveMember { member } => {
                wanted.push((member, "etcd member", members()));
            }
            Action::Reload { nginx } => wanted.push((
                nginx,
                "nginx",
                names(estate.web.nginx.iter().map(|n| n.name.as_str()).collect()),
            )),
            Action::Rebuild { target, source } => {
                wanted.push((target, "instance", instances()));
                wanted.push((source, "instance", instances()));
            }
            Action::RestoreBackup { target, backup } => {
                wanted.push((target, "instance", instances()));
                wanted.push((
                    backup,
                    "backup",
                    names(estate.backups.iter().map(|b| b.name.as_str()).collect()),
                ));
            }
            Action::Promote { target } | Action::DeleteData { target } => {
                wanted.push((target, "instance", instances()));
            }
        }
        wanted
            .into_iter()
            .filter(|(name, _, known)| !known.iter().any(|known| known == name))
            .map(|(name, kind, known)| UnknownName {
                name: name.to_owned(),
                kind,
                known,
            })
            .collect()
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
            api: None,
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

    #[test]
    fn an_actions_unknown_names_are_told_with_the_closest_known() {
        let estate = estate();
        let rebuild = Action::Rebuild {
            target: "db-9".to_owned(),
            source: "db-1".to_owned(),
        };
        let unknown = rebuild.unknown_names(&estate);
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert_eq!(unknown[0].message(), "the estate has no instance `db-9`");
        assert_eq!(
            unknown[0].hint(),
            "did you mean `db-1`? known: db-1, db-2, db-3"
        );
        // Both words are checked, the target first.
        let both = Action::Rebuild {
            target: "x".to_owned(),
            source: "y".to_owned(),
        };
        let names: Vec<String> = both
            .unknown_names(&estate)
            .into_iter()
            .map(|unknown| unknown.name)
            .collect();
        assert_eq!(names, ["x", "y"]);
        // `stop` takes an instance or an etcd member; a placement names a host.
        let stop = Action::Stop {
            target: "etcd-1".to_owned(),
        };
        assert_eq!(stop.unknown_names(&estate), []);
        let reboot = Action::Reboot {
            host: "pg-b".to_owned(),
        };
        assert_eq!(reboot.unknown_names(&estate), []);
        let member = Action::RemoveMember {
            member: "db-1".to_owned(),
        };
        let unknown = member.unknown_names(&estate);
        assert_eq!(unknown[0].kind, "etcd member");
        assert_eq!(unknown[0].hint(), "known: etcd-1");
        let reload = Action::Reload {
            nginx: "web".to_owned(),
        };
        assert_eq!(
            reload.unknown_names(&estate)[0].hint(),
            "the estate declares no nginx at all (examples/estate.toml shows each table)"
        );
    }
}
