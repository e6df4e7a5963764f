//! Incident C (traP's S512) replayed on hand-built host facts: `reboot-uptime`,
//! `systemd-reboot-loop` and `destroy-coverage`, and an action on a host judged by what is placed
//! on it. Each case renders the verdict and the findings as `rule@subject(severity)`, and checks
//! the words a person reads.
//!
//! The same story runs on a real systemd in the lab's `s512` drill (issue 12).

use std::path::PathBuf;

use crate::action::Action;
use crate::backup::{BackupCopy, BackupObservation, CopyVerification, Storage};
use crate::estate::{Backup, BackupKind, Cluster, CoveredPath, Estate, FailoverPolicy, Instance};
use crate::fact::{Facts, History, InstanceState, Probe, ProbeOutcome, Timestamp};
use crate::finding::Finding;
use crate::host::{
    BootRecord, DataPathFact, DataPathState, Host, HostCommands, HostFacts, HostHistory,
    HostOutcome, HostProbe, ImageRecord, SeenBoot, ServiceUnit, TimerUnit,
};
use crate::interlock::{assess, check, Assessment};
use crate::position::{DataPosition, Lsn};

/// 2027-01-15 08:00:00 UTC.
const NOW: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn ago(milliseconds: i64) -> Timestamp {
    Timestamp(NOW.0 - milliseconds)
}

fn host() -> Host {
    Host {
        name: "s512".to_owned(),
        facts_command: Some(vec![
            "ssh".to_owned(),
            "s512".to_owned(),
            "hadome".to_owned(),
            "host-facts".to_owned(),
        ]),
        data_paths: vec![PathBuf::from("/srv/uploads")],
        min_uptime_seconds: 600.0,
        max_boots: 3,
        boot_window_seconds: 3600.0,
        freshness_seconds: 30.0,
        commands: HostCommands::default(),
        ssh: None,
    }
}

fn timer(name: &str, unit: &str, persistent: bool) -> TimerUnit {
    TimerUnit {
        name: name.to_owned(),
        unit: unit.to_owned(),
        persistent,
        on_calendar: vec!["daily".to_owned()],
        monotonic: Vec::new(),
        wanted_by: vec!["timers.target".to_owned()],
        sources: vec![PathBuf::from(format!("/etc/systemd/system/{name}"))],
    }
}

fn service(name: &str, exec_start: &str) -> ServiceUnit {
    ServiceUnit {
        name: name.to_owned(),
        exec_start: vec![exec_start.to_owned()],
        exec_start_pre: Vec::new(),
        exec_condition: Vec::new(),
        restart: "no".to_owned(),
        start_limit_interval_seconds: None,
        start_limit_burst: None,
        failure_action: "none".to_owned(),
        success_action: "none".to_owned(),
        start_limit_action: "none".to_owned(),
        restarts: None,
        sources: vec![PathBuf::from(format!("/etc/systemd/system/{name}"))],
    }
}

fn boot(id: &str, minutes_ago: i64) -> BootRecord {
    BootRecord {
        boot_id: id.to_owned(),
        first_entry: ago(minutes_ago * MINUTE),
        last_entry: ago((minutes_ago - 1).max(0) * MINUTE),
    }
}

/// S512 in its loop: up two minutes, four boots within the hour, the incident's timer and
/// service, and `/srv/uploads` (the only copy of uploaded files) last changed a day ago.
fn s512_facts() -> HostFacts {
    HostFacts {
        boot_id: "4f2a9c1e00000000000000000000000a".to_owned(),
        booted_at: ago(2 * MINUTE),
        boots: Some(vec![
            boot("0c0ffee000000000000000000000000d", 50),
            boot("9b1d0e2200000000000000000000000c", 33),
            boot("77aa55cc00000000000000000000000b", 17),
            boot("4f2a9c1e00000000000000000000000a", 2),
        ]),
        timers: vec![timer("reboot-daily.timer", "reboot-daily.service", true)],
        services: vec![service("reboot-daily.service", "/usr/bin/systemctl reboot")],
        failed_units: Vec::new(),
        data_paths: vec![DataPathFact {
            path: PathBuf::from("/srv/uploads"),
            outcome: Ok(DataPathState {
                size_bytes: 2 << 30,
                files: 1234,
                storage: Storage {
                    canonical: PathBuf::from("/srv/uploads"),
                    device: 1,
                },
                newest_change: Some(ago(24 * HOUR)),
            }),
        }],
    }
}

/// S512 up for two days, its journal listing that one boot.
fn settled_facts() -> HostFacts {
    let mut facts = s512_facts();
    facts.booted_at = ago(48 * HOUR);
    facts.boots = Some(vec![boot("4f2a9c1e00000000000000000000000a", 48 * 60)]);
    facts
}

/// A backup of files stored on `stored_on`, covering `covers`, with one sound copy.
fn backup(name: &str, covers: &[&str], stored_on: Option<&str>) -> Backup {
    Backup {
        name: name.to_owned(),
        kind: BackupKind::Files,
        instance: None,
        path: PathBuf::from(format!("/backups/{name}-*.tar")),
        command: None,
        restore_command: None,
        every_seconds: None,
        restore_test_every_seconds: None,
        max_age_seconds: None,
        min_size_bytes: None,
        max_shrink_ratio: None,
        restore_test_max_age_seconds: None,
        covers: covers
            .iter()
            .map(|covered| {
                let (host, path) = covered.split_once(':').expect("host:path in a test");
                CoveredPath {
                    host: host.to_owned(),
                    path: PathBuf::from(path),
                }
            })
            .collect(),
        stored_on: stored_on.map(str::to_owned),
    }
}

struct World {
    estate: Estate,
    facts: Facts,
    history: History,
}

impl World {
    /// The estate with `s512`, whose facts are `facts` read now.
    fn new(facts: Option<HostFacts>) -> World {
        let mut world = World {
            estate: Estate {
                instances: Vec::new(),
                clusters: Vec::new(),
                journal_path: PathBuf::from("/tmp/j.sqlite"),
                probe_timeout_seconds: 1.0,
                probe_interval_seconds: 1.0,
                notify: Default::default(),
                backups: Vec::new(),
                snapshots: Vec::new(),
                hosts: vec![host()],
                etcd_members: Vec::new(),
                quorums: Vec::new(),
                coordination: None,
                api: None,
                web: Default::default(),
            },
            facts: Facts::default(),
            history: History::default(),
        };
        if let Some(facts) = facts {
            world.read(facts, NOW);
        }
        world
    }

    fn read(&mut self, facts: HostFacts, at: Timestamp) {
        self.facts.hosts.insert(
            "s512".to_owned(),
            HostProbe {
                observed_at: at,
                outcome: HostOutcome::Answered(Box::new(facts)),
            },
        );
    }

    /// `backup` with one sound copy, listed and read now.
    fn with_backup(mut self, backup: Backup) -> World {
        self.facts.backups.insert(
            backup.name.clone(),
            BackupObservation {
                observed_at: NOW,
                copies: Ok(vec![BackupCopy {
                    path: PathBuf::from(format!("/backups/{}-1.tar", backup.name)),
                    size_bytes: 10 << 20,
                    modified_at: ago(2 * HOUR),
                    verification: Some(CopyVerification {
                        sha256_hex: "ab".repeat(32),
                        structure: Ok("a file".to_owned()),
                        tables: Vec::new(),
                    }),
                }]),
            },
        );
        self.estate.backups.push(backup);
        self
    }

    fn with_image(mut self, name: &str, taken_at: Timestamp, verified: bool) -> World {
        self.history
            .hosts
            .entry("s512".to_owned())
            .or_default()
            .images
            .push(ImageRecord {
                name: name.to_owned(),
                taken_at,
                verified,
            });
        self
    }

    /// `db-1`, the primary and only member of `main`, placed on `s512`.
    fn with_primary_on_s512(mut self) -> World {
        self.estate.instances.push(Instance {
            name: "db-1".to_owned(),
            conninfo: "host=s512".to_owned(),
            data_dir: PathBuf::from("/var/lib/postgresql/15/main"),
            host: "s512".to_owned(),
            application_name: "db-1".to_owned(),
            commands: Default::default(),
        });
        self.estate.clusters.push(Cluster {
            name: "main".to_owned(),
            members: vec!["db-1".to_owned()],
            failover: FailoverPolicy::Manual,
            max_lag_on_failover_bytes: 0,
            freshness_seconds: 30.0,
            max_replication_lag_bytes: 1 << 26,
            automation: Default::default(),
        });
        self.facts.instances.insert(
            "db-1".to_owned(),
            Probe {
                observed_at: NOW,
                outcome: ProbeOutcome::Answered(Box::new(InstanceState {
                    in_recovery: false,
                    position: DataPosition {
                        system_identifier: 7,
                        timeline: 1,
                        lsn: Lsn(1 << 30),
                        history: Some(Vec::new()),
                    },
                    receive_lsn: None,
                    replay_lsn: None,
                    last_replay_at: None,
                    postmaster_started_at: ago(48 * HOUR),
                    wal_segment_size_bytes: 1 << 24,
                    oldest_wal_segment: Some(1),
                    recovery_target_timeline: "latest".to_owned(),
                    primary_conninfo: String::new(),
                    wal_receiver: None,
                    replication: Vec::new(),
                    slots: Vec::new(),
                    unapplied_settings: Vec::new(),
                    keepalive: crate::fact::KeepaliveSettings::UNKNOWN,
                    synchronous: Default::default(),
                })),
            },
        );
        self
    }

    fn assess(&self, action: &Action) -> Assessment {
        assess(&self.estate, &self.facts, &self.history, action, NOW)
    }

    /// `verdict: rule@subject(severity) …`, findings worst first.
    fn ask(&self, action: &Action) -> String {
        let assessment = self.assess(action);
        format!(
            "{}: {}",
            assessment.verdict,
            rules(&assessment.findings).join(" ")
        )
    }

    fn check(&self) -> Vec<Finding> {
        check(&self.estate, &self.facts, &self.history, NOW)
    }

    fn message(&self, action: &Action, rule: &str) -> String {
        self.assess(action)
            .findings
            .iter()
            .filter(|finding| finding.rule == rule)
            .map(|finding| finding.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn rules(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|finding| {
            format!(
                "{}@{}({})",
                finding.rule,
                finding.subject,
                finding.severity.as_str()
            )
        })
        .collect()
}

fn reboot() -> Action {
    Action::Reboot {
        host: "s512".to_owned(),
    }
}

fn delete_host() -> Action {
    Action::DeleteHost {
        host: "s512".to_owned(),
    }
}

fn delete_path(path: &str) -> Action {
    Action::DeletePath {
        host: "s512".to_owned(),
        path: PathBuf::from(path),
    }
}

// --- reboot-uptime -------------------------------------------------------------------------

#[test]
fn reboot_uptime_s512_a_reboot_two_minutes_after_boot_is_denied_with_the_boot_history() {
    let world = World::new(Some(s512_facts()));
    assert_eq!(
        world.ask(&reboot()),
        "deny: reboot-uptime@s512(deny) reboot-uptime@s512(deny)"
    );
    let message = world.message(&reboot(), "reboot-uptime");
    let history = "boot history (newest first, 4 within 60 min): \
        4f2a9c1e 2027-01-15 07:58:00 UTC (current), \
        77aa55cc 2027-01-15 07:43:00 UTC, \
        9b1d0e22 2027-01-15 07:27:00 UTC, \
        0c0ffee0 2027-01-15 07:10:00 UTC";
    assert_eq!(
        message,
        format!(
            "`s512` has been up 2 min, under its minimum of 10 min (min_uptime_seconds); {history}\n\
             `s512` booted 4 times within 60 min, its budget is 3 (max_boots): it may be in a reboot loop; {history}"
        )
    );
    let assessment = world.assess(&reboot());
    assert!(
        assessment.findings[0]
            .alternative
            .as_deref()
            .is_some_and(|alternative| alternative.starts_with("wait 8 min and ask again")),
        "{:?}",
        assessment.findings[0].alternative
    );
}

#[test]
fn reboot_uptime_a_host_up_for_days_with_one_boot_may_reboot() {
    let world = World::new(Some(settled_facts()));
    assert_eq!(world.ask(&reboot()), "allow: ");
}

#[test]
fn reboot_uptime_an_image_reboots_unless_a_person_says_it_does_not() {
    let world = World::new(Some(s512_facts()));
    let image = |reboots| Action::Image {
        host: "s512".to_owned(),
        reboots,
    };
    assert_eq!(
        world.ask(&image(true)),
        "deny: reboot-uptime@s512(deny) reboot-uptime@s512(deny)"
    );
    assert_eq!(world.ask(&image(false)), "allow: ");
    assert_eq!(image(false).to_string(), "image s512 --no-reboot");
    assert_eq!(image(true).to_string(), "image s512");
}

#[test]
fn reboot_uptime_boots_hadome_saw_count_with_the_journal_list_each_boot_once() {
    // The host's journal is persistent but kept only the current boot; hadome's record holds
    // the three before it, and the current one again (the same boot id, from both sources).
    let mut facts = s512_facts();
    facts.booted_at = ago(20 * MINUTE);
    facts.boots = Some(vec![boot("4f2a9c1e00000000000000000000000a", 20)]);
    let mut world = World::new(Some(facts));
    let seen = |id: &str, minutes_ago: i64| SeenBoot {
        boot_id: id.to_owned(),
        booted_at: ago(minutes_ago * MINUTE),
        first_seen: ago(minutes_ago * MINUTE - 5_000),
    };
    world.history.hosts.insert(
        "s512".to_owned(),
        HostHistory {
            boots_seen: vec![
                seen("0c0ffee000000000000000000000000d", 75),
                seen("9b1d0e2200000000000000000000000c", 40),
                seen("4f2a9c1e00000000000000000000000a", 20),
            ],
            images: Vec::new(),
        },
    );
    assert_eq!(world.ask(&reboot()), "allow: ", "two boots within the hour");
    world
        .history
        .hosts
        .get_mut("s512")
        .expect("inserted above")
        .boots_seen
        .insert(0, seen("77aa55cc00000000000000000000000b", 58));
    assert_eq!(world.ask(&reboot()), "deny: reboot-uptime@s512(deny)");
    assert!(
        world
            .message(&reboot(), "reboot-uptime")
            .starts_with("`s512` booted 3 times within 60 min, its budget is 3 (max_boots)"),
        "{}",
        world.message(&reboot(), "reboot-uptime")
    );
}

#[test]
fn reboot_uptime_missing_unreadable_or_stale_facts_need_a_person() {
    let missing = World::new(None);
    assert_eq!(
        missing.ask(&reboot()),
        "needs-human: reboot-uptime@s512(needs-human)"
    );
    assert_eq!(
        missing.message(&reboot(), "reboot-uptime"),
        "`s512`'s uptime is unknown: its facts were not read; no boot of it is known"
    );

    let mut unreachable = World::new(None);
    unreachable.facts.hosts.insert(
        "s512".to_owned(),
        HostProbe {
            observed_at: NOW,
            outcome: HostOutcome::Unreachable {
                error: "`ssh s512 hadome host-facts` timed out after 10 s".to_owned(),
            },
        },
    );
    assert_eq!(
        unreachable.ask(&reboot()),
        "needs-human: reboot-uptime@s512(needs-human)"
    );
    assert!(unreachable
        .message(&reboot(), "reboot-uptime")
        .contains("its facts cannot be read (`ssh s512 hadome host-facts` timed out after 10 s)"));

    let mut stale = World::new(None);
    stale.read(settled_facts(), ago(2 * MINUTE));
    assert_eq!(
        stale.ask(&reboot()),
        "needs-human: reboot-uptime@s512(needs-human)"
    );
    assert!(stale
        .message(&reboot(), "reboot-uptime")
        .starts_with("`s512`'s uptime is unknown: its facts are 2 min old; boot history (newest first, 0 within 60 min): 4f2a9c1e 2027-01-13 08:00:00 UTC (current)"));

    // Stale facts still count the boots they list: a loop is denied, not only a person asked.
    let mut looping = World::new(None);
    looping.read(s512_facts(), ago(2 * MINUTE));
    assert_eq!(
        looping.ask(&reboot()),
        "deny: reboot-uptime@s512(deny) reboot-uptime@s512(needs-human)"
    );
}

#[test]
fn reboot_uptime_an_unknown_boot_history_needs_a_person_until_hadome_has_watched_the_window() {
    // A volatile journal (no list), booted 20 min ago: what happened before is unknown.
    let mut facts = s512_facts();
    facts.booted_at = ago(20 * MINUTE);
    facts.boots = None;
    let mut world = World::new(Some(facts.clone()));
    assert_eq!(
        world.ask(&reboot()),
        "needs-human: reboot-uptime@s512(needs-human)"
    );
    assert!(world.message(&reboot(), "reboot-uptime").starts_with(
        "`s512`'s boot history over the last 60 min is unknown: its journal lists no boots"
    ));

    // hadome has watched it since before the window began.
    world.history.hosts.insert(
        "s512".to_owned(),
        HostHistory {
            boots_seen: vec![SeenBoot {
                boot_id: "0c0ffee000000000000000000000000d".to_owned(),
                booted_at: ago(30 * HOUR),
                first_seen: ago(29 * HOUR),
            }],
            images: Vec::new(),
        },
    );
    assert_eq!(world.ask(&reboot()), "allow: ");

    // Or the current boot began before the window: nothing booted within it.
    facts.booted_at = ago(2 * HOUR);
    let world = World::new(Some(facts));
    assert_eq!(world.ask(&reboot()), "allow: ");
}

#[test]
fn an_unknown_host_is_denied_with_the_name_it_may_have_meant() {
    let world = World::new(Some(settled_facts()));
    let typo = Action::Reboot {
        host: "s521".to_owned(),
    };
    let assessment = world.assess(&typo);
    assert_eq!(rules(&assessment.findings), ["stale-facts@s521(deny)"]);
    assert_eq!(
        assessment.findings[0].message,
        "the estate has no host `s521`"
    );
    assert_eq!(
        assessment.findings[0].alternative.as_deref(),
        Some("did you mean `s512`?")
    );
    // A host instances name but the estate does not declare has no facts to judge by.
    let world = World::new(None).with_primary_on_s512();
    let mut undeclared = world;
    undeclared.estate.hosts.clear();
    let assessment = undeclared.assess(&reboot());
    assert_eq!(rules(&assessment.findings), ["stale-facts@s512(deny)"]);
    assert!(assessment.findings[0]
        .message
        .starts_with("the estate declares no host `s512`: instances name it as their host"));
}

// --- what is placed on the host ----------------------------------------------------------

#[test]
fn a_host_action_is_judged_by_the_instances_placed_on_it() {
    let world = World::new(Some(settled_facts())).with_primary_on_s512();
    assert_eq!(
        reboot().affected(&world.estate),
        [
            crate::target::TargetRef::host("s512"),
            crate::target::TargetRef::instance("db-1")
        ]
    );
    // A reboot restarts the primary: writes stop until it is back.
    assert_eq!(world.ask(&reboot()), "allow: quorum@db-1(warn)");
    assert_eq!(
        world.message(&reboot(), "quorum"),
        "`s512` carries `db-1` (a reboot restarts it): `db-1` is the primary of `main`: writes stop until it is back"
    );
    // Deleting the host stops the primary and destroys the only copy of `main`.
    let world = world.with_image("s512-final-1", ago(HOUR), true);
    assert_eq!(
        world.ask(&delete_host()),
        "deny: last-copy@db-1(deny) quorum@db-1(needs-human)"
    );
    assert!(world
        .message(&delete_host(), "last-copy")
        .starts_with("`s512` carries `db-1` (a delete-host destroys the data of it): `db-1` is, or may be, the most advanced copy of `main`"));
    // An image that does not reboot touches no instance.
    let image = Action::Image {
        host: "s512".to_owned(),
        reboots: false,
    };
    assert_eq!(world.ask(&image), "allow: ");
}

// --- systemd-reboot-loop ---------------------------------------------------------------

fn lint(facts: HostFacts) -> Vec<String> {
    World::new(Some(facts))
        .check()
        .iter()
        .map(|finding| {
            format!(
                "{}({}): {} → {}",
                finding.rule,
                finding.severity.as_str(),
                finding.message,
                finding.alternative.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn systemd_reboot_loop_s512_a_persistent_timer_whose_service_reboots_is_critical() {
    assert_eq!(
        lint(s512_facts()),
        ["systemd-reboot-loop(deny): `reboot-daily.timer` on `s512` has Persistent=true and starts `reboot-daily.service`, which reboots the host (ExecStart=/usr/bin/systemctl reboot): a missed elapse is caught up at boot, so a stamp that does not survive the reboot reboots it again at every boot (read from `/etc/systemd/system/reboot-daily.timer`, `/etc/systemd/system/reboot-daily.service`) → remove Persistent=true, or install the guard: `hadome systemd drop-in reboot-guard --unit reboot-daily.service`"]
    );
    // A FailureAction= or SuccessAction= that reboots is a reboot too; so is a shell's.
    for (how, set) in [
        (
            "SuccessAction=reboot-force",
            (|service: &mut ServiceUnit| {
                service.exec_start = vec!["/usr/bin/true".to_owned()];
                service.success_action = "reboot-force".to_owned();
            }) as fn(&mut ServiceUnit),
        ),
        ("ExecStartPre=-/sbin/shutdown -r now", |service| {
            service.exec_start = vec!["/usr/bin/true".to_owned()];
            service.exec_start_pre = vec!["-/sbin/shutdown -r now".to_owned()];
        }),
        ("ExecStart=/bin/sh -c 'sync && reboot'", |service| {
            service.exec_start = vec!["/bin/sh -c 'sync && reboot'".to_owned()];
        }),
    ] {
        let mut facts = s512_facts();
        set(&mut facts.services[0]);
        let found = lint(facts);
        assert_eq!(found.len(), 1, "{how}: {found:?}");
        assert!(
            found[0].contains(&format!("reboots the host ({how})")),
            "{found:?}"
        );
    }
}

#[test]
fn systemd_reboot_loop_positive_controls_report_nothing() {
    // A persistent timer whose service does not reboot.
    let mut facts = s512_facts();
    facts.services[0].exec_start = vec!["/usr/bin/systemctl restart leaky-app".to_owned()];
    assert_eq!(lint(facts), Vec::<String>::new());
    // A timer without Persistent=true whose service reboots.
    let mut facts = s512_facts();
    facts.timers[0].persistent = false;
    assert_eq!(lint(facts), Vec::<String>::new());
    // The guarded one: an info note, nothing that refuses.
    let mut facts = s512_facts();
    facts.services[0].exec_condition = vec!["/usr/local/bin/hadome ask reboot s512".to_owned()];
    facts.services[0].sources.push(PathBuf::from(
        "/etc/systemd/system/reboot-daily.service.d/hadome-reboot-guard.conf",
    ));
    let found = lint(facts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("systemd-reboot-loop(info): `reboot-daily.timer` on `s512` has Persistent=true and starts `reboot-daily.service`, which reboots the host (ExecStart=/usr/bin/systemctl reboot), guarded by `hadome ask reboot`"),
        "{found:?}"
    );
    assert!(found[0].contains("hadome-reboot-guard.conf"), "{found:?}");
    // A guard that asks something else is no guard.
    let mut facts = s512_facts();
    facts.services[0].exec_condition = vec!["/usr/bin/hadome ask restart db-1".to_owned()];
    assert!(lint(facts)[0].starts_with("systemd-reboot-loop(deny)"));
    // A timer that no target wants starts only when something starts it: a warning.
    let mut facts = s512_facts();
    facts.timers[0].wanted_by.clear();
    let found = lint(facts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("systemd-reboot-loop(warn)")
            && found[0].contains("it is not enabled (no target wants it)"),
        "{found:?}"
    );
}

#[test]
fn systemd_reboot_loop_a_restart_loop_without_a_start_limit_whose_failure_reboots_is_critical() {
    let mut facts = settled_facts();
    facts.timers.clear();
    let mut leaky = service("leaky-app.service", "/usr/local/bin/leaky-app");
    leaky.restart = "always".to_owned();
    leaky.start_limit_interval_seconds = Some(0.0);
    leaky.failure_action = "reboot".to_owned();
    facts.services = vec![leaky.clone()];
    assert_eq!(
        lint(facts.clone()),
        ["systemd-reboot-loop(deny): `leaky-app.service` on `s512` has Restart=always and no start limit (StartLimitIntervalSec=0), and FailureAction=reboot: each failure reboots the host, and nothing stops it failing again at every boot (read from `/etc/systemd/system/leaky-app.service`) → set a start limit (`StartLimitIntervalSec=` and `StartLimitBurst=`, not 0) and a FailureAction= that does not reboot, or install the guard: `hadome systemd drop-in reboot-guard --unit leaky-app.service`"]
    );
    // With systemd's default start limit, or Restart=no, it is not a loop.
    leaky.start_limit_interval_seconds = None;
    facts.services = vec![leaky.clone()];
    assert_eq!(lint(facts.clone()), Vec::<String>::new());
    leaky.start_limit_burst = Some(0);
    leaky.restart = "on-failure".to_owned();
    leaky.failure_action = "none".to_owned();
    leaky.start_limit_action = "reboot-immediate".to_owned();
    facts.services = vec![leaky.clone()];
    assert_eq!(lint(facts.clone()).len(), 1);
    leaky.restart = "no".to_owned();
    facts.services = vec![leaky];
    assert_eq!(lint(facts), Vec::<String>::new());
}

// --- destroy-coverage --------------------------------------------------------------------

#[test]
fn destroy_coverage_s512_deleting_the_host_with_uncovered_uploads_is_denied() {
    // The incident: the backup covers the database, not the uploaded files; no image was taken.
    let world = World::new(Some(settled_facts())).with_backup(backup(
        "db-nightly",
        &["s512:/var/lib/postgresql"],
        Some("backup-1"),
    ));
    assert_eq!(
        world.ask(&delete_host()),
        "deny: destroy-coverage@s512:/srv/uploads(deny)"
    );
    assert_eq!(
        world.message(&delete_host(), "destroy-coverage"),
        "`s512:/srv/uploads` (2.0 GiB in 1234 files) would be destroyed, and nothing covers it: backup `db-nightly` covers `s512:/var/lib/postgresql` only; no final image of `s512` was taken"
    );
    let assessment = world.assess(&delete_host());
    assert!(assessment.findings[0]
        .alternative
        .as_deref()
        .is_some_and(|alternative| alternative.starts_with(
            "cover it first: take a final image (`hadome run image s512 --no-reboot`"
        )));
}

#[test]
fn destroy_coverage_a_trusted_backup_stored_elsewhere_covers_a_path_under_what_it_covers() {
    let world = World::new(Some(settled_facts())).with_backup(backup(
        "uploads",
        &["s512:/srv"],
        Some("backup-1"),
    ));
    let assessment = world.assess(&delete_host());
    assert_eq!(rules(&assessment.findings), Vec::<String>::new());
    assert_eq!(assessment.verdict.as_str(), "allow-after");
    assert_eq!(
        assessment.prerequisites,
        [
            "take a final image of `s512`, `s512-final-20270115T080000Z` (its image_command)",
            "verify `s512-final-20270115T080000Z` (its verify_image_command): nothing is deleted unless it passes"
        ]
    );
}

#[test]
fn destroy_coverage_a_backup_on_the_host_itself_or_one_backup_trust_refuses_covers_nothing() {
    let on_host = World::new(Some(settled_facts())).with_backup(backup(
        "uploads",
        &["s512:/srv/uploads"],
        Some("s512"),
    ));
    assert!(on_host
        .message(&delete_host(), "destroy-coverage")
        .contains("backup `uploads` covers it, but its copies live on `s512` itself (stored_on)"));

    // No `stored_on`: the copies are where hadome runs, which is s512 when s512 has no
    // facts_command.
    let mut here = World::new(Some(settled_facts())).with_backup(backup(
        "uploads",
        &["s512:/srv/uploads"],
        None,
    ));
    assert_eq!(here.ask(&delete_host()), "allow-after: ");
    here.estate.hosts[0].facts_command = None;
    assert!(here.message(&delete_host(), "destroy-coverage").contains(
        "backup `uploads` covers it, but its copies live where hadome runs, which is `s512` itself"
    ));

    let mut empty = World::new(Some(settled_facts())).with_backup(backup(
        "uploads",
        &["s512:/srv/uploads"],
        Some("backup-1"),
    ));
    if let Some(Ok(copies)) = empty
        .facts
        .backups
        .get_mut("uploads")
        .map(|observation| observation.copies.as_mut())
    {
        copies[0].size_bytes = 0;
    }
    assert_eq!(
        empty.ask(&delete_host()),
        "deny: destroy-coverage@s512:/srv/uploads(deny)"
    );
    assert!(empty
        .message(&delete_host(), "destroy-coverage")
        .contains("backup `uploads` covers it, but backup-trust refuses it (deny): the newest copy of `uploads`, `/backups/uploads-1.tar`, is empty (0 bytes)"));
}

#[test]
fn destroy_coverage_a_verified_final_image_newer_than_the_path_covers_it() {
    let taken = |hours_ago| ago(hours_ago * HOUR);
    let newer = World::new(Some(settled_facts())).with_image("s512-final-a", taken(1), true);
    assert_eq!(newer.ask(&delete_host()), "allow-after: ");

    let older = World::new(Some(settled_facts())).with_image("s512-final-a", taken(30), true);
    assert!(older
        .message(&delete_host(), "destroy-coverage")
        .ends_with("no backup covers anything on `s512`; image `s512-final-a` was taken 2027-01-14 02:00:00 UTC, before it last changed (2027-01-14 08:00:00 UTC)"));

    let unverified = World::new(Some(settled_facts())).with_image("s512-final-a", taken(1), false);
    assert!(unverified
        .message(&delete_host(), "destroy-coverage")
        .contains("image `s512-final-a` (taken 2027-01-15 07:00:00 UTC) was not verified"));

    // Stale facts: the path's newest change is unknown, so no image can be shown to cover it.
    let mut stale = World::new(None).with_image("s512-final-a", taken(1), true);
    stale.read(settled_facts(), ago(5 * MINUTE));
    assert_eq!(
        stale.ask(&delete_host()),
        "deny: destroy-coverage@s512:/srv/uploads(deny)"
    );
    assert!(stale.message(&delete_host(), "destroy-coverage").contains(
        "cannot be shown to cover it: its newest change is unknown: its facts are 5 min old"
    ));
}

#[test]
fn destroy_coverage_deleting_a_path_judges_it_and_every_data_path_under_it() {
    let world = World::new(Some(settled_facts())).with_backup(backup(
        "uploads",
        &["s512:/srv/uploads"],
        Some("backup-1"),
    ));
    assert_eq!(world.ask(&delete_path("/srv/uploads/2026")), "allow: ");
    assert_eq!(
        world.ask(&delete_path("/srv")),
        "deny: destroy-coverage@s512:/srv(deny)"
    );
    assert!(world
        .message(&delete_path("/srv"), "destroy-coverage")
        .ends_with(
            "backup `uploads` covers `s512:/srv/uploads` only; no final image of `s512` was taken"
        ));
    let bare = World::new(Some(settled_facts()));
    assert_eq!(
        bare.ask(&delete_path("/srv")),
        "deny: destroy-coverage@s512:/srv(deny) destroy-coverage@s512:/srv/uploads(deny)"
    );
    assert_eq!(delete_path("/srv").to_string(), "delete-data s512:/srv");
    assert_eq!(
        delete_path("/srv").subject(),
        crate::target::TargetRef::host("s512")
    );
}

#[test]
fn stale_facts_check_names_a_host_whose_facts_cannot_be_read() {
    assert!(rules(&World::new(Some(settled_facts())).check())
        .iter()
        .all(|rule| !rule.starts_with("stale-facts")));
    let mut blind = World::new(None);
    blind.facts.hosts.insert(
        "s512".to_owned(),
        HostProbe {
            observed_at: NOW,
            outcome: HostOutcome::Unreachable {
                error: "its facts_command exited 255: ssh: connect to host s512 port 22: Connection refused".to_owned(),
            },
        },
    );
    let findings = blind.check();
    let stale: Vec<&Finding> = findings
        .iter()
        .filter(|finding| finding.rule == crate::rule::STALE_FACTS)
        .collect();
    assert_eq!(stale.len(), 1, "{findings:#?}");
    assert_eq!(stale[0].severity, crate::finding::Severity::Deny);
    assert!(
        stale[0]
            .message
            .contains("host `s512`'s facts could not be read: its facts_command exited 255"),
        "{}",
        stale[0].message
    );
    let never = World::new(None).check();
    assert!(
        never
            .iter()
            .any(|finding| finding.rule == crate::rule::STALE_FACTS
                && finding.message == "host `s512`'s facts were not read"),
        "{never:#?}"
    );
}
