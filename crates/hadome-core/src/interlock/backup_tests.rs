//! `backup-trust` and `snapshot-independence` on hand-built backup facts: each case renders the
//! findings as `rule@subject(severity)` and checks the words a person reads.
//!
//! The same cases run on real pg_dump archives and lab servers in
//! `crates/hadome/tests/it/backup.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::action::Action;
use crate::backup::{
    due_job, BackupCopy, BackupHistory, BackupJob, BackupObservation, Broken, CopyVerification,
    JobsState, MadeCopy, RestoreTestRecord, Storage, Unlisted,
};
use crate::estate::{Backup, BackupKind, Estate, Instance, Snapshot};
use crate::fact::{Facts, History, LastKnown, Timestamp};
use crate::finding::Finding;
use crate::interlock::{assess, check};
use crate::position::{DataPosition, Lsn};

const NOW: Timestamp = Timestamp(2_000_000_000_000);
const HOUR_MS: i64 = 3_600_000;
const MB: u64 = 1 << 20;

fn estate() -> Estate {
    Estate {
        instances: vec![Instance {
            name: "db-1".to_owned(),
            conninfo: "host=127.0.0.1".to_owned(),
            data_dir: PathBuf::from("/srv/pg/data"),
            host: "localhost".to_owned(),
            application_name: "db-1".to_owned(),
            commands: Default::default(),
        }],
        clusters: Vec::new(),
        journal_path: PathBuf::from("/tmp/j.sqlite"),
        probe_timeout_seconds: 1.0,
        probe_interval_seconds: 1.0,
        notify: Default::default(),
        backups: vec![Backup {
            name: "nightly".to_owned(),
            kind: BackupKind::PgDump,
            instance: Some("db-1".to_owned()),
            path: PathBuf::from("/backups/nightly-*.dump"),
            command: Some(vec![
                "pg_dump".to_owned(),
                "-f".to_owned(),
                "{output}".to_owned(),
            ]),
            max_age_seconds: Some(26.0 * 3600.0),
            min_size_bytes: Some(MB),
            max_shrink_ratio: Some(0.5),
            restore_test_max_age_seconds: Some(31.0 * 86_400.0),
            covers: Vec::new(),
            stored_on: None,
            restore_command: None,
            every_seconds: None,
            restore_test_every_seconds: None,
        }],
        snapshots: Vec::new(),
        hosts: Vec::new(),
        etcd_members: Vec::new(),
        quorums: Vec::new(),
        coordination: None,
        api: None,
        web: Default::default(),
    }
}

fn copy(
    name: &str,
    size_bytes: u64,
    hours_ago: i64,
    verified: Option<(&str, Result<&str, &str>)>,
) -> BackupCopy {
    BackupCopy {
        path: PathBuf::from(format!("/backups/{name}")),
        size_bytes,
        modified_at: Timestamp(NOW.0 - hours_ago * HOUR_MS),
        verification: verified.map(|(sha, structure)| CopyVerification {
            sha256_hex: sha.to_owned(),
            structure: structure.map(str::to_owned).map_err(|reason| Broken {
                reason: reason.to_owned(),
            }),
            tables: vec!["public.notes".to_owned()],
        }),
    }
}

fn position(lsn: u64) -> DataPosition {
    DataPosition {
        system_identifier: 7,
        timeline: 1,
        lsn: Lsn(lsn),
        history: Some(Vec::new()),
    }
}

struct Case {
    estate: Estate,
    facts: Facts,
    history: History,
}

impl Case {
    /// `nightly` with these copies (newest first), the newest made by hadome with `sha`, and a
    /// restore test that passed an hour ago.
    fn with(copies: Vec<BackupCopy>) -> Case {
        let mut history = BackupHistory::default();
        if let Some(newest) = copies.first() {
            history.made.insert(
                newest.path.clone(),
                MadeCopy {
                    made_at: newest.modified_at,
                    size_bytes: newest.size_bytes,
                    sha256_hex: "aaaa".to_owned(),
                    position: Some(position(100 * MB)),
                    row_counts: BTreeMap::from([("public.notes".to_owned(), 10)]),
                },
            );
        }
        let pass = RestoreTestRecord {
            at: Timestamp(NOW.0 - HOUR_MS),
            path: PathBuf::from("/backups/nightly-1.dump"),
            ok: true,
            detail: "1 table restored".to_owned(),
        };
        history.last_restore_test = Some(pass.clone());
        history.last_restore_pass = Some(pass);
        let mut case = Case {
            estate: estate(),
            facts: Facts::default(),
            history: History::default(),
        };
        case.facts.backups.insert(
            "nightly".to_owned(),
            BackupObservation {
                observed_at: NOW,
                copies: Ok(copies),
            },
        );
        case.history.backups.insert("nightly".to_owned(), history);
        case
    }

    fn check(&self) -> Vec<Finding> {
        check(&self.estate, &self.facts, &self.history, NOW)
    }

    fn ask(&self, action: &Action) -> crate::interlock::Assessment {
        assess(&self.estate, &self.facts, &self.history, action, NOW)
    }
}

/// The backup rules' findings (the instance, never probed here, has its own).
fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .filter(|finding| finding.rule != crate::rule::STALE_FACTS)
        .map(|finding| {
            format!(
                "{}@{}({}): {}",
                finding.rule,
                finding.subject,
                finding.severity.as_str(),
                finding.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn good() -> BackupCopy {
    copy(
        "nightly-2.dump",
        10 * MB,
        2,
        Some(("aaaa", Ok("a pg_dump archive"))),
    )
}

#[test]
fn backup_trust_a_fresh_verified_restore_tested_copy_has_no_finding() {
    let mut case = Case::with(vec![good(), copy("nightly-1.dump", 10 * MB, 26, None)]);
    case.facts.storage = BTreeMap::from([
        (
            PathBuf::from("/backups"),
            Storage {
                canonical: PathBuf::from("/backups"),
                device: 2,
            },
        ),
        (
            PathBuf::from("/srv/pg/data"),
            Storage {
                canonical: PathBuf::from("/srv/pg/data"),
                device: 1,
            },
        ),
    ]);
    assert_eq!(render(&case.check()), "");
}

#[test]
fn backup_trust_an_empty_copy_is_critical() {
    let case = Case::with(vec![copy("nightly-2.dump", 0, 2, Some(("aaaa", Ok("?"))))]);
    let text = render(&case.check());
    assert!(text.contains("backup-trust@nightly(deny)"), "{text}");
    assert!(text.contains("is empty (0 bytes)"), "{text}");
}

#[test]
fn backup_trust_a_copy_60_percent_smaller_than_the_one_before_is_critical() {
    let case = Case::with(vec![
        copy("nightly-2.dump", 4 * MB, 2, Some(("aaaa", Ok("ok")))),
        copy("nightly-1.dump", 10 * MB, 26, None),
    ]);
    let text = render(&case.check());
    assert!(
        text.contains("60% smaller than the copy before it"),
        "{text}"
    );
    assert!(text.contains("max_shrink_ratio = 0.5"), "{text}");
    // The copy before it gone from disk: the journal's record of it counts.
    let mut case = Case::with(vec![copy(
        "nightly-2.dump",
        4 * MB,
        2,
        Some(("aaaa", Ok("ok"))),
    )]);
    case.history
        .backups
        .get_mut("nightly")
        .unwrap()
        .made
        .insert(
            PathBuf::from("/backups/nightly-1.dump"),
            MadeCopy {
                made_at: Timestamp(NOW.0 - 26 * HOUR_MS),
                size_bytes: 10 * MB,
                sha256_hex: "bbbb".to_owned(),
                position: None,
                row_counts: BTreeMap::new(),
            },
        );
    let text = render(&case.check());
    assert!(text.contains("(gone from disk)"), "{text}");
}

#[test]
fn backup_trust_stale_small_broken_and_altered_copies_are_critical() {
    let case = Case::with(vec![copy(
        "nightly-2.dump",
        MB / 2,
        30,
        Some((
            "cccc",
            Err("the archive ends inside a data block: truncated"),
        )),
    )]);
    let text = render(&case.check());
    for words in [
        "30.0 h old, past its bound of 26.0 h (max_age_seconds)",
        "under its floor of 1.0 MiB (min_size_bytes)",
        "is broken: the archive ends inside a data block: truncated",
        "fails its checksum: SHA-256 cccc now, aaaa when hadome made it",
    ] {
        assert!(text.contains(words), "{words:?} in\n{text}");
    }
}

#[test]
fn backup_trust_no_copy_and_no_recent_restore_test() {
    let mut case = Case::with(Vec::new());
    let text = render(&case.check());
    assert!(
        text.contains("has no copy: nothing matches `/backups/nightly-*.dump`"),
        "{text}"
    );
    case = Case::with(vec![good()]);
    let history = case.history.backups.get_mut("nightly").unwrap();
    history.last_restore_pass = None;
    history.last_restore_test = None;
    let text = render(&case.check());
    assert!(
        text.contains(
            "backup-trust@nightly(needs-human): no restore test of `nightly` ever passed"
        ),
        "{text}"
    );
    let history = case.history.backups.get_mut("nightly").unwrap();
    let failed = RestoreTestRecord {
        at: Timestamp(NOW.0 - HOUR_MS),
        path: PathBuf::from("/backups/nightly-2.dump"),
        ok: false,
        detail: "missing tables: public.notes".to_owned(),
    };
    history.last_restore_test = Some(failed);
    let text = render(&case.check());
    assert!(
        text.contains("failed: missing tables: public.notes"),
        "{text}"
    );
}

#[test]
fn restore_backup_over_a_copy_ahead_of_the_backup_is_denied() {
    let mut case = Case::with(vec![good()]);
    case.history.last_known.insert(
        "db-1".to_owned(),
        LastKnown {
            position: position(300 * MB),
            was_primary: true,
            was_streaming: false,
            observed_at: Timestamp(NOW.0 - 60_000),
            last_replay_at: None,
            synchronous: Default::default(),
            keepalive: Default::default(),
        },
    );
    let action = Action::RestoreBackup {
        target: "db-1".to_owned(),
        backup: "nightly".to_owned(),
    };
    let assessment = case.ask(&action);
    let text = render(&assessment.findings);
    assert_eq!(assessment.verdict.as_str(), "deny", "{text}");
    assert!(text.contains("overwrite-older@db-1(deny)"), "{text}");
    assert!(text.contains("discards 200.0 MiB of WAL"), "{text}");

    // Behind the backup (a copy that lost its data): no overwrite-older finding.
    case.history.last_known.get_mut("db-1").unwrap().position = position(50 * MB);
    let text = render(&case.ask(&action).findings);
    assert!(!text.contains("overwrite-older"), "{text}");

    // An untrusted backup carries its findings into the verdict.
    let mut case = Case::with(vec![copy("nightly-2.dump", 0, 2, Some(("aaaa", Ok("?"))))]);
    case.history = History {
        backups: case.history.backups.clone(),
        ..History::default()
    };
    let text = render(&case.ask(&action).findings);
    assert!(
        text.contains("would be restored from an untrusted backup"),
        "{text}"
    );
}

#[test]
fn snapshot_independence_inside_or_on_the_same_filesystem_is_critical() {
    let mut case = Case::with(vec![good()]);
    case.estate.snapshots = vec![
        Snapshot {
            name: "inside".to_owned(),
            protects: PathBuf::from("/srv/pg"),
            location: PathBuf::from("/srv/pg/.snapshots"),
        },
        Snapshot {
            name: "beside".to_owned(),
            protects: PathBuf::from("/srv/pg"),
            location: PathBuf::from("/srv/snapshots"),
        },
        Snapshot {
            name: "away".to_owned(),
            protects: PathBuf::from("/srv/pg"),
            location: PathBuf::from("/mnt/other"),
        },
    ];
    let storage = |path: &str, device: u64| {
        (
            PathBuf::from(path),
            Storage {
                canonical: PathBuf::from(path),
                device,
            },
        )
    };
    case.facts.storage = BTreeMap::from([
        storage("/srv/pg", 1),
        storage("/srv/pg/.snapshots", 1),
        storage("/srv/snapshots", 1),
        storage("/mnt/other", 2),
        storage("/srv/pg/data", 1),
        storage("/backups", 3),
    ]);
    let text = render(&case.check());
    assert!(text.contains("snapshot-independence@inside(deny): the snapshots `inside` live inside what they protect"), "{text}");
    assert!(text.contains("snapshot-independence@beside(deny): the snapshots `beside` live on the same filesystem"), "{text}");
    assert!(!text.contains("@away"), "{text}");
    assert!(!text.contains("snapshot-independence@nightly"), "{text}");
}

#[test]
fn delete_data_names_what_goes_with_the_data_dir_and_denies_when_they_are_the_only_copies() {
    let mut case = Case::with(vec![good()]);
    case.estate.snapshots = vec![Snapshot {
        name: "hourly".to_owned(),
        protects: PathBuf::from("/srv/pg/data"),
        location: PathBuf::from("/srv/pg/data/.snapshots"),
    }];
    // The backup outside survives: a warning naming the snapshot.
    let action = Action::DeleteData {
        target: "db-1".to_owned(),
    };
    let text = render(&case.ask(&action).findings);
    assert!(text.contains("snapshot-independence@db-1(warn)"), "{text}");
    assert!(
        text.contains("snapshot `hourly` (`/srv/pg/data/.snapshots`)"),
        "{text}"
    );
    assert!(
        text.contains("backup `nightly` (1 copy outside) survives"),
        "{text}"
    );
    // The backup's copies inside the data dir too: nothing survives.
    case.estate.backups[0].path = PathBuf::from("/srv/pg/data/backups/nightly-*.dump");
    case.facts.backups.get_mut("nightly").unwrap().copies = Ok(vec![BackupCopy {
        path: PathBuf::from("/srv/pg/data/backups/nightly-2.dump"),
        ..good()
    }]);
    let assessment = case.ask(&action);
    let text = render(&assessment.findings);
    assert!(text.contains("snapshot-independence@db-1(deny)"), "{text}");
    assert!(
        text.contains("they are the only copies of its data"),
        "{text}"
    );
    assert_eq!(assessment.verdict.as_str(), "deny");
}

/// The daemon's schedule (`due_job`) for `nightly`, made every day and restore-tested every week.
fn due(case: &Case, jobs: JobsState) -> Option<(BackupJob, String)> {
    let mut backup = case.estate.backups[0].clone();
    backup.every_seconds = Some(86_400.0);
    backup.restore_test_every_seconds = Some(7.0 * 86_400.0);
    due_job(
        &backup,
        case.facts.backups.get("nightly"),
        case.history.backups.get("nightly"),
        &jobs,
        NOW,
    )
}

#[test]
fn a_copy_is_due_when_the_newest_is_older_than_its_interval() {
    let fresh = Case::with(vec![copy("nightly-2.dump", 10 * MB, 3, None)]);
    assert_eq!(due(&fresh, JobsState::default()), None);
    let old = Case::with(vec![copy("nightly-2.dump", 10 * MB, 25, None)]);
    let (job, why) = due(&old, JobsState::default()).expect("a copy is due");
    assert_eq!(job, BackupJob::Make);
    assert!(why.contains("25.0 h old (every_seconds = 86400)"), "{why}");
    let none = Case::with(Vec::new());
    assert_eq!(
        due(&none, JobsState::default()).map(|(job, _)| job),
        Some(BackupJob::Make)
    );
}

#[test]
fn a_recorded_copy_counts_even_when_the_listing_failed() {
    let mut case = Case::with(vec![copy("nightly-2.dump", 10 * MB, 3, None)]);
    case.facts.backups.get_mut("nightly").unwrap().copies = Err(Unlisted {
        reason: "permission denied".to_owned(),
    });
    // The journal says a copy was made 3 h ago: nothing is due, and without a listing no
    // restore test starts either.
    assert_eq!(due(&case, JobsState::default()), None);
}

#[test]
fn nothing_starts_beside_a_running_job_and_a_failed_one_is_retried_within_the_hour() {
    let old = Case::with(vec![copy("nightly-2.dump", 10 * MB, 25, None)]);
    let running = JobsState {
        running: true,
        ..JobsState::default()
    };
    assert_eq!(due(&old, running), None);
    let just_failed = JobsState {
        make_started: Some(Timestamp(NOW.0 - 10 * 60_000)),
        ..JobsState::default()
    };
    assert_eq!(due(&old, just_failed), None);
    let an_hour_ago = JobsState {
        make_started: Some(Timestamp(NOW.0 - HOUR_MS)),
        ..JobsState::default()
    };
    assert_eq!(
        due(&old, an_hour_ago).map(|(job, _)| job),
        Some(BackupJob::Make)
    );
}

#[test]
fn a_restore_test_is_due_after_its_interval_once_no_copy_is() {
    let mut case = Case::with(vec![copy("nightly-2.dump", 10 * MB, 3, None)]);
    // The last restore test was an hour ago.
    assert_eq!(due(&case, JobsState::default()), None);
    let history = case.history.backups.get_mut("nightly").unwrap();
    history.last_restore_test.as_mut().unwrap().at = Timestamp(NOW.0 - 8 * 24 * HOUR_MS);
    let (job, why) = due(&case, JobsState::default()).expect("a restore test is due");
    assert_eq!(job, BackupJob::RestoreTest);
    assert!(why.contains("8 days old"), "{why}");
    history_never_tested(&mut case);
    let (job, why) = due(&case, JobsState::default()).expect("a restore test is due");
    assert_eq!(
        (job, why.as_str()),
        (BackupJob::RestoreTest, "it was never restore-tested")
    );
    // A copy that is due comes first: the fresh copy is the one worth testing.
    let mut stale = Case::with(vec![copy("nightly-2.dump", 10 * MB, 25, None)]);
    history_never_tested(&mut stale);
    assert_eq!(
        due(&stale, JobsState::default()).map(|(job, _)| job),
        Some(BackupJob::Make)
    );
}

fn history_never_tested(case: &mut Case) {
    let history = case.history.backups.get_mut("nightly").unwrap();
    history.last_restore_test = None;
    history.last_restore_pass = None;
}
