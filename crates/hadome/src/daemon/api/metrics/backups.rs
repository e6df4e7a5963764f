//! Each backup's metrics: its newest copy as the pass listed it (`hadome status`'s backups
//! section, read from its JSON), the copies hadome made and the restore tests (the journal's
//! `History::backups`), and the daemon's schedule for it, so an alert can compare an age with it.

use hadome_core::estate::Backup;
use prometheus_client::registry::Unit;
use serde_json::Value;

use super::families::{Families, Kind};
use super::gather::{flag, labels};
use super::Snapshot;

/// A backup's schedule of one job, in seconds (`None`: by hand).
type Schedule = fn(&Backup) -> Option<f64>;

/// Each backup: its newest copy as listed (when the pass listed it), the copies hadome made and
/// the restore tests (the journal's), and its schedule.
pub(super) fn backup_families(snapshot: &Snapshot, status: &Value, families: &mut Families) {
    let listed: Vec<&Value> = status.as_array().into_iter().flatten().collect();
    let name_of = |entry: &Value| labels([("backup", entry["name"].as_str().unwrap_or_default())]);
    families.family(
        "backup_newest_copy_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Age of the backup's newest copy on disk, where the pass listed its copies (the daemon's passes do not: see backup_last_made_age_seconds).",
    );
    for entry in &listed {
        if let Some(age) = entry["newest"]["age_seconds"].as_f64() {
            families.sample(name_of(entry), age);
        }
    }
    families.family(
        "backup_newest_copy_size",
        Kind::Gauge,
        Some(Unit::Bytes),
        "Size of the backup's newest copy on disk, where the pass listed its copies.",
    );
    for entry in &listed {
        if let Some(size) = entry["newest"]["size_bytes"].as_f64() {
            families.sample(name_of(entry), size);
        }
    }
    // The journal's record of the copies hadome made (`hadome backup run`).
    let newest_made = |name: &str| {
        snapshot
            .history
            .backups
            .get(name)
            .and_then(|history| history.made.values().max_by_key(|copy| copy.made_at))
    };
    let by_backup = |name: &str| labels([("backup", name)]);
    families.family(
        "backup_last_made_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since hadome last made a copy of the backup that it verified and kept (the journal's record).",
    );
    for backup in &snapshot.estate.backups {
        if let Some(copy) = newest_made(&backup.name) {
            let age = snapshot.now.seconds_since(copy.made_at).max(0.0);
            families.sample(by_backup(&backup.name), age);
        }
    }
    families.family(
        "backup_last_made_size",
        Kind::Gauge,
        Some(Unit::Bytes),
        "Size of the last copy of the backup hadome made, when it made it.",
    );
    for backup in &snapshot.estate.backups {
        if let Some(copy) = newest_made(&backup.name) {
            families.sample(by_backup(&backup.name), copy.size_bytes as f64);
        }
    }
    families.family(
        "backup_copies_made",
        Kind::Counter,
        None,
        "Copies of the backup hadome made, verified and kept (the journal's record).",
    );
    for backup in &snapshot.estate.backups {
        let made = snapshot
            .history
            .backups
            .get(&backup.name)
            .map_or(0, |history| history.made.len());
        families.sample(by_backup(&backup.name), made as f64);
    }
    families.family(
        "backup_restore_test_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since the backup's last restore test ended, passed or failed.",
    );
    for entry in &listed {
        if let Some(age) = entry["last_restore_test"]["seconds_ago"].as_f64() {
            families.sample(name_of(entry), age);
        }
    }
    families.family(
        "backup_restore_test_ok",
        Kind::Gauge,
        None,
        "1 when the backup's last restore test brought every table back with its row count, 0 when it failed.",
    );
    for entry in &listed {
        if let Some(ok) = entry["last_restore_test"]["ok"].as_bool() {
            families.sample(name_of(entry), flag(ok));
        }
    }
    families.family(
        "backup_restore_test_pass_age",
        Kind::Gauge,
        Some(Unit::Seconds),
        "Seconds since a restore test of the backup last passed.",
    );
    for backup in &snapshot.estate.backups {
        let passed = snapshot
            .history
            .backups
            .get(&backup.name)
            .and_then(|history| history.last_restore_pass.as_ref());
        if let Some(test) = passed {
            let age = snapshot.now.seconds_since(test.at).max(0.0);
            families.sample(by_backup(&backup.name), age);
        }
    }
    let schedules: [(&'static str, &'static str, Schedule); 2] = [
        (
            "backup_every",
            "How often the daemon makes a copy of the backup (`every_seconds`; no sample: by hand).",
            |backup| backup.every_seconds,
        ),
        (
            "backup_restore_test_every",
            "How often the daemon restore-tests the backup (`restore_test_every_seconds`; no sample: by hand).",
            |backup| backup.restore_test_every_seconds,
        ),
    ];
    for (name, help, every) in schedules {
        families.family(name, Kind::Gauge, Some(Unit::Seconds), help);
        for backup in &snapshot.estate.backups {
            if let Some(seconds) = every(backup) {
                families.sample(by_backup(&backup.name), seconds);
            }
        }
    }
}
